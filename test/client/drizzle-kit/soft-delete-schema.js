// schema.js's table, and a second one with trovella's standard columns and
// soft delete declared through the package's helpers: drizzle-kit push sees
// the columns, their defaults and the soft delete policy as wanted.
import { index, pgTable, text } from 'drizzle-orm/pg-core';
import { softDeleteColumns, softDeletePolicy, standardColumns } from 'trovella/drizzle';
import { ulidPrimaryKey, tenantColumn, tenantPolicies } from 'trovella-drizzle';

export { projects } from './schema.js';

export const notes = pgTable('dk_notes', {
  id: ulidPrimaryKey(),
  tenantId: tenantColumn(),
  body: text('body'),
  ...standardColumns(),
  ...softDeleteColumns(),
}, (t) => [
  index('dk_notes_tenant_idx').on(t.tenantId),
  ...tenantPolicies(),
  softDeletePolicy(),
]).enableRLS();
