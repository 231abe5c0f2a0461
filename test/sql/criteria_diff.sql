-- The two back ends of the criteria language agree: for generated documents
-- and generated contacts, the compiled SQL (crm.criteria_select) and the
-- in-memory evaluator (crm.criteria_match) give the same answer for every
-- (document, record) pair -- NULLs, accents and case, custom fields of every
-- type, an unvalidated jsonb field holding values of any JSON type, account
-- fields (contacts without an account, with a deleted one), related
-- activities (counted, within an interval, filtered), nested groups,
-- negation and include_no_value.  Deterministic (setseed).
\set org '5d000000-0000-7000-8000-00000000000d'
INSERT INTO crm.organization (id, name) VALUES (:'org', 'Criteria Diff');
SET crm.organization_id = :'org';
SELECT setseed(0.42);

INSERT INTO crm.custom_field (entity, name, label, field_type, options) VALUES
	('contact', 'seats', 'Seats', 'number', NULL),
	('contact', 'tier', 'Tier', 'picklist', '["Gold", "Silver", "Café"]'),
	('contact', 'renewal', 'Renewal', 'date', NULL),
	('contact', 'partner', 'Partner', 'boolean', NULL),
	('contact', 'langs', 'Languages', 'multi_picklist', '["de", "fr", "en"]');
-- mailing_address is not validated: its key "n" holds anything
INSERT INTO crm.criteria_tenant_field (entity, name, column_name, json_key, type) VALUES
	('contact', 'addr_n', 'mailing_address', 'n', 'number'),
	('contact', 'addr_s', 'mailing_address', 'n', 'text'),
	('contact', 'addr_b', 'mailing_address', 'n', 'boolean'),
	('contact', 'addr_d', 'mailing_address', 'n', 'date');
-- industries outside the default picklist (case and accents matter to the
-- comparison under test)
INSERT INTO crm.picklist_value (list, value) VALUES ('industry', 'software'), ('industry', 'Réseau');
INSERT INTO crm.account (id, name, industry, employee_count, tags, deleted_at) VALUES
	('5d000000-0000-7000-8000-0000000000a1', 'Initech', 'Software', 300, '{vip}', NULL),
	('5d000000-0000-7000-8000-0000000000a2', 'Globex', 'software', NULL, '{}', NULL),
	('5d000000-0000-7000-8000-0000000000a3', 'Réseau SA', 'Réseau', 12, '{a,b}', NULL),
	('5d000000-0000-7000-8000-0000000000a4', 'Umbrella', NULL, 5, '{}', NULL),
	('5d000000-0000-7000-8000-0000000000a5', 'Gone', 'Software', 1, '{vip}', NULL);

-- A random element of an array.
CREATE FUNCTION pg_temp.pick(a anyarray) RETURNS anyelement LANGUAGE sql AS
	$$ SELECT a[1 + floor(random() * cardinality(a))::int] $$;
-- A random subset of an array.
CREATE FUNCTION pg_temp.some(a anyarray) RETURNS anyarray LANGUAGE sql AS
	$$ SELECT coalesce(array_agg(x), a[0:0]) FROM unnest(a) x WHERE random() < 0.4 $$;

-- 80 contacts (the soft-deleted one among them never matches).
INSERT INTO crm.contact (first_name, last_name, email, title, birthday, do_not_email, tags, account_id,
						 custom_fields, mailing_address, created_at, deleted_at)
SELECT CASE WHEN random() < 0.2 THEN NULL ELSE pg_temp.pick(ARRAY['Ann', 'ann', 'ÄNN', 'Bob', 'Zoë', 'Élise', '']) END,
	   pg_temp.pick(ARRAY['Smith', 'smith', 'Müller', 'MULLER', 'O''Brien', 'Nguyen', 'Åberg', 'z']),
	   CASE WHEN random() < 0.3 THEN NULL ELSE pg_temp.pick(ARRAY['ann@initech.example', 'Bob@Globex.example', 'x@y.example']) END,
	   CASE WHEN random() < 0.3 THEN NULL ELSE pg_temp.pick(ARRAY['VP Sales', 'vp of sales', 'Engineer', 'Head of Café', 'CAFE owner', '']) END,
	   CASE WHEN random() < 0.4 THEN NULL ELSE pg_temp.pick(ARRAY['1980-04-01', '2000-02-29', '1999-12-31', '1975-06-15'])::date END,
	   random() < 0.3,
	   pg_temp.some(ARRAY['a', 'b', 'vip', 'VIP']),
	   CASE WHEN random() < 0.3 THEN NULL ELSE pg_temp.pick(ARRAY['5d000000-0000-7000-8000-0000000000a1', '5d000000-0000-7000-8000-0000000000a2',
			'5d000000-0000-7000-8000-0000000000a3', '5d000000-0000-7000-8000-0000000000a4', '5d000000-0000-7000-8000-0000000000a5'])::uuid END,
	   jsonb_strip_nulls(jsonb_build_object(
		'seats', CASE WHEN random() < 0.3 THEN NULL ELSE pg_temp.pick(ARRAY[0, 1, 2.5, 10, 10.0, -1, 100]) END,
		'tier', CASE WHEN random() < 0.3 THEN NULL ELSE pg_temp.pick(ARRAY['Gold', 'Silver', 'Café']) END,
		'renewal', CASE WHEN random() < 0.3 THEN NULL ELSE pg_temp.pick(ARRAY['2025-03-01', '2024-12-31', '2026-01-15']) END,
		'partner', CASE WHEN random() < 0.3 THEN NULL ELSE random() < 0.5 END,
		'langs', CASE WHEN random() < 0.3 THEN NULL ELSE to_jsonb(pg_temp.some(ARRAY['de', 'fr', 'en'])) END)),
	   CASE WHEN random() < 0.2 THEN NULL
			ELSE jsonb_build_object('n', pg_temp.pick(ARRAY['1'::jsonb, '2.5', '"2.5"', '"abc"', 'true', 'false', 'null',
															'"2025-03-01"', '[1, "a"]', '{"x": 1}', '"VP Sales"'])) END,
	   now() - make_interval(days => floor(random() * 500)::int, hours => 1 + floor(random() * 20)::int),
	   CASE WHEN random() < 0.05 THEN now() END
  FROM generate_series(1, 80);
-- 0 to 4 activities each (some deleted, some long ago)
INSERT INTO crm.activity (type, subject, status, priority, contact_id, activity_at, duration_minutes, tags, deleted_at)
SELECT pg_temp.pick(ARRAY['call', 'meeting', 'email', 'task']), 'Activity', pg_temp.pick(ARRAY['planned', 'completed', 'cancelled']),
	   pg_temp.pick(ARRAY['low', 'normal', 'high']), c.id,
	   now() - make_interval(days => floor(random() * 90)::int, hours => 1 + floor(random() * 20)::int),
	   CASE WHEN random() < 0.3 THEN NULL ELSE floor(random() * 120)::int END,
	   pg_temp.some(ARRAY['a', 'vip']), CASE WHEN random() < 0.1 THEN now() END
  FROM crm.contact c  -- (the reference to c draws a count per contact)
 CROSS JOIN LATERAL generate_series(1, floor(random() * 5)::int + (c.id IS NULL)::int) g
 WHERE c.organization_id = crm.current_org() AND c.deleted_at IS NULL;
-- an account deleted after its contacts were linked to it
UPDATE crm.account SET deleted_at = now() WHERE id = '5d000000-0000-7000-8000-0000000000a5';

-- A random value of a field type.
CREATE FUNCTION pg_temp.value_of(type text, is_list boolean) RETURNS jsonb LANGUAGE sql AS $$
	SELECT CASE WHEN is_list THEN to_jsonb(pg_temp.pick(ARRAY['de', 'fr', 'en', 'es']))
		   ELSE CASE type
		   WHEN 'text' THEN to_jsonb(pg_temp.pick(ARRAY['ann', 'ANN', 'smith', 'muller', 'müller', 'vp', 'vp sales', '', 'café', 'o''brien',
														'a', 'z', 'gold', 'software', 'reseau', 'engineer', 'x@y.example', '@globex.example',
														'2.5', 'true', '[1, "a"]', 'abc', 'call', 'MEETING', 'completed', 'high']))
		   WHEN 'integer' THEN to_jsonb(pg_temp.pick(ARRAY[0, 5, 12, 300, -3]))
		   WHEN 'number' THEN to_jsonb(pg_temp.pick(ARRAY[0, 1, 2.5, 10, -1, 100, 2.50, 3]))
		   WHEN 'date' THEN to_jsonb(pg_temp.pick(ARRAY['1980-04-01', '2000-02-29', '1999-12-31', '2025-03-01', '2024-12-31']))
		   WHEN 'timestamp' THEN to_jsonb(pg_temp.pick(ARRAY['2020-01-01', to_char(now() - interval '100 days', 'YYYY-MM-DD"T"HH24:MI:SS'),
															   to_char(now() - interval '3 days', 'YYYY-MM-DD')]))
		   WHEN 'boolean' THEN to_jsonb(random() < 0.5)
		   WHEN 'uuid' THEN to_jsonb(pg_temp.pick(ARRAY['5d000000-0000-7000-8000-0000000000a1', '5D000000-0000-7000-8000-0000000000A3',
														'5d000000-0000-7000-8000-0000000000a5', '00000000-0000-7000-8000-000000000000']))
		   WHEN 'tags' THEN to_jsonb(pg_temp.pick(ARRAY['a', 'b', 'vip', 'VIP', 'c']))
		   END END
$$;

-- A random condition on a random field of an entity's catalog.
CREATE FUNCTION pg_temp.condition(entity text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	f record;
	op text;
	doc jsonb;
BEGIN
	SELECT * INTO f FROM crm.criteria_field c WHERE c.entity = condition.entity ORDER BY name
	 OFFSET floor(random() * (SELECT count(*) FROM crm.criteria_field c WHERE c.entity = condition.entity)) LIMIT 1;
	op := pg_temp.pick(f.operators);
	doc := jsonb_build_object('field', f.name, 'op', op);
	IF op IN ('in', 'not_in', 'has_any', 'has_all') THEN
		doc := doc || jsonb_build_object('value', (SELECT jsonb_agg(pg_temp.value_of(f.type, f.is_list)) FROM generate_series(1, 1 + floor(random() * 3)::int)));
	ELSIF op = 'between' THEN
		doc := doc || jsonb_build_object('value', jsonb_build_array(pg_temp.value_of(f.type, f.is_list), pg_temp.value_of(f.type, f.is_list)));
	ELSIF op IN ('within_last', 'before_last') THEN
		doc := doc || jsonb_build_object('value', pg_temp.pick(ARRAY['1 day', '30 days', '2 months', '1 year', '12 hours', '3 weeks']));
	ELSIF op NOT IN ('is_null', 'is_not_null') THEN
		doc := doc || jsonb_build_object('value', pg_temp.value_of(f.type, f.is_list));
	END IF;
	IF random() < 0.25 THEN
		doc := doc || '{"include_no_value": true}';
	END IF;
	RETURN doc;
END $$;

-- A random document: nested all / any / not groups of conditions, and of
-- related-record conditions on activities (entity NULL: inside one).
CREATE FUNCTION pg_temp.document(depth int, entity text DEFAULT 'contact') RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	r double precision := random();
	rel jsonb;
BEGIN
	IF entity = 'contact' AND r < 0.1 THEN
		rel := jsonb_build_object('related', 'activity', 'at_least', 1 + floor(random() * 3)::int);
		IF random() < 0.5 THEN
			rel := rel || jsonb_build_object('within_last', pg_temp.pick(ARRAY['7 days', '30 days', '2 months']));
		END IF;
		IF random() < 0.8 THEN
			rel := rel || jsonb_build_object('where', pg_temp.document(1, 'activity'));
		END IF;
		RETURN rel;
	ELSIF depth = 0 OR r < 0.4 THEN
		RETURN pg_temp.condition(entity);
	ELSIF r < 0.55 THEN
		RETURN jsonb_build_object('not', pg_temp.document(depth - 1, entity));
	ELSE
		RETURN jsonb_build_object(CASE WHEN r < 0.78 THEN 'all' ELSE 'any' END,
								  (SELECT jsonb_agg(pg_temp.document(depth - 1, entity)) FROM generate_series(1, 1 + floor(random() * 3)::int)));
	END IF;
END $$;

-- Every pair: the SQL back end's answer against the evaluator's.
CREATE TEMP TABLE diff_result (doc jsonb, id uuid, in_sql boolean, in_eval boolean);
DO $$
DECLARE
	doc jsonb;
	ids uuid[];
	i int;
BEGIN
	FOR i IN 1..400 LOOP
		doc := pg_temp.document(3);
		ids := ARRAY(SELECT crm.criteria_select(doc, 'contact'));
		INSERT INTO diff_result
		SELECT doc, c.id, c.id = ANY (ids), crm.criteria_match(doc, 'contact', c.id)
		  FROM crm.contact c WHERE c.organization_id = crm.current_org();
	END LOOP;
END $$;

SELECT count(*) AS pairs, count(DISTINCT doc) AS documents, count(DISTINCT id) AS records,
	   count(*) FILTER (WHERE in_sql) AS matches,
	   count(*) FILTER (WHERE in_sql IS DISTINCT FROM in_eval) AS disagreements
  FROM diff_result;
-- Enough of both answers to mean something, from documents of every shape.
SELECT count(DISTINCT doc) FILTER (WHERE in_sql) > 150 AS documents_with_matches,
	   count(DISTINCT doc) FILTER (WHERE NOT in_sql) > 150 AS documents_with_non_matches,
	   count(DISTINCT doc) FILTER (WHERE doc::text LIKE '%include_no_value%') > 50 AS with_include_no_value,
	   count(DISTINCT doc) FILTER (WHERE doc::text LIKE '%"not"%') > 50 AS with_not,
	   count(DISTINCT doc) FILTER (WHERE doc::text LIKE '%account.%') > 30 AS with_account_fields,
	   count(DISTINCT doc) FILTER (WHERE doc::text LIKE '%custom_fields.%') > 50 AS with_custom_fields,
	   count(DISTINCT doc) FILTER (WHERE doc::text LIKE '%addr_%') > 30 AS with_untyped_json,
	   count(DISTINCT doc) FILTER (WHERE doc::text LIKE '%"related"%') > 50 AS with_related
  FROM diff_result;
-- The disagreements, if any (none expected).
SELECT doc, c.last_name, in_sql, in_eval
  FROM diff_result d JOIN crm.contact c ON c.id = d.id
 WHERE in_sql IS DISTINCT FROM in_eval
 ORDER BY doc::text, c.id
 LIMIT 10;
RESET crm.organization_id;
