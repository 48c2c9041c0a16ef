#!/usr/bin/env bash
# The statement residue.c runs when the library is loaded inside a
# transaction (to find held cursors it could not have seen) schema-qualifies
# its operator: an operator planted on the caller's search path is never
# called, as the application role that planted it.
set -u
. "$(dirname "$0")/lib.sh"
plan 2

APP=regress_planted_app
APP_PASSWORD=planted-$$-$RANDOM
T=55555555-0000-0000-0000-000000000000

q -c "DROP SCHEMA IF EXISTS regress_planted CASCADE; DROP ROLE IF EXISTS $APP" >/dev/null
q -c "CREATE ROLE $APP LOGIN PASSWORD '$APP_PASSWORD';
      GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO $APP;
      CREATE SCHEMA regress_planted AUTHORIZATION $APP" >/dev/null
PGUSER=$APP PGPASSWORD=$APP_PASSWORD q -c "
CREATE FUNCTION regress_planted.ge(timestamptz, timestamptz) RETURNS boolean LANGUAGE plpgsql AS \$\$
BEGIN
	RAISE WARNING 'planted operator called' USING ERRCODE = 'XP001';
	RETURN \$1 OPERATOR(pg_catalog.>=) \$2;
END \$\$;
CREATE OPERATOR regress_planted.>= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = regress_planted.ge)" >/dev/null

# a fresh connection, holding a cursor from an earlier transaction (the
# query compares its creation time): the library loads at with_tenant(), in
# the transaction
out=$(PGUSER=$APP PGPASSWORD=$APP_PASSWORD q -c "SET search_path = regress_planted, pg_catalog" \
	-c "BEGIN" -c "DECLARE earlier CURSOR WITH HOLD FOR SELECT 1" -c "COMMIT" \
	-c "BEGIN" -c "SELECT trovella.with_tenant('$T')" -c "SELECT 'context set'" -c "COMMIT")
is "$(echo "$out" | grep -c 'XP001')" "0" \
	"the held-cursor check does not call an operator planted on the search path"
is "$(echo "$out" | grep -c 'context set')" "1" "and the context is set"

q -c "DROP SCHEMA regress_planted CASCADE; REVOKE ALL ON FUNCTION trovella.with_tenant(uuid, uuid) FROM $APP; DROP ROLE $APP" >/dev/null
done_testing
