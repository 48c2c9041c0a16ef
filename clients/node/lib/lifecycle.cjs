'use strict';
// A tenant's lifecycle, for the operations role: suspendTenant and
// resumeTenant call trovella.suspend_tenant() and resume_tenant() (0.5.0),
// each in a transaction of its own; isTenantSuspended recognises the
// refusal a suspended tenant's withTenant or authenticate rejects with;
// purgeTenant calls trovella.purge_tenant(), which commits as it goes, and
// reports its progress from the NOTICE it raises after each batch.

const { TrovellaError } = require('./error.cjs');
const { isPgPool, isPgClient, isPostgresJs, isDrizzle } = require('./session.cjs');

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

// the server's refusal of a suspended tenant: SQLSTATE 57000 (operator_intervention)
const SUSPENDED = '57000';

function tenantArg(tenantId) {
  if (typeof tenantId !== 'string' || !UUID.test(tenantId)) {
    throw new TrovellaError(`trovella: tenantId must be a uuid (8-4-4-4-12 hexadecimal digits), not this ${typeof tenantId}`, '22P02');
  }
  return tenantId.toLowerCase();
}

// One statement on db, whichever driver, in a transaction of its own: its first row.
async function one(db, text, params) {
  const target = isDrizzle(db) ? db.$client : db;
  if (isPgPool(target) || isPgClient(target)) return (await target.query(text, params)).rows[0];
  if (isPostgresJs(target)) return (await target.unsafe(text, params))[0];
  throw new TrovellaError('trovella: db must be a pg.Pool, a pg.Client, a postgres.js sql or a Drizzle database over either', 'TROVELLA_DRIVER');
}

// Suspends tenantId: true, or false when it was suspended already (the
// reason is then replaced).  The server refuses 22023 an empty reason,
// 42501 a role not granted the function.
async function suspendTenant(db, tenantId, reason) {
  const tenant = tenantArg(tenantId);
  if (typeof reason !== 'string') throw new TrovellaError('trovella: the reason must be a string', '22023');
  const row = await one(db, 'SELECT trovella.suspend_tenant($1::uuid, $2::text) AS changed', [tenant, reason]);
  return row.changed;
}

// Lifts tenantId's suspension: true, or false when it was not suspended.
async function resumeTenant(db, tenantId) {
  const row = await one(db, 'SELECT trovella.resume_tenant($1::uuid) AS changed', [tenantArg(tenantId)]);
  return row.changed;
}

// trovella.purge_tenant's NOTICE after each batch: table names and counts only
const PURGED = /^trovella\.purge_tenant: purged (\d+) rows of (.+) \((\d+) of (\d+)\)$/;

function purgeProgress(notice) {
  const m = notice && typeof notice.message === 'string' ? PURGED.exec(notice.message) : null;
  return m ? { table: m[2], rows: Number(m[1]), done: Number(m[3]), total: Number(m[4]) } : null;
}

// Purges tenantId (it must be suspended) on a connection of its own, outside
// any transaction, so that the procedure commits batch by batch; calls
// options.onProgress({ table, rows, done, total }) after each batch.
// Resolves to the receipt the server returned and kept.
async function purgeTenant(db, tenantId, options = {}) {
  const tenant = tenantArg(tenantId);
  const onProgress = options.onProgress;
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new TrovellaError('trovella: onProgress must be a function', '22023');
  }
  const target = isDrizzle(db) ? db.$client : db;
  const text = 'CALL trovella.purge_tenant($1::uuid)';
  if (isPgPool(target) || isPgClient(target)) {
    const client = isPgPool(target) ? await target.connect() : target;
    const listener = (notice) => {
      const progress = purgeProgress(notice);
      if (progress && onProgress) onProgress(progress);
    };
    client.on('notice', listener);
    try {
      return (await client.query(text, [tenant])).rows[0].receipt;
    } finally {
      client.removeListener('notice', listener);
      if (isPgPool(target)) client.release();
    }
  }
  if (isPostgresJs(target)) {
    if (onProgress) {
      throw new TrovellaError('trovella: onProgress needs a pg.Pool or pg.Client (postgres.js hands NOTICEs only to the onnotice of its options)', 'TROVELLA_DRIVER');
    }
    return (await target.unsafe(text, [tenant]))[0].receipt;
  }
  throw new TrovellaError('trovella: db must be a pg.Pool, a pg.Client, a postgres.js sql or a Drizzle database over either', 'TROVELLA_DRIVER');
}

// Whether error is the server's refusal of a suspended tenant; its detail
// is then the operators' reason.
function isTenantSuspended(error) {
  return error != null && error.code === SUSPENDED && typeof error.message === 'string'
    && / the tenant is suspended$/.test(error.message);
}

module.exports = { suspendTenant, resumeTenant, isTenantSuspended, purgeTenant };
