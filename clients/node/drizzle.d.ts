// Types of trovella/drizzle: declarations for drizzle-kit.
import type { PgPolicy, PgTimestampBuilderInitial, PgUUIDBuilderInitial } from 'drizzle-orm/pg-core';
import type { HasDefault, IsPrimaryKey, NotNull } from 'drizzle-orm';

/** uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(): not null, filled by the database */
export declare function ulidPrimaryKey(): HasDefault<IsPrimaryKey<NotNull<PgUUIDBuilderInitial<'id'>>>>;
export declare function ulidPrimaryKey<N extends string>(name: N): HasDefault<IsPrimaryKey<NotNull<PgUUIDBuilderInitial<N>>>>;
/** uuid NOT NULL DEFAULT trovella.current_tenant(): not null, filled by the database */
export declare function tenantColumn(): HasDefault<NotNull<PgUUIDBuilderInitial<'tenant_id'>>>;
export declare function tenantColumn<N extends string>(name: N): HasDefault<NotNull<PgUUIDBuilderInitial<N>>>;
/** trovella_tenant_isolation (restrictive) and trovella_tenant_access, as PostgreSQL prints them */
export declare function tenantPolicies(column?: string): PgPolicy[];
/** created_at, updated_at (timestamptz NOT NULL DEFAULT now()), created_by, updated_by (uuid): kept by trovella */
export declare function standardColumns(): {
  createdAt: HasDefault<NotNull<PgTimestampBuilderInitial<'created_at'>>>;
  updatedAt: HasDefault<NotNull<PgTimestampBuilderInitial<'updated_at'>>>;
  createdBy: PgUUIDBuilderInitial<'created_by'>;
  updatedBy: PgUUIDBuilderInitial<'updated_by'>;
};
/** deleted_at (timestamptz), deleted_by (uuid): written by soft delete only */
export declare function softDeleteColumns(): {
  deletedAt: PgTimestampBuilderInitial<'deleted_at'>;
  deletedBy: PgUUIDBuilderInitial<'deleted_by'>;
};
/** trovella_soft_delete (restrictive, FOR SELECT), as PostgreSQL prints it */
export declare function softDeletePolicy(): PgPolicy;

declare const drizzle: {
  ulidPrimaryKey: typeof ulidPrimaryKey; tenantColumn: typeof tenantColumn; tenantPolicies: typeof tenantPolicies;
  standardColumns: typeof standardColumns; softDeleteColumns: typeof softDeleteColumns;
  softDeletePolicy: typeof softDeletePolicy;
};
export default drizzle;
