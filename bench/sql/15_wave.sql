-- bench/sql/15_wave.sql
-- The records of this wave's features for one tenant, beyond bench.generate()'s
-- tables, written through the crm tables with every trigger on (superuser,
-- crm.organization_id set to the tenant's organization, which each function
-- checks).  Deterministic like 10_generate.sql: record k's values are hashes
-- of (tenant, k); dates lie in the data's two years (bench.epoch() + 2 years)
-- or relative to today where the feature is about now (open deals' close
-- dates, cases, engagement events).
--
--   bench.wave_open_deals(t, n)  n deals in the first open stage (the mix's
--                                move_stage moves them)
--   bench.wave_deals(t, n)       n deals over every stage of the default
--                                pipeline: a third closed (won or lost with a
--                                lost reason) with close dates in the data's
--                                two years, the open ones closing in the next
--                                six months
--   bench.wave_events(t)         3 engagement events per live lead (scored)
--   bench.wave_sla(t)            a business calendar and three SLA policies
--   bench.wave_cases(t, lo, hi)  one case per 20 contacts (cases lo..hi of
--                                them; default all), most answered and
--                                closed (SLA targets by crm's triggers)
--   bench.wave_lists(t)          15 dynamic lists and a list of lists
--   bench.generate_wave(t, ...)  all of it for a tenant (bench/run.sh)
--
-- bench/mix/setup.sql calls the same functions for tenant 0.

-- Tenant t (its organization must be the current one).
CREATE FUNCTION bench.wave_tenant(t integer) RETURNS bench.tenant
LANGUAGE plpgsql
AS $$
DECLARE
	tn bench.tenant;
BEGIN
	SELECT * INTO tn FROM bench.tenant WHERE bench.tenant.t = wave_tenant.t;
	IF tn.org IS NULL OR tn.org IS DISTINCT FROM crm.current_org() THEN
		RAISE EXCEPTION 'bench: crm.organization_id must be tenant %''s organization (%)', t, tn.org;
	END IF;
	RETURN tn;
END;
$$;

-- Deals in the first open stage: ids bench.gid(t, 7, k, n), on every seventh
-- contact (none on a soft-deleted one: crm refuses it), owners among the 50
-- users.
CREATE FUNCTION bench.wave_open_deals(t integer, n bigint) RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
	tn bench.tenant := bench.wave_tenant(t);
BEGIN
	INSERT INTO crm.opportunity (id, name, amount, currency, owner_id, close_date, contact_id, account_id)
	SELECT bench.gid(t, 7, k, n), 'Deal ' || k, 1000 + (k * 7919) % 90000, 'USD',
		   bench.user_id(t, 1 + k % 50), date '2026-01-01' + (k % 365)::int, c.id, c.account_id
	  FROM generate_series(1, n) k
	  LEFT JOIN crm.contact c ON c.organization_id = tn.org AND c.id = bench.gid(t, 2, 1 + (k * 7) % tn.contacts, tn.contacts)
							 AND c.deleted_at IS NULL;
END;
$$;

-- Deals over every stage of the default pipeline: ids bench.gid(t, 8, k, n).
-- A third closed -- 40 % of those won, the rest lost with a lost reason --,
-- closing in the data's two years (closed_at the close date); the open ones
-- 40/25/20/15 % over the four open stages, closing in the next six months.
-- Amounts skewed (1,000-100,000), owners skewed among the 50 users, 10 % in
-- stage with a probability override, most on a contact (and its account).
CREATE FUNCTION bench.wave_deals(t integer, n bigint) RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
	tn bench.tenant := bench.wave_tenant(t);
	salt integer := t * 1000 + 900;
BEGIN
	CREATE TEMP TABLE wave_stage ON COMMIT DROP AS
	SELECT st.pipeline_id, st.id, st.position, st.is_closed, st.is_won,
		   row_number() OVER (PARTITION BY st.is_closed ORDER BY st.position) AS nth
	  FROM crm.pipeline_stage st JOIN crm.pipeline pl ON pl.organization_id = st.organization_id AND pl.id = st.pipeline_id
	 WHERE st.organization_id = tn.org AND pl.is_default;
	INSERT INTO crm.opportunity (id, name, pipeline_id, stage_id, amount, currency, owner_id, close_date, closed_at,
								 lost_reason, competitor, contact_id, account_id, type, lead_source, probability_override,
								 created_at)
	SELECT bench.gid(t, 8, k, n), 'Opportunity ' || t || '-' || k, s.pipeline_id, s.id,
		   round((1000 + 99000 * bench.rnd(k, salt + 3) ^ 3)::numeric, 2), 'USD',
		   bench.user_id(t, 1 + floor(50 * bench.rnd(k, salt + 4) ^ 1.5)::int),
		   d.close_date, CASE WHEN s.is_closed THEN d.close_date + time '15:00' END,
		   CASE WHEN s.is_closed AND NOT s.is_won
				THEN bench.pick('{Price,"No budget","Lost to competitor","No decision",Timing,"Missing feature"}', bench.rnd(k, salt + 5)) END,
		   CASE WHEN s.is_closed AND NOT s.is_won AND bench.rnd(k, salt + 6) < 0.4
				THEN bench.pick('{Globex,Initech,Umbrella,Hooli}', bench.rnd(k, salt + 7)) END,
		   c.id, c.account_id,
		   bench.pick('{new_business,new_business,upsell,renewal,cross_sell}', bench.rnd(k, salt + 8)),
		   bench.pick('{Web,Referral,Partner,Event,Outbound,Web}', bench.rnd(k, salt + 9)),
		   CASE WHEN NOT s.is_closed AND bench.rnd(k, salt + 10) < 0.1 THEN round((100 * bench.rnd(k, salt + 11))::numeric) END,
		   CASE WHEN s.is_closed THEN d.close_date - (20 + 100 * bench.rnd(k, salt + 12))::int ELSE current_date - (100 * bench.rnd(k, salt + 12))::int END
	  FROM generate_series(1, n) k
	 CROSS JOIN LATERAL (SELECT bench.rnd(k, salt + 1) < 1.0 / 3 AS closed, bench.rnd(k, salt + 2) AS r) x
	  JOIN wave_stage s ON s.is_closed = x.closed
					   AND s.nth = CASE WHEN x.closed THEN CASE WHEN x.r < 0.4 THEN 1 ELSE 2 END
										WHEN x.r < 0.40 THEN 1 WHEN x.r < 0.65 THEN 2 WHEN x.r < 0.85 THEN 3 ELSE 4 END
	 CROSS JOIN LATERAL (SELECT CASE WHEN x.closed THEN (bench.epoch() AT TIME ZONE 'UTC')::date + floor(730 * bench.rnd(k, salt + 13))::int
									 ELSE current_date + floor(183 * bench.rnd(k, salt + 13))::int END AS close_date) d
	  LEFT JOIN crm.contact c ON c.organization_id = tn.org AND bench.rnd(k, salt + 14) < 0.9
							 AND c.id = bench.gid(t, 2, 1 + (k * 11) % tn.contacts, tn.contacts) AND c.deleted_at IS NULL;
	DROP TABLE wave_stage;
END;
$$;

-- Engagement history: 3 events per live lead over the last 90 days, in one
-- statement (scored set-based by the seeded default model, which must be
-- there: fit rules on title and source, engagement rules, MQL 60, SQL 80).
CREATE FUNCTION bench.wave_events(t integer) RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
	tn bench.tenant := bench.wave_tenant(t);
BEGIN
	IF NOT EXISTS (SELECT 1 FROM crm.scoring_rule r JOIN crm.scoring_group g ON g.organization_id = r.organization_id AND g.id = r.group_id
					WHERE r.organization_id = tn.org AND g.kind = 'fit' AND r.is_active)
	   OR NOT EXISTS (SELECT 1 FROM crm.scoring_settings s WHERE s.organization_id = tn.org AND s.mql_threshold > 0) THEN
		RAISE EXCEPTION 'bench: expects the default scoring model (fit rules, thresholds) seeded by crm.create_organization';
	END IF;
	INSERT INTO crm.engagement_event (lead_id, event_type, occurred_at, properties, source, url)
	SELECT l.id, (ARRAY['page_view', 'page_view', 'email_open', 'email_click', 'pricing_viewed', 'resource_downloaded', 'webinar_attended'])
					[1 + floor(7 * bench.rnd(g * 1000003::bigint + hashtext(l.id::text), 701))::int],
		   now() - bench.rnd(g * 1000003::bigint + hashtext(l.id::text), 702) * interval '90 days', '{}', 'web',
		   'https://example.com/p/' || g
	  FROM crm.lead l, generate_series(1, 3) g
	 WHERE l.organization_id = tn.org AND l.deleted_at IS NULL;
END;
$$;

-- SLA: office hours in Berlin with a lunch break and holidays; urgent cases
-- on the default 24x7 calendar.
CREATE FUNCTION bench.wave_sla(t integer) RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
	tn bench.tenant := bench.wave_tenant(t);
	cal uuid;
BEGIN
	cal := crm.create_business_calendar('Support office hours', 'Europe/Berlin',
		'{"mon": [["08:00","12:00"],["13:00","18:00"]], "tue": [["08:00","12:00"],["13:00","18:00"]],
		  "wed": [["08:00","12:00"],["13:00","18:00"]], "thu": [["08:00","12:00"],["13:00","18:00"]],
		  "fri": [["08:00","12:00"],["13:00","16:00"]]}',
		holidays => '{2026-04-03,2026-04-06,2026-05-14,2026-05-25,2027-03-26,2027-03-29}',
		recurring_holidays => '{01-01,05-01,10-03,12-24,12-25,12-26,12-31}');
	INSERT INTO crm.sla_policy (organization_id, name, position, criteria, calendar_id, first_response_minutes, next_response_minutes, resolution_minutes) VALUES
		(tn.org, 'Urgent', 10, '{"field": "priority", "op": "eq", "value": "urgent"}', NULL, 60, 30, 480),
		(tn.org, 'High', 20, '{"field": "priority", "op": "eq", "value": "high"}', cal, 120, 120, 960),
		(tn.org, 'Standard', 30, NULL, cal, 480, 480, 2400);
END;
$$;

-- Cases: one per 20 contacts (live ones), opened over the last 60 days by
-- agents 30-39; 19 in 20 got a first answer 2 hours later; 6 in 7 were
-- closed a day after opening.  Through crm.case with every trigger (SLA
-- targets, achieved and stopped by the triggers).
CREATE FUNCTION bench.wave_cases(t integer, lo bigint DEFAULT 1, hi bigint DEFAULT NULL) RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
	tn bench.tenant := bench.wave_tenant(t);
	n bigint := greatest(tn.contacts / 20, 10);
	base bigint;
BEGIN
	-- cases lo..hi (default: all); the ones this call adds have numbers above base
	SELECT coalesce(max(k.number), 0) INTO base FROM crm.case k WHERE k.organization_id = tn.org;
	INSERT INTO crm.case (subject, description, contact_id, account_id, priority, severity, channel, assignee_id, created_at)
	SELECT 'Case ' || k, 'Something does not work as expected (' || k || ').', c.id, c.account_id,
		   (ARRAY['low', 'medium', 'medium', 'medium', 'high', 'high', 'urgent'])[1 + floor(7 * bench.rnd(k, 801))::int],
		   1 + floor(4 * bench.rnd(k, 802))::int,
		   (ARRAY['email', 'email', 'phone', 'chat', 'portal'])[1 + floor(5 * bench.rnd(k, 803))::int],
		   bench.user_id(t, 30 + k % 10),
		   now() - interval '1 day' - bench.rnd(k, 804) * interval '60 days'
	  FROM generate_series(lo, least(coalesce(hi, n), n)) k
	  JOIN crm.contact c ON c.organization_id = tn.org AND c.id = bench.gid(t, 2, 1 + (k * 13) % tn.contacts, tn.contacts)
						AND c.deleted_at IS NULL;
	INSERT INTO crm.case_comment (case_id, author_user_id, body, created_at)
	SELECT k.id, k.assignee_id, 'Thanks for reporting this; we are looking into it.', k.created_at + interval '2 hours'
	  FROM crm.case k WHERE k.organization_id = tn.org AND k.number > base AND k.number % 20 <> 0;
	UPDATE crm.case k SET status = 'closed', status_changed_at = k.created_at + interval '1 day'
	 WHERE k.organization_id = tn.org AND k.number > base AND k.number % 7 <> 0;
END;
$$;

-- Dynamic marketing lists, kept current per changed row by crm's trigger.
-- Contact lists read what the mix's update_contact changes (title, nps) and
-- some other fields; lead lists read what routing (priority, tags) and
-- scoring (status) set; one list of lists.
CREATE FUNCTION bench.wave_lists(t integer) RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
	tn bench.tenant := bench.wave_tenant(t);
BEGIN
	INSERT INTO crm.marketing_list (organization_id, name, kind, entity, criteria)
	SELECT tn.org, l.name, 'dynamic', l.entity, l.criteria::jsonb FROM (VALUES
		('Executives', 'contact', '{"field": "title", "op": "in", "value": ["CEO", "CTO", "CFO"]}'),
		('VPs and heads', 'contact', '{"any": [{"field": "title", "op": "contains", "value": "vp"},
											   {"field": "title", "op": "starts_with", "value": "head of"},
											   {"field": "title", "op": "starts_with", "value": "director"}]}'),
		('Technical', 'contact', '{"field": "title", "op": "in", "value": ["CTO", "Engineer", "Head of IT"]}'),
		('Buyers', 'contact', '{"field": "title", "op": "contains", "value": "buyer"}'),
		('Promoters', 'contact', '{"field": "custom_fields.nps", "op": "gte", "value": 9}'),
		('Detractors', 'contact', '{"field": "custom_fields.nps", "op": "lte", "value": 6}'),
		('Passives', 'contact', '{"field": "custom_fields.nps", "op": "between", "value": [7, 8]}'),
		('Enterprise decision makers', 'contact', '{"all": [{"field": "custom_fields.segment", "op": "eq", "value": "enterprise"},
															{"field": "title", "op": "in", "value": ["CEO", "CTO", "CFO", "VP Sales", "Senior Buyer"]}]}'),
		('Newsletter promoters', 'contact', '{"all": [{"field": "custom_fields.newsletter", "op": "eq", "value": true},
													  {"field": "custom_fields.nps", "op": "gte", "value": 9}]}'),
		('Software executives', 'contact', '{"all": [{"field": "account.industry", "op": "eq", "value": "Software"},
													 {"field": "title", "op": "in", "value": ["CEO", "CTO", "CFO"]}]}'),
		('Enterprise leads', 'lead', '{"field": "employee_count", "op": "gte", "value": 1000}'),
		('DACH leads', 'lead', '{"field": "tags", "op": "has_any", "value": ["dach"]}'),
		('High priority leads', 'lead', '{"field": "priority", "op": "in", "value": ["high", "urgent"]}'),
		('Qualified leads', 'lead', '{"field": "status", "op": "eq", "value": "qualified"}')) l(name, entity, criteria);
	-- a list of lists: executives who are promoters (stored membership of both)
	INSERT INTO crm.marketing_list (organization_id, name, kind, entity, criteria, member_of)
	SELECT tn.org, 'Executive promoters', 'dynamic', 'contact', '{"field": "last_name", "op": "is_not_null"}',
		   ARRAY(SELECT id FROM crm.marketing_list WHERE organization_id = tn.org AND name IN ('Executives', 'Promoters') ORDER BY name);
	PERFORM crm.refresh_lists();
END;
$$;

-- Everything above for tenant t (not tenant 0, whose mix setup writes the
-- open deals, events, SLA configuration, cases and lists itself): the
-- spread deals (contacts / 10) and, with mix_shapes, what bench/mix/setup.sql
-- gives tenant 0 (open_deals first-stage deals, events, SLA, cases, lists),
-- so that the tenant has tenant 0's proportions.
CREATE FUNCTION bench.generate_wave(t integer, mix_shapes boolean, open_deals bigint DEFAULT 0) RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
	tn bench.tenant;
BEGIN
	SELECT * INTO tn FROM bench.tenant WHERE bench.tenant.t = generate_wave.t;
	PERFORM set_config('crm.organization_id', tn.org::text, true);
	PERFORM bench.wave_deals(t, greatest(tn.contacts / 10, 10));
	IF mix_shapes THEN
		PERFORM bench.wave_open_deals(t, open_deals);
		PERFORM bench.wave_events(t);
		PERFORM bench.wave_sla(t);
		PERFORM bench.wave_cases(t);
		PERFORM bench.wave_lists(t);
	END IF;
END;
$$;
