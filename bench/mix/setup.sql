-- bench/mix/setup.sql — the data the OLTP mix needs beyond bench.generate()'s
-- tables, for tenant 0 (psql variables: nopp = opportunities, role = the
-- application role).  Run as the superuser after the tenant is loaded; the
-- bare copies get the same rows when schema bare exists.  A feature that
-- adds a transaction to mix.conf adds its data here.

CREATE TABLE bench.mix_setup (opportunities integer NOT NULL);
INSERT INTO bench.mix_setup VALUES (:nopp);

SELECT org AS mix_org, contacts AS mix_n FROM bench.tenant WHERE t = 0 \gset
SET crm.organization_id = :'mix_org';

-- The open stages of the tenant's default pipeline, numbered 1..4 (repeated
-- when there are fewer), with what each implies (the bare side sets it).
CREATE TABLE bench.mix_stage AS
SELECT 0 AS t, p.pos, s.id AS stage_id, s.default_probability AS probability, s.forecast_category
  FROM generate_series(1, 4) p(pos)
  CROSS JOIN LATERAL (
	SELECT st.id, st.default_probability, st.forecast_category
	  FROM crm.pipeline_stage st JOIN crm.pipeline pl ON pl.organization_id = st.organization_id AND pl.id = st.pipeline_id
	 WHERE st.organization_id = :'mix_org' AND pl.is_default AND NOT st.is_closed
	 ORDER BY st.position
	OFFSET (p.pos - 1) % (SELECT count(*) FROM crm.pipeline_stage st2 JOIN crm.pipeline pl2
								ON pl2.organization_id = st2.organization_id AND pl2.id = st2.pipeline_id
						  WHERE st2.organization_id = :'mix_org' AND pl2.is_default AND NOT st2.is_closed)
	 LIMIT 1) s;

-- Deals: ids bench.gid(0, 7, k, nopp), on every seventh contact (none on a
-- soft-deleted one: crm refuses it), owners among the 50 users, in the
-- first open stage, through crm.opportunity with all its triggers.
INSERT INTO crm.opportunity (id, name, amount, currency, owner_id, close_date, contact_id, account_id)
SELECT bench.gid(0, 7, k, :nopp), 'Deal ' || k, 1000 + (k * 7919) % 90000, 'USD',
	   bench.user_id(0, 1 + k % 50), date '2026-01-01' + (k % 365)::int, c.id, c.account_id
  FROM generate_series(1, :nopp) k
  LEFT JOIN crm.contact c ON c.organization_id = :'mix_org' AND c.id = bench.gid(0, 2, 1 + (k * 7) % :mix_n, :mix_n)
						 AND c.deleted_at IS NULL;

DO $$
BEGIN
	IF to_regnamespace('bare') IS NOT NULL THEN
		CREATE TABLE bare.opportunity (LIKE crm.opportunity INCLUDING ALL);
		ALTER TABLE bare.opportunity ADD CONSTRAINT opportunity_organization_fkey
			FOREIGN KEY (organization_id) REFERENCES crm.organization (id);
		EXECUTE format('INSERT INTO bare.opportunity (%s) SELECT %1$s FROM crm.opportunity WHERE organization_id = %L',
					   (SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
						 WHERE attrelid = 'crm.opportunity'::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''),
					   current_setting('crm.organization_id'));
	END IF;
END;
$$;
RESET crm.organization_id;

SELECT to_regclass('bare.opportunity') IS NOT NULL AS mix_bare \gset
GRANT SELECT ON bench.mix_stage, bench.mix_setup TO :"role";
\if :mix_bare
GRANT SELECT, INSERT, UPDATE ON bare.opportunity TO :"role";
\endif
