-- trovella 0.1.0 -> 0.2.0: the isolation guard.

\echo Use "ALTER EXTENSION trovella UPDATE TO '0.2.0'" to load this file. \quit

-- STABLE: reads the catalog and trovella.tenant_column.
CREATE FUNCTION trovella.expected_tenant_column(tbl regclass)
RETURNS name
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT coalesce(
	           trovella.tenant_policy_column(c.oid),
	           (SELECT trovella.tenant_policy_column(i.inhparent) FROM pg_inherits i WHERE i.inhrelid = c.oid),
	           (SELECT a.attname FROM pg_attribute a
	            WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	              AND a.attname = coalesce(current_setting('trovella.tenant_column', true), 'tenant_id')))
	FROM pg_class c
	JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE c.oid = tbl AND c.relkind IN ('r', 'p')
	  AND n.nspname NOT LIKE 'pg\_%'
	  AND n.nspname NOT IN ('information_schema', 'trovella')
$$;
COMMENT ON FUNCTION trovella.expected_tenant_column(regclass) IS
'the column that should isolate the table: its trovella policies'', else its parent''s, else trovella.tenant_column if it has one; NULL outside tenant scope';

-- STABLE: reads the catalog.  NULL when the table is fine.
CREATE FUNCTION trovella.isolation_guard_problem(tbl regclass)
RETURNS name
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT e.col
	FROM (SELECT trovella.expected_tenant_column(tbl) AS col) e
	WHERE e.col IS NOT NULL
	  AND NOT trovella.is_isolated(tbl, e.col)
	  -- pg_dump's output runs with row_security off: a restore creates
	  -- tables before their policies
	  AND current_setting('row_security') <> 'off'
$$;
COMMENT ON FUNCTION trovella.isolation_guard_problem(regclass) IS
'the tenant column of a table that should be tenant-isolated and is not, else NULL; what the isolation guard checks';

-- VOLATILE: reads the current DDL command's objects.  PL/pgSQL, so that its
-- plan is kept for the session: it runs after every table DDL statement.
CREATE FUNCTION trovella.isolation_guard_candidates()
RETURNS TABLE (tbl regclass, tenant_column name)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN QUERY
	WITH touched AS MATERIALIZED (
		SELECT DISTINCT m.relid
		FROM pg_event_trigger_ddl_commands() c
		CROSS JOIN LATERAL (
			SELECT CASE WHEN c.classid = 'pg_policy'::regclass
			            THEN (SELECT p.polrelid FROM pg_policy p WHERE p.oid = c.objid)
			            ELSE c.objid END AS relid) r
		CROSS JOIN LATERAL (
			SELECT r.relid
			UNION
			SELECT t.relid FROM pg_partition_tree(r.relid) t) m
		WHERE c.classid IN ('pg_class'::regclass, 'pg_policy'::regclass)
		  AND c.object_type IN ('table', 'policy')
	),
	-- cheap catalog probes first: most DDL is about tables with nothing to do
	-- with tenants
	tenant_scoped AS MATERIALIZED (
		SELECT t.relid
		FROM touched t
		WHERE EXISTS (SELECT 1 FROM pg_attribute a
		              WHERE a.attrelid = t.relid AND NOT a.attisdropped
		                AND a.attname = coalesce(current_setting('trovella.tenant_column', true), 'tenant_id'))
		   OR EXISTS (SELECT 1 FROM pg_policy p
		              WHERE p.polrelid = t.relid
		                AND p.polname IN ('trovella_tenant_isolation', 'trovella_tenant_access'))
		   OR EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_policy p ON p.polrelid = i.inhparent
		              WHERE i.inhrelid = t.relid
		                AND p.polname IN ('trovella_tenant_isolation', 'trovella_tenant_access'))
	),
	judged AS MATERIALIZED (
		SELECT s.relid, trovella.isolation_guard_problem(s.relid) AS col
		FROM tenant_scoped s
	)
	SELECT j.relid::regclass, j.col FROM judged j WHERE j.col IS NOT NULL;
END
$$;
COMMENT ON FUNCTION trovella.isolation_guard_candidates() IS
'tables touched by the current DDL command (and their partitions) that should be tenant-isolated and are not; for the isolation guard';

CREATE FUNCTION trovella.isolation_guard()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'trovella_isolation_guard'
LANGUAGE C;
COMMENT ON FUNCTION trovella.isolation_guard() IS
'event trigger function of the isolation guard; what it does follows trovella.isolation_guard (off, warn, error, auto)';

CREATE EVENT TRIGGER trovella_isolation_guard ON ddl_command_end
	WHEN TAG IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'ALTER TABLE', 'CREATE POLICY', 'ALTER POLICY')
	EXECUTE FUNCTION trovella.isolation_guard();
COMMENT ON EVENT TRIGGER trovella_isolation_guard IS
'warns about, refuses or isolates tables left with a tenant column but without tenant isolation (trovella.isolation_guard)';
