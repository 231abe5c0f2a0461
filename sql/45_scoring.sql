-- ============================================================================
-- 45 scoring: engagement events, the per-tenant scoring model, scores of
-- leads and contacts that equal a recomputation at every instant
-- (doc/scoring.md; src/scoring.c)
--
-- The derived state is crm.score_tally: one row per (record, rule, window)
-- with the number of events, their raw points and their points weighted to
-- the tenant's reference time (points * 2^((occurred_at - reference_at) /
-- half_life)).  A score at any instant is computed from it (crm._score_at):
-- rule caps apply per window to the raw points (scaling the weighted points
-- in proportion), decay is one multiplication per group, then group caps,
-- then the total is clamped to 0..100.  Since the weighted points do not
-- change with time, the order of records by them never changes either:
-- crm.score.engagement_ref is indexed, and "hottest now" is an index scan.
-- ============================================================================

-- The scoring settings of an organization (one row, seeded).
CREATE TABLE crm.scoring_settings (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	total_cap	numeric(8,2) NOT NULL DEFAULT 100,
	mql_threshold numeric(8,2) NOT NULL DEFAULT 60,
	sql_threshold numeric(8,2) NOT NULL DEFAULT 80,
	unknown_event_types text NOT NULL DEFAULT 'reject',
	reference_at timestamptz NOT NULL DEFAULT '2026-01-01 00:00:00+00',
	retain_days	integer,
	pruned_before timestamptz,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT scoring_settings_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT scoring_settings_one_per_org UNIQUE (organization_id),
	CONSTRAINT scoring_settings_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT scoring_settings_total_cap_range CHECK (total_cap > 0 AND total_cap <= 100),
	CONSTRAINT scoring_settings_thresholds_order CHECK (mql_threshold > 0 AND mql_threshold <= sql_threshold),
	CONSTRAINT scoring_settings_unknown_valid CHECK (unknown_event_types IN ('reject', 'accept')),
	CONSTRAINT scoring_settings_reference_finite CHECK (pg_catalog.isfinite(reference_at)),
	CONSTRAINT scoring_settings_retain_days_positive CHECK (retain_days >= 1),
	CONSTRAINT scoring_settings_pruned_before_finite CHECK (pg_catalog.isfinite(pruned_before))
);
COMMENT ON TABLE crm.scoring_settings IS 'Scoring settings of an organization (one row, seeded by crm.create_organization).';
COMMENT ON COLUMN crm.scoring_settings.total_cap IS 'Upper bound of lead_score (at most 100; the lower bound is 0).';
COMMENT ON COLUMN crm.scoring_settings.mql_threshold IS 'lead_score at which a lead becomes marketing-qualified (event lead.mql).';
COMMENT ON COLUMN crm.scoring_settings.sql_threshold IS 'lead_score at which a lead becomes sales-qualified (event lead.sql; status new/contacted/nurturing becomes qualified).';
COMMENT ON COLUMN crm.scoring_settings.unknown_event_types IS 'reject: an engagement event of a type not in crm.engagement_event_type is an error (22023); accept: stored, scored by no rule.';
COMMENT ON COLUMN crm.scoring_settings.reference_at IS 'The fixed instant decaying points are stored at (crm.score_tally.weighted); changing it re-scores the organization.';
COMMENT ON COLUMN crm.scoring_settings.retain_days IS 'Retention: crm.prune_engagement_events (job prune_engagement_events) folds events that occurred more than this many days ago into crm.score_base and deletes them; NULL: events are kept.';
COMMENT ON COLUMN crm.scoring_settings.pruned_before IS 'Set by crm.prune_engagement_events: the events that occurred before it are folded into crm.score_base (scores as of an earlier instant cannot be recomputed); NULL: none pruned.';
SELECT crm._setup_tenant_table('crm.scoring_settings', label => 'scoring settings');

-- Event types an organization knows (the built-in ones are seeded).
CREATE TABLE crm.engagement_event_type (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	name		text NOT NULL,
	description	text,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT engagement_event_type_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT engagement_event_type_name_key UNIQUE (organization_id, name),
	CONSTRAINT engagement_event_type_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT engagement_event_type_name_format CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$')
);
COMMENT ON TABLE crm.engagement_event_type IS 'The engagement event types of an organization: page_view, form_submit, email_open, ... (seeded) and its own.';
COMMENT ON COLUMN crm.engagement_event_type.name IS 'Type name (lower snake_case), as in crm.engagement_event.event_type.';
COMMENT ON COLUMN crm.engagement_event_type.description IS 'What the event means.';
SELECT crm._setup_tenant_table('crm.engagement_event_type', label => 'engagement event type');

-- Groups of rules: fit (who the record is) or engagement (what it did).
CREATE TABLE crm.scoring_group (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	name		text NOT NULL,
	kind		text NOT NULL,
	cap			numeric(8,2),
	half_life_days numeric(10,3),
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT scoring_group_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT scoring_group_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT scoring_group_kind_valid CHECK (kind IN ('fit', 'engagement')),
	CONSTRAINT scoring_group_cap_positive CHECK (cap > 0),
	CONSTRAINT scoring_group_half_life_valid CHECK (half_life_days IS NULL OR (kind = 'engagement' AND half_life_days >= 7)),
	CONSTRAINT scoring_group_name_not_blank CHECK (pg_catalog.btrim(name) <> '')
);
COMMENT ON TABLE crm.scoring_group IS 'A group of scoring rules: fit or engagement, with a cap on its points and (engagement) a half-life.';
COMMENT ON COLUMN crm.scoring_group.name IS 'Group name.';
COMMENT ON COLUMN crm.scoring_group.kind IS 'fit (criteria over the record''s fields) or engagement (engagement events).';
COMMENT ON COLUMN crm.scoring_group.cap IS 'At most this many points from the group (after decay); NULL: no cap.';
COMMENT ON COLUMN crm.scoring_group.half_life_days IS 'Engagement: the points of an event halve every this many days (at least 7); NULL: no decay.';
SELECT crm._setup_tenant_table('crm.scoring_group', label => 'scoring group');

CREATE TABLE crm.scoring_rule (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	group_id	uuid NOT NULL,
	kind		text NOT NULL,
	name		text NOT NULL,
	event_type	text,
	property_match jsonb,
	entity		text,
	criteria	jsonb,
	points		numeric(8,2) NOT NULL,
	max_points	numeric(8,2),
	window_days	integer,
	is_active	boolean NOT NULL DEFAULT true,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT scoring_rule_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT scoring_rule_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT scoring_rule_group_fkey FOREIGN KEY (organization_id, group_id)
		REFERENCES crm.scoring_group (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT scoring_rule_name_not_blank CHECK (pg_catalog.btrim(name) <> ''),
	CONSTRAINT scoring_rule_shape CHECK (CASE kind
		WHEN 'engagement' THEN event_type IS NOT NULL AND entity IS NULL AND criteria IS NULL
		WHEN 'fit' THEN event_type IS NULL AND property_match IS NULL AND entity IN ('lead', 'contact')
						AND criteria IS NOT NULL AND max_points IS NULL AND window_days IS NULL
		ELSE false END),
	CONSTRAINT scoring_rule_property_match_object CHECK (jsonb_typeof(property_match) = 'object'),
	CONSTRAINT scoring_rule_criteria_object CHECK (jsonb_typeof(criteria) = 'object'),
	CONSTRAINT scoring_rule_points_nonzero CHECK (points <> 0),
	CONSTRAINT scoring_rule_max_points_positive CHECK (max_points > 0),
	CONSTRAINT scoring_rule_window_valid CHECK (window_days IS NULL OR (window_days BETWEEN 1 AND 3650 AND max_points IS NOT NULL))
);
COMMENT ON TABLE crm.scoring_rule IS 'A scoring rule: engagement (an event type, optionally with a property condition, gives points, capped per window) or fit (a criteria document over the lead or contact gives points).';
COMMENT ON COLUMN crm.scoring_rule.group_id IS 'The crm.scoring_group.';
COMMENT ON COLUMN crm.scoring_rule.kind IS 'The group''s kind (fit or engagement); a rule of another kind than its group is refused (23514).';
COMMENT ON COLUMN crm.scoring_rule.name IS 'Rule name (shown by crm.explain_score).';
COMMENT ON COLUMN crm.scoring_rule.event_type IS 'Engagement: the event type the rule counts.';
COMMENT ON COLUMN crm.scoring_rule.property_match IS 'Engagement: counts only events whose properties contain this object (jsonb @>); NULL: every event of the type.';
COMMENT ON COLUMN crm.scoring_rule.entity IS 'Fit: lead or contact, the entity the criteria document is about.';
COMMENT ON COLUMN crm.scoring_rule.criteria IS 'Fit: a criteria document (doc/criteria.md) the record must match.';
COMMENT ON COLUMN crm.scoring_rule.points IS 'Points per event (engagement) or for a match (fit); negative allowed, never 0.';
COMMENT ON COLUMN crm.scoring_rule.max_points IS 'Engagement: at most this many points (in absolute value) per window; NULL: no cap.';
COMMENT ON COLUMN crm.scoring_rule.window_days IS 'Engagement: the cap''s window in days (windows are aligned to 1970-01-01 UTC); NULL with a cap: the cap holds over all time.';
COMMENT ON COLUMN crm.scoring_rule.is_active IS 'Inactive rules count nothing.';
SELECT crm._setup_tenant_table('crm.scoring_rule', label => 'scoring rule');

-- The events.  Append-only and high volume: no stamp, no audit (the row is
-- its own record), one statement trigger that scores a whole INSERT/COPY.
CREATE TABLE crm.engagement_event (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	lead_id		uuid,
	contact_id	uuid,
	event_type	text NOT NULL,
	occurred_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	properties	jsonb NOT NULL DEFAULT '{}',
	source		text,
	url			text,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT engagement_event_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT engagement_event_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT engagement_event_lead_fkey FOREIGN KEY (organization_id, lead_id) REFERENCES crm.lead (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT engagement_event_contact_fkey FOREIGN KEY (organization_id, contact_id) REFERENCES crm.contact (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT engagement_event_one_subject CHECK ((lead_id IS NULL) <> (contact_id IS NULL)),
	CONSTRAINT engagement_event_properties_object CHECK (jsonb_typeof(properties) = 'object'),
	CONSTRAINT engagement_event_occurred_finite CHECK (pg_catalog.isfinite(occurred_at))
);
CREATE INDEX engagement_event_lead_idx ON crm.engagement_event (organization_id, lead_id, occurred_at) WHERE lead_id IS NOT NULL;
CREATE INDEX engagement_event_contact_idx ON crm.engagement_event (organization_id, contact_id, occurred_at) WHERE contact_id IS NOT NULL;
COMMENT ON TABLE crm.engagement_event IS 'What a lead or contact did (page view, email click, demo request, ...): append-only, built for COPY; scored by crm.trg_engagement_score.';
COMMENT ON COLUMN crm.engagement_event.lead_id IS 'The lead (exactly one of lead_id, contact_id).';
COMMENT ON COLUMN crm.engagement_event.contact_id IS 'The contact (exactly one of lead_id, contact_id).';
COMMENT ON COLUMN crm.engagement_event.event_type IS 'A type of crm.engagement_event_type (unknown types: see crm.scoring_settings.unknown_event_types).';
COMMENT ON COLUMN crm.engagement_event.occurred_at IS 'When it happened (decay counts from here).';
COMMENT ON COLUMN crm.engagement_event.properties IS 'Event details (JSON object); rules may require some (scoring_rule.property_match).';
COMMENT ON COLUMN crm.engagement_event.source IS 'The system that reported it (web, email, ...).';
COMMENT ON COLUMN crm.engagement_event.url IS 'The page or link concerned.';
SELECT crm._setup_tenant_table('crm.engagement_event', audited => false, label => 'engagement event');

-- The derived state: per record, rule and cap window.
CREATE TABLE crm.score_tally (
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	record_id	uuid NOT NULL,
	rule_id		uuid NOT NULL,
	bucket		bigint NOT NULL,
	events		bigint NOT NULL,
	raw_points	numeric NOT NULL,
	weighted	double precision NOT NULL,
	CONSTRAINT score_tally_pkey PRIMARY KEY (organization_id, record_id, rule_id, bucket),
	CONSTRAINT score_tally_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id)
);
-- No foreign key to the rule: the tally is derived data, written only under
-- the tenant's model lock with the rules of the moment; the deletion of a
-- rule deletes its rows (crm.trg_scoring_model), and crm.verify() reports a
-- row whose rule does not exist.  (The key's check, one query per new tally
-- row, was a tenth of the cost of a bulk load of events.)
-- No index by rule: every read goes by record (the primary key), and an
-- index by (organization_id, rule_id) tempts the planner, before the table
-- is analysed, to read every tally of a rule to find one record's.  A rule
-- deletion (rare; it re-scores the tenant anyway) scans the tenant's tallies.
COMMENT ON TABLE crm.score_tally IS 'Derived (crm.verify() check score_tally): per lead or contact, rule and cap window, the events counted, their raw points and their points weighted to the reference time.';
COMMENT ON COLUMN crm.score_tally.record_id IS 'The lead or contact.';
COMMENT ON COLUMN crm.score_tally.rule_id IS 'The crm.scoring_rule.';
COMMENT ON COLUMN crm.score_tally.bucket IS 'The cap window: floor(epoch days / window_days); 0 for rules without a window and fit rules.';
COMMENT ON COLUMN crm.score_tally.events IS 'Events counted (1 for a matching fit rule).';
COMMENT ON COLUMN crm.score_tally.raw_points IS 'Sum of the rule''s points over those events.';
COMMENT ON COLUMN crm.score_tally.weighted IS 'Sum of points * 2^((occurred_at - reference_at) / half_life) (raw points when the group does not decay).';
SELECT crm._setup_tenant_table('crm.score_tally', audited => false, label => 'score tally');

-- Pruned events, folded (crm.prune_engagement_events): per record, rule
-- and cap window, the number of events and their weights at one point --
-- what crm.score_tally needs of them for any points the rule may be given
-- later.  Events and base together are what scores are recomputed from.
CREATE TABLE crm.score_base (
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	record_id	uuid NOT NULL,
	rule_id		uuid NOT NULL,
	bucket		bigint NOT NULL,
	events		bigint NOT NULL,
	weight		double precision NOT NULL,
	CONSTRAINT score_base_pkey PRIMARY KEY (organization_id, record_id, rule_id, bucket),
	CONSTRAINT score_base_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT score_base_rule_fkey FOREIGN KEY (organization_id, rule_id) REFERENCES crm.scoring_rule (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT score_base_events_positive CHECK (events > 0)
);
COMMENT ON TABLE crm.score_base IS 'Engagement events pruned by crm.prune_engagement_events, folded per lead or contact, rule and cap window: scores are recomputed from these and the events that remain (doc/scoring.md, "Retention").';
COMMENT ON COLUMN crm.score_base.record_id IS 'The lead or contact.';
COMMENT ON COLUMN crm.score_base.rule_id IS 'The crm.scoring_rule that counted the events (inactive rules included: reactivated, they count them again).';
COMMENT ON COLUMN crm.score_base.bucket IS 'The cap window, as in crm.score_tally.';
COMMENT ON COLUMN crm.score_base.events IS 'Events folded.';
COMMENT ON COLUMN crm.score_base.weight IS 'Sum over those events of 2^((occurred_at - reference_at) / half_life) (the number of events when the rule''s group does not decay): the tally takes points * weight.';
SELECT crm._setup_tenant_table('crm.score_base', audited => false, label => 'score base');

-- The score of a lead or contact (id = the record's id).
CREATE TABLE crm.score (
	record_id	uuid NOT NULL,
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	lead_id		uuid,
	contact_id	uuid,
	engagement_ref double precision NOT NULL DEFAULT 0,
	fit_score	numeric(8,2) NOT NULL DEFAULT 0,
	engagement_score numeric(8,2) NOT NULL DEFAULT 0,
	lead_score	numeric(5,2) NOT NULL DEFAULT 0,
	stage		text NOT NULL DEFAULT 'none',
	score_updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT score_pkey PRIMARY KEY (organization_id, record_id),
	CONSTRAINT score_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT score_one_subject CHECK ((lead_id IS NULL) <> (contact_id IS NULL) AND record_id = coalesce(lead_id, contact_id)),
	CONSTRAINT score_stage_valid CHECK (stage IN ('none', 'mql', 'sql')),
	CONSTRAINT score_lead_score_range CHECK (lead_score BETWEEN 0 AND 100)
);
CREATE INDEX score_hottest_idx ON crm.score (organization_id, engagement_ref DESC) WHERE lead_id IS NOT NULL;
COMMENT ON TABLE crm.score IS 'Score of a lead or contact (derived from crm.score_tally; crm.verify() check scores). Order by engagement_ref DESC for the hottest now.';
COMMENT ON COLUMN crm.score.record_id IS 'The lead''s or contact''s id (derived data: no foreign key, so that merging or erasing records never has to touch scores; crm.trg_fit_score removes the score of a deleted record).';
COMMENT ON COLUMN crm.score.lead_id IS 'The lead (exactly one of lead_id, contact_id).';
COMMENT ON COLUMN crm.score.contact_id IS 'The contact.';
COMMENT ON COLUMN crm.score.engagement_ref IS 'Engagement points weighted to the reference time, before group caps: the current engagement is this times 2^(-(now - reference_at)/half_life), so the order by it is the order now (one half-life per tenant).';
COMMENT ON COLUMN crm.score.fit_score IS 'Fit points (after group caps) at score_updated_at.';
COMMENT ON COLUMN crm.score.engagement_score IS 'Engagement points (after decay and group caps) at score_updated_at; crm.score_as_of gives any instant.';
COMMENT ON COLUMN crm.score.lead_score IS 'fit + engagement, within 0 and the total cap, at score_updated_at.';
COMMENT ON COLUMN crm.score.stage IS 'none, mql or sql: the highest threshold lead_score reached at score_updated_at.';
COMMENT ON COLUMN crm.score.score_updated_at IS 'The instant the stored scores are of (the last write, or crm.decay_scores).';
SELECT crm._setup_tenant_table('crm.score', audited => false, label => 'score');

-- ---------------------------------------------------------------------------
-- Computing scores from the tally
-- ---------------------------------------------------------------------------

-- The contribution of every rule to each record at an instant: the tally
-- with rule caps (per window, in proportion), decay and group caps applied.
-- group_share is the rule's part of its group after the group cap (rules
-- share a capped group in proportion to their points, so the parts sum
-- exactly to the group).
CREATE FUNCTION crm._score_parts(org uuid, records uuid[], at timestamptz, from_events boolean DEFAULT false)
RETURNS TABLE (record_id uuid, rule_id uuid, group_id uuid, kind text, events bigint, raw_points numeric,
			   after_rule_cap numeric, after_decay double precision, after_group_cap double precision)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	-- two statements, not one with a branch switched off: a generic plan
	-- would still run the event recomputation
	IF from_events THEN
		-- the events up to the instant, and the stored fit part
		RETURN QUERY
	WITH s AS (SELECT x.reference_at FROM crm.scoring_settings x WHERE x.organization_id = org),
	t AS (
		SELECT y.record_id, y.rule_id, y.events, y.raw_points, y.weighted
		  FROM crm.score_tally y
		  JOIN crm.scoring_rule yr ON yr.organization_id = org AND yr.id = y.rule_id
		 WHERE y.organization_id = org AND y.record_id = ANY (records) AND yr.kind = 'fit'
		UNION ALL
		SELECT e.record_id, e.rule_id, e.events, e.raw_points, e.weighted
		  FROM crm._engagement_tally(org, records, at) e),
	per_rule AS (
		SELECT t.record_id, r.id AS rule_id, g.id AS group_id, g.kind, g.cap,
			   sum(t.events)::bigint AS events, sum(t.raw_points) AS raw_points,
			   sum(CASE WHEN r.max_points IS NULL OR abs(t.raw_points) <= r.max_points THEN t.raw_points
						ELSE sign(t.raw_points) * r.max_points END) AS after_rule_cap,
			   sum(CASE WHEN r.max_points IS NULL OR abs(t.raw_points) <= r.max_points THEN t.weighted
						ELSE t.weighted * (r.max_points / abs(t.raw_points))::float8 END)
				 * CASE WHEN g.half_life_days IS NULL THEN 1::float8
						ELSE pg_catalog.power(2::float8, -(extract(epoch FROM at - (SELECT reference_at FROM s))::float8
														   / (g.half_life_days::float8 * 86400))) END AS after_decay
		  FROM t
		  JOIN crm.scoring_rule r ON r.organization_id = org AND r.id = t.rule_id AND r.is_active
		  JOIN crm.scoring_group g ON g.organization_id = org AND g.id = r.group_id
		 GROUP BY t.record_id, r.id, g.id, g.kind, g.cap, g.half_life_days),
	per_group AS (
		SELECT p.*, sum(p.after_decay) OVER (PARTITION BY p.record_id, p.group_id) AS group_total
		  FROM per_rule p)
	SELECT q.record_id, q.rule_id, q.group_id, q.kind, q.events, q.raw_points, q.after_rule_cap, q.after_decay,
		   CASE WHEN q.cap IS NULL OR q.group_total <= q.cap::float8 THEN q.after_decay
				ELSE q.after_decay * (q.cap::float8 / q.group_total) END
	  FROM per_group q;
	ELSE
		-- the stored tally
		RETURN QUERY
	WITH s AS (SELECT x.reference_at FROM crm.scoring_settings x WHERE x.organization_id = org),
	t AS (
		SELECT y.record_id, y.rule_id, y.events, y.raw_points, y.weighted
		  FROM crm.score_tally y
		 WHERE y.organization_id = org AND y.record_id = ANY (records)),
	per_rule AS (
		SELECT t.record_id, r.id AS rule_id, g.id AS group_id, g.kind, g.cap,
			   sum(t.events)::bigint AS events, sum(t.raw_points) AS raw_points,
			   sum(CASE WHEN r.max_points IS NULL OR abs(t.raw_points) <= r.max_points THEN t.raw_points
						ELSE sign(t.raw_points) * r.max_points END) AS after_rule_cap,
			   sum(CASE WHEN r.max_points IS NULL OR abs(t.raw_points) <= r.max_points THEN t.weighted
						ELSE t.weighted * (r.max_points / abs(t.raw_points))::float8 END)
				 * CASE WHEN g.half_life_days IS NULL THEN 1::float8
						ELSE pg_catalog.power(2::float8, -(extract(epoch FROM at - (SELECT reference_at FROM s))::float8
														   / (g.half_life_days::float8 * 86400))) END AS after_decay
		  FROM t
		  JOIN crm.scoring_rule r ON r.organization_id = org AND r.id = t.rule_id AND r.is_active
		  JOIN crm.scoring_group g ON g.organization_id = org AND g.id = r.group_id
		 GROUP BY t.record_id, r.id, g.id, g.kind, g.cap, g.half_life_days),
	per_group AS (
		SELECT p.*, sum(p.after_decay) OVER (PARTITION BY p.record_id, p.group_id) AS group_total
		  FROM per_rule p)
	SELECT q.record_id, q.rule_id, q.group_id, q.kind, q.events, q.raw_points, q.after_rule_cap, q.after_decay,
		   CASE WHEN q.cap IS NULL OR q.group_total <= q.cap::float8 THEN q.after_decay
				ELSE q.after_decay * (q.cap::float8 / q.group_total) END
	  FROM per_group q;
	END IF;
END;
$$;
COMMENT ON FUNCTION crm._score_parts(uuid, uuid[], timestamptz, boolean) IS
	'Internal: each rule''s contribution to each record at an instant (events, raw points, after the rule cap, after decay, after the group cap), from the stored tally or (from_events) from the events that occurred up to the instant.';

-- Scores of records at an instant.
CREATE FUNCTION crm._score_at(org uuid, records uuid[], at timestamptz, from_events boolean DEFAULT false)
RETURNS TABLE (record_id uuid, engagement_ref double precision, fit_score numeric, engagement_score numeric, lead_score numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	total_cap numeric := (SELECT x.total_cap FROM crm.scoring_settings x WHERE x.organization_id = org);
BEGIN
	RETURN QUERY
	WITH p AS (SELECT * FROM crm._score_parts(org, records, at, from_events)),
	ref AS (
		SELECT t.record_id, sum(CASE WHEN r.max_points IS NULL OR abs(t.raw_points) <= r.max_points THEN t.weighted
									 ELSE t.weighted * (r.max_points / abs(t.raw_points))::float8 END) AS w
		  FROM crm.score_tally t
		  JOIN crm.scoring_rule r ON r.organization_id = org AND r.id = t.rule_id AND r.is_active AND r.kind = 'engagement'
		 WHERE t.organization_id = org AND t.record_id = ANY (records) AND NOT from_events
		 GROUP BY t.record_id),
	per_record AS (
		SELECT p.record_id, coalesce(sum(p.after_group_cap) FILTER (WHERE p.kind = 'fit'), 0) AS fit,
			   coalesce(sum(p.after_group_cap) FILTER (WHERE p.kind = 'engagement'), 0) AS eng
		  FROM p GROUP BY p.record_id),
	sums AS (
		SELECT u.id, coalesce(x.fit, 0) AS fit, coalesce(x.eng, 0) AS eng, coalesce(ref.w, 0) AS w
		  FROM (SELECT DISTINCT v.id FROM unnest(records) AS v(id)) u
		  LEFT JOIN per_record x ON x.record_id = u.id
		  LEFT JOIN ref ON ref.record_id = u.id)
	SELECT s.id, s.w, round(s.fit::numeric, 2), round(s.eng::numeric, 2),
		   round(least(greatest(s.fit + s.eng, 0), coalesce(total_cap, 100)::float8)::numeric, 2)
	  FROM sums s;
END;
$$;
COMMENT ON FUNCTION crm._score_at(uuid, uuid[], timestamptz, boolean) IS
	'Internal: fit, engagement and lead score of records at an instant, computed from crm.score_tally (or, from_events, from the events up to the instant).';

-- Lock the score rows of records (creating them), in id order: every
-- writer of a record's tally holds its score row lock, so concurrent
-- statements for one record are serialised and each recomputes from a
-- snapshot taken after the lock (no lost update at any isolation level).
CREATE FUNCTION crm._score_lock(org uuid, leads uuid[], contacts uuid[])
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	INSERT INTO crm.score AS s (record_id, organization_id, lead_id, contact_id)
	SELECT x.id, org, x.id, NULL FROM unnest(leads) AS x(id)
	UNION ALL
	SELECT x.id, org, NULL, x.id FROM unnest(contacts) AS x(id)
	ORDER BY 1
	ON CONFLICT ON CONSTRAINT score_pkey DO NOTHING;
	PERFORM 1 FROM crm.score s
	  WHERE s.organization_id = org AND s.record_id = ANY (coalesce(leads, '{}') || coalesce(contacts, '{}'))
	  ORDER BY s.record_id FOR UPDATE;
END;
$$;
COMMENT ON FUNCTION crm._score_lock(uuid, uuid[], uuid[]) IS
	'Internal: creates and locks (in id order) the crm.score rows of leads and contacts before their tally changes.';

-- Store the scores of records as of an instant, move thresholds, emit
-- crossings (src/scoring.c): the arithmetic of crm._score_at, in C, over
-- the records' tallies; rounding, the total cap and the stages in the
-- UPDATE that stores them.  The caller holds the records' score row locks.
CREATE FUNCTION crm._score_refresh(org uuid, records uuid[], at timestamptz DEFAULT pg_catalog.now())
RETURNS void
AS 'MODULE_PATHNAME', 'scoring_refresh'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION crm._score_refresh(uuid, uuid[], timestamptz) IS
	'Internal: stores the scores of records as of an instant (computed from crm.score_tally as crm._score_at computes them); a lead crossing the MQL or SQL threshold upwards emits lead.mql / lead.sql (and becomes qualified at SQL).';

-- The model lock of an organization (src/scoring.c): scorers hold it in
-- share mode to the end of their transaction, a model change in exclusive
-- mode; the exclusive lock also invalidates every backend's cached model
-- of the scoring tables when the change commits.
CREATE FUNCTION crm._score_model_lock(org uuid, exclusive boolean)
RETURNS void
AS 'MODULE_PATHNAME', 'scoring_model_lock'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION crm._score_model_lock(uuid, boolean) IS
	'Internal: takes the scoring model lock of an organization to the end of the transaction: share (scorers) or exclusive (a model change, which also invalidates the cached models of every backend).';

-- The engagement tally of records recomputed from their events (the
-- reference the trigger's incremental sums must equal).
CREATE FUNCTION crm._engagement_tally(org uuid, records uuid[], until timestamptz DEFAULT NULL)
RETURNS TABLE (record_id uuid, rule_id uuid, bucket bigint, events bigint, raw_points numeric, weighted double precision)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	horizon timestamptz := (SELECT x.pruned_before FROM crm.scoring_settings x WHERE x.organization_id = org);
BEGIN
	-- the events before the horizon are only in the base, folded: no
	-- instant before it can be recomputed
	IF until < horizon THEN
		RAISE EXCEPTION 'scores as of % cannot be recomputed: the events that occurred before % were pruned', until, horizon
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Ask for an instant at or after crm.scoring_settings.pruned_before (doc/scoring.md, "Retention").';
	END IF;
	RETURN QUERY
	SELECT x.record_id, x.rule_id, x.bucket, sum(x.events)::bigint, sum(x.raw_points), sum(x.weighted)
	  FROM (
		SELECT coalesce(e.lead_id, e.contact_id) AS record_id, r.id AS rule_id,
			   CASE WHEN r.window_days IS NULL THEN 0::bigint
					ELSE floor(extract(epoch FROM e.occurred_at) / (r.window_days::numeric * 86400))::bigint END AS bucket,
			   1::bigint AS events, r.points::numeric AS raw_points,
			   r.points::float8 * CASE WHEN g.half_life_days IS NULL THEN 1::float8
					ELSE pg_catalog.power(2::float8, extract(epoch FROM e.occurred_at - s.reference_at)::float8
											/ (g.half_life_days::float8 * 86400)) END AS weighted
		  FROM crm.engagement_event e
		  JOIN crm.scoring_settings s ON s.organization_id = org
		  JOIN crm.scoring_rule r ON r.organization_id = org AND r.kind = 'engagement' AND r.is_active
								 AND r.event_type = e.event_type
								 AND (r.property_match IS NULL OR e.properties OPERATOR(pg_catalog.@>) r.property_match)
		  JOIN crm.scoring_group g ON g.organization_id = org AND g.id = r.group_id
		 WHERE e.organization_id = org
		   AND (records IS NULL OR e.lead_id = ANY (records) OR e.contact_id = ANY (records))
		   AND (until IS NULL OR e.occurred_at <= until)
		UNION ALL
		-- the pruned events, at the rule's points now
		SELECT b.record_id, r.id, b.bucket, b.events, b.events * r.points, r.points::float8 * b.weight
		  FROM crm.score_base b
		  JOIN crm.scoring_rule r ON r.organization_id = org AND r.id = b.rule_id AND r.kind = 'engagement' AND r.is_active
		 WHERE b.organization_id = org AND (records IS NULL OR b.record_id = ANY (records))) x
	 GROUP BY 1, 2, 3;
END;
$$;
COMMENT ON FUNCTION crm._engagement_tally(uuid, uuid[], timestamptz) IS
	'Internal: the engagement part of crm.score_tally recomputed from crm.engagement_event and crm.score_base (records NULL: the whole organization; until: only events that occurred up to then, at or after the pruning horizon).';

-- The fit part of the tally of records, from the fit rules' criteria.
CREATE FUNCTION crm._fit_tally(org uuid, entity text, records uuid[])
RETURNS TABLE (record_id uuid, rule_id uuid, points numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	r record;
	-- many records: one criteria_select per rule (the compiled SQL over the
	-- tenant) joined to them beats a criteria_match per record
	whole boolean := records IS NULL OR cardinality(records) > greatest(1000,
		(SELECT c.reltuples / 50 FROM pg_class c WHERE c.oid = ('crm.' || _fit_tally.entity)::regclass));
BEGIN
	FOR r IN SELECT x.id, x.criteria, x.points FROM crm.scoring_rule x
			  WHERE x.organization_id = org AND x.kind = 'fit' AND x.is_active AND x.entity = _fit_tally.entity
			  ORDER BY x.id LOOP
		IF whole THEN
			RETURN QUERY
			SELECT m.id, r.id, r.points FROM crm.criteria_select(r.criteria, _fit_tally.entity) AS m(id)
			 WHERE records IS NULL OR m.id IN (SELECT u.id FROM unnest(records) AS u(id));
		ELSE
			RETURN QUERY
			SELECT u.id, r.id, r.points FROM unnest(records) AS u(id)
			 WHERE crm.criteria_match(r.criteria, _fit_tally.entity, u.id);
		END IF;
	END LOOP;
END;
$$;
COMMENT ON FUNCTION crm._fit_tally(uuid, text, uuid[]) IS
	'Internal: the fit rules each record matches (records NULL: every live record of the entity): per rule, crm.criteria_match over a few records, crm.criteria_select (the compiled SQL) for many.';

-- Re-score records from their base data: events and fields.
CREATE FUNCTION crm._score_recompute(org uuid, leads uuid[], contacts uuid[], fit_only boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	recs uuid[] := coalesce(leads, '{}') || coalesce(contacts, '{}');
	saved text := current_setting('crm.organization_id', true);
BEGIN
	IF cardinality(recs) = 0 THEN
		RETURN;
	END IF;
	-- the model cannot change under us (a change waits for our commit)
	PERFORM crm._score_model_lock(org, false);
	-- criteria are evaluated for the records' organization
	PERFORM set_config('crm.organization_id', org::text, true);
	PERFORM crm._score_lock(org, leads, contacts);
	DELETE FROM crm.score_tally t
	 USING crm.scoring_rule r
	 WHERE t.organization_id = org AND t.record_id = ANY (recs)
	   AND r.organization_id = org AND r.id = t.rule_id AND (r.kind = 'fit' OR NOT fit_only);
	IF NOT fit_only THEN
		INSERT INTO crm.score_tally (organization_id, record_id, rule_id, bucket, events, raw_points, weighted)
		SELECT org, x.* FROM crm._engagement_tally(org, recs) x;
	END IF;
	INSERT INTO crm.score_tally (organization_id, record_id, rule_id, bucket, events, raw_points, weighted)
	SELECT org, f.record_id, f.rule_id, 0, 1, f.points, f.points FROM crm._fit_tally(org, 'lead', leads) f
	UNION ALL
	SELECT org, f.record_id, f.rule_id, 0, 1, f.points, f.points FROM crm._fit_tally(org, 'contact', contacts) f;
	PERFORM crm._score_refresh(org, recs);
	PERFORM set_config('crm.organization_id', coalesce(saved, ''), true);
END;
$$;
COMMENT ON FUNCTION crm._score_recompute(uuid, uuid[], uuid[], boolean) IS
	'Internal: recomputes the tally (fit only, or fit and engagement) and the scores of leads and contacts.';

-- Re-score a whole organization, set-based (after a model change).
CREATE FUNCTION crm._score_rebuild(org uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	PERFORM crm._score_recompute(org,
		ARRAY(SELECT l.id FROM crm.lead l WHERE l.organization_id = org ORDER BY l.id),
		ARRAY(SELECT c.id FROM crm.contact c WHERE c.organization_id = org
				 AND (EXISTS (SELECT 1 FROM crm.score s WHERE s.organization_id = org AND s.record_id = c.id)
					  OR EXISTS (SELECT 1 FROM crm.scoring_rule r WHERE r.organization_id = org AND r.kind = 'fit' AND r.entity = 'contact'))
			   ORDER BY c.id));
END;
$$;
COMMENT ON FUNCTION crm._score_rebuild(uuid) IS 'Internal: re-scores every lead and scored contact of an organization (after a change of its model).';

-- ---------------------------------------------------------------------------
-- Triggers
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm.trg_engagement_score() RETURNS trigger
	AS 'MODULE_PATHNAME', 'scoring_engagement_insert'
	LANGUAGE C;
COMMENT ON FUNCTION crm.trg_engagement_score() IS
	'AFTER INSERT statement trigger on crm.engagement_event (transition table): matches every event against the tenant''s engagement rules in C and adds the statement''s points to crm.score_tally with one batched call per statement.';
CREATE TRIGGER crm_50_score AFTER INSERT ON crm.engagement_event
	REFERENCING NEW TABLE AS crm_new FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_engagement_score('engagement_event');

-- Deleted (pruned, erased) or corrected events: their records are
-- recomputed from the events that remain.
-- Recompute the records of a list that still exist (the others may be
-- gone: events cascade from the deletion of their lead or contact).
CREATE FUNCTION crm._score_recompute_live(org uuid, leads uuid[], contacts uuid[])
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	PERFORM crm._score_recompute(org,
		ARRAY(SELECT l.id FROM crm.lead l WHERE l.organization_id = org AND l.id = ANY (leads) ORDER BY 1),
		ARRAY(SELECT c.id FROM crm.contact c WHERE c.organization_id = org AND c.id = ANY (contacts) ORDER BY 1));
END;
$$;
COMMENT ON FUNCTION crm._score_recompute_live(uuid, uuid[], uuid[]) IS
	'Internal: recomputes the scores of those of the given leads and contacts that still exist.';

CREATE FUNCTION crm.trg_engagement_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	o record;
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_engagement_change()', TG_NAME, TG_RELID, TG_ARGV, '{engagement_event}');
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN NULL;
	END IF;
	-- (plpgsql plans a query when it first runs it: the DELETE branch never
	-- names crm_new, which a DELETE trigger does not have)
	IF TG_OP = 'DELETE' THEN
		FOR o IN SELECT x.organization_id AS org, array_agg(DISTINCT x.lead_id) AS leads,
						array_agg(DISTINCT x.contact_id) AS contacts
				   FROM crm_old x GROUP BY 1 ORDER BY 1 LOOP
			PERFORM crm._score_recompute_live(o.org, o.leads, o.contacts);
		END LOOP;
	ELSE
		FOR o IN SELECT x.organization_id AS org, array_agg(DISTINCT x.lead_id) AS leads,
						array_agg(DISTINCT x.contact_id) AS contacts
				   FROM (SELECT y.organization_id, y.lead_id, y.contact_id FROM crm_old y
						 UNION ALL SELECT y.organization_id, y.lead_id, y.contact_id FROM crm_new y) x
				  GROUP BY 1 ORDER BY 1 LOOP
			PERFORM crm._score_recompute_live(o.org, o.leads, o.contacts);
		END LOOP;
	END IF;
	RETURN NULL;
END;
$$;
COMMENT ON FUNCTION crm.trg_engagement_change() IS
	'AFTER UPDATE/DELETE statement trigger on crm.engagement_event: recomputes the scores of the records whose events changed or were pruned.';
CREATE TRIGGER crm_50_score_update AFTER UPDATE ON crm.engagement_event
	REFERENCING OLD TABLE AS crm_old NEW TABLE AS crm_new
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_engagement_change('engagement_event');
CREATE TRIGGER crm_50_score_delete AFTER DELETE ON crm.engagement_event
	REFERENCING OLD TABLE AS crm_old
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_engagement_change('engagement_event');

-- The columns of crm.<entity> a criteria document reads (for the fit trigger).
CREATE FUNCTION crm._criteria_columns(criteria jsonb, entity text) RETURNS text[]
	AS 'MODULE_PATHNAME', 'criteria_columns'
	LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION crm._criteria_columns(jsonb, text) IS
	'Internal: the columns of crm.<entity> a criteria document reads, for the current tenant (custom fields: custom_fields; account fields: account_id), sorted; raises for an invalid document.';

-- A new lead or contact, or a change of a field its tenant's fit rules read
-- (or of deleted_at): its fit is rescored, for those rows only.  Routing's
-- own update of new leads (owner, priority, tags) rescores nothing unless a
-- fit rule reads what it set; writes of crm's own score columns do not
-- touch these tables.
CREATE FUNCTION crm.trg_fit_score() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	o record;
	org uuid;
	cols text[];
	saved text;
	ignored constant text[] := ARRAY['updated_at', 'updated_by', 'search_vector'];
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_fit_score()', TG_NAME, TG_RELID, TG_ARGV, '{lead,contact}');
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN NULL;
	END IF;
	IF TG_OP = 'DELETE' THEN
		-- a deleted record takes its score along (derived data, no foreign key)
		DELETE FROM crm.score s USING crm_old d WHERE s.organization_id = d.organization_id AND s.record_id = d.id;
		DELETE FROM crm.score_tally t USING crm_old d WHERE t.organization_id = d.organization_id AND t.record_id = d.id;
		DELETE FROM crm.score_base b USING crm_old d WHERE b.organization_id = d.organization_id AND b.record_id = d.id;
	ELSIF TG_OP = 'INSERT' THEN
		FOR o IN SELECT n.organization_id AS org, array_agg(n.id ORDER BY n.id) AS ids
				   FROM crm_new n GROUP BY 1 ORDER BY 1 LOOP
			-- contacts are scored once they have events or the tenant has contact fit rules
			IF TG_ARGV[0] = 'lead' OR EXISTS (SELECT 1 FROM crm.scoring_rule r WHERE r.organization_id = o.org
												 AND r.kind = 'fit' AND r.entity = 'contact') THEN
				PERFORM crm._score_recompute(o.org, CASE WHEN TG_ARGV[0] = 'lead' THEN o.ids END,
											 CASE WHEN TG_ARGV[0] = 'contact' THEN o.ids END, true);
			END IF;
		END LOOP;
	ELSE
		saved := current_setting('crm.organization_id', true);
		FOR org IN SELECT DISTINCT n.organization_id FROM crm_new n ORDER BY 1 LOOP
			-- the columns the organization's fit rules read (its custom
			-- fields: documents are compiled for the rule's organization);
			-- NULL when a document no longer compiles (a custom field it
			-- read was dropped): then any change of the row counts
			PERFORM set_config('crm.organization_id', org::text, true);
			IF EXISTS (SELECT 1 FROM crm.scoring_rule r, LATERAL crm.criteria_validate(r.criteria, r.entity) v
						WHERE r.organization_id = org AND r.kind = 'fit' AND r.entity = TG_ARGV[0]) THEN
				cols := NULL;
			ELSE
				SELECT coalesce(array_agg(DISTINCT c ORDER BY c), '{}') INTO cols
				  FROM crm.scoring_rule r, LATERAL unnest(crm._criteria_columns(r.criteria, r.entity)) c
				 WHERE r.organization_id = org AND r.kind = 'fit' AND r.entity = TG_ARGV[0];
				cols := cols || ARRAY['deleted_at'];
			END IF;
			PERFORM set_config('crm.organization_id', coalesce(saved, ''), true);
			-- planned for each statement (EXECUTE): a plan kept from a one-row
			-- statement would pair the rows of a bulk update by nested loop
			FOR o IN EXECUTE
					'SELECT array_agg(n.id ORDER BY n.id) AS ids
					   FROM crm_new n JOIN crm_old p ON p.organization_id = n.organization_id AND p.id = n.id
					  WHERE n.organization_id = $3
						AND CASE WHEN $2 IS NULL THEN (to_jsonb(n) - $1) IS DISTINCT FROM (to_jsonb(p) - $1)
								 ELSE EXISTS (SELECT 1 FROM unnest($2) c WHERE to_jsonb(n) -> c IS DISTINCT FROM to_jsonb(p) -> c) END
					 HAVING count(*) > 0' USING ignored, cols, org LOOP
				IF TG_ARGV[0] = 'lead' OR EXISTS (SELECT 1 FROM crm.score s WHERE s.organization_id = org AND s.record_id = ANY (o.ids))
				   OR EXISTS (SELECT 1 FROM crm.scoring_rule r WHERE r.organization_id = org AND r.kind = 'fit' AND r.entity = 'contact') THEN
					PERFORM crm._score_recompute(org, CASE WHEN TG_ARGV[0] = 'lead' THEN o.ids END,
												 CASE WHEN TG_ARGV[0] = 'contact' THEN o.ids END, true);
				END IF;
			END LOOP;
		END LOOP;
	END IF;
	RETURN NULL;
END;
$$;
COMMENT ON FUNCTION crm.trg_fit_score() IS
	'AFTER INSERT/UPDATE/DELETE statement trigger on crm.lead and crm.contact: re-scores the fit of the inserted rows and of the rows whose fields changed, set-based; removes the scores of deleted rows.';
CREATE TRIGGER crm_92_fit_score AFTER INSERT ON crm.lead
	REFERENCING NEW TABLE AS crm_new FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_fit_score('lead');
CREATE TRIGGER crm_92_fit_score_update AFTER UPDATE ON crm.lead
	REFERENCING OLD TABLE AS crm_old NEW TABLE AS crm_new FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_fit_score('lead');
CREATE TRIGGER crm_92_fit_score AFTER INSERT ON crm.contact
	REFERENCING NEW TABLE AS crm_new FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_fit_score('contact');
CREATE TRIGGER crm_92_fit_score_update AFTER UPDATE ON crm.contact
	REFERENCING OLD TABLE AS crm_old NEW TABLE AS crm_new FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_fit_score('contact');
CREATE TRIGGER crm_92_fit_score_delete AFTER DELETE ON crm.lead
	REFERENCING OLD TABLE AS crm_old FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_fit_score('lead');
CREATE TRIGGER crm_92_fit_score_delete AFTER DELETE ON crm.contact
	REFERENCING OLD TABLE AS crm_old FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_fit_score('contact');

-- A change of the model (rules, groups, settings, event types): the
-- organizations whose model changed take its model lock exclusively (every
-- scorer of the organization waits for the change to commit, then reads
-- the new model; cached models are invalidated), fit documents are
-- validated, then each organization is re-scored in one pass.  An update
-- of names, descriptions or timestamps changes no score and does nothing.
CREATE FUNCTION crm.trg_scoring_model() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	tbl name;		-- the logical table: scoring_rule, scoring_group, ...
	o uuid;
	orgs uuid[];
	bad record;
	saved text;
	-- (retention: pruning folds events into crm.score_base, which changes
	-- no score)
	ignored constant text[] := ARRAY['name', 'description', 'created_at', 'updated_at', 'created_by', 'updated_by',
									 'retain_days', 'pruned_before'];
BEGIN
	tbl := crm._trigger_table_ok('crm.trg_scoring_model()', TG_NAME, TG_RELID, TG_ARGV, '{scoring_rule,scoring_group,scoring_settings,engagement_event_type}');
	-- (plpgsql plans a query when it first runs it: only the UPDATE branch
	-- names crm_old_rows, which only the UPDATE trigger has)
	IF TG_OP = 'UPDATE' THEN
		SELECT coalesce(array_agg(DISTINCT n.organization_id ORDER BY n.organization_id), '{}') INTO orgs
		  FROM crm_rows n JOIN crm_old_rows p ON p.organization_id = n.organization_id AND p.id = n.id
		 WHERE (to_jsonb(n) - ignored) IS DISTINCT FROM (to_jsonb(p) - ignored);
	ELSE
		SELECT coalesce(array_agg(DISTINCT x.organization_id ORDER BY x.organization_id), '{}') INTO orgs
		  FROM crm_rows x;
	END IF;
	-- (in organization order: two changes never wait for each other crosswise)
	FOREACH o IN ARRAY orgs LOOP
		PERFORM crm._score_model_lock(o, true);
	END LOOP;
	-- a deleted rule's tally goes with it (no foreign key: derived data)
	IF tbl = 'scoring_rule' AND TG_OP = 'DELETE' THEN
		DELETE FROM crm.score_tally t USING crm_rows d
		 WHERE t.organization_id = d.organization_id AND t.rule_id = d.id;
	END IF;
	IF current_setting('crm.restoring', true) = 'on' OR tbl = 'engagement_event_type' THEN
		RETURN NULL;
	END IF;
	-- a rule's kind is its group's (the foreign key is the group's primary
	-- key only: referenced tenant tables have no other unique key on
	-- organization_id, test/pgtap/catalog.sql)
	IF tbl IN ('scoring_rule', 'scoring_group') AND TG_OP <> 'DELETE' THEN
		SELECT r.name, r.kind, g.name AS gname, g.kind AS gkind INTO bad
		  FROM crm.scoring_rule r JOIN crm.scoring_group g ON g.organization_id = r.organization_id AND g.id = r.group_id
		 WHERE r.kind <> g.kind
		   AND (r.organization_id, CASE WHEN tbl = 'scoring_rule' THEN r.id ELSE g.id END)
			   IN (SELECT n.organization_id, n.id FROM crm_rows n)
		 LIMIT 1;
		IF FOUND THEN
			RAISE EXCEPTION 'scoring rule "%" is of kind %, but its group "%" is of kind %', bad.name, bad.kind, bad.gname, bad.gkind
				USING ERRCODE = 'check_violation',
					  HINT = 'A rule''s kind must be its group''s kind.';
		END IF;
	END IF;
	IF tbl = 'scoring_rule' AND TG_OP <> 'DELETE' THEN
		saved := current_setting('crm.organization_id', true);
		FOR o IN SELECT DISTINCT n.organization_id FROM crm_rows n WHERE n.kind = 'fit' ORDER BY 1 LOOP
			-- the document is checked against the rule's organization's fields
			PERFORM set_config('crm.organization_id', o::text, true);
			SELECT n.id, n.name, v.path, v.message INTO bad
			  FROM crm_rows n, LATERAL crm.criteria_validate(n.criteria, n.entity) v
			 WHERE n.kind = 'fit' AND n.organization_id = o LIMIT 1;
			IF FOUND THEN
				RAISE EXCEPTION 'scoring rule "%" has an invalid criteria document: % (at %)', bad.name, bad.message, bad.path
					USING ERRCODE = 'invalid_parameter_value',
						  HINT = 'See doc/criteria.md; crm.criteria_validate(criteria, entity) lists every problem.';
			END IF;
		END LOOP;
		PERFORM set_config('crm.organization_id', coalesce(saved, ''), true);
	END IF;
	-- The pruned events (crm.score_base) follow the model where they can:
	-- a rule's new points apply to them, a new reference time rescales
	-- their weights.  A rule that counts other events than before (event
	-- type, property condition, window, group) or a group decaying at
	-- another rate forgets them: their types, properties and times are gone.
	IF TG_OP = 'UPDATE' AND tbl = 'scoring_rule' THEN
		DELETE FROM crm.score_base b
		 USING crm_rows n JOIN crm_old_rows p ON p.organization_id = n.organization_id AND p.id = n.id
		 WHERE b.organization_id = n.organization_id AND b.rule_id = n.id
		   AND (n.event_type, n.property_match, n.window_days, n.group_id)
			   IS DISTINCT FROM (p.event_type, p.property_match, p.window_days, p.group_id);
	ELSIF TG_OP = 'UPDATE' AND tbl = 'scoring_group' THEN
		DELETE FROM crm.score_base b
		 USING crm_rows n JOIN crm_old_rows p ON p.organization_id = n.organization_id AND p.id = n.id,
			   crm.scoring_rule r
		 WHERE n.half_life_days IS DISTINCT FROM p.half_life_days
		   AND r.organization_id = n.organization_id AND r.group_id = n.id
		   AND b.organization_id = n.organization_id AND b.rule_id = r.id;
	ELSIF TG_OP = 'UPDATE' AND tbl = 'scoring_settings' THEN
		-- 2^((e - new)/h) = 2^((e - old)/h) * 2^((old - new)/h)
		UPDATE crm.score_base b
		   SET weight = b.weight * pg_catalog.power(2::float8, extract(epoch FROM p.reference_at - n.reference_at)::float8
														 / (g.half_life_days::float8 * 86400))
		  FROM crm_rows n JOIN crm_old_rows p ON p.organization_id = n.organization_id AND p.id = n.id,
			   crm.scoring_rule r JOIN crm.scoring_group g ON g.organization_id = r.organization_id AND g.id = r.group_id
		 WHERE n.reference_at <> p.reference_at AND g.half_life_days IS NOT NULL
		   AND r.organization_id = n.organization_id
		   AND b.organization_id = n.organization_id AND b.rule_id = r.id;
	END IF;
	-- (organization_id never changes: crm.trg_stamp)
	FOREACH o IN ARRAY orgs LOOP
		IF EXISTS (SELECT 1 FROM crm.organization g WHERE g.id = o)
		   AND EXISTS (SELECT 1 FROM crm.scoring_settings s WHERE s.organization_id = o) THEN
			PERFORM crm._score_rebuild(o);
		END IF;
	END LOOP;
	RETURN NULL;
END;
$$;
COMMENT ON FUNCTION crm.trg_scoring_model() IS
	'AFTER statement trigger on crm.scoring_rule, crm.scoring_group, crm.scoring_settings and crm.engagement_event_type: locks the changed organizations'' models (invalidating cached models), validates fit criteria and re-scores the organizations set-based.';
DO $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['scoring_rule', 'scoring_group', 'scoring_settings', 'engagement_event_type'] LOOP
		EXECUTE format('CREATE TRIGGER crm_50_model_insert AFTER INSERT ON crm.%I REFERENCING NEW TABLE AS crm_rows '
					   'FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_scoring_model(%L)', t, t);
		EXECUTE format('CREATE TRIGGER crm_50_model_update AFTER UPDATE ON crm.%I '
					   'REFERENCING OLD TABLE AS crm_old_rows NEW TABLE AS crm_rows '
					   'FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_scoring_model(%L)', t, t);
		EXECUTE format('CREATE TRIGGER crm_50_model_delete AFTER DELETE ON crm.%I REFERENCING OLD TABLE AS crm_rows '
					   'FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_scoring_model(%L)', t, t);
	END LOOP;
END;
$$;

-- ---------------------------------------------------------------------------
-- The public surface
-- ---------------------------------------------------------------------------

-- The scores of a lead (or contact) at an instant, from the tally.
CREATE FUNCTION crm.score_as_of(lead_id uuid, at timestamptz)
RETURNS TABLE (fit_score numeric, engagement_score numeric, lead_score numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
BEGIN
	IF at IS NULL OR NOT isfinite(at) THEN
		RAISE EXCEPTION 'at must be a finite timestamp' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM crm.lead l WHERE l.organization_id = org AND l.id = score_as_of.lead_id)
	   AND NOT EXISTS (SELECT 1 FROM crm.contact c WHERE c.organization_id = org AND c.id = score_as_of.lead_id) THEN
		RAISE EXCEPTION 'lead % does not exist in this organization', score_as_of.lead_id
			USING ERRCODE = 'no_data_found';
	END IF;
	RETURN QUERY SELECT s.fit_score, s.engagement_score, s.lead_score
				   FROM crm._score_at(org, ARRAY[score_as_of.lead_id], at, true) s;
END;
$$;
COMMENT ON FUNCTION crm.score_as_of(uuid, timestamptz) IS
	'Fit, engagement and lead score of a lead (or contact) at an instant, exact (decay included), from its tallied events and fit rules.';

-- Each rule's contribution to a lead's score at an instant.
CREATE FUNCTION crm.explain_score(lead_id uuid, at timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (group_name text, rule_name text, kind text, events bigint, raw_points numeric,
			   after_rule_cap numeric, after_decay numeric, after_group_cap numeric, points numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
	total numeric;
	cap numeric;
	acc numeric := 0;
	r record;
	rows_left integer;
BEGIN
	IF at IS NULL OR NOT isfinite(at) THEN
		RAISE EXCEPTION 'at must be a finite timestamp' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM crm.lead l WHERE l.organization_id = org AND l.id = explain_score.lead_id)
	   AND NOT EXISTS (SELECT 1 FROM crm.contact c WHERE c.organization_id = org AND c.id = explain_score.lead_id) THEN
		RAISE EXCEPTION 'lead % does not exist in this organization', explain_score.lead_id
			USING ERRCODE = 'no_data_found';
	END IF;
	SELECT s.lead_score INTO total FROM crm._score_at(org, ARRAY[explain_score.lead_id], at, true) s;
	-- The points column distributes the lead score over the rules: each
	-- rule's part after the group cap, rounded, scaled down in proportion
	-- when the total was clamped, the rounding remainder on the last row,
	-- so that the column sums exactly to lead_score.
	SELECT sum(p.after_group_cap) INTO cap FROM crm._score_parts(org, ARRAY[explain_score.lead_id], at, true) p;
	SELECT count(*) INTO rows_left FROM crm._score_parts(org, ARRAY[explain_score.lead_id], at, true);
	FOR r IN SELECT g.name AS gname, ru.name AS rname, p.*
			   FROM crm._score_parts(org, ARRAY[explain_score.lead_id], at, true) p
			   JOIN crm.scoring_group g ON g.organization_id = org AND g.id = p.group_id
			   JOIN crm.scoring_rule ru ON ru.organization_id = org AND ru.id = p.rule_id
			  ORDER BY p.kind DESC, g.name, ru.name LOOP
		rows_left := rows_left - 1;
		group_name := r.gname;
		rule_name := r.rname;
		kind := r.kind;
		events := r.events;
		raw_points := r.raw_points;
		after_rule_cap := r.after_rule_cap;
		after_decay := round(r.after_decay::numeric, 4);
		after_group_cap := round(r.after_group_cap::numeric, 4);
		IF rows_left = 0 THEN
			points := total - acc;
		ELSIF cap IS NULL OR cap = 0 OR round(cap::numeric, 2) = total THEN
			points := round(r.after_group_cap::numeric, 2);
		ELSE
			points := round((r.after_group_cap * (total / cap::numeric))::numeric, 2);
		END IF;
		acc := acc + points;
		RETURN NEXT;
	END LOOP;
END;
$$;
COMMENT ON FUNCTION crm.explain_score(uuid, timestamptz) IS
	'Each rule''s contribution to a lead''s score at an instant: events counted, raw points, after the rule cap, after decay, after the group cap, and points summing exactly to crm.score_as_of(...).lead_score.';

-- Refresh the stored display scores of every organization to now (decay
-- moves them; stored weighted values and their order never change).
CREATE FUNCTION crm.decay_scores(at timestamptz DEFAULT pg_catalog.now())
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	o uuid;
	n bigint := 0;
	k bigint;
BEGIN
	FOR o IN SELECT s.organization_id FROM crm.scoring_settings s ORDER BY 1 LOOP
		BEGIN
			PERFORM set_config('crm.organization_id', o::text, true);
			PERFORM crm._score_lock(o, ARRAY(SELECT s.record_id FROM crm.score s WHERE s.organization_id = o AND s.lead_id IS NOT NULL ORDER BY 1),
									ARRAY(SELECT s.record_id FROM crm.score s WHERE s.organization_id = o AND s.contact_id IS NOT NULL ORDER BY 1));
			PERFORM crm._score_refresh(o, ARRAY(SELECT s.record_id FROM crm.score s WHERE s.organization_id = o ORDER BY 1), at);
			SELECT count(*) INTO k FROM crm.score s WHERE s.organization_id = o;
			n := n + k;
		EXCEPTION WHEN OTHERS THEN
			RAISE WARNING 'crm.decay_scores: organization % failed: %', o, SQLERRM;
		END;
	END LOOP;
	RETURN n;
END;
$$;
COMMENT ON FUNCTION crm.decay_scores(timestamptz) IS
	'Job: refreshes the stored display scores (fit, engagement, lead score, stage) of every organization to an instant (default now); emits threshold crossings. Returns the number of scores refreshed.';
INSERT INTO crm.job (name, schedule, command, description) VALUES
	('decay_scores', '7 * * * *', 'SELECT crm.decay_scores()', 'Refreshes stored lead and contact scores as engagement decays (hourly).');

-- Retention: fold the events that can no longer be asked about into
-- crm.score_base and delete them (doc/scoring.md, "Retention").  Per
-- organization with retain_days: the horizon is the start (UTC) of the day
-- retain_days before "at"; the events that occurred before it are summed
-- per record, rule and cap window (their count and weights: what the tally
-- needs of them, for any points) and deleted.  No tally or score changes:
-- a recomputation from the base and the remaining events gives what it gave
-- from all the events.  Events that no rule counts are deleted unfolded.
CREATE FUNCTION crm.prune_engagement_events(at timestamptz DEFAULT pg_catalog.now())
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	o record;
	horizon timestamptz;
	done timestamptz;
	n bigint := 0;
	k bigint;
	restoring text;
	saved text := current_setting('crm.organization_id', true);
BEGIN
	IF at IS NULL OR NOT isfinite(at) THEN
		RAISE EXCEPTION 'at must be a finite timestamp' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	FOR o IN SELECT s.organization_id AS org, s.retain_days FROM crm.scoring_settings s
			  WHERE s.retain_days IS NOT NULL ORDER BY 1 LOOP
		horizon := date_trunc('day', at - o.retain_days * interval '1 day', 'UTC');
		BEGIN
			PERFORM set_config('crm.organization_id', o.org::text, true);
			-- one pruner per organization (the settings row), and no model
			-- change meanwhile (the model lock, after the row: the order a
			-- change of the settings takes them in)
			SELECT s.pruned_before INTO done FROM crm.scoring_settings s WHERE s.organization_id = o.org FOR UPDATE;
			CONTINUE WHEN done >= horizon;
			PERFORM crm._score_model_lock(o.org, false);
			INSERT INTO crm.score_base AS b (organization_id, record_id, rule_id, bucket, events, weight)
			SELECT o.org, coalesce(e.lead_id, e.contact_id), r.id,
				   CASE WHEN r.window_days IS NULL THEN 0::bigint
						ELSE floor(extract(epoch FROM e.occurred_at) / (r.window_days::numeric * 86400))::bigint END,
				   count(*),
				   sum(CASE WHEN g.half_life_days IS NULL THEN 1::float8
							ELSE pg_catalog.power(2::float8, extract(epoch FROM e.occurred_at - s.reference_at)::float8
															/ (g.half_life_days::float8 * 86400)) END)
			  FROM crm.engagement_event e
			  JOIN crm.scoring_settings s ON s.organization_id = o.org
			  -- inactive rules too: reactivated, they count these events again
			  JOIN crm.scoring_rule r ON r.organization_id = o.org AND r.kind = 'engagement'
									 AND r.event_type = e.event_type
									 AND (r.property_match IS NULL OR e.properties OPERATOR(pg_catalog.@>) r.property_match)
			  JOIN crm.scoring_group g ON g.organization_id = o.org AND g.id = r.group_id
			 WHERE e.organization_id = o.org AND e.occurred_at < horizon
			 GROUP BY 2, 3, 4
			ON CONFLICT ON CONSTRAINT score_base_pkey DO UPDATE
				SET events = b.events + EXCLUDED.events, weight = b.weight + EXCLUDED.weight;
			-- the deletion re-scores nothing (crm.trg_engagement_change would
			-- recompute the records to what they are)
			restoring := current_setting('crm.restoring');
			PERFORM set_config('crm.restoring', 'on', true);
			DELETE FROM crm.engagement_event e WHERE e.organization_id = o.org AND e.occurred_at < horizon;
			GET DIAGNOSTICS k = ROW_COUNT;
			PERFORM set_config('crm.restoring', restoring, true);
			UPDATE crm.scoring_settings s SET pruned_before = horizon WHERE s.organization_id = o.org;
			n := n + k;
		EXCEPTION WHEN OTHERS THEN
			RAISE WARNING 'crm.prune_engagement_events: organization % failed: %', o.org, SQLERRM;
		END;
	END LOOP;
	PERFORM set_config('crm.organization_id', coalesce(saved, ''), true);
	RETURN n;
END;
$$;
COMMENT ON FUNCTION crm.prune_engagement_events(timestamptz) IS
	'Job: for every organization with scoring_settings.retain_days, folds the engagement events that occurred before the start of the day retain_days before "at" (default now) into crm.score_base, deletes them and moves pruned_before there; scores do not change. Returns the number of events deleted.';
INSERT INTO crm.job (name, schedule, command, description) VALUES
	('prune_engagement_events', '23 3 * * *', 'SELECT crm.prune_engagement_events()',
	 'Folds engagement events older than each organization''s retain_days into crm.score_base and deletes them (daily).');

-- Drift check: the tally against a recomputation from events and fields,
-- and the stored weighted sums against the tally.
CREATE FUNCTION crm.check_scores()
RETURNS TABLE (entity text, id uuid, expected text, actual text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	o uuid;
	at timestamptz;
	saved text := current_setting('crm.organization_id', true);
BEGIN
	FOR o IN SELECT s.organization_id FROM crm.scoring_settings s
			  WHERE s.organization_id IN (SELECT g.id FROM crm.organization g) ORDER BY 1 LOOP
		-- criteria are evaluated for the organization checked (the owner
		-- verifies every organization after a restore)
		PERFORM set_config('crm.organization_id', o::text, true);
		RETURN QUERY
		WITH expect AS (
			SELECT e.record_id, e.rule_id, e.bucket, e.events, e.raw_points, e.weighted FROM crm._engagement_tally(o, NULL) e
			UNION ALL
			SELECT f.record_id, f.rule_id, 0, 1, f.points, f.points::float8
			  FROM crm._fit_tally(o, 'lead', NULL) f
			UNION ALL
			SELECT f.record_id, f.rule_id, 0, 1, f.points, f.points::float8
			  FROM crm._fit_tally(o, 'contact', ARRAY(SELECT s.record_id FROM crm.score s WHERE s.organization_id = o AND s.contact_id IS NOT NULL)) f),
		-- (rows of rules that do not exist count: they should not)
		have AS (
			SELECT t.record_id, t.rule_id, t.bucket, t.events, t.raw_points, t.weighted
			  FROM crm.score_tally t LEFT JOIN crm.scoring_rule r ON r.organization_id = o AND r.id = t.rule_id
			 WHERE t.organization_id = o AND (r.id IS NULL OR r.is_active))
		SELECT 'score_tally'::text, coalesce(x.record_id, h.record_id),
			   CASE WHEN x.record_id IS NULL THEN 'no entry'
					ELSE format('rule %s window %s: %s events, %s points, weighted %s', x.rule_id, x.bucket, x.events, x.raw_points, x.weighted) END,
			   CASE WHEN h.record_id IS NULL THEN 'no entry'
					ELSE format('rule %s window %s: %s events, %s points, weighted %s', h.rule_id, h.bucket, h.events, h.raw_points, h.weighted) END
		  FROM expect x FULL JOIN have h ON h.record_id = x.record_id AND h.rule_id = x.rule_id AND h.bucket = x.bucket
		 WHERE x.record_id IS NULL OR h.record_id IS NULL OR x.events <> h.events OR x.raw_points <> h.raw_points
			OR abs(x.weighted - h.weighted) > 1e-9 * greatest(1, abs(x.weighted));
		-- the stored scores, recomputed per instant they are of (one
		-- computation for all records stored at the same instant)
		FOR at IN SELECT DISTINCT s.score_updated_at FROM crm.score s WHERE s.organization_id = o ORDER BY 1 LOOP
			RETURN QUERY
			SELECT 'score'::text, s.record_id, format('engagement_ref %s, lead_score %s', a.engagement_ref, a.lead_score),
				   format('engagement_ref %s, lead_score %s', s.engagement_ref, s.lead_score)
			  FROM crm._score_at(o, ARRAY(SELECT x.record_id FROM crm.score x WHERE x.organization_id = o AND x.score_updated_at = at), at) a
			  JOIN crm.score s ON s.organization_id = o AND s.record_id = a.record_id
			 WHERE abs(a.engagement_ref - s.engagement_ref) > 1e-9 * greatest(1, abs(a.engagement_ref))
				OR a.lead_score <> s.lead_score OR a.fit_score <> s.fit_score OR a.engagement_score <> s.engagement_score;
		END LOOP;
		RETURN QUERY
		SELECT 'lead'::text, l.id, 'a score row'::text, 'none'::text
		  FROM crm.lead l WHERE l.organization_id = o
		   AND NOT EXISTS (SELECT 1 FROM crm.score s WHERE s.organization_id = o AND s.record_id = l.id);
		RETURN QUERY
		SELECT 'score'::text, s.record_id, 'a live lead or contact'::text, 'no such record'::text
		  FROM crm.score s WHERE s.organization_id = o
		   AND NOT EXISTS (SELECT 1 FROM crm.lead l WHERE l.organization_id = o AND l.id = s.lead_id)
		   AND NOT EXISTS (SELECT 1 FROM crm.contact c WHERE c.organization_id = o AND c.id = s.contact_id);
	END LOOP;
	PERFORM set_config('crm.organization_id', coalesce(saved, ''), true);
END;
$$;
COMMENT ON FUNCTION crm.check_scores() IS
	'crm.verify() check: score tallies equal a recomputation from events and fit rules, and stored scores equal the tally at score_updated_at.';
INSERT INTO crm.verify_check VALUES
	('scores', 'crm.check_scores()', 'Lead and contact scores equal a recomputation from their events and fit rules.');

-- The leads with the highest engagement now: an index scan of
-- score_hottest_idx (the order by weighted points is the order now).
CREATE FUNCTION crm.hottest_leads(lim integer DEFAULT 50)
RETURNS TABLE (lead_id uuid, engagement_ref double precision, lead_score numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
BEGIN
	IF lim IS NULL OR lim < 1 OR lim > 10000 THEN
		RAISE EXCEPTION 'lim must be between 1 and 10000' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	RETURN QUERY SELECT s.lead_id, s.engagement_ref, s.lead_score FROM crm.score s
				  WHERE s.organization_id = org AND s.lead_id IS NOT NULL
				  ORDER BY s.engagement_ref DESC LIMIT lim;
END;
$$;
COMMENT ON FUNCTION crm.hottest_leads(integer) IS
	'The current organization''s leads with the most engagement now (index scan of score_hottest_idx), with their stored lead score.';

-- ---------------------------------------------------------------------------
-- Seeds
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm._seed_scoring(org uuid) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
SET crm.user_id = ''
AS $$
DECLARE
	eng uuid;
	fit uuid;
BEGIN
	INSERT INTO crm.engagement_event_type (organization_id, name, description)
	SELECT org, t.n, t.d FROM (VALUES
		('page_view', 'Viewed a page'), ('form_submit', 'Submitted a form'), ('email_open', 'Opened an email'),
		('email_click', 'Clicked a link in an email'), ('demo_request', 'Requested a demo'),
		('pricing_viewed', 'Viewed the pricing page'), ('signup_started', 'Started a signup'),
		('resource_downloaded', 'Downloaded a resource'), ('webinar_attended', 'Attended a webinar'),
		('meeting_booked', 'Booked a meeting'), ('unsubscribe', 'Unsubscribed')) AS t(n, d);
	-- the settings row last: until it exists, the model triggers re-score nothing
	INSERT INTO crm.scoring_group AS g (organization_id, name, kind, cap, half_life_days)
	VALUES (org, 'Engagement', 'engagement', NULL, 30) RETURNING g.id INTO eng;
	INSERT INTO crm.scoring_group AS g (organization_id, name, kind, cap, half_life_days)
	VALUES (org, 'Fit', 'fit', NULL, NULL) RETURNING g.id INTO fit;
	INSERT INTO crm.scoring_rule (organization_id, group_id, kind, name, event_type, points)
	VALUES (org, eng, 'engagement', 'Demo request', 'demo_request', 50),
		   (org, eng, 'engagement', 'Signup started', 'signup_started', 30),
		   (org, eng, 'engagement', 'Pricing viewed', 'pricing_viewed', 20),
		   (org, eng, 'engagement', 'Resource downloaded', 'resource_downloaded', 15),
		   (org, eng, 'engagement', 'Email click', 'email_click', 10),
		   (org, eng, 'engagement', 'Email open', 'email_open', 5),
		   (org, eng, 'engagement', 'Page view', 'page_view', 1);
	INSERT INTO crm.scoring_rule (organization_id, group_id, kind, name, entity, criteria, points)
	SELECT org, fit, 'fit', x.name, e.entity, x.criteria::jsonb, x.points
	  FROM (VALUES ('Senior title', '{"any": [{"field": "title", "op": "contains", "value": "vp"},
												{"field": "title", "op": "contains", "value": "vice president"},
												{"field": "title", "op": "contains", "value": "director"},
												{"field": "title", "op": "contains", "value": "chief"},
												{"field": "title", "op": "contains", "value": "head of"},
												{"field": "title", "op": "in", "value": ["ceo", "cto", "cfo", "coo", "cmo", "founder", "owner"]}]}', 20),
				   ('Referral source', '{"field": "lead_source", "op": "eq", "value": "referral"}', 25)) AS x(name, criteria, points),
		   (VALUES ('lead')) AS e(entity);
	INSERT INTO crm.scoring_settings (organization_id) VALUES (org);
END;
$$;
COMMENT ON FUNCTION crm._seed_scoring(uuid) IS
	'Internal (crm.create_organization): the default scoring model of a new organization: the built-in event types; engagement (half-life 30 days) demo request 50, signup started 30, pricing viewed 20, resource downloaded 15, email click 10, email open 5, page view 1; fit senior title +20, referral source +25; MQL 60, SQL 80.';
