#!/usr/bin/env bash
# export_tenant(tenant) streamed with COPY to a client, against COPY (SELECT
# * FROM t WHERE tenant_id = ...) TO STDOUT of each of the same tables, the
# export a hand-written script makes: rows per second, the ratio of the
# two.  One tenant of 200,000 rows over four tables (one partitioned on
# two levels) among five such tenants.  Also the backend's peak memory
# (VmHWM) after each, on a server this script can read /proc of.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
bench_setup

bq <<'SQL'
SET trovella.isolation_guard = off;
CREATE TABLE bench.docs (id bigint PRIMARY KEY, tenant_id uuid NOT NULL, title text, body text,
	created_at timestamptz NOT NULL DEFAULT now(), score numeric);
CREATE TABLE bench.notes (id bigint PRIMARY KEY, tenant_id uuid NOT NULL, doc_id bigint, body text, tags text[]);
CREATE TABLE bench.users (id uuid PRIMARY KEY, tenant_id uuid NOT NULL, email text, active boolean);
CREATE TABLE bench.events (tenant_id uuid NOT NULL, at date NOT NULL, kind text NOT NULL, n int, payload jsonb)
	PARTITION BY RANGE (at);
CREATE TABLE bench.events_2025 PARTITION OF bench.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE bench.events_2026 PARTITION OF bench.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')
	PARTITION BY LIST (kind);
CREATE TABLE bench.events_2026_a PARTITION OF bench.events_2026 FOR VALUES IN ('a');
CREATE TABLE bench.events_2026_b PARTITION OF bench.events_2026 FOR VALUES IN ('b');
CREATE INDEX ON bench.docs (tenant_id);
CREATE INDEX ON bench.notes (tenant_id);
CREATE INDEX ON bench.users (tenant_id);
CREATE INDEX ON bench.events (tenant_id);
SELECT trovella.enable_tenant_isolation(t) FROM unnest(ARRAY['bench.docs', 'bench.notes', 'bench.users', 'bench.events']::regclass[]) t;
-- five tenants, 200,000 rows each: docs 60,000, notes 60,000, users 20,000, events 60,000
INSERT INTO bench.docs SELECT n, ('00000000-0000-0000-0000-00000000000' || (n % 5))::uuid, 'title ' || n,
	repeat(md5(n::text), 3), now(), n * 1.25 FROM generate_series(1, 300000) n;
INSERT INTO bench.notes SELECT n, ('00000000-0000-0000-0000-00000000000' || (n % 5))::uuid, n, md5(n::text),
	ARRAY['x', 'y' || n] FROM generate_series(1, 300000) n;
INSERT INTO bench.users SELECT gen_random_uuid(), ('00000000-0000-0000-0000-00000000000' || (n % 5))::uuid,
	'u' || n || '@example.com', n % 2 = 0 FROM generate_series(1, 100000) n;
INSERT INTO bench.events SELECT ('00000000-0000-0000-0000-00000000000' || (n % 5))::uuid,
	date '2025-06-01' + (n % 400), CASE WHEN n % 3 = 0 THEN 'a' ELSE 'b' END, n,
	jsonb_build_object('n', n, 'k', 'v') FROM generate_series(1, 300000) n;
VACUUM ANALYZE;
SQL
T=00000000-0000-0000-0000-000000000003
rows=$(bq -c "SELECT (SELECT count(*) FROM bench.docs WHERE tenant_id = '$T') + (SELECT count(*) FROM bench.notes WHERE tenant_id = '$T')
	+ (SELECT count(*) FROM bench.users WHERE tenant_id = '$T') + (SELECT count(*) FROM bench.events WHERE tenant_id = '$T')")

# seconds of one psql run, its output thrown away
seconds() {
	local start end
	start=$(date +%s.%N)
	bq "$@" >/dev/null
	end=$(date +%s.%N)
	awk -v a="$start" -v b="$end" 'BEGIN { printf "%.4f", b - a }'
}
copy_tables() {
	seconds -c "COPY (SELECT * FROM bench.docs WHERE tenant_id = '$T') TO STDOUT" \
		-c "COPY (SELECT * FROM bench.notes WHERE tenant_id = '$T') TO STDOUT" \
		-c "COPY (SELECT * FROM bench.users WHERE tenant_id = '$T') TO STDOUT" \
		-c "COPY (SELECT * FROM bench.events WHERE tenant_id = '$T') TO STDOUT"
}
export_tenant() { seconds -c "COPY (SELECT * FROM trovella.export_tenant('$T')) TO STDOUT"; }
# what the format costs whoever makes it: the same tables' rows as
# to_jsonb(t), and the export's own rows printed from a table holding them
# (nothing made, only jsonb's text written)
to_jsonb_tables() {
	seconds -c "COPY (SELECT to_jsonb(t) FROM bench.docs t WHERE tenant_id = '$T') TO STDOUT" \
		-c "COPY (SELECT to_jsonb(t) FROM bench.notes t WHERE tenant_id = '$T') TO STDOUT" \
		-c "COPY (SELECT to_jsonb(t) FROM bench.users t WHERE tenant_id = '$T') TO STDOUT" \
		-c "COPY (SELECT to_jsonb(t) FROM bench.events t WHERE tenant_id = '$T') TO STDOUT"
}
bq -c "CREATE TABLE bench.export_rows AS SELECT * FROM trovella.export_tenant('$T')" -c "VACUUM ANALYZE bench.export_rows"
stored_rows() { seconds -c "COPY bench.export_rows TO STDOUT"; }

echo "== export ($REPS repetitions, medians; $rows rows of one tenant of five, four tables)"
copy_s=() export_s=() to_jsonb_s=() stored_s=()
for rep in $(seq "$REPS"); do
	if [ $((rep % 2)) -eq 1 ]; then copy_s+=("$(copy_tables)"); export_s+=("$(export_tenant)")
	else export_s+=("$(export_tenant)"); copy_s+=("$(copy_tables)"); fi
	to_jsonb_s+=("$(to_jsonb_tables)")
	stored_s+=("$(stored_rows)")
done
a=$(printf '%s\n' "${copy_s[@]}" | median)
b=$(printf '%s\n' "${export_s[@]}" | median)
c=$(printf '%s\n' "${to_jsonb_s[@]}" | median)
d=$(printf '%s\n' "${stored_s[@]}" | median)
report "throughput: export_tenant / COPY (SELECT ... WHERE tenant_id) TO" "$(ratio "$a" "$b")" ">=" 0.8 \
	"$(awk -v r="$rows" -v a="$a" -v b="$b" 'BEGIN { printf "%.0f vs %.0f rows/s", r / b, r / a }')"
printf '%-58s %8s   (%s)\n' "the format alone: COPY (SELECT to_jsonb(t) ...) / COPY" "$(ratio "$a" "$c")" \
	"$(awk -v r="$rows" -v c="$c" 'BEGIN { printf "%.0f rows/s", r / c }')"
printf '%-58s %8s   (%s)\n' "the export's rows stored, COPY of that table / COPY" "$(ratio "$a" "$d")" \
	"$(awk -v r="$rows" -v d="$d" 'BEGIN { printf "%.0f rows/s", r / d }')"

# the backend's private memory (RssAnon of /proc, polled while the
# statement runs; shared buffers are not in it): the export's rows go
# through a tuplestore that spills past work_mem, so it stays near COPY's
peak_anon() {
	local pid max=0 kb
	bq -c "SET application_name = 'bench_export_peak'" -c "SELECT pg_sleep(0.3)" -c "$1" >/dev/null &
	local client=$!
	sleep 0.1
	pid=$(bq -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'bench_export_peak'")
	while kill -0 "$client" 2>/dev/null; do
		kb=$(awk '/^RssAnon:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
		[ -n "$kb" ] && [ "$kb" -gt "$max" ] && max=$kb
		sleep 0.02
	done
	wait "$client"
	echo "$max"
}
if [ -r "/proc/$(bq -c 'SELECT pg_backend_pid()')/status" ] 2>/dev/null; then
	m_copy=$(peak_anon "COPY (SELECT * FROM bench.docs WHERE tenant_id = '$T') TO STDOUT")
	m_export=$(peak_anon "COPY (SELECT * FROM trovella.export_tenant('$T')) TO STDOUT")
	printf '%-58s %8s kB   (COPY of its largest table: %s kB; work_mem %s)\n' \
		"backend private memory (RssAnon peak) during export_tenant" "$m_export" "$m_copy" "$(bq -c 'SHOW work_mem')"
fi
bench_teardown
