#!/usr/bin/env bash
# Token checks never fail for concurrency, and see what the statement did:
# the last_used_at write of a transaction in REPEATABLE READ whose snapshot
# predates another session's use of the same token gives up quietly instead
# of raising 40001, SERIALIZABLE writes none (SSI would make it a 40001 at
# COMMIT), and pat_verify/authenticate see a token that an earlier part of
# the same statement created.
set -u
. "$(dirname "$0")/lib.sh"
plan 21

APP=regress_snap_app
APP_PASSWORD=snap-$$-$RANDOM
U=44444444-0000-0000-0000-000000000000

q -c "DROP ROLE IF EXISTS $APP" >/dev/null
q -c "CREATE ROLE $APP LOGIN PASSWORD '$APP_PASSWORD';
      GRANT EXECUTE ON FUNCTION trovella.with_user(uuid), trovella.pat_create(text, timestamptz, text[]),
            trovella.pat_verify(text), trovella.authenticate(text) TO $APP;
      ALTER ROLE $APP SET trovella.pat_last_used_interval = 0" >/dev/null
app() { PGUSER=$APP PGPASSWORD=$APP_PASSWORD q "$@"; }

TOKEN=$(app -c "BEGIN" -c "SELECT trovella.with_user('$U')" \
	-c "SELECT token FROM trovella.pat_create('snapshots', now() + interval '1 day')" -c "COMMIT" | grep '^trv_')

for level in "READ COMMITTED" "REPEATABLE READ" "SERIALIZABLE"; do
	# A takes its snapshot, B uses the token and commits, then A uses it:
	# A's write of last_used_at meets a row changed after its snapshot
	app -c "BEGIN ISOLATION LEVEL $level" -c "SELECT 'snapshot taken'" -c "SELECT pg_sleep(1.5)" \
		-c "SELECT 'verified ' || count(*) FROM trovella.pat_verify('$TOKEN')" \
		-c "SELECT 'authenticated ' || count(*) FROM trovella.authenticate('$TOKEN')" \
		-c "COMMIT" -c "SELECT 'committed'" >"${TMPDIR:-/tmp}/snap.$$" 2>&1 &
	# B waits until A has its snapshot and sleeps
	for _ in $(seq 100); do
		[ "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query = 'SELECT pg_sleep(1.5)'")" = "1" ] && break
		sleep 0.05
	done
	app -c "SELECT count(*) FROM trovella.pat_verify('$TOKEN')" >/dev/null
	wait
	is "$(grep -E '^(verified|authenticated|committed|ERROR)' "${TMPDIR:-/tmp}/snap.$$" | tr '\n' ' ')" \
		"verified 1 authenticated 1 committed " \
		"$level: a token another session used after this transaction's snapshot verifies, without 40001"
done
rm -f "${TMPDIR:-/tmp}/snap.$$"

is "$(q -c "SELECT last_used_at > now() - interval '1 minute' FROM trovella.personal_access_token WHERE token_hint = left('$TOKEN', 8)")" "t" \
	"the token's use is recorded"

# SERIALIZABLE, both sides using the token at once, ten times: no 40001
# anywhere (the write is skipped when the other holds the row)
fails=0
for i in $(seq 10); do
	for side in 1 2; do
		app -c "BEGIN ISOLATION LEVEL SERIALIZABLE" \
			-c "SELECT count(*) FROM trovella.pat_verify('$TOKEN')" -c "SELECT pg_sleep(0.05)" \
			-c "COMMIT" >"${TMPDIR:-/tmp}/snap.$$.$side" 2>&1 &
	done
	wait
	grep -q ERROR "${TMPDIR:-/tmp}/snap.$$.1" "${TMPDIR:-/tmp}/snap.$$.2" && fails=$((fails + 1))
done
rm -f "${TMPDIR:-/tmp}/snap.$$.1" "${TMPDIR:-/tmp}/snap.$$.2"
is "$fails" "0" "SERIALIZABLE: two sessions verifying the same token at once never fail (10 rounds)"

# the same statement: create a token, then verify it
is "$(app -c "BEGIN" -c "SELECT trovella.with_user('$U')" \
	-c "SELECT count(*) FROM trovella.pat_verify((SELECT token FROM trovella.pat_create('same statement', now() + interval '1 day')))" \
	-c "ROLLBACK" | tail -n 1)" "1" \
	"pat_verify sees a token created earlier in the same statement"
is "$(app -c "BEGIN" -c "SELECT trovella.with_user('$U')" \
	-c "SELECT a.user_id FROM trovella.authenticate((SELECT token FROM trovella.pat_create('same statement', now() + interval '1 day'))) a" \
	-c "ROLLBACK" | tail -n 1)" "$U" \
	"authenticate sees a token created earlier in the same statement"
is "$(app -c "BEGIN" -c "SELECT trovella.with_user('$U')" \
	-c "WITH t AS (SELECT token FROM trovella.pat_create('in a join', now() + interval '1 day')) SELECT count(v.*) FROM t, LATERAL trovella.pat_verify(t.token) v" \
	-c "ROLLBACK" | tail -n 1)" "1" \
	"pat_verify in a LATERAL join sees the token the CTE created"
is "$(app -c "BEGIN ISOLATION LEVEL REPEATABLE READ" -c "SELECT trovella.with_user('$U')" \
	-c "SELECT count(*) FROM trovella.pat_verify((SELECT token FROM trovella.pat_create('same statement', now() + interval '1 day')))" \
	-c "ROLLBACK" | tail -n 1)" "1" \
	"so does it in REPEATABLE READ"
is "$(app -c "SELECT count(*) FROM trovella.pat_verify('$TOKEN')")" "1" \
	"an ordinary check still sees the token"

# a bulk check in REPEATABLE READ: the 200 due tokens one statement verifies
# have their uses written together when the statement finishes, in one
# subtransaction, not one subtransaction (with a transaction id of its own)
# per token, which overflowed the backend's cache of 64 subtransaction ids
q -c "DROP TABLE IF EXISTS snap_bulk_tokens; CREATE TABLE snap_bulk_tokens (token text);
	GRANT SELECT ON snap_bulk_tokens TO $APP" >/dev/null
q -c "SET trovella.pat_max_per_user = 1000" -c "BEGIN" -c "SELECT trovella.with_user('$U')" \
	-c "INSERT INTO snap_bulk_tokens SELECT p.token FROM generate_series(1, 200) g,
		LATERAL trovella.pat_create('bulk ' || g, now() + interval '1 day') p" -c "COMMIT" >/dev/null
bulk=$(app -c "SELECT pg_catalog.txid_current()" -c "BEGIN ISOLATION LEVEL REPEATABLE READ" \
	-c "SELECT count(*) FROM snap_bulk_tokens b, LATERAL trovella.pat_verify(b.token) v" \
	-c "SELECT count(*) FROM trovella.pat_verify((SELECT token FROM snap_bulk_tokens LIMIT 1))" \
	-c "COMMIT" -c "SELECT pg_catalog.txid_current()" | tr '\n' ' ')
set -- $bulk
is "$2 $3" "200 1" "REPEATABLE READ: 200 tokens verified in one statement, one of them again"
# after the first txid_current(): the transaction, one subtransaction for
# each statement's uses, the second txid_current() (0.4.0: 203)
is "$(( $4 - $1 ))" "4" \
	"REPEATABLE READ: each statement writes its due tokens' uses in one subtransaction, not one per token"
is "$(q -c "SELECT count(*) FROM trovella.personal_access_token
	WHERE name LIKE 'bulk %' AND last_used_at > now() - interval '1 minute'")" "200" \
	"and every use is recorded"

# a cursor: what its FETCHes found is written when COMMIT begins (a
# subtransaction is not allowed once the transaction block is ending)
forget_uses() { q -c "UPDATE trovella.personal_access_token SET last_used_at = NULL WHERE name LIKE 'bulk %'" >/dev/null; }
recorded() { q -c "SELECT count(*) FROM trovella.personal_access_token WHERE name LIKE 'bulk %' AND last_used_at IS NOT NULL"; }
forget_uses
is "$(app -c "BEGIN ISOLATION LEVEL REPEATABLE READ" \
	-c "DECLARE c CURSOR FOR SELECT v.token_id FROM snap_bulk_tokens b, LATERAL trovella.pat_verify(b.token) v" \
	-c "FETCH 5 FROM c" -c "COMMIT" 2>&1 | grep -c -E '^[0-9a-f]{8}-')$(recorded)" "55" \
	"REPEATABLE READ: a cursor's 5 uses are written when COMMIT begins, and COMMIT succeeds"
forget_uses
is "$(app -c "BEGIN ISOLATION LEVEL REPEATABLE READ" \
	-c "DECLARE c CURSOR FOR SELECT v.token_id FROM snap_bulk_tokens b, LATERAL trovella.pat_verify(b.token) v" \
	-c "FETCH 5 FROM c" -c "PREPARE TRANSACTION 'snap_bulk'" 2>&1 | grep -c -E '^[0-9a-f]{8}-')$(q -c "COMMIT PREPARED 'snap_bulk'" >/dev/null; recorded)" "55" \
	"and when PREPARE TRANSACTION begins"
forget_uses
is "$(app -c "BEGIN ISOLATION LEVEL REPEATABLE READ" -c "SAVEPOINT s" \
	-c "DECLARE c CURSOR FOR SELECT v.token_id FROM snap_bulk_tokens b, LATERAL trovella.pat_verify(b.token) v" \
	-c "FETCH 3 FROM c" -c "ROLLBACK TO SAVEPOINT s" \
	-c "SELECT count(*) FROM trovella.pat_verify((SELECT token FROM snap_bulk_tokens ORDER BY token LIMIT 1))" \
	-c "COMMIT" 2>&1 | tail -n 1)$(recorded)" "11" \
	"uses found in a subtransaction rolled back are forgotten; those after it are written"
forget_uses
is "$(app -c "BEGIN ISOLATION LEVEL REPEATABLE READ" \
	-c "SELECT count(*) FROM snap_bulk_tokens b, LATERAL trovella.pat_verify(b.token) v" \
	-c "ROLLBACK" 2>&1 | tail -n 1)$(recorded)" "2000" \
	"a rollback writes nothing"
# a COMMIT of a transaction block that failed does not stop the next
# transaction's writes
is "$(app -v ON_ERROR_STOP=0 -c "SELECT count(*) FROM trovella.pat_verify('trv_x')" -c "BEGIN" -c "SELECT 1 / 0" -c "COMMIT" \
	-c "BEGIN ISOLATION LEVEL REPEATABLE READ" \
	-c "SELECT count(*) FROM snap_bulk_tokens b, LATERAL trovella.pat_verify(b.token) v" \
	-c "COMMIT" 2>/dev/null | tail -n 1)$(recorded)" "200200" \
	"after the COMMIT of a failed block, the next transaction's uses are written"
# a statement that makes its transaction read-only after the check: the
# use is dropped, not written (25006 failed the statement)
is "$(app -v ON_ERROR_STOP=0 -c "BEGIN ISOLATION LEVEL REPEATABLE READ" \
	-c "SELECT count(*) FROM (SELECT set_config('transaction_read_only', 'on', true) FROM trovella.pat_verify('$TOKEN')) s" \
	-c "COMMIT" 2>&1 | tr '\n' ' ')" "1 " \
	"REPEATABLE READ: a check in a statement that turns the transaction read-only succeeds"
forget_uses
# SERIALIZABLE writes no use: the token row would be a read-write dependency
# between the application's transactions, a 40001 at COMMIT (0.4.0: S2 failed)
q -c "CREATE TABLE snap_ssi (a int); GRANT ALL ON snap_ssi TO $APP" >/dev/null
app -c "BEGIN ISOLATION LEVEL SERIALIZABLE" -c "SELECT count(*) FROM snap_ssi" \
	-c "SELECT count(*) FROM trovella.pat_verify('$TOKEN')" -c "SELECT pg_sleep(1)" -c "COMMIT" \
	-c "SELECT 'S1 committed'" >"${TMPDIR:-/tmp}/ssi1.$$" 2>&1 &
sleep 0.3
app -c "BEGIN ISOLATION LEVEL SERIALIZABLE" -c "SELECT count(*) FROM trovella.pat_verify('$TOKEN')" \
	-c "INSERT INTO snap_ssi VALUES (1)" -c "SELECT pg_sleep(1.5)" -c "COMMIT" \
	-c "SELECT 'S2 committed'" >"${TMPDIR:-/tmp}/ssi2.$$" 2>&1
wait
is "$(cat "${TMPDIR:-/tmp}/ssi1.$$" "${TMPDIR:-/tmp}/ssi2.$$" | grep -E 'committed|ERROR' | tr '\n' ' ')" "S1 committed S2 committed " \
	"SERIALIZABLE: two transactions that check a token and read and write a table both commit"
rm -f "${TMPDIR:-/tmp}/ssi1.$$" "${TMPDIR:-/tmp}/ssi2.$$"
q -c "DROP TABLE snap_ssi" >/dev/null
# READ COMMITTED over rows updated since: the index scan meets dead entries
# and keeps, for its next probe, the list of those to mark (B-tree makes it
# in the memory current at the probe: it was the per-call memory, freed
# before the next probe; the assert-enabled server crashed here)
forget_uses
is "$(app -c "SELECT count(*) FROM snap_bulk_tokens b, LATERAL trovella.pat_verify(b.token) v" -c "SELECT count(*) FROM snap_bulk_tokens b, LATERAL trovella.pat_verify(b.token) v" 2>&1 | tr '\n' ' ')$(recorded)" "200 200 200" \
	"a bulk check over dead index entries, twice, verifies every token"
q -c "DROP TABLE snap_bulk_tokens" >/dev/null

q -c "DELETE FROM trovella.personal_access_token WHERE user_id = '$U'" >/dev/null
q -c "ALTER ROLE $APP RESET ALL; REVOKE ALL ON FUNCTION trovella.with_user(uuid), trovella.pat_create(text, timestamptz, text[]),
      trovella.pat_verify(text), trovella.authenticate(text) FROM $APP; DROP ROLE $APP" >/dev/null
done_testing
