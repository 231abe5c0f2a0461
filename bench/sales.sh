#!/usr/bin/env bash
# bench/sales.sh — the sales benchmarks (issue 9), separate from run.sh.
#
#   BENCH_SALES_OPPS=200000 bench/sales.sh      (default 200000 opportunities)
#
# Builds crm, starts its own throwaway cluster (CRM_PGDIR, default
# <checkout>/.pg-bench-sales) and generates one tenant with
# BENCH_SALES_OPPS opportunities, five history stints each (the last open)
# and their roll-up -- loaded in restore mode, as a restore would, then
# checked by crm.verify() -- and a bare copy of the opportunities (no
# triggers, no row-level security).  The hot set is 2,000 open deals of one
# owner in the first stage with one close month.  Prints, as ratios measured in the same
# run:
#   1. crm.pipeline_summary() against the GROUP BY it replaces;
#   2. crm.pipeline_as_of(one year ago) against the same GROUP BY;
#   3. stage changes per second, one client, crm against the bare copy;
#   4. stage changes per second with 8 and 32 clients all moving deals of
#      one owner between two stages (two hot buckets): crm's per-backend
#      slot rows, the shared-row alternative (crm.rollup_shared_rows = on:
#      one row per bucket, row locks until commit), and the bare copy.
# Environment: BENCH_SALES_OPPS, BENCH_PGBENCH_SECONDS (default 15: the
# seconds of each figure, in BENCH_SALES_SLICES interleaved slices, default
# 5), CRM_PGPORT, CRM_PGDIR; BENCH_SALES_GENERATE_ONLY=1 stops after the data
# and the pgbench scripts and leaves the cluster running (bench/sales_ab.sh).
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
export CRM_PGDIR=${CRM_PGDIR:-$(cd "$BENCH_DIR/.." && pwd)/.pg-bench-sales}
. "$BENCH_DIR/../scripts/lib.sh"

N=${BENCH_SALES_OPPS:-200000}
SECS=${BENCH_PGBENCH_SECONDS:-15}
DB=crm_bench_sales
ROLE=crm_bench_sales_app
OUT=$BENCH_DIR/out-sales
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
started=$(date +%s)
org=$(su -c "CREATE EXTENSION crm" -c "SELECT crm.grant_access('$ROLE', 'user')" -c "SELECT crm.create_organization('Bench Sales')" | tail -n 1)
say "generating $N opportunities with 5 stints each (restore mode, as a restore loads them)"
su >"$OUT/generate.log" <<SQL
SET crm.organization_id = '$org';
-- 10 % of the deals are in EUR: a monthly rate to the corporate USD
INSERT INTO crm.exchange_rate (currency, valid_from, rate)
SELECT 'EUR', d::date, 1.05 + (extract(month FROM d)::numeric / 100) FROM generate_series(DATE '2020-01-01', DATE '2030-12-01', interval '1 month') d;
INSERT INTO crm.app_user (name, email) SELECT 'Rep ' || g, 'rep' || g || '@bench.example' FROM generate_series(1, 20) g;
CREATE TABLE public.bench_stage AS
SELECT row_number() OVER (ORDER BY position)::int AS k, id, pipeline_id, default_probability, forecast_category, is_closed, is_won
  FROM crm.pipeline_stage WHERE organization_id = '$org';
CREATE TABLE public.bench_owner AS
SELECT row_number() OVER (ORDER BY id)::int AS k, id FROM crm.app_user WHERE organization_id = '$org';
SET crm.restoring = on;
-- final stage: 1..4 open (90 %), 5 won, 6 lost; created two years ago, a
-- stint every 100 days
INSERT INTO crm.opportunity (organization_id, id, name, amount, currency, pipeline_id, stage_id, probability,
							 forecast_category, owner_id, close_date, stage_entered_at, is_closed, is_won, closed_at,
							 lost_reason, created_at, updated_at)
SELECT '$org', crm.uuid_v7(), 'Deal ' || g, (g % 9973) * 10 + 0.5, CASE WHEN g % 10 = 0 THEN 'EUR' ELSE 'USD' END,
	   s.pipeline_id, s.id, s.default_probability, s.forecast_category, o.id,
	   DATE '2027-01-01' + (g % 365), now() - interval '330 days', s.is_closed, s.is_won,
	   CASE WHEN s.is_closed THEN now() - interval '330 days' END, CASE WHEN s.k = 6 THEN 'price' END,
	   now() - interval '730 days', now() - interval '330 days'
  FROM generate_series(1, $N) g
  JOIN public.bench_stage s ON s.k = CASE WHEN g % 20 = 0 THEN 5 WHEN g % 20 = 1 THEN 6 ELSE 1 + g % 4 END
  JOIN public.bench_owner o ON o.k = 1 + g % 20;
INSERT INTO crm.opportunity_stage_history (organization_id, opportunity_id, valid, pipeline_id, stage_id, amount, currency,
										   probability, is_probability_override, forecast_category, close_date, owner_id)
SELECT x.organization_id, x.id,
	   tstzrange(now() - interval '730 days' + n.k * interval '100 days', CASE WHEN n.k < 4 THEN now() - interval '730 days' + (n.k + 1) * interval '100 days' END),
	   x.pipeline_id, s.id, x.amount, x.currency, s.default_probability, false, s.forecast_category, x.close_date, x.owner_id
  FROM crm.opportunity x
  JOIN public.bench_stage f ON f.id = x.stage_id
  CROSS JOIN generate_series(0, 4) n(k)
  JOIN public.bench_stage s ON s.k = CASE WHEN n.k = 4 THEN f.k ELSE least(n.k + 1, f.k, 4) END
 WHERE x.organization_id = '$org';
UPDATE crm.opportunity_stage_history h SET probability = x.probability, forecast_category = x.forecast_category
  FROM crm.opportunity x WHERE x.organization_id = h.organization_id AND x.id = h.opportunity_id AND upper_inf(h.valid);
INSERT INTO crm.pipeline_rollup (organization_id, pipeline_id, stage_id, owner_id, close_month, forecast_category, currency,
								 slot, opportunity_count, amount, expected_revenue)
SELECT organization_id, pipeline_id, stage_id, owner_id, date_trunc('month', close_date)::date, forecast_category, currency,
	   0, count(*), sum(amount), sum(expected_revenue)
  FROM crm.opportunity WHERE organization_id = '$org' GROUP BY 1, 2, 3, 4, 5, 6, 7;
INSERT INTO crm.pipeline_stage_rollup (organization_id, pipeline_id, stage_id, close_month, forecast_category, currency,
									   opportunity_count, amount, expected_revenue)
SELECT organization_id, pipeline_id, stage_id, close_month, forecast_category, currency,
	   sum(opportunity_count), sum(amount), sum(expected_revenue)
  FROM crm.pipeline_rollup WHERE organization_id = '$org' GROUP BY 1, 2, 3, 4, 5, 6;
RESET crm.restoring;
CREATE SCHEMA bare;
CREATE TABLE bare.opportunity AS SELECT * FROM crm.opportunity;
ALTER TABLE bare.opportunity ADD PRIMARY KEY (organization_id, id);
CREATE INDEX ON bare.opportunity (organization_id, stage_id) WHERE deleted_at IS NULL;
GRANT USAGE ON SCHEMA bare TO $ROLE;
GRANT SELECT, UPDATE ON bare.opportunity TO $ROLE;
-- a second baseline: the same table with all its indexes, CHECK constraints
-- and the generated column, but no trigger, foreign key or row-level
-- security -- the difference to crm is what crm's triggers cost
CREATE SCHEMA twin;
CREATE TABLE twin.opportunity (LIKE crm.opportunity INCLUDING ALL);
DO \$\$ BEGIN
	EXECUTE format('INSERT INTO twin.opportunity (%s) SELECT %1\$s FROM crm.opportunity',
		(SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
		  WHERE attrelid = 'crm.opportunity'::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''));
END \$\$;
GRANT USAGE ON SCHEMA twin TO $ROLE;
GRANT SELECT, UPDATE ON twin.opportunity TO $ROLE;
-- open deals to move; the hot set: 2,000 open deals of one owner in stage 1, one close month
CREATE TABLE public.bench_open AS
SELECT row_number() OVER (ORDER BY x.id)::int AS k, x.id FROM crm.opportunity x JOIN public.bench_stage s ON s.id = x.stage_id WHERE s.k <= 4;
CREATE TABLE public.bench_hot AS
SELECT row_number() OVER (ORDER BY x.id)::int AS k, x.id
  FROM crm.opportunity x JOIN public.bench_stage s ON s.id = x.stage_id JOIN public.bench_owner o ON o.id = x.owner_id
 WHERE s.k = 1 AND o.k = 5 ORDER BY x.id LIMIT 2000;
UPDATE crm.opportunity SET close_date = DATE '2027-06-15' WHERE id IN (SELECT id FROM public.bench_hot);
UPDATE bare.opportunity SET close_date = DATE '2027-06-15' WHERE id IN (SELECT id FROM public.bench_hot);
UPDATE twin.opportunity SET close_date = DATE '2027-06-15' WHERE id IN (SELECT id FROM public.bench_hot);
ALTER TABLE public.bench_open ADD PRIMARY KEY (k);
ALTER TABLE public.bench_hot ADD PRIMARY KEY (k);
GRANT SELECT ON public.bench_stage, public.bench_open, public.bench_hot TO $ROLE;
-- mean milliseconds of n runs of a statement, measured in the server
CREATE FUNCTION public.bench_ms(stmt text, n int) RETURNS numeric LANGUAGE plpgsql AS \$\$
DECLARE t0 timestamptz; BEGIN
	EXECUTE stmt; -- warm
	t0 := clock_timestamp();
	FOR i IN 1..n LOOP EXECUTE stmt; END LOOP;
	RETURN round((extract(epoch FROM clock_timestamp() - t0) * 1000 / n)::numeric, 3);
END \$\$;
GRANT EXECUTE ON FUNCTION public.bench_ms(text, int) TO $ROLE;
VACUUM ANALYZE;
SQL
gen_s=$(( $(date +%s) - started ))
drift=$(su -c "SELECT count(*) FROM crm.verify() WHERE \"check\" IN ('pipeline_rollup', 'pipeline_stage_rollup', 'opportunity_history')")
opps=$(su -c "SELECT count(*) FROM crm.opportunity")
stints=$(su -c "SELECT count(*) FROM crm.opportunity_stage_history")
buckets=$(su -c "SELECT count(*) FROM crm.pipeline_rollup")
echo "generated in ${gen_s}s: $opps opportunities, $stints stints, $buckets roll-up rows; crm.verify() drift: $drift" | tee "$OUT/summary.txt"

nopen=$(su -c "SELECT count(*) FROM public.bench_open")
nhot=$(su -c "SELECT count(*) FROM public.bench_hot")
cat >"$OUT/crm_move.sql" <<SQL
\\set k random(1, $nopen)
\\set s random(1, 4)
UPDATE crm.opportunity SET stage_id = (SELECT id FROM public.bench_stage WHERE k = :s)
 WHERE organization_id = crm.current_org() AND id = (SELECT id FROM public.bench_open WHERE k = :k);
SQL
sed 's/crm\.opportunity/bare.opportunity/' "$OUT/crm_move.sql" >"$OUT/bare_move.sql"
sed 's/crm\.opportunity/twin.opportunity/' "$OUT/crm_move.sql" >"$OUT/twin_move.sql"
cat >"$OUT/crm_hot.sql" <<SQL
\\set k random(1, $nhot)
\\set s random(1, 2)
UPDATE crm.opportunity SET stage_id = (SELECT id FROM public.bench_stage WHERE k = :s)
 WHERE organization_id = crm.current_org() AND id = (SELECT id FROM public.bench_hot WHERE k = :k);
SQL
sed 's/crm\.opportunity/bare.opportunity/' "$OUT/crm_hot.sql" >"$OUT/bare_hot.sql"


if [ "${BENCH_SALES_GENERATE_ONLY:-0}" = 1 ]; then
	# for bench/sales_ab.sh: leave the cluster running with the data and the
	# pgbench scripts, and say how to reach it
	cat >"$OUT/env" <<ENV
export PGHOST=$PGHOST PGPORT=$PGPORT PGUSER=$PGUSER
BENCH_ORG=$org
BENCH_DB=$DB
BENCH_ROLE=$ROLE
BENCH_PGDATA=$PGDATA_DIR
ENV
	trap - EXIT
	exit 0
fi

app() { PGOPTIONS="-c crm.organization_id=$org" psql -X -q -A -t -v ON_ERROR_STOP=1 -U $ROLE -d $DB "$@"; }
groupby="SELECT stage_id, currency, count(*), sum(amount), sum(expected_revenue) FROM crm.opportunity WHERE organization_id = crm.current_org() AND pipeline_id = (SELECT id FROM crm.pipeline WHERE is_default) AND deleted_at IS NULL GROUP BY 1, 2"
summary_ms=$(app -c "SELECT public.bench_ms('SELECT * FROM crm.pipeline_summary()', 200)")
bycur_ms=$(app -c "SELECT public.bench_ms('SELECT * FROM crm.pipeline_summary_by_currency()', 200)")
groupby_ms=$(app -c "SELECT public.bench_ms(\$q\$$groupby\$q\$, 3)")
asof_ms=$(app -c "SELECT public.bench_ms(\$q\$SELECT * FROM crm.pipeline_as_of(now() - interval '1 year')\$q\$, 3)")
same=$(app -c "SELECT count(*) FROM (SELECT stage_id, currency, opportunity_count, amount, weighted_amount FROM crm.pipeline_summary_by_currency() WHERE opportunity_count > 0 EXCEPT $groupby) d")

# Each configuration runs SLICES times for SECS / SLICES seconds, the
# configurations of a series in turn (crm, bare, twin, crm, bare, twin, ...):
# on a shared machine the load changes within seconds, and interleaved
# slices see about the same load.  A figure is the mean of its slices' tps.
SLICES=${BENCH_SALES_SLICES:-5}
SLICE_SECS=$(( SECS / SLICES > 2 ? SECS / SLICES : 2 ))
declare -A tps_sum failed_sum retried_sum
slice() { # key clients script [setting]: one slice, added to key's sums
	local key=$1 c=$2 f=$3 opt=${4:-} o="$OUT/$1.out"
	[ -n "$opt" ] && su -c "ALTER ROLE $ROLE SET $opt" >/dev/null
	PGOPTIONS="-c crm.organization_id=$org" pgbench -n -U $ROLE -c "$c" -j 2 -T "$SLICE_SECS" --max-tries=1000 -f "$OUT/$f" $DB >"$o" 2>&1 || true
	[ -n "$opt" ] && su -c "ALTER ROLE $ROLE RESET ${opt%% *}" >/dev/null
	tps_sum[$key]=$(awk -v a="${tps_sum[$key]:-0}" -v b="$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$o" | head -1)" 'BEGIN { printf "%.3f", a + b }')
	failed_sum[$key]=$(( ${failed_sum[$key]:-0} + $(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$o" | head -1) + 0 ))
	retried_sum[$key]=$(( ${retried_sum[$key]:-0} + $(sed -n 's/^number of transactions retried: \([0-9]*\).*/\1/p' "$o" | head -1) + 0 ))
}
mean() { awk -v a="${tps_sum[$1]}" -v n="$SLICES" 'BEGIN { printf "%.0f", a / n }'; }
say "stage changes, one client ($SLICES slices of ${SLICE_SECS}s each)"
for i in $(seq 1 "$SLICES"); do
	slice crm1 1 crm_move.sql
	slice bare1 1 bare_move.sql
	slice twin1 1 twin_move.sql
done
crm1=$(mean crm1) bare1=$(mean bare1) twin1=$(mean twin1)
# the shared-row alternative: superuser-only setting, given to the role for its slices
declare -A hot
for c in 8 32; do
	say "hot buckets, $c clients"
	for i in $(seq 1 "$SLICES"); do
		slice crm$c "$c" crm_hot.sql
		slice shared$c "$c" crm_hot.sql "crm.rollup_shared_rows = on"
		slice bare$c "$c" bare_hot.sql
	done
	for k in crm shared bare; do
		hot[$k$c]="$(mean $k$c) ${failed_sum[$k$c]} ${retried_sum[$k$c]}"
	done
done
drift_after=$(su -c "SELECT count(*) FROM crm.verify() WHERE \"check\" IN ('pipeline_rollup', 'pipeline_stage_rollup', 'opportunity_history')")

r() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
{
	echo "opportunities: $opps, stints: $stints, roll-up rows: $buckets; generated in ${gen_s}s; verify drift before/after the write runs: $drift/$drift_after; summary rows differing from the GROUP BY: $same"
	echo
	echo "| figure | crm | baseline | ratio |"
	echo "| --- | ---: | ---: | ---: |"
	echo "| \`crm.pipeline_summary()\` (mean of 200), ms vs the GROUP BY over crm.opportunity (mean of 3) | $summary_ms | $groupby_ms | $(r "$groupby_ms" "$summary_ms")× faster |"
	echo "| \`crm.pipeline_summary_by_currency()\` (mean of 200, no conversion), ms vs the same GROUP BY | $bycur_ms | $groupby_ms | $(r "$groupby_ms" "$bycur_ms")× faster |"
	echo "| \`crm.pipeline_as_of(now() - 1 year)\` (mean of 3), ms vs the same GROUP BY | $asof_ms | $groupby_ms | $(r "$asof_ms" "$groupby_ms") |"
	echo "| stage changes/s, 1 client, crm vs bare copy | $crm1 | $bare1 | $(r "$crm1" "$bare1") |"
	echo "| stage changes/s, 1 client, crm vs twin (same indexes and checks, no triggers) | $crm1 | $twin1 | $(r "$crm1" "$twin1") |"
	echo "| stage changes/s, 1 client, twin vs bare copy (the table's own indexes and checks) | $twin1 | $bare1 | $(r "$twin1" "$bare1") |"
	for c in 8 32; do
		read -r t f rt <<<"${hot[crm$c]}"
		read -r ts fs rts <<<"${hot[shared$c]}"
		read -r tb _ _ <<<"${hot[bare$c]}"
		echo "| hot buckets, $c clients: crm (slot rows) vs bare copy, changes/s | $t (retried ${rt:-0}) | $tb | $(r "$t" "$tb") |"
		echo "| hot buckets, $c clients: shared row per bucket vs bare copy, changes/s | $ts (deadlocks retried ${rts:-0}, failed ${fs:-0}) | $tb | $(r "$ts" "$tb") |"
	done
} | tee "$OUT/result.md"
