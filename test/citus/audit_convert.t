#!/usr/bin/env bash
# The audit trail through what Citus does to an audited table after
# enable_audit (issue 34), on a coordinator and two workers:
#   - create_distributed_table of an audited table into another colocation
#     group than the history's is refused (0A000), and so is
#     update_distributed_table_colocation moving one away: its writes would
#     fail (XX000) while audit_status said it was recorded; co-located with
#     the history, it is distributed and records;
#   - a partition created in (or attached to) an audited distributed table
#     is distributed by Citus with trovella's TRUNCATE trigger, without
#     citus.enable_unsafe_triggers, and records;
#   - after undistribute_table the table (a new one, by Citus) keeps its
#     registration and goes on recording, its writes succeeding, and the
#     conversion leaves an AUDIT record;
#   - a TRUNCATE run on a worker is refused (55000), naming the
#     coordinator, which records it;
#   - a shard rebalanced onto a node added later records there, and the
#     coordinator's audit_seal() seals it; audit_verify checks it against
#     a head exported before the node was added.
set -u
here=$(dirname "$0")
. "$here/../tap/lib.sh"
CITUS_KEY=1
. "$here/cluster.sh"
plan 45

if ! citus_start "trovella.isolation_guard = 'error'"; then
	ok 1 "the cluster starts"
	exit 1
fi
ok 0 "a coordinator and two workers start"

A=aaaaaaaa-0000-0000-0000-000000000000
U=11111111-0000-0000-0000-000000000000
c() { PGOPTIONS="-c client_min_messages=warning" citus_psql coord "$@"; }
app() { PGOPTIONS="-c client_min_messages=warning" CITUS_USER=app citus_psql coord "$@"; }
in_tenant() {
	local t=$1 args=()
	shift
	for sql in "$@"; do args+=(-c "$sql"); done
	app -c "BEGIN" -c "SELECT FROM trovella.with_tenant('$t', '$U')" "${args[@]}" -c "COMMIT"
}
# tenant i's id, for i in 0..9
tenant() { echo "aaaaaaaa-0000-0000-0000-00000000000$1"; }
# writes one row of TABLE (id ID) for each of ten tenants, as the
# application role: the number of writes that failed
write_all() {
	local i fails=0
	for i in 0 1 2 3 4 5 6 7 8 9; do
		in_tenant "$(tenant $i)" "INSERT INTO $1 VALUES ('$(tenant $i)', $2, 'x')" 2>&1 | grep -q ERROR && fails=$((fails + 1))
	done
	echo "$fails"
}

setup=$(c -v VERBOSITY=default -c "CREATE EXTENSION trovella" -c "CREATE ROLE app LOGIN" \
	-c "GRANT USAGE ON SCHEMA trovella TO app" \
	-c "GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO app" \
	-c "SET trovella.isolation_guard = off" \
	-c "CREATE TABLE docs (tenant_id uuid NOT NULL, id bigint NOT NULL, body text, PRIMARY KEY (tenant_id, id))" \
	-c "SELECT trovella.enable_tenant_isolation('docs')" \
	-c "SELECT create_distributed_table('docs', 'tenant_id', shard_count := 4)" \
	-c "SELECT trovella.distribute_audit('docs')" \
	-c "GRANT SELECT ON trovella.audit_log, trovella.audit_history TO app" 2>&1)
setup="$setup
$(c -c "SELECT result FROM run_command_on_workers(\$\$GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO app\$\$)" | grep -v GRANT)"
# tables audited on the coordinator before Citus takes them (Citus's
# conversions need a role that row-level security does not bind)
for t in apart near; do
	setup="$setup
$(c -v VERBOSITY=default -c "SET trovella.isolation_guard = off" \
		-c "CREATE TABLE $t (tenant_id uuid NOT NULL, id bigint NOT NULL, body text, PRIMARY KEY (tenant_id, id))" \
		-c "SELECT trovella.enable_tenant_isolation('$t')" -c "SELECT trovella.enable_audit('$t')" \
		-c "GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON $t TO app" 2>&1)"
done
is "$(echo "$setup" | grep -c ERROR)" "0" "the history distributed with docs; two tables audited before Citus takes them"
[ -z "$(echo "$setup" | grep ERROR)" ] || echo "$setup" | sed 's/^/# /'

# 1. sharded apart from the history: refused, whatever the setting
is "$(c -c "SET citus.enable_unsafe_triggers = on" \
	-c "SELECT create_distributed_table('apart', 'tenant_id', shard_count := 2, colocate_with := 'none')")" "ERROR 0A000" \
	"create_distributed_table of an audited table into another colocation group: refused (0A000)"
is "$(c -c "BEGIN" -c "SET LOCAL citus.enable_unsafe_triggers = on" \
	-c "SELECT FROM create_distributed_table('apart', 'tenant_id', shard_count := 2, colocate_with := 'none')" \
	-c "SELECT recording FROM trovella.audit_status WHERE name = 'public.apart'" -c "ROLLBACK")" "f" \
	"... before the commit that refuses it, audit_status says the table is not recorded"
is "$(c -c "SELECT count(*) FROM pg_dist_partition WHERE logicalrelid = 'apart'::regclass")" "0" \
	"... and the table is left as it was, local"
is "$(write_all apart 1)" "0" "... where every tenant's write is recorded"
is "$(c -c "SET citus.enable_unsafe_triggers = on" \
	-c "SELECT create_distributed_table('near', 'tenant_id', colocate_with := 'trovella.audit_history')")" "" \
	"create_distributed_table co-located with the history: accepted"
is "$(write_all near 1)" "0" "... and every tenant's write to it succeeds"
is "$(c -c "SELECT count(*) FROM trovella.audit_history h JOIN trovella.audit_table t ON t.id = h.table_id
	WHERE t.name = 'public.near' AND h.operation = 'I'") $(c -c "SELECT recording FROM trovella.audit_status WHERE name = 'public.near'")" \
	"10 t" "... is recorded (ten records), and audit_status says so"
is "$(c -c "SELECT update_distributed_table_colocation('near', colocate_with := 'none')")" "ERROR 0A000" \
	"update_distributed_table_colocation moving an audited table away from the history: refused (0A000)"
is "$(c -c "SELECT count(DISTINCT colocationid) FROM pg_dist_partition WHERE logicalrelid IN ('near'::regclass, 'trovella.audit_history'::regclass)")" \
	"1" "... and it stays co-located with the history"

# 2. a partition of an audited distributed table
is "$(c -c "SET trovella.isolation_guard = off" \
	-c "CREATE TABLE parted (tenant_id uuid NOT NULL, id bigint NOT NULL, body text, PRIMARY KEY (tenant_id, id)) PARTITION BY RANGE (id)" \
	-c "CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (100)" \
	-c "SELECT trovella.enable_tenant_isolation('parted')" \
	-c "SELECT create_distributed_table('parted', 'tenant_id', colocate_with := 'trovella.audit_history')" \
	-c "SELECT trovella.enable_audit('parted')" \
	-c "CREATE TABLE parted_2 PARTITION OF parted FOR VALUES FROM (100) TO (200)" \
	-c "GRANT SELECT, INSERT, UPDATE, DELETE ON parted TO app" 2>&1)" "" \
	"CREATE TABLE ... PARTITION OF an audited distributed table, without citus.enable_unsafe_triggers: accepted"
is "$(c -c "SET trovella.isolation_guard = off" \
	-c "CREATE TABLE parted_3 (tenant_id uuid NOT NULL, id bigint NOT NULL, body text, PRIMARY KEY (tenant_id, id))" \
	-c "ALTER TABLE parted ATTACH PARTITION parted_3 FOR VALUES FROM (200) TO (300)" 2>&1)" "" \
	"ALTER TABLE ... ATTACH PARTITION of a local table: accepted"
is "$(write_all parted 150) $(write_all parted 250)" "0 0" "every tenant writes the new partitions"
is "$(c -c "SELECT count(*) FROM trovella.audit_history h JOIN trovella.audit_table t ON t.id = h.table_id
	WHERE t.name = 'public.parted' AND h.operation = 'I'") $(c -c "SELECT recording FROM trovella.audit_status WHERE name = 'public.parted'")" \
	"20 t" "... recorded (twenty records); audit_status: recording"
is "$(c -c "SELECT sum(result::int) FROM run_command_on_placements('parted_2',
	\$\$SELECT count(*) FROM pg_trigger WHERE tgrelid = '%s'::regclass AND tgname LIKE 'trovella_audit_truncate%%'\$\$)")" \
	"4" "each shard of the new partition has the TRUNCATE trigger"

# 3. undistribute_table: the new local table records on
is "$(c -c "SELECT undistribute_table('near')")" "" "undistribute_table of an audited table"
is "$(c -c "SELECT recording FROM trovella.audit_status WHERE name = 'public.near'")" "t" \
	"audit_status: the table, a new one, is recorded"
is "$(write_all near 2)" "0" "every tenant's write to it succeeds"
is "$(c -c "SELECT count(*) FROM trovella.audit_history h JOIN trovella.audit_table t ON t.id = h.table_id
	WHERE t.name = 'public.near' AND h.operation = 'I'")" "20" "... and is recorded under the table's registration"
is "$(c -c "SELECT count(*) FILTER (WHERE h.new->>'command' LIKE '%conversion%') || ' ' ||
	(array_agg(h.new->>'recording' ORDER BY h.seq DESC))[1]
	FROM trovella.audit_history h JOIN trovella.audit_table t ON t.id = h.table_id
	WHERE t.name = 'public.near' AND h.operation = 'A'")" "1 true" \
	"the conversion left an AUDIT record, and the last one says the table is recorded"
is "$(c -c "SELECT status FROM trovella.health WHERE check_name = 'audit'")" "ok" "health's audit check: ok"

# 4. a TRUNCATE on a worker: refused, naming the coordinator (the worker has
# no registry, and its record would be numbered apart from the sealing)
is "$(citus_psql w1 -c "TRUNCATE parted"; citus_psql w1 -v VERBOSITY=default -c "TRUNCATE parted" 2>&1 | grep -c 'must run on the Citus coordinator')" \
	"$(printf 'ERROR 55000\n1')" "TRUNCATE of an audited table on a worker: refused (55000), naming the coordinator"
is "$(c -c "SELECT count(*) FROM parted")" "20" "... and the rows are still there"

# 5. a node added later: a shard rebalanced onto it records, seals, verifies
is "$(c -c "SET trovella.isolation_guard = off" \
	-c "CREATE TABLE moved (tenant_id uuid NOT NULL, id bigint NOT NULL, body text, PRIMARY KEY (tenant_id, id))" \
	-c "SELECT trovella.enable_tenant_isolation('moved')" \
	-c "SELECT create_distributed_table('moved', 'tenant_id', colocate_with := 'trovella.audit_history')" \
	-c "SELECT trovella.enable_audit('moved')" -c "GRANT SELECT, INSERT, UPDATE ON moved TO app" 2>&1 | grep -c ERROR) \
$(write_all moved 1) $(c -c "SELECT trovella.audit_seal() > 0")" "0 0 t" "an audited table written by every tenant, the history sealed, before the new node"
node_of() { c -c "SELECT nodeport FROM pg_dist_shard_placement WHERE shardid = get_shard_id_for_distribution_column('$1', '$2')"; }
citus_add_worker w3 >/dev/null 2>&1
citus_psql w3 -c "GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO app" >/dev/null
is "$(c -c "SELECT rebalance_table_shards('trovella.audit_history', shard_transfer_mode := 'block_writes')" 2>&1)" "" \
	"a node added (citus_add_node); the history's colocation group rebalanced onto it"
T=""
for i in 0 1 2 3 4 5 6 7 8 9; do
	[ "$(node_of trovella.audit_history "$(tenant $i)")" = "$(citus_port w3)" ] && { T=$(tenant $i); break; }
done
ok "$([ -n "$T" ]; echo $?)" "a tenant's history shard is on the new node ($T)"
is "$(node_of moved "$T")" "$(citus_port w3)" "... with the tenant's rows"
head=$(c -c "SELECT trovella.audit_head('$T')")
is "$(in_tenant "$T" "INSERT INTO moved VALUES ('$T', 60, 'on the new node')" "UPDATE moved SET body = 'moved' WHERE id = 60" 2>&1)" "" \
	"the tenant writes on the new node"
is "$(c -c "SELECT count(*) FROM trovella.audit_history WHERE tenant_id = '$T' AND seq >> 48 = (SELECT groupid FROM pg_dist_node WHERE nodeport = $(citus_port w3))")" \
	"2" "its two records were numbered on the new node"
is "$(c -c "SELECT trovella.audit_seal()")" "2" "audit_seal() on the coordinator seals them, on the new node"
is "$(c -c "SELECT ok || ' ' || unsealed FROM trovella.audit_verify('$T', '$head')")" "true 0" \
	"audit_verify: the tenant's history intact, against the head exported before the new node"

# 6. by hand on a worker (citus.enable_manual_changes_to_shards): a shard's
# trigger disabled or dropped, or the shard truncated, refused (55000): the
# worker has no registry to record the gap in
ms=$(c -c "SELECT get_shard_id_for_distribution_column('moved', '$T')")
by_hand() { citus_psql w3 -c "SET citus.enable_manual_changes_to_shards = on" "$@"; }
is "$(by_hand -c "ALTER TABLE moved_$ms DISABLE TRIGGER trovella_audit_$ms"; by_hand -c "ALTER TABLE moved_$ms DISABLE TRIGGER ALL";
	by_hand -c "DROP TRIGGER trovella_audit_$ms ON moved_$ms"; by_hand -c "DROP TRIGGER trovella_audit_truncate_$ms ON moved_$ms")" \
	"$(printf 'ERROR 55000\nERROR 55000\nERROR 55000\nERROR 55000')" \
	"a shard's audit triggers disabled or dropped by hand on its worker: refused (55000)"
is "$(by_hand -c "TRUNCATE moved_$ms")" "ERROR 55000" "the shard truncated by hand on its worker: refused (55000)"
is "$(c -c "SELECT recording FROM trovella.audit_status WHERE name = 'public.moved'") $(c -c "SELECT count(*) FROM moved WHERE tenant_id = '$T'")" \
	"t 2" "... the table still recorded, the tenant's rows still there"
is "$(by_hand -c "ALTER TABLE moved_$ms DISABLE TRIGGER trovella_audit_$ms" -c "ALTER TABLE moved_$ms ENABLE TRIGGER trovella_audit_$ms" -c "SELECT 1")" \
	"ERROR 55000" "(disabling refused even when enabled again in the same session: each statement is judged)"
# ... nor swapped for a trigger of the same function that never fires (WHEN
# false) and then dropped: the drop is refused, the writes still recorded
def=$(citus_psql w3 -c "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgname = 'trovella_audit_$ms'")
by_hand -c "$(printf '%s' "$def" | sed -E "s/TRIGGER trovella_audit_$ms /TRIGGER never_$ms /; s/FOR EACH ROW EXECUTE/FOR EACH ROW WHEN (false) EXECUTE/")" >/dev/null
is "$(by_hand -c "DROP TRIGGER trovella_audit_$ms ON moved_$ms")" "ERROR 55000" \
	"a shard's audit trigger dropped by hand once one of the same function that never fires (WHEN false) is there: refused (55000)"
is "$(by_hand -c "$(printf '%s' "$def" | sed -E "s/CREATE TRIGGER/CREATE OR REPLACE TRIGGER/; s/FOR EACH ROW EXECUTE/FOR EACH ROW WHEN (false) EXECUTE/")")" "ERROR 55000" \
	"... or replaced in place (CREATE OR REPLACE TRIGGER, the same name) by one that never fires: refused (55000)"

# 7. a table renamed by its owner to a name with a quote: audit_status gives
# each shard's name to the workers as a literal (%L), so nothing in the name
# runs there with the reader's rights (before: '%s', and it did)
for n in w1 w2 w3; do
	citus_psql $n -c "CREATE SEQUENCE public.planted_runs" -c "GRANT ALL ON SEQUENCE public.planted_runs TO PUBLIC" >/dev/null
done
# (made on the coordinator, Citus makes it on every worker)
c -c "CREATE FUNCTION public.planted() RETURNS text LANGUAGE plpgsql IMMUTABLE AS 'BEGIN PERFORM nextval(''public.planted_runs''); RETURN ''''; END'" >/dev/null
# (the shard's name ends the name's last literal; planted() runs as a
# worker plans the statement)
N="'::text::regclass),public.planted(),(text '"
c -c "CREATE ROLE own LOGIN" -c "GRANT USAGE ON SCHEMA trovella TO own" -c "GRANT CREATE ON SCHEMA public TO own" \
	-c "ALTER TABLE moved OWNER TO own" >/dev/null
for n in w1 w2 w3; do citus_psql $n -c "GRANT CREATE ON SCHEMA public TO own" >/dev/null; done
moved=$(c -c "SELECT 'moved'::regclass::oid")
is "$(CITUS_USER=own citus_psql coord -c "ALTER TABLE moved RENAME TO \"$N\"" 2>&1) $(c -c "SELECT relname FROM pg_class WHERE oid = $moved")" " $N" \
	"the owner renames an audited distributed table to a name with a quote"
status() { $1 -c "SELECT recording FROM trovella.audit_status WHERE table_name = $moved::regclass"; }
before=$(status app)
c -c "SELECT trovella.enable_audit($moved::regclass)" >/dev/null
is "$before $(status c) $(status app)" "f t t" \
	"audit_status, read by the application: not recorded until enable_audit is run again; then recorded, read by a superuser and by the application"
runs=""
for n in w1 w2 w3; do runs="$runs$(citus_psql $n -c "SELECT is_called FROM public.planted_runs")"; done
is "$runs" "fff" "... and the function named in the table's name never ran on a worker"

# 8. the history itself moved to another colocation group: every audited
# distributed table is then apart from it; refused (before: committed)
is "$(c -c "SELECT update_distributed_table_colocation('trovella.audit_history', colocate_with := 'none')")" "ERROR 0A000" \
	"update_distributed_table_colocation moving the history away from its audited tables: refused (0A000)"
is "$(c -c "SELECT count(DISTINCT colocationid) FROM pg_dist_partition WHERE logicalrelid IN ($moved, 'parted'::regclass, 'trovella.audit_history'::regclass)")" \
	"1" "... and it stays co-located with them"

# 9. an audited table already apart from the history (as an older version
# could leave it): another session's change to it invalidates every
# backend's cache, but an unrelated transaction that wrote no Citus metadata
# commits (before: refused at commit, 0A000)
is "$(c -c "SET trovella.isolation_guard = off" -c "SET citus.enable_unsafe_triggers = on" \
	-c "CREATE TABLE stray (tenant_id uuid NOT NULL, id bigint NOT NULL, body text, PRIMARY KEY (tenant_id, id))" \
	-c "SELECT trovella.enable_tenant_isolation('stray')" -c "SELECT trovella.enable_audit('stray')" \
	-c "SELECT create_distributed_table('stray', 'tenant_id', colocate_with := 'trovella.audit_history')" \
	-c "CREATE TABLE unrelated (id int)" 2>&1 | grep -c ERROR) \
$(c -c "UPDATE trovella.audit_table SET enabled = false WHERE name = 'public.stray'" \
	-c "SELECT FROM update_distributed_table_colocation('stray', colocate_with := 'none')" \
	-c "UPDATE trovella.audit_table SET enabled = true WHERE name = 'public.stray'" 2>&1 | grep -c ERROR) \
$(c -c "SELECT recording FROM trovella.audit_status WHERE name = 'public.stray'")" "0 0 f" \
	"an audited table apart from the history (set up by hand): audit_status says it is not recorded"
c -c "BEGIN" -c "SELECT FROM pg_sleep(3)" -c "INSERT INTO unrelated VALUES (1)" -c "COMMIT" >"$citus_dir/unrelated.out" 2>&1 &
sleep 1
other=$(c -c "UPDATE trovella.audit_table SET enabled = false WHERE name = 'public.stray'" -c "ALTER TABLE stray SET (fillfactor = 90)" 2>&1;
	c -c "UPDATE trovella.audit_table SET enabled = true WHERE name = 'public.stray'" 2>&1)
wait
is "$other|$(cat "$citus_dir/unrelated.out")|$(c -c "SELECT count(*) FROM unrelated")" "||1" \
	"another session alters it meanwhile: an unrelated transaction open then commits"
