#!/usr/bin/env bash
# No token in the server log: with every statement logged, durations logged,
# bind parameters logged in full, and pgaudit logging parameters (if
# installed), a token passed to pat_verify() or authenticate() as a literal
# or a bind parameter, in an error, its STATEMENT line, a PL/pgSQL context
# or csvlog, is masked in every line; the statements still work.  A server
# of its own (the redaction needs trovella preloaded), on a socket in a
# temporary directory only, stopped on every exit path.
set -u
. "$(dirname "$0")/lib.sh"
plan 14

own_servers data
DATA=$dir/data
port=$((20000 + RANDOM % 20000))

s() { psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -h "$dir" -p "$port" -U postgres -d postgres "$@" 2>&1 |
	sed -E 's/^psql:[^ ]* ERROR:  ([0-9A-Z]{5}).*/ERROR \1/; s/^ERROR:  ([0-9A-Z]{5}).*/ERROR \1/'; }
app() { s -c "SET ROLE log_app" "$@"; }
# everything the server logged, in every format
logged() { cat "$DATA"/log/* 2>/dev/null; }

preload=trovella
audit=false
if [ -f "$(pg_config --pkglibdir)/pgaudit.so" ]; then
	preload=trovella,pgaudit
	audit=true
fi
as_server "$bindir/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
printf '%s\n' "shared_preload_libraries = '$preload'" "logging_collector = on" \
	"log_destination = 'stderr,csvlog'" "log_directory = 'log'" \
	"log_statement = 'all'" "log_min_duration_statement = 0" \
	"log_parameter_max_length = -1" "log_parameter_max_length_on_error = -1" >>"$DATA/postgresql.conf"
$audit && printf '%s\n' "pgaudit.log = 'all'" "pgaudit.log_parameter = on" >>"$DATA/postgresql.conf"
start "$DATA" $port
$audit && s -c "CREATE EXTENSION pgaudit" >/dev/null
s -c "CREATE EXTENSION trovella" >/dev/null
s -c "CREATE ROLE log_app;
	GRANT EXECUTE ON FUNCTION trovella.with_user(uuid), trovella.pat_create(text, timestamptz, text[]),
	      trovella.pat_verify(text), trovella.authenticate(text) TO log_app" >/dev/null

U=44444444-0000-0000-0000-000000000000
# tokens are made without appearing in any statement (they come back as results)
new_token() {
	app -c "BEGIN" -c "SELECT trovella.with_user('$U')" \
		-c "SELECT token FROM trovella.pat_create('log', now() + interval '1 day', '{}')" -c "COMMIT" | sed -n 2p
}
T1=$(new_token)
T2=$(new_token)
T3=$(new_token)
hint() { printf '%s' "${1:0:8}"; }

# 1. a literal, in a simple query, logged by log_statement, the duration
#    line and pgaudit; the statement still verifies the token
is "$(app -c "SELECT user_id FROM trovella.pat_verify('$T1')")" "$U" \
	"a token given as a literal still verifies"
# 2. a bind parameter (pgbench, extended protocol): DETAIL: parameters: $1 = '...' (Parameters: from 16 on)
printf '%s\n' "BEGIN;" "SELECT user_id FROM trovella.authenticate(:token);" \
	"SELECT user_id FROM trovella.pat_verify(:token);" "COMMIT;" >"$dir/bind.sql"
PGOPTIONS="-c role=log_app" "$bindir/pgbench" -n -M extended -t 3 -D token="$T2" -f "$dir/bind.sql" \
	-h "$dir" -p "$port" -U postgres postgres >"$dir/pgbench.out" 2>&1
status=$?
ok $status "a token given as a bind parameter is authenticated and verified (pgbench -M extended)"
[ $status -eq 0 ] || sed 's/^/#   /' "$dir/pgbench.out"
# 3. an error quoting the token, with its STATEMENT line
is "$(s -c "SELECT '$T3'::uuid" | tail -n 1)" "ERROR 22P02" "an error that quotes a token"
# 4. an error inside PL/pgSQL: CONTEXT and the internal query
is "$(s -c "DO \$\$ BEGIN PERFORM trovella.pat_is_well_formed('$T3'); PERFORM 1 / 0; END \$\$" | tail -n 1)" \
	"ERROR 22012" "an error in a DO block that called with a token"
# 5. a mistyped token (a wrong checksum) is not a token: it stays, which also
#    shows that the lines under test are being logged
bad="${T3:0:39}$( [ "${T3:39:1}" = a ] && echo b || echo a )"
app -c "SELECT count(*) FROM trovella.pat_verify('$bad')" >/dev/null
sleep 1   # the logging collector writes asynchronously

log=$(logged)
for t in "$T1" "$T2" "$T3"; do
	case "$log" in
		*"$t"*) found=1 ;;
		*) found=0 ;;
	esac
	is "$found" 0 "token $(hint "$t")… appears nowhere in the server log"
done
is "$(grep -c "$(hint "$T1")\*\{32\}" <<<"$log" | awk '{ print ($1 >= 3) }')" 1 \
	"the literal is masked, its hint kept, in the statement, duration and audit lines"
is "$(grep -iE "parameters: .*$(hint "$T2")\*{32}" <<<"$log" | wc -l | awk '{ print ($1 >= 1) }')" 1 \
	"the bind parameter is masked in DETAIL"
is "$(grep -cE "STATEMENT: +SELECT '$(hint "$T3")\*{32}'::uuid" "$DATA"/log/*.log | awk -F: '{ s += $NF } END { print (s >= 1) }')" 1 \
	"the STATEMENT line of an error quotes the masked statement"
is "$(grep -c "$bad" <<<"$log" | awk '{ print ($1 >= 1) }')" 1 \
	"a mistyped token is not masked (and the log holds the lines under test)"
# what the lines look like, for the README
grep -m 1 -E "statement: SELECT user_id FROM trovella.pat_verify" "$DATA"/log/*.log | sed 's/^/# /'
grep -m 1 -E "AUDIT: .*trovella.authenticate" "$DATA"/log/*.log | sed 's/^/# /'
if $audit; then
	is "$(grep -E "AUDIT: .*trovella.pat_verify" <<<"$log" | grep -c "$(hint "$T1")\*\{32\}" | awk '{ print ($1 >= 1) }')" 1 \
		"pgaudit's line is masked"
else
	tap_n=$((tap_n + 1)); echo "ok $tap_n # skip pgaudit is not installed (scripts/install-deps ops)"
fi

# the setting is a superuser's; turned off, tokens reach the log (what the
# lines above would hold without the redaction)
is "$(app -c "SET trovella.redact_tokens = off" | tail -n 1)" "ERROR 42501" \
	"the application role cannot turn the redaction off"
s -c "SET trovella.redact_tokens = off" -c "SELECT 'off: $T1'" >/dev/null
sleep 1
is "$(logged | grep -c "off: $T1" | awk '{ print ($1 >= 1) }')" 1 \
	"with trovella.redact_tokens off the token is logged as is"

done_testing
