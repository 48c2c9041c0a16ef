// Personal access tokens end to end through the helpers: one pool creates
// a token, a second pool's requests authenticate with it, revocation stops
// the next request.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { drizzle } from 'drizzle-orm/node-postgres';
import { sql } from 'drizzle-orm';
import { createPAT, listPATs, revokePAT, authenticate } from 'trovella-drizzle';
import { adminClient, createAppRole, dropRole, newPool, userId } from './db.js';

const APP = 'regress_pat_app_server';
const GATEWAY = 'regress_pat_gateway';
const USER = userId(7);
let admin;
let appPool;
let gatewayPool;
let app;
let gateway;

before(async () => {
  admin = await adminClient();
  const appRole = await createAppRole(admin, APP);
  // the gateway may only obtain an identity by presenting a token
  const gatewayRole = await createAppRole(admin, GATEWAY);
  await admin.query(`REVOKE EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid), trovella.with_user(uuid),
      trovella.pat_create(text, timestamptz, text[]) FROM ${GATEWAY}`);
  appPool = newPool({ max: 3, user: appRole.user, password: appRole.password });
  gatewayPool = newPool({ max: 3, user: gatewayRole.user, password: gatewayRole.password });
  app = drizzle({ client: appPool });
  gateway = drizzle({ client: gatewayPool });
});

after(async () => {
  await appPool.end();
  await gatewayPool.end();
  await admin.query('DELETE FROM trovella.personal_access_token WHERE user_id = $1', [USER]);
  await dropRole(admin, APP);
  await dropRole(admin, GATEWAY);
  await admin.end();
});

test('create, authenticate from another pool, revoke, refuse', async () => {
  const expiresAt = new Date(Date.now() + 7 * 24 * 3600 * 1000);
  const { tokenId, token } = await createPAT(app, USER, { name: 'deploy bot', expiresAt, scopes: ['repo:read'] });
  assert.match(token, /^trv_[0-9A-Za-z]{36}$/);

  const listed = await listPATs(app, USER);
  assert.equal(listed.length, 1);
  assert.equal(listed[0].token_hint, token.slice(0, 8));
  assert.ok(!JSON.stringify(listed).includes(token), 'the list never shows the token');

  const seenUser = await authenticate(gateway, token, async (tx, identity) => {
    assert.deepEqual(identity.scopes, ['repo:read']);
    const { rows } = await tx.execute(sql`select trovella.current_user_id() as user_id`);
    return rows[0].user_id;
  });
  assert.equal(seenUser, USER, 'the gateway\'s transaction works for the token\'s user');

  await assert.rejects(
    gateway.execute(sql`select trovella.with_user(${USER}::uuid)`),
    (err) => (err.cause ?? err).code === '42501', 'the gateway cannot claim a user without a token');

  assert.equal(await revokePAT(app, USER, tokenId), true);
  assert.equal(await revokePAT(app, USER, tokenId), false, 'revoking twice is a no-op');
  await assert.rejects(
    authenticate(gateway, token, () => assert.fail('ran with a revoked token')),
    (err) => (err.cause ?? err).code === '28000');
  const after = await listPATs(app, USER);
  // drizzle's driver hands timestamps over as text
  assert.ok(after[0].revoked_at !== null && !Number.isNaN(Date.parse(after[0].revoked_at)),
    'pat_list shows when the token was revoked');
});

test('a mistyped token is refused with the same error', async () => {
  await assert.rejects(
    authenticate(gateway, 'trv_M7H4jxUDDWHP4kZ6A4dxlQYsQIWJuq11T4V5', () => assert.fail('ran')),
    (err) => (err.cause ?? err).code === '28000');
});
