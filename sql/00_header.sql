-- crm: a complete CRM inside PostgreSQL.
-- This install script is generated: its sources are the numbered files in sql/.
\echo Use "CREATE EXTENSION crm" to load this file. \quit

-- The extension is registered in pg_catalog (as pg_cron does) and creates its
-- schema here, so that schema crm is itself a member of the extension: a dump
-- then says only CREATE EXTENSION crm (no separate CREATE SCHEMA crm that
-- would collide on restore), and everything crm creates lives in crm.
CREATE SCHEMA crm;
COMMENT ON SCHEMA crm IS 'crm: a complete CRM inside PostgreSQL (tables, functions, types of the crm extension).';
SET LOCAL search_path TO crm, pg_catalog;
