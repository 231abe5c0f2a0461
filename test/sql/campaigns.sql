-- Campaigns: a hierarchy without cycles, members with a per-campaign status
-- list, the opportunity's campaign, ROI rolled up a 3-level hierarchy, and
-- email events moving member status and consent (doc/marketing.md).
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT crm.create_organization('Campaign Org') AS org \gset
SELECT crm.create_organization('Other Campaign Org') AS other \gset
DROP ROLE IF EXISTS crm_campaign_user;
CREATE ROLE crm_campaign_user;
SELECT crm.grant_access('crm_campaign_user', 'user');
SET ROLE crm_campaign_user;
\set prog 'ca000000-0000-7000-8000-000000000c01'
\set web 'ca000000-0000-7000-8000-000000000c02'
\set mail 'ca000000-0000-7000-8000-000000000c03'
\set wave 'ca000000-0000-7000-8000-000000000c04'
SET crm.organization_id = :'org';

-- A 3-level hierarchy: a programme, two campaigns under it, a wave under one.
INSERT INTO crm.campaign (id, name, type, status, actual_cost) VALUES (:'prog', 'Programme', 'other', 'active', 1000);
INSERT INTO crm.campaign (id, name, type, parent_campaign_id, actual_cost) VALUES (:'web', 'Webinar', 'webinar', :'prog', 500);
INSERT INTO crm.campaign (id, name, type, parent_campaign_id, actual_cost) VALUES (:'mail', 'Mailing', 'email', :'prog', 0);
INSERT INTO crm.campaign (id, name, type, parent_campaign_id, actual_cost) VALUES (:'wave', 'Wave 2', 'email', :'mail', 250);

-- The hierarchy refuses a cycle (crm.trg_no_cycle, as for accounts), and
-- the check values.
UPDATE crm.campaign SET parent_campaign_id = :'wave' WHERE id = :'prog';
UPDATE crm.campaign SET parent_campaign_id = id WHERE id = :'web';
INSERT INTO crm.campaign (name, type) VALUES ('Bad', 'tv');
INSERT INTO crm.campaign (name, start_date, end_date) VALUES ('Bad', '2027-02-01', '2027-01-01');

-- Each campaign starts with the default member statuses; a campaign can add
-- its own.
SELECT status, has_responded, sort_order, is_default FROM crm.campaign_member_status
 WHERE campaign_id = :'web' ORDER BY sort_order;
INSERT INTO crm.campaign_member_status (campaign_id, status, has_responded, sort_order) VALUES (:'web', 'asked_question', true, 65);

INSERT INTO crm.contact (last_name, email) VALUES ('Ada', 'ada@c.example') RETURNING id AS ada \gset
INSERT INTO crm.contact (last_name, email) VALUES ('Bo', 'bo@c.example') RETURNING id AS bo \gset
INSERT INTO crm.lead (last_name, email, company) VALUES ('Cy', 'cy@c.example', 'Cy Inc') RETURNING id AS cy \gset

-- Members: a contact or a lead, exactly one, unique per campaign; the
-- status comes from the campaign's own list (default: sent).
INSERT INTO crm.campaign_member (campaign_id, contact_id) VALUES (:'web', :'ada');
INSERT INTO crm.campaign_member (campaign_id, contact_id, status) VALUES (:'web', :'bo', 'attended');
INSERT INTO crm.campaign_member (campaign_id, lead_id, status) VALUES (:'web', :'cy', 'asked_question');
INSERT INTO crm.campaign_member (campaign_id, contact_id, status) VALUES (:'wave', :'ada', 'clicked');
INSERT INTO crm.campaign_member (campaign_id, contact_id) VALUES (:'web', :'ada');
INSERT INTO crm.campaign_member (campaign_id, contact_id, lead_id) VALUES (:'mail', :'ada', :'cy');
INSERT INTO crm.campaign_member (campaign_id, contact_id, status) VALUES (:'mail', :'bo', 'asked_question');
SELECT c.name, coalesce(p.last_name, l.last_name) AS person, m.status, m.has_responded, m.first_responded_at IS NOT NULL AS responded_at
  FROM crm.campaign_member m JOIN crm.campaign c ON c.id = m.campaign_id
  LEFT JOIN crm.contact p ON p.id = m.contact_id LEFT JOIN crm.lead l ON l.id = m.lead_id
 ORDER BY 1, 2;
-- first_responded_at is kept when the status moves on
UPDATE crm.campaign_member SET status = 'no_show' WHERE campaign_id = :'web' AND lead_id = :'cy';
SELECT status, has_responded, first_responded_at IS NOT NULL AS responded_at FROM crm.campaign_member
 WHERE campaign_id = :'web' AND lead_id = :'cy';

-- Opportunities point at a campaign (composite foreign key): another
-- tenant's campaign is refused.
INSERT INTO crm.opportunity (name, amount, campaign_id) VALUES ('Open web deal', 3000, :'web');
INSERT INTO crm.opportunity (name, amount, campaign_id) VALUES ('Won wave deal', 2000, :'wave') RETURNING id AS won_deal \gset
INSERT INTO crm.opportunity (name, amount, campaign_id) VALUES ('Won web deal', 1500, :'web') RETURNING id AS won_web \gset
UPDATE crm.opportunity SET stage_id = (SELECT id FROM crm.pipeline_stage WHERE name = 'Closed Won') WHERE id IN (:'won_deal', :'won_web');
SET crm.organization_id = :'other';
INSERT INTO crm.opportunity (name, amount, campaign_id) VALUES ('Stolen', 1, :'web');
SELECT count(*) AS campaigns_seen FROM crm.v_campaign_roi;
SET crm.organization_id = :'org';

-- ROI: own figures and totals over the subtree.  Programme total: cost
-- 1000 + 500 + 0 + 250 = 1750, won 1500 + 2000 = 3500, ROI (3500 - 1750) / 1750 = 1.
-- Mailing has no cost of its own (ROI NULL) but its subtree does (Wave 2:
-- (2000 - 250) / 250 = 7).
SELECT name, members, responses, opportunities, pipeline, won_revenue, cost, roi,
	   total_members, total_responses, total_opportunities, total_pipeline, total_won_revenue, total_cost, total_roi
  FROM crm.v_campaign_roi ORDER BY name;
-- a soft-deleted campaign leaves the view
UPDATE crm.campaign SET deleted_at = now() WHERE id = :'wave';
SELECT name, total_won_revenue, total_cost, total_roi FROM crm.v_campaign_roi ORDER BY name;
UPDATE crm.campaign SET deleted_at = NULL WHERE id = :'wave';

-- Email events: delivered/opened/clicked move the member forward only;
-- a recipient who is not a member becomes one; an unsubscribe, a complaint
-- or a hard bounce sets the contact's consent in the same transaction.
INSERT INTO crm.email_message (contact_id, campaign_id, template_name, subject) VALUES (:'bo', :'mail', 'spring', 'Hello') RETURNING id AS m_bo \gset
INSERT INTO crm.email_message (contact_id, campaign_id, template_name) VALUES (:'ada', :'wave', 'spring') RETURNING id AS m_ada \gset
INSERT INTO crm.email_message (lead_id, campaign_id, template_name) VALUES (:'cy', :'mail', 'spring') RETURNING id AS m_cy \gset
INSERT INTO crm.email_event (email_message_id, event_type) VALUES (:'m_bo', 'delivered');
SELECT status FROM crm.email_message WHERE id = :'m_bo';
SELECT status, has_responded FROM crm.campaign_member WHERE campaign_id = :'mail' AND contact_id = :'bo';
INSERT INTO crm.email_event (email_message_id, event_type, url) VALUES (:'m_bo', 'clicked', 'https://c.example/offer');
INSERT INTO crm.email_event (email_message_id, event_type) VALUES (:'m_bo', 'opened');
SELECT status, has_responded FROM crm.campaign_member WHERE campaign_id = :'mail' AND contact_id = :'bo';
-- Ada (already clicked in Wave 2) opens: stays clicked
INSERT INTO crm.email_event (email_message_id, event_type) VALUES (:'m_ada', 'opened');
SELECT status FROM crm.campaign_member WHERE campaign_id = :'wave' AND contact_id = :'ada';
-- consent
SELECT last_name, do_not_email, unsubscribed_at = '2027-03-01 10:00+00' AS unsubscribed_then FROM crm.contact WHERE id IN (:'ada', :'bo') ORDER BY 1;
BEGIN;
INSERT INTO crm.email_event (email_message_id, event_type, occurred_at) VALUES (:'m_bo', 'unsubscribed', '2027-03-01 10:00+00');
INSERT INTO crm.email_event (email_message_id, event_type, bounce_type) VALUES (:'m_ada', 'bounced', 'hard');
SELECT last_name, do_not_email, unsubscribed_at = '2027-03-01 10:00+00' AS unsubscribed_then FROM crm.contact WHERE id IN (:'ada', :'bo') ORDER BY 1;
SELECT status FROM crm.email_message WHERE id = :'m_ada';
COMMIT;
-- a soft bounce changes no consent; a lead has no consent columns
INSERT INTO crm.email_event (email_message_id, event_type, bounce_type) VALUES (:'m_cy', 'bounced', 'soft');
INSERT INTO crm.email_event (email_message_id, event_type) VALUES (:'m_cy', 'complained');
INSERT INTO crm.email_event (email_message_id, event_type, bounce_type) VALUES (:'m_cy', 'opened', 'hard');
SELECT event_type, entity, payload ->> 'url' AS url FROM crm.outbox WHERE event_type LIKE 'email.%' ORDER BY created_at, id;
-- opens, clicks and unsubscribes are also engagement events of the
-- recipient (email_open, email_click, unsubscribe), scored in the same
-- transaction; the failed "opened" of the lead above wrote none
SELECT coalesce(contact_id, lead_id) = :'bo' AS bo, event_type, source, url, properties ->> 'template' AS template,
	   (properties ->> 'email_message_id')::uuid = :'m_bo' AS of_bo_message
  FROM crm.engagement_event ORDER BY occurred_at, event_type;
SELECT engagement_score > 0 AS bo_engaged FROM crm.score WHERE record_id = :'bo';
SELECT "check", count(*) FROM crm.verify() GROUP BY 1 ORDER BY 1;
-- the hierarchy check of crm.verify() covers campaigns too
SELECT * FROM crm.verify() WHERE "check" = 'hierarchy_cycles';
RESET ROLE;
SELECT crm.revoke_access('crm_campaign_user');
DROP OWNED BY crm_campaign_user;
DROP ROLE crm_campaign_user;
