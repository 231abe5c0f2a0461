-- bench/sql/20_baseline.sql
-- The baseline: bare copies of the crm tables the benchmark uses, in schema
-- bare.  Same columns, defaults, generated columns, CHECK constraints,
-- indexes and foreign keys (between the bare copies, or to crm.organization);
-- no triggers and no row-level security.  An application on plain
-- PostgreSQL would have exactly this and filter by organization_id itself.

CREATE SCHEMA bare;

-- (bench.make_bare, bench/sql/00_harness.sql; foreign keys to tables the
-- benchmark does not copy, such as territory, are left out: their columns
-- are NULL in the generated data)
SELECT bench.make_bare(bench.entities());
