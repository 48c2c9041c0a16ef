-- The audit trail (0.5.0): trovella.enable_audit records every change of a
-- table in trovella.audit_history, attributed from what no client can set,
-- readable by a tenant for its own rows only, append-only for every role
-- but a superuser, and sealed into one hash chain per tenant.
CREATE ROLE regress_hist_owner;
CREATE ROLE regress_hist_app;
CREATE ROLE regress_hist_ops BYPASSRLS;
CREATE ROLE regress_hist_stranger;
GRANT CREATE ON SCHEMA public TO regress_hist_owner, regress_hist_stranger;
GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO regress_hist_owner, regress_hist_app;
GRANT SELECT ON trovella.audit_log, trovella.audit_history TO regress_hist_app, regress_hist_owner, regress_hist_ops;
GRANT EXECUTE ON FUNCTION trovella.audit_seal(), trovella.audit_head(uuid), trovella.audit_verify(uuid, text)
	TO regress_hist_ops;
\set a '''aaaaaaaa-0000-0000-0000-000000000000'''
\set b '''bbbbbbbb-0000-0000-0000-000000000000'''
\set alice '''11111111-0000-0000-0000-000000000000'''
\set bob '''22222222-0000-0000-0000-000000000000'''
SET trovella.isolation_guard = error;

SET ROLE regress_hist_owner;
BEGIN;
CREATE TABLE hist_project (
	id int NOT NULL,
	tenant_id uuid NOT NULL,
	name text NOT NULL,
	budget numeric,
	PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ON hist_project (tenant_id);
SELECT trovella.enable_tenant_isolation('hist_project');
SELECT trovella.enable_audit('hist_project');
COMMIT;
GRANT SELECT, INSERT, UPDATE, DELETE ON hist_project TO regress_hist_app;
-- idempotent
SELECT trovella.enable_audit('hist_project');
SELECT table_name, enabled, recording FROM trovella.audit_status;
-- trovella's triggers are no problem of the table's isolation
SELECT problems FROM trovella.isolation_status WHERE table_name = 'hist_project'::regclass;
SELECT table_name, problems FROM trovella.isolation_status WHERE table_name = 'trovella.audit_history'::regclass;

-- Refused, each with its SQLSTATE, changing nothing
\set VERBOSITY sqlstate
CREATE VIEW hist_view AS SELECT * FROM hist_project;
SELECT trovella.enable_audit('hist_view');                    -- 42809
SELECT trovella.enable_audit('trovella.audit_history');       -- 0A000 (the owner of nothing there: 42501 first)
SELECT trovella.enable_audit(0::oid::regclass);               -- 42P01
SELECT trovella.disable_audit('trovella.audit_table');        -- 42501
RESET ROLE;
SELECT trovella.enable_audit('trovella.audit_history');       -- 0A000
SET ROLE regress_hist_stranger;
SELECT trovella.enable_audit('hist_project');                 -- 42501: not the owner
SELECT trovella.disable_audit('hist_project');                -- 42501
\set VERBOSITY default
RESET ROLE;

-- The application writes in tenant a's context, as alice
SET ROLE regress_hist_app;
BEGIN;
SELECT trovella.with_tenant(:a, :alice);
INSERT INTO hist_project VALUES (1, :a, 'apollo', 100), (2, :a, 'gemini', NULL);
INSERT INTO hist_project VALUES (1, :a, 'again', 0) ON CONFLICT DO NOTHING;   -- nothing happened: no record
UPDATE hist_project SET budget = 150 WHERE id = 1;
DELETE FROM hist_project WHERE id = 2;
COMMIT;
BEGIN;
SELECT trovella.with_tenant(:b, :bob);
INSERT INTO hist_project VALUES (3, :b, 'mercury', 5);
COMMIT;

-- tenant a reads its own history, and nobody else's
BEGIN;
SELECT trovella.with_tenant(:a, :alice);
SELECT table_name, operation, row_key, tenant_id, user_id, role, login_role = session_user AS login_is_session,
       xact = pg_current_xact_id() AS this_xact, old, new
FROM trovella.audit_log ORDER BY seq;
SELECT count(*) FROM trovella.audit_history WHERE tenant_id <> :a;
COMMIT;
BEGIN;
SELECT trovella.with_tenant(:b, :bob);
SELECT operation, row_key, tenant_id, user_id FROM trovella.audit_log ORDER BY seq;
COMMIT;
-- no context: fails closed
\set VERBOSITY sqlstate
SELECT count(*) FROM trovella.audit_log;                       -- 42501
\set VERBOSITY default
RESET ROLE;

-- Attribution cannot be forged.
-- set_config of the context's setting is refused (the context stays alice's)
SET ROLE regress_hist_app;
BEGIN;
SELECT trovella.with_tenant(:a, :alice);
\set VERBOSITY sqlstate
SELECT set_config('trovella.user_id', :bob, true);             -- 42501
\set VERBOSITY default
ROLLBACK;
RESET ROLE;
-- SET ROLE: the record names the role set and the login role, and the
-- user of the sealed context, whatever the role
BEGIN;
SET LOCAL ROLE regress_hist_app;
SELECT trovella.with_tenant(:a, :alice);
SET LOCAL ROLE regress_hist_owner;
UPDATE hist_project SET name = 'apollo 11' WHERE id = 1;
SET LOCAL ROLE regress_hist_app;
SELECT role, login_role = session_user AS login_is_session, user_id FROM trovella.audit_log
WHERE xact = pg_current_xact_id();
COMMIT;
-- a SECURITY DEFINER function runs as its owner: the record says so, and
-- keeps the caller's context user
SET ROLE regress_hist_owner;
CREATE FUNCTION hist_rename(p_id int, p_name text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp
AS $$ UPDATE hist_project SET name = p_name WHERE id = p_id $$;
GRANT EXECUTE ON FUNCTION hist_rename(int, text) TO regress_hist_app;
SET ROLE regress_hist_app;
BEGIN;
SELECT trovella.with_tenant(:a, :alice);
SELECT hist_rename(1, 'apollo 13');
SELECT operation, role, user_id, new->>'name' AS name FROM trovella.audit_log
WHERE xact = pg_current_xact_id();
COMMIT;
RESET ROLE;
-- a job without a context (an operations role): no user, the role named,
-- each record in its row's tenant's history
GRANT SELECT, UPDATE ON hist_project TO regress_hist_ops;
SET ROLE regress_hist_ops;
UPDATE hist_project SET budget = budget * 2;
SELECT operation, row_key, tenant_id, user_id, role FROM trovella.audit_log
WHERE role = 'regress_hist_ops' ORDER BY seq;
RESET ROLE;

-- The history is append-only: the application, the owner and the
-- operations role can neither write nor erase it, nor forge a record
\set VERBOSITY sqlstate
SET ROLE regress_hist_app;
BEGIN;
SELECT trovella.with_tenant(:a, :alice);
UPDATE trovella.audit_history SET user_id = :bob;              -- 42501
ROLLBACK;
BEGIN;
SELECT trovella.with_tenant(:a, :alice);
DELETE FROM trovella.audit_history;                            -- 42501
ROLLBACK;
BEGIN;
SELECT trovella.with_tenant(:a, :alice);
INSERT INTO trovella.audit_history (tenant_id, table_id, operation, role, login_role, xact, at, hash)
VALUES (:a, 1, 'I', 'x', 'x', '1', now(), '\x00');           -- 42501
ROLLBACK;
TRUNCATE trovella.audit_history;                               -- 42501
SELECT trovella.audit_seal();                                  -- 42501: not granted
RESET ROLE;
SET ROLE regress_hist_owner;
UPDATE trovella.audit_history SET user_id = NULL;              -- 42501
DELETE FROM trovella.audit_history;                            -- 42501
TRUNCATE trovella.audit_history;                               -- 42501
UPDATE trovella.audit_seal SET digest = '\x00';                -- 42501
DELETE FROM trovella.audit_table;                              -- 42501
ALTER TABLE trovella.audit_history DISABLE ROW LEVEL SECURITY; -- 42501
-- the trigger function is no way in either
SELECT trovella.audit_row();                                   -- 39P01: not called as a trigger
CREATE TABLE hist_fake (id int PRIMARY KEY, tenant uuid);
CREATE TRIGGER fake AFTER INSERT ON hist_fake FOR EACH ROW EXECUTE FUNCTION trovella.audit_row();
INSERT INTO hist_fake VALUES (1, :a);                          -- 55000: not audited
SELECT count(*) FROM hist_fake;
CREATE TRIGGER fake_before BEFORE UPDATE ON hist_fake FOR EACH ROW EXECUTE FUNCTION trovella.audit_row();
SELECT trovella.enable_audit('hist_fake');
INSERT INTO hist_fake VALUES (1, :a);
UPDATE hist_fake SET id = 2;                                   -- 39P01: not AFTER
DROP TABLE hist_fake;
RESET ROLE;
SET ROLE regress_hist_ops;
UPDATE trovella.audit_history SET user_id = NULL;              -- 42501
DELETE FROM trovella.audit_history;                            -- 42501
RESET ROLE;
\set VERBOSITY default

-- A table the writer makes up cannot put records into another tenant's
-- history: a temporary table is refused; in a table trovella does not
-- isolate, the tenant column says whatever the writer wrote, so its
-- records are of no tenant
SET ROLE regress_hist_app;
CREATE TEMP TABLE hist_mine (id int PRIMARY KEY, tenant_id uuid);
\set VERBOSITY sqlstate
SELECT trovella.enable_audit('pg_temp.hist_mine');             -- 0A000
\set VERBOSITY default
DROP TABLE pg_temp.hist_mine;
RESET ROLE;
SET trovella.isolation_guard = off;
SET ROLE regress_hist_stranger;
CREATE TABLE hist_stranger (id int PRIMARY KEY, tenant_id uuid);
SELECT trovella.enable_audit('hist_stranger');
INSERT INTO hist_stranger VALUES (1, :b);
RESET ROLE;
SET trovella.isolation_guard = error;
SELECT h.tenant_id, h.operation FROM trovella.audit_history h
JOIN trovella.audit_table t ON t.id = h.table_id WHERE t.name = 'public.hist_stranger';
SET ROLE regress_hist_app;
BEGIN;
SELECT trovella.with_tenant(:b, :bob);
SELECT count(*) AS not_b FROM trovella.audit_log WHERE table_text = 'public.hist_stranger';
COMMIT;
RESET ROLE;
DROP TABLE hist_stranger;

-- Inheritance (not partitioning): a child of INHERITS gets none of its
-- parent's triggers, so neither side may be audited
SET ROLE regress_hist_owner;
\set VERBOSITY sqlstate
CREATE TABLE hist_legacy () INHERITS (hist_project);              -- 0A000
BEGIN;
CREATE TABLE hist_legacy (id int NOT NULL, tenant_id uuid NOT NULL, name text NOT NULL, budget numeric);
SELECT trovella.enable_tenant_isolation('hist_legacy');
COMMIT;
ALTER TABLE hist_legacy INHERIT hist_project;                     -- 0A000
CREATE TABLE hist_base (id int PRIMARY KEY, note text);
CREATE TABLE hist_derived () INHERITS (hist_base);
SELECT trovella.enable_audit('hist_base');                       -- 0A000
SELECT trovella.enable_audit('hist_derived');                    -- 0A000
\set VERBOSITY default
DROP TABLE hist_legacy, hist_base, hist_derived;
RESET ROLE;

-- A look-alike of trovella's trigger (same name, a WHEN that never holds)
-- is not recording, and enable_audit puts trovella's back
SET ROLE regress_hist_owner;
DROP TRIGGER trovella_audit ON hist_project;
CREATE TRIGGER trovella_audit AFTER INSERT OR UPDATE OR DELETE ON hist_project
	FOR EACH ROW WHEN (false) EXECUTE FUNCTION trovella.audit_row();
COMMENT ON TRIGGER trovella_audit ON hist_project IS 'trovella: reviewed';
SELECT recording FROM trovella.audit_status WHERE table_name = 'hist_project'::regclass;
RESET ROLE;
SELECT status FROM trovella.health WHERE check_name = 'audit';
SET ROLE regress_hist_owner;
SELECT trovella.enable_audit('hist_project');
SELECT recording FROM trovella.audit_status WHERE table_name = 'hist_project'::regclass;
SELECT tgqual IS NULL AS no_when FROM pg_trigger WHERE tgrelid = 'hist_project'::regclass AND tgname = 'trovella_audit';
-- trovella's trigger names the table's registration (a Citus worker, which
-- has no registry, reads it there); one that names another is a look-alike
SELECT g.tgargs = convert_to(t.id::text, 'UTF8') || '\x00'::bytea || convert_to(t.name, 'UTF8') || '\x00'::bytea AS names_registration
FROM pg_trigger g JOIN trovella.audit_table t ON t.relid = g.tgrelid
WHERE g.tgrelid = 'hist_project'::regclass AND g.tgname = 'trovella_audit';
DROP TRIGGER trovella_audit ON hist_project;
CREATE TRIGGER trovella_audit AFTER INSERT OR UPDATE OR DELETE ON hist_project
	FOR EACH ROW EXECUTE FUNCTION trovella.audit_row('999');
SELECT recording FROM trovella.audit_status WHERE table_name = 'hist_project'::regclass;
SELECT trovella.enable_audit('hist_project');
SELECT recording FROM trovella.audit_status WHERE table_name = 'hist_project'::regclass;
-- a renamed table: its trigger names the old name, so it is reported not
-- recorded (on Citus a worker refuses its shards' writes) until
-- enable_audit names it again
ALTER TABLE hist_project RENAME TO hist_project_renamed;
SELECT recording FROM trovella.audit_status WHERE table_name = 'hist_project_renamed'::regclass;
SELECT trovella.enable_audit('hist_project_renamed');
SELECT recording, name FROM trovella.audit_status WHERE table_name = 'hist_project_renamed'::regclass;
ALTER TABLE hist_project_renamed RENAME TO hist_project;
SELECT trovella.enable_audit('hist_project');
RESET ROLE;

-- Turning recording off and on again is itself in the history (of no
-- tenant, for the operators): the gap shows
SET ROLE regress_hist_owner;
ALTER TABLE hist_project DISABLE TRIGGER trovella_audit;
ALTER TABLE hist_project ENABLE TRIGGER trovella_audit;
ALTER TRIGGER trovella_audit ON hist_project RENAME TO quiet;
ALTER TRIGGER quiet ON hist_project RENAME TO trovella_audit;
RESET ROLE;
SELECT operation, tenant_id, role, new->>'command' AS command, new->'recording' AS recording
FROM trovella.audit_log WHERE operation = 'AUDIT' AND table_text = 'public.hist_project' ORDER BY seq;

-- TRUNCATE is recorded, in the history of no tenant
SET ROLE regress_hist_owner;
CREATE TABLE hist_scratch (id int PRIMARY KEY, note text);
SELECT trovella.enable_audit('hist_scratch');
INSERT INTO hist_scratch VALUES (1, 'x');
TRUNCATE hist_scratch;
RESET ROLE;
SELECT h.operation, h.row_key, h.tenant_id, h.role FROM trovella.audit_history h
JOIN trovella.audit_table t ON t.id = h.table_id WHERE t.name = 'public.hist_scratch' ORDER BY h.seq;

-- ... and read by no role that row-level security binds, not even in the
-- nil uuid's context (the owner's for maintenance)
SELECT count(*) > 0 AS exist FROM trovella.audit_history WHERE tenant_id = '00000000-0000-0000-0000-000000000000';
SET ROLE regress_hist_app;
BEGIN;
SELECT trovella.with_tenant('00000000-0000-0000-0000-000000000000');
SELECT count(*) FROM trovella.audit_log;
ROLLBACK;
RESET ROLE;

-- A row moved to another tenant (by a role RLS does not bind) is in both
-- tenants' history
BEGIN;
UPDATE hist_project SET tenant_id = :b WHERE id = 1;
SELECT tenant_id, operation, old->>'tenant_id' AS old_tenant, new->>'tenant_id' AS new_tenant
FROM trovella.audit_history WHERE xact = pg_current_xact_id() ORDER BY seq;
COMMIT;
UPDATE hist_project SET tenant_id = :a WHERE id = 1;

-- Partitions: enable on the partitioned table; a partition written
-- directly, and one created later, are recorded under its name
SET ROLE regress_hist_owner;
BEGIN;
CREATE TABLE hist_event (id int, tenant_id uuid NOT NULL, at date NOT NULL, PRIMARY KEY (id, at))
	PARTITION BY RANGE (at);
CREATE TABLE hist_event_2026 PARTITION OF hist_event FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE INDEX ON hist_event (tenant_id);
SELECT trovella.enable_tenant_isolation('hist_event');
SELECT trovella.enable_audit('hist_event');
COMMIT;
\set VERBOSITY sqlstate
SELECT trovella.enable_audit('hist_event_2026');               -- 42710: recorded through hist_event
\set VERBOSITY default
BEGIN;
CREATE TABLE hist_event_2027 PARTITION OF hist_event FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
SELECT trovella.enable_tenant_isolation('hist_event_2027');
COMMIT;
SELECT table_name, recording FROM trovella.audit_status WHERE table_name = 'hist_event'::regclass;
-- one attached: the same
BEGIN;
CREATE TABLE hist_event_2028 (id int, tenant_id uuid NOT NULL, at date NOT NULL, PRIMARY KEY (id, at));
ALTER TABLE hist_event ATTACH PARTITION hist_event_2028 FOR VALUES FROM ('2028-01-01') TO ('2029-01-01');
COMMIT;
SELECT tgname, tgparentid <> 0 AS cloned FROM pg_trigger WHERE tgrelid = 'hist_event_2028'::regclass ORDER BY tgname;
SELECT table_name, recording FROM trovella.audit_status WHERE table_name = 'hist_event'::regclass;
-- other ALTER TABLEs leave the triggers alone (a restore creates them
-- itself, after its ALTER TABLE ... ADD CONSTRAINT)
ALTER TABLE hist_event_2028 DISABLE TRIGGER trovella_audit_truncate;
ALTER TABLE hist_event ADD CONSTRAINT hist_event_positive CHECK (id > 0);
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'hist_event_2028'::regclass AND tgname = 'trovella_audit_truncate';
ALTER TABLE hist_event_2028 ENABLE TRIGGER trovella_audit_truncate;
BEGIN;
SELECT trovella.with_tenant(:a);
INSERT INTO hist_event_2026 VALUES (1, :a, '2026-05-01');
INSERT INTO hist_event VALUES (2, :a, '2027-05-01');
COMMIT;
TRUNCATE hist_event_2027;
-- a partition with its trigger disabled: not recording
ALTER TABLE hist_event_2026 DISABLE TRIGGER trovella_audit;
SELECT recording FROM trovella.audit_status WHERE table_name = 'hist_event'::regclass;
RESET ROLE;
SELECT status, detail FROM trovella.health WHERE check_name = 'audit';   -- the same judgement
SET ROLE regress_hist_owner;
SELECT trovella.enable_audit('hist_event');                    -- enables it again
SELECT recording FROM trovella.audit_status WHERE table_name = 'hist_event'::regclass;
RESET ROLE;
SELECT status, detail FROM trovella.health WHERE check_name = 'audit';
SELECT t.relid AS table_name, h.operation, h.row_key, h.tenant_id FROM trovella.audit_history h
JOIN trovella.audit_table t ON t.id = h.table_id WHERE t.relid = 'hist_event'::regclass AND h.operation <> 'A' ORDER BY h.seq;

-- Tamper evidence: seal, hand out the head, verify
SET ROLE regress_hist_ops;
SELECT trovella.audit_seal() > 0 AS sealed;
SELECT trovella.audit_seal() AS nothing_new;
SELECT trovella.audit_head(:a) AS head_a \gset
SELECT :'head_a' ~ '^trovella-audit-head:1:aaaaaaaa-0000-0000-0000-000000000000:1:[0-9a-f]{64}$' AS head_format;
SELECT ok, seals, records > 0 AS has_records, unsealed, broken_seal, broken_seq, problem
FROM trovella.audit_verify(:a, :'head_a');
SELECT ok, seals FROM trovella.audit_verify(NULL);             -- the history of no tenant
SELECT ok, seals, records FROM trovella.audit_verify('cccccccc-0000-0000-0000-000000000000');
\set VERBOSITY sqlstate
SELECT * FROM trovella.audit_verify(:b, :'head_a');            -- 22023: another tenant's head
SELECT * FROM trovella.audit_verify(:a, 'trovella-audit-head:1:aaaaaaaa-0000-0000-0000-000000000000:1:abc'); -- 22023
SELECT * FROM trovella.audit_verify(:a, 'nonsense');           -- 22023
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT trovella.audit_seal();                                  -- 25000
ROLLBACK;
\set VERBOSITY default
RESET ROLE;
-- a transaction that wrote records cannot seal them (it would miss its own)
\set VERBOSITY sqlstate
BEGIN;
INSERT INTO hist_scratch VALUES (2, 'y');
SELECT trovella.audit_seal();                                  -- 25000
ROLLBACK;
\set VERBOSITY default
-- more records after the seal: unsealed, then sealed into seal 2
SET ROLE regress_hist_app;
BEGIN;
SELECT trovella.with_tenant(:a, :alice);
INSERT INTO hist_project VALUES (4, :a, 'skylab', 1);
COMMIT;
SET ROLE regress_hist_ops;
SELECT ok, seals, unsealed FROM trovella.audit_verify(:a, :'head_a');
SELECT trovella.audit_seal();
SELECT ok, seals, unsealed FROM trovella.audit_verify(:a, :'head_a');
SELECT trovella.audit_head(:a) AS head_a2 \gset
SELECT :'head_a2' ~ ':2:[0-9a-f]{64}$' AS second_seal;
RESET ROLE;

-- A superuser's edits are caught: a changed record ...
BEGIN;
UPDATE trovella.audit_history SET new = jsonb_set(new, '{budget}', '1000000')
WHERE tenant_id = :a AND operation = 'I' AND row_key = '1';
SELECT ok, broken_seal, broken_seq IS NOT NULL AS names_record, problem FROM trovella.audit_verify(:a);
ROLLBACK;
-- ... a removed record ...
BEGIN;
DELETE FROM trovella.audit_history WHERE tenant_id = :a AND operation = 'D';
SELECT ok, broken_seal, problem FROM trovella.audit_verify(:a);
ROLLBACK;
-- ... a record slipped in among sealed ones ...
BEGIN;
INSERT INTO trovella.audit_history
SELECT 2, tenant_id, table_id, operation, row_key, user_id, role, login_role, xact, at, old, new, hash
FROM trovella.audit_history WHERE tenant_id = :a ORDER BY seq LIMIT 1;
SELECT ok, broken_seal, problem FROM trovella.audit_verify(:a);
ROLLBACK;
-- ... and a history rewritten whole, hashes and seals recomputed, against
-- the head handed out before
BEGIN;
DELETE FROM trovella.audit_history WHERE tenant_id = :a AND operation = 'D';
DELETE FROM trovella.audit_seal;
SELECT trovella.audit_seal() > 0 AS resealed;
SELECT ok, seals FROM trovella.audit_verify(:a);                 -- consistent on its own
SELECT ok, broken_seal, problem FROM trovella.audit_verify(:a, :'head_a');
ROLLBACK;
-- a removed seal: the last one (the head handed out after it says so),
-- one in the middle
BEGIN;
DELETE FROM trovella.audit_seal WHERE tenant_id = :a AND seal_no = 2;
SELECT ok, unsealed FROM trovella.audit_verify(:a, :'head_a');  -- the older head cannot tell
SELECT ok, broken_seal, problem FROM trovella.audit_verify(:a, :'head_a2');
ROLLBACK;
BEGIN;
DELETE FROM trovella.audit_seal WHERE tenant_id = :a AND seal_no = 1;
SELECT ok, broken_seal, problem FROM trovella.audit_verify(:a);
ROLLBACK;
SELECT ok FROM trovella.audit_verify(:a, :'head_a2');

-- disable_audit: no more records, the history kept, the status says so
SET ROLE regress_hist_owner;
SELECT trovella.disable_audit('hist_scratch');
INSERT INTO hist_scratch VALUES (3, 'z');
SELECT table_name, enabled, recording FROM trovella.audit_status WHERE name = 'public.hist_scratch';
SELECT tgname FROM pg_trigger WHERE tgrelid = 'hist_scratch'::regclass;
-- a dropped table: its records keep its name; its OID is forgotten, so
-- a table given the same OID later is not taken for it
DROP TABLE hist_scratch;
RESET ROLE;
SELECT table_name, name, enabled FROM trovella.audit_status WHERE name = 'public.hist_scratch';
SELECT operation, table_name, table_text, new->>'command' AS command FROM trovella.audit_log
WHERE table_text = 'public.hist_scratch' ORDER BY seq;

-- An UPDATE's record holds the columns it changed, of any type: a column
-- whose two values are the same datum is left out before any jsonb is
-- built, the others compared as jsonb (12.50 and 12.500 differ as jsonb, a
-- long value set to itself does not).  A record's hash covers its jsonb's
-- binary form: rewritten from their text, as a restore writes them, the
-- records still verify
SET ROLE regress_hist_owner;
CREATE TABLE hist_values (id int PRIMARY KEY, amount numeric, ratio float8, doc jsonb,
	tags text[], at timestamptz, note text, big text);
SELECT trovella.enable_audit('hist_values');
INSERT INTO hist_values VALUES (1, 12.50, 1.5e-10, '{"b": [1, 2.0, {"c": null}], "a": "x\"y"}',
	'{x,"y z"}', '2026-01-02 03:04:05.678+00', NULL, repeat('long ', 3000));
UPDATE hist_values SET amount = 12.500, note = 'now set', tags = '{x}' WHERE id = 1;
UPDATE hist_values SET note = NULL, ratio = 1e21, doc = doc || '{"d": -0.0}' WHERE id = 1;
UPDATE hist_values SET big = big || '', doc = doc, at = at WHERE id = 1;
UPDATE hist_values SET big = 'short' WHERE id = 1;
DELETE FROM hist_values;
RESET ROLE;
SELECT h.operation, h.old - 'big' AS old, h.new - 'big' AS new,
       length(h.old->>'big') AS old_big, length(h.new->>'big') AS new_big
FROM trovella.audit_history h JOIN trovella.audit_table t ON t.id = h.table_id
WHERE t.name = 'public.hist_values' ORDER BY h.seq;
SELECT trovella.audit_seal() > 0 AS sealed;
BEGIN;
UPDATE trovella.audit_history SET old = old::text::jsonb, new = new::text::jsonb
WHERE table_id = (SELECT id FROM trovella.audit_table WHERE name = 'public.hist_values');
SELECT ok, broken_seq, problem FROM trovella.audit_verify(NULL);
UPDATE trovella.audit_history SET new = new || '{"amount": 12.5000}'
WHERE table_id = (SELECT id FROM trovella.audit_table WHERE name = 'public.hist_values')
  AND operation = 'I';
SELECT ok, broken_seq IS NOT NULL AS broken FROM trovella.audit_verify(NULL);
ROLLBACK;
DROP TABLE hist_values;

RESET trovella.isolation_guard;
DROP VIEW hist_view;
DROP TABLE hist_project, hist_event;
DROP FUNCTION hist_rename(int, text);
TRUNCATE trovella.audit_history, trovella.audit_seal;
DELETE FROM trovella.audit_table;
REVOKE ALL ON trovella.audit_log, trovella.audit_history FROM regress_hist_app, regress_hist_owner, regress_hist_ops;
REVOKE ALL ON FUNCTION trovella.audit_seal(), trovella.audit_head(uuid), trovella.audit_verify(uuid, text)
	FROM regress_hist_ops;
REVOKE ALL ON FUNCTION trovella.with_tenant(uuid, uuid) FROM regress_hist_owner, regress_hist_app;
REVOKE ALL ON SCHEMA public FROM regress_hist_owner, regress_hist_stranger;
DROP ROLE regress_hist_owner, regress_hist_app, regress_hist_ops, regress_hist_stranger;
