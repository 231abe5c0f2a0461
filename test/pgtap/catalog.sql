-- Structural invariants of the crm schema, checked from the catalog so that
-- every table, key and function added later is held to them automatically.
BEGIN;
SELECT plan(27);

-- The tenant tables: every crm table with an organization_id column.
CREATE TEMP VIEW tenant_tables AS
SELECT c.oid, c.relname
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'crm' AND c.relkind IN ('r', 'p')
   AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'organization_id' AND NOT a.attisdropped);

SELECT cmp_ok((SELECT count(*) FROM tenant_tables), '>=', 13::bigint, 'there are tenant tables to check');

SELECT set_eq($$ SELECT relname::text FROM tenant_tables $$,
			  $$ SELECT table_name::text FROM crm.table_registry $$,
			  'every tenant table is registered in crm.table_registry (and nothing else is)');

SELECT is_empty($$ SELECT t.relname FROM tenant_tables t JOIN pg_class c ON c.oid = t.oid WHERE NOT c.relrowsecurity $$,
				'row-level security is enabled on every tenant table');

SELECT is_empty($$
	SELECT t.relname FROM tenant_tables t
	 WHERE NOT EXISTS (SELECT 1 FROM pg_policy p
						WHERE p.polrelid = t.oid AND p.polname = 'tenant_isolation' AND p.polcmd = '*'
						  AND pg_get_expr(p.polqual, p.polrelid) = '(organization_id = crm.current_org())'
						  AND pg_get_expr(p.polwithcheck, p.polrelid) = '(organization_id = crm.current_org())')
$$, 'every tenant table has the tenant_isolation policy for all commands, USING and WITH CHECK');

SELECT is_empty($$
	SELECT t.relname, p.polname FROM tenant_tables t JOIN pg_policy p ON p.polrelid = t.oid
	 WHERE p.polname <> 'tenant_isolation'
$$, 'no tenant table has another (possibly permissive) policy');

SELECT is_empty($$
	SELECT t.relname FROM tenant_tables t
	 WHERE NOT EXISTS (SELECT 1 FROM pg_constraint k
						WHERE k.conrelid = t.oid AND k.contype = 'p'
						  AND (SELECT attname FROM pg_attribute WHERE attrelid = t.oid AND attnum = k.conkey[1]) = 'organization_id')
$$, 'every tenant table has a primary key beginning with organization_id');

SELECT is_empty($$
	SELECT k.conname FROM pg_constraint k JOIN tenant_tables r ON r.oid = k.confrelid
	 WHERE k.contype = 'f'
	   AND NOT ((SELECT attname FROM pg_attribute WHERE attrelid = k.conrelid AND attnum = k.conkey[1]) = 'organization_id'
			AND (SELECT attname FROM pg_attribute WHERE attrelid = k.confrelid AND attnum = k.confkey[1]) = 'organization_id')
$$, 'every foreign key to a tenant table pairs organization_id with organization_id');

SELECT is_empty($$
	SELECT t.relname FROM tenant_tables t
	 WHERE NOT EXISTS (SELECT 1 FROM pg_constraint k
						WHERE k.conrelid = t.oid AND k.contype = 'f' AND k.confrelid = 'crm.organization'::regclass)
$$, 'every tenant table references crm.organization');

SELECT is_empty($$
	SELECT k.conname FROM pg_constraint k JOIN tenant_tables t ON t.oid = k.conrelid
	 WHERE k.contype = 'f' AND (k.confdeltype IN ('n', 'd') OR k.confupdtype IN ('n', 'd'))
$$, 'no foreign key of a tenant table uses SET NULL or SET DEFAULT (Citus-compatible)');

SELECT is_empty($$
	SELECT i.indexrelid::regclass FROM pg_index i JOIN tenant_tables t ON t.oid = i.indrelid
	 WHERE i.indisunique
	   AND NOT EXISTS (SELECT 1 FROM unnest(i.indkey) k JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k
					    WHERE a.attname = 'organization_id')
$$, 'every unique index of a tenant table includes organization_id');

SELECT is_empty($$
	WITH RECURSIVE edges AS (
		SELECT DISTINCT k.conrelid AS src, k.confrelid AS dst
		  FROM pg_constraint k JOIN tenant_tables a ON a.oid = k.conrelid JOIN tenant_tables b ON b.oid = k.confrelid
		 WHERE k.contype = 'f' AND k.conrelid <> k.confrelid),
	walk(start, cur, depth) AS (
		SELECT src, dst, 1 FROM edges
		UNION ALL
		SELECT w.start, e.dst, w.depth + 1 FROM walk w JOIN edges e ON e.src = w.cur WHERE w.depth < 50 AND w.cur <> w.start)
	SELECT DISTINCT start::regclass FROM walk WHERE cur = start
$$, 'foreign keys between different tenant tables form no cycle (pg_dump can order their data)');

SELECT is_empty($$
	SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE n.nspname = 'crm' AND c.relkind = 'r'
	   AND c.relname NOT IN ('table_registry', 'verify_check', 'job', 'picklist', 'picklist_column', 'event_key')  -- registries (install script content); event_key: a per-install secret, deliberately not dumped
	   AND NOT EXISTS (SELECT 1 FROM pg_extension e WHERE e.extname = 'crm' AND c.oid = ANY (e.extconfig))
$$, 'every crm table holding user data is registered with pg_extension_config_dump (pg_dump includes its rows)');

SELECT is_empty($$
	SELECT c.relname FROM pg_extension e CROSS JOIN LATERAL unnest(e.extconfig) AS x(oid)
	  JOIN pg_class c ON c.oid = x.oid
	 WHERE e.extname = 'crm'
	   AND NOT EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = c.oid AND g.tgname = 'crm_00_data_guard' AND g.tgenabled = 'O'
						  AND g.tgfoid = 'crm.trg_data_guard()'::regprocedure)
$$, 'every table pg_dump saves rows of has the data guard (TRUNCATE, restore without restore mode), enabled');

SELECT is_empty($$
	SELECT t.relname FROM tenant_tables t
	 WHERE EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = t.oid AND a.attname = 'updated_at')
	   AND NOT EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = t.oid AND g.tgname = 'crm_10_stamp' AND g.tgenabled = 'O')
$$, 'every tenant table with updated_at has the stamp trigger, enabled');

SELECT is_empty($$
	SELECT r.table_name FROM crm.table_registry r
	 WHERE r.is_audited
	   AND (SELECT count(*) FROM pg_trigger g
			 WHERE g.tgrelid = ('crm.' || quote_ident(r.table_name))::regclass
			   AND g.tgname LIKE 'crm_90_audit_%' AND g.tgenabled = 'O') <> 3
$$, 'every audited table has its three audit triggers, enabled');

SELECT is_empty($$
	SELECT t.relname FROM tenant_tables t
	 WHERE EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = t.oid AND a.attname = 'custom_fields')
	   AND NOT EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = t.oid AND g.tgname = 'crm_20_custom_fields')
$$, 'every table with custom_fields validates them');

SELECT is_empty($$
	SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE n.nspname = 'crm' AND c.relkind IN ('r', 'v', 'm', 'p') AND obj_description(c.oid, 'pg_class') IS NULL
$$, 'every crm table and view has a comment');

SELECT is_empty($$
	SELECT c.relname || '.' || a.attname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	 WHERE n.nspname = 'crm' AND c.relkind IN ('r', 'v', 'm', 'p') AND col_description(c.oid, a.attnum) IS NULL
$$, 'every column of every crm table and view has a comment');

SELECT is_empty($$
	SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
	 WHERE n.nspname = 'crm' AND obj_description(p.oid, 'pg_proc') IS NULL
$$, 'every crm function has a comment');

SELECT is_empty($$
	SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
	 WHERE n.nspname = 'crm' AND p.prosecdef
	   AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=pg_catalog%')
$$, 'every SECURITY DEFINER function pins search_path starting with pg_catalog');

SELECT is_empty($$
	SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE n.nspname = 'crm' AND c.relkind = 'v'
	   AND NOT coalesce('security_invoker=true' = ANY (c.reloptions), false)
$$, 'every crm view is security_invoker (RLS applies to the caller)');

-- A foreign-key check runs "WHERE organization_id = $1 AND id = $2" with a
-- plan cached per session.  If another full (non-partial) btree index of the
-- referenced table also began with organization_id, a plan made while the
-- table was small could pick it, and every check would then scan the whole
-- tenant (quadratic bulk loads).  So on referenced tenant tables, every other
-- btree index leading with organization_id is partial, and only the primary
-- key can serve the check.  (A unique key that extends the primary key,
-- (organization_id, id, ...) as the target of a composite foreign key, finds
-- the same single row: it is allowed.)
SELECT is_empty($$
	SELECT i.indexrelid::regclass FROM pg_index i
	  JOIN tenant_tables t ON t.oid = i.indrelid
	  JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam
	 WHERE am.amname = 'btree' AND NOT i.indisprimary AND i.indpred IS NULL
	   AND (SELECT attname FROM pg_attribute WHERE attrelid = i.indrelid AND attnum = i.indkey[0]) = 'organization_id'
	   AND NOT (i.indisunique AND i.indnatts > 1
				AND (SELECT attname FROM pg_attribute WHERE attrelid = i.indrelid AND attnum = i.indkey[1]) = 'id')
	   AND EXISTS (SELECT 1 FROM pg_constraint k WHERE k.contype = 'f' AND k.confrelid = i.indrelid)
$$, 'on referenced tenant tables only the primary key (and partial indexes) lead with organization_id, so FK checks always use it');

-- crm_12_live_refs fires on an UPDATE only when it sets one of the columns
-- the trigger acts on (crm._setup_live_refs): its references to
-- soft-deletable tables and its own deleted_at.  A foreign key added after
-- the trigger was made must be in the list: making every trigger again
-- from the foreign keys as they are now changes nothing.
CREATE TEMP TABLE live_refs_before AS
SELECT t.tgrelid::regclass::text AS tbl, pg_get_triggerdef(t.oid) AS def
  FROM pg_trigger t WHERE t.tgname = 'crm_12_live_refs';
SELECT cmp_ok((SELECT count(*) FROM live_refs_before WHERE def LIKE '%UPDATE OF%account_id%'), '>=', 3::bigint,
			  'crm_12_live_refs triggers fire on updates of their references');
SELECT is((SELECT count(*) FROM (SELECT crm._setup_live_refs(tbl::regclass) FROM live_refs_before) x),
		  (SELECT count(*) FROM live_refs_before), 'crm_12_live_refs made again from the foreign keys');
SELECT set_eq($$ SELECT tbl, def FROM live_refs_before $$,
			  $$ SELECT t.tgrelid::regclass::text, pg_get_triggerdef(t.oid) FROM pg_trigger t WHERE t.tgname = 'crm_12_live_refs' $$,
			  'every crm_12_live_refs lists the references of its table as they are now (none stale)');

-- The column lists of crm_12_live_refs and crm_30_stage (UPDATE OF) rely on
-- the BEFORE UPDATE row triggers that run before them writing none of their
-- columns: only these known ones may (crm_10_stamp writes updated_at and
-- updated_by, crm_05_entity the entity; crm_12_live_refs and
-- crm_20_custom_fields write nothing).
SELECT is_empty($$
	SELECT t.tgrelid::regclass, t.tgname FROM pg_trigger t
	  JOIN pg_trigger l ON l.tgrelid = t.tgrelid AND l.tgname IN ('crm_12_live_refs', 'crm_30_stage')
	 WHERE NOT t.tgisinternal AND t.tgtype & 1 = 1 AND t.tgtype & 2 = 2 AND t.tgtype & 16 = 16
	   AND t.tgname < l.tgname
	   AND t.tgname NOT IN ('crm_05_entity', 'crm_10_stamp', 'crm_12_live_refs', 'crm_20_custom_fields')
$$, 'no unknown BEFORE UPDATE row trigger runs before crm_12_live_refs or crm_30_stage');

-- crm_40_track (AFTER, UPDATE OF) relies on no BEFORE UPDATE row trigger of
-- crm.opportunity writing a tracked column, except crm_30_stage, whose
-- columns are in its list.
SELECT is_empty($$
	SELECT t.tgname FROM pg_trigger t
	 WHERE t.tgrelid = 'crm.opportunity'::regclass AND NOT t.tgisinternal
	   AND t.tgtype & 1 = 1 AND t.tgtype & 2 = 2 AND t.tgtype & 16 = 16
	   AND t.tgname NOT IN ('crm_10_stamp', 'crm_12_live_refs', 'crm_20_custom_fields', 'crm_30_stage', 'crm_35_line_guard')
$$, 'no unknown BEFORE UPDATE row trigger on crm.opportunity can change what crm_40_track tracks');

SELECT * FROM finish();
ROLLBACK;
