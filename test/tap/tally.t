#!/usr/bin/env bash
# How scripts/run-suites counts what a runner printed: an "ok" line whose
# directive is SKIP is a skipped test, however the test wrote it, never a
# passed one.  The counting functions are taken from the script itself.
set -u
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.."
plan 4

eval "$(sed -n '/^count() {/,/^}/p; /^tap_count() {/,/^}/p' scripts/run-suites)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT

tally() {  # tally LINES...: what tap_count says of a log of those lines
	printf '%s\n' "$@" >"$log"
	passed=0
	failed=0
	tap_count "$log" demo 0
}

is "$(tally 'ok 1 - runs' 'ok 2 # skip no pgaudit' 'ok 3 - # SKIP from 18 on' 'ok 4 - named # SKIP no exporter')" \
	"demo: 1 passed, 0 failed (3 skipped, each with its reason in $log)" \
	"ok lines with a SKIP directive, with or without a name or a dash, count as skipped"
is "$(tally '    ok 1 - nested' '    ok 2 - # skip indented' 'not ok 3 - broke')" \
	"demo: 1 passed, 1 failed (1 skipped, each with its reason in $log)" \
	"indented lines (subtests) are counted the same way"
is "$(tally 'ok 1 - the # of rows is right' 'ok 2 - skipping is allowed')" \
	"demo: 2 passed, 0 failed" \
	"a name that mentions skipping or holds a # is not a SKIP directive"
is "$(tally 'ok 1 # skip all of it')" \
	"demo: 0 passed, 0 failed (1 skipped, each with its reason in $log)" \
	"a run of skips only is not \"ran no test\""
done_testing
