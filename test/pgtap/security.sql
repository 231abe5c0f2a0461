-- Security invariants, from the catalog: every function and trigger added
-- later is held to them without editing this file (ARCHITECTURE §2, §9).
BEGIN;
SELECT plan(9);

CREATE TEMP VIEW crm_fn AS
SELECT p.oid, p.oid::regprocedure::text AS sig, p.proname, p.prosecdef, p.proconfig, p.prosrc, p.prolang,
	   p.prorettype IN ('trigger'::regtype, 'event_trigger'::regtype) AS is_trigger,
	   EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
				WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE') AS public_execute
  FROM pg_proc p WHERE p.pronamespace = 'crm'::regnamespace;

SELECT is_empty($$ SELECT sig FROM crm_fn WHERE is_trigger AND public_execute $$,
				'no trigger or event trigger function of crm is executable by PUBLIC');

SELECT is_empty($$
	SELECT f.sig, r.rolname FROM crm_fn f JOIN crm.role_access a ON true JOIN pg_roles r ON r.oid = a.role::oid
	 WHERE f.is_trigger AND has_function_privilege(r.oid, f.oid, 'EXECUTE')
$$, 'no trigger function is executable by a role crm.grant_access() set up');

SELECT is_empty($$
	SELECT sig FROM crm_fn
	 WHERE prosecdef AND NOT EXISTS (SELECT 1 FROM unnest(proconfig) c WHERE c LIKE 'search\_path=pg\_catalog%')
$$, 'every SECURITY DEFINER function pins search_path, pg_catalog first');

SELECT is_empty($$
	SELECT sig FROM crm_fn
	 WHERE prosecdef AND public_execute AND prolang <> (SELECT l.oid FROM pg_language l WHERE l.lanname = 'c')
	   AND prosrc !~ 'crm\._caller_org\(|crm\.current_org\(\)'
$$, 'every SECURITY DEFINER function PUBLIC may execute checks the caller''s organization itself');

SELECT is_empty($$
	SELECT sig FROM crm_fn WHERE public_execute AND proname ~ '(^|_)lock($|_)'
$$, 'no lock function is executable by PUBLIC');

-- Every crm trigger on a crm table names its logical table in its first
-- argument (on Citus shards the relation name and OID differ): the C
-- triggers that act on their table's rows, and every PL/pgSQL trigger.
SELECT is_empty($$
	SELECT c.relname, t.tgname, t.tgfoid::regproc
	  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid
	 WHERE c.relnamespace = 'crm'::regnamespace AND NOT t.tgisinternal AND p.pronamespace = 'crm'::regnamespace
	   AND (t.tgnargs > 0 OR p.prolang = (SELECT l.oid FROM pg_language l WHERE l.lanname = 'plpgsql')
			OR t.tgfoid IN ('crm.trg_stamp()'::regprocedure, 'crm.trg_audit()'::regprocedure,
							'crm.trg_custom_fields()'::regprocedure, 'crm.trg_no_cycle()'::regprocedure))
	   AND (t.tgnargs < 1 OR split_part(encode(t.tgargs, 'escape'), '\000', 1) <> c.relname::text)
$$, 'every crm trigger that acts on its table, and every PL/pgSQL one, gets its logical table name as first argument');

-- Every PL/pgSQL trigger function begins with crm._trigger_table_ok (the
-- relation is crm's own, the logical name one it works on) and never
-- identifies its table by the relation's own name or OID.
SELECT is_empty($$
	SELECT sig FROM crm_fn
	 WHERE is_trigger AND prolang = (SELECT l.oid FROM pg_language l WHERE l.lanname = 'plpgsql')
	   AND prosrc !~ '^\s*(DECLARE.*?)?BEGIN\s+(PERFORM|\w+\s*:=)\s*crm\._trigger_table_ok\('
$$, 'every PL/pgSQL trigger function of crm calls crm._trigger_table_ok first');
SELECT is_empty($$
	SELECT sig FROM crm_fn
	 WHERE is_trigger AND prosrc ~ 'TG_TABLE_NAME|TG_TABLE_SCHEMA|TG_RELID\s*(<>|=|NOT IN|IN)'
$$, 'no trigger function of crm identifies its table by TG_TABLE_NAME, TG_TABLE_SCHEMA or TG_RELID');

-- No tenant table lacks the stamp and audit triggers it should have.
SELECT is_empty($$
	SELECT r.table_name FROM crm.table_registry r
	 WHERE r.is_audited AND NOT EXISTS (
		SELECT 1 FROM pg_trigger t WHERE t.tgrelid = ('crm.' || quote_ident(r.table_name))::regclass
		   AND t.tgfoid = 'crm.trg_audit()'::regprocedure)
$$, 'every audited table has crm.trg_audit');

SELECT * FROM finish();
ROLLBACK;
