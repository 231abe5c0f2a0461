-- bench/sql/40_queries.sql
-- The timed read queries (figures a, b, c, h, i, j).  Each has a crm form,
-- run by the application role under row-level security with no tenant
-- filter of its own (the policy supplies it), and a baseline form on the
-- bare copies with the explicit organization_id filter a plain application
-- would write ({org} is replaced by the tenant's id).  $1 is one value of
-- the parameter set `params` (bench.param, per tenant).  `answer`, when set,
-- is an aggregate over the query's rows x that must be the same on both
-- sides (bench/run.sh checks it once and warns when it is not).
--
-- c (the customer 360° view) is not here: bench/run.sh adds it from the
-- mix's view_360.crm.sql and view_360.bare.sql, so that figure c and the
-- mix's 360° transaction are one query.
--
-- The data's clock: the generated history (activities, closed deals) lies
-- in the two years from bench.epoch() (2023-01-01 to 2024-12-31); "this
-- week" of the dashboard is the last seven days of that history, and the
-- report covers those two years.  Open deals close in the months after
-- today, so the forecast is for the current quarter.

CREATE TABLE bench.query (
	figure		text NOT NULL,
	label		text PRIMARY KEY,
	target_ms	float8,
	params		text NOT NULL,
	crm_sql		text NOT NULL,
	bare_sql	text NOT NULL,
	answer		text
);

-- crm.search() on the bare tables: the same PL/pgSQL function, its table
-- names pointed at the bare copies (kept in step with crm.search itself).
DO $$
DECLARE
	def text := pg_get_functiondef('crm.search(text, integer)'::regprocedure);
	t text;
BEGIN
	def := replace(def, 'FUNCTION crm.search(', 'FUNCTION bench.search_bare(');
	FOREACH t IN ARRAY ARRAY['contact', 'account', 'lead'] LOOP
		def := replace(def, 'crm.' || t || ' ', 'bare.' || t || ' ');
	END LOOP;
	IF def ~ 'crm\.(contact|account|lead) ' THEN
		RAISE EXCEPTION 'bench: could not point crm.search at the bare tables';
	END IF;
	EXECUTE def;
END;
$$;

INSERT INTO bench.query VALUES
('a', 'a. contact list page (25, owner''s, newest first)', 1, 'owners',
$q$SELECT c.id, c.first_name, c.last_name, c.email, c.phone, c.created_at, a.name AS account_name
  FROM crm.contact c
  LEFT JOIN crm.account a ON a.organization_id = c.organization_id AND a.id = c.account_id
 WHERE c.owner_id = $1::uuid AND c.deleted_at IS NULL
 ORDER BY c.created_at DESC LIMIT 25$q$,
$q$SELECT c.id, c.first_name, c.last_name, c.email, c.phone, c.created_at, a.name AS account_name
  FROM bare.contact c
  LEFT JOIN bare.account a ON a.organization_id = c.organization_id AND a.id = c.account_id
 WHERE c.organization_id = {org} AND c.owner_id = $1::uuid AND c.deleted_at IS NULL
 ORDER BY c.created_at DESC LIMIT 25$q$),

('b', 'b1. search: crm.search(''first last-prefix'')', 10, 'search_terms',
$q$SELECT * FROM crm.search($1)$q$,
$q$SELECT * FROM bench.search_bare($1)$q$),

('b', 'b2. search: direct tsvector query on contact', 10, 'full_names',
$q$SELECT c.id, c.first_name, c.last_name, c.email
  FROM crm.contact c
 WHERE c.search_vector OPERATOR(crm.@@) plainto_tsquery('simple', $1) AND c.deleted_at IS NULL
 ORDER BY ts_rank(c.search_vector, plainto_tsquery('simple', $1)) DESC LIMIT 20$q$,
$q$SELECT c.id, c.first_name, c.last_name, c.email
  FROM bare.contact c
 WHERE c.organization_id = {org} AND c.search_vector OPERATOR(crm.@@) plainto_tsquery('simple', $1) AND c.deleted_at IS NULL
 ORDER BY ts_rank(c.search_vector, plainto_tsquery('simple', $1)) DESC LIMIT 20$q$),

('b', 'b3. search: contact by email', 10, 'emails',
$q$SELECT c.id, c.first_name, c.last_name, c.account_id
  FROM crm.contact c
 WHERE c.email OPERATOR(pg_catalog.=) $1::text AND c.deleted_at IS NULL$q$,
$q$SELECT c.id, c.first_name, c.last_name, c.account_id
  FROM bare.contact c
 WHERE c.organization_id = {org} AND c.email OPERATOR(pg_catalog.=) $1::text AND c.deleted_at IS NULL$q$);

-- h. The pipeline of the default pipeline per stage (count, amount,
-- weighted): crm reads its roll-up only; the baseline is the GROUP BY over
-- the opportunities a plain application would write.
CREATE FUNCTION bench.pipeline_bare_sql() RETURNS text LANGUAGE sql IMMUTABLE AS $f$ SELECT
$q$SELECT s.name AS stage, s.position, count(o.id) AS opportunity_count, coalesce(sum(o.amount), 0) AS amount,
	   coalesce(sum(o.expected_revenue), 0) AS weighted_amount
  FROM bare.pipeline p
  JOIN bare.pipeline_stage s ON s.organization_id = p.organization_id AND s.pipeline_id = p.id
  LEFT JOIN bare.opportunity o ON o.organization_id = s.organization_id AND o.stage_id = s.id AND o.deleted_at IS NULL
 WHERE p.organization_id = {org} AND p.is_default
 GROUP BY s.id, s.name, s.position
 ORDER BY s.position, s.name$q$ $f$;

INSERT INTO bench.query (figure, label, target_ms, params, crm_sql, bare_sql, answer) VALUES
('h', 'h. opportunity pipeline (per stage: count, amount, weighted)', 1, 'once',
$q$SELECT p.stage, p.position, p.opportunity_count, p.amount, p.weighted_amount
  FROM crm.pipeline_summary() p
 ORDER BY p.position, p.stage$q$,
bench.pipeline_bare_sql(),
$q$string_agg(concat_ws(':', x.stage, x.opportunity_count, round(x.amount, 2), round(x.weighted_amount, 2)), ' ' ORDER BY x.position)$q$),

-- i. The sales dashboard in one statement: pipeline by stage, forecast of
-- the current quarter, this week's activities per owner, open cases by the
-- worst state of their SLA targets, the 10 hottest leads.
('i', 'i. sales dashboard (pipeline, forecast, week''s activities, cases by SLA state, hottest leads)', 20, 'once',
$q$SELECT jsonb_build_object(
	'pipeline', (SELECT jsonb_agg(jsonb_build_object('stage', p.stage, 'count', p.opportunity_count, 'amount', p.amount,
												  'weighted', p.weighted_amount) ORDER BY p.position)
				   FROM crm.pipeline_summary() p),
	'forecast', (SELECT to_jsonb(f) FROM crm.forecast(date_trunc('quarter', current_date)::date,
													  (date_trunc('quarter', current_date) + interval '3 months - 1 day')::date) f),
	'activities_this_week', (SELECT jsonb_object_agg(u.id, w.n ORDER BY u.id)
							   FROM crm.app_user u
							  CROSS JOIN LATERAL (SELECT count(*) AS n FROM crm.activity v
												   WHERE v.organization_id = u.organization_id AND v.owner_id = u.id AND v.deleted_at IS NULL
													 AND v.activity_at >= timestamptz '2024-12-25 00:00+00' AND v.activity_at < timestamptz '2025-01-01 00:00+00') w
							  WHERE w.n > 0),
	'open_cases_by_sla', (SELECT jsonb_object_agg(x.state, x.n ORDER BY x.state)
							FROM (SELECT ('{breached,at_risk,paused,on_track,achieved}'::text[])[k.worst] AS state, count(*) AS n
									FROM (SELECT min(array_position('{breached,at_risk,paused,on_track,achieved}'::text[], v.state)) AS worst
											FROM crm.case k
											JOIN crm.v_case_sla v ON v.organization_id = k.organization_id AND v.case_id = k.id
										   WHERE k.status NOT IN ('resolved', 'closed') AND k.deleted_at IS NULL
										   GROUP BY k.id) k
								   GROUP BY 1) x),
	'hottest_leads', (SELECT jsonb_agg(jsonb_build_object('id', l.id, 'name', concat_ws(' ', l.first_name, l.last_name),
													   'company', l.company, 'status', l.status, 'score', h.lead_score)
									   ORDER BY h.engagement_ref DESC)
						FROM (SELECT * FROM crm.hottest_leads(10) LIMIT 10) h -- (LIMIT: the planner's row estimate)
						JOIN crm.lead l ON l.id = h.lead_id))$q$,
$q$SELECT jsonb_build_object(
	'pipeline', (SELECT jsonb_agg(jsonb_build_object('stage', p.stage, 'count', p.opportunity_count, 'amount', p.amount,
												  'weighted', p.weighted_amount) ORDER BY p.position)
				   FROM ($q$ || bench.pipeline_bare_sql() || $q$) p),
	'forecast', (SELECT jsonb_build_object(
						'closed_won', coalesce(sum(o.amount) FILTER (WHERE o.forecast_category = 'closed'), 0),
						'commit', coalesce(sum(o.amount) FILTER (WHERE o.forecast_category = 'commit'), 0),
						'best_case', coalesce(sum(o.amount) FILTER (WHERE o.forecast_category = 'best_case'), 0),
						'pipeline', coalesce(sum(o.amount) FILTER (WHERE o.forecast_category = 'pipeline'), 0),
						'weighted', coalesce(sum(o.expected_revenue) FILTER (WHERE o.forecast_category IN ('commit', 'best_case', 'pipeline')), 0))
				   FROM bare.opportunity o
				  WHERE o.organization_id = {org} AND o.deleted_at IS NULL
					AND o.close_date BETWEEN date_trunc('quarter', current_date)::date
										 AND (date_trunc('quarter', current_date) + interval '3 months - 1 day')::date),
	'activities_this_week', (SELECT jsonb_object_agg(u.id, w.n ORDER BY u.id)
							   FROM bare.app_user u
							  CROSS JOIN LATERAL (SELECT count(*) AS n FROM bare.activity v
												   WHERE v.organization_id = u.organization_id AND v.owner_id = u.id AND v.deleted_at IS NULL
													 AND v.activity_at >= timestamptz '2024-12-25 00:00+00' AND v.activity_at < timestamptz '2025-01-01 00:00+00') w
							  WHERE u.organization_id = {org} AND w.n > 0),
	'open_cases_by_sla', (SELECT jsonb_object_agg(x.state, x.n ORDER BY x.state)
							FROM (SELECT ('{breached,at_risk,paused,on_track,achieved}'::text[])[k.worst] AS state, count(*) AS n
									FROM (SELECT min(CASE WHEN v.achieved_at IS NOT NULL THEN 5
														  WHEN v.breached_at IS NOT NULL OR v.due_at <= now() AND v.paused_since IS NULL THEN 1
														  WHEN v.paused_since IS NOT NULL THEN 3
														  WHEN v.warned_at IS NOT NULL OR v.warn_at <= now() THEN 2
														  ELSE 4 END) AS worst
											FROM bare.case k
											JOIN bare.case_sla v ON v.organization_id = k.organization_id AND v.case_id = k.id
										   WHERE k.organization_id = {org} AND k.status NOT IN ('resolved', 'closed') AND k.deleted_at IS NULL
										   GROUP BY k.id) k
								   GROUP BY 1) x),
	'hottest_leads', (SELECT jsonb_agg(jsonb_build_object('id', l.id, 'name', concat_ws(' ', l.first_name, l.last_name),
													   'company', l.company, 'status', l.status, 'score', h.lead_score)
									   ORDER BY h.engagement_ref DESC)
						FROM (SELECT s.lead_id, s.engagement_ref, s.lead_score FROM bare.score s
							   WHERE s.organization_id = {org} AND s.lead_id IS NOT NULL
							   ORDER BY s.engagement_ref DESC LIMIT 10) h
						JOIN bare.lead l ON l.organization_id = {org} AND l.id = h.lead_id))$q$,
NULL),

-- j. The report: won revenue and activity counts per month and owner over
-- the data's two years.  crm reads won revenue from its roll-up (close
-- month x owner x forecast category; the won stage's category is closed);
-- activities are counted from crm.activity on both sides.
('j', 'j. report (won revenue, activities per month and owner, 2 years)', 200, 'once',
$q$SELECT month, owner_id, coalesce(w.won_revenue, 0) AS won_revenue, coalesce(w.won_deals, 0) AS won_deals,
	   coalesce(a.activities, 0) AS activities
  FROM (SELECT r.close_month AS month, r.owner_id, sum(r.amount) AS won_revenue, sum(r.opportunity_count) AS won_deals
		  FROM crm.pipeline_rollup r
		 WHERE r.forecast_category = 'closed' AND r.close_month >= date '2023-01-01' AND r.close_month < date '2025-01-01'
		 GROUP BY 1, 2 HAVING sum(r.opportunity_count) <> 0) w
  FULL JOIN (SELECT date_trunc('month', v.activity_at AT TIME ZONE 'UTC')::date AS month, v.owner_id, count(*) AS activities
			   FROM crm.activity v
			  WHERE v.deleted_at IS NULL
				AND v.activity_at >= timestamptz '2023-01-01 00:00+00' AND v.activity_at < timestamptz '2025-01-01 00:00+00'
			  GROUP BY 1, 2) a USING (month, owner_id)
 ORDER BY 1, 2$q$,
$q$SELECT month, owner_id, coalesce(w.won_revenue, 0) AS won_revenue, coalesce(w.won_deals, 0) AS won_deals,
	   coalesce(a.activities, 0) AS activities
  FROM (SELECT date_trunc('month', o.close_date)::date AS month, o.owner_id, sum(o.amount) AS won_revenue, count(*) AS won_deals
		  FROM bare.opportunity o
		 WHERE o.organization_id = {org} AND o.deleted_at IS NULL AND o.is_won
		   AND o.close_date >= date '2023-01-01' AND o.close_date < date '2025-01-01'
		 GROUP BY 1, 2) w
  FULL JOIN (SELECT date_trunc('month', v.activity_at AT TIME ZONE 'UTC')::date AS month, v.owner_id, count(*) AS activities
			   FROM bare.activity v
			  WHERE v.organization_id = {org} AND v.deleted_at IS NULL
				AND v.activity_at >= timestamptz '2023-01-01 00:00+00' AND v.activity_at < timestamptz '2025-01-01 00:00+00'
			  GROUP BY 1, 2) a USING (month, owner_id)
 ORDER BY 1, 2$q$,
$q$concat_ws(':', count(*), sum(x.won_revenue), sum(x.won_deals), sum(x.activities))$q$);


-- The parameter sets of tenant t, picked deterministically from its records
-- (tenant 0: the big one, tenant 1: the tenth).
CREATE FUNCTION bench.make_params(t integer) RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
	tn bench.tenant;
BEGIN
	SELECT * INTO tn FROM bench.tenant WHERE bench.tenant.t = make_params.t;
	DELETE FROM bench.param p WHERE p.t = make_params.t;
	INSERT INTO bench.param (t, name, vals)
	SELECT make_params.t, 'owners', array_agg(bench.user_id(make_params.t, u)::text ORDER BY u) FROM generate_series(1, 50) u;
	-- the queries without a parameter (h, i, j) run 50 times per pass too
	INSERT INTO bench.param (t, name, vals) VALUES (make_params.t, 'once', array_fill(''::text, ARRAY[50]));
	CREATE TEMP TABLE sample ON COMMIT DROP AS
	SELECT c.* FROM generate_series(1, 100) i
	  JOIN crm.contact c ON c.organization_id = tn.org AND c.id = bench.gid(make_params.t, 2, 1 + (i * 104729) % tn.contacts, tn.contacts)
	 WHERE c.deleted_at IS NULL AND c.account_id IS NOT NULL
	 ORDER BY i LIMIT 50;
	INSERT INTO bench.param (t, name, vals) SELECT make_params.t, 'contacts', array_agg(id::text) FROM sample;
	INSERT INTO bench.param (t, name, vals) SELECT make_params.t, 'emails', array_agg(email) FROM sample;
	INSERT INTO bench.param (t, name, vals) SELECT make_params.t, 'full_names', array_agg(first_name || ' ' || last_name) FROM sample;
	INSERT INTO bench.param (t, name, vals) SELECT make_params.t, 'search_terms', array_agg(lower(first_name || ' ' || left(last_name, 4))) FROM sample;
	DROP TABLE sample;
END;
$$;
