-- Tenancy: every tenant table isolates organizations through row-level
-- security and tenant-first keys, and a role granted for some organizations
-- cannot act as another.  The table list comes from crm.table_registry, so a
-- table added later is covered without editing this file.
\set VERBOSITY terse
SET client_min_messages = warning;

-- Two tenants (fixed ids, so that error messages naming them are stable);
-- roles: a shared pool role (any organization) and one role limited to A.
\set org_a '0a0a0a0a-0000-7000-8000-00000000000a'
\set org_b '0b0b0b0b-0000-7000-8000-00000000000b'
INSERT INTO crm.organization (id, name) VALUES (:'org_a', 'Tenancy A'), (:'org_b', 'Tenancy B');
-- crm.create_organization() is the normal way; it returns the new id.
SELECT crm.create_organization('Tenancy C') IS NOT NULL AS created;
DROP ROLE IF EXISTS crm_tenancy_pool;
DROP ROLE IF EXISTS crm_tenancy_a_only;
CREATE ROLE crm_tenancy_pool;
CREATE ROLE crm_tenancy_a_only;
SELECT crm.grant_access('crm_tenancy_pool', 'admin');
SELECT crm.grant_access('crm_tenancy_a_only', 'admin', ARRAY[:'org_a']::uuid[]);

-- Fill every tenant table with rows of tenant B (as the pool role acting for B).
SET ROLE crm_tenancy_pool;
SET crm.organization_id = :'org_b';
INSERT INTO crm.app_user (name, email) VALUES ('Bea', 'bea@b.example') RETURNING id AS user_b \gset
SET crm.user_id = :'user_b';
INSERT INTO crm.team (name, manager_id) VALUES ('B team', :'user_b') RETURNING id AS team_b \gset
INSERT INTO crm.team_member (team_id, user_id) VALUES (:'team_b', :'user_b');
INSERT INTO crm.territory (name) VALUES ('B land') RETURNING id AS terr_b \gset
INSERT INTO crm.account (name, territory_id, owner_id) VALUES ('B corp', :'terr_b', :'user_b') RETURNING id AS acc_b \gset
INSERT INTO crm.contact (account_id, last_name, email) VALUES (:'acc_b', 'Bee', 'bee@b.example') RETURNING id AS con_b \gset
INSERT INTO crm.lead (last_name, company) VALUES ('Lee', 'B lead co') RETURNING id AS lead_b \gset
INSERT INTO crm.activity (type, subject, contact_id) VALUES ('call', 'B call', :'con_b') RETURNING id AS act_b \gset
INSERT INTO crm.note (body, contact_id) VALUES ('B note', :'con_b') RETURNING id AS note_b \gset
INSERT INTO crm.attachment (file_name, size_bytes, storage_key, note_id) VALUES ('b.pdf', 10, 's3://b/b.pdf', :'note_b');
INSERT INTO crm.custom_field (entity, name, label, field_type) VALUES ('contact', 'b_only', 'B only', 'text');
INSERT INTO crm.duplicate_rule (entity, action) VALUES ('contact', 'allow');
INSERT INTO crm.criteria_tenant_field (entity, name, column_name, json_key, type) VALUES ('contact', 'b_field', 'custom_fields', 'b', 'text');
-- B was inserted directly, so it has no seeded pipeline: make one
INSERT INTO crm.pipeline (name, is_default) VALUES ('B sales', true) RETURNING id AS pipe_b \gset
INSERT INTO crm.pipeline_stage (pipeline_id, name, position, default_probability) VALUES (:'pipe_b', 'B open', 1, 10);
-- the opportunity's triggers write its stage history and roll-up rows
INSERT INTO crm.opportunity (name, amount, account_id) VALUES ('B deal', 100, :'acc_b') RETURNING id AS opp_b \gset
INSERT INTO crm.opportunity_contact (opportunity_id, contact_id, is_primary) VALUES (:'opp_b', :'con_b', true);
-- products, a deal line, a quote with a line, sent (a version, a counter)
INSERT INTO crm.product (name, sku, unit_price) VALUES ('B widget', 'BW', 5) RETURNING id AS prod_b \gset
INSERT INTO crm.price_book (name, kind) VALUES ('B standard', 'standard') RETURNING id AS book_b \gset
INSERT INTO crm.price_book_entry (price_book_id, product_id, unit_price) VALUES (:'book_b', :'prod_b', 4);
INSERT INTO crm.opportunity_line_item (opportunity_id, product_id, quantity) VALUES (:'opp_b', :'prod_b', 2);
INSERT INTO crm.quote (name, opportunity_id) VALUES ('B quote', :'opp_b') RETURNING id AS quote_b \gset
INSERT INTO crm.quote_line_item (quote_id, product_id) VALUES (:'quote_b', :'prod_b');
UPDATE crm.quote SET status = 'sent' WHERE id = :'quote_b';
SELECT crm.emit('test.event', 'crm.contact', :'con_b', '{"x": 1}') IS NOT NULL AS emitted;
-- an erasure record (crm.erasure_log is written only by crm.subject_erase)
INSERT INTO crm.lead (last_name, email) VALUES ('Gone', 'gone@b.example');
SELECT (crm.subject_erase('gone@b.example', 'tenancy test') -> 'records' ->> 'crm.lead')::int AS erased_leads;
RESET crm.user_id;
RESET ROLE;

-- Every tenant table now has rows of B; the audit log got its rows from the
-- triggers.  A table without rows here means this test needs extending.
CREATE TEMP TABLE b_rows AS
SELECT t.table_name,
       (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM crm.%I WHERE organization_id = %L', t.table_name, :'org_b'), false, true, '')))[1]::text::int AS n
  FROM crm.table_registry t;
SELECT table_name, n > 0 AS has_b_rows FROM b_rows ORDER BY 1;

-- As the pool role acting for A: nothing of B is visible, updatable or
-- deletable, in any table.
SET ROLE crm_tenancy_pool;
SET crm.organization_id = :'org_a';
CREATE TEMP TABLE probe (table_name name, visible bigint, updated bigint, deleted bigint);
DO $$
DECLARE
	t record;
	n_sel bigint; n_upd bigint; n_del bigint;
BEGIN
	-- rows of any other organization (A has rows of its own: the default
	-- picklist values every organization starts with)
	FOR t IN SELECT table_name FROM crm.table_registry ORDER BY 1 LOOP
		EXECUTE format('SELECT count(*) FROM crm.%I WHERE organization_id IS DISTINCT FROM crm.current_org()', t.table_name) INTO n_sel;
		-- a no-op update and a delete of every row the session can see;
		-- -1: not even allowed to try (the audit and erasure logs are append-only)
		BEGIN
			EXECUTE format('WITH u AS (UPDATE crm.%I SET organization_id = organization_id WHERE organization_id IS DISTINCT FROM crm.current_org() RETURNING 1) SELECT count(*) FROM u', t.table_name) INTO n_upd;
		EXCEPTION WHEN insufficient_privilege THEN
			n_upd := -1;
		END;
		BEGIN
			EXECUTE format('WITH d AS (DELETE FROM crm.%I WHERE organization_id IS DISTINCT FROM crm.current_org() RETURNING 1) SELECT count(*) FROM d', t.table_name) INTO n_del;
		EXCEPTION WHEN insufficient_privilege THEN
			n_del := -1;
		END;
		INSERT INTO probe VALUES (t.table_name, n_sel, n_upd, n_del);
	END LOOP;
END;
$$;
SELECT * FROM probe ORDER BY 1;
DROP TABLE probe;
-- The organization table too: A sees only itself.
SELECT count(*) AS orgs_visible, bool_and(id = :'org_a') AS only_own FROM crm.organization;

-- Writing a row for another tenant is refused by the policy's WITH CHECK.
INSERT INTO crm.account (organization_id, name) VALUES (:'org_b', 'sneaky');
-- Referencing another tenant's row is refused by the tenant-first foreign
-- keys: A's contact cannot point at B's account, A's activity not at B's
-- contact, A's account not at B's owner.
INSERT INTO crm.contact (account_id, last_name) VALUES (:'acc_b', 'Cross');
INSERT INTO crm.activity (type, subject, contact_id) VALUES ('call', 'x', :'con_b');
INSERT INTO crm.account (name, owner_id) VALUES ('x', :'user_b');
-- Moving one's own row to another tenant is refused (the id and the
-- organization of a record are fixed for life).
INSERT INTO crm.account (name) VALUES ('A corp') RETURNING id AS acc_a \gset
UPDATE crm.account SET organization_id = :'org_b' WHERE id = :'acc_a';
-- crm functions respect the tenant as well.
SELECT count(*) AS b_hits FROM crm.search('Bee');
SELECT count(*) AS b_history FROM crm.history('crm.contact', :'con_b');
RESET ROLE;

-- B's rows are all still there, untouched by everything A tried.
SELECT b.table_name, b.n AS before,
       (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM crm.%I WHERE organization_id = %L', b.table_name, :'org_b'), false, true, '')))[1]::text::int AS after
  FROM b_rows b
 WHERE b.n <> (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM crm.%I WHERE organization_id = %L', b.table_name, :'org_b'), false, true, '')))[1]::text::int;
SELECT name, updated_at = created_at AS never_updated FROM crm.account WHERE organization_id = :'org_b';

-- A role granted only for A cannot act as B by setting the GUC.
SET ROLE crm_tenancy_a_only;
SET crm.organization_id = :'org_b';
SELECT count(*) FROM crm.contact;
SELECT crm.current_org();
-- ... but works as A.
SET crm.organization_id = :'org_a';
SELECT count(*) AS a_accounts FROM crm.account;
SELECT crm.current_org() = :'org_a' AS is_a;
-- It cannot lift its own restriction either.
SELECT crm.grant_access('crm_tenancy_a_only', 'admin');
UPDATE crm.role_access SET organizations = NULL;
-- Nor create organizations.
SELECT crm.create_organization('Evil');
RESET ROLE;

-- Restricted in either capacity: a superuser session that switches to the
-- restricted role is restricted too; the pool role may act for both.
SET ROLE crm_tenancy_pool;
SET crm.organization_id = :'org_b';
SELECT count(*) > 0 AS pool_sees_b FROM crm.contact;
RESET ROLE;

-- The restriction also holds for the session user: a login role limited to A
-- that switches to an unrestricted role it belongs to stays limited to A.
GRANT crm_tenancy_pool TO crm_tenancy_a_only;
SET SESSION AUTHORIZATION crm_tenancy_a_only;
SET ROLE crm_tenancy_pool;
SET crm.organization_id = :'org_b';
SELECT count(*) FROM crm.contact;
RESET ROLE;
RESET SESSION AUTHORIZATION;
REVOKE crm_tenancy_pool FROM crm_tenancy_a_only;

-- The policy works inside parallel workers too (crm.current_org() is
-- parallel safe and reads the role's restrictions there with the query's
-- snapshot), for restricted and unrestricted roles.
SET force_parallel_mode = on;
SET ROLE crm_tenancy_a_only;
SET crm.organization_id = :'org_a';
SELECT count(*) AS a_accounts_in_worker FROM crm.account;
SET crm.organization_id = :'org_b';
SELECT count(*) FROM crm.account;
RESET ROLE;
SET ROLE crm_tenancy_pool;
SELECT count(*) > 0 AS pool_sees_b_in_worker FROM crm.contact;
RESET ROLE;
RESET force_parallel_mode;

-- Missing or malformed tenant: a clear error, never an empty result.
SET ROLE crm_tenancy_pool;
RESET crm.organization_id;
SELECT count(*) FROM crm.contact;
SET crm.organization_id = '';
SELECT count(*) FROM crm.contact;
SET crm.organization_id = 'not-a-uuid';
SELECT count(*) FROM crm.contact;
SET crm.organization_id = '01234567-89ab-cdef-0123-456789abcdeg';
SELECT count(*) FROM crm.contact;
-- The error leaves earlier work of the transaction intact when caught in a
-- savepoint.
SET crm.organization_id = :'org_a';
BEGIN;
INSERT INTO crm.account (name) VALUES ('kept');
SAVEPOINT s;
SET LOCAL crm.organization_id = 'garbage';
INSERT INTO crm.account (name) VALUES ('lost');
ROLLBACK TO SAVEPOINT s;
SELECT name FROM crm.account WHERE name IN ('kept', 'lost');
COMMIT;
SELECT name FROM crm.account WHERE name IN ('kept', 'lost');
-- A malformed acting user is refused too; an unset one is a system write.
SET crm.user_id = 'nobody';
INSERT INTO crm.account (name) VALUES ('bad actor');
SELECT crm.current_user_id();
RESET crm.user_id;
SELECT crm.current_user_id();
SELECT crm.acting_user() IS NULL AS system_write;
RESET ROLE;

-- grant_access validates its input.
SELECT crm.grant_access('crm_tenancy_pool', 'god');
SELECT crm.grant_access('crm_tenancy_pool', 'user', '{}');
SELECT crm.grant_access('crm_tenancy_pool', 'user', ARRAY['00000000-0000-7000-8000-000000000000']::uuid[]);

-- Levels: readonly cannot write; user cannot hard-delete nor define fields.
DROP ROLE IF EXISTS crm_tenancy_ro;
CREATE ROLE crm_tenancy_ro;
SELECT crm.grant_access('crm_tenancy_ro', 'readonly', ARRAY[:'org_a']::uuid[]);
SELECT crm.grant_access('crm_tenancy_pool', 'user');
SET ROLE crm_tenancy_ro;
SET crm.organization_id = :'org_a';
SELECT count(*) >= 1 AS ro_reads FROM crm.account;
INSERT INTO crm.account (name) VALUES ('ro write');
RESET ROLE;
SET ROLE crm_tenancy_pool;
INSERT INTO crm.account (name) VALUES ('user write') RETURNING name;
UPDATE crm.account SET deleted_at = now() WHERE name = 'user write' RETURNING name, deleted_at IS NOT NULL AS soft_deleted;
DELETE FROM crm.account WHERE name = 'user write';
INSERT INTO crm.custom_field (entity, name, label, field_type) VALUES ('contact', 'x', 'X', 'text');
RESET ROLE;

-- Clean up the roles (their grants first).
SELECT crm.revoke_access('crm_tenancy_pool');
SELECT crm.revoke_access('crm_tenancy_a_only');
SELECT crm.revoke_access('crm_tenancy_ro');
DROP ROLE crm_tenancy_pool;
DROP ROLE crm_tenancy_a_only;
DROP ROLE crm_tenancy_ro;
