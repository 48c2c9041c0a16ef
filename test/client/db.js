// Connection settings for the suites: the throwaway cluster's PG* variables.
import pg from 'pg';

export function newPool(options = {}) {
  return new pg.Pool({ database: process.env.TROVELLA_TEST_DB || 'trovella_client', ...options });
}

export { pg };
