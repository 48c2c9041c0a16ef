#!/usr/bin/env bash
# Attacks on the tenant context that need a new connection: client options
# at connection start, placeholders set before the library is loaded, stored
# role/database/system settings, and what a connection looks like between
# transactions.  Each new psql is a new backend with the library not loaded.
set -u
. "$(dirname "$0")/lib.sh"
plan 19

A=aaaaaaaa-0000-0000-0000-000000000000
B=bbbbbbbb-0000-0000-0000-000000000000
APP=regress_tap_app
APP_PASSWORD=tap-$$-$RANDOM

q -c "DROP ROLE IF EXISTS $APP" >/dev/null
q -c "CREATE ROLE $APP LOGIN PASSWORD '$APP_PASSWORD';
      GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO $APP" >/dev/null

# as_app SQL...: a new connection as the unprivileged application role
as_app() { PGUSER=$APP PGPASSWORD=$APP_PASSWORD q "$@"; }

# The answer of current_tenant() in a new backend: "ERROR 42501" when the
# context was refused.  Warnings from the refused value are dropped.
tenant_in_new_backend() { "$@" -c "SELECT trovella.current_tenant()" | grep -v WARNING | tail -n 1; }

is "$(PGOPTIONS="-c trovella.tenant_id=$B" tenant_in_new_backend as_app)" "ERROR 42501" \
	"PGOPTIONS -c trovella.tenant_id gives the application role no context"
is "$(PGOPTIONS="-c trovella.tenant_id=$B" tenant_in_new_backend q)" "ERROR 42501" \
	"PGOPTIONS -c trovella.tenant_id gives a superuser no context"
is "$(PGOPTIONS="-c trovella.tenant_id=$B" as_app -c "BEGIN" -c "SELECT trovella.with_tenant('$A')" \
	-c "SELECT trovella.current_tenant()" -c "COMMIT" | grep -v WARNING | sed -n 2p)" "$A" \
	"after a refused PGOPTIONS value, with_tenant() still works"

is "$(as_app -c "SET trovella.tenant_id = '$B'" -c "SELECT trovella.current_tenant()" | grep -v WARNING | tail -n 1)" \
	"ERROR 42501" "a placeholder SET by the application role before the library loads is not a context"
is "$(as_app -c "BEGIN" -c "SET LOCAL trovella.tenant_id = '$B'" -c "SELECT trovella.current_tenant()" | grep -v WARNING | tail -n 1)" \
	"ERROR 42501" "a placeholder SET LOCAL before the library loads is not a context"
is "$(as_app -c "SELECT set_config('trovella.tenant_id', '$B', false)" -c "SELECT trovella.current_tenant()" | grep -v WARNING | tail -n 1)" \
	"ERROR 42501" "a placeholder set_config() before the library loads is not a context"
is "$(q -c "SET trovella.tenant_id = '$B'" -c "SELECT trovella.current_tenant()" | grep -v WARNING | tail -n 1)" \
	"ERROR 42501" "a placeholder SET by a superuser before the library loads is not a context"

# Stored settings, written by a superuser in a backend that has not loaded
# the library (so they are accepted as placeholders), then read at login.
q -c "ALTER ROLE $APP SET trovella.tenant_id = '$B'" >/dev/null
is "$(tenant_in_new_backend as_app)" "ERROR 42501" "ALTER ROLE ... SET trovella.tenant_id gives no context"
q -c "ALTER ROLE $APP RESET ALL" >/dev/null

q -c "ALTER DATABASE $DB SET trovella.tenant_id = '$B'" >/dev/null
is "$(tenant_in_new_backend as_app)" "ERROR 42501" "ALTER DATABASE ... SET trovella.tenant_id gives no context"
q -c "ALTER DATABASE $DB RESET trovella.tenant_id" >/dev/null

# postgresql.auto.conf: with the library loaded ALTER SYSTEM refuses outright.
is "$(q -c "SELECT trovella.current_context()" -c "ALTER SYSTEM SET trovella.tenant_id = '$B'" | tail -n 1)" \
	"ERROR 55P02" "ALTER SYSTEM SET trovella.tenant_id is refused once the library is loaded"
# postgresql.conf: a line written to the included configuration file.
auto_conf=$(q -c "SHOW data_directory")/postgresql.auto.conf
cp "$auto_conf" "$auto_conf.tap-saved"
echo "trovella.tenant_id = '$B'" >>"$auto_conf"
q -c "SELECT pg_reload_conf()" >/dev/null
sleep 1
is "$(tenant_in_new_backend as_app)" "ERROR 42501" "trovella.tenant_id in the configuration files gives no context"
cp "$auto_conf.tap-saved" "$auto_conf" && rm -f "$auto_conf.tap-saved"
q -c "SELECT pg_reload_conf()" >/dev/null

# Between transactions a connection has no context, DISCARD ALL or not.
is "$(as_app -c "BEGIN" -c "SELECT trovella.with_tenant('$A')" -c "COMMIT" -c "DISCARD ALL" \
	-c "SELECT row(tenant_id, user_id)::text FROM trovella.current_context()" | tail -n 1)" "(,)" \
	"after COMMIT and DISCARD ALL the connection has no context"
is "$(as_app -c "BEGIN" -c "SELECT trovella.with_tenant('$A')" -c "COMMIT" \
	-c "SELECT row(tenant_id, user_id)::text FROM trovella.current_context()" | tail -n 1)" "(,)" \
	"after COMMIT the next statement on the same connection has no context"

# PREPARE TRANSACTION ends the context like COMMIT.
if [ "$(q -c "SHOW max_prepared_transactions")" -gt 0 ]; then
	is "$(as_app -c "BEGIN" -c "SELECT trovella.with_tenant('$A')" -c "PREPARE TRANSACTION 'tap_tenant'" \
		-c "SELECT row(tenant_id, user_id)::text FROM trovella.current_context()" | tail -n 1)" "(,)" \
		"after PREPARE TRANSACTION the connection has no context"
	is "$(q -c "COMMIT PREPARED 'tap_tenant'" -c "SELECT count(*) FROM pg_prepared_xacts")" "0" \
		"the prepared transaction commits"
else
	echo "ok 14 # SKIP max_prepared_transactions = 0"
	echo "ok 15 # SKIP max_prepared_transactions = 0"
	tap_n=15
fi

is "$(q -c "SELECT count(*) FROM pg_db_role_setting WHERE array_to_string(setconfig, ',') LIKE '%trovella%'")" "0" \
	"no stored trovella setting is left behind"

# 0.3.0: the settings that steer the guard and the residue check are a
# superuser's, even as placeholders set before the library loads
is "$(as_app -c "SET trovella.tenant_column = 'nope'" -c "SELECT trovella.ulid_uuid() IS NOT NULL" \
	-c "SHOW trovella.tenant_column" 2>/dev/null | tail -n 1)" "tenant_id" \
	"a placeholder trovella.tenant_column set by the application role is dropped when the library loads"
is "$(as_app -c "SET trovella.residue_check = off" -c "SELECT trovella.ulid_uuid() IS NOT NULL" \
	-c "SHOW trovella.residue_check" 2>/dev/null | tail -n 1)" "on" \
	"a placeholder trovella.residue_check set by the application role is dropped when the library loads"
# a cursor WITH HOLD declared before the library was loaded is still seen
is "$(as_app -c "BEGIN" -c "DECLARE held CURSOR WITH HOLD FOR SELECT 1" \
	-c "SELECT trovella.with_tenant('$A')" | tail -n 1)" "ERROR 25000" \
	"with_tenant() in a new backend refuses a cursor WITH HOLD of its transaction"

q -c "REVOKE ALL ON FUNCTION trovella.with_tenant(uuid, uuid) FROM $APP; DROP ROLE $APP" >/dev/null
done_testing
