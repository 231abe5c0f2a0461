-- Criteria benchmark: five representative documents over one large tenant,
-- each compiled (crm.criteria_select) against the equivalent hand-written SQL,
-- and the in-memory evaluator (crm.criteria_match) against the compiled SQL
-- run for one record, in the same run.
--
--   psql -X -v n=1000000 -f bench/criteria.sql DBNAME     (default n = 100000)
--
-- Creates organization "bench criteria <n>" and fills it (once; a rerun
-- reuses it), fixed seed 0.5, loaded in restore mode (no per-row triggers):
--   * n contacts, owners among 50 users, accounts among n / 50 (industries
--     "Industry 0" .. "Industry 29"; 10 % of contacts without an account);
--   * 0-3 tags of 200 ("t0" commonest), custom fields seats (number 1-500)
--     and lifecycle_stage (picklist of 6);
--   * a quarter of the contacts with 1-8 activities of the last 120 days
--     (meeting, call or email).
-- Prints for each document: matches, median wall time of 5 runs of the
-- compiled query (count over crm.criteria_select) and of the hand-written
-- query, and their ratio; then single-record evaluations per second over
-- 2,000 random contacts: crm.criteria_match (parse cache + evaluator + one
-- kept-plan row read) against the compiled statement prepared once and
-- executed per record, and their ratio.
-- Runs as the current (super)user; every query filters by organization
-- explicitly.
\if :{?n}
\else
\set n 100000
\endif
\timing off
SET client_min_messages = warning;
SELECT coalesce((SELECT id FROM crm.organization WHERE name = 'bench criteria ' || :'n'),
                crm.create_organization('bench criteria ' || :'n')) AS org \gset
SET crm.organization_id = :'org';

SELECT count(*) AS existing FROM crm.contact WHERE organization_id = :'org' \gset
\if :existing
\echo reusing :existing contacts of organization :org
\else
SELECT setseed(0.5) \g /dev/null
INSERT INTO crm.custom_field (entity, name, label, field_type, options) VALUES
	('contact', 'seats', 'Seats', 'number', NULL),
	('contact', 'lifecycle_stage', 'Lifecycle stage', 'picklist',
	 '["subscriber", "lead", "mql", "sql", "opportunity", "customer"]');
SET crm.restoring = on;		-- bulk load: no per-row triggers
INSERT INTO crm.app_user (organization_id, id, name, email)
SELECT :'org', ('5b000000-0000-7000-8000-' || lpad(g::text, 12, '0'))::uuid, 'User ' || g, 'user' || g || '@bench.example'
  FROM generate_series(1, 50) g;
INSERT INTO crm.account (organization_id, id, name, industry)
SELECT :'org', ('5b000000-0000-7000-9000-' || lpad(g::text, 12, '0'))::uuid, 'Account ' || g, 'Industry ' || (g % 30)
  FROM generate_series(1, greatest(:n / 50, 1)) g;
INSERT INTO crm.contact (organization_id, first_name, last_name, email, owner_id, account_id, tags, custom_fields, created_at)
SELECT :'org', 'First' || g, 'Last' || g, 'c' || g || '@bench.example',
	   ('5b000000-0000-7000-8000-' || lpad((1 + g % 50)::text, 12, '0'))::uuid,
	   CASE WHEN g % 10 = 0 THEN NULL
			ELSE ('5b000000-0000-7000-9000-' || lpad((1 + g % greatest(:n / 50, 1))::text, 12, '0'))::uuid END,
	   ARRAY(SELECT DISTINCT 't' || floor(200 * random() ^ 2)::int FROM generate_series(1, (g % 4))),
	   jsonb_build_object('seats', 1 + floor(random() * 500)::int,
						  'lifecycle_stage', (ARRAY['subscriber', 'lead', 'mql', 'sql', 'opportunity', 'customer'])[1 + floor(random() * 6)::int]),
	   now() - make_interval(days => g % 1000)
  FROM generate_series(1, :n) g;
INSERT INTO crm.activity (organization_id, type, subject, status, contact_id, activity_at)
SELECT :'org', (ARRAY['meeting', 'call', 'email'])[1 + floor(random() * 3)::int], 'Bench', 'completed', c.id,
	   now() - make_interval(days => floor(random() * 120)::int, hours => 1)
  FROM (SELECT id FROM crm.contact WHERE organization_id = :'org' AND random() < 0.25) c
 CROSS JOIN LATERAL generate_series(1, 1 + floor(random() * 8)::int + (c.id IS NULL)::int) g;
RESET crm.restoring;
ANALYZE crm.contact;
ANALYZE crm.account;
ANALYZE crm.activity;
\endif

-- Median wall time (ms) of 5 runs of a statement (after one warm-up run).
CREATE FUNCTION pg_temp.median_ms(q text) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
	t timestamptz;
	times numeric[] := '{}';
	i int;
BEGIN
	EXECUTE q;
	FOR i IN 1..5 LOOP
		t := clock_timestamp();
		EXECUTE q;
		times := times || (extract(epoch FROM clock_timestamp() - t) * 1000)::numeric;
	END LOOP;
	RETURN (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(times) x);
END $$;

CREATE TEMP TABLE bench_doc (k int, label text, doc jsonb, hand text);
INSERT INTO bench_doc VALUES
	(1, 'tag', '{"field": "tags", "op": "has_any", "value": ["t3"]}',
	 $$SELECT count(*) FROM crm.contact t WHERE t.organization_id = crm.current_org() AND t.deleted_at IS NULL
		 AND t.tags OPERATOR(crm.&&) ARRAY['t3']$$),
	(2, 'owner + stage', '{"all": [{"field": "owner_id", "op": "eq", "value": "5b000000-0000-7000-8000-000000000007"},
								  {"field": "custom_fields.lifecycle_stage", "op": "eq", "value": "customer"}]}',
	 $$SELECT count(*) FROM crm.contact t WHERE t.organization_id = crm.current_org() AND t.deleted_at IS NULL
		 AND t.owner_id = '5b000000-0000-7000-8000-000000000007' AND t.custom_fields ->> 'lifecycle_stage' = 'customer'$$),
	(3, 'custom field', '{"field": "custom_fields.seats", "op": "eq", "value": 42}',
	 $$SELECT count(*) FROM crm.contact t WHERE t.organization_id = crm.current_org() AND t.deleted_at IS NULL
		 AND t.custom_fields OPERATOR(crm.@>) '{"seats": 42}'$$),
	(4, 'account industry', '{"field": "account.industry", "op": "eq", "value": "Industry 7"}',
	 $$SELECT count(*) FROM crm.contact t WHERE t.organization_id = crm.current_org() AND t.deleted_at IS NULL
		 AND t.account_id IN (SELECT a.id FROM crm.account a WHERE a.organization_id = crm.current_org()
								AND a.deleted_at IS NULL AND a.industry = 'Industry 7')$$),
	(5, 'related activity', '{"related": "activity", "at_least": 3, "within_last": "30 days",
							 "where": {"field": "type", "op": "eq", "value": "meeting"}}',
	 $$SELECT count(*) FROM crm.contact t WHERE t.organization_id = crm.current_org() AND t.deleted_at IS NULL
		 AND t.id IN (SELECT r.contact_id FROM crm.activity r WHERE r.organization_id = crm.current_org()
						AND r.deleted_at IS NULL AND r.type = 'meeting' AND r.activity_at >= now() - interval '30 days'
					  GROUP BY r.contact_id HAVING count(*) >= 3)$$);

\echo
\echo Compiled criteria against hand-written SQL (median of 5 runs, ms)
SELECT k, label,
	   (SELECT count(*) FROM crm.criteria_select(doc, 'contact')) AS matches,
	   pg_temp.median_ms(format('SELECT count(*) FROM crm.criteria_select(%L, %L)', doc, 'contact')) AS compiled_ms,
	   pg_temp.median_ms(hand) AS hand_ms
  INTO TEMP bench_set
  FROM bench_doc;
SELECT k, label, matches, compiled_ms, hand_ms, round(compiled_ms / nullif(hand_ms, 0), 2) AS ratio
  FROM bench_set ORDER BY k;

-- Single records: the evaluator (crm.criteria_match) against the compiled
-- statement prepared once and executed per record.
CREATE TEMP TABLE bench_ids AS
SELECT id FROM crm.contact WHERE organization_id = :'org' ORDER BY random() LIMIT 2000;
CREATE FUNCTION pg_temp.per_record(doc jsonb) RETURNS TABLE(evaluator_per_s numeric, sql_per_s numeric, matched bigint, matched_sql bigint)
LANGUAGE plpgsql AS $$
DECLARE
	src text := crm.criteria_sql(doc, 'contact');
	stmt text := split_part(src, E'\n-- ', 1);
	types text[] := ARRAY['uuid'];
	vals text[] := ARRAY[quote_literal(crm.current_org())];
	m text[];
	t timestamptz;
	n bigint := 0;
	r record;
	hit boolean;
	ids uuid[] := ARRAY(SELECT id FROM bench_ids);
	id uuid;
BEGIN
	FOR m IN SELECT regexp_matches(src, E'\n-- \\$\\d+ = (''(?:[^'']|'''')*'')::([^\n]+)', 'g') LOOP
		vals := vals || m[1];
		types := types || m[2];
	END LOOP;
	PERFORM crm.criteria_match(doc, 'contact', ids[1]);		-- warm the cache
	t := clock_timestamp();
	FOREACH id IN ARRAY ids LOOP
		IF crm.criteria_match(doc, 'contact', id) THEN n := n + 1; END IF;
	END LOOP;
	evaluator_per_s := round(cardinality(ids) / extract(epoch FROM clock_timestamp() - t));
	matched := n;
	EXECUTE format('PREPARE bench_one(%s) AS SELECT EXISTS (%s AND t.id = $%s)',
				   array_to_string(types || 'uuid'::text, ', '), stmt, cardinality(types) + 1);
	n := 0;
	t := clock_timestamp();
	FOREACH id IN ARRAY ids LOOP
		EXECUTE format('EXECUTE bench_one(%s, %L)', array_to_string(vals, ', '), id) INTO hit;
		IF hit THEN n := n + 1; END IF;
	END LOOP;
	sql_per_s := round(cardinality(ids) / extract(epoch FROM clock_timestamp() - t));
	matched_sql := n;
	DEALLOCATE bench_one;
	RETURN NEXT;
END $$;
\echo
\echo Single-record evaluations per second (2,000 random contacts)
SELECT k, label, p.evaluator_per_s, p.sql_per_s, round(p.evaluator_per_s / nullif(p.sql_per_s, 0), 1) AS ratio,
	   p.matched = p.matched_sql AS same_answers
  FROM bench_doc, pg_temp.per_record(doc) p ORDER BY k;
