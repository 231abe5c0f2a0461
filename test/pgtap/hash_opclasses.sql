-- Every hash operator family crm defines, found in the catalog (so a type or
-- cross-type member added later is checked without editing this file):
--   * with seed 0, the low 32 bits of the extended hash (support function 2)
--     equal the standard hash (support function 1) -- PostgreSQL's rule for
--     hash operator classes (hash indexes and hash joins mix the two);
--   * values that the family's equality operator calls equal, of the same
--     type or across types, hash equal, with the standard hash and with the
--     extended hash for several seeds.
-- Sample values per type are listed below; a member type without samples
-- fails the first test.
BEGIN;
SELECT plan(6);

SET LOCAL crm.default_country = 'US';

-- crm's hash families and, per family, the types that have support functions.
CREATE TEMP VIEW crm_hash_support AS
SELECT f.oid AS family, f.opfname, p.amproclefttype AS typ,
	   max(p.amproc::oid) FILTER (WHERE p.amprocnum = 1)::regprocedure AS std,
	   max(p.amproc::oid) FILTER (WHERE p.amprocnum = 2)::regprocedure AS ext
  FROM pg_opfamily f
  JOIN pg_am am ON am.oid = f.opfmethod AND am.amname = 'hash'
  JOIN pg_depend d ON d.classid = 'pg_opfamily'::regclass AND d.objid = f.oid
   AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'crm'
  JOIN pg_amproc p ON p.amprocfamily = f.oid
 GROUP BY f.oid, f.opfname, p.amproclefttype;

-- Sample values: equal spellings (case, format), different values, edge
-- cases (empty text, text that is no address or number).
CREATE TEMP TABLE hash_sample (typ regtype, val text);
INSERT INTO hash_sample VALUES
	('crm.email', 'ann@example.com'), ('crm.email', 'Ann@Example.COM'), ('crm.email', 'ANN@EXAMPLE.COM'),
	('crm.email', 'x@y.org'), ('crm.email', 'o''brien+tag@sub.example.co.uk'), ('crm.email', 'Z@Q.IO'),
	('crm.phone', '+14155550100'), ('crm.phone', '+1 (415) 555-0100'), ('crm.phone', '415.555.0100'),
	('crm.phone', '+14155550100;ext=12'), ('crm.phone', '+44 20 7946 0958'), ('crm.phone', '+81 3-1234-5678'),
	('text', 'ann@example.com'), ('text', 'aNN@example.COM'), ('text', 'x@y.org'), ('text', ''),
	('text', 'not an address'), ('text', '+14155550100'), ('text', '(415) 555-0100'),
	('text', '+1 415 555 0100 ext. 12'), ('text', '+442079460958'), ('text', 'garbage 123');

-- The value of a call of a support function on a sample.
CREATE FUNCTION pg_temp.hash_of(fn regprocedure, typ regtype, val text, seed bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	r bigint;
BEGIN
	IF seed IS NULL THEN
		EXECUTE format('SELECT %s(%L::%s)::bigint', fn::oid::regproc, val, typ) INTO r;
	ELSE
		EXECUTE format('SELECT %s(%L::%s, %s)', fn::oid::regproc, val, typ, seed) INTO r;
	END IF;
	RETURN r;
END;
$$;

-- Whether a = b under an equality operator.
CREATE FUNCTION pg_temp.op_equal(op oid, ltyp regtype, a text, rtyp regtype, b text)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	r boolean;
BEGIN
	EXECUTE format('SELECT %L::%s OPERATOR(%I.%s) %L::%s', a, ltyp,
				   (SELECT n.nspname FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace WHERE o.oid = op),
				   (SELECT oprname FROM pg_operator WHERE oid = op), b, rtyp) INTO r;
	RETURN r;
END;
$$;

SELECT cmp_ok((SELECT count(DISTINCT family) FROM crm_hash_support), '>=', 2::bigint,
			  'crm defines hash operator families (crm.email, crm.phone) to check');

SELECT is_empty($$
	SELECT opfname, typ::regtype FROM crm_hash_support s
	 WHERE s.std IS NULL OR s.ext IS NULL
		OR NOT EXISTS (SELECT 1 FROM hash_sample h WHERE h.typ = s.typ)
$$, 'every type of every crm hash family has both support functions and sample values');

SELECT is_empty($$
	SELECT s.opfname, h.typ, h.val, pg_temp.hash_of(s.std, h.typ, h.val) AS std,
		   pg_temp.hash_of(s.ext, h.typ, h.val, 0) AS ext
	  FROM crm_hash_support s JOIN hash_sample h ON h.typ = s.typ
	 WHERE (pg_temp.hash_of(s.std, h.typ, h.val) # pg_temp.hash_of(s.ext, h.typ, h.val, 0)) & 4294967295 <> 0
$$, 'with seed 0 the low 32 bits of the extended hash equal the standard hash, for every sample of every family');

-- Pairs of samples that the family's equality operator calls equal.
CREATE TEMP TABLE equal_pair AS
SELECT s.opfname, o.amopopr AS op, la.typ AS ltyp, la.val AS a, ra.typ AS rtyp, ra.val AS b,
	   sl.std AS lstd, sl.ext AS lext, sr.std AS rstd, sr.ext AS rext
  FROM crm_hash_support s
  JOIN pg_amop o ON o.amopfamily = s.family AND o.amopstrategy = 1 AND o.amoplefttype = s.typ
  JOIN crm_hash_support sl ON sl.family = s.family AND sl.typ = o.amoplefttype
  JOIN crm_hash_support sr ON sr.family = s.family AND sr.typ = o.amoprighttype
  JOIN hash_sample la ON la.typ = o.amoplefttype
  JOIN hash_sample ra ON ra.typ = o.amoprighttype
 WHERE pg_temp.op_equal(o.amopopr, la.typ, la.val, ra.typ, ra.val);

SELECT cmp_ok((SELECT count(*) FROM equal_pair WHERE a <> b), '>=', 10::bigint,
			  'differently spelt equal values exist among the samples (the check below is not vacuous)');

SELECT is_empty($$
	SELECT opfname, ltyp, a, rtyp, b FROM equal_pair
	 WHERE pg_temp.hash_of(lstd, ltyp, a) <> pg_temp.hash_of(rstd, rtyp, b)
$$, 'equal values hash equal under the standard hash, within and across types');

SELECT is_empty($$
	SELECT opfname, ltyp, a, rtyp, b, seed FROM equal_pair, unnest(ARRAY[0, 1, 42, -7]::bigint[]) AS seed
	 WHERE pg_temp.hash_of(lext, ltyp, a, seed) <> pg_temp.hash_of(rext, rtyp, b, seed)
$$, 'equal values hash equal under the extended hash (seeds 0, 1, 42, -7), within and across types');

SELECT * FROM finish();
ROLLBACK;
