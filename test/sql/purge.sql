-- Purge with a receipt (issue 35, point 3): trovella.purge_tenant deletes a
-- suspended tenant from every isolated table (foreign-key order, partitions
-- at any depth, soft delete and audit triggers passed), its tokens, audit
-- history, statistics and suspension, verifies that no table with the
-- tenant column holds a row of it, and returns and keeps the receipt.  As
-- the application role, the tables' owner and the operations role.
CREATE ROLE regress_purge_owner;
CREATE ROLE regress_purge_app;
CREATE ROLE regress_purge_ops BYPASSRLS IN ROLE pg_read_all_data, pg_write_all_data;
GRANT CREATE ON SCHEMA public TO regress_purge_owner;
GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid), trovella.with_user(uuid),
	trovella.pat_create(text, timestamptz, text[], uuid) TO regress_purge_app;
GRANT EXECUTE ON FUNCTION trovella.suspend_tenant(uuid, text) TO regress_purge_ops;
GRANT EXECUTE ON FUNCTION trovella.use_membership(regclass, name, name, name), trovella.stop_membership()
	TO regress_purge_owner;
GRANT EXECUTE ON PROCEDURE trovella.purge_tenant(uuid, jsonb) TO regress_purge_ops, regress_purge_owner;
SET trovella.isolation_guard = off;
\set A '''aaaaaaaa-0000-0000-0000-000000000035'''
\set B '''bbbbbbbb-0000-0000-0000-000000000035'''

SET ROLE regress_purge_owner;
CREATE TABLE pu_project (tenant_id uuid NOT NULL, id int, PRIMARY KEY (tenant_id, id));
CREATE TABLE pu_task (tenant_id uuid NOT NULL, id int, project int,
	PRIMARY KEY (tenant_id, id), FOREIGN KEY (tenant_id, project) REFERENCES pu_project);
-- three levels of partitions, referencing the tasks
CREATE TABLE pu_event (tenant_id uuid NOT NULL, at int NOT NULL, task int,
	FOREIGN KEY (tenant_id, task) REFERENCES pu_task) PARTITION BY RANGE (at);
CREATE TABLE pu_event_1 PARTITION OF pu_event FOR VALUES FROM (0) TO (100) PARTITION BY LIST (tenant_id);
CREATE TABLE pu_event_1a PARTITION OF pu_event_1 FOR VALUES IN ('aaaaaaaa-0000-0000-0000-000000000035');
CREATE TABLE pu_event_1b PARTITION OF pu_event_1 DEFAULT;
CREATE TABLE pu_event_2 PARTITION OF pu_event FOR VALUES FROM (100) TO (200);
CREATE INDEX ON pu_event (tenant_id);
CREATE TABLE pu_doc (id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL, title text);
CREATE INDEX ON pu_doc (tenant_id);
SELECT trovella.enable_tenant_isolation(t) FROM unnest('{pu_project,pu_task,pu_event,pu_doc}'::regclass[]) t;
SELECT trovella.enable_soft_delete('pu_doc');
SELECT trovella.enable_audit('pu_project');
-- a table trovella does not isolate, with the tenant column
CREATE TABLE pu_crm (tenant_id uuid, note text);
-- the membership table: purged too
CREATE TABLE pu_member (tenant_id uuid, user_id uuid, UNIQUE (tenant_id, user_id));
SELECT trovella.use_membership('pu_member', 'tenant_id', 'user_id');
RESET ROLE;
INSERT INTO pu_project SELECT t, i FROM unnest(ARRAY[:A, :B]::uuid[]) t, generate_series(1, 3) i;
INSERT INTO pu_task SELECT t, i, 1 + i % 3 FROM unnest(ARRAY[:A, :B]::uuid[]) t, generate_series(1, 5) i;
INSERT INTO pu_event SELECT t, a, 1 FROM unnest(ARRAY[:A, :B]::uuid[]) t, unnest('{5,50,150}'::int[]) a;
INSERT INTO pu_doc (tenant_id, title) SELECT t, 'd' || i FROM unnest(ARRAY[:A, :B]::uuid[]) t, generate_series(1, 2) i;
DELETE FROM pu_doc WHERE title = 'd1';                  -- soft deleted: marked, kept
INSERT INTO pu_crm VALUES (:A, 'lead');
INSERT INTO pu_member SELECT t, '11111111-0000-0000-0000-000000000035' FROM unnest(ARRAY[:A, :B]::uuid[]) t;
SELECT trovella.audit_seal() > 0 AS sealed;
SET ROLE regress_purge_app;
BEGIN;
SELECT trovella.with_user('11111111-0000-0000-0000-000000000035');
SELECT count(*) FROM trovella.pat_create('ci', now() + interval '1 day', '{}', :A);
SELECT count(*) FROM trovella.pat_create('ci', now() + interval '1 day', '{}', :B);
COMMIT;
RESET ROLE;

-- Granted to nobody; a procedure without SECURITY DEFINER or SET clause.
SELECT p.prokind, p.prosecdef, p.proconfig, has_function_privilege('public', p.oid, 'EXECUTE') AS public_may
FROM pg_proc p WHERE p.oid = 'trovella.purge_tenant'::regproc;

\set VERBOSITY sqlstate
SET ROLE regress_purge_app;
CALL trovella.purge_tenant(:A);                                      -- 42501: not granted
SET ROLE regress_purge_ops;
CALL trovella.purge_tenant(NULL);                                    -- 22004
CALL trovella.purge_tenant('00000000-0000-0000-0000-000000000000');  -- 22023
CALL trovella.purge_tenant(:A);                                      -- 55000: not suspended
SELECT trovella.suspend_tenant(:A, 'contract ended');
-- the owner, granted the procedure, is bound by row-level security
SET ROLE regress_purge_owner;
CALL trovella.purge_tenant(:A);                                      -- 42501
SELECT * FROM trovella.purge_run;                                    -- 42501: not readable
\set VERBOSITY default

-- The operations role: every isolated table emptied of tenant a in
-- batches, then the verification finds the row the table trovella does
-- not isolate holds, names it, and the purge does not finish.
-- trovella.purge_batch_pause: a wait after each full batch, once it has
-- committed (here 5 of them: pu_event_1a, pu_doc, pu_task twice,
-- pu_project), 0 to 1 minute
SET ROLE regress_purge_ops;
\set VERBOSITY sqlstate
SET trovella.purge_batch_pause = -1;                                 -- 22023
SET trovella.purge_batch_pause = '2min';                             -- 22023
SET trovella.purge_batch_pause = 'soon';                             -- 22023
SET trovella.purge_batch_rows = 0;                                   -- 22023
\set VERBOSITY default
SET trovella.purge_batch_rows = 2;
SET trovella.purge_batch_pause = '150ms';
SELECT clock_timestamp() AS started \gset
CALL trovella.purge_tenant(:A);
SELECT clock_timestamp() - :'started' >= interval '750ms' AS paused_5_times;
RESET trovella.purge_batch_pause;
RESET ROLE;
SELECT tenant_id, started_by, counts_before, status FROM trovella.purge_run;
-- (history: tenant a's 3 records of its inserts, none of the purge's deletes)
SELECT (SELECT count(*) FROM pu_project WHERE tenant_id = :A) AS projects,
       (SELECT count(*) FROM pu_event WHERE tenant_id = :A) AS events,
       (SELECT count(*) FROM pu_doc WHERE tenant_id = :A) AS docs,
       (SELECT count(*) FROM trovella.audit_history WHERE tenant_id = :A) AS history,
       (SELECT count(*) FROM trovella.suspended_tenant WHERE tenant_id = :A) AS suspended;

-- The operator deletes that row; the next CALL finishes, in a transaction
-- block too (one transaction then), and returns the receipt.
DELETE FROM pu_crm WHERE tenant_id = :A;
SET ROLE regress_purge_ops;
BEGIN;
CALL trovella.purge_tenant(:A, NULL) \gset
COMMIT;
RESET ROLE;
SELECT jsonb_pretty(receipt - '{tenant,started_at,finished_at,digest}'::text[] - 'audit_history')
FROM trovella.purge_receipt;
SELECT receipt->'audit_history'->>'fate' AS fate, (receipt->'audit_history'->>'records')::int > 0 AS had_records,
       receipt->'audit_history'->>'head' IS NOT NULL AS head_kept,
       receipt->>'tenant' = :A AS tenant,
       digest = encode(sha256(convert_to((receipt - 'digest')::text, 'UTF8')), 'hex') AS digest_matches,
       receipt->>'digest' = digest AS digest_in_receipt,
       receipt = :'receipt'::jsonb AS returned,
       purged_by
FROM trovella.purge_receipt;
-- tenant a is gone from everywhere; tenant b is untouched
SELECT (SELECT count(*) FROM pu_project WHERE tenant_id = :A) + (SELECT count(*) FROM pu_task WHERE tenant_id = :A)
     + (SELECT count(*) FROM pu_event WHERE tenant_id = :A) + (SELECT count(*) FROM pu_doc WHERE tenant_id = :A)
     + (SELECT count(*) FROM trovella.personal_access_token WHERE tenant_id = :A)
     + (SELECT count(*) FROM trovella.audit_history WHERE tenant_id = :A)
     + (SELECT count(*) FROM trovella.audit_seal WHERE tenant_id = :A)
     + (SELECT count(*) FROM trovella.suspended_tenant WHERE tenant_id = :A)
     + (SELECT count(*) FROM pu_member WHERE tenant_id = :A)
     + (SELECT count(*) FROM trovella.purge_run) AS left_of_a,
       (SELECT count(*) FROM pu_member WHERE tenant_id = :B) AS b_members,
       (SELECT count(*) FROM trovella.personal_access_token WHERE tenant_id = :B) AS b_tokens,
       (SELECT count(*) FROM pu_project WHERE tenant_id = :B) AS b_projects,
       (SELECT count(*) FROM pu_event WHERE tenant_id = :B) AS b_events,
       (SELECT count(*) FROM pu_doc WHERE tenant_id = :B) AS b_docs,
       (SELECT count(*) FROM trovella.audit_history WHERE tenant_id = :B) AS b_history;
-- A cancel (here the statement timeout) is served during a pause; the run
-- is kept, and the next CALL resumes it and finishes.
SET ROLE regress_purge_ops;
SELECT trovella.suspend_tenant(:B, 'moved away');
SET trovella.purge_batch_pause = '1min';
SET statement_timeout = '3s';
SET client_min_messages = warning;
\set VERBOSITY sqlstate
CALL trovella.purge_tenant(:B);                                      -- 57014
\set VERBOSITY default
RESET statement_timeout;
RESET trovella.purge_batch_pause;
SELECT status FROM trovella.purge_run WHERE tenant_id = :B;
CALL trovella.purge_tenant(:B) \gset
RESET client_min_messages;
SELECT (:'receipt'::jsonb)->>'tenant' = :B AS b_purged,
       (SELECT count(*) FROM pu_project WHERE tenant_id = :B) + (SELECT count(*) FROM pu_task WHERE tenant_id = :B)
     + (SELECT count(*) FROM pu_event WHERE tenant_id = :B) + (SELECT count(*) FROM pu_doc WHERE tenant_id = :B)
     + (SELECT count(*) FROM trovella.purge_run) AS left_of_b;
RESET ROLE;
-- purging again: not suspended any more
\set VERBOSITY sqlstate
SET ROLE regress_purge_ops;
CALL trovella.purge_tenant(:A);                                      -- 55000
RESET ROLE;
\set VERBOSITY default

SET ROLE regress_purge_owner;
SELECT trovella.stop_membership();
RESET ROLE;
DROP TABLE pu_event, pu_doc, pu_task, pu_project, pu_crm, pu_member;
DELETE FROM trovella.purge_receipt;
DELETE FROM trovella.personal_access_token;
DROP OWNED BY regress_purge_owner, regress_purge_app, regress_purge_ops;
DROP ROLE regress_purge_owner, regress_purge_app, regress_purge_ops;
