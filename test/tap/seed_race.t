#!/usr/bin/env bash
# Two runs of the same seed at once: each records it first in the seed's
# own transaction; the second waits for the first, which applies the seed
# and commits, then gets false and skips it.  The seed's rows are there
# once.  In READ COMMITTED, as seed runners use it.
set -u
. "$(dirname "$0")/lib.sh"
ROUNDS=4
plan $((ROUNDS * 2))

SEEDER=regress_seed_race
HASH=$(printf '%064d' 7)

q -c "DROP TABLE IF EXISTS seed_race_plans; DROP ROLE IF EXISTS $SEEDER" >/dev/null
q -c "CREATE ROLE $SEEDER;
	GRANT EXECUTE ON FUNCTION trovella.record_seed(text, text, text) TO $SEEDER;
	CREATE TABLE seed_race_plans (name text);
	GRANT INSERT ON seed_race_plans TO $SEEDER" >/dev/null

# One run, as a seed runner makes it: record first; if new, the seed's
# statement, a moment held open, commit; if not, roll back.
run_seed() {
	q <<SQL | grep -E '^(applied|skipped|ERROR)'
SET ROLE $SEEDER;
BEGIN;
SELECT trovella.record_seed('$1', '$HASH', 'production') AS new \\gset
\\if :new
INSERT INTO seed_race_plans (name) VALUES ('$1');
SELECT pg_sleep(0.3);
COMMIT;
SELECT 'applied';
\\else
ROLLBACK;
SELECT 'skipped';
\\endif
SQL
}

for round in $(seq 1 $ROUNDS); do
	name=race_$round.sql
	run_seed "$name" >"${TMPDIR:-/tmp}/seed.$$.1" &
	run_seed "$name" >"${TMPDIR:-/tmp}/seed.$$.2" &
	wait
	outcome=$(cat "${TMPDIR:-/tmp}/seed.$$.1" "${TMPDIR:-/tmp}/seed.$$.2" | sort | tr '\n' ' ')
	is "$outcome" "applied skipped " "round $round: one run applies the seed, the other, which waited, skips it"
	is "$(q -c "SELECT (SELECT count(*) FROM trovella.seed WHERE name = '$name') || ' ' ||
		(SELECT count(*) FROM seed_race_plans WHERE name = '$name')")" "1 1" \
		"round $round: recorded once, and the seed's row is there once"
done
rm -f "${TMPDIR:-/tmp}/seed.$$.1" "${TMPDIR:-/tmp}/seed.$$.2"

q -c "DELETE FROM trovella.seed WHERE name LIKE 'race\_%'; DROP TABLE seed_race_plans;
	REVOKE ALL ON FUNCTION trovella.record_seed(text, text, text) FROM $SEEDER; DROP ROLE $SEEDER" >/dev/null
done_testing
