#!/usr/bin/env bash
# What trovella adds to an INSERT into a table it does not isolate: since
# 0.5.0 the planner and ExecutorStart judge every INSERT and MERGE (a copy
# out of an isolated table, read from one tenant's view, is refused:
# full_view.c).  The same statements, run in the same server, in the bench
# database (trovella installed) and in one without trovella; server-side
# loops, repetitions interleaved.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
bench_setup
PLAIN_DB=${BENCH_DB}_plain
N=20000

dropdb --if-exists "$PLAIN_DB" >/dev/null 2>&1
createdb "$PLAIN_DB"
psql -X -q -At -v ON_ERROR_STOP=1 -d "$PLAIN_DB" <<<"$BENCH_SCHEMA_SQL"
tables="CREATE TABLE bench.src (id int PRIMARY KEY, body text);
	INSERT INTO bench.src SELECT n, md5(n::text) FROM generate_series(1, 1000) n;
	CREATE TABLE bench.sink (id bigint, body text);
	ANALYZE bench.src"
bq <<<"$tables"
psql -X -q -At -v ON_ERROR_STOP=1 -d "$PLAIN_DB" <<<"$tables"

# ms DB STATEMENT: N runs of the statement, each planned (EXECUTE)
ms() {
	psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "TRUNCATE bench.sink" \
		-c "SELECT bench.ms(\$q\$$2\$q\$, $N)"
}
echo "== INSERT into a table trovella does not isolate ($REPS repetitions, medians; $N statements each)"
for case in values select; do
	case $case in
		values) stmt="INSERT INTO bench.sink VALUES (1, 'row')" label="INSERT ... VALUES" ;;
		select) stmt="INSERT INTO bench.sink SELECT id, body FROM bench.src WHERE id = 7" label="INSERT ... SELECT (one row by key)" ;;
	esac
	with=() without=()
	for _ in $(seq "$REPS"); do
		without+=("$(ms "$PLAIN_DB" "$stmt")")
		with+=("$(ms "$BENCH_DB" "$stmt")")
	done
	a=$(printf '%s\n' "${with[@]}" | median)
	b=$(printf '%s\n' "${without[@]}" | median)
	report "$label, trovella installed / not" "$(ratio "$a" "$b")" "<=" 1.05 \
		"$(awk -v a="$a" -v b="$b" -v n=$N 'BEGIN { printf "%.2f vs %.2f us per statement", a * 1000 / n, b * 1000 / n }')"
done
dropdb --if-exists "$PLAIN_DB" >/dev/null 2>&1
bench_teardown
