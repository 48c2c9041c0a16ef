'use strict';
// Opening a tenant transaction over node-postgres in one write and one
// round trip, with the context statement prepared once per connection.
//
// BEGIN (parsed each time: a utility statement, no plan) and the named
// context statement (parsed on a connection's first transaction, then only
// bound: no parsing and planning per transaction) travel in the extended
// protocol, one Sync for both: either both run or neither does.  A
// connection where the statement is unknown (26000: PgBouncer in
// transaction mode without prepared statement support, a DISCARD ALL) or
// already there (42P05) goes on with the simple protocol: BEGIN and the
// statement, its ids inlined after a strict check, as one message.
//
// Once a connection has the statement, the transaction opens with fn's
// first query instead (FirstQuery): BEGIN, the context statement and that
// query in one write under one Sync, so that opening costs no round trip of
// its own.  The server runs them in order and skips the rest after an
// error: a query never runs without its context, and a refused context
// (42501, 25000...) is the error of that query, and of withTenant.

// client -> 'prepared' | 'simple'
const MODES = new WeakMap();

class OpenTransaction {
  constructor(begin, name, text, values, parse) {
    Object.assign(this, { begin, statementName: name, statementText: text, values, parse });
    this.rows = [];
    this.promise = new Promise((resolve, reject) => { this.resolve = resolve; this.reject = reject; });
  }

  submit(connection) {
    // the messages gathered and written at once: one write, one segment
    const send = connection._send;
    const chunks = [];
    const gather = typeof send === 'function';
    if (gather) connection._send = (buffer) => { chunks.push(buffer); return true; };
    connection.parse({ text: this.begin, types: [] });
    connection.bind({ values: [] });
    connection.execute({});
    if (this.parse) connection.parse({ name: this.statementName, text: this.statementText, types: [] });
    connection.bind({ statement: this.statementName, values: this.values });
    connection.execute({});
    connection.sync();
    if (gather) {
      delete connection._send;
      if (connection._send !== send) connection._send = send;
      connection._send(Buffer.concat(chunks));
    }
  }

  handleRowDescription() {}
  handleDataRow(message) { this.rows.push(message.fields); }
  handleCommandComplete() {}
  handleEmptyQuery() {}
  handlePortalSuspended() {}
  handleCopyInResponse() {}
  handleError(error) {
    // pg drops the active query on an error; the ReadyForQuery that follows
    // finds none
    this.failed = true;
    this.reject(error);
  }
  handleReadyForQuery() {
    if (!this.failed) this.resolve(this.rows);
  }
}

// begin: BEGIN [READ ONLY]; context: { text (ids inlined), name, statement,
// values }, or { text, params } (a token: a bind parameter, after BEGIN)
async function openPg(client, begin, context) {
  if (context.params) {
    await client.query(begin);
    return (await client.query(context.text, context.params)).rows;
  }
  // pg's JavaScript client (pg-native's has no protocol connection)
  const extended = client.connection && typeof client.connection.parse === 'function';
  if (context.name && extended && MODES.get(client) !== 'simple') {
    const parse = MODES.get(client) !== 'prepared';
    const open = new OpenTransaction(begin, context.name, context.statement, context.values, parse);
    client.query(open);
    try {
      await open.promise;
      MODES.set(client, 'prepared');
      return [];
    } catch (error) {
      if (error.code !== '26000' && error.code !== '42P05') throw error;
      // BEGIN may have run: end it, then the simple protocol from now on
      await client.query('ROLLBACK');
      MODES.set(client, 'simple');
    }
  }
  const results = await client.query(`${begin}; ${context.text}`);
  return results[results.length - 1].rows;
}

// The first query of fn behind BEGIN and the context statement: a pg Query
// (what client.query would make of the same arguments) wrapped in one
// submittable whose first two CommandCompletes are BEGIN's and the
// context's.  settle(error) is told whether the context was set; a missing
// statement (26000, 42P05) is retried by reopen() in the simple protocol,
// the query after it.
class FirstQuery {
  constructor(open, query, settle, reopen) {
    Object.assign(this, { open, query, settle, reopen });
    this.text = query.text;
    this.seen = 0;
  }

  submit(connection) {
    const { stream } = connection;
    const { query } = this;
    if (stream.cork) stream.cork();
    let failed;
    let synced = false;
    const handleError = query.handleError;
    // a value the query cannot serialize fails it before its Execute: pg
    // then closes the statement and sends the Sync itself
    query.handleError = (error) => { failed = error; synced = true; };
    try {
      connection.parse({ text: this.open.begin, types: [] });
      connection.bind({ values: [] });
      connection.execute({});
      connection.bind({ statement: this.open.statementName, values: this.open.values });
      connection.execute({});
      const error = query.submit(connection);
      failed = failed ?? error ?? undefined;
      // BEGIN and the context still run, under one Sync (a second would
      // be a second ReadyForQuery, taken for the next query's answer); the
      // query's own error is told at ReadyForQuery
      if (failed && !synced) connection.sync();
    } finally {
      query.handleError = handleError;
      if (stream.uncork) stream.uncork();
    }
    this.failed = failed;
    return null;
  }

  handleRowDescription(message) { if (this.seen >= 2) this.query.handleRowDescription(message); }
  handleDataRow(message) { if (this.seen >= 2) this.query.handleDataRow(message); }
  handleCommandComplete(message, connection) {
    if (this.seen < 2) {
      this.seen += 1;
      if (this.seen === 2) this.settle(null);
      return;
    }
    this.query.handleCommandComplete(message, connection);
  }
  handleEmptyQuery(connection) { this.query.handleEmptyQuery(connection); }
  handlePortalSuspended(connection) { this.query.handlePortalSuspended(connection); }
  handleCopyInResponse(connection) { this.query.handleCopyInResponse(connection); }
  handleCopyData(message, connection) { this.query.handleCopyData(message, connection); }
  handleError(error, connection) {
    if (this.callback) this.callback(error);
    if (this.seen >= 2) {
      this.query.handleError(error, connection);
      return;
    }
    // the context was not set, and the query did not run
    if (error.code === '26000' || error.code === '42P05') {
      this.reopen().then(
        () => { this.settle(null); this.resubmit(); },
        (refusal) => { this.settle(refusal); this.query.handleError(refusal, connection); },
      );
      return;
    }
    this.settle(error);
    this.query.handleError(error, connection);
  }
  handleReadyForQuery(connection) {
    if (this.callback) this.callback(null);
    if (this.failed) this.query.handleError(this.failed, connection);
    else this.query.handleReadyForQuery(connection);
  }
}

// fn's first query through a pg client whose transaction is not open yet:
// a promise (or undefined, with a callback) when it went out behind BEGIN
// and the context statement; null when it cannot (a simple-protocol
// query, a named statement, a cursor, pipeline mode, pg-native).
function firstQueryPg(client, open, args, settle) {
  const [config, values, callback] = args;
  if (!firstQueryPg.ready(client) || config == null || typeof config.submit === 'function') return null;
  const query = new client.constructor.Query(config, values, callback);
  if (!query.requiresPreparation() || query.name || query.rows || typeof query.text !== 'string'
    || (query.values != null && !Array.isArray(query.values))) return null;
  let result;
  if (!query.callback) {
    result = new Promise((resolve, reject) => {
      query.callback = (error, res) => (error ? reject(error) : resolve(res));
    });
  }
  if (client.binary && !query.binary) query.binary = true;
  if (query._result && !query._result._types) query._result._types = client._types;
  const first = new FirstQuery(open, query, settle, async () => {
    MODES.set(client, 'simple');
    await client.query('ROLLBACK');
    await client.query(`${open.begin}; ${open.text}`);
  });
  first.resubmit = () => client.query(query);
  client.query(first);
  return { result };
}

// whether this client can send a first query behind the open: pg's
// JavaScript client (its Query class, a protocol connection), not in
// pipeline mode, and the context statement known on its connection
firstQueryPg.ready = (client) => {
  const connection = client.connection;
  return MODES.get(client) === 'prepared' && !client.pipeline && typeof (client.constructor && client.constructor.Query) === 'function'
    && connection != null && typeof connection.parse === 'function' && connection.stream != null;
};

module.exports = { openPg, firstQueryPg };
