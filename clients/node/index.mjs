// ESM entry: the CommonJS core's exports, by name.
import core from './lib/core.cjs';

export const {
  VERSION, REQUIRED, TrovellaError, guardPool, withTenant, withUser, authenticate,
  checkDatabase, applySeeds, uuidToUlid, ulidToUuid, ulidTime, richId, richIdToUuid,
  history, auditLog, suspendTenant, resumeTenant, isTenantSuspended, purgeTenant,
  exportTenant, importTenant,
} = core;
export default core;
