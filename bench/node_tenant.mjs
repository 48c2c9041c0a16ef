// The package's withTenant against a plain Drizzle transaction, in Node
// over loopback: one indexed read per transaction, 4 workers, as the
// application role.  Prints the mean wall time per transaction of each, in
// microseconds: "<withTenant> <plain>".  Run by bench/node.sh.
import pg from 'pg';
import { drizzle } from 'drizzle-orm/node-postgres';
import { pgTable, uuid, text, bigint } from 'drizzle-orm/pg-core';
import { and, eq } from 'drizzle-orm';
import { withTenant } from 'trovella';

const seconds = Number(process.env.BENCH_NODE_SECONDS || 2);
const columns = { tenantId: uuid('tenant_id'), id: bigint('id', { mode: 'number' }), payload: text('payload') };
const points = pgTable('tenant_points', columns);        // isolated
const plainPoints = pgTable('plain_points', columns);    // the same rows, no isolation
const tenant = (i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
const pool = new pg.Pool({ max: 4, user: process.env.BENCH_ROLE, password: process.env.BENCH_PASSWORD, host: '127.0.0.1' });
const db = drizzle({ client: pool });

async function run(kind) {
  const end = Date.now() + seconds * 1000;
  let count = 0;
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: 4 }, async () => {
    while (Date.now() < end) {
      const t = tenant(1 + Math.floor(Math.random() * 100));
      const id = 1 + Math.floor(Math.random() * 1000);
      if (kind === 'trovella') {
        await withTenant(db, t, null, (tx) => tx.select().from(points).where(eq(points.id, id)));
      } else {
        await db.transaction((tx) => tx.select().from(plainPoints).where(and(eq(plainPoints.tenantId, t), eq(plainPoints.id, id))));
      }
      count += 1;
    }
  }));
  // wall time per transaction over the 4 workers
  return Number(process.hrtime.bigint() - started) / 1000 / count * 4;
}

// warm both up (the version check, connections, the JIT), then alternate
// short rounds and take each side's median: this machine's noise moves
// whole seconds, not single transactions
await run('trovella');
await run('plain');
const order = process.argv[2] === 'plain-first' ? ['plain', 'trovella'] : ['trovella', 'plain'];
const times = { trovella: [], plain: [] };
for (let round = 0; round < 4; round++) {
  for (const kind of round % 2 ? [...order].reverse() : order) times[kind].push(await run(kind));
}
const median = (v) => v.sort((x, y) => x - y)[Math.floor(v.length / 2)];
console.log(median(times.trovella).toFixed(1), median(times.plain).toFixed(1));
await pool.end();
