#!/usr/bin/env bash
# bench/sla.sh — the SLA benchmarks (issue 12), separate from run.sh.
#
#   bench/sla.sh                                   (defaults below)
#   BENCH_SLA_CASES=100000 BENCH_SLA_OPEN=1000 bench/sla.sh     (a quick run)
#
# Builds crm, starts its own throwaway cluster (CRM_PGDIR, default
# <checkout>/.pg-bench-sla) and measures, as ratios taken in the same run:
#   1. crm.business_add and crm.business_minutes calls per second over mixed
#      spans (an hour to five years) on an office calendar in Europe/Berlin
#      with holidays, against a straightforward PL/pgSQL implementation
#      (a loop over the local days of the span) of the same functions;
#   2. crm.sla_sweep() over BENCH_SLA_CASES cases of which BENCH_SLA_OPEN are
#      open (targets loaded in restore mode, as a restore would), with one
#      target in ten of the open ones due: the time of the sweep that
#      records them, of the sweep after it (nothing to do), against a
#      sequential scan of crm.case_sla;
#   3. case inserts (with an SLA policy: targets computed by the triggers)
#      and comments (the first response achieved) per second, one client,
#      against the same inserts into bare copies (no triggers, no row-level
#      security).
# Environment: BENCH_SLA_CASES (default 1000000), BENCH_SLA_OPEN (10000),
# BENCH_SLA_CALLS (C calls per span kind, default 20000), BENCH_SLA_PLPGSQL_CALLS
# (PL/pgSQL calls per span kind, default 40), BENCH_PGBENCH_SECONDS (10),
# CRM_PGPORT, CRM_PGDIR.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
export CRM_PGDIR=${CRM_PGDIR:-$(cd "$BENCH_DIR/.." && pwd)/.pg-bench-sla}
. "$BENCH_DIR/../scripts/lib.sh"

CASES=${BENCH_SLA_CASES:-1000000}
OPEN=${BENCH_SLA_OPEN:-10000}
CALLS=${BENCH_SLA_CALLS:-20000}
PCALLS=${BENCH_SLA_PLPGSQL_CALLS:-40}
SECS=${BENCH_PGBENCH_SECONDS:-10}
DB=crm_bench_sla
ROLE=crm_bench_sla_app
OUT=$BENCH_DIR/out-sla
rm -rf "$OUT"
mkdir -p "$OUT"
chmod 755 "$OUT"

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
psql -X -q -d postgres -c "CREATE DATABASE $DB" -c "DROP ROLE IF EXISTS $ROLE" -c "CREATE ROLE $ROLE LOGIN"
org=$(su -c "CREATE EXTENSION crm" -c "SELECT crm.grant_access('$ROLE', 'admin')" -c "SELECT crm.create_organization('Bench SLA')" | tail -n 1)

say "1. calendar arithmetic: C against PL/pgSQL"
su >"$OUT/calendar.txt" <<SQL
SET crm.organization_id = '$org';
SELECT crm.create_business_calendar('Berlin office', 'Europe/Berlin',
	'{"mon": [["09:00","12:00"],["13:00","17:00"]], "tue": [["09:00","12:00"],["13:00","17:00"]],
	  "wed": [["09:00","12:00"],["13:00","17:00"]], "thu": [["09:00","12:00"],["13:00","17:00"]],
	  "fri": [["09:00","12:00"],["13:00","17:00"]]}',
	ARRAY(SELECT DATE '2025-01-01' + 37 * g FROM generate_series(0, 200) g), '{01-01,05-01,12-25,12-26}') \gset cal_
-- The straightforward implementation: one loop iteration per local day.
CREATE FUNCTION public.pl_open(cal crm.business_calendar, a timestamptz, b timestamptz) RETURNS numeric
LANGUAGE plpgsql STABLE AS \$\$
DECLARE
	d date := (a AT TIME ZONE cal.time_zone)::date;
	last date := (b AT TIME ZONE cal.time_zone)::date;
	total numeric := 0;
	iv jsonb;
	s timestamptz;
	e timestamptz;
BEGIN
	WHILE d <= last LOOP
		IF NOT (d = ANY (cal.holidays) OR to_char(d, 'MM-DD') = ANY (cal.recurring_holidays)) THEN
			FOR iv IN SELECT * FROM jsonb_array_elements(coalesce(cal.hours -> lower(to_char(d, 'Dy')), '[]')) LOOP
				s := (d + (iv ->> 0)::time) AT TIME ZONE cal.time_zone;
				e := (d + (iv ->> 1)::interval) AT TIME ZONE cal.time_zone;
				IF least(e, b) > greatest(s, a) THEN
					total := total + extract(epoch FROM least(e, b) - greatest(s, a));
				END IF;
			END LOOP;
		END IF;
		d := d + 1;
	END LOOP;
	RETURN total;
END;
\$\$;
CREATE FUNCTION public.pl_business_minutes(a timestamptz, b timestamptz, calendar uuid) RETURNS integer
LANGUAGE plpgsql STABLE AS \$\$
BEGIN
	RETURN floor(public.pl_open((SELECT c FROM crm.business_calendar c WHERE c.id = calendar), a, b) / 60);
END;
\$\$;
CREATE FUNCTION public.pl_business_add(a timestamptz, minutes integer, calendar uuid) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS \$\$
DECLARE
	cal crm.business_calendar := (SELECT c FROM crm.business_calendar c WHERE c.id = calendar);
	d date := (a AT TIME ZONE cal.time_zone)::date;
	need numeric := minutes * 60;
	iv jsonb;
	s timestamptz;
	e timestamptz;
	have numeric;
BEGIN
	IF minutes = 0 THEN
		RETURN a;
	END IF;
	LOOP
		IF NOT (d = ANY (cal.holidays) OR to_char(d, 'MM-DD') = ANY (cal.recurring_holidays)) THEN
			FOR iv IN SELECT * FROM jsonb_array_elements(coalesce(cal.hours -> lower(to_char(d, 'Dy')), '[]')) LOOP
				s := greatest((d + (iv ->> 0)::time) AT TIME ZONE cal.time_zone, a);
				e := (d + (iv ->> 1)::interval) AT TIME ZONE cal.time_zone;
				IF e > s THEN
					have := extract(epoch FROM e - s);
					IF have >= need THEN
						RETURN s + need * interval '1 second';
					END IF;
					need := need - have;
				END IF;
			END LOOP;
		END IF;
		d := d + 1;
	END LOOP;
END;
\$\$;
-- Mixed spans: an hour, a day, a week, a month, a year, five years of work.
CREATE TABLE public.spans (kind int, minutes int);
INSERT INTO public.spans VALUES (1, 60), (2, 480), (3, 2400), (4, 10000), (5, 100000), (6, 500000);
CREATE TABLE public.starts AS
SELECT g, timestamptz '2025-01-01 00:00+00' + (g * 7919 % 525600) * interval '1 minute' AS a
  FROM generate_series(1, greatest($CALLS, $PCALLS)) g;
-- The two implementations agree (on a sample).
SELECT count(*) AS sample, count(*) FILTER (WHERE crm.business_add(a, minutes, :'cal_create_business_calendar')
		<> public.pl_business_add(a, minutes, :'cal_create_business_calendar')) AS add_differs,
	   count(*) FILTER (WHERE crm.business_minutes(a, a + minutes * interval '3 minutes', :'cal_create_business_calendar')
		<> public.pl_business_minutes(a, a + minutes * interval '3 minutes', :'cal_create_business_calendar')) AS minutes_differ
  FROM public.starts, public.spans WHERE g <= 10 AND kind <= 5;
CREATE FUNCTION public.rate(q text, n int) RETURNS numeric LANGUAGE plpgsql AS \$\$
DECLARE
	t0 timestamptz := clock_timestamp();
BEGIN
	EXECUTE q;
	RETURN round(n / extract(epoch FROM clock_timestamp() - t0), 1);
END;
\$\$;
SELECT kind, minutes,
	   public.rate(format('SELECT count(crm.business_add(a, %s, %L)) FROM public.starts WHERE g <= %s', minutes, :'cal_create_business_calendar', $CALLS), $CALLS) AS c_add_per_s,
	   public.rate(format('SELECT count(public.pl_business_add(a, %s, %L)) FROM public.starts WHERE g <= %s', minutes, :'cal_create_business_calendar', $PCALLS), $PCALLS) AS plpgsql_add_per_s,
	   public.rate(format('SELECT count(crm.business_minutes(a, a + %s * interval ''3 minutes'', %L)) FROM public.starts WHERE g <= %s', minutes, :'cal_create_business_calendar', $CALLS), $CALLS) AS c_minutes_per_s,
	   public.rate(format('SELECT count(public.pl_business_minutes(a, a + %s * interval ''3 minutes'', %L)) FROM public.starts WHERE g <= %s', minutes, :'cal_create_business_calendar', $PCALLS), $PCALLS) AS plpgsql_minutes_per_s
  FROM public.spans ORDER BY kind;
SQL
cat "$OUT/calendar.txt"

say "2. the sweep over $CASES cases, $OPEN open"
su >"$OUT/sweep.txt" <<SQL
SET crm.organization_id = '$org';
INSERT INTO crm.sla_policy (name, position, first_response_minutes, resolution_minutes) VALUES ('All', 1, 60, 480)
RETURNING id AS pol \gset
SELECT id AS always FROM crm.business_calendar WHERE is_default \gset
SET crm.restoring = on;
-- cases created a minute apart before 2025-01-01; all but the last OPEN resolved
INSERT INTO crm.case (organization_id, id, number, subject, status, created_at, status_changed_at, resolved_at, updated_at)
SELECT '$org', crm.uuid_v7(), g, 'Case ' || g, CASE WHEN g > $CASES - $OPEN THEN 'open' ELSE 'resolved' END,
	   timestamptz '2025-01-01' - ($CASES - g) * interval '1 minute', timestamptz '2025-01-01',
	   CASE WHEN g <= $CASES - $OPEN THEN timestamptz '2025-01-01' - ($CASES - g) * interval '1 minute' + interval '2 hours' END,
	   timestamptz '2025-01-01'
  FROM generate_series(1, $CASES) g;
INSERT INTO crm.case_counter VALUES ('$org', $CASES);
-- two targets per case: achieved for the resolved ones; of the open ones,
-- the resolution targets are due one a minute from 2025-01-01
INSERT INTO crm.case_sla (organization_id, case_id, target, policy_id, calendar_id, target_minutes, warning_percent,
						  started_at, due_at, warn_at, achieved_at, warned_at)
SELECT c.organization_id, c.id, t.target, :'pol', :'always', t.m, 80, c.created_at,
	   CASE WHEN c.number > $CASES - $OPEN AND t.target = 'resolution'
			THEN timestamptz '2025-01-01' + (c.number - ($CASES - $OPEN)) * interval '1 minute'
			ELSE c.created_at + t.m * interval '1 minute' END,
	   c.created_at, CASE WHEN c.number <= $CASES - $OPEN THEN c.created_at + interval '30 minutes' END,
	   c.created_at
  FROM crm.case c, (VALUES ('first_response', 60), ('resolution', 480)) t(target, m)
 WHERE c.organization_id = '$org' AND (c.number <= $CASES - $OPEN OR t.target = 'resolution');
RESET crm.restoring;
VACUUM ANALYZE crm.case;
VACUUM ANALYZE crm.case_sla;
SELECT count(*) AS case_sla_rows, count(*) FILTER (WHERE achieved_at IS NULL) AS running FROM crm.case_sla;
CREATE FUNCTION public.ms(q text) RETURNS numeric LANGUAGE plpgsql AS \$\$
DECLARE
	t0 timestamptz := clock_timestamp();
BEGIN
	EXECUTE q;
	RETURN round(extract(epoch FROM clock_timestamp() - t0) * 1000, 1);
END;
\$\$;
-- the baseline first (warm caches for both)
SELECT public.ms('SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off; SELECT count(*) FROM crm.case_sla') AS warmup_ms;
SELECT public.ms('SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off; SELECT count(*) FROM crm.case_sla WHERE achieved_at IS NULL AND paused_since IS NULL AND breached_at IS NULL AND next_alert_at <= ''2025-01-01 00:00:00+00''::timestamptz + ($OPEN / 10) * interval ''1 minute''') AS seq_scan_ms;
SELECT public.ms(format('SELECT * FROM crm.sla_sweep(%L)', timestamptz '2025-01-01' + ($OPEN / 10) * interval '1 minute')) AS sweep_ms;
SELECT count(*) AS events FROM crm.outbox WHERE event_type LIKE 'case.sla%';
SELECT public.ms(format('SELECT * FROM crm.sla_sweep(%L)', timestamptz '2025-01-01' + ($OPEN / 10) * interval '1 minute')) AS second_sweep_ms;
SELECT count(*) AS events_after_second FROM crm.outbox WHERE event_type LIKE 'case.sla%';
EXPLAIN (COSTS OFF) SELECT s.case_id FROM crm.case_sla s
 WHERE s.organization_id = '$org' AND s.achieved_at IS NULL AND s.paused_since IS NULL AND s.breached_at IS NULL
   AND s.next_alert_at <= '2025-01-01 01:00+00';
SQL
cat "$OUT/sweep.txt"

say "3. case insert and comment throughput, crm against bare copies"
su >"$OUT/bare.txt" <<SQL
SET crm.organization_id = '$org';
INSERT INTO crm.app_user (name, email) VALUES ('Agent', 'agent@bench.example');
CREATE SCHEMA bare;
CREATE TABLE bare."case" (LIKE crm."case" INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES EXCLUDING GENERATED);
-- the bare number: a plain sequence (not gap-free)
ALTER TABLE bare."case" ALTER COLUMN number DROP DEFAULT, ALTER COLUMN number ADD GENERATED BY DEFAULT AS IDENTITY;
CREATE TABLE bare.case_comment (LIKE crm.case_comment INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
GRANT USAGE ON SCHEMA bare TO $ROLE;
GRANT ALL ON ALL TABLES IN SCHEMA bare TO $ROLE;
SQL
user=$(su -c "SELECT id FROM crm.app_user WHERE organization_id = '$org' LIMIT 1")
# one transaction: a case (SLA targets computed by the triggers) and the
# first public agent comment on it (first response achieved)
cat >"$OUT/crm.pgbench" <<PGB
WITH c AS (INSERT INTO crm.case (subject, priority) VALUES ('Bench case', 'high') RETURNING id) INSERT INTO crm.case_comment (case_id, author_user_id, body) SELECT id, '$user', 'On it' FROM c;
PGB
cat >"$OUT/bare.pgbench" <<PGB
WITH c AS (INSERT INTO bare.case (organization_id, subject, priority) VALUES ('$org', 'Bench case', 'high') RETURNING id) INSERT INTO bare.case_comment (organization_id, case_id, author_user_id, body) SELECT '$org', id, '$user', 'On it' FROM c;
PGB
run_pgbench() { # name, script
	PGOPTIONS="-c crm.organization_id=$org -c crm.user_id=$user" \
		pgbench -n -c 1 -T "$SECS" -f "$2" -U "$ROLE" $DB >"$OUT/$1.pgbench.log" 2>&1
	sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$OUT/$1.pgbench.log"
}
# alternating rounds (the machine is shared): the median of each
crm_all="" bare_all=""
for round in 1 2 3; do
	crm_all="$crm_all $(run_pgbench crm "$OUT/crm.pgbench")"
	bare_all="$bare_all $(run_pgbench bare "$OUT/bare.pgbench")"
done
median() { printf '%s\n' $1 | sort -g | sed -n 2p; }
crm_tps=$(median "$crm_all")
bare_tps=$(median "$bare_all")
echo "case+comment transactions/s (median of 3 alternating ${SECS}s runs, 1 client): crm $crm_tps [$crm_all ], bare $bare_tps [$bare_all ], ratio $(echo "scale=3; $crm_tps / $bare_tps" | bc)" | tee "$OUT/throughput.txt"
crm_cluster_stop
