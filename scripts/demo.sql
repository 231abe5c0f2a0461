-- Demo data for two organizations, loaded by scripts/demo.sh through the
-- public tables as an ordinary application role: every trigger and policy
-- does its work exactly as it would for a real client.
\set ON_ERROR_STOP on
\set QUIET on

CREATE EXTENSION IF NOT EXISTS pg_cron;
CREATE EXTENSION IF NOT EXISTS crm;

SELECT crm.create_organization('Acme Robotics', 'acme') AS acme \gset
SELECT crm.create_organization('Globex Foods', 'globex') AS globex \gset
CREATE ROLE crm_app LOGIN;                -- a shared application pool role
SELECT crm.grant_access('crm_app', 'admin');
CREATE ROLE acme_reporting LOGIN;         -- a BI tool limited to Acme
SELECT crm.grant_access('acme_reporting', 'readonly', ARRAY[:'acme']::uuid[]);

SET ROLE crm_app;

-- ---- Acme ---------------------------------------------------------------
SET crm.organization_id = :'acme';
INSERT INTO crm.app_user (name, email, title, timezone) VALUES
	('Ada Park', 'ada@acme.example', 'Head of Sales', 'America/New_York') RETURNING id AS ada \gset
SET crm.user_id = :'ada';
INSERT INTO crm.app_user (name, email, title, timezone) VALUES
	('Ben Ortiz', 'ben@acme.example', 'Account Executive', 'America/Chicago') RETURNING id AS ben \gset
INSERT INTO crm.team (name, manager_id) VALUES ('Enterprise', :'ada') RETURNING id AS team \gset
INSERT INTO crm.team_member (team_id, user_id, role) VALUES (:'team', :'ada', 'manager'), (:'team', :'ben', 'member');
INSERT INTO crm.territory (name, owner_id) VALUES ('North America', :'ada') RETURNING id AS na \gset
INSERT INTO crm.territory (name, parent_territory_id, owner_id) VALUES ('US East', :'na', :'ben') RETURNING id AS east \gset
INSERT INTO crm.custom_field (entity, name, label, field_type, options) VALUES
	('account', 'tier', 'Support tier', 'picklist', '["gold", "silver", "bronze"]');
INSERT INTO crm.account (name, type, industry, employee_count, annual_revenue, currency, domain, website, owner_id, territory_id, tags, custom_fields)
VALUES ('Initech Holdings', 'customer', 'Software', 4200, 880000000, 'USD', 'initech.example', 'https://initech.example', :'ada', :'na', '{strategic}', '{"tier": "gold"}')
RETURNING id AS initech \gset
INSERT INTO crm.account (name, parent_account_id, type, industry, employee_count, domain, owner_id, territory_id, tags, custom_fields)
VALUES ('Initech Labs', :'initech', 'customer', 'Research', 310, 'labs.initech.example', :'ben', :'east', '{}', '{"tier": "silver"}'),
       ('Umbrella Freight', NULL, 'prospect', 'Logistics', 950, 'umbrella.example', :'ben', :'east', '{inbound}', '{}');
INSERT INTO crm.contact (account_id, first_name, last_name, email, phone, title, timezone, locale, owner_id, tags)
VALUES (:'initech', 'Ann', 'Smith', 'ann.smith@initech.example', '+1 415 555 0100', 'CTO', 'America/Los_Angeles', 'en', :'ada', '{decision-maker}')
RETURNING id AS ann \gset
INSERT INTO crm.contact (account_id, first_name, last_name, email, title, owner_id)
SELECT :'initech', f, l, lower(f) || '.' || lower(l) || '@initech.example', t, :'ben'
  FROM (VALUES ('Peter', 'Gibbons', 'Engineer'), ('Samir', 'Nagheenanajar', 'Engineer'),
               ('Michael', 'Bolton', 'Engineer'), ('Bill', 'Lumbergh', 'VP Operations')) v(f, l, t);
INSERT INTO crm.lead (first_name, last_name, email, company, title, lead_source, status, utm_source, utm_campaign, owner_id)
VALUES ('Joanna', 'Doe', 'joanna@chotchkies.example', 'Chotchkies', 'Owner', 'web', 'new', 'google', 'flair-2026', :'ben'),
       ('Tom', 'Smykowski', 'tom@jumptoconclusions.example', 'Jump Mats Inc', 'Founder', 'event', 'contacted', NULL, NULL, :'ben');
INSERT INTO crm.activity (type, subject, body, status, activity_at, completed_at, duration_minutes, direction, outcome, account_id, contact_id, owner_id)
SELECT 'call', 'Quarterly review #' || g, 'Discussed renewal and expansion.', 'completed',
       now() - (g || ' weeks')::interval, now() - (g || ' weeks')::interval, 30, 'outbound', 'connected', :'initech', :'ann', :'ada'
  FROM generate_series(1, 25) g;
INSERT INTO crm.activity (type, subject, status, due_at, priority, contact_id, owner_id, assignee_id)
VALUES ('task', 'Send the renewal quote', 'planned', now() + interval '2 days', 'high', :'ann', :'ada', :'ben');
INSERT INTO crm.note (body, account_id, is_pinned) VALUES ('Renewal due in Q1; budget approved.', :'initech', true);
-- An edit, so the audit log has something to tell.
UPDATE crm.contact SET title = 'Chief Technology Officer', phone = '+1 415 555 0199' WHERE id = :'ann';

-- ---- Globex -------------------------------------------------------------
SET crm.organization_id = :'globex';
RESET crm.user_id;
INSERT INTO crm.app_user (name, email, title) VALUES ('Hank Scorpio', 'hank@globex.example', 'CEO') RETURNING id AS hank \gset
SET crm.user_id = :'hank';
INSERT INTO crm.account (name, type, industry, domain, owner_id) VALUES ('Kwik-E-Mart', 'customer', 'Retail', 'kwikemart.example', :'hank') RETURNING id AS kwik \gset
INSERT INTO crm.contact (account_id, first_name, last_name, email, owner_id)
VALUES (:'kwik', 'Apu', 'Nahasapeemapetilon', 'apu@kwikemart.example', :'hank'),
       (:'kwik', 'Ann', 'Smithers', 'ann@kwikemart.example', :'hank');
INSERT INTO crm.lead (first_name, last_name, company, status, owner_id) VALUES ('Homer', 'Simpson', 'Springfield Nuclear', 'nurturing', :'hank');

RESET ROLE;
RESET crm.user_id;
RESET crm.organization_id;
