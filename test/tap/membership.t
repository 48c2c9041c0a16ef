#!/usr/bin/env bash
# Membership across transactions and databases: the check sees memberships
# removed or added by transactions that committed after the checking
# transaction began, even in REPEATABLE READ (it reads the latest snapshot,
# not the transaction's); pg_dump and restore keep the registration.
set -u
. "$(dirname "$0")/lib.sh"
plan 7

A=aaaaaaaa-0000-0000-0000-000000000000
U1=11111111-0000-0000-0000-000000000000
U2=22222222-0000-0000-0000-000000000000
APP=regress_member_tap_app
APP_PASSWORD=member-$$-$RANDOM
DST=trovella_member_restored

dropdb --if-exists $DST >/dev/null 2>&1
q -c "DROP TABLE IF EXISTS tap_member; DROP ROLE IF EXISTS $APP" >/dev/null
q -c "CREATE ROLE $APP LOGIN PASSWORD '$APP_PASSWORD';
	GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO $APP;
	CREATE TABLE tap_member (organization_id uuid NOT NULL, user_id uuid NOT NULL, role text,
	                         PRIMARY KEY (organization_id, user_id));
	INSERT INTO tap_member VALUES ('$A', '$U1', 'admin');
	SELECT trovella.use_membership('tap_member', 'organization_id', 'user_id', 'role');" >/dev/null

as_app() { PGUSER=$APP PGPASSWORD=$APP_PASSWORD q "$@"; }
# the other session, as the table's owner (the cluster's superuser)
OWNER_ENV="PGUSER=${PGUSER:-$(id -un)} PGPASSWORD=${PGPASSWORD:-}"

# In one REPEATABLE READ transaction whose snapshot predates the change,
# another session removes U1's membership (and adds U2's), then commits.
out=$(as_app -v ON_ERROR_STOP=0 -f - <<SQL 2>&1
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) FROM trovella.membership;
\! env $OWNER_ENV psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "DELETE FROM tap_member WHERE user_id = '$U1'; INSERT INTO tap_member VALUES ('$A', '$U2', 'member')"
SAVEPOINT s;
SELECT trovella.with_tenant('$A', '$U1');
ROLLBACK TO SAVEPOINT s;
SELECT trovella.with_tenant('$A', '$U2');
SELECT trovella.current_member_role();
COMMIT;
SQL
)
is "$(printf '%s\n' "$out" | grep -c '^ERROR 42501$')" "1" \
	"a membership removed by a transaction that committed after the snapshot is refused"
is "$(printf '%s\n' "$out" | tail -n 1)" "member" \
	"a membership added after the snapshot is accepted, with its role"

# A READ COMMITTED statement that began before a removal committed and asks
# for the pair after it: refused, as in REPEATABLE READ above.  The statement
# waits on an advisory lock the owner's session holds until its removal has
# committed (the statement's own snapshot predates the removal).
q -c "INSERT INTO tap_member VALUES ('$A', '$U1', 'admin')" >/dev/null
work=$(mktemp -d)
q -v ON_ERROR_STOP=1 -f - >/dev/null <<SQL
SELECT pg_advisory_lock(35036);
\! (PGUSER=$APP PGPASSWORD=$APP_PASSWORD psql -X -q -At -v VERBOSITY=sqlstate -d "$DB" -c "BEGIN" -c "SELECT trovella.with_tenant('$A', '$U1') FROM (SELECT pg_advisory_lock_shared(35036)) s" -c "ROLLBACK" >"$work/app.out" 2>&1; touch "$work/done") &
\! for i in \$(seq 100); do [ "\$(psql -X -At -d "$DB" -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 35036 AND NOT granted")" = 1 ] && { touch "$work/waited"; break; }; sleep 0.05; done
DELETE FROM tap_member WHERE user_id = '$U1';
SELECT pg_advisory_unlock(35036);
SQL
for i in $(seq 100); do [ -e "$work/done" ] && break; sleep 0.05; done
is "$([ -e "$work/waited" ] && echo waited)|$(sed -E 's/^(psql:[^ ]* )?ERROR:  ([0-9A-Z]{5}).*/ERROR \2/' "$work/app.out" | grep -v '^$' | tr '\n' ' ')" "waited|ERROR 42501 " \
	"a READ COMMITTED statement begun before a removal committed (it waited on the lock) is refused when it asks for the pair after"
rm -rf "$work"

# pg_dump and restore keep the registration, and the restored database checks it.
q -c "INSERT INTO tap_member VALUES ('$A', '$U1', 'admin')" >/dev/null
createdb $DST
dump="${TMPDIR:-/tmp}/trovella_member.$$.sql"
pg_dump -d "$DB" >"$dump"
psql -X -q -v ON_ERROR_STOP=1 -d $DST -f "$dump" >/dev/null 2>&1
ok $? "the dump restores"
rm -f "$dump"
is "$(DB=$DST q -c "SELECT tbl::text || '|' || tenant_column || '|' || user_column || '|' || role_column FROM trovella.membership")" \
	"tap_member|organization_id|user_id|role" "the registration came along"
is "$(DB=$DST as_app -c "BEGIN" -c "SELECT trovella.with_tenant('$A', '33333333-0000-0000-0000-000000000000')" | tail -n 1)" \
	"ERROR 42501" "the restored database refuses a non-member"
is "$(DB=$DST as_app -c "BEGIN" -c "SELECT trovella.with_tenant('$A', '$U1')" -c "SELECT trovella.current_member_role()" | tail -n 1)" \
	"admin" "and accepts a member, with the role"

dropdb $DST
q -c "SELECT trovella.stop_membership(); DROP TABLE tap_member;
	REVOKE ALL ON FUNCTION trovella.with_tenant(uuid, uuid) FROM $APP; DROP ROLE $APP" >/dev/null
done_testing
