// An application's own module over the trovella package (clients/node):
// the package's calls, and the token helpers this app builds on withUser.
//
//   import { withTenant, ulidPrimaryKey, createPAT } from './trovella.js';
//   const projects = pgTable('projects', { id: ulidPrimaryKey(), tenantId: tenantColumn(), ... });
//   await withTenant(db, tenantId, userId, (tx) => tx.select().from(projects));
export { withTenant, withUser, authenticate, guardPool, checkDatabase, applySeeds, richId, richIdToUuid } from 'trovella';
export { ulidPrimaryKey, tenantColumn, tenantPolicies } from 'trovella/drizzle';
import { sql } from 'drizzle-orm';
import { withUser } from 'trovella';

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
  return withUser(db, userId, async (tx) => (await tx.execute(sql`select * from trovella.pat_list()`)).rows);
}

// Revokes one of userId's tokens; false when it is not theirs or already revoked.
export async function revokePAT(db, userId, tokenId) {
  return withUser(db, userId, async (tx) => {
    const { rows } = await tx.execute(sql`select trovella.pat_revoke(${tokenId}::uuid) as revoked`);
    return rows[0].revoked;
  });
}
