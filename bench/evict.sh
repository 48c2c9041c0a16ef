#!/usr/bin/env bash
# Eviction of per-tenant statistics at 5,000, 50,000 and 200,000 tenants
# (trovella.stats_max_tenants, a restart each): on a full table, a pgbench
# client opens a new tenant in every transaction (one eviction pass every
# 5 % of the limit), while a bystander runs its own tenant's transactions.
# Reported: the slowest new-tenant transaction (the one that evicted) and
# how much slower the bystander's slowest transaction was than in a quiet
# run of the same length.  Targets: 10 ms and 5 ms.
#
# Needs a server of its own (the limit is a postmaster setting): it starts
# one on a socket in a temporary directory, and stops it on every exit path.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh

bindir=$(pg_config --bindir)
as_server() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
dir=$(mktemp -d)
chmod 755 "$dir"
[ "$(id -u)" -eq 0 ] && chown postgres "$dir"
data=$dir/data
stop() {
	[ -f "$data/postmaster.pid" ] && as_server "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1
	rm -rf "$dir"
}
trap stop EXIT
port=$((20000 + RANDOM % 20000))
as_server "$bindir/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
printf '%s\n' "shared_preload_libraries = 'trovella'" "listen_addresses = ''" "port = $port" \
	"unix_socket_directories = '$dir'" "max_connections = 20" >>"$data/postgresql.conf"
export PGHOST=$dir PGPORT=$port PGUSER=postgres PGDATABASE=postgres
restart() {  # restart LIMIT
	[ -f "$data/postmaster.pid" ] && as_server "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null
	as_server "$bindir/pg_ctl" -D "$data" -l "$dir/log" -w -o "-c trovella.stats_max_tenants=$1 -c trovella.stats_save=off" start >/dev/null
}
restart 5000
psql -X -q -c "CREATE EXTENSION trovella" >/dev/null

cd "$dir"
cat >newcomer.sql <<'SQL'
BEGIN;
SELECT trovella.with_tenant(gen_random_uuid());
COMMIT;
SQL
cat >bystander.sql <<'SQL'
BEGIN;
SELECT trovella.with_tenant('00000000-0000-0000-0000-00000000000b');
SELECT 1;
COMMIT;
SQL
# slowest transaction, in ms, of the pgbench logs with prefix $1
slowest() { cat "$1".* | awk '{ if ($3 > m) m = $3 } END { printf "%.2f", m / 1000 }'; rm -f "$1".*; }
typical() { cat "$1".* | awk '{ print $3 / 1000 }' | median; }

echo "== statistics eviction (a new tenant per transaction on a full table; a bystander alongside)"
for limit in 5000 50000 200000; do
	restart "$limit"
	# fill: every transaction a new tenant
	pgbench -n -c 2 -j 2 -t $((limit / 2 + 10)) -f newcomer.sql >/dev/null 2>&1
	passes=4
	txns=$((limit / 20 * passes))
	# quiet: the bystander alone
	pgbench -n -c 1 -t "$txns" -f bystander.sql -l --log-prefix=quiet >/dev/null 2>&1
	quiet=$(slowest quiet)
	# the newcomers evicting, the bystander alongside for the same time
	pgbench -n -c 1 -t "$txns" -f newcomer.sql -l --log-prefix=new >/dev/null 2>&1 &
	pgbench -n -c 1 -t "$txns" -f bystander.sql -l --log-prefix=busy >/dev/null 2>&1
	wait
	evictions=$(psql -X -At -c "SELECT evictions FROM trovella.tenant_stats_info")
	new_typical=$(typical new)
	new_worst=$(slowest new)
	busy=$(slowest busy)
	extra=$(awk -v a="$busy" -v b="$quiet" 'BEGIN { d = a - b; printf "%.2f", d < 0 ? 0 : d }')
	report "new tenant at the limit, slowest transaction (ms), $limit tenants" "$new_worst" "<=" 10 \
		"typical $new_typical ms; $evictions evictions"
	report "bystander's slowest transaction, extra (ms), $limit tenants" "$extra" "<=" 5 \
		"$busy ms during evictions, $quiet ms alone"
done
