-- ============================================================================
-- 94 live references: the final column lists of crm_12_live_refs.
--
-- crm._setup_tenant_table attaches crm_12_live_refs as soon as a table
-- exists, BEFORE INSERT OR UPDATE OF the references it has then
-- (crm._setup_live_refs, sql/02_machinery.sql).  Later files add foreign
-- keys to earlier tables (the lead's converted opportunity, the
-- opportunity's campaign, ...), so once every table and foreign key exists
-- each trigger is made again with its table's final references.  An
-- upgrade script that adds a tenant foreign key calls
-- crm._setup_live_refs on its table; test/pgtap/live_refs_trigger.sql
-- fails when a list is stale.
-- ============================================================================
SELECT crm._setup_live_refs(t.tgrelid::regclass)
  FROM pg_catalog.pg_trigger t
 WHERE t.tgname = 'crm_12_live_refs'
   AND t.tgrelid IN (SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relnamespace = 'crm'::regnamespace)
 ORDER BY t.tgrelid::regclass::text;
