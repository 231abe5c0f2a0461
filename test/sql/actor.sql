-- The acting user and generated keys, as ORMs and applications meet them.
--  * crm.user_id must be an active crm.app_user of the current organization:
--    another tenant's user, a deactivated or deleted one, or a made-up uuid is
--    refused (it would land in created_by and in the audit log's actor).
--  * An explicit NULL id or organization_id on INSERT gets its default (a
--    new uuid v7, the current organization), as Sequelize and others send it.
\set VERBOSITY terse
SET client_min_messages = warning;

\set org_a 'ac70a0a0-0000-7000-8000-00000000000a'
\set org_b 'ac70b0b0-0000-7000-8000-00000000000b'
INSERT INTO crm.organization (id, name) VALUES (:'org_a', 'Actor A'), (:'org_b', 'Actor B');
DROP ROLE IF EXISTS actor_app;
CREATE ROLE actor_app;
SELECT crm.grant_access('actor_app', 'admin');
SET ROLE actor_app;
SET crm.organization_id = :'org_a';
INSERT INTO crm.app_user (id, name, email) VALUES
	('ac700000-0000-7000-8000-0000000000a1', 'Ann Active', 'ann@actor.example'),
	('ac700000-0000-7000-8000-0000000000a2', 'Ivan Inactive', 'ivan@actor.example'),
	('ac700000-0000-7000-8000-0000000000a3', 'Dora Deleted', 'dora@actor.example');
UPDATE crm.app_user SET is_active = false WHERE id = 'ac700000-0000-7000-8000-0000000000a2';
UPDATE crm.app_user SET deleted_at = now() WHERE id = 'ac700000-0000-7000-8000-0000000000a3';
SET crm.organization_id = :'org_b';
INSERT INTO crm.app_user (id, name, email) VALUES ('ac700000-0000-7000-8000-0000000000b1', 'Bea B', 'bea@actor.example');

-- An active user of the organization: accepted, recorded as creator.
SET crm.organization_id = :'org_a';
SET crm.user_id = 'ac700000-0000-7000-8000-0000000000a1';
INSERT INTO crm.contact (last_name) VALUES ('Stamped') RETURNING created_by = crm.acting_user() AS by_ann;
-- Another tenant's user, a deactivated one, a deleted one, a made-up one:
-- refused, for a write and for crm.acting_user() alike.
SET crm.user_id = 'ac700000-0000-7000-8000-0000000000b1';
INSERT INTO crm.contact (last_name) VALUES ('Forged');
SELECT crm.acting_user();
SET crm.user_id = 'ac700000-0000-7000-8000-0000000000a2';
INSERT INTO crm.contact (last_name) VALUES ('Forged');
SET crm.user_id = 'ac700000-0000-7000-8000-0000000000a3';
UPDATE crm.contact SET title = 'x' WHERE last_name = 'Stamped';
SET crm.user_id = 'ac700000-0000-7000-8000-0000000000ff';
INSERT INTO crm.contact (last_name) VALUES ('Forged');
-- No actor: a system write, created_by stays NULL.
RESET crm.user_id;
INSERT INTO crm.contact (last_name) VALUES ('System') RETURNING created_by IS NULL AS no_actor;
SELECT count(*) AS forged FROM crm.contact WHERE last_name = 'Forged';
-- Changing the tenant within a transaction checks the actor again: Ann
-- is not a user of B.
BEGIN;
SET LOCAL crm.user_id = 'ac700000-0000-7000-8000-0000000000a1';
INSERT INTO crm.contact (last_name) VALUES ('In A');
SET LOCAL crm.organization_id = :'org_b';
INSERT INTO crm.contact (last_name) VALUES ('In B');
ROLLBACK;

-- Explicit NULL keys get their defaults.
SET crm.user_id = 'ac700000-0000-7000-8000-0000000000a1';
INSERT INTO crm.contact (id, organization_id, last_name) VALUES (NULL, NULL, 'Orm')
RETURNING id IS NOT NULL AS has_id, crm.uuid_v7_time(id) IS NOT NULL AS is_v7, organization_id = :'org_a' AS in_a;
INSERT INTO crm.account (id, organization_id, name) VALUES (NULL, NULL, 'Orm Inc')
RETURNING id IS NOT NULL AS has_id, organization_id = :'org_a' AS in_a;
-- ... but an explicit other tenant is still refused by row-level security.
INSERT INTO crm.contact (organization_id, last_name) VALUES (:'org_b', 'Elsewhere');
RESET crm.user_id;
RESET ROLE;

-- Clean up.
DELETE FROM crm.contact WHERE organization_id IN (:'org_a', :'org_b');
DELETE FROM crm.account WHERE organization_id IN (:'org_a', :'org_b');
DELETE FROM crm.app_user WHERE organization_id IN (:'org_a', :'org_b');
DELETE FROM crm.audit_log WHERE organization_id IN (:'org_a', :'org_b');
DELETE FROM crm.organization WHERE id IN (:'org_a', :'org_b');
SELECT crm.revoke_access('actor_app');
DROP ROLE actor_app;
