-- The criteria language: a JSON document of groups and conditions, checked
-- against the tenant's field catalog and compiled to parameterised SQL
-- (doc/criteria.md).  Everything runs as an application role under
-- row-level security.
\set org_a '5c000000-0000-7000-8000-00000000000a'
\set org_b '5c000000-0000-7000-8000-00000000000b'
\set acc_soft '5c000000-0000-7000-8000-0000000000a1'
\set acc_shop '5c000000-0000-7000-8000-0000000000a2'
INSERT INTO crm.organization (id, name) VALUES (:'org_a', 'Criteria A'), (:'org_b', 'Criteria B');
DROP ROLE IF EXISTS crm_criteria_user;
CREATE ROLE crm_criteria_user;
SELECT crm.grant_access('crm_criteria_user', 'admin');
SET ROLE crm_criteria_user;

SET crm.organization_id = :'org_a';
INSERT INTO crm.custom_field (entity, name, label, field_type, options) VALUES
	('contact', 'seats', 'Seats', 'number', NULL),
	('contact', 'tier', 'Tier', 'picklist', '["Gold", "Silver"]'),
	('contact', 'renewal', 'Renewal', 'date', NULL),
	('contact', 'partner', 'Partner', 'boolean', NULL),
	('contact', 'langs', 'Languages', 'multi_picklist', '["de", "fr", "en"]');
INSERT INTO crm.account (id, name, industry, employee_count) VALUES
	(:'acc_soft', 'Initech', 'Software', 300),
	(:'acc_shop', 'Kwik-E-Mart', NULL, 12);
INSERT INTO crm.contact (first_name, last_name, email, title, birthday, tags, custom_fields, account_id, do_not_email, created_at) VALUES
	('Ann', 'Smith', 'Ann.Smith@initech.example', 'VP Sales', '1980-04-01', '{vip,emea}',
	 '{"seats": 10, "tier": "Gold", "renewal": "2025-03-01", "partner": true, "langs": ["de", "fr"]}', :'acc_soft', false, now() - interval '2 days'),
	('Bob', 'Müller', 'bob@initech.example', 'Engineer', NULL, '{emea}',
	 '{"seats": 2.5, "tier": "Silver", "langs": ["en"]}', :'acc_soft', true, now() - interval '40 days'),
	('Cy', 'O''Brien', NULL, 'Head of Café', '2000-02-29', '{}',
	 '{"partner": false}', :'acc_shop', false, now() - interval '400 days'),
	('Dee', 'Nobody', 'dee@example.org', NULL, NULL, '{}', '{}', NULL, false, now());
INSERT INTO crm.contact (first_name, last_name, title, deleted_at) VALUES ('Eve', 'Deleted', 'VP Sales', now());
SET crm.organization_id = :'org_b';
INSERT INTO crm.contact (first_name, last_name, title, tags) VALUES ('Ann', 'Smith', 'VP Sales', '{vip}');

SET crm.organization_id = :'org_a';
-- The names of the matching contacts, in order.
CREATE FUNCTION pg_temp.names(doc jsonb) RETURNS text LANGUAGE sql AS $$
	SELECT coalesce(string_agg(c.last_name, ', ' ORDER BY c.last_name), '(none)')
	  FROM crm.criteria_select(doc, 'contact') s JOIN crm.contact c ON c.id = s
$$;
-- The SQLSTATE a statement fails with, or 'no error'.
CREATE FUNCTION pg_temp.sqlstate_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END $$;

-- ---------------------------------------------------------------------
-- The catalog: crm's fields, the tenant's custom fields typed by their
-- definitions, never organization_id or internal columns.
-- ---------------------------------------------------------------------
SELECT entity, count(*) FILTER (WHERE is_system) AS system, count(*) FILTER (WHERE NOT is_system) AS tenant
  FROM crm.criteria_field GROUP BY entity ORDER BY entity;
SELECT name, source, type, is_list, sql_expression, operators FROM crm.criteria_field
 WHERE entity = 'contact' AND (NOT is_system OR name IN ('email', 'birthday', 'tags', 'created_at', 'owner_id', 'account.industry', 'do_not_email', 'account.employee_count'))
 ORDER BY name;
SELECT count(*) AS internal_fields FROM crm.criteria_field
 WHERE name IN ('organization_id', 'id', 'search_vector', 'created_by', 'updated_by', 'deleted_at', 'custom_fields');

-- A tenant adds a field of its own (a key of a jsonb column); the other
-- tenant does not see it, and crm's names cannot be taken.
INSERT INTO crm.criteria_tenant_field (entity, name, column_name, json_key, type)
VALUES ('account', 'billing_city', 'billing_address', 'city', 'text');
SELECT name, source, sql_expression FROM crm.criteria_field WHERE NOT is_system AND entity = 'account';
SELECT pg_temp.sqlstate_of($$INSERT INTO crm.criteria_tenant_field (entity, name, column_name, json_key, type)
							 VALUES ('contact', 'email', 'custom_fields', 'x', 'text')$$) AS shadowing_crm_field,
	   pg_temp.sqlstate_of($$INSERT INTO crm.criteria_tenant_field (entity, name, column_name, json_key, type)
							 VALUES ('contact', 'secret', 'search_vector', 'x', 'text')$$) AS not_a_jsonb_column;
SET crm.organization_id = :'org_b';
SELECT count(*) AS b_sees_tenant_fields FROM crm.criteria_field WHERE NOT is_system;
SELECT pg_temp.sqlstate_of($$SELECT crm.criteria_sql('{"field": "billing_city", "op": "eq", "value": "x"}', 'account')$$) AS b_uses_a_field;
SELECT pg_temp.sqlstate_of($$SELECT crm.criteria_sql('{"field": "custom_fields.seats", "op": "gt", "value": 1}', 'contact')$$) AS b_uses_a_custom_field;
SET crm.organization_id = :'org_a';
UPDATE crm.account SET billing_address = '{"city": "Springfield"}' WHERE id = :'acc_shop';
SELECT a.name FROM crm.criteria_select('{"field": "billing_city", "op": "eq", "value": "SPRINGFIELD"}', 'account') s
  JOIN crm.account a ON a.id = s;

-- Compiled documents are cached per backend; a catalog change invalidates
-- them: a field defined after a document failed, retyped after it compiled.
SELECT pg_temp.sqlstate_of($$SELECT crm.criteria_sql('{"field": "custom_fields.size", "op": "gt", "value": 3}', 'contact')$$) AS before_definition;
INSERT INTO crm.custom_field (entity, name, label, field_type) VALUES ('contact', 'size', 'Size', 'number');
SELECT pg_temp.sqlstate_of($$SELECT crm.criteria_sql('{"field": "custom_fields.size", "op": "gt", "value": 3}', 'contact')$$) AS after_definition;
UPDATE crm.custom_field SET field_type = 'text' WHERE name = 'size';
SELECT pg_temp.sqlstate_of($$SELECT crm.criteria_sql('{"field": "custom_fields.size", "op": "gt", "value": 3}', 'contact')$$) AS after_retyping;
DELETE FROM crm.custom_field WHERE name = 'size';

-- ---------------------------------------------------------------------
-- The compiled SQL: identifiers from the catalog, every value a parameter
-- (listed below the statement), an explicit tenant filter.
-- ---------------------------------------------------------------------
\pset format unaligned
SELECT crm.criteria_sql('{"all": [
	{"field": "title", "op": "contains", "value": "vp"},
	{"field": "tags", "op": "has_any", "value": ["vip", "emea"]},
	{"not": {"field": "custom_fields.seats", "op": "lt", "value": 5}},
	{"any": [{"field": "account.industry", "op": "eq", "value": "Software"},
			 {"field": "created_at", "op": "within_last", "value": "30 days", "include_no_value": true}]}]}', 'contact');
SELECT crm.criteria_sql('{"any": [{"field": "custom_fields.tier", "op": "in", "value": ["gold", "Silver"]},
	{"field": "custom_fields.langs", "op": "has_any", "value": ["de", "en"]},
	{"field": "custom_fields.renewal", "op": "eq", "value": "2025-03-01"},
	{"field": "email", "op": "ends_with", "value": "@Initech.example"}]}', 'contact');
SELECT crm.criteria_sql('{"field": "status", "op": "in", "value": ["new", "contacted"]}', 'lead');
\pset format aligned

-- ---------------------------------------------------------------------
-- Every operator, each field type.  Text compares ignore case and
-- accents ("muller" finds Müller, "cafe" Café).
-- ---------------------------------------------------------------------
SELECT f, op, pg_temp.names(jsonb_build_object('field', f, 'op', op, 'value', v)) AS matches
  FROM (VALUES
	('title', 'eq', '"vp sales"'::jsonb), ('title', 'neq', '"VP SALES"'),
	('last_name', 'in', '["MULLER", "smith", "nobody at all"]'), ('last_name', 'not_in', '["muller"]'),
	('title', 'contains', '"CAFE"'), ('title', 'not_contains', '"e"'),
	('title', 'starts_with', '"head"'), ('email', 'ends_with', '"@INITECH.example"'),
	('last_name', 'gt', '"n"'), ('last_name', 'gte', '"o''brien"'), ('last_name', 'lt', '"n"'), ('last_name', 'lte', '"muller"'),
	('last_name', 'between', '["m", "o"]')) AS t(f, op, v)
 ORDER BY f, op;
SELECT f, op, v::text, pg_temp.names(jsonb_build_object('field', f, 'op', op, 'value', v)) AS matches
  FROM (VALUES
	('birthday', 'eq', '"2000-02-29"'::jsonb), ('birthday', 'lt', '"1990-01-01"'), ('birthday', 'between', '["1970-01-01", "2010-12-31"]'),
	('created_at', 'within_last', '"30 days"'), ('created_at', 'before_last', '"1 month"'), ('created_at', 'gte', '"2000-01-01T00:00:00Z"'),
	('do_not_email', 'eq', 'true'), ('do_not_email', 'neq', 'true'),
	('account_id', 'eq', to_jsonb(:'acc_shop'::text)), ('account_id', 'not_in', jsonb_build_array(:'acc_shop'::text)),
	('tags', 'has_any', '["vip", "nothing"]'), ('tags', 'has_all', '["vip", "emea"]'),
	('account.industry', 'eq', '"SOFTWARE"'), ('account.employee_count', 'lt', '100'), ('account.employee_count', 'in', '[12, 300]'),
	('custom_fields.seats', 'eq', '10'), ('custom_fields.seats', 'eq', '10.0'), ('custom_fields.seats', 'gt', '2'),
	('custom_fields.seats', 'between', '[2.5, 3]'), ('custom_fields.seats', 'in', '[2.5, 7]'), ('custom_fields.seats', 'not_in', '[2.5]'),
	('custom_fields.tier', 'eq', '"gold"'), ('custom_fields.tier', 'starts_with', '"SIL"'),
	('custom_fields.renewal', 'eq', '"2025-03-01"'), ('custom_fields.renewal', 'gt', '"2025-01-01"'),
	('custom_fields.partner', 'eq', 'false'), ('custom_fields.partner', 'neq', 'false'),
	('custom_fields.langs', 'has_any', '["fr", "en"]'), ('custom_fields.langs', 'has_all', '["fr", "de"]')) AS t(f, op, v)
 ORDER BY f, op, v::text;
-- Null tests: no value, an empty tag list, a custom field absent or null.
SELECT f, op, pg_temp.names(jsonb_build_object('field', f, 'op', op)) AS matches
  FROM (VALUES ('title', 'is_null'), ('title', 'is_not_null'), ('tags', 'is_null'), ('tags', 'is_not_null'),
			   ('account.industry', 'is_null'), ('custom_fields.seats', 'is_null'), ('custom_fields.langs', 'is_not_null'),
			   ('birthday', 'is_null')) AS t(f, op)
 ORDER BY f, op;

-- ---------------------------------------------------------------------
-- Groups, negation and what "no value" means: a condition on a field
-- without a value is unknown, "not" of unknown is unknown, and unknown
-- does not match; include_no_value makes such records match.
-- ---------------------------------------------------------------------
SELECT pg_temp.names('{"all": [{"field": "tags", "op": "has_any", "value": ["emea"]}, {"field": "title", "op": "contains", "value": "vp"}]}') AS all_,
	   pg_temp.names('{"any": [{"field": "tags", "op": "has_any", "value": ["vip"]}, {"field": "title", "op": "contains", "value": "café"}]}') AS any_,
	   pg_temp.names('{"not": {"field": "title", "op": "contains", "value": "vp"}}') AS not_contains_vp,
	   pg_temp.names('{"not": {"field": "title", "op": "contains", "value": "vp", "include_no_value": true}}') AS not_incl,
	   pg_temp.names('{"field": "title", "op": "neq", "value": "engineer", "include_no_value": true}') AS neq_incl;
SELECT pg_temp.names('{"not": {"any": [{"field": "tags", "op": "has_any", "value": ["vip"]}, {"field": "title", "op": "contains", "value": "café"}]}}') AS neither,
	   pg_temp.names('{"any": [{"not": {"not": {"field": "last_name", "op": "eq", "value": "smith"}}}, {"all": [{"field": "do_not_email", "op": "eq", "value": true}]}]}') AS nested,
	   pg_temp.names('{"field": "account.industry", "op": "eq", "value": "retail", "include_no_value": true}') AS industry_or_none;
-- Conditions on account.* fields are never unknown: true when the contact
-- has a live account that satisfies them, else false (so "not" finds the
-- contacts without an account too).
SELECT pg_temp.names('{"not": {"field": "account.industry", "op": "eq", "value": "software"}}') AS not_software,
	   pg_temp.names('{"not": {"field": "account.industry", "op": "is_null"}}') AS not_null_industry;

-- Related records: "at least 2 completed meetings in the last 30 days";
-- deleted activities do not count; "not" finds the contacts without any.
INSERT INTO crm.activity (type, subject, status, contact_id, activity_at, deleted_at)
SELECT t, 'x', st, c.id, now() - make_interval(days => d), del
  FROM crm.contact c, (VALUES ('Smith', 'meeting', 'completed', 2, NULL::timestamptz), ('Smith', 'meeting', 'completed', 10, NULL),
							  ('Smith', 'meeting', 'completed', 45, NULL), ('Müller', 'meeting', 'completed', 1, NULL),
							  ('Müller', 'meeting', 'completed', 3, now()), ('O''Brien', 'call', 'planned', 5, NULL)) AS v(n, t, st, d, del)
 WHERE c.last_name = v.n AND c.deleted_at IS NULL;
SELECT pg_temp.names('{"related": "activity", "at_least": 2, "within_last": "30 days", "where": {"all": [
						{"field": "type", "op": "eq", "value": "Meeting"}, {"field": "status", "op": "eq", "value": "completed"}]}}') AS two_meetings_30d,
	   pg_temp.names('{"related": "activity", "at_least": 3, "where": {"field": "type", "op": "eq", "value": "meeting"}}') AS three_meetings,
	   pg_temp.names('{"related": "activity"}') AS any_activity,
	   pg_temp.names('{"not": {"related": "activity", "within_last": "1 week"}}') AS quiet_for_a_week;
SELECT * FROM crm.criteria_validate('{"related": "activity", "where": {"field": "title", "op": "is_null"}}', 'contact');
SELECT * FROM crm.criteria_validate('{"related": "activity", "at_least": -1}', 'contact');
SELECT * FROM crm.criteria_validate('{"related": "note"}', 'lead');
SELECT count(*) AS lead_activity_ok FROM crm.criteria_select('{"related": "activity", "at_least": 1}', 'lead');

-- criteria_match answers for one record; soft-deleted records and other
-- tenants' records never match; criteria_select stops at lim.
SELECT c.last_name, crm.criteria_match('{"field": "title", "op": "contains", "value": "vp"}', 'contact', c.id) AS vp
  FROM crm.contact c ORDER BY c.last_name;
RESET ROLE;
SELECT crm.criteria_match('{"field": "title", "op": "contains", "value": "vp"}', 'contact', c.id) AS other_tenant_matches
  FROM crm.contact c WHERE c.organization_id = :'org_b';
SET ROLE crm_criteria_user;
SELECT count(*) AS limited FROM crm.criteria_select('{"field": "last_name", "op": "is_not_null"}', 'contact', 2);
SELECT count(*) AS all_live FROM crm.criteria_select('{"field": "last_name", "op": "is_not_null"}', 'contact');

-- ---------------------------------------------------------------------
-- The cache of compiled documents (16 per backend) under churn.  One
-- statement going through more documents than it holds, related-record
-- documents among them, empties and refills it while it runs; catalog
-- changes between the statements of one transaction make its entries stale
-- and rebuilt mid-loop.  The evaluator answers what the SQL does
-- throughout.  (A document without a related condition once read the
-- activity fields of its work area before anything had set them: a crash
-- or a wrong column depending on what the memory held, and a report of
-- scripts/valgrind.sh on every such call.)
-- ---------------------------------------------------------------------
WITH doc AS (
	SELECT g, CASE WHEN g % 2 = 0
		   THEN jsonb_build_object('related', 'activity', 'at_least', 1 + g % 3,
								   'where', jsonb_build_object('field', 'type', 'op', 'eq', 'value', 'meeting'))
		   ELSE jsonb_build_object('any', jsonb_build_array(
				jsonb_build_object('field', 'title', 'op', 'contains', 'value', 'vp'),
				jsonb_build_object('field', 'last_name', 'op', 'eq', 'value', repeat('x', g) || g))) END AS doc
	  FROM generate_series(1, 40) g)
SELECT count(DISTINCT d.g) AS documents, count(*) AS pairs, count(*) FILTER (WHERE m) AS matches,
	   count(*) FILTER (WHERE m IS DISTINCT FROM s) AS disagreements
  FROM doc d CROSS JOIN crm.contact c
 CROSS JOIN LATERAL (SELECT crm.criteria_match(d.doc, 'contact', c.id) AS m,
							c.id IN (SELECT crm.criteria_select(d.doc, 'contact')) AS s) x;
DO $$
DECLARE
	doc jsonb;
	matches int := 0;
	disagreements int := 0;
BEGIN
	FOR i IN 1..20 LOOP
		INSERT INTO crm.criteria_tenant_field (entity, name, column_name, json_key, type)
		VALUES ('contact', 'churn_' || i, 'mailing_address', 'k' || i, 'text');
		FOR j IN 1..4 LOOP
			doc := CASE WHEN j % 2 = 0
				   THEN jsonb_build_object('related', 'activity', 'at_least', j / 2,
										   'where', jsonb_build_object('field', 'type', 'op', 'eq', 'value', 'meeting'))
				   ELSE jsonb_build_object('field', 'title', 'op', 'contains', 'value', CASE j WHEN 1 THEN 'vp' ELSE 'e' END) END;
			SELECT matches + count(*) FILTER (WHERE crm.criteria_match(doc, 'contact', c.id)),
				   disagreements + count(*) FILTER (WHERE crm.criteria_match(doc, 'contact', c.id)
														IS DISTINCT FROM c.id IN (SELECT crm.criteria_select(doc, 'contact')))
			  INTO matches, disagreements
			  FROM crm.contact c;
		END LOOP;
		DELETE FROM crm.criteria_tenant_field WHERE name = 'churn_' || i;
	END LOOP;
	RAISE NOTICE 'catalog changed 40 times: % matches, % disagreements', matches, disagreements;
END $$;
-- Every entity of the catalog in one backend (a kept plan reads the
-- records of each), related conditions on those activity links to.
SELECT e, crm.criteria_match('{"field": "created_at", "op": "is_not_null"}', e, '5c000000-0000-7000-8000-000000000000') AS plain,
	   CASE WHEN e <> 'activity'
			THEN crm.criteria_match('{"related": "activity"}', e, '5c000000-0000-7000-8000-000000000000') END AS related
  FROM unnest(ARRAY['contact', 'lead', 'account', 'activity', 'case']) e;

-- ---------------------------------------------------------------------
-- Errors name the JSON path; the hint says what is allowed.
-- ---------------------------------------------------------------------
SELECT * FROM crm.criteria_validate('{"all": [{"field": "title", "op": "eq", "value": "x"}, {"field": "tags", "op": "eq", "value": "x"}]}', 'contact');
SELECT * FROM crm.criteria_validate('{"all": [{"field": "title", "op": "eq", "value": "x"}]}', 'contact');
SELECT * FROM crm.criteria_validate('{"any": [{"not": {"field": "nope", "op": "is_null"}}]}', 'lead');
SELECT * FROM crm.criteria_validate('{"field": "employee_count", "op": "between", "value": [1, "many"]}', 'account');
SELECT * FROM crm.criteria_validate('{"field": "created_at", "op": "within_last", "value": "a while"}', 'contact');
SELECT * FROM crm.criteria_validate('{"field": "title", "op": "eq", "value": "x", "limit": 1}', 'contact');
SELECT * FROM crm.criteria_validate('{"all": []}', 'contact');
SELECT crm.criteria_sql('{"all": [{"field": "title", "op": "eq", "value": "x"}, {"field": "tags", "op": "gt", "value": 1}]}', 'contact');
SELECT crm.criteria_sql('{"field": "account.industri", "op": "eq", "value": "x"}', 'contact');
SELECT crm.criteria_sql('{"field": "title", "op": "eq", "value": "x"}', 'opportunity');
SELECT crm.criteria_select('{"field": "title", "op": "eq", "value": "x"}', 'contact', -1);

-- ---------------------------------------------------------------------
-- Injection and abuse: each rejected with the right SQLSTATE, or a
-- parameter that matches nothing.
-- ---------------------------------------------------------------------
SELECT label, pg_temp.sqlstate_of(format('SELECT count(*) FROM crm.criteria_select(%L, %L)', doc, entity)) AS sqlstate
  FROM (VALUES
	('field with quote', '{"field": "title''; DROP TABLE crm.contact; --", "op": "eq", "value": "x"}', 'contact'),
	('field as an expression', '{"field": "title) OR (true", "op": "eq", "value": "x"}', 'contact'),
	('field with comment', '{"field": "title/*", "op": "is_null"}', 'contact'),
	('tenant column', '{"field": "organization_id", "op": "is_not_null"}', 'contact'),
	('operator with semicolon', '{"field": "title", "op": "eq; DELETE", "value": "x"}', 'contact'),
	('value of the wrong type', '{"field": "birthday", "op": "gt", "value": 5}', 'contact'),
	('uuid that is not one', '{"field": "owner_id", "op": "eq", "value": "x''::uuid OR true --"}', 'contact'),
	('object as value', '{"field": "title", "op": "eq", "value": {"a": 1}}', 'contact'),
	('entity with quote', '{"field": "title", "op": "is_null"}', 'contact"; --'),
	('number jsonb cannot hold', '{"field": "custom_fields.seats", "op": "gt", "value": 1e999999}', 'contact'),
	('document not an object', '"title = x"', 'contact'),
	('unknown custom field', '{"field": "custom_fields.seats''", "op": "is_null"}', 'contact')) AS t(label, doc, entity);
-- Values are parameters: quotes, backslashes, NUL-free unicode, comment
-- markers match as text and nothing else.
UPDATE crm.contact SET title = E'O''Reilly\\ -- /* ; 😀' WHERE last_name = 'Nobody';
SELECT pg_temp.names(jsonb_build_object('field', 'title', 'op', 'eq', 'value', E'o''reilly\\ -- /* ; 😀')) AS exact,
	   pg_temp.names('{"field": "title", "op": "contains", "value": "'' OR ''1''=''1"}') AS classic,
	   pg_temp.names('{"field": "title", "op": "starts_with", "value": "%"}') AS percent_is_not_a_wildcard;
-- jsonb itself refuses \u0000; the parser's own check is in the unit tests.
SELECT pg_temp.sqlstate_of($$SELECT crm.criteria_sql('{"field": "title", "op": "eq", "value": "a\u0000"}', 'contact')$$) AS nul_escape;
-- Deep and huge documents: a clear error, never a stack overflow.
SELECT pg_temp.sqlstate_of(format('SELECT crm.criteria_sql(%L, %L)',
		repeat('{"not": ', 10000) || '{"field": "title", "op": "is_null"}' || repeat('}', 10000), 'contact')) AS nested_10000;
SELECT crm.criteria_sql((repeat('{"not": ', 31) || '{"field": "title", "op": "is_null"}' || repeat('}', 31))::jsonb, 'contact') LIKE '%(NOT (NOT %' AS nested_31_compiles;
SELECT crm.criteria_sql((repeat('{"not": ', 32) || '{"field": "title", "op": "is_null"}' || repeat('}', 32))::jsonb, 'contact');
SELECT pg_temp.sqlstate_of(format('SELECT crm.criteria_sql(%L, %L)',
		jsonb_build_object('any', (SELECT jsonb_agg(jsonb_build_object('field', 'title', 'op', 'eq', 'value', g::text)) FROM generate_series(1, 1000) g)),
		'contact')) AS conditions_1000;
SELECT pg_temp.sqlstate_of(format('SELECT crm.criteria_sql(%L, %L)',
		jsonb_build_object('field', 'title', 'op', 'eq', 'value', repeat('x', 100000)), 'contact')) AS value_100kb;
SELECT length(crm.criteria_sql(jsonb_build_object('field', 'last_name', 'op', 'in',
		'value', (SELECT jsonb_agg(g::text) FROM generate_series(1, 1000) g)), 'contact')) > 0 AS in_list_1000;

-- ---------------------------------------------------------------------
-- Indexes serve the compiled SQL as an application role under row-level
-- security: the leakproof crm.&&, crm.@> and crm.criteria_fold.
-- ---------------------------------------------------------------------
RESET ROLE;
INSERT INTO crm.picklist_value (organization_id, list, value)
SELECT :'org_a', 'industry', 'Industry ' || g FROM generate_series(0, 99) g;
INSERT INTO crm.account (organization_id, id, name, industry)
SELECT :'org_a', ('5c000000-0000-7000-8000-' || lpad(g::text, 12, '0'))::uuid, 'Filler ' || g, 'Industry ' || (g % 100)
  FROM generate_series(1, 2000) g;
INSERT INTO crm.contact (organization_id, first_name, last_name, email, tags, custom_fields, created_at, account_id)
SELECT :'org_a', 'Filler' || g, 'Person' || g, 'p' || g || '@filler.example', ARRAY['t' || (g % 100)],
	   jsonb_build_object('seats', g % 1000), now() - make_interval(days => g),
	   ('5c000000-0000-7000-8000-' || lpad((g % 2000 + 1)::text, 12, '0'))::uuid
  FROM generate_series(1, 5000) g;
INSERT INTO crm.activity (organization_id, type, subject, contact_id, activity_at)
SELECT :'org_a', CASE WHEN g % 2 = 0 THEN 'call' ELSE 'meeting' END, 'Filler', c.id, now() - make_interval(days => g % 60)
  FROM crm.contact c, generate_series(1, 4) g
 WHERE c.organization_id = :'org_a' AND c.last_name LIKE 'Person%';
ANALYZE crm.contact;
ANALYZE crm.account;
ANALYZE crm.activity;
SET ROLE crm_criteria_user;
-- EXPLAIN the compiled statement with its parameters (PREPARE from the
-- output of crm.criteria_sql).
CREATE FUNCTION pg_temp.explain(doc jsonb, entity text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	src text := crm.criteria_sql(doc, entity);
	stmt text := split_part(src, E'\n-- ', 1);
	types text[] := ARRAY['uuid'];
	vals text[] := ARRAY[quote_literal(crm.current_org())];
	m text[];
BEGIN
	FOR m IN SELECT regexp_matches(src, E'\n-- \\$\\d+ = (''(?:[^'']|'''')*'')::([^\n]+)', 'g') LOOP
		vals := vals || m[1];
		types := types || m[2];
	END LOOP;
	EXECUTE format('PREPARE crit_explain(%s) AS %s', array_to_string(types, ', '), stmt);
	RETURN QUERY EXECUTE format('EXPLAIN (COSTS OFF) EXECUTE crit_explain(%s)', array_to_string(vals, ', '));
	DEALLOCATE crit_explain;
END $$;
-- The plan of each uses the index meant for it (whole plans depend on what
-- else the database holds; the index is what matters).
CREATE FUNCTION pg_temp.uses(doc jsonb, idx text) RETURNS boolean LANGUAGE sql AS $$
	SELECT bool_or(l LIKE '%' || idx || '%') FROM pg_temp.explain(doc, 'contact') l
$$;
SELECT d AS document, i AS index, pg_temp.uses(d::jsonb, i) AS used
  FROM (VALUES
	('{"field": "email", "op": "eq", "value": "P77@Filler.example"}', 'contact_criteria_email_idx'),
	('{"field": "last_name", "op": "starts_with", "value": "person12"}', 'contact_criteria_last_name_idx'),
	('{"field": "last_name", "op": "between", "value": ["person10", "person11"]}', 'contact_criteria_last_name_idx'),
	('{"field": "last_name", "op": "in", "value": ["person10", "PERSON11"]}', 'contact_criteria_last_name_idx'),
	('{"field": "tags", "op": "has_any", "value": ["t7", "t8"]}', 'contact_tags_idx'),
	('{"field": "tags", "op": "has_all", "value": ["t7"]}', 'contact_tags_idx'),
	('{"field": "custom_fields.seats", "op": "eq", "value": 77}', 'contact_criteria_cf_idx'),
	('{"field": "account.industry", "op": "eq", "value": "Industry 7"}', 'account_criteria_industry_idx')) AS t(d, i);
-- A related-record condition is one pass over the tenant's activities (a
-- grouped semi-join), not a subquery per contact.
SELECT NOT bool_or(l LIKE '%SubPlan%') AS related_in_one_pass
  FROM pg_temp.explain('{"related": "activity", "at_least": 2, "within_last": "30 days",
						 "where": {"field": "type", "op": "eq", "value": "meeting"}}', 'contact') l;
-- One whole plan: the index condition carries the tenant and the folded value.
SELECT pg_temp.explain('{"field": "email", "op": "eq", "value": "P77@Filler.example"}', 'contact');
-- and they return what a scan would: compare with plain SQL as the owner
SELECT count(*) AS tagged FROM crm.criteria_select('{"field": "tags", "op": "has_any", "value": ["t7", "t8"]}', 'contact');
SELECT count(*) AS seats_77 FROM crm.criteria_select('{"field": "custom_fields.seats", "op": "eq", "value": 77}', 'contact');
SELECT count(*) AS industry_7 FROM crm.criteria_select('{"field": "account.industry", "op": "eq", "value": "industry 7"}', 'contact');
RESET ROLE;
SELECT count(*) FILTER (WHERE tags && ARRAY['t7', 't8']) AS tagged,
	   count(*) FILTER (WHERE custom_fields @> '{"seats": 77}') AS seats_77,
	   count(*) FILTER (WHERE account_id IN (SELECT id FROM crm.account WHERE industry = 'Industry 7')) AS industry_7
  FROM crm.contact WHERE organization_id = :'org_a' AND deleted_at IS NULL;

SET ROLE crm_criteria_user;
DROP FUNCTION pg_temp.names(jsonb);
DROP FUNCTION pg_temp.sqlstate_of(text);
DROP FUNCTION pg_temp.uses(jsonb, text);
DROP FUNCTION pg_temp.explain(jsonb, text);
RESET ROLE;
RESET crm.organization_id;
SELECT crm.revoke_access('crm_criteria_user');
DROP ROLE crm_criteria_user;
