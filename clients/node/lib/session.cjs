'use strict';
// The connection of one transaction, for each driver the package adapts, and
// the gate fn receives in its place.
//
// A session is { kind, raw, run(text), query(text, params), open(...),
// commit(), rollback(), release(error), broken() }.  The gate (gateFor) is the
// driver's own object seen through a Proxy that refuses every use once the
// transaction (or the savepoint) it was given for has settled: a late query
// must never run in whatever transaction the pooled connection is in next.

const { TrovellaError } = require('./error.cjs');
const { openPg, firstQueryPg } = require('./pipeline.cjs');

const GUARDED = Symbol.for('trovella.guardedPool');
// gate -> its scope: { closed, tenantId, userId, kind, session, depth }
const SCOPES = new WeakMap();
// pg.Client -> true while a withTenant of the package runs on it
const BUSY = new WeakSet();

function isPgPool(db) {
  return db != null && typeof db.connect === 'function' && typeof db.totalCount === 'number';
}
function isPgClient(db) {
  return db != null && typeof db.query === 'function' && db.connectionParameters !== undefined;
}
function isPostgresJs(db) {
  return typeof db === 'function' && typeof db.unsafe === 'function' && typeof db.reserve === 'function';
}
function isDrizzle(db) {
  return db != null && typeof db.transaction === 'function' && db.$client !== undefined && db.session !== undefined;
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

function lateError(scope) {
  return new TrovellaError(`trovella: this ${scope.depth ? 'savepoint' : 'transaction'}'s tx was used after its fn had settled: `
    + 'the transaction is over (await every query inside fn)', '25P01');
}

// fn(scope) in SAVEPOINT ... RELEASE, or ROLLBACK TO on failure
async function savepoint(parent, fn) {
  if (parent.closed) throw lateError(parent);
  const { session } = parent;
  parent.savepoints += 1;
  const name = `trovella_${parent.depth + 1}_${parent.savepoints}`;
  const scope = { ...parent, closed: false, depth: parent.depth + 1, savepoints: 0 };
  await session.run(`SAVEPOINT ${name}`);
  let result;
  try {
    try {
      result = await fn(scope);
    } finally {
      scope.closed = true;
    }
  } catch (error) {
    if (!session.broken()) await session.run(`ROLLBACK TO SAVEPOINT ${name}`);
    throw error;
  }
  await session.run(`RELEASE SAVEPOINT ${name}`);
  return result;
}

// ---- node-postgres --------------------------------------------------------

function pgGate(client, scope) {
  function query(...args) {
    if (scope.closed) {
      const error = lateError(scope);
      const last = args[args.length - 1];
      const first = args[0];
      if (typeof last === 'function') { process.nextTick(last, error); return undefined; }
      if (first && typeof first.callback === 'function') { process.nextTick(first.callback, error); return undefined; }
      if (first && typeof first.submit === 'function') throw error;
      return Promise.reject(error);
    }
    const routed = scope.session.route(args);
    if (routed) return routed.result;
    return client.query(...args);
  }
  const gate = new Proxy(client, {
    get(target, prop) {
      if (prop === 'query') return query;
      if (prop === 'release') {
        return () => { throw new TrovellaError('trovella: withTenant releases its connection itself; do not release tx', 'TROVELLA_DRIVER'); };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  SCOPES.set(gate, scope);
  return gate;
}

function pgSession(client, release) {
  // A backend that dies while fn awaits something else makes pg emit
  // 'error' on the client; unheard, it would end the process.  Heard here,
  // it fails the transaction, and the client is destroyed, not pooled.
  let dead;
  const onError = (error) => { dead = dead ?? error; };
  client.on('error', onError);
  // A transaction whose BEGIN and context statement wait for fn's first
  // query (pipeline.cjs): pending until that query, then in flight until
  // the server has answered them.  Queries fn makes meanwhile wait for that
  // answer, in the order fn made them: after a refusal none runs.
  let pending = null;
  let inFlight = null;
  let refusal;
  function track(opening) {
    const tracked = opening.then(() => {
      if (inFlight === tracked) inFlight = null;
    }, (error) => {
      refusal = refusal ?? error;
      if (inFlight === tracked) inFlight = null;
      throw error;
    });
    tracked.catch(() => {});
    inFlight = tracked;
    return tracked;
  }
  async function ensureOpen() {
    if (pending) {
      const { begin, context } = pending;
      pending = null;
      track(openPg(client, begin, context));
    }
    if (inFlight) await inFlight;
  }
  // a query of fn once the open in flight has succeeded
  function after(args) {
    const waiting = inFlight;
    const [config] = args;
    if (config && typeof config.submit === 'function') {
      // a cursor or a stream is returned as it is, and told of a refusal
      waiting.then(() => client.query(...args), (error) => config.handleError(error, client.connection));
      return config;
    }
    const last = args[args.length - 1];
    const callback = typeof last === 'function' ? last : config && typeof config.callback === 'function' ? config.callback : null;
    const running = waiting.then(() => client.query(...args));
    if (!callback) return running;
    running.catch(callback);
    return undefined;
  }
  const session = {
    kind: 'pg',
    connection: client,
    run: async (text) => { await ensureOpen(); return client.query(text); },
    query: async (text, params) => (await client.query(text, params)).rows,
    open: (begin, context) => {
      // a context statement prepared on this connection goes out with fn's
      // first query; the first transaction of a connection opens at once
      if (context.name && !context.params && firstQueryPg.ready(client)) {
        pending = { begin, context };
        return Promise.resolve([]);
      }
      return openPg(client, begin, context);
    },
    // fn's query: the first behind BEGIN and the context when it can, else
    // once they have run; null when the transaction is open
    route: (args) => {
      if (pending) {
        const { begin, context } = pending;
        let settle;
        const opening = new Promise((resolve, reject) => {
          settle = (error) => (error ? reject(error) : resolve());
        });
        const open = { begin, statementName: context.name, values: context.values, text: context.text };
        const sent = firstQueryPg(client, open, args, (error) => settle(error));
        if (sent) {
          pending = null;
          track(opening);
          return sent;
        }
        ensureOpen().catch(() => {});
      }
      return inFlight ? { result: after(args) } : null;
    },
    refused: () => refusal,
    // the command tag: COMMIT, or ROLLBACK for a transaction that had failed
    commit: async () => { await ensureOpen(); return (await client.query('COMMIT')).command; },
    // nothing was sent while the open waits: nothing to roll back
    rollback: async () => {
      if (pending) { pending = null; return; }
      if (inFlight) await inFlight.catch(() => {});
      await client.query('ROLLBACK');
    },
    broken: () => dead,
    gate: (scope) => pgGate(client, scope),
    release: (error) => {
      const failure = error ?? dead;
      // a client given up keeps the listener: an error it still raises
      // must not end the process either
      if (!failure) client.removeListener('error', onError);
      if (release) release(failure);
    },
  };
  return session;
}

// ---- postgres.js ------------------------------------------------------------

// A query of the reserved connection is lazy: it runs when awaited, which
// may be after fn has settled.  Its handler is wrapped so that it then
// fails instead (postgres.js 3 would run it on the released connection).
function gateQuery(result, scope) {
  if (result && typeof result.then === 'function' && typeof result.handler === 'function') {
    const handler = result.handler;
    const gated = (q) => {
      const refusal = scope.closed ? lateError(scope) : scope.session.broken();
      return refusal ? (q.fail ?? q.reject).call(q, refusal) : handler(q);
    };
    Object.setPrototypeOf(gated, handler);
    result.handler = gated;
  }
  return result;
}

function postgresJsGate(reserved, scope, session) {
  // a late call makes its query as usual: the query fails when it runs
  const wrap = (fn) => function gatedCall(...args) {
    return gateQuery(fn.apply(reserved, args), scope);
  };
  // savepoint(fn) or savepoint(name, fn), as postgres.js's sql.begin gives:
  // fn gets a gate of its own, closed when fn settles
  async function gateSavepoint(name, fn) {
    if (typeof name === 'function') { fn = name; name = null; }
    if (scope.closed) throw lateError(scope);
    return session.savepoint(scope, fn);
  }
  const gate = new Proxy(reserved, {
    apply(target, self, args) {
      return gateQuery(target.apply(self, args), scope);
    },
    get(target, prop) {
      if (prop === 'release') {
        return () => { throw new TrovellaError('trovella: withTenant releases its connection itself; do not release tx', 'TROVELLA_DRIVER'); };
      }
      if (prop === 'savepoint') return gateSavepoint;
      const value = Reflect.get(target, prop, target);
      if (typeof value === 'function' && ['unsafe', 'file', 'notify'].includes(prop)) return wrap(value);
      return value;
    },
  });
  SCOPES.set(gate, scope);
  return gate;
}

function postgresJsSession(reserved) {
  // postgres.js 3 tells its connection through onexecute: its onclose is
  // how a backend that died is seen (as its own sql.begin does), before a
  // write to the closed socket would throw outside any promise
  let connection;
  let dead;
  const onexecute = (c) => {
    connection = c;
    c.onclose = (error) => { dead = dead ?? error; };
    return true;
  };
  const session = {
    kind: 'postgres',
    connection: reserved,
    run: (text) => (dead ? Promise.reject(dead) : reserved.unsafe(text, [], { onexecute })),
    query: async (text, params) => Array.from(await reserved.unsafe(text, params)),
    open: async (begin, { text, params }) => {
      if (params) {
        await reserved.unsafe(begin, [], { onexecute });
        return Array.from(await reserved.unsafe(text, params));
      }
      const results = await reserved.unsafe(`${begin}; ${text}`, [], { onexecute });
      return Array.from(results[results.length - 1] ?? []);
    },
    route: () => null,
    refused: () => undefined,
    rollback: () => session.run('ROLLBACK'),
    commit: async () => {
      if (dead) throw dead;
      return (await reserved.unsafe('COMMIT', [], { onexecute })).command;
    },
    broken: () => dead,
    gate: (scope) => postgresJsGate(reserved, scope, session),
    savepoint: (scope, fn) => savepoint(scope, (child) => fn(child.session.gate(child))),
    release: () => {
      if (connection && connection.onclose) connection.onclose = null;
      // a closed connection stays with the pool's closed ones, which
      // reconnect: released, postgres.js 3 would hand it out as open
      if (!dead) reserved.release();
    },
  };
  return session;
}

module.exports = {
  SCOPES, BUSY, GUARDED, guardPool, lateError, savepoint, transactionStatus,
  isPgPool, isPgClient, isPostgresJs, isDrizzle, pgSession, postgresJsSession,
};
