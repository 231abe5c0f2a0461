-- Precision and recall of crm.duplicate_pairs on the generated data set of
-- the dedup regression test (test/sql/dedup.sql, section 5), for any seed:
--
--   psql -X -v seed=0.17 -f bench/dedup_quality.sql DBNAME
--
-- Creates a fresh organization ("dedup quality <seed>", its contacts are
-- replaced on a rerun), 2,000 persons and 300 injected duplicates from the
-- same generator as the test, then prints precision and recall at the
-- thresholds 0.75, 0.8, 0.85 and 0.95, recall by kind at 0.75 and 0.85, and the recall of
-- blocking alone (true pairs that share a blocking key under the block
-- limit, whatever their score).  Runs as the current (super)user.
\if :{?seed}
\else
\set seed 0.42
\endif
SET client_min_messages = warning;
SELECT coalesce((SELECT id FROM crm.organization WHERE name = 'dedup quality ' || :'seed'),
                crm.create_organization('dedup quality ' || :'seed')) AS org \gset
DELETE FROM crm.contact WHERE organization_id = :'org';
SET crm.organization_id = :'org';
DROP TABLE IF EXISTS person, dup;
-- One random edit of s: substitution, deletion, insertion or transposition.
CREATE OR REPLACE FUNCTION pg_temp.typo(s text, r1 float8, r2 float8, r3 float8) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE op
		WHEN 0 THEN overlay(s PLACING chr(97 + floor(r3 * 26)::int) FROM pos FOR 1)
		WHEN 1 THEN CASE WHEN length(s) > 2 THEN overlay(s PLACING '' FROM pos FOR 1)
						 ELSE s || chr(97 + floor(r3 * 26)::int) END
		WHEN 2 THEN overlay(s PLACING chr(97 + floor(r3 * 26)::int) FROM pos FOR 0)
		ELSE CASE WHEN pos < length(s) THEN overlay(s PLACING substr(s, pos + 1, 1) || substr(s, pos, 1) FROM pos FOR 2)
				  ELSE overlay(s PLACING chr(97 + floor(r3 * 26)::int) FROM pos FOR 1) END
	END
	FROM (SELECT 1 + floor(r1 * length(s))::int AS pos, floor(r2 * 4)::int AS op) p
$$;
SELECT setseed(:seed) \g /dev/null
CREATE TEMP TABLE person AS
SELECT i, first, last, r_email, r_phone,
       -- ten digits; area code and exchange start with 2-9, the area code
       -- does not end in 11 (a valid North American number, as crm.phone
       -- checks)
       translate(left(n, 1), '01', '89') || replace(substr(n, 2, 2), '11', '12')
       || translate(substr(n, 4, 1), '01', '89') || substr(n, 5) AS num,
       domain
  FROM (SELECT i,
       (ARRAY['James','Mary','John','Patricia','Robert','Jennifer','Michael','Linda','William','Elizabeth',
              'David','Barbara','Richard','Susan','Joseph','Jessica','Thomas','Sarah','Charles','Karen',
              'Daniel','Nancy','Matthew','Lisa','Anthony','Betty','Mark','Margaret','Paul','Sandra',
              'José','María','François','Zoë','Björn','Łukasz','Søren','Ingrid','Hans','Greta',
              'Wei','Mei','Hiroshi','Yuki','Raj','Priya','Ahmed','Fatima','Ivan','Olga',
              'Luca','Giulia','Pedro','Ana','Kofi','Amara','Sean','Niamh','Lars','Astrid'])[1 + floor(random() * 60)::int] AS first,
       (ARRAY['Ander','Berg','Carl','Dunn','Eck','Fisch','Gart','Holm','Ivan','Jans',
              'Kell','Lind','Mart','Nord','Ols','Pet','Quinn','Ros','Sand','Thom',
              'Ul','Vik','Wal','Young','Zimm','Brenn','Cald','Dahl','Fern','Gold'])[1 + floor(random() * 30)::int]
       || (ARRAY['', 'son', 'er', 'mann', 'ley', 'ström', 'ez', 'ini', 'ski', 'sen'])[1 + floor(random() * 10)::int] AS last,
       random() AS r_email, random() AS r_phone,
       (1000000000 + floor(random() * 8999999999)::bigint)::text AS n,
       (ARRAY['gmail.test', 'acme.test', 'globex.test', 'mail.test', 'initech.test'])[1 + floor(random() * 5)::int] AS domain
  FROM generate_series(1, 2000) i
        OFFSET 0) s;
-- 300 distinct persons get a duplicate each.
CREATE TEMP TABLE dup AS
SELECT p.*, floor(random() * 4)::int AS kind, random() AS r1, random() AS r2, random() AS r3, random() AS r4,
       random() AS r5, random() AS r6
  FROM (SELECT * FROM person ORDER BY random() LIMIT 300) p;
-- Ids say who is who: originals ...-9000-<person>, duplicates ...-a000-<person>.
INSERT INTO crm.contact (id, first_name, last_name, email, phone)
SELECT ('00000000-0000-7000-9000-' || lpad(i::text, 12, '0'))::uuid, first, last,
       CASE WHEN r_email >= 0.1 THEN translate(lower(first || '.' || last), 'áéíóúüöäñçøåłëß', 'aeiouuoancoalea') || '.' || i || '@' || domain END,
       CASE WHEN r_phone >= 0.1 THEN format('+1 (%s) %s-%s', substr(num::text, 1, 3), substr(num::text, 4, 3), substr(num::text, 7, 4)) END
  FROM person ORDER BY i;
INSERT INTO crm.contact (id, first_name, last_name, email, phone, description)
SELECT ('00000000-0000-7000-a000-' || lpad(d.i::text, 12, '0'))::uuid,
       CASE d.kind WHEN 0 THEN upper(o.first_name)
                   WHEN 1 THEN CASE WHEN d.r1 < 0.5 THEN pg_temp.typo(o.first_name, d.r2, d.r3, d.r4) ELSE o.first_name END
                   WHEN 2 THEN o.last_name
                   ELSE lower(CASE WHEN d.r1 < 0.5 THEN pg_temp.typo(o.first_name, d.r2, d.r3, d.r4) ELSE o.first_name END) END,
       CASE d.kind WHEN 0 THEN upper(o.last_name)
                   WHEN 1 THEN CASE WHEN d.r1 >= 0.5 THEN pg_temp.typo(o.last_name, d.r2, d.r3, d.r4) ELSE o.last_name END
                   WHEN 2 THEN o.first_name
                   ELSE lower(CASE WHEN d.r1 >= 0.5 THEN pg_temp.typo(o.last_name, d.r2, d.r3, d.r4) ELSE o.last_name END) END,
       CASE WHEN d.r5 < 0.25 THEN upper(o.email::text)
            WHEN d.r5 < 0.5 THEN o.email::text
            WHEN d.r5 < 0.8 THEN NULL
            ELSE 'p' || d.i || '@private.test' END,
       CASE WHEN d.r6 < 0.3 OR o.phone IS NULL THEN NULL
            WHEN d.r6 < 0.65 THEN '+1' || d.num::text
            ELSE format('+1.%s.%s.%s', substr(d.num::text, 1, 3), substr(d.num::text, 4, 3), substr(d.num::text, 7, 4)) END,
       (ARRAY['case', 'typo', 'swapped', 'typo+case'])[d.kind + 1]
  FROM dup d JOIN crm.contact o ON o.organization_id = :'org' AND o.id = ('00000000-0000-7000-9000-' || lpad(d.i::text, 12, '0'))::uuid
 ORDER BY d.i;
ANALYZE crm.contact;
CREATE TEMP TABLE pairs AS SELECT * FROM crm.duplicate_pairs('crm.contact', 0.0);
SELECT :'seed' AS seed, t.threshold, count(p.*) AS found,
       count(p.*) FILTER (WHERE right(p.id_a::text, 12) = right(p.id_b::text, 12)) AS correct,
       round(count(p.*) FILTER (WHERE right(p.id_a::text, 12) = right(p.id_b::text, 12))::numeric / nullif(count(p.*), 0), 3) AS precision,
       round(count(p.*) FILTER (WHERE right(p.id_a::text, 12) = right(p.id_b::text, 12))::numeric / 300, 3) AS recall
  FROM (VALUES (0.75::real), (0.8::real), (0.85::real), (0.95::real)) t(threshold)
  LEFT JOIN pairs p ON p.score >= t.threshold
 GROUP BY t.threshold ORDER BY t.threshold;
SELECT d.description AS kind, count(*) AS injected,
       count(p.id_a) FILTER (WHERE p.score >= 0.75) AS found_075,
       count(p.id_a) FILTER (WHERE p.score >= 0.85) AS found_085,
       count(p.id_a) AS blocked_together
  FROM crm.contact d
  LEFT JOIN pairs p ON p.id_b = d.id AND right(p.id_a::text, 12) = right(d.id::text, 12)
 WHERE d.organization_id = :'org' AND d.id::text LIKE '%-a000-%'
 GROUP BY ROLLUP (d.description) ORDER BY 1;
DROP TABLE pairs, person, dup;
RESET crm.organization_id;
