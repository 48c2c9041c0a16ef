// Reading the audit trail from Node.js (issue 34): history(tx, table, id)
// and auditLog(tx) inside withTenant, over node-postgres, Drizzle and
// postgres.js, as an application role under row-level security.  Each
// test reads back what the audit trigger recorded of real writes: a tenant
// reads its own records only, outside a tenant transaction the server
// refuses (42501), and names and keys travel as parameters only.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import postgres from 'postgres';
import { drizzle } from 'drizzle-orm/node-postgres';
import { pgTable, text, integer } from 'drizzle-orm/pg-core';
import { eq, sql } from 'drizzle-orm';
import { withTenant, history, auditLog, TrovellaError } from 'trovella';
import { standardColumns, tenantColumn, ulidPrimaryKey } from 'trovella/drizzle';
import { adminClient, createAppRole, dropRole, newPool, tenantId, userId, DATABASE } from './db.js';

const ROLE = 'regress_audit_app';
const ODD = 'au odd"name';
const docs = pgTable('au_docs', {
  id: ulidPrimaryKey(),
  tenantId: tenantColumn(),
  title: text('title').notNull(),
  pageCount: integer('page_count'),
  ...standardColumns(),
});
const odd = pgTable(ODD, {
  key: text('key').notNull(),
  tenantId: tenantColumn(),
  note: text('note'),
});
const A = tenantId(31);
const B = tenantId(32);
const ALICE = userId(31);
const BOB = userId(32);
const NASTY = "x'); DROP TABLE au_project; -- \"$1\" \\";

let admin;
let role;
let pool;
let db;

before(async () => {
  admin = await adminClient();
  role = await createAppRole(admin, ROLE);
  await admin.query('DROP TABLE IF EXISTS au_project, au_member, au_docs, "au odd""name"');
  await admin.query('BEGIN');
  await admin.query(`CREATE TABLE au_project (id int NOT NULL, tenant_id uuid NOT NULL, name text NOT NULL, budget numeric,
      PRIMARY KEY (tenant_id, id))`);
  await admin.query(`CREATE TABLE au_member (tenant_id uuid NOT NULL, project_id int NOT NULL, login text NOT NULL, role text,
      PRIMARY KEY (tenant_id, project_id, login))`);
  await admin.query(`CREATE TABLE au_docs (id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL,
      title text NOT NULL, page_count int)`);
  await admin.query('CREATE INDEX ON au_docs (tenant_id)');
  await admin.query('CREATE TABLE "au odd""name" (key text NOT NULL, tenant_id uuid NOT NULL, note text, PRIMARY KEY (tenant_id, key))');
  for (const t of ['au_project', 'au_member', 'au_docs', '"au odd""name"']) {
    await admin.query('SELECT trovella.enable_tenant_isolation($1)', [t]);
    await admin.query('SELECT trovella.enable_audit($1)', [t]);
  }
  await admin.query(`SELECT trovella.enable_standard_columns('au_docs')`);
  await admin.query('COMMIT');
  await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON au_project, au_member, au_docs, "au odd""name" TO ${ROLE}`);
  // what the README grants a reader of the audit trail
  await admin.query(`GRANT SELECT ON trovella.audit_log, trovella.audit_history TO ${ROLE}`);
  pool = newPool({ max: 3, user: role.user, password: role.password });
  db = drizzle({ client: pool });
});

after(async () => {
  await pool.end();
  await admin.query('DROP TABLE IF EXISTS au_project, au_member, au_docs, "au odd""name"');
  await admin.query(`REVOKE SELECT ON trovella.audit_log, trovella.audit_history FROM ${ROLE}`);
  await dropRole(admin, ROLE);
  await admin.end();
});

const shape = (r) => [r.operation, r.rowKey, r.userId, r.old, r.new];

test('node-postgres: an insert, an update and a delete read back oldest first, typed', async () => {
  await withTenant(pool, A, ALICE, async (tx) => {
    await tx.query("INSERT INTO au_project VALUES (1, $1, 'apollo', 100), (2, $1, 'gemini', NULL)", [A]);
  });
  await withTenant(pool, A, BOB, (tx) => tx.query("UPDATE au_project SET budget = 150.5 WHERE id = 1"));
  await withTenant(pool, A, ALICE, (tx) => tx.query('DELETE FROM au_project WHERE id = 1'));
  const records = await withTenant(pool, A, ALICE, (tx) => history(tx, 'au_project', 1));
  assert.deepEqual(records.map(shape), [
    ['INSERT', '1', ALICE, null, { id: 1, tenant_id: A, name: 'apollo', budget: 100 }],
    ['UPDATE', '1', BOB, { budget: 100 }, { budget: 150.5 }],
    ['DELETE', '1', ALICE, { id: 1, tenant_id: A, name: 'apollo', budget: 150.5 }, null],
  ]);
  for (const r of records) {
    assert.equal(typeof r.seq, 'string');
    assert.match(r.seq, /^[0-9]+$/);
    assert.match(r.xact, /^[0-9]+$/);
    assert.ok(r.at instanceof Date && !Number.isNaN(r.at.getTime()));
    assert.ok(Math.abs(r.at.getTime() - Date.now()) < 600000, 'the time of the writing transaction');
    assert.deepEqual([r.table, r.tenantId, r.role, r.loginRole], ['public.au_project', A, ROLE, ROLE]);
  }
  assert.ok(BigInt(records[0].seq) < BigInt(records[1].seq) && BigInt(records[1].seq) < BigInt(records[2].seq));
  assert.notEqual(records[0].xact, records[1].xact);
  // newest first, a limit, the name schema-qualified, the key as a string
  // or a bigint: the same records
  const newest = await withTenant(pool, A, null, (tx) => history(tx, 'public.au_project', '1', { newestFirst: true, limit: 2 }));
  assert.deepEqual(newest.map((r) => r.seq), [records[2].seq, records[1].seq]);
  const again = await withTenant(pool, A, null, (tx) => history(tx, 'au_project', 1n));
  assert.deepEqual(again, records);
  // a row never written has no history; nor has a row of an unaudited key
  assert.deepEqual(await withTenant(pool, A, null, (tx) => history(tx, 'au_project', 99)), []);
});

test('Drizzle: history(tx, table, id) with the table object, its records keyed by the table\'s properties', async () => {
  const [doc] = await withTenant(db, A, ALICE, (tx) => tx.insert(docs).values({ title: 'plan', pageCount: 3 }).returning());
  await withTenant(db, A, BOB, (tx) => tx.update(docs).set({ title: 'plan v2' }).where(eq(docs.id, doc.id)));
  await withTenant(db, A, BOB, (tx) => tx.delete(docs).where(eq(docs.id, doc.id)));
  const records = await withTenant(db, A, ALICE, (tx) => history(tx, docs, doc.id));
  assert.deepEqual(records.map((r) => [r.operation, r.rowKey, r.userId]),
    [['INSERT', doc.id, ALICE], ['UPDATE', doc.id, BOB], ['DELETE', doc.id, BOB]]);
  const [ins, upd, del] = records;
  assert.deepEqual(Object.keys(ins.new).sort(),
    ['createdAt', 'createdBy', 'id', 'pageCount', 'tenantId', 'title', 'updatedAt', 'updatedBy']);
  assert.deepEqual([ins.new.title, ins.new.pageCount, ins.new.createdBy, ins.new.tenantId], ['plan', 3, ALICE, A]);
  // a timestamp as the JSON of the record holds it: ISO text
  assert.equal(new Date(ins.new.createdAt).getTime(), doc.createdAt.getTime());
  // the update's changed columns only: the title, and what trovella's
  // standard columns changed with it
  assert.deepEqual(upd.old.title, 'plan');
  assert.deepEqual(upd.new.title, 'plan v2');
  assert.equal(upd.new.updatedBy, BOB);
  assert.ok(!('pageCount' in upd.new), 'an unchanged column is not in an UPDATE\'s record');
  assert.equal(del.old.title, 'plan v2');
  assert.equal(del.new, null);
  // by name, the same records keyed by the columns' names
  const byName = await withTenant(db, A, null, (tx) => history(tx, 'au_docs', doc.id));
  assert.deepEqual(byName.map((r) => r.seq), records.map((r) => r.seq));
  assert.equal(byName[0].new.page_count, 3);
  // Drizzle over a transaction of its own, where with_tenant was called by hand
  const own = await db.transaction(async (tx) => {
    await tx.execute(sql`SELECT trovella.with_tenant(${A}::uuid, NULL)`);
    return history(tx, docs, doc.id, { newestFirst: true });
  });
  assert.deepEqual(own.map((r) => r.operation), ['DELETE', 'UPDATE', 'INSERT']);
});

test('a key of several columns: the values in the key\'s order, matched as the trigger writes row_key', async () => {
  const login = 'o\'brien, "the" [admin] ü\n';
  await withTenant(pool, A, ALICE, async (tx) => {
    await tx.query("INSERT INTO au_member VALUES ($1, 7, $2, 'viewer'), ($1, 7, 'plain', 'viewer')", [A, login]);
    await tx.query("UPDATE au_member SET role = 'editor' WHERE login = $1", [login]);
  });
  const records = await withTenant(pool, A, null, (tx) => history(tx, 'au_member', [7, login]));
  assert.deepEqual(records.map((r) => [r.operation, r.rowKey, r.old, r.new?.role]), [
    ['INSERT', JSON.stringify(['7', login]), null, 'viewer'],
    ['UPDATE', JSON.stringify(['7', login]), { role: 'viewer' }, 'editor'],
  ]);
  const plain = await withTenant(pool, A, null, (tx) => history(tx, 'au_member', ['7', 'plain']));
  assert.deepEqual(plain.map((r) => r.operation), ['INSERT']);
  // the values in another order are another key
  assert.deepEqual(await withTenant(pool, A, null, (tx) => history(tx, 'au_member', ['plain', 7])), []);
  // a key of one value given as an array of one is that value
  const one = await withTenant(pool, A, null, (tx) => history(tx, 'au_project', [2]));
  assert.deepEqual(one.map((r) => r.operation), ['INSERT']);
});

test('a tenant reads only its own history: another tenant\'s row has none, its log holds none', async () => {
  const seen = await withTenant(pool, B, BOB, async (tx) => [
    await history(tx, 'au_project', 1),
    await history(tx, 'au_member', [7, 'plain']),
    await auditLog(tx),
  ]);
  assert.deepEqual(seen, [[], [], []]);
  await withTenant(pool, B, BOB, (tx) => tx.query("INSERT INTO au_project VALUES (1, $1, 'mercury', 5)", [B]));
  const mine = await withTenant(pool, B, BOB, (tx) => history(tx, 'au_project', 1));
  assert.deepEqual(mine.map((r) => [r.operation, r.tenantId, r.new.name]), [['INSERT', B, 'mercury']]);
  const theirs = await withTenant(pool, A, ALICE, (tx) => history(tx, 'au_project', 1));
  assert.ok(theirs.length === 3 && theirs.every((r) => r.tenantId === A));
});

test('outside a tenant transaction the server refuses with 42501', async () => {
  const client = await pool.connect();
  try {
    await assert.rejects(history(client, 'au_project', 1), (err) => err.code === '42501');
    await assert.rejects(auditLog(client), (err) => err.code === '42501');
  } finally {
    client.release();
  }
  await assert.rejects(history(pool, 'au_project', 1), (err) => err.code === '42501');
  await assert.rejects(history(db, docs, '00000000-0000-0000-0000-000000000000'), (err) => (err.code ?? err.cause?.code) === '42501');
});

test('a table name with a quote and a space, and keys with SQL in them, are values, never SQL', async () => {
  await withTenant(pool, A, ALICE, async (tx) => {
    await tx.query('INSERT INTO "au odd""name" (key, tenant_id, note) VALUES ($1, $2, \'first\')', [NASTY, A]);
    await tx.query('UPDATE "au odd""name" SET note = \'second\' WHERE key = $1', [NASTY]);
  });
  const byName = await withTenant(pool, A, null, (tx) => history(tx, '"au odd""name"', NASTY));
  assert.deepEqual(byName.map((r) => [r.operation, r.rowKey, r.table, r.new.note]),
    [['INSERT', NASTY, 'public."au odd""name"', 'first'], ['UPDATE', NASTY, 'public."au odd""name"', 'second']]);
  // the Drizzle table's name is quoted for regclass
  const byTable = await withTenant(db, A, null, (tx) => history(tx, odd, NASTY));
  assert.deepEqual(byTable.map((r) => r.seq), byName.map((r) => r.seq));
  assert.equal(byTable[0].new.key, NASTY);
  // SQL as a table name is a name that does not parse or does not exist
  await assert.rejects(withTenant(pool, A, null, (tx) => history(tx, 'au_project; DROP TABLE au_member', 1)),
    (err) => ['42602', '42P01'].includes(err.code));
  await assert.rejects(withTenant(pool, A, null, (tx) => history(tx, 'au_nothing', 1)), (err) => err.code === '42P01');
  // a key of SQL is a key nobody has; a composite value too
  assert.deepEqual(await withTenant(pool, A, null, (tx) => history(tx, 'au_project', "1' OR '1'='1")), []);
  assert.deepEqual(await withTenant(pool, A, null, (tx) => history(tx, 'au_member', ['7', "x\"]' OR true --"])), []);
  const { rows } = await admin.query("SELECT count(*)::int AS n FROM pg_class WHERE relname IN ('au_project', 'au_member')");
  assert.equal(rows[0].n, 2);
});

test('auditLog: the tenant\'s latest records, newest first, in pages, of one table or all', async () => {
  const all = await withTenant(pool, A, null, (tx) => auditLog(tx, { limit: 1000 }));
  assert.ok(all.length >= 10);
  assert.ok(all.every((r) => r.tenantId === A));
  for (let i = 1; i < all.length; i++) assert.ok(BigInt(all[i - 1].seq) > BigInt(all[i].seq));
  const first = await withTenant(pool, A, null, (tx) => auditLog(tx, { limit: 3 }));
  const second = await withTenant(pool, A, null, (tx) => auditLog(tx, { limit: 3, before: first[2].seq }));
  assert.deepEqual([...first, ...second].map((r) => r.seq), all.slice(0, 6).map((r) => r.seq));
  const projects = await withTenant(pool, A, null, (tx) => auditLog(tx, { table: 'au_project' }));
  assert.deepEqual(projects.map((r) => r.seq), all.filter((r) => r.table === 'public.au_project').map((r) => r.seq));
  const drizzleDocs = await withTenant(db, A, null, (tx) => auditLog(tx, { table: docs, before: BigInt(all[0].seq) + 1n, limit: 2 }));
  assert.deepEqual(drizzleDocs.map((r) => r.operation), ['DELETE', 'UPDATE']);
  assert.equal(drizzleDocs[0].old.pageCount, 3);
});

test('postgres.js: history in the reserved connection withTenant gives', async () => {
  const pgjs = postgres({ host: process.env.PGHOST, port: Number(process.env.PGPORT || 5432), database: DATABASE, username: role.user, password: role.password, max: 1, onnotice: () => {} });
  try {
    const records = await withTenant(pgjs, A, null, (tx) => history(tx, 'au_member', [7, 'plain']));
    assert.deepEqual(records.map((r) => [r.operation, r.new.login, r.at instanceof Date]), [['INSERT', 'plain', true]]);
    const single = await withTenant(pgjs, A, null, (tx) => history(tx, 'au_project', 2));
    assert.deepEqual(single.map((r) => r.operation), ['INSERT']);
  } finally {
    await pgjs.end();
  }
});

test('bad arguments reject before anything is sent (22023)', async () => {
  const bad = (err) => err instanceof TrovellaError && err.code === '22023';
  await withTenant(pool, A, null, async (tx) => {
    await assert.rejects(history(tx, 'au_project', null), bad);
    await assert.rejects(history(tx, 'au_project', { id: 1 }), bad);
    await assert.rejects(history(tx, 'au_project', []), bad);
    await assert.rejects(history(tx, 'au_project', NaN), bad);
    await assert.rejects(history(tx, '', 1), bad);
    await assert.rejects(history(tx, { name: 'au_project' }, 1), bad);
    await assert.rejects(history(tx, 'au_project', 1, { limit: 0 }), bad);
    await assert.rejects(auditLog(tx, { before: '1 OR true' }), bad);
    await assert.rejects(auditLog(tx, { limit: 1.5 }), bad);
  });
  await assert.rejects(history({}, 'au_project', 1), (err) => err.code === 'TROVELLA_DRIVER');
});
