-- Nothing a tenant's transaction read outlives it on the connection (0.3.0):
-- no cursor WITH HOLD, no temporary table that keeps rows written under a
-- context.  As an unprivileged application role.
CREATE ROLE regress_residue_app;
GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid), trovella.with_user(uuid) TO regress_residue_app;
GRANT CREATE, TEMPORARY ON DATABASE :"DBNAME" TO regress_residue_app;
CREATE TABLE residue_docs (id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL, body text);
CREATE INDEX ON residue_docs (tenant_id);
SELECT trovella.enable_tenant_isolation('residue_docs');
GRANT SELECT, INSERT ON residue_docs TO regress_residue_app;
BEGIN;
SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000000');
INSERT INTO residue_docs (body) VALUES ('b1'), ('b2');
COMMIT;

SET ROLE regress_residue_app;
\set VERBOSITY sqlstate
-- a cursor WITH HOLD in a tenant transaction: refused (25000) ...
BEGIN;
SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000000');
DECLARE held CURSOR WITH HOLD FOR SELECT body FROM residue_docs;
ROLLBACK;
-- ... also when declared before the context ...
BEGIN;
DECLARE held CURSOR WITH HOLD FOR SELECT body FROM residue_docs;
SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000000');
ROLLBACK;
BEGIN;
DECLARE held CURSOR WITH HOLD FOR SELECT 1;
SELECT trovella.with_user('11111111-0000-0000-0000-000000000000');
ROLLBACK;
-- ... or set by the cursor's own query, which runs at commit at the latest
BEGIN;
DECLARE held CURSOR WITH HOLD FOR SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000000');
COMMIT;
\set VERBOSITY default
SELECT count(*) AS held_cursors_left FROM pg_cursors;
-- an ordinary cursor is fine, and so is a held one closed before the context
BEGIN;
DECLARE held CURSOR WITH HOLD FOR SELECT 1;
CLOSE held;
SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000000');
DECLARE plain CURSOR FOR SELECT body FROM residue_docs ORDER BY body;
FETCH ALL FROM plain;
COMMIT;
-- a held cursor of a transaction without context stays allowed
BEGIN;
DECLARE before CURSOR WITH HOLD FOR SELECT 42 AS answer;
COMMIT;
FETCH ALL FROM before;
CLOSE before;

-- temporary tables written under a context fail the commit (25000) ...
CREATE TEMP TABLE keeps (body text);
\set VERBOSITY sqlstate
BEGIN;
SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000000');
INSERT INTO keeps SELECT body FROM residue_docs;
COMMIT;
BEGIN;
SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000000');
CREATE TEMP TABLE copied AS SELECT body FROM residue_docs;
COMMIT;
BEGIN;
SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000000');
SELECT body INTO TEMP selected FROM residue_docs;
COMMIT;
-- the same under EXPLAIN ANALYZE, which runs them (0.3.0 let them through)
BEGIN;
SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000000');
\o /dev/null
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) CREATE TEMP TABLE explained AS SELECT body FROM residue_docs;
\o
COMMIT;
BEGIN;
SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000000');
\o /dev/null
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT body INTO TEMP explained_into FROM residue_docs;
\o
COMMIT;
-- an ALTER TABLE that computes a column's values from tenant rows
CREATE TEMP TABLE rewritten (n int);
INSERT INTO rewritten VALUES (1);
CREATE FUNCTION pg_temp.first_body() RETURNS text LANGUAGE sql VOLATILE
	AS 'SELECT body FROM residue_docs ORDER BY body LIMIT 1';
BEGIN;
SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000000');
ALTER TABLE rewritten ADD COLUMN leaked text DEFAULT pg_temp.first_body();
COMMIT;
BEGIN;
SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000000');
ALTER TABLE rewritten ALTER COLUMN n TYPE text USING pg_temp.first_body();
COMMIT;
SELECT * FROM rewritten;
-- IF NOT EXISTS ... ON COMMIT DROP on an ordinary temporary table that is
-- already there creates nothing, and exempts nothing
CREATE TEMP TABLE existing_plain (body text);
BEGIN;
SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000000');
CREATE TEMP TABLE IF NOT EXISTS existing_plain (body text) ON COMMIT DROP;
INSERT INTO existing_plain SELECT body FROM residue_docs;
COMMIT;
SELECT count(*) AS existing_plain_rows FROM existing_plain;
DROP TABLE rewritten, existing_plain;
DROP FUNCTION pg_temp.first_body();
-- without ANALYZE nothing runs, and nothing is refused
BEGIN;
SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000000');
\o /dev/null
EXPLAIN (COSTS OFF) CREATE TEMP TABLE keeps_plan AS SELECT body FROM residue_docs;
\o
COMMIT;
BEGIN;
SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000000');
COPY keeps FROM stdin;
b1
\.
COMMIT;
\set VERBOSITY default
-- ... and the full message says what to do
BEGIN;
SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000000');
DO $$ BEGIN INSERT INTO keeps SELECT body FROM residue_docs; END $$;
COMMIT;
-- nothing was left behind
SELECT count(*) AS rows_kept FROM keeps;
SELECT to_regclass('pg_temp.copied') AS copied, to_regclass('pg_temp.selected') AS selected,
       to_regclass('pg_temp.explained') AS explained, to_regclass('pg_temp.explained_into') AS explained_into;
-- ON COMMIT DROP and DELETE ROWS tables are the per-transaction scratch space
CREATE TEMP TABLE scratch_rows (body text) ON COMMIT DELETE ROWS;
BEGIN;
SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000000');
CREATE TEMP TABLE scratch ON COMMIT DROP AS SELECT body FROM residue_docs;
INSERT INTO scratch_rows SELECT body FROM scratch;
SELECT count(*) AS scratch_rows FROM scratch_rows;
COMMIT;
SELECT count(*) AS scratch_rows_after_commit FROM scratch_rows;
-- writes rolled back with a savepoint, or dropped tables, leave nothing to say
BEGIN;
SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000000');
SAVEPOINT s;
INSERT INTO keeps SELECT body FROM residue_docs;
ROLLBACK TO SAVEPOINT s;
CREATE TEMP TABLE dropped AS SELECT body FROM residue_docs;
DROP TABLE dropped;
COMMIT;
-- a transaction without context writes its temporary tables as it likes
INSERT INTO keeps VALUES ('no tenant');
SELECT body FROM keeps;
-- trovella.residue_check is a superuser's, for test harnesses such as pgTAP
\set VERBOSITY sqlstate
SET trovella.residue_check = off;
\set VERBOSITY default
RESET ROLE;
SET trovella.residue_check = off;
SET ROLE regress_residue_app;
BEGIN;
SELECT trovella.with_tenant('bbbbbbbb-0000-0000-0000-000000000000');
INSERT INTO keeps SELECT body FROM residue_docs;
COMMIT;
SELECT count(*) AS kept_with_the_check_off FROM keeps;
DROP TABLE keeps, scratch_rows;
RESET ROLE;
RESET trovella.residue_check;

DROP TABLE residue_docs;
REVOKE ALL ON DATABASE :"DBNAME" FROM regress_residue_app;
REVOKE ALL ON FUNCTION trovella.with_tenant(uuid, uuid), trovella.with_user(uuid) FROM regress_residue_app;
DROP ROLE regress_residue_app;
