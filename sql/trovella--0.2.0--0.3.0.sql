-- trovella 0.2.0 -> 0.3.0: tokens and ids after an outside review.

\echo Use "ALTER EXTENSION trovella UPDATE TO '0.3.0'" to load this file. \quit

-- A token's times are the statement's, not the transaction's start: a
-- revocation is stamped when it happens (pat_verify, authenticate and the
-- cap judge expiry at the statement's time too, in C).
CREATE OR REPLACE FUNCTION trovella.pat_revoke(token_id uuid)
RETURNS boolean
LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	me uuid := trovella.current_user_id();	-- no user context: 42501
BEGIN
	UPDATE trovella.personal_access_token t
	SET revoked_at = pg_catalog.statement_timestamp()
	WHERE t.id OPERATOR(pg_catalog.=) pat_revoke.token_id
	  AND t.user_id OPERATOR(pg_catalog.=) me
	  AND t.revoked_at IS NULL;
	RETURN FOUND;
END
$$;

------------------------------------------------------------------------
-- The isolation audit after an outside review: it names every way a
-- table's policies differ from what enable_tenant_isolation creates, and
-- the holes row-level security leaves open around an isolated table.
------------------------------------------------------------------------

-- IMMUTABLE: formats a name.  The tenant check of trovella's policies as
-- pg_get_expr() prints it, in its two forms: with a scalar subquery, which
-- the planner evaluates once per query (an InitPlan), and with the bare
-- call, which Citus requires in the policies of distributed tables.  On a
-- database with Citus, enable_tenant_isolation() creates the second on the
-- table and the first on every shard (cluster.c).
CREATE FUNCTION trovella.tenant_check_forms(tenant_column name)
RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT ARRAY[format('(%I = ( SELECT trovella.current_tenant() AS current_tenant))', tenant_column),
	             format('(%I = trovella.current_tenant())', tenant_column)]
$$;
COMMENT ON FUNCTION trovella.tenant_check_forms(name) IS
'the two ways pg_get_expr prints the tenant check of trovella''s policies: per query (a subquery), and as Citus accepts it on distributed tables';

-- A policy whose USING or WITH CHECK is NULL is not a tenant policy (the
-- comparison used to be NULL, which isolation_status read as "no problem").
CREATE OR REPLACE FUNCTION trovella.is_tenant_policy(policy_id oid, tenant_column name, permissive boolean)
RETURNS boolean
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT p.polcmd = '*'
	   AND p.polroles = '{0}'
	   AND p.polpermissive = permissive
	   AND coalesce(pg_get_expr(p.polqual, p.polrelid) = ANY (trovella.tenant_check_forms(tenant_column)), false)
	   AND coalesce(pg_get_expr(p.polwithcheck, p.polrelid) = ANY (trovella.tenant_check_forms(tenant_column)), false)
	FROM pg_policy p
	WHERE p.oid = policy_id
$$;

-- STABLE: reads the catalog.  Each way the named policy differs from what
-- enable_tenant_isolation creates, one entry each; empty when it does not.
-- Every attribute is_tenant_policy() compares has its entry here, so that
-- isolation_status never says policy_ok = false without saying why.
CREATE FUNCTION trovella.policy_problems(tbl regclass, policy_name name, tenant_column name, permissive boolean)
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
		     WHEN pg_get_expr(p.polqual, p.polrelid) <> ALL (e.expected)
		     THEN format('policy %s: USING is not the tenant check', policy_name) END,
		CASE WHEN p.polwithcheck IS NULL THEN format('policy %s has no WITH CHECK clause', policy_name)
		     WHEN pg_get_expr(p.polwithcheck, p.polrelid) <> ALL (e.expected)
		     THEN format('policy %s: WITH CHECK is not the tenant check', policy_name) END
	], NULL) END
	FROM (SELECT trovella.tenant_check_forms(tenant_column) AS expected) e
	LEFT JOIN pg_policy p ON p.polrelid = tbl AND p.polname = policy_name
$$;
COMMENT ON FUNCTION trovella.policy_problems(regclass, name, name, boolean) IS
'how a trovella policy on the table differs from what enable_tenant_isolation creates for that column; empty when it does not';

-- STABLE: reads the catalog.  A single-column key whose values the database
-- draws at random is no oracle: nobody guesses another tenant's ids.
CREATE FUNCTION trovella.has_random_default(tbl regclass, column_number smallint)
RETURNS boolean
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT EXISTS (
		SELECT 1 FROM pg_attrdef d
		WHERE d.adrelid = tbl AND d.adnum = column_number
		  AND pg_get_expr(d.adbin, d.adrelid) IN ('trovella.ulid_uuid()', 'gen_random_uuid()', 'uuidv7()'))
$$;
COMMENT ON FUNCTION trovella.has_random_default(regclass, smallint) IS
'true when the column''s default is trovella.ulid_uuid(), gen_random_uuid() or uuidv7()';

-- STABLE: reads the catalog.  RLS and trovella's two policies of one table
-- of this node against what enable_tenant_isolation creates: the first
-- entries of isolation_problems, and all that is checked on each shard
-- placement of a Citus table (placement_problems).
CREATE FUNCTION trovella.policy_state_problems(tbl regclass, tenant_column name)
RETURNS text[]
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT array_remove(ARRAY[
	           CASE WHEN NOT c.relrowsecurity THEN 'RLS disabled' END,
	           CASE WHEN NOT c.relforcerowsecurity THEN 'RLS not forced' END], NULL)
	    || trovella.policy_problems(tbl, 'trovella_tenant_isolation', tenant_column, false)
	    || trovella.policy_problems(tbl, 'trovella_tenant_access', tenant_column, true)
	FROM pg_class c
	WHERE c.oid = tbl
$$;
COMMENT ON FUNCTION trovella.policy_state_problems(regclass, name) IS
'how RLS and trovella''s policies on one table of this node (a Citus shard, say) differ from what enable_tenant_isolation creates; empty when they do not';

-- STABLE: reads the catalog.  Everything isolation_status reports about a
-- table isolated (or to be isolated) on tenant_column, in a fixed order.
-- Object names are schema-qualified whatever the caller's search_path.
-- One "reviewed" marker for everything the audit reports: a comment on the
-- object that begins 'trovella: reviewed', optionally with the reason.
CREATE FUNCTION trovella.review_reason(description text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN description LIKE 'trovella: reviewed%'
	            THEN coalesce(nullif(btrim(substr(description, length('trovella: reviewed') + 1), ' :-'), ''),
	                          'reviewed')
	       END
$$;
COMMENT ON FUNCTION trovella.review_reason(text) IS
'the reason of a comment that marks an object as reviewed (''trovella: reviewed: why''), ''reviewed'' without one; NULL when the comment is no such mark';

CREATE FUNCTION trovella.is_security_invoker(view_oid oid)
RETURNS boolean
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT coalesce((SELECT o.option_value::boolean
	                 FROM pg_class c, pg_options_to_table(c.reloptions) o
	                 WHERE c.oid = view_oid AND o.option_name = 'security_invoker'), false)
$$;
COMMENT ON FUNCTION trovella.is_security_invoker(oid) IS
'whether a view runs with its reader''s rights (security_invoker), so that the policies of what it reads apply to the reader';

CREATE FUNCTION trovella.isolation_problems(tbl regclass, tenant_column name)
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
	    -- a parent by inheritance, at any level, without the tenant column:
	    -- a SELECT on it returns this table's rows under the parent's
	    -- policies (PostgreSQL applies only those), that is every tenant's
	    || ARRAY(WITH RECURSIVE ancestors(relid) AS (
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

-- What a person marked as reviewed, with the reason: the table itself, and
-- the indexes, triggers, rules and views the audit would otherwise report.
CREATE FUNCTION trovella.isolation_reviewed(tbl regclass)
RETURNS text[]
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT ARRAY(
		SELECT x.item FROM (
			SELECT 0 AS o, format('table %s: %s', tbl, trovella.review_reason(obj_description(tbl, 'pg_class'))) AS item
			WHERE trovella.review_reason(obj_description(tbl, 'pg_class')) IS NOT NULL
			UNION ALL
			SELECT 1, format('index %s: %s', i.indexrelid::regclass, trovella.review_reason(obj_description(i.indexrelid, 'pg_class')))
			FROM pg_index i
			WHERE i.indrelid = tbl AND trovella.review_reason(obj_description(i.indexrelid, 'pg_class')) IS NOT NULL
			UNION ALL
			SELECT 2, format('trigger %I: %s', t.tgname, trovella.review_reason(obj_description(t.oid, 'pg_trigger')))
			FROM pg_trigger t
			WHERE t.tgrelid = tbl AND NOT t.tgisinternal
			  AND trovella.review_reason(obj_description(t.oid, 'pg_trigger')) IS NOT NULL
			UNION ALL
			SELECT 3, format('rule %I: %s', r.rulename, trovella.review_reason(obj_description(r.oid, 'pg_rewrite')))
			FROM pg_rewrite r
			WHERE r.ev_class = tbl AND r.rulename <> '_RETURN'
			  AND trovella.review_reason(obj_description(r.oid, 'pg_rewrite')) IS NOT NULL
			UNION ALL
			SELECT DISTINCT 4, format('view %s: %s', v.oid::regclass, trovella.review_reason(obj_description(v.oid, 'pg_class')))
			FROM pg_depend d
			JOIN pg_rewrite r ON r.oid = d.objid
			JOIN pg_class v ON v.oid = r.ev_class
			WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
			  AND d.refobjid = tbl AND v.oid <> tbl
			  AND trovella.review_reason(obj_description(v.oid, 'pg_class')) IS NOT NULL) x
		ORDER BY x.o, x.item)
$$;
COMMENT ON FUNCTION trovella.isolation_reviewed(regclass) IS
'what a person marked as reviewed with a comment beginning ''trovella: reviewed'' (the table, its indexes, triggers, rules and the views that read it), with the reasons';

------------------------------------------------------------------------
-- Citus: policies a coordinator accepts, and a check of every shard.
------------------------------------------------------------------------

-- Sets (or drops) the tenant column's default trovella.current_tenant().
-- Citus alters no distribution column, and evaluates defaults on the
-- coordinator: there, for a table it distributes, the default is set on
-- the coordinator's table alone.
CREATE FUNCTION trovella.set_tenant_default(tbl regclass, tenant_column name, present boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	distributed boolean := false;
	propagation text;
BEGIN
	IF EXISTS (SELECT 1 FROM pg_extension e WHERE e.extname = 'citus') THEN
		EXECUTE 'SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition d WHERE d.logicalrelid = $1)'
			INTO distributed USING tbl;
	END IF;
	IF distributed THEN
		propagation := current_setting('citus.enable_ddl_propagation');
		PERFORM set_config('citus.enable_ddl_propagation', 'off', true);
	END IF;
	IF present THEN
		EXECUTE format('ALTER TABLE ONLY %s ALTER COLUMN %I SET DEFAULT trovella.current_tenant()', tbl, tenant_column);
	ELSE
		EXECUTE format('ALTER TABLE ONLY %s ALTER COLUMN %I DROP DEFAULT', tbl, tenant_column);
	END IF;
	IF distributed THEN
		PERFORM set_config('citus.enable_ddl_propagation', propagation, true);
	END IF;
END
$$;
COMMENT ON FUNCTION trovella.set_tenant_default(regclass, name, boolean) IS
'sets or drops the tenant column''s default trovella.current_tenant(); on a Citus coordinator, for a distributed table, on the coordinator''s table alone';

CREATE OR REPLACE FUNCTION trovella.drop_tenant_policies(tbl regclass)
RETURNS boolean
LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	old_column name := trovella.tenant_policy_column(tbl);
	policy name;
	dropped boolean := false;
BEGIN
	FOR policy IN
		SELECT p.polname FROM pg_policy p
		WHERE p.polrelid = tbl AND p.polname IN ('trovella_tenant_isolation', 'trovella_tenant_access')
	LOOP
		EXECUTE format('DROP POLICY %I ON %s', policy, tbl);
		dropped := true;
	END LOOP;
	IF old_column IS NOT NULL AND trovella.has_tenant_default(tbl, old_column) THEN
		PERFORM trovella.set_tenant_default(tbl, old_column, false);
	END IF;
	RETURN dropped;
END
$$;
-- The guard in auto mode must not isolate a table in the middle of
-- enable_tenant_isolation()'s own drop-and-recreate (42710 on the policy it
-- then creates): the helper says when its DDL begins and ends.
CREATE FUNCTION trovella.isolation_helper(running boolean)
RETURNS void
AS 'MODULE_PATHNAME', 'trovella_isolation_helper'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION trovella.isolation_helper(boolean) IS
'internal: enable_tenant_isolation() marks its own DDL, which the isolation guard in auto mode then judges at commit instead of repairing at once';

CREATE OR REPLACE FUNCTION trovella.enable_tenant_isolation(tbl regclass, tenant_column name DEFAULT 'tenant_id')
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	kind "char";
	column_type regtype;
	member regclass;
	condition text;
BEGIN
	-- Citus refuses subqueries in the policies of distributed tables, and a
	-- table of a Citus database may be distributed after it is isolated: it
	-- gets the bare call, and its shards the per-query form (cluster.c)
	IF EXISTS (SELECT 1 FROM pg_extension e WHERE e.extname = 'citus') THEN
		condition := format('%I OPERATOR(pg_catalog.=) trovella.current_tenant()', tenant_column);
	ELSE
		condition := format('%I OPERATOR(pg_catalog.=) (SELECT trovella.current_tenant())', tenant_column);
	END IF;
	SELECT c.relkind INTO kind FROM pg_class c WHERE c.oid = tbl;
	IF kind NOT IN ('r', 'p') THEN
		RAISE EXCEPTION 'trovella: % is not a table', tbl
			USING ERRCODE = 'wrong_object_type',
			      HINT = 'Tenant isolation applies to ordinary and partitioned tables.';
	END IF;

	SELECT a.atttypid INTO column_type
	FROM pg_attribute a
	WHERE a.attrelid = tbl AND a.attname = tenant_column AND a.attnum > 0 AND NOT a.attisdropped;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'trovella: column "%" of table % does not exist', tenant_column, tbl
			USING ERRCODE = 'undefined_column',
			      HINT = 'Name the tenant column as the second argument.';
	END IF;
	IF column_type <> 'uuid'::regtype THEN
		RAISE EXCEPTION 'trovella: tenant column "%" of table % is of type %, not uuid',
				tenant_column, tbl, column_type
			USING ERRCODE = 'datatype_mismatch',
			      HINT = 'trovella.current_tenant() returns uuid; store tenant ids as uuid.';
	END IF;

	-- the table, then every partition below it, without the guard in auto
	-- mode repairing a table between the drop and the create
	PERFORM trovella.isolation_helper(true);
	FOR member IN
		SELECT tbl
		UNION ALL
		SELECT t.relid FROM pg_partition_tree(tbl) t WHERE t.relid <> tbl AND t.level > 0
	LOOP
		PERFORM trovella.drop_tenant_policies(member);
		EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', member);
		EXECUTE format('CREATE POLICY trovella_tenant_isolation ON %s AS RESTRICTIVE FOR ALL TO PUBLIC USING (%s) WITH CHECK (%s)',
		               member, condition, condition);
		EXECUTE format('CREATE POLICY trovella_tenant_access ON %s AS PERMISSIVE FOR ALL TO PUBLIC USING (%s) WITH CHECK (%s)',
		               member, condition, condition);
		IF NOT EXISTS (SELECT 1 FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
		               WHERE d.adrelid = member AND a.attname = tenant_column) THEN
			PERFORM trovella.set_tenant_default(member, tenant_column, true);
		END IF;
	END LOOP;
	PERFORM trovella.isolation_helper(false);

	IF NOT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
	               WHERE i.indrelid = tbl AND a.attname = tenant_column AND i.indpred IS NULL) THEN
		RAISE NOTICE 'trovella: no index of % has "%" as its leading column', tbl, tenant_column
			USING HINT = format('Every tenant query filters on it: CREATE INDEX ON %s (%I);', tbl, tenant_column);
	END IF;
END
$$;
COMMENT ON FUNCTION trovella.enable_tenant_isolation(regclass, name) IS
'enables and forces RLS on the table and its partitions with trovella''s restrictive and permissive tenant policies (on Citus, the form distributed tables accept); idempotent';

-- STABLE: reads Citus's metadata and asks every placement of a distributed
-- table (run_command_on_placements, as the caller).  One entry per shard
-- placement whose isolation differs from the table's; empty without Citus or
-- for a table Citus does not distribute.
CREATE FUNCTION trovella.placement_problems(tbl regclass, tenant_column name)
RETURNS text[]
LANGUAGE plpgsql STABLE STRICT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	problems text[];
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_extension e WHERE e.extname = 'citus') THEN
		RETURN '{}';
	END IF;
	-- Citus's objects are named only in this text, so that the function is
	-- valid on a database without Citus
	EXECUTE $q$
		SELECT coalesce(array_agg(format('shard %s on %s:%s: %s', p.shardid, p.nodename, p.nodeport,
		                                 CASE WHEN p.success THEN p.result
		                                      ELSE 'cannot be checked (' || p.result || ')' END)
		                          ORDER BY p.shardid, p.nodename, p.nodeport), '{}')
		FROM pg_catalog.pg_dist_partition d,
		     LATERAL pg_catalog.run_command_on_placements(d.logicalrelid,
		         format('SELECT pg_catalog.array_to_string(trovella.policy_state_problems(%L, %L), ''; '')',
		                '%s', $2)) p
		WHERE d.logicalrelid = $1 AND (NOT p.success OR p.result <> '')
	$q$ INTO problems USING tbl, tenant_column;
	RETURN problems;
END
$$;
COMMENT ON FUNCTION trovella.placement_problems(regclass, name) IS
'for a table Citus distributes: each shard placement whose RLS or trovella policies differ, checked on its node; empty otherwise';

CREATE OR REPLACE VIEW trovella.isolation_status WITH (security_invoker = true) AS
SELECT c.oid::regclass AS table_name,
       col.attname AS tenant_column,
       c.relrowsecurity AS rls_enabled,
       c.relforcerowsecurity AS rls_forced,
       coalesce(trovella.is_tenant_policy(iso.oid, col.attname, false)
                AND trovella.is_tenant_policy(acc.oid, col.attname, true), false) AS policy_ok,
       EXISTS (SELECT 1 FROM pg_index i
               WHERE i.indrelid = c.oid AND i.indkey[0] = col.attnum AND i.indpred IS NULL) AS has_index,
       -- (the name argument would give the array the "C" collation)
       CASE WHEN trovella.review_reason(obj_description(c.oid, 'pg_class')) IS NOT NULL
            THEN '{}'::text[]
            ELSE (trovella.isolation_problems(c.oid, col.attname)
                  || trovella.placement_problems(c.oid, col.attname)) END COLLATE "default" AS problems,
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
WHERE c.relkind IN ('r', 'p')
  AND n.nspname NOT LIKE 'pg\_%'
  AND n.nspname NOT IN ('information_schema', 'trovella');
COMMENT ON VIEW trovella.isolation_status IS
'every table with a trovella policy or a column named as trovella.tenant_column, what keeps it from being isolated and what RLS does not cover (on Citus, on every shard placement too); audit with WHERE problems <> ''{}''';

------------------------------------------------------------------------
-- The isolation guard cannot be talked out of its mode.
------------------------------------------------------------------------

-- pg_dump's output runs with row_security off and creates tables before
-- their policies.  That allowance is for roles that RLS does not bind
-- anyway (superusers, BYPASSRLS): for anyone else, row_security = off
-- changes nothing here.
CREATE OR REPLACE FUNCTION trovella.isolation_guard_problem(tbl regclass)
RETURNS name
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT e.col
	FROM (SELECT trovella.expected_tenant_column(tbl) AS col) e
	WHERE e.col IS NOT NULL
	  AND NOT trovella.is_isolated(tbl, e.col)
	  AND trovella.review_reason(obj_description(tbl, 'pg_class')) IS NULL
	  AND NOT (current_setting('row_security') = 'off'
	           AND coalesce((SELECT r.rolsuper OR r.rolbypassrls FROM pg_roles r
	                         WHERE r.rolname = current_user), false))
$$;

-- VOLATILE: reads the dropped objects of the current command.  The tables
-- that lost a policy and are no longer isolated.
CREATE FUNCTION trovella.isolation_guard_dropped()
RETURNS TABLE (tbl regclass, tenant_column name)
LANGUAGE sql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT j.relid, j.col
	FROM (SELECT DISTINCT r.relid, trovella.isolation_guard_problem(r.relid) AS col
	      FROM pg_event_trigger_dropped_objects() o
	      CROSS JOIN LATERAL (
	          SELECT to_regclass(format('%I.%I', o.address_names[1], o.address_names[2])) AS relid) r
	      WHERE o.object_type = 'policy' AND r.relid IS NOT NULL) j
	WHERE j.col IS NOT NULL
$$;
COMMENT ON FUNCTION trovella.isolation_guard_dropped() IS
'tables whose policies the current DROP command removed and that should be tenant-isolated and are not; for the isolation guard';

CREATE FUNCTION trovella.isolation_guard_drop()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'trovella_isolation_guard_drop'
LANGUAGE C;
COMMENT ON FUNCTION trovella.isolation_guard_drop() IS
'event trigger function of the isolation guard for dropped policies (trovella.isolation_guard)';

CREATE EVENT TRIGGER trovella_isolation_guard_drop ON sql_drop
	WHEN TAG IN ('DROP POLICY')
	EXECUTE FUNCTION trovella.isolation_guard_drop();
COMMENT ON EVENT TRIGGER trovella_isolation_guard_drop IS
'warns about or refuses a DROP POLICY that leaves a table with a tenant column but without tenant isolation (trovella.isolation_guard)';

------------------------------------------------------------------------
-- Membership: with_tenant opens only the tenants the user belongs to,
-- once the application's membership table is registered (src/membership.c).
------------------------------------------------------------------------

-- At most one row: the registered table and its columns.  An extension
-- configuration table, so that pg_dump keeps the registration.  Written
-- only by use_membership and stop_membership, as the extension's owner.
CREATE TABLE trovella.membership (
	singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
	tbl regclass NOT NULL,
	tenant_column name NOT NULL,
	user_column name NOT NULL,
	role_column name
);
COMMENT ON TABLE trovella.membership IS
'the membership table with_tenant checks, registered with trovella.use_membership(); at most one row';
REVOKE ALL ON trovella.membership FROM PUBLIC;
GRANT SELECT ON trovella.membership TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('trovella.membership', '');

CREATE FUNCTION trovella.use_membership(tbl regclass, tenant_column name, user_column name,
                                        role_column name DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'trovella_use_membership'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION trovella.use_membership(regclass, name, name, name) IS
'registers the table of (tenant, user[, role]) memberships that with_tenant checks; the caller must own it';

CREATE FUNCTION trovella.stop_membership()
RETURNS boolean
AS 'MODULE_PATHNAME', 'trovella_stop_membership'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION trovella.stop_membership() IS
'removes the membership registration; false when there was none';

-- STABLE: the same answer for the whole transaction (read once).
-- PARALLEL RESTRICTED: it may read the member table in the leader only.
CREATE FUNCTION trovella.current_member_role()
RETURNS text
AS 'MODULE_PATHNAME', 'trovella_current_member_role'
LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION trovella.current_member_role() IS
'the current user''s role in the current tenant, from the membership table; NULL without a role column; 42501 without a context';

-- Registration decides who may open which tenant: a superuser grants it to
-- the role that runs migrations.
REVOKE EXECUTE ON FUNCTION trovella.use_membership(regclass, name, name, name) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION trovella.stop_membership() FROM PUBLIC;

-- Tokens bound to a tenant: authenticate sets that tenant too, after
-- checking that the user still belongs to it.
ALTER TABLE trovella.personal_access_token ADD COLUMN tenant_id uuid;
COMMENT ON COLUMN trovella.personal_access_token.tenant_id IS
'the tenant the token is bound to (pat_create''s fourth argument), or NULL';

CREATE FUNCTION trovella.pat_create(name text, expires_at timestamptz, scopes text[], tenant_id uuid,
                                    OUT token_id uuid, OUT token text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'trovella_pat_create'
LANGUAGE C VOLATILE PARALLEL UNSAFE
ROWS 1 COST 100;	-- one row; an INSERT
COMMENT ON FUNCTION trovella.pat_create(text, timestamptz, text[], uuid) IS
'creates a token for trovella.current_user_id() bound to a tenant the user is a member of; returns its plaintext, the only time it is ever shown';

-- pat_verify with the binding (pat_verify keeps its columns, and its grants).
CREATE FUNCTION trovella.pat_verify_with_tenant(token text,
                                                OUT token_id uuid, OUT user_id uuid, OUT tenant_id uuid,
                                                OUT scopes text[], OUT expires_at timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'trovella_pat_verify'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
ROWS 1 COST 10;	-- at most one row; a hash and one index probe
COMMENT ON FUNCTION trovella.pat_verify_with_tenant(text) IS
'pat_verify with the tenant the token is bound to (NULL: none)';

REVOKE EXECUTE ON FUNCTION trovella.pat_create(text, timestamptz, text[], uuid) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION trovella.pat_verify_with_tenant(text) FROM PUBLIC;

-- The token functions of 0.1.0 return at most one row: planned as 1000
-- (the default), a join that verifies a column of tokens was costed high
-- enough to be JIT-compiled.
ALTER FUNCTION trovella.pat_create(text, timestamptz, text[]) ROWS 1 COST 100;
ALTER FUNCTION trovella.pat_verify(text) ROWS 1 COST 10;
ALTER FUNCTION trovella.authenticate(text) ROWS 1 COST 10;

------------------------------------------------------------------------
-- Per-tenant statistics (src/stats.c): needs shared_preload_libraries.
------------------------------------------------------------------------

CREATE FUNCTION trovella.tenant_stats(
	OUT tenant_id uuid, OUT transactions bigint, OUT statements bigint, OUT rows bigint,
	OUT total_exec_time double precision, OUT max_exec_time double precision,
	OUT shared_blks_hit bigint, OUT shared_blks_read bigint, OUT shared_blks_dirtied bigint,
	OUT shared_blks_written bigint, OUT temp_blks_written bigint,
	OUT wal_records bigint, OUT wal_bytes numeric,
	OUT first_activity timestamptz, OUT last_activity timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'trovella_tenant_stats'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION trovella.tenant_stats() IS
'what each tenant has cost since the last reset; 55000 without trovella in shared_preload_libraries';

CREATE VIEW trovella.tenant_stats AS SELECT * FROM trovella.tenant_stats();
COMMENT ON VIEW trovella.tenant_stats IS
'one row per tenant seen (tenant_id NULL: work without a tenant context): transactions, statements, rows, time, buffers, WAL';

CREATE FUNCTION trovella.tenant_stats_info(
	OUT evictions bigint, OUT stats_reset timestamptz, OUT tenants integer, OUT max_tenants integer,
	OUT shared_memory bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'trovella_tenant_stats_info'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION trovella.tenant_stats_info() IS
'evictions since the last full reset, its time, how many tenants are tracked of how many allowed, and the shared memory that takes; 55000 without the preload';
CREATE VIEW trovella.tenant_stats_info AS SELECT * FROM trovella.tenant_stats_info();
COMMENT ON VIEW trovella.tenant_stats_info IS
'tenants evicted from trovella.tenant_stats since the last full reset, when that was, and how many are tracked of how many allowed';

CREATE FUNCTION trovella.tenant_stats_reset(tenant_id uuid DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'trovella_tenant_stats_reset'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION trovella.tenant_stats_reset(uuid) IS
'forgets one tenant''s statistics, or everything when called without a tenant';

-- Superusers and pg_read_all_stats read them; a superuser resets them.
REVOKE ALL ON FUNCTION trovella.tenant_stats(), trovella.tenant_stats_info(),
	trovella.tenant_stats_reset(uuid) FROM PUBLIC;
REVOKE ALL ON trovella.tenant_stats, trovella.tenant_stats_info FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trovella.tenant_stats(), trovella.tenant_stats_info() TO pg_read_all_stats;
GRANT SELECT ON trovella.tenant_stats, trovella.tenant_stats_info TO pg_read_all_stats;
