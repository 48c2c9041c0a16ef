-- Suspend and resume (issue 35, point 1): a suspended tenant is opened by
-- no new context, with_tenant or a token bound to it, until it is resumed.
-- As the operations role granted the two functions, the application role
-- and the tables' owner (who may do neither).
CREATE ROLE regress_susp_owner;
CREATE ROLE regress_susp_app;
CREATE ROLE regress_susp_ops;
GRANT CREATE ON SCHEMA public TO regress_susp_owner, regress_susp_app;
GRANT EXECUTE ON FUNCTION trovella.use_membership(regclass, name, name, name), trovella.stop_membership()
	TO regress_susp_owner;
GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid), trovella.with_user(uuid),
	trovella.pat_create(text, timestamptz, text[], uuid), trovella.authenticate(text)
	TO regress_susp_app;
GRANT EXECUTE ON FUNCTION trovella.suspend_tenant(uuid, text), trovella.resume_tenant(uuid)
	TO regress_susp_ops;
SET trovella.isolation_guard = off;

SET ROLE regress_susp_owner;
CREATE TABLE susp_notes (id int PRIMARY KEY, tenant_id uuid NOT NULL, body text);
CREATE INDEX ON susp_notes (tenant_id);
SELECT trovella.enable_tenant_isolation('susp_notes');
GRANT SELECT, INSERT ON susp_notes TO regress_susp_app;
CREATE TABLE susp_member (tenant_id uuid, user_id uuid, UNIQUE (tenant_id, user_id));
INSERT INTO susp_member VALUES
	('aaaaaaaa-0000-0000-0000-000000000035', '11111111-0000-0000-0000-000000000035'),
	('bbbbbbbb-0000-0000-0000-000000000035', '11111111-0000-0000-0000-000000000035');
SELECT trovella.use_membership('susp_member', 'tenant_id', 'user_id');
RESET ROLE;
INSERT INTO susp_notes VALUES (1, 'aaaaaaaa-0000-0000-0000-000000000035', 'a'),
	(2, 'bbbbbbbb-0000-0000-0000-000000000035', 'b');

-- The functions: granted to nobody, SECURITY DEFINER with a pinned search path.
SELECT p.oid::regprocedure, p.prosecdef, p.proconfig, p.provolatile,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_may
FROM pg_proc p
WHERE p.pronamespace = 'trovella'::regnamespace AND p.proname IN ('suspend_tenant', 'resume_tenant')
ORDER BY 1;

-- A token bound to tenant a, made before the suspension.
SET ROLE regress_susp_app;
BEGIN;
SELECT trovella.with_user('11111111-0000-0000-0000-000000000035');
SELECT token AS bound_token FROM trovella.pat_create('ci', now() + interval '1 day', '{}',
	'aaaaaaaa-0000-0000-0000-000000000035') \gset
COMMIT;

-- Bad input: a clear error with its SQLSTATE, and nothing changes.
SET ROLE regress_susp_ops;
\set VERBOSITY sqlstate
SELECT trovella.suspend_tenant(NULL, 'unpaid');                                    -- 22004
SELECT trovella.suspend_tenant('aaaaaaaa-0000-0000-0000-000000000035', NULL);       -- 22004
SELECT trovella.suspend_tenant('00000000-0000-0000-0000-000000000000', 'unpaid');   -- 22023
SELECT trovella.suspend_tenant('aaaaaaaa-0000-0000-0000-000000000035', ' ');        -- 22023
SELECT trovella.suspend_tenant('aaaaaaaa-0000-0000-0000-000000000035', repeat('x', 1001)); -- 22023: too long
SELECT trovella.suspend_tenant('aaaaaaaa-0000-0000-0000-000000000035', E'paid\nERROR:  forged'); -- 22023: two lines
SELECT trovella.suspend_tenant('aaaaaaaa-0000-0000-0000-000000000035', E'\x1b[2Jcleared'); -- 22023: an escape
SELECT trovella.resume_tenant(NULL);                                               -- 22004
SELECT trovella.resume_tenant('aaaaaaaa-0000-0000-0000-000000000035');              -- false: not suspended
SELECT * FROM trovella.suspended_tenant;                                           -- 42501: no right to read it
RESET ROLE;
SELECT count(*) FROM trovella.suspended_tenant;

-- Neither the application nor the owner may suspend, resume, or touch the table.
SET ROLE regress_susp_app;
SELECT trovella.suspend_tenant('bbbbbbbb-0000-0000-0000-000000000035', 'mine');     -- 42501
SELECT trovella.resume_tenant('aaaaaaaa-0000-0000-0000-000000000035');              -- 42501
INSERT INTO trovella.suspended_tenant (tenant_id, reason) VALUES ('bbbbbbbb-0000-0000-0000-000000000035', 'x'); -- 42501
DELETE FROM trovella.suspended_tenant;                                             -- 42501
SET ROLE regress_susp_owner;
SELECT trovella.resume_tenant('aaaaaaaa-0000-0000-0000-000000000035');              -- 42501
UPDATE trovella.suspended_tenant SET reason = 'x';                                 -- 42501
\set VERBOSITY default

-- Suspended: true the first time; again, the reason is replaced (false).
SET ROLE regress_susp_ops;
SELECT trovella.suspend_tenant('aaaaaaaa-0000-0000-0000-000000000035', 'unpaid invoice');
SELECT trovella.suspend_tenant('aaaaaaaa-0000-0000-0000-000000000035', 'Unpaid invoices since November.');
RESET ROLE;
SELECT tenant_id, reason, suspended_by FROM trovella.suspended_tenant;

-- Every new context for it is refused: 57000, the reason as DETAIL.
SET ROLE regress_susp_app;
BEGIN;
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000035');
ROLLBACK;
BEGIN;
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000035', '11111111-0000-0000-0000-000000000035');
ROLLBACK;
BEGIN;
SELECT trovella.with_user('11111111-0000-0000-0000-000000000035');
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000035');
ROLLBACK;
BEGIN;
SELECT user_id IS NOT NULL FROM trovella.authenticate(:'bound_token');
ROLLBACK;
-- in REPEATABLE READ too, and after a savepoint
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT 1;
SAVEPOINT s;
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000035');
ROLLBACK TO SAVEPOINT s;
SELECT trovella.current_context();
ROLLBACK;
-- another tenant is not
BEGIN;
SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000035', '11111111-0000-0000-0000-000000000035');
SELECT body FROM susp_notes;
COMMIT;

-- No evasion: a look-alike table and function on the search path, the
-- context's settings (SET ROLE needs a login as the application:
-- test/tap/suspension.t).
CREATE TABLE public.suspended_tenant (tenant_id uuid PRIMARY KEY, reason text);
CREATE FUNCTION public.resume_tenant(uuid) RETURNS boolean LANGUAGE sql AS 'SELECT true';
SET search_path = public, trovella;
SELECT resume_tenant('aaaaaaaa-0000-0000-0000-000000000035');
\set VERBOSITY sqlstate
BEGIN;
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000035');               -- 57000
ROLLBACK;
BEGIN;
SELECT set_config('trovella.tenant_id', 'aaaaaaaa-0000-0000-0000-000000000035', true);  -- 42501
ROLLBACK;
\set VERBOSITY default
RESET search_path;
DROP FUNCTION public.resume_tenant(uuid);
DROP TABLE public.suspended_tenant;

-- A transaction that had the tenant before the suspension finishes: it is
-- not checked again (with_tenant again, with_user after it), and commits.
BEGIN;
SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000035');
RESET ROLE;
SELECT trovella.suspend_tenant('bbbbbbbb-0000-0000-0000-000000000035', 'abuse report #12');
SET ROLE regress_susp_app;
SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000035');
SELECT trovella.with_user('11111111-0000-0000-0000-000000000035');
INSERT INTO susp_notes VALUES (3, 'bbbbbbbb-0000-0000-0000-000000000035', 'b2');
COMMIT;
\set VERBOSITY sqlstate
BEGIN;
SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000035');               -- 57000: the next one is refused
ROLLBACK;
\set VERBOSITY default

-- trovella.health says how many are suspended.
RESET ROLE;
SELECT check_name, status, regexp_replace(detail, '\d{4}-\d\d-\d\d', 'DATE') AS detail
FROM trovella.health WHERE check_name = 'suspended_tenants';

-- Resumed: true, then false (it was no longer suspended); it opens again.
SET ROLE regress_susp_ops;
SELECT trovella.resume_tenant('aaaaaaaa-0000-0000-0000-000000000035');
SELECT trovella.resume_tenant('aaaaaaaa-0000-0000-0000-000000000035');
SELECT trovella.resume_tenant('bbbbbbbb-0000-0000-0000-000000000035');
SET ROLE regress_susp_app;
BEGIN;
SELECT user_id IS NOT NULL FROM trovella.authenticate(:'bound_token');
SELECT body FROM susp_notes;
COMMIT;
RESET ROLE;
SELECT check_name, status, detail FROM trovella.health WHERE check_name = 'suspended_tenants';

-- A superuser's direct INSERT is not seen by a backend that has read the
-- list already (README); trovella.suspension_changed() makes every backend
-- read it again.
BEGIN;
SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000035');
ROLLBACK;
INSERT INTO trovella.suspended_tenant (tenant_id, reason) VALUES ('cccccccc-0000-0000-0000-000000000035', 'direct');
SELECT trovella.suspension_changed();
\set VERBOSITY sqlstate
BEGIN;
SELECT trovella.with_tenant('cccccccc-0000-0000-0000-000000000035');               -- 57000
ROLLBACK;
\set VERBOSITY default
DELETE FROM trovella.suspended_tenant WHERE tenant_id = 'cccccccc-0000-0000-0000-000000000035';

-- Clean up.
SET ROLE regress_susp_owner;
SELECT trovella.stop_membership();
RESET ROLE;
DELETE FROM trovella.personal_access_token WHERE name = 'ci' AND user_id = '11111111-0000-0000-0000-000000000035';
DROP TABLE susp_notes, susp_member;
REVOKE ALL ON FUNCTION trovella.use_membership(regclass, name, name, name), trovella.stop_membership()
	FROM regress_susp_owner;
REVOKE ALL ON FUNCTION trovella.with_tenant(uuid, uuid), trovella.with_user(uuid),
	trovella.pat_create(text, timestamptz, text[], uuid), trovella.authenticate(text)
	FROM regress_susp_app;
REVOKE ALL ON FUNCTION trovella.suspend_tenant(uuid, text), trovella.resume_tenant(uuid)
	FROM regress_susp_ops;
REVOKE CREATE ON SCHEMA public FROM regress_susp_owner, regress_susp_app;
DROP ROLE regress_susp_owner, regress_susp_app, regress_susp_ops;
RESET trovella.isolation_guard;
