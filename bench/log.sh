#!/usr/bin/env bash
# The cost of masking tokens in the server log (trovella.redact_tokens) on
# a log-heavy run: every statement logged with its duration and its bind
# parameters, each transaction presenting a token, against the same run
# with the masking off.  And the two statements that made 0.4.0 rescan a
# large statement for every line it logged (issue 31, point 8): an
# 8,000-row INSERT whose trigger writes 4,000 WARNINGs, and a 1 MB DO block
# writing 300 WARNINGs, each timed in the server with the masking on and
# off, alternately; the DO block also with log_min_error_statement =
# warning, where each of the 300 lines quotes the 1 MB statement.
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

# the statements that log many lines, the warnings to the log only
bq <<'SQL'
CREATE TABLE bench.logged (id int, note text);
CREATE FUNCTION bench.warn_even() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.id % 2 = 0 THEN
		RAISE WARNING 'row %', NEW.id;
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER warn_even BEFORE INSERT ON bench.logged FOR EACH ROW EXECUTE FUNCTION bench.warn_even();
SQL
{
	echo 'TRUNCATE bench.logged;'
	echo '\timing on'
	printf 'INSERT INTO bench.logged VALUES '
	seq 8000 | awk -v t="$token" '{ printf "%s(%d, %s)", (NR > 1 ? "," : ""), $1,
		(NR == 1 ? "'"'"'" t "'"'"'" : "md5('"'"'" $1 "'"'"')") }'
	echo ';'
} >"$tmp/insert.sql"
# the DO block five times over (its time is the sum), so that one measure
# is not a few milliseconds of a busy machine
{
	echo '\timing on'
	for _ in 1 2 3 4 5; do
		printf 'DO $do$ BEGIN PERFORM %s; FOR i IN 1..300 LOOP RAISE WARNING %s, i; END LOOP; END $do$ /* ' \
			"'$token'" "'line %'"
		head -c 1000000 /dev/zero | tr '\0' x
		echo ' */;'
	done
} >"$tmp/do.sql"
# the statement's time as psql reports it (the statement sent as it is, not
# through EXECUTE, whose error context would quote it in every line)
ms() {  # ms FILE on|off [OPTIONS]
	PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=error -c trovella.redact_tokens=$2 ${3:-}" bq -f "$1" |
		awk '/^Time: / { t += $2 } END { print t }'
}
# statements of milliseconds: more repetitions than the pgbench runs, each
# short one moving by its own size on a busy machine
LINE_REPS=${BENCH_LINE_REPS:-11}
lines() {  # lines NAME FILE [OPTIONS]
	local on=() off=() rep a b
	for rep in $(seq "$LINE_REPS"); do
		if [ $((rep % 2)) -eq 1 ]; then
			on+=("$(ms "$2" on "${3:-}")"); off+=("$(ms "$2" off "${3:-}")")
		else
			off+=("$(ms "$2" off "${3:-}")"); on+=("$(ms "$2" on "${3:-}")")
		fi
	done
	a=$(printf '%s\n' "${on[@]}" | median)
	b=$(printf '%s\n' "${off[@]}" | median)
	report "$1" "$(ratio "$a" "$b")" "<=" 1.10 "$(printf '%.0f vs %.0f ms' "$a" "$b")"
}
echo "== statements that log many lines, masked / not masked ($LINE_REPS repetitions, medians, psql's \\timing)"
lines "8,000-row INSERT, trigger writes 4,000 WARNINGs" "$tmp/insert.sql"
lines "1 MB DO block writing 300 WARNINGs (five of them)" "$tmp/do.sql"
lines "the same, log_min_error_statement = warning" "$tmp/do.sql" "-c log_min_error_statement=warning"
rm -rf "$tmp"
bench_teardown
