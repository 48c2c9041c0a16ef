-- The audit trigger converts a row to jsonb itself, from what it keeps per
-- table (0.5.0, for speed): the value must be to_jsonb's, byte for byte,
-- for every kind of column, since a record's hash covers it.  Compared over
-- each type the trigger converts on its own (and domains over them), over
-- the types it leaves to to_jsonb, NULLs, edge values, a dropped and a
-- generated column, and again after the table's columns change.  Written
-- by the table's non-superuser owner.
CREATE ROLE regress_ajsonb_owner;
GRANT CREATE ON SCHEMA public TO regress_ajsonb_owner;
SET trovella.isolation_guard = off;
SET ROLE regress_ajsonb_owner;
CREATE TYPE ajsonb_mood AS ENUM ('sad', 'happy');
CREATE TYPE ajsonb_pair AS (a int, b text);
CREATE DOMAIN ajsonb_label AS text CHECK (VALUE <> '');
CREATE DOMAIN ajsonb_count AS int8;
CREATE DOMAIN ajsonb_when AS timestamptz;
CREATE TABLE ajsonb (
	id int PRIMARY KEY,
	gone text,
	b bool, i2 int2, i4 int4, i8 int8, n numeric, n2 numeric(10, 2), f4 float4, f8 float8,
	t text, vc varchar(20), c char(5), u uuid,
	d date, ts timestamp, tz timestamptz, j jsonb,
	js json, arr int[], tarr text[], pair ajsonb_pair, mood ajsonb_mood, label ajsonb_label,
	cnt ajsonb_count, w ajsonb_when, iv interval, ip inet, by bytea, o oid, ch "char", nm name,
	m money, tr tsrange, bt bit(3),
	doubled int8 GENERATED ALWAYS AS (i4::int8 * 2) STORED
);
ALTER TABLE ajsonb DROP COLUMN gone;
SELECT trovella.enable_audit('ajsonb');
SET timezone = 'UTC';
INSERT INTO ajsonb (id) VALUES (1);
INSERT INTO ajsonb VALUES
	(2, true, -32768, -2147483648, -9223372036854775808, 'NaN', 0, 'NaN', 'NaN',
	 '', '', '', '00000000-0000-0000-0000-000000000000',
	 '-infinity', '-infinity', '-infinity', 'null',
	 'null', '{}', '{}', '(,)', 'sad', 'x', 0, '-infinity', '0', '0.0.0.0/0', '', 0, '', '',
	 0, 'empty', '000'),
	(3, false, 32767, 2147483647, 9223372036854775807, 'Infinity', 99999999.99, 'Infinity', 'Infinity',
	 E'quote " backslash \\ tab \t newline \n unicode é 日本 \u0001', 'varchar', 'ab', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11',
	 'infinity', 'infinity', 'infinity', '"a string"',
	 '{"z": 1, "a": [1, 2.50]}', '{1,NULL,3}', '{"a b",NULL}', '(1,"x y")', 'happy', 'label', 42, 'infinity',
	 '1 day 02:03:04', '::1', '\xdeadbeef', 4294967295, 'q', 'a name', 12.34, '[2026-01-01,2026-02-01)', '101'),
	(4, NULL, 0, 0, 0, '-Infinity', -0.5, '-Infinity', '-Infinity',
	 repeat('long text, toasted ', 2000), NULL, 'abcde', NULL,
	 '2026-12-07', '2026-12-07 20:15:00.123456', '2026-12-07 20:15:00.123456+02', '[1, "two", {"b": 2, "a": 1}, 1.10]',
	 '[]', NULL, NULL, NULL, NULL, NULL, NULL, '2000-01-01 00:00:00+00', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
	(5, true, 7, 7, 7, -0.000001230, 1e-2, 1.5e-10, 1e21,
	 'x', 'y', 'z', 'ffffffff-ffff-ffff-ffff-ffffffffffff',
	 '0001-01-01 BC', '1999-12-31 23:59:59.999999', '1999-12-31 23:59:59.999999-12', '{"k": {"n": [true, false, null]}, "e": {}}',
	 '"s"', '{{1,2},{3,4}}', '{""}', '(-1,)', 'sad', 'l', -1, '1970-01-01 00:00:00+00',
	 '-1 year', '10.0.0.1/8', '\x00', 1, 'z', '', -0.01, '(,)', '111'),
	(6, NULL, NULL, 123456, NULL, 1234567890123456789012345678901234567890.0123456789, 1.10, -0.0, -0.0,
	 NULL, NULL, NULL, NULL, NULL, NULL, NULL, '12.500', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
RESET ROLE;
-- the record's new is to_jsonb of the row, as text (key order, numbers'
-- scale, strings) and as jsonb
SELECT a.id, h.new::text = to_jsonb(a)::text AS same_text, h.new = to_jsonb(a) AS same_jsonb
FROM ajsonb a
JOIN trovella.audit_log h ON h.table_text = 'public.ajsonb' AND h.operation = 'INSERT'
 AND h.row_key = a.id::text
ORDER BY a.id;
-- a DELETE's old likewise
CREATE TABLE ajsonb_before AS SELECT id, to_jsonb(a) AS row FROM ajsonb a;
SET ROLE regress_ajsonb_owner;
DELETE FROM ajsonb WHERE id IN (3, 4);
RESET ROLE;
SELECT b.id, h.old::text = b.row::text AS same_text
FROM ajsonb_before b
JOIN trovella.audit_log h ON h.table_text = 'public.ajsonb' AND h.operation = 'DELETE'
 AND h.row_key = b.id::text
ORDER BY b.id;
-- an UPDATE's old and new: to_jsonb's values of the columns whose values
-- differ as jsonb (as text: 1.50 and 1.500 differ)
SET ROLE regress_ajsonb_owner;
UPDATE ajsonb SET b = NOT b, i4 = i4 + 1, n = n * 1.0, tz = tz + interval '1 second',
	t = t || '!', j = '{"a": 1}', arr = '{9}', mood = 'happy', label = 'relabelled', ip = '127.0.0.1',
	m = 1, nm = 'renamed', f8 = 2.5, u = NULL, d = d
WHERE id IN (1, 2, 5, 6);
RESET ROLE;
CREATE TABLE ajsonb_after AS SELECT id, to_jsonb(a) AS row FROM ajsonb a;
SELECT b.id,
       h.old::text = (SELECT coalesce(jsonb_object_agg(o.key, o.value), '{}')::text
                      FROM jsonb_each(b.row) o JOIN jsonb_each(f.row) n USING (key)
                      WHERE o.value::text IS DISTINCT FROM n.value::text) AS same_old,
       h.new::text = (SELECT coalesce(jsonb_object_agg(n.key, n.value), '{}')::text
                      FROM jsonb_each(b.row) o JOIN jsonb_each(f.row) n USING (key)
                      WHERE o.value::text IS DISTINCT FROM n.value::text) AS same_new,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(h.new) k) AS changed
FROM ajsonb_before b
JOIN ajsonb_after f USING (id)
JOIN trovella.audit_log h ON h.table_text = 'public.ajsonb' AND h.operation = 'UPDATE'
 AND h.row_key = b.id::text
ORDER BY b.id;
-- the table's columns change: what the trigger kept of them is made again
SET ROLE regress_ajsonb_owner;
ALTER TABLE ajsonb DROP COLUMN i2, ADD COLUMN added numeric DEFAULT 1.000, ALTER COLUMN n2 TYPE float8;
ALTER TABLE ajsonb RENAME COLUMN t TO renamed;
INSERT INTO ajsonb (id, n2, renamed) VALUES (7, 7.70, 'after');
RESET ROLE;
SELECT a.id, h.new::text = to_jsonb(a)::text AS same_text,
       h.new ? 'added' AS has_added, h.new ? 'renamed' AS has_renamed, h.new ? 'i2' AS has_i2
FROM ajsonb a
JOIN trovella.audit_log h ON h.table_text = 'public.ajsonb' AND h.operation = 'INSERT'
 AND h.row_key = a.id::text
WHERE a.id = 7;
-- the stored bytes are those the text parses back into (a restore's):
-- rewritten from their text, every record still verifies
SELECT trovella.audit_seal() > 0 AS sealed;
BEGIN;
UPDATE trovella.audit_history SET old = old::text::jsonb, new = new::text::jsonb
WHERE table_id = (SELECT id FROM trovella.audit_table WHERE name = 'public.ajsonb');
SELECT ok, broken_seq, problem FROM trovella.audit_verify(NULL);
ROLLBACK;

RESET timezone;
RESET trovella.isolation_guard;
DROP TABLE ajsonb, ajsonb_before, ajsonb_after;
DROP TYPE ajsonb_mood, ajsonb_pair;
DROP DOMAIN ajsonb_label, ajsonb_count, ajsonb_when;
TRUNCATE trovella.audit_history, trovella.audit_seal;
DELETE FROM trovella.audit_table;
-- the numbering as this test found it, for the tests after it
ALTER SEQUENCE trovella.audit_seq RESTART;
REVOKE ALL ON SCHEMA public FROM regress_ajsonb_owner;
DROP ROLE regress_ajsonb_owner;
