-- bench/sql/50_report.sql
-- The result table, as markdown lines: one row per figure with the crm
-- value, the baseline value, what the baseline is, and crm / baseline.

-- A value with its unit, three significant digits for times.
CREATE FUNCTION bench.fmt(v float8, unit text) RETURNS text
LANGUAGE sql IMMUTABLE
AS $$ SELECT CASE
	WHEN v IS NULL THEN '—'
	WHEN unit = 'tps' THEN round(v)::text || ' tps'
	WHEN v >= 100 THEN round(v)::text || ' ' || unit
	WHEN v >= 10 THEN round(v::numeric, 1)::text || ' ' || unit
	WHEN v >= 1 THEN round(v::numeric, 2)::text || ' ' || unit
	ELSE round(v::numeric, 3)::text || ' ' || unit END $$;

CREATE FUNCTION bench.report_rows()
RETURNS TABLE (figure text, crm float8, baseline float8, unit text, baseline_kind text, ratio float8,
			   target_value float8, target_ratio float8, met boolean)
LANGUAGE sql STABLE
AS $$
	SELECT r.label, c.value, b.value, r.unit, r.baseline_kind, c.value / nullif(b.value, 0),
		   r.target_value, r.target_ratio,
		   CASE WHEN r.target_value IS NULL AND r.target_ratio IS NULL THEN NULL
				ELSE coalesce(c.value <= r.target_value, true)
					 AND coalesce(c.value / nullif(b.value, 0) <= r.target_ratio, true) END
	  FROM (SELECT DISTINCT ON (label) label, figure, seq, unit, baseline_kind, target_value, target_ratio
			  FROM bench.result ORDER BY label, seq) r
	  LEFT JOIN bench.result c ON c.label = r.label AND c.side = 'crm'
	  LEFT JOIN bench.result b ON b.label = r.label AND b.side = 'baseline'
	 ORDER BY r.figure, r.seq
$$;

CREATE FUNCTION bench.report() RETURNS SETOF text
LANGUAGE sql STABLE
AS $$
	SELECT '| figure | crm | baseline | baseline kind | ratio |'
	UNION ALL SELECT '| --- | ---: | ---: | --- | ---: |'
	UNION ALL
	SELECT format('| %s%s | %s | %s | %s | %s |',
				  figure,
				  CASE WHEN target_value IS NOT NULL THEN ' (target ' || bench.fmt(target_value, unit) || ')'
					   WHEN target_ratio IS NOT NULL THEN ' (target ≤ ' || target_ratio || '×)' ELSE '' END
				  || CASE WHEN met = false THEN ' **MISSED**' ELSE '' END,
				  bench.fmt(crm, unit), bench.fmt(baseline, unit), baseline_kind,
				  coalesce(round(ratio::numeric, 2)::text || '×', '—'))
	  FROM bench.report_rows()
$$;

-- How cost grows: each read figure's crm median in tenant 1 (BENCH_MID
-- contacts, side 'mid') and in tenant 0 (BENCH_SCALE contacts), and the
-- growth factor; flagged when above 2x (for 10x the data).
CREATE FUNCTION bench.growth_rows()
RETURNS TABLE (figure text, mid float8, big float8, unit text, growth float8)
LANGUAGE sql STABLE
AS $$
	SELECT regexp_replace(b.label, ' \[no parallel query\]$', ''), m.value, b.value, b.unit, b.value / nullif(m.value, 0)
	  FROM bench.result b
	  JOIN bench.result m ON m.side = 'mid'
						 AND regexp_replace(m.label, ' \[no parallel query\]$', '') = regexp_replace(b.label, ' \[no parallel query\]$', '')
	 WHERE b.side = 'crm'
	 ORDER BY b.figure, b.seq
$$;

CREATE FUNCTION bench.growth_report(mid_contacts bigint, big_contacts bigint) RETURNS SETOF text
LANGUAGE sql STABLE
AS $$
	SELECT format('| figure | at %s contacts | at %s contacts | growth (×) |',
				  to_char(mid_contacts, 'FM9,999,999,999'), to_char(big_contacts, 'FM9,999,999,999'))
	UNION ALL SELECT '| --- | ---: | ---: | ---: |'
	UNION ALL
	SELECT format('| %s | %s | %s | %s |', figure, bench.fmt(mid, unit), bench.fmt(big, unit),
				  coalesce(round(growth::numeric, 2)::text || '×', '—') || CASE WHEN growth > 2 THEN ' **> 2×**' ELSE '' END)
	  FROM bench.growth_rows()
$$;
