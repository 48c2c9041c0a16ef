#!/usr/bin/env bash
# The README's examples run as written: every ```sql block, in order, in a
# fresh database of a fresh server (the extension preloaded, as the README
# installs it; pg_cron too where it is installed), as the roles the blocks
# name with only the grants the README gives, each block's stated results
# and SQLSTATEs checked (scripts/doctest says how a block says them).  A
# block that needs what this machine lacks (Citus, pg_partman of another
# major) is reported as skipped, with the reason.  The server listens on a
# socket in a temporary directory only, and is stopped on every exit path.
set -u
. "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)

own_servers data
DATA=$dir/data
port=$((20000 + RANDOM % 20000))

preload=trovella
if [ -f "$(pg_config --pkglibdir)/pg_cron.so" ]; then
	preload=trovella,pg_cron
fi
as_server "$bindir/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
printf '%s\n' "shared_preload_libraries = '$preload'" "cron.database_name = 'readme'" \
	"timezone = 'UTC'" >>"$DATA/postgresql.conf"
start "$DATA" $port
psql -X -q -h "$dir" -p "$port" -U postgres -d postgres -c 'CREATE DATABASE readme' >/dev/null

PGHOST=$dir PGPORT=$port PGDATABASE=readme PGTZ=UTC DOCTEST_SUPERUSER=postgres \
	perl "$root/scripts/doctest" "$root/README.md"
