#!/usr/bin/env bash
# The audit trail under concurrency: application sessions write an audited
# table in short transactions while the sealing job runs and the history's
# relation cache entry is dropped again and again (ANALYZE, as autovacuum
# does).  No write fails, every committed write has exactly one record,
# every record ends up in exactly one seal, and the chain verifies.
set -u
. "$(dirname "$0")/lib.sh"
plan 5

APP=regress_auditc_app
APP_PASSWORD=auditc-$$-$RANDOM
T=aaaaaaaa-0000-4000-8000-0000000000c1
U=11111111-0000-4000-8000-0000000000c1
SECONDS_OF_WRITES=${AUDIT_CONCURRENCY_SECONDS:-4}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

q -c "DROP TABLE IF EXISTS auditc_items; DROP ROLE IF EXISTS $APP" >/dev/null
q -c "CREATE ROLE $APP LOGIN PASSWORD '$APP_PASSWORD';
      GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO $APP;
      SET trovella.isolation_guard = off;
      CREATE TABLE auditc_items (id bigserial, tenant_id uuid NOT NULL, n int NOT NULL DEFAULT 0,
                                 PRIMARY KEY (tenant_id, id));
      SELECT trovella.enable_tenant_isolation('auditc_items');
      SELECT trovella.enable_audit('auditc_items');
      GRANT SELECT, INSERT, UPDATE ON auditc_items TO $APP;
      GRANT USAGE ON SEQUENCE auditc_items_id_seq TO $APP" >/dev/null
before=$(q -c "SELECT coalesce(max(seq), 0) FROM trovella.audit_history")

cat >"$tmp/write.sql" <<EOF
BEGIN;
SELECT trovella.with_tenant('$T', '$U');
INSERT INTO auditc_items (tenant_id) VALUES ('$T');
UPDATE auditc_items SET n = n + 1 WHERE tenant_id = '$T' AND id = (SELECT max(id) FROM auditc_items);
COMMIT;
EOF
# the sealing job and the relation cache churn, until the writers are done
(
	end=$((SECONDS + SECONDS_OF_WRITES))
	while [ $SECONDS -lt $end ]; do
		q -c "SELECT trovella.audit_seal()" -c "ANALYZE trovella.audit_history" >>"$tmp/job.out"
		sleep 0.1
	done
) &
job=$!
PGUSER=$APP PGPASSWORD=$APP_PASSWORD "$(pg_config --bindir)/pgbench" -n -c 4 -j 2 -T "$SECONDS_OF_WRITES" \
	-f "$tmp/write.sql" "$DB" >"$tmp/pgbench.out" 2>&1
status=$?
wait $job
written=$(q -c "SELECT count(*) FROM auditc_items")
failed=$(grep -cE "ERROR|aborted|error" "$tmp/pgbench.out" "$tmp/job.out" | awk -F: '{s += $2} END {print s}')
is "$status/$failed/$([ "$written" -gt 20 ] && echo many)" "0/0/many" \
	"4 sessions wrote audited rows for ${SECONDS_OF_WRITES} s (pgbench status, errors, rows) while audit_seal() and ANALYZE of the history ran"
[ "$failed" = 0 ] || sed 's/^/#   /' "$tmp/pgbench.out" "$tmp/job.out" | grep -E "ERROR|abort|error" | head -5

is "$(q -c "SELECT count(*) FILTER (WHERE operation = 'I') || ' ' || count(*) FILTER (WHERE operation = 'U')
            FROM trovella.audit_history WHERE seq > $before AND tenant_id = '$T'")" \
	"$written $written" "one INSERT and one UPDATE record per committed transaction, none lost, none doubled"

q -c "SELECT trovella.audit_seal()" >/dev/null
is "$(q -c "SELECT ok || ' ' || unsealed || ' ' || coalesce(problem, '') FROM trovella.audit_verify('$T')")" "true 0 " \
	"every record is in a seal, once: the chain verifies"
is "$(q -c "SELECT count(*) FROM trovella.audit_seal WHERE tenant_id = '$T'")" \
	"$(q -c "SELECT count(DISTINCT seal_no) FROM trovella.audit_seal WHERE tenant_id = '$T'")" \
	"no seal number was given twice"
is "$(q -c "SELECT sum(records) FROM trovella.audit_seal WHERE tenant_id = '$T'")" \
	"$(q -c "SELECT count(*) FROM trovella.audit_history WHERE tenant_id = '$T'")" \
	"the seals count every record of the tenant"

q -c "DROP TABLE auditc_items; REVOKE ALL ON FUNCTION trovella.with_tenant(uuid, uuid) FROM $APP; DROP ROLE $APP" >/dev/null
done_testing
