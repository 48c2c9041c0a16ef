// ESM entry of trovella/drizzle.
import drizzle from './lib/drizzle.cjs';

export const { ulidPrimaryKey, tenantColumn, tenantPolicies } = drizzle;
export default drizzle;
