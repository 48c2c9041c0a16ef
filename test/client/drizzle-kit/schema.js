// An isolated table declared with trovella-drizzle's helpers: drizzle-kit
// generate and push see trovella's policies, RLS and tenant default as
// wanted, not as drift.
import { index, pgTable, text } from 'drizzle-orm/pg-core';
import { ulidPrimaryKey, tenantColumn, tenantPolicies } from 'trovella-drizzle';

export const projects = pgTable('dk_projects', {
  id: ulidPrimaryKey(),
  tenantId: tenantColumn(),
  name: text('name').notNull(),
}, (t) => [
  index('dk_projects_tenant_idx').on(t.tenantId, t.id),
  ...tenantPolicies(),
]).enableRLS();
