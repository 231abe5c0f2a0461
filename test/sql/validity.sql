-- One definition of a valid e-mail address and of a valid phone number.
-- The crm.email and crm.phone types, the custom-field validator (field types
-- 'email' and 'phone') and the duplicate-detection keys (crm.email_key,
-- crm.email_domain_key, crm.phone_key) all call the same pure parsers
-- (src/email_parse.c, src/phone_parse.c).  Here they are put side by side on
-- inputs where hand-written rules used to disagree: non-ASCII addresses,
-- quoted local parts, literals, one-letter and numeric top-level domains,
-- national and vanity numbers, extensions, unassigned country codes.
SET client_min_messages = warning;
RESET crm.default_country;

CREATE TEMP TABLE tricky (kind text, v text);
INSERT INTO tricky SELECT 'email', v FROM (VALUES
	('jo@example.com'), ('  jo@example.com  '), ('Jo.Doe+crm@Example.CO.UK'), ('o''brien@example.ie'),
	('jö@example.com'),				-- non-ASCII local part: the old validator accepted it
	('jo@exämple.com'),				-- a Unicode domain: only its xn-- form is accepted
	('jo@xn--exmple-cua.com'),
	('"jo doe"@example.com'),		-- quoted local part
	('jo@[192.0.2.1]'),				-- address literal
	('jo@localhost'), ('jo@example.c'), ('jo@example.123'), ('jo@123.example'),
	('jo..doe@example.com'), ('.jo@example.com'), ('jo.@example.com'),
	('jo@-example.com'), ('jo@example-.com'), ('jo@exa_mple.com'), ('jo@example.com.'),
	('jo@@example.com'), ('jo@doe@example.com'), ('jo doe@example.com'), ('jo.example.com'), (''),
	(repeat('a', 64) || '@example.com'), (repeat('a', 65) || '@example.com'),
	('jo@' || repeat('b', 63) || '.com'), ('jo@' || repeat('b', 64) || '.com'),
	(repeat('a', 64) || '@' || repeat('b', 63) || '.' || repeat('c', 63) || '.' || repeat('d', 57) || '.com'),
	(repeat('a', 64) || '@' || repeat('b', 63) || '.' || repeat('c', 63) || '.' || repeat('d', 58) || '.com')
) AS e(v);
INSERT INTO tricky SELECT 'phone', v FROM (VALUES
	('+1 (415) 555-0100'), ('+1.415.555.0100'), ('tel:+1-415-555-0100;ext=12'),
	('+1 415 555 0100 ext. 12'),	-- an extension: the old validator refused the letters
	('+1 415 555 0100 x12'), ('00 44 20 7946 0958'), ('+44 (0)20 7946 0958'),
	('+49 30 1234567'), ('+39 06 1234 5678'), ('+7 495 123-45-67'), ('+81 3-1234-5678'),
	('(415) 555-0100'),				-- national: no default country to read it with
	('1234567'),					-- 7 digits: the old validator accepted it
	('030 1234567'),
	('+1 011 555 0100'),			-- NANP area code 0xx: the old validator counted digits only
	('+1 415 055 0100'),			-- NANP exchange 0xx
	('+1 211 555 0100'),			-- N11 service code as area code
	('+28 1234 5678'),				-- unassigned country code
	('+44 0 0 20 7946 0958'),		-- a second trunk 0
	('+1 800 FLOWERS'),				-- a vanity number: the old validator refused the letters
	('+1 800 FL 0100'),				-- two letters are no vanity number
	(U&'+1\00A0415\2013555\20130100'),	-- a no-break space and en dashes, as pasted
	('123-456'), ('+1234567890123456'), ('030+1234567'),
	('+1 415 555 0100 ext. 12345678901'), ('+1 415 555 0100 ext.'), ('+'), ('')
) AS p(v);

-- Whether the type of a kind accepts a text (PostgreSQL 15 has no
-- pg_input_is_valid), and the duplicate key of a text.
CREATE FUNCTION pg_temp.type_ok(kind text, v text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('SELECT %L::crm.%s', v, kind);
	RETURN true;
EXCEPTION WHEN invalid_text_representation THEN
	RETURN false;
END;
$$;
CREATE FUNCTION pg_temp.dedup_key(kind text, v text) RETURNS text LANGUAGE sql
RETURN CASE kind WHEN 'email' THEN crm.email_key(v) ELSE crm.phone_key(v) END;

-- Each input: the type, the custom-field validator and the key, and the
-- validator's reason.  The three verdicts are equal on every row.
SELECT kind, left(v, 40) AS input, pg_temp.type_ok(kind, v) AS type_ok,
	   crm.custom_field_value_valid(kind, NULL, to_jsonb(v)) AS field_ok,
	   pg_temp.dedup_key(kind, v) IS NOT NULL AS has_key,
	   crm.custom_field_value_error(kind, NULL, to_jsonb(v)) AS field_error
  FROM tricky ORDER BY kind, v;
SELECT kind, count(*) FILTER (WHERE pg_temp.type_ok(kind, v) <> crm.custom_field_value_valid(kind, NULL, to_jsonb(v))
								 OR pg_temp.type_ok(kind, v) <> (pg_temp.dedup_key(kind, v) IS NOT NULL)
								 OR (kind = 'email' AND pg_temp.type_ok(kind, v) <> (crm.email_domain_key(v) IS NOT NULL)))
			AS disagreements, count(*) AS inputs
  FROM tricky GROUP BY kind ORDER BY kind;

-- The keys are what the types compare: the email key is the lower-cased
-- stored value, the domain key crm.email_domain; the phone key the stored
-- number's digits without '+' and extension.
SELECT count(*) AS key_mismatches
  FROM (SELECT kind, v FROM tricky WHERE pg_temp.type_ok(kind, v) OFFSET 0) AS valid
 WHERE CASE kind
	   WHEN 'email' THEN crm.email_key(v) <> lower(v::crm.email::text)
						 OR crm.email_domain_key(v) <> crm.email_domain(v::crm.email)
	   ELSE crm.phone_key(v) <> split_part(substr(v::crm.phone::text, 2), ';', 1) END;

-- The custom-field rule does not depend on the session: with a default
-- country the type reads national numbers, the validator still asks for
-- the international form (a stored value is re-checked in other sessions).
SET crm.default_country = 'US';
SELECT '(415) 555-0100'::crm.phone AS type_reads_national,
	   crm.custom_field_value_valid('phone', NULL, '"(415) 555-0100"') AS field_ok;
RESET crm.default_country;
