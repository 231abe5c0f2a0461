-- Custom fields: tenant-defined fields in the custom_fields jsonb of account,
-- contact, lead and activity, validated by crm.trg_custom_fields against the
-- tenant's crm.custom_field definitions (rules: doc/custom_fields.md).
--
-- Everything runs as a non-superuser crm admin, so row-level security is in
-- force, except where a superuser is needed on purpose (marked).

-- Setup (superuser): two tenants and an admin role that may act for both.
CREATE ROLE cf_test_admin;
SELECT crm.grant_access('cf_test_admin', 'admin');
SELECT crm.create_organization('Custom fields A') AS org_a \gset
SELECT crm.create_organization('Custom fields B') AS org_b \gset

-- try(sql): run a statement, print "ok" or its SQLSTATE, message, detail
-- and hint (so every refusal shows its error code).
CREATE PROCEDURE pg_temp.try(sql text)
LANGUAGE plpgsql AS $$
DECLARE
	st text; msg text; det text; hnt text;
BEGIN
	EXECUTE sql;
	RAISE NOTICE 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
	RAISE NOTICE '%', st || ' ' || msg
		|| CASE WHEN det <> '' THEN E'\n  detail: ' || det ELSE '' END
		|| CASE WHEN hnt <> '' THEN E'\n  hint: ' || hnt ELSE '' END;
END;
$$;

SET ROLE cf_test_admin;
SET crm.organization_id = :'org_a';

-- ---------------------------------------------------------------------------
-- Definitions: one field of every type on contacts of tenant A.
-- ---------------------------------------------------------------------------
INSERT INTO crm.custom_field (entity, name, label, field_type, options) VALUES
	('contact', 'nickname', 'Nickname', 'text', '{"max_length": 10}'),
	('contact', 'score', 'Score', 'number', '{"min": 0, "max": 100}'),
	('contact', 'since', 'Customer since', 'date', NULL),
	('contact', 'vip', 'VIP', 'boolean', NULL),
	('contact', 'tier', 'Tier', 'picklist', '["gold", "silver", "bronze"]'),
	('contact', 'interests', 'Interests', 'multi_picklist', '["golf", "sailing", "wine"]'),
	('contact', 'homepage', 'Home page', 'url', NULL),
	('contact', 'alt_email', 'Other e-mail', 'email', NULL),
	('contact', 'fax', 'Fax', 'phone', NULL),
	('contact', 'budget', 'Budget', 'currency', '{"min": 0}');

-- Options are checked when a field is defined (22023).
CALL pg_temp.try($$INSERT INTO crm.custom_field (entity, name, label, field_type, options)
	VALUES ('contact', 'bad1', 'Bad', 'text', '{"maxlength": 5}')$$);
CALL pg_temp.try($$INSERT INTO crm.custom_field (entity, name, label, field_type, options)
	VALUES ('contact', 'bad2', 'Bad', 'number', '{"min": 10, "max": 1}')$$);
CALL pg_temp.try($$INSERT INTO crm.custom_field (entity, name, label, field_type, options)
	VALUES ('contact', 'bad3', 'Bad', 'picklist', '["a", "b", "a"]')$$);
CALL pg_temp.try($$INSERT INTO crm.custom_field (entity, name, label, field_type, options)
	VALUES ('contact', 'bad4', 'Bad', 'date', '{"max_length": 3}')$$);

-- ---------------------------------------------------------------------------
-- Valid values of every type.
-- ---------------------------------------------------------------------------
INSERT INTO crm.contact (id, last_name, custom_fields) VALUES
	('00000000-0000-7000-8000-00000000c001', 'Valid', '{
		"nickname": "Jo", "score": 99.5, "since": "2024-02-29", "vip": true,
		"tier": "gold", "interests": ["golf", "wine"],
		"homepage": "https://www.example.com/jo?x=1", "alt_email": "jo.doe+crm@example.co.uk",
		"fax": "+49 (30) 1234-5678", "budget": 1500.50}');
-- Edge values: max_length counts characters, not bytes (10 characters, 20
-- bytes); bounds are inclusive; the last day of a leap century; an empty
-- multi-selection; an IPv4 host with a port; a phone number of a country
-- with 4-digit numbers (Niue); a whole amount.
INSERT INTO crm.contact (id, last_name, custom_fields) VALUES
	('00000000-0000-7000-8000-00000000c002', 'Edges', '{
		"nickname": "ÄäÖöÜüßéèê", "score": 0, "since": "2000-02-29", "interests": [],
		"homepage": "http://192.168.1.20:8080", "fax": "+683 1234", "budget": 100}');
-- JSON null means "no value", and no field is required yet.
INSERT INTO crm.contact (id, last_name, custom_fields) VALUES
	('00000000-0000-7000-8000-00000000c003', 'Nulls', '{"nickname": null, "budget": null}'),
	('00000000-0000-7000-8000-00000000c004', 'Empty', '{}');
SELECT last_name, custom_fields FROM crm.contact ORDER BY id;

-- ---------------------------------------------------------------------------
-- Invalid values of every type: check_violation (23514), naming the field,
-- its type and the value given.
-- ---------------------------------------------------------------------------
-- text: not a string; too long
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '{"nickname": 42}')$$);
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '{"nickname": "Jonathan Jr."}')$$);
-- number: a numeric string is not a number; out of bounds
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '{"score": "12"}')$$);
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '{"score": 100.01}')$$);
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '{"score": -1e-9}')$$);
-- date: not a calendar date (1900 was no leap year); wrong form; year 0
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '{"since": "1900-02-29"}')$$);
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '{"since": "2024-04-31"}')$$);
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '{"since": "24-1-1"}')$$);
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '{"since": "0000-01-01"}')$$);
-- boolean: the string "true" is not a boolean
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '{"vip": "true"}')$$);
-- picklist: not an option (case matters); not a string
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '{"tier": "Gold"}')$$);
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '{"tier": ["gold"]}')$$);
-- multi_picklist: not an array; an unknown option; a duplicate; a non-string
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '{"interests": "golf"}')$$);
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '{"interests": ["golf", "chess"]}')$$);
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '{"interests": ["wine", "wine"]}')$$);
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '{"interests": ["golf", 1]}')$$);
-- url: another scheme; a space; no plausible host; credentials; too long
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '{"homepage": "ftp://example.com"}')$$);
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '{"homepage": "https://example.com/a b"}')$$);
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '{"homepage": "https://localhost/"}')$$);
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '{"homepage": "https://user:pw@example.com/"}')$$);
CALL pg_temp.try(format($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', %L)$$,
	jsonb_build_object('homepage', 'https://example.com/' || repeat('a', 2030))));
-- email: no @; two @; a bad domain; a dot at the end of the local part
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '{"alt_email": "jo.example.com"}')$$);
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '{"alt_email": "jo@doe@example.com"}')$$);
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '{"alt_email": "jo@example"}')$$);
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '{"alt_email": "jo.@example.com"}')$$);
-- phone (as crm.phone reads it without a default country): letters (two
-- are too few for a vanity number); a national number; too many digits for
-- the country code; a + inside
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '{"fax": "+1 800 FL 0100"}')$$);
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '{"fax": "123-456"}')$$);
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '{"fax": "+1234567890123456"}')$$);
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '{"fax": "030+1234567"}')$$);
-- currency: three decimal places; a numeric string; below the minimum.
-- Trailing zeros do not count as decimal places (12.500 is 12.5).
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '{"budget": 12.345}')$$);
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '{"budget": "12.34"}')$$);
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '{"budget": -0.01}')$$);
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '{"budget": 12.500}')$$);
-- A long offending value is cut in the message.
CALL pg_temp.try(format($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', %L)$$,
	jsonb_build_object('score', repeat('x', 200))));

-- ---------------------------------------------------------------------------
-- Unknown keys, non-object custom_fields, updates.
-- ---------------------------------------------------------------------------
-- An unknown key: the hint lists the fields of the entity ...
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '{"shoe_size": 44}')$$);
-- ... or says how to define one when the entity has none.
CALL pg_temp.try($$INSERT INTO crm.account (name, custom_fields) VALUES ('X', '{"tier": "gold"}')$$);
-- custom_fields must be an object (the trigger says so before the CHECK does).
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '["tier"]')$$);
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '"gold"')$$);
-- An UPDATE of custom_fields is validated the same way ...
CALL pg_temp.try($$UPDATE crm.contact SET custom_fields = custom_fields || '{"score": 101}'
	WHERE id = '00000000-0000-7000-8000-00000000c001'$$);
-- ... and a good one goes through.
UPDATE crm.contact SET custom_fields = custom_fields || '{"score": 42}'
 WHERE id = '00000000-0000-7000-8000-00000000c001';
SELECT custom_fields -> 'score' AS score FROM crm.contact WHERE id = '00000000-0000-7000-8000-00000000c001';

-- ---------------------------------------------------------------------------
-- An error caught in a savepoint leaves the transaction's earlier work intact.
-- ---------------------------------------------------------------------------
BEGIN;
INSERT INTO crm.contact (id, last_name, custom_fields)
	VALUES ('00000000-0000-7000-8000-00000000c010', 'Before savepoint', '{"vip": false}');
SAVEPOINT s1;
INSERT INTO crm.contact (last_name, custom_fields) VALUES ('Bad', '{"vip": "no"}');
ROLLBACK TO SAVEPOINT s1;
INSERT INTO crm.contact (id, last_name, custom_fields)
	VALUES ('00000000-0000-7000-8000-00000000c011', 'After savepoint', '{"vip": true}');
COMMIT;
SELECT last_name, custom_fields FROM crm.contact
 WHERE id IN ('00000000-0000-7000-8000-00000000c010', '00000000-0000-7000-8000-00000000c011') ORDER BY id;

-- ---------------------------------------------------------------------------
-- Required fields.
-- ---------------------------------------------------------------------------
-- Leads of tenant A get a required field while no lead exists: allowed.
INSERT INTO crm.custom_field (entity, name, label, field_type, is_required, options)
	VALUES ('lead', 'region', 'Region', 'picklist', true, '["emea", "apac", "amer"]');
-- A lead without it, or with null, is refused; with a value it is fine.
CALL pg_temp.try($$INSERT INTO crm.lead (last_name) VALUES ('No region')$$);
CALL pg_temp.try($$INSERT INTO crm.lead (last_name, custom_fields) VALUES ('Null region', '{"region": null}')$$);
INSERT INTO crm.lead (id, last_name, custom_fields)
	VALUES ('00000000-0000-7000-8000-00000000e001', 'Has region', '{"region": "emea"}');
-- Removing it again in an update is refused too.
CALL pg_temp.try($$UPDATE crm.lead SET custom_fields = custom_fields - 'region'$$);
-- An update that does not touch custom_fields is not re-validated.
UPDATE crm.lead SET status = 'contacted' WHERE id = '00000000-0000-7000-8000-00000000e001';

-- ---------------------------------------------------------------------------
-- Definition changes re-check stored values.
-- ---------------------------------------------------------------------------
-- score holds 42 (c001) and 0 (c002): raising the minimum above 0 is refused,
-- with the count and an example ...
CALL pg_temp.try($$UPDATE crm.custom_field SET options = '{"min": 1, "max": 100}'
	WHERE entity = 'contact' AND name = 'score'$$);
-- ... a looser bound is allowed, and so is a change to currency (both
-- values have at most 2 decimals) ...
UPDATE crm.custom_field SET options = '{"min": -10, "max": 1000}' WHERE entity = 'contact' AND name = 'score';
UPDATE crm.custom_field SET field_type = 'currency' WHERE entity = 'contact' AND name = 'score';
-- ... but not to text: the stored values are numbers.
CALL pg_temp.try($$UPDATE crm.custom_field SET field_type = 'text', options = NULL
	WHERE entity = 'contact' AND name = 'score'$$);
-- Taking an option away that a record uses is refused; one nobody uses is fine.
CALL pg_temp.try($$UPDATE crm.custom_field SET options = '["silver", "bronze"]'
	WHERE entity = 'contact' AND name = 'tier'$$);
UPDATE crm.custom_field SET options = '["gold", "silver"]' WHERE entity = 'contact' AND name = 'tier';
-- Making nickname required is refused: some contacts lack it (c003 has null).
CALL pg_temp.try($$UPDATE crm.custom_field SET is_required = true
	WHERE entity = 'contact' AND name = 'nickname'$$);
-- After filling it in everywhere, it is allowed; new contacts then need it.
UPDATE crm.contact SET custom_fields = custom_fields || '{"nickname": "n/a"}'
 WHERE NOT (custom_fields ? 'nickname') OR custom_fields -> 'nickname' = 'null';
UPDATE crm.custom_field SET is_required = true WHERE entity = 'contact' AND name = 'nickname';
CALL pg_temp.try($$INSERT INTO crm.contact (last_name) VALUES ('No nickname')$$);
-- A label change needs no re-check.
UPDATE crm.custom_field SET label = 'Nick name' WHERE entity = 'contact' AND name = 'nickname';
-- Renaming a field that holds values, or moving it to another entity, is
-- refused (55000); an unused field can be renamed.
CALL pg_temp.try($$UPDATE crm.custom_field SET name = 'nick' WHERE entity = 'contact' AND name = 'nickname'$$);
CALL pg_temp.try($$UPDATE crm.custom_field SET entity = 'lead' WHERE entity = 'contact' AND name = 'vip'$$);
INSERT INTO crm.custom_field (entity, name, label, field_type) VALUES ('contact', 'spare', 'Spare', 'text');
UPDATE crm.custom_field SET name = 'spare_text' WHERE entity = 'contact' AND name = 'spare';
SELECT name FROM crm.custom_field WHERE entity = 'contact' AND name LIKE 'spare%';
-- A definition change needs READ COMMITTED (25000).
BEGIN ISOLATION LEVEL REPEATABLE READ;
CALL pg_temp.try($$UPDATE crm.custom_field SET is_required = false WHERE entity = 'contact' AND name = 'nickname'$$);
COMMIT;

-- ---------------------------------------------------------------------------
-- Deleting a definition removes the key from the records (and leaves every
-- other field alone).
-- ---------------------------------------------------------------------------
SELECT count(*) AS contacts_with_vip FROM crm.contact WHERE custom_fields ? 'vip';
DELETE FROM crm.custom_field WHERE entity = 'contact' AND name = 'vip';
SELECT count(*) AS contacts_with_vip FROM crm.contact WHERE custom_fields ? 'vip';
SELECT custom_fields FROM crm.contact WHERE id = '00000000-0000-7000-8000-00000000c011';
-- The key is unknown from now on.
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '{"nickname": "x", "vip": true}')$$);

-- ---------------------------------------------------------------------------
-- Tenants are separate: B's definitions never apply to A, nor A's to B.
-- ---------------------------------------------------------------------------
SET crm.organization_id = :'org_b';
-- In B, "score" on contacts is a text field and nothing is required.
INSERT INTO crm.custom_field (entity, name, label, field_type) VALUES ('contact', 'score', 'Score', 'text');
INSERT INTO crm.contact (id, last_name, custom_fields)
	VALUES ('00000000-0000-7000-8000-00000000b001', 'In B', '{"score": "A+"}');
-- A's fields are unknown in B.
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '{"tier": "gold"}')$$);
-- B cannot see A's definitions at all.
SELECT entity, name, field_type FROM crm.custom_field ORDER BY entity, name;
-- And in A, "score" is still a currency and nickname required.
SET crm.organization_id = :'org_a';
CALL pg_temp.try($$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('X', '{"nickname": "x", "score": "A+"}')$$);

-- One statement writing rows of both tenants (possible only with row-level
-- security bypassed: superuser) validates each row against its own tenant.
RESET ROLE;
CALL pg_temp.try(format($$INSERT INTO crm.contact (organization_id, last_name, custom_fields) VALUES
	(%L, 'A row', '{"nickname": "a", "score": 1.5}'),
	(%L, 'B row', '{"score": "B-"}')$$, :'org_a', :'org_b'));
CALL pg_temp.try(format($$INSERT INTO crm.contact (organization_id, last_name, custom_fields) VALUES
	(%L, 'A row', '{"nickname": "a", "score": 1.5}'),
	(%L, 'B row', '{"score": 1.5}')$$, :'org_a', :'org_b'));

-- ---------------------------------------------------------------------------
-- Entities: the tables of crm.table_registry that have a custom_fields column
-- (has_custom_fields), written 'contact' or 'crm.contact' alike.  Anything
-- else is refused first, with 22023 and the list of entities -- never an
-- internal error about a missing table or column.
-- ---------------------------------------------------------------------------
SELECT table_name FROM crm.table_registry WHERE has_custom_fields ORDER BY 1;
SET ROLE cf_test_admin;
SET crm.organization_id = :'org_b';
-- not a crm table (yet); a crm table without custom_fields; not crm's
CALL pg_temp.try($$INSERT INTO crm.custom_field (entity, name, label, field_type)
	VALUES ('invoice', 'region', 'Region', 'text')$$);
CALL pg_temp.try($$INSERT INTO crm.custom_field (entity, name, label, field_type)
	VALUES ('note', 'region', 'Region', 'text')$$);
CALL pg_temp.try($$INSERT INTO crm.custom_field (entity, name, label, field_type)
	VALUES ('pg_catalog.pg_class', 'region', 'Region', 'text')$$);
CALL pg_temp.try($$INSERT INTO crm.custom_field (entity, name, label, field_type)
	VALUES ('crm.contact.x', 'region', 'Region', 'text')$$);
-- Every spelling of a crm table is stored as its table name.
INSERT INTO crm.custom_field (entity, name, label, field_type) VALUES
	('crm.account', 'region', 'Region', 'text'),
	('"crm"."activity"', 'region', 'Region', 'text'),
	('CRM.Lead', 'region', 'Region', 'text')
RETURNING entity, name;
-- so the unique key sees through the spelling ...
CALL pg_temp.try($$INSERT INTO crm.custom_field (entity, name, label, field_type)
	VALUES ('account', 'region', 'Region', 'text')$$);
-- ... and moving a field is checked the same way.
CALL pg_temp.try($$UPDATE crm.custom_field SET entity = 'note' WHERE name = 'region' AND entity = 'lead'$$);
UPDATE crm.custom_field SET entity = 'crm.contact' WHERE name = 'region' AND entity = 'lead' RETURNING entity;
-- The SQL functions take the same spellings, and check the entity first.
SELECT crm.custom_fields_error('crm.account', :'org_b', '{"region": 1}')
		 = crm.custom_fields_error('account', :'org_b', '{"region": 1}') AS same_answer,
	   left(crm.custom_fields_error('"crm"."account"', :'org_b', '{"region": 1}'), 55) AS error,
	   crm.custom_fields_error('account', :'org_b', '{"region": "north"}') IS NULL AS valid;
CALL pg_temp.try($$SELECT crm.custom_fields_error('invoice', crm.current_org(), '{}')$$);
CALL pg_temp.try($$SELECT crm.custom_fields_error('crm.note', crm.current_org(), '{}')$$);
DELETE FROM crm.custom_field WHERE name = 'region';

-- A table that lands later gets custom fields by being registered with a
-- custom_fields column (crm._setup_tenant_table does this in install and
-- update scripts; done by hand here, as superuser, and rolled back).
RESET ROLE;
BEGIN;
CREATE TABLE crm.cf_widget (id uuid NOT NULL DEFAULT crm.uuid_v7(), organization_id uuid NOT NULL,
							custom_fields jsonb NOT NULL DEFAULT '{}');
INSERT INTO crm.table_registry (table_name, is_audited, entity_label, has_custom_fields)
	VALUES ('cf_widget', false, 'widget', true);
CREATE TRIGGER crm_20_custom_fields BEFORE INSERT OR UPDATE OF custom_fields ON crm.cf_widget
	FOR EACH ROW EXECUTE FUNCTION crm.trg_custom_fields('cf_widget');
INSERT INTO crm.custom_field (organization_id, entity, name, label, field_type, options)
	VALUES (:'org_b', 'crm.cf_widget', 'size', 'Size', 'number', '{"min": 1}') RETURNING entity;
CALL pg_temp.try(format($$INSERT INTO crm.cf_widget (organization_id, custom_fields) VALUES (%L, '{"size": 0}')$$, :'org_b'));
CALL pg_temp.try(format($$INSERT INTO crm.cf_widget (organization_id, custom_fields) VALUES (%L, '{"size": 2}')$$, :'org_b'));
CALL pg_temp.try($$INSERT INTO crm.custom_field (entity, name, label, field_type) VALUES ('nothing', 'x', 'X', 'text')$$);
ROLLBACK;
SET crm.organization_id = :'org_a';

-- ---------------------------------------------------------------------------
-- crm.verify(): empty on good data; reports values written behind the
-- trigger's back (superuser with session_replication_role = replica).
-- ---------------------------------------------------------------------------
-- crm.verify() runs as superuser here and is filtered to this test's
-- tenants (other tests share the database); crm.check_custom_fields(), the
-- check it runs, is also shown as the tenant admin (row-level security
-- limits it to the tenant).
RESET ROLE;
CREATE VIEW pg_temp.my_verify AS
	SELECT v.* FROM crm.verify() v
	 WHERE EXISTS (SELECT 1 FROM crm.contact t WHERE t.id = v.id AND t.organization_id IN (:'org_a', :'org_b'))
		OR EXISTS (SELECT 1 FROM crm.lead t WHERE t.id = v.id AND t.organization_id IN (:'org_a', :'org_b'))
		OR EXISTS (SELECT 1 FROM crm.account t WHERE t.id = v.id AND t.organization_id IN (:'org_a', :'org_b'))
		OR EXISTS (SELECT 1 FROM crm.activity t WHERE t.id = v.id AND t.organization_id IN (:'org_a', :'org_b'));
SELECT * FROM pg_temp.my_verify;
SET ROLE cf_test_admin;
SELECT * FROM crm.check_custom_fields();
RESET ROLE;
SET session_replication_role = replica;
UPDATE crm.contact SET custom_fields = custom_fields || '{"tier": "platinum"}'
 WHERE id = '00000000-0000-7000-8000-00000000c001';
UPDATE crm.contact SET custom_fields = custom_fields || '{"ghost": 1}'
 WHERE id = '00000000-0000-7000-8000-00000000c002';
UPDATE crm.contact SET custom_fields = custom_fields - 'nickname'
 WHERE id = '00000000-0000-7000-8000-00000000c003';
RESET session_replication_role;
SELECT * FROM pg_temp.my_verify ORDER BY id;
SET ROLE cf_test_admin;
SELECT * FROM crm.check_custom_fields() ORDER BY id;
-- Tenant B is healthy.
SET crm.organization_id = :'org_b';
SELECT * FROM crm.check_custom_fields();

-- The SQL-callable validator is the trigger's.
SELECT crm.custom_field_value_valid('date', NULL, '"2024-02-29"') AS leap_day,
	   crm.custom_field_value_valid('date', NULL, '"2023-02-29"') AS no_leap_day,
	   crm.custom_field_value_error('currency', '{"max": 10}', '10.01') AS currency_error,
	   crm.custom_field_value_error('phone', NULL, 'null') AS null_is_no_value;
CALL pg_temp.try($$SELECT crm.custom_field_value_error('colour', NULL, '"red"')$$);

-- Restore mode skips validation (crm.restoring, superuser only).
RESET ROLE;
SET crm.restoring = on;
SET crm.organization_id = :'org_a';
INSERT INTO crm.contact (id, last_name, custom_fields)
	VALUES ('00000000-0000-7000-8000-00000000c099', 'Restored', '{"anything": "goes"}');
RESET crm.restoring;
DELETE FROM crm.contact WHERE id = '00000000-0000-7000-8000-00000000c099';
