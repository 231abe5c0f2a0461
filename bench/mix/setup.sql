-- bench/mix/setup.sql — the data and configuration the OLTP mix needs beyond
-- bench.generate()'s tables, for tenant 0 (psql variables: nopp =
-- opportunities, role = the application role).  Run as the superuser after
-- the tenant is loaded; when schema bare exists (the benchmark), the bare
-- copies of the tables written here get the same rows (and of the pipeline,
-- its stages and the scores, which the reads of bench/run.sh use).  The
-- tenant-generic parts are functions of bench/sql/15_wave.sql, which
-- bench/run.sh also calls for tenant 1.  A feature that adds a transaction
-- to mix.conf adds its data here.
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

-- Deals: nopp in the first open stage, through crm.opportunity with all its
-- triggers (bench.wave_open_deals, bench/sql/15_wave.sql).
SELECT bench.wave_open_deals(0, :nopp);

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
SELECT bench.wave_events(0);

-- ---------------------------------------------------------------------------
-- SLA: office hours in Berlin with a lunch break and holidays; urgent cases
-- on the default 24x7 calendar.
-- ---------------------------------------------------------------------------
SELECT bench.wave_sla(0);

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
-- In transactions of 2,000 cases: the gap-free case counter is one row per
-- tenant, and every increment in a transaction leaves a row version that
-- only the transaction's end lets go; the next increment walks past them
-- (doc/sla.md, "Numbers") -- 50,000 cases in one statement took over 20
-- minutes.
SELECT format('SELECT bench.wave_cases(0, %s, %s)', lo, lo + 1999)
  FROM generate_series(1, greatest(:mix_n / 20, 10), 2000) lo \gexec

-- ---------------------------------------------------------------------------
-- Dynamic marketing lists, kept current per changed row by crm's trigger.
-- Contact lists read what update_contact changes (title, nps) -- so its
-- updates make people join and leave -- and some other fields; lead lists
-- read what routing (priority, tags) and scoring (status) set.
-- ---------------------------------------------------------------------------
SELECT bench.wave_lists(0);

RESET crm.organization_id;

-- The baseline's copies of the tables the mix writes beyond bench.entities()
-- (bench.make_bare), with tenant 0's rows; case numbers from a sequence.
SELECT to_regnamespace('bare') IS NOT NULL AS mix_bare \gset
\if :mix_bare
SELECT bench.make_bare('{pipeline,pipeline_stage,opportunity,engagement_event,case,case_comment,case_sla,marketing_list,marketing_list_member,score}', :'mix_org');
CREATE SEQUENCE bare.case_number_seq;
SELECT setval('bare.case_number_seq', (SELECT max(number) FROM bare.case WHERE organization_id = :'mix_org'));
GRANT SELECT, INSERT, UPDATE ON bare.opportunity, bare.engagement_event, bare.case, bare.case_comment, bare.case_sla,
	  bare.marketing_list, bare.marketing_list_member TO :"role";
GRANT USAGE ON SEQUENCE bare.case_number_seq TO :"role";
GRANT SELECT ON bare.pipeline, bare.pipeline_stage, bare.score TO :"role";
\endif
GRANT SELECT ON bench.mix_stage, bench.mix_setup, bench.mix_sla TO :"role";
