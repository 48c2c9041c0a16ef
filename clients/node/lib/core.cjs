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
// the server's trovella this package needs: its own major.minor
const REQUIRED = VERSION.split('.').slice(0, 2).concat('0').join('.');

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

// ---- drivers -------------------------------------------------------------
// Each driver gives: session() -> { run(text), query(text, params) -> rows,
// raw (what the caller's fn receives), end(error) }.

const GUARDED = Symbol.for('trovella.guardedPool');
const CHECKED = new WeakMap();

function isPgPool(db) {
  return db && typeof db.connect === 'function' && typeof db.totalCount === 'number';
}
function isPgClient(db) {
  return db && typeof db.query === 'function' && db.connectionParameters !== undefined;
}
function isPostgresJs(db) {
  return typeof db === 'function' && typeof db.unsafe === 'function' && typeof db.reserve === 'function';
}
function isDrizzle(db) {
  return db && typeof db.transaction === 'function' && db.$client !== undefined;
}

function transactionStatus(client) {
  if (typeof client.getTransactionStatus !== 'function') {
    throw new TrovellaError('trovella: guardPool needs pg 8.21 or later (Client.getTransactionStatus)', 'TROVELLA_DRIVER');
  }
  return client.getTransactionStatus();
}

// Makes a pg.Pool refuse to pass on a connection in the middle of a
// transaction: a client released with its transaction still open would carry
// it, tenant context included, to the next borrower.  A guarded pool destroys
// such a client instead, and never hands one out.  Returns the pool.
function guardPool(pool) {
  if (!isPgPool(pool)) throw new TrovellaError('trovella: guardPool takes a pg.Pool', 'TROVELLA_DRIVER');
  if (pool[GUARDED]) return pool;
  const connect = pool.connect.bind(pool);
  async function guardedConnect() {
    for (;;) {
      const client = await connect();
      if (transactionStatus(client) !== 'I') {
        client.release(new Error('trovella: pooled connection was in a transaction'));
        continue;
      }
      const release = client.release;
      client.release = (err) => release(err ?? (transactionStatus(client) === 'I'
        ? undefined
        : new Error('trovella: connection released in the middle of a transaction; destroyed')));
      return client;
    }
  }
  pool.connect = (callback) => {
    const connecting = guardedConnect();
    if (!callback) return connecting;
    connecting.then((client) => callback(undefined, client, client.release), (err) => callback(err));
    return undefined;
  };
  pool[GUARDED] = true;
  return pool;
}

function pgSession(client, release) {
  return {
    raw: client,
    run: (text) => client.query(text),
    query: async (text, params) => (await client.query(text, params)).rows,
    end: (error) => release && release(error),
  };
}

function postgresJsSession(reserved) {
  return {
    raw: reserved,
    run: (text) => reserved.unsafe(text).simple(),
    query: async (text, params) => Array.from(await reserved.unsafe(text, params)),
    end: () => reserved.release(),
  };
}

async function openSession(db) {
  if (isDrizzle(db)) {
    const inner = await openSession(db.$client);
    return { ...inner, raw: drizzleOver(db, inner.raw, isPostgresJs(db.$client)) };
  }
  if (isPgPool(db)) {
    guardPool(db);
    const client = await db.connect();
    return pgSession(client, (error) => client.release(error));
  }
  if (isPgClient(db)) return pgSession(db, null);
  if (isPostgresJs(db)) return postgresJsSession(await db.reserve());
  throw new TrovellaError('trovella: db must be a pg.Pool, a pg.Client, a postgres.js sql or a Drizzle database over either', 'TROVELLA_DRIVER');
}

// A Drizzle database over the one connection of this transaction, with the
// caller's schema, so that fn gets the query builder and db.query; made
// once per connection and database, not per transaction.
const OVER = new WeakMap();
function drizzleOver(db, connection, overPostgresJs) {
  let made = OVER.get(connection);
  if (!made || made.db !== db) {
    made = { db, over: makeDrizzleOver(db, connection, overPostgresJs) };
    OVER.set(connection, made);
  }
  return made.over;
}

function makeDrizzleOver(db, connection, overPostgresJs) {
  const schema = db._ && db._.fullSchema;
  const options = schema && Object.keys(schema).length ? { schema } : {};
  if (overPostgresJs) {
    // a reserved connection has no options of its own: its pool's, which
    // Drizzle set up when it wrapped the pool
    if (!connection.options) connection.options = db.$client.options;
    return require('drizzle-orm/postgres-js').drizzle(connection, options);
  }
  return require('drizzle-orm/node-postgres').drizzle(connection, options);
}

function versionTarget(db) {
  return isDrizzle(db) ? db.$client : db;
}

// The server's trovella, checked once per pool (or client, or sql).
function requireServer(db) {
  const target = versionTarget(db);
  let checking = CHECKED.get(target);
  if (!checking) {
    checking = (async () => {
      const session = await openSession(target);
      let rows;
      try {
        rows = await session.query("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'trovella'", []);
      } finally {
        session.end();
      }
      if (rows.length === 0) {
        throw new TrovellaError('trovella: the trovella extension is not installed in this database (CREATE EXTENSION trovella, as a superuser)', 'TROVELLA_VERSION');
      }
      const installed = rows[0].extversion;
      if (compareVersions(installed, REQUIRED) < 0) {
        throw new TrovellaError(`trovella: this package (${VERSION}) needs the trovella extension ${REQUIRED} or later; the database has ${installed}: run ALTER EXTENSION trovella UPDATE`, 'TROVELLA_VERSION');
      }
      return installed;
    })();
    checking.catch(() => CHECKED.delete(target));
    CHECKED.set(target, checking);
  }
  return checking;
}

// open SQL: BEGIN [READ ONLY]; the context statement, as one message
async function inTransaction(db, openContext, fn, options = {}) {
  await requireServer(db);
  const session = await openSession(db);
  const begin = options.readOnly ? 'BEGIN READ ONLY' : 'BEGIN';
  let failure;
  try {
    if (openContext.params) {
      await session.run(begin);
      const rows = await session.query(openContext.text, openContext.params);
      const result = await fn(session.raw, rows);
      await session.run('COMMIT');
      return result;
    }
    await session.run(`${begin}; ${openContext.text}`);
    const result = await fn(session.raw);
    await session.run('COMMIT');
    return result;
  } catch (error) {
    failure = error;
    try {
      await session.run('ROLLBACK');
      failure = undefined;
    } catch {
      // the connection is in an unknown state: destroy it (pg) below
    }
    throw error;
  } finally {
    session.end(failure);
  }
}

// Runs fn in a transaction working for tenantId (and userId, when not null).
// Bad ids reject (22P02) before anything is sent.
async function withTenant(db, tenantId, userId, fn, options) {
  const text = `SELECT trovella.with_tenant(${uuidLiteral(tenantId, 'tenantId')}, ${userId == null ? 'NULL' : uuidLiteral(userId, 'userId')})`;
  return inTransaction(db, { text }, fn, options);
}

// Runs fn in a transaction working for userId alone (their own tokens).
async function withUser(db, userId, fn, options) {
  return inTransaction(db, { text: `SELECT trovella.with_user(${uuidLiteral(userId, 'userId')})` }, fn, options);
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

// The health check a service exposes: a round trip's latency, the server's
// trovella version, and every check of trovella.health that is not ok.
async function checkDatabase(db) {
  const session = await openSession(versionTarget(db));
  try {
    const start = process.hrtime.bigint();
    await session.query('SELECT 1', []);
    const latencyMs = Number(process.hrtime.bigint() - start) / 1e6;
    const version = (await session.query("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'trovella'", []))[0]?.extversion ?? null;
    let checks = [];
    if (version !== null && compareVersions(version, '0.4.0') >= 0) {
      checks = await session.query('SELECT check_name, status, detail FROM trovella.health', []);
    }
    const problems = checks.filter((c) => c.status !== 'ok')
      .map((c) => ({ check: c.check_name, status: c.status, detail: c.detail }));
    if (version === null) problems.push({ check: 'version', status: 'problem', detail: 'the trovella extension is not installed' });
    return { ok: !problems.some((p) => p.status === 'problem'), latencyMs, version, problems };
  } finally {
    session.end();
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
  const applied = [];
  const skipped = [];
  for (const name of names) {
    const contents = await readFile(path.join(directory, name));
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
        await session.run('ROLLBACK');
        failure = undefined;
      } catch { /* destroyed below */ }
      throw error;
    } finally {
      session.end(failure);
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
};
