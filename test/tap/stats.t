#!/usr/bin/env bash
# Per-tenant statistics (0.3.0) on clusters of its own, since they need
# shared_preload_libraries and restarts: exact counts for known workloads,
# the row without a tenant, who may read, eviction, a clean restart, a hot
# standby's own counts, and the 55000 without the preload.  Servers listen
# on a socket in a temporary directory only, and stop on every exit path.
set -u
. "$(dirname "$0")/lib.sh"
plan 42

own_servers standby primary
PRIMARY=$dir/primary
STANDBY=$dir/standby

port_primary=$((20000 + RANDOM % 20000))
port_standby=$((port_primary + 1))
s() { psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -h "$dir" -p "$port_primary" -U postgres -d postgres "$@" 2>&1 |
	sed -E 's/^psql:[^ ]* ERROR:  ([0-9A-Z]{5}).*/ERROR \1/; s/^ERROR:  ([0-9A-Z]{5}).*/ERROR \1/'; }
app() { s -c "SET ROLE stats_app" "$@"; }

as_server "$bindir/initdb" -D "$PRIMARY" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
printf '%s\n' "shared_preload_libraries = 'trovella'" "trovella.stats_max_tenants = 20" \
	"wal_level = replica" "max_wal_senders = 2" >>"$PRIMARY/postgresql.conf"
echo "local replication postgres trust" >>"$PRIMARY/pg_hba.conf"
start "$PRIMARY" $port_primary
s -c "CREATE EXTENSION trovella;
	CREATE ROLE stats_app; CREATE ROLE stats_watcher IN ROLE pg_read_all_stats; CREATE ROLE stats_nobody;
	GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO stats_app;
	CREATE TABLE docs (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant_id uuid NOT NULL, body text);
	CREATE INDEX ON docs (tenant_id);
	SELECT trovella.enable_tenant_isolation('docs');
	GRANT SELECT, INSERT, UPDATE ON docs TO stats_app;
	SELECT trovella.tenant_stats_reset();" >/dev/null

A=aaaaaaaa-0000-0000-0000-000000000000
B=bbbbbbbb-0000-0000-0000-000000000000
# tenant A: 2 transactions of 3 statements (with_tenant, INSERT 10 rows, a count)
for _ in 1 2; do
	app -c "BEGIN" -c "SELECT trovella.with_tenant('$A')" \
		-c "INSERT INTO docs (body) SELECT 'a' FROM generate_series(1, 10)" \
		-c "SELECT count(*) FROM docs" -c "COMMIT" >/dev/null
done
# tenant B: 1 transaction of 2 statements (with_tenant, an UPDATE of no row), and a failed one
app -c "BEGIN" -c "SELECT trovella.with_tenant('$B')" -c "UPDATE docs SET body = 'b'" -c "COMMIT" >/dev/null
app -c "BEGIN" -c "SELECT trovella.with_tenant('$B')" -c "SELECT 1 / 0" >/dev/null
row() { s -c "SELECT concat_ws('|', transactions, statements, rows) FROM trovella.tenant_stats WHERE tenant_id = '$1'"; }
is "$(row $A)" "2|6|24" "tenant A: 2 transactions, 6 statements, 24 rows (with_tenant's, 20 inserted, 2 counts)"
is "$(row $B)" "2|3|2" "tenant B: 2 transactions (one rolled back), 3 statements that ended, 2 rows (with_tenant's)"
is "$(s -c "SELECT wal_records > 0 AND wal_bytes > 0 AND shared_blks_hit + shared_blks_read > 0 AND total_exec_time > 0
	AND max_exec_time <= total_exec_time AND first_activity <= last_activity FROM trovella.tenant_stats WHERE tenant_id = '$A'")" \
	"t" "tenant A's inserts show WAL, buffers, time and activity times"
before=$(s -c "SELECT statements FROM trovella.tenant_stats WHERE tenant_id IS NULL")
s -c "SELECT 1" -c "SELECT 2" >/dev/null
is "$(s -c "SELECT statements - $before FROM trovella.tenant_stats WHERE tenant_id IS NULL")" "3" \
	"work without a context lands in the row without a tenant (2 statements, and the reading one)"
is "$(s -c "SELECT count(*) FROM trovella.tenant_stats WHERE tenant_id IN ('$A', '$B') OR tenant_id IS NULL")" "3" \
	"the view lists both tenants and the row without one"
# (0.5.0) a suspended tenant is marked in the view: suspended_at
s -c "SELECT trovella.suspend_tenant('$B', 'stats')" >/dev/null
is "$(s -c "SELECT concat_ws('|', tenant_id, suspended_at IS NOT NULL) FROM trovella.tenant_stats
	WHERE tenant_id IN ('$A', '$B') ORDER BY tenant_id")" "$A|f
$B|t" "the view says which tenant is suspended (suspended_at), and which not"
s -c "SELECT trovella.resume_tenant('$B')" >/dev/null

# the Prometheus exporter, with examples/prometheus/queries.yaml, on a
# loopback port: the two tenants' counters as labelled metrics
exporter=$(command -v prometheus-postgres-exporter || command -v postgres_exporter || true)
if [ -n "$exporter" ]; then
	port_exporter=$((port_primary + 2))
	# (its lib/pq refuses to start with pg_virtualenv's PGSYSCONFDIR set)
	env -u PGSYSCONFDIR -u PGHOST -u PGPORT -u PGUSER -u PGPASSWORD -u PGDATABASE \
		DATA_SOURCE_NAME="postgresql://postgres@:$port_primary/postgres?host=$dir&sslmode=disable" \
		"$exporter" --web.listen-address="127.0.0.1:$port_exporter" --disable-default-metrics \
		--disable-settings-metrics --extend.query-path="$PWD/examples/prometheus/queries.yaml" \
		>"$dir/exporter.log" 2>&1 &
	exporter_pid=$!
	trap 'kill $exporter_pid 2>/dev/null; wait $exporter_pid 2>/dev/null; stop_all' EXIT
	metrics=""
	for _ in $(seq 50); do
		metrics=$(curl -sf "http://127.0.0.1:$port_exporter/metrics" || true)
		printf '%s\n' "$metrics" | grep -q '^trovella_tenant_statements_total' && break
		sleep 0.2
	done
	kill $exporter_pid 2>/dev/null
	wait $exporter_pid 2>/dev/null
	metric() { printf '%s\n' "$metrics" | grep "^trovella_tenant_$1{" | grep "tenant_id=\"$2\"" | awk '{ print $2 }'; }
	is "$(metric statements_total $A) $(metric transactions_total $A) $(metric rows_total $A)" "6 2 24" \
		"the exporter serves tenant A's statements, transactions and rows"
	is "$(metric statements_total $B) $(metric transactions_total $B)" "3 2" "and tenant B's"
	[ "$tap_failed" -eq 0 ] || grep -m 5 -iE "panic|error|level=" "$dir/exporter.log" | sed 's/^/# exporter: /'
else
	for _ in 1 2; do
		tap_n=$((tap_n + 1))
		echo "ok $tap_n # SKIP prometheus-postgres-exporter is not installed"
	done
fi

# top-level statements by default; nested ones with stats_track = all; none
nested() {  # nested TENANT TRACK
	s -c "SET trovella.stats_track = '$2'" -c "SET ROLE stats_app" -c "BEGIN" -c "SELECT trovella.with_tenant('$1')" \
		-c "DO \$\$ BEGIN PERFORM count(*) FROM docs; PERFORM count(*) FROM docs; END \$\$" -c "COMMIT" >/dev/null
	s -c "SELECT coalesce((SELECT statements FROM trovella.tenant_stats WHERE tenant_id = '$1'), 0)"
}
is "$(nested dddddddd-0000-0000-0000-000000000001 top)" "2" "stats_track = top: with_tenant and the DO block"
is "$(nested dddddddd-0000-0000-0000-000000000002 all)" "4" "stats_track = all: and the two statements the DO block runs"
is "$(nested dddddddd-0000-0000-0000-000000000003 none)" "0" "stats_track = none: nothing"

# a job that commits per tenant (a procedure called at top level): each
# transaction is counted for the tenant it opened; its statements only with
# stats_track = all, since they are nested in the CALL
s -c "CREATE PROCEDURE per_tenant(ids uuid[]) LANGUAGE plpgsql AS \$\$
	DECLARE t uuid;
	BEGIN
		FOREACH t IN ARRAY ids LOOP
			PERFORM trovella.with_tenant(t);
			PERFORM count(*) FROM docs;
			COMMIT;
		END LOOP;
	END \$\$;
	GRANT EXECUTE ON PROCEDURE per_tenant(uuid[]) TO stats_app" >/dev/null
job() {  # job TRACK TENANT1 TENANT2: each tenant's transactions|statements
	s -c "SET trovella.stats_track = '$1'" -c "SET ROLE stats_app" -c "CALL per_tenant(ARRAY['$2', '$3']::uuid[])" >/dev/null
	s -c "SELECT string_agg(concat_ws('|', transactions, statements), ' ' ORDER BY tenant_id)
	      FROM trovella.tenant_stats WHERE tenant_id IN ('$2', '$3')"
}
is "$(job top dddddddd-0000-0000-0000-000000000011 dddddddd-0000-0000-0000-000000000012)" "1|0 1|0" \
	"a per-tenant job, stats_track = top: each tenant's transaction counted, not the statements nested in the CALL"
is "$(job all dddddddd-0000-0000-0000-000000000013 dddddddd-0000-0000-0000-000000000014)" "1|2 1|2" \
	"stats_track = all: each tenant's transaction and its two statements, for that tenant"

# a refused DECLARE ... WITH HOLD (25000) leaves the connection counting:
# the same backend, then a second transaction of two statements
H=dddddddd-0000-0000-0000-000000000004
is "$(s -v ON_ERROR_STOP=0 -c "SET ROLE stats_app" -c "BEGIN" -c "SELECT trovella.with_tenant('$H')" \
	-c "DECLARE held CURSOR WITH HOLD FOR SELECT 1" -c "ROLLBACK" \
	-c "BEGIN" -c "SELECT trovella.with_tenant('$H')" -c "SELECT count(*) FROM docs" -c "COMMIT" | grep -c 'ERROR 25000')" "1" \
	"DECLARE ... WITH HOLD in a tenant transaction is refused (25000)"
is "$(s -c "SELECT concat_ws('|', transactions, statements) FROM trovella.tenant_stats WHERE tenant_id = '$H'")" "2|3" \
	"after the refusal the connection goes on counting (0.4.0 stopped: 2|1)"

# who may read: pg_read_all_stats, superusers; nobody else
is "$(s -c "SET ROLE stats_watcher" -c "SELECT count(*) > 0 FROM trovella.tenant_stats")" "t" "a member of pg_read_all_stats reads it"
is "$(s -c "SET ROLE stats_nobody" -c "SELECT count(*) FROM trovella.tenant_stats" | tail -n 1)" "ERROR 42501" "anyone else is refused"
is "$(s -c "SET ROLE stats_watcher" -c "SELECT trovella.tenant_stats_reset()" | tail -n 1)" "ERROR 42501" "only a superuser resets"

# reset one tenant
s -c "SELECT trovella.tenant_stats_reset('$B')" >/dev/null
is "$(s -c "SELECT count(*) FROM trovella.tenant_stats WHERE tenant_id = '$B'")" "0" "tenant_stats_reset(tenant) forgets that tenant only"

# a clean restart keeps the counts
as_server "$bindir/pg_ctl" -D "$PRIMARY" -m fast -w stop >/dev/null
start "$PRIMARY" $port_primary
is "$(row $A)" "2|6|24" "after a clean restart tenant A's counts are back"
health_stats() { s -c "SELECT status || ': ' || coalesce((SELECT reason FROM trovella.tenant_stats_loss()), 'nothing lost')
                       FROM trovella.health WHERE check_name = 'statistics'"; }
is "$(health_stats)" "ok: nothing lost" "health's statistics check is ok, nothing lost"
# an immediate stop: the postmaster still exits normally, and saves
as_server "$bindir/pg_ctl" -D "$PRIMARY" -m immediate -w stop >/dev/null
start "$PRIMARY" $port_primary
is "$(row $A)|$(health_stats)" "2|6|24|ok: nothing lost" "after an immediate stop the counts are back too"
# a backend crash: the postmaster reinitialises shared memory, and the
# counts until then are lost; health says so until a full reset
s -c "SELECT pg_sleep(30)" >/dev/null 2>&1 &
sleeper=$!
pid=""
for _ in $(seq 50); do
	pid=$(s -c "SELECT pid FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)'")
	[ -n "$pid" ] && break
	sleep 0.1
done
kill -9 "$pid"
wait $sleeper
for _ in $(seq 50); do s -c "SELECT 1" >/dev/null 2>&1 && [ "$(s -c "SELECT count(*) FROM trovella.tenant_stats WHERE tenant_id IS NOT NULL")" = 0 ] && break; sleep 0.2; done
is "$(row $A)|$(health_stats)" \
	"|warning: the server restarted after a crash; the counts until then were not saved" \
	"a backend crash loses the counts, and health's statistics check says so"
s -c "SELECT trovella.tenant_stats_reset()" >/dev/null
is "$(health_stats)" "ok: nothing lost" "a full reset acknowledges it"
# a postmaster that never exits normally (killed): the next start says so
app -c "BEGIN" -c "SELECT trovella.with_tenant('$A')" -c "COMMIT" >/dev/null
kill -9 "$(head -n 1 "$PRIMARY/postmaster.pid")"
# (its backends notice and exit; until then the old shared memory is in use)
for _ in $(seq 20); do sleep 0.5; start "$PRIMARY" $port_primary 2>/dev/null && break; done
is "$(row $A)|$(health_stats)" \
	"|warning: the server did not shut down normally (killed, or the machine stopped); the counts of its last run were not saved" \
	"a killed postmaster loses the counts of its run, and the next start says so"
s -c "SELECT trovella.tenant_stats_reset()" >/dev/null
app -c "BEGIN" -c "SELECT trovella.with_tenant('$A')" -c "SELECT count(*) FROM docs" -c "COMMIT" >/dev/null
app -c "BEGIN" -c "SELECT trovella.with_tenant('$A')" -c "SELECT count(*) FROM docs" -c "COMMIT" >/dev/null

# eviction: 25 more tenants, of one transaction each, in a table of 20
for i in $(seq 10 34); do
	app -c "BEGIN" -c "SELECT trovella.with_tenant('$(printf 'cccccccc-0000-0000-0000-%012d' "$i")')" -c "COMMIT" >/dev/null
done
is "$(s -c "SELECT evictions > 0 AND tenants <= max_tenants AND max_tenants = 20 FROM trovella.tenant_stats_info")" "t" \
	"a full table evicts tenants and says how many"
is "$(s -c "SELECT count(*) FROM trovella.tenant_stats WHERE tenant_id = '$(printf 'cccccccc-0000-0000-0000-%012d' 34)'")" "1" \
	"the most recent tenant is kept"
is "$(s -c "SELECT count(*) FROM trovella.tenant_stats WHERE tenant_id = '$(printf 'cccccccc-0000-0000-0000-%012d' 10)'")" "0" \
	"the least recently active of the tenants seen once was evicted"
is "$(s -c "SELECT count(*) FROM trovella.tenant_stats WHERE tenant_id = '$A'")" "1" \
	"tenant A, older but with two transactions, outlived them"

# churn: 15 tenants with two transactions each, then a role inventing 300
# tenant ids: the flood evicts itself, and costs the real tenants at most
# one pass (5 % of 20: one tenant)
s -c "SELECT trovella.tenant_stats_reset()" >/dev/null
for i in $(seq 1 15) $(seq 1 15); do
	printf "BEGIN; SELECT trovella.with_tenant('%s'); COMMIT;\n" "$(printf 'dddddddd-0000-0000-0000-%012d' "$i")"
done | app -f - >/dev/null
for i in $(seq 1 300); do
	printf "BEGIN; SELECT trovella.with_tenant('%s'); COMMIT;\n" "$(printf 'eeeeeeee-0000-0000-0000-%012d' "$i")"
done | app -f - >/dev/null
is "$(s -c "SELECT count(*) >= 14 FROM trovella.tenant_stats WHERE tenant_id::text LIKE 'dddddddd-%' AND transactions = 2")" "t" \
	"a flood of 300 invented tenant ids leaves at least 14 of the 15 real tenants' counters"
is "$(s -c "SELECT evictions >= 280 FROM trovella.tenant_stats_info")" "t" \
	"the flood evicted its own entries"

# a hot standby counts its own work
as_server "$bindir/pg_basebackup" -h "$dir" -p $port_primary -U postgres -D "$STANDBY" -R >/dev/null 2>&1
start "$STANDBY" $port_standby
for _ in 1 2 3; do
	psql -X -q -At -h "$dir" -p $port_standby -U postgres -d postgres -c "SET ROLE stats_app" -c "BEGIN" \
		-c "SELECT trovella.with_tenant('$A')" -c "SELECT count(*) FROM docs" -c "COMMIT" >/dev/null 2>&1
done
is "$(psql -X -q -At -h "$dir" -p $port_standby -U postgres -d postgres \
	-c "SELECT concat_ws('|', pg_is_in_recovery(), transactions, statements) FROM trovella.tenant_stats WHERE tenant_id = '$A'")" \
	"t|3|6" "a hot standby counts its own transactions and statements"
as_server "$bindir/pg_ctl" -D "$STANDBY" -m fast -w stop >/dev/null

# a damaged statistics file is logged and ignored, whole: the primary saves
# its table at each clean stop; the file is altered (its CRC-32 made right
# again where the damage is inside), the server started
cat >"$dir/damage.pl" <<'PERL'
use strict;
use warnings;
my ($mode, $path) = @ARGV;
open(my $fh, '<:raw', $path) or die "$path: $!";
my $file = do { local $/; <$fh> };
close($fh);
my ($header, $record, $is_null, $last_activity) = (32, 129, 16, 121);
sub crc32 {
	my $c = 0xFFFFFFFF;
	for my $b (unpack 'C*', $_[0]) {
		$c ^= $b;
		$c = ($c >> 1) ^ (($c & 1) ? 0xEDB88320 : 0) for 1 .. 8;
	}
	return $c ^ 0xFFFFFFFF;
}
my $body = substr($file, 0, length($file) - 4);
if ($mode eq 'truncated') { $file = substr($file, 0, int(length($file) / 2)); }
elsif ($mode eq 'flipped') { substr($file, $header + 3, 1) = chr(ord(substr($file, $header + 3, 1)) ^ 0x40); }
else {
	if ($mode eq 'is_null') { substr($body, $header + $is_null, 1) = chr(2); }
	elsif ($mode eq 'time') { substr($body, $header + $last_activity, 8) = pack('q', 9223372036854775000); }
	elsif ($mode eq 'record_size') { substr($body, 8, 4) = pack('L', $record + 8); }
	elsif ($mode ne 'resealed') { die "unknown mode $mode"; }
	$file = $body . pack('L', crc32($body));
}
open($fh, '>:raw', $path) or die "$path: $!";
print $fh $file;
close($fh);
PERL
damage() {  # damage MODE: two tenants' work, a clean stop, the file altered, a start
	for t in $A $B; do app -c "BEGIN" -c "SELECT trovella.with_tenant('$t')" -c "COMMIT" >/dev/null; done
	as_server "$bindir/pg_ctl" -D "$PRIMARY" -m fast -w stop >/dev/null
	perl "$dir/damage.pl" "$1" "$PRIMARY/pg_stat/trovella_tenant_stats.stat"
	start "$PRIMARY" $port_primary
	echo "$(grep -c 'ignoring the saved per-tenant statistics' "$PRIMARY.log")|$(s -c "SELECT count(*) FROM trovella.tenant_stats WHERE tenant_id IS NOT NULL")"
}
before=$(grep -c 'ignoring the saved per-tenant statistics' "$PRIMARY.log")
got=$(damage resealed)
is "${got%%|*}|$([ "${got#*|}" -gt 0 ] && echo loaded)" "$before|loaded" \
	"a file whose checksum the test rewrote, undamaged, loads (the damage below is what is refused)"
for damaged in "truncated:a truncated file" "flipped:a file with a flipped bit (checksum)" \
	"is_null:a record whose tenant flag is 2, checksum rewritten" \
	"time:a record whose last activity is beyond PostgreSQL's range, checksum rewritten" \
	"record_size:a header with another record size, checksum rewritten"; do
	before=$((before + 1))
	is "$(damage "${damaged%%:*}")" "$before|0" "${damaged#*:}: logged and ignored whole, and the view reads"
done
is "$(grep -A1 'ignoring the saved per-tenant statistics' "$PRIMARY.log" | grep -c 'DETAIL')" "5" \
	"each time the log says why"

# without shared_preload_libraries: 55000, and the rest works
as_server "$bindir/pg_ctl" -D "$PRIMARY" -m fast -w stop >/dev/null
sed -i "s/^shared_preload_libraries = 'trovella'/#&/; s/^trovella.stats_max_tenants/#&/" "$PRIMARY/postgresql.conf"
start "$PRIMARY" $port_primary
is "$(s -c "SELECT count(*) FROM trovella.tenant_stats" | tail -n 1)" "ERROR 55000" "without the preload, reading the view fails with 55000"
is "$(s -v VERBOSITY=default -c "SELECT * FROM trovella.tenant_stats_info" 2>&1 | grep -c "shared_preload_libraries")" "2" \
	"its message and hint say how to enable it"
is "$(app -c "BEGIN" -c "SELECT trovella.with_tenant('$A')" -c "SELECT count(*) FROM docs" -c "COMMIT" | tail -n 1)" "20" \
	"and tenant isolation works as before"

done_testing
