#!/usr/bin/env bash
# The tenant context against the hand-written current_setting() form.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
bench_setup
CALLS=5000000
T=aaaaaaaa-0000-0000-0000-000000000000

echo "== tenant context ($REPS repetitions, medians; pgbench -n -T $PGBENCH_SECONDS -c 4)"
per_call_trovella=() per_call_setting=()
for _ in $(seq "$REPS"); do
	per_call_trovella+=("$(bq -c "BEGIN" -c "SELECT trovella.with_tenant('$T')" -c "SELECT bench.ms('SELECT count(trovella.current_tenant()) FROM generate_series(1, $CALLS)')" -c "COMMIT" | sed -n 2p)")
	per_call_setting+=("$(bq -c "BEGIN" -c "SELECT set_config('app.tenant', '$T', true)" -c "SELECT bench.ms('SELECT count(current_setting(''app.tenant'')::uuid) FROM generate_series(1, $CALLS)')" -c "COMMIT" | sed -n 2p)")
done
a=$(printf '%s\n' "${per_call_trovella[@]}" | median)
b=$(printf '%s\n' "${per_call_setting[@]}" | median)
report "per call: current_tenant() / current_setting()::uuid" "$(ratio "$a" "$b")" "<=" 0.5 \
	"$(awk -v a="$a" -v b="$b" -v n=$CALLS 'BEGIN { printf "%.3f vs %.3f us/call", a * 1000 / n, b * 1000 / n }')"

bench_points
tmp=$(mktemp -d)
cat >"$tmp/trovella.sql" <<'SQL'
\set t random(0, 999)
\set id random(1, 1000000)
BEGIN;
SELECT trovella.with_tenant(('00000000-0000-0000-0000-' || lpad(:t::text, 12, '0'))::uuid);
SELECT payload FROM bench.points WHERE id = :id;
COMMIT;
SQL
cat >"$tmp/setting.sql" <<'SQL'
\set t random(0, 999)
\set id random(1, 1000000)
BEGIN;
SELECT set_config('app.tenant', ('00000000-0000-0000-0000-' || lpad(:t::text, 12, '0'))::uuid::text, true);
SELECT payload FROM bench.points WHERE id = :id;
COMMIT;
SQL
tps_trovella=() tps_setting=()
# the order alternates between repetitions, as in membership.sh and stats.sh
for rep in $(seq "$REPS"); do
	if [ $((rep % 2)) -eq 1 ]; then
		tps_trovella+=("$(pgbench_tps "$tmp/trovella.sql")")
		tps_setting+=("$(pgbench_tps "$tmp/setting.sql")")
	else
		tps_setting+=("$(pgbench_tps "$tmp/setting.sql")")
		tps_trovella+=("$(pgbench_tps "$tmp/trovella.sql")")
	fi
done
a=$(printf '%s\n' "${tps_trovella[@]}" | median)
b=$(printf '%s\n' "${tps_setting[@]}" | median)
# time per transaction, trovella / baseline = tps baseline / tps trovella
report "per transaction: with_tenant() / set_config()" "$(ratio "$b" "$a")" "<=" 1.05 \
	"$(printf '%.0f vs %.0f tps' "$a" "$b")"
rm -rf "$tmp"
bench_teardown
