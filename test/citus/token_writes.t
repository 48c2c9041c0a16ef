#!/usr/bin/env bash
# Reference tables and the token table in one transaction (issue 32, point
# 5), on a coordinator and two workers, with the guard in error and auto, as
# the application role and the table owner.  0.4.0 advised making the token
# table a reference table: Citus then lets one user only write the
# placements of reference tables on a node in a transaction, and trovella
# writes the token table as its owner, so a transaction that wrote an
# application's reference table and the token table failed with 25001, in
# either order.  Since 0.5.0 the tokens stay on the coordinator:
#   - a cluster set up as 0.4.0 advised is converted as the upgrade notes
#     say, before the update, and keeps its tokens and their pg_dump
#     registration,
#   - authenticate()'s touch, pat_create() and pat_revoke() in a
#     transaction that also writes a reference table commit, in both orders,
#   - a worker refuses to make or check a token (55000), and holds no token
#     hash.
set -u
here=$(dirname "$0")
. "$here/../tap/lib.sh"
CITUS_KEY=1
. "$here/cluster.sh"
plan 28

if ! citus_start "trovella.isolation_guard = 'error'"; then
	ok 1 "the cluster starts"
	exit 1
fi
ok 0 "a coordinator and two workers start"

A=aaaaaaaa-0000-0000-0000-000000000000
U=11111111-0000-0000-0000-000000000000
c() { PGOPTIONS="-c client_min_messages=warning" citus_psql coord "$@"; }
as() { local r=$1; shift; PGOPTIONS="-c client_min_messages=warning" CITUS_USER=$r citus_psql coord "$@"; }
direct() { local n=$1 r=$2; shift 2; CITUS_USER=$r citus_psql "$n" "$@"; }
funcs="trovella.with_tenant(uuid, uuid), trovella.pat_create(text, timestamptz, text[]), trovella.pat_revoke(uuid),
	trovella.pat_verify(text), trovella.authenticate(text)"

# a cluster as 0.4.0's README set it up: the token table a reference table
setup=$(c -c "CREATE EXTENSION trovella VERSION '0.4.0'" \
	-c "CREATE ROLE app LOGIN" -c "CREATE ROLE owner LOGIN" \
	-c "CREATE ROLE ops LOGIN BYPASSRLS IN ROLE pg_read_all_data, pg_write_all_data, owner" \
	-c "GRANT CREATE ON SCHEMA public TO owner" -c "GRANT EXECUTE ON FUNCTION $funcs TO app, owner" \
	-c "SELECT create_reference_table('trovella.personal_access_token')" 2>&1)
setup="$setup
$(c -c "SELECT result FROM run_command_on_workers(\$\$GRANT EXECUTE ON FUNCTION $funcs TO app\$\$)" | grep -v SUCCESS)"
is "$(echo "$setup" | grep -c ERROR)" "0" "trovella 0.4.0, its token table a reference table as 0.4.0 advised; roles app, owner, ops"
[ -z "$(echo "$setup" | grep ERROR)" ] || echo "$setup" | sed 's/^/# /'
old=$(as app -c "BEGIN" -c "SELECT trovella.with_tenant('$A', '$U')" \
	-c "SELECT token FROM trovella.pat_create('before', now() + interval '1 day', '{}')" -c "COMMIT" | sed -n 2p)

# the owner's reference table, which the application writes
as owner -c "BEGIN" -c "CREATE TABLE plans (id int PRIMARY KEY, n int NOT NULL)" \
	-c "COMMENT ON TABLE plans IS 'trovella: reviewed: every tenant reads the plans'" -c "COMMIT" \
	-c "SELECT create_reference_table('plans')" -c "INSERT INTO plans VALUES (1, 0)" \
	-c "GRANT SELECT, UPDATE ON plans TO app" | grep ERROR | sed 's/^/# plans: /'
is "$(as app -c "BEGIN" -c "SELECT trovella.with_tenant('$A', '$U')" -c "UPDATE plans SET n = n + 1" \
	-c "SELECT token FROM trovella.pat_create('x', now() + interval '1 day', '{}')" | grep ERROR)" "ERROR 25001" \
	"0.4.0's layout: a reference table, then pat_create, fails (25001)"

# the upgrade notes: the token table back on the coordinator, then the update
is "$(c -c "BEGIN" -c "ALTER EXTENSION trovella DROP TABLE trovella.personal_access_token" \
	-c "SELECT undistribute_table('trovella.personal_access_token')" \
	-c "ALTER EXTENSION trovella ADD TABLE trovella.personal_access_token" -c "COMMIT" \
	-c "ALTER EXTENSION trovella UPDATE TO '0.5.0'" | grep -c ERROR)" "0" \
	"the upgrade notes' conversion of the token table, then ALTER EXTENSION trovella UPDATE"
is "$(c -c "SELECT 'trovella.personal_access_token'::regclass = ANY (extconfig) FROM pg_extension WHERE extname = 'trovella'")" "t" \
	"... and pg_dump dumps its rows again (the update registers the new table)"
is "$(as app -c "SELECT count(*) FROM trovella.pat_verify('$old')")" "1" "... and a token made before still verifies"

n=0		# the committed updates of plans
touch_ok() {  # TOKEN ID: whether authenticate() wrote its last use
	c -c "SELECT last_used_at IS NOT NULL FROM trovella.personal_access_token WHERE id = '$1'"
}
for mode in error auto; do
	c -c "ALTER ROLE app SET trovella.isolation_guard = '$mode'" -c "ALTER ROLE owner SET trovella.isolation_guard = '$mode'" >/dev/null
	for order in ref token; do
		ref="UPDATE plans SET n = n + 1"
		create="SELECT count(*) FROM trovella.pat_create('t', now() + interval '1 day', '{}')"
		if [ $order = ref ]; then first=$ref second=$create; else first=$create second=$ref; fi
		is "$(as app -c "BEGIN" -c "SELECT trovella.with_tenant('$A', '$U')" -c "$first" -c "$second" -c "COMMIT" | grep -c ERROR)" \
			"0" "$mode, $order first: pat_create and a reference table's write commit (app)"
		is "$(as owner -c "BEGIN" -c "SELECT trovella.with_tenant('$A', '$U')" -c "$first" -c "$second" -c "COMMIT" | grep -c ERROR)" \
			"0" "... (owner)"
		n=$((n + 2))

		made=$(as app -c "BEGIN" -c "SELECT trovella.with_tenant('$A', '$U')" \
			-c "SELECT token_id || ' ' || token FROM trovella.pat_create('u', now() + interval '1 day', '{}')" -c "COMMIT" | sed -n 2p)
		id=${made% *} token=${made#* }
		auth="SELECT count(*) FROM trovella.authenticate('$token')"
		if [ $order = ref ]; then first=$ref second=$auth; else first=$auth second=$ref; fi
		as app -c "BEGIN" -c "$first" -c "$second" -c "COMMIT" | grep ERROR | sed 's/^/# authenticate: /'
		is "$(touch_ok "$id")" "t" "$mode, $order first: authenticate's first use writes last_used_at, and commits"
		n=$((n + 1))

		revoke="SELECT trovella.pat_revoke('$id')"
		if [ $order = ref ]; then first=$ref second=$revoke; else first=$revoke second=$ref; fi
		as app -c "BEGIN" -c "SELECT trovella.with_tenant('$A', '$U')" -c "$first" -c "$second" -c "COMMIT" |
			grep ERROR | sed 's/^/# revoke: /'
		is "$(as app -c "SELECT count(*) FROM trovella.pat_verify('$token')")" "0" \
			"$mode, $order first: pat_revoke commits, and the token no longer verifies"
		n=$((n + 1))
	done
done
c -c "ALTER ROLE app RESET trovella.isolation_guard" -c "ALTER ROLE owner RESET trovella.isolation_guard" >/dev/null
is "$(as ops -c "SELECT n FROM plans")" "$n" "every one of those transactions wrote the reference table ($n updates)"

# workers: no token, and no token hash
is "$(direct w1 app -c "BEGIN" -c "SELECT trovella.with_tenant('$A', '$U')" \
	-c "SELECT token FROM trovella.pat_create('w', now() + interval '1 day', '{}')" | grep ERROR)" "ERROR 55000" \
	"pat_create on a worker: refused (55000), the tokens are the coordinator's"
is "$(direct w2 app -c "BEGIN" -c "SELECT count(*) FROM trovella.authenticate('$old')")" "ERROR 55000" \
	"authenticate on a worker: refused (55000), not unknown"
is "$(direct w1 app -c "SELECT count(*) FROM trovella.pat_verify('$old')")" "ERROR 55000" "pat_verify on a worker: refused (55000)"
is "$(c -c "SELECT string_agg(result, ' ') FROM run_command_on_workers('SELECT count(*) FROM trovella.personal_access_token')")" \
	"0 0" "no worker holds a token (nor its hash)"
is "$(as app -c "SELECT count(*) FROM trovella.pat_verify('$old')")" "1" "the coordinator checks tokens as before"
done_testing
