-- The token functions cannot be steered by the caller's search_path: an
-- operator or function planted ahead of pg_catalog changes nothing, and the
-- caller never gains the owner's rights outside the table access.
BEGIN;
SELECT plan(8);

CREATE ROLE regress_hijack_app;
GRANT EXECUTE ON FUNCTION trovella.with_user(uuid), trovella.pat_create(text, timestamptz, text[]),
	trovella.pat_verify(text), trovella.authenticate(text), trovella.pat_list(), trovella.pat_revoke(uuid)
	TO regress_hijack_app;
CREATE SCHEMA evil AUTHORIZATION regress_hijack_app;

SET LOCAL ROLE regress_hijack_app;
-- an "=" on bytea and uuid that is always true, and a now() far in the past
CREATE FUNCTION evil.always(bytea, bytea) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE OPERATOR evil.= (LEFTARG = bytea, RIGHTARG = bytea, FUNCTION = evil.always);
CREATE FUNCTION evil.always_uuid(uuid, uuid) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE OPERATOR evil.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = evil.always_uuid);
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT '1970-01-01'::timestamptz $$;
SET LOCAL search_path = evil, pg_catalog, public;

SELECT ok('\x01'::bytea = '\x02'::bytea, 'the planted "=" is live for the caller: the attack is armed');
SELECT trovella.with_user('55555555-0000-0000-0000-000000000000');
SELECT lives_ok($$SELECT * FROM trovella.pat_create('mine', pg_catalog.now() + interval '1 day')$$,
	'pat_create works with a hostile search_path');
SELECT is((SELECT count(*)::int FROM trovella.pat_verify('trv_M7H4jxUDDWHP4kZ6A4dxlQYsQIWJuq11T4V4')), 0,
	'an unknown token verifies nothing although the caller''s "=" is always true');
SELECT is((SELECT count(*)::int FROM trovella.pat_list()), 1,
	'pat_list shows only the caller''s token despite the planted "="');
SELECT is(trovella.pat_revoke('01563e3a-b5d3-d676-4c61-efb99302bd5b'), false,
	'pat_revoke of an unknown id revokes nothing despite the planted "="');
SELECT throws_ok($$SELECT * FROM trovella.authenticate('trv_M7H4jxUDDWHP4kZ6A4dxlQYsQIWJuq11T4V4')$$,
	'28000', 'trovella: invalid token', 'authenticate refuses an unknown token with a hostile search_path');
SELECT is(current_user::text, 'regress_hijack_app', 'the caller is still itself after the calls');
SELECT throws_ok('SELECT count(*) FROM trovella.personal_access_token', '42501', NULL,
	'and still cannot read the token table');

RESET ROLE;
SELECT * FROM finish();
ROLLBACK;
