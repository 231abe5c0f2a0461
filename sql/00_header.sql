-- crm: a complete CRM inside PostgreSQL.
-- This install script is generated: its sources are the numbered files in sql/.
\echo Use "CREATE EXTENSION crm" to load this file. \quit
