#!/usr/bin/env bash
# crm.emit() notifies listeners on channel crm_events with the outbox id, at
# commit, and not at all when the transaction rolls back.
set -uo pipefail
failed=0
check() { local d=$1; shift; if "$@"; then echo "PASS  $d"; else echo "FAIL  $d"; failed=$((failed + 1)); fi; }

db=crm_notify
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" 2>/dev/null
psql -X -q -d $db -c "CREATE EXTENSION crm"
org=$(psql -X -A -t -q -d $db -c "SELECT crm.create_organization('Notify Co')")
out=$(mktemp)
# A listener: it sees notifications that arrive while it sleeps, printed
# after its next command.
psql -X -d $db -c "LISTEN crm_events" -c "SELECT pg_sleep(3)" -c "SELECT 'done'" >"$out" 2>&1 &
listener=$!
sleep 1
rolled=$(psql -X -A -t -q -d $db -c "SET crm.organization_id = '$org'" -c "BEGIN" \
	-c "SELECT crm.emit('test.rolled_back', 'crm.contact', NULL)" -c "ROLLBACK" | grep -E '^[0-9a-f-]{36}$')
committed=$(psql -X -A -t -q -d $db -c "SET crm.organization_id = '$org'" \
	-c "SELECT crm.emit('test.committed', 'crm.contact', NULL)" | grep -E '^[0-9a-f-]{36}$')
wait $listener
check "the committed event's id was notified on crm_events" grep -q "notification \"crm_events\" with payload \"$committed\"" "$out"
check "the rolled-back event was not notified" bash -c "! grep -q '$rolled' '$out'"
check "the notified id is the outbox row of the event" \
	test "$(psql -X -A -t -q -d $db -c "SELECT event_type FROM crm.outbox WHERE id = '$committed'")" = test.committed
rm -f "$out"
psql -X -q -d postgres -c "DROP DATABASE $db"
echo "notify: $failed check(s) failed"
[ $failed = 0 ]
