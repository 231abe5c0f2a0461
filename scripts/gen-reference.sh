#!/usr/bin/env bash
# Regenerate the "Tables" section of doc/reference.md from the catalog
# comments of a database where crm is installed.
#   scripts/gen-reference.sh [DBNAME]        rewrite doc/reference.md
#   scripts/gen-reference.sh --check DBNAME  exit 1 when doc/reference.md is stale
# Uses the PGHOST/PGPORT/PGUSER of the environment (scripts/test.sh sets them).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
check=no
if [ "${1:-}" = --check ]; then check=yes; shift; fi
db=${1:-contrib_regression}
doc=$root/doc/reference.md

tables=$(psql -X -At -d "$db" <<'SQL'
SELECT string_agg(section, E'\n' ORDER BY relname)
  FROM (
	SELECT c.relname,
		   format(E'### crm.%s\n\n%s\n\n| column | type | null | comment |\n| --- | --- | --- | --- |\n%s\n',
				  c.relname, obj_description(c.oid, 'pg_class'),
				  (SELECT string_agg(format('| `%s` | %s | %s | %s |', a.attname,
											replace(format_type(a.atttypid, a.atttypmod), '|', '\|'),
											CASE WHEN a.attnotnull THEN 'not null' ELSE '' END,
											replace(coalesce(col_description(c.oid, a.attnum), ''), '|', '\|')),
									 E'\n' ORDER BY a.attnum)
					 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)) AS section
	  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE n.nspname = 'crm' AND c.relkind IN ('r', 'p', 'v')
  ) s;
SQL
)

new=$(awk -v tables="$tables" '
	/<!-- tables:begin -->/ { print; print ""; print tables; skip = 1; next }
	/<!-- tables:end -->/ { skip = 0 }
	!skip { print }' "$doc")

if [ $check = yes ]; then
	if [ "$new" != "$(cat "$doc")" ]; then
		echo "doc/reference.md is stale: run scripts/gen-reference.sh against a database with crm installed" >&2
		diff <(echo "$new") "$doc" | head -20 >&2 || true
		exit 1
	fi
	echo "doc/reference.md tables section is current"
else
	printf '%s\n' "$new" >"$doc"
fi
