#!/usr/bin/env bash
# ULID generation and inserts against gen_random_uuid() and bigint keys.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
bench_setup
ROWS=2000000

# PostgreSQL 18 has a native uuidv7(): then it is measured beside the others.
has_v7=$(bq -c "SELECT to_regprocedure('pg_catalog.uuidv7()') IS NOT NULL")
kinds="ulid random bigint"
[ "$has_v7" = t ] && kinds="ulid v7 random bigint"

echo "== ULID ids ($REPS repetitions, medians; PostgreSQL $(bq -c 'SHOW server_version'))"
us_per_id() { awk -v t="$1" -v n=$ROWS 'BEGIN { printf "%.3f", t * 1000 / n }'; }
gen_ulid=() gen_rand=() gen_v7=()
for _ in $(seq "$REPS"); do
	gen_ulid+=("$(bq -c "SELECT bench.ms('SELECT count(trovella.ulid_uuid()) FROM generate_series(1, $ROWS)')")")
	gen_rand+=("$(bq -c "SELECT bench.ms('SELECT count(gen_random_uuid()) FROM generate_series(1, $ROWS)')")")
	[ "$has_v7" = t ] &&
		gen_v7+=("$(bq -c "SELECT bench.ms('SELECT count(uuidv7()) FROM generate_series(1, $ROWS)')")")
done
u=$(printf '%s\n' "${gen_ulid[@]}" | median)
r=$(printf '%s\n' "${gen_rand[@]}" | median)
report "generation: ulid_uuid() / gen_random_uuid()" "$(ratio "$u" "$r")" "<=" 0.25 \
	"$(us_per_id "$u") vs $(us_per_id "$r") us/id"
if [ "$has_v7" = t ]; then
	v=$(printf '%s\n' "${gen_v7[@]}" | median)
	report "generation: ulid_uuid() / uuidv7()" "$(ratio "$u" "$v")" "<=" 1.0 \
		"$(us_per_id "$u") vs $(us_per_id "$v") us/id"
fi

bq <<'SQL'
CREATE TABLE bench.ids_ulid (id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(), n int);
CREATE TABLE bench.ids_random (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), n int);
CREATE TABLE bench.ids_bigint (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, n int);
SQL
[ "$has_v7" = t ] && bq -c "CREATE TABLE bench.ids_v7 (id uuid PRIMARY KEY DEFAULT uuidv7(), n int)"
ins_ulid=() ins_rand=() ins_big=() ins_v7=() size_ulid=() size_rand=() size_big=() size_v7=()
dens_ulid=() dens_rand=() dens_v7=()
for _ in $(seq "$REPS"); do
	for kind in $kinds; do
		bq -c "TRUNCATE bench.ids_$kind" -c "CHECKPOINT"
		t=$(bq -c "SELECT bench.ms('INSERT INTO bench.ids_$kind (n) SELECT g FROM generate_series(1, $ROWS) g')")
		size=$(bq -c "SELECT pg_relation_size('bench.ids_${kind}_pkey')")
		case $kind in
			ulid) ins_ulid+=("$t") size_ulid+=("$size")
				dens_ulid+=("$(bq -c "SELECT avg_leaf_density FROM pgstatindex('bench.ids_ulid_pkey')")") ;;
			random) ins_rand+=("$t") size_rand+=("$size")
				dens_rand+=("$(bq -c "SELECT avg_leaf_density FROM pgstatindex('bench.ids_random_pkey')")") ;;
			v7) ins_v7+=("$t") size_v7+=("$size")
				dens_v7+=("$(bq -c "SELECT avg_leaf_density FROM pgstatindex('bench.ids_v7_pkey')")") ;;
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
if [ "$has_v7" = t ]; then
	iv=$(printf '%s\n' "${ins_v7[@]}" | median)
	sv=$(printf '%s\n' "${size_v7[@]}" | median)
	dv=$(printf '%s\n' "${dens_v7[@]}" | median)
	printf '%-58s %8s   %s\n' "insert 2M rows: ulid pk / uuidv7 pk (time)" "$(ratio "$iu" "$iv")" \
		"$(printf 'no target: %.0f vs %.0f ms' "$iu" "$iv")"
	report "insert 2M rows: ulid pk / uuidv7 pk (index size)" "$(ratio "$su" "$sv")" "<=" 1.0 \
		"$((su / 1048576)) vs $((sv / 1048576)) MiB; leaf density $du% vs $dv%"
fi
bench_teardown
