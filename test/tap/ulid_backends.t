#!/usr/bin/env bash
# Two backends generating ids at the same time never produce the same id:
# each has its own random buffer and generator.
set -u
. "$(dirname "$0")/lib.sh"
plan 2

q -c "DROP TABLE IF EXISTS tap_ulid_ids; CREATE UNLOGGED TABLE tap_ulid_ids (id uuid, backend int)" >/dev/null
for b in 1 2 3 4; do
	q -c "INSERT INTO tap_ulid_ids SELECT trovella.ulid_uuid(), $b FROM generate_series(1, 50000)" &
done
wait
is "$(q -c "SELECT count(*), count(DISTINCT id), count(DISTINCT backend) FROM tap_ulid_ids")" "200000|200000|4" \
	"four concurrent backends generate 200,000 distinct ids"
is "$(q -c "SELECT count(DISTINCT substr(id::text, 15)) FROM (SELECT DISTINCT ON (backend) id FROM tap_ulid_ids ORDER BY backend, id) s")" "4" \
	"each backend starts from its own random bits"
q -c "DROP TABLE tap_ulid_ids" >/dev/null
done_testing
