-- Cost of crm's quote triggers (numbering, pricing, totals), as ratios to
-- the same writes into bare copies (same columns, generated line amounts
-- and defaults, no triggers, no row-level security) in the same run:
--
--   psql -X -v n=20000 -v q=200 -f bench/quotes.sql DBNAME   (defaults n = 20000 lines, q = 200 quotes)
--
--   quotes      q quotes, one INSERT each (crm: the gap-free number from
--               crm.quote_counter; bare: a sequence)
--   bulk lines  n lines over the q quotes in one INSERT ... SELECT, priced
--               from a price book (crm: one price look-up per line, one
--               totals UPDATE per statement; bare: prices given)
--   row lines   n / 10 lines, one INSERT per line (statement triggers fire
--               per statement: the worst case of the set-based totals)
--   line update every line's quantity changed in one UPDATE
-- Each figure is the median of three runs, each in its own transaction,
-- rolled back.  Runs as the current (super)user.
\if :{?n}
\else
\set n 20000
\endif
\if :{?q}
\else
\set q 200
\endif
\timing off
SET client_min_messages = warning;
SELECT coalesce((SELECT id FROM crm.organization WHERE name = 'bench quotes'),
                crm.create_organization('bench quotes')) AS org \gset
SET crm.organization_id = :'org';
SET crm.allow_drop_with_data = on;
DELETE FROM crm.quote WHERE organization_id = :'org';
DELETE FROM crm.quote_counter WHERE organization_id = :'org';
RESET crm.allow_drop_with_data;
DELETE FROM crm.price_book_entry WHERE organization_id = :'org';
DELETE FROM crm.price_book WHERE organization_id = :'org';
DELETE FROM crm.product WHERE organization_id = :'org';
INSERT INTO crm.product (name, sku, unit_price, tax_rate)
SELECT 'P' || i, 'SKU-' || i, (i % 97) + 0.99, (i % 3) * 7.5 FROM generate_series(1, 100) i;
INSERT INTO crm.price_book (name, kind) VALUES ('Bench standard', 'standard') RETURNING id AS book \gset
INSERT INTO crm.price_book_entry (price_book_id, product_id, unit_price)
SELECT :'book', p.id, p.unit_price * 0.9 FROM crm.product p WHERE p.organization_id = :'org';

DROP TABLE IF EXISTS pg_temp.bare_quote, pg_temp.bare_line;
CREATE TEMP SEQUENCE bare_quote_number;
CREATE TEMP TABLE bare_quote (LIKE crm.quote INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE bare_quote ALTER COLUMN number SET DEFAULT 'Q-' || lpad(nextval('bare_quote_number')::text, 6, '0'),
	ALTER COLUMN currency SET DEFAULT 'USD', ALTER COLUMN organization_id SET DEFAULT NULL;
ALTER TABLE bare_quote ADD PRIMARY KEY (organization_id, id);
CREATE TEMP TABLE bare_line (LIKE crm.quote_line_item INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING CONSTRAINTS);
ALTER TABLE bare_line ALTER COLUMN organization_id SET DEFAULT NULL;
ALTER TABLE bare_line ADD PRIMARY KEY (organization_id, id),
	ADD FOREIGN KEY (organization_id, quote_id) REFERENCES bare_quote (organization_id, id);
CREATE INDEX ON bare_line (organization_id, quote_id, position);
CREATE TEMP TABLE quote_timing (figure text, target text, run int, ms numeric);

-- One timed phase: runs "body" (which sees :org, :n, :q) in a rolled-back
-- subtransaction after "prep", returns its milliseconds.
CREATE OR REPLACE FUNCTION pg_temp.timed(prep text, body text) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz;
	ms numeric;
BEGIN
	BEGIN
		EXECUTE prep;
		t0 := clock_timestamp();
		EXECUTE body;
		ms := round(extract(epoch FROM clock_timestamp() - t0)::numeric * 1000, 1);
		RAISE EXCEPTION 'roll back' USING ERRCODE = 'P0001';
	EXCEPTION WHEN raise_exception THEN
		NULL;
	END;
	RETURN ms;
END;
$$;

-- The statements: {org}, {n}, {q}, {rows} are spliced in; {quote} and
-- {line} name the tables, {extra_cols}/{extra_vals} give the bare copy the
-- prices crm looks up.
CREATE OR REPLACE FUNCTION pg_temp.stmt(tpl text, quote text, line text, bare boolean) RETURNS text LANGUAGE sql AS $$
	SELECT replace(replace(replace(replace(replace(replace(replace(replace(tpl,
		'{org}', current_setting('crm.organization_id')), '{n}', current_setting('bench.n')),
		'{q}', current_setting('bench.q')), '{rows}', (current_setting('bench.n')::int / 10)::text),
		'{quote}', quote), '{line}', line),
		'{extra_cols}', CASE WHEN bare THEN ', list_price, tax_rate' ELSE '' END),
		'{extra_vals}', CASE WHEN bare THEN ', pr.unit_price * 0.9, pr.tax_rate' ELSE '' END)
$$;
SELECT set_config('bench.n', :'n', false), set_config('bench.q', :'q', false) \gset

DO $$
DECLARE
	quotes constant text := $q$DO $b$ BEGIN FOR i IN 1..{q} LOOP
		INSERT INTO {quote} (organization_id, name, quote_date) VALUES ('{org}', 'q' || i, DATE '2027-01-10');
	END LOOP; END $b$ $q$;
	quotes_prep constant text := $q$INSERT INTO {quote} (organization_id, name, quote_date)
		SELECT '{org}', 'q' || i, DATE '2027-01-10' FROM generate_series(1, {q}) i$q$;
	bulk constant text := $q$INSERT INTO {line} (organization_id, quote_id, product_id, quantity, discount_percent, position{extra_cols})
		SELECT '{org}', qq.id, pr.id, 1 + i % 7, (i % 5) * 2.5, i{extra_vals}
		  FROM generate_series(1, {n}) i
		  JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM {quote} WHERE organization_id = '{org}') qq ON qq.k = i % {q}
		  JOIN (SELECT id, unit_price, tax_rate, row_number() OVER (ORDER BY id) - 1 AS k FROM crm.product
				 WHERE organization_id = '{org}') pr ON pr.k = i % 100$q$;
	row_lines constant text := $q$DO $b$ DECLARE
		qs uuid[] := ARRAY(SELECT id FROM {quote} WHERE organization_id = '{org}' ORDER BY id);
		BEGIN FOR i IN 1..{rows} LOOP
			INSERT INTO {line} (organization_id, quote_id, product_id, quantity, position{extra_cols})
			SELECT '{org}', qs[1 + i % {q}], pr.id, 1 + i % 7, i{extra_vals}
			  FROM crm.product pr WHERE pr.organization_id = '{org}' AND pr.sku = 'SKU-' || (1 + i % 100);
		END LOOP; END $b$ $q$;
	upd constant text := $q$UPDATE {line} SET quantity = quantity + 1 WHERE organization_id = '{org}'$q$;
	r int;
	t record;
BEGIN
	FOR r IN 1..3 LOOP
		FOR t IN SELECT * FROM (VALUES ('crm', 'crm.quote', 'crm.quote_line_item', false),
									   ('bare', 'bare_quote', 'bare_line', true)) v(target, qt, lt, bare) LOOP
			INSERT INTO quote_timing VALUES
				('quotes', t.target, r, pg_temp.timed('SELECT 1', pg_temp.stmt(quotes, t.qt, t.lt, t.bare))),
				('bulk lines', t.target, r, pg_temp.timed(pg_temp.stmt(quotes_prep, t.qt, t.lt, t.bare),
														  pg_temp.stmt(bulk, t.qt, t.lt, t.bare))),
				('row lines', t.target, r, pg_temp.timed(pg_temp.stmt(quotes_prep, t.qt, t.lt, t.bare),
														 pg_temp.stmt(row_lines, t.qt, t.lt, t.bare))),
				('line update', t.target, r, pg_temp.timed(pg_temp.stmt(quotes_prep, t.qt, t.lt, t.bare) || '; '
														   || pg_temp.stmt(bulk, t.qt, t.lt, t.bare),
														   pg_temp.stmt(upd, t.qt, t.lt, t.bare)));
		END LOOP;
	END LOOP;
END;
$$;

SELECT c.figure, :n AS lines, :q AS quotes,
	   c.ms AS crm_ms, b.ms AS bare_ms, round(b.ms / c.ms, 2) AS throughput_ratio
  FROM (SELECT figure, percentile_disc(0.5) WITHIN GROUP (ORDER BY ms) AS ms FROM quote_timing WHERE target = 'crm' GROUP BY 1) c
  JOIN (SELECT figure, percentile_disc(0.5) WITHIN GROUP (ORDER BY ms) AS ms FROM quote_timing WHERE target = 'bare' GROUP BY 1) b USING (figure)
 ORDER BY array_position(ARRAY['quotes', 'bulk lines', 'row lines', 'line update'], c.figure);
