#!/usr/bin/env bash
# Released migrations are frozen: every script listed in sql/RELEASED still
# has its recorded SHA-256, every released version can be updated to the
# default version, META.json agrees with the control file, and the README's
# Migrations table lists every version with the status CHANGELOG.md gives it.
set -u
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.."

released=$(grep -v '^#' sql/RELEASED | awk 'NF == 2')
default_version=$(sed -nE "s/^default_version = '([^']+)'.*/\1/p" trovella.control)
plan $(( $(printf '%s\n' "$released" | grep -c .) * 2 + 5 ))

while read -r sum file; do
	[ -n "$file" ] || continue
	if [ -f "sql/$file" ]; then
		is "$(sha256sum "sql/$file" | cut -d' ' -f1)" "$sum" "released script $file is unchanged"
	else
		ok 1 "released script $file is present"
	fi
	# the released version reaches the default version through upgrade scripts
	version=$(printf '%s\n' "$file" | sed -nE 's/^trovella--([0-9.]+)\.sql$/\1/p;s/^trovella--[0-9.]+--([0-9.]+)\.sql$/\1/p')
	reached=$version
	while [ "$reached" != "$default_version" ]; do
		next=$(ls sql/ | sed -nE "s/^trovella--${reached//./\\.}--([0-9.]+)\.sql$/\1/p" | head -n 1)
		[ -n "$next" ] || break
		reached=$next
	done
	is "$reached" "$default_version" "version $version updates to the default version $default_version"
done <<<"$released"

is "$(sed -nE 's/^   "version": "([^"]+)".*/\1/p' META.json | head -n 1)" "$default_version" \
	"META.json's version is the control file's default_version"
grep -q "^## $default_version" CHANGELOG.md
ok $? "CHANGELOG.md has an entry for $default_version"
# from 18 on the library names itself and its version (PG_MODULE_MAGIC_EXT)
if [ "$(q -c "SELECT current_setting('server_version_num')::int >= 180000")" = t ]; then
	is "$(q -c "LOAD 'trovella'" -c "SELECT module_name || ' ' || version FROM pg_get_loaded_modules() WHERE file_name = 'trovella.so'")" \
		"trovella $default_version" "the loaded library reports itself as trovella $default_version"
else
	echo "ok $((tap_n += 1)) - # SKIP pg_get_loaded_modules() exists from PostgreSQL 18 on"
fi
# the README's Migrations table: each released script's version, released on
# the date of its CHANGELOG entry, then the default version's own script
# (unreleased, or released when sql/RELEASED lists it)
changelog_status() {
	local date
	date=$(sed -nE "s/^## ${1//./\\.} \(([0-9-]+)\)$/\1/p" CHANGELOG.md)
	if [ -n "$date" ]; then echo "released $date"; else echo unreleased; fi
}
want=$(
	printf '%s\n' "$released" | while read -r sum file; do
		[ -n "$file" ] || continue
		version=$(printf '%s\n' "$file" | sed -nE 's/^trovella--([0-9.]+)\.sql$/\1/p;s/^trovella--[0-9.]+--([0-9.]+)\.sql$/\1/p')
		printf '| %s | %s | `%s` |\n' "$version" "$(changelog_status "$version")" "$file"
	done
	newest=$(ls sql/ | grep -E -- "--${default_version//./\\.}\.sql$" | head -n 1)
	grep -q " $newest\$" sql/RELEASED ||
		printf '| %s | %s | `%s` |\n' "$default_version" "$(changelog_status "$default_version")" "$newest"
)
got=$(sed -n '/^## Migrations$/,/^## /p' README.md | grep -E '^\| [0-9]+\.[0-9]+\.[0-9]+ \|')
is "$got" "$want" "README.md's Migrations table lists every version with CHANGELOG.md's status"

# the Debian package's version is the extension's, with a Debian revision
is "$(sed -nE '1s/^trovella \(([^-)]+)-[^)]+\).*/\1/p' debian/changelog)" "$default_version" \
	"debian/changelog's newest entry is for $default_version"
done_testing
