'use strict';
// Export and import of a tenant, for the operations role (extension 0.5.0):
// exportTenant streams trovella.export_tenant()'s rows through a cursor on a
// connection of its own, in one transaction (one snapshot), and reports the
// NOTICEs it raises as progress; importTenant calls trovella.import_tenant()
// on a table the export was loaded into.

const { TrovellaError } = require('./error.cjs');
const { isPgPool, isPgClient, isPostgresJs, isDrizzle } = require('./session.cjs');

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const DRIVER = 'trovella: db must be a pg.Pool, a pg.Client, a postgres.js sql or a Drizzle database over either';

// trovella.export_tenant's NOTICE every progressRows rows of a table: its name and a count only
const EXPORTED = /^trovella: exported (\d+) rows of (.+)$/;

function exportProgress(notice) {
  const m = notice && typeof notice.message === 'string' ? EXPORTED.exec(notice.message) : null;
  return m ? { table: m[2], rows: Number(m[1]) } : null;
}

function exportArgs(tenantId, options) {
  if (typeof tenantId !== 'string' || !UUID.test(tenantId)) {
    throw new TrovellaError(`trovella: tenantId must be a uuid (8-4-4-4-12 hexadecimal digits), not this ${typeof tenantId}`, '22P02');
  }
  const { onProgress, progressRows = 100000, batchRows = 1000 } = options;
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new TrovellaError('trovella: onProgress must be a function', '22023');
  }
  for (const [name, value] of [['progressRows', progressRows], ['batchRows', batchRows]]) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new TrovellaError(`trovella: ${name} must be a positive integer`, '22023');
    }
  }
  return { tenant: tenantId.toLowerCase(), onProgress, progressRows, batchRows };
}

function exportRow(r) {
  return { ordinal: Number(r.ordinal), table: r.table_name, row: r.row };
}

// Every row of the tenant, then the manifest (table null), as an async
// iterable: for await (const { ordinal, table, row } of exportTenant(...)).
async function* exportTenant(db, tenantId, options = {}) {
  const { tenant, onProgress, progressRows, batchRows } = exportArgs(tenantId, options);
  const target = isDrizzle(db) ? db.$client : db;
  // the values are checked above: a uuid and an integer
  const query = `SELECT ordinal, table_name, "row" FROM trovella.export_tenant('${tenant}'::uuid, ${progressRows})`;
  if (isPgPool(target) || isPgClient(target)) {
    const client = isPgPool(target) ? await target.connect() : target;
    const listener = (notice) => {
      const progress = exportProgress(notice);
      if (progress && onProgress) onProgress(progress);
    };
    client.on('notice', listener);
    let open = false;
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      open = true;
      await client.query(`DECLARE trovella_export NO SCROLL CURSOR FOR ${query}`);
      for (;;) {
        const { rows } = await client.query(`FETCH ${batchRows} FROM trovella_export`);
        for (const r of rows) yield exportRow(r);
        if (rows.length < batchRows) break;
      }
      await client.query('COMMIT');
      open = false;
    } finally {
      if (open) await client.query('ROLLBACK').catch(() => {});
      client.removeListener('notice', listener);
      if (isPgPool(target)) client.release();
    }
    return;
  }
  if (isPostgresJs(target)) {
    if (onProgress) {
      throw new TrovellaError('trovella: onProgress needs a pg.Pool or pg.Client (postgres.js hands NOTICEs only to the onnotice of its options)', 'TROVELLA_DRIVER');
    }
    for await (const rows of target.unsafe(query).cursor(batchRows)) {
      for (const r of rows) yield exportRow(r);
    }
    return;
  }
  throw new TrovellaError(DRIVER, 'TROVELLA_DRIVER');
}

// Restores the export loaded into table source (ordinal bigint, table_name
// text, row jsonb): resolves to [{ table, rows }] in the order inserted.
async function importTenant(db, source) {
  if (typeof source !== 'string' || source === '') {
    throw new TrovellaError('trovella: source must be the name of the table the export was loaded into', '22023');
  }
  const target = isDrizzle(db) ? db.$client : db;
  const text = 'SELECT table_name, rows FROM trovella.import_tenant($1::regclass)';
  let rows;
  if (isPgPool(target) || isPgClient(target)) rows = (await target.query(text, [source])).rows;
  else if (isPostgresJs(target)) rows = await target.unsafe(text, [source]);
  else throw new TrovellaError(DRIVER, 'TROVELLA_DRIVER');
  return rows.map((r) => ({ table: r.table_name, rows: Number(r.rows) }));
}

module.exports = { exportTenant, importTenant };
