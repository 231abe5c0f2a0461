-- bench/write_refs.sql -- bulk inserts of records that reference other
-- records, crm against bare copies, in backend CPU time (from /proc, which
-- the machine's other load disturbs far less than the wall clock).
--
--   psql -d <a database with CREATE EXTENSION crm, as a superuser> -f bench/write_refs.sql
--
-- One tenant with 50 users, 2,000 accounts and 2,000 contacts; then three
-- rounds, each rolled back: 40,000 contacts (an account and an owner each)
-- and 60,000 activities (a contact, its account and an owner) inserted by one
-- INSERT ... SELECT into crm.contact / crm.activity (every trigger on) and
-- into bare copies (same columns, defaults, generated columns, checks,
-- indexes and foreign keys; no trigger, no row-level security).  Prints the
-- best and the median CPU milliseconds of each.  Run it once per build to
-- compare builds (doc/benchmarks.md, "References looked up once per
-- transaction").
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT crm.create_organization('LR') AS org \gset
SET crm.organization_id = :'org';
INSERT INTO crm.app_user (name, email) SELECT 'u' || g, 'u' || g || '@lr.example' FROM generate_series(1, 50) g;
INSERT INTO crm.account (name) SELECT 'acct ' || g FROM generate_series(1, 2000) g;
CREATE TEMP TABLE accts AS SELECT row_number() OVER (ORDER BY id) AS n, id FROM crm.account;
CREATE TEMP TABLE users AS SELECT row_number() OVER (ORDER BY id) AS n, id FROM crm.app_user;
INSERT INTO crm.contact (first_name, last_name, account_id, owner_id)
SELECT 'f', 'seed' || g, (SELECT id FROM accts WHERE n = 1 + g % 2000), (SELECT id FROM users WHERE n = 1 + g % 50) FROM generate_series(1, 2000) g;
CREATE TEMP TABLE ctcs AS SELECT row_number() OVER (ORDER BY id) AS n, id, account_id FROM crm.contact;
CREATE TEMP TABLE src_c AS SELECT g, (SELECT id FROM accts WHERE n = 1 + g % 2000) AS a, (SELECT id FROM users WHERE n = 1 + g % 50) AS u FROM generate_series(1, 40000) g;
CREATE TEMP TABLE src_a AS SELECT g, c.id AS c, c.account_id AS a, (SELECT id FROM users WHERE n = 1 + g % 50) AS u FROM generate_series(1, 60000) g JOIN ctcs c ON c.n = 1 + g % 2000;
CREATE TABLE bare_contact (LIKE crm.contact INCLUDING ALL);
CREATE TABLE bare_activity (LIKE crm.activity INCLUDING ALL);
DO $$
DECLARE c record;
BEGIN
  FOR c IN SELECT conrelid::regclass AS rel, conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
            WHERE contype = 'f' AND conrelid IN ('crm.contact'::regclass, 'crm.activity'::regclass) LOOP
    EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', CASE WHEN c.rel = 'crm.contact'::regclass THEN 'bare_contact' ELSE 'bare_activity' END, c.conname, c.def);
  END LOOP;
END $$;
CHECKPOINT;
CREATE TEMP TABLE t (what text, round int, ms float8);
CREATE FUNCTION pg_temp.bench_cpu() RETURNS float8 LANGUAGE sql AS $f$
  SELECT ((f[12])::float8 + (f[13])::float8) / 100 FROM (SELECT string_to_array(split_part(pg_read_file('/proc/self/stat'), ') ', 2), ' ') AS f) x $f$;
DO $$
DECLARE r int; t0 float8;
BEGIN
  FOR r IN 1..3 LOOP
    t0 := pg_temp.bench_cpu();
    BEGIN
      INSERT INTO crm.contact (first_name, last_name, account_id, owner_id) SELECT 'f', 'l' || g, a, u FROM src_c;
      RAISE EXCEPTION 'rollback';
    EXCEPTION WHEN raise_exception THEN NULL; END;
    INSERT INTO t VALUES ('contacts 40k', r, (pg_temp.bench_cpu() - t0) * 1000);
    t0 := pg_temp.bench_cpu();
    BEGIN
      INSERT INTO crm.activity (type, subject, contact_id, account_id, owner_id) SELECT 'call', 's' || g, c, a, u FROM src_a;
      RAISE EXCEPTION 'rollback';
    EXCEPTION WHEN raise_exception THEN NULL; END;
    INSERT INTO t VALUES ('activities 60k', r, (pg_temp.bench_cpu() - t0) * 1000);
    t0 := pg_temp.bench_cpu();
    BEGIN
      INSERT INTO bare_contact (first_name, last_name, account_id, owner_id) SELECT 'f', 'l' || g, a, u FROM src_c;
      RAISE EXCEPTION 'rollback';
    EXCEPTION WHEN raise_exception THEN NULL; END;
    INSERT INTO t VALUES ('bare contacts 40k', r, (pg_temp.bench_cpu() - t0) * 1000);
    t0 := pg_temp.bench_cpu();
    BEGIN
      INSERT INTO bare_activity (type, subject, contact_id, account_id, owner_id) SELECT 'call', 's' || g, c, a, u FROM src_a;
      RAISE EXCEPTION 'rollback';
    EXCEPTION WHEN raise_exception THEN NULL; END;
    INSERT INTO t VALUES ('bare activities 60k', r, (pg_temp.bench_cpu() - t0) * 1000);
  END LOOP;
END $$;
SELECT what, round(min(ms)) AS best_ms, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)) AS median_ms FROM t GROUP BY 1 ORDER BY 1;
