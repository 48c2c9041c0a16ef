#!/usr/bin/env bash
# with_tenant(tenant) with the suspension check (trovella.suspended_tenant
# holding 100 suspended tenants) against the same transaction with the
# check's table gone (a database at 0.4.0 has none): what the check costs
# every transaction that opens a tenant.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
bench_setup

bench_points
# the tenants read are 0 to 999; the suspended ones are others
bq <<'SQL'
INSERT INTO trovella.suspended_tenant (tenant_id, reason)
SELECT ('99999999-0000-0000-0000-' || lpad(t::text, 12, '0'))::uuid, 'bench'
FROM generate_series(1, 100) t;
ALTER EXTENSION trovella DROP TABLE trovella.suspended_tenant;
VACUUM ANALYZE trovella.suspended_tenant;
SQL
tmp=$(mktemp -d)
cat >"$tmp/tenant.sql" <<'SQL'
\set t random(0, 999)
\set id random(1, 1000000)
BEGIN;
SELECT trovella.with_tenant(('00000000-0000-0000-0000-' || lpad(:t::text, 12, '0'))::uuid);
SELECT payload FROM bench.points WHERE id = :id;
COMMIT;
SQL

echo "== suspension ($REPS repetitions, medians; pgbench -n -T $PGBENCH_SECONDS -c 4)"
# the table moves out of the schema trovella (the check finds no table:
# nothing to probe) and back
checked() {
	bq -c "SET client_min_messages = error" -c "SET trovella.isolation_guard = off" -c "ALTER TABLE IF EXISTS bench.suspended_tenant SET SCHEMA trovella" >/dev/null
	tps_checked+=("$(pgbench_tps "$tmp/tenant.sql")")
}
unchecked() {
	bq -c "SET client_min_messages = error" -c "SET trovella.isolation_guard = off" -c "ALTER TABLE IF EXISTS trovella.suspended_tenant SET SCHEMA bench" >/dev/null
	tps_unchecked+=("$(pgbench_tps "$tmp/tenant.sql")")
}
tps_checked=() tps_unchecked=()
# the order alternates between repetitions, as in membership.sh
for rep in $(seq "$REPS"); do
	if [ $((rep % 2)) -eq 1 ]; then checked; unchecked; else unchecked; checked; fi
done
a=$(printf '%s\n' "${tps_checked[@]}" | median)
b=$(printf '%s\n' "${tps_unchecked[@]}" | median)
report "per transaction: with_tenant() suspension checked / unchecked" "$(ratio "$b" "$a")" "<=" 1.03 \
	"$(printf '%.0f vs %.0f tps' "$a" "$b")"
rm -rf "$tmp"
bench_teardown
