#!/usr/bin/env bash
# The cost of masking tokens in the server log (trovella.redact_tokens) on
# a log-heavy run: every statement logged with its duration and its bind
# parameters, each transaction presenting a token, against the same run
# with the masking off.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
bench_setup

bench_points
token=$(bq -c "BEGIN" -c "SELECT trovella.with_user('00000000-0000-0000-0000-000000000001')" \
	-c "SELECT token FROM trovella.pat_create('bench', now() + interval '1 day')" -c "COMMIT" | sed -n 2p)
tmp=$(mktemp -d)
cat >"$tmp/log.sql" <<'SQL'
\set id random(1, 1000000)
BEGIN;
SELECT user_id FROM trovella.authenticate(:token);
SELECT payload FROM bench.points WHERE id = :id;
COMMIT;
SQL

LOGGING="-c log_statement=all -c log_min_duration_statement=0 -c log_parameter_max_length=-1"
echo "== token masking in the server log ($REPS repetitions, medians; pgbench -n -T $PGBENCH_SECONDS -c 4 -M extended, every statement logged)"
run() {
	PGOPTIONS="${PGOPTIONS:-} $LOGGING -c trovella.redact_tokens=$1" \
		pgbench -n -T "$PGBENCH_SECONDS" -c 4 -j 2 -M extended -D token="$token" -f "$tmp/log.sql" "$BENCH_DB" 2>&1 |
		awk '/^tps = / && !seen { print $3; seen = 1 }'
}
on=() off=()
for rep in $(seq "$REPS"); do
	if [ $((rep % 2)) -eq 1 ]; then
		on+=("$(run on)"); off+=("$(run off)")
	else
		off+=("$(run off)"); on+=("$(run on)")
	fi
done
a=$(printf '%s\n' "${on[@]}" | median)
b=$(printf '%s\n' "${off[@]}" | median)
report "throughput, tokens masked in the log / not masked" "$(ratio "$a" "$b")" ">=" 0.99 \
	"$(printf '%.0f vs %.0f tps' "$a" "$b")"
rm -rf "$tmp"
bench_teardown
