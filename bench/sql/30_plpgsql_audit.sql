-- bench/sql/30_plpgsql_audit.sql
-- Bench only: the audit trigger written in PL/pgSQL instead of C, to show
-- what the C implementation buys.  Same job as crm.trg_audit: an AFTER
-- statement trigger with transition tables writing crm.audit_log, one row
-- per record: INSERT the whole row (non-null columns), UPDATE only the
-- changed columns (old and new), DELETE the whole old row; generated columns
-- (search_vector) are derived data and left out.
--
-- Schema bench_pl holds copies of crm.contact and crm.activity with all of
-- crm's triggers (C stamp, C custom-field validation, ...) and its RLS
-- policy, except that the audit triggers call this function; the benchmark COPYs into them in a
-- transaction it rolls back.

CREATE FUNCTION bench.trg_audit_plpgsql() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
	gen text[] := ARRAY(SELECT attname::text FROM pg_attribute
						 WHERE attrelid = TG_RELID AND attgenerated <> '' AND NOT attisdropped);
BEGIN
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN NULL;
	END IF;
	IF TG_OP = 'INSERT' THEN
		INSERT INTO crm.audit_log (organization_id, table_name, row_id, seq, action, new_values, actor_id)
		SELECT n.organization_id, TG_TABLE_NAME, n.id, coalesce((SELECT max(l.seq) FROM crm.audit_log l WHERE l.organization_id = n.organization_id AND l.table_name = TG_TABLE_NAME AND l.row_id = n.id), 0) + 1,
			   'INSERT', jsonb_strip_nulls(to_jsonb(n) - gen), crm.acting_user()
		  FROM crm_new n;
	ELSIF TG_OP = 'UPDATE' THEN
		INSERT INTO crm.audit_log (organization_id, table_name, row_id, seq, action, old_values, new_values, actor_id)
		SELECT d.organization_id, TG_TABLE_NAME, d.id, coalesce((SELECT max(l.seq) FROM crm.audit_log l WHERE l.organization_id = d.organization_id AND l.table_name = TG_TABLE_NAME AND l.row_id = d.id), 0) + 1,
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
		SELECT o.organization_id, TG_TABLE_NAME, o.id, coalesce((SELECT max(l.seq) FROM crm.audit_log l WHERE l.organization_id = o.organization_id AND l.table_name = TG_TABLE_NAME AND l.row_id = o.id), 0) + 1,
			   'DELETE', jsonb_strip_nulls(to_jsonb(o) - gen), crm.acting_user()
		  FROM crm_old o;
	END IF;
	RETURN NULL;
END;
$$;

CREATE SCHEMA bench_pl;

DO $$
DECLARE
	t text;
	fk record;
	tg record;
BEGIN
	FOREACH t IN ARRAY ARRAY['contact', 'activity'] LOOP
		EXECUTE format('CREATE TABLE bench_pl.%I (LIKE crm.%I INCLUDING ALL)', t, t);
		FOR fk IN
			SELECT c.conname, pg_get_constraintdef(c.oid) AS def
			  FROM pg_constraint c
			 WHERE c.conrelid = format('crm.%I', t)::regclass AND c.contype = 'f'
		LOOP
			EXECUTE format('ALTER TABLE bench_pl.%I ADD CONSTRAINT %I %s', t, fk.conname, fk.def);
		END LOOP;
		EXECUTE format('ALTER TABLE bench_pl.%I ENABLE ROW LEVEL SECURITY', t);
		EXECUTE format('CREATE POLICY tenant_isolation ON bench_pl.%I USING (organization_id = crm.current_org()) '
					   'WITH CHECK (organization_id = crm.current_org())', t);
		-- every trigger crm has on the table, the audit ones calling the
		-- PL/pgSQL function instead of crm.trg_audit(); not the data guard
		-- (one call per statement, and it guards only crm's own tables)
		FOR tg IN
			SELECT pg_get_triggerdef(g.oid) AS def
			  FROM pg_trigger g
			 WHERE g.tgrelid = format('crm.%I', t)::regclass AND NOT g.tgisinternal
			   AND g.tgname <> 'crm_00_data_guard'
			 ORDER BY g.tgname
		LOOP
			EXECUTE replace(replace(tg.def, format(' ON crm.%s ', t), format(' ON bench_pl.%s ', t)),
							'crm.trg_audit()', 'bench.trg_audit_plpgsql()');
		END LOOP;
	END LOOP;
END;
$$;
