#!/usr/bin/env bash
# The install scripts are migrations: a database created at every released
# version, populated, then updated, equals a fresh install object for
# object and keeps working; the library built now serves it before the
# update; pg_dump and restore carry tokens, policies and defaults.
set -u
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.."
# every released version reached by an upgrade script, besides the oldest
later_released=$(grep -v '^#' sql/RELEASED | awk 'NF == 2 { print $2 }' |
	sed -nE 's/^trovella--[0-9.]+--([0-9.]+)\.sql$/\1/p')
plan $((24 + 5 * $(printf '%s\n' "$later_released" | grep -c .)))

OLD=trovella_upgrade_old
NEW=trovella_upgrade_fresh
RESTORED=trovella_upgrade_restored
APP=regress_upgrade_app
APP_PASSWORD=upgrade-$$-$RANDOM
A=aaaaaaaa-0000-0000-0000-000000000000
B=bbbbbbbb-0000-0000-0000-000000000000
U=cccccccc-0000-0000-0000-000000000000
oldest=$(grep -v '^#' sql/RELEASED | awk 'NF == 2 { print $2 }' | sed -nE 's/^trovella--([0-9.]+)\.sql$/\1/p' | head -n 1)
default_version=$(sed -nE "s/^default_version = '([^']+)'.*/\1/p" trovella.control)

for db in $OLD $NEW $RESTORED; do dropdb --if-exists $db >/dev/null 2>&1; done
q -c "DROP ROLE IF EXISTS $APP" >/dev/null
createdb $OLD
createdb $NEW
createdb $RESTORED

as_app() { PGUSER=$APP PGPASSWORD=$APP_PASSWORD q "$@"; }

# A database at the oldest released version, in use.
DB=$OLD q -c "CREATE EXTENSION trovella VERSION '$oldest'" >/dev/null
is "$(DB=$OLD q -c "SELECT extversion FROM pg_extension WHERE extname = 'trovella'")" "$oldest" \
	"a database is created at the oldest released version, $oldest"
DB=$OLD q -c "
	CREATE ROLE $APP LOGIN PASSWORD '$APP_PASSWORD';
	GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid), trovella.with_user(uuid),
		trovella.pat_create(text, timestamptz, text[]), trovella.pat_verify(text), trovella.pat_list() TO $APP;
	CREATE TABLE docs (id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL, body text);
	CREATE INDEX ON docs (tenant_id, id);
	SELECT trovella.enable_tenant_isolation('docs');
	GRANT SELECT, INSERT ON docs TO $APP;
	INSERT INTO docs (tenant_id, body) VALUES ('$A', 'a1'), ('$A', 'a2'), ('$B', 'b1');" >/dev/null 2>&1
token=$(DB=$OLD as_app -c "BEGIN" -c "SELECT trovella.with_user('$U')" \
	-c "SELECT token FROM trovella.pat_create('upgrade', now() + interval '1 day')" -c "COMMIT" | grep '^trv_')

# The library built now serves the old SQL definitions.
is "$(DB=$OLD as_app -c "SELECT count(*) FROM trovella.pat_verify('$token')")" "1" \
	"at $oldest, a token made with today's library verifies"
is "$(DB=$OLD as_app -c "BEGIN" -c "SELECT trovella.with_tenant('$A')" -c "SELECT string_agg(body, ',' ORDER BY body) FROM docs" -c "COMMIT" | sed -n 2p)" \
	"a1,a2" "at $oldest, tenant isolation works with today's library"
is "$(DB=$OLD as_app -c "BEGIN" -c "SELECT trovella.with_tenant('$A', '$U')" -c "SELECT string_agg(body, ',' ORDER BY body) FROM docs" -c "COMMIT" | sed -n 2p)" \
	"a1,a2" "at $oldest, with_tenant with a user works with today's library (no membership table yet)"
is "$(DB=$OLD q -c "SELECT trovella.uuid_to_ulid(trovella.ulid_to_uuid('01ARZ3NDEKTSV4RRFFQ69G5FAV'))")" \
	"01ARZ3NDEKTSV4RRFFQ69G5FAV" "at $oldest, the id functions work with today's library"

# ALTER EXTENSION UPDATE to the default version.
DB=$OLD q -c "ALTER EXTENSION trovella UPDATE" >/dev/null
is "$(DB=$OLD q -c "SELECT extversion FROM pg_extension WHERE extname = 'trovella'")" "$default_version" \
	"ALTER EXTENSION trovella UPDATE reaches $default_version"
is "$(DB=$OLD as_app -c "SELECT user_id FROM trovella.pat_verify('$token')")" "$U" \
	"after the update the token still verifies, for its user"
is "$(DB=$OLD as_app -c "BEGIN" -c "SELECT trovella.with_tenant('$B')" -c "SELECT string_agg(body, ',') FROM docs" -c "COMMIT" | sed -n 2p)" \
	"b1" "after the update tenant isolation still holds"
is "$(DB=$OLD as_app -c "SELECT count(*) FROM docs" | tail -n 1)" "ERROR 42501" \
	"after the update a read without context still fails closed"
is "$(DB=$OLD q -c "SELECT problems FROM trovella.isolation_status WHERE table_name = 'docs'::regclass")" "{}" \
	"after the update the isolated table has no problem"
is "$(DB=$OLD q -c "SET trovella.isolation_guard = error" -c "DROP POLICY trovella_tenant_access ON docs" | tail -n 1)" \
	"ERROR 55000" "after the update the guard refuses a DROP POLICY (0.3.0)"
# a membership registration made after the update (0.3.0) ...
DB=$OLD q -c "CREATE TABLE org_member (organization_id uuid NOT NULL, user_id uuid NOT NULL, role text,
	PRIMARY KEY (organization_id, user_id));
	INSERT INTO org_member VALUES ('$B', '$U', 'admin');
	SELECT trovella.use_membership('org_member', 'organization_id', 'user_id', 'role')" >/dev/null
is "$(DB=$OLD as_app -c "BEGIN" -c "SELECT trovella.with_tenant('$A', '$U')" | tail -n 1)" "ERROR 42501" \
	"after the update a registered membership table is checked (0.3.0)"

# the audit trail (0.5.0) on a table isolated before the update, the
# guard in error: enabled, recording, a write recorded and sealed
is "$(DB=$OLD q -c "SET trovella.isolation_guard = error" -c "SELECT FROM trovella.enable_audit('docs')" \
	-c "INSERT INTO docs (tenant_id, body) VALUES ('$A', 'a3')" \
	-c "SELECT (SELECT recording FROM trovella.audit_status WHERE table_name = 'docs'::regclass) || ' ' ||
	           (SELECT count(*) FROM trovella.audit_log WHERE table_name = 'docs'::regclass AND new->>'body' = 'a3')" \
	-c "SELECT trovella.audit_seal() > 0" -c "SELECT ok FROM trovella.audit_verify('$A')" | paste -sd '|')" \
	"true 1|t|t" "after the update enable_audit() records the table, and the record seals and verifies"
DB=$OLD q -c "DELETE FROM docs WHERE body = 'a3'" >/dev/null

# Object for object, the updated database equals a fresh install.
DB=$NEW q -c "CREATE EXTENSION trovella" >/dev/null
old_catalog=$(DB=$OLD q -f test/upgrade/catalog.sql)
new_catalog=$(DB=$NEW q -f test/upgrade/catalog.sql)
is "$(printf '%s\n' "$new_catalog" | grep -c .)" "$(printf '%s\n' "$old_catalog" | grep -c .)" \
	"the updated and the fresh database list as many extension objects"
changes=$(diff <(printf '%s\n' "$old_catalog") <(printf '%s\n' "$new_catalog"))
is "$changes" "" "updated and fresh: same functions, volatility, strictness, security, ACLs, tables, indexes, event triggers, settings"
ok $([ "$(printf '%s\n' "$new_catalog" | grep -c '^event trigger|trovella_isolation_guard|')" -eq 1 ]; echo $?) \
	"the comparison covers the event trigger"
ok $([ "$(printf '%s\n' "$new_catalog" | grep -c '^event trigger|trovella_isolation_guard_drop|')" -eq 1 ]; echo $?) \
	"the comparison covers the DROP POLICY event trigger (0.3.0)"
ok $([ "$(printf '%s\n' "$new_catalog" | grep -c '^function|')" -ge 30 ]; echo $?) \
	"the comparison covers every function"
# the audit trail's objects (0.5.0): its tables, sequences (CACHE 1: the
# seal's rule), policies, event triggers, and what pg_dump dumps with them
is "$(printf '%s\n' "$new_catalog" | grep -cE '^(relation\|trovella\.audit_(history|seal|table|log|status)\||sequence\|trovella\.audit_(seq|table_id_seq)\|.* 1$|policy\|trovella\.audit_history\.|event trigger\|trovella_audit_(table_drop|partitions)\|)')|$(
	printf '%s\n' "$new_catalog" | grep '^extension|' | grep -o 'trovella\.audit_[a-z_]*' | sort | paste -sd ' ')" \
	"12|trovella.audit_history trovella.audit_seal trovella.audit_seq trovella.audit_table trovella.audit_table_id_seq" \
	"the comparison covers the audit trail's tables, sequences, policies, event triggers and dumped tables"

# pg_dump and restore of the populated, updated database.
dump="${TMPDIR:-/tmp}/trovella_upgrade.$$.sql"
pg_dump -d $OLD >"$dump"
restore_log=$(psql -X -q -v ON_ERROR_STOP=1 -d $RESTORED -f "$dump" 2>&1)
ok $? "the dump restores without error"
rm -f "$dump"
is "$(printf '%s\n' "$restore_log" | grep -c 'WARNING')" "0" "the restore raises no warning (the isolation guard stands aside)"
is "$(DB=$RESTORED as_app -c "SELECT user_id FROM trovella.pat_verify('$token')")" "$U" \
	"in the restored database the token rows came along and the token verifies"
is "$(DB=$RESTORED q -c "SELECT relforcerowsecurity::text || '|' || trovella.is_isolated('docs', 'tenant_id')::text || '|' || (SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef WHERE adrelid = 'docs'::regclass AND adnum = 2) || '|' || (SELECT string_agg(body, ',' ORDER BY body) FROM docs) FROM pg_class WHERE oid = 'docs'::regclass")" \
	"true|true|trovella.current_tenant()|a1,a2,b1" \
	"in the restored database the FORCE flag, policies, default and rows survive"
is "$(DB=$RESTORED as_app -c "BEGIN" -c "SELECT trovella.with_tenant('$B', '$U')" -c "SELECT trovella.current_member_role()" | sed -n 2p)" \
	"admin" "... survives the dump and restore of the updated database"

# Every later released version, updated, equals a fresh install too.
for version in $later_released; do
	dropdb --if-exists trovella_upgrade_from >/dev/null 2>&1
	createdb trovella_upgrade_from
	DB=trovella_upgrade_from q -c "CREATE EXTENSION trovella VERSION '$version'" >/dev/null
	# today's library judges DDL at commit with that version's definitions
	is "$(DB=trovella_upgrade_from q -c "SET trovella.isolation_guard = error" -c "BEGIN" \
		-c "CREATE TABLE g (tenant_id uuid NOT NULL)" -c "SELECT trovella.enable_tenant_isolation('g')" \
		-c "COMMIT" -c "SELECT trovella.is_isolated('g', 'tenant_id')" 2>&1 | tail -n 1)" "t" \
		"at $version, with today's library, the guard in error accepts a table isolated in its transaction"
	# a membership table registered at that version (if it has membership),
	# as that version's library registered it: without the marker before 0.4.0
	DB=trovella_upgrade_from q -c "CREATE TABLE m (org uuid, usr uuid, PRIMARY KEY (org, usr))" \
		-c "SELECT trovella.use_membership('m', 'org', 'usr')
		    WHERE to_regprocedure('trovella.use_membership(regclass, name, name, name)') IS NOT NULL" >/dev/null
	if [ "$(printf '%s\n' "$version" 0.4.0 | sort -V | head -n 1)" != 0.4.0 ]; then
		DB=trovella_upgrade_from q -c "ALTER TABLE m DROP CONSTRAINT IF EXISTS trovella_membership" >/dev/null
	fi
	is "$(DB=trovella_upgrade_from q -c "ALTER EXTENSION trovella UPDATE" -c "SELECT extversion FROM pg_extension WHERE extname = 'trovella'")" \
		"$default_version" "a database created at $version updates to $default_version"
	is "$(DB=trovella_upgrade_from q -c "SELECT (SELECT count(*) FROM trovella.membership) || ' registered, ' ||
		(SELECT count(*) FROM pg_constraint WHERE conrelid = 'm'::regclass AND conname = 'trovella_membership') || ' marked'")" \
		"$(DB=trovella_upgrade_from q -c "SELECT count(*) FROM trovella.membership") registered, $(DB=trovella_upgrade_from q -c "SELECT count(*) FROM trovella.membership") marked" \
		"updated from $version, the registered member table carries its marker"
	DB=trovella_upgrade_from q -c "SELECT trovella.stop_membership()" -c "DROP TABLE m" >/dev/null
	is "$(diff <(DB=trovella_upgrade_from q -f test/upgrade/catalog.sql) <(printf '%s\n' "$new_catalog"))" "" \
		"updated from $version, it equals a fresh install object for object"
	is "$(DB=trovella_upgrade_from q -c "SET trovella.isolation_guard = error" \
		-c "BEGIN" -c "CREATE TABLE au (id int PRIMARY KEY, tenant_id uuid NOT NULL)" -c "CREATE INDEX ON au (tenant_id)" \
		-c "SELECT trovella.enable_tenant_isolation('au')" -c "SELECT trovella.enable_audit('au')" -c "COMMIT" \
		-c "INSERT INTO au VALUES (1, '$A')" \
		-c "SELECT recording || ' ' || (SELECT count(*) FROM trovella.audit_log WHERE table_name = 'au'::regclass AND operation = 'INSERT')
		    FROM trovella.audit_status WHERE table_name = 'au'::regclass" 2>&1 | tail -n 1)" "true 1" \
		"updated from $version, enable_audit() records a table"
	dropdb trovella_upgrade_from
done

for db in $OLD $NEW $RESTORED; do dropdb $db; done
q -c "DROP ROLE $APP" >/dev/null
done_testing
