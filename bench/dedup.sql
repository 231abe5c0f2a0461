-- Duplicate detection benchmark: crm.find_duplicates latency and
-- crm.duplicate_pairs throughput on one large tenant.
--
--   psql -X -v n=1000000 -f bench/dedup.sql DBNAME
--
-- Creates organization "bench dedup", fills it with :n contacts (5 % injected
-- duplicates, same generator idea as test/sql/dedup.sql), then reports:
--   * find_duplicates: median and p99 latency over 1,000 random contacts
--   * duplicate_pairs: wall time, pairs found, contacts per second
-- Runs as the current (super)user; the functions filter by organization
-- explicitly, so the numbers are those of the tenant's data.
\if :{?n}
\else
\set n 100000
\endif
\timing off
SET client_min_messages = warning;
SELECT id AS org FROM crm.organization WHERE name = 'bench dedup' \gset
\if :{?org}
\else
SELECT crm.create_organization('bench dedup') AS org \gset
\endif
SET crm.organization_id = :'org';
SET crm.restoring = on;		-- bulk load: no rules, no per-row duplicate checks

SELECT count(*) AS existing FROM crm.contact WHERE organization_id = :'org' \gset
\if :existing
\echo reusing :existing contacts of organization :org
\else
SELECT setseed(0.5);
INSERT INTO crm.contact (first_name, last_name, email, phone)
SELECT f, l,
       CASE WHEN random() >= 0.1 THEN lower(f || '.' || l) || '.' || i || '@example.test' END,
       CASE WHEN random() >= 0.1 THEN '+1 (' || (200 + i % 800) || ') ' || lpad((i % 10000000)::text, 7, '0') END
  FROM (SELECT i,
               (ARRAY['James','Mary','John','Patricia','Robert','Jennifer','Michael','Linda','William','Elizabeth',
                      'David','Barbara','Richard','Susan','Joseph','Jessica','Thomas','Sarah','Charles','Karen',
                      'Wei','Mei','Hiroshi','Yuki','Raj','Priya','Ahmed','Fatima','Ivan','Olga'])[1 + floor(random() * 30)::int] AS f,
               (ARRAY['Ander','Berg','Carl','Dunn','Eck','Fisch','Gart','Holm','Ivan','Jans','Kell','Lind','Mart','Nord','Ols',
                      'Pet','Quinn','Ros','Sand','Thom','Ul','Vik','Wal','Young','Zimm','Brenn','Cald','Dahl','Fern','Gold',
                      'Abb','Bald','Crom','Drex','Ell','Fair','Grim','Hay','Irw','Jess'])[1 + floor(random() * 40)::int]
               || (ARRAY['', 'son', 'er', 'mann', 'ley', 'ström', 'ez', 'ini', 'ski', 'sen', 'field', 'wood', 'ford', 'ton', 'berg',
                         'stein', 'dal', 'holm', 'quist', 'ov'])[1 + floor(random() * 20)::int] AS l
          FROM generate_series(1, :n) i) s;
-- 5 % duplicates: same email in capitals, the given name with its last letter dropped.
INSERT INTO crm.contact (first_name, last_name, email, phone)
SELECT left(first_name, -1), last_name, upper(email), phone
  FROM crm.contact WHERE organization_id = :'org' AND random() < 0.05;
ANALYZE crm.contact;
\endif
RESET crm.restoring;

SELECT count(*) AS contacts FROM crm.contact WHERE organization_id = :'org';

-- find_duplicates latency over 1,000 random contacts.
CREATE TEMP TABLE probe AS
SELECT id FROM crm.contact WHERE organization_id = :'org' ORDER BY random() LIMIT 1000;
CREATE TEMP TABLE latency (id uuid, ms float8, found int);
DO $$
DECLARE
	r record;
	t0 timestamptz;
	k int;
BEGIN
	FOR r IN SELECT id FROM probe LOOP
		t0 := clock_timestamp();
		SELECT count(*) INTO k FROM crm.find_duplicates('crm.contact', r.id);
		INSERT INTO latency VALUES (r.id, extract(epoch FROM clock_timestamp() - t0) * 1000, k);
	END LOOP;
END;
$$;
SELECT 'find_duplicates' AS benchmark, count(*) AS calls,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 3) AS median_ms,
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 3) AS p99_ms,
       round(avg(found), 2) AS avg_candidates
  FROM latency;

-- duplicate_pairs throughput: one pass over the tenant.
SELECT clock_timestamp() AS t0 \gset
SELECT count(*) AS pairs FROM crm.duplicate_pairs('crm.contact') \gset
SELECT 'duplicate_pairs' AS benchmark, :pairs AS pairs,
       round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 2) AS seconds,
       round((SELECT count(*) FROM crm.contact WHERE organization_id = :'org')
             / extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric) AS contacts_per_second;
