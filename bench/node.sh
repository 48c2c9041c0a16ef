#!/usr/bin/env bash
# The package's withTenant (BEGIN and the context in one message, then one
# indexed read, then COMMIT) against Drizzle's own db.transaction() with the
# same read and an explicit WHERE tenant_id, in Node over loopback, as the
# application role: target <= 1.10x the wall time per transaction.  Needs
# the client suite's packages (scripts/install-deps clients).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
if [ ! -e test/client/node_modules/trovella ]; then
	echo "== Node.js: skipped (no test/client/node_modules: scripts/install-deps clients)"
	exit 0
fi
bench_setup
password=bench-$$-$RANDOM
bq -c "SET client_min_messages = warning" -c "SET trovella.isolation_guard = off" -c "
	CREATE TABLE tenant_points (tenant_id uuid NOT NULL, id bigint NOT NULL, payload text, PRIMARY KEY (tenant_id, id));
	INSERT INTO tenant_points SELECT format('00000000-0000-4000-8000-%s', lpad(t::text, 12, '0'))::uuid, i, md5(i::text)
	FROM generate_series(1, 100) t, generate_series(1, 1000) i;
	-- the baseline: the same rows in a table without isolation, read with an
	-- explicit WHERE tenant_id as an application did before trovella
	CREATE TABLE plain_points (LIKE tenant_points INCLUDING ALL);
	INSERT INTO plain_points SELECT * FROM tenant_points;
	SELECT trovella.enable_tenant_isolation('tenant_points');
	ANALYZE tenant_points, plain_points;
	DROP ROLE IF EXISTS bench_node_app;
	CREATE ROLE bench_node_app LOGIN PASSWORD '$password';
	GRANT SELECT ON tenant_points, plain_points TO bench_node_app;
	GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO bench_node_app" >/dev/null
# run beside the client suite's drivers and its link to the package
cp bench/node_tenant.mjs test/client/.bench_node_tenant.mjs
trap 'rm -f test/client/.bench_node_tenant.mjs; bq -c "DROP OWNED BY bench_node_app; DROP ROLE bench_node_app" >/dev/null 2>&1 || true; bench_teardown' EXIT

echo "== Node.js: withTenant against a plain Drizzle transaction ($REPS processes, each the median of 4 alternating rounds; 4 workers, one indexed read each)"
ours=() plain=()
for rep in $(seq "$REPS"); do
	order=trovella-first
	[ $((rep % 2)) -eq 0 ] && order=plain-first
	# the application role: none of the superuser settings make bench passes
	read -r a b < <(cd test/client && env -u PGOPTIONS PGDATABASE=$BENCH_DB BENCH_ROLE=bench_node_app \
		BENCH_PASSWORD=$password node --preserve-symlinks .bench_node_tenant.mjs "$order")
	ours+=("$a") plain+=("$b")
done
a=$(printf '%s\n' "${ours[@]}" | median)
b=$(printf '%s\n' "${plain[@]}" | median)
report "wall time per transaction, withTenant / db.transaction + WHERE" "$(ratio "$a" "$b")" "<=" 1.10 \
	"(${a} µs / ${b} µs)"
