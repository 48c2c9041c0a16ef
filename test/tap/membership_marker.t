#!/usr/bin/env bash
# The membership marker counts only where trovella can have put it (0.5.0):
# with no membership table registered (the Getting Started setup), a
# trovella_membership constraint on a temporary table, or on a table whose
# owner may not run use_membership(), refuses nobody's with_tenant; one on a
# table of a role that may (the restore of pg_dump --schema=public) still
# fails closed (55000).  Once a table is registered, a constraint changed
# elsewhere no longer makes a backend read the registration again.
set -u
. "$(dirname "$0")/lib.sh"
plan 9

A=aaaaaaaa-0000-0000-0000-000000000000
U1=11111111-0000-0000-0000-000000000000
APP=regress_marker_app
TEMPER=regress_marker_temp
CREATOR=regress_marker_create
OWNER=regress_marker_owner
PASSWORD=marker-$$-$RANDOM

cleanup() {
	q -c "SELECT trovella.stop_membership()" >/dev/null 2>&1
	q -c "DROP TABLE IF EXISTS marker_member, marker_planted, marker_owned, marker_elsewhere;
		DROP OWNED BY $APP, $TEMPER, $CREATOR, $OWNER;
		DROP ROLE IF EXISTS $APP, $TEMPER, $CREATOR, $OWNER" >/dev/null 2>&1
}
cleanup
q -c "CREATE ROLE $APP LOGIN PASSWORD '$PASSWORD';
	CREATE ROLE $TEMPER LOGIN PASSWORD '$PASSWORD';
	CREATE ROLE $CREATOR LOGIN PASSWORD '$PASSWORD';
	CREATE ROLE $OWNER LOGIN PASSWORD '$PASSWORD';
	GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO $APP;
	GRANT TEMPORARY ON DATABASE $DB TO $TEMPER;
	GRANT CREATE ON SCHEMA public TO $CREATOR, $OWNER;
	GRANT EXECUTE ON FUNCTION trovella.use_membership(regclass, name, name, name),
		trovella.stop_membership() TO $OWNER" >/dev/null
# the other session, as the cluster's superuser
OWNER_ENV="PGUSER=${PGUSER:-$(id -un)} PGPASSWORD=${PGPASSWORD:-}"
as() { local who=$1; shift; PGUSER=$who PGPASSWORD=$PASSWORD q "$@"; }
pair() { as $APP -c "BEGIN" -c "SELECT trovella.with_tenant('$A', '$U1')" -c "SELECT trovella.current_tenant()" -c "COMMIT" | tail -n 1; }

is "$(pair)" "$A" "no membership table registered: with_tenant(tenant, user) opens the tenant"

# a role with TEMP only marks a temporary table, and keeps its session open
as $TEMPER -c "CREATE TEMP TABLE marker_planted (n int CONSTRAINT trovella_membership CHECK (true))" \
	-c "SELECT pg_sleep(4)" >/dev/null &
planter=$!
for _ in $(seq 100); do
	[ "$(q -c "SELECT count(*) FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid
		WHERE c.conname = 'trovella_membership' AND r.relpersistence = 't'")" = "1" ] && break
	sleep 0.05
done
is "$(pair)" "$A" "a TEMP-only role's marked temporary table refuses nobody (0.4.0: 55000 while its session lives)"
wait $planter

# a role with CREATE in a schema marks a table of its own, for good
as $CREATOR -c "CREATE TABLE marker_planted (n int CONSTRAINT trovella_membership CHECK (true))" >/dev/null
is "$(q -c "SELECT count(*) FROM pg_constraint WHERE conname = 'trovella_membership'") $(pair)" "1 $A" \
	"a CREATE role's marked table refuses nobody: it may not run use_membership (0.4.0: 55000)"
is "$(q -c "SELECT status FROM trovella.health WHERE check_name = 'membership'")" "ok" \
	"nor does it make health report a problem (0.4.0: problem)"
as $CREATOR -c "DROP TABLE marker_planted" >/dev/null

# the table of a role that may run use_membership, left marked without its
# registration (a restore of the application's schema alone): 55000
as $OWNER -c "CREATE TABLE marker_owned (organization_id uuid, user_id uuid, PRIMARY KEY (organization_id, user_id))" \
	-c "SELECT trovella.use_membership('marker_owned', 'organization_id', 'user_id')" >/dev/null
q -c "DELETE FROM trovella.membership" >/dev/null
is "$(pair 2>&1 | grep -o 'ERROR 55000')" "ERROR 55000" \
	"a marker left on the table of a role that may run use_membership fails closed (55000)"
is "$(q -c "SELECT status || ' ' || (trovella.membership_marker() = 'marker_owned'::regclass) FROM trovella.health WHERE check_name = 'membership'")" \
	"problem true" "health reports it, the same judgement"

# registered: a constraint changed on another table reads nothing again; one
# changed on the member table does
as $OWNER -c "INSERT INTO marker_owned VALUES ('$A', '$U1')" \
	-c "SELECT trovella.use_membership('marker_owned', 'organization_id', 'user_id')" >/dev/null
q -c "CREATE TABLE marker_elsewhere (n int)" >/dev/null
reads=$(as $APP -v ON_ERROR_STOP=0 -v VERBOSITY=default -f - <<SQL 2>&1
SET client_min_messages = debug1;
BEGIN; SELECT trovella.with_tenant('$A', '$U1'); COMMIT;
\echo mark
\! env $OWNER_ENV psql -X -q -d "$DB" -c "ALTER TABLE marker_elsewhere ADD CONSTRAINT positive CHECK (n > 0)" 2>&1 >/dev/null
BEGIN; SELECT trovella.with_tenant('$A', '$U1'); COMMIT;
\echo mark
\! env $OWNER_ENV psql -X -q -d "$DB" -c "ALTER TABLE marker_owned ADD CONSTRAINT some_check CHECK (organization_id IS NOT NULL)" 2>&1 >/dev/null
BEGIN; SELECT trovella.with_tenant('$A', '$U1'); COMMIT;
SQL
)
counts=$(printf '%s\n' "$reads" | awk '/reading the membership registration/ { n++ } /^mark$/ { printf "%d ", n; n = 0 } END { printf "%d", n }')
is "$counts" "1 0 1" \
	"the registration is read once, not again after another table's constraint changed, again after the member table's"
is "$(printf '%s\n' "$reads" | grep -c 'ERROR')" "0" "no error in that session"

as $OWNER -c "SELECT trovella.stop_membership()" >/dev/null
is "$(pair)" "$A" "stop_membership takes the marker off: the tenant opens again"

cleanup
done_testing
