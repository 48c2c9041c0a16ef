-- Every way to forge or switch the tenant context, one named test each.
-- Not one big transaction: the seal lasts a whole transaction, so each
-- scenario runs in its own.
\set A '''aaaaaaaa-0000-0000-0000-000000000000'''
\set B '''bbbbbbbb-0000-0000-0000-000000000000'''
\set U1 '''11111111-0000-0000-0000-000000000000'''
\set U2 '''22222222-0000-0000-0000-000000000000'''

-- pgTAP keeps its results in a temporary table that these committed tenant
-- transactions write to: a test harness's case for trovella.residue_check.
LOAD 'trovella';
SET trovella.residue_check = off;
SELECT plan(41);

CREATE ROLE regress_spoof_app;
GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid), trovella.with_user(uuid) TO regress_spoof_app;
-- Even a role granted SET on the parameter itself gets nowhere.
GRANT SET ON PARAMETER trovella.tenant_id TO regress_spoof_app;
-- A SECURITY DEFINER function owned by a superuser that tries set_config().
CREATE FUNCTION public.spoof_set_config(name text, value text) RETURNS text
	LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$ SELECT set_config(name, value, true) $$;
GRANT EXECUTE ON FUNCTION public.spoof_set_config(text, text) TO regress_spoof_app;

-- 1. As the application role, inside tenant A's transaction.
BEGIN;
SET LOCAL ROLE regress_spoof_app;
SELECT lives_ok(format('SELECT trovella.with_tenant(%L, %L)', :A, :U1),
	'the application role sets tenant A and user U1');
SELECT throws_ok(format('SET trovella.tenant_id = %L', :B), '42501', NULL,
	'SET trovella.tenant_id is refused even with GRANT SET ON PARAMETER');
SELECT throws_ok(format('SET LOCAL trovella.tenant_id = %L', :B), '42501', NULL,
	'SET LOCAL trovella.tenant_id is refused');
SELECT throws_ok(format('SELECT set_config(%L, %L, false)', 'trovella.tenant_id', :B), '42501', NULL,
	'set_config(trovella.tenant_id, ..., false) is refused');
SELECT throws_ok(format('SELECT set_config(%L, %L, true)', 'trovella.tenant_id', :B), '42501', NULL,
	'set_config(trovella.tenant_id, ..., true) is refused');
SELECT throws_ok(format('SET trovella.user_id = %L', :U2), '42501', NULL,
	'SET trovella.user_id is refused');
SELECT throws_ok(format('SELECT set_config(%L, %L, true)', 'trovella.user_id', :U2), '42501', NULL,
	'set_config(trovella.user_id, ...) is refused');
SELECT throws_ok(format('SELECT public.spoof_set_config(%L, %L)', 'trovella.tenant_id', :B), '42501', NULL,
	'a SECURITY DEFINER function owned by a superuser cannot set_config() the tenant');
SELECT throws_ok(format('SELECT trovella.with_tenant(%L)', :B), '25000', NULL,
	'with_tenant() cannot switch to another tenant');
SELECT throws_ok(format('SELECT trovella.with_tenant(%L, %L)', :A, :U2), '25000', NULL,
	'with_tenant() cannot switch to another user');
SELECT throws_ok(format('SELECT trovella.with_user(%L)', :U2), '25000', NULL,
	'with_user() cannot switch to another user');
SELECT lives_ok('RESET ALL', 'RESET ALL runs');
RESET ROLE;                                  -- (RESET ALL also reset trovella.residue_check)
SET trovella.residue_check = off;
SET LOCAL ROLE regress_spoof_app;
SELECT throws_ok('DISCARD ALL', '25001', NULL, 'DISCARD ALL cannot run inside the transaction');
SELECT throws_ok(format('CREATE FUNCTION pg_temp.f() RETURNS int LANGUAGE sql SET trovella.tenant_id = %L AS $f$ SELECT 1 $f$', :B),
	'42501', NULL, 'a function cannot carry SET trovella.tenant_id');
SELECT results_eq('SELECT tenant_id, user_id FROM trovella.current_context()',
	format('VALUES (%L::uuid, %L::uuid)', :A, :U1),
	'after every attempt the context is still tenant A, user U1');
-- RESET is the one thing the SET grant allows, and it can only remove.
SELECT lives_ok('RESET trovella.tenant_id',
	'RESET by a role granted SET on the parameter runs');
SELECT throws_ok('SELECT trovella.current_tenant()', '42501', NULL,
	'after that RESET, reads fail closed');
SELECT throws_ok(format('SELECT trovella.with_tenant(%L)', :B), '25000', NULL,
	'after that RESET, another tenant is still refused');
COMMIT;

-- 2. Savepoint tricks.
BEGIN;
SET LOCAL ROLE regress_spoof_app;
SAVEPOINT before_context;
SELECT trovella.with_tenant(:A, :U1);
ROLLBACK TO SAVEPOINT before_context;
SELECT throws_ok('SELECT trovella.current_tenant()', '42501', NULL,
	'after ROLLBACK TO a savepoint taken before with_tenant(), reads fail closed');
SELECT throws_ok(format('SELECT trovella.with_tenant(%L)', :B), '25000', NULL,
	'after ROLLBACK TO SAVEPOINT another tenant is still refused');
SELECT throws_ok(format('SELECT trovella.with_user(%L)', :U2), '25000', NULL,
	'after ROLLBACK TO SAVEPOINT another user is still refused');
SELECT lives_ok(format('SELECT trovella.with_tenant(%L, %L)', :A, :U1),
	'after ROLLBACK TO SAVEPOINT the same tenant and user may be restored');
SELECT is(trovella.current_tenant(), :A::uuid, 'the restored tenant is A');
COMMIT;

-- 3. The next transaction on the same connection starts with none.
SELECT results_eq('SELECT tenant_id, user_id FROM trovella.current_context()',
	'VALUES (NULL::uuid, NULL::uuid)', 'a new transaction starts with no context');
SELECT throws_ok('SELECT trovella.current_tenant()', '42501', 'trovella: no tenant context',
	'current_tenant() without a context fails closed with 42501');
SELECT throws_ok('SELECT trovella.current_user_id()', '42501', 'trovella: no user context',
	'current_user_id() without a context fails closed with 42501');

-- 4. A superuser, inside tenant A's transaction, gets no further.
BEGIN;
SELECT trovella.with_tenant(:A, :U1);
SELECT throws_ok(format('SET trovella.tenant_id = %L', :B), '42501', NULL,
	'a superuser cannot SET the tenant');
SELECT throws_ok(format('SET LOCAL trovella.tenant_id = %L', :B), '42501', NULL,
	'a superuser cannot SET LOCAL the tenant');
SELECT throws_ok(format('SELECT set_config(%L, %L, true)', 'trovella.tenant_id', :B), '42501', NULL,
	'a superuser cannot set_config() the tenant');
SELECT throws_ok(format('SELECT set_config(%L, %L, false)', 'trovella.user_id', :U2), '42501', NULL,
	'a superuser cannot set_config() the user');
SELECT throws_ok(format('ALTER ROLE regress_spoof_app SET trovella.tenant_id = %L', :B), '42501', NULL,
	'ALTER ROLE ... SET trovella.tenant_id is refused');
SELECT throws_ok(format('ALTER DATABASE %I SET trovella.tenant_id = %L', current_database(), :B), '42501', NULL,
	'ALTER DATABASE ... SET trovella.tenant_id is refused');
SELECT throws_ok(format('SELECT trovella.with_tenant(%L)', :B), '25000', NULL,
	'a superuser cannot switch tenants with with_tenant() either');
SELECT is(trovella.current_tenant(), :A::uuid, 'the superuser''s transaction is still tenant A');
-- Clearing is allowed (it fails closed), switching is not.
SELECT lives_ok('RESET trovella.tenant_id', 'a superuser may RESET the tenant, which only removes it');
SELECT throws_ok('SELECT trovella.current_tenant()', '42501', NULL, 'after RESET, reads fail closed');
SELECT throws_ok(format('SELECT trovella.with_tenant(%L)', :B), '25000', NULL,
	'after RESET another tenant is still refused');
COMMIT;

-- 5. Without the grant, with_tenant() is not reachable.
CREATE ROLE regress_spoof_nobody;
BEGIN;
SET LOCAL ROLE regress_spoof_nobody;
SELECT throws_ok(format('SELECT trovella.with_tenant(%L)', :A), '42501', NULL,
	'a role without the grant cannot call with_tenant()');
SELECT throws_ok(format('SELECT trovella.with_user(%L)', :U1), '42501', NULL,
	'a role without the grant cannot call with_user()');
SELECT lives_ok('SELECT trovella.current_context()', 'but every role may read the context');
COMMIT;

SELECT ok(NOT EXISTS (SELECT 1 FROM pg_db_role_setting WHERE array_to_string(setconfig, ',') LIKE '%trovella%'),
	'no role or database setting for trovella was stored');

SELECT * FROM finish();

DROP FUNCTION public.spoof_set_config(text, text);
REVOKE SET ON PARAMETER trovella.tenant_id FROM regress_spoof_app;
REVOKE ALL ON FUNCTION trovella.with_tenant(uuid, uuid), trovella.with_user(uuid) FROM regress_spoof_app;
DROP ROLE regress_spoof_app, regress_spoof_nobody;
