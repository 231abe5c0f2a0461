-- ============================================================================
-- 03 types: crm.email and crm.phone, with btree and hash operator classes
--
-- The operators of both types are created in schema pg_catalog (the
-- extension's own schema, see crm.control), the functions behind them in
-- crm.  pg_catalog is searched first whatever search_path says, so
-- "email = 'X@Y.COM'", "phone = $1" and "email <@ 'example.com'" resolve to
-- crm's operators for every client: an ORM or BI tool needs no search_path
-- setting.  The operators take crm's types as an argument, so they can never
-- be chosen for built-in types.  Both types cast implicitly to text (as
-- citext does), so LIKE, lower(), || and the other text functions work on
-- them; comparisons still choose crm's operators, because an exact match on
-- one argument type beats a conversion.  doc/design.md, "Operators without
-- search_path", gives the reasoning and the cases.
-- ============================================================================

-- ---------------------------------------------------------------------------
-- crm.email: an address as typed; equality, order and hash ignore case.
-- ---------------------------------------------------------------------------
CREATE TYPE crm.email;

CREATE FUNCTION crm.email_in(cstring) RETURNS crm.email
	AS 'MODULE_PATHNAME', 'email_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.email_in(cstring) IS 'Input function of crm.email: validates the address.';
CREATE FUNCTION crm.email_out(crm.email) RETURNS cstring
	AS 'MODULE_PATHNAME', 'email_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.email_out(crm.email) IS 'Output function of crm.email: the address as it was typed.';
CREATE FUNCTION crm.email_recv(internal) RETURNS crm.email
	AS 'MODULE_PATHNAME', 'email_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.email_recv(internal) IS 'Binary input of crm.email (the text bytes, validated).';
CREATE FUNCTION crm.email_send(crm.email) RETURNS bytea
	AS 'MODULE_PATHNAME', 'email_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.email_send(crm.email) IS 'Binary output of crm.email (the text bytes).';

CREATE TYPE crm.email (
	INPUT = crm.email_in,
	OUTPUT = crm.email_out,
	RECEIVE = crm.email_recv,
	SEND = crm.email_send,
	INTERNALLENGTH = VARIABLE,
	STORAGE = extended,
	CATEGORY = 'S'
);
COMMENT ON TYPE crm.email IS
	'An email address (local@domain, RFC 5321 limits), stored as typed; =, <, hashing ignore case. Casts to and from text.';

CREATE FUNCTION crm.email(text) RETURNS crm.email
	AS 'MODULE_PATHNAME', 'email_from_text' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.email(text) IS 'Converts text to crm.email (validates; error 22P02 naming what is wrong).';

CREATE CAST (text AS crm.email) WITH FUNCTION crm.email(text) AS ASSIGNMENT;
CREATE CAST (varchar AS crm.email) WITH FUNCTION crm.email(text) AS ASSIGNMENT;
-- Implicit to text: text functions and LIKE take crm.email as text.
CREATE CAST (crm.email AS text) WITHOUT FUNCTION AS IMPLICIT;
CREATE CAST (crm.email AS varchar) WITHOUT FUNCTION AS ASSIGNMENT;

-- Parts of an address.
-- LEAKPROOF (it never fails): under row-level security an index on
-- crm.email_domain(email) then serves "email <@ 'example.com'".
CREATE FUNCTION crm.email_domain(crm.email) RETURNS text
	AS 'MODULE_PATHNAME', 'email_domain' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION crm.email_domain(crm.email) IS 'The domain of an address, lower case: crm.email_domain(''Ann@Example.COM'') = ''example.com''.';
CREATE FUNCTION crm.email_local(crm.email) RETURNS text
	AS 'MODULE_PATHNAME', 'email_local' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.email_local(crm.email) IS 'The local part of an address, as typed.';

-- "Address is in domain": email <@ 'example.com'.  A plain SQL function, so
-- the planner inlines it to crm.email_domain(email) = lower(domain), which an
-- expression index on crm.email_domain(email) serves.
CREATE FUNCTION crm.email_in_domain(crm.email, text) RETURNS boolean
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN crm.email_domain($1) = pg_catalog.lower($2);
COMMENT ON FUNCTION crm.email_in_domain(crm.email, text) IS 'True when the address is in the domain (case-insensitive); operator <@.';
CREATE OPERATOR pg_catalog.<@ (LEFTARG = crm.email, RIGHTARG = text, FUNCTION = crm.email_in_domain, RESTRICT = eqsel, JOIN = eqjoinsel);
COMMENT ON OPERATOR pg_catalog.<@ (crm.email, text) IS 'Address is in domain: email <@ ''example.com''.';

-- ---------------------------------------------------------------------------
-- crm.phone: E.164 numbers with optional extension.
-- ---------------------------------------------------------------------------
CREATE TYPE crm.phone;

CREATE FUNCTION crm.phone_in(cstring) RETURNS crm.phone
	AS 'MODULE_PATHNAME', 'phone_in' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.phone_in(cstring) IS 'Input function of crm.phone: what people type, national numbers read with crm.default_country.';
CREATE FUNCTION crm.phone_out(crm.phone) RETURNS cstring
	AS 'MODULE_PATHNAME', 'phone_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.phone_out(crm.phone) IS 'Output function of crm.phone: +<digits> or +<digits>;ext=<digits>.';
CREATE FUNCTION crm.phone_recv(internal) RETURNS crm.phone
	AS 'MODULE_PATHNAME', 'phone_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.phone_recv(internal) IS 'Binary input of crm.phone (canonical text bytes, validated).';
CREATE FUNCTION crm.phone_send(crm.phone) RETURNS bytea
	AS 'MODULE_PATHNAME', 'phone_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.phone_send(crm.phone) IS 'Binary output of crm.phone (canonical text bytes).';

CREATE TYPE crm.phone (
	INPUT = crm.phone_in,
	OUTPUT = crm.phone_out,
	RECEIVE = crm.phone_recv,
	SEND = crm.phone_send,
	INTERNALLENGTH = VARIABLE,
	STORAGE = plain,
	CATEGORY = 'S'
);
COMMENT ON TYPE crm.phone IS
	'A telephone number in E.164 form with optional extension; text form +<digits> or +<digits>;ext=<digits>.';

CREATE FUNCTION crm.phone(text) RETURNS crm.phone
	AS 'MODULE_PATHNAME', 'phone_from_text' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.phone(text) IS 'Converts what people type to crm.phone, national numbers read with crm.default_country.';
CREATE FUNCTION crm.phone(text, country text) RETURNS crm.phone
	AS 'MODULE_PATHNAME', 'phone_parse_in' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.phone(text, text) IS 'Converts text to crm.phone reading national numbers as numbers of the given country (ISO 3166 alpha-2).';
CREATE CAST (text AS crm.phone) WITH FUNCTION crm.phone(text) AS ASSIGNMENT;
CREATE CAST (varchar AS crm.phone) WITH FUNCTION crm.phone(text) AS ASSIGNMENT;
CREATE CAST (crm.phone AS text) WITHOUT FUNCTION AS IMPLICIT;
CREATE CAST (crm.phone AS varchar) WITHOUT FUNCTION AS ASSIGNMENT;

-- ---------------------------------------------------------------------------
-- Comparison and hashing of both types, generated from one table: for each
-- pair of argument types, the comparison functions (in crm, C, LEAKPROOF:
-- they never fail), the operators = <> < <= > >= (in pg_catalog, see the
-- head of this file) and their places in the btree and hash operator
-- families crm.email_ops and crm.phone_ops (default operator classes for
-- the types; cross-type members for text).
--   crm.email with crm.email or text: case-insensitive; one C function per
--     operator serves all three pairs (both arguments are text bytes).
--   crm.phone with crm.phone: by E.164 digits, then extension.
--   crm.phone with text: the text read as crm.phone reads input, national
--     numbers with crm.default_country, so "phone = $1" finds
--     '+14155550100' for '(415) 555-0100' and is served by the index; a
--     text that reads as no number compares as itself (equal to no number,
--     consistently ordered) instead of failing.  STABLE, since the text's
--     meaning depends on the setting (like timestamptz with timestamp).
-- ---------------------------------------------------------------------------
CREATE OPERATOR FAMILY crm.email_ops USING btree;
CREATE OPERATOR FAMILY crm.email_ops USING hash;
CREATE OPERATOR FAMILY crm.phone_ops USING btree;
CREATE OPERATOR FAMILY crm.phone_ops USING hash;
COMMENT ON OPERATOR FAMILY crm.email_ops USING btree IS 'Case-insensitive ordering of crm.email, with cross-type comparison to text.';
COMMENT ON OPERATOR FAMILY crm.email_ops USING hash IS 'Case-insensitive hashing of crm.email, with cross-type equality to text.';
COMMENT ON OPERATOR FAMILY crm.phone_ops USING btree IS 'Ordering of crm.phone by E.164 digits then extension, with cross-type comparison to text read as a number.';
COMMENT ON OPERATOR FAMILY crm.phone_ops USING hash IS 'Hashing of crm.phone, with cross-type equality to text read as a number.';

DO $gen$
DECLARE
	p record;
	o record;
	sig text;
	btree_ops text;
BEGIN
	FOR p IN SELECT * FROM (VALUES
		-- family, left type, right type, C symbol prefix, volatility, MERGES, what it does
		(1, 'email', 'crm.email', 'crm.email', 'email', 'IMMUTABLE', true, 'case-insensitive comparison of crm.email'),
		(2, 'email', 'crm.email', 'text', 'email', 'IMMUTABLE', true, 'case-insensitive comparison of crm.email with text'),
		(3, 'email', 'text', 'crm.email', 'email', 'IMMUTABLE', true, 'case-insensitive comparison of text with crm.email'),
		(4, 'phone', 'crm.phone', 'crm.phone', 'phone', 'IMMUTABLE', true, 'comparison of crm.phone by E.164 digits, then extension'),
		(5, 'phone', 'crm.phone', 'text', 'phone_text', 'STABLE', false, 'comparison of crm.phone with text read as a number with crm.default_country'),
		(6, 'phone', 'text', 'crm.phone', 'text_phone', 'STABLE', false, 'comparison of text read as a number with crm.default_country with crm.phone')
	) AS v(n, fam, l, r, sym, vol, merges, what) ORDER BY n
	LOOP
		sig := format('(%s, %s)', p.l, p.r);
		EXECUTE format('CREATE FUNCTION crm.%s_cmp%s RETURNS integer AS %L, %L LANGUAGE C %s STRICT PARALLEL SAFE LEAKPROOF',
					   p.fam, sig, 'MODULE_PATHNAME', p.sym || '_cmp_fn', p.vol);
		EXECUTE format('COMMENT ON FUNCTION crm.%s_cmp%s IS %L', p.fam, sig, 'Three-way ' || p.what || ' (btree support).');
		btree_ops := '';
		FOR o IN SELECT * FROM (VALUES
			('=', 'eq', '=', '<>', 'eqsel', 'eqjoinsel', 3), ('<>', 'ne', '<>', '=', 'neqsel', 'neqjoinsel', NULL),
			('<', 'lt', '>', '>=', 'scalarltsel', 'scalarltjoinsel', 1), ('<=', 'le', '>=', '>', 'scalarlesel', 'scalarlejoinsel', 2),
			('>', 'gt', '<', '<=', 'scalargtsel', 'scalargtjoinsel', 5), ('>=', 'ge', '<=', '<', 'scalargesel', 'scalargejoinsel', 4)
		) AS v(op, fn, com, neg, rest, joinsel, strategy)
		LOOP
			EXECUTE format('CREATE FUNCTION crm.%s_%s%s RETURNS boolean AS %L, %L LANGUAGE C %s STRICT PARALLEL SAFE LEAKPROOF',
						   p.fam, o.fn, sig, 'MODULE_PATHNAME', p.sym || '_' || o.fn, p.vol);
			EXECUTE format('COMMENT ON FUNCTION crm.%s_%s%s IS %L', p.fam, o.fn, sig, 'Operator ' || o.op || ': ' || p.what || '.');
			EXECUTE format('CREATE OPERATOR pg_catalog.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = crm.%s_%s, '
						   'COMMUTATOR = OPERATOR(pg_catalog.%s), NEGATOR = OPERATOR(pg_catalog.%s), RESTRICT = %s, JOIN = %s%s)',
						   o.op, p.l, p.r, p.fam, o.fn, o.com, o.neg, o.rest, o.joinsel,
						   CASE WHEN o.op = '=' THEN ', HASHES' || CASE WHEN p.merges THEN ', MERGES' ELSE '' END ELSE '' END);
			EXECUTE format('COMMENT ON OPERATOR pg_catalog.%s %s IS %L', o.op, sig, 'crm: ' || p.what || '.');
			IF o.strategy IS NOT NULL THEN
				btree_ops := btree_ops || format('OPERATOR %s pg_catalog.%s %s, ', o.strategy, o.op, sig);
			END IF;
		END LOOP;
		IF p.l = p.r THEN
			-- the type itself: its default operator classes, and its hash functions
			EXECUTE format('CREATE FUNCTION crm.%s_hash(%s) RETURNS integer AS %L, %L LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF',
						   p.fam, p.l, 'MODULE_PATHNAME', p.sym || '_hash');
			EXECUTE format('CREATE FUNCTION crm.%s_hash_extended(%s, bigint) RETURNS bigint AS %L, %L LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF',
						   p.fam, p.l, 'MODULE_PATHNAME', p.sym || '_hash_extended');
			EXECUTE format('CREATE OPERATOR CLASS crm.%s_ops DEFAULT FOR TYPE %s USING btree FAMILY crm.%s_ops AS %s FUNCTION 1 crm.%s_cmp%s',
						   p.fam, p.l, p.fam, btree_ops, p.fam, sig);
			EXECUTE format('CREATE OPERATOR CLASS crm.%s_ops DEFAULT FOR TYPE %s USING hash FAMILY crm.%s_ops AS '
						   'OPERATOR 1 pg_catalog.= %s, FUNCTION 1 crm.%s_hash(%s), FUNCTION 2 crm.%s_hash_extended(%s, bigint)',
						   p.fam, p.l, p.fam, sig, p.fam, p.l, p.fam, p.l);
		ELSE
			EXECUTE format('ALTER OPERATOR FAMILY crm.%s_ops USING btree ADD %s FUNCTION 1 %s crm.%s_cmp%s',
						   p.fam, btree_ops, sig, p.fam, sig);
			EXECUTE format('ALTER OPERATOR FAMILY crm.%s_ops USING hash ADD OPERATOR 1 pg_catalog.= %s', p.fam, sig);
			IF p.r = 'text' THEN
				-- the hash of text, for hash joins between the type and text
				EXECUTE format('CREATE FUNCTION crm.%s_hash(text) RETURNS integer AS %L, %L LANGUAGE C %s STRICT PARALLEL SAFE LEAKPROOF',
							   p.fam, 'MODULE_PATHNAME', p.sym || '_hash', p.vol);
				EXECUTE format('CREATE FUNCTION crm.%s_hash_extended(text, bigint) RETURNS bigint AS %L, %L LANGUAGE C %s STRICT PARALLEL SAFE LEAKPROOF',
							   p.fam, 'MODULE_PATHNAME', p.sym || '_hash_extended', p.vol);
				EXECUTE format('ALTER OPERATOR FAMILY crm.%s_ops USING hash ADD FUNCTION 1 (text) crm.%s_hash(text), '
							   'FUNCTION 2 (text) crm.%s_hash_extended(text, bigint)', p.fam, p.fam, p.fam);
			END IF;
		END IF;
		IF p.r IN (p.l, 'text') THEN
			EXECUTE format('COMMENT ON FUNCTION crm.%s_hash(%s) IS %L', p.fam, p.r,
						   'Hash support (32 bits; the low half of the extended hash with seed 0): ' || p.what || '.');
			EXECUTE format('COMMENT ON FUNCTION crm.%s_hash_extended(%s, bigint) IS %L', p.fam, p.r,
						   'Hash support (64 bits, seeded): ' || p.what || '.');
		END IF;
	END LOOP;
END;
$gen$;

CREATE FUNCTION crm.phone_format(crm.phone, style text DEFAULT 'international') RETURNS text
	AS 'MODULE_PATHNAME', 'phone_format_fn' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.phone_format(crm.phone, text) IS
	'Formats a number: ''e164'' (+14155550100), ''international'' (+1 415-555-0100) or ''national'' ((415) 555-0100), following libphonenumber''s formats for the calling codes of 40 major regions.';
CREATE FUNCTION crm.phone_country(crm.phone) RETURNS text
	AS 'MODULE_PATHNAME', 'phone_country_fn' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.phone_country(crm.phone) IS 'ISO 3166 alpha-2 region of a number (US, CA, GB, ...; 001 for non-geographic numbers).';
CREATE FUNCTION crm.phone_calling_code(crm.phone) RETURNS integer
	AS 'MODULE_PATHNAME', 'phone_calling_code_fn' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.phone_calling_code(crm.phone) IS 'The country calling code of a number (1, 44, 49, ...).';
CREATE FUNCTION crm.phone_extension(crm.phone) RETURNS text
	AS 'MODULE_PATHNAME', 'phone_extension_fn' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.phone_extension(crm.phone) IS 'The extension digits of a number, NULL when it has none.';

