#!/usr/bin/env bash
# Crash recovery under the OLTP mix (bench/mix/): CRASH_MIX_CLIENTS sessions
# of the application role run the mix's write transactions (create contact,
# create a lead with engagement events -- routed and scored --, log activity,
# move a deal's stage, open a case and comment -- SLA --, update contact --
# lists), each transaction also writing a marker row (client, number, kind,
# its xid8), and
# psql prints "acked CLIENT N" only after COMMIT returned
# (synchronous_commit on).  Once the load is under way the server is stopped
# with `pg_ctl stop -m immediate` and restarted.  Then:
#   - every acknowledged transaction is there: its marker, and crm's audit
#     log holds entries of its transaction (every mix transaction changes
#     audited records);
#   - nothing else: no marker beyond one in-flight transaction per client,
#     no audit entry of a transaction after the load without a marker, and
#     nothing of a transaction left open at the crash;
#   - per kind, the acknowledged transactions' own rows are there (the
#     contact, the lead with its events, routing decision and score, the
#     case with its SLA targets and comment, ...);
#   - crm.verify() is empty (with the tenant set, so that list membership
#     is checked too) and amcheck finds every crm btree index sound.
# Runs against the cluster of scripts/test.sh (PGHOST/PGPORT/PGUSER,
# PGDATA_DIR and OVERLAY_BIN in the environment).
set -uo pipefail

PGBIN=/usr/lib/postgresql/15/bin
CLIENTS=${CRASH_MIX_CLIENTS:-4}
TXNS=${CRASH_MIX_TXNS:-3000}
CRASH_AFTER=${CRASH_MIX_AFTER:-400}
DB=crm_crash_mix
ROLE=crm_crash_mix_app
ROOT=${CRM_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$ROOT/bench/mix/mix.sh"

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
failed=0
check() { # description, command...
	local d=$1; shift
	if "$@"; then echo "PASS  $d"; else echo "FAIL  $d"; failed=$((failed + 1)); fi
}
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
read -r ORG ACTOR < <(mix_load "$DB" 1000 200 "$ROLE" | tail -n 1)
[ -n "${ORG:-}" ] || { echo "FAIL  loading the mix data"; exit 1; }
N=$(q -c "SELECT contacts FROM bench.tenant WHERE t = 0")
q -c "CREATE TABLE public.crash_marker (client integer, n integer, kind text, txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
		PRIMARY KEY (client, n))" \
  -c "GRANT INSERT, SELECT ON public.crash_marker TO $ROLE"
load_xid=$(q -c "SELECT pg_current_xact_id()")

# One stream of transactions per client; the random picks are made here, so
# each stream is plain SQL.
kinds=(create_contact create_lead log_activity move_stage open_case update_contact)
utm=(google de) priority=(medium urgent)
for c in $(seq 1 "$CLIENTS"); do
	RANDOM=$c
	{
		echo "SET synchronous_commit = on;"
		echo "SET crm.organization_id = '$ORG';"
		echo "SET crm.user_id = '$ACTOR';"
		for i in $(seq 1 "$TXNS"); do
			kind=${kinds[$(( (i + c) % ${#kinds[@]} ))]}
			k=$(( RANDOM % N + 1 )) d=$(( RANDOM % 200 + 1 )) s=$(( RANDOM % 4 + 1 ))
			echo "BEGIN;"
			case $kind in
			create_contact)
				echo "INSERT INTO crm.contact (first_name, last_name, email, owner_id, custom_fields) VALUES ('Crash', 'C$c-$i', 'crash-c$c-$i@mix.example', bench.user_id(0, $(( i % 50 + 1 ))), '{\"segment\": \"smb\"}');" ;;
			create_lead)
				# without owner (routed), then events (scored)
				echo "INSERT INTO crm.lead (first_name, last_name, email, company, title, employee_count, utm_source, status) VALUES ('Crash', 'L$c-$i', 'crash-l$c-$i@mix.example', 'Crash Co', 'VP Sales', $(( k % 1500 )), '${utm[$(( k % 3 == 0 ))]}', 'new') RETURNING id AS lead_id \\gset"
				echo "INSERT INTO crm.engagement_event (lead_id, event_type) SELECT :'lead_id', e FROM unnest('{page_view,pricing_viewed,demo_request}'::text[]) e;" ;;
			log_activity)
				# on a live contact (crm refuses one on a soft-deleted contact)
				echo "INSERT INTO crm.activity (type, subject, status, contact_id) VALUES ('call', 'crash c$c-$i', 'completed', coalesce((SELECT id FROM crm.contact WHERE deleted_at IS NULL AND id >= bench.gid(0, 2, $k, $N) ORDER BY id LIMIT 1), (SELECT id FROM crm.contact WHERE deleted_at IS NULL ORDER BY id LIMIT 1)));" ;;
			move_stage)
				echo "UPDATE crm.opportunity o SET stage_id = s.stage_id, next_step = 'c$c-$i' FROM bench.mix_stage s WHERE s.t = 0 AND s.pos = $s AND o.id = bench.gid(0, 7, $d, 200);" ;;
			open_case)
				# for a live contact when the draw is one (a case without one otherwise); an agent's answer
				echo "INSERT INTO crm.case (subject, contact_id, priority) SELECT 'crash c$c-$i', c.id, '${priority[$(( k % 4 == 0 ))]}' FROM (VALUES (1)) v LEFT JOIN crm.contact c ON c.id = bench.gid(0, 2, $k, $N) AND c.deleted_at IS NULL RETURNING id AS case_id \\gset"
				echo "INSERT INTO crm.case_comment (case_id, author_user_id, body) VALUES (:'case_id', bench.user_id(0, $(( i % 50 + 1 ))), 'answer c$c-$i');" ;;
			update_contact)
				# title and nps: lists join and leave (the department makes
				# every update change the row: a no-op update is not audited)
				title="crash c$c-$i"; [ $(( k % 2 )) = 0 ] && title=CEO
				echo "UPDATE crm.contact SET title = '$title', department = 'crash c$c-$i', custom_fields = custom_fields || jsonb_build_object('nps', $(( k % 11 ))) WHERE id = bench.gid(0, 2, $k, $N);" ;;
			esac
			echo "INSERT INTO public.crash_marker (client, n, kind) VALUES ($c, $i, '$kind');"
			echo "COMMIT;"
			echo "\\echo acked $c $i"
		done
	} >"$WORK/load.$c.sql"
done

# A transaction that stays open until the crash (its leads have an owner:
# routing them would hold the round-robin team's rows until the crash and
# stop every other lead insert).
cat >"$WORK/open.sql" <<SQL
SET crm.organization_id = '$ORG';
BEGIN;
INSERT INTO crm.lead (last_name, status, owner_id) SELECT 'Uncommitted', 'new', bench.user_id(0, 1) FROM generate_series(1, 200);
INSERT INTO public.crash_marker (client, n, kind) VALUES (0, 1, 'open');
\echo open
SELECT pg_sleep(600);
SQL

PGUSER=$ROLE psql -X -q -d "$DB" -f "$WORK/open.sql" >"$WORK/open.out" 2>&1 &
pids=$! load_pids=""
for c in $(seq 1 "$CLIENTS"); do
	PGUSER=$ROLE psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$WORK/load.$c.sql" >"$WORK/load.$c.out" 2>&1 &
	load_pids="$load_pids $!"
done
pids="$pids $load_pids"

for _ in $(seq 1 600); do
	n=$(cat "$WORK"/load.*.out 2>/dev/null | grep -c '^acked' || true)
	[ "${n:-0}" -ge "$CRASH_AFTER" ] && grep -q open "$WORK/open.out" && break
	kill -0 $load_pids 2>/dev/null || break		# a client stopped (reported below)
	sleep 0.1
done
echo "crashing after $(cat "$WORK"/load.*.out | grep -c '^acked') acknowledged transactions ($CLIENTS clients)"
as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m immediate -w stop >/dev/null
wait $pids 2>/dev/null
as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -p "$OVERLAY_BIN/postgres" -l "$PGDATA_DIR/../server.log" -w -t 120 start >/dev/null
check "server restarted after the crash" q -c "SELECT 1" -o /dev/null

errors=$(grep -h 'ERROR' "$WORK"/load.*.out | grep -v -E 'terminating connection|server closed|connection to server' | head -n 3)
check "no client failed before the crash${errors:+: $errors}" test -z "$errors"

cat "$WORK"/load.*.out | awk '/^acked/ { print $2, $3 }' | sort >"$WORK/acked"
acked=$(wc -l <"$WORK/acked")
check "the crash interrupted the load ($acked acknowledged)" test "$acked" -lt $((CLIENTS * TXNS))

q >"$WORK/result" <<SQL
CREATE TEMP TABLE acked (client integer, n integer);
\copy acked FROM '$WORK/acked' WITH (DELIMITER ' ')
SELECT (SELECT count(*) FROM acked a WHERE NOT EXISTS (SELECT 1 FROM public.crash_marker m WHERE m.client = a.client AND m.n = a.n)),
       (SELECT coalesce(max(x), 0) FROM (SELECT count(*) AS x FROM public.crash_marker m
				WHERE NOT EXISTS (SELECT 1 FROM acked a WHERE a.client = m.client AND a.n = m.n) GROUP BY m.client) s),
       (SELECT count(*) FROM public.crash_marker m
         WHERE NOT EXISTS (SELECT 1 FROM crm.audit_log l WHERE l.txid = m.txid)),
       (SELECT count(DISTINCT l.txid) FROM crm.audit_log l
         WHERE l.txid > '$load_xid' AND NOT EXISTS (SELECT 1 FROM public.crash_marker m WHERE m.txid = l.txid)),
       (SELECT count(*) FROM crm.lead WHERE last_name = 'Uncommitted') + (SELECT count(*) FROM public.crash_marker WHERE client = 0),
       (SELECT count(*) FROM public.crash_marker),
       -- committed transactions whose own rows (and what crm derives from
       -- them in the same transaction) are not all there
       (SELECT count(*) FROM public.crash_marker m
         WHERE CASE m.kind
               WHEN 'create_contact' THEN NOT EXISTS (SELECT 1 FROM crm.contact c WHERE c.last_name = format('C%s-%s', m.client, m.n))
               WHEN 'log_activity' THEN NOT EXISTS (SELECT 1 FROM crm.activity a WHERE a.subject = format('crash c%s-%s', m.client, m.n))
               WHEN 'create_lead' THEN NOT EXISTS (
                    SELECT 1 FROM crm.lead l
                     WHERE l.last_name = format('L%s-%s', m.client, m.n) AND l.owner_id IS NOT NULL
                       AND (SELECT count(*) FROM crm.engagement_event e WHERE e.organization_id = l.organization_id AND e.lead_id = l.id) = 3
                       AND EXISTS (SELECT 1 FROM crm.routing_decision d WHERE d.organization_id = l.organization_id AND d.lead_id = l.id)
                       AND EXISTS (SELECT 1 FROM crm.score s WHERE s.organization_id = l.organization_id AND s.record_id = l.id AND s.engagement_ref > 0))
               WHEN 'open_case' THEN NOT EXISTS (
                    SELECT 1 FROM crm.case k
                     WHERE k.subject = format('crash c%s-%s', m.client, m.n) AND k.first_response_at IS NOT NULL
                       AND EXISTS (SELECT 1 FROM crm.case_comment x WHERE x.organization_id = k.organization_id AND x.case_id = k.id)
                       AND EXISTS (SELECT 1 FROM crm.case_sla t WHERE t.organization_id = k.organization_id AND t.case_id = k.id
                                      AND t.target = 'first_response' AND t.achieved_at IS NOT NULL)
                       AND EXISTS (SELECT 1 FROM crm.case_sla t WHERE t.organization_id = k.organization_id AND t.case_id = k.id
                                      AND t.target = 'resolution' AND t.achieved_at IS NULL))
               ELSE false END),
       -- leads and cases of the load without a committed marker
       (SELECT count(*) FROM crm.lead l WHERE l.first_name = 'Crash' AND NOT EXISTS (
            SELECT 1 FROM public.crash_marker m WHERE l.last_name = format('L%s-%s', m.client, m.n)))
     + (SELECT count(*) FROM crm.case k WHERE k.subject LIKE 'crash c%' AND NOT EXISTS (
            SELECT 1 FROM public.crash_marker m WHERE k.subject = format('crash c%s-%s', m.client, m.n))),
       (SELECT string_agg(kind || ' ' || n, ', ' ORDER BY kind) FROM (SELECT kind, count(*) AS n FROM public.crash_marker GROUP BY kind) x);
SQL
IFS='|' read -r missing extra unaudited stray uncommitted present incomplete unmarked per_kind < <(tail -n 1 "$WORK/result")
check "every acknowledged transaction survived ($acked acknowledged, $present present, $missing missing)" test "${missing:-x}" = 0
check "at most one unacknowledged transaction per client is there (in flight at the crash: $extra)" test "${extra:-9}" -le 1
check "every surviving transaction's crm changes are there (audit entries of its transaction; $unaudited without)" test "${unaudited:-x}" = 0
check "no crm change of a transaction without a marker ($stray transactions)" test "${stray:-x}" = 0
check "nothing of the transaction open at the crash is there ($uncommitted rows)" test "${uncommitted:-x}" = 0
check "each committed transaction's rows are there: lead with its 3 events, routing decision and score; case with its comment, first response and SLA targets; contact; activity (${per_kind:-?}; $incomplete incomplete)" \
	test "${incomplete:-x}" = 0
check "no lead or case of the load without a committed marker ($unmarked)" test "${unmarked:-x}" = 0
# (with the tenant set: list membership is checked for the current organization)
drift=$(q -c "SET crm.organization_id = '$ORG'" -c "SELECT count(*) FROM crm.verify()")
check "crm.verify() reports no drift, scores, SLA state and list membership included ($drift rows)" test "$drift" = 0
[ "$drift" = 0 ] || q -c "SET crm.organization_id = '$ORG'" -c "SELECT * FROM crm.verify() LIMIT 10"
check "amcheck: every btree index of crm is sound" \
	q -c "CREATE EXTENSION IF NOT EXISTS amcheck" \
	  -c "SELECT bt_index_check(c.oid, true) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		   JOIN pg_am am ON am.oid = c.relam
		  WHERE c.relnamespace = 'crm'::regnamespace AND am.amname = 'btree'" -o /dev/null

psql -X -q -d postgres -c "DROP DATABASE $DB" -c "DROP ROLE $ROLE"
echo "crash_mix: $failed check(s) failed"
[ "$failed" = 0 ]
