// The trovella package as an application installs it (from its tarball,
// in a scratch project: package.test.js), against the throwaway server, a
// PgBouncer in transaction mode and a hot standby: every driver it adapts,
// one round trip to open a tenant, its errors, health and seeds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import postgres from 'postgres';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { pgTable, text } from 'drizzle-orm/pg-core';
import { eq } from 'drizzle-orm';
import {
  withTenant, withUser, authenticate, guardPool, checkDatabase, applySeeds,
  richId, richIdToUuid, uuidToUlid, ulidToUuid, ulidTime, VERSION,
  suspendTenant, resumeTenant, isTenantSuspended, purgeTenant,
  exportTenant, importTenant,
} from 'trovella';
import { tenantColumn, ulidPrimaryKey } from 'trovella/drizzle';

const helpers = process.env.TROVELLA_CLIENT_DIR;
const { adminClient, createAppRole, dropRole, DATABASE, tenantId, userId } = await import(`${helpers}/db.js`);
const { startPgBouncer, startStandby } = await import(`${helpers}/servers.js`);

const ROLE = 'regress_package_app';
const A = tenantId(71);
const B = tenantId(72);
const U = userId(71);
const notes = pgTable('package_notes', { id: ulidPrimaryKey(), tenantId: tenantColumn(), body: text('body').notNull() });

let admin;
let role;
let conn;
const closers = [];

before(async () => {
  admin = await adminClient();
  // a run that died before its after() left its role
  if ((await admin.query('SELECT FROM pg_roles WHERE rolname = $1', [ROLE])).rowCount) await dropRole(admin, ROLE);
  role = await createAppRole(admin, ROLE);
  await admin.query(`SET trovella.isolation_guard = off;
    DROP TABLE IF EXISTS package_notes;
    CREATE TABLE package_notes (id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL, body text NOT NULL);
    CREATE INDEX ON package_notes (tenant_id, id);
    SELECT trovella.enable_tenant_isolation('package_notes');
    GRANT SELECT, INSERT, UPDATE, DELETE ON package_notes TO ${ROLE};
    INSERT INTO package_notes (tenant_id, body) SELECT '${A}', 'a' || g FROM generate_series(1, 3) g;
    INSERT INTO package_notes (tenant_id, body) SELECT '${B}', 'b' || g FROM generate_series(1, 2) g`);
  conn = { host: process.env.PGHOST, port: Number(process.env.PGPORT || 5432), database: DATABASE, user: role.user, password: role.password };
});

after(async () => {
  for (const close of closers.reverse()) await close();
  await admin.query('DROP TABLE IF EXISTS package_notes');
  await admin.query('DELETE FROM trovella.seed WHERE name LIKE \'pkg%\'');
  await dropRole(admin, ROLE);
  await admin.end();
});

function pgPool(options = conn) {
  const pool = new pg.Pool({ ...options, max: 4 });
  closers.push(() => pool.end());
  return pool;
}
function postgresSql(options = conn) {
  const sql = postgres({ host: options.host, port: options.port, database: options.database,
    username: options.user, password: options.password, max: 4, onnotice: () => {} });
  closers.push(() => sql.end());
  return sql;
}

// the tenant's rows, as each driver returns them
async function readNotes(db, tenant) {
  return withTenant(db, tenant, null, async (tx) => {
    if (typeof tx.select === 'function') return (await tx.select().from(notes)).map((r) => r.body).sort();
    if (typeof tx.unsafe === 'function') return (await tx`SELECT body FROM package_notes`).map((r) => r.body).sort();
    return (await tx.query('SELECT body FROM package_notes')).rows.map((r) => r.body).sort();
  });
}

test('the package is the extension\'s version', () => {
  assert.match(VERSION, /^\d+\.\d+\.\d+$/);
});

for (const [driver, make] of [
  ['pg.Pool', () => pgPool()],
  ['pg.Client', async () => { const c = new pg.Client(conn); await c.connect(); closers.push(() => c.end()); return c; }],
  ['postgres.js', () => postgresSql()],
  ['Drizzle over pg.Pool', () => drizzlePg({ client: pgPool(), schema: { notes } })],
  ['Drizzle over postgres.js', () => drizzlePostgres({ client: postgresSql(), schema: { notes } })],
]) {
  test(`${driver}: withTenant reads and writes one tenant's rows only`, async () => {
    const db = await make();
    assert.deepEqual(await readNotes(db, A), ['a1', 'a2', 'a3']);
    assert.deepEqual(await readNotes(db, B), ['b1', 'b2']);
    // a write gets the tenant from the context, and rolls back with fn
    await assert.rejects(withTenant(db, A, null, async (tx) => {
      if (typeof tx.insert === 'function') await tx.insert(notes).values({ body: 'gone' });
      else if (typeof tx.unsafe === 'function') await tx`INSERT INTO package_notes (body) VALUES ('gone')`;
      else await tx.query("INSERT INTO package_notes (body) VALUES ('gone')");
      throw new Error('the caller fails');
    }), /the caller fails/);
    assert.deepEqual(await readNotes(db, A), ['a1', 'a2', 'a3']);
  });
}

test('no round trip of its own opens a tenant: BEGIN and with_tenant() are one message, then go with fn\'s first query (pg)', async () => {
  const client = new pg.Client(conn);
  await client.connect();
  closers.push(() => client.end());
  let calls = 0;
  const query = client.query;
  client.query = function counted(...args) { calls += 1; return query.apply(this, args); };
  // the connection's first transaction: BEGIN and the statement that it
  // prepares, one message before fn (after the server's version, asked
  // once per client)
  await withTenant(client, A, null, async () => {
    assert.equal(calls, 2, 'the version, then only one message before fn');
  });
  assert.equal(calls, 3, 'and COMMIT after it');
  // then: the open waits for fn's first query, and goes out with it
  calls = 0;
  await withTenant(client, A, null, async (tx) => {
    assert.equal(calls, 0, 'nothing before fn');
    await tx.query('SELECT $1::int', [1]);
    assert.equal(calls, 1, 'the open and the query, one message');
  });
  assert.equal(calls, 2, 'and COMMIT after it');
  client.query = query;
});

test('the context statement is prepared once per connection; a connection that lost it goes on (pg)', async () => {
  const pool = pgPool({ ...conn });
  const pid = await withTenant(pool, A, null, async (tx) => (await tx.query('SELECT pg_backend_pid() AS pid')).rows[0].pid);
  const prepared = await withTenant(pool, A, null, async (tx) =>
    (await tx.query("SELECT name FROM pg_prepared_statements WHERE name LIKE 'trovella%'")).rows.map((r) => r.name));
  assert.deepEqual(prepared, ['trovella_with_tenant_1']);
  // the statement disappears under the package (DISCARD ALL, a pooler): 26000, then the simple protocol
  const client = await pool.connect();
  await client.query('DEALLOCATE ALL');
  client.release();
  assert.deepEqual(await readNotes(pool, A), ['a1', 'a2', 'a3']);
  assert.deepEqual(await readNotes(pool, B), ['b1', 'b2']);
  assert.equal(await withTenant(pool, A, null, async (tx) => (await tx.query('SELECT pg_backend_pid() AS pid')).rows[0].pid), pid,
    'the same connection, not a new one');
});

test('ids are checked before anything is sent: 22P02, nothing run', async () => {
  const pool = pgPool();
  for (const bad of ["x'); DROP TABLE package_notes; --", '0000', 42, null]) {
    await assert.rejects(withTenant(pool, bad, null, () => assert.fail('fn ran')), { code: '22P02' });
  }
  await assert.rejects(withTenant(pool, A, 'not-a-user', () => assert.fail('fn ran')), { code: '22P02' });
  // a token passed by mistake is not repeated in the error
  await assert.rejects(withTenant(pool, 'trv_M7H4jxUDDWHP4kZ6A4dxlQYsQIWJuq11T4V4', null, () => assert.fail('fn ran')),
    (err) => err.code === '22P02' && !err.message.includes('trv_'));
  assert.deepEqual(await readNotes(pool, A), ['a1', 'a2', 'a3']);
});

test('the server\'s errors come through with their SQLSTATE, and the connection is clean after', async () => {
  const pool = pgPool({ ...conn });
  await assert.rejects(withTenant(pool, A, null, (tx) => tx.query('SELECT trovella.with_tenant($1)', [B])), { code: '25000' });
  await assert.rejects(pool.query('SELECT count(*) FROM package_notes'), { code: '42501' });
  await assert.rejects(authenticate(pool, 'trv_M7H4jxUDDWHP4kZ6A4dxlQYsQIWJuq11T4V4', () => assert.fail('fn ran')), { code: '28000' });
});

test('withUser and authenticate: a token made in one, the user in the other', async () => {
  const pool = pgPool();
  const token = await withUser(pool, U, async (tx) => (await tx.query(
    "SELECT token FROM trovella.pat_create('package', now() + interval '1 day', '{repo:read}')")).rows[0].token);
  const seen = await authenticate(pool, token, async (tx, identity) => ({
    identity, current: (await tx.query('SELECT trovella.current_user_id() AS u')).rows[0].u,
  }));
  assert.equal(seen.identity.userId, U);
  assert.equal(seen.current, U);
  assert.deepEqual(seen.identity.scopes, ['repo:read']);
});

test('guardPool: a client released in a transaction is destroyed, not reused', async () => {
  const pool = guardPool(pgPool());
  const client = await pool.connect();
  await client.query('BEGIN');
  await client.query('SELECT trovella.with_tenant($1)', [A]);
  client.release();
  await assert.rejects(pool.query('SELECT count(*) FROM package_notes'), { code: '42501' });
});

test('a server whose trovella is older than the package needs is refused, saying so', async () => {
  const name = `pkg_old_${process.pid}`;
  await admin.query(`DROP DATABASE IF EXISTS ${name}`);
  await admin.query(`CREATE DATABASE ${name}`);
  const old = new pg.Client({ host: conn.host, port: conn.port, database: name, user: process.env.PGUSER });
  await old.connect();
  try {
    await old.query("CREATE EXTENSION trovella VERSION '0.3.0'");
    await assert.rejects(withTenant(old, A, null, () => assert.fail('fn ran')),
      (err) => err.code === 'TROVELLA_VERSION' && /needs the trovella extension 0\.4\.0 or later; the database has 0\.3\.0/.test(err.message));
    await old.query('DROP EXTENSION trovella');
    await assert.rejects(withTenant(old, A, null, () => assert.fail('fn ran')),
      (err) => err.code === 'TROVELLA_VERSION' && /not installed/.test(err.message));
  } finally {
    await old.end();
    await admin.query(`DROP DATABASE ${name}`);
  }
});

test('checkDatabase: latency, version and the health checks, for a pg_monitor member', async () => {
  await admin.query(`GRANT pg_monitor TO ${ROLE}`);
  try {
    const health = await checkDatabase(pgPool());
    assert.equal(health.version, VERSION);
    assert.ok(health.latencyMs >= 0 && health.latencyMs < 10000);
    assert.ok(Array.isArray(health.problems));
    assert.equal(health.ok, !health.problems.some((p) => p.status === 'problem'));
    const viaPostgres = await checkDatabase(postgresSql());
    assert.equal(viaPostgres.version, VERSION);
  } finally {
    await admin.query(`REVOKE pg_monitor FROM ${ROLE}`);
  }
  // without pg_monitor: the same answer, without health's checks, saying so
  const plain = await checkDatabase(pgPool());
  assert.equal(plain.version, VERSION);
  assert.equal(plain.healthRead, false);
});

test('applySeeds: new files once, in name order; skipped again; a changed one refused; production by prefix', async () => {
  await admin.query(`GRANT EXECUTE ON FUNCTION trovella.record_seed(text, text, text) TO ${ROLE};
    GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO ${ROLE}`);
  await admin.query("DELETE FROM trovella.seed WHERE name LIKE 'pkg%'");
  const dir = mkdtempSync(path.join(tmpdir(), 'trovella-seeds-'));
  try {
    writeFileSync(path.join(dir, 'pkg_1_demo.sql'),
      `SELECT trovella.with_tenant('${A}'); INSERT INTO package_notes (body) VALUES ('seeded');`);
    writeFileSync(path.join(dir, 'pkg_2_more.sql'),
      `SELECT trovella.with_tenant('${B}'); INSERT INTO package_notes (body) VALUES ('seeded');`);
    writeFileSync(path.join(dir, 'notes.txt'), 'not a seed');
    const pool = pgPool();
    assert.deepEqual(await applySeeds(pool, dir, { environment: 'dev' }), { applied: ['pkg_1_demo.sql', 'pkg_2_more.sql'], skipped: [] });
    assert.deepEqual(await applySeeds(pool, dir, { environment: 'dev' }), { applied: [], skipped: ['pkg_1_demo.sql', 'pkg_2_more.sql'] });
    const { rows } = await admin.query("SELECT count(*)::int AS n FROM package_notes WHERE body = 'seeded'");
    assert.equal(rows[0].n, 2, 'each seed ran once');
    writeFileSync(path.join(dir, 'pkg_2_more.sql'), 'SELECT 1;');
    await assert.rejects(applySeeds(pool, dir, { environment: 'dev' }), { code: '55000' });
    // production: only the files named with the production prefix (the
    // changed pkg_2 is not even looked at; pkg_1, applied, is skipped)
    assert.deepEqual(await applySeeds(pool, dir, { environment: 'production', productionPrefix: 'pkg_1' }),
      { applied: [], skipped: ['pkg_1_demo.sql'] });
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await admin.query("DELETE FROM package_notes WHERE body = 'seeded'");
  }
});

test('ids: the package gives exactly what SQL gives', async () => {
  const { rows } = await admin.query(`SELECT id::text, trovella.uuid_to_ulid(id) AS ulid, trovella.rich_id('invoice', id) AS rich,
      (extract(epoch FROM trovella.ulid_time(id)) * 1000)::bigint AS ms
    FROM (SELECT trovella.ulid_uuid() AS id FROM generate_series(1, 200)
          UNION ALL SELECT gen_random_uuid() FROM generate_series(1, 200)) ids`);
  for (const r of rows) {
    assert.equal(uuidToUlid(r.id), r.ulid);
    assert.equal(richId('invoice', r.id), r.rich);
    assert.equal(richIdToUuid(r.rich, 'invoice'), r.id);
    assert.equal(ulidToUuid(r.ulid.toLowerCase()), r.id);
    assert.equal(ulidTime(r.id).getTime(), Number(r.ms));
  }
  for (const [bad, prefix] of [['user-01ARZ3NDEKTSV4RRFFQ69G5FAV', 'invoice'], ['invoice-81ARZ3NDEKTSV4RRFFQ69G5FAV', 'invoice'],
    ['invoice-01ARZ3NDEKTSV4RRFFQ69G5FAU', 'invoice'], ['x-01ARZ3NDEKTSV4RRFFQ69G5FAV', 'X']]) {
    assert.throws(() => richIdToUuid(bad, prefix), { code: '22P02' });
    await assert.rejects(admin.query('SELECT trovella.rich_id_to_uuid($1, $2)', [bad, prefix]), { code: '22P02' });
  }
});

test('through PgBouncer in transaction mode: one tenant per transaction, whatever the server connection', async () => {
  const bouncer = await startPgBouncer({ database: DATABASE, users: [role], poolSize: 2 });
  closers.push(() => bouncer.stop());
  const pool = pgPool({ ...conn, host: bouncer.host, port: bouncer.port });
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => readNotes(pool, i % 2 ? A : B)));
  results.forEach((r, i) => assert.deepEqual(r, i % 2 ? ['a1', 'a2', 'a3'] : ['b1', 'b2']));
  await assert.rejects(pool.query('SELECT count(*) FROM package_notes'), { code: '42501' });
});

test('suspendTenant mid-way through a pooled workload through PgBouncer: every later withTenant refused (57000, the reason), resumeTenant lets it in again', async () => {
  const OPS = 'regress_package_ops';
  if ((await admin.query('SELECT FROM pg_roles WHERE rolname = $1', [OPS])).rowCount) await dropRole(admin, OPS);
  const ops = await createAppRole(admin, OPS);
  closers.push(() => dropRole(admin, OPS));
  await admin.query(`GRANT EXECUTE ON FUNCTION trovella.suspend_tenant(uuid, text), trovella.resume_tenant(uuid) TO ${OPS}`);
  const opsPool = pgPool({ ...conn, user: ops.user, password: ops.password });
  // the application cannot lift its own suspension, nor suspend
  await assert.rejects(resumeTenant(pgPool(), A), { code: '42501' });
  await assert.rejects(suspendTenant(postgresSql(), B, 'mine'), { code: '42501' });
  await assert.rejects(suspendTenant(opsPool, 'nope', 'x'), { code: '22P02' });
  await assert.rejects(suspendTenant(opsPool, A, ''), { code: '22023' });

  const bouncer = await startPgBouncer({ database: DATABASE, users: [role], poolSize: 2 });
  closers.push(() => bouncer.stop());
  const pool = pgPool({ ...conn, host: bouncer.host, port: bouncer.port });
  let suspendedAt = null;
  const outcomes = [];
  async function worker() {
    for (let i = 0; i < 60; i++) {
      const asked = process.hrtime.bigint();
      try {
        await readNotes(pool, A);
        outcomes.push({ asked, ok: true });
      } catch (err) {
        outcomes.push({ asked, ok: false, err });
      }
      if (i === 20 && suspendedAt === null) {
        suspendedAt = 0n;
        assert.equal(await suspendTenant(opsPool, A, 'Unpaid invoices since November.'), true);
        suspendedAt = process.hrtime.bigint();
      }
    }
  }
  try {
    await Promise.all([worker(), worker(), worker(), worker()]);
    const after = outcomes.filter((o) => suspendedAt > 0n && o.asked > suspendedAt);
    assert.ok(outcomes.some((o) => o.ok), 'transactions ran before the suspension');
    assert.ok(after.length > 0, 'and were asked for after it');
    for (const o of after) {
      assert.equal(o.ok, false, 'no transaction asked for after the suspension opens the tenant');
      assert.ok(isTenantSuspended(o.err), `refused as suspended, not ${o.err && o.err.code}`);
      assert.equal(o.err.detail, 'Unpaid invoices since November.');
    }
    for (const o of outcomes) if (!o.ok) assert.ok(isTenantSuspended(o.err), 'no other error');
    // the other tenant is not touched; suspending again replaces the reason
    assert.deepEqual(await readNotes(pool, B), ['b1', 'b2']);
    assert.equal(await suspendTenant(opsPool, A, 'Abuse report #12.'), false);
    await assert.rejects(readNotes(postgresSql(), A), (err) => isTenantSuspended(err) && err.detail === 'Abuse report #12.');
  } finally {
    assert.equal(await resumeTenant(opsPool, A), true);
  }
  assert.equal(await resumeTenant(opsPool, A), false, 'not suspended any more');
  assert.deepEqual(await readNotes(pool, A), ['a1', 'a2', 'a3']);
  assert.equal(isTenantSuspended(new Error('x')), false);
});

test('purgeTenant erases a suspended tenant in batches, reports each batch from its NOTICEs, and resolves to the receipt; refused before the suspension and to the application', async () => {
  const OPS = 'regress_package_purger';
  const C = tenantId(73);
  if ((await admin.query('SELECT FROM pg_roles WHERE rolname = $1', [OPS])).rowCount) await dropRole(admin, OPS);
  const ops = await createAppRole(admin, OPS);
  closers.push(() => dropRole(admin, OPS));
  await admin.query(`ALTER ROLE ${OPS} BYPASSRLS;
    GRANT pg_read_all_data, pg_write_all_data TO ${OPS};
    GRANT EXECUTE ON FUNCTION trovella.suspend_tenant(uuid, text) TO ${OPS};
    GRANT EXECUTE ON PROCEDURE trovella.purge_tenant(uuid, jsonb) TO ${OPS};
    GRANT EXECUTE ON PROCEDURE trovella.purge_tenant(uuid, jsonb) TO ${ROLE};
    ALTER ROLE ${OPS} SET trovella.purge_batch_rows = 2;
    INSERT INTO package_notes (tenant_id, body) SELECT '${C}', 'c' || g FROM generate_series(1, 5) g`);
  closers.push(() => admin.query('DELETE FROM trovella.purge_receipt WHERE tenant_id = $1', [C]));
  const opsConn = { ...conn, user: ops.user, password: ops.password };
  const opsPool = pgPool(opsConn);
  await assert.rejects(purgeTenant(opsPool, 'nope'), { code: '22P02' });
  await assert.rejects(purgeTenant(opsPool, C, { onProgress: 'log' }), { code: '22023' });
  await assert.rejects(purgeTenant(opsPool, C), { code: '55000' });
  await assert.rejects(purgeTenant(postgresSql(opsConn), C, { onProgress: () => {} }), { code: 'TROVELLA_DRIVER' });
  assert.equal(await suspendTenant(opsPool, C, 'Contract ended.'), true);
  // the application, granted it, is bound by row-level security
  await assert.rejects(purgeTenant(pgPool(), C), { code: '42501' });

  const progress = [];
  const receipt = await purgeTenant(opsPool, C, { onProgress: (p) => progress.push(p) });
  assert.deepEqual(progress.filter((p) => p.table === 'public.package_notes').map((p) => [p.rows, p.done, p.total]),
    [[2, 2, 5], [2, 4, 5], [1, 5, 5]]);
  assert.equal(receipt.tenant, C);
  assert.deepEqual(receipt.tables.find((t) => t.table === 'public.package_notes'), { table: 'public.package_notes', before: 5, after: 0 });
  assert.equal(receipt.audit_history.fate, 'erased');
  assert.match(receipt.digest, /^[0-9a-f]{64}$/);
  const kept = (await admin.query('SELECT receipt, digest FROM trovella.purge_receipt WHERE tenant_id = $1', [C])).rows;
  assert.deepEqual(kept[0].receipt, receipt, 'trovella keeps the receipt it returned');
  assert.equal((await admin.query('SELECT count(*)::int AS n FROM package_notes WHERE tenant_id = $1', [C])).rows[0].n, 0);
  assert.deepEqual(await readNotes(pgPool(), B), ['b1', 'b2'], 'the other tenant is untouched');
  // postgres.js, without progress: the tenant is no longer suspended
  await assert.rejects(purgeTenant(postgresSql(opsConn), C), { code: '55000' });
});

test('exportTenant streams a tenant through a cursor with progress and the manifest last; importTenant restores it; refused to the application', async () => {
  const OPS = 'regress_package_exporter';
  const E = tenantId(74);
  if ((await admin.query('SELECT FROM pg_roles WHERE rolname = $1', [OPS])).rowCount) await dropRole(admin, OPS);
  const ops = await createAppRole(admin, OPS);
  closers.push(() => dropRole(admin, OPS));
  await admin.query(`ALTER ROLE ${OPS} BYPASSRLS;
    GRANT pg_read_all_data, pg_write_all_data TO ${OPS};
    GRANT EXECUTE ON FUNCTION trovella.export_tenant(uuid, bigint), trovella.import_tenant(regclass) TO ${OPS};
    DROP TABLE IF EXISTS package_export;
    CREATE TABLE package_export (ordinal bigint, table_name text, "row" jsonb);
    INSERT INTO package_notes (tenant_id, body) SELECT '${E}', 'e' || g FROM generate_series(1, 5) g`);
  closers.push(() => admin.query('DROP TABLE IF EXISTS package_export'));
  const opsConn = { ...conn, user: ops.user, password: ops.password };
  const opsPool = pgPool(opsConn);
  const drain = async (rows) => { const out = []; for await (const r of rows) out.push(r); return out; };
  await assert.rejects(drain(exportTenant(opsPool, 'nope')), { code: '22P02' });
  await assert.rejects(drain(exportTenant(opsPool, E, { onProgress: 'log' })), { code: '22023' });
  await assert.rejects(drain(exportTenant(postgresSql(opsConn), E, { onProgress: () => {} })), { code: 'TROVELLA_DRIVER' });
  await assert.rejects(drain(exportTenant(pgPool(), E)), { code: '42501' }, 'the application may not export');

  const progress = [];
  const rows = await drain(exportTenant(opsPool, E, { progressRows: 2, batchRows: 3, onProgress: (p) => progress.push(p) }));
  assert.deepEqual(progress.filter((p) => p.table === 'public.package_notes').map((p) => p.rows), [2, 4]);
  const notesRows = rows.filter((r) => r.table === 'public.package_notes');
  assert.deepEqual(notesRows.map((r) => r.row.body).sort(), ['e1', 'e2', 'e3', 'e4', 'e5']);
  assert.deepEqual(rows.map((r) => r.ordinal), rows.map((_, i) => i + 1));
  const manifest = rows.at(-1);
  assert.equal(manifest.table, null);
  assert.equal(manifest.row.tenant, E);
  assert.equal(manifest.row.rows, rows.length - 1);
  assert.deepEqual(manifest.row.tables.find((t) => t.table === 'public.package_notes').rows, 5);
  // postgres.js streams the same rows, without progress
  assert.equal((await drain(exportTenant(postgresSql(opsConn), E))).length, rows.length);

  // restored where the tenant has no row
  await admin.query('DELETE FROM package_notes WHERE tenant_id = $1', [E]);
  for (const r of rows) {
    await admin.query('INSERT INTO package_export VALUES ($1, $2, $3)', [r.ordinal, r.table, JSON.stringify(r.row)]);
  }
  await assert.rejects(importTenant(pgPool(), 'package_export'), { code: '42501' }, 'the application may not import');
  const imported = await importTenant(opsPool, 'package_export');
  assert.deepEqual(imported.find((t) => t.table === 'public.package_notes'), { table: 'public.package_notes', rows: 5 });
  assert.deepEqual(await readNotes(pgPool(), E), ['e1', 'e2', 'e3', 'e4', 'e5']);
  await assert.rejects(importTenant(opsPool, 'package_export'), { code: '55000' }, 'not twice');
  await admin.query('DELETE FROM package_notes WHERE tenant_id = $1', [E]);
});

test('against a hot standby, with a read-only pool', async () => {
  const standby = await startStandby();
  closers.push(() => standby.stop());
  const pool = pgPool({ ...conn, host: standby.host, port: standby.port });
  let rows;
  for (let i = 0; i < 100; i++) {
    try {
      rows = await withTenant(pool, A, null, async (tx) => (await tx.query('SELECT body FROM package_notes ORDER BY body')).rows, { readOnly: true });
      if (rows.length) break;
    } catch (err) {
      if (err.code !== '42P01' && err.code !== '57P03') throw err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepEqual(rows.map((r) => r.body), ['a1', 'a2', 'a3']);
  const health = await checkDatabase(pool);
  assert.equal(health.version, VERSION);
  assert.equal(health.healthRead, false, 'health needs pg_monitor on the standby too');
});
