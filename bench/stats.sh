#!/usr/bin/env bash
# Per-tenant statistics on (stats_track = top) against off (none), same
# library, same preloaded server: pgbench transactions that each call
# with_tenant() then read one row by primary key.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
bench_setup

if [ "$(bq -c "SHOW shared_preload_libraries")" != "trovella" ]; then
	echo "== per-tenant statistics: skipped, the server does not preload trovella"
	bench_teardown
	exit 0
fi
bench_points
tmp=$(mktemp -d)
cat >"$tmp/tenant.sql" <<'SQL'
\set t random(0, 999)
\set id random(1, 1000000)
BEGIN;
SELECT trovella.with_tenant(('00000000-0000-0000-0000-' || lpad(:t::text, 12, '0'))::uuid);
SELECT payload FROM bench.points WHERE id = :id;
COMMIT;
SQL

echo "== per-tenant statistics ($REPS repetitions, medians; pgbench -n -T $PGBENCH_SECONDS -c 4)"
run() { PGOPTIONS="-c trovella.stats_track=$1" pgbench_tps "$tmp/tenant.sql"; }
tps_on=() tps_off=()
for rep in $(seq "$REPS"); do
	if [ $((rep % 2)) -eq 1 ]; then
		tps_on+=("$(run top)"); tps_off+=("$(run none)")
	else
		tps_off+=("$(run none)"); tps_on+=("$(run top)")
	fi
done
a=$(printf '%s\n' "${tps_on[@]}" | median)
b=$(printf '%s\n' "${tps_off[@]}" | median)
# 4 clients: a transaction's latency is 4 / tps; 2 statements and 1 transaction counted
report "throughput: statistics on / off" "$(ratio "$a" "$b")" ">=" 0.97 \
	"$(printf '%.0f vs %.0f tps' "$a" "$b")"

# the cost of counting one statement, in the server: stats_track = all
# counts the statements a loop runs, none does not
N=200000
per_on=() per_off=()
for _ in $(seq "$REPS"); do
	for track in all none; do
		ms=$(bq -c "SET trovella.stats_track = '$track'" -c "BEGIN" \
			-c "SELECT trovella.with_tenant('00000000-0000-0000-0000-000000000001')" \
			-c "SELECT bench.ms('SELECT payload FROM bench.points WHERE id = 1', $N)" -c "COMMIT" | sed -n 2p)
		if [ "$track" = all ]; then per_on+=("$ms"); else per_off+=("$ms"); fi
	done
done
a=$(printf '%s\n' "${per_on[@]}" | median)
b=$(printf '%s\n' "${per_off[@]}" | median)
# no target of its own: the throughput above is what the issue bounds
printf '%-58s %8s   %s\n' "per statement: counted / not counted" "$(ratio "$a" "$b")" \
	"$(awk -v a="$a" -v b="$b" -v n=$N 'BEGIN { printf "%.2f vs %.2f us, %.2f us to count a statement", a * 1000 / n, b * 1000 / n, (a - b) * 1000 / n }')"
bq -c "SELECT format('shared memory: %s bytes for %s tenants, %s bytes per tenant', shared_memory, max_tenants,
	shared_memory / max_tenants) FROM trovella.tenant_stats_info"
rm -rf "$tmp"
bench_teardown
