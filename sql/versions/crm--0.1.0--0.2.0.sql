-- crm 0.1.0 -> 0.2.0: the changes since the release of 0.1.0, in the order they
-- were made (each later change appends its DDL here, and the same change
-- goes into sql/*.sql for fresh installs; test/scripts/upgrade.sh checks
-- that both give the same catalog and that the data stays as it was).
\echo Use "ALTER EXTENSION crm UPDATE TO '0.2.0'" to load this file. \quit

-- Email events feed engagement scoring: an open, a click or an unsubscribe is
-- also an engagement event of the recipient (issue 13).
CREATE OR REPLACE FUNCTION crm.trg_email_event() RETURNS trigger
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
