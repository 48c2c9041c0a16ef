-- trovella 0.3.0 -> 0.4.0: the isolation guard judges inheritance and lets
-- pg_repack's work pass for roles that RLS does not bind.

\echo Use "ALTER EXTENSION trovella UPDATE TO '0.4.0'" to load this file. \quit

------------------------------------------------------------------------
-- Inheritance: the parents without the tenant column, in one function
-- that isolation_problems and the guard share.
------------------------------------------------------------------------

-- STABLE: reads the catalog.  A parent by inheritance, at any level,
-- without the tenant column: a SELECT on it returns the table's rows under
-- the parent's policies (PostgreSQL applies only those), that is every
-- tenant's.  One entry per such parent.
CREATE FUNCTION trovella.inheritance_problems(tbl regclass, tenant_column name)
RETURNS text[]
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT ARRAY(WITH RECURSIVE ancestors(relid) AS (
	                 SELECT i.inhparent FROM pg_inherits i WHERE i.inhrelid = tbl
	               UNION
	                 SELECT i.inhparent FROM ancestors an JOIN pg_inherits i ON i.inhrelid = an.relid)
	             SELECT format('parent table %s has no tenant column: a SELECT on it returns every tenant''s rows of this table, past its policies; give it the tenant column and isolate it, or ALTER TABLE %s NO INHERIT %s',
	                           an.relid::regclass, tbl, an.relid::regclass)
	             FROM ancestors an
	             JOIN pg_class p ON p.oid = an.relid
	             WHERE p.relkind = 'r'
	               AND NOT EXISTS (SELECT 1 FROM pg_attribute pa
	                               WHERE pa.attrelid = p.oid AND pa.attname = tenant_column
	                                 AND pa.attnum > 0 AND NOT pa.attisdropped)
	             ORDER BY an.relid::regclass::text)
$$;
COMMENT ON FUNCTION trovella.inheritance_problems(regclass, name) IS
'each table the table inherits from, at any level, that lacks the tenant column and so returns every tenant''s rows of it';

-- The same problems as in 0.3.0, the inheritance part now its own function.
CREATE OR REPLACE FUNCTION trovella.isolation_problems(tbl regclass, tenant_column name)
RETURNS text[]
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT trovella.policy_state_problems(tbl, tenant_column)
	    || array_remove(ARRAY[
	           CASE WHEN NOT EXISTS (SELECT 1 FROM pg_index i
	                                 WHERE i.indrelid = tbl AND i.indkey[0] = a.attnum AND i.indpred IS NULL)
	                THEN 'no tenant index' END,
	           CASE WHEN NOT a.attnotnull THEN 'tenant column nullable' END], NULL)
	    || ARRAY(SELECT format('partition %s not isolated', t.relid)
	             FROM pg_partition_tree(tbl) t
	             WHERE t.level > 0 AND NOT coalesce(trovella.is_isolated(t.relid, tenant_column), false)
	             ORDER BY t.relid::text)
	    -- views and materialized views that read the table, at any depth:
	    -- through security_invoker views (which pass the reader's policies
	    -- on) to one that reads with its owner's rights, or copies the rows
	    || ARRAY(WITH RECURSIVE readers(oid, relkind, invoker, via, depth) AS (
	                 SELECT v.oid, v.relkind, trovella.is_security_invoker(v.oid), NULL::regclass, 1
	                 FROM pg_depend d
	                 JOIN pg_rewrite r ON r.oid = d.objid
	                 JOIN pg_class v ON v.oid = r.ev_class
	                 WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
	                   AND d.refobjid = tbl AND v.oid <> tbl
	               UNION
	                 SELECT v.oid, v.relkind, trovella.is_security_invoker(v.oid), rd.oid::regclass, rd.depth + 1
	                 FROM readers rd
	                 JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
	                                 AND d.refobjid = rd.oid
	                 JOIN pg_rewrite r ON r.oid = d.objid
	                 JOIN pg_class v ON v.oid = r.ev_class
	                 WHERE rd.relkind = 'v' AND rd.invoker AND v.oid <> rd.oid AND rd.depth < 32)
	             SELECT DISTINCT format(CASE rd.relkind WHEN 'm' THEN 'materialized view %s copies this table''s rows'
	                                    ELSE 'view %s reads this table without security_invoker' END,
	                                    rd.oid::regclass)
	                             || CASE WHEN rd.via IS NULL THEN '' ELSE format(' (through %s)', rd.via) END
	             FROM readers rd
	             WHERE (rd.relkind = 'm' OR NOT rd.invoker)
	               AND trovella.review_reason(obj_description(rd.oid, 'pg_class')) IS NULL)
	    || trovella.inheritance_problems(tbl, tenant_column)
	    -- referential checks bypass RLS: a key without the tenant column lets
	    -- one tenant point at, probe and cascade into another's rows
	    || ARRAY(SELECT format('foreign key %I to %s does not include the tenant column: make it FOREIGN KEY (%s) REFERENCES %s (%s)',
	                           f.conname, f.confrelid::regclass,
	                           concat_ws(', ', quote_ident(tenant_column), k.child_columns),
	                           f.confrelid::regclass,
	                           concat_ws(', ', quote_ident(p.col), k.parent_columns))
	             FROM pg_constraint f
	             CROSS JOIN LATERAL (SELECT trovella.expected_tenant_column(f.confrelid) AS col) p
	             CROSS JOIN LATERAL (
	                 SELECT string_agg(quote_ident(ca.attname), ', ' ORDER BY n) AS child_columns,
	                        string_agg(quote_ident(pa.attname), ', ' ORDER BY n) AS parent_columns
	                 FROM generate_subscripts(f.conkey, 1) n
	                 JOIN pg_attribute ca ON ca.attrelid = f.conrelid AND ca.attnum = f.conkey[n]
	                 JOIN pg_attribute pa ON pa.attrelid = f.confrelid AND pa.attnum = f.confkey[n]) k
	             WHERE f.conrelid = tbl AND f.contype = 'f' AND f.conparentid = 0
	               AND p.col IS NOT NULL
	               AND NOT EXISTS (SELECT 1
	                               FROM generate_subscripts(f.conkey, 1) n
	                               JOIN pg_attribute pa ON pa.attrelid = f.confrelid AND pa.attnum = f.confkey[n]
	                               WHERE f.conkey[n] = a.attnum AND pa.attname = p.col)
	             ORDER BY f.conname)
	    || ARRAY(SELECT format('foreign key %I of %s, a table without a tenant column, references this table: it can point at, and probe for, any tenant''s rows',
	                           f.conname, f.conrelid::regclass)
	             FROM pg_constraint f
	             WHERE f.confrelid = tbl AND f.contype = 'f' AND f.conparentid = 0 AND f.conrelid <> tbl
	               AND trovella.expected_tenant_column(f.conrelid) IS NULL
	             ORDER BY f.conname)
	    -- a duplicate-key error or ON CONFLICT answers for every tenant
	    || ARRAY(SELECT format('unique index %s does not include the tenant column: it tells one tenant what another stores; make it unique on (%s)',
	                           i.indexrelid::regclass,
	                           concat_ws(', ', quote_ident(tenant_column), k.columns))
	             FROM pg_index i
	             CROSS JOIN LATERAL (
	                 SELECT string_agg(pg_get_indexdef(i.indexrelid, n, false), ', ' ORDER BY n) AS columns
	                 FROM generate_series(1, i.indnkeyatts) n) k
	             WHERE i.indrelid = tbl AND (i.indisunique OR i.indisexclusion)
	               AND NOT EXISTS (SELECT 1 FROM generate_series(0, i.indnkeyatts - 1) n
	                               WHERE i.indkey[n] = a.attnum)
	               AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)
	               AND NOT (i.indnkeyatts = 1 AND trovella.has_random_default(tbl, i.indkey[0]))
	               AND trovella.review_reason(obj_description(i.indexrelid, 'pg_class')) IS NULL
	             ORDER BY i.indexrelid::regclass::text)
	    -- privileges row-level security does not limit
	    || ARRAY(SELECT format('row-level security does not apply to %s granted to %s: REVOKE %s ON %s FROM %s',
	                           g.privileges, g.grantee, g.privileges, tbl, g.grantee)
	             FROM (SELECT string_agg(x.privilege_type, ', ' ORDER BY x.privilege_type) AS privileges,
	                          CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE x.grantee::regrole::text END AS grantee
	                   FROM aclexplode(c.relacl) x
	                   WHERE x.privilege_type IN ('TRUNCATE', 'TRIGGER', 'REFERENCES')
	                     AND x.grantee <> c.relowner
	                   GROUP BY x.grantee) g
	             ORDER BY g.grantee)
	    -- code that runs on every tenant's rows: a reviewer should read it,
	    -- and says so with a comment starting 'trovella: reviewed'
	    || ARRAY(SELECT format('trigger %I runs on every tenant''s rows: check that it keeps them in their tenant, then COMMENT ON TRIGGER %I ON %s IS ''trovella: reviewed''',
	                           t.tgname, t.tgname, tbl)
	             FROM pg_trigger t
	             WHERE t.tgrelid = tbl AND NOT t.tgisinternal AND t.tgparentid = 0
	               AND NOT EXISTS (SELECT 1 FROM pg_depend d
	                               WHERE d.classid = 'pg_trigger'::regclass AND d.objid = t.oid AND d.deptype = 'e')
	               AND coalesce(obj_description(t.oid, 'pg_trigger'), '') NOT LIKE 'trovella: reviewed%'
	             ORDER BY t.tgname)
	    || ARRAY(SELECT format('rule %I runs on every tenant''s rows: check that it keeps them in their tenant, then COMMENT ON RULE %I ON %s IS ''trovella: reviewed''',
	                           r.rulename, r.rulename, tbl)
	             FROM pg_rewrite r
	             WHERE r.ev_class = tbl AND r.rulename <> '_RETURN'
	               AND coalesce(obj_description(r.oid, 'pg_rewrite'), '') NOT LIKE 'trovella: reviewed%'
	             ORDER BY r.rulename)
	FROM pg_class c
	JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = tenant_column AND a.attnum > 0 AND NOT a.attisdropped
	WHERE c.oid = tbl
$$;
COMMENT ON FUNCTION trovella.isolation_problems(regclass, name) IS
'what keeps the table from being tenant-isolated on that column, and the holes RLS leaves open around it; empty when there are none';

------------------------------------------------------------------------
-- The isolation guard: when it stands aside, and what it says about
-- inheritance (src/isolation_judge.c).
------------------------------------------------------------------------

-- The guard stands aside for a table a person reviewed, and in two cases
-- for roles that RLS does not bind anyway (superusers, BYPASSRLS), which
-- read every tenant's rows whatever the guard says; for anyone else these
-- change nothing:
--  - pg_dump's output runs with row_security off and creates tables before
--    their policies;
--  - pg_repack copies a table into a work table in its own schema, which it
--    swaps with the table and drops (the table keeps its policies).
CREATE FUNCTION trovella.guard_stands_aside(tbl regclass)
RETURNS boolean
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT trovella.review_reason(obj_description(tbl, 'pg_class')) IS NOT NULL
	    OR (coalesce((SELECT r.rolsuper OR r.rolbypassrls FROM pg_roles r
	                  WHERE r.rolname = current_user), false)
	        AND (current_setting('row_security') = 'off'
	             -- the schema pg_repack's script creates, a member of it
	             OR EXISTS (SELECT 1
	                        FROM pg_class c
	                        JOIN pg_depend d ON d.classid = 'pg_namespace'::regclass
	                                        AND d.objid = c.relnamespace AND d.deptype = 'e'
	                                        AND d.refclassid = 'pg_extension'::regclass
	                        JOIN pg_extension x ON x.oid = d.refobjid
	                        WHERE c.oid = tbl AND x.extname = 'pg_repack')))
$$;
COMMENT ON FUNCTION trovella.guard_stands_aside(regclass) IS
'whether the isolation guard leaves the table alone: reviewed, or a restore or pg_repack''s work by a role that RLS does not bind';

CREATE OR REPLACE FUNCTION trovella.isolation_guard_problem(tbl regclass)
RETURNS name
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT e.col
	FROM (SELECT trovella.expected_tenant_column(tbl) AS col) e
	WHERE e.col IS NOT NULL
	  AND NOT trovella.is_isolated(tbl, e.col)
	  AND NOT trovella.guard_stands_aside(tbl)
$$;

-- STABLE: reads the catalog.  The first inheritance problem of a table that
-- should be isolated, unless the guard stands aside; NULL otherwise.
CREATE FUNCTION trovella.inheritance_guard_problem(tbl regclass)
RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT p.problem
	FROM (SELECT trovella.expected_tenant_column(tbl) AS col) e
	CROSS JOIN LATERAL unnest(trovella.inheritance_problems(tbl, e.col)) p(problem)
	WHERE e.col IS NOT NULL
	  AND NOT trovella.guard_stands_aside(tbl)
	LIMIT 1
$$;
COMMENT ON FUNCTION trovella.inheritance_guard_problem(regclass) IS
'for the isolation guard: a table the table inherits from that returns every tenant''s rows of it, described; NULL when there is none';

------------------------------------------------------------------------
-- Membership: the registered member table carries a marker constraint
-- (src/membership.c), so that a restore that leaves the registration
-- behind fails closed.  use_membership() adds it from 0.4.0 on; a table
-- registered in 0.3.0 gets it here.
------------------------------------------------------------------------

DO $$
DECLARE
	member regclass;
BEGIN
	SELECT m.tbl INTO member FROM trovella.membership m;
	IF member IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c
	                                      WHERE c.conrelid = member AND c.conname = 'trovella_membership') THEN
		EXECUTE pg_catalog.format('ALTER TABLE %s ADD CONSTRAINT trovella_membership CHECK (true) NOT VALID', member);
	END IF;
END
$$;

------------------------------------------------------------------------
-- isolation_status: policy_ok is false when any Citus placement of the
-- table has a problem, so that a check of policy_ok alone catches a shard
-- (or the coordinator's copy) left permissive.  The placements are asked
-- once per table.
------------------------------------------------------------------------
CREATE OR REPLACE VIEW trovella.isolation_status WITH (security_invoker = true) AS
SELECT c.oid::regclass AS table_name,
       col.attname AS tenant_column,
       c.relrowsecurity AS rls_enabled,
       c.relforcerowsecurity AS rls_forced,
       coalesce(trovella.is_tenant_policy(iso.oid, col.attname, false)
                AND trovella.is_tenant_policy(acc.oid, col.attname, true), false)
           AND cardinality(pl.problems) = 0 AS policy_ok,
       EXISTS (SELECT 1 FROM pg_index i
               WHERE i.indrelid = c.oid AND i.indkey[0] = col.attnum AND i.indpred IS NULL) AS has_index,
       -- (the name argument would give the array the "C" collation)
       CASE WHEN trovella.review_reason(obj_description(c.oid, 'pg_class')) IS NOT NULL
            THEN '{}'::text[]
            ELSE (trovella.isolation_problems(c.oid, col.attname) || pl.problems) END COLLATE "default" AS problems,
       trovella.isolation_reviewed(c.oid) COLLATE "default" AS reviewed
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_policy iso ON iso.polrelid = c.oid AND iso.polname = 'trovella_tenant_isolation'
LEFT JOIN pg_policy acc ON acc.polrelid = c.oid AND acc.polname = 'trovella_tenant_access'
CROSS JOIN LATERAL (
    SELECT a.attname, a.attnum
    FROM pg_attribute a
    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      AND a.attname = coalesce(trovella.tenant_policy_column(c.oid),
                               current_setting('trovella.tenant_column', true)::name,
                               'tenant_id')
) col
CROSS JOIN LATERAL (SELECT trovella.placement_problems(c.oid, col.attname) AS problems) pl
WHERE c.relkind IN ('r', 'p')
  AND n.nspname NOT LIKE 'pg\_%'
  AND n.nspname NOT IN ('information_schema', 'trovella');

------------------------------------------------------------------------
-- trovella.health: one row per check, for monitoring and an application's
-- health endpoint (readable by pg_monitor).
------------------------------------------------------------------------
CREATE FUNCTION trovella.library_version()
RETURNS text
AS 'MODULE_PATHNAME', 'trovella_library_version'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION trovella.library_version() IS
'the version of the trovella library this backend loaded (the installed extension''s is pg_extension.extversion)';

CREATE FUNCTION trovella.cluster_key_problem()
RETURNS text
AS 'MODULE_PATHNAME', 'trovella_cluster_key_problem_sql'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION trovella.cluster_key_problem() IS
'why this node cannot use the cluster key of trovella.cluster_key_file, or NULL (none configured, or usable); never the key';
REVOKE EXECUTE ON FUNCTION trovella.cluster_key_problem() FROM PUBLIC;

-- SECURITY DEFINER: the checks read settings and catalogs that pg_monitor
-- may not; what they return is a status and a sentence, never a value of
-- the tables checked.
CREATE FUNCTION trovella.health_checks()
RETURNS TABLE (check_name text, status text, detail text)
LANGUAGE plpgsql STABLE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	installed text;
	library text := trovella.library_version();
	preloaded boolean := 'trovella' = ANY (string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ','));
	guard text := current_setting('trovella.isolation_guard', true);
	problems bigint;
	registered regclass;
	marked regclass;
	info record;
	key_problem text;
	logged text[];
BEGIN
	SELECT e.extversion INTO installed FROM pg_extension e WHERE e.extname = 'trovella';
	check_name := 'version';
	IF installed = library THEN
		status := 'ok';
		detail := format('extension and library %s', library);
	ELSE
		status := 'problem';
		detail := format('the extension is at %s, the loaded library is %s: ALTER EXTENSION trovella UPDATE, or install the matching library', installed, library);
	END IF;
	RETURN NEXT;

	check_name := 'preload';
	status := CASE WHEN preloaded THEN 'ok' ELSE 'warning' END;
	detail := CASE WHEN preloaded THEN 'trovella is in shared_preload_libraries'
	               ELSE 'without shared_preload_libraries = ''trovella'' there are no per-tenant statistics and tokens are not masked in the server log' END;
	RETURN NEXT;

	check_name := 'guard';
	status := CASE WHEN guard = 'off' THEN 'warning' ELSE 'ok' END;
	detail := format('trovella.isolation_guard = %s', coalesce(guard, 'warn'));
	RETURN NEXT;

	SELECT count(*) INTO problems FROM trovella.isolation_status s WHERE s.problems <> '{}';
	check_name := 'isolation';
	status := CASE WHEN problems = 0 THEN 'ok' ELSE 'problem' END;
	detail := CASE WHEN problems = 0 THEN 'every table with a tenant column is isolated'
	               ELSE format('tables with isolation problems: %s; SELECT * FROM trovella.isolation_status WHERE problems <> ''{}''', problems) END;
	RETURN NEXT;

	check_name := 'membership';
	SELECT m.tbl INTO registered FROM trovella.membership m;
	SELECT c.conrelid::regclass INTO marked FROM pg_constraint c
	WHERE c.conname = 'trovella_membership' AND c.contype = 'c' LIMIT 1;
	IF registered IS NOT NULL AND NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = registered) THEN
		status := 'problem';
		detail := 'the registered membership table no longer exists: every user-tenant pairing fails';
	ELSIF registered IS NOT NULL THEN
		status := 'ok';
		detail := format('membership checked against %s', registered);
	ELSIF marked IS NOT NULL THEN
		status := 'problem';
		detail := format('%s is marked as the membership table but none is registered: every user-tenant pairing fails (55000) until trovella.use_membership() runs', marked);
	ELSE
		status := 'ok';
		detail := 'no membership table registered: users are not checked against tenants';
	END IF;
	RETURN NEXT;

	check_name := 'statistics';
	IF preloaded THEN
		SELECT * INTO info FROM trovella.tenant_stats_info();
		status := CASE WHEN info.evictions > 0 THEN 'warning' ELSE 'ok' END;
		detail := format('%s of %s tenants tracked, %s evicted since %s%s', info.tenants, info.max_tenants,
		                 info.evictions, info.stats_reset,
		                 CASE WHEN info.evictions > 0 THEN ': raise trovella.stats_max_tenants' ELSE '' END);
	ELSE
		status := 'ok';
		detail := 'not collected: trovella is not preloaded';
	END IF;
	RETURN NEXT;

	IF EXISTS (SELECT FROM pg_extension e WHERE e.extname = 'citus') THEN
		check_name := 'cluster_key';
		key_problem := trovella.cluster_key_problem();
		IF coalesce(current_setting('trovella.cluster_key_file', true), '') = '' THEN
			status := 'problem';
			detail := 'no trovella.cluster_key_file: the workers refuse every tenant query';
		ELSIF key_problem IS NOT NULL THEN
			status := 'problem';
			detail := key_problem;
		ELSE
			status := 'ok';
			detail := 'the cluster key is readable and valid on this node';
		END IF;
		RETURN NEXT;
	END IF;

	-- settings that write a statement's literals or parameters to the log,
	-- where a token given to pat_verify() or authenticate() would stay
	logged := ARRAY(SELECT x FROM unnest(ARRAY[
		CASE WHEN current_setting('log_statement') = 'all' THEN 'log_statement = all' END,
		CASE WHEN current_setting('log_min_duration_statement')::int >= 0
		     THEN 'log_min_duration_statement = ' || current_setting('log_min_duration_statement') END,
		CASE WHEN current_setting('shared_preload_libraries') LIKE '%pgaudit%' THEN 'pgaudit' END]) x
		WHERE x IS NOT NULL);
	check_name := 'log_secrets';
	IF cardinality(logged) = 0 THEN
		status := 'ok';
		detail := 'no setting writes statements or their parameters to the log';
	ELSIF preloaded AND current_setting('trovella.redact_tokens', true) IS DISTINCT FROM 'off' THEN
		status := 'ok';
		detail := format('%s: tokens are masked (trovella preloaded, trovella.redact_tokens on)', array_to_string(logged, ', '));
	ELSE
		status := 'problem';
		detail := format('%s: tokens passed to pat_verify() or authenticate() are written to the server log; preload trovella (and keep trovella.redact_tokens on)', array_to_string(logged, ', '));
	END IF;
	RETURN NEXT;
END
$$;
COMMENT ON FUNCTION trovella.health_checks() IS
'trovella.health''s rows: each check, ok, warning or problem, and a sentence';
REVOKE EXECUTE ON FUNCTION trovella.health_checks() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trovella.health_checks() TO pg_monitor;

CREATE VIEW trovella.health AS SELECT * FROM trovella.health_checks();
COMMENT ON VIEW trovella.health IS
'one row per check of this database''s trovella (version, preload, guard, isolation, membership, statistics, cluster key, secrets in the log): status ok, warning or problem; readable by pg_monitor';
REVOKE ALL ON trovella.health FROM PUBLIC;
GRANT SELECT ON trovella.health TO pg_monitor;

------------------------------------------------------------------------
-- The seed ledger: seed files applied once per environment, each recorded
-- with its SHA-256 in the seed's own transaction, so that an applied seed
-- can never change.  An extension configuration table: pg_dump keeps it.
------------------------------------------------------------------------
CREATE TABLE trovella.seed (
	name text PRIMARY KEY,
	sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
	environment text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now(),
	applied_by name NOT NULL DEFAULT session_user
);
COMMENT ON TABLE trovella.seed IS
'seeds applied to this database: name, SHA-256 of the file, environment, when and by whom; written by trovella.record_seed()';
REVOKE ALL ON trovella.seed FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('trovella.seed', '');

CREATE FUNCTION trovella.in_transaction_block()
RETURNS boolean
AS 'MODULE_PATHNAME', 'trovella_in_transaction_block'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION trovella.in_transaction_block() IS
'whether the caller runs inside BEGIN ... COMMIT';

-- In the seed's own transaction, before its statements: true when the seed
-- is new (recorded: apply it, then commit), false when it was applied with
-- the same SHA-256 (skip it: roll back); 55000 when it was applied with
-- another.  A concurrent run waits for the first to commit and then gets
-- false: a seed is applied once.
CREATE FUNCTION trovella.record_seed(name text, sha256 text, environment text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	applied trovella.seed;
BEGIN
	IF name IS NULL OR sha256 IS NULL OR environment IS NULL THEN
		RAISE EXCEPTION 'trovella.record_seed: % must not be NULL',
			CASE WHEN name IS NULL THEN 'name' WHEN sha256 IS NULL THEN 'sha256' ELSE 'environment' END
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF length(name) NOT BETWEEN 1 AND 200 OR name ~ '[[:cntrl:]]' THEN
		RAISE EXCEPTION 'trovella.record_seed: a seed name has 1 to 200 characters, none of them a control character'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF sha256 !~ '^[0-9a-fA-F]{64}$' THEN
		RAISE EXCEPTION 'trovella.record_seed: sha256 must be 64 hexadecimal digits'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF environment !~ '^[a-z][a-z0-9_-]{0,62}$' THEN
		RAISE EXCEPTION 'trovella.record_seed: an environment is a lower-case name (production, staging, dev)'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF NOT trovella.in_transaction_block() THEN
		RAISE EXCEPTION 'trovella.record_seed can only be used in transaction blocks'
			USING ERRCODE = 'no_active_sql_transaction',
			      DETAIL = 'The record and the seed''s statements must commit together.',
			      HINT = 'Run BEGIN; SELECT trovella.record_seed(...); then the seed, then COMMIT.';
	END IF;
	INSERT INTO trovella.seed AS s (name, sha256, environment)
	VALUES (record_seed.name, lower(record_seed.sha256), record_seed.environment)
	ON CONFLICT ON CONSTRAINT seed_pkey DO NOTHING;
	IF FOUND THEN
		RETURN true;
	END IF;
	SELECT * INTO applied FROM trovella.seed s WHERE s.name = record_seed.name;
	IF applied.sha256 <> lower(record_seed.sha256) THEN
		RAISE EXCEPTION 'trovella.record_seed: seed "%" was applied with other contents', record_seed.name
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      DETAIL = format('It was applied %s in environment %s by %s; an applied seed never changes.',
			                      applied.applied_at, applied.environment, applied.applied_by),
			      HINT = 'Restore the file as it was applied, and put the change in a new seed.';
	END IF;
	RETURN false;
END
$$;
COMMENT ON FUNCTION trovella.record_seed(text, text, text) IS
'in a seed''s transaction: true when new (recorded), false when applied before with the same SHA-256, 55000 when applied with another';
REVOKE EXECUTE ON FUNCTION trovella.record_seed(text, text, text) FROM PUBLIC;
