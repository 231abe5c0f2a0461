-- bench/sql/30_plpgsql_audit.sql
-- Bench only: the audit trigger written in PL/pgSQL instead of C, to show
-- what the C implementation buys.  Same job as crm.trg_audit: an AFTER
-- statement trigger with transition tables writing crm.audit_log, one row
-- per record: INSERT who/when without the row (as crm.trg_audit), UPDATE only the
-- changed columns (old and new), DELETE the whole old row; generated columns
-- (search_vector) are derived data and left out.
--
-- bench.copy_timed_plpgsql_audit() swaps it in for crm.trg_audit() on a crm
-- table (all other crm triggers stay) for one COPY that it rolls back.

CREATE FUNCTION bench.trg_audit_plpgsql() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
	gen text[] := ARRAY(SELECT attname::text FROM pg_attribute
						 WHERE attrelid = TG_RELID AND attgenerated <> '' AND NOT attisdropped);
	-- as text, as the C trigger passes it (with TG_TABLE_NAME, of type name,
	-- a 200,000-row COPY spent its time in the per-row seq look-up, walking
	-- the index: not investigated further; BENCH_PLPGSQL=0 leaves it out)
	tbl text := TG_TABLE_NAME;
BEGIN
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN NULL;
	END IF;
	IF TG_OP = 'INSERT' THEN
		INSERT INTO crm.audit_log (organization_id, table_name, row_id, seq, action, actor_id)
		SELECT n.organization_id, tbl, n.id, coalesce((SELECT max(l.seq) FROM crm.audit_log l WHERE l.organization_id = n.organization_id AND l.table_name = tbl AND l.row_id = n.id), 0) + 1,
			   'INSERT', crm.acting_user()
		  FROM crm_new n;
	ELSIF TG_OP = 'UPDATE' THEN
		INSERT INTO crm.audit_log (organization_id, table_name, row_id, seq, action, old_values, new_values, actor_id)
		SELECT d.organization_id, tbl, d.id, coalesce((SELECT max(l.seq) FROM crm.audit_log l WHERE l.organization_id = d.organization_id AND l.table_name = tbl AND l.row_id = d.id), 0) + 1,
			   'UPDATE', d.o, d.n, crm.acting_user()
		  FROM (SELECT n.organization_id, n.id,
					   (SELECT jsonb_object_agg(oe.key, oe.value) FROM jsonb_each(to_jsonb(o) - gen) oe
						 WHERE oe.value IS DISTINCT FROM (to_jsonb(n) -> oe.key)) AS o,
					   (SELECT jsonb_object_agg(ne.key, ne.value) FROM jsonb_each(to_jsonb(n) - gen) ne
						 WHERE ne.value IS DISTINCT FROM (to_jsonb(o) -> ne.key)) AS n
				  FROM crm_old o JOIN crm_new n ON n.organization_id = o.organization_id AND n.id = o.id) d
		 WHERE d.n IS NOT NULL;
	ELSE
		INSERT INTO crm.audit_log (organization_id, table_name, row_id, seq, action, old_values, actor_id)
		SELECT o.organization_id, tbl, o.id, coalesce((SELECT max(l.seq) FROM crm.audit_log l WHERE l.organization_id = o.organization_id AND l.table_name = tbl AND l.row_id = o.id), 0) + 1,
			   'DELETE', jsonb_strip_nulls(to_jsonb(o) - gen), crm.acting_user()
		  FROM crm_old o;
	END IF;
	RETURN NULL;
END;
$$;

-- COPY a file into a crm table with the PL/pgSQL function in place of
-- crm.trg_audit() for inserts (every other crm trigger as it is), and roll
-- it all back: the trigger swap, the rows and their audit entries.  crm's C
-- triggers run only on crm's own tables, so the variant runs on the table
-- itself, before the measured COPY loads the same rows for good.
CREATE FUNCTION bench.copy_timed_plpgsql_audit(target regclass, cols text, file text) RETURNS float8
LANGUAGE plpgsql
AS $$
DECLARE
	secs float8;
BEGIN
	BEGIN
		EXECUTE format('ALTER TABLE %s DISABLE TRIGGER crm_90_audit_insert', target);
		EXECUTE format('CREATE TRIGGER crm_90_audit_insert_plpgsql AFTER INSERT ON %s '
					   'REFERENCING NEW TABLE AS crm_new FOR EACH STATEMENT EXECUTE FUNCTION bench.trg_audit_plpgsql()', target);
		secs := bench.copy_timed(target, cols, file);
		RAISE EXCEPTION 'bench: roll back' USING ERRCODE = 'BR001';
	EXCEPTION WHEN SQLSTATE 'BR001' THEN
		NULL;
	END;
	RETURN secs;
END;
$$;
