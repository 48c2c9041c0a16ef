-- Membership-checked tenant context (0.3.0): once the application's member
-- table is registered, a user opens only the tenants they belong to, on
-- every path that pairs a user with a tenant.  As unprivileged roles.
CREATE ROLE regress_member_owner;
CREATE ROLE regress_member_other;
CREATE ROLE regress_member_app;
GRANT CREATE ON SCHEMA public TO regress_member_owner, regress_member_other, regress_member_app;
GRANT EXECUTE ON FUNCTION trovella.use_membership(regclass, name, name, name), trovella.stop_membership()
	TO regress_member_owner, regress_member_other;
GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid), trovella.with_user(uuid),
	trovella.pat_create(text, timestamptz, text[], uuid), trovella.authenticate(text),
	trovella.pat_verify_with_tenant(text) TO regress_member_app;
SET trovella.isolation_guard = off;

-- Better Auth's organization plugin keeps members like this (uuid ids).
SET ROLE regress_member_owner;
CREATE TABLE member (
	id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(),
	organization_id uuid NOT NULL,
	user_id uuid NOT NULL,
	role text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (organization_id, user_id)
);
GRANT SELECT ON member TO regress_member_other;
INSERT INTO member (organization_id, user_id, role) VALUES
	('aaaaaaaa-0000-0000-0000-000000000000', '11111111-0000-0000-0000-000000000000', 'admin'),
	('aaaaaaaa-0000-0000-0000-000000000000', '22222222-0000-0000-0000-000000000000', 'member'),
	('bbbbbbbb-0000-0000-0000-000000000000', '22222222-0000-0000-0000-000000000000', 'owner');

-- Registering: what cannot serve is refused, with its SQLSTATE.
CREATE TABLE no_unique (organization_id uuid, user_id uuid);
CREATE TABLE half_unique (organization_id uuid, user_id uuid UNIQUE);
CREATE TABLE partial_unique (organization_id uuid, user_id uuid);
CREATE UNIQUE INDEX ON partial_unique (organization_id, user_id) WHERE user_id IS NOT NULL;
CREATE TABLE text_ids (organization_id text, user_id text, UNIQUE (organization_id, user_id));
CREATE TABLE int_role (organization_id uuid, user_id uuid, role int, UNIQUE (organization_id, user_id));
CREATE VIEW member_view AS SELECT * FROM member;
CREATE TABLE parted_member (organization_id uuid, user_id uuid, UNIQUE (organization_id, user_id))
	PARTITION BY HASH (organization_id);
\set VERBOSITY sqlstate
SELECT trovella.use_membership(NULL, 'organization_id', 'user_id');                 -- 22004
SELECT trovella.use_membership('member', 'org_id', 'user_id');                      -- 42703
SELECT trovella.use_membership('text_ids', 'organization_id', 'user_id');           -- 42804
SELECT trovella.use_membership('int_role', 'organization_id', 'user_id', 'role');   -- 42804
SELECT trovella.use_membership('no_unique', 'organization_id', 'user_id');          -- 55000
SELECT trovella.use_membership('half_unique', 'organization_id', 'user_id');        -- 55000
SELECT trovella.use_membership('partial_unique', 'organization_id', 'user_id');     -- 55000
SELECT trovella.use_membership('member', 'user_id', 'user_id');                     -- 55000
SELECT trovella.use_membership('member_view', 'organization_id', 'user_id');        -- 42809
SELECT trovella.use_membership('parted_member', 'organization_id', 'user_id');      -- 42809
CREATE TEMP TABLE temp_member (organization_id uuid, user_id uuid, UNIQUE (organization_id, user_id));
SELECT trovella.use_membership('temp_member', 'organization_id', 'user_id');        -- 55000
DROP TABLE temp_member;
SET ROLE regress_member_other;
SELECT trovella.use_membership('member', 'organization_id', 'user_id');             -- 42501: not the owner
SET ROLE regress_member_app;
SELECT trovella.use_membership('member', 'organization_id', 'user_id');             -- 42501: no grant
SET ROLE regress_member_owner;
\set VERBOSITY default
SELECT trovella.use_membership('member_view', 'organization_id', 'user_id');        -- the detail fits a view
SELECT trovella.use_membership('no_unique', 'organization_id', 'user_id');
SELECT count(*) AS registrations FROM trovella.membership;
SELECT trovella.use_membership('member', 'organization_id', 'user_id', 'role');
SELECT tbl, tenant_column, user_column, role_column FROM trovella.membership;
-- nobody writes the registration but these functions
\set VERBOSITY sqlstate
DELETE FROM trovella.membership;
\set VERBOSITY default

-- Members open their tenants; anyone else is refused (42501) and gets no
-- context, on every path.
SET ROLE regress_member_app;
BEGIN;
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000', '11111111-0000-0000-0000-000000000000');
SELECT trovella.current_member_role() AS role_of_1_in_a;
COMMIT;
BEGIN;
SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000000', '22222222-0000-0000-0000-000000000000');
SELECT trovella.current_member_role() AS role_of_2_in_b;
COMMIT;
\set VERBOSITY sqlstate
BEGIN;                                   -- with_tenant with a user
SAVEPOINT s;
SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000000', '11111111-0000-0000-0000-000000000000');
ROLLBACK TO SAVEPOINT s;
SELECT tenant_id IS NULL AND user_id IS NULL AS no_context FROM trovella.current_context();
ROLLBACK;
BEGIN;                                   -- with_user first
SELECT trovella.with_user('11111111-0000-0000-0000-000000000000');
SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000000');
ROLLBACK;
BEGIN;                                   -- with_tenant first, then with_user
SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000000');
SELECT trovella.with_user('11111111-0000-0000-0000-000000000000');
ROLLBACK;
\set VERBOSITY default
BEGIN;                                   -- the full message names no tenant and no user
SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000000', '11111111-0000-0000-0000-000000000000');
ROLLBACK;
-- a tenant without any user (a job working for the tenant) is not checked
BEGIN;
SELECT trovella.with_tenant('cccccccc-0000-0000-0000-000000000000');
\set VERBOSITY sqlstate
SELECT trovella.current_member_role();   -- 42501: no user
\set VERBOSITY default
ROLLBACK;
\set VERBOSITY sqlstate
SELECT trovella.current_member_role();   -- 42501: no context
\set VERBOSITY default

-- The member table carries a marker, which travels with it in a dump of
-- the application's schema alone; without the registration (left behind by
-- pg_dump --schema=public), a marked table makes every context that pairs a
-- user with a tenant fail closed (55000), not open any tenant to any user
-- (test/tap/backup.t restores such a dump).
RESET ROLE;
SELECT conname, contype, convalidated, pg_get_constraintdef(oid) AS definition
FROM pg_constraint WHERE conrelid = 'member'::regclass AND conname = 'trovella_membership';
-- stop_membership takes the marker off, use_membership puts it back
SET ROLE regress_member_owner;
SELECT trovella.stop_membership();
SELECT count(*) AS markers FROM pg_constraint WHERE conname = 'trovella_membership';
BEGIN;
SET LOCAL ROLE regress_member_app;
SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000000', '11111111-0000-0000-0000-000000000000');
SELECT trovella.current_tenant() AS unchecked_tenant;
ROLLBACK;
SELECT trovella.use_membership('member', 'organization_id', 'user_id', 'role');
SELECT conrelid::regclass AS marked FROM pg_constraint WHERE conname = 'trovella_membership';

-- Objects planted on the search path take no part in the lookup.
RESET ROLE;
CREATE SCHEMA evil AUTHORIZATION regress_member_app;
SET ROLE regress_member_app;
CREATE FUNCTION evil.always(uuid, uuid) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE OPERATOR evil.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = evil.always);
CREATE TABLE evil.member (organization_id uuid, user_id uuid, role text);
INSERT INTO evil.member VALUES ('bbbbbbbb-0000-0000-0000-000000000000', '11111111-0000-0000-0000-000000000000', 'admin');
BEGIN;
SET LOCAL search_path = evil, pg_catalog, public;
\set VERBOSITY sqlstate
SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000000', '11111111-0000-0000-0000-000000000000');
\set VERBOSITY default
ROLLBACK;
DROP SCHEMA evil CASCADE;

-- Role-based policies: only the tenant's admins change its settings.
RESET ROLE;
GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO regress_member_owner;
SET ROLE regress_member_owner;
CREATE TABLE org_settings (tenant_id uuid NOT NULL, name text NOT NULL, value text);
CREATE INDEX ON org_settings (tenant_id);
SELECT trovella.enable_tenant_isolation('org_settings');
CREATE POLICY admins_write ON org_settings AS RESTRICTIVE FOR UPDATE
	USING ((SELECT trovella.current_member_role()) = 'admin');
GRANT SELECT, INSERT, UPDATE ON org_settings TO regress_member_app;
SET ROLE regress_member_app;
BEGIN;
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000', '11111111-0000-0000-0000-000000000000');
INSERT INTO org_settings (name, value) VALUES ('plan', 'free');
UPDATE org_settings SET value = 'pro' WHERE name = 'plan';          -- an admin: 1 row
COMMIT;
BEGIN;
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000', '22222222-0000-0000-0000-000000000000');
UPDATE org_settings SET value = 'enterprise' WHERE name = 'plan';   -- a member: 0 rows
SELECT name, value FROM org_settings;                                -- but reads
COMMIT;

-- Tokens bound to a tenant.
BEGIN;
SELECT trovella.with_user('22222222-0000-0000-0000-000000000000');
SELECT token AS bound_token FROM trovella.pat_create('bound', now() + interval '1 day', '{}', 'bbbbbbbb-0000-0000-0000-000000000000') \gset
\set VERBOSITY sqlstate
SAVEPOINT s;
SELECT token FROM trovella.pat_create('foreign', now() + interval '1 day', '{}', 'cccccccc-0000-0000-0000-000000000000');  -- 42501
ROLLBACK TO SAVEPOINT s;
SELECT token FROM trovella.pat_create('null', now() + interval '1 day', '{}', NULL);  -- 22004
\set VERBOSITY default
ROLLBACK;
BEGIN;
SELECT trovella.with_user('22222222-0000-0000-0000-000000000000');
SELECT token AS bound_token FROM trovella.pat_create('bound', now() + interval '1 day', '{}', 'bbbbbbbb-0000-0000-0000-000000000000') \gset
COMMIT;
SELECT user_id, tenant_id FROM trovella.pat_verify_with_tenant(:'bound_token');
BEGIN;
SELECT user_id FROM trovella.authenticate(:'bound_token');
SELECT tenant_id, user_id FROM trovella.current_context();          -- the bound tenant is set
SELECT trovella.current_member_role() AS role_through_token;
COMMIT;
-- the user leaves the tenant: the token no longer authenticates into it
RESET ROLE;
DELETE FROM member WHERE organization_id = 'bbbbbbbb-0000-0000-0000-000000000000';
SET ROLE regress_member_app;
\set VERBOSITY sqlstate
BEGIN;
SELECT user_id FROM trovella.authenticate(:'bound_token');
ROLLBACK;
\set VERBOSITY default

-- Without a role column, the role is NULL.
SET ROLE regress_member_owner;
SELECT trovella.use_membership('member', 'organization_id', 'user_id');
SET ROLE regress_member_app;
BEGIN;
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000', '11111111-0000-0000-0000-000000000000');
SELECT trovella.current_member_role() IS NULL AS role_is_null;
COMMIT;

-- Only the registered table's owner replaces or removes the registration.
SET ROLE regress_member_other;
CREATE TABLE other_member (organization_id uuid, user_id uuid, UNIQUE (organization_id, user_id));
\set VERBOSITY sqlstate
SELECT trovella.use_membership('other_member', 'organization_id', 'user_id');      -- 42501
SELECT trovella.stop_membership();                                                  -- 42501
\set VERBOSITY default
DROP TABLE other_member;
SET ROLE regress_member_owner;
SELECT trovella.stop_membership() AS stopped, trovella.stop_membership() AS stopped_again;
-- stopped: no checks, and no role to read
SET ROLE regress_member_app;
BEGIN;
SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000000', '11111111-0000-0000-0000-000000000000');
\set VERBOSITY sqlstate
SELECT trovella.current_member_role();   -- 55000
\set VERBOSITY default
ROLLBACK;
BEGIN;
SELECT trovella.with_user('11111111-0000-0000-0000-000000000000');
\set VERBOSITY sqlstate
SELECT token FROM trovella.pat_create('bound', now() + interval '1 day', '{}', 'aaaaaaaa-0000-0000-0000-000000000000');  -- 55000
\set VERBOSITY default
ROLLBACK;

RESET ROLE;
RESET trovella.isolation_guard;
DELETE FROM trovella.personal_access_token;
DROP TABLE member, no_unique, half_unique, partial_unique, text_ids, int_role, parted_member, org_settings CASCADE;
REVOKE ALL ON FUNCTION trovella.use_membership(regclass, name, name, name), trovella.stop_membership()
	FROM regress_member_owner, regress_member_other;
REVOKE ALL ON FUNCTION trovella.with_tenant(uuid, uuid), trovella.with_user(uuid),
	trovella.pat_create(text, timestamptz, text[], uuid), trovella.authenticate(text),
	trovella.pat_verify_with_tenant(text) FROM regress_member_app, regress_member_owner;
REVOKE ALL ON SCHEMA public FROM regress_member_owner, regress_member_other, regress_member_app;
DROP ROLE regress_member_owner, regress_member_other, regress_member_app;
