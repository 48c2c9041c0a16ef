// Nothing of a tenant's transaction reaches the next client of a pooled
// connection: not a transaction released carelessly into a pg.Pool, not a
// cursor WITH HOLD, not a temporary table, through PgBouncer too.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { drizzle } from 'drizzle-orm/node-postgres';
import { sql } from 'drizzle-orm';
import { guardPool, withTenant } from 'trovella-drizzle';
import { adminClient, createAppRole, dropRole, newPool, tenantId, DATABASE, pg } from './db.js';
import { startPgBouncer } from './servers.js';

const ROLE = 'regress_residue_client';
const TABLE = 'residue_client_docs';
const A = tenantId(1);
const B = tenantId(2);
let admin;
let role;

before(async () => {
  admin = await adminClient();
  role = await createAppRole(admin, ROLE);
  await admin.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await admin.query(`CREATE TABLE ${TABLE} (
      id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL, body text)`);
  await admin.query(`CREATE INDEX ON ${TABLE} (tenant_id)`);
  await admin.query(`SELECT trovella.enable_tenant_isolation('${TABLE}')`);
  await admin.query(`GRANT SELECT, INSERT ON ${TABLE} TO ${ROLE}`);
  await admin.query(`INSERT INTO ${TABLE} (tenant_id, body) VALUES ($1, 'a secret'), ($2, 'b secret')`, [A, B]);
});

after(async () => {
  await admin.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await dropRole(admin, ROLE);
  await admin.end();
});

// The careless code: a transaction opened for tenant A, released unfinished.
async function carelessRelease(pool) {
  const client = await pool.connect();
  await client.query('BEGIN');
  await client.query('SELECT trovella.with_tenant($1)', [A]);
  client.release();
}

test('an unguarded pg.Pool hands the careless transaction, tenant A included, to the next pool.query', async () => {
  const pool = newPool({ max: 1, user: role.user, password: role.password });
  try {
    await carelessRelease(pool);
    const { rows } = await pool.query(`SELECT body FROM ${TABLE}`);
    assert.deepEqual(rows.map((r) => r.body), ['a secret'], 'this is the hole the guard closes');
  } finally {
    await pool.end();
  }
});

test('a guarded pg.Pool destroys the carelessly released client: the next pool.query has no context', async () => {
  const pool = guardPool(newPool({ max: 1, user: role.user, password: role.password }));
  try {
    await carelessRelease(pool);
    await assert.rejects(pool.query(`SELECT body FROM ${TABLE}`), { code: '42501' });
    const { rows } = await pool.query('SELECT trovella.current_context() AS ctx');
    assert.equal(rows[0].ctx, '(,)');
  } finally {
    await pool.end();
  }
});

test('guardPool also refuses a client that was released behind its back', async () => {
  const pool = newPool({ max: 1, user: role.user, password: role.password });
  try {
    await carelessRelease(pool);          // before the pool was guarded
    guardPool(pool);
    const db = drizzle({ client: pool });
    const bodies = await withTenant(db, B, null, (tx) => tx.execute(sql.raw(`SELECT body FROM ${TABLE}`)));
    assert.deepEqual(bodies.rows.map((r) => r.body), ['b secret']);
  } finally {
    await pool.end();
  }
});

test('withTenant guards the pool behind db and ends every transaction, failed or not', async () => {
  const pool = newPool({ max: 1, user: role.user, password: role.password });
  const db = drizzle({ client: pool });
  try {
    await assert.rejects(withTenant(db, A, null, async (tx) => {
      await tx.execute(sql.raw(`SELECT body FROM ${TABLE}`));
      throw new Error('the handler failed');
    }), /the handler failed/);
    await assert.rejects(pool.query(`SELECT body FROM ${TABLE}`), { code: '42501' });
    await carelessRelease(pool);          // the pool is guarded now
    await assert.rejects(pool.query(`SELECT body FROM ${TABLE}`), { code: '42501' });
  } finally {
    await pool.end();
  }
});

test('through PgBouncer (transaction mode, one server connection) no cursor or temporary table survives', async () => {
  const bouncer = await startPgBouncer({ database: DATABASE, users: [role], poolSize: 1 });
  const connect = async () => {
    const client = new pg.Client({
      database: DATABASE, user: role.user, password: role.password, host: bouncer.host, port: bouncer.port,
    });
    await client.connect();
    return client;
  };
  const tenantB = await connect();
  const next = await connect();
  try {
    await tenantB.query('BEGIN');
    await tenantB.query('SELECT trovella.with_tenant($1)', [B]);
    await assert.rejects(tenantB.query(`DECLARE held CURSOR WITH HOLD FOR SELECT body FROM ${TABLE}`),
      { code: '25000' });
    await tenantB.query('ROLLBACK');
    await assert.rejects(next.query('FETCH ALL FROM held'), { code: '34000' });

    await tenantB.query('BEGIN');
    await tenantB.query('SELECT trovella.with_tenant($1)', [B]);
    await tenantB.query(`CREATE TEMP TABLE copied AS SELECT body FROM ${TABLE}`);
    await assert.rejects(tenantB.query('COMMIT'), { code: '25000' });
    await assert.rejects(next.query('SELECT body FROM pg_temp.copied'), { code: '42P01' });

    // the same server connection served both clients
    const pids = [(await tenantB.query('SELECT pg_backend_pid() AS p')).rows[0].p,
      (await next.query('SELECT pg_backend_pid() AS p')).rows[0].p];
    assert.equal(pids[0], pids[1]);
  } finally {
    await tenantB.end();
    await next.end();
    await bouncer.stop();
  }
});
