// With log_statement = 'all' and log_parameter_max_length = 0, as the README
// recommends, no token (nor its SHA-256) reaches the server log: clients pass
// tokens as bind parameters, and trovella's own statements carry only $n.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { newPool, pg } from './db.js';

const logFile = process.env.TROVELLA_SERVER_LOG;
const ROLE = 'regress_log_app';
const USER_ID = '44444444-0000-0000-0000-000000000000';

test('no token or token hash reaches the server log', { skip: !logFile && 'TROVELLA_SERVER_LOG is not set' }, async () => {
  const admin = new pg.Client({ database: 'trovella_client' });
  await admin.connect();
  await admin.query(`DROP ROLE IF EXISTS ${ROLE}`);
  await admin.query(`CREATE ROLE ${ROLE}`);
  await admin.query(`GRANT EXECUTE ON FUNCTION trovella.with_user(uuid), trovella.pat_create(text, timestamptz, text[]),
                       trovella.pat_verify(text), trovella.authenticate(text), trovella.pat_list(),
                       trovella.pat_revoke(uuid) TO ${ROLE}`);
  await admin.query(`ALTER DATABASE trovella_client SET log_statement = 'all'`);
  await admin.query(`ALTER DATABASE trovella_client SET log_parameter_max_length = 0`);
  const start = statSync(logFile).size;

  const pool = newPool({ max: 2 });
  const tokens = [];
  try {
    // as the application role, inside transactions, always with parameters
    const inTx = async (fn) => {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query(`SET LOCAL ROLE ${ROLE}`);
        const result = await fn(client);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      } finally {
        client.release();
      }
    };
    for (let i = 0; i < 5; i++) {
      const { rows } = await inTx(async (c) => {
        await c.query('SELECT trovella.with_user($1)', [USER_ID]);
        return c.query(`SELECT * FROM trovella.pat_create($1, now() + interval '1 day', '{logs:read}')`, [`log ${i}`]);
      });
      tokens.push(rows[0].token);
    }
    for (const token of tokens) {
      const { rows } = await inTx((c) => c.query('SELECT * FROM trovella.pat_verify($1)', [token]));
      assert.equal(rows.length, 1);
      await inTx((c) => c.query('SELECT * FROM trovella.authenticate($1)', [token]));
    }
    // an error path too: authenticate with a revoked token
    await inTx(async (c) => {
      await c.query('SELECT trovella.with_user($1)', [USER_ID]);
      const { rows } = await c.query('SELECT token_id FROM trovella.pat_list() ORDER BY created_at LIMIT 1');
      await c.query('SELECT trovella.pat_revoke($1)', [rows[0].token_id]);
    });
    await assert.rejects(
      inTx((c) => c.query('SELECT * FROM trovella.authenticate($1)', [tokens[0]])),
      { code: '28000' });
  } finally {
    await pool.end();
    await admin.query('ALTER DATABASE trovella_client RESET log_statement');
    await admin.query('ALTER DATABASE trovella_client RESET log_parameter_max_length');
    await admin.query('DELETE FROM trovella.personal_access_token WHERE user_id = $1', [USER_ID]);
    await admin.query(`DROP OWNED BY ${ROLE}`);
    await admin.query(`DROP ROLE ${ROLE}`);
    await admin.end();
  }

  const log = readFileSync(logFile).subarray(start).toString('utf8');
  // the log really recorded these statements, so this test could fail
  assert.match(log, /execute <unnamed>: SELECT \* FROM trovella\.pat_verify\(\$1\)/);
  assert.match(log, /trovella: invalid token/);
  for (const token of tokens) {
    const hex = createHash('sha256').update(token).digest('hex');
    assert.ok(!log.includes(token), 'a token appears in the server log');
    assert.ok(!log.includes(token.slice(4, 34)), 'a token\'s random part appears in the server log');
    assert.ok(!log.toLowerCase().includes(hex), 'a token hash appears in the server log');
  }
});
