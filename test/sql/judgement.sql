-- One judgement (0.5.0): the guard at commit, isolation_status and health
-- judge isolation the same way, from the catalog by OID, over every
-- relation kind, whatever the caller's search_path.  As the tables'
-- non-superuser owner (migrations) and as the application role.
CREATE ROLE regress_judge_owner;
CREATE ROLE regress_judge_app;
CREATE ROLE regress_judge_monitor IN ROLE pg_monitor;
GRANT CREATE ON SCHEMA public TO regress_judge_owner, regress_judge_app;
GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO regress_judge_app;
CREATE FOREIGN DATA WRAPPER regress_judge_fdw;
CREATE SERVER regress_judge_server FOREIGN DATA WRAPPER regress_judge_fdw;
GRANT USAGE ON FOREIGN SERVER regress_judge_server TO regress_judge_owner;

-- 11. A parent with the tenant column that is not isolated returns every
-- tenant's rows of its isolated child.  Marked reviewed, its mark covers its
-- own rows, never the child's: refused in error, named in the audit.
SET trovella.isolation_guard = error;
SET ROLE regress_judge_owner;
\set VERBOSITY sqlstate
BEGIN;
CREATE TABLE j_lookup (id int, tenant_id uuid NOT NULL);
COMMENT ON TABLE j_lookup IS 'trovella: reviewed: shared reference data';
CREATE TABLE j_orders (body text) INHERITS (j_lookup);
CREATE INDEX ON j_orders (tenant_id);
SELECT trovella.enable_tenant_isolation('j_orders');
COMMIT;
\set VERBOSITY default
BEGIN;
CREATE TABLE j_lookup (id int, tenant_id uuid NOT NULL);
COMMENT ON TABLE j_lookup IS 'trovella: reviewed: shared reference data';
CREATE TABLE j_orders (body text) INHERITS (j_lookup);
CREATE INDEX ON j_orders (tenant_id);
SELECT trovella.enable_tenant_isolation('j_orders');
COMMIT;
RESET ROLE;
-- made while the guard was off (or warned): the audit names it on the child
SET trovella.isolation_guard = off;
SET ROLE regress_judge_owner;
CREATE TABLE j_lookup (id int, tenant_id uuid NOT NULL);
COMMENT ON TABLE j_lookup IS 'trovella: reviewed: shared reference data';
CREATE TABLE j_orders (body text) INHERITS (j_lookup);
CREATE INDEX ON j_orders (tenant_id);
SELECT trovella.enable_tenant_isolation('j_orders');
CREATE TABLE j_loose (id int, tenant_id uuid NOT NULL);           -- unmarked, not isolated
CREATE TABLE j_loose_child (body text) INHERITS (j_loose);
CREATE INDEX ON j_loose_child (tenant_id);
SELECT trovella.enable_tenant_isolation('j_loose_child');
GRANT SELECT, INSERT ON j_lookup, j_orders TO regress_judge_app;
SELECT table_name, problems, reviewed FROM trovella.isolation_status
WHERE table_name IN ('j_lookup'::regclass, 'j_orders'::regclass, 'j_loose_child'::regclass)
ORDER BY table_name::text;
-- why: tenant B reads tenant A's row of the child through the parent
SET ROLE regress_judge_app;
BEGIN;
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000');
INSERT INTO j_orders (id, body) VALUES (1, 'a secret');
COMMIT;
BEGIN;
SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000000');
SELECT count(*) AS b_reads_of_child FROM j_orders;
SELECT count(*) AS b_reads_through_parent FROM j_lookup;
COMMIT;
RESET ROLE;
-- the guard in warn says so at commit too, for a child made to inherit later
SET trovella.isolation_guard = warn;
SET ROLE regress_judge_owner;
CREATE TABLE j_orders_2 (id int, tenant_id uuid NOT NULL, body text);
SELECT trovella.enable_tenant_isolation('j_orders_2');
ALTER TABLE j_orders_2 INHERIT j_lookup;
RESET ROLE;
SET trovella.isolation_guard = error;
SET ROLE regress_judge_owner;
\set VERBOSITY sqlstate
ALTER TABLE j_orders_2 NO INHERIT j_lookup;
ALTER TABLE j_orders_2 INHERIT j_lookup;                          -- error: refused
ALTER TABLE j_orders_2 INHERIT j_loose;
\set VERBOSITY default
SELECT count(*) AS inherits FROM pg_inherits WHERE inhrelid = 'j_orders_2'::regclass;
RESET ROLE;

-- A partition of a reviewed, not isolated partitioned table: the same, in
-- auto as in error (auto isolates the partition, then refuses the parent)
SET trovella.isolation_guard = off;
SET ROLE regress_judge_owner;
CREATE TABLE j_log (tenant_id uuid NOT NULL, day int NOT NULL) PARTITION BY RANGE (day);
COMMENT ON TABLE j_log IS 'trovella: reviewed: written by jobs only';
RESET ROLE;
SET trovella.isolation_guard = auto;
SET ROLE regress_judge_owner;
\set VERBOSITY sqlstate
CREATE TABLE j_log_1 PARTITION OF j_log FOR VALUES FROM (1) TO (2);
\set VERBOSITY default
BEGIN;                                                             -- a reviewed partition: accepted
CREATE TABLE j_log_1 (tenant_id uuid NOT NULL, day int NOT NULL);
COMMENT ON TABLE j_log_1 IS 'trovella: reviewed: as its parent';
ALTER TABLE j_log ATTACH PARTITION j_log_1 FOR VALUES FROM (1) TO (2);
COMMIT;
SELECT c.relname, trovella.is_isolated(c.oid, 'tenant_id') AS isolated
FROM pg_class c WHERE c.relname LIKE 'j\_log%' AND c.relkind IN ('r', 'p') ORDER BY c.relname;
RESET ROLE;

-- 12. A foreign table: row-level security cannot apply to one.  As a
-- parent it returns every tenant's rows of its child; with the tenant
-- column of its own it is a problem until a person marks it reviewed; as
-- a partition of an isolated table it is read directly past the parent.
SET trovella.isolation_guard = error;
SET ROLE regress_judge_owner;
\set VERBOSITY sqlstate
CREATE FOREIGN TABLE j_remote (id int, tenant_id uuid NOT NULL) SERVER regress_judge_server;
\set VERBOSITY default
CREATE FOREIGN TABLE j_remote (id int, tenant_id uuid NOT NULL) SERVER regress_judge_server;
BEGIN;
CREATE FOREIGN TABLE j_remote (id int, tenant_id uuid NOT NULL) SERVER regress_judge_server;
COMMENT ON FOREIGN TABLE j_remote IS 'trovella: reviewed: an archive only operators read';
COMMIT;
\set VERBOSITY sqlstate
BEGIN;                                                             -- reviewed, yet no parent
CREATE TABLE j_remote_child (body text) INHERITS (j_remote);
SELECT trovella.enable_tenant_isolation('j_remote_child');
COMMIT;
CREATE FOREIGN TABLE j_remote_nocol (id int) SERVER regress_judge_server;
BEGIN;                                                             -- nor one without the column
CREATE TABLE j_remote_child (tenant_id uuid NOT NULL) INHERITS (j_remote_nocol);
SELECT trovella.enable_tenant_isolation('j_remote_child');
COMMIT;
BEGIN;
CREATE TABLE j_sales (tenant_id uuid NOT NULL, region text NOT NULL) PARTITION BY LIST (region);
CREATE INDEX ON j_sales (tenant_id);
SELECT trovella.enable_tenant_isolation('j_sales');
COMMIT;
CREATE FOREIGN TABLE j_sales_us PARTITION OF j_sales FOR VALUES IN ('us') SERVER regress_judge_server;
\set VERBOSITY default
SELECT to_regclass('j_remote_child') AS remote_child, to_regclass('j_sales_us') AS foreign_partition;
RESET ROLE;
SET trovella.isolation_guard = off;
SET ROLE regress_judge_owner;
CREATE TABLE j_remote_child (body text) INHERITS (j_remote);
SELECT trovella.enable_tenant_isolation('j_remote_child');
CREATE FOREIGN TABLE j_sales_us PARTITION OF j_sales FOR VALUES IN ('us') SERVER regress_judge_server;
SELECT table_name, problems, reviewed FROM trovella.isolation_status
WHERE table_name IN ('j_remote'::regclass, 'j_remote_child'::regclass, 'j_sales_us'::regclass)
ORDER BY table_name::text;
RESET ROLE;

-- 13. A change to a parent re-judges what inherits from it: dropping its
-- tenant column (with its policies) and then its RLS is refused
SET trovella.isolation_guard = error;
SET ROLE regress_judge_owner;
BEGIN;
CREATE TABLE j_base (id int, tenant_id uuid NOT NULL);
SELECT trovella.enable_tenant_isolation('j_base');
SET client_min_messages = warning;                                -- (PostgreSQL's column merge notice)
CREATE TABLE j_heir (tenant_id uuid NOT NULL, body text) INHERITS (j_base);
RESET client_min_messages;
SELECT trovella.enable_tenant_isolation('j_heir');
COMMIT;
\set VERBOSITY sqlstate
ALTER TABLE j_base DROP COLUMN tenant_id CASCADE;
BEGIN;
ALTER TABLE j_base DROP COLUMN tenant_id CASCADE;
ALTER TABLE j_base DISABLE ROW LEVEL SECURITY;
COMMIT;
ALTER TABLE j_base DISABLE ROW LEVEL SECURITY;                    -- the parent's own change
DROP POLICY trovella_tenant_access ON j_base;
\set VERBOSITY default
SELECT trovella.is_isolated('j_base', 'tenant_id') AS base_isolated,
       trovella.is_isolated('j_heir', 'tenant_id') AS heir_isolated;
-- a reviewed parent's change re-judges its children just the same
RESET ROLE;
COMMENT ON TABLE j_base IS 'trovella: reviewed: only its own rows';
SET ROLE regress_judge_owner;
\set VERBOSITY sqlstate
DROP POLICY trovella_tenant_access ON j_base;
ALTER TABLE j_base DISABLE ROW LEVEL SECURITY;
\set VERBOSITY default
SELECT trovella.is_isolated('j_base', 'tenant_id') AS base_still_isolated;
RESET ROLE;

-- 14. A look-alike "=" first on the search_path: the policies print as
-- trovella's under it, but compare nothing.  Judged by OID, the guard
-- refuses them, and is_isolated, isolation_status and the guard agree.
SET ROLE regress_judge_owner;
CREATE FUNCTION public.j_always(uuid, uuid) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE OPERATOR public.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = public.j_always);
SET search_path = public, pg_catalog;
\set VERBOSITY sqlstate
BEGIN;
CREATE TABLE j_fake (id int, tenant_id uuid NOT NULL);
ALTER TABLE j_fake ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY trovella_tenant_isolation ON j_fake AS RESTRICTIVE
	USING (tenant_id = (SELECT trovella.current_tenant())) WITH CHECK (tenant_id = (SELECT trovella.current_tenant()));
CREATE POLICY trovella_tenant_access ON j_fake
	USING (tenant_id = (SELECT trovella.current_tenant())) WITH CHECK (tenant_id = (SELECT trovella.current_tenant()));
COMMIT;
\set VERBOSITY default
RESET ROLE;
SET trovella.isolation_guard = off;
SET ROLE regress_judge_owner;
CREATE TABLE j_fake (id int, tenant_id uuid NOT NULL);
CREATE INDEX ON j_fake (tenant_id);
ALTER TABLE j_fake ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY trovella_tenant_isolation ON j_fake AS RESTRICTIVE
	USING (tenant_id = (SELECT trovella.current_tenant())) WITH CHECK (tenant_id = (SELECT trovella.current_tenant()));
CREATE POLICY trovella_tenant_access ON j_fake
	USING (tenant_id = (SELECT trovella.current_tenant())) WITH CHECK (tenant_id = (SELECT trovella.current_tenant()));
-- the real ones, made under the same search_path, pass
CREATE TABLE j_real (id int, tenant_id uuid NOT NULL);
CREATE INDEX ON j_real (tenant_id);
SELECT trovella.enable_tenant_isolation('j_real');
GRANT SELECT ON j_real TO regress_judge_app;
SELECT table_name, trovella.is_isolated(table_name, 'tenant_id') AS isolated, policy_ok, problems
FROM trovella.isolation_status WHERE table_name IN ('j_fake'::regclass, 'j_real'::regclass) ORDER BY table_name::text;
RESET search_path;
RESET ROLE;

-- 15. isolation_helper(true), which anyone may call, never stops a new
-- partition of an isolated parent from getting its policies, in any mode,
-- as the owner or as the application
SET trovella.isolation_guard = off;
SET ROLE regress_judge_owner;
BEGIN;
CREATE TABLE j_events (tenant_id uuid NOT NULL, day int NOT NULL) PARTITION BY RANGE (day);
CREATE INDEX ON j_events (tenant_id);
SELECT trovella.enable_tenant_isolation('j_events');
COMMIT;
GRANT SELECT ON j_events TO regress_judge_app;
RESET ROLE;
SET ROLE regress_judge_owner;
BEGIN;
SELECT trovella.isolation_helper(true);
CREATE TABLE j_events_1 PARTITION OF j_events FOR VALUES FROM (1) TO (2);
COMMIT;
RESET ROLE;
SET trovella.isolation_guard = warn;
SET ROLE regress_judge_owner;
BEGIN;
SELECT trovella.isolation_helper(true);
CREATE TABLE j_events_2 PARTITION OF j_events FOR VALUES FROM (2) TO (3);
COMMIT;
RESET ROLE;
SET trovella.isolation_guard = error;
SET ROLE regress_judge_owner;
BEGIN;
SELECT trovella.isolation_helper(true);
CREATE TABLE j_events_3 (tenant_id uuid NOT NULL, day int NOT NULL);
ALTER TABLE j_events ATTACH PARTITION j_events_3 FOR VALUES FROM (3) TO (4);
COMMIT;
RESET ROLE;
SET trovella.isolation_guard = auto;
SET ROLE regress_judge_owner;
BEGIN;
SELECT trovella.isolation_helper(true);
CREATE TABLE j_events_4 PARTITION OF j_events FOR VALUES FROM (4) TO (5);
COMMIT;
RESET ROLE;
SELECT c.relname, trovella.is_isolated(c.oid, 'tenant_id') AS isolated
FROM pg_class c WHERE c.relname LIKE 'j\_events%' AND c.relkind IN ('r', 'p') ORDER BY c.relname;
-- the application's mark changes nothing it can reach either: a tenant
-- reads its own rows only, through the parent and the partition
SET ROLE regress_judge_app;
BEGIN;
SELECT trovella.isolation_helper(true);
SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000000');
SELECT count(*) AS app_rows FROM j_events;
COMMIT;
RESET ROLE;

-- 16. health agrees with isolation_status: an application's temporary
-- view is no problem of the database, a reviewed table is not counted as
-- isolated, and health says "problem" exactly when a row of
-- isolation_status has one.
SET trovella.isolation_guard = off;
SET ROLE regress_judge_app;
CREATE TEMPORARY VIEW j_app_view AS SELECT * FROM j_real;
RESET ROLE;
SELECT count(*) AS views_named FROM trovella.isolation_status s, unnest(s.problems) p WHERE p LIKE '%j_app_view%';
-- every case above, and the comparison: health's verdict and count are
-- isolation_status's, and the guard's judgement of each table is the audit's
SET ROLE regress_judge_monitor;
SELECT status, detail FROM trovella.health WHERE check_name = 'isolation';
RESET ROLE;
SELECT (SELECT status FROM trovella.health WHERE check_name = 'isolation')
       = CASE WHEN EXISTS (SELECT FROM trovella.isolation_status WHERE problems <> '{}') THEN 'problem' ELSE 'ok' END
       AS health_agrees,
       (SELECT detail FROM trovella.health WHERE check_name = 'isolation')
       LIKE format('tables with isolation problems: %s;%%', (SELECT count(*) FROM trovella.isolation_status WHERE problems <> '{}'))
       AS same_count;
SELECT s.table_name,
       s.problems <> '{}' AS audit_problem,
       trovella.isolation_guard_problem(s.table_name) IS NOT NULL
           OR trovella.inheritance_guard_problem(s.table_name) IS NOT NULL AS guard_problem,
       trovella.is_isolated(s.table_name, s.tenant_column) AS isolated,
       s.rls_enabled AND s.rls_forced AND s.policy_ok AS audit_isolated
FROM trovella.isolation_status s
WHERE s.table_name::text LIKE 'j\_%'
ORDER BY s.table_name::text;
-- the rule: what the guard refuses, the audit names; what is isolated for
-- one is isolated for the other
SELECT count(*) AS disagreements
FROM trovella.isolation_status s
WHERE ((trovella.isolation_guard_problem(s.table_name) IS NOT NULL
        OR trovella.inheritance_guard_problem(s.table_name) IS NOT NULL) AND s.problems = '{}')
   OR trovella.is_isolated(s.table_name, s.tenant_column) IS DISTINCT FROM (s.rls_enabled AND s.rls_forced AND s.policy_ok);
-- with every problem resolved, reviewed tables are counted apart
DROP TABLE j_orders, j_orders_2, j_loose_child, j_loose, j_remote_child, j_log, j_fake, j_heir, j_base;
DROP FOREIGN TABLE j_remote, j_remote_nocol, j_sales_us;
SELECT table_name, problems FROM trovella.isolation_status WHERE problems <> '{}';
SET ROLE regress_judge_monitor;
SELECT status, detail FROM trovella.health WHERE check_name = 'isolation';
RESET ROLE;

DROP VIEW pg_temp.j_app_view;
DROP TABLE j_lookup, j_real, j_sales, j_events;
DROP OPERATOR public.= (uuid, uuid);
DROP FUNCTION public.j_always(uuid, uuid);
DROP SERVER regress_judge_server;
DROP FOREIGN DATA WRAPPER regress_judge_fdw;
REVOKE ALL ON SCHEMA public FROM regress_judge_owner, regress_judge_app;
REVOKE ALL ON FUNCTION trovella.with_tenant(uuid, uuid) FROM regress_judge_app;
DROP ROLE regress_judge_owner, regress_judge_app, regress_judge_monitor;
RESET trovella.isolation_guard;
