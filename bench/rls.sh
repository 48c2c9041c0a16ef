#!/usr/bin/env bash
# One tenant's count(*) through trovella's policy, against an explicit
# WHERE with RLS off and against two hand-written policies.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
bench_setup
LOOPS=2000

bq <<'SQL'
CREATE ROLE bench_rls_app;
GRANT EXECUTE ON FUNCTION trovella.with_tenant(uuid, uuid) TO bench_rls_app;
-- four identical tables of 2,000,000 rows over 1,000 tenants
CREATE TABLE bench.docs (id uuid NOT NULL DEFAULT trovella.ulid_uuid(), tenant_id uuid NOT NULL, body text);
INSERT INTO bench.docs (tenant_id, body)
SELECT ('00000000-0000-0000-0000-' || lpad((n % 1000)::text, 12, '0'))::uuid, 'row ' || n
FROM generate_series(1, 2000000) n;
CREATE TABLE bench.docs_setting (LIKE bench.docs INCLUDING ALL);
INSERT INTO bench.docs_setting SELECT * FROM bench.docs;
CREATE TABLE bench.docs_per_row (LIKE bench.docs INCLUDING ALL);
INSERT INTO bench.docs_per_row SELECT * FROM bench.docs;
CREATE INDEX ON bench.docs (tenant_id, id);
CREATE INDEX ON bench.docs_setting (tenant_id, id);
CREATE INDEX ON bench.docs_per_row (tenant_id, id);
SELECT trovella.enable_tenant_isolation('bench.docs');
ALTER TABLE bench.docs_setting ENABLE ROW LEVEL SECURITY;
CREATE POLICY by_setting ON bench.docs_setting USING (tenant_id = current_setting('app.tenant')::uuid);
-- a per-row function call: a PL/pgSQL helper left VOLATILE (the default),
-- as hand-written ones often are; it cannot be inlined or used in an index
CREATE FUNCTION bench.app_tenant() RETURNS uuid LANGUAGE plpgsql
	AS $$ BEGIN RETURN current_setting('app.tenant')::uuid; END $$;
ALTER TABLE bench.docs_per_row ENABLE ROW LEVEL SECURITY;
CREATE POLICY per_row ON bench.docs_per_row USING (tenant_id = bench.app_tenant());
GRANT SELECT ON bench.docs, bench.docs_setting, bench.docs_per_row TO bench_rls_app;
VACUUM ANALYZE bench.docs, bench.docs_setting, bench.docs_per_row;
SQL

T=00000000-0000-0000-0000-000000000042
as_app() { bq -c "SET ROLE bench_rls_app" -c "BEGIN" "$@" -c "COMMIT"; }
echo "== RLS ($REPS repetitions, medians of $LOOPS queries each; 2,000 rows per tenant)"
# warm every table's pages first, so no variant pays for the others' reads
as_app -c "SELECT trovella.with_tenant('$T')" -c "SELECT bench.ms('SELECT count(*) FROM bench.docs', 10)" >/dev/null
as_app -c "SELECT set_config('app.tenant', '$T', true)" -c "SELECT bench.ms('SELECT count(*) FROM bench.docs_setting', 10)" >/dev/null
policy=() explicit=() setting=() per_row=()
for _ in $(seq "$REPS"); do
	policy+=("$(as_app -c "SELECT trovella.with_tenant('$T')" -c "SELECT bench.ms('SELECT count(*) FROM bench.docs', $LOOPS)" | sed -n 2p)")
	# the superuser bypasses RLS: the same table, the tenant written out
	explicit+=("$(bq -c "SELECT bench.ms('SELECT count(*) FROM bench.docs WHERE tenant_id = ''$T''', $LOOPS)")")
	setting+=("$(as_app -c "SELECT set_config('app.tenant', '$T', true)" -c "SELECT bench.ms('SELECT count(*) FROM bench.docs_setting', $LOOPS)" | sed -n 2p)")
	per_row+=("$(as_app -c "SELECT set_config('app.tenant', '$T', true)" -c "SELECT bench.ms('SELECT count(*) FROM bench.docs_per_row', 3)" | sed -n 2p)")
done
p=$(printf '%s\n' "${policy[@]}" | median)
e=$(printf '%s\n' "${explicit[@]}" | median)
s=$(printf '%s\n' "${setting[@]}" | median)
r=$(printf '%s\n' "${per_row[@]}" | median)
# per query, in ms
p=$(awk -v v="$p" -v n=$LOOPS 'BEGIN { print v / n }')
e=$(awk -v v="$e" -v n=$LOOPS 'BEGIN { print v / n }')
s=$(awk -v v="$s" -v n=$LOOPS 'BEGIN { print v / n }')
r=$(awk -v v="$r" 'BEGIN { print v / 3 }')
report "trovella policy / explicit WHERE, RLS off" "$(ratio "$p" "$e")" "<=" 1.10 \
	"$(printf '%.3f vs %.3f ms/query' "$p" "$e")"
printf '%-58s %8s   %s\n' "current_setting() policy / trovella policy" "$(ratio "$s" "$p")" \
	"$(printf '%.3f ms/query, a hand-written STABLE policy' "$s")"
printf '%-58s %8s   %s\n' "per-row VOLATILE function policy / trovella policy" "$(ratio "$r" "$p")" \
	"$(printf '%.3f ms/query, the helper runs for every row of the table' "$r")"
bq -c "DROP SCHEMA bench CASCADE" -c "REVOKE ALL ON FUNCTION trovella.with_tenant(uuid, uuid) FROM bench_rls_app" -c "DROP ROLE bench_rls_app" >/dev/null 2>&1
bench_teardown
