#!/usr/bin/env bash
# Duplicate detection in databases of other encodings: test/scripts/
# encodings.sql runs in a UTF8, a LATIN1 and a SQL_ASCII database (created
# from template0) and must print exactly the same in each; no server process
# may die.  In SQL_ASCII, bytes that are not UTF-8 must not make the
# LEAKPROOF key functions fail.
set -uo pipefail
failed=0
check() { local d=$1; shift; if "$@"; then echo "PASS  $d"; else echo "FAIL  $d"; failed=$((failed + 1)); fi; }

dir=$(mktemp -d)
export PGCLIENTENCODING=UTF8
for enc in UTF8 LATIN1 SQL_ASCII; do
	db=crm_enc_$(echo $enc | tr 'A-Z' 'a-z')
	psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" \
		-c "CREATE DATABASE $db TEMPLATE template0 ENCODING '$enc' LC_COLLATE 'C' LC_CTYPE 'C'" >/dev/null
	psql -X -q -d $db -c "CREATE EXTENSION crm" >/dev/null
	psql -X -q -A -v ON_ERROR_STOP=1 -d $db -f test/scripts/encodings.sql >"$dir/$enc.out" 2>&1
	check "encodings.sql runs without error in $enc" test $? = 0
done
check "LATIN1 gives the same results as UTF8" diff -u "$dir/UTF8.out" "$dir/LATIN1.out"
check "SQL_ASCII gives the same results as UTF8" diff -u "$dir/UTF8.out" "$dir/SQL_ASCII.out"
check "the results are not empty" grep -q 'Société Générale' "$dir/UTF8.out"

# SQL_ASCII stores any bytes: LATIN1 bytes (not valid UTF-8) still give keys.
out=$(PGCLIENTENCODING=SQL_ASCII psql -X -A -t -q -d crm_enc_sql_ascii -c \
	"SELECT crm.name_key('Jos' || convert_from('\\xe9'::bytea, 'SQL_ASCII'), 'M' || convert_from('\\xfc'::bytea, 'SQL_ASCII') || 'ller') IS NOT NULL,
	        crm.company_key(convert_from('\\xc7a0'::bytea, 'SQL_ASCII')) IS NOT DISTINCT FROM crm.company_key(convert_from('\\xc7a0'::bytea, 'SQL_ASCII')),
	        crm.jaro_winkler(convert_from('\\xff'::bytea, 'SQL_ASCII'), 'y') >= 0" 2>&1)
check "SQL_ASCII: key functions take bytes that are not UTF-8 ($out)" test "$out" = "t|t|t"
check "the server is up" psql -X -q -d postgres -c "SELECT 1" >/dev/null
if [ -n "${PGDATA_DIR:-}" ] && [ -f "$PGDATA_DIR/../server.log" ]; then
	check "no server process died" bash -c "! grep -q 'terminated by signal' '$PGDATA_DIR/../server.log'"
fi

for enc in UTF8 LATIN1 SQL_ASCII; do
	psql -X -q -d postgres -c "DROP DATABASE crm_enc_$(echo $enc | tr 'A-Z' 'a-z')" >/dev/null
done
[ $failed = 0 ] && rm -rf "$dir" || echo "outputs kept in $dir"
echo "encodings: $failed check(s) failed"
[ $failed = 0 ]
