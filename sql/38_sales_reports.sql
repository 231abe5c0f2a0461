-- ============================================================================
-- 38 sales reports: exchange rates to the corporate currency, quotas, the
-- forecast, win rates, stage velocity, daily pipeline snapshots and the
-- reporting views (doc/sales.md, "Currencies" and "Reports")
--
-- The corporate currency of an organization is crm.organization.
-- default_currency.  Reports convert at read time: an amount whose close
-- date falls in month M is converted with the rate in force on the first
-- day of M (the crm.exchange_rate row of its currency with the latest
-- valid_from <= that day); an amount without a close date with the rate in
-- force today.  The roll-up keeps close months, not days, so this is the
-- finest rule it can honour exactly; every report (from the roll-up or
-- from the opportunities) uses it, so they agree to the cent.  A needed
-- rate that does not exist is an error naming the currency and the day.
-- ============================================================================

CREATE TABLE crm.exchange_rate (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	currency	char(3) NOT NULL,
	valid_from	date NOT NULL,
	rate		numeric NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT exchange_rate_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT exchange_rate_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT exchange_rate_key UNIQUE (organization_id, currency, valid_from),
	CONSTRAINT exchange_rate_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
	CONSTRAINT exchange_rate_positive CHECK (rate > 0),
	CONSTRAINT exchange_rate_finite CHECK (rate <> 'NaN'::numeric)
);
COMMENT ON TABLE crm.exchange_rate IS 'Exchange rates of a currency to the organization''s corporate currency (crm.organization.default_currency), each valid from a day until the next one of the same currency; reports convert with them at read time.';
COMMENT ON COLUMN crm.exchange_rate.currency IS 'ISO 4217 code of the currency converted.';
COMMENT ON COLUMN crm.exchange_rate.valid_from IS 'First day the rate applies (until the next valid_from of the same currency). Amounts closing in a month use the rate in force on the month''s first day.';
COMMENT ON COLUMN crm.exchange_rate.rate IS 'Units of corporate currency per unit of currency (exact numeric, > 0).';
SELECT crm._setup_tenant_table('crm.exchange_rate', label => 'exchange rate');

-- One amount to convert: a grouping key, its currency, the day whose rate
-- applies (NULL: today), and the count and sums in that currency.
CREATE TYPE crm._fx_cell AS (key text, currency char(3), day date, n bigint, amount numeric, weighted numeric);
COMMENT ON TYPE crm._fx_cell IS 'Internal: a count, amount and weighted amount in one currency, with the day whose exchange rate applies (crm._fx).';

-- The cells converted to the corporate currency and summed per key (sums
-- exact, rounded to cents once, at the end).  A missing rate is an error.
CREATE FUNCTION crm._fx(org uuid, cells crm._fx_cell[])
RETURNS TABLE (key text, n bigint, amount numeric, weighted numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	corp char(3);
	cur char(3)[];
	days date[];
	rates numeric[];
BEGIN
	SELECT o.default_currency INTO corp FROM crm.organization o WHERE o.id = org;
	-- one look-up per currency and day (not per cell), in a fixed order so
	-- that the first missing rate reported is always the same
	SELECT array_agg(d.currency ORDER BY d.day, d.currency), array_agg(d.day ORDER BY d.day, d.currency),
		   array_agg((SELECT r.rate FROM crm.exchange_rate r
					   WHERE r.organization_id = org AND r.currency = d.currency AND r.valid_from <= d.day
					   ORDER BY r.valid_from DESC LIMIT 1) ORDER BY d.day, d.currency)
	  INTO cur, days, rates
	  FROM (SELECT DISTINCT c.currency, coalesce(c.day, current_date) AS day
			  FROM unnest(cells) c WHERE c.currency <> corp) d;
	FOR i IN 1 .. coalesce(cardinality(rates), 0) LOOP
		IF rates[i] IS NULL THEN
			RAISE EXCEPTION 'no exchange rate from % to the corporate currency % on %', cur[i], corp, to_char(days[i], 'YYYY-MM-DD')
				USING ERRCODE = 'no_data_found',
					  DETAIL = 'Amounts closing in a month are converted with the rate in force on its first day (amounts without close date: today).',
					  HINT = format('INSERT INTO crm.exchange_rate (currency, valid_from, rate) VALUES (%L, %L, …);', cur[i], to_char(days[i], 'YYYY-MM-DD'));
		END IF;
	END LOOP;
	RETURN QUERY
	SELECT c.key, sum(c.n)::bigint, round(sum(c.amount * coalesce(x.rate, 1)), 2), round(sum(c.weighted * coalesce(x.rate, 1)), 2)
	  FROM unnest(cells) c
	  LEFT JOIN unnest(cur, days, rates) x(currency, day, rate)
		ON c.currency <> corp AND x.currency = c.currency AND x.day = coalesce(c.day, current_date)
	 GROUP BY c.key;
END;
$$;
COMMENT ON FUNCTION crm._fx(uuid, crm._fx_cell[]) IS
	'Internal: converts cells to the organization''s corporate currency (rate in force on each cell''s day, today when NULL; 1 for the corporate currency) and sums them per key, rounded to cents once; errors (P0002) on a missing rate.';

-- The rate of a currency to the corporate currency on a day.
CREATE FUNCTION crm.exchange_rate_on(currency char(3), day date DEFAULT NULL)
RETURNS numeric
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
	corp char(3);
	r numeric;
BEGIN
	IF currency IS NULL OR currency !~ '^[A-Z]{3}$' THEN
		RAISE EXCEPTION 'currency must be an ISO 4217 code (three capital letters), not %', coalesce(currency::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT o.default_currency INTO corp FROM crm.organization o WHERE o.id = org;
	IF currency = corp THEN
		RETURN 1;
	END IF;
	SELECT x.rate INTO r FROM crm.exchange_rate x
	 WHERE x.organization_id = org AND x.currency = exchange_rate_on.currency
	   AND x.valid_from <= coalesce(day, current_date)
	 ORDER BY x.valid_from DESC LIMIT 1;
	IF r IS NULL THEN
		RAISE EXCEPTION 'no exchange rate from % to the corporate currency % on %', currency, corp, to_char(coalesce(day, current_date), 'YYYY-MM-DD')
			USING ERRCODE = 'no_data_found',
				  HINT = 'Add one to crm.exchange_rate (valid_from on or before that day).';
	END IF;
	RETURN r;
END;
$$;
COMMENT ON FUNCTION crm.exchange_rate_on(char, date) IS
	'The rate of a currency to the organization''s corporate currency in force on a day (default today): 1 for the corporate currency; errors (P0002) when there is none.';

-- ---------------------------------------------------------------------------
-- Quotas
-- ---------------------------------------------------------------------------
CREATE TABLE crm.sales_quota (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	user_id		uuid,
	team_id		uuid,
	period_start date NOT NULL,
	period_end	date NOT NULL,
	amount		numeric(18,2) NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT sales_quota_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT sales_quota_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT sales_quota_user_fkey FOREIGN KEY (organization_id, user_id) REFERENCES crm.app_user (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT sales_quota_team_fkey FOREIGN KEY (organization_id, team_id) REFERENCES crm.team (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT sales_quota_user_or_team CHECK ((user_id IS NULL) <> (team_id IS NULL)),
	CONSTRAINT sales_quota_period_order CHECK (period_start <= period_end),
	CONSTRAINT sales_quota_amount_nonnegative CHECK (amount >= 0),
	-- one quota per user (or team) and day: a forecast period sums the
	-- quotas inside it, so overlapping ones would count twice
	CONSTRAINT sales_quota_no_overlap EXCLUDE USING gist (
		crm.uuid_point(organization_id) WITH OPERATOR(pg_catalog.=),
		crm.uuid_point(coalesce(user_id, team_id)) WITH OPERATOR(pg_catalog.=),
		daterange(period_start, period_end, '[]') WITH OPERATOR(pg_catalog.&&))
);
CREATE INDEX sales_quota_user_idx ON crm.sales_quota (organization_id, user_id, period_start) WHERE user_id IS NOT NULL;
CREATE INDEX sales_quota_team_idx ON crm.sales_quota (organization_id, team_id, period_start) WHERE team_id IS NOT NULL;
COMMENT ON TABLE crm.sales_quota IS 'A sales target of a user or a team for a period, in the corporate currency; periods of one user or team never overlap. crm.forecast sums the quotas lying wholly inside its period.';
COMMENT ON COLUMN crm.sales_quota.user_id IS 'The crm.app_user the quota is for (or team_id).';
COMMENT ON COLUMN crm.sales_quota.team_id IS 'The crm.team the quota is for (or user_id).';
COMMENT ON COLUMN crm.sales_quota.period_start IS 'First day of the quota period.';
COMMENT ON COLUMN crm.sales_quota.period_end IS 'Last day of the quota period (inclusive).';
COMMENT ON COLUMN crm.sales_quota.amount IS 'Target of closed-won amount in the corporate currency.';
SELECT crm._setup_tenant_table('crm.sales_quota', label => 'sales quota');

-- ---------------------------------------------------------------------------
-- The forecast: from the roll-up, for whole months
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm.forecast(period_start date, period_end date, owner uuid DEFAULT NULL, team uuid DEFAULT NULL)
RETURNS TABLE (currency char(3), closed_won numeric, "commit" numeric,
			   best_case numeric, pipeline numeric, weighted numeric, quota numeric, attainment numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
	ps date := forecast.period_start;
	pe date := forecast.period_end;
	owners uuid[];
	corp char(3);
	q numeric;
	cats record;
BEGIN
	IF ps IS NULL OR pe IS NULL OR ps > pe THEN
		RAISE EXCEPTION 'a forecast needs a period: period_start (%) on or before period_end (%)',
			coalesce(ps::text, 'NULL'), coalesce(pe::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF ps <> date_trunc('month', ps)::date OR pe <> (date_trunc('month', pe) + interval '1 month - 1 day')::date THEN
		RAISE EXCEPTION 'a forecast period is whole months: % to % is not', to_char(ps, 'YYYY-MM-DD'), to_char(pe, 'YYYY-MM-DD')
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'The forecast reads the roll-up, which counts opportunities per close month.',
				  HINT = format('Use %s to %s.', to_char(date_trunc('month', ps), 'YYYY-MM-DD'), to_char(date_trunc('month', pe) + interval '1 month - 1 day', 'YYYY-MM-DD'));
	END IF;
	IF owner IS NOT NULL AND team IS NOT NULL THEN
		RAISE EXCEPTION 'a forecast is for an owner or a team, not both'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF owner IS NOT NULL THEN
		IF NOT EXISTS (SELECT 1 FROM crm.app_user u WHERE u.organization_id = org AND u.id = owner) THEN
			RAISE EXCEPTION 'user % does not exist in this organization', owner USING ERRCODE = 'no_data_found';
		END IF;
		owners := ARRAY[owner];
		SELECT sum(x.amount) INTO q FROM crm.sales_quota x
		 WHERE x.organization_id = org AND x.user_id = owner AND x.period_start >= ps AND x.period_end <= pe;
	ELSIF team IS NOT NULL THEN
		IF NOT EXISTS (SELECT 1 FROM crm.team t WHERE t.organization_id = org AND t.id = team) THEN
			RAISE EXCEPTION 'team % does not exist in this organization', team USING ERRCODE = 'no_data_found';
		END IF;
		owners := ARRAY(SELECT m.user_id FROM crm.team_member m WHERE m.organization_id = org AND m.team_id = team);
		SELECT sum(x.amount) INTO q FROM crm.sales_quota x
		 WHERE x.organization_id = org AND x.team_id = team AND x.period_start >= ps AND x.period_end <= pe;
	ELSE
		SELECT sum(x.amount) INTO q FROM crm.sales_quota x
		 WHERE x.organization_id = org AND x.user_id IS NOT NULL AND x.period_start >= ps AND x.period_end <= pe;
	END IF;
	SELECT o.default_currency INTO corp FROM crm.organization o WHERE o.id = org;
	SELECT coalesce(sum(f.amount) FILTER (WHERE f.key = 'closed'), 0) AS closed_won,
		   coalesce(sum(f.amount) FILTER (WHERE f.key = 'commit'), 0) AS "commit",
		   coalesce(sum(f.amount) FILTER (WHERE f.key = 'best_case'), 0) AS best_case,
		   coalesce(sum(f.amount) FILTER (WHERE f.key = 'pipeline'), 0) AS pipeline,
		   coalesce(sum(f.weighted) FILTER (WHERE f.key IN ('commit', 'best_case', 'pipeline')), 0) AS weighted
	  INTO cats
	  FROM crm._fx(org, ARRAY(
		SELECT ROW(u.forecast_category, u.currency, CASE WHEN u.currency <> corp THEN u.close_month END,
				   sum(u.n), sum(u.amount), sum(u.weighted))::crm._fx_cell
		  FROM crm._rollup_cells(org, NULL, owners, ps, pe) u
		 WHERE u.forecast_category <> 'omitted'
		 GROUP BY u.forecast_category, u.currency, CASE WHEN u.currency <> corp THEN u.close_month END
		HAVING sum(u.n) <> 0)) f;
	RETURN QUERY SELECT corp, cats.closed_won, cats.commit, cats.best_case, cats.pipeline, cats.weighted,
						q, CASE WHEN q > 0 THEN round(cats.closed_won * 100 / q, 2) END;
END;
$$;
COMMENT ON FUNCTION crm.forecast(date, date, uuid, uuid) IS
	'Forecast of whole months (period_start a first, period_end a last day of a month) in the corporate currency, from crm.pipeline_rollup: closed won; open amounts by forecast category (commit, best_case, pipeline; not cumulative); weighted = expected revenue of the open ones; quota = sum of the quotas wholly inside the period (the owner''s, the team''s, or all users''); attainment = closed won / quota in percent. Optional owner or team (its current members'' deals).';

-- ---------------------------------------------------------------------------
-- Win rate over closed deals
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm.win_rate("from" date, "to" date, group_by text DEFAULT 'owner')
RETURNS TABLE (group_key text, won bigint, lost bigint, win_rate numeric, won_amount numeric, lost_amount numeric, currency char(3))
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
	corp char(3);
BEGIN
	IF "from" IS NULL OR "to" IS NULL OR "from" > "to" THEN
		RAISE EXCEPTION 'win_rate needs a period: from (%) on or before to (%)', coalesce("from"::text, 'NULL'), coalesce("to"::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF group_by IS NULL OR group_by NOT IN ('owner', 'source', 'type') THEN
		RAISE EXCEPTION 'win_rate cannot group by %', coalesce(quote_literal(group_by), 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Group by owner, source (lead_source) or type.';
	END IF;
	SELECT o.default_currency INTO corp FROM crm.organization o WHERE o.id = org;
	RETURN QUERY
	WITH closed AS (
		SELECT CASE group_by WHEN 'owner' THEN x.owner_id::text WHEN 'source' THEN x.lead_source ELSE x.type END AS g,
			   x.is_won, x.currency, date_trunc('month', x.close_date)::date AS m, x.amount
		  FROM crm.opportunity x
		 WHERE x.organization_id = org AND x.deleted_at IS NULL AND x.is_closed
		   AND x.close_date BETWEEN "from" AND "to"),
	fx AS (
		SELECT * FROM crm._fx(org, ARRAY(
			SELECT ROW(coalesce(c.g, '') || CASE WHEN c.is_won THEN '|won' ELSE '|lost' END,
					   c.currency, c.m, count(*), sum(c.amount), 0)::crm._fx_cell
			  FROM closed c GROUP BY c.g, c.is_won, c.currency, c.m)))
	SELECT nullif(regexp_replace(f.key, '\|(won|lost)$', ''), ''),
		   coalesce(sum(f.n) FILTER (WHERE f.key LIKE '%|won'), 0)::bigint,
		   coalesce(sum(f.n) FILTER (WHERE f.key LIKE '%|lost'), 0)::bigint,
		   round(100.0 * coalesce(sum(f.n) FILTER (WHERE f.key LIKE '%|won'), 0) / sum(f.n), 2),
		   coalesce(sum(f.amount) FILTER (WHERE f.key LIKE '%|won'), 0),
		   coalesce(sum(f.amount) FILTER (WHERE f.key LIKE '%|lost'), 0),
		   corp
	  FROM fx f
	 GROUP BY 1
	 ORDER BY 1 NULLS LAST;
END;
$$;
COMMENT ON FUNCTION crm.win_rate(date, date, text) IS
	'Win rate of the live opportunities closed (won or lost) with a close date in from..to, grouped by owner (its id), source (lead_source) or type: won and lost counts, won / (won + lost) in percent, won and lost amounts in the corporate currency. A NULL group_key gathers deals without a value.';

-- ---------------------------------------------------------------------------
-- Stage velocity from the history
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm.stage_velocity(pipeline uuid, "from" date, "to" date)
RETURNS TABLE (stage_id uuid, stage text, "position" integer, entered bigint, exited bigint,
			   avg_days numeric, median_days numeric, advanced bigint, conversion_rate numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
	p uuid;
BEGIN
	IF "from" IS NULL OR "to" IS NULL OR "from" > "to" THEN
		RAISE EXCEPTION 'stage_velocity needs a period: from (%) on or before to (%)', coalesce("from"::text, 'NULL'), coalesce("to"::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	p := crm._report_pipeline(org, pipeline);
	RETURN QUERY
	WITH stint AS (
		SELECT h.opportunity_id, h.stage_id, lower(h.valid) AS a, upper(h.valid) AS b,
			   lag(h.stage_id) OVER w AS prev_stage, lag(upper(h.valid)) OVER w AS prev_end
		  FROM crm.opportunity_stage_history h
		 WHERE h.organization_id = org AND h.pipeline_id = p
		WINDOW w AS (PARTITION BY h.opportunity_id ORDER BY lower(h.valid))),
	-- a visit: consecutive stints of one stage without a gap (a soft delete)
	marked AS (
		SELECT s.*, sum(CASE WHEN s.prev_stage = s.stage_id AND s.prev_end = s.a THEN 0 ELSE 1 END)
					  OVER (PARTITION BY s.opportunity_id ORDER BY s.a) AS visit
		  FROM stint s),
	visit AS (
		SELECT m.opportunity_id, m.visit, min(m.stage_id::text)::uuid AS stage_id, min(m.a) AS a,
			   CASE WHEN bool_or(m.b IS NULL) THEN NULL ELSE max(m.b) END AS b
		  FROM marked m GROUP BY m.opportunity_id, m.visit),
	moved AS (
		SELECT v.*, lead(v.stage_id) OVER w AS next_stage, lead(v.a) OVER w AS next_a
		  FROM visit v
		WINDOW w AS (PARTITION BY v.opportunity_id ORDER BY v.a)),
	per AS (
		SELECT v.stage_id, count(*) AS entered,
			   count(*) FILTER (WHERE v.next_stage IS NOT NULL AND v.next_a = v.b) AS exited,
			   avg(extract(epoch FROM v.b - v.a) / 86400) FILTER (WHERE v.next_stage IS NOT NULL AND v.next_a = v.b) AS avg_days,
			   percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM v.b - v.a) / 86400)
				   FILTER (WHERE v.next_stage IS NOT NULL AND v.next_a = v.b) AS median_days,
			   count(*) FILTER (WHERE v.next_a = v.b AND ns.position > s.position AND NOT (ns.is_closed AND NOT ns.is_won)) AS advanced
		  FROM moved v
		  JOIN crm.pipeline_stage s ON s.organization_id = org AND s.id = v.stage_id
		  LEFT JOIN crm.pipeline_stage ns ON ns.organization_id = org AND ns.id = v.next_stage
		 WHERE v.a >= "from" AND v.a < "to" + 1
		 GROUP BY v.stage_id)
	SELECT s.id, s.name, s.position, coalesce(r.entered, 0), coalesce(r.exited, 0),
		   round(r.avg_days, 2), round(r.median_days::numeric, 2), coalesce(r.advanced, 0),
		   CASE WHEN r.exited > 0 THEN round(100.0 * r.advanced / r.exited, 2) END
	  FROM crm.pipeline_stage s
	  LEFT JOIN per r ON r.stage_id = s.id
	 WHERE s.organization_id = org AND s.pipeline_id = p
	 ORDER BY s.position, s.name;
END;
$$;
COMMENT ON FUNCTION crm.stage_velocity(uuid, date, date) IS
	'Per stage of a pipeline (default: the default pipeline), over visits entered in from..to (a visit: consecutive history stints in one stage): entered, exited (moved on to another stage), average and median days of the exited visits, advanced (moved to a later stage that is not a lost one), and conversion_rate = advanced / exited in percent. Rebuilt from crm.opportunity_stage_history.';

-- ---------------------------------------------------------------------------
-- Daily trend rows (for charts only: no report depends on them)
-- ---------------------------------------------------------------------------
CREATE TABLE crm.pipeline_snapshot (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	snapshot_date date NOT NULL,
	pipeline_id	uuid NOT NULL,
	stage_id	uuid NOT NULL,
	currency	char(3) NOT NULL,
	opportunity_count bigint NOT NULL,
	amount		numeric NOT NULL,
	weighted_amount numeric NOT NULL,
	taken_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT pipeline_snapshot_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT pipeline_snapshot_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT pipeline_snapshot_stage_fkey FOREIGN KEY (organization_id, pipeline_id, stage_id)
		REFERENCES crm.pipeline_stage (organization_id, pipeline_id, id) ON DELETE CASCADE,
	CONSTRAINT pipeline_snapshot_key UNIQUE (organization_id, snapshot_date, pipeline_id, stage_id)
);
COMMENT ON TABLE crm.pipeline_snapshot IS 'Daily trend rows of the weighted pipeline per pipeline and stage in the corporate currency (crm.snapshot_pipeline); for charts only, no report reads them (crm.pipeline_as_of rebuilds any past instant exactly).';
COMMENT ON COLUMN crm.pipeline_snapshot.snapshot_date IS 'The day the row describes (a rerun the same day replaces it).';
COMMENT ON COLUMN crm.pipeline_snapshot.pipeline_id IS 'The pipeline.';
COMMENT ON COLUMN crm.pipeline_snapshot.stage_id IS 'The stage.';
COMMENT ON COLUMN crm.pipeline_snapshot.currency IS 'The corporate currency at the time of the snapshot.';
COMMENT ON COLUMN crm.pipeline_snapshot.opportunity_count IS 'Live opportunities in the stage.';
COMMENT ON COLUMN crm.pipeline_snapshot.amount IS 'Their amount in the corporate currency.';
COMMENT ON COLUMN crm.pipeline_snapshot.weighted_amount IS 'Their expected revenue in the corporate currency.';
COMMENT ON COLUMN crm.pipeline_snapshot.taken_at IS 'When the row was written.';
SELECT crm._setup_tenant_table('crm.pipeline_snapshot', audited => false, label => 'pipeline snapshot');

-- The job: every organization's pipelines, each organization in its own
-- tenant context; one failure (a missing rate) does not stop the others.
CREATE FUNCTION crm.snapshot_pipeline(day date DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	o record;
	p record;
	d date := coalesce(day, current_date);
	n bigint;
	total bigint := 0;
BEGIN
	FOR o IN SELECT g.id FROM crm.organization g ORDER BY g.id LOOP
		BEGIN
			PERFORM set_config('crm.organization_id', o.id::text, true);
			FOR p IN SELECT x.id FROM crm.pipeline x WHERE x.organization_id = o.id ORDER BY x.id LOOP
				INSERT INTO crm.pipeline_snapshot AS t (organization_id, snapshot_date, pipeline_id, stage_id, currency,
														 opportunity_count, amount, weighted_amount)
				SELECT o.id, d, p.id, s.stage_id, s.currency, s.opportunity_count, s.amount, s.weighted_amount
				  FROM crm.pipeline_summary(p.id) s
				ON CONFLICT ON CONSTRAINT pipeline_snapshot_key DO UPDATE
					SET currency = EXCLUDED.currency, opportunity_count = EXCLUDED.opportunity_count,
						amount = EXCLUDED.amount, weighted_amount = EXCLUDED.weighted_amount, taken_at = EXCLUDED.taken_at;
				GET DIAGNOSTICS n = ROW_COUNT;
				total := total + n;
			END LOOP;
		EXCEPTION WHEN OTHERS THEN
			RAISE WARNING 'pipeline snapshot of organization % failed: %', o.id, SQLERRM;
		END;
	END LOOP;
	PERFORM set_config('crm.organization_id', '', true);
	RETURN total;
END;
$$;
COMMENT ON FUNCTION crm.snapshot_pipeline(date) IS
	'Job: writes crm.pipeline_snapshot rows (crm.pipeline_summary of every pipeline) of every organization for a day (default today; a rerun replaces that day''s rows), each organization in its own tenant context. Returns the rows written.';
INSERT INTO crm.job (name, schedule, command, description) VALUES
	('snapshot_pipeline', '15 0 * * *', 'SELECT crm.snapshot_pipeline()',
	 'Daily trend rows of the weighted pipeline (crm.pipeline_snapshot), for charts; reports never depend on them.');
