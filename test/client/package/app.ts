// A small typed application: type-checked with tsc --noEmit against the
// package installed from its tarball (package.test.js).
import pg from 'pg';
import postgres from 'postgres';
import { drizzle } from 'drizzle-orm/node-postgres';
import { pgTable, text } from 'drizzle-orm/pg-core';
import { withTenant, withUser, authenticate, checkDatabase, applySeeds, richId, richIdToUuid, guardPool,
  TrovellaError, type DatabaseHealth, type Identity } from 'trovella';
import { tenantColumn, tenantPolicies, ulidPrimaryKey } from 'trovella/drizzle';

export const projects = pgTable('projects', {
  id: ulidPrimaryKey(),
  tenantId: tenantColumn(),
  name: text('name').notNull(),
}, () => tenantPolicies()).enableRLS();

const pool = guardPool(new pg.Pool());
const db = drizzle({ client: pool, schema: { projects } });
const sql = postgres();
const tenant = '00000000-0000-4000-8000-000000000001';

export async function main(): Promise<void> {
  // the Drizzle transaction keeps the schema's types
  const names: string[] = await withTenant(db, tenant, null, async (tx) => {
    await tx.insert(projects).values({ name: 'apollo' });   // id and tenant_id from the database
    return (await tx.select().from(projects)).map((p) => p.name);
  });
  const count: number = await withTenant(pool, tenant, undefined, async (client) =>
    (await client.query('SELECT count(*) FROM projects')).rows.length);
  const viaPostgres = await withTenant(sql, tenant, null, async (reserved) => reserved`SELECT 1 AS one`);
  const mine: number = await withUser(pool, tenant, async () => 1);
  const who: string = await authenticate(pool, 'trv_x', async (_tx, identity: Identity) => identity.userId);
  const health: DatabaseHealth = await checkDatabase(pool);
  const seeds: { applied: string[]; skipped: string[] } = await applySeeds(pool, './seeds', { environment: 'dev' });
  const rich: string = richId('project', tenant);
  const back: string = richIdToUuid(rich, 'project');
  const isOurs = (err: unknown): boolean => err instanceof TrovellaError && err.code === 'TROVELLA_VERSION';
  console.log(names, count, viaPostgres.length, mine, who, health.ok, seeds.applied, back, isOurs);

  // @ts-expect-error a tenant is a string (a uuid), not a number
  await withTenant(pool, 42, null, async () => 1);
  // @ts-expect-error applySeeds needs an environment
  await applySeeds(pool, './seeds', {});
  // @ts-expect-error the identity has no such field
  await authenticate(pool, 'trv_x', async (_tx, identity) => identity.password);
}
