#!/usr/bin/env bash
# Two runs of the same seed at once: each records it first in the seed's
# own transaction; the second waits for the first, which applies the seed
# and commits, then gets false and skips it.  The seed's rows are there
# once.  In READ COMMITTED, as seed runners use it, and in REPEATABLE
# READ and SERIALIZABLE, where the second run's snapshot predates the first
# run's commit (0.4.0 failed it with 40001 there instead of false).
set -u
. "$(dirname "$0")/lib.sh"
ROUNDS=4
plan $((ROUNDS * 2 + 6))

SEEDER=regress_seed_race
HASH=$(printf '%064d' 7)
OTHER_HASH=$(printf '%064d' 8)

q -c "DROP TABLE IF EXISTS seed_race_plans; DROP ROLE IF EXISTS $SEEDER" >/dev/null
q -c "CREATE ROLE $SEEDER;
	GRANT EXECUTE ON FUNCTION trovella.record_seed(text, text, text) TO $SEEDER;
	CREATE TABLE seed_race_plans (name text);
	GRANT INSERT ON seed_race_plans TO $SEEDER" >/dev/null

# One run, as a seed runner makes it: record first; if new, the seed's
# statement, a moment held open, commit; if not, roll back.
# run_seed NAME [ISOLATION LEVEL [HASH]]
run_seed() {
	q <<SQL | grep -E '^(applied|skipped|ERROR)'
SET ROLE $SEEDER;
BEGIN ISOLATION LEVEL ${2:-READ COMMITTED};
SELECT trovella.record_seed('$1', '${3:-$HASH}', 'production') AS new \\gset
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

# REPEATABLE READ and SERIALIZABLE: the second run starts its snapshot
# while the first holds the seed open, then waits for its commit
for level in "REPEATABLE READ" "SERIALIZABLE"; do
	name="race_${level// /_}.sql"
	run_seed "$name" "$level" >"${TMPDIR:-/tmp}/seed.$$.1" &
	sleep 0.15
	run_seed "$name" "$level" >"${TMPDIR:-/tmp}/seed.$$.2" &
	wait
	is "$(cat "${TMPDIR:-/tmp}/seed.$$.1" "${TMPDIR:-/tmp}/seed.$$.2" | tr '\n' ' ')" "applied skipped " \
		"$level: the second run, whose snapshot predates the first's commit, gets false (0.4.0: 40001)"
	is "$(q -c "SELECT (SELECT count(*) FROM trovella.seed WHERE name = '$name') || ' ' ||
		(SELECT count(*) FROM seed_race_plans WHERE name = '$name')")" "1 1" \
		"$level: recorded once, and the seed's row is there once"
done
# the same race with other contents: 55000, as in READ COMMITTED
name=race_other.sql
run_seed "$name" "REPEATABLE READ" >"${TMPDIR:-/tmp}/seed.$$.1" &
sleep 0.15
run_seed "$name" "REPEATABLE READ" "$OTHER_HASH" >"${TMPDIR:-/tmp}/seed.$$.2" &
wait
is "$(cat "${TMPDIR:-/tmp}/seed.$$.1" "${TMPDIR:-/tmp}/seed.$$.2" | tr '\n' ' ')" "applied ERROR 55000 " \
	"REPEATABLE READ: a concurrent run of other contents gets 55000 (0.4.0: 40001)"
# the row committed before the snapshot: the ordinary path
is "$(run_seed "$name" "REPEATABLE READ")" "skipped" "REPEATABLE READ: a seed applied before is skipped"
rm -f "${TMPDIR:-/tmp}/seed.$$.1" "${TMPDIR:-/tmp}/seed.$$.2"

q -c "DELETE FROM trovella.seed WHERE name LIKE 'race\_%'; DROP TABLE seed_race_plans;
	REVOKE ALL ON FUNCTION trovella.record_seed(text, text, text) FROM $SEEDER; DROP ROLE $SEEDER" >/dev/null
done_testing
