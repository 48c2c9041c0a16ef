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

module.exports = { openPg };
