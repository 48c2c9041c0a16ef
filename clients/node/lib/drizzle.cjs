'use strict';
// Drizzle ORM declarations for drizzle-kit (push and generate then see no
// drift on an isolated table): the tenant column, trovella's two policies,
// a ULID primary key filled by the database, the standard columns and soft
// delete's columns and policy.

const { sql } = require('drizzle-orm');
const { pgPolicy, timestamp, uuid } = require('drizzle-orm/pg-core');

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

// The columns enable_standard_columns() adds, which its trigger keeps from
// the transaction's time and the context's user (what the application
// sends is overwritten): spread them into pgTable's columns.
function standardColumns() {
  return {
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    createdBy: uuid('created_by'),
    updatedBy: uuid('updated_by'),
  };
}

// The columns enable_soft_delete() adds: written by its trigger only (a
// DELETE marks the row; trovella.restore() clears the mark).
function softDeleteColumns() {
  return {
    deletedAt: timestamp('deleted_at', { withTimezone: true }),
    deletedBy: uuid('deleted_by'),
  };
}

// The restrictive policy enable_soft_delete() adds, as PostgreSQL prints it
// back: declare it beside tenantPolicies(), or drizzle-kit push drops it.
function softDeletePolicy() {
  return pgPolicy('trovella_soft_delete', {
    as: 'restrictive',
    for: 'select',
    to: 'public',
    using: sql.raw('((deleted_at IS NULL) OR trovella.deleted_rows_visible())'),
  });
}

module.exports = {
  ulidPrimaryKey, tenantColumn, tenantPolicies, standardColumns, softDeleteColumns, softDeletePolicy,
};
