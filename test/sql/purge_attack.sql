-- trovella.purge_tenant attacked from the caller's search_path (issue 35,
-- point 3).  The procedure has no SET clause (it commits), so every
-- statement it runs as its caller must name what it calls with its schema:
-- a count(*) planted on the operations role's search_path by the
-- application role must neither run as the operations role nor turn the
-- verification's count of a row left behind into 0.
CREATE ROLE regress_pa_owner;
CREATE ROLE regress_pa_app;
CREATE ROLE regress_pa_ops BYPASSRLS IN ROLE pg_read_all_data, pg_write_all_data;
GRANT CREATE ON SCHEMA public TO regress_pa_owner;
GRANT EXECUTE ON FUNCTION trovella.suspend_tenant(uuid, text) TO regress_pa_ops;
GRANT EXECUTE ON PROCEDURE trovella.purge_tenant(uuid, jsonb) TO regress_pa_ops;
SET trovella.isolation_guard = off;
\set A '''aaaaaaaa-0000-0000-0000-0000000000a5'''
SET ROLE regress_pa_owner;
CREATE TABLE pa_item (tenant_id uuid NOT NULL, id int);
SELECT trovella.enable_tenant_isolation('pa_item');
-- not isolated: the verification must find its row and refuse
CREATE TABLE pa_crm (tenant_id uuid, note text);
RESET ROLE;
INSERT INTO pa_item VALUES (:A, 1), (:A, 2);
INSERT INTO pa_crm VALUES (:A, 'lead');
-- the application role's schema, on the operations role's search path
CREATE SCHEMA pa_evil AUTHORIZATION regress_pa_app;
SET ROLE regress_pa_app;
CREATE TABLE pa_evil.seen (who name);
GRANT INSERT ON pa_evil.seen TO PUBLIC;
CREATE FUNCTION pa_evil.zero(bigint) RETURNS bigint LANGUAGE plpgsql AS
$$BEGIN INSERT INTO pa_evil.seen VALUES (current_user); RETURN 0; END$$;
CREATE AGGREGATE pa_evil.count(*) (sfunc = pa_evil.zero, stype = bigint, initcond = '0');
-- and look-alikes of the rest the purge's statements call
CREATE FUNCTION pa_evil.no(uuid, uuid) RETURNS boolean LANGUAGE plpgsql AS
$$BEGIN INSERT INTO pa_evil.seen VALUES (current_user); RETURN false; END$$;
CREATE OPERATOR pa_evil.= (function = pa_evil.no, leftarg = uuid, rightarg = uuid);
CREATE FUNCTION pa_evil.pg_partition_root(regclass) RETURNS regclass LANGUAGE plpgsql AS
$$BEGIN INSERT INTO pa_evil.seen VALUES (current_user); RETURN NULL; END$$;
CREATE FUNCTION pa_evil.session_user() RETURNS name LANGUAGE plpgsql AS
$$BEGIN INSERT INTO pa_evil.seen VALUES (current_user); RETURN 'nobody'; END$$;
CREATE TABLE pa_evil.purge_run (tenant_id uuid);
RESET ROLE;

SET ROLE regress_pa_ops;
SELECT trovella.suspend_tenant(:A, 'left');
SET search_path = pa_evil, pg_catalog, public;
SET client_min_messages = warning;
\set VERBOSITY sqlstate
CALL trovella.purge_tenant(:A);                                      -- 55000: pa_crm keeps a row
\set VERBOSITY default
RESET client_min_messages;
RESET search_path;
RESET ROLE;
-- nothing of the planted aggregate ran; no receipt; the run is kept
SELECT (SELECT count(*) FROM pa_evil.seen) AS planted_calls,
       (SELECT count(*) FROM trovella.purge_receipt WHERE tenant_id = :A) AS receipts,
       (SELECT count(*) FROM trovella.purge_run WHERE tenant_id = :A) AS runs,
       (SELECT count(*) FROM pa_crm) AS crm_rows;

-- While the purge deletes, soft delete deletes for good only the purged
-- tenant's rows of the table being purged: a trigger (or a cascade) that
-- deletes another tenant's row of a soft-delete table meanwhile marks it,
-- as ever.  And a tenant resumed while the purge ran is not erased: the
-- last transaction refuses (55000), keeps the run and writes no receipt.
\set C '''cccccccc-0000-0000-0000-0000000000a5'''
\set D '''dddddddd-0000-0000-0000-0000000000a5'''
GRANT EXECUTE ON FUNCTION trovella.resume_tenant(uuid) TO regress_pa_ops;
SET ROLE regress_pa_owner;
CREATE TABLE pa_note (id int PRIMARY KEY, tenant_id uuid NOT NULL);
SELECT trovella.enable_tenant_isolation('pa_note');
SELECT trovella.enable_soft_delete('pa_note');
CREATE TABLE pa_link (tenant_id uuid NOT NULL, id int);
SELECT trovella.enable_tenant_isolation('pa_link');
-- purged after pa_link: no batch deletes from it once C is resumed
CREATE TABLE pa_later (tenant_id uuid NOT NULL, id int);
SELECT trovella.enable_tenant_isolation('pa_later');
RESET ROLE;
INSERT INTO pa_note VALUES (1, :C), (2, :D);
INSERT INTO pa_link VALUES (:C, 2);
INSERT INTO pa_later VALUES (:C, 1);
-- (pa_note is purged before pa_link: the link's trigger marks D's note,
-- then resumes C, in the purge's last batch of pa_link)
CREATE FUNCTION pa_unlink() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN DELETE FROM public.pa_note WHERE id = OLD.id; PERFORM trovella.resume_tenant(OLD.tenant_id); RETURN OLD; END$$;
CREATE TRIGGER pa_unlink AFTER DELETE ON pa_link FOR EACH ROW EXECUTE FUNCTION pa_unlink();
SET ROLE regress_pa_ops;
SELECT trovella.suspend_tenant(:C, 'left');
SET client_min_messages = warning;
\set VERBOSITY sqlstate
CALL trovella.purge_tenant(:C);                                      -- 55000: resumed meanwhile
\set VERBOSITY default
RESET client_min_messages;
RESET ROLE;
SELECT (SELECT count(*) FROM pa_later WHERE tenant_id = :C) AS c_later_kept,
       (SELECT count(*) FROM pa_note WHERE tenant_id = :D AND deleted_at IS NOT NULL) AS d_note_marked,
       (SELECT count(*) FROM pa_note WHERE tenant_id = :C) AS c_notes,
       (SELECT count(*) FROM trovella.purge_receipt WHERE tenant_id = :C) AS receipts,
       (SELECT count(*) FROM trovella.purge_run WHERE tenant_id = :C) AS runs,
       (SELECT count(*) FROM trovella.suspended_tenant WHERE tenant_id = :C) AS suspended;
DELETE FROM trovella.purge_run WHERE tenant_id = :C;
DROP TABLE pa_note, pa_link, pa_later;
DROP FUNCTION pa_unlink();

-- The verification reads a table whose tenant column is of a domain over
-- uuid too: a ledger trovella does not isolate keeps the tenant's row, and
-- the purge names it instead of writing a receipt.
\set E '''eeeeeeee-0000-0000-0000-0000000000a5'''
CREATE DOMAIN pa_tenant AS uuid;
CREATE DOMAIN pa_tenant2 AS pa_tenant;
CREATE TABLE pa_ledger (tenant_id pa_tenant2, amount int);
INSERT INTO pa_ledger VALUES (:E, 10);
SET ROLE regress_pa_ops;
SELECT trovella.suspend_tenant(:E, 'left');
SET client_min_messages = warning;
CALL trovella.purge_tenant(:E);                                      -- 55000 naming pa_ledger
RESET client_min_messages;
RESET ROLE;
SELECT count(*) AS receipts FROM trovella.purge_receipt WHERE tenant_id = :E;
DELETE FROM trovella.purge_run WHERE tenant_id = :E;
DELETE FROM trovella.suspended_tenant WHERE tenant_id = :E;
SELECT trovella.suspension_changed();
DROP TABLE pa_ledger;
DROP DOMAIN pa_tenant2, pa_tenant;

-- A BEFORE DELETE trigger that keeps the tenant's rows of an isolated
-- table: the verification finds them (55000), says why a table the purge
-- deleted from holds them, keeps the run and writes no receipt.
\set F '''ffffffff-0000-0000-0000-0000000000a5'''
SET ROLE regress_pa_owner;
CREATE TABLE pa_kept (tenant_id uuid NOT NULL, id int);
SELECT trovella.enable_tenant_isolation('pa_kept');
CREATE FUNCTION pa_keep() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$;
CREATE TRIGGER pa_keep BEFORE DELETE ON pa_kept FOR EACH ROW EXECUTE FUNCTION pa_keep();
RESET ROLE;
INSERT INTO pa_kept VALUES (:F, 1);
SET ROLE regress_pa_ops;
SELECT trovella.suspend_tenant(:F, 'left');
SET client_min_messages = warning;
CALL trovella.purge_tenant(:F);                                      -- 55000 naming pa_kept
RESET client_min_messages;
RESET ROLE;
SELECT (SELECT count(*) FROM trovella.purge_receipt WHERE tenant_id = :F) AS receipts,
       (SELECT count(*) FROM trovella.purge_run WHERE tenant_id = :F) AS runs;
DELETE FROM trovella.purge_run WHERE tenant_id = :F;
DELETE FROM trovella.suspended_tenant WHERE tenant_id = :F;
SELECT trovella.suspension_changed();
DROP TABLE pa_kept;
DROP FUNCTION pa_keep();

DELETE FROM trovella.purge_run WHERE tenant_id = :A;
DELETE FROM trovella.purge_receipt WHERE tenant_id = :A;
DELETE FROM trovella.suspended_tenant WHERE tenant_id = :A;
SELECT trovella.suspension_changed();
DROP TABLE pa_item, pa_crm;
SET client_min_messages = warning;
DROP SCHEMA pa_evil CASCADE;
RESET client_min_messages;
DROP OWNED BY regress_pa_owner, regress_pa_app, regress_pa_ops;
DROP ROLE regress_pa_owner, regress_pa_app, regress_pa_ops;
