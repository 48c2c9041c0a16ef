#!/usr/bin/env bash
# trovella.purge_tenant against hand-written batched DELETEs of the same
# rows (the same batch size, a COMMIT after each, referencing tables
# first): a tenant holding PURGE_ROWS rows (default 100,000; the issue's
# 1,000,000 with PURGE_ROWS=1000000) over 10 tables, two of them
# partitioned (4 partitions each), 8 referencing the first.  Then the p99
# latency of another tenant's pgbench transactions (with_tenant, a read
# and an update on the same tables) while the purge runs, against the
# same transactions with nothing else running.  The purge runs with its
# defaults (trovella.purge_batch_pause 0; PGOPTIONS="-c
# trovella.purge_batch_pause=20" measures it with pauses).  At 1,000,000
# rows the script takes 11 to 15 minutes with 3 repetitions, more than the
# rest of make bench together: hence 100,000 by default.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
bench_setup

ROWS=${PURGE_ROWS:-100000}
PER_TABLE=$((ROWS / 10))
T=dddddddd-0000-0000-0000-000000000001
U=eeeeeeee-0000-0000-0000-000000000002
# the other tenant's load: a steady rate, as an application's, not a
# saturating loop (on a small machine that measures only the CPU shared)
OTHER_TPS=${PURGE_OTHER_TPS:-200}

bq <<SQL
SET client_min_messages = warning;
SET trovella.isolation_guard = off;
CREATE TABLE bench.acct (tenant_id uuid NOT NULL, id int NOT NULL, body text, PRIMARY KEY (tenant_id, id));
SELECT trovella.enable_tenant_isolation('bench.acct');
DO \$\$
BEGIN
	FOR i IN 1..7 LOOP
		EXECUTE format('CREATE TABLE bench.c%s (tenant_id uuid NOT NULL, id int NOT NULL, acct int NOT NULL, body text,
			PRIMARY KEY (tenant_id, id), FOREIGN KEY (tenant_id, acct) REFERENCES bench.acct)', i);
		EXECUTE format('CREATE INDEX ON bench.c%s (tenant_id, acct)', i);
		PERFORM trovella.enable_tenant_isolation(format('bench.c%s', i)::regclass);
	END LOOP;
	FOR i IN 1..2 LOOP
		EXECUTE format('CREATE TABLE bench.p%s (tenant_id uuid NOT NULL, id int NOT NULL, acct int NOT NULL, body text,
			PRIMARY KEY (tenant_id, id), FOREIGN KEY (tenant_id, acct) REFERENCES bench.acct) PARTITION BY HASH (id)', i);
		FOR k IN 0..3 LOOP
			EXECUTE format('CREATE TABLE bench.p%s_%s PARTITION OF bench.p%s FOR VALUES WITH (MODULUS 4, REMAINDER %s)', i, k, i, k);
		END LOOP;
		EXECUTE format('CREATE INDEX ON bench.p%s (tenant_id, acct)', i);
		PERFORM trovella.enable_tenant_isolation(format('bench.p%s', i)::regclass);
	END LOOP;
END
\$\$;
-- a tenant's rows: acct, then the 9 tables referencing it
CREATE PROCEDURE bench.load(t uuid, n int) LANGUAGE plpgsql AS \$\$
DECLARE
	tbl text;
BEGIN
	INSERT INTO bench.acct SELECT t, g, md5(g::text) FROM generate_series(1, n) g;
	FOREACH tbl IN ARRAY '{c1,c2,c3,c4,c5,c6,c7,p1,p2}'::text[] LOOP
		EXECUTE format('INSERT INTO bench.%I SELECT \$1, g, 1 + g %% \$2, md5(g::text) FROM generate_series(1, \$2) g', tbl) USING t, n;
	END LOOP;
END
\$\$;
-- the hand-written purge: the same batches, the same order
CREATE PROCEDURE bench.hand_purge(t uuid, batch int) LANGUAGE plpgsql AS \$\$
DECLARE
	tbl regclass;
	deleted bigint;
BEGIN
	FOR tbl IN SELECT l.relid FROM unnest('{bench.c1,bench.c2,bench.c3,bench.c4,bench.c5,bench.c6,bench.c7,bench.p1,bench.p2,bench.acct}'::regclass[]) WITH ORDINALITY r(root, o)
	           CROSS JOIN LATERAL (SELECT t.relid FROM pg_partition_tree(r.root) t WHERE t.isleaf
	                               UNION ALL SELECT r.root WHERE NOT EXISTS (SELECT FROM pg_inherits i WHERE i.inhparent = r.root)) l
	           ORDER BY r.o, l.relid LOOP
		LOOP
			EXECUTE format('DELETE FROM ONLY %s WHERE ctid = ANY (ARRAY(SELECT ctid FROM ONLY %s WHERE tenant_id = \$1 LIMIT %s))', tbl, tbl, batch) USING t;
			GET DIAGNOSTICS deleted = ROW_COUNT;
			COMMIT;
			EXIT WHEN deleted < batch;
		END LOOP;
	END LOOP;
END
\$\$;
CALL bench.load('$U', $PER_TABLE);
-- the other tenant's application role, which row-level security binds
DROP ROLE IF EXISTS bench_purge_app;
CREATE ROLE bench_purge_app;
GRANT USAGE ON SCHEMA bench TO bench_purge_app;
GRANT SELECT, UPDATE ON ALL TABLES IN SCHEMA bench TO bench_purge_app;
GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO bench_purge_app;
SQL

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
load() { bq -c "CALL bench.load('$T', $PER_TABLE)" -c "VACUUM ANALYZE" >/dev/null; }
purge() {
	load
	bq -c "SELECT trovella.suspend_tenant('$T', 'bench')" >/dev/null
	local s e
	s=$(now)
	bq -c "SET client_min_messages = warning" -c "CALL trovella.purge_tenant('$T')" >/dev/null
	e=$(now)
	purge_s+=("$(elapsed "$s" "$e")")
}
hand() {
	load
	local s e
	s=$(now)
	bq -c "CALL bench.hand_purge('$T', 5000)" >/dev/null
	e=$(now)
	hand_s+=("$(elapsed "$s" "$e")")
}

echo "== purge ($REPS repetitions, medians; $ROWS rows of one tenant over 10 tables, two partitioned; another tenant at $OTHER_TPS tps)"
purge_s=() hand_s=()
for rep in $(seq "$REPS"); do
	if [ $((rep % 2)) -eq 1 ]; then purge; hand; else hand; purge; fi
done
a=$(printf '%s\n' "${purge_s[@]}" | median)
b=$(printf '%s\n' "${hand_s[@]}" | median)
report "purge_tenant / hand-written batched DELETEs" "$(ratio "$a" "$b")" "<=" 1.5 \
	"$(printf '%.2f s vs %.2f s' "$a" "$b")"

# Another tenant's transactions, OTHER_TPS a second: the p99 of those that
# ended while the purge ran, against a run of the same length with nothing
# else running.
tmp=$(mktemp -d)
cat >"$tmp/other.sql" <<SQL
\set id random(1, $PER_TABLE)
BEGIN;
SET LOCAL ROLE bench_purge_app;
SELECT trovella.with_tenant('$U');
SELECT body FROM bench.c1 WHERE id = :id;
UPDATE bench.acct SET body = md5(random()::text) WHERE id = :id;
UPDATE bench.p1 SET body = md5(random()::text) WHERE id = :id;
COMMIT;
SQL
# p99 in ms of the transactions logged in $1* that ended between $2 and $3
p99() {
	cat "$1"* | awk -v s="$2" -v e="$3" '{ t = $5 + $6 / 1e6; if (t >= s && t <= e) print $3 / 1000 }' |
		sort -g | awk '{ v[NR] = $1 } END { i = int(NR * 0.99); if (i < 1) i = 1; print v[i] }'
}
window() {  # window LABEL: pgbench for as long as the purge took, with or without it
	local s e dur
	dur=$(awk -v a="$a" 'BEGIN { d = int(a + 2.5); print d < 3 ? 3 : d }')
	rm -f "$tmp/$1".*
	load
	bq -c "SELECT trovella.suspend_tenant('$T', 'bench')" >/dev/null
	(cd "$tmp" && pgbench -n -T "$dur" -c 2 -j 2 -R "$OTHER_TPS" -l --log-prefix="$1" -f other.sql "$BENCH_DB" >/dev/null 2>&1) &
	sleep 1
	s=$(now)
	if [ "$1" = during ]; then
		bq -c "SET client_min_messages = warning" -c "CALL trovella.purge_tenant('$T')" >/dev/null
	else
		sleep "$a"
	fi
	e=$(now)
	wait
	[ "$1" = during ] || bq -c "SET client_min_messages = warning" -c "CALL trovella.purge_tenant('$T')" >/dev/null
	p99 "$tmp/$1" "$s" "$e"
}
during=() baseline=()
for rep in $(seq "$REPS"); do
	if [ $((rep % 2)) -eq 1 ]; then
		during+=("$(window during)"); baseline+=("$(window baseline)")
	else
		baseline+=("$(window baseline)"); during+=("$(window during)")
	fi
done
d=$(printf '%s\n' "${during[@]}" | median)
n=$(printf '%s\n' "${baseline[@]}" | median)
report "another tenant's p99 latency: during the purge / alone" "$(ratio "$d" "$n")" "<=" 2 \
	"$(printf '%.2f ms vs %.2f ms' "$d" "$n")"
rm -rf "$tmp"
bench_teardown
psql -X -q -d postgres -c 'DROP ROLE IF EXISTS bench_purge_app' >/dev/null 2>&1 || true
