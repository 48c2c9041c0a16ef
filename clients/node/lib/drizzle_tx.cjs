'use strict';
// What fn receives for a Drizzle database: a Drizzle transaction, as the
// database's own db.transaction() gives, over the gate of this transaction,
// with the database's every option (schema, casing, logger, cache): its
// dialect and its session's options are the database's own.  Its
// tx.transaction() is a savepoint, as in Drizzle.

const SCHEMAS = new WeakMap();

function schemaOf(db) {
  let schema = SCHEMAS.get(db);
  if (schema === undefined) {
    const inner = db._ || {};
    schema = inner.schema ? { fullSchema: inner.fullSchema, schema: inner.schema, tableNamesMap: inner.tableNamesMap } : null;
    SCHEMAS.set(db, schema);
  }
  return schema ?? undefined;
}

let classes;
function drizzleClasses(kind) {
  classes = classes || {};
  if (!classes[kind]) {
    // eslint-disable-next-line global-require
    const m = kind === 'postgres' ? require('drizzle-orm/postgres-js') : require('drizzle-orm/node-postgres');
    classes[kind] = kind === 'postgres'
      ? { Session: m.PostgresJsSession, Transaction: m.PostgresJsTransaction }
      : { Session: m.NodePgSession, Transaction: m.NodePgTransaction };
  }
  return classes[kind];
}

// db: the application's Drizzle database, or a transaction of ours (nested)
function drizzleTransaction(db, gate, kind, depth) {
  const { Session, Transaction } = drizzleClasses(kind);
  const schema = schemaOf(db);
  const session = new Session(gate, db.dialect, schema, db.session.options);
  return new Transaction(db.dialect, session, schema, depth);
}

module.exports = { drizzleTransaction };
