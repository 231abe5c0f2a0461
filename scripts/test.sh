#!/usr/bin/env bash
# The whole test suite against a throwaway cluster inside the checkout:
#   pg_regress (test/sql, expected output in expected/), isolation specs
#   (test/specs), pgTAP (test/pgtap, through pg_prove), and the scripted suites
#   (test/scripts/*.sh: dump/restore, upgrade, crash, fuzz, ...).
# Exits non-zero on any failure; the cluster is stopped in every case.
#
#   scripts/test.sh            everything
#   scripts/test.sh regress    only pg_regress + isolation
#   scripts/test.sh pgtap      only pgTAP
#   scripts/test.sh scripts [NAME...]   only the scripted suites
. "$(dirname "$0")/lib.sh"

what=${1:-all}
shift || true
crm_deps
crm_build
crm_overlay
crm_cluster_start contrib_regression

passed=0 failed=0 failures=""
record() { # name status
	if [ "$2" = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); failures="$failures $1"; fi
}

started=$(date +%s)
if [ "$what" = all ] || [ "$what" = regress ]; then
	say "pg_regress and isolation specs"
	set +e
	make -C "$CRM_ROOT" -s installcheck
	rc=$?
	set -e
	if [ $rc != 0 ]; then
		for f in "$CRM_ROOT"/regression.diffs "$CRM_ROOT"/output_iso/regression.diffs; do
			[ -s "$f" ] && head -n 200 "$f"
		done
	fi
	record installcheck $rc
fi

if [ "$what" = all ] || [ "$what" = pgtap ]; then
	say "pgTAP"
	psql -q -X -d postgres -c "CREATE DATABASE crm_tap" >/dev/null
	psql -q -X -d crm_tap -c "CREATE EXTENSION pgtap; CREATE EXTENSION crm" >/dev/null
	set +e
	pg_prove -d crm_tap --failures "$CRM_ROOT"/test/pgtap/*.sql
	rc=$?
	set -e
	record pgtap $rc
fi

if [ "$what" = all ] || [ "$what" = scripts ]; then
	if [ $# -gt 0 ]; then scripts="$*"; else scripts=$(cd "$CRM_ROOT/test/scripts" && ls *.sh 2>/dev/null | sed 's/\.sh$//'); fi
	for s in $scripts; do
		say "test/scripts/$s.sh"
		set +e
		( cd "$CRM_ROOT" && CRM_ROOT=$CRM_ROOT PGDATA_DIR=$PGDATA_DIR OVERLAY_BIN=$OVERLAY_BIN bash "test/scripts/$s.sh" )
		rc=$?
		set -e
		record "scripts/$s" $rc
	done
fi

say "suite took $(( $(date +%s) - started )) s"
[ -n "$failures" ] && echo "failed:$failures"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
