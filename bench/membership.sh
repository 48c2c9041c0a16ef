#!/usr/bin/env bash
# with_tenant(tenant, user) with a registered membership table against the
# same transaction without one: the cost of the membership check.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
bench_setup

bench_points
bq <<'SQL'
-- 1,000 tenants of 10 members each, as Better Auth's member table
CREATE TABLE bench.member (
	id uuid PRIMARY KEY DEFAULT trovella.ulid_uuid(),
	organization_id uuid NOT NULL,
	user_id uuid NOT NULL,
	role text NOT NULL,
	UNIQUE (organization_id, user_id));
INSERT INTO bench.member (organization_id, user_id, role)
SELECT ('00000000-0000-0000-0000-' || lpad(t::text, 12, '0'))::uuid,
       ('11111111-0000-0000-' || lpad(t::text, 4, '0') || '-' || lpad(u::text, 12, '0'))::uuid, 'member'
FROM generate_series(0, 999) t, generate_series(0, 9) u;
VACUUM ANALYZE bench.member;
SQL
tmp=$(mktemp -d)
cat >"$tmp/member.sql" <<'SQL'
\set t random(0, 999)
\set u random(0, 9)
\set id random(1, 1000000)
BEGIN;
SELECT trovella.with_tenant(('00000000-0000-0000-0000-' || lpad(:t::text, 12, '0'))::uuid,
                            ('11111111-0000-0000-' || lpad(:t::text, 4, '0') || '-' || lpad(:u::text, 12, '0'))::uuid);
SELECT payload FROM bench.points WHERE id = :id;
COMMIT;
SQL

echo "== membership ($REPS repetitions, medians; pgbench -n -T $PGBENCH_SECONDS -c 4)"
checked() {
	bq -c "SELECT trovella.use_membership('bench.member', 'organization_id', 'user_id', 'role')" >/dev/null
	tps_checked+=("$(pgbench_tps "$tmp/member.sql")")
}
unchecked() {
	bq -c "SELECT trovella.stop_membership()" >/dev/null
	tps_unchecked+=("$(pgbench_tps "$tmp/member.sql")")
}
tps_checked=() tps_unchecked=()
# the order alternates between repetitions, so that neither side always
# runs on a warmer (or more checkpoint-laden) server
for rep in $(seq "$REPS"); do
	if [ $((rep % 2)) -eq 1 ]; then checked; unchecked; else unchecked; checked; fi
done
a=$(printf '%s\n' "${tps_checked[@]}" | median)
b=$(printf '%s\n' "${tps_unchecked[@]}" | median)
# time per transaction, checked / unchecked = tps unchecked / tps checked
report "per transaction: with_tenant() checked / unchecked" "$(ratio "$b" "$a")" "<=" 1.10 \
	"$(printf '%.0f vs %.0f tps' "$a" "$b")"
rm -rf "$tmp"
bench_teardown
