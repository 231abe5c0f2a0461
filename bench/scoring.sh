#!/usr/bin/env bash
# bench/scoring.sh — the lead scoring benchmarks (issue 11), separate from run.sh.
#
#   bench/scoring.sh                                   (the issue's scale)
#   BENCH_SCORING_LEADS=20000 BENCH_SCORING_EVENTS=200000 BENCH_SCORING_HOT=200000 bench/scoring.sh
#
# Builds crm, starts its own throwaway cluster (CRM_PGDIR, default
# <checkout>/.pg-bench-scoring), creates one tenant with the default scoring
# model and BENCH_SCORING_LEADS leads (loaded in restore mode, as a restore
# would), writes BENCH_SCORING_EVENTS engagement events (seeded types and
# times over the leads) to a CSV file, and measures in the same run:
#   1. COPY of the events into crm.engagement_event (scoring on: the C
#      statement trigger), into a bare copy of the table (same columns,
#      defaults, constraints, indexes and foreign keys; no trigger, no
#      row-level security), and into a copy carrying the seeds' approach (a
#      PL/pgSQL row trigger recomputing the lead's score from all its events
#      on every insert) -- ratios to the bare COPY, of the wall-clock time
#      and of the CPU time of the backend (Linux /proc);
#   2. single-event inserts through pgbench at BENCH_CLIENTS clients, crm
#      against the bare copy;
#   3. "top 50 hottest leads now" over BENCH_SCORING_HOT scored leads: the
#      plan (an index scan of score_hottest_idx) and its time.
# Environment: BENCH_SCORING_LEADS (100000), BENCH_SCORING_EVENTS (1000000),
# BENCH_SCORING_HOT (1000000), BENCH_PGBENCH_SECONDS (10), BENCH_CLIENTS
# ("1 8 32"), BENCH_SCORING_PLPGSQL (1; 0 skips the seeds' approach),
# CRM_PGPORT, CRM_PGDIR.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
export CRM_PGDIR=${CRM_PGDIR:-$(cd "$BENCH_DIR/.." && pwd)/.pg-bench-scoring}
. "$BENCH_DIR/../scripts/lib.sh"

LEADS=${BENCH_SCORING_LEADS:-100000}
EVENTS=${BENCH_SCORING_EVENTS:-1000000}
HOT=${BENCH_SCORING_HOT:-1000000}
SECS=${BENCH_PGBENCH_SECONDS:-10}
CLIENTS=${BENCH_CLIENTS:-1 8 32}
DB=crm_bench_scoring
ROLE=crm_bench_scoring_app
OUT=$BENCH_DIR/out-scoring
rm -rf "$OUT"
mkdir -p "$OUT"
chmod 777 "$OUT"

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
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.2f\", $1 }"; }
psql -X -q -d postgres -c "CREATE DATABASE $DB" -c "DROP ROLE IF EXISTS $ROLE" -c "CREATE ROLE $ROLE LOGIN"
org=$(su -c "CREATE EXTENSION crm" -c "SELECT crm.grant_access('$ROLE', 'user')" -c "SELECT crm.create_organization('Bench Scoring')" | tail -n 1)

say "loading $LEADS leads (restore mode) and writing $EVENTS events to CSV"
su >"$OUT/generate.log" <<SQL
SET crm.organization_id = '$org';
SET crm.restoring = on;
-- leads without fit (no title, no source) and their zero scores, as a
-- restore brings them
INSERT INTO crm.lead (organization_id, id, last_name)
SELECT '$org', crm.uuid_v7(), 'Lead ' || g FROM generate_series(1, $LEADS) g;
INSERT INTO crm.score (organization_id, record_id, lead_id) SELECT '$org', id, id FROM crm.lead WHERE organization_id = '$org';
RESET crm.restoring;
CREATE TABLE public.bench_lead AS SELECT row_number() OVER (ORDER BY id)::int AS k, id FROM crm.lead WHERE organization_id = '$org';
CREATE UNIQUE INDEX ON public.bench_lead (k);
ANALYZE public.bench_lead;
COPY (SELECT '$org', l.id,
			 (ARRAY['page_view','page_view','page_view','page_view','email_open','email_open','email_click','pricing_viewed',
					'resource_downloaded','demo_request'])[1 + (hashint4(g * 7) & 1023) % 10],
			 timestamptz '2026-01-01' + ((hashint4(g * 13) & 1048575) % 300000) * interval '1 minute',
			 '{}'
		FROM generate_series(1, $EVENTS) g JOIN public.bench_lead l ON l.k = 1 + (hashint4(g) & 2147483647) % $LEADS)
  TO '$OUT/events.csv' (FORMAT csv);
-- the bare copy: same columns, defaults, constraints, indexes, foreign keys
CREATE SCHEMA bare;
CREATE TABLE bare.engagement_event (LIKE crm.engagement_event INCLUDING ALL);
ALTER TABLE bare.engagement_event
	ADD FOREIGN KEY (organization_id, lead_id) REFERENCES crm.lead (organization_id, id) ON DELETE CASCADE,
	ADD FOREIGN KEY (organization_id, contact_id) REFERENCES crm.contact (organization_id, id) ON DELETE CASCADE,
	ADD FOREIGN KEY (organization_id) REFERENCES crm.organization (id);
-- the seeds' approach: a PL/pgSQL row trigger recomputing the lead's
-- score from all its events on every insert
CREATE SCHEMA plpg;
CREATE TABLE plpg.engagement_event (LIKE bare.engagement_event INCLUDING ALL);
ALTER TABLE plpg.engagement_event
	ADD FOREIGN KEY (organization_id, lead_id) REFERENCES crm.lead (organization_id, id) ON DELETE CASCADE,
	ADD FOREIGN KEY (organization_id, contact_id) REFERENCES crm.contact (organization_id, id) ON DELETE CASCADE,
	ADD FOREIGN KEY (organization_id) REFERENCES crm.organization (id);
CREATE TABLE plpg.lead_score (organization_id uuid, lead_id uuid, score numeric, PRIMARY KEY (organization_id, lead_id));
INSERT INTO plpg.lead_score SELECT '$org', id, 0 FROM crm.lead WHERE organization_id = '$org';
CREATE FUNCTION plpg.recompute() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
	UPDATE plpg.lead_score s
	   SET score = (SELECT coalesce(sum(r.points * power(2, -extract(epoch FROM now() - e.occurred_at) / (30 * 86400))), 0)
					  FROM plpg.engagement_event e
					  JOIN crm.scoring_rule r ON r.organization_id = e.organization_id AND r.event_type = e.event_type
					 WHERE e.organization_id = NEW.organization_id AND e.lead_id = NEW.lead_id)
	 WHERE s.organization_id = NEW.organization_id AND s.lead_id = NEW.lead_id;
	RETURN NULL;
END \$\$;
CREATE TRIGGER score AFTER INSERT ON plpg.engagement_event FOR EACH ROW EXECUTE FUNCTION plpg.recompute();
GRANT USAGE ON SCHEMA bare TO $ROLE;
GRANT INSERT, SELECT ON bare.engagement_event TO $ROLE;
CHECKPOINT;
SQL

# COPY FROM the CSV into a table: "wall-clock seconds, CPU seconds of the
# backend" (from /proc/<pid>/stat: on a shared machine the CPU time of the
# backend moves less with the other load than the wall-clock time does).
copy_time() {	# table
	local tick
	tick=$(getconf CLK_TCK)
	su -c "CHECKPOINT" >/dev/null
	rm -f "$OUT/t0" "$OUT/t1" "$OUT/cpu0" "$OUT/cpu1"
	psql -X -q -A -t -v ON_ERROR_STOP=1 -d $DB >/dev/null <<SQL
SELECT pg_backend_pid() AS pid \gset
SET crm.organization_id = '$org';
\setenv BENCH_PID :pid
\! awk '{ print \$14 + \$15 }' /proc/\$BENCH_PID/stat >"$OUT/cpu0"; date +%s.%N >"$OUT/t0"
COPY $1 (organization_id, lead_id, event_type, occurred_at, properties) FROM '$OUT/events.csv' (FORMAT csv);
\! date +%s.%N >"$OUT/t1"; awk '{ print \$14 + \$15 }' /proc/\$BENCH_PID/stat >"$OUT/cpu1"
SQL
	echo "$(calc "$(cat "$OUT/t1") - $(cat "$OUT/t0")") $(calc "($(cat "$OUT/cpu1") - $(cat "$OUT/cpu0")) / $tick")"
}
say "COPY $EVENTS events over $LEADS leads"
read -r t_bare c_bare <<<"$(copy_time bare.engagement_event)"
say "bare: $t_bare s ($c_bare s CPU)"
read -r t_crm c_crm <<<"$(copy_time crm.engagement_event)"
say "crm (scoring on): $t_crm s ($c_crm s CPU)"
drift=$(su -c "SET crm.organization_id = '$org'" -c "SELECT count(*) FROM crm.verify() WHERE \"check\" = 'scores'")
say "crm.verify() drift after the COPY: $drift"
if [ "${BENCH_SCORING_PLPGSQL:-1}" = 1 ]; then
	read -r t_plpg c_plpg <<<"$(copy_time plpg.engagement_event)"
	say "PL/pgSQL recompute row trigger: $t_plpg s ($c_plpg s CPU)"
else
	t_plpg=NaN
	c_plpg=NaN
fi

say "single-event inserts through pgbench (${SECS}s per run)"
lead_max=$LEADS
cat >"$OUT/crm_event.sql" <<SQL
\set k random(1, $lead_max)
INSERT INTO crm.engagement_event (lead_id, event_type, occurred_at) SELECT id, 'page_view', now() FROM public.bench_lead WHERE k = :k;
SQL
cat >"$OUT/bare_event.sql" <<SQL
\set k random(1, $lead_max)
INSERT INTO bare.engagement_event (organization_id, lead_id, event_type, occurred_at) SELECT '$org', id, 'page_view', now() FROM public.bench_lead WHERE k = :k;
SQL
su -c "GRANT SELECT ON public.bench_lead TO $ROLE"
pg_rows=""
for c in $CLIENTS; do
	tc=$(PGOPTIONS="-c crm.organization_id=$org" pgbench -n -U $ROLE -c "$c" -j "$c" -T "$SECS" -f "$OUT/crm_event.sql" $DB 2>&1 | tee "$OUT/pgbench_crm_$c.log" | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
	tb=$(PGOPTIONS="-c crm.organization_id=$org" pgbench -n -U $ROLE -c "$c" -j "$c" -T "$SECS" -f "$OUT/bare_event.sql" $DB 2>&1 | tee "$OUT/pgbench_bare_$c.log" | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
	say "$c clients: crm $tc tps, bare $tb tps"
	pg_rows="$pg_rows| single-event inserts, $c client(s) | $tc tps | $tb tps | $(calc "$tb / $tc")× bare time per insert |
"
done

say "top 50 hottest leads over $HOT scored leads"
su >"$OUT/hot.log" <<SQL
SET crm.organization_id = '$org';
SET crm.restoring = on;
INSERT INTO crm.lead (organization_id, id, last_name)
SELECT '$org', crm.uuid_v7(), 'Hot ' || g FROM generate_series(1, greatest($HOT - $LEADS, 0)) g;
INSERT INTO crm.score (organization_id, record_id, lead_id, engagement_ref, lead_score)
SELECT '$org', l.id, l.id, (hashint4(hashtext(l.id::text)) & 1048575) / 1000.0, 0 FROM crm.lead l
 WHERE l.organization_id = '$org' AND NOT EXISTS (SELECT 1 FROM crm.score s WHERE s.organization_id = '$org' AND s.record_id = l.id);
RESET crm.restoring;
ANALYZE crm.score;
SQL
scored=$(su -c "SELECT count(*) FROM crm.score WHERE organization_id = '$org' AND lead_id IS NOT NULL")
psql -X -q -A -t -U $ROLE -d $DB -c "SET crm.organization_id = '$org'" \
	-c "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT s.lead_id, s.engagement_ref FROM crm.score s WHERE s.organization_id = '$org' AND s.lead_id IS NOT NULL ORDER BY s.engagement_ref DESC LIMIT 50" >"$OUT/hot_plan.txt"
best=999999
for i in 1 2 3 4 5; do
	ms=$(psql -X -q -A -t -U $ROLE -d $DB -c "SET crm.organization_id = '$org'" -c "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) SELECT * FROM crm.hottest_leads(50)" | sed -n 's/^Execution Time: \([0-9.]*\) ms/\1/p')
	best=$(awk "BEGIN { print ($ms < $best) ? $ms : $best }")
done
plan_kind=$(grep -o 'Index Scan[^(]*' "$OUT/hot_plan.txt" | head -1 || true)

cat >"$OUT/report.md" <<MD
| figure | crm | baseline | ratio |
| --- | --- | --- | --- |
| COPY $EVENTS events over $LEADS leads, scoring on (C statement trigger) | $t_crm s | bare $t_bare s | $(calc "$t_crm / $t_bare")× |
| the same, CPU time of the COPY's backend | $c_crm s | bare $c_bare s | $(calc "$c_crm / $c_bare")× |
| same COPY, seeds' PL/pgSQL recompute-per-row trigger | $t_plpg s | bare $t_bare s | $( [ "$t_plpg" = NaN ] && echo "not run" || calc "$t_plpg / $t_bare")× |
${pg_rows}| top 50 hottest of $scored scored leads (crm.hottest_leads(50)), best of 5 | $best ms | — | plan: ${plan_kind:-see hot_plan.txt} |
MD
say "report (also $OUT/report.md); crm.verify() drift after COPY: $drift"
cat "$OUT/report.md"
