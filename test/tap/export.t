#!/usr/bin/env bash
# Export and import (issue 35, point 2): a tenant of isolated tables (one
# with standard columns and the audit trail, one soft-deleting, with an
# identity and a generated column, one partitioned on two levels) is
# exported by the operations role with COPY, imported into a second, fresh
# database that has the same schema, and compared row by row, standard
# columns and deletion marks included; its audit history verifies there,
# and the import wrote no audit record of its own.  The export is one
# snapshot: a row committed by another session while it runs is not in
# it.  Import refuses a tenant that has rows, a changed export, an export
# without manifest, a missing or unisolated table, and the roles that may
# not import.
set -u
. "$(dirname "$0")/lib.sh"
plan 19

A=aaaaaaaa-0000-0000-0000-0000000e0035
B=bbbbbbbb-0000-0000-0000-0000000e0035
U=11111111-0000-0000-0000-0000000e0035
OWNER=regress_exp_tap_owner
APP=regress_exp_tap_app
OPS=regress_exp_tap_ops
TARGET=${DB}_export_target
work=$(mktemp -d)
trap 'rm -rf "$work"; dropdb --if-exists "$TARGET" >/dev/null 2>&1' EXIT

dropdb --if-exists "$TARGET" >/dev/null 2>&1
q -c "DROP TABLE IF EXISTS ex_gate, ex_docs, ex_events, ex_orgs CASCADE" >/dev/null
q -c "DROP TYPE IF EXISTS ex_slow CASCADE" >/dev/null
for r in $OWNER $APP $OPS; do
	q -c "DROP OWNED BY $r" >/dev/null 2>&1
	q -c "DROP ROLE IF EXISTS $r" >/dev/null
done
q -c "CREATE ROLE $OWNER; CREATE ROLE $APP;
	CREATE ROLE $OPS BYPASSRLS IN ROLE pg_read_all_data, pg_write_all_data;" >/dev/null
createdb "$TARGET"
psql -X -q -d "$TARGET" -c "CREATE EXTENSION trovella" >/dev/null

# The schema, as the migrations make it, in both databases.  ex_gate's
# column converts to JSON through a function that waits while advisory
# lock 35035 is held (to_jsonb calls a cast to json of a type of one's
# own): the snapshot test stops the export there.
schema="
GRANT CREATE ON SCHEMA public TO $OWNER;
GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO $APP;
GRANT EXECUTE ON FUNCTION trovella.export_tenant(uuid, bigint), trovella.import_tenant(regclass) TO $OPS, $OWNER;
SET trovella.isolation_guard = error;
SET ROLE $OWNER;
BEGIN;
CREATE TYPE ex_slow AS ENUM ('open', 'shut');
CREATE FUNCTION ex_slow_json(ex_slow) RETURNS json LANGUAGE plpgsql AS \$\$
BEGIN
	PERFORM pg_advisory_lock_shared(35035);
	PERFORM pg_advisory_unlock_shared(35035);
	RETURN to_json(\$1::text);
END \$\$;
CREATE CAST (ex_slow AS json) WITH FUNCTION ex_slow_json(ex_slow);
CREATE TABLE ex_gate (tenant_id uuid NOT NULL, gate ex_slow);
CREATE INDEX ON ex_gate (tenant_id);
SELECT trovella.enable_tenant_isolation('ex_gate');
CREATE TABLE ex_orgs (id uuid, tenant_id uuid NOT NULL, name text NOT NULL, PRIMARY KEY (tenant_id, id));
CREATE INDEX ON ex_orgs (tenant_id);
SELECT trovella.enable_tenant_isolation('ex_orgs');
SELECT trovella.enable_standard_columns('ex_orgs');
SELECT trovella.enable_audit('ex_orgs');
CREATE TABLE ex_docs (id bigint GENERATED ALWAYS AS IDENTITY, tenant_id uuid NOT NULL,
	org_id uuid NOT NULL, title text, words int GENERATED ALWAYS AS (length(title)) STORED,
	body bytea, tags text[], score numeric, meta jsonb,
	PRIMARY KEY (tenant_id, id), FOREIGN KEY (tenant_id, org_id) REFERENCES ex_orgs);
CREATE INDEX ON ex_docs (tenant_id);
SELECT trovella.enable_tenant_isolation('ex_docs');
SELECT trovella.enable_soft_delete('ex_docs');
CREATE TABLE ex_events (tenant_id uuid NOT NULL, doc_id bigint, at date NOT NULL,
	kind text NOT NULL, n int, FOREIGN KEY (tenant_id, doc_id) REFERENCES ex_docs) PARTITION BY RANGE (at);
CREATE INDEX ON ex_events (tenant_id);
SELECT trovella.enable_tenant_isolation('ex_events');
CREATE TABLE ex_events_2026 PARTITION OF ex_events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')
	PARTITION BY LIST (kind);
CREATE TABLE ex_events_2026_a PARTITION OF ex_events_2026 FOR VALUES IN ('a');
CREATE TABLE ex_events_2026_b PARTITION OF ex_events_2026 FOR VALUES IN ('b');
CREATE TABLE ex_events_old PARTITION OF ex_events FOR VALUES FROM ('2000-01-01') TO ('2026-01-01');
GRANT SELECT, INSERT, UPDATE, DELETE ON ex_gate, ex_orgs, ex_docs, ex_events TO $APP;
COMMIT;
"
q -c "$schema" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d "$TARGET" -c "$schema" >/dev/null

# The tenants' rows, written by the application in their contexts.
rows="
SET ROLE $APP;
BEGIN;
SELECT trovella.with_tenant('%s', '$U');
INSERT INTO ex_gate VALUES (trovella.current_tenant(), 'shut');
INSERT INTO ex_orgs VALUES ('%s'::uuid, trovella.current_tenant(), 'org \"one\"\\\\ tab	');
INSERT INTO ex_docs (tenant_id, org_id, title, body, tags, score, meta) SELECT trovella.current_tenant(), '%s', 'doc ' || i,
	'\\\\x00ff'::bytea, ARRAY['a', NULL, 'c\"'], 1.50 * i, jsonb_build_object('i', i, 'nested', jsonb_build_array(1e30, 'x'))
	FROM generate_series(1, 30) i;
INSERT INTO ex_events SELECT trovella.current_tenant(), (SELECT min(id) FROM ex_docs WHERE tenant_id = trovella.current_tenant()), d, k, i
	FROM generate_series(1, 20) i, (VALUES ('2026-02-01'::date), ('2019-05-05')) v(d), (VALUES ('a'), ('b')) w(k);
DELETE FROM ex_docs WHERE title IN ('doc 2', 'doc 3');
COMMIT;
"
q -v ON_ERROR_STOP=1 -c "$(printf "$rows" $A 0a000000-0000-0000-0000-000000000035 0a000000-0000-0000-0000-000000000035)" >/dev/null
q -v ON_ERROR_STOP=1 -c "$(printf "$rows" $B 0b000000-0000-0000-0000-000000000035 0b000000-0000-0000-0000-000000000035)" >/dev/null
q -c "SELECT trovella.audit_seal()" >/dev/null

# 1-2. The export, while another session commits a row of the tenant: the
# export's snapshot is its statement's; the late row is not in it.
q -c "SELECT pg_advisory_lock(35035), pg_sleep(30)" >/dev/null &
holder=$!
for _ in $(seq 100); do
	[ "$(q -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 35035 AND granted")" = 1 ] && break
	sleep 0.05
done
PGOPTIONS="-c role=$OPS" psql -X -q -d "$DB" -v ON_ERROR_STOP=1 \
	-c "COPY (SELECT * FROM trovella.export_tenant('$A')) TO STDOUT" >"$work/export.copy" 2>"$work/export.err" &
exporter=$!
blocked=0
for _ in $(seq 100); do
	[ "$(q -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 35035 AND NOT granted")" = 1 ] && blocked=1 && break
	sleep 0.05
done
q -c "BEGIN; SELECT trovella.with_tenant('$A'); INSERT INTO ex_orgs VALUES ('0c000000-0000-0000-0000-000000000035', '$A', 'late'); COMMIT;" >/dev/null
q -c "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objid = 35035 AND granted" >/dev/null
wait $holder 2>/dev/null
wait $exporter
ok $? "the operations role exports the tenant with COPY (SELECT * FROM trovella.export_tenant(...)) TO STDOUT"
is "$blocked,$(grep -c 'late' "$work/export.copy"),$(q -c "SELECT count(*) FROM ex_orgs WHERE name = 'late'")" "1,0,1" \
	"a row committed by another session while the export ran is not in it (one snapshot), though it is in the table"
q -c "DELETE FROM ex_orgs WHERE name = 'late'" >/dev/null

# 9. Load the file into the target and import it, as the operations role,
# with the guard in error.
load="CREATE TABLE ex_import (ordinal bigint, table_name text, \"row\" jsonb);
	GRANT SELECT ON ex_import TO $OPS;
	\\copy ex_import FROM '$work/export.copy'"
psql -X -q -v ON_ERROR_STOP=1 -d "$TARGET" -c "$load" >/dev/null 2>&1 ||
	psql -X -q -v ON_ERROR_STOP=1 -d "$TARGET" -f - <<<"$load" >/dev/null
tq() { psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -d "$TARGET" "$@" 2>&1 |
	sed -E 's/^psql:[^ ]* ERROR:  ([0-9A-Z]{5}).*/ERROR \1/; s/^ERROR:  ([0-9A-Z]{5}).*/ERROR \1/'; }
# 3-8. Refusals before the import; nothing changes.
is "$(tq -c "SET ROLE $OPS; BEGIN;
	UPDATE ex_import SET row = jsonb_set(row, '{n}', '99') WHERE ordinal = (SELECT min(ordinal) FROM ex_import WHERE table_name = 'public.ex_events');
	SELECT * FROM trovella.import_tenant('ex_import'); ROLLBACK;" | tail -1)" "ERROR XX001" \
	"a changed row is refused (XX001)"
is "$(tq -c "SET ROLE $OPS; BEGIN; DELETE FROM ex_import WHERE table_name IS NULL;
	SELECT * FROM trovella.import_tenant('ex_import'); ROLLBACK;" | tail -1)" "ERROR 22P04" \
	"an export without its manifest is refused (22P04)"
is "$(tq -c "BEGIN; ALTER TABLE ex_gate RENAME TO ex_gate2;
	SET ROLE $OPS; SELECT * FROM trovella.import_tenant('ex_import'); ROLLBACK;" | tail -1)" "ERROR 42P01" \
	"an export's table missing here is refused (42P01)"
is "$(tq -c "BEGIN; SET trovella.isolation_guard = off; SELECT trovella.disable_tenant_isolation('ex_gate');
	SET ROLE $OPS; SELECT * FROM trovella.import_tenant('ex_import'); ROLLBACK;" | tail -1)" \
	"ERROR 55000" "an export's table not isolated here is refused (55000)"
is "$(tq -c "GRANT SELECT ON ex_import TO $OWNER; SET ROLE $OWNER; SELECT * FROM trovella.import_tenant('ex_import')")" "ERROR 42501" \
	"the owner, whom row-level security binds, is refused (42501)"
is "$(tq -c "GRANT SELECT ON ex_import TO $APP; SET ROLE $APP; SELECT * FROM trovella.import_tenant('ex_import')")" "ERROR 42501" \
	"the application role may not import (42501)"
is "$(tq -c "SELECT (SELECT count(*) FROM ex_orgs) + (SELECT count(*) FROM ex_docs) + (SELECT count(*) FROM trovella.audit_history WHERE tenant_id = '$A')")" \
	"0" "... and nothing was written"

is "$(tq -c "SET trovella.isolation_guard = error; SET ROLE $OPS;
	SELECT string_agg(table_name || '=' || rows, ' ' ORDER BY ordinality) FROM trovella.import_tenant('ex_import') WITH ORDINALITY
	WHERE table_name LIKE 'public.%' OR rows > 0")" \
	"public.ex_gate=1 public.ex_orgs=1 public.ex_docs=30 public.ex_events=80 trovella.audit_history=1 trovella.audit_seal=1" \
	"the operations role imports it into a fresh database, referenced tables first"

# 10-13. Row by row, every column as it was (standard columns, deletion
# marks, identity, generated, bytea, arrays, numeric, jsonb).
for t in ex_gate ex_orgs ex_docs ex_events; do
	dump="COPY (SELECT * FROM $t WHERE tenant_id = '$A' ORDER BY 1, 2, 3) TO STDOUT"
	src=$(q -c "$dump")
	dst=$(tq -c "$dump")
	[ -n "$src" ] && [ "$src" = "$dst" ]
	ok $? "$t: the tenant's rows in the target are those of the source, column by column"
done

# 14. The audit history: verbatim, verified, no record of the import's own.
is "$(tq -c "SELECT ok, records, seals, (SELECT count(*) FROM ex_import WHERE table_name = 'trovella.audit_history')
	FROM trovella.audit_verify('$A')")" "t|1|1|1" \
	"the audit history verifies in the target as in the source, and the import recorded nothing"

# 15-16. Isolation intact: isolation_status and the application's view.
is "$(tq -c "SELECT string_agg(table_name || ': ' || array_to_string(problems, ', '), '; ') FROM trovella.isolation_status
	WHERE table_name::text LIKE 'ex\_%' AND problems <> '{}'")" \
	"" "every table is isolated after the import"
is "$(tq -c "SET ROLE $APP; BEGIN; SELECT trovella.with_tenant('$A') IS NULL;
	SELECT count(*) FROM ex_docs; SELECT count(*) FROM ex_events; COMMIT;
	BEGIN; SELECT trovella.with_tenant('$B') IS NULL; SELECT count(*) FROM ex_docs; COMMIT;" | tr '\n' ' ')" \
	"f 28 80 f 0 " "the application reads the tenant's live rows, and another tenant none"

# 17. A re-export from the target has the source's counts.
manifest="SELECT string_agg((t ->> 'table') || '=' || (t ->> 'rows'), ' ' ORDER BY t ->> 'table')
	FROM trovella.export_tenant('$A') m, jsonb_array_elements(m.row -> 'tables') t
	WHERE m.table_name IS NULL AND t ->> 'table' LIKE 'public.ex\_%'"
is "$(tq -c "SET ROLE $OPS; $manifest")" "$(q -c "SET ROLE $OPS; $manifest")" \
	"a re-export from the target has the same tables and counts"

# 18. A tenant that has rows here.
is "$(tq -c "SET ROLE $OPS; SELECT * FROM trovella.import_tenant('ex_import')")" "ERROR 55000" \
	"importing a tenant that has rows is refused (55000)"

dropdb "$TARGET"
q -c "DROP TABLE ex_gate, ex_docs, ex_events, ex_orgs CASCADE; DROP TYPE ex_slow CASCADE" >/dev/null 2>&1
for r in $OWNER $APP $OPS; do q -c "DROP OWNED BY $r; DROP ROLE $r" >/dev/null 2>&1; done
done_testing
