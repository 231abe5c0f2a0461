-- Picklists: per-tenant lists of the values a descriptive column may take
-- (account type and rating, industry, lead source, contact method, activity
-- outcome, team role), seeded for every new organization, edited by the
-- tenant's admin.  A value outside the tenant's list is refused with 23514
-- naming the allowed values.  Also: a tenant admin edits its own
-- organization's settings, and nobody else's.
--
-- Runs as application roles (row-level security in force) except where a
-- superuser is needed on purpose (marked).

-- Setup (superuser): organization A through crm.create_organization, B by
-- a plain INSERT (both get the defaults); roles of every level for A, an
-- admin for B.
SELECT crm.create_organization('Picklists A') AS org_a \gset
INSERT INTO crm.organization (name) VALUES ('Picklists B') RETURNING id AS org_b \gset
CREATE ROLE pl_admin_a;
CREATE ROLE pl_user_a;
CREATE ROLE pl_reader_a;
CREATE ROLE pl_admin_b;
SELECT crm.grant_access('pl_admin_a', 'admin', ARRAY[:'org_a']::uuid[]);
SELECT crm.grant_access('pl_user_a', 'user', ARRAY[:'org_a']::uuid[]);
SELECT crm.grant_access('pl_reader_a', 'readonly', ARRAY[:'org_a']::uuid[]);
SELECT crm.grant_access('pl_admin_b', 'admin', ARRAY[:'org_b']::uuid[]);

-- try(sql): run a statement, print "ok" or its SQLSTATE, message, detail,
-- hint and the column and constraint the error names (ids shown as <id>).
CREATE PROCEDURE pg_temp.try(sql text)
LANGUAGE plpgsql AS $$
DECLARE
	st text; msg text; det text; hnt text; col text; con text;
BEGIN
	EXECUTE sql;
	RAISE NOTICE 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
							hnt = PG_EXCEPTION_HINT, col = COLUMN_NAME, con = CONSTRAINT_NAME;
	RAISE NOTICE '%', regexp_replace(st || ' ' || msg
		|| CASE WHEN det <> '' THEN E'\n  detail: ' || det ELSE '' END
		|| CASE WHEN hnt <> '' THEN E'\n  hint: ' || hnt ELSE '' END
		|| CASE WHEN col <> '' OR con <> '' THEN E'\n  column: ' || col || ', constraint: ' || con ELSE '' END,
		'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<id>', 'g');
END;
$$;

-- ---------------------------------------------------------------------------
-- The lists, the columns that use them, and the defaults every new
-- organization starts with (both ways of creating one).
-- ---------------------------------------------------------------------------
SELECT name, jsonb_array_length(defaults) AS defaults FROM crm.picklist ORDER BY name;
SELECT table_name, column_name, list FROM crm.picklist_column ORDER BY 1, 2;
SELECT v.list, count(*) FILTER (WHERE v.organization_id = :'org_a') AS org_a,
	   count(*) FILTER (WHERE v.organization_id = :'org_b') AS org_b,
	   count(*) FILTER (WHERE v.is_active AND v.label IS NOT NULL) AS active_labelled
  FROM crm.picklist_value v WHERE v.organization_id IN (:'org_a', :'org_b')
 GROUP BY v.list ORDER BY v.list;
SELECT value, label, position FROM crm.picklist_value
 WHERE organization_id = :'org_a' AND list = 'contact_method' ORDER BY position;

-- ---------------------------------------------------------------------------
-- Records take values from their tenant's lists (user level, tenant A).
-- ---------------------------------------------------------------------------
SET ROLE pl_user_a;
SET crm.organization_id = :'org_a';
INSERT INTO crm.account (id, name, type, rating, industry)
	VALUES ('0b1c0000-0000-7000-8000-0000000000a1', 'Initech', 'customer', 'hot', 'Software')
RETURNING type, rating, industry, type_list, rating_list, industry_list;
-- NULL is no value (the column's own NOT NULL decides); the default type is in the list.
INSERT INTO crm.account (id, name) VALUES ('0b1c0000-0000-7000-8000-0000000000a2', 'Initrode')
RETURNING type, rating, industry;
INSERT INTO crm.contact (id, last_name, lead_source, preferred_contact_method)
	VALUES ('0b1c0000-0000-7000-8000-0000000000c1', 'Smith', 'referral', 'sms')
RETURNING lead_source, preferred_contact_method;
INSERT INTO crm.lead (last_name, industry, lead_source) VALUES ('Doe', 'Retail', 'web')
RETURNING industry, lead_source;
INSERT INTO crm.activity (type, subject, outcome, contact_id)
	VALUES ('call', 'Intro call', 'left voicemail', '0b1c0000-0000-7000-8000-0000000000c1')
RETURNING outcome;

-- A value outside the list: 23514, the allowed values in display order, a
-- hint with the exact SQL an admin runs, the column and the foreign key.
CALL pg_temp.try($$INSERT INTO crm.account (name, industry) VALUES ('Umbrella', 'Widgets')$$);
CALL pg_temp.try($$INSERT INTO crm.account (name, type) VALUES ('Umbrella', 'vendor')$$);
CALL pg_temp.try($$INSERT INTO crm.account (name, rating) VALUES ('Umbrella', 'HOT')$$);
CALL pg_temp.try($$UPDATE crm.account SET rating = 'lukewarm' WHERE name = 'Initech'$$);
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, preferred_contact_method) VALUES ('Roe', 'pigeon')$$);
CALL pg_temp.try($$INSERT INTO crm.lead (last_name, lead_source) VALUES ('Roe', 'Web')$$);
CALL pg_temp.try($$UPDATE crm.activity SET outcome = 'sold' WHERE subject = 'Intro call'$$);
-- A long value is cut in the message, and the hint does not quote it.
CALL pg_temp.try($$INSERT INTO crm.account (name, industry) VALUES ('Long', repeat('x', 120))$$);
-- Nothing was written by the refused statements.
SELECT count(*) AS accounts FROM crm.account;

-- The application role cannot change the lists; a read-only role reads them.
CALL pg_temp.try($$INSERT INTO crm.picklist_value (list, value) VALUES ('industry', 'Widgets')$$);
CALL pg_temp.try($$UPDATE crm.picklist_value SET is_active = false WHERE list = 'industry'$$);
SET ROLE pl_reader_a;
SELECT count(*) AS industries_visible FROM crm.picklist_value WHERE list = 'industry';
CALL pg_temp.try($$DELETE FROM crm.picklist_value WHERE list = 'industry'$$);

-- ---------------------------------------------------------------------------
-- The tenant's admin edits the lists.
-- ---------------------------------------------------------------------------
SET ROLE pl_admin_a;
INSERT INTO crm.picklist_value (list, value, label, position) VALUES ('industry', 'Widgets', 'Widget making', 5)
RETURNING list, value, label, is_active;
-- an unknown list is refused by its foreign key
CALL pg_temp.try($$INSERT INTO crm.picklist_value (list, value) VALUES ('shoe_size', '42')$$);
-- a blank value is refused
CALL pg_temp.try($$INSERT INTO crm.picklist_value (list, value) VALUES ('industry', '  ')$$);
-- team roles are the admin's too (team members are definitions)
INSERT INTO crm.app_user (id, name, email) VALUES ('0b1c0000-0000-7000-8000-0000000000e1', 'Ann Admin', 'ann@a.example');
INSERT INTO crm.team (id, name) VALUES ('0b1c0000-0000-7000-8000-0000000000f1', 'Sales');
CALL pg_temp.try($$INSERT INTO crm.team_member (team_id, user_id, role)
	VALUES ('0b1c0000-0000-7000-8000-0000000000f1', '0b1c0000-0000-7000-8000-0000000000e1', 'captain')$$);
INSERT INTO crm.picklist_value (list, value) VALUES ('team_role', 'captain');
INSERT INTO crm.team_member (team_id, user_id, role)
	VALUES ('0b1c0000-0000-7000-8000-0000000000f1', '0b1c0000-0000-7000-8000-0000000000e1', 'captain')
RETURNING role;

-- The new value is usable at once, by tenant A only.
SET ROLE pl_user_a;
INSERT INTO crm.account (id, name, industry) VALUES ('0b1c0000-0000-7000-8000-0000000000a3', 'Acme Widgets', 'Widgets')
RETURNING industry;
SET ROLE pl_admin_b;
SET crm.organization_id = :'org_b';
CALL pg_temp.try($$INSERT INTO crm.account (name, industry) VALUES ('B Widgets', 'Widgets')$$);
-- B's admin neither sees A's values nor writes into A's list.
SELECT count(*) AS widgets_visible_to_b FROM crm.picklist_value WHERE value = 'Widgets';
CALL pg_temp.try(format($$INSERT INTO crm.picklist_value (organization_id, list, value) VALUES (%L, 'industry', 'Gadgets')$$, :'org_a'));
WITH u AS (UPDATE crm.picklist_value SET label = 'hijacked' WHERE organization_id = :'org_a' RETURNING 1)
SELECT count(*) AS a_values_relabelled_by_b FROM u;
WITH d AS (DELETE FROM crm.picklist_value WHERE organization_id = :'org_a' RETURNING 1)
SELECT count(*) AS a_values_deleted_by_b FROM d;
-- B may shorten its own list: a rating list without "cold".
DELETE FROM crm.picklist_value WHERE list = 'account_rating' AND value = 'cold';
CALL pg_temp.try($$INSERT INTO crm.account (name, rating) VALUES ('B Cold', 'cold')$$);

-- Retiring a value: records keep it, no record newly takes it.
SET ROLE pl_admin_a;
SET crm.organization_id = :'org_a';
UPDATE crm.picklist_value SET is_active = false WHERE list = 'industry' AND value = 'Software';
SET ROLE pl_user_a;
CALL pg_temp.try($$INSERT INTO crm.account (name, industry) VALUES ('Initech 2', 'Software')$$);
-- an update that leaves the value as it was, or does not touch it, is fine
UPDATE crm.account SET description = 'still software' WHERE id = '0b1c0000-0000-7000-8000-0000000000a1';
UPDATE crm.account SET industry = 'Software', rating = 'warm' WHERE id = '0b1c0000-0000-7000-8000-0000000000a1'
RETURNING industry, rating;
-- moving off it is fine, moving back is not
UPDATE crm.account SET industry = 'Widgets' WHERE id = '0b1c0000-0000-7000-8000-0000000000a1';
CALL pg_temp.try($$UPDATE crm.account SET industry = 'Software' WHERE id = '0b1c0000-0000-7000-8000-0000000000a1'$$);

-- A value records use cannot be deleted or renamed (the foreign key); an
-- unused one can.
SET ROLE pl_admin_a;
CALL pg_temp.try($$DELETE FROM crm.picklist_value WHERE list = 'industry' AND value = 'Widgets'$$);
CALL pg_temp.try($$UPDATE crm.picklist_value SET value = 'Gadgets' WHERE list = 'industry' AND value = 'Widgets'$$);
DELETE FROM crm.picklist_value WHERE list = 'industry' AND value = 'Agriculture' RETURNING value;
-- relabelling and reordering change no record
UPDATE crm.picklist_value SET label = 'Widget manufacturing', position = 1 WHERE list = 'industry' AND value = 'Widgets'
RETURNING label, position;

-- ---------------------------------------------------------------------------
-- The foreign key is the guarantee: with the checking trigger out of the way
-- (superuser, rolled back) a value outside the list still cannot be stored.
-- ---------------------------------------------------------------------------
RESET ROLE;
BEGIN;
ALTER TABLE crm.account DISABLE TRIGGER crm_12_picklists;
CALL pg_temp.try($$INSERT INTO crm.account (name, industry) VALUES ('Bypass', 'Widgetz')$$);
ROLLBACK;
-- Only a write that bypasses the foreign keys too (replication role
-- replica) can store one, and crm.verify() reports it.
SET session_replication_role = replica;
UPDATE crm.account SET rating = 'tepid' WHERE id = '0b1c0000-0000-7000-8000-0000000000a2';
RESET session_replication_role;
SELECT "check", entity, id, expected, actual FROM crm.verify() WHERE id = '0b1c0000-0000-7000-8000-0000000000a2';
UPDATE crm.account SET rating = NULL WHERE id = '0b1c0000-0000-7000-8000-0000000000a2';
SELECT count(*) AS drift_left FROM crm.check_picklists() WHERE id = '0b1c0000-0000-7000-8000-0000000000a2';

-- One statement writing rows of both tenants (row-level security bypassed:
-- superuser) checks each row against its own tenant's list.
CALL pg_temp.try(format($$INSERT INTO crm.account (organization_id, name, industry) VALUES
	(%L, 'A row', 'Widgets'), (%L, 'B row', 'Widgets')$$, :'org_a', :'org_b'));
CALL pg_temp.try(format($$INSERT INTO crm.account (organization_id, name, industry) VALUES
	(%L, 'A row', 'Widgets'), (%L, 'B row', 'Retail')$$, :'org_a', :'org_b'));

-- Restore mode: rows load as they are, and a restored organization gets
-- its values from the dump, not the defaults.
SET crm.restoring = on;
INSERT INTO crm.organization (name) VALUES ('Restored') RETURNING id AS org_r \gset
RESET crm.restoring;
SELECT count(*) AS seeded_in_restore_mode FROM crm.picklist_value WHERE organization_id = :'org_r';
DELETE FROM crm.organization WHERE id = :'org_r';

-- An organization that had records before the lists existed (as after an
-- upgrade) gets the values they hold, next to the defaults.
-- (superuser; replication role replica skips triggers and foreign keys)
SET session_replication_role = replica;
INSERT INTO crm.organization (name) VALUES ('Old') RETURNING id AS org_o \gset
INSERT INTO crm.account (organization_id, name, type, industry) VALUES (:'org_o', 'Old one', 'vendor', 'Widgetry');
RESET session_replication_role;
SELECT crm._picklist_seed(:'org_o');
SELECT list, value, label, position FROM crm.picklist_value
 WHERE organization_id = :'org_o' AND value IN ('vendor', 'Widgetry', 'prospect') ORDER BY list, value;

-- ---------------------------------------------------------------------------
-- Organization settings: the tenant's admin changes name, currency,
-- country and time zone of the current organization -- and nothing else.
-- ---------------------------------------------------------------------------
SET ROLE pl_admin_a;
SET crm.organization_id = :'org_a';
SELECT updated_at AS before FROM crm.organization \gset
UPDATE crm.organization
   SET name = 'Picklists A GmbH', default_currency = 'EUR', default_country = 'DE', default_timezone = 'Europe/Berlin'
RETURNING name, default_currency, default_country, default_timezone, updated_at > :'before' AS stamped;
-- invalid settings are refused by their checks
CALL pg_temp.try($$UPDATE crm.organization SET default_country = 'de'$$);
CALL pg_temp.try($$UPDATE crm.organization SET default_timezone = 'Mars/Olympus'$$);
-- other columns are not the tenant's to change
CALL pg_temp.try($$UPDATE crm.organization SET is_active = false$$);
CALL pg_temp.try($$UPDATE crm.organization SET slug = 'a'$$);
CALL pg_temp.try($$DELETE FROM crm.organization$$);
CALL pg_temp.try($$INSERT INTO crm.organization (name) VALUES ('Mine')$$);
-- another tenant's organization is out of reach: not visible, not changed
WITH u AS (UPDATE crm.organization SET name = 'taken over' WHERE id = :'org_b' RETURNING 1)
SELECT count(*) AS other_orgs_changed FROM u;
SELECT count(*) AS orgs_visible FROM crm.organization;
-- a user-level role cannot change the settings
SET ROLE pl_user_a;
CALL pg_temp.try($$UPDATE crm.organization SET name = 'by a user'$$);
-- B's admin changes B only
SET ROLE pl_admin_b;
SET crm.organization_id = :'org_b';
UPDATE crm.organization SET default_currency = 'GBP';
RESET ROLE;
SELECT name, default_currency, default_country, default_timezone, is_active
  FROM crm.organization WHERE id IN (:'org_a', :'org_b') ORDER BY name;

-- Clean up.
SELECT crm.revoke_access(r) FROM unnest(ARRAY['pl_admin_a', 'pl_user_a', 'pl_reader_a', 'pl_admin_b']::regrole[]) r;
DROP ROLE pl_admin_a, pl_user_a, pl_reader_a, pl_admin_b;
