// Types of the trovella package (index.mjs, lib/core.cjs).

/** The package's version, which is the trovella extension's it goes with. */
export declare const VERSION: string;
/** The oldest trovella extension the package works with (its major.minor). */
export declare const REQUIRED: string;

/** An error the package raises itself; code is a SQLSTATE or TROVELLA_VERSION / TROVELLA_DRIVER. */
export declare class TrovellaError extends Error {
  readonly code: string;
  constructor(message: string, code: string);
}

/** node-postgres as the package uses it: a client's query. */
export interface PgQueryable {
  query(text: string, values?: unknown[]): Promise<{ rows: any[] }>;
}

/**
 * What fn receives: a Drizzle database (over the transaction's connection)
 * for a Drizzle db, the reserved connection for postgres.js, the client for
 * node-postgres.
 */
export type Transaction<Db> =
  Db extends { $client: unknown; transaction: (...args: any[]) => any } ? Db :
  Db extends { reserve(): Promise<infer R> } ? R :
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
export declare function withTenant<Db, T>(db: Db, tenantId: string, userId: string | null | undefined,
  fn: (tx: Transaction<Db>) => Promise<T> | T, options?: TransactionOptions): Promise<T>;

/** Runs fn in one transaction working for userId alone. */
export declare function withUser<Db, T>(db: Db, userId: string,
  fn: (tx: Transaction<Db>) => Promise<T> | T, options?: TransactionOptions): Promise<T>;

/** Runs fn for the user of a presented token; rejects with code 28000 for an invalid one. */
export declare function authenticate<Db, T>(db: Db, token: string,
  fn: (tx: Transaction<Db>, identity: Identity) => Promise<T> | T, options?: TransactionOptions): Promise<T>;

/** Makes a pg.Pool destroy a client released in the middle of a transaction. */
export declare function guardPool<P extends { connect: unknown; totalCount: number }>(pool: P): P;

export interface HealthProblem {
  check: string;
  status: 'warning' | 'problem';
  detail: string;
}

export interface DatabaseHealth {
  /** false when any check is a problem (warnings leave it true). */
  ok: boolean;
  latencyMs: number;
  /** the installed extension's version, null without it */
  version: string | null;
  problems: HealthProblem[];
}

/** A round trip's latency, the version, and every trovella.health check that is not ok (pg_monitor). */
export declare function checkDatabase(db: unknown): Promise<DatabaseHealth>;

export interface SeedOptions {
  environment: string;
  /** in production, only files whose name starts with it run (default "prod_") */
  productionPrefix?: string;
}

/** Applies new seed files in name order, each once, in its own transaction; a changed one rejects with 55000. */
export declare function applySeeds(db: unknown, directory: string, options: SeedOptions):
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

declare const trovella: {
  VERSION: typeof VERSION; REQUIRED: typeof REQUIRED; TrovellaError: typeof TrovellaError;
  withTenant: typeof withTenant; withUser: typeof withUser; authenticate: typeof authenticate;
  guardPool: typeof guardPool; checkDatabase: typeof checkDatabase; applySeeds: typeof applySeeds;
  uuidToUlid: typeof uuidToUlid; ulidToUuid: typeof ulidToUuid; ulidTime: typeof ulidTime;
  richId: typeof richId; richIdToUuid: typeof richIdToUuid;
};
export default trovella;
