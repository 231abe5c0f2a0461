-- Duplicate detection whatever the database encoding: run by
-- test/scripts/encodings.sh in a UTF8, a LATIN1 and a SQL_ASCII database
-- (client encoding UTF8), whose outputs must be identical.  Only characters
-- that LATIN1 can hold; empty strings everywhere (an empty value is what
-- the conversion functions hand back unconverted).
\pset null '(null)'
SET client_min_messages = warning;

-- Similarity measures, empty strings included.
SELECT a, b, round(crm.jaro_winkler(a, b)::numeric, 3) AS jw,
       crm.edit_distance(a, b) AS ed, round(crm.name_similarity(a, b)::numeric, 3) AS name_sim
  FROM (VALUES ('MARTHA', 'MARHTA'), ('Müller', 'MULLER'), ('Straße', 'strasse'),
               ('José', 'Jose'), ('Ærø', 'aero'), ('', ''), ('abc', ''), ('', 'Zoë')) AS v(a, b);
-- Keys (the key functions convert their result back to the database
-- encoding), with empty and accented names.
SELECT f, l, crm.name_key(f, l) AS key, crm.name_key(l, f) AS swapped
  FROM (VALUES ('John', 'Smith'), ('José', 'Muñoz'), ('Zoë', 'Bergström'), ('', ''),
               ('', 'Smith'), ('Søren', ''), (NULL, 'Ødegård')) AS v(f, l);
SELECT n, crm.company_norm(n) AS norm, crm.company_key(n) AS key
  FROM (VALUES ('Société Générale S.A.'), ('Müller GmbH & Co. KG'), (''), ('   '), ('Ça & Là SARL')) AS v(n);
SELECT e, crm.email_key(e) AS key, crm.email_domain_key(e) AS domain
  FROM (VALUES (' Ann.Lee@Example.COM '), (''), ('no-at')) AS v(e);
SELECT p, crm.phone_key(p) AS key FROM (VALUES ('+1 (415) 555-0100'), (''), ('n/a')) AS v(p);
-- Pair scores and their reasons.
SELECT round(crm.person_score('María', 'García', '', ARRAY['34912345678'],
                              'Maria', 'Garcia', NULL, ARRAY['34912345678'])::numeric, 3) AS score,
       crm.person_reasons('María', 'García', '', ARRAY['34912345678'],
                          'Maria', 'Garcia', NULL, ARRAY['34912345678']) AS reasons;
SELECT round(crm.account_score('Müller GmbH', '', '', 'Mueller AG', '', NULL)::numeric, 3) AS score,
       crm.account_reasons('Société Générale', 'sg.fr', '', 'Societe Generale S.A.', 'sg.fr', '') AS reasons;

-- find_duplicates and duplicate_pairs on a small tenant.
\set org '0e0e0e0e-0000-7000-8000-00000000000a'
INSERT INTO crm.organization (id, name) VALUES (:'org', 'Encodings');
SET crm.organization_id = :'org';
INSERT INTO crm.contact (id, first_name, last_name, email, phone) VALUES
	('00000000-0000-7000-8000-00000000e001', 'María', 'García', 'maria@example.test', '+34 912 345 678'),
	('00000000-0000-7000-8000-00000000e002', 'Maria', 'Garcia', NULL, '+34 912 345 678'),
	('00000000-0000-7000-8000-00000000e003', 'Søren', 'Ødegård', 'soren@example.test', NULL),
	('00000000-0000-7000-8000-00000000e004', 'Soren', 'Odegard', 'SOREN@example.test', NULL),
	('00000000-0000-7000-8000-00000000e005', 'Zoë', 'Bergström', NULL, NULL),
	('00000000-0000-7000-8000-00000000e006', 'Zoe', 'Bergstrom', NULL, NULL),
	('00000000-0000-7000-8000-00000000e007', '', 'Ødegård', NULL, NULL);
INSERT INTO crm.account (id, name) VALUES
	('00000000-0000-7000-8000-00000000ea01', 'Société Générale S.A.'),
	('00000000-0000-7000-8000-00000000ea02', 'Societe Generale'),
	('00000000-0000-7000-8000-00000000ea03', 'Ça & Là SARL');
SELECT right(candidate_id::text, 4) AS candidate, round(score::numeric, 3) AS score, reasons
  FROM crm.find_duplicates('crm.contact', '00000000-0000-7000-8000-00000000e001');
SELECT right(id_a::text, 4) AS a, right(id_b::text, 4) AS b, round(score::numeric, 3) AS score, reasons
  FROM crm.duplicate_pairs('crm.contact', 0.6) ORDER BY 1, 2;
SELECT right(id_a::text, 4) AS a, right(id_b::text, 4) AS b, round(score::numeric, 3) AS score, reasons
  FROM crm.duplicate_pairs('crm.account', 0.6) ORDER BY 1, 2;
-- The stored keys agree with the keys computed now (index expressions).
SELECT right(id::text, 4) AS id, crm.name_key(first_name, last_name) AS key
  FROM crm.contact WHERE organization_id = :'org' ORDER BY id;
