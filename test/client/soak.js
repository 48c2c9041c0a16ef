// make soak: faults under load.  A server of its own (trovella preloaded)
// behind PgBouncer in transaction mode, many tenants, a mixed workload
// (with_tenant reads and writes, token create/verify/revoke, membership
// changes), while random backends are terminated and the server is once
// stopped with -m immediate and started again.  Afterwards: no transaction
// saw another tenant's row, every committed write is there, tokens and
// statistics are consistent.  Prints the figures; exits 1 on any failure.
//
//   SOAK_SECONDS   workload duration (default 240; the whole run stays
//                  under 10 minutes)
//   SOAK_WORKERS   concurrent clients (default 16)
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, chownSync, chmodSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort, startPgBouncer } from './servers.js';

const SECONDS = Number(process.env.SOAK_SECONDS || 240);
const WORKERS = Number(process.env.SOAK_WORKERS || 16);
const TENANTS = 40;
const USERS = 30;
const CHURN_USER = 'c0000000-0000-0000-0000-000000000000';
const PASSWORD = `soak-${process.pid}`;

const PGBIN = execFileSync('pg_config', ['--bindir']).toString().trim();
const asRoot = process.getuid?.() === 0;
const uid = asRoot ? Number(execFileSync('id', ['-u', 'postgres']).toString()) : undefined;
const gid = asRoot ? Number(execFileSync('id', ['-g', 'postgres']).toString()) : undefined;
const asServer = asRoot ? { uid, gid } : {};

const tenant = (i) => `00000000-0000-0000-0000-${String(i).padStart(12, '0')}`;
const user = (i) => `10000000-0000-0000-0000-${String(i).padStart(12, '0')}`;
const pick = (n) => Math.floor(Math.random() * n);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- the server ---------------------------------------------------------
const dir = mkdtempSync(path.join(tmpdir(), 'trovella-soak-'));
if (asRoot) chownSync(dir, uid, gid);
chmodSync(dir, 0o700);
const data = path.join(dir, 'data');
const port = await freePort();
const pgctl = (...args) => execFileSync(path.join(PGBIN, 'pg_ctl'), ['-D', data, ...args],
  { ...asServer, stdio: ['ignore', 'pipe', 'pipe'] });
let serverUp = false;
function stopServer() {
  if (!serverUp) return;
  try { pgctl('-m', 'immediate', '-w', 'stop'); } catch { /* already down */ }
  serverUp = false;
}
let bouncer = null;
async function cleanup() {
  if (bouncer) await bouncer.stop();
  bouncer = null;
  stopServer();
  rmSync(dir, { recursive: true, force: true });
}
process.on('exit', () => { stopServer(); rmSync(dir, { recursive: true, force: true }); });
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => process.exit(1));

execFileSync(path.join(PGBIN, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C.UTF-8'],
  { ...asServer, stdio: 'ignore' });
appendFileSync(path.join(data, 'postgresql.conf'), [
  "listen_addresses = '127.0.0.1'", `port = ${port}`, `unix_socket_directories = '${dir}'`,
  "shared_preload_libraries = 'trovella'", 'max_connections = 60',
  "password_encryption = 'scram-sha-256'", 'fsync = on', '',
].join('\n'));
writeFileSync(path.join(data, 'pg_hba.conf'),
  'local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n');
if (asRoot) chownSync(path.join(data, 'pg_hba.conf'), uid, gid);
const startServer = () => { pgctl('-l', path.join(dir, 'server.log'), '-w', '-t', '120', 'start'); serverUp = true; };
startServer();

const admin = () => new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'soak' });
{
  const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  await c.connect();
  await c.query('CREATE DATABASE soak');
  await c.end();
}
{
  const c = admin();
  await c.connect();
  await c.query(`
    CREATE EXTENSION trovella;
    CREATE ROLE soak_app LOGIN PASSWORD '${PASSWORD}';
    GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid), trovella.with_user(uuid),
      trovella.pat_create(text, timestamptz, text[]), trovella.pat_revoke(uuid),
      trovella.pat_verify(text), trovella.authenticate(text) TO soak_app;
    CREATE TABLE members (tenant_id uuid NOT NULL, user_id uuid NOT NULL, PRIMARY KEY (tenant_id, user_id));
    SELECT trovella.use_membership('members', 'tenant_id', 'user_id');
    CREATE TABLE items (id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL,
                        marker text NOT NULL UNIQUE, payload text);
    CREATE INDEX ON items (tenant_id);
    SELECT trovella.enable_tenant_isolation('items');
    GRANT SELECT, INSERT ON items TO soak_app;`);
  // every user a member of every tenant, but the churn user: its membership
  // of tenant 1 is what the membership worker adds and removes
  await c.query(`INSERT INTO members SELECT t, u FROM unnest($1::uuid[]) t, unnest($2::uuid[]) u`,
    [Array.from({ length: TENANTS }, (_, i) => tenant(i + 1)), Array.from({ length: USERS }, (_, i) => user(i + 1))]);
  await c.end();
}
process.env.PGPORT = String(port);
bouncer = await startPgBouncer({ database: 'soak', users: [{ user: 'soak_app', password: PASSWORD }], poolSize: 8 });

// ---- the workload -------------------------------------------------------
const figures = { transactions: 0, reads: 0, writes: 0, token_creates: 0, token_verifies: 0,
  token_revokes: 0, membership_changes: 0, errors: 0, uncertain: 0, kills: 0, restarts: 0,
  leaks: 0, lost: 0, token_mismatches: 0, membership_mismatches: 0, stats_problems: 0 };
const committedWrites = new Map();	// marker -> tenant
const tokens = [];					// { token, user, state: 'live' | 'revoked' | 'uncertain' }
let churnMember = false;			// committed state of (tenant 1, CHURN_USER)
let running = true;
const errorCodes = new Map();		// SQLSTATE (or "connection") -> count
const noteError = (err) => {
  const code = err?.code || 'connection';
  errorCodes.set(code, (errorCodes.get(code) || 0) + 1);
};

// One transaction through PgBouncer; 'committed', 'failed' (rolled back for
// sure) or 'uncertain' (the connection went away around COMMIT).
async function transaction(client, statements) {
  let phase = 'begin';
  try {
    await client.query('BEGIN');
    phase = 'body';
    const results = [];
    for (const [sql, params] of statements) results.push(await client.query(sql, params));
    phase = 'commit';
    await client.query('COMMIT');
    figures.transactions++;
    return { outcome: 'committed', results };
  } catch (err) {
    figures.errors++;
    noteError(err);
    try { await client.query('ROLLBACK'); } catch { /* connection gone */ }
    return { outcome: phase === 'commit' ? 'uncertain' : 'failed', error: err };
  }
}

// The connection itself is gone, or the server said it is going away.
const connectionLost = (err) => !err?.code || /^(08|57P)/.test(err.code);

async function worker(id) {
  let client = null;
  let seq = 0;
  const drop = async () => {
    try { await client?.end(); } catch { /* gone */ }
    client = null;
  };
  while (running) {
    try {
      if (!client) {
        client = new pg.Client({ host: '127.0.0.1', port: bouncer.port, user: 'soak_app', password: PASSWORD, database: 'soak' });
        client.on('error', () => { /* reported on the next query */ });
        await client.connect();
      }
      const t = tenant(1 + pick(TENANTS));
      const u = user(1 + pick(USERS));
      const r = Math.random();
      const tx = async (statements) => {
        const res = await transaction(client, statements);
        if (res.error && connectionLost(res.error)) await drop();
        return res;
      };
      if (r < 0.45) {
        const rows = await tx([
          ['SELECT trovella.with_tenant($1, $2)', [t, u]],
          ['SELECT tenant_id, count(*)::int AS n FROM items GROUP BY tenant_id', []]]);
        if (rows.results) {
          figures.reads++;
          for (const row of rows.results[1].rows) if (row.tenant_id !== t) figures.leaks++;
        }
      } else if (r < 0.85) {
        const marker = `w${id}-${seq++}`;
        const res = await tx([
          ['SELECT trovella.with_tenant($1, $2)', [t, u]],
          ['INSERT INTO items (tenant_id, marker, payload) VALUES ($1, $2, repeat($2, 20))', [t, marker]]]);
        if (res.outcome === 'committed') { figures.writes++; committedWrites.set(marker, t); }
        if (res.outcome === 'uncertain') figures.uncertain++;
      } else if (r < 0.93 || tokens.length === 0) {
        const res = await tx([
          ['SELECT trovella.with_user($1)', [u]],
          ["SELECT token_id, token FROM trovella.pat_create('soak', now() + interval '1 day')", []]]);
        if (res.results) {
          const { token_id, token } = res.results[1].rows[0];
          const state = res.outcome === 'committed' ? 'live' : res.outcome === 'uncertain' ? 'uncertain' : null;
          if (state) tokens.push({ token, token_id, user: u, state });
          if (state === 'live') figures.token_creates++;
        }
      } else if (r < 0.98) {
        const tk = tokens[pick(tokens.length)];
        // revoked before the check was sent: it must not verify; a revoke
        // still in flight may go either way
        const revokedBefore = tk.state === 'revoked';
        const res = await tx([['SELECT user_id FROM trovella.pat_verify($1)', [tk.token]]]);
        if (res.results) {
          figures.token_verifies++;
          const rows = res.results[0].rows;
          if (rows.length > 0 && rows[0].user_id !== tk.user) figures.token_mismatches++;
          if (revokedBefore && rows.length > 0) figures.token_mismatches++;
        }
      } else {
        const tk = tokens[pick(tokens.length)];
        if (tk.state !== 'live') continue;
        tk.state = 'revoking';
        const res = await tx([
          ['SELECT trovella.with_user($1)', [tk.user]],
          ['SELECT trovella.pat_revoke($1)', [tk.token_id]]]);
        tk.state = res.outcome === 'committed' ? 'revoked' : res.outcome === 'uncertain' ? 'uncertain' : 'live';
        if (res.outcome === 'committed') figures.token_revokes++;
      }
    } catch (err) {
      figures.errors++;
      noteError(err);
      await drop();
      await sleep(50);
    }
  }
  await drop();
}

// Membership changes, one at a time, each followed by a check through
// PgBouncer that with_tenant() agrees with what was committed.
async function membershipWorker() {
  while (running) {
    const c = admin();
    try {
      await c.connect();
      const sql = churnMember ? 'DELETE FROM members WHERE tenant_id = $1 AND user_id = $2'
        : 'INSERT INTO members VALUES ($1, $2)';
      await c.query(sql, [tenant(1), CHURN_USER]);
      churnMember = !churnMember;
      figures.membership_changes++;
      await c.end();
      const app = new pg.Client({ host: '127.0.0.1', port: bouncer.port, user: 'soak_app', password: PASSWORD, database: 'soak' });
      app.on('error', () => {});
      await app.connect();
      const res = await transaction(app, [['SELECT trovella.with_tenant($1, $2)', [tenant(1), CHURN_USER]]]);
      const refused = res.error?.code === '42501';
      if (res.outcome === 'committed' && !churnMember) figures.membership_mismatches++;
      if (refused && churnMember) figures.membership_mismatches++;
      await app.end();
    } catch {
      try { await c.end(); } catch { /* gone */ }
    }
    await sleep(200);
  }
}

// Faults: a random application backend terminated every 1 to 3 s, and the
// server stopped with -m immediate once, a third of the way in.
async function chaos() {
  const restartAt = Date.now() + (SECONDS * 1000) / 3;
  let restarted = false;
  while (running) {
    await sleep(1000 + pick(2000));
    if (!running) break;
    if (!restarted && Date.now() > restartAt) {
      restarted = true;
      stopServer();
      await sleep(500);
      startServer();
      figures.restarts++;
      continue;
    }
    const c = admin();
    try {
      await c.connect();
      const { rows } = await c.query(`SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity
        WHERE usename = 'soak_app' ORDER BY random() LIMIT 1`);
      if (rows[0]?.done) figures.kills++;
    } catch { /* the server is restarting */ }
    try { await c.end(); } catch { /* gone */ }
  }
}

const started = Date.now();
const tasks = [chaos(), membershipWorker(), ...Array.from({ length: WORKERS }, (_, i) => worker(i))];
await sleep(SECONDS * 1000);
running = false;
await Promise.all(tasks);

// ---- afterwards -------------------------------------------------------------
const c = admin();
await c.connect();
const { rows: present } = await c.query('SELECT marker, tenant_id FROM items');
const stored = new Map(present.map((r) => [r.marker, r.tenant_id]));
for (const [marker, t] of committedWrites) if (stored.get(marker) !== t) figures.lost++;
for (const tk of tokens) {
  if (tk.state !== 'live' && tk.state !== 'revoked') continue;
  const { rows } = await c.query('SELECT user_id FROM trovella.pat_verify($1)', [tk.token]);
  if (tk.state === 'live' && (rows.length !== 1 || rows[0].user_id !== tk.user)) figures.token_mismatches++;
  if (tk.state === 'revoked' && rows.length !== 0) figures.token_mismatches++;
}
const { rows: stats } = await c.query(`
  SELECT count(*) FILTER (WHERE tenant_id IS NULL) AS null_rows,
         count(*) FILTER (WHERE transactions < 0 OR statements < 0 OR rows < 0 OR total_exec_time < 0
                                OR (tenant_id IS NOT NULL AND statements < transactions)) AS bad,
         count(*) FILTER (WHERE tenant_id IS NOT NULL) AS tenants
  FROM trovella.tenant_stats`);
if (Number(stats[0].null_rows) > 1 || Number(stats[0].bad) > 0 || Number(stats[0].tenants) === 0) figures.stats_problems++;
// the reads were isolated from something: the table holds every tenant's rows
const { rows: [{ n: stored_rows, tenants: stored_tenants }] } = await c.query(
  'SELECT count(*)::int AS n, count(DISTINCT tenant_id)::int AS tenants FROM items');
await c.end();
await cleanup();

const seconds = Math.round((Date.now() - started) / 1000);
console.log(`soak: ${seconds} s, ${WORKERS} clients through PgBouncer, ${TENANTS} tenants`);
for (const [k, v] of Object.entries(figures)) console.log(`  ${k.padEnd(22)} ${v}`);
console.log(`  ${'rows stored'.padEnd(22)} ${stored_rows} of ${stored_tenants} tenants`);
console.log(`  ${'errors by SQLSTATE'.padEnd(22)} ${[...errorCodes].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')}`);
const failed = figures.leaks + figures.lost + figures.token_mismatches + figures.membership_mismatches +
  figures.stats_problems > 0 || figures.restarts !== 1 || figures.kills === 0 || figures.transactions === 0 ||
  stored_tenants < 2;
console.log(failed ? 'soak: FAILED' : 'soak: passed (no leak, nothing lost, tokens and statistics consistent)');
process.exit(failed ? 1 : 0);
