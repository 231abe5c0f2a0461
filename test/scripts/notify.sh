#!/usr/bin/env bash
# Outbox notifications: every event is announced at commit (not on rollback)
# on its organization's own channel, crm.event_channel(), with the outbox id
# as payload.  A listener of tenant A hears A's events and nothing of B's;
# the old shared channel crm_events hears nothing.
set -uo pipefail
failed=0
check() { local d=$1; shift; if "$@"; then echo "PASS  $d"; else echo "FAIL  $d"; failed=$((failed + 1)); fi; }

db=crm_notify
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" 2>/dev/null
psql -X -q -d $db -c "CREATE EXTENSION crm"
org=$(psql -X -A -t -q -d $db -c "SELECT crm.create_organization('Notify Co')")
other=$(psql -X -A -t -q -d $db -c "SELECT crm.create_organization('Other Co')")
chan=$(psql -X -A -t -q -d $db -c "SET crm.organization_id = '$org'" -c "SELECT crm.event_channel()")
out=$(mktemp)
shared=$(mktemp)
# Listeners: they see notifications that arrive while they sleep, printed
# after their next command.
psql -X -d $db -c "LISTEN $chan" -c "SELECT pg_sleep(3)" -c "SELECT 'done'" >"$out" 2>&1 &
listener=$!
psql -X -d $db -c "LISTEN crm_events" -c "SELECT pg_sleep(3)" -c "SELECT 'done'" >"$shared" 2>&1 &
listener2=$!
sleep 1
rolled=$(psql -X -A -t -q -d $db -c "SET crm.organization_id = '$org'" -c "BEGIN" \
	-c "SELECT crm.emit('test.rolled_back', 'crm.contact', NULL)" -c "ROLLBACK" | grep -E '^[0-9a-f-]{36}$')
committed=$(psql -X -A -t -q -d $db -c "SET crm.organization_id = '$org'" \
	-c "SELECT crm.emit('test.committed', 'crm.contact', NULL)" | grep -E '^[0-9a-f-]{36}$')
others=$(psql -X -A -t -q -d $db -c "SET crm.organization_id = '$other'" \
	-c "SELECT crm.emit('test.other', 'crm.contact', NULL)" | grep -E '^[0-9a-f-]{36}$')
wait $listener $listener2
check "the channel is crm_events_ and 32 hex digits" bash -c "[[ '$chan' =~ ^crm_events_[0-9a-f]{32}$ ]]"
check "the committed event's id was notified on the organization's channel" grep -q "notification \"$chan\" with payload \"$committed\"" "$out"
check "the rolled-back event was not notified" bash -c "! grep -q '$rolled' '$out'"
check "the other organization's event was not notified on this channel" bash -c "! grep -q '$others' '$out'"
check "nothing is notified on the old shared channel crm_events" bash -c "! grep -q 'notification' '$shared'"
check "the notified id is the outbox row of the event" \
	test "$(psql -X -A -t -q -d $db -c "SET crm.organization_id = '$org'" -c "SELECT event_type FROM crm.outbox WHERE id = '$committed'")" = test.committed
rm -f "$out" "$shared"
psql -X -q -d postgres -c "DROP DATABASE $db"
echo "notify: $failed check(s) failed"
[ $failed = 0 ]
