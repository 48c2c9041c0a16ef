-- Export (issue 35, point 2): export_tenant gives every row of one tenant
-- from every isolated table (a partitioned table once, through its root;
-- soft-deleted rows too) and its audit history, then a manifest.  Run by
-- the operations role; the application role and the owner (whom forced
-- row-level security binds) are refused.
SET timezone = 'UTC';
SET trovella.isolation_guard = off;
CREATE ROLE regress_exp_owner;
CREATE ROLE regress_exp_app;
CREATE ROLE regress_exp_ops BYPASSRLS IN ROLE pg_read_all_data;
GRANT CREATE ON SCHEMA public TO regress_exp_owner, regress_exp_ops;
CREATE SCHEMA regress_exp_planted AUTHORIZATION regress_exp_ops;
GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO regress_exp_owner, regress_exp_app;
GRANT EXECUTE ON FUNCTION trovella.export_tenant(uuid, bigint) TO regress_exp_ops, regress_exp_owner;

\set A '''aaaaaaaa-0000-0000-0000-00000000e035'''
\set B '''bbbbbbbb-0000-0000-0000-00000000e035'''

SET ROLE regress_exp_owner;
CREATE TABLE exp_docs (id int PRIMARY KEY, tenant_id uuid NOT NULL, title text);
CREATE INDEX ON exp_docs (tenant_id);
SELECT trovella.enable_tenant_isolation('exp_docs');
SELECT trovella.enable_soft_delete('exp_docs');
CREATE TABLE exp_events (tenant_id uuid NOT NULL, at date NOT NULL, kind text NOT NULL, n int)
	PARTITION BY RANGE (at);
CREATE INDEX ON exp_events (tenant_id);
SELECT trovella.enable_tenant_isolation('exp_events');
CREATE TABLE exp_events_2026 PARTITION OF exp_events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')
	PARTITION BY LIST (kind);
CREATE TABLE exp_events_2026_a PARTITION OF exp_events_2026 FOR VALUES IN ('a');
CREATE TABLE exp_events_2026_b PARTITION OF exp_events_2026 FOR VALUES IN ('b');
CREATE TABLE exp_events_old PARTITION OF exp_events FOR VALUES FROM ('2000-01-01') TO ('2026-01-01');
GRANT SELECT, INSERT, UPDATE, DELETE ON exp_docs, exp_events TO regress_exp_app;
RESET ROLE;
INSERT INTO exp_docs VALUES (1, :A, 'one'), (2, :A, 'two "quoted"'), (3, :B, 'other tenant');
INSERT INTO exp_events VALUES (:A, '2026-03-01', 'a', 1), (:A, '2026-03-02', 'b', 2),
	(:A, '2020-01-01', 'a', 3), (:B, '2026-03-01', 'a', 4);

-- A soft delete by the application: the row is marked, hidden from it, and exported.
SET ROLE regress_exp_app;
BEGIN;
SELECT trovella.with_tenant(:A, NULL) IS NOT NULL AS opened;
DELETE FROM exp_docs WHERE id = 2;
SELECT count(*) AS visible_to_app FROM exp_docs;
COMMIT;
RESET ROLE;

-- The function: not SECURITY DEFINER, granted to nobody.
SELECT p.oid::regprocedure, p.prosecdef, p.provolatile, p.proisstrict,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_may
FROM pg_proc p WHERE p.oid = 'trovella.export_tenant(uuid, bigint)'::regprocedure;

-- As the operations role: each table once (the partitions through their
-- root), the soft-deleted row included, the other tenant's rows not.
SET ROLE regress_exp_ops;
SELECT ordinal, table_name, "row" - 'deleted_at' AS "row", ("row" ->> 'deleted_at') IS NOT NULL AS marked
FROM trovella.export_tenant(:A)
WHERE table_name LIKE 'public.exp\_%'
ORDER BY ordinal;
-- (the audit history: test/tap/export.t, which leaves no record behind for
-- the other tests)

-- The manifest: the last row, table_name NULL; counts and checksums over
-- each row's text and a newline, in output order.
CREATE TEMP TABLE exp_out AS SELECT * FROM trovella.export_tenant(:A);
SELECT count(*) FILTER (WHERE table_name IS NULL) AS manifests,
       max(ordinal) FILTER (WHERE table_name IS NULL) = max(ordinal) AS manifest_last,
       max(ordinal) = count(*) AS ordinals_dense
FROM exp_out;
SELECT m.row ->> 'format' AS format, m.row ->> 'version' AS version, m.row ->> 'tenant' AS tenant,
       (m.row ->> 'rows')::bigint = (SELECT count(*) - 1 FROM exp_out) AS rows_counted,
       m.row ->> 'trovella' AS trovella,
       m.row ? 'exported_at' AND m.row ? 'postgresql' AS stamped,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(m.row) k) AS keys
FROM exp_out m WHERE m.table_name IS NULL;
SELECT t ->> 'table' AS table_name, (t ->> 'rows')::int AS rows,
       t ->> 'sha256' = (SELECT coalesce(encode(sha256(convert_to(string_agg(o.row::text || E'\n', '' ORDER BY o.ordinal), 'UTF8')), 'hex'),
                                         encode(sha256(''), 'hex'))
                         FROM exp_out o WHERE o.table_name = t ->> 'table') AS sha256_matches
FROM exp_out m, jsonb_array_elements(m.row -> 'tables') t
WHERE m.table_name IS NULL AND (t ->> 'table' LIKE 'public.exp\_%' OR t ->> 'table' LIKE 'trovella.%')
ORDER BY 1;
-- the total: over the tables' checksums, each followed by a newline, in
-- the manifest's order
SELECT m.row ->> 'sha256' = encode(sha256(convert_to(string_agg((t ->> 'sha256') || E'\n', '' ORDER BY n), 'UTF8')), 'hex')
       AS total_matches
FROM exp_out m, jsonb_array_elements(m.row -> 'tables') WITH ORDINALITY e(t, n)
WHERE m.table_name IS NULL
GROUP BY m.row;

-- An unknown tenant: no row, a manifest that says so.
SELECT table_name IS NULL AS manifest, "row" ->> 'rows' AS rows
FROM trovella.export_tenant('cccccccc-0000-0000-0000-00000000e035');

-- Progress: a NOTICE every progress_rows rows of a table, naming no tenant data.
SELECT count(*) FROM trovella.export_tenant(:A, 2) WHERE table_name LIKE 'public.exp\_%';

-- Look-alikes on the caller's search_path change nothing.
CREATE FUNCTION regress_exp_planted.to_jsonb(anyelement) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"planted": true}'::jsonb $$;
CREATE FUNCTION regress_exp_planted.tenant_policy_column(regclass) RETURNS name LANGUAGE sql AS $$ SELECT 'tenant_id'::name $$;
CREATE TABLE regress_exp_planted.pg_class (oid oid);
CREATE TABLE regress_exp_planted.exp_docs (id int, tenant_id uuid, title text);
INSERT INTO regress_exp_planted.exp_docs VALUES (9, :A, 'planted');
SET search_path = regress_exp_planted, public, pg_catalog;
SELECT count(*) FILTER (WHERE "row" ? 'planted') AS planted_rows,
       count(*) FILTER (WHERE table_name LIKE 'public.exp\_%') AS tenant_rows,
       count(*) FILTER (WHERE table_name LIKE '%planted%') AS planted_tables
FROM trovella.export_tenant(:A);
RESET search_path;
DROP TABLE exp_out;
RESET ROLE;
DROP SCHEMA regress_exp_planted CASCADE;

-- Bad input, and the roles that may not export.
\set VERBOSITY sqlstate
SET ROLE regress_exp_ops;
SELECT * FROM trovella.export_tenant(NULL);                                        -- 22004
SELECT * FROM trovella.export_tenant(:A, NULL);                                    -- 22004
SELECT * FROM trovella.export_tenant('00000000-0000-0000-0000-000000000000');      -- 22023
SELECT * FROM trovella.export_tenant(:A, 0);                                       -- 22023
SET ROLE regress_exp_app;
SELECT * FROM trovella.export_tenant(:A);                                          -- 42501: not granted
SET ROLE regress_exp_owner;
SELECT * FROM trovella.export_tenant(:A);                                          -- 42501: RLS binds the owner
BEGIN;
SELECT trovella.with_tenant(:A, NULL) IS NOT NULL AS opened;
SELECT * FROM trovella.export_tenant(:A);                                          -- 42501: even in the tenant's context
ROLLBACK;
\set VERBOSITY default
SELECT * FROM trovella.export_tenant(:A);
RESET ROLE;

DROP TABLE exp_docs, exp_events;
REVOKE ALL ON SCHEMA public FROM regress_exp_owner, regress_exp_ops;
REVOKE EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) FROM regress_exp_owner, regress_exp_app;
REVOKE EXECUTE ON FUNCTION trovella.export_tenant(uuid, bigint) FROM regress_exp_ops, regress_exp_owner;
DROP ROLE regress_exp_owner, regress_exp_app, regress_exp_ops;

-- Outside tester's attacks (h-eattack).
-- 1. The caller's settings do not change the exported values: a float
-- with extra_float_digits = 0, a range of dates under DateStyle SQL, DMY
-- and an interval under IntervalStyle sql_standard are exported as they
-- are stored, so that import_tenant reads back the same values.
CREATE ROLE regress_expx_ops BYPASSRLS IN ROLE pg_read_all_data;
GRANT EXECUTE ON FUNCTION trovella.export_tenant(uuid, bigint) TO regress_expx_ops;
CREATE TABLE expx_values (tenant_id uuid NOT NULL, f float8, r daterange, i interval);
SELECT trovella.enable_tenant_isolation('expx_values');
INSERT INTO expx_values VALUES (:A, 0.1::float8 + 0.2::float8, daterange('2026-03-01', '2026-04-02'),
	interval '-1 day 2 hours');
SET ROLE regress_expx_ops;
SET extra_float_digits = 0;
SET DateStyle = 'SQL, DMY';
SET IntervalStyle = 'sql_standard';
CREATE TEMP TABLE expx_out AS SELECT * FROM trovella.export_tenant(:A) WHERE table_name = 'public.expx_values';
RESET extra_float_digits;
RESET DateStyle;
RESET IntervalStyle;
SELECT "row" - 'tenant_id' AS "row",
       jsonb_populate_record(NULL::expx_values, "row") IS NOT DISTINCT FROM v AS same_values
FROM expx_out, expx_values v;
DROP TABLE expx_out;
-- 2. A type "char" and a collation "C" planted ahead of pg_catalog on the
-- caller's search_path: the export still lists the tables.
RESET ROLE;
CREATE SCHEMA regress_expx_evil AUTHORIZATION regress_expx_ops;
SET ROLE regress_expx_ops;
CREATE TYPE regress_expx_evil."char" AS ENUM ('r', 'p');
SET search_path = regress_expx_evil, pg_catalog;
SELECT table_name, "row" ->> 'f' AS f FROM trovella.export_tenant(:A) WHERE table_name = 'public.expx_values';
RESET search_path;
RESET ROLE;
DROP SCHEMA regress_expx_evil CASCADE;
DROP TABLE expx_values;
REVOKE EXECUTE ON FUNCTION trovella.export_tenant(uuid, bigint) FROM regress_expx_ops;
DROP ROLE regress_expx_ops;
-- 3. An import into a database with the schema and no row (a sequence at
-- its start): the identity and serial columns' sequences are moved past
-- the imported values, so the application's next INSERT does not collide.
CREATE ROLE regress_expx_ops BYPASSRLS IN ROLE pg_read_all_data, pg_write_all_data;
GRANT EXECUTE ON FUNCTION trovella.export_tenant(uuid, bigint), trovella.import_tenant(regclass)
	TO regress_expx_ops;
CREATE TABLE expx_ids (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant_id uuid NOT NULL,
	n serial UNIQUE, title text);
SELECT trovella.enable_tenant_isolation('expx_ids');
INSERT INTO expx_ids (tenant_id, title) VALUES (:A, 'one'), (:A, 'two'), (:A, 'three');
SET ROLE regress_expx_ops;
CREATE TEMP TABLE expx_import AS SELECT * FROM trovella.export_tenant(:A);
RESET ROLE;
-- the database the export goes to: the schema, no row, sequences at their start
DELETE FROM expx_ids;
ALTER TABLE expx_ids ALTER COLUMN id RESTART;
ALTER SEQUENCE expx_ids_n_seq RESTART;
SET ROLE regress_expx_ops;
SELECT * FROM trovella.import_tenant('expx_import') WHERE table_name = 'public.expx_ids';
RESET ROLE;
INSERT INTO expx_ids (tenant_id, title) VALUES (:A, 'four') RETURNING id, n, title;
DROP TABLE expx_import, expx_ids;
REVOKE EXECUTE ON FUNCTION trovella.export_tenant(uuid, bigint), trovella.import_tenant(regclass)
	FROM regress_expx_ops;
DROP ROLE regress_expx_ops;
-- 4. An application's trigger that, while import_tenant inserts a table,
-- writes another (here another tenant's row with made-up standard
-- columns): trovella's row triggers treat that INSERT as any other, only
-- the rows of the export are kept as exported.
CREATE ROLE regress_expx_ops BYPASSRLS IN ROLE pg_read_all_data, pg_write_all_data;
GRANT EXECUTE ON FUNCTION trovella.export_tenant(uuid, bigint), trovella.import_tenant(regclass)
	TO regress_expx_ops;
CREATE TABLE expx_src (id int PRIMARY KEY, tenant_id uuid NOT NULL);
SELECT trovella.enable_tenant_isolation('expx_src');
CREATE TABLE expx_side (id int, tenant_id uuid NOT NULL);
SELECT trovella.enable_tenant_isolation('expx_side');
SELECT trovella.enable_standard_columns('expx_side');
CREATE FUNCTION expx_side_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.expx_side (id, tenant_id, created_at, created_by)
	VALUES (NEW.id, 'bbbbbbbb-0000-0000-0000-00000000e035', '2000-01-01', '00000000-0000-0000-0000-0000000000ff');
	RETURN NEW;
END $$;
CREATE TRIGGER expx_side_write AFTER INSERT ON expx_src FOR EACH ROW EXECUTE FUNCTION expx_side_write();
INSERT INTO expx_src VALUES (1, :A), (2, :A);
SET ROLE regress_expx_ops;
CREATE TEMP TABLE expx_import AS SELECT * FROM trovella.export_tenant(:A);
RESET ROLE;
DELETE FROM expx_src;
DELETE FROM expx_side;
SET ROLE regress_expx_ops;
SELECT * FROM trovella.import_tenant('expx_import') WHERE table_name LIKE 'public.expx\_%' ORDER BY 1;
RESET ROLE;
SELECT id, created_at = '2000-01-01' AS made_up_at, created_by IS NOT NULL AS made_up_by
FROM expx_side ORDER BY id;
DROP TABLE expx_import, expx_src, expx_side;
DROP FUNCTION expx_side_write();
REVOKE EXECUTE ON FUNCTION trovella.export_tenant(uuid, bigint), trovella.import_tenant(regclass)
	FROM regress_expx_ops;
DROP ROLE regress_expx_ops;
-- 5. A table with a column named as export_tenant's alias of the row (t):
-- the row is exported, not that column.
CREATE ROLE regress_expx_ops BYPASSRLS IN ROLE pg_read_all_data;
GRANT EXECUTE ON FUNCTION trovella.export_tenant(uuid, bigint) TO regress_expx_ops;
CREATE TABLE "expx_Odd t" (tenant_id uuid NOT NULL, t text, "T" int);
SELECT trovella.enable_tenant_isolation('"expx_Odd t"');
INSERT INTO "expx_Odd t" VALUES (:A, 'the column t', 7);
SET ROLE regress_expx_ops;
SELECT table_name, "row" - 'tenant_id' AS "row" FROM trovella.export_tenant(:A) WHERE table_name LIKE 'public.%';
RESET ROLE;
DROP TABLE "expx_Odd t";
REVOKE EXECUTE ON FUNCTION trovella.export_tenant(uuid, bigint) FROM regress_expx_ops;
DROP ROLE regress_expx_ops;
-- 6. Edited exports, counts and checksums recomputed by whoever edited
-- them (the manifest proves the rows are those it lists, not who made
-- them): a row moved to another tenant (XX001), a table renamed to one of
-- trovella's own (55000), the nil tenant (22P04), and a NULL source (22004).
CREATE ROLE regress_expx_ops BYPASSRLS IN ROLE pg_read_all_data, pg_write_all_data;
GRANT EXECUTE ON FUNCTION trovella.export_tenant(uuid, bigint), trovella.import_tenant(regclass)
	TO regress_expx_ops;
CREATE TABLE expx_edit (id int PRIMARY KEY, tenant_id uuid NOT NULL);
SELECT trovella.enable_tenant_isolation('expx_edit');
INSERT INTO expx_edit VALUES (1, :A), (2, :A);
CREATE FUNCTION expx_reseal(tbl regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format($q$
	UPDATE %1$s m SET "row" = m.row || jsonb_build_object(
		'tables', (SELECT jsonb_agg(t || jsonb_build_object(
				'rows', (SELECT count(*) FROM %1$s o WHERE o.table_name = t ->> 'table'),
				'sha256', (SELECT encode(sha256(convert_to(coalesce(string_agg(o.row::text || E'\n', '' ORDER BY o.ordinal), ''), 'UTF8')), 'hex')
				           FROM %1$s o WHERE o.table_name = t ->> 'table')) ORDER BY n)
			FROM jsonb_array_elements(m.row -> 'tables') WITH ORDINALITY e(t, n)),
		'rows', (SELECT count(*) FROM %1$s o WHERE o.table_name IS NOT NULL))
	WHERE m.table_name IS NULL;
	UPDATE %1$s m SET "row" = m.row || jsonb_build_object(
		'sha256', (SELECT encode(sha256(convert_to(string_agg((t ->> 'sha256') || E'\n', '' ORDER BY n), 'UTF8')), 'hex')
		           FROM jsonb_array_elements(m.row -> 'tables') WITH ORDINALITY e(t, n)))
	WHERE m.table_name IS NULL$q$, tbl);
END $$;
SET ROLE regress_expx_ops;
CREATE TEMP TABLE expx_import AS SELECT * FROM trovella.export_tenant(:A);
RESET ROLE;
DELETE FROM expx_edit;
SET ROLE regress_expx_ops;
\set VERBOSITY sqlstate
BEGIN;
UPDATE expx_import SET "row" = "row" || jsonb_build_object('tenant_id', :B) WHERE table_name = 'public.expx_edit' AND "row" ->> 'id' = '2';
SELECT expx_reseal('expx_import');
SELECT * FROM trovella.import_tenant('expx_import');                              -- XX001
ROLLBACK;
BEGIN;
UPDATE expx_import SET table_name = 'trovella.personal_access_token' WHERE table_name = 'public.expx_edit';
UPDATE expx_import SET "row" = jsonb_set("row", '{tables}', replace("row" ->> 'tables', 'public.expx_edit', 'trovella.personal_access_token')::jsonb)
WHERE table_name IS NULL;
SELECT expx_reseal('expx_import');
SELECT * FROM trovella.import_tenant('expx_import');                              -- 55000
ROLLBACK;
BEGIN;
UPDATE expx_import SET "row" = "row" || '{"tenant": "00000000-0000-0000-0000-000000000000"}' WHERE table_name IS NULL;
SELECT * FROM trovella.import_tenant('expx_import');                              -- 22P04
ROLLBACK;
SELECT * FROM trovella.import_tenant(NULL);                                       -- 22004
\set VERBOSITY default
-- nothing was written
SELECT count(*) AS rows_left FROM expx_edit;
RESET ROLE;
DROP TABLE expx_import, expx_edit;
DROP FUNCTION expx_reseal(regclass);
REVOKE EXECUTE ON FUNCTION trovella.export_tenant(uuid, bigint), trovella.import_tenant(regclass)
	FROM regress_expx_ops;
DROP ROLE regress_expx_ops;
-- 7. The application's triggers that import_tenant's INSERTs fire run on
-- the caller's search path, as in an INSERT of the caller's: one that names
-- a table without its schema finds it there (it failed with 42P01 when the
-- import ran them with only pg_catalog on the path), one with its own SET
-- search_path has that path (on 15 and 16 the import's path beat it:
-- 42883).  Functions and operators planted ahead of pg_catalog on the
-- caller's path change none of import_tenant's own statements (each
-- raises if called).
CREATE ROLE regress_expx_ops BYPASSRLS IN ROLE pg_read_all_data, pg_write_all_data;
GRANT EXECUTE ON FUNCTION trovella.export_tenant(uuid, bigint), trovella.import_tenant(regclass)
	TO regress_expx_ops;
CREATE SCHEMA regress_expx_app;
CREATE SCHEMA regress_expx_lib;
GRANT USAGE ON SCHEMA regress_expx_app, regress_expx_lib TO regress_expx_ops;
CREATE TABLE regress_expx_app.trig_log (id int, via text);
CREATE FUNCTION regress_expx_lib.note(id int, via text) RETURNS void LANGUAGE sql
	AS $$ INSERT INTO regress_expx_app.trig_log VALUES (id, via) $$;
CREATE TABLE expx_trig (id int PRIMARY KEY, tenant_id uuid NOT NULL);
SELECT trovella.enable_tenant_isolation('expx_trig');
CREATE FUNCTION expx_trig_path() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO trig_log VALUES (NEW.id, 'path');
	RETURN NEW;
END $$;
CREATE FUNCTION expx_trig_set() RETURNS trigger LANGUAGE plpgsql SET search_path = regress_expx_lib AS $$
BEGIN
	PERFORM note(NEW.id, 'set');
	RETURN NEW;
END $$;
CREATE TRIGGER expx_trig_path AFTER INSERT ON expx_trig FOR EACH ROW EXECUTE FUNCTION expx_trig_path();
CREATE TRIGGER expx_trig_set BEFORE INSERT ON expx_trig FOR EACH ROW EXECUTE FUNCTION expx_trig_set();
ALTER TABLE expx_trig DISABLE TRIGGER USER;
INSERT INTO expx_trig VALUES (1, :A), (2, :A);
SET ROLE regress_expx_ops;
CREATE TEMP TABLE expx_import AS SELECT * FROM trovella.export_tenant(:A);
RESET ROLE;
DELETE FROM expx_trig;
ALTER TABLE expx_trig ENABLE TRIGGER USER;
CREATE SCHEMA regress_expx_planted AUTHORIZATION regress_expx_ops;
SET ROLE regress_expx_ops;
CREATE FUNCTION regress_expx_planted.planted_eq(text, text) RETURNS boolean LANGUAGE plpgsql
	AS $$ BEGIN RAISE EXCEPTION 'planted = called'; END $$;
CREATE OPERATOR regress_expx_planted.= (FUNCTION = regress_expx_planted.planted_eq, LEFTARG = text, RIGHTARG = text);
CREATE FUNCTION regress_expx_planted.planted_uuid_eq(uuid, uuid) RETURNS boolean LANGUAGE plpgsql
	AS $$ BEGIN RAISE EXCEPTION 'planted = called'; END $$;
CREATE OPERATOR regress_expx_planted.= (FUNCTION = regress_expx_planted.planted_uuid_eq, LEFTARG = uuid, RIGHTARG = uuid);
CREATE FUNCTION regress_expx_planted.jsonb_populate_record(anyelement, jsonb) RETURNS anyelement LANGUAGE plpgsql
	AS $$ BEGIN RAISE EXCEPTION 'planted jsonb_populate_record called'; END $$;
CREATE FUNCTION regress_expx_planted.setval(regclass, bigint) RETURNS bigint LANGUAGE plpgsql
	AS $$ BEGIN RAISE EXCEPTION 'planted setval called'; END $$;
CREATE FUNCTION regress_expx_planted.to_regclass(text) RETURNS regclass LANGUAGE plpgsql
	AS $$ BEGIN RAISE EXCEPTION 'planted to_regclass called'; END $$;
CREATE FUNCTION regress_expx_planted.jsonb_typeof(jsonb) RETURNS text LANGUAGE plpgsql
	AS $$ BEGIN RAISE EXCEPTION 'planted jsonb_typeof called'; END $$;
RESET ROLE;
\set VERBOSITY sqlstate
-- the trigger that names its table without schema, alone
BEGIN;
ALTER TABLE expx_trig DISABLE TRIGGER expx_trig_set;
SET LOCAL ROLE regress_expx_ops;
SET LOCAL search_path = regress_expx_app, public;
SELECT * FROM trovella.import_tenant('expx_import') WHERE table_name = 'public.expx_trig';
SELECT * FROM regress_expx_app.trig_log ORDER BY 1, 2;
ROLLBACK;
-- the trigger with its own SET search_path, alone
BEGIN;
ALTER TABLE expx_trig DISABLE TRIGGER expx_trig_path;
SET LOCAL ROLE regress_expx_ops;
SET LOCAL search_path = regress_expx_app, public;
SELECT * FROM trovella.import_tenant('expx_import') WHERE table_name = 'public.expx_trig';
SELECT * FROM regress_expx_app.trig_log ORDER BY 1, 2;
ROLLBACK;
-- a plain SET the application's trigger makes (of any setting, search_path
-- too) lasts, as after an INSERT of the caller's, on every major (17 on it
-- was undone when the INSERT ended); the path it sets, the planted objects
-- ahead of pg_catalog, changes none of import_tenant's own statements
BEGIN;
ALTER TABLE expx_trig DISABLE TRIGGER expx_trig_path;
ALTER TABLE expx_trig DISABLE TRIGGER expx_trig_set;
CREATE FUNCTION expx_trig_guc() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_catalog.set_config('regress_expx.seen', NEW.id::text, false);
	PERFORM pg_catalog.set_config('search_path', 'regress_expx_planted, pg_catalog, public', false);
	RETURN NEW;
END $$;
CREATE TRIGGER expx_trig_guc AFTER INSERT ON expx_trig FOR EACH ROW EXECUTE FUNCTION expx_trig_guc();
SET LOCAL ROLE regress_expx_ops;
SELECT * FROM trovella.import_tenant('expx_import') WHERE table_name OPERATOR(pg_catalog.=) 'public.expx_trig';
SELECT pg_catalog.current_setting('regress_expx.seen', true) AS trigger_set,
       pg_catalog.current_setting('search_path') AS trigger_path;
ROLLBACK;
\set VERBOSITY default
-- both, with the planted objects ahead of pg_catalog
SET ROLE regress_expx_ops;
SET search_path = regress_expx_planted, pg_catalog, regress_expx_app, public;
SELECT * FROM trovella.import_tenant('expx_import') WHERE table_name OPERATOR(pg_catalog.=) 'public.expx_trig';
RESET search_path;
SELECT * FROM regress_expx_app.trig_log ORDER BY 1, 2;
SELECT id FROM expx_trig ORDER BY id;
RESET ROLE;
DROP TABLE expx_import, expx_trig;
DROP FUNCTION expx_trig_path(), expx_trig_set();
SET client_min_messages = warning;
DROP SCHEMA regress_expx_app, regress_expx_lib, regress_expx_planted CASCADE;
RESET client_min_messages;
REVOKE EXECUTE ON FUNCTION trovella.export_tenant(uuid, bigint), trovella.import_tenant(regclass)
	FROM regress_expx_ops;
DROP ROLE regress_expx_ops;
-- 8. An audit history made on Citus: its record numbers carry the node's
-- group in their top 16 bits (a single server's: group 0).  Imported, the
-- next numbers here would read as another group's and audit_verify would
-- report a history nobody touched: refused (0A000) before anything is
-- written, whether a record's number or a seal's upto (uptos) carries it.
-- The exports are forged with counts and checksums recomputed, each
-- record and seal as import_tenant would insert it (it did, before).
CREATE ROLE regress_expx_ops BYPASSRLS IN ROLE pg_read_all_data, pg_write_all_data;
GRANT EXECUTE ON FUNCTION trovella.export_tenant(uuid, bigint), trovella.import_tenant(regclass)
	TO regress_expx_ops;
CREATE TABLE expx_edit (id int PRIMARY KEY, tenant_id uuid NOT NULL);
SELECT trovella.enable_tenant_isolation('expx_edit');
INSERT INTO expx_edit VALUES (1, :A), (2, :A);
CREATE FUNCTION expx_reseal(tbl regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format($q$
	UPDATE %1$s m SET "row" = m.row || jsonb_build_object(
		'tables', (SELECT jsonb_agg(t || jsonb_build_object(
				'rows', (SELECT count(*) FROM %1$s o WHERE o.table_name = t ->> 'table'),
				'sha256', (SELECT encode(sha256(convert_to(coalesce(string_agg(o.row::text || E'\n', '' ORDER BY o.ordinal), ''), 'UTF8')), 'hex')
				           FROM %1$s o WHERE o.table_name = t ->> 'table')) ORDER BY n)
			FROM jsonb_array_elements(m.row -> 'tables') WITH ORDINALITY e(t, n)),
		'rows', (SELECT count(*) FROM %1$s o WHERE o.table_name IS NOT NULL))
	WHERE m.table_name IS NULL;
	UPDATE %1$s m SET "row" = m.row || jsonb_build_object(
		'sha256', (SELECT encode(sha256(convert_to(string_agg((t ->> 'sha256') || E'\n', '' ORDER BY n), 'UTF8')), 'hex')
		           FROM jsonb_array_elements(m.row -> 'tables') WITH ORDINALITY e(t, n)))
	WHERE m.table_name IS NULL$q$, tbl);
END $$;
SET ROLE regress_expx_ops;
CREATE TEMP TABLE expx_import AS SELECT * FROM trovella.export_tenant(:A);
RESET ROLE;
DELETE FROM expx_edit;
SELECT last_value AS audit_seq_before FROM trovella.audit_seq \gset
SET ROLE regress_expx_ops;
\set VERBOSITY sqlstate
BEGIN;
INSERT INTO expx_import VALUES (0, 'trovella.audit_history', jsonb_build_object(
	'seq', (5::bigint << 48) + 1, 'tenant_id', :A, 'table_id', 1, 'operation', 'I', 'row_key', '1',
	'user_id', NULL, 'role', 'r', 'login_role', 'r', 'xact', '1', 'at', '2026-01-01T00:00:00+00:00',
	'old', NULL, 'new', '{"id": 1}'::jsonb, 'hash', '\x00'));
SELECT expx_reseal('expx_import');
SELECT * FROM trovella.import_tenant('expx_import');                              -- 0A000
ROLLBACK;
BEGIN;
INSERT INTO expx_import VALUES (0, 'trovella.audit_seal', jsonb_build_object(
	'tenant_id', :A, 'seal_no', 1, 'upto', 5, 'records', 1, 'digest', '\x00',
	'sealed_at', '2026-01-01T00:00:00+00:00', 'uptos', jsonb_build_array(5, (3::bigint << 48) + 2)));
SELECT expx_reseal('expx_import');
SELECT * FROM trovella.import_tenant('expx_import');                              -- 0A000
ROLLBACK;
\set VERBOSITY default
BEGIN;
INSERT INTO expx_import VALUES (0, 'trovella.audit_history', jsonb_build_object(
	'seq', (5::bigint << 48) + 1, 'tenant_id', :A, 'table_id', 1, 'operation', 'I', 'row_key', '1',
	'user_id', NULL, 'role', 'r', 'login_role', 'r', 'xact', '1', 'at', '2026-01-01T00:00:00+00:00',
	'old', NULL, 'new', '{"id": 1}'::jsonb, 'hash', '\x00'));
SELECT expx_reseal('expx_import');
SELECT * FROM trovella.import_tenant('expx_import');
ROLLBACK;
RESET ROLE;
-- nothing was written, and the records' numbers did not move
SELECT count(*) AS rows_left FROM expx_edit;
SELECT count(*) AS records FROM trovella.audit_history WHERE tenant_id = :A;
SELECT last_value = :audit_seq_before AS audit_seq_kept FROM trovella.audit_seq;
-- 9. A malformed manifest is always 22P04 (bad_copy_file_format), whatever
-- is wrong in it: before, a count or a tenant that did not convert failed
-- with the conversion's SQLSTATE (22P02, 22003), tables that are not an
-- array with 22023, and a value of another JSON type or a table listed
-- twice went on (XX001, or an import).
SET ROLE regress_expx_ops;
CREATE FUNCTION pg_temp.expx_bad_manifest(edit text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE 'UPDATE expx_import SET "row" = ' || edit || ' WHERE table_name IS NULL';
	PERFORM * FROM trovella.import_tenant('expx_import');
	RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'imported';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END $$;
SELECT edit, pg_temp.expx_bad_manifest(edit) AS sqlstate FROM (VALUES
	($e$"row" || '{"rows": "many"}'$e$),
	($e$"row" || '{"rows": "2"}'$e$),
	($e$"row" || '{"rows": 1.5}'$e$),
	($e$"row" || '{"rows": -1}'$e$),
	($e$"row" || '{"rows": 1e30}'$e$),
	($e$"row" || '{"tenant": "not-a-uuid"}'$e$),
	($e$"row" || '{"tenant": 42}'$e$),
	($e$"row" || '{"version": "1"}'$e$),
	($e$"row" || '{"sha256": "ABC"}'$e$),
	($e$"row" - 'sha256'$e$),
	($e$"row" - 'tables'$e$),
	($e$"row" || '{"tables": {"table": "public.expx_edit"}}'$e$),
	($e$jsonb_set("row", '{tables,0,rows}', '"x"')$e$),
	($e$jsonb_set("row", '{tables,0,rows}', '1e30')$e$),
	($e$jsonb_set("row", '{tables,0,sha256}', '7')$e$),
	($e$jsonb_set("row", '{tables,0}', '"public.expx_edit"')$e$),
	($e$"row" - 'tables' || jsonb_build_object('tables', "row" -> 'tables' || ("row" -> 'tables' -> 0))$e$),
	($e$'[]'$e$)
) e(edit);
-- nothing was written
SELECT count(*) AS rows_left FROM expx_edit;
DROP FUNCTION pg_temp.expx_bad_manifest(text);
RESET ROLE;
DROP TABLE expx_import, expx_edit;
REVOKE EXECUTE ON FUNCTION trovella.export_tenant(uuid, bigint), trovella.import_tenant(regclass)
	FROM regress_expx_ops;
DROP ROLE regress_expx_ops;
-- 10. What one jsonb per row cannot carry (README, Export and import):
-- JSON null in a json or jsonb column comes back as SQL NULL (to_jsonb
-- writes both as null; a NOT NULL column holding it refuses the import,
-- 23502), a json column's text as its jsonb form (keys sorted, duplicates
-- and spacing gone), and a float's -0 as 0 (nested in arrays too).
CREATE ROLE regress_expx_ops BYPASSRLS IN ROLE pg_read_all_data, pg_write_all_data;
GRANT EXECUTE ON FUNCTION trovella.export_tenant(uuid, bigint), trovella.import_tenant(regclass)
	TO regress_expx_ops;
CREATE TABLE expx_lossy (id int PRIMARY KEY, tenant_id uuid NOT NULL, jb jsonb, js json,
	f float8, r real, fa float8[], ja jsonb[]);
SELECT trovella.enable_tenant_isolation('expx_lossy');
INSERT INTO expx_lossy VALUES
	(1, :A, 'null', 'null', '-0', '-0', '{-0,1}', ARRAY['null', '[null]']::jsonb[]),
	(2, :A, '{"a": null}', '{"b":1,  "a":2, "a":3}', '0', '0', '{0}', NULL),
	(3, :A, NULL, NULL, NULL, NULL, NULL, NULL);
SET ROLE regress_expx_ops;
CREATE TEMP TABLE expx_import AS SELECT * FROM trovella.export_tenant(:A);
SELECT "row" - 'tenant_id' AS "row" FROM expx_import WHERE table_name = 'public.expx_lossy' ORDER BY ordinal;
RESET ROLE;
DELETE FROM expx_lossy;
SET ROLE regress_expx_ops;
SELECT * FROM trovella.import_tenant('expx_import') WHERE table_name = 'public.expx_lossy';
RESET ROLE;
SELECT id, jb IS NULL AS jb_null, jb, js IS NULL AS js_null, js::text AS js,
       f::text AS f, r::text AS r, fa::text AS fa, ja::text AS ja
FROM expx_lossy ORDER BY id;
-- a NOT NULL jsonb column holding JSON null: the import refuses (23502)
DELETE FROM expx_lossy;
ALTER TABLE expx_lossy ALTER COLUMN jb SET NOT NULL;
BEGIN;
DELETE FROM expx_import WHERE table_name = 'public.expx_lossy' AND "row" ->> 'id' = '3';
SELECT expx_reseal('expx_import');
SET LOCAL ROLE regress_expx_ops;
\set VERBOSITY sqlstate
SELECT * FROM trovella.import_tenant('expx_import');                              -- 23502
\set VERBOSITY default
ROLLBACK;
DROP TABLE expx_import, expx_lossy;
DROP FUNCTION expx_reseal(regclass);
REVOKE EXECUTE ON FUNCTION trovella.export_tenant(uuid, bigint), trovella.import_tenant(regclass)
	FROM regress_expx_ops;
DROP ROLE regress_expx_ops;
