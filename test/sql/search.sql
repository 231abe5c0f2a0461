-- Full-text search: crm.search(query, lim) ranks contacts, accounts, leads,
-- activities and notes of the current organization; every word must begin a
-- word of the record; accents fold; phone numbers match in any format.
-- Runs under row-level security and still uses the GIN indexes.
\set org_a '5a000000-0000-7000-8000-00000000000a'
\set org_b '5a000000-0000-7000-8000-00000000000b'
INSERT INTO crm.organization (id, name) VALUES (:'org_a', 'Search A'), (:'org_b', 'Search B');
DROP ROLE IF EXISTS crm_search_user;
CREATE ROLE crm_search_user;
SELECT crm.grant_access('crm_search_user', 'user');
SET ROLE crm_search_user;

SET crm.organization_id = :'org_a';
INSERT INTO crm.account (id, name, domain, industry) VALUES
	('5a000000-0000-7000-8000-0000000000a1', 'Initech', 'initech.example', 'Software'),
	('5a000000-0000-7000-8000-0000000000a2', 'Initrode', 'initrode.example', 'Hardware');
INSERT INTO crm.contact (first_name, last_name, email, title, account_id) VALUES
	('Ann', 'Smith', 'ann.smith@initech.example', 'CTO', '5a000000-0000-7000-8000-0000000000a1'),
	('Annabel', 'Smithers', 'annabel@globex.example', 'Buyer', NULL),
	('Bob', 'Annand', 'bob@initrode.example', 'Engineer', '5a000000-0000-7000-8000-0000000000a2'),
	('Zoe', 'O''Brien-Smith', NULL, NULL, NULL);
INSERT INTO crm.lead (first_name, last_name, company, email) VALUES ('Ann', 'Lee', 'Smithfield Foods', 'ann@smithfield.example');
INSERT INTO crm.contact (first_name, last_name, deleted_at) VALUES ('Ann', 'Deleted', now());
SET crm.organization_id = :'org_b';
INSERT INTO crm.contact (first_name, last_name, email) VALUES ('Ann', 'Smith', 'ann@tenant-b.example');
SET crm.organization_id = :'org_a';

-- Every word must match a word, the last one as a prefix: "ann" finds Ann,
-- Annabel and Annand; "ann smi" only Anns with a word starting "smi" too (the
-- lead's company counts), not Annabel Smithers: "ann" is a whole word there.
SELECT entity, title, subtitle FROM crm.search('ann') ORDER BY rank DESC, entity, title;
SELECT entity, title, subtitle FROM crm.search('ann smi') ORDER BY rank DESC, entity, title;
-- A company name finds the account and the contacts whose email domain it is.
SELECT entity, title FROM crm.search('initech') ORDER BY rank DESC, entity, title;
-- An email address, a domain, a hyphenated or quoted name.
SELECT entity, title FROM crm.search('ann.smith@initech.example');
SELECT entity, title FROM crm.search('initrode.example') ORDER BY entity, title;
SELECT entity, title FROM crm.search('o''brien');
SELECT entity, title FROM crm.search('brien-smi');
-- Query syntax in the input is text, never tsquery operators; nothing to
-- search for gives nothing.
SELECT count(*) FROM crm.search('ann & !bob | (smith)');
SELECT count(*) FROM crm.search('  &|!  ');
SELECT crm.search_query('Ann O''Brien !x') AS query;
-- The limit caps the result (and each entity's share of it).
SELECT count(*) FROM crm.search('ann', 2);
-- Soft-deleted records and other tenants never appear.
SELECT count(*) AS deleted_or_foreign FROM crm.search('ann') WHERE title IN ('Ann Deleted') OR subtitle LIKE '%tenant-b%';

-- Accents fold both ways: "muller" and "Müller" find Müller, "Lodz" finds
-- Łódź, "strasse" finds Straße.
INSERT INTO crm.contact (first_name, last_name, phone, mobile) VALUES
	('Jürgen', 'Müller', '+49 30 1234567', NULL),
	('Agnieszka', 'Łódź-Straße', NULL, '+1 415 555 0199');
INSERT INTO crm.account (name, phone) VALUES ('Crème Brûlée Ltd', '+44 20 7946 0958');
SELECT entity, title FROM crm.search('muller');
SELECT entity, title FROM crm.search('MÜLLER jurg');
SELECT entity, title FROM crm.search('lodz');
SELECT entity, title FROM crm.search('strasse');
SELECT entity, title FROM crm.search('creme brulee');
-- A phone number typed in any format: international, national with trunk
-- prefix, with punctuation, partially (prefix).
SELECT entity, title FROM crm.search('+1 415 555 0199');
SELECT entity, title FROM crm.search('(415) 555-0199');
SELECT entity, title FROM crm.search('415.555');
SELECT entity, title FROM crm.search('020 7946 0958');
SELECT entity, title FROM crm.search('+44 20 7946 0958');
SELECT entity, title FROM crm.search('030 1234567');
SELECT crm.search_query('(415) 555-0199') AS phone_query, crm.search_query('Müller') AS name_query;
-- Activities and notes are searchable (subject and body; notes' body).
INSERT INTO crm.activity (type, subject, body) VALUES
	('call', 'Renewal call', 'Discussed the Zürich office move and the quote');
INSERT INTO crm.note (body, account_id) VALUES
	('Procurement wants the quote by Friday', '5a000000-0000-7000-8000-0000000000a1');
SELECT entity, title FROM crm.search('zurich') ORDER BY entity;
SELECT entity, title FROM crm.search('quote') ORDER BY entity, title;
-- ... but not another tenant's, nor deleted ones.
SET crm.organization_id = :'org_b';
INSERT INTO crm.note (body, contact_id) SELECT 'B tenant quote', id FROM crm.contact LIMIT 1;
SET crm.organization_id = :'org_a';
UPDATE crm.activity SET deleted_at = now() WHERE subject = 'Renewal call';
SELECT entity, title FROM crm.search('quote') ORDER BY entity, title;

-- The GIN index serves searches under row-level security: plain @@ is not
-- leakproof, so crm.search and the index use crm.@@.
RESET ROLE;
INSERT INTO crm.contact (organization_id, first_name, last_name)
SELECT :'org_a', 'Filler' || g, 'Person' || g FROM generate_series(1, 3000) g;
ANALYZE crm.contact;
SET ROLE crm_search_user;
EXPLAIN (COSTS OFF) SELECT id FROM crm.contact WHERE search_vector OPERATOR(crm.@@) crm.search_query('ann smi');
-- The built-in operator cannot use the index for a role under RLS (whether
-- the planner then scans the table or the primary key depends on the
-- statistics; what matters is that the search index is not used):
CREATE FUNCTION pg_temp.plan_uses(q text, idx text) RETURNS boolean LANGUAGE plpgsql AS $f$
DECLARE l text;
BEGIN
	FOR l IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
		IF l LIKE '%' || idx || '%' THEN RETURN true; END IF;
	END LOOP;
	RETURN false;
END $f$;
SELECT pg_temp.plan_uses($$SELECT id FROM crm.contact WHERE search_vector @@ crm.search_query('ann smi')$$,
						 'contact_search_idx') AS builtin_uses_index,
	   pg_temp.plan_uses($$SELECT id FROM crm.contact WHERE search_vector OPERATOR(crm.@@) crm.search_query('ann smi')$$,
						 'contact_search_idx') AS crm_operator_uses_index;
SELECT count(*) FROM crm.contact WHERE search_vector OPERATOR(crm.@@) crm.search_query('ann smi');
DROP FUNCTION pg_temp.plan_uses(text, text);
RESET ROLE;
RESET crm.organization_id;
SELECT crm.revoke_access('crm_search_user');
DROP ROLE crm_search_user;
