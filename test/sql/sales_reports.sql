-- Sales reports (doc/sales.md, "Currencies" and "Reports"): exchange rates
-- to the corporate currency, pipeline_summary converted, forecast with
-- quotas, win rates, stage velocity from the history, daily snapshots, the
-- reporting views, and what another tenant's readonly role sees.  Every
-- figure below is computed by hand in the comments.
\set VERBOSITY terse
SET client_min_messages = warning;

SELECT crm.create_organization('Reports Org') AS org \gset
SELECT crm.create_organization('Other Reports Org') AS other \gset
DROP ROLE IF EXISTS crm_reports_admin;
DROP ROLE IF EXISTS crm_reports_rep;
DROP ROLE IF EXISTS crm_reports_reader;
CREATE ROLE crm_reports_admin;
CREATE ROLE crm_reports_rep;
CREATE ROLE crm_reports_reader;
SELECT crm.grant_access('crm_reports_admin', 'admin');
SELECT crm.grant_access('crm_reports_rep', 'user');
-- a readonly role of the other tenant only
SELECT crm.grant_access('crm_reports_reader', 'readonly', ARRAY[:'other']::uuid[]);
SET ROLE crm_reports_admin;
SET crm.organization_id = :'org';
SELECT default_currency AS corporate FROM crm.organization WHERE id = :'org';
INSERT INTO crm.app_user (name, email) VALUES ('Rita', 'rita@reports.example') RETURNING id AS rita \gset
INSERT INTO crm.app_user (name, email) VALUES ('Sam', 'sam@reports.example') RETURNING id AS sam \gset
INSERT INTO crm.team (name) VALUES ('East') RETURNING id AS east \gset
INSERT INTO crm.team_member (team_id, user_id) VALUES (:'east', :'rita');
SELECT id AS prospecting FROM crm.pipeline_stage WHERE name = 'Prospecting' \gset
SELECT id AS proposal FROM crm.pipeline_stage WHERE name = 'Proposal' \gset
SELECT id AS negotiation FROM crm.pipeline_stage WHERE name = 'Negotiation' \gset
SELECT id AS won FROM crm.pipeline_stage WHERE name = 'Closed Won' \gset
SELECT id AS lost FROM crm.pipeline_stage WHERE name = 'Closed Lost' \gset

-- Seven deals in USD (corporate) and EUR over three close months.
--   A 1000 USD Rita Jan Proposal (50 %, best_case)   B 2000 EUR Rita Jan Proposal
--   C  500 EUR Sam  Feb Negotiation (80 %, commit)   D  300 USD Sam  Feb won
--   E  400 EUR Rita Jan lost                         F  100 EUR Sam  Mar Prospecting (10 %, pipeline)
--   G  250 USD Rita Mar won
INSERT INTO crm.opportunity (name, amount, currency, owner_id, close_date, stage_id, lead_source, type, lost_reason) VALUES
	('A', 1000, 'USD', :'rita', '2027-01-15', :'proposal', 'web', 'new_business', NULL),
	('B', 2000, 'EUR', :'rita', '2027-01-20', :'proposal', 'web', 'upsell', NULL),
	('C', 500, 'EUR', :'sam', '2027-02-03', :'negotiation', 'event', 'new_business', NULL),
	('D', 300, 'USD', :'sam', '2027-02-10', :'won', 'event', 'new_business', NULL),
	('E', 400, 'EUR', :'rita', '2027-01-05', :'lost', 'web', 'upsell', 'price'),
	('F', 100, 'EUR', :'sam', '2027-03-31', :'prospecting', 'referral', NULL, NULL),
	('G', 250, 'USD', :'rita', '2027-03-02', :'won', 'referral', 'renewal', NULL);

-- Without an EUR rate the converted summary refuses (naming the currency
-- and the day whose rate it needs); the per-currency one needs no rate.
SELECT * FROM crm.pipeline_summary();
SELECT stage, currency, opportunity_count, amount FROM crm.pipeline_summary_by_currency() WHERE opportunity_count > 0;

-- Rates: EUR 1.10 from January, 1.20 from February 1, 1.50 from February
-- 15.  A month uses the rate in force on its first day: January 1.10,
-- February 1.20 (the mid-month rate is not yet in force on the 1st),
-- March 1.50.
INSERT INTO crm.exchange_rate (currency, valid_from, rate) VALUES
	('EUR', '2027-01-01', 1.10), ('EUR', '2027-02-01', 1.20), ('EUR', '2027-02-15', 1.50);
SELECT crm.exchange_rate_on('EUR', '2027-01-31') AS jan_31, crm.exchange_rate_on('EUR', '2027-02-15') AS feb_15,
	   crm.exchange_rate_on('USD', '1990-01-01') AS corporate;
-- bad rates are refused
INSERT INTO crm.exchange_rate (currency, valid_from, rate) VALUES ('EUR', '2027-05-01', 0);
INSERT INTO crm.exchange_rate (currency, valid_from, rate) VALUES ('eur', '2027-05-01', 1);
INSERT INTO crm.exchange_rate (currency, valid_from, rate) VALUES ('EUR', '2027-01-01', 1.3);

-- pipeline_summary in USD:
--   Prospecting  F 100 x 1.50 = 150.00, weighted 10 x 1.50 = 15.00
--   Proposal     A 1000 + B 2000 x 1.10 = 3200.00, weighted 500 + 1000 x 1.10 = 1600.00
--   Negotiation  C 500 x 1.20 = 600.00, weighted 400 x 1.20 = 480.00
--   Closed Won   D 300 + G 250 = 550.00 (weighted the same)
--   Closed Lost  E 400 x 1.10 = 440.00, weighted 0.00
SELECT stage, currency, opportunity_count, amount, weighted_amount FROM crm.pipeline_summary();
-- Rita's deals: A, B, E, G; February closes: C, D
SELECT stage, opportunity_count, amount, weighted_amount FROM crm.pipeline_summary(owner => :'rita') WHERE opportunity_count > 0;
SELECT stage, opportunity_count, amount, weighted_amount FROM crm.pipeline_summary(close_from => '2027-02-01', close_to => '2027-02-28') WHERE opportunity_count > 0;
-- the same as a GROUP BY over the opportunities converting each deal
SELECT count(*) AS differences FROM (
	SELECT stage_id, opportunity_count, amount, weighted_amount FROM crm.pipeline_summary()
	EXCEPT
	SELECT s.id, count(o.id), coalesce(round(sum(o.amount * crm.exchange_rate_on(coalesce(o.currency, 'USD'), date_trunc('month', o.close_date)::date)), 2), 0),
		   coalesce(round(sum(o.expected_revenue * crm.exchange_rate_on(coalesce(o.currency, 'USD'), date_trunc('month', o.close_date)::date)), 2), 0)
	  FROM crm.pipeline_stage s
	  LEFT JOIN crm.opportunity o ON o.stage_id = s.id AND o.deleted_at IS NULL
	 WHERE s.pipeline_id = (SELECT id FROM crm.pipeline WHERE is_default) GROUP BY s.id) d;
-- A rate change shows at once (conversion at read time, nothing stale):
-- January at 1.00 makes Proposal 1000 + 2000 = 3000.00.
UPDATE crm.exchange_rate SET rate = 1.00 WHERE currency = 'EUR' AND valid_from = '2027-01-01';
SELECT stage, amount FROM crm.pipeline_summary() WHERE stage = 'Proposal';
UPDATE crm.exchange_rate SET rate = 1.10 WHERE currency = 'EUR' AND valid_from = '2027-01-01';
-- pipeline_as_of now converts the same way
SELECT count(*) AS differences FROM (
	SELECT * FROM crm.pipeline_summary() EXCEPT SELECT * FROM crm.pipeline_as_of(now())) d;

-- A deal in a currency without any rate: the converted reports refuse,
-- the view shows NULL instead of failing a BI tool.
INSERT INTO crm.opportunity (name, amount, currency, close_date, stage_id)
VALUES ('H', 10, 'GBP', '2027-04-10', :'prospecting') RETURNING id AS h \gset
SELECT * FROM crm.pipeline_summary();
SELECT name, amount, currency, amount_corporate FROM crm.v_pipeline WHERE name = 'H';
INSERT INTO crm.exchange_rate (currency, valid_from, rate) VALUES ('GBP', '2027-04-01', 1.25);
SELECT stage, amount, weighted_amount FROM crm.pipeline_summary() WHERE stage = 'Prospecting';
DELETE FROM crm.opportunity WHERE id = :'h';

-- Quotas: Rita 1000 for Q1, Sam 200 for January and 300 for February; the
-- team East 2000 for Q1.  Periods of one user never overlap.
INSERT INTO crm.sales_quota (user_id, period_start, period_end, amount) VALUES
	(:'rita', '2027-01-01', '2027-03-31', 1000),
	(:'sam', '2027-01-01', '2027-01-31', 200),
	(:'sam', '2027-02-01', '2027-02-28', 300);
INSERT INTO crm.sales_quota (team_id, period_start, period_end, amount) VALUES (:'east', '2027-01-01', '2027-03-31', 2000);
INSERT INTO crm.sales_quota (user_id, period_start, period_end, amount) VALUES (:'sam', '2027-01-15', '2027-02-15', 1);
INSERT INTO crm.sales_quota (user_id, team_id, period_start, period_end, amount) VALUES (:'sam', :'east', '2027-05-01', '2027-05-31', 1);
INSERT INTO crm.sales_quota (user_id, period_start, period_end, amount) VALUES (:'sam', '2027-06-30', '2027-06-01', 1);

-- Forecast Q1, everyone:
--   closed won 300 + 250 = 550.00; commit C 600.00; best case A + B 3200.00;
--   pipeline F 150.00; weighted (open deals) 15 + 1600 + 480 = 2095.00;
--   quota 1000 + 200 + 300 = 1500 (user quotas); attainment 550 / 1500 = 36.67 %
SELECT * FROM crm.forecast('2027-01-01', '2027-03-31');
-- Rita: won G 250; best case 3200; weighted 1600; quota 1000: 25.00 %
SELECT * FROM crm.forecast('2027-01-01', '2027-03-31', :'rita');
-- Sam: won D 300; commit 600; pipeline 150; weighted 15 + 480 = 495; quota 500: 60.00 %
SELECT * FROM crm.forecast('2027-01-01', '2027-03-31', :'sam');
-- team East (Rita): won 250 against the team's 2000: 12.50 %
SELECT * FROM crm.forecast('2027-01-01', '2027-03-31', team => :'east');
-- February only: won D 300, commit C 600, weighted 480; Rita's Q1 quota is
-- not inside February, Sam's February quota is: 300, attainment 100.00 %
SELECT * FROM crm.forecast('2027-02-01', '2027-02-28');
-- a period that is not whole months is refused with the nearest one
SELECT * FROM crm.forecast('2027-01-01', '2027-03-30');

-- Win rate over deals closed in 2027.
--   by source: event D won (300); referral G won (250); web E lost (440)
--   by type: new_business D won; renewal G won; upsell E lost
--   by owner: Rita G won, E lost: 50 %; Sam D won: 100 %
SELECT group_key, won, lost, win_rate, won_amount, lost_amount, currency FROM crm.win_rate('2027-01-01', '2027-12-31', 'source');
SELECT group_key, won, lost, win_rate, won_amount, lost_amount FROM crm.win_rate('2027-01-01', '2027-12-31', 'type');
SELECT u.name, w.won, w.lost, w.win_rate, w.won_amount, w.lost_amount
  FROM crm.win_rate('2027-01-01', '2027-12-31', 'owner') w JOIN crm.app_user u ON u.id::text = w.group_key ORDER BY u.name;
-- only March closes: G
SELECT group_key, won, lost, win_rate FROM crm.win_rate('2027-03-01', '2027-03-31', 'source');
SELECT * FROM crm.win_rate('2027-01-01', '2027-12-31', 'colour');

-- The reporting views: live deals with names and converted amounts, and
-- the roll-up per bucket.
SELECT name, pipeline_name, stage_name, owner_name, amount, currency, amount_corporate, expected_revenue_corporate, close_month
  FROM crm.v_pipeline ORDER BY name;
SELECT s.name AS stage, f.close_month, f.currency, f.opportunity_count, f.amount, f.amount_corporate, f.expected_revenue_corporate
  FROM crm.v_forecast f JOIN crm.pipeline_stage s ON s.id = f.stage_id ORDER BY s.position, f.close_month, f.currency;

-- Stage velocity, from a history with chosen instants (loaded in restore
-- mode, as a restore would; removed again at the end).
RESET ROLE;
INSERT INTO crm.pipeline (name) VALUES ('Velocity') RETURNING id AS vel \gset
INSERT INTO crm.pipeline_stage (pipeline_id, name, position, default_probability, forecast_category, is_closed, is_won) VALUES
	(:'vel', 'S1', 1, 10, 'pipeline', false, false), (:'vel', 'S2', 2, 50, 'best_case', false, false),
	(:'vel', 'Won', 3, 100, 'closed', true, true), (:'vel', 'Lost', 4, 0, 'omitted', true, false);
SELECT id AS s1 FROM crm.pipeline_stage WHERE pipeline_id = :'vel' AND name = 'S1' \gset
SELECT id AS s2 FROM crm.pipeline_stage WHERE pipeline_id = :'vel' AND name = 'S2' \gset
SELECT id AS vwon FROM crm.pipeline_stage WHERE pipeline_id = :'vel' AND name = 'Won' \gset
SELECT id AS vlost FROM crm.pipeline_stage WHERE pipeline_id = :'vel' AND name = 'Lost' \gset
SET crm.restoring = on;
INSERT INTO crm.opportunity (id, name, pipeline_id, stage_id, currency, probability, forecast_category, stage_entered_at,
							 is_closed, is_won, closed_at, lost_reason) VALUES
	('00000000-0000-7000-8000-0000000000a1', 'V1', :'vel', :'vwon', 'USD', 100, 'closed', '2027-01-21 12:00+00', true, true, '2027-01-21 12:00+00', NULL),
	('00000000-0000-7000-8000-0000000000a2', 'V2', :'vel', :'vlost', 'USD', 0, 'omitted', '2027-01-25 12:00+00', true, false, '2027-01-25 12:00+00', 'price'),
	('00000000-0000-7000-8000-0000000000a3', 'V3', :'vel', :'s1', 'USD', 10, 'pipeline', '2027-01-14 12:00+00', false, false, NULL, NULL);
-- V1: S1 10 days, S2 10 days (two stints: an amount change on the 15th), won
-- V2: S1 20 days, lost
-- V3: S1 3 days, S2 1 day, back to S1 (still there)
INSERT INTO crm.opportunity_stage_history (opportunity_id, valid, pipeline_id, stage_id, amount, currency, probability,
										   is_probability_override, forecast_category)
SELECT v.o::uuid, tstzrange(v.a::timestamptz, v.b::timestamptz), :'vel', v.s::uuid, v.amt, 'USD', 10, false, 'pipeline'
  FROM (VALUES
	('00000000-0000-7000-8000-0000000000a1', '2027-01-01 12:00+00', '2027-01-11 12:00+00', :'s1', 0),
	('00000000-0000-7000-8000-0000000000a1', '2027-01-11 12:00+00', '2027-01-15 12:00+00', :'s2', 0),
	('00000000-0000-7000-8000-0000000000a1', '2027-01-15 12:00+00', '2027-01-21 12:00+00', :'s2', 100),
	('00000000-0000-7000-8000-0000000000a1', '2027-01-21 12:00+00', NULL, :'vwon', 100),
	('00000000-0000-7000-8000-0000000000a2', '2027-01-05 12:00+00', '2027-01-25 12:00+00', :'s1', 0),
	('00000000-0000-7000-8000-0000000000a2', '2027-01-25 12:00+00', NULL, :'vlost', 0),
	('00000000-0000-7000-8000-0000000000a3', '2027-01-10 12:00+00', '2027-01-13 12:00+00', :'s1', 0),
	('00000000-0000-7000-8000-0000000000a3', '2027-01-13 12:00+00', '2027-01-14 12:00+00', :'s2', 0),
	('00000000-0000-7000-8000-0000000000a3', '2027-01-14 12:00+00', NULL, :'s1', 0)) v(o, a, b, s, amt);
RESET crm.restoring;
SET ROLE crm_reports_admin;
-- January:
--   S1  entered 4 (V1, V2, V3 twice), exited 3 (10, 20, 3 days): avg 11.00, median 10.00;
--       advanced 2 (V1 to S2, V3 to S2; V2 was lost): 66.67 %
--   S2  entered 2, exited 2 (10 days over two stints, 1 day): avg 5.50, median 5.50;
--       advanced 1 (V1 won; V3 went back): 50.00 %
--   Won, Lost entered 1 each, never left
SELECT stage, entered, exited, avg_days, median_days, advanced, conversion_rate FROM crm.stage_velocity(:'vel', '2027-01-01', '2027-01-31');
-- visits entered from the 12th: V3's S2 (1 day, went back) and second S1, V1's Won, V2's Lost
SELECT stage, entered, exited, avg_days, median_days, advanced, conversion_rate FROM crm.stage_velocity(:'vel', '2027-01-12', '2027-01-31');
RESET ROLE;
SET crm.restoring = on;
DELETE FROM crm.opportunity WHERE pipeline_id = :'vel';
RESET crm.restoring;
SET ROLE crm_reports_admin;

-- Daily snapshots (the job; for charts only): one row per stage of every
-- pipeline, equal to pipeline_summary that day; a rerun replaces the day.
RESET ROLE;
SET client_min_messages = error;  -- other tests' tenants may lack rates: a warning each
SELECT crm.snapshot_pipeline('2027-01-31') > 0 AS wrote;
SELECT crm.snapshot_pipeline('2027-01-31') > 0 AS rewrote;
SET client_min_messages = warning;
SET crm.organization_id = :'org';
SELECT count(*) AS rows, count(DISTINCT snapshot_date) AS days FROM crm.pipeline_snapshot WHERE organization_id = :'org';
SELECT count(*) AS differences FROM (
	SELECT stage_id, currency, opportunity_count, amount, weighted_amount FROM crm.pipeline_snapshot
	 WHERE organization_id = :'org' AND pipeline_id = (SELECT id FROM crm.pipeline WHERE is_default AND organization_id = :'org')
	EXCEPT
	SELECT stage_id, currency, opportunity_count, amount, weighted_amount FROM crm.pipeline_summary()) d;
SELECT name, schedule FROM crm.job WHERE name = 'snapshot_pipeline';

-- Roles: a rep reads the reports and rates but cannot write rates, quotas
-- or snapshots, nor run the snapshot job.
SET ROLE crm_reports_rep;
SELECT closed_won FROM crm.forecast('2027-01-01', '2027-03-31');
SELECT count(*) AS rates FROM crm.exchange_rate;
INSERT INTO crm.exchange_rate (currency, valid_from, rate) VALUES ('CHF', '2027-01-01', 1.1);
INSERT INTO crm.sales_quota (user_id, period_start, period_end, amount) VALUES (:'sam', '2027-07-01', '2027-07-31', 1);
DELETE FROM crm.pipeline_snapshot;
SELECT crm.snapshot_pipeline();
-- The other tenant's readonly role sees nothing of this tenant: its own
-- (empty) reports, and this tenant is refused.
SET ROLE crm_reports_reader;
SET crm.organization_id = :'other';
SELECT count(*) AS deals, (SELECT count(*) FROM crm.exchange_rate) AS rates, (SELECT count(*) FROM crm.sales_quota) AS quotas,
	   (SELECT count(*) FROM crm.pipeline_snapshot) AS snapshots, (SELECT count(*) FROM crm.v_pipeline) AS v_pipeline,
	   (SELECT count(*) FROM crm.v_forecast) AS v_forecast
  FROM crm.opportunity;
SELECT sum(opportunity_count) AS deals, sum(amount) AS amount FROM crm.pipeline_summary();
SELECT closed_won, "commit", best_case, pipeline, weighted, quota, attainment FROM crm.forecast('2027-01-01', '2027-03-31');
SELECT count(*) AS groups FROM crm.win_rate('2027-01-01', '2027-12-31', 'owner');
SELECT sum(entered) AS visits FROM crm.stage_velocity(NULL, '2027-01-01', '2027-12-31');
\set VERBOSITY sqlstate
SELECT count(*) FROM crm.forecast('2027-01-01', '2027-03-31', :'rita');
INSERT INTO crm.exchange_rate (currency, valid_from, rate) VALUES ('EUR', '2027-01-01', 1);
SET crm.organization_id = :'org';
SELECT * FROM crm.pipeline_summary();
SELECT * FROM crm.forecast('2027-01-01', '2027-03-31');
\set VERBOSITY terse
RESET ROLE;

-- Nothing drifted.
SET crm.organization_id = :'org';
SELECT * FROM crm.verify() WHERE "check" IN ('pipeline_rollup', 'opportunity_history');
SELECT crm.revoke_access('crm_reports_admin');
SELECT crm.revoke_access('crm_reports_rep');
SELECT crm.revoke_access('crm_reports_reader');
