#!/usr/bin/env bash
# ULID generation and inserts against gen_random_uuid() and bigint keys.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
bench_setup
ROWS=2000000

echo "== ULID ids ($REPS repetitions, medians)"
gen_ulid=() gen_rand=()
for _ in $(seq "$REPS"); do
	gen_ulid+=("$(bq -c "SELECT bench.ms('SELECT count(trovella.ulid_uuid()) FROM generate_series(1, $ROWS)')")")
	gen_rand+=("$(bq -c "SELECT bench.ms('SELECT count(gen_random_uuid()) FROM generate_series(1, $ROWS)')")")
done
u=$(printf '%s\n' "${gen_ulid[@]}" | median)
r=$(printf '%s\n' "${gen_rand[@]}" | median)
report "generation: ulid_uuid() / gen_random_uuid()" "$(ratio "$u" "$r")" "<=" 0.25 \
	"$(awk -v u="$u" -v r="$r" -v n=$ROWS 'BEGIN { printf "%.3f vs %.3f us/id", u * 1000 / n, r * 1000 / n }')"

bq <<'SQL'
CREATE TABLE bench.ids_ulid (id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), n int);
CREATE TABLE bench.ids_random (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), n int);
CREATE TABLE bench.ids_bigint (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, n int);
SQL
ins_ulid=() ins_rand=() ins_big=() size_ulid=() size_rand=() size_big=() dens_ulid=() dens_rand=()
for _ in $(seq "$REPS"); do
	for kind in ulid random bigint; do
		bq -c "TRUNCATE bench.ids_$kind" -c "CHECKPOINT"
		t=$(bq -c "SELECT bench.ms('INSERT INTO bench.ids_$kind (n) SELECT g FROM generate_series(1, $ROWS) g')")
		size=$(bq -c "SELECT pg_relation_size('bench.ids_${kind}_pkey')")
		case $kind in
			ulid) ins_ulid+=("$t") size_ulid+=("$size")
				dens_ulid+=("$(bq -c "SELECT avg_leaf_density FROM pgstatindex('bench.ids_ulid_pkey')")") ;;
			random) ins_rand+=("$t") size_rand+=("$size")
				dens_rand+=("$(bq -c "SELECT avg_leaf_density FROM pgstatindex('bench.ids_random_pkey')")") ;;
			bigint) ins_big+=("$t") size_big+=("$size") ;;
		esac
	done
done
iu=$(printf '%s\n' "${ins_ulid[@]}" | median)
ir=$(printf '%s\n' "${ins_rand[@]}" | median)
ib=$(printf '%s\n' "${ins_big[@]}" | median)
report "insert 2M rows: ulid pk / gen_random_uuid pk (time)" "$(ratio "$iu" "$ir")" "<=" 0.8 \
	"$(printf '%.0f vs %.0f ms; bigint identity %.0f ms (%.2fx ulid)' "$iu" "$ir" "$ib" "$(ratio "$iu" "$ib")")"
su=$(printf '%s\n' "${size_ulid[@]}" | median)
sr=$(printf '%s\n' "${size_rand[@]}" | median)
sb=$(printf '%s\n' "${size_big[@]}" | median)
report "insert 2M rows: ulid pk / gen_random_uuid pk (index size)" "$(ratio "$su" "$sr")" "<=" 0.8 \
	"$((su / 1048576)) vs $((sr / 1048576)) MiB; bigint $((sb / 1048576)) MiB"
du=$(printf '%s\n' "${dens_ulid[@]}" | median)
dr=$(printf '%s\n' "${dens_rand[@]}" | median)
report "insert 2M rows: ulid pk average leaf density (%)" "$du" ">=" 85 "gen_random_uuid pk: $dr%"
bench_teardown
