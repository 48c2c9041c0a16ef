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
