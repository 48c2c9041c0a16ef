#!/usr/bin/env bash
# Purge on Citus (issue 35, point 3), a coordinator and two workers: the
# operations role's CALL on the coordinator deletes the tenant's rows of
# two co-located distributed tables (the referencing one first) in
# batches, by primary key (Citus has no ctid for them), through the
# coordinator to every shard; the verification, through the distributed
# tables, finds the row a distributed table trovella does not isolate
# still holds on a worker and names it; once it is deleted, the next CALL
# finishes with its receipt; no shard keeps a row of the tenant, and the
# other tenant's rows are all there; a = for uuid planted ahead of
# pg_catalog on the operations role's search path is never called.
set -u
here=$(dirname "$0")
. "$here/../tap/lib.sh"
. "$here/cluster.sh"
plan 6

if ! citus_start; then
	ok 1 "the cluster starts"
	exit 1
fi
ok 0 "a coordinator and two workers start"

A=aaaaaaaa-0000-0000-0000-000000000035
B=bbbbbbbb-0000-0000-0000-000000000035
c() { PGOPTIONS="-c client_min_messages=warning" citus_psql coord "$@"; }
# the operations role with a = for uuid planted ahead of pg_catalog: the
# purge's statements never resolve it
as_ops() { PGOPTIONS="-c client_min_messages=notice -c trovella.purge_batch_rows=4 -c search_path=planted,pg_catalog,public" CITUS_USER=ops citus_psql coord "$@"; }

setup=$(c -c "CREATE EXTENSION trovella" \
	-c "CREATE ROLE ops LOGIN BYPASSRLS IN ROLE pg_read_all_data, pg_write_all_data" \
	-c "SET trovella.isolation_guard = off" \
	-c "CREATE TABLE docs (tenant_id uuid NOT NULL, id int NOT NULL, PRIMARY KEY (tenant_id, id))" \
	-c "SELECT trovella.enable_tenant_isolation('docs')" \
	-c "SELECT create_distributed_table('docs', 'tenant_id', shard_count := 4)" \
	-c "CREATE TABLE notes (tenant_id uuid NOT NULL, id int NOT NULL, doc int NOT NULL, PRIMARY KEY (tenant_id, id),
		FOREIGN KEY (tenant_id, doc) REFERENCES docs)" \
	-c "SELECT trovella.enable_tenant_isolation('notes')" \
	-c "SELECT create_distributed_table('notes', 'tenant_id', colocate_with := 'docs')" \
	-c "CREATE TABLE crm (tenant_id uuid, note text)" \
	-c "SELECT create_distributed_table('crm', 'tenant_id', colocate_with := 'docs')" \
	-c "INSERT INTO docs SELECT t, g FROM unnest(ARRAY['$A', '$B']::uuid[]) t, generate_series(1, 10) g" \
	-c "INSERT INTO notes SELECT t, g, 1 + g % 10 FROM unnest(ARRAY['$A', '$B']::uuid[]) t, generate_series(1, 10) g" \
	-c "INSERT INTO crm VALUES ('$A', 'lead')" \
	-c "SELECT create_reference_table('trovella.suspended_tenant')" \
	-c "GRANT EXECUTE ON FUNCTION trovella.suspend_tenant(uuid, text) TO ops" \
	-c "GRANT EXECUTE ON PROCEDURE trovella.purge_tenant(uuid, jsonb) TO ops" \
	-c "CREATE SCHEMA planted" -c "GRANT USAGE ON SCHEMA planted TO ops" \
	-c "CREATE FUNCTION planted.eq(uuid, uuid) RETURNS boolean LANGUAGE plpgsql AS \$\$BEGIN RAISE EXCEPTION 'the planted = ran'; END\$\$" \
	-c "CREATE OPERATOR planted.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = planted.eq)" 2>&1)
is "$(echo "$setup" | grep -c ERROR)" "0" "two co-located distributed tables isolated, one not isolated, the operations role"
[ -z "$(echo "$setup" | grep ERROR)" ] || echo "$setup" | sed 's/^/# /'

out=$(as_ops -v ON_ERROR_STOP=0 -v VERBOSITY=default -c "SELECT trovella.suspend_tenant('$A', 'Contract ended.')" \
	-c "CALL trovella.purge_tenant('$A')" 2>&1)
is "$(printf '%s\n' "$out" | grep -c 'NOTICE:  trovella.purge_tenant: purged [0-9]* rows of public.notes')|$(printf '%s\n' "$out" | grep -c 'of public.docs (10 of 10)')|$(printf '%s\n' "$out" | grep -o 'ERROR:.*')" \
	"3|1|ERROR:  trovella.purge_tenant: rows of the tenant remain in public.crm (not isolated: never purged)" \
	"through the coordinator, the notes then the docs in batches of 4; the verification names the distributed table trovella does not isolate"

c -c "DELETE FROM crm WHERE tenant_id = '$A'" >/dev/null
receipt=$(as_ops -v VERBOSITY=default -c "CALL trovella.purge_tenant('$A')" 2>/dev/null | tail -n 1)
is "$(c -c "SELECT r.receipt->'tables', r.receipt->'not_isolated', r.receipt = '$receipt'::jsonb FROM trovella.purge_receipt r")" \
	'[{"after": 0, "table": "public.notes", "before": 10}, {"after": 0, "table": "public.docs", "before": 10}]|["public.crm"]|t' \
	"the next CALL finishes: the receipt has the counts before and after, and names the table trovella does not isolate"
is "$(c -c "SELECT sum(result::int) FROM run_command_on_shards('docs', \$\$SELECT count(*) FROM %s WHERE tenant_id = '$A'\$\$)")|$(c -c "SELECT sum(result::int) FROM run_command_on_shards('notes', \$\$SELECT count(*) FROM %s WHERE tenant_id = '$A'\$\$)")" \
	"0|0" "no shard, on any worker, keeps a row of the tenant"
is "$(c -c "SELECT (SELECT count(*) FROM docs WHERE tenant_id = '$B'), (SELECT count(*) FROM notes WHERE tenant_id = '$B'), (SELECT count(*) FROM trovella.suspended_tenant)")" \
	"10|10|0" "the other tenant's rows are all there; the suspension is lifted"
done_testing
