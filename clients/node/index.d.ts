// Types of the trovella package (index.mjs, lib/core.cjs).

/** The package's version, which is the trovella extension's it goes with. */
export declare const VERSION: string;
/** The oldest trovella extension the package works with (its major.minor). */
export declare const REQUIRED: string;

/**
 * An error the package raises itself; code is a SQLSTATE (22P02 a bad id, 25P01 a tx used after fn,
 * 25P02 a rolled back COMMIT, 25001 a nested withTenant for another tenant, 55006 a busy pg.Client,
 * 2D000 a seed with transaction control) or TROVELLA_VERSION / TROVELLA_DRIVER.
 */
export declare class TrovellaError extends Error {
  readonly code: string;
  constructor(message: string, code: string);
}

/** node-postgres as the package uses it, where pg's own types are not installed. */
export interface PgQueryable {
  query(text: string, values?: unknown[]): Promise<{ rows: any[] }>;
}

type AnyFunction = (...args: any[]) => any;

/**
 * What the package takes as db: a pg.Pool, a pg.Client, a postgres.js sql,
 * a Drizzle database over either, or (nested: a savepoint of the same
 * tenant) the tx a withTenant gave.
 */
export type Database =
  | { totalCount: number; connect: AnyFunction }
  | { query: AnyFunction; connect: AnyFunction }
  | { unsafe: AnyFunction; reserve: AnyFunction }
  | { transaction: AnyFunction };

/** postgres.js's reserved connection, with savepoints as sql.begin gives them. */
export type PostgresTransaction<R> = R & {
  savepoint<T>(fn: (tx: PostgresTransaction<R>) => T | Promise<T>): Promise<T>;
  savepoint<T>(name: string, fn: (tx: PostgresTransaction<R>) => T | Promise<T>): Promise<T>;
};

/**
 * What fn receives, in the driver's own types: for a Drizzle database, the
 * transaction its db.transaction() gives (tx.transaction() is a savepoint);
 * for postgres.js, the reserved connection; for a pg.Pool, its PoolClient;
 * for a pg.Client, the client.  It is closed when fn settles: a later use
 * fails (25P01).
 */
export type Transaction<Db> =
  Db extends { totalCount: number; connect(callback: (err: any, client: infer C, done: any) => void): void } ? NonNullable<C> :
  Db extends { transaction(fn: (tx: infer Tx) => any, ...rest: any[]): any } ? Tx :
  Db extends { reserve(): PromiseLike<infer R> } ? PostgresTransaction<R> :
  Db extends { query: AnyFunction; connect: AnyFunction } ? Db :
  PgQueryable;

export interface TransactionOptions {
  /** BEGIN READ ONLY: for a hot standby's pool. */
  readOnly?: boolean;
}

export interface Identity {
  tokenId: string;
  userId: string;
  scopes: string[];
  expiresAt: Date;
}

/** Runs fn in one transaction working for tenantId (and userId); BEGIN and the context travel together. */
export declare function withTenant<Db extends Database, T>(db: Db, tenantId: string, userId: string | null | undefined,
  fn: (tx: Transaction<Db>) => Promise<T> | T, options?: TransactionOptions): Promise<T>;

/** Runs fn in one transaction working for userId alone. */
export declare function withUser<Db extends Database, T>(db: Db, userId: string,
  fn: (tx: Transaction<Db>) => Promise<T> | T, options?: TransactionOptions): Promise<T>;

/** Runs fn for the user of a presented token; rejects with code 28000 for an invalid one. */
export declare function authenticate<Db extends Database, T>(db: Db, token: string,
  fn: (tx: Transaction<Db>, identity: Identity) => Promise<T> | T, options?: TransactionOptions): Promise<T>;

/** Makes a pg.Pool destroy a client released in the middle of a transaction. */
export declare function guardPool<P extends { connect: AnyFunction; totalCount: number }>(pool: P): P;

export interface HealthProblem {
  /** a check of trovella.health, or connection, version, health (not readable by this role) */
  check: string;
  status: 'warning' | 'problem';
  detail: string;
}

export interface DatabaseHealth {
  /** false when any check is a problem (warnings leave it true). */
  ok: boolean;
  /** a round trip's, null when the database did not answer */
  latencyMs: number | null;
  /** the installed extension's version, null without it */
  version: string | null;
  /** whether trovella.health's checks are in problems (the role may read it: pg_monitor) */
  healthRead: boolean;
  problems: HealthProblem[];
}

/**
 * For any role: a round trip's latency, the version (a problem when too old
 * for the package), and every trovella.health check that is not ok when the
 * role may read them (else a warning says so).  Never throws for a database
 * that does not answer: ok is false.
 */
export declare function checkDatabase(db: Database): Promise<DatabaseHealth>;

export interface SeedOptions {
  environment: string;
  /** in production, only files whose name starts with it run (default "prod_") */
  productionPrefix?: string;
}

/**
 * Applies new seed files in name order, each once, in its own transaction; a
 * changed one rejects with 55000, one with transaction control of its own
 * (BEGIN, COMMIT, ...) with 2D000 before any runs.
 */
export declare function applySeeds(db: Database, directory: string, options: SeedOptions):
  Promise<{ applied: string[]; skipped: string[] }>;

/** uuid_to_ulid(): 26 upper-case Crockford base32 characters. */
export declare function uuidToUlid(uuid: string): string;
/** ulid_to_uuid(): any case; rejects (22P02) what SQL rejects. */
export declare function ulidToUuid(ulid: string): string;
/** ulid_time(): the millisecond an id was made. */
export declare function ulidTime(uuid: string): Date;
/** rich_id(): prefix, a hyphen and the ULID. */
export declare function richId(prefix: string, uuid: string): string;
/** rich_id_to_uuid(): the uuid of a rich id with that prefix, or 22P02. */
export declare function richIdToUuid(rich: string, expectedPrefix: string): string;

/** What an audit record says was done to a row (TRUNCATE: to the whole table, with no row key). */
export type AuditOperation = 'INSERT' | 'UPDATE' | 'DELETE' | 'TRUNCATE';

/**
 * A value as an audit record holds it, in JSON (to_jsonb): a timestamp or a
 * date as its ISO text, a bigint as a number (exact up to 2^53), bytes as
 * their \x hex text; numbers, strings, booleans and JSON as they are.
 */
export type AuditValue<T> =
  T extends Date ? string :
  T extends bigint ? number :
  T extends Uint8Array ? string :
  T;

/**
 * A row's columns in an audit record: all of them for an INSERT's new and
 * a DELETE's old, only those it changed for an UPDATE's old and new.  For a
 * Drizzle table, keyed by its properties (as its $inferSelect); else by the
 * columns' names.
 */
export type AuditRow<Row> = { [K in keyof Row]?: AuditValue<Row[K]> };

/** One record of trovella.audit_log, as history() and auditLog() return it. */
export interface AuditRecord<Row = Record<string, unknown>> {
  /**
   * The record's number, as a decimal string (exact and JSON-safe; a
   * bigint would not survive JSON.stringify): later records have larger
   * numbers; compare with BigInt(seq).  auditLog's before takes it back.
   */
  seq: string;
  /** the table's qualified name, kept after the table is dropped */
  table: string;
  operation: AuditOperation;
  /**
   * the row's key as the trigger wrote it: the key column's text, or for a
   * key of several columns (the tenant column left out) a JSON array of
   * their texts; null for a TRUNCATE
   */
  rowKey: string | null;
  tenantId: string;
  /** the sealed context's user; null when the change had none (a job, a migration) */
  userId: string | null;
  /** the role the change ran as (a SECURITY DEFINER function's owner, a SET ROLE) */
  role: string;
  /** the session's login role */
  loginRole: string;
  /** the writing transaction's id (xid8), as a decimal string */
  xact: string;
  /** the writing transaction's time */
  at: Date;
  /** DELETE: the row; UPDATE: the changed columns' old values; INSERT: null */
  old: AuditRow<Row> | null;
  /** INSERT: the row; UPDATE: the changed columns' new values; DELETE: null */
  new: AuditRow<Row> | null;
}

/** A table as the audit readers take it: its name (as regclass reads it), or a Drizzle table. */
export type AuditTable = string | { readonly $inferSelect: unknown };
/** The row type of an AuditTable: a Drizzle table's $inferSelect. */
export type AuditRowOf<T> = T extends { readonly $inferSelect: infer R } ? R : Record<string, unknown>;
/** A key's value, written as PostgreSQL prints the key column (a numeric key's text: pass a string). */
export type AuditKey = string | number | bigint;
/**
 * What the audit readers run in: the tx withTenant gave (node-postgres,
 * postgres.js or Drizzle), or a client or Drizzle transaction of your own
 * inside which trovella.with_tenant ran.
 */
export type AuditReader = { query: AnyFunction } | { unsafe: AnyFunction } | { execute: AnyFunction };

export interface HistoryOptions {
  /** the latest first (default: the oldest first) */
  newestFirst?: boolean;
  /** at most this many records */
  limit?: number;
}

/**
 * The audit records of one row, oldest first, in tx's tenant (a tenant reads
 * only its own: another tenant's row has none; outside a tenant transaction
 * the server refuses, 42501).  id: the key's value, or for a key of several
 * columns (the tenant column left out) their values in the key's order.
 * An unknown table rejects with 42P01.  Needs the extension at 0.5.0.
 */
export declare function history<Row = Record<string, unknown>>(tx: AuditReader, table: string,
  id: AuditKey | readonly (AuditKey | null)[], options?: HistoryOptions): Promise<AuditRecord<Row>[]>;
export declare function history<T extends { readonly $inferSelect: unknown }>(tx: AuditReader, table: T,
  id: AuditKey | readonly (AuditKey | null)[], options?: HistoryOptions): Promise<AuditRecord<AuditRowOf<T>>[]>;

export interface AuditLogOptions<T extends AuditTable = string> {
  /** at most this many records (default 50) */
  limit?: number;
  /** only records numbered below this seq: the last seq of the page before */
  before?: string | bigint | number;
  /** only this table's records */
  table?: T;
}

/** A page of tx's tenant's audit log: its latest records, newest first. */
export declare function auditLog<T extends AuditTable = string>(tx: AuditReader, options?: AuditLogOptions<T>):
  Promise<AuditRecord<AuditRowOf<T>>[]>;

/**
 * Suspends a tenant (trovella.suspend_tenant(), extension 0.5.0, for a role granted it): every new
 * withTenant or authenticate for it then rejects with SQLSTATE 57000, the reason as its detail.
 * true, or false when it was suspended already (the reason is replaced). A bad id rejects with
 * 22P02 before anything is sent; the server refuses an empty reason (22023), a role without the
 * grant (42501).
 */
export declare function suspendTenant(db: Database, tenantId: string, reason: string): Promise<boolean>;
/** Lifts a tenant's suspension (trovella.resume_tenant()): true, or false when it was not suspended. */
export declare function resumeTenant(db: Database, tenantId: string): Promise<boolean>;
/** The server's refusal of a suspended tenant (SQLSTATE 57000); its detail is the operators' reason. */
export declare function isTenantSuspended(error: unknown): error is Error & { code: '57000'; detail: string };

/** The progress trovella.purge_tenant reports after each batch it committed. */
export interface PurgeProgress {
  /** the table, schema-qualified as regclass prints it */
  table: string;
  /** rows this batch deleted */
  rows: number;
  /** the tenant's rows of the table deleted so far, by this purge and the runs it resumes */
  done: number;
  /** the tenant's rows of the table when the purge began */
  total: number;
}

export interface PurgeOptions {
  onProgress?: (progress: PurgeProgress) => void;
}

/** The receipt trovella.purge_tenant returns and keeps in trovella.purge_receipt: no tenant data. */
export interface PurgeReceipt {
  tenant: string;
  started_at: string;
  started_by: string;
  finished_at: string;
  finished_by: string;
  tables: { table: string; before: number; after: number }[];
  tokens: number;
  statistics: 'forgotten' | 'not kept';
  audit_history: { fate: 'erased'; records: number; seals: number; head: string | null };
  verified_tables: number;
  not_isolated: string[];
  /** SHA-256 (hex) of the receipt's jsonb text without digest */
  digest: string;
}

/**
 * Purges a suspended tenant (CALL trovella.purge_tenant(), extension 0.5.0, for a role granted it
 * that row-level security does not bind): every isolated table in batches committed one by one,
 * tokens, membership rows, audit history, statistics, suspension; then a verification of every
 * table with the tenant column. Resolves to the receipt. Runs on a connection of its own, outside
 * any transaction; onProgress needs a pg.Pool or pg.Client (postgres.js: TROVELLA_DRIVER).
 * Rejects with 55000 for a tenant not suspended or rows left in a table trovella does not
 * isolate (named; call it again once they are gone: it resumes), 42501 without the grant or
 * under row-level security, 57014 when cancelled (call it again: it resumes).
 */
export declare function purgeTenant(db: Database, tenantId: string, options?: PurgeOptions): Promise<PurgeReceipt>;

/** A row of an export: the tenant's row of a table, or the manifest last (table null). */
export interface ExportRow {
  /** 1, 2, 3, ... without gaps: the order the checksums cover */
  ordinal: number;
  /** schema-qualified; trovella.audit_history, trovella.audit_seal; null for the manifest */
  table: string | null;
  /** the row as to_jsonb gives it, or the manifest */
  row: Record<string, unknown>;
}

/** The manifest, the export's last row (README, "Export and import"). */
export interface ExportManifest {
  format: 'trovella-export';
  version: 1;
  tenant: string;
  exported_at: string;
  postgresql: string;
  trovella: string;
  tables: { table: string; rows: number; sha256: string }[];
  rows: number;
  sha256: string;
}

/** trovella.export_tenant's NOTICE every progressRows rows of a table. */
export interface ExportProgress {
  table: string;
  /** rows of the table exported so far */
  rows: number;
}

export interface ExportOptions {
  onProgress?: (progress: ExportProgress) => void;
  /** a progress report every so many rows of a table (default 100000) */
  progressRows?: number;
  /** rows fetched from the cursor at a time (default 1000) */
  batchRows?: number;
}

/**
 * Exports a tenant (trovella.export_tenant(), extension 0.5.0, for a role granted it that
 * row-level security does not bind): every row of every isolated table and the audit history,
 * from one snapshot, then the manifest. Streams through a cursor on a connection of its own;
 * onProgress needs a pg.Pool or pg.Client (postgres.js: TROVELLA_DRIVER). Rejects with 22P02 for
 * a bad id, 22023 for bad options, 42501 without the grant or under row-level security.
 */
export declare function exportTenant(db: Database, tenantId: string, options?: ExportOptions): AsyncGenerator<ExportRow, void, undefined>;

/**
 * Restores an export loaded into the table source (ordinal bigint, table_name text, row jsonb)
 * with trovella.import_tenant(): the rows inserted per table, in the order inserted. Rejects with
 * 22P04 (no manifest), XX001 (rows that do not match it), 42P01, 55000 (a table missing or not
 * isolated, or the tenant has rows here), 42501.
 */
export declare function importTenant(db: Database, source: string): Promise<{ table: string; rows: number }[]>;

declare const trovella: {
  VERSION: typeof VERSION; REQUIRED: typeof REQUIRED; TrovellaError: typeof TrovellaError;
  withTenant: typeof withTenant; withUser: typeof withUser; authenticate: typeof authenticate;
  guardPool: typeof guardPool; checkDatabase: typeof checkDatabase; applySeeds: typeof applySeeds;
  uuidToUlid: typeof uuidToUlid; ulidToUuid: typeof ulidToUuid; ulidTime: typeof ulidTime;
  richId: typeof richId; richIdToUuid: typeof richIdToUuid;
  history: typeof history; auditLog: typeof auditLog;
  suspendTenant: typeof suspendTenant; resumeTenant: typeof resumeTenant; isTenantSuspended: typeof isTenantSuspended;
  purgeTenant: typeof purgeTenant; exportTenant: typeof exportTenant; importTenant: typeof importTenant;
};
export default trovella;
