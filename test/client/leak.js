// The leak test, shared by the direct and the PgBouncer suites: many
// workers, random tenants, failures at random points, and after every
// transaction a plain query on the same client that must see no context.
import assert from 'node:assert/strict';
import { tenantId, userId } from './db.js';

export const TENANTS = 100;
export const TABLE = 'leak_notes';

export async function createLeakTable(admin, appRole) {
  await admin.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await admin.query(`CREATE TABLE ${TABLE} (
      id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(),
      tenant_id uuid NOT NULL,
      n int NOT NULL DEFAULT 0,
      body text)`);
  await admin.query(`CREATE INDEX ON ${TABLE} (tenant_id, id)`);
  await admin.query(`SELECT trovella.enable_tenant_isolation('${TABLE}')`);
  await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${TABLE} TO ${appRole}`);
  // a few rows per tenant to start from (the superuser bypasses RLS)
  await admin.query(`INSERT INTO ${TABLE} (tenant_id, body)
      SELECT ('00000000-0000-4000-8000-' || lpad(t::text, 12, '0'))::uuid, 'seed'
      FROM generate_series(1, ${TENANTS}) t, generate_series(1, 3)`);
}

const pick = (n) => Math.floor(Math.random() * n);

// How a transaction ends when it does not commit, chosen at random.
const FAILURES = ['rollback-after-context', 'rollback-after-write', 'error-after-context',
  'error-after-write', 'check-violation', 'client-error-release'];

// Runs `transactions` transactions through pool with `workers` concurrent
// workers; returns the tally.  Every anomaly is counted, not thrown, so a
// failure reports all of them.
export async function runLeakTest(pool, { transactions, workers }) {
  const tally = { committed: 0, failed: 0, crossTenantRows: 0, wrongContext: 0, leakedContexts: 0, unexpected: [] };
  let started = 0;

  async function oneTransaction() {
    const t = 1 + pick(TENANTS);
    const tenant = tenantId(t);
    const user = userId(t);
    const failure = Math.random() < 0.2 ? FAILURES[pick(FAILURES.length)] : null;
    const client = await pool.connect();
    let destroy = false;
    try {
      try {
        await client.query('BEGIN');
        await client.query('SELECT trovella.with_tenant($1, $2)', [tenant, user]);
        if (failure === 'rollback-after-context') throw new Rollback();
        if (failure === 'error-after-context') await client.query('SELECT 1 / 0');

        const ctx = await client.query('SELECT tenant_id, user_id FROM trovella.current_context()');
        if (ctx.rows[0].tenant_id !== tenant || ctx.rows[0].user_id !== user) tally.wrongContext++;

        const seen = await client.query(`SELECT tenant_id FROM ${TABLE}`);
        tally.crossTenantRows += seen.rows.filter((r) => r.tenant_id !== tenant).length;
        const inserted = await client.query(
          `INSERT INTO ${TABLE} (body) VALUES ($1) RETURNING tenant_id`, [`w${t}`]);
        if (inserted.rows[0].tenant_id !== tenant) tally.crossTenantRows++;
        const updated = await client.query(
          `UPDATE ${TABLE} SET n = n + 1 WHERE id IN (SELECT id FROM ${TABLE} ORDER BY id DESC LIMIT 2) RETURNING tenant_id`);
        tally.crossTenantRows += updated.rows.filter((r) => r.tenant_id !== tenant).length;

        if (failure === 'rollback-after-write') throw new Rollback();
        if (failure === 'error-after-write') await client.query('SELECT 1 / 0');
        if (failure === 'check-violation') {
          // writing into another tenant: WITH CHECK refuses it
          await client.query(`INSERT INTO ${TABLE} (tenant_id, body) VALUES ($1, 'smuggled')`,
            [tenantId(1 + (t % TENANTS))]);
        }
        if (failure === 'client-error-release') {
          // the application gives up on the connection without a ROLLBACK
          destroy = true;
          throw new Rollback();
        }
        await client.query('COMMIT');
        tally.committed++;
      } catch (err) {
        tally.failed++;
        if (!(err instanceof Rollback) && !['22012', '42501'].includes(err.code)) throw err;
        if (!destroy) await client.query('ROLLBACK');
      }
      if (!destroy) {
        // between transactions the same connection must carry no context
        const after = await client.query('SELECT tenant_id, user_id FROM trovella.current_context()');
        if (after.rows[0].tenant_id !== null || after.rows[0].user_id !== null) tally.leakedContexts++;
      }
    } catch (err) {
      // anything else is a finding of its own; keep the connection out of the pool
      tally.unexpected.push(`${err.code ?? ''} ${err.message}`);
      destroy = true;
    } finally {
      client.release(destroy);
    }
  }

  async function worker() {
    while (started < transactions) {
      started++;
      await oneTransaction();
    }
  }
  await Promise.all(Array.from({ length: workers }, worker));
  return tally;
}

class Rollback extends Error {}

export function assertNoLeak(tally, transactions) {
  assert.deepEqual(tally.unexpected.slice(0, 5), [], `no unexpected error (${tally.unexpected.length} in all)`);
  assert.equal(tally.committed + tally.failed, transactions, 'every transaction ran');
  assert.ok(tally.failed > transactions * 0.1, `about 20% of transactions failed (${tally.failed})`);
  assert.equal(tally.crossTenantRows, 0, 'no transaction saw or wrote another tenant\'s row');
  assert.equal(tally.wrongContext, 0, 'every transaction saw its own tenant and user');
  assert.equal(tally.leakedContexts, 0, 'no context survived its transaction');
}
