// A streaming hot standby of the throwaway primary: tenant isolation and
// token verification work there without any write, and revocation on the
// primary does not wait for the standby.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { adminClient, createAppRole, dropRole, newPool, pg, DATABASE, tenantId, userId } from './db.js';
import { startStandby } from './servers.js';

const ROLE = 'regress_standby_app';
const USER = userId(9);
const A = tenantId(1);
const B = tenantId(2);
let admin;
let role;
let standby;
let primaryPool;
let standbyPool;
let token;
let tokenId;

async function waitForReplay() {
  const { rows } = await admin.query('SELECT pg_current_wal_lsn()::text AS lsn');
  const client = new pg.Client({ host: standby.host, port: standby.port, database: DATABASE,
    user: role.user, password: role.password });
  await client.connect();
  try {
    for (let i = 0; i < 200; i++) {
      const { rows: r } = await client.query('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS done', [rows[0].lsn]);
      if (r[0].done) return;
      await new Promise((res) => setTimeout(res, 50));
    }
    throw new Error('the standby did not catch up');
  } finally {
    await client.end();
  }
}

before(async () => {
  admin = await adminClient();
  role = await createAppRole(admin, ROLE);
  await admin.query('DROP TABLE IF EXISTS standby_notes');
  await admin.query('CREATE TABLE standby_notes (id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL, body text)');
  await admin.query('CREATE INDEX ON standby_notes (tenant_id, id)');
  await admin.query(`SELECT trovella.enable_tenant_isolation('standby_notes')`);
  await admin.query(`GRANT SELECT, INSERT ON standby_notes TO ${ROLE}`);
  await admin.query(`INSERT INTO standby_notes (tenant_id, body) VALUES ($1, 'a1'), ($1, 'a2'), ($2, 'b1')`, [A, B]);
  primaryPool = newPool({ max: 2, user: role.user, password: role.password });
  const client = await primaryPool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT trovella.with_user($1)', [USER]);
    const { rows } = await client.query(
      "SELECT token_id, token FROM trovella.pat_create('replica reader', now() + interval '1 day')");
    await client.query('COMMIT');
    ({ token, token_id: tokenId } = rows[0]);
  } finally {
    client.release();
  }
  standby = await startStandby();
  standbyPool = newPool({ max: 2, host: standby.host, port: standby.port, user: role.user, password: role.password });
  await waitForReplay();
});

after(async () => {
  await standbyPool?.end();
  await standby?.stop();
  await primaryPool?.end();
  await admin.query('DROP TABLE IF EXISTS standby_notes');
  await admin.query('DELETE FROM trovella.personal_access_token WHERE user_id = $1', [USER]);
  await dropRole(admin, ROLE);
  await admin.end();
});

test('the standby is a hot standby of the primary', async () => {
  const { rows } = await standbyPool.query('SELECT pg_is_in_recovery() AS standby');
  assert.equal(rows[0].standby, true);
});

test('with_tenant and isolated reads work on the standby', async () => {
  const client = await standbyPool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT trovella.with_tenant($1)', [A]);
    const { rows } = await client.query('SELECT body FROM standby_notes ORDER BY body');
    assert.deepEqual(rows.map((r) => r.body), ['a1', 'a2']);
    await client.query('COMMIT');
    await assert.rejects(client.query('SELECT count(*) FROM standby_notes'), { code: '42501' });
  } finally {
    client.release();
  }
});

test('pat_verify and authenticate work on the standby without writing', async () => {
  const { rows } = await standbyPool.query('SELECT token_id, user_id FROM trovella.pat_verify($1)', [token]);
  assert.equal(rows.length, 1);
  assert.equal(rows[0].user_id, USER);
  const client = await standbyPool.connect();
  try {
    await client.query('BEGIN');
    const auth = await client.query('SELECT user_id FROM trovella.authenticate($1)', [token]);
    assert.equal(auth.rows[0].user_id, USER);
    await client.query('COMMIT');
  } finally {
    client.release();
  }
  // nothing was written: the token was never used on the primary
  const { rows: stored } = await admin.query(
    'SELECT last_used_at FROM trovella.personal_access_token WHERE id = $1', [tokenId]);
  assert.equal(stored[0].last_used_at, null);
});

test('revocation takes effect on the primary at once, and on the standby once replayed', async () => {
  const client = await primaryPool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT trovella.with_user($1)', [USER]);
    const { rows } = await client.query('SELECT trovella.pat_revoke($1) AS revoked', [tokenId]);
    assert.equal(rows[0].revoked, true);
    await client.query('COMMIT');
  } finally {
    client.release();
  }
  const primary = await primaryPool.query('SELECT count(*)::int AS n FROM trovella.pat_verify($1)', [token]);
  assert.equal(primary.rows[0].n, 0, 'the primary refuses the token in the very next transaction');
  await waitForReplay();
  const replica = await standbyPool.query('SELECT count(*)::int AS n FROM trovella.pat_verify($1)', [token]);
  assert.equal(replica.rows[0].n, 0, 'the standby refuses it once it has replayed the revocation');
});
