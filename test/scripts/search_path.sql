-- test/scripts/search_path.sql — run by test/scripts/search_path.sh as the
-- application role, with the attacker's schema public ahead of crm on the
-- search_path: every kind of write through crm's triggers and the main
-- public functions.  Any function the attacker planted raises (and counts in
-- public.hijack_seq), so the script stops at the first crm code that
-- resolves a name to public.  The script's own operators are qualified
-- (OPERATOR(pg_catalog.=)): in the second round public is ahead of
-- pg_catalog too, and only crm's code is under test.
\set ON_ERROR_STOP on
SHOW search_path;
INSERT INTO crm.account (name, domain, industry, tags) VALUES ('Hijack Ltd', 'hijack.example', 'Software', '{a}')
RETURNING id AS acc \gset
INSERT INTO crm.account (name, parent_account_id) VALUES ('Hijack Sub', :'acc') RETURNING id AS sub \gset
INSERT INTO crm.contact (first_name, last_name, email, phone, account_id, tags, custom_fields)
VALUES ('Ada', 'Hijack', 'Ada.Hijack@Hijack.example', '+1 415 555 0101', :'acc', '{vip}', '{}')
RETURNING id AS ada \gset
INSERT INTO crm.contact (first_name, last_name, email, phone, account_id, custom_fields)
VALUES ('Ada', 'Hijack', 'ada.hijack+2@hijack.example', '+1 415 555 0102', :'acc', '{}')
RETURNING id AS ada2 \gset
INSERT INTO crm.lead (first_name, last_name, email, company, status) VALUES ('Lea', 'Hijack', 'lea@hijack.example', 'Hijack Ltd', 'new')
RETURNING id AS lea \gset
INSERT INTO crm.activity (type, subject, status, contact_id, account_id) VALUES ('call', 'hello', 'completed', :'ada', :'acc');
INSERT INTO crm.note (body, contact_id) VALUES ('a note', :'ada');
INSERT INTO crm.opportunity (name, amount, account_id, contact_id, close_date) VALUES ('Deal', 1000, :'acc', :'ada', '2027-01-31')
RETURNING id AS deal \gset
UPDATE crm.opportunity SET stage_id = (SELECT s.id FROM crm.pipeline_stage s JOIN crm.opportunity o ON o.pipeline_id OPERATOR(pg_catalog.=) s.pipeline_id
										 WHERE o.id OPERATOR(pg_catalog.=) :'deal' AND s.position OPERATOR(pg_catalog.=) 3) WHERE id OPERATOR(pg_catalog.=) :'deal';
UPDATE crm.contact SET title = 'Countess', email = 'ada@hijack.example', tags = '{vip,math}' WHERE id OPERATOR(pg_catalog.=) :'ada';
UPDATE crm.account SET deleted_at = now() WHERE id OPERATOR(pg_catalog.=) :'sub';
INSERT INTO crm.contact (first_name, last_name, email) SELECT 'Bo', 'Bulk ' || g, 'bo' || g || '@hijack.example' FROM generate_series(1, 3) g;
SELECT count(*) > 0 AS history FROM crm.history('contact', :'ada');
SELECT count(*) > 0 AS timeline FROM crm.timeline('contact', :'ada');
SELECT count(*) >= 0 AS search FROM crm.search('ada hijack', 10);
SELECT count(*) >= 0 AS duplicates FROM crm.find_duplicates('contact', :'ada', 0.5);
SELECT count(*) >= 0 AS pairs FROM crm.duplicate_pairs('contact', 0.5);
SELECT count(*) >= 0 AS criteria FROM crm.criteria_select('{"field": "last_name", "op": "eq", "value": "Hijack"}', 'contact', 10);
SELECT crm.criteria_match('{"field": "email", "op": "ends_with", "value": "hijack.example"}', 'contact', :'ada') AS criteria_match;
SELECT count(*) > 0 AS pipeline FROM crm.pipeline_summary();
SELECT count(*) >= 0 AS pipeline_as_of FROM crm.pipeline_as_of(now());
SELECT count(*) > 0 AS tree FROM crm.account_tree(:'acc', true);
SELECT count(*) >= 0 AS verify FROM crm.verify();
SELECT crm.merge('contact', :'ada', ARRAY[:'ada2']::uuid[]) IS NOT NULL AS merged;
SELECT crm.subject_export('lea@hijack.example') IS NOT NULL AS exported;
SELECT crm.subject_erase('lea@hijack.example', 'search_path test') IS NOT NULL AS erased;
SELECT count(*) >= 0 AS lookup FROM crm.erasure_lookup('lea@hijack.example');
SELECT crm.email_key('Ada.Hijack@Hijack.example'), crm.phone_key('+1 415 555 0101'), crm.name_key('Ada', 'Hijack');
SELECT 'Ada@Hijack.example'::crm.email OPERATOR(pg_catalog.=) 'ada@hijack.example'::crm.email AS email_eq,
	   '+1 415 555 0101'::crm.phone OPERATOR(pg_catalog.=) '+1 (415) 555-0101'::crm.phone AS phone_eq;
DELETE FROM crm.note WHERE contact_id OPERATOR(pg_catalog.=) :'ada';
