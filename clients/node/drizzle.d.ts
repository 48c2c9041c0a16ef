// Types of trovella/drizzle: declarations for drizzle-kit.
import type { PgPolicy, PgUUIDBuilderInitial } from 'drizzle-orm/pg-core';
import type { HasDefault, IsPrimaryKey, NotNull } from 'drizzle-orm';

/** uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(): not null, filled by the database */
export declare function ulidPrimaryKey(): HasDefault<IsPrimaryKey<NotNull<PgUUIDBuilderInitial<'id'>>>>;
export declare function ulidPrimaryKey<N extends string>(name: N): HasDefault<IsPrimaryKey<NotNull<PgUUIDBuilderInitial<N>>>>;
/** uuid NOT NULL DEFAULT trovella.current_tenant(): not null, filled by the database */
export declare function tenantColumn(): HasDefault<NotNull<PgUUIDBuilderInitial<'tenant_id'>>>;
export declare function tenantColumn<N extends string>(name: N): HasDefault<NotNull<PgUUIDBuilderInitial<N>>>;
/** trovella_tenant_isolation (restrictive) and trovella_tenant_access, as PostgreSQL prints them */
export declare function tenantPolicies(column?: string): PgPolicy[];

declare const drizzle: {
  ulidPrimaryKey: typeof ulidPrimaryKey; tenantColumn: typeof tenantColumn; tenantPolicies: typeof tenantPolicies;
};
export default drizzle;
