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
