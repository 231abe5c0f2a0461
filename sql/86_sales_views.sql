-- ============================================================================
-- 86 sales views: crm.v_pipeline and crm.v_forecast for BI tools (doc/sales.md)
--
-- After sql/85_views.sql, whose column-comment pass matches a view v_x to a
-- table x: v_pipeline is not a view of crm.pipeline, so its comments are set
-- here, from crm.opportunity and crm.pipeline_rollup.
-- ============================================================================

-- Live opportunities with their pipeline, stage and owner names, and the
-- amounts in the corporate currency (NULL where no rate applies: a view
-- for BI tools does not fail on one missing rate).
CREATE VIEW crm.v_pipeline WITH (security_invoker = true) AS
SELECT x.id, x.organization_id, x.name, x.pipeline_id, p.name AS pipeline_name, x.stage_id, s.name AS stage_name,
	   s.position AS stage_position, x.account_id, x.owner_id, CASE WHEN u.deleted_at IS NULL THEN u.name END AS owner_name,
	   x.amount, x.currency, x.probability, x.expected_revenue, x.forecast_category, x.type, x.lead_source,
	   x.close_date, date_trunc('month', x.close_date)::date AS close_month, x.stage_entered_at,
	   x.is_closed, x.is_won, x.closed_at,
	   g.default_currency AS corporate_currency,
	   round(x.amount * fx.rate, 2) AS amount_corporate,
	   round(x.expected_revenue * fx.rate, 2) AS expected_revenue_corporate
  FROM crm.opportunity x
  JOIN crm.organization g ON g.id = x.organization_id
  LEFT JOIN crm.pipeline p ON p.organization_id = x.organization_id AND p.id = x.pipeline_id
  LEFT JOIN crm.pipeline_stage s ON s.organization_id = x.organization_id AND s.id = x.stage_id
  LEFT JOIN crm.app_user u ON u.organization_id = x.organization_id AND u.id = x.owner_id
  LEFT JOIN LATERAL (
	SELECT CASE WHEN x.currency = g.default_currency THEN 1 ELSE
		(SELECT r.rate FROM crm.exchange_rate r
		  WHERE r.organization_id = x.organization_id AND r.currency = x.currency
			AND r.valid_from <= coalesce(date_trunc('month', x.close_date)::date, current_date)
		  ORDER BY r.valid_from DESC LIMIT 1) END AS rate) fx ON true
 WHERE x.deleted_at IS NULL;
COMMENT ON VIEW crm.v_pipeline IS 'Live opportunities with pipeline, stage and owner names and their amounts in the corporate currency (rate of the close month''s first day; NULL when no rate exists).';

-- The roll-up per bucket (slots summed), with the corporate-currency sums.
CREATE VIEW crm.v_forecast WITH (security_invoker = true) AS
SELECT b.organization_id, b.pipeline_id, b.stage_id, b.owner_id, b.close_month, b.forecast_category, b.currency,
	   b.opportunity_count, b.amount, b.expected_revenue,
	   g.default_currency AS corporate_currency,
	   round(b.amount * fx.rate, 2) AS amount_corporate,
	   round(b.expected_revenue * fx.rate, 2) AS expected_revenue_corporate
  FROM (SELECT r.organization_id, r.pipeline_id, r.stage_id, r.owner_id, r.close_month, r.forecast_category, r.currency,
			   sum(r.opportunity_count)::bigint AS opportunity_count, sum(r.amount) AS amount, sum(r.expected_revenue) AS expected_revenue
		  FROM crm.pipeline_rollup r
		 GROUP BY 1, 2, 3, 4, 5, 6, 7
		HAVING sum(r.opportunity_count) <> 0) b
  JOIN crm.organization g ON g.id = b.organization_id
  LEFT JOIN LATERAL (
	SELECT CASE WHEN b.currency = g.default_currency THEN 1 ELSE
		(SELECT e.rate FROM crm.exchange_rate e
		  WHERE e.organization_id = b.organization_id AND e.currency = b.currency
			AND e.valid_from <= coalesce(b.close_month, current_date)
		  ORDER BY e.valid_from DESC LIMIT 1) END AS rate) fx ON true;
COMMENT ON VIEW crm.v_forecast IS 'The weighted-pipeline roll-up per pipeline, stage, owner, close month, forecast category and currency (slots summed), with amounts in the corporate currency (NULL when no rate exists).';

-- Column comments: a column taken from its table keeps that table's comment;
-- the derived ones are commented below.
DO $$
DECLARE
	c record;
BEGIN
	FOR c IN
		SELECT v.view, a.attname, col_description(v.src, b.attnum) AS txt
		  FROM (VALUES ('crm.v_pipeline'::regclass, 'crm.opportunity'::regclass),
					   ('crm.v_forecast'::regclass, 'crm.pipeline_rollup'::regclass)) v(view, src)
		  JOIN pg_attribute a ON a.attrelid = v.view AND a.attnum > 0
		  JOIN pg_attribute b ON b.attrelid = v.src AND b.attname = a.attname AND NOT b.attisdropped
		 WHERE col_description(v.src, b.attnum) IS NOT NULL
	LOOP
		EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', c.view, c.attname, c.txt);
	END LOOP;
END;
$$;
COMMENT ON COLUMN crm.v_pipeline.id IS 'The opportunity''s id.';
COMMENT ON COLUMN crm.v_pipeline.organization_id IS 'The organization.';
COMMENT ON COLUMN crm.v_pipeline.pipeline_name IS 'Name of the pipeline.';
COMMENT ON COLUMN crm.v_pipeline.stage_name IS 'Name of the stage.';
COMMENT ON COLUMN crm.v_pipeline.stage_position IS 'Position of the stage in its pipeline.';
COMMENT ON COLUMN crm.v_pipeline.owner_name IS 'Name of the owning crm.app_user (NULL when soft-deleted).';
COMMENT ON COLUMN crm.v_pipeline.close_month IS 'First day of the close date''s month: the month whose first-day exchange rate converts the amounts.';
COMMENT ON COLUMN crm.v_pipeline.corporate_currency IS 'The organization''s corporate currency (crm.organization.default_currency).';
COMMENT ON COLUMN crm.v_pipeline.amount_corporate IS 'amount in the corporate currency, rounded to cents (NULL when no exchange rate applies).';
COMMENT ON COLUMN crm.v_pipeline.expected_revenue_corporate IS 'expected_revenue in the corporate currency, rounded to cents (NULL when no exchange rate applies).';
COMMENT ON COLUMN crm.v_forecast.organization_id IS 'The organization.';
COMMENT ON COLUMN crm.v_forecast.opportunity_count IS 'Number of live opportunities in the bucket (slots summed).';
COMMENT ON COLUMN crm.v_forecast.amount IS 'Sum of their amount in currency.';
COMMENT ON COLUMN crm.v_forecast.expected_revenue IS 'Sum of their expected revenue in currency.';
COMMENT ON COLUMN crm.v_forecast.corporate_currency IS 'The organization''s corporate currency (crm.organization.default_currency).';
COMMENT ON COLUMN crm.v_forecast.amount_corporate IS 'amount in the corporate currency (rate of the close month''s first day; today''s without close month), rounded to cents; NULL when no rate applies.';
COMMENT ON COLUMN crm.v_forecast.expected_revenue_corporate IS 'expected_revenue in the corporate currency, rounded to cents; NULL when no rate applies.';
