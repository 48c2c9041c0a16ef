'use strict';
// trovella for Node.js: the application side of the tenant context, tokens,
// health and seeds, over node-postgres (pg.Pool, pg.Client), postgres.js and
// Drizzle over either.  CommonJS at the core; index.mjs re-exports it.
//
// A tenant transaction opens in one round trip: BEGIN and with_tenant()
// travel as one simple-protocol message, the ids inlined after a strict
// check (only a canonical uuid passes), then the caller's work, then COMMIT.
// A token is a secret and always travels as a bind parameter.

const { createHash } = require('node:crypto');
const { readdir, readFile } = require('node:fs/promises');
const path = require('node:path');

const VERSION = require('../package.json').version;
// the oldest trovella extension this package works with: what it calls
// (with_tenant, authenticate, record_seed, health) is all in 0.4.0
const REQUIRED = '0.4.0';

const { TrovellaError } = require('./error.cjs');

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

function uuidLiteral(value, what) {
  if (typeof value !== 'string' || !UUID.test(value)) {
    // the value is not repeated: a secret passed by mistake stays out of logs
    throw new TrovellaError(`trovella: ${what} must be a uuid (8-4-4-4-12 hexadecimal digits), not this ${typeof value}`, '22P02');
  }
  return `'${value.toLowerCase()}'::uuid`;
}

function compareVersions(a, b) {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    if ((x[i] || 0) !== (y[i] || 0)) return (x[i] || 0) - (y[i] || 0);
  }
  return 0;
}

const {
  SCOPES, BUSY, guardPool, lateError, savepoint, isPgPool, isPgClient, isPostgresJs, isDrizzle, pgSession, postgresJsSession,
} = require('./session.cjs');
const { drizzleTransaction } = require('./drizzle_tx.cjs');
const { transactionControl } = require('./seeds.cjs');

const CHECKED = new WeakMap();

function driverError() {
  return new TrovellaError('trovella: db must be a pg.Pool, a pg.Client, a postgres.js sql or a Drizzle database over either', 'TROVELLA_DRIVER');
}

async function openSession(db) {
  if (isPgPool(db)) {
    guardPool(db);
    const client = await db.connect();
    return pgSession(client, (error) => client.release(error));
  }
  if (isPgClient(db)) return pgSession(db, null);
  if (isPostgresJs(db)) return postgresJsSession(await db.reserve());
  throw driverError();
}

function versionTarget(db) {
  return isDrizzle(db) ? db.$client : db;
}

function checkVersion(installed) {
  if (installed == null) {
    return 'the trovella extension is not installed in this database (CREATE EXTENSION trovella, as a superuser)';
  }
  if (compareVersions(installed, REQUIRED) < 0) {
    return `this package (${VERSION}) needs the trovella extension ${REQUIRED} or later; the database has ${installed}: run ALTER EXTENSION trovella UPDATE`;
  }
  return null;
}

// The server's trovella, checked once per pool (or client, or sql).
const READY = new WeakSet();
function requireServer(db) {
  const target = versionTarget(db);
  if (READY.has(target)) return undefined;
  let checking = CHECKED.get(target);
  if (!checking) {
    checking = (async () => {
      const session = await openSession(target);
      let rows;
      try {
        rows = await session.query("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'trovella'", []);
      } finally {
        session.release();
      }
      const installed = rows.length ? rows[0].extversion : null;
      const problem = checkVersion(installed);
      if (problem) throw new TrovellaError(`trovella: ${problem}`, 'TROVELLA_VERSION');
      READY.add(target);
      return installed;
    })();
    checking.catch(() => CHECKED.delete(target));
    CHECKED.set(target, checking);
  }
  return checking;
}

// What fn receives: the gate, or for a Drizzle database a Drizzle
// transaction over the gate (its tx.transaction() is a savepoint).
function giveFn(db, session, scope) {
  const gate = session.gate(scope);
  if (!isDrizzle(db)) return gate;
  const tx = drizzleTransaction(db, gate, session.kind, scope.depth);
  SCOPES.set(tx, scope);
  return tx;
}

function rolledBack() {
  return new TrovellaError('trovella: the transaction was rolled back, not committed: a statement inside fn failed and fn went on '
    + '(the server answers such a COMMIT with ROLLBACK); nothing fn wrote was saved', '25P02');
}

// A transaction: BEGIN [READ ONLY] and the context statement as one
// message, fn, COMMIT.  fn's tx closes when fn settles.
async function inTransaction(db, context, fn, options = {}) {
  if (typeof fn !== 'function') throw new TrovellaError('trovella: fn must be a function', '22023');
  const nested = SCOPES.get(db);
  if (nested) return inSavepoint(db, nested, context, fn);
  if (isDrizzleTx(db) && !isDrizzle(db)) {
    throw new TrovellaError('trovella: this Drizzle transaction is not one withTenant gave: nest withTenant in the tx '
      + 'that withTenant (or its nested withTenant) gave, or use Drizzle\'s tx.transaction()', '25001');
  }
  if (!isDrizzle(db) && !isPgPool(db) && !isPgClient(db) && !isPostgresJs(db)) throw driverError();
  const target = versionTarget(db);
  // one pg.Client runs one transaction at a time: a second one would
  // interleave its statements with the first's
  const busy = isPgClient(target) && !isPgPool(target);
  if (busy) {
    if (BUSY.has(target)) {
      throw new TrovellaError('trovella: this pg.Client is already running a transaction of the package: one client runs one '
        + 'transaction at a time (await the first, or pass a pg.Pool for concurrent ones)', '55006');
    }
    BUSY.add(target);
  }
  let session;
  try {
    const checking = requireServer(db);
    if (checking) await checking;
    session = await openSession(target);
  } catch (error) {
    if (busy) BUSY.delete(target);
    throw error;
  }
  const scope = { closed: false, depth: 0, tenantId: context.tenantId, userId: context.userId, session, savepoints: 0 };
  let failure;
  try {
    const rows = await session.open(options.readOnly ? 'BEGIN READ ONLY' : 'BEGIN', context);
    let result;
    try {
      result = await fn(giveFn(db, session, scope), rows);
    } finally {
      scope.closed = true;
    }
    const dead = session.broken();
    if (dead) throw dead;
    // the context was refused with fn's first query, which fn caught
    const refused = session.refused();
    if (refused) throw refused;
    const tag = await session.commit();
    if (tag === 'ROLLBACK') throw rolledBack();
    return result;
  } catch (error) {
    const dead = session.broken();
    failure = dead ?? error;
    if (!dead) {
      try {
        await session.rollback();
        failure = undefined;
      } catch {
        // the connection is in an unknown state: destroyed (pg) below
      }
    }
    // the backend died while fn awaited something else: that is the error
    if (dead && error !== dead && !(error && error.code)) throw dead;
    throw error;
  } finally {
    if (busy) BUSY.delete(target);
    session.release(failure);
  }
}

// A nested withTenant(tx, ...) runs in a savepoint of the outer
// transaction, for the same tenant and user only: the context is sealed.
async function inSavepoint(parentTx, parent, context, fn) {
  if (parent.closed) throw lateError(parent);
  if (context.tenantId === undefined || context.tenantId !== parent.tenantId || (context.userId ?? null) !== (parent.userId ?? null)) {
    throw new TrovellaError('trovella: a withTenant nested in another runs in its transaction, whose tenant and user are sealed: '
      + 'nest only with the same tenant and user (for another tenant, use the pool, not tx)', '25001');
  }
  return savepoint(parent, (scope) => {
    if (SCOPES.get(parentTx) !== parent) throw lateError(parent);
    if (isDrizzleTx(parentTx)) {
      const tx = drizzleTransaction(parentTx, scope.session.gate(scope), scope.session.kind, scope.depth);
      SCOPES.set(tx, scope);
      return fn(tx);
    }
    return fn(scope.session.gate(scope));
  });
}

function isDrizzleTx(tx) {
  return tx != null && typeof tx.transaction === 'function' && tx.session !== undefined && tx.dialect !== undefined;
}

// Runs fn in a transaction working for tenantId (and userId, when not null).
// Bad ids reject (22P02) before anything is sent.
async function withTenant(db, tenantId, userId, fn, options) {
  const tenant = uuidLiteral(tenantId, 'tenantId');
  const user = userId == null ? 'NULL' : uuidLiteral(userId, 'userId');
  return inTransaction(db, {
    text: `SELECT trovella.with_tenant(${tenant}, ${user})`,
    name: 'trovella_with_tenant_1',
    statement: 'SELECT trovella.with_tenant($1::uuid, $2::uuid)',
    values: [tenantId.toLowerCase(), userId == null ? null : userId.toLowerCase()],
    tenantId: tenantId.toLowerCase(),
    userId: userId == null ? null : userId.toLowerCase(),
  }, fn, options);
}

// Runs fn in a transaction working for userId alone (their own tokens).
async function withUser(db, userId, fn, options) {
  return inTransaction(db, {
    text: `SELECT trovella.with_user(${uuidLiteral(userId, 'userId')})`,
    name: 'trovella_with_user_1',
    statement: 'SELECT trovella.with_user($1::uuid)',
    values: [userId.toLowerCase()],
  }, fn, options);
}

// Runs fn(tx, identity) for the user of a presented token; an invalid one
// rejects with SQLSTATE 28000 before fn runs.  The token is a bind parameter.
async function authenticate(db, token, fn, options) {
  if (typeof token !== 'string') throw new TrovellaError('trovella: the token must be a string', '22023');
  const text = 'SELECT token_id, user_id, scopes, expires_at FROM trovella.authenticate($1)';
  return inTransaction(db, { text, params: [token] }, (tx, rows) => fn(tx, {
    tokenId: rows[0].token_id,
    userId: rows[0].user_id,
    scopes: rows[0].scopes,
    expiresAt: rows[0].expires_at,
  }), options);
}

// The health check a service exposes, for any role: a round trip's latency,
// the server's trovella version (a problem when withTenant would refuse it),
// and every check of trovella.health that is not ok, when the role may read
// it (pg_monitor); when it may not, a warning says so.  A database that
// cannot be reached answers ok: false, it does not throw.
const HEALTH_PROBE = `SELECT (SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'trovella') AS version,
  CASE WHEN pg_catalog.to_regclass('trovella.health') IS NULL THEN NULL
  ELSE pg_catalog.has_table_privilege(pg_catalog.to_regclass('trovella.health'), 'SELECT') END AS readable`;

async function checkDatabase(db) {
  if (!isDrizzle(db) && !isPgPool(db) && !isPgClient(db) && !isPostgresJs(db)) throw driverError();
  let session;
  let probe;
  let latencyMs;
  try {
    session = await openSession(versionTarget(db));
    const start = process.hrtime.bigint();
    [probe] = await session.query(HEALTH_PROBE, []);
    latencyMs = Number(process.hrtime.bigint() - start) / 1e6;
  } catch (error) {
    if (session) session.release(error);
    return {
      ok: false, latencyMs: null, version: null, healthRead: false,
      problems: [{ check: 'connection', status: 'problem', detail: `the database did not answer: ${error.message}${error.code ? ` (${error.code})` : ''}` }],
    };
  }
  const problems = [];
  let healthRead = false;
  let failure;
  try {
    const version = probe.version ?? null;
    const versionProblem = checkVersion(version);
    if (versionProblem) problems.push({ check: 'version', status: 'problem', detail: versionProblem });
    if (probe.readable === true) {
      try {
        const checks = await session.query('SELECT check_name, status, detail FROM trovella.health', []);
        healthRead = true;
        for (const c of checks) {
          if (c.status !== 'ok') problems.push({ check: c.check_name, status: c.status, detail: c.detail });
        }
      } catch (error) {
        if (error.code !== '42501') { failure = error; throw error; }
      }
    }
    if (!healthRead && probe.readable !== null) {
      problems.push({ check: 'health', status: 'warning',
        detail: 'this role may not read trovella.health, so its checks are not included: grant it pg_monitor to add them' });
    }
    return { ok: !problems.some((p) => p.status === 'problem'), latencyMs, version, healthRead, problems };
  } finally {
    session.release(failure);
  }
}

// Applies the seed files of directory (*.sql, in name order), each in its
// own transaction recorded by trovella.record_seed(): a new one is applied,
// one applied before with the same contents skipped, a changed one refused
// (rejects with SQLSTATE 55000, later files not run).  In the production
// environment only files whose name starts with productionPrefix run.
async function applySeeds(db, directory, { environment, productionPrefix = 'prod_' } = {}) {
  if (typeof environment !== 'string') throw new TrovellaError('trovella: applySeeds needs { environment }', '22023');
  await requireServer(db);
  const names = (await readdir(directory)).filter((n) => n.endsWith('.sql')).sort()
    .filter((n) => environment !== 'production' || n.startsWith(productionPrefix));
  const files = [];
  for (const name of names) {
    const contents = await readFile(path.join(directory, name));
    // each file runs in the transaction that records it: one that ends it
    // would be recorded as applied with only its first part run
    const control = transactionControl(contents.toString('utf8'));
    if (control) {
      throw new TrovellaError(`trovella: seed file ${name} has transaction control (${control}): a seed runs in the transaction `
        + 'that records it; remove its BEGIN, COMMIT, ROLLBACK and savepoints', '2D000');
    }
    files.push({ name, contents });
  }
  const applied = [];
  const skipped = [];
  for (const { name, contents } of files) {
    const sha256 = createHash('sha256').update(contents).digest('hex');
    const session = await openSession(versionTarget(db));
    let failure;
    try {
      await session.run('BEGIN');
      const [{ new: isNew }] = await session.query('SELECT trovella.record_seed($1, $2, $3) AS new', [name, sha256, environment]);
      if (isNew) {
        await session.run(contents.toString('utf8'));
        await session.run('COMMIT');
        applied.push(name);
      } else {
        await session.run('ROLLBACK');
        skipped.push(name);
      }
    } catch (error) {
      failure = error;
      try {
        await session.rollback();
        failure = undefined;
      } catch { /* destroyed below */ }
      throw error;
    } finally {
      session.release(failure);
    }
  }
  return { applied, skipped };
}

module.exports = {
  VERSION,
  REQUIRED,
  TrovellaError,
  guardPool,
  withTenant,
  withUser,
  authenticate,
  checkDatabase,
  applySeeds,
  ...require('./ids.cjs'),
  ...require('./audit.cjs'),
  ...require('./lifecycle.cjs'),
  ...require('./export.cjs'),
};
// require('trovella').default is the package too, as its types say
module.exports.default = module.exports;
