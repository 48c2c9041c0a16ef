-- trovella quickstart: what `make demo` runs, statement by statement.
-- Run it yourself with: psql -X -a -f examples/quickstart.sql
\set ON_ERROR_STOP 1
\pset pager off
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS demo CASCADE;
DROP ROLE IF EXISTS demo_app;
DROP EXTENSION IF EXISTS trovella CASCADE;
RESET client_min_messages;

CREATE EXTENSION trovella;

------------------------------------------------------------------------
-- 1. Ids: ULIDs stored in plain uuid columns, time-ordered.
------------------------------------------------------------------------
SELECT trovella.ulid_uuid() AS id FROM generate_series(1, 3);

-- The same id as the 26-character text the npm "ulid" package uses ...
SELECT trovella.uuid_to_ulid('01563e3a-b5d3-d676-4c61-efb99302bd5b') AS ulid,
       trovella.ulid_to_uuid('01ARZ3NDEKTSV4RRFFQ69G5FAV') AS uuid,
       trovella.ulid_time('01563e3a-b5d3-d676-4c61-efb99302bd5b') AS created;

-- ... and as a prefixed "rich id" for URLs and logs.
SELECT trovella.rich_id('invoice', '01563e3a-b5d3-d676-4c61-efb99302bd5b') AS rich_id,
       trovella.rich_id_to_uuid('invoice-01ARZ3NDEKTSV4RRFFQ69G5FAV', 'invoice') AS back;

-- Ids sort by creation time, so a time range is an index range scan.
CREATE SCHEMA demo;
CREATE TABLE demo.events (id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), kind text);
INSERT INTO demo.events (id, kind)
SELECT trovella.ulid_uuid(timestamptz '2026-01-01' + n * interval '1 minute'), 'tick'
FROM generate_series(0, 99999) n;
ANALYZE demo.events;
EXPLAIN (COSTS OFF)
SELECT count(*) FROM demo.events
WHERE id >= trovella.ulid_min('2026-01-02') AND id < trovella.ulid_min('2026-01-03');
SELECT count(*) AS events_on_jan_2 FROM demo.events
WHERE id >= trovella.ulid_min('2026-01-02') AND id < trovella.ulid_min('2026-01-03');

------------------------------------------------------------------------
-- 2. Tenant isolation, enforced by the database for every client.
------------------------------------------------------------------------
-- The application connects as an ordinary role (superusers bypass RLS).
CREATE ROLE demo_app;
GRANT USAGE ON SCHEMA demo TO demo_app;
GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid), trovella.with_user(uuid) TO demo_app;

-- A migration creates and isolates a tenant table in one transaction.
-- One call: RLS enabled and forced, the tenant policies, a tenant default.
BEGIN;
CREATE TABLE demo.projects (
	id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(),
	tenant_id uuid NOT NULL,
	name text NOT NULL,
	UNIQUE (tenant_id, id)              -- what child tables reference
);
-- Keys include the tenant column: PostgreSQL checks them without RLS.
CREATE TABLE demo.tasks (
	id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(),
	tenant_id uuid NOT NULL,
	project_id uuid NOT NULL,
	title text NOT NULL,
	FOREIGN KEY (tenant_id, project_id) REFERENCES demo.projects (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX ON demo.tasks (tenant_id, project_id);
SELECT trovella.enable_tenant_isolation('demo.projects');
SELECT trovella.enable_tenant_isolation('demo.tasks');
GRANT SELECT, INSERT, UPDATE, DELETE ON demo.projects, demo.tasks TO demo_app;
COMMIT;

SET ROLE demo_app;

-- Each tenant's work is one transaction that names the tenant first.
BEGIN;
SELECT trovella.with_tenant('aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa');
INSERT INTO demo.projects (name) VALUES ('apollo'), ('gemini');  -- tenant_id filled in
INSERT INTO demo.tasks (project_id, title)
SELECT id, 'launch' FROM demo.projects WHERE name = 'apollo';
COMMIT;

BEGIN;
SELECT trovella.with_tenant('bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb');
INSERT INTO demo.projects (name) VALUES ('mercury');
SELECT name FROM demo.projects;              -- only tenant B's rows
COMMIT;

-- No tenant context: the query fails closed instead of returning all rows.
\set ON_ERROR_STOP 0
SELECT name FROM demo.projects;
\set ON_ERROR_STOP 1

-- The context is sealed: nothing in the transaction can switch tenants.
BEGIN;
SELECT trovella.with_tenant('aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa');
\set ON_ERROR_STOP 0
SELECT trovella.with_tenant('bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb');
\set ON_ERROR_STOP 1
ROLLBACK;

RESET ROLE;

-- A tenant table left unisolated: the isolation guard warns at commit
-- (trovella.isolation_guard = error would refuse it, auto would isolate it),
-- and the audit view lists what keeps it from being isolated.
CREATE TABLE demo.invoices (id uuid PRIMARY KEY, tenant_id uuid, total numeric,
	project_id uuid REFERENCES demo.projects (id));
SELECT table_name, policy_ok, unnest(problems) AS problem FROM trovella.isolation_status WHERE problems <> '{}';

------------------------------------------------------------------------
-- 3. Personal access tokens: only a hash is stored.
------------------------------------------------------------------------
GRANT EXECUTE ON FUNCTION trovella.pat_create(text, timestamptz, text[]), trovella.pat_list(),
	trovella.pat_revoke(uuid), trovella.pat_verify(text), trovella.authenticate(text) TO demo_app;
SET ROLE demo_app;

BEGIN;
SELECT trovella.with_user('11111111-1111-1111-1111-111111111111');
-- The plaintext is shown this once; keep it in psql for the demo.
SELECT token_id, token FROM trovella.pat_create('ci deploy', now() + interval '90 days', '{repo:read}') \gset
\echo created :token
SELECT name, token_hint, scopes, expires_at FROM trovella.pat_list();
COMMIT;

-- An API request presents the token: verify it, or let it set the user.
SELECT user_id, scopes FROM trovella.pat_verify(:'token');
BEGIN;
SELECT user_id FROM trovella.authenticate(:'token');
SELECT trovella.current_user_id();
COMMIT;

-- A mistyped token is rejected by its checksum, without a table lookup.
SELECT trovella.pat_is_well_formed(:'token') AS real_token,
       trovella.pat_is_well_formed(left(:'token', 39) || CASE right(:'token', 1) WHEN '0' THEN '1' ELSE '0' END) AS mistyped;

BEGIN;
SELECT trovella.with_user('11111111-1111-1111-1111-111111111111');
SELECT trovella.pat_revoke(:'token_id') AS revoked;
COMMIT;
SELECT count(*) AS rows_after_revoke FROM trovella.pat_verify(:'token');
RESET ROLE;
