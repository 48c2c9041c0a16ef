-- Row-level security helpers, as a non-superuser owner and as an
-- application role that owns nothing (superusers bypass RLS altogether).
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

-- What trovella's policies look like, for before/after comparisons.
CREATE FUNCTION pg_temp.policies(tbl regclass) RETURNS TABLE (policy name, kind text, cmd "char", roles oid[], qual text, with_check text)
LANGUAGE sql AS $$
	SELECT polname, CASE WHEN polpermissive THEN 'permissive' ELSE 'restrictive' END, polcmd, polroles,
	       pg_get_expr(polqual, polrelid), pg_get_expr(polwithcheck, polrelid)
	FROM pg_policy WHERE polrelid = tbl ORDER BY polname
$$;
GRANT EXECUTE ON FUNCTION pg_temp.policies(regclass) TO PUBLIC;

CREATE ROLE regress_rls_owner;
CREATE ROLE regress_rls_app;
GRANT CREATE ON SCHEMA public TO regress_rls_owner;
GRANT CREATE ON DATABASE :"DBNAME" TO regress_rls_owner;
GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO regress_rls_owner, regress_rls_app;

\set A '''aaaaaaaa-0000-0000-0000-000000000000'''
\set B '''bbbbbbbb-0000-0000-0000-000000000000'''

SET ROLE regress_rls_owner;
CREATE TABLE docs (id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL, body text);
CREATE TABLE notes (id int, org text, tenant_id uuid);
CREATE VIEW docs_plain AS SELECT * FROM docs;

-- Errors: missing column 42703, wrong type 42804, not a table 42809.
SELECT pg_temp.error_of($$SELECT trovella.enable_tenant_isolation('docs', 'org_id')$$);
SELECT pg_temp.error_of($$SELECT trovella.enable_tenant_isolation('notes', 'org')$$);
SELECT pg_temp.error_of($$SELECT trovella.enable_tenant_isolation('docs_plain')$$);
SELECT pg_temp.error_of($$SELECT trovella.enable_tenant_isolation('no_such_table')$$);
DROP VIEW docs_plain;

-- Without a tenant index: a NOTICE naming the CREATE INDEX to run.
\set VERBOSITY default
SELECT trovella.enable_tenant_isolation('docs');
\set VERBOSITY terse
SELECT * FROM pg_temp.policies('docs');
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'docs'::regclass;
SELECT pg_get_expr(adbin, adrelid) AS tenant_default FROM pg_attrdef WHERE adrelid = 'docs'::regclass AND adnum = 2;
CREATE INDEX docs_tenant_idx ON docs (tenant_id, id);
GRANT SELECT, INSERT, UPDATE, DELETE ON docs TO regress_rls_app;

-- Only the owner may isolate a table (PostgreSQL's own 42501).
SET ROLE regress_rls_app;
SELECT pg_temp.error_of($$SELECT trovella.enable_tenant_isolation('notes')$$);
SET ROLE regress_rls_owner;

-- Idempotent: a second call leaves the same catalog state.
CREATE TEMP TABLE catalog_before AS
SELECT * FROM pg_temp.policies('docs'), (SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'docs'::regclass) c;
SELECT trovella.enable_tenant_isolation('docs');
SELECT count(*) AS rows_differing FROM (
	(SELECT * FROM catalog_before EXCEPT SELECT * FROM pg_temp.policies('docs'), (SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'docs'::regclass) c)
	UNION ALL
	(SELECT * FROM pg_temp.policies('docs'), (SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'docs'::regclass) c EXCEPT SELECT * FROM catalog_before)) d;

-- Seed 100 tenants (50 rows each) through the policies themselves.
INSERT INTO docs (tenant_id, body) VALUES (:A, 'nothing set');   -- no context: 42501
BEGIN;
SELECT trovella.with_tenant(:A);
INSERT INTO docs (body) SELECT 'a' || n FROM generate_series(1, 50) n;
COMMIT;
BEGIN;
SELECT trovella.with_tenant(:B);
INSERT INTO docs (body) SELECT 'b' || n FROM generate_series(1, 50) n;
COMMIT;
RESET ROLE;
-- (seeding the other 98 tenants as superuser, who bypasses RLS)
INSERT INTO docs (tenant_id, body)
SELECT ('cccccccc-0000-0000-0000-' || lpad(t::text, 12, '0'))::uuid, 'c' || n
FROM generate_series(1, 98) t, generate_series(1, 50) n;
ANALYZE docs;

-- Tenant A sees, counts, updates and deletes only its rows.
SET ROLE regress_rls_app;
BEGIN;
SELECT trovella.with_tenant(:A);
SELECT count(*) AS a_rows, count(DISTINCT tenant_id) AS tenants_seen FROM docs;
UPDATE docs SET body = body || '!';
DELETE FROM docs WHERE body = 'a50!';
SELECT count(*) FILTER (WHERE body LIKE '%!') AS updated, count(*) AS left_after_delete FROM docs;
-- writing into B's tenant fails the WITH CHECK: 42501
SELECT pg_temp.error_of(format('INSERT INTO docs (tenant_id, body) VALUES (%L, %L)', :B, 'smuggled'));
SELECT pg_temp.error_of(format('UPDATE docs SET tenant_id = %L WHERE body = %L', :B, 'a1!'));
-- an insert that omits the column gets A
INSERT INTO docs (body) VALUES ('defaulted') RETURNING tenant_id = :A AS got_tenant_a;
SELECT count(*) AS a_rows_again FROM docs;
COMMIT;
RESET ROLE;
SELECT count(*) FILTER (WHERE body LIKE 'b%!') AS b_rows_touched, count(*) FILTER (WHERE body = 'b50') AS b50_kept FROM docs;

SET ROLE regress_rls_owner;
CREATE POLICY wide_open ON docs USING (true);
SET ROLE regress_rls_app;
BEGIN;
SELECT trovella.with_tenant(:A);
SELECT count(*) AS a_rows_with_wide_open_policy, count(DISTINCT tenant_id) AS tenants_seen FROM docs;
COMMIT;
SET ROLE regress_rls_owner;
DROP POLICY wide_open ON docs;

-- Without a context every read fails closed with 42501, whatever its form.
SET ROLE regress_rls_app;
SELECT q, pg_temp.error_of(q) AS error FROM unnest(ARRAY[
	'SELECT * FROM docs',
	'SELECT count(*) FROM docs',
	'WITH d AS (SELECT * FROM docs) SELECT count(*) FROM d',
	'SELECT (SELECT count(*) FROM docs)',
	'SELECT count(*) FROM docs d1 JOIN docs d2 USING (id)',
	'SELECT EXISTS (SELECT 1 FROM docs)',
	$$UPDATE docs SET body = 'x'$$,
	'DELETE FROM docs'
]) AS q;
\set VERBOSITY sqlstate
COPY (SELECT * FROM docs) TO STDOUT;
COPY docs TO STDOUT;
\set VERBOSITY terse

-- The owner is isolated too (FORCE ROW LEVEL SECURITY).
SET ROLE regress_rls_owner;
SELECT pg_temp.error_of('SELECT count(*) FROM docs') AS owner_without_context;
BEGIN;
SELECT trovella.with_tenant(:B);
SELECT count(*) AS owner_sees_b_rows, count(DISTINCT tenant_id) AS tenants_seen FROM docs;
COMMIT;

-- One InitPlan evaluates the tenant once per query, and the tenant index is used.
-- EXPLAIN names an InitPlan's output "$0" up to 16 and "(InitPlan 1).col1"
-- from 17, and the InitPlan itself "InitPlan expr_1" from 19; the plans are
-- shown in the newest notation on every version.
CREATE FUNCTION pg_temp.plan(query text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	line text;
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
		line := regexp_replace(line, 'InitPlan (\d+) \(returns \$\d+\)', 'InitPlan \1');
		line := replace(line, '$0', '(InitPlan 1).col1');
		RETURN NEXT regexp_replace(line, 'InitPlan (\d+)', 'InitPlan expr_\1', 'g');
	END LOOP;
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.plan(text) TO PUBLIC;
SET ROLE regress_rls_app;
BEGIN;
SELECT trovella.with_tenant(:A);
SELECT pg_temp.plan('SELECT count(*) FROM docs');
SELECT pg_temp.plan($$SELECT * FROM docs WHERE id = trovella.ulid_to_uuid('01ARZ3NDEKTSV4RRFFQ69G5FAV')$$);
COMMIT;

-- Views: one without security_invoker is reported; one with it is isolated.
SET ROLE regress_rls_owner;
CREATE VIEW docs_definer AS SELECT id, body FROM docs;
CREATE VIEW docs_invoker WITH (security_invoker = true) AS SELECT id, body FROM docs;
GRANT SELECT ON docs_invoker TO regress_rls_app;
SELECT table_name, problems FROM trovella.isolation_status WHERE table_name = 'docs'::regclass;
SET ROLE regress_rls_app;
BEGIN;
SELECT trovella.with_tenant(:B);
SELECT count(*) AS b_rows_through_invoker_view FROM docs_invoker;
COMMIT;
SELECT pg_temp.error_of('SELECT count(*) FROM docs_invoker') AS invoker_view_without_context;
SET ROLE regress_rls_owner;
DROP VIEW docs_definer;
SELECT table_name, problems FROM trovella.isolation_status WHERE table_name = 'docs'::regclass;
-- at any depth: a view with its owner's rights, and a materialized view,
-- over the security_invoker view (0.3.0: only one level was followed)
CREATE VIEW docs_definer_deep AS SELECT id FROM docs_invoker;
CREATE MATERIALIZED VIEW docs_copy_deep AS SELECT id FROM docs_invoker WITH NO DATA;
SELECT table_name, policy_ok, problems FROM trovella.isolation_status WHERE table_name = 'docs'::regclass;
DROP VIEW docs_definer_deep;
DROP MATERIALIZED VIEW docs_copy_deep;
SELECT table_name, problems FROM trovella.isolation_status WHERE table_name = 'docs'::regclass;

-- Another column replaces the policy, and the default trovella had set moves.
ALTER TABLE docs ADD COLUMN org_id uuid;
SELECT trovella.enable_tenant_isolation('docs', 'org_id');
SELECT policy, qual FROM pg_temp.policies('docs');
SELECT a.attname, pg_get_expr(d.adbin, d.adrelid) AS default
FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
WHERE d.adrelid = 'docs'::regclass ORDER BY 1;
SELECT trovella.enable_tenant_isolation('docs', 'tenant_id');
ALTER TABLE docs DROP COLUMN org_id;
SELECT count(*) AS same_as_before FROM (SELECT * FROM pg_temp.policies('docs') INTERSECT SELECT policy, kind, cmd, roles, qual, with_check FROM catalog_before) s;

-- Partitioned tables: every partition is isolated, also queried directly.
CREATE TABLE events (tenant_id uuid NOT NULL, region text NOT NULL, id uuid DEFAULT trovella.ulid_uuid())
	PARTITION BY LIST (region);
CREATE TABLE events_eu PARTITION OF events FOR VALUES IN ('eu');
CREATE TABLE events_us PARTITION OF events FOR VALUES IN ('us');
CREATE INDEX ON events (tenant_id);
SELECT trovella.enable_tenant_isolation('events');
GRANT SELECT, INSERT ON events, events_eu, events_us TO regress_rls_app;
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, count(p.polname) AS policies
FROM pg_class c LEFT JOIN pg_policy p ON p.polrelid = c.oid
WHERE c.relname LIKE 'events%' AND c.relkind IN ('r', 'p') GROUP BY 1, 2, 3 ORDER BY 1;
SET ROLE regress_rls_app;
BEGIN;
SELECT trovella.with_tenant(:A);
INSERT INTO events (region) VALUES ('eu'), ('us'), ('eu');
COMMIT;
BEGIN;
SELECT trovella.with_tenant(:B);
INSERT INTO events (region) VALUES ('eu');
SELECT count(*) AS b_in_eu_partition FROM events_eu;
SELECT count(*) AS b_in_parent FROM events;
COMMIT;
SELECT pg_temp.error_of('SELECT count(*) FROM events_eu') AS partition_without_context;
SET ROLE regress_rls_owner;
-- a partition attached later inherits the isolation at once (0.3.0), even
-- with the guard off; one whose isolation is then taken away is reported
CREATE TABLE events_ap (tenant_id uuid NOT NULL, region text NOT NULL, id uuid);
ALTER TABLE events ATTACH PARTITION events_ap FOR VALUES IN ('ap');
SELECT table_name, policy_ok, problems FROM trovella.isolation_status
WHERE table_name::text LIKE 'events%' ORDER BY table_name::text;
SELECT trovella.drop_tenant_policies('events_ap');
ALTER TABLE events_ap NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;
SELECT table_name, policy_ok, problems FROM trovella.isolation_status
WHERE table_name::text LIKE 'events%' ORDER BY table_name::text;
SELECT trovella.enable_tenant_isolation('events');
SELECT table_name, policy_ok, problems FROM trovella.isolation_status
WHERE table_name::text LIKE 'events%' ORDER BY table_name::text;

-- Inheritance: a parent without the tenant column reads its isolated
-- child's rows under its own (absent) policies: every tenant's.  Reported.
CREATE TABLE notes_base (id int, body text);
CREATE TABLE notes_tenant (tenant_id uuid NOT NULL) INHERITS (notes_base);
CREATE INDEX ON notes_tenant (tenant_id);
SELECT trovella.enable_tenant_isolation('notes_tenant');
SELECT table_name, policy_ok, problems FROM trovella.isolation_status WHERE table_name = 'notes_tenant'::regclass;
ALTER TABLE notes_tenant NO INHERIT notes_base;
SELECT table_name, policy_ok, problems FROM trovella.isolation_status WHERE table_name = 'notes_tenant'::regclass;
DROP TABLE notes_tenant, notes_base;

-- isolation_status names each problem.
CREATE TABLE broken (tenant_id uuid, body text);
CREATE INDEX ON broken (body, tenant_id);
SELECT * FROM trovella.isolation_status WHERE table_name = 'broken'::regclass;
SELECT trovella.enable_tenant_isolation('broken');
ALTER TABLE broken NO FORCE ROW LEVEL SECURITY;
ALTER POLICY trovella_tenant_isolation ON broken USING (true);
DROP POLICY trovella_tenant_access ON broken;
CREATE MATERIALIZED VIEW broken_copy AS SELECT * FROM broken;
SELECT * FROM trovella.isolation_status WHERE table_name = 'broken'::regclass;
ALTER TABLE broken DISABLE ROW LEVEL SECURITY;
DROP POLICY trovella_tenant_isolation ON broken;
SELECT problems FROM trovella.isolation_status WHERE table_name = 'broken'::regclass;
DROP MATERIALIZED VIEW broken_copy;

-- disable_tenant_isolation: policies and trovella's default go, RLS is no
-- longer forced, and disabled unless another policy remains; a default
-- the user set stays.
CREATE TABLE kept (tenant_id uuid NOT NULL DEFAULT 'aaaaaaaa-0000-0000-0000-000000000000', body text);
SELECT trovella.enable_tenant_isolation('kept');
CREATE POLICY own_policy ON kept FOR SELECT USING (body IS NOT NULL);
SELECT trovella.disable_tenant_isolation('kept');
SELECT trovella.disable_tenant_isolation('docs');
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
       (SELECT array_agg(polname ORDER BY polname) FROM pg_policy WHERE polrelid = c.oid) AS policies,
       (SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
        WHERE d.adrelid = c.oid AND a.attname = 'tenant_id') AS tenant_default
FROM pg_class c WHERE c.relname IN ('kept', 'docs') ORDER BY 1;
-- and it leaves a table trovella never isolated alone
SELECT trovella.disable_tenant_isolation('kept');
SELECT relrowsecurity FROM pg_class WHERE relname = 'kept';

-- isolate_schema: every table with the column, returning those it changed.
CREATE SCHEMA saas;
CREATE TABLE saas.projects (id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL);
CREATE TABLE saas.tasks (id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL);
CREATE TABLE saas.countries (code text PRIMARY KEY);
CREATE INDEX ON saas.projects (tenant_id);
CREATE INDEX ON saas.tasks (tenant_id);
SELECT trovella.enable_tenant_isolation('saas.tasks');
SELECT * FROM trovella.isolate_schema('saas');
SELECT * FROM trovella.isolate_schema('saas');
SELECT table_name, problems FROM trovella.isolation_status WHERE table_name::text LIKE 'saas.%' ORDER BY table_name::text;

-- trovella.tenant_column decides which unprotected tables the view lists.
CREATE TABLE orgs_data (org_id uuid NOT NULL);
SELECT count(*) AS listed_by_default FROM trovella.isolation_status WHERE table_name = 'orgs_data'::regclass;
RESET ROLE;
SET trovella.tenant_column = 'org_id';           -- a superuser's setting (0.3.0)
SET ROLE regress_rls_owner;
SELECT table_name, tenant_column, problems FROM trovella.isolation_status WHERE table_name = 'orgs_data'::regclass;
RESET ROLE;
RESET trovella.tenant_column;
SET ROLE regress_rls_owner;

RESET ROLE;
DROP SCHEMA saas CASCADE;
DROP TABLE docs, notes, events, broken, kept, orgs_data CASCADE;
REVOKE ALL ON SCHEMA public FROM regress_rls_owner;
REVOKE ALL ON DATABASE :"DBNAME" FROM regress_rls_owner;
REVOKE ALL ON FUNCTION trovella.with_tenant(uuid, uuid) FROM regress_rls_owner, regress_rls_app;
DROP OWNED BY regress_rls_owner, regress_rls_app;
DROP ROLE regress_rls_owner, regress_rls_app;
