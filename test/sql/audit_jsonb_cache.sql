-- What audit_jsonb.c keeps per audited relation (the columns' conversions,
-- in a memory context of the backend's cache) goes when the relation is
-- dropped: it was kept for the session, one per table ever recorded.
CREATE ROLE regress_ajc_owner;
GRANT CREATE ON SCHEMA public TO regress_ajc_owner;
SET trovella.isolation_guard = off;
-- in a transaction rolled back, the record numbers given back after: no
-- registration or number is left for later tests (history.sql numbers)
SELECT last_value AS ajc_last, is_called AS ajc_called FROM trovella.audit_seq \gset
BEGIN;
SET ROLE regress_ajc_owner;
CREATE TABLE ajc_a (id int PRIMARY KEY, body text);
CREATE TABLE ajc_b (id int PRIMARY KEY, body text);
SELECT trovella.enable_audit('ajc_a'), trovella.enable_audit('ajc_b');
INSERT INTO ajc_a VALUES (1, 'a');
INSERT INTO ajc_b VALUES (1, 'b');
RESET ROLE;
SELECT count(*) AS kept FROM pg_catalog.pg_backend_memory_contexts WHERE name = 'trovella audited columns';
SET ROLE regress_ajc_owner;
DROP TABLE ajc_a;
-- the next recorded row removes what was kept for the dropped table
INSERT INTO ajc_b VALUES (2, 'b');
RESET ROLE;
SELECT count(*) AS kept_after_drop FROM pg_catalog.pg_backend_memory_contexts WHERE name = 'trovella audited columns';
-- a table changed, not dropped, keeps its entry (made again for its new columns)
SET ROLE regress_ajc_owner;
ALTER TABLE ajc_b ADD COLUMN note text;
INSERT INTO ajc_b VALUES (3, 'b', 'n');
RESET ROLE;
SELECT count(*) AS kept_after_alter FROM pg_catalog.pg_backend_memory_contexts WHERE name = 'trovella audited columns';
SELECT h.new FROM trovella.audit_history h JOIN trovella.audit_table t ON t.id = h.table_id
	WHERE t.name = 'public.ajc_b' AND h.operation = 'I' ORDER BY h.seq DESC LIMIT 1;
ROLLBACK;
SELECT pg_catalog.setval('trovella.audit_seq', :ajc_last, :'ajc_called'::boolean) IS NOT NULL AS numbers_given_back;
REVOKE ALL ON SCHEMA public FROM regress_ajc_owner;
DROP ROLE regress_ajc_owner;
RESET trovella.isolation_guard;
