-- crm 0.1.0 -> 0.2.0: the changes since the release of 0.1.0, in the order they
-- were made (each later change appends its DDL here, and the same change
-- goes into sql/*.sql for fresh installs; test/scripts/upgrade.sh checks
-- that both give the same catalog and that the data stays as it was).
\echo Use "ALTER EXTENSION crm UPDATE TO '0.2.0'" to load this file. \quit

-- Email events feed engagement scoring: an open, a click or an unsubscribe is
-- also an engagement event of the recipient (issue 13).
CREATE OR REPLACE FUNCTION crm.trg_email_event() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	msg crm.email_message;
	target text;
	cur_order integer;
	new_order integer;
	etype text;
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_email_event()', TG_NAME, TG_RELID, TG_ARGV, '{email_event}');
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN NULL;
	END IF;
	SELECT * INTO msg FROM crm.email_message m
	 WHERE m.organization_id = NEW.organization_id AND m.id = NEW.email_message_id;
	-- the message's delivery status
	IF NEW.event_type IN ('delivered', 'bounced') THEN
		UPDATE crm.email_message m SET status = NEW.event_type
		 WHERE m.organization_id = NEW.organization_id AND m.id = msg.id AND m.status <> NEW.event_type;
	END IF;
	-- consent: an unsubscribe, a complaint or a hard bounce stops marketing email
	IF msg.contact_id IS NOT NULL
	   AND (NEW.event_type IN ('unsubscribed', 'complained') OR (NEW.event_type = 'bounced' AND NEW.bounce_type = 'hard')) THEN
		UPDATE crm.contact c
		   SET do_not_email = true,
			   unsubscribed_at = CASE WHEN NEW.event_type = 'bounced' THEN c.unsubscribed_at
									  ELSE coalesce(c.unsubscribed_at, NEW.occurred_at) END
		 WHERE c.organization_id = NEW.organization_id AND c.id = msg.contact_id
		   AND (NOT c.do_not_email OR (NEW.event_type <> 'bounced' AND c.unsubscribed_at IS NULL));
	END IF;
	-- the campaign member status moves forward only (opened after clicked
	-- leaves clicked); a recipient who is not a member yet becomes one
	target := CASE NEW.event_type WHEN 'delivered' THEN 'sent' WHEN 'opened' THEN 'opened'
								  WHEN 'clicked' THEN 'clicked' WHEN 'unsubscribed' THEN 'responded' END;
	IF msg.campaign_id IS NOT NULL AND target IS NOT NULL THEN
		SELECT s.sort_order INTO new_order FROM crm.campaign_member_status s
		 WHERE s.organization_id = NEW.organization_id AND s.campaign_id = msg.campaign_id AND s.status = target;
		IF new_order IS NOT NULL THEN
			SELECT s.sort_order INTO cur_order
			  FROM crm.campaign_member m
			  JOIN crm.campaign_member_status s
				ON s.organization_id = m.organization_id AND s.campaign_id = m.campaign_id AND s.status = m.status
			 WHERE m.organization_id = NEW.organization_id AND m.campaign_id = msg.campaign_id
			   AND m.member_id = coalesce(msg.contact_id, msg.lead_id)
			   FOR UPDATE OF m;
			IF NOT FOUND THEN
				INSERT INTO crm.campaign_member (organization_id, campaign_id, contact_id, lead_id, status)
				VALUES (NEW.organization_id, msg.campaign_id, msg.contact_id, msg.lead_id, target)
				ON CONFLICT (organization_id, campaign_id, member_id) DO NOTHING;
			ELSIF cur_order < new_order THEN
				UPDATE crm.campaign_member m SET status = target
				 WHERE m.organization_id = NEW.organization_id AND m.campaign_id = msg.campaign_id
				   AND m.member_id = coalesce(msg.contact_id, msg.lead_id);
			END IF;
		END IF;
	END IF;
	-- engagement scoring: an open, a click or an unsubscribe is also an
	-- engagement event of the recipient (email_open, email_click,
	-- unsubscribe), scored by the tenant's model in this transaction -- when
	-- the tenant still has that type (it may have removed it: then the email
	-- event is not refused for it)
	etype := CASE NEW.event_type WHEN 'opened' THEN 'email_open' WHEN 'clicked' THEN 'email_click'
								 WHEN 'unsubscribed' THEN 'unsubscribe' END;
	IF etype IS NOT NULL AND EXISTS (SELECT 1 FROM crm.engagement_event_type t
									  WHERE t.organization_id = NEW.organization_id AND t.name = etype) THEN
		INSERT INTO crm.engagement_event (organization_id, lead_id, contact_id, event_type, occurred_at, properties, source, url)
		VALUES (NEW.organization_id, msg.lead_id, msg.contact_id, etype, NEW.occurred_at,
				jsonb_strip_nulls(jsonb_build_object('email_message_id', msg.id, 'email_event_id', NEW.id,
													 'campaign_id', msg.campaign_id, 'template', msg.template_name)),
				'email', NEW.url);
	END IF;
	PERFORM crm.emit('email.' || NEW.event_type, CASE WHEN msg.contact_id IS NOT NULL THEN 'contact' ELSE 'lead' END,
					 coalesce(msg.contact_id, msg.lead_id),
					 jsonb_build_object('email_message_id', msg.id, 'campaign_id', msg.campaign_id, 'url', NEW.url),
					 NEW.organization_id);
	RETURN NULL;
END;
$$;
COMMENT ON FUNCTION crm.trg_email_event() IS
	'AFTER INSERT row trigger on crm.email_event: message status, campaign member status (forward only), consent of the contact on unsubscribe/complaint/hard bounce, an engagement event (email_open, email_click, unsubscribe) for scoring, and an email.<event> event.';

-- The folded per-stage roll-up (crm.pipeline_stage_rollup): reports over
-- all owners read it plus the slot rows not folded yet, O(stages x months)
-- whatever the number of owners (issue 14, figure h).

CREATE INDEX pipeline_rollup_unfolded_idx ON crm.pipeline_rollup (organization_id, pipeline_id) WHERE slot <> 0;
CREATE TABLE crm.pipeline_stage_rollup (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	pipeline_id	uuid NOT NULL,
	stage_id	uuid NOT NULL,
	close_month	date,
	forecast_category text NOT NULL,
	currency	char(3) NOT NULL,
	opportunity_count bigint NOT NULL,
	amount		numeric NOT NULL,
	expected_revenue numeric NOT NULL,
	CONSTRAINT pipeline_stage_rollup_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT pipeline_stage_rollup_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT pipeline_stage_rollup_key UNIQUE NULLS NOT DISTINCT
		(organization_id, pipeline_id, stage_id, close_month, forecast_category, currency)
);
COMMENT ON TABLE crm.pipeline_stage_rollup IS 'The folded part of crm.pipeline_rollup summed over owners (per pipeline, stage, close month, forecast category and currency), written by crm.fold_pipeline_rollup only; reports over all owners read it plus the slot rows not folded yet.';
COMMENT ON COLUMN crm.pipeline_stage_rollup.pipeline_id IS 'The pipeline.';
COMMENT ON COLUMN crm.pipeline_stage_rollup.stage_id IS 'The stage.';
COMMENT ON COLUMN crm.pipeline_stage_rollup.close_month IS 'First day of the close date''s month (NULL: no close date).';
COMMENT ON COLUMN crm.pipeline_stage_rollup.forecast_category IS 'The opportunities'' forecast category.';
COMMENT ON COLUMN crm.pipeline_stage_rollup.currency IS 'Currency of amount and expected_revenue.';
COMMENT ON COLUMN crm.pipeline_stage_rollup.opportunity_count IS 'Number of opportunities (folded share).';
COMMENT ON COLUMN crm.pipeline_stage_rollup.amount IS 'Sum of amount (folded share).';
COMMENT ON COLUMN crm.pipeline_stage_rollup.expected_revenue IS 'Sum of expected_revenue (folded share).';
SELECT crm._setup_tenant_table('crm.pipeline_stage_rollup', audited => false, label => 'pipeline stage roll-up row');

-- what the roll-up has folded so far, summed over owners
INSERT INTO crm.pipeline_stage_rollup (organization_id, pipeline_id, stage_id, close_month, forecast_category, currency,
									   opportunity_count, amount, expected_revenue)
SELECT r.organization_id, r.pipeline_id, r.stage_id, r.close_month, r.forecast_category, r.currency,
	   sum(r.opportunity_count), sum(r.amount), sum(r.expected_revenue)
  FROM crm.pipeline_rollup r
 WHERE r.slot = 0
 GROUP BY 1, 2, 3, 4, 5, 6;

CREATE OR REPLACE FUNCTION crm._rollup_cells(org uuid, pipeline uuid, owners uuid[], month_from date, month_to date)
RETURNS TABLE (stage_id uuid, close_month date, forecast_category text, currency char(3),
			   n bigint, amount numeric, weighted numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	IF owners IS NULL THEN
		RETURN QUERY
		SELECT f.stage_id, f.close_month, f.forecast_category, f.currency, f.opportunity_count, f.amount, f.expected_revenue
		  FROM crm.pipeline_stage_rollup f
		 WHERE f.organization_id = org AND (pipeline IS NULL OR f.pipeline_id = pipeline)
		   AND (month_from IS NULL OR f.close_month >= month_from) AND (month_to IS NULL OR f.close_month <= month_to)
		UNION ALL
		SELECT u.stage_id, u.close_month, u.forecast_category, u.currency, u.opportunity_count, u.amount, u.expected_revenue
		  FROM crm.pipeline_rollup u
		 WHERE u.organization_id = org AND u.slot <> 0 AND (pipeline IS NULL OR u.pipeline_id = pipeline)
		   AND (month_from IS NULL OR u.close_month >= month_from) AND (month_to IS NULL OR u.close_month <= month_to);
	ELSE
		RETURN QUERY
		SELECT u.stage_id, u.close_month, u.forecast_category, u.currency, u.opportunity_count, u.amount, u.expected_revenue
		  FROM crm.pipeline_rollup u
		 WHERE u.organization_id = org AND u.owner_id = ANY (owners) AND (pipeline IS NULL OR u.pipeline_id = pipeline)
		   AND (month_from IS NULL OR u.close_month >= month_from) AND (month_to IS NULL OR u.close_month <= month_to);
	END IF;
END;
$$;
COMMENT ON FUNCTION crm._rollup_cells(uuid, uuid, uuid[], date, date) IS
	'Internal: the roll-up rows a report sums -- for all owners the folded per-stage rows (crm.pipeline_stage_rollup) plus the slot rows not folded yet, for given owners their buckets of crm.pipeline_rollup.';

CREATE OR REPLACE FUNCTION crm.pipeline_summary(pipeline uuid DEFAULT NULL, owner uuid DEFAULT NULL,
									 close_from date DEFAULT NULL, close_to date DEFAULT NULL)
RETURNS TABLE (stage_id uuid, stage text, "position" integer, currency char(3),
			   opportunity_count bigint, amount numeric, weighted_amount numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
	p uuid;
	corp char(3);
BEGIN
	IF close_from > close_to THEN
		RAISE EXCEPTION 'close_from (%) is after close_to (%)', close_from, close_to
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	p := crm._report_pipeline(org, pipeline);
	SELECT o.default_currency INTO corp FROM crm.organization o WHERE o.id = org;
	RETURN QUERY SELECT * FROM crm._per_stage(org, p, ARRAY(
		SELECT ROW(f.key::uuid, corp, f.n, f.amount, f.weighted)::crm._stage_cell
		  FROM crm._fx(org, ARRAY(
				-- the corporate currency needs no rate: one cell per stage
				SELECT ROW(u.stage_id::text, u.currency, CASE WHEN u.currency <> corp THEN u.close_month END,
						   sum(u.n), sum(u.amount), sum(u.weighted))::crm._fx_cell
				  FROM crm._rollup_cells(org, p, CASE WHEN owner IS NOT NULL THEN ARRAY[owner] END,
										 date_trunc('month', close_from)::date, close_to) u
				 GROUP BY u.stage_id, u.currency, CASE WHEN u.currency <> corp THEN u.close_month END
				HAVING sum(u.n) <> 0)) f));
END;
$$;
COMMENT ON FUNCTION crm.pipeline_summary(uuid, uuid, date, date) IS
	'Weighted pipeline per stage (count, amount, expected revenue) of live opportunities in the corporate currency (rate in force on the first day of each close month; P0002 when one is missing), read from crm.pipeline_rollup only. Filters: pipeline (default: the default pipeline), owner, close months overlapping close_from..close_to.';

CREATE OR REPLACE FUNCTION crm.pipeline_summary_by_currency(pipeline uuid DEFAULT NULL, owner uuid DEFAULT NULL,
												 close_from date DEFAULT NULL, close_to date DEFAULT NULL)
RETURNS TABLE (stage_id uuid, stage text, "position" integer, currency char(3),
			   opportunity_count bigint, amount numeric, weighted_amount numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
	p uuid;
BEGIN
	IF close_from > close_to THEN
		RAISE EXCEPTION 'close_from (%) is after close_to (%)', close_from, close_to
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	p := crm._report_pipeline(org, pipeline);
	RETURN QUERY SELECT * FROM crm._per_stage(org, p, ARRAY(
		SELECT ROW(u.stage_id, u.currency, sum(u.n), sum(u.amount), sum(u.weighted))::crm._stage_cell
		  FROM crm._rollup_cells(org, p, CASE WHEN owner IS NOT NULL THEN ARRAY[owner] END,
								 date_trunc('month', close_from)::date, close_to) u
		 GROUP BY u.stage_id, u.currency
		HAVING sum(u.n) <> 0));
END;
$$;
COMMENT ON FUNCTION crm.pipeline_summary_by_currency(uuid, uuid, date, date) IS
	'As crm.pipeline_summary, one row per stage and currency in that currency (no conversion), read from crm.pipeline_rollup only.';

CREATE OR REPLACE FUNCTION crm.fold_pipeline_rollup() RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	-- the calling role's organization and limits (inside a SECURITY
	-- DEFINER function crm.current_org() sees the owner, not a SET ROLE
	-- role); a role that cannot change opportunities does not fold
	org uuid := crm._caller_org('crm.opportunity', 'UPDATE');
	n bigint;
BEGIN
	WITH taken AS (
		DELETE FROM crm.pipeline_rollup r
		 WHERE r.organization_id = org
		   AND r.id IN (SELECT x.id FROM crm.pipeline_rollup x
						 WHERE x.organization_id = org AND x.slot <> 0
						   FOR UPDATE SKIP LOCKED)
		RETURNING r.*),
	sums AS (
		SELECT t.pipeline_id, t.stage_id, t.owner_id, t.close_month, t.forecast_category, t.currency,
			   sum(t.opportunity_count) AS n, sum(t.amount) AS amount, sum(t.expected_revenue) AS weighted
		  FROM taken t
		 GROUP BY 1, 2, 3, 4, 5, 6),
	merged AS (
		INSERT INTO crm.pipeline_rollup AS r (organization_id, pipeline_id, stage_id, owner_id, close_month,
											  forecast_category, currency, slot, opportunity_count, amount, expected_revenue)
		SELECT org, s.pipeline_id, s.stage_id, s.owner_id, s.close_month, s.forecast_category, s.currency, 0,
			   s.n, s.amount, s.weighted
		  FROM sums s
		 ORDER BY 2, 3, 4, 5, 6, 7
		ON CONFLICT ON CONSTRAINT pipeline_rollup_key DO UPDATE
			SET opportunity_count = r.opportunity_count + EXCLUDED.opportunity_count,
				amount = r.amount + EXCLUDED.amount,
				expected_revenue = r.expected_revenue + EXCLUDED.expected_revenue
		RETURNING 1),
	-- the same deltas summed over owners, in the same statement: the
	-- folded per-stage rows and the slot rows left are the whole roll-up
	-- in every snapshot
	staged AS (
		INSERT INTO crm.pipeline_stage_rollup AS r (organization_id, pipeline_id, stage_id, close_month,
													forecast_category, currency, opportunity_count, amount, expected_revenue)
		SELECT org, s.pipeline_id, s.stage_id, s.close_month, s.forecast_category, s.currency,
			   sum(s.n), sum(s.amount), sum(s.weighted)
		  FROM sums s
		 GROUP BY 2, 3, 4, 5, 6
		 ORDER BY 2, 3, 4, 5, 6
		ON CONFLICT ON CONSTRAINT pipeline_stage_rollup_key DO UPDATE
			SET opportunity_count = r.opportunity_count + EXCLUDED.opportunity_count,
				amount = r.amount + EXCLUDED.amount,
				expected_revenue = r.expected_revenue + EXCLUDED.expected_revenue
		RETURNING 1)
	SELECT count(*) INTO n FROM merged;
	-- buckets that emptied: nothing of them is left to count
	DELETE FROM crm.pipeline_rollup r
	 WHERE r.organization_id = org AND r.slot = 0 AND r.opportunity_count = 0
	   AND r.amount = 0 AND r.expected_revenue = 0;
	DELETE FROM crm.pipeline_stage_rollup r
	 WHERE r.organization_id = org AND r.opportunity_count = 0 AND r.amount = 0 AND r.expected_revenue = 0;
	RETURN n;
END;
$$;
COMMENT ON FUNCTION crm.fold_pipeline_rollup() IS
	'Folds the per-backend slot rows of the current organization''s crm.pipeline_rollup into one row per bucket (slot 0) and, summed over owners, into crm.pipeline_stage_rollup, and drops empty buckets; never waits for writers (SKIP LOCKED). Returns the buckets written.';

CREATE OR REPLACE FUNCTION crm.check_pipeline_stage_rollup()
RETURNS TABLE (entity text, id uuid, expected text, actual text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	RETURN QUERY
	WITH want AS (
		SELECT r.organization_id, r.pipeline_id, r.stage_id, r.close_month, r.forecast_category, r.currency,
			   sum(r.opportunity_count)::numeric AS n, sum(r.amount) AS amount, sum(r.expected_revenue) AS weighted
		  FROM crm.pipeline_rollup r
		 WHERE r.slot = 0
		 GROUP BY 1, 2, 3, 4, 5, 6),
	have AS (
		SELECT r.organization_id, r.pipeline_id, r.stage_id, r.close_month, r.forecast_category, r.currency,
			   r.opportunity_count::numeric AS n, r.amount, r.expected_revenue AS weighted
		  FROM crm.pipeline_stage_rollup r)
	SELECT 'pipeline_stage_rollup'::text, coalesce(w.stage_id, h.stage_id),
		   format('%s opportunities, amount %s, weighted %s', coalesce(w.n, 0), coalesce(w.amount, 0), coalesce(w.weighted, 0)),
		   format('%s opportunities, amount %s, weighted %s', coalesce(h.n, 0), coalesce(h.amount, 0), coalesce(h.weighted, 0))
			 || format(' (close month %s, %s, %s)', coalesce(coalesce(w.close_month, h.close_month)::text, 'none'),
					   coalesce(w.forecast_category, h.forecast_category), coalesce(w.currency, h.currency))
	  FROM want w
	  FULL JOIN have h
		ON h.organization_id = w.organization_id AND h.pipeline_id = w.pipeline_id AND h.stage_id = w.stage_id
	   AND h.close_month IS NOT DISTINCT FROM w.close_month
	   AND h.forecast_category = w.forecast_category AND h.currency = w.currency
	 WHERE (coalesce(w.n, 0), coalesce(w.amount, 0), coalesce(w.weighted, 0))
		   IS DISTINCT FROM (coalesce(h.n, 0), coalesce(h.amount, 0), coalesce(h.weighted, 0))
	 ORDER BY 2, 4;
END;
$$;
COMMENT ON FUNCTION crm.check_pipeline_stage_rollup() IS
	'crm.verify() check: rows of crm.pipeline_stage_rollup that differ from the sums over owners of the folded buckets of crm.pipeline_rollup.';

INSERT INTO crm.verify_check VALUES
	('pipeline_stage_rollup', 'crm.check_pipeline_stage_rollup()', 'The folded per-stage roll-up equals the folded buckets summed over owners.');

CREATE OR REPLACE FUNCTION crm.forecast(period_start date, period_end date, owner uuid DEFAULT NULL, team uuid DEFAULT NULL)
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

CREATE OR REPLACE FUNCTION crm.grant_access(role regrole, level text, organizations uuid[] DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	t record;
	config_tables constant text[] := ARRAY['custom_field', 'picklist_value', 'team', 'team_member', 'territory', 'app_user', 'duplicate_rule', 'criteria_tenant_field',
											  'pipeline', 'pipeline_stage', 'product', 'price_book', 'price_book_entry',
											  'exchange_rate', 'sales_quota', 'scoring_settings', 'engagement_event_type',
											  'scoring_group', 'scoring_rule', 'routing_rule', 'routing_member',
											  'business_calendar', 'sla_policy'];
	-- the settings of crm.organization a tenant admin may change (the policy
	-- organization_self limits the change to the current organization)
	org_settings constant text := 'name, default_currency, default_country, default_timezone';
	readonly_tables constant text[] := ARRAY['audit_log', 'erasure_log', 'opportunity_stage_history', 'pipeline_rollup',
											  'pipeline_stage_rollup',
											  'quote_counter', 'quote_version', 'pipeline_snapshot',
											  'score', 'score_tally', 'score_base', 'routing_decision', 'case_counter', 'case_sla'];
	-- parts of a record rather than records (no soft delete): users delete them
	user_deletable constant text[] := ARRAY['opportunity_line_item', 'quote_line_item'];
BEGIN
	IF level IS NULL OR level NOT IN ('admin', 'user', 'readonly') THEN
		RAISE EXCEPTION 'unknown access level "%"', level
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use admin, user or readonly.';
	END IF;
	IF organizations IS NOT NULL AND (cardinality(organizations) = 0 OR array_position(organizations, NULL) IS NOT NULL) THEN
		RAISE EXCEPTION 'organizations must be NULL (any) or a non-empty list of organization ids'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF organizations IS NOT NULL AND EXISTS (
		SELECT 1 FROM unnest(organizations) o
		 WHERE NOT EXISTS (SELECT 1 FROM crm.organization g WHERE g.id = o)) THEN
		RAISE EXCEPTION 'unknown organization in %', organizations
			USING ERRCODE = 'foreign_key_violation';
	END IF;

	-- Start from nothing, so that a lower level really removes rights.
	EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA crm FROM %s', role);
	EXECUTE format('GRANT USAGE ON SCHEMA crm TO %s', role);
	EXECUTE format('GRANT SELECT ON crm.organization TO %s', role);
	IF level = 'admin' THEN
		EXECUTE format('GRANT UPDATE (%s) ON crm.organization TO %s', org_settings, role);
	END IF;
	FOR t IN SELECT table_name FROM crm.table_registry ORDER BY table_name LOOP
		EXECUTE format('GRANT SELECT ON crm.%I TO %s', t.table_name, role);
		IF level = 'admin' AND t.table_name <> ALL (readonly_tables) THEN
			EXECUTE format('GRANT INSERT, UPDATE, DELETE ON crm.%I TO %s', t.table_name, role);
		ELSIF level = 'user' AND t.table_name <> ALL (config_tables || readonly_tables) THEN
			EXECUTE format('GRANT INSERT, UPDATE ON crm.%I TO %s', t.table_name, role);
			IF t.table_name = ANY (user_deletable) THEN
				EXECUTE format('GRANT DELETE ON crm.%I TO %s', t.table_name, role);
			END IF;
		END IF;
	END LOOP;
	-- The reporting views, for every level: they are security_invoker, so
	-- they read the tables above with the role's own rights and policies.
	FOR t IN SELECT c.relname AS table_name FROM pg_class c
			  WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind = 'v' ORDER BY 1 LOOP
		EXECUTE format('GRANT SELECT ON crm.%I TO %s', t.table_name, role);
	END LOOP;
	-- the criteria field catalog (views over the tables above)
	EXECUTE format('GRANT SELECT ON crm.criteria_field, crm.criteria_system_field TO %s', role);
	IF level = 'admin' AND organizations IS NULL THEN
		EXECUTE format('GRANT EXECUTE ON FUNCTION crm.create_organization(text, text) TO %s', role);
	ELSE
		EXECUTE format('REVOKE EXECUTE ON FUNCTION crm.create_organization(text, text) FROM %s', role);
	END IF;

	INSERT INTO crm.role_access AS r (role, level, organizations)
	VALUES (grant_access.role, grant_access.level, grant_access.organizations)
	ON CONFLICT ON CONSTRAINT role_access_pkey DO UPDATE
		SET level = EXCLUDED.level, organizations = EXCLUDED.organizations, granted_at = pg_catalog.now();
	PERFORM crm._reset_access_cache();
END;
$$;
COMMENT ON FUNCTION crm.grant_access(regrole, text, uuid[]) IS
	'Grants a role the privileges of a level (admin, user, readonly); with organizations, the role can act only for those (crm.current_org() refuses others).';

REVOKE EXECUTE ON FUNCTION crm._rollup_cells(uuid, uuid, uuid[], date, date), crm.check_pipeline_stage_rollup() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm._rollup_cells(uuid, uuid, uuid[], date, date), crm.check_pipeline_stage_rollup() TO PUBLIC;
-- the roles crm.grant_access set up get what it gives every level on a
-- roll-up table: SELECT (crm.role_access is left as it was)
DO $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT a.role FROM crm.role_access a ORDER BY a.role::text LOOP
		EXECUTE format('GRANT SELECT ON crm.pipeline_stage_rollup TO %s', r.role);
	END LOOP;
END;
$$;
