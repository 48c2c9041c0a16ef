#!/usr/bin/env bash
# Logical replication of isolated tables, as the README's "Logical
# replication" says: a publisher and a subscriber of the test's own (sockets
# in a temporary directory only, stopped on every exit path).  The
# subscriber's table is isolated before the subscription is made, and each
# tenant reads only its own replicated rows there; the replication role
# bypasses row-level security (the initial copy reads every tenant's rows),
# and one that does not still receives every tenant's new rows, which is
# PostgreSQL's behaviour; a subscriber's table left without isolation is a
# problem for trovella.health.
set -u
. "$(dirname "$0")/lib.sh"
plan 9

own_servers pub sub
port_pub=$((20000 + RANDOM % 20000))
port_sub=$((port_pub + 1))
on() {  # on SERVER SQL...: a superuser's connection to SERVER's database postgres
	local port=$port_pub
	[ "$1" = sub ] && port=$port_sub
	shift
	psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -h "$dir" -p "$port" -U postgres -d postgres "$@" 2>&1 |
		sed -E 's/^psql:[^ ]* ERROR:  ([0-9A-Z]{5}).*/ERROR \1/; s/^ERROR:  ([0-9A-Z]{5}).*/ERROR \1/'
}
for server in pub sub; do
	as_server "$bindir/initdb" -D "$dir/$server" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
done
echo "wal_level = logical" >>"$dir/pub/postgresql.conf"
start "$dir/pub" $port_pub
start "$dir/sub" $port_sub

A=aaaaaaaa-0000-0000-0000-000000000000
B=bbbbbbbb-0000-0000-0000-000000000000
schema="CREATE EXTENSION trovella;
	CREATE ROLE app_owner; CREATE ROLE app;
	GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO app;
	GRANT CREATE ON SCHEMA public TO app_owner;
	SET ROLE app_owner;
	CREATE TABLE docs (id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL, body text);
	CREATE INDEX ON docs (tenant_id, id);
	SELECT trovella.enable_tenant_isolation('docs');
	GRANT SELECT, INSERT ON docs TO app"
on pub -c "$schema" >/dev/null
on sub -c "$schema" >/dev/null
write() {  # write TENANT BODY [TABLE]: as app, on the publisher
	on pub -c "SET ROLE app" -c "BEGIN" -c "SELECT trovella.with_tenant('$1')" \
		-c "INSERT INTO ${3:-docs} (body) VALUES ('$2')" -c "COMMIT" >/dev/null
}
write $A 'a1'
write $B 'b1'
# the publisher: the replication role bypasses row-level security (it
# reads every tenant's rows), as the README says to create it
on pub -c "CREATE ROLE repl LOGIN REPLICATION BYPASSRLS; GRANT SELECT ON docs TO repl;
	CREATE PUBLICATION docs_pub FOR TABLE docs" >/dev/null
# from 16 the apply worker writes as each table's owner unless run_as_owner:
# forced row-level security binds the owner (19 refuses to apply then)
as_sub_owner=""
[ "$(on sub -c "SHOW server_version_num")" -ge 160000 ] && as_sub_owner="WITH (run_as_owner = true)"
on sub -c "CREATE SUBSCRIPTION docs_sub CONNECTION 'host=$dir port=$port_pub dbname=postgres user=repl'
	PUBLICATION docs_pub $as_sub_owner" >/dev/null 2>&1
synced() {  # synced SERVER SQL EXPECTED: wait until SQL gives EXPECTED (10 s at most)
	local got
	for _ in $(seq 100); do
		got=$(on "$1" -c "$2")
		[ "$got" = "$3" ] && break
		sleep 0.1
	done
	echo "$got"
}
is "$(synced sub "SELECT count(*) FROM docs" 2)" 2 "the initial copy brings both tenants' rows"
write $A 'a2'
is "$(synced sub "SELECT count(*) FROM docs" 3)" 3 "a new row is replicated"
reads() {  # reads TENANT: what the tenant reads on the subscriber
	on sub -c "SET ROLE app" -c "BEGIN" -c "SELECT trovella.with_tenant('$1')" \
		-c "SELECT string_agg(body, ',' ORDER BY body) FROM docs" -c "COMMIT" | sed -n 2p
}
is "$(reads $A)|$(reads $B)" "a1,a2|b1" "on the subscriber each tenant reads its own rows only"
is "$(on sub -c "SET ROLE app" -c "SELECT count(*) FROM docs" | tail -n 1)" "ERROR 42501" \
	"a read without a context fails closed on the subscriber"

# a replication role that row-level security binds: PostgreSQL streams the
# changes it decodes without policies, so it receives every tenant's new
# rows all the same (here into a second table, without the initial copy,
# which its policies would stop)
on pub -c "SET ROLE app_owner" -c "CREATE TABLE notes (id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL, body text);
	CREATE INDEX ON notes (tenant_id, id);
	SELECT trovella.enable_tenant_isolation('notes');
	GRANT SELECT, INSERT ON notes TO app" >/dev/null
on pub -c "CREATE ROLE repl_bound LOGIN REPLICATION; GRANT SELECT ON notes TO repl_bound;
	CREATE PUBLICATION notes_pub FOR TABLE notes" >/dev/null
on sub -c "SET client_min_messages = error" -c "CREATE TABLE notes (id uuid PRIMARY KEY, tenant_id uuid NOT NULL, body text)" >/dev/null
on sub -c "CREATE SUBSCRIPTION notes_sub CONNECTION 'host=$dir port=$port_pub dbname=postgres user=repl_bound'
	PUBLICATION notes_pub WITH (copy_data = false)" >/dev/null 2>&1
sleep 1
write $A 'a3' notes
write $B 'b2' notes
is "$(synced sub "SELECT string_agg(body, ',' ORDER BY body) FROM notes" "a3,b2")" "a3,b2" \
	"a replication role without BYPASSRLS still receives every tenant's new rows"
# that subscriber table is not isolated: anyone granted SELECT reads every
# tenant's rows there; isolation_status and health say so
is "$(on sub -c "SELECT problems <> '{}' FROM trovella.isolation_status WHERE table_name = 'notes'::regclass")" "t" \
	"isolation_status lists the subscriber's table that is not isolated"
is "$(on sub -c "SELECT status FROM trovella.health WHERE check_name = 'isolation'")" "problem" \
	"and health's isolation check is a problem"
# the guard sees a subscription's tables when the subscription is made: in
# warn it names the one left without isolation, in error it refuses
on pub -c "CREATE PUBLICATION notes_pub3 FOR TABLE notes" >/dev/null
out=$(on sub -c "SET trovella.isolation_guard = warn" -c "CREATE SUBSCRIPTION notes_sub3
	CONNECTION 'host=$dir port=$port_pub dbname=postgres user=repl'
	PUBLICATION notes_pub3 WITH (create_slot = false, enabled = false)" 2>&1)
is "$(grep -c 'WARNING' <<<"$out")" "1" \
	"guard in warn: CREATE SUBSCRIPTION warns about the subscriber's table that is not isolated"
[ "$tap_failed" -eq 0 ] || printf '#   %s\n' "$out"
on sub -c "ALTER SUBSCRIPTION notes_sub3 SET (slot_name = NONE)" -c "DROP SUBSCRIPTION notes_sub3" >/dev/null
is "$(on sub -c "SET trovella.isolation_guard = error" -c "CREATE SUBSCRIPTION notes_sub3
	CONNECTION 'host=$dir port=$port_pub dbname=postgres user=repl'
	PUBLICATION notes_pub3 WITH (create_slot = false, enabled = false)" | tail -n 1)|$(on sub -c "SELECT count(*) FROM pg_subscription WHERE subname = 'notes_sub3'")" \
	"ERROR 55000|0" "guard in error: refused (55000), and no subscription made"
on sub -c "DROP SUBSCRIPTION docs_sub" -c "DROP SUBSCRIPTION notes_sub" >/dev/null
done_testing
