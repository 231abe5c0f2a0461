-- Lead scoring (issue 11): engagement events, the per-tenant model, scores
-- exact at any instant, explain_score, thresholds, bad input.
-- Every instant is injected: nothing here reads the clock for an assertion.
SET client_min_messages = warning;
SET TimeZone = 'UTC';
SELECT crm.create_organization('Scoring Co') AS org \gset
SELECT crm.create_organization('Other Co') AS other \gset
-- an application role (row-level security applies; the superuser would
-- see every tenant)
DROP ROLE IF EXISTS scoring_admin;
CREATE ROLE scoring_admin;
SELECT crm.grant_access('scoring_admin', 'admin');
SET crm.organization_id = :'org';
SET ROLE scoring_admin;

-- ---------------------------------------------------------------------------
-- The seeded model: the seeds' weights.
-- ---------------------------------------------------------------------------
SELECT g.name AS group_name, g.kind, g.cap, g.half_life_days, r.name, r.event_type, r.points
  FROM crm.scoring_rule r JOIN crm.scoring_group g ON g.id = r.group_id
 ORDER BY g.kind, r.points DESC;
SELECT total_cap, mql_threshold, sql_threshold, unknown_event_types, reference_at FROM crm.scoring_settings;
SELECT count(*) AS event_types FROM crm.engagement_event_type;

-- ---------------------------------------------------------------------------
-- A hand-built model (replacing the seeds), to compute scores by hand:
--   Intent (engagement, half-life 10 days, cap 60):
--     demo_request 40; pricing_viewed 10, at most 20 per 7-day window;
--     webinar_attended 15 when properties contain {"live": true}
--   Noise (engagement, no decay, cap 5): page_view 1; unsubscribe -30
--   Fit (cap 30): senior title +20, referral source +25
-- ---------------------------------------------------------------------------
DELETE FROM crm.scoring_rule WHERE kind = 'engagement';
DELETE FROM crm.scoring_group WHERE name = 'Engagement';
UPDATE crm.scoring_group SET cap = 30 WHERE name = 'Fit';
INSERT INTO crm.scoring_group (name, kind, cap, half_life_days) VALUES
	('Intent', 'engagement', 60, 10), ('Noise', 'engagement', 5, NULL);
INSERT INTO crm.scoring_rule (group_id, kind, name, event_type, property_match, points, max_points, window_days)
SELECT g.id, 'engagement', x.name, x.t, x.pm::jsonb, x.p, x.mp, x.w
  FROM (VALUES ('Intent', 'Demo', 'demo_request', NULL, 40, NULL, NULL),
			   ('Intent', 'Pricing', 'pricing_viewed', NULL, 10, 20, 7),
			   ('Intent', 'Live webinar', 'webinar_attended', '{"live": true}', 15, NULL, NULL),
			   ('Noise', 'Page view', 'page_view', NULL, 1, NULL, NULL),
			   ('Noise', 'Unsubscribed', 'unsubscribe', NULL, -30, NULL, NULL)) AS x(g, name, t, pm, p, mp, w)
  JOIN crm.scoring_group g ON g.name = x.g;

INSERT INTO crm.lead (last_name, title, lead_source) VALUES
	('Ada', 'VP Engineering', 'referral'),	-- fit 20 + 25 = 45, capped at 30
	('Bob', 'Intern', NULL),				-- fit 0
	('Cyd', 'Director', NULL);				-- fit 20
SELECT id AS ada FROM crm.lead WHERE last_name = 'Ada' \gset
SELECT id AS bob FROM crm.lead WHERE last_name = 'Bob' \gset
SELECT id AS cyd FROM crm.lead WHERE last_name = 'Cyd' \gset
SELECT l.last_name, s.fit_score, s.lead_score FROM crm.score s JOIN crm.lead l ON l.id = s.lead_id ORDER BY 1;

-- Ada: a demo request on March 1st, three pricing views on March 2nd (30
-- raw points, capped at 20 in their window), seven page views (7, capped
-- at 5 by the group), a recorded webinar (property does not match).
INSERT INTO crm.engagement_event (lead_id, event_type, occurred_at, properties) VALUES
	(:'ada', 'demo_request', '2026-03-01 00:00', '{}'),
	(:'ada', 'pricing_viewed', '2026-03-02 00:00', '{}'),
	(:'ada', 'pricing_viewed', '2026-03-02 00:00', '{"plan": "pro"}'),
	(:'ada', 'pricing_viewed', '2026-03-02 00:00', '{}'),
	(:'ada', 'webinar_attended', '2026-03-02 00:00', '{"live": false}');
INSERT INTO crm.engagement_event (lead_id, event_type, occurred_at)
SELECT :'ada', 'page_view', '2026-03-01 00:00' FROM generate_series(1, 7);

-- On March 11th: demo 40 * 2^(-10/10) = 20; pricing 20 * 2^(-9/10) =
-- 10.7177; Intent 30.7177 (under its cap); Noise 5; fit 30.
-- Lead score 30 + 30.7177 + 5 = 65.72.
SELECT * FROM crm.score_as_of(:'ada', '2026-03-11 00:00');
SELECT rule_name, events, raw_points, after_rule_cap, after_decay, after_group_cap, points
  FROM crm.explain_score(:'ada', '2026-03-11 00:00');
SELECT sum(points) AS explained_total FROM crm.explain_score(:'ada', '2026-03-11 00:00');
-- At noon on March 1st: the pricing views have not happened yet; the demo
-- is half a day old: 40 * 2^(-0.05) = 38.6402; Intent 38.64, Noise 5.
SELECT * FROM crm.score_as_of(:'ada', '2026-03-01 12:00');
-- A live webinar now counts (15 at March 2nd); on March 2nd the Intent
-- group is 40*2^(-0.1) + 20 + 15 = 72.32, capped at 60: lead score 95.
INSERT INTO crm.engagement_event (lead_id, event_type, occurred_at, properties)
VALUES (:'ada', 'webinar_attended', '2026-03-02 00:00', '{"live": true, "title": "Scale"}');
SELECT * FROM crm.score_as_of(:'ada', '2026-03-02 00:00');
SELECT rule_name, round(after_decay, 2) AS after_decay, round(after_group_cap, 2) AS after_group_cap, points
  FROM crm.explain_score(:'ada', '2026-03-02 00:00');
SELECT sum(points) AS explained_total FROM crm.explain_score(:'ada', '2026-03-02 00:00');
-- A year later the intent has decayed to almost nothing; fit and page
-- views (no decay) remain: 30 + 5 = 35.
SELECT * FROM crm.score_as_of(:'ada', '2027-03-02 00:00');

-- Pricing views in another 7-day window are capped separately: March 2nd
-- and March 10th are in different windows (windows start on Thursdays,
-- 1970-01-01): 20 + 10 raw, no cap hit for the second.
INSERT INTO crm.engagement_event (lead_id, event_type, occurred_at) VALUES (:'cyd', 'pricing_viewed', '2026-03-02'),
	(:'cyd', 'pricing_viewed', '2026-03-02'), (:'cyd', 'pricing_viewed', '2026-03-02'), (:'cyd', 'pricing_viewed', '2026-03-10');
SELECT rule_name, events, raw_points, after_rule_cap FROM crm.explain_score(:'cyd', '2026-03-10') WHERE rule_name = 'Pricing';

-- Negative points and clamping at 0: Bob unsubscribed after two page views:
-- Noise = 2 - 30 = -28 (caps bound from above only); lead score max(0, -28) = 0.
INSERT INTO crm.engagement_event (lead_id, event_type, occurred_at) VALUES
	(:'bob', 'page_view', '2026-03-01'), (:'bob', 'page_view', '2026-03-01'), (:'bob', 'unsubscribe', '2026-03-02');
SELECT * FROM crm.score_as_of(:'bob', '2026-03-03');
SELECT rule_name, points FROM crm.explain_score(:'bob', '2026-03-03');

-- The total cap: at most total_cap (Ada's 95 becomes 90).
UPDATE crm.scoring_settings SET total_cap = 90;
SELECT lead_score FROM crm.score_as_of(:'ada', '2026-03-02 00:00');
SELECT sum(points) AS explained_total FROM crm.explain_score(:'ada', '2026-03-02 00:00');
UPDATE crm.scoring_settings SET total_cap = 100;

-- ---------------------------------------------------------------------------
-- Stored scores are the scores at score_updated_at; crm.decay_scores
-- refreshes them to an instant; the order by engagement_ref is the order
-- of the engagement now.
-- ---------------------------------------------------------------------------
RESET ROLE;
SELECT crm.decay_scores('2026-03-11 00:00') > 0 AS refreshed;
SET ROLE scoring_admin;
SELECT l.last_name, s.fit_score, s.engagement_score, s.lead_score, s.stage, s.score_updated_at
  FROM crm.score s JOIN crm.lead l ON l.id = s.lead_id ORDER BY s.engagement_ref DESC;
SELECT (SELECT lead_score FROM crm.score WHERE record_id = :'ada')
	 = (SELECT lead_score FROM crm.score_as_of(:'ada', '2026-03-11 00:00')) AS stored_equals_as_of;
SELECT l.last_name FROM crm.hottest_leads(2) h JOIN crm.lead l ON l.id = h.lead_id;
SELECT * FROM crm.verify() WHERE "check" = 'scores';

-- ---------------------------------------------------------------------------
-- Thresholds: MQL 60 and SQL 80, one event per upward crossing, in the
-- same transaction as the change that crossed.  Writes store the score as
-- of now(), so these events happen at now() (the transaction's instant:
-- the assertions do not depend on its value).
-- ---------------------------------------------------------------------------
RESET ROLE;
DELETE FROM crm.outbox;
SET ROLE scoring_admin;
UPDATE crm.lead SET status = 'contacted' WHERE id = :'cyd';
-- Cyd: fit 20; two demos now: 80 raw, the Intent cap 60: 80, both thresholds
BEGIN;
INSERT INTO crm.engagement_event (lead_id, event_type, occurred_at) VALUES (:'cyd', 'demo_request', now()), (:'cyd', 'demo_request', now());
SELECT event_type, payload FROM crm.outbox WHERE entity_id = :'cyd' ORDER BY event_type;
SELECT stage, lead_score FROM crm.score WHERE record_id = :'cyd';
SELECT status FROM crm.lead WHERE id = :'cyd';
COMMIT;
-- more events: no new crossing, no new event
INSERT INTO crm.engagement_event (lead_id, event_type, occurred_at) VALUES (:'cyd', 'page_view', now());
SELECT count(*) AS events FROM crm.outbox WHERE entity_id = :'cyd';
-- a year on, decay takes Cyd below both thresholds (no event going down) ...
RESET ROLE;
SELECT crm.decay_scores(now() + interval '1 year') > 0 AS refreshed;
SET ROLE scoring_admin;
SELECT stage FROM crm.score WHERE record_id = :'cyd';
-- ... and the next write (as of now) crosses again: new events
INSERT INTO crm.engagement_event (lead_id, event_type, occurred_at) VALUES (:'cyd', 'page_view', now());
SELECT event_type, count(*) FROM crm.outbox WHERE entity_id = :'cyd' GROUP BY 1 ORDER BY 1;

-- ---------------------------------------------------------------------------
-- A change of a fit field re-scores that row; a rule change re-scores the
-- tenant.
-- ---------------------------------------------------------------------------
UPDATE crm.lead SET lead_source = 'referral' WHERE id = :'bob';
SELECT fit_score FROM crm.score WHERE record_id = :'bob';
UPDATE crm.scoring_rule SET points = 5 WHERE name = 'Referral source';
SELECT l.last_name, s.fit_score FROM crm.score s JOIN crm.lead l ON l.id = s.lead_id ORDER BY 1;
SELECT * FROM crm.verify() WHERE "check" = 'scores';

-- ---------------------------------------------------------------------------
-- One statement = row by row = recomputation.  The same 3,000 events
-- (pseudo-random types, properties and times over 60 leads) go once in one
-- statement to leads A*, once row by row to leads B*; the tallies, the
-- stored weighted sums and the scores agree, and crm.verify() (the
-- recomputation from the events) finds nothing.
-- ---------------------------------------------------------------------------
INSERT INTO crm.lead (last_name, title) SELECT 'A' || g, CASE WHEN g % 3 = 0 THEN 'VP' END FROM generate_series(1, 60) g;
INSERT INTO crm.lead (last_name, title) SELECT 'B' || g, CASE WHEN g % 3 = 0 THEN 'VP' END FROM generate_series(1, 60) g;
CREATE TEMP TABLE gen AS
SELECT g, 1 + (hashint4(g) & 1023) % 60 AS n,
	   (ARRAY['demo_request', 'pricing_viewed', 'webinar_attended', 'page_view', 'unsubscribe', 'email_open'])[1 + (hashint4(g * 7) & 1023) % 6] AS t,
	   timestamptz '2026-01-01' + ((hashint4(g * 13) & 1048575) % 200000) * interval '1 minute' AS at,
	   CASE WHEN g % 2 = 0 THEN '{"live": true}' ELSE '{}' END::jsonb AS props
  FROM generate_series(1, 3000) g;
INSERT INTO crm.engagement_event (lead_id, event_type, occurred_at, properties)
SELECT l.id, gen.t, gen.at, gen.props FROM gen JOIN crm.lead l ON l.last_name = 'A' || gen.n ORDER BY gen.g;
DO $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT l.id, gen.t, gen.at, gen.props FROM gen JOIN crm.lead l ON l.last_name = 'B' || gen.n ORDER BY gen.g DESC LOOP
		INSERT INTO crm.engagement_event (lead_id, event_type, occurred_at, properties) VALUES (r.id, r.t, r.at, r.props);
	END LOOP;
END $$;
SELECT count(*) AS pairs,
	   count(*) FILTER (WHERE abs(a.engagement_ref - b.engagement_ref) <= 1e-9 * greatest(1, abs(a.engagement_ref))) AS same_weighted
  FROM crm.score a JOIN crm.lead la ON la.id = a.lead_id AND la.last_name LIKE 'A%' AND la.last_name <> 'Ada'
  JOIN crm.lead lb ON lb.last_name = 'B' || substr(la.last_name, 2) JOIN crm.score b ON b.record_id = lb.id;
SELECT count(*) AS differing_as_of
  FROM crm.lead la JOIN crm.lead lb ON lb.last_name = 'B' || substr(la.last_name, 2)
 WHERE la.last_name ~ '^A[0-9]'
   AND (SELECT row(s.*) FROM crm.score_as_of(la.id, '2026-05-01') s) IS DISTINCT FROM (SELECT row(s.*) FROM crm.score_as_of(lb.id, '2026-05-01') s);
SELECT * FROM crm.verify() WHERE "check" = 'scores';
-- COPY takes the same path (one statement): 3 page views (3 points), an
-- email open (no rule now), a demo at the instant asked (40)
INSERT INTO crm.lead (id, last_name) VALUES ('5c000000-0000-7000-8000-0000000000aa', 'Copy');
RESET ROLE;
COPY crm.engagement_event (lead_id, event_type, occurred_at, properties) FROM STDIN;
5c000000-0000-7000-8000-0000000000aa	page_view	2026-03-05 10:00:00+00	{}
5c000000-0000-7000-8000-0000000000aa	page_view	2026-03-05 10:00:00+00	{}
5c000000-0000-7000-8000-0000000000aa	page_view	2026-03-06 10:00:00+00	{"url": "/docs"}
5c000000-0000-7000-8000-0000000000aa	email_open	2026-03-05 10:00:00+00	{}
5c000000-0000-7000-8000-0000000000aa	demo_request	2026-03-07 00:00:00+00	{}
\.
SET ROLE scoring_admin;
SELECT * FROM crm.score_as_of('5c000000-0000-7000-8000-0000000000aa', '2026-03-07');

-- Deleting events re-scores their records from what remains (pruning
-- without losing points: "Retention" below).
DELETE FROM crm.engagement_event WHERE occurred_at < '2026-02-01';
SELECT * FROM crm.verify() WHERE "check" = 'scores';

-- Contacts are scored too.
INSERT INTO crm.contact (last_name) VALUES ('Contact') RETURNING id AS con \gset
INSERT INTO crm.engagement_event (contact_id, event_type, occurred_at) VALUES (:'con', 'demo_request', '2026-03-01');
SELECT * FROM crm.score_as_of(:'con', '2026-03-11');

-- ---------------------------------------------------------------------------
-- Bad input
-- ---------------------------------------------------------------------------
\set VERBOSITY terse
-- unknown event types: refused by default ...
INSERT INTO crm.engagement_event (lead_id, event_type) VALUES (:'ada', 'teleport');
-- ... a tenant-defined type is accepted, and scored once a rule counts it
INSERT INTO crm.engagement_event_type (name, description) VALUES ('trial_extended', 'Asked for a longer trial');
INSERT INTO crm.engagement_event (lead_id, event_type, occurred_at) VALUES (:'ada', 'trial_extended', '2026-03-01');
-- ... or accepted unscored when the tenant says so
UPDATE crm.scoring_settings SET unknown_event_types = 'accept';
INSERT INTO crm.engagement_event (lead_id, event_type, occurred_at) VALUES (:'ada', 'teleport', '2026-03-01');
UPDATE crm.scoring_settings SET unknown_event_types = 'reject';
-- exactly one of lead and contact
INSERT INTO crm.engagement_event (event_type) VALUES ('page_view');
INSERT INTO crm.engagement_event (lead_id, contact_id, event_type) VALUES (:'ada', :'con', 'page_view');
-- another tenant's lead: the tenant-first foreign key refuses it
SET crm.organization_id = :'other';
INSERT INTO crm.engagement_event (lead_id, event_type) VALUES (:'ada', 'page_view');
SET crm.organization_id = :'org';
-- malformed rules
INSERT INTO crm.scoring_rule (group_id, kind, name, entity, criteria, points)
SELECT id, 'fit', 'Broken', 'lead', '{"field": "shoe_size", "op": "eq", "value": 42}', 5 FROM crm.scoring_group WHERE name = 'Fit';
INSERT INTO crm.scoring_rule (group_id, kind, name, entity, criteria, points)
SELECT id, 'fit', 'Broken', 'lead', '{"field": "title", "op": "teleport"}', 5 FROM crm.scoring_group WHERE name = 'Fit';
INSERT INTO crm.scoring_rule (group_id, kind, name, event_type, criteria, points)
SELECT id, 'engagement', 'Both', 'page_view', '{"field": "title", "op": "is_null"}', 5 FROM crm.scoring_group WHERE name = 'Noise';
INSERT INTO crm.scoring_rule (group_id, kind, name, event_type, points)
SELECT id, 'fit', 'Wrong kind', 'page_view', 5 FROM crm.scoring_group WHERE name = 'Noise';
INSERT INTO crm.scoring_rule (group_id, kind, name, entity, criteria, points)
SELECT id, 'fit', 'Fit rule in an engagement group', 'lead', '{"field": "title", "op": "is_null"}', 5 FROM crm.scoring_group WHERE name = 'Noise';
INSERT INTO crm.scoring_rule (group_id, kind, name, event_type, points, window_days)
SELECT id, 'engagement', 'Window without cap', 'page_view', 5, 7 FROM crm.scoring_group WHERE name = 'Noise';
INSERT INTO crm.scoring_rule (group_id, kind, name, event_type, points)
SELECT id, 'engagement', 'Zero', 'page_view', 0 FROM crm.scoring_group WHERE name = 'Noise';
INSERT INTO crm.scoring_group (name, kind, half_life_days) VALUES ('Fast', 'engagement', 1);
INSERT INTO crm.scoring_group (name, kind, half_life_days) VALUES ('Fit decay', 'fit', 30);
SELECT * FROM crm.score_as_of(:'ada', 'infinity');
SELECT * FROM crm.score_as_of('00000000-0000-7000-8000-000000000000', '2026-01-01');
SELECT * FROM crm.explain_score('00000000-0000-7000-8000-000000000000');
SELECT * FROM crm.hottest_leads(0);
\set VERBOSITY default
SELECT * FROM crm.verify() WHERE "check" = 'scores';

-- ---------------------------------------------------------------------------
-- Retention: crm.prune_engagement_events (job prune_engagement_events)
-- folds the events older than retain_days into crm.score_base and deletes
-- them.  No tally or score changes, crm.verify() (the recomputation from
-- the base and the remaining events) finds nothing, and a twin tenant that
-- keeps every event scores the same at every instant from the horizon on
-- -- also after the model changes the base follows (points, reference
-- time, caps, deactivation).  A rule that counts other events than before
-- forgets the pruned ones.
-- ---------------------------------------------------------------------------
RESET ROLE;
SELECT name, schedule, command FROM crm.job WHERE name = 'prune_engagement_events';
SELECT crm.create_organization('Keep Co') AS keep \gset
SELECT crm.create_organization('Prune Co') AS prune \gset
-- the same 12 leads and 600 events (January to May) in both
CREATE TEMP TABLE twin_events AS
SELECT g, 1 + (hashint4(g) & 1023) % 12 AS n,
	   (ARRAY['demo_request', 'pricing_viewed', 'page_view', 'email_click', 'signup_started', 'email_open'])[1 + (hashint4(g * 7) & 1023) % 6] AS t,
	   timestamptz '2026-01-01' + ((hashint4(g * 13) & 1048575) % 200000) * interval '1 minute' AS at
  FROM generate_series(1, 600) g;
CREATE FUNCTION pg_temp.twin_fill(o uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('crm.organization_id', o::text, true);
	UPDATE crm.scoring_rule SET max_points = 30, window_days = 7 WHERE organization_id = o AND name = 'Pricing viewed';
	INSERT INTO crm.lead (organization_id, last_name) SELECT o, 'Twin ' || g FROM generate_series(1, 12) g;
	INSERT INTO crm.engagement_event (organization_id, lead_id, event_type, occurred_at)
	SELECT o, l.id, e.t, e.at FROM twin_events e JOIN crm.lead l ON l.organization_id = o AND l.last_name = 'Twin ' || e.n
	 ORDER BY e.g;
END $$;
SELECT pg_temp.twin_fill(:'keep'), pg_temp.twin_fill(:'prune');
-- the leads whose scores differ between the twins at an instant
CREATE FUNCTION pg_temp.twin_diff(at timestamptz) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	r record;
	a text;
	b text;
	n bigint := 0;
BEGIN
	FOR r IN SELECT k.id AS kid, p.id AS pid
			   FROM crm.lead k JOIN crm.lead p ON p.last_name = k.last_name AND p.organization_id = current_setting('twin.prune')::uuid
			  WHERE k.organization_id = current_setting('twin.keep')::uuid LOOP
		PERFORM set_config('crm.organization_id', current_setting('twin.keep'), true);
		SELECT s::text INTO a FROM crm.score_as_of(r.kid, at) s;
		PERFORM set_config('crm.organization_id', current_setting('twin.prune'), true);
		SELECT s::text INTO b FROM crm.score_as_of(r.pid, at) s;
		IF a IS DISTINCT FROM b THEN
			n := n + 1;
		END IF;
	END LOOP;
	RETURN n;
END $$;
SET twin.keep = :'keep';
SET twin.prune = :'prune';
-- without retain_days nothing is pruned
SELECT crm.prune_engagement_events('2026-04-01 15:00') AS pruned;
-- Prune Co keeps 45 days: on April 1st, the events before February 15th
-- (the start of that day, UTC) go
UPDATE crm.scoring_settings SET retain_days = 45 WHERE organization_id = :'prune';
CREATE TEMP TABLE tally_before AS SELECT * FROM crm.score_tally WHERE organization_id = :'prune';
CREATE TEMP TABLE score_before AS SELECT * FROM crm.score WHERE organization_id = :'prune';
SELECT count(*) AS to_prune FROM crm.engagement_event WHERE organization_id = :'prune' AND occurred_at < '2026-02-15';
SELECT crm.prune_engagement_events('2026-04-01 15:00') AS pruned;
SELECT pruned_before FROM crm.scoring_settings WHERE organization_id = :'prune';
SELECT count(*) AS events_left, min(occurred_at) >= '2026-02-15' AS none_before_horizon
  FROM crm.engagement_event WHERE organization_id = :'prune';
SELECT count(*) > 0 AS folded, sum(events) AS events_folded FROM crm.score_base WHERE organization_id = :'prune';
-- nothing stored changed
SELECT (SELECT count(*) FROM (SELECT * FROM crm.score_tally WHERE organization_id = :'prune') t
		   FULL JOIN tally_before b USING (organization_id, record_id, rule_id, bucket)
		 WHERE row(t.events, t.raw_points, t.weighted) IS DISTINCT FROM row(b.events, b.raw_points, b.weighted)) AS tally_changes,
	   (SELECT count(*) FROM crm.score s JOIN score_before b USING (organization_id, record_id)
		 WHERE row(s.*) IS DISTINCT FROM row(b.*)) AS score_changes;
SELECT * FROM crm.verify() WHERE "check" = 'scores';
SELECT pg_temp.twin_diff('2026-02-15') AS at_horizon, pg_temp.twin_diff('2026-03-20') AS in_march,
	   pg_temp.twin_diff('2026-06-01') AS in_june;
-- the same day again: nothing to do
SELECT crm.prune_engagement_events('2026-04-01 23:00') AS pruned;
-- before the horizon nothing can be recomputed
\set VERBOSITY terse
SET crm.organization_id = :'prune';
SELECT id AS twin1 FROM crm.lead WHERE organization_id = :'prune' AND last_name = 'Twin 1' \gset
SELECT * FROM crm.score_as_of(:'twin1', '2026-02-14');
SELECT count(*) FROM crm.explain_score(:'twin1', '2026-02-14');
\set VERBOSITY default
-- model changes in both twins: the base follows them
UPDATE crm.scoring_rule SET points = 45 WHERE organization_id IN (:'keep', :'prune') AND name = 'Demo request';
UPDATE crm.scoring_settings SET reference_at = '2026-03-01' WHERE organization_id IN (:'keep', :'prune');
UPDATE crm.scoring_rule SET max_points = 25 WHERE organization_id IN (:'keep', :'prune') AND name = 'Pricing viewed';
UPDATE crm.scoring_rule SET is_active = false WHERE organization_id IN (:'keep', :'prune') AND name = 'Email click';
SELECT pg_temp.twin_diff('2026-03-20') AS after_changes;
UPDATE crm.scoring_rule SET is_active = true WHERE organization_id IN (:'keep', :'prune') AND name = 'Email click';
SELECT pg_temp.twin_diff('2026-03-20') AS after_reactivation, pg_temp.twin_diff('2026-06-01') AS in_june;
SELECT * FROM crm.verify() WHERE "check" = 'scores';
-- a second, longer prune (30 days on May 1st: before April 1st)
UPDATE crm.scoring_settings SET retain_days = 30 WHERE organization_id = :'prune';
SELECT crm.prune_engagement_events('2026-05-01') > 0 AS pruned_more;
SELECT pruned_before FROM crm.scoring_settings WHERE organization_id = :'prune';
SELECT pg_temp.twin_diff('2026-04-01') AS at_new_horizon, pg_temp.twin_diff('2026-06-01') AS in_june;
SELECT * FROM crm.verify() WHERE "check" = 'scores';
-- a rule that counts other events than before (here: another window)
-- forgets the pruned events it had counted: the twins differ where those
-- were, and scores still equal the recomputation
SELECT count(*) > 0 AS pricing_folded FROM crm.score_base b JOIN crm.scoring_rule r ON r.id = b.rule_id
 WHERE b.organization_id = :'prune' AND r.name = 'Pricing viewed';
UPDATE crm.scoring_rule SET window_days = 14 WHERE organization_id IN (:'keep', :'prune') AND name = 'Pricing viewed';
SELECT count(*) AS pricing_folded FROM crm.score_base b JOIN crm.scoring_rule r ON r.id = b.rule_id
 WHERE b.organization_id = :'prune' AND r.name = 'Pricing viewed';
SELECT pg_temp.twin_diff('2026-04-01') > 0 AS twins_differ;
SELECT * FROM crm.verify() WHERE "check" = 'scores';
-- a deleted lead takes its folded events along
SELECT count(*) > 0 AS twin1_folded FROM crm.score_base WHERE organization_id = :'prune' AND record_id = :'twin1';
DELETE FROM crm.lead WHERE organization_id = :'prune' AND id = :'twin1';
SELECT count(*) AS twin1_folded FROM crm.score_base WHERE organization_id = :'prune' AND record_id = :'twin1';
-- A deleted rule or group takes its tally along (derived data: no foreign
-- key), and crm.verify() reports a tally row of a rule that does not exist.
DELETE FROM crm.scoring_rule WHERE organization_id = :'keep' AND name = 'Email click';
DELETE FROM crm.scoring_group WHERE organization_id = :'keep' AND name = 'Engagement';
SELECT count(*) AS orphan_tallies FROM crm.score_tally t
 WHERE t.organization_id = :'keep'
   AND NOT EXISTS (SELECT 1 FROM crm.scoring_rule r WHERE r.organization_id = t.organization_id AND r.id = t.rule_id);
SELECT * FROM crm.verify() WHERE "check" = 'scores';
INSERT INTO crm.score_tally (organization_id, record_id, rule_id, bucket, events, raw_points, weighted)
SELECT :'keep', id, '00000000-0000-7000-8000-0000000000ff', 0, 1, 1, 1 FROM crm.lead
 WHERE organization_id = :'keep' AND last_name = 'Twin 2';
SELECT "check", entity, expected, actual FROM crm.verify() WHERE "check" = 'scores';
DELETE FROM crm.score_tally WHERE rule_id = '00000000-0000-7000-8000-0000000000ff';
\set VERBOSITY terse
SELECT crm.prune_engagement_events('infinity');
UPDATE crm.scoring_settings SET retain_days = 0 WHERE organization_id = :'prune';
\set VERBOSITY default
RESET twin.keep;
RESET twin.prune;
SET crm.organization_id = :'org';
SET ROLE scoring_admin;

-- Restore mode: events loaded by a restore are not counted again.
SELECT count(*) AS tally_rows FROM crm.score_tally WHERE organization_id = :'org' \gset
RESET ROLE;
SET crm.restoring = on;
INSERT INTO crm.engagement_event (lead_id, event_type, occurred_at) VALUES (:'ada', 'demo_request', '2026-03-01');
DELETE FROM crm.engagement_event WHERE lead_id = :'ada' AND event_type = 'demo_request';
RESET crm.restoring;
SELECT count(*) = :tally_rows AS tally_unchanged FROM crm.score_tally WHERE organization_id = :'org';
DROP TABLE gen, twin_events, tally_before, score_before;
SELECT crm.revoke_access('scoring_admin');
DROP ROLE scoring_admin;
