#!/usr/bin/env bash
# scripts/install-deps on a new machine, whose package lists are empty until
# apt-get update: it updates before it decides that a package does not exist
# (postgresql-NN-pgtap was thought missing, and pgTAP built from a source the
# machine does not have), updates once however much it asks, and on a
# machine that has everything neither updates nor installs.  apt, dpkg and
# systemctl are stand-ins that record what they were asked.
set -u
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.."
plan 5

stub=$(mktemp -d)
trap 'rm -rf "$stub"' EXIT
# apt-cache: nothing known before an update, every package after it
cat >"$stub/apt-cache" <<'EOF'
#!/bin/sh
echo "apt-cache $*" >>"$STUB/calls"
[ -e "$STUB/lists" ] || exit 0
case "$1" in
	madison) echo " $2 | 1.0-1 | http://deb.debian.org/debian bookworm/main amd64 Packages" ;;
	depends) echo "  Depends: clang-14" ;;
	*) echo "Package: $2" ;;
esac
EOF
cat >"$stub/apt-get" <<'EOF'
#!/bin/sh
echo "apt-get $*" >>"$STUB/calls"
[ "$1" = update ] && : >"$STUB/lists"
exit 0
EOF
cat >"$stub/dpkg-query" <<'EOF'
#!/bin/sh
[ -e "$STUB/everything" ] && echo "install ok installed"
exit 0
EOF
printf '#!/bin/sh\nexit 0\n' >"$stub/systemctl"
printf '#!/bin/sh\nexec "$@"\n' >"$stub/sudo"
chmod +x "$stub"/*

deps() { STUB=$stub PATH="$stub:$PATH" PG_MAJOR=15 scripts/install-deps "$@" >"$stub/out" 2>&1; }

deps core
ok $? "install-deps core succeeds on a machine with empty package lists"
installed=$(grep '^apt-get install' "$stub/calls")
grep -qw postgresql-15-pgtap <<<"$installed"
ok $? "it installs pgTAP from Debian's package, known once the lists are updated"
is "$(grep -c '^apt-get update' "$stub/calls")" 1 "it runs apt-get update once"
is "$(grep -m1 -nE '^apt-get update' "$stub/calls" | cut -d: -f1)" 2 \
	"the update comes right after the first question that found nothing"

rm -f "$stub/calls"
: >"$stub/everything"
deps core
is "$(grep -c '^apt-get' "$stub/calls")" 0 \
	"on a machine that has everything and up-to-date lists, it neither updates nor installs"
done_testing
