-- ============================================================================
-- 03 types: crm.email and crm.phone, with btree and hash operator classes
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
CREATE CAST (crm.email AS text) WITHOUT FUNCTION AS ASSIGNMENT;
CREATE CAST (crm.email AS varchar) WITHOUT FUNCTION AS ASSIGNMENT;

-- Comparison functions: one C function per operator serves every pair of
-- (crm.email | text) arguments.
CREATE FUNCTION crm.email_cmp(crm.email, crm.email) RETURNS integer AS 'MODULE_PATHNAME', 'email_cmp_fn' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.email_eq(crm.email, crm.email) RETURNS boolean AS 'MODULE_PATHNAME', 'email_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.email_ne(crm.email, crm.email) RETURNS boolean AS 'MODULE_PATHNAME', 'email_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.email_lt(crm.email, crm.email) RETURNS boolean AS 'MODULE_PATHNAME', 'email_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.email_le(crm.email, crm.email) RETURNS boolean AS 'MODULE_PATHNAME', 'email_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.email_gt(crm.email, crm.email) RETURNS boolean AS 'MODULE_PATHNAME', 'email_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.email_ge(crm.email, crm.email) RETURNS boolean AS 'MODULE_PATHNAME', 'email_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.email_hash(crm.email) RETURNS integer AS 'MODULE_PATHNAME', 'email_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.email_hash_extended(crm.email, bigint) RETURNS bigint AS 'MODULE_PATHNAME', 'email_hash_extended' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE FUNCTION crm.email_cmp(crm.email, text) RETURNS integer AS 'MODULE_PATHNAME', 'email_cmp_fn' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.email_eq(crm.email, text) RETURNS boolean AS 'MODULE_PATHNAME', 'email_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.email_ne(crm.email, text) RETURNS boolean AS 'MODULE_PATHNAME', 'email_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.email_lt(crm.email, text) RETURNS boolean AS 'MODULE_PATHNAME', 'email_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.email_le(crm.email, text) RETURNS boolean AS 'MODULE_PATHNAME', 'email_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.email_gt(crm.email, text) RETURNS boolean AS 'MODULE_PATHNAME', 'email_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.email_ge(crm.email, text) RETURNS boolean AS 'MODULE_PATHNAME', 'email_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE FUNCTION crm.email_cmp(text, crm.email) RETURNS integer AS 'MODULE_PATHNAME', 'email_cmp_fn' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.email_eq(text, crm.email) RETURNS boolean AS 'MODULE_PATHNAME', 'email_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.email_ne(text, crm.email) RETURNS boolean AS 'MODULE_PATHNAME', 'email_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.email_lt(text, crm.email) RETURNS boolean AS 'MODULE_PATHNAME', 'email_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.email_le(text, crm.email) RETURNS boolean AS 'MODULE_PATHNAME', 'email_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.email_gt(text, crm.email) RETURNS boolean AS 'MODULE_PATHNAME', 'email_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.email_ge(text, crm.email) RETURNS boolean AS 'MODULE_PATHNAME', 'email_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
-- The case-folded hash of text, for hash joins between crm.email and text.
CREATE FUNCTION crm.email_hash(text) RETURNS integer AS 'MODULE_PATHNAME', 'email_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.email_hash_extended(text, bigint) RETURNS bigint AS 'MODULE_PATHNAME', 'email_hash_extended' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

DO $$
DECLARE
	f record;
BEGIN
	FOR f IN SELECT p.oid::regprocedure AS sig, p.proname FROM pg_proc p
			  WHERE p.pronamespace = 'crm'::regnamespace
				AND p.proname IN ('email_cmp', 'email_eq', 'email_ne', 'email_lt', 'email_le', 'email_gt', 'email_ge', 'email_hash', 'email_hash_extended')
	LOOP
		EXECUTE format('COMMENT ON FUNCTION %s IS %L', f.sig,
			'Case-insensitive comparison support of crm.email (' || f.proname || ').');
	END LOOP;
END;
$$;

-- Operators for the three argument pairs.
CREATE OPERATOR crm.= (LEFTARG = crm.email, RIGHTARG = crm.email, FUNCTION = crm.email_eq, COMMUTATOR = OPERATOR(crm.=), NEGATOR = OPERATOR(crm.<>), RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES);
CREATE OPERATOR crm.<> (LEFTARG = crm.email, RIGHTARG = crm.email, FUNCTION = crm.email_ne, COMMUTATOR = OPERATOR(crm.<>), NEGATOR = OPERATOR(crm.=), RESTRICT = neqsel, JOIN = neqjoinsel);
CREATE OPERATOR crm.< (LEFTARG = crm.email, RIGHTARG = crm.email, FUNCTION = crm.email_lt, COMMUTATOR = OPERATOR(crm.>), NEGATOR = OPERATOR(crm.>=), RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR crm.<= (LEFTARG = crm.email, RIGHTARG = crm.email, FUNCTION = crm.email_le, COMMUTATOR = OPERATOR(crm.>=), NEGATOR = OPERATOR(crm.>), RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR crm.> (LEFTARG = crm.email, RIGHTARG = crm.email, FUNCTION = crm.email_gt, COMMUTATOR = OPERATOR(crm.<), NEGATOR = OPERATOR(crm.<=), RESTRICT = scalargtsel, JOIN = scalargtjoinsel);
CREATE OPERATOR crm.>= (LEFTARG = crm.email, RIGHTARG = crm.email, FUNCTION = crm.email_ge, COMMUTATOR = OPERATOR(crm.<=), NEGATOR = OPERATOR(crm.<), RESTRICT = scalargesel, JOIN = scalargejoinsel);

CREATE OPERATOR crm.= (LEFTARG = crm.email, RIGHTARG = text, FUNCTION = crm.email_eq, COMMUTATOR = OPERATOR(crm.=), NEGATOR = OPERATOR(crm.<>), RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES);
CREATE OPERATOR crm.<> (LEFTARG = crm.email, RIGHTARG = text, FUNCTION = crm.email_ne, COMMUTATOR = OPERATOR(crm.<>), NEGATOR = OPERATOR(crm.=), RESTRICT = neqsel, JOIN = neqjoinsel);
CREATE OPERATOR crm.< (LEFTARG = crm.email, RIGHTARG = text, FUNCTION = crm.email_lt, COMMUTATOR = OPERATOR(crm.>), NEGATOR = OPERATOR(crm.>=), RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR crm.<= (LEFTARG = crm.email, RIGHTARG = text, FUNCTION = crm.email_le, COMMUTATOR = OPERATOR(crm.>=), NEGATOR = OPERATOR(crm.>), RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR crm.> (LEFTARG = crm.email, RIGHTARG = text, FUNCTION = crm.email_gt, COMMUTATOR = OPERATOR(crm.<), NEGATOR = OPERATOR(crm.<=), RESTRICT = scalargtsel, JOIN = scalargtjoinsel);
CREATE OPERATOR crm.>= (LEFTARG = crm.email, RIGHTARG = text, FUNCTION = crm.email_ge, COMMUTATOR = OPERATOR(crm.<=), NEGATOR = OPERATOR(crm.<), RESTRICT = scalargesel, JOIN = scalargejoinsel);

CREATE OPERATOR crm.= (LEFTARG = text, RIGHTARG = crm.email, FUNCTION = crm.email_eq, COMMUTATOR = OPERATOR(crm.=), NEGATOR = OPERATOR(crm.<>), RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES);
CREATE OPERATOR crm.<> (LEFTARG = text, RIGHTARG = crm.email, FUNCTION = crm.email_ne, COMMUTATOR = OPERATOR(crm.<>), NEGATOR = OPERATOR(crm.=), RESTRICT = neqsel, JOIN = neqjoinsel);
CREATE OPERATOR crm.< (LEFTARG = text, RIGHTARG = crm.email, FUNCTION = crm.email_lt, COMMUTATOR = OPERATOR(crm.>), NEGATOR = OPERATOR(crm.>=), RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR crm.<= (LEFTARG = text, RIGHTARG = crm.email, FUNCTION = crm.email_le, COMMUTATOR = OPERATOR(crm.>=), NEGATOR = OPERATOR(crm.>), RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR crm.> (LEFTARG = text, RIGHTARG = crm.email, FUNCTION = crm.email_gt, COMMUTATOR = OPERATOR(crm.<), NEGATOR = OPERATOR(crm.<=), RESTRICT = scalargtsel, JOIN = scalargtjoinsel);
CREATE OPERATOR crm.>= (LEFTARG = text, RIGHTARG = crm.email, FUNCTION = crm.email_ge, COMMUTATOR = OPERATOR(crm.<=), NEGATOR = OPERATOR(crm.<), RESTRICT = scalargesel, JOIN = scalargejoinsel);

CREATE OPERATOR FAMILY crm.email_ops USING btree;
CREATE OPERATOR FAMILY crm.email_ops USING hash;
COMMENT ON OPERATOR FAMILY crm.email_ops USING btree IS 'Case-insensitive ordering of crm.email, with cross-type comparison to text.';
COMMENT ON OPERATOR FAMILY crm.email_ops USING hash IS 'Case-insensitive hashing of crm.email, with cross-type equality to text.';

CREATE OPERATOR CLASS crm.email_ops DEFAULT FOR TYPE crm.email USING btree FAMILY crm.email_ops AS
	OPERATOR 1 crm.< , OPERATOR 2 crm.<= , OPERATOR 3 crm.= , OPERATOR 4 crm.>= , OPERATOR 5 crm.> ,
	FUNCTION 1 crm.email_cmp(crm.email, crm.email);
ALTER OPERATOR FAMILY crm.email_ops USING btree ADD
	OPERATOR 1 crm.< (crm.email, text), OPERATOR 2 crm.<= (crm.email, text), OPERATOR 3 crm.= (crm.email, text),
	OPERATOR 4 crm.>= (crm.email, text), OPERATOR 5 crm.> (crm.email, text),
	FUNCTION 1 (crm.email, text) crm.email_cmp(crm.email, text),
	OPERATOR 1 crm.< (text, crm.email), OPERATOR 2 crm.<= (text, crm.email), OPERATOR 3 crm.= (text, crm.email),
	OPERATOR 4 crm.>= (text, crm.email), OPERATOR 5 crm.> (text, crm.email),
	FUNCTION 1 (text, crm.email) crm.email_cmp(text, crm.email);

CREATE OPERATOR CLASS crm.email_ops DEFAULT FOR TYPE crm.email USING hash FAMILY crm.email_ops AS
	OPERATOR 1 crm.= ,
	FUNCTION 1 crm.email_hash(crm.email),
	FUNCTION 2 crm.email_hash_extended(crm.email, bigint);
ALTER OPERATOR FAMILY crm.email_ops USING hash ADD
	OPERATOR 1 crm.= (crm.email, text),
	OPERATOR 1 crm.= (text, crm.email),
	FUNCTION 1 (text) crm.email_hash(text),
	FUNCTION 2 (text) crm.email_hash_extended(text, bigint);

-- Parts of an address.
CREATE FUNCTION crm.email_domain(crm.email) RETURNS text
	AS 'MODULE_PATHNAME', 'email_domain' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
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
CREATE OPERATOR crm.<@ (LEFTARG = crm.email, RIGHTARG = text, FUNCTION = crm.email_in_domain, RESTRICT = eqsel, JOIN = eqjoinsel);
COMMENT ON OPERATOR crm.<@ (crm.email, text) IS 'Address is in domain: email <@ ''example.com''.';

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
CREATE CAST (crm.phone AS text) WITHOUT FUNCTION AS ASSIGNMENT;
CREATE CAST (crm.phone AS varchar) WITHOUT FUNCTION AS ASSIGNMENT;

CREATE FUNCTION crm.phone_cmp(crm.phone, crm.phone) RETURNS integer AS 'MODULE_PATHNAME', 'phone_cmp_fn' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.phone_eq(crm.phone, crm.phone) RETURNS boolean AS 'MODULE_PATHNAME', 'phone_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.phone_ne(crm.phone, crm.phone) RETURNS boolean AS 'MODULE_PATHNAME', 'phone_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.phone_lt(crm.phone, crm.phone) RETURNS boolean AS 'MODULE_PATHNAME', 'phone_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.phone_le(crm.phone, crm.phone) RETURNS boolean AS 'MODULE_PATHNAME', 'phone_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.phone_gt(crm.phone, crm.phone) RETURNS boolean AS 'MODULE_PATHNAME', 'phone_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.phone_ge(crm.phone, crm.phone) RETURNS boolean AS 'MODULE_PATHNAME', 'phone_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.phone_hash(crm.phone) RETURNS integer AS 'MODULE_PATHNAME', 'phone_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.phone_hash_extended(crm.phone, bigint) RETURNS bigint AS 'MODULE_PATHNAME', 'phone_hash_extended' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
DO $$
DECLARE
	f record;
BEGIN
	FOR f IN SELECT p.oid::regprocedure AS sig, p.proname FROM pg_proc p
			  WHERE p.pronamespace = 'crm'::regnamespace
				AND p.proname IN ('phone_cmp', 'phone_eq', 'phone_ne', 'phone_lt', 'phone_le', 'phone_gt', 'phone_ge', 'phone_hash', 'phone_hash_extended')
	LOOP
		EXECUTE format('COMMENT ON FUNCTION %s IS %L', f.sig, 'Comparison support of crm.phone (' || f.proname || ').');
	END LOOP;
END;
$$;

CREATE OPERATOR crm.= (LEFTARG = crm.phone, RIGHTARG = crm.phone, FUNCTION = crm.phone_eq, COMMUTATOR = OPERATOR(crm.=), NEGATOR = OPERATOR(crm.<>), RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES);
CREATE OPERATOR crm.<> (LEFTARG = crm.phone, RIGHTARG = crm.phone, FUNCTION = crm.phone_ne, COMMUTATOR = OPERATOR(crm.<>), NEGATOR = OPERATOR(crm.=), RESTRICT = neqsel, JOIN = neqjoinsel);
CREATE OPERATOR crm.< (LEFTARG = crm.phone, RIGHTARG = crm.phone, FUNCTION = crm.phone_lt, COMMUTATOR = OPERATOR(crm.>), NEGATOR = OPERATOR(crm.>=), RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR crm.<= (LEFTARG = crm.phone, RIGHTARG = crm.phone, FUNCTION = crm.phone_le, COMMUTATOR = OPERATOR(crm.>=), NEGATOR = OPERATOR(crm.>), RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR crm.> (LEFTARG = crm.phone, RIGHTARG = crm.phone, FUNCTION = crm.phone_gt, COMMUTATOR = OPERATOR(crm.<), NEGATOR = OPERATOR(crm.<=), RESTRICT = scalargtsel, JOIN = scalargtjoinsel);
CREATE OPERATOR crm.>= (LEFTARG = crm.phone, RIGHTARG = crm.phone, FUNCTION = crm.phone_ge, COMMUTATOR = OPERATOR(crm.<=), NEGATOR = OPERATOR(crm.<), RESTRICT = scalargesel, JOIN = scalargejoinsel);

CREATE OPERATOR CLASS crm.phone_ops DEFAULT FOR TYPE crm.phone USING btree AS
	OPERATOR 1 crm.< , OPERATOR 2 crm.<= , OPERATOR 3 crm.= , OPERATOR 4 crm.>= , OPERATOR 5 crm.> ,
	FUNCTION 1 crm.phone_cmp(crm.phone, crm.phone);
CREATE OPERATOR CLASS crm.phone_ops DEFAULT FOR TYPE crm.phone USING hash AS
	OPERATOR 1 crm.= ,
	FUNCTION 1 crm.phone_hash(crm.phone),
	FUNCTION 2 crm.phone_hash_extended(crm.phone, bigint);

CREATE FUNCTION crm.phone_format(crm.phone, style text DEFAULT 'international') RETURNS text
	AS 'MODULE_PATHNAME', 'phone_format_fn' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.phone_format(crm.phone, text) IS
	'Formats a number: ''e164'' (+14155550100), ''international'' (+1 415 555 0100) or ''national'' ((415) 555-0100).';
CREATE FUNCTION crm.phone_country(crm.phone) RETURNS text
	AS 'MODULE_PATHNAME', 'phone_country_fn' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.phone_country(crm.phone) IS 'ISO 3166 alpha-2 region of a number (US, CA, GB, ...; 001 for non-geographic numbers).';
CREATE FUNCTION crm.phone_calling_code(crm.phone) RETURNS integer
	AS 'MODULE_PATHNAME', 'phone_calling_code_fn' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.phone_calling_code(crm.phone) IS 'The country calling code of a number (1, 44, 49, ...).';
CREATE FUNCTION crm.phone_extension(crm.phone) RETURNS text
	AS 'MODULE_PATHNAME', 'phone_extension_fn' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.phone_extension(crm.phone) IS 'The extension digits of a number, NULL when it has none.';
