#!/usr/bin/env bash
# Foreign keys of tables Citus manages, whose rows live in their placements
# (issue 32, points 0 and 2, on a cluster):
#  - the table's owner, in a tenant context, adding a key to a distributed
#    table whose coordinator copy is empty (truncate_local_data_after_
#    distributing_table, as Citus advises): each placement checked only
#    that tenant's rows and the key was accepted over the other tenants'
#    broken rows.  Refused (42501), on the coordinator and on a worker's
#    placement alike;
#  - without a context, the owner's check of the placements fails closed,
#    and the key is not added; the operations role checks every row;
#  - Citus gives the placements it copies (a move, a rebalance) their
#    table's keys connected as the owner, whom forced row-level security
#    binds: the check of the copied rows failed closed, so that no shard
#    whose rows refer to a reference table could move.  A key the table
#    already had passes; a key new to the table is still checked;
#  - VALIDATE CONSTRAINT, the same as ADD FOREIGN KEY;
#  - found by an outside-style attack: a second key like the table's NOT
#    VALID one, a key dropped from a placement and added again, a table
#    named like a shard in a session named like Citus's (copied_key took
#    each for a copy, unchecked); an unnamed key, which Citus sends to the
#    placements NOT VALID (refused, 0A000).
# Each in the guard's error and auto modes.
set -u
MULTI=true
. "$(dirname "$0")/operations.sh"
plan 58

if ! citus_start "wal_level = logical" "max_replication_slots = 20" "max_wal_senders = 20"; then
	ok 1 "the cluster starts"
	exit 1
fi
ok 0 "a coordinator and two workers start"

grant='GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO app, owner'
is "$(c -c "CREATE EXTENSION trovella" -c "CREATE ROLE app LOGIN" -c "CREATE ROLE owner LOGIN" \
	-c "CREATE ROLE ops LOGIN BYPASSRLS IN ROLE pg_read_all_data, pg_write_all_data, owner" \
	-c "GRANT CREATE ON SCHEMA public TO owner" -c "$grant" \
	-c "SELECT result FROM run_command_on_workers(\$\$$grant\$\$)" 2>&1 | grep ERROR)" "" \
	"the extension, the owner, the operations role, the application role"

# owner_op SQL [NODE]: as the owner, in tenant A's context; its error
owner_in_a() {
	PGOPTIONS="-c client_min_messages=warning" psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose \
		-h 127.0.0.1 -p "$(citus_port "${2:-coord}")" -U owner -d postgres \
		-c "BEGIN" -c "SELECT trovella.with_tenant('$A')" -c "$1" -c "COMMIT" 2>&1 >/dev/null |
		grep -E '^(psql:.*)?ERROR' | sed -E 's/^psql:[^ ]* //'
}
# keys NAME: the constraints so named on every node, placements included
keys() {
	c -c "SELECT sum(result::int) FROM run_command_on_all_nodes(\$\$SELECT count(*) FROM pg_catalog.pg_constraint
		WHERE conname LIKE '$1%'\$\$)"
}
# broken TABLE: how many of its rows refer to no row of the reference table
broken() {
	CITUS_USER=ops citus_psql coord -c "SELECT count(*) FROM $1 d WHERE NOT EXISTS
		(SELECT FROM ${1/dist/ref} r WHERE r.tenant_id = d.tenant_id AND r.id = d.ref)"
}

for mode in error auto; do
	guard $mode
	s=${mode}
	fresh ref_$s
	fresh dist_$s
	is "$(op "SELECT create_reference_table('ref_$s')")$(op "SELECT create_distributed_table('dist_$s', 'tenant_id', shard_count := 4)")$(op "SELECT truncate_local_data_after_distributing_table('dist_$s')")" "" \
		"$mode: a reference table, a distributed table, its coordinator copy emptied"
	# A's rows refer to rows of the reference table, B's to none
	op "UPDATE dist_$s SET ref = id + CASE WHEN tenant_id = '$B' THEN 1000 ELSE 0 END" | sed 's/^/# /'
	is "$(broken dist_$s)" "20" "$mode: B's 20 rows refer to nothing"

	add="ALTER TABLE dist_$s ADD CONSTRAINT fk_$s FOREIGN KEY (tenant_id, ref) REFERENCES ref_$s (tenant_id, id)"
	is "$(owner_in_a "$add" | grep -o '^ERROR:  42501: trovella: ADD FOREIGN KEY on table [a-z_0-9]* needs a role')" \
		"ERROR:  42501: trovella: ADD FOREIGN KEY on table dist_$s needs a role" \
		"$mode: the owner in a tenant context cannot add a key its placements would check from that tenant's view (42501)"
	is "$(keys fk_$s)" "0" "$mode: ... and no node has the key"

	is "$(op "$add" owner | grep -c '42501: trovella: no tenant context')" "1" \
		"$mode: the owner without a context: the placements' check fails closed (42501)"
	is "$(keys fk_$s)" "0" "$mode: ... and no node has the key"

	is "$(op "$add" | grep -o '23503: insert or update on table "dist_'"$s"'_[0-9]*" violates foreign key')" \
		"23503: insert or update on table \"dist_${s}_$(shard_of dist_$s "$B")\" violates foreign key" \
		"$mode: the operations role checks every row: B's break the key (23503)"

	# a key added NOT VALID checks nothing; its VALIDATE would check each
	# placement from A's view
	is "$(owner_in_a "ALTER TABLE dist_$s ADD CONSTRAINT fkn_$s FOREIGN KEY (tenant_id, ref) REFERENCES ref_$s (tenant_id, id) NOT VALID")" "" \
		"$mode: the owner in a tenant context adds a key NOT VALID"
	is "$(owner_in_a "ALTER TABLE dist_$s VALIDATE CONSTRAINT fkn_$s" |
		grep -o '^ERROR:  42501: trovella: VALIDATE CONSTRAINT on table [a-z_0-9]* needs a role')" \
		"ERROR:  42501: trovella: VALIDATE CONSTRAINT on table dist_$s needs a role" \
		"$mode: ... but cannot validate it from that tenant's view (42501)"
	is "$(c -c "SELECT convalidated FROM pg_constraint WHERE conname = 'fkn_$s'")" "f" "$mode: ... which stays not valid"
	# a key like the table's NOT VALID one is no copy of a valid key: checked
	is "$(op "ALTER TABLE dist_$s ADD CONSTRAINT fk2_$s FOREIGN KEY (tenant_id, ref) REFERENCES ref_$s (tenant_id, id)" owner |
		grep -c '42501: trovella: no tenant context')" "1" \
		"$mode: the owner's second key, like a NOT VALID one, is checked on the placements (42501)"
	is "$(keys fk2_$s)" "0" "$mode: ... and no node has it"
	# nor is a key dropped from a placement and added again
	shard=$(shard_of dist_$s "$B")
	port=$(port_of $shard)
	node=$(node_at $port)
	refp=$(c -c "SELECT shard_name FROM citus_shards WHERE table_name = 'ref_$s'::regclass AND nodeport = $port")
	is "$(PGOPTIONS="-c client_min_messages=warning" psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate \
		-h 127.0.0.1 -p "$port" -U owner -d postgres -c "BEGIN" \
		-c "ALTER TABLE dist_${s}_$shard DROP CONSTRAINT fkn_${s}_$shard" \
		-c "ALTER TABLE dist_${s}_$shard ADD CONSTRAINT fkn_${s}_$shard FOREIGN KEY (tenant_id, ref) REFERENCES $refp (tenant_id, id)" \
		-c "COMMIT" 2>&1 | grep -o 'ERROR:  [0-9A-Z]*')" "ERROR:  42501" \
		"$mode: on $node, the owner's key dropped from a placement and added again is checked (42501)"
	is "$(c -c "SELECT convalidated FROM pg_constraint WHERE conname = 'fkn_$s'")" "f" "$mode: ... and the key stays not valid"
	is "$(op "ALTER TABLE dist_$s DROP CONSTRAINT fkn_$s")" "" "$mode: (dropped again)"

	# a placement directly, on the node that holds B's rows
	shard=$(shard_of dist_$s "$B")
	port=$(port_of $shard)
	node=$(node_at $port)
	refp=$(c -c "SELECT shard_name FROM citus_shards WHERE table_name = 'ref_$s'::regclass AND nodeport = $port")
	is "$(owner_in_a "ALTER TABLE dist_${s}_$shard ADD CONSTRAINT fkw_$s FOREIGN KEY (tenant_id, ref) REFERENCES $refp (tenant_id, id)" $node |
		grep -o '^ERROR:  42501: trovella: ADD FOREIGN KEY on table [a-z_0-9]* needs a role')" \
		"ERROR:  42501: trovella: ADD FOREIGN KEY on table dist_${s}_$shard needs a role" \
		"$mode: on its node ($node), the owner in a tenant context cannot add a key to a placement that has rows (42501)"
	is "$(keys fkw_$s)" "0" "$mode: ... and it has no key"

	# Citus sends an unnamed key to the placements NOT VALID: refused
	unnamed="ALTER TABLE dist_$s ADD FOREIGN KEY (tenant_id, ref) REFERENCES ref_$s (tenant_id, id)"
	is "$(op "$unnamed" owner | grep -o '^ERROR:  0A000: trovella: name the foreign key')$(op "$unnamed" | grep -o '^ERROR:  0A000')" \
		"ERROR:  0A000: trovella: name the foreign keyERROR:  0A000" \
		"$mode: an unnamed key on a distributed table is refused, to the owner and the operations role (0A000)"

	# a table a user named like a shard, in a session named like Citus's
	# own: checked like any table (42501)
	fresh r_$s
	fresh t_$s
	fresh t_${s}_5
	op "UPDATE t_${s}_5 SET ref = id + 1000 WHERE tenant_id = '$B'" | sed 's/^/# /'
	op "ALTER TABLE t_$s ADD CONSTRAINT tk_$s FOREIGN KEY (tenant_id, ref) REFERENCES r_$s (tenant_id, id)" | sed 's/^/# /'
	is "$(PGAPPNAME='citus_internal gpid=1' op "ALTER TABLE t_${s}_5 ADD CONSTRAINT tk5_$s FOREIGN KEY (tenant_id, ref) REFERENCES r_$s (tenant_id, id)" owner |
		grep -o '^ERROR:  42501')$(keys tk5_$s)" "ERROR:  425010" \
		"$mode: a table named like a shard, in a session named like Citus's: its key checked as any (42501), not added"

	# B's rows mended, the operations role adds the key
	op "UPDATE dist_$s SET ref = id" | sed 's/^/# /'
	is "$(op "$add")" "" "$mode: the operations role adds the key once every row meets it"

	# moves: Citus gives the copies the table's key, connected as the owner
	shard=$(shard_of dist_$s "$A")
	to=$(other_worker $(port_of $shard))
	is "$(move $shard $(port_of $shard) $to)" "" "$mode: a shard whose rows refer to a reference table moves"
	is "$(port_of $shard)" "$to" "$mode: ... to the other node"
	moves=$(c -c "SELECT count(*) FROM get_rebalance_table_shards_plan('dist_$s')")
	is "$(op "SELECT rebalance_table_shards('dist_$s', shard_transfer_mode := 'block_writes')")" "" \
		"$mode: rebalance_table_shards ($moves moves)"
	is "$(c -c "SELECT string_agg(DISTINCT result, ',') || ' in ' || count(*) FROM run_command_on_placements('dist_$s',
		\$\$SELECT count(*) FROM pg_catalog.pg_constraint WHERE conrelid = '%s'::regclass AND contype = 'f'\$\$)")" \
		"1 in 4" "$mode: every placement, moved or not, has the key"
	is "$(broken dist_$s)" "0" "$mode: ... and every row meets it"
	check dist_$s "$mode, moved and rebalanced"
done

done_testing
