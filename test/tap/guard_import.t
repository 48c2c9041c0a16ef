#!/usr/bin/env bash
# IMPORT FOREIGN SCHEMA creates foreign tables as CREATE FOREIGN TABLE does:
# with the guard in error, one with the tenant column is refused at commit
# (a foreign table cannot be tenant-isolated), as isolation_status and
# health would name it.  Its command tag was in no list, so 0.5.0 before
# this committed it.  Needs postgres_fdw (contrib) and a loopback
# connection as the superuser of the test server.
set -u
. "$(dirname "$0")/lib.sh"
plan 3

S=regress_import
if [ "$(q -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'postgres_fdw'")" != 1 ]; then
	for n in 1 2 3; do echo "ok $n # SKIP postgres_fdw (contrib) is not installed"; done
	exit 0
fi
q -c "DROP SCHEMA IF EXISTS ${S}_src, ${S}_dst CASCADE; DROP SERVER IF EXISTS ${S}_loop CASCADE" >/dev/null
q -c "CREATE EXTENSION IF NOT EXISTS postgres_fdw" >/dev/null
q -c "CREATE SCHEMA ${S}_src;
      CREATE TABLE ${S}_src.remote_orders (id int, tenant_id uuid NOT NULL);
      CREATE TABLE ${S}_src.remote_lookup (id int, name text);
      COMMENT ON TABLE ${S}_src.remote_orders IS 'trovella: reviewed: the loopback source';
      CREATE SCHEMA ${S}_dst" >/dev/null
q -c "DO \$\$ BEGIN EXECUTE format('CREATE SERVER ${S}_loop FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host %L, port %L, dbname %L)',
          coalesce(nullif('${PGHOST:-}', ''), split_part(current_setting('unix_socket_directories'), ',', 1)),
          current_setting('port'), current_database()); END \$\$" >/dev/null
q -c "CREATE USER MAPPING FOR CURRENT_USER SERVER ${S}_loop
      OPTIONS (user '${PGUSER:-$(id -un)}', password '${PGPASSWORD:-}')" >/dev/null

is "$(q -c "SET trovella.isolation_guard = error" \
	-c "IMPORT FOREIGN SCHEMA ${S}_src FROM SERVER ${S}_loop INTO ${S}_dst")" "ERROR 55000" \
	"with the guard in error, a foreign table with the tenant column imported is refused"
is "$(q -c "SELECT count(*) FROM pg_class WHERE relnamespace = '${S}_dst'::regnamespace")" "0" \
	"nothing of the import is committed"
is "$(q -c "SET trovella.isolation_guard = error" \
	-c "IMPORT FOREIGN SCHEMA ${S}_src LIMIT TO (remote_lookup) FROM SERVER ${S}_loop INTO ${S}_dst" \
	-c "SELECT count(*) FROM pg_class WHERE relnamespace = '${S}_dst'::regnamespace")" "1" \
	"a foreign table without it is imported"

q -c "DROP SCHEMA ${S}_src, ${S}_dst CASCADE; DROP SERVER ${S}_loop CASCADE; DROP EXTENSION postgres_fdw" >/dev/null
done_testing
