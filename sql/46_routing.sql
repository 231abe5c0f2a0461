-- ============================================================================
-- 46 routing: new leads get an owner on insert (doc/routing.md)
--
-- Rules are tried in priority order; the first whose criteria document
-- matches (and whose action can assign) decides: a named user, the next
-- member of a team in round-robin, the owner of a territory, or no owner
-- (action none); the deciding rule also sets the lead's priority and adds
-- its tags.  A bulk insert is routed set-based: each rule is evaluated once
-- over the set of leads still unassigned, the round-robin turns of a team
-- are handed out in memory under one lock of the team's member rows, and
-- the outcome is written with one UPDATE and one INSERT.
-- ============================================================================

CREATE TABLE crm.routing_rule (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	name		text NOT NULL,
	priority	integer NOT NULL,
	criteria	jsonb,
	action		text NOT NULL,
	user_id		uuid,
	team_id		uuid,
	territory_id uuid,
	set_priority text,
	add_tags	text[] NOT NULL DEFAULT '{}',
	is_active	boolean NOT NULL DEFAULT true,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT routing_rule_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT routing_rule_priority_key UNIQUE (organization_id, priority),
	CONSTRAINT routing_rule_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT routing_rule_user_fkey FOREIGN KEY (organization_id, user_id) REFERENCES crm.app_user (organization_id, id),
	CONSTRAINT routing_rule_team_fkey FOREIGN KEY (organization_id, team_id) REFERENCES crm.team (organization_id, id),
	CONSTRAINT routing_rule_territory_fkey FOREIGN KEY (organization_id, territory_id) REFERENCES crm.territory (organization_id, id),
	CONSTRAINT routing_rule_name_not_blank CHECK (pg_catalog.btrim(name) <> ''),
	CONSTRAINT routing_rule_criteria_object CHECK (jsonb_typeof(criteria) = 'object'),
	CONSTRAINT routing_rule_action_valid CHECK (CASE action
		WHEN 'user' THEN user_id IS NOT NULL AND team_id IS NULL AND territory_id IS NULL
		WHEN 'round_robin' THEN team_id IS NOT NULL AND user_id IS NULL AND territory_id IS NULL
		WHEN 'territory' THEN territory_id IS NOT NULL AND user_id IS NULL AND team_id IS NULL
		WHEN 'none' THEN user_id IS NULL AND team_id IS NULL AND territory_id IS NULL
		ELSE false END),
	CONSTRAINT routing_rule_priority_valid CHECK (set_priority IN ('low', 'normal', 'high', 'urgent')),
	CONSTRAINT routing_rule_tags_no_null CHECK (array_position(add_tags, NULL) IS NULL)
);
COMMENT ON TABLE crm.routing_rule IS 'Lead routing: tried in priority order on every new lead without an owner; the first matching rule that can assign decides.';
COMMENT ON COLUMN crm.routing_rule.name IS 'Rule name (shown by crm.explain_routing).';
COMMENT ON COLUMN crm.routing_rule.priority IS 'Lower first; unique per organization.';
COMMENT ON COLUMN crm.routing_rule.criteria IS 'A criteria document over the lead (doc/criteria.md); NULL: every lead.';
COMMENT ON COLUMN crm.routing_rule.action IS 'user (assign user_id), round_robin (the next available member of team_id), territory (the owner of territory_id) or none (no owner: the lead keeps none, gets set_priority and add_tags, and later rules are not tried).';
COMMENT ON COLUMN crm.routing_rule.user_id IS 'action user: the owner to assign.';
COMMENT ON COLUMN crm.routing_rule.team_id IS 'action round_robin: the team (its members, see crm.routing_member).';
COMMENT ON COLUMN crm.routing_rule.territory_id IS 'action territory: the territory whose owner gets the lead.';
COMMENT ON COLUMN crm.routing_rule.set_priority IS 'Priority (low, normal, high, urgent) given to the lead it routes, when the lead was inserted without one; NULL: none.';
COMMENT ON COLUMN crm.routing_rule.add_tags IS 'Tags added to the lead it routes.';
COMMENT ON COLUMN crm.routing_rule.is_active IS 'Inactive rules are skipped.';
SELECT crm._setup_tenant_table('crm.routing_rule', label => 'routing rule');

-- The round-robin state of a team member (created on first use).
CREATE TABLE crm.routing_member (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	team_id		uuid NOT NULL,
	user_id		uuid NOT NULL,
	is_paused	boolean NOT NULL DEFAULT false,
	daily_capacity integer,
	turns		bigint NOT NULL DEFAULT 0,
	assigned_on	date,
	assigned_that_day integer NOT NULL DEFAULT 0,
	last_assigned_at timestamptz,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT routing_member_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT routing_member_key UNIQUE (organization_id, team_id, user_id),
	CONSTRAINT routing_member_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT routing_member_team_fkey FOREIGN KEY (organization_id, team_id) REFERENCES crm.team (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT routing_member_user_fkey FOREIGN KEY (organization_id, user_id) REFERENCES crm.app_user (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT routing_member_capacity_nonnegative CHECK (daily_capacity >= 0),
	CONSTRAINT routing_member_counts_nonnegative CHECK (turns >= 0 AND assigned_that_day >= 0)
);
COMMENT ON TABLE crm.routing_member IS 'Round-robin state and availability of a team member: paused, daily capacity, turns taken.';
COMMENT ON COLUMN crm.routing_member.team_id IS 'The crm.team.';
COMMENT ON COLUMN crm.routing_member.user_id IS 'The crm.app_user; only current members of the team (crm.team_member) take turns.';
COMMENT ON COLUMN crm.routing_member.is_paused IS 'A paused member gets no leads (holidays, overload).';
COMMENT ON COLUMN crm.routing_member.daily_capacity IS 'At most this many leads per day (UTC); NULL: no limit.';
COMMENT ON COLUMN crm.routing_member.turns IS 'Leads received through round-robin; the member with the fewest turns is next (a new member starts at the team''s lowest).';
COMMENT ON COLUMN crm.routing_member.assigned_on IS 'The day (UTC) assigned_that_day counts.';
COMMENT ON COLUMN crm.routing_member.assigned_that_day IS 'Leads received on assigned_on (for daily_capacity).';
COMMENT ON COLUMN crm.routing_member.last_assigned_at IS 'When the member last received a lead.';
SELECT crm._setup_tenant_table('crm.routing_member', label => 'routing member');

-- Why each lead got its owner (written by routing; read by crm.explain_routing).
CREATE TABLE crm.routing_decision (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	lead_id		uuid NOT NULL,
	rule_id		uuid,
	rule_name	text,
	assigned_to	uuid,
	lead_priority text,
	tags_added	text[] NOT NULL DEFAULT '{}',
	reason		text NOT NULL,
	decided_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT routing_decision_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT routing_decision_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id)
);
CREATE INDEX routing_decision_lead_idx ON crm.routing_decision (organization_id, lead_id);
COMMENT ON TABLE crm.routing_decision IS 'The routing of each new lead: the rule that assigned it (or none) and why.';
COMMENT ON COLUMN crm.routing_decision.lead_id IS 'The lead routed (a log: no foreign key, so that merging leads keeps the history of the merged-away lead).';
COMMENT ON COLUMN crm.routing_decision.rule_id IS 'The crm.routing_rule that assigned it; NULL when none did.';
COMMENT ON COLUMN crm.routing_decision.rule_name IS 'The rule''s name at the time.';
COMMENT ON COLUMN crm.routing_decision.assigned_to IS 'The owner given (crm.app_user); NULL: none.';
COMMENT ON COLUMN crm.routing_decision.lead_priority IS 'The priority the rule gave the lead (NULL: none given; a lead inserted with a priority keeps it).';
COMMENT ON COLUMN crm.routing_decision.tags_added IS 'The tags the rule added to the lead.';
COMMENT ON COLUMN crm.routing_decision.reason IS 'Why: the rule matched, and how the owner was chosen; or why no rule assigned.';
COMMENT ON COLUMN crm.routing_decision.decided_at IS 'When.';
SELECT crm._setup_tenant_table('crm.routing_decision', audited => false, label => 'routing decision');

-- Hand out n round-robin turns of a team: returns the members, in order,
-- fewer than n when capacity runs out.  The team's member rows are locked
-- (in user order) for the rest of the transaction, so concurrent inserts
-- take turns one after the other and never hand out the same turn twice.
CREATE FUNCTION crm._round_robin(org uuid, team uuid, n integer, at timestamptz)
RETURNS uuid[]
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	day date := (at AT TIME ZONE 'UTC')::date;
	users uuid[];
	turns bigint[];
	room integer[];
	got integer[];
	res uuid[] := '{}';
	best integer;
	i integer;
	k integer;
BEGIN
	-- members without state start at the team's fewest turns
	INSERT INTO crm.routing_member AS m (organization_id, team_id, user_id, turns)
	SELECT org, team, tm.user_id,
		   coalesce((SELECT min(x.turns) FROM crm.routing_member x WHERE x.organization_id = org AND x.team_id = team), 0)
	  FROM crm.team_member tm
	 WHERE tm.organization_id = org AND tm.team_id = team
	ORDER BY tm.user_id
	ON CONFLICT ON CONSTRAINT routing_member_key DO NOTHING;

	SELECT array_agg(m.user_id ORDER BY m.user_id), array_agg(m.turns ORDER BY m.user_id),
		   array_agg(CASE WHEN m.is_paused OR NOT u.is_active OR u.deleted_at IS NOT NULL THEN 0
						  WHEN m.daily_capacity IS NULL THEN 2147483647
						  ELSE greatest(m.daily_capacity - CASE WHEN m.assigned_on = day THEN m.assigned_that_day ELSE 0 END, 0) END
					 ORDER BY m.user_id)
	  INTO users, turns, room
	  FROM (SELECT * FROM crm.routing_member x WHERE x.organization_id = org AND x.team_id = team
			 ORDER BY x.user_id FOR UPDATE) m
	  JOIN crm.app_user u ON u.organization_id = org AND u.id = m.user_id
	 WHERE EXISTS (SELECT 1 FROM crm.team_member tm WHERE tm.organization_id = org AND tm.team_id = team AND tm.user_id = m.user_id);
	IF users IS NULL THEN
		RETURN res;
	END IF;
	got := array_fill(0, ARRAY[cardinality(users)]);
	FOR k IN 1 .. n LOOP
		best := NULL;
		FOR i IN 1 .. cardinality(users) LOOP
			IF room[i] > 0 AND (best IS NULL OR turns[i] < turns[best]) THEN
				best := i;
			END IF;
		END LOOP;
		EXIT WHEN best IS NULL;
		res := res || users[best];
		turns[best] := turns[best] + 1;
		room[best] := room[best] - 1;
		got[best] := got[best] + 1;
	END LOOP;
	UPDATE crm.routing_member m
	   SET turns = m.turns + g.n,
		   assigned_that_day = CASE WHEN m.assigned_on = day THEN m.assigned_that_day ELSE 0 END + g.n,
		   assigned_on = day, last_assigned_at = at
	  FROM unnest(users, got) AS g(u, n)
	 WHERE m.organization_id = org AND m.team_id = team AND m.user_id = g.u AND g.n > 0;
	RETURN res;
END;
$$;
COMMENT ON FUNCTION crm._round_robin(uuid, uuid, integer, timestamptz) IS
	'Internal: the next n round-robin owners of a team (fewest turns first; paused, inactive and full members skipped), under a lock of the team''s member rows.';

-- Route the new leads of a statement.
CREATE FUNCTION crm.trg_route_leads() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	o record;
	r record;
	todo uuid[];
	hit uuid[];
	owners uuid[];
	saved text;
	-- the decisions: lead, owner given (NULL: none), rule
	ids uuid[];
	who uuid[];
	rids uuid[];
	owner uuid;
	k integer;
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_route_leads()', TG_NAME, TG_RELID, TG_ARGV, '{lead}');
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN NULL;
	END IF;
	saved := current_setting('crm.organization_id', true);
	FOR o IN SELECT n.organization_id AS org, array_agg(n.id ORDER BY n.id) AS ids
			   FROM crm_new n WHERE n.owner_id IS NULL AND n.deleted_at IS NULL
			  GROUP BY 1 ORDER BY 1 LOOP
		CONTINUE WHEN NOT EXISTS (SELECT 1 FROM crm.routing_rule x WHERE x.organization_id = o.org AND x.is_active);
		PERFORM set_config('crm.organization_id', o.org::text, true);
		todo := o.ids;
		ids := '{}'; who := '{}'; rids := '{}';
		FOR r IN SELECT x.* FROM crm.routing_rule x WHERE x.organization_id = o.org AND x.is_active
				  ORDER BY x.priority LOOP
			EXIT WHEN cardinality(todo) = 0;
			SELECT coalesce(array_agg(t.id ORDER BY t.ord), '{}') INTO hit
			  FROM unnest(todo) WITH ORDINALITY AS t(id, ord)
			 WHERE r.criteria IS NULL OR crm.criteria_match(r.criteria, 'lead', t.id);
			CONTINUE WHEN cardinality(hit) = 0;
			owners := NULL;
			IF r.action = 'user' THEN
				SELECT u.id INTO owner FROM crm.app_user u
				 WHERE u.organization_id = o.org AND u.id = r.user_id AND u.is_active AND u.deleted_at IS NULL;
				IF owner IS NOT NULL THEN
					owners := array_fill(owner, ARRAY[cardinality(hit)]);
				END IF;
			ELSIF r.action = 'territory' THEN
				SELECT u.id INTO owner FROM crm.territory t JOIN crm.app_user u ON u.organization_id = o.org AND u.id = t.owner_id
				 WHERE t.organization_id = o.org AND t.id = r.territory_id AND t.deleted_at IS NULL
				   AND u.is_active AND u.deleted_at IS NULL;
				IF owner IS NOT NULL THEN
					owners := array_fill(owner, ARRAY[cardinality(hit)]);
				END IF;
			ELSIF r.action = 'round_robin' THEN
				owners := crm._round_robin(o.org, r.team_id, cardinality(hit), pg_catalog.now());
			ELSE
				-- none: the rule decides without an owner
				owners := array_fill(NULL::uuid, ARRAY[cardinality(hit)]);
			END IF;
			-- the first k leads the rule could decide (round-robin may run out
			-- of capacity); the others fall through to the next rule
			k := coalesce(cardinality(owners), 0);
			CONTINUE WHEN k = 0;
			ids := ids || hit[1:k];
			who := who || owners;
			rids := rids || array_fill(r.id, ARRAY[k]);
			todo := ARRAY(SELECT t.id FROM unnest(todo) WITH ORDINALITY AS t(id, ord)
						   LEFT JOIN unnest(hit[1:k]) AS h(id) ON h.id = t.id
						   WHERE h.id IS NULL ORDER BY t.ord);
		END LOOP;
		-- one UPDATE for the statement's leads: owner, priority (unless the
		-- writer gave one), tags; leads a rule left as they were are not
		-- written
		UPDATE crm.lead l
		   SET owner_id = coalesce(d.u, l.owner_id),
			   priority = coalesce(l.priority, q.set_priority),
			   tags = CASE WHEN cardinality(q.add_tags) = 0 THEN l.tags
						   ELSE ARRAY(SELECT DISTINCT x FROM unnest(l.tags || q.add_tags) x ORDER BY 1) END
		  FROM unnest(ids, who, rids) AS d(i, u, ri)
		  JOIN crm.routing_rule q ON q.organization_id = o.org AND q.id = d.ri
		 WHERE l.organization_id = o.org AND l.id = d.i
		   AND (d.u IS NOT NULL OR (l.priority IS NULL AND q.set_priority IS NOT NULL)
				OR NOT (l.tags OPERATOR(pg_catalog.@>) q.add_tags));
		INSERT INTO crm.routing_decision (organization_id, lead_id, rule_id, rule_name, assigned_to, lead_priority, tags_added, reason)
		SELECT o.org, d.i, q.id, q.name, d.u, p.priority, q.add_tags,
			   format('matched rule "%s" (priority %s): %s', q.name, q.priority, CASE q.action
						WHEN 'user' THEN 'assigned to its user'
						WHEN 'territory' THEN 'assigned to the owner of its territory'
						WHEN 'round_robin' THEN 'round-robin turn of its team (fewest turns among available members)'
						ELSE 'no owner (the rule assigns none)' END)
			   || CASE WHEN p.priority IS NOT NULL THEN format('; priority %s', p.priority) ELSE '' END
			   || CASE WHEN cardinality(q.add_tags) > 0 THEN format('; tags added: %s', array_to_string(q.add_tags, ', ')) ELSE '' END
		  FROM unnest(ids, who, rids) AS d(i, u, ri)
		  JOIN crm.routing_rule q ON q.organization_id = o.org AND q.id = d.ri
		  JOIN crm_new n ON n.organization_id = o.org AND n.id = d.i
		  CROSS JOIN LATERAL (SELECT CASE WHEN n.priority IS NULL THEN q.set_priority END AS priority) p
		UNION ALL
		SELECT o.org, t.id, NULL, NULL, NULL, NULL, '{}', 'no active rule matched that could assign an owner'
		  FROM unnest(todo) AS t(id);
	END LOOP;
	PERFORM set_config('crm.organization_id', coalesce(saved, ''), true);
	RETURN NULL;
END;
$$;
COMMENT ON FUNCTION crm.trg_route_leads() IS
	'AFTER INSERT statement trigger on crm.lead: gives new leads without an owner one by the routing rules, with the deciding rule''s priority and tags, set-based (one evaluation per rule over the statement''s leads, one update, one insert of decisions).';
CREATE TRIGGER crm_94_route AFTER INSERT ON crm.lead
	REFERENCING NEW TABLE AS crm_new FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_route_leads('lead');

-- Validate routing criteria when rules are written.
CREATE FUNCTION crm.trg_routing_rule_check() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	bad record;
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_routing_rule_check()', TG_NAME, TG_RELID, TG_ARGV, '{routing_rule}');
	IF NEW.criteria IS NOT NULL THEN
		SELECT v.path, v.message INTO bad FROM crm.criteria_validate(NEW.criteria, 'lead') v LIMIT 1;
		IF FOUND THEN
			RAISE EXCEPTION 'routing rule "%" has an invalid criteria document: % (at %)', NEW.name, bad.message, bad.path
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'See doc/criteria.md; crm.criteria_validate(criteria, ''lead'') lists every problem.';
		END IF;
	END IF;
	RETURN NEW;
END;
$$;
COMMENT ON FUNCTION crm.trg_routing_rule_check() IS
	'BEFORE INSERT/UPDATE row trigger on crm.routing_rule: the criteria document must be valid for leads of the organization.';
CREATE TRIGGER crm_30_check BEFORE INSERT OR UPDATE OF criteria ON crm.routing_rule
	FOR EACH ROW EXECUTE FUNCTION crm.trg_routing_rule_check('routing_rule');

-- Which rule assigned a lead, and why.
CREATE FUNCTION crm.explain_routing(lead_id uuid)
RETURNS TABLE (rule_name text, priority integer, action text, assigned_to uuid, assigned_to_name text,
			   lead_priority text, tags_added text[], reason text, decided_at timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
BEGIN
	IF NOT EXISTS (SELECT 1 FROM crm.lead l WHERE l.organization_id = org AND l.id = explain_routing.lead_id) THEN
		RAISE EXCEPTION 'lead % does not exist in this organization', explain_routing.lead_id
			USING ERRCODE = 'no_data_found';
	END IF;
	RETURN QUERY
	SELECT d.rule_name, r.priority, r.action, d.assigned_to, u.name, d.lead_priority, d.tags_added, d.reason, d.decided_at
	  FROM crm.routing_decision d
	  LEFT JOIN crm.routing_rule r ON r.organization_id = org AND r.id = d.rule_id
	  LEFT JOIN crm.app_user u ON u.organization_id = org AND u.id = d.assigned_to
	 WHERE d.organization_id = org AND d.lead_id = explain_routing.lead_id
	 ORDER BY d.decided_at, d.id;
END;
$$;
COMMENT ON FUNCTION crm.explain_routing(uuid) IS
	'How a lead was routed: the rule that decided (name, priority, action), the owner given, the priority and tags it gave the lead, and why; or that no rule could.';
