// Drizzle with trovella: an isolated table defined with pgTable, queried
// with the query builder and db.query inside withTenant(), ULID defaults
// round-tripping with the npm ulid package.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { drizzle } from 'drizzle-orm/node-postgres';
import { pgTable, uuid, text, integer } from 'drizzle-orm/pg-core';
import { eq, sql } from 'drizzle-orm';
import { ulid, ulidToUUID, uuidToULID, decodeTime } from 'ulid';
import { withTenant, ulidPrimaryKey } from 'trovella-drizzle';
import { adminClient, createAppRole, dropRole, newPool, tenantId, userId } from './db.js';

const ROLE = 'regress_drizzle_app';
const projects = pgTable('drizzle_projects', {
  id: ulidPrimaryKey(),
  tenantId: uuid('tenant_id').notNull(),
  name: text('name').notNull(),
  stars: integer('stars').notNull().default(0),
});

let admin;
let pool;
let db;

before(async () => {
  admin = await adminClient();
  const role = await createAppRole(admin, ROLE);
  await admin.query('DROP TABLE IF EXISTS drizzle_projects');
  await admin.query(`CREATE TABLE drizzle_projects (
      id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(),
      tenant_id uuid NOT NULL,
      name text NOT NULL,
      stars int NOT NULL DEFAULT 0)`);
  await admin.query('CREATE INDEX ON drizzle_projects (tenant_id, id)');
  await admin.query(`SELECT trovella.enable_tenant_isolation('drizzle_projects')`);
  await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON drizzle_projects TO ${ROLE}`);
  pool = newPool({ max: 5, user: role.user, password: role.password });
  db = drizzle({ client: pool, schema: { projects } });
});

after(async () => {
  await pool.end();
  await admin.query('DROP TABLE IF EXISTS drizzle_projects');
  await dropRole(admin, ROLE);
  await admin.end();
});

const A = tenantId(1);
const B = tenantId(2);

test('inserts inside withTenant get the tenant and a ULID id from the database', async () => {
  const before = Date.now();
  const rows = await withTenant(db, A, userId(1), (tx) =>
    tx.insert(projects).values([{ name: 'apollo' }, { name: 'gemini' }]).returning());
  assert.equal(rows.length, 2);
  for (const row of rows) {
    assert.equal(row.tenantId, A);
    const time = decodeTime(uuidToULID(row.id));
    assert.ok(time >= before - 1000 && time <= Date.now() + 1000, 'the id carries the insert time');
  }
  assert.ok(rows[0].id < rows[1].id, 'ids of one statement increase');
});

test('the query builder and db.query see only the current tenant', async () => {
  await withTenant(db, B, userId(2), (tx) => tx.insert(projects).values({ name: 'mercury' }));
  const viaBuilder = await withTenant(db, B, null, (tx) => tx.select().from(projects));
  assert.deepEqual(viaBuilder.map((p) => p.name), ['mercury']);
  const viaQuery = await withTenant(db, A, null, (tx) => tx.query.projects.findMany({ orderBy: (p, { asc }) => [asc(p.id)] }));
  assert.deepEqual(viaQuery.map((p) => p.name), ['apollo', 'gemini']);
  const first = await withTenant(db, A, null, (tx) => tx.query.projects.findFirst({ where: eq(projects.name, 'mercury') }));
  assert.equal(first, undefined, 'another tenant\'s row is not found by name either');
});

test('updates and deletes reach only the current tenant', async () => {
  const updated = await withTenant(db, A, null, (tx) =>
    tx.update(projects).set({ stars: sql`${projects.stars} + 1` }).returning());
  assert.equal(updated.length, 2);
  const deleted = await withTenant(db, B, null, (tx) =>
    tx.delete(projects).where(eq(projects.name, 'apollo')).returning());
  assert.equal(deleted.length, 0, 'tenant B cannot delete tenant A\'s row');
});

test('writing another tenant\'s id is refused with 42501', async () => {
  await assert.rejects(
    withTenant(db, A, null, (tx) => tx.insert(projects).values({ tenantId: B, name: 'smuggled' })),
    (err) => (err.cause ?? err).code === '42501');
});

test('outside withTenant the table fails closed with 42501', async () => {
  await assert.rejects(db.select().from(projects), (err) => (err.cause ?? err).code === '42501');
  await assert.rejects(db.query.projects.findMany(), (err) => (err.cause ?? err).code === '42501');
});

test('ids made by npm ulid and by the database agree in both directions', async () => {
  const appUlid = ulid();
  const inserted = await withTenant(db, A, null, (tx) =>
    tx.insert(projects).values({ id: ulidToUUID(appUlid).toLowerCase(), name: 'from the app' }).returning());
  const [{ text: dbText }] = (await withTenant(db, A, null, (tx) =>
    tx.execute(sql`select trovella.uuid_to_ulid(${inserted[0].id}::uuid) as text`))).rows;
  assert.equal(dbText, appUlid, 'uuid_to_ulid gives back the npm ulid');

  const made = await withTenant(db, A, null, (tx) =>
    tx.insert(projects).values({ name: 'from the database' }).returning());
  const [{ text: dbUlid }] = (await withTenant(db, A, null, (tx) =>
    tx.execute(sql`select trovella.uuid_to_ulid(${made[0].id}::uuid) as text`))).rows;
  assert.equal(uuidToULID(made[0].id), dbUlid, 'uuidToULID reads a database id as the database does');
  assert.equal(ulidToUUID(dbUlid).toLowerCase(), made[0].id);
});
