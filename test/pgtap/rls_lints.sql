-- An isolated table passes the RLS lints of Supabase's splinter, adapted to
-- plain PostgreSQL roles.  Each lint is also run on a table built to break
-- it, so a lint that can never fire would show up here.
BEGIN;
SELECT plan(17);

CREATE SCHEMA lint_ok;
CREATE SCHEMA lint_bad;
CREATE TABLE lint_ok.docs (id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL, body text);
CREATE INDEX ON lint_ok.docs (tenant_id, id);
SELECT trovella.enable_tenant_isolation('lint_ok.docs');
CREATE VIEW lint_ok.docs_view WITH (security_invoker = true) AS SELECT * FROM lint_ok.docs;

-- The usual hand-written mistakes, one table each.
CREATE TABLE lint_bad.rls_off (tenant_id uuid);
CREATE POLICY p ON lint_bad.rls_off USING (tenant_id = trovella.current_tenant());
CREATE TABLE lint_bad.no_policy (tenant_id uuid);
ALTER TABLE lint_bad.no_policy ENABLE ROW LEVEL SECURITY;
CREATE TABLE lint_bad.two_permissive (tenant_id uuid, owner_id uuid);
ALTER TABLE lint_bad.two_permissive ENABLE ROW LEVEL SECURITY;
CREATE POLICY by_tenant ON lint_bad.two_permissive USING (tenant_id = (SELECT trovella.current_tenant()));
CREATE POLICY by_owner ON lint_bad.two_permissive FOR SELECT USING (owner_id = (SELECT trovella.current_user_id()));
CREATE TABLE lint_bad.always_true (tenant_id uuid);
ALTER TABLE lint_bad.always_true ENABLE ROW LEVEL SECURITY;
CREATE POLICY open ON lint_bad.always_true USING (true);
CREATE TABLE lint_bad.per_row (tenant_id uuid);
ALTER TABLE lint_bad.per_row ENABLE ROW LEVEL SECURITY;
CREATE POLICY p ON lint_bad.per_row USING (tenant_id = current_setting('app.tenant')::uuid);
CREATE TABLE lint_bad.behind_view (tenant_id uuid);
SELECT trovella.enable_tenant_isolation('lint_bad.behind_view');
CREATE VIEW lint_bad.definer_view AS SELECT * FROM lint_bad.behind_view;

-- The lints: each returns the tables it flags.
CREATE TEMP VIEW lint_policy_exists_rls_disabled AS
	SELECT c.oid::regclass AS tbl FROM pg_class c
	WHERE NOT c.relrowsecurity AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid);
CREATE TEMP VIEW lint_rls_enabled_no_policy AS
	SELECT c.oid::regclass AS tbl FROM pg_class c
	WHERE c.relrowsecurity AND NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid);
CREATE TEMP VIEW lint_multiple_permissive_policies AS
	SELECT DISTINCT p.polrelid::regclass AS tbl
	FROM pg_policy p, unnest(p.polroles) AS role,
	     unnest(ARRAY['r', 'a', 'w', 'd']::"char"[]) AS action
	WHERE p.polpermissive AND p.polcmd IN (action, '*')
	GROUP BY p.polrelid, role, action HAVING count(*) > 1;
CREATE TEMP VIEW lint_policy_always_true AS
	SELECT p.polrelid::regclass AS tbl FROM pg_policy p
	WHERE pg_get_expr(p.polqual, p.polrelid) = 'true' OR pg_get_expr(p.polwithcheck, p.polrelid) = 'true';
CREATE TEMP VIEW lint_auth_rls_initplan AS
	SELECT p.polrelid::regclass AS tbl FROM pg_policy p,
	     LATERAL (SELECT coalesce(pg_get_expr(p.polqual, p.polrelid), '') || ' ' ||
	                     coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '') AS expr) e
	WHERE regexp_count(e.expr, '(current_tenant|current_user_id|current_setting)\(')
	    > regexp_count(e.expr, '\( SELECT ([a-z_]+\.)?(current_tenant|current_user_id|current_setting)\(');
CREATE TEMP VIEW lint_security_definer_view AS
	SELECT DISTINCT v.oid::regclass AS tbl
	FROM pg_class v
	JOIN pg_rewrite r ON r.ev_class = v.oid
	JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid AND d.refclassid = 'pg_class'::regclass
	JOIN pg_class t ON t.oid = d.refobjid AND t.oid <> v.oid AND t.relrowsecurity
	WHERE v.relkind = 'v'
	  AND NOT coalesce((SELECT o.option_value::boolean FROM pg_options_to_table(v.reloptions) o
	                    WHERE o.option_name = 'security_invoker'), false);

SELECT policies_are('lint_ok', 'docs', ARRAY['trovella_tenant_isolation', 'trovella_tenant_access'],
	'an isolated table has exactly trovella''s two policies');
SELECT policy_cmd_is('lint_ok', 'docs', 'trovella_tenant_isolation', 'all', 'the restrictive policy covers every command');
-- (pgTAP's policy_roles_are cannot name PUBLIC, which is role oid 0)
SELECT is((SELECT array_agg(DISTINCT r) FROM pg_policy p, unnest(p.polroles) r
           WHERE p.polrelid = 'lint_ok.docs'::regclass), ARRAY[0::oid],
	'both policies apply to PUBLIC, so no role escapes them');
SELECT is((SELECT problems FROM trovella.isolation_status WHERE table_name = 'lint_ok.docs'::regclass), '{}'::text[],
	'isolation_status reports no problem for the isolated table');

SELECT is_empty($$SELECT tbl FROM lint_policy_exists_rls_disabled WHERE tbl::text LIKE 'lint_ok.%'$$,
	'lint policy_exists_rls_disabled: passes');
SELECT is_empty($$SELECT tbl FROM lint_rls_enabled_no_policy WHERE tbl::text LIKE 'lint_ok.%'$$,
	'lint rls_enabled_no_policy: passes');
SELECT is_empty($$SELECT tbl FROM lint_multiple_permissive_policies WHERE tbl::text LIKE 'lint_ok.%'$$,
	'lint multiple_permissive_policies: passes (one permissive policy)');
SELECT is_empty($$SELECT tbl FROM lint_policy_always_true WHERE tbl::text LIKE 'lint_ok.%'$$,
	'lint policy always true: passes (no USING (true))');
SELECT is_empty($$SELECT tbl FROM lint_auth_rls_initplan WHERE tbl::text LIKE 'lint_ok.%'$$,
	'lint auth_rls_initplan: passes (the function call is wrapped in a SELECT)');
SELECT is_empty($$SELECT tbl FROM lint_security_definer_view WHERE tbl::text LIKE 'lint_ok.%'$$,
	'lint security_definer_view: passes (the view is security_invoker)');

SELECT set_eq($$SELECT tbl::text FROM lint_policy_exists_rls_disabled WHERE tbl::text LIKE 'lint_bad.%'$$,
	ARRAY['lint_bad.rls_off'], 'lint policy_exists_rls_disabled fires on a policy without RLS');
SELECT set_eq($$SELECT tbl::text FROM lint_rls_enabled_no_policy WHERE tbl::text LIKE 'lint_bad.%'$$,
	ARRAY['lint_bad.no_policy'], 'lint rls_enabled_no_policy fires on RLS without a policy');
SELECT set_eq($$SELECT tbl::text FROM lint_multiple_permissive_policies WHERE tbl::text LIKE 'lint_bad.%'$$,
	ARRAY['lint_bad.two_permissive'], 'lint multiple_permissive_policies fires on two permissive policies');
SELECT set_eq($$SELECT tbl::text FROM lint_policy_always_true WHERE tbl::text LIKE 'lint_bad.%'$$,
	ARRAY['lint_bad.always_true'], 'lint policy always true fires on USING (true)');
SELECT set_eq($$SELECT tbl::text FROM lint_auth_rls_initplan WHERE tbl::text LIKE 'lint_bad.%'$$,
	ARRAY['lint_bad.rls_off', 'lint_bad.per_row'], 'lint auth_rls_initplan fires on per-row function calls');
SELECT set_eq($$SELECT tbl::text FROM lint_security_definer_view WHERE tbl::text LIKE 'lint_bad.%'$$,
	ARRAY['lint_bad.definer_view'], 'lint security_definer_view fires on a view without security_invoker');
SELECT ok((SELECT problems FROM trovella.isolation_status WHERE table_name = 'lint_bad.behind_view'::regclass)
          @> ARRAY['view lint_bad.definer_view reads this table without security_invoker'],
	'isolation_status reports the same view');

SELECT * FROM finish();
ROLLBACK;
