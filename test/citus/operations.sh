# The Citus operations a SaaS runs on isolated tables, in the guard's
# `error` and `auto` modes, on the cluster cluster.sh starts (three nodes,
# or a coordinator holding every shard): after each, every placement (the
# coordinator's included) is isolated as a table on one server, the table
# passes isolation_status with policy_ok, and the application role in one
# tenant's context reads that tenant's rows only, although each table also
# has a permissive canary policy USING (true), which must never widen a
# tenant's reach.  Re-running enable_tenant_isolation() afterwards repairs
# and never breaks.  Sourced by operations_*.t, which set CITUS_NODES (as
# cluster.sh reads it) and MULTI (true with workers), then call
# operations_test PLAN (MODES="error" runs one mode, for a quicker look).
# The tables belong to the role "owner"; the operations run as the role
# OPERATOR (default: ops, an operations role as a managed service gives:
# BYPASSRLS, a member of the owner, not a superuser).
. "$(dirname "${BASH_SOURCE[0]}")/../tap/lib.sh"
CITUS_KEY=1
. "$(dirname "${BASH_SOURCE[0]}")/cluster.sh"

A=aaaaaaaa-0000-0000-0000-000000000000
B=bbbbbbbb-0000-0000-0000-000000000000
c() { PGOPTIONS="-c client_min_messages=warning" citus_psql coord "$@"; }
app() { CITUS_USER=app citus_psql coord "$@"; }

# guard MODE: on every node, as an administrator would set it
guard() {
	local n
	for n in $CITUS_NODES; do
		citus_psql "$n" -c "ALTER SYSTEM SET trovella.isolation_guard = '$1'" -c "SELECT pg_reload_conf()" >/dev/null
	done
	sleep 0.3
}

# fresh NAME: a local table with rows of two tenants, isolated, with a
# canary policy, granted to the application role
fresh() {
	c -c "BEGIN" -c "CREATE TABLE $1 (tenant_id uuid NOT NULL, id bigint NOT NULL, ref bigint, body text,
			PRIMARY KEY (tenant_id, id))" \
		-c "SELECT trovella.enable_tenant_isolation('$1')" \
		-c "CREATE POLICY canary ON $1 USING (true)" \
		-c "ALTER TABLE $1 OWNER TO owner" \
		-c "GRANT SELECT, INSERT, UPDATE, DELETE ON $1 TO app" \
		-c "INSERT INTO $1 (tenant_id, id, body) SELECT '$A'::uuid, g, 'a' FROM generate_series(1, 30) g
			UNION ALL SELECT '$B'::uuid, g, 'b' FROM generate_series(1, 20) g" -c "COMMIT" 2>&1 | grep ERROR | sed 's/^/# fresh: /'
}

# placement_state TABLE: one line per placement that is not as trovella
# isolates a table on one server (RLS enabled and forced, the isolation
# policy restrictive, both policies per query), and a last line "N placements"
placement_state() {
	c -c "SELECT result FROM run_command_on_placements('$1', \$\$
		SELECT CASE WHEN c.relrowsecurity AND c.relforcerowsecurity
		             AND (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid
		                  AND p.polname IN ('trovella_tenant_isolation', 'trovella_tenant_access')
		                  AND p.polpermissive = (p.polname = 'trovella_tenant_access')
		                  AND pg_get_expr(p.polqual, p.polrelid) LIKE '%%SELECT trovella.current_tenant()%%'
		                  AND pg_get_expr(p.polwithcheck, p.polrelid) LIKE '%%SELECT trovella.current_tenant()%%') = 2
		            THEN 'isolated'
		            ELSE '%1\$s: ' || c.relrowsecurity || ' ' || c.relforcerowsecurity || ' ' ||
		                 coalesce((SELECT string_agg(p.polname || CASE WHEN p.polpermissive THEN ' permissive ' ELSE ' restrictive ' END
		                                             || pg_get_expr(p.polqual, p.polrelid), '; ' ORDER BY p.polname)
		                           FROM pg_policy p WHERE p.polrelid = c.oid), 'no policy') END
		FROM pg_class c WHERE c.oid = '%1\$s'::regclass\$\$)" | grep -v '^isolated$'
	c -c "SELECT count(*) || ' placements' FROM run_command_on_placements('$1', 'SELECT 1')"
}

# check TABLE WHAT: the three checks after an operation
check() {
	local t=$1 what=$2 state n
	state=$(placement_state "$t")
	n=$(echo "$state" | tail -n 1)
	is "$(echo "$state" | sed '$d')" "" "$what: every placement of $t isolated as on one server ($n)"
	is "$(c -c "SELECT policy_ok || ' ' || problems::text FROM trovella.isolation_status WHERE table_name = '$t'::regclass")" \
		"true {}" "$what: isolation_status says $t is isolated"
	is "$(app -c "BEGIN" -c "SELECT trovella.with_tenant('$A')" \
		-c "SELECT count(*) FILTER (WHERE tenant_id <> '$A') || ' ' || count(*) FROM $t" -c "COMMIT" | sed -n 2p)" "0 30" \
		"$what: tenant A reads its 30 rows of $t and none of B's, canary policy or not"
}

# op SQL [ROLE]: run an operation on the coordinator as ROLE (default: the
# operations role); nothing when it succeeds, else its error with the
# SQLSTATE and the message
op() {
	PGOPTIONS="-c client_min_messages=warning" psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose \
		-h 127.0.0.1 -p "$(citus_port coord)" -U "${2:-${OPERATOR:-ops}}" -d postgres -c "$1" 2>&1 >/dev/null |
		grep -E '^(psql:.*)?ERROR' | sed -E 's/^psql:[^ ]* //'
}

# shard_of TABLE TENANT: the shard that holds the tenant's rows
shard_of() { c -c "SELECT get_shard_id_for_distribution_column('$1', '$2'::uuid)"; }
nodeid_of() { c -c "SELECT nodeid FROM pg_dist_node WHERE nodeport = $(citus_port "$1")"; }
# port_of SHARD: the port of the node that holds it; node_at PORT: its name
port_of() { c -c "SELECT nodeport FROM citus_shards WHERE shardid = $1"; }
node_at() { local n; for n in $CITUS_NODES; do [ "$(citus_port "$n")" = "$1" ] && echo "$n"; done; }
# other_worker PORT: the port of a worker other than the node at PORT
other_worker() { local p; p=$(citus_port w2); [ "$1" = "$p" ] && p=$(citus_port w1); echo "$p"; }
# move SHARD FROM TO: citus_move_shard_placement, blocking writes, as op
move() { op "SELECT citus_move_shard_placement($1, '127.0.0.1', $2, '127.0.0.1', $3, 'block_writes')"; }

# run_operations SUFFIX: every operation once, on tables named t_*_SUFFIX
run_operations() {
	local s=$1 mode=$2 shard from
	local w=coord
	$MULTI && w=w1

	fresh ref_$s
	is "$(op "SELECT create_reference_table('ref_$s')")" "" "$mode: create_reference_table"
	check ref_$s "$mode, reference table"

	fresh dist_$s
	is "$(op "SELECT create_distributed_table('dist_$s', 'tenant_id', shard_count := 4)")" "" \
		"$mode: create_distributed_table"
	check dist_$s "$mode, distributed table"

	fresh conc_$s
	is "$(op "SELECT create_distributed_table_concurrently('conc_$s', 'tenant_id', shard_count := 4)")" "" \
		"$mode: create_distributed_table_concurrently"
	check conc_$s "$mode, distributed concurrently"

	fresh local_$s
	is "$(op "SELECT citus_add_local_table_to_metadata('local_$s')")" "" "$mode: citus_add_local_table_to_metadata"
	check local_$s "$mode, Citus local table"

	# a foreign key to a reference table makes a Citus local table of it;
	# every row refers to one (Citus's copies of the table then check them)
	fresh auto_$s
	op "UPDATE auto_$s SET ref = id" | sed 's/^/# /'
	is "$(op "ALTER TABLE auto_$s ADD FOREIGN KEY (tenant_id, ref) REFERENCES ref_$s (tenant_id, id)")" "" \
		"$mode: a foreign key to a reference table"
	check auto_$s "$mode, automatic Citus local table"

	# ... and distributing such a table
	is "$(op "SELECT create_distributed_table('auto_$s', 'tenant_id', shard_count := 4)")" "" \
		"$mode: create_distributed_table of a table with a key to a reference table"
	check auto_$s "$mode, distributed with a key to a reference table"

	# with the tables colocated with it: conc_ (distributed concurrently) and
	# auto_ (with its key to a reference table)
	is "$(op "SELECT alter_distributed_table('dist_$s', shard_count := 6, cascade_to_colocated := true)")" "" \
		"$mode: alter_distributed_table"
	for t in dist_$s conc_$s auto_$s; do
		check $t "$mode, altered"
	done

	shard=$(shard_of dist_$s "$A")
	is "$(op "SELECT citus_split_shard_by_split_points($shard,
			ARRAY[((SELECT shardminvalue::bigint FROM pg_dist_shard WHERE shardid = $shard) + 1000)::text],
			ARRAY[$(nodeid_of coord), $(nodeid_of $w)], 'block_writes')")" "" "$mode: a shard split"
	check dist_$s "$mode, split"

	is "$(op "SELECT isolate_tenant_to_new_shard('dist_$s', '$A'::uuid, 'CASCADE', shard_transfer_mode := 'block_writes')")" "" "$mode: isolate_tenant_to_new_shard"
	check dist_$s "$mode, tenant isolated to its own shard"

	if $MULTI; then
		shard=$(shard_of dist_$s "$A")
		from=$(port_of $shard)
		is "$(move $shard $from $(other_worker $from))" "" "$mode: a shard move"
		check dist_$s "$mode, moved"
		# Citus gives the placements it copies their table's keys connected
		# as the table's owner, whom forced row-level security binds: the
		# check of the copied rows (auto_'s, which refer to ref_) failed
		# closed (42501) before 0.5.0; a key the table already had passes
		moves=$(c -c "SELECT count(*) FROM get_rebalance_table_shards_plan('dist_$s')")
		[ "$moves" -gt 0 ]
		ok $? "$mode: the rebalancer has shards to move ($moves)"
		is "$(op "SELECT rebalance_table_shards('dist_$s', shard_transfer_mode := 'block_writes')")" "" \
			"$mode: rebalance_table_shards"
		is "$(c -c "SELECT count(*) FROM get_rebalance_table_shards_plan('dist_$s')")" "0" \
			"$mode: ... moved them all"
		for t in dist_$s conc_$s auto_$s; do
			check $t "$mode, rebalanced"
		done
	fi

	is "$(op "SELECT undistribute_table('conc_$s')")" "" "$mode: undistribute_table"
	check conc_$s "$mode, undistributed"

	# the repair isolation_status advises, on every kind of table: it
	# repairs, and never breaks a placement
	for t in ref_$s dist_$s local_$s auto_$s conc_$s; do
		op "SELECT trovella.enable_tenant_isolation('$t')" | sed 's/^/# /'
	done
	for t in ref_$s dist_$s local_$s auto_$s; do
		is "$(placement_state $t | sed '$d')" "" "$mode: enable_tenant_isolation again leaves every placement of $t isolated"
	done
	is "$(app -c "BEGIN" -c "SELECT trovella.with_tenant('$A')" \
		-c "SELECT (SELECT count(*) FROM ref_$s WHERE tenant_id <> '$A') + (SELECT count(*) FROM dist_$s WHERE tenant_id <> '$A')
			+ (SELECT count(*) FROM local_$s WHERE tenant_id <> '$A') + (SELECT count(*) FROM auto_$s WHERE tenant_id <> '$A')" \
		-c "COMMIT" | sed -n 2p)" "0" "$mode: ... and tenant A still reads none of B's rows"
}

# operations_test PLAN: the cluster, the application role, then every
# operation with the guard in error and in auto
operations_test() {
	plan "$1"
	# logical replication, which create_distributed_table_concurrently needs
	if ! citus_start "wal_level = logical" "max_replication_slots = 20" "max_wal_senders = 20"; then
		ok 1 "the cluster starts"
		exit 1
	fi
	ok 0 "the cluster starts ($CITUS_NODES; operations run as ${OPERATOR:-ops})"

	is "$(c -c "CREATE EXTENSION trovella" -c "CREATE ROLE app LOGIN" -c "CREATE ROLE owner LOGIN" \
		-c "CREATE ROLE ops LOGIN BYPASSRLS IN ROLE pg_read_all_data, pg_write_all_data, owner" \
		-c "GRANT CREATE ON SCHEMA public TO owner" \
		-c "GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO app" \
		-c "SELECT result FROM run_command_on_workers(\$\$GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO app\$\$)" 2>&1 |
		grep ERROR)" "" "the extension and the application role, its grant on every node"

	local mode
	for mode in ${MODES:-error auto}; do
		guard $mode
		run_operations $mode "guard $mode"
	done
	done_testing
}
