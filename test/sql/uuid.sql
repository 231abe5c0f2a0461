-- crm.uuid_v7(): RFC 9562 version 7 ids.

-- Version nibble 7 and variant bits 10 on every id.
SELECT bool_and(substr(u::text, 15, 1) = '7') AS version_7,
       bool_and(substr(u::text, 20, 1) IN ('8', '9', 'a', 'b')) AS variant_rfc
  FROM (SELECT crm.uuid_v7() AS u FROM generate_series(1, 10000)) s;

-- The embedded time is the current time (millisecond precision).
SELECT abs(extract(epoch FROM crm.uuid_v7_time(crm.uuid_v7()) - clock_timestamp())) < 2 AS time_is_now;
-- Other versions have no embedded time.
SELECT crm.uuid_v7_time('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11') IS NULL AS v4_has_no_time;

-- Strictly increasing across 100,000 calls in one transaction (most of them
-- inside the same millisecond), and all distinct.
BEGIN;
CREATE TEMP TABLE ids AS
SELECT n, crm.uuid_v7() AS u FROM generate_series(1, 100000) n;
SELECT count(*) AS ids,
       count(DISTINCT u) AS distinct_ids,
       count(*) FILTER (WHERE u <= prev) AS out_of_order
  FROM (SELECT u, lag(u) OVER (ORDER BY n) AS prev FROM ids) s;
-- Many ids shared a millisecond: the counter, not the clock, kept them ordered.
SELECT count(DISTINCT crm.uuid_v7_time(u)) < 100000 AS shared_milliseconds FROM ids;
-- Time order: the embedded time never goes backwards either.
SELECT count(*) FILTER (WHERE t < prev) AS time_backwards
  FROM (SELECT crm.uuid_v7_time(u) AS t, lag(crm.uuid_v7_time(u)) OVER (ORDER BY n) AS prev FROM ids) s;
ROLLBACK;

-- Ids made later sort after ids made earlier, across statements.
SELECT crm.uuid_v7() AS first \gset
SELECT pg_sleep(0.002);
SELECT crm.uuid_v7() > :'first' AS later_sorts_after;

-- It is the default id of every tenant table.
SELECT r.table_name
  FROM crm.table_registry r
  JOIN pg_attribute a ON a.attrelid = ('crm.' || r.table_name)::regclass AND a.attname = 'id'
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE pg_get_expr(d.adbin, d.adrelid) IS DISTINCT FROM 'crm.uuid_v7()';
