#!/usr/bin/env bash
# Purge cancelled half-way and resumed (issue 35, point 3): the batches
# committed before the cancel stay deleted, trovella.purge_run keeps the
# counts taken when the purge began, and the next CALL resumes; the
# verification then finds the row a table trovella does not isolate (in
# another schema) still holds, names it and does not finish; once the
# operator deleted it, the next CALL finishes with the first run's counts
# in its receipt.  Another tenant's rows are untouched.  A row updated
# while a batch waits for it is deleted by the next batch; a second purge
# of the tenant meanwhile is refused (55P03).  Run as the
# operations role (BYPASSRLS, pg_read_all_data, pg_write_all_data).
set -u
. "$(dirname "$0")/lib.sh"
plan 10

T=dddddddd-0000-0000-0000-000000000035
U=eeeeeeee-0000-0000-0000-000000000035
V=ffffffff-0000-0000-0000-000000000035
OPS=regress_purge_tap_ops
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

q -c "DROP TABLE IF EXISTS tap_purge_task, tap_purge_project; DROP SCHEMA IF EXISTS tap_purge_crm CASCADE;
	DELETE FROM trovella.purge_run; DROP ROLE IF EXISTS $OPS" >/dev/null
q -c "CREATE ROLE $OPS BYPASSRLS IN ROLE pg_read_all_data, pg_write_all_data;
	GRANT EXECUTE ON PROCEDURE trovella.purge_tenant(uuid, jsonb) TO $OPS;
	SET trovella.isolation_guard = off;
	CREATE TABLE tap_purge_project (tenant_id uuid NOT NULL, id int, PRIMARY KEY (tenant_id, id));
	CREATE TABLE tap_purge_task (tenant_id uuid NOT NULL, id int, project int NOT NULL,
		PRIMARY KEY (tenant_id, id), FOREIGN KEY (tenant_id, project) REFERENCES tap_purge_project);
	SELECT trovella.enable_tenant_isolation('tap_purge_project'), trovella.enable_tenant_isolation('tap_purge_task');
	INSERT INTO tap_purge_project SELECT t, i FROM unnest(ARRAY['$T', '$U']::uuid[]) t, generate_series(1, 20) i;
	INSERT INTO tap_purge_task SELECT t, i, 1 + i % 20 FROM unnest(ARRAY['$T', '$U']::uuid[]) t, generate_series(1, 30) i;
	CREATE SCHEMA tap_purge_crm;
	CREATE TABLE tap_purge_crm.lead (tenant_id uuid, note text);
	INSERT INTO tap_purge_crm.lead VALUES ('$T', 'kept by the CRM sync');
	SELECT trovella.suspend_tenant('$T', 'contract ended');" >/dev/null

# 1. Cancelled half-way: another session holds a row of the projects, so
# the purge, done with the tasks (which reference the projects), waits on
# it until statement_timeout cancels it.
(q -f - >"$work/holder.out" <<SQL
BEGIN;
SELECT 1 FROM tap_purge_project WHERE tenant_id = '$T' AND id = 20 FOR UPDATE;
\! touch $work/held; while [ ! -f $work/release ]; do sleep 0.05; done
COMMIT;
SQL
) &
for i in $(seq 200); do [ -f "$work/held" ] && break; sleep 0.05; done
out=$(q -v ON_ERROR_STOP=0 -v VERBOSITY=default -c "SET ROLE $OPS" -c "SET trovella.purge_batch_rows = 7" \
	-c "SET statement_timeout = '700ms'" -c "CALL trovella.purge_tenant('$T')" 2>&1)
touch "$work/release"
wait
is "$(printf '%s\n' "$out" | grep -c 'NOTICE:  trovella.purge_tenant: purged [0-9]* rows of public.tap_purge_task')|$(printf '%s\n' "$out" | grep -o 'ERROR:.*')" \
	"5|ERROR:  canceling statement due to statement timeout" \
	"the purge deletes the tasks in 5 batches of at most 7 rows, then is cancelled waiting on a project row"
is "$(q -c "SELECT (SELECT count(*) FROM tap_purge_task WHERE tenant_id = '$T'),
	(SELECT count(*) FROM tap_purge_project WHERE tenant_id = '$T')")" "0|6" \
	"... the batches committed before the cancel stay deleted (the tasks, two of the projects), the rest is there"
is "$(q -c "SELECT status, counts_before FROM trovella.purge_run WHERE tenant_id = '$T'")" \
	'deleting|{"public.tap_purge_task": 30, "public.tap_purge_project": 20}' \
	"... trovella.purge_run keeps the counts taken when it began"

# 2. Resumed: the projects go; the verification finds the row the table
# trovella does not isolate holds, names it, and the purge stays unfinished.
out=$(q -v ON_ERROR_STOP=0 -v VERBOSITY=default -c "SET ROLE $OPS" -c "SET trovella.purge_batch_rows = 7" \
	-c "CALL trovella.purge_tenant('$T')" 2>&1)
is "$(printf '%s\n' "$out" | grep -o 'purged [0-9]* rows of [a-z_.]* ([0-9]* of [0-9]*)' | tail -n 1)|$(printf '%s\n' "$out" | grep -o 'ERROR:.*')" \
	"purged 6 rows of public.tap_purge_project (20 of 20)|ERROR:  trovella.purge_tenant: rows of the tenant remain in tap_purge_crm.lead (not isolated: never purged)" \
	"resumed, it deletes the projects, then the verification names the table trovella does not isolate that holds a row of the tenant"
is "$(q -c "SELECT status FROM trovella.purge_run WHERE tenant_id = '$T'")|$(q -c "SELECT count(*) FROM trovella.suspended_tenant WHERE tenant_id = '$T'")|$(q -c "SELECT count(*) FROM trovella.purge_receipt WHERE tenant_id = '$T'")" \
	"verifying|1|0" "... the tenant stays suspended, the run kept, no receipt"

# 3. The operator deletes that row; the next CALL finishes.
q -c "DELETE FROM tap_purge_crm.lead WHERE tenant_id = '$T'" >/dev/null
receipt=$(q -c "SET ROLE $OPS" -c "CALL trovella.purge_tenant('$T')")
is "$(q -c "SELECT r.receipt->'tables', r.receipt->'not_isolated', r.receipt = '$receipt'::jsonb,
	r.digest = encode(sha256(convert_to((r.receipt - 'digest')::text, 'UTF8')), 'hex')
	FROM trovella.purge_receipt r WHERE r.tenant_id = '$T'")" \
	'[{"after": 0, "table": "public.tap_purge_task", "before": 30}, {"after": 0, "table": "public.tap_purge_project", "before": 20}]|["tap_purge_crm.lead"]|t|t' \
	"the next CALL finishes: its receipt has the first run's counts before, 0 after, names the table it does not isolate, and its digest"
is "$(q -c "SELECT (SELECT count(*) FROM trovella.purge_run), (SELECT count(*) FROM trovella.suspended_tenant WHERE tenant_id = '$T')")" \
	"0|0" "... the run and the suspension are gone"
is "$(q -c "SELECT (SELECT count(*) FROM tap_purge_task WHERE tenant_id = '$U'), (SELECT count(*) FROM tap_purge_project WHERE tenant_id = '$U')")" \
	"30|20" "the other tenant's rows are untouched"

# 4. A row another session updates while a batch waits for it has a new
# ctid when the batch goes on: the batch does not delete it, the next does
# (no purge stops early and leaves it to the verification).
q -c "INSERT INTO tap_purge_project SELECT '$V', i FROM generate_series(1, 5) i;
	SELECT trovella.suspend_tenant('$V', 'contract ended')" >/dev/null
rm -f "$work/held" "$work/release"
(q -f - >"$work/holder.out" <<SQL
BEGIN;
UPDATE tap_purge_project SET id = 6 WHERE tenant_id = '$V' AND id = 5;
\! touch $work/held; while [ ! -f $work/release ]; do sleep 0.05; done
COMMIT;
SQL
) &
for i in $(seq 200); do [ -f "$work/held" ] && break; sleep 0.05; done
(q -c "SET ROLE $OPS" -c "CALL trovella.purge_tenant('$V')" >"$work/purge.out" 2>&1; touch "$work/purged") &
for i in $(seq 100); do
	[ "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'CALL trovella.purge_tenant%'")" = 1 ] && break
	sleep 0.05
done
# 5. Meanwhile a second purge of the tenant is refused at once (55P03), and
# changes nothing: one purge of a tenant at a time.
second=$(q -v ON_ERROR_STOP=0 -c "SET ROLE $OPS" -c "SET statement_timeout = '5s'" -c "CALL trovella.purge_tenant('$V')" 2>&1)
touch "$work/release"
wait
is "$(grep -c '"after": 0, "table": "public.tap_purge_project", "before": 5' "$work/purge.out")|$(q -c "SELECT count(*) FROM tap_purge_project WHERE tenant_id = '$V'")" \
	"1|0" "a row updated under a waiting batch is deleted by the next batch: the purge finishes"
is "$second|$(q -c "SELECT count(*) FROM trovella.purge_receipt WHERE tenant_id = '$V'")" "ERROR 55P03|1" \
	"a second purge of the tenant while the first runs is refused (55P03); the first's receipt is the only one"

q -c "DELETE FROM trovella.purge_receipt WHERE tenant_id = '$V'" >/dev/null
q -c "DROP TABLE tap_purge_task, tap_purge_project; DROP SCHEMA tap_purge_crm CASCADE;
	DELETE FROM trovella.purge_receipt WHERE tenant_id = '$T'; DROP OWNED BY $OPS; DROP ROLE $OPS" >/dev/null
done_testing
