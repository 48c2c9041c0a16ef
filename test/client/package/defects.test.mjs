// The package under application code as it is really written (issue 36),
// from the installed tarball, over every driver it adapts: pg (Pool and
// Client), postgres.js 3 and 4, and Drizzle over each.  Each test here
// failed on the 0.4.0 package.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import postgres3 from 'postgres';
import postgres4 from 'postgres4';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { pgTable, text, uuid } from 'drizzle-orm/pg-core';
import { sql as dsql } from 'drizzle-orm';
import {
  withTenant, withUser, checkDatabase, applySeeds, uuidToUlid, ulidToUuid, ulidTime, richIdToUuid, richId, VERSION,
} from 'trovella';
import { tenantColumn, ulidPrimaryKey } from 'trovella/drizzle';

const helpers = process.env.TROVELLA_CLIENT_DIR;
const { adminClient, createAppRole, dropRole, DATABASE, tenantId, userId } = await import(`${helpers}/db.js`);

const ROLE = 'regress_defects_app';
const A = tenantId(81);
const B = tenantId(82);
const TOKEN = 'trv_M7H4jxUDDWHP4kZ6A4dxlQYsQIWJuq11T4V4';
const notes = pgTable('defect_notes', { id: ulidPrimaryKey(), tenantId: tenantColumn(), body: text('body').notNull() });

let admin;
let role;
let conn;
const closers = [];

before(async () => {
  admin = await adminClient();
  if ((await admin.query('SELECT FROM pg_roles WHERE rolname = $1', [ROLE])).rowCount) await dropRole(admin, ROLE);
  role = await createAppRole(admin, ROLE);
  await admin.query(`SET trovella.isolation_guard = off;
    DROP TABLE IF EXISTS defect_notes;
    CREATE TABLE defect_notes (id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL, body text NOT NULL);
    CREATE INDEX ON defect_notes (tenant_id, id);
    SELECT trovella.enable_tenant_isolation('defect_notes');
    GRANT SELECT, INSERT, UPDATE, DELETE ON defect_notes TO ${ROLE};
    GRANT EXECUTE ON FUNCTION trovella.record_seed(text, text, text) TO ${ROLE}`);
  conn = { host: process.env.PGHOST, port: Number(process.env.PGPORT || 5432), database: DATABASE, user: role.user, password: role.password };
});

after(async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
  await admin.query('DROP TABLE IF EXISTS defect_notes');
  await admin.query("DELETE FROM trovella.seed WHERE name LIKE 'defect%'");
  await dropRole(admin, ROLE);
  await admin.end();
});

function pgPool(max = 1) {
  const pool = new pg.Pool({ ...conn, max });
  closers.push(() => pool.end());
  return pool;
}
async function pgClient() {
  const client = new pg.Client(conn);
  await client.connect();
  closers.push(() => client.end());
  return client;
}
function postgresSql(postgres, max = 1) {
  const sql = postgres({ host: conn.host, port: conn.port, database: conn.database, username: conn.user,
    password: conn.password, max, onnotice: () => {} });
  closers.push(() => sql.end({ timeout: 1 }));
  return sql;
}

// every driver, each with one connection: a late query would find the next
// transaction on it
const DRIVERS = [
  ['pg.Pool', () => pgPool()],
  ['pg.Client', () => pgClient()],
  ['postgres.js 3', () => postgresSql(postgres3)],
  ['postgres.js 4', () => postgresSql(postgres4)],
  ['Drizzle over pg.Pool', () => drizzlePg({ client: pgPool(), schema: { notes } })],
  ['Drizzle over postgres.js 3', () => drizzlePostgres({ client: postgresSql(postgres3), schema: { notes } })],
  ['Drizzle over postgres.js 4', () => drizzlePostgres({ client: postgresSql(postgres4), schema: { notes } })],
];

const kind = (tx) => (typeof tx.insert === 'function' ? 'drizzle' : typeof tx.unsafe === 'function' ? 'postgres' : 'pg');
function run(tx, text) {
  switch (kind(tx)) {
    case 'drizzle': return tx.execute(dsql.raw(text));
    case 'postgres': return tx.unsafe(text);
    default: return tx.query(text);
  }
}
const insert = (tx, body) => run(tx, `INSERT INTO defect_notes (body) VALUES ('${body}')`);
async function backendPid(tx) {
  const r = await run(tx, 'SELECT pg_backend_pid() AS pid');
  return (r.rows ?? r)[0].pid;
}
async function bodies(body) {
  return (await admin.query('SELECT tenant_id::text AS tenant FROM defect_notes WHERE body = $1', [body])).rows.map((r) => r.tenant);
}
const codeOf = (err) => (err && (err.code ?? err.cause?.code));

for (const [driver, make] of DRIVERS) {
  test(`${driver}: a tx used after fn has settled fails (25P01), and never lands in the next transaction`, async () => {
    const db = await make();
    const body = `late ${driver}`;
    let leaked;
    await withTenant(db, A, null, async (tx) => { leaked = tx; await insert(tx, `${body} early`); });
    // tenant B's transaction holds the one connection while the late query comes
    const holding = withTenant(db, B, null, async () => { await sleep(150); });
    await sleep(30);
    const late = await insert(leaked, body).then(() => 'ran', (err) => err);
    await holding;
    assert.equal(codeOf(late), '25P01', String(late));
    assert.match((late.cause ?? late).message, /after its fn had settled/);
    assert.deepEqual(await bodies(body), [], 'the late insert was stored nowhere');
    assert.deepEqual(await bodies(`${body} early`), [A]);
  });

  test(`${driver}: a statement failed and caught inside fn: withTenant rejects with 25P02, nothing saved`, async () => {
    const db = await make();
    const body = `swallowed ${driver}`;
    await assert.rejects(withTenant(db, A, null, async (tx) => {
      await insert(tx, body);
      await run(tx, 'SELECT 1/0').catch(() => {});
    }), (err) => codeOf(err) === '25P02' && /rolled back/.test(err.message));
    assert.deepEqual(await bodies(body), []);
    // the connection is clean after
    await withTenant(db, A, null, (tx) => insert(tx, `${body} after`));
    assert.deepEqual(await bodies(`${body} after`), [A]);
  });

  test(`${driver}: the backend dies while fn awaits something else: withTenant rejects, the pool goes on`, async () => {
    for (const [how, kill, code] of [
      ['pg_terminate_backend', (pid) => admin.query('SELECT pg_terminate_backend($1)', [pid]), '57P01'],
      ['idle_in_transaction_session_timeout', null, '25P03'],
    ]) {
      const body = `dead ${driver} ${how}`;
      const db = await make();
      const outcome = await withTenant(db, A, null, async (tx) => {
        await insert(tx, body);
        if (kill) await kill(await backendPid(tx));
        else await run(tx, "SET LOCAL idle_in_transaction_session_timeout = '100ms'");
        await sleep(600);
      }).then(() => 'resolved', (err) => err);
      assert.notEqual(outcome, 'resolved', `${how}: the transaction was lost, withTenant must reject`);
      if (kind(db) === 'pg' || kind(db) === 'drizzle') {
        // postgres.js reports the closed connection in its own words
        if (driver.includes('pg.')) assert.equal(codeOf(outcome), code, `${how}: ${outcome}`);
      }
      assert.deepEqual(await bodies(body), []);
      if (driver === 'pg.Client') continue; // a single client dies with its backend
      await withTenant(db, A, null, (tx) => insert(tx, `${body} after`));
      assert.deepEqual(await bodies(`${body} after`), [A], `${how}: a clean connection after`);
    }
  });

  test(`${driver}: nesting: the same tenant in a savepoint; another tenant refused; nothing commits midway`, async () => {
    const db = await make();
    const body = `nested ${driver}`;
    // a nested withTenant, then the outer fails: the nested write goes too
    await assert.rejects(withTenant(db, A, null, async (tx) => {
      await withTenant(tx, A, null, (inner) => insert(inner, body));
      throw new Error('the outer fails');
    }), /the outer fails/);
    assert.deepEqual(await bodies(body), [], 'the nested write did not commit midway');
    // a nested one that fails rolls back to its savepoint, the outer commits
    await withTenant(db, A, null, async (tx) => {
      await insert(tx, `${body} outer`);
      await assert.rejects(withTenant(tx, A, null, async (inner) => { await insert(inner, `${body} inner`); throw new Error('inner'); }), /inner/);
      await insert(tx, `${body} outer 2`);
    });
    assert.deepEqual(await bodies(`${body} outer`), [A]);
    assert.deepEqual(await bodies(`${body} outer 2`), [A]);
    assert.deepEqual(await bodies(`${body} inner`), []);
    // another tenant, or a user, inside: refused, the outer goes on
    await withTenant(db, A, null, async (tx) => {
      await assert.rejects(withTenant(tx, B, null, () => assert.fail('fn ran')), { code: '25001' });
      await assert.rejects(withTenant(tx, A, userId(1), () => assert.fail('fn ran')), { code: '25001' });
      await assert.rejects(withUser(tx, userId(1), () => assert.fail('fn ran')), { code: '25001' });
    });
    // Drizzle's own tx.transaction() is a savepoint too
    if (driver.startsWith('Drizzle')) {
      await assert.rejects(withTenant(db, A, null, async (tx) => {
        await tx.transaction((inner) => inner.insert(notes).values({ body: `${body} drizzle` }));
        throw new Error('the outer fails');
      }), /the outer fails/);
      assert.deepEqual(await bodies(`${body} drizzle`), []);
      // a withTenant inside Drizzle's own savepoint: refused, saying where to nest
      await withTenant(db, A, null, (tx) => tx.transaction(async (inner) => {
        await assert.rejects(withTenant(inner, A, null, () => assert.fail('fn ran')), { code: '25001' });
      }));
    }
  });
}

test('Drizzle: the database\'s casing and logger are carried into withTenant', async () => {
  // no column names given: casing maps tenantId to tenant_id
  const cased = pgTable('defect_notes', { id: uuid().primaryKey(), tenantId: uuid().notNull(), body: text().notNull() });
  for (const [name, make] of [
    ['pg', (logger) => drizzlePg({ client: pgPool(), casing: 'snake_case', logger })],
    ['postgres.js 3', (logger) => drizzlePostgres({ client: postgresSql(postgres3), casing: 'snake_case', logger })],
    ['postgres.js 4', (logger) => drizzlePostgres({ client: postgresSql(postgres4), casing: 'snake_case', logger })],
  ]) {
    const logged = [];
    const db = make({ logQuery: (query) => logged.push(query) });
    const rows = await withTenant(db, A, null, (tx) => tx.select({ tenantId: cased.tenantId }).from(cased).limit(1));
    assert.ok(rows.length === 1 && rows[0].tenantId === A, name);
    assert.ok(logged.some((q) => /"tenant_id"/.test(q)), `${name}: the logger saw the query`);
  }
});

test('pg.Client: two concurrent withTenant calls on one client: the second is refused, saying why (55006)', async () => {
  const client = await pgClient();
  const first = withTenant(client, A, null, () => sleep(100));
  await assert.rejects(withTenant(client, A, null, () => assert.fail('fn ran')),
    (err) => err.code === '55006' && /one client runs one transaction at a time/.test(err.message));
  await first;
});

test('applySeeds: a seed file with its own transaction control is refused (2D000), nothing recorded or run', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'trovella-seeds-'));
  try {
    writeFileSync(path.join(dir, 'defect_1.sql'),
      `SELECT trovella.with_tenant('${A}'); INSERT INTO defect_notes (body) VALUES ('seed half');\nCOMMIT;\n`
      + "INSERT INTO defect_notes (body) VALUES ('seed second half');");
    await assert.rejects(applySeeds(pgPool(), dir, { environment: 'dev' }),
      (err) => err.code === '2D000' && /defect_1\.sql/.test(err.message) && /COMMIT/.test(err.message));
    assert.deepEqual(await bodies('seed half'), []);
    assert.equal((await admin.query("SELECT FROM trovella.seed WHERE name = 'defect_1.sql'")).rowCount, 0);
    // a COMMIT inside a string, a comment or a function body is no transaction control
    writeFileSync(path.join(dir, 'defect_1.sql'), `-- COMMIT;\nSELECT trovella.with_tenant('${A}');
      INSERT INTO defect_notes (body) VALUES ('seed; COMMIT;');
      DO $$ BEGIN PERFORM 1; END $$;`);
    assert.deepEqual(await applySeeds(pgPool(), dir, { environment: 'dev' }), { applied: ['defect_1.sql'], skipped: [] });
    assert.deepEqual(await bodies('seed; COMMIT;'), [A]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ids: a token passed by mistake is never repeated in an error', () => {
  for (const call of [() => uuidToUlid(TOKEN), () => ulidToUuid(TOKEN), () => ulidTime(TOKEN), () => richIdToUuid(TOKEN, 'invoice'),
    () => ulidToUuid(TOKEN.slice(0, 26)), () => richIdToUuid(`invoice-${TOKEN.slice(4, 30)}`, 'invoice'), () => richId(TOKEN, A)]) {
    assert.throws(call, (err) => err.code === '22P02' && !err.message.includes(TOKEN.slice(4, 20)) && !err.message.includes('trv_'));
  }
});

test('checkDatabase: any role gets ok, latency and version; health added when readable, said when not', async () => {
  const pool = pgPool();
  const plain = await checkDatabase(pool);
  assert.equal(plain.version, VERSION);
  assert.ok(plain.latencyMs >= 0);
  assert.equal(plain.healthRead, false);
  assert.ok(plain.problems.some((p) => p.check === 'health' && p.status === 'warning' && /pg_monitor/.test(p.detail)));
  const viaPostgres = await checkDatabase(postgresSql(postgres4));
  assert.equal(viaPostgres.version, VERSION);
  await admin.query(`GRANT pg_monitor TO ${ROLE}`);
  try {
    const monitored = await checkDatabase(pgPool());
    assert.equal(monitored.healthRead, true);
    assert.ok(!monitored.problems.some((p) => p.check === 'health'));
    assert.equal(monitored.ok, !monitored.problems.some((p) => p.status === 'problem'));
  } finally {
    await admin.query(`REVOKE pg_monitor FROM ${ROLE}`);
  }
});

test('checkDatabase: a server that does not answer is ok: false, not a throw', async () => {
  const pool = new pg.Pool({ ...conn, port: 1, connectionTimeoutMillis: 2000 });
  closers.push(() => pool.end());
  const health = await checkDatabase(pool);
  assert.equal(health.ok, false);
  assert.equal(health.problems[0].check, 'connection');
  const sql = postgres4({ host: conn.host, port: 1, connect_timeout: 2, max: 1 });
  closers.push(() => sql.end({ timeout: 1 }));
  assert.equal((await checkDatabase(sql)).ok, false);
});

test('checkDatabase: an extension too old for withTenant is a problem, not ok', async () => {
  const name = `defect_old_${process.pid}`;
  await admin.query(`DROP DATABASE IF EXISTS ${name}`);
  await admin.query(`CREATE DATABASE ${name}`);
  const old = new pg.Client({ host: conn.host, port: conn.port, database: name, user: process.env.PGUSER });
  await old.connect();
  try {
    await old.query("CREATE EXTENSION trovella VERSION '0.3.0'");
    const health = await checkDatabase(old);
    assert.equal(health.version, '0.3.0');
    assert.equal(health.ok, false);
    assert.ok(health.problems.some((p) => p.check === 'version' && p.status === 'problem' && /ALTER EXTENSION trovella UPDATE/.test(p.detail)));
    await assert.rejects(withTenant(old, A, null, () => assert.fail('fn ran')), { code: 'TROVELLA_VERSION' });
    await old.query('ALTER EXTENSION trovella UPDATE');
    assert.equal((await checkDatabase(old)).version, VERSION);
  } finally {
    await old.end();
    await admin.query(`DROP DATABASE ${name}`);
  }
});
