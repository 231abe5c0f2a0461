#!/usr/bin/env bash
# Upgrade paths: for every released version (sql/versions/crm--X.Y.Z.sql,
# frozen at release), install X in a fresh database, ALTER EXTENSION crm
# UPDATE to the current version, and compare the catalog with a fresh
# CREATE EXTENSION crm: tables, columns (type, default, not null, generated),
# constraints, indexes, triggers, policies, functions (signature, result,
# volatility, strictness, security, settings, body), views, event triggers,
# comments, privileges, configuration tables, and the extension's own
# registry rows.
#
# Always also checks that the current default version installs, that
# crm.control's default_version names the generated script, and that the
# snapshot query is stable (a fresh install compared with another).
#
# Uses the running cluster (PGHOST/PGPORT/PGUSER from scripts/test.sh).
set -uo pipefail

ROOT=${CRM_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
WORK=$(mktemp -d /tmp/crm-upgrade.XXXXXX)
failures=0
pass() { printf 'PASS  %s\n' "$*"; }
fail() { printf 'FAIL  %s\n' "$*"; failures=$((failures + 1)); }
psqlq() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
cleanup() {
	for db in crm_up_fresh crm_up_fresh2 crm_up_old; do
		psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1
	done
	for r in crm_dr_admin crm_dr_user; do
		psql -X -q -d postgres -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
cleanup_quiet() { for db in "$@"; do psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1; done; }

# The catalog as text, one object per line, independent of OIDs and of the
# order objects were created in.
SNAPSHOT=$(cat <<'SQL'
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'crm'),
nsp AS (SELECT 'crm'::regnamespace AS oid)
SELECT line FROM (
	SELECT 'extension ' || e.extversion || ' schema ' || e.extnamespace::regnamespace
		   || ' relocatable ' || e.extrelocatable AS line
	  FROM pg_extension e WHERE e.extname = 'crm'
	UNION ALL
	SELECT 'config ' || c::regclass::text FROM pg_extension e, unnest(e.extconfig) c WHERE e.extname = 'crm'
	UNION ALL
	SELECT format('relation %s kind %s rls %s force %s options %s', c.oid::regclass, c.relkind,
				  c.relrowsecurity, c.relforcerowsecurity, c.reloptions)
	  FROM pg_class c WHERE c.relnamespace = (SELECT oid FROM nsp) AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c')
	UNION ALL
	SELECT format('column %s.%s %s notnull %s default %s generated %s identity %s collation %s',
				  a.attrelid::regclass, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
				  pg_get_expr(d.adbin, d.adrelid), a.attgenerated, a.attidentity, a.attcollation::regcollation)
	  FROM pg_attribute a
	  JOIN pg_class c ON c.oid = a.attrelid
	  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
	 WHERE c.relnamespace = (SELECT oid FROM nsp) AND c.relkind IN ('r', 'p', 'v', 'm', 'c', 'f')
	   AND a.attnum > 0 AND NOT a.attisdropped
	UNION ALL
	SELECT format('constraint %s.%s %s', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid))
	  FROM pg_constraint c WHERE c.connamespace = (SELECT oid FROM nsp)
	UNION ALL
	SELECT 'index ' || pg_get_indexdef(i.indexrelid)
	  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace = (SELECT oid FROM nsp)
	UNION ALL
	SELECT format('trigger %s.%s enabled %s %s', t.tgrelid::regclass, t.tgname, t.tgenabled, pg_get_triggerdef(t.oid))
	  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
	 WHERE c.relnamespace = (SELECT oid FROM nsp) AND NOT t.tgisinternal
	UNION ALL
	SELECT format('policy %s.%s %s %s roles %s using %s check %s', p.polrelid::regclass, p.polname, p.polcmd,
				  p.polpermissive, p.polroles::regrole[], pg_get_expr(p.polqual, p.polrelid),
				  pg_get_expr(p.polwithcheck, p.polrelid))
	  FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid WHERE c.relnamespace = (SELECT oid FROM nsp)
	UNION ALL
	SELECT format('function %s returns %s kind %s volatile %s strict %s secdef %s parallel %s leakproof %s config %s lang %s body %s',
				  p.oid::regprocedure, pg_get_function_result(p.oid), p.prokind, p.provolatile, p.proisstrict,
				  p.prosecdef, p.proparallel, p.proleakproof, p.proconfig, l.lanname, md5(p.prosrc || coalesce(p.probin, '')))
	  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang WHERE p.pronamespace = (SELECT oid FROM nsp)
	UNION ALL
	-- privileges: who may execute, read and write what (an update script
	-- that forgets to revoke a new function from PUBLIC shows here)
	SELECT format('grant function %s %s', p.oid::regprocedure, a::text)
	  FROM pg_proc p, LATERAL unnest(coalesce(p.proacl, acldefault('f', p.proowner))) a
	 WHERE p.pronamespace = (SELECT oid FROM nsp)
	UNION ALL
	SELECT format('grant relation %s %s', c.oid::regclass, a::text)
	  FROM pg_class c, LATERAL unnest(coalesce(c.relacl, acldefault('r', c.relowner))) a
	 WHERE c.relnamespace = (SELECT oid FROM nsp) AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
	UNION ALL
	SELECT format('grant column %s.%s %s', c.oid::regclass, t.attname, a::text)
	  FROM pg_class c JOIN pg_attribute t ON t.attrelid = c.oid, LATERAL unnest(t.attacl) a
	 WHERE c.relnamespace = (SELECT oid FROM nsp) AND t.attacl IS NOT NULL
	UNION ALL
	SELECT format('grant schema %s', a::text)
	  FROM pg_namespace n, LATERAL unnest(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
	 WHERE n.oid = (SELECT oid FROM nsp)
	UNION ALL
	SELECT format('type %s type %s', t.oid::regtype, t.typtype)
	  FROM pg_type t WHERE t.typnamespace = (SELECT oid FROM nsp) AND t.typtype NOT IN ('c') AND t.typelem = 0
	UNION ALL
	SELECT format('operator %s', o.oid::regoperator) FROM pg_operator o WHERE o.oprnamespace = (SELECT oid FROM nsp)
	UNION ALL
	SELECT format('view %s %s', c.oid::regclass, md5(pg_get_viewdef(c.oid)))
	  FROM pg_class c WHERE c.relnamespace = (SELECT oid FROM nsp) AND c.relkind IN ('v', 'm')
	UNION ALL
	SELECT format('event trigger %s on %s tags %s enabled %s function %s', e.evtname, e.evtevent, e.evttags,
				  e.evtenabled, e.evtfoid::regproc)
	  FROM pg_event_trigger e JOIN pg_depend d ON d.classid = 'pg_event_trigger'::regclass AND d.objid = e.oid
	 WHERE d.refobjid = (SELECT oid FROM ext)
	UNION ALL
	SELECT format('comment %s %s', pg_describe_object(d.classoid, d.objoid, d.objsubid), d.description)
	  FROM pg_description d
	  JOIN pg_depend x ON x.classid = d.classoid AND x.objid = d.objoid AND x.refobjid = (SELECT oid FROM ext) AND x.deptype = 'e'
	UNION ALL
	SELECT format('comment %s %s', pg_describe_object(d.classoid, d.objoid, d.objsubid), d.description)
	  FROM pg_description d JOIN pg_class c ON d.classoid = 'pg_class'::regclass AND c.oid = d.objoid
	 WHERE c.relnamespace = (SELECT oid FROM nsp) AND d.objsubid > 0
	UNION ALL
	SELECT 'member ' || pg_describe_object(d.classid, d.objid, 0)
	  FROM pg_depend d WHERE d.refobjid = (SELECT oid FROM ext) AND d.deptype = 'e'
	UNION ALL
	SELECT 'registry ' || r::text FROM crm.table_registry r
	UNION ALL
	SELECT 'verify_check ' || v::text FROM crm.verify_check v
	UNION ALL
	SELECT 'job ' || j::text FROM crm.job j
) s
ORDER BY line COLLATE "C";
SQL
)

snapshot() { # database, file
	psqlq -d "$1" -c "$SNAPSHOT" >"$2"
}

# The data: every CRM table (the registry's and the two global ones), as
# "table count md5" over its rows, read through the columns listed in
# $WORK/columns.$1 -- those of the released version, so that a column an
# update adds does not count as a change of the data that was there.
data_tables() { # database
	psqlq -d "$1" -c "SELECT 'organization' UNION ALL SELECT 'role_access' UNION ALL SELECT table_name FROM crm.table_registry ORDER BY 1"
}
data_columns() { # database, output file: "table column-list" per line
	local t
	for t in $(data_tables "$1"); do
		printf '%s %s\n' "$t" "$(psqlq -d "$1" -c "SELECT string_agg(quote_ident(attname), ',' ORDER BY attnum) FROM pg_attribute
			WHERE attrelid = 'crm.$t'::regclass AND attnum > 0 AND NOT attisdropped")"
	done >"$2"
}
data_snapshot() { # database, columns file, output file
	local t cols
	while read -r t cols; do
		psqlq -d "$1" -c "SELECT '$t', count(*), md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), ''))
			FROM (SELECT $cols FROM crm.$t) x" | tr '|' ' '
	done <"$2" >"$3"
}
fresh_db() { # database [version]
	cleanup_quiet "$1"
	psqlq -d postgres -c "CREATE DATABASE $1" >/dev/null || return 1
	if [ -n "${2:-}" ]; then
		psqlq -d "$1" -c "CREATE EXTENSION crm VERSION '$2'" >/dev/null
	else
		psqlq -d "$1" -c "CREATE EXTENSION crm" >/dev/null
	fi
}

current=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$ROOT/crm.control")
# Where the running server looks for extension scripts.
sharedir=$(psqlq -d postgres -c "SELECT setting FROM pg_config WHERE name = 'SHAREDIR'")
# The generated script of the current version exists (built by make) and
# is what the control file promises.
if [ -n "$current" ] && [ -f "$ROOT/crm--$current.sql" ]; then
	pass "crm.control default_version $current has its generated script crm--$current.sql"
else
	fail "crm.control default_version '$current' has no generated script crm--$current.sql (run make)"
fi
# A released version never is the version under development: the frozen
# copy in sql/versions/ would collide with the generated one on install.
if [ -f "$ROOT/sql/versions/crm--$current.sql" ]; then
	fail "sql/versions/crm--$current.sql exists: $current is released, start the next version in crm.control"
else
	pass "the current version $current is not a released (frozen) one"
fi

# The current version installs, and the catalog snapshot is deterministic.
if fresh_db crm_up_fresh && fresh_db crm_up_fresh2; then
	v=$(psqlq -d crm_up_fresh -c "SELECT extversion FROM pg_extension WHERE extname = 'crm'")
	if [ "$v" = "$current" ]; then pass "CREATE EXTENSION crm installs $current"; else fail "CREATE EXTENSION crm installed '$v', not $current"; fi
	snapshot crm_up_fresh "$WORK/fresh.snap"
	snapshot crm_up_fresh2 "$WORK/fresh2.snap"
	if [ -s "$WORK/fresh.snap" ] && diff -q "$WORK/fresh.snap" "$WORK/fresh2.snap" >/dev/null; then
		pass "catalog snapshot of a fresh install is stable ($(wc -l <"$WORK/fresh.snap") lines)"
	else
		fail "catalog snapshot differs between two fresh installs"
		diff -u "$WORK/fresh.snap" "$WORK/fresh2.snap" | head -n 40
	fi
	# The comparison notices what an upgrade script could get wrong: a
	# changed default, volatility, comment, a missing index, a privilege.
	psqlq -d crm_up_fresh2 >/dev/null <<'SQL'
ALTER TABLE crm.contact ALTER COLUMN title SET DEFAULT 'x';
ALTER FUNCTION crm.uuid_v7_time(uuid) STABLE;
COMMENT ON TABLE crm.lead IS 'changed';
DROP INDEX crm.lead_tags_idx;
GRANT EXECUTE ON FUNCTION crm._criteria_columns(jsonb, text) TO PUBLIC;
SQL
	snapshot crm_up_fresh2 "$WORK/changed.snap"
	n=$(diff "$WORK/fresh.snap" "$WORK/changed.snap" | grep -c '^[<>]')
	if [ "$n" = 8 ]; then
		pass "the snapshot catches a changed default, volatility, comment, a dropped index and a grant (8 lines differ)"
	else
		fail "the snapshot should show 8 differing lines for 5 catalog changes, shows $n"
		diff "$WORK/fresh.snap" "$WORK/changed.snap"
	fi
else
	fail "CREATE EXTENSION crm in a fresh database"
fi

# Every released version: install, update, compare.
released=$(cd "$ROOT/sql/versions" 2>/dev/null && ls crm--*.sql 2>/dev/null | grep -v -- '--.*--' | sed 's/^crm--\(.*\)\.sql$/\1/' | sort -V)
if [ -z "$released" ]; then
	echo "note  no released version in sql/versions/ yet: no upgrade path to test"
fi
for old in $released; do
	# Each released version must be installed where the server looks.
	if [ ! -f "$sharedir/extension/crm--$old.sql" ]; then
		fail "crm--$old.sql is not installed in $sharedir/extension (Makefile DATA)"
		continue
	fi
	if ! fresh_db crm_up_old "$old"; then
		fail "CREATE EXTENSION crm VERSION '$old'"
		continue
	fi
	# The released version with data in every table, written through the
	# normal path by its own populate script (frozen with the release).
	populate=$ROOT/test/upgrade/populate-$old.sql
	with_data=no
	if [ -f "$populate" ]; then
		for r in crm_dr_admin crm_dr_user; do
			psql -X -q -d postgres -c "DROP ROLE IF EXISTS $r" -c "CREATE ROLE $r" >/dev/null 2>&1
		done
		if ! psql -X -q -d crm_up_old -v contacts=300 -f "$populate" >"$WORK/populate.$old.log" 2>&1; then
			fail "$old populated by test/upgrade/populate-$old.sql"
			tail -n 20 "$WORK/populate.$old.log"
			continue
		fi
		empty=$(for t in $(data_tables crm_up_old); do
			[ "$(psqlq -d crm_up_old -c "SELECT count(*) FROM crm.$t")" = 0 ] && printf '%s ' "$t"
		done)
		check_empty=$(data_tables crm_up_old | wc -l)
		if [ -z "$empty" ]; then
			pass "$old populated: all $check_empty CRM tables have rows"
		else
			fail "$old populated, but tables are empty: $empty"
		fi
		data_columns crm_up_old "$WORK/columns.$old"
		data_snapshot crm_up_old "$WORK/columns.$old" "$WORK/data.$old.before"
		with_data=yes
	else
		echo "note  no test/upgrade/populate-$old.sql: $old is updated without data"
	fi
	if ! psqlq -d crm_up_old -c "ALTER EXTENSION crm UPDATE" >"$WORK/update.$old.log" 2>&1; then
		fail "ALTER EXTENSION crm UPDATE from $old"
		cat "$WORK/update.$old.log"
		continue
	fi
	snapshot crm_up_old "$WORK/old.$old.snap"
	ref=$WORK/fresh.snap
	if [ $with_data = yes ]; then
		# The populated database granted access to two application roles
		# (crm.grant_access, as populate does); the fresh install gets the
		# same grants, so the comparison also shows an update that leaves
		# an existing role without access to what it adds.
		psqlq -d crm_up_fresh -c "SELECT crm.grant_access('crm_dr_admin', 'admin')" \
			-c "SELECT crm.grant_access('crm_dr_user', 'user')" >/dev/null
		snapshot crm_up_fresh "$WORK/fresh.granted.snap"
		ref=$WORK/fresh.granted.snap
	fi
	if diff -u "$ref" "$WORK/old.$old.snap" >"$WORK/diff.$old"; then
		pass "$old -> $current: catalog identical to a fresh install"
	else
		fail "$old -> $current: catalog differs from a fresh install (- fresh, + updated)"
		head -n 80 "$WORK/diff.$old"
	fi
	if [ $with_data = yes ]; then
		data_snapshot crm_up_old "$WORK/columns.$old" "$WORK/data.$old.after"
		if diff -u "$WORK/data.$old.before" "$WORK/data.$old.after" >"$WORK/datadiff.$old"; then
			pass "$old -> $current: the data of every table is what was there ($(wc -l <"$WORK/data.$old.before") tables, counts and checksums)"
		else
			fail "$old -> $current: data changed by the update (- before, + after)"
			head -n 40 "$WORK/datadiff.$old"
		fi
		# (and the comparison would notice one changed value)
		psqlq -d crm_up_old -c "UPDATE crm.organization SET name = name || '.' WHERE id = (SELECT id FROM crm.organization ORDER BY id LIMIT 1)" >/dev/null
		data_snapshot crm_up_old "$WORK/columns.$old" "$WORK/data.$old.changed"
		n=$(diff "$WORK/data.$old.after" "$WORK/data.$old.changed" | grep -c '^[<>]')
		if [ "$n" -ge 2 ]; then
			pass "the data comparison notices one changed value ($n lines differ)"
		else
			fail "the data comparison missed a changed organization name"
		fi
		psqlq -d crm_up_old -c "UPDATE crm.organization SET name = left(name, -1) WHERE id = (SELECT id FROM crm.organization ORDER BY id LIMIT 1)" >/dev/null
		drift=$(psqlq -d crm_up_old -c "SELECT count(*) FROM crm.verify()")
		if [ "$drift" = 0 ]; then
			pass "$old -> $current: crm.verify() finds no drift after the update"
		else
			fail "$old -> $current: crm.verify() reports $drift rows after the update"
		fi
	fi
done

echo
[ $failures = 0 ] && echo "upgrade: all checks passed" || echo "upgrade: $failures check(s) failed"
[ $failures = 0 ]
