# Minimal TAP for the connection-level tests, which need fresh backends or
# client options that pg_regress and pgTAP cannot give.  Sourced, not run.
# The server is the one in PGHOST/PGPORT; DB is the database under test.

DB=${TROVELLA_TEST_DB:-trovella_tap}
tap_n=0
tap_failed=0

plan() { echo "1..$1"; }

# ok COND_STATUS DESCRIPTION
ok() {
	tap_n=$((tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $tap_n - $2"
	else
		echo "not ok $tap_n - $2"
		tap_failed=$((tap_failed + 1))
	fi
}

# is GOT EXPECTED DESCRIPTION
is() {
	local status=0
	[ "$1" = "$2" ] || status=1
	ok "$status" "$3"
	[ "$status" -eq 0 ] || printf '#   got:      %s\n#   expected: %s\n' "$1" "$2"
}

# q SQL...: one fresh connection, unaligned tuples only, errors as "ERROR <sqlstate>"
q() {
	psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -d "$DB" "$@" 2>&1 |
		sed -E 's/^psql:[^ ]* ERROR:  ([0-9A-Z]{5}).*/ERROR \1/; s/^ERROR:  ([0-9A-Z]{5}).*/ERROR \1/'
}

done_testing() { [ "$tap_failed" -eq 0 ]; }

# own_servers NAME...: for tests that need servers of their own (a preload,
# restarts): $bindir, $dir (a directory for their data and socket, removed
# at exit), as_server CMD (as postgres when run as root) and start DATADIR
# PORT [OPTIONS] (on the socket only).  The server of each $dir/NAME that
# runs is stopped on every exit path, by stop_all.
own_servers() {
	local name
	bindir=$(pg_config --bindir)
	dir=$(mktemp -d)
	chmod 755 "$dir"
	[ "$(id -u)" -eq 0 ] && chown postgres "$dir"
	own_datadirs=()
	for name in "$@"; do
		own_datadirs+=("$dir/$name")
	done
	trap stop_all EXIT
}
as_server() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
# A failed assertion (on a server built with --enable-cassert: make test's
# cassert suite) or a backend that crashed, in the log of a server of one's
# own, fails the test: one "not ok" beyond its plan.  A backend killed on
# purpose (SIGKILL) is not a crash.
crashed_re='TRAP: |terminated by signal (4|6|7|8|11):|terminated by exception'
stop_all() {
	local d
	for d in "${own_datadirs[@]}"; do
		[ -f "$d/postmaster.pid" ] && as_server "$bindir/pg_ctl" -D "$d" -m fast -w stop >/dev/null 2>&1
		if grep -sqE "$crashed_re" "$d.log" "$d"/log/*; then
			echo "not ok $((tap_n += 1)) - server ${d##*/} logged a failed assertion or a crashed backend"
			grep -shE -A3 "$crashed_re" "$d.log" "$d"/log/* | head -n 20 | sed 's/^/#   /'
		fi
	done
	rm -rf "$dir"
}
start() {  # start DATADIR PORT [OPTIONS]
	as_server "$bindir/pg_ctl" -D "$1" -l "$1.log" -w \
		-o "-p $2 -k $dir -c listen_addresses='' ${3:-}" start >/dev/null
}
