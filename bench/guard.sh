#!/usr/bin/env bash
# The isolation guard's cost on DDL of tables it has nothing to say about.
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
bench_teardown
