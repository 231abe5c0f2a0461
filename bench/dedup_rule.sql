-- Cost of a duplicate rule on a bulk insert: one INSERT ... SELECT of :n
-- contacts whose names all share one blocking key (given names Jon, John,
-- Jane, Joan, Juan, Jean, Jan with family names Smith, Smyth, Schmidt: name
-- key S53:J5), each with its own email (no two one edit apart) and phone,
-- into an empty tenant:
--
--   psql -X -v n=20000 -f bench/dedup_rule.sql DBNAME      (default n = 20000)
--
-- With n above crm.dedup_block_limit() (1000) the shared name key proposes
-- no candidates, and the cost is that of the look-ups themselves; with n at
-- the limit every record has n - 1 candidates through that key, the most a
-- record can have through one key (n = 1000 measures that worst case for a
-- rule that looks at name keys).
--
-- The same statement runs with no rule, with a similarity rule (threshold
-- 0.85) that blocks and one that alerts, and with an exact-key rule on
-- email (block); each in its own transaction, rolled back, so every run
-- starts from the same empty tenant.  Prints the time of each, its ratio to
-- the run without a rule, and its error if it failed (the row trigger of
-- crm before the statement trigger ran out of lock table space at 20,000
-- rows: one lock per key).
-- Runs as the current (super)user.
\if :{?n}
\else
\set n 20000
\endif
\timing off
SET client_min_messages = warning;
SELECT coalesce((SELECT id FROM crm.organization WHERE name = 'bench dedup rule'),
                crm.create_organization('bench dedup rule')) AS org \gset
SET crm.organization_id = :'org';
DELETE FROM crm.duplicate_rule WHERE organization_id = :'org';
CREATE TEMP TABLE IF NOT EXISTS rule_timing (run text, ms numeric, error text);
TRUNCATE rule_timing;

-- The bulk insert; returns its time in milliseconds, measured on the
-- server, and its error if it failed.
CREATE OR REPLACE FUNCTION pg_temp.bulk(n int, OUT ms numeric, OUT error text) LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz := clock_timestamp();
BEGIN
	BEGIN
		INSERT INTO crm.contact (first_name, last_name, email, phone)
		SELECT (ARRAY['Jon', 'John', 'Jane', 'Joan', 'Juan', 'Jean', 'Jan'])[1 + i % 7],
			   (ARRAY['Smith', 'Smyth', 'Schmidt'])[1 + (i / 7) % 3],
			   md5(i::text) || '@bulk.test',
			   '+1 (415) ' || (2000000 + i)::text
		  FROM generate_series(1, n) i;
	EXCEPTION WHEN OTHERS THEN
		error := SQLERRM;
	END;
	ms := round(extract(epoch FROM clock_timestamp() - t0)::numeric * 1000, 1);
END;
$$;

-- No rule (twice: the first run warms the cache).
BEGIN;
SELECT ms, coalesce(error, '') AS error FROM pg_temp.bulk(:n) \gset
ROLLBACK;
BEGIN;
SELECT ms, coalesce(error, '') AS error FROM pg_temp.bulk(:n) \gset
SELECT count(*) AS inserted FROM crm.contact WHERE organization_id = :'org';
ROLLBACK;
INSERT INTO rule_timing VALUES ('no rule', :ms, nullif(:'error', ''));

-- A similarity rule, action block, default threshold.
BEGIN;
INSERT INTO crm.duplicate_rule (entity, action) VALUES ('contact', 'block');
SELECT ms, coalesce(error, '') AS error FROM pg_temp.bulk(:n) \gset
ROLLBACK;
INSERT INTO rule_timing VALUES ('block rule (similarity, threshold 0.85)', :ms, nullif(:'error', ''));

-- The same rule with action alert (it also looks up the name keys: see
-- doc/data_quality.md, "Rules").
BEGIN;
INSERT INTO crm.duplicate_rule (entity, action) VALUES ('contact', 'alert');
SELECT ms, coalesce(error, '') AS error FROM pg_temp.bulk(:n) \gset
ROLLBACK;
INSERT INTO rule_timing VALUES ('alert rule (similarity, threshold 0.85)', :ms, nullif(:'error', ''));

-- An exact-key rule: unique email per tenant (where the version has it).
SELECT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'crm.duplicate_rule'::regclass AND attname = 'match_key') AS has_exact \gset
\if :has_exact
BEGIN;
INSERT INTO crm.duplicate_rule (entity, action, match_key) VALUES ('contact', 'block', 'email');
SELECT ms, coalesce(error, '') AS error FROM pg_temp.bulk(:n) \gset
ROLLBACK;
INSERT INTO rule_timing VALUES ('exact rule (email, block)', :ms, nullif(:'error', ''));
\endif

SELECT r.run, :n AS rows, r.ms, round(r.ms / b.ms, 2) AS ratio, current_setting('max_locks_per_transaction') AS max_locks,
       coalesce(r.error, 'ok') AS result
  FROM rule_timing r, (SELECT ms FROM rule_timing WHERE run = 'no rule') b
 ORDER BY r.ms;
RESET crm.organization_id;
