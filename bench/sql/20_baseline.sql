-- bench/sql/20_baseline.sql
-- The baseline: bare copies of the crm tables the benchmark uses, in schema
-- bare.  Same columns, defaults, generated columns, CHECK constraints,
-- indexes and foreign keys (between the bare copies, or to crm.organization);
-- no triggers and no row-level security.  An application on plain
-- PostgreSQL would have exactly this and filter by organization_id itself.

CREATE SCHEMA bare;

DO $$
DECLARE
	tbls constant text[] := bench.entities();
	t text;
	fk record;
BEGIN
	FOREACH t IN ARRAY tbls LOOP
		EXECUTE format('CREATE TABLE bare.%I (LIKE crm.%I INCLUDING ALL)', t, t);
	END LOOP;
	FOREACH t IN ARRAY tbls LOOP
		FOR fk IN
			SELECT c.conname, pg_get_constraintdef(c.oid) AS def, r.relname AS ref
			  FROM pg_constraint c JOIN pg_class r ON r.oid = c.confrelid
			 WHERE c.conrelid = format('crm.%I', t)::regclass AND c.contype = 'f'
			 ORDER BY c.conname
		LOOP
			IF fk.ref = ANY (tbls) THEN
				-- point the copy at the bare copy of the referenced table
				EXECUTE format('ALTER TABLE bare.%I ADD CONSTRAINT %I %s', t, fk.conname,
							   replace(fk.def, 'REFERENCES crm.' || fk.ref || '(', 'REFERENCES bare.' || fk.ref || '('));
			ELSIF fk.ref IN ('organization') THEN
				EXECUTE format('ALTER TABLE bare.%I ADD CONSTRAINT %I %s', t, fk.conname, fk.def);
			END IF;
			-- foreign keys to tables the benchmark does not copy (territory)
			-- are left out: their columns are NULL in the generated data
		END LOOP;
	END LOOP;
END;
$$;
