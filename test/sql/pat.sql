-- Personal access tokens, as an application role granted only what the
-- README tells users to grant.
SET timezone = 'UTC';

CREATE FUNCTION pg_temp.error_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.error_of(text) TO PUBLIC;

CREATE ROLE regress_pat_app;
GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid), trovella.with_user(uuid),
	trovella.pat_create(text, timestamptz, text[]), trovella.pat_verify(text),
	trovella.authenticate(text), trovella.pat_list(), trovella.pat_revoke(uuid)
	TO regress_pat_app;
CREATE ROLE regress_pat_nobody;

\set U1 '''11111111-0000-0000-0000-000000000000'''
\set U2 '''22222222-0000-0000-0000-000000000000'''

-- The format: the checksum vector, and each rule broken once.
SELECT t AS token, trovella.pat_is_well_formed(t) AS well_formed FROM unnest(ARRAY[
	'trv_M7H4jxUDDWHP4kZ6A4dxlQYsQIWJuq11T4V4',   -- the vector: checksum 11T4V4
	'trv_M7H4jxUDDWHP4kZ6A4dxlQYsQIWJuq11T4V5',   -- checksum off by one
	'trv_M7H4jxUDDWHP4kZ6A4dxlQYsQIWJur11T4V4',   -- random part changed
	'trx_M7H4jxUDDWHP4kZ6A4dxlQYsQIWJuq11T4V4',   -- prefix
	'TRV_M7H4jxUDDWHP4kZ6A4dxlQYsQIWJuq11T4V4',   -- prefix case
	'trv_M7H4jxUDDWHP4kZ6A4dxlQYsQIWJu11T4V4',    -- 39 characters
	'trv_M7H4jxUDDWHP4kZ6A4dxlQYsQIWJuqq11T4V4',  -- 41 characters
	'trv_M7H4jxUDDWHP4kZ6A4dxl-YsQIWJuq11T4V4',   -- outside base62
	'trv_M7H4jxUDDWHP4kZ6A4dxlQYsQIWJuq11T4V ',
	'',
	'trv_'
]) AS t;
SELECT trovella.pat_is_well_formed(NULL) IS NULL AS strict;
SET ROLE regress_pat_nobody;
SELECT trovella.pat_is_well_formed('trv_M7H4jxUDDWHP4kZ6A4dxlQYsQIWJuq11T4V4') AS anyone_may_check;
RESET ROLE;

SET ROLE regress_pat_app;

-- No user context: 42501 from pat_create, pat_list, pat_revoke.
SELECT pg_temp.error_of($$SELECT * FROM trovella.pat_create('ci', now() + interval '1 day')$$);
SELECT pg_temp.error_of('SELECT * FROM trovella.pat_list()');
SELECT pg_temp.error_of($$SELECT trovella.pat_revoke('01563e3a-b5d3-d676-4c61-efb99302bd5b')$$);

-- Create: the plaintext comes back once, well formed, and is not stored.
BEGIN;
SELECT trovella.with_user(:U1);
SELECT token_id AS ci_id, token AS ci_token
FROM trovella.pat_create('ci', now() + interval '30 days', '{repo:read,repo:write}') \gset
SELECT trovella.pat_is_well_formed(:'ci_token') AS well_formed, length(:'ci_token') AS length,
       left(:'ci_token', 4) AS prefix, trovella.ulid_time(:'ci_id') <= clock_timestamp() AS id_is_a_ulid;
SELECT name, token_hint = left(:'ci_token', 8) AS hint_is_prefix, scopes, expires_at = now() + interval '30 days' AS expires,
       created_at = now() AS created, last_used_at, revoked_at
FROM trovella.pat_list();
COMMIT;
RESET ROLE;
SELECT count(*) AS rows_holding_plaintext
FROM trovella.personal_access_token t
WHERE t.token_hint <> left(:'ci_token', 8) OR position(convert_to(:'ci_token', 'UTF8') IN t.token_hash) > 0
   OR t.name = :'ci_token';
SELECT t.token_hash = sha256(convert_to(:'ci_token', 'UTF8')) AS stores_sha256, length(t.token_hash) AS digest_bytes
FROM trovella.personal_access_token t WHERE t.id = :'ci_id';
SET ROLE regress_pat_app;

-- The application role cannot read the table itself.
SELECT pg_temp.error_of('SELECT count(*) FROM trovella.personal_access_token');

-- Argument rules: NULL 22004, anything else out of range 22023.
BEGIN;
SELECT trovella.with_user(:U1);
SELECT stmt, pg_temp.error_of(stmt) AS error FROM unnest(ARRAY[
	$$SELECT * FROM trovella.pat_create('x', NULL)$$,
	$$SELECT * FROM trovella.pat_create(NULL, now() + interval '1 day')$$,
	$$SELECT * FROM trovella.pat_create('x', now() + interval '1 day', NULL)$$,
	$$SELECT * FROM trovella.pat_create('x', now())$$,
	$$SELECT * FROM trovella.pat_create('x', now() - interval '1 day')$$,
	$$SELECT * FROM trovella.pat_create('x', 'infinity')$$,
	$$SELECT * FROM trovella.pat_create('x', now() + interval '366 days')$$,
	$$SELECT * FROM trovella.pat_create('', now() + interval '1 day')$$,
	$$SELECT * FROM trovella.pat_create(repeat('n', 101), now() + interval '1 day')$$,
	$$SELECT * FROM trovella.pat_create(E'ci\nadmin', now() + interval '1 day')$$,
	$$SELECT * FROM trovella.pat_create(E'bell\x07', now() + interval '1 day')$$,
	$$SELECT * FROM trovella.pat_create('del' || chr(127), now() + interval '1 day')$$,
	$$SELECT * FROM trovella.pat_create('nel' || chr(133), now() + interval '1 day')$$,
	$$SELECT * FROM trovella.pat_create('x', now() + interval '1 day', '{Repo}')$$,
	$$SELECT * FROM trovella.pat_create('x', now() + interval '1 day', '{""}')$$,
	$$SELECT * FROM trovella.pat_create('x', now() + interval '1 day', '{"repo read"}')$$,
	$$SELECT * FROM trovella.pat_create('x', now() + interval '1 day', ARRAY[repeat('s', 65)])$$,
	$$SELECT * FROM trovella.pat_create('x', now() + interval '1 day', '{repo,NULL}')$$,
	$$SELECT * FROM trovella.pat_create('x', now() + interval '1 day', '{{a},{b}}')$$,
	$$SELECT * FROM trovella.pat_create('x', now() + interval '1 day', (SELECT array_agg('s' || n) FROM generate_series(1, 33) n))$$
]) AS stmt;
-- the limits themselves are allowed
SELECT count(*) AS created_at_the_limits FROM (
	SELECT * FROM trovella.pat_create(repeat('é', 100), now() + interval '365 days',
		(SELECT array_agg('s' || n) FROM generate_series(1, 31) n) || ARRAY['a' || repeat('-', 63)])
	UNION ALL
	SELECT * FROM trovella.pat_create('n', now() + interval '1 second', '{a.b:c_d-e}')) s;
-- scopes with other bounds are stored from 1: scopes[1] is the first scope
SELECT token AS bounds_token FROM trovella.pat_create('bounds', now() + interval '1 day', '[5:6]={repo,admin}') \gset
SELECT scopes, array_lower(scopes, 1) AS lower_bound, scopes[1] AS first_scope
FROM trovella.pat_verify(:'bounds_token');
SELECT count(*) AS tokens_of_u1 FROM trovella.pat_list();
COMMIT;

-- Verify: one row for a valid token, none otherwise, whatever the reason.
SELECT token_id = :'ci_id' AS right_id, user_id = :U1 AS right_user, scopes, expires_at > now() AS live
FROM trovella.pat_verify(:'ci_token');
SELECT t, count(v.*) AS rows FROM unnest(ARRAY[
	'trv_M7H4jxUDDWHP4kZ6A4dxlQYsQIWJuq11T4V4',   -- well formed, unknown
	'trv_M7H4jxUDDWHP4kZ6A4dxlQYsQIWJuq11T4V5',   -- malformed
	'garbage'
]) AS t LEFT JOIN LATERAL trovella.pat_verify(t) v ON true GROUP BY t ORDER BY t;
SELECT count(*) AS null_token_rows FROM trovella.pat_verify(NULL);

-- last_used_at: written on use, at most once per interval, never read-only.
RESET ROLE;
SELECT last_used_at IS NOT NULL AS recorded_on_first_use FROM trovella.personal_access_token WHERE id = :'ci_id';
SELECT last_used_at AS first_use FROM trovella.personal_access_token WHERE id = :'ci_id' \gset
SET ROLE regress_pat_app;
SELECT count(*) AS verified_again FROM trovella.pat_verify(:'ci_token');
RESET ROLE;
SELECT last_used_at = :'first_use' AS unchanged_within_interval FROM trovella.personal_access_token WHERE id = :'ci_id';
SET trovella.pat_last_used_interval = 0;
SET ROLE regress_pat_app;
SELECT count(*) AS verified_with_zero_interval FROM trovella.pat_verify(:'ci_token');
RESET ROLE;
SELECT last_used_at > :'first_use' AS written_when_due FROM trovella.personal_access_token WHERE id = :'ci_id';
SET ROLE regress_pat_app;
BEGIN;
SELECT trovella.with_user(:U1);
SELECT token AS fresh_token FROM trovella.pat_create('fresh', now() + interval '1 day') \gset
COMMIT;
BEGIN READ ONLY;
SELECT count(*) AS verified_read_only FROM trovella.pat_verify(:'fresh_token');
COMMIT;
RESET ROLE;
SELECT last_used_at IS NULL AS not_written_read_only FROM trovella.personal_access_token WHERE token_hint = left(:'fresh_token', 8);
RESET trovella.pat_last_used_interval;
SET ROLE regress_pat_app;

-- authenticate: the token's user becomes the context; one error for all.
BEGIN;
SELECT user_id = :U1 AS authenticated FROM trovella.authenticate(:'ci_token');
SELECT trovella.current_user_id() = :U1 AS context_is_token_user;
SELECT pg_temp.error_of(format('SELECT trovella.with_user(%L)', :U2)) AS sealed;
COMMIT;
SELECT * FROM trovella.current_context();
BEGIN;
SELECT stmt, pg_temp.error_of(stmt) AS error FROM unnest(ARRAY[
	$$SELECT * FROM trovella.authenticate('trv_M7H4jxUDDWHP4kZ6A4dxlQYsQIWJuq11T4V4')$$,
	$$SELECT * FROM trovella.authenticate('trv_M7H4jxUDDWHP4kZ6A4dxlQYsQIWJuq11T4V5')$$,
	$$SELECT * FROM trovella.authenticate('')$$,
	$$SELECT * FROM trovella.authenticate(NULL)$$
]) AS stmt;
SELECT trovella.with_user(:U2);
SELECT pg_temp.error_of(format('SELECT * FROM trovella.authenticate(%L)', :'ci_token')) AS other_user_sealed;
COMMIT;
\set VERBOSITY sqlstate
SELECT * FROM trovella.authenticate(:'ci_token');
\set VERBOSITY terse

-- pat_list: the current user's tokens only, newest first.
BEGIN;
SELECT trovella.with_user(:U2);
SELECT token_id AS u2_id, token AS u2_token FROM trovella.pat_create('u2 first', now() + interval '1 day') \gset
SELECT token_id AS u2_second_id FROM trovella.pat_create('u2 second', now() + interval '1 day') \gset
SELECT name FROM trovella.pat_list();
-- pat_revoke: not theirs, unknown: false
SELECT trovella.pat_revoke(:'ci_id') AS revoke_other_users, trovella.pat_revoke(trovella.ulid_uuid()) AS revoke_unknown;
COMMIT;
BEGIN;
SELECT trovella.with_user(:U1);
SELECT name FROM trovella.pat_list();
SELECT trovella.pat_revoke(:'ci_id') AS revoked, trovella.pat_revoke(:'ci_id') AS revoked_again;
-- a revoked token still verifies until this transaction commits ...
COMMIT;
-- ... and not in the very next one
SELECT count(*) AS revoked_token_rows FROM trovella.pat_verify(:'ci_token');
BEGIN;
SELECT pg_temp.error_of(format('SELECT * FROM trovella.authenticate(%L)', :'ci_token')) AS revoked_authenticate;
COMMIT;
BEGIN;
SELECT trovella.with_user(:U1);
SELECT name, revoked_at IS NOT NULL AS revoked FROM trovella.pat_list() WHERE token_id = :'ci_id';
COMMIT;

-- An expired token stops verifying.
RESET ROLE;
UPDATE trovella.personal_access_token SET expires_at = now() - interval '1 second' WHERE id = :'u2_id';
SET ROLE regress_pat_app;
BEGIN;
SELECT trovella.with_user(:U2);
SELECT name, expires_at < now() AS expired FROM trovella.pat_list() ORDER BY name;
COMMIT;
SELECT count(*) AS expired_token_rows FROM trovella.pat_verify(:'u2_token');
BEGIN;
SELECT pg_temp.error_of(format('SELECT * FROM trovella.authenticate(%L)', :'u2_token')) AS expired_authenticate;
COMMIT;

-- Expiry is judged at the statement's time, not at the transaction's start:
-- a token that expires during a transaction stops working in it.
BEGIN;
SELECT trovella.with_user(:U1);
SELECT token AS short_token FROM trovella.pat_create('short', statement_timestamp() + interval '2 seconds') \gset
COMMIT;
BEGIN;
SELECT trovella.with_user(:U1);
SELECT count(*) AS rows_before_expiry FROM trovella.pat_verify(:'short_token');
SELECT pg_sleep(2.2);
SELECT count(*) AS rows_after_expiry_same_transaction FROM trovella.pat_verify(:'short_token');
SELECT pg_temp.error_of(format('SELECT * FROM trovella.authenticate(%L)', :'short_token')) AS authenticate_after_expiry;
SELECT pg_temp.error_of($$SELECT * FROM trovella.pat_create('late', now() + interval '2 seconds')$$) AS expiry_before_statement;
COMMIT;

-- At most trovella.pat_max_per_user live tokens: 54000; revoked and
-- expired ones do not count.
RESET ROLE;
SET trovella.pat_max_per_user = 2;
SET ROLE regress_pat_app;
BEGIN;
SELECT trovella.with_user(:U2);
SELECT count(*) AS created FROM trovella.pat_create('u2 third', now() + interval '1 day');
SELECT pg_temp.error_of($$SELECT * FROM trovella.pat_create('u2 fourth', now() + interval '1 day')$$) AS over_cap;
SELECT trovella.pat_revoke(:'u2_second_id') AS revoked;
SELECT count(*) AS created_after_revoke FROM trovella.pat_create('u2 fourth', now() + interval '1 day');
COMMIT;
RESET ROLE;
RESET trovella.pat_max_per_user;
SELECT pg_temp.error_of('SET ROLE regress_pat_app; SET trovella.pat_max_per_user = 1000') AS app_cannot_raise_cap;
RESET ROLE;

-- Without the grants nothing but pat_is_well_formed is reachable.
SET ROLE regress_pat_nobody;
BEGIN;
SELECT stmt, pg_temp.error_of(stmt) AS error FROM unnest(ARRAY[
	$$SELECT * FROM trovella.pat_create('x', now() + interval '1 day')$$,
	$$SELECT * FROM trovella.pat_verify('trv_M7H4jxUDDWHP4kZ6A4dxlQYsQIWJuq11T4V4')$$,
	$$SELECT * FROM trovella.authenticate('trv_M7H4jxUDDWHP4kZ6A4dxlQYsQIWJuq11T4V4')$$,
	$$SELECT * FROM trovella.pat_list()$$,
	$$SELECT trovella.pat_revoke(trovella.ulid_uuid())$$,
	$$SELECT count(*) FROM trovella.personal_access_token$$
]) AS stmt;
COMMIT;
RESET ROLE;

-- One query presenting many tokens opens the index scan once and keeps it
-- to its end; a query that fails, a failed subtransaction, a cursor read in
-- a savepoint that is rolled back: each leaves nothing behind (a leaked
-- buffer pin or relation reference would show as a WARNING here).
SET ROLE regress_pat_app;
SELECT count(*) AS verified_in_one_query FROM generate_series(1, 50) n, LATERAL trovella.pat_verify(:'bounds_token');
-- (the filters read the function's output, so they run after each call)
SELECT pg_temp.error_of(format('SELECT count(*) FROM generate_series(1, 5) n, LATERAL trovella.pat_verify(%L) v WHERE 1.0 / (3 - n) * cardinality(v.scopes) > 0', :'bounds_token')) AS failing_query;
BEGIN;
SAVEPOINT s;
SELECT count(*) FROM generate_series(1, 5) n, LATERAL trovella.pat_verify(:'bounds_token') v WHERE 1.0 / (3 - n) * cardinality(v.scopes) > 0;
ROLLBACK TO SAVEPOINT s;
SELECT count(*) AS verified_after_rollback_to FROM generate_series(1, 5) n, LATERAL trovella.pat_verify(:'bounds_token');
DECLARE tokens CURSOR FOR SELECT v.scopes FROM generate_series(1, 3) n, LATERAL trovella.pat_verify(:'bounds_token') v;
FETCH 1 FROM tokens;
SAVEPOINT t;
FETCH 1 FROM tokens;
ROLLBACK TO SAVEPOINT t;
FETCH 1 FROM tokens;
CLOSE tokens;
DECLARE failing CURSOR FOR SELECT n FROM generate_series(1, 5) n, LATERAL trovella.pat_verify(:'bounds_token') v WHERE 1.0 / (3 - n) * cardinality(v.scopes) > 0;
FETCH 1 FROM failing;
SAVEPOINT u;
FETCH 1 FROM failing;
FETCH 1 FROM failing;
ROLLBACK TO SAVEPOINT u;
SELECT count(*) AS verified_after_failed_cursor FROM trovella.pat_verify(:'bounds_token');
COMMIT;
RESET ROLE;

-- pat_verify reads the token table's unique index directly and remembers
-- where it is: a rebuilt index, or the extension dropped and created again
-- in the same session, is found again.
SELECT count(*) AS verified_before FROM trovella.pat_verify(:'bounds_token');
REINDEX TABLE CONCURRENTLY trovella.personal_access_token;
SELECT count(*) AS verified_after_reindex FROM trovella.pat_verify(:'bounds_token');
DROP EXTENSION trovella CASCADE;
CREATE EXTENSION trovella;
GRANT EXECUTE ON FUNCTION trovella.with_user(uuid), trovella.pat_create(text, timestamptz, text[]),
	trovella.pat_verify(text) TO regress_pat_app;
SET ROLE regress_pat_app;
SELECT count(*) AS old_token_after_recreate FROM trovella.pat_verify(:'bounds_token');
BEGIN;
SELECT trovella.with_user(:U1);
SELECT token AS new_token FROM trovella.pat_create('again', now() + interval '1 day') \gset
COMMIT;
SELECT count(*) AS new_token_after_recreate FROM trovella.pat_verify(:'new_token');
RESET ROLE;

-- pg_dump carries the table's rows.
SELECT extconfig @> ARRAY['trovella.personal_access_token'::regclass::oid] AS dumped_with_rows
FROM pg_extension WHERE extname = 'trovella';

DELETE FROM trovella.personal_access_token;
REVOKE ALL ON FUNCTION trovella.with_tenant(uuid, uuid), trovella.with_user(uuid),
	trovella.pat_create(text, timestamptz, text[]), trovella.pat_verify(text),
	trovella.authenticate(text), trovella.pat_list(), trovella.pat_revoke(uuid)
	FROM regress_pat_app;
DROP ROLE regress_pat_app, regress_pat_nobody;
