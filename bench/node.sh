#!/usr/bin/env bash
# The package's withTenant (Drizzle over pg: BEGIN, the prepared context
# statement and fn's first query, one indexed read, in one write; COMMIT)
# in Node over loopback, as the application role, against
# (bench/node_tenant.mjs):
#   - Drizzle's own db.transaction() with the same read and an explicit
#     WHERE tenant_id: target <= 1.10x with one worker (4 workers reported);
#   - the pattern applications use today, BEGIN; set_config(); a read under
#     an RLS policy on current_setting(); COMMIT: target <= 0.85x.
# One shared pool, BENCH_NODE_ROUNDS paired rounds (21), the median of the
# rounds' ratios, the machine's load printed beside it.  Needs the client
# suite's packages (scripts/install-deps clients).
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
	-- the pattern of today: RLS on a setting the transaction sets
	CREATE TABLE setting_points (LIKE tenant_points INCLUDING ALL);
	INSERT INTO setting_points SELECT * FROM tenant_points;
	ALTER TABLE setting_points ENABLE ROW LEVEL SECURITY;
	CREATE POLICY by_setting ON setting_points USING (tenant_id = current_setting('app.tenant')::uuid);
	SELECT trovella.enable_tenant_isolation('tenant_points');
	ANALYZE tenant_points, plain_points, setting_points;
	DROP ROLE IF EXISTS bench_node_app;
	CREATE ROLE bench_node_app LOGIN PASSWORD '$password';
	GRANT SELECT ON tenant_points, plain_points, setting_points TO bench_node_app;
	GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO bench_node_app" >/dev/null
# run beside the client suite's drivers and its link to the package
cp bench/node_tenant.mjs test/client/.bench_node_tenant.mjs
trap 'rm -f test/client/.bench_node_tenant.mjs; bq -c "DROP OWNED BY bench_node_app; DROP ROLE bench_node_app" >/dev/null 2>&1 || true; bench_teardown' EXIT

field() { node -e "const r = JSON.parse(process.argv[1]); console.log(eval('r.' + process.argv[2]))" "$1" "$2"; }
for workers in 1 4; do
	echo "== Node.js, $workers worker(s): withTenant against plain Drizzle transactions (${BENCH_NODE_ROUNDS:-21} rounds of turns, the median ratio)"
	# the application role: none of the superuser settings make bench passes
	r=$(cd test/client && env -u PGOPTIONS PGDATABASE=$BENCH_DB BENCH_ROLE=bench_node_app \
		BENCH_PASSWORD=$password node --preserve-symlinks .bench_node_tenant.mjs "$workers")
	echo "   load average (1 min) before and after: $(field "$r" "load.join(' / ')"); µs per transaction: withTenant $(field "$r" us.trovella), plain $(field "$r" us.plain), set_config $(field "$r" us.set_config); rounds' ratios to plain from $(field "$r" "spread.join(' to ')")"
	if [ "$workers" = 1 ]; then
		report "withTenant / BEGIN; read WHERE tenant_id; COMMIT (1 worker)" "$(field "$r" plain)" "<=" 1.10 ""
		report "withTenant / BEGIN; set_config; read under RLS; COMMIT" "$(field "$r" set_config)" "<=" 0.85 ""
	else
		report "withTenant / BEGIN; read WHERE tenant_id; COMMIT (4 workers)" "$(field "$r" plain)" "<=" 1.10 ""
	fi
done
# behind a network's delay (1.3 ms each way through a relay in the Node
# process): no target, what an application on another host sees
delay=${BENCH_NODE_DELAY_MS:-1.3}
echo "== Node.js, 1 worker, ${delay} ms each way: withTenant against the same (${BENCH_NODE_DELAY_ROUNDS:-7} rounds)"
r=$(cd test/client && env -u PGOPTIONS PGDATABASE=$BENCH_DB BENCH_ROLE=bench_node_app BENCH_PASSWORD=$password \
	BENCH_NODE_DELAY_MS=$delay BENCH_NODE_ROUNDS=${BENCH_NODE_DELAY_ROUNDS:-7} node --preserve-symlinks .bench_node_tenant.mjs 1)
echo "   load average (1 min) before and after: $(field "$r" "load.join(' / ')"); µs per transaction: withTenant $(field "$r" us.trovella), plain $(field "$r" us.plain), set_config $(field "$r" us.set_config)"
printf '%-58s %8s\n' "withTenant / plain transaction, behind the delay" "$(field "$r" plain)"
printf '%-58s %8s\n' "withTenant / set_config pattern, behind the delay" "$(field "$r" set_config)"
