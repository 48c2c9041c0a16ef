#!/usr/bin/env bash
# Released migrations are frozen: every script listed in sql/RELEASED still
# has its recorded SHA-256, every released version can be updated to the
# default version, and META.json agrees with the control file.
set -u
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.."

released=$(grep -v '^#' sql/RELEASED | awk 'NF == 2')
default_version=$(sed -nE "s/^default_version = '([^']+)'.*/\1/p" trovella.control)
plan $(( $(printf '%s\n' "$released" | grep -c .) * 2 + 4 ))

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
# the Debian package's version is the extension's, with a Debian revision
is "$(sed -nE '1s/^trovella \(([^-)]+)-[^)]+\).*/\1/p' debian/changelog)" "$default_version" \
	"debian/changelog's newest entry is for $default_version"
done_testing
