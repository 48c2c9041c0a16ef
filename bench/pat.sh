#!/usr/bin/env bash
# pat_verify against the pgcrypto query a user would write, malformed
# tokens against valid ones, and the format check against length().
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
bench_setup
USERS=2000
PER_USER=50

echo "== personal access tokens ($REPS repetitions, medians; pgbench -n -T $PGBENCH_SECONDS -c 4; $((USERS * PER_USER)) stored tokens, 100 presented)"
# The plaintexts are kept in a bench table so pgbench can present them.
bq -c "CREATE TABLE bench.tokens (n serial PRIMARY KEY, token text NOT NULL)"
for u in $(seq "$USERS"); do
	printf "BEGIN; SELECT trovella.with_user('%s'); INSERT INTO bench.tokens (token) SELECT (trovella.pat_create('bench', now() + interval '30 days')).token FROM generate_series(1, %d); COMMIT;\n" \
		"$(printf '00000000-0000-0000-0000-%012d' "$u")" "$PER_USER"
done | bq >/dev/null
bq <<'SQL'
-- the same tokens with the last character changed: malformed checksum
CREATE TABLE bench.bad_tokens AS
SELECT n, left(token, 39) || CASE WHEN right(token, 1) = 'a' THEN 'b' ELSE 'a' END AS token FROM bench.tokens;
ALTER TABLE bench.bad_tokens ADD PRIMARY KEY (n);
CREATE TABLE bench.well_formed AS SELECT token AS t FROM bench.tokens, generate_series(1, 20);
VACUUM ANALYZE bench.tokens, bench.bad_tokens, bench.well_formed, trovella.personal_access_token;
SQL
# pgbench cannot read strings from a file, so each of 100 scripts holds one
# of 100 tokens drawn at random from the 100,000, as a literal; the same
# tokens, and the same tokens made malformed, go to every variant.  (An
# application passes tokens as bind parameters: see the README.)
tmp=$(mktemp -d)
n=0
while IFS='|' read -r token bad; do
	n=$((n + 1))
	printf "SELECT * FROM trovella.pat_verify('%s');\n" "$token" >"$tmp/verify_$n.sql"
	printf "SELECT id, user_id, scopes, expires_at FROM trovella.personal_access_token WHERE token_hash = digest('%s', 'sha256') AND revoked_at IS NULL AND expires_at > now();\n" \
		"$token" >"$tmp/pgcrypto_$n.sql"
	printf "SELECT * FROM trovella.pat_verify('%s');\n" "$bad" >"$tmp/malformed_$n.sql"
done < <(bq -c "SELECT t.token, b.token FROM bench.tokens t JOIN bench.bad_tokens b USING (n) ORDER BY random() LIMIT 100")
verify=() pgcrypto=() malformed=()
for _ in $(seq "$REPS"); do
	verify+=("$(pgbench_tps "$tmp"/verify_*.sql)")
	pgcrypto+=("$(pgbench_tps "$tmp"/pgcrypto_*.sql)")
	malformed+=("$(pgbench_tps "$tmp"/malformed_*.sql)")
done
v=$(printf '%s\n' "${verify[@]}" | median)
c=$(printf '%s\n' "${pgcrypto[@]}" | median)
m=$(printf '%s\n' "${malformed[@]}" | median)
report "pat_verify / pgcrypto digest() query (throughput)" "$(ratio "$v" "$c")" ">=" 1.0 \
	"$(printf '%.0f vs %.0f tps (pat_verify also records last_used_at)' "$v" "$c")"
report "malformed / valid tokens through pat_verify (throughput)" "$(ratio "$m" "$v")" ">=" 2 \
	"$(printf '%.0f vs %.0f tps' "$m" "$v")"

# The same three, per call inside the server (statement parse and plan
# included, no client round trip), to show where a transaction's time goes.
token=$(head -c 1000 "$tmp/verify_1.sql" | sed -E "s/.*'(trv_[^']*)'.*/\1/")
bad=$(head -c 1000 "$tmp/malformed_1.sql" | sed -E "s/.*'(trv_[^']*)'.*/\1/")
us_per_call() { bq -c "SELECT round((bench.ms(\$q\$$1\$q\$, 20000) * 1000 / 20000)::numeric, 1)"; }
cv=$(us_per_call "SELECT count(*) FROM trovella.pat_verify('$token')")
cm=$(us_per_call "SELECT count(*) FROM trovella.pat_verify('$bad')")
cc=$(us_per_call "SELECT count(*) FROM trovella.personal_access_token WHERE token_hash = digest('$token', 'sha256') AND revoked_at IS NULL AND expires_at > now()")
ce=$(us_per_call "SELECT count(*) FROM generate_series(1, 0)")
printf '%-58s %8s   %s\n' "per call in the server, valid / pgcrypto query" "$(ratio "$cv" "$cc")" \
	"$cv vs $cc us; a malformed token $cm us, an empty generate_series() $ce us"

wf=() len=()
for _ in $(seq "$REPS"); do
	wf+=("$(bq -c "SELECT bench.ms('SELECT count(trovella.pat_is_well_formed(t)) FROM bench.well_formed')")")
	len+=("$(bq -c "SELECT bench.ms('SELECT count(length(t)) FROM bench.well_formed')")")
done
a=$(printf '%s\n' "${wf[@]}" | median)
b=$(printf '%s\n' "${len[@]}" | median)
report "pat_is_well_formed() / length() over 2M tokens" "$(ratio "$a" "$b")" "<=" 3 \
	"$(printf '%.0f vs %.0f ms' "$a" "$b")"
rm -rf "$tmp"
bench_teardown
