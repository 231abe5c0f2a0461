-- Security: who may execute what, and what crm's trigger functions do when
-- they are attached where they do not belong.  Every case below was an
-- attack on the spine (issue 7): a readonly role crashing the server with
-- crm.trg_stamp on a temporary table, forging audit entries of another
-- tenant with crm.trg_audit on a temp table named "contact", passing a
-- role's tenant limit to its members, stalling another tenant through a
-- lock function.  The function lists come from the catalog, so a function
-- added later shows up here.
\set VERBOSITY terse
SET client_min_messages = warning;

\set org_a '5ec0a0a0-0000-7000-8000-00000000000a'
\set org_b '5ec0b0b0-0000-7000-8000-00000000000b'
INSERT INTO crm.organization (id, name) VALUES (:'org_a', 'Security A'), (:'org_b', 'Security B');
DROP ROLE IF EXISTS sec_reader;
DROP ROLE IF EXISTS sec_user;
DROP ROLE IF EXISTS sec_admin;
DROP ROLE IF EXISTS sec_group;
DROP ROLE IF EXISTS sec_member;
DROP ROLE IF EXISTS sec_nested;
CREATE ROLE sec_reader;
CREATE ROLE sec_user;
CREATE ROLE sec_admin;
SELECT crm.grant_access('sec_reader', 'readonly', ARRAY[:'org_b']::uuid[]);
SELECT crm.grant_access('sec_user', 'user');
SELECT crm.grant_access('sec_admin', 'admin');

-- ---------------------------------------------------------------------------
-- 1. Execute rights.  What PUBLIC may execute: the documented API (and the
-- support functions of crm.email and crm.phone), then the internal
-- functions the API calls with the caller's rights (sql/95_privileges.sql
-- says why each is safe).  A new function is on neither list until it is
-- put there.
-- ---------------------------------------------------------------------------
CREATE TEMP VIEW crm_functions AS
SELECT p.oid, p.oid::regprocedure::text AS signature, p.proname, p.prosecdef,
	   p.prorettype IN ('trigger'::regtype, 'event_trigger'::regtype) AS is_trigger,
	   EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
				WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE') AS public_execute
  FROM pg_proc p WHERE p.pronamespace = 'crm'::regnamespace;

SELECT signature, prosecdef AS definer FROM crm_functions
 WHERE public_execute AND proname NOT LIKE '\_%' AND proname NOT LIKE 'email%' AND proname NOT LIKE 'phone%'
 ORDER BY 1;
SELECT count(*) AS email_and_phone_support FROM crm_functions
 WHERE public_execute AND (proname LIKE 'email%' OR proname LIKE 'phone%');
SELECT signature, prosecdef AS definer FROM crm_functions
 WHERE public_execute AND proname LIKE '\_%' ORDER BY 1;
-- Not executable by PUBLIC: every trigger function, the lock, install,
-- restore, scheduling and access functions.
SELECT signature FROM crm_functions WHERE NOT public_execute ORDER BY 1;
-- No trigger function at all is executable by PUBLIC.
SELECT signature FROM crm_functions WHERE is_trigger AND public_execute;
-- What the access levels add to PUBLIC's rights: only an unrestricted admin
-- may create organizations.
SELECT r.rolname, f.signature
  FROM crm_functions f, pg_roles r
 WHERE r.rolname IN ('sec_reader', 'sec_user', 'sec_admin')
   AND has_function_privilege(r.oid, f.oid, 'EXECUTE') AND NOT f.public_execute
 ORDER BY 1, 2;

-- ---------------------------------------------------------------------------
-- 2. A readonly role cannot attach any crm trigger function to a table of
-- its own (the crash of issue 7 S1 started like this).
-- ---------------------------------------------------------------------------
SET ROLE sec_reader;
SET crm.organization_id = :'org_b';
CREATE TEMP TABLE s1 (id int, x int);
INSERT INTO s1 VALUES (1, 1);
CREATE TEMP TABLE attach_result (fn text, outcome text);
DO $$
DECLARE
	f record;
BEGIN
	FOR f IN SELECT p.oid::regproc::text AS fn FROM pg_proc p
			  WHERE p.pronamespace = 'crm'::regnamespace AND p.prorettype = 'trigger'::regtype ORDER BY 1 LOOP
		BEGIN
			EXECUTE format('CREATE TRIGGER t BEFORE UPDATE ON s1 FOR EACH ROW EXECUTE FUNCTION %s()', f.fn);
			INSERT INTO attach_result VALUES (f.fn, 'ATTACHED');
			EXECUTE 'DROP TRIGGER t ON s1';
		EXCEPTION WHEN insufficient_privilege THEN
			INSERT INTO attach_result VALUES (f.fn, 'refused: ' || SQLERRM);
		END;
	END LOOP;
END;
$$;
SELECT fn, outcome FROM attach_result ORDER BY fn;
-- ... and the crm functions of the lock class are not callable either:
-- crm._custom_field_lock took another tenant's definition lock (S4).
SELECT crm._custom_field_lock(:'org_a', 'contact');
RESET ROLE;

-- ---------------------------------------------------------------------------
-- 3. Defence in depth: even attached by a superuser, crm's C triggers
-- refuse a relation that is not crm's own (schema crm, owned by the owner
-- of schema crm) and check the type of every column they touch.  Each case
-- is one that crashed the server, leaked a heap address or forged audit
-- entries before; each must end in a clear error.
-- ---------------------------------------------------------------------------
-- the shapes of issue 7, in pg_temp
CREATE TEMP TABLE h_noid (id int, x int);
INSERT INTO h_noid VALUES (1, 1);
CREATE TRIGGER t BEFORE UPDATE ON h_noid FOR EACH ROW EXECUTE FUNCTION crm.trg_stamp('contact');
UPDATE h_noid SET x = 2;
CREATE TEMP TABLE h_created_at (created_at text);
CREATE TRIGGER t BEFORE INSERT ON h_created_at FOR EACH ROW EXECUTE FUNCTION crm.trg_stamp('contact');
INSERT INTO h_created_at VALUES (NULL);
CREATE TEMP TABLE h_cf (organization_id int, custom_fields jsonb);
CREATE TRIGGER t BEFORE INSERT ON h_cf FOR EACH ROW EXECUTE FUNCTION crm.trg_custom_fields('contact');
INSERT INTO h_cf VALUES (1, '{}');
-- a temp table named like a crm table, with the audit trigger: the forged
-- entry for another tenant's contact (S2)
CREATE TEMP TABLE contact (organization_id uuid, id uuid, email text);
CREATE TRIGGER t AFTER INSERT ON contact REFERENCING NEW TABLE AS crm_new
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_audit('contact');
INSERT INTO contact VALUES (:'org_a', '5ec00000-0000-7000-8000-0000000000c1', 'forged@a.example');
DROP TRIGGER t ON contact;
ALTER TABLE contact ADD COLUMN parent_account_id uuid;
CREATE TRIGGER t BEFORE INSERT ON contact
	FOR EACH ROW EXECUTE FUNCTION crm.trg_no_cycle('account', 'parent_account_id');
INSERT INTO contact VALUES (:'org_a', gen_random_uuid(), 'x@a.example', gen_random_uuid());
DROP TRIGGER t ON contact;
-- the marketing triggers on a hostile table
CREATE TRIGGER t AFTER INSERT ON contact FOR EACH ROW EXECUTE FUNCTION crm.trg_list_membership('contact');
INSERT INTO contact VALUES (:'org_a', gen_random_uuid(), 'x@a.example', gen_random_uuid());
DROP TRIGGER t ON contact;
CREATE TRIGGER t AFTER INSERT ON contact FOR EACH ROW EXECUTE FUNCTION crm.trg_email_event();
INSERT INTO contact VALUES (:'org_a', gen_random_uuid(), 'x@a.example', gen_random_uuid());
DROP TRIGGER t ON contact;
CREATE TRIGGER t BEFORE INSERT ON contact FOR EACH ROW EXECUTE FUNCTION crm.trg_marketing_list_check();
INSERT INTO contact VALUES (:'org_a', gen_random_uuid(), 'x@a.example', gen_random_uuid());
DROP TRIGGER t ON contact;
CREATE TRIGGER t AFTER INSERT ON contact FOR EACH ROW EXECUTE FUNCTION crm.trg_outbox_notify();
INSERT INTO contact VALUES (:'org_a', '5ec00000-0000-7000-8000-0000000000c2', 'x@a.example');
DROP TABLE contact, h_noid, h_created_at, h_cf;
-- the calendar cache trigger (C) and the case/SLA triggers (PL/pgSQL) on a
-- temp table named like theirs: refused, nothing written
CREATE TEMP TABLE business_calendar (organization_id uuid, id uuid);
CREATE TRIGGER t AFTER INSERT ON business_calendar FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_business_calendar_changed();
INSERT INTO business_calendar VALUES (:'org_a', gen_random_uuid());
CREATE TEMP TABLE "case" (organization_id uuid, id uuid, number bigint, status text, status_changed_at timestamptz,
						  created_at timestamptz, resolved_at timestamptz, closed_at timestamptz);
CREATE TRIGGER t BEFORE INSERT ON "case" FOR EACH ROW EXECUTE FUNCTION crm.trg_case_before();
INSERT INTO "case" (organization_id, id) VALUES (:'org_a', gen_random_uuid());
DROP TRIGGER t ON "case";
CREATE TRIGGER t AFTER INSERT ON "case" FOR EACH ROW EXECUTE FUNCTION crm.trg_case_sla();
INSERT INTO "case" (organization_id, id) VALUES (:'org_a', gen_random_uuid());
CREATE TEMP TABLE case_comment (organization_id uuid, case_id uuid, author_user_id uuid, author_contact_id uuid,
								is_public boolean, created_at timestamptz, deleted_at timestamptz);
CREATE TRIGGER t AFTER INSERT ON case_comment FOR EACH ROW EXECUTE FUNCTION crm.trg_case_comment_sla();
INSERT INTO case_comment (organization_id, case_id) VALUES (:'org_a', gen_random_uuid());
DROP TRIGGER t ON business_calendar;
CREATE TRIGGER t AFTER INSERT ON business_calendar FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_sla_config_changed();
INSERT INTO business_calendar VALUES (:'org_a', gen_random_uuid());
DROP TABLE business_calendar, "case", case_comment;
-- The same in schema crm itself, but owned by an application role: still
-- not crm's own.
CREATE TABLE crm.sec_hostile (id uuid, organization_id uuid, created_at text);
ALTER TABLE crm.sec_hostile OWNER TO sec_admin;
CREATE TRIGGER t BEFORE INSERT ON crm.sec_hostile FOR EACH ROW EXECUTE FUNCTION crm.trg_stamp('contact');
INSERT INTO crm.sec_hostile (created_at) VALUES (NULL);
ALTER TABLE crm.sec_hostile OWNER TO CURRENT_USER;
-- Owned by crm's owner, but with columns of the wrong types, one at a
-- time: the text created_at that crashed on NULL, the bigint created_by
-- that stored a heap address, an integer id.
INSERT INTO crm.sec_hostile (created_at) VALUES (NULL);
ALTER TABLE crm.sec_hostile ALTER COLUMN created_at TYPE timestamptz USING NULL, ADD COLUMN created_by bigint;
SET crm.user_id = '5ec00000-0000-7000-8000-0000000000aa';
INSERT INTO crm.sec_hostile (created_by) VALUES (NULL);
ALTER TABLE crm.sec_hostile DROP COLUMN created_by, ADD COLUMN created_by text;
INSERT INTO crm.sec_hostile (created_by) VALUES (NULL);
RESET crm.user_id;
ALTER TABLE crm.sec_hostile DROP COLUMN created_by, ALTER COLUMN id TYPE integer USING NULL;
INSERT INTO crm.sec_hostile DEFAULT VALUES;
DROP TABLE crm.sec_hostile;
-- trg_custom_fields on (organization_id int, custom_fields jsonb) and on
-- (organization_id uuid, custom_fields text)
CREATE TABLE crm.sec_hostile (organization_id int, custom_fields jsonb);
CREATE TRIGGER t BEFORE INSERT ON crm.sec_hostile FOR EACH ROW EXECUTE FUNCTION crm.trg_custom_fields('contact');
INSERT INTO crm.sec_hostile VALUES (1, '{}');
ALTER TABLE crm.sec_hostile ALTER COLUMN organization_id TYPE uuid USING NULL, ALTER COLUMN custom_fields TYPE text;
INSERT INTO crm.sec_hostile VALUES (:'org_a', '{}');
DROP TRIGGER t ON crm.sec_hostile;
-- without the logical table name, a trigger does not guess it
ALTER TABLE crm.sec_hostile DROP COLUMN custom_fields, ADD COLUMN id uuid;
CREATE TRIGGER t AFTER INSERT ON crm.sec_hostile REFERENCING NEW TABLE AS crm_new
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_audit();
INSERT INTO crm.sec_hostile VALUES (:'org_a', gen_random_uuid());
DROP TRIGGER t ON crm.sec_hostile;
-- wrong firing
CREATE TRIGGER t AFTER INSERT ON crm.sec_hostile FOR EACH ROW EXECUTE FUNCTION crm.trg_stamp('x');
INSERT INTO crm.sec_hostile VALUES (:'org_a', gen_random_uuid());
DROP TABLE crm.sec_hostile;
-- trg_picklists: on a temp table; on a crm table whose column has the
-- wrong type; without its (column, list) arguments
CREATE TEMP TABLE h_pl (organization_id uuid, industry text);
CREATE TRIGGER t BEFORE INSERT ON h_pl FOR EACH ROW EXECUTE FUNCTION crm.trg_picklists('account', 'industry', 'industry');
INSERT INTO h_pl VALUES (:'org_a', 'x');
DROP TABLE h_pl;
CREATE TABLE crm.sec_hostile (organization_id uuid, industry int);
CREATE TRIGGER t BEFORE INSERT ON crm.sec_hostile FOR EACH ROW EXECUTE FUNCTION crm.trg_picklists('account', 'industry', 'industry');
INSERT INTO crm.sec_hostile VALUES (:'org_a', 1);
DROP TRIGGER t ON crm.sec_hostile;
CREATE TRIGGER t BEFORE INSERT ON crm.sec_hostile FOR EACH ROW EXECUTE FUNCTION crm.trg_picklists('account', 'industry');
INSERT INTO crm.sec_hostile VALUES (:'org_a', 1);
DROP TABLE crm.sec_hostile;
-- The PL/pgSQL triggers of line items, quotes and versions
-- (sql/37_quotes.sql), some SECURITY DEFINER: on a table shaped like theirs,
-- in schema crm and owned by crm's owner, each refuses before it reads a
-- column or writes anything (no quote number taken, no version written).
CREATE TABLE crm.sec_hostile (organization_id uuid, id uuid, quote_id uuid, opportunity_id uuid, number text,
							  status text, version int, amount numeric, currency char(3), total_price numeric,
							  list_price numeric, tax_rate numeric, product_id uuid, name text);
CREATE TEMP TABLE hostile_result (fn text, outcome text);
DO $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY[
		'BEFORE INSERT ON crm.sec_hostile FOR EACH ROW EXECUTE FUNCTION crm.trg_opportunity_line_price()',
		'AFTER INSERT ON crm.sec_hostile REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_opportunity_amount()',
		'BEFORE INSERT ON crm.sec_hostile FOR EACH ROW EXECUTE FUNCTION crm.trg_opportunity_line_guard()',
		'BEFORE INSERT ON crm.sec_hostile FOR EACH ROW EXECUTE FUNCTION crm.trg_quote()',
		'AFTER INSERT ON crm.sec_hostile FOR EACH ROW EXECUTE FUNCTION crm.trg_quote_freeze()',
		'AFTER INSERT ON crm.sec_hostile FOR EACH ROW EXECUTE FUNCTION crm.trg_quote_accept()',
		'BEFORE INSERT ON crm.sec_hostile FOR EACH ROW EXECUTE FUNCTION crm.trg_quote_version_frozen()',
		'BEFORE INSERT ON crm.sec_hostile FOR EACH ROW EXECUTE FUNCTION crm.trg_quote_line_price()',
		'AFTER INSERT ON crm.sec_hostile REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_quote_totals()']
	LOOP
		EXECUTE 'CREATE TRIGGER t ' || t;
		BEGIN
			INSERT INTO crm.sec_hostile (organization_id, id, quote_id, opportunity_id, status, version, amount, currency, total_price, name)
			VALUES ('5ec0a0a0-0000-7000-8000-00000000000a', gen_random_uuid(), gen_random_uuid(), gen_random_uuid(),
					'sent', 1, 1, 'USD', 1, 'forged');
			INSERT INTO hostile_result VALUES (substring(t FROM 'crm\.trg_[a-z_]+'), 'RAN');
		EXCEPTION WHEN OTHERS THEN
			INSERT INTO hostile_result VALUES (substring(t FROM 'crm\.trg_[a-z_]+'), SQLSTATE || ' ' || SQLERRM);
		END;
		DROP TRIGGER t ON crm.sec_hostile;
	END LOOP;
END;
$$;
SELECT fn, outcome FROM hostile_result ORDER BY fn;
SELECT count(*) AS counters_touched FROM crm.quote_counter WHERE organization_id = :'org_a';
DROP TABLE crm.sec_hostile, hostile_result;
-- The C triggers of line items (src/quotes.c), given their table's name:
-- on a table that is not crm's own; fired the wrong way; on a crm table
-- whose columns have other types; without a transition table.  Each
-- refuses with a clear error before it reads a column or writes anything.
CREATE TEMP TABLE h_ql (organization_id uuid, quote_id uuid, product_id uuid, list_price numeric, tax_rate numeric);
CREATE TRIGGER t BEFORE INSERT ON h_ql FOR EACH ROW EXECUTE FUNCTION crm.trg_quote_line_price('quote_line_item');
INSERT INTO h_ql VALUES (:'org_a', gen_random_uuid(), NULL, NULL, NULL);
DROP TABLE h_ql;
CREATE TABLE crm.sec_hostile (organization_id uuid, id uuid, quote_id uuid, opportunity_id uuid, product_id uuid,
							  list_price text, tax_rate numeric, total_price text);
CREATE TRIGGER t AFTER INSERT ON crm.sec_hostile FOR EACH ROW EXECUTE FUNCTION crm.trg_quote_line_price('quote_line_item');
INSERT INTO crm.sec_hostile (organization_id, quote_id) VALUES (:'org_a', gen_random_uuid());
DROP TRIGGER t ON crm.sec_hostile;
CREATE TRIGGER t BEFORE INSERT ON crm.sec_hostile FOR EACH ROW EXECUTE FUNCTION crm.trg_quote_line_price('quote_line_item');
INSERT INTO crm.sec_hostile (organization_id, quote_id) VALUES (:'org_a', gen_random_uuid());
DROP TRIGGER t ON crm.sec_hostile;
CREATE TRIGGER t AFTER INSERT ON crm.sec_hostile FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_quote_totals('quote_line_item');
INSERT INTO crm.sec_hostile (organization_id, quote_id) VALUES (:'org_a', gen_random_uuid());
DROP TRIGGER t ON crm.sec_hostile;
CREATE TRIGGER t AFTER UPDATE ON crm.sec_hostile REFERENCING OLD TABLE AS o NEW TABLE AS n
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_opportunity_amount('opportunity_line_item');
INSERT INTO crm.sec_hostile (organization_id, id, opportunity_id, total_price) VALUES (:'org_a', gen_random_uuid(), gen_random_uuid(), '1');
UPDATE crm.sec_hostile SET total_price = '2';
DROP TRIGGER t ON crm.sec_hostile;
ALTER TABLE crm.sec_hostile ALTER COLUMN quote_id TYPE text USING NULL;
CREATE TRIGGER t AFTER INSERT ON crm.sec_hostile REFERENCING NEW TABLE AS n
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_quote_totals('quote_line_item');
INSERT INTO crm.sec_hostile (organization_id, quote_id) VALUES (:'org_a', 'x');
DROP TABLE crm.sec_hostile;
SELECT count(*) AS quotes_touched FROM crm.quote WHERE organization_id = :'org_a';
-- The scoring triggers (issue 11): the C statement trigger on a temp
-- table named like the events, on a crm table not owned by crm's owner, on
-- one with a text lead_id, and as a row trigger; the plpgsql ones outside
-- their tables.
CREATE TEMP TABLE engagement_event (organization_id uuid, lead_id uuid, contact_id uuid, event_type text,
									occurred_at timestamptz, properties jsonb);
CREATE TRIGGER t AFTER INSERT ON engagement_event REFERENCING NEW TABLE AS crm_new
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_engagement_score('engagement_event');
INSERT INTO engagement_event VALUES (:'org_a', gen_random_uuid(), NULL, 'page_view', now(), '{}');
DROP TABLE engagement_event;
CREATE TABLE crm.sec_hostile (organization_id uuid, lead_id text, contact_id uuid, event_type text,
							  occurred_at timestamptz, properties jsonb);
ALTER TABLE crm.sec_hostile OWNER TO sec_admin;
CREATE TRIGGER t AFTER INSERT ON crm.sec_hostile REFERENCING NEW TABLE AS crm_new
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_engagement_score('engagement_event');
INSERT INTO crm.sec_hostile VALUES (:'org_a', 'x', NULL, 'page_view', now(), '{}');
ALTER TABLE crm.sec_hostile OWNER TO CURRENT_USER;
INSERT INTO crm.sec_hostile VALUES (:'org_a', 'x', NULL, 'page_view', now(), '{}');
DROP TRIGGER t ON crm.sec_hostile;
CREATE TRIGGER t AFTER INSERT ON crm.sec_hostile FOR EACH ROW EXECUTE FUNCTION crm.trg_engagement_score('engagement_event');
INSERT INTO crm.sec_hostile VALUES (:'org_a', 'x', NULL, 'page_view', now(), '{}');
DROP TRIGGER t ON crm.sec_hostile;
CREATE TRIGGER t AFTER INSERT ON crm.sec_hostile REFERENCING NEW TABLE AS crm_old
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_engagement_score('lead');
INSERT INTO crm.sec_hostile VALUES (:'org_a', 'x', NULL, 'page_view', now(), '{}');
DROP TABLE crm.sec_hostile;
CREATE TEMP TABLE lead (organization_id uuid, id uuid, owner_id uuid, deleted_at timestamptz);
CREATE TRIGGER t AFTER INSERT ON lead REFERENCING NEW TABLE AS crm_new
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_route_leads('lead');
INSERT INTO lead VALUES (:'org_a', gen_random_uuid(), NULL, NULL);
DROP TRIGGER t ON lead;
CREATE TRIGGER t AFTER INSERT ON lead REFERENCING NEW TABLE AS crm_new
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_fit_score('lead');
INSERT INTO lead VALUES (:'org_a', gen_random_uuid(), NULL, NULL);
DROP TABLE lead;
-- Nothing was forged: no audit entry names the ids used above.
SELECT count(*) AS forged_entries FROM crm.audit_log
 WHERE row_id IN ('5ec00000-0000-7000-8000-0000000000c1', '5ec00000-0000-7000-8000-0000000000c2');

-- ---------------------------------------------------------------------------
-- 3b. The sweep: every trigger function of crm, from the catalog, on a table
-- of an application role's own that has every column of crm's tables (the
-- same names and types), attached exactly as crm attaches it to its first
-- table (timing, events, columns, transition tables, arguments).  The role
-- cannot attach any of them; attached by a superuser and fired by the role,
-- acting for B with rows that name A, each one refuses with a clear error
-- -- none runs, none crashes -- and no crm table changes.
-- ---------------------------------------------------------------------------
CREATE TEMP TABLE sweep_before AS
SELECT c.relname, (xpath('/row/h/text()', query_to_xml(format('SELECT md5(coalesce(string_agg(x::text, '','' ORDER BY x::text), '''')) AS h FROM crm.%I x', c.relname), false, true, '')))[1]::text AS h
  FROM pg_class c WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind = 'r';
-- one trigger definition per event of each function, from crm's own tables
CREATE TEMP TABLE sweep_trigger AS
SELECT DISTINCT ON (p.oid, t.tgtype & 60) p.oid::regproc::text AS fn, t.tgname::text, t.tgtype,
	   -- (a WHEN clause is dropped: the attacker writes their own trigger)
	   regexp_replace(regexp_replace(pg_get_triggerdef(t.oid), ' ON crm\.\S+ ', ' ON pg_temp.hostile '),
					  ' WHEN \(.*\) EXECUTE ', ' EXECUTE ') AS def,
	   (SELECT a.attname FROM pg_attribute a WHERE a.attrelid = t.tgrelid AND a.attnum = t.tgattr[0]) AS update_of
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid
 WHERE c.relnamespace = 'crm'::regnamespace AND NOT t.tgisinternal
   AND p.pronamespace = 'crm'::regnamespace AND p.prorettype = 'trigger'::regtype
 ORDER BY p.oid, t.tgtype & 60, c.relname, t.tgname;
SELECT count(DISTINCT fn) = (SELECT count(*) FROM pg_proc p WHERE p.pronamespace = 'crm'::regnamespace
							   AND p.prorettype = 'trigger'::regtype) AS every_trigger_function_swept
  FROM sweep_trigger;
GRANT SELECT ON sweep_trigger TO PUBLIC;
CREATE TEMP TABLE sweep_result (fn text, event text, outcome text);
GRANT ALL ON sweep_result TO PUBLIC;
SET ROLE sec_user;
DO $$
DECLARE
	cols text;
BEGIN
	SELECT string_agg(format('%I %s', x.attname, x.typ), ', ' ORDER BY x.attname) INTO cols
	  FROM (SELECT DISTINCT ON (a.attname) a.attname, format_type(a.atttypid, a.atttypmod) AS typ
			  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
			 WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
			 ORDER BY a.attname, c.relname) x;
	EXECUTE format('CREATE TEMP TABLE hostile (%s)', cols);
END;
$$;
INSERT INTO hostile (organization_id, id) VALUES (:'org_a', '5ec00000-0000-7000-8000-0000000000d1');
-- the role itself: refused
DO $$
DECLARE
	t record;
BEGIN
	FOR t IN SELECT * FROM sweep_trigger LOOP
		BEGIN
			EXECUTE t.def;
			INSERT INTO sweep_result VALUES (t.fn, 'attach', 'ATTACHED');
		EXCEPTION WHEN OTHERS THEN
			INSERT INTO sweep_result VALUES (t.fn, 'attach', SQLSTATE);
		END;
	END LOOP;
END;
$$;
RESET ROLE;
SELECT outcome, count(DISTINCT fn) AS functions FROM sweep_result WHERE event = 'attach' GROUP BY 1;
-- attached by the superuser, fired by the role for each event
DO $$
DECLARE
	t record;
	ev text;
BEGIN
	FOR t IN SELECT * FROM sweep_trigger ORDER BY fn, tgtype LOOP
		EXECUTE t.def;
		FOREACH ev IN ARRAY ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'] LOOP
			CONTINUE WHEN t.tgtype & CASE ev WHEN 'INSERT' THEN 4 WHEN 'DELETE' THEN 8 WHEN 'UPDATE' THEN 16 ELSE 32 END = 0;
			BEGIN
				SET LOCAL ROLE sec_user;
				PERFORM set_config('crm.organization_id', '5ec0b0b0-0000-7000-8000-00000000000b', true);
				EXECUTE CASE ev
					WHEN 'INSERT' THEN 'INSERT INTO hostile (organization_id, id) VALUES (''5ec0a0a0-0000-7000-8000-00000000000a'', gen_random_uuid())'
					WHEN 'UPDATE' THEN format('UPDATE hostile SET %1$I = %1$I', coalesce(t.update_of, 'organization_id'))
					WHEN 'DELETE' THEN 'DELETE FROM hostile'
					ELSE 'TRUNCATE hostile' END;
				RESET ROLE;		-- (what it did stays, for the check below)
				INSERT INTO sweep_result VALUES (t.fn, ev, 'RAN');
			EXCEPTION WHEN OTHERS THEN
				INSERT INTO sweep_result VALUES (t.fn, ev, SQLSTATE || ' ' || SQLERRM);
			END;
		END LOOP;
		EXECUTE format('DROP TRIGGER %I ON pg_temp.hostile', t.tgname);
	END LOOP;
END;
$$;
SELECT fn, string_agg(DISTINCT event, ', ' ORDER BY event) AS events, outcome
  FROM sweep_result WHERE event <> 'attach' GROUP BY fn, outcome ORDER BY fn, outcome;
-- no crm table changed
SELECT c.relname FROM pg_class c JOIN sweep_before b USING (relname)
 WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind = 'r'
   AND (xpath('/row/h/text()', query_to_xml(format('SELECT md5(coalesce(string_agg(x::text, '','' ORDER BY x::text), '''')) AS h FROM crm.%I x', c.relname), false, true, '')))[1]::text
	   IS DISTINCT FROM b.h;
DROP TABLE hostile, sweep_trigger, sweep_result, sweep_before;

-- Where the checks do not refuse: a table of crm's own under another name,
-- as a shard of crm.quote is on Citus (quote_102008: same schema and owner,
-- another name and OID).  The quote trigger identifies its table by the
-- logical name its trigger argument gives, so it numbers the quote.
SET crm.organization_id = :'org_a';
CREATE TABLE crm.quote_102008 (LIKE crm.quote INCLUDING DEFAULTS);
CREATE TRIGGER crm_30_quote BEFORE INSERT OR UPDATE OR DELETE ON crm.quote_102008
	FOR EACH ROW EXECUTE FUNCTION crm.trg_quote('quote');
INSERT INTO crm.quote_102008 (name) VALUES ('On a shard') RETURNING number, status;
-- given another logical name than the function works on, it refuses
DROP TRIGGER crm_30_quote ON crm.quote_102008;
CREATE TRIGGER crm_30_quote BEFORE INSERT ON crm.quote_102008
	FOR EACH ROW EXECUTE FUNCTION crm.trg_quote('quote_102008');
INSERT INTO crm.quote_102008 (name) VALUES ('On a shard');
DROP TRIGGER crm_30_quote ON crm.quote_102008;
DELETE FROM crm.quote_102008;
DROP TABLE crm.quote_102008;
DELETE FROM crm.quote_counter WHERE organization_id = :'org_a';

-- ---------------------------------------------------------------------------
-- 4. A tenant limit binds the members of the limited role (S3), also
-- through nested groups, as current user and as session user; limits only
-- narrow (an unrestricted grant as well does not lift them).
-- ---------------------------------------------------------------------------
CREATE ROLE sec_group;
SELECT crm.grant_access('sec_group', 'readonly', ARRAY[:'org_a']::uuid[]);
CREATE ROLE sec_member IN ROLE sec_group;
CREATE ROLE sec_nested IN ROLE sec_member;
GRANT sec_user TO sec_member;			-- an unrestricted grant as well
SET ROLE sec_member;
SET crm.organization_id = :'org_a';
SELECT count(*) >= 0 AS member_reads_a FROM crm.contact;
SET crm.organization_id = :'org_b';
SELECT count(*) FROM crm.contact;
RESET ROLE;
SET ROLE sec_nested;
SET crm.organization_id = :'org_b';
SELECT crm.current_org();
SET crm.organization_id = :'org_a';
SELECT crm.current_org() = :'org_a' AS nested_acts_for_a;
RESET ROLE;
SET SESSION AUTHORIZATION sec_member;
SET crm.organization_id = :'org_b';
SELECT crm.current_org();
RESET SESSION AUTHORIZATION;
-- the SECURITY DEFINER functions apply the same rule to the calling role
GRANT sec_group TO sec_user;
SET ROLE sec_user;
SET crm.organization_id = :'org_b';
SELECT crm.erasure_lookup('nobody@b.example');
RESET ROLE;
REVOKE sec_group FROM sec_user;

-- ---------------------------------------------------------------------------
-- 5. Locks of crm's own keyspace: a hierarchy change of tenant A holds a
-- lock no SQL caller can compute (advisory, field4 not 1 or 2), so taking
-- the old key (hashtext(table), hashtext(org)) stalls nobody.
-- ---------------------------------------------------------------------------
SET crm.organization_id = :'org_a';
BEGIN;
INSERT INTO crm.account (name) VALUES ('Parent') RETURNING id AS sec_parent \gset
INSERT INTO crm.account (name, parent_account_id) VALUES ('Child', :'sec_parent');
SELECT locktype, objsubid, mode FROM pg_locks
 WHERE pid = pg_backend_pid() AND locktype = 'advisory' ORDER BY objsubid;
SELECT pg_try_advisory_xact_lock(hashtext('account'), hashtext(:'org_a')) AS old_key_is_free;
ROLLBACK;

-- ---------------------------------------------------------------------------
-- 6. Events: each organization has its own channel, named by a keyed hash
-- of its id (S5); crm.emit files an event under the record's organization
-- (review 3), which row-level security checks for application roles.
-- ---------------------------------------------------------------------------
SET crm.organization_id = :'org_a';
SELECT crm.event_channel() AS chan_a \gset
SET crm.organization_id = :'org_b';
SELECT crm.event_channel() AS chan_b \gset
SELECT :'chan_a' <> :'chan_b' AS per_tenant,
	   :'chan_a' ~ '^crm_events_[0-9a-f]{32}$' AS well_formed,
	   position(replace(:'org_a', '-', '') IN :'chan_a') = 0 AS id_not_in_name;
-- the key is not readable by application roles
SET ROLE sec_admin;
SELECT * FROM crm.event_key;
-- an admin acting for B cannot file an event under A
SELECT crm.emit('test.event', 'crm.contact', NULL, '{}', :'org_a');
RESET ROLE;
-- a superuser session acting for B files A's record event under A
SELECT crm.emit('test.event', 'crm.contact', NULL, '{}', :'org_a') AS ev \gset
SELECT organization_id = :'org_a' AS under_record_org FROM crm.outbox WHERE id = :'ev';

-- ---------------------------------------------------------------------------
-- 7. Dropping what the CRM tables depend on (S6): ALTER EXTENSION crm DROP
-- TYPE crm.email; DROP TYPE crm.email CASCADE dropped the extension and
-- every table.  Refused, and the type is back in the extension.
-- ---------------------------------------------------------------------------
ALTER EXTENSION crm DROP TYPE crm.email;
DROP TYPE crm.email CASCADE;
DROP FUNCTION crm.email_domain(crm.email) CASCADE;
ALTER EXTENSION crm ADD TYPE crm.email;
SELECT count(*) > 0 AS organizations_still_there FROM crm.organization;
-- A column of a CRM table dropped directly is refused too (checked on what
-- the command dropped, before it commits) ...  (A column no crm.v_* view
-- shows: dropping one of those fails earlier, on the view's dependency.)
ALTER TABLE crm.note DROP COLUMN is_pinned;
-- ... unless the superuser says so; here rolled back.
BEGIN;
SET LOCAL crm.allow_drop_with_data = on;
ALTER TABLE crm.note DROP COLUMN is_pinned;
ROLLBACK;
SELECT count(*) AS is_pinned_column FROM pg_attribute WHERE attrelid = 'crm.note'::regclass AND attname = 'is_pinned';

-- Clean up.
SET ROLE sec_reader;
DROP TABLE s1, attach_result;
RESET ROLE;
DELETE FROM crm.outbox WHERE organization_id IN (:'org_a', :'org_b');
DELETE FROM crm.organization WHERE id IN (:'org_a', :'org_b');
SELECT crm.revoke_access(r) FROM unnest(ARRAY['sec_reader', 'sec_user', 'sec_admin', 'sec_group']::regrole[]) r;
DROP ROLE sec_nested;
DROP ROLE sec_member;
DROP ROLE sec_group;
DROP ROLE sec_reader;
DROP ROLE sec_user;
DROP ROLE sec_admin;
