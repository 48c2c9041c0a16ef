#!/usr/bin/env bash
# pat_create serializes one user's calls with a lock no SQL caller can take:
# a role without any trovella privilege holding the advisory lock that 0.2.0
# used (class "trvp", the user id's hash) blocks nobody, and a transaction
# left open after a pat_create delays the user's next one by a bounded time
# (55P03), not forever.
set -u
. "$(dirname "$0")/lib.sh"
plan 5

APP=regress_lock_app
NOBODY=regress_lock_nobody
PASSWORD=lock-$$-$RANDOM
U=44444444-0000-0000-0000-000000000000
OTHER=55555555-0000-0000-0000-000000000000

q -c "DROP ROLE IF EXISTS $APP" -c "DROP ROLE IF EXISTS $NOBODY" >/dev/null
q -c "CREATE ROLE $APP LOGIN PASSWORD '$PASSWORD';
      CREATE ROLE $NOBODY LOGIN PASSWORD '$PASSWORD';
      GRANT EXECUTE ON FUNCTION trovella.with_user(uuid), trovella.pat_create(text, timestamptz, text[]) TO $APP" >/dev/null

as_app() { PGUSER=$APP PGPASSWORD=$PASSWORD q "$@"; }

# create USER [TIMEOUT]: one pat_create for USER; prints "created" or the SQLSTATE
create() {
	as_app -c "SET statement_timeout = '${2:-20s}'" -c "BEGIN" -c "SELECT trovella.with_user('$1')" \
		-c "SELECT 'created' FROM trovella.pat_create('lock', now() + interval '1 day')" \
		-c "COMMIT" | grep -E '^(created|ERROR)'
}

# hold APPNAME SQL...: a session that runs SQL and then sleeps, in the
# background, until stop APPNAME ends it
hold() {
	local name=$1
	shift
	PGAPPNAME=$name "$@" -c "SELECT pg_sleep(30)" >/dev/null 2>&1 &
	for _ in $(seq 50); do
		[ "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = '$name' AND wait_event = 'PgSleep'")" = 1 ] && return
		sleep 0.1
	done
}
stop() {
	q -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '$1'" >/dev/null
	wait 2>/dev/null
}

# The advisory lock of 0.2.0, taken by a role with no trovella privilege.
hold trovella_lock_squatter env PGUSER=$NOBODY PGPASSWORD=$PASSWORD \
	psql -X -q -d "$DB" -c "SELECT pg_advisory_lock(1953658480, uuid_hash('$U'))"
is "$(q -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1953658480")" "1" \
	"the squatter holds the advisory lock pat_create took in 0.2.0"
is "$(create "$U" 3s)" "created" \
	"pat_create for that user succeeds although an unprivileged role holds that lock"
stop trovella_lock_squatter

# A transaction left open after a pat_create: the next one waits, boundedly.
hold trovella_lock_holder env PGUSER=$APP PGPASSWORD=$PASSWORD \
	psql -X -q -d "$DB" -c "BEGIN" -c "SELECT trovella.with_user('$U')" \
	-c "SELECT count(*) FROM trovella.pat_create('held', now() + interval '1 day')"
is "$(create "$U")" "ERROR 55P03" \
	"the user's next pat_create gives up with 55P03 instead of waiting for that transaction"
is "$(create "$OTHER")" "created" "another user's pat_create is not delayed"
stop trovella_lock_holder
is "$(create "$U")" "created" "once that transaction has ended, the user's pat_create works again"

q -c "DELETE FROM trovella.personal_access_token WHERE user_id IN ('$U', '$OTHER')" >/dev/null
q -c "REVOKE ALL ON FUNCTION trovella.with_user(uuid), trovella.pat_create(text, timestamptz, text[]) FROM $APP;
      DROP ROLE $APP; DROP ROLE $NOBODY" >/dev/null
done_testing
