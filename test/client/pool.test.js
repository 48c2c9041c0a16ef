// node-postgres pools, directly and through PgBouncer in transaction mode:
// no tenant context ever reaches the next borrower of a connection.
import { test, before, after } from 'node:test';
import { adminClient, createAppRole, dropRole, newPool, DATABASE } from './db.js';
import { createLeakTable, runLeakTest, assertNoLeak, TABLE } from './leak.js';
import { startPgBouncer } from './servers.js';

const ROLE = 'regress_pool_app';
const TRANSACTIONS = Number(process.env.LEAK_TRANSACTIONS || 10000);
let admin;
let role;

before(async () => {
  admin = await adminClient();
  role = await createAppRole(admin, ROLE);
  await createLeakTable(admin, ROLE);
});

after(async () => {
  await admin.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await dropRole(admin, ROLE);
  await admin.end();
});

for (const max of [5, 10]) {
  test(`pg.Pool of ${max}, 20 workers, ${TRANSACTIONS} transactions over 100 tenants: no leak`, async () => {
    const pool = newPool({ max, user: role.user, password: role.password });
    try {
      const tally = await runLeakTest(pool, { transactions: TRANSACTIONS, workers: 20 });
      assertNoLeak(tally, TRANSACTIONS);
    } finally {
      await pool.end();
    }
  });
}

for (const max of [5, 10]) {
  test(`pg.Pool of ${max} through PgBouncer (transaction mode, 3 server connections): no leak`, async () => {
    const bouncer = await startPgBouncer({ database: DATABASE, users: [role], poolSize: 3 });
    const pool = newPool({ max, user: role.user, password: role.password, host: bouncer.host, port: bouncer.port });
    try {
      const tally = await runLeakTest(pool, { transactions: TRANSACTIONS, workers: 20 });
      assertNoLeak(tally, TRANSACTIONS);
      // the clients really shared server connections
      const { rows } = await admin.query(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1', [role.user]);
      if (rows[0].n > 3) throw new Error(`PgBouncer opened ${rows[0].n} server connections, expected at most 3`);
    } finally {
      await pool.end();
      await bouncer.stop();
    }
  });
}
