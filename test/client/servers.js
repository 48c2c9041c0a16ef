// Real servers the client suites run against, besides the throwaway
// primary: PgBouncer in transaction mode and a streaming hot standby.  Each
// listens on 127.0.0.1 only, on a port checked to be free, and is stopped by
// the suite that started it, on success and on failure.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, chownSync, chmodSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';

const PGBIN = execFileSync('pg_config', ['--bindir']).toString().trim();
const running = new Set();

// PostgreSQL and PgBouncer refuse to run as root: run them as postgres,
// as direct children, so that a signal reaches the server itself.
const asRoot = process.getuid?.() === 0;
const SERVER_UID = asRoot ? Number(execFileSync('id', ['-u', 'postgres']).toString()) : undefined;
const SERVER_GID = asRoot ? Number(execFileSync('id', ['-g', 'postgres']).toString()) : undefined;
const serverUser = asRoot ? { uid: SERVER_UID, gid: SERVER_GID } : {};

// scripts/run-suites gives the suite a folder of its own
// (TROVELLA_CLIENT_RUNDIR), so that what a dead suite left running is found
// there by its pid file, never by a name some other process may share.
function ownedTempDir(prefix) {
  const dir = mkdtempSync(path.join(process.env.TROVELLA_CLIENT_RUNDIR || tmpdir(), prefix));
  if (asRoot) chownSync(dir, SERVER_UID, SERVER_GID);
  chmodSync(dir, 0o700);
  return dir;
}

function chownTree(dir) {
  if (!asRoot) return;
  chownSync(dir, SERVER_UID, SERVER_GID);
  for (const entry of readdirSync(dir)) {
    const p = path.join(dir, entry);
    if (statSync(p).isDirectory()) chownTree(p);
    else chownSync(p, SERVER_UID, SERVER_GID);
  }
}

function run(cmd, args, cwd) {
  return execFileSync(cmd, args, { ...serverUser, cwd, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

// A TCP port on 127.0.0.1 that nothing listens on.
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port, child, what) {
  for (let i = 0; i < 100; i++) {
    if (child && child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    const ok = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => { socket.destroy(); resolve(true); });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not listen on 127.0.0.1:${port}`);
}

// PgBouncer in front of the primary, pool_mode = transaction, so clients
// share few server connections.  users: [{ user, password }].
export async function startPgBouncer({ database, users, poolSize = 3 }) {
  const dir = ownedTempDir('trovella-pgbouncer-');
  const port = await freePort();
  const upstreamPort = process.env.PGPORT || '5432';
  writeFileSync(path.join(dir, 'userlist.txt'),
    users.map(({ user, password }) => `"${user}" "${password}"`).join('\n') + '\n');
  writeFileSync(path.join(dir, 'pgbouncer.ini'), [
    '[databases]',
    `${database} = host=127.0.0.1 port=${upstreamPort} dbname=${database}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'unix_socket_dir =',
    'auth_type = scram-sha-256',
    `auth_file = ${path.join(dir, 'userlist.txt')}`,
    'pool_mode = transaction',
    `default_pool_size = ${poolSize}`,
    'max_client_conn = 200',
    'ignore_startup_parameters = extra_float_digits',
    `logfile = ${path.join(dir, 'pgbouncer.log')}`,
    `pidfile = ${path.join(dir, 'pgbouncer.pid')}`,
    '',
  ].join('\n'));
  chownTree(dir);
  const child = spawn('pgbouncer', [path.join(dir, 'pgbouncer.ini')], { ...serverUser, cwd: dir, stdio: 'ignore' });
  const server = {
    port,
    host: '127.0.0.1',
    async stop() {
      running.delete(server);
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGINT');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  running.add(server);
  try {
    await waitForPort(port, child, 'pgbouncer');
  } catch (err) {
    await server.stop();
    throw err;
  }
  return server;
}

// A hot standby of the primary: pg_basebackup -R into its own data
// directory, started on its own port.
export async function startStandby() {
  const dir = ownedTempDir('trovella-standby-');
  const data = path.join(dir, 'data');
  const port = await freePort();
  const primary = new pg.Client({ database: 'postgres' });
  await primary.connect();
  // a standby needs at least the primary's values of these
  const { rows } = await primary.query(`
    SELECT name, setting FROM pg_settings
    WHERE name IN ('max_connections', 'max_prepared_transactions', 'max_worker_processes',
                   'max_wal_senders', 'max_locks_per_transaction')`);
  await primary.end();
  run(path.join(PGBIN, 'pg_basebackup'), [
    '-h', process.env.PGHOST || 'localhost', '-p', process.env.PGPORT || '5432',
    '-U', process.env.PGUSER || 'postgres', '-D', data, '-R', '-X', 'stream', '-c', 'fast',
  ], dir);
  // Debian keeps a cluster's configuration outside its data directory
  writeFileSync(path.join(data, 'postgresql.conf'), [
    "listen_addresses = '127.0.0.1'",
    `port = ${port}`,
    `unix_socket_directories = '${dir}'`,
    'hot_standby = on',
    ...rows.map(({ name, setting }) => `${name} = ${setting}`),
    '',
  ].join('\n'));
  writeFileSync(path.join(data, 'pg_hba.conf'), [
    'local all all trust',
    'host all all 127.0.0.1/32 scram-sha-256',
    '',
  ].join('\n'));
  writeFileSync(path.join(data, 'pg_ident.conf'), '');
  chownTree(dir);
  const pgCtl = (...args) => run(path.join(PGBIN, 'pg_ctl'), ['-D', data, ...args], dir);
  const server = {
    port,
    host: '127.0.0.1',
    async stop() {
      running.delete(server);
      try {
        pgCtl('-m', 'immediate', '-w', 'stop');
      } catch {
        // already stopped
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  running.add(server);
  try {
    pgCtl('-l', path.join(dir, 'server.log'), '-w', '-t', '60', 'start');
  } catch (err) {
    await server.stop();
    throw err;
  }
  return server;
}

// Last resort: a suite that dies without its after() hook still stops what
// it started (stop() sends its signals synchronously).
process.on('exit', () => {
  for (const server of running) server.stop();
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => process.exit(1));
}
