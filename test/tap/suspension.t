#!/usr/bin/env bash
# Suspend and resume across connections (issue 35, point 1): a transaction
# that opened the tenant before the suspension finishes and commits; a
# REPEATABLE READ transaction whose snapshot predates the suspension is
# refused (the check reads the latest snapshot); four connections running
# the tenant's transactions in a loop are refused from the suspension's
# commit on, none before, every refusal 57000; the application role logged
# in cannot SET ROLE to the operations role; a READ COMMITTED statement that
# began before the suspension committed is refused when it asks after it;
# of two concurrent suspensions of one tenant, one says true, the other false.
set -u
. "$(dirname "$0")/lib.sh"
plan 11

T=cccccccc-0000-0000-0000-000000000035
APP=regress_susp_tap_app
OPS=regress_susp_tap_ops
APP_PASSWORD=susp-$$-$RANDOM

q -c "DROP TABLE IF EXISTS tap_susp; DROP ROLE IF EXISTS $APP; DROP ROLE IF EXISTS $OPS" >/dev/null
q -c "CREATE ROLE $APP LOGIN PASSWORD '$APP_PASSWORD';
	CREATE ROLE $OPS;
	GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO $APP;
	GRANT EXECUTE ON FUNCTION trovella.suspend_tenant(uuid, text), trovella.resume_tenant(uuid) TO $OPS;
	SET trovella.isolation_guard = off;
	CREATE TABLE tap_susp (id serial PRIMARY KEY, tenant_id uuid NOT NULL DEFAULT trovella.current_tenant(), body text);
	SELECT trovella.enable_tenant_isolation('tap_susp');
	GRANT SELECT, INSERT ON tap_susp TO $APP; GRANT USAGE ON SEQUENCE tap_susp_id_seq TO $APP;" >/dev/null

as_app() { PGUSER=$APP PGPASSWORD=$APP_PASSWORD q "$@"; }
OWNER_ENV="PGUSER=${PGUSER:-$(id -un)} PGPASSWORD=${PGPASSWORD:-}"

# 1. Open before the suspension: the transaction goes on to COMMIT.
out=$(as_app -v ON_ERROR_STOP=0 -f - <<SQL 2>&1
BEGIN;
SELECT trovella.with_tenant('$T');
\! env $OWNER_ENV psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "SELECT trovella.suspend_tenant('$T', 'maintenance window')" >/dev/null
SELECT trovella.with_tenant('$T');
INSERT INTO tap_susp (body) VALUES ('after the suspension');
SELECT count(*) FROM tap_susp;
COMMIT;
BEGIN;
SELECT trovella.with_tenant('$T');
ROLLBACK;
SQL
)
is "$(printf '%s\n' "$out" | grep -v '^$' | tr '\n' ' ')" "1 ERROR 57000 " \
	"a transaction that had the tenant before the suspension writes and commits; the next one is refused (57000)"
is "$(q -c "SELECT count(*) FROM tap_susp WHERE body = 'after the suspension'")" "1" "... and its row is there"
q -c "SELECT trovella.resume_tenant('$T')" >/dev/null

# 2. A snapshot taken before the suspension does not hide it.
out=$(as_app -v ON_ERROR_STOP=0 -f - <<SQL 2>&1
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT 1;
\! env $OWNER_ENV psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "SELECT trovella.suspend_tenant('$T', 'snapshot')" >/dev/null
SELECT trovella.with_tenant('$T');
ROLLBACK;
SQL
)
is "$(printf '%s\n' "$out" | tail -n 1)" "ERROR 57000" \
	"a REPEATABLE READ transaction whose snapshot predates the suspension is refused"
q -c "SELECT trovella.resume_tenant('$T')" >/dev/null

# 3. A workload of four connections, suspended mid-way.
work=$(mktemp -d)
{
	for i in $(seq 300); do
		echo "BEGIN;"
		# when the transaction asked for the tenant
		echo "SELECT to_char(clock_timestamp(), 'YYYY-MM-DD HH24:MI:SS.US') AS asked \\gset"
		echo "SELECT trovella.with_tenant('$T');"
		echo "SELECT 'ok ' || :'asked' FROM tap_susp, pg_sleep(0.005) LIMIT 1;"
		echo "COMMIT;"
	done
} >"$work/loop.sql"
for c in 1 2 3 4; do
	(as_app -v ON_ERROR_STOP=0 -f "$work/loop.sql" >"$work/client$c.out" 2>&1) &
done
sleep 0.7
stamp=$(q -c "SELECT trovella.suspend_tenant('$T', 'Unpaid invoices.')" -c "SELECT to_char(clock_timestamp(), 'YYYY-MM-DD HH24:MI:SS.US')" | tail -n 1)
wait
cat "$work"/client*.out >"$work/all.out"
before=$(grep -c '^ok ' "$work/all.out")
late=$(awk -v s="$stamp" '/^ok / { if ($2 " " $3 > s) n++ } END { print n + 0 }' "$work/all.out")
refused=$(grep -c '^ERROR 57000$' "$work/all.out")
# (25P02: the refused transaction's next statement)
other=$(grep '^ERROR' "$work/all.out" | grep -Evc '^ERROR (57000|25P02)$')
ok "$([ "$before" -gt 0 ] && echo 0 || echo 1)" "the workload ran transactions before the suspension ($before)"
ok "$([ "$refused" -gt 0 ] && echo 0 || echo 1)" "... and was refused after it, 57000 ($refused)"
is "$late" "0" "no transaction that asked for the tenant after the suspension committed opened it"
is "$other" "0" "no other error"
rm -rf "$work"

# 4. The application cannot become the operations role, nor lift it.
is "$(as_app -c "SET ROLE $OPS" | tail -n 1)" "ERROR 42501" "the application role cannot SET ROLE to the operations role"
is "$(as_app -c "SELECT trovella.resume_tenant('$T')" | tail -n 1)" "ERROR 42501" \
	"the application role logged in cannot resume its tenant"

# 5. A READ COMMITTED statement that began before the suspension committed
# and asks for the tenant after it: refused, as a transaction whose snapshot
# predates it is (2).  The statement waits on an advisory lock the
# operator's session holds until its suspension has committed.
q -c "SELECT trovella.resume_tenant('$T')" >/dev/null
work=$(mktemp -d)
q -v ON_ERROR_STOP=1 -f - >/dev/null <<SQL
SELECT pg_advisory_lock(35035);
\! (PGUSER=$APP PGPASSWORD=$APP_PASSWORD psql -X -q -At -v VERBOSITY=sqlstate -d "$DB" -c "BEGIN" -c "SELECT trovella.with_tenant('$T') FROM (SELECT pg_advisory_lock_shared(35035)) s" -c "ROLLBACK" >"$work/app.out" 2>&1; touch "$work/done") &
\! for i in \$(seq 100); do [ "\$(psql -X -At -d "$DB" -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 35035 AND NOT granted")" = 1 ] && break; sleep 0.05; done
SELECT trovella.suspend_tenant('$T', 'while the statement waited');
SELECT pg_advisory_unlock(35035);
SQL
for i in $(seq 100); do [ -e "$work/done" ] && break; sleep 0.05; done
is "$(sed -E 's/^(psql:[^ ]* )?ERROR:  ([0-9A-Z]{5}).*/ERROR \2/' "$work/app.out" | grep -v '^$' | tr '\n' ' ')" "ERROR 57000 " \
	"a READ COMMITTED statement begun before the suspension committed is refused when it asks for the tenant after"
rm -rf "$work"

# 6. Two operators suspend the tenant at once: the second waits for the
# first to commit and says false (the tenant was suspended already).
q -c "SELECT trovella.resume_tenant('$T')" >/dev/null
work=$(mktemp -d)
q -v ON_ERROR_STOP=1 -f - >"$work/first.out" <<SQL
BEGIN;
SELECT trovella.suspend_tenant('$T', 'first operator');
\! (psql -X -q -At -d "$DB" -c "SELECT trovella.suspend_tenant('$T', 'second operator')" >"$work/second.out" 2>&1; touch "$work/done") &
\! for i in \$(seq 100); do [ "\$(psql -X -At -d "$DB" -c "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%second operator%'")" = 1 ] && break; sleep 0.05; done
COMMIT;
SQL
for i in $(seq 100); do [ -e "$work/done" ] && break; sleep 0.05; done
is "$(tr '\n' ' ' <"$work/first.out")|$(cat "$work/second.out")|$(q -c "SELECT reason FROM trovella.suspended_tenant WHERE tenant_id = '$T'")" \
	"t |f|second operator" "of two concurrent suspensions, the first says true, the second false and its reason stays"
rm -rf "$work"

q -c "SELECT trovella.resume_tenant('$T')" -c "DROP TABLE tap_susp" \
	-c "REVOKE ALL ON FUNCTION trovella.with_tenant(uuid, uuid) FROM $APP" \
	-c "REVOKE ALL ON FUNCTION trovella.suspend_tenant(uuid, text), trovella.resume_tenant(uuid) FROM $OPS" \
	-c "DROP ROLE $APP" -c "DROP ROLE $OPS" >/dev/null
done_testing
