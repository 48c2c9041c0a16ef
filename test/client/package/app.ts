// A small typed application: type-checked with tsc --noEmit against the
// package installed from its tarball (package.test.js).
import pg from 'pg';
import postgres from 'postgres';
import postgres4 from 'postgres4';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { drizzle } from 'drizzle-orm/node-postgres';
import { pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import { withTenant, withUser, authenticate, checkDatabase, applySeeds, richId, richIdToUuid, guardPool,
  TrovellaError, type DatabaseHealth, type Identity, history, auditLog, type AuditRecord, type AuditOperation,
  purgeTenant, type PurgeReceipt, type PurgeProgress,
  exportTenant, importTenant, type ExportRow, type ExportManifest, type ExportProgress } from 'trovella';
import { softDeleteColumns, softDeletePolicy, standardColumns, tenantColumn, tenantPolicies, ulidPrimaryKey } from 'trovella/drizzle';

export const projects = pgTable('projects', {
  id: ulidPrimaryKey(),
  tenantId: tenantColumn(),
  name: text('name').notNull(),
}, () => tenantPolicies()).enableRLS();

// trovella's standard and soft delete columns, spread into the table
export const notes = pgTable('notes', {
  id: ulidPrimaryKey(),
  tenantId: tenantColumn(),
  body: text('body'),
  ...standardColumns(),
  ...softDeleteColumns(),
}, () => [...tenantPolicies(), softDeletePolicy()]).enableRLS();

// an audited table: its records typed by its columns
export const tasks = pgTable('tasks', {
  id: ulidPrimaryKey(),
  tenantId: tenantColumn(),
  title: text('title').notNull(),
  dueAt: timestamp('due_at', { withTimezone: true }),
}, () => tenantPolicies()).enableRLS();

const pool = guardPool(new pg.Pool());
const db = drizzle({ client: pool, schema: { projects } });
const sql = postgres();
const sql4 = postgres4();
const client = new pg.Client();
const tenant = '00000000-0000-4000-8000-000000000001';

export async function main(): Promise<void> {
  // the Drizzle transaction keeps the schema's types
  const names: string[] = await withTenant(db, tenant, null, async (tx) => {
    await tx.insert(projects).values({ name: 'apollo' });   // id and tenant_id from the database
    return (await tx.select().from(projects)).map((p) => p.name);
  });
  // not null in results: the database fills them
  const row = await withTenant(db, tenant, null, async (tx) => (await tx.select().from(projects))[0]);
  const ids: [string, string] = [row.id, row.tenantId];
  // a nested Drizzle transaction is a savepoint; the transaction has no $client
  await withTenant(db, tenant, null, (tx) => tx.transaction(async (inner) => inner.select().from(projects)));
  await withTenant(db, tenant, null, (tx) => withTenant(tx, tenant, null, async (inner) => inner.select().from(projects)));
  // pg's own types: a PoolClient, typed rows, query objects, events
  const count: number = await withTenant(pool, tenant, undefined, async (tx) => {
    tx.on('notice', (notice) => console.log(notice.message));
    const typed = await tx.query<{ n: string }>('SELECT count(*) AS n FROM projects');
    const byObject = await tx.query<{ n: string }>({ text: 'SELECT $1::int AS n', values: [1] });
    return Number(typed.rows[0].n) + Number(byObject.rows[0].n);
  });
  const onClient: string = await withTenant(client, tenant, null, async (tx) => (await tx.query<{ v: string }>('SELECT version() AS v')).rows[0].v);
  const viaPostgres4 = await withTenant(sql4, tenant, null, async (reserved) => reserved`SELECT 1 AS one`);
  const viaSavepoint = await withTenant(sql, tenant, null, (reserved) => reserved.savepoint((inner) => inner`SELECT 1 AS one`));
  const overPostgres = drizzlePostgres({ client: sql, schema: { projects } });
  const fromPostgres: string[] = await withTenant(overPostgres, tenant, null, async (tx) => (await tx.select().from(projects)).map((p) => p.id));
  console.log(ids, onClient, viaPostgres4.length, viaSavepoint.length, fromPostgres);
  // the database fills created_at and updated_at: optional on insert, Date in results
  const note = await withTenant(db, tenant, null, async (tx) => (await tx.insert(notes).values({ body: 'hi' }).returning())[0]);
  const stamps: [Date, Date, string | null, Date | null] = [note.createdAt, note.updatedAt, note.createdBy, note.deletedAt];
  console.log(stamps);
  const viaPostgres = await withTenant(sql, tenant, null, async (reserved) => reserved`SELECT 1 AS one`);
  const mine: number = await withUser(pool, tenant, async () => 1);
  const who: string = await authenticate(pool, 'trv_x', async (_tx, identity: Identity) => identity.userId);
  const health: DatabaseHealth = await checkDatabase(pool);
  const seeds: { applied: string[]; skipped: string[] } = await applySeeds(pool, './seeds', { environment: 'dev' });
  const rich: string = richId('project', tenant);
  const back: string = richIdToUuid(rich, 'project');
  const isOurs = (err: unknown): boolean => err instanceof TrovellaError && err.code === 'TROVELLA_VERSION';
  console.log(names, count, viaPostgres.length, mine, who, health.ok, seeds.applied, back, isOurs);

  // the audit trail: a Drizzle table types the records by its $inferSelect
  const taskHistory = await withTenant(db, tenant, null, (tx) => history(tx, tasks, note.id, { newestFirst: true }));
  const last: AuditRecord<typeof tasks.$inferSelect> = taskHistory[0];
  const op: AuditOperation = last.operation;
  const seq: string = last.seq;
  const at: Date = last.at;
  const title: string | undefined = last.new?.title;
  const dueText: string | null | undefined = last.old?.dueAt;   // a timestamp as the record's JSON holds it
  // by name, with a row type of one's own, over node-postgres and postgres.js
  const byName = await withTenant(pool, tenant, null, (tx) => history<{ id: number; name: string }>(tx, 'public.projects', 1));
  const name: string | undefined = byName[0]?.new?.name;
  const composite = await withTenant(sql, tenant, null, (tx) => history(tx, 'members', [7, 'ada']));
  const page = await withTenant(db, tenant, null, (tx) => auditLog(tx, { limit: 20, before: last.seq, table: tasks }));
  const pageTitle: string | undefined = page[0]?.new?.title;
  const plainPage: AuditRecord[] = await withTenant(client, tenant, null, (tx) => auditLog(tx));
  console.log(op, seq, at, title, dueText, name, composite.length, pageTitle, plainPage.length);
  // @ts-expect-error seq is a decimal string, not a number
  const seqNumber: number = last.seq;
  // @ts-expect-error tasks has no such column
  console.log(last.new?.nope, seqNumber);
  // @ts-expect-error an audit record's timestamp is its JSON text, not a Date
  const dueDate: Date | null | undefined = last.new?.dueAt;
  // @ts-expect-error no operation of that name
  const upsert: AuditOperation = 'UPSERT';
  // @ts-expect-error a key is a string, a number or a bigint
  await withTenant(pool, tenant, null, (tx) => history(tx, 'projects', { id: 1 }));
  console.log(dueDate, upsert);

  // @ts-expect-error a tenant is a string (a uuid), not a number
  await withTenant(pool, 42, null, async () => 1);
  // @ts-expect-error applySeeds needs an environment
  await applySeeds(pool, './seeds', {});
  // @ts-expect-error the identity has no such field
  await authenticate(pool, 'trv_x', async (_tx, identity) => identity.password);
  // @ts-expect-error db is a database, not a connection string
  await withTenant('postgres://localhost/app', tenant, null, async () => 1);
  // @ts-expect-error db is a database, not a number
  await withTenant(42, tenant, null, async () => 1);
  // @ts-expect-error db is a database, not any object
  await checkDatabase({});
  // @ts-expect-error a Drizzle transaction has no $client: the pool is not for use inside it
  await withTenant(db, tenant, null, async (tx) => tx.$client);
  // @ts-expect-error the latency is null when the database does not answer
  const latency: number = health.latencyMs;

  // a purge's progress and receipt, typed
  const receipt: PurgeReceipt = await purgeTenant(pool, tenant, { onProgress: (p: PurgeProgress) => console.log(p.table, p.done, p.total) });
  const before: number | undefined = receipt.tables[0]?.before;
  const head: string | null = receipt.audit_history.head;
  console.log(before, head, receipt.digest, latency);
  // @ts-expect-error onProgress is a function of the progress
  await purgeTenant(pool, tenant, { onProgress: 'log' });

  // an export streamed, its manifest last, and an import, typed
  for await (const r of exportTenant(pool, tenant, { onProgress: (p: ExportProgress) => console.log(p.table, p.rows) })) {
    const row: ExportRow = r;
    if (row.table === null) console.log((row.row as unknown as ExportManifest).sha256);
  }
  const restored: { table: string; rows: number }[] = await importTenant(pool, 'export_rows');
  console.log(restored.length);
  // @ts-expect-error progressRows is a number
  exportTenant(pool, tenant, { progressRows: '10' });
}
