'use strict';
// Drizzle ORM declarations for drizzle-kit (push and generate then see no
// drift on an isolated table): the tenant column, trovella's two policies,
// and a ULID primary key filled by the database.

const { sql } = require('drizzle-orm');
const { pgPolicy, uuid } = require('drizzle-orm/pg-core');

// A uuid primary key filled with a time-ordered ULID by the database.
function ulidPrimaryKey(name = 'id') {
  return uuid(name).primaryKey().default(sql`trovella.ulid_uuid()`);
}

// The tenant column as enable_tenant_isolation() leaves it: uuid, not
// null, filled from the transaction's tenant.
function tenantColumn(name = 'tenant_id') {
  return uuid(name).notNull().default(sql`trovella.current_tenant()`);
}

// trovella's two policies, written as PostgreSQL prints them back
// (pg_get_expr), which is what drizzle-kit compares.  Use with .enableRLS();
// FORCE ROW LEVEL SECURITY cannot be declared, so a custom migration still
// runs trovella.enable_tenant_isolation().
function tenantPolicies(column = 'tenant_id') {
  if (!/^[a-z_][a-z0-9_]*$/.test(column)) {
    throw new TypeError(`trovella: tenantPolicies needs a lower-case, unquoted column name, not ${JSON.stringify(column)}`);
  }
  const check = sql.raw(`(${column} = ( SELECT trovella.current_tenant() AS current_tenant))`);
  return [
    pgPolicy('trovella_tenant_isolation', { as: 'restrictive', for: 'all', to: 'public', using: check, withCheck: check }),
    pgPolicy('trovella_tenant_access', { as: 'permissive', for: 'all', to: 'public', using: check, withCheck: check }),
  ];
}

module.exports = { ulidPrimaryKey, tenantColumn, tenantPolicies };
