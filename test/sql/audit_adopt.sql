-- issue 34: on one server, a table owner who drops an audited table, makes
-- it again, writes to it unrecorded and then makes trovella's row trigger
-- by hand, naming the old registration, does not get the registration
-- back: only a Citus conversion's new table takes one over.  The
-- registration stays dropped, and audit_status and health say so.
CREATE ROLE regress_adopt_owner;
GRANT CREATE ON SCHEMA public TO regress_adopt_owner;
SET trovella.isolation_guard = off;
SET ROLE regress_adopt_owner;
CREATE TABLE adopt_a (id int PRIMARY KEY, body text);
SELECT trovella.enable_audit('adopt_a');
INSERT INTO adopt_a VALUES (1, 'recorded');
RESET ROLE;
SELECT id AS adopt_id FROM trovella.audit_table WHERE name = 'public.adopt_a' \gset
SELECT status AS health_before FROM trovella.health WHERE check_name = 'audit';
SET ROLE regress_adopt_owner;
SELECT table_name, enabled, recording FROM trovella.audit_status WHERE name = 'public.adopt_a';
BEGIN;
DROP TABLE adopt_a;
CREATE TABLE adopt_a (id int PRIMARY KEY, body text);
INSERT INTO adopt_a VALUES (2, 'forged, unrecorded');
CREATE TRIGGER trovella_audit AFTER INSERT OR UPDATE OR DELETE ON adopt_a
	FOR EACH ROW EXECUTE FUNCTION trovella.audit_row(:'adopt_id', 'public.adopt_a');
COMMIT;
-- the registration stays dropped: no table, not enabled, not recording
SELECT table_name, enabled, recording FROM trovella.audit_status WHERE name = 'public.adopt_a';
-- the hand-made trigger records nothing: it refuses the write (55000)
\set VERBOSITY sqlstate
INSERT INTO adopt_a VALUES (3, 'after');
\set VERBOSITY default
RESET ROLE;
SELECT count(*) AS forged_rows_recorded FROM trovella.audit_history h
	WHERE h.table_id = :adopt_id AND h.new->>'id' IN ('2', '3');
SELECT count(*) AS relabelled FROM trovella.audit_history h
	WHERE h.table_id = :adopt_id AND h.new->>'command' LIKE '%conversion%';
SELECT status AS health_after FROM trovella.health WHERE check_name = 'audit';
DROP TABLE adopt_a;
REVOKE ALL ON SCHEMA public FROM regress_adopt_owner;
DROP ROLE regress_adopt_owner;
RESET trovella.isolation_guard;
