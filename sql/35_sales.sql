-- ============================================================================
-- 35 sales: pipelines and their stages, opportunities, the stage history as
-- non-overlapping stints, and the weighted-pipeline roll-up (doc/sales.md)
-- ============================================================================

-- A sales process of a tenant.  Every tenant has exactly one default
-- pipeline (crm.create_organization seeds it); opportunities without a
-- pipeline go there.
CREATE TABLE crm.pipeline (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	name		text NOT NULL,
	description	text,
	is_default	boolean NOT NULL DEFAULT false,
	is_active	boolean NOT NULL DEFAULT true,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT pipeline_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT pipeline_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT pipeline_name_not_blank CHECK (pg_catalog.btrim(name) <> ''),
	-- (not led by organization_id: foreign-key checks keep the primary key)
	CONSTRAINT pipeline_name_key UNIQUE (name, organization_id),
	-- at most one default per tenant, checked at the end of each statement,
	-- so that UPDATE crm.pipeline SET is_default = (id = '…') moves it
	CONSTRAINT pipeline_one_default EXCLUDE USING btree (organization_id WITH OPERATOR(pg_catalog.=))
		WHERE (is_default) DEFERRABLE INITIALLY IMMEDIATE
);
COMMENT ON TABLE crm.pipeline IS 'A sales process (a sequence of stages); one per tenant is the default.';
COMMENT ON COLUMN crm.pipeline.name IS 'Pipeline name, unique per organization.';
COMMENT ON COLUMN crm.pipeline.description IS 'Free description.';
COMMENT ON COLUMN crm.pipeline.is_default IS 'The pipeline of opportunities created without one; at most one per organization (move it with UPDATE crm.pipeline SET is_default = (id = ''…'')).';
COMMENT ON COLUMN crm.pipeline.is_active IS 'False for a pipeline no longer offered for new opportunities.';
SELECT crm._setup_tenant_table('crm.pipeline');

-- The stages of a pipeline.  Reordering (position), renaming and retiring
-- (is_active) are ordinary updates; deleting a stage that an opportunity or
-- its history uses is refused (crm.trg_stage_in_use).
CREATE TABLE crm.pipeline_stage (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	pipeline_id	uuid NOT NULL,
	name		text NOT NULL,
	position	integer NOT NULL,
	default_probability numeric(5,2) NOT NULL,
	forecast_category text NOT NULL DEFAULT 'pipeline',
	is_closed	boolean NOT NULL DEFAULT false,
	is_won		boolean NOT NULL DEFAULT false,
	expected_days integer,
	is_active	boolean NOT NULL DEFAULT true,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT pipeline_stage_pkey PRIMARY KEY (organization_id, id),
	-- what opportunity_stage_fkey references: the stage within its pipeline
	-- (not led by organization_id, so foreign-key checks by (organization_id,
	-- id) keep using the primary key)
	CONSTRAINT pipeline_stage_pipeline_key UNIQUE (pipeline_id, id, organization_id),
	CONSTRAINT pipeline_stage_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT pipeline_stage_pipeline_fkey FOREIGN KEY (organization_id, pipeline_id)
		REFERENCES crm.pipeline (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT pipeline_stage_name_key UNIQUE (pipeline_id, name, organization_id),
	CONSTRAINT pipeline_stage_name_not_blank CHECK (pg_catalog.btrim(name) <> ''),
	CONSTRAINT pipeline_stage_probability_range CHECK (default_probability BETWEEN 0 AND 100),
	CONSTRAINT pipeline_stage_forecast_category_valid CHECK (forecast_category IN ('pipeline', 'best_case', 'commit', 'closed', 'omitted')),
	CONSTRAINT pipeline_stage_won_is_closed CHECK (is_closed OR NOT is_won),
	CONSTRAINT pipeline_stage_expected_days_positive CHECK (expected_days > 0)
);
COMMENT ON TABLE crm.pipeline_stage IS 'A stage of a pipeline: its order, default probability and forecast category, and whether it closes the opportunity (won or lost).';
COMMENT ON COLUMN crm.pipeline_stage.pipeline_id IS 'The crm.pipeline the stage belongs to.';
COMMENT ON COLUMN crm.pipeline_stage.name IS 'Stage name, unique within its pipeline.';
COMMENT ON COLUMN crm.pipeline_stage.position IS 'Order of the stage in its pipeline (ascending).';
COMMENT ON COLUMN crm.pipeline_stage.default_probability IS 'Probability (percent, 0-100) an opportunity takes on entering the stage, unless the rep set one by hand.';
COMMENT ON COLUMN crm.pipeline_stage.forecast_category IS 'Forecast category an opportunity takes on entering the stage: pipeline, best_case, commit, closed or omitted.';
COMMENT ON COLUMN crm.pipeline_stage.is_closed IS 'Entering the stage closes the opportunity (won or lost).';
COMMENT ON COLUMN crm.pipeline_stage.is_won IS 'A closed stage that means won (else lost: a lost reason is required).';
COMMENT ON COLUMN crm.pipeline_stage.expected_days IS 'How many days an opportunity is expected to stay in the stage (for velocity reports).';
COMMENT ON COLUMN crm.pipeline_stage.is_active IS 'False for a retired stage: kept for history, not offered for new opportunities.';
SELECT crm._setup_tenant_table('crm.pipeline_stage', label => 'pipeline stage');

-- A clear refusal to delete a stage in use (the foreign keys would refuse
-- too, naming only a constraint).
CREATE FUNCTION crm.trg_stage_in_use() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	n bigint;
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_stage_in_use()', TG_NAME, TG_RELID, TG_ARGV, '{pipeline_stage}');
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN OLD;
	END IF;
	SELECT count(*) INTO n FROM crm.opportunity o
	 WHERE o.organization_id = OLD.organization_id AND o.stage_id = OLD.id;
	IF n = 0 AND NOT EXISTS (SELECT 1 FROM crm.opportunity_stage_history h
							  WHERE h.organization_id = OLD.organization_id AND h.stage_id = OLD.id) THEN
		RETURN OLD;
	END IF;
	RAISE EXCEPTION 'stage "%" cannot be deleted: %', OLD.name,
		CASE WHEN n = 0 THEN 'the stage history of opportunities refers to it'
			 WHEN n = 1 THEN '1 opportunity is in it' ELSE n || ' opportunities are in it' END
		USING ERRCODE = 'foreign_key_violation',
			  DETAIL = 'Opportunities (soft-deleted ones included) and their stage history keep referring to their stages.',
			  HINT = 'Retire it instead (UPDATE crm.pipeline_stage SET is_active = false), or move its opportunities to another stage first.';
END;
$$;
COMMENT ON FUNCTION crm.trg_stage_in_use() IS
	'BEFORE DELETE row trigger on crm.pipeline_stage: refuses to delete a stage that opportunities or their history use, with a hint to retire it instead.';

-- ---------------------------------------------------------------------------
-- Opportunities
-- ---------------------------------------------------------------------------
CREATE TABLE crm.opportunity (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	name		text NOT NULL,
	account_id	uuid,
	contact_id	uuid,
	pipeline_id	uuid NOT NULL,
	stage_id	uuid NOT NULL,
	amount		numeric(18,2) NOT NULL DEFAULT 0,
	currency	char(3) NOT NULL,
	probability	numeric(5,2) NOT NULL,
	probability_override numeric(5,2),
	expected_revenue numeric(18,2) GENERATED ALWAYS AS (pg_catalog.round(amount * probability / 100, 2)) STORED,
	type		text,
	lead_source	text,
	campaign_id	uuid,
	next_step	text,
	forecast_category text NOT NULL,
	forecast_category_override text,
	lost_reason	text,
	competitor	text,
	owner_id	uuid,
	close_date	date,
	stage_entered_at timestamptz NOT NULL,
	is_closed	boolean NOT NULL,
	is_won		boolean NOT NULL,
	closed_at	timestamptz,
	description	text,
	tags		text[] NOT NULL DEFAULT '{}',
	custom_fields jsonb NOT NULL DEFAULT '{}',
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	deleted_at	timestamptz,
	CONSTRAINT opportunity_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT opportunity_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT opportunity_account_fkey FOREIGN KEY (organization_id, account_id) REFERENCES crm.account (organization_id, id),
	CONSTRAINT opportunity_contact_fkey FOREIGN KEY (organization_id, contact_id) REFERENCES crm.contact (organization_id, id),
	CONSTRAINT opportunity_pipeline_fkey FOREIGN KEY (organization_id, pipeline_id) REFERENCES crm.pipeline (organization_id, id),
	-- the stage belongs to the opportunity's pipeline
	CONSTRAINT opportunity_stage_fkey FOREIGN KEY (organization_id, pipeline_id, stage_id)
		REFERENCES crm.pipeline_stage (organization_id, pipeline_id, id),
	CONSTRAINT opportunity_owner_fkey FOREIGN KEY (organization_id, owner_id) REFERENCES crm.app_user (organization_id, id),
	CONSTRAINT opportunity_name_not_blank CHECK (pg_catalog.btrim(name) <> ''),
	CONSTRAINT opportunity_amount_nonnegative CHECK (amount >= 0),
	CONSTRAINT opportunity_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
	CONSTRAINT opportunity_probability_range CHECK (probability BETWEEN 0 AND 100),
	CONSTRAINT opportunity_probability_override_range CHECK (probability_override BETWEEN 0 AND 100),
	CONSTRAINT opportunity_type_valid CHECK (type IN ('new_business', 'upsell', 'renewal', 'cross_sell')),
	CONSTRAINT opportunity_forecast_category_valid CHECK (forecast_category IN ('pipeline', 'best_case', 'commit', 'closed', 'omitted')),
	CONSTRAINT opportunity_forecast_category_override_valid CHECK (forecast_category_override IN ('pipeline', 'best_case', 'commit', 'omitted')),
	CONSTRAINT opportunity_closed_consistent CHECK (is_closed = (closed_at IS NOT NULL) AND (is_closed OR NOT is_won)),
	CONSTRAINT opportunity_custom_fields_object CHECK (jsonb_typeof(custom_fields) = 'object')
);
CREATE INDEX opportunity_owner_idx ON crm.opportunity (organization_id, owner_id, close_date) WHERE deleted_at IS NULL;
CREATE INDEX opportunity_stage_idx ON crm.opportunity (organization_id, stage_id) WHERE deleted_at IS NULL;
CREATE INDEX opportunity_account_idx ON crm.opportunity (organization_id, account_id) WHERE account_id IS NOT NULL;
CREATE INDEX opportunity_contact_idx ON crm.opportunity (organization_id, contact_id) WHERE contact_id IS NOT NULL;
CREATE INDEX opportunity_close_idx ON crm.opportunity (organization_id, close_date) WHERE deleted_at IS NULL;
CREATE INDEX opportunity_tags_idx ON crm.opportunity USING gin (tags);
CREATE INDEX opportunity_custom_fields_idx ON crm.opportunity USING gin (custom_fields);
COMMENT ON TABLE crm.opportunity IS 'A deal in a pipeline: its stage, amount, probability and close date drive the weighted pipeline and the forecast.';
COMMENT ON COLUMN crm.opportunity.name IS 'Deal name.';
COMMENT ON COLUMN crm.opportunity.account_id IS 'The crm.account the deal is with.';
COMMENT ON COLUMN crm.opportunity.contact_id IS 'The primary crm.contact of the deal (more in crm.opportunity_contact).';
COMMENT ON COLUMN crm.opportunity.pipeline_id IS 'The crm.pipeline; the default pipeline when not given. Changing it without a stage moves the deal to the first active stage of the new pipeline.';
COMMENT ON COLUMN crm.opportunity.stage_id IS 'The crm.pipeline_stage, always one of the pipeline''s (opportunity_stage_fkey); the first active stage when not given.';
COMMENT ON COLUMN crm.opportunity.amount IS 'Deal value in currency.';
COMMENT ON COLUMN crm.opportunity.currency IS 'ISO 4217 code of amount; the organization''s default currency when not given.';
COMMENT ON COLUMN crm.opportunity.probability IS 'Win probability in percent (maintained): 100 won, 0 lost, else probability_override, else the stage''s default. Writing it sets probability_override.';
COMMENT ON COLUMN crm.opportunity.probability_override IS 'Probability set by hand; survives stage changes until set to NULL.';
COMMENT ON COLUMN crm.opportunity.expected_revenue IS 'amount * probability / 100, rounded to cents (generated).';
COMMENT ON COLUMN crm.opportunity.type IS 'new_business, upsell, renewal or cross_sell.';
COMMENT ON COLUMN crm.opportunity.lead_source IS 'Where the deal came from (web, referral, event, ...).';
COMMENT ON COLUMN crm.opportunity.campaign_id IS 'The marketing campaign that sourced the deal (its foreign key arrives with campaigns).';
COMMENT ON COLUMN crm.opportunity.next_step IS 'The next thing to do to move the deal on.';
COMMENT ON COLUMN crm.opportunity.forecast_category IS 'Forecast category (maintained): closed when won, omitted when lost, else forecast_category_override, else the stage''s. Writing it sets forecast_category_override.';
COMMENT ON COLUMN crm.opportunity.forecast_category_override IS 'Forecast category set by hand (pipeline, best_case, commit, omitted); survives stage changes until set to NULL.';
COMMENT ON COLUMN crm.opportunity.lost_reason IS 'Why the deal was lost; required to enter a lost stage.';
COMMENT ON COLUMN crm.opportunity.competitor IS 'The main competitor.';
COMMENT ON COLUMN crm.opportunity.close_date IS 'When the deal is expected to close (or closed).';
COMMENT ON COLUMN crm.opportunity.stage_entered_at IS 'When the deal entered its current stage (maintained).';
COMMENT ON COLUMN crm.opportunity.is_closed IS 'Whether the stage is a closed one (maintained).';
COMMENT ON COLUMN crm.opportunity.is_won IS 'Whether the deal was won (maintained).';
COMMENT ON COLUMN crm.opportunity.closed_at IS 'When the deal entered a closed stage; NULL again when reopened (maintained).';
COMMENT ON COLUMN crm.opportunity.description IS 'Free description.';
SELECT crm._setup_tenant_table('crm.opportunity');

ALTER TABLE crm.lead ADD CONSTRAINT lead_converted_opportunity_fkey
	FOREIGN KEY (organization_id, converted_opportunity_id) REFERENCES crm.opportunity (organization_id, id);

-- The contacts of a deal and their roles; at most one is the primary.
CREATE TABLE crm.opportunity_contact (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	opportunity_id uuid NOT NULL,
	contact_id	uuid NOT NULL,
	role		text NOT NULL DEFAULT 'other',
	is_primary	boolean NOT NULL DEFAULT false,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT opportunity_contact_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT opportunity_contact_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT opportunity_contact_opportunity_fkey FOREIGN KEY (organization_id, opportunity_id)
		REFERENCES crm.opportunity (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT opportunity_contact_contact_fkey FOREIGN KEY (organization_id, contact_id)
		REFERENCES crm.contact (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT opportunity_contact_key UNIQUE (organization_id, opportunity_id, contact_id),
	CONSTRAINT opportunity_contact_role_valid CHECK (role IN ('decision_maker', 'economic_buyer', 'champion', 'influencer', 'technical', 'end_user', 'other'))
);
CREATE UNIQUE INDEX opportunity_contact_one_primary ON crm.opportunity_contact (organization_id, opportunity_id) WHERE is_primary;
CREATE INDEX opportunity_contact_contact_idx ON crm.opportunity_contact (organization_id, contact_id);
COMMENT ON TABLE crm.opportunity_contact IS 'A contact''s role in a deal (buying committee); at most one primary contact per deal.';
COMMENT ON COLUMN crm.opportunity_contact.opportunity_id IS 'The crm.opportunity.';
COMMENT ON COLUMN crm.opportunity_contact.contact_id IS 'The crm.contact.';
COMMENT ON COLUMN crm.opportunity_contact.role IS 'decision_maker, economic_buyer, champion, influencer, technical, end_user or other.';
COMMENT ON COLUMN crm.opportunity_contact.is_primary IS 'The primary contact of the deal (at most one).';
SELECT crm._setup_tenant_table('crm.opportunity_contact', label => 'opportunity contact');

-- ---------------------------------------------------------------------------
-- Stage history as stints: one row per interval during which an
-- opportunity's tracked values (pipeline, stage, amount, currency,
-- probability, forecast category, close date, owner) stood unchanged while
-- it was live.  Written by crm.trg_opportunity_track (src/pipeline.c), never
-- by applications.  The intervals of one opportunity never overlap
-- (opportunity_stage_history_no_overlap), so the state at any instant is
-- the one stint containing it.
-- ---------------------------------------------------------------------------

-- A range of uuids, only so that equality on the tenant and the opportunity
-- can sit in the GiST exclusion constraint next to the interval (the range
-- GiST operator class supports =; uuid itself has no GiST support without
-- the btree_gist extension).
CREATE FUNCTION crm._uuid_diff(uuid, uuid) RETURNS double precision
	AS 'MODULE_PATHNAME', 'pipeline_uuid_diff'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm._uuid_diff(uuid, uuid) IS
	'The difference of two uuids read as 128-bit numbers (approximate): the subtype difference of crm.uuid_range, which GiST needs to keep its index compact.';
CREATE TYPE crm.uuid_range AS RANGE (subtype = uuid, subtype_diff = crm._uuid_diff);
COMMENT ON TYPE crm.uuid_range IS 'Range of uuids; crm uses single-value ranges to put uuid equality into GiST exclusion constraints.';
COMMENT ON FUNCTION crm.uuid_range(uuid, uuid) IS 'Constructor of crm.uuid_range [lower, upper).';
COMMENT ON FUNCTION crm.uuid_range(uuid, uuid, text) IS 'Constructor of crm.uuid_range with explicit bounds (''[]'': a single uuid).';
COMMENT ON TYPE crm.uuid_multirange IS 'Multirange of crm.uuid_range (made with the range type; unused).';
COMMENT ON FUNCTION crm.uuid_multirange() IS 'Constructor of an empty crm.uuid_multirange (made with the range type; unused).';
COMMENT ON FUNCTION crm.uuid_multirange(crm.uuid_range) IS 'Constructor of crm.uuid_multirange from one range (made with the range type; unused).';
COMMENT ON FUNCTION crm.uuid_multirange(crm.uuid_range[]) IS 'Constructor of crm.uuid_multirange from ranges (made with the range type; unused).';
-- The exclusion constraints put a uuid in as uuid_point(u): the same value
-- as uuid_range(u, u, '[]'), from a C function of crm's library (the
-- executor finds the range type's own constructor by a linear search among
-- all built-in functions whenever it sets up an index expression calling it:
-- twice per history statement).
CREATE FUNCTION crm.uuid_point(uuid) RETURNS crm.uuid_range
	AS 'MODULE_PATHNAME', 'pipeline_uuid_point'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.uuid_point(uuid) IS 'The crm.uuid_range holding one uuid, [u, u] (= crm.uuid_range(u, u, ''[]'')): how the exclusion constraints compare uuids for equality in GiST.';

CREATE TABLE crm.opportunity_stage_history (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	opportunity_id uuid NOT NULL,
	valid		tstzrange NOT NULL,
	pipeline_id	uuid NOT NULL,
	stage_id	uuid NOT NULL,
	from_stage_id uuid,
	amount		numeric(18,2) NOT NULL,
	previous_amount numeric(18,2),
	currency	char(3) NOT NULL,
	probability	numeric(5,2) NOT NULL,
	previous_probability numeric(5,2),
	expected_revenue numeric(18,2) GENERATED ALWAYS AS (pg_catalog.round(amount * probability / 100, 2)) STORED,
	is_probability_override boolean NOT NULL,
	forecast_category text NOT NULL,
	previous_forecast_category text,
	close_date	date,
	previous_close_date date,
	owner_id	uuid,
	previous_owner_id uuid,
	changed_by	uuid,
	CONSTRAINT opportunity_stage_history_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT opportunity_stage_history_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT opportunity_stage_history_opportunity_fkey FOREIGN KEY (organization_id, opportunity_id)
		REFERENCES crm.opportunity (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT opportunity_stage_history_stage_fkey FOREIGN KEY (organization_id, pipeline_id, stage_id)
		REFERENCES crm.pipeline_stage (organization_id, pipeline_id, id),
	CONSTRAINT opportunity_stage_history_valid_bounded_below CHECK (NOT pg_catalog.lower_inf(valid) AND NOT pg_catalog.isempty(valid)),
	CONSTRAINT opportunity_stage_history_no_overlap EXCLUDE USING gist (
		crm.uuid_point(opportunity_id) WITH OPERATOR(pg_catalog.=),
		crm.uuid_point(organization_id) WITH OPERATOR(pg_catalog.=),
		valid WITH OPERATOR(pg_catalog.&&))
);
CREATE INDEX opportunity_stage_history_opportunity_idx ON crm.opportunity_stage_history (organization_id, opportunity_id, pg_catalog.lower(valid));
CREATE INDEX opportunity_stage_history_pipeline_idx ON crm.opportunity_stage_history (organization_id, pipeline_id, pg_catalog.lower(valid));
COMMENT ON TABLE crm.opportunity_stage_history IS 'Stints of an opportunity: one row per interval in which its pipeline, stage, amount, currency, probability, forecast category, close date and owner stood unchanged while it was live; never overlapping (written by crm.trg_opportunity_track).';
COMMENT ON COLUMN crm.opportunity_stage_history.opportunity_id IS 'The crm.opportunity.';
COMMENT ON COLUMN crm.opportunity_stage_history.valid IS 'When the values held: [statement time of the change, statement time of the next change); open-ended for the current stint. Time in stage is upper - lower.';
COMMENT ON COLUMN crm.opportunity_stage_history.pipeline_id IS 'The pipeline during the stint.';
COMMENT ON COLUMN crm.opportunity_stage_history.stage_id IS 'The stage during the stint.';
COMMENT ON COLUMN crm.opportunity_stage_history.from_stage_id IS 'The stage of the previous stint (NULL for the first one, or after a soft delete was undone).';
COMMENT ON COLUMN crm.opportunity_stage_history.amount IS 'Amount during the stint.';
COMMENT ON COLUMN crm.opportunity_stage_history.previous_amount IS 'Amount of the previous stint.';
COMMENT ON COLUMN crm.opportunity_stage_history.currency IS 'Currency of amount during the stint.';
COMMENT ON COLUMN crm.opportunity_stage_history.probability IS 'Probability during the stint.';
COMMENT ON COLUMN crm.opportunity_stage_history.previous_probability IS 'Probability of the previous stint.';
COMMENT ON COLUMN crm.opportunity_stage_history.expected_revenue IS 'amount * probability / 100, rounded to cents (generated).';
COMMENT ON COLUMN crm.opportunity_stage_history.is_probability_override IS 'Whether the probability was set by hand (probability_override) rather than taken from the stage.';
COMMENT ON COLUMN crm.opportunity_stage_history.forecast_category IS 'Forecast category during the stint.';
COMMENT ON COLUMN crm.opportunity_stage_history.previous_forecast_category IS 'Forecast category of the previous stint.';
COMMENT ON COLUMN crm.opportunity_stage_history.close_date IS 'Expected close date during the stint.';
COMMENT ON COLUMN crm.opportunity_stage_history.previous_close_date IS 'Close date of the previous stint.';
COMMENT ON COLUMN crm.opportunity_stage_history.owner_id IS 'Owner during the stint.';
COMMENT ON COLUMN crm.opportunity_stage_history.previous_owner_id IS 'Owner of the previous stint.';
COMMENT ON COLUMN crm.opportunity_stage_history.changed_by IS 'The crm.app_user whose change began the stint (NULL: a system write).';
SELECT crm._setup_tenant_table('crm.opportunity_stage_history', audited => false, label => 'stage history stint');

CREATE TRIGGER crm_30_stage_in_use BEFORE DELETE ON crm.pipeline_stage
	FOR EACH ROW EXECUTE FUNCTION crm.trg_stage_in_use('pipeline_stage');

-- ---------------------------------------------------------------------------
-- The weighted-pipeline roll-up: per tenant, pipeline, stage, owner, close
-- month, forecast category and currency, the count, amount and expected
-- revenue of the live opportunities.  Kept by crm.trg_opportunity_track as
-- commutative deltas in the row of the writing backend's slot (its backend
-- id), so concurrent transactions never update the same row (no lock waits,
-- no deadlocks, no hot row); a bucket's value is the sum over its slots.
-- crm.fold_pipeline_rollup() folds the slots into slot 0 (doc/sales.md).
-- ---------------------------------------------------------------------------
CREATE TABLE crm.pipeline_rollup (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	pipeline_id	uuid NOT NULL,
	stage_id	uuid NOT NULL,
	owner_id	uuid,
	close_month	date,
	forecast_category text NOT NULL,
	currency	char(3) NOT NULL,
	slot		integer NOT NULL,
	opportunity_count bigint NOT NULL,
	amount		numeric NOT NULL,
	expected_revenue numeric NOT NULL,
	CONSTRAINT pipeline_rollup_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT pipeline_rollup_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	-- the bucket and slot; owner and close month may be NULL, and NULLs
	-- are one bucket
	CONSTRAINT pipeline_rollup_key UNIQUE NULLS NOT DISTINCT
		(organization_id, pipeline_id, stage_id, owner_id, close_month, forecast_category, currency, slot)
);
COMMENT ON TABLE crm.pipeline_rollup IS 'Weighted-pipeline roll-up of live opportunities per pipeline, stage, owner, close month, forecast category and currency, kept exact at commit by crm.trg_opportunity_track; a bucket is the sum of its slot rows.';
COMMENT ON COLUMN crm.pipeline_rollup.pipeline_id IS 'The pipeline.';
COMMENT ON COLUMN crm.pipeline_rollup.stage_id IS 'The stage.';
COMMENT ON COLUMN crm.pipeline_rollup.owner_id IS 'The opportunities'' owner (NULL: none).';
COMMENT ON COLUMN crm.pipeline_rollup.close_month IS 'First day of the close date''s month (NULL: no close date).';
COMMENT ON COLUMN crm.pipeline_rollup.forecast_category IS 'The opportunities'' forecast category.';
COMMENT ON COLUMN crm.pipeline_rollup.currency IS 'Currency of amount and expected_revenue.';
COMMENT ON COLUMN crm.pipeline_rollup.slot IS 'Backend id of the writers that added these deltas (0: folded); concurrent transactions never share a slot.';
COMMENT ON COLUMN crm.pipeline_rollup.opportunity_count IS 'Number of opportunities (this slot''s share).';
COMMENT ON COLUMN crm.pipeline_rollup.amount IS 'Sum of amount (this slot''s share).';
COMMENT ON COLUMN crm.pipeline_rollup.expected_revenue IS 'Sum of expected_revenue (this slot''s share).';
SELECT crm._setup_tenant_table('crm.pipeline_rollup', audited => false, label => 'pipeline roll-up row');
-- The folded roll-up summed over owners: what reports over all owners read
-- (a pipeline's buckets multiply by its owners; these rows do not).  Only
-- the fold writes it, in the statement that folds the slot rows, so the
-- folded per-stage rows plus the slot rows not folded yet are always the
-- whole roll-up (crm._rollup_cells).
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

-- ---------------------------------------------------------------------------
-- The C triggers of crm.opportunity (src/pipeline.c)
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm.trg_opportunity_stage() RETURNS trigger
	AS 'MODULE_PATHNAME', 'pipeline_opportunity_stage'
	LANGUAGE C;
COMMENT ON FUNCTION crm.trg_opportunity_stage() IS
	'BEFORE INSERT OR UPDATE (OF the columns it reads or maintains) row trigger on crm.opportunity: default pipeline and stage, currency, probability and forecast category from the stage unless overridden, close semantics (won/lost stages, lost reason required, reopen), stage_entered_at.';

CREATE FUNCTION crm.trg_opportunity_track() RETURNS trigger
	AS 'MODULE_PATHNAME', 'pipeline_opportunity_track'
	LANGUAGE C;
COMMENT ON FUNCTION crm.trg_opportunity_track() IS
	'AFTER INSERT OR DELETE OR UPDATE (OF the columns that can change what it tracks) row trigger on crm.opportunity: writes the stage-history stints and the deltas of crm.pipeline_rollup.';

-- crm_30_stage fires on an UPDATE only when it sets a column the function
-- reads or maintains (the "watched" columns of pipeline_opportunity_stage):
-- for any other update (amount, close date, owner, name, ...) they stay as
-- they were -- crm_10_stamp, crm_12_live_refs and crm_20_custom_fields,
-- which run before it, write none of them -- and the function would return
-- at once, so PostgreSQL does not call it.
CREATE TRIGGER crm_30_stage BEFORE INSERT OR UPDATE OF pipeline_id, stage_id, currency, probability, probability_override,
		forecast_category, forecast_category_override, lost_reason, stage_entered_at, is_closed, is_won, closed_at
	ON crm.opportunity
	FOR EACH ROW EXECUTE FUNCTION crm.trg_opportunity_stage('opportunity');
-- crm_40_track fires on an UPDATE only when it sets a column that can
-- change what the history tracks or whether the deal is live: the tracked
-- columns themselves (pipeline, stage, amount, currency, probability and
-- its override, forecast category, close date, owner), deleted_at, and
-- every column that makes crm_30_stage run (and so rewrite tracked
-- columns).  Any other update leaves the tracked values as they were --
-- the BEFORE triggers write tracked columns only through crm_30_stage --
-- and the function would return at once (tracked_changed in
-- src/pipeline.c), so PostgreSQL does not queue it.
CREATE TRIGGER crm_40_track AFTER INSERT OR DELETE OR UPDATE OF pipeline_id, stage_id, amount, currency, probability,
		probability_override, forecast_category, forecast_category_override, close_date, owner_id, deleted_at,
		lost_reason, stage_entered_at, is_closed, is_won, closed_at
	ON crm.opportunity
	FOR EACH ROW EXECUTE FUNCTION crm.trg_opportunity_track('opportunity');

-- The default pipeline a new tenant starts with: a system write (no actor
-- of the caller's organization is recorded on the new tenant's rows).
CREATE FUNCTION crm._seed_default_pipeline(org uuid) RETURNS uuid
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
SET crm.user_id = ''
AS $$
DECLARE
	p uuid;
BEGIN
	INSERT INTO crm.pipeline AS x (organization_id, name, is_default)
	VALUES (org, 'Sales', true)
	RETURNING x.id INTO p;
	INSERT INTO crm.pipeline_stage (organization_id, pipeline_id, name, position, default_probability,
									forecast_category, is_closed, is_won)
	VALUES (org, p, 'Prospecting', 1, 10, 'pipeline', false, false),
		   (org, p, 'Qualification', 2, 20, 'pipeline', false, false),
		   (org, p, 'Proposal', 3, 50, 'best_case', false, false),
		   (org, p, 'Negotiation', 4, 80, 'commit', false, false),
		   (org, p, 'Closed Won', 5, 100, 'closed', true, true),
		   (org, p, 'Closed Lost', 6, 0, 'omitted', true, false);
	RETURN p;
END;
$$;
COMMENT ON FUNCTION crm._seed_default_pipeline(uuid) IS
	'Internal (crm.create_organization): creates the default pipeline Sales (Prospecting 10, Qualification 20, Proposal 50, Negotiation 80, Closed Won 100, Closed Lost 0) of a new organization.';

-- The pipeline a report is about: the given one (of the current
-- organization), else the default.
CREATE FUNCTION crm._report_pipeline(org uuid, pipeline uuid) RETURNS uuid
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	p uuid;
BEGIN
	IF pipeline IS NULL THEN
		SELECT x.id INTO p FROM crm.pipeline x WHERE x.organization_id = org AND x.is_default;
		IF p IS NULL THEN
			RAISE EXCEPTION 'organization % has no default pipeline', org
				USING ERRCODE = 'no_data_found',
					  HINT = 'Name a pipeline, or make one the default: UPDATE crm.pipeline SET is_default = (id = ''…'').';
		END IF;
	ELSE
		SELECT x.id INTO p FROM crm.pipeline x WHERE x.organization_id = org AND x.id = pipeline;
		IF p IS NULL THEN
			RAISE EXCEPTION 'pipeline % does not exist in this organization', pipeline
				USING ERRCODE = 'no_data_found';
		END IF;
	END IF;
	RETURN p;
END;
$$;
COMMENT ON FUNCTION crm._report_pipeline(uuid, uuid) IS
	'Internal: the pipeline a report is about (the given one of the organization, else its default); errors when there is none.';

-- One cell of a per-stage report: a stage's count and sums in one currency.
CREATE TYPE crm._stage_cell AS (stage_id uuid, currency char(3), n bigint, amount numeric, weighted numeric);
COMMENT ON TYPE crm._stage_cell IS 'Internal: a stage''s count, amount and weighted amount in one currency (crm.pipeline_summary, crm.pipeline_as_of).';

-- Every stage of a pipeline in order, with its cells (a stage without one
-- shows zeros in the organization's currency).
CREATE FUNCTION crm._per_stage(org uuid, pipeline uuid, cells crm._stage_cell[])
RETURNS TABLE (stage_id uuid, stage text, "position" integer, currency char(3),
			   opportunity_count bigint, amount numeric, weighted_amount numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	RETURN QUERY
	SELECT s.id, s.name, s.position, coalesce(r.currency, o.default_currency)::char(3),
		   coalesce(r.n, 0)::bigint, coalesce(r.amount, 0), coalesce(r.weighted, 0)
	  FROM crm.pipeline_stage s
	  JOIN crm.organization o ON o.id = s.organization_id
	  LEFT JOIN unnest(cells) r ON r.stage_id = s.id
	 WHERE s.organization_id = org AND s.pipeline_id = _per_stage.pipeline
	 ORDER BY s.position, s.name, 4;
END;
$$;
COMMENT ON FUNCTION crm._per_stage(uuid, uuid, crm._stage_cell[]) IS
	'Internal: the rows of a per-stage report (every stage of the pipeline in order, zeros where no cell).';

-- The roll-up rows a report sums, of one pipeline (NULL: all) and close
-- months month_from..month_to (NULL: open-ended; a NULL close month only
-- when both are NULL).  For all owners (owners NULL): the folded per-stage
-- rows plus the slot rows not folded yet -- O(stages x months) after a
-- fold, whatever the number of owners; for given owners their buckets.
CREATE FUNCTION crm._rollup_cells(org uuid, pipeline uuid, owners uuid[], month_from date, month_to date)
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

-- The weighted pipeline per stage in the corporate currency, from the
-- roll-up only: O(stages x buckets), never the opportunity table.  Each
-- (stage, currency, close month) is converted with the rate in force on the
-- month's first day (crm._fx, sql/38_sales_reports.sql).
CREATE FUNCTION crm.pipeline_summary(pipeline uuid DEFAULT NULL, owner uuid DEFAULT NULL,
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

-- The same per stage and currency, unconverted (needs no exchange rate).
CREATE FUNCTION crm.pipeline_summary_by_currency(pipeline uuid DEFAULT NULL, owner uuid DEFAULT NULL,
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

-- The weighted pipeline per stage (in the corporate currency, converted as
-- crm.pipeline_summary) as it stood at an instant, from the stage history
-- alone.
CREATE FUNCTION crm.pipeline_as_of(at timestamptz, pipeline uuid DEFAULT NULL)
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
	IF at IS NULL OR NOT isfinite(at) THEN
		RAISE EXCEPTION 'pipeline_as_of needs a finite instant, not %', coalesce(at::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	p := crm._report_pipeline(org, pipeline);
	SELECT o.default_currency INTO corp FROM crm.organization o WHERE o.id = org;
	RETURN QUERY SELECT * FROM crm._per_stage(org, p, ARRAY(
		SELECT ROW(f.key::uuid, corp, f.n, f.amount, f.weighted)::crm._stage_cell
		  FROM crm._fx(org, ARRAY(
				-- the stints grouped by their plain columns first (cheap to
				-- hash), then by close month where a rate is needed (the
				-- corporate currency needs none)
				SELECT ROW(g.stage_id::text, g.currency,
						   CASE WHEN g.currency <> corp THEN date_trunc('month', g.close_date)::date END,
						   sum(g.n), sum(g.amount), sum(g.weighted))::crm._fx_cell
				  FROM (SELECT h.stage_id, h.currency, h.close_date, count(*) AS n, sum(h.amount) AS amount,
							   sum(h.expected_revenue) AS weighted
						  FROM crm.opportunity_stage_history h
						 WHERE h.organization_id = org AND h.pipeline_id = p
						   AND lower(h.valid) <= at AND h.valid @> at
						 GROUP BY h.stage_id, h.currency, h.close_date) g
				 GROUP BY g.stage_id, g.currency, CASE WHEN g.currency <> corp THEN date_trunc('month', g.close_date)::date END)) f));
END;
$$;
COMMENT ON FUNCTION crm.pipeline_as_of(timestamptz, uuid) IS
	'Weighted pipeline per stage in the corporate currency (converted as crm.pipeline_summary, with the rates crm.exchange_rate holds now) exactly as it stood at the given instant, rebuilt from crm.opportunity_stage_history.';

-- Fold every slot of the current organization's roll-up into slot 0 and
-- drop empty buckets.  Rows a running transaction is writing are skipped
-- (SKIP LOCKED) and folded next time, so folding never waits for writers.
-- It runs as the owner (applications cannot write the roll-up) for the
-- caller's organization only, and only for a caller that may change
-- opportunities: crm._caller_org checks both.
CREATE FUNCTION crm.fold_pipeline_rollup() RETURNS bigint
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

-- The job: fold every organization's roll-up, each in its own tenant context.
CREATE FUNCTION crm.fold_pipeline_rollups() RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	o record;
	total bigint := 0;
BEGIN
	FOR o IN SELECT DISTINCT r.organization_id FROM crm.pipeline_rollup r WHERE r.slot <> 0 LOOP
		BEGIN
			PERFORM set_config('crm.organization_id', o.organization_id::text, true);
			total := total + crm.fold_pipeline_rollup();
		EXCEPTION WHEN OTHERS THEN
			RAISE WARNING 'folding the pipeline roll-up of organization % failed: %', o.organization_id, SQLERRM;
		END;
	END LOOP;
	RETURN total;
END;
$$;
COMMENT ON FUNCTION crm.fold_pipeline_rollups() IS
	'Job: crm.fold_pipeline_rollup() for every organization, each in its own tenant context (one failure does not stop the others). Returns the buckets written.';
INSERT INTO crm.job (name, schedule, command, description) VALUES
	('fold_pipeline_rollups', '*/10 * * * *', 'SELECT crm.fold_pipeline_rollups()',
	 'Folds the per-backend slot rows of crm.pipeline_rollup (summaries stay exact without it; it keeps them small).');

-- Drift check: the roll-up against a recomputation from the opportunities.
CREATE FUNCTION crm.check_pipeline_rollup()
RETURNS TABLE (entity text, id uuid, expected text, actual text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	RETURN QUERY
	WITH want AS (
		SELECT o.organization_id, o.pipeline_id, o.stage_id, o.owner_id,
			   date_trunc('month', o.close_date)::date AS close_month, o.forecast_category, o.currency,
			   count(*)::numeric AS n, sum(o.amount) AS amount, sum(o.expected_revenue) AS weighted
		  FROM crm.opportunity o
		 WHERE o.deleted_at IS NULL
		 GROUP BY 1, 2, 3, 4, 5, 6, 7),
	have AS (
		SELECT r.organization_id, r.pipeline_id, r.stage_id, r.owner_id, r.close_month, r.forecast_category, r.currency,
			   sum(r.opportunity_count)::numeric AS n, sum(r.amount) AS amount, sum(r.expected_revenue) AS weighted
		  FROM crm.pipeline_rollup r
		 GROUP BY 1, 2, 3, 4, 5, 6, 7)
	SELECT 'pipeline_rollup'::text, coalesce(w.stage_id, h.stage_id),
		   format('%s opportunities, amount %s, weighted %s', coalesce(w.n, 0), coalesce(w.amount, 0), coalesce(w.weighted, 0)),
		   format('%s opportunities, amount %s, weighted %s', coalesce(h.n, 0), coalesce(h.amount, 0), coalesce(h.weighted, 0))
			 || format(' (owner %s, close month %s, %s, %s)', coalesce(coalesce(w.owner_id, h.owner_id)::text, 'none'),
					   coalesce(coalesce(w.close_month, h.close_month)::text, 'none'),
					   coalesce(w.forecast_category, h.forecast_category), coalesce(w.currency, h.currency))
	  FROM want w
	  FULL JOIN have h
		ON h.organization_id = w.organization_id AND h.pipeline_id = w.pipeline_id AND h.stage_id = w.stage_id
	   AND h.owner_id IS NOT DISTINCT FROM w.owner_id AND h.close_month IS NOT DISTINCT FROM w.close_month
	   AND h.forecast_category = w.forecast_category AND h.currency = w.currency
	 WHERE (coalesce(w.n, 0), coalesce(w.amount, 0), coalesce(w.weighted, 0))
		   IS DISTINCT FROM (coalesce(h.n, 0), coalesce(h.amount, 0), coalesce(h.weighted, 0))
	 ORDER BY 2, 4;
END;
$$;
COMMENT ON FUNCTION crm.check_pipeline_rollup() IS
	'crm.verify() check: buckets of crm.pipeline_rollup whose count, amount or expected revenue differ from a recomputation over the live opportunities.';
INSERT INTO crm.verify_check VALUES
	('pipeline_rollup', 'crm.check_pipeline_rollup()', 'The weighted-pipeline roll-up equals the sums over the live opportunities.');

-- Drift check: the folded per-stage rows against the folded buckets they
-- sum (with check_pipeline_rollup: every report over all owners is exact).
CREATE FUNCTION crm.check_pipeline_stage_rollup()
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

-- Drift check: every live opportunity has exactly one open stint, holding
-- its current values; a deleted one has none.
CREATE FUNCTION crm.check_opportunity_history()
RETURNS TABLE (entity text, id uuid, expected text, actual text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	RETURN QUERY
	SELECT 'opportunity'::text, o.id,
		   CASE WHEN o.deleted_at IS NULL
				THEN format('one open stint: stage %s, amount %s %s, probability %s, %s, close %s, owner %s',
							o.stage_id, o.amount, o.currency, o.probability, o.forecast_category,
							coalesce(o.close_date::text, 'none'), coalesce(o.owner_id::text, 'none'))
				ELSE 'no open stint (deleted)' END,
		   coalesce(string_agg(format('stage %s, amount %s %s, probability %s, %s, close %s, owner %s',
									  h.stage_id, h.amount, h.currency, h.probability, h.forecast_category,
									  coalesce(h.close_date::text, 'none'), coalesce(h.owner_id::text, 'none')), '; '),
					'no open stint')
	  FROM crm.opportunity o
	  LEFT JOIN crm.opportunity_stage_history h
		ON h.organization_id = o.organization_id AND h.opportunity_id = o.id AND upper_inf(h.valid)
	 GROUP BY o.organization_id, o.id
	HAVING CASE WHEN o.deleted_at IS NULL
				THEN count(h.id) <> 1
					 OR NOT bool_and(h.stage_id = o.stage_id AND h.pipeline_id = o.pipeline_id AND h.amount = o.amount
									 AND h.currency = o.currency AND h.probability = o.probability
									 AND h.forecast_category = o.forecast_category
									 AND h.close_date IS NOT DISTINCT FROM o.close_date
									 AND h.owner_id IS NOT DISTINCT FROM o.owner_id)
				ELSE count(h.id) <> 0 END
	 ORDER BY o.organization_id, o.id;
END;
$$;
COMMENT ON FUNCTION crm.check_opportunity_history() IS
	'crm.verify() check: live opportunities without exactly one open stage-history stint holding their current values, and deleted ones with an open stint.';
INSERT INTO crm.verify_check VALUES
	('opportunity_history', 'crm.check_opportunity_history()', 'Every live opportunity has one open history stint with its current values; deleted ones have none.');
