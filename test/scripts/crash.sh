#!/usr/bin/env bash
# Crash recovery: during a load through the crm tables with every trigger on,
# the server is stopped with `pg_ctl stop -m immediate` (no checkpoint, no
# clean shutdown) and restarted.  Then:
#   - every transaction the client saw committed is there, whole;
#   - nothing of a transaction that had not committed is there;
#   - each committed contact has exactly one audit entry;
#   - crm.verify() reports no drift and amcheck finds every crm index sound.
# Runs against the cluster of scripts/test.sh (PGHOST/PGPORT/PGUSER,
# PGDATA_DIR and OVERLAY_BIN in the environment).
set -uo pipefail

PGBIN=/usr/lib/postgresql/15/bin
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
failed=0
check() { # description, command...
	local d=$1; shift
	if "$@"; then echo "PASS  $d"; else echo "FAIL  $d"; failed=$((failed + 1)); fi
}
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d crm_crash "$@"; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
BATCHES=${CRASH_BATCHES:-400}
PER_BATCH=50

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS crm_crash" -c "CREATE DATABASE crm_crash"
q -c "CREATE EXTENSION crm" -c "CREATE EXTENSION amcheck"
org=$(q -c "SELECT crm.create_organization('Crash Co')")
q -c "DROP ROLE IF EXISTS crm_crash_app" -c "CREATE ROLE crm_crash_app LOGIN" \
  -c "SELECT crm.grant_access('crm_crash_app', 'user')" >/dev/null
user_id=$(q -c "SET crm.organization_id = '$org'" -c "INSERT INTO crm.app_user (name, email) VALUES ('Loader', 'loader@crash.example') RETURNING id" | tail -n 1)

# The committed load: each transaction inserts a batch of contacts (tagged with
# its batch number) and one activity per contact, and psql prints "acked N"
# only after COMMIT has returned.  synchronous_commit is on for it, so an
# acknowledged commit is in the WAL the server wrote before the crash.
{
	echo "SET synchronous_commit = on;"
	echo "SET crm.organization_id = '$org';"
	echo "SET crm.user_id = '$user_id';"
	for b in $(seq 1 "$BATCHES"); do
		cat <<SQL
BEGIN;
WITH c AS (
	INSERT INTO crm.contact (first_name, last_name, email, tags)
	SELECT 'F' || g, 'Batch$b', 'b${b}n' || g || '@crash.example', ARRAY['batch-$b']
	  FROM generate_series(1, $PER_BATCH) g
	RETURNING id)
INSERT INTO crm.activity (type, subject, contact_id) SELECT 'call', 'load', id FROM c;
UPDATE crm.contact SET title = 'loaded' WHERE organization_id = '$org' AND tags @> ARRAY['batch-$b'];
COMMIT;
\echo acked $b
SQL
	done
} >"$WORK/load.sql"

# An open transaction that will never commit.
{
	echo "SET crm.organization_id = '$org';"
	echo "BEGIN;"
	echo "INSERT INTO crm.contact (last_name, tags) SELECT 'Uncommitted', ARRAY['uncommitted'] FROM generate_series(1, 500);"
	echo "\\echo open"
	echo "SELECT pg_sleep(600);"
} >"$WORK/open.sql"

PGUSER=crm_crash_app psql -X -q -d crm_crash -f "$WORK/open.sql" >"$WORK/open.out" 2>&1 &
open_pid=$!
PGUSER=crm_crash_app psql -X -q -d crm_crash -f "$WORK/load.sql" >"$WORK/load.out" 2>&1 &
load_pid=$!

# Crash once the load is well under way.
for _ in $(seq 1 200); do
	n=$(grep -c '^acked' "$WORK/load.out" 2>/dev/null || true)
	[ "${n:-0}" -ge $((BATCHES / 4)) ] && grep -q open "$WORK/open.out" && break
	sleep 0.1
done
echo "crashing after $(grep -c '^acked' "$WORK/load.out") acknowledged batches"
as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m immediate -w stop >/dev/null
wait $load_pid $open_pid 2>/dev/null
as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -p "$OVERLAY_BIN/postgres" -l "$PGDATA_DIR/../server.log" -w -t 120 start >/dev/null
check "server restarted after the crash" q -c "SELECT 1" -o /dev/null

acked=$(grep '^acked' "$WORK/load.out" | awk '{print $2}' | sort -n | tail -n 1)
acked=${acked:-0}
check "the crash interrupted the load (acked $acked of $BATCHES)" test "$acked" -lt "$BATCHES"

present=$(q -c "SELECT count(DISTINCT last_name) FROM crm.contact WHERE last_name LIKE 'Batch%'")
check "every acknowledged batch survived (acked $acked, present $present)" test "$present" -ge "$acked"
# (present may be acked + 1: a commit can be durable before psql heard back)
check "at most one batch committed without acknowledgement" test "$present" -le $((acked + 1))

torn=$(q -c "SELECT count(*) FROM (SELECT last_name, count(*) AS n, count(*) FILTER (WHERE title = 'loaded') AS done
	FROM crm.contact WHERE last_name LIKE 'Batch%' GROUP BY last_name) s WHERE n <> $PER_BATCH OR done <> $PER_BATCH")
check "every batch is whole: $PER_BATCH contacts, all updated ($torn torn)" test "$torn" = 0
acts=$(q -c "SELECT count(*) FROM crm.contact c WHERE c.last_name LIKE 'Batch%'
	AND (SELECT count(*) FROM crm.activity a WHERE a.organization_id = c.organization_id AND a.contact_id = c.id) <> 1")
check "every contact has exactly its one activity ($acts without)" test "$acts" = 0
uncommitted=$(q -c "SELECT count(*) FROM crm.contact WHERE last_name = 'Uncommitted'")
check "nothing of the uncommitted transaction is there ($uncommitted rows)" test "$uncommitted" = 0
audit=$(q -c "SELECT count(*) FROM crm.contact c WHERE c.last_name LIKE 'Batch%'
	AND (SELECT count(*) FROM crm.audit_log l WHERE l.organization_id = c.organization_id AND l.table_name = 'contact'
	       AND l.row_id = c.id AND l.action = 'INSERT') <> 1")
check "every committed contact has exactly one INSERT audit entry ($audit without)" test "$audit" = 0
orphans=$(q -c "SELECT count(*) FROM crm.audit_log l WHERE l.table_name = 'contact'
	AND NOT EXISTS (SELECT 1 FROM crm.contact c WHERE c.organization_id = l.organization_id AND c.id = l.row_id)")
check "no audit entry for a contact that does not exist ($orphans)" test "$orphans" = 0
drift=$(q -c "SELECT count(*) FROM crm.verify()")
check "crm.verify() reports no drift ($drift rows)" test "$drift" = 0
check "amcheck: every btree index of crm is sound" \
	q -c "SELECT bt_index_check(c.oid, true) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		   JOIN pg_am am ON am.oid = c.relam
		  WHERE c.relnamespace = 'crm'::regnamespace AND am.amname = 'btree'" -o /dev/null

psql -X -q -d postgres -c "DROP DATABASE crm_crash" -c "DROP ROLE crm_crash_app"
echo "crash: $failed check(s) failed"
[ "$failed" = 0 ]
