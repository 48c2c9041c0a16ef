#!/usr/bin/env bash
# pat_verify and authenticate per token against the lookup a user would
# write by hand (the floor: a SHA-256 and one unique-index probe), malformed
# tokens against valid ones, and the format check against length().
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
bench_setup
USERS=200
PER_USER=25
LOOPS=5

echo "== personal access tokens ($REPS repetitions, medians; $((USERS * PER_USER)) tokens of $USERS users, each presented once per query, $LOOPS queries)"
# The plaintexts are kept in a bench table so that a query can present them.
bq -c "CREATE TABLE bench.tokens (n serial PRIMARY KEY, user_n int NOT NULL, token text NOT NULL)"
for u in $(seq "$USERS"); do
	printf "BEGIN; SELECT trovella.with_user('%s'); INSERT INTO bench.tokens (user_n, token) SELECT %d, (trovella.pat_create('bench', now() + interval '30 days')).token FROM generate_series(1, %d); COMMIT;\n" \
		"$(printf '00000000-0000-0000-0000-%012d' "$u")" "$u" "$PER_USER"
done | bq >/dev/null
bq -c "SET trovella.pat_max_per_user = $((USERS * PER_USER))" -c "BEGIN" \
	-c "SELECT trovella.with_user('99999999-0000-0000-0000-000000000000')" \
	-c "CREATE TABLE bench.one_user AS SELECT (trovella.pat_create('bench', now() + interval '30 days')).token FROM generate_series(1, $((USERS * PER_USER)))" \
	-c "COMMIT"
bq <<'SQL'
-- the same tokens with the last character changed: malformed checksum
CREATE TABLE bench.bad_tokens AS
SELECT n, user_n, left(token, 39) || CASE WHEN right(token, 1) = 'a' THEN 'b' ELSE 'a' END AS token FROM bench.tokens;
-- the hand-written side reads a copy of the token table with the same unique index
CREATE TABLE bench.pat_copy AS SELECT * FROM trovella.personal_access_token;
ALTER TABLE bench.pat_copy ADD UNIQUE (token_hash);
CREATE TABLE bench.well_formed AS SELECT token AS t FROM bench.tokens, generate_series(1, 400);
VACUUM ANALYZE bench.tokens, bench.one_user, bench.bad_tokens, bench.pat_copy, bench.well_formed, trovella.personal_access_token;
SQL

# One lookup per token on both sides: a nested loop, no hash or merge join.
# JIT as the server has it by default: the token functions say ROWS 1, so a
# join over them is not costed high enough to be compiled (with the default
# ROWS 1000 it was, adding about 100 ms to a 10 ms query).
NESTED="SET enable_hashjoin = off; SET enable_mergejoin = off;"
VERIFY="SELECT count(*) FROM bench.tokens t, LATERAL trovella.pat_verify(t.token) v"
HAND="SELECT count(*) FROM bench.tokens t JOIN bench.pat_copy c ON c.token_hash = sha256(convert_to(t.token, 'UTF8')) WHERE c.revoked_at IS NULL AND c.expires_at > now()"
MALFORMED="SELECT count(*) FROM bench.bad_tokens t, LATERAL trovella.pat_verify(t.token) v"
# authenticate sets the token's user, one per transaction: the same number
# of tokens, all of one user (bench.one_user), in one transaction
AUTH="SELECT count(*) FROM bench.one_user t, LATERAL trovella.authenticate(t.token) a"
HAND1="SELECT count(*) FROM bench.one_user t JOIN bench.pat_copy c ON c.token_hash = sha256(convert_to(t.token, 'UTF8')) WHERE c.revoked_at IS NULL AND c.expires_at > now()"

# The first use of each token writes its last_used_at, which is not what is
# measured; a VACUUM then clears the old row versions, as autovacuum would.
bq -c "$VERIFY" -c "BEGIN" -c "$AUTH" -c "COMMIT" >/dev/null
bq -c "VACUUM ANALYZE trovella.personal_access_token"
checks=$(bq -c "$NESTED" -c "$VERIFY" -c "$HAND" -c "$MALFORMED" -c "$HAND1" -c "BEGIN" -c "$AUTH" -c "COMMIT" | tr '\n' ' ')
all=$((USERS * PER_USER))
if [ "$checks" != "$all $all 0 $all $all " ]; then
	echo "pat bench: the queries do not find what they should: $checks" >&2
	exit 1
fi

us_per_token() { awk -v t="$1" -v n="$2" 'BEGIN { printf "%.2f", t * 1000 / n }'; }
ms() { bq -c "$NESTED" -c "SELECT bench.ms(\$q\$$1\$q\$, $2)"; }
verify=() hand=() malformed=() auth=() hand1=()
for _ in $(seq "$REPS"); do
	verify+=("$(ms "$VERIFY" "$LOOPS")")
	hand+=("$(ms "$HAND" "$LOOPS")")
	malformed+=("$(ms "$MALFORMED" "$LOOPS")")
	auth+=("$(bq -c "$NESTED" -c "BEGIN" -c "SELECT bench.ms(\$q\$$AUTH\$q\$, $LOOPS)" -c "COMMIT")")
	hand1+=("$(ms "$HAND1" "$LOOPS")")
done
n=$((USERS * PER_USER * LOOPS))
v=$(us_per_token "$(printf '%s\n' "${verify[@]}" | median)" "$n")
h=$(us_per_token "$(printf '%s\n' "${hand[@]}" | median)" "$n")
m=$(us_per_token "$(printf '%s\n' "${malformed[@]}" | median)" "$n")
a=$(us_per_token "$(printf '%s\n' "${auth[@]}" | median)" "$n")
h1=$(us_per_token "$(printf '%s\n' "${hand1[@]}" | median)" "$n")
report "pat_verify / hand-written lookup, per token" "$(ratio "$v" "$h")" "<=" 1.2 "$v vs $h us"
report "malformed / valid token through pat_verify, per token" "$(ratio "$m" "$v")" "<=" 0.5 "$m vs $v us"
report "authenticate / hand-written lookup, per token" "$(ratio "$a" "$h1")" "<=" 1.3 "$a vs $h1 us"

wf=() len=()
for _ in $(seq "$REPS"); do
	wf+=("$(bq -c "SELECT bench.ms('SELECT count(trovella.pat_is_well_formed(t)) FROM bench.well_formed')")")
	len+=("$(bq -c "SELECT bench.ms('SELECT count(length(t)) FROM bench.well_formed')")")
done
w=$(printf '%s\n' "${wf[@]}" | median)
l=$(printf '%s\n' "${len[@]}" | median)
report "pat_is_well_formed() / length() over 2M tokens" "$(ratio "$w" "$l")" "<=" 3 \
	"$(printf '%.0f vs %.0f ms' "$w" "$l")"
bench_teardown
