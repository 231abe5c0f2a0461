-- The tenant attack (issue 14, item 8): tenant B's application roles try to
-- reach tenant A's data through every table, view and function of schema
-- crm.  Everything is taken from the catalog, so a table, view or function
-- added later is attacked without editing this file.
--
--   1. Two tenants, the victim A and the attacker B, are filled by the fill
--      the dump/restore test uses (test/scripts/populate_fill.sql), each by
--      its own roles, granted for that tenant only; every tenant table has
--      rows of the victim.
--   2. As B's readonly, user and admin roles (crm.organization_id = B, the
--      session's crm.user_id one of B's users), for every table and view of
--      schema crm: no row shows an id or a value of A's; an UPDATE or DELETE
--      aimed at A's rows and an INSERT of a row into A change nothing of A;
--      switching crm.organization_id to A is refused.
--   3. For every function of schema crm these roles may execute, called
--      with A's ids (each uuid argument gets A's record of the kind its name
--      says, or of the entity the call names; with several uuid arguments
--      also one of A's among B's own), A's names and addresses, each call in
--      a savepoint: it errors, or it returns nothing of A's, and no row of A
--      changed (a checksum of all of A's rows before and after).  The same
--      call with ids that exist nowhere must end the same way (no
--      existence oracle), and an error message names nothing of A's.
--   4. No trigger function, and none of the owner-only internals (audit
--      and erasure writers, locks), is executable by PUBLIC or these roles.
BEGIN;
SELECT plan(18);

-- ---------------------------------------------------------------------------
-- 1. The tenants and their data
-- ---------------------------------------------------------------------------
CREATE ROLE crm_atk_a_admin;
CREATE ROLE crm_atk_a_user;
CREATE ROLE crm_atk_b_admin;
CREATE ROLE crm_atk_b_user;
CREATE ROLE crm_atk_b_ro;
CREATE TEMP TABLE atk_org AS
SELECT crm.create_organization('Victim 71', 'atk-victim-71') AS victim,
	   crm.create_organization('Attacker 82', 'atk-attacker-82') AS attacker;
SELECT crm.grant_access('crm_atk_a_admin', 'admin', ARRAY[victim]) FROM atk_org;
SELECT crm.grant_access('crm_atk_a_user', 'user', ARRAY[victim]) FROM atk_org;
SELECT crm.grant_access('crm_atk_b_admin', 'admin', ARRAY[attacker]) FROM atk_org;
SELECT crm.grant_access('crm_atk_b_user', 'user', ARRAY[attacker]) FROM atk_org;
SELECT crm.grant_access('crm_atk_b_ro', 'readonly', ARRAY[attacker]) FROM atk_org;

\ir ../scripts/populate_fill.sql
SELECT pg_temp.fill(71, victim, 'crm_atk_a_admin', 'crm_atk_a_user') FROM atk_org;
SELECT pg_temp.fill(82, attacker, 'crm_atk_b_admin', 'crm_atk_b_user') FROM atk_org;
SELECT pg_temp.fill_jobs();
RESET ROLE;
RESET crm.organization_id;
RESET crm.user_id;

-- The relations of schema crm, and whether they hold tenant rows.
CREATE TEMP TABLE atk_rel AS
SELECT c.oid::regclass AS rel, c.relname::text AS relname, c.relkind,
	   EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'organization_id'
				  AND a.atttypid = 'uuid'::regtype AND NOT a.attisdropped) AS has_org,
	   EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'id'
				  AND a.atttypid = 'uuid'::regtype AND NOT a.attisdropped) AS has_id,
	   EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'deleted_at'
				  AND NOT a.attisdropped) AS has_deleted
  FROM pg_class c
 WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f');

SELECT cmp_ok((SELECT count(*) FROM atk_rel WHERE relkind IN ('r', 'p') AND has_org), '>=', 50::bigint,
			  'there are tenant tables to attack');

-- Each tenant table's rows of one tenant, as text (superuser: no RLS).
CREATE FUNCTION pg_temp.atk_rows(r regclass, org uuid) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
	RETURN QUERY EXECUTE format('SELECT x::text FROM %s x WHERE x.organization_id = $1', r) USING org;
END;
$$;

SELECT is_empty($$
	SELECT relname FROM atk_rel, atk_org
	 WHERE relkind IN ('r', 'p') AND has_org AND NOT EXISTS (SELECT 1 FROM pg_temp.atk_rows(rel, victim))
$$, 'every tenant table of crm has rows of the victim tenant');

-- What identifies the victim's data: every uuid in its rows, and every
-- value of its rows that carries its number (71: 'Lovelace 71',
-- 'boss71@t71.example', ...), less what also occurs in the attacker's rows
-- or in the global tables.
CREATE TEMP TABLE atk_victim_uuid (u text PRIMARY KEY);
CREATE TEMP TABLE atk_victim_token (t text PRIMARY KEY);
DO $$
DECLARE
	r record;
	v uuid := (SELECT victim FROM atk_org);
	b uuid := (SELECT attacker FROM atk_org);
	uuid_re constant text := '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
	others text := '';
BEGIN
	FOR r IN SELECT rel FROM atk_rel WHERE relkind IN ('r', 'p') AND has_org LOOP
		EXECUTE format($q$
			INSERT INTO atk_victim_uuid
			SELECT DISTINCT m[1] FROM %s x, regexp_matches(x::text, %L, 'g') m WHERE x.organization_id = $1
			ON CONFLICT DO NOTHING$q$, r.rel, uuid_re) USING v;
		EXECUTE format($q$
			INSERT INTO atk_victim_token
			SELECT DISTINCT e.value FROM %s x, jsonb_each_text(to_jsonb(x)) e
			 WHERE x.organization_id = $1 AND e.value LIKE '%%71%%' AND length(e.value) >= 6
			   AND e.value !~ '^[0-9a-f]{8}-' AND e.value !~ '^\d{4}-\d\d-\d\d' AND e.value !~ '^[-+0-9. e]+$'
			   AND e.value NOT LIKE '{%%' AND e.value NOT LIKE '[%%'
			ON CONFLICT DO NOTHING$q$, r.rel) USING v;
		others := others || coalesce((SELECT string_agg(t, E'\n') FROM pg_temp.atk_rows(r.rel, b) t), '');
	END LOOP;
	FOR r IN SELECT rel FROM atk_rel WHERE relkind IN ('r', 'p') AND NOT has_org LOOP
		EXECUTE format('SELECT $1 || coalesce(string_agg(x::text, E''\n''), '''') FROM %s x', r.rel) INTO others USING others;
	END LOOP;
	DELETE FROM atk_victim_uuid WHERE strpos(others, u) > 0 AND u <> v::text;
	DELETE FROM atk_victim_token WHERE strpos(others, t) > 0;
END;
$$;
SELECT cmp_ok((SELECT count(*) FROM atk_victim_uuid), '>=', 200::bigint, 'the victim''s ids are known');
SELECT cmp_ok((SELECT count(*) FROM atk_victim_token), '>=', 20::bigint, 'the victim''s names and addresses are known');

-- The first id or value of the victim's in a text, other than the inputs
-- of the call that produced it.
CREATE FUNCTION pg_temp.atk_leak(txt text, inputs text[]) RETURNS text LANGUAGE sql STABLE AS $$
	SELECT coalesce(
		(SELECT m[1] FROM regexp_matches(txt, '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', 'g') m
		  WHERE m[1] IN (SELECT u FROM atk_victim_uuid)
			AND NOT EXISTS (SELECT 1 FROM unnest(inputs) i WHERE strpos(i, m[1]) > 0) LIMIT 1),
		(SELECT k.t FROM atk_victim_token k
		  WHERE strpos(txt, k.t) > 0 AND NOT EXISTS (SELECT 1 FROM unnest(inputs) i WHERE strpos(i, k.t) > 0) LIMIT 1));
$$;

-- A checksum of all the victim's rows (its organization row too).
CREATE TEMP TABLE atk_sum_sql AS
SELECT 'SELECT md5(string_agg(h, '','' ORDER BY n)) FROM ('
	   || string_agg(format('SELECT %L AS n, md5(coalesce(string_agg(x::text, E''\n'' ORDER BY x::text), '''')) AS h FROM %s x WHERE x.organization_id = $1',
							relname, rel), ' UNION ALL ' ORDER BY relname)
	   || ' UNION ALL SELECT '''', md5(x::text) FROM crm.organization x WHERE x.id = $1) s' AS q
  FROM atk_rel WHERE relkind IN ('r', 'p') AND has_org;
CREATE FUNCTION pg_temp.atk_sum(org uuid) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	h text;
BEGIN
	EXECUTE (SELECT q FROM atk_sum_sql) INTO h USING org;
	RETURN h;
END;
$$;
-- (the attacker's own data too: its readonly role must change nothing)
CREATE TEMP TABLE atk_sum_before AS SELECT pg_temp.atk_sum(victim) AS victim, pg_temp.atk_sum(attacker) AS attacker FROM atk_org;

-- One id per table and tenant (a live row where there are soft deletes).
CREATE TEMP TABLE atk_id (side text, tbl text, id uuid, PRIMARY KEY (side, tbl));
DO $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT * FROM atk_rel, atk_org WHERE relkind IN ('r', 'p') AND has_org AND has_id LOOP
		EXECUTE format('INSERT INTO atk_id SELECT ''victim'', %L, id FROM %s WHERE organization_id = $1 ORDER BY %s id LIMIT 1',
					   r.relname, r.rel, CASE WHEN r.has_deleted THEN 'deleted_at IS NOT NULL,' ELSE '' END) USING r.victim;
		EXECUTE format('INSERT INTO atk_id SELECT ''own'', %L, id FROM %s WHERE organization_id = $1 ORDER BY %s id LIMIT 1',
					   r.relname, r.rel, CASE WHEN r.has_deleted THEN 'deleted_at IS NOT NULL,' ELSE '' END) USING r.attacker;
	END LOOP;
	INSERT INTO atk_id SELECT 'victim', 'organization', victim FROM atk_org;
	INSERT INTO atk_id SELECT 'own', 'organization', attacker FROM atk_org;
	-- and for each, an id that exists nowhere
	INSERT INTO atk_id SELECT 'none', tbl, gen_random_uuid() FROM atk_id WHERE side = 'victim';
END;
$$;

-- A result for the victim's values, rewritten as it would read for the
-- values that exist nowhere (the ids, names and addresses the calls pass).
CREATE FUNCTION pg_temp.atk_norm(txt text) RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT v.id::text AS v, n.id::text AS n FROM atk_id v JOIN atk_id n ON n.tbl = v.tbl AND n.side = 'none'
			  WHERE v.side = 'victim' LOOP
		txt := replace(txt, r.v, r.n);
	END LOOP;
	RETURN regexp_replace(regexp_replace(txt, 'ada@leaf71', 'nobody@leaf93', 'gi'), '(leaf|lovelace )71', '\193', 'gi');
END;
$$;

-- The attacker's roles, and one of its users as the acting crm.user_id.
CREATE TEMP TABLE atk_role AS
SELECT r AS role FROM unnest(ARRAY['crm_atk_b_ro', 'crm_atk_b_user', 'crm_atk_b_admin']::name[]) r;
CREATE TEMP TABLE atk_actor AS
SELECT u.id FROM crm.app_user u, atk_org WHERE u.organization_id = attacker ORDER BY u.id LIMIT 1;

-- Run one statement (it returns one text value or none) as an attacker's
-- role acting for tenant `org` in a savepoint that is always rolled back:
-- the outcome ('ok' or the SQLSTATE), the value or the error text, and
-- whether any row of the victim changed.
CREATE FUNCTION pg_temp.atk_run(role name, stmt text, org uuid DEFAULT NULL,
								OUT outcome text, OUT result text, OUT changed boolean, OUT changed_own boolean)
LANGUAGE plpgsql AS $$
DECLARE
	msg text;
	detail text;
BEGIN
	BEGIN
		PERFORM set_config('crm.organization_id', coalesce(org, (SELECT attacker FROM atk_org))::text, true);
		PERFORM set_config('crm.user_id', (SELECT id::text FROM atk_actor), true);
		EXECUTE format('SET LOCAL ROLE %I', role);
		EXECUTE stmt INTO result;
		RESET ROLE;
		outcome := 'ok';
		changed := pg_temp.atk_sum((SELECT victim FROM atk_org)) IS DISTINCT FROM (SELECT victim FROM atk_sum_before);
		-- (asserted for the readonly role only)
		changed_own := role = 'crm_atk_b_ro'
					   AND pg_temp.atk_sum((SELECT attacker FROM atk_org)) IS DISTINCT FROM (SELECT attacker FROM atk_sum_before);
		RAISE EXCEPTION USING ERRCODE = 'PAT01';	-- undo whatever it did
	EXCEPTION WHEN SQLSTATE 'PAT01' THEN
		NULL;
	WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
		outcome := SQLSTATE;
		result := msg || coalesce(E'\n' || nullif(detail, ''), '');
		changed := false;		-- rolled back with the savepoint
		changed_own := false;
	END;
END;
$$;

CREATE TEMP TABLE atk_result (
	role name, object text, kind text, variant text,
	outcome text, result text, changed boolean, changed_own boolean, leak text,
	base_outcome text, base_result text, volatility "char");

-- ---------------------------------------------------------------------------
-- 2. Every table and view
-- ---------------------------------------------------------------------------
DO $$
DECLARE
	r record;
	o record;
	col text;
	cols text;
	victim uuid := (SELECT victim FROM atk_org);
	aim text;
BEGIN
	FOR r IN SELECT a.*, x.role FROM atk_rel a, atk_role x ORDER BY a.relname, x.role LOOP
		-- read everything it can see
		o := pg_temp.atk_run(r.role, format('SELECT string_agg(x::text, E''\n'') FROM %s x', r.rel));
		INSERT INTO atk_result VALUES (r.role, r.relname, 'select', NULL, o.outcome, o.result, o.changed, o.changed_own,
									   pg_temp.atk_leak(o.result, NULL));
		-- with the victim's tenant set: refused
		IF r.has_org THEN
			o := pg_temp.atk_run(r.role, format('SELECT count(*)::text FROM %s x', r.rel), victim);
			INSERT INTO atk_result VALUES (r.role, r.relname, 'as victim', NULL, o.outcome, o.result, o.changed, o.changed_own,
										   pg_temp.atk_leak(o.result, NULL));
		END IF;
		CONTINUE WHEN r.relkind NOT IN ('r', 'p', 'v');
		-- the victim's rows; in a global table, every row (shared by all
		-- tenants: an application role changes none)
		aim := CASE WHEN r.has_org THEN format(' WHERE x.organization_id = %L', victim)
					WHEN r.relname = 'organization' THEN format(' WHERE x.id = %L', victim) ELSE '' END;
		-- update the victim's rows (a column the role may update, set to itself)
		SELECT quote_ident(a.attname) INTO col FROM pg_attribute a
		 WHERE a.attrelid = r.rel AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
		   AND has_column_privilege(r.role, r.rel, a.attname, 'UPDATE')
		 ORDER BY a.attnum DESC LIMIT 1;
		o := pg_temp.atk_run(r.role, format('WITH u AS (UPDATE %s x SET %s = x.%s%s RETURNING x.*) SELECT string_agg(u::text, E''\n'') FROM u',
											r.rel, coalesce(col, 'id'), coalesce(col, 'id'), aim));
		INSERT INTO atk_result VALUES (r.role, r.relname, 'update', col, o.outcome, o.result, o.changed, o.changed_own,
									   pg_temp.atk_leak(o.result, NULL));
		-- delete them
		o := pg_temp.atk_run(r.role, format('WITH d AS (DELETE FROM %s x%s RETURNING x.*) SELECT string_agg(d::text, E''\n'') FROM d',
											r.rel, aim));
		INSERT INTO atk_result VALUES (r.role, r.relname, 'delete', NULL, o.outcome, o.result, o.changed, o.changed_own,
									   pg_temp.atk_leak(o.result, NULL));
		-- insert a copy of one of its own rows into the victim's tenant
		CONTINUE WHEN NOT r.has_org;
		SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols FROM pg_attribute a
		 WHERE a.attrelid = r.rel AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' AND a.attidentity <> 'a';
		o := pg_temp.atk_run(r.role, format(
			'WITH i AS (INSERT INTO %1$s (%2$s) SELECT %2$s FROM jsonb_populate_record(NULL::%1$s,
						(SELECT to_jsonb(y) FROM %1$s y LIMIT 1) || jsonb_build_object(''organization_id'', %3$L::uuid, ''id'', gen_random_uuid())) p
						RETURNING *) SELECT string_agg(i::text, E''\n'') FROM i', r.rel, cols, victim));
		INSERT INTO atk_result VALUES (r.role, r.relname, 'insert', NULL, o.outcome, o.result, o.changed, o.changed_own, NULL);
	END LOOP;
END;
$$;

SELECT is_empty($$ SELECT role, object, leak FROM atk_result WHERE kind = 'select' AND leak IS NOT NULL $$,
				'no table or view of crm shows the attacker''s roles an id or a value of the victim''s');
SELECT is_empty($$ SELECT role, object, outcome FROM atk_result WHERE kind = 'as victim' AND outcome <> '42501' $$,
				'with crm.organization_id set to the victim, every table and view refuses the attacker''s roles (42501)');
SELECT is_empty($$ SELECT role, object, variant, leak FROM atk_result WHERE kind = 'update' AND (changed OR leak IS NOT NULL OR outcome = 'ok' AND result IS NOT NULL) $$,
				'no UPDATE of the attacker''s roles reaches a row of the victim');
SELECT is_empty($$ SELECT role, object, leak FROM atk_result WHERE kind = 'delete' AND (changed OR leak IS NOT NULL OR outcome = 'ok' AND result IS NOT NULL) $$,
				'no DELETE of the attacker''s roles reaches a row of the victim');
SELECT is_empty($$ SELECT role, object, outcome FROM atk_result WHERE kind = 'insert' AND (changed OR outcome = 'ok') $$,
				'no INSERT of the attacker''s roles puts a row into the victim''s tenant');
SELECT cmp_ok((SELECT count(*) FROM atk_result WHERE kind = 'select' AND outcome = 'ok' AND result IS NOT NULL
				 AND role = 'crm_atk_b_ro' AND object IN (SELECT relname FROM atk_rel WHERE has_org)),
			  '>=', 50::bigint, 'the readonly role reads its own rows of the tenant tables (the sweep is not vacuous)');

-- ---------------------------------------------------------------------------
-- 3. Every function the attacker's roles may execute
-- ---------------------------------------------------------------------------
-- The kind of record a uuid argument names: by its name, else the entity
-- the call is about.
CREATE FUNCTION pg_temp.atk_kind(arg text, entity text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE
		WHEN arg IN ('org', 'organization_id') THEN 'organization'
		WHEN arg IN ('lead_id') THEN 'lead'
		WHEN arg IN ('account_id') THEN 'account'
		WHEN arg IN ('contact_id') THEN 'contact'
		WHEN arg IN ('list_id') THEN 'marketing_list'
		WHEN arg IN ('case_id', 'one_case') THEN 'case'
		WHEN arg IN ('pipeline') THEN 'pipeline'
		WHEN arg IN ('owner') THEN 'app_user'
		WHEN arg IN ('team') THEN 'team'
		WHEN arg IN ('calendar', 'calendars') THEN 'business_calendar'
		WHEN arg IN ('book') THEN 'price_book'
		WHEN arg IN ('product') THEN 'product'
		WHEN arg IN ('erasure_id') THEN 'erasure_log'
		ELSE coalesce(entity, 'contact') END;
$$;

-- A SQL expression for an argument.  side: 'victim' (the victim's record
-- or value), 'own' (the attacker's), 'none' (one that exists nowhere).
CREATE FUNCTION pg_temp.atk_arg(fn name, arg text, typ regtype, entity text, side text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	id uuid;
	k text := pg_temp.atk_kind(arg, entity);
	n text := CASE side WHEN 'victim' THEN '71' WHEN 'own' THEN '82' ELSE '93' END;
	who text := CASE side WHEN 'none' THEN 'nobody' ELSE 'ada' END;
BEGIN
	IF typ IN ('uuid'::regtype, 'uuid[]'::regtype) THEN
		SELECT i.id INTO id FROM atk_id i WHERE i.side = atk_arg.side AND i.tbl = k;
		IF id IS NULL THEN
			SELECT i.id INTO id FROM atk_id i WHERE i.side = atk_arg.side AND i.tbl = 'contact';
		END IF;
		RETURN CASE WHEN typ = 'uuid'::regtype THEN format('%L::uuid', id) ELSE format('ARRAY[%L]::uuid[]', id) END;
	END IF;
	RETURN CASE
		WHEN typ = 'text'::regtype THEN quote_literal(CASE
			WHEN arg = 'entity' THEN coalesce(entity, 'contact')
			WHEN fn = 'list_add' AND arg = 'query' THEN
				format('SELECT %L::uuid', (SELECT i.id FROM atk_id i WHERE i.side = atk_arg.side AND i.tbl = 'contact'))
			WHEN arg IN ('query', 'name', 'last', 'a_last', 'b_last', 'a_name', 'b_name') THEN 'Lovelace ' || n
			WHEN arg IN ('first', 'a_first', 'b_first') THEN 'Ada'
			WHEN arg IN ('email', 'a_email', 'b_email', 'subject_key') THEN who || '@leaf' || n || '.example'
			WHEN arg IN ('site', 'a_domain', 'b_domain') THEN 'leaf' || n || '.example'
			WHEN arg IN ('phone', 'a_phone', 'b_phone') THEN '+1 415 555 0100'
			WHEN arg = 'action' THEN 'MERGE'
			WHEN arg IN ('field_type', 'type', 'kind') THEN 'text'
			WHEN arg = 'time_zone' THEN 'UTC'
			WHEN arg IN ('status', 'old_status', 'new_status') THEN 'open'
			WHEN arg = 'group_by' THEN 'owner'
			WHEN arg = 'country' THEN 'US'
			WHEN arg = 'feature' THEN 'audited'
			WHEN arg = 'event_type' THEN 'atk.event'
			ELSE 'atk' END)
		WHEN typ = 'crm.email'::regtype THEN format('%L::crm.email', who || '@leaf' || n || '.example')
		WHEN typ = 'crm.phone'::regtype THEN '''+1 415 555 0100''::crm.phone'
		WHEN typ = 'jsonb'::regtype AND arg = 'criteria' THEN
			format('%L::jsonb', jsonb_build_object('field', 'last_name', 'op', 'eq', 'value', 'Lovelace ' || n))
		WHEN typ = 'jsonb'::regtype AND arg = 'value' THEN '''"x"''::jsonb'
		WHEN typ = 'jsonb'::regtype AND arg = 'hours' THEN '''{"mon": [["09:00", "17:00"]]}''::jsonb'
		WHEN typ = 'jsonb'::regtype THEN '''{}''::jsonb'
		WHEN typ = 'regclass'::regtype THEN format('%L::regclass', 'crm.' || CASE WHEN arg = 'entity' THEN coalesce(entity, 'contact') ELSE 'contact' END)
		WHEN typ = 'name'::regtype THEN quote_literal(CASE arg WHEN 'org_column' THEN 'organization_id' WHEN 'fk_column' THEN 'contact_id' ELSE 'email' END) || '::name'
		WHEN typ IN ('integer'::regtype, 'bigint'::regtype, 'numeric'::regtype, 'real'::regtype) THEN
			CASE WHEN arg = 'threshold' THEN '0.5' ELSE '10' END || '::' || typ::text
		WHEN typ = 'boolean'::regtype THEN 'true'
		WHEN typ = 'date'::regtype THEN '''2027-01-15''::date'
		WHEN typ = 'timestamptz'::regtype THEN '''2027-01-31 00:00+00''::timestamptz'
		WHEN typ = 'character'::regtype THEN '''EUR''::char(3)'
		WHEN typ IN ('text[]'::regtype, 'date[]'::regtype) THEN '''{}''::' || typ::text
		WHEN typ IN ('cstring'::regtype) THEN quote_literal(who || '@leaf' || n || '.example') || '::cstring'
		WHEN typ IN ('tsvector'::regtype, 'tsquery'::regtype) THEN quote_literal('lovelace') || '::' || typ::text
		ELSE 'NULL::' || typ::text END;
END;
$$;

-- The functions, their input arguments, and the calls to make.
CREATE TEMP TABLE atk_fn AS
SELECT p.oid, p.oid::regprocedure::text AS sig, p.proname, p.provolatile,
	   p.prorettype IN ('trigger'::regtype, 'event_trigger'::regtype) AS is_trigger,
	   ARRAY(SELECT a.n FROM unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]),
									coalesce(p.proargnames, '{}'), coalesce(p.proargmodes, '{}')) a(t, n, m)
			  WHERE coalesce(a.m, 'i') IN ('i', 'b', 'v')) AS argnames,
	   ARRAY(SELECT t FROM unnest(p.proargtypes::regtype[]) t) AS argtypes	-- (an oidvector counts from 0)
  FROM pg_proc p
 WHERE p.pronamespace = 'crm'::regnamespace AND p.prokind = 'f';

CREATE TEMP TABLE atk_call (fn oid, entity text, variant text, victim_sql text, none_sql text, inputs text[]);
DO $$
DECLARE
	f record;
	e text;
	i int;
	j int;
	uuids int[];
	v_args text[];
	n_args text[];
	sides text[];
	ent text[];
	pick int;
BEGIN
	FOR f IN SELECT * FROM atk_fn WHERE NOT is_trigger AND EXISTS (
				SELECT 1 FROM atk_role x WHERE has_function_privilege(x.role, atk_fn.oid, 'EXECUTE')) LOOP
		uuids := ARRAY(SELECT k FROM generate_subscripts(f.argtypes, 1) k
						WHERE f.argtypes[k] IN ('uuid'::regtype, 'uuid[]'::regtype));
		-- calls about an entity and a record: every tenant table with ids
		IF 'entity' = ANY (f.argnames) AND cardinality(uuids) > 0 THEN
			ent := ARRAY(SELECT relname FROM atk_rel WHERE relkind IN ('r', 'p') AND has_org AND has_id ORDER BY 1);
		ELSE
			ent := ARRAY[NULL::text];
		END IF;
		FOREACH e IN ARRAY ent LOOP
			-- pick = 0: every uuid argument the victim's; pick = k: only
			-- argument k the victim's, the others the attacker's own;
			-- pick = -1: all the attacker's own (what the readonly role
			-- may not change)
			FOR pick IN -1 .. CASE WHEN cardinality(uuids) > 1 THEN cardinality(f.argtypes) ELSE 0 END LOOP
				CONTINUE WHEN pick > 0 AND pick <> ALL (uuids);
				CONTINUE WHEN pick = -1 AND (cardinality(uuids) = 0 OR e IS DISTINCT FROM ent[1]);
				v_args := '{}';
				n_args := '{}';
				FOR i IN 1 .. coalesce(cardinality(f.argtypes), 0) LOOP
					sides := CASE WHEN pick = -1 THEN ARRAY['own', 'own']
								  WHEN pick = 0 OR i = pick OR i <> ALL (uuids) THEN ARRAY['victim', 'none']
								  ELSE ARRAY['own', 'own'] END;
					v_args := v_args || pg_temp.atk_arg(f.proname, f.argnames[i], f.argtypes[i], e, sides[1]);
					n_args := n_args || pg_temp.atk_arg(f.proname, f.argnames[i], f.argtypes[i], e, sides[2]);
				END LOOP;
				INSERT INTO atk_call VALUES (f.oid, e, CASE pick WHEN 0 THEN 'all victim' WHEN -1 THEN 'all own'
														   ELSE 'victim ' || coalesce(nullif(f.argnames[pick], ''), pick::text) END,
					format('SELECT string_agg(x::text, E''\n'') FROM (SELECT * FROM %s(%s)) x', f.oid::regproc, array_to_string(v_args, ', ')),
					format('SELECT string_agg(x::text, E''\n'') FROM (SELECT * FROM %s(%s)) x', f.oid::regproc, array_to_string(n_args, ', ')),
					v_args);
			END LOOP;
		END LOOP;
	END LOOP;
END;
$$;

DO $$
DECLARE
	c record;
	o record;
	b record;
BEGIN
	FOR c IN SELECT k.*, f.sig, f.provolatile, x.role FROM atk_call k JOIN atk_fn f ON f.oid = k.fn, atk_role x
			  WHERE has_function_privilege(x.role, k.fn, 'EXECUTE') ORDER BY f.sig, k.entity, k.variant, x.role LOOP
		o := pg_temp.atk_run(c.role, c.victim_sql);
		-- (the attacker's own records exist: no comparison)
		SELECT * INTO b FROM pg_temp.atk_run(c.role, c.none_sql) WHERE c.variant <> 'all own';
		INSERT INTO atk_result VALUES (c.role, c.sig, 'call', concat_ws(' ', c.entity, c.variant),
									   o.outcome, o.result, o.changed, o.changed_own, pg_temp.atk_leak(o.result, c.inputs),
									   b.outcome, b.result, c.provolatile);
	END LOOP;
END;
$$;

SELECT cmp_ok((SELECT count(DISTINCT object) FROM atk_result WHERE kind = 'call'), '>=', 100::bigint,
			  'the attacker''s roles called every function they may execute (more than 100)');
SELECT is_empty($$ SELECT role, object, variant, leak, left(result, 200) FROM atk_result WHERE kind = 'call' AND leak IS NOT NULL $$,
				'no function returns the attacker''s roles an id or a value of the victim''s, nor names one in an error');
SELECT is_empty($$ SELECT role, object, variant FROM atk_result WHERE kind = 'call' AND changed $$,
				'no function called with the victim''s ids changes a row of the victim');
SELECT is_empty($$ SELECT object, variant, left(result, 120) FROM atk_result WHERE role = 'crm_atk_b_ro' AND changed_own $$,
				'no function or statement of the readonly role changes a row of its own tenant either');
SELECT is_empty($$
	SELECT role, object, variant, outcome, base_outcome, left(result, 120) AS result, left(base_result, 120) AS base_result
	  FROM atk_result WHERE kind = 'call' AND variant NOT LIKE '%all own' AND volatility <> 'i' AND outcome IS DISTINCT FROM base_outcome
$$, 'every function that reads data ends the same way for the victim''s ids as for ids that exist nowhere (no existence oracle)');
SELECT is_empty($$
	SELECT role, object, variant, left(result, 120) AS result, left(base_result, 120) AS base_result
	  FROM atk_result WHERE kind = 'call' AND outcome = 'ok' AND base_outcome = 'ok' AND volatility = 's'
	   AND pg_temp.atk_norm(result) IS DISTINCT FROM base_result
$$, 'every stable function answers the same for the victim''s ids as for ids that exist nowhere');

-- ---------------------------------------------------------------------------
-- 4. What must not be executable at all
-- ---------------------------------------------------------------------------
CREATE TEMP VIEW atk_exec AS
SELECT f.sig, f.proname, f.is_trigger, g.grantee
  FROM atk_fn f, (SELECT 'public'::name AS grantee UNION ALL SELECT role FROM atk_role) g
 WHERE CASE WHEN g.grantee = 'public'
			THEN EXISTS (SELECT 1 FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
						  WHERE p.oid = f.oid AND a.grantee = 0 AND a.privilege_type = 'EXECUTE')
			ELSE has_function_privilege(g.grantee, f.oid, 'EXECUTE') END;

SELECT is_empty($$ SELECT sig, grantee FROM atk_exec WHERE is_trigger $$,
				'no trigger function is executable by PUBLIC or the application roles');
SELECT is_empty($$
	SELECT e.sig, e.grantee FROM atk_exec e JOIN pg_proc p ON p.oid = e.sig::regprocedure
	 WHERE e.proname LIKE '\_%'
	   AND (p.prosrc ~ '(INSERT INTO|UPDATE|DELETE FROM) crm\.(audit_log|erasure_log)|crm\._(audit_write|audit_scrub|erasure_write)\('
			OR e.proname ~ '(^|_)lock($|_)' OR e.proname ~ '_(run|record)$')
$$, 'no internal function that writes the audit or erasure log (or calls a writer), no step of crm.merge or crm.subject_erase and no crm lock is executable by PUBLIC or the application roles');

SELECT * FROM finish();
ROLLBACK;
