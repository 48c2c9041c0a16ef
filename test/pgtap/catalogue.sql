-- The extension's catalogue: volatility, strictness, parallel safety,
-- security and privileges of every function are part of the contract.
BEGIN;
SELECT plan(56);

SELECT has_schema('trovella', 'schema trovella exists');

-- functions that return at most one row are planned so (the default of 1000
-- makes the planner JIT-compile a join over them)
SELECT is(
	(SELECT array_agg(p.oid::regprocedure::text || ' rows ' || p.prorows ORDER BY 1)
	   FROM pg_proc p
	  WHERE p.pronamespace = 'trovella'::regnamespace AND p.proretset
	    AND p.proname IN ('pat_create', 'pat_verify', 'pat_verify_with_tenant', 'authenticate')),
	ARRAY['trovella.authenticate(text) rows 1',
	      'trovella.pat_create(text,timestamp with time zone,text[]) rows 1',
	      'trovella.pat_create(text,timestamp with time zone,text[],uuid) rows 1',
	      'trovella.pat_verify(text) rows 1',
	      'trovella.pat_verify_with_tenant(text) rows 1'],
	'the token functions that return at most one row are planned as returning one');
SELECT schema_privs_are('trovella', 'public', ARRAY['USAGE'],
	'every role may use schema trovella, so policies can call current_tenant()');

-- ids
SELECT volatility_is('trovella', 'ulid_uuid', ARRAY[]::text[], 'volatile', 'ulid_uuid() is volatile');
SELECT volatility_is('trovella', 'ulid_uuid', ARRAY['timestamp with time zone'], 'volatile', 'ulid_uuid(timestamptz) is volatile');
SELECT is_strict('trovella', 'ulid_uuid', ARRAY['timestamp with time zone'], 'ulid_uuid(timestamptz) is strict');
SELECT volatility_is('trovella', 'ulid_to_uuid', ARRAY['text'], 'immutable', 'ulid_to_uuid is immutable');
SELECT volatility_is('trovella', 'uuid_to_ulid', ARRAY['uuid'], 'immutable', 'uuid_to_ulid is immutable');
SELECT volatility_is('trovella', 'ulid_time', ARRAY['uuid'], 'immutable', 'ulid_time is immutable');
SELECT volatility_is('trovella', 'ulid_min', ARRAY['timestamp with time zone'], 'immutable', 'ulid_min is immutable');
SELECT volatility_is('trovella', 'ulid_max', ARRAY['timestamp with time zone'], 'immutable', 'ulid_max is immutable');
SELECT volatility_is('trovella', 'rich_id', ARRAY['text', 'uuid'], 'immutable', 'rich_id is immutable');
SELECT volatility_is('trovella', 'rich_id_to_uuid', ARRAY['text', 'text'], 'immutable', 'rich_id_to_uuid is immutable');
SELECT is_strict('trovella', 'ulid_to_uuid', ARRAY['text'], 'ulid_to_uuid is strict');
SELECT is_strict('trovella', 'uuid_to_ulid', ARRAY['uuid'], 'uuid_to_ulid is strict');
SELECT is_strict('trovella', 'ulid_time', ARRAY['uuid'], 'ulid_time is strict');
SELECT is_strict('trovella', 'ulid_min', ARRAY['timestamp with time zone'], 'ulid_min is strict');
SELECT is_strict('trovella', 'ulid_max', ARRAY['timestamp with time zone'], 'ulid_max is strict');
SELECT is_strict('trovella', 'rich_id', ARRAY['text', 'uuid'], 'rich_id is strict');
SELECT is_strict('trovella', 'rich_id_to_uuid', ARRAY['text', 'text'], 'rich_id_to_uuid is strict');

SELECT is(
	(SELECT array_agg(p.proname::text || ':' || p.proparallel::text ORDER BY 1)
	 FROM pg_proc p
	 WHERE p.pronamespace = 'trovella'::regnamespace
	   AND p.proname IN ('ulid_uuid', 'ulid_to_uuid', 'uuid_to_ulid', 'ulid_time', 'ulid_min',
	                     'ulid_max', 'rich_id', 'rich_id_to_uuid', 'current_tenant',
	                     'current_user_id', 'current_context')),
	ARRAY['current_context:s', 'current_tenant:s', 'current_user_id:s', 'rich_id:s',
	      'rich_id_to_uuid:s', 'ulid_max:s', 'ulid_min:s', 'ulid_time:s', 'ulid_to_uuid:s',
	      'ulid_uuid:s', 'ulid_uuid:s', 'uuid_to_ulid:s'],
	'id functions and context readers are parallel safe');

-- context
SELECT volatility_is('trovella', 'with_tenant', ARRAY['uuid', 'uuid'], 'volatile', 'with_tenant is volatile');
SELECT volatility_is('trovella', 'with_user', ARRAY['uuid'], 'volatile', 'with_user is volatile');
SELECT isnt_strict('trovella', 'with_tenant', ARRAY['uuid', 'uuid'], 'with_tenant is not strict: a NULL tenant is an error, not a silent no-op');
SELECT isnt_strict('trovella', 'with_user', ARRAY['uuid'], 'with_user is not strict: a NULL user is an error');
SELECT is(
	(SELECT array_agg(proname::text || ':' || proparallel::text ORDER BY 1) FROM pg_proc
	 WHERE pronamespace = 'trovella'::regnamespace AND proname IN ('with_tenant', 'with_user')),
	ARRAY['with_tenant:u', 'with_user:u'], 'the setters are parallel unsafe');
SELECT volatility_is('trovella', 'current_tenant', ARRAY[]::text[], 'stable', 'current_tenant is stable');
SELECT volatility_is('trovella', 'current_user_id', ARRAY[]::text[], 'stable', 'current_user_id is stable');
SELECT volatility_is('trovella', 'current_context', ARRAY[]::text[], 'stable', 'current_context is stable');
SELECT isnt_definer('trovella', 'with_tenant', ARRAY['uuid', 'uuid'], 'with_tenant runs as its caller');
SELECT isnt_definer('trovella', 'current_tenant', ARRAY[]::text[], 'current_tenant runs as its caller');

SELECT function_privs_are('trovella', 'with_tenant', ARRAY['uuid', 'uuid'], 'public', ARRAY[]::text[],
	'PUBLIC may not call with_tenant');
SELECT function_privs_are('trovella', 'with_user', ARRAY['uuid'], 'public', ARRAY[]::text[],
	'PUBLIC may not call with_user');
SELECT function_privs_are('trovella', 'current_tenant', ARRAY[]::text[], 'public', ARRAY['EXECUTE'],
	'PUBLIC may call current_tenant, as policies do');
SELECT function_privs_are('trovella', 'current_user_id', ARRAY[]::text[], 'public', ARRAY['EXECUTE'],
	'PUBLIC may call current_user_id');
SELECT function_privs_are('trovella', 'current_context', ARRAY[]::text[], 'public', ARRAY['EXECUTE'],
	'PUBLIC may call current_context');

-- settings (calling a function loads the library, as in any session)
SELECT is((SELECT row(tenant_id, user_id)::text FROM trovella.current_context()), '(,)',
	'no tenant or user context outside a transaction');
SELECT is((SELECT context FROM pg_settings WHERE name = 'trovella.tenant_id'), 'superuser',
	'trovella.tenant_id is PGC_SUSET');
SELECT is((SELECT context FROM pg_settings WHERE name = 'trovella.user_id'), 'superuser',
	'trovella.user_id is PGC_SUSET');

-- personal access tokens
-- the per-request functions take the owner's rights in C, around their
-- table access only (see pat_sql.c); the others are SECURITY DEFINER
SELECT isnt_definer('trovella', 'pat_create', ARRAY['text', 'timestamp with time zone', 'text[]'], 'pat_create runs as its caller and takes owner rights in C');
SELECT isnt_definer('trovella', 'pat_verify', ARRAY['text'], 'pat_verify runs as its caller and takes owner rights in C');
SELECT isnt_definer('trovella', 'authenticate', ARRAY['text'], 'authenticate runs as its caller and takes owner rights in C');
SELECT is_definer('trovella', 'pat_list', ARRAY[]::text[], 'pat_list is SECURITY DEFINER');
SELECT is_definer('trovella', 'pat_revoke', ARRAY['uuid'], 'pat_revoke is SECURITY DEFINER');
SELECT isnt_definer('trovella', 'pat_is_well_formed', ARRAY['text'], 'pat_is_well_formed runs as its caller');
SELECT volatility_is('trovella', 'pat_is_well_formed', ARRAY['text'], 'immutable', 'pat_is_well_formed is immutable');
SELECT is_strict('trovella', 'pat_verify', ARRAY['text'], 'pat_verify is strict: NULL verifies nothing');
SELECT isnt_strict('trovella', 'authenticate', ARRAY['text'], 'authenticate is not strict: NULL is an invalid token, not no answer');
SELECT isnt_strict('trovella', 'pat_create', ARRAY['text', 'timestamp with time zone', 'text[]'], 'pat_create is not strict: NULL arguments are errors');
SELECT is(
	(SELECT array_agg(p.proname::text ORDER BY 1) FROM pg_proc p
	 WHERE p.pronamespace = 'trovella'::regnamespace
	   AND p.proname IN ('pat_create', 'pat_verify', 'authenticate', 'pat_list', 'pat_revoke')
	   AND has_function_privilege('public', p.oid, 'EXECUTE')),
	NULL, 'PUBLIC may call none of the token functions');
SELECT function_privs_are('trovella', 'pat_is_well_formed', ARRAY['text'], 'public', ARRAY['EXECUTE'],
	'PUBLIC may check a token''s format');
SELECT table_privs_are('trovella', 'personal_access_token', 'public', ARRAY[]::text[],
	'PUBLIC has no privilege on the token table');
SELECT col_is_unique('trovella', 'personal_access_token', 'token_hash', 'token digests are unique');
SELECT hasnt_column('trovella', 'personal_access_token', 'token', 'the token table has no column for the plaintext');

-- every function has a comment
SELECT is(
	(SELECT count(*)::int FROM pg_proc p
	 WHERE p.pronamespace = 'trovella'::regnamespace
	   AND obj_description(p.oid, 'pg_proc') IS NULL),
	0, 'every trovella function has a COMMENT');
SELECT is(
	(SELECT count(*)::int FROM pg_proc p
	 WHERE p.pronamespace = 'trovella'::regnamespace AND p.prosecdef
	   AND NOT coalesce(p.proconfig, '{}') @> ARRAY['search_path=pg_catalog, pg_temp']),
	0, 'every SECURITY DEFINER function pins search_path to pg_catalog, pg_temp');

SELECT * FROM finish();
ROLLBACK;
