-- The populated multi-tenant CRM of the dump/restore test (and, frozen as
-- test/upgrade/populate-X.Y.Z.sql at each release, of the upgrade test):
-- three tenants in which every CRM table has rows, all written through the
-- normal path by the non-superuser roles crm_dr_admin and crm_dr_user
-- (created by the caller), plus :contacts bulk contacts.  The per-tenant
-- fill is test/scripts/populate_fill.sql (scripts/release.sh copies it into
-- the frozen file).
--   psql -v contacts=N -f populate.sql DB
\set ON_ERROR_STOP on
CREATE EXTENSION IF NOT EXISTS crm;  -- (the upgrade test creates a released version first)
SELECT crm.grant_access('crm_dr_admin', 'admin');
SELECT crm.grant_access('crm_dr_user', 'user');

CREATE TEMP TABLE tenants AS
SELECT n, crm.create_organization('Tenant ' || n, 'tenant-' || n) AS org FROM generate_series(1, 3) n;
GRANT SELECT ON tenants TO PUBLIC;

-- Everything per tenant is done by the non-superuser roles (the fill is
-- shared with the tenant attack, test/pgtap/attack.sql).
\ir populate_fill.sql
SELECT pg_temp.fill(n, org) FROM tenants ORDER BY n;
-- Bulk: a data set that takes real time to dump and restore (DR_CONTACTS
-- contacts, default 100,000, spread over the tenants with accounts, an
-- activity each, and an update of a fifth of them), written through the
-- public tables with every trigger on.
CREATE FUNCTION pg_temp.bulk(n int, org uuid, contacts int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	accounts uuid[];
BEGIN
	PERFORM set_config('crm.organization_id', org::text, false);
	PERFORM set_config('crm.user_id', (SELECT id::text FROM crm.app_user WHERE organization_id = org ORDER BY id LIMIT 1), false);
	SET ROLE crm_dr_user;
	WITH a AS (
		INSERT INTO crm.account (name, domain, tags)
		SELECT 'Bulk ' || n || '-' || g, 'bulk' || g || '.t' || n || '.example', ARRAY['bulk']
		  FROM generate_series(1, greatest(contacts / 20, 1)) g
		RETURNING id)
	SELECT array_agg(id) INTO accounts FROM a;
	INSERT INTO crm.contact (account_id, first_name, last_name, email, phone, tags)
	SELECT accounts[1 + g % cardinality(accounts)], 'First' || g, 'Last' || g, 'p' || g || '@bulk.t' || n || '.example',
	       ('+1 415 555 ' || lpad((g % 10000)::text, 4, '0'))::crm.phone, ARRAY['bulk']
	  FROM generate_series(1, contacts) g;
	INSERT INTO crm.activity (type, subject, contact_id, activity_at)
	SELECT 'email', 'Newsletter', c.id, c.created_at - interval '1 day'
	  FROM crm.contact c WHERE c.organization_id = org AND c.tags = ARRAY['bulk'];
	UPDATE crm.contact SET title = 'Buyer'
	 WHERE organization_id = org AND tags = ARRAY['bulk'] AND first_name LIKE '%5';
	-- an opportunity per account, a third of them moved on a stage
	INSERT INTO crm.opportunity (name, amount, account_id, close_date)
	SELECT 'Bulk deal ' || g, (g % 97) * 10.5, accounts[g], DATE '2027-01-01' + g % 90
	  FROM generate_series(1, cardinality(accounts)) g;
	UPDATE crm.opportunity SET stage_id = (SELECT id FROM crm.pipeline_stage
											WHERE organization_id = org AND name = 'Qualification')
	 WHERE organization_id = org AND name LIKE 'Bulk deal %' AND amount::int % 3 = 0;
	RESET ROLE;
END;
$$;
SELECT pg_temp.bulk(n, org, :contacts / 3) FROM tenants ORDER BY n;
-- the owner's jobs: retention prune and pipeline snapshot (after the bulk,
-- so that its deals are in the snapshot)
RESET ROLE;
SELECT pg_temp.fill_jobs();
