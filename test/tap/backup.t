#!/usr/bin/env bash
# Backups without a superuser (the managed-cloud case), as the README's
# Operations section says: a backup role that row-level security does not
# bind (BYPASSRLS, which the administrator role of a managed service can
# give), with pg_read_all_data and pg_write_all_data and membership in the
# owner, dumps the whole database and restores it in one transaction into a
# database the administrator prepared (trovella created, the guard in
# error).  Afterwards isolation, tokens and the membership registration are
# exactly as before.  A dump of the application's schema alone, which
# leaves the registration behind, fails closed.  The cluster's superuser
# plays the managed service's administrator only: it creates roles and
# databases and the extensions, nothing else.  The database is like a
# customer's: pg_partman manages a partitioned table (partitions made by a
# superuser's maintenance too) and pg_cron has a job, where they are
# installed; the server is one of the test's own, with pg_cron preloaded,
# listening on a socket in a temporary directory, stopped on every exit path.
set -u
. "$(dirname "$0")/lib.sh"
plan 17

# skip N REASON: N tests not run, each reported as skipped with the reason
skip() {
	local i
	for i in $(seq "$1"); do
		tap_n=$((tap_n + 1))
		echo "ok $tap_n # skip $2"
	done
}

own_servers data
port=$((20000 + RANDOM % 20000))
with_cron=0
[ -f "$(pg_config --pkglibdir)/pg_cron.so" ] && with_cron=1
as_server "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
[ $with_cron -eq 1 ] &&
	printf '%s\n' "shared_preload_libraries = 'pg_cron'" "cron.database_name = 'trovella_backup_src'" >>"$dir/data/postgresql.conf"
start "$dir/data" $port
export PGHOST=$dir PGPORT=$port PGUSER=postgres
DB=postgres
with_partman=0
[ "$(DB=postgres q -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_partman'")" = 1 ] && with_partman=1

A=aaaaaaaa-0000-0000-0000-000000000000
B=bbbbbbbb-0000-0000-0000-000000000000
U1=11111111-0000-0000-0000-000000000000
U2=22222222-0000-0000-0000-000000000000
SRC=trovella_backup_src
DST=trovella_backup_dst
PART=trovella_backup_public
OWNER=regress_bk_owner
APP=regress_bk_app
BACKUP=regress_bk_backup
BACKUP_PASSWORD=backup-$$-$RANDOM
dump=$dir/dump
mkdir "$dump"

for db in $SRC $DST $PART; do dropdb --if-exists $db >/dev/null 2>&1; done
q -c "DROP ROLE IF EXISTS $BACKUP; DROP ROLE IF EXISTS $APP; DROP ROLE IF EXISTS $OWNER" >/dev/null
q -c "CREATE ROLE $OWNER; CREATE ROLE $APP;
	CREATE ROLE $BACKUP LOGIN PASSWORD '$BACKUP_PASSWORD' BYPASSRLS IN ROLE pg_read_all_data, pg_write_all_data, $OWNER" >/dev/null

# prepare DB: what the administrator does for every database (the source
# and each restore target): the extension, the guard, the grants
# (pg_partman in its schema with the owner's grants; pg_cron only in the
# database it runs in)
prepare() {
	createdb -O $OWNER "$1"
	DB=$1 q -c "CREATE EXTENSION trovella;
		ALTER DATABASE $1 SET trovella.isolation_guard = error;
		GRANT EXECUTE ON FUNCTION trovella.use_membership(regclass, name, name, name) TO $OWNER;
		GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid), trovella.with_user(uuid),
		      trovella.pat_create(text, timestamptz, text[], uuid), trovella.pat_verify(text),
		      trovella.authenticate(text) TO $APP, $OWNER" >/dev/null
	[ $with_partman -eq 1 ] && DB=$1 q -c "CREATE SCHEMA partman; CREATE EXTENSION pg_partman SCHEMA partman;
		GRANT ALL ON SCHEMA partman TO $OWNER;
		GRANT ALL ON ALL TABLES IN SCHEMA partman TO $OWNER;
		GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA partman TO $OWNER;
		GRANT EXECUTE ON ALL PROCEDURES IN SCHEMA partman TO $OWNER" >/dev/null
	[ $with_cron -eq 1 ] && [ "$1" = $SRC ] &&
		DB=$1 q -c "CREATE EXTENSION pg_cron; GRANT USAGE ON SCHEMA cron TO $APP" >/dev/null
	return 0
}
prepare $SRC
DB=$SRC
as_owner() { q -c "SET ROLE $OWNER" "$@"; }
as_app() { q -c "SET ROLE $APP" "$@"; }
as_owner -v ON_ERROR_STOP=1 -c "BEGIN" -c "
	CREATE TABLE tenants (id uuid PRIMARY KEY, name text NOT NULL);
	COMMENT ON TABLE tenants IS 'trovella: reviewed: the tenant list itself';
	CREATE TABLE member (organization_id uuid NOT NULL REFERENCES tenants, user_id uuid NOT NULL, role text,
	                     PRIMARY KEY (organization_id, user_id));
	CREATE TABLE docs (id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL, body text);
	CREATE INDEX ON docs (tenant_id, id);
	SELECT trovella.enable_tenant_isolation('docs');
	CREATE TABLE events (tenant_id uuid NOT NULL, day int NOT NULL, what text) PARTITION BY RANGE (day);
	CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM (1) TO (2);
	CREATE TABLE events_2 PARTITION OF events FOR VALUES FROM (2) TO (3);
	CREATE INDEX ON events (tenant_id);
	SELECT trovella.enable_tenant_isolation('events');
	INSERT INTO tenants VALUES ('$A', 'a'), ('$B', 'b');
	INSERT INTO member VALUES ('$A', '$U1', 'admin'), ('$B', '$U2', 'member');
	SELECT trovella.use_membership('member', 'organization_id', 'user_id', 'role');
	GRANT SELECT, INSERT ON docs, events TO $APP" -c "COMMIT" >/dev/null
for pair in "$A $U1" "$B $U2"; do
	set -- $pair
	as_app -c "BEGIN" -c "SELECT trovella.with_tenant('$1', '$2')" \
		-c "INSERT INTO docs (body) SELECT 'doc ' || n FROM generate_series(1, 3) n" \
		-c "INSERT INTO events (day, what) VALUES (1, 'one'), (2, 'two')" -c "COMMIT" >/dev/null
done
# pg_partman, as the README sets it up, and maintenance run once by a
# superuser (a scheduler's job, say): its partitions are the owner's too
if [ $with_partman -eq 1 ]; then
	if [ "$(q -c "SELECT split_part(extversion, '.', 1) FROM pg_extension WHERE extname = 'pg_partman'")" = 4 ]; then
		form="p_type := 'native', p_interval := 'daily'"
	else
		form="p_interval := '1 day'"
	fi
	as_owner -v ON_ERROR_STOP=1 -c "BEGIN" -c "
		CREATE TABLE logs (id uuid NOT NULL DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL,
		                   created_at timestamptz NOT NULL DEFAULT now(), body text) PARTITION BY RANGE (created_at);
		CREATE INDEX ON logs (tenant_id, created_at);
		SELECT trovella.enable_tenant_isolation('logs');
		SELECT partman.create_parent(p_parent_table := 'public.logs', p_control := 'created_at', $form, p_premake := 2);
		SELECT trovella.enable_tenant_isolation('partman.template_public_logs');
		CREATE INDEX ON partman.template_public_logs (tenant_id, created_at);
		UPDATE partman.part_config SET infinite_time_partitions = true, ignore_default_data = true,
		                               inherit_privileges = true WHERE parent_table = 'public.logs';
		GRANT SELECT, INSERT ON logs TO $APP" -c "COMMIT" >/dev/null
	q -c "UPDATE partman.part_config SET premake = 4" -c "SELECT partman.run_maintenance()" >/dev/null
	as_app -c "BEGIN" -c "SELECT trovella.with_tenant('$A', '$U1')" -c "INSERT INTO logs (body) VALUES ('a log')" -c "COMMIT" >/dev/null
fi
# pg_cron, with the application's job
[ $with_cron -eq 1 ] && as_app -c "SELECT cron.schedule('nightly', '0 2 * * *', 'SELECT 1')" >/dev/null
token=$(as_app -c "BEGIN" -c "SELECT trovella.with_user('$U1')" \
	-c "SELECT token FROM trovella.pat_create('backup', now() + interval '1 day', '{}', '$A')" -c "COMMIT" | sed -n 2p)

# what must come back exactly: policies, RLS flags, the registration, tokens
# (pg_cron's own policies stay in the database pg_cron runs in)
state() {
	DB=$1 q -c "
		SELECT string_agg(format('%s %s %s %s %s', p.polrelid::regclass, p.polname, p.polpermissive,
		                         pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)),
		                  '; ' ORDER BY p.polrelid::regclass::text, p.polname) FROM pg_policy p
		WHERE p.polrelid::regclass::text NOT LIKE 'cron.%'" -c "
		SELECT string_agg(format('%s %s %s', c.oid::regclass, c.relrowsecurity, c.relforcerowsecurity), '; '
		                  ORDER BY c.oid::regclass::text)
		FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')" -c "
		SELECT format('%s %s %s %s', tbl, tenant_column, user_column, role_column) FROM trovella.membership" -c "
		SELECT string_agg(format('%s %s %s', user_id, token_hint, tenant_id), '; ' ORDER BY token_hint)
		FROM trovella.personal_access_token"
}
before=$(state $SRC)

# the dump, as the backup role: every schema, trovella's tables included
as_backup() { PGUSER=$BACKUP PGPASSWORD=$BACKUP_PASSWORD "$@"; }
as_backup pg_dump -Fc -d $SRC -f "$dump/app.dump" 2>"$dump/dump.err"
ok $? "the backup role dumps the whole database, every tenant's rows (no superuser)"
[ -s "$dump/dump.err" ] && sed 's/^/#   /' "$dump/dump.err"

# the restore, as the backup role, in one transaction, into a database the
# administrator prepared; the extension's own entries are the administrator's
prepare $DST
# (its schema, the extension, and the grants on trovella's functions)
# (the README's list: without what the administrator made, the extensions,
# their schemas and grants, nor pg_cron's jobs, which live in its database)
restore_list() {
	pg_restore -l "$1" | grep -v -E ' EXTENSION - | COMMENT - EXTENSION | SCHEMA - (public|trovella|partman) | ACL - SCHEMA (trovella|partman|cron) | ACL (trovella|partman|cron) | (TABLE DATA|SEQUENCE SET) cron '
}
restore_list "$dump/app.dump" >"$dump/list"
as_backup pg_restore --single-transaction --exit-on-error -L "$dump/list" -d $DST "$dump/app.dump" 2>"$dump/restore.err"
status=$?
ok $status "the backup role restores it in one transaction, the guard in error"
[ $status -eq 0 ] || sed 's/^/#   /' "$dump/restore.err"

after=$(state $DST)
is "$(sed -n 1p <<<"$after")" "$(sed -n 1p <<<"$before")" "every policy restored exactly"
is "$(sed -n 2p <<<"$after")" "$(sed -n 2p <<<"$before")" "row-level security enabled and forced as before"
is "$(sed -n 3p <<<"$after")" "$(sed -n 3p <<<"$before")" "the membership registration restored"
is "$(sed -n 4p <<<"$after")" "$(sed -n 4p <<<"$before")" "every token restored (as hashes)"
is "$(DB=$DST q -c "SELECT count(*) FROM trovella.isolation_status WHERE problems <> '{}'")" "0" \
	"isolation_status finds nothing wrong in the restored database"
if [ $with_partman -eq 1 ]; then
	is "$(DB=$SRC q -c "SELECT count(*) FILTER (WHERE relowner <> '$OWNER'::regrole) || ' ' || (count(*) >= 6)
	                   FROM pg_partition_tree('logs') t JOIN pg_class c ON c.oid = t.relid")" "0 true" \
		"pg_partman: the partitions a superuser's maintenance made are the owner's (inherit_privileges)"
	is "$(DB=$DST q -c "SELECT (SELECT count(*) FROM partman.part_config WHERE parent_table = 'public.logs') || ' ' ||
	                           (SELECT count(*) FROM pg_partition_tree('logs'))")" \
		"1 $(DB=$SRC q -c "SELECT count(*) FROM pg_partition_tree('logs')")" \
		"pg_partman: its configuration and every partition restored"
	DB=$DST
	is "$(as_app -c "BEGIN" -c "SELECT trovella.with_tenant('$A', '$U1')" -c "SELECT count(*) FROM logs" -c "COMMIT" | sed -n 2p)" \
		"1" "pg_partman: the tenant's rows of the managed table restored"
	DB=$SRC
else
	skip 3 "pg_partman is not installed (scripts/install-deps ops)"
fi

DB=$DST
is "$(as_app -c "BEGIN" -c "SELECT trovella.with_tenant('$A', '$U1')" \
	-c "SELECT (SELECT count(*) FROM docs) || '/' || (SELECT count(*) FROM events) || '/' ||
	           (SELECT count(*) FROM docs WHERE tenant_id <> '$A')" -c "COMMIT" | sed -n 2p)" "3/2/0" \
	"a member reads its tenant's rows, and only those"
is "$(as_app -c "BEGIN" -c "SELECT trovella.with_tenant('$B', '$U1')" | tail -n 1)" "ERROR 42501" \
	"a non-member still cannot open the tenant"
is "$(as_app -c "BEGIN" -c "SELECT user_id FROM trovella.authenticate('$token')" \
	-c "SELECT trovella.current_tenant()" -c "COMMIT" | sed -n 1,2p | paste -sd '|')" \
	"$U1|$A" "a token made before the backup authenticates, bound to its tenant"
is "$(as_app -c "SELECT count(*) FROM docs" | tail -n 1)" "ERROR 42501" \
	"a read without context fails closed"

# the application's schema alone: trovella's tables (the registration, the
# tokens) stay behind.  The member table's marker makes the restored
# database refuse user-tenant pairings rather than allow every one.
as_backup pg_dump -Fc --schema=public -d $SRC -f "$dump/public.dump" 2>/dev/null
prepare $PART
restore_list "$dump/public.dump" >"$dump/public.list"
as_backup pg_restore --single-transaction --exit-on-error -L "$dump/public.list" -d $PART "$dump/public.dump" 2>"$dump/public.err"
status=$?
ok $status "a dump of the public schema alone restores"
[ $status -eq 0 ] || sed 's/^/#   /' "$dump/public.err"
DB=$PART
is "$(as_app -c "BEGIN" -c "SELECT trovella.with_tenant('$B', '$U1')" | tail -n 1)" "ERROR 55000" \
	"without the registration, a non-member's pairing fails closed (55000), not open"
is "$(as_owner -c "SELECT trovella.use_membership('member', 'organization_id', 'user_id', 'role')" >/dev/null;
	as_app -c "BEGIN" -c "SELECT trovella.with_tenant('$B', '$U1')" | tail -n 1)" "ERROR 42501" \
	"registered again, membership is checked again"

done_testing
