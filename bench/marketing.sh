#!/usr/bin/env bash
# bench/marketing.sh — the marketing-list benchmarks (issue 13), separate
# from run.sh.
#
#   BENCH_LIST_CONTACTS=1000000 BENCH_LIST_UPDATES=100000 bench/marketing.sh
#
# Builds crm, starts its own throwaway cluster (CRM_PGDIR, default
# <checkout>/.pg-bench-marketing) and generates one tenant with
# BENCH_LIST_CONTACTS contacts (loaded in restore mode) at 1,000 accounts.
# Prints, as ratios measured in the same run, each as wall-clock time and as
# the CPU time of the backend that ran the statement (Linux /proc: on a
# shared machine the CPU time moves less with the other load):
#   1. the first full refresh of five representative dynamic lists (every
#      member a join, with its list.joined event) against the hand-written
#      INSERT ... SELECT of the same members into a plain table, and
#      against the same rows (the members and events of a twin list)
#      inserted by hand into crm's tables;
#   2. BENCH_LIST_UPDATES contact updates (one UPDATE statement; the list
#      triggers fire once for the statement) with 50 dynamic lists defined,
#      10 of them reading the updated column, against the same updates with
#      no list (the mean of a run before and a run after); an untimed update
#      of the same rows comes first, so every timed run updates rows that
#      were updated before;
#   3. crm.refresh_list when 1 % of the contacts changed behind the
#      triggers' back (restore mode), against the full refresh of (1).
# Environment: BENCH_LIST_CONTACTS (default 1000000), BENCH_LIST_UPDATES
# (default 100000), CRM_PGPORT, CRM_PGDIR.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
export CRM_PGDIR=${CRM_PGDIR:-$(cd "$BENCH_DIR/.." && pwd)/.pg-bench-marketing}
. "$BENCH_DIR/../scripts/lib.sh"

N=${BENCH_LIST_CONTACTS:-1000000}
U=${BENCH_LIST_UPDATES:-100000}
[ "$U" -gt "$N" ] && U=$N
DB=crm_bench_marketing
OUT=$BENCH_DIR/out-marketing
rm -rf "$OUT"
mkdir -p "$OUT"

crm_deps
crm_build
crm_overlay
crm_cluster_start postgres
cat >>"$PGDATA_DIR/postgresql.conf" <<CONF
shared_buffers = 1GB
work_mem = 64MB
maintenance_work_mem = 512MB
max_wal_size = 8GB
checkpoint_timeout = 30min
jit = off
CONF
as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null
crm_cluster_restart

su() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d $DB "$@"; }
psql -X -q -d postgres -c "CREATE DATABASE $DB"
org=$(su -c "CREATE EXTENSION crm" -c "SELECT crm.create_organization('Bench Lists')" | tail -n 1)
app() { PGOPTIONS="-c crm.organization_id=$org" psql -X -q -A -t -v ON_ERROR_STOP=1 -d $DB "$@"; }
started=$(date +%s)
say "generating $N contacts at 1,000 accounts (restore mode)"
app >"$OUT/generate.log" <<SQL
INSERT INTO crm.custom_field (entity, name, label, field_type, options) VALUES
	('contact', 'tier', 'Tier', 'picklist', '["Gold", "Silver", "Bronze"]');
SET crm.restoring = on;
INSERT INTO crm.account (organization_id, name, industry)
SELECT '$org', 'Account ' || g, (ARRAY['Software', 'Retail', 'Finance', 'Healthcare', 'Energy'])[1 + g % 5]
  FROM generate_series(1, 1000) g;
CREATE TABLE public.bench_account AS
SELECT row_number() OVER (ORDER BY id)::int AS k, id FROM crm.account WHERE organization_id = '$org';
INSERT INTO crm.contact (organization_id, last_name, first_name, email, title, department, lead_source, tags,
						 custom_fields, account_id, do_not_email, created_at, updated_at)
SELECT '$org', 'Last' || g, 'First' || g, 'c' || g || '@bench.example',
	   (ARRAY['CEO', 'CTO', 'VP Sales', 'Engineer', 'Analyst', 'Manager', 'Director', 'Intern'])[1 + g % 8],
	   'D' || (g % 10), (ARRAY['web', 'referral', 'event', 'partner'])[1 + g % 4],
	   CASE WHEN g % 7 = 0 THEN '{vip}'::text[] WHEN g % 7 = 1 THEN '{emea}'::text[] ELSE '{}'::text[] END,
	   jsonb_build_object('tier', (ARRAY['Gold', 'Silver', 'Bronze'])[1 + g % 3]),
	   a.id, g % 20 = 0, now() - (g % 400) * interval '1 day', now()
  FROM generate_series(1, $N) g JOIN public.bench_account a ON a.k = 1 + g % 1000;
RESET crm.restoring;
CREATE TABLE public.bench_target AS
SELECT row_number() OVER (ORDER BY id)::int AS k, id FROM crm.contact WHERE organization_id = '$org';
ALTER TABLE public.bench_target ADD PRIMARY KEY (k);
CREATE TABLE public.hand_members (list int, id uuid);
-- CPU time of this backend so far (ms), from /proc/self/stat (utime + stime)
CREATE FUNCTION public.bench_cpu_ms() RETURNS bigint LANGUAGE sql AS \$\$
	SELECT (split_part(s, ' ', 14)::bigint + split_part(s, ' ', 15)::bigint) * 1000 / $(getconf CLK_TCK)
	  FROM pg_read_file('/proc/self/stat') s \$\$;
VACUUM ANALYZE;
SQL
gen_s=$(( $(date +%s) - started ))
echo "generated $N contacts in ${gen_s}s" | tee "$OUT/summary.txt"

# The five representative lists: a text equality, a tag, an account field,
# a custom field with a second condition, and an any-group with a
# time-relative condition; each with its hand-written predicate.
docs=(
	'{"field": "title", "op": "eq", "value": "ceo"}'
	'{"field": "tags", "op": "has_any", "value": ["vip"]}'
	'{"field": "account.industry", "op": "eq", "value": "software"}'
	'{"all": [{"field": "custom_fields.tier", "op": "eq", "value": "Gold"}, {"field": "lead_source", "op": "in", "value": ["web", "event"]}]}'
	'{"any": [{"field": "title", "op": "starts_with", "value": "vp"}, {"field": "created_at", "op": "within_last", "value": "30 days"}]}'
)
hand=(
	"crm.criteria_fold(t.title) = 'ceo'"
	"t.tags && '{vip}'"
	"EXISTS (SELECT 1 FROM crm.account a WHERE a.organization_id = t.organization_id AND a.id = t.account_id AND a.deleted_at IS NULL AND crm.criteria_fold(a.industry) = 'software')"
	"t.custom_fields @> '{\"tier\": \"Gold\"}' AND t.lead_source IN ('web', 'event')"
	"(crm.criteria_fold(t.title) LIKE 'vp%' OR t.created_at >= now() - interval '30 days')"
)
ms() { # statement -> "wall-clock ms" "CPU ms of the backend" (server side, one run)
	app -c "DO \$x\$ DECLARE t0 timestamptz := clock_timestamp(); c0 bigint := public.bench_cpu_ms(); BEGIN EXECUTE \$q\$$1\$q\$; RAISE NOTICE 'ms=% %', round((extract(epoch FROM clock_timestamp() - t0) * 1000)::numeric, 1), public.bench_cpu_ms() - c0; END \$x\$" 2>&1 | sed -n 's/.*ms=//p'
}
ratio() { echo "scale=2; $1 / $2" | bc | sed 's/^\./0./'; }
su -c "SELECT count(*) FROM crm.contact" >/dev/null
say "1. full refresh of five lists vs hand-written INSERT ... SELECT (bare table, crm tables)"
total_r=0 total_h=0 total_c=0 cpu_r=0 cpu_h=0 cpu_c=0
for i in 0 1 2 3 4; do
	id=$(app -c "INSERT INTO crm.marketing_list (name, kind, criteria) VALUES ('L$i', 'dynamic', '${docs[$i]}') RETURNING id")
	# its twin, filled by hand with the rows the refresh writes (and their events)
	st=$(app -c "INSERT INTO crm.marketing_list (name, kind, criteria) VALUES ('hand L$i', 'dynamic', '${docs[$i]}') RETURNING id")
	pred="t.organization_id = crm.current_org() AND t.deleted_at IS NULL AND NOT t.do_not_email AND t.unsubscribed_at IS NULL AND ${hand[$i]}"
	read -r h hc <<<"$(ms "INSERT INTO public.hand_members SELECT $i, t.id FROM crm.contact t WHERE $pred")"
	read -r c cc <<<"$(ms "WITH m AS (INSERT INTO crm.marketing_list_member (organization_id, list_id, entity, contact_id, source) SELECT t.organization_id, '$st', 'contact', t.id, 'criteria' FROM crm.contact t WHERE $pred RETURNING member_id) INSERT INTO crm.outbox (organization_id, event_type, entity, entity_id, payload) SELECT crm.current_org(), 'list.joined', 'contact', m.member_id, jsonb_build_object('list_id', '$st'::uuid) FROM m")"
	read -r r rc <<<"$(ms "SELECT crm.refresh_list('$id')")"
	n=$(app -c "SELECT count(*) FROM crm.marketing_list_member WHERE list_id = '$id' AND removed_at IS NULL")
	hn=$(app -c "SELECT count(*) FROM public.hand_members WHERE list = $i")
	[ "$n" = "$hn" ] || echo "WARNING: list $i has $n members, the hand-written query $hn" | tee -a "$OUT/summary.txt"
	# (the hand-made members go again, so that the member table holds the refreshes' rows only)
	app -c "DELETE FROM crm.marketing_list WHERE id = '$st'; DELETE FROM crm.outbox WHERE payload @> jsonb_build_object('list_id', '$st'::uuid)" >/dev/null
	echo "L$i ${docs[$i]}: $n members; refresh ${r} ms (${rc} ms CPU); INSERT ... SELECT bare ${h} ms (${hc} ms CPU), ratio $(ratio "$r" "$h") ($(ratio "$rc" "$hc") CPU); into crm tables ${c} ms (${cc} ms CPU), ratio $(ratio "$r" "$c") ($(ratio "$rc" "$cc") CPU)" | tee -a "$OUT/summary.txt"
	total_r=$(echo "$total_r + $r" | bc); total_h=$(echo "$total_h + $h" | bc); total_c=$(echo "$total_c + $c" | bc)
	cpu_r=$((cpu_r + rc)); cpu_h=$((cpu_h + hc)); cpu_c=$((cpu_c + cc))
done
su -c "VACUUM ANALYZE crm.marketing_list_member, crm.outbox" >/dev/null
echo "five lists: refresh ${total_r} ms (${cpu_r} ms CPU); bare ${total_h} ms (${cpu_h} ms CPU), ratio $(ratio "$total_r" "$total_h") ($(ratio "$cpu_r" "$cpu_h") CPU); crm tables ${total_c} ms (${cpu_c} ms CPU), ratio $(ratio "$total_r" "$total_c") ($(ratio "$cpu_r" "$cpu_c") CPU)" | tee -a "$OUT/summary.txt"
app -c "SELECT count(*) FROM crm.verify() WHERE \"check\" = 'list_membership'" | sed 's/^/verify drift after refresh: /' | tee -a "$OUT/summary.txt"

say "3. refresh_list when 1 % of the contacts changed"
one=$((N / 100))
su -c "SET crm.restoring = on; UPDATE crm.contact SET title = CASE WHEN title = 'CEO' THEN 'Analyst' ELSE 'CEO' END WHERE id IN (SELECT id FROM public.bench_target WHERE k % 100 = 0)" >/dev/null
l0=$(app -c "SELECT id FROM crm.marketing_list WHERE name = 'L0'")
read -r r1 r1c <<<"$(ms "SELECT crm.refresh_list('$l0')")"
read -r again againc <<<"$(ms "SELECT crm.refresh_list('$l0')")"
echo "refresh_list(L0) after $one changed contacts: ${r1} ms (${r1c} ms CPU); again (nothing to do): ${again} ms (${againc} ms CPU)" | tee -a "$OUT/summary.txt"
app -c "SELECT count(*) FROM crm.verify() WHERE \"check\" = 'list_membership'" | sed 's/^/verify drift (the other lists, not refreshed): /' | tee -a "$OUT/summary.txt"

say "2. $U contact updates: no list, 50 lists (10 reading the updated column), no list"
upd() { echo "UPDATE crm.contact t SET department = '$1' || (b.k % 10) FROM public.bench_target b WHERE t.organization_id = crm.current_org() AND t.id = b.id AND b.k <= $U"; }
app -c "UPDATE crm.marketing_list SET deleted_at = now() WHERE deleted_at IS NULL" >/dev/null
su -c "VACUUM ANALYZE crm.contact" >/dev/null
read -r w wc <<<"$(ms "$(upd W)")"
echo "$U updates, untimed warm-up: ${w} ms (${wc} ms CPU)" >>"$OUT/summary.txt"
su -c "VACUUM crm.contact" >/dev/null
read -r a1 a1c <<<"$(ms "$(upd E)")"
su -c "VACUUM crm.contact" >/dev/null
# 10 lists on department (L0 .. L9), 40 on other columns
app >/dev/null <<SQL
INSERT INTO crm.marketing_list (name, kind, criteria)
SELECT 'dept ' || g, 'dynamic', jsonb_build_object('field', 'department', 'op', 'eq', 'value', 'L' || g) FROM generate_series(0, 9) g;
INSERT INTO crm.marketing_list (name, kind, criteria)
SELECT 'other ' || g, 'dynamic',
	   CASE g % 4 WHEN 0 THEN jsonb_build_object('field', 'title', 'op', 'eq', 'value', 'T' || g)
				  WHEN 1 THEN jsonb_build_object('field', 'tags', 'op', 'has_any', 'value', jsonb_build_array('t' || g))
				  WHEN 2 THEN jsonb_build_object('field', 'lead_source', 'op', 'eq', 'value', 's' || g)
				  ELSE jsonb_build_object('field', 'custom_fields.tier', 'op', 'eq', 'value', 'Gold') END
  FROM generate_series(1, 40) g;
SQL
# every update evaluated against the 10 lists, no membership changes
read -r b0 b0c <<<"$(ms "$(upd F)")"
su -c "VACUUM crm.contact" >/dev/null
# every updated contact joins one list (a member row and an event each)
read -r b1 b1c <<<"$(ms "$(upd L)")"
joined=$(app -c "SELECT count(*) FROM crm.marketing_list_member m JOIN crm.marketing_list l ON l.id = m.list_id WHERE l.name LIKE 'dept %'")
su -c "VACUUM crm.contact" >/dev/null
app -c "UPDATE crm.marketing_list SET deleted_at = now() WHERE deleted_at IS NULL" >/dev/null
read -r a2 a2c <<<"$(ms "$(upd G)")"
base=$(echo "scale=3; ($a1 + $a2) / 2" | bc)
basec=$(echo "scale=3; ($a1c + $a2c) / 2" | bc)
echo "$U updates, no lists: ${a1} / ${a2} ms (${a1c} / ${a2c} ms CPU)" | tee -a "$OUT/summary.txt"
echo "$U updates, 50 lists (10 watching), no membership change: ${b0} ms (${b0c} ms CPU), ratio $(ratio "$b0" "$base") ($(ratio "$b0c" "$basec") CPU)" | tee -a "$OUT/summary.txt"
echo "$U updates, 50 lists (10 watching), each update a join ($joined joins, events): ${b1} ms (${b1c} ms CPU), ratio $(ratio "$b1" "$base") ($(ratio "$b1c" "$basec") CPU)" | tee -a "$OUT/summary.txt"
echo "whole run: $(( $(date +%s) - started )) s" | tee -a "$OUT/summary.txt"
