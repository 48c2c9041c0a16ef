#!/usr/bin/env bash
# Citus's table conversions copy a table with INSERT INTO new SELECT * FROM
# old as the caller, then drop the old one.  Run by the table's owner in a
# tenant context, forced row-level security let the copy see one tenant's
# rows: the other tenants' rows were lost, with no error (issue 32 point 1);
# alter_table_set_access_method too, on every kind of table.
# trovella refuses the copy (42501): nothing is lost, and a role that
# row-level security does not bind runs the conversion with every row kept.
set -u
here=$(dirname "$0")
. "$here/../tap/lib.sh"
CITUS_KEY=1
. "$here/cluster.sh"
plan 17

if ! citus_start "trovella.isolation_guard = 'error'"; then
	ok 1 "the cluster starts"
	exit 1
fi
ok 0 "a coordinator and two workers start"

A=aaaaaaaa-0000-0000-0000-000000000000
c() { citus_psql coord "$@"; }
owner() { CITUS_USER=app_owner citus_psql coord "$@"; }
rows() { c -c "SELECT count(*) || ' rows, ' || count(DISTINCT tenant_id) || ' tenants' FROM $1"; }

setup=$(c -c "CREATE EXTENSION trovella" -c "CREATE ROLE app_owner LOGIN" \
	-c "GRANT CREATE ON SCHEMA public TO app_owner" \
	-c "GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO app_owner" \
	-c "SELECT result FROM run_command_on_workers(\$\$GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO app_owner\$\$)" 2>&1)
setup="$setup
$(owner -c "BEGIN" -c "CREATE TABLE conv (tenant_id uuid NOT NULL, id bigint NOT NULL, PRIMARY KEY (tenant_id, id))" \
	-c "SELECT trovella.enable_tenant_isolation('conv')" -c "COMMIT" 2>&1)"
setup="$setup
$(c -c "SELECT create_distributed_table('conv', 'tenant_id', shard_count := 4)" \
	-c "INSERT INTO conv SELECT CASE WHEN g <= 30 THEN '$A'::uuid
		ELSE ('bbbbbbbb-0000-0000-0000-' || lpad(g::text, 12, '0'))::uuid END, g
		FROM generate_series(1, 150) g WHERE g <= 30 OR g > 48" 2>&1)"
is "$(echo "$setup" | grep ERROR)" "" "an isolated distributed table owned by app_owner, 132 rows of 103 tenants"
is "$(rows conv)" "132 rows, 103 tenants" "every row is there before the conversions"

is "$(owner -c "BEGIN" -c "SELECT trovella.with_tenant('$A')" \
	-c "SELECT alter_distributed_table('conv', shard_count := 6)" -c "COMMIT" | tail -n 1)" "ERROR 42501" \
	"the owner in a tenant context: alter_distributed_table is refused (42501), not run on one tenant's rows"
is "$(rows conv)" "132 rows, 103 tenants" "... and no row is lost"
is "$(owner -c "BEGIN" -c "SELECT trovella.with_tenant('$A')" \
	-c "SELECT undistribute_table('conv')" -c "COMMIT" | tail -n 1)" "ERROR 42501" \
	"the owner in a tenant context: undistribute_table is refused (42501)"
is "$(rows conv)" "132 rows, 103 tenants" "... and no row is lost"

# alter_table_set_access_method copies the same way, whatever the table
# is: a table of one node, distributed, a reference table, a Citus local table
for t in loc ref cl; do
	owner -c "BEGIN" -c "CREATE TABLE $t (tenant_id uuid NOT NULL, id bigint NOT NULL, PRIMARY KEY (tenant_id, id))" \
		-c "SELECT trovella.enable_tenant_isolation('$t')" -c "COMMIT" | grep ERROR | sed "s/^/# $t: /"
done
c -c "SELECT create_reference_table('ref')" -c "SELECT citus_add_local_table_to_metadata('cl')" | grep ERROR | sed 's/^/# am: /'
for t in loc ref cl; do
	c -c "INSERT INTO $t SELECT * FROM conv" | grep ERROR | sed "s/^/# $t rows: /"
done
for t in loc conv ref cl; do
	is "$(owner -c "BEGIN" -c "SELECT trovella.with_tenant('$A')" \
		-c "SELECT alter_table_set_access_method('$t', 'columnar')" -c "COMMIT" | tail -n 1)" "ERROR 42501" \
		"the owner in a tenant context: alter_table_set_access_method on $t is refused (42501)"
	is "$(rows $t)" "132 rows, 103 tenants" "... and no row is lost"
done

# a role that row-level security does not bind sees every row (the
# operations role's own rights on Citus are issue 32 point 2)
is "$(c -c "SELECT alter_distributed_table('conv', shard_count := 6)" 2>&1 | grep ERROR)" "" \
	"a role that row-level security does not bind runs alter_distributed_table"
is "$(rows conv)" "132 rows, 103 tenants" "... keeping every row"
done_testing
