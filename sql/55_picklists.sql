-- ============================================================================
-- 55 picklists: per-tenant lists of the values a descriptive column may take
-- (account type, industry, lead source, ...).  Fixed lifecycles that logic
-- depends on (statuses, activity types, priorities) stay CHECK constraints.
--
--   crm.picklist          the lists crm knows, with their default values
--                         (global; filled by the install and update scripts)
--   crm.picklist_column   which column takes its values from which list
--   crm.picklist_value    each tenant's values of each list (tenant table;
--                         admins write, everyone reads)
--
-- A picklist column is guarded twice: a composite foreign key
-- (organization_id, <column>_list, <column>) -> crm.picklist_value
-- (organization_id, list, value) is the guarantee -- index-served, safe
-- against a concurrent removal of the value, distributable with Citus -- and
-- the C trigger crm.trg_picklists checks first, so that a value outside the
-- list is refused with the allowed values named (a foreign key error cannot
-- name them).  <column>_list is a generated column holding the list's name.
-- ============================================================================

CREATE TABLE crm.picklist (
	name		text NOT NULL,
	description	text NOT NULL,
	defaults	jsonb NOT NULL,
	CONSTRAINT picklist_pkey PRIMARY KEY (name),
	CONSTRAINT picklist_name_format CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
	CONSTRAINT picklist_defaults_array CHECK (jsonb_typeof(defaults) = 'array')
);
COMMENT ON TABLE crm.picklist IS 'The picklists crm knows (filled by the install and update scripts); each organization has its own values of each in crm.picklist_value.';
COMMENT ON COLUMN crm.picklist.name IS 'List name (account_type, industry, lead_source, ...).';
COMMENT ON COLUMN crm.picklist.description IS 'What the list is for.';
COMMENT ON COLUMN crm.picklist.defaults IS 'The values a new organization starts with: a JSON array of [value, label] pairs, in display order.';

CREATE TABLE crm.picklist_column (
	table_name	name NOT NULL,
	column_name	name NOT NULL,
	list		text NOT NULL,
	CONSTRAINT picklist_column_pkey PRIMARY KEY (table_name, column_name),
	CONSTRAINT picklist_column_list_fkey FOREIGN KEY (list) REFERENCES crm.picklist (name)
);
COMMENT ON TABLE crm.picklist_column IS 'Which column of which crm table takes its values from which picklist (filled by crm._setup_picklist).';
COMMENT ON COLUMN crm.picklist_column.table_name IS 'Table in schema crm.';
COMMENT ON COLUMN crm.picklist_column.column_name IS 'The text column checked against the list.';
COMMENT ON COLUMN crm.picklist_column.list IS 'The crm.picklist it takes its values from.';
GRANT SELECT ON crm.picklist, crm.picklist_column TO PUBLIC;

CREATE TABLE crm.picklist_value (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	list		text NOT NULL,
	value		text NOT NULL,
	label		text,
	position	integer NOT NULL DEFAULT 0,
	is_active	boolean NOT NULL DEFAULT true,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	-- the key the picklist columns' foreign keys use; the only index
	-- leading with organization_id (design.md, "Indexes and foreign-key checks")
	CONSTRAINT picklist_value_pkey PRIMARY KEY (organization_id, list, value),
	CONSTRAINT picklist_value_id_key UNIQUE (id, organization_id),
	-- the organization owns its lists: they go with it
	CONSTRAINT picklist_value_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id) ON DELETE CASCADE,
	CONSTRAINT picklist_value_list_fkey FOREIGN KEY (list) REFERENCES crm.picklist (name),
	CONSTRAINT picklist_value_value_not_blank CHECK (pg_catalog.btrim(value) <> '' AND pg_catalog.length(value) <= 200),
	CONSTRAINT picklist_value_label_not_blank CHECK (pg_catalog.btrim(label) <> '')
);
COMMENT ON TABLE crm.picklist_value IS 'An organization''s allowed values of a picklist (crm.picklist): admins add, relabel, reorder and retire them; records may only take active values.';
COMMENT ON COLUMN crm.picklist_value.list IS 'The crm.picklist the value belongs to.';
COMMENT ON COLUMN crm.picklist_value.value IS 'The value stored in records (case-sensitive). A value records use cannot be deleted or renamed (foreign key); retire it with is_active = false.';
COMMENT ON COLUMN crm.picklist_value.label IS 'Label shown to users; NULL shows the value.';
COMMENT ON COLUMN crm.picklist_value.position IS 'Display order within the list.';
COMMENT ON COLUMN crm.picklist_value.is_active IS 'False: retired -- records keep it, but no record may newly take it.';
-- Not audited: every new organization gets some 60 default values, which
-- would be as many audit entries; changes of records are audited as ever.
SELECT crm._setup_tenant_table('crm.picklist_value', audited => false, label => 'picklist value');

CREATE FUNCTION crm.trg_picklists() RETURNS trigger
	AS 'MODULE_PATHNAME', 'picklist_check'
	LANGUAGE C;
COMMENT ON FUNCTION crm.trg_picklists() IS
	'BEFORE row trigger (arguments: logical table name, then column/list pairs): refuses a picklist column value that is not an active value of the organization''s list, naming the allowed values (23514).';

-- Make a text column of a tenant table a picklist column: the generated
-- <column>_list column, the composite foreign key <table>_<column>_fkey,
-- the registry row, and the table's crm_12_picklists trigger (re)created
-- with all of its picklist columns.  Install and update scripts call it.
CREATE FUNCTION crm._setup_picklist(tbl regclass, col name, list text)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	rel name := (SELECT relname FROM pg_class WHERE oid = tbl);
	cols text;
	args text;
BEGIN
	EXECUTE format('ALTER TABLE %s ADD COLUMN %I text GENERATED ALWAYS AS (%L::text) STORED',
				   tbl, col || '_list', list);
	EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', tbl, col || '_list',
				   format('Always %s: the picklist of %s, paired with organization_id and %s in the foreign key to crm.picklist_value.',
						  list, col, col));
	EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I FOREIGN KEY (organization_id, %I, %I) '
				   'REFERENCES crm.picklist_value (organization_id, list, value)',
				   tbl, rel || '_' || col || '_fkey', col || '_list', col);
	INSERT INTO crm.picklist_column (table_name, column_name, list) VALUES (rel, col, list);

	SELECT string_agg(quote_ident(c.column_name), ', ' ORDER BY c.column_name),
		   string_agg(format('%L, %L', c.column_name, c.list), ', ' ORDER BY c.column_name)
	  INTO cols, args
	  FROM crm.picklist_column c WHERE c.table_name = rel;
	EXECUTE format('DROP TRIGGER IF EXISTS crm_12_picklists ON %s', tbl);
	EXECUTE format('CREATE TRIGGER crm_12_picklists BEFORE INSERT OR UPDATE OF %s ON %s '
				   'FOR EACH ROW EXECUTE FUNCTION crm.trg_picklists(%L, %s)', cols, tbl, rel, args);
END;
$$;
COMMENT ON FUNCTION crm._setup_picklist(regclass, name, text) IS
	'Install-time helper: makes a column a picklist column (generated <column>_list, foreign key to crm.picklist_value, crm.picklist_column row, crm_12_picklists trigger).';

-- Give an organization the default values of every list, and every value
-- its records already hold (so an organization that existed before a list
-- did keeps its data valid).  Existing values are left as they are.
CREATE FUNCTION crm._picklist_seed(org uuid)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	c record;
BEGIN
	INSERT INTO crm.picklist_value AS v (organization_id, list, value, label, position)
	SELECT org, p.name, d.pair ->> 0, d.pair ->> 1, 10 * d.n
	  FROM crm.picklist p, jsonb_array_elements(p.defaults) WITH ORDINALITY AS d(pair, n)
	ON CONFLICT ON CONSTRAINT picklist_value_pkey DO NOTHING;
	FOR c IN SELECT * FROM crm.picklist_column ORDER BY table_name, column_name LOOP
		EXECUTE format('INSERT INTO crm.picklist_value AS v (organization_id, list, value, position)
						SELECT DISTINCT $1, $2, t.%I, 1000 FROM crm.%I t
						 WHERE t.organization_id = $1 AND t.%I IS NOT NULL
						ON CONFLICT ON CONSTRAINT picklist_value_pkey DO NOTHING',
					   c.column_name, c.table_name, c.column_name)
		USING org, c.list;
	END LOOP;
END;
$$;
COMMENT ON FUNCTION crm._picklist_seed(uuid) IS
	'Internal: gives an organization the default values of every picklist and the values its records already hold.';

-- Every new organization starts with the defaults, however it is created
-- (crm.create_organization or a superuser's INSERT); not in restore mode,
-- where the values come from the dump.
CREATE FUNCTION crm._picklist_seed_trigger() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	PERFORM crm._trigger_table_ok('crm._picklist_seed_trigger()', TG_NAME, TG_RELID, TG_ARGV, '{organization}');
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN NULL;
	END IF;
	PERFORM crm._picklist_seed(NEW.id);
	RETURN NULL;
END;
$$;
COMMENT ON FUNCTION crm._picklist_seed_trigger() IS
	'AFTER INSERT trigger on crm.organization: gives the new organization the default picklist values (not in restore mode).';
CREATE TRIGGER crm_50_picklist_seed AFTER INSERT ON crm.organization
	FOR EACH ROW EXECUTE FUNCTION crm._picklist_seed_trigger('organization');

-- ---------------------------------------------------------------------------
-- The lists and their columns.
-- ---------------------------------------------------------------------------
INSERT INTO crm.picklist (name, description, defaults) VALUES
	('account_type', 'What an account is to the organization (crm.account.type).',
	 '[["prospect", "Prospect"], ["customer", "Customer"], ["partner", "Partner"], ["competitor", "Competitor"], ["other", "Other"]]'),
	('account_rating', 'How promising an account is (crm.account.rating).',
	 '[["hot", "Hot"], ["warm", "Warm"], ["cold", "Cold"]]'),
	('industry', 'Industry of an account or lead (crm.account.industry, crm.lead.industry).',
	 '[["Agriculture", "Agriculture"], ["Automotive", "Automotive"], ["Banking", "Banking"], ["Construction", "Construction"],
	   ["Consulting", "Consulting"], ["Education", "Education"], ["Energy", "Energy"], ["Finance", "Finance"],
	   ["Government", "Government"], ["Hardware", "Hardware"], ["Healthcare", "Healthcare"], ["Hospitality", "Hospitality"],
	   ["Insurance", "Insurance"], ["Logistics", "Logistics"], ["Manufacturing", "Manufacturing"], ["Media", "Media"],
	   ["Nonprofit", "Nonprofit"], ["Pharmaceuticals", "Pharmaceuticals"], ["Public Sector", "Public Sector"],
	   ["Real Estate", "Real Estate"], ["Research", "Research"], ["Retail", "Retail"], ["Software", "Software"],
	   ["Telecommunications", "Telecommunications"], ["Transportation", "Transportation"], ["Other", "Other"]]'),
	('lead_source', 'Where a lead or contact came from (crm.lead.lead_source, crm.contact.lead_source).',
	 '[["web", "Web"], ["referral", "Referral"], ["event", "Event"], ["partner", "Partner"], ["advertising", "Advertising"],
	   ["cold_call", "Cold call"], ["email", "Email"], ["social", "Social media"], ["import", "Import"], ["other", "Other"]]'),
	('contact_method', 'How a contact prefers to be reached (crm.contact.preferred_contact_method).',
	 '[["email", "Email"], ["phone", "Phone"], ["mobile", "Mobile"], ["sms", "SMS"], ["mail", "Mail"], ["none", "None"]]'),
	('activity_outcome', 'The result of an activity (crm.activity.outcome).',
	 '[["connected", "Connected"], ["left voicemail", "Left voicemail"], ["no answer", "No answer"], ["busy", "Busy"],
	   ["wrong number", "Wrong number"], ["meeting booked", "Meeting booked"], ["not interested", "Not interested"],
	   ["completed", "Completed"]]'),
	('team_role', 'A member''s role in a team (crm.team_member.role).',
	 '[["member", "Member"], ["lead", "Lead"], ["manager", "Manager"]]');

SELECT crm._setup_picklist('crm.account', 'type', 'account_type');
SELECT crm._setup_picklist('crm.account', 'rating', 'account_rating');
SELECT crm._setup_picklist('crm.account', 'industry', 'industry');
SELECT crm._setup_picklist('crm.lead', 'industry', 'industry');
SELECT crm._setup_picklist('crm.lead', 'lead_source', 'lead_source');
SELECT crm._setup_picklist('crm.contact', 'lead_source', 'lead_source');
SELECT crm._setup_picklist('crm.contact', 'preferred_contact_method', 'contact_method');
SELECT crm._setup_picklist('crm.activity', 'outcome', 'activity_outcome');
SELECT crm._setup_picklist('crm.team_member', 'role', 'team_role');

-- Organizations that exist when this script runs (an update script does
-- the same) get the defaults and the values their records hold.
SELECT crm._picklist_seed(o.id) FROM crm.organization o;


-- ---------------------------------------------------------------------------
-- crm.verify() check: records holding a value that is not in their
-- organization's list.  The foreign keys hold in restore mode too, so only
-- a write that bypassed them (session_replication_role = replica) shows up.
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm.check_picklists()
RETURNS TABLE (entity text, id uuid, expected text, actual text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	c record;
BEGIN
	FOR c IN SELECT * FROM crm.picklist_column ORDER BY table_name, column_name LOOP
		RETURN QUERY EXECUTE format(
			'SELECT %1$L::text, t.id, %3$L::text, format(''%%s = %%L is not in the list'', %2$L, t.%2$I)
			   FROM crm.%1$I t
			  WHERE t.%2$I IS NOT NULL
				AND NOT EXISTS (SELECT 1 FROM crm.picklist_value v
								 WHERE v.organization_id = t.organization_id AND v.list = %4$L AND v.value = t.%2$I)
			  ORDER BY t.organization_id, t.id',
			c.table_name, c.column_name, format('%s in the organization''s picklist %s', c.column_name, c.list), c.list);
	END LOOP;
END;
$$;
COMMENT ON FUNCTION crm.check_picklists() IS
	'crm.verify() check: records whose picklist columns hold a value missing from their organization''s crm.picklist_value list (written behind the foreign keys).';
INSERT INTO crm.verify_check VALUES
	('picklists', 'crm.check_picklists()', 'Every picklist column holds a value of its organization''s list.');
