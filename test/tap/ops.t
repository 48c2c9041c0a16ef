#!/usr/bin/env bash
# Day-2 tools on isolated tables, in every guard mode, run by the roles that
# run them in production: pg_partman (create_parent and run_maintenance by
# the table's owner, not a superuser) and pg_repack (by a superuser, as its
# client requires).  Each ends with the tool's work done and isolation
# intact: every partition isolated, no tenant reading another's rows through
# the parent or any child, policies, forced RLS and the tenant default kept.
# A tool whose packages this system lacks is skipped, with the reason.
set -u
. "$(dirname "$0")/lib.sh"
MODES="off warn error auto"
plan 37

A=aaaaaaaa-0000-0000-0000-000000000000
B=bbbbbbbb-0000-0000-0000-000000000000
NIL=00000000-0000-0000-0000-000000000000
OPS_DB=trovella_ops
OWNER=regress_ops_owner
APP=regress_ops_app
BACKUP=regress_ops_backup

available() { [ "$(q -c "SELECT count(*) FROM pg_available_extensions WHERE name = '$1'")" = 1 ]; }

# skip N REASON: N tests not run, each reported as skipped with the reason
skip() {
	local i
	for i in $(seq "$1"); do
		tap_n=$((tap_n + 1))
		echo "ok $tap_n # skip $2"
	done
}

dropdb --if-exists $OPS_DB >/dev/null 2>&1
q -c "DROP ROLE IF EXISTS $BACKUP; DROP ROLE IF EXISTS $OWNER; DROP ROLE IF EXISTS $APP" >/dev/null
createdb $OPS_DB
DB=$OPS_DB
q -c "CREATE EXTENSION trovella;
	CREATE ROLE $OWNER; CREATE ROLE $APP;
	GRANT CREATE ON SCHEMA public TO $OWNER;
	GRANT TEMPORARY ON DATABASE $OPS_DB TO $OWNER;
	GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO $APP, $OWNER" >/dev/null

# as ROLE MODE SQL...: one connection as ROLE, the guard in MODE (a
# superuser's setting, as ALTER DATABASE ... SET would make it)
as() {
	local role=$1 mode=$2
	shift 2
	q -c "SET trovella.isolation_guard = $mode" -c "SET client_min_messages = warning" \
		-c "SET ROLE $role" "$@"
}

# rows of another tenant that tenant T reads through TABLE and each of its
# partitions (0 when isolation holds)
foreign_rows() {
	local table=$1 tenant=$2
	as $APP off -c "BEGIN" -c "SELECT trovella.with_tenant('$tenant')" -c "
		SELECT sum(n) FROM (
			SELECT count(*) AS n FROM $table WHERE tenant_id <> '$tenant'
			UNION ALL
			SELECT (xpath('/row/n/text()',
			              query_to_xml(format('SELECT count(*) AS n FROM %s WHERE tenant_id <> %L',
			                                  t.relid, '$tenant'), false, true, '')))[1]::text::bigint
			FROM pg_partition_tree('$table') t WHERE t.level > 0) c" -c "COMMIT" | sed -n 2p
}

# ---- pg_partman ------------------------------------------------------
if available pg_partman; then
	q -c "CREATE SCHEMA partman; CREATE EXTENSION pg_partman SCHEMA partman;
		GRANT ALL ON SCHEMA partman TO $OWNER;
		GRANT ALL ON ALL TABLES IN SCHEMA partman TO $OWNER;
		GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA partman TO $OWNER;
		GRANT EXECUTE ON ALL PROCEDURES IN SCHEMA partman TO $OWNER" >/dev/null
	# 4.x (Debian 12) names the partitioning type; 5.x (Debian 13 on) does not
	partman_version=$(q -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_partman'")
	partman_major=${partman_version%%.*}
	# a row beyond the premade days stops maintenance before pg_partman 5.5
	# (4.7 on Debian 12, 5.2.4 on Debian 13); 5.5.0 (testing) goes on
	late_stops=false
	[ "$(printf '%s\n' "$partman_version" 5.5.0 | sort -V | head -n 1)" != 5.5.0 ] && late_stops=true
	if [ "$partman_major" = 4 ]; then
		create_parent="partman.create_parent(p_parent_table := 'public.%s', p_control := 'created_at', p_type := 'native', p_interval := 'daily', p_premake := 3)"
	else
		create_parent="partman.create_parent(p_parent_table := 'public.%s', p_control := 'created_at', p_interval := '1 day', p_premake := 3)"
	fi
	for mode in $MODES; do
		t=events_$mode
		# the README's procedure: isolate the parent, then create_parent()
		# and the template's isolation and tenant index in one transaction;
		# partitions that another role makes belong to the owner
		# (inherit_privileges); maintenance goes by
		# the clock (infinite_time_partitions), and runs in the nil tenant's
		# context, where it sees no tenant's rows: pg_partman 5 reads a row of
		# each partition, which forced RLS refuses without a context
		out=$(as $OWNER "$mode" -v ON_ERROR_STOP=1 \
			-c "BEGIN" \
			-c "CREATE TABLE $t (id uuid NOT NULL DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL,
			                     created_at timestamptz NOT NULL DEFAULT now(), body text)
			    PARTITION BY RANGE (created_at)" \
			-c "CREATE INDEX ON $t (tenant_id, created_at)" \
			-c "SELECT trovella.enable_tenant_isolation('$t')" \
			-c "SELECT $(printf "$create_parent" "$t")" \
			-c "SELECT trovella.enable_tenant_isolation('partman.template_public_$t')" \
			-c "CREATE INDEX ON partman.template_public_$t (tenant_id, created_at)" \
			-c "UPDATE partman.part_config SET infinite_time_partitions = true, ignore_default_data = true,
			           inherit_privileges = true, premake = 5, retention = '1 day'
			    WHERE parent_table = 'public.$t'" \
			-c "COMMIT" \
			-c "GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO $APP" 2>&1)
		# today's rows, so that maintenance finds rows in the partitions
		for tenant in $A $B; do
			as $APP off -c "BEGIN" -c "SELECT trovella.with_tenant('$tenant')" \
				-c "INSERT INTO $t (body) SELECT 'row ' || n FROM generate_series(1, 5) n" \
				-c "COMMIT" >/dev/null
		done
		# maintenance as pg_cron runs a job: one implicit transaction, every
		# partition set (the previous modes' too, which have rows)
		out+=$(as $OWNER "$mode" -v ON_ERROR_STOP=1 \
			-c "SELECT trovella.with_tenant('$NIL'); SELECT partman.run_maintenance()" \
			-c "GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO $APP" 2>&1)
		status=0
		case "$out" in *ERROR*) status=1 ;; esac
		ok $status "pg_partman, guard $mode: create_parent() and run_maintenance() as the owner"
		[ $status -eq 0 ] || echo "$out" | sed 's/^/#   /'
		for tenant in $A $B; do
			as $APP off -c "BEGIN" -c "SELECT trovella.with_tenant('$tenant')" \
				-c "INSERT INTO $t (body, created_at) VALUES ('later', now() + interval '4 days')" \
				-c "COMMIT" >/dev/null
		done
		# (the parent, the default, today's and at least five days ahead)
		is "$(q -c "SELECT count(*) FILTER (WHERE NOT trovella.is_isolated(t.relid, 'tenant_id')) || ' not isolated, ' ||
		                   (count(*) >= 8) || ', template isolated: ' ||
		                   trovella.is_isolated('partman.template_public_$t', 'tenant_id')
		            FROM pg_partition_tree('$t') t")" \
			"0 not isolated, true, template isolated: true" \
			"pg_partman, guard $mode: every partition it made, and its template, isolated"
		# retention dropped the partitions that ended more than a day ago
		is "$(q -c "SELECT count(*) FROM pg_partition_tree('$t') t JOIN pg_class c ON c.oid = t.relid
		            WHERE substring(pg_get_expr(c.relpartbound, c.oid) FROM \$\$TO \('([^']+)'\)\$\$)::timestamptz
		                  < now() - interval '1 day'")" "0" \
			"pg_partman, guard $mode: retention dropped the old partitions"
		is "$(foreign_rows "$t" $A)|$(foreign_rows "$t" $B)" "0|0" \
			"pg_partman, guard $mode: no tenant reads another's rows through the parent or a child"
	done
	# maintenance made today's and the coming days' partitions: the rows were
	# routed to them, not to the default partition
	is "$(as $APP off -c "BEGIN" -c "SELECT trovella.with_tenant('$A')" \
		-c "SELECT count(*) FROM ONLY events_error_default" -c "COMMIT" | sed -n 2p)" "0" \
		"pg_partman: nothing piled up in the default partition"
	is "$(as $OWNER off -c "SELECT count(*) FROM events_error" | tail -n 1)" "ERROR 42501" \
		"pg_partman: the owner's read without a tenant still fails closed"

	# A row dated beyond the premade days lands in the default partition,
	# and maintenance stops (P0001) on the day it reaches that date: the
	# late row blocks the partition for its day.  The README's repair: the
	# operations role (which row-level security does not bind) moves the
	# default partition's rows into partitions of their own, which
	# inherit_privileges gives to the owner, so that retention can drop
	# them; the owner then fills the days between (partition_gap_fill), in
	# the nil tenant's context, and maintenance runs again.  premake = 35
	# makes maintenance reach the late row's day now rather than in a month.
	q -c "CREATE ROLE $BACKUP BYPASSRLS IN ROLE pg_read_all_data, pg_write_all_data, $OWNER" >/dev/null
	for mode in warn error; do
		t=late_$mode
		as $OWNER "$mode" -v ON_ERROR_STOP=1 \
			-c "BEGIN" \
			-c "CREATE TABLE $t (id uuid NOT NULL DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL,
			                     created_at timestamptz NOT NULL DEFAULT now(), body text)
			    PARTITION BY RANGE (created_at)" \
			-c "CREATE INDEX ON $t (tenant_id, created_at)" \
			-c "SELECT trovella.enable_tenant_isolation('$t')" \
			-c "SELECT $(printf "$create_parent" "$t")" \
			-c "SELECT trovella.enable_tenant_isolation('partman.template_public_$t')" \
			-c "CREATE INDEX ON partman.template_public_$t (tenant_id, created_at)" \
			-c "UPDATE partman.part_config SET infinite_time_partitions = true, ignore_default_data = true,
			           inherit_privileges = true, retention = '3 days'
			    WHERE parent_table = 'public.$t'" \
			-c "COMMIT" -c "GRANT SELECT, INSERT ON $t TO $APP" >/dev/null 2>&1
		as $APP off -c "BEGIN" -c "SELECT trovella.with_tenant('$A')" \
			-c "INSERT INTO $t (body, created_at) VALUES ('today', now()), ('late', now() + interval '30 days'),
			                                             ('old', now() - interval '10 days')" \
			-c "COMMIT" >/dev/null
		as $OWNER "$mode" -c "UPDATE partman.part_config SET premake = 35 WHERE parent_table = 'public.$t'" >/dev/null
		# (pg_partman 5.5 goes on: ignore_default_data, set above, leaves the
		# default partition's rows alone)
		if $late_stops; then
			is "$(as $OWNER "$mode" -c "SELECT trovella.with_tenant('$NIL'); SELECT partman.run_maintenance('public.$t')" |
				tail -n 1)" "ERROR P0001" \
				"pg_partman $partman_version, guard $mode: a row beyond the premade days stops maintenance (P0001)"
		else
			is "$(as $OWNER "$mode" -c "SELECT trovella.with_tenant('$NIL'); SELECT partman.run_maintenance('public.$t')" |
				tail -n 1)" "" \
				"pg_partman $partman_version, guard $mode: a row beyond the premade days does not stop maintenance"
		fi
		out=$(as $BACKUP "$mode" -v ON_ERROR_STOP=1 -c "CALL partman.partition_data_proc('public.$t')" 2>&1 &&
			as $OWNER "$mode" -v ON_ERROR_STOP=1 \
				-c "SELECT trovella.with_tenant('$NIL'); SELECT partman.partition_gap_fill('public.$t')" \
				-c "SELECT trovella.with_tenant('$NIL'); SELECT partman.run_maintenance('public.$t')" 2>&1)
		status=$?
		case "$out" in *ERROR*) status=1 ;; esac
		ok $status "pg_partman, guard $mode: the default partition's rows moved by the operations role, the gap filled, maintenance and retention run again"
		[ $status -eq 0 ] || echo "$out" | sed 's/^/#   /'
		# every day from the oldest partition to the newest has its partition,
		# none older than retention keeps, each the owner's and isolated
		is "$(q -c "WITH p AS (
		                SELECT c.oid, c.relowner,
		                       substring(pg_get_expr(c.relpartbound, c.oid) FROM \$\$FROM \('([^']+)'\)\$\$)::timestamptz AS lo
		                FROM pg_partition_tree('$t') t JOIN pg_class c ON c.oid = t.relid
		                WHERE t.level = 1 AND NOT c.relpartbound IS NULL AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT')
		            SELECT (count(*) = extract(day FROM max(lo) - min(lo)) + 1) || ' ' ||
		                   (min(lo) >= now() - interval '4 days') || ' ' ||
		                   (max(lo) >= now() + interval '30 days') || ' ' ||
		                   bool_and(pg_get_userbyid(relowner) = '$OWNER') || ' ' ||
		                   bool_and(trovella.is_isolated(oid, 'tenant_id'))
		            FROM p")" "true true true true true" \
			"pg_partman, guard $mode: no day without its partition, old ones dropped, every one the owner's and isolated"
		is "$(as $APP off -c "BEGIN" -c "SELECT trovella.with_tenant('$A')" \
			-c "SELECT count(*) FILTER (WHERE tableoid = '${t}_default'::regclass) || ' ' ||
			           string_agg(body, ',' ORDER BY created_at) FROM $t" \
			-c "COMMIT" | sed -n 2p)" "0 today,late" \
			"pg_partman, guard $mode: the late row in its own day's partition, the old one gone with its partition"
	done
	# the recipe ends with every table isolated, templates included
	is "$(q -c "SELECT status FROM trovella.health WHERE check_name = 'isolation'")" "ok" \
		"pg_partman: health's isolation check is ok after the recipe (the templates have their tenant index)"
else
	skip 27 "pg_partman is not installed (scripts/install-deps ops)"
fi

# ---- pg_repack -------------------------------------------------------
repack=$(pg_config --bindir)/pg_repack
if available pg_repack && [ -x "$repack" ]; then
	q -c "CREATE EXTENSION pg_repack" >/dev/null
	for mode in $MODES; do
		t=docs_$mode
		as $OWNER off -v ON_ERROR_STOP=1 \
			-c "CREATE TABLE $t (id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL, body text)" \
			-c "CREATE INDEX ON $t (tenant_id, id)" \
			-c "SELECT trovella.enable_tenant_isolation('$t')" \
			-c "GRANT SELECT, INSERT, DELETE ON $t TO $APP" >/dev/null
		for tenant in $A $B; do
			as $APP off -c "BEGIN" -c "SELECT trovella.with_tenant('$tenant')" \
				-c "INSERT INTO $t (body) SELECT 'row ' || n FROM generate_series(1, 200) n" \
				-c "DELETE FROM $t WHERE body LIKE '%5'" -c "COMMIT" >/dev/null
		done
		before=$(q -c "SELECT relfilenode FROM pg_class WHERE oid = '$t'::regclass")
		out=$(PGOPTIONS="${PGOPTIONS:-} -c trovella.isolation_guard=$mode" \
			"$repack" --no-order -d $OPS_DB -t "public.$t" 2>&1)
		status=$?
		after=$(q -c "SELECT relfilenode FROM pg_class WHERE oid = '$t'::regclass")
		[ "$status" -eq 0 ] && [ "$before" != "$after" ]
		ok $? "pg_repack, guard $mode: the table is repacked (a new relfilenode)"
		[ "$status" -eq 0 ] || echo "$out" | sed 's/^/#   /'
		is "$(q -c "SELECT c.relrowsecurity AND c.relforcerowsecurity AND trovella.is_isolated(c.oid, 'tenant_id')
		                   AND trovella.has_tenant_default(c.oid, 'tenant_id')
		            FROM pg_class c WHERE c.oid = '$t'::regclass")|$(foreign_rows "$t" $A)|$(foreign_rows "$t" $B)" \
			"t|0|0" "pg_repack, guard $mode: policies, forced RLS and tenant default intact; tenants still apart"
	done
	# the allowance is for pg_repack's work, by a role that RLS does not bind:
	# an owner cannot park an unisolated tenant table in its schema
	q -c "GRANT USAGE, CREATE ON SCHEMA repack TO $OWNER" >/dev/null
	is "$(as $OWNER error -c "CREATE TABLE repack.sneaky (tenant_id uuid NOT NULL)" | tail -n 1)" "ERROR 55000" \
		"pg_repack: its schema is no way around the guard for anyone else"
	is "$(q -c "SELECT to_regclass('repack.sneaky') IS NULL")" "t" "pg_repack: the refused table does not exist"
else
	skip 10 "pg_repack is not installed (scripts/install-deps ops)"
fi

DB=${TROVELLA_TEST_DB:-trovella_tap}
dropdb $OPS_DB
q -c "DROP ROLE IF EXISTS $BACKUP; DROP ROLE $OWNER; DROP ROLE $APP" >/dev/null
done_testing
