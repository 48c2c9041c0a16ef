#!/usr/bin/env bash
# Where scripts/cassert-install takes PostgreSQL's source from: a deb-src
# line of its own for the release's main archive (not the security one,
# which serves no sources), taken from the mirror apt is configured with; and
# where the source cannot be had (no network), exit 3, "skipped, because",
# which the cassert suite reports as skipped, not failed.  apt is a stand-in
# that reads its sources from a scratch directory (APT_CONFIG) and records
# what it was asked.
set -u
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.."
plan 6

stub=$(mktemp -d)
trap 'rm -rf "$stub"' EXIT
mkdir -p "$stub/bin" "$stub/sources.list.d"
cat >"$stub/sources.list.d/debian.sources" <<'EOF'
Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main

Types: deb
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
EOF
printf 'Dir::Etc::sourceparts "%s";\nDir::Etc::sourcelist "%s";\n' \
	"$stub/sources.list.d" "$stub/none.list" >"$stub/apt.conf"
# apt-cache knows no source; apt-get update fails when told to
cat >"$stub/bin/apt-cache" <<'EOF'
#!/bin/sh
echo "apt-cache $*" >>"$STUB/calls"
exit 0
EOF
cat >"$stub/bin/apt-get" <<'EOF'
#!/bin/sh
echo "apt-get $*" >>"$STUB/calls"
[ "$1" = update ] && [ -e "$STUB/offline" ] && exit 100
exit 0
EOF
printf '#!/bin/sh\nexec "$@"\n' >"$stub/bin/sudo"
chmod +x "$stub/bin"/*

install() {
	STUB=$stub APT_CONFIG=$stub/apt.conf PATH="$stub/bin:$PATH" TROVELLA_CACHE=$stub/cache \
		scripts/cassert-install >"$stub/out" 2>&1
}

: >"$stub/offline"
install
is "$?" 3 "without network to the archive, cassert-install exits 3"
is "$(grep -c '^cassert-install: skipped, because apt-get update failed' "$stub/out")" 1 \
	"and says it skipped, and why"
major=$(pg_config --version | sed -nE 's/^PostgreSQL ([0-9]+).*/\1/p')
codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
is "$(grep -v '^#' "$stub/sources.list.d/trovella-deb-src.sources" | tr '\n' ' ')" \
	"Types: deb-src URIs: http://mirror.example/debian Suites: $codename Components: main $([ -f /usr/share/keyrings/debian-archive-keyring.gpg ] && echo 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg ')" \
	"the deb-src line of its own names the main archive apt is configured with, and this release"
is "$(grep -c '^apt-cache showsrc postgresql-'"$major"'$' "$stub/calls")" 1 \
	"it asked for the source of postgresql-$major, this server's major"

rm -f "$stub/offline" "$stub/calls"
install
is "$?:$(grep -c "^cassert-install: skipped, because apt found no source of postgresql-$major" "$stub/out")" 3:1 \
	"an archive that serves no source of it: skipped, and why"
[ ! -e "$stub/cache" ] || [ -z "$(ls -A "$stub/cache")" ]
ok $? "nothing was built or cached"
done_testing
