#!/usr/bin/env bash
# Release the version under development and start the next one:
#   scripts/release.sh NEXT        e.g. scripts/release.sh 0.2.0
# - freezes the install script of the current default_version as
#   sql/versions/crm--X.sql (never edited again; installed as it is),
# - freezes the populated CRM of the tests as test/upgrade/populate-X.sql
#   (the upgrade test fills X with it, updates, and compares catalog and data),
# - starts sql/versions/crm--X--NEXT.sql, where every later schema change
#   also goes, and makes NEXT the default_version in crm.control.
# Commit the result with the tag vX.  See doc/operations.md, "Releases".
set -euo pipefail
cd "$(dirname "$0")/.."
next=${1:?usage: scripts/release.sh NEXT_VERSION}
v=$(sed -n "s/^default_version = '\(.*\)'/\1/p" crm.control)
case $next in [0-9]*.[0-9]*.[0-9]*) ;; *) echo "not a version: $next" >&2; exit 1 ;; esac
[ "$next" != "$v" ] || { echo "$next is the current version" >&2; exit 1; }
[ ! -e "sql/versions/crm--$v.sql" ] || { echo "$v is released already" >&2; exit 1; }
make -s crm--$v.sql
mkdir -p sql/versions test/upgrade
cp crm--$v.sql sql/versions/crm--$v.sql && rm -f crm--$v.sql
# (one self-contained file: the shared fill it includes is copied into it)
sed -e '/^\\ir populate_fill\.sql$/{r test/scripts/populate_fill.sql' -e 'd' -e '}' \
	test/scripts/populate.sql >test/upgrade/populate-$v.sql
grep -q '^CREATE FUNCTION pg_temp.fill(' test/upgrade/populate-$v.sql || { echo "populate_fill.sql was not copied in" >&2; exit 1; }
cat > sql/versions/crm--$v--$next.sql <<SQL
-- crm $v -> $next: the changes since the release of $v, in the order they
-- were made (each later change appends its DDL here, and the same change
-- goes into sql/*.sql for fresh installs; test/scripts/upgrade.sh checks
-- that both give the same catalog and that the data stays as it was).
\echo Use "ALTER EXTENSION crm UPDATE TO '$next'" to load this file. \quit
SQL
sed -i "s/^default_version = '$v'/default_version = '$next'/" crm.control
echo "released $v, now $next"
