// Types of trovella/drizzle: declarations for drizzle-kit.
import type { PgPolicy } from 'drizzle-orm/pg-core';

/** uuid PRIMARY KEY DEFAULT trovella.ulid_uuid() */
export declare function ulidPrimaryKey(name?: string): ReturnType<typeof import('drizzle-orm/pg-core').uuid>;
/** uuid NOT NULL DEFAULT trovella.current_tenant() */
export declare function tenantColumn(name?: string): ReturnType<typeof import('drizzle-orm/pg-core').uuid>;
/** trovella_tenant_isolation (restrictive) and trovella_tenant_access, as PostgreSQL prints them */
export declare function tenantPolicies(column?: string): PgPolicy[];

declare const drizzle: {
  ulidPrimaryKey: typeof ulidPrimaryKey; tenantColumn: typeof tenantColumn; tenantPolicies: typeof tenantPolicies;
};
export default drizzle;
