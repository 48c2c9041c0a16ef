-- The isolation guard (0.2.0): DDL that leaves a table with a tenant column
-- but without isolation, as a non-superuser owner running migrations.
CREATE ROLE regress_guard_owner;
GRANT CREATE ON SCHEMA public TO regress_guard_owner;

-- default: warn, at commit
LOAD 'trovella';
SHOW trovella.isolation_guard;
SET ROLE regress_guard_owner;
CREATE TABLE g_plain (id int, body text);                        -- no tenant column: silent
CREATE TABLE g_warned (id int, tenant_id uuid NOT NULL);         -- autocommit: WARNING at commit
BEGIN;                                                           -- the migration pattern: silent
CREATE TABLE g_migrated (id int, tenant_id uuid NOT NULL);
CREATE INDEX ON g_migrated (tenant_id);
SELECT trovella.enable_tenant_isolation('g_migrated');
COMMIT;
ALTER TABLE g_plain ADD COLUMN tenant_id uuid;                   -- altered into a tenant table
BEGIN;                                                           -- rolled back: nothing to say
CREATE TABLE g_rolled_back (tenant_id uuid);
ROLLBACK;
BEGIN;
SAVEPOINT s;
CREATE TABLE g_savepoint (tenant_id uuid);
ROLLBACK TO SAVEPOINT s;
COMMIT;
RESET ROLE;
-- never for the system schemas or trovella's own
CREATE TABLE information_schema.g_system (tenant_id uuid);
DROP TABLE information_schema.g_system;

-- error: the transaction does not commit (55000)
SET trovella.isolation_guard = error;
SET ROLE regress_guard_owner;
\set VERBOSITY sqlstate
CREATE TABLE g_refused (tenant_id uuid NOT NULL);
\set VERBOSITY default
CREATE TABLE g_refused (tenant_id uuid NOT NULL);
SELECT to_regclass('g_refused') AS refused_table;
BEGIN;
CREATE TABLE g_accepted (tenant_id uuid NOT NULL);
CREATE INDEX ON g_accepted (tenant_id);
SELECT trovella.enable_tenant_isolation('g_accepted');
COMMIT;
SELECT trovella.is_isolated('g_accepted', 'tenant_id') AS accepted_and_isolated;
\set VERBOSITY sqlstate
ALTER TABLE g_migrated DISABLE ROW LEVEL SECURITY;               -- breaking isolation: refused
ALTER TABLE g_migrated NO FORCE ROW LEVEL SECURITY;
ALTER POLICY trovella_tenant_isolation ON g_migrated USING (true);
\set VERBOSITY default
SELECT trovella.is_isolated('g_migrated', 'tenant_id') AS still_isolated;
RESET ROLE;

-- auto: isolated as soon as the DDL ends, partitions too
SET trovella.isolation_guard = auto;
SET ROLE regress_guard_owner;
CREATE TABLE g_auto (id int, tenant_id uuid NOT NULL);
CREATE TABLE g_parted (tenant_id uuid NOT NULL, region text NOT NULL) PARTITION BY LIST (region);
CREATE INDEX ON g_parted (tenant_id);
CREATE TABLE g_parted_eu PARTITION OF g_parted FOR VALUES IN ('eu');
RESET ROLE;
SET trovella.isolation_guard = off;              -- a table made while the guard was off ...
CREATE TABLE g_parted_us (tenant_id uuid NOT NULL, region text NOT NULL);
ALTER TABLE g_parted_us OWNER TO regress_guard_owner;
SET trovella.isolation_guard = auto;
SET ROLE regress_guard_owner;
SELECT trovella.is_isolated('g_parted_us', 'tenant_id') AS before_attach;
ALTER TABLE g_parted ATTACH PARTITION g_parted_us FOR VALUES IN ('us');   -- ... isolated when attached
ALTER TABLE g_auto DISABLE ROW LEVEL SECURITY;                   -- put back at once
SELECT t AS table_name, trovella.is_isolated(t, 'tenant_id') AS isolated
FROM unnest(ARRAY['g_auto', 'g_parted', 'g_parted_eu', 'g_parted_us']::regclass[]) AS t;
-- enable_tenant_isolation() again on tables the guard isolated (the repair
-- isolation_status advises), and the README's create-and-isolate migration:
-- trovella's own drop-and-recreate never trips the guard (was 42710)
SELECT trovella.enable_tenant_isolation('g_auto');
SELECT trovella.enable_tenant_isolation('g_parted');
BEGIN;
CREATE TABLE g_auto_migrated (id int, tenant_id uuid NOT NULL);
CREATE INDEX ON g_auto_migrated (tenant_id);
SELECT trovella.enable_tenant_isolation('g_auto_migrated');
COMMIT;
SELECT t AS table_name, trovella.is_isolated(t, 'tenant_id') AS isolated
FROM unnest(ARRAY['g_auto', 'g_parted', 'g_parted_eu', 'g_parted_us', 'g_auto_migrated']::regclass[]) AS t;
-- the helper's mark cannot be used to skip auto: what it covers is judged
-- at commit, where auto refuses a table left without isolation
\set VERBOSITY sqlstate
BEGIN;
SELECT trovella.isolation_helper(true);
CREATE TABLE g_auto_sneaky (id int, tenant_id uuid NOT NULL);
COMMIT;
\set VERBOSITY default
SELECT to_regclass('g_auto_sneaky') AS sneaky_table;
RESET ROLE;

-- the column it looks for follows trovella.tenant_column (a superuser's setting)
SET trovella.tenant_column = 'org_id';
SET ROLE regress_guard_owner;
CREATE TABLE g_orgs (org_id uuid NOT NULL);
SELECT trovella.is_isolated('g_orgs', 'org_id') AS org_table_isolated;
RESET ROLE;
RESET trovella.tenant_column;

-- a restore (pg_dump's output runs with row_security off): it stands aside
SET trovella.isolation_guard = error;
SET row_security = off;
CREATE TABLE g_restored (tenant_id uuid NOT NULL);
RESET row_security;
SELECT to_regclass('g_restored') IS NOT NULL AS restored;

-- off: nothing
SET trovella.isolation_guard = off;
CREATE TABLE g_off (tenant_id uuid);
RESET trovella.isolation_guard;

-- only a superuser sets the mode
SET ROLE regress_guard_owner;
\set VERBOSITY sqlstate
SET trovella.isolation_guard = off;
\set VERBOSITY default
RESET ROLE;

-- 0.3.0: a non-superuser owner cannot talk the guard out of error.  The
-- mode is a superuser's (as ALTER DATABASE ... SET would make it).
SET trovella.isolation_guard = error;
SET ROLE regress_guard_owner;
\set VERBOSITY sqlstate
SET trovella.tenant_column = 'nope';                             -- 42501
SET row_security = off;                                          -- allowed, but ...
CREATE TABLE g_escape (tenant_id uuid NOT NULL);                 -- ... refused all the same
ALTER TABLE g_migrated DISABLE ROW LEVEL SECURITY;
ALTER TABLE g_migrated NO FORCE ROW LEVEL SECURITY;
RESET row_security;
DROP POLICY trovella_tenant_isolation ON g_migrated;             -- a dropped policy: refused at commit
DROP POLICY trovella_tenant_access ON g_migrated;
BEGIN;
DROP POLICY trovella_tenant_isolation ON g_migrated;
DROP POLICY trovella_tenant_access ON g_migrated;
ALTER TABLE g_migrated DISABLE ROW LEVEL SECURITY;
COMMIT;
\set VERBOSITY default
SELECT to_regclass('g_escape') AS escaped_table,
       trovella.is_isolated('g_migrated', 'tenant_id') AS still_isolated;
BEGIN;                                           -- re-isolating drops and recreates the policies: fine
SELECT trovella.enable_tenant_isolation('g_migrated');
COMMIT;
DROP POLICY IF EXISTS unrelated ON g_migrated;   -- dropping nothing of trovella's: fine
RESET ROLE;
-- a role that RLS does not bind (superuser, BYPASSRLS) may restore with row_security off
ALTER ROLE regress_guard_owner BYPASSRLS;
SET ROLE regress_guard_owner;
SET row_security = off;
CREATE TABLE g_bypass (tenant_id uuid NOT NULL);
RESET row_security;
RESET ROLE;
ALTER ROLE regress_guard_owner NOBYPASSRLS;
SELECT to_regclass('g_bypass') IS NOT NULL AS restored_by_bypassrls;
-- warn: a dropped policy gets its warning; auto: it is refused like error
SET trovella.isolation_guard = warn;
SET ROLE regress_guard_owner;
DROP POLICY trovella_tenant_access ON g_accepted;
RESET ROLE;
SET trovella.isolation_guard = auto;
SET ROLE regress_guard_owner;
\set VERBOSITY sqlstate
DROP POLICY trovella_tenant_isolation ON g_auto;
\set VERBOSITY default
SELECT trovella.is_isolated('g_auto', 'tenant_id') AS auto_still_isolated;
RESET ROLE;
RESET trovella.isolation_guard;

-- the guard is an extension member, not dumped on its own
SELECT evtname, evtevent, evtenabled, evtfoid::regproc AS function, evttags
FROM pg_event_trigger WHERE evtname LIKE 'trovella_isolation_guard%' ORDER BY evtname;
SELECT count(*) AS member_of_extension FROM pg_depend d JOIN pg_event_trigger e ON e.oid = d.objid
WHERE d.classid = 'pg_event_trigger'::regclass AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'trovella') AND d.deptype = 'e'
  AND e.evtname LIKE 'trovella_isolation_guard%';

-- partitions inherit their parent's isolation as soon as they are created
-- or attached, at any depth, in every mode: error accepts them, warn says
-- nothing, and none is readable by every tenant through the child
RESET ROLE;
SET trovella.isolation_guard = error;
SET ROLE regress_guard_owner;
BEGIN;
CREATE TABLE g_events (tenant_id uuid NOT NULL, day date NOT NULL, body text) PARTITION BY RANGE (day);
CREATE INDEX ON g_events (tenant_id);
SELECT trovella.enable_tenant_isolation('g_events');
COMMIT;
CREATE TABLE g_events_jan PARTITION OF g_events FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');
RESET ROLE;
SET trovella.isolation_guard = warn;
SET ROLE regress_guard_owner;
BEGIN;
CREATE TABLE g_events_feb (tenant_id uuid NOT NULL, day date NOT NULL, body text);
ALTER TABLE g_events ATTACH PARTITION g_events_feb FOR VALUES FROM ('2026-02-01') TO ('2026-03-01');
COMMIT;
RESET ROLE;
SET trovella.isolation_guard = off;
SET ROLE regress_guard_owner;
CREATE TABLE g_events_mar PARTITION OF g_events FOR VALUES FROM ('2026-03-01') TO ('2026-04-01')
	PARTITION BY HASH (tenant_id);
CREATE TABLE g_events_mar_0 PARTITION OF g_events_mar FOR VALUES WITH (MODULUS 2, REMAINDER 0);
RESET ROLE;
SET trovella.isolation_guard = auto;
SET ROLE regress_guard_owner;
CREATE TABLE g_events_mar_1 PARTITION OF g_events_mar FOR VALUES WITH (MODULUS 2, REMAINDER 1);
SELECT c.relname, trovella.is_isolated(c.oid, 'tenant_id') AS isolated, c.relforcerowsecurity AS forced
FROM pg_class c WHERE c.relname LIKE 'g_events%' AND c.relkind IN ('r', 'p') ORDER BY c.relname;
RESET ROLE;
SET trovella.isolation_guard = off;
DROP TABLE g_events;

-- one "reviewed" marker: a comment beginning 'trovella: reviewed' on what a
-- person has judged fine; the audit lists it with the reason, not as a
-- problem, and the guard in error mode accepts the table
RESET ROLE;
SET trovella.isolation_guard = error;
SET ROLE regress_guard_owner;
BEGIN;
CREATE TABLE g_tenants (tenant_id uuid PRIMARY KEY, name text NOT NULL);
COMMENT ON TABLE g_tenants IS 'trovella: reviewed: the tenant list itself, one row per tenant';
COMMIT;
\set VERBOSITY sqlstate
BEGIN;
CREATE TABLE g_tenants_unreviewed (tenant_id uuid PRIMARY KEY, name text NOT NULL);
COMMIT;
\set VERBOSITY default
BEGIN;
CREATE TABLE g_items (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant_id uuid NOT NULL);
CREATE INDEX ON g_items (tenant_id);
SELECT trovella.enable_tenant_isolation('g_items');
COMMIT;
SELECT table_name, problems, reviewed FROM trovella.isolation_status
WHERE table_name IN ('g_tenants'::regclass, 'g_items'::regclass) ORDER BY table_name::text;
COMMENT ON INDEX g_items_pkey IS 'trovella: reviewed: ids are assigned, not chosen by tenants';
SELECT table_name, problems, reviewed FROM trovella.isolation_status
WHERE table_name IN ('g_tenants'::regclass, 'g_items'::regclass) ORDER BY table_name::text;
RESET ROLE;
SET trovella.isolation_guard = off;
DROP TABLE g_tenants, g_items;

-- Inheritance: an isolated table that inherits from a table without the
-- tenant column is readable by every tenant through that parent; the guard
-- judges it at commit, in auto as in error, however it came to inherit
RESET ROLE;
SET trovella.isolation_guard = error;
SET ROLE regress_guard_owner;
CREATE TABLE g_base (id int, body text);
\set VERBOSITY sqlstate
BEGIN;
CREATE TABLE g_heir (tenant_id uuid NOT NULL) INHERITS (g_base);
SELECT trovella.enable_tenant_isolation('g_heir');
COMMIT;
\set VERBOSITY default
BEGIN;
CREATE TABLE g_heir (tenant_id uuid NOT NULL) INHERITS (g_base);
SELECT trovella.enable_tenant_isolation('g_heir');
COMMIT;
BEGIN;                                   -- isolated first, made to inherit later
CREATE TABLE g_heir (id int, body text, tenant_id uuid NOT NULL);
SELECT trovella.enable_tenant_isolation('g_heir');
COMMIT;
\set VERBOSITY sqlstate
ALTER TABLE g_heir INHERIT g_base;
RESET ROLE;
SET trovella.isolation_guard = auto;
SET ROLE regress_guard_owner;
ALTER TABLE g_heir INHERIT g_base;
RESET ROLE;
SET trovella.isolation_guard = warn;
SET ROLE regress_guard_owner;
\set VERBOSITY default
ALTER TABLE g_heir INHERIT g_base;                               -- warn: a WARNING
ALTER TABLE g_heir NO INHERIT g_base;
RESET ROLE;
SET trovella.isolation_guard = error;
SET ROLE regress_guard_owner;
BEGIN;                                   -- reviewed: accepted
COMMENT ON TABLE g_heir IS 'trovella: reviewed: g_base is never read, only its children';
ALTER TABLE g_heir INHERIT g_base;
COMMIT;
SELECT count(*) AS heirs FROM pg_inherits WHERE inhrelid = 'g_heir'::regclass;
DROP TABLE g_heir, g_base;

-- At commit the guard judges every table a transaction's DDL touched.  The
-- common case, a table enable_tenant_isolation() just isolated, is proved
-- quickly from the catalog; nothing that is not isolated passes that proof
RESET ROLE;
SET trovella.isolation_guard = error;
SET ROLE regress_guard_owner;
\set VERBOSITY sqlstate
BEGIN;                                   -- a policy for one role, not PUBLIC
CREATE TABLE g_proof (id int, tenant_id uuid NOT NULL);
SELECT trovella.enable_tenant_isolation('g_proof');
ALTER POLICY trovella_tenant_access ON g_proof TO regress_guard_owner;
COMMIT;
BEGIN;                                   -- the restrictive policy on another column
CREATE TABLE g_proof (id int, tenant_id uuid NOT NULL);
SELECT trovella.enable_tenant_isolation('g_proof');
CREATE TABLE g_proof_other (other_id uuid, tenant_id uuid NOT NULL);
ALTER TABLE g_proof_other ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY trovella_tenant_isolation ON g_proof_other AS RESTRICTIVE
	USING (tenant_id = (SELECT trovella.current_tenant())) WITH CHECK (tenant_id = (SELECT trovella.current_tenant()));
CREATE POLICY trovella_tenant_access ON g_proof_other
	USING (other_id = (SELECT trovella.current_tenant())) WITH CHECK (other_id = (SELECT trovella.current_tenant()));
COMMIT;
-- enable_tenant_isolation()'s own statements are remembered, not judged
-- one by one; the same statements under a faked mark are judged at commit
BEGIN;
CREATE TABLE g_proof (id int, tenant_id uuid NOT NULL);
SELECT trovella.enable_tenant_isolation('g_proof');
SELECT trovella.isolation_helper(true);
DROP POLICY trovella_tenant_access ON g_proof;
CREATE POLICY trovella_tenant_access ON g_proof USING (true) WITH CHECK (true);
COMMIT;
BEGIN;
CREATE TABLE g_proof (id int, tenant_id uuid NOT NULL);
SELECT trovella.enable_tenant_isolation('g_proof');
SELECT trovella.isolation_helper(true);
ALTER TABLE g_proof NO FORCE ROW LEVEL SECURITY;
COMMIT;
\set VERBOSITY default
SELECT to_regclass('g_proof') AS proof_table, to_regclass('g_proof_other') AS other_table;
-- a partitioned table's partitions: one proof each, all accepted
BEGIN;
CREATE TABLE g_proof (id int, tenant_id uuid NOT NULL, day int NOT NULL) PARTITION BY RANGE (day);
CREATE INDEX ON g_proof (tenant_id);
DO $$ BEGIN FOR d IN 1..20 LOOP
	EXECUTE format('CREATE TABLE g_proof_%s PARTITION OF g_proof FOR VALUES FROM (%s) TO (%s)', d, d, d + 1);
END LOOP; END $$;
SELECT trovella.enable_tenant_isolation('g_proof');
SELECT trovella.enable_tenant_isolation('g_proof');
COMMIT;
SELECT count(*) FILTER (WHERE trovella.is_isolated(t.relid, 'tenant_id')) AS isolated, count(*) AS tables
FROM pg_partition_tree('g_proof') t;
DROP TABLE g_proof;
RESET ROLE;

SET trovella.isolation_guard = off;
DROP TABLE g_plain, g_warned, g_migrated, g_accepted, g_auto, g_auto_migrated, g_parted, g_orgs, g_restored, g_off, g_bypass;
REVOKE ALL ON SCHEMA public FROM regress_guard_owner;
DROP ROLE regress_guard_owner;
