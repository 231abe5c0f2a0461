-- Sales: pipelines and stages, opportunities and their close semantics, the
-- stage history as stints, the weighted-pipeline roll-up and the reports
-- that read it (doc/sales.md).
\set VERBOSITY terse
SET client_min_messages = warning;

-- A tenant made by crm.create_organization starts with a default pipeline.
SELECT crm.create_organization('Sales Org') AS org \gset
SELECT crm.create_organization('Other Sales Org') AS other \gset
-- Everything below runs as application roles (a superuser would bypass
-- row-level security): an admin configures, a rep sells.
DROP ROLE IF EXISTS crm_sales_admin;
DROP ROLE IF EXISTS crm_sales_rep;
DROP ROLE IF EXISTS crm_sales_reader;
CREATE ROLE crm_sales_admin;
CREATE ROLE crm_sales_rep;
CREATE ROLE crm_sales_reader;
SELECT crm.grant_access('crm_sales_admin', 'admin');
SELECT crm.grant_access('crm_sales_rep', 'user');
SELECT crm.grant_access('crm_sales_reader', 'readonly');
SET ROLE crm_sales_admin;
SET crm.organization_id = :'org';
INSERT INTO crm.app_user (name, email) VALUES ('Rita Rep', 'rita@sales.example') RETURNING id AS rita \gset
INSERT INTO crm.app_user (name, email) VALUES ('Sam Rep', 'sam@sales.example') RETURNING id AS sam \gset
SET crm.user_id = :'rita';
SELECT p.name AS pipeline, p.is_default, s.position, s.name, s.default_probability, s.forecast_category, s.is_closed, s.is_won
  FROM crm.pipeline p JOIN crm.pipeline_stage s ON s.pipeline_id = p.id
 ORDER BY s.position;
SELECT id AS sales FROM crm.pipeline WHERE is_default \gset
SELECT id AS prospecting FROM crm.pipeline_stage WHERE name = 'Prospecting' \gset
SELECT id AS qualification FROM crm.pipeline_stage WHERE name = 'Qualification' \gset
SELECT id AS proposal FROM crm.pipeline_stage WHERE name = 'Proposal' \gset
SELECT id AS negotiation FROM crm.pipeline_stage WHERE name = 'Negotiation' \gset
SELECT id AS won FROM crm.pipeline_stage WHERE name = 'Closed Won' \gset
SELECT id AS lost FROM crm.pipeline_stage WHERE name = 'Closed Lost' \gset

-- At most one default pipeline; moving the default is one statement.
INSERT INTO crm.pipeline (name, is_default) VALUES ('Second default', true);
INSERT INTO crm.pipeline (name) VALUES ('Renewals') RETURNING id AS renewals \gset
INSERT INTO crm.pipeline_stage (pipeline_id, name, position, default_probability, forecast_category)
VALUES (:'renewals', 'Due', 1, 60, 'commit') RETURNING id AS due \gset
INSERT INTO crm.pipeline_stage (pipeline_id, name, position, default_probability, forecast_category, is_closed, is_won)
VALUES (:'renewals', 'Renewed', 2, 100, 'closed', true, true);
UPDATE crm.pipeline SET is_default = (id = :'renewals');
SELECT name, is_default FROM crm.pipeline ORDER BY name;
UPDATE crm.pipeline SET is_default = (id = :'sales');
-- a stage cannot be won without being closed, nor have a probability over 100
INSERT INTO crm.pipeline_stage (pipeline_id, name, position, default_probability, is_won) VALUES (:'sales', 'Odd', 9, 10, true);
INSERT INTO crm.pipeline_stage (pipeline_id, name, position, default_probability) VALUES (:'sales', 'Odd', 9, 101);

-- A new opportunity without pipeline or stage starts in the first open stage
-- of the default pipeline, in the organization's currency, with the stage's
-- probability and forecast category; expected revenue follows.
INSERT INTO crm.opportunity (name, amount, owner_id, close_date)
VALUES ('Alpha', 1000, :'rita', '2027-01-15') RETURNING id AS alpha \gset
SELECT o.name, s.name AS stage, o.currency, o.probability, o.probability_override, o.forecast_category,
	   o.expected_revenue, o.is_closed, o.is_won, o.closed_at, o.stage_entered_at = o.created_at AS entered_now
  FROM crm.opportunity o JOIN crm.pipeline_stage s ON s.id = o.stage_id WHERE o.id = :'alpha';

-- open -> open: the stage's defaults follow the stage.
UPDATE crm.opportunity SET stage_id = :'proposal' WHERE id = :'alpha';
SELECT probability, probability_override, forecast_category, expected_revenue FROM crm.opportunity WHERE id = :'alpha';

-- A probability set by hand is an override: it survives stage changes ...
UPDATE crm.opportunity SET probability = 35 WHERE id = :'alpha';
UPDATE crm.opportunity SET stage_id = :'negotiation' WHERE id = :'alpha';
SELECT probability, probability_override, forecast_category, expected_revenue FROM crm.opportunity WHERE id = :'alpha';
-- ... and so does a forecast category set by hand ...
UPDATE crm.opportunity SET forecast_category = 'best_case' WHERE id = :'alpha';
UPDATE crm.opportunity SET stage_id = :'proposal' WHERE id = :'alpha';
SELECT probability, probability_override, forecast_category, forecast_category_override FROM crm.opportunity WHERE id = :'alpha';
-- ... until cleared: the stage's values come back.
UPDATE crm.opportunity SET probability_override = NULL, forecast_category_override = NULL WHERE id = :'alpha';
SELECT probability, probability_override, forecast_category, forecast_category_override FROM crm.opportunity WHERE id = :'alpha';
UPDATE crm.opportunity SET probability = 35 WHERE id = :'alpha';
UPDATE crm.opportunity SET probability = NULL WHERE id = :'alpha';	-- writing NULL clears it too
SELECT probability, probability_override FROM crm.opportunity WHERE id = :'alpha';
-- a forecast category by hand cannot be "closed" (only a won stage is)
UPDATE crm.opportunity SET forecast_category = 'closed' WHERE id = :'alpha';

-- open -> lost needs a lost reason; with one, the deal is closed at 0 %.
UPDATE crm.opportunity SET probability = 40 WHERE id = :'alpha';
UPDATE crm.opportunity SET stage_id = :'lost' WHERE id = :'alpha';
UPDATE crm.opportunity SET stage_id = :'lost', lost_reason = '   ' WHERE id = :'alpha';
UPDATE crm.opportunity SET stage_id = :'lost', lost_reason = 'price' WHERE id = :'alpha';
SELECT probability, probability_override, forecast_category, expected_revenue, is_closed, is_won, closed_at IS NOT NULL AS closed
  FROM crm.opportunity WHERE id = :'alpha';
-- lost -> open reopens it, and the override from before comes back
UPDATE crm.opportunity SET stage_id = :'qualification' WHERE id = :'alpha';
SELECT probability, forecast_category, is_closed, is_won, closed_at FROM crm.opportunity WHERE id = :'alpha';
-- open -> won: 100 %, forecast closed; won -> open reopens
UPDATE crm.opportunity SET stage_id = :'won' WHERE id = :'alpha';
SELECT probability, forecast_category, expected_revenue, is_closed, is_won, closed_at IS NOT NULL AS closed FROM crm.opportunity WHERE id = :'alpha';
UPDATE crm.opportunity SET stage_id = :'negotiation', probability_override = NULL WHERE id = :'alpha';
SELECT probability, forecast_category, is_closed, is_won, closed_at FROM crm.opportunity WHERE id = :'alpha';
-- the maintained columns cannot be forced: closed flags follow the stage
UPDATE crm.opportunity SET is_closed = true, is_won = true, closed_at = now() WHERE id = :'alpha';
SELECT is_closed, is_won, closed_at FROM crm.opportunity WHERE id = :'alpha';

-- The stage belongs to the pipeline (composite key); changing the pipeline
-- without a stage starts the deal in the new pipeline's first open stage.
UPDATE crm.opportunity SET stage_id = :'due' WHERE id = :'alpha';
UPDATE crm.opportunity SET pipeline_id = :'renewals' WHERE id = :'alpha';
SELECT p.name AS pipeline, s.name AS stage, o.probability, o.forecast_category
  FROM crm.opportunity o JOIN crm.pipeline p ON p.id = o.pipeline_id JOIN crm.pipeline_stage s ON s.id = o.stage_id
 WHERE o.id = :'alpha';
UPDATE crm.opportunity SET pipeline_id = :'sales', stage_id = :'proposal' WHERE id = :'alpha';
-- a stage of another organization does not exist here
SET crm.organization_id = :'other';
SELECT id AS other_stage FROM crm.pipeline_stage ORDER BY position LIMIT 1 \gset
SET crm.organization_id = :'org';
\set VERBOSITY sqlstate
UPDATE crm.opportunity SET stage_id = :'other_stage' WHERE id = :'alpha';
INSERT INTO crm.opportunity (name, stage_id) VALUES ('Bad', :'other_stage');
\set VERBOSITY terse

-- The history: one stint per change of a tracked value, back to back,
-- never overlapping; the current one is open-ended.
SELECT row_number() OVER (ORDER BY lower(h.valid)) AS n, s.name AS stage, f.name AS from_stage,
	   h.probability, h.previous_probability, h.is_probability_override, h.forecast_category,
	   h.amount, upper_inf(h.valid) AS current, h.changed_by = :'rita' AS by_rita
  FROM crm.opportunity_stage_history h
  JOIN crm.pipeline_stage s ON s.id = h.stage_id
  LEFT JOIN crm.pipeline_stage f ON f.id = h.from_stage_id
 WHERE h.opportunity_id = :'alpha'
 ORDER BY lower(h.valid);
SELECT count(*) AS gaps_or_overlaps
  FROM (SELECT valid, lag(valid) OVER (ORDER BY lower(valid)) AS prev
		  FROM crm.opportunity_stage_history WHERE opportunity_id = :'alpha') x
 WHERE prev IS NOT NULL AND upper(prev) <> lower(valid);
-- a change of an untracked column (next_step) writes no stint and leaves
-- the maintained columns as they were
SELECT count(*) AS stints FROM crm.opportunity_stage_history WHERE opportunity_id = :'alpha' \gset
CREATE TEMP TABLE alpha_before AS
SELECT stage_id, probability, probability_override, forecast_category, stage_entered_at, is_closed, closed_at
  FROM crm.opportunity WHERE id = :'alpha';
UPDATE crm.opportunity SET next_step = 'call the CFO' WHERE id = :'alpha';
SELECT count(*) = :stints AS no_new_stint FROM crm.opportunity_stage_history WHERE opportunity_id = :'alpha';
SELECT count(*) AS maintained_unchanged FROM (
	SELECT stage_id, probability, probability_override, forecast_category, stage_entered_at, is_closed, closed_at
	  FROM crm.opportunity WHERE id = :'alpha'
	INTERSECT SELECT * FROM alpha_before) x;
-- several changes in one transaction still give stints that do not overlap
BEGIN;
UPDATE crm.opportunity SET amount = 1100 WHERE id = :'alpha';
UPDATE crm.opportunity SET amount = 1200 WHERE id = :'alpha';
COMMIT;
SELECT amount, previous_amount, NOT isempty(valid) AS not_empty FROM crm.opportunity_stage_history
 WHERE opportunity_id = :'alpha' ORDER BY lower(valid) DESC LIMIT 2;
-- the exclusion constraint refuses an overlapping stint, whoever writes it
RESET ROLE;
INSERT INTO crm.opportunity_stage_history (opportunity_id, valid, pipeline_id, stage_id, amount, currency,
										   probability, is_probability_override, forecast_category)
VALUES (:'alpha', tstzrange(now() - interval '1 day', NULL), :'sales', :'proposal', 1, 'USD', 10, false, 'pipeline');
-- it compares the uuids as crm.uuid_point(u), which is crm.uuid_range(u, u,
-- '[]'); GiST places them by their exact difference (rounding each uuid to
-- a double first made all that share their first 53 bits -- uuids v7 of
-- one millisecond -- equal)
SELECT crm.uuid_point(:'alpha') = crm.uuid_range(:'alpha', :'alpha', '[]') AS point_is_range,
	   crm.uuid_point(NULL) IS NULL AS strict,
	   crm._uuid_diff('018f0000-0000-7000-8000-000000000002', '018f0000-0000-7000-8000-000000000001') AS next,
	   crm._uuid_diff('018f0000-0000-7000-8000-000000000001', '018f0000-0000-7000-8000-000000000002') AS previous,
	   crm._uuid_diff('018f0000-0000-7001-0000-000000000000', '018f0000-0000-7000-ffff-ffffffffffff') AS borrow,
	   crm._uuid_diff('ffffffff-ffff-ffff-ffff-ffffffffffff', '00000000-0000-0000-0000-000000000000') = 2::float8 ^ 128 AS whole_range;
SET ROLE crm_sales_admin;

-- A stage in use cannot be deleted (clear error); an unused one can.
DELETE FROM crm.pipeline_stage WHERE id = :'proposal';
DELETE FROM crm.pipeline_stage WHERE id = :'lost';
INSERT INTO crm.pipeline_stage (pipeline_id, name, position, default_probability) VALUES (:'sales', 'Unused', 7, 5) RETURNING id AS unused \gset
DELETE FROM crm.pipeline_stage WHERE id = :'unused';
-- retiring is an ordinary update
UPDATE crm.pipeline_stage SET is_active = false WHERE id = :'negotiation';
UPDATE crm.pipeline_stage SET is_active = true WHERE id = :'negotiation';

-- Contacts of a deal, with at most one primary.
INSERT INTO crm.contact (last_name, email) VALUES ('Buyer', 'buyer@client.example') RETURNING id AS buyer \gset
INSERT INTO crm.contact (last_name, email) VALUES ('Champ', 'champ@client.example') RETURNING id AS champ \gset
INSERT INTO crm.opportunity_contact (opportunity_id, contact_id, role, is_primary) VALUES (:'alpha', :'buyer', 'economic_buyer', true);
INSERT INTO crm.opportunity_contact (opportunity_id, contact_id, role, is_primary) VALUES (:'alpha', :'champ', 'champion', true);
INSERT INTO crm.opportunity_contact (opportunity_id, contact_id, role) VALUES (:'alpha', :'champ', 'cheerleader');
INSERT INTO crm.opportunity_contact (opportunity_id, contact_id, role) VALUES (:'alpha', :'champ', 'champion');
SELECT c.last_name, oc.role, oc.is_primary FROM crm.opportunity_contact oc JOIN crm.contact c ON c.id = oc.contact_id ORDER BY 1;
-- Activities and notes can be about a deal.
INSERT INTO crm.activity (type, subject, opportunity_id) VALUES ('meeting', 'Pricing call', :'alpha');
INSERT INTO crm.note (body, opportunity_id) VALUES ('They want a discount', :'alpha');
SELECT (SELECT count(*) FROM crm.activity WHERE opportunity_id = :'alpha') AS activities,
	   (SELECT count(*) FROM crm.note WHERE opportunity_id = :'alpha') AS notes;

-- The weighted pipeline.  More deals: two owners, two close months, a
-- second currency, one without close date or owner.
INSERT INTO crm.opportunity (name, amount, owner_id, close_date, stage_id) VALUES
	('Beta', 500, :'sam', '2027-01-20', :'proposal'),
	('Gamma', 2000, :'rita', '2027-02-03', :'negotiation'),
	('Delta', 300.55, :'sam', '2027-02-28', :'prospecting'),
	('Epsilon', 50, NULL, NULL, :'prospecting');
INSERT INTO crm.opportunity (name, amount, currency, owner_id, close_date, stage_id)
VALUES ('Zeta', 700, 'EUR', :'rita', '2027-01-31', :'proposal') RETURNING id AS zeta \gset
-- (per stage and currency, unconverted: crm.pipeline_summary_by_currency;
-- converted to the corporate currency in test/sql/sales_reports.sql)
SELECT stage, currency, opportunity_count, amount, weighted_amount FROM crm.pipeline_summary_by_currency();
-- filters: owner, close months
SELECT stage, currency, opportunity_count, amount, weighted_amount FROM crm.pipeline_summary_by_currency(owner => :'sam') WHERE opportunity_count > 0;
SELECT stage, currency, opportunity_count, amount, weighted_amount FROM crm.pipeline_summary_by_currency(close_from => '2027-02-01', close_to => '2027-02-28') WHERE opportunity_count > 0;
-- the same as a GROUP BY over the live opportunities
SELECT count(*) AS differences FROM (
	(SELECT stage_id, currency, opportunity_count, amount, weighted_amount FROM crm.pipeline_summary_by_currency() WHERE opportunity_count > 0
	 EXCEPT
	 SELECT stage_id, currency, count(*), sum(amount), sum(expected_revenue) FROM crm.opportunity
	  WHERE pipeline_id = :'sales' AND deleted_at IS NULL GROUP BY 1, 2)
	UNION ALL
	(SELECT stage_id, currency, count(*), sum(amount), sum(expected_revenue) FROM crm.opportunity
	  WHERE pipeline_id = :'sales' AND deleted_at IS NULL GROUP BY 1, 2
	 EXCEPT
	 SELECT stage_id, currency, opportunity_count, amount, weighted_amount FROM crm.pipeline_summary_by_currency() WHERE opportunity_count > 0)) d;
-- soft delete takes a deal out, restoring puts it back; a hard delete too
UPDATE crm.opportunity SET deleted_at = now() WHERE id = :'zeta';
SELECT stage, currency, opportunity_count FROM crm.pipeline_summary_by_currency() WHERE currency = 'EUR';
SELECT count(*) AS open_stints_of_deleted FROM crm.opportunity_stage_history WHERE opportunity_id = :'zeta' AND upper_inf(valid);
UPDATE crm.opportunity SET deleted_at = NULL WHERE id = :'zeta';
SELECT stage, currency, opportunity_count FROM crm.pipeline_summary_by_currency() WHERE currency = 'EUR';
DELETE FROM crm.opportunity WHERE id = :'zeta';
SELECT count(*) AS eur_rows FROM crm.pipeline_summary_by_currency() WHERE currency = 'EUR';
SELECT count(*) AS stints_of_hard_deleted FROM crm.opportunity_stage_history WHERE opportunity_id = :'zeta';
-- bad arguments
\set VERBOSITY sqlstate
SELECT * FROM crm.pipeline_summary(pipeline => crm.uuid_v7());
\set VERBOSITY terse
SELECT * FROM crm.pipeline_summary(close_from => '2027-03-01', close_to => '2027-01-01');

-- Folding the slots changes no sum.
CREATE TEMP TABLE before_fold AS SELECT * FROM crm.pipeline_summary();
SELECT crm.fold_pipeline_rollup() > 0 AS folded;
SELECT count(*) AS unfolded_rows FROM crm.pipeline_rollup WHERE organization_id = :'org' AND slot <> 0;
SELECT count(*) AS changed FROM (SELECT * FROM crm.pipeline_summary() EXCEPT SELECT * FROM before_fold) d;
-- The fold also sums the buckets over owners into crm.pipeline_stage_rollup
-- (what reports over all owners read, beside the slot rows not folded
-- yet): fewer rows than the buckets here, since Sam and Rita share stages.
SELECT (SELECT count(*) FROM crm.pipeline_stage_rollup WHERE organization_id = :'org')
	 < (SELECT count(*) FROM crm.pipeline_rollup WHERE organization_id = :'org') AS fewer_stage_rows;
-- a change after the fold is a slot row again; the summary over all owners
-- (folded rows + that slot row) and per owner (buckets) still equal a
-- GROUP BY over the live deals, counted once
UPDATE crm.opportunity SET amount = amount + 1, owner_id = :'rita' WHERE name = 'Delta';
SELECT count(*) > 0 AS unfolded_again FROM crm.pipeline_rollup WHERE organization_id = :'org' AND slot <> 0;
SELECT o.who, (SELECT count(*) FROM (
	(SELECT stage_id, currency, opportunity_count, amount, weighted_amount FROM crm.pipeline_summary_by_currency(owner => o.owner) WHERE opportunity_count > 0
	 EXCEPT
	 SELECT stage_id, currency, count(*), sum(amount), sum(expected_revenue) FROM crm.opportunity
	  WHERE pipeline_id = :'sales' AND deleted_at IS NULL AND (o.owner IS NULL OR owner_id = o.owner) GROUP BY 1, 2)
	UNION ALL
	(SELECT stage_id, currency, count(*), sum(amount), sum(expected_revenue) FROM crm.opportunity
	  WHERE pipeline_id = :'sales' AND deleted_at IS NULL AND (o.owner IS NULL OR owner_id = o.owner) GROUP BY 1, 2
	 EXCEPT
	 SELECT stage_id, currency, opportunity_count, amount, weighted_amount FROM crm.pipeline_summary_by_currency(owner => o.owner) WHERE opportunity_count > 0)) d) AS differences
  FROM (VALUES ('all', NULL::uuid), ('rita', :'rita'::uuid), ('sam', :'sam'::uuid)) o(who, owner) ORDER BY o.who;
UPDATE crm.opportunity SET amount = amount - 1, owner_id = :'sam' WHERE name = 'Delta';
SELECT crm.fold_pipeline_rollup() > 0 AS folded_again;
SELECT count(*) AS changed FROM (SELECT * FROM crm.pipeline_summary() EXCEPT SELECT * FROM before_fold) d;

-- pipeline_as_of: the summary at chosen instants of a scripted timeline,
-- rebuilt from the history alone.
CREATE TEMP TABLE timeline (step int, at timestamptz, stage_id uuid, currency char(3), n bigint, amount numeric, weighted numeric);
INSERT INTO timeline SELECT 1, clock_timestamp(), stage_id, currency, opportunity_count, amount, weighted_amount FROM crm.pipeline_summary();
UPDATE crm.opportunity SET stage_id = :'negotiation' WHERE name = 'Beta';
INSERT INTO timeline SELECT 2, clock_timestamp(), stage_id, currency, opportunity_count, amount, weighted_amount FROM crm.pipeline_summary();
UPDATE crm.opportunity SET amount = amount * 2 WHERE name IN ('Gamma', 'Delta');
UPDATE crm.opportunity SET stage_id = :'won' WHERE name = 'Gamma';
INSERT INTO timeline SELECT 3, clock_timestamp(), stage_id, currency, opportunity_count, amount, weighted_amount FROM crm.pipeline_summary();
UPDATE crm.opportunity SET deleted_at = now() WHERE name = 'Epsilon';
INSERT INTO crm.opportunity (name, amount, stage_id) VALUES ('Eta', 999.99, :'qualification');
INSERT INTO timeline SELECT 4, clock_timestamp(), stage_id, currency, opportunity_count, amount, weighted_amount FROM crm.pipeline_summary();
SELECT t.step, count(*) AS stages,
	   count(*) FILTER (WHERE (a.opportunity_count, a.amount, a.weighted_amount) IS DISTINCT FROM (t.n, t.amount, t.weighted)) AS differing
  FROM timeline t
  JOIN LATERAL crm.pipeline_as_of(t.at) a ON a.stage_id = t.stage_id AND a.currency = t.currency
 GROUP BY t.step ORDER BY t.step;
-- before the first deal existed, the pipeline was empty
SELECT sum(opportunity_count) AS deals_a_year_ago FROM crm.pipeline_as_of(now() - interval '1 year');
SELECT * FROM crm.pipeline_as_of('infinity');

-- Time in stage is a plain aggregate over the stints.
SELECT s.name, count(*) AS stints, bool_and(upper(h.valid) > lower(h.valid)) AS positive
  FROM crm.opportunity_stage_history h JOIN crm.pipeline_stage s ON s.id = h.stage_id
 WHERE NOT upper_inf(h.valid) GROUP BY s.position, s.name ORDER BY s.position;

-- Nothing drifted.
SELECT * FROM crm.verify() WHERE "check" IN ('pipeline_rollup', 'pipeline_stage_rollup', 'opportunity_history');
-- and the checks see drift when the roll-up is tampered with
RESET ROLE;
BEGIN;
UPDATE crm.pipeline_rollup SET amount = amount + 1
 WHERE id = (SELECT id FROM crm.pipeline_rollup WHERE organization_id = :'org' ORDER BY id LIMIT 1);
SELECT "check", entity, expected <> actual AS differs FROM crm.verify() WHERE "check" = 'pipeline_rollup';
ROLLBACK;
BEGIN;
UPDATE crm.pipeline_stage_rollup SET opportunity_count = opportunity_count + 1
 WHERE id = (SELECT id FROM crm.pipeline_stage_rollup WHERE organization_id = :'org' ORDER BY id LIMIT 1);
SELECT "check", entity, expected <> actual AS differs FROM crm.verify() WHERE "check" LIKE 'pipeline%';
ROLLBACK;

-- An application role: writes opportunities, reads the history and the
-- roll-up, cannot write them; pipelines are admin configuration.
SET ROLE crm_sales_rep;
INSERT INTO crm.opportunity (name, amount, stage_id) VALUES ('By rep', 10, :'proposal') RETURNING probability, forecast_category;
UPDATE crm.opportunity SET stage_id = :'won' WHERE name = 'By rep';
SELECT count(*) > 0 AS reads_history FROM crm.opportunity_stage_history;
SELECT sum(opportunity_count) AS deals FROM crm.pipeline_summary();
UPDATE crm.pipeline_rollup SET amount = 0;
DELETE FROM crm.opportunity_stage_history;
INSERT INTO crm.pipeline_stage (pipeline_id, name, position, default_probability) VALUES (:'sales', 'Rep stage', 8, 5);
SELECT crm.fold_pipeline_rollup() >= 0 AS rep_can_fold;
-- another tenant's data is invisible
SET crm.organization_id = :'other';
SELECT count(*) AS other_deals FROM crm.opportunity;
SELECT sum(opportunity_count) AS other_pipeline FROM crm.pipeline_summary();
RESET ROLE;
SET crm.organization_id = :'org';
-- A readonly role reads the pipeline, but folds nothing: the fold runs as
-- the owner (it writes the roll-up) and refuses a caller that may not
-- change opportunities (42501).
SET ROLE crm_sales_reader;
SELECT sum(opportunity_count) > 0 AS reader_reads_pipeline FROM crm.pipeline_summary();
SELECT crm.fold_pipeline_rollup();
DO $$
BEGIN
	PERFORM crm.fold_pipeline_rollup();
EXCEPTION WHEN insufficient_privilege THEN
	RAISE WARNING 'refused with SQLSTATE %', SQLSTATE;
END;
$$;
RESET ROLE;
SELECT * FROM crm.verify() WHERE "check" IN ('pipeline_rollup', 'opportunity_history');
SELECT crm.revoke_access('crm_sales_admin');
SELECT crm.revoke_access('crm_sales_rep');
SELECT crm.revoke_access('crm_sales_reader');
-- A tenant created by a session that has an actor: the seeded pipeline is a
-- system write, not attributed to a user of another organization.
SELECT current_setting('crm.user_id') = :'rita' AS acting_as_rita;
SELECT crm.create_organization('Third Sales Org') AS third \gset
SELECT count(*) AS seeded_stages, count(created_by) AS attributed FROM crm.pipeline_stage WHERE organization_id = :'third';
SELECT current_setting('crm.user_id') = :'rita' AS still_rita;
