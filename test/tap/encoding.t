#!/usr/bin/env bash
# trovella in databases that are not UTF-8: LATIN1 (an encoding with one
# byte a character) and SQL_ASCII (no encoding: PostgreSQL counts a byte as
# a character).  A token's name is counted in characters where the encoding
# has them, and control characters are refused in each encoding's own terms
# (the C1 controls are bytes 0x80 to 0x9F in LATIN1; SQL_ASCII, which mostly
# holds UTF-8, is read as UTF-8 where its bytes are, as LATIN1 where not).
# Non-ASCII input to the id functions is refused cleanly.
set -u
. "$(dirname "$0")/lib.sh"
plan 15

U=cccccccc-0000-0000-0000-000000000000
for enc in LATIN1 SQL_ASCII; do
	dropdb --if-exists "trovella_enc_$enc" >/dev/null 2>&1
	createdb -T template0 -E "$enc" --locale=C "trovella_enc_$enc"
	DB="trovella_enc_$enc" q -c "CREATE EXTENSION trovella" >/dev/null
done

# pat_create NAME-EXPRESSION: the name a token was created with, or the error
create_named() {
	PGCLIENTENCODING=UTF8 q -c "BEGIN" -c "SELECT trovella.with_user('$U')" \
		-c "SELECT count(*) FROM trovella.pat_create($1, now() + interval '1 day')" \
		-c "SELECT length(name) || '|' || octet_length(name) FROM trovella.pat_list()" -c "ROLLBACK" | tail -n 1
}

DB=trovella_enc_LATIN1
is "$(q -c "SHOW server_encoding")" "LATIN1" "a LATIN1 database"
is "$(create_named "repeat('é', 100)")" "100|100" \
	"LATIN1: a name of 100 accented characters is 100 characters (one byte each) and accepted"
is "$(create_named "repeat('é', 101)")" "ERROR 22023" "LATIN1: 101 characters are refused (22023)"
is "$(create_named "'nel' || chr(133)")" "ERROR 22023" "LATIN1: the C1 control 0x85 (NEL) is refused (22023)"
is "$(create_named "'ÿ and £'")" "7|7" "LATIN1: printable characters above 0x9F are accepted"
is "$(PGCLIENTENCODING=UTF8 q -c "SELECT trovella.ulid_to_uuid(repeat('é', 26))")" "ERROR 22P02" \
	"LATIN1: a ULID of non-ASCII characters is refused (22P02)"

DB=trovella_enc_SQL_ASCII
is "$(q -c "SHOW server_encoding")" "SQL_ASCII" "a SQL_ASCII database"
is "$(create_named "repeat('é', 50)")" "100|100" \
	"SQL_ASCII: 50 accented characters in UTF-8 are 100 bytes, counted as 100 characters, accepted"
is "$(create_named "repeat('é', 51)")" "ERROR 22023" "SQL_ASCII: 102 bytes are refused (22023)"
is "$(create_named "'nel' || chr(133)")" "ERROR 22023" \
	"SQL_ASCII: a lone byte 0x85 (NEL in LATIN1) is refused (22023)"
is "$(create_named "E'nel\\xc2\\x85'")" "ERROR 22023" \
	"SQL_ASCII: the UTF-8 C1 control C2 85 is refused (22023)"
is "$(create_named "'ā ok'")" "5|5" \
	"SQL_ASCII: a UTF-8 character whose second byte is 0x81 is accepted"
is "$(PGCLIENTENCODING=UTF8 q -c "SELECT trovella.ulid_to_uuid(repeat('é', 13))")" "ERROR 22P02" \
	"SQL_ASCII: a ULID of non-ASCII bytes is refused (22P02)"

DB=${TROVELLA_TEST_DB:-trovella_tap}
is "$(q -c "SHOW server_encoding")" "UTF8" "the suites' own cluster is UTF-8 whatever the caller's locale"
is "$(create_named "E'nel\\u0085'")" "ERROR 22023" "UTF8: U+0085 is refused (22023)"

for enc in LATIN1 SQL_ASCII; do dropdb "trovella_enc_$enc"; done
done_testing
