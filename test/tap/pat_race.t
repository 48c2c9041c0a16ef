#!/usr/bin/env bash
# Two sessions racing for a user's last token slot: exactly one wins, in
# READ COMMITTED and in REPEATABLE READ (where a plain count under the
# transaction's snapshot would miss the other's token).
set -u
. "$(dirname "$0")/lib.sh"
ROUNDS=6
plan $((ROUNDS + 1))

APP=regress_race_app
APP_PASSWORD=race-$$-$RANDOM
U=33333333-0000-0000-0000-000000000000

q -c "DROP ROLE IF EXISTS $APP" >/dev/null
q -c "CREATE ROLE $APP LOGIN PASSWORD '$APP_PASSWORD';
      GRANT EXECUTE ON FUNCTION trovella.with_user(uuid), trovella.pat_create(text, timestamptz, text[]) TO $APP;
      ALTER ROLE $APP SET trovella.pat_max_per_user = 2" >/dev/null

# One contender: takes its snapshot first, creates a token, holds the
# transaction open a moment, commits.  Prints "won" or the SQLSTATE.
contend() {
	PGUSER=$APP PGPASSWORD=$APP_PASSWORD q \
		-c "BEGIN ISOLATION LEVEL $1" \
		-c "SELECT trovella.with_user('$U')" \
		-c "SELECT 'won' FROM trovella.pat_create('race', now() + interval '1 day')" \
		-c "SELECT pg_sleep(0.3)" \
		-c "COMMIT" | grep -E '^(won|ERROR)'
}

for round in $(seq 1 $ROUNDS); do
	level="READ COMMITTED"
	[ $((round % 2)) -eq 0 ] && level="REPEATABLE READ"
	# one live token already: the slot left is the second
	q -c "DELETE FROM trovella.personal_access_token WHERE user_id = '$U'" >/dev/null
	PGUSER=$APP PGPASSWORD=$APP_PASSWORD q -c "BEGIN" -c "SELECT trovella.with_user('$U')" \
		-c "SELECT count(*) FROM trovella.pat_create('seed', now() + interval '1 day')" -c "COMMIT" >/dev/null
	contend "$level" >"${TMPDIR:-/tmp}/race.$$.1" &
	contend "$level" >"${TMPDIR:-/tmp}/race.$$.2" &
	wait
	outcome=$(cat "${TMPDIR:-/tmp}/race.$$.1" "${TMPDIR:-/tmp}/race.$$.2" | sort | tr '\n' ' ')
	is "$outcome" "ERROR 54000 won " "round $round ($level): one contender wins the last slot, the other gets 54000"
done
rm -f "${TMPDIR:-/tmp}/race.$$.1" "${TMPDIR:-/tmp}/race.$$.2"

is "$(q -c "SELECT count(*) FROM trovella.personal_access_token WHERE user_id = '$U' AND revoked_at IS NULL")" "2" \
	"the user ends with exactly the cap"

q -c "DELETE FROM trovella.personal_access_token WHERE user_id = '$U'" >/dev/null
q -c "ALTER ROLE $APP RESET ALL; REVOKE ALL ON FUNCTION trovella.with_user(uuid), trovella.pat_create(text, timestamptz, text[]) FROM $APP; DROP ROLE $APP" >/dev/null
done_testing
