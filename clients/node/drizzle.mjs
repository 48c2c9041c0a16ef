// ESM entry of trovella/drizzle.
import drizzle from './lib/drizzle.cjs';

export const {
  ulidPrimaryKey, tenantColumn, tenantPolicies, standardColumns, softDeleteColumns, softDeletePolicy,
} = drizzle;
export default drizzle;
