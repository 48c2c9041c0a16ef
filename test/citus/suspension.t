#!/usr/bin/env bash
# Suspend and resume on Citus (issue 35, point 1), a coordinator and two
# workers: suspend_tenant refused (55000) until trovella.suspended_tenant is
# a reference table; then a suspended tenant is refused (57000, the reason)
# on the coordinator (with_tenant, a bound token's authenticate) and by a
# with_tenant made straight on either worker; another tenant opens
# everywhere; a transaction that had the tenant before the suspension goes
# on across the workers to COMMIT; a value the coordinator signed before
# the suspension, replayed in a new transaction, is refused on a worker and
# on the coordinator; resume_tenant lets it in again on every node.  As
# the operations role granted the functions, and the application role.
set -u
here=$(dirname "$0")
. "$here/../tap/lib.sh"
CITUS_KEY=1
. "$here/cluster.sh"
plan 16

if ! citus_start "trovella.isolation_guard = 'error'"; then
	ok 1 "the cluster starts"
	exit 1
fi
ok 0 "a coordinator and two workers start, each with the same cluster key"

A=aaaaaaaa-0000-0000-0000-000000000035
B=bbbbbbbb-0000-0000-0000-000000000035
U=11111111-0000-0000-0000-000000000035
c() { PGOPTIONS="-c client_min_messages=warning" citus_psql coord "$@"; }
as() { local r=$1; shift; PGOPTIONS="-c client_min_messages=warning" CITUS_USER=$r citus_psql coord "$@"; }
direct() { local n=$1 r=$2; shift 2; CITUS_USER=$r citus_psql "$n" "$@"; }
everywhere() {  # SQL: on the coordinator and, through it, on the workers
	c -c "$1" -c "SELECT result FROM run_command_on_workers(\$cmd\$$1\$cmd\$)" >/dev/null
}

setup=$(c -c "CREATE EXTENSION trovella" -c "CREATE ROLE app LOGIN" -c "CREATE ROLE ops LOGIN" \
	-c "SET trovella.isolation_guard = off" \
	-c "CREATE TABLE docs (tenant_id uuid NOT NULL, id int NOT NULL, PRIMARY KEY (tenant_id, id))" \
	-c "SELECT trovella.enable_tenant_isolation('docs')" \
	-c "SELECT create_distributed_table('docs', 'tenant_id', shard_count := 4)" \
	-c "INSERT INTO docs SELECT '$A'::uuid, g FROM generate_series(1, 3) g UNION ALL SELECT '$B'::uuid, g FROM generate_series(1, 2) g" \
	-c "GRANT SELECT, INSERT ON docs TO app" \
	-c "CREATE TABLE members (tenant_id uuid NOT NULL, user_id uuid NOT NULL, PRIMARY KEY (tenant_id, user_id))" \
	-c "SELECT create_reference_table('members')" -c "INSERT INTO members VALUES ('$A', '$U')" \
	-c "SELECT create_reference_table('trovella.membership')" \
	-c "SELECT trovella.use_membership('members', 'tenant_id', 'user_id')" \
	-c "GRANT EXECUTE ON FUNCTION trovella.suspend_tenant(uuid, text), trovella.resume_tenant(uuid) TO ops" 2>&1)
# grants on trovella's functions are per node (Citus does not propagate them)
everywhere "GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid), trovella.with_user(uuid), trovella.authenticate(text),
	trovella.pat_create(text, timestamptz, text[], uuid) TO app"
is "$(echo "$setup" | grep -c ERROR)" "0" "a distributed table, a reference membership table, the roles app and ops"
[ -z "$(echo "$setup" | grep ERROR)" ] || echo "$setup" | sed 's/^/# /'
bound=$(as app -c "BEGIN" -c "SELECT trovella.with_tenant('$A', '$U')" \
	-c "SELECT token FROM trovella.pat_create('bound', now() + interval '1 day', '{}', '$A')" -c "COMMIT" | sed -n 2p)

is "$(as ops -c "SELECT trovella.suspend_tenant('$A', 'Unpaid invoices.')")" "ERROR 55000" \
	"suspend_tenant while trovella.suspended_tenant is not a reference table: refused, the workers would not see it (55000)"
# made a reference table while a session of the application keeps what it
# resolved before (the table itself, not yet Citus's copy): Citus's
# invalidation makes it read the copy, which the suspension is written to
COORD_PORT=$(citus_port coord)
out=$(CITUS_USER=app citus_psql coord -v ON_ERROR_STOP=0 -f - <<SQL
BEGIN;
SELECT trovella.with_tenant('$B');
COMMIT;
\! psql -X -q -h 127.0.0.1 -p $COORD_PORT -U postgres -d postgres -c "SELECT create_reference_table('trovella.suspended_tenant')" >/dev/null 2>&1
\! psql -X -q -At -h 127.0.0.1 -p $COORD_PORT -U ops -d postgres -c "SELECT trovella.suspend_tenant('$A', 'Unpaid invoices.')"
BEGIN;
SELECT trovella.with_tenant('$A');
ROLLBACK;
SQL
)
is "$(printf '%s\n' "$out" | grep -v '^$' | tr '\n' ' ')" "t ERROR 57000 " \
	"with it a reference table, suspended; with_tenant on the coordinator is refused (57000), also in a session that read the table before"
is "$(direct w1 app -c "BEGIN" -c "SELECT trovella.with_tenant('$A')")" "ERROR 57000" "... and straight on a worker"
is "$(direct w2 app -v VERBOSITY=default -c "BEGIN" -c "SELECT trovella.with_tenant('$A', '$U')" 2>&1 | grep -o 'DETAIL:.*')" \
	"DETAIL:  Unpaid invoices." "... on the other worker too, the reason as DETAIL"
# (the token table stays on the coordinator: token_writes.t)
is "$(as app -c "BEGIN" -c "SELECT count(*) FROM trovella.authenticate('$bound')")" "ERROR 57000" \
	"a token bound to it is refused (57000)"
is "$(direct w2 app -c "BEGIN" -c "SELECT trovella.with_tenant('$B')" -c "SELECT trovella.current_tenant()" -c "COMMIT" | sed -n 2p)" \
	"$B" "another tenant opens on a worker"
is "$(as app -c "BEGIN" -c "SELECT trovella.with_tenant('$B')" -c "SELECT count(*) FROM docs" -c "COMMIT" | sed -n 2p)" "2" \
	"... and on the coordinator, its shards read on the workers"

# a value the coordinator signed for tenant B, before its suspension (the
# application role reads it, as whoever reads the statements Citus sends)
VB=$(as app -c "BEGIN" -c "SELECT trovella.with_tenant('$B')" -c "SELECT current_setting('trovella.signed_context')" \
	-c "COMMIT" | sed -n 2p)

# open before the suspension: the transaction goes on across the workers
out=$(CITUS_USER=app citus_psql coord -v ON_ERROR_STOP=0 -f - <<SQL
BEGIN;
SELECT trovella.with_tenant('$B');
SELECT count(*) FROM docs;
\! psql -X -q -h 127.0.0.1 -p $COORD_PORT -U ops -d postgres -c "SELECT trovella.suspend_tenant('$B', 'Abuse report.')" >/dev/null
SELECT count(*) FROM docs;
INSERT INTO docs VALUES ('$B', 3);
COMMIT;
SQL
)
is "$(printf '%s\n' "$out" | grep -v '^$' | tr '\n' ' ')" "2 2 " \
	"a transaction that had the tenant before the suspension reads and writes its shards and commits"
is "$(direct w1 app -c "BEGIN" -c "SELECT trovella.with_tenant('$B')")" "ERROR 57000" "... and the next one is refused on a worker"
# replayed in a new transaction, the value signed before the suspension is
# refused too, on a worker and on the coordinator: it is checked again
replay() {
	direct "$1" app -c "BEGIN" -c "SET LOCAL trovella.signed_context TO '$VB'" -c "SELECT trovella.current_tenant()" \
		-c "COMMIT" | grep -v '^$' | head -n 1
}
is "$(replay w1)" "ERROR 57000" "a value signed before the suspension, replayed on a worker in a new transaction: refused (57000)"
is "$(replay coord)" "ERROR 57000" "... and on the coordinator"

is "$(as ops -c "SELECT trovella.resume_tenant('$A')" -c "SELECT trovella.resume_tenant('$B')" | tr '\n' ' ')" "t t " "resumed"
is "$(as app -c "BEGIN" -c "SELECT count(*) FROM trovella.authenticate('$bound')" -c "SELECT count(*) FROM docs" \
	-c "COMMIT" | sed -n 2p)" "3" "the bound token opens the tenant again, its shards read on the workers"
is "$(direct w2 app -c "BEGIN" -c "SELECT trovella.with_tenant('$A')" -c "SELECT trovella.current_tenant()" -c "COMMIT" | sed -n 2p)" \
	"$A" "... and with_tenant on a worker"

done_testing
