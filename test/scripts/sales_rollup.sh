#!/usr/bin/env bash
# The weighted-pipeline roll-up equals a recomputation after a randomized
# concurrent workload (issue 9).
#
# pgbench runs 8 clients (as an application role) for SALES_ROLLUP_TX
# transactions each (default 400); every transaction does one to four random
# operations on one opportunity of one of three tenants -- inserts in any
# stage (lost ones with a reason), stage moves (into and out of closed
# stages), amount, owner, close-date, currency and pipeline changes,
# probability overrides set and cleared, soft deletes and restores, hard
# deletes -- and a fifth of them roll back.  Meanwhile a ninth client folds
# the roll-up of every tenant over and over (crm.fold_pipeline_rollups).
# Afterwards crm.verify()'s pipeline_rollup and opportunity_history checks
# must be empty, every tenant's crm.pipeline_summary() must equal a GROUP BY
# over its live opportunities, and no client may have failed (a deadlock or
# a serialization error would end its run with an error).
set -uo pipefail
failed=0
check() { local d=$1; shift; if "$@"; then echo "PASS  $d"; else echo "FAIL  $d"; failed=$((failed + 1)); fi; }

db=crm_sales_rollup
role=crm_sales_rollup_app
tx=${SALES_ROLLUP_TX:-400}
work=$(mktemp -d /tmp/crm-sales-rollup.XXXXXX)
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
psql -X -q -v ON_ERROR_STOP=1 -d $db >"$work/setup.out" 2>&1 <<SQL
CREATE EXTENSION crm;
SELECT crm.grant_access('$role', 'admin');
CREATE TABLE public.tenant (n int PRIMARY KEY, org uuid NOT NULL);
INSERT INTO public.tenant SELECT n, crm.create_organization('Rollup ' || n) FROM generate_series(1, 3) n;
GRANT SELECT ON public.tenant TO PUBLIC;
-- per tenant: three owners and a second pipeline
DO \$\$
DECLARE t record; p uuid;
BEGIN
	FOR t IN SELECT * FROM public.tenant LOOP
		PERFORM set_config('crm.organization_id', t.org::text, true);
		INSERT INTO crm.app_user (name, email) SELECT 'Rep ' || g, 'rep' || g || '@t' || t.n || '.example' FROM generate_series(1, 3) g;
		INSERT INTO crm.pipeline (name) VALUES ('Second') RETURNING id INTO p;
		INSERT INTO crm.pipeline_stage (pipeline_id, name, position, default_probability, forecast_category, is_closed, is_won) VALUES
			(p, 'Open', 1, 30, 'pipeline', false, false), (p, 'Late', 2, 70, 'commit', false, false),
			(p, 'Won', 3, 100, 'closed', true, true), (p, 'Lost', 4, 0, 'omitted', true, false);
	END LOOP;
END \$\$;

-- One random operation on opportunity o (or a new one) of the current
-- tenant.  A transaction changes only one existing opportunity, so its
-- row locks cannot deadlock with another's: any deadlock or error would
-- come from the roll-up.
CREATE FUNCTION public.random_op(o uuid) RETURNS void LANGUAGE plpgsql AS \$\$
DECLARE
	org uuid := crm.current_org();
	op int := floor(random() * 12)::int;
	st uuid;
	pl uuid;
BEGIN
	SELECT id, pipeline_id INTO st, pl FROM crm.pipeline_stage WHERE organization_id = org ORDER BY random() LIMIT 1;
	IF o IS NULL OR op <= 2 THEN
		INSERT INTO crm.opportunity (name, amount, currency, pipeline_id, stage_id, owner_id, close_date, lost_reason)
		VALUES ('Deal', round((random() * 10000)::numeric, 2), (ARRAY['USD', 'EUR', 'GBP'])[1 + floor(random() * 3)::int], pl, st,
				(SELECT id FROM crm.app_user WHERE organization_id = org ORDER BY random() LIMIT 1),
				CASE WHEN random() < 0.9 THEN DATE '2027-01-01' + floor(random() * 120)::int END, 'lost it');
	ELSIF op = 3 THEN
		UPDATE crm.opportunity SET stage_id = st, pipeline_id = pl, lost_reason = 'lost it' WHERE organization_id = org AND id = o;
	ELSIF op = 4 THEN
		UPDATE crm.opportunity SET stage_id = (SELECT s.id FROM crm.pipeline_stage s
												 WHERE s.organization_id = org AND s.pipeline_id = opportunity.pipeline_id
												 ORDER BY random() LIMIT 1), lost_reason = 'lost it'
		 WHERE organization_id = org AND id = o;
	ELSIF op = 5 THEN
		UPDATE crm.opportunity SET amount = round((random() * 10000)::numeric, 2) WHERE organization_id = org AND id = o;
	ELSIF op = 6 THEN
		UPDATE crm.opportunity SET owner_id = (SELECT id FROM crm.app_user WHERE organization_id = org ORDER BY random() LIMIT 1)
		 WHERE organization_id = org AND id = o;
	ELSIF op = 7 THEN
		UPDATE crm.opportunity SET close_date = close_date + floor(random() * 40 - 20)::int, currency = (ARRAY['USD', 'EUR'])[1 + floor(random() * 2)::int]
		 WHERE organization_id = org AND id = o;
	ELSIF op = 8 THEN
		UPDATE crm.opportunity SET probability = CASE WHEN random() < 0.5 THEN floor(random() * 100) END WHERE organization_id = org AND id = o;
	ELSIF op = 9 THEN
		UPDATE crm.opportunity SET deleted_at = CASE WHEN deleted_at IS NULL THEN now() END WHERE organization_id = org AND id = o;
	ELSIF op = 10 THEN
		UPDATE crm.opportunity SET pipeline_id = pl WHERE organization_id = org AND id = o;	-- its first open stage
	ELSE
		DELETE FROM crm.opportunity WHERE organization_id = org AND id = o;
	END IF;
END \$\$;
GRANT EXECUTE ON FUNCTION public.random_op(uuid) TO $role;
SQL
check "setup" test $? = 0 || cat "$work/setup.out"

cat >"$work/work.sql" <<'SQL'
\set t random(1, 3)
\set ops random(1, 4)
\set rollback random(1, 5)
BEGIN;
SELECT set_config('crm.organization_id', (SELECT org::text FROM public.tenant WHERE n = :t), true);
SELECT public.random_op(o.id) FROM (SELECT (SELECT id FROM crm.opportunity ORDER BY random() LIMIT 1) AS id) o, generate_series(1, :ops);
\if :rollback = 1
ROLLBACK;
\else
COMMIT;
\endif
SQL
cat >"$work/fold.sql" <<'SQL'
SELECT crm.fold_pipeline_rollups();
SELECT pg_sleep(0.02);
SQL

started=$(date +%s)
pgbench -n -T 3600 -c 1 -f "$work/fold.sql" $db >"$work/fold.out" 2>&1 &
fold_pid=$!
pgbench -n -U $role -c 8 -j 2 -t "$tx" -f "$work/work.sql" $db >"$work/pgbench.out" 2>&1
rc=$?
kill "$fold_pid" 2>/dev/null
wait "$fold_pid" 2>/dev/null
check "pgbench: 8 clients x $tx random transactions, all without error, while a ninth folds (exit $rc, $(( $(date +%s) - started )) s)" test $rc = 0
[ $rc != 0 ] && tail -20 "$work/pgbench.out"
folds=$(grep -c "" "$work/fold.out" 2>/dev/null)
grep -q "ERROR" "$work/fold.out" && { echo "      fold errors:"; grep ERROR "$work/fold.out" | head -5; }
check "the folding client saw no error" bash -c "! grep -q ERROR '$work/fold.out'"

q() { psql -X -A -t -q -v ON_ERROR_STOP=1 -d $db -c "$1"; }
echo "info  $(q "SELECT count(*) FROM crm.opportunity") opportunities ($(q "SELECT count(*) FROM crm.opportunity WHERE deleted_at IS NOT NULL") soft-deleted), $(q "SELECT count(*) FROM crm.opportunity_stage_history") history stints, $(q "SELECT count(*) FROM crm.pipeline_rollup") roll-up rows ($(q "SELECT count(DISTINCT slot) FROM crm.pipeline_rollup") slots)"
check "every tenant has opportunities and history (the workload did something)" \
	test "$(q "SELECT count(DISTINCT organization_id) FROM crm.opportunity_stage_history")" = 3

drift=$(q "SELECT count(*) FROM crm.verify() WHERE \"check\" IN ('pipeline_rollup', 'pipeline_stage_rollup', 'opportunity_history')")
check "crm.verify(): the roll-up equals its recomputation and every live opportunity has its open stint ($drift drifts)" test "$drift" = 0
[ "$drift" != 0 ] && q "SELECT * FROM crm.verify() WHERE \"check\" IN ('pipeline_rollup', 'pipeline_stage_rollup', 'opportunity_history') LIMIT 10"

# pipeline_summary of every tenant and pipeline against a GROUP BY.
diffs=$(psql -X -A -t -q -v ON_ERROR_STOP=1 -d $db <<'SQL'
CREATE TEMP TABLE d (n bigint);
DO $$
DECLARE t record; p record; k bigint; total bigint := 0;
BEGIN
	FOR t IN SELECT * FROM public.tenant LOOP
		PERFORM set_config('crm.organization_id', t.org::text, true);
		FOR p IN SELECT id FROM crm.pipeline WHERE organization_id = t.org LOOP
			SELECT count(*) INTO k FROM (
				(SELECT stage_id, currency, opportunity_count, amount, weighted_amount FROM crm.pipeline_summary_by_currency(p.id) WHERE opportunity_count > 0
				 EXCEPT
				 SELECT stage_id, currency, count(*), sum(amount), sum(expected_revenue) FROM crm.opportunity
				  WHERE organization_id = t.org AND pipeline_id = p.id AND deleted_at IS NULL GROUP BY 1, 2)
				UNION ALL
				(SELECT stage_id, currency, count(*), sum(amount), sum(expected_revenue) FROM crm.opportunity
				  WHERE organization_id = t.org AND pipeline_id = p.id AND deleted_at IS NULL GROUP BY 1, 2
				 EXCEPT
				 SELECT stage_id, currency, opportunity_count, amount, weighted_amount FROM crm.pipeline_summary_by_currency(p.id) WHERE opportunity_count > 0)) x;
			total := total + k;
		END LOOP;
	END LOOP;
	INSERT INTO d VALUES (total);
END $$;
SELECT n FROM d;
SQL
)
check "crm.pipeline_summary_by_currency() of every tenant and pipeline equals a GROUP BY over the live opportunities ($diffs differing rows)" test "$diffs" = 0

# The stints of every opportunity never overlap (the exclusion constraint
# makes this impossible; this checks the trigger never needed it).
overlaps=$(q "SELECT count(*) FROM crm.opportunity_stage_history a JOIN crm.opportunity_stage_history b
				ON b.organization_id = a.organization_id AND b.opportunity_id = a.opportunity_id AND b.id <> a.id AND b.valid && a.valid")
check "no two stints of an opportunity overlap" test "$overlaps" = 0


# In the corporate currency: rates for EUR and GBP changing at some month
# starts (and mid-month, which applies from the next month on), then
# crm.pipeline_summary() against a GROUP BY that converts each opportunity
# with crm.exchange_rate_on(currency, first day of its close month).
conv=$(psql -X -A -t -q -v ON_ERROR_STOP=1 -d $db <<'SQL'
CREATE TEMP TABLE d (n bigint);
DO $$
DECLARE t record; p record; k bigint; total bigint := 0; t_corp char(3);
BEGIN
	FOR t IN SELECT * FROM public.tenant LOOP
		PERFORM set_config('crm.organization_id', t.org::text, true);
		SELECT default_currency INTO t_corp FROM crm.organization WHERE id = t.org;
		INSERT INTO crm.exchange_rate (currency, valid_from, rate) VALUES
			('EUR', '1900-01-01', 1.0837), ('EUR', '2027-02-01', 1.1), ('EUR', '2027-03-15', 1.1234567),
			('GBP', '1900-01-01', 1.27), ('GBP', '2027-01-01', 1.3333);
		FOR p IN SELECT id FROM crm.pipeline WHERE organization_id = t.org LOOP
			SELECT count(*) INTO k FROM (
				(SELECT stage_id, opportunity_count, amount, weighted_amount FROM crm.pipeline_summary(p.id)
				 EXCEPT
				 SELECT s.id, count(o.id), coalesce(round(sum(o.amount * crm.exchange_rate_on(coalesce(o.currency, t_corp), date_trunc('month', o.close_date)::date)), 2), 0),
						coalesce(round(sum(o.expected_revenue * crm.exchange_rate_on(coalesce(o.currency, t_corp), date_trunc('month', o.close_date)::date)), 2), 0)
				   FROM crm.pipeline_stage s
				   LEFT JOIN crm.opportunity o ON o.organization_id = t.org AND o.stage_id = s.id AND o.deleted_at IS NULL
				  WHERE s.organization_id = t.org AND s.pipeline_id = p.id GROUP BY s.id)) x;
			total := total + k;
		END LOOP;
		DELETE FROM crm.exchange_rate WHERE organization_id = t.org;
	END LOOP;
	INSERT INTO d VALUES (total);
END $$;
SELECT n FROM d;
SQL
)
check "crm.pipeline_summary() in the corporate currency equals a converting GROUP BY for every tenant and pipeline ($conv differing rows)" test "$conv" = 0

echo "sales_rollup: $failed check(s) failed"
[ $failed = 0 ]
