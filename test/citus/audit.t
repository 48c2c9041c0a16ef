#!/usr/bin/env bash
# The audit trail on Citus (issue 34, point 2), on a coordinator and two
# workers, under isolation_guard = 'error':
#   - distribute_audit() distributes the history and its seals by tenant,
#     co-located with a tenant table; enable_audit() refuses a distributed
#     table before that, a reference table, and a table of another
#     colocation group (0A000);
#   - each shard's trigger records into the history's shard on its own
#     node: a tenant's records are on the node of its rows, attributed to
#     the application role and the sealed context's user;
#   - a tenant reads its own history through audit_log, and nobody else's;
#     the application role cannot write it;
#   - a shard move takes the tenant's history with its rows, and the
#     tenant's next write is recorded on the new node;
#   - a worker believes a shard's trigger only where its arguments name the
#     shard's own table and that table's trigger on the node says the same:
#     one planted on a table that is not audited, on its shard or on both,
#     even with the audited table's very arguments, records nothing;
#   - enable_audit refuses a table not distributed by its tenant column;
#   - a shard's trigger disabled on a worker directly, by a backend named
#     like Citus's own (what the owner can do there), is reported by
#     audit_status and health;
#   - a TRUNCATE is recorded once;
#   - sealing (issue 34, point 3): a record's number carries its node's
#     group; the coordinator's audit_seal() seals every worker's
#     placements; audit_verify on the coordinator finds tenants A and B
#     intact, and a superuser's edit of a record in a worker's shard (the
#     first broken link); after A's shard moves back to its first node and
#     A writes there, a seal covers the new record, and the head exported
#     before the move still verifies; an operations role granted
#     audit_seal seals the cluster; health warns of a record left
#     unsealed, judged per group of numbers.
set -u
here=$(dirname "$0")
. "$here/../tap/lib.sh"
CITUS_KEY=1
. "$here/cluster.sh"
plan 48

if ! citus_start "trovella.isolation_guard = 'error'"; then
	ok 1 "the cluster starts"
	exit 1
fi
ok 0 "a coordinator and two workers start"

A=aaaaaaaa-0000-0000-0000-000000000000
B=bbbbbbbb-0000-0000-0000-000000000000
U=11111111-0000-0000-0000-000000000000
c() { PGOPTIONS="-c client_min_messages=warning" citus_psql coord "$@"; }
app() { PGOPTIONS="-c client_min_messages=warning" CITUS_USER=app citus_psql coord "$@"; }
direct() { local n=$1; shift; citus_psql "$n" "$@"; }
# in TENANT's context, as the application role: SQL...
in_tenant() {
	local t=$1 args=()
	shift
	for sql in "$@"; do args+=(-c "$sql"); done
	app -c "BEGIN" -c "SELECT FROM trovella.with_tenant('$t', '$U')" "${args[@]}" -c "COMMIT"
}

setup=$(c -c "CREATE EXTENSION trovella" -c "CREATE ROLE app LOGIN" \
	-c "GRANT USAGE ON SCHEMA trovella TO app" \
	-c "GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO app" \
	-c "SET trovella.isolation_guard = off" \
	-c "CREATE TABLE docs (tenant_id uuid NOT NULL, id bigint NOT NULL, body text, PRIMARY KEY (tenant_id, id))" \
	-c "CREATE TABLE notes (tenant_id uuid NOT NULL, id bigint NOT NULL, body text, PRIMARY KEY (tenant_id, id))" \
	-c "CREATE TABLE other_group (tenant_id uuid NOT NULL, id bigint NOT NULL, PRIMARY KEY (tenant_id, id))" \
	-c "CREATE TABLE plans (id int PRIMARY KEY, name text)" \
	-c "SELECT trovella.enable_tenant_isolation(t) FROM unnest('{docs,notes,other_group}'::regclass[]) t" \
	-c "SELECT create_distributed_table('docs', 'tenant_id', shard_count := 4)" \
	-c "SELECT create_distributed_table('notes', 'tenant_id', colocate_with := 'docs')" \
	-c "SELECT create_distributed_table('other_group', 'tenant_id', shard_count := 2, colocate_with := 'none')" \
	-c "SELECT create_reference_table('plans')" \
	-c "GRANT SELECT, INSERT, UPDATE, DELETE ON docs, notes TO app" \
	-c "GRANT SELECT ON trovella.audit_log, trovella.audit_history TO app" 2>&1)
setup="$setup
$(c -c "SELECT result FROM run_command_on_workers(\$\$GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO app\$\$)" | grep -v GRANT)"
is "$(echo "$setup" | grep -c ERROR)" "0" "the extension, the application role and four tables are set up"
[ -z "$(echo "$setup" | grep ERROR)" ] || echo "$setup" | sed 's/^/# /'

# 1. the history distributed by tenant, co-located with the tenant tables
is "$(c -c "SELECT trovella.audit_seal_node(0)")" "ERROR 55000" \
	"audit_seal_node refuses a history Citus does not distribute (55000)"
is "$(c -c "SELECT trovella.enable_audit('docs')")" "ERROR 0A000" \
	"enable_audit refuses a distributed table while the history is not co-located with it"
is "$(c -c "SELECT trovella.distribute_audit('plans')")" "ERROR 22023" \
	"distribute_audit refuses a table Citus does not distribute by hash"
is "$(c -c "SELECT trovella.distribute_audit('docs')" -c "SELECT trovella.distribute_audit('docs')")" "$(printf '\n')" \
	"distribute_audit('docs') distributes the history; a second call changes nothing"
is "$(c -c "SELECT count(DISTINCT colocationid) || ' ' || count(*) FROM pg_dist_partition
	WHERE logicalrelid IN ('docs'::regclass, 'trovella.audit_history'::regclass, 'trovella.audit_seal'::regclass)")" "1 3" \
	"the history and the seals are distributed, co-located with docs"
is "$(c -c "SELECT trovella.distribute_audit('other_group')")" "ERROR 55000" \
	"distribute_audit refuses to move the history to another colocation group"
is "$(c -c "SELECT trovella.enable_audit('plans')")" "ERROR 0A000" \
	"enable_audit refuses a reference table (each copy would record each change)"
is "$(c -c "SELECT trovella.enable_audit('other_group')")" "ERROR 0A000" \
	"enable_audit refuses a table of another colocation group"
is "$(c -c "SELECT trovella.enable_audit('docs')" -c "SELECT count(*) FROM pg_trigger WHERE tgname = 'trovella_audit' AND tgrelid = 'docs'::regclass")" \
	"$(printf '\n1')" "enable_audit('docs') on the distributed table"
is "$(c -c "SELECT sum(result::int) FROM run_command_on_placements('docs',
	\$\$SELECT count(*) FROM pg_trigger WHERE tgrelid = '%s'::regclass AND tgfoid = 'trovella.audit_row()'::regprocedure AND NOT tgisinternal\$\$)")" \
	"4" "Citus gave each of docs' 4 shards trovella's row trigger"
is "$(c -c "SELECT recording FROM trovella.audit_status WHERE table_name = 'docs'::regclass")" "t" \
	"audit_status: docs is recorded"

# 2. the application role writes in two tenants; each record lands on its row's node
w=$(in_tenant "$A" "INSERT INTO docs VALUES ('$A', 1, 'first')" "UPDATE docs SET body = 'second' WHERE id = 1" \
	"INSERT INTO docs VALUES ('$A', 2, 'gone')" "DELETE FROM docs WHERE id = 2" 2>&1)
w="$w$(in_tenant "$B" "INSERT INTO docs VALUES ('$B', 1, 'of B')" 2>&1)"
is "$w" "" "the application role writes docs in tenants A and B, as always"
# the node (port) holding a tenant's shard of a table
node_of() { c -c "SELECT nodeport FROM pg_dist_shard_placement WHERE shardid = get_shard_id_for_distribution_column('$1', '$2')"; }
# a tenant's records in its history shard, read on that node directly
local_records() {
	local port shard node
	port=$(node_of trovella.audit_history "$1")
	shard=$(c -c "SELECT get_shard_id_for_distribution_column('trovella.audit_history', '$1')")
	for node in w1 w2; do [ "$(citus_port $node)" = "$port" ] && break; done
	direct "$node" -c "SELECT string_agg(operation::text || ':' || user_id || ':' || role, ' ' ORDER BY at, seq)
		FROM trovella.audit_history_$shard WHERE tenant_id = '$1'"
}
is "$(node_of trovella.audit_history "$A")" "$(node_of docs "$A")" "tenant A's history shard is on the node of its docs shard"
is "$(local_records "$A")" "I:$U:app U:$U:app I:$U:app D:$U:app" \
	"that node's history shard holds A's four records, by the application role for the context's user"
is "$(local_records "$B")" "I:$U:app" "tenant B's record is in the history shard on the node of B's rows"

# 3. each tenant reads its own history, and nobody else's
is "$(in_tenant "$A" "SELECT string_agg(table_name || ' ' || operation, ', ' ORDER BY at, seq) FROM trovella.audit_log")" \
	"docs INSERT, docs UPDATE, docs INSERT, docs DELETE" "tenant A reads its four records through audit_log"
is "$(in_tenant "$B" "SELECT count(*) || ' ' || bool_and(tenant_id = '$B') FROM trovella.audit_log")" "1 true" \
	"tenant B reads its one record, and none of A's"
is "$(app -c "SELECT count(*) FROM trovella.audit_log")" "ERROR 42501" \
	"without a tenant context the history is refused (fail closed)"
is "$(in_tenant "$A" "INSERT INTO trovella.audit_history (tenant_id, table_id, operation, hash) VALUES ('$A', 1, 'I', '')"; \
	in_tenant "$A" "DELETE FROM trovella.audit_history"; in_tenant "$A" "UPDATE trovella.audit_history SET role = 'x'")" \
	"$(printf 'ERROR 42501\nERROR 42501\nERROR 42501')" "the application role cannot insert, delete or update history"

# 4. a shard move takes the tenant's history with its rows
from=$(node_of docs "$A")
to=$(for n in w1 w2; do p=$(citus_port $n); [ "$p" != "$from" ] && echo "$p"; done)
is "$(c -c "SELECT citus_move_shard_placement(get_shard_id_for_distribution_column('docs', '$A'),
	'127.0.0.1', $from, '127.0.0.1', $to, shard_transfer_mode := 'block_writes')")" "" \
	"tenant A's shard moves to the other worker"
is "$(node_of trovella.audit_history "$A") $(node_of docs "$A")" "$to $to" "its history shard moved with it"
in_tenant "$A" "INSERT INTO docs VALUES ('$A', 3, 'after the move')" >/dev/null 2>&1
is "$(local_records "$A")" "I:$U:app U:$U:app I:$U:app D:$U:app I:$U:app" \
	"on the new node: A's four records, and the write after the move recorded"

# 5. a trigger planted on a table that is not audited records nothing: on
# its shard alone, or (as its owner can on a worker) on its copy there too,
# with docs' very arguments
nshard=$(c -c "SELECT get_shard_id_for_distribution_column('notes', '$A')")
nnode=w1; [ "$(citus_port w2)" = "$(node_of notes "$A")" ] && nnode=w2
direct "$nnode" -c "CREATE TRIGGER trovella_audit AFTER INSERT OR UPDATE OR DELETE ON notes_$nshard
	FOR EACH ROW EXECUTE FUNCTION trovella.audit_row('1')" >/dev/null
is "$(in_tenant "$A" "INSERT INTO notes VALUES ('$A', 1, 'planted')" 2>&1 | grep -c 'ERROR:  55000\|ERROR 55000')" "1" \
	"a planted trigger naming docs' registration on a shard of notes fails closed (55000)"
args=$(c -c "SELECT trovella_args FROM (SELECT string_agg(quote_literal(a), ', ') AS trovella_args
	FROM pg_trigger g, unnest(string_to_array(rtrim(encode(g.tgargs, 'escape'), '\\000'), '\\000')) a
	WHERE g.tgrelid = 'docs'::regclass AND g.tgname = 'trovella_audit') x")
direct "$nnode" -c "SET citus.enable_ddl_propagation = off" -c "SET citus.enable_unsafe_triggers = on" \
	-c "DROP TRIGGER trovella_audit ON notes_$nshard" \
	-c "CREATE TRIGGER trovella_audit AFTER INSERT OR UPDATE OR DELETE ON notes FOR EACH ROW EXECUTE FUNCTION trovella.audit_row($args)" \
	-c "CREATE TRIGGER trovella_audit AFTER INSERT OR UPDATE OR DELETE ON notes_$nshard FOR EACH ROW EXECUTE FUNCTION trovella.audit_row($args)" >/dev/null
is "$(in_tenant "$A" "INSERT INTO notes VALUES ('$A', 2, 'a note, not a doc')" 2>&1 | grep -c 'ERROR:  55000\|ERROR 55000')" "1" \
	"docs' own arguments ($args) planted on notes and its shard on a worker: fails closed (55000), the trigger's name binds it to docs"
is "$(local_records "$A" | wc -w)" "5" "... and nothing was recorded for either"
is "$(c -c "SET trovella.isolation_guard = off" \
	-c "CREATE TABLE byproj (tenant_id uuid NOT NULL, project_id uuid NOT NULL, id bigint NOT NULL, PRIMARY KEY (tenant_id, project_id, id))" \
	-c "SELECT trovella.enable_tenant_isolation('byproj')" \
	-c "SELECT create_distributed_table('byproj', 'project_id', colocate_with := 'docs')" >/dev/null; \
	c -c "SELECT trovella.enable_audit('byproj')")" "ERROR 0A000" \
	"enable_audit refuses a table co-located with the history but distributed by another column than its tenant's"

# 6. a shard's trigger disabled on a worker directly is seen on the coordinator
dshard=$(c -c "SELECT get_shard_id_for_distribution_column('docs', '$A')")
dnode=w1; [ "$(citus_port w2)" = "$(node_of docs "$A")" ] && dnode=w2
# (trovella refuses this by hand; a backend named like Citus's own is not refused)
PGAPPNAME="citus_internal gpid=10000000001" direct "$dnode" -c "SET citus.enable_manual_changes_to_shards = on" \
	-c "ALTER TABLE docs_$dshard DISABLE TRIGGER trovella_audit_$dshard" >/dev/null
is "$(c -c "SELECT recording FROM trovella.audit_status WHERE table_name = 'docs'::regclass")" "f" \
	"a shard's trigger disabled on its worker: audit_status says docs is not recorded"
is "$(c -c "SELECT status FROM trovella.health WHERE check_name = 'audit'")" "problem" \
	"... and health's audit check is a problem"
PGAPPNAME="citus_internal gpid=10000000001" direct "$dnode" -c "SET citus.enable_manual_changes_to_shards = on" \
	-c "ALTER TABLE docs_$dshard ENABLE TRIGGER trovella_audit_$dshard" >/dev/null
is "$(c -c "SELECT recording FROM trovella.audit_status WHERE table_name = 'docs'::regclass")" "t" \
	"enabled again: recorded"

# 7. TRUNCATE is recorded once; sealing refuses a distributed history
is "$(c -c "TRUNCATE docs" -c "SELECT count(*) FROM trovella.audit_history WHERE operation = 'T'")" "1" \
	"TRUNCATE of the distributed table is one record"
is "$(c -c "SELECT bool_and(seq >> 48 > 0) FROM trovella.audit_history WHERE tenant_id IN ('$A', '$B')")" "t" \
	"the records written on the workers carry their node's group in their numbers"
is "$(app -c "SELECT trovella.audit_seal()"; app -c "SELECT trovella.audit_seal_node(0)")" "$(printf 'ERROR 42501\nERROR 42501')" \
	"the application role may not seal (42501)"

# 8. sealing: the coordinator has each worker seal its placements
is "$(c -c "SELECT trovella.audit_seal() = (SELECT count(*) FROM trovella.audit_history)")" "t" \
	"audit_seal() on the coordinator seals every record of the history"
is "$(c -c "SELECT count(DISTINCT nodeport) FROM run_command_on_placements('trovella.audit_seal', \$\$SELECT count(*) FROM %s\$\$) WHERE result::int > 0")" "2" \
	"... in seals stored on both workers, next to the records they cover"
is "$(c -c "SELECT ok || ' ' || seals || ' ' || records || ' ' || unsealed FROM trovella.audit_verify('$A')")" "true 1 5 0" \
	"audit_verify on the coordinator: tenant A's five records, sealed, intact"
is "$(c -c "SELECT ok || ' ' || seals || ' ' || records FROM trovella.audit_verify('$B')")" "true 1 1" \
	"... and tenant B's one"
head=$(c -c "SELECT trovella.audit_head('$A')")
is "$(c -c "SELECT trovella.audit_seal()")" "0" "a second seal finds nothing new"

# a worker whose sealing fails fails the coordinator's (55000, naming it);
# audit_seal_node refuses a snapshot transaction (25000), as audit_seal
direct w1 -c "SET citus.enable_ddl_propagation = off" \
	-c "ALTER FUNCTION trovella.audit_seal_node(bigint) RENAME TO audit_seal_gone" >/dev/null
is "$(c -c "SELECT trovella.audit_seal()" 2>&1; c -c "\set VERBOSITY default" -c "SELECT trovella.audit_seal()" 2>&1 | grep -c "127.0.0.1:$(citus_port w1) failed")" \
	"$(printf 'ERROR 55000\n1')" "a worker's sealing failing fails audit_seal() on the coordinator (55000), naming the worker"
direct w1 -c "SET citus.enable_ddl_propagation = off" \
	-c "ALTER FUNCTION trovella.audit_seal_gone(bigint) RENAME TO audit_seal_node" >/dev/null
is "$(direct w1 -c "BEGIN ISOLATION LEVEL REPEATABLE READ" -c "SELECT trovella.audit_seal_node(0)")" "ERROR 25000" \
	"audit_seal_node refuses a REPEATABLE READ transaction (25000)"

# 9. A's shard moves back to its first node; A writes there; sealed and verified
is "$(c -c "SELECT citus_move_shard_placement(get_shard_id_for_distribution_column('docs', '$A'),
	'127.0.0.1', $to, '127.0.0.1', $from, shard_transfer_mode := 'block_writes')")" "" \
	"tenant A's shard moves back to its first worker"
in_tenant "$A" "INSERT INTO docs VALUES ('$A', 4, 'back home')" >/dev/null 2>&1
c -c "CREATE ROLE ops LOGIN BYPASSRLS" -c "GRANT USAGE ON SCHEMA trovella TO ops" \
	-c "GRANT EXECUTE ON FUNCTION trovella.audit_seal() TO ops" >/dev/null
is "$(CITUS_USER=ops citus_psql coord -c "SELECT trovella.audit_seal()")" "1" \
	"the write after the move is sealed, on its new node, by an operations role granted audit_seal alone"
is "$(c -c "SELECT ok || ' ' || seals || ' ' || records || ' ' || unsealed FROM trovella.audit_verify('$A', '$head')")" "true 2 6 0" \
	"A verifies, its records numbered by both workers, against the head exported before the move"

# 10. a superuser's edit of a record in a worker's shard
bshard=$(c -c "SELECT get_shard_id_for_distribution_column('trovella.audit_history', '$B')")
bnode=w1; [ "$(citus_port w2)" = "$(node_of trovella.audit_history "$B")" ] && bnode=w2
direct "$bnode" -c "SET citus.enable_manual_changes_to_shards = on" \
	-c "UPDATE trovella.audit_history_$bshard SET role = 'nobody' WHERE tenant_id = '$B'" >/dev/null
bseq=$(c -c "SELECT seq FROM trovella.audit_history WHERE tenant_id = '$B'")
is "$(c -c "SELECT ok || ' ' || broken_seal || ' ' || broken_seq || ' ' || problem FROM trovella.audit_verify('$B')")" \
	"false 1 $bseq record $bseq does not match its hash: its content was changed" \
	"a superuser's edit of B's record on its worker: audit_verify reports that record, in seal 1"
# 11. health: records left unsealed for an hour, judged per group of
# numbers: a tenant C of the lower group, whose numbers are below every
# seal of the other
low=$(c -c "SELECT min(groupid) FROM pg_dist_node WHERE groupid > 0")
C=$(c -c "SELECT t FROM (SELECT ('cccccccc-0000-0000-0000-00000000000' || i)::uuid t FROM generate_series(0, 9) i) x
	JOIN pg_dist_placement p ON p.shardid = get_shard_id_for_distribution_column('trovella.audit_history', x.t)
	WHERE p.groupid = $low ORDER BY 1 LIMIT 1")
cshard=$(c -c "SELECT get_shard_id_for_distribution_column('trovella.audit_history', '$C')")
cnode=w1; [ "$(citus_port w2)" = "$(node_of trovella.audit_history "$C")" ] && cnode=w2
in_tenant "$C" "INSERT INTO docs VALUES ('$C', 1, 'late')" >/dev/null 2>&1
direct "$cnode" -c "SET citus.enable_manual_changes_to_shards = on" \
	-c "UPDATE trovella.audit_history_$cshard SET at = at - interval '2 hours' WHERE tenant_id = '$C'" >/dev/null
is "$(c -c "SELECT status FROM trovella.health WHERE check_name = 'audit'")" "warning" \
	"health warns of C's record left unsealed for two hours, though the other group's seals reach higher numbers"
is "$(c -c "SELECT trovella.audit_seal()" -c "SELECT status FROM trovella.health WHERE check_name = 'audit'")" "$(printf '1\nok')" \
	"sealed: health's audit check is ok again"
is "$(c -c "SELECT table_name || ' ' || policy_ok FROM trovella.isolation_status WHERE table_name = 'trovella.audit_history'::regclass")" \
	"trovella.audit_history true" "isolation_status judges the distributed history isolated, on every placement"
