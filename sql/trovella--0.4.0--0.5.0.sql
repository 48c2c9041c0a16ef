-- trovella 0.4.0 -> 0.5.0

\echo Use "ALTER EXTENSION trovella UPDATE TO '0.5.0'" to load this file. \quit

------------------------------------------------------------------------
-- One judgement of isolation, by OID: the tenant check of a policy is
-- recognised from its stored expression by the library (the operator must
-- be pg_catalog's uuid equality, the function trovella.current_tenant(),
-- the column the table's), the way the guard proves it at commit, whatever
-- the caller's search_path and whatever look-alike operator it finds first.
------------------------------------------------------------------------

-- STABLE: reads the catalog.
CREATE FUNCTION trovella.is_tenant_check(expression pg_node_tree, tbl regclass, tenant_column name)
RETURNS boolean
AS 'MODULE_PATHNAME', 'trovella_is_tenant_check_sql'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION trovella.is_tenant_check(pg_node_tree, regclass, name) IS
'whether a policy expression of the table is trovella''s tenant check on that column (tenant_column = trovella.current_tenant(), bare or per query), judged by OID';

CREATE OR REPLACE FUNCTION trovella.is_tenant_policy(policy_id oid, tenant_column name, permissive boolean)
RETURNS boolean
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT p.polcmd = '*'
	   AND p.polroles = '{0}'
	   AND p.polpermissive = permissive
	   AND coalesce(trovella.is_tenant_check(p.polqual, p.polrelid, tenant_column), false)
	   AND coalesce(trovella.is_tenant_check(p.polwithcheck, p.polrelid, tenant_column), false)
	FROM pg_policy p
	WHERE p.oid = policy_id
$$;

CREATE OR REPLACE FUNCTION trovella.policy_problems(tbl regclass, policy_name name, tenant_column name, permissive boolean)
RETURNS text[]
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN p.oid IS NULL THEN ARRAY[format('policy %s missing', policy_name)]
	ELSE array_remove(ARRAY[
		CASE WHEN p.polpermissive <> permissive
		     THEN format('policy %s is %s, not %s', policy_name,
		                 CASE WHEN p.polpermissive THEN 'permissive' ELSE 'restrictive' END,
		                 CASE WHEN permissive THEN 'permissive' ELSE 'restrictive' END) END,
		CASE WHEN p.polcmd <> '*'
		     THEN format('policy %s is for %s only, not ALL commands', policy_name,
		                 CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT'
		                               WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' END) END,
		CASE WHEN p.polroles <> '{0}'
		     THEN format('policy %s is for %s only, not PUBLIC', policy_name,
		                 (SELECT string_agg(CASE WHEN r = 0 THEN 'PUBLIC' ELSE r::regrole::text END, ', ' ORDER BY r)
		                  FROM unnest(p.polroles) r)) END,
		CASE WHEN p.polqual IS NULL THEN format('policy %s has no USING clause', policy_name)
		     WHEN NOT trovella.is_tenant_check(p.polqual, tbl, tenant_column)
		     THEN format('policy %s: USING is not the tenant check', policy_name) END,
		CASE WHEN p.polwithcheck IS NULL THEN format('policy %s has no WITH CHECK clause', policy_name)
		     WHEN NOT trovella.is_tenant_check(p.polwithcheck, tbl, tenant_column)
		     THEN format('policy %s: WITH CHECK is not the tenant check', policy_name) END
	], NULL) END
	FROM (SELECT) e
	LEFT JOIN pg_policy p ON p.polrelid = tbl AND p.polname = policy_name
$$;

------------------------------------------------------------------------
-- Inheritance: every table a table inherits from, as a partition or not,
-- at any level and of any kind, must be isolated on its tenant column.  A
-- parent without it, one not isolated (reviewed or not: a reviewed mark
-- covers the parent's own rows, never another table's rows read through
-- it) and a foreign table (row-level security cannot apply to one) each
-- return every tenant's rows of the child.
------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION trovella.inheritance_problems(tbl regclass, tenant_column name)
RETURNS text[]
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT ARRAY(WITH RECURSIVE ancestors(relid) AS (
	                 SELECT i.inhparent FROM pg_inherits i WHERE i.inhrelid = tbl
	               UNION
	                 SELECT i.inhparent FROM ancestors an JOIN pg_inherits i ON i.inhrelid = an.relid)
	             SELECT CASE
	                 WHEN p.relkind = 'f'
	                 THEN format('parent %s is a foreign table: row-level security cannot apply to it, and a SELECT on it returns every tenant''s rows of this table, past its policies; ALTER TABLE %s NO INHERIT %s',
	                             an.relid::regclass, tbl, an.relid::regclass)
	                 WHEN NOT EXISTS (SELECT 1 FROM pg_attribute pa
	                                  WHERE pa.attrelid = p.oid AND pa.attname = tenant_column
	                                    AND pa.attnum > 0 AND NOT pa.attisdropped)
	                 THEN format('parent table %s has no tenant column: a SELECT on it returns every tenant''s rows of this table, past its policies; give it the tenant column and isolate it, or ALTER TABLE %s NO INHERIT %s',
	                             an.relid::regclass, tbl, an.relid::regclass)
	                 ELSE format('parent table %s is not tenant-isolated%s: a SELECT on it returns every tenant''s rows of this table, past its policies; SELECT trovella.enable_tenant_isolation(%L, %L)',
	                             an.relid::regclass,
	                             CASE WHEN trovella.review_reason(obj_description(p.oid, 'pg_class')) IS NOT NULL
	                                  THEN ' (its reviewed mark covers its own rows, not this table''s)' ELSE '' END,
	                             an.relid::regclass::text, tenant_column)
	             END
	             FROM ancestors an
	             JOIN pg_class p ON p.oid = an.relid
	             WHERE p.relkind = 'f' OR NOT coalesce(trovella.is_isolated(p.oid, tenant_column), false)
	             ORDER BY an.relid::regclass::text)
$$;
COMMENT ON FUNCTION trovella.inheritance_problems(regclass, name) IS
'each table the table inherits from, at any level and of any kind, that is not isolated on the tenant column (or a foreign table) and so returns every tenant''s rows of it';


------------------------------------------------------------------------
-- The audit over every relation kind: a foreign table with the tenant
-- column is listed (row-level security cannot apply to one), and a
-- session's temporary views are not the database's isolation state (the
-- guard does not judge temporary objects either).
------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION trovella.isolation_problems(tbl regclass, tenant_column name)
RETURNS text[]
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN c.relkind = 'f'
	            THEN ARRAY[format('foreign table: row-level security cannot apply to it, so a SELECT on it returns every tenant''s rows it holds; keep tenant data out of it, or COMMENT ON FOREIGN TABLE %s IS ''trovella: reviewed: why''', tbl)]
	            ELSE trovella.policy_state_problems(tbl, tenant_column)
	                 || array_remove(ARRAY[
	                        CASE WHEN NOT EXISTS (SELECT 1 FROM pg_index i
	                                              WHERE i.indrelid = tbl AND i.indkey[0] = a.attnum AND i.indpred IS NULL)
	                             THEN 'no tenant index' END,
	                        CASE WHEN NOT a.attnotnull THEN 'tenant column nullable' END], NULL) END
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
	             JOIN pg_class v ON v.oid = rd.oid
	             WHERE (rd.relkind = 'm' OR NOT rd.invoker)
	               AND trovella.review_reason(obj_description(rd.oid, 'pg_class')) IS NULL
	               -- a session's temporary view is no state of the database:
	               -- it reads with that session's role, for that session only
	               AND v.relnamespace <> pg_my_temp_schema() AND NOT pg_is_other_temp_schema(v.relnamespace))
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
'what keeps the table from being tenant-isolated on that column (a foreign table never is), and the holes RLS leaves open around it; empty when there are none';

------------------------------------------------------------------------
-- Foreign tables: the guard and isolation_status judge them too (a
-- foreign table with the tenant column is a problem until a person marks
-- it reviewed), and the guard sees CREATE and ALTER FOREIGN TABLE.
------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION trovella.expected_tenant_column(tbl regclass)
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
	WHERE c.oid = tbl AND c.relkind IN ('r', 'p', 'f')
	  AND n.nspname NOT LIKE 'pg\_%'
	  AND (n.nspname NOT IN ('information_schema', 'trovella')
	       OR (n.nspname = 'trovella' AND c.relname = 'audit_history'))
$$;

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
WHERE c.relkind IN ('r', 'p', 'f')
  AND n.nspname NOT LIKE 'pg\_%'
  AND n.nspname NOT IN ('information_schema', 'trovella');

------------------------------------------------------------------------
-- trovella.health's isolation check is isolation_status's judgement: a
-- problem exactly where a row of it has one, and a table marked reviewed
-- without isolation counted as such, not as isolated.
------------------------------------------------------------------------
-- (health_checks() itself is defined once, below, after every function it calls)

-- The helper's mark (enable_tenant_isolation() runs as its caller, so
-- anyone may set it) only ever makes the guard stricter (src/isolation.c).
COMMENT ON FUNCTION trovella.isolation_helper(boolean) IS
'internal: enable_tenant_isolation() marks its own DDL, which the isolation guard then judges at commit (in auto, like error) instead of at once; the mark never skips a judgement nor a new partition''s policies';

------------------------------------------------------------------------
-- Statistics lost: a restart after a crash, a postmaster that never
-- exited normally, or a saved file ignored at start.  tenant_stats_loss()
-- says when and why, and health's statistics check warns until the next
-- full reset.
------------------------------------------------------------------------
CREATE FUNCTION trovella.tenant_stats_loss(OUT lost_at timestamptz, OUT reason text)
RETURNS record
AS 'MODULE_PATHNAME', 'trovella_tenant_stats_loss'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION trovella.tenant_stats_loss() IS
'when the per-tenant statistics were last lost since the last full reset, and why (a crash, a saved file ignored); NULLs if never; 55000 without the preload';
REVOKE ALL ON FUNCTION trovella.tenant_stats_loss() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trovella.tenant_stats_loss() TO pg_read_all_stats;

-- (its use in health_checks(): below)

------------------------------------------------------------------------
-- Labels that were wrong (issue 31, point 18): library_version() names
-- the library this backend loaded, which a parallel worker loads again
-- from disk, maybe newer: STABLE, PARALLEL RESTRICTED (IMMUTABLE let the
-- planner fold it into stored expressions and cached plans).
-- in_transaction_block() answers for the leader's transaction, which a
-- parallel worker cannot see (it answered true there): PARALLEL RESTRICTED.
------------------------------------------------------------------------
ALTER FUNCTION trovella.library_version() STABLE PARALLEL RESTRICTED;
ALTER FUNCTION trovella.in_transaction_block() PARALLEL RESTRICTED;

------------------------------------------------------------------------
-- The seed ledger in REPEATABLE READ and SERIALIZABLE (issue 31, point
-- 18): a concurrent run that recorded the same seed and committed after
-- this transaction's snapshot made the INSERT fail with 40001, and its row
-- is invisible to the snapshot.  seed_latest() reads the ledger's row under
-- the latest snapshot instead, so that such a run gets false (or 55000 for
-- other contents), as in READ COMMITTED.
------------------------------------------------------------------------
CREATE FUNCTION trovella.seed_latest(name text)
RETURNS trovella.seed
AS 'MODULE_PATHNAME', 'trovella_seed_latest'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION trovella.seed_latest(text) IS
'the ledger''s row of a seed as last committed, whatever the transaction''s snapshot (for record_seed)';
REVOKE EXECUTE ON FUNCTION trovella.seed_latest(text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION trovella.record_seed(name text, sha256 text, environment text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	applied trovella.seed;
	recorded boolean;
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
	BEGIN
		INSERT INTO trovella.seed AS s (name, sha256, environment)
		VALUES (record_seed.name, lower(record_seed.sha256), record_seed.environment)
		ON CONFLICT ON CONSTRAINT seed_pkey DO NOTHING;
		recorded := FOUND;
	EXCEPTION WHEN serialization_failure THEN
		-- REPEATABLE READ or SERIALIZABLE: the row that conflicts was
		-- committed after this transaction's snapshot
		IF trovella.seed_latest(record_seed.name) IS NULL THEN
			RAISE;
		END IF;
		recorded := false;
	END;
	IF recorded THEN
		RETURN true;
	END IF;
	SELECT * INTO applied FROM trovella.seed s WHERE s.name = record_seed.name;
	IF NOT FOUND THEN
		applied := trovella.seed_latest(record_seed.name);
	END IF;
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

------------------------------------------------------------------------
-- The membership marker counts only where trovella can have put it (issue
-- 31, point 17): on a permanent ordinary table whose owner may run
-- use_membership(), not on a temporary table (any role with TEMP) nor on
-- a table of a role that may not register it (any role with CREATE in a
-- schema).  membership_marker() is that judgement, the library's, which
-- with_tenant applies and health reports.
------------------------------------------------------------------------
CREATE FUNCTION trovella.membership_marker()
RETURNS regclass
AS 'MODULE_PATHNAME', 'trovella_membership_marker'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION trovella.membership_marker() IS
'the table marked as the membership table (constraint trovella_membership) that counts, or NULL: a permanent table whose owner may run use_membership()';
REVOKE EXECUTE ON FUNCTION trovella.membership_marker() FROM PUBLIC;

------------------------------------------------------------------------
-- trovella.health's log_secrets: judged on the settings every role and
-- database will run with (the server's own values and every ALTER ROLE /
-- ALTER DATABASE ... SET of this database), not the monitoring session's;
-- and saying what still shows a token written as a literal: an error's
-- STATEMENT line without the preload, pg_stat_statements (utility
-- statements verbatim) and pg_stat_activity, to pg_monitor.
------------------------------------------------------------------------
-- a setting's value for the server as configured (not as this session,
-- its role or its database changed it)
CREATE FUNCTION trovella.server_setting(setting_name text)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	current record;
	configured text;
BEGIN
	SELECT s.setting, s.source, s.boot_val INTO current FROM pg_settings s WHERE s.name = setting_name;
	IF current.source NOT IN ('session', 'client', 'user', 'database', 'database user') THEN
		RETURN current.setting;
	END IF;
	BEGIN
		SELECT f.setting INTO configured FROM pg_file_settings f
		WHERE f.name = setting_name AND f.applied ORDER BY f.seqno DESC LIMIT 1;
	EXCEPTION WHEN insufficient_privilege THEN
		configured := NULL;
	END;
	RETURN coalesce(configured, current.boot_val);
END
$$;
COMMENT ON FUNCTION trovella.server_setting(text) IS
'internal (trovella.health): a setting as the server is configured, whatever this session, its role or its database set';
REVOKE EXECUTE ON FUNCTION trovella.server_setting(text) FROM PUBLIC;

CREATE FUNCTION trovella.log_secrets_check(preloaded boolean, OUT status text, OUT detail text)
LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	-- who runs with what: the server, then each stored setting of a role,
	-- this database, or a role in it
	settings CONSTANT text[] := ARRAY['log_statement', 'log_min_duration_statement', 'trovella.redact_tokens',
	                                  'pg_stat_statements.track_utility'];
	logged text[];
	unmasked text[];
	libraries text := replace(trovella.server_setting('shared_preload_libraries'), ' ', '');
	statements boolean;
	views text;
BEGIN
	WITH every AS (
		SELECT n AS name, trovella.server_setting(n) AS setting, '' AS who
		FROM unnest(settings) n
		WHERE EXISTS (SELECT FROM pg_settings s WHERE s.name = n)
		UNION ALL
		SELECT split_part(c, '=', 1), substr(c, strpos(c, '=') + 1),
		       ' for ' || concat_ws(' in ', CASE WHEN d.setrole <> 0 THEN 'role ' || quote_ident(r.rolname) END,
		                                  CASE WHEN d.setdatabase <> 0 THEN 'this database' END)
		FROM pg_db_role_setting d
		LEFT JOIN pg_roles r ON r.oid = d.setrole
		CROSS JOIN unnest(d.setconfig) c
		WHERE d.setdatabase IN (0, (SELECT db.oid FROM pg_database db WHERE db.datname = current_database()))
		  AND split_part(c, '=', 1) = ANY (settings)
	)
	SELECT array_agg(format('%s = %s%s', e.name, e.setting, e.who) ORDER BY e.who, e.name)
	       FILTER (WHERE (e.name = 'log_statement' AND e.setting IN ('all', 'mod'))
	                  OR (e.name = 'log_min_duration_statement' AND e.setting ~ '^[0-9]')),
	       array_agg(format('%s = %s%s', e.name, e.setting, e.who) ORDER BY e.who)
	       FILTER (WHERE e.name = 'trovella.redact_tokens' AND e.setting IN ('off', 'false', 'no', '0')),
	       bool_or(e.name = 'pg_stat_statements.track_utility' AND e.setting NOT IN ('off', 'false', 'no', '0'))
	INTO logged, unmasked, statements
	FROM every e;
	IF libraries ~ '(^|,)pgaudit(,|$)' THEN
		logged := array_append(logged, 'pgaudit');
	END IF;
	IF NOT (libraries ~ '(^|,)pg_stat_statements(,|$)') THEN
		statements := false;
	END IF;
	views := CASE WHEN coalesce(statements, true)
	              THEN 'pg_stat_statements (utility statements such as DO, EXPLAIN and DECLARE, kept as written) and pg_stat_activity show a token written as a literal to pg_monitor: pass tokens as bind parameters'
	              ELSE 'pg_stat_activity shows a running statement''s literals to pg_monitor: pass tokens as bind parameters' END;
	IF NOT preloaded AND cardinality(logged) > 0 THEN
		status := 'problem';
		detail := format('%s: tokens passed to pat_verify() or authenticate() are written to the server log; preload trovella (and keep trovella.redact_tokens on)',
		                 array_to_string(logged, ', '));
	ELSIF preloaded AND cardinality(unmasked) > 0 THEN
		status := 'problem';
		detail := format('%s: that role''s or database''s log lines carry whole tokens (the STATEMENT line of any error at least); remove the setting (ALTER ROLE ... RESET trovella.redact_tokens)',
		                 array_to_string(unmasked, ', '));
	ELSIF NOT preloaded THEN
		status := 'warning';
		detail := 'trovella is not preloaded: a token written as a literal is logged as is in the STATEMENT line of a statement that fails, in debug_print_parse''s trees (any role may set it) and in application_name; ' || views;
	ELSE
		status := CASE WHEN statements THEN 'warning' ELSE 'ok' END;
		detail := format('%stokens are masked in the log (trovella preloaded, trovella.redact_tokens on for every role and database); %s',
		                 CASE WHEN cardinality(logged) > 0 THEN array_to_string(logged, ', ') || ': ' ELSE '' END, views);
	END IF;
END
$$;
COMMENT ON FUNCTION trovella.log_secrets_check(boolean) IS
'internal (trovella.health): where a token can be read outside its owner, judged on the settings every role and database runs with';
REVOKE EXECUTE ON FUNCTION trovella.log_secrets_check(boolean) FROM PUBLIC;

CREATE OR REPLACE FUNCTION trovella.health_checks()
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
	reviewed_only bigint;
	isolated bigint;
	registered regclass;
	marked regclass;
	info record;
	loss record;
	key_problem text;
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

	-- isolation_status's own rows: a table is a problem exactly where its
	-- row says so, and a reviewed table is not counted as isolated
	SELECT count(*) FILTER (WHERE s.problems <> '{}'),
	       count(*) FILTER (WHERE s.problems = '{}' AND NOT (s.rls_enabled AND s.rls_forced AND s.policy_ok)),
	       count(*) FILTER (WHERE s.rls_enabled AND s.rls_forced AND s.policy_ok)
	INTO problems, reviewed_only, isolated
	FROM trovella.isolation_status s;
	check_name := 'isolation';
	status := CASE WHEN problems = 0 THEN 'ok' ELSE 'problem' END;
	detail := CASE WHEN problems > 0
	               THEN format('tables with isolation problems: %s; SELECT * FROM trovella.isolation_status WHERE problems <> ''{}''', problems)
	               WHEN reviewed_only > 0
	               THEN format('%s tables isolated; %s not isolated and marked reviewed: SELECT table_name, reviewed FROM trovella.isolation_status WHERE problems = ''{}'' AND NOT (rls_enabled AND rls_forced AND policy_ok)',
	                           isolated, reviewed_only)
	               ELSE 'every table with a tenant column is isolated' END;
	RETURN NEXT;

	check_name := 'membership';
	SELECT m.tbl INTO registered FROM trovella.membership m;
	marked := trovella.membership_marker();
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
		SELECT * INTO loss FROM trovella.tenant_stats_loss();
		status := CASE WHEN info.evictions > 0 OR loss.lost_at IS NOT NULL THEN 'warning' ELSE 'ok' END;
		detail := CASE WHEN loss.lost_at IS NOT NULL
		               THEN format('counts before %s lost: %s (SELECT trovella.tenant_stats_reset() once noted); ', loss.lost_at, loss.reason)
		               ELSE '' END ||
		          format('%s of %s tenants tracked, %s evicted since %s%s', info.tenants, info.max_tenants,
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

	-- the log and the statement views, as every role and database will run
	check_name := 'log_secrets';
	SELECT c.status, c.detail INTO status, detail FROM trovella.log_secrets_check(preloaded) c;
	RETURN NEXT;
END
$$;

------------------------------------------------------------------------
-- Citus (issue 32, point 7): a table marked reviewed keeps its shard
-- placements' problems in isolation_status.problems (and so in health)
-- wherever the table itself has trovella's policies: a placement that lost
-- its RLS was policy_ok = false with problems = {}.
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
       -- a reviewed table's own holes are reviewed; its placements' are
       -- not, wherever the table itself has trovella's policies
       CASE WHEN trovella.review_reason(obj_description(c.oid, 'pg_class')) IS NULL
            THEN (trovella.isolation_problems(c.oid, col.attname) || pl.problems)
            WHEN iso.oid IS NOT NULL OR acc.oid IS NOT NULL
            THEN pl.problems
            ELSE '{}'::text[] END COLLATE "default" AS problems,
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
WHERE c.relkind IN ('r', 'p', 'f')
  AND n.nspname NOT LIKE 'pg\_%'
  AND n.nspname NOT IN ('information_schema', 'trovella');

------------------------------------------------------------------------
-- Citus (issue 32, point 3): a table named like a shard ("<table>_<shard
-- id>") is a placement only where Citus's metadata puts that shard's
-- placement on this node; and nothing leaves the audit's view.  Citus
-- hides every relation so named from catalog queries (its
-- citus.override_table_visibility), so a user's table named after a shard
-- held on another node passed the guard and was missing from
-- isolation_status and health.  The library's own queries run with the
-- hiding off; isolation_status reads through a function that turns it off
-- and leaves out, by OID, only Citus's own placements on this node (each
-- checked as its table's, through placement_problems).
------------------------------------------------------------------------
-- STABLE: reads Citus's metadata.
CREATE FUNCTION trovella.citus_placement(tbl regclass)
RETURNS boolean
LANGUAGE c STABLE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'trovella_citus_placement_sql';
COMMENT ON FUNCTION trovella.citus_placement(regclass) IS
'whether Citus''s metadata makes the table a shard placement on this node (never its name alone); false without Citus';

-- STABLE: reads the catalog and Citus's metadata.
CREATE FUNCTION trovella.audited_relations()
RETURNS SETOF pg_catalog.pg_class
LANGUAGE sql STABLE STRICT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
SET citus.override_table_visibility = off
AS $$
	SELECT c.* FROM pg_class c
	WHERE c.relkind IN ('r', 'p', 'f') AND NOT trovella.citus_placement(c.oid)
$$;
COMMENT ON FUNCTION trovella.audited_relations() IS
'the tables, partitioned tables and foreign tables the audit judges, seen by OID whatever their name (Citus''s hiding of shard-named tables off), but Citus''s own placements on this node, judged as their table';

-- what the audit calls reads the catalog with Citus's hiding off too
ALTER FUNCTION trovella.tenant_policy_column(regclass) SET citus.override_table_visibility = off;
ALTER FUNCTION trovella.is_isolated(regclass, name) SET citus.override_table_visibility = off;
ALTER FUNCTION trovella.expected_tenant_column(regclass) SET citus.override_table_visibility = off;
ALTER FUNCTION trovella.policy_state_problems(regclass, name) SET citus.override_table_visibility = off;
ALTER FUNCTION trovella.isolation_problems(regclass, name) SET citus.override_table_visibility = off;
ALTER FUNCTION trovella.isolation_reviewed(regclass) SET citus.override_table_visibility = off;
ALTER FUNCTION trovella.inheritance_problems(regclass, name) SET citus.override_table_visibility = off;
ALTER FUNCTION trovella.guard_stands_aside(regclass) SET citus.override_table_visibility = off;
ALTER FUNCTION trovella.health_checks() SET citus.override_table_visibility = off;

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
       -- a reviewed table's own holes are reviewed; its placements' are
       -- not, wherever the table itself has trovella's policies
       CASE WHEN trovella.review_reason(obj_description(c.oid, 'pg_class')) IS NULL
            THEN (trovella.isolation_problems(c.oid, col.attname) || pl.problems)
            WHEN iso.oid IS NOT NULL OR acc.oid IS NOT NULL
            THEN pl.problems
            ELSE '{}'::text[] END COLLATE "default" AS problems,
       trovella.isolation_reviewed(c.oid) COLLATE "default" AS reviewed
FROM trovella.audited_relations() c
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
WHERE c.relkind IN ('r', 'p', 'f')
  AND n.nspname NOT LIKE 'pg\_%'
  AND (n.nspname NOT IN ('information_schema', 'trovella')
       -- the audit history (issue 34): a tenant's table like any other
       OR (n.nspname = 'trovella' AND c.relname = 'audit_history'));

------------------------------------------------------------------------
-- Citus (issue 32, point 4): health sees every node.  A worker added after
-- use_membership() got Citus's copy of the registration with the
-- coordinator's OID and failed every pairing while health said ok: health
-- now asks each worker whether its cluster key is usable and the
-- membership registration resolves there.
------------------------------------------------------------------------
-- STABLE: reads the registration.
CREATE FUNCTION trovella.membership_table()
RETURNS regclass
LANGUAGE c STABLE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'trovella_membership_table_sql';
COMMENT ON FUNCTION trovella.membership_table() IS
'the table this node reads memberships from (its own copy of a Citus reference table), NULL when none is registered; an error when the registration cannot serve here';

-- STABLE: reads Citus's metadata and asks every worker.
CREATE FUNCTION trovella.cluster_health()
RETURNS TABLE (check_name text, status text, detail text)
LANGUAGE plpgsql STABLE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	workers bigint;
	inactive text;
	failed text;
BEGIN
	IF NOT EXISTS (SELECT FROM pg_extension e WHERE e.extname = 'citus') THEN
		RETURN;
	END IF;
	-- Citus's objects are named only in this text, so that the function is
	-- valid on a database without Citus
	EXECUTE $q$
		SELECT (SELECT count(*) FROM pg_catalog.pg_dist_node n
		        WHERE n.noderole OPERATOR(pg_catalog.=) 'primary'
		          AND n.groupid OPERATOR(pg_catalog.<>) (SELECT g.groupid FROM pg_catalog.pg_dist_local_group g)),
		       (SELECT pg_catalog.string_agg(pg_catalog.format('%s:%s', n.nodename, n.nodeport), ', ')
		        FROM pg_catalog.pg_dist_node n WHERE NOT n.isactive AND n.noderole OPERATOR(pg_catalog.=) 'primary')
	$q$ INTO workers, inactive;
	check_name := 'cluster_nodes';
	IF workers = 0 THEN
		status := 'ok';
		detail := 'no worker in Citus''s metadata';
		RETURN NEXT;
		RETURN;
	END IF;
	EXECUTE $q$
		SELECT pg_catalog.string_agg(pg_catalog.format('%s:%s: %s', w.nodename, w.nodeport, w.result), '; '
		                             ORDER BY w.nodename, w.nodeport)
		FROM pg_catalog.run_command_on_workers(
		    'SELECT pg_catalog.concat(trovella.cluster_key_problem(), '
		    '  CASE WHEN trovella.membership_table() IS NULL THEN '''' ELSE '''' END)') w
		WHERE NOT w.success OR w.result OPERATOR(pg_catalog.<>) ''
	$q$ INTO failed;
	IF inactive IS NOT NULL OR failed IS NOT NULL THEN
		status := 'problem';
		detail := concat_ws('; ', 'inactive: ' || inactive, failed);
	ELSE
		status := 'ok';
		detail := format('%s workers: each has a usable cluster key and resolves the membership registration', workers);
	END IF;
	RETURN NEXT;
END
$$;
COMMENT ON FUNCTION trovella.cluster_health() IS
'trovella.health''s checks of every Citus worker: the cluster key, the membership registration; no row without Citus';
REVOKE EXECUTE ON FUNCTION trovella.cluster_health() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trovella.cluster_health() TO pg_monitor;

CREATE OR REPLACE VIEW trovella.health AS
SELECT * FROM trovella.health_checks()
UNION ALL
SELECT * FROM trovella.cluster_health();
-- The guard sees every DDL statement, not a list of command tags: a tag
-- missing from the list (CREATE SCHEMA with a table in it, ALTER TYPE ...
-- CASCADE, IMPORT FOREIGN SCHEMA) left a table unjudged, and a partition
-- made by CREATE SCHEMA without its parent's isolation.  The statements
-- that can have nothing to do with a table are passed over in C.  Every
-- relation a statement reports is a candidate, whatever its object type
-- (a renamed column is a 'table column'), with the tables typed by a
-- composite type it altered and every table that inherits from it.
------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION trovella.isolation_guard_candidates()
RETURNS TABLE (tbl regclass, tenant_column name)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN QUERY
	WITH RECURSIVE reported AS (
		SELECT DISTINCT CASE WHEN c.classid = 'pg_policy'::regclass
		                     THEN (SELECT p.polrelid FROM pg_policy p WHERE p.oid = c.objid)
		                     ELSE c.objid END AS relid
		FROM pg_event_trigger_ddl_commands() c
		WHERE c.classid IN ('pg_class'::regclass, 'pg_policy'::regclass)
	),
	-- a composite type altered with CASCADE changed the tables it types
	direct AS (
		SELECT r.relid FROM reported r
		UNION
		SELECT t.oid FROM reported r
		JOIN pg_class ct ON ct.oid = r.relid AND ct.relkind = 'c'
		JOIN pg_class t ON t.reloftype = ct.reltype
	),
	-- and a table its descendants, partitions or not (a column renamed on
	-- the parent is renamed on them)
	tree (relid) AS (
		SELECT d.relid FROM direct d
		UNION
		SELECT i.inhrelid FROM tree t JOIN pg_inherits i ON i.inhparent = t.relid
	),
	touched AS MATERIALIZED (
		SELECT t.relid FROM tree t JOIN pg_class c ON c.oid = t.relid
		WHERE c.relkind IN ('r', 'p', 'f')
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

DROP EVENT TRIGGER trovella_isolation_guard;
CREATE EVENT TRIGGER trovella_isolation_guard ON ddl_command_end
	EXECUTE FUNCTION trovella.isolation_guard();
COMMENT ON EVENT TRIGGER trovella_isolation_guard IS
'warns about, refuses or isolates tables left with a tenant column but without tenant isolation (trovella.isolation_guard); every DDL statement';

-- Citus (issue 32, point 5): the token table stays on the coordinator.
-- 0.4.0 advised making it a reference table; a transaction that wrote it
-- (as trovella's owner) and one of the application's reference tables (as
-- the application) then failed with 25001.  The upgrade notes take it back
-- to the coordinator before this update (ALTER EXTENSION ... DROP TABLE,
-- undistribute_table(), ALTER EXTENSION ... ADD TABLE), which leaves a new
-- table that pg_dump no longer dumps the rows of: registered again here (a
-- table registered already keeps its registration).
SELECT pg_catalog.pg_extension_config_dump('trovella.personal_access_token', '');

------------------------------------------------------------------------
-- Audit trail (issue 34): who changed what, recorded by a trigger as the
-- extension's owner, attributed from the sealed context, isolated by
-- tenant, append-only for every role but a superuser, sealed in batches
-- into one hash chain per tenant (src/audit.c, src/audit_seal.c).

-- The tables audited: a record names its table by this id, which a dump
-- and restore keeps (a regclass does not survive the table's drop: the
-- event trigger below clears it).
CREATE TABLE trovella.audit_table (
	id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	relid regclass UNIQUE,
	name text NOT NULL,
	enabled boolean NOT NULL DEFAULT true,
	enabled_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE trovella.audit_table IS
'the tables trovella.enable_audit was called on; relid is NULL once the table was dropped, name its last qualified name';
REVOKE ALL ON trovella.audit_table FROM PUBLIC;

-- CACHE 1: trovella.audit_seal() takes every record numbered up to the
-- sequence's last value as final once the transactions writing the history
-- have ended; a backend holding a cached range would break that.
CREATE SEQUENCE trovella.audit_seq AS bigint CACHE 1;
REVOKE ALL ON SEQUENCE trovella.audit_seq FROM PUBLIC;

-- tenant_id: the row's tenant; the nil uuid for records of no tenant (a
-- TRUNCATE, a table without a tenant column), which no role that
-- row-level security binds reads.  row_key in the "C" collation: a key is
-- looked up by equality, never sorted for a reader, and every record is
-- inserted into the index by row, whose comparisons a linguistic collation
-- made several times dearer.
CREATE TABLE trovella.audit_history (
	seq bigint NOT NULL DEFAULT pg_catalog.nextval('trovella.audit_seq'),
	tenant_id uuid NOT NULL,
	table_id integer NOT NULL,
	operation "char" NOT NULL,
	row_key text COLLATE pg_catalog."C",
	user_id uuid,
	role text NOT NULL,
	login_role text NOT NULL,
	xact xid8 NOT NULL,
	at timestamptz NOT NULL,
	old jsonb,
	new jsonb,
	hash bytea NOT NULL
);
COMMENT ON TABLE trovella.audit_history IS
'one row per audited change: written only by trovella''s audit trigger, as the extension''s owner; read through trovella.audit_log';
CREATE INDEX audit_history_seq ON trovella.audit_history USING brin (seq);
CREATE INDEX audit_history_tenant ON trovella.audit_history (tenant_id, seq);
CREATE INDEX audit_history_row ON trovella.audit_history (tenant_id, table_id, row_key);
REVOKE ALL ON trovella.audit_history FROM PUBLIC;
SELECT trovella.enable_tenant_isolation('trovella.audit_history');
-- The nil uuid's context is the owner's for maintenance (README,
-- Operations); the records of no tenant are not for it, nor for any role
-- row-level security binds.
CREATE POLICY trovella_audit_no_tenant ON trovella.audit_history AS RESTRICTIVE
	USING (tenant_id OPERATOR(pg_catalog.<>) '00000000-0000-0000-0000-000000000000'::pg_catalog.uuid);

-- One hash chain per tenant (the nil uuid's: the records of no tenant).  Seal n
-- covers the tenant's records numbered after seal n-1's upto and up to its
-- own; digest = SHA-256(digest n-1, each record's hash in order, upto,
-- records).
CREATE TABLE trovella.audit_seal (
	tenant_id uuid NOT NULL,
	seal_no bigint NOT NULL,
	upto bigint NOT NULL,
	records bigint NOT NULL,
	digest bytea NOT NULL,
	sealed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (tenant_id, seal_no)
);
COMMENT ON TABLE trovella.audit_seal IS
'the seals of each tenant''s audit history, written by trovella.audit_seal()';
REVOKE ALL ON trovella.audit_seal FROM PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('trovella.audit_table', '');
-- its identity's sequence too: restored without it, the numbering starts
-- again at 1 and enable_audit() of a table new since the restore fails
-- (23505) on a restored table's id
SELECT pg_catalog.pg_extension_config_dump('trovella.audit_table_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('trovella.audit_seq', '');
SELECT pg_catalog.pg_extension_config_dump('trovella.audit_history', '');
SELECT pg_catalog.pg_extension_config_dump('trovella.audit_seal', '');

CREATE FUNCTION trovella.audit_row()
RETURNS trigger
AS 'MODULE_PATHNAME', 'trovella_audit_row'
LANGUAGE C;
COMMENT ON FUNCTION trovella.audit_row() IS
'trigger function of trovella.enable_audit: records an inserted, updated or deleted row';

CREATE FUNCTION trovella.audit_truncate()
RETURNS trigger
AS 'MODULE_PATHNAME', 'trovella_audit_truncate'
LANGUAGE C;
COMMENT ON FUNCTION trovella.audit_truncate() IS
'trigger function of trovella.enable_audit: records a TRUNCATE';

CREATE VIEW trovella.audit_log WITH (security_invoker = true) AS
	SELECT h.seq,
	       t.relid AS table_name,
	       t.name AS table_text,
	       CASE h.operation WHEN 'I' THEN 'INSERT' WHEN 'U' THEN 'UPDATE'
	                        WHEN 'D' THEN 'DELETE' WHEN 'T' THEN 'TRUNCATE'
	                        WHEN 'A' THEN 'AUDIT' END AS operation,
	       h.row_key, h.tenant_id, h.user_id, h.role, h.login_role, h.xact, h.at,
	       h.old, h.new
	FROM trovella.audit_history h
	JOIN trovella.audit_table t ON t.id OPERATOR(pg_catalog.=) h.table_id;
COMMENT ON VIEW trovella.audit_log IS
'the audit history a role may read: under a tenant context, that tenant''s records (row-level security on trovella.audit_history)';
-- Readers need SELECT on the view and on the history (security_invoker); the
-- table names are no secret.
GRANT SELECT ON trovella.audit_table TO PUBLIC;

CREATE FUNCTION trovella.enable_audit(tbl regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'trovella_enable_audit'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION trovella.enable_audit(regclass) IS
'records every INSERT, UPDATE, DELETE and TRUNCATE of the table (and its partitions) in trovella.audit_history; the caller must own the table; idempotent';

CREATE FUNCTION trovella.disable_audit(tbl regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'trovella_disable_audit'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION trovella.disable_audit(regclass) IS
'stops recording the table''s changes; its history is kept; the caller must own the table';

CREATE FUNCTION trovella.audit_seal()
RETURNS bigint
AS 'MODULE_PATHNAME', 'trovella_audit_seal'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION trovella.audit_seal() IS
'seals every audit record written since the last seal into its tenant''s hash chain; returns how many; run it as a job';
REVOKE ALL ON FUNCTION trovella.audit_seal() FROM PUBLIC;

CREATE FUNCTION trovella.audit_head(tenant uuid)
RETURNS text
AS 'MODULE_PATHNAME', 'trovella_audit_head'
LANGUAGE C STABLE PARALLEL UNSAFE;
COMMENT ON FUNCTION trovella.audit_head(uuid) IS
'the tenant''s last seal, as text to hand to the tenant or an auditor (NULL: records of no tenant); trovella.audit_verify checks the history against it';
REVOKE ALL ON FUNCTION trovella.audit_head(uuid) FROM PUBLIC;

CREATE FUNCTION trovella.audit_verify(tenant uuid, head text DEFAULT NULL,
	OUT ok boolean, OUT seals bigint, OUT records bigint, OUT unsealed bigint,
	OUT broken_seal bigint, OUT broken_seq bigint, OUT problem text)
RETURNS record
AS 'MODULE_PATHNAME', 'trovella_audit_verify'
LANGUAGE C STABLE PARALLEL UNSAFE;
COMMENT ON FUNCTION trovella.audit_verify(uuid, text) IS
'recomputes the tenant''s hash chain (NULL: records of no tenant) and reports the first record or seal that does not match, or a head it does not reach';
REVOKE ALL ON FUNCTION trovella.audit_verify(uuid, text) FROM PUBLIC;

-- A dropped table's id stays (its records name it) without the regclass,
-- which another table could take over once its OID is used again.
CREATE FUNCTION trovella.audit_table_drop()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'trovella_audit_table_drop'
LANGUAGE C;
COMMENT ON FUNCTION trovella.audit_table_drop() IS
'event trigger function: forgets the OID of a dropped audited table';
CREATE EVENT TRIGGER trovella_audit_table_drop ON sql_drop
	WHEN TAG IN ('DROP TABLE', 'DROP SCHEMA', 'DROP OWNED')
	EXECUTE FUNCTION trovella.audit_table_drop();

-- A trigger of that name on the table: NULL if none, 'X' if it is not
-- exactly the one enable_audit makes (another function, events, a WHEN
-- clause, a column list, arguments: a look-alike), else its tgenabled.
CREATE FUNCTION trovella.audit_trigger_state(tbl oid, trigger_name name)
RETURNS "char"
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN g.tgqual IS NULL
	                 AND pg_catalog.cardinality(g.tgattr::pg_catalog.int2[]) = 0
	                 AND CASE trigger_name
	                         WHEN 'trovella_audit'
	                         THEN g.tgfoid = 'trovella.audit_row()'::pg_catalog.regprocedure
	                              AND g.tgtype = 29      -- AFTER INSERT OR UPDATE OR DELETE, FOR EACH ROW
	                              -- its arguments: the registration of the table or its audited ancestor, and
	                              -- that table's name now (schema-qualified: the search_path is pg_catalog's)
	                              AND g.tgnargs = 2
	                              AND g.tgargs = (SELECT pg_catalog.convert_to(t.id::pg_catalog.text, 'UTF8')
	                                                     OPERATOR(pg_catalog.||) '\x00'::pg_catalog.bytea
	                                                     OPERATOR(pg_catalog.||) pg_catalog.convert_to(t.relid::pg_catalog.text, 'UTF8')
	                                                     OPERATOR(pg_catalog.||) '\x00'::pg_catalog.bytea
	                                              FROM (SELECT tbl::pg_catalog.regclass, 0::pg_catalog.int8
	                                                    UNION ALL
	                                                    SELECT * FROM pg_catalog.pg_partition_ancestors(tbl) WITH ORDINALITY) a(relid, n)
	                                              JOIN trovella.audit_table t ON t.relid::pg_catalog.oid OPERATOR(pg_catalog.=) a.relid
	                                              WHERE t.enabled ORDER BY a.n LIMIT 1)
	                         WHEN 'trovella_audit_truncate'
	                         THEN g.tgfoid = 'trovella.audit_truncate()'::pg_catalog.regprocedure
	                              AND g.tgtype = 32      -- AFTER TRUNCATE, FOR EACH STATEMENT
	                              AND g.tgnargs = 0
	                         ELSE false END
	            THEN g.tgenabled ELSE 'X' END
	FROM pg_catalog.pg_trigger g
	WHERE g.tgrelid = tbl AND g.tgname = trigger_name
$$;
COMMENT ON FUNCTION trovella.audit_trigger_state(oid, name) IS
'internal (trovella.audit_status, enable_audit): NULL without the trigger, ''X'' for one that is not exactly trovella''s, else its tgenabled';

-- On Citus a distributed table's changes are recorded by its shards' copies
-- of trovella's row trigger, on the workers, where the table's owner can
-- disable or drop them (citus.enable_manual_changes_to_shards): judged there.
CREATE FUNCTION trovella.audit_shard_recording(shard oid)
RETURNS boolean
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT EXISTS (SELECT FROM pg_catalog.pg_trigger g
	               WHERE g.tgrelid = shard
	               AND g.tgfoid = 'trovella.audit_row()'::pg_catalog.regprocedure
	               AND g.tgtype = 29 AND g.tgqual IS NULL AND g.tgnargs = 2
	               AND pg_catalog.cardinality(g.tgattr::pg_catalog.int2[]) = 0
	               AND g.tgenabled OPERATOR(pg_catalog.=) ANY ('{O,A}'::pg_catalog."char"[]))
$$;
COMMENT ON FUNCTION trovella.audit_shard_recording(oid) IS
'internal (trovella.audit_status, on a Citus worker): whether a shard has trovella''s row trigger, enabled';

CREATE FUNCTION trovella.audit_placements_recording(tbl oid)
RETURNS boolean
LANGUAGE plpgsql STABLE STRICT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	sharded boolean;
	recording boolean;
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'citus') THEN
		RETURN true;
	END IF;
	EXECUTE 'SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_partition d
	         WHERE d.logicalrelid OPERATOR(pg_catalog.=) $1 AND d.partkey IS NOT NULL)'
		INTO sharded USING tbl;
	IF NOT sharded THEN
		RETURN true;		-- the table's own trigger records its changes
	END IF;
	EXECUTE 'SELECT coalesce(pg_catalog.bool_and(r.success AND r.result OPERATOR(pg_catalog.=) ''t''), false)
	         FROM pg_catalog.run_command_on_placements($1::pg_catalog.regclass,
	              ''SELECT trovella.audit_shard_recording(%L::pg_catalog.regclass)'') r'
		INTO recording USING tbl;
	RETURN recording;
END
$$;
COMMENT ON FUNCTION trovella.audit_placements_recording(oid) IS
'internal (trovella.audit_status): on Citus, whether every shard placement of a distributed table has trovella''s row trigger, enabled; true for any other table';

CREATE VIEW trovella.audit_status WITH (security_invoker = true) AS
	SELECT t.relid AS table_name, t.name, t.enabled,
	       t.enabled AND t.relid IS NOT NULL AND NOT EXISTS (
	           SELECT 1
	           FROM (SELECT t.relid::pg_catalog.oid AS relid
	                 UNION SELECT p.relid FROM pg_catalog.pg_partition_tree(t.relid) p) m,
	                (VALUES ('trovella_audit'::pg_catalog.name), ('trovella_audit_truncate')) AS n(tgname)
	           WHERE (coalesce(trovella.audit_trigger_state(m.relid, n.tgname)
	                           OPERATOR(pg_catalog.=) ANY ('{O,A}'::pg_catalog."char"[]), false)
	                  AND (n.tgname OPERATOR(pg_catalog.<>) 'trovella_audit'
	                       OR trovella.audit_placements_recording(m.relid)))
	                 IS NOT TRUE) AS recording
	FROM trovella.audit_table t;
COMMENT ON VIEW trovella.audit_status IS
'each table trovella.enable_audit was called on, and whether its changes are being recorded (trovella''s two triggers, exactly as enable_audit made them, enabled on it and on every partition, and on Citus on every shard)';
GRANT SELECT ON trovella.audit_status TO PUBLIC;

-- PostgreSQL clones a row trigger to new partitions, not a TRUNCATE trigger.
CREATE FUNCTION trovella.audit_partitions()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'trovella_audit_partitions'
LANGUAGE C;
COMMENT ON FUNCTION trovella.audit_partitions() IS
'event trigger function: gives a partition created in or attached to an audited table its TRUNCATE trigger';
CREATE EVENT TRIGGER trovella_audit_partitions ON ddl_command_end
	WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
	EXECUTE FUNCTION trovella.audit_partitions();

-- On Citus: the history and its seals distributed by tenant, co-located
-- with the tenant tables, so that each shard's trigger records into the
-- history's shard on its own node, and a tenant's history moves with its
-- rows.  Run once on the coordinator, by the extension's owner, before
-- enable_audit() on a distributed table.
CREATE FUNCTION trovella.distribute_audit(colocate_with regclass)
RETURNS void
LANGUAGE plpgsql STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	group_id integer;
	history_group integer;
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'citus') THEN
		RAISE EXCEPTION 'trovella: distribute_audit() needs Citus'
			USING ERRCODE = '0A000',
			      DETAIL = 'Without Citus the history is one table of this server.';
	END IF;
	EXECUTE 'SELECT d.colocationid FROM pg_catalog.pg_dist_partition d
	         WHERE d.logicalrelid OPERATOR(pg_catalog.=) $1 AND d.partmethod OPERATOR(pg_catalog.=) ''h'''
		INTO group_id USING colocate_with;
	IF group_id IS NULL THEN
		RAISE EXCEPTION 'trovella: % is not a table Citus distributes by hash', colocate_with
			USING ERRCODE = '22023',
			      HINT = 'Name a tenant table distributed by its tenant column.';
	END IF;
	EXECUTE 'SELECT d.colocationid FROM pg_catalog.pg_dist_partition d
	         WHERE d.logicalrelid OPERATOR(pg_catalog.=) ''trovella.audit_history''::pg_catalog.regclass'
		INTO history_group;
	IF history_group OPERATOR(pg_catalog.=) group_id THEN
		RETURN;		-- done before
	ELSIF history_group IS NOT NULL THEN
		RAISE EXCEPTION 'trovella: the audit history is already distributed, co-located with other tables than %', colocate_with
			USING ERRCODE = '55000';
	END IF;
	EXECUTE 'SELECT pg_catalog.create_distributed_table(''trovella.audit_history'', ''tenant_id'', colocate_with => $1)'
		USING colocate_with::pg_catalog.text;
	EXECUTE 'SELECT pg_catalog.create_distributed_table(''trovella.audit_seal'', ''tenant_id'', colocate_with => $1)'
		USING colocate_with::pg_catalog.text;
	-- Citus would send the registry, a table of this node, to the workers
	-- and join it there, as OIDs that name the workers' own relations: the
	-- history is fetched first (OFFSET 0), and joined to the registry here.
	-- (An update script that redefines audit_log must keep this form
	-- where the history is distributed.)
	CREATE OR REPLACE VIEW trovella.audit_log WITH (security_invoker = true) AS
		SELECT h.seq,
		       t.relid AS table_name,
		       t.name AS table_text,
		       CASE h.operation WHEN 'I' THEN 'INSERT' WHEN 'U' THEN 'UPDATE'
		                        WHEN 'D' THEN 'DELETE' WHEN 'T' THEN 'TRUNCATE'
		                        WHEN 'A' THEN 'AUDIT' END AS operation,
		       h.row_key, h.tenant_id, h.user_id, h.role, h.login_role, h.xact, h.at,
		       h.old, h.new
		FROM (SELECT * FROM trovella.audit_history OFFSET 0) h
		JOIN trovella.audit_table t ON t.id OPERATOR(pg_catalog.=) h.table_id;
END
$$;
COMMENT ON FUNCTION trovella.distribute_audit(regclass) IS
'On Citus: distributes trovella.audit_history and trovella.audit_seal by tenant, co-located with the given tenant table; once, on the coordinator, before auditing distributed tables';
REVOKE ALL ON FUNCTION trovella.distribute_audit(regclass) FROM PUBLIC;

------------------------------------------------------------------------
-- Standard columns (issue 34, point 4): created_at, updated_at,
-- created_by and updated_by, kept by a C trigger from the transaction's
-- time and the sealed context's user (src/row_columns.c), whatever the
-- client sends.  The trigger is named trovella_standard_columns: BEFORE
-- triggers fire in the byte order of their names, so a trigger of the
-- table named before it runs first and what it writes to these columns is
-- overwritten.
------------------------------------------------------------------------

-- VOLATILE: reads the transaction's time and the context.
CREATE FUNCTION trovella.standard_columns()
RETURNS trigger
AS 'MODULE_PATHNAME', 'trovella_standard_columns'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION trovella.standard_columns() IS
'trigger of enable_standard_columns: sets created_at, updated_at (the transaction''s time), created_by, updated_by (the context''s user) on INSERT, and updated_* on UPDATE, keeping created_* of the old row';

-- STABLE: reads the catalog.  42501 unless the caller may act as the
-- table's owner; 42809 for anything but an ordinary or partitioned table.
CREATE FUNCTION trovella.require_table_owner(tbl regclass, function_name text)
RETURNS void
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	kind "char";
	owner oid;
BEGIN
	SELECT c.relkind, c.relowner INTO kind, owner FROM pg_class c WHERE c.oid = tbl;
	IF kind IS NULL OR kind NOT IN ('r', 'p') THEN
		RAISE EXCEPTION 'trovella: % is not a table', tbl
			USING ERRCODE = 'wrong_object_type',
			      HINT = format('trovella.%s applies to ordinary and partitioned tables.', function_name);
	END IF;
	IF NOT pg_has_role(current_user, owner, 'USAGE') THEN
		RAISE EXCEPTION 'trovella: must be owner of table % to call trovella.%', tbl, function_name
			USING ERRCODE = 'insufficient_privilege',
			      HINT = format('Run it as %s, the role that runs the migrations.', owner::regrole);
	END IF;
END
$$;
COMMENT ON FUNCTION trovella.require_table_owner(regclass, text) IS
'raises 42501 unless the caller owns the table (or is a member of its owner), 42809 unless it is an ordinary or partitioned table';

-- VOLATILE: alters the table.  Creates (or creates again) trovella's row
-- trigger on the table; on a partition that has it from its parent
-- already, nothing.  The comment marks it reviewed for isolation_status:
-- it writes the row it fires for, and other rows (soft delete's) only as
-- the caller, under the caller's policies.
CREATE FUNCTION trovella.create_row_trigger(tbl regclass, trigger_name name, events text, function_name text)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	cloned boolean;
BEGIN
	SELECT t.tgparentid <> 0 INTO cloned FROM pg_trigger t WHERE t.tgrelid = tbl AND t.tgname = trigger_name;
	IF cloned THEN
		RETURN;
	ELSIF FOUND THEN
		EXECUTE format('DROP TRIGGER %I ON %s', trigger_name, tbl);
	END IF;
	EXECUTE format('CREATE TRIGGER %I BEFORE %s ON %s FOR EACH ROW EXECUTE FUNCTION trovella.%I()',
	               trigger_name, events, tbl, function_name);
	EXECUTE format('COMMENT ON TRIGGER %I ON %s IS %L', trigger_name, tbl,
	               format('trovella: reviewed: trovella''s trigger (%s): it writes the row it fires for, and other rows only as the caller, under its policies', function_name));
END
$$;
COMMENT ON FUNCTION trovella.create_row_trigger(regclass, name, text, text) IS
'creates trovella''s BEFORE row trigger of that name on the table (again if it exists; not on a partition that has it from its parent), marked reviewed';

-- VOLATILE: alters the table.  Drops trovella's row trigger of that name
-- (not a partition's clone of its parent's).
CREATE FUNCTION trovella.drop_row_trigger(tbl regclass, trigger_name name)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = tbl AND t.tgname = trigger_name AND t.tgparentid = 0) THEN
		EXECUTE format('DROP TRIGGER %I ON %s', trigger_name, tbl);
	END IF;
END
$$;
COMMENT ON FUNCTION trovella.drop_row_trigger(regclass, name) IS
'drops the table''s own trigger of that name, if it has one';

-- VOLATILE: alters the table.  Adds each column that is missing (42804
-- when one of that name has another type).
CREATE FUNCTION trovella.add_row_columns(tbl regclass, columns text[], types regtype[], definitions text[])
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	existing regtype;
	i int;
BEGIN
	FOR i IN 1 .. cardinality(columns) LOOP
		SELECT a.atttypid INTO existing
		FROM pg_attribute a
		WHERE a.attrelid = tbl AND a.attname = columns[i] AND a.attnum > 0 AND NOT a.attisdropped;
		IF NOT FOUND THEN
			EXECUTE format('ALTER TABLE %s ADD COLUMN %I %s', tbl, columns[i], definitions[i]);
		ELSIF existing <> types[i] THEN
			RAISE EXCEPTION 'trovella: column "%" of table % is of type %, not %',
					columns[i], tbl, existing, types[i]
				USING ERRCODE = 'datatype_mismatch',
				      HINT = format('trovella writes %s into it: rename the column, or change its type to %s.',
				                    types[i], types[i]);
		END IF;
	END LOOP;
END
$$;
COMMENT ON FUNCTION trovella.add_row_columns(regclass, text[], regtype[], text[]) IS
'adds each of the columns the table lacks, with its definition; 42804 when one exists with another type';

-- VOLATILE: alters the table.
CREATE FUNCTION trovella.enable_standard_columns(tbl regclass)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM trovella.require_table_owner(tbl, 'enable_standard_columns');
	PERFORM trovella.add_row_columns(tbl,
		ARRAY['created_at', 'updated_at', 'created_by', 'updated_by'],
		ARRAY['timestamptz', 'timestamptz', 'uuid', 'uuid']::regtype[],
		ARRAY['timestamptz NOT NULL DEFAULT pg_catalog.now()', 'timestamptz NOT NULL DEFAULT pg_catalog.now()',
		      'uuid', 'uuid']);
	PERFORM trovella.create_row_trigger(tbl, 'trovella_standard_columns', 'INSERT OR UPDATE', 'standard_columns');
END
$$;
COMMENT ON FUNCTION trovella.enable_standard_columns(regclass) IS
'adds created_at, updated_at, created_by, updated_by where missing and the trigger that keeps them from the transaction''s time and the context''s user; the caller must own the table; idempotent';

-- VOLATILE: alters the table.  The columns and their values stay.
CREATE FUNCTION trovella.disable_standard_columns(tbl regclass)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM trovella.require_table_owner(tbl, 'disable_standard_columns');
	PERFORM trovella.drop_row_trigger(tbl, 'trovella_standard_columns');
END
$$;
COMMENT ON FUNCTION trovella.disable_standard_columns(regclass) IS
'drops the trigger of enable_standard_columns; the columns and their values stay; the caller must own the table';

------------------------------------------------------------------------
-- Soft delete (issue 34, point 5): a DELETE marks the row in deleted_at
-- and deleted_by instead of removing it (src/soft_delete.c), and the
-- restrictive policy trovella_soft_delete hides marked rows from reads.
-- The policy lets them through while trovella's own statements run (the
-- mark, restore, purge), so that PostgreSQL's check of an UPDATE's new row
-- against the SELECT policies, the trap of hand-written soft deletes under
-- row-level security, never refuses them (42501).
------------------------------------------------------------------------

-- VOLATILE: reads the transaction's time and the context; runs statements.
CREATE FUNCTION trovella.soft_delete()
RETURNS trigger
AS 'MODULE_PATHNAME', 'trovella_soft_delete'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION trovella.soft_delete() IS
'trigger of enable_soft_delete: a DELETE marks the row (deleted_at, deleted_by) instead; an INSERT clears them and really deletes a marked row holding its key; an UPDATE cannot change them and skips marked rows';

-- VOLATILE: true while trovella's own statements run, which a statement
-- can start (its value may change within one).
CREATE FUNCTION trovella.deleted_rows_visible()
RETURNS boolean
AS 'MODULE_PATHNAME', 'trovella_deleted_rows_visible_sql'
LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION trovella.deleted_rows_visible() IS
'whether rows marked deleted pass the trovella_soft_delete policy now: in a transaction that called with_deleted(), and while trovella marks, restores or purges rows';

CREATE FUNCTION trovella.with_deleted()
RETURNS void
AS 'MODULE_PATHNAME', 'trovella_with_deleted'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION trovella.with_deleted() IS
'the rest of the transaction reads the rows soft delete marked deleted (of the tenant''s tables: row-level security still applies); 25P01 outside a transaction block';

CREATE FUNCTION trovella.restore(tbl regclass, key_value anyelement, key_column name DEFAULT 'id')
RETURNS bigint
AS 'MODULE_PATHNAME', 'trovella_restore'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION trovella.restore(regclass, anyelement, name) IS
'clears deleted_at and deleted_by of the marked rows whose key_column equals key_value, as the caller under row-level security (a tenant restores its own rows); how many';

CREATE FUNCTION trovella.purge_deleted(tbl regclass, older_than interval)
RETURNS bigint
AS 'MODULE_PATHNAME', 'trovella_purge_deleted'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION trovella.purge_deleted(regclass, interval) IS
'really deletes the rows marked deleted longer ago than older_than, every tenant''s: a job of the table''s owner (42501 for anyone else), run as the owner with forced row-level security set aside; how many';

-- VOLATILE: alters the table.  Refused (55000) unless row-level security
-- is enabled and forced: without it no policy could hide marked rows, and
-- enabling it here would hide every row but those a policy admits.
CREATE FUNCTION trovella.enable_soft_delete(tbl regclass)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	member regclass;
BEGIN
	PERFORM trovella.require_table_owner(tbl, 'enable_soft_delete');
	IF NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = tbl AND c.relrowsecurity AND c.relforcerowsecurity) THEN
		RAISE EXCEPTION 'trovella: table % has no row-level security enabled and forced', tbl
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      DETAIL = 'Soft delete hides deleted rows with a row-level security policy, which would not apply.',
			      HINT = format('Run SELECT trovella.enable_tenant_isolation(%L) first, or ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY with policies of your own.',
			                    tbl::text, tbl);
	END IF;
	PERFORM trovella.add_row_columns(tbl, ARRAY['deleted_at', 'deleted_by'],
	                                 ARRAY['timestamptz', 'uuid']::regtype[], ARRAY['timestamptz', 'uuid']);
	PERFORM trovella.create_row_trigger(tbl, 'trovella_soft_delete', 'INSERT OR UPDATE OR DELETE', 'soft_delete');
	-- the table, then every partition below it, read directly
	FOR member IN
		SELECT tbl
		UNION ALL
		SELECT t.relid FROM pg_partition_tree(tbl) t WHERE t.relid <> tbl AND t.level > 0
	LOOP
		IF EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = member AND p.polname = 'trovella_soft_delete') THEN
			EXECUTE format('DROP POLICY trovella_soft_delete ON %s', member);
		END IF;
		EXECUTE format('CREATE POLICY trovella_soft_delete ON %s AS RESTRICTIVE FOR SELECT TO PUBLIC '
		               'USING (deleted_at IS NULL OR trovella.deleted_rows_visible())', member);
	END LOOP;
END
$$;
COMMENT ON FUNCTION trovella.enable_soft_delete(regclass) IS
'adds deleted_at and deleted_by where missing, the trigger that turns DELETE into marking the row, and the restrictive policy trovella_soft_delete that hides marked rows (on every partition too); needs row-level security enabled and forced; the caller must own the table; idempotent';

-- VOLATILE: alters the table.  The columns stay, and marked rows become
-- visible again.
CREATE FUNCTION trovella.disable_soft_delete(tbl regclass)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	member regclass;
BEGIN
	PERFORM trovella.require_table_owner(tbl, 'disable_soft_delete');
	PERFORM trovella.drop_row_trigger(tbl, 'trovella_soft_delete');
	FOR member IN
		SELECT tbl
		UNION ALL
		SELECT t.relid FROM pg_partition_tree(tbl) t WHERE t.relid <> tbl AND t.level > 0
	LOOP
		IF EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = member AND p.polname = 'trovella_soft_delete') THEN
			EXECUTE format('DROP POLICY trovella_soft_delete ON %s', member);
		END IF;
	END LOOP;
END
$$;
COMMENT ON FUNCTION trovella.disable_soft_delete(regclass) IS
'drops the trigger and the policies of enable_soft_delete; deleted_at and deleted_by stay, and the rows they mark are read again; the caller must own the table';

-- health's audit check: a table audited but not recording (a trigger
-- dropped or disabled, on it or a partition), and records left unsealed
-- (no sealing job); where Citus distributes the history, judged per group
-- of numbers (one group's seals say nothing of another's records).
CREATE FUNCTION trovella.audit_health()
RETURNS TABLE (check_name text, status text, detail text)
LANGUAGE plpgsql STABLE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	silent text;
	audited bigint;
	oldest timestamptz;
	distributed boolean := false;
BEGIN
	check_name := 'audit';
	SELECT count(*), string_agg(s.table_name::text, ', ' ORDER BY s.table_name::text) FILTER (WHERE NOT s.recording)
	INTO audited, silent
	FROM trovella.audit_status s WHERE s.enabled;
	IF EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'citus') THEN
		EXECUTE 'SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_partition d
		         WHERE d.logicalrelid OPERATOR(pg_catalog.=) ''trovella.audit_history''::pg_catalog.regclass)'
			INTO distributed;
	END IF;
	IF distributed THEN
		-- each group of numbers sealed up to its own highest upto
		WITH sealed AS (
			SELECT u OPERATOR(pg_catalog.>>) 48 AS g, max(u) AS upto
			FROM trovella.audit_seal s, unnest(COALESCE(s.uptos, ARRAY[s.upto])) u GROUP BY 1)
		SELECT min(h.at) INTO oldest FROM trovella.audit_history h
		LEFT JOIN sealed x ON x.g OPERATOR(pg_catalog.=) (h.seq OPERATOR(pg_catalog.>>) 48)
		WHERE h.seq OPERATOR(pg_catalog.>) COALESCE(x.upto, 0);
	ELSE
		SELECT min(h.at) INTO oldest FROM trovella.audit_history h
		WHERE h.seq > (SELECT coalesce(max(s.upto), 0) FROM trovella.audit_seal s);
	END IF;
	IF silent IS NOT NULL THEN
		status := 'problem';
		detail := format('audited but not recording (a trigger dropped or disabled): %s; run trovella.enable_audit() on each', silent);
	ELSIF oldest < now() - interval '1 hour' THEN
		status := 'warning';
		detail := format('records unsealed since %s: schedule SELECT trovella.audit_seal() (every minute)', oldest);
	ELSE
		status := 'ok';
		detail := format('%s tables audited and recording', audited);
	END IF;
	RETURN NEXT;
END
$$;
COMMENT ON FUNCTION trovella.audit_health() IS
'trovella.health''s audit check: every audited table recording, no record left unsealed for more than an hour';
REVOKE EXECUTE ON FUNCTION trovella.audit_health() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trovella.audit_health() TO pg_monitor;

CREATE OR REPLACE VIEW trovella.health AS
SELECT * FROM trovella.health_checks()
UNION ALL
SELECT * FROM trovella.cluster_health()
UNION ALL
SELECT * FROM trovella.audit_health();

-- The history of the recording itself: a statement that may change
-- whether an audited table is recorded (its triggers enabled, disabled,
-- made, altered, dropped; enable_audit, disable_audit) leaves a record of
-- no tenant, operation AUDIT, with whether the table is recorded after it.
CREATE FUNCTION trovella.audit_watch()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'trovella_audit_watch'
LANGUAGE C;
COMMENT ON FUNCTION trovella.audit_watch() IS
'event trigger function: records, in the history of no tenant, a change of an audited table''s triggers';
CREATE EVENT TRIGGER trovella_audit_watch ON ddl_command_end
	WHEN TAG IN ('ALTER TABLE', 'CREATE TRIGGER', 'ALTER TRIGGER')
	EXECUTE FUNCTION trovella.audit_watch();
CREATE FUNCTION trovella.audit_watch_drop()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'trovella_audit_watch_drop'
LANGUAGE C;
COMMENT ON FUNCTION trovella.audit_watch_drop() IS
'event trigger function: records, in the history of no tenant, the drop of an audited table''s trigger';
CREATE EVENT TRIGGER trovella_audit_watch_drop ON sql_drop
	WHEN TAG IN ('DROP TRIGGER')
	EXECUTE FUNCTION trovella.audit_watch_drop();

------------------------------------------------------------------------
-- Standard columns and soft delete, from an outside attack (h-cols2):
-- PostgreSQL gives a child of INHERITS (not a partition) none of its
-- parent's row triggers, and reads through the parent apply the parent's
-- policies only: its rows changed through the parent would keep what the
-- client sends in created_*, and a DELETE would remove them.  A table with
-- INHERITS parents or children is refused (0A000), and so is making a
-- table inherit from one of trovella's tables (as the audit trail does).
------------------------------------------------------------------------

-- STABLE: reads the catalog.  The tables tbl inherits from or is inherited
-- by, other than as a partition of, or parent of, a partitioned table.
CREATE FUNCTION trovella.inheritance_relatives(tbl regclass)
RETURNS SETOF regclass
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT i.inhrelid::regclass FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
	WHERE i.inhparent = tbl AND NOT c.relispartition
	UNION ALL
	SELECT i.inhparent::regclass FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
	WHERE i.inhrelid = tbl AND NOT c.relispartition
$$;
COMMENT ON FUNCTION trovella.inheritance_relatives(regclass) IS
'the tables the table inherits from, or that inherit from it, by INHERITS (not as partitions)';

-- STABLE: reads the catalog.  0A000 when tbl has INHERITS relatives.
CREATE FUNCTION trovella.refuse_inheritance(tbl regclass, function_name text)
RETURNS void
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	relatives text;
BEGIN
	SELECT string_agg(r::text, ', ' ORDER BY r::text) INTO relatives FROM trovella.inheritance_relatives(tbl) r;
	IF relatives IS NOT NULL THEN
		RAISE EXCEPTION 'trovella: % cannot apply to %, which has inheritance parents or children (%)',
				function_name, tbl, relatives
			USING ERRCODE = 'feature_not_supported',
			      DETAIL = 'PostgreSQL gives a child of INHERITS none of its parent''s triggers, and reads through the parent apply the parent''s policies only.',
			      HINT = 'Use a partitioned table (PARTITION BY), whose partitions get the triggers and policies, or ALTER TABLE ... NO INHERIT.';
	END IF;
END
$$;
COMMENT ON FUNCTION trovella.refuse_inheritance(regclass, text) IS
'raises 0A000 when the table inherits, or is inherited from, other than as a partition';

CREATE OR REPLACE FUNCTION trovella.enable_standard_columns(tbl regclass)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM trovella.require_table_owner(tbl, 'enable_standard_columns');
	PERFORM trovella.refuse_inheritance(tbl, 'enable_standard_columns');
	PERFORM trovella.add_row_columns(tbl,
		ARRAY['created_at', 'updated_at', 'created_by', 'updated_by'],
		ARRAY['timestamptz', 'timestamptz', 'uuid', 'uuid']::regtype[],
		ARRAY['timestamptz NOT NULL DEFAULT pg_catalog.now()', 'timestamptz NOT NULL DEFAULT pg_catalog.now()',
		      'uuid', 'uuid']);
	PERFORM trovella.create_row_trigger(tbl, 'trovella_standard_columns', 'INSERT OR UPDATE', 'standard_columns');
END
$$;

CREATE OR REPLACE FUNCTION trovella.enable_soft_delete(tbl regclass)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	member regclass;
BEGIN
	PERFORM trovella.require_table_owner(tbl, 'enable_soft_delete');
	PERFORM trovella.refuse_inheritance(tbl, 'enable_soft_delete');
	IF NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = tbl AND c.relrowsecurity AND c.relforcerowsecurity) THEN
		RAISE EXCEPTION 'trovella: table % has no row-level security enabled and forced', tbl
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      DETAIL = 'Soft delete hides deleted rows with a row-level security policy, which would not apply.',
			      HINT = format('Run SELECT trovella.enable_tenant_isolation(%L) first, or ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY with policies of your own.',
			                    tbl::text, tbl);
	END IF;
	PERFORM trovella.add_row_columns(tbl, ARRAY['deleted_at', 'deleted_by'],
	                                 ARRAY['timestamptz', 'uuid']::regtype[], ARRAY['timestamptz', 'uuid']);
	PERFORM trovella.create_row_trigger(tbl, 'trovella_soft_delete', 'INSERT OR UPDATE OR DELETE', 'soft_delete');
	-- the table, then every partition below it, read directly
	FOR member IN
		SELECT tbl
		UNION ALL
		SELECT t.relid FROM pg_partition_tree(tbl) t WHERE t.relid <> tbl AND t.level > 0
	LOOP
		IF EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = member AND p.polname = 'trovella_soft_delete') THEN
			EXECUTE format('DROP POLICY trovella_soft_delete ON %s', member);
		END IF;
		EXECUTE format('CREATE POLICY trovella_soft_delete ON %s AS RESTRICTIVE FOR SELECT TO PUBLIC '
		               'USING (deleted_at IS NULL OR trovella.deleted_rows_visible())', member);
	END LOOP;
END
$$;

-- A table made to inherit (CREATE TABLE ... INHERITS, ALTER TABLE ...
-- INHERIT) from a table with trovella's standard columns or soft delete,
-- or one inherited from by such a table: refused (0A000).
CREATE FUNCTION trovella.row_triggers_inheritance()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	command record;
	relative regclass;
BEGIN
	FOR command IN
		SELECT DISTINCT d.objid FROM pg_event_trigger_ddl_commands() d
		WHERE d.classid = 'pg_class'::regclass AND d.objsubid = 0 AND d.object_type = 'table'
	LOOP
		FOR relative IN SELECT r FROM trovella.inheritance_relatives(command.objid) r LOOP
			IF EXISTS (SELECT 1 FROM pg_trigger t
			           WHERE t.tgrelid IN (relative, command.objid)
			             AND t.tgfoid IN ('trovella.standard_columns()'::regprocedure,
			                              'trovella.soft_delete()'::regprocedure)) THEN
				RAISE EXCEPTION 'trovella: % cannot inherit from or be inherited by %, which has trovella''s standard columns or soft delete',
						command.objid::regclass, relative
					USING ERRCODE = 'feature_not_supported',
					      DETAIL = 'PostgreSQL gives a child of INHERITS none of its parent''s triggers, and reads through the parent apply the parent''s policies only.',
					      HINT = 'Use a partitioned table (PARTITION BY), whose partitions get the triggers and policies.';
			END IF;
		END LOOP;
	END LOOP;
END
$$;
COMMENT ON FUNCTION trovella.row_triggers_inheritance() IS
'event trigger function: refuses (0A000) a table made to inherit from, or be inherited by, a table with trovella''s standard columns or soft delete';
CREATE EVENT TRIGGER trovella_row_triggers_inheritance ON ddl_command_end
	WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
	EXECUTE FUNCTION trovella.row_triggers_inheritance();

------------------------------------------------------------------------
-- Tenant lifecycle (issue 35, point 1): suspend and resume.  A suspended
-- tenant is opened by no new context (with_tenant, authenticate with a
-- token bound to it): 57000 (operator_intervention), the operators' reason
-- as the error's DETAIL (src/suspension.c).  Transactions that already had
-- the tenant finish.  Only suspend_tenant and resume_tenant write the
-- table, as the extension's owner, and tell every backend, which keeps the
-- suspended ids (a superuser's direct write is seen by a backend only once
-- something invalidates the table); they are granted to nobody: a
-- superuser grants them to the operations role.
------------------------------------------------------------------------
CREATE TABLE trovella.suspended_tenant (
	tenant_id uuid PRIMARY KEY,
	reason text NOT NULL,
	suspended_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	suspended_by name NOT NULL DEFAULT pg_catalog."session_user"()
);
COMMENT ON TABLE trovella.suspended_tenant IS
'the suspended tenants, whom no new context opens; written only by trovella.suspend_tenant() and trovella.resume_tenant()';
REVOKE ALL ON trovella.suspended_tenant FROM PUBLIC;
GRANT SELECT ON trovella.suspended_tenant TO pg_monitor, pg_read_all_stats;
SELECT pg_catalog.pg_extension_config_dump('trovella.suspended_tenant', '');

-- STABLE: reads Citus's metadata.  55000 where Citus has other nodes and
-- trovella.suspended_tenant is not a reference table: the workers would
-- not see the suspension, and a client connected to one would open the
-- tenant there.
CREATE FUNCTION trovella.suspension_reaches_every_node(function_name text)
RETURNS void
LANGUAGE plpgsql STABLE STRICT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	others boolean;
	reference boolean;
BEGIN
	IF NOT EXISTS (SELECT FROM pg_extension e WHERE e.extname = 'citus') THEN
		RETURN;
	END IF;
	-- Citus's objects are named only in this text, so that the function is
	-- valid on a database without Citus
	EXECUTE $q$
		SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_node n
		               WHERE n.groupid OPERATOR(pg_catalog.<>) (SELECT g.groupid FROM pg_catalog.pg_dist_local_group g)),
		       EXISTS (SELECT FROM pg_catalog.pg_dist_partition p
		               WHERE p.logicalrelid OPERATOR(pg_catalog.=) 'trovella.suspended_tenant'::pg_catalog.regclass
		                 AND p.partmethod OPERATOR(pg_catalog.=) 'n' AND p.repmodel OPERATOR(pg_catalog.=) 't')
	$q$ INTO others, reference;
	IF others AND NOT reference THEN
		RAISE EXCEPTION 'trovella.%: on a Citus cluster, a suspension must reach every node', function_name
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      DETAIL = 'trovella.suspended_tenant is not a Citus reference table, so the workers would not refuse the tenant.',
			      HINT = 'As a superuser, on the coordinator: SELECT create_reference_table(''trovella.suspended_tenant'');';
	END IF;
END
$$;
COMMENT ON FUNCTION trovella.suspension_reaches_every_node(text) IS
'internal (suspend_tenant, resume_tenant): 55000 on a Citus cluster where trovella.suspended_tenant is not a reference table';
REVOKE EXECUTE ON FUNCTION trovella.suspension_reaches_every_node(text) FROM PUBLIC;

-- VOLATILE: invalidates trovella.suspended_tenant's relcache entry, so that
-- every backend reads the suspended tenants again (src/suspension.c).
CREATE FUNCTION trovella.suspension_changed()
RETURNS void
AS 'MODULE_PATHNAME', 'trovella_suspension_changed_sql'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION trovella.suspension_changed() IS
'internal (suspend_tenant, resume_tenant): every backend reads trovella.suspended_tenant again';
REVOKE EXECUTE ON FUNCTION trovella.suspension_changed() FROM PUBLIC;

-- VOLATILE: writes trovella.suspended_tenant.  22004 for a NULL argument,
-- 22023 for the nil tenant or an empty reason.  Suspending a suspended
-- tenant again replaces the reason (and who suspended it), keeps when it
-- began, and returns false.
CREATE FUNCTION trovella.suspend_tenant(tenant uuid, reason text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF tenant IS NULL OR reason IS NULL THEN
		RAISE EXCEPTION 'trovella.suspend_tenant: % must not be NULL', CASE WHEN tenant IS NULL THEN 'tenant' ELSE 'reason' END
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF tenant OPERATOR(pg_catalog.=) '00000000-0000-0000-0000-000000000000'::uuid THEN
		RAISE EXCEPTION 'trovella.suspend_tenant: the nil tenant cannot be suspended'
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = 'The nil uuid''s context is the owner''s for maintenance, not a tenant''s.';
	END IF;
	IF pg_catalog.btrim(reason) OPERATOR(pg_catalog.=) '' THEN
		RAISE EXCEPTION 'trovella.suspend_tenant: the reason must not be empty'
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Say why, in words the tenant''s application may show: it is the refusal''s DETAIL.';
	END IF;
	-- every refusal carries it to a client: one line a screen can show, which
	-- cannot draw a forged "ERROR:" line in psql nor make each refusal large
	IF pg_catalog.length(reason) OPERATOR(pg_catalog.>) 1000
	   OR reason OPERATOR(pg_catalog.~) '[[:cntrl:]]' THEN
		RAISE EXCEPTION 'trovella.suspend_tenant: the reason must be one line of at most 1000 characters'
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = pg_catalog.format('It has %s characters%s.', pg_catalog.length(reason),
			                                 CASE WHEN reason OPERATOR(pg_catalog.~) '[[:cntrl:]]'
			                                      THEN ' and a control character (a line break, a tab, an escape)' ELSE '' END);
	END IF;
	PERFORM trovella.suspension_reaches_every_node('suspend_tenant');
	-- Insert first: a concurrent suspension of the same tenant waits here for
	-- the other to commit, then finds its row and returns false (an UPDATE
	-- first saw no row, and both said true).  A resume between the two
	-- statements deletes the row: try again.
	LOOP
		INSERT INTO trovella.suspended_tenant (tenant_id, reason, suspended_by)
		VALUES (tenant, reason, pg_catalog."session_user"())
		ON CONFLICT (tenant_id) DO NOTHING;
		IF FOUND THEN
			PERFORM trovella.suspension_changed();
			RETURN true;
		END IF;
		UPDATE trovella.suspended_tenant s SET reason = suspend_tenant.reason, suspended_by = pg_catalog."session_user"()
		WHERE s.tenant_id OPERATOR(pg_catalog.=) tenant;
		IF FOUND THEN
			PERFORM trovella.suspension_changed();
			RETURN false;
		END IF;
	END LOOP;
END
$$;
COMMENT ON FUNCTION trovella.suspend_tenant(uuid, text) IS
'suspends a tenant: every new with_tenant() or authenticate() for it fails with 57000, the reason as DETAIL; true if it was not suspended yet (again: the reason is replaced)';
REVOKE EXECUTE ON FUNCTION trovella.suspend_tenant(uuid, text) FROM PUBLIC;

-- VOLATILE: writes trovella.suspended_tenant.  22004 for NULL; false when
-- the tenant was not suspended (nothing changes).
CREATE FUNCTION trovella.resume_tenant(tenant uuid)
RETURNS boolean
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF tenant IS NULL THEN
		RAISE EXCEPTION 'trovella.resume_tenant: tenant must not be NULL'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM trovella.suspension_reaches_every_node('resume_tenant');
	DELETE FROM trovella.suspended_tenant s WHERE s.tenant_id OPERATOR(pg_catalog.=) tenant;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	PERFORM trovella.suspension_changed();
	RETURN true;
END
$$;
COMMENT ON FUNCTION trovella.resume_tenant(uuid) IS
'lifts a tenant''s suspension; false when it was not suspended';
REVOKE EXECUTE ON FUNCTION trovella.resume_tenant(uuid) FROM PUBLIC;

-- trovella.health: how many tenants are suspended, and since when.
-- STABLE: reads trovella.suspended_tenant.
CREATE FUNCTION trovella.suspension_health()
RETURNS TABLE (check_name text, status text, detail text)
LANGUAGE sql STABLE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'suspended_tenants', 'ok',
	       CASE WHEN count(*) OPERATOR(pg_catalog.=) 0 THEN 'no tenant is suspended'
	            ELSE pg_catalog.format('suspended tenants: %s, the first since %s: SELECT * FROM trovella.suspended_tenant',
	                                   count(*), pg_catalog.to_char(pg_catalog.min(s.suspended_at), 'YYYY-MM-DD')) END
	FROM trovella.suspended_tenant s
$$;
COMMENT ON FUNCTION trovella.suspension_health() IS
'trovella.health''s suspended_tenants check: how many tenants are suspended';
REVOKE EXECUTE ON FUNCTION trovella.suspension_health() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trovella.suspension_health() TO pg_monitor;

CREATE OR REPLACE VIEW trovella.health AS
SELECT * FROM trovella.health_checks()
UNION ALL
SELECT * FROM trovella.cluster_health()
UNION ALL
SELECT * FROM trovella.audit_health()
UNION ALL
SELECT * FROM trovella.suspension_health();

-- The per-tenant statistics say which tenants are suspended, since when.
CREATE OR REPLACE VIEW trovella.tenant_stats AS
SELECT s.*, su.suspended_at
FROM trovella.tenant_stats() s
LEFT JOIN trovella.suspended_tenant su ON su.tenant_id OPERATOR(pg_catalog.=) s.tenant_id;
COMMENT ON VIEW trovella.tenant_stats IS
'one row per tenant seen (tenant_id NULL: work without a tenant context): transactions, statements, rows, time, buffers, WAL; suspended_at when the tenant is suspended';

------------------------------------------------------------------------
-- Export (issue 35, point 2): every row of one tenant from every table
-- trovella isolates and its audit history, in one snapshot, streamed into
-- the function's tuplestore, then a manifest (README, "Export and
-- import").  Run by the operations role as itself (not SECURITY
-- DEFINER): a role that row-level security binds on a table is refused
-- (42501).  Granted to nobody: a superuser grants it to the operations
-- role.
------------------------------------------------------------------------
-- VOLATILE: the calling statement's snapshot, and its NOTICEs.  22004 for
-- a NULL argument, 22023 for the nil tenant or progress_rows < 1.
CREATE FUNCTION trovella.export_tenant(tenant uuid, progress_rows bigint DEFAULT 100000)
RETURNS TABLE (ordinal bigint, table_name text, "row" jsonb)
AS 'MODULE_PATHNAME', 'trovella_export_tenant'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
ROWS 100000;
COMMENT ON FUNCTION trovella.export_tenant(uuid, bigint) IS
'every row of the tenant from every isolated table and its audit history, in one snapshot, then a manifest (table_name NULL) with row counts and SHA-256; a NOTICE every progress_rows rows of a table';
REVOKE EXECUTE ON FUNCTION trovella.export_tenant(uuid, bigint) FROM PUBLIC;

-- VOLATILE: writes every isolated table and the audit history.  Restores
-- an export loaded into a table of (ordinal bigint, table_name text, row
-- jsonb): 22004 NULL, 22P04 no manifest or another format, XX001 rows that
-- do not match the manifest (or of another tenant), 42P01 a table missing
-- here, 55000 a table not isolated here or the tenant already has rows,
-- 42501 a role that row-level security binds, 0A000 an audit history made
-- on Citus.  Runs as its caller.
CREATE FUNCTION trovella.import_tenant(source regclass)
RETURNS TABLE (table_name text, "rows" bigint)
AS 'MODULE_PATHNAME', 'trovella_import_tenant'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
ROWS 100;
COMMENT ON FUNCTION trovella.import_tenant(regclass) IS
'restores an export of export_tenant loaded into the table (ordinal, table_name, row): manifest verified, tables in foreign-key order, values and audit history kept as exported, no audit record per row';
REVOKE EXECUTE ON FUNCTION trovella.import_tenant(regclass) FROM PUBLIC;

------------------------------------------------------------------------
-- Tenant lifecycle (issue 35, point 3): purge with a receipt.
-- trovella.purge_tenant (src/purge.c), a procedure of the operations role,
-- deletes a suspended tenant's rows from every isolated table in batches
-- of committed transactions, then its tokens, membership rows, audit
-- history, statistics and suspension, checks that no table with the
-- tenant column still holds a row of it, and writes the receipt.
-- purge_run keeps a purge that did not finish, so that the next CALL
-- resumes it; purge_receipt keeps the receipts.  Both are written only by
-- the procedure, as the extension's owner.
------------------------------------------------------------------------
CREATE TABLE trovella.purge_run (
	tenant_id uuid PRIMARY KEY,
	started_at timestamptz NOT NULL,
	started_by name NOT NULL,
	counts_before jsonb NOT NULL,
	status text NOT NULL CHECK (status IN ('deleting', 'verifying'))
);
COMMENT ON TABLE trovella.purge_run IS
'purges begun and not finished (cancelled, crashed, or stopped by the verification): the next trovella.purge_tenant() of the tenant resumes it';
REVOKE ALL ON trovella.purge_run FROM PUBLIC;
GRANT SELECT ON trovella.purge_run TO pg_monitor;

CREATE TABLE trovella.purge_receipt (
	tenant_id uuid NOT NULL,
	started_at timestamptz NOT NULL,
	finished_at timestamptz NOT NULL,
	purged_by name NOT NULL,
	receipt jsonb NOT NULL,
	digest text NOT NULL,
	PRIMARY KEY (tenant_id, finished_at)
);
COMMENT ON TABLE trovella.purge_receipt IS
'one receipt per finished trovella.purge_tenant(): counts per table before and after, the audit history erased, and digest = SHA-256 of the receipt''s text without its digest; no tenant data';
REVOKE ALL ON trovella.purge_receipt FROM PUBLIC;
GRANT SELECT ON trovella.purge_receipt TO pg_monitor;
SELECT pg_catalog.pg_extension_config_dump('trovella.purge_receipt', '');
SELECT pg_catalog.pg_extension_config_dump('trovella.purge_run', '');

-- A procedure, so that it commits between batches: no SECURITY DEFINER,
-- no SET clause (either forbids a COMMIT); every statement it runs names
-- every object with its schema.  Inside a transaction block it runs in
-- that one transaction.
CREATE PROCEDURE trovella.purge_tenant(tenant uuid, INOUT receipt jsonb DEFAULT NULL)
AS 'MODULE_PATHNAME', 'trovella_purge_tenant'
LANGUAGE C;
COMMENT ON PROCEDURE trovella.purge_tenant(uuid, jsonb) IS
'deletes a suspended tenant from every isolated table (in batches, resumable), its tokens, membership rows, audit history, statistics and suspension; verifies no row of it is left in any table with the tenant column; returns and keeps the receipt';
REVOKE ALL ON PROCEDURE trovella.purge_tenant(uuid, jsonb) FROM PUBLIC;
-- Sealing a history Citus distributes (issue 34, point 3 on Citus;
-- src/audit_seal_citus.c).  A record's number carries its node's Citus
-- group in its top 16 bits (0 on a single node: unchanged); a seal names,
-- per group it covers, the upto of that group's records (uptos, ascending;
-- NULL: one group, upto's).  Each node seals the placements it holds; the
-- coordinator's audit_seal() has each worker run audit_seal_node().
ALTER TABLE trovella.audit_seal ADD COLUMN uptos bigint[];
COMMENT ON COLUMN trovella.audit_seal.uptos IS
'on Citus: per group of record numbers the seal covers (the number''s top 16 bits), the highest it covers, ascending; NULL: upto alone';

CREATE FUNCTION trovella.audit_seal_node(coordinator_upto bigint)
RETURNS bigint
AS 'MODULE_PATHNAME', 'trovella_audit_seal_node'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION trovella.audit_seal_node(bigint) IS
'on a Citus worker, called by the coordinator''s trovella.audit_seal(): seals the history''s placements on this node, the coordinator''s records up to coordinator_upto; returns how many';
REVOKE ALL ON FUNCTION trovella.audit_seal_node(bigint) FROM PUBLIC;


------------------------------------------------------------------------
-- Export and import: the values' text fixed, whatever the caller's
-- settings.  A value that to_jsonb writes through its type's output
-- function (a float, a range, an interval, money) followed the caller's
-- extra_float_digits, DateStyle, IntervalStyle, lc_monetary and
-- bytea_output: an export
-- made with extra_float_digits = 0 held 0.3 for 0.30000000000000004, one
-- made under DateStyle 'SQL, DMY' a daterange that a database in MDY reads
-- with day and month swapped, and the manifest's checksums, taken over
-- that text, agreed.  Both functions now run with the settings pg_dump
-- uses, so that an export reads back as the values it was made of.
------------------------------------------------------------------------
-- export_tenant also reads with only pg_catalog on the search path: it
-- names every object it reads, and a collation or operator planted ahead
-- of pg_catalog is then never a candidate.  (import_tenant's C code sets
-- the same path itself for its statements, and gives the caller's back to
-- the application's triggers that its INSERTs fire: README, Export and
-- import.)
ALTER FUNCTION trovella.export_tenant(uuid, bigint)
	SET extra_float_digits = 3 SET DateStyle = 'ISO, MDY' SET IntervalStyle = 'postgres'
	SET lc_monetary = 'C' SET bytea_output = 'hex' SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION trovella.import_tenant(regclass)
	SET extra_float_digits = 3 SET DateStyle = 'ISO, MDY' SET IntervalStyle = 'postgres'
	SET lc_monetary = 'C';


------------------------------------------------------------------------
-- Audit on Citus: a distributed table sharded apart from the history (in
-- another colocation group, or the history not distributed) is not
-- recorded: its shards' records would go to a history shard on another
-- node, and Citus refuses its writes.  trovella refuses such a conversion
-- at commit; audit_status says so meanwhile too.
------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION trovella.audit_placements_recording(tbl oid)
RETURNS boolean
LANGUAGE plpgsql STABLE STRICT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	sharded boolean;
	apart boolean;
	recording boolean;
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'citus') THEN
		RETURN true;
	END IF;
	EXECUTE 'SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_partition d
	         WHERE d.logicalrelid OPERATOR(pg_catalog.=) $1 AND d.partkey IS NOT NULL),
	         EXISTS (SELECT FROM pg_catalog.pg_dist_partition d
	         WHERE d.logicalrelid OPERATOR(pg_catalog.=) $1 AND d.colocationid OPERATOR(pg_catalog.<>) 0
	         AND d.repmodel OPERATOR(pg_catalog.<>) ''t''
	         AND d.colocationid IS DISTINCT FROM (SELECT o.colocationid FROM pg_catalog.pg_dist_partition o
	             WHERE o.logicalrelid OPERATOR(pg_catalog.=) ''trovella.audit_history''::pg_catalog.regclass))'
		INTO sharded, apart USING tbl;
	IF apart THEN
		RETURN false;		-- its shards cannot write their records
	END IF;
	IF NOT sharded THEN
		RETURN true;		-- the table's own trigger records its changes
	END IF;
	EXECUTE 'SELECT coalesce(pg_catalog.bool_and(r.success AND r.result OPERATOR(pg_catalog.=) ''t''), false)
	         FROM pg_catalog.run_command_on_placements($1::pg_catalog.regclass,
	              ''SELECT trovella.audit_shard_recording(%L::pg_catalog.regclass)'') r'
		INTO recording USING tbl;
	RETURN recording;
END
$$;
