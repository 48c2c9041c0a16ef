#!/usr/bin/env bash
# trovella on a Citus cluster of its own (a coordinator and two workers on
# 127.0.0.1, test/citus/cluster.sh): one tenant's router query through
# trovella's policies against the same query with RLS off, and a query over
# every shard with the shards' policies per query (trovella's) against per
# row (the form Citus itself copies to shards).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
scripts/citus-install >/dev/null
CITUS_KEY=1
. test/citus/cluster.sh
citus_start
LOOPS=2000
SCAN_LOOPS=20

cq() { citus_psql coord -v ON_ERROR_STOP=1 "$@"; }
cq -c "CREATE EXTENSION trovella" >/dev/null
cq <<<"$BENCH_SCHEMA_SQL" >/dev/null
cq <<'SQL' >/dev/null
CREATE ROLE bench_app LOGIN;
GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO bench_app;
-- two identical tables of 400,000 rows over 1,000 tenants, 8 shards each
CREATE TABLE bench.docs (tenant_id uuid NOT NULL, id uuid NOT NULL DEFAULT trovella.ulid_uuid(), body text,
	PRIMARY KEY (tenant_id, id));
CREATE TABLE bench.docs_per_row (LIKE bench.docs INCLUDING ALL);
SELECT trovella.enable_tenant_isolation('bench.docs');
SELECT trovella.enable_tenant_isolation('bench.docs_per_row');
SELECT create_distributed_table('bench.docs', 'tenant_id', shard_count := 8);
SELECT create_distributed_table('bench.docs_per_row', 'tenant_id', colocate_with := 'bench.docs');
INSERT INTO bench.docs (tenant_id, body)
SELECT ('00000000-0000-0000-0000-' || lpad((n % 1000)::text, 12, '0'))::uuid, 'row ' || n
FROM generate_series(1, 400000) n;
INSERT INTO bench.docs_per_row SELECT * FROM bench.docs;
GRANT SELECT ON bench.docs, bench.docs_per_row TO bench_app;
-- the per-row twin: its shards' policies as Citus alone copies them (the
-- bare call), kept restrictive
SELECT count(*) FROM run_command_on_placements('bench.docs_per_row', $$
	DROP POLICY trovella_tenant_isolation ON %1$s;
	DROP POLICY trovella_tenant_access ON %1$s;
	CREATE POLICY trovella_tenant_isolation ON %1$s AS RESTRICTIVE
		USING (tenant_id = trovella.current_tenant()) WITH CHECK (tenant_id = trovella.current_tenant());
	CREATE POLICY trovella_tenant_access ON %1$s
		USING (tenant_id = trovella.current_tenant()) WITH CHECK (tenant_id = trovella.current_tenant())$$);
SELECT run_command_on_workers('GRANT USAGE ON SCHEMA bench TO bench_app');
VACUUM ANALYZE bench.docs;
VACUUM ANALYZE bench.docs_per_row;
SQL

T=00000000-0000-0000-0000-000000000042
router="SELECT count(*) FROM bench.docs WHERE tenant_id = ''$T''"
as_app() { CITUS_USER=bench_app citus_psql coord -c "BEGIN" -c "SELECT trovella.with_tenant('$T')" "$@" -c "COMMIT" | sed -n 2p; }
echo "== Citus ($REPS repetitions; medians of $LOOPS router queries, $SCAN_LOOPS queries over all shards; 400 rows per tenant)"
as_app -c "SELECT bench.ms('$router', 50)" >/dev/null	# warm the connections and pages
policy=() explicit=() per_query=() per_row=()
for i in $(seq "$REPS"); do
	# alternate which side runs first
	if [ $((i % 2)) -eq 1 ]; then
		policy+=("$(as_app -c "SELECT bench.ms('$router', $LOOPS)")")
		explicit+=("$(cq -c "SELECT bench.ms('$router', $LOOPS)")")
	else
		explicit+=("$(cq -c "SELECT bench.ms('$router', $LOOPS)")")
		policy+=("$(as_app -c "SELECT bench.ms('$router', $LOOPS)")")
	fi
	per_query+=("$(as_app -c "SELECT bench.ms('SELECT count(*) FROM bench.docs', $SCAN_LOOPS)")")
	per_row+=("$(as_app -c "SELECT bench.ms('SELECT count(*) FROM bench.docs_per_row', $SCAN_LOOPS)")")
done
p=$(printf '%s\n' "${policy[@]}" | median)
e=$(printf '%s\n' "${explicit[@]}" | median)
q=$(printf '%s\n' "${per_query[@]}" | median)
r=$(printf '%s\n' "${per_row[@]}" | median)
p=$(awk -v v="$p" -v n=$LOOPS 'BEGIN { print v / n }')
e=$(awk -v v="$e" -v n=$LOOPS 'BEGIN { print v / n }')
q=$(awk -v v="$q" -v n=$SCAN_LOOPS 'BEGIN { print v / n }')
r=$(awk -v v="$r" -v n=$SCAN_LOOPS 'BEGIN { print v / n }')
report "Citus router query: trovella policy / WHERE, RLS off" "$(ratio "$p" "$e")" "<=" 1.15 \
	"$(printf '%.3f vs %.3f ms/query' "$p" "$e")"
printf '%-58s %8s   %s\n' "Citus all shards: per-row shard policy / trovella's" "$(ratio "$r" "$q")" \
	"$(printf '%.2f vs %.2f ms/query (400,000 rows)' "$r" "$q")"
