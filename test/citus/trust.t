#!/usr/bin/env bash
# Trust on Citus (issue 32), on a coordinator and two workers with the guard
# in error, run as the roles a managed service gives: the table owner and an
# operations role (BYPASSRLS, a member of the owner, as the README's backup
# role), never only postgres.
#   - nothing planted on a search_path runs in what trovella executes
#     (point 8: placement.c read and ran SQL through unqualified format()),
#   - a signed tenant-only value and a user-only one never combine into a
#     pair (point 6),
#   - the MAC covers the key id, and is lower-case hex; a bad key id is
#     malformed, never quoted; a nested CREATE POLICY of trovella's name
#     replaces nothing but Citus's own copy of its policy (point 9),
#   - a table named after a shard held on another node is judged by the
#     guard, and listed in isolation_status and health (point 3),
#   - a worker added after use_membership() checks membership (point 4),
#   - a reviewed table's broken placement is a problem in isolation_status
#     and health (point 7).
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
ok 0 "a coordinator and two workers start, each with the same cluster key"

A=aaaaaaaa-0000-0000-0000-000000000000
B=bbbbbbbb-0000-0000-0000-000000000000
U=11111111-0000-0000-0000-000000000000
c() { PGOPTIONS="-c client_min_messages=warning" citus_psql coord "$@"; }
as() { local r=$1; shift; PGOPTIONS="-c client_min_messages=warning" CITUS_USER=$r citus_psql coord "$@"; }
direct() { local n=$1 r=$2; shift 2; CITUS_USER=$r citus_psql "$n" "$@"; }
everywhere() {  # SQL: on the coordinator and, through it, on the workers
	c -c "$1" -c "SELECT result FROM run_command_on_workers(\$cmd\$$1\$cmd\$)" >/dev/null
}

setup=$(c -c "CREATE EXTENSION trovella" \
	-c "CREATE ROLE app LOGIN" -c "CREATE ROLE owner LOGIN" -c "CREATE ROLE mallory LOGIN" \
	-c "CREATE ROLE ops LOGIN BYPASSRLS IN ROLE pg_read_all_data, pg_write_all_data, pg_monitor, owner" \
	-c "GRANT CREATE ON SCHEMA public TO owner, mallory" 2>&1)
everywhere "GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid), trovella.with_user(uuid) TO app"
# as the README grants them to the owner
c -c "GRANT EXECUTE ON FUNCTION trovella.use_membership(regclass, name, name, name), trovella.stop_membership() TO owner" >/dev/null
is "$(echo "$setup" | grep -c ERROR)" "0" "the extension and the roles: app, owner, ops (BYPASSRLS, in owner), mallory"
[ -z "$(echo "$setup" | grep ERROR)" ] || echo "$setup" | sed 's/^/# /'

# isolated NAME: a table of the owner's, isolated, with rows of two tenants
isolated() {
	as owner -c "BEGIN" -c "CREATE TABLE $1 (tenant_id uuid NOT NULL, id int NOT NULL, PRIMARY KEY (tenant_id, id))" \
		-c "SELECT trovella.enable_tenant_isolation('$1')" -c "GRANT SELECT, INSERT ON $1 TO app" -c "COMMIT" |
		grep ERROR | sed "s/^/# $1: /"
	as ops -c "INSERT INTO $1 SELECT '$A'::uuid, g FROM generate_series(1, 3) g UNION ALL SELECT '$B'::uuid, g FROM generate_series(1, 2) g" |
		grep ERROR | sed "s/^/# $1 rows: /"
}

# 8. what trovella executes is qualified and planned under pg_catalog only:
# a format() planted by a role that may create in public (a better match for
# the arguments than pg_catalog's variadic one) never runs as the operator
as mallory -c "CREATE TABLE public.pwned (who name)" -c "GRANT INSERT ON public.pwned TO PUBLIC" \
	-c "BEGIN" -c "SET LOCAL citus.enable_ddl_propagation TO off" \
	-c "CREATE FUNCTION public.format(f text, a name, b text, c name, d name) RETURNS text LANGUAGE sql
		AS \$\$ INSERT INTO public.pwned VALUES (current_user); SELECT pg_catalog.format(f, a, b, c, d) \$\$" \
	-c "COMMIT" | grep ERROR | sed 's/^/# mallory: /'
isolated ref8
isolated loc8
is "$(as ops -c "SELECT create_reference_table('ref8')" -c "SELECT citus_add_local_table_to_metadata('loc8')")" "" \
	"the operations role makes isolated tables a reference table and a Citus local table (renamed by Citus into a placement)"
is "$(c -c "SELECT count(*) FROM public.pwned")" "0" \
	"... and the format() planted on its search_path did not run as it"
per_query='SELECT count(*) FROM pg_policy WHERE polrelid = '"'%s'"'::regclass AND pg_get_expr(polqual, polrelid) LIKE '"'%%SELECT trovella.current_tenant()%%'"
is "$(c -c "SELECT string_agg(DISTINCT result, ' ') FROM (SELECT result FROM run_command_on_placements('ref8', \$\$$per_query\$\$)
	UNION ALL SELECT result FROM run_command_on_placements('loc8', \$\$$per_query\$\$)) r")" "2" \
	"... and every placement, the coordinator's included, has both policies per query"
is "$(as app -c "BEGIN" -c "SELECT trovella.with_tenant('$A')" -c "SELECT count(*) FROM ref8" -c "COMMIT" | sed -n 2p)" "3" \
	"... and tenant A reads its own rows only"

# 6. a signed value is the whole context: a tenant-only value and a
# user-only one, each genuine, never combine on a worker
signed() {  # SQL that sets a context: the value the coordinator signed for it
	as app -c "BEGIN" -c "$1" -c "SELECT current_setting('trovella.signed_context')" -c "COMMIT" | sed -n 2p
}
VA=$(signed "SELECT trovella.with_tenant('$A')")
VU=$(signed "SELECT trovella.with_user('$U')")
VAU=$(signed "SELECT trovella.with_tenant('$A', '$U')")
case "$VA $VU" in v3:$A::*" v3::$U:"*) status=0 ;; *) status=1; echo "# $VA $VU" ;; esac
ok $status "the coordinator signs a tenant-only value and a user-only one (format v3)"
worker_tx() {  # NODE ROLE SQL VALUE...: SET LOCAL each value, then SQL
	local n=$1 r=$2 sql=$3 v
	shift 3
	local args=(-c "BEGIN")
	for v in "$@"; do args+=(-c "SET LOCAL trovella.signed_context TO '$v'"); done
	direct "$n" "$r" "${args[@]}" -c "$sql" -c "COMMIT" | grep -v '^SET$' | grep -v '^$' | head -n 1
}
is "$(worker_tx w1 app "SELECT trovella.current_tenant() || ' ' || trovella.current_user_id()" "$VA" "$VU")" "ERROR 42501" \
	"a tenant-only value, then a user-only one: refused (42501), no unchecked pair"
is "$(worker_tx w2 app "SELECT trovella.current_tenant() || ' ' || trovella.current_user_id()" "$VU" "$VA")" "ERROR 42501" \
	"... in the other order too"
is "$(worker_tx w1 app "SELECT trovella.current_tenant() || ' ' || trovella.current_user_id()" "$VA" "$VAU")" "$A $U" \
	"a tenant-only value, then the pair the coordinator checked (as Citus replays them): the pair"
is "$(worker_tx w1 app "SELECT trovella.current_tenant() || ' ' || trovella.current_user_id()" "$VAU" "$VA")" "ERROR 42501" \
	"... but the pair, then a value naming less: refused (42501)"

# 9. the key id is signed; hex only in lower case; a bad key id malformed
IFS=: read -r ver ten usr exp kid mac <<<"$VA"
other_kid=$(printf '%s' "$kid" | tr '0-9a-f' '1-9a-f0')
is "$(worker_tx w1 app "SELECT trovella.current_tenant()" "$ver:$ten:$usr:$exp:$other_kid:$mac")" "ERROR 42501" \
	"another key id in a signed value: no context (42501), the MAC covers it"
is "$(worker_tx w1 app "SELECT trovella.current_tenant()" "$ver:$ten:$usr:$exp:$kid:$(printf '%s' "$mac" | tr 'a-f' 'A-F')")" \
	"ERROR 22023" "an upper-case MAC: malformed (22023)"
is "$(worker_tx w1 app "SELECT trovella.current_tenant()" "$ver:$ten:$usr:$exp:<script>alert(1):$mac")" \
	"ERROR 22023" "a key id that is not lower-case hex: malformed (22023)"
out=$(PGOPTIONS="-c client_min_messages=warning" psql -X -q -At -v VERBOSITY=verbose -h 127.0.0.1 -p "$(citus_port w1)" -U app \
	-d postgres -c "BEGIN" -c "SET LOCAL trovella.signed_context TO '$ver:$B:$usr:$exp:XYZXYZXYZXYZXYZX:$mac'" \
	-c "SELECT trovella.current_tenant()" 2>&1)
is "$(echo "$out" | grep -c XYZ)" "0" "... and its bytes reach no message"
is "$(worker_tx w1 app "SELECT trovella.current_tenant()" "$VA")" "$A" "the value itself still verifies"

# 9. a nested CREATE POLICY of trovella's name replaces a policy only when it
# gives trovella's condition (Citus's copy); any other fails as on one server
isolated iso9
for p in trovella_tenant_isolation trovella_tenant_access; do
	is "$(as owner -c "DO \$\$BEGIN CREATE POLICY $p ON iso9 USING (true); END\$\$")" "ERROR 42710" \
		"owner: a nested CREATE POLICY $p USING (true) on a table that has it fails (42710), replacing nothing"
done
is "$(as ops -c "SELECT policy_ok || ' ' || problems::text FROM trovella.isolation_status WHERE table_name = 'iso9'::regclass")" \
	"true {}" "... and the table is still isolated"

# 7. a reviewed table's placements: a problem in isolation_status and health
isolated rev7
c -c "SELECT create_distributed_table('rev7', 'tenant_id', shard_count := 4)" | grep ERROR | sed 's/^/# rev7: /'
as owner -c "COMMENT ON TABLE rev7 IS 'trovella: reviewed: the tenant reads it'" >/dev/null
for r in owner ops; do
	is "$(as $r -c "SELECT policy_ok || ' ' || problems::text FROM trovella.isolation_status WHERE table_name = 'rev7'::regclass")" \
		"true {}" "$r: a reviewed, isolated, distributed table is isolated in isolation_status"
done

# 3. a table named like a shard of rev7 held on a worker is no placement
# here: the guard judges it, isolation_status and health list it
sid=$(c -c "SELECT shardid FROM pg_dist_shard WHERE logicalrelid = 'rev7'::regclass ORDER BY shardid LIMIT 1")
sid2=$(c -c "SELECT shardid FROM pg_dist_shard WHERE logicalrelid = 'rev7'::regclass ORDER BY shardid OFFSET 1 LIMIT 1")
is "$(as owner -c "CREATE TABLE rev7_$sid (tenant_id uuid NOT NULL, id int)")" "ERROR 55000" \
	"owner, guard in error: a table named after a shard held on a worker is refused like any other (55000)"
c -c "ALTER ROLE owner SET trovella.isolation_guard = 'auto'" >/dev/null
as owner -c "CREATE TABLE rev7_$sid2 (tenant_id uuid NOT NULL, id int)" | sed 's/^/# auto: /'
is "$(as ops -c "SELECT policy_ok FROM trovella.isolation_status WHERE table_name = 'rev7_$sid2'::regclass")" "t" \
	"owner, guard in auto: such a table is isolated, and listed in isolation_status"
c -c "ALTER ROLE owner RESET trovella.isolation_guard" >/dev/null
c -c "SET trovella.isolation_guard = off" -c "CREATE TABLE rev7_$sid (tenant_id uuid NOT NULL, id int)" \
	-c "ALTER TABLE rev7_$sid OWNER TO owner" >/dev/null
for r in owner ops; do
	is "$(as $r -c "SELECT policy_ok || ' ' || (problems <> '{}') FROM trovella.isolation_status WHERE table_name = 'rev7_$sid'::regclass")" \
		"false true" "$r: one made with the guard off is in isolation_status, with its problems"
done
is "$(as ops -c "SELECT status || ' ' || (detail LIKE 'tables with isolation problems: ' ||
	(SELECT count(*) FROM trovella.isolation_status WHERE problems <> '{}') || ';%') FROM trovella.health WHERE check_name = 'isolation'")" \
	"problem true" "... and health counts it"
c -c "SET citus.enable_manual_changes_to_shards = on" -c "DROP TABLE rev7_$sid, rev7_$sid2" | sed 's/^/# drop: /'
is "$(as ops -c "SELECT string_agg(table_name::text, ' ' ORDER BY table_name::text) FROM trovella.isolation_status WHERE table_name::text LIKE 'ref8%'")" \
	"ref8" "Citus's own placement on the coordinator is left out of isolation_status (checked as ref8's)"
# ... but not a table named like it with the shard id written otherwise
# (before 0.5.0, "ref8_0<id>" and "ref8_+<id>" passed for the placement:
# unjudged, unlisted, every tenant's rows readable)
rsid=$(c -c "SELECT shardid FROM pg_dist_shard WHERE logicalrelid = 'ref8'::regclass")
for name in "ref8_0$rsid" "ref8_+$rsid"; do
	is "$(as owner -c "CREATE TABLE \"$name\" (tenant_id uuid NOT NULL, id int)")" "ERROR 55000" \
		"owner, guard in error: a table named $name is refused like any other (55000)"
done
c -c "SET trovella.isolation_guard = off" -c "CREATE TABLE \"ref8_0$rsid\" (tenant_id uuid NOT NULL, id int)" >/dev/null
is "$(as ops -c "SELECT policy_ok FROM trovella.isolation_status WHERE table_name = '\"ref8_0$rsid\"'::regclass")" "f" \
	"... and one made with the guard off is listed in isolation_status"
c -c "DROP TABLE \"ref8_0$rsid\"" | sed 's/^/# drop: /'

W1=$(citus_port w1)
shard=$(c -c "SELECT shard_name('rev7'::regclass, shardid) FROM citus_shards WHERE table_name = 'rev7'::regclass
	AND nodeport = $W1 ORDER BY shardid LIMIT 1")
direct w1 postgres -c "ALTER TABLE $shard DISABLE ROW LEVEL SECURITY" >/dev/null
for r in owner ops; do
	got=$(as $r -c "SELECT policy_ok || ' ' || problems::text FROM trovella.isolation_status WHERE table_name = 'rev7'::regclass")
	case "$got" in "false "*"on 127.0.0.1:$W1: RLS disabled"*) status=0 ;; *) status=1; echo "# $got" ;; esac
	ok $status "$r: its placement with RLS disabled on a worker is in problems, naming the node"
done
is "$(as ops -c "SELECT status FROM trovella.health WHERE check_name = 'isolation'")" "problem" \
	"... and health's isolation check is a problem"

# 4. a worker added after use_membership() checks membership as the others
V=22222222-0000-0000-0000-000000000000
as owner -c "BEGIN" \
	-c "CREATE TABLE members (tenant_id uuid NOT NULL, user_id uuid NOT NULL, role text, PRIMARY KEY (tenant_id, user_id))" \
	-c "COMMENT ON TABLE members IS 'trovella: reviewed: the memberships themselves'" -c "COMMIT" \
	-c "SELECT create_reference_table('members')" -c "INSERT INTO members VALUES ('$A', '$U', 'admin')" |
	grep ERROR | sed 's/^/# members: /'
c -c "SELECT create_reference_table('trovella.membership')" | grep ERROR | sed 's/^/# membership: /'
# (point 2) the owner registers its table: the marker and the registration,
# both reference tables, written by one user
is "$(as owner -c "SELECT trovella.use_membership('members', 'tenant_id', 'user_id', 'role')")" "" \
	"the owner registers its membership table on a cluster (use_membership, no 25001)"
# (point 9) the README's comparison of the copies of the membership table
copies() {
	as ops -c "SELECT result AS copy, array_agg(nodeport) AS nodes
		FROM run_command_on_placements('members',
		    \$\$SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM %s t\$\$)
		GROUP BY result" | wc -l
}
is "$(copies)" "1" "the README's comparison of the membership table's copies: one copy"
mshard=$(direct w1 postgres -c "SELECT shard_name('members'::regclass, shardid) FROM pg_dist_shard WHERE logicalrelid = 'members'::regclass")
direct w1 postgres -c "SET citus.enable_manual_changes_to_shards = on" -c "INSERT INTO $mshard VALUES ('$B', '$U', 'admin')" >/dev/null
is "$(copies)" "2" "... and two once a worker's copy was written alone"
direct w1 postgres -c "SET citus.enable_manual_changes_to_shards = on" -c "DELETE FROM $mshard WHERE tenant_id = '$B'" >/dev/null
if citus_add_worker w3; then status=0; else status=1; fi
ok $status "a third worker is added with citus_add_node() after use_membership()"
c -c "SELECT replicate_reference_tables('block_writes')" | grep ERROR | sed 's/^/# replicate: /'
direct w3 postgres -c "GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO app" >/dev/null
is "$(direct w3 app -c "BEGIN" -c "SELECT trovella.with_tenant('$A', '$U')" -c "SELECT trovella.current_member_role()" \
	-c "COMMIT" | sed -n 2p)" "admin" "on the new worker, a member opens the tenant and current_member_role() works"
is "$(direct w3 app -c "BEGIN" -c "SELECT trovella.with_tenant('$A', '$V')")" "ERROR 42501" \
	"... and a non-member is refused there (42501)"
is "$(direct w3 postgres -c "SELECT tbl::oid <> 'members'::regclass::oid FROM trovella.membership")" "t" \
	"(its copy of the registration holds another node's OID, as Citus copied it)"
direct w3 postgres -c "SELECT conrelid::regclass || ' ' || conname FROM pg_constraint WHERE conname LIKE 'trovella_membership%'" |
	sed 's/^/# w3 marker: /'
is "$(as ops -c "SELECT status || ' ' || detail FROM trovella.health WHERE check_name = 'cluster_nodes'")" \
	"ok 3 workers: each has a usable cluster key and resolves the membership registration" \
	"health asks every worker, the new one included: ok"
chmod 644 "$citus_dir/w3.key"
got=$(as ops -c "SELECT status || ' ' || detail FROM trovella.health WHERE check_name = 'cluster_nodes'")
case "$got" in "problem 127.0.0.1:$(citus_port w3): the cluster key file must"*) status=0 ;; *) status=1; echo "# $got" ;; esac
ok $status "... and names the worker whose key it cannot use"
chmod 600 "$citus_dir/w3.key"
is "$(c -c "SELECT citus_remove_node('127.0.0.1', $(citus_port w3))" | grep -c ERROR)" "0" "the added worker is removed again"
is "$(as app -c "BEGIN" -c "SELECT trovella.with_tenant('$A', '$U')" -c "SELECT count(*) FROM ref8" -c "COMMIT" | sed -n 2p)" "3" \
	"... and the cluster works on, membership checked"
is "$(as owner -c "SELECT trovella.stop_membership()")" "t" "the owner stops membership on a cluster (no 25001)"
done_testing
