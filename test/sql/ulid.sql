-- ULID-as-uuid identifiers
SET timezone = 'UTC';

-- Runs a statement and returns "SQLSTATE: message", or "ok" if it succeeds.
CREATE FUNCTION pg_temp.error_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- Known vectors, both directions (npm ulid agrees).
SELECT trovella.ulid_to_uuid('01ARZ3NDEKTSV4RRFFQ69G5FAV') = '01563e3a-b5d3-d676-4c61-efb99302bd5b' AS vector_decodes,
       trovella.uuid_to_ulid('01563e3a-b5d3-d676-4c61-efb99302bd5b') AS vector_encodes;
SELECT trovella.ulid_to_uuid('00000000000000000000000000') AS nil,
       trovella.uuid_to_ulid('00000000-0000-0000-0000-000000000000') AS nil_text;
SELECT trovella.ulid_to_uuid('7ZZZZZZZZZZZZZZZZZZZZZZZZZ') AS max,
       trovella.uuid_to_ulid('ffffffff-ffff-ffff-ffff-ffffffffffff') AS max_text;

-- Any case on input, uppercase on output.
SELECT trovella.ulid_to_uuid('01arz3ndektsv4rrffq69g5fav') = trovella.ulid_to_uuid('01ARZ3NDEKTSV4RRFFQ69G5FAV') AS lower_ok,
       trovella.ulid_to_uuid('01aRz3NdEkTsV4rRfFq69G5fAv') = trovella.ulid_to_uuid('01ARZ3NDEKTSV4RRFFQ69G5FAV') AS mixed_ok;

-- Round trip of fresh ids.
SELECT count(*) AS round_trip_failures
FROM (SELECT trovella.ulid_uuid() AS id FROM generate_series(1, 10000)) s
WHERE trovella.ulid_to_uuid(trovella.uuid_to_ulid(id)) <> id;

-- The embedded time.
SELECT trovella.ulid_time('01563e3a-b5d3-d676-4c61-efb99302bd5b') AS vector_time;
SELECT abs(extract(epoch FROM trovella.ulid_time(trovella.ulid_uuid()) - clock_timestamp())) < 5 AS time_is_now;

-- Malformed text: 22P02, naming the function and the value.
SELECT left(v, 30) AS input, pg_temp.error_of(format('SELECT trovella.ulid_to_uuid(%L)', v)) AS error
FROM unnest(ARRAY[
	'',
	'01ARZ3NDEKTSV4RRFFQ69G5FA',           -- 25 characters
	'01ARZ3NDEKTSV4RRFFQ69G5FAVX',         -- 27 characters
	'01ARZ3NDEKTSV4RRFFQ69G5FAI',          -- I
	'01ARZ3NDEKTSV4RRFFQ69G5FAL',          -- L
	'01ARZ3NDEKTSV4RRFFQ69G5FAO',          -- O
	'01ARZ3NDEKTSV4RRFFQ69G5FAU',          -- U
	'01ARZ3NDEKTSV4RRFFQ69G5FA-',
	'01ARZ3NDEKTSV4RRFFQ69G5FA ',
	'01ARZ3NDEKTSV4RRFFQ69G5Fé',           -- 26 bytes, 25 characters
	'8ZZZZZZZZZZZZZZZZZZZZZZZZZ',          -- beyond 128 bits
	'ZZZZZZZZZZZZZZZZZZZZZZZZZZ',
	repeat('0123456789', 20)               -- long: quoted truncated
]) AS v;

-- Generation is strictly increasing within a backend, even within one
-- millisecond (1,000,000 consecutive ids).
SELECT count(*) FILTER (WHERE id <= prev) AS not_increasing,
       count(*) FILTER (WHERE trovella.ulid_time(id) < trovella.ulid_time(prev)) AS time_went_back,
       count(DISTINCT trovella.ulid_time(id)) < 1000000 AS shared_milliseconds
FROM (SELECT id, lag(id) OVER (ORDER BY n) AS prev
      FROM (SELECT n, trovella.ulid_uuid() AS id FROM generate_series(1, 1000000) n) g) s;

-- Within one millisecond the next id is the last one plus a random step of
-- 2 to 2^32 + 1, never a predictable +1: over 20,000 ids, the steps between
-- neighbours sharing a millisecond are spread over that whole range (their
-- mean log2 is about 30.6 for a uniform step) and almost all distinct.
CREATE FUNCTION pg_temp.random_part(id uuid) RETURNS numeric LANGUAGE sql IMMUTABLE AS $$
	SELECT sum(get_byte(uuid_send(id), i)::numeric * 256::numeric ^ (15 - i)) FROM generate_series(6, 15) i
$$;
SELECT count(*) >= 1000 AS enough_shared_milliseconds,
       count(*) FILTER (WHERE step < 2 OR step > 4294967297) AS steps_out_of_range,
       count(DISTINCT step) >= 0.99 * count(*) AS steps_almost_all_distinct,
       avg(ln(step) / ln(2)) BETWEEN 29.5 AND 31.5 AS mean_log2_step_near_30_6
FROM (SELECT pg_temp.random_part(id) - pg_temp.random_part(prev) AS step
      FROM (SELECT id, lag(id) OVER (ORDER BY n) AS prev
            FROM (SELECT n, trovella.ulid_uuid() AS id FROM generate_series(1, 20000) n) g) s
      WHERE trovella.ulid_time(id) = trovella.ulid_time(prev)) steps;

-- An id for a given time: that millisecond, fresh random bits.
SELECT trovella.ulid_time(trovella.ulid_uuid('2024-05-01 12:34:56.789123+00')) AS at_time,
       trovella.ulid_uuid('2024-05-01 12:00+00') <> trovella.ulid_uuid('2024-05-01 12:00+00') AS random_differs,
       trovella.uuid_to_ulid(trovella.ulid_uuid('1970-01-01 00:00+00')) LIKE '0000000000%' AS epoch_ok,
       trovella.ulid_time(trovella.ulid_uuid('10889-08-02 05:31:50.655+00')) AS last_millisecond;

-- Times a ULID cannot hold: 22008.
SELECT f, v AS input, pg_temp.error_of(format('SELECT trovella.%s(%L::timestamptz)', f, v)) AS error
FROM unnest(ARRAY['ulid_uuid', 'ulid_min', 'ulid_max']) AS f,
     unnest(ARRAY['infinity', '-infinity', '1969-12-31 23:59:59.999+00', '10889-08-02 05:31:50.656+00', '200000-01-01 00:00+00']) AS v
ORDER BY f, v;

-- Range helpers: the smallest and largest id of a millisecond.
SELECT trovella.ulid_min('2024-05-01 12:00:00.123456+00') AS min_id,
       trovella.ulid_max('2024-05-01 12:00:00.123+00') AS max_id,
       trovella.ulid_time(trovella.ulid_min('2024-05-01 12:00:00.123456+00')) AS min_time;
SELECT trovella.ulid_min('2024-05-01 12:00+00') <= id AND id <= trovella.ulid_max('2024-05-01 12:00+00') AS inside
FROM (SELECT trovella.ulid_uuid('2024-05-01 12:00+00') AS id FROM generate_series(1, 5)) s;

-- Range scans on an indexed table.
CREATE TABLE ulid_events (id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), n int);
INSERT INTO ulid_events (id, n)
SELECT trovella.ulid_uuid('2024-01-01 00:00+00'::timestamptz + n * interval '1 minute'), n
FROM generate_series(0, 99999) n;
INSERT INTO ulid_events (n) VALUES (-1);
ANALYZE ulid_events;
EXPLAIN (COSTS OFF)
SELECT count(*) FROM ulid_events
WHERE id >= trovella.ulid_min('2024-01-02') AND id < trovella.ulid_min('2024-01-03');
SELECT count(*) AS one_day_of_minutes FROM ulid_events
WHERE id >= trovella.ulid_min('2024-01-02') AND id < trovella.ulid_min('2024-01-03');
SELECT count(*) AS default_is_now FROM ulid_events
WHERE n = -1 AND abs(extract(epoch FROM trovella.ulid_time(id) - now())) < 60;

-- Rich ids.
SELECT trovella.rich_id('tenant', '01563e3a-b5d3-d676-4c61-efb99302bd5b') AS rich,
       trovella.rich_id_to_uuid('tenant-01ARZ3NDEKTSV4RRFFQ69G5FAV', 'tenant') AS back,
       trovella.rich_id_to_uuid('api_key2-01arz3ndektsv4rrffq69g5fav', 'api_key2') AS lower_ulid,
       length(trovella.rich_id(repeat('a', 63), trovella.ulid_uuid())) AS longest;
SELECT stmt, pg_temp.error_of(stmt) AS error
FROM unnest(ARRAY[
	$$SELECT trovella.rich_id('', trovella.ulid_uuid())$$,
	$$SELECT trovella.rich_id('Tenant', trovella.ulid_uuid())$$,
	$$SELECT trovella.rich_id('1tenant', trovella.ulid_uuid())$$,
	$$SELECT trovella.rich_id('ten-ant', trovella.ulid_uuid())$$,
	$$SELECT trovella.rich_id(repeat('a', 64), trovella.ulid_uuid())$$,
	$$SELECT trovella.rich_id_to_uuid('user-01ARZ3NDEKTSV4RRFFQ69G5FAV', 'tenant')$$,
	$$SELECT trovella.rich_id_to_uuid('tenant01ARZ3NDEKTSV4RRFFQ69G5FAV', 'tenant')$$,
	$$SELECT trovella.rich_id_to_uuid('tenant-01ARZ3NDEKTSV4RRFFQ69G5FA', 'tenant')$$,
	$$SELECT trovella.rich_id_to_uuid('tenant-01ARZ3NDEKTSV4RRFFQ69G5FAU', 'tenant')$$,
	$$SELECT trovella.rich_id_to_uuid('tenant-01ARZ3NDEKTSV4RRFFQ69G5FAV', 'Tenant')$$,
	$$SELECT trovella.rich_id_to_uuid('01ARZ3NDEKTSV4RRFFQ69G5FAV', '')$$
]) AS stmt;

-- STRICT: NULL in, NULL out.
SELECT trovella.ulid_to_uuid(NULL) IS NULL AS a, trovella.uuid_to_ulid(NULL) IS NULL AS b,
       trovella.ulid_uuid(NULL) IS NULL AS c, trovella.rich_id(NULL, NULL) IS NULL AS d;

DROP TABLE ulid_events;

-- a token passed where a ULID or a prefix belongs is never quoted back past
-- its hint, whole, cut short or mistyped (issue 31, point 5)
\set VERBOSITY default
SELECT trovella.ulid_to_uuid('trv_M7H4jxUDDWHP4kZ6A4dxlQYsQIWJuq11T4V4');
SELECT trovella.ulid_to_uuid('trv_M7H4jxUDDWHP4kZ6A4dxlQYsQIWJuq11T4V');
SELECT trovella.rich_id_to_uuid('x_01ARZ3NDEKTSV4RRFFQ69G5FAV', 'trv_M7H4jxUDDWHP4kZ6A4dxlQYsQIWJuq11T4V5');
