#!/usr/bin/env bash
# Export on Citus (issue 35, point 2), a coordinator that holds every shard
# (Citus's recommended start, where the shards are tables of this node's
# catalog too): the operations role's export_tenant on the coordinator gives
# each row of the tenant's distributed table once, through its Citus table,
# never again from a shard; the manifest counts them.
set -u
CITUS_NODES=coord
here=$(dirname "$0")
. "$here/../tap/lib.sh"
. "$here/cluster.sh"
plan 4

if ! citus_start; then
	ok 1 "the cluster starts"
	exit 1
fi
ok 0 "a coordinator holding the shards starts"

A=aaaaaaaa-0000-0000-0000-000000000035
B=bbbbbbbb-0000-0000-0000-000000000035
c() { PGOPTIONS="-c client_min_messages=warning" citus_psql coord "$@"; }
as_ops() { PGOPTIONS="-c client_min_messages=warning" CITUS_USER=ops citus_psql coord "$@"; }

setup=$(c -c "CREATE EXTENSION trovella" \
	-c "CREATE ROLE ops LOGIN BYPASSRLS IN ROLE pg_read_all_data, pg_write_all_data" \
	-c "GRANT EXECUTE ON FUNCTION trovella.export_tenant(uuid, bigint) TO ops" \
	-c "SET trovella.isolation_guard = off" \
	-c "CREATE TABLE docs (tenant_id uuid NOT NULL, id int NOT NULL, PRIMARY KEY (tenant_id, id))" \
	-c "SELECT trovella.enable_tenant_isolation('docs')" \
	-c "SELECT create_distributed_table('docs', 'tenant_id', shard_count := 4)" \
	-c "INSERT INTO docs SELECT t, g FROM unnest(ARRAY['$A', '$B']::uuid[]) t, generate_series(1, 10) g" 2>&1)
is "$(echo "$setup" | grep -c ERROR)" "0" "a distributed table isolated, its shards on the coordinator, the operations role"
[ -z "$(echo "$setup" | grep ERROR)" ] || echo "$setup" | sed 's/^/# /'

is "$(as_ops -c "SELECT coalesce(table_name, 'manifest'), count(*) FROM trovella.export_tenant('$A') GROUP BY 1 ORDER BY 1")" \
	"manifest|1
public.docs|10" "each of the tenant's rows once, through the Citus table, none from a shard"
is "$(as_ops -c "SELECT string_agg((t->>'table') || ':' || (t->>'rows'), ',') || '|' || (m->>'rows')
	FROM (SELECT row AS m FROM trovella.export_tenant('$A') WHERE table_name IS NULL) e,
	     jsonb_array_elements(m->'tables') t WHERE t->>'table' NOT LIKE 'trovella.%' GROUP BY m")" \
	"public.docs:10|10" "the manifest counts them, and names no shard"
done_testing
