-- Lead conversion (crm.convert_lead, doc/quotes.md "Lead conversion"): every
-- way the account and the contact are found or created, filling only empty
-- fields, the optional opportunity, what moves from the lead, the event, the
-- errors, and row-level security.
\set VERBOSITY terse
SET client_min_messages = warning;

SELECT crm.create_organization('Conversion Org') AS org \gset
SELECT crm.create_organization('Other Conversion Org') AS other \gset
DROP ROLE IF EXISTS crm_conv_admin;
DROP ROLE IF EXISTS crm_conv_rep;
DROP ROLE IF EXISTS crm_conv_reader;
CREATE ROLE crm_conv_admin;
CREATE ROLE crm_conv_rep;
CREATE ROLE crm_conv_reader;
SELECT crm.grant_access('crm_conv_admin', 'admin');
SELECT crm.grant_access('crm_conv_rep', 'user');
SELECT crm.grant_access('crm_conv_reader', 'readonly');

-- The other tenant has a lead, an account and a contact of its own.
SET ROLE crm_conv_rep;
SET crm.organization_id = :'other';
INSERT INTO crm.lead (id, last_name, company) VALUES ('0c0e0000-0000-7000-8000-0000000000f1', 'Foreign', 'Elsewhere') RETURNING id AS foreign_lead \gset
INSERT INTO crm.account (id, name, domain) VALUES ('0c0e0000-0000-7000-8000-0000000000f2', 'Foreign Co', 'foreign.example') RETURNING id AS foreign_account \gset
INSERT INTO crm.contact (id, last_name, email) VALUES ('0c0e0000-0000-7000-8000-0000000000f3', 'Foreign', 'f@foreign.example') RETURNING id AS foreign_contact \gset

SET crm.organization_id = :'org';
RESET ROLE;
SET ROLE crm_conv_admin;
INSERT INTO crm.app_user (name, email) VALUES ('Cora Rep', 'cora@conv.example') RETURNING id AS cora \gset
SET crm.user_id = :'cora';
SET ROLE crm_conv_rep;

-- ---------------------------------------------------------------------------
-- 1. Nothing exists yet: account (domain from the web site), contact and
-- opportunity are created; the lead's activities, notes and attachments
-- move to them; the lead is marked converted; lead.converted is emitted.
-- ---------------------------------------------------------------------------
INSERT INTO crm.lead (id, first_name, last_name, email, phone, company, title, website, industry, employee_count, lead_source, owner_id, status)
VALUES ('0c0e0000-0000-7000-8000-000000000001', 'Nina', 'New', 'nina@newco.example', '+14155550101', 'NewCo', 'CTO', 'https://www.NewCo.example/about', 'Software', 40, 'web', :'cora', 'qualified')
RETURNING id AS l1 \gset
INSERT INTO crm.activity (type, subject, lead_id) VALUES ('call', 'First call', :'l1') RETURNING id AS act1 \gset
INSERT INTO crm.note (body, lead_id) VALUES ('Keen on the API', :'l1') RETURNING id AS note1 \gset
INSERT INTO crm.attachment (file_name, size_bytes, storage_key, lead_id) VALUES ('brief.pdf', 10, 's3://b/1', :'l1');
SELECT converted_account_id AS a1, converted_contact_id AS c1, converted_opportunity_id AS o1, account_created, contact_created
  FROM crm.convert_lead(:'l1') \gset
SELECT :'account_created' AS account_created, :'contact_created' AS contact_created;
SELECT name, domain, website, industry, employee_count, owner_id = :'cora' AS owned_by_cora FROM crm.account WHERE id = :'a1';
SELECT account_id = :'a1' AS at_account, first_name, last_name, email, phone, title, lead_source FROM crm.contact WHERE id = :'c1';
SELECT o.name, o.account_id = :'a1' AS at_account, o.contact_id = :'c1' AS contact, s.name AS stage, p.is_default AS default_pipeline,
	   o.amount, o.currency, o.lead_source, o.type
  FROM crm.opportunity o JOIN crm.pipeline_stage s ON s.id = o.stage_id JOIN crm.pipeline p ON p.id = o.pipeline_id
 WHERE o.id = :'o1';
SELECT contact_id = :'c1' AS primary_contact, is_primary FROM crm.opportunity_contact WHERE opportunity_id = :'o1';
SELECT lead_id IS NULL AS off_lead, contact_id = :'c1' AS on_contact, account_id = :'a1' AS on_account, opportunity_id = :'o1' AS on_deal
  FROM crm.activity WHERE id = :'act1';
SELECT lead_id IS NULL AS off_lead, contact_id = :'c1' AS on_contact FROM crm.note WHERE id = :'note1';
SELECT lead_id IS NULL AS off_lead, contact_id = :'c1' AS on_contact FROM crm.attachment WHERE file_name = 'brief.pdf';
SELECT status, converted_at IS NOT NULL AS has_converted_at, converted_account_id = :'a1' AS account,
	   converted_contact_id = :'c1' AS contact, converted_opportunity_id = :'o1' AS opportunity
  FROM crm.lead WHERE id = :'l1';
SELECT event_type, entity, payload->>'account_id' = :'a1' AS account, payload->>'contact_id' = :'c1' AS contact,
	   payload->>'opportunity_id' = :'o1' AS opportunity, payload->'account_created' AS account_created,
	   payload->'contact_created' AS contact_created
  FROM crm.outbox WHERE entity_id = :'l1';

-- ---------------------------------------------------------------------------
-- 2. Converting twice is refused and changes nothing.
-- ---------------------------------------------------------------------------
SELECT * FROM crm.convert_lead(:'l1');
SELECT count(*) AS accounts, (SELECT count(*) FROM crm.opportunity) AS deals FROM crm.account;

-- ---------------------------------------------------------------------------
-- 3. An account with the lead's web-site domain exists: it is used; only
-- its empty fields are filled (its name and size stay, its industry and
-- owner were empty).  A contact with the lead's email exists: it is used,
-- its phone stays, its empty title is filled, it joins the account.  No
-- opportunity this time.
-- ---------------------------------------------------------------------------
INSERT INTO crm.account (name, domain, employee_count) VALUES ('Acme Holdings', 'acme.example', 5000) RETURNING id AS acme \gset
INSERT INTO crm.contact (first_name, last_name, email, phone) VALUES ('Al', 'Existing', 'AL@acme.example', '+14155550199') RETURNING id AS al \gset
INSERT INTO crm.lead (first_name, last_name, email, phone, company, title, website, industry, employee_count, owner_id)
VALUES ('Alan', 'Existing', 'al@acme.example', '+14155550102', 'Acme Inc', 'Buyer', 'acme.example', 'Retail', 12, :'cora')
RETURNING id AS l2 \gset
SELECT converted_account_id = :'acme' AS found_account, converted_contact_id = :'al' AS found_contact,
	   converted_opportunity_id, account_created, contact_created
  FROM crm.convert_lead(:'l2', create_opportunity => false);
SELECT name, domain, employee_count, industry, owner_id = :'cora' AS owner_filled FROM crm.account WHERE id = :'acme';
SELECT first_name, phone, title, account_id = :'acme' AS joined_account FROM crm.contact WHERE id = :'al';
SELECT status, converted_opportunity_id FROM crm.lead WHERE id = :'l2';

-- ---------------------------------------------------------------------------
-- 4. No web site: the email's domain finds the account.  A soft-deleted
-- account with that domain is not used.
-- ---------------------------------------------------------------------------
INSERT INTO crm.account (name, domain) VALUES ('Gone Ltd', 'gone.example') RETURNING id AS gone \gset
UPDATE crm.account SET deleted_at = now() WHERE id = :'gone';
INSERT INTO crm.account (name, domain) VALUES ('Beta LLC', 'beta.example') RETURNING id AS beta \gset
INSERT INTO crm.lead (last_name, email, company) VALUES ('Bea', 'bea@beta.example', 'Something Else') RETURNING id AS l3 \gset
SELECT converted_account_id = :'beta' AS by_email_domain, account_created, contact_created
  FROM crm.convert_lead(:'l3', opportunity_name => 'Beta expansion');
SELECT name FROM crm.opportunity WHERE id = (SELECT converted_opportunity_id FROM crm.lead WHERE id = :'l3');
INSERT INTO crm.lead (last_name, email) VALUES ('Gus', 'gus@gone.example') RETURNING id AS l4 \gset
SELECT converted_account_id = :'gone' AS used_deleted, account_created FROM crm.convert_lead(:'l4', create_opportunity => false);
-- (no company: the new account is named after the person, and gets no
-- domain from a mail address)
SELECT a.name, a.domain FROM crm.account a JOIN crm.lead l ON l.converted_account_id = a.id WHERE l.id = :'l4';

-- ---------------------------------------------------------------------------
-- 5. No domain match: the company name finds the account, case-insensitively.
-- ---------------------------------------------------------------------------
INSERT INTO crm.account (name) VALUES ('Gamma GmbH') RETURNING id AS gamma \gset
INSERT INTO crm.lead (last_name, company, website) VALUES ('Gerd', '  gamma gmbh ', 'http://gamma-new.example') RETURNING id AS l5 \gset
SELECT converted_account_id = :'gamma' AS by_name, account_created FROM crm.convert_lead(:'l5', create_opportunity => false);
-- its empty domain and web site are filled from the lead
SELECT domain, website FROM crm.account WHERE id = :'gamma';

-- ---------------------------------------------------------------------------
-- 6. The caller names the account and the contact: they are used as given,
-- whatever the lead's domain, name or email.  A named contact of an account
-- brings its account when none is named.
-- ---------------------------------------------------------------------------
INSERT INTO crm.account (name) VALUES ('Chosen') RETURNING id AS chosen \gset
INSERT INTO crm.contact (last_name, account_id) VALUES ('Picked', :'beta') RETURNING id AS picked \gset
INSERT INTO crm.lead (last_name, email, company, website) VALUES ('Dora', 'dora@acme.example', 'Acme Inc', 'acme.example') RETURNING id AS l6 \gset
SELECT converted_account_id = :'chosen' AS named_account, converted_contact_id = :'picked' AS named_contact, account_created, contact_created
  FROM crm.convert_lead(:'l6', account_id => :'chosen', contact_id => :'picked', create_opportunity => false);
-- the contact keeps its own account (a filled field)
SELECT account_id = :'beta' AS kept_account FROM crm.contact WHERE id = :'picked';
INSERT INTO crm.lead (last_name, company) VALUES ('Emil', 'Unrelated') RETURNING id AS l7 \gset
SELECT converted_account_id = :'beta' AS account_of_contact, account_created
  FROM crm.convert_lead(:'l7', contact_id => :'picked', create_opportunity => false);

-- ---------------------------------------------------------------------------
-- 7. Errors: each leaves everything as it was.
-- ---------------------------------------------------------------------------
INSERT INTO crm.lead (id, last_name, status, disqualification_reason) VALUES ('0c0e0000-0000-7000-8000-000000000d01', 'Nope', 'unqualified', 'no budget') RETURNING id AS ldq \gset
SELECT * FROM crm.convert_lead(:'ldq');
INSERT INTO crm.lead (id, last_name) VALUES ('0c0e0000-0000-7000-8000-000000000d02', 'Deleted') RETURNING id AS ldel \gset
UPDATE crm.lead SET deleted_at = now() WHERE id = :'ldel';
SELECT * FROM crm.convert_lead(:'ldel');
SELECT * FROM crm.convert_lead('00000000-0000-7000-8000-000000000099');
SELECT * FROM crm.convert_lead(NULL);
INSERT INTO crm.lead (last_name, company) VALUES ('Fine', 'Fine Co') RETURNING id AS lok \gset
SELECT * FROM crm.convert_lead(:'lok', create_opportunity => NULL);
SELECT * FROM crm.convert_lead(:'lok', opportunity_name => '  ');
SELECT * FROM crm.convert_lead(:'lok', create_opportunity => false, opportunity_name => 'Deal');
SELECT * FROM crm.convert_lead(:'lok', account_id => '00000000-0000-7000-8000-000000000098');
SELECT * FROM crm.convert_lead(:'lok', contact_id => '00000000-0000-7000-8000-000000000097');
-- another tenant's lead, account and contact cannot be used: row-level
-- security hides them, and the function filters by the tenant as well
SELECT * FROM crm.convert_lead(:'foreign_lead');
SELECT * FROM crm.convert_lead(:'lok', account_id => :'foreign_account');
SELECT * FROM crm.convert_lead(:'lok', contact_id => :'foreign_contact');
-- a read-only role cannot convert
RESET ROLE;
SET ROLE crm_conv_reader;
SELECT * FROM crm.convert_lead(:'lok');
RESET ROLE;
-- Atomic: the account and contact made before a later failure (no default
-- pipeline for the opportunity) are rolled back with it.
SET ROLE crm_conv_admin;
UPDATE crm.pipeline SET is_default = false;
SET ROLE crm_conv_rep;
SELECT count(*) AS accounts_before FROM crm.account \gset
SELECT * FROM crm.convert_lead(:'lok');
SELECT count(*) = :accounts_before AS no_account_left, (SELECT status FROM crm.lead WHERE id = :'lok') AS lead_status FROM crm.account;
SET ROLE crm_conv_admin;
UPDATE crm.pipeline SET is_default = true WHERE name = 'Sales';
SET ROLE crm_conv_rep;
SELECT account_created, contact_created, converted_opportunity_id IS NOT NULL AS deal FROM crm.convert_lead(:'lok');
-- nothing of the other tenant changed
SET crm.organization_id = :'other';
SELECT status FROM crm.lead WHERE id = :'foreign_lead';
SELECT count(*) AS other_accounts FROM crm.account;
SET crm.organization_id = :'org';

-- ---------------------------------------------------------------------------
-- 8. Derived data stayed consistent.
-- ---------------------------------------------------------------------------
RESET ROLE;
SELECT * FROM crm.verify() WHERE "check" IN ('pipeline_rollup', 'opportunity_history', 'live_references');
SELECT crm.revoke_access(r) FROM unnest(ARRAY['crm_conv_admin', 'crm_conv_rep', 'crm_conv_reader']::regrole[]) r;
DROP ROLE crm_conv_admin;
DROP ROLE crm_conv_rep;
DROP ROLE crm_conv_reader;
