-- crm.email and crm.phone: input/output, case rules, operator classes.
SET search_path = crm, public;
SET crm.default_country = '';

-- try(type, input): the value as printed, or the SQLSTATE and message.
CREATE FUNCTION pg_temp.try_email(t text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	RETURN t::crm.email::text;
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
CREATE FUNCTION pg_temp.try_phone(t text, country text DEFAULT NULL) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	RETURN crm.phone(t, country)::text;
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- ---------------------------------------------------------------------------
-- crm.email
-- ---------------------------------------------------------------------------
-- The original spelling is kept (only surrounding blanks trimmed); equality,
-- order and hashing ignore case.
SELECT 'Ann.Smith@Example.COM'::crm.email AS kept_as_typed, '  ann@example.com  '::crm.email AS trimmed;
-- Invisible characters that copy and paste brings along are trimmed like
-- blanks (no-break spaces, zero-width space/joiners, word joiner, byte-order
-- mark); inside an address they are refused.
SELECT U&'\00A0\FEFFann@example.com\200B\2060 \202F'::crm.email AS pasted_trimmed,
       octet_length(U&'\200C\200Dann@example.com\00A0'::crm.email::text) AS bytes_left,
       pg_temp.try_email(U&'ann\00A0smith@example.com') AS inside_refused;
SELECT 'Ann@Example.COM'::crm.email = 'ann@example.com'::crm.email AS eq_ignores_case,
       'Ann@Example.COM'::crm.email <> 'ann@example.com'::crm.email AS ne,
       'a@x.com'::crm.email < 'B@x.com'::crm.email AS lt_folds,
       'B@x.com'::crm.email > 'a@x.com'::crm.email AS gt_folds,
       crm.email_hash('Ann@Example.COM'::crm.email) = crm.email_hash('ann@example.com'::crm.email) AS hash_folds,
       crm.email_hash_extended('Ann@Example.COM'::crm.email, 7) = crm.email_hash_extended('ann@example.com'::crm.email, 7) AS hash_ext_folds;
-- Comparisons with text or varchar (what many drivers send) fold case too,
-- and hash the same way (for hash joins between the two).
SELECT 'Ann@Example.COM'::crm.email = 'ANN@EXAMPLE.COM'::text AS email_eq_text,
       'ANN@EXAMPLE.COM'::text = 'ann@example.com'::crm.email AS text_eq_email,
       'ann@example.com'::crm.email = 'ANN@example.com'::varchar AS email_eq_varchar,
       crm.email_hash('ANN@EXAMPLE.COM'::text) = crm.email_hash('ann@example.com'::crm.email) AS text_hash_agrees;
-- Parts, and the "address is in domain" operator.
SELECT crm.email_domain('Ann@Sub.Example.COM') AS domain, crm.email_local('Ann.Smith+crm@x.org') AS local_part;
SELECT 'Ann@Example.COM'::crm.email <@ 'EXAMPLE.com' AS in_domain, 'ann@example.com'::crm.email <@ 'other.com' AS not_in_domain;
-- Casts to and from text; binary send is the text bytes.
SELECT ('Ann@Example.COM'::crm.email)::text AS to_text, crm.email('Bob@x.io') AS from_text,
       crm.email_send('Ann@Example.COM') = convert_to('Ann@Example.COM', 'UTF8') AS send_is_text_bytes;

-- Valid addresses: accepted and printed back as typed.
SELECT e, pg_temp.try_email(e) = e AS round_trip
  FROM (VALUES
	('a@b.co'), ('ann@example.com'), ('Ann.Smith@Example.COM'), ('first.last@sub.domain.example.org'),
	('user+tag@example.com'), ('user-name@example.co.uk'), ('x_y@example.io'), ('o''brien@example.ie'),
	('!#$%&''*+/=?^_`{|}~-@example.com'), ('1234567890@example.com'), ('a@xn--bcher-kva.example'),
	('info@xn--mnchen-3ya.de'), ('a@b-c.d-e.fg'), ('a@123.example'), ('a@example.museum'),
	('A@B.CD'), ('a.b.c.d@e.f.g.h.example'), ('support@example.travel'), ('admin@mail.example.xn--p1ai'),
	('user%host@example.com'), ('a=b@example.com'), ('x@x.x1'), ('_@example.com'), ('a@a-1.com')) v(e)
 ORDER BY e;
-- RFC 5321 length limits: 64 octets of local part, 63 per label, 254 in all.
SELECT pg_temp.try_email(repeat('l', 64) || '@example.com') = repeat('l', 64) || '@example.com' AS local_64_ok,
       pg_temp.try_email(repeat('l', 65) || '@example.com') AS local_65,
       pg_temp.try_email('a@' || repeat('d', 63) || '.com') = 'a@' || repeat('d', 63) || '.com' AS label_63_ok,
       pg_temp.try_email('a@' || repeat('d', 64) || '.com') AS label_64;
SELECT pg_temp.try_email(repeat('l', 60) || '@' || repeat(repeat('d', 60) || '.', 3) || 'com') AS whole_255;

-- Invalid addresses: each a clear error (22P02) naming what is wrong.
SELECT e, pg_temp.try_email(e) AS result
  FROM (VALUES
	(''), ('   '), ('plainaddress'), ('@example.com'), ('ann@'), ('ann@@example.com'), ('a@b@example.com'),
	('.ann@example.com'), ('ann.@example.com'), ('an..n@example.com'), ('ann smith@example.com'),
	('ann@exa mple.com'), ('ann@example'), ('ann@-example.com'), ('ann@example-.com'), ('ann@example..com'),
	('ann@.example.com'), ('ann@example.com.'), ('ann@example.123'), ('"ann smith"@example.com'),
	('ann@[192.0.2.1]'), ('ann@exam_ple.com'), ('ann(comment)@example.com'), ('ann@example.com>'),
	('<ann@example.com>'), ('ann@bücher.example'), ('ann,bob@example.com'), ('ann;@example.com'),
	('ann\@example.com'), (E'ann\t@example.com'), ('ÅSA@example.com')) v(e)
 ORDER BY e;

-- ---------------------------------------------------------------------------
-- crm.phone
-- ---------------------------------------------------------------------------
-- What people type, with the default country where the number needs one.
SELECT input, country, pg_temp.try_phone(input, country) AS e164
  FROM (VALUES
	('+1 (415) 555-0100', NULL), ('415.555.0100 ext. 12', 'US'), ('(415) 555-0100 x12', 'US'),
	('+1 415 555 0100;ext=12', NULL), ('tel:+1-415-555-0100', NULL), ('1-415-555-0100', 'US'),
	('011 44 20 7946 0958', 'US'), ('+44 20 7946 0958', NULL), ('020 7946 0958', 'GB'), ('+44 (0)20 7946 0958', NULL),
	('0049 30 1234567', NULL), ('030 1234567', 'DE'), ('+49 30 1234567', NULL), ('0049 30 1234567', 'DE'),
	('+33 1 23 45 67 89', NULL), ('01 23 45 67 89', 'FR'), ('+39 06 1234 5678', NULL), ('06 1234 5678', 'IT'),
	('+34 912 34 56 78', NULL), ('912 34 56 78', 'ES'), ('+81 3-1234-5678', NULL), ('03-1234-5678', 'JP'),
	('010 81 3 1234 5678', 'JP'), ('+61 2 9876 5432', NULL), ('(02) 9876 5432', 'AU'), ('0011 1 415 555 0100', 'AU'),
	('+91 98765 43210', NULL), ('098765 43210', 'IN'), ('+55 11 91234-5678', NULL), ('+86 10 1234 5678', NULL),
	('+7 495 123-45-67', NULL), ('8 495 123 45 67', 'RU'), ('+31 20 123 4567', NULL), ('020 123 4567', 'NL'),
	('+41 44 123 45 67', NULL), ('+43 1 234567', NULL), ('+45 32 12 34 56', NULL), ('32 12 34 56', 'DK'),
	('+46 8 123 456 78', NULL), ('+47 22 12 34 56', NULL), ('+353 1 234 5678', NULL), ('+351 21 123 4567', NULL),
	('+48 22 123 45 67', NULL), ('+420 212 345 678', NULL), ('+36 1 234 5678', NULL), ('+30 21 0123 4567', NULL),
	('+90 212 123 45 67', NULL), ('+972 3 123 4567', NULL), ('+971 4 123 4567', NULL), ('+27 21 123 4567', NULL),
	('+234 1 234 5678', NULL), ('+254 20 1234567', NULL), ('+52 55 1234 5678', NULL), ('+54 11 1234-5678', NULL),
	('+56 2 2123 4567', NULL), ('+57 1 234 5678', NULL), ('+64 9 123 4567', NULL), ('+65 6123 4567', NULL),
	('+82 2 123 4567', NULL), ('+852 2123 4567', NULL), ('+1 604 555 0100', NULL), ('+1 876 555 0100', NULL),
	('+800 1234 5678', NULL)) v(input, country)
 ORDER BY e164, input;
-- The country of a number, and its formats.
SELECT p, crm.phone_country(p) AS country, crm.phone_calling_code(p) AS cc, crm.phone_extension(p) AS ext,
       crm.phone_format(p, 'e164') AS e164, crm.phone_format(p, 'international') AS international,
       crm.phone_format(p, 'national') AS national
  FROM (VALUES ('+14155550100'::crm.phone), ('+16045550100'), ('+18765550100'), ('+442079460958'),
               ('+493012345678;ext=12'), ('+390612345678'), ('+74951234567'), ('+77011234567'), ('+80012345678')) v(p)
 ORDER BY p;
-- Impossible numbers: each a clear error (22P02).
SELECT input, country, pg_temp.try_phone(input, country) AS result
  FROM (VALUES
	('', NULL), ('   ', NULL), ('415 555 0100', NULL), ('+1 415 555 010', NULL), ('+1 415 555 01000', NULL),
	('+1 015 555 0100', NULL), ('+1 415 055 0100', NULL), ('+1 911 555 0100', NULL), ('+28 123 456 789', NULL),
	('+0 123456', NULL), ('+44 12', NULL), ('+49 30 1234567890123456', NULL), ('01OO 123', 'GB'),
	('+1 415 555 0100 ext.', NULL), ('+1 415 555 0100 ext 12345678901', NULL), ('+1 415 555 0100 ++', NULL),
	('030 1234567', 'ZZ'), ('+44 (0)(0)20 7946 0958', NULL), (U&'415\2022555\20220100', 'US'),
	('tel: (415) 555-0100 (home)', 'US')) v(input, country)
 ORDER BY input, country;
-- Argentine mobiles written with the national mobile token 15 (E.164 puts
-- a 9 before the area code instead), and Canada's 7-digit 310-xxxx numbers.
SELECT input, country, pg_temp.try_phone(input, country) AS e164,
       crm.phone_format(crm.phone(input, country), 'national') AS national,
       crm.phone_country(crm.phone(input, country)) AS region
  FROM (VALUES ('011 15-2345-6789', 'AR'), ('0341 15 234 5678', 'AR'), ('+54 11 15 2345 6789', NULL),
               ('+54 9 11 2345 6789', NULL), ('310-1234', 'CA'), ('+1 310 1234', NULL)) v(input, country)
 ORDER BY input, country;
-- What people paste: vanity numbers (three letters or more after two digits
-- or more, libphonenumber's rule), digits of other scripts, Unicode spaces
-- and dashes, full-width forms, invisible characters, labels, a comma
-- before the extension.
SELECT input, country, pg_temp.try_phone(input, country) AS e164
  FROM (VALUES
	('1-800-FLOWERS', 'US'), ('+1 800 GOT-JUNK', NULL), ('٤١٥٥٥٥٠١٠٠', 'US'), ('۰۹۱۲ ۳۴۵ ۶۷۸۹', 'IR'),
	('＋８１ ３-１２３４-５６７８', NULL), ('（０３）１２３４ー５６７８', 'JP'), (U&'+44\00A020\00A07946\00A00958', NULL),
	(U&'+1 415\2013555\20140100', NULL), (U&'\200B+1 415 555\200C0100\FEFF', NULL), (U&'+1\2212415\2212555\22120100', NULL),
	('Phone: +1 415 555 0100', NULL), ('Tel.: 020 7946 0958', 'GB'), ('+1 415 555 0100, ext 12', NULL),
	('+34 912 345 678 anexo 21', NULL)) v(input, country)
 ORDER BY input, country;
-- crm.default_country drives the text input; it must be a real country.
SET crm.default_country = 'DE';
SELECT '030 1234567'::crm.phone AS berlin, '+1 415 555 0100'::crm.phone AS sf;
SET crm.default_country = 'GB';
SELECT '020 7946 0958'::crm.phone AS london;
SET crm.default_country = 'XX';
SET crm.default_country = '';
SELECT '020 7946 0958'::crm.phone;
-- Equality and order are on the normalised number; the extension comes last.
SELECT '+1 (415) 555-0100'::crm.phone = '+1.415.555.0100'::crm.phone AS same_number,
       '+14155550100'::crm.phone < '+14155550100;ext=1'::crm.phone AS no_ext_first,
       '+14155550100;ext=2'::crm.phone < '+14155550100;ext=10'::crm.phone AS ext_text_order;
SET crm.default_country = 'US';
SELECT crm.phone_hash('+1 415 555 0100') = crm.phone_hash('(415) 555-0100') AS hash_agrees;
SELECT crm.phone_send('+14155550100') = convert_to('+14155550100', 'UTF8') AS send_is_text_bytes;
SELECT crm.phone_format('+14155550100', 'roman');
SELECT crm.phone('030 1234567', 'Germany');

-- ---------------------------------------------------------------------------
-- Operator classes at work: a unique index folds case, the btree and hash
-- indexes are consistent (amcheck), and equality and domain lookups use them.
-- ---------------------------------------------------------------------------
CREATE EXTENSION IF NOT EXISTS amcheck;
CREATE TEMP TABLE people (email crm.email, phone crm.phone);
INSERT INTO people
SELECT CASE WHEN g % 3 = 0 THEN 'User' || g || '@Example' || (g % 50) || '.COM' ELSE 'user' || g || '@example' || (g % 50) || '.com' END,
       ('+1 415 ' || lpad((200 + g % 700)::text, 3, '0') || ' ' || lpad((g % 10000)::text, 4, '0'))::crm.phone
  FROM generate_series(1, 20000) g;
CREATE UNIQUE INDEX people_email_key ON people (email);
CREATE INDEX people_phone_idx ON people (phone);
CREATE INDEX people_email_hash ON people USING hash (email);
CREATE INDEX people_domain_idx ON people (crm.email_domain(email));
ANALYZE people;
SELECT bt_index_check('people_email_key', true), bt_index_check('people_phone_idx', true);
INSERT INTO people VALUES ('USER1@EXAMPLE1.COM', NULL);
EXPLAIN (COSTS OFF) SELECT * FROM people WHERE email = 'user3@example3.com';
SELECT email FROM people WHERE email = 'user3@example3.com';
EXPLAIN (COSTS OFF) SELECT * FROM people WHERE email = 'user3@example3.com'::text;
EXPLAIN (COSTS OFF) SELECT * FROM people WHERE email <@ 'example7.com';
SELECT count(*) FROM people WHERE email <@ 'EXAMPLE7.com';
EXPLAIN (COSTS OFF) SELECT * FROM people WHERE phone = '+1 415 203 0003';
SET enable_indexscan = off; SET enable_bitmapscan = off;
SELECT count(*) AS seq_count FROM people WHERE email <@ 'example7.com';
RESET enable_indexscan; RESET enable_bitmapscan;
-- Hash joins and GROUP BY use the case-folding hash: 'Ann@X.com' and
-- 'ann@x.com' fall in one group.
SELECT count(*) AS groups FROM (SELECT email FROM (VALUES ('Ann@X.com'::crm.email), ('ann@x.com'), ('ANN@X.COM'), ('bob@x.com')) v(email) GROUP BY email) g;
SET enable_mergejoin = off; SET enable_nestloop = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM people a JOIN people b ON a.email = b.email;
SELECT count(*) FROM people a JOIN people b ON a.email = b.email;
RESET enable_mergejoin; RESET enable_nestloop;

-- The CRM tables use the types: a contact's email is validated and found
-- whatever its case; two users of one organization cannot share an address
-- in different case.
\set org '0c0c0c0c-0000-7000-8000-00000000000c'
INSERT INTO crm.organization (id, name) VALUES (:'org', 'Types Org');
SET crm.organization_id = :'org';
INSERT INTO crm.app_user (name, email) VALUES ('Ann', 'Ann@Types.example');
INSERT INTO crm.app_user (name, email) VALUES ('Ann again', 'ann@TYPES.example');
INSERT INTO crm.contact (last_name, email, phone) VALUES ('Smith', 'Ann.Smith@Types.example', '+44 20 7946 0958');
INSERT INTO crm.contact (last_name, email) VALUES ('Broken', 'not an email');
INSERT INTO crm.contact (last_name, phone) VALUES ('Broken', '+28 123');
SELECT last_name, email, phone FROM crm.contact WHERE organization_id = :'org' AND email = 'ann.smith@types.example';
RESET crm.organization_id;
