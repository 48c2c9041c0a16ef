#!/usr/bin/env bash
# The isolation guard's cost on DDL of tables it has nothing to say about,
# and on enable_tenant_isolation() of a table with many partitions (a daily
# table of three years), against the same work with the guard off.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
bench_setup
TABLES=300

ddl="DO \$d\$ BEGIN FOR i IN 1..$TABLES LOOP
	EXECUTE format('CREATE TABLE bench.plain_%s (id int PRIMARY KEY, body text)', i);
	EXECUTE format('ALTER TABLE bench.plain_%s ADD COLUMN note text', i);
	EXECUTE format('DROP TABLE bench.plain_%s', i);
END LOOP; END \$d\$"
echo "== isolation guard ($REPS repetitions, medians; $TABLES tables created, altered and dropped)"
off=() warn=()
for _ in $(seq "$REPS"); do
	off+=("$(bq -c "SET trovella.isolation_guard = off" -c "SELECT bench.ms(\$q\$$ddl\$q\$)")")
	warn+=("$(bq -c "SET trovella.isolation_guard = warn" -c "SELECT bench.ms(\$q\$$ddl\$q\$)")")
done
a=$(printf '%s\n' "${warn[@]}" | median)
b=$(printf '%s\n' "${off[@]}" | median)
printf '%-58s %8s   %s\n' "DDL on other tables, guard warn / guard off" "$(ratio "$a" "$b")" \
	"$(awk -v a="$a" -v b="$b" -v n=$TABLES 'BEGIN { printf "%.0f vs %.0f us per table (3 statements)", a * 1000 / n, b * 1000 / n }')"

# enable_tenant_isolation() on a partitioned table, first and again, each in
# its own transaction timed to the end of its COMMIT (where the guard judges)
isolate_ms() {
	local mode=$1 started ended
	started=$(date +%s%N)
	bq -c "SET trovella.isolation_guard = $mode" -c "SET client_min_messages = warning" \
		-c "SELECT trovella.enable_tenant_isolation('bench.days')" >/dev/null
	ended=$(date +%s%N)
	echo $(((ended - started) / 1000000))
}
for partitions in 1000 3000; do
	bq -c "SET trovella.isolation_guard = off" -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS bench.days" \
		-c "CREATE TABLE bench.days (id bigint, tenant_id uuid NOT NULL, day int NOT NULL) PARTITION BY RANGE (day)" \
		-c "CREATE INDEX ON bench.days (tenant_id)" \
		-c "DO \$d\$ BEGIN FOR i IN 1..$partitions LOOP
			EXECUTE format('CREATE TABLE bench.days_%s PARTITION OF bench.days FOR VALUES FROM (%s) TO (%s)', i, i, i + 1);
		END LOOP; END \$d\$"
	off=() error=()
	for _ in $(seq "$REPS"); do
		off+=("$(isolate_ms off)")
		error+=("$(isolate_ms error)")
	done
	a=$(printf '%s\n' "${error[@]}" | median)
	b=$(printf '%s\n' "${off[@]}" | median)
	report "enable_tenant_isolation, $partitions partitions, error / off" "$(ratio "$a" "$b")" "<=" 1.5 \
		"$a vs $b ms, through COMMIT"
done
bench_teardown
