-- A statement that validates or copies a table must see every tenant's rows
-- (0.5.0): run by a role that row-level security binds (the owner under
-- FORCE, the application), it is refused with 42501 naming the role to use;
-- an operations role (BYPASSRLS) runs it and gets PostgreSQL's own answer.
CREATE ROLE regress_fv_owner;
CREATE ROLE regress_fv_app;
CREATE ROLE regress_fv_ops BYPASSRLS IN ROLE regress_fv_owner;
GRANT CREATE ON SCHEMA public TO regress_fv_owner;
GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO regress_fv_owner, regress_fv_app;
\set a '''00000000-0000-0000-0000-00000000000a'''
\set b '''00000000-0000-0000-0000-00000000000b'''
SET trovella.isolation_guard = error;
SET ROLE regress_fv_owner;
BEGIN;
CREATE TABLE fv_project (id int PRIMARY KEY, tenant_id uuid NOT NULL);
CREATE TABLE fv_doc (id int, tenant_id uuid NOT NULL, project_id int);
CREATE INDEX ON fv_project (tenant_id);
CREATE INDEX ON fv_doc (tenant_id);
SELECT trovella.enable_tenant_isolation('fv_project');
SELECT trovella.enable_tenant_isolation('fv_doc');
COMMIT;
GRANT SELECT, INSERT, UPDATE ON fv_project, fv_doc TO regress_fv_app;

-- the usual migration: a foreign key added to an empty table, with or
-- without a tenant context
BEGIN;
ALTER TABLE fv_doc ADD CONSTRAINT fv_doc_project FOREIGN KEY (project_id) REFERENCES fv_project;
ROLLBACK;
BEGIN;
SELECT trovella.with_tenant(:a);
ALTER TABLE fv_doc ADD CONSTRAINT fv_doc_project FOREIGN KEY (project_id) REFERENCES fv_project;
ROLLBACK;
RESET ROLE;

-- rows of two tenants; tenant b's document 3 points at no project
INSERT INTO fv_project VALUES (1, :a), (2, :b);
INSERT INTO fv_doc VALUES (1, :a, 1), (2, :b, 2), (3, :b, 99);

-- the owner: refused, without a context and in tenant a's (where
-- PostgreSQL alone would see no orphan and mark the key valid)
SET ROLE regress_fv_owner;
ALTER TABLE fv_doc ADD CONSTRAINT fv_doc_project FOREIGN KEY (project_id) REFERENCES fv_project;
\set VERBOSITY sqlstate
BEGIN;
SELECT trovella.with_tenant(:a);
ALTER TABLE fv_doc ADD CONSTRAINT fv_doc_project FOREIGN KEY (project_id) REFERENCES fv_project;
ROLLBACK;
BEGIN;
SELECT trovella.with_tenant(:a);
ALTER TABLE fv_doc ADD COLUMN project2_id int DEFAULT 99 REFERENCES fv_project;
ROLLBACK;
-- a key added NOT VALID and validated in one statement: the VALIDATE is
-- the check (PostgreSQL alone, in a's view, marked the key valid)
BEGIN;
SELECT trovella.with_tenant(:a);
ALTER TABLE fv_doc ADD CONSTRAINT fv_doc_project2 FOREIGN KEY (project_id) REFERENCES fv_project NOT VALID,
    VALIDATE CONSTRAINT fv_doc_project2;
ROLLBACK;
-- NOT VALID checks nothing: allowed; VALIDATE CONSTRAINT is the check
ALTER TABLE fv_doc ADD CONSTRAINT fv_doc_project FOREIGN KEY (project_id) REFERENCES fv_project NOT VALID;
BEGIN;
SELECT trovella.with_tenant(:a);
ALTER TABLE fv_doc VALIDATE CONSTRAINT fv_doc_project;
ROLLBACK;
ALTER TABLE fv_doc VALIDATE CONSTRAINT fv_doc_project;
\set VERBOSITY default
SELECT convalidated FROM pg_constraint WHERE conname = 'fv_doc_project';
RESET ROLE;

-- the application role does not own the table: PostgreSQL refuses
SET ROLE regress_fv_app;
\set VERBOSITY sqlstate
ALTER TABLE fv_doc VALIDATE CONSTRAINT fv_doc_project;
\set VERBOSITY default
RESET ROLE;

-- the operations role sees every row: PostgreSQL's own 23503, then the key
-- validated once the orphan is dealt with
SET ROLE regress_fv_ops;
\set VERBOSITY sqlstate
ALTER TABLE fv_doc VALIDATE CONSTRAINT fv_doc_project;
\set VERBOSITY default
DELETE FROM fv_doc WHERE id = 3;
ALTER TABLE fv_doc VALIDATE CONSTRAINT fv_doc_project;
SELECT convalidated FROM pg_constraint WHERE conname = 'fv_doc_project';
RESET ROLE;

-- ATTACH PARTITION under a table with a foreign key checks the partition's
-- rows; DETACH PARTITION of a referenced table checks the referencing rows
SET ROLE regress_fv_owner;
\set VERBOSITY terse
BEGIN;
CREATE TABLE fv_event (id int, tenant_id uuid NOT NULL, project_id int REFERENCES fv_project, day int) PARTITION BY RANGE (day);
CREATE INDEX ON fv_event (tenant_id);
SELECT trovella.enable_tenant_isolation('fv_event');
CREATE TABLE fv_event_1 (id int, tenant_id uuid NOT NULL, project_id int, day int);
SELECT trovella.enable_tenant_isolation('fv_event_1');
CREATE TABLE fv_region (id int, tenant_id uuid NOT NULL, region int, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE fv_region_1 PARTITION OF fv_region FOR VALUES IN (1);
CREATE TABLE fv_region_2 PARTITION OF fv_region FOR VALUES IN (2);
SELECT trovella.enable_tenant_isolation('fv_region');
CREATE TABLE fv_site (id int, tenant_id uuid NOT NULL, region_id int, region int,
                      FOREIGN KEY (region_id, region) REFERENCES fv_region);
SELECT trovella.enable_tenant_isolation('fv_site');
COMMIT;
\set VERBOSITY default
RESET ROLE;
INSERT INTO fv_event_1 VALUES (1, :a, 1, 1), (2, :b, 99, 1);
INSERT INTO fv_region VALUES (1, :a, 1), (2, :b, 2);
INSERT INTO fv_site VALUES (1, :a, 1, 1), (2, :b, 2, 2);
SET ROLE regress_fv_owner;
\set VERBOSITY sqlstate
BEGIN;
SELECT trovella.with_tenant(:a);
ALTER TABLE fv_event ATTACH PARTITION fv_event_1 FOR VALUES FROM (1) TO (10);
ROLLBACK;
BEGIN;
SELECT trovella.with_tenant(:a);
ALTER TABLE fv_region DETACH PARTITION fv_region_2;
ROLLBACK;
-- the whole message: its hint names the role to run it as (no foreign key
-- to add NOT VALID here)
\set VERBOSITY default
BEGIN;
SELECT count(*) AS opened FROM (SELECT trovella.with_tenant(:a)) w;
ALTER TABLE fv_event ATTACH PARTITION fv_event_1 FOR VALUES FROM (1) TO (10);
ROLLBACK;
\set VERBOSITY sqlstate
RESET ROLE;
SET ROLE regress_fv_ops;
ALTER TABLE fv_event ATTACH PARTITION fv_event_1 FOR VALUES FROM (1) TO (10);
ALTER TABLE fv_region DETACH PARTITION fv_region_2;
\set VERBOSITY default
RESET ROLE;

-- copies: a new table, a materialized view, or a table without isolation
-- would hold one tenant's rows
SET ROLE regress_fv_owner;
CREATE TABLE fv_plain (id int, project_id int);
GRANT INSERT ON fv_plain TO regress_fv_app;
CREATE MATERIALIZED VIEW fv_doc_count AS SELECT count(*) AS docs FROM fv_doc WITH NO DATA;
BEGIN;
SELECT trovella.with_tenant(:a);
CREATE TABLE fv_copy AS SELECT * FROM fv_doc;
ROLLBACK;
\set VERBOSITY sqlstate
BEGIN;
SELECT trovella.with_tenant(:a);
SELECT * INTO fv_copy FROM fv_doc;
ROLLBACK;
BEGIN;                                                          -- EXPLAIN alone copies nothing
SELECT trovella.with_tenant(:a);
\o /dev/null
EXPLAIN (COSTS OFF) CREATE TABLE fv_copy AS SELECT id FROM fv_doc WHERE id = 1;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) CREATE TABLE fv_copy AS SELECT id FROM fv_doc WHERE id = 1;
\o
ROLLBACK;
BEGIN;
SELECT trovella.with_tenant(:a);
CREATE MATERIALIZED VIEW fv_doc_ids AS SELECT id FROM fv_doc;
ROLLBACK;
BEGIN;
SELECT trovella.with_tenant(:a);
REFRESH MATERIALIZED VIEW fv_doc_count;
ROLLBACK;
REFRESH MATERIALIZED VIEW fv_doc_count;
-- a table rebuilt by copying (what Citus's conversions do), isolated or not
BEGIN;
SELECT trovella.with_tenant(:a);
CREATE TABLE fv_doc_new (id int, tenant_id uuid NOT NULL, project_id int);
SELECT trovella.enable_tenant_isolation('fv_doc_new');
INSERT INTO fv_doc_new SELECT * FROM fv_doc;
ROLLBACK;
\set VERBOSITY default
RESET ROLE;

-- the application in its tenant's context: into a table without isolation,
-- refused; into another isolated table or a temporary one, and UPDATE ...
-- FROM (its own rows), allowed
SET ROLE regress_fv_app;
\set VERBOSITY sqlstate
BEGIN;
SELECT trovella.with_tenant(:a);
INSERT INTO fv_plain SELECT id, project_id FROM fv_doc;
ROLLBACK;
BEGIN;
SELECT trovella.with_tenant(:a);
MERGE INTO fv_plain p USING fv_doc d ON p.id = d.id WHEN NOT MATCHED THEN INSERT VALUES (d.id, d.project_id);
ROLLBACK;
\set VERBOSITY default
BEGIN;
SELECT trovella.with_tenant(:a);
INSERT INTO fv_project SELECT id + 100, tenant_id FROM fv_project;
CREATE TEMPORARY TABLE fv_scratch ON COMMIT DROP AS SELECT * FROM fv_doc;
INSERT INTO fv_plain VALUES (7, 7);
UPDATE fv_doc SET project_id = p.id FROM fv_project p WHERE p.id = fv_doc.project_id;
SELECT count(*) AS own_rows_copied FROM fv_project;
COMMIT;
RESET ROLE;

-- a copy made by a data-modifying WITH query under a SELECT (or in a DO
-- block) is a copy too; one between isolated tables stays allowed
SET ROLE regress_fv_owner;
\set VERBOSITY sqlstate
BEGIN;
SELECT trovella.with_tenant(:a);
WITH x AS (INSERT INTO fv_plain SELECT id, project_id FROM fv_doc RETURNING 1) SELECT count(*) FROM x;
ROLLBACK;
BEGIN;
SELECT trovella.with_tenant(:a);
DO $$ BEGIN EXECUTE 'WITH x AS (INSERT INTO fv_plain SELECT id, project_id FROM fv_doc RETURNING 1) SELECT count(*) FROM x'; END $$;
ROLLBACK;
\set VERBOSITY default
BEGIN;
SELECT trovella.with_tenant(:a);
WITH x AS (INSERT INTO fv_project SELECT id + 200, tenant_id FROM fv_project RETURNING 1) SELECT count(*) AS own_rows_copied FROM x;
ROLLBACK;

-- rows read through a function: its query, nested in a copy into a table
-- without isolation, a new table or a materialized view, is refused
CREATE FUNCTION fv_read_all() RETURNS TABLE (id int, project_id int)
LANGUAGE plpgsql AS $$ BEGIN RETURN QUERY SELECT d.id, d.project_id FROM public.fv_doc d; END $$;
\set VERBOSITY sqlstate
BEGIN;
SELECT trovella.with_tenant(:a);
INSERT INTO fv_plain SELECT * FROM fv_read_all();
ROLLBACK;
BEGIN;
SELECT trovella.with_tenant(:a);
CREATE TABLE fv_copy_fn AS SELECT * FROM fv_read_all();
ROLLBACK;
BEGIN;
SELECT trovella.with_tenant(:a);
CREATE MATERIALIZED VIEW fv_mv_fn AS SELECT * FROM fv_read_all();
ROLLBACK;
-- after a refused copy (in a savepoint, or caught by PL/pgSQL), the same
-- transaction reads through the function and copies between isolated tables
BEGIN;
SELECT trovella.with_tenant(:a);
SAVEPOINT s;
INSERT INTO fv_plain SELECT * FROM fv_read_all();
ROLLBACK TO SAVEPOINT s;
\set VERBOSITY default
DO $$ BEGIN INSERT INTO fv_plain SELECT * FROM fv_read_all();
EXCEPTION WHEN insufficient_privilege THEN RAISE NOTICE 'refused: %', SQLSTATE; END $$;
SELECT count(*) AS own_rows_read FROM fv_read_all();
INSERT INTO fv_doc SELECT id + 300, :a, project_id FROM fv_read_all();
SELECT count(*) AS own_rows_copied FROM fv_doc WHERE id > 300;
ROLLBACK;
RESET ROLE;
-- a materialized view the owner owns, refreshed in another tenant's context
SET ROLE regress_fv_ops;
CREATE MATERIALIZED VIEW fv_mv_fn AS SELECT * FROM fv_read_all();
CREATE UNIQUE INDEX ON fv_mv_fn (id);
ALTER MATERIALIZED VIEW fv_mv_fn OWNER TO regress_fv_owner;
RESET ROLE;
SET ROLE regress_fv_owner;
\set VERBOSITY sqlstate
BEGIN;
SELECT trovella.with_tenant(:b);
REFRESH MATERIALIZED VIEW fv_mv_fn;
ROLLBACK;
BEGIN;
SELECT trovella.with_tenant(:b);
REFRESH MATERIALIZED VIEW CONCURRENTLY fv_mv_fn;
ROLLBACK;
\set VERBOSITY default
SELECT count(*) AS every_tenants_rows FROM fv_mv_fn;
DROP MATERIALIZED VIEW fv_mv_fn;
RESET ROLE;
-- the operations role copies through the function
SET ROLE regress_fv_ops;
BEGIN;
INSERT INTO fv_plain SELECT * FROM fv_read_all();
WITH x AS (INSERT INTO fv_plain SELECT id, project_id FROM fv_doc RETURNING 1) SELECT count(*) AS copied FROM x;
CREATE TABLE fv_copy_fn AS SELECT * FROM fv_read_all();
SELECT count(*) AS copied FROM fv_copy_fn;
ROLLBACK;
RESET ROLE;

-- a table is a copy's isolated target when the judgement of the guard and
-- the audit proves it, not when a policy bears trovella's name
SET ROLE regress_fv_owner;
CREATE TABLE fv_fake (id int, project_id int);
ALTER TABLE fv_fake ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY trovella_tenant_isolation ON fv_fake USING (true);
CREATE POLICY trovella_tenant_access ON fv_fake USING (true);
\set VERBOSITY sqlstate
BEGIN;
SELECT trovella.with_tenant(:a);
INSERT INTO fv_fake SELECT id, project_id FROM fv_doc;
ROLLBACK;
\set VERBOSITY default
DROP TABLE fv_fake;
DROP FUNCTION fv_read_all();
RESET ROLE;

-- the operations role copies every tenant's rows; a materialized view's
-- query runs as its owner, so one that the operations role owns refreshes
SET ROLE regress_fv_ops;
\set VERBOSITY sqlstate
REFRESH MATERIALIZED VIEW fv_doc_count;
\set VERBOSITY default
CREATE MATERIALIZED VIEW fv_doc_total AS SELECT count(*) AS docs FROM fv_doc WITH NO DATA;
REFRESH MATERIALIZED VIEW fv_doc_total;
SELECT docs FROM fv_doc_total;
CREATE TABLE fv_copy AS SELECT id, project_id FROM fv_doc;
SELECT count(*) AS copied FROM fv_copy;
DROP TABLE fv_copy;
DROP MATERIALIZED VIEW fv_doc_total;
RESET ROLE;

-- auto: a tenant column added to a table with rows would leave them with
-- no tenant, visible to nobody once isolated
SET trovella.isolation_guard = auto;
SET ROLE regress_fv_owner;
CREATE TABLE fv_legacy (id int);
CREATE TABLE fv_empty (id int);
INSERT INTO fv_legacy VALUES (1), (2);
ALTER TABLE fv_legacy ADD COLUMN tenant_id uuid;
\set VERBOSITY sqlstate
ALTER TABLE fv_legacy ADD COLUMN tenant_id uuid;
-- a default or generated value that may be NULL fills no row
ALTER TABLE fv_legacy ADD COLUMN tenant_id uuid DEFAULT NULL;
ALTER TABLE fv_legacy ADD COLUMN tenant_id uuid DEFAULT NULL::uuid;
ALTER TABLE fv_legacy ADD COLUMN tenant_id uuid GENERATED ALWAYS AS (NULL::uuid) STORED;
\set VERBOSITY default
ALTER TABLE fv_empty ADD COLUMN tenant_id uuid;
ALTER TABLE fv_legacy ADD COLUMN tenant_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-00000000000a';
-- a column renamed to the tenant column: refused while a row's value is
-- NULL (before 0.5.0 the table was isolated with that row lost)
CREATE TABLE fv_renamed (id int, org uuid);
INSERT INTO fv_renamed VALUES (1, :a), (2, NULL);
\set VERBOSITY sqlstate
ALTER TABLE fv_renamed RENAME COLUMN org TO tenant_id;
\set VERBOSITY default
UPDATE fv_renamed SET org = :a WHERE id = 2;
ALTER TABLE fv_renamed RENAME COLUMN org TO tenant_id;
-- a system column, an index's column: PostgreSQL's own answer (an
-- assert-enabled server aborted on the first; the second was refused)
CREATE TABLE fv_renamed2 (id int, org uuid);
INSERT INTO fv_renamed2 VALUES (1, NULL);
CREATE INDEX fv_renamed2_org ON fv_renamed2 (org);
\set VERBOSITY sqlstate
ALTER TABLE fv_renamed2 RENAME COLUMN xmin TO tenant_id;
\set VERBOSITY default
ALTER TABLE fv_renamed2_org RENAME COLUMN org TO tenant_id;
-- a composite type's attribute, renamed in its typed tables (CASCADE)
CREATE TYPE fv_row AS (id int, org uuid);
CREATE TABLE fv_typed OF fv_row;
INSERT INTO fv_typed VALUES (1, NULL);
\set VERBOSITY sqlstate
ALTER TYPE fv_row RENAME ATTRIBUTE org TO tenant_id CASCADE;
\set VERBOSITY default
SELECT trovella.is_isolated('fv_legacy', 'tenant_id') AS legacy_isolated,
       trovella.is_isolated('fv_empty', 'tenant_id') AS empty_isolated,
       trovella.is_isolated('fv_renamed', 'tenant_id') AS renamed_isolated;
RESET ROLE;
SELECT id, tenant_id FROM fv_legacy ORDER BY id;
RESET trovella.isolation_guard;

DROP MATERIALIZED VIEW fv_doc_count;
DROP TABLE fv_site, fv_region, fv_event, fv_event_1, fv_doc, fv_project, fv_plain,
    fv_legacy, fv_empty, fv_renamed, fv_renamed2, fv_typed;
DROP TYPE fv_row;
REVOKE CREATE ON SCHEMA public FROM regress_fv_owner;
REVOKE EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) FROM regress_fv_owner, regress_fv_app;
DROP ROLE regress_fv_ops;
DROP ROLE regress_fv_app;
DROP ROLE regress_fv_owner;
