#!/usr/bin/env bash
# The audit trail (issue 34, "Day 2") through the README's Operations
# section, in every guard mode, run by the roles that run them in
# production: pg_partman's maintenance and retention on an audited
# partitioned table (by its owner), pg_repack of an audited table (by a
# superuser) while the application writes, the history judged by the guard
# like any tenant table, the sealing job scheduled by pg_cron as the
# operations role, and the backup and restore procedure (the operations
# role dumps and restores, the administrator prepares the database).
# Afterwards nothing recorded is lost, doubled or misattributed, and every
# tenant's hash chain verifies, across the restore against the head handed
# out before the backup.  The server is one of the test's own, with pg_cron
# preloaded where it is installed; a tool this system lacks is skipped,
# with the reason.
set -u
. "$(dirname "$0")/lib.sh"
MODES="off warn error auto"
plan 46

# skip N REASON: N tests not run, each reported as skipped with the reason
skip() {
	local i
	for i in $(seq "$1"); do
		tap_n=$((tap_n + 1))
		echo "ok $tap_n # skip $2"
	done
}

SRC=trovella_aops_src
DST=trovella_aops_dst
OWNER=regress_aops_owner
APP=regress_aops_app
OPS=regress_aops_ops
A=aaaaaaaa-0000-0000-0000-000000000000
B=bbbbbbbb-0000-0000-0000-000000000000
C=cccccccc-0000-0000-0000-000000000000
U1=11111111-0000-0000-0000-000000000000
NIL=00000000-0000-0000-0000-000000000000

own_servers data
port=$((20000 + RANDOM % 20000))
with_cron=0
[ -f "$(pg_config --pkglibdir)/pg_cron.so" ] && with_cron=1
as_server "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
# the job connects as its role through a background worker (no TCP here)
[ $with_cron -eq 1 ] &&
	printf '%s\n' "shared_preload_libraries = 'pg_cron'" "cron.database_name = '$SRC'" \
		"cron.use_background_workers = on" >>"$dir/data/postgresql.conf"
start "$dir/data" $port
export PGHOST=$dir PGPORT=$port PGUSER=postgres
DB=postgres
available() { [ "$(DB=postgres q -c "SELECT count(*) FROM pg_available_extensions WHERE name = '$1'")" = 1 ]; }
with_partman=0
available pg_partman && with_partman=1
repack=$(pg_config --bindir)/pg_repack
with_repack=0
available pg_repack && [ -x "$repack" ] && with_repack=1

# The operations role of the README: LOGIN (pg_cron's job logs in as it),
# BYPASSRLS, every table's data, the owner's rights.
q -c "CREATE ROLE $OWNER; CREATE ROLE $APP;
	CREATE ROLE $OPS LOGIN BYPASSRLS IN ROLE pg_read_all_data, pg_write_all_data, $OWNER" >/dev/null

# prepare DB: what the administrator does for every database (the source
# and the restore target): the extension, the guard, the grants, the
# audit's among them (sealing and verifying for the operations role, the
# history's view for the application); pg_partman in its schema; pg_cron
# only where it runs
prepare() {
	createdb -O $OWNER "$1"
	DB=$1 q -c "CREATE EXTENSION trovella;
		ALTER DATABASE $1 SET trovella.isolation_guard = error;
		GRANT CREATE ON SCHEMA public TO $OWNER;
		GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO $APP, $OWNER;
		GRANT SELECT ON trovella.audit_log, trovella.audit_history TO $APP;
		GRANT EXECUTE ON FUNCTION trovella.audit_seal(), trovella.audit_head(uuid),
		      trovella.audit_verify(uuid, text) TO $OPS" >/dev/null
	[ $with_partman -eq 1 ] && DB=$1 q -c "CREATE SCHEMA partman; CREATE EXTENSION pg_partman SCHEMA partman;
		GRANT ALL ON SCHEMA partman TO $OWNER;
		GRANT ALL ON ALL TABLES IN SCHEMA partman TO $OWNER;
		GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA partman TO $OWNER;
		GRANT EXECUTE ON ALL PROCEDURES IN SCHEMA partman TO $OWNER" >/dev/null
	[ $with_cron -eq 1 ] && [ "$1" = $SRC ] &&
		DB=$1 q -c "CREATE EXTENSION pg_cron; GRANT USAGE ON SCHEMA cron TO $OPS" >/dev/null
	return 0
}
prepare $SRC
DB=$SRC

# as ROLE MODE SQL...: one connection as ROLE, the guard in MODE
as() {
	local role=$1 mode=$2
	shift 2
	q -c "SET trovella.isolation_guard = $mode" -c "SET client_min_messages = warning" \
		-c "SET ROLE $role" "$@"
}
# in_tenant ROLE TENANT SQL: one statement's result in the tenant's context
in_tenant() {
	as "$1" off -c "BEGIN" -c "SELECT trovella.with_tenant('$2', '$U1')" -c "$3" -c "COMMIT" | sed -n 2p
}
# verify TENANT [HEAD]: audit_verify's verdict, as the operations role
verify() {
	as $OPS off -c "SELECT ok || ' ' || unsealed || coalesce(' ' || problem, '')
	                FROM trovella.audit_verify('$1'${2:+, '$2'})"
}

# ---- the guard judges the history like any table ---------------------
for mode in $MODES; do
	is "$(q -c "SET trovella.isolation_guard = $mode" -c "
		SELECT (SELECT problems::text FROM trovella.isolation_status WHERE table_name = 'trovella.audit_history'::regclass)
		       || ' ' || (SELECT status FROM trovella.health WHERE check_name = 'isolation')")" "{} ok" \
		"guard $mode: isolation_status lists trovella.audit_history with no problem, and health agrees"
done
# a superuser drops the history's tenant policy: the guard in error
# refuses it; with the guard off, isolation_status and health both report
# it, until enable_tenant_isolation() (as a superuser) puts it back
is "$(q -c "SET trovella.isolation_guard = error" -c "DROP POLICY trovella_tenant_access ON trovella.audit_history" |
	tail -n 1)" "ERROR 55000" "guard error: a superuser's DROP POLICY on the history is refused"
is "$(q -c "SET trovella.isolation_guard = off" -c "DROP POLICY trovella_tenant_access ON trovella.audit_history" -c "
	SELECT (SELECT problems::text FROM trovella.isolation_status
	        WHERE table_name = 'trovella.audit_history'::regclass)
	       || ' ' || (SELECT status FROM trovella.health WHERE check_name = 'isolation')")" \
	'{"policy trovella_tenant_access missing"} problem' \
	"guard off: the history's policy dropped, isolation_status and health both report it"
is "$(q -c "SELECT FROM trovella.enable_tenant_isolation('trovella.audit_history')" -c "
	SELECT (SELECT problems::text FROM trovella.isolation_status WHERE table_name = 'trovella.audit_history'::regclass)
	       || ' ' || (SELECT status FROM trovella.health WHERE check_name = 'isolation')")" "{} ok" \
	"enable_tenant_isolation() puts the history's policy back, and both say so"

# ---- pg_partman ------------------------------------------------------
# The README's recipe, with enable_audit() in the same transaction; rows
# of today and of two days ago, maintenance (as the owner, in the nil
# tenant's context) making the days ahead, rows in a partition it made,
# then retention dropping the old day's partition.
if [ $with_partman -eq 1 ]; then
	if [ "$(q -c "SELECT split_part(extversion, '.', 1) FROM pg_extension WHERE extname = 'pg_partman'")" = 4 ]; then
		form="p_type := 'native', p_interval := 'daily'"
	else
		form="p_interval := '1 day'"
	fi
	for mode in $MODES; do
		t=events_$mode
		out=$(as $OWNER "$mode" -v ON_ERROR_STOP=1 -c "BEGIN" \
			-c "CREATE TABLE $t (id uuid NOT NULL DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL,
			                     created_at timestamptz NOT NULL DEFAULT now(), body text,
			                     PRIMARY KEY (id, created_at))
			    PARTITION BY RANGE (created_at)" \
			-c "CREATE INDEX ON $t (tenant_id, created_at)" \
			-c "SELECT trovella.enable_tenant_isolation('$t')" \
			-c "SELECT partman.create_parent(p_parent_table := 'public.$t', p_control := 'created_at', $form, p_premake := 3)" \
			-c "SELECT trovella.enable_tenant_isolation('partman.template_public_$t')" \
			-c "CREATE INDEX ON partman.template_public_$t (tenant_id, created_at)" \
			-c "UPDATE partman.part_config SET infinite_time_partitions = true, ignore_default_data = true,
			           inherit_privileges = true, premake = 6 WHERE parent_table = 'public.$t'" \
			-c "SELECT trovella.enable_audit('$t')" \
			-c "COMMIT" -c "GRANT SELECT, INSERT, UPDATE ON $t TO $APP" 2>&1)
		in_tenant $APP $A "INSERT INTO $t (body, created_at) VALUES ('a1', now()), ('a2', now()), ('old', now() - interval '2 days')" >/dev/null
		in_tenant $APP $B "INSERT INTO $t (body) VALUES ('b1')" >/dev/null
		out+=$(as $OWNER "$mode" -v ON_ERROR_STOP=1 \
			-c "SELECT trovella.with_tenant('$NIL'); SELECT partman.run_maintenance('public.$t')" 2>&1)
		# a row in a partition maintenance made (create_parent made 3 days ahead)
		in_tenant $APP $A "INSERT INTO $t (body, created_at) VALUES ('ahead', now() + interval '5 days')" >/dev/null
		in_tenant $APP $A "UPDATE $t SET body = 'ahead, changed' WHERE body = 'ahead'" >/dev/null
		status=0
		case "$out" in *ERROR*) status=1 ;; esac
		made=$(q -c "SELECT count(*) FROM pg_partition_tree('$t') t JOIN pg_class c ON c.oid = t.relid
		             WHERE t.isleaf AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
		               AND substring(pg_get_expr(c.relpartbound, c.oid) FROM \$\$FROM \('([^']+)'\)\$\$)::timestamptz
		                   >= now() + interval '4 days'")
		[ "$status" -eq 0 ] && [ "$made" -ge 2 ]
		ok $? "pg_partman, guard $mode: the recipe with enable_audit, and maintenance as the owner making the days ahead"
		[ $status -eq 0 ] || echo "$out" | sed 's/^/#   /'
		# recorded under the parent's name, a partition's row included; every
		# partition has its TRUNCATE trigger (the event trigger's)
		is "$(in_tenant $APP $A "SELECT count(*) FILTER (WHERE table_name = '$t'::regclass) || ' '
		                              || count(*) FILTER (WHERE table_name <> '$t'::regclass) || ' '
		                              || string_agg(operation, ',' ORDER BY seq)
		                       FROM trovella.audit_log WHERE table_text LIKE '%${t}%'")|$(q -c "
			SELECT recording FROM trovella.audit_status WHERE table_name = '$t'::regclass")" \
			"5 0 INSERT,INSERT,INSERT,INSERT,UPDATE|t" \
			"pg_partman, guard $mode: rows of new partitions recorded under the parent's name; audit_status recording"
		# retention drops the day of the old row: the row goes, its record stays
		out=$(as $OWNER "$mode" -v ON_ERROR_STOP=1 \
			-c "UPDATE partman.part_config SET retention = '1 day' WHERE parent_table = 'public.$t'" \
			-c "SELECT trovella.with_tenant('$NIL'); SELECT partman.run_maintenance('public.$t')" 2>&1)
		is "$(in_tenant $APP $A "SELECT (SELECT count(*) FROM $t WHERE body = 'old') || ' '
		                             || (SELECT count(*) FROM trovella.audit_log
		                                 WHERE table_name = '$t'::regclass AND new->>'body' = 'old')")|$(q -c "
			SELECT recording FROM trovella.audit_status WHERE table_name = '$t'::regclass")" "0 1|t" \
			"pg_partman, guard $mode: retention drops the old partition, its rows' history stays; still recording"
		case "$out" in *ERROR*) echo "$out" | sed 's/^/#   /' ;; esac
	done
	# (what audit_status's recording means: PostgreSQL clones the row
	# trigger to a new partition, the event trigger adds the TRUNCATE one)
	is "$(q -c "
		SELECT (SELECT count(*) FROM pg_trigger g JOIN pg_partition_tree('events_error') p ON p.relid = g.tgrelid
		        WHERE g.tgname = 'trovella_audit_truncate')
		       = (SELECT count(*) FROM pg_partition_tree('events_error'))")" "t" \
		"pg_partman: every partition of the audited table has the TRUNCATE trigger"
else
	skip 13 "pg_partman is not installed (scripts/install-deps ops)"
fi

# ---- pg_repack -------------------------------------------------------
# The table repacked by a superuser while the application writes (one
# transaction per row): every write recorded once, none lost, the chain
# sealed and verified.
if [ $with_repack -eq 1 ]; then
	q -c "CREATE EXTENSION pg_repack" >/dev/null
	for mode in $MODES; do
		t=docs_$mode
		as $OWNER "$mode" -v ON_ERROR_STOP=1 -c "BEGIN" \
			-c "CREATE TABLE $t (id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL, body text)" \
			-c "CREATE INDEX ON $t (tenant_id, id)" \
			-c "SELECT trovella.enable_tenant_isolation('$t')" \
			-c "SELECT trovella.enable_audit('$t')" -c "COMMIT" \
			-c "GRANT SELECT, INSERT, UPDATE, DELETE ON $t TO $APP" >/dev/null
		for tenant in $A $B; do
			in_tenant $APP $tenant "INSERT INTO $t (body) SELECT 'row ' || n FROM generate_series(1, 2000) n" >/dev/null
			in_tenant $APP $tenant "DELETE FROM $t WHERE body LIKE '%5'" >/dev/null
		done
		before=$(q -c "SELECT relfilenode FROM pg_class WHERE oid = '$t'::regclass")
		# the writer: 60 transactions of tenant a, an insert and an update each
		(
			for n in $(seq 60); do
				printf '%s\n' "BEGIN;" "SELECT trovella.with_tenant('$A', '$U1');" \
					"INSERT INTO $t (body) VALUES ('during $n');" \
					"UPDATE $t SET body = body || '.' WHERE body ~ '^row 1[.]*$';" "COMMIT;" "SELECT pg_sleep(0.01);"
			done
		) | as $APP off -f - >/dev/null 2>&1 &
		writer=$!
		out=$(PGOPTIONS="-c trovella.isolation_guard=$mode" "$repack" --no-order -d $SRC -t "public.$t" 2>&1)
		status=$?
		wait $writer
		after=$(q -c "SELECT relfilenode FROM pg_class WHERE oid = '$t'::regclass")
		[ "$status" -eq 0 ] && [ "$before" != "$after" ]
		ok $? "pg_repack, guard $mode: the audited table is repacked while the application writes"
		[ "$status" -eq 0 ] || echo "$out" | sed 's/^/#   /'
		in_tenant $APP $A "INSERT INTO $t (body) VALUES ('after')" >/dev/null
		# a's records: one INSERT per row ever inserted (2000 + 60 + 1), one
		# DELETE per row deleted (200), 60 UPDATEs; none twice; every live row
		# has its INSERT
		is "$(in_tenant $APP $A "
			SELECT count(*) FILTER (WHERE operation = 'INSERT') || ' ' || count(*) FILTER (WHERE operation = 'DELETE')
			       || ' ' || count(*) FILTER (WHERE operation = 'UPDATE')
			       || ' ' || (count(DISTINCT (operation, row_key)) FILTER (WHERE operation <> 'UPDATE')
			                  = count(*) FILTER (WHERE operation <> 'UPDATE'))
			       || ' ' || (SELECT count(*) FROM $t d WHERE NOT EXISTS (
			                      SELECT 1 FROM trovella.audit_log l WHERE l.table_name = '$t'::regclass
			                      AND l.operation = 'INSERT' AND l.row_key = d.id::text))
			FROM trovella.audit_log WHERE table_name = '$t'::regclass")|$(q -c "
			SELECT recording FROM trovella.audit_status WHERE table_name = '$t'::regclass")" \
			"2061 200 60 true 0|t" \
			"pg_repack, guard $mode: every write recorded once, none lost; still recording"
		is "$(as $OPS off -c "SELECT trovella.audit_seal() > 0" >/dev/null; verify $A)|$(verify $B)" "true 0|true 0" \
			"pg_repack, guard $mode: the repacked table's history seals and verifies"
	done
	# the history itself is never repacked: it is append-only (no dead rows
	# to reclaim), and pg_repack refuses it (no primary key), changing nothing
	before=$(q -c "SELECT relfilenode || ' ' || count(*) FROM pg_class, trovella.audit_history
	               WHERE oid = 'trovella.audit_history'::regclass GROUP BY relfilenode")
	out=$("$repack" --no-order -d $SRC -t trovella.audit_history 2>&1)
	is "$(q -c "SELECT relfilenode || ' ' || count(*) FROM pg_class, trovella.audit_history
	            WHERE oid = 'trovella.audit_history'::regclass GROUP BY relfilenode")|$(grep -c 'primary key' <<<"$out")" \
		"$before|1" "pg_repack: refuses trovella.audit_history (no primary key), which stays as it was"
else
	skip 13 "pg_repack is not installed (scripts/install-deps ops)"
fi

# ---- a table written around the backup ---------------------------------
as $OWNER error -v ON_ERROR_STOP=1 -c "BEGIN" \
	-c "CREATE TABLE notes (id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL, body text)" \
	-c "CREATE INDEX ON notes (tenant_id, id)" -c "SELECT trovella.enable_tenant_isolation('notes')" \
	-c "SELECT trovella.enable_audit('notes')" -c "COMMIT" -c "GRANT SELECT, INSERT ON notes TO $APP" >/dev/null

# ---- backup and restore, the README's procedure ------------------------
# The head of tenant a handed out before the backup; records written
# after it, unsealed, are in the dump too.
# (a record of tenant a of its own: the sections above that write some
# skip where their tool is missing)
in_tenant $APP $A "INSERT INTO notes (body) VALUES ('a, sealed')" >/dev/null
as $OPS off -c "SELECT trovella.audit_seal()" >/dev/null
head_a=$(as $OPS off -c "SELECT trovella.audit_head('$A')")
case "$head_a" in trovella-audit-head:1:$A:*) ok 0 "backup: tenant a's head handed out before it" ;;
*) ok 1 "backup: tenant a's head handed out before it"; echo "#   got: $head_a" ;; esac
in_tenant $APP $A "INSERT INTO notes (body) VALUES ('a, unsealed')" >/dev/null
# tenant c's records: sealed in this database by pg_cron's job alone (below)
in_tenant $APP $C "INSERT INTO notes (body) VALUES ('c1'), ('c2')" >/dev/null
# history DB [LAST]: the records numbered up to LAST (all of them without)
history() {
	DB=$1 q -c "SELECT count(*) || ' ' || md5(string_agg(concat_ws(' ', seq, tenant_id, table_id, operation, row_key,
	                                                             user_id, role, at, old, new, hash), ',' ORDER BY seq))
	            FROM trovella.audit_history WHERE seq <= ${2:-'Infinity'::numeric}"
}
seals() {
	DB=$1 q -c "SELECT count(*) || ' ' || md5(string_agg(concat_ws(' ', tenant_id, seal_no, upto, records, digest),
	                                                     ',' ORDER BY tenant_id, seal_no)) FROM trovella.audit_seal"
}
registry() {
	DB=$1 q -c "SELECT string_agg(concat_ws(' ', id, relid, name, tenant_column, enabled), ',' ORDER BY id)
	            FROM trovella.audit_table"
}
src_history=$(history $SRC)
src_seals=$(seals $SRC)
src_registry=$(registry $SRC)
src_seq=$(q -c "SELECT max(seq) FROM trovella.audit_history")

dump=$dir/dump
mkdir "$dump"
PGUSER=$OPS pg_dump -Fc -d $SRC -f "$dump/app.dump" 2>"$dump/dump.err"
ok $? "backup: the operations role dumps the whole database, the audit history included"
[ -s "$dump/dump.err" ] && sed 's/^/#   /' "$dump/dump.err"
# the sealing job, scheduled now (after the dump, whose seals it would change)
if [ $with_cron -eq 1 ]; then
	cron_from=$(q -c "SELECT now()")
	PGUSER=$OPS q -c "SELECT cron.schedule('trovella-audit-seal', '* * * * *', 'SELECT trovella.audit_seal()')" >/dev/null
fi
prepare $DST
pg_restore -l "$dump/app.dump" |
	grep -v -E ' EXTENSION - | COMMENT - EXTENSION | SCHEMA - (public|trovella|partman) | ACL - SCHEMA (trovella|partman|cron) | ACL (trovella|partman|cron) | (TABLE DATA|SEQUENCE SET) cron ' \
		>"$dump/list"
PGUSER=$OPS pg_restore --single-transaction --exit-on-error -L "$dump/list" -d $DST "$dump/app.dump" 2>"$dump/restore.err"
status=$?
ok $status "restore: the operations role restores it in one transaction, the guard in error"
[ $status -eq 0 ] || sed 's/^/#   /' "$dump/restore.err"

DB=$DST
# (the restore's own statements that make the triggers are recorded after
# the restored records, in the history of no tenant, operation AUDIT)
is "$(history $DST $src_seq)|$(q -c "SELECT count(*) FILTER (WHERE tenant_id <> '$NIL' OR operation <> 'A')
                                     FROM trovella.audit_history WHERE seq > $src_seq")" "$src_history|0" \
	"restore: trovella.audit_history comes back record for record; the restore adds only records of no tenant"
is "$(seals $DST)" "$src_seals" "restore: trovella.audit_seal comes back seal for seal"
is "$(registry $DST)" "$src_registry" "restore: trovella.audit_table comes back, names and ids as before"
is "$(q -c "SELECT count(*) FILTER (WHERE table_name IS NOT NULL) || ' ' ||
                   count(*) FILTER (WHERE table_name::oid IS DISTINCT FROM to_regclass(name)::oid) || ' ' ||
                   bool_and(recording)
            FROM trovella.audit_status")|$(q -c "SELECT status FROM trovella.health WHERE check_name = 'audit'")" \
	"$(DB=$SRC q -c "SELECT count(*) FILTER (WHERE relid IS NOT NULL) FROM trovella.audit_table") 0 true|ok" \
	"restore: the registry's regclass names the restored tables, every one recording (health's audit check ok)"
is "$(verify $A "$head_a")" "true 1" \
	"restore: tenant a's history verifies against the head handed out before the backup (the record hashes survive)"
is "$(verify $B)" "true 0" "restore: tenant b's history verifies"
in_tenant $APP $A "INSERT INTO notes (body) VALUES ('a, restored')" >/dev/null
is "$(q -c "SELECT (min(seq) > $src_seq) || ' ' || count(*) FROM trovella.audit_history
            WHERE seq > $src_seq AND tenant_id = '$A'")" \
	"true 1" "restore: a write after the restore is recorded, numbered after the restored records (the sequence continued)"
is "$(as $OPS off -c "SELECT trovella.audit_seal()" >/dev/null;
	as $OPS off -c "SELECT split_part(trovella.audit_head('$A'), ':', 4)::int - split_part('$head_a', ':', 4)::int")|$(verify $A "$head_a")" \
	"1|true 0" "restore: audit_seal() seals the restored and the new records into the next seal; the old head still verifies"
is "$(as $OWNER error -v ON_ERROR_STOP=1 -c "BEGIN" \
	-c "CREATE TABLE later (id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL, body text)" \
	-c "CREATE INDEX ON later (tenant_id, id)" -c "SELECT trovella.enable_tenant_isolation('later')" \
	-c "SELECT trovella.enable_audit('later')" -c "COMMIT" 2>&1 | grep -c ERROR)|$(q -c "
	SELECT count(*) FROM trovella.audit_status WHERE table_name = 'later'::regclass AND recording")" "0|1" \
	"restore: enable_audit() on a new table works (the registry's numbering continued)"
DB=$SRC

# ---- pg_cron: the job ran and sealed -----------------------------------
if [ $with_cron -eq 1 ]; then
	for i in $(seq 90); do
		[ "$(q -c "SELECT count(*) FROM cron.job_run_details WHERE status = 'succeeded' AND start_time > '$cron_from'")" -gt 0 ] && break
		sleep 1
	done
	is "$(q -c "SELECT string_agg(DISTINCT d.status || ' ' || j.username, ',')
	            FROM cron.job_run_details d JOIN cron.job j USING (jobid) WHERE d.start_time > '$cron_from'")|$(verify $C)" \
		"succeeded $OPS|true 0" "pg_cron: the sealing job runs as the operations role and seals tenant c's records"
else
	skip 1 "pg_cron is not installed (scripts/install-deps ops)"
fi

DB=postgres
done_testing
