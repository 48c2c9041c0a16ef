# Sourced by the bench scripts: a database of their own on the server in
# PGHOST/PGPORT, server-side timings, medians and ratio lines.
# Everything is a ratio against a baseline measured in the same run,
# repetitions interleaved, so a noisy machine moves both sides alike.

BENCH_DB=trovella_bench
REPS=${BENCH_REPS:-3}
PGBENCH_SECONDS=${BENCH_SECONDS:-20}

bq() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$BENCH_DB" "$@"; }

# The schema bench and bench.ms(stmt, n): the milliseconds one statement
# takes, run n times, measured in the server.
BENCH_SCHEMA_SQL=$(cat <<'SQL'
CREATE SCHEMA bench;
GRANT USAGE ON SCHEMA bench TO PUBLIC;
CREATE FUNCTION bench.ms(stmt text, n int DEFAULT 1) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	started timestamptz := clock_timestamp();
BEGIN
	FOR i IN 1..n LOOP
		EXECUTE stmt;
	END LOOP;
	RETURN extract(epoch FROM clock_timestamp() - started) * 1000;
END $$;
GRANT EXECUTE ON FUNCTION bench.ms(text, int) TO PUBLIC;
SQL
)

bench_setup() {
	dropdb --if-exists "$BENCH_DB" >/dev/null 2>&1
	createdb "$BENCH_DB"
	bq -c "CREATE EXTENSION trovella" -c "CREATE EXTENSION pgcrypto" -c "CREATE EXTENSION pgstattuple"
	bq <<<"$BENCH_SCHEMA_SQL"
}

# bench.points: 1,000,000 rows over 1,000 tenants, read by primary key in
# the pgbench transactions of tenant.sh, membership.sh and stats.sh
bench_points() {
	bq <<'SQL'
CREATE TABLE bench.points (id int PRIMARY KEY, tenant_id uuid NOT NULL, payload text);
INSERT INTO bench.points
SELECT n, ('00000000-0000-0000-0000-' || lpad((n % 1000)::text, 12, '0'))::uuid, md5(n::text)
FROM generate_series(1, 1000000) n;
VACUUM ANALYZE bench.points;
SQL
}

bench_teardown() { dropdb --if-exists "$BENCH_DB" >/dev/null 2>&1; }

# median of the numbers on stdin
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# ratio A B: A / B to three decimals
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

# report NAME VALUE OP TARGET DETAIL: one line, with whether the target holds
report() {
	local verdict
	verdict=$(awk -v v="$2" -v t="$4" -v op="$3" 'BEGIN {
		ok = (op == "<=") ? (v <= t) : (v >= t); print ok ? "meets" : "MISSES" }')
	printf '%-58s %8s   target %s %-5s %-6s  %s\n' "$1" "$2" "$3" "$4" "$verdict" "$5"
}

# pgbench_tps SCRIPT...: transactions per second of one pgbench run, as
# the issues specify it (pgbench -n -T 20 -c 4), with every script given
# equal weight
pgbench_tps() {
	local args=() script
	for script in "$@"; do
		args+=(-f "$script")
	done
	pgbench -n -T "$PGBENCH_SECONDS" -c 4 -j 2 "${args[@]}" "$BENCH_DB" 2>&1 |
		awk '/^tps = / && !seen { print $3; seen = 1 }'
}
