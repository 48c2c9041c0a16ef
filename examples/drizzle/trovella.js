// trovella from drizzle-orm (node-postgres driver): the application side.
//
//   import { withTenant, ulidPrimaryKey, createPAT } from './trovella.js';
//   const projects = pgTable('projects', { id: ulidPrimaryKey(), tenantId: uuid('tenant_id').notNull(), ... });
//   await withTenant(db, tenantId, userId, (tx) => tx.select().from(projects));
//
// Every helper runs its work in one transaction that names the tenant or the
// user first: the context ends with the transaction, so a pooled connection
// never carries it to its next borrower.
import { sql } from 'drizzle-orm';
import { uuid } from 'drizzle-orm/pg-core';

// A uuid primary key filled with a time-ordered ULID by the database.
export function ulidPrimaryKey(name = 'id') {
  return uuid(name).primaryKey().default(sql`trovella.ulid_uuid()`);
}

// Runs fn(tx) in a transaction working for tenantId (and userId, if given).
export function withTenant(db, tenantId, userId, fn) {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select trovella.with_tenant(${tenantId}::uuid, ${userId ?? null}::uuid)`);
    return fn(tx);
  });
}

// Runs fn(tx) in a transaction working for userId alone (their own tokens).
export function withUser(db, userId, fn) {
  return db.transaction(async (tx) => {
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
  return db.transaction(async (tx) => {
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
