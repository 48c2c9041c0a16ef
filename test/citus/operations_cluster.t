#!/usr/bin/env bash
# Citus operations on isolated tables (operations.sh) on a coordinator and
# two workers, the coordinator in the metadata as the README requires (so
# reference tables and Citus local tables have a placement on it).
set -u
here=$(dirname "$0")
. "$here/../tap/lib.sh"
CITUS_KEY=1
. "$here/cluster.sh"
. "$here/operations.sh"
MULTI=true
plan 120

# logical replication, which create_distributed_table_concurrently needs
if ! citus_start "wal_level = logical" "max_replication_slots = 20" "max_wal_senders = 20"; then
	ok 1 "the cluster starts"
	exit 1
fi
ok 0 "the cluster starts ($CITUS_NODES)"

setup=$(c -c "CREATE EXTENSION trovella" -c "CREATE ROLE app LOGIN" \
	-c "GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO app" \
	-c "SELECT result FROM run_command_on_workers(\$\$GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO app\$\$)" 2>&1 |
	grep ERROR)
is "$setup" "" "the extension and the application role, its grant on every node"

for mode in error auto; do
	guard $mode
	run_operations $mode "guard $mode"
done
done_testing
