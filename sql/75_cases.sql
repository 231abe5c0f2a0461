-- ============================================================================
-- 75 cases: support cases (gap-free per-tenant numbers), case comments, and
-- business calendars with their arithmetic (doc/sla.md)
-- ============================================================================

-- ---------------------------------------------------------------------------
-- Business calendars
-- ---------------------------------------------------------------------------
CREATE TABLE crm.business_calendar (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	name		text NOT NULL,
	time_zone	text NOT NULL,
	hours		jsonb NOT NULL,
	holidays	date[] NOT NULL DEFAULT '{}',
	recurring_holidays text[] NOT NULL DEFAULT '{}',
	is_default	boolean NOT NULL DEFAULT false,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT business_calendar_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT business_calendar_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	-- (not led by organization_id: foreign-key checks keep the primary key)
	CONSTRAINT business_calendar_name_key UNIQUE (name, organization_id),
	CONSTRAINT business_calendar_name_not_blank CHECK (pg_catalog.btrim(name) <> ''),
	CONSTRAINT business_calendar_one_default EXCLUDE USING btree (organization_id WITH OPERATOR(pg_catalog.=))
		WHERE (is_default) DEFERRABLE INITIALLY IMMEDIATE
);
COMMENT ON TABLE crm.business_calendar IS 'A business calendar: weekly open intervals in an IANA time zone, minus holidays; SLA targets count its open time (crm.business_add, crm.business_minutes). Semantics in doc/sla.md.';
COMMENT ON COLUMN crm.business_calendar.name IS 'Calendar name, unique per organization.';
COMMENT ON COLUMN crm.business_calendar.time_zone IS 'IANA time zone the hours and holidays are local to (e.g. Europe/Berlin).';
COMMENT ON COLUMN crm.business_calendar.hours IS 'Weekly open intervals: {"mon": [["09:00","12:00"],["13:00","17:00"]], ..., "sun": []}; a missing day is closed, "24:00" ends a day, an end not after the start runs into the next day.';
COMMENT ON COLUMN crm.business_calendar.holidays IS 'Closed local days (whole days, also cutting an overnight interval reaching into them).';
COMMENT ON COLUMN crm.business_calendar.recurring_holidays IS 'Closed local days every year, as ''MM-DD'' (02-29 in leap years only).';
COMMENT ON COLUMN crm.business_calendar.is_default IS 'The calendar SLA policies use when they name none; one per organization (seeded 24x7).';
SELECT crm._setup_tenant_table('crm.business_calendar', label => 'business calendar');

CREATE FUNCTION crm._business_calendar_validate(time_zone text, hours jsonb, holidays date[], recurring text[])
RETURNS void
	AS 'MODULE_PATHNAME', 'sla_calendar_validate'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm._business_calendar_validate(text, jsonb, date[], text[]) IS
	'Internal: raises a clear error (22023) for an unknown time zone, hours that are not the documented shape, bad day keys or times, overlapping intervals, bad recurring holidays, or a calendar never open.';

-- Every write of a calendar is validated (also direct INSERT/UPDATE).
CREATE FUNCTION crm.trg_business_calendar_check() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_business_calendar_check()', TG_NAME, TG_RELID, TG_ARGV, '{business_calendar}');
	PERFORM crm._business_calendar_validate(NEW.time_zone, NEW.hours, NEW.holidays, NEW.recurring_holidays);
	RETURN NEW;
END;
$$;
COMMENT ON FUNCTION crm.trg_business_calendar_check() IS
	'BEFORE INSERT OR UPDATE row trigger on crm.business_calendar: validates zone, hours and holidays.';
CREATE TRIGGER crm_30_check BEFORE INSERT OR UPDATE ON crm.business_calendar
	FOR EACH ROW EXECUTE FUNCTION crm.trg_business_calendar_check('business_calendar');

-- Every backend caches compiled calendars; a change invalidates them at
-- commit (and in the changing transaction at its next command).
CREATE FUNCTION crm.trg_business_calendar_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'sla_calendar_changed'
	LANGUAGE C;
COMMENT ON FUNCTION crm.trg_business_calendar_changed() IS
	'AFTER statement trigger on crm.business_calendar: invalidates the compiled calendars every backend caches.';
CREATE TRIGGER crm_95_calendar_cache AFTER INSERT OR UPDATE OR DELETE ON crm.business_calendar
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_business_calendar_changed();

-- The one way tools create calendars (its signature is relied upon).
CREATE FUNCTION crm.create_business_calendar(name text, time_zone text, hours jsonb,
											 holidays date[] DEFAULT '{}', recurring_holidays text[] DEFAULT '{}')
RETURNS uuid
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	new_id uuid;
BEGIN
	INSERT INTO crm.business_calendar AS c (organization_id, name, time_zone, hours, holidays, recurring_holidays)
	VALUES (crm.current_org(), create_business_calendar.name, create_business_calendar.time_zone,
			create_business_calendar.hours, coalesce(create_business_calendar.holidays, '{}'),
			coalesce(create_business_calendar.recurring_holidays, '{}'))
	RETURNING c.id INTO new_id;
	RETURN new_id;
END;
$$;
COMMENT ON FUNCTION crm.create_business_calendar(text, text, jsonb, date[], text[]) IS
	'Creates a business calendar of the current organization and returns its id: name, IANA time zone, weekly hours {"mon": [["09:00","17:00"]], ...}, holiday dates, yearly ''MM-DD'' holidays.';

CREATE FUNCTION crm.business_add(start timestamptz, minutes integer, calendar uuid) RETURNS timestamptz
	AS 'MODULE_PATHNAME', 'sla_business_add_sql'
	LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION crm.business_add(timestamptz, integer, uuid) IS
	'The earliest instant t with exactly minutes of the calendar''s open time in [start, t) (start itself for 0); a deadline on a closing time is that closing time. Exact across daylight saving.';

CREATE FUNCTION crm.business_minutes("from" timestamptz, "to" timestamptz, calendar uuid) RETURNS integer
	AS 'MODULE_PATHNAME', 'sla_business_minutes_sql'
	LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION crm.business_minutes(timestamptz, timestamptz, uuid) IS
	'The calendar''s open time in [from, to) in whole minutes (rounded down); negative of the swapped span when from > to.';

CREATE FUNCTION crm._business_add_usec(start timestamptz, usec bigint, calendar uuid) RETURNS timestamptz
	AS 'MODULE_PATHNAME', 'sla_business_add_usec'
	LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION crm._business_add_usec(timestamptz, bigint, uuid) IS
	'Internal (SLA engine): crm.business_add with a microsecond amount.';

CREATE FUNCTION crm._business_usec("from" timestamptz, "to" timestamptz, calendar uuid) RETURNS bigint
	AS 'MODULE_PATHNAME', 'sla_business_usec'
	LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION crm._business_usec(timestamptz, timestamptz, uuid) IS
	'Internal (SLA engine): the calendar''s open time in [from, to) in microseconds.';

-- ---------------------------------------------------------------------------
-- Cases
-- ---------------------------------------------------------------------------

-- The last case number of each tenant.  Taken under the row's lock by the
-- inserting transaction, so numbers are consecutive in commit order and a
-- rolled-back insert gives its number back.
CREATE TABLE crm.case_counter (
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	last_number	bigint NOT NULL,
	CONSTRAINT case_counter_pkey PRIMARY KEY (organization_id),
	CONSTRAINT case_counter_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT case_counter_positive CHECK (last_number > 0)
);
COMMENT ON TABLE crm.case_counter IS 'The last case number given in each organization (gap-free numbering: the counter row is locked until the inserting transaction ends).';
COMMENT ON COLUMN crm.case_counter.last_number IS 'The number of the organization''s latest case.';
SELECT crm._setup_tenant_table('crm.case_counter', audited => false, label => 'case counter');

-- The next case number of the caller's organization; the counter row stays
-- locked until the transaction ends (SECURITY DEFINER: application roles
-- may only read the counter).
CREATE FUNCTION crm._next_case_number(org uuid) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	n bigint;
BEGIN
	IF org IS DISTINCT FROM crm._caller_org('crm.case', 'INSERT') THEN
		RAISE EXCEPTION 'organization % is not the current organization', org USING ERRCODE = 'insufficient_privilege';
	END IF;
	INSERT INTO crm.case_counter AS k (organization_id, last_number) VALUES (org, 1)
	ON CONFLICT (organization_id) DO UPDATE SET last_number = k.last_number + 1
	RETURNING k.last_number INTO n;
	RETURN n;
END;
$$;
COMMENT ON FUNCTION crm._next_case_number(uuid) IS
	'Internal (crm.trg_case_before): takes the next case number of the organization; the counter row stays locked until commit or rollback, so numbers have no gaps.';

CREATE TABLE crm.case (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	number		bigint NOT NULL DEFAULT 0,
	case_number	text GENERATED ALWAYS AS ('CS-' || pg_catalog.lpad(number::text, 6, '0')) STORED,
	subject		text NOT NULL,
	description	text,
	account_id	uuid,
	contact_id	uuid,
	status		text NOT NULL DEFAULT 'new',
	priority	text NOT NULL DEFAULT 'medium',
	severity	smallint NOT NULL DEFAULT 3,
	channel		text NOT NULL DEFAULT 'email',
	category	text,
	assignee_id	uuid,
	team_id		uuid,
	product_id	uuid,
	status_changed_at timestamptz,
	first_response_at timestamptz,
	resolved_at	timestamptz,
	closed_at	timestamptz,
	escalated	boolean NOT NULL DEFAULT false,
	tags		text[] NOT NULL DEFAULT '{}',
	custom_fields jsonb NOT NULL DEFAULT '{}',
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	deleted_at	timestamptz,
	search_vector tsvector GENERATED ALWAYS AS (
		setweight(to_tsvector('simple'::regconfig, crm.search_fold(subject)), 'A') ||
		setweight(to_tsvector('simple'::regconfig, crm.search_fold(left(coalesce(description, ''), 20000))), 'C')
	) STORED,
	CONSTRAINT case_pkey PRIMARY KEY (organization_id, id),
	-- (not led by organization_id: foreign-key checks keep the primary key)
	CONSTRAINT case_number_key UNIQUE (number, organization_id),
	CONSTRAINT case_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT case_account_fkey FOREIGN KEY (organization_id, account_id) REFERENCES crm.account (organization_id, id),
	CONSTRAINT case_contact_fkey FOREIGN KEY (organization_id, contact_id) REFERENCES crm.contact (organization_id, id),
	CONSTRAINT case_assignee_fkey FOREIGN KEY (organization_id, assignee_id) REFERENCES crm.app_user (organization_id, id),
	CONSTRAINT case_team_fkey FOREIGN KEY (organization_id, team_id) REFERENCES crm.team (organization_id, id),
	CONSTRAINT case_subject_not_blank CHECK (pg_catalog.btrim(subject) <> ''),
	CONSTRAINT case_status_valid CHECK (status IN ('new', 'open', 'pending', 'on_hold', 'resolved', 'closed')),
	CONSTRAINT case_priority_valid CHECK (priority IN ('low', 'medium', 'high', 'urgent')),
	CONSTRAINT case_severity_range CHECK (severity BETWEEN 1 AND 4),
	CONSTRAINT case_channel_valid CHECK (channel IN ('email', 'phone', 'chat', 'portal', 'social')),
	CONSTRAINT case_custom_fields_object CHECK (jsonb_typeof(custom_fields) = 'object')
);
CREATE INDEX case_account_idx ON crm.case (organization_id, account_id, created_at DESC) WHERE account_id IS NOT NULL;
CREATE INDEX case_contact_idx ON crm.case (organization_id, contact_id, created_at DESC) WHERE contact_id IS NOT NULL;
CREATE INDEX case_open_idx ON crm.case (organization_id, assignee_id, priority)
	WHERE status NOT IN ('resolved', 'closed') AND deleted_at IS NULL;
CREATE INDEX case_search_idx ON crm.case USING gin (search_vector crm.tsvector_ops);
CREATE INDEX case_tags_idx ON crm.case USING gin (tags);
COMMENT ON TABLE crm.case IS 'A support case: numbered CS-000001 per organization without gaps, with status, priority and SLA targets (crm.case_sla).';
COMMENT ON COLUMN crm.case.number IS 'Per-organization sequence number, gap-free under concurrency and rollback (assigned on insert; a given value is replaced).';
COMMENT ON COLUMN crm.case.case_number IS 'The number as shown: CS- and at least six digits (CS-000042).';
COMMENT ON COLUMN crm.case.subject IS 'One-line summary.';
COMMENT ON COLUMN crm.case.description IS 'The customer''s description.';
COMMENT ON COLUMN crm.case.account_id IS 'The customer crm.account.';
COMMENT ON COLUMN crm.case.contact_id IS 'The crm.contact who reported it.';
COMMENT ON COLUMN crm.case.status IS 'new, open, pending, on_hold, resolved or closed; the SLA policy''s pause statuses stop its clocks, resolved and closed stop them too.';
COMMENT ON COLUMN crm.case.priority IS 'low, medium, high or urgent.';
COMMENT ON COLUMN crm.case.severity IS 'Severity 1 (critical) to 4 (minor).';
COMMENT ON COLUMN crm.case.channel IS 'email, phone, chat, portal or social.';
COMMENT ON COLUMN crm.case.category IS 'Free category (for SLA policies and reports).';
COMMENT ON COLUMN crm.case.assignee_id IS 'The crm.app_user working on it.';
COMMENT ON COLUMN crm.case.team_id IS 'The crm.team it is queued to.';
COMMENT ON COLUMN crm.case.product_id IS 'The product it is about (its foreign key arrives with products).';
COMMENT ON COLUMN crm.case.status_changed_at IS 'When the status last changed (set on a status change unless the same UPDATE sets it: import and tests inject times here).';
COMMENT ON COLUMN crm.case.first_response_at IS 'When the first public agent comment was written.';
COMMENT ON COLUMN crm.case.resolved_at IS 'When the case was last resolved (cleared on reopening).';
COMMENT ON COLUMN crm.case.closed_at IS 'When the case was closed (cleared on reopening).';
COMMENT ON COLUMN crm.case.escalated IS 'Set by the SLA sweep when a target is breached.';
SELECT crm._setup_tenant_table('crm.case');

-- Number, status times: BEFORE INSERT OR UPDATE.
CREATE FUNCTION crm.trg_case_before() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	at timestamptz;
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_case_before()', TG_NAME, TG_RELID, TG_ARGV, '{case}');
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN NEW;
	END IF;
	IF TG_OP = 'INSERT' THEN
		NEW.number := crm._next_case_number(NEW.organization_id);
		NEW.status_changed_at := coalesce(NEW.status_changed_at, NEW.created_at);
		at := NEW.status_changed_at;
	ELSE
		IF NEW.number IS DISTINCT FROM OLD.number THEN
			RAISE EXCEPTION 'the number of case % cannot change', OLD.case_number
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		IF NEW.status IS NOT DISTINCT FROM OLD.status THEN
			RETURN NEW;
		END IF;
		IF NEW.status_changed_at IS NOT DISTINCT FROM OLD.status_changed_at THEN
			NEW.status_changed_at := pg_catalog.now();
		END IF;
		at := NEW.status_changed_at;
	END IF;
	IF NEW.status IN ('resolved', 'closed') THEN
		IF TG_OP = 'INSERT' OR OLD.status NOT IN ('resolved', 'closed') THEN
			NEW.resolved_at := coalesce(NEW.resolved_at, at);
		END IF;
		IF NEW.status = 'closed' THEN
			NEW.closed_at := coalesce(NEW.closed_at, at);
		ELSE
			NEW.closed_at := NULL;
		END IF;
	ELSE
		NEW.resolved_at := NULL;
		NEW.closed_at := NULL;
	END IF;
	RETURN NEW;
END;
$$;
COMMENT ON FUNCTION crm.trg_case_before() IS
	'BEFORE INSERT OR UPDATE row trigger on crm.case: gap-free number (the tenant''s counter row, locked until commit), status_changed_at, resolved_at, closed_at.';
CREATE TRIGGER crm_30_case BEFORE INSERT OR UPDATE ON crm.case
	FOR EACH ROW EXECUTE FUNCTION crm.trg_case_before('case');

-- Comments on a case: by an agent (app_user) or by the customer (contact).
CREATE TABLE crm.case_comment (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	case_id		uuid NOT NULL,
	author_user_id uuid,
	author_contact_id uuid,
	is_public	boolean NOT NULL DEFAULT true,
	body		text NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	deleted_at	timestamptz,
	CONSTRAINT case_comment_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT case_comment_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT case_comment_case_fkey FOREIGN KEY (organization_id, case_id) REFERENCES crm.case (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT case_comment_user_fkey FOREIGN KEY (organization_id, author_user_id) REFERENCES crm.app_user (organization_id, id),
	CONSTRAINT case_comment_contact_fkey FOREIGN KEY (organization_id, author_contact_id) REFERENCES crm.contact (organization_id, id),
	CONSTRAINT case_comment_one_author CHECK (num_nonnulls(author_user_id, author_contact_id) = 1),
	CONSTRAINT case_comment_customer_public CHECK (author_contact_id IS NULL OR is_public),
	CONSTRAINT case_comment_body_not_blank CHECK (pg_catalog.btrim(body) <> '')
);
CREATE INDEX case_comment_case_idx ON crm.case_comment (organization_id, case_id, created_at);
COMMENT ON TABLE crm.case_comment IS 'A comment on a case by an agent (author_user_id) or the customer (author_contact_id); public agent comments are responses for the SLA.';
COMMENT ON COLUMN crm.case_comment.case_id IS 'The crm.case commented on.';
COMMENT ON COLUMN crm.case_comment.author_user_id IS 'The agent (crm.app_user) who wrote it; exactly one author.';
COMMENT ON COLUMN crm.case_comment.author_contact_id IS 'The customer (crm.contact) who wrote it; exactly one author.';
COMMENT ON COLUMN crm.case_comment.is_public IS 'Visible to the customer; internal notes (false) are not responses. Customer comments are always public.';
COMMENT ON COLUMN crm.case_comment.body IS 'The text.';
SELECT crm._setup_tenant_table('crm.case_comment', label => 'case comment');

-- Activities can relate to a case.
ALTER TABLE crm.activity ADD COLUMN case_id uuid;
ALTER TABLE crm.activity ADD CONSTRAINT activity_case_fkey FOREIGN KEY (organization_id, case_id) REFERENCES crm.case (organization_id, id);
CREATE INDEX activity_case_timeline_idx ON crm.activity (organization_id, case_id, activity_at DESC) WHERE case_id IS NOT NULL;
COMMENT ON COLUMN crm.activity.case_id IS 'Related crm.case.';
