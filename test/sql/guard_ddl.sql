-- The guard sees every DDL statement that can create a table or give one
-- its tenant column (0.5.0), not a list of command tags: CREATE SCHEMA with
-- tables in it, ALTER TYPE ... CASCADE on a typed table, RENAME COLUMN and
-- RENAME ATTRIBUTE.  As the tables' non-superuser owner and as the
-- application role.
CREATE ROLE regress_gd_owner;
CREATE ROLE regress_gd_app;
GRANT CREATE ON SCHEMA public TO regress_gd_owner;
DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO regress_gd_owner', current_database()); END $$;
GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO regress_gd_app;
SET trovella.isolation_guard = error;
SET ROLE regress_gd_owner;
BEGIN;
CREATE TABLE gd_events (id int, tenant_id uuid NOT NULL, body text) PARTITION BY LIST (id);
CREATE INDEX ON gd_events (tenant_id);
SELECT trovella.enable_tenant_isolation('gd_events');
GRANT SELECT ON gd_events TO regress_gd_app;
COMMIT;

-- 1. A partition made by CREATE SCHEMA under an isolated parent gets its
-- parent's isolation, in every mode, as CREATE TABLE ... PARTITION OF does
RESET ROLE;
SET trovella.isolation_guard = off;
SET ROLE regress_gd_owner;
CREATE SCHEMA gd_s3 CREATE TABLE events_1 PARTITION OF public.gd_events FOR VALUES IN (1);
RESET ROLE;
SET trovella.isolation_guard = error;
SET ROLE regress_gd_owner;
CREATE SCHEMA gd_s3b CREATE TABLE events_2 PARTITION OF public.gd_events FOR VALUES IN (2);
SELECT c.oid::regclass AS partition, c.relrowsecurity, c.relforcerowsecurity,
       (SELECT array_agg(p.polname ORDER BY p.polname) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies
FROM pg_class c WHERE c.oid IN ('gd_s3.events_1'::regclass, 'gd_s3b.events_2'::regclass)
ORDER BY 1;
GRANT USAGE ON SCHEMA gd_s3 TO regress_gd_app;
GRANT SELECT ON gd_s3.events_1 TO regress_gd_app;
RESET ROLE;
INSERT INTO gd_events VALUES (1, 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', 'secret of A');
-- tenant B reads none of A's rows through the partition
SET ROLE regress_gd_app;
BEGIN;
SELECT count(*) AS context FROM trovella.with_tenant('bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb', '11111111-1111-1111-1111-111111111111');
SELECT body FROM gd_s3.events_1;
COMMIT;
RESET ROLE;
SELECT table_name, problems FROM trovella.isolation_status WHERE table_name::text LIKE 'gd\_s3%' ORDER BY 1;

-- 2. In error, what the audit would name is refused at commit, whatever
-- the statement that made it
SET ROLE regress_gd_owner;
-- a table made by CREATE SCHEMA
CREATE SCHEMA gd_s1 CREATE TABLE leak (id int, tenant_id uuid NOT NULL);
SELECT count(*) AS committed FROM pg_namespace WHERE nspname = 'gd_s1';
-- isolated in the same transaction, it passes
BEGIN;
CREATE SCHEMA gd_s1 CREATE TABLE leak (id int, tenant_id uuid NOT NULL);
SELECT trovella.enable_tenant_isolation('gd_s1.leak');
COMMIT;
-- a typed table given the tenant column by ALTER TYPE ... CASCADE
CREATE TYPE gd_rowt AS (id int, name text);
CREATE TABLE gd_typed OF gd_rowt;
ALTER TYPE gd_rowt ADD ATTRIBUTE tenant_id uuid CASCADE;
-- or by RENAME ATTRIBUTE ... CASCADE
CREATE TYPE gd_rowt2 AS (id int, owner_tenant uuid);
CREATE TABLE gd_typed2 OF gd_rowt2;
ALTER TYPE gd_rowt2 RENAME ATTRIBUTE owner_tenant TO tenant_id CASCADE;
-- a column renamed to the tenant column, on a table and on a parent whose
-- child inherits the rename
CREATE TABLE gd_renamed (id int, owner_tenant uuid NOT NULL);
ALTER TABLE gd_renamed RENAME COLUMN owner_tenant TO tenant_id;
BEGIN;
CREATE TABLE gd_base (id int, owner_tenant uuid NOT NULL);
COMMENT ON TABLE gd_base IS 'trovella: reviewed: shared';
CREATE TABLE gd_heir () INHERITS (gd_base);
COMMIT;
ALTER TABLE gd_base RENAME COLUMN owner_tenant TO tenant_id;
SELECT attrelid::regclass, attname FROM pg_attribute
WHERE attrelid IN ('gd_typed'::regclass, 'gd_typed2'::regclass, 'gd_renamed'::regclass, 'gd_heir'::regclass)
  AND attnum > 0 ORDER BY 1, attnum;
-- the statements the guard judged before stay judged
CREATE TABLE gd_like (LIKE gd_events);
CREATE TABLE gd_plain (id int, tenant_id uuid NOT NULL);
SELECT 1 AS id, NULL::uuid AS tenant_id INTO gd_into;
CREATE TABLE gd_as AS SELECT 1 AS id, NULL::uuid AS tenant_id;
RESET ROLE;
SET trovella.isolation_guard = off;
SET ROLE regress_gd_owner;
CREATE TABLE gd_plain (id int, tenant_id uuid NOT NULL);
CREATE TABLE gd_loose (id int, tenant_id uuid NOT NULL, body text);
RESET ROLE;
SET trovella.isolation_guard = error;
SET ROLE regress_gd_owner;
ALTER TABLE gd_plain SET SCHEMA gd_s3;
-- attached under an isolated parent, a partition takes its isolation
ALTER TABLE gd_events ATTACH PARTITION gd_loose FOR VALUES IN (3);
SELECT table_name, policy_ok, problems FROM trovella.isolation_status WHERE table_name = 'gd_loose'::regclass;

-- 3. In auto, a table made by CREATE SCHEMA is isolated at once
RESET ROLE;
SET trovella.isolation_guard = auto;
SET ROLE regress_gd_owner;
CREATE SCHEMA gd_s4 CREATE TABLE auto_t (id int, tenant_id uuid NOT NULL);
SELECT table_name, rls_enabled, rls_forced, policy_ok, problems
FROM trovella.isolation_status WHERE table_name = 'gd_s4.auto_t'::regclass;
-- a typed table with rows given the tenant column by ALTER TYPE ... CASCADE
-- is refused, as ALTER TABLE ... ADD COLUMN is: its rows would have no tenant
CREATE TYPE gd_rowt3 AS (id int);
CREATE TABLE gd_typed3 OF gd_rowt3;
INSERT INTO gd_typed3 VALUES (1);
\set VERBOSITY sqlstate
ALTER TYPE gd_rowt3 ADD ATTRIBUTE tenant_id uuid CASCADE;
\set VERBOSITY default
SELECT count(*) AS rows_kept FROM gd_typed3;
DROP TABLE gd_typed3;
DROP TYPE gd_rowt3;
RESET ROLE;

-- the guard's event trigger fires on every DDL statement
SELECT evtname, evttags FROM pg_event_trigger WHERE evtname = 'trovella_isolation_guard';

SET client_min_messages = warning;
DROP SCHEMA gd_s1, gd_s3, gd_s3b, gd_s4 CASCADE;
DROP TABLE gd_events, gd_typed, gd_typed2, gd_renamed, gd_heir, gd_base, gd_plain;
DROP TYPE gd_rowt, gd_rowt2;
REVOKE ALL ON SCHEMA public FROM regress_gd_owner;
DO $$ BEGIN EXECUTE format('REVOKE ALL ON DATABASE %I FROM regress_gd_owner', current_database()); END $$;
REVOKE ALL ON FUNCTION trovella.with_tenant(uuid, uuid) FROM regress_gd_app;
DROP ROLE regress_gd_owner, regress_gd_app;
RESET trovella.isolation_guard;
RESET client_min_messages;
