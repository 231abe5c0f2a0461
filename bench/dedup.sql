-- Duplicate detection benchmark: crm.find_duplicates latency and
-- crm.duplicate_pairs throughput on one large tenant, with realistic name
-- frequencies.
--
--   psql -X -v n=1000000 -f bench/dedup.sql DBNAME     (default n = 100000)
--
-- Creates organization "bench dedup <n>" and fills it (once; a rerun reuses
-- it) with :n contacts plus 5 % injected duplicates, fixed seed 0.5:
--   * given names: 5,000 ranks, Zipf-like (weight 1 / (rank + 10)): the most
--     common ~1.5 % of people, like James or Maria; the 60 names of the
--     regression test first, then invented names built from syllables;
--   * family names: 100,000 ranks, weight 1 / (rank + 15): the most common
--     ~1 % (as Smith in the US census), the 300 test names (30 stems x 10
--     endings: Bergson / Bergsen) first, then invented names;
--   * 90 % have a unique email, 90 % a phone, 30 % a mobile;
--   * duplicates: the same email in capitals, the given name's last letter
--     dropped, every fourth one with given and family name swapped.
-- Then it prints, each with a baseline measured in the same run:
--   * blocks: the largest blocking-key values and the number of candidate
--     pairs (sum of n(n-1)/2 over the blocks duplicate_pairs joins);
--   * find_duplicates: median and p99 latency over 1,000 random contacts,
--     next to a plain indexed email lookup of the same contacts;
--   * duplicate_pairs: wall time, pairs found, contacts and candidate pairs
--     per second, next to a plain count(*) of the tenant's contacts.
-- Runs as the current (super)user; the functions filter by organization
-- explicitly, so the numbers are those of the tenant's data.
\if :{?n}
\else
\set n 100000
\endif
\timing off
SET client_min_messages = warning;
SELECT coalesce((SELECT id FROM crm.organization WHERE name = 'bench dedup ' || :'n'),
                crm.create_organization('bench dedup ' || :'n')) AS org \gset
SET crm.organization_id = :'org';
SET crm.restoring = on;		-- bulk load: no rules, no per-row duplicate checks

SELECT count(*) AS existing FROM crm.contact WHERE organization_id = :'org' \gset
\if :existing
\echo reusing :existing contacts of organization :org
\else
SELECT setseed(0.5) \g /dev/null
-- Name of a rank: the test's names first, then two or three syllables.
CREATE FUNCTION pg_temp.invented(r int) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT initcap(s[1 + r % 40] || s[1 + (r / 40) % 40] || CASE WHEN r >= 1600 THEN s[1 + (r / 1600) % 40] ELSE '' END)
	  FROM (SELECT ARRAY['ka','ri','mo','sen','lar','ber','ton','vi','na','dal','gre','hol','mas','pe','du',
	                     'lin','cor','fa','ge','ja','ku','lo','mi','nor','os','pa','ro','sa','tu','ve',
	                     'wen','ya','zo','bri','cha','dre','el','fin','gu','har'] AS s) x
$$;
CREATE TEMP TABLE given AS
SELECT r, CASE WHEN r < 60 THEN (ARRAY['James','Mary','John','Patricia','Robert','Jennifer','Michael','Linda','William','Elizabeth',
              'David','Barbara','Richard','Susan','Joseph','Jessica','Thomas','Sarah','Charles','Karen',
              'Daniel','Nancy','Matthew','Lisa','Anthony','Betty','Mark','Margaret','Paul','Sandra',
              'José','María','François','Zoë','Björn','Łukasz','Søren','Ingrid','Hans','Greta',
              'Wei','Mei','Hiroshi','Yuki','Raj','Priya','Ahmed','Fatima','Ivan','Olga',
              'Luca','Giulia','Pedro','Ana','Kofi','Amara','Sean','Niamh','Lars','Astrid'])[r + 1]
          ELSE pg_temp.invented(r) END AS name
  FROM generate_series(0, 4999) r;
CREATE TEMP TABLE family AS
SELECT r, CASE WHEN r < 300 THEN (ARRAY['Ander','Berg','Carl','Dunn','Eck','Fisch','Gart','Holm','Ivan','Jans',
              'Kell','Lind','Mart','Nord','Ols','Pet','Quinn','Ros','Sand','Thom',
              'Ul','Vik','Wal','Young','Zimm','Brenn','Cald','Dahl','Fern','Gold'])[1 + r % 30]
          || (ARRAY['', 'son', 'er', 'mann', 'ley', 'ström', 'ez', 'ini', 'ski', 'sen'])[1 + r / 30]
          ELSE pg_temp.invented(r + 7) END AS name
  FROM generate_series(0, 99999) r;
CREATE UNIQUE INDEX ON given (r);
CREATE UNIQUE INDEX ON family (r);
-- Zipf-like ranks by the inverse of the CDF of 1 / (rank + q) over m ranks.
INSERT INTO crm.contact (first_name, last_name, email, phone, mobile)
SELECT g.name, f.name,
       CASE WHEN s.r_email >= 0.1 THEN translate(lower(g.name || '.' || f.name), 'áéíóúüöäñçøåłëß', 'aeiouuoancoalea') || '.' || s.i || '@example.test' END,
       CASE WHEN s.r_phone >= 0.1 THEN '+1 (' || s.area || ') ' || (200 + (s.i / 700) % 800) || '-' || lpad((s.i % 10000)::text, 4, '0') END,
       CASE WHEN s.r_mobile < 0.3 THEN '+1 (' || s.area || ') ' || (200 + (s.i / 7) % 800) || '-' || lpad(((s.i * 7) % 10000)::text, 4, '0') END
  FROM (SELECT i,
               least(floor(10 * exp(random() * ln(5010.0 / 10)) - 10), 4999)::int AS gr,
               least(floor(15 * exp(random() * ln(100015.0 / 15)) - 15), 99999)::int AS fr,
               random() AS r_email, random() AS r_phone, random() AS r_mobile,
               CASE WHEN (200 + i % 700) % 100 = 11 THEN 201 + i % 700 ELSE 200 + i % 700 END AS area
          FROM generate_series(1, :n) i
        OFFSET 0) s
  JOIN given g ON g.r = s.gr
  JOIN family f ON f.r = s.fr;
-- 5 % duplicates: the same email in capitals, the given name's last letter
-- dropped; every fourth with given and family name swapped.
INSERT INTO crm.contact (first_name, last_name, email, phone)
SELECT CASE WHEN k % 4 = 0 THEN last_name ELSE left(first_name, -1) END,
       CASE WHEN k % 4 = 0 THEN first_name ELSE last_name END, upper(email::text), phone
  FROM (SELECT c.*, row_number() OVER (ORDER BY c.id) AS k
          FROM crm.contact c WHERE c.organization_id = :'org' AND random() < 0.05) d;
DROP TABLE given, family;
DROP FUNCTION pg_temp.invented(int);
VACUUM ANALYZE crm.contact;
\endif
RESET crm.restoring;

SELECT count(*) AS contacts FROM crm.contact WHERE organization_id = :'org' AND deleted_at IS NULL \gset
\echo contacts: :contacts

-- Blocks: the blocking keys of duplicate_pairs, their sizes, and the number
-- of candidate pairs (a pair sharing two keys counts twice).
CREATE TEMP TABLE block AS
SELECT v.key, count(*) AS n
  FROM crm.contact c CROSS JOIN LATERAL
       (VALUES ('e:' || crm.email_key(c.email::text)), ('n:' || crm.name_key(c.first_name, c.last_name)),
               ('n:' || crm.name_key(c.last_name, c.first_name)),
               ('p:' || crm.phone_key(c.phone::text)), ('p:' || crm.phone_key(c.mobile::text))) v(key)
 WHERE c.organization_id = :'org' AND c.deleted_at IS NULL AND v.key IS NOT NULL
 GROUP BY v.key;
SELECT key AS largest_blocks, n FROM block ORDER BY n DESC, key LIMIT 5;
SELECT count(*) FILTER (WHERE n > crm.dedup_block_limit()) AS blocks_over_limit,
       coalesce(sum(n) FILTER (WHERE n > crm.dedup_block_limit()), 0) AS their_rows,
       sum(n * (n - 1) / 2) FILTER (WHERE n BETWEEN 2 AND crm.dedup_block_limit()) AS candidate_pairs,
       round(avg(n) FILTER (WHERE key LIKE 'n:%'), 1) AS avg_name_block,
       max(n) FILTER (WHERE n <= crm.dedup_block_limit()) AS largest_kept_block
  FROM block \gset
\echo blocks over the limit: :blocks_over_limit (:their_rows rows), candidate pairs: :candidate_pairs, average name block: :avg_name_block, largest kept block: :largest_kept_block

-- find_duplicates latency over 1,000 random contacts; the baseline is a
-- plain lookup of the same contacts by email (contact_email_idx).
CREATE TEMP TABLE probe AS
SELECT id, email FROM crm.contact WHERE organization_id = :'org' AND deleted_at IS NULL AND email IS NOT NULL
 ORDER BY random() LIMIT 1000;
CREATE TEMP TABLE latency (what text, id uuid, ms float8, found int);
DO $$
DECLARE
	r record;
	t0 timestamptz;
	k int;
BEGIN
	FOR r IN SELECT id, email FROM probe LOOP
		t0 := clock_timestamp();
		SELECT count(*) INTO k FROM crm.contact
		 WHERE organization_id = crm.current_org() AND email OPERATOR(pg_catalog.=) r.email AND deleted_at IS NULL;
		INSERT INTO latency VALUES ('email lookup (baseline)', r.id, extract(epoch FROM clock_timestamp() - t0) * 1000, k);
		t0 := clock_timestamp();
		SELECT count(*) INTO k FROM crm.find_duplicates('crm.contact', r.id);
		INSERT INTO latency VALUES ('find_duplicates', r.id, extract(epoch FROM clock_timestamp() - t0) * 1000, k);
	END LOOP;
END;
$$;
SELECT what AS benchmark, count(*) AS calls,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 3) AS median_ms,
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 3) AS p99_ms,
       round(max(ms)::numeric, 3) AS max_ms,
       round(avg(found), 2) AS avg_found
  FROM latency GROUP BY what ORDER BY what;

-- duplicate_pairs throughput: one pass over the tenant; the baseline is a
-- count(*) of the tenant's live contacts.
SELECT clock_timestamp() AS t0 \gset
SELECT count(*) AS ignored FROM crm.contact WHERE organization_id = :'org' AND deleted_at IS NULL \gset
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS count_seconds \gset
SELECT clock_timestamp() AS t0 \gset
SELECT count(*) AS pairs FROM crm.duplicate_pairs('crm.contact') \gset
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS seconds \gset
SELECT 'duplicate_pairs' AS benchmark, :contacts AS contacts, :pairs AS pairs_found,
       round(:seconds::numeric, 2) AS seconds,
       round(:contacts / :seconds::numeric) AS contacts_per_second,
       round(:candidate_pairs / :seconds::numeric) AS candidate_pairs_per_second,
       round(:count_seconds::numeric, 3) AS baseline_count_seconds;
DROP TABLE block, probe, latency;
