// The package's withTenant (Drizzle over pg) against what an application
// runs without it, in Node over loopback, as the application role, one
// indexed read per transaction:
//   plain      Drizzle's db.transaction(): BEGIN; read WHERE tenant_id; COMMIT
//   set_config db.transaction(): BEGIN; set_config('app.tenant', ...); read
//              under an RLS policy on current_setting; COMMIT
// One pool shared by every side; BENCH_NODE_ROUNDS rounds in which the
// sides take turns transaction by transaction, each timed on its own; the
// figure is the median over the rounds of each round's ratio (a loaded
// machine's slow second falls on every side alike).  Prints one JSON line.
// Run by bench/node.sh.
import net from 'node:net';
import { loadavg } from 'node:os';
import pg from 'pg';
import { drizzle } from 'drizzle-orm/node-postgres';
import { pgTable, uuid, text, bigint } from 'drizzle-orm/pg-core';
import { and, eq, sql } from 'drizzle-orm';
import { withTenant } from 'trovella';

const workers = Number(process.argv[2] || 1);
const rounds = Number(process.env.BENCH_NODE_ROUNDS || 21);
const perRound = Number(process.env.BENCH_NODE_TRANSACTIONS || 200);
const columns = { tenantId: uuid('tenant_id'), id: bigint('id', { mode: 'number' }), payload: text('payload') };
const points = pgTable('tenant_points', columns);        // isolated by trovella
const plainPoints = pgTable('plain_points', columns);    // the same rows, no isolation
const settingPoints = pgTable('setting_points', columns); // RLS on current_setting('app.tenant')
const tenant = (i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
// BENCH_NODE_DELAY_MS: the connections go through a relay in this process
// that holds every chunk that long, each way: a network's round trip
// (1.3 ms: about 2.6 ms a round trip, as between two hosts of a zone)
const delay = Number(process.env.BENCH_NODE_DELAY_MS || 0);
const serverPort = Number(process.env.PGPORT || 5432);
let port = serverPort;
if (delay > 0) {
  const relay = net.createServer((client) => {
    const server = net.connect(serverPort, '127.0.0.1');
    const hold = (from, to) => from.on('data', (chunk) => setTimeout(() => to.write(chunk), delay));
    hold(client, server);
    hold(server, client);
    client.on('error', () => server.destroy());
    server.on('error', () => client.destroy());
    client.on('close', () => setTimeout(() => server.end(), delay));
    server.on('close', () => setTimeout(() => client.end(), delay));
  });
  await new Promise((resolve) => relay.listen(0, '127.0.0.1', resolve));
  port = relay.address().port;
  relay.unref();
}
const pool = new pg.Pool({ max: workers, user: process.env.BENCH_ROLE, password: process.env.BENCH_PASSWORD, host: '127.0.0.1', port });
const db = drizzle({ client: pool });

const sides = {
  trovella: (t, id) => withTenant(db, t, null, (tx) => tx.select().from(points).where(eq(points.id, id))),
  plain: (t, id) => db.transaction((tx) => tx.select().from(plainPoints).where(and(eq(plainPoints.tenantId, t), eq(plainPoints.id, id)))),
  set_config: (t, id) => db.transaction(async (tx) => {
    await tx.execute(sql`SELECT set_config('app.tenant', ${t}, true)`);
    return tx.select().from(settingPoints).where(eq(settingPoints.id, id));
  }),
};
const names = Object.keys(sides);

// One round: each worker runs perRound / workers turns, a turn being one
// transaction of each side, in an order that turns with the turn; each
// transaction timed on its own.  Returns µs per transaction of each side.
async function round() {
  const spent = Object.fromEntries(names.map((n) => [n, 0n]));
  let next = 0;
  await Promise.all(Array.from({ length: workers }, async () => {
    while (next < perRound) {
      const i = next++;
      const t = tenant(1 + ((i * 37) % 100));
      const id = 1 + ((i * 101) % 1000);
      for (let k = 0; k < names.length; k++) {
        const name = names[(i + k) % names.length];
        const started = process.hrtime.bigint();
        await sides[name](t, id);
        spent[name] += process.hrtime.bigint() - started;
      }
    }
  }));
  return Object.fromEntries(names.map((n) => [n, Number(spent[n]) / 1000 / perRound]));
}

const load = [loadavg()[0]];
await round(); // connections, the version check, prepared statements, the JIT
const times = Object.fromEntries(names.map((n) => [n, []]));
const ratios = { plain: [], set_config: [] };
for (let r = 0; r < rounds; r++) {
  const us = await round();
  for (const n of names) times[n].push(us[n]);
  ratios.plain.push(us.trovella / us.plain);
  ratios.set_config.push(us.trovella / us.set_config);
}
load.push(loadavg()[0]);
const median = (v) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)];
console.log(JSON.stringify({
  workers,
  delay,
  rounds,
  us: Object.fromEntries(names.map((n) => [n, Number(median(times[n]).toFixed(1))])),
  plain: Number(median(ratios.plain).toFixed(3)),
  set_config: Number(median(ratios.set_config).toFixed(3)),
  spread: [Math.min(...ratios.plain), Math.max(...ratios.plain)].map((x) => Number(x.toFixed(3))),
  load,
}));
await pool.end();
