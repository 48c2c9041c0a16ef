// The same table without trovella's declarations: what push strips.
import { sql } from 'drizzle-orm';
import { pgTable, text, uuid } from 'drizzle-orm/pg-core';

export const projects = pgTable('dk_projects', {
  id: uuid('id').primaryKey().default(sql`trovella.ulid_uuid()`),
  tenantId: uuid('tenant_id').notNull(),
  name: text('name').notNull(),
});
