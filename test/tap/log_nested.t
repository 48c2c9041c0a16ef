#!/usr/bin/env bash
# The statement text a log line quotes is never freed under anyone's feet
# (issue 31, point 1).  A test module (test/modules/nested_statement) does
# what pglogical's execute_sql_command does: saves debug_query_string,
# points it at a nested command holding a token, logs, restores it, logs
# again.  trovella 0.4.0 freed the masked copy of the outer statement when
# it masked the nested one: the restored pointer was freed memory, and with
# a statement large enough to be given back to the system the backend died
# of SIGSEGV and the postmaster restarted the cluster.  Default log
# settings; a server of its own with trovella preloaded.
set -u
. "$(dirname "$0")/lib.sh"
plan 7

own_servers data
DATA=$dir/data
port=$((20000 + RANDOM % 20000))
s() { psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -h "$dir" -p "$port" -U postgres -d postgres "$@" 2>&1; }
logged() { cat "$DATA"/log/* 2>/dev/null; }

# the module, built against this pg_config in the temporary directory
mkdir "$dir/module"
cp "$(dirname "$0")/../modules/nested_statement/"* "$dir/module/"
if ! build=$(make -s -C "$dir/module" PG_CONFIG="$(command -v pg_config)" 2>&1); then
	for i in 1 2 3 4 5 6 7; do
		echo "ok $i # skip, because the test module cannot be built here: $(tr '\n' ' ' <<<"$build" | cut -c 1-200)"
	done
	exit 0
fi
chmod -R a+rX "$dir/module"

as_server "$bindir/initdb" -D "$DATA" -U postgres -A trust >/dev/null
printf '%s\n' "shared_preload_libraries = 'trovella'" "logging_collector = on" \
	"log_destination = 'stderr,csvlog'" "log_directory = 'log'" >>"$DATA/postgresql.conf"
start "$DATA" $port
s -c "CREATE EXTENSION trovella" >/dev/null
s -c "CREATE FUNCTION nested_statement_log(text) RETURNS void
	AS '$dir/module/nested_statement.so', 'nested_statement_log' LANGUAGE C" >/dev/null

new_token() {
	s -c "BEGIN" -c "SELECT trovella.with_user('55555555-0000-0000-0000-000000000000')" \
		-c "SELECT token FROM trovella.pat_create('nested', now() + interval '1 day', '{}')" -c "COMMIT" | sed -n 2p
}
OUTER=$(new_token)
NESTED=$(new_token)
hint() { printf '%s' "${1:0:8}"; }
started=$(s -c "SELECT pg_postmaster_start_time()")

# the outer statement: a token and 40 MB of comment, more than glibc's
# largest mmap threshold, so that a copy of it is its own mapping, unmapped
# when freed; the STATEMENT lines left out (log_min_error_statement = panic:
# 0.4.0 read the statement for every line all the same)
outer() {  # outer PADDING_BYTES
	printf "SELECT nested_statement_log('SELECT ''%s'' AS nested'), '%s' AS outer_token /* %s */;\n" \
		"$NESTED" "$OUTER" "$(head -c "$1" /dev/zero | tr '\0' x)"
}
{ echo "SET log_min_error_statement = panic;"; outer 40000000; } >"$dir/big.sql"
out=$(s -f "$dir/big.sql")
is "$out" "|$OUTER" "the statement runs to its end: the backend survives the restored pointer"
is "$(s -c "SELECT pg_postmaster_start_time() = '$started'")" t "the cluster was not restarted"
# with default settings (every line quotes its statement), twice in one
# session: the second message finds nothing stale of the first
outer 1000 >"$dir/outer.sql"
out=$(s -f "$dir/outer.sql" -f "$dir/outer.sql")
is "$out" "|$OUTER
|$OUTER" "twice in one session, each line quoting its statement"
sleep 1   # the logging collector writes asynchronously

log=$(logged)
is "$(grep -c 'terminated by signal' <<<"$log")" 0 "no backend was terminated by a signal"
found=0
case "$log" in *"$OUTER"* | *"$NESTED"*) found=1 ;; esac
is "$found" 0 "neither token appears anywhere in the server log"
is "$(grep -A1 'nested_statement: nested' "$DATA"/log/*.log | grep -c "STATEMENT:  SELECT '$(hint "$NESTED")\*\{32\}' AS nested" | awk '{ print ($1 >= 1) }')" 1 \
	"the nested line quotes the nested command, masked"
is "$(grep -A1 'nested_statement: restored' "$DATA"/log/*.log | grep -c "STATEMENT:  SELECT nested_statement_log.*'$(hint "$OUTER")\*\{32\}' AS outer_token" | awk '{ print ($1 >= 1) }')" 1 \
	"the line after the restore quotes the outer statement, masked"

done_testing
