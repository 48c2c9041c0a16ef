// What the client suites share: connections to the throwaway cluster (its
// PG* variables), an application role per suite, and tenant ids.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const DATABASE = process.env.TROVELLA_TEST_DB || 'trovella_client';

export function newPool(options = {}) {
  return new pg.Pool({ database: DATABASE, ...options });
}

// A connection as the cluster's superuser, for set-up only.
export async function adminClient() {
  const client = new pg.Client({ database: DATABASE });
  await client.connect();
  return client;
}

// An unprivileged login role granted what the README grants an application.
export async function createAppRole(admin, name) {
  const password = randomBytes(18).toString('base64url');
  await admin.query(`DROP ROLE IF EXISTS ${name}`);
  await admin.query(`CREATE ROLE ${name} LOGIN PASSWORD '${password}'`);
  await admin.query(`GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid), trovella.with_user(uuid),
      trovella.pat_create(text, timestamptz, text[]), trovella.pat_list(), trovella.pat_revoke(uuid),
      trovella.pat_verify(text), trovella.authenticate(text) TO ${name}`);
  return { user: name, password };
}

export async function dropRole(admin, name) {
  await admin.query(`DROP OWNED BY ${name}`);
  await admin.query(`DROP ROLE ${name}`);
}

// The i-th test tenant, and the i-th test user.
export const tenantId = (i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
export const userId = (i) => `11111111-0000-4000-8000-${String(i).padStart(12, '0')}`;

export { pg };
