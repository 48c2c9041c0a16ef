// Soft delete through real Drizzle (trovella.enable_soft_delete): delete(),
// update().returning() and insert().onConflictDoUpdate() as an application
// role under row-level security, none failing with 42501, where the same
// calls over a hand-written soft delete policy do.  The table is declared
// with the package's helpers (standardColumns, softDeleteColumns).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { drizzle } from 'drizzle-orm/node-postgres';
import { pgTable, text, timestamp, uuid, unique } from 'drizzle-orm/pg-core';
import { and, eq, isNotNull, sql } from 'drizzle-orm';
import { withTenant } from 'trovella';
import { softDeleteColumns, standardColumns, tenantColumn, ulidPrimaryKey } from 'trovella/drizzle';
import { adminClient, createAppRole, dropRole, newPool, tenantId, userId } from './db.js';

const ROLE = 'regress_soft_delete_app';
const docs = pgTable('sd_docs', {
  id: ulidPrimaryKey(),
  tenantId: tenantColumn(),
  title: text('title').notNull(),
  body: text('body'),
  ...standardColumns(),
  ...softDeleteColumns(),
}, (t) => [unique().on(t.tenantId, t.title)]);
// the same soft delete written by hand: a policy that hides deleted rows
const manual = pgTable('sd_manual', {
  id: ulidPrimaryKey(),
  tenantId: tenantColumn(),
  title: text('title').notNull(),
  deletedAt: timestamp('deleted_at', { withTimezone: true }),
}, (t) => [unique().on(t.tenantId, t.title)]);

let admin;
let pool;
let db;
const A = tenantId(1);
const B = tenantId(2);

before(async () => {
  admin = await adminClient();
  const role = await createAppRole(admin, ROLE);
  await admin.query('DROP TABLE IF EXISTS sd_docs, sd_manual');
  await admin.query('BEGIN');
  await admin.query(`CREATE TABLE sd_docs (id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL,
      title text NOT NULL, body text, UNIQUE (tenant_id, title))`);
  await admin.query(`SELECT trovella.enable_tenant_isolation('sd_docs')`);
  await admin.query(`SELECT trovella.enable_standard_columns('sd_docs')`);
  await admin.query(`SELECT trovella.enable_soft_delete('sd_docs')`);
  await admin.query(`CREATE TABLE sd_manual (id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL,
      title text NOT NULL, deleted_at timestamptz, UNIQUE (tenant_id, title))`);
  await admin.query(`SELECT trovella.enable_tenant_isolation('sd_manual')`);
  await admin.query('CREATE POLICY hide_deleted ON sd_manual AS RESTRICTIVE FOR SELECT USING (deleted_at IS NULL)');
  await admin.query('COMMIT');
  await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON sd_docs, sd_manual TO ${ROLE}`);
  pool = newPool({ max: 3, user: role.user, password: role.password });
  db = drizzle({ client: pool });
});

after(async () => {
  await pool.end();
  await admin.query('DROP TABLE IF EXISTS sd_docs, sd_manual');
  await dropRole(admin, ROLE);
  await admin.end();
});

test('the hand-written soft delete fails with 42501 through these very calls (the trap this suite guards against)', async () => {
  await withTenant(db, A, userId(1), (tx) => tx.insert(manual).values({ title: 'plan' }));
  await assert.rejects(
    withTenant(db, A, userId(1), (tx) =>
      tx.update(manual).set({ deletedAt: new Date() }).where(eq(manual.title, 'plan'))),
    (err) => err.code === '42501' || err.cause?.code === '42501');
});

test('delete() marks the row instead of removing it, and reads no longer see it', async () => {
  await withTenant(db, A, userId(1), (tx) =>
    tx.insert(docs).values([{ title: 'plan', body: 'v1' }, { title: 'draft', body: 'v1' }, { title: 'todo', body: 'v1' }]));
  const result = await withTenant(db, A, userId(2), (tx) => tx.delete(docs).where(eq(docs.title, 'draft')));
  assert.equal(result.rowCount, 0, 'PostgreSQL reports the DELETE as skipped: the row was marked');
  const returned = await withTenant(db, A, userId(2), (tx) => tx.delete(docs).where(eq(docs.title, 'todo')).returning());
  assert.deepEqual(returned, []);
  const titles = await withTenant(db, A, null, async (tx) => (await tx.select().from(docs)).map((d) => d.title));
  assert.deepEqual(titles, ['plan']);
  const marked = await withTenant(db, A, null, async (tx) => {
    await tx.execute(sql`select trovella.with_deleted()`);
    return tx.select().from(docs).where(isNotNull(docs.deletedAt)).orderBy(docs.title);
  });
  assert.deepEqual(marked.map((d) => [d.title, d.deletedBy]), [['draft', userId(2)], ['todo', userId(2)]]);
  assert.ok(marked[0].deletedAt instanceof Date);
});

test('update().returning() updates live rows and finds no marked one', async () => {
  const live = await withTenant(db, A, userId(3), (tx) =>
    tx.update(docs).set({ body: 'v2' }).where(eq(docs.title, 'plan')).returning());
  assert.deepEqual(live.map((d) => [d.title, d.body, d.deletedAt, d.updatedBy]), [['plan', 'v2', null, userId(3)]]);
  const marked = await withTenant(db, A, userId(3), (tx) =>
    tx.update(docs).set({ body: 'v2' }).where(eq(docs.title, 'draft')).returning());
  assert.deepEqual(marked, []);
});

test('onConflictDoUpdate() updates a live row and inserts over a marked one, without 42501', async () => {
  const upsert = (title, body) => withTenant(db, A, userId(4), (tx) =>
    tx.insert(docs).values({ title, body })
      .onConflictDoUpdate({ target: [docs.tenantId, docs.title], set: { body } }).returning());
  const [live] = await upsert('plan', 'v3');
  assert.deepEqual([live.title, live.body, live.createdBy, live.updatedBy], ['plan', 'v3', userId(1), userId(4)]);
  const [reborn] = await upsert('draft', 'reborn');
  assert.deepEqual([reborn.title, reborn.body, reborn.deletedAt, reborn.createdBy], ['draft', 'reborn', null, userId(4)]);
  const titles = await withTenant(db, A, null, async (tx) => {
    await tx.execute(sql`select trovella.with_deleted()`);
    return (await tx.select().from(docs).orderBy(docs.title)).map((d) => [d.title, d.deletedAt === null]);
  });
  assert.deepEqual(titles, [['draft', true], ['plan', true], ['todo', false]], 'the marked draft was replaced, not kept twice');
});

test('the columns are trovella\'s: values the application sends for them are not kept', async () => {
  const [row] = await withTenant(db, A, userId(5), (tx) => tx.insert(docs).values({
    title: 'forged', createdBy: userId(9), updatedBy: userId(9), createdAt: new Date(0),
    deletedAt: new Date(), deletedBy: userId(9),
  }).returning());
  assert.deepEqual([row.createdBy, row.updatedBy, row.deletedAt, row.deletedBy], [userId(5), userId(5), null, null]);
  assert.ok(row.createdAt.getTime() > 0);
  await assert.rejects(
    withTenant(db, A, userId(5), (tx) => tx.update(docs).set({ deletedAt: new Date() }).where(eq(docs.title, 'forged'))),
    (err) => (err.code ?? err.cause?.code) === '0A000');
});

test('restore() brings a row back, and another tenant neither sees nor restores it', async () => {
  const [todo] = await withTenant(db, A, null, async (tx) => {
    await tx.execute(sql`select trovella.with_deleted()`);
    return tx.select().from(docs).where(and(eq(docs.title, 'todo'), isNotNull(docs.deletedAt)));
  });
  const byB = await withTenant(db, B, null, async (tx) => {
    await tx.execute(sql`select trovella.with_deleted()`);
    const seen = await tx.select().from(docs);
    const { rows } = await tx.execute(sql`select trovella.restore('sd_docs', ${todo.id}::uuid) as n`);
    return [seen.length, Number(rows[0].n)];
  });
  assert.deepEqual(byB, [0, 0]);
  const restored = await withTenant(db, A, userId(6), async (tx) => {
    const { rows } = await tx.execute(sql`select trovella.restore('sd_docs', ${todo.id}::uuid) as n`);
    return [Number(rows[0].n), (await tx.select().from(docs).where(eq(docs.id, todo.id)))[0]];
  });
  assert.equal(restored[0], 1);
  assert.deepEqual([restored[1].deletedAt, restored[1].deletedBy, restored[1].updatedBy], [null, null, userId(6)]);
});
