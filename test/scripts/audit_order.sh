#!/usr/bin/env bash
# The audit history of a record follows the real order of its changes, also
# when several backends change it within the same millisecond.
#
# pgbench runs two clients (as an application role) that update the same
# contact as fast as they can, and a third pair that updates and soft-deletes
# and restores another one.  The row lock serialises the updates; the history
# (crm.history, oldest first) must then chain: every UPDATE entry's old
# values are the previous entry's new values, and the entries are numbered
# 1, 2, 3, ... (audit_log.seq) without gap or repeat.  Ordering by the
# entries' uuid v7 ids (the order before seq existed) breaks this: ids of two
# backends in the same millisecond sort arbitrarily.
set -uo pipefail
failed=0
check() { local d=$1; shift; if "$@"; then echo "PASS  $d"; else echo "FAIL  $d"; failed=$((failed + 1)); fi; }

db=crm_audit_order
role=crm_audit_order_app
tx=${AUDIT_ORDER_TX:-1500}
work=$(mktemp -d /tmp/crm-audit-order.XXXXXX)
chmod 755 "$work"
cleanup() {
	psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "DROP ROLE IF EXISTS $role" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT
cleanup
mkdir -p "$work"
chmod 755 "$work"

psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $db" -c "CREATE ROLE $role LOGIN" >/dev/null
org=$(psql -X -A -t -q -v ON_ERROR_STOP=1 -d $db -c "CREATE EXTENSION crm" -c "SELECT crm.create_organization('Order Co')")
psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null <<SQL
SET crm.organization_id = '$org';
SELECT crm.grant_access('$role', 'user', ARRAY['$org']::uuid[]);
INSERT INTO crm.contact (id, last_name, title) VALUES
	('00000000-0000-7000-8000-00000000a0c1', 'Busy', 't0'),
	('00000000-0000-7000-8000-00000000a0c2', 'Flip', 't0');
SQL

# The audit insert looks up each record's last entry by key.  Its plan is
# made once per backend: made while the log is small (here: just analysed
# with a handful of entries) it must still be an index lookup, or every
# entry scans the whole log for the rest of the backend's life (a
# 100,000-row update took more than 17 minutes).  auto_explain shows the
# plan the trigger's statement ran with.
psql -X -q -d $db -c "VACUUM ANALYZE crm.audit_log"
psql -X -q -d $db >"$work/plan" 2>&1 <<SQL
SET crm.organization_id = '$org';
LOAD 'auto_explain';
SET auto_explain.log_min_duration = 0;
SET auto_explain.log_nested_statements = on;
SET client_min_messages = log;
UPDATE crm.contact SET title = 'planned' WHERE id = '00000000-0000-7000-8000-00000000a0c1';
UPDATE crm.contact SET title = 't0' WHERE id = '00000000-0000-7000-8000-00000000a0c1';
SQL
sed -n '/Insert on audit_log/,/^LOG/p' "$work/plan" | head -n 12 >"$work/plan.audit"
sed 's/^/        /' "$work/plan.audit"
check "audit insert planned (plan shown by auto_explain)" grep -q 'Insert on audit_log' "$work/plan.audit"
check "audit insert finds a record's last entry through the index, not a scan of the log" \
	sh -c "grep -q 'Index Only Scan Backward using audit_log_record_seq_key' '$work/plan.audit' && ! grep -q 'Seq Scan on audit_log' '$work/plan.audit'"

# Each transaction changes the title to a value no other transaction uses,
# so a history out of order cannot chain by accident.
cat >"$work/update.sql" <<'SQL'
UPDATE crm.contact SET title = 'c' || :client_id || '-' || txid_current() WHERE id = '00000000-0000-7000-8000-00000000a0c1';
SQL
cat >"$work/flip.sql" <<'SQL'
BEGIN;
UPDATE crm.contact SET title = 'f' || :client_id || '-' || txid_current() WHERE id = '00000000-0000-7000-8000-00000000a0c2';
UPDATE crm.contact SET deleted_at = now() WHERE id = '00000000-0000-7000-8000-00000000a0c2';
UPDATE crm.contact SET deleted_at = NULL WHERE id = '00000000-0000-7000-8000-00000000a0c2';
COMMIT;
SQL
PGOPTIONS="-c crm.organization_id=$org" pgbench -n -U $role -c 2 -j 2 -t "$tx" -f "$work/update.sql" $db >"$work/pgbench1.out" 2>&1
rc1=$?
PGOPTIONS="-c crm.organization_id=$org" pgbench -n -U $role -c 2 -j 2 -t "$((tx / 3))" -f "$work/flip.sql" $db >"$work/pgbench2.out" 2>&1
rc2=$?
check "pgbench ran: 2 clients x $tx updates of one contact, 2 x $((tx / 3)) update/delete/restore transactions of another (exit $rc1/$rc2)" test $rc1 = 0 -a $rc2 = 0
[ $rc1 != 0 ] && cat "$work/pgbench1.out"
[ $rc2 != 0 ] && cat "$work/pgbench2.out"

# One line per record: entries; UPDATE entries with a column whose old value
# is not the value the history before it left (the last new value of that
# column, or null); entries whose seq is not their position in the history.
psql -X -A -t -q -v ON_ERROR_STOP=1 -d $db >"$work/result" <<SQL
SET crm.organization_id = '$org';
SET ROLE $role;
WITH h AS (
	SELECT c.id AS rec, x.*
	  FROM crm.contact c
	 CROSS JOIN LATERAL crm.history('crm.contact', c.id) WITH ORDINALITY AS x
	 WHERE c.id IN ('00000000-0000-7000-8000-00000000a0c1', '00000000-0000-7000-8000-00000000a0c2')
), kv AS (
	SELECT h.rec, h.ordinality, h.action, k.key, h.old_values -> k.key AS oldv, h.new_values -> k.key AS newv
	  FROM h CROSS JOIN LATERAL jsonb_object_keys(coalesce(h.old_values, '{}') || coalesce(h.new_values, '{}')) AS k(key)
), chain AS (
	SELECT kv.*, lag(kv.newv) OVER (PARTITION BY kv.rec, kv.key ORDER BY kv.ordinality) AS before
	  FROM kv
)
SELECT h.rec, count(*),
	   (SELECT count(DISTINCT c.ordinality) FROM chain c
		 WHERE c.rec = h.rec AND c.action = 'UPDATE' AND c.oldv IS DISTINCT FROM coalesce(c.before, 'null'::jsonb)),
	   count(*) FILTER (WHERE h.seq <> h.ordinality)
  FROM h GROUP BY h.rec ORDER BY h.rec;
SQL
cat "$work/result" | sed 's/^/        /'
busy=$(grep a0c1 "$work/result")
flip=$(grep a0c2 "$work/result")
check "busy contact: 3 + $((2 * tx)) entries" test "$(echo "$busy" | cut -d'|' -f2)" = $((3 + 2 * tx))
check "busy contact: every entry's old values are the previous entry's new values" test "$(echo "$busy" | cut -d'|' -f3)" = 0
check "busy contact: entries numbered 1..n in history order" test "$(echo "$busy" | cut -d'|' -f4)" = 0
check "update/delete/restore contact: 1 + $((2 * (tx / 3) * 3)) entries" test "$(echo "$flip" | cut -d'|' -f2)" = $((1 + 2 * (tx / 3) * 3))
check "update/delete/restore contact: every entry's old values are the previous entry's new values" test "$(echo "$flip" | cut -d'|' -f3)" = 0
check "update/delete/restore contact: entries numbered 1..n in history order" test "$(echo "$flip" | cut -d'|' -f4)" = 0
check "crm.verify() is clean" test "$(psql -X -A -t -q -d $db -c "SELECT count(*) FROM crm.verify()")" = 0

echo "audit_order: $failed check(s) failed"
[ $failed = 0 ]
