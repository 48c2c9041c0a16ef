-- Standard columns (trovella.enable_standard_columns): created_at,
-- updated_at, created_by and updated_by kept from the transaction's time and
-- the sealed context's user, whatever the client sends.  As a non-superuser
-- owner under forced RLS and as an application role that owns nothing.
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

CREATE ROLE regress_cols_owner;
CREATE ROLE regress_cols_app;
CREATE ROLE regress_cols_other;
GRANT regress_cols_other TO regress_cols_app;
GRANT CREATE ON SCHEMA public TO regress_cols_owner;
GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO regress_cols_owner, regress_cols_app;

\set A '''aaaaaaaa-0000-0000-0000-000000000000'''
\set B '''bbbbbbbb-0000-0000-0000-000000000000'''
\set U1 '''11111111-0000-0000-0000-000000000000'''
\set U2 '''22222222-0000-0000-0000-000000000000'''
\set FORGED '''ffffffff-0000-0000-0000-000000000000'''

SET ROLE regress_cols_owner;
BEGIN;
CREATE TABLE items (id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL, name text,
                    created_at timestamptz);                      -- one column exists already
CREATE INDEX ON items (tenant_id);
SELECT trovella.enable_tenant_isolation('items');
SELECT trovella.enable_standard_columns('items');
SELECT trovella.enable_standard_columns('items');                 -- idempotent
COMMIT;
GRANT SELECT, INSERT, UPDATE, DELETE ON items TO regress_cols_app;
SELECT attname, format_type(atttypid, atttypmod) AS type, attnotnull, pg_get_expr(d.adbin, d.adrelid) AS default_value
FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = 'items'::regclass AND a.attnum > 0 ORDER BY a.attnum;
SELECT tgname, tgtype, tgfoid::regproc, obj_description(oid, 'pg_trigger') FROM pg_trigger WHERE tgrelid = 'items'::regclass;
-- the trigger is no problem of the table's isolation
SELECT policy_ok, problems FROM trovella.isolation_status WHERE table_name = 'items'::regclass;

-- Errors.  The caller must own the table (42501).
RESET ROLE;
SET ROLE regress_cols_app;
SELECT pg_temp.error_of($$SELECT trovella.enable_standard_columns('items')$$);
SELECT pg_temp.error_of($$SELECT trovella.disable_standard_columns('items')$$);
RESET ROLE;
SET ROLE regress_cols_owner;
-- a column of that name with another type (42804), nothing added
CREATE TABLE wrong_type (id int, updated_by text);
SELECT pg_temp.error_of($$SELECT trovella.enable_standard_columns('wrong_type')$$);
SELECT count(*) AS columns_added FROM pg_attribute WHERE attrelid = 'wrong_type'::regclass AND attname = 'created_at';
DROP TABLE wrong_type;
-- not a table (42809)
CREATE VIEW items_view WITH (security_invoker = true) AS SELECT * FROM items;
SELECT pg_temp.error_of($$SELECT trovella.enable_standard_columns('items_view')$$);
DROP VIEW items_view;
-- the trigger function fired in a way it cannot work (39P01)
CREATE TABLE misfired (id int, created_at timestamptz, updated_at timestamptz, created_by uuid, updated_by uuid);
CREATE TRIGGER misfired AFTER INSERT ON misfired FOR EACH ROW EXECUTE FUNCTION trovella.standard_columns();
SELECT pg_temp.error_of($$INSERT INTO misfired (id) VALUES (1)$$);
DROP TRIGGER misfired ON misfired;
CREATE TRIGGER misfired BEFORE INSERT ON misfired FOR EACH STATEMENT EXECUTE FUNCTION trovella.standard_columns();
SELECT pg_temp.error_of($$INSERT INTO misfired (id) VALUES (1)$$);
DROP TABLE misfired;
-- a column dropped after the table was enabled: every write stops (55000)
CREATE TABLE dropped (id int);
SELECT trovella.enable_standard_columns('dropped');
ALTER TABLE dropped DROP COLUMN updated_by;
SELECT pg_temp.error_of($$INSERT INTO dropped (id) VALUES (1)$$);
SELECT trovella.enable_standard_columns('dropped');              -- repaired
BEGIN;
INSERT INTO dropped (id) VALUES (1);
SELECT id, created_at = now() AS created_now, created_by FROM dropped;
COMMIT;
DROP TABLE dropped;
RESET ROLE;

-- The application inserts as user U1, sending forged values: overwritten.
SET ROLE regress_cols_app;
BEGIN;
SELECT trovella.with_tenant(:A, :U1);
INSERT INTO items (name, created_at, updated_at, created_by, updated_by)
VALUES ('first', '2000-01-01', '2000-01-01', :FORGED, :FORGED);
SELECT name, created_at = now() AS created_now, updated_at = now() AS updated_now, created_by, updated_by FROM items;
COMMIT;
-- a later transaction, as user U2: created_* kept, updated_* set, forged
-- values overwritten again
BEGIN;
SELECT trovella.with_tenant(:A, :U2);
UPDATE items SET name = 'renamed', created_at = '2000-01-01', created_by = :FORGED, updated_by = :FORGED
WHERE name = 'first' RETURNING name, created_at < now() AS created_earlier, updated_at = now() AS updated_now,
	created_by, updated_by;
COMMIT;

-- Forgery.  set_config of the user: refused, and the stamp stays U1's.
BEGIN;
SELECT trovella.with_tenant(:A, :U1);
SELECT pg_temp.error_of(format('SELECT set_config(%L, %L, true)', 'trovella.user_id', :FORGED));
UPDATE items SET name = 'after set_config' RETURNING name, updated_by;
COMMIT;
-- SET ROLE to another role: the context, not the role, is the user
BEGIN;
SELECT trovella.with_tenant(:A, :U1);
RESET ROLE;
GRANT INSERT, UPDATE, SELECT ON items TO regress_cols_other;
SET ROLE regress_cols_app;
SET ROLE regress_cols_other;
INSERT INTO items (name, created_by) VALUES ('by another role', :FORGED) RETURNING name, created_by, updated_by;
COMMIT;
RESET ROLE;
-- a SECURITY DEFINER function of the owner: the context's user still
SET ROLE regress_cols_owner;
CREATE FUNCTION insert_item(item_name text, claimed_user uuid) RETURNS TABLE (created_by uuid, updated_by uuid)
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
	INSERT INTO items (name, created_by, updated_by) VALUES (item_name, claimed_user, claimed_user)
	RETURNING created_by, updated_by
$$;
GRANT EXECUTE ON FUNCTION insert_item(text, uuid) TO regress_cols_app;
RESET ROLE;
SET ROLE regress_cols_app;
BEGIN;
SELECT trovella.with_tenant(:A, :U2);
SELECT * FROM insert_item('through a definer', :FORGED);
COMMIT;
-- a context without a user: NULL, whatever is sent
BEGIN;
SELECT trovella.with_tenant(:B);
INSERT INTO items (name, created_by, updated_by) VALUES ('no user', :FORGED, :FORGED)
RETURNING name, created_by, updated_by, created_at = now() AS created_now;
COMMIT;
RESET ROLE;

-- The owner, bound by forced RLS, in a context: the same stamps.
SET ROLE regress_cols_owner;
BEGIN;
SELECT trovella.with_tenant(:B, :U2);
UPDATE items SET name = 'owner''s update' WHERE name = 'no user' RETURNING name, created_by, updated_by;
COMMIT;
RESET ROLE;
-- A superuser without a context (a migration, psql): no user.
UPDATE items SET name = 'superuser''s update', updated_by = :FORGED WHERE name = 'after set_config'
RETURNING name, created_by, updated_by, updated_at = now() AS updated_now;
SELECT tenant_id, name, created_by, updated_by FROM items ORDER BY name;

-- Partitions: the trigger is cloned to each partition, present or later,
-- and fires on a partition written directly.
SET ROLE regress_cols_owner;
BEGIN;
CREATE TABLE events (id uuid NOT NULL DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL, region text NOT NULL,
                     PRIMARY KEY (tenant_id, region, id)) PARTITION BY LIST (region);
CREATE TABLE events_eu PARTITION OF events FOR VALUES IN ('eu');
SELECT trovella.enable_tenant_isolation('events');
SELECT trovella.enable_standard_columns('events');
CREATE TABLE events_us PARTITION OF events FOR VALUES IN ('us');
SELECT trovella.enable_tenant_isolation('events');
COMMIT;
GRANT SELECT, INSERT, UPDATE ON events, events_eu, events_us TO regress_cols_app;
SELECT tgrelid::regclass, tgname, tgparentid <> 0 AS cloned FROM pg_trigger
WHERE tgrelid IN ('events'::regclass, 'events_eu'::regclass, 'events_us'::regclass) ORDER BY 1;
RESET ROLE;
SET ROLE regress_cols_app;
BEGIN;
SELECT trovella.with_tenant(:A, :U1);
INSERT INTO events (region, created_by) VALUES ('eu', :FORGED);
INSERT INTO events_us (region, created_by) VALUES ('us', :FORGED);
UPDATE events_eu SET updated_by = :FORGED;
SELECT region, created_by, updated_by, created_at = now() AS created_now FROM events ORDER BY region;
COMMIT;
RESET ROLE;

-- An UPDATE that moves a row to another partition is an update: created_*
-- stay (PostgreSQL fires BEFORE INSERT on the partition it goes to), as
-- the application granted on the partitioned table only, and as the owner.
SET ROLE regress_cols_owner;
BEGIN;
CREATE TABLE docs (id int NOT NULL, tenant_id uuid NOT NULL, state text NOT NULL,
                   PRIMARY KEY (tenant_id, id, state)) PARTITION BY LIST (state);
CREATE TABLE docs_draft PARTITION OF docs FOR VALUES IN ('draft');
CREATE TABLE docs_final (state text NOT NULL, tenant_id uuid NOT NULL, id int NOT NULL);
ALTER TABLE docs ATTACH PARTITION docs_final FOR VALUES IN ('final');  -- its columns in another order
CREATE INDEX ON docs (tenant_id);
SELECT trovella.enable_tenant_isolation('docs');
SELECT trovella.enable_standard_columns('docs');
COMMIT;
GRANT SELECT, INSERT, UPDATE, DELETE ON docs TO regress_cols_app;
RESET ROLE;
SET ROLE regress_cols_app;
BEGIN;
SELECT trovella.with_tenant(:A, :U1);
INSERT INTO docs (id, tenant_id, state) VALUES (1, :A, 'draft'), (2, :A, 'draft');
COMMIT;
BEGIN;
SELECT trovella.with_tenant(:A, :U2);
UPDATE docs SET state = 'final', created_by = :FORGED WHERE id = 1
RETURNING tableoid::regclass, id, created_by, updated_by;
-- a client's INSERT in the same statement as the move is an INSERT
WITH moved AS (UPDATE docs SET state = 'final' WHERE id = 2 RETURNING id)
INSERT INTO docs (id, tenant_id, state, created_by) SELECT 3, :A, 'final', :FORGED FROM moved;
SELECT tableoid::regclass, id, state, created_by, updated_by, created_at < now() AS created_before
FROM docs ORDER BY id;
COMMIT;
RESET ROLE;
SET ROLE regress_cols_owner;
BEGIN;
SELECT trovella.with_tenant(:A, :U2);
UPDATE docs SET state = 'draft' WHERE id = 1 RETURNING tableoid::regclass, id, created_by, updated_by;
COMMIT;
-- INHERITS: a child gets none of the parent's triggers, so it is refused
-- (0A000), whichever way it comes
CREATE TABLE legacy_parent (id int);
CREATE TABLE legacy_child () INHERITS (legacy_parent);
\set VERBOSITY sqlstate
CREATE TABLE legacy () INHERITS (items);
BEGIN;
CREATE TABLE loose (LIKE items);
ALTER TABLE loose INHERIT items;
ROLLBACK;
SELECT trovella.enable_standard_columns('legacy_parent');
SELECT trovella.enable_standard_columns('legacy_child');
\set VERBOSITY default
SELECT count(*) AS children_of_items FROM pg_inherits WHERE inhparent = 'items'::regclass;
DROP TABLE legacy_child, legacy_parent;
RESET ROLE;

-- The isolation guard: enable_standard_columns in every mode on an isolated
-- table, and in auto on a table it has just isolated.
SET trovella.isolation_guard = warn;
SET ROLE regress_cols_owner;
BEGIN;
CREATE TABLE g_warn (tenant_id uuid NOT NULL);
CREATE INDEX ON g_warn (tenant_id);
SELECT trovella.enable_tenant_isolation('g_warn');
SELECT trovella.enable_standard_columns('g_warn');
COMMIT;
RESET ROLE;
SET trovella.isolation_guard = auto;
SET ROLE regress_cols_owner;
BEGIN;
CREATE TABLE g_auto (tenant_id uuid NOT NULL);
CREATE INDEX ON g_auto (tenant_id);
COMMIT;
SELECT trovella.enable_standard_columns('g_auto');
RESET ROLE;
SET trovella.isolation_guard = error;
SET ROLE regress_cols_owner;
SELECT trovella.enable_standard_columns('g_warn');
SELECT table_name, policy_ok FROM trovella.isolation_status WHERE table_name::text LIKE 'g\_%' ORDER BY 1;
DROP TABLE g_warn, g_auto;

-- disable: the trigger goes, the columns and their values stay.
SELECT trovella.disable_standard_columns('items');
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'items'::regclass;
SELECT count(*) AS columns FROM pg_attribute WHERE attrelid = 'items'::regclass AND attname LIKE '%ed\_%' AND NOT attisdropped;
SELECT trovella.disable_standard_columns('items');              -- idempotent
RESET ROLE;

DROP TABLE items, events, docs CASCADE;
DROP FUNCTION insert_item(text, uuid);
REVOKE ALL ON SCHEMA public FROM regress_cols_owner;
REVOKE ALL ON FUNCTION trovella.with_tenant(uuid, uuid) FROM regress_cols_owner, regress_cols_app;
DROP OWNED BY regress_cols_owner, regress_cols_app, regress_cols_other;
DROP ROLE regress_cols_owner, regress_cols_app, regress_cols_other;
