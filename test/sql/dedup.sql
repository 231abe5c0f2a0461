-- Duplicate detection: the similarity functions, crm.find_duplicates(),
-- crm.duplicate_pairs(), duplicate rules on insert, tenant isolation, plans
-- that use only the blocking indexes, and precision/recall on a generated
-- data set with known duplicates.
SET client_min_messages = warning;

-- ---------------------------------------------------------------------------
-- 1. Similarity functions (pure C).  Classic Jaro-Winkler values; case and
-- Latin accents are ignored; code points, not bytes, are compared.
-- ---------------------------------------------------------------------------
SELECT a, b, round(crm.jaro_winkler(a, b)::numeric, 3) AS jw,
       crm.edit_distance(a, b) AS ed, round(crm.name_similarity(a, b)::numeric, 3) AS name_sim
  FROM (VALUES ('MARTHA', 'MARHTA'), ('DWAYNE', 'DUANE'), ('DIXON', 'DICKSONX'),
               ('kitten', 'sitting'), ('John Smith', 'JOHN SMITH'), ('Jon Smith', 'John Smith'),
               ('Jane Smith', 'John Smith'), ('Müller', 'MULLER'), ('Straße', 'strasse'),
               ('日本語', '日本'), ('', ''), ('abc', '')) AS v(a, b);
-- Symmetric, and NULL in, NULL out (STRICT).
SELECT crm.jaro_winkler('DUANE', 'DWAYNE') = crm.jaro_winkler('DWAYNE', 'DUANE') AS symmetric,
       crm.jaro_winkler(NULL, 'x') IS NULL AS strict;
-- Inputs are compared on their first 255 code points: cost is bounded.
SELECT crm.edit_distance(repeat('a', 10000), repeat('a', 300) || 'b') AS cut_at_255,
       crm.edit_distance(repeat('x', 10000), '') AS at_most_255;
-- Blocking keys: phonetic family name + the first two symbols of the given
-- name's code (John, Jon, Jane, Jim: J5; an initial alone: J), and the key
-- for swapped names; company keys ignore legal forms.
SELECT f, l, crm.name_key(f, l) AS key, crm.name_key(l, f) AS swapped_key
  FROM (VALUES ('John', 'Smith'), ('Jon', 'Smyth'), ('J.', 'Schmidt'), ('Smith', 'John'),
               ('Catherine', 'Meyer'), ('Katherine', 'Maier'), ('', 'Smith'), ('Иван', 'Петров')) AS v(f, l);
SELECT n, crm.company_norm(n) AS norm, crm.company_key(n) AS key
  FROM (VALUES ('Acme Inc.'), ('ACME, Incorporated'), ('The Acme Corp'), ('Acme Widgets Ltd'),
               ('Société Générale S.A.'), ('Müller GmbH & Co. KG')) AS v(n);
SELECT e, crm.email_key(e) AS key
  FROM (VALUES (' Ann.Lee@Example.COM '), ('ann.lee@example.com'), ('')) AS v(e);
SELECT p, crm.phone_key(p) AS key
  FROM (VALUES ('+1 (415) 555-0100'), ('+1.415.555.0100'), ('+14155550100;ext=12'),
               ('+1 415 555 0100 ext. 12'), ('555-01'), ('n/a')) AS v(p);

-- ---------------------------------------------------------------------------
-- Tenants and roles (unique names: pg_regress tests share one database).
-- ---------------------------------------------------------------------------
\set org_a '0d0d0d0d-0000-7000-8000-00000000000a'
\set org_b '0d0d0d0d-0000-7000-8000-00000000000b'
\set org_g '0d0d0d0d-0000-7000-8000-00000000000c'
INSERT INTO crm.organization (id, name) VALUES
	(:'org_a', 'Dedup A'), (:'org_b', 'Dedup B'), (:'org_g', 'Dedup generated');
DROP ROLE IF EXISTS crm_dedup_admin;
DROP ROLE IF EXISTS crm_dedup_user;
CREATE ROLE crm_dedup_admin;
CREATE ROLE crm_dedup_user;
SELECT crm.grant_access('crm_dedup_admin', 'admin', ARRAY[:'org_a', :'org_b', :'org_g']::uuid[]);
SELECT crm.grant_access('crm_dedup_user', 'user', ARRAY[:'org_a', :'org_b', :'org_g']::uuid[]);

-- ---------------------------------------------------------------------------
-- 2. find_duplicates on a small hand-made tenant A (fixed ids, so results
-- are readable: ...01 is John Smith).
-- ---------------------------------------------------------------------------
SET ROLE crm_dedup_user;
SET crm.organization_id = :'org_a';
INSERT INTO crm.contact (id, first_name, last_name, email, phone, mobile) VALUES
	('00000000-0000-7000-8000-00000000c001', 'John', 'Smith', 'john.smith@acme.test', '+1 (415) 555-0100', NULL),
	-- the same person in capitals: same email
	('00000000-0000-7000-8000-00000000c002', 'JOHN', 'SMITH', 'JOHN.SMITH@ACME.TEST', NULL, NULL),
	-- a typo and a differently formatted phone, no email
	('00000000-0000-7000-8000-00000000c003', 'Jon', 'Smyth', NULL, '+1.415.555.0100', NULL),
	-- first and last name swapped, nothing else
	('00000000-0000-7000-8000-00000000c004', 'Smith', 'John', NULL, NULL, NULL),
	-- the phone as the mobile number of another record, name with a typo
	('00000000-0000-7000-8000-00000000c005', 'John', 'Smiht', 'jsmith@home.test', NULL, '+14155550100'),
	-- a colleague: same domain, similar name, different email and phone
	('00000000-0000-7000-8000-00000000c006', 'Jane', 'Smith', 'jane.smith@acme.test', '+1 (415) 555-0199', NULL),
	-- a namesake elsewhere: same name, different email and phone
	('00000000-0000-7000-8000-00000000c007', 'John', 'Smith', 'jsmith@other.test', '+44 20 7946 0000', NULL),
	-- unrelated people
	('00000000-0000-7000-8000-00000000c008', 'María', 'García', 'maria@example.test', '+34 912 345 678', NULL),
	('00000000-0000-7000-8000-00000000c009', 'Maria', 'Garcia', NULL, '+34 912 345 678', NULL),
	('00000000-0000-7000-8000-00000000c010', 'Wei', 'Zhang', 'wei@example.test', NULL, NULL);
-- A soft-deleted copy of John Smith: never a candidate.
INSERT INTO crm.contact (id, first_name, last_name, email, deleted_at) VALUES
	('00000000-0000-7000-8000-00000000c0de', 'John', 'Smith', 'john.smith@acme.test', now());

-- John Smith's duplicates (default threshold 0.75): the capitalised copy
-- (same email), the typo with the reformatted phone, the mobile match, and
-- the swapped name (a name alone: 0.8 at most); not the colleague, not the
-- namesake (different email and phone), not the deleted.
SELECT right(candidate_id::text, 4) AS candidate, round(score::numeric, 3) AS score, reasons
  FROM crm.find_duplicates('crm.contact', '00000000-0000-7000-8000-00000000c001');
-- A lower threshold brings in the namesake (same name, but different email
-- and phone: 0.8 * 0.8 * 0.8); the colleague Jane Smith stays below even that.
SELECT right(candidate_id::text, 4) AS candidate, round(score::numeric, 3) AS score, reasons
  FROM crm.find_duplicates('crm.contact', '00000000-0000-7000-8000-00000000c001', 0.5);
-- A higher threshold keeps only the strongest.
SELECT right(candidate_id::text, 4) AS candidate, round(score::numeric, 3) AS score
  FROM crm.find_duplicates('crm.contact', '00000000-0000-7000-8000-00000000c001', 0.99);
-- Accents and a shared phone: María García / Maria Garcia.
SELECT right(candidate_id::text, 4) AS candidate, round(score::numeric, 3) AS score, reasons
  FROM crm.find_duplicates('crm.contact', '00000000-0000-7000-8000-00000000c008');
-- Someone without any duplicate.
SELECT count(*) AS wei_duplicates FROM crm.find_duplicates('crm.contact', '00000000-0000-7000-8000-00000000c010');

-- All pairs of the tenant in one pass, each once (id_a < id_b).
SELECT right(id_a::text, 4) AS a, right(id_b::text, 4) AS b, round(score::numeric, 3) AS score, reasons
  FROM crm.duplicate_pairs('crm.contact') ORDER BY id_a, id_b;
SELECT bool_and(id_a < id_b) AS ordered, count(*) = count(DISTINCT (id_a, id_b)) AS each_once
  FROM crm.duplicate_pairs('crm.contact', 0.5);

-- Leads work the same way.
INSERT INTO crm.lead (id, first_name, last_name, email, phone, company) VALUES
	('00000000-0000-7000-8000-0000000001e1', 'Anna', 'Kowalski', 'anna@kowal.test', '+48 22 123 45 67', 'Kowal'),
	('00000000-0000-7000-8000-0000000001e2', 'Ana', 'Kowalsky', 'ANNA@KOWAL.TEST', NULL, 'Kowal sp.'),
	('00000000-0000-7000-8000-0000000001e3', 'Anna', 'Nowak', 'anna@nowak.test', NULL, 'Nowak');
SELECT right(candidate_id::text, 4) AS candidate, round(score::numeric, 3) AS score, reasons
  FROM crm.find_duplicates('crm.lead', '00000000-0000-7000-8000-0000000001e1');
-- Accounts: same domain, same phone, similar normalised names.
INSERT INTO crm.account (id, name, domain, phone) VALUES
	('00000000-0000-7000-8000-00000000a001', 'Acme Inc.', 'acme.test', '+1 (415) 555-0000'),
	('00000000-0000-7000-8000-00000000a002', 'ACME Incorporated', NULL, NULL),
	('00000000-0000-7000-8000-00000000a003', 'Acme Holding', 'acme.test', NULL),
	('00000000-0000-7000-8000-00000000a004', 'Globex', NULL, '+1.415.555.0000'),
	('00000000-0000-7000-8000-00000000a005', 'Initech', 'initech.test', NULL);
SELECT right(candidate_id::text, 4) AS candidate, round(score::numeric, 3) AS score, reasons
  FROM crm.find_duplicates('crm.account', '00000000-0000-7000-8000-00000000a001', 0.5);
SELECT right(id_a::text, 4) AS a, right(id_b::text, 4) AS b, round(score::numeric, 3) AS score, reasons
  FROM crm.duplicate_pairs('crm.account') ORDER BY id_a, id_b;

-- Errors: a table without duplicate detection, a record that does not exist
-- (or is another tenant's), a threshold out of range.
\set VERBOSITY terse
SELECT * FROM crm.find_duplicates('crm.note', '00000000-0000-7000-8000-00000000c001');
SELECT * FROM crm.find_duplicates('crm.contact', '00000000-0000-7000-8000-0000000000ff');
SELECT * FROM crm.find_duplicates('crm.contact', '00000000-0000-7000-8000-00000000c001', 1.5);
SELECT * FROM crm.duplicate_pairs('crm.contact', -1);
\set VERBOSITY default
RESET ROLE;

-- ---------------------------------------------------------------------------
-- 3. Another tenant's near-identical rows are never candidates.
-- ---------------------------------------------------------------------------
SET ROLE crm_dedup_user;
SET crm.organization_id = :'org_b';
INSERT INTO crm.contact (id, first_name, last_name, email, phone) VALUES
	('00000000-0000-7000-8000-00000000b001', 'John', 'Smith', 'john.smith@acme.test', '+1 (415) 555-0100');
-- In B, John Smith has no duplicate although A has several.
SELECT count(*) AS b_candidates FROM crm.find_duplicates('crm.contact', '00000000-0000-7000-8000-00000000b001', 0.1);
SELECT count(*) AS b_pairs FROM crm.duplicate_pairs('crm.contact', 0.1);
-- A's record cannot even be named from B.
\set VERBOSITY terse
SELECT * FROM crm.find_duplicates('crm.contact', '00000000-0000-7000-8000-00000000c001');
\set VERBOSITY default
SET crm.organization_id = :'org_a';
SELECT count(*) FILTER (WHERE candidate_id = '00000000-0000-7000-8000-00000000b001') AS b_row_in_a
  FROM crm.find_duplicates('crm.contact', '00000000-0000-7000-8000-00000000c001', 0.1);
SELECT count(*) FILTER (WHERE '00000000-0000-7000-8000-00000000b001' IN (id_a, id_b)) AS b_row_in_a_pairs
  FROM crm.duplicate_pairs('crm.contact', 0.1);
RESET ROLE;
-- Even the superuser (who bypasses row-level security) gets only the current
-- tenant's candidates: the functions filter by organization explicitly.
SET crm.organization_id = :'org_a';
SELECT count(*) FILTER (WHERE candidate_id = '00000000-0000-7000-8000-00000000b001') AS b_row_for_superuser
  FROM crm.find_duplicates('crm.contact', '00000000-0000-7000-8000-00000000c001', 0.1);
RESET crm.organization_id;

-- ---------------------------------------------------------------------------
-- 3b. Block limit: a key value shared by more than crm.dedup_block_limit()
-- live records (here a shared mailbox) proposes no candidates, in
-- find_duplicates and duplicate_pairs alike; at the limit it still does.
-- ---------------------------------------------------------------------------
SELECT crm.dedup_block_limit() AS block_limit;
SET ROLE crm_dedup_user;
SET crm.organization_id = :'org_b';
-- 1,001 people with one email address and unrelated (random letter) names.
INSERT INTO crm.contact (id, first_name, last_name, email)
SELECT ('00000000-0000-7000-8000-' || lpad(i::text, 12, '0'))::uuid,
       translate(left(md5(i::text), 8), '0123456789', 'ghijklmnop'),
       translate(right(md5(i::text), 8), '0123456789', 'ghijklmnop'), 'info@big.test'
  FROM generate_series(1, 1001) i;
-- 1,001 > 1,000: the shared email is ignored (it would score 0.81 each).
SELECT count(*) AS over_limit_candidates
  FROM crm.find_duplicates('crm.contact', '00000000-0000-7000-8000-000000000001', 0.5);
-- duplicate_pairs agrees: no pair with ...0001, and only the pairs proposed
-- by similar name keys (which then also count the shared email) instead of
-- all 500,500.
SELECT count(*) FILTER (WHERE '00000000-0000-7000-8000-000000000001' IN (id_a, id_b)) AS over_limit_pairs_0001,
       count(*) < 1000 AS name_key_pairs_only
  FROM crm.duplicate_pairs('crm.contact', 0.5);
-- One of them soft-deleted: 1,000 live records share it, the key counts.
UPDATE crm.contact SET deleted_at = now() WHERE id = '00000000-0000-7000-8000-000000001001';
SELECT count(*) AS at_limit_candidates, min(score) = max(score) AS same_score, min(reasons) AS reasons
  FROM crm.find_duplicates('crm.contact', '00000000-0000-7000-8000-000000000001', 0.5);
-- Clean up (hard delete as the superuser), so later counts in B are as before.
RESET ROLE;
DELETE FROM crm.contact WHERE organization_id = :'org_b' AND email::text = 'info@big.test';
RESET crm.organization_id;

-- ---------------------------------------------------------------------------
-- 4. Rules on insert: block, alert, allow.
-- ---------------------------------------------------------------------------
-- Rules are configuration: a user-level role cannot write them.
SET ROLE crm_dedup_user;
SET crm.organization_id = :'org_a';
\set VERBOSITY terse
INSERT INTO crm.duplicate_rule (entity, action) VALUES ('contact', 'block');
\set VERBOSITY default
RESET ROLE;
SET ROLE crm_dedup_admin;
SET crm.organization_id = :'org_a';
INSERT INTO crm.duplicate_rule (entity, action, threshold) VALUES ('contact', 'block', 0.9);
-- One rule per entity (in either spelling: 'crm.contact' is stored as
-- 'contact'); only entities with duplicate detection, known actions and
-- thresholds.
\set VERBOSITY terse
INSERT INTO crm.duplicate_rule (entity, action) VALUES ('crm.contact', 'alert');
INSERT INTO crm.duplicate_rule (entity, action) VALUES ('note', 'alert');
INSERT INTO crm.duplicate_rule (entity, action) VALUES ('lead', 'warn');
INSERT INTO crm.duplicate_rule (entity, threshold) VALUES ('lead', 0);
\set VERBOSITY default
RESET ROLE;

SET ROLE crm_dedup_user;
SET crm.organization_id = :'org_a';
-- block: the insert fails with unique_violation, naming the existing record
-- and the reasons.
INSERT INTO crm.contact (id, first_name, last_name, email) VALUES
	('00000000-0000-7000-8000-00000000c101', 'Johnny', 'Smith', 'John.Smith@acme.test');
SELECT count(*) AS not_inserted FROM crm.contact WHERE id = '00000000-0000-7000-8000-00000000c101';
-- Below the rule's threshold the insert goes through.
INSERT INTO crm.contact (id, first_name, last_name, email) VALUES
	('00000000-0000-7000-8000-00000000c102', 'Joan', 'Smithers', 'joan@smithers.test');
-- The SQLSTATE is 23505, so applications can catch it like a unique key.
DO $$
BEGIN
	INSERT INTO crm.contact (first_name, last_name, phone) VALUES ('J', 'Smith', '+14155550100');
EXCEPTION WHEN unique_violation THEN
	RAISE WARNING 'caught unique_violation (%)', SQLSTATE;
END;
$$;
RESET ROLE;

-- alert: the insert goes through and an outbox event lists the candidates.
SET ROLE crm_dedup_admin;
SET crm.organization_id = :'org_a';
UPDATE crm.duplicate_rule SET action = 'alert' WHERE entity = 'contact';
RESET ROLE;
SET ROLE crm_dedup_user;
SET crm.organization_id = :'org_a';
INSERT INTO crm.contact (id, first_name, last_name, email) VALUES
	('00000000-0000-7000-8000-00000000c103', 'Johnny', 'Smith', 'John.Smith@acme.test');
SELECT event_type, entity, right(entity_id::text, 4) AS entity_id, payload -> 'threshold' AS threshold,
       jsonb_array_length(payload -> 'candidates') AS candidates,
       (SELECT jsonb_agg(jsonb_build_object('id', right(c ->> 'id', 4), 'score', c -> 'score', 'reasons', c -> 'reasons'))
          FROM jsonb_array_elements(payload -> 'candidates') c) AS detail
  FROM crm.outbox WHERE event_type = 'contact.duplicate_alert';
-- No duplicate, no event.
INSERT INTO crm.contact (first_name, last_name) VALUES ('Ingrid', 'Bergström');
SELECT count(*) AS alerts FROM crm.outbox WHERE event_type = 'contact.duplicate_alert';
RESET ROLE;

-- allow, and an inactive rule: nothing happens.
SET ROLE crm_dedup_admin;
SET crm.organization_id = :'org_a';
UPDATE crm.duplicate_rule SET action = 'allow' WHERE entity = 'contact';
INSERT INTO crm.contact (first_name, last_name, email) VALUES ('John', 'Smith', 'john.smith@acme.test');
UPDATE crm.duplicate_rule SET action = 'block', is_active = false WHERE entity = 'contact';
INSERT INTO crm.contact (first_name, last_name, email) VALUES ('John', 'Smith', 'john.smith@acme.test');
SELECT count(*) AS alerts FROM crm.outbox WHERE event_type = 'contact.duplicate_alert';
UPDATE crm.duplicate_rule SET is_active = true WHERE entity = 'contact';
-- Rules are per entity and per tenant: leads and accounts have none in A,
-- and tenant B has none at all.
INSERT INTO crm.lead (first_name, last_name, email) VALUES ('Anna', 'Kowalski', 'anna@kowal.test');
INSERT INTO crm.duplicate_rule (entity, action) VALUES ('account', 'block');
\set VERBOSITY terse
INSERT INTO crm.account (name, domain) VALUES ('Acme', 'acme.test');
\set VERBOSITY default
SET crm.organization_id = :'org_b';
INSERT INTO crm.contact (first_name, last_name, email) VALUES ('John', 'Smith', 'john.smith@acme.test');
RESET ROLE;

-- Restore mode: rows are loaded as they are, no rule applies (A's contact
-- rule is block and active again here, yet the insert goes through).
SET crm.restoring = on;
SET ROLE crm_dedup_user;
SET crm.organization_id = :'org_a';
INSERT INTO crm.contact (first_name, last_name, email) VALUES ('John', 'Smith', 'john.smith@acme.test');
RESET ROLE;
RESET crm.restoring;

-- ---------------------------------------------------------------------------
-- 4b. A name alone never blocks.  Wei Zhang (c010) has an email and no
-- phone; a namesake arrives with a phone and no email: nothing contradicts
-- the name and nothing confirms it.  Before the name weight this scored 1.0
-- and the block rule (threshold 0.9) refused the namesake; now 0.8.
-- ---------------------------------------------------------------------------
SET ROLE crm_dedup_user;
SET crm.organization_id = :'org_a';
INSERT INTO crm.contact (id, first_name, last_name, phone) VALUES
	('00000000-0000-7000-8000-00000000c201', 'Wei', 'Zhang', '+1 (212) 555-0142');
-- Still a likely duplicate to review (default threshold 0.75).
SELECT right(candidate_id::text, 4) AS candidate, round(score::numeric, 3) AS score, reasons
  FROM crm.find_duplicates('crm.contact', '00000000-0000-7000-8000-00000000c201');
-- Two copies of one person in one statement (same phone, name in capitals)
-- see each other and are refused.
\set VERBOSITY terse
INSERT INTO crm.contact (id, first_name, last_name, phone) VALUES
	('00000000-0000-7000-8000-00000000c211', 'Zed', 'Multi', '+1 (212) 555-0177'),
	('00000000-0000-7000-8000-00000000c212', 'ZED', 'MULTI', '+12125550177');
\set VERBOSITY default
RESET ROLE;
-- A block rule must ask for more than a name: a threshold above 0.8.
SET ROLE crm_dedup_admin;
SET crm.organization_id = :'org_a';
\set VERBOSITY terse
UPDATE crm.duplicate_rule SET threshold = 0.8 WHERE entity = 'contact';
\set VERBOSITY default
-- An alert rule may go lower (here for leads), to review name-only matches.
INSERT INTO crm.duplicate_rule (entity, action, threshold) VALUES ('lead', 'alert', 0.75);
DELETE FROM crm.duplicate_rule WHERE entity = 'lead';

-- ---------------------------------------------------------------------------
-- 4c. Exact-key rules: "unique email per tenant", next to the similarity
-- rule (match_key NULL).  One rule per key; email and phone for persons,
-- domain and phone for accounts.
-- ---------------------------------------------------------------------------
INSERT INTO crm.duplicate_rule (entity, action, match_key) VALUES ('contact', 'block', 'email');
\set VERBOSITY terse
INSERT INTO crm.duplicate_rule (entity, action, match_key) VALUES ('contact', 'alert', 'email');
INSERT INTO crm.duplicate_rule (entity, action, match_key) VALUES ('contact', 'block', 'domain');
\set VERBOSITY default
SELECT entity, action, threshold, match_key FROM crm.duplicate_rule ORDER BY entity, match_key NULLS FIRST;
RESET ROLE;
SET ROLE crm_dedup_user;
SET crm.organization_id = :'org_a';
-- Someone else with Wei's address, in capitals: refused as by a unique key
-- (the similarity rule alone would let it pass: 0.95 * 0.85 < 0.9).
INSERT INTO crm.contact (id, first_name, last_name, email) VALUES
	('00000000-0000-7000-8000-00000000c231', 'Mei', 'Lin', 'WEI@example.test');
-- Two new records of one statement with the same address: refused.
\set VERBOSITY terse
INSERT INTO crm.contact (id, first_name, last_name, email) VALUES
	('00000000-0000-7000-8000-00000000c221', 'Ada', 'One', 'ada@twice.test'),
	('00000000-0000-7000-8000-00000000c222', 'Bea', 'Two', 'ADA@twice.test');
-- An update that gives a record a taken address is refused too ...
UPDATE crm.contact SET email = 'wei@example.test' WHERE id = '00000000-0000-7000-8000-00000000c201';
-- ... and so is reviving a soft-deleted record whose address is taken
-- (c0de has John Smith's address, which c001 holds).
UPDATE crm.contact SET deleted_at = NULL WHERE id = '00000000-0000-7000-8000-00000000c0de';
\set VERBOSITY default
-- An update that leaves the address alone is not checked (c001 and c002
-- shared theirs before the rule existed; the rule applies to what is
-- written from now on).
UPDATE crm.contact SET title = 'CEO' WHERE id = '00000000-0000-7000-8000-00000000c002';
-- A new address is fine.
UPDATE crm.contact SET email = 'wei.zhang@home.test' WHERE id = '00000000-0000-7000-8000-00000000c201';
RESET ROLE;
-- Phone: any of a record's numbers against any of the other's; alert
-- instead of block writes an event naming the key.
SET ROLE crm_dedup_admin;
SET crm.organization_id = :'org_a';
INSERT INTO crm.duplicate_rule (entity, action, match_key) VALUES ('contact', 'alert', 'phone');
RESET ROLE;
SET ROLE crm_dedup_user;
SET crm.organization_id = :'org_a';
INSERT INTO crm.contact (id, first_name, last_name, mobile) VALUES
	('00000000-0000-7000-8000-00000000c202', 'Pat', 'Other', '+1 415 555 0100');
SELECT right(entity_id::text, 4) AS entity_id, payload -> 'match_key' AS match_key,
       (SELECT jsonb_agg(right(c ->> 'id', 4) ORDER BY c ->> 'id') FROM jsonb_array_elements(payload -> 'candidates') c) AS candidates,
       payload -> 'candidates' -> 0 -> 'reasons' AS reasons
  FROM crm.outbox WHERE event_type = 'contact.duplicate_alert' AND payload ? 'match_key';
-- Accounts: a domain is unique.
RESET ROLE;
SET ROLE crm_dedup_admin;
SET crm.organization_id = :'org_a';
INSERT INTO crm.duplicate_rule (entity, action, match_key) VALUES ('account', 'block', 'domain');
INSERT INTO crm.account (id, name, domain) VALUES ('00000000-0000-7000-8000-00000000a101', 'Initrode', 'initech.test');
-- Leave tenant A's contact rules as they were: similarity block only.
DELETE FROM crm.duplicate_rule WHERE match_key IS NOT NULL;
RESET ROLE;

-- ---------------------------------------------------------------------------
-- 5. A generated tenant: 2,000 persons and 300 injected duplicates (fixed
-- seed).  Duplicates have one of: names in other case, a typo in the first
-- or family name, first and family name swapped, a typo and other case;
-- independently their email is kept (half of those in capitals), dropped, or
-- replaced by another address, and their phone is dropped or reformatted.
-- Names come from 60 given names and 300 family names (30 stems x 10
-- endings: Bergson / Bergsen / Bergström are different people), so there
-- are namesakes and near-namesakes who are not duplicates.
-- ---------------------------------------------------------------------------
SET ROLE crm_dedup_user;
SET crm.organization_id = :'org_g';
-- One random edit of s: substitution, deletion, insertion or transposition.
CREATE FUNCTION pg_temp.typo(s text, r1 float8, r2 float8, r3 float8) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE op
		WHEN 0 THEN overlay(s PLACING chr(97 + floor(r3 * 26)::int) FROM pos FOR 1)
		WHEN 1 THEN CASE WHEN length(s) > 2 THEN overlay(s PLACING '' FROM pos FOR 1)
						 ELSE s || chr(97 + floor(r3 * 26)::int) END
		WHEN 2 THEN overlay(s PLACING chr(97 + floor(r3 * 26)::int) FROM pos FOR 0)
		ELSE CASE WHEN pos < length(s) THEN overlay(s PLACING substr(s, pos + 1, 1) || substr(s, pos, 1) FROM pos FOR 2)
				  ELSE overlay(s PLACING chr(97 + floor(r3 * 26)::int) FROM pos FOR 1) END
	END
	FROM (SELECT 1 + floor(r1 * length(s))::int AS pos, floor(r2 * 4)::int AS op) p
$$;
SELECT setseed(0.42);
CREATE TEMP TABLE person AS
SELECT i, first, last, r_email, r_phone,
       -- ten digits; area code and exchange start with 2-9, the area code
       -- does not end in 11 (a valid North American number, as crm.phone
       -- checks)
       translate(left(n, 1), '01', '89') || replace(substr(n, 2, 2), '11', '12')
       || translate(substr(n, 4, 1), '01', '89') || substr(n, 5) AS num,
       domain
  FROM (SELECT i,
       (ARRAY['James','Mary','John','Patricia','Robert','Jennifer','Michael','Linda','William','Elizabeth',
              'David','Barbara','Richard','Susan','Joseph','Jessica','Thomas','Sarah','Charles','Karen',
              'Daniel','Nancy','Matthew','Lisa','Anthony','Betty','Mark','Margaret','Paul','Sandra',
              'José','María','François','Zoë','Björn','Łukasz','Søren','Ingrid','Hans','Greta',
              'Wei','Mei','Hiroshi','Yuki','Raj','Priya','Ahmed','Fatima','Ivan','Olga',
              'Luca','Giulia','Pedro','Ana','Kofi','Amara','Sean','Niamh','Lars','Astrid'])[1 + floor(random() * 60)::int] AS first,
       (ARRAY['Ander','Berg','Carl','Dunn','Eck','Fisch','Gart','Holm','Ivan','Jans',
              'Kell','Lind','Mart','Nord','Ols','Pet','Quinn','Ros','Sand','Thom',
              'Ul','Vik','Wal','Young','Zimm','Brenn','Cald','Dahl','Fern','Gold'])[1 + floor(random() * 30)::int]
       || (ARRAY['', 'son', 'er', 'mann', 'ley', 'ström', 'ez', 'ini', 'ski', 'sen'])[1 + floor(random() * 10)::int] AS last,
       random() AS r_email, random() AS r_phone,
       (1000000000 + floor(random() * 8999999999)::bigint)::text AS n,
       (ARRAY['gmail.test', 'acme.test', 'globex.test', 'mail.test', 'initech.test'])[1 + floor(random() * 5)::int] AS domain
  FROM generate_series(1, 2000) i
        OFFSET 0) s;
-- 300 distinct persons get a duplicate each.
CREATE TEMP TABLE dup AS
SELECT p.*, floor(random() * 4)::int AS kind, random() AS r1, random() AS r2, random() AS r3, random() AS r4,
       random() AS r5, random() AS r6
  FROM (SELECT * FROM person ORDER BY random() LIMIT 300) p;
-- Ids say who is who: originals ...-9000-<person>, duplicates ...-a000-<person>.
INSERT INTO crm.contact (id, first_name, last_name, email, phone)
SELECT ('00000000-0000-7000-9000-' || lpad(i::text, 12, '0'))::uuid, first, last,
       CASE WHEN r_email >= 0.1 THEN translate(lower(first || '.' || last), 'áéíóúüöäñçøåłëß', 'aeiouuoancoalea') || '.' || i || '@' || domain END,
       CASE WHEN r_phone >= 0.1 THEN format('+1 (%s) %s-%s', substr(num::text, 1, 3), substr(num::text, 4, 3), substr(num::text, 7, 4)) END
  FROM person ORDER BY i;
INSERT INTO crm.contact (id, first_name, last_name, email, phone, description)
SELECT ('00000000-0000-7000-a000-' || lpad(d.i::text, 12, '0'))::uuid,
       CASE d.kind WHEN 0 THEN upper(o.first_name)
                   WHEN 1 THEN CASE WHEN d.r1 < 0.5 THEN pg_temp.typo(o.first_name, d.r2, d.r3, d.r4) ELSE o.first_name END
                   WHEN 2 THEN o.last_name
                   ELSE lower(CASE WHEN d.r1 < 0.5 THEN pg_temp.typo(o.first_name, d.r2, d.r3, d.r4) ELSE o.first_name END) END,
       CASE d.kind WHEN 0 THEN upper(o.last_name)
                   WHEN 1 THEN CASE WHEN d.r1 >= 0.5 THEN pg_temp.typo(o.last_name, d.r2, d.r3, d.r4) ELSE o.last_name END
                   WHEN 2 THEN o.first_name
                   ELSE lower(CASE WHEN d.r1 >= 0.5 THEN pg_temp.typo(o.last_name, d.r2, d.r3, d.r4) ELSE o.last_name END) END,
       CASE WHEN d.r5 < 0.25 THEN upper(o.email::text)
            WHEN d.r5 < 0.5 THEN o.email::text
            WHEN d.r5 < 0.8 THEN NULL
            ELSE 'p' || d.i || '@private.test' END,
       CASE WHEN d.r6 < 0.3 OR o.phone IS NULL THEN NULL
            WHEN d.r6 < 0.65 THEN '+1' || d.num::text
            ELSE format('+1.%s.%s.%s', substr(d.num::text, 1, 3), substr(d.num::text, 4, 3), substr(d.num::text, 7, 4)) END,
       (ARRAY['case', 'typo', 'swapped', 'typo+case'])[d.kind + 1]
  FROM dup d JOIN crm.contact o ON o.organization_id = :'org_g' AND o.id = ('00000000-0000-7000-9000-' || lpad(d.i::text, 12, '0'))::uuid
 ORDER BY d.i;
RESET ROLE;
ANALYZE crm.contact;
SET ROLE crm_dedup_user;
SET crm.organization_id = :'org_g';
SELECT count(*) AS contacts, count(*) FILTER (WHERE id::text LIKE '%-a000-%') AS injected FROM crm.contact;
-- What the duplicates look like (first five).
SELECT o.first_name || ' ' || o.last_name AS original, d.first_name || ' ' || d.last_name AS duplicate,
       d.description AS kind, o.email AS original_email, d.email AS duplicate_email, o.phone AS original_phone, d.phone AS duplicate_phone
  FROM crm.contact d JOIN crm.contact o ON o.id = ('00000000-0000-7000-9000-' || right(d.id::text, 12))::uuid
 WHERE d.id::text LIKE '%-a000-%' ORDER BY d.id LIMIT 5;

-- Precision and recall of duplicate_pairs at three thresholds.  A found pair
-- is right when both ids belong to the same person.
CREATE TEMP TABLE quality AS
SELECT t.threshold, count(p.*) AS found,
       count(p.*) FILTER (WHERE right(p.id_a::text, 12) = right(p.id_b::text, 12)) AS correct,
       300 AS injected
  FROM (VALUES (0.75::real), (0.85::real), (0.95::real)) t(threshold)
  LEFT JOIN LATERAL crm.duplicate_pairs('crm.contact', t.threshold) p ON true
 GROUP BY t.threshold;
SELECT threshold, found, correct, found - correct AS false_positives, injected - correct AS missed,
       round(correct::numeric / found, 2) AS precision, round(correct::numeric / injected, 2) AS recall
  FROM quality ORDER BY threshold;
-- At the default threshold (0.75) both are at least 0.9.
SELECT correct::numeric / found >= 0.9 AS precision_ok, correct::numeric / injected >= 0.9 AS recall_ok
  FROM quality WHERE threshold = 0.75::real;
-- From 0.85 on, only pairs with an email or phone in common (or an email
-- one edit apart) are found: no namesake, so precision is 1.
SELECT threshold, correct = found AS all_correct FROM quality WHERE threshold >= 0.85::real ORDER BY threshold;
-- Recall by kind of duplicate at the default threshold.
CREATE TEMP TABLE pairs_default AS SELECT * FROM crm.duplicate_pairs('crm.contact');
SELECT d.description AS kind, count(*) AS injected,
       count(p.id_a) AS found, round(count(p.id_a)::numeric / count(*), 2) AS recall
  FROM crm.contact d
  LEFT JOIN pairs_default p ON p.id_b = d.id AND right(p.id_a::text, 12) = right(d.id::text, 12)
 WHERE d.id::text LIKE '%-a000-%'
 GROUP BY d.description ORDER BY 1;
-- find_duplicates finds, for every record of the tenant, exactly the pairs
-- duplicate_pairs has for it.
SELECT count(*) AS disagreements
  FROM (SELECT c.id AS id, f.candidate_id AS other FROM crm.contact c
         CROSS JOIN LATERAL crm.find_duplicates('crm.contact', c.id) f
        EXCEPT
        (SELECT id_a, id_b FROM pairs_default UNION SELECT id_b, id_a FROM pairs_default)) s;
SELECT count(*) AS missing_from_find_duplicates
  FROM (SELECT id_a, id_b FROM pairs_default UNION SELECT id_b, id_a FROM pairs_default
        EXCEPT
        SELECT c.id, f.candidate_id FROM crm.contact c
         CROSS JOIN LATERAL crm.find_duplicates('crm.contact', c.id) f) s;

-- ---------------------------------------------------------------------------
-- 6. Plans: candidates come from index lookups on the blocking keys only,
-- never from a scan of the tenant's table.  Each key is looked up twice:
-- once to count its block (at most crm.dedup_block_limit() + 1 entries),
-- once to fetch the candidates.  crm.find_duplicates runs exactly
-- these inlined SQL functions; plan_scans lists the indexes a plan reads
-- (plain or bitmap index scans, whichever the statistics favour) and any
-- scan that is not an index scan (there is none).
-- ---------------------------------------------------------------------------
CREATE FUNCTION pg_temp.plan_scans(q text) RETURNS TABLE (scan text)
LANGUAGE plpgsql AS $$
DECLARE
	p json;
BEGIN
	EXECUTE 'EXPLAIN (COSTS OFF, FORMAT JSON) ' || q INTO p;
	RETURN QUERY
	WITH RECURSIVE node(j) AS (
		SELECT p -> 0 -> 'Plan'
		UNION ALL
		SELECT c FROM node, json_array_elements(node.j -> 'Plans') c)
	SELECT DISTINCT CASE WHEN j ->> 'Index Name' IS NOT NULL THEN 'index ' || (j ->> 'Index Name')
						 ELSE (j ->> 'Node Type') || ' on ' || (j ->> 'Relation Name') END
	  FROM node WHERE j ->> 'Node Type' LIKE '%Scan'
	   AND j ->> 'Node Type' NOT IN ('CTE Scan', 'Function Scan', 'Subquery Scan', 'Bitmap Heap Scan')
	 ORDER BY 1;
END;
$$;
SELECT * FROM pg_temp.plan_scans($q$SELECT * FROM crm._contact_duplicates(crm.current_org(), '00000000-0000-7000-9000-000000000001', 0.85)$q$);
-- Leads and accounts: copy the generated persons into leads, and generate
-- 2,000 accounts, then the same check.
INSERT INTO crm.lead (first_name, last_name, email, phone)
SELECT first_name, last_name, email, phone FROM crm.contact;
INSERT INTO crm.account (name, domain, phone)
SELECT (ARRAY['North','South','Blue','Red','Global','United','First','Prime','Metro','Alpine'])[1 + i % 10] || ' '
       || (ARRAY['Logistics','Foods','Systems','Energy','Media','Labs','Capital','Motors','Health','Textiles'])[1 + (i / 10) % 10]
       || ' ' || i, 'company' || i || '.test', '+1 (800) ' || (2000000 + i)::text
  FROM generate_series(1, 2000) i;
RESET ROLE;
ANALYZE crm.lead;
ANALYZE crm.account;
SET ROLE crm_dedup_user;
SET crm.organization_id = :'org_g';
SELECT id AS some_lead FROM crm.lead ORDER BY id LIMIT 1 \gset
SELECT id AS some_account FROM crm.account ORDER BY id LIMIT 1 \gset
SELECT * FROM pg_temp.plan_scans(format('SELECT * FROM crm._lead_duplicates(crm.current_org(), %L, 0.85)', :'some_lead'));
SELECT * FROM pg_temp.plan_scans(format('SELECT * FROM crm._account_duplicates(crm.current_org(), %L, 0.85)', :'some_account'));
-- The contacts of an account by email domain use their index too.
EXPLAIN (COSTS OFF)
SELECT c.id FROM crm.contact c
 WHERE c.organization_id = crm.current_org() AND c.deleted_at IS NULL
   AND crm.email_domain_key(c.email::text) = 'initech.test';
DROP TABLE person, dup, quality, pairs_default;
DROP FUNCTION pg_temp.typo(text, float8, float8, float8), pg_temp.plan_scans(text);
RESET ROLE;

-- Clean up the roles (their grants first).
SELECT crm.revoke_access('crm_dedup_admin');
SELECT crm.revoke_access('crm_dedup_user');
DROP ROLE crm_dedup_admin;
DROP ROLE crm_dedup_user;
