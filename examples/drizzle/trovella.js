// trovella from drizzle-orm (node-postgres driver): the application side.
//
//   import { withTenant, ulidPrimaryKey, createPAT } from './trovella.js';
//   const projects = pgTable('projects', { id: ulidPrimaryKey(), tenantId: uuid('tenant_id').notNull(), ... });
//   await withTenant(db, tenantId, userId, (tx) => tx.select().from(projects));
//
// Every helper runs its work in one transaction that names the tenant or the
// user first: the context ends with the transaction, so a pooled connection
// never carries it to its next borrower.  The pool behind db is guarded
// (guardPool below) the first time a helper uses it.
import { sql } from 'drizzle-orm';
import { pgPolicy, uuid } from 'drizzle-orm/pg-core';

const GUARDED = Symbol('trovella.guardedPool');

function transactionStatus(client) {
  if (typeof client.getTransactionStatus !== 'function') {
    throw new Error('trovella: guardPool needs pg 8.21 or later (Client.getTransactionStatus)');
  }
  return client.getTransactionStatus();
}

// Makes a pg.Pool refuse to pass on a connection in the middle of a
// transaction.  A client released while its transaction is still open
// (release() without COMMIT or ROLLBACK, or a ROLLBACK that failed) would
// carry that transaction, tenant context included, to whoever borrows it
// next: pool.query() would read the previous tenant's rows.  A guarded pool
// destroys such a client instead, and never hands one out.  Returns the pool.
export function guardPool(pool) {
  if (pool[GUARDED]) return pool;
  const connect = pool.connect.bind(pool);
  async function guardedConnect() {
    for (;;) {
      const client = await connect();
      if (transactionStatus(client) !== 'I') {
        // released carelessly behind the guard's back: never reuse it
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

// drizzle over a pg.Pool: its pool, guarded.  A db over a single client
// is the caller's to manage.
function guarded(db) {
  const client = db.$client;
  if (client && typeof client.connect === 'function' && typeof client.totalCount === 'number') {
    guardPool(client);
  }
  return db;
}

// A uuid primary key filled with a time-ordered ULID by the database.
export function ulidPrimaryKey(name = 'id') {
  return uuid(name).primaryKey().default(sql`trovella.ulid_uuid()`);
}

// The tenant column as enable_tenant_isolation() leaves it: uuid, not null,
// filled from the transaction's tenant.
export function tenantColumn(name = 'tenant_id') {
  return uuid(name).notNull().default(sql`trovella.current_tenant()`);
}

// trovella's two policies on an isolated table, declared for drizzle-kit so
// that push and generate see no drift (they would drop them otherwise).
// Use with .enableRLS(); FORCE ROW LEVEL SECURITY cannot be declared, so a
// custom migration still runs trovella.enable_tenant_isolation():
//
//   export const projects = pgTable('projects', {
//     id: ulidPrimaryKey(), tenantId: tenantColumn(), name: text('name').notNull(),
//   }, () => tenantPolicies()).enableRLS();
//
// The clauses are written as PostgreSQL prints them back (pg_get_expr), which
// is what drizzle-kit compares.
export function tenantPolicies(column = 'tenant_id') {
  if (!/^[a-z_][a-z0-9_]*$/.test(column)) {
    throw new Error(`trovella: tenantPolicies needs a lower-case, unquoted column name, not ${JSON.stringify(column)}`);
  }
  const check = sql.raw(`(${column} = ( SELECT trovella.current_tenant() AS current_tenant))`);
  return [
    pgPolicy('trovella_tenant_isolation', { as: 'restrictive', for: 'all', to: 'public', using: check, withCheck: check }),
    pgPolicy('trovella_tenant_access', { as: 'permissive', for: 'all', to: 'public', using: check, withCheck: check }),
  ];
}

// Runs fn(tx) in a transaction working for tenantId (and userId, if given).
export function withTenant(db, tenantId, userId, fn) {
  return guarded(db).transaction(async (tx) => {
    await tx.execute(sql`select trovella.with_tenant(${tenantId}::uuid, ${userId ?? null}::uuid)`);
    return fn(tx);
  });
}

// Runs fn(tx) in a transaction working for userId alone (their own tokens).
export function withUser(db, userId, fn) {
  return guarded(db).transaction(async (tx) => {
    await tx.execute(sql`select trovella.with_user(${userId}::uuid)`);
    return fn(tx);
  });
}

// A new token for userId: { tokenId, token }. The plaintext exists only here.
export async function createPAT(db, userId, { name, expiresAt, scopes = [] }) {
  return withUser(db, userId, async (tx) => {
    const { rows } = await tx.execute(sql`
      select token_id, token
      from trovella.pat_create(${name}, ${expiresAt}::timestamptz, ${sql.param(scopes)}::text[])`);
    return { tokenId: rows[0].token_id, token: rows[0].token };
  });
}

// userId's tokens, newest first, with hints instead of secrets.
export async function listPATs(db, userId) {
  return withUser(db, userId, async (tx) => {
    const { rows } = await tx.execute(sql`select * from trovella.pat_list()`);
    return rows;
  });
}

// Revokes one of userId's tokens; false when it is not theirs or already revoked.
export async function revokePAT(db, userId, tokenId) {
  return withUser(db, userId, async (tx) => {
    const { rows } = await tx.execute(sql`select trovella.pat_revoke(${tokenId}::uuid) as revoked`);
    return rows[0].revoked;
  });
}

// Runs fn(tx, identity) in a transaction working for the token's user; an
// invalid token rejects with SQLSTATE 28000 before fn runs.
export function authenticate(db, token, fn) {
  return guarded(db).transaction(async (tx) => {
    const { rows } = await tx.execute(sql`
      select token_id, user_id, scopes, expires_at from trovella.authenticate(${token})`);
    const identity = {
      tokenId: rows[0].token_id,
      userId: rows[0].user_id,
      scopes: rows[0].scopes,
      expiresAt: rows[0].expires_at,
    };
    return fn(tx, identity);
  });
}
