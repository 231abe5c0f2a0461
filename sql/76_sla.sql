-- ============================================================================
-- 76 sla: SLA policies, per-case targets kept exact at commit, the breach
-- sweep, reporting (doc/sla.md)
-- ============================================================================

-- Every tenant starts with a 24x7 calendar in UTC (the default).
CREATE FUNCTION crm._seed_sla(org uuid) RETURNS uuid
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
SET crm.user_id = ''
AS $$
DECLARE
	c uuid;
BEGIN
	INSERT INTO crm.business_calendar AS x (organization_id, name, time_zone, hours, is_default)
	VALUES (org, '24x7', 'UTC',
			'{"mon": [["00:00","24:00"]], "tue": [["00:00","24:00"]], "wed": [["00:00","24:00"]], "thu": [["00:00","24:00"]],
			  "fri": [["00:00","24:00"]], "sat": [["00:00","24:00"]], "sun": [["00:00","24:00"]]}', true)
	RETURNING x.id INTO c;
	RETURN c;
END;
$$;
COMMENT ON FUNCTION crm._seed_sla(uuid) IS
	'Internal (crm.create_organization): creates the default business calendar 24x7 (UTC, always open) of a new organization.';

-- ---------------------------------------------------------------------------
-- Policies
-- ---------------------------------------------------------------------------
CREATE TABLE crm.sla_policy (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	name		text NOT NULL,
	position	integer NOT NULL,
	criteria	jsonb,
	calendar_id	uuid,
	first_response_minutes integer,
	next_response_minutes integer,
	resolution_minutes integer,
	pause_statuses text[] NOT NULL DEFAULT '{pending,on_hold}',
	warning_percent integer NOT NULL DEFAULT 80,
	is_active	boolean NOT NULL DEFAULT true,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT sla_policy_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT sla_policy_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT sla_policy_calendar_fkey FOREIGN KEY (organization_id, calendar_id) REFERENCES crm.business_calendar (organization_id, id),
	-- (not led by organization_id: foreign-key checks keep the primary key)
	CONSTRAINT sla_policy_name_key UNIQUE (name, organization_id),
	CONSTRAINT sla_policy_name_not_blank CHECK (pg_catalog.btrim(name) <> ''),
	CONSTRAINT sla_policy_targets_positive CHECK (first_response_minutes > 0 AND next_response_minutes > 0 AND resolution_minutes > 0),
	CONSTRAINT sla_policy_pause_statuses_valid CHECK (pause_statuses <@ '{new,open,pending,on_hold}'::text[]),
	CONSTRAINT sla_policy_warning_percent_range CHECK (warning_percent BETWEEN 1 AND 100)
);
COMMENT ON TABLE crm.sla_policy IS 'An SLA policy: the first active one (by position) whose criteria match a case applies; targets in business minutes of its calendar.';
COMMENT ON COLUMN crm.sla_policy.name IS 'Policy name, unique per organization.';
COMMENT ON COLUMN crm.sla_policy.position IS 'Order in which policies are tried (ascending; ties by id).';
COMMENT ON COLUMN crm.sla_policy.criteria IS 'A criteria document over case fields (priority, channel, category, severity, account.type, ...; doc/criteria.md); NULL matches every case (the fallback).';
COMMENT ON COLUMN crm.sla_policy.calendar_id IS 'The crm.business_calendar whose open time counts; NULL: the organization''s default calendar.';
COMMENT ON COLUMN crm.sla_policy.first_response_minutes IS 'Business minutes from creation to the first public agent comment (NULL: no such target).';
COMMENT ON COLUMN crm.sla_policy.next_response_minutes IS 'Business minutes from a customer comment to the next public agent comment (NULL: no such target).';
COMMENT ON COLUMN crm.sla_policy.resolution_minutes IS 'Business minutes from creation to resolution (NULL: no such target).';
COMMENT ON COLUMN crm.sla_policy.pause_statuses IS 'Case statuses that stop the clocks (resolved and closed always do).';
COMMENT ON COLUMN crm.sla_policy.warning_percent IS 'Share of a target (percent) after which the target is at risk (crm.sla_sweep emits case.sla_warning).';
COMMENT ON COLUMN crm.sla_policy.is_active IS 'False: no longer applied (cases move to the next matching policy).';
SELECT crm._setup_tenant_table('crm.sla_policy', label => 'SLA policy');

-- A policy's criteria must be a valid document over case fields.
CREATE FUNCTION crm.trg_sla_policy_check() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_sla_policy_check()', TG_NAME, TG_RELID, TG_ARGV, '{sla_policy}');
	IF NEW.criteria IS NOT NULL AND current_setting('crm.restoring', true) IS DISTINCT FROM 'on' THEN
		PERFORM crm.criteria_sql(NEW.criteria, 'case');
	END IF;
	RETURN NEW;
END;
$$;
COMMENT ON FUNCTION crm.trg_sla_policy_check() IS
	'BEFORE INSERT OR UPDATE row trigger on crm.sla_policy: the criteria must compile for entity case.';
CREATE TRIGGER crm_30_check BEFORE INSERT OR UPDATE ON crm.sla_policy
	FOR EACH ROW EXECUTE FUNCTION crm.trg_sla_policy_check('sla_policy');

-- ---------------------------------------------------------------------------
-- Per-case targets
-- ---------------------------------------------------------------------------
CREATE TABLE crm.case_sla (
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	case_id		uuid NOT NULL,
	target		text NOT NULL,
	policy_id	uuid NOT NULL,
	calendar_id	uuid NOT NULL,
	target_minutes integer NOT NULL,
	warning_percent integer NOT NULL,
	started_at	timestamptz NOT NULL,
	paused_minutes numeric NOT NULL DEFAULT 0,
	paused_since timestamptz,
	warn_at		timestamptz,
	due_at		timestamptz NOT NULL,
	achieved_at	timestamptz,
	warned_at	timestamptz,
	breached_at	timestamptz,
	is_achieved	boolean GENERATED ALWAYS AS (achieved_at IS NOT NULL) STORED,
	is_breached	boolean GENERATED ALWAYS AS (breached_at IS NOT NULL) STORED,
	next_alert_at timestamptz GENERATED ALWAYS AS (CASE WHEN warned_at IS NULL AND warn_at < due_at THEN warn_at ELSE due_at END) STORED,
	CONSTRAINT case_sla_pkey PRIMARY KEY (organization_id, case_id, target),
	CONSTRAINT case_sla_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT case_sla_case_fkey FOREIGN KEY (organization_id, case_id) REFERENCES crm.case (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT case_sla_policy_fkey FOREIGN KEY (organization_id, policy_id) REFERENCES crm.sla_policy (organization_id, id),
	CONSTRAINT case_sla_calendar_fkey FOREIGN KEY (organization_id, calendar_id) REFERENCES crm.business_calendar (organization_id, id),
	CONSTRAINT case_sla_target_valid CHECK (target IN ('first_response', 'next_response', 'resolution')),
	CONSTRAINT case_sla_paused_nonnegative CHECK (paused_minutes >= 0)
);
-- What the sweep reads: only targets still running, by their next alert.
CREATE INDEX case_sla_due_idx ON crm.case_sla (organization_id, next_alert_at)
	WHERE achieved_at IS NULL AND paused_since IS NULL AND breached_at IS NULL;
COMMENT ON TABLE crm.case_sla IS 'The SLA targets of each case: due and warning times (exact at commit), paused business minutes, achieved and breached times. Maintained by crm''s triggers; crm.verify() recomputes it.';
COMMENT ON COLUMN crm.case_sla.case_id IS 'The crm.case.';
COMMENT ON COLUMN crm.case_sla.target IS 'first_response, next_response or resolution.';
COMMENT ON COLUMN crm.case_sla.policy_id IS 'The crm.sla_policy the target comes from.';
COMMENT ON COLUMN crm.case_sla.calendar_id IS 'The crm.business_calendar counted in.';
COMMENT ON COLUMN crm.case_sla.target_minutes IS 'The target in business minutes.';
COMMENT ON COLUMN crm.case_sla.warning_percent IS 'Share of the target after which it is at risk.';
COMMENT ON COLUMN crm.case_sla.started_at IS 'When the clock started: the case''s creation, or (next_response) the customer comment.';
COMMENT ON COLUMN crm.case_sla.paused_minutes IS 'Business minutes (exact, fractional) the clock stood still so far; kept across policy, priority and calendar changes.';
COMMENT ON COLUMN crm.case_sla.paused_since IS 'When the current pause began (NULL: running).';
COMMENT ON COLUMN crm.case_sla.warn_at IS 'When the target becomes at risk (warning_percent of the target, plus the pauses so far).';
COMMENT ON COLUMN crm.case_sla.due_at IS 'When the target is due: started_at + target + paused business minutes.';
COMMENT ON COLUMN crm.case_sla.achieved_at IS 'When the target was met (response, resolution).';
COMMENT ON COLUMN crm.case_sla.warned_at IS 'The warning time, once the at-risk transition was recorded (and case.sla_warning emitted).';
COMMENT ON COLUMN crm.case_sla.breached_at IS 'The due time, once the breach was recorded (and case.sla_breached emitted).';
COMMENT ON COLUMN crm.case_sla.is_achieved IS 'achieved_at IS NOT NULL.';
COMMENT ON COLUMN crm.case_sla.is_breached IS 'breached_at IS NOT NULL.';
COMMENT ON COLUMN crm.case_sla.next_alert_at IS 'The next transition the sweep looks for: the warning time until warned, then the due time.';
SELECT crm._setup_tenant_table('crm.case_sla', audited => false, label => 'case SLA');

-- The instant when minutes (plus the pauses) of the calendar have passed.
CREATE FUNCTION crm._sla_at(started timestamptz, minutes numeric, paused numeric, calendar uuid)
RETURNS timestamptz
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	RETURN crm._business_add_usec(started, ((minutes + paused) * 60000000)::bigint, calendar);
END;
$$;
COMMENT ON FUNCTION crm._sla_at(timestamptz, numeric, numeric, uuid) IS
	'Internal: started + (minutes + paused) business minutes of the calendar.';

-- Whether a status stops the clocks under a policy.
CREATE FUNCTION crm._sla_stopped(status text, pause_statuses text[]) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN status IN ('resolved', 'closed') OR status = ANY (pause_statuses);
END;
$$;
COMMENT ON FUNCTION crm._sla_stopped(text, text[]) IS 'Internal: resolved and closed, and the policy''s pause statuses, stop the clocks.';

-- Record every warning and breach of running targets up to "at" (one case
-- or all of the tenant), emitting one event per transition.  The rows are
-- locked first and re-checked (READ COMMITTED re-reads a row changed
-- concurrently), so a transition is recorded exactly once whoever gets
-- there first -- the sweep, or the change that stops the clock.
CREATE FUNCTION crm._sla_settle(org uuid, one_case uuid, at timestamptz) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	r record;
	n integer := 0;
BEGIN
	-- SECURITY DEFINER (it writes derived rows application roles may only
	-- read): the caller's own organization only, for a caller that may
	-- change cases
	IF org IS DISTINCT FROM crm._caller_org('crm.case', 'UPDATE') THEN
		RAISE EXCEPTION 'organization % is not the current organization', org USING ERRCODE = 'insufficient_privilege';
	END IF;
	at := least(at, pg_catalog.now());
	FOR r IN
		WITH due AS (
			SELECT s.case_id, s.target, s.warned_at AS old_warned, s.warn_at, s.due_at
			  FROM crm.case_sla s
			 WHERE s.organization_id = org AND (one_case IS NULL OR s.case_id = one_case)
			   AND s.achieved_at IS NULL AND s.paused_since IS NULL AND s.breached_at IS NULL
			   AND s.next_alert_at <= at
			 ORDER BY s.case_id, s.target
			   FOR UPDATE OF s)
		UPDATE crm.case_sla s
		   SET warned_at = coalesce(s.warned_at, CASE WHEN s.warn_at <= at THEN s.warn_at END),
			   breached_at = CASE WHEN s.due_at <= at THEN s.due_at END
		  FROM due
		 WHERE s.organization_id = org AND s.case_id = due.case_id AND s.target = due.target
		RETURNING s.case_id, s.target, due.old_warned, s.warned_at, s.breached_at, s.due_at, s.policy_id
	LOOP
		IF r.old_warned IS NULL AND r.warned_at IS NOT NULL THEN
			PERFORM crm.emit('case.sla_warning', 'case', r.case_id,
							 jsonb_build_object('target', r.target, 'due_at', r.due_at, 'warned_at', r.warned_at,
												'policy_id', r.policy_id), org);
			n := n + 1;
		END IF;
		IF r.breached_at IS NOT NULL THEN
			PERFORM crm.emit('case.sla_breached', 'case', r.case_id,
							 jsonb_build_object('target', r.target, 'due_at', r.due_at, 'policy_id', r.policy_id), org);
			UPDATE crm.case c SET escalated = true
			 WHERE c.organization_id = org AND c.id = r.case_id AND NOT c.escalated;
			n := n + 1;
		END IF;
	END LOOP;
	RETURN n;
END;
$$;
COMMENT ON FUNCTION crm._sla_settle(uuid, uuid, timestamptz) IS
	'Internal: records the warnings and breaches of running targets up to a time (one case, or NULL: all of the organization), one event per transition; returns the number of events.';

-- (Re)apply the matching policy to a case: its targets recomputed from
-- creation, the pause time already accumulated kept.
CREATE FUNCTION crm._sla_apply(org uuid, case_id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	c record;
	p record;
	pid uuid;
	cal uuid;
	t text;
	minutes integer;
	stopped boolean;
BEGIN
	-- SECURITY DEFINER (it writes derived rows application roles may only
	-- read): the caller's own organization only, for a caller that may
	-- change cases
	IF org IS DISTINCT FROM crm._caller_org('crm.case', 'UPDATE') THEN
		RAISE EXCEPTION 'organization % is not the current organization', org USING ERRCODE = 'insufficient_privilege';
	END IF;
	SELECT x.id, x.status, x.created_at, x.status_changed_at, x.resolved_at, x.deleted_at INTO c
	  FROM crm.case x WHERE x.organization_id = org AND x.id = _sla_apply.case_id;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	IF c.deleted_at IS NULL THEN
		FOR p IN SELECT s.id, s.criteria FROM crm.sla_policy s WHERE s.organization_id = org AND s.is_active ORDER BY s.position, s.id LOOP
			IF p.criteria IS NULL OR crm.criteria_match(p.criteria, 'case', c.id) THEN
				pid := p.id;
				EXIT;
			END IF;
		END LOOP;
	END IF;
	IF pid IS NULL THEN
		DELETE FROM crm.case_sla s WHERE s.organization_id = org AND s.case_id = c.id AND s.achieved_at IS NULL;
		RETURN;
	END IF;
	SELECT * INTO p FROM crm.sla_policy s WHERE s.organization_id = org AND s.id = pid;
	cal := coalesce(p.calendar_id, (SELECT b.id FROM crm.business_calendar b WHERE b.organization_id = org AND b.is_default));
	IF cal IS NULL THEN
		RAISE EXCEPTION 'SLA policy "%" has no calendar and the organization has no default calendar', p.name
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Set crm.sla_policy.calendar_id, or mark a calendar is_default.';
	END IF;
	stopped := crm._sla_stopped(c.status, p.pause_statuses);
	FOREACH t IN ARRAY ARRAY['first_response', 'next_response', 'resolution'] LOOP
		minutes := CASE t WHEN 'first_response' THEN p.first_response_minutes
						  WHEN 'next_response' THEN p.next_response_minutes
						  ELSE p.resolution_minutes END;
		IF minutes IS NULL THEN
			DELETE FROM crm.case_sla s
			 WHERE s.organization_id = org AND s.case_id = c.id AND s.target = t AND s.achieved_at IS NULL;
			CONTINUE;
		END IF;
		UPDATE crm.case_sla s
		   SET policy_id = p.id, calendar_id = cal, target_minutes = minutes, warning_percent = p.warning_percent,
			   due_at = crm._sla_at(s.started_at, minutes, s.paused_minutes, cal),
			   warn_at = crm._sla_at(s.started_at, minutes * p.warning_percent / 100.0, s.paused_minutes, cal)
		 WHERE s.organization_id = org AND s.case_id = c.id AND s.target = t;
		IF NOT FOUND AND t <> 'next_response' THEN
			INSERT INTO crm.case_sla (organization_id, case_id, target, policy_id, calendar_id, target_minutes,
									  warning_percent, started_at, paused_since, due_at, warn_at, achieved_at)
			VALUES (org, c.id, t, p.id, cal, minutes, p.warning_percent, c.created_at,
					CASE WHEN stopped THEN c.created_at END,
					crm._sla_at(c.created_at, minutes, 0, cal),
					crm._sla_at(c.created_at, minutes * p.warning_percent / 100.0, 0, cal),
					CASE WHEN t = 'resolution' THEN c.resolved_at END);
		END IF;
	END LOOP;
END;
$$;
COMMENT ON FUNCTION crm._sla_apply(uuid, uuid) IS
	'Internal: applies the first matching active policy to a case: creates or recomputes its targets from creation, keeping the accumulated pause; removes targets no policy sets.';

-- A status change at time "at": pausing stops the running clocks, resuming
-- adds the paused business time, resolving achieves the resolution target,
-- reopening takes that back.
CREATE FUNCTION crm._sla_status(org uuid, case_id uuid, old_status text, new_status text, at timestamptz) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	pause text[];
	was boolean;
	now_stopped boolean;
BEGIN
	-- SECURITY DEFINER (it writes derived rows application roles may only
	-- read): the caller's own organization only, for a caller that may
	-- change cases
	IF org IS DISTINCT FROM crm._caller_org('crm.case', 'UPDATE') THEN
		RAISE EXCEPTION 'organization % is not the current organization', org USING ERRCODE = 'insufficient_privilege';
	END IF;
	SELECT p.pause_statuses INTO pause
	  FROM crm.case_sla s JOIN crm.sla_policy p ON p.organization_id = s.organization_id AND p.id = s.policy_id
	 WHERE s.organization_id = org AND s.case_id = _sla_status.case_id
	 LIMIT 1;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	was := crm._sla_stopped(old_status, pause);
	now_stopped := crm._sla_stopped(new_status, pause);
	IF now_stopped AND NOT was THEN
		-- transitions up to the pause are recorded before the clock stops
		PERFORM crm._sla_settle(org, _sla_status.case_id, at);
		UPDATE crm.case_sla s SET paused_since = at
		 WHERE s.organization_id = org AND s.case_id = _sla_status.case_id
		   AND s.achieved_at IS NULL AND s.paused_since IS NULL;
	ELSIF was AND NOT now_stopped THEN
		UPDATE crm.case_sla s
		   SET paused_minutes = s.paused_minutes + crm._business_usec(s.paused_since, greatest(at, s.paused_since), s.calendar_id) / 60000000.0,
			   paused_since = NULL
		 WHERE s.organization_id = org AND s.case_id = _sla_status.case_id AND s.paused_since IS NOT NULL;
		UPDATE crm.case_sla s
		   SET achieved_at = NULL
		 WHERE s.organization_id = org AND s.case_id = _sla_status.case_id AND s.target = 'resolution'
		   AND old_status IN ('resolved', 'closed');
		UPDATE crm.case_sla s
		   SET due_at = crm._sla_at(s.started_at, s.target_minutes, s.paused_minutes, s.calendar_id),
			   warn_at = crm._sla_at(s.started_at, s.target_minutes * s.warning_percent / 100.0, s.paused_minutes, s.calendar_id)
		 WHERE s.organization_id = org AND s.case_id = _sla_status.case_id AND s.achieved_at IS NULL;
	END IF;
	IF new_status IN ('resolved', 'closed') AND old_status NOT IN ('resolved', 'closed') THEN
		UPDATE crm.case_sla s SET achieved_at = at
		 WHERE s.organization_id = org AND s.case_id = _sla_status.case_id AND s.target = 'resolution' AND s.achieved_at IS NULL;
	ELSIF old_status IN ('resolved', 'closed') AND new_status NOT IN ('resolved', 'closed') AND now_stopped THEN
		-- reopened into a pause status: not achieved, still paused
		UPDATE crm.case_sla s SET achieved_at = NULL
		 WHERE s.organization_id = org AND s.case_id = _sla_status.case_id AND s.target = 'resolution';
	END IF;
END;
$$;
COMMENT ON FUNCTION crm._sla_status(uuid, uuid, text, text, timestamptz) IS
	'Internal: the SLA effect of a case status change at a time (pause, resume with the paused business time added, resolve, reopen).';

-- AFTER INSERT OR UPDATE on crm.case.
CREATE FUNCTION crm.trg_case_sla() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_case_sla()', TG_NAME, TG_RELID, TG_ARGV, '{case}');
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN NULL;
	END IF;
	IF TG_OP = 'INSERT' THEN
		PERFORM crm._sla_apply(NEW.organization_id, NEW.id);
		RETURN NULL;
	END IF;
	IF (NEW.priority, NEW.severity, NEW.channel, NEW.category, NEW.account_id, NEW.contact_id, NEW.team_id,
		NEW.assignee_id, NEW.product_id, NEW.tags, NEW.custom_fields, NEW.deleted_at, NEW.subject)
	   IS DISTINCT FROM
	   (OLD.priority, OLD.severity, OLD.channel, OLD.category, OLD.account_id, OLD.contact_id, OLD.team_id,
		OLD.assignee_id, OLD.product_id, OLD.tags, OLD.custom_fields, OLD.deleted_at, OLD.subject) THEN
		PERFORM crm._sla_apply(NEW.organization_id, NEW.id);
	END IF;
	IF NEW.status IS DISTINCT FROM OLD.status THEN
		PERFORM crm._sla_status(NEW.organization_id, NEW.id, OLD.status, NEW.status, NEW.status_changed_at);
	END IF;
	RETURN NULL;
END;
$$;
COMMENT ON FUNCTION crm.trg_case_sla() IS
	'AFTER INSERT OR UPDATE row trigger on crm.case: applies the matching SLA policy on insert and when a field policies read changes; pauses, resumes, resolves and reopens the targets on a status change.';
CREATE TRIGGER crm_40_sla AFTER INSERT OR UPDATE ON crm.case
	FOR EACH ROW EXECUTE FUNCTION crm.trg_case_sla('case');

-- A comment at time "at": a public agent comment (by_agent) is a response,
-- a customer comment starts a next-response clock.
CREATE FUNCTION crm._sla_comment(org uuid, case_id uuid, at timestamptz, by_agent boolean) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	c record;
	p record;
BEGIN
	-- SECURITY DEFINER (it writes derived rows application roles may only
	-- read): the caller's own organization only, for a caller that may
	-- change cases
	IF org IS DISTINCT FROM crm._caller_org('crm.case', 'UPDATE') THEN
		RAISE EXCEPTION 'organization % is not the current organization', org USING ERRCODE = 'insufficient_privilege';
	END IF;
	IF by_agent THEN
		-- what was due before the response is recorded first
		PERFORM crm._sla_settle(org, _sla_comment.case_id, at);
		UPDATE crm.case x SET first_response_at = at
		 WHERE x.organization_id = org AND x.id = _sla_comment.case_id AND x.first_response_at IS NULL;
		UPDATE crm.case_sla s SET achieved_at = at
		 WHERE s.organization_id = org AND s.case_id = _sla_comment.case_id
		   AND s.target IN ('first_response', 'next_response') AND s.achieved_at IS NULL;
		RETURN;
	END IF;
	SELECT x.status INTO c FROM crm.case x WHERE x.organization_id = org AND x.id = _sla_comment.case_id;
	SELECT pol.id, pol.next_response_minutes, pol.warning_percent, pol.pause_statuses, s.calendar_id INTO p
	  FROM crm.case_sla s JOIN crm.sla_policy pol ON pol.organization_id = s.organization_id AND pol.id = s.policy_id
	 WHERE s.organization_id = org AND s.case_id = _sla_comment.case_id
	 ORDER BY s.target LIMIT 1;
	IF p.id IS NULL OR p.next_response_minutes IS NULL OR c.status IN ('resolved', 'closed') THEN
		RETURN;
	END IF;
	-- a new clock unless one is running (the oldest unanswered comment counts)
	INSERT INTO crm.case_sla AS s (organization_id, case_id, target, policy_id, calendar_id, target_minutes,
								   warning_percent, started_at, paused_since, due_at, warn_at)
	VALUES (org, _sla_comment.case_id, 'next_response', p.id, p.calendar_id, p.next_response_minutes, p.warning_percent, at,
			CASE WHEN crm._sla_stopped(c.status, p.pause_statuses) THEN at END,
			crm._sla_at(at, p.next_response_minutes, 0, p.calendar_id),
			crm._sla_at(at, p.next_response_minutes * p.warning_percent / 100.0, 0, p.calendar_id))
	ON CONFLICT ON CONSTRAINT case_sla_pkey DO UPDATE
	   SET started_at = excluded.started_at, paused_since = excluded.paused_since, paused_minutes = 0,
		   due_at = excluded.due_at, warn_at = excluded.warn_at,
		   achieved_at = NULL, warned_at = NULL, breached_at = NULL
	 WHERE s.achieved_at IS NOT NULL;
END;
$$;
COMMENT ON FUNCTION crm._sla_comment(uuid, uuid, timestamptz, boolean) IS
	'Internal: the SLA effect of a comment at a time: an agent''s public comment sets first_response_at and achieves the response targets; a customer''s starts a next-response clock.';

-- AFTER INSERT on crm.case_comment: responses and customer replies.
CREATE FUNCTION crm.trg_case_comment_sla() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_case_comment_sla()', TG_NAME, TG_RELID, TG_ARGV, '{case_comment}');
	IF current_setting('crm.restoring', true) = 'on' OR NEW.deleted_at IS NOT NULL THEN
		RETURN NULL;
	END IF;
	IF NEW.author_user_id IS NOT NULL AND NEW.is_public THEN
		PERFORM crm._sla_comment(NEW.organization_id, NEW.case_id, NEW.created_at, true);
	ELSIF NEW.author_contact_id IS NOT NULL THEN
		PERFORM crm._sla_comment(NEW.organization_id, NEW.case_id, NEW.created_at, false);
	END IF;
	RETURN NULL;
END;
$$;
COMMENT ON FUNCTION crm.trg_case_comment_sla() IS
	'AFTER INSERT row trigger on crm.case_comment: a public agent comment sets first_response_at and achieves the response targets; a customer comment starts a next-response clock (crm._sla_comment).';
CREATE TRIGGER crm_40_sla AFTER INSERT ON crm.case_comment
	FOR EACH ROW EXECUTE FUNCTION crm.trg_case_comment_sla('case_comment');

-- Due and warning times of the running targets counted in the given
-- calendars, recomputed (after a calendar edit).
CREATE FUNCTION crm._sla_recompute(org uuid, calendars uuid[]) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	-- SECURITY DEFINER (it writes derived rows application roles may only
	-- read): the caller's own organization only, for a caller that may
	-- change cases
	IF org IS DISTINCT FROM crm._caller_org('crm.case', 'UPDATE') THEN
		RAISE EXCEPTION 'organization % is not the current organization', org USING ERRCODE = 'insufficient_privilege';
	END IF;
	UPDATE crm.case_sla s
	   SET due_at = crm._sla_at(s.started_at, s.target_minutes, s.paused_minutes, s.calendar_id),
		   warn_at = crm._sla_at(s.started_at, s.target_minutes * s.warning_percent / 100.0, s.paused_minutes, s.calendar_id)
	 WHERE s.organization_id = org AND s.achieved_at IS NULL AND s.calendar_id = ANY (calendars);
END;
$$;
COMMENT ON FUNCTION crm._sla_recompute(uuid, uuid[]) IS
	'Internal: recomputes the due and warning times of the running targets counted in the given calendars.';

-- Policy and calendar changes recompute the open cases they concern, in
-- the same transaction.
CREATE FUNCTION crm.trg_sla_config_changed() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	tbl name;		-- the logical table: sla_policy or business_calendar
	r record;
BEGIN
	tbl := crm._trigger_table_ok('crm.trg_sla_config_changed()', TG_NAME, TG_RELID, TG_ARGV, '{sla_policy,business_calendar}');
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN NULL;
	END IF;
	IF tbl = 'business_calendar' THEN
		PERFORM crm._sla_recompute(crm.current_org(), ARRAY(SELECT n.id FROM crm_new n));
		RETURN NULL;
	END IF;
	-- a policy: every open case of the organization is matched again
	FOR r IN SELECT c.id FROM crm.case c
			  WHERE c.organization_id = crm.current_org() AND c.deleted_at IS NULL
				AND c.status NOT IN ('resolved', 'closed')
			  ORDER BY c.id LOOP
		PERFORM crm._sla_apply(crm.current_org(), r.id);
	END LOOP;
	RETURN NULL;
END;
$$;
COMMENT ON FUNCTION crm.trg_sla_config_changed() IS
	'AFTER statement trigger on crm.sla_policy and crm.business_calendar: recomputes the targets of the open cases a changed policy or calendar concerns.';
CREATE TRIGGER crm_96_sla_recompute AFTER UPDATE ON crm.business_calendar
	REFERENCING NEW TABLE AS crm_new FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_sla_config_changed('business_calendar');
CREATE TRIGGER crm_96_sla_recompute_insert AFTER INSERT ON crm.sla_policy
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_sla_config_changed('sla_policy');
CREATE TRIGGER crm_96_sla_recompute_update AFTER UPDATE ON crm.sla_policy
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_sla_config_changed('sla_policy');

-- ---------------------------------------------------------------------------
-- The sweep
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm.sla_sweep(as_of timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (organization_id uuid, events integer)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	o record;
	n integer;
	own_org text := current_setting('crm.organization_id', true);
BEGIN
	IF as_of IS NULL THEN
		RAISE EXCEPTION 'as_of must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	FOR o IN SELECT g.id FROM crm.organization g ORDER BY g.id LOOP
		BEGIN
			-- each tenant in its own tenant context
			PERFORM set_config('crm.organization_id', o.id::text, true);
			n := crm._sla_settle(o.id, NULL, as_of);
			IF n > 0 THEN
				organization_id := o.id;
				events := n;
				RETURN NEXT;
			END IF;
		EXCEPTION WHEN insufficient_privilege THEN
			NULL;				-- an organization the caller may not act for
		WHEN OTHERS THEN
			RAISE WARNING 'SLA sweep of organization % failed: %', o.id, SQLERRM;
		END;
	END LOOP;
	PERFORM set_config('crm.organization_id', coalesce(own_org, ''), true);
END;
$$;
COMMENT ON FUNCTION crm.sla_sweep(timestamptz) IS
	'Records every target that became at risk or breached by as_of, for every organization the caller may act for (each in its own tenant context), through the partial index of running targets; emits exactly one case.sla_warning / case.sla_breached per transition; idempotent. Returns the organizations with events.';
INSERT INTO crm.job (name, schedule, command, description) VALUES
	('sla_sweep', '* * * * *', 'SELECT crm.sla_sweep()', 'Records SLA warnings and breaches (case.sla_warning, case.sla_breached events).');

-- ---------------------------------------------------------------------------
-- Reporting
-- ---------------------------------------------------------------------------
CREATE VIEW crm.v_case_sla WITH (security_invoker = true) AS
SELECT s.organization_id, s.case_id, c.case_number, c.subject, c.status AS case_status, c.priority, c.team_id,
	   s.target, s.policy_id, p.name AS policy_name, s.calendar_id, s.target_minutes, s.started_at,
	   s.due_at, s.warn_at, s.paused_minutes, s.paused_since, s.achieved_at, s.breached_at,
	   CASE WHEN s.achieved_at IS NOT NULL THEN 'achieved'
			WHEN s.breached_at IS NOT NULL OR s.due_at <= pg_catalog.now() AND s.paused_since IS NULL THEN 'breached'
			WHEN s.paused_since IS NOT NULL THEN 'paused'
			WHEN s.warned_at IS NOT NULL OR s.warn_at <= pg_catalog.now() THEN 'at_risk'
			ELSE 'on_track' END AS state,
	   CASE WHEN s.achieved_at IS NULL THEN
			crm.business_minutes(coalesce(s.paused_since, pg_catalog.now()), s.due_at, s.calendar_id) END AS minutes_left
  FROM crm.case_sla s
  JOIN crm.case c ON c.organization_id = s.organization_id AND c.id = s.case_id
  JOIN crm.sla_policy p ON p.organization_id = s.organization_id AND p.id = s.policy_id
 WHERE c.deleted_at IS NULL;
COMMENT ON VIEW crm.v_case_sla IS 'Every SLA target of live cases with its state now: on_track, at_risk, breached, paused or achieved, and business minutes left (negative: overdue; for a paused target, as of the pause).';
COMMENT ON COLUMN crm.v_case_sla.organization_id IS 'The tenant.';
COMMENT ON COLUMN crm.v_case_sla.case_id IS 'The crm.case.';
COMMENT ON COLUMN crm.v_case_sla.case_number IS 'The case''s number (CS-000042).';
COMMENT ON COLUMN crm.v_case_sla.subject IS 'The case''s subject.';
COMMENT ON COLUMN crm.v_case_sla.case_status IS 'The case''s status.';
COMMENT ON COLUMN crm.v_case_sla.priority IS 'The case''s priority.';
COMMENT ON COLUMN crm.v_case_sla.team_id IS 'The case''s team.';
COMMENT ON COLUMN crm.v_case_sla.target IS 'first_response, next_response or resolution.';
COMMENT ON COLUMN crm.v_case_sla.policy_id IS 'The policy.';
COMMENT ON COLUMN crm.v_case_sla.policy_name IS 'The policy''s name.';
COMMENT ON COLUMN crm.v_case_sla.calendar_id IS 'The calendar counted in.';
COMMENT ON COLUMN crm.v_case_sla.target_minutes IS 'The target in business minutes.';
COMMENT ON COLUMN crm.v_case_sla.started_at IS 'When the clock started.';
COMMENT ON COLUMN crm.v_case_sla.due_at IS 'When it is due.';
COMMENT ON COLUMN crm.v_case_sla.warn_at IS 'When it is at risk.';
COMMENT ON COLUMN crm.v_case_sla.paused_minutes IS 'Business minutes paused so far.';
COMMENT ON COLUMN crm.v_case_sla.paused_since IS 'Start of the current pause.';
COMMENT ON COLUMN crm.v_case_sla.achieved_at IS 'When it was met.';
COMMENT ON COLUMN crm.v_case_sla.breached_at IS 'The recorded breach (its due time).';
COMMENT ON COLUMN crm.v_case_sla.state IS 'on_track, at_risk, breached, paused or achieved.';
COMMENT ON COLUMN crm.v_case_sla.minutes_left IS 'Business minutes until due (negative: overdue); NULL once achieved.';

-- Compliance between two dates (cases created in [from, to]), by team,
-- priority or policy.
CREATE FUNCTION crm.sla_compliance("from" date, "to" date, group_by text DEFAULT 'policy')
RETURNS TABLE (grp text, target text, targets bigint, achieved bigint, breached bigint,
			   achieved_percent numeric, median_first_response_minutes numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
BEGIN
	IF group_by IS NULL OR group_by NOT IN ('team', 'priority', 'policy') THEN
		RAISE EXCEPTION 'group_by must be team, priority or policy, not %', coalesce(quote_literal(group_by), 'NULL')
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF "from" IS NULL OR "to" IS NULL OR "from" > "to" THEN
		RAISE EXCEPTION 'the period must be two dates, from not after to'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	RETURN QUERY
	SELECT CASE group_by WHEN 'team' THEN coalesce(tm.name, '(no team)')
						 WHEN 'priority' THEN c.priority ELSE p.name END,
		   s.target,
		   count(*),
		   count(*) FILTER (WHERE s.achieved_at IS NOT NULL AND s.breached_at IS NULL),
		   count(*) FILTER (WHERE s.breached_at IS NOT NULL),
		   round(100.0 * count(*) FILTER (WHERE s.achieved_at IS NOT NULL AND s.breached_at IS NULL) / count(*), 1),
		   (percentile_cont(0.5) WITHIN GROUP (ORDER BY crm.business_minutes(s.started_at, s.achieved_at, s.calendar_id) - s.paused_minutes)
				FILTER (WHERE s.target = 'first_response' AND s.achieved_at IS NOT NULL))::numeric
	  FROM crm.case_sla s
	  JOIN crm.case c ON c.organization_id = s.organization_id AND c.id = s.case_id
	  JOIN crm.sla_policy p ON p.organization_id = s.organization_id AND p.id = s.policy_id
	  LEFT JOIN crm.team tm ON tm.organization_id = c.organization_id AND tm.id = c.team_id
	 WHERE s.organization_id = org AND c.deleted_at IS NULL
	   AND c.created_at >= "from"::timestamptz AND c.created_at < ("to" + 1)::timestamptz
	 GROUP BY 1, 2
	 ORDER BY 1, 2;
END;
$$;
COMMENT ON FUNCTION crm.sla_compliance(date, date, text) IS
	'SLA compliance of the cases created in [from, to] grouped by team, priority or policy: targets, achieved in time, breached, achieved % and the median first response in business minutes (paused time excluded).';

-- ---------------------------------------------------------------------------
-- Drift check: due and warning times recomputed from the stored inputs.
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm.check_case_sla()
RETURNS TABLE (entity text, id uuid, expected text, actual text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	o record;
	own_org text := current_setting('crm.organization_id', true);
BEGIN
	-- every organization whose targets the caller sees (all of them after a
	-- restore), each in its own tenant context: calendars are the tenant's
	FOR o IN SELECT DISTINCT s.organization_id AS org FROM crm.case_sla s ORDER BY 1 LOOP
		PERFORM set_config('crm.organization_id', o.org::text, true);
		RETURN QUERY
		SELECT 'case_sla'::text, s.case_id,
			   s.target || ' due ' || crm._sla_at(s.started_at, s.target_minutes, s.paused_minutes, s.calendar_id)::text,
			   s.target || ' due ' || s.due_at::text
		  FROM crm.case_sla s
		 WHERE s.organization_id = o.org AND s.achieved_at IS NULL AND s.paused_since IS NULL
		   AND s.due_at IS DISTINCT FROM crm._sla_at(s.started_at, s.target_minutes, s.paused_minutes, s.calendar_id)
		 ORDER BY s.case_id, s.target;
	END LOOP;
	PERFORM set_config('crm.organization_id', coalesce(own_org, ''), true);
END;
$$;
COMMENT ON FUNCTION crm.check_case_sla() IS
	'crm.verify() check: running SLA targets (of every organization the caller sees) whose due time differs from started_at + target + paused business minutes of their calendar.';
INSERT INTO crm.verify_check VALUES
	('case_sla', 'crm.check_case_sla()', 'Running SLA targets are due at start + target + paused business minutes of their calendar.');
