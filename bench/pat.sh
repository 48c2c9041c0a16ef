#!/usr/bin/env bash
# pat_verify against the pgcrypto query a user would write, malformed
# tokens against valid ones, and the format check against length().
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
bench_setup
USERS=2000
PER_USER=50

echo "== personal access tokens ($REPS repetitions, medians; pgbench -M prepared -T $PGBENCH_SECONDS -c 4; $((USERS * PER_USER)) stored tokens)"
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
count=$(bq -c "SELECT count(*) FROM bench.tokens")
tmp=$(mktemp -d)
cat >"$tmp/verify.sql" <<SQL
\set n random(1, $count)
SELECT * FROM trovella.pat_verify((SELECT token FROM bench.tokens WHERE n = :n));
SQL
cat >"$tmp/pgcrypto.sql" <<SQL
\set n random(1, $count)
SELECT id, user_id, scopes, expires_at FROM trovella.personal_access_token
WHERE token_hash = digest((SELECT token FROM bench.tokens WHERE n = :n), 'sha256')
  AND revoked_at IS NULL AND expires_at > now();
SQL
cat >"$tmp/malformed.sql" <<SQL
\set n random(1, $count)
SELECT * FROM trovella.pat_verify((SELECT token FROM bench.bad_tokens WHERE n = :n));
SQL
verify=() pgcrypto=() malformed=()
for _ in $(seq "$REPS"); do
	verify+=("$(pgbench_tps "$tmp/verify.sql")")
	pgcrypto+=("$(pgbench_tps "$tmp/pgcrypto.sql")")
	malformed+=("$(pgbench_tps "$tmp/malformed.sql")")
done
v=$(printf '%s\n' "${verify[@]}" | median)
c=$(printf '%s\n' "${pgcrypto[@]}" | median)
m=$(printf '%s\n' "${malformed[@]}" | median)
report "pat_verify / pgcrypto digest() query (throughput)" "$(ratio "$v" "$c")" ">=" 1.0 \
	"$(printf '%.0f vs %.0f tps (pat_verify also records last_used_at)' "$v" "$c")"
report "malformed / valid tokens through pat_verify (throughput)" "$(ratio "$m" "$v")" ">=" 2 \
	"$(printf '%.0f vs %.0f tps' "$m" "$v")"

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
