-- Sealed, transaction-scoped tenant and user context
SET timezone = 'UTC';
-- This suite builds unisolated tenant tables on purpose; guard.sql tests the guard.
SET trovella.isolation_guard = off;

CREATE FUNCTION pg_temp.error_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.error_of(text) TO PUBLIC;

-- An application role that owns nothing; setting an identity is granted
-- to it explicitly, as the README shows.
CREATE ROLE regress_trovella_app;
GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid), trovella.with_user(uuid)
	TO regress_trovella_app;

CREATE TABLE tenant_notes (tenant_id uuid NOT NULL, body text);
INSERT INTO tenant_notes VALUES
	('aaaaaaaa-0000-0000-0000-000000000000', 'a1'),
	('aaaaaaaa-0000-0000-0000-000000000000', 'a2'),
	('bbbbbbbb-0000-0000-0000-000000000000', 'b1');
GRANT SELECT ON tenant_notes TO regress_trovella_app;

SET ROLE regress_trovella_app;

-- No context: readers fail closed, current_context() reports NULLs.
\set VERBOSITY default
SELECT trovella.current_tenant();
SELECT trovella.current_user_id();
\set VERBOSITY terse
SELECT * FROM trovella.current_context();

-- Outside a transaction block the setters refuse: 25P01.
\set VERBOSITY sqlstate
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000');
SELECT trovella.with_user('11111111-0000-0000-0000-000000000000');
\set VERBOSITY default
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000', '11111111-0000-0000-0000-000000000000');
\set VERBOSITY terse
SELECT * FROM trovella.current_context();
-- As for SET LOCAL, a subtransaction (a PL/pgSQL EXCEPTION block) counts as
-- a transaction: the context then lasts until that one statement ends.
DO $$
BEGIN
	PERFORM trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000');
	RAISE NOTICE 'inside the statement: %', trovella.current_tenant();
EXCEPTION WHEN OTHERS THEN
	RAISE;
END $$;
SELECT * FROM trovella.current_context();
-- NULL identities: 22004.
SELECT pg_temp.error_of($$SELECT trovella.with_tenant(NULL)$$);
SELECT pg_temp.error_of($$SELECT trovella.with_tenant(NULL, '11111111-0000-0000-0000-000000000000')$$);
SELECT pg_temp.error_of($$SELECT trovella.with_user(NULL)$$);

-- Set, read, commit: the next transaction starts with none.
BEGIN;
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000', '11111111-0000-0000-0000-000000000000');
SELECT trovella.current_tenant(), trovella.current_user_id();
SELECT * FROM trovella.current_context();
SELECT body FROM tenant_notes WHERE tenant_id = trovella.current_tenant() ORDER BY body;
COMMIT;
SELECT * FROM trovella.current_context();

-- Rollback ends it too.
BEGIN;
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000');
ROLLBACK;
SELECT * FROM trovella.current_context();

-- Sealed: the same values again are a no-op, a NULL user leaves the user,
-- anything else is 25000 and changes nothing.
BEGIN;
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000', '11111111-0000-0000-0000-000000000000');
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000', '11111111-0000-0000-0000-000000000000');
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000');
SELECT trovella.with_user('11111111-0000-0000-0000-000000000000');
SELECT pg_temp.error_of($$SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000000')$$);
SELECT pg_temp.error_of($$SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000', '22222222-0000-0000-0000-000000000000')$$);
SELECT pg_temp.error_of($$SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000000', '11111111-0000-0000-0000-000000000000')$$);
SELECT pg_temp.error_of($$SELECT trovella.with_user('22222222-0000-0000-0000-000000000000')$$);
SELECT * FROM trovella.current_context();
COMMIT;

-- A user alone (user-scoped work), then the tenant joins it.
BEGIN;
SELECT trovella.with_user('11111111-0000-0000-0000-000000000000');
SELECT * FROM trovella.current_context();
SELECT pg_temp.error_of('SELECT trovella.current_tenant()');
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000', '11111111-0000-0000-0000-000000000000');
SELECT * FROM trovella.current_context();
COMMIT;

-- A failed statement aborts the transaction; ROLLBACK clears the context.
BEGIN;
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000');
SELECT 1 / 0;
ROLLBACK;
SELECT * FROM trovella.current_context();

-- Savepoints: rolling back to a savepoint taken before with_tenant removes
-- the context (reads fail closed) but never lets another tenant in.
BEGIN;
SAVEPOINT before_context;
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000', '11111111-0000-0000-0000-000000000000');
ROLLBACK TO SAVEPOINT before_context;
SELECT * FROM trovella.current_context();
SELECT pg_temp.error_of('SELECT trovella.current_tenant()');
SELECT pg_temp.error_of($$SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000000')$$);
SELECT pg_temp.error_of($$SELECT trovella.with_user('22222222-0000-0000-0000-000000000000')$$);
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000', '11111111-0000-0000-0000-000000000000');
SELECT * FROM trovella.current_context();
-- a savepoint taken after it keeps it
SAVEPOINT after_context;
SELECT 1 / 0;
ROLLBACK TO SAVEPOINT after_context;
SELECT * FROM trovella.current_context();
-- RESET ALL does not touch it; plain SET and RESET are refused for this role
RESET ALL;
SELECT * FROM trovella.current_context();
SELECT pg_temp.error_of($$SET LOCAL trovella.tenant_id = 'bbbbbbbb-0000-0000-0000-000000000000'$$);
SELECT pg_temp.error_of($$SELECT set_config('trovella.tenant_id', 'bbbbbbbb-0000-0000-0000-000000000000', true)$$);
SELECT pg_temp.error_of('RESET trovella.tenant_id');
SELECT * FROM trovella.current_context();
COMMIT;

-- Plan-safe: a statement prepared in one tenant's transaction and executed
-- in another's returns the second tenant's rows, also as a generic plan.
SET plan_cache_mode = force_generic_plan;
PREPARE notes_of_tenant AS
	SELECT body FROM tenant_notes WHERE tenant_id = trovella.current_tenant() ORDER BY body;
BEGIN;
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000');
EXECUTE notes_of_tenant;
COMMIT;
BEGIN;
SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000000');
EXECUTE notes_of_tenant;
COMMIT;
SELECT pg_temp.error_of('EXECUTE notes_of_tenant');
DEALLOCATE notes_of_tenant;
RESET plan_cache_mode;

RESET ROLE;

-- Parallel workers see the leader's context.  Each check runs the query
-- with EXPLAIN ANALYZE to prove workers were launched, then compares the
-- result with what the leader computes alone.
SET trovella.isolation_guard = off;  -- RESET ALL above restored the default
CREATE TABLE tenant_big (tenant_id uuid NOT NULL, n int);
INSERT INTO tenant_big
SELECT CASE WHEN n % 4 = 0 THEN 'aaaaaaaa-0000-0000-0000-000000000000'::uuid
            ELSE 'bbbbbbbb-0000-0000-0000-000000000000'::uuid END, n
FROM generate_series(1, 200000) n;
ANALYZE tenant_big;
GRANT SELECT ON tenant_big TO regress_trovella_app;

CREATE FUNCTION pg_temp.workers_launched(query text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	line text;
	launched int := 0;
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || query LOOP
		IF line ~ 'Workers Launched: \d+' THEN
			launched := launched + substring(line FROM 'Workers Launched: (\d+)')::int;
		END IF;
	END LOOP;
	RETURN launched;
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.workers_launched(text) TO PUBLIC;

SET ROLE regress_trovella_app;
BEGIN;
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000');
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_leader_participation = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM tenant_big WHERE tenant_id = trovella.current_tenant();
SELECT pg_temp.workers_launched('SELECT count(*) FROM tenant_big WHERE tenant_id = trovella.current_tenant()') > 0 AS parallel_scan_used_workers;
SELECT count(*) AS tenant_rows_in_parallel FROM tenant_big WHERE tenant_id = trovella.current_tenant();
-- force_parallel_mode is called debug_parallel_query from 16 on
SELECT set_config(CASE WHEN current_setting('server_version_num')::int >= 160000
	THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END, 'on', true) AS forced_parallel;
SELECT pg_temp.workers_launched('SELECT trovella.current_tenant()') > 0 AS forced_parallel_used_a_worker;
SELECT trovella.current_tenant() AS tenant_in_worker;
SELECT * FROM trovella.current_context();
COMMIT;
RESET ROLE;

-- The superuser gets no more than the application role: the same rules hold.
BEGIN;
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000');
SELECT pg_temp.error_of($$SET LOCAL trovella.tenant_id = 'bbbbbbbb-0000-0000-0000-000000000000'$$);
SELECT pg_temp.error_of($$SET trovella.tenant_id = 'bbbbbbbb-0000-0000-0000-000000000000'$$);
SELECT pg_temp.error_of($$SELECT set_config('trovella.tenant_id', 'bbbbbbbb-0000-0000-0000-000000000000', true)$$);
SELECT pg_temp.error_of($$SELECT set_config('trovella.user_id', '22222222-0000-0000-0000-000000000000', false)$$);
SELECT pg_temp.error_of($$SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000000')$$);
SELECT * FROM trovella.current_context();
COMMIT;
SELECT pg_temp.error_of('SELECT trovella.current_tenant()');

-- Without the grant, a role cannot assert an identity at all.
CREATE ROLE regress_trovella_nobody;
SET ROLE regress_trovella_nobody;
BEGIN;
SELECT pg_temp.error_of($$SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000')$$);
SELECT pg_temp.error_of($$SELECT trovella.with_user('11111111-0000-0000-0000-000000000000')$$);
SELECT * FROM trovella.current_context();
COMMIT;
RESET ROLE;

DROP TABLE tenant_notes, tenant_big;
REVOKE ALL ON FUNCTION trovella.with_tenant(uuid, uuid), trovella.with_user(uuid) FROM regress_trovella_app;
DROP ROLE regress_trovella_app, regress_trovella_nobody;
