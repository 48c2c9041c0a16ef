#!/usr/bin/env bash
# trovella on a Citus cluster (a coordinator and two workers, see cluster.sh):
# distribution in either order under isolation_guard = 'error', every shard
# placement restrictive and evaluated per query, isolation_status checking
# placements, tenant reads and writes as the application role, the signed
# context refused when forged, tampered, replayed by another role or into
# another database, or expired, and the token table as a reference table
# (0.4.0's layout, still served; 0.5.0 keeps it on the coordinator: token_writes.t).
set -u
here=$(dirname "$0")
. "$here/../tap/lib.sh"
CITUS_KEY=1
. "$here/cluster.sh"
plan 83

if ! citus_start "trovella.isolation_guard = 'error'"; then
	ok 1 "the cluster starts"
	exit 1
fi
ok 0 "a coordinator and two workers start, each with the same cluster key"

A=aaaaaaaa-0000-0000-0000-000000000000
B=bbbbbbbb-0000-0000-0000-000000000000
U=11111111-0000-0000-0000-000000000000
W1=$(citus_port w1)
W2=$(citus_port w2)

c() { citus_psql coord "$@"; }
app() { CITUS_USER=app citus_psql coord "$@"; }
# on a worker, directly: NODE ROLE [psql args]
direct() { local n=$1 r=$2; shift 2; CITUS_USER=$r citus_psql "$n" "$@"; }

setup=$(c -c "CREATE EXTENSION trovella" -c "CREATE ROLE app LOGIN" -c "CREATE ROLE reporting LOGIN" \
	-c "GRANT USAGE ON SCHEMA trovella TO app, reporting" -c "GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid),
		trovella.pat_create(text, timestamptz, text[]), trovella.pat_list(), trovella.pat_revoke(uuid),
		trovella.pat_verify(text), trovella.authenticate(text) TO app" \
	-c "SET trovella.isolation_guard = off" \
	-c "CREATE TABLE docs (tenant_id uuid NOT NULL, id uuid NOT NULL DEFAULT trovella.ulid_uuid(), body text,
		PRIMARY KEY (tenant_id, id))" \
	-c "CREATE TABLE notes (tenant_id uuid NOT NULL, id bigint NOT NULL, body text, PRIMARY KEY (tenant_id, id))" \
	-c "GRANT SELECT, INSERT, UPDATE, DELETE ON docs, notes TO app" -c "GRANT SELECT ON docs TO reporting" 2>&1)
# grants on trovella's functions are per node (Citus does not propagate them)
setup="$setup
$(c -c "SELECT result FROM run_command_on_workers(\$\$GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO app\$\$)")"
is "$(echo "$setup" | grep -c ERROR)" "0" "the extension, two roles and two tables are created on the coordinator"
[ -z "$(echo "$setup" | grep ERROR)" ] || echo "$setup" | sed 's/^/# /'

# 1. distribution in either order, with the guard set to error on every node
is "$(c -c "SELECT trovella.enable_tenant_isolation('docs');
	SELECT create_distributed_table('docs', 'tenant_id', shard_count := 4)" | tr '\n' ' ')" "  " \
	"enable_tenant_isolation, then create_distributed_table, under isolation_guard = error"
is "$(c -c "SELECT create_distributed_table('notes', 'tenant_id', shard_count := 4);
	SELECT trovella.enable_tenant_isolation('notes')" | tr '\n' ' ')" "  " \
	"create_distributed_table, then enable_tenant_isolation, under isolation_guard = error"
is "$(c -c "SHOW trovella.isolation_guard")" "error" "the guard is error on the coordinator"
is "$(direct w1 postgres -c "SHOW trovella.isolation_guard")" "error" "... and on the workers"

# 2. every placement as trovella creates a table on one server
placements() {  # TABLE: one line per placement: RLS flags, then each policy
	c -c "SELECT result FROM run_command_on_placements('$1', \$\$
		SELECT c.relrowsecurity || ' ' || c.relforcerowsecurity || ' ' ||
		       (SELECT string_agg(p.polname || ' ' || CASE WHEN p.polpermissive THEN 'permissive' ELSE 'restrictive' END
		                          || ' ' || pg_get_expr(p.polqual, p.polrelid) || ' ' || pg_get_expr(p.polwithcheck, p.polrelid),
		                          ' | ' ORDER BY p.polname)
		        FROM pg_policy p WHERE p.polrelid = c.oid)
		FROM pg_class c WHERE c.oid = '%s'::regclass\$\$) ORDER BY shardid"
}
expected="true true trovella_tenant_access permissive (tenant_id = ( SELECT trovella.current_tenant() AS current_tenant)) (tenant_id = ( SELECT trovella.current_tenant() AS current_tenant)) | trovella_tenant_isolation restrictive (tenant_id = ( SELECT trovella.current_tenant() AS current_tenant)) (tenant_id = ( SELECT trovella.current_tenant() AS current_tenant))"
for t in docs notes; do
	got=$(placements $t)
	is "$(echo "$got" | wc -l) $(echo "$got" | sort -u)" "4 $expected" \
		"$t: each of its 4 placements has RLS enabled and forced, the isolation policy restrictive, both per query"
done
is "$(c -c "SELECT count(DISTINCT nodeport) FROM citus_shards WHERE table_name = 'docs'::regclass")" "2" \
	"the placements are on both workers"
is "$(c -c "SELECT pg_get_expr(polqual, polrelid) FROM pg_policy WHERE polrelid = 'docs'::regclass ORDER BY polname")" \
	"$(printf '(tenant_id = trovella.current_tenant())\n(tenant_id = trovella.current_tenant())')" \
	"the coordinator's table has the form Citus accepts (no subquery)"
is "$(c -c "SELECT table_name || ' ' || policy_ok || ' ' || problems::text FROM trovella.isolation_status ORDER BY 1")" \
	"$(printf 'docs true {}\nnotes true {}\ntrovella.audit_history true {}')" \
	"isolation_status: both tables isolated, on every placement (and trovella's audit history, judged like any table)"

# 3. a placement changed behind the coordinator's back is reported, and repaired
shard=$(c -c "SELECT shard_name('docs'::regclass, shardid) || ' ' || nodeport FROM citus_shards
	WHERE table_name = 'docs'::regclass AND nodeport = $W1 ORDER BY shardid LIMIT 1")
shard_port=${shard#* }
shard=${shard% *}
direct w1 postgres -c "DROP POLICY trovella_tenant_isolation ON $shard;
	CREATE POLICY trovella_tenant_isolation ON $shard USING (tenant_id = (SELECT trovella.current_tenant()));
	CREATE POLICY anyone ON $shard USING (true)" >/dev/null
problems=$(c -c "SELECT problems::text FROM trovella.isolation_status WHERE table_name = 'docs'::regclass")
case "$problems" in
	*"on 127.0.0.1:$shard_port: policy trovella_tenant_isolation is permissive, not restrictive"*) status=0 ;;
	*) status=1; echo "# $problems" ;;
esac
ok $status "isolation_status names the placement whose isolation policy became permissive"
is "$(c -c "SELECT policy_ok FROM trovella.isolation_status WHERE table_name = 'docs'::regclass")" "f" \
	"... and its policy_ok is false: one truth for a CI check"
c -c "SELECT trovella.enable_tenant_isolation('docs')" >/dev/null
is "$(c -c "SELECT problems::text FROM trovella.isolation_status WHERE table_name = 'docs'::regclass")" "{}" \
	"enable_tenant_isolation again puts it back"
direct w1 postgres -c "DROP POLICY anyone ON $shard" >/dev/null

# 4. the guard judges the coordinator's table, never the shards
c -c "ALTER SYSTEM SET trovella.isolation_guard = 'warn'" -c "SELECT pg_reload_conf()" >/dev/null
for n in w1 w2; do
	direct $n postgres -c "ALTER SYSTEM SET trovella.isolation_guard = 'warn'" -c "SELECT pg_reload_conf()" >/dev/null
done
sleep 0.5
out=$(c -v VERBOSITY=default -c "CREATE TABLE loose (tenant_id uuid NOT NULL, id int, PRIMARY KEY (tenant_id, id))" \
	-c "SELECT create_distributed_table('loose', 'tenant_id', shard_count := 4)" 2>&1)
is "$(echo "$out" | grep -c 'is not tenant-isolated')" "1" "in warn, the coordinator warns once for a table left unisolated"
is "$(cat "$citus_dir/w1.log" "$citus_dir/w2.log" | grep -c 'not tenant-isolated')" "0" \
	"... and the workers' logs stay quiet about its shards"
is "$(c -c "SELECT problems::text FROM trovella.isolation_status WHERE table_name = 'loose'::regclass" |
	grep -c 'shard .* on 127.0.0.1')" "1" "isolation_status reports the unisolated table's placements"
c -c "DROP TABLE loose" >/dev/null

# 5. the application role: reads, writes and refusals through the coordinator
app -c "BEGIN" -c "SELECT trovella.with_tenant('$A')" \
	-c "INSERT INTO docs (body) VALUES ('a1'), ('a2'), ('a3')" -c "COMMIT" >/dev/null
app -c "BEGIN" -c "SELECT trovella.with_tenant('$B')" \
	-c "INSERT INTO docs (body) VALUES ('b1'), ('b2')" -c "COMMIT" >/dev/null
is "$(c -c "SELECT tenant_id || ' ' || count(*) FROM docs GROUP BY tenant_id ORDER BY tenant_id")" "$(printf '%s 3\n%s 2' $A $B)" \
	"inserts without tenant_id get the tenant of the context"
app -c "BEGIN" -c "SELECT trovella.with_tenant('$B')" -c "INSERT INTO notes (id, body) VALUES (1, 'n')" -c "COMMIT" >/dev/null
is "$(c -c "SELECT tenant_id FROM notes")" "$B" \
	"... also on the table isolated after it was distributed (the default is the coordinator's)"
in_tenant() {  # TENANT SQL
	app -c "BEGIN" -c "SELECT trovella.with_tenant('$1')" -c "$2" -c "COMMIT" | sed -n '2p'
}
is "$(in_tenant $A "SELECT count(*) FROM docs WHERE tenant_id = '$A'")" "3" "router query: the tenant's rows"
is "$(in_tenant $B "SELECT count(*) FROM docs WHERE tenant_id = '$A'")" "0" \
	"router query to another tenant's shard: nothing"
is "$(in_tenant $A "SELECT count(*) || ' ' || count(DISTINCT tenant_id) FROM docs")" "3 1" \
	"multi-shard query: the tenant's rows only"
is "$(in_tenant $B "SELECT string_agg(body, ',' ORDER BY body) FROM docs")" "b1,b2" "... for the other tenant too"
is "$(in_tenant $A "INSERT INTO docs (tenant_id, body) VALUES ('$B', 'forged')")" "ERROR 42501" \
	"an insert into another tenant is refused (42501)"
in_tenant $A "UPDATE docs SET body = 'x' WHERE tenant_id = '$B'" >/dev/null
is "$(c -c "SELECT count(*) FROM docs WHERE body = 'x'")" "0" "an update of another tenant's rows changes nothing"
is "$(in_tenant $A "UPDATE docs SET tenant_id = '$B' WHERE body = 'a1'")" "ERROR 0A000" \
	"moving a row to another tenant is refused (Citus: the distribution column cannot change)"
is "$(app -c "SELECT count(*) FROM docs")" "ERROR 42501" "without a context, the coordinator fails closed (42501)"
plan_text=$(app -c "BEGIN" -c "SELECT trovella.with_tenant('$A')" -c "EXPLAIN (COSTS OFF) SELECT count(*) FROM docs" -c "COMMIT")
case "$plan_text" in
	# the InitPlan's output is $0 up to 16, (InitPlan 1).col1 from 17 on
	*"InitPlan 1"*"Index Cond: (tenant_id = \$0)"* | *"InitPlan 1"*"Index Cond: (tenant_id = (InitPlan 1).col1)"*) status=0 ;;
	*) status=1; echo "$plan_text" | sed 's/^/# /' ;;
esac
ok $status "on the shards the tenant is evaluated once per query (an InitPlan), and drives the index"

# 6. straight to the workers: no context, and none that can be forged
for n in w1 w2; do
	s=$(direct $n postgres -c "SELECT shard_name('docs'::regclass, shardid) FROM pg_dist_shard s
		JOIN pg_dist_placement p USING (shardid) JOIN pg_dist_node d USING (groupid)
		WHERE logicalrelid = 'docs'::regclass AND d.nodeport = $(citus_port $n) ORDER BY shardid LIMIT 1")
	is "$(direct $n app -c "SELECT count(*) FROM $s")" "ERROR 42501" "$n: the app role reading a shard directly fails closed"
done
shard_w1=$(direct w1 postgres -c "SELECT shard_name('docs'::regclass, shardid) FROM pg_dist_shard s
	JOIN pg_dist_placement p USING (shardid) JOIN pg_dist_node d USING (groupid)
	WHERE logicalrelid = 'docs'::regclass AND d.nodeport = $W1 ORDER BY shardid LIMIT 1")

# a value the coordinator signed for the app role, as Citus sends it
signed_value() {  # ROLE TENANT: the value of the first SET LOCAL sent to a worker
	CITUS_USER=$1 citus_psql coord -v VERBOSITY=default -c "SET citus.log_remote_commands = on" -c "BEGIN" \
		-c "SELECT trovella.with_tenant('$2')" -c "SELECT count(*) FROM docs" -c "COMMIT" 2>&1 |
		sed -nE "s/.*SET LOCAL trovella.signed_context TO '([^']*)'.*/\1/p" | head -n 1
}
V=$(signed_value app $A)
case "$V" in v3:$A::*) status=0 ;; *) status=1; echo "# got: $V" ;; esac
ok $status "with_tenant on the coordinator sends Citus's workers a signed value"
worker_tx() {  # NODE ROLE VALUE SQL [APPLICATION_NAME]
	PGAPPNAME=${5:-psql} direct "$1" "$2" -c "BEGIN" -c "SET LOCAL trovella.signed_context TO '$3'" -c "$4" -c "COMMIT" |
		grep -v '^SET$' | head -n 1
}
is "$(worker_tx w1 app "$V" "SELECT trovella.current_tenant()")" "$A" \
	"the value verifies on a worker for the role and database it was signed for (the same role may replay it until it expires)"
tampered=${V/$A/$B}
# a value that does not verify gives no context (no error: Citus replays the
# value on connections it opens as another role too), so everything fails closed
is "$(worker_tx w1 app "$tampered" "SELECT trovella.current_tenant()")" "ERROR 42501" \
	"another tenant in a signed value: no context (42501)"
is "$(worker_tx w1 app "$tampered" "SELECT count(*) FROM $shard_w1" "citus_internal gpid=10000000001")" "ERROR 42501" \
	"... also behind a spoofed Citus application name: the shard stays closed (42501)"
mac=${V##*:}
flipped=${V%:*}:$(printf '%s' "$mac" | tr '0-9a-f' '1-9a-f0')
is "$(worker_tx w2 app "$flipped" "SELECT trovella.current_tenant()")" "ERROR 42501" "a changed signature: no context (42501)"
expiry=$(echo "$V" | cut -d: -f4)
is "$(worker_tx w2 app "${V/:$expiry:/:$((expiry + 3600000000)):}" "SELECT trovella.current_tenant()")" "ERROR 42501" \
	"a later expiry: no context (42501)"
is "$(worker_tx w1 reporting "$V" "SELECT trovella.current_tenant()")" "ERROR 42501" \
	"the app role's value replayed by another role: no context (42501)"
is "$(worker_tx w1 reporting "$V" "SELECT count(*) FROM $shard_w1")" "ERROR 42501" "... and no row"
is "$(worker_tx w1 postgres "$V" "SELECT trovella.current_tenant()")" "ERROR 42501" "... by a superuser: no context either"
direct w1 postgres -c "CREATE DATABASE elsewhere" >/dev/null
psql -X -q -h 127.0.0.1 -p "$W1" -U postgres -d elsewhere -c "CREATE EXTENSION trovella" >/dev/null 2>&1
is "$(psql -X -q -At -v VERBOSITY=sqlstate -h 127.0.0.1 -p "$W1" -U app -d elsewhere \
	-c "BEGIN" -c "SET LOCAL trovella.signed_context TO '$V'" -c "SELECT trovella.current_tenant()" 2>&1 |
	sed -nE 's/.*ERROR:  ([0-9A-Z]{5}).*/ERROR \1/p')" \
	"ERROR 42501" "... replayed into another database: no context (42501)"
is "$(worker_tx w1 app "v1:$A::99999999999999999:$(printf '0%.0s' $(seq 64))" "SELECT trovella.current_tenant()")" "ERROR 42501" \
	"a forged value without the key: no context (42501)"
is "$(worker_tx w1 app "garbage" "SELECT 1")" "ERROR 22023" "a malformed value: refused (22023)"
is "$(direct w1 app -c "SET trovella.signed_context TO '$V'")" "ERROR 42501" "a session-level SET: refused (42501)"
is "$(direct w1 app -c "BEGIN" -c "SELECT set_config('trovella.signed_context', '$V', true)" | grep -o 'ERROR .....')" "ERROR 42501" \
	"set_config(): refused (42501)"
is "$(PGOPTIONS="-c trovella.signed_context=$V" direct w1 app -c "SELECT 1" 2>&1 | grep -c 'FATAL\|ERROR')" "1" \
	"a client option: the connection is refused"
is "$(direct w1 app -c "SET LOCAL trovella.signed_context TO '$V'" 2>&1 | grep -o 'ERROR 25P01')" "ERROR 25P01" \
	"outside a transaction block: refused (25P01)"
is "$(worker_tx w1 app "$V" "SELECT trovella.with_tenant('$B')" | grep -o 'ERROR 25000')" "ERROR 25000" \
	"a signed context is sealed: with_tenant to another tenant in that transaction fails (25000)"
is "$(worker_tx w1 app "$V" "SELECT count(*) FROM $shard_w1 WHERE tenant_id <> '$A'")" "0" \
	"with the verified context, a shard shows only that tenant's rows"
# expiry
c -c "ALTER ROLE app SET trovella.signed_context_lifetime = 1" >/dev/null
short=$(signed_value app $A)
sleep 2
is "$(worker_tx w1 app "$short" "SELECT trovella.current_tenant()")" "ERROR 42501" \
	"an expired value: no context, the query fails closed (42501)"
# a long transaction renews its signature by calling with_tenant() again;
# the expired one fails a query with the reason, and a savepoint before it
# still works
session() {  # ROLE, psql args: one session that goes on after an error
	psql -X -q -At -v ON_ERROR_STOP=0 -v VERBOSITY=default -h 127.0.0.1 -p "$(citus_port coord)" \
		-U "$1" -d postgres "${@:2}" 2>&1
}
out=$(session app -c "BEGIN" -c "SELECT trovella.with_tenant('$A')" -c "SAVEPOINT s" -c "SELECT pg_sleep(1.5)" \
	-c "SELECT count(*) FROM docs" -c "ROLLBACK TO SAVEPOINT s" -c "SELECT trovella.with_tenant('$A')" \
	-c "SELECT 'after: ' || count(*) FROM docs" -c "COMMIT")
case "$out" in
	*"no tenant context"*"DETAIL:  The context the coordinator signed expired"*) status=0 ;;
	*) status=1; echo "$out" | sed 's/^/# /' ;;
esac
ok $status "past its lifetime, a new worker connection has no context, and the error says the signature expired"
is "$(echo "$out" | grep -c 'does not exist')" "0" "ROLLBACK TO SAVEPOINT after it works (no savepoint lost on the workers)"
is "$(echo "$out" | grep '^after: ')" "after: 3" \
	"with_tenant() again with the same tenant renews the signature: the transaction goes on"
c -c "ALTER ROLE app RESET trovella.signed_context_lifetime" >/dev/null
# log_min_error_statement logs a refused statement's own text; nothing else
# (no error, detail, hint or log line of trovella's) carries a value
leaks=$(cat "$citus_dir"/*.log | grep -E 'v[123]:' | grep -v ' STATEMENT:  ')
[ -z "$leaks" ] || echo "$leaks" | sed 's/^/# /'
is "$(echo -n "$leaks" | grep -c .)" "0" \
	"no message of any node carries a signed value (only refused statements' own text, logged by log_min_error_statement)"
is "$(grep -cE 'v[123]:' "$citus_dir/coord.log")" "0" "the coordinator logged none at all"

# 7. personal access tokens on a reference table
c -c "SELECT create_reference_table('trovella.personal_access_token')" >/dev/null
is "$(c -c "SELECT count(*) FROM pg_dist_placement JOIN pg_dist_shard USING (shardid)
	WHERE logicalrelid = 'trovella.personal_access_token'::regclass")" "3" \
	"the token table is a reference table with a copy on every node"
token=$(app -c "BEGIN" -c "SELECT trovella.with_tenant('$A', '$U')" \
	-c "SELECT token FROM trovella.pat_create('ci', now() + interval '1 day', '{repo:read}')" -c "COMMIT" | sed -n 2p)
case "$token" in trv_*) status=0 ;; *) status=1; echo "# got: $token" ;; esac
ok $status "pat_create on the coordinator"
is "$(app -c "SELECT user_id || ' ' || array_to_string(scopes, ',') FROM trovella.pat_verify('$token')")" "$U repo:read" \
	"pat_verify on the coordinator"
is "$(app -c "BEGIN" -c "SELECT user_id FROM trovella.authenticate('$token')" -c "SELECT trovella.current_user_id()" \
	-c "COMMIT" | sed -n 2p)" "$U" "authenticate sets the user"
copies() {
	c -c "SELECT count(DISTINCT result) || ' ' || count(*) FROM run_command_on_placements('trovella.personal_access_token',
		\$\$SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t.id), '')) FROM %s t\$\$)"
}
is "$(copies)" "1 3" "after create and uses, the three copies are identical (last_used_at too)"
is "$(app -c "BEGIN" -c "SELECT trovella.with_tenant('$A', '$U')" -c "SELECT name FROM trovella.pat_list()" \
	-c "COMMIT" | sed -n 2p)" "ci" "pat_list"
id=$(app -c "SELECT token_id FROM trovella.pat_verify('$token')")
is "$(app -c "BEGIN" -c "SELECT trovella.with_tenant('$A', '$U')" -c "SELECT trovella.pat_revoke('$id')" \
	-c "COMMIT" | sed -n 2p)" "t" "pat_revoke"
is "$(app -c "SELECT count(*) FROM trovella.pat_verify('$token')")" "0" "a revoked token no longer verifies"
is "$(copies)" "1 3" "after the revoke, the copies are still identical"
is "$(app -c "BEGIN" -c "SELECT * FROM trovella.authenticate('$token')")" "ERROR 28000" "authenticate of it fails (28000)"

# 8. membership on a reference table, checked on every node
V2=22222222-0000-0000-0000-000000000000
c -c "SET trovella.isolation_guard = off" \
	-c "CREATE TABLE members (tenant_id uuid NOT NULL, user_id uuid NOT NULL, role text,
		PRIMARY KEY (tenant_id, user_id))" \
	-c "SELECT create_reference_table('members')" -c "INSERT INTO members VALUES ('$A', '$U', 'admin')" >/dev/null
is "$(c -c "SELECT trovella.use_membership('members', 'tenant_id', 'user_id', 'role')")" "ERROR 55000" \
	"use_membership while trovella.membership is not a reference table: refused, the workers would not check (55000)"
c -c "SELECT create_reference_table('trovella.membership')" >/dev/null
is "$(c -c "SET trovella.isolation_guard = off" -c "SELECT trovella.use_membership('members', 'tenant_id', 'user_id', 'role')")" "" \
	"... and with it a reference table, the registration is made on every node"
is "$(app -c "BEGIN" -c "SELECT trovella.with_tenant('$A', '$U')" -c "SELECT count(*) FROM docs" -c "COMMIT" | sed -n 2p)" "3" \
	"a member of a reference membership table opens the tenant, and the workers follow"
is "$(app -c "BEGIN" -c "SELECT trovella.with_tenant('$A', '$V2')")" "ERROR 42501" "a non-member is refused (42501)"
# straight to a worker, with the grants the README gives for that
c -c "SELECT result FROM run_command_on_workers(\$\$GRANT EXECUTE ON FUNCTION trovella.with_user(uuid),
	trovella.authenticate(text) TO app\$\$)" >/dev/null
is "$(direct w1 app -c "BEGIN" -c "SELECT trovella.with_tenant('$A', '$V2')")" "ERROR 42501" \
	"on a worker, a non-member is refused too (42501)"
is "$(direct w2 app -c "BEGIN" -c "SELECT trovella.with_tenant('$A', '$U')" -c "SELECT trovella.current_member_role()" \
	-c "COMMIT" | sed -n 2p)" "admin" "on a worker, a member opens the tenant and current_member_role() works"
c -c "GRANT EXECUTE ON FUNCTION trovella.pat_create(text, timestamptz, text[], uuid) TO app" >/dev/null
bound=$(app -c "BEGIN" -c "SELECT trovella.with_tenant('$A', '$U')" \
	-c "SELECT token FROM trovella.pat_create('bound', now() + interval '1 day', '{}', '$A')" -c "COMMIT" | sed -n 2p)
is "$(direct w1 app -c "BEGIN" -c "SELECT count(*) FROM trovella.authenticate('$bound')" -c "SELECT trovella.current_tenant()" \
	-c "COMMIT" | sed -n 2p)" "$A" \
	"a token bound to the tenant authenticates on a worker while its user is a member"
c -c "DELETE FROM members WHERE user_id = '$U'" >/dev/null
is "$(direct w1 app -c "BEGIN" -c "SELECT count(*) FROM trovella.authenticate('$bound')")" "ERROR 42501" \
	"... and is refused there once the user left the tenant (42501)"
# replaced, then stopped, on the coordinator: every node follows
c -c "SET trovella.isolation_guard = off" \
	-c "CREATE TABLE members2 (org uuid NOT NULL, usr uuid NOT NULL, PRIMARY KEY (org, usr))" \
	-c "SELECT create_reference_table('members2')" -c "INSERT INTO members2 VALUES ('$A', '$V2')" \
	-c "SELECT trovella.use_membership('members2', 'org', 'usr')" >/dev/null
is "$(direct w2 app -c "BEGIN" -c "SELECT trovella.with_tenant('$A', '$V2')" -c "SELECT trovella.current_user_id()" \
	-c "COMMIT" | sed -n 2p)" "$V2" "a registration replaced on the coordinator is the workers' too"
c -c "SELECT trovella.stop_membership()" >/dev/null
is "$(direct w1 app -c "BEGIN" -c "SELECT trovella.current_member_role()")" "ERROR 42501" \
	"... and stopped: a worker has no registration either (no context: 42501 before 55000)"
is "$(direct w1 app -c "BEGIN" -c "SELECT trovella.with_tenant('$A', '$U')" -c "SELECT trovella.current_member_role()")" \
	"$(printf '\nERROR 55000')" "... stopped on every node: current_member_role() says none is registered (55000)"
c -c "SET trovella.isolation_guard = off" \
	-c "CREATE TABLE members_sharded (tenant_id uuid NOT NULL, user_id uuid NOT NULL, PRIMARY KEY (tenant_id, user_id))" \
	-c "SELECT create_distributed_table('members_sharded', 'tenant_id')" \
	-c "SELECT trovella.use_membership('members_sharded', 'tenant_id', 'user_id')" >/dev/null
is "$(app -c "BEGIN" -c "SELECT trovella.with_tenant('$A', '$U')")" "ERROR 55000" \
	"a sharded membership table is refused: it must be a reference table (55000)"
c -c "SELECT trovella.stop_membership()" >/dev/null

# a key file that anyone may read is no key: the coordinator does not sign
# (F0000), the workers verify nothing (55000); each backend reads it once
chmod 644 "$citus_dir"/*.key
is "$(app -c "BEGIN" -c "SELECT trovella.with_tenant('$A')")" "ERROR F0000" \
	"a key file readable by others: with_tenant on the coordinator fails (F0000)"
is "$(worker_tx w1 app "$V" "SELECT 1")" "ERROR 55000" "... and a worker cannot verify (55000)"
chmod 600 "$citus_dir"/*.key
is "$(in_tenant $A "SELECT count(*) FROM docs")" "3" "with the key private again, the cluster works"

# a worker with another key: no context there, and the error says so and
# names the node (new backends read the key file)
cp "$citus_dir/w1.key" "$citus_dir/w1.key.good"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$citus_dir/w1.key"
out=$(session app -c "BEGIN" -c "SELECT trovella.with_tenant('$A')" -c "SELECT count(*) FROM docs" -c "COMMIT")
case "$out" in
	*"no tenant context"*"is not the coordinator's"*"127.0.0.1:$W1"*) status=0 ;;
	*) status=1; echo "$out" | sed 's/^/# /' ;;
esac
ok $status "a worker whose key differs: the query fails closed (42501), saying the keys differ, on which node"
cp "$citus_dir/w1.key.good" "$citus_dir/w1.key"
is "$(in_tenant $A "SELECT count(*) FROM docs")" "3" "... and with the same key again, the cluster works"

# 9. per-tenant statistics: each node counts what it ran for the tenant
is "$(c -c "SELECT string_agg((result::bigint > 0)::text, ' ' ORDER BY nodeport) FROM run_command_on_workers(
	\$\$SELECT coalesce(sum(statements), 0) FROM trovella.tenant_stats WHERE tenant_id = '$A'\$\$)")" "true true" \
	"each worker counts statements for the tenant of the signed context"

# 10. all of it left the servers running
is "$(c -c "SELECT count(*) FROM citus_get_active_worker_nodes()")" "2" "both workers are still active"
done_testing
