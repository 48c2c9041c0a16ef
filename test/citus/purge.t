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
#
# The purge's scope on the workers (cluster_purge.c): a distributed table
# with soft delete (sd) loses the tenant's rows for good on every shard, and
# the audited docs write no record of the purged rows on the workers; the
# scope the purge signed, read from citus.log_remote_commands and replayed
# on a worker by the operations role in another transaction, deletes for
# good and unrecorded no row of another tenant and no row of another
# table, and is refused once the tenant is no longer suspended; replayed by
# the application role or the tables' owner (in a context of the tenant,
# after the purge) it is no scope at all: the row is marked, the deletion
# recorded.
set -u
here=$(dirname "$0")
. "$here/../tap/lib.sh"
CITUS_KEY=1
. "$here/cluster.sh"
plan 18

# a lifetime no test outlasts: a replay is refused for what it is, not for its age
if ! citus_start "trovella.signed_context_lifetime = 3600"; then
	ok 1 "the cluster starts"
	exit 1
fi
ok 0 "a coordinator and two workers start"

A=aaaaaaaa-0000-0000-0000-000000000035
B=bbbbbbbb-0000-0000-0000-000000000035
c() { PGOPTIONS="-c client_min_messages=warning" citus_psql coord "$@"; }
# the operations role with a = for uuid planted ahead of pg_catalog: the
# purge's statements never resolve it
as_ops() { PGOPTIONS="${OPS_OPTIONS:--c client_min_messages=notice} -c trovella.purge_batch_rows=4 -c search_path=planted,pg_catalog,public" CITUS_USER=ops citus_psql coord "$@"; }

setup=$(c -c "CREATE EXTENSION trovella" \
	-c "CREATE ROLE ops LOGIN BYPASSRLS IN ROLE pg_read_all_data, pg_write_all_data" \
	-c "CREATE ROLE app LOGIN" -c "CREATE ROLE own LOGIN" \
	-c "GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO app, own" \
	-c "SET trovella.isolation_guard = off" -c "SET citus.enable_unsafe_triggers = on" \
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
	-c "CREATE TABLE sd (tenant_id uuid NOT NULL, id int NOT NULL, PRIMARY KEY (tenant_id, id))" \
	-c "SELECT trovella.enable_tenant_isolation('sd')" -c "SELECT trovella.enable_soft_delete('sd')" \
	-c "SELECT create_distributed_table('sd', 'tenant_id', colocate_with := 'docs')" \
	-c "INSERT INTO sd SELECT t, g FROM unnest(ARRAY['$A', '$B']::uuid[]) t, generate_series(1, 6) g" \
	-c "SELECT trovella.distribute_audit('docs')" -c "SELECT trovella.enable_audit('docs')" \
	-c "ALTER TABLE sd OWNER TO own" -c "ALTER TABLE docs OWNER TO own" \
	-c "GRANT SELECT, INSERT, UPDATE, DELETE ON sd, docs TO app" \
	-c "SELECT create_reference_table('trovella.suspended_tenant')" \
	-c "GRANT EXECUTE ON FUNCTION trovella.suspend_tenant(uuid, text) TO ops" \
	-c "GRANT EXECUTE ON PROCEDURE trovella.purge_tenant(uuid, jsonb) TO ops" \
	-c "CREATE SCHEMA planted" -c "GRANT USAGE ON SCHEMA planted TO ops" \
	-c "CREATE FUNCTION planted.eq(uuid, uuid) RETURNS boolean LANGUAGE plpgsql AS \$\$BEGIN RAISE EXCEPTION 'the planted = ran'; END\$\$" \
	-c "CREATE OPERATOR planted.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = planted.eq)" 2>&1)
setup="$setup
$(c -c "SELECT result FROM run_command_on_workers(\$\$GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO app, own\$\$)" | grep -v GRANT)"
is "$(echo "$setup" | grep -c ERROR)" "0" "two co-located distributed tables isolated, one not isolated, the operations role"
[ -z "$(echo "$setup" | grep ERROR)" ] || echo "$setup" | sed 's/^/# /'

# the statements Citus sends, as the application could read them too
out=$(OPS_OPTIONS="-c citus.log_remote_commands=on -c client_min_messages=log" as_ops -v ON_ERROR_STOP=0 -v VERBOSITY=default \
	-c "SELECT trovella.suspend_tenant('$A', 'Contract ended.')" -c "CALL trovella.purge_tenant('$A')" 2>&1)
is "$(printf '%s\n' "$out" | grep -c 'NOTICE:  trovella.purge_tenant: purged [0-9]* rows of public.notes')|$(printf '%s\n' "$out" | grep -c 'of public.docs (10 of 10)')|$(printf '%s\n' "$out" | grep -o 'ERROR:.*')" \
	"3|1|ERROR:  trovella.purge_tenant: rows of the tenant remain in public.crm (not isolated: never purged)" \
	"through the coordinator, the notes then the docs in batches of 4; the verification names the distributed table trovella does not isolate"

is "$(c -c "SELECT count(*) FROM trovella.audit_history WHERE tenant_id = '$A' AND operation = 'D'")|$(c -c "SELECT sum(result::int) FROM run_command_on_shards('sd', \$\$SELECT count(*) FROM %s WHERE tenant_id = '$A'\$\$)")" \
	"0|0" "the workers wrote no audit record of the purged docs, and kept no row of sd, marked or not"

# the scopes the purge signed for sd and docs, as citus.log_remote_commands showed them
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
scope_sd=$(printf '%s\n' "$out" | grep -o "trovella.purge_scope TO 'p1:$A:$(hex public.sd):[^']*'" | head -n 1 | sed "s/.* TO //")
scope_docs=$(printf '%s\n' "$out" | grep -o "trovella.purge_scope TO 'p1:$A:$(hex public.docs):[^']*'" | head -n 1 | sed "s/.* TO //")
ok "$([ -n "$scope_sd" ] && [ -n "$scope_docs" ]; echo $?)" "the purge's signed scopes are in the statements Citus sent (citus.log_remote_commands)"
# the node holding a tenant's shard of a table, and the shard's name
node_of() {
	local port n
	port=$(c -c "SELECT nodeport FROM pg_dist_shard_placement WHERE shardid = get_shard_id_for_distribution_column('$1', '$2')")
	for n in $CITUS_NODES; do [ "$(citus_port "$n")" = "$port" ] && echo "$n"; done
}
shard_of() { c -c "SELECT shard_name('$1'::regclass, get_shard_id_for_distribution_column('$1', '$2'))"; }
# on the worker of TENANT's shard of TABLE, as ROLE, in one transaction: SQL... (%s: the shard)
on_shard() {
	local role=$1 table=$2 tenant=$3 node shard args=()
	shift 3
	node=$(node_of "$table" "$tenant")
	shard=$(shard_of "$table" "$tenant")
	for sql in "$@"; do args+=(-c "${sql//%s/$shard}"); done
	PGOPTIONS="-c client_min_messages=warning" CITUS_USER=$role citus_psql "$node" -c "BEGIN" "${args[@]}" -c "COMMIT"
}
# rows of a table's shard of a tenant: live|marked
rows_of() { on_shard postgres "$1" "$2" "SELECT count(*) FILTER (WHERE deleted_at IS NULL) || '|' || count(*) FILTER (WHERE deleted_at IS NOT NULL) FROM %s WHERE tenant_id = '$2'"; }

# the operations role replays sd's scope (the tenant still suspended): another tenant's row is marked
on_shard ops sd "$B" "SET LOCAL trovella.purge_scope TO $scope_sd" "DELETE FROM %s WHERE tenant_id = '$B' AND id = 1" >/dev/null
is "$(rows_of sd "$B")" "5|1" "a replayed scope deletes no row of another tenant for good: B's row is marked"
# ... another table's row of the tenant: marked; docs' scope on another audited table's... docs' scope on sd
c -c "SET trovella.isolation_guard = off" -c "INSERT INTO sd VALUES ('$A', 100)" -c "INSERT INTO docs VALUES ('$A', 100)" >/dev/null
on_shard ops sd "$A" "SET LOCAL trovella.purge_scope TO $scope_docs" "DELETE FROM %s WHERE tenant_id = '$A' AND id = 100" >/dev/null
is "$(rows_of sd "$A")" "0|1" "a replayed scope deletes no row of another table for good: docs' scope on sd marks the row"
on_shard ops docs "$A" "SET LOCAL trovella.purge_scope TO $scope_sd" "DELETE FROM %s WHERE tenant_id = '$A' AND id = 100" >/dev/null
is "$(c -c "SELECT count(*) FROM trovella.audit_history WHERE tenant_id = '$A' AND operation = 'D'")" "1" \
	"a replayed scope skips no record of another table: sd's scope on docs, the deletion recorded"
c -c "DELETE FROM sd WHERE tenant_id = '$A'" -c "SET trovella.with_deleted = on" -c "DELETE FROM sd WHERE tenant_id = '$A'" >/dev/null 2>&1
c -c "SELECT result FROM run_command_on_shards('sd', \$\$SET trovella.with_deleted = on; DELETE FROM %s WHERE tenant_id = '$A'\$\$)" >/dev/null 2>&1

c -c "DELETE FROM crm WHERE tenant_id = '$A'" >/dev/null
receipt=$(as_ops -v VERBOSITY=default -c "CALL trovella.purge_tenant('$A')" 2>/dev/null | tail -n 1)
is "$(c -c "SELECT r.receipt->'tables', r.receipt->'not_isolated', r.receipt = '$receipt'::jsonb FROM trovella.purge_receipt r")" \
	'[{"after": 0, "table": "public.notes", "before": 10}, {"after": 0, "table": "public.sd", "before": 6}, {"after": 0, "table": "public.docs", "before": 10}]|["public.crm"]|t' \
	"the next CALL finishes: the receipt has the counts before and after, and names the table trovella does not isolate"
is "$(c -c "SELECT sum(result::int) FROM run_command_on_shards('docs', \$\$SELECT count(*) FROM %s WHERE tenant_id = '$A'\$\$)")|$(c -c "SELECT sum(result::int) FROM run_command_on_shards('notes', \$\$SELECT count(*) FROM %s WHERE tenant_id = '$A'\$\$)")" \
	"0|0" "no shard, on any worker, keeps a row of the tenant"
is "$(c -c "SELECT (SELECT count(*) FROM docs WHERE tenant_id = '$B'), (SELECT count(*) FROM notes WHERE tenant_id = '$B'), (SELECT count(*) FROM trovella.suspended_tenant)")" \
	"10|10|0" "the other tenant's rows are all there; the suspension is lifted"

# after the purge: the tenant is not suspended, and a replay is refused or no scope
is "$(on_shard ops sd "$B" "SET LOCAL trovella.purge_scope TO $scope_sd" 2>&1)" "ERROR 55000" \
	"the operations role's replay after the purge: refused, the tenant is no longer suspended"
for role in app own; do
	on_shard "$role" sd "$A" "SELECT FROM trovella.with_tenant('$A')" "INSERT INTO %s VALUES ('$A', 200)" \
		"SET LOCAL trovella.purge_scope TO $scope_sd" "DELETE FROM %s WHERE id = 200" >/dev/null
	is "$(rows_of sd "$A")" "0|1" "the $role role's replay is no scope: its deletion of a row of the tenant marks it"
	c -c "SELECT result FROM run_command_on_shards('sd', \$\$SET trovella.with_deleted = on; DELETE FROM %s WHERE tenant_id = '$A'\$\$)" >/dev/null 2>&1
	before=$(c -c "SELECT count(*) FROM trovella.audit_history WHERE tenant_id = '$A' AND operation = 'D'")
	on_shard "$role" docs "$A" "SELECT FROM trovella.with_tenant('$A')" "INSERT INTO %s VALUES ('$A', 200)" \
		"SET LOCAL trovella.purge_scope TO $scope_docs" "DELETE FROM %s WHERE id = 200" >/dev/null
	is "$(c -c "SELECT count(*) - $before FROM trovella.audit_history WHERE tenant_id = '$A' AND operation = 'D'")" "1" \
		"the $role role's replay is no scope: its deletion of a row of docs is recorded"
done

# a replay in a transaction the suspension let in keeps no scope past the
# resume: the operations role sets the scope while the tenant is suspended,
# the tenant is resumed (nothing waits for that transaction) and its rows
# are live again; the rows deleted then are marked and recorded
c -c "SET trovella.isolation_guard = off" -c "INSERT INTO sd VALUES ('$A', 300)" -c "INSERT INTO docs VALUES ('$A', 300)" \
	-c "SELECT trovella.suspend_tenant('$A', 'Erased again.')" >/dev/null
before=$(c -c "SELECT count(*) FROM trovella.audit_history WHERE tenant_id = '$A' AND operation = 'D'")
on_shard ops sd "$A" "SET LOCAL trovella.purge_scope TO $scope_sd" "SELECT pg_sleep(4)" "DELETE FROM %s WHERE tenant_id = '$A' AND id = 300" >/dev/null &
replay_sd=$!
on_shard ops docs "$A" "SET LOCAL trovella.purge_scope TO $scope_docs" "SELECT pg_sleep(4)" "DELETE FROM %s WHERE tenant_id = '$A' AND id = 300" >/dev/null &
replay_docs=$!
sleep 2
c -c "SELECT trovella.resume_tenant('$A')" >/dev/null
wait $replay_sd $replay_docs
is "$(on_shard postgres sd "$A" "SELECT count(*) FROM %s WHERE tenant_id = '$A' AND id = 300 AND deleted_at IS NOT NULL")" "1" "a scope received before the resume deletes no row for good after it: the row is marked"
is "$(c -c "SELECT count(*) - $before FROM trovella.audit_history WHERE tenant_id = '$A' AND operation = 'D'")" "1" \
	"a scope received before the resume skips no record after it: the deletion of docs is recorded"
done_testing
