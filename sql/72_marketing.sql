-- ============================================================================
-- 72 marketing: campaigns (a hierarchy) and their members, ROI, email
-- engagement, and marketing lists whose dynamic membership is kept current
-- per changed row by C triggers (src/lists.c) with the criteria evaluator
-- (doc/marketing.md)
-- ============================================================================

-- ---------------------------------------------------------------------------
-- Campaigns
-- ---------------------------------------------------------------------------
CREATE TABLE crm.campaign (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	name		text NOT NULL,
	parent_campaign_id uuid,
	type		text NOT NULL DEFAULT 'other',
	status		text NOT NULL DEFAULT 'planned',
	start_date	date,
	end_date	date,
	budget		numeric(18,2),
	actual_cost	numeric(18,2) NOT NULL DEFAULT 0,
	expected_revenue numeric(18,2),
	currency	char(3),
	description	text,
	owner_id	uuid,
	tags		text[] NOT NULL DEFAULT '{}',
	custom_fields jsonb NOT NULL DEFAULT '{}',
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	deleted_at	timestamptz,
	CONSTRAINT campaign_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT campaign_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT campaign_parent_fkey FOREIGN KEY (organization_id, parent_campaign_id) REFERENCES crm.campaign (organization_id, id),
	CONSTRAINT campaign_owner_fkey FOREIGN KEY (organization_id, owner_id) REFERENCES crm.app_user (organization_id, id),
	CONSTRAINT campaign_not_own_parent CHECK (parent_campaign_id IS DISTINCT FROM id),
	CONSTRAINT campaign_name_not_blank CHECK (pg_catalog.btrim(name) <> ''),
	CONSTRAINT campaign_type_valid CHECK (type IN ('email', 'social', 'event', 'webinar', 'content', 'ppc', 'direct_mail', 'other')),
	CONSTRAINT campaign_status_valid CHECK (status IN ('planned', 'active', 'completed', 'aborted')),
	CONSTRAINT campaign_dates_ordered CHECK (end_date >= start_date),
	CONSTRAINT campaign_budget_nonnegative CHECK (budget >= 0),
	CONSTRAINT campaign_actual_cost_nonnegative CHECK (actual_cost >= 0),
	CONSTRAINT campaign_expected_revenue_nonnegative CHECK (expected_revenue >= 0),
	CONSTRAINT campaign_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
	CONSTRAINT campaign_custom_fields_object CHECK (jsonb_typeof(custom_fields) = 'object')
);
CREATE INDEX campaign_parent_idx ON crm.campaign (organization_id, parent_campaign_id) WHERE parent_campaign_id IS NOT NULL;
CREATE INDEX campaign_status_idx ON crm.campaign (organization_id, status, start_date) WHERE deleted_at IS NULL;
COMMENT ON TABLE crm.campaign IS 'A marketing campaign; campaigns form a hierarchy (parent campaign, never a cycle) along which crm.v_campaign_roi rolls up.';
COMMENT ON COLUMN crm.campaign.name IS 'Campaign name.';
COMMENT ON COLUMN crm.campaign.parent_campaign_id IS 'The parent campaign (a programme, a quarter''s plan), if any; never a cycle.';
COMMENT ON COLUMN crm.campaign.type IS 'email, social, event, webinar, content, ppc, direct_mail or other.';
COMMENT ON COLUMN crm.campaign.status IS 'planned, active, completed or aborted.';
COMMENT ON COLUMN crm.campaign.start_date IS 'First day of the campaign.';
COMMENT ON COLUMN crm.campaign.end_date IS 'Last day of the campaign (not before start_date).';
COMMENT ON COLUMN crm.campaign.budget IS 'Budgeted cost.';
COMMENT ON COLUMN crm.campaign.actual_cost IS 'Cost spent so far (the ROI''s denominator).';
COMMENT ON COLUMN crm.campaign.expected_revenue IS 'Revenue the campaign is expected to bring.';
COMMENT ON COLUMN crm.campaign.currency IS 'ISO 4217 code of budget, cost and revenue (the organization default when NULL).';
COMMENT ON COLUMN crm.campaign.description IS 'Free description.';
SELECT crm._setup_tenant_table('crm.campaign');
-- the hierarchy check accounts and territories use (src/hierarchy.c)
CREATE TRIGGER crm_15_no_cycle BEFORE INSERT OR UPDATE OF parent_campaign_id ON crm.campaign
	FOR EACH ROW EXECUTE FUNCTION crm.trg_no_cycle('campaign', 'parent_campaign_id');

-- The member statuses of one campaign: each campaign has its own list
-- (an event has registered/attended/no_show, an email sent/opened/clicked).
CREATE TABLE crm.campaign_member_status (
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	campaign_id	uuid NOT NULL,
	status		text NOT NULL,
	has_responded boolean NOT NULL DEFAULT false,
	sort_order	integer NOT NULL DEFAULT 0,
	is_default	boolean NOT NULL DEFAULT false,
	CONSTRAINT campaign_member_status_pkey PRIMARY KEY (organization_id, campaign_id, status),
	CONSTRAINT campaign_member_status_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT campaign_member_status_campaign_fkey FOREIGN KEY (organization_id, campaign_id)
		REFERENCES crm.campaign (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT campaign_member_status_format CHECK (status ~ '^[a-z][a-z0-9_]*$')
);
CREATE UNIQUE INDEX campaign_member_status_one_default ON crm.campaign_member_status (organization_id, campaign_id) WHERE is_default;
COMMENT ON TABLE crm.campaign_member_status IS 'The member statuses a campaign allows (sent, opened, clicked, responded, registered, attended, no_show by default), which of them count as a response, and their order (email events only move a member forward).';
COMMENT ON COLUMN crm.campaign_member_status.campaign_id IS 'The campaign.';
COMMENT ON COLUMN crm.campaign_member_status.status IS 'Status name (lower case).';
COMMENT ON COLUMN crm.campaign_member_status.has_responded IS 'A member in this status has responded (counted in responses, sets first_responded_at).';
COMMENT ON COLUMN crm.campaign_member_status.sort_order IS 'Position in the funnel: email events never move a member to a lower one.';
COMMENT ON COLUMN crm.campaign_member_status.is_default IS 'The status of a member added without one (at most one per campaign).';
SELECT crm._setup_tenant_table('crm.campaign_member_status', false);

-- Every new campaign gets the default statuses.
CREATE FUNCTION crm.trg_campaign_seed_statuses() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_campaign_seed_statuses()', TG_NAME, TG_RELID, TG_ARGV, '{campaign}');
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN NULL;
	END IF;
	INSERT INTO crm.campaign_member_status (organization_id, campaign_id, status, has_responded, sort_order, is_default)
	SELECT NEW.organization_id, NEW.id, s.status, s.responded, s.ord, s.ord = 10
	  FROM (VALUES ('sent', false, 10), ('opened', false, 20), ('clicked', true, 30), ('responded', true, 40),
				   ('registered', true, 50), ('attended', true, 60), ('no_show', false, 55)) s(status, responded, ord);
	RETURN NULL;
END;
$$;
COMMENT ON FUNCTION crm.trg_campaign_seed_statuses() IS
	'AFTER INSERT row trigger on crm.campaign: adds the default member statuses (sent, opened, clicked, responded, registered, attended, no_show).';
CREATE TRIGGER crm_50_seed_statuses AFTER INSERT ON crm.campaign
	FOR EACH ROW EXECUTE FUNCTION crm.trg_campaign_seed_statuses('campaign');

CREATE TABLE crm.campaign_member (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	campaign_id	uuid NOT NULL,
	contact_id	uuid,
	lead_id		uuid,
	member_id	uuid GENERATED ALWAYS AS (coalesce(contact_id, lead_id)) STORED,
	status		text NOT NULL,
	has_responded boolean NOT NULL DEFAULT false,
	first_responded_at timestamptz,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT campaign_member_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT campaign_member_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT campaign_member_campaign_fkey FOREIGN KEY (organization_id, campaign_id)
		REFERENCES crm.campaign (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT campaign_member_contact_fkey FOREIGN KEY (organization_id, contact_id) REFERENCES crm.contact (organization_id, id),
	CONSTRAINT campaign_member_lead_fkey FOREIGN KEY (organization_id, lead_id) REFERENCES crm.lead (organization_id, id),
	CONSTRAINT campaign_member_status_fkey FOREIGN KEY (organization_id, campaign_id, status)
		REFERENCES crm.campaign_member_status (organization_id, campaign_id, status),
	CONSTRAINT campaign_member_one_person CHECK (num_nonnulls(contact_id, lead_id) = 1),
	CONSTRAINT campaign_member_unique UNIQUE (organization_id, campaign_id, member_id)
);
CREATE INDEX campaign_member_person_idx ON crm.campaign_member (organization_id, member_id);
COMMENT ON TABLE crm.campaign_member IS 'A contact or a lead (exactly one) in a campaign, with a status from the campaign''s own list; unique per campaign and person.';
COMMENT ON COLUMN crm.campaign_member.campaign_id IS 'The campaign.';
COMMENT ON COLUMN crm.campaign_member.contact_id IS 'The contact (or lead_id).';
COMMENT ON COLUMN crm.campaign_member.lead_id IS 'The lead (or contact_id).';
COMMENT ON COLUMN crm.campaign_member.member_id IS 'The person: contact_id or lead_id (generated).';
COMMENT ON COLUMN crm.campaign_member.status IS 'A status of crm.campaign_member_status for this campaign (default: the campaign''s default status).';
COMMENT ON COLUMN crm.campaign_member.has_responded IS 'Whether the status counts as a response (maintained from crm.campaign_member_status).';
COMMENT ON COLUMN crm.campaign_member.first_responded_at IS 'When the member first reached a responding status (kept when the status moves on).';
SELECT crm._setup_tenant_table('crm.campaign_member');

-- has_responded and first_responded_at follow the status; the default
-- status fills an omitted one.
CREATE FUNCTION crm.trg_campaign_member_status() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	responded boolean;
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_campaign_member_status()', TG_NAME, TG_RELID, TG_ARGV, '{campaign_member}');
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN NEW;
	END IF;
	IF NEW.status IS NULL THEN
		SELECT s.status INTO NEW.status FROM crm.campaign_member_status s
		 WHERE s.organization_id = NEW.organization_id AND s.campaign_id = NEW.campaign_id AND s.is_default;
	END IF;
	SELECT s.has_responded INTO responded FROM crm.campaign_member_status s
	 WHERE s.organization_id = NEW.organization_id AND s.campaign_id = NEW.campaign_id AND s.status = NEW.status;
	NEW.has_responded := coalesce(responded, false);
	IF NEW.has_responded AND NEW.first_responded_at IS NULL THEN
		NEW.first_responded_at := pg_catalog.now();
	END IF;
	RETURN NEW;
END;
$$;
COMMENT ON FUNCTION crm.trg_campaign_member_status() IS
	'BEFORE INSERT OR UPDATE row trigger on crm.campaign_member: default status, has_responded from the campaign''s status list, first_responded_at set once.';
CREATE TRIGGER crm_30_member_status BEFORE INSERT OR UPDATE OF status, campaign_id ON crm.campaign_member
	FOR EACH ROW EXECUTE FUNCTION crm.trg_campaign_member_status('campaign_member');

-- The opportunity's campaign (the column came with sales).
ALTER TABLE crm.opportunity ADD CONSTRAINT opportunity_campaign_fkey
	FOREIGN KEY (organization_id, campaign_id) REFERENCES crm.campaign (organization_id, id);
CREATE INDEX opportunity_campaign_idx ON crm.opportunity (organization_id, campaign_id) WHERE campaign_id IS NOT NULL;

-- ROI per campaign, each figure also rolled up over the campaign and all its
-- descendants.  ROI = (won revenue - cost) / cost, NULL without cost.
CREATE VIEW crm.v_campaign_roi WITH (security_invoker = true) AS
WITH RECURSIVE own AS (
	SELECT c.organization_id, c.id, c.parent_campaign_id, c.name, c.status, c.actual_cost,
		   (SELECT count(*) FROM crm.campaign_member m WHERE m.organization_id = c.organization_id AND m.campaign_id = c.id) AS members,
		   (SELECT count(*) FROM crm.campaign_member m WHERE m.organization_id = c.organization_id AND m.campaign_id = c.id AND m.has_responded) AS responses,
		   o.opportunities, o.pipeline, o.won_revenue
	  FROM crm.campaign c
	  CROSS JOIN LATERAL (
		SELECT count(*) AS opportunities,
			   coalesce(sum(p.amount) FILTER (WHERE NOT p.is_closed), 0) AS pipeline,
			   coalesce(sum(p.amount) FILTER (WHERE p.is_won), 0) AS won_revenue
		  FROM crm.opportunity p
		 WHERE p.organization_id = c.organization_id AND p.campaign_id = c.id AND p.deleted_at IS NULL) o
	 WHERE c.deleted_at IS NULL),
-- every (ancestor, descendant) pair, the campaign itself included
tree(organization_id, ancestor, id) AS (
	SELECT organization_id, id, id FROM own
	UNION ALL
	SELECT t.organization_id, t.ancestor, d.id
	  FROM tree t JOIN own d ON d.organization_id = t.organization_id AND d.parent_campaign_id = t.id)
SELECT a.organization_id, a.id AS campaign_id, a.parent_campaign_id, a.name, a.status,
	   a.members, a.responses, a.opportunities, a.pipeline, a.won_revenue, a.actual_cost AS cost,
	   CASE WHEN a.actual_cost > 0 THEN round((a.won_revenue - a.actual_cost) / a.actual_cost, 4) END AS roi,
	   r.members AS total_members, r.responses AS total_responses, r.opportunities AS total_opportunities,
	   r.pipeline AS total_pipeline, r.won_revenue AS total_won_revenue, r.cost AS total_cost,
	   CASE WHEN r.cost > 0 THEN round((r.won_revenue - r.cost) / r.cost, 4) END AS total_roi
  FROM own a
  JOIN (SELECT t.organization_id, t.ancestor, sum(d.members) AS members, sum(d.responses) AS responses,
			   sum(d.opportunities) AS opportunities, sum(d.pipeline) AS pipeline,
			   sum(d.won_revenue) AS won_revenue, sum(d.actual_cost) AS cost
		  FROM tree t JOIN own d ON d.organization_id = t.organization_id AND d.id = t.id
		 GROUP BY 1, 2) r ON r.organization_id = a.organization_id AND r.ancestor = a.id;
COMMENT ON VIEW crm.v_campaign_roi IS 'Per live campaign: members, responses, opportunities, open pipeline, won revenue, cost and ROI ((won - cost) / cost), each also as total_* over the campaign and its descendants.';
COMMENT ON COLUMN crm.v_campaign_roi.organization_id IS 'The organization (tenant).';
COMMENT ON COLUMN crm.v_campaign_roi.campaign_id IS 'The campaign.';
COMMENT ON COLUMN crm.v_campaign_roi.parent_campaign_id IS 'Its parent campaign.';
COMMENT ON COLUMN crm.v_campaign_roi.name IS 'Campaign name.';
COMMENT ON COLUMN crm.v_campaign_roi.status IS 'Campaign status.';
COMMENT ON COLUMN crm.v_campaign_roi.members IS 'Members of the campaign itself.';
COMMENT ON COLUMN crm.v_campaign_roi.responses IS 'Members in a responding status.';
COMMENT ON COLUMN crm.v_campaign_roi.opportunities IS 'Live opportunities sourced by the campaign.';
COMMENT ON COLUMN crm.v_campaign_roi.pipeline IS 'Amount of its open opportunities.';
COMMENT ON COLUMN crm.v_campaign_roi.won_revenue IS 'Amount of its won opportunities.';
COMMENT ON COLUMN crm.v_campaign_roi.cost IS 'Its actual cost.';
COMMENT ON COLUMN crm.v_campaign_roi.roi IS '(won_revenue - cost) / cost; NULL without cost.';
COMMENT ON COLUMN crm.v_campaign_roi.total_members IS 'members over the campaign and its descendants.';
COMMENT ON COLUMN crm.v_campaign_roi.total_responses IS 'responses over the campaign and its descendants.';
COMMENT ON COLUMN crm.v_campaign_roi.total_opportunities IS 'opportunities over the campaign and its descendants.';
COMMENT ON COLUMN crm.v_campaign_roi.total_pipeline IS 'pipeline over the campaign and its descendants.';
COMMENT ON COLUMN crm.v_campaign_roi.total_won_revenue IS 'won_revenue over the campaign and its descendants.';
COMMENT ON COLUMN crm.v_campaign_roi.total_cost IS 'cost over the campaign and its descendants.';
COMMENT ON COLUMN crm.v_campaign_roi.total_roi IS 'ROI of the totals.';

-- ---------------------------------------------------------------------------
-- Email engagement
-- ---------------------------------------------------------------------------
CREATE TABLE crm.email_message (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	contact_id	uuid,
	lead_id		uuid,
	campaign_id	uuid,
	template_name text,
	subject		text,
	status		text NOT NULL DEFAULT 'sent',
	sent_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT email_message_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT email_message_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT email_message_contact_fkey FOREIGN KEY (organization_id, contact_id) REFERENCES crm.contact (organization_id, id),
	CONSTRAINT email_message_lead_fkey FOREIGN KEY (organization_id, lead_id) REFERENCES crm.lead (organization_id, id),
	CONSTRAINT email_message_campaign_fkey FOREIGN KEY (organization_id, campaign_id) REFERENCES crm.campaign (organization_id, id),
	CONSTRAINT email_message_one_person CHECK (num_nonnulls(contact_id, lead_id) = 1),
	CONSTRAINT email_message_status_valid CHECK (status IN ('queued', 'sent', 'delivered', 'bounced', 'failed'))
);
CREATE INDEX email_message_contact_idx ON crm.email_message (organization_id, contact_id, sent_at DESC) WHERE contact_id IS NOT NULL;
CREATE INDEX email_message_lead_idx ON crm.email_message (organization_id, lead_id, sent_at DESC) WHERE lead_id IS NOT NULL;
CREATE INDEX email_message_campaign_idx ON crm.email_message (organization_id, campaign_id) WHERE campaign_id IS NOT NULL;
COMMENT ON TABLE crm.email_message IS 'One email sent to a contact or a lead (exactly one), possibly for a campaign.';
COMMENT ON COLUMN crm.email_message.contact_id IS 'The recipient contact (or lead_id).';
COMMENT ON COLUMN crm.email_message.lead_id IS 'The recipient lead (or contact_id).';
COMMENT ON COLUMN crm.email_message.campaign_id IS 'The campaign it was sent for, if any: its events move the recipient''s campaign member status.';
COMMENT ON COLUMN crm.email_message.template_name IS 'Name of the template it was made from.';
COMMENT ON COLUMN crm.email_message.subject IS 'Subject line.';
COMMENT ON COLUMN crm.email_message.status IS 'queued, sent, delivered, bounced or failed (delivered and bounced follow its events).';
COMMENT ON COLUMN crm.email_message.sent_at IS 'When it was sent.';
SELECT crm._setup_tenant_table('crm.email_message');

CREATE TABLE crm.email_event (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	email_message_id uuid NOT NULL,
	event_type	text NOT NULL,
	bounce_type	text,
	url			text,
	occurred_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT email_event_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT email_event_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT email_event_message_fkey FOREIGN KEY (organization_id, email_message_id)
		REFERENCES crm.email_message (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT email_event_type_valid CHECK (event_type IN ('delivered', 'opened', 'clicked', 'bounced', 'complained', 'unsubscribed')),
	CONSTRAINT email_event_bounce_type_valid CHECK (bounce_type IN ('hard', 'soft')),
	CONSTRAINT email_event_bounce_type_only_bounces CHECK (bounce_type IS NULL OR event_type = 'bounced')
);
CREATE INDEX email_event_message_idx ON crm.email_event (organization_id, email_message_id, occurred_at);
COMMENT ON TABLE crm.email_event IS 'What happened to a sent email (delivered, opened, clicked, bounced, complained, unsubscribed); each event moves the message status, the campaign member status, and on unsubscribe, complaint or hard bounce the contact''s consent, in the same transaction.';
COMMENT ON COLUMN crm.email_event.email_message_id IS 'The email.';
COMMENT ON COLUMN crm.email_event.event_type IS 'delivered, opened, clicked, bounced, complained or unsubscribed.';
COMMENT ON COLUMN crm.email_event.bounce_type IS 'hard or soft (bounces only; a hard bounce sets do_not_email).';
COMMENT ON COLUMN crm.email_event.url IS 'The link clicked (clicked events).';
COMMENT ON COLUMN crm.email_event.occurred_at IS 'When it happened (as the sending service reports it).';
SELECT crm._setup_tenant_table('crm.email_event', false);

-- An email event's consequences, in the inserting transaction.
CREATE FUNCTION crm.trg_email_event() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	msg crm.email_message;
	target text;
	cur_order integer;
	new_order integer;
	etype text;
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_email_event()', TG_NAME, TG_RELID, TG_ARGV, '{email_event}');
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN NULL;
	END IF;
	SELECT * INTO msg FROM crm.email_message m
	 WHERE m.organization_id = NEW.organization_id AND m.id = NEW.email_message_id;
	-- the message's delivery status
	IF NEW.event_type IN ('delivered', 'bounced') THEN
		UPDATE crm.email_message m SET status = NEW.event_type
		 WHERE m.organization_id = NEW.organization_id AND m.id = msg.id AND m.status <> NEW.event_type;
	END IF;
	-- consent: an unsubscribe, a complaint or a hard bounce stops marketing email
	IF msg.contact_id IS NOT NULL
	   AND (NEW.event_type IN ('unsubscribed', 'complained') OR (NEW.event_type = 'bounced' AND NEW.bounce_type = 'hard')) THEN
		UPDATE crm.contact c
		   SET do_not_email = true,
			   unsubscribed_at = CASE WHEN NEW.event_type = 'bounced' THEN c.unsubscribed_at
									  ELSE coalesce(c.unsubscribed_at, NEW.occurred_at) END
		 WHERE c.organization_id = NEW.organization_id AND c.id = msg.contact_id
		   AND (NOT c.do_not_email OR (NEW.event_type <> 'bounced' AND c.unsubscribed_at IS NULL));
	END IF;
	-- the campaign member status moves forward only (opened after clicked
	-- leaves clicked); a recipient who is not a member yet becomes one
	target := CASE NEW.event_type WHEN 'delivered' THEN 'sent' WHEN 'opened' THEN 'opened'
								  WHEN 'clicked' THEN 'clicked' WHEN 'unsubscribed' THEN 'responded' END;
	IF msg.campaign_id IS NOT NULL AND target IS NOT NULL THEN
		SELECT s.sort_order INTO new_order FROM crm.campaign_member_status s
		 WHERE s.organization_id = NEW.organization_id AND s.campaign_id = msg.campaign_id AND s.status = target;
		IF new_order IS NOT NULL THEN
			SELECT s.sort_order INTO cur_order
			  FROM crm.campaign_member m
			  JOIN crm.campaign_member_status s
				ON s.organization_id = m.organization_id AND s.campaign_id = m.campaign_id AND s.status = m.status
			 WHERE m.organization_id = NEW.organization_id AND m.campaign_id = msg.campaign_id
			   AND m.member_id = coalesce(msg.contact_id, msg.lead_id)
			   FOR UPDATE OF m;
			IF NOT FOUND THEN
				INSERT INTO crm.campaign_member (organization_id, campaign_id, contact_id, lead_id, status)
				VALUES (NEW.organization_id, msg.campaign_id, msg.contact_id, msg.lead_id, target)
				ON CONFLICT (organization_id, campaign_id, member_id) DO NOTHING;
			ELSIF cur_order < new_order THEN
				UPDATE crm.campaign_member m SET status = target
				 WHERE m.organization_id = NEW.organization_id AND m.campaign_id = msg.campaign_id
				   AND m.member_id = coalesce(msg.contact_id, msg.lead_id);
			END IF;
		END IF;
	END IF;
	-- engagement scoring: an open, a click or an unsubscribe is also an
	-- engagement event of the recipient (email_open, email_click,
	-- unsubscribe), scored by the tenant's model in this transaction -- when
	-- the tenant still has that type (it may have removed it: then the email
	-- event is not refused for it)
	etype := CASE NEW.event_type WHEN 'opened' THEN 'email_open' WHEN 'clicked' THEN 'email_click'
								 WHEN 'unsubscribed' THEN 'unsubscribe' END;
	IF etype IS NOT NULL AND EXISTS (SELECT 1 FROM crm.engagement_event_type t
									  WHERE t.organization_id = NEW.organization_id AND t.name = etype) THEN
		INSERT INTO crm.engagement_event (organization_id, lead_id, contact_id, event_type, occurred_at, properties, source, url)
		VALUES (NEW.organization_id, msg.lead_id, msg.contact_id, etype, NEW.occurred_at,
				jsonb_strip_nulls(jsonb_build_object('email_message_id', msg.id, 'email_event_id', NEW.id,
													 'campaign_id', msg.campaign_id, 'template', msg.template_name)),
				'email', NEW.url);
	END IF;
	PERFORM crm.emit('email.' || NEW.event_type, CASE WHEN msg.contact_id IS NOT NULL THEN 'contact' ELSE 'lead' END,
					 coalesce(msg.contact_id, msg.lead_id),
					 jsonb_build_object('email_message_id', msg.id, 'campaign_id', msg.campaign_id, 'url', NEW.url),
					 NEW.organization_id);
	RETURN NULL;
END;
$$;
COMMENT ON FUNCTION crm.trg_email_event() IS
	'AFTER INSERT row trigger on crm.email_event: message status, campaign member status (forward only), consent of the contact on unsubscribe/complaint/hard bounce, an engagement event (email_open, email_click, unsubscribe) for scoring, and an email.<event> event.';
CREATE TRIGGER crm_50_email_event AFTER INSERT ON crm.email_event
	FOR EACH ROW EXECUTE FUNCTION crm.trg_email_event('email_event');

-- ---------------------------------------------------------------------------
-- Marketing lists
-- ---------------------------------------------------------------------------
CREATE TABLE crm.marketing_list (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	name		text NOT NULL,
	kind		text NOT NULL DEFAULT 'static',
	entity		text NOT NULL DEFAULT 'contact',
	criteria	jsonb,
	member_of	uuid[] NOT NULL DEFAULT '{}',
	respect_consent boolean NOT NULL DEFAULT true,
	description	text,
	owner_id	uuid,
	refreshed_at timestamptz,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	deleted_at	timestamptz,
	CONSTRAINT marketing_list_pkey PRIMARY KEY (organization_id, id),
	-- (the key of a member's list and its entity: marketing_list_member_list_fkey)
	CONSTRAINT marketing_list_entity_key UNIQUE (organization_id, id, entity),
	CONSTRAINT marketing_list_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT marketing_list_owner_fkey FOREIGN KEY (organization_id, owner_id) REFERENCES crm.app_user (organization_id, id),
	CONSTRAINT marketing_list_name_not_blank CHECK (pg_catalog.btrim(name) <> ''),
	CONSTRAINT marketing_list_kind_valid CHECK (kind IN ('static', 'dynamic', 'snapshot')),
	CONSTRAINT marketing_list_entity_valid CHECK (entity IN ('contact', 'lead')),
	CONSTRAINT marketing_list_criteria_dynamic CHECK ((kind = 'dynamic') = (criteria IS NOT NULL)),
	CONSTRAINT marketing_list_member_of_dynamic CHECK (kind = 'dynamic' OR cardinality(member_of) = 0)
);
CREATE UNIQUE INDEX marketing_list_name_key ON crm.marketing_list (organization_id, lower(name)) WHERE deleted_at IS NULL;
COMMENT ON TABLE crm.marketing_list IS 'A list of contacts or leads: static (added by hand or from a query), dynamic (criteria, kept current per changed row and by crm.refresh_list) or snapshot (a dynamic list''s members at one moment).';
COMMENT ON COLUMN crm.marketing_list.name IS 'List name (unique per organization among live lists, case-insensitive).';
COMMENT ON COLUMN crm.marketing_list.kind IS 'static, dynamic or snapshot.';
COMMENT ON COLUMN crm.marketing_list.entity IS 'contact or lead: what the list holds.';
COMMENT ON COLUMN crm.marketing_list.criteria IS 'Dynamic lists: the criteria document (doc/criteria.md) members satisfy; NULL for the other kinds.';
COMMENT ON COLUMN crm.marketing_list.member_of IS 'Dynamic lists: members must also be (stored) members of every one of these lists of the same entity (lists of lists; never a cycle).';
COMMENT ON COLUMN crm.marketing_list.respect_consent IS 'Contacts with do_not_email or unsubscribed_at are never members of a dynamic list, and are left out of crm.list_members (default true).';
COMMENT ON COLUMN crm.marketing_list.description IS 'Free description.';
COMMENT ON COLUMN crm.marketing_list.refreshed_at IS 'When crm.refresh_list last ran on the list.';
SELECT crm._setup_tenant_table('crm.marketing_list');

CREATE TABLE crm.marketing_list_member (
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	list_id		uuid NOT NULL,
	entity		text NOT NULL DEFAULT 'contact',
	contact_id	uuid,
	lead_id		uuid,
	member_id	uuid GENERATED ALWAYS AS (coalesce(contact_id, lead_id)) STORED,
	source		text NOT NULL DEFAULT 'manual',
	added_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	removed_at	timestamptz,
	CONSTRAINT marketing_list_member_pkey PRIMARY KEY (organization_id, list_id, member_id),
	CONSTRAINT marketing_list_member_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	-- a member is of its list's entity (a list's entity never changes)
	CONSTRAINT marketing_list_member_list_fkey FOREIGN KEY (organization_id, list_id, entity)
		REFERENCES crm.marketing_list (organization_id, id, entity) ON DELETE CASCADE,
	CONSTRAINT marketing_list_member_contact_fkey FOREIGN KEY (organization_id, contact_id) REFERENCES crm.contact (organization_id, id),
	CONSTRAINT marketing_list_member_lead_fkey FOREIGN KEY (organization_id, lead_id) REFERENCES crm.lead (organization_id, id),
	CONSTRAINT marketing_list_member_entity_matches CHECK (CASE entity WHEN 'contact' THEN contact_id IS NOT NULL AND lead_id IS NULL
																	   WHEN 'lead' THEN lead_id IS NOT NULL AND contact_id IS NULL END),
	CONSTRAINT marketing_list_member_source_valid CHECK (source IN ('manual', 'criteria')),
	CONSTRAINT marketing_list_member_removed_after_added CHECK (removed_at >= added_at)
);
CREATE INDEX marketing_list_member_person_idx ON crm.marketing_list_member (organization_id, member_id) WHERE removed_at IS NULL;
COMMENT ON TABLE crm.marketing_list_member IS 'Membership of a marketing list: current members have no removed_at; a departure keeps the row with removed_at (a return clears it).';
COMMENT ON COLUMN crm.marketing_list_member.list_id IS 'The list.';
COMMENT ON COLUMN crm.marketing_list_member.entity IS 'The list''s entity (contact or lead; checked against the list), so that the row holds only that kind of person.';
COMMENT ON COLUMN crm.marketing_list_member.contact_id IS 'The contact (contact lists).';
COMMENT ON COLUMN crm.marketing_list_member.lead_id IS 'The lead (lead lists).';
COMMENT ON COLUMN crm.marketing_list_member.member_id IS 'The person: contact_id or lead_id (generated).';
COMMENT ON COLUMN crm.marketing_list_member.source IS 'manual (static and snapshot lists) or criteria (dynamic lists).';
COMMENT ON COLUMN crm.marketing_list_member.added_at IS 'When the person (last) joined.';
COMMENT ON COLUMN crm.marketing_list_member.removed_at IS 'When the person left; NULL for a current member.';
SELECT crm._setup_tenant_table('crm.marketing_list_member', false);

-- A list's rules: a dynamic list's criteria are valid for its entity; the
-- lists it reads are live lists of the same entity and close no cycle
-- (changes of one tenant's list graph are serialised by locking its
-- dynamic lists' rows); a dynamic list's entity and kind do not change.
CREATE FUNCTION crm.trg_marketing_list_check() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	err record;
	bad uuid;
	path text;
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_marketing_list_check()', TG_NAME, TG_RELID, TG_ARGV, '{marketing_list}');
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN NEW;
	END IF;
	IF TG_OP = 'UPDATE' AND (NEW.kind <> OLD.kind OR NEW.entity <> OLD.entity) THEN
		RAISE EXCEPTION 'a marketing list''s kind and entity cannot change'
			USING ERRCODE = 'feature_not_supported',
				  HINT = 'Create a new list (crm.snapshot_list copies a dynamic list''s members into a snapshot).';
	END IF;
	IF NEW.kind = 'dynamic' AND (TG_OP = 'INSERT' OR NEW.criteria IS DISTINCT FROM OLD.criteria) THEN
		SELECT * INTO err FROM crm.criteria_validate(NEW.criteria, NEW.entity) LIMIT 1;
		IF FOUND THEN
			RAISE EXCEPTION 'invalid criteria for marketing list "%": %: %', NEW.name, err.path, err.message
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
	END IF;
	IF cardinality(NEW.member_of) > 0 AND (TG_OP = 'INSERT' OR NEW.member_of IS DISTINCT FROM OLD.member_of) THEN
		PERFORM 1 FROM crm.marketing_list l
		 WHERE l.organization_id = NEW.organization_id AND l.kind = 'dynamic' ORDER BY l.id FOR UPDATE;
		SELECT d INTO bad FROM unnest(NEW.member_of) d
		 WHERE NOT EXISTS (SELECT 1 FROM crm.marketing_list l
							WHERE l.organization_id = NEW.organization_id AND l.id = d
							  AND l.entity = NEW.entity AND l.deleted_at IS NULL)
		 LIMIT 1;
		IF bad IS NOT NULL THEN
			RAISE EXCEPTION 'marketing list % in member_of is not a live % list of this organization', bad, NEW.entity
				USING ERRCODE = 'foreign_key_violation';
		END IF;
		-- going down the lists NEW reads must never lead back to NEW
		WITH RECURSIVE down(id, path) AS (
			SELECT d, ARRAY[NEW.id, d] FROM unnest(NEW.member_of) d
			UNION ALL
			SELECT x, down.path || x FROM down
			  JOIN crm.marketing_list l ON l.organization_id = NEW.organization_id AND l.id = down.id
			 CROSS JOIN LATERAL unnest(l.member_of) x
			 WHERE down.id <> NEW.id AND cardinality(down.path) < 100)
		SELECT array_to_string(down.path, ' -> ') INTO path FROM down WHERE down.id = NEW.id LIMIT 1;
		IF path IS NOT NULL THEN
			RAISE EXCEPTION 'marketing list "%" cannot read the membership of a list that reads its own', NEW.name
				USING ERRCODE = 'integrity_constraint_violation',
					  DETAIL = 'The lists would form a cycle: ' || path || '.',
					  HINT = 'A list of lists must not depend on itself.';
		END IF;
	END IF;
	RETURN NEW;
END;
$$;
COMMENT ON FUNCTION crm.trg_marketing_list_check() IS
	'BEFORE INSERT OR UPDATE row trigger on crm.marketing_list: valid criteria, member_of naming live lists of the same entity without a cycle, kind and entity fixed.';
CREATE TRIGGER crm_30_check BEFORE INSERT OR UPDATE ON crm.marketing_list
	FOR EACH ROW EXECUTE FUNCTION crm.trg_marketing_list_check('marketing_list');
-- every backend's per-row list cache is rebuilt after a change of the lists
CREATE TRIGGER crm_95_lists_changed AFTER INSERT OR UPDATE OR DELETE ON crm.marketing_list
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_criteria_catalog();

-- Static and snapshot lists hold members added by hand; a dynamic list
-- holds what its criteria select.  (The entity is the foreign key's to
-- check: rows written from criteria, a refresh's thousands, skip this
-- trigger.)
CREATE FUNCTION crm.trg_marketing_list_member_check() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	list_kind text;
	list_entity text;
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_marketing_list_member_check()', TG_NAME, TG_RELID, TG_ARGV, '{marketing_list_member}');
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN NEW;
	END IF;
	SELECT l.kind, l.entity INTO list_kind, list_entity FROM crm.marketing_list l
	 WHERE l.organization_id = NEW.organization_id AND l.id = NEW.list_id;
	IF list_entity IS DISTINCT FROM NEW.entity AND list_entity IS NOT NULL THEN
		RAISE EXCEPTION 'marketing list % holds %s, not %s', NEW.list_id, list_entity, NEW.entity
			USING ERRCODE = 'check_violation';
	END IF;
	IF NEW.source = 'manual' AND list_kind = 'dynamic' THEN
		RAISE EXCEPTION 'members of a dynamic list come from its criteria'
			USING ERRCODE = 'feature_not_supported',
				  HINT = 'Change the list''s criteria, or add the person to a static list.';
	END IF;
	RETURN NEW;
END;
$$;
COMMENT ON FUNCTION crm.trg_marketing_list_member_check() IS
	'BEFORE INSERT OR UPDATE row trigger on crm.marketing_list_member, for manual members: the member is of the list''s entity; refuses manual members of a dynamic list.';
CREATE TRIGGER crm_30_check BEFORE INSERT OR UPDATE OF list_id, entity, source ON crm.marketing_list_member
	FOR EACH ROW WHEN (NEW.source = 'manual') EXECUTE FUNCTION crm.trg_marketing_list_member_check('marketing_list_member');

-- Maintenance of dynamic lists as records change (src/lists.c): after each
-- INSERT and UPDATE statement on contact and lead (set-based, from the
-- transition tables), and after an account's fields change.  Named crm_70_*
-- so that they fire before the statement triggers that update the same rows
-- again (fit score, routing): those nested updates are then evaluated
-- against the rows this statement wrote.
CREATE FUNCTION crm.trg_list_membership() RETURNS trigger
	AS 'MODULE_PATHNAME', 'lists_membership_trigger'
	LANGUAGE C;
COMMENT ON FUNCTION crm.trg_list_membership() IS
	'AFTER INSERT and AFTER UPDATE statement trigger with transition tables on contact and lead (argument: the entity), AFTER UPDATE row trigger on account (argument account): evaluates the changed rows against only the dynamic lists whose fields the change touches (criteria evaluator, lists of lists in dependency order), writes the joins and departures set-based and emits list.joined / list.left.';
CREATE TRIGGER crm_70_lists_insert AFTER INSERT ON crm.contact
	REFERENCING NEW TABLE AS crm_new FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_list_membership('contact');
CREATE TRIGGER crm_70_lists_update AFTER UPDATE ON crm.contact
	REFERENCING OLD TABLE AS crm_old NEW TABLE AS crm_new FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_list_membership('contact');
CREATE TRIGGER crm_70_lists_insert AFTER INSERT ON crm.lead
	REFERENCING NEW TABLE AS crm_new FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_list_membership('lead');
CREATE TRIGGER crm_70_lists_update AFTER UPDATE ON crm.lead
	REFERENCING OLD TABLE AS crm_old NEW TABLE AS crm_new FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_list_membership('lead');
CREATE TRIGGER crm_70_lists AFTER UPDATE ON crm.account
	FOR EACH ROW EXECUTE FUNCTION crm.trg_list_membership('account');

-- The ids of the records a criteria document selects (the compiled SQL).
CREATE FUNCTION crm.list_preview(criteria jsonb, entity text DEFAULT 'contact', lim integer DEFAULT 100)
RETURNS SETOF uuid
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	IF list_preview.entity IS NULL OR list_preview.entity NOT IN ('contact', 'lead') THEN
		RAISE EXCEPTION 'marketing lists hold contacts or leads, not "%"', list_preview.entity
			USING ERRCODE = 'invalid_parameter_value', HINT = 'entity => ''contact'' or ''lead''.';
	END IF;
	RETURN QUERY SELECT s.id FROM crm.criteria_select(list_preview.criteria, list_preview.entity, lim) s(id);
END;
$$;
COMMENT ON FUNCTION crm.list_preview(jsonb, text, integer) IS
	'The ids of up to lim live contacts (or leads) a criteria document selects, before a list is saved (compiled SQL, the tenant''s rows only).';

-- The live list of the current tenant, locked as asked, or an error.
CREATE FUNCTION crm._list(list_id uuid, lock boolean)
RETURNS crm.marketing_list
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	l crm.marketing_list;
BEGIN
	IF lock THEN
		SELECT * INTO l FROM crm.marketing_list m
		 WHERE m.organization_id = crm.current_org() AND m.id = _list.list_id AND m.deleted_at IS NULL FOR UPDATE;
	ELSE
		SELECT * INTO l FROM crm.marketing_list m
		 WHERE m.organization_id = crm.current_org() AND m.id = _list.list_id AND m.deleted_at IS NULL;
	END IF;
	IF l.id IS NULL THEN
		RAISE EXCEPTION 'marketing list % does not exist', coalesce(_list.list_id::text, 'NULL')
			USING ERRCODE = 'no_data_found', HINT = 'Pass the id of a live list of the current organization.';
	END IF;
	RETURN l;
END;
$$;
COMMENT ON FUNCTION crm._list(uuid, boolean) IS 'Internal: the current tenant''s live list (optionally locked FOR UPDATE), or no_data_found.';

-- One dynamic list's difference, set-based (src/lists.c): its criteria
-- compiled into a SQL predicate (every value a parameter), with liveness,
-- consent, the stored membership of the lists it reads and an explicit
-- tenant filter, as the caller (row-level security applies).
CREATE FUNCTION crm._list_refresh(list_id uuid, OUT joined bigint, OUT "left" bigint)
	AS 'MODULE_PATHNAME', 'lists_refresh'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION crm._list_refresh(uuid) IS
	'Internal (crm.refresh_list): locks the current tenant''s dynamic list and applies the difference between its stored members and its criteria in one statement (joins inserted or re-opened, departures stamped removed_at, list.joined / list.left events); the counts.';
CREATE FUNCTION crm._list_diff(list_id uuid)
RETURNS TABLE (member_id uuid, wanted boolean)
	AS 'MODULE_PATHNAME', 'lists_diff'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION crm._list_diff(uuid) IS
	'Internal (crm.check_list_membership): the people whose stored membership of the current tenant''s dynamic list differs from its criteria (wanted: they should be members), in id order.';

-- Bring a dynamic list up to date: only the difference is written (joins
-- inserted or re-opened, departures closed with removed_at), each emitting
-- list.joined / list.left.  Idempotent: on an up-to-date list it writes
-- nothing.  Serialised with the per-row triggers by the list's row lock.
CREATE FUNCTION crm.refresh_list(list_id uuid)
RETURNS TABLE (joined bigint, "left" bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	l crm.marketing_list;
	org uuid := crm.current_org();
BEGIN
	l := crm._list(refresh_list.list_id, true);
	IF l.kind <> 'dynamic' THEN
		RAISE EXCEPTION 'marketing list "%" is a % list: only dynamic lists are refreshed', l.name, l.kind
			USING ERRCODE = 'wrong_object_type';
	END IF;
	SELECT r.joined, r."left" INTO joined, "left" FROM crm._list_refresh(l.id) r;
	UPDATE crm.marketing_list m SET refreshed_at = pg_catalog.now()
	 WHERE m.organization_id = org AND m.id = l.id;
	RETURN NEXT;
END;
$$;
COMMENT ON FUNCTION crm.refresh_list(uuid) IS
	'Brings a dynamic list up to date, writing only the difference (joins in, departures out with removed_at, list.joined / list.left events); returns the counts; idempotent.';

-- The current tenant's dynamic lists in dependency order (a list after the
-- lists it reads).
CREATE FUNCTION crm._lists_in_order()
RETURNS TABLE (list_id uuid, depth integer)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	RETURN QUERY
	WITH RECURSIVE d(id, depth) AS (
		SELECT l.id, 0 FROM crm.marketing_list l
		 WHERE l.organization_id = crm.current_org() AND l.kind = 'dynamic' AND l.deleted_at IS NULL
		UNION ALL
		SELECT l.id, d.depth + 1 FROM d
		  JOIN crm.marketing_list l ON l.organization_id = crm.current_org() AND d.id = ANY (l.member_of)
		 WHERE l.kind = 'dynamic' AND l.deleted_at IS NULL AND d.depth < 100)
	SELECT d.id, max(d.depth)::integer FROM d GROUP BY d.id ORDER BY 2, 1;
END;
$$;
COMMENT ON FUNCTION crm._lists_in_order() IS 'Internal: the current tenant''s dynamic lists, each after the lists it reads (depth order).';

-- Job: refresh every dynamic list of every organization (time-relative
-- criteria such as within_last change with the clock alone), each
-- organization in its own tenant context, lists in dependency order.
CREATE FUNCTION crm.refresh_lists()
RETURNS TABLE (organization_id uuid, list_id uuid, joined bigint, "left" bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	o record;
	x record;
	r record;
BEGIN
	FOR o IN SELECT DISTINCT l.organization_id AS org FROM crm.marketing_list l
			  WHERE l.kind = 'dynamic' AND l.deleted_at IS NULL ORDER BY 1 LOOP
		BEGIN
			PERFORM set_config('crm.organization_id', o.org::text, true);
			FOR x IN SELECT * FROM crm._lists_in_order() LOOP
				SELECT * INTO r FROM crm.refresh_list(x.list_id);
				organization_id := o.org;
				list_id := x.list_id;
				joined := r.joined;
				"left" := r."left";
				RETURN NEXT;
			END LOOP;
		EXCEPTION WHEN OTHERS THEN
			RAISE WARNING 'refreshing the marketing lists of organization % failed: %', o.org, SQLERRM;
		END;
	END LOOP;
END;
$$;
COMMENT ON FUNCTION crm.refresh_lists() IS
	'Job: crm.refresh_list for every dynamic list of every organization (each in its own tenant context, lists in dependency order; one failure does not stop the others).';
INSERT INTO crm.job (name, schedule, command, description) VALUES
	('refresh_lists', '*/15 * * * *', 'SELECT count(*) FROM crm.refresh_lists()',
	 'Refreshes dynamic marketing lists (time-relative criteria change with the clock; per-row triggers keep the rest current).');

-- The current members of a list (consent respected when the list says so).
CREATE FUNCTION crm.list_members(list_id uuid)
RETURNS TABLE (member_id uuid, entity text, source text, added_at timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	l crm.marketing_list;
BEGIN
	SELECT * INTO l FROM crm.marketing_list m
	 WHERE m.organization_id = crm.current_org() AND m.id = list_members.list_id AND m.deleted_at IS NULL;
	IF l.id IS NULL THEN
		RAISE EXCEPTION 'marketing list % does not exist', coalesce(list_members.list_id::text, 'NULL')
			USING ERRCODE = 'no_data_found', HINT = 'Pass the id of a live list of the current organization.';
	END IF;
	RETURN QUERY
	SELECT m.member_id, m.entity, m.source, m.added_at
	  FROM crm.marketing_list_member m
	  LEFT JOIN crm.contact c ON c.organization_id = m.organization_id AND c.id = m.contact_id
	  LEFT JOIN crm.lead d ON d.organization_id = m.organization_id AND d.id = m.lead_id
	 WHERE m.organization_id = l.organization_id AND m.list_id = l.id AND m.removed_at IS NULL
	   AND coalesce(c.deleted_at, d.deleted_at) IS NULL
	   AND NOT (l.respect_consent AND c.id IS NOT NULL AND (c.do_not_email OR c.unsubscribed_at IS NOT NULL))
	 ORDER BY m.added_at, m.member_id;
END;
$$;
COMMENT ON FUNCTION crm.list_members(uuid) IS
	'The current, live members of a list (contacts without consent left out when the list respects consent), oldest first.';

-- Add people to a static list: the ids a query returns (one uuid column),
-- run as the caller, so row-level security applies.  Returns how many
-- joined.
CREATE FUNCTION crm.list_add(list_id uuid, query text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	l crm.marketing_list;
	n bigint;
BEGIN
	l := crm._list(list_add.list_id, true);
	IF l.kind <> 'static' THEN
		RAISE EXCEPTION 'marketing list "%" is a % list: people are added to static lists', l.name, l.kind
			USING ERRCODE = 'wrong_object_type';
	END IF;
	IF query IS NULL THEN
		RAISE EXCEPTION 'query must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	EXECUTE format(
		'WITH q AS (SELECT DISTINCT x.id FROM (%1$s) x(id)),
		 ins AS (
			INSERT INTO crm.marketing_list_member AS m (organization_id, list_id, entity, %2$I, source)
			SELECT $1, $2, %3$L, q.id, ''manual'' FROM q
			ON CONFLICT (organization_id, list_id, member_id)
			DO UPDATE SET removed_at = NULL, added_at = EXCLUDED.added_at WHERE m.removed_at IS NOT NULL
			RETURNING m.member_id),
		 ev AS (
			INSERT INTO crm.outbox (organization_id, event_type, entity, entity_id, payload)
			SELECT $1, ''list.joined'', %3$L, i.member_id, pg_catalog.jsonb_build_object(''list_id'', $2) FROM ins i)
		 SELECT count(*) FROM ins',
		query, l.entity || '_id', l.entity)
	INTO n USING l.organization_id, l.id;
	RETURN n;
END;
$$;
COMMENT ON FUNCTION crm.list_add(uuid, text) IS
	'Adds the ids a query returns (one uuid column; run as the caller) to a static list; returns how many joined. Another tenant''s ids are refused by the composite foreign key.';

-- Remove people from a static list (removed_at set); returns how many left.
CREATE FUNCTION crm.list_remove(list_id uuid, ids uuid[])
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	l crm.marketing_list;
	n bigint;
BEGIN
	l := crm._list(list_remove.list_id, true);
	IF l.kind <> 'static' THEN
		RAISE EXCEPTION 'marketing list "%" is a % list: people are removed from static lists', l.name, l.kind
			USING ERRCODE = 'wrong_object_type';
	END IF;
	WITH del AS (
		UPDATE crm.marketing_list_member m SET removed_at = pg_catalog.now()
		 WHERE m.organization_id = l.organization_id AND m.list_id = l.id AND m.removed_at IS NULL
		   AND m.member_id = ANY (list_remove.ids)
		RETURNING m.member_id),
	ev AS (
		INSERT INTO crm.outbox (organization_id, event_type, entity, entity_id, payload)
		SELECT l.organization_id, 'list.left', l.entity, d.member_id, jsonb_build_object('list_id', l.id) FROM del d)
	SELECT count(*) INTO n FROM del;
	RETURN n;
END;
$$;
COMMENT ON FUNCTION crm.list_remove(uuid, uuid[]) IS 'Removes people from a static list (removed_at set, list.left emitted); returns how many left.';

-- A snapshot list holding a list's current members; returns its id.
CREATE FUNCTION crm.snapshot_list(list_id uuid, name text)
RETURNS uuid
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	l crm.marketing_list;
	snap uuid;
BEGIN
	l := crm._list(snapshot_list.list_id, true);
	INSERT INTO crm.marketing_list AS m (name, kind, entity, respect_consent, description)
	VALUES (snapshot_list.name, 'snapshot', l.entity, l.respect_consent,
			format('Snapshot of "%s" taken at %s', l.name, pg_catalog.now()))
	RETURNING m.id INTO snap;
	INSERT INTO crm.marketing_list_member (organization_id, list_id, entity, contact_id, lead_id, source)
	SELECT l.organization_id, snap, l.entity, m.contact_id, m.lead_id, 'manual'
	  FROM crm.marketing_list_member m
	 WHERE m.organization_id = l.organization_id AND m.list_id = l.id AND m.removed_at IS NULL;
	RETURN snap;
END;
$$;
COMMENT ON FUNCTION crm.snapshot_list(uuid, text) IS 'Creates a snapshot list holding a list''s current members; returns its id.';

-- Drift check: stored membership of every dynamic list against its
-- criteria (what crm.refresh_list would change).
CREATE FUNCTION crm.check_list_membership()
RETURNS TABLE (entity text, id uuid, expected text, actual text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	x record;
BEGIN
	-- membership is checked for the current organization (criteria read its
	-- field catalog); without one there is nothing to check
	IF coalesce(current_setting('crm.organization_id', true), '') = '' THEN
		RETURN;
	END IF;
	FOR x IN SELECT * FROM crm._lists_in_order() LOOP
		RETURN QUERY
		SELECT l.entity, d.member_id,
			   CASE WHEN d.wanted THEN 'a member of list ' ELSE 'not a member of list ' END || l.id::text,
			   CASE WHEN d.wanted THEN 'not a member' ELSE 'a member' END
		  FROM crm.marketing_list l CROSS JOIN LATERAL crm._list_diff(l.id) d
		 WHERE l.organization_id = crm.current_org() AND l.id = x.list_id;
	END LOOP;
END;
$$;
COMMENT ON FUNCTION crm.check_list_membership() IS
	'crm.verify() check: people whose stored membership of a dynamic list of the current organization differs from its criteria (what crm.refresh_list would change).';
INSERT INTO crm.verify_check VALUES
	('list_membership', 'crm.check_list_membership()', 'Stored membership of every dynamic list equals what its criteria select.');
