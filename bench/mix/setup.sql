-- bench/mix/setup.sql — the data and configuration the OLTP mix needs beyond
-- bench.generate()'s tables, for tenant 0 (psql variables: nopp =
-- opportunities, role = the application role).  Run as the superuser after
-- the tenant is loaded; when schema bare exists (the benchmark), the bare
-- copies of the tables written here get the same rows.  A feature that adds
-- a transaction to mix.conf adds its data here.
--
-- What tenant 0 gets, so that every crm trigger of the mix has work to do:
--   deals          nopp opportunities in the first open stage (move_stage)
--   routing        two round-robin teams of 8, a territory with an owner, a
--                  rule for a named user: every lead create_lead inserts
--                  without an owner is routed (doc/routing.md)
--   scoring        the default model crm.create_organization seeds (fit
--                  rules on title and source, engagement rules, MQL 60 and
--                  SQL 80 thresholds) and 3 engagement events per live lead
--   SLA            a business calendar (Berlin office hours, lunch break,
--                  holidays) and three policies (urgent on 24x7, high and a
--                  fallback on office hours); one case per 20 contacts,
--                  most answered and closed (open_case, view_360)
--   lists          10 dynamic contact lists over the fields update_contact
--                  changes (title, custom field nps) and 1 list of lists,
--                  4 dynamic lead lists over fields routing and scoring set

CREATE TABLE bench.mix_setup (opportunities integer NOT NULL);
INSERT INTO bench.mix_setup VALUES (:nopp);

SELECT org AS mix_org, contacts AS mix_n FROM bench.tenant WHERE t = 0 \gset
SET crm.organization_id = :'mix_org';

-- The open stages of the tenant's default pipeline, numbered 1..4 (repeated
-- when there are fewer), with what each implies (the bare side sets it).
CREATE TABLE bench.mix_stage AS
SELECT 0 AS t, p.pos, s.id AS stage_id, s.default_probability AS probability, s.forecast_category
  FROM generate_series(1, 4) p(pos)
  CROSS JOIN LATERAL (
	SELECT st.id, st.default_probability, st.forecast_category
	  FROM crm.pipeline_stage st JOIN crm.pipeline pl ON pl.organization_id = st.organization_id AND pl.id = st.pipeline_id
	 WHERE st.organization_id = :'mix_org' AND pl.is_default AND NOT st.is_closed
	 ORDER BY st.position
	OFFSET (p.pos - 1) % (SELECT count(*) FROM crm.pipeline_stage st2 JOIN crm.pipeline pl2
								ON pl2.organization_id = st2.organization_id AND pl2.id = st2.pipeline_id
						  WHERE st2.organization_id = :'mix_org' AND pl2.is_default AND NOT st2.is_closed)
	 LIMIT 1) s;

-- Deals: ids bench.gid(0, 7, k, nopp), on every seventh contact (none on a
-- soft-deleted one: crm refuses it), owners among the 50 users, in the
-- first open stage, through crm.opportunity with all its triggers.
INSERT INTO crm.opportunity (id, name, amount, currency, owner_id, close_date, contact_id, account_id)
SELECT bench.gid(0, 7, k, :nopp), 'Deal ' || k, 1000 + (k * 7919) % 90000, 'USD',
	   bench.user_id(0, 1 + k % 50), date '2026-01-01' + (k % 365)::int, c.id, c.account_id
  FROM generate_series(1, :nopp) k
  LEFT JOIN crm.contact c ON c.organization_id = :'mix_org' AND c.id = bench.gid(0, 2, 1 + (k * 7) % :mix_n, :mix_n)
						 AND c.deleted_at IS NULL;

-- ---------------------------------------------------------------------------
-- Routing (create_lead inserts its leads without an owner).  Users 2-9 and
-- 10-17 form two round-robin teams; user 20 owns territory DACH; user 21
-- gets the big companies.
-- ---------------------------------------------------------------------------
INSERT INTO crm.team (name, description) VALUES ('Inbound A', 'Software and finance leads'), ('Inbound B', 'Every other lead');
SELECT id AS team_a FROM crm.team WHERE organization_id = :'mix_org' AND name = 'Inbound A' \gset
SELECT id AS team_b FROM crm.team WHERE organization_id = :'mix_org' AND name = 'Inbound B' \gset
INSERT INTO crm.team_member (team_id, user_id)
SELECT CASE WHEN u < 10 THEN :'team_a'::uuid ELSE :'team_b'::uuid END, bench.user_id(0, u) FROM generate_series(2, 17) u;
INSERT INTO crm.territory (name, owner_id) VALUES ('DACH', bench.user_id(0, 20));
SELECT id AS dach FROM crm.territory WHERE organization_id = :'mix_org' AND name = 'DACH' \gset
INSERT INTO crm.routing_rule (name, priority, criteria, action, user_id, territory_id, team_id, set_priority, add_tags) VALUES
	('Enterprise', 10, '{"field": "employee_count", "op": "gte", "value": 1000}', 'user', bench.user_id(0, 21), NULL, NULL, 'high', '{enterprise}'),
	('DACH', 20, '{"field": "utm_source", "op": "in", "value": ["de", "at", "ch"]}', 'territory', NULL, :'dach', NULL, 'normal', '{dach}'),
	('Software and finance', 30, '{"field": "industry", "op": "in", "value": ["Software", "Finance"]}', 'round_robin', NULL, NULL, :'team_a', 'normal', '{}'),
	('Everyone else', 40, NULL, 'round_robin', NULL, NULL, :'team_b', NULL, '{}');

-- ---------------------------------------------------------------------------
-- Scoring: the seeded default model is the one in use (fit rules "Senior
-- title" and "Referral source", engagement rules with a 30-day half-life,
-- MQL 60, SQL 80).  Engagement history: 3 events per live lead over the last
-- 90 days, inserted in one statement (scored set-based).
-- ---------------------------------------------------------------------------
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM crm.scoring_rule r JOIN crm.scoring_group g ON g.organization_id = r.organization_id AND g.id = r.group_id
					WHERE r.organization_id = crm.current_org() AND g.kind = 'fit' AND r.is_active)
	   OR NOT EXISTS (SELECT 1 FROM crm.scoring_settings s WHERE s.organization_id = crm.current_org() AND s.mql_threshold > 0) THEN
		RAISE EXCEPTION 'bench/mix/setup.sql expects the default scoring model (fit rules, thresholds) seeded by crm.create_organization';
	END IF;
END;
$$;
INSERT INTO crm.engagement_event (lead_id, event_type, occurred_at, properties, source, url)
SELECT l.id, (ARRAY['page_view', 'page_view', 'email_open', 'email_click', 'pricing_viewed', 'resource_downloaded', 'webinar_attended'])
				[1 + floor(7 * bench.rnd(g * 1000003::bigint + hashtext(l.id::text), 701))::int],
	   now() - bench.rnd(g * 1000003::bigint + hashtext(l.id::text), 702) * interval '90 days', '{}', 'web',
	   'https://example.com/p/' || g
  FROM crm.lead l, generate_series(1, 3) g
 WHERE l.organization_id = :'mix_org' AND l.deleted_at IS NULL;

-- ---------------------------------------------------------------------------
-- SLA: office hours in Berlin with a lunch break and holidays; urgent cases
-- on the default 24x7 calendar.
-- ---------------------------------------------------------------------------
SELECT crm.create_business_calendar('Support office hours', 'Europe/Berlin',
	'{"mon": [["08:00","12:00"],["13:00","18:00"]], "tue": [["08:00","12:00"],["13:00","18:00"]],
	  "wed": [["08:00","12:00"],["13:00","18:00"]], "thu": [["08:00","12:00"],["13:00","18:00"]],
	  "fri": [["08:00","12:00"],["13:00","16:00"]]}',
	holidays => '{2026-04-03,2026-04-06,2026-05-14,2026-05-25,2027-03-26,2027-03-29}',
	recurring_holidays => '{01-01,05-01,10-03,12-24,12-25,12-26,12-31}') AS mix_cal \gset
INSERT INTO crm.sla_policy (name, position, criteria, calendar_id, first_response_minutes, next_response_minutes, resolution_minutes) VALUES
	('Urgent', 10, '{"field": "priority", "op": "eq", "value": "urgent"}', NULL, 60, 30, 480),
	('High', 20, '{"field": "priority", "op": "eq", "value": "high"}', :'mix_cal', 120, 120, 960),
	('Standard', 30, NULL, :'mix_cal', 480, 480, 2400);

-- Per case priority: the policy that applies and its targets (the bare
-- side of open_case writes its targets from here, as an application without
-- crm would from its own configuration).
CREATE TABLE bench.mix_sla AS
SELECT p.priority, s.id AS policy_id, coalesce(s.calendar_id, d.id) AS calendar_id,
	   s.first_response_minutes, s.next_response_minutes, s.resolution_minutes
  FROM unnest('{low,medium,high,urgent}'::text[]) p(priority)
  CROSS JOIN LATERAL (SELECT * FROM crm.sla_policy s
					   WHERE s.organization_id = :'mix_org' AND s.is_active
						 AND (s.criteria IS NULL OR s.criteria->>'value' = p.priority)
					   ORDER BY s.position LIMIT 1) s
  JOIN crm.business_calendar d ON d.organization_id = :'mix_org' AND d.is_default;

-- Cases: one per 20 contacts (live ones), opened over the last 60 days by
-- agents 30-39; 19 in 20 got a first answer 2 hours later; 6 in 7 were
-- closed a day after opening.  Through crm.case with every trigger (SLA
-- targets, achieved and stopped by the triggers).
INSERT INTO crm.case (subject, description, contact_id, account_id, priority, severity, channel, assignee_id, created_at)
SELECT 'Case ' || k, 'Something does not work as expected (' || k || ').', c.id, c.account_id,
	   (ARRAY['low', 'medium', 'medium', 'medium', 'high', 'high', 'urgent'])[1 + floor(7 * bench.rnd(k, 801))::int],
	   1 + floor(4 * bench.rnd(k, 802))::int,
	   (ARRAY['email', 'email', 'phone', 'chat', 'portal'])[1 + floor(5 * bench.rnd(k, 803))::int],
	   bench.user_id(0, 30 + k % 10),
	   now() - interval '1 day' - bench.rnd(k, 804) * interval '60 days'
  FROM generate_series(1, greatest(:mix_n / 20, 10)) k
  JOIN crm.contact c ON c.organization_id = :'mix_org' AND c.id = bench.gid(0, 2, 1 + (k * 13) % :mix_n, :mix_n)
					AND c.deleted_at IS NULL;
INSERT INTO crm.case_comment (case_id, author_user_id, body, created_at)
SELECT k.id, k.assignee_id, 'Thanks for reporting this; we are looking into it.', k.created_at + interval '2 hours'
  FROM crm.case k WHERE k.organization_id = :'mix_org' AND k.number % 20 <> 0;
UPDATE crm.case k SET status = 'closed', status_changed_at = k.created_at + interval '1 day'
 WHERE k.organization_id = :'mix_org' AND k.number % 7 <> 0;

-- ---------------------------------------------------------------------------
-- Dynamic marketing lists, kept current per changed row by crm's trigger.
-- Contact lists read what update_contact changes (title, nps) -- so its
-- updates make people join and leave -- and some other fields; lead lists
-- read what routing (priority, tags) and scoring (status) set.
-- ---------------------------------------------------------------------------
INSERT INTO crm.marketing_list (name, kind, entity, criteria) VALUES
	('Executives', 'dynamic', 'contact', '{"field": "title", "op": "in", "value": ["CEO", "CTO", "CFO"]}'),
	('VPs and heads', 'dynamic', 'contact', '{"any": [{"field": "title", "op": "contains", "value": "vp"},
													  {"field": "title", "op": "starts_with", "value": "head of"},
													  {"field": "title", "op": "starts_with", "value": "director"}]}'),
	('Technical', 'dynamic', 'contact', '{"field": "title", "op": "in", "value": ["CTO", "Engineer", "Head of IT"]}'),
	('Buyers', 'dynamic', 'contact', '{"field": "title", "op": "contains", "value": "buyer"}'),
	('Promoters', 'dynamic', 'contact', '{"field": "custom_fields.nps", "op": "gte", "value": 9}'),
	('Detractors', 'dynamic', 'contact', '{"field": "custom_fields.nps", "op": "lte", "value": 6}'),
	('Passives', 'dynamic', 'contact', '{"field": "custom_fields.nps", "op": "between", "value": [7, 8]}'),
	('Enterprise decision makers', 'dynamic', 'contact', '{"all": [{"field": "custom_fields.segment", "op": "eq", "value": "enterprise"},
																  {"field": "title", "op": "in", "value": ["CEO", "CTO", "CFO", "VP Sales", "Senior Buyer"]}]}'),
	('Newsletter promoters', 'dynamic', 'contact', '{"all": [{"field": "custom_fields.newsletter", "op": "eq", "value": true},
															{"field": "custom_fields.nps", "op": "gte", "value": 9}]}'),
	('Software executives', 'dynamic', 'contact', '{"all": [{"field": "account.industry", "op": "eq", "value": "Software"},
														   {"field": "title", "op": "in", "value": ["CEO", "CTO", "CFO"]}]}'),
	('Enterprise leads', 'dynamic', 'lead', '{"field": "employee_count", "op": "gte", "value": 1000}'),
	('DACH leads', 'dynamic', 'lead', '{"field": "tags", "op": "has_any", "value": ["dach"]}'),
	('High priority leads', 'dynamic', 'lead', '{"field": "priority", "op": "in", "value": ["high", "urgent"]}'),
	('Qualified leads', 'dynamic', 'lead', '{"field": "status", "op": "eq", "value": "qualified"}');
-- a list of lists: executives who are promoters (stored membership of both)
INSERT INTO crm.marketing_list (name, kind, entity, criteria, member_of)
SELECT 'Executive promoters', 'dynamic', 'contact', '{"field": "last_name", "op": "is_not_null"}',
	   ARRAY(SELECT id FROM crm.marketing_list WHERE organization_id = :'mix_org' AND name IN ('Executives', 'Promoters') ORDER BY name);
SELECT crm.refresh_lists();

RESET crm.organization_id;

-- The baseline's copies of the tables the mix writes beyond bench.entities()
-- (bench.make_bare), with tenant 0's rows; case numbers from a sequence.
SELECT to_regnamespace('bare') IS NOT NULL AS mix_bare \gset
\if :mix_bare
SELECT bench.make_bare('{opportunity,engagement_event,case,case_comment,case_sla,marketing_list,marketing_list_member}', :'mix_org');
CREATE SEQUENCE bare.case_number_seq;
SELECT setval('bare.case_number_seq', (SELECT max(number) FROM bare.case WHERE organization_id = :'mix_org'));
GRANT SELECT, INSERT, UPDATE ON bare.opportunity, bare.engagement_event, bare.case, bare.case_comment, bare.case_sla,
	  bare.marketing_list, bare.marketing_list_member TO :"role";
GRANT USAGE ON SEQUENCE bare.case_number_seq TO :"role";
\endif
GRANT SELECT ON bench.mix_stage, bench.mix_setup, bench.mix_sla TO :"role";
