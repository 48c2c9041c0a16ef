// The open of a tenant transaction over pg (issue 36, point 9): once a
// connection has the context statement, BEGIN and with_tenant() go out
// with fn's first query, in one write under one Sync.  What that must keep:
// a refused context runs nothing of fn's and rejects withTenant even when
// fn catches it; queries keep the order fn made them in; a connection that
// lost the statement goes on.  Run from the installed tarball by
// package.test.js.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { drizzle } from 'drizzle-orm/node-postgres';
import { pgTable, text, uuid } from 'drizzle-orm/pg-core';
import { eq } from 'drizzle-orm';
import { withTenant } from 'trovella';

const helpers = process.env.TROVELLA_CLIENT_DIR;
const { adminClient, createAppRole, dropRole, DATABASE, tenantId, userId } = await import(`${helpers}/db.js`);

const ROLE = 'regress_pipeline_app';
const A = tenantId(91);
const MEMBER = userId(91);
const STRANGER = userId(92);
const notes = pgTable('pipeline_notes', { id: uuid('id'), tenantId: uuid('tenant_id'), body: text('body') });

let admin;
let conn;
const closers = [];

before(async () => {
  admin = await adminClient();
  if ((await admin.query('SELECT FROM pg_roles WHERE rolname = $1', [ROLE])).rowCount) await dropRole(admin, ROLE);
  const role = await createAppRole(admin, ROLE);
  await admin.query(`SET trovella.isolation_guard = off;
    DROP TABLE IF EXISTS pipeline_notes, pipeline_members;
    DROP SEQUENCE IF EXISTS pipeline_side_effect;
    CREATE TABLE pipeline_notes (id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL, body text NOT NULL);
    CREATE INDEX ON pipeline_notes (tenant_id, id);
    SELECT trovella.enable_tenant_isolation('pipeline_notes');
    GRANT SELECT, INSERT ON pipeline_notes TO ${ROLE};
    INSERT INTO pipeline_notes (tenant_id, body) VALUES ('${A}', 'a1');
    CREATE TABLE pipeline_members (tenant_id uuid, user_id uuid, PRIMARY KEY (tenant_id, user_id));
    INSERT INTO pipeline_members VALUES ('${A}', '${MEMBER}');
    -- what a query of fn that must not run would leave behind
    CREATE SEQUENCE pipeline_side_effect;
    GRANT SELECT, USAGE ON SEQUENCE pipeline_side_effect TO ${ROLE}`);
  conn = { host: process.env.PGHOST, port: Number(process.env.PGPORT || 5432), database: DATABASE, user: role.user, password: role.password };
});

after(async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
  await admin.query('DROP TABLE IF EXISTS pipeline_notes, pipeline_members; DROP SEQUENCE IF EXISTS pipeline_side_effect');
  await dropRole(admin, ROLE);
  await admin.end();
});

// a pool of one connection, whose client.query calls are counted: pg sends
// one query at a time, so each is at least one round trip
async function countedPool() {
  const pool = new pg.Pool({ ...conn, max: 1 });
  closers.push(() => pool.end());
  await withTenant(pool, A, null, async (tx) => tx.query('SELECT 1')); // the connection prepares the statement
  const client = await pool.connect();
  const counter = { calls: 0 };
  const query = client.query;
  client.query = function counted(...args) { counter.calls += 1; return query.apply(this, args); };
  client.release();
  return { pool, counter };
}

const sideEffects = async () => Number((await admin.query(
  'SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS n FROM pipeline_side_effect')).rows[0].n);

test('BEGIN, with_tenant() and fn\'s first query go out together: two round trips with COMMIT (pg, Drizzle over pg)', async () => {
  const { pool, counter } = await countedPool();
  const rows = await withTenant(pool, A, null, async (tx) => {
    assert.equal(counter.calls, 0, 'nothing sent before fn\'s first query');
    return (await tx.query('SELECT body, trovella.current_tenant() AS t FROM pipeline_notes WHERE body = $1', ['a1'])).rows;
  });
  assert.deepEqual(rows, [{ body: 'a1', t: A }]);
  assert.equal(counter.calls, 2, 'the first query with the open, then COMMIT');

  const db = drizzle({ client: pool });
  counter.calls = 0;
  const bodies = await withTenant(db, A, null, async (tx) => (await tx.select().from(notes).where(eq(notes.body, 'a1'))).map((r) => r.body));
  assert.deepEqual(bodies, ['a1']);
  assert.equal(counter.calls, 2, 'Drizzle too');

  // a query in the simple protocol (no parameters) waits for the open
  counter.calls = 0;
  assert.equal((await withTenant(pool, A, null, async (tx) => (await tx.query('SELECT count(*)::int AS n FROM pipeline_notes')).rows[0].n)), 1);
  assert.equal(counter.calls, 3);
  // fn without a query: the open, then COMMIT
  counter.calls = 0;
  assert.equal(await withTenant(pool, A, null, async () => 'done'), 'done');
  assert.equal(counter.calls, 2);
  // fn failing before its first query: nothing sent
  counter.calls = 0;
  await assert.rejects(withTenant(pool, A, null, async () => { throw new Error('before any query'); }), /before any query/);
  assert.equal(counter.calls, 0);
});

test('a refused context runs nothing of fn\'s, and withTenant rejects with it even when fn catches it', async () => {
  const { pool } = await countedPool();
  await admin.query("SELECT trovella.use_membership('pipeline_members', 'tenant_id', 'user_id')");
  try {
    assert.equal(await withTenant(pool, A, MEMBER, async (tx) => (await tx.query('SELECT $1::int AS n', [7])).rows[0].n), 7);
    const before = await sideEffects();
    let caught;
    await assert.rejects(withTenant(pool, A, STRANGER, async (tx) => {
      try {
        await tx.query('SELECT nextval($1)', ['pipeline_side_effect']);
      } catch (error) {
        caught = error.code;
      }
      return 'swallowed';
    }), { code: '42501' });
    assert.equal(caught, '42501', 'fn\'s first query rejects with the refusal');
    // queries fn made without awaiting the first: none runs
    await assert.rejects(withTenant(pool, A, STRANGER, async (tx) => Promise.all([
      tx.query('SELECT nextval($1)', ['pipeline_side_effect']),
      tx.query("SELECT nextval('pipeline_side_effect')"),
      tx.query('SELECT nextval($1)', ['pipeline_side_effect']),
    ])), { code: '42501' });
    // a first query in the simple protocol, and fn without a query
    await assert.rejects(withTenant(pool, A, STRANGER, async (tx) => tx.query("SELECT nextval('pipeline_side_effect')")), { code: '42501' });
    await assert.rejects(withTenant(pool, A, STRANGER, async () => 'nothing'), { code: '42501' });
    assert.equal(await sideEffects(), before, 'no query of fn ran');
    // and the connection is clean after
    assert.equal(await withTenant(pool, A, MEMBER, async (tx) => (await tx.query('SELECT $1::int AS n', [8])).rows[0].n), 8);
  } finally {
    await admin.query('SELECT trovella.stop_membership()');
  }
});

test('queries fn did not await run in the order fn made them', async () => {
  const { pool } = await countedPool();
  const order = await withTenant(pool, A, null, async (tx) => (await Promise.all([
    tx.query('SELECT $1::int AS i', [1]), tx.query('SELECT 2 AS i'), tx.query('SELECT $1::int AS i', [3]),
  ])).map((r) => r.rows[0].i));
  assert.deepEqual(order, [1, 2, 3]);
  const simpleFirst = await withTenant(pool, A, null, async (tx) => (await Promise.all([
    tx.query('SELECT 1 AS i'), tx.query('SELECT $1::int AS i', [2]), tx.query('SELECT 3 AS i'),
  ])).map((r) => r.rows[0].i));
  assert.deepEqual(simpleFirst, [1, 2, 3]);
  // pg's callback form
  const viaCallback = await withTenant(pool, A, null, (tx) => new Promise((resolve, reject) => {
    tx.query('SELECT $1::int AS i', [5], (error, result) => (error ? reject(error) : resolve(result.rows[0].i)));
  }));
  assert.equal(viaCallback, 5);
  // a nested withTenant as fn's first act opens the transaction first
  assert.equal(await withTenant(pool, A, null, async (tx) => withTenant(tx, A, null, async (inner) =>
    (await inner.query('SELECT trovella.current_tenant() AS t, $1::int AS n', [1])).rows[0].t)), A);
});

test('a connection that lost the statement goes on: the first query runs after the simple-protocol open', async () => {
  const { pool, counter } = await countedPool();
  const client = await pool.connect();
  await client.query('DEALLOCATE ALL');
  client.release();
  counter.calls = 0;
  const rows = await withTenant(pool, A, null, async (tx) => (await Promise.all([
    tx.query('SELECT trovella.current_tenant() AS t, $1::int AS i', [1]),
    tx.query('SELECT $1::int AS i', [2]),
  ])).map((r) => r.rows[0]));
  assert.deepEqual(rows, [{ t: A, i: 1 }, { i: 2 }]);
  // and its writes commit
  await withTenant(pool, A, null, async (tx) => tx.query('INSERT INTO pipeline_notes (body) VALUES ($1)', ['a2']));
  assert.equal(Number((await admin.query("SELECT count(*) FROM pipeline_notes WHERE body = 'a2'")).rows[0].count), 1);
});

test('a first query whose value pg cannot serialize fails alone: one Sync, the next queries get their own answers', async () => {
  const { pool } = await countedPool();
  await withTenant(pool, A, null, async (tx) => tx.query('SELECT 1')); // the connection has the statement
  // the Syncs the connection writes (each is answered by a ReadyForQuery,
  // which pg takes for the answer of the query in flight)
  const held = await pool.connect();
  const { connection } = held;
  const sync = connection.sync;
  let syncs = 0;
  connection.sync = function countedSync(...args) { syncs++; return sync.apply(this, args); };
  held.release();
  // a BigInt inside a JSON value: pg's serializer throws, and pg closes the
  // statement and sends the Sync itself (0.5.0 before the fix sent a second
  // one: a later query in flight when its ReadyForQuery came got the answer
  // of the one before it)
  let syncsOfFirst;
  const answers = await withTenant(pool, A, null, async (tx) => {
    await assert.rejects(tx.query('SELECT $1::jsonb AS j', [[{ id: 1n }]]), /BigInt/);
    syncsOfFirst = syncs;
    const second = (await tx.query('SELECT $1::int AS i, trovella.current_tenant() AS t', [2])).rows[0];
    const third = (await tx.query('SELECT $1::int AS i', [3])).rows[0];
    return [second, third];
  });
  connection.sync = sync;
  assert.equal(syncsOfFirst, 1, 'BEGIN, the context and the failed query: one Sync');
  assert.deepEqual(answers, [{ i: 2, t: A }, { i: 3 }]);
  const client = await pool.connect();
  try {
    assert.deepEqual((await client.query('SELECT $1::int AS i', [4])).rows, [{ i: 4 }]);
  } finally {
    client.release();
  }
});

test('a client in pg\'s pipeline mode is refused, clearly, and runs nothing of fn\'s', async () => {
  const client = new pg.Client({ ...conn, pipeline: true });
  await client.connect();
  closers.push(() => client.end());
  let ran = false;
  await assert.rejects(withTenant(client, A, null, async (tx) => { ran = true; return tx.query('SELECT 1'); }),
    /pipeline mode/);
  assert.equal(ran, false);
});
