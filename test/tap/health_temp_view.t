#!/usr/bin/env bash
# trovella.health and isolation_status judge the database, not a session:
# a temporary view that the application keeps open in its own session,
# over an isolated table, is no problem of the database (it reads with
# that session's role, for that session only).  On 0.4.0 it turned health
# to "problem" for the monitor, in another session.
set -u
. "$(dirname "$0")/lib.sh"
plan 3

APP=regress_tempview_app
APP_PASSWORD=tempview-$$-$RANDOM

q -c "DROP TABLE IF EXISTS tempview_notes; DROP ROLE IF EXISTS $APP" >/dev/null
q -c "CREATE ROLE $APP LOGIN PASSWORD '$APP_PASSWORD';
      SET trovella.isolation_guard = off;
      CREATE TABLE tempview_notes (id int, tenant_id uuid NOT NULL);
      CREATE INDEX ON tempview_notes (tenant_id);
      SELECT trovella.enable_tenant_isolation('tempview_notes');
      GRANT SELECT ON tempview_notes TO $APP" >/dev/null
before=$(q -c "SELECT detail FROM trovella.health WHERE check_name = 'isolation'")

# the application's session: a temporary view, kept while the monitor looks
PGUSER=$APP PGPASSWORD=$APP_PASSWORD psql -X -q -At -d "$DB" \
	-c "CREATE TEMPORARY VIEW tempview_mine AS SELECT * FROM tempview_notes" \
	-c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
app=$!
for _ in $(seq 1 100); do
	[ "$(q -c "SELECT count(*) FROM pg_class WHERE relname = 'tempview_mine'")" = "1" ] && break
	sleep 0.1
done
is "$(q -c "SELECT count(*) FROM pg_class WHERE relname = 'tempview_mine'")" "1" \
	"the application's session holds its temporary view"
is "$(q -c "SELECT detail FROM trovella.health WHERE check_name = 'isolation'")" "$before" \
	"health's isolation check (status and count) is unchanged by another session's temporary view"
is "$(q -c "SELECT count(*) FROM trovella.isolation_status s, unnest(s.problems) p WHERE p LIKE '%tempview_mine%'")" "0" \
	"isolation_status does not name it"

q -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '$APP'" >/dev/null
wait "$app" 2>/dev/null
q -c "DROP TABLE tempview_notes; DROP ROLE $APP" >/dev/null
done_testing
