-- Errors a user can act on (issue 8, point 11).  For an application role,
-- row-level security makes PostgreSQL withhold the failing row and the key
-- values, so crm adds what is missing: what a check allows, which field a
-- duplicate is about, what to do instead of a refused delete; an unknown
-- organization id is refused at first use.  VERBOSITY default shows the
-- details and hints this is about.
SET client_min_messages = warning;
\set org_a 'e4404040-0000-7000-8000-00000000000a'
INSERT INTO crm.organization (id, name) VALUES (:'org_a', 'Errors A');
DROP ROLE IF EXISTS err_user;
DROP ROLE IF EXISTS err_admin;
CREATE ROLE err_user;
CREATE ROLE err_admin;
SELECT crm.grant_access('err_user', 'user');
SELECT crm.grant_access('err_admin', 'admin');
SET ROLE err_user;
SET crm.organization_id = :'org_a';

-- A value outside a fixed lifecycle: the allowed values.
INSERT INTO crm.lead (last_name, status) VALUES ('Lifecycle', 'maybe');
-- A check that is not a list: the rule itself.
INSERT INTO crm.account (name) VALUES ('  ');

-- A duplicate: which field, never the other record's value.
INSERT INTO crm.account (name) VALUES ('Parent Co') RETURNING id AS parent \gset
RESET ROLE;
INSERT INTO crm.app_user (name, email) VALUES ('Una', 'una@errors.example');
SET ROLE err_admin;
INSERT INTO crm.app_user (name, email) VALUES ('Una Again', 'UNA@errors.example');

-- A user-level role cannot delete: soft delete is the way.
SET ROLE err_user;
INSERT INTO crm.contact (last_name, account_id) VALUES ('Child', :'parent');
DELETE FROM crm.contact WHERE last_name = 'Child';
-- An admin's hard delete of a referenced record: soft-delete or reassign.
SET ROLE err_admin;
DELETE FROM crm.account WHERE id = :'parent';

-- A well-formed but unknown organization id is refused at first use.
SET crm.organization_id = 'e4404040-0000-7000-8000-0000000000ff';
SELECT count(*) FROM crm.contact;
RESET ROLE;

-- Clean up.
SET crm.organization_id = :'org_a';
DELETE FROM crm.contact WHERE organization_id = :'org_a';
DELETE FROM crm.account WHERE organization_id = :'org_a';
DELETE FROM crm.app_user WHERE organization_id = :'org_a';
DELETE FROM crm.audit_log WHERE organization_id = :'org_a';
DELETE FROM crm.organization WHERE id = :'org_a';
SELECT crm.revoke_access('err_user');
SELECT crm.revoke_access('err_admin');
DROP ROLE err_user;
DROP ROLE err_admin;
