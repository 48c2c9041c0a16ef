#!/usr/bin/env bash
# The README's create-then-isolate migration commits with the guard in
# error, as the table's owner (an unprivileged role) and as a superuser, for
# a table and for a partitioned one whose partitions the guard's proof reads
# in one run.  The proof reads trovella's per-query policies, which hold a
# sublink: on a server built with assertions (make test's cassert suite) it
# aborted the backend at COMMIT.
set -u
. "$(dirname "$0")/lib.sh"
plan 4

OWNER=regress_commit_owner
OWNER_PASSWORD=commit-$$-$RANDOM
S=regress_commit

q -c "DROP SCHEMA IF EXISTS $S CASCADE; DROP ROLE IF EXISTS $OWNER" >/dev/null
q -c "CREATE ROLE $OWNER LOGIN PASSWORD '$OWNER_PASSWORD';
      ALTER ROLE $OWNER SET trovella.isolation_guard = 'error';
      CREATE SCHEMA $S AUTHORIZATION $OWNER" >/dev/null
as_owner() { PGUSER=$OWNER PGPASSWORD=$OWNER_PASSWORD q -c "SET search_path = $S" "$@"; }

migration() {  # migration TABLE: the README's, then whether it is isolated
	printf '%s\n' "BEGIN;" \
		"CREATE TABLE $1 (id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL, total numeric);" \
		"CREATE INDEX ON $1 (tenant_id, id);" \
		"SELECT trovella.enable_tenant_isolation('$1') IS NULL;" \
		"COMMIT;" \
		"SELECT 'isolated ' || trovella.is_isolated('$1', 'tenant_id');"
}

is "$(as_owner -f <(migration payments) | tail -n 1)" "isolated true" \
	"the owner's migration commits with the guard in error, and the table is isolated"
is "$(as_owner -c "BEGIN" \
	-c "CREATE TABLE ledger (id uuid, tenant_id uuid NOT NULL, day date NOT NULL) PARTITION BY RANGE (day)" \
	-c "CREATE TABLE ledger_1 PARTITION OF ledger FOR VALUES FROM ('2026-01-01') TO ('2026-02-01')" \
	-c "CREATE TABLE ledger_2 PARTITION OF ledger FOR VALUES FROM ('2026-02-01') TO ('2026-03-01')" \
	-c "SELECT trovella.enable_tenant_isolation('ledger') IS NULL" -c "COMMIT" \
	-c "SELECT string_agg(c::text || ' ' || trovella.is_isolated(c, 'tenant_id'), ', ' ORDER BY c::text)
	    FROM unnest('{ledger,ledger_1,ledger_2}'::regclass[]) c" | tail -n 1)" \
	"ledger true, ledger_1 true, ledger_2 true" \
	"a partitioned table and its partitions, isolated in one transaction, commit"
is "$(q -c "SET trovella.isolation_guard = error" -c "SET search_path = $S" -f <(migration refunds) | tail -n 1)" \
	"isolated true" "a superuser's migration commits with the guard in error"
is "$(as_owner -c "SELECT count(*) FROM pg_tables WHERE schemaname = '$S'")" "5" \
	"the backend is alive and every table is there"

q -c "DROP SCHEMA $S CASCADE; DROP ROLE $OWNER" >/dev/null
done_testing
