-- The DROP guard: DROP EXTENSION crm (and every statement that would drop it
-- along with something else) is refused while any CRM table holds a row,
-- unless a superuser sets crm.allow_drop_with_data = on.
--
-- The regression database is shared with the other tests and must keep its
-- extension, so everything here happens in a database of its own.
\set VERBOSITY default
\set SHOW_CONTEXT never
CREATE DATABASE drop_guard_test;
CREATE ROLE drop_guard_user LOGIN;
CREATE ROLE drop_guard_owner SUPERUSER;
\c drop_guard_test
CREATE EXTENSION crm;

-- A fresh install holds no CRM data (the registries crm.table_registry,
-- crm.verify_check and crm.job are the extension's own, not CRM data):
-- the drop goes through.
DROP EXTENSION crm;
SELECT count(*) AS crm_installed FROM pg_extension WHERE extname = 'crm';

-- Now with data: one organization and an event in its outbox (a table
-- without audit trigger, so that the list of tables below stays exactly
-- these two).
CREATE EXTENSION crm;
SELECT crm.create_organization('Guarded Ltd', 'guarded') AS org \gset
SET crm.organization_id = :'org';
INSERT INTO crm.outbox (event_type, entity) VALUES ('guard.test', 'organization');

-- DROP EXTENSION is refused with 2BP01, naming the tables that hold rows.
DROP EXTENSION crm;
\echo :LAST_ERROR_SQLSTATE
-- ... also when crm is one of several extensions, with IF EXISTS and CASCADE.
DROP EXTENSION IF EXISTS no_such_extension, crm CASCADE;
\echo :LAST_ERROR_SQLSTATE

-- The extension and the data are still there.
SELECT count(*) AS crm_installed FROM pg_extension WHERE extname = 'crm';
SELECT (SELECT count(*) FROM crm.organization) AS organizations,
	   (SELECT count(*) FROM crm.outbox) AS events;

-- Schema crm is a member of the extension, so PostgreSQL itself refuses to
-- drop it (with or without CASCADE): only DROP EXTENSION can.
DROP SCHEMA crm CASCADE;
\echo :LAST_ERROR_SQLSTATE
DROP SCHEMA crm;
\echo :LAST_ERROR_SQLSTATE

-- crm requires plpgsql: DROP EXTENSION plpgsql CASCADE would drop crm.
DROP EXTENSION plpgsql CASCADE;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS plpgsql_installed FROM pg_extension WHERE extname = 'plpgsql';

-- Dropping other things is not the guard's business.
CREATE SCHEMA unrelated;
DROP SCHEMA unrelated CASCADE;
DROP EXTENSION IF EXISTS no_such_extension;

-- TRUNCATE of a CRM table is refused while the table holds rows: it is not
-- audited, and TRUNCATE crm.organization CASCADE would empty every table,
-- the audit log included.
TRUNCATE crm.outbox;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE crm.organization CASCADE;
\echo :LAST_ERROR_SQLSTATE
-- An empty table may be truncated, also one emptied by a DELETE earlier in
-- the same transaction (the DELETE is audited where the table is).
TRUNCATE crm.attachment;
BEGIN;
DELETE FROM crm.outbox;
TRUNCATE crm.outbox;
ROLLBACK;
-- The setting that lifts the DROP guard lifts this one too (superuser only).
BEGIN;
SET LOCAL crm.allow_drop_with_data = on;
TRUNCATE crm.outbox;
SELECT count(*) AS events FROM crm.outbox;
ROLLBACK;
SELECT (SELECT count(*) FROM crm.organization) AS organizations,
	   (SELECT count(*) FROM crm.outbox) AS events;

-- A restore that did not call crm.pre_restore() first is refused at its
-- first row.  pg_dump scripts and pg_restore start with SET row_security =
-- off; a session writing CRM tables that way outside restore mode is one.
SET row_security = off;
INSERT INTO crm.outbox (event_type, entity) VALUES ('guard.restore', 'organization');
\echo :LAST_ERROR_SQLSTATE
COPY crm.organization (name) FROM stdin;
Restored Ltd
\.
\echo :LAST_ERROR_SQLSTATE
RESET row_security;
-- A dump made with --enable-row-security leaves row_security on, but every
-- pg_dump script and pg_restore session also turns check_function_bodies off.
SET check_function_bodies = false;
INSERT INTO crm.outbox (event_type, entity) VALUES ('guard.restore', 'organization');
\echo :LAST_ERROR_SQLSTATE
-- In restore mode the same writes go through.
SET row_security = off;
SELECT crm.pre_restore();
INSERT INTO crm.outbox (event_type, entity) VALUES ('guard.restore', 'organization');
SELECT count(*) AS check_rows FROM crm.post_restore();
RESET row_security;
RESET check_function_bodies;
DELETE FROM crm.outbox WHERE event_type = 'guard.restore';

-- Only a superuser may lift the guard; a CRM user cannot.
SELECT crm.grant_access('drop_guard_user', 'admin');
SET ROLE drop_guard_user;
SET crm.allow_drop_with_data = on;
\echo :LAST_ERROR_SQLSTATE
SHOW crm.allow_drop_with_data;
-- (nor may such a user drop the extension at all)
DROP EXTENSION crm;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT crm.revoke_access('drop_guard_user');

-- The superuser says so explicitly: the drop goes through despite the data.
-- SET LOCAL keeps the permission to this one transaction.
BEGIN;
SET LOCAL crm.allow_drop_with_data = on;
DROP EXTENSION crm;
COMMIT;
SHOW crm.allow_drop_with_data;
SELECT count(*) AS crm_installed FROM pg_extension WHERE extname = 'crm';

-- Rows written earlier in the same transaction count.
CREATE EXTENSION crm;
BEGIN;
SELECT crm.create_organization('Just created') IS NOT NULL AS created;
DROP EXTENSION crm;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- Rows a user added to a catalog the extension fills (crm.pii_column: its
-- built-in rows are not data, rows added for the user's own tables are)
-- count too: the guard asks the same question pg_dump's filter does.
BEGIN;
SELECT count(*) > 0 AS has_builtin_rows FROM crm.pii_column;
INSERT INTO crm.pii_column (schema_name, table_name, column_name, kind) VALUES ('public', 'my_people', 'email', 'email');
DROP EXTENSION crm;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- Rolled back, the CRM is empty again (built-in rows only) and the drop
-- goes through.
DROP EXTENSION crm;
SELECT count(*) AS crm_installed FROM pg_extension WHERE extname = 'crm';

-- DROP OWNED BY the role that owns crm drops the extension: guarded.
SET ROLE drop_guard_owner;
CREATE EXTENSION crm;
RESET ROLE;
SELECT extowner::regrole AS owner FROM pg_extension WHERE extname = 'crm';
SELECT crm.create_organization('Owned Inc') IS NOT NULL AS created;
DROP OWNED BY drop_guard_owner;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS crm_installed FROM pg_extension WHERE extname = 'crm';

-- Lifted for one transaction, DROP OWNED takes the extension and its data.
BEGIN;
SET LOCAL crm.allow_drop_with_data = on;
DROP OWNED BY drop_guard_owner;
COMMIT;
SHOW crm.allow_drop_with_data;
SELECT count(*) AS crm_installed FROM pg_extension WHERE extname = 'crm';

-- With data, under the session setting, DROP EXTENSION takes schema crm
-- with it (the schema is an extension member).
CREATE EXTENSION crm;
SELECT crm.create_organization('Cascade Co') IS NOT NULL AS created;
SET crm.allow_drop_with_data = on;
DROP SCHEMA crm CASCADE;
DROP EXTENSION crm;
RESET crm.allow_drop_with_data;
SELECT count(*) AS crm_installed FROM pg_extension WHERE extname = 'crm';
SELECT count(*) AS crm_schema FROM pg_namespace WHERE nspname = 'crm';

\c contrib_regression
DROP DATABASE drop_guard_test;
DROP ROLE drop_guard_user;
DROP ROLE drop_guard_owner;
-- The shared regression database still has its extension.
SELECT count(*) AS crm_installed FROM pg_extension WHERE extname = 'crm';
