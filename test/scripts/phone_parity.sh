#!/usr/bin/env bash
# Phone parsing parity with libphonenumber (issue 15).  The oracle is the npm
# package google-libphonenumber (pinned below), installed into .pg/node on
# first use.  test/phone_parity/gen.js writes every example number of its
# metadata for 40 regions in several typed forms (national digits with the
# region, national format, international format, E.164, as dialled from the
# US, Germany and Australia) with what libphonenumber reads each as; crm.phone
# reads the same inputs, and crm.phone_format's national and international
# forms of each number are compared with libphonenumber's.  The test fails
# on any difference that is not
# listed, with its reason, in test/phone_parity/differences.tsv, and on a
# listed difference that no longer occurs.  It prints the parity per form
# and per region.
set -uo pipefail
LPN_VERSION=3.2.47
root=${CRM_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
nodedir=$root/.pg/node
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	echo "FAIL  node and npm are needed (Debian packages nodejs, npm)"; exit 1
fi
if [ "$(cd "$nodedir" 2>/dev/null && node -p "require('google-libphonenumber/package.json').version" 2>/dev/null)" != "$LPN_VERSION" ]; then
	mkdir -p "$nodedir"
	( cd "$nodedir" && npm install --no-audit --no-fund --silent "google-libphonenumber@$LPN_VERSION" ) ||
		{ echo "FAIL  could not install google-libphonenumber@$LPN_VERSION"; exit 1; }
fi

work=$(mktemp -d)
NODE_PATH=$nodedir/node_modules node "$root/test/phone_parity/gen.js" >"$work/cases.tsv" ||
	{ echo "FAIL  gen.js"; exit 1; }
db=crm_phone_parity
psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
psql -X -q -d $db -c "CREATE EXTENSION crm" >/dev/null
grep -v '^#' "$root/test/phone_parity/differences.tsv" | grep -v '^$' >"$work/differences.tsv"
psql -X -q -v ON_ERROR_STOP=1 -d $db >"$work/report.txt" 2>&1 <<SQL
SET client_min_messages = warning;
CREATE TABLE parity_case (region text, type text, form text, input text, default_country text,
						  lib_e164 text, lib_national text, lib_international text);
\copy parity_case FROM '$work/cases.tsv'
CREATE TABLE parity_expected (region text, form text, input text, lib_e164 text, crm_e164 text, reason text);
\copy parity_expected FROM '$work/differences.tsv'
-- crm's reading of an input: the E.164 text, or '-' when it refuses it.
CREATE FUNCTION crm_e164(input text, country text) RETURNS text LANGUAGE plpgsql AS \$\$
BEGIN
	RETURN crm.phone(input, nullif(country, ''))::text;
EXCEPTION WHEN invalid_text_representation THEN
	RETURN '-';
END;
\$\$;
CREATE TABLE reading AS SELECT c.*, crm_e164(input, default_country) AS crm_e164 FROM parity_case c;
-- Every comparison as one row: the E.164 reading of each case, and for each
-- number read alike, its national and international formats.
CREATE TABLE parity AS
SELECT region, form, input, lib_e164, crm_e164 FROM reading
UNION ALL
SELECT DISTINCT region, 'format_national', lib_e164, lib_national, crm.phone_format(crm_e164::crm.phone, 'national')
  FROM reading WHERE crm_e164 = lib_e164 AND lib_e164 <> '-'
UNION ALL
SELECT DISTINCT region, 'format_international', lib_e164, lib_international, crm.phone_format(crm_e164::crm.phone, 'international')
  FROM reading WHERE crm_e164 = lib_e164 AND lib_e164 <> '-';
\pset footer off
\echo parity per form: the E.164 reading of each typed form, and the national and international formats of the numbers read alike
SELECT form, count(*) FILTER (WHERE crm_e164 = lib_e164) AS same, count(*) AS cases,
	   round(100.0 * count(*) FILTER (WHERE crm_e164 = lib_e164) / count(*), 1) AS pct,
	   count(*) FILTER (WHERE crm_e164 <> lib_e164 AND crm_e164 <> '-') AS other_number
  FROM parity GROUP BY ROLLUP (form) ORDER BY form NULLS LAST;
\echo parity per region (regions with a difference)
SELECT region, count(*) FILTER (WHERE crm_e164 = lib_e164) AS same, count(*) AS cases
  FROM parity GROUP BY region HAVING count(*) FILTER (WHERE crm_e164 <> lib_e164) > 0 ORDER BY region;
\echo differences not listed in test/phone_parity/differences.tsv
SELECT region, form, input, lib_e164, crm_e164 FROM parity p
 WHERE crm_e164 <> lib_e164
   AND NOT EXISTS (SELECT 1 FROM parity_expected x WHERE (x.region, x.form, x.input, x.lib_e164, x.crm_e164)
												  = (p.region, p.form, p.input, p.lib_e164, p.crm_e164))
 ORDER BY 1, 2, 3;
\echo listed differences that no longer occur
SELECT region, form, input, lib_e164, crm_e164 FROM parity_expected x
 WHERE NOT EXISTS (SELECT 1 FROM parity p WHERE (x.region, x.form, x.input, x.lib_e164, x.crm_e164)
												  = (p.region, p.form, p.input, p.lib_e164, p.crm_e164))
 ORDER BY 1, 2, 3;
SQL
rc=$?
cat "$work/report.txt"
failed=0
[ $rc = 0 ] || { echo "FAIL  the comparison did not run"; failed=1; }
unlisted=$(psql -X -A -t -q -d $db -c "SELECT count(*) FROM parity p WHERE crm_e164 <> lib_e164 AND NOT EXISTS (SELECT 1 FROM parity_expected x WHERE (x.region, x.form, x.input, x.lib_e164, x.crm_e164) = (p.region, p.form, p.input, p.lib_e164, p.crm_e164))")
stale=$(psql -X -A -t -q -d $db -c "SELECT count(*) FROM parity_expected x WHERE NOT EXISTS (SELECT 1 FROM parity p WHERE (x.region, x.form, x.input, x.lib_e164, x.crm_e164) = (p.region, p.form, p.input, p.lib_e164, p.crm_e164))")
cases=$(psql -X -A -t -q -d $db -c "SELECT count(*) FROM parity")
if [ "${unlisted:-x}" = 0 ]; then echo "PASS  every difference from libphonenumber is listed with its reason"; else echo "FAIL  $unlisted difference(s) not listed"; failed=1; fi
if [ "${stale:-x}" = 0 ]; then echo "PASS  every listed difference still occurs"; else echo "FAIL  $stale listed difference(s) no longer occur"; failed=1; fi
if [ "${cases:-0}" -ge 1000 ]; then echo "PASS  $cases cases compared"; else echo "FAIL  only ${cases:-0} cases"; failed=1; fi
psql -X -q -d postgres -c "DROP DATABASE $db" >/dev/null
rm -rf "$work"
echo "phone_parity: $failed check(s) failed"
[ $failed = 0 ]
