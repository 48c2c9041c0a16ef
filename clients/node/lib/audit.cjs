'use strict';
// Reading the audit trail (trovella.audit_log, extension 0.5.0) inside the
// caller's tenant transaction: a row's history, and a tenant's latest
// records.  The tenant is the transaction's: row-level security on the
// history gives a tenant its own records only, and no context fails 42501.
//
// Every value travels as a bind parameter: the table's name as text cast to
// regclass on the server, the key as text (a composite key as text[] that
// the server writes the way the audit trigger writes row_key).  Every
// column is read as text and typed here, whatever type parsers the
// application installed in its driver.

const { TrovellaError } = require('./error.cjs');

const COLUMNS = `seq::text AS seq, table_text, operation, row_key, tenant_id::text AS tenant_id,
  user_id::text AS user_id, role, login_role, xact::text AS xact,
  pg_catalog.to_json(at) #>> '{}' AS at, old::text AS old, new::text AS new`;

// row_key of a composite key: a JSON array of each column's text
// (escape_json, as to_json writes a text), null for a null column
const COMPOSITE_KEY = `(SELECT '[' || pg_catalog.string_agg(COALESCE(pg_catalog.to_json(k)::text, 'null'), ',' ORDER BY n) || ']'
  FROM pg_catalog.unnest($2::text[]) WITH ORDINALITY AS u(k, n))`;

const HISTORY = {};
for (const composite of [false, true]) {
  for (const order of ['ASC', 'DESC']) {
    HISTORY[`${composite}${order}`] = `SELECT ${COLUMNS} FROM trovella.audit_log
WHERE table_name = $1::pg_catalog.regclass AND row_key = ${composite ? COMPOSITE_KEY : '$2::text'}
ORDER BY audit_log.seq ${order} LIMIT $3::bigint`;
  }
}

// the page's statement: $1 the limit, then before's and table's when given
function logStatement(before, table) {
  const where = [];
  if (before) where.push('seq < $2::bigint');
  if (table) where.push(`table_name = $${before ? 3 : 2}::pg_catalog.regclass`);
  return `SELECT ${COLUMNS} FROM trovella.audit_log
${where.length ? `WHERE ${where.join(' AND ')}\n` : ''}ORDER BY audit_log.seq DESC LIMIT $1::bigint`;
}

const DRIZZLE_NAME = Symbol.for('drizzle:Name');
const DRIZZLE_BASE_NAME = Symbol.for('drizzle:BaseName');
const DRIZZLE_SCHEMA = Symbol.for('drizzle:Schema');
const DRIZZLE_COLUMNS = Symbol.for('drizzle:Columns');

function badArgument(message) {
  return new TrovellaError(`trovella: ${message}`, '22023');
}

function quoteIdent(name) {
  return `"${name.replace(/"/g, '""')}"`;
}

// { regclass text, column name -> property name or null }
function tableOf(table, what) {
  if (typeof table === 'string') {
    if (table === '') throw badArgument(`${what} needs a table name`);
    return { name: table, properties: null };
  }
  if (table != null && typeof table === 'object' && typeof table[DRIZZLE_NAME] === 'string') {
    const name = table[DRIZZLE_BASE_NAME] ?? table[DRIZZLE_NAME];
    const schema = table[DRIZZLE_SCHEMA];
    const properties = new Map();
    for (const [property, column] of Object.entries(table[DRIZZLE_COLUMNS] ?? {})) {
      if (column && typeof column.name === 'string') properties.set(column.name, property);
    }
    return { name: schema ? `${quoteIdent(schema)}.${quoteIdent(name)}` : quoteIdent(name), properties };
  }
  throw badArgument(`${what} takes a table name (a string, schema-qualified or not, as regclass reads it) or a Drizzle table`);
}

function keyText(value) {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw badArgument('history: a key value must be a finite number');
    return String(value);
  }
  if (typeof value === 'bigint') return value.toString();
  throw badArgument(`history: a key value is a string, a number or a bigint, not this ${value === null ? 'null' : typeof value}`);
}

function limitOf(limit, what, fallback) {
  if (limit === undefined || limit === null) return fallback;
  if (!Number.isSafeInteger(limit) || limit < 1) throw badArgument(`${what}: limit must be a positive integer`);
  return String(limit);
}

// The statement runner of tx: a node-postgres client (or withTenant's tx
// over one), a postgres.js connection, or a Drizzle transaction over either.
async function query(tx, text, params) {
  let target = tx;
  if (target != null && typeof target.execute === 'function' && target.session && target.session.client) {
    target = target.session.client;
  }
  if (typeof target === 'function' && typeof target.unsafe === 'function') {
    return Array.from(await target.unsafe(text, params));
  }
  if (target != null && typeof target.query === 'function') {
    return (await target.query(text, params)).rows;
  }
  throw new TrovellaError('trovella: tx must be the transaction withTenant gave (node-postgres, postgres.js or Drizzle), '
    + 'or a client inside a transaction that called trovella.with_tenant', 'TROVELLA_DRIVER');
}

function values(json, properties) {
  if (json == null) return null;
  const parsed = JSON.parse(json);
  if (!properties) return parsed;
  const out = {};
  for (const [column, value] of Object.entries(parsed)) out[properties.get(column) ?? column] = value;
  return out;
}

function record(row, properties) {
  return {
    seq: row.seq,
    table: row.table_text,
    operation: row.operation,
    rowKey: row.row_key,
    tenantId: row.tenant_id,
    userId: row.user_id,
    role: row.role,
    loginRole: row.login_role,
    xact: row.xact,
    at: new Date(row.at),
    old: values(row.old, properties),
    new: values(row.new, properties),
  };
}

// The audit records of one row of table, oldest first (newestFirst: the
// latest first), in tx's tenant.  id: the key's value, or for a key of
// several columns (the tenant column left out) their values in the key's
// order.
async function history(tx, table, id, options = {}) {
  const { name, properties } = tableOf(table, 'history');
  let key;
  let composite = false;
  if (Array.isArray(id)) {
    if (id.length === 0) throw badArgument('history: a key needs at least one value');
    if (id.length === 1) {
      key = keyText(id[0]);
    } else {
      key = id.map((v) => (v === null ? null : keyText(v)));
      composite = true;
    }
  } else {
    key = keyText(id);
  }
  const order = options.newestFirst ? 'DESC' : 'ASC';
  const rows = await query(tx, HISTORY[`${composite}${order}`], [name, key, limitOf(options.limit, 'history', null)]);
  return rows.map((row) => record(row, properties));
}

// A page of tx's tenant's audit log: its latest records, newest first,
// before: only those numbered below it (the last seq of the page before),
// table: of that table only.
async function auditLog(tx, options = {}) {
  const { before, table } = options;
  const params = [limitOf(options.limit, 'auditLog', '50')];
  let properties = null;
  if (before !== undefined && before !== null) {
    const text = typeof before === 'bigint' || typeof before === 'number' ? String(before) : before;
    if (typeof text !== 'string' || !/^[0-9]+$/.test(text)) throw badArgument('auditLog: before must be a seq (a non-negative integer)');
    params.push(text);
  }
  if (table !== undefined && table !== null) {
    const resolved = tableOf(table, 'auditLog');
    params.push(resolved.name);
    properties = resolved.properties;
  }
  const rows = await query(tx, logStatement(before != null, table != null), params);
  return rows.map((row) => record(row, properties));
}

module.exports = { history, auditLog };
