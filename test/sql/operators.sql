-- crm.email and crm.phone for clients that never set search_path (ORMs, BI
-- tools, drivers): their operators resolve with the default search path,
-- compare as the types do (case-insensitive addresses, numbers whatever
-- their format), are served by the indexes also for an application role
-- under row-level security, and with parameters of type text, varchar or
-- unknown.  Text functions and LIKE work on both types as on text.
SET client_min_messages = warning;
RESET search_path;
SHOW search_path;

-- Where the operators are: every operator taking crm.email or crm.phone is
-- in pg_catalog, which is searched whatever search_path says, and none is
-- left in schema crm.  All but <@ (an inlined SQL function) call LEAKPROOF
-- functions, so they may be evaluated before the tenant policy, in an index.
SELECT n.nspname AS schema, o.oprleft::regtype AS left_type, o.oprright::regtype AS right_type,
	   string_agg(o.oprname, ' ' ORDER BY o.oprname) AS operators,
	   bool_and(p.proleakproof) AS leakproof, bool_and(o.oprcode::oid <> 0) AS has_function
  FROM pg_operator o
  JOIN pg_namespace n ON n.oid = o.oprnamespace
  JOIN pg_proc p ON p.oid = o.oprcode
 WHERE 'crm.email'::regtype IN (o.oprleft, o.oprright) OR 'crm.phone'::regtype IN (o.oprleft, o.oprright)
 GROUP BY 1, 2, 3, o.oprname = '<@'
 ORDER BY 2, 3, 4;

-- A tenant with 2000 contacts, another tenant with the same addresses, and
-- an application role.
\set org_a '0f0f0f0f-0000-7000-8000-00000000000a'
\set org_b '0f0f0f0f-0000-7000-8000-00000000000b'
INSERT INTO crm.organization (id, name) VALUES (:'org_a', 'Operators A'), (:'org_b', 'Operators B');
DROP ROLE IF EXISTS crm_ops_app;
CREATE ROLE crm_ops_app;
SELECT crm.grant_access('crm_ops_app', 'user', ARRAY[:'org_a', :'org_b']::uuid[]);
SET crm.organization_id = :'org_a';
INSERT INTO crm.contact (first_name, last_name, email, phone)
SELECT 'F' || i, 'L' || i, 'Person' || i || '@Globo' || i % 20 || '.de', '+49 30 12' || lpad(i::text, 5, '0')
  FROM generate_series(1, 2000) i;
SET crm.organization_id = :'org_b';
INSERT INTO crm.contact (first_name, last_name, email, phone)
SELECT 'B' || i, 'Other' || i, 'person' || i || '@globo' || i % 20 || '.de', '+49 30 12' || lpad(i::text, 5, '0')
  FROM generate_series(1, 200) i;
ANALYZE crm.contact;

-- The indexes a query reads (plain or bitmap scans), from its plan.
CREATE FUNCTION pg_temp.indexes_read(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	plan text;
BEGIN
	EXECUTE 'EXPLAIN (FORMAT JSON, COSTS OFF) ' || q INTO plan;
	RETURN coalesce((SELECT string_agg(DISTINCT m[1], ', ') FROM regexp_matches(plan, '"Index Name": "([^"]+)"', 'g') AS m),
					'none');
END;
$$;

-- ---------------------------------------------------------------------------
-- As the application role, tenant A, default search path.
-- ---------------------------------------------------------------------------
SET ROLE crm_ops_app;
SET crm.organization_id = :'org_a';
SET crm.default_country = 'DE';

-- Literals: case-insensitive equality, "address is in domain", a number in
-- national format.  Only tenant A's rows.
SELECT last_name, email FROM crm.contact WHERE email = 'PERSON7@GLOBO7.DE';
SELECT count(*) AS in_domain FROM crm.contact WHERE email <@ 'GLOBO7.de';
SELECT last_name, phone FROM crm.contact WHERE phone = '030 12 00007';
SELECT q, pg_temp.indexes_read(q) AS indexes
  FROM (VALUES ($$SELECT * FROM crm.contact WHERE email = 'PERSON7@GLOBO7.DE'$$),
			   ($$SELECT * FROM crm.contact WHERE email <@ 'GLOBO7.de'$$),
			   ($$SELECT * FROM crm.contact WHERE phone = '030 12 00007'$$)) AS v(q);

-- Prepared statements with a text, varchar or untyped parameter, planned
-- generically (the parameter stays a parameter in the plan): each finds
-- the row and reads the index.  An untyped parameter takes the column's
-- type, so the value is read as an address or a number.
SET plan_cache_mode = force_generic_plan;
PREPARE email_text(text) AS SELECT last_name FROM crm.contact WHERE email = $1;
PREPARE email_varchar(varchar) AS SELECT last_name FROM crm.contact WHERE email = $1;
PREPARE email_unknown AS SELECT last_name FROM crm.contact WHERE email = $1;
PREPARE domain_text(text) AS SELECT count(*) FROM crm.contact WHERE email <@ $1;
PREPARE phone_text(text) AS SELECT last_name FROM crm.contact WHERE phone = $1;
PREPARE phone_varchar(varchar) AS SELECT last_name FROM crm.contact WHERE phone = $1;
PREPARE phone_unknown AS SELECT last_name FROM crm.contact WHERE phone = $1;
SELECT name, parameter_types FROM pg_prepared_statements ORDER BY name;
EXECUTE email_text('PERSON7@globo7.DE');
EXECUTE email_varchar('person7@GLOBO7.de');
EXECUTE email_unknown('Person7@Globo7.De');
EXECUTE domain_text('Globo7.DE');
EXECUTE phone_text('+49 (0)30 12 00007');
EXECUTE phone_varchar('030/1200007');
EXECUTE phone_unknown('0049 30 1200007');
SELECT s, pg_temp.indexes_read(format('EXECUTE %s(%L)', s, v)) AS indexes
  FROM (VALUES ('email_text', 'PERSON7@globo7.DE'), ('email_varchar', 'person7@GLOBO7.de'),
			   ('email_unknown', 'Person7@Globo7.De'), ('domain_text', 'Globo7.DE'),
			   ('phone_text', '+49 (0)30 12 00007'), ('phone_varchar', '030/1200007'),
			   ('phone_unknown', '0049 30 1200007')) AS v(s, v);
-- Lists, as ORMs send them: IN with literals, = ANY with a text array.
SELECT count(*) FILTER (WHERE email IN ('PERSON7@GLOBO7.DE', 'person8@Globo8.de')) AS email_in,
	   count(*) FILTER (WHERE email = ANY (ARRAY['PERSON7@GLOBO7.DE', 'person8@Globo8.de']::text[])) AS email_any,
	   count(*) FILTER (WHERE phone = ANY (ARRAY['+49 30 1200007', '030 1200008']::text[])) AS phone_any
  FROM crm.contact;
SELECT q, pg_temp.indexes_read(q) AS indexes
  FROM (VALUES ($$SELECT * FROM crm.contact WHERE email IN ('PERSON7@GLOBO7.DE', 'person8@Globo8.de')$$),
			   ($$SELECT * FROM crm.contact WHERE email = ANY (ARRAY['PERSON7@GLOBO7.DE', 'person8@Globo8.de']::text[])$$),
			   ($$SELECT * FROM crm.contact WHERE phone = ANY (ARRAY['+49 30 1200007', '030 1200008']::text[])$$)) AS v(q);
-- A text that is no number equals no number, and is no error: the
-- comparison with text never fails (it is LEAKPROOF).
EXECUTE phone_text('not a number');
DEALLOCATE ALL;
RESET plan_cache_mode;

-- Text functions and LIKE take both types as text (the stored spelling of
-- an address, the E.164 text of a number), case-sensitive as for text.
SELECT email, lower(email) AS lower, upper(email) AS upper, length(email) AS len,
	   split_part(email, '@', 1) AS local, phone, right(phone, 4) AS last4, phone || ' (work)' AS label
  FROM crm.contact WHERE email = 'person7@globo7.de';
SELECT count(*) FILTER (WHERE email LIKE 'Person1%@Globo1.de') AS like_,
	   count(*) FILTER (WHERE email ILIKE 'person1%@globo1.DE') AS ilike_,
	   count(*) FILTER (WHERE email ~* '^person1[0-9]*@') AS regex,
	   count(*) FILTER (WHERE phone LIKE '+493012000%') AS phone_like,
	   count(*) FILTER (WHERE lower(email) = 'person1@globo1.de') AS lower_eq
  FROM crm.contact;
-- A cast to text leaves the type: the comparison is then text's, with case.
SELECT count(*) AS text_compare_keeps_case FROM crm.contact WHERE email::text = 'PERSON7@GLOBO7.DE';
-- Functions that take text take both (an untyped literal beside a column
-- of the type is read as that type, as for any type: coalesce(email,
-- 'none') would read 'none' as an address).
SELECT concat_ws(' / ', email, phone) AS both_, format('%s <%s>', last_name, email) AS formatted,
	   coalesce(email, 'nobody@example.com') AS coalesced
  FROM crm.contact WHERE email = 'person7@globo7.de';
-- Comparing an address with a number is refused, not done as text.
SELECT count(*) FROM crm.contact WHERE email = phone;
RESET ROLE;

-- ---------------------------------------------------------------------------
-- With crm on the search path, the same operators (there are no others).
-- ---------------------------------------------------------------------------
SET search_path = crm, public;
SET ROLE crm_ops_app;
SELECT last_name FROM crm.contact WHERE email = 'PERSON7@GLOBO7.DE' AND phone = '030 12 00007' AND email <@ 'globo7.DE';
SELECT count(*) FILTER (WHERE email LIKE 'Person1%@Globo1.de') AS like_, count(*) FILTER (WHERE upper(phone) LIKE '+49%') AS upper_
  FROM crm.contact;
RESET ROLE;
RESET search_path;
RESET crm.default_country;

-- The other tests share this database: remove this test's tenants' rows.
SET crm.organization_id = :'org_a';
DELETE FROM crm.contact WHERE organization_id IN (:'org_a', :'org_b');
DELETE FROM crm.audit_log WHERE organization_id IN (:'org_a', :'org_b');
