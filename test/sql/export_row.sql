-- Export's rows (issue 35, point 2; src/export_row.c): export_tenant makes
-- each row's jsonb itself, with each column's type looked up once per
-- table, and writes its text itself for the checksums.  Both must be
-- exactly what to_jsonb(row) and jsonb's output function make: compared
-- here over the common types, domains, arrays, composites, json and jsonb
-- columns, NULLs, special numbers, a generated column and dropped columns,
-- as the operations role, under the settings export_tenant fixes.
SET timezone = 'UTC';
SET trovella.isolation_guard = off;
CREATE ROLE regress_exr_ops BYPASSRLS IN ROLE pg_read_all_data;
GRANT EXECUTE ON FUNCTION trovella.export_tenant(uuid, bigint) TO regress_exr_ops;
CREATE TYPE exr_pair AS (a int, b text, j jsonb);
CREATE TYPE exr_mood AS ENUM ('sad', 'happy');
CREATE DOMAIN exr_posint AS int CHECK (VALUE > 0);
CREATE DOMAIN exr_email AS text;
CREATE DOMAIN exr_doc AS jsonb;
CREATE DOMAIN exr_ints AS int[];
CREATE TABLE exr_all (
	id int PRIMARY KEY, gone1 text, tenant_id uuid NOT NULL,
	i2 smallint, i4 int, i8 bigint, num numeric, num_s numeric(10,3), f4 real, f8 double precision,
	b boolean, d date, ts timestamp, tstz timestamptz, t time, ttz timetz, iv interval,
	tx text, vc varchar(10), ch char(5), nm name, "Odd ""Key""" text, u uuid, by bytea,
	js json, jb jsonb, ia int[], ta text[], na numeric[][], pr exr_pair, pra exr_pair[], mood exr_mood,
	dpos exr_posint, dem exr_email, ddoc exr_doc, dints exr_ints, dposa exr_posint[],
	ip inet, cidr_ cidr, mac macaddr, mon money, rng int4range, tsr tstzrange, pt point,
	bits bit varying(8), o oid, c "char", gone2 int,
	gen bigint GENERATED ALWAYS AS (i4::bigint * 2) STORED,
	a_very_long_column_name_sorted_last int, z int);
CREATE INDEX ON exr_all (tenant_id);
ALTER TABLE exr_all DROP COLUMN gone1, DROP COLUMN gone2;
SELECT trovella.enable_tenant_isolation('exr_all');
INSERT INTO exr_all (id, tenant_id, i2, i4, i8, num, num_s, f4, f8, b, d, ts, tstz, t, ttz, iv,
	tx, vc, ch, nm, "Odd ""Key""", u, by, js, jb, ia, ta, na, pr, pra, mood, dpos, dem, ddoc, dints, dposa,
	ip, cidr_, mac, mon, rng, tsr, pt, bits, o, c, a_very_long_column_name_sorted_last, z) VALUES
(1, 'eeeeeeee-0000-0000-0000-00000000e035', -32768, 2147483647, -9223372036854775808, 12345.678900, 1.5,
 1.1, 0.1, true, '2026-03-01', '2026-03-01 12:34:56.789', '2026-03-01 12:34:56.789+02', '12:00', '12:00+03',
 '1 day 02:03:04', E'a "quoted" \\ back\nslash\ttab \u00e9 \u0001 \b\f\r \u001f end', 'vc', 'ch', 'nm', 'odd',
 'ffffffff-0000-1111-2222-333333333333', '\xdeadbeef',
 '{"b": 1, "a": [1, 2, {"z": null}], "a": 2}', '{"k": [1, "two", {"n": 3.50}], "": false, "s": "\"\\\n"}',
 '{1,NULL,3}', '{"x","y z",NULL,"q\"uote"}', '{{1.5,2},{3,NULL}}', '(1,"x y","{\"k\": [1]}")',
 ARRAY['(2,b,null)'::exr_pair, NULL], 'happy', 7, 'a@b', '{"d": 1}', '{4,5}', '{1,2}',
 '10.0.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03', 12.34, '[1,5)', '[2026-01-01,2026-02-01)', '(1.5,2)',
 B'101', 42, 'q', 1, 2),
(2, 'eeeeeeee-0000-0000-0000-00000000e035', NULL, NULL, NULL, 'NaN', NULL, 'NaN', 'Infinity', NULL,
 'infinity', '-infinity', 'infinity', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 '"scalar"', '"scalar"', '{}', NULL, NULL, '(,,)', '{}', NULL, NULL, NULL, '7', '{}', NULL,
 NULL, NULL, NULL, NULL, 'empty', NULL, NULL, NULL, NULL, NULL, NULL, NULL),
(3, 'eeeeeeee-0000-0000-0000-00000000e035', 0, 0, 0, '-0.000', 0, '-Infinity', '-0', false,
 '1999-12-31', '0001-01-01 00:00:00 BC', '2000-01-01 00:00:00+00', '00:00', '00:00+00', '-1 year',
 '', '', '', '', '', '00000000-0000-0000-0000-000000000000', '\x', 'null', 'null', '{}', '{}', '{}',
 NULL, NULL, 'sad', 1, '', '[]', NULL, '{NULL}', '::1', '::/0', '00:00:00:00:00:00', -1, '(,)', NULL, '(0,0)',
 B'', 0, '', NULL, NULL),
(4, 'eeeeeeee-0000-0000-0000-00000000e035', 1, 1, 1, 'Infinity', 99999.999, 3.4028235e38, 1e-308, true,
 NULL, NULL, NULL, NULL, NULL, NULL, repeat('long ', 2000), NULL, NULL, NULL, NULL, NULL, NULL,
 '[1, "a", {"b": [true]}]', '123.456e10', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'true', NULL, NULL,
 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
(5, 'ffffffff-0000-0000-0000-00000000e035', 5, 5, 5, 5, 5, 5, 5, true, NULL, NULL, NULL, NULL, NULL, NULL,
 'other tenant', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

SET ROLE regress_exr_ops;
-- the settings export_tenant's SET clauses fix, for to_jsonb here
SET extra_float_digits = 3;
SET DateStyle = 'ISO, MDY';
SET IntervalStyle = 'postgres';
SET bytea_output = 'hex';
SET lc_monetary = 'C';
CREATE TEMP TABLE exr_out AS SELECT * FROM trovella.export_tenant('eeeeeeee-0000-0000-0000-00000000e035');
-- each row: the same jsonb as to_jsonb(row), and the same text
SELECT (o.row ->> 'id')::int AS id, o.row = to_jsonb(r.*) AS same_jsonb,
       o.row::text = to_jsonb(r.*)::text AS same_text
FROM exr_out o JOIN exr_all r ON r.id = (o.row ->> 'id')::int
WHERE o.table_name = 'public.exr_all'
ORDER BY 1;
-- no column left out, none added (the dropped ones are not there)
SELECT count(*) AS rows, min((SELECT count(*) FROM jsonb_object_keys(o.row))) AS keys,
       bool_or(o.row ? 'gone1' OR o.row ? 'gone2') AS dropped_columns_exported
FROM exr_out o WHERE o.table_name = 'public.exr_all';
-- the checksums are over the rows' text as jsonb's output function writes it
SELECT t ->> 'rows' AS rows,
       t ->> 'sha256' = (SELECT encode(sha256(convert_to(string_agg(o.row::text || E'\n', '' ORDER BY o.ordinal), 'UTF8')), 'hex')
                         FROM exr_out o WHERE o.table_name = t ->> 'table') AS sha256_matches
FROM exr_out m, jsonb_array_elements(m.row -> 'tables') t
WHERE m.table_name IS NULL AND t ->> 'table' = 'public.exr_all';
-- and the total over the tables' checksums, each followed by a newline, in the manifest's order
SELECT m.row ->> 'sha256' = encode(sha256(convert_to(string_agg((t ->> 'sha256') || E'\n', '' ORDER BY n), 'UTF8')), 'hex')
       AS total_matches
FROM exr_out m, jsonb_array_elements(m.row -> 'tables') WITH ORDINALITY e(t, n)
WHERE m.table_name IS NULL
GROUP BY m.row;
DROP TABLE exr_out;
RESET ROLE;

DROP TABLE exr_all;
DROP DOMAIN exr_posint, exr_email, exr_doc, exr_ints;
DROP TYPE exr_pair, exr_mood;
REVOKE EXECUTE ON FUNCTION trovella.export_tenant(uuid, bigint) FROM regress_exr_ops;
DROP ROLE regress_exr_ops;
RESET DateStyle;
RESET IntervalStyle;
RESET extra_float_digits;
RESET bytea_output;
RESET lc_monetary;
