#!/usr/bin/env bash
# The audit trail (trovella.enable_audit): what recording a row costs, side
# by side in one run, on a realistic multi-tenant table isolated with
# enable_tenant_isolation and written by an application role in a tenant
# context:
#   - single-row INSERT and UPDATE by primary key in a server-side loop,
#     audited against the same table unaudited, and against supa_audit 0.3.1
#     on an identical table: the statements as static SQL of PL/pgSQL, whose
#     plans are cached as an application's prepared statements are (the
#     issue's loop), and again each planned (EXECUTE), which adds the same
#     planning to every side;
#   - a tenant's transaction (with_tenant, a read by key, an INSERT, an
#     UPDATE) through pgbench, 8 clients on one tenant, audited / unaudited;
#   - the history's size per audited row, trovella's and supa_audit's.
#
# supa_audit is not packaged (neither Debian nor npm) and its code is not
# part of this repository: set SUPA_AUDIT_SQL to its install script,
# supa_audit--0.3.1.sql from github.com/supabase/supa_audit, to compare.
# The script is loaded as plain SQL with psql after CREATE EXTENSION
# "uuid-ossp" (its only dependency), not as an extension: its two
# pg_extension_config_dump() calls, which only a CREATE EXTENSION script may
# make and which matter only to pg_dump, are left out.  It creates its own
# schema, audit.  Without SUPA_AUDIT_SQL that comparison says it is skipped.
#
#   SUPA_AUDIT_SQL=/path/to/supa_audit--0.3.1.sql BENCH_ONLY=audit make bench
#
# BENCH_REPS (3), BENCH_SECONDS (15, per pgbench run) and
# BENCH_AUDIT_STATEMENTS (20000, per loop) shorten a look.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
N=${BENCH_AUDIT_STATEMENTS:-20000}
SECONDS_PER_RUN=${BENCH_SECONDS:-15}
APP=bench_audit_app
T=aaaaaaaa-0000-4000-8000-000000000001
U=11111111-0000-4000-8000-000000000001
SUPA=${SUPA_AUDIT_SQL:-}
tmp=$(mktemp -d)
cleanup() {
	rm -rf "$tmp"
	bench_teardown
	psql -X -q -d postgres -c "DROP ROLE IF EXISTS $APP" >/dev/null 2>&1 || true
}
trap cleanup EXIT
bench_setup
if [ -n "$SUPA" ] && [ ! -r "$SUPA" ]; then
	echo "bench/audit.sh: SUPA_AUDIT_SQL=$SUPA is not a readable file" >&2
	exit 1
fi

# Three identical tables: 100,000 rows over 5 tenants, 20,000 of them the
# measured tenant's, whose keys are bench.key(1..20000).  items_plain stays
# unaudited, items_audited gets enable_audit, items_supa supa_audit.
bq >/dev/null <<SQL
BEGIN;
CREATE FUNCTION bench.key(n int) RETURNS uuid LANGUAGE sql IMMUTABLE
	RETURN ('00000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid;
CREATE TABLE bench.items_plain (
	id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(),
	tenant_id uuid NOT NULL,
	title text NOT NULL,
	status text NOT NULL DEFAULT 'open',
	quantity int NOT NULL DEFAULT 0,
	notes text,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX ON bench.items_plain (tenant_id, created_at);
INSERT INTO bench.items_plain (id, tenant_id, title, quantity, notes, created_at, updated_at)
SELECT bench.key(n),
       CASE WHEN n <= 20000 THEN '$T'::uuid
            ELSE ('bbbbbbbb-0000-4000-8000-' || lpad((n % 4)::text, 12, '0'))::uuid END,
       'item ' || n, n % 100, 'imported with the rest of the catalogue',
       now() - n * interval '1 minute', now() - n * interval '1 minute'
FROM generate_series(1, 100000) n;
CREATE TABLE bench.items_audited (LIKE bench.items_plain INCLUDING ALL);
INSERT INTO bench.items_audited SELECT * FROM bench.items_plain;
CREATE TABLE bench.items_supa (LIKE bench.items_plain INCLUDING ALL);
INSERT INTO bench.items_supa SELECT * FROM bench.items_plain;
SELECT trovella.enable_tenant_isolation('bench.items_plain');
SELECT trovella.enable_tenant_isolation('bench.items_audited');
SELECT trovella.enable_tenant_isolation('bench.items_supa');
COMMIT;
VACUUM ANALYZE bench.items_plain, bench.items_audited, bench.items_supa;
CREATE ROLE $APP;
GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO $APP;
GRANT SELECT, INSERT, UPDATE ON bench.items_plain, bench.items_audited, bench.items_supa TO $APP;

-- bench.audit_ms(table, op, n): the milliseconds n single-row statements
-- take, each planned (EXECUTE), measured in the server: INSERTs of a new
-- row, or UPDATEs of the measured tenant's rows by primary key, one after
-- the other (each a different row, as an application's would be)
CREATE FUNCTION bench.audit_ms(tbl regclass, op text, n int) RETURNS float8 LANGUAGE plpgsql AS \$\$
DECLARE
	keys uuid[] := ARRAY(SELECT bench.key(k) FROM generate_series(1, 20000) k);
	tenant uuid := trovella.current_tenant();
	ins text := format('INSERT INTO %s (tenant_id, title, status, quantity, notes) VALUES (\$1, \$2, ''open'', \$3, ''created by the bench'')', tbl);
	upd text := format('UPDATE %s SET status = ''done'', quantity = quantity + 1, updated_at = now() WHERE id = \$1', tbl);
	started timestamptz := clock_timestamp();
BEGIN
	IF op = 'INSERT' THEN
		FOR i IN 1..n LOOP
			EXECUTE ins USING tenant, 'new item', i;
		END LOOP;
	ELSE
		FOR i IN 1..n LOOP
			EXECUTE upd USING keys[1 + (i - 1) % 20000];
		END LOOP;
	END IF;
	RETURN extract(epoch FROM clock_timestamp() - started) * 1000;
END \$\$;
GRANT EXECUTE ON FUNCTION bench.audit_ms(regclass, text, int) TO $APP;
SQL

# bench.cached_ms_SIDE(op, n): the same statements as static SQL of
# PL/pgSQL, whose plans are cached as an application's prepared statements
# are (planned for the first executions, then the generic plan): what the
# issue's server-side loop measures.  One function per table, since static
# SQL names its table.
for side in plain audited supa; do
	bq >/dev/null <<SQL
CREATE FUNCTION bench.cached_ms_$side(op text, n int) RETURNS float8 LANGUAGE plpgsql AS \$\$
DECLARE
	keys uuid[] := ARRAY(SELECT bench.key(k) FROM generate_series(1, 20000) k);
	tenant uuid := trovella.current_tenant();
	started timestamptz := clock_timestamp();
BEGIN
	IF op = 'INSERT' THEN
		FOR i IN 1..n LOOP
			INSERT INTO bench.items_$side (tenant_id, title, status, quantity, notes)
			VALUES (tenant, 'new item', 'open', i, 'created by the bench');
		END LOOP;
	ELSE
		FOR i IN 1..n LOOP
			UPDATE bench.items_$side SET status = 'done', quantity = quantity + 1, updated_at = now()
			WHERE id = keys[1 + (i - 1) % 20000];
		END LOOP;
	END IF;
	RETURN extract(epoch FROM clock_timestamp() - started) * 1000;
END \$\$;
GRANT EXECUTE ON FUNCTION bench.cached_ms_$side(text, int) TO $APP;
SQL
done

bq -c "SELECT trovella.enable_audit('bench.items_audited')" >/dev/null
if [ -n "$SUPA" ]; then
	bq -c 'CREATE EXTENSION "uuid-ossp"'
	sed '/pg_extension_config_dump/d' "$SUPA" | bq >/dev/null
	bq -c "SELECT audit.enable_tracking('bench.items_supa')" >/dev/null
fi

# the history of each audited side: its relations' size, and its rows
history_size() {
	case $1 in
		audited) bq -c "SELECT pg_total_relation_size('trovella.audit_history')" ;;
		supa) bq -c "SELECT pg_total_relation_size('audit.record_version')" ;;
		*) echo 0 ;;
	esac
}
history_rows() {
	case $1 in
		audited) bq -c "SELECT count(*) FROM trovella.audit_history" ;;
		supa) bq -c "SELECT count(*) FROM audit.record_version" ;;
		*) echo 0 ;;
	esac
}

# loop SIDE OP VARIANT: one measurement, in a transaction of the
# application role in the tenant's context; VARIANT cached (static SQL,
# plans cached) or planned (EXECUTE, each statement planned).  Sets ms, and
# bytes: what the history grew by per statement; checks that each statement
# left exactly one record.
loop() {
	local size0 rows0 rows1 call out
	size0=$(history_size "$1") rows0=$(history_rows "$1")
	if [ "$3" = cached ]; then
		call="SELECT bench.cached_ms_$1('$2', $N)"
	else
		call="SELECT bench.audit_ms('bench.items_$1', '$2', $N)"
	fi
	# the backend's time on a CPU too (/proc/self/schedstat, Linux): what
	# the statements cost it whatever else the machine runs, the time it
	# waited for a CPU left out
	out=$(bq -c "SELECT split_part(pg_read_file('/proc/self/schedstat', 0, 100, true), ' ', 1)" \
		-c "SET ROLE $APP" -c "BEGIN" -c "SELECT trovella.with_tenant('$T', '$U')" \
		-c "$call" -c "COMMIT" -c "RESET ROLE" \
		-c "SELECT split_part(pg_read_file('/proc/self/schedstat', 0, 100, true), ' ', 1)" 2>/dev/null || true)
	ms=$(sed -n 3p <<<"$out")
	cpu=$(awk 'NR == 1 { a = $1 } NR == 4 { b = $1 } END { if (a != "" && b != "") printf "%.3f", (b - a) / 1e6; else print "" }' <<<"$out")
	if [ -z "$ms" ]; then
		echo "bench/audit.sh: the loop on bench.items_$1 failed" >&2
		exit 1
	fi
	rows1=$(history_rows "$1")
	if [ "$1" != plain ] && [ $((rows1 - rows0)) -ne "$N" ]; then
		echo "bench/audit.sh: $N ${2}s into bench.items_$1 left $((rows1 - rows0)) history rows" >&2
		exit 1
	fi
	bytes=$(awk -v a="$(history_size "$1")" -v b="$size0" -v n="$N" 'BEGIN { print (a - b) / n }')
}

sides=(plain audited)
[ -n "$SUPA" ] && sides+=(supa)
echo "== audit trail ($REPS repetitions, medians; $N single-row statements each, in the server, as the application role in a tenant context)"
if [ -z "$SUPA" ]; then
	echo "   supa_audit: skipped: set SUPA_AUDIT_SQL to supa_audit 0.3.1's install script (github.com/supabase/supa_audit)"
fi
declare -A times cpus sizes
for rep in $(seq "$REPS"); do
	# the order of the sides rotates between repetitions
	set -- "${sides[@]}"
	for _ in $(seq $(((rep - 1) % $#))); do set -- "$@" "$1"; shift; done
	for side in "$@"; do
		for variant in cached planned; do
			for op in INSERT UPDATE; do
				loop "$side" "$op" "$variant"
				times[$side.$op.$variant]+="$ms "
				[ -n "$cpu" ] && cpus[$side.$op.$variant]+="$cpu "
				sizes[$side.$op]+="$bytes "
			done
		done
	done
done
# shellcheck disable=SC2086
med() { printf '%s\n' $1 | median; }
us() { awk -v v="$1" -v n="$N" 'BEGIN { printf "%.2f", v * 1000 / n }'; }
for variant in cached planned; do
	if [ "$variant" = cached ]; then
		echo "-- statements with cached plans (static SQL in PL/pgSQL, as an application's prepared statements): the issue's loop"
	else
		echo "-- each statement planned (EXECUTE): planning cost in both sides"
	fi
	for op in INSERT UPDATE; do
		a=$(med "${times[audited.$op.$variant]}") p=$(med "${times[plain.$op.$variant]}")
		report "$op, audited / unaudited" "$(ratio "$a" "$p")" "<=" 2.0 \
			"$(us "$a") vs $(us "$p") us per statement"
		if [ -n "${cpus[audited.$op.$variant]:-}" ] && [ -n "${cpus[plain.$op.$variant]:-}" ]; then
			a=$(med "${cpus[audited.$op.$variant]}") p=$(med "${cpus[plain.$op.$variant]}")
			printf '%-58s %8s   %s\n' "$op, audited / unaudited, the backend's CPU time" "$(ratio "$a" "$p")" \
				"$(us "$a") vs $(us "$p") us on a CPU per statement"
		fi
	done
	if [ -n "$SUPA" ]; then
		for op in INSERT UPDATE; do
			a=$(med "${times[audited.$op.$variant]}") p=$(med "${times[plain.$op.$variant]}")
			s=$(med "${times[supa.$op.$variant]}")
			report "$op, supa_audit 0.3.1 / trovella audited" "$(ratio "$s" "$a")" ">=" 10 \
				"$(us "$s") vs $(us "$a") us per statement; supa_audit $(ratio "$s" "$p")x unaudited"
			if [ -n "${cpus[supa.$op.$variant]:-}" ] && [ -n "${cpus[audited.$op.$variant]:-}" ]; then
				printf '%-58s %8s   %s\n' "$op, supa_audit / trovella, the backend's CPU time" \
					"$(ratio "$(med "${cpus[supa.$op.$variant]}")" "$(med "${cpus[audited.$op.$variant]}")")" \
					"$(us "$(med "${cpus[supa.$op.$variant]}")") vs $(us "$(med "${cpus[audited.$op.$variant]}")") us on a CPU; added cost $(awk -v s="$(med "${cpus[supa.$op.$variant]}")" -v a="$(med "${cpus[audited.$op.$variant]}")" -v p="$(med "${cpus[plain.$op.$variant]}")" 'BEGIN { if (a > p) printf "%.1fx", (s - p) / (a - p); else print "-" }')"
			fi
			# what each adds to the unaudited statement: the recording alone
			printf '%-58s %8s   %s\n' "$op, supa_audit 0.3.1 / trovella, added cost" \
				"$(awk -v s="$s" -v a="$a" -v p="$p" 'BEGIN { if (a > p) printf "%.1f", (s - p) / (a - p); else print "-" }')" \
				"$(awk -v s="$s" -v a="$a" -v p="$p" -v n="$N" 'BEGIN { printf "%.2f vs %.2f us added to the unaudited statement", (s - p) * 1000 / n, (a - p) * 1000 / n }')"
		done
	fi
done
for op in INSERT UPDATE; do
	line="$(printf '%.0f' "$(med "${sizes[audited.$op]}")") bytes trovella"
	[ -n "$SUPA" ] && line="$line, $(printf '%.0f' "$(med "${sizes[supa.$op]}")") bytes supa_audit"
	printf '%-58s %8s   %s\n' "history per audited $op (relation size / records)" "" "$line"
done
# sealing what the loops wrote into the tenant's hash chain (a job's work,
# outside every timing above)
seal_ms=$(bq -c "SELECT bench.ms('SELECT trovella.audit_seal()')")
sealed=$(bq -c "SELECT sum(records) FROM trovella.audit_seal")
printf '%-58s %8s   %s\n' "audit_seal(), per record sealed" "" \
	"$(awk -v ms="$seal_ms" -v n="$sealed" 'BEGIN { printf "%.2f us (%d records, %.0f ms)", ms * 1000 / n, n, ms }')"
t=$(awk -v s="$(history_size audited)" -v z="$(bq -c "SELECT pg_total_relation_size('trovella.audit_seal')")" \
	-v r="$(history_rows audited)" 'BEGIN { printf "%.0f", (s + z) / r }')
line="$t bytes trovella (seals included)"
if [ -n "$SUPA" ]; then
	line="$line, $(awk -v s="$(history_size supa)" -v r="$(history_rows supa)" 'BEGIN { printf "%.0f", s / r }') bytes supa_audit"
fi
printf '%-58s %8s   %s\n' "history per record, all of the above" "" "$line (pg_total_relation_size / rows)"

# A tenant's transaction through pgbench, 8 clients on the one tenant: the
# hash chain must not serialise a busy tenant.  The audited runs include the
# sealing job's work.
for side in plain audited; do
	cat >"$tmp/$side.sql" <<SQL
\set k random(1, 20000)
\set j random(1, 20000)
BEGIN;
SELECT trovella.with_tenant('$T', '$U');
SELECT title, status, quantity FROM bench.items_$side WHERE id = bench.key(:k);
INSERT INTO bench.items_$side (tenant_id, title, status, quantity, notes) VALUES ('$T', 'new item', 'open', :k, 'created through pgbench');
UPDATE bench.items_$side SET status = 'done', quantity = quantity + 1, updated_at = now() WHERE id = bench.key(:j);
COMMIT;
SQL
done
tps() {
	local sealer=
	bq -c "VACUUM ANALYZE bench.items_$1" -c "CHECKPOINT" >/dev/null
	if [ "$1" = audited ]; then
		# the job that seals the history, every 5 seconds, as pg_cron could run it
		(while sleep 5; do bq -c "SELECT trovella.audit_seal()"; done) >/dev/null 2>&1 &
		sealer=$!
	fi
	# as the application role: row-level security binds it
	PGOPTIONS="${PGOPTIONS:-} -c role=$APP" pgbench -n -T "$2" -c 8 -j 2 -f "$tmp/$1.sql" "$BENCH_DB" >"$tmp/pgbench.out" 2>&1 || true
	if [ -n "$sealer" ]; then
		kill "$sealer"
		wait "$sealer" 2>/dev/null || true
	fi
	if grep -q 'aborted' "$tmp/pgbench.out" ||
		! awk '/^tps = / { print $3; found = 1; exit } END { exit !found }' "$tmp/pgbench.out"; then
		cat "$tmp/pgbench.out" >&2
		exit 1
	fi
}
echo "== audited tenant transactions ($REPS repetitions, medians; pgbench -n -T $SECONDS_PER_RUN -c 8 -j 2, one tenant)"
tps plain 3 >/dev/null
tps audited 3 >/dev/null
tps_plain=() tps_audited=()
for rep in $(seq "$REPS"); do
	if [ $((rep % 2)) -eq 1 ]; then
		tps_audited+=("$(tps audited "$SECONDS_PER_RUN")"); tps_plain+=("$(tps plain "$SECONDS_PER_RUN")")
	else
		tps_plain+=("$(tps plain "$SECONDS_PER_RUN")"); tps_audited+=("$(tps audited "$SECONDS_PER_RUN")")
	fi
done
a=$(printf '%s\n' "${tps_audited[@]}" | median)
b=$(printf '%s\n' "${tps_plain[@]}" | median)
report "throughput: audited / unaudited" "$(ratio "$a" "$b")" ">=" 0.8 \
	"$(printf '%.0f vs %.0f tps' "$a" "$b")"
