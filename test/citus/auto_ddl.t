#!/usr/bin/env bash
# The guard in auto on DDL Citus acts on after the statement (issue 32,
# point 2), on a coordinator and two workers, as the table owner and the
# operations role (BYPASSRLS, a member of the owner):
#   - ALTER TABLE ... ADD COLUMN tenant_id on a distributed table: the guard
#     isolated the table at the statement's end, before Citus sent the new
#     column to the shards, so CREATE POLICY failed there (42703); now the
#     table is isolated once Citus is done,
#     (a reference table's and a Citus local table's too, whose coordinator
#     placement Citus alters nested in the statement, by local execution);
#     refused (55000) when it would leave rows without a tenant, asked of
#     the placements (the coordinator's table holds none of them),
#   - CREATE TABLE in a distributed schema: the guard isolated the table
#     before Citus read it (as the caller) to distribute it, so the owner,
#     bound by forced RLS without a tenant context, failed (42501); now it
#     is isolated once Citus distributed it.
# After each, every placement has trovella's policies, isolation_status says
# policy_ok, and a tenant reads its own rows only.
set -u
here=$(dirname "$0")
. "$here/../tap/lib.sh"
CITUS_KEY=1
. "$here/cluster.sh"
plan 36

if ! citus_start "trovella.isolation_guard = 'auto'"; then
	ok 1 "the cluster starts"
	exit 1
fi
ok 0 "a coordinator and two workers start, the guard in auto"

A=aaaaaaaa-0000-0000-0000-000000000000
B=bbbbbbbb-0000-0000-0000-000000000000
c() { PGOPTIONS="-c client_min_messages=warning" citus_psql coord "$@"; }
as() { local r=$1; shift; PGOPTIONS="-c client_min_messages=warning" CITUS_USER=$r citus_psql coord "$@"; }

setup=$(c -c "CREATE EXTENSION trovella" \
	-c "CREATE ROLE app LOGIN" -c "CREATE ROLE owner LOGIN" \
	-c "CREATE ROLE ops LOGIN BYPASSRLS IN ROLE pg_read_all_data, pg_write_all_data, pg_monitor, owner" \
	-c "GRANT CREATE ON SCHEMA public TO owner" -c "CREATE SCHEMA s AUTHORIZATION owner" -c "GRANT USAGE ON SCHEMA s TO app" \
	-c "SELECT citus_schema_distribute('s')" 2>&1)
setup="$setup
$(c -c "GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO app" \
	-c "SELECT result FROM run_command_on_workers(\$\$GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO app\$\$)" |
	grep -v SUCCESS)"
is "$(echo "$setup" | grep -c ERROR)" "0" "the extension, app, owner, ops (BYPASSRLS, in owner), a distributed schema of the owner's"
[ -z "$(echo "$setup" | grep ERROR)" ] || echo "$setup" | sed 's/^/# /'

per_query='SELECT count(*) FROM pg_policy WHERE polrelid = '"'%s'"'::regclass AND pg_get_expr(polqual, polrelid) LIKE '"'%%SELECT trovella.current_tenant()%%'"
# isolated TABLE ROLE: isolation_status as ROLE, then both policies on every placement
isolated() {
	echo "$(as "$2" -c "SELECT policy_ok FROM trovella.isolation_status WHERE table_name = '$1'::regclass")" \
		"$(c -c "SELECT count(*) || ' ' || string_agg(DISTINCT result, ' ') FROM run_command_on_placements('$1', \$\$$per_query\$\$)")"
}
# tenant_reads TABLE [COLUMN]: tenant A's count as the application role,
# after rows of A and B (COLUMN too takes the tenant)
tenant_reads() {
	local more=${2:+, $2}
	as ops -c "INSERT INTO $1 (tenant_id, id$more) SELECT '$A'::uuid, g${more:+, '$A'::uuid} FROM generate_series(1, 3) g
		UNION ALL SELECT '$B'::uuid, g${more:+, '$B'::uuid} FROM generate_series(11, 12) g" | grep ERROR | sed "s/^/# $1 rows: /" >&2
	as app -c "BEGIN" -c "SELECT trovella.with_tenant('$A')" -c "SELECT count(*) FROM $1" -c "COMMIT" | sed -n 2p
}

for r in owner ops; do
	# a distributed table without the tenant column gains it
	as $r -c "CREATE TABLE ev_$r (org uuid NOT NULL, id int NOT NULL, PRIMARY KEY (org, id))" \
		-c "SELECT create_distributed_table('ev_$r', 'org', shard_count := 4)" -c "GRANT SELECT ON ev_$r TO app" |
		grep ERROR | sed "s/^/# ev_$r: /"
	is "$(as $r -c "ALTER TABLE ev_$r ADD COLUMN tenant_id uuid NOT NULL")" "" \
		"$r, auto: ALTER TABLE ... ADD COLUMN tenant_id on a distributed table (was 42703)"
	is "$(isolated "ev_$r" $r)" "t 4 2" "... and the table and its 4 placements are isolated, the policies per query"
	is "$(isolated "ev_$r" ops)" "t 4 2" "... as the operations role sees it too"
	is "$(tenant_reads "ev_$r" org)" "3" "... and tenant A reads its 3 rows only"

	# ... but not one whose rows, all in its placements, would get no tenant
	# (the check before the statement reads the coordinator's table, empty)
	as $r -c "CREATE TABLE nt_$r (org uuid NOT NULL, id int NOT NULL, PRIMARY KEY (org, id))" \
		-c "SELECT create_distributed_table('nt_$r', 'org', shard_count := 4)" |
		grep ERROR | sed "s/^/# nt_$r: /"
	as ops -c "INSERT INTO nt_$r SELECT '$A'::uuid, g FROM generate_series(1, 5) g" | grep ERROR | sed "s/^/# nt_$r: /"
	is "$(as $r -c "ALTER TABLE nt_$r ADD COLUMN tenant_id uuid")" "ERROR 55000" \
		"$r, auto: ADD COLUMN tenant_id that leaves a distributed table's rows without a tenant is refused (55000)"
	is "$(as ops -c "SELECT count(*) FROM nt_$r" -c "SELECT count(*) FROM pg_attribute WHERE attrelid = 'nt_$r'::regclass AND attname = 'tenant_id'")" \
		"5
0" "... and the table keeps its 5 rows, without the column"
	is "$(as $r -c "ALTER TABLE nt_$r ADD COLUMN tenant_id uuid NOT NULL DEFAULT '$A'")$(isolated "nt_$r" $r)" "t 4 2" \
		"... which, added NOT NULL with a tenant as DEFAULT, isolates it"
	# row-level security enabled by the same statement must not hide the
	# rows from that question: the owner (bound) is refused, the
	# operations role sees them
	as $r -c "CREATE TABLE nt2_$r (org uuid NOT NULL, id int NOT NULL, PRIMARY KEY (org, id))" \
		-c "SELECT create_distributed_table('nt2_$r', 'org', shard_count := 4)" |
		grep ERROR | sed "s/^/# nt2_$r: /"
	as ops -c "INSERT INTO nt2_$r SELECT '$A'::uuid, g FROM generate_series(1, 5) g" | grep ERROR | sed "s/^/# nt2_$r: /"
	expect=55000
	[ $r = owner ] && expect=42501
	is "$(as $r -c "ALTER TABLE nt2_$r ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY, ADD COLUMN tenant_id uuid")" "ERROR $expect" \
		"$r, auto: ... nor when the statement also forces row-level security on the table ($expect)"
	is "$(as ops -c "SELECT count(*) FROM pg_attribute WHERE attrelid = 'nt2_$r'::regclass AND attname = 'tenant_id'")" "0" \
		"... and the column is not added"

	# a reference table and a Citus local table, whose coordinator placement
	# Citus alters by local execution, nested in the statement
	for kind in "rf create_reference_table 3" "lc citus_add_local_table_to_metadata 1"; do
		set -- $kind
		as $r -c "CREATE TABLE $1_$r (org uuid NOT NULL, id int NOT NULL, PRIMARY KEY (org, id))" \
			-c "SELECT $2('$1_$r')" | grep ERROR | sed "s/^/# $1_$r: /"
		is "$(as $r -c "ALTER TABLE $1_$r ADD COLUMN tenant_id uuid NOT NULL")" "" \
			"$r, auto: ADD COLUMN tenant_id on a table made with $2"
		is "$(isolated "$1_$r" $r)" "t $3 2" "... and it and its $3 placement(s) are isolated, the policies per query"
	done

	# a table made in a distributed schema
	is "$(as $r -c "CREATE TABLE s.t_$r (tenant_id uuid NOT NULL, id int NOT NULL)")" "" \
		"$r, auto: CREATE TABLE in a distributed schema (was 42501 for the owner)"
	as $r -c "GRANT SELECT ON s.t_$r TO app" >/dev/null
	is "$(c -c "SELECT partmethod FROM pg_dist_partition WHERE logicalrelid = 's.t_$r'::regclass")" "n" \
		"... and Citus distributed it (a single-shard table)"
	is "$(isolated "s.t_$r" $r)" "t 1 2" "... and it and its placement are isolated, the policies per query"
	is "$(tenant_reads "s.t_$r")" "3" "... and tenant A reads its 3 rows only"
done
done_testing
