#!/usr/bin/env bash
# Where the Citus suite's Citus comes from, as the README's Installation
# says: the server's own Citus 13.0, else the source tarball CITUS_TARBALL
# names, else the vendored copy in ../shared/vendor beside the checkout or
# beside the one it was cloned from.  A plain clone with none of them skips
# the suite and says why (naming CITUS_TARBALL), without failing make test;
# so does a server newer than Citus 13.0 supports.  Run on copies of the
# scripts in a scratch folder, against a stand-in pg_config whose server has
# no Citus, so that nothing is built or installed.
set -u
. "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
plan 8

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
clone=$tmp/work/clone
mkdir -p "$clone/scripts" "$tmp/server/share/extension" "$tmp/server/lib" "$tmp/bin"
cp "$root/scripts/citus-install" "$root/scripts/run-suites" "$clone/scripts/"

# pg_config of a server of major $STUB_MAJOR, without Citus
cat >"$tmp/bin/pg_config" <<EOF
#!/bin/sh
case "\$1" in
	--sharedir) echo "$tmp/server/share" ;;
	--pkglibdir) echo "$tmp/server/lib" ;;
	--version) echo "PostgreSQL \${STUB_MAJOR:-15}.1" ;;
esac
EOF
chmod +x "$tmp/bin/pg_config"
export PG_CONFIG=$tmp/bin/pg_config

out=$(cd "$tmp" && "$clone/scripts/citus-install" 2>&1)
status=$?
is "$status" 3 "a plain clone, no Citus on the server and no tarball: citus-install says it skipped (exit 3)"
case "$out" in *"no source tarball was found"*"set CITUS_TARBALL"*) ok 0 "it names CITUS_TARBALL and the tarball to get" ;;
	*) ok 1 "it names CITUS_TARBALL and the tarball to get"; echo "#   $out" ;; esac

out=$(CITUS_TARBALL=$tmp/nothing.tar.gz "$clone/scripts/citus-install" 2>&1)
is "$?|$out" "1|citus-install: CITUS_TARBALL=$tmp/nothing.tar.gz is not a file" \
	"a CITUS_TARBALL that is not a file is an error, not a skip"

out=$(STUB_MAJOR=18 CITUS_TARBALL=$tmp/nothing.tar.gz "$clone/scripts/citus-install" 2>&1)
status=$?
case "$status|$out" in "3|citus-install: skipped: Citus 13.0.5 supports PostgreSQL 15 to 17, not 18"*) status=0 ;; *) status=1 ;; esac
ok $status "on PostgreSQL 18 the suite is skipped whatever the tarball, and says why"

# the vendored copy: beside the checkout, or beside the one it was cloned from
eval "$(sed -n '/^find_tarball() {/,/^}/p' "$root/scripts/citus-install")"
version=13.0.5
mkdir -p "$tmp/work/shared/vendor"
: >"$tmp/work/shared/vendor/citus-$version.tar.gz"
is "$(cd "$clone" && find_tarball)" "$clone/../shared/vendor/citus-$version.tar.gz" \
	"the vendored tarball beside the checkout is found"
if command -v git >/dev/null 2>&1; then
	mkdir -p "$tmp/other/copy"
	git -C "$tmp/other/copy" init -q
	git -C "$tmp/other/copy" remote add origin "$clone"
	is "$(cd "$tmp/other/copy" && find_tarball)" "$clone/../shared/vendor/citus-$version.tar.gz" \
		"a clone of that checkout finds it through its origin"
else
	tap_n=$((tap_n + 1))
	echo "ok $tap_n # skip no git here (the matrix's build roots have none): nothing is a clone"
fi
rm -rf "$tmp/work/shared"

# make test's Citus suite in a plain clone: skipped and said, nothing failed
out=$(TROVELLA_SUITES=citus "$clone/scripts/run-suites" 2>&1)
status=$?
is "$status|$(tail -n 1 <<<"$out")" "0|citus: skipped" "run-suites: the Citus suite says it skipped, and fails nothing"
is "$(cat "$clone/tmp_check/summary")" "0 passed, 0 failed" "run-suites: no Citus test counted as passed or failed"
done_testing
