-- Volatility and parallel labels that must say what the functions do
-- (0.5.0): library_version() names the library this backend loaded (not
-- IMMUTABLE: a parallel worker loads it again, maybe newer);
-- in_transaction_block() answers for the leader's transaction, which a
-- parallel worker cannot see.
SELECT p.proname, p.provolatile, p.proparallel
FROM pg_proc p
WHERE p.pronamespace = 'trovella'::regnamespace
  AND p.proname IN ('library_version', 'in_transaction_block', 'seed_latest', 'record_seed')
ORDER BY 1;
-- in a parallel plan the workers do not evaluate in_transaction_block():
-- outside a transaction block it is false on every row
CREATE TABLE labels_rows AS SELECT g AS n FROM generate_series(1, 20000) g;
ANALYZE labels_rows;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
SELECT count(*) FILTER (WHERE trovella.in_transaction_block()) AS rows_in_a_block, count(*) AS rows
FROM labels_rows;
BEGIN;
SELECT count(*) FILTER (WHERE trovella.in_transaction_block()) AS rows_in_a_block, count(*) AS rows
FROM labels_rows;
COMMIT;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET parallel_leader_participation;
DROP TABLE labels_rows;
-- seed_latest() reads the seed ledger: for record_seed only (42501)
CREATE ROLE regress_labels_nobody;
SET ROLE regress_labels_nobody;
\set VERBOSITY sqlstate
SELECT trovella.seed_latest('x');
\set VERBOSITY default
RESET ROLE;
DROP ROLE regress_labels_nobody;
