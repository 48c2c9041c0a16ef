-- Soft delete (trovella.enable_soft_delete): a DELETE marks the row, reads
-- do not see marked rows, and none of the statements an ORM sends fails
-- with 42501 (the RLS trap).  As a non-superuser owner under forced RLS and
-- as an application role that owns nothing.
SET timezone = 'UTC';
SET trovella.isolation_guard = error;

CREATE FUNCTION pg_temp.error_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.error_of(text) TO PUBLIC;

CREATE ROLE regress_sd_owner;
CREATE ROLE regress_sd_app;
GRANT CREATE ON SCHEMA public TO regress_sd_owner;
GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO regress_sd_owner, regress_sd_app;

\set A '''aaaaaaaa-0000-0000-0000-000000000000'''
\set B '''bbbbbbbb-0000-0000-0000-000000000000'''
\set U1 '''11111111-0000-0000-0000-000000000000'''
\set U2 '''22222222-0000-0000-0000-000000000000'''
\set FORGED '''ffffffff-0000-0000-0000-000000000000'''

SET ROLE regress_sd_owner;
BEGIN;
CREATE TABLE docs (id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL,
                   title text NOT NULL, body text, UNIQUE (tenant_id, title));
SELECT trovella.enable_tenant_isolation('docs');
SELECT trovella.enable_standard_columns('docs');
SELECT trovella.enable_soft_delete('docs');
SELECT trovella.enable_soft_delete('docs');                      -- idempotent
COMMIT;
GRANT SELECT, INSERT, UPDATE, DELETE ON docs TO regress_sd_app;
SELECT attname, format_type(atttypid, atttypmod) AS type FROM pg_attribute
WHERE attrelid = 'docs'::regclass AND attname LIKE 'deleted%' ORDER BY attnum;
SELECT polname, polpermissive, polcmd, pg_get_expr(polqual, polrelid) AS using_clause
FROM pg_policy WHERE polrelid = 'docs'::regclass AND polname = 'trovella_soft_delete';
SELECT tgname, tgtype FROM pg_trigger WHERE tgrelid = 'docs'::regclass ORDER BY tgname;
SELECT policy_ok, problems FROM trovella.isolation_status WHERE table_name = 'docs'::regclass;

-- Errors.
-- the caller must own the table (42501), for the purge too
RESET ROLE;
SET ROLE regress_sd_app;
SELECT pg_temp.error_of($$SELECT trovella.enable_soft_delete('docs')$$);
SELECT pg_temp.error_of($$SELECT trovella.disable_soft_delete('docs')$$);
SELECT pg_temp.error_of($$SELECT trovella.purge_deleted('docs', '0')$$);
-- with_deleted outside a transaction block (25P01)
\set VERBOSITY sqlstate
SELECT trovella.with_deleted();
\set VERBOSITY default
RESET ROLE;
SET ROLE regress_sd_owner;
-- a table without row-level security enabled and forced (55000): refused,
-- nothing added
CREATE TABLE plain (id int PRIMARY KEY);
SELECT pg_temp.error_of($$SELECT trovella.enable_soft_delete('plain')$$);
ALTER TABLE plain ENABLE ROW LEVEL SECURITY;
SELECT pg_temp.error_of($$SELECT trovella.enable_soft_delete('plain')$$);
SELECT count(*) AS columns_added FROM pg_attribute WHERE attrelid = 'plain'::regclass AND attname LIKE 'deleted%';
-- restore and purge on a table without soft delete (55000)
SELECT pg_temp.error_of($$SELECT trovella.restore('plain', 1)$$);
SELECT pg_temp.error_of($$SELECT trovella.purge_deleted('plain', '0')$$);
DROP TABLE plain;
-- not a table (42809)
CREATE VIEW docs_view WITH (security_invoker = true) AS SELECT * FROM docs;
SELECT pg_temp.error_of($$SELECT trovella.enable_soft_delete('docs_view')$$);
SELECT pg_temp.error_of($$SELECT trovella.purge_deleted('docs_view', '0')$$);
DROP VIEW docs_view;
-- a column of that name with another type (42804)
CREATE TABLE wrong_type (id int, deleted_by text);
ALTER TABLE wrong_type ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
SELECT pg_temp.error_of($$SELECT trovella.enable_soft_delete('wrong_type')$$);
DROP TABLE wrong_type;
-- a negative retention (22023), a key column that does not exist (42703)
SELECT pg_temp.error_of($$SELECT trovella.purge_deleted('docs', '-1 day')$$);
SELECT pg_temp.error_of($$SELECT trovella.restore('docs', trovella.ulid_uuid(), 'no_such_column')$$);
-- the trigger fired in a way it cannot work (39P01)
CREATE TABLE misfired (id int, deleted_at timestamptz, deleted_by uuid);
CREATE TRIGGER misfired AFTER DELETE ON misfired FOR EACH ROW EXECUTE FUNCTION trovella.soft_delete();
INSERT INTO misfired VALUES (1);
SELECT pg_temp.error_of($$DELETE FROM misfired$$);
DROP TABLE misfired;
RESET ROLE;

-- The trap, first, with a hand-written soft delete: a restrictive SELECT
-- policy that hides deleted rows makes the UPDATE that marks one fail.
SET ROLE regress_sd_owner;
BEGIN;
CREATE TABLE manual (id int PRIMARY KEY, tenant_id uuid NOT NULL, deleted_at timestamptz);
SELECT trovella.enable_tenant_isolation('manual');
CREATE POLICY hide_deleted ON manual AS RESTRICTIVE FOR SELECT USING (deleted_at IS NULL);
COMMIT;
GRANT SELECT, INSERT, UPDATE, DELETE ON manual TO regress_sd_app;
RESET ROLE;
SET ROLE regress_sd_app;
BEGIN;
SELECT trovella.with_tenant(:A, :U1);
INSERT INTO manual (id) VALUES (1);
SELECT pg_temp.error_of($$UPDATE manual SET deleted_at = now() WHERE id = 1$$);
COMMIT;
RESET ROLE;
DROP TABLE manual;

-- The application, as U1 of tenant A.
SET ROLE regress_sd_app;
BEGIN;
SELECT trovella.with_tenant(:A, :U1);
INSERT INTO docs (title, body, deleted_at, deleted_by) VALUES ('plan', 'v1', now(), :FORGED)   -- cleared
RETURNING title, deleted_at, deleted_by;
INSERT INTO docs (title, body) VALUES ('notes', 'v1'), ('draft', 'v1'), ('todo', 'v1');
COMMIT;
BEGIN;
SELECT trovella.with_tenant(:A, :U2);
-- Drizzle's delete(): the row is marked, the statement reports no row
DELETE FROM docs WHERE title = 'draft';
DELETE FROM docs WHERE title = 'todo' RETURNING title;
-- reads no longer see them
SELECT title FROM docs ORDER BY title;
-- update().returning() of a live row
UPDATE docs SET body = 'v2' WHERE title = 'plan' RETURNING title, body, deleted_at;
-- of a marked row: nothing, no error
UPDATE docs SET body = 'v2' WHERE title = 'draft' RETURNING title;
-- an UPDATE without WHERE leaves marked rows alone
UPDATE docs SET body = 'v3';
SAVEPOINT look;
SELECT trovella.with_deleted();
SELECT title, body FROM docs WHERE deleted_at IS NOT NULL ORDER BY title;
ROLLBACK TO SAVEPOINT look;
-- onConflictDoUpdate on a live row: updated
INSERT INTO docs (title, body) VALUES ('notes', 'upserted') ON CONFLICT (tenant_id, title)
DO UPDATE SET body = excluded.body RETURNING title, body, created_by, updated_by;
-- on a marked row: the marked row is really deleted first, and the new
-- row goes in
INSERT INTO docs (title, body) VALUES ('draft', 'reborn') ON CONFLICT (tenant_id, title)
DO UPDATE SET body = excluded.body RETURNING title, body, deleted_at, created_by;
-- a plain INSERT of a marked row's key, likewise
INSERT INTO docs (title, body) VALUES ('todo', 'again') RETURNING title, body;
-- and a duplicate of a live row is still refused (23505)
SELECT pg_temp.error_of($$INSERT INTO docs (title) VALUES ('plan')$$);
-- deleted_at and deleted_by are trovella's (0A000); the same value is fine
SELECT pg_temp.error_of($$UPDATE docs SET deleted_at = now() WHERE title = 'plan'$$);
SELECT pg_temp.error_of($$UPDATE docs SET deleted_by = 'ffffffff-0000-0000-0000-000000000000' WHERE title = 'plan'$$);
UPDATE docs SET deleted_at = NULL WHERE title = 'plan' RETURNING title;
SELECT title, body FROM docs ORDER BY title;
COMMIT;

-- Reading deleted rows: with_deleted() for the rest of the transaction.
BEGIN;
SELECT trovella.with_tenant(:A, :U1);
DELETE FROM docs WHERE title IN ('draft', 'todo');
SELECT title, body FROM docs ORDER BY title;
SAVEPOINT s;
SELECT trovella.with_deleted();
SELECT title, body, deleted_at = now() AS deleted_now, deleted_by, updated_by FROM docs ORDER BY title;
ROLLBACK TO SAVEPOINT s;                                        -- undone with the savepoint
SELECT count(*) AS visible FROM docs;
SELECT trovella.with_deleted();
SELECT count(*) AS visible FROM docs;
-- a DELETE of a row marked already keeps its first mark
DELETE FROM docs WHERE title = 'todo';
SELECT title, deleted_by FROM docs WHERE deleted_at IS NOT NULL ORDER BY title;
COMMIT;
BEGIN;
SELECT trovella.with_tenant(:A, :U1);
SELECT count(*) AS visible_next_transaction FROM docs;
-- restore: a live row, nothing to restore
SELECT trovella.restore('docs', id) AS restored FROM (SELECT id FROM docs WHERE title = 'plan') live;
COMMIT;
BEGIN;
SELECT trovella.with_tenant(:A, :U2);
SELECT trovella.with_deleted();
SELECT id AS draft_id FROM docs WHERE title = 'draft' \gset
COMMIT;
-- tenant B sees none of A's rows, marked or not, and restores none
BEGIN;
SELECT trovella.with_tenant(:B, :U2);
SELECT trovella.with_deleted();
SELECT count(*) AS rows_of_a FROM docs;
SELECT trovella.restore('docs', :'draft_id'::uuid) AS restored_by_b;
DELETE FROM docs;
INSERT INTO docs (title, body) VALUES ('draft', 'b''s own') RETURNING title, body;   -- A's marked row is not B's
COMMIT;
BEGIN;
SELECT trovella.with_tenant(:A, :U2);
SELECT trovella.restore('docs', :'draft_id'::uuid) AS restored;
SELECT title, body, deleted_at, deleted_by, updated_by FROM docs ORDER BY title;
COMMIT;
RESET ROLE;

-- The owner, bound by forced RLS, in a context: the same.
SET ROLE regress_sd_owner;
BEGIN;
SELECT trovella.with_tenant(:A, :U1);
DELETE FROM docs WHERE title = 'notes';
SELECT title FROM docs ORDER BY title;
COMMIT;
-- A superuser without a context marks rows with no user.
RESET ROLE;
DELETE FROM docs WHERE title = 'plan';
SELECT tenant_id, title, deleted_at IS NOT NULL AS deleted, deleted_by FROM docs ORDER BY tenant_id, title;

-- The purge, as a job: the owner, outside any tenant context, every
-- tenant's rows marked longer ago than the retention.
SET ROLE regress_sd_owner;
SELECT trovella.purge_deleted('docs', '1 day') AS purged_after_a_day;
SELECT trovella.purge_deleted('docs', '0') AS purged;
RESET ROLE;
SELECT tenant_id, title, deleted_at IS NOT NULL AS deleted FROM docs ORDER BY tenant_id, title;

-- With the audit trail: the mark is recorded as an UPDATE that sets
-- deleted_at, the restore as one that clears it, the purge as a DELETE
-- by the owner without a user.
RESET ROLE;
GRANT SELECT ON trovella.audit_log, trovella.audit_history TO regress_sd_app;
SET ROLE regress_sd_owner;
BEGIN;
CREATE TABLE audited (id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL, name text);
CREATE INDEX ON audited (tenant_id);
SELECT trovella.enable_tenant_isolation('audited');
SELECT trovella.enable_soft_delete('audited');
SELECT trovella.enable_audit('audited');
COMMIT;
GRANT SELECT, INSERT, UPDATE, DELETE ON audited TO regress_sd_app;
RESET ROLE;
SET ROLE regress_sd_app;
BEGIN;
SELECT trovella.with_tenant(:A, :U1);
INSERT INTO audited (name) VALUES ('gone');
INSERT INTO audited (name) VALUES ('kept') RETURNING id AS kept_id \gset
DELETE FROM audited WHERE name = 'kept';
SELECT trovella.restore('audited', :'kept_id'::uuid) AS restored;
COMMIT;
BEGIN;
SELECT trovella.with_tenant(:A, :U2);
DELETE FROM audited WHERE name = 'gone';
SELECT name FROM audited;
COMMIT;
RESET ROLE;
SET ROLE regress_sd_owner;
SELECT trovella.purge_deleted('audited', '0') AS purged;
RESET ROLE;
SET ROLE regress_sd_app;
BEGIN;
SELECT trovella.with_tenant(:A, :U1);
-- (an UPDATE's record holds the columns it changed; the row's name is in
-- its INSERT's)
SELECT l.operation,
       (SELECT i.new->>'name' FROM trovella.audit_log i
        WHERE i.row_key = l.row_key AND i.operation = 'INSERT') AS name,
       l.old->>'deleted_at' IS NOT NULL AS was_deleted,
       l.new->>'deleted_at' IS NOT NULL AS now_deleted, l.new->>'deleted_by' AS deleted_by, l.user_id, l.role
FROM trovella.audit_log l WHERE l.table_name = 'audited'::regclass ORDER BY l.seq;
COMMIT;
RESET ROLE;
DROP TABLE audited;
REVOKE SELECT ON trovella.audit_log, trovella.audit_history FROM regress_sd_app;

-- Partitions: the trigger cloned to each partition, the policy on each;
-- a partition written and read directly.
SET ROLE regress_sd_owner;
BEGIN;
CREATE TABLE events (id uuid NOT NULL DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL, region text NOT NULL,
                     name text, PRIMARY KEY (tenant_id, region, id)) PARTITION BY LIST (region);
CREATE TABLE events_eu PARTITION OF events FOR VALUES IN ('eu');
CREATE TABLE events_us PARTITION OF events FOR VALUES IN ('us');
SELECT trovella.enable_tenant_isolation('events');
SELECT trovella.enable_soft_delete('events');
COMMIT;
GRANT SELECT, INSERT, UPDATE, DELETE ON events, events_eu, events_us TO regress_sd_app;
SELECT c.relname, count(p.polname) AS soft_delete_policies, count(t.tgname) AS soft_delete_triggers
FROM pg_class c
LEFT JOIN pg_policy p ON p.polrelid = c.oid AND p.polname = 'trovella_soft_delete'
LEFT JOIN pg_trigger t ON t.tgrelid = c.oid AND t.tgname = 'trovella_soft_delete'
WHERE c.relname LIKE 'events%' AND c.relkind IN ('r', 'p') GROUP BY c.relname ORDER BY c.relname;
RESET ROLE;
SET ROLE regress_sd_app;
BEGIN;
SELECT trovella.with_tenant(:A, :U1);
INSERT INTO events (region, name) VALUES ('eu', 'one'), ('us', 'two'), ('us', 'three');
DELETE FROM events WHERE name = 'one';
DELETE FROM events_us WHERE name = 'two';
-- an UPDATE moving a row to another partition moves it; it does not mark
-- it deleted
UPDATE events SET region = 'eu' WHERE name = 'three' RETURNING tableoid::regclass, region, name, deleted_by;
SELECT region, name FROM events ORDER BY name;
SELECT name FROM events_us ORDER BY name;
SELECT trovella.with_deleted();
SELECT region, name, deleted_by FROM events WHERE deleted_at IS NOT NULL ORDER BY name;
COMMIT;
RESET ROLE;
SET ROLE regress_sd_owner;
-- a partition added later has the trigger from its parent; the policy for
-- reading it directly comes with enable_soft_delete run again
BEGIN;
CREATE TABLE events_ap PARTITION OF events FOR VALUES IN ('ap');
SELECT trovella.enable_tenant_isolation('events');
COMMIT;
SELECT count(*) AS policies_before FROM pg_policy WHERE polrelid = 'events_ap'::regclass AND polname = 'trovella_soft_delete';
SELECT trovella.enable_soft_delete('events');
SELECT count(*) AS policies_after, (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'events_ap'::regclass
	AND tgname = 'trovella_soft_delete') AS triggers
FROM pg_policy WHERE polrelid = 'events_ap'::regclass AND polname = 'trovella_soft_delete';
SELECT trovella.purge_deleted('events', '0') AS purged;
RESET ROLE;
SELECT region, name FROM events ORDER BY name;

-- Partitions, the application granted on the partitioned table only (as
-- usual): a DELETE marks the row, an UPDATE that moves a row to another
-- partition moves it (a DELETE and an INSERT to PostgreSQL: it neither marks
-- the row nor loses the update), marked or not, and keeps created_*; an
-- INSERT taking a marked row's key deletes it for good.
SET ROLE regress_sd_owner;
BEGIN;
CREATE TABLE tasks (id int NOT NULL, tenant_id uuid NOT NULL, status text NOT NULL, body text,
                    PRIMARY KEY (tenant_id, id, status)) PARTITION BY LIST (status);
CREATE TABLE tasks_open PARTITION OF tasks FOR VALUES IN ('open');
CREATE TABLE tasks_done PARTITION OF tasks FOR VALUES IN ('done');
CREATE INDEX ON tasks (tenant_id);
SELECT trovella.enable_tenant_isolation('tasks');
SELECT trovella.enable_standard_columns('tasks');
SELECT trovella.enable_soft_delete('tasks');
COMMIT;
GRANT SELECT, INSERT, UPDATE, DELETE ON tasks TO regress_sd_app;
RESET ROLE;
SET ROLE regress_sd_app;
BEGIN;
SELECT trovella.with_tenant(:A, :U1);
INSERT INTO tasks (id, tenant_id, status) VALUES (1, :A, 'open'), (2, :A, 'open'), (3, :A, 'open'), (4, :A, 'open');
COMMIT;
BEGIN;
SELECT trovella.with_tenant(:A, :U2);
SELECT pg_temp.error_of('DELETE FROM tasks WHERE id = 1') AS delete_through_parent;
UPDATE tasks SET status = 'done', body = 'moved' WHERE id IN (2, 3) RETURNING tableoid::regclass, id, body;
SELECT tableoid::regclass, id, status, body, created_by, updated_by FROM tasks ORDER BY id;
-- a marked row moved (with_deleted) stays marked
SELECT trovella.with_deleted();
UPDATE tasks SET status = 'done' WHERE id = 1 RETURNING tableoid::regclass, id, deleted_by;
COMMIT;
BEGIN;
SELECT trovella.with_tenant(:A, :U1);
-- an INSERT taking the marked row's key deletes it for good, through the
-- partitioned table too
INSERT INTO tasks (id, tenant_id, status, body) VALUES (1, :A, 'done', 'again');
-- a DELETE in the same statement as a move of the same row's neighbour marks
WITH moved AS (UPDATE tasks SET status = 'open' WHERE id = 3 RETURNING id)
DELETE FROM tasks WHERE id = 4 AND EXISTS (SELECT 1 FROM moved);
SELECT trovella.with_deleted();
SELECT tableoid::regclass, id, body, deleted_at IS NOT NULL AS deleted, deleted_by, created_by
FROM tasks ORDER BY id, status;
COMMIT;
RESET ROLE;
-- the owner (forced row-level security) moves rows the same way
SET ROLE regress_sd_owner;
BEGIN;
SELECT trovella.with_tenant(:A, :U1);
UPDATE tasks SET status = 'open' WHERE id = 2 RETURNING tableoid::regclass, id, deleted_at IS NOT NULL AS deleted;
DELETE FROM tasks WHERE id = 2;
SELECT trovella.with_deleted();
SELECT tableoid::regclass, id, deleted_by FROM tasks WHERE id = 2;
COMMIT;
-- INHERITS: refused (0A000)
\set VERBOSITY sqlstate
CREATE TABLE tasks_legacy () INHERITS (docs);
\set VERBOSITY default
RESET ROLE;

-- The isolation guard: enable_soft_delete and disable_soft_delete in
-- every mode.
SET trovella.isolation_guard = warn;
SET ROLE regress_sd_owner;
BEGIN;
CREATE TABLE g_warn (tenant_id uuid NOT NULL);
CREATE INDEX ON g_warn (tenant_id);
SELECT trovella.enable_tenant_isolation('g_warn');
SELECT trovella.enable_soft_delete('g_warn');
COMMIT;
RESET ROLE;
SET trovella.isolation_guard = auto;
SET ROLE regress_sd_owner;
BEGIN;
CREATE TABLE g_auto (tenant_id uuid NOT NULL);
CREATE INDEX ON g_auto (tenant_id);
COMMIT;
SELECT trovella.enable_soft_delete('g_auto');
SELECT trovella.disable_soft_delete('g_auto');
RESET ROLE;
SET trovella.isolation_guard = error;
SET ROLE regress_sd_owner;
SELECT trovella.disable_soft_delete('g_warn');
SELECT trovella.enable_soft_delete('g_warn');
SELECT table_name, policy_ok, problems FROM trovella.isolation_status WHERE table_name::text LIKE 'g\_%' ORDER BY 1;
DROP TABLE g_warn, g_auto;

-- disable: DELETE removes rows again, and marked rows are read again.
BEGIN;
SELECT trovella.with_tenant(:A, :U1);
DELETE FROM docs WHERE title = 'draft';
COMMIT;
SELECT trovella.disable_soft_delete('docs');
SELECT count(*) AS soft_delete_objects FROM pg_trigger WHERE tgrelid = 'docs'::regclass AND tgname = 'trovella_soft_delete';
BEGIN;
SELECT trovella.with_tenant(:A, :U1);
SELECT title, deleted_at IS NOT NULL AS deleted FROM docs ORDER BY title;
DELETE FROM docs WHERE title = 'draft';
SELECT title FROM docs ORDER BY title;
COMMIT;
SELECT trovella.disable_soft_delete('docs');                    -- idempotent
RESET ROLE;

DROP TABLE docs, events, tasks CASCADE;
REVOKE ALL ON SCHEMA public FROM regress_sd_owner;
REVOKE ALL ON FUNCTION trovella.with_tenant(uuid, uuid) FROM regress_sd_owner, regress_sd_app;
DROP OWNED BY regress_sd_owner, regress_sd_app;
DROP ROLE regress_sd_owner, regress_sd_app;
