-- Temporary tables whose rows only seem to end with the transaction (0.5.0):
-- ON COMMIT DELETE ROWS does not reach a table's partitions or inheritance
-- children, and ANALYZE and indexes keep what they derived from the rows.
-- As an unprivileged application role, which owns its temporary tables.
CREATE ROLE regress_tree_app;
GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO regress_tree_app;
GRANT TEMPORARY ON DATABASE :"DBNAME" TO regress_tree_app;
BEGIN;
CREATE TABLE tree_docs (id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL, body text);
CREATE INDEX ON tree_docs (tenant_id);
SELECT trovella.enable_tenant_isolation('tree_docs');
COMMIT;
GRANT SELECT ON tree_docs TO regress_tree_app;
BEGIN;
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000');
INSERT INTO tree_docs (body) VALUES ('a1'), ('a2');
COMMIT;
SET ROLE regress_tree_app;
CREATE FUNCTION pg_temp.first_body() RETURNS text LANGUAGE sql VOLATILE
	AS 'SELECT body FROM public.tree_docs ORDER BY body LIMIT 1';
-- the same, labelled IMMUTABLE as an index expression needs (it is not)
CREATE FUNCTION pg_temp.body_of(int) RETURNS text LANGUAGE sql IMMUTABLE
	AS 'SELECT body FROM public.tree_docs ORDER BY body LIMIT 1';
\set VERBOSITY sqlstate

-- a partitioned table ON COMMIT DELETE ROWS with a partition that keeps its
-- rows: rows routed into the partition would outlive the commit (25000) ...
CREATE TEMP TABLE parted (body text) PARTITION BY LIST (body) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE parted_a1 PARTITION OF parted FOR VALUES IN ('a1');
CREATE TEMP TABLE parted_rest PARTITION OF parted DEFAULT ON COMMIT DELETE ROWS;
BEGIN;
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000');
INSERT INTO parted SELECT body FROM tree_docs;
COMMIT;
BEGIN;
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000');
COPY parted FROM stdin;
a1
\.
COMMIT;
SELECT count(*) AS rows_kept_in_partition FROM parted_a1;
-- ... and once every partition is ON COMMIT DELETE ROWS too, it is allowed
DROP TABLE parted_a1;
CREATE TEMP TABLE parted_a1 PARTITION OF parted FOR VALUES IN ('a1') ON COMMIT DELETE ROWS;
BEGIN;
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000');
INSERT INTO parted SELECT body FROM tree_docs;
SELECT count(*) AS rows_in_transaction FROM parted;
COMMIT;
SELECT count(*) AS rows_after_commit FROM parted;
-- a partition attached later that keeps its rows: refused again
CREATE TEMP TABLE parted_a2 (body text);
ALTER TABLE parted ATTACH PARTITION parted_a2 FOR VALUES IN ('a2');
BEGIN;
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000');
INSERT INTO parted SELECT body FROM tree_docs;
COMMIT;
SELECT count(*) AS rows_kept_in_attached FROM parted_a2;
DROP TABLE parted;

-- inheritance: ADD COLUMN ... DEFAULT on an ON COMMIT DELETE ROWS parent
-- writes the value into a child that keeps its rows (25000)
CREATE TEMP TABLE inh_parent (n int) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE inh_child () INHERITS (inh_parent);
INSERT INTO inh_child VALUES (1);
BEGIN;
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000');
ALTER TABLE inh_parent ADD COLUMN leaked text DEFAULT pg_temp.first_body();
COMMIT;
SELECT * FROM inh_child;
DROP TABLE inh_parent, inh_child;
-- an ON COMMIT DROP parent takes its children with it: allowed
BEGIN;
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000');
CREATE TEMP TABLE inh_parent (n int) ON COMMIT DROP;
CREATE TEMP TABLE inh_child () INHERITS (inh_parent);
INSERT INTO inh_child VALUES (1);
ALTER TABLE inh_parent ADD COLUMN copied text DEFAULT pg_temp.first_body();
COMMIT;
SELECT to_regclass('pg_temp.inh_parent') AS parent, to_regclass('pg_temp.inh_child') AS child;

-- ANALYZE keeps values of the rows in pg_stats, which ON COMMIT DELETE ROWS
-- does not remove: refused (25000), also for every table at once
CREATE TEMP TABLE scratch (body text) ON COMMIT DELETE ROWS;
BEGIN;
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000');
INSERT INTO scratch SELECT body FROM tree_docs;
ANALYZE scratch;
COMMIT;
BEGIN;
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000');
ANALYZE;
COMMIT;
SELECT count(*) AS statistics_kept FROM pg_stats WHERE tablename = 'scratch';
-- an ON COMMIT DROP table's statistics go with it: allowed
BEGIN;
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000');
CREATE TEMP TABLE dropped_scratch ON COMMIT DROP AS SELECT body FROM tree_docs;
ANALYZE dropped_scratch;
COMMIT;

-- an index built on a temporary table that keeps its rows keeps what its
-- expression computed: refused (25000), however it is built
CREATE TEMP TABLE keeps (n int);
INSERT INTO keeps VALUES (1);
CREATE INDEX keeps_n ON keeps (n);
BEGIN;
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000');
CREATE INDEX ON keeps ((pg_temp.body_of(n)));
COMMIT;
BEGIN;
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000');
REINDEX TABLE keeps;
COMMIT;
BEGIN;
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000');
REINDEX INDEX keeps_n;
COMMIT;
BEGIN;
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000');
CLUSTER keeps USING keeps_n;
COMMIT;
BEGIN;
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000');
ALTER TABLE keeps ADD CONSTRAINT keeps_unique UNIQUE (n);
COMMIT;
BEGIN;
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000');
ALTER TABLE keeps SET ACCESS METHOD heap;
COMMIT;
SELECT indexname FROM pg_indexes WHERE tablename = 'keeps' ORDER BY 1;
-- on a table whose rows are gone at commit, its index is emptied too: allowed
BEGIN;
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000');
CREATE INDEX ON scratch ((body || pg_temp.body_of(1)));
CREATE TEMP TABLE work ON COMMIT DROP AS SELECT body FROM tree_docs;
CREATE INDEX ON work (body);
COMMIT;
\set VERBOSITY default
-- the full messages say what to do
BEGIN;
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000');
ANALYZE scratch;
ROLLBACK;
BEGIN;
SELECT trovella.with_tenant('aaaaaaaa-0000-0000-0000-000000000000');
CREATE INDEX ON keeps ((pg_temp.body_of(n)));
ROLLBACK;
-- without a context, nothing is refused
ANALYZE keeps;
CREATE INDEX ON keeps ((n + 1));
DROP TABLE scratch, keeps;
DROP FUNCTION pg_temp.first_body(), pg_temp.body_of(int);
RESET ROLE;

DROP TABLE tree_docs;
REVOKE ALL ON DATABASE :"DBNAME" FROM regress_tree_app;
REVOKE ALL ON FUNCTION trovella.with_tenant(uuid, uuid) FROM regress_tree_app;
DROP ROLE regress_tree_app;
