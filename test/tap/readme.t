#!/usr/bin/env bash
# The README's examples run as written: every ```sql block, in order, in a
# fresh database of a fresh server (the extension preloaded, as the README
# installs it; pg_cron too where it is installed), as the roles the blocks
# name with only the grants the README gives, each block's stated results
# and SQLSTATEs checked (scripts/doctest says how a block says them).  A
# block that needs what this machine lacks (Citus, pg_partman of another
# major) is reported as skipped, with the reason.  Every ```sh block either
# runs (in a directory of its own, against this server, as the role its
# directive names, each command's exit status checked), or names the test
# that runs its commands (checked to hold them), or says why it is skipped;
# one that says nothing fails.  Then each pg_cron job the
# README scheduled runs as pg_cron would run it.  The server listens on a
# socket in a temporary directory only, and is stopped on every exit path.
set -u
. "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)

own_servers data
DATA=$dir/data
port=$((20000 + RANDOM % 20000))

preload=trovella
if [ -f "$(pg_config --pkglibdir)/pg_cron.so" ]; then
	preload=trovella,pg_cron
fi
as_server "$bindir/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
printf '%s\n' "shared_preload_libraries = '$preload'" "cron.database_name = 'readme'" \
	"timezone = 'UTC'" >>"$DATA/postgresql.conf"
start "$DATA" $port
psql -X -q -h "$dir" -p "$port" -U postgres -d postgres -c 'CREATE DATABASE readme' >/dev/null

export PGHOST=$dir PGPORT=$port PGTZ=UTC
out=$(PGDATABASE=readme DOCTEST_SUPERUSER=postgres perl "$root/scripts/doctest" "$root/README.md")
status=$?
grep -v '^1\.\.' <<<"$out"
tap_n=$(grep -c -E '^(not )?ok ' <<<"$out")
[ $status -eq 0 ] || tap_failed=1

# Every ```sh block of the README was accounted for: run, run by the test
# it names, or skipped with its reason; none passed over in silence.
is "$(grep -c -E '^(not )?ok [0-9]+ - [^ ]+:[0-9]+, sh( |$)' <<<"$out")" \
	"$(grep -c -E '^\s*```sh\s*$' "$root/README.md")" "doctest reports every sh block of the README"
# How it judges sh blocks, on a file of its own: a block that says nothing,
# a test named that does not exist or does not hold the block's command, a
# command failing (in a pipeline too), a replacement that finds nothing, a
# block over its time limit fail; the rest pass or are skipped.
fixture=$(cd "$root" && perl scripts/doctest test/tap/doctest_sh.md 2>&1)
is "$?|$(grep -E '^(not )?ok ' <<<"$fixture" | sed -E 's/ - [^ ]*, sh//; s/ \(.*//' | paste -sd ';')" \
	"1|not ok 1;not ok 2;not ok 3;not ok 4;not ok 5;not ok 6;ok 7;ok 8;ok 9 # SKIP says why;ok 10 # SKIP needs the command no-such-program-here, not installed here" \
	"doctest fails each sh block that says nothing or whose claim or command fails"
[ "$(grep -c -E '^not ok ' <<<"$fixture")" -eq 6 ] || sed 's/^/#   /' <<<"$fixture"

# The jobs the README schedules run as pg_cron runs them: each stored command
# as one statement at top level, over a connection of its own, as the job's
# role.  (pg_cron 1.4 has no schedule in seconds to make it run one now.)
# Before they run, the tenant list has tenant a, and one of its tasks is
# overdue: the nightly job marks it done.
A=aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa
jobs=0
[ "$preload" = trovella,pg_cron ] &&
	jobs=$(DB=readme q -U postgres -c "SELECT count(*) FROM cron.job" 2>/dev/null)
if [ "${jobs:-0}" -gt 0 ] 2>/dev/null; then
	task=$(DB=readme q -U postgres -c "INSERT INTO tenants VALUES ('$A', 'a') ON CONFLICT DO NOTHING" \
		-c "INSERT INTO tasks (tenant_id, project_id, due)
		    SELECT tenant_id, id, current_date - 1 FROM projects WHERE tenant_id = '$A' LIMIT 1
		    RETURNING id")
	while IFS='|' read -r jobid jobname username database; do
		command=$(DB=readme q -U postgres -c "SELECT command FROM cron.job WHERE jobid = $jobid")
		got=$(psql -X -q -At -v VERBOSITY=verbose -U "$username" -d "$database" -c "$command" 2>&1)
		ok $? "pg_cron job $jobname runs as $username, at top level, over a fresh connection"
		[ -z "$got" ] || printf '#   %s\n' "$got"
	done < <(DB=readme q -U postgres -c "SELECT jobid, jobname, username, database FROM cron.job ORDER BY jobid")
	is "$(DB=readme q -U postgres -c "SELECT done FROM tasks WHERE id = '$task'")" t \
		"the nightly job closed tenant a's overdue task"
else
	tap_n=$((tap_n + 1))
	echo "ok $tap_n # skip pg_cron is not installed here: the README's jobs were not run"
fi
plan $tap_n
done_testing
