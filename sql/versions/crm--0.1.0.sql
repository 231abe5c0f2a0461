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
-- ============================================================================
-- 01 base: ids, the tenant and the actor, organizations, per-role access
-- ============================================================================

CREATE FUNCTION crm.uuid_v7() RETURNS uuid
	AS 'MODULE_PATHNAME', 'uuid7_generate'
	LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION crm.uuid_v7() IS
	'A new RFC 9562 version 7 uuid: time-ordered, strictly increasing within a session. Default for every id.';

CREATE FUNCTION crm.uuid_v7_time(uuid) RETURNS timestamptz
	AS 'MODULE_PATHNAME', 'uuid7_timestamp'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.uuid_v7_time(uuid) IS
	'The creation time embedded in a version 7 uuid (millisecond precision); NULL for other uuid versions.';

CREATE FUNCTION crm.current_org() RETURNS uuid
	AS 'MODULE_PATHNAME', 'tenancy_current_org'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.current_org() IS
	'The organization this transaction acts for (GUC crm.organization_id). Errors when unset, malformed, or not allowed for the current role.';

CREATE FUNCTION crm.current_user_id() RETURNS uuid
	AS 'MODULE_PATHNAME', 'tenancy_current_user_id'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.current_user_id() IS
	'The acting crm.app_user (GUC crm.user_id). Errors when unset or malformed.';

CREATE FUNCTION crm.acting_user() RETURNS uuid
	AS 'MODULE_PATHNAME', 'tenancy_acting_user'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.acting_user() IS
	'The acting crm.app_user (GUC crm.user_id), or NULL when none is set (a system write). Errors when malformed.';

CREATE FUNCTION crm._reset_access_cache() RETURNS void
	AS 'MODULE_PATHNAME', 'tenancy_reset_access_cache'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION crm._reset_access_cache() IS
	'Internal: drops this session''s cached role restrictions after crm.role_access changed.';

CREATE FUNCTION crm.is_valid_timezone(text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'tz_is_valid'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.is_valid_timezone(text) IS
	'True when the text names a time zone PostgreSQL knows (IANA name such as Europe/Berlin, or UTC).';

-- Guards every CRM table (attached BEFORE INSERT OR TRUNCATE FOR EACH
-- STATEMENT): TRUNCATE is refused while the table holds rows, and so is a
-- restore (a session writing with row_security or check_function_bodies off) without
-- crm.pre_restore().  src/drop_guard.c.
CREATE FUNCTION crm.trg_data_guard() RETURNS trigger
	AS 'MODULE_PATHNAME', 'data_guard'
	LANGUAGE C;
COMMENT ON FUNCTION crm.trg_data_guard() IS
	'BEFORE INSERT OR TRUNCATE statement trigger on every CRM table: refuses TRUNCATE while the table holds rows (crm.allow_drop_with_data overrides) and writes of a restore (row_security or check_function_bodies off) that did not call crm.pre_restore() first.';
REVOKE ALL ON FUNCTION crm.trg_data_guard() FROM PUBLIC;

-- The tenant.  Global: one row per organization; row-level security lets a
-- session see only its own.
CREATE TABLE crm.organization (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	name		text NOT NULL,
	slug		text,
	is_active	boolean NOT NULL DEFAULT true,
	default_currency char(3) NOT NULL DEFAULT 'USD',
	default_country char(2),
	default_timezone text NOT NULL DEFAULT 'UTC',
	settings	jsonb NOT NULL DEFAULT '{}',
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT organization_pkey PRIMARY KEY (id),
	CONSTRAINT organization_name_not_blank CHECK (pg_catalog.btrim(name) <> ''),
	CONSTRAINT organization_slug_format CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
	CONSTRAINT organization_currency_format CHECK (default_currency ~ '^[A-Z]{3}$'),
	CONSTRAINT organization_country_format CHECK (default_country ~ '^[A-Z]{2}$'),
	CONSTRAINT organization_timezone_valid CHECK (crm.is_valid_timezone(default_timezone)),
	CONSTRAINT organization_settings_object CHECK (jsonb_typeof(settings) = 'object')
);
CREATE UNIQUE INDEX organization_slug_key ON crm.organization (slug);
COMMENT ON TABLE crm.organization IS 'A tenant. Every other crm table row belongs to exactly one organization.';
COMMENT ON COLUMN crm.organization.id IS 'Primary key (uuid v7); the value of crm.organization_id for sessions acting for this tenant.';
COMMENT ON COLUMN crm.organization.name IS 'Display name.';
COMMENT ON COLUMN crm.organization.slug IS 'Optional unique short name (lower case, digits, hyphens).';
COMMENT ON COLUMN crm.organization.is_active IS 'False for a suspended tenant.';
COMMENT ON COLUMN crm.organization.default_currency IS 'ISO 4217 code used when a money amount gives none.';
COMMENT ON COLUMN crm.organization.default_country IS 'ISO 3166 alpha-2 country (upper case) the tenant mostly works in, for its forms and reports; NULL: none.';
COMMENT ON COLUMN crm.organization.default_timezone IS 'IANA time zone for the tenant''s calendars and reports.';
COMMENT ON COLUMN crm.organization.settings IS 'Tenant settings (JSON object).';
COMMENT ON COLUMN crm.organization.created_at IS 'When the organization was created.';
COMMENT ON COLUMN crm.organization.updated_at IS 'When the organization row last changed.';

ALTER TABLE crm.organization ENABLE ROW LEVEL SECURITY;
CREATE POLICY organization_self ON crm.organization
	USING (id = crm.current_org())
	WITH CHECK (id = crm.current_org());
SELECT pg_catalog.pg_extension_config_dump('crm.organization', '');
CREATE TRIGGER crm_00_data_guard BEFORE INSERT OR TRUNCATE ON crm.organization
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_data_guard();

-- Which database roles crm.grant_access() has set up, at which level, and for
-- which organizations (NULL: any, for a shared connection pool that sets the
-- tenant per transaction).
CREATE TABLE crm.role_access (
	role		regrole NOT NULL,
	level		text NOT NULL,
	organizations uuid[],
	granted_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT role_access_pkey PRIMARY KEY (role),
	CONSTRAINT role_access_level_valid CHECK (level IN ('admin', 'user', 'readonly')),
	CONSTRAINT role_access_organizations_not_empty CHECK (organizations IS NULL OR cardinality(organizations) > 0)
);
COMMENT ON TABLE crm.role_access IS 'Database roles set up by crm.grant_access(): their level and the organizations they may act for.';
COMMENT ON COLUMN crm.role_access.role IS 'The database role.';
COMMENT ON COLUMN crm.role_access.level IS 'admin, user or readonly.';
COMMENT ON COLUMN crm.role_access.organizations IS 'The only organizations the role may set crm.organization_id to; NULL means any.';
COMMENT ON COLUMN crm.role_access.granted_at IS 'When the grant was last made.';
SELECT pg_catalog.pg_extension_config_dump('crm.role_access', '');
CREATE TRIGGER crm_00_data_guard BEFORE INSERT OR TRUNCATE ON crm.role_access
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_data_guard();

-- Create a tenant and return its id.
CREATE FUNCTION crm.create_organization(name text, slug text DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	new_id uuid;
	restricted boolean;
BEGIN
	-- Only a role free to act for any organization may create one.
	SELECT bool_or(a.organizations IS NOT NULL OR a.level <> 'admin') INTO restricted
	  FROM crm.role_access a
	 WHERE a.role IN (session_user::regrole, current_user::regrole);
	IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = session_user)
	   AND coalesce(restricted, true) THEN
		RAISE EXCEPTION 'permission denied to create an organization'
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Only a superuser or a role granted crm.grant_access(role, ''admin'') for all organizations can.';
	END IF;
	INSERT INTO crm.organization AS o (name, slug) VALUES (create_organization.name, create_organization.slug)
	RETURNING o.id INTO new_id;
	-- every tenant starts with a default pipeline (sql/35_sales.sql)
	PERFORM crm._seed_default_pipeline(new_id);
	-- the default scoring model (sql/45_scoring.sql)
	PERFORM crm._seed_scoring(new_id);
	-- and a 24x7 business calendar (sql/76_sla.sql)
	PERFORM crm._seed_sla(new_id);
	RETURN new_id;
END;
$$;
COMMENT ON FUNCTION crm.create_organization(text, text) IS
	'Creates a tenant with its default pipeline, scoring model and 24x7 business calendar and returns its id. Superuser or an unrestricted crm admin role only.';
REVOKE ALL ON FUNCTION crm.create_organization(text, text) FROM PUBLIC;
-- ============================================================================
-- 02 machinery: what every tenant table gets, and the registries that the
-- feature modules plug into (verify checks, scheduled jobs, the outbox)
-- ============================================================================

-- C trigger functions shared by all core tables.
CREATE FUNCTION crm.trg_stamp() RETURNS trigger
	AS 'MODULE_PATHNAME', 'stamp_row'
	LANGUAGE C;
COMMENT ON FUNCTION crm.trg_stamp() IS
	'BEFORE row trigger: created_at/created_by on insert, updated_at/updated_by on update; id and organization_id are immutable.';

CREATE FUNCTION crm.trg_audit() RETURNS trigger
	AS 'MODULE_PATHNAME', 'audit_capture'
	LANGUAGE C;
COMMENT ON FUNCTION crm.trg_audit() IS
	'AFTER statement trigger with transition tables: writes crm.audit_log, one row per changed record with only the changed columns.';

CREATE FUNCTION crm.trg_live_refs() RETURNS trigger
	AS 'MODULE_PATHNAME', 'live_refs_check'
	LANGUAGE C;
COMMENT ON FUNCTION crm.trg_live_refs() IS
	'BEFORE row trigger: a new or changed reference must point at a live record (not soft-deleted, not merged away); a soft delete locks its row against concurrent new references.';

CREATE FUNCTION crm.trg_custom_fields() RETURNS trigger
	AS 'MODULE_PATHNAME', 'custom_fields_validate'
	LANGUAGE C;
COMMENT ON FUNCTION crm.trg_custom_fields() IS
	'BEFORE row trigger: validates custom_fields against the tenant''s crm.custom_field definitions.';

-- Registry of the tables crm manages per tenant, and what they get.
CREATE TABLE crm.table_registry (
	table_name	name NOT NULL,
	is_audited	boolean NOT NULL,
	entity_label text NOT NULL,
	has_custom_fields boolean NOT NULL DEFAULT false,
	CONSTRAINT table_registry_pkey PRIMARY KEY (table_name)
);
COMMENT ON TABLE crm.table_registry IS 'The tenant tables of crm (filled by the install and upgrade scripts): tests and crm.verify() iterate over it.';
COMMENT ON COLUMN crm.table_registry.table_name IS 'Table name in schema crm.';
COMMENT ON COLUMN crm.table_registry.is_audited IS 'Whether changes are written to crm.audit_log.';
COMMENT ON COLUMN crm.table_registry.entity_label IS 'Human name of one row (''contact'', ''audit entry'').';
COMMENT ON COLUMN crm.table_registry.has_custom_fields IS 'Whether the table has a custom_fields column (validated against crm.custom_field definitions of this entity); set by crm._setup_tenant_table.';

-- Comments of the columns every tenant table shares.
CREATE FUNCTION crm._comment_common(tbl regclass) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	c record;
BEGIN
	FOR c IN
		SELECT a.attname, v.txt
		  FROM pg_attribute a
		  JOIN (VALUES
			('id', 'Primary key within the organization (uuid v7, time-ordered).'),
			('organization_id', 'The owning tenant (crm.organization); defaults to crm.current_org(). First column of every key.'),
			('created_at', 'When the row was created (kept as given on import, else now()).'),
			('updated_at', 'When the row last changed (maintained by crm.trg_stamp).'),
			('created_by', 'The crm.app_user who created the row (crm.user_id); NULL for system writes.'),
			('updated_by', 'The crm.app_user who last changed the row; NULL for system writes.'),
			('deleted_at', 'Soft delete: set to hide the row from normal lists; unique keys ignore deleted rows.'),
			('tags', 'Free tags (GIN indexed, also under row-level security: WHERE tags OPERATOR(crm.@>) ARRAY[''vip'']).'),
			('custom_fields', 'Tenant-defined fields as a JSON object, validated against crm.custom_field.'),
			('owner_id', 'The crm.app_user who owns the record.'),
			('search_vector', 'Generated full-text vector for crm.search().')
		  ) AS v(col, txt) ON v.col = a.attname
		 WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped
	LOOP
		EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', tbl, c.attname, c.txt);
	END LOOP;
END;
$$;
COMMENT ON FUNCTION crm._comment_common(regclass) IS 'Install-time helper: comments the common columns of a tenant table.';

-- The live-reference trigger (crm.trg_live_refs, src/live_refs.c) of a
-- table: BEFORE INSERT, and BEFORE UPDATE OF the columns whose change it
-- acts on -- its references (tenant foreign keys (organization_id, x_id) to
-- a crm table with deleted_at, found by the same rule as live_refs() in C)
-- and the table's own deleted_at (a soft delete locks the row).  An UPDATE
-- that sets none of them (a stage change, a new name) leaves them as they
-- were -- the BEFORE triggers that run earlier (crm_10_stamp,
-- crm_05_entity) write none of them -- so the function would find nothing
-- to do: PostgreSQL does not call it.  (UPDATE OF, a bitmap test, rather
-- than a WHEN condition, whose expression every statement would read and
-- compile again: most updates are single-row statements.)  The column list
-- is the table's foreign keys at the time of the call: whoever adds a
-- tenant foreign key to a table that has the trigger calls this again
-- (the install script does at its end, sql/94_live_refs.sql; the pgTAP
-- test live_refs_trigger.sql fails on a stale list).
CREATE FUNCTION crm._setup_live_refs(tbl regclass)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	rel name := (SELECT relname FROM pg_class WHERE oid = tbl);
	cols text;
BEGIN
	SELECT string_agg(quote_ident(c.attname), ', ' ORDER BY c.attname) INTO cols
	  FROM (SELECT a.attname
			  FROM pg_constraint k
			  JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[2]
			 WHERE k.conrelid = tbl AND k.contype = 'f' AND cardinality(k.conkey) = 2
			   AND a.atttypid = 'uuid'::regtype
			   AND k.conkey[1] = (SELECT o.attnum FROM pg_attribute o
								   WHERE o.attrelid = tbl AND o.attname = 'organization_id' AND NOT o.attisdropped)
			   AND k.confkey[1] = (SELECT o.attnum FROM pg_attribute o
									WHERE o.attrelid = k.confrelid AND o.attname = 'organization_id' AND NOT o.attisdropped)
			   AND k.confkey[2] = (SELECT o.attnum FROM pg_attribute o
									WHERE o.attrelid = k.confrelid AND o.attname = 'id' AND NOT o.attisdropped)
			   AND (SELECT r.relnamespace FROM pg_class r WHERE r.oid = k.confrelid) = 'crm'::regnamespace
			   AND EXISTS (SELECT 1 FROM pg_attribute d
							WHERE d.attrelid = k.confrelid AND d.attname = 'deleted_at' AND NOT d.attisdropped
							  AND d.atttypid = 'timestamptz'::regtype)
			UNION
			SELECT a.attname FROM pg_attribute a
			 WHERE a.attrelid = tbl AND a.attname = 'deleted_at' AND NOT a.attisdropped) c;
	EXECUTE format('DROP TRIGGER IF EXISTS crm_12_live_refs ON %s', tbl);
	EXECUTE format('CREATE TRIGGER crm_12_live_refs BEFORE INSERT%s ON %s '
				   'FOR EACH ROW EXECUTE FUNCTION crm.trg_live_refs(%L)',
				   CASE WHEN cols IS NOT NULL THEN ' OR UPDATE OF ' || cols ELSE '' END, tbl, rel);
END;
$$;
COMMENT ON FUNCTION crm._setup_live_refs(regclass) IS
	'Install-time helper: (re)creates crm_12_live_refs on a table, BEFORE INSERT OR UPDATE OF its references to soft-deletable crm tables and its deleted_at; call it again after adding such a foreign key.';

-- Make a table a crm tenant table: row-level security with the tenant
-- policy, included in pg_dump, the row-maintenance, custom-field and audit
-- triggers, common column comments.  Every trigger gets the logical table
-- name as its first argument: the C triggers name the table by it (in audit
-- entries, custom-field definitions, errors), never by the relation's own
-- name, which differs on Citus shards.  Install and upgrade scripts call it for
-- every tenant table they create.
CREATE FUNCTION crm._setup_tenant_table(tbl regclass, audited boolean DEFAULT true, label text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	rel name := (SELECT relname FROM pg_class WHERE oid = tbl);
BEGIN
	EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
	EXECUTE format('CREATE POLICY tenant_isolation ON %s '
				   'USING (organization_id = crm.current_org()) '
				   'WITH CHECK (organization_id = crm.current_org())', tbl);
	PERFORM pg_catalog.pg_extension_config_dump(tbl, '');
	EXECUTE format('CREATE TRIGGER crm_00_data_guard BEFORE INSERT OR TRUNCATE ON %s '
				   'FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_data_guard()', tbl);
	IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = tbl AND attname = 'updated_at' AND NOT attisdropped) THEN
		EXECUTE format('CREATE TRIGGER crm_10_stamp BEFORE INSERT OR UPDATE ON %s '
					   'FOR EACH ROW EXECUTE FUNCTION crm.trg_stamp(%L)', tbl, rel);
	END IF;
	IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = tbl AND attname = 'updated_at' AND NOT attisdropped) THEN
		PERFORM crm._setup_live_refs(tbl);
	END IF;
	IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = tbl AND attname = 'custom_fields' AND NOT attisdropped) THEN
		EXECUTE format('CREATE TRIGGER crm_20_custom_fields BEFORE INSERT OR UPDATE OF custom_fields ON %s '
					   'FOR EACH ROW EXECUTE FUNCTION crm.trg_custom_fields(%L)', tbl, rel);
	END IF;
	IF audited THEN
		EXECUTE format('CREATE TRIGGER crm_90_audit_insert AFTER INSERT ON %s '
					   'REFERENCING NEW TABLE AS crm_new FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_audit(%L)', tbl, rel);
		EXECUTE format('CREATE TRIGGER crm_90_audit_update AFTER UPDATE ON %s '
					   'REFERENCING OLD TABLE AS crm_old NEW TABLE AS crm_new FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_audit(%L)', tbl, rel);
		EXECUTE format('CREATE TRIGGER crm_90_audit_delete AFTER DELETE ON %s '
					   'REFERENCING OLD TABLE AS crm_old FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_audit(%L)', tbl, rel);
	END IF;
	PERFORM crm._comment_common(tbl);
	INSERT INTO crm.table_registry (table_name, is_audited, entity_label, has_custom_fields)
	VALUES (rel, audited, coalesce(label, replace(rel, '_', ' ')),
			EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = tbl AND attname = 'custom_fields' AND NOT attisdropped));
END;
$$;
COMMENT ON FUNCTION crm._setup_tenant_table(regclass, boolean, text) IS
	'Install-time helper: RLS tenant policy, pg_dump registration, data guard (TRUNCATE, restore without restore mode), stamp/custom-field/audit triggers for a tenant table.';

-- ---------------------------------------------------------------------------
-- Entity names.  Every function that takes an entity (custom fields, merge,
-- duplicates, history, events) resolves it here, so one spelling works
-- everywhere: the table name ('contact') or the qualified name
-- ('crm.contact', also '"crm"."contact"' -- what a regclass prints as when
-- crm is not on the search path).  The entity must be a table of
-- crm.table_registry that has the feature asked for:
--   NULL             any tenant table
--   'custom_fields'  table_registry.has_custom_fields
--   'audited'        table_registry.is_audited
--   'duplicates'     the table carries crm.trg_duplicate_check (catalog)
-- Anything else is refused with 22023, listing the entities that would do.
-- Called once per function call, never per row.
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm._entity(entity text, feature text DEFAULT NULL)
RETURNS name
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	parts text[];
	nm name;
	allowed name[];
	noun text := CASE feature
					WHEN 'custom_fields' THEN 'custom fields'
					WHEN 'audited' THEN 'audit history'
					WHEN 'duplicates' THEN 'duplicate detection' END;
BEGIN
	IF feature IS NOT NULL AND noun IS NULL THEN
		RAISE EXCEPTION 'unknown entity feature "%"', feature USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF entity IS NULL THEN
		RAISE EXCEPTION 'the entity must not be NULL'
			USING ERRCODE = 'null_value_not_allowed',
				  HINT = 'Name a crm table: ''contact'' or ''crm.contact''.';
	END IF;
	allowed := ARRAY(
		SELECT r.table_name FROM crm.table_registry r
		 WHERE CASE feature
				WHEN 'custom_fields' THEN r.has_custom_fields
				WHEN 'audited' THEN r.is_audited
				WHEN 'duplicates' THEN EXISTS (
					SELECT 1 FROM pg_trigger g
					 WHERE g.tgrelid = pg_catalog.to_regclass(pg_catalog.format('crm.%I', r.table_name))
					   AND g.tgfoid = pg_catalog.to_regprocedure('crm.trg_duplicate_check()'))
				ELSE true END
		 ORDER BY r.table_name);

	IF entity ~ '^[a-z_][a-z0-9_]*$' THEN
		parts := ARRAY[entity];		-- the usual spelling, without parsing
	ELSE
		BEGIN
			parts := pg_catalog.parse_ident(entity);
		EXCEPTION WHEN invalid_parameter_value THEN
			parts := NULL;
		END;
	END IF;
	IF cardinality(parts) = 1 THEN
		nm := parts[1];
	ELSIF cardinality(parts) = 2 AND parts[1] = 'crm' THEN
		nm := parts[2];
	END IF;
	IF nm = ANY (allowed) THEN
		RETURN nm;
	END IF;

	IF EXISTS (SELECT 1 FROM crm.table_registry r WHERE r.table_name = nm) THEN
		RAISE EXCEPTION 'crm.% has no %', nm, noun
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = pg_catalog.format('The entities with %s are: %s.', noun, pg_catalog.array_to_string(allowed, ', ')),
				  HINT = 'Write an entity as ''contact'' or ''crm.contact''.';
	END IF;
	RAISE EXCEPTION '"%" is not a crm entity', entity
		USING ERRCODE = 'invalid_parameter_value',
			  DETAIL = pg_catalog.format('The entities%s are: %s.',
										 CASE WHEN feature IS NULL THEN '' ELSE ' with ' || noun END,
										 pg_catalog.array_to_string(allowed, ', ')),
			  HINT = 'Write an entity as ''contact'' or ''crm.contact''.';
END;
$$;
COMMENT ON FUNCTION crm._entity(text, text) IS
	'Internal: the table name of an entity written ''contact'' or ''crm.contact'' -- a crm.table_registry table with the feature asked for (custom_fields, audited, duplicates; NULL: any) -- else a 22023 error listing the allowed entities.';

-- The table check every PL/pgSQL trigger function of crm makes first (the C
-- trigger functions make it in trigger_support.c): the relation it fires on
-- must be crm's own -- in schema crm, owned by the owner of schema crm; a
-- role that can create a table can create triggers on it, and the
-- execute privilege on the function is checked only then -- and its
-- logical table name, the trigger's first argument, must be one the
-- function works on.  Returns that name: triggers branch on it, never on
-- the relation's own name or OID (on Citus they fire on shards, named like
-- contact_102216).
CREATE FUNCTION crm._trigger_table_ok(fname text, tg_name name, tg_relid oid, tg_argv text[], allowed text[])
RETURNS name
	AS 'MODULE_PATHNAME', 'trigger_table_ok'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm._trigger_table_ok(text, name, oid, text[], text[]) IS
	'Internal (first call of every PL/pgSQL trigger function, with TG_NAME, TG_RELID, TG_ARGV): refuses a relation that is not crm''s own (42501) or a logical table name (first trigger argument) not among allowed (39P01); returns the logical table name.';

-- BEFORE INSERT OR UPDATE OF entity on the definition tables that name an
-- entity (crm.custom_field, crm.duplicate_rule; arguments: the table, the
-- feature): the entity is checked first and stored in its one spelling.
-- Definitions are rare admin writes; this registry lookup is not on a
-- record's path.
CREATE FUNCTION crm._entity_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	PERFORM crm._trigger_table_ok('crm._entity_guard()', TG_NAME, TG_RELID, TG_ARGV, '{custom_field,duplicate_rule}');
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN NEW;
	END IF;
	NEW.entity := crm._entity(NEW.entity, TG_ARGV[1]);
	RETURN NEW;
END;
$$;
COMMENT ON FUNCTION crm._entity_guard() IS
	'Trigger on crm.custom_field and crm.duplicate_rule (arguments: the table, the feature): refuses an entity without the feature (22023, listing the allowed ones) and stores ''crm.contact'' as ''contact''.';

-- ---------------------------------------------------------------------------
-- Outbox: events to the outside, written in the same transaction as the
-- change they describe; a NOTIFY on the organization's channel carries the
-- outbox id (crm.event_channel()).
-- ---------------------------------------------------------------------------
CREATE TABLE crm.outbox (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	event_type	text NOT NULL,
	entity		text NOT NULL,
	entity_id	uuid,
	payload		jsonb NOT NULL DEFAULT '{}',
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT outbox_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT outbox_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT outbox_event_type_format CHECK (event_type ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$'),
	CONSTRAINT outbox_payload_object CHECK (jsonb_typeof(payload) = 'object')
);
CREATE INDEX outbox_created_idx ON crm.outbox (organization_id, created_at);
COMMENT ON TABLE crm.outbox IS 'Transactional outbox: one row per event, written with the change; consumers LISTEN on crm.event_channel() and read by id.';
COMMENT ON COLUMN crm.outbox.event_type IS 'Dotted lower-case event name, e.g. contact.duplicate_alert.';
COMMENT ON COLUMN crm.outbox.entity IS 'The crm table the event is about (table name).';
COMMENT ON COLUMN crm.outbox.entity_id IS 'The id of the record the event is about.';
COMMENT ON COLUMN crm.outbox.payload IS 'Event data (JSON object).';
SELECT crm._setup_tenant_table('crm.outbox', audited => false, label => 'outbox event');

-- Every outbox row is announced at commit on its organization's own channel
-- (src/outbox.c): the channel name is a keyed hash of the organization id,
-- so only who may act for a tenant can learn it (crm.event_channel()).
CREATE TABLE crm.event_key (
	key			bytea NOT NULL,
	CONSTRAINT event_key_length CHECK (octet_length(key) >= 16)
);
CREATE UNIQUE INDEX event_key_one_row ON crm.event_key ((true));
COMMENT ON TABLE crm.event_key IS 'The secret that names each organization''s event channel (one row, made at install; no application role can read it).';
COMMENT ON COLUMN crm.event_key.key IS 'Random key: channel = crm_events_ || 32 hex digits of sha256(key || organization id).';
INSERT INTO crm.event_key (key)
SELECT pg_catalog.uuid_send(pg_catalog.gen_random_uuid()) || pg_catalog.uuid_send(pg_catalog.gen_random_uuid());
-- Not dumped: a restored database gets a key of its own at CREATE EXTENSION,
-- so its channel names differ (consumers ask crm.event_channel() when they
-- connect), and no backup file carries the key.

CREATE FUNCTION crm.event_channel() RETURNS text
	AS 'MODULE_PATHNAME', 'outbox_event_channel'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.event_channel() IS
	'The NOTIFY channel of the current organization''s outbox events (LISTEN to it; each notification''s payload is an outbox id to read from crm.outbox).';

CREATE FUNCTION crm.trg_outbox_notify() RETURNS trigger
	AS 'MODULE_PATHNAME', 'outbox_notify'
	LANGUAGE C;
COMMENT ON FUNCTION crm.trg_outbox_notify() IS
	'AFTER INSERT row trigger on crm.outbox: NOTIFY on the event''s organization channel with the outbox id (delivered at commit).';
CREATE TRIGGER crm_50_notify AFTER INSERT ON crm.outbox
	FOR EACH ROW EXECUTE FUNCTION crm.trg_outbox_notify();

-- Write an event to the outbox; returns the event id.  Listeners of the
-- organization's channel are notified at commit (crm.trg_outbox_notify).
-- The event belongs to the given organization (the record's own, when a
-- trigger emits it), else to the current one; row-level security refuses an
-- organization the caller may not act for.  The entity is a crm table
-- written 'contact' or 'crm.contact', or any other table by its qualified
-- name ('public.invoice').
CREATE FUNCTION crm.emit(event_type text, entity text, id uuid, payload jsonb DEFAULT '{}',
						 organization_id uuid DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	ev uuid;
	org uuid := emit.organization_id;
	-- with this function's search_path, 'contact' and 'crm.contact' alike
	-- name crm.contact; other schemas' tables are written qualified
	tbl regclass := pg_catalog.to_regclass(emit.entity);
	ent text := (SELECT CASE WHEN n.nspname = 'crm' THEN c.relname::text
							 ELSE quote_ident(n.nspname) || '.' || quote_ident(c.relname) END
				   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
				  WHERE c.oid = tbl);
BEGIN
	IF ent IS NULL THEN
		RAISE EXCEPTION 'table "%" does not exist', emit.entity
			USING ERRCODE = 'undefined_table',
				  HINT = 'Name a crm table as ''contact'' or ''crm.contact'', any other table by its qualified name.';
	END IF;
	IF org IS NULL THEN
		org := crm.current_org();
	END IF;
	INSERT INTO crm.outbox AS o (organization_id, event_type, entity, entity_id, payload)
	VALUES (org, emit.event_type, ent, emit.id, coalesce(emit.payload, '{}'))
	RETURNING o.id INTO ev;
	RETURN ev;
END;
$$;
COMMENT ON FUNCTION crm.emit(text, text, uuid, jsonb, uuid) IS
	'Writes an event to crm.outbox in the current transaction (for the given organization, default the current one); entity ''contact'' or ''crm.contact'' (other tables qualified); listeners of crm.event_channel() get its id at commit.';

-- Delete outbox events older than the given age; returns how many.
CREATE FUNCTION crm.outbox_prune(older_than interval DEFAULT '30 days')
RETURNS bigint
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
	WITH d AS (DELETE FROM crm.outbox WHERE created_at < pg_catalog.now() - older_than RETURNING 1)
	SELECT count(*) FROM d;
$$;
COMMENT ON FUNCTION crm.outbox_prune(interval) IS
	'Deletes outbox events older than the given age (all tenants when run by the owner, e.g. from pg_cron); returns the count.';

-- ---------------------------------------------------------------------------
-- crm.verify(): recomputes derived data and reports drift.  Each feature
-- registers its checks here; a check is a function returning rows of
-- (entity text, id uuid, expected text, actual text) for every record whose
-- stored derived data differs from a recomputation.
-- ---------------------------------------------------------------------------
CREATE TABLE crm.verify_check (
	name		text NOT NULL,
	check_function regprocedure NOT NULL,
	description	text NOT NULL,
	CONSTRAINT verify_check_pkey PRIMARY KEY (name)
);
COMMENT ON TABLE crm.verify_check IS 'Registry of crm.verify() checks; features add theirs in their install/upgrade scripts.';
COMMENT ON COLUMN crm.verify_check.name IS 'Check name, shown in the check column of crm.verify().';
COMMENT ON COLUMN crm.verify_check.check_function IS 'Function () RETURNS TABLE(entity text, id uuid, expected text, actual text).';
COMMENT ON COLUMN crm.verify_check.description IS 'What the check recomputes.';

CREATE FUNCTION crm.verify()
RETURNS TABLE ("check" text, entity text, id uuid, expected text, actual text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	c record;
BEGIN
	FOR c IN SELECT v.name, v.check_function::oid AS fn FROM crm.verify_check v ORDER BY v.name LOOP
		RETURN QUERY EXECUTE format('SELECT %L::text, r.entity, r.id, r.expected, r.actual FROM %s() AS r',
									c.name, (SELECT p.oid::regproc FROM pg_proc p WHERE p.oid = c.fn));
	END LOOP;
END;
$$;
COMMENT ON FUNCTION crm.verify() IS
	'Recomputes every registered derived datum and returns one row per drift (check, entity, id, expected, actual); no rows means healthy.';

-- ---------------------------------------------------------------------------
-- Scheduled jobs: a registry, scheduled through pg_cron when it is installed.
-- ---------------------------------------------------------------------------
CREATE TABLE crm.job (
	name		text NOT NULL,
	schedule	text NOT NULL,
	command		text NOT NULL,
	description	text NOT NULL,
	CONSTRAINT job_pkey PRIMARY KEY (name),
	CONSTRAINT job_name_format CHECK (name ~ '^[a-z][a-z0-9_]*$')
);
COMMENT ON TABLE crm.job IS 'Registry of crm''s periodic jobs; crm.schedule_jobs() creates them in pg_cron as crm.<name>.';
COMMENT ON COLUMN crm.job.name IS 'Job name; the pg_cron job is called crm.<name>.';
COMMENT ON COLUMN crm.job.schedule IS 'cron schedule, e.g. ''*/5 * * * *''.';
COMMENT ON COLUMN crm.job.command IS 'SQL the job runs; always a plain crm function that can also be called by hand.';
COMMENT ON COLUMN crm.job.description IS 'What the job does.';

INSERT INTO crm.job (name, schedule, command, description) VALUES
	('outbox_prune', '17 3 * * *', 'SELECT crm.outbox_prune(''30 days'')', 'Deletes outbox events older than 30 days.');

-- Create (or update) the pg_cron jobs of the registry; idempotent.
CREATE FUNCTION crm.schedule_jobs()
RETURNS TABLE (job text, schedule text, status text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	j record;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
		RAISE NOTICE 'pg_cron is not installed in this database: no job was scheduled'
			USING HINT = 'Run the crm.job commands yourself, or install pg_cron (shared_preload_libraries = pg_cron, cron.database_name = this database; CREATE EXTENSION pg_cron) and call crm.schedule_jobs() again.';
		RETURN QUERY SELECT 'crm.' || j2.name, j2.schedule, 'not scheduled: pg_cron is not installed'::text
					   FROM crm.job j2 ORDER BY j2.name;
		RETURN;
	END IF;
	FOR j IN SELECT * FROM crm.job ORDER BY name LOOP
		-- cron.schedule(name, ...) replaces a job of the same name
		EXECUTE 'SELECT cron.schedule($1, $2, $3)' USING 'crm.' || j.name, j.schedule, j.command;
		job := 'crm.' || j.name;
		schedule := j.schedule;
		status := 'scheduled';
		RETURN NEXT;
	END LOOP;
END;
$$;
COMMENT ON FUNCTION crm.schedule_jobs() IS
	'Schedules every crm.job in pg_cron (idempotent). Without pg_cron it schedules nothing, says so in a NOTICE and in the status column.';

-- Remove crm's pg_cron jobs; idempotent.
CREATE FUNCTION crm.unschedule_jobs()
RETURNS TABLE (job text, status text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	j record;
	existed boolean;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
		RAISE NOTICE 'pg_cron is not installed in this database: no job to remove';
		RETURN;
	END IF;
	FOR j IN SELECT name FROM crm.job ORDER BY name LOOP
		EXECUTE 'SELECT EXISTS (SELECT 1 FROM cron.job WHERE jobname = $1)' INTO existed USING 'crm.' || j.name;
		IF existed THEN
			EXECUTE 'SELECT cron.unschedule($1)' USING 'crm.' || j.name;
		END IF;
		job := 'crm.' || j.name;
		status := CASE WHEN existed THEN 'unscheduled' ELSE 'was not scheduled' END;
		RETURN NEXT;
	END LOOP;
END;
$$;
COMMENT ON FUNCTION crm.unschedule_jobs() IS 'Removes crm''s pg_cron jobs (idempotent).';

-- ---------------------------------------------------------------------------
-- Hierarchies (account, territory, ...): a parent link must never close a
-- cycle, at any isolation level.  crm.trg_no_cycle(table, parent_column) is
-- C (src/hierarchy.c): changes of one tenant's hierarchy are serialised by a
-- lock in crm's own keyspace and the walk up runs with a snapshot taken
-- after the lock, so two concurrent re-parentings cannot build a cycle
-- between them, in READ COMMITTED, REPEATABLE READ and SERIALIZABLE alike.
-- A hierarchy is a BEFORE INSERT OR UPDATE OF <parent> trigger calling it;
-- crm.check_hierarchy_cycles() finds every such trigger in the catalog.
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm.trg_no_cycle() RETURNS trigger
	AS 'MODULE_PATHNAME', 'hierarchy_no_cycle'
	LANGUAGE C;
COMMENT ON FUNCTION crm.trg_no_cycle() IS
	'BEFORE row trigger on hierarchies (arguments: logical table name, parent column): refuses a parent that would close a cycle, naming the records of the cycle.';

-- Drift check: records that are their own ancestor, in every hierarchy.
CREATE FUNCTION crm.check_hierarchy_cycles()
RETURNS TABLE (entity text, id uuid, expected text, actual text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	h record;
BEGIN
	-- every hierarchy: the (table, parent column) arguments of the
	-- crm.trg_no_cycle triggers on crm's tables
	FOR h IN SELECT DISTINCT a[1] AS tbl, a[2] AS col
			   FROM (SELECT pg_catalog.string_to_array(pg_catalog.encode(t.tgargs, 'escape'), '\000') AS a
					   FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
					  WHERE t.tgfoid = 'crm.trg_no_cycle()'::pg_catalog.regprocedure
						AND c.relnamespace = 'crm'::pg_catalog.regnamespace) s
			  ORDER BY 1 LOOP
		RETURN QUERY EXECUTE format(
			'WITH RECURSIVE up(start, org, cur, depth) AS (
				SELECT t.id, t.organization_id, t.%1$I, 1 FROM crm.%2$I t WHERE t.%1$I IS NOT NULL
				UNION ALL
				SELECT up.start, up.org, t.%1$I, up.depth + 1 FROM crm.%2$I t
				  JOIN up ON t.organization_id = up.org AND t.id = up.cur
				 WHERE t.%1$I IS NOT NULL AND up.cur <> up.start AND up.depth < 1000)
			 SELECT DISTINCT %2$L::text, start, ''no cycle''::text, ''is its own ancestor''::text FROM up WHERE cur = start',
			h.col, h.tbl);
	END LOOP;
END;
$$;
COMMENT ON FUNCTION crm.check_hierarchy_cycles() IS 'crm.verify() check: records of every hierarchy (accounts, territories, ...) that are their own ancestor.';
INSERT INTO crm.verify_check VALUES
	('hierarchy_cycles', 'crm.check_hierarchy_cycles()', 'Accounts and territories never are their own ancestor.');

-- Drift check: live records that point at a soft-deleted (or merged-away)
-- record -- written before the parent was deleted, or behind the trigger's
-- back.  Every tenant foreign key to a crm table with deleted_at, from the
-- catalog.
CREATE FUNCTION crm.check_live_references()
RETURNS TABLE (entity text, id uuid, expected text, actual text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	fk record;
BEGIN
	FOR fk IN
		SELECT c.relname AS child, a.attname AS col, p.relname AS parent,
			   EXISTS (SELECT 1 FROM pg_attribute d WHERE d.attrelid = c.oid AND d.attname = 'deleted_at' AND NOT d.attisdropped) AS child_soft
		  FROM pg_constraint k
		  JOIN pg_class c ON c.oid = k.conrelid
		  JOIN pg_class p ON p.oid = k.confrelid
		  JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[2]
		 WHERE k.contype = 'f' AND cardinality(k.conkey) = 2
		   AND c.relnamespace = 'crm'::regnamespace AND p.relnamespace = 'crm'::regnamespace
		   AND (SELECT attname FROM pg_attribute WHERE attrelid = k.conrelid AND attnum = k.conkey[1]) = 'organization_id'
		   AND EXISTS (SELECT 1 FROM pg_attribute d WHERE d.attrelid = p.oid AND d.attname = 'deleted_at' AND NOT d.attisdropped)
		   -- records, not logs: tables without updated_at (the stage history)
		   -- are written by crm and record the past, as crm.trg_live_refs
		   -- checks only tables with updated_at
		   AND EXISTS (SELECT 1 FROM pg_attribute u WHERE u.attrelid = c.oid AND u.attname = 'updated_at' AND NOT u.attisdropped)
		 ORDER BY 1, 2
	LOOP
		RETURN QUERY EXECUTE format(
			'SELECT %1$L::text, c.id, %2$L::text, %3$L || p.id::text
			   FROM crm.%4$I c JOIN crm.%5$I p ON p.organization_id = c.organization_id AND p.id = c.%6$I
			  WHERE p.deleted_at IS NOT NULL %7$s
			  ORDER BY c.organization_id, c.id',
			fk.child, 'a live ' || fk.parent || ' in ' || fk.col,
			fk.col || ' points at deleted ' || fk.parent || ' ', fk.child, fk.parent, fk.col,
			CASE WHEN fk.child_soft THEN 'AND c.deleted_at IS NULL' ELSE '' END);
	END LOOP;
END;
$$;
COMMENT ON FUNCTION crm.check_live_references() IS
	'crm.verify() check: live records whose reference points at a soft-deleted or merged-away record.';
INSERT INTO crm.verify_check VALUES
	('live_references', 'crm.check_live_references()', 'Live records point only at live records (not soft-deleted, not merged away).');

-- The registries are metadata every role may read (crm.verify() and the
-- tests iterate them).
GRANT SELECT ON crm.table_registry, crm.verify_check, crm.job TO PUBLIC;
-- ============================================================================
-- 03 types: crm.email and crm.phone, with btree and hash operator classes
--
-- The operators of both types are created in schema pg_catalog (the
-- extension's own schema, see crm.control), the functions behind them in
-- crm.  pg_catalog is searched first whatever search_path says, so
-- "email = 'X@Y.COM'", "phone = $1" and "email <@ 'example.com'" resolve to
-- crm's operators for every client: an ORM or BI tool needs no search_path
-- setting.  The operators take crm's types as an argument, so they can never
-- be chosen for built-in types.  Both types cast implicitly to text (as
-- citext does), so LIKE, lower(), || and the other text functions work on
-- them; comparisons still choose crm's operators, because an exact match on
-- one argument type beats a conversion.  doc/design.md, "Operators without
-- search_path", gives the reasoning and the cases.
-- ============================================================================

-- ---------------------------------------------------------------------------
-- crm.email: an address as typed; equality, order and hash ignore case.
-- ---------------------------------------------------------------------------
CREATE TYPE crm.email;

CREATE FUNCTION crm.email_in(cstring) RETURNS crm.email
	AS 'MODULE_PATHNAME', 'email_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.email_in(cstring) IS 'Input function of crm.email: validates the address.';
CREATE FUNCTION crm.email_out(crm.email) RETURNS cstring
	AS 'MODULE_PATHNAME', 'email_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.email_out(crm.email) IS 'Output function of crm.email: the address as it was typed.';
CREATE FUNCTION crm.email_recv(internal) RETURNS crm.email
	AS 'MODULE_PATHNAME', 'email_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.email_recv(internal) IS 'Binary input of crm.email (the text bytes, validated).';
CREATE FUNCTION crm.email_send(crm.email) RETURNS bytea
	AS 'MODULE_PATHNAME', 'email_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.email_send(crm.email) IS 'Binary output of crm.email (the text bytes).';

CREATE TYPE crm.email (
	INPUT = crm.email_in,
	OUTPUT = crm.email_out,
	RECEIVE = crm.email_recv,
	SEND = crm.email_send,
	INTERNALLENGTH = VARIABLE,
	STORAGE = extended,
	CATEGORY = 'S'
);
COMMENT ON TYPE crm.email IS
	'An email address (local@domain, RFC 5321 limits), stored as typed; =, <, hashing ignore case. Casts to and from text.';

CREATE FUNCTION crm.email(text) RETURNS crm.email
	AS 'MODULE_PATHNAME', 'email_from_text' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.email(text) IS 'Converts text to crm.email (validates; error 22P02 naming what is wrong).';

CREATE CAST (text AS crm.email) WITH FUNCTION crm.email(text) AS ASSIGNMENT;
CREATE CAST (varchar AS crm.email) WITH FUNCTION crm.email(text) AS ASSIGNMENT;
-- Implicit to text: text functions and LIKE take crm.email as text.
CREATE CAST (crm.email AS text) WITHOUT FUNCTION AS IMPLICIT;
CREATE CAST (crm.email AS varchar) WITHOUT FUNCTION AS ASSIGNMENT;

-- Parts of an address.
-- LEAKPROOF (it never fails): under row-level security an index on
-- crm.email_domain(email) then serves "email <@ 'example.com'".
CREATE FUNCTION crm.email_domain(crm.email) RETURNS text
	AS 'MODULE_PATHNAME', 'email_domain' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION crm.email_domain(crm.email) IS 'The domain of an address, lower case: crm.email_domain(''Ann@Example.COM'') = ''example.com''.';
CREATE FUNCTION crm.email_local(crm.email) RETURNS text
	AS 'MODULE_PATHNAME', 'email_local' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.email_local(crm.email) IS 'The local part of an address, as typed.';

-- "Address is in domain": email <@ 'example.com'.  A plain SQL function, so
-- the planner inlines it to crm.email_domain(email) = lower(domain), which an
-- expression index on crm.email_domain(email) serves.
CREATE FUNCTION crm.email_in_domain(crm.email, text) RETURNS boolean
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN crm.email_domain($1) = pg_catalog.lower($2);
COMMENT ON FUNCTION crm.email_in_domain(crm.email, text) IS 'True when the address is in the domain (case-insensitive); operator <@.';
CREATE OPERATOR pg_catalog.<@ (LEFTARG = crm.email, RIGHTARG = text, FUNCTION = crm.email_in_domain, RESTRICT = eqsel, JOIN = eqjoinsel);
COMMENT ON OPERATOR pg_catalog.<@ (crm.email, text) IS 'Address is in domain: email <@ ''example.com''.';

-- ---------------------------------------------------------------------------
-- crm.phone: E.164 numbers with optional extension.
-- ---------------------------------------------------------------------------
CREATE TYPE crm.phone;

CREATE FUNCTION crm.phone_in(cstring) RETURNS crm.phone
	AS 'MODULE_PATHNAME', 'phone_in' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.phone_in(cstring) IS 'Input function of crm.phone: what people type, national numbers read with crm.default_country.';
CREATE FUNCTION crm.phone_out(crm.phone) RETURNS cstring
	AS 'MODULE_PATHNAME', 'phone_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.phone_out(crm.phone) IS 'Output function of crm.phone: +<digits> or +<digits>;ext=<digits>.';
CREATE FUNCTION crm.phone_recv(internal) RETURNS crm.phone
	AS 'MODULE_PATHNAME', 'phone_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.phone_recv(internal) IS 'Binary input of crm.phone (canonical text bytes, validated).';
CREATE FUNCTION crm.phone_send(crm.phone) RETURNS bytea
	AS 'MODULE_PATHNAME', 'phone_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.phone_send(crm.phone) IS 'Binary output of crm.phone (canonical text bytes).';

CREATE TYPE crm.phone (
	INPUT = crm.phone_in,
	OUTPUT = crm.phone_out,
	RECEIVE = crm.phone_recv,
	SEND = crm.phone_send,
	INTERNALLENGTH = VARIABLE,
	STORAGE = plain,
	CATEGORY = 'S'
);
COMMENT ON TYPE crm.phone IS
	'A telephone number in E.164 form with optional extension; text form +<digits> or +<digits>;ext=<digits>.';

CREATE FUNCTION crm.phone(text) RETURNS crm.phone
	AS 'MODULE_PATHNAME', 'phone_from_text' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.phone(text) IS 'Converts what people type to crm.phone, national numbers read with crm.default_country.';
CREATE FUNCTION crm.phone(text, country text) RETURNS crm.phone
	AS 'MODULE_PATHNAME', 'phone_parse_in' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.phone(text, text) IS 'Converts text to crm.phone reading national numbers as numbers of the given country (ISO 3166 alpha-2).';
CREATE CAST (text AS crm.phone) WITH FUNCTION crm.phone(text) AS ASSIGNMENT;
CREATE CAST (varchar AS crm.phone) WITH FUNCTION crm.phone(text) AS ASSIGNMENT;
CREATE CAST (crm.phone AS text) WITHOUT FUNCTION AS IMPLICIT;
CREATE CAST (crm.phone AS varchar) WITHOUT FUNCTION AS ASSIGNMENT;

-- ---------------------------------------------------------------------------
-- Comparison and hashing of both types, generated from one table: for each
-- pair of argument types, the comparison functions (in crm, C, LEAKPROOF:
-- they never fail), the operators = <> < <= > >= (in pg_catalog, see the
-- head of this file) and their places in the btree and hash operator
-- families crm.email_ops and crm.phone_ops (default operator classes for
-- the types; cross-type members for text).
--   crm.email with crm.email or text: case-insensitive; one C function per
--     operator serves all three pairs (both arguments are text bytes).
--   crm.phone with crm.phone: by E.164 digits, then extension.
--   crm.phone with text: the text read as crm.phone reads input, national
--     numbers with crm.default_country, so "phone = $1" finds
--     '+14155550100' for '(415) 555-0100' and is served by the index; a
--     text that reads as no number compares as itself (equal to no number,
--     consistently ordered) instead of failing.  STABLE, since the text's
--     meaning depends on the setting (like timestamptz with timestamp).
-- ---------------------------------------------------------------------------
CREATE OPERATOR FAMILY crm.email_ops USING btree;
CREATE OPERATOR FAMILY crm.email_ops USING hash;
CREATE OPERATOR FAMILY crm.phone_ops USING btree;
CREATE OPERATOR FAMILY crm.phone_ops USING hash;
COMMENT ON OPERATOR FAMILY crm.email_ops USING btree IS 'Case-insensitive ordering of crm.email, with cross-type comparison to text.';
COMMENT ON OPERATOR FAMILY crm.email_ops USING hash IS 'Case-insensitive hashing of crm.email, with cross-type equality to text.';
COMMENT ON OPERATOR FAMILY crm.phone_ops USING btree IS 'Ordering of crm.phone by E.164 digits then extension, with cross-type comparison to text read as a number.';
COMMENT ON OPERATOR FAMILY crm.phone_ops USING hash IS 'Hashing of crm.phone, with cross-type equality to text read as a number.';

DO $gen$
DECLARE
	p record;
	o record;
	sig text;
	btree_ops text;
BEGIN
	FOR p IN SELECT * FROM (VALUES
		-- family, left type, right type, C symbol prefix, volatility, MERGES, what it does
		(1, 'email', 'crm.email', 'crm.email', 'email', 'IMMUTABLE', true, 'case-insensitive comparison of crm.email'),
		(2, 'email', 'crm.email', 'text', 'email', 'IMMUTABLE', true, 'case-insensitive comparison of crm.email with text'),
		(3, 'email', 'text', 'crm.email', 'email', 'IMMUTABLE', true, 'case-insensitive comparison of text with crm.email'),
		(4, 'phone', 'crm.phone', 'crm.phone', 'phone', 'IMMUTABLE', true, 'comparison of crm.phone by E.164 digits, then extension'),
		(5, 'phone', 'crm.phone', 'text', 'phone_text', 'STABLE', false, 'comparison of crm.phone with text read as a number with crm.default_country'),
		(6, 'phone', 'text', 'crm.phone', 'text_phone', 'STABLE', false, 'comparison of text read as a number with crm.default_country with crm.phone')
	) AS v(n, fam, l, r, sym, vol, merges, what) ORDER BY n
	LOOP
		sig := format('(%s, %s)', p.l, p.r);
		EXECUTE format('CREATE FUNCTION crm.%s_cmp%s RETURNS integer AS %L, %L LANGUAGE C %s STRICT PARALLEL SAFE LEAKPROOF',
					   p.fam, sig, 'MODULE_PATHNAME', p.sym || '_cmp_fn', p.vol);
		EXECUTE format('COMMENT ON FUNCTION crm.%s_cmp%s IS %L', p.fam, sig, 'Three-way ' || p.what || ' (btree support).');
		btree_ops := '';
		FOR o IN SELECT * FROM (VALUES
			('=', 'eq', '=', '<>', 'eqsel', 'eqjoinsel', 3), ('<>', 'ne', '<>', '=', 'neqsel', 'neqjoinsel', NULL),
			('<', 'lt', '>', '>=', 'scalarltsel', 'scalarltjoinsel', 1), ('<=', 'le', '>=', '>', 'scalarlesel', 'scalarlejoinsel', 2),
			('>', 'gt', '<', '<=', 'scalargtsel', 'scalargtjoinsel', 5), ('>=', 'ge', '<=', '<', 'scalargesel', 'scalargejoinsel', 4)
		) AS v(op, fn, com, neg, rest, joinsel, strategy)
		LOOP
			EXECUTE format('CREATE FUNCTION crm.%s_%s%s RETURNS boolean AS %L, %L LANGUAGE C %s STRICT PARALLEL SAFE LEAKPROOF',
						   p.fam, o.fn, sig, 'MODULE_PATHNAME', p.sym || '_' || o.fn, p.vol);
			EXECUTE format('COMMENT ON FUNCTION crm.%s_%s%s IS %L', p.fam, o.fn, sig, 'Operator ' || o.op || ': ' || p.what || '.');
			EXECUTE format('CREATE OPERATOR pg_catalog.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = crm.%s_%s, '
						   'COMMUTATOR = OPERATOR(pg_catalog.%s), NEGATOR = OPERATOR(pg_catalog.%s), RESTRICT = %s, JOIN = %s%s)',
						   o.op, p.l, p.r, p.fam, o.fn, o.com, o.neg, o.rest, o.joinsel,
						   CASE WHEN o.op = '=' THEN ', HASHES' || CASE WHEN p.merges THEN ', MERGES' ELSE '' END ELSE '' END);
			EXECUTE format('COMMENT ON OPERATOR pg_catalog.%s %s IS %L', o.op, sig, 'crm: ' || p.what || '.');
			IF o.strategy IS NOT NULL THEN
				btree_ops := btree_ops || format('OPERATOR %s pg_catalog.%s %s, ', o.strategy, o.op, sig);
			END IF;
		END LOOP;
		IF p.l = p.r THEN
			-- the type itself: its default operator classes, and its hash functions
			EXECUTE format('CREATE FUNCTION crm.%s_hash(%s) RETURNS integer AS %L, %L LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF',
						   p.fam, p.l, 'MODULE_PATHNAME', p.sym || '_hash');
			EXECUTE format('CREATE FUNCTION crm.%s_hash_extended(%s, bigint) RETURNS bigint AS %L, %L LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF',
						   p.fam, p.l, 'MODULE_PATHNAME', p.sym || '_hash_extended');
			EXECUTE format('CREATE OPERATOR CLASS crm.%s_ops DEFAULT FOR TYPE %s USING btree FAMILY crm.%s_ops AS %s FUNCTION 1 crm.%s_cmp%s',
						   p.fam, p.l, p.fam, btree_ops, p.fam, sig);
			EXECUTE format('CREATE OPERATOR CLASS crm.%s_ops DEFAULT FOR TYPE %s USING hash FAMILY crm.%s_ops AS '
						   'OPERATOR 1 pg_catalog.= %s, FUNCTION 1 crm.%s_hash(%s), FUNCTION 2 crm.%s_hash_extended(%s, bigint)',
						   p.fam, p.l, p.fam, sig, p.fam, p.l, p.fam, p.l);
		ELSE
			EXECUTE format('ALTER OPERATOR FAMILY crm.%s_ops USING btree ADD %s FUNCTION 1 %s crm.%s_cmp%s',
						   p.fam, btree_ops, sig, p.fam, sig);
			EXECUTE format('ALTER OPERATOR FAMILY crm.%s_ops USING hash ADD OPERATOR 1 pg_catalog.= %s', p.fam, sig);
			IF p.r = 'text' THEN
				-- the hash of text, for hash joins between the type and text
				EXECUTE format('CREATE FUNCTION crm.%s_hash(text) RETURNS integer AS %L, %L LANGUAGE C %s STRICT PARALLEL SAFE LEAKPROOF',
							   p.fam, 'MODULE_PATHNAME', p.sym || '_hash', p.vol);
				EXECUTE format('CREATE FUNCTION crm.%s_hash_extended(text, bigint) RETURNS bigint AS %L, %L LANGUAGE C %s STRICT PARALLEL SAFE LEAKPROOF',
							   p.fam, 'MODULE_PATHNAME', p.sym || '_hash_extended', p.vol);
				EXECUTE format('ALTER OPERATOR FAMILY crm.%s_ops USING hash ADD FUNCTION 1 (text) crm.%s_hash(text), '
							   'FUNCTION 2 (text) crm.%s_hash_extended(text, bigint)', p.fam, p.fam, p.fam);
			END IF;
		END IF;
		IF p.r IN (p.l, 'text') THEN
			EXECUTE format('COMMENT ON FUNCTION crm.%s_hash(%s) IS %L', p.fam, p.r,
						   'Hash support (32 bits; the low half of the extended hash with seed 0): ' || p.what || '.');
			EXECUTE format('COMMENT ON FUNCTION crm.%s_hash_extended(%s, bigint) IS %L', p.fam, p.r,
						   'Hash support (64 bits, seeded): ' || p.what || '.');
		END IF;
	END LOOP;
END;
$gen$;

CREATE FUNCTION crm.phone_format(crm.phone, style text DEFAULT 'international') RETURNS text
	AS 'MODULE_PATHNAME', 'phone_format_fn' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.phone_format(crm.phone, text) IS
	'Formats a number: ''e164'' (+14155550100), ''international'' (+1 415-555-0100) or ''national'' ((415) 555-0100), following libphonenumber''s formats for the calling codes of 40 major regions.';
CREATE FUNCTION crm.phone_country(crm.phone) RETURNS text
	AS 'MODULE_PATHNAME', 'phone_country_fn' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.phone_country(crm.phone) IS 'ISO 3166 alpha-2 region of a number (US, CA, GB, ...; 001 for non-geographic numbers).';
CREATE FUNCTION crm.phone_calling_code(crm.phone) RETURNS integer
	AS 'MODULE_PATHNAME', 'phone_calling_code_fn' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.phone_calling_code(crm.phone) IS 'The country calling code of a number (1, 44, 49, ...).';
CREATE FUNCTION crm.phone_extension(crm.phone) RETURNS text
	AS 'MODULE_PATHNAME', 'phone_extension_fn' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.phone_extension(crm.phone) IS 'The extension digits of a number, NULL when it has none.';

-- ============================================================================
-- 04 search text: what full-text search indexes and looks for, folded the
-- way duplicate detection folds names (before the tables that index it)
-- ============================================================================

-- Accent and case folding (src/search.c, similarity.c): "Müller" is indexed
-- as "muller", so "muller" and "Müller" find it alike.
CREATE FUNCTION crm.search_fold(text) RETURNS text
	AS 'MODULE_PATHNAME', 'search_fold'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.search_fold(text) IS
	'Text as full-text search indexes it: lower case, Latin letters without accents (Müller -> muller, ß -> ss); other scripts unchanged.';

-- The words a phone number is found by, whatever format the user types:
-- all its digits (14155550199), the national number with its trunk prefix
-- ((415) 555-0199 -> 4155550199; 020 7946 0958 -> 02079460958) and without
-- the country code (2079460958).  Extensions are left out.
CREATE FUNCTION crm.search_phone_terms(p crm.phone) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT concat_ws(' ',
		regexp_replace(split_part(p::text, ';', 1), '\D', '', 'g'),
		regexp_replace(split_part(crm.phone_format(p, 'national'), ' ext', 1), '\D', '', 'g'),
		substr(regexp_replace(split_part(p::text, ';', 1), '\D', '', 'g'),
			   length(crm.phone_calling_code(p)::text) + 1));
$$;
COMMENT ON FUNCTION crm.search_phone_terms(crm.phone) IS
	'The search words of a phone number: all its digits, the national number, and the number without country code.';
-- ============================================================================
-- 10 people: CRM users, teams, territories
-- ============================================================================

CREATE TABLE crm.app_user (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	name		text NOT NULL,
	email		crm.email NOT NULL,
	title		text,
	timezone	text NOT NULL DEFAULT 'UTC',
	is_active	boolean NOT NULL DEFAULT true,
	db_role		name,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	deleted_at	timestamptz,
	CONSTRAINT app_user_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT app_user_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT app_user_name_not_blank CHECK (pg_catalog.btrim(name) <> ''),
	CONSTRAINT app_user_timezone_valid CHECK (crm.is_valid_timezone(timezone))
);
CREATE UNIQUE INDEX app_user_email_key ON crm.app_user (organization_id, email) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX app_user_db_role_key ON crm.app_user (organization_id, db_role) WHERE deleted_at IS NULL AND db_role IS NOT NULL;
COMMENT ON TABLE crm.app_user IS 'A CRM user of an organization (a salesperson, an agent): owner of records, actor in the audit log.';
COMMENT ON COLUMN crm.app_user.name IS 'Full name.';
COMMENT ON COLUMN crm.app_user.email IS 'Work email; unique per organization among users not deleted (case-insensitive).';
COMMENT ON COLUMN crm.app_user.title IS 'Job title.';
COMMENT ON COLUMN crm.app_user.timezone IS 'IANA time zone the user works in.';
COMMENT ON COLUMN crm.app_user.is_active IS 'False for a user who can no longer work in the CRM (keeps ownership history).';
COMMENT ON COLUMN crm.app_user.db_role IS 'Optional database role this user logs in as.';
SELECT crm._setup_tenant_table('crm.app_user', label => 'user');

CREATE TABLE crm.team (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	name		text NOT NULL,
	description	text,
	manager_id	uuid,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	deleted_at	timestamptz,
	CONSTRAINT team_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT team_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT team_manager_fkey FOREIGN KEY (organization_id, manager_id) REFERENCES crm.app_user (organization_id, id),
	CONSTRAINT team_name_not_blank CHECK (pg_catalog.btrim(name) <> '')
);
CREATE UNIQUE INDEX team_name_key ON crm.team (organization_id, lower(name)) WHERE deleted_at IS NULL;
COMMENT ON TABLE crm.team IS 'A group of users (sales team, support queue).';
COMMENT ON COLUMN crm.team.name IS 'Team name, unique per organization among teams not deleted.';
COMMENT ON COLUMN crm.team.description IS 'What the team does.';
COMMENT ON COLUMN crm.team.manager_id IS 'The crm.app_user who manages the team.';
SELECT crm._setup_tenant_table('crm.team');

CREATE TABLE crm.team_member (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	team_id		uuid NOT NULL,
	user_id		uuid NOT NULL,
	role		text NOT NULL DEFAULT 'member',
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT team_member_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT team_member_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT team_member_team_fkey FOREIGN KEY (organization_id, team_id) REFERENCES crm.team (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT team_member_user_fkey FOREIGN KEY (organization_id, user_id) REFERENCES crm.app_user (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT team_member_unique UNIQUE (organization_id, team_id, user_id)
);
CREATE INDEX team_member_user_idx ON crm.team_member (organization_id, user_id);
COMMENT ON TABLE crm.team_member IS 'Membership of a user in a team.';
COMMENT ON COLUMN crm.team_member.team_id IS 'The crm.team.';
COMMENT ON COLUMN crm.team_member.user_id IS 'The crm.app_user.';
COMMENT ON COLUMN crm.team_member.role IS 'Role in the team, from the organization''s picklist team_role (default: member, lead, manager).';
SELECT crm._setup_tenant_table('crm.team_member', label => 'team member');

CREATE TABLE crm.territory (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	name		text NOT NULL,
	parent_territory_id uuid,
	description	text,
	owner_id	uuid,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	deleted_at	timestamptz,
	CONSTRAINT territory_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT territory_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT territory_parent_fkey FOREIGN KEY (organization_id, parent_territory_id) REFERENCES crm.territory (organization_id, id),
	CONSTRAINT territory_owner_fkey FOREIGN KEY (organization_id, owner_id) REFERENCES crm.app_user (organization_id, id),
	CONSTRAINT territory_not_own_parent CHECK (parent_territory_id IS DISTINCT FROM id),
	CONSTRAINT territory_name_not_blank CHECK (pg_catalog.btrim(name) <> '')
);
CREATE INDEX territory_parent_idx ON crm.territory (organization_id, parent_territory_id) WHERE parent_territory_id IS NOT NULL;
COMMENT ON TABLE crm.territory IS 'A sales territory; territories form a hierarchy (no cycles).';
COMMENT ON COLUMN crm.territory.name IS 'Territory name.';
COMMENT ON COLUMN crm.territory.parent_territory_id IS 'The enclosing territory, if any.';
COMMENT ON COLUMN crm.territory.description IS 'Description of the territory.';
SELECT crm._setup_tenant_table('crm.territory');
-- ============================================================================
-- 20 accounts and contacts
-- ============================================================================

CREATE TABLE crm.account (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	name		text NOT NULL,
	parent_account_id uuid,
	type		text NOT NULL DEFAULT 'prospect',
	status		text NOT NULL DEFAULT 'active',
	rating		text,
	industry	text,
	employee_count integer,
	annual_revenue numeric(18,2),
	currency	char(3),
	website		text,
	domain		text,
	phone		crm.phone,
	billing_address jsonb,
	shipping_address jsonb,
	description	text,
	owner_id	uuid,
	territory_id uuid,
	tags		text[] NOT NULL DEFAULT '{}',
	custom_fields jsonb NOT NULL DEFAULT '{}',
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	deleted_at	timestamptz,
	search_vector tsvector GENERATED ALWAYS AS (
		setweight(to_tsvector('simple'::regconfig, crm.search_fold(coalesce(name, ''))), 'A') ||
		setweight(to_tsvector('simple'::regconfig, coalesce(domain, '') || ' ' || coalesce(website, '')), 'B') ||
		setweight(to_tsvector('simple'::regconfig, crm.search_fold(coalesce(industry, '')) || ' ' || coalesce(crm.search_phone_terms(phone), '')), 'C')
	) STORED,
	CONSTRAINT account_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT account_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT account_parent_fkey FOREIGN KEY (organization_id, parent_account_id) REFERENCES crm.account (organization_id, id),
	CONSTRAINT account_owner_fkey FOREIGN KEY (organization_id, owner_id) REFERENCES crm.app_user (organization_id, id),
	CONSTRAINT account_territory_fkey FOREIGN KEY (organization_id, territory_id) REFERENCES crm.territory (organization_id, id),
	CONSTRAINT account_not_own_parent CHECK (parent_account_id IS DISTINCT FROM id),
	CONSTRAINT account_name_not_blank CHECK (pg_catalog.btrim(name) <> ''),
	CONSTRAINT account_status_valid CHECK (status IN ('active', 'inactive', 'churned')),
	CONSTRAINT account_employee_count_nonnegative CHECK (employee_count >= 0),
	CONSTRAINT account_annual_revenue_nonnegative CHECK (annual_revenue >= 0),
	CONSTRAINT account_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
	CONSTRAINT account_domain_format CHECK (domain ~ '^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$'),
	CONSTRAINT account_billing_address_object CHECK (jsonb_typeof(billing_address) = 'object'),
	CONSTRAINT account_shipping_address_object CHECK (jsonb_typeof(shipping_address) = 'object'),
	CONSTRAINT account_custom_fields_object CHECK (jsonb_typeof(custom_fields) = 'object')
);
CREATE INDEX account_owner_idx ON crm.account (organization_id, owner_id, created_at DESC) WHERE deleted_at IS NULL;
CREATE INDEX account_parent_idx ON crm.account (organization_id, parent_account_id) WHERE parent_account_id IS NOT NULL;
CREATE INDEX account_territory_idx ON crm.account (organization_id, territory_id) WHERE territory_id IS NOT NULL;
CREATE INDEX account_domain_idx ON crm.account (organization_id, domain) WHERE domain IS NOT NULL;
CREATE INDEX account_name_idx ON crm.account (organization_id, lower(name) text_pattern_ops) WHERE deleted_at IS NULL;
CREATE INDEX account_custom_fields_idx ON crm.account USING gin (custom_fields);
COMMENT ON TABLE crm.account IS 'A company or organisation the tenant does business with; accounts form a hierarchy (parent account).';
COMMENT ON COLUMN crm.account.name IS 'Account name.';
COMMENT ON COLUMN crm.account.parent_account_id IS 'The parent account (group, holding), if any; never a cycle.';
COMMENT ON COLUMN crm.account.type IS 'Account type, from the organization''s picklist account_type (default: prospect, customer, partner, competitor, other).';
COMMENT ON COLUMN crm.account.status IS 'active, inactive or churned.';
COMMENT ON COLUMN crm.account.rating IS 'Rating, from the organization''s picklist account_rating (default: hot, warm, cold).';
COMMENT ON COLUMN crm.account.industry IS 'Industry, from the organization''s picklist industry.';
COMMENT ON COLUMN crm.account.employee_count IS 'Number of employees.';
COMMENT ON COLUMN crm.account.annual_revenue IS 'Annual revenue in currency.';
COMMENT ON COLUMN crm.account.currency IS 'ISO 4217 code of annual_revenue (the organization default when NULL).';
COMMENT ON COLUMN crm.account.website IS 'Web site URL.';
COMMENT ON COLUMN crm.account.domain IS 'Internet domain, lower case (example.com): matches contacts'' email domains.';
COMMENT ON COLUMN crm.account.phone IS 'Main phone number (crm.phone: E.164).';
COMMENT ON COLUMN crm.account.billing_address IS 'Billing address (JSON object: street, city, region, postal_code, country).';
COMMENT ON COLUMN crm.account.shipping_address IS 'Shipping address (JSON object, same keys as billing_address).';
COMMENT ON COLUMN crm.account.description IS 'Free description.';
COMMENT ON COLUMN crm.account.territory_id IS 'The crm.territory the account belongs to.';
SELECT crm._setup_tenant_table('crm.account');
CREATE TRIGGER crm_15_no_cycle BEFORE INSERT OR UPDATE OF parent_account_id ON crm.account
	FOR EACH ROW EXECUTE FUNCTION crm.trg_no_cycle('account', 'parent_account_id');
CREATE TRIGGER crm_15_no_cycle BEFORE INSERT OR UPDATE OF parent_territory_id ON crm.territory
	FOR EACH ROW EXECUTE FUNCTION crm.trg_no_cycle('territory', 'parent_territory_id');

CREATE TABLE crm.contact (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	account_id	uuid,
	first_name	text,
	last_name	text NOT NULL,
	email		crm.email,
	phone		crm.phone,
	mobile		crm.phone,
	title		text,
	department	text,
	lead_source	text,
	preferred_contact_method text,
	timezone	text,
	locale		text,
	birthday	date,
	social_profiles jsonb NOT NULL DEFAULT '{}',
	do_not_email boolean NOT NULL DEFAULT false,
	do_not_call	boolean NOT NULL DEFAULT false,
	unsubscribed_at timestamptz,
	mailing_address jsonb,
	description	text,
	owner_id	uuid,
	tags		text[] NOT NULL DEFAULT '{}',
	custom_fields jsonb NOT NULL DEFAULT '{}',
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	deleted_at	timestamptz,
	search_vector tsvector GENERATED ALWAYS AS (
		setweight(to_tsvector('simple'::regconfig, crm.search_fold(coalesce(first_name, '') || ' ' || coalesce(last_name, ''))), 'A') ||
		setweight(to_tsvector('simple'::regconfig, coalesce(email::text, '') || ' ' || coalesce(crm.email_domain(email), '')), 'A') ||
		setweight(to_tsvector('simple'::regconfig, crm.search_fold(coalesce(title, '') || ' ' || coalesce(department, ''))), 'C') ||
		setweight(to_tsvector('simple'::regconfig, coalesce(crm.search_phone_terms(phone), '') || ' ' || coalesce(crm.search_phone_terms(mobile), '')), 'B')
	) STORED,
	CONSTRAINT contact_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT contact_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT contact_account_fkey FOREIGN KEY (organization_id, account_id) REFERENCES crm.account (organization_id, id),
	CONSTRAINT contact_owner_fkey FOREIGN KEY (organization_id, owner_id) REFERENCES crm.app_user (organization_id, id),
	CONSTRAINT contact_last_name_not_blank CHECK (pg_catalog.btrim(last_name) <> ''),
	CONSTRAINT contact_timezone_valid CHECK (crm.is_valid_timezone(timezone)),
	CONSTRAINT contact_locale_format CHECK (locale ~ '^[a-z]{2,3}([_-][A-Za-z0-9]{2,8})*$'),
	CONSTRAINT contact_birthday_past CHECK (birthday > DATE '1900-01-01'),
	CONSTRAINT contact_social_profiles_object CHECK (jsonb_typeof(social_profiles) = 'object'),
	CONSTRAINT contact_mailing_address_object CHECK (jsonb_typeof(mailing_address) = 'object'),
	CONSTRAINT contact_custom_fields_object CHECK (jsonb_typeof(custom_fields) = 'object')
);
CREATE INDEX contact_owner_idx ON crm.contact (organization_id, owner_id, created_at DESC) WHERE deleted_at IS NULL;
CREATE INDEX contact_account_idx ON crm.contact (organization_id, account_id) WHERE account_id IS NOT NULL;
CREATE INDEX contact_email_idx ON crm.contact (organization_id, email) WHERE email IS NOT NULL;
CREATE INDEX contact_email_domain_idx ON crm.contact (organization_id, crm.email_domain(email)) WHERE email IS NOT NULL;
CREATE INDEX contact_phone_idx ON crm.contact (organization_id, phone) WHERE phone IS NOT NULL;
CREATE INDEX contact_mobile_idx ON crm.contact (organization_id, mobile) WHERE mobile IS NOT NULL;
CREATE INDEX contact_name_idx ON crm.contact (organization_id, lower(last_name) text_pattern_ops, lower(first_name)) WHERE deleted_at IS NULL;
CREATE INDEX contact_recent_idx ON crm.contact (organization_id, created_at DESC) WHERE deleted_at IS NULL;
CREATE INDEX contact_custom_fields_idx ON crm.contact USING gin (custom_fields);
COMMENT ON TABLE crm.contact IS 'A person the tenant deals with, usually at an account.';
COMMENT ON COLUMN crm.contact.account_id IS 'The crm.account the person works for, if any.';
COMMENT ON COLUMN crm.contact.first_name IS 'Given name.';
COMMENT ON COLUMN crm.contact.last_name IS 'Family name (required).';
COMMENT ON COLUMN crm.contact.email IS 'Email address (crm.email: validated, compared case-insensitively).';
COMMENT ON COLUMN crm.contact.phone IS 'Phone number (crm.phone: E.164).';
COMMENT ON COLUMN crm.contact.mobile IS 'Mobile phone number (crm.phone: E.164).';
COMMENT ON COLUMN crm.contact.title IS 'Job title.';
COMMENT ON COLUMN crm.contact.department IS 'Department.';
COMMENT ON COLUMN crm.contact.lead_source IS 'Where the contact came from, from the organization''s picklist lead_source (web, referral, event, ...).';
COMMENT ON COLUMN crm.contact.preferred_contact_method IS 'How the person prefers to be contacted, from the organization''s picklist contact_method (default: email, phone, mobile, sms, mail, none).';
COMMENT ON COLUMN crm.contact.timezone IS 'IANA time zone of the person.';
COMMENT ON COLUMN crm.contact.locale IS 'Language/locale tag (en, de_DE, pt-BR).';
COMMENT ON COLUMN crm.contact.birthday IS 'Date of birth.';
COMMENT ON COLUMN crm.contact.social_profiles IS 'Social profiles as a JSON object (linkedin, x, github, ... -> URL or handle).';
COMMENT ON COLUMN crm.contact.do_not_email IS 'Consent: never send marketing email.';
COMMENT ON COLUMN crm.contact.do_not_call IS 'Consent: never call.';
COMMENT ON COLUMN crm.contact.unsubscribed_at IS 'When the person unsubscribed from marketing, if they did.';
COMMENT ON COLUMN crm.contact.mailing_address IS 'Postal address (JSON object: street, city, region, postal_code, country).';
COMMENT ON COLUMN crm.contact.description IS 'Free description.';
SELECT crm._setup_tenant_table('crm.contact');
-- ============================================================================
-- 30 leads
-- ============================================================================

CREATE TABLE crm.lead (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	first_name	text,
	last_name	text NOT NULL,
	email		crm.email,
	phone		crm.phone,
	company		text,
	title		text,
	website		text,
	industry	text,
	employee_count integer,
	lead_source	text,
	status		text NOT NULL DEFAULT 'new',
	priority	text,
	utm_source	text,
	utm_medium	text,
	utm_campaign text,
	utm_term	text,
	utm_content	text,
	converted_at timestamptz,
	converted_account_id uuid,
	converted_contact_id uuid,
	converted_opportunity_id uuid,
	disqualification_reason text,
	description	text,
	owner_id	uuid,
	tags		text[] NOT NULL DEFAULT '{}',
	custom_fields jsonb NOT NULL DEFAULT '{}',
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	deleted_at	timestamptz,
	search_vector tsvector GENERATED ALWAYS AS (
		setweight(to_tsvector('simple'::regconfig, crm.search_fold(coalesce(first_name, '') || ' ' || coalesce(last_name, ''))), 'A') ||
		setweight(to_tsvector('simple'::regconfig, coalesce(email::text, '') || ' ' || coalesce(crm.email_domain(email), '')), 'A') ||
		setweight(to_tsvector('simple'::regconfig, crm.search_fold(coalesce(company, ''))), 'B') ||
		setweight(to_tsvector('simple'::regconfig, crm.search_fold(coalesce(title, '')) || ' ' || coalesce(crm.search_phone_terms(phone), '')), 'C')
	) STORED,
	CONSTRAINT lead_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT lead_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT lead_owner_fkey FOREIGN KEY (organization_id, owner_id) REFERENCES crm.app_user (organization_id, id),
	CONSTRAINT lead_converted_account_fkey FOREIGN KEY (organization_id, converted_account_id) REFERENCES crm.account (organization_id, id),
	CONSTRAINT lead_converted_contact_fkey FOREIGN KEY (organization_id, converted_contact_id) REFERENCES crm.contact (organization_id, id),
	CONSTRAINT lead_last_name_not_blank CHECK (pg_catalog.btrim(last_name) <> ''),
	CONSTRAINT lead_status_valid CHECK (status IN ('new', 'contacted', 'nurturing', 'qualified', 'unqualified', 'converted')),
	CONSTRAINT lead_priority_valid CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
	CONSTRAINT lead_converted_consistent CHECK ((status = 'converted') = (converted_at IS NOT NULL)),
	CONSTRAINT lead_employee_count_nonnegative CHECK (employee_count >= 0),
	CONSTRAINT lead_custom_fields_object CHECK (jsonb_typeof(custom_fields) = 'object')
);
CREATE INDEX lead_owner_idx ON crm.lead (organization_id, owner_id, created_at DESC) WHERE deleted_at IS NULL;
CREATE INDEX lead_status_idx ON crm.lead (organization_id, status, created_at DESC) WHERE deleted_at IS NULL;
CREATE INDEX lead_email_idx ON crm.lead (organization_id, email) WHERE email IS NOT NULL;
CREATE INDEX lead_phone_idx ON crm.lead (organization_id, phone) WHERE phone IS NOT NULL;
CREATE INDEX lead_custom_fields_idx ON crm.lead USING gin (custom_fields);
COMMENT ON TABLE crm.lead IS 'A prospective customer not yet qualified; converted into account, contact and opportunity.';
COMMENT ON COLUMN crm.lead.first_name IS 'Given name.';
COMMENT ON COLUMN crm.lead.last_name IS 'Family name (required).';
COMMENT ON COLUMN crm.lead.email IS 'Email address (crm.email).';
COMMENT ON COLUMN crm.lead.phone IS 'Phone number (crm.phone: E.164).';
COMMENT ON COLUMN crm.lead.company IS 'Company name as given.';
COMMENT ON COLUMN crm.lead.title IS 'Job title.';
COMMENT ON COLUMN crm.lead.website IS 'Company web site.';
COMMENT ON COLUMN crm.lead.industry IS 'Industry, from the organization''s picklist industry.';
COMMENT ON COLUMN crm.lead.employee_count IS 'Company size.';
COMMENT ON COLUMN crm.lead.lead_source IS 'Where the lead came from, from the organization''s picklist lead_source (web, referral, event, ...).';
COMMENT ON COLUMN crm.lead.status IS 'new, contacted, nurturing, qualified, unqualified or converted.';
COMMENT ON COLUMN crm.lead.priority IS 'low, normal, high or urgent; NULL: not set (routing rules may set it, doc/routing.md).';
COMMENT ON COLUMN crm.lead.utm_source IS 'UTM source of the first visit.';
COMMENT ON COLUMN crm.lead.utm_medium IS 'UTM medium.';
COMMENT ON COLUMN crm.lead.utm_campaign IS 'UTM campaign.';
COMMENT ON COLUMN crm.lead.utm_term IS 'UTM term.';
COMMENT ON COLUMN crm.lead.utm_content IS 'UTM content.';
COMMENT ON COLUMN crm.lead.converted_at IS 'When the lead was converted (set exactly when status = converted).';
COMMENT ON COLUMN crm.lead.converted_account_id IS 'The account the lead became.';
COMMENT ON COLUMN crm.lead.converted_contact_id IS 'The contact the lead became.';
COMMENT ON COLUMN crm.lead.converted_opportunity_id IS 'The opportunity created at conversion (foreign key added with opportunities).';
COMMENT ON COLUMN crm.lead.disqualification_reason IS 'Why the lead was marked unqualified.';
COMMENT ON COLUMN crm.lead.description IS 'Free description.';
SELECT crm._setup_tenant_table('crm.lead');
-- ============================================================================
-- 35 sales: pipelines and their stages, opportunities, the stage history as
-- non-overlapping stints, and the weighted-pipeline roll-up (doc/sales.md)
-- ============================================================================

-- A sales process of a tenant.  Every tenant has exactly one default
-- pipeline (crm.create_organization seeds it); opportunities without a
-- pipeline go there.
CREATE TABLE crm.pipeline (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	name		text NOT NULL,
	description	text,
	is_default	boolean NOT NULL DEFAULT false,
	is_active	boolean NOT NULL DEFAULT true,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT pipeline_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT pipeline_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT pipeline_name_not_blank CHECK (pg_catalog.btrim(name) <> ''),
	-- (not led by organization_id: foreign-key checks keep the primary key)
	CONSTRAINT pipeline_name_key UNIQUE (name, organization_id),
	-- at most one default per tenant, checked at the end of each statement,
	-- so that UPDATE crm.pipeline SET is_default = (id = '…') moves it
	CONSTRAINT pipeline_one_default EXCLUDE USING btree (organization_id WITH OPERATOR(pg_catalog.=))
		WHERE (is_default) DEFERRABLE INITIALLY IMMEDIATE
);
COMMENT ON TABLE crm.pipeline IS 'A sales process (a sequence of stages); one per tenant is the default.';
COMMENT ON COLUMN crm.pipeline.name IS 'Pipeline name, unique per organization.';
COMMENT ON COLUMN crm.pipeline.description IS 'Free description.';
COMMENT ON COLUMN crm.pipeline.is_default IS 'The pipeline of opportunities created without one; at most one per organization (move it with UPDATE crm.pipeline SET is_default = (id = ''…'')).';
COMMENT ON COLUMN crm.pipeline.is_active IS 'False for a pipeline no longer offered for new opportunities.';
SELECT crm._setup_tenant_table('crm.pipeline');

-- The stages of a pipeline.  Reordering (position), renaming and retiring
-- (is_active) are ordinary updates; deleting a stage that an opportunity or
-- its history uses is refused (crm.trg_stage_in_use).
CREATE TABLE crm.pipeline_stage (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	pipeline_id	uuid NOT NULL,
	name		text NOT NULL,
	position	integer NOT NULL,
	default_probability numeric(5,2) NOT NULL,
	forecast_category text NOT NULL DEFAULT 'pipeline',
	is_closed	boolean NOT NULL DEFAULT false,
	is_won		boolean NOT NULL DEFAULT false,
	expected_days integer,
	is_active	boolean NOT NULL DEFAULT true,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT pipeline_stage_pkey PRIMARY KEY (organization_id, id),
	-- what opportunity_stage_fkey references: the stage within its pipeline
	-- (not led by organization_id, so foreign-key checks by (organization_id,
	-- id) keep using the primary key)
	CONSTRAINT pipeline_stage_pipeline_key UNIQUE (pipeline_id, id, organization_id),
	CONSTRAINT pipeline_stage_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT pipeline_stage_pipeline_fkey FOREIGN KEY (organization_id, pipeline_id)
		REFERENCES crm.pipeline (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT pipeline_stage_name_key UNIQUE (pipeline_id, name, organization_id),
	CONSTRAINT pipeline_stage_name_not_blank CHECK (pg_catalog.btrim(name) <> ''),
	CONSTRAINT pipeline_stage_probability_range CHECK (default_probability BETWEEN 0 AND 100),
	CONSTRAINT pipeline_stage_forecast_category_valid CHECK (forecast_category IN ('pipeline', 'best_case', 'commit', 'closed', 'omitted')),
	CONSTRAINT pipeline_stage_won_is_closed CHECK (is_closed OR NOT is_won),
	CONSTRAINT pipeline_stage_expected_days_positive CHECK (expected_days > 0)
);
COMMENT ON TABLE crm.pipeline_stage IS 'A stage of a pipeline: its order, default probability and forecast category, and whether it closes the opportunity (won or lost).';
COMMENT ON COLUMN crm.pipeline_stage.pipeline_id IS 'The crm.pipeline the stage belongs to.';
COMMENT ON COLUMN crm.pipeline_stage.name IS 'Stage name, unique within its pipeline.';
COMMENT ON COLUMN crm.pipeline_stage.position IS 'Order of the stage in its pipeline (ascending).';
COMMENT ON COLUMN crm.pipeline_stage.default_probability IS 'Probability (percent, 0-100) an opportunity takes on entering the stage, unless the rep set one by hand.';
COMMENT ON COLUMN crm.pipeline_stage.forecast_category IS 'Forecast category an opportunity takes on entering the stage: pipeline, best_case, commit, closed or omitted.';
COMMENT ON COLUMN crm.pipeline_stage.is_closed IS 'Entering the stage closes the opportunity (won or lost).';
COMMENT ON COLUMN crm.pipeline_stage.is_won IS 'A closed stage that means won (else lost: a lost reason is required).';
COMMENT ON COLUMN crm.pipeline_stage.expected_days IS 'How many days an opportunity is expected to stay in the stage (for velocity reports).';
COMMENT ON COLUMN crm.pipeline_stage.is_active IS 'False for a retired stage: kept for history, not offered for new opportunities.';
SELECT crm._setup_tenant_table('crm.pipeline_stage', label => 'pipeline stage');

-- A clear refusal to delete a stage in use (the foreign keys would refuse
-- too, naming only a constraint).
CREATE FUNCTION crm.trg_stage_in_use() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	n bigint;
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_stage_in_use()', TG_NAME, TG_RELID, TG_ARGV, '{pipeline_stage}');
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN OLD;
	END IF;
	SELECT count(*) INTO n FROM crm.opportunity o
	 WHERE o.organization_id = OLD.organization_id AND o.stage_id = OLD.id;
	IF n = 0 AND NOT EXISTS (SELECT 1 FROM crm.opportunity_stage_history h
							  WHERE h.organization_id = OLD.organization_id AND h.stage_id = OLD.id) THEN
		RETURN OLD;
	END IF;
	RAISE EXCEPTION 'stage "%" cannot be deleted: %', OLD.name,
		CASE WHEN n = 0 THEN 'the stage history of opportunities refers to it'
			 WHEN n = 1 THEN '1 opportunity is in it' ELSE n || ' opportunities are in it' END
		USING ERRCODE = 'foreign_key_violation',
			  DETAIL = 'Opportunities (soft-deleted ones included) and their stage history keep referring to their stages.',
			  HINT = 'Retire it instead (UPDATE crm.pipeline_stage SET is_active = false), or move its opportunities to another stage first.';
END;
$$;
COMMENT ON FUNCTION crm.trg_stage_in_use() IS
	'BEFORE DELETE row trigger on crm.pipeline_stage: refuses to delete a stage that opportunities or their history use, with a hint to retire it instead.';

-- ---------------------------------------------------------------------------
-- Opportunities
-- ---------------------------------------------------------------------------
CREATE TABLE crm.opportunity (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	name		text NOT NULL,
	account_id	uuid,
	contact_id	uuid,
	pipeline_id	uuid NOT NULL,
	stage_id	uuid NOT NULL,
	amount		numeric(18,2) NOT NULL DEFAULT 0,
	currency	char(3) NOT NULL,
	probability	numeric(5,2) NOT NULL,
	probability_override numeric(5,2),
	expected_revenue numeric(18,2) GENERATED ALWAYS AS (pg_catalog.round(amount * probability / 100, 2)) STORED,
	type		text,
	lead_source	text,
	campaign_id	uuid,
	next_step	text,
	forecast_category text NOT NULL,
	forecast_category_override text,
	lost_reason	text,
	competitor	text,
	owner_id	uuid,
	close_date	date,
	stage_entered_at timestamptz NOT NULL,
	is_closed	boolean NOT NULL,
	is_won		boolean NOT NULL,
	closed_at	timestamptz,
	description	text,
	tags		text[] NOT NULL DEFAULT '{}',
	custom_fields jsonb NOT NULL DEFAULT '{}',
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	deleted_at	timestamptz,
	CONSTRAINT opportunity_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT opportunity_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT opportunity_account_fkey FOREIGN KEY (organization_id, account_id) REFERENCES crm.account (organization_id, id),
	CONSTRAINT opportunity_contact_fkey FOREIGN KEY (organization_id, contact_id) REFERENCES crm.contact (organization_id, id),
	CONSTRAINT opportunity_pipeline_fkey FOREIGN KEY (organization_id, pipeline_id) REFERENCES crm.pipeline (organization_id, id),
	-- the stage belongs to the opportunity's pipeline
	CONSTRAINT opportunity_stage_fkey FOREIGN KEY (organization_id, pipeline_id, stage_id)
		REFERENCES crm.pipeline_stage (organization_id, pipeline_id, id),
	CONSTRAINT opportunity_owner_fkey FOREIGN KEY (organization_id, owner_id) REFERENCES crm.app_user (organization_id, id),
	CONSTRAINT opportunity_name_not_blank CHECK (pg_catalog.btrim(name) <> ''),
	CONSTRAINT opportunity_amount_nonnegative CHECK (amount >= 0),
	CONSTRAINT opportunity_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
	CONSTRAINT opportunity_probability_range CHECK (probability BETWEEN 0 AND 100),
	CONSTRAINT opportunity_probability_override_range CHECK (probability_override BETWEEN 0 AND 100),
	CONSTRAINT opportunity_type_valid CHECK (type IN ('new_business', 'upsell', 'renewal', 'cross_sell')),
	CONSTRAINT opportunity_forecast_category_valid CHECK (forecast_category IN ('pipeline', 'best_case', 'commit', 'closed', 'omitted')),
	CONSTRAINT opportunity_forecast_category_override_valid CHECK (forecast_category_override IN ('pipeline', 'best_case', 'commit', 'omitted')),
	CONSTRAINT opportunity_closed_consistent CHECK (is_closed = (closed_at IS NOT NULL) AND (is_closed OR NOT is_won)),
	CONSTRAINT opportunity_custom_fields_object CHECK (jsonb_typeof(custom_fields) = 'object')
);
CREATE INDEX opportunity_owner_idx ON crm.opportunity (organization_id, owner_id, close_date) WHERE deleted_at IS NULL;
CREATE INDEX opportunity_stage_idx ON crm.opportunity (organization_id, stage_id) WHERE deleted_at IS NULL;
CREATE INDEX opportunity_account_idx ON crm.opportunity (organization_id, account_id) WHERE account_id IS NOT NULL;
CREATE INDEX opportunity_contact_idx ON crm.opportunity (organization_id, contact_id) WHERE contact_id IS NOT NULL;
CREATE INDEX opportunity_close_idx ON crm.opportunity (organization_id, close_date) WHERE deleted_at IS NULL;
CREATE INDEX opportunity_tags_idx ON crm.opportunity USING gin (tags);
CREATE INDEX opportunity_custom_fields_idx ON crm.opportunity USING gin (custom_fields);
COMMENT ON TABLE crm.opportunity IS 'A deal in a pipeline: its stage, amount, probability and close date drive the weighted pipeline and the forecast.';
COMMENT ON COLUMN crm.opportunity.name IS 'Deal name.';
COMMENT ON COLUMN crm.opportunity.account_id IS 'The crm.account the deal is with.';
COMMENT ON COLUMN crm.opportunity.contact_id IS 'The primary crm.contact of the deal (more in crm.opportunity_contact).';
COMMENT ON COLUMN crm.opportunity.pipeline_id IS 'The crm.pipeline; the default pipeline when not given. Changing it without a stage moves the deal to the first active stage of the new pipeline.';
COMMENT ON COLUMN crm.opportunity.stage_id IS 'The crm.pipeline_stage, always one of the pipeline''s (opportunity_stage_fkey); the first active stage when not given.';
COMMENT ON COLUMN crm.opportunity.amount IS 'Deal value in currency.';
COMMENT ON COLUMN crm.opportunity.currency IS 'ISO 4217 code of amount; the organization''s default currency when not given.';
COMMENT ON COLUMN crm.opportunity.probability IS 'Win probability in percent (maintained): 100 won, 0 lost, else probability_override, else the stage''s default. Writing it sets probability_override.';
COMMENT ON COLUMN crm.opportunity.probability_override IS 'Probability set by hand; survives stage changes until set to NULL.';
COMMENT ON COLUMN crm.opportunity.expected_revenue IS 'amount * probability / 100, rounded to cents (generated).';
COMMENT ON COLUMN crm.opportunity.type IS 'new_business, upsell, renewal or cross_sell.';
COMMENT ON COLUMN crm.opportunity.lead_source IS 'Where the deal came from (web, referral, event, ...).';
COMMENT ON COLUMN crm.opportunity.campaign_id IS 'The marketing campaign that sourced the deal (its foreign key arrives with campaigns).';
COMMENT ON COLUMN crm.opportunity.next_step IS 'The next thing to do to move the deal on.';
COMMENT ON COLUMN crm.opportunity.forecast_category IS 'Forecast category (maintained): closed when won, omitted when lost, else forecast_category_override, else the stage''s. Writing it sets forecast_category_override.';
COMMENT ON COLUMN crm.opportunity.forecast_category_override IS 'Forecast category set by hand (pipeline, best_case, commit, omitted); survives stage changes until set to NULL.';
COMMENT ON COLUMN crm.opportunity.lost_reason IS 'Why the deal was lost; required to enter a lost stage.';
COMMENT ON COLUMN crm.opportunity.competitor IS 'The main competitor.';
COMMENT ON COLUMN crm.opportunity.close_date IS 'When the deal is expected to close (or closed).';
COMMENT ON COLUMN crm.opportunity.stage_entered_at IS 'When the deal entered its current stage (maintained).';
COMMENT ON COLUMN crm.opportunity.is_closed IS 'Whether the stage is a closed one (maintained).';
COMMENT ON COLUMN crm.opportunity.is_won IS 'Whether the deal was won (maintained).';
COMMENT ON COLUMN crm.opportunity.closed_at IS 'When the deal entered a closed stage; NULL again when reopened (maintained).';
COMMENT ON COLUMN crm.opportunity.description IS 'Free description.';
SELECT crm._setup_tenant_table('crm.opportunity');

ALTER TABLE crm.lead ADD CONSTRAINT lead_converted_opportunity_fkey
	FOREIGN KEY (organization_id, converted_opportunity_id) REFERENCES crm.opportunity (organization_id, id);

-- The contacts of a deal and their roles; at most one is the primary.
CREATE TABLE crm.opportunity_contact (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	opportunity_id uuid NOT NULL,
	contact_id	uuid NOT NULL,
	role		text NOT NULL DEFAULT 'other',
	is_primary	boolean NOT NULL DEFAULT false,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT opportunity_contact_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT opportunity_contact_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT opportunity_contact_opportunity_fkey FOREIGN KEY (organization_id, opportunity_id)
		REFERENCES crm.opportunity (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT opportunity_contact_contact_fkey FOREIGN KEY (organization_id, contact_id)
		REFERENCES crm.contact (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT opportunity_contact_key UNIQUE (organization_id, opportunity_id, contact_id),
	CONSTRAINT opportunity_contact_role_valid CHECK (role IN ('decision_maker', 'economic_buyer', 'champion', 'influencer', 'technical', 'end_user', 'other'))
);
CREATE UNIQUE INDEX opportunity_contact_one_primary ON crm.opportunity_contact (organization_id, opportunity_id) WHERE is_primary;
CREATE INDEX opportunity_contact_contact_idx ON crm.opportunity_contact (organization_id, contact_id);
COMMENT ON TABLE crm.opportunity_contact IS 'A contact''s role in a deal (buying committee); at most one primary contact per deal.';
COMMENT ON COLUMN crm.opportunity_contact.opportunity_id IS 'The crm.opportunity.';
COMMENT ON COLUMN crm.opportunity_contact.contact_id IS 'The crm.contact.';
COMMENT ON COLUMN crm.opportunity_contact.role IS 'decision_maker, economic_buyer, champion, influencer, technical, end_user or other.';
COMMENT ON COLUMN crm.opportunity_contact.is_primary IS 'The primary contact of the deal (at most one).';
SELECT crm._setup_tenant_table('crm.opportunity_contact', label => 'opportunity contact');

-- ---------------------------------------------------------------------------
-- Stage history as stints: one row per interval during which an
-- opportunity's tracked values (pipeline, stage, amount, currency,
-- probability, forecast category, close date, owner) stood unchanged while
-- it was live.  Written by crm.trg_opportunity_track (src/pipeline.c), never
-- by applications.  The intervals of one opportunity never overlap
-- (opportunity_stage_history_no_overlap), so the state at any instant is
-- the one stint containing it.
-- ---------------------------------------------------------------------------

-- A range of uuids, only so that equality on the tenant and the opportunity
-- can sit in the GiST exclusion constraint next to the interval (the range
-- GiST operator class supports =; uuid itself has no GiST support without
-- the btree_gist extension).
CREATE FUNCTION crm._uuid_diff(uuid, uuid) RETURNS double precision
	AS 'MODULE_PATHNAME', 'pipeline_uuid_diff'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm._uuid_diff(uuid, uuid) IS
	'The difference of two uuids read as 128-bit numbers (approximate): the subtype difference of crm.uuid_range, which GiST needs to keep its index compact.';
CREATE TYPE crm.uuid_range AS RANGE (subtype = uuid, subtype_diff = crm._uuid_diff);
COMMENT ON TYPE crm.uuid_range IS 'Range of uuids; crm uses single-value ranges to put uuid equality into GiST exclusion constraints.';
COMMENT ON FUNCTION crm.uuid_range(uuid, uuid) IS 'Constructor of crm.uuid_range [lower, upper).';
COMMENT ON FUNCTION crm.uuid_range(uuid, uuid, text) IS 'Constructor of crm.uuid_range with explicit bounds (''[]'': a single uuid).';
COMMENT ON TYPE crm.uuid_multirange IS 'Multirange of crm.uuid_range (made with the range type; unused).';
COMMENT ON FUNCTION crm.uuid_multirange() IS 'Constructor of an empty crm.uuid_multirange (made with the range type; unused).';
COMMENT ON FUNCTION crm.uuid_multirange(crm.uuid_range) IS 'Constructor of crm.uuid_multirange from one range (made with the range type; unused).';
COMMENT ON FUNCTION crm.uuid_multirange(crm.uuid_range[]) IS 'Constructor of crm.uuid_multirange from ranges (made with the range type; unused).';
-- The exclusion constraints put a uuid in as uuid_point(u): the same value
-- as uuid_range(u, u, '[]'), from a C function of crm's library (the
-- executor finds the range type's own constructor by a linear search among
-- all built-in functions whenever it sets up an index expression calling it:
-- twice per history statement).
CREATE FUNCTION crm.uuid_point(uuid) RETURNS crm.uuid_range
	AS 'MODULE_PATHNAME', 'pipeline_uuid_point'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.uuid_point(uuid) IS 'The crm.uuid_range holding one uuid, [u, u] (= crm.uuid_range(u, u, ''[]'')): how the exclusion constraints compare uuids for equality in GiST.';

CREATE TABLE crm.opportunity_stage_history (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	opportunity_id uuid NOT NULL,
	valid		tstzrange NOT NULL,
	pipeline_id	uuid NOT NULL,
	stage_id	uuid NOT NULL,
	from_stage_id uuid,
	amount		numeric(18,2) NOT NULL,
	previous_amount numeric(18,2),
	currency	char(3) NOT NULL,
	probability	numeric(5,2) NOT NULL,
	previous_probability numeric(5,2),
	expected_revenue numeric(18,2) GENERATED ALWAYS AS (pg_catalog.round(amount * probability / 100, 2)) STORED,
	is_probability_override boolean NOT NULL,
	forecast_category text NOT NULL,
	previous_forecast_category text,
	close_date	date,
	previous_close_date date,
	owner_id	uuid,
	previous_owner_id uuid,
	changed_by	uuid,
	CONSTRAINT opportunity_stage_history_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT opportunity_stage_history_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT opportunity_stage_history_opportunity_fkey FOREIGN KEY (organization_id, opportunity_id)
		REFERENCES crm.opportunity (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT opportunity_stage_history_stage_fkey FOREIGN KEY (organization_id, pipeline_id, stage_id)
		REFERENCES crm.pipeline_stage (organization_id, pipeline_id, id),
	CONSTRAINT opportunity_stage_history_valid_bounded_below CHECK (NOT pg_catalog.lower_inf(valid) AND NOT pg_catalog.isempty(valid)),
	CONSTRAINT opportunity_stage_history_no_overlap EXCLUDE USING gist (
		crm.uuid_point(opportunity_id) WITH OPERATOR(pg_catalog.=),
		crm.uuid_point(organization_id) WITH OPERATOR(pg_catalog.=),
		valid WITH OPERATOR(pg_catalog.&&))
);
CREATE INDEX opportunity_stage_history_opportunity_idx ON crm.opportunity_stage_history (organization_id, opportunity_id, pg_catalog.lower(valid));
CREATE INDEX opportunity_stage_history_pipeline_idx ON crm.opportunity_stage_history (organization_id, pipeline_id, pg_catalog.lower(valid));
COMMENT ON TABLE crm.opportunity_stage_history IS 'Stints of an opportunity: one row per interval in which its pipeline, stage, amount, currency, probability, forecast category, close date and owner stood unchanged while it was live; never overlapping (written by crm.trg_opportunity_track).';
COMMENT ON COLUMN crm.opportunity_stage_history.opportunity_id IS 'The crm.opportunity.';
COMMENT ON COLUMN crm.opportunity_stage_history.valid IS 'When the values held: [statement time of the change, statement time of the next change); open-ended for the current stint. Time in stage is upper - lower.';
COMMENT ON COLUMN crm.opportunity_stage_history.pipeline_id IS 'The pipeline during the stint.';
COMMENT ON COLUMN crm.opportunity_stage_history.stage_id IS 'The stage during the stint.';
COMMENT ON COLUMN crm.opportunity_stage_history.from_stage_id IS 'The stage of the previous stint (NULL for the first one, or after a soft delete was undone).';
COMMENT ON COLUMN crm.opportunity_stage_history.amount IS 'Amount during the stint.';
COMMENT ON COLUMN crm.opportunity_stage_history.previous_amount IS 'Amount of the previous stint.';
COMMENT ON COLUMN crm.opportunity_stage_history.currency IS 'Currency of amount during the stint.';
COMMENT ON COLUMN crm.opportunity_stage_history.probability IS 'Probability during the stint.';
COMMENT ON COLUMN crm.opportunity_stage_history.previous_probability IS 'Probability of the previous stint.';
COMMENT ON COLUMN crm.opportunity_stage_history.expected_revenue IS 'amount * probability / 100, rounded to cents (generated).';
COMMENT ON COLUMN crm.opportunity_stage_history.is_probability_override IS 'Whether the probability was set by hand (probability_override) rather than taken from the stage.';
COMMENT ON COLUMN crm.opportunity_stage_history.forecast_category IS 'Forecast category during the stint.';
COMMENT ON COLUMN crm.opportunity_stage_history.previous_forecast_category IS 'Forecast category of the previous stint.';
COMMENT ON COLUMN crm.opportunity_stage_history.close_date IS 'Expected close date during the stint.';
COMMENT ON COLUMN crm.opportunity_stage_history.previous_close_date IS 'Close date of the previous stint.';
COMMENT ON COLUMN crm.opportunity_stage_history.owner_id IS 'Owner during the stint.';
COMMENT ON COLUMN crm.opportunity_stage_history.previous_owner_id IS 'Owner of the previous stint.';
COMMENT ON COLUMN crm.opportunity_stage_history.changed_by IS 'The crm.app_user whose change began the stint (NULL: a system write).';
SELECT crm._setup_tenant_table('crm.opportunity_stage_history', audited => false, label => 'stage history stint');

CREATE TRIGGER crm_30_stage_in_use BEFORE DELETE ON crm.pipeline_stage
	FOR EACH ROW EXECUTE FUNCTION crm.trg_stage_in_use('pipeline_stage');

-- ---------------------------------------------------------------------------
-- The weighted-pipeline roll-up: per tenant, pipeline, stage, owner, close
-- month, forecast category and currency, the count, amount and expected
-- revenue of the live opportunities.  Kept by crm.trg_opportunity_track as
-- commutative deltas in the row of the writing backend's slot (its backend
-- id), so concurrent transactions never update the same row (no lock waits,
-- no deadlocks, no hot row); a bucket's value is the sum over its slots.
-- crm.fold_pipeline_rollup() folds the slots into slot 0 (doc/sales.md).
-- ---------------------------------------------------------------------------
CREATE TABLE crm.pipeline_rollup (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	pipeline_id	uuid NOT NULL,
	stage_id	uuid NOT NULL,
	owner_id	uuid,
	close_month	date,
	forecast_category text NOT NULL,
	currency	char(3) NOT NULL,
	slot		integer NOT NULL,
	opportunity_count bigint NOT NULL,
	amount		numeric NOT NULL,
	expected_revenue numeric NOT NULL,
	CONSTRAINT pipeline_rollup_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT pipeline_rollup_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	-- the bucket and slot; owner and close month may be NULL, and NULLs
	-- are one bucket
	CONSTRAINT pipeline_rollup_key UNIQUE NULLS NOT DISTINCT
		(organization_id, pipeline_id, stage_id, owner_id, close_month, forecast_category, currency, slot)
);
COMMENT ON TABLE crm.pipeline_rollup IS 'Weighted-pipeline roll-up of live opportunities per pipeline, stage, owner, close month, forecast category and currency, kept exact at commit by crm.trg_opportunity_track; a bucket is the sum of its slot rows.';
COMMENT ON COLUMN crm.pipeline_rollup.pipeline_id IS 'The pipeline.';
COMMENT ON COLUMN crm.pipeline_rollup.stage_id IS 'The stage.';
COMMENT ON COLUMN crm.pipeline_rollup.owner_id IS 'The opportunities'' owner (NULL: none).';
COMMENT ON COLUMN crm.pipeline_rollup.close_month IS 'First day of the close date''s month (NULL: no close date).';
COMMENT ON COLUMN crm.pipeline_rollup.forecast_category IS 'The opportunities'' forecast category.';
COMMENT ON COLUMN crm.pipeline_rollup.currency IS 'Currency of amount and expected_revenue.';
COMMENT ON COLUMN crm.pipeline_rollup.slot IS 'Backend id of the writers that added these deltas (0: folded); concurrent transactions never share a slot.';
COMMENT ON COLUMN crm.pipeline_rollup.opportunity_count IS 'Number of opportunities (this slot''s share).';
COMMENT ON COLUMN crm.pipeline_rollup.amount IS 'Sum of amount (this slot''s share).';
COMMENT ON COLUMN crm.pipeline_rollup.expected_revenue IS 'Sum of expected_revenue (this slot''s share).';
SELECT crm._setup_tenant_table('crm.pipeline_rollup', audited => false, label => 'pipeline roll-up row');

-- ---------------------------------------------------------------------------
-- The C triggers of crm.opportunity (src/pipeline.c)
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm.trg_opportunity_stage() RETURNS trigger
	AS 'MODULE_PATHNAME', 'pipeline_opportunity_stage'
	LANGUAGE C;
COMMENT ON FUNCTION crm.trg_opportunity_stage() IS
	'BEFORE INSERT OR UPDATE (OF the columns it reads or maintains) row trigger on crm.opportunity: default pipeline and stage, currency, probability and forecast category from the stage unless overridden, close semantics (won/lost stages, lost reason required, reopen), stage_entered_at.';

CREATE FUNCTION crm.trg_opportunity_track() RETURNS trigger
	AS 'MODULE_PATHNAME', 'pipeline_opportunity_track'
	LANGUAGE C;
COMMENT ON FUNCTION crm.trg_opportunity_track() IS
	'AFTER INSERT OR DELETE OR UPDATE (OF the columns that can change what it tracks) row trigger on crm.opportunity: writes the stage-history stints and the deltas of crm.pipeline_rollup.';

-- crm_30_stage fires on an UPDATE only when it sets a column the function
-- reads or maintains (the "watched" columns of pipeline_opportunity_stage):
-- for any other update (amount, close date, owner, name, ...) they stay as
-- they were -- crm_10_stamp, crm_12_live_refs and crm_20_custom_fields,
-- which run before it, write none of them -- and the function would return
-- at once, so PostgreSQL does not call it.
CREATE TRIGGER crm_30_stage BEFORE INSERT OR UPDATE OF pipeline_id, stage_id, currency, probability, probability_override,
		forecast_category, forecast_category_override, lost_reason, stage_entered_at, is_closed, is_won, closed_at
	ON crm.opportunity
	FOR EACH ROW EXECUTE FUNCTION crm.trg_opportunity_stage('opportunity');
-- crm_40_track fires on an UPDATE only when it sets a column that can
-- change what the history tracks or whether the deal is live: the tracked
-- columns themselves (pipeline, stage, amount, currency, probability and
-- its override, forecast category, close date, owner), deleted_at, and
-- every column that makes crm_30_stage run (and so rewrite tracked
-- columns).  Any other update leaves the tracked values as they were --
-- the BEFORE triggers write tracked columns only through crm_30_stage --
-- and the function would return at once (tracked_changed in
-- src/pipeline.c), so PostgreSQL does not queue it.
CREATE TRIGGER crm_40_track AFTER INSERT OR DELETE OR UPDATE OF pipeline_id, stage_id, amount, currency, probability,
		probability_override, forecast_category, forecast_category_override, close_date, owner_id, deleted_at,
		lost_reason, stage_entered_at, is_closed, is_won, closed_at
	ON crm.opportunity
	FOR EACH ROW EXECUTE FUNCTION crm.trg_opportunity_track('opportunity');

-- The default pipeline a new tenant starts with: a system write (no actor
-- of the caller's organization is recorded on the new tenant's rows).
CREATE FUNCTION crm._seed_default_pipeline(org uuid) RETURNS uuid
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
SET crm.user_id = ''
AS $$
DECLARE
	p uuid;
BEGIN
	INSERT INTO crm.pipeline AS x (organization_id, name, is_default)
	VALUES (org, 'Sales', true)
	RETURNING x.id INTO p;
	INSERT INTO crm.pipeline_stage (organization_id, pipeline_id, name, position, default_probability,
									forecast_category, is_closed, is_won)
	VALUES (org, p, 'Prospecting', 1, 10, 'pipeline', false, false),
		   (org, p, 'Qualification', 2, 20, 'pipeline', false, false),
		   (org, p, 'Proposal', 3, 50, 'best_case', false, false),
		   (org, p, 'Negotiation', 4, 80, 'commit', false, false),
		   (org, p, 'Closed Won', 5, 100, 'closed', true, true),
		   (org, p, 'Closed Lost', 6, 0, 'omitted', true, false);
	RETURN p;
END;
$$;
COMMENT ON FUNCTION crm._seed_default_pipeline(uuid) IS
	'Internal (crm.create_organization): creates the default pipeline Sales (Prospecting 10, Qualification 20, Proposal 50, Negotiation 80, Closed Won 100, Closed Lost 0) of a new organization.';

-- The pipeline a report is about: the given one (of the current
-- organization), else the default.
CREATE FUNCTION crm._report_pipeline(org uuid, pipeline uuid) RETURNS uuid
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	p uuid;
BEGIN
	IF pipeline IS NULL THEN
		SELECT x.id INTO p FROM crm.pipeline x WHERE x.organization_id = org AND x.is_default;
		IF p IS NULL THEN
			RAISE EXCEPTION 'organization % has no default pipeline', org
				USING ERRCODE = 'no_data_found',
					  HINT = 'Name a pipeline, or make one the default: UPDATE crm.pipeline SET is_default = (id = ''…'').';
		END IF;
	ELSE
		SELECT x.id INTO p FROM crm.pipeline x WHERE x.organization_id = org AND x.id = pipeline;
		IF p IS NULL THEN
			RAISE EXCEPTION 'pipeline % does not exist in this organization', pipeline
				USING ERRCODE = 'no_data_found';
		END IF;
	END IF;
	RETURN p;
END;
$$;
COMMENT ON FUNCTION crm._report_pipeline(uuid, uuid) IS
	'Internal: the pipeline a report is about (the given one of the organization, else its default); errors when there is none.';

-- One cell of a per-stage report: a stage's count and sums in one currency.
CREATE TYPE crm._stage_cell AS (stage_id uuid, currency char(3), n bigint, amount numeric, weighted numeric);
COMMENT ON TYPE crm._stage_cell IS 'Internal: a stage''s count, amount and weighted amount in one currency (crm.pipeline_summary, crm.pipeline_as_of).';

-- Every stage of a pipeline in order, with its cells (a stage without one
-- shows zeros in the organization's currency).
CREATE FUNCTION crm._per_stage(org uuid, pipeline uuid, cells crm._stage_cell[])
RETURNS TABLE (stage_id uuid, stage text, "position" integer, currency char(3),
			   opportunity_count bigint, amount numeric, weighted_amount numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	RETURN QUERY
	SELECT s.id, s.name, s.position, coalesce(r.currency, o.default_currency)::char(3),
		   coalesce(r.n, 0)::bigint, coalesce(r.amount, 0), coalesce(r.weighted, 0)
	  FROM crm.pipeline_stage s
	  JOIN crm.organization o ON o.id = s.organization_id
	  LEFT JOIN unnest(cells) r ON r.stage_id = s.id
	 WHERE s.organization_id = org AND s.pipeline_id = _per_stage.pipeline
	 ORDER BY s.position, s.name, 4;
END;
$$;
COMMENT ON FUNCTION crm._per_stage(uuid, uuid, crm._stage_cell[]) IS
	'Internal: the rows of a per-stage report (every stage of the pipeline in order, zeros where no cell).';

-- The weighted pipeline per stage in the corporate currency, from the
-- roll-up only: O(stages x buckets), never the opportunity table.  Each
-- (stage, currency, close month) is converted with the rate in force on the
-- month's first day (crm._fx, sql/38_sales_reports.sql).
CREATE FUNCTION crm.pipeline_summary(pipeline uuid DEFAULT NULL, owner uuid DEFAULT NULL,
									 close_from date DEFAULT NULL, close_to date DEFAULT NULL)
RETURNS TABLE (stage_id uuid, stage text, "position" integer, currency char(3),
			   opportunity_count bigint, amount numeric, weighted_amount numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
	p uuid;
	corp char(3);
BEGIN
	IF close_from > close_to THEN
		RAISE EXCEPTION 'close_from (%) is after close_to (%)', close_from, close_to
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	p := crm._report_pipeline(org, pipeline);
	SELECT o.default_currency INTO corp FROM crm.organization o WHERE o.id = org;
	RETURN QUERY SELECT * FROM crm._per_stage(org, p, ARRAY(
		SELECT ROW(f.key::uuid, corp, f.n, f.amount, f.weighted)::crm._stage_cell
		  FROM crm._fx(org, ARRAY(
				-- the corporate currency needs no rate: one cell per stage
				SELECT ROW(u.stage_id::text, u.currency, CASE WHEN u.currency <> corp THEN u.close_month END,
						   sum(u.opportunity_count), sum(u.amount), sum(u.expected_revenue))::crm._fx_cell
				  FROM crm.pipeline_rollup u
				 WHERE u.organization_id = org AND u.pipeline_id = p
				   AND (owner IS NULL OR u.owner_id = owner)
				   AND (close_from IS NULL OR u.close_month >= date_trunc('month', close_from)::date)
				   AND (close_to IS NULL OR u.close_month <= close_to)
				 GROUP BY u.stage_id, u.currency, CASE WHEN u.currency <> corp THEN u.close_month END
				HAVING sum(u.opportunity_count) <> 0)) f));
END;
$$;
COMMENT ON FUNCTION crm.pipeline_summary(uuid, uuid, date, date) IS
	'Weighted pipeline per stage (count, amount, expected revenue) of live opportunities in the corporate currency (rate in force on the first day of each close month; P0002 when one is missing), read from crm.pipeline_rollup only. Filters: pipeline (default: the default pipeline), owner, close months overlapping close_from..close_to.';

-- The same per stage and currency, unconverted (needs no exchange rate).
CREATE FUNCTION crm.pipeline_summary_by_currency(pipeline uuid DEFAULT NULL, owner uuid DEFAULT NULL,
												 close_from date DEFAULT NULL, close_to date DEFAULT NULL)
RETURNS TABLE (stage_id uuid, stage text, "position" integer, currency char(3),
			   opportunity_count bigint, amount numeric, weighted_amount numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
	p uuid;
BEGIN
	IF close_from > close_to THEN
		RAISE EXCEPTION 'close_from (%) is after close_to (%)', close_from, close_to
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	p := crm._report_pipeline(org, pipeline);
	RETURN QUERY SELECT * FROM crm._per_stage(org, p, ARRAY(
		SELECT ROW(u.stage_id, u.currency, sum(u.opportunity_count), sum(u.amount), sum(u.expected_revenue))::crm._stage_cell
		  FROM crm.pipeline_rollup u
		 WHERE u.organization_id = org AND u.pipeline_id = p
		   AND (owner IS NULL OR u.owner_id = owner)
		   AND (close_from IS NULL OR u.close_month >= date_trunc('month', close_from)::date)
		   AND (close_to IS NULL OR u.close_month <= close_to)
		 GROUP BY u.stage_id, u.currency
		HAVING sum(u.opportunity_count) <> 0));
END;
$$;
COMMENT ON FUNCTION crm.pipeline_summary_by_currency(uuid, uuid, date, date) IS
	'As crm.pipeline_summary, one row per stage and currency in that currency (no conversion), read from crm.pipeline_rollup only.';

-- The weighted pipeline per stage (in the corporate currency, converted as
-- crm.pipeline_summary) as it stood at an instant, from the stage history
-- alone.
CREATE FUNCTION crm.pipeline_as_of(at timestamptz, pipeline uuid DEFAULT NULL)
RETURNS TABLE (stage_id uuid, stage text, "position" integer, currency char(3),
			   opportunity_count bigint, amount numeric, weighted_amount numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
	p uuid;
	corp char(3);
BEGIN
	IF at IS NULL OR NOT isfinite(at) THEN
		RAISE EXCEPTION 'pipeline_as_of needs a finite instant, not %', coalesce(at::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	p := crm._report_pipeline(org, pipeline);
	SELECT o.default_currency INTO corp FROM crm.organization o WHERE o.id = org;
	RETURN QUERY SELECT * FROM crm._per_stage(org, p, ARRAY(
		SELECT ROW(f.key::uuid, corp, f.n, f.amount, f.weighted)::crm._stage_cell
		  FROM crm._fx(org, ARRAY(
				-- the stints grouped by their plain columns first (cheap to
				-- hash), then by close month where a rate is needed (the
				-- corporate currency needs none)
				SELECT ROW(g.stage_id::text, g.currency,
						   CASE WHEN g.currency <> corp THEN date_trunc('month', g.close_date)::date END,
						   sum(g.n), sum(g.amount), sum(g.weighted))::crm._fx_cell
				  FROM (SELECT h.stage_id, h.currency, h.close_date, count(*) AS n, sum(h.amount) AS amount,
							   sum(h.expected_revenue) AS weighted
						  FROM crm.opportunity_stage_history h
						 WHERE h.organization_id = org AND h.pipeline_id = p
						   AND lower(h.valid) <= at AND h.valid @> at
						 GROUP BY h.stage_id, h.currency, h.close_date) g
				 GROUP BY g.stage_id, g.currency, CASE WHEN g.currency <> corp THEN date_trunc('month', g.close_date)::date END)) f));
END;
$$;
COMMENT ON FUNCTION crm.pipeline_as_of(timestamptz, uuid) IS
	'Weighted pipeline per stage in the corporate currency (converted as crm.pipeline_summary, with the rates crm.exchange_rate holds now) exactly as it stood at the given instant, rebuilt from crm.opportunity_stage_history.';

-- Fold every slot of the current organization's roll-up into slot 0 and
-- drop empty buckets.  Rows a running transaction is writing are skipped
-- (SKIP LOCKED) and folded next time, so folding never waits for writers.
-- It runs as the owner (applications cannot write the roll-up) for the
-- caller's organization only, and only for a caller that may change
-- opportunities: crm._caller_org checks both.
CREATE FUNCTION crm.fold_pipeline_rollup() RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	-- the calling role's organization and limits (inside a SECURITY
	-- DEFINER function crm.current_org() sees the owner, not a SET ROLE
	-- role); a role that cannot change opportunities does not fold
	org uuid := crm._caller_org('crm.opportunity', 'UPDATE');
	n bigint;
BEGIN
	WITH taken AS (
		DELETE FROM crm.pipeline_rollup r
		 WHERE r.organization_id = org
		   AND r.id IN (SELECT x.id FROM crm.pipeline_rollup x
						 WHERE x.organization_id = org AND x.slot <> 0
						   FOR UPDATE SKIP LOCKED)
		RETURNING r.*),
	sums AS (
		SELECT t.pipeline_id, t.stage_id, t.owner_id, t.close_month, t.forecast_category, t.currency,
			   sum(t.opportunity_count) AS n, sum(t.amount) AS amount, sum(t.expected_revenue) AS weighted
		  FROM taken t
		 GROUP BY 1, 2, 3, 4, 5, 6),
	merged AS (
		INSERT INTO crm.pipeline_rollup AS r (organization_id, pipeline_id, stage_id, owner_id, close_month,
											  forecast_category, currency, slot, opportunity_count, amount, expected_revenue)
		SELECT org, s.pipeline_id, s.stage_id, s.owner_id, s.close_month, s.forecast_category, s.currency, 0,
			   s.n, s.amount, s.weighted
		  FROM sums s
		 ORDER BY 2, 3, 4, 5, 6, 7
		ON CONFLICT ON CONSTRAINT pipeline_rollup_key DO UPDATE
			SET opportunity_count = r.opportunity_count + EXCLUDED.opportunity_count,
				amount = r.amount + EXCLUDED.amount,
				expected_revenue = r.expected_revenue + EXCLUDED.expected_revenue
		RETURNING 1)
	SELECT count(*) INTO n FROM merged;
	-- buckets that emptied: nothing of them is left to count
	DELETE FROM crm.pipeline_rollup r
	 WHERE r.organization_id = org AND r.slot = 0 AND r.opportunity_count = 0
	   AND r.amount = 0 AND r.expected_revenue = 0;
	RETURN n;
END;
$$;
COMMENT ON FUNCTION crm.fold_pipeline_rollup() IS
	'Folds the per-backend slot rows of the current organization''s crm.pipeline_rollup into one row per bucket (slot 0) and drops empty buckets; never waits for writers (SKIP LOCKED). Returns the buckets written.';

-- The job: fold every organization's roll-up, each in its own tenant context.
CREATE FUNCTION crm.fold_pipeline_rollups() RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	o record;
	total bigint := 0;
BEGIN
	FOR o IN SELECT DISTINCT r.organization_id FROM crm.pipeline_rollup r WHERE r.slot <> 0 LOOP
		BEGIN
			PERFORM set_config('crm.organization_id', o.organization_id::text, true);
			total := total + crm.fold_pipeline_rollup();
		EXCEPTION WHEN OTHERS THEN
			RAISE WARNING 'folding the pipeline roll-up of organization % failed: %', o.organization_id, SQLERRM;
		END;
	END LOOP;
	RETURN total;
END;
$$;
COMMENT ON FUNCTION crm.fold_pipeline_rollups() IS
	'Job: crm.fold_pipeline_rollup() for every organization, each in its own tenant context (one failure does not stop the others). Returns the buckets written.';
INSERT INTO crm.job (name, schedule, command, description) VALUES
	('fold_pipeline_rollups', '*/10 * * * *', 'SELECT crm.fold_pipeline_rollups()',
	 'Folds the per-backend slot rows of crm.pipeline_rollup (summaries stay exact without it; it keeps them small).');

-- Drift check: the roll-up against a recomputation from the opportunities.
CREATE FUNCTION crm.check_pipeline_rollup()
RETURNS TABLE (entity text, id uuid, expected text, actual text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	RETURN QUERY
	WITH want AS (
		SELECT o.organization_id, o.pipeline_id, o.stage_id, o.owner_id,
			   date_trunc('month', o.close_date)::date AS close_month, o.forecast_category, o.currency,
			   count(*)::numeric AS n, sum(o.amount) AS amount, sum(o.expected_revenue) AS weighted
		  FROM crm.opportunity o
		 WHERE o.deleted_at IS NULL
		 GROUP BY 1, 2, 3, 4, 5, 6, 7),
	have AS (
		SELECT r.organization_id, r.pipeline_id, r.stage_id, r.owner_id, r.close_month, r.forecast_category, r.currency,
			   sum(r.opportunity_count)::numeric AS n, sum(r.amount) AS amount, sum(r.expected_revenue) AS weighted
		  FROM crm.pipeline_rollup r
		 GROUP BY 1, 2, 3, 4, 5, 6, 7)
	SELECT 'pipeline_rollup'::text, coalesce(w.stage_id, h.stage_id),
		   format('%s opportunities, amount %s, weighted %s', coalesce(w.n, 0), coalesce(w.amount, 0), coalesce(w.weighted, 0)),
		   format('%s opportunities, amount %s, weighted %s', coalesce(h.n, 0), coalesce(h.amount, 0), coalesce(h.weighted, 0))
			 || format(' (owner %s, close month %s, %s, %s)', coalesce(coalesce(w.owner_id, h.owner_id)::text, 'none'),
					   coalesce(coalesce(w.close_month, h.close_month)::text, 'none'),
					   coalesce(w.forecast_category, h.forecast_category), coalesce(w.currency, h.currency))
	  FROM want w
	  FULL JOIN have h
		ON h.organization_id = w.organization_id AND h.pipeline_id = w.pipeline_id AND h.stage_id = w.stage_id
	   AND h.owner_id IS NOT DISTINCT FROM w.owner_id AND h.close_month IS NOT DISTINCT FROM w.close_month
	   AND h.forecast_category = w.forecast_category AND h.currency = w.currency
	 WHERE (coalesce(w.n, 0), coalesce(w.amount, 0), coalesce(w.weighted, 0))
		   IS DISTINCT FROM (coalesce(h.n, 0), coalesce(h.amount, 0), coalesce(h.weighted, 0))
	 ORDER BY 2, 4;
END;
$$;
COMMENT ON FUNCTION crm.check_pipeline_rollup() IS
	'crm.verify() check: buckets of crm.pipeline_rollup whose count, amount or expected revenue differ from a recomputation over the live opportunities.';
INSERT INTO crm.verify_check VALUES
	('pipeline_rollup', 'crm.check_pipeline_rollup()', 'The weighted-pipeline roll-up equals the sums over the live opportunities.');

-- Drift check: every live opportunity has exactly one open stint, holding
-- its current values; a deleted one has none.
CREATE FUNCTION crm.check_opportunity_history()
RETURNS TABLE (entity text, id uuid, expected text, actual text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	RETURN QUERY
	SELECT 'opportunity'::text, o.id,
		   CASE WHEN o.deleted_at IS NULL
				THEN format('one open stint: stage %s, amount %s %s, probability %s, %s, close %s, owner %s',
							o.stage_id, o.amount, o.currency, o.probability, o.forecast_category,
							coalesce(o.close_date::text, 'none'), coalesce(o.owner_id::text, 'none'))
				ELSE 'no open stint (deleted)' END,
		   coalesce(string_agg(format('stage %s, amount %s %s, probability %s, %s, close %s, owner %s',
									  h.stage_id, h.amount, h.currency, h.probability, h.forecast_category,
									  coalesce(h.close_date::text, 'none'), coalesce(h.owner_id::text, 'none')), '; '),
					'no open stint')
	  FROM crm.opportunity o
	  LEFT JOIN crm.opportunity_stage_history h
		ON h.organization_id = o.organization_id AND h.opportunity_id = o.id AND upper_inf(h.valid)
	 GROUP BY o.organization_id, o.id
	HAVING CASE WHEN o.deleted_at IS NULL
				THEN count(h.id) <> 1
					 OR NOT bool_and(h.stage_id = o.stage_id AND h.pipeline_id = o.pipeline_id AND h.amount = o.amount
									 AND h.currency = o.currency AND h.probability = o.probability
									 AND h.forecast_category = o.forecast_category
									 AND h.close_date IS NOT DISTINCT FROM o.close_date
									 AND h.owner_id IS NOT DISTINCT FROM o.owner_id)
				ELSE count(h.id) <> 0 END
	 ORDER BY o.organization_id, o.id;
END;
$$;
COMMENT ON FUNCTION crm.check_opportunity_history() IS
	'crm.verify() check: live opportunities without exactly one open stage-history stint holding their current values, and deleted ones with an open stint.';
INSERT INTO crm.verify_check VALUES
	('opportunity_history', 'crm.check_opportunity_history()', 'Every live opportunity has one open history stint with its current values; deleted ones have none.');
-- ============================================================================
-- 36 lead conversion: a qualified lead becomes an account, a contact and
-- (optionally) an opportunity, in one transaction (doc/quotes.md, "Lead
-- conversion").
-- ============================================================================

-- The internet domain of a web site or an email address, lower case, as
-- crm.account.domain holds it ('https://www.Example.com/x' -> example.com);
-- NULL when nothing domain-like is left.
CREATE FUNCTION crm._domain_of(site text, email crm.email) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	d text;
BEGIN
	d := lower(btrim(site));
	d := regexp_replace(d, '^[a-z][a-z0-9+.-]*://', '');	-- scheme
	d := regexp_replace(d, '^[^/@]*@', '');					-- user info
	d := regexp_replace(d, '[/?#:].*$', '');				-- port, path, query
	d := regexp_replace(d, '^www\.', '');
	d := rtrim(d, '.');
	IF d IS NULL OR d !~ '^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$' THEN
		d := lower(crm.email_domain(email));
	END IF;
	IF d IS NULL OR d !~ '^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$' THEN
		RETURN NULL;
	END IF;
	RETURN d;
END;
$$;
COMMENT ON FUNCTION crm._domain_of(text, crm.email) IS
	'Internal (crm.convert_lead): the lower-case internet domain of a web site URL, else of an email address; NULL when neither gives one.';

-- Convert a lead.  Runs as the caller, under row-level security, with an
-- explicit tenant filter in every query; the lead row is locked first, so
-- of two sessions converting the same lead the second waits and then finds
-- it converted.
CREATE FUNCTION crm.convert_lead(lead_id uuid, account_id uuid DEFAULT NULL, contact_id uuid DEFAULT NULL,
								 create_opportunity boolean DEFAULT true, opportunity_name text DEFAULT NULL)
RETURNS TABLE (converted_account_id uuid, converted_contact_id uuid, converted_opportunity_id uuid,
			   account_created boolean, contact_created boolean)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
	l crm.lead%ROWTYPE;
	a crm.account%ROWTYPE;
	c crm.contact%ROWTYPE;
	dom text;
	acc uuid := convert_lead.account_id;
	con uuid := convert_lead.contact_id;
	opp uuid;
	new_account boolean := false;
	new_contact boolean := false;
	pipe uuid;
	oname text;
BEGIN
	IF lead_id IS NULL THEN
		RAISE EXCEPTION 'the lead to convert must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF create_opportunity IS NULL THEN
		RAISE EXCEPTION 'create_opportunity must be true or false, not NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF opportunity_name IS NOT NULL AND btrim(opportunity_name) = '' THEN
		RAISE EXCEPTION 'the opportunity name must not be blank' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF opportunity_name IS NOT NULL AND NOT create_opportunity THEN
		RAISE EXCEPTION 'an opportunity name was given, but no opportunity is to be created'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Leave opportunity_name NULL, or pass create_opportunity => true.';
	END IF;

	-- The lead, locked: a concurrent conversion waits here and then sees
	-- the lead converted.
	SELECT * INTO l FROM crm.lead x WHERE x.organization_id = org AND x.id = lead_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'lead % does not exist in this organization', lead_id USING ERRCODE = 'no_data_found';
	END IF;
	IF l.status = 'converted' THEN
		RAISE EXCEPTION 'lead % is already converted', lead_id
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = format('It was converted at %s into account %s, contact %s%s.', l.converted_at,
								  coalesce(l.converted_account_id::text, 'none'), coalesce(l.converted_contact_id::text, 'none'),
								  coalesce(', opportunity ' || l.converted_opportunity_id, '')),
				  HINT = 'Work with the records it was converted into.';
	END IF;
	IF l.status = 'unqualified' THEN
		RAISE EXCEPTION 'lead % is disqualified and cannot be converted', lead_id
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = coalesce('Reason: ' || l.disqualification_reason || '.', 'No reason was recorded.'),
				  HINT = 'Requalify it first: UPDATE crm.lead SET status = ''qualified'' WHERE id = ''…''.';
	END IF;
	IF l.deleted_at IS NOT NULL THEN
		RAISE EXCEPTION 'lead % is deleted and cannot be converted', lead_id
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Restore it first: UPDATE crm.lead SET deleted_at = NULL WHERE id = ''…''.';
	END IF;

	-- The records named by the caller must be live records of this tenant.
	IF con IS NOT NULL THEN
		SELECT * INTO c FROM crm.contact x WHERE x.organization_id = org AND x.id = con AND x.deleted_at IS NULL FOR UPDATE;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'contact % does not exist in this organization', con USING ERRCODE = 'no_data_found';
		END IF;
		-- a contact of an account converts into that account unless
		-- another is named
		acc := coalesce(acc, c.account_id);
	END IF;
	IF acc IS NOT NULL THEN
		SELECT * INTO a FROM crm.account x WHERE x.organization_id = org AND x.id = acc AND x.deleted_at IS NULL FOR UPDATE;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'account % does not exist in this organization', acc USING ERRCODE = 'no_data_found';
		END IF;
	END IF;

	-- The account: the one named, else a live one with the lead's domain
	-- (web site, else email), else one with the company's name (case
	-- insensitive), else a new one.  The oldest wins a tie.
	dom := crm._domain_of(l.website, l.email);
	IF acc IS NULL AND dom IS NOT NULL THEN
		SELECT * INTO a FROM crm.account x
		 WHERE x.organization_id = org AND x.domain = dom AND x.deleted_at IS NULL
		 ORDER BY x.created_at, x.id LIMIT 1 FOR UPDATE;
		acc := a.id;
	END IF;
	IF acc IS NULL AND l.company IS NOT NULL AND btrim(l.company) <> '' THEN
		SELECT * INTO a FROM crm.account x
		 WHERE x.organization_id = org AND lower(x.name) = lower(btrim(l.company)) AND x.deleted_at IS NULL
		 ORDER BY x.created_at, x.id LIMIT 1 FOR UPDATE;
		acc := a.id;
	END IF;
	IF acc IS NULL THEN
		INSERT INTO crm.account AS x (organization_id, name, website, domain, industry, employee_count, owner_id)
		VALUES (org, coalesce(nullif(btrim(l.company), ''), concat_ws(' ', l.first_name, l.last_name)), l.website,
				-- a domain only from the lead's own web site (an email domain
				-- may be a mail provider's)
				CASE WHEN l.website IS NOT NULL THEN crm._domain_of(l.website, NULL) END,
				l.industry, l.employee_count, l.owner_id)
		RETURNING x.id INTO acc;
		new_account := true;
	ELSE
		-- fill only what the account leaves empty
		UPDATE crm.account x
		   SET website = coalesce(x.website, l.website),
			   domain = coalesce(x.domain, CASE WHEN l.website IS NOT NULL THEN crm._domain_of(l.website, NULL) END),
			   industry = coalesce(x.industry, l.industry),
			   employee_count = coalesce(x.employee_count, l.employee_count),
			   owner_id = coalesce(x.owner_id, l.owner_id)
		 WHERE x.organization_id = org AND x.id = acc
		   AND (x.website IS NULL AND l.website IS NOT NULL
				OR x.domain IS NULL AND crm._domain_of(l.website, NULL) IS NOT NULL
				OR x.industry IS NULL AND l.industry IS NOT NULL
				OR x.employee_count IS NULL AND l.employee_count IS NOT NULL
				OR x.owner_id IS NULL AND l.owner_id IS NOT NULL);
	END IF;

	-- The contact: the one named, else a live one with the lead's email,
	-- else a new one.
	IF con IS NULL AND l.email IS NOT NULL THEN
		SELECT * INTO c FROM crm.contact x
		 WHERE x.organization_id = org AND x.email = l.email AND x.deleted_at IS NULL
		 ORDER BY x.created_at, x.id LIMIT 1 FOR UPDATE;
		con := c.id;
	END IF;
	IF con IS NULL THEN
		INSERT INTO crm.contact AS x (organization_id, account_id, first_name, last_name, email, phone, title,
									  lead_source, description, owner_id)
		VALUES (org, acc, l.first_name, l.last_name, l.email, l.phone, l.title, l.lead_source, l.description, l.owner_id)
		RETURNING x.id INTO con;
		new_contact := true;
	ELSE
		UPDATE crm.contact x
		   SET account_id = coalesce(x.account_id, acc),
			   first_name = coalesce(x.first_name, l.first_name),
			   email = coalesce(x.email, l.email),
			   phone = coalesce(x.phone, l.phone),
			   title = coalesce(x.title, l.title),
			   lead_source = coalesce(x.lead_source, l.lead_source),
			   description = coalesce(x.description, l.description),
			   owner_id = coalesce(x.owner_id, l.owner_id)
		 WHERE x.organization_id = org AND x.id = con
		   AND (x.account_id IS NULL
				OR x.first_name IS NULL AND l.first_name IS NOT NULL
				OR x.email IS NULL AND l.email IS NOT NULL
				OR x.phone IS NULL AND l.phone IS NOT NULL
				OR x.title IS NULL AND l.title IS NOT NULL
				OR x.lead_source IS NULL AND l.lead_source IS NOT NULL
				OR x.description IS NULL AND l.description IS NOT NULL
				OR x.owner_id IS NULL AND l.owner_id IS NOT NULL);
	END IF;

	-- The opportunity, in the default pipeline (its first stage, the
	-- organization's currency: crm.trg_opportunity_stage).
	IF create_opportunity THEN
		SELECT p.id INTO pipe FROM crm.pipeline p WHERE p.organization_id = org AND p.is_default;
		IF pipe IS NULL THEN
			RAISE EXCEPTION 'the organization has no default pipeline for the new opportunity'
				USING ERRCODE = 'no_data_found',
					  HINT = 'Make a pipeline the default (UPDATE crm.pipeline SET is_default = (id = ''…'')), or pass create_opportunity => false.';
		END IF;
		-- (the name computed first: no subquery inside COALESCE, see
		-- ARCHITECTURE section 9)
		SELECT y.name INTO oname FROM crm.account y WHERE y.organization_id = org AND y.id = acc;
		oname := coalesce(btrim(opportunity_name), oname);
		INSERT INTO crm.opportunity AS x (organization_id, name, account_id, contact_id, pipeline_id, lead_source,
										  owner_id, type)
		VALUES (org, oname, acc, con, pipe, l.lead_source, l.owner_id, 'new_business')
		RETURNING x.id INTO opp;
		INSERT INTO crm.opportunity_contact (organization_id, opportunity_id, contact_id, role, is_primary)
		VALUES (org, opp, con, 'other', true);
	END IF;

	-- The lead's activities, notes and attachments move to the new records.
	UPDATE crm.activity x
	   SET lead_id = NULL,
		   contact_id = coalesce(x.contact_id, con),
		   account_id = coalesce(x.account_id, acc),
		   opportunity_id = coalesce(x.opportunity_id, opp)
	 WHERE x.organization_id = org AND x.lead_id = convert_lead.lead_id;
	UPDATE crm.note x
	   SET lead_id = NULL,
		   contact_id = coalesce(x.contact_id, con)
	 WHERE x.organization_id = org AND x.lead_id = convert_lead.lead_id;
	UPDATE crm.attachment x
	   SET lead_id = NULL,
		   contact_id = coalesce(x.contact_id, con)
	 WHERE x.organization_id = org AND x.lead_id = convert_lead.lead_id;

	UPDATE crm.lead x
	   SET status = 'converted', converted_at = pg_catalog.now(),
		   converted_account_id = acc, converted_contact_id = con, converted_opportunity_id = opp
	 WHERE x.organization_id = org AND x.id = convert_lead.lead_id;

	PERFORM crm.emit('lead.converted', 'lead', convert_lead.lead_id,
					 jsonb_build_object('account_id', acc, 'contact_id', con, 'opportunity_id', opp,
										'account_created', new_account, 'contact_created', new_contact),
					 org);
	RETURN QUERY SELECT acc, con, opp, new_account, new_contact;
END;
$$;
COMMENT ON FUNCTION crm.convert_lead(uuid, uuid, uuid, boolean, text) IS
	'Converts a lead in one transaction: finds the account (the one given, else by domain, else by company name) or creates it, finds the contact (the one given, else by email) or creates it, fills only empty fields of existing records, optionally creates an opportunity in the default pipeline (primary contact set), moves the lead''s activities, notes and attachments, marks the lead converted and emits lead.converted. Refuses converted, disqualified and deleted leads.';
-- ============================================================================
-- 37 products, price books and quotes: the catalog, opportunity line items
-- (whose total is the opportunity's amount), quotes with gap-free numbers,
-- their line items and totals, and the frozen versions of sent quotes
-- (doc/quotes.md).
--
-- Quote arithmetic is exact numeric arithmetic with one rounding rule:
-- every money amount of a line is rounded to cents, half up (PostgreSQL's
-- round(numeric, 2) rounds halves away from zero, and no amount here is
-- negative), and every total is the plain sum of its lines' rounded
-- amounts.  So a quote's total is always subtotal - discount + tax to the
-- cent, and always the sum of the line totals printed on it.
-- ============================================================================

-- The current organization's default currency (a column default).
CREATE FUNCTION crm._default_currency() RETURNS char(3)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
	cur char(3);
BEGIN
	SELECT o.default_currency INTO cur FROM crm.organization o WHERE o.id = org;
	RETURN cur;
END;
$$;
COMMENT ON FUNCTION crm._default_currency() IS
	'Internal: the current organization''s default currency (default of the currency columns of products, price books and quotes).';

-- ---------------------------------------------------------------------------
-- The catalog
-- ---------------------------------------------------------------------------
CREATE TABLE crm.product (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	name		text NOT NULL,
	sku			text,
	family		text,
	description	text,
	unit_price	numeric(18,2) NOT NULL DEFAULT 0,
	cost		numeric(18,2),
	currency	char(3) NOT NULL DEFAULT crm._default_currency(),
	tax_rate	numeric(6,3) NOT NULL DEFAULT 0,
	is_active	boolean NOT NULL DEFAULT true,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	deleted_at	timestamptz,
	CONSTRAINT product_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT product_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT product_name_not_blank CHECK (pg_catalog.btrim(name) <> ''),
	CONSTRAINT product_sku_not_blank CHECK (pg_catalog.btrim(sku) <> ''),
	CONSTRAINT product_unit_price_nonnegative CHECK (unit_price >= 0),
	CONSTRAINT product_cost_nonnegative CHECK (cost >= 0),
	CONSTRAINT product_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
	CONSTRAINT product_tax_rate_range CHECK (tax_rate BETWEEN 0 AND 100)
);
-- (partial: the primary key alone serves foreign-key checks)
CREATE UNIQUE INDEX product_sku_key ON crm.product (organization_id, sku) WHERE sku IS NOT NULL AND deleted_at IS NULL;
CREATE INDEX product_family_idx ON crm.product (organization_id, family, name) WHERE deleted_at IS NULL;
COMMENT ON TABLE crm.product IS 'A product or service the tenant sells: the catalog line items and quotes are priced from.';
COMMENT ON COLUMN crm.product.name IS 'Product name.';
COMMENT ON COLUMN crm.product.sku IS 'Stock keeping unit, unique per organization among products not deleted.';
COMMENT ON COLUMN crm.product.family IS 'Product family (grouping for reports).';
COMMENT ON COLUMN crm.product.description IS 'Free description.';
COMMENT ON COLUMN crm.product.unit_price IS 'List price in currency, used when a line''s price book has no entry for the product (and the currencies agree).';
COMMENT ON COLUMN crm.product.cost IS 'Unit cost in currency (for margins).';
COMMENT ON COLUMN crm.product.currency IS 'ISO 4217 code of unit_price and cost; the organization''s default currency when not given.';
COMMENT ON COLUMN crm.product.tax_rate IS 'Tax rate in percent (0-100) a quote line of the product takes unless it gives its own.';
COMMENT ON COLUMN crm.product.is_active IS 'False for a product no longer sold: new line items refuse it.';
SELECT crm._setup_tenant_table('crm.product');

CREATE TABLE crm.price_book (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	name		text NOT NULL,
	kind		text NOT NULL DEFAULT 'custom',
	currency	char(3) NOT NULL DEFAULT crm._default_currency(),
	valid_from	date,
	valid_to	date,
	is_active	boolean NOT NULL DEFAULT true,
	description	text,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT price_book_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT price_book_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT price_book_name_key UNIQUE (name, organization_id),
	CONSTRAINT price_book_name_not_blank CHECK (pg_catalog.btrim(name) <> ''),
	CONSTRAINT price_book_kind_valid CHECK (kind IN ('standard', 'custom')),
	CONSTRAINT price_book_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
	CONSTRAINT price_book_validity_ordered CHECK (valid_from <= valid_to)
);
-- one active standard book per currency: where a line without a book of
-- its own takes its price
CREATE UNIQUE INDEX price_book_one_standard ON crm.price_book (organization_id, currency) WHERE kind = 'standard' AND is_active;
COMMENT ON TABLE crm.price_book IS 'A list of prices in one currency: the standard book of a currency (at most one active), or a custom one (a segment, a partner, a campaign), optionally valid only for a window of dates.';
COMMENT ON COLUMN crm.price_book.name IS 'Price book name, unique per organization.';
COMMENT ON COLUMN crm.price_book.kind IS 'standard (at most one active per currency; used when a line or quote names no book) or custom.';
COMMENT ON COLUMN crm.price_book.currency IS 'ISO 4217 code of its prices.';
COMMENT ON COLUMN crm.price_book.valid_from IS 'First day a quote may be dated and priced from the book (NULL: no limit).';
COMMENT ON COLUMN crm.price_book.valid_to IS 'Last day a quote may be dated and priced from the book (NULL: no limit).';
COMMENT ON COLUMN crm.price_book.is_active IS 'False for a retired book: new lines are not priced from it.';
COMMENT ON COLUMN crm.price_book.description IS 'Free description.';
SELECT crm._setup_tenant_table('crm.price_book', label => 'price book');

CREATE TABLE crm.price_book_entry (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	price_book_id uuid NOT NULL,
	product_id	uuid NOT NULL,
	unit_price	numeric(18,2) NOT NULL,
	is_active	boolean NOT NULL DEFAULT true,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT price_book_entry_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT price_book_entry_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT price_book_entry_price_book_fkey FOREIGN KEY (organization_id, price_book_id)
		REFERENCES crm.price_book (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT price_book_entry_product_fkey FOREIGN KEY (organization_id, product_id)
		REFERENCES crm.product (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT price_book_entry_key UNIQUE (organization_id, price_book_id, product_id),
	CONSTRAINT price_book_entry_unit_price_nonnegative CHECK (unit_price >= 0)
);
CREATE INDEX price_book_entry_product_idx ON crm.price_book_entry (organization_id, product_id);
COMMENT ON TABLE crm.price_book_entry IS 'The price of a product in a price book (one per book and product).';
COMMENT ON COLUMN crm.price_book_entry.price_book_id IS 'The crm.price_book.';
COMMENT ON COLUMN crm.price_book_entry.product_id IS 'The crm.product.';
COMMENT ON COLUMN crm.price_book_entry.unit_price IS 'List price of one unit, in the book''s currency.';
COMMENT ON COLUMN crm.price_book_entry.is_active IS 'False for an entry no longer offered: new lines are not priced from it.';
SELECT crm._setup_tenant_table('crm.price_book_entry', label => 'price book entry');

-- The list price of a product for a line: from the given price book (else
-- the active standard book of the currency), else the product's own unit
-- price when its currency is the line's; a clear error otherwise.  Also the
-- product's tax rate.  One query per call (it runs once per priced line).
-- Runs as the caller, under row-level security, with explicit tenant
-- filters.
CREATE FUNCTION crm._list_price(org uuid, book uuid, product uuid, currency char(3), on_date date,
								OUT price numeric, OUT tax_rate numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	r record;
BEGIN
	SELECT p.name, p.deleted_at, p.is_active, p.currency AS product_currency, p.unit_price, p.tax_rate,
		   b.id AS book_id, b.name AS book_name, b.is_active AS book_active, b.currency AS book_currency,
		   b.valid_from, b.valid_to, e.unit_price AS entry_price
	  INTO r
	  FROM crm.product p
	  LEFT JOIN crm.price_book b
		ON b.organization_id = org
	   AND CASE WHEN book IS NOT NULL THEN b.id = book
				ELSE b.kind = 'standard' AND b.is_active AND b.currency = _list_price.currency END
	  LEFT JOIN crm.price_book_entry e
		ON e.organization_id = org AND e.price_book_id = b.id AND e.product_id = p.id AND e.is_active
	 WHERE p.organization_id = org AND p.id = product;
	IF NOT FOUND OR r.deleted_at IS NOT NULL THEN
		RAISE EXCEPTION 'product % does not exist in this organization', product USING ERRCODE = 'foreign_key_violation';
	END IF;
	IF NOT r.is_active THEN
		RAISE EXCEPTION 'product "%" is not active', r.name
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Activate it (UPDATE crm.product SET is_active = true) or choose another product.';
	END IF;
	tax_rate := r.tax_rate;
	IF book IS NOT NULL AND r.book_id IS NULL THEN
		RAISE EXCEPTION 'price book % does not exist in this organization', book USING ERRCODE = 'foreign_key_violation';
	END IF;
	IF r.book_id IS NOT NULL THEN
		IF NOT r.book_active THEN
			RAISE EXCEPTION 'price book "%" is not active', r.book_name USING ERRCODE = 'object_not_in_prerequisite_state';
		END IF;
		IF r.book_currency <> _list_price.currency THEN
			RAISE EXCEPTION 'price book "%" is in %, the line is in %', r.book_name, r.book_currency, _list_price.currency
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Price the line from a book in its own currency.';
		END IF;
		IF on_date < r.valid_from OR on_date > r.valid_to THEN
			RAISE EXCEPTION 'price book "%" is not valid on %', r.book_name, on_date
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  DETAIL = format('It is valid from %s to %s.', coalesce(r.valid_from::text, 'any date'), coalesce(r.valid_to::text, 'any date'));
		END IF;
		IF r.entry_price IS NOT NULL THEN
			price := r.entry_price;
			RETURN;
		END IF;
		IF book IS NOT NULL THEN
			RAISE EXCEPTION 'price book "%" has no active price for product "%"', r.book_name, r.name
				USING ERRCODE = 'no_data_found',
					  HINT = 'Add an entry to crm.price_book_entry, or give the line a list_price.';
		END IF;
	END IF;
	IF r.product_currency = _list_price.currency THEN
		price := r.unit_price;
		RETURN;
	END IF;
	RAISE EXCEPTION 'no % price for product "%"', _list_price.currency, r.name
		USING ERRCODE = 'no_data_found',
			  DETAIL = format('The product is priced in %s and no active standard price book in %s has it.', r.product_currency, _list_price.currency),
			  HINT = 'Add it to a price book in that currency, or give the line a list_price.';
END;
$$;
COMMENT ON FUNCTION crm._list_price(uuid, uuid, uuid, char, date) IS
	'Internal (line-item triggers): a product''s list price from the given price book, else the active standard book of the currency, else the product''s own price in that currency (errors say which is missing), and its tax rate; one query.';

-- ---------------------------------------------------------------------------
-- Opportunity line items: when an opportunity has any, its amount is their
-- total (crm.trg_opportunity_amount); otherwise it is entered by hand.
-- ---------------------------------------------------------------------------
CREATE TABLE crm.opportunity_line_item (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	opportunity_id uuid NOT NULL,
	product_id	uuid,
	price_book_id uuid,
	position	integer NOT NULL DEFAULT 0,
	description	text,
	quantity	numeric(14,4) NOT NULL DEFAULT 1,
	list_price	numeric(18,2) NOT NULL,
	unit_price	numeric(18,2),
	discount_percent numeric(5,2) NOT NULL DEFAULT 0,
	subtotal	numeric(18,2) GENERATED ALWAYS AS (pg_catalog.round(quantity * coalesce(unit_price, list_price), 2)) STORED,
	discount_amount numeric(18,2) GENERATED ALWAYS AS (
		pg_catalog.round(pg_catalog.round(quantity * coalesce(unit_price, list_price), 2) * discount_percent / 100, 2)) STORED,
	total_price	numeric(18,2) GENERATED ALWAYS AS (
		pg_catalog.round(quantity * coalesce(unit_price, list_price), 2)
		- pg_catalog.round(pg_catalog.round(quantity * coalesce(unit_price, list_price), 2) * discount_percent / 100, 2)) STORED,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT opportunity_line_item_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT opportunity_line_item_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT opportunity_line_item_opportunity_fkey FOREIGN KEY (organization_id, opportunity_id)
		REFERENCES crm.opportunity (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT opportunity_line_item_product_fkey FOREIGN KEY (organization_id, product_id)
		REFERENCES crm.product (organization_id, id),
	CONSTRAINT opportunity_line_item_price_book_fkey FOREIGN KEY (organization_id, price_book_id)
		REFERENCES crm.price_book (organization_id, id),
	CONSTRAINT opportunity_line_item_priced CHECK (product_id IS NOT NULL OR pg_catalog.btrim(description) <> ''),
	CONSTRAINT opportunity_line_item_quantity_nonnegative CHECK (quantity >= 0),
	CONSTRAINT opportunity_line_item_list_price_nonnegative CHECK (list_price >= 0),
	CONSTRAINT opportunity_line_item_unit_price_nonnegative CHECK (unit_price >= 0),
	CONSTRAINT opportunity_line_item_discount_range CHECK (discount_percent BETWEEN 0 AND 100)
);
CREATE INDEX opportunity_line_item_opportunity_idx ON crm.opportunity_line_item (organization_id, opportunity_id, position);
CREATE INDEX opportunity_line_item_product_idx ON crm.opportunity_line_item (organization_id, product_id) WHERE product_id IS NOT NULL;
COMMENT ON TABLE crm.opportunity_line_item IS 'A product on a deal: while a deal has line items its amount is the sum of their total_price (kept by crm.trg_opportunity_amount).';
COMMENT ON COLUMN crm.opportunity_line_item.opportunity_id IS 'The crm.opportunity.';
COMMENT ON COLUMN crm.opportunity_line_item.product_id IS 'The crm.product (NULL: a free line described by description, priced by list_price).';
COMMENT ON COLUMN crm.opportunity_line_item.price_book_id IS 'The crm.price_book list_price comes from (NULL: the active standard book of the deal''s currency, else the product''s own price).';
COMMENT ON COLUMN crm.opportunity_line_item.position IS 'Order of the line on the deal.';
COMMENT ON COLUMN crm.opportunity_line_item.description IS 'Line text (required without a product).';
COMMENT ON COLUMN crm.opportunity_line_item.quantity IS 'Units (0 or more; up to 4 decimals).';
COMMENT ON COLUMN crm.opportunity_line_item.list_price IS 'List price of one unit, in the deal''s currency: from the price book when not given.';
COMMENT ON COLUMN crm.opportunity_line_item.unit_price IS 'Price of one unit set by hand; NULL: the list price.';
COMMENT ON COLUMN crm.opportunity_line_item.discount_percent IS 'Discount in percent (0-100) of the subtotal.';
COMMENT ON COLUMN crm.opportunity_line_item.subtotal IS 'quantity x (unit_price, else list_price), rounded to cents half up (generated).';
COMMENT ON COLUMN crm.opportunity_line_item.discount_amount IS 'subtotal x discount_percent / 100, rounded to cents half up (generated).';
COMMENT ON COLUMN crm.opportunity_line_item.total_price IS 'subtotal - discount_amount (generated); the deal''s amount is the sum over its lines.';
SELECT crm._setup_tenant_table('crm.opportunity_line_item', label => 'opportunity line item');

-- BEFORE INSERT OR UPDATE row trigger on crm.opportunity_line_item: the
-- list price from the price book when not given (or when the product or
-- book changed and the price did not).  Runs as the caller.
CREATE FUNCTION crm.trg_opportunity_line_price() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	o record;
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_opportunity_line_price()', TG_NAME, TG_RELID, TG_ARGV, '{opportunity_line_item}');
	IF TG_LEVEL <> 'ROW' OR TG_WHEN <> 'BEFORE' THEN
		RAISE EXCEPTION 'crm.trg_opportunity_line_price() must be fired as a BEFORE row trigger'
			USING ERRCODE = 'trigger_protocol_violated';
	END IF;
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN NEW;
	END IF;
	IF TG_OP = 'UPDATE' THEN
		IF NEW.opportunity_id <> OLD.opportunity_id THEN
			RAISE EXCEPTION 'a line item cannot move to another opportunity'
				USING ERRCODE = 'invalid_parameter_value', HINT = 'Delete it and add a new line to the other opportunity.';
		END IF;
		IF NEW.list_price IS NOT DISTINCT FROM OLD.list_price
		   AND (NEW.product_id IS DISTINCT FROM OLD.product_id OR NEW.price_book_id IS DISTINCT FROM OLD.price_book_id) THEN
			NEW.list_price := NULL;		-- priced again below
		END IF;
	END IF;
	IF NEW.list_price IS NULL THEN
		IF NEW.product_id IS NULL THEN
			RAISE EXCEPTION 'a line item without a product needs a list_price' USING ERRCODE = 'not_null_violation';
		END IF;
		SELECT x.currency INTO o FROM crm.opportunity x
		 WHERE x.organization_id = NEW.organization_id AND x.id = NEW.opportunity_id;
		IF NOT FOUND THEN
			RETURN NEW;		-- the foreign key reports it
		END IF;
		NEW.list_price := (crm._list_price(NEW.organization_id, NEW.price_book_id, NEW.product_id, o.currency, CURRENT_DATE)).price;
	END IF;
	RETURN NEW;
END;
$$;
COMMENT ON FUNCTION crm.trg_opportunity_line_price() IS
	'BEFORE INSERT OR UPDATE row trigger on crm.opportunity_line_item: fills list_price from the price book (crm._list_price) when not given; a line cannot move to another opportunity.';
CREATE TRIGGER crm_30_price BEFORE INSERT OR UPDATE ON crm.opportunity_line_item
	FOR EACH ROW EXECUTE FUNCTION crm.trg_opportunity_line_price('opportunity_line_item');

-- AFTER statement triggers on crm.opportunity_line_item (one per event,
-- each with its transition tables): the amount of every opportunity the
-- statement touched becomes the sum of its lines' total_price, in one
-- UPDATE.  The opportunities are locked first, in key order (no deadlock of
-- two statements touching the same deals), and the sums are taken by the
-- next statement, whose snapshot (READ COMMITTED) sees every line committed
-- before the lock was granted -- and no writer of these deals can commit
-- while it is held.  So the amount is exact at commit under concurrent
-- writers; under REPEATABLE READ the second writer fails to serialize
-- instead.  A deal whose last line went keeps its amount, entered by hand
-- again from then on.
CREATE FUNCTION crm.trg_opportunity_amount() RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'quote_opportunity_amount';	-- src/quotes.c
COMMENT ON FUNCTION crm.trg_opportunity_amount() IS
	'AFTER INSERT/UPDATE/DELETE statement trigger on crm.opportunity_line_item: sets the amount of each opportunity the statement touched to the sum of its lines'' total_price (one UPDATE per statement; deals locked in key order first).';
CREATE TRIGGER crm_50_amount_insert AFTER INSERT ON crm.opportunity_line_item
	REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_opportunity_amount('opportunity_line_item');
CREATE TRIGGER crm_50_amount_update AFTER UPDATE ON crm.opportunity_line_item
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_opportunity_amount('opportunity_line_item');
CREATE TRIGGER crm_50_amount_delete AFTER DELETE ON crm.opportunity_line_item
	REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_opportunity_amount('opportunity_line_item');

-- BEFORE UPDATE OF amount, currency row trigger on crm.opportunity: while a
-- deal has line items, its amount is theirs and its currency is theirs.
-- Only crm.trg_opportunity_amount (a nested trigger) changes the amount then.
CREATE FUNCTION crm.trg_opportunity_line_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_opportunity_line_guard()', TG_NAME, TG_RELID, TG_ARGV, '{opportunity}');
	IF TG_LEVEL <> 'ROW' OR TG_WHEN <> 'BEFORE' OR TG_OP <> 'UPDATE' THEN
		RAISE EXCEPTION 'crm.trg_opportunity_line_guard() must be fired as a BEFORE UPDATE row trigger'
			USING ERRCODE = 'trigger_protocol_violated';
	END IF;
	IF current_setting('crm.restoring', true) = 'on'
	   OR (NEW.amount = OLD.amount AND NEW.currency = OLD.currency) THEN
		RETURN NEW;
	END IF;
	IF (NEW.currency <> OLD.currency OR pg_trigger_depth() = 1)
	   AND EXISTS (SELECT 1 FROM crm.opportunity_line_item l
				   WHERE l.organization_id = OLD.organization_id AND l.opportunity_id = OLD.id) THEN
		RAISE EXCEPTION 'the % of opportunity "%" comes from its line items',
			CASE WHEN NEW.currency <> OLD.currency THEN 'currency' ELSE 'amount' END, OLD.name
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'While an opportunity has line items, its amount is the sum of their total_price, in its currency.',
				  HINT = 'Change the line items (crm.opportunity_line_item), or delete them to enter the amount by hand.';
	END IF;
	RETURN NEW;
END;
$$;
COMMENT ON FUNCTION crm.trg_opportunity_line_guard() IS
	'BEFORE UPDATE OF amount, currency row trigger on crm.opportunity: refuses a direct change of the amount or currency of a deal that has line items.';
CREATE TRIGGER crm_35_line_guard BEFORE UPDATE OF amount, currency ON crm.opportunity
	FOR EACH ROW EXECUTE FUNCTION crm.trg_opportunity_line_guard('opportunity');

-- ---------------------------------------------------------------------------
-- Quotes
-- ---------------------------------------------------------------------------

-- The last quote number given out per tenant.  Written only by
-- crm.trg_quote in the transaction that creates the quote, so a rolled-back
-- quote gives its number back and concurrent creators wait for each other
-- on this row: numbers are unique and gap-free.
CREATE TABLE crm.quote_counter (
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	last_number	bigint NOT NULL,
	CONSTRAINT quote_counter_pkey PRIMARY KEY (organization_id),
	CONSTRAINT quote_counter_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT quote_counter_positive CHECK (last_number > 0)
);
COMMENT ON TABLE crm.quote_counter IS 'The last quote number given out per organization (read-only to applications; written by crm.trg_quote in the creating transaction, so numbers are gap-free).';
COMMENT ON COLUMN crm.quote_counter.last_number IS 'The number of the organization''s latest quote (Q-000123 is 123).';
SELECT crm._setup_tenant_table('crm.quote_counter', audited => false, label => 'quote counter');

CREATE TABLE crm.quote (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	number		text NOT NULL,
	name		text NOT NULL,
	opportunity_id uuid,
	account_id	uuid,
	contact_id	uuid,
	price_book_id uuid,
	status		text NOT NULL DEFAULT 'draft',
	currency	char(3) NOT NULL,
	quote_date	date NOT NULL DEFAULT CURRENT_DATE,
	valid_until	date,
	terms		text,
	description	text,
	sync_on_accept boolean NOT NULL DEFAULT true,
	line_count	integer NOT NULL DEFAULT 0,
	subtotal	numeric(18,2) NOT NULL DEFAULT 0,
	discount_total numeric(18,2) NOT NULL DEFAULT 0,
	tax_total	numeric(18,2) NOT NULL DEFAULT 0,
	total		numeric(18,2) NOT NULL DEFAULT 0,
	version		integer NOT NULL DEFAULT 0,
	sent_at		timestamptz,
	accepted_at	timestamptz,
	owner_id	uuid,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	deleted_at	timestamptz,
	CONSTRAINT quote_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT quote_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	-- (not led by organization_id: foreign-key checks keep the primary key)
	CONSTRAINT quote_number_key UNIQUE (number, organization_id),
	CONSTRAINT quote_opportunity_fkey FOREIGN KEY (organization_id, opportunity_id) REFERENCES crm.opportunity (organization_id, id),
	CONSTRAINT quote_account_fkey FOREIGN KEY (organization_id, account_id) REFERENCES crm.account (organization_id, id),
	CONSTRAINT quote_contact_fkey FOREIGN KEY (organization_id, contact_id) REFERENCES crm.contact (organization_id, id),
	CONSTRAINT quote_price_book_fkey FOREIGN KEY (organization_id, price_book_id) REFERENCES crm.price_book (organization_id, id),
	CONSTRAINT quote_owner_fkey FOREIGN KEY (organization_id, owner_id) REFERENCES crm.app_user (organization_id, id),
	CONSTRAINT quote_number_format CHECK (number ~ '^Q-[0-9]{6,}$'),
	CONSTRAINT quote_name_not_blank CHECK (pg_catalog.btrim(name) <> ''),
	CONSTRAINT quote_status_valid CHECK (status IN ('draft', 'sent', 'accepted', 'rejected', 'expired')),
	CONSTRAINT quote_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
	CONSTRAINT quote_valid_until_after_date CHECK (valid_until >= quote_date),
	CONSTRAINT quote_totals_consistent CHECK (total = subtotal - discount_total + tax_total AND line_count >= 0),
	CONSTRAINT quote_sent_consistent CHECK ((version > 0) = (sent_at IS NOT NULL)),
	CONSTRAINT quote_accepted_consistent CHECK ((status = 'accepted') = (accepted_at IS NOT NULL))
);
CREATE INDEX quote_opportunity_idx ON crm.quote (organization_id, opportunity_id) WHERE opportunity_id IS NOT NULL;
CREATE INDEX quote_account_idx ON crm.quote (organization_id, account_id) WHERE account_id IS NOT NULL;
CREATE INDEX quote_status_idx ON crm.quote (organization_id, status, valid_until) WHERE deleted_at IS NULL;
-- at most one accepted quote per deal: the one its line items came from
CREATE UNIQUE INDEX quote_one_accepted ON crm.quote (organization_id, opportunity_id)
	WHERE status = 'accepted' AND deleted_at IS NULL;
COMMENT ON TABLE crm.quote IS 'A priced offer to a customer, numbered gap-free per organization (Q-000001, ...); its totals are kept from its line items; sending freezes a version (crm.quote_version); accepting can copy its lines to the opportunity.';
COMMENT ON COLUMN crm.quote.number IS 'Q- and at least six digits, given out in order per organization without gaps (assigned; not writable).';
COMMENT ON COLUMN crm.quote.name IS 'Quote title.';
COMMENT ON COLUMN crm.quote.opportunity_id IS 'The crm.opportunity quoted for (account, contact and currency default from it).';
COMMENT ON COLUMN crm.quote.account_id IS 'The crm.account quoted to.';
COMMENT ON COLUMN crm.quote.contact_id IS 'The crm.contact the quote is addressed to.';
COMMENT ON COLUMN crm.quote.price_book_id IS 'The crm.price_book lines are priced from (NULL: the active standard book of the currency, else each product''s own price).';
COMMENT ON COLUMN crm.quote.status IS 'draft, sent, accepted, rejected or expired: draft -> sent -> accepted | rejected | expired, and sent -> draft to revise.';
COMMENT ON COLUMN crm.quote.currency IS 'ISO 4217 code of every amount; from the opportunity, else the organization''s default. Fixed once the quote has lines.';
COMMENT ON COLUMN crm.quote.quote_date IS 'Date of the quote: price books must be valid on it.';
COMMENT ON COLUMN crm.quote.valid_until IS 'Last day the offer stands; crm.expire_quotes() expires sent quotes after it.';
COMMENT ON COLUMN crm.quote.terms IS 'Terms and conditions printed on the quote.';
COMMENT ON COLUMN crm.quote.description IS 'Free description.';
COMMENT ON COLUMN crm.quote.sync_on_accept IS 'Accepting the quote replaces the opportunity''s line items with the quote''s (and so its amount).';
COMMENT ON COLUMN crm.quote.line_count IS 'Number of line items (maintained).';
COMMENT ON COLUMN crm.quote.subtotal IS 'Sum of the lines'' subtotals (maintained).';
COMMENT ON COLUMN crm.quote.discount_total IS 'Sum of the lines'' discount amounts (maintained).';
COMMENT ON COLUMN crm.quote.tax_total IS 'Sum of the lines'' tax amounts (maintained).';
COMMENT ON COLUMN crm.quote.total IS 'Sum of the lines'' totals = subtotal - discount_total + tax_total (maintained).';
COMMENT ON COLUMN crm.quote.version IS 'How many times the quote was sent: the number of its latest crm.quote_version (maintained).';
COMMENT ON COLUMN crm.quote.sent_at IS 'When the quote was last sent (maintained).';
COMMENT ON COLUMN crm.quote.accepted_at IS 'When the quote was accepted (maintained; set exactly when accepted).';
SELECT crm._setup_tenant_table('crm.quote');

CREATE TABLE crm.quote_line_item (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	quote_id	uuid NOT NULL,
	product_id	uuid,
	position	integer NOT NULL DEFAULT 0,
	description	text,
	quantity	numeric(14,4) NOT NULL DEFAULT 1,
	list_price	numeric(18,2) NOT NULL,
	unit_price	numeric(18,2),
	discount_percent numeric(5,2) NOT NULL DEFAULT 0,
	tax_rate	numeric(6,3) NOT NULL,
	subtotal	numeric(18,2) GENERATED ALWAYS AS (pg_catalog.round(quantity * coalesce(unit_price, list_price), 2)) STORED,
	discount_amount numeric(18,2) GENERATED ALWAYS AS (
		pg_catalog.round(pg_catalog.round(quantity * coalesce(unit_price, list_price), 2) * discount_percent / 100, 2)) STORED,
	tax_amount	numeric(18,2) GENERATED ALWAYS AS (
		pg_catalog.round((pg_catalog.round(quantity * coalesce(unit_price, list_price), 2)
						  - pg_catalog.round(pg_catalog.round(quantity * coalesce(unit_price, list_price), 2) * discount_percent / 100, 2))
						 * tax_rate / 100, 2)) STORED,
	line_total	numeric(18,2) GENERATED ALWAYS AS (
		pg_catalog.round(quantity * coalesce(unit_price, list_price), 2)
		- pg_catalog.round(pg_catalog.round(quantity * coalesce(unit_price, list_price), 2) * discount_percent / 100, 2)
		+ pg_catalog.round((pg_catalog.round(quantity * coalesce(unit_price, list_price), 2)
							- pg_catalog.round(pg_catalog.round(quantity * coalesce(unit_price, list_price), 2) * discount_percent / 100, 2))
						   * tax_rate / 100, 2)) STORED,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT quote_line_item_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT quote_line_item_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT quote_line_item_quote_fkey FOREIGN KEY (organization_id, quote_id)
		REFERENCES crm.quote (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT quote_line_item_product_fkey FOREIGN KEY (organization_id, product_id)
		REFERENCES crm.product (organization_id, id),
	CONSTRAINT quote_line_item_priced CHECK (product_id IS NOT NULL OR pg_catalog.btrim(description) <> ''),
	CONSTRAINT quote_line_item_quantity_nonnegative CHECK (quantity >= 0),
	CONSTRAINT quote_line_item_list_price_nonnegative CHECK (list_price >= 0),
	CONSTRAINT quote_line_item_unit_price_nonnegative CHECK (unit_price >= 0),
	CONSTRAINT quote_line_item_discount_range CHECK (discount_percent BETWEEN 0 AND 100),
	CONSTRAINT quote_line_item_tax_rate_range CHECK (tax_rate BETWEEN 0 AND 100)
);
CREATE INDEX quote_line_item_quote_idx ON crm.quote_line_item (organization_id, quote_id, position);
CREATE INDEX quote_line_item_product_idx ON crm.quote_line_item (organization_id, product_id) WHERE product_id IS NOT NULL;
COMMENT ON TABLE crm.quote_line_item IS 'A line of a quote: quantity x price, less a discount, plus tax, every amount rounded to cents half up; the quote''s totals are the sums of its lines.';
COMMENT ON COLUMN crm.quote_line_item.quote_id IS 'The crm.quote.';
COMMENT ON COLUMN crm.quote_line_item.product_id IS 'The crm.product (NULL: a free line described by description, priced by list_price).';
COMMENT ON COLUMN crm.quote_line_item.position IS 'Order of the line on the quote.';
COMMENT ON COLUMN crm.quote_line_item.description IS 'Line text (required without a product).';
COMMENT ON COLUMN crm.quote_line_item.quantity IS 'Units (0 or more; up to 4 decimals).';
COMMENT ON COLUMN crm.quote_line_item.list_price IS 'List price of one unit, in the quote''s currency: from the quote''s price book when not given.';
COMMENT ON COLUMN crm.quote_line_item.unit_price IS 'Price of one unit set by hand (overrides the list price); NULL: the list price.';
COMMENT ON COLUMN crm.quote_line_item.discount_percent IS 'Discount in percent (0-100) of the subtotal.';
COMMENT ON COLUMN crm.quote_line_item.tax_rate IS 'Tax rate in percent (0-100) of the discounted amount; the product''s when not given (0 without a product).';
COMMENT ON COLUMN crm.quote_line_item.subtotal IS 'quantity x (unit_price, else list_price), rounded to cents half up (generated).';
COMMENT ON COLUMN crm.quote_line_item.discount_amount IS 'subtotal x discount_percent / 100, rounded to cents half up (generated).';
COMMENT ON COLUMN crm.quote_line_item.tax_amount IS '(subtotal - discount_amount) x tax_rate / 100, rounded to cents half up (generated).';
COMMENT ON COLUMN crm.quote_line_item.line_total IS 'subtotal - discount_amount + tax_amount (generated).';
SELECT crm._setup_tenant_table('crm.quote_line_item', label => 'quote line item');

-- What a sent quote said: one row per sending, never changed afterwards.
CREATE TABLE crm.quote_version (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	quote_id	uuid NOT NULL,
	version		integer NOT NULL,
	number		text NOT NULL,
	name		text NOT NULL,
	currency	char(3) NOT NULL,
	quote_date	date NOT NULL,
	valid_until	date,
	terms		text,
	subtotal	numeric(18,2) NOT NULL,
	discount_total numeric(18,2) NOT NULL,
	tax_total	numeric(18,2) NOT NULL,
	total		numeric(18,2) NOT NULL,
	lines		jsonb NOT NULL,
	sent_at		timestamptz NOT NULL,
	sent_by		uuid,
	CONSTRAINT quote_version_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT quote_version_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT quote_version_quote_fkey FOREIGN KEY (organization_id, quote_id)
		REFERENCES crm.quote (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT quote_version_key UNIQUE (quote_id, version, organization_id),
	CONSTRAINT quote_version_lines_array CHECK (jsonb_typeof(lines) = 'array')
);
COMMENT ON TABLE crm.quote_version IS 'A quote as it was sent: header, totals and lines (jsonb), one row per sending; read-only, never changed by later edits of the quote.';
COMMENT ON COLUMN crm.quote_version.quote_id IS 'The crm.quote.';
COMMENT ON COLUMN crm.quote_version.version IS '1 for the first sending, 2 for the next, ...';
COMMENT ON COLUMN crm.quote_version.number IS 'The quote number.';
COMMENT ON COLUMN crm.quote_version.name IS 'The quote title when sent.';
COMMENT ON COLUMN crm.quote_version.currency IS 'Currency of the amounts.';
COMMENT ON COLUMN crm.quote_version.quote_date IS 'Quote date when sent.';
COMMENT ON COLUMN crm.quote_version.valid_until IS 'Validity when sent.';
COMMENT ON COLUMN crm.quote_version.terms IS 'Terms when sent.';
COMMENT ON COLUMN crm.quote_version.subtotal IS 'Subtotal when sent.';
COMMENT ON COLUMN crm.quote_version.discount_total IS 'Discount total when sent.';
COMMENT ON COLUMN crm.quote_version.tax_total IS 'Tax total when sent.';
COMMENT ON COLUMN crm.quote_version.total IS 'Total when sent.';
COMMENT ON COLUMN crm.quote_version.lines IS 'The lines when sent, in order: a JSON array of objects (id, position, product_id, description, quantity, list_price, unit_price, discount_percent, tax_rate, subtotal, discount_amount, tax_amount, line_total).';
COMMENT ON COLUMN crm.quote_version.sent_at IS 'When it was sent.';
COMMENT ON COLUMN crm.quote_version.sent_by IS 'The crm.app_user who sent it (NULL: a system write).';
SELECT crm._setup_tenant_table('crm.quote_version', label => 'quote version');

-- BEFORE INSERT OR UPDATE OR DELETE row trigger on crm.quote.  SECURITY
-- DEFINER: it writes crm.quote_counter, which applications cannot (so no one
-- can skip or reuse a number); every query filters by the quote's
-- organization, which must be the caller's.
CREATE FUNCTION crm.trg_quote() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	n bigint;
	o record;
	allowed text[];
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_quote()', TG_NAME, TG_RELID, TG_ARGV, '{quote}');
	IF TG_LEVEL <> 'ROW' OR TG_WHEN <> 'BEFORE' THEN
		RAISE EXCEPTION 'crm.trg_quote() must be fired as a BEFORE row trigger'
			USING ERRCODE = 'trigger_protocol_violated';
	END IF;
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
	END IF;

	IF TG_OP = 'DELETE' THEN
		-- a number once given out stays taken
		IF current_setting('crm.allow_drop_with_data', true) IS DISTINCT FROM 'on' THEN
			RAISE EXCEPTION 'quote % cannot be deleted: quote numbers are gap-free', OLD.number
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  HINT = 'Soft delete it: UPDATE crm.quote SET deleted_at = now() WHERE id = ''…''.';
		END IF;
		RETURN OLD;
	END IF;

	IF TG_OP = 'INSERT' THEN
		IF NEW.organization_id IS DISTINCT FROM crm._caller_org() THEN
			RAISE EXCEPTION 'a quote can only be created for the current organization'
				USING ERRCODE = 'insufficient_privilege';
		END IF;
		IF NEW.number IS NOT NULL THEN
			RAISE EXCEPTION 'quote numbers are assigned, not given'
				USING ERRCODE = 'generated_always',
					  HINT = 'Leave number out: the next number of the organization is assigned.';
		END IF;
		IF NEW.status <> 'draft' THEN
			RAISE EXCEPTION 'a new quote is a draft, not %', NEW.status
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Insert it as a draft, add its lines, then UPDATE its status to sent.';
		END IF;
		IF NEW.opportunity_id IS NOT NULL THEN
			SELECT x.account_id, x.contact_id, x.currency INTO o FROM crm.opportunity x
			 WHERE x.organization_id = NEW.organization_id AND x.id = NEW.opportunity_id;
			IF FOUND THEN
				NEW.account_id := coalesce(NEW.account_id, o.account_id);
				NEW.contact_id := coalesce(NEW.contact_id, o.contact_id);
				NEW.currency := coalesce(NEW.currency, o.currency);
			END IF;
		END IF;
		IF NEW.currency IS NULL THEN
			SELECT g.default_currency INTO NEW.currency FROM crm.organization g WHERE g.id = NEW.organization_id;
		END IF;
		NEW.line_count := 0;
		NEW.subtotal := 0;
		NEW.discount_total := 0;
		NEW.tax_total := 0;
		NEW.total := 0;
		NEW.version := 0;
		NEW.sent_at := NULL;
		NEW.accepted_at := NULL;
		-- the next number: this row stays locked until the transaction ends
		INSERT INTO crm.quote_counter AS k (organization_id, last_number) VALUES (NEW.organization_id, 1)
		ON CONFLICT ON CONSTRAINT quote_counter_pkey DO UPDATE SET last_number = k.last_number + 1
		RETURNING k.last_number INTO n;
		NEW.number := 'Q-' || lpad(n::text, greatest(6, length(n::text)), '0');
		RETURN NEW;
	END IF;

	-- UPDATE
	IF NEW.number <> OLD.number THEN
		RAISE EXCEPTION 'the number of quote % cannot change', OLD.number USING ERRCODE = 'generated_always';
	END IF;
	IF pg_trigger_depth() = 1
	   AND (NEW.line_count, NEW.subtotal, NEW.discount_total, NEW.tax_total, NEW.total, NEW.version)
		   IS DISTINCT FROM (OLD.line_count, OLD.subtotal, OLD.discount_total, OLD.tax_total, OLD.total, OLD.version) THEN
		RAISE EXCEPTION 'the totals of quote % are kept from its line items', OLD.number
			USING ERRCODE = 'generated_always',
				  HINT = 'Change the line items (crm.quote_line_item) instead.';
	END IF;
	IF OLD.line_count > 0 AND (NEW.currency <> OLD.currency OR NEW.price_book_id IS DISTINCT FROM OLD.price_book_id) THEN
		RAISE EXCEPTION 'the % of quote % cannot change while it has line items',
			CASE WHEN NEW.currency <> OLD.currency THEN 'currency' ELSE 'price book' END, OLD.number
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'Its lines were priced in it.';
	END IF;
	IF NEW.status <> OLD.status THEN
		allowed := CASE OLD.status
					WHEN 'draft' THEN ARRAY['sent']
					WHEN 'sent' THEN ARRAY['draft', 'accepted', 'rejected', 'expired']
					ELSE ARRAY[]::text[] END;
		IF NEW.status <> ALL (allowed) THEN
			RAISE EXCEPTION 'quote % cannot go from % to %', OLD.number, OLD.status, NEW.status
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  DETAIL = CASE WHEN cardinality(allowed) = 0 THEN format('A quote that is %s is final.', OLD.status)
								   ELSE format('From %s a quote can go to: %s.', OLD.status, array_to_string(allowed, ', ')) END,
					  HINT = 'A quote goes draft -> sent -> accepted, rejected or expired; sent -> draft revises it.';
		END IF;
		IF NEW.status = 'sent' THEN
			IF OLD.line_count = 0 THEN
				RAISE EXCEPTION 'quote % has no line items to send', OLD.number USING ERRCODE = 'object_not_in_prerequisite_state';
			END IF;
			NEW.version := OLD.version + 1;
			NEW.sent_at := pg_catalog.now();
		ELSIF NEW.status = 'accepted' THEN
			NEW.accepted_at := pg_catalog.now();
		END IF;
	ELSE
		NEW.version := OLD.version;
		NEW.sent_at := OLD.sent_at;
		NEW.accepted_at := OLD.accepted_at;
	END IF;
	RETURN NEW;
END;
$$;
COMMENT ON FUNCTION crm.trg_quote() IS
	'BEFORE INSERT OR UPDATE OR DELETE row trigger on crm.quote: assigns the next gap-free number (crm.quote_counter), defaults account, contact and currency from the opportunity, keeps the totals read-only, checks status transitions (sending needs lines and counts a version), refuses hard deletes.';
CREATE TRIGGER crm_30_quote BEFORE INSERT OR UPDATE OR DELETE ON crm.quote
	FOR EACH ROW EXECUTE FUNCTION crm.trg_quote('quote');

-- AFTER UPDATE OF status row trigger on crm.quote: sending freezes a
-- version (SECURITY DEFINER: crm.quote_version is read-only to applications;
-- the query filters by the quote's organization).
CREATE FUNCTION crm.trg_quote_freeze() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_quote_freeze()', TG_NAME, TG_RELID, TG_ARGV, '{quote}');
	IF TG_LEVEL <> 'ROW' OR TG_WHEN <> 'AFTER' OR TG_OP <> 'UPDATE' THEN
		RAISE EXCEPTION 'crm.trg_quote_freeze() must be fired as an AFTER UPDATE row trigger'
			USING ERRCODE = 'trigger_protocol_violated';
	END IF;
	IF current_setting('crm.restoring', true) = 'on' OR NEW.version = OLD.version THEN
		RETURN NULL;
	END IF;
	INSERT INTO crm.quote_version (organization_id, quote_id, version, number, name, currency, quote_date, valid_until,
								   terms, subtotal, discount_total, tax_total, total, lines, sent_at, sent_by)
	SELECT NEW.organization_id, NEW.id, NEW.version, NEW.number, NEW.name, NEW.currency, NEW.quote_date, NEW.valid_until,
		   NEW.terms, NEW.subtotal, NEW.discount_total, NEW.tax_total, NEW.total,
		   coalesce(jsonb_agg(jsonb_build_object(
				'id', l.id, 'position', l.position, 'product_id', l.product_id, 'description', l.description,
				'quantity', l.quantity, 'list_price', l.list_price, 'unit_price', l.unit_price,
				'discount_percent', l.discount_percent, 'tax_rate', l.tax_rate, 'subtotal', l.subtotal,
				'discount_amount', l.discount_amount, 'tax_amount', l.tax_amount, 'line_total', l.line_total)
				ORDER BY l.position, l.id), '[]'::jsonb),
		   NEW.sent_at, crm.acting_user()
	  FROM crm.quote_line_item l
	 WHERE l.organization_id = NEW.organization_id AND l.quote_id = NEW.id;
	RETURN NULL;
END;
$$;
COMMENT ON FUNCTION crm.trg_quote_freeze() IS
	'AFTER UPDATE OF status row trigger on crm.quote: on sending, stores the quote with its lines as the next crm.quote_version.';
CREATE TRIGGER crm_40_freeze AFTER UPDATE OF status ON crm.quote
	FOR EACH ROW EXECUTE FUNCTION crm.trg_quote_freeze('quote');

-- AFTER UPDATE OF status row trigger on crm.quote: accepting a quote with
-- sync_on_accept replaces the opportunity's line items with copies of the
-- quote's (whose totals then make the opportunity's amount).  Runs as the
-- caller: it writes what the caller could write.
CREATE FUNCTION crm.trg_quote_accept() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	cur char(3);
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_quote_accept()', TG_NAME, TG_RELID, TG_ARGV, '{quote}');
	IF TG_LEVEL <> 'ROW' OR TG_WHEN <> 'AFTER' OR TG_OP <> 'UPDATE' THEN
		RAISE EXCEPTION 'crm.trg_quote_accept() must be fired as an AFTER UPDATE row trigger'
			USING ERRCODE = 'trigger_protocol_violated';
	END IF;
	IF current_setting('crm.restoring', true) = 'on' OR NEW.status <> 'accepted' OR OLD.status = 'accepted'
	   OR NOT NEW.sync_on_accept OR NEW.opportunity_id IS NULL THEN
		RETURN NULL;
	END IF;
	SELECT x.currency INTO cur FROM crm.opportunity x
	 WHERE x.organization_id = NEW.organization_id AND x.id = NEW.opportunity_id FOR UPDATE;
	IF cur IS DISTINCT FROM NEW.currency THEN
		RAISE EXCEPTION 'quote % is in %, its opportunity in %', NEW.number, NEW.currency, cur
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Accept it with sync_on_accept = false, or quote in the opportunity''s currency.';
	END IF;
	DELETE FROM crm.opportunity_line_item l
	 WHERE l.organization_id = NEW.organization_id AND l.opportunity_id = NEW.opportunity_id;
	INSERT INTO crm.opportunity_line_item (organization_id, opportunity_id, product_id, price_book_id, position,
										   description, quantity, list_price, unit_price, discount_percent)
	SELECT l.organization_id, NEW.opportunity_id, l.product_id, NEW.price_book_id, l.position,
		   l.description, l.quantity, l.list_price, l.unit_price, l.discount_percent
	  FROM crm.quote_line_item l
	 WHERE l.organization_id = NEW.organization_id AND l.quote_id = NEW.id
	 ORDER BY l.position, l.id;
	RETURN NULL;
END;
$$;
COMMENT ON FUNCTION crm.trg_quote_accept() IS
	'AFTER UPDATE OF status row trigger on crm.quote: accepting a quote with sync_on_accept replaces its opportunity''s line items with the quote''s (so the amount follows).';
CREATE TRIGGER crm_45_accept AFTER UPDATE OF status ON crm.quote
	FOR EACH ROW EXECUTE FUNCTION crm.trg_quote_accept('quote');

-- BEFORE UPDATE row trigger on crm.quote_version: a sent version is final.
CREATE FUNCTION crm.trg_quote_version_frozen() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_quote_version_frozen()', TG_NAME, TG_RELID, TG_ARGV, '{quote_version}');
	IF TG_LEVEL <> 'ROW' OR TG_WHEN <> 'BEFORE' THEN
		RAISE EXCEPTION 'crm.trg_quote_version_frozen() must be fired as a BEFORE row trigger'
			USING ERRCODE = 'trigger_protocol_violated';
	END IF;
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN NEW;
	END IF;
	RAISE EXCEPTION 'version % of quote % was sent and cannot change', OLD.version, OLD.number
		USING ERRCODE = 'object_not_in_prerequisite_state',
			  HINT = 'Revise the quote (UPDATE crm.quote SET status = ''draft''), edit it and send it again: that makes the next version.';
END;
$$;
COMMENT ON FUNCTION crm.trg_quote_version_frozen() IS
	'BEFORE UPDATE row trigger on crm.quote_version: refuses every change of a sent version.';
CREATE TRIGGER crm_30_frozen BEFORE UPDATE ON crm.quote_version
	FOR EACH ROW EXECUTE FUNCTION crm.trg_quote_version_frozen('quote_version');

-- BEFORE INSERT OR UPDATE row trigger on crm.quote_line_item: list price
-- from the quote's price book and tax rate from the product when not given;
-- the lines of a final quote (accepted, rejected, expired) are fixed.
CREATE FUNCTION crm.trg_quote_line_price() RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'quote_line_price';	-- src/quotes.c
COMMENT ON FUNCTION crm.trg_quote_line_price() IS
	'BEFORE INSERT OR UPDATE row trigger on crm.quote_line_item: fills list_price from the quote''s price book (crm._list_price) and tax_rate from the product when not given; a line cannot move to another quote.';
CREATE TRIGGER crm_30_price BEFORE INSERT OR UPDATE ON crm.quote_line_item
	FOR EACH ROW EXECUTE FUNCTION crm.trg_quote_line_price('quote_line_item');

-- AFTER statement triggers on crm.quote_line_item (one per event): the
-- totals of every quote the statement touched become the sums over its
-- lines, in one UPDATE, after locking those quotes in key order (the same
-- reasoning as crm.trg_opportunity_amount: exact at commit).  Only the
-- lines of a draft change: what was sent is what is accepted.
CREATE FUNCTION crm.trg_quote_totals() RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'quote_totals';	-- src/quotes.c
COMMENT ON FUNCTION crm.trg_quote_totals() IS
	'AFTER INSERT/UPDATE/DELETE statement trigger on crm.quote_line_item: sets line_count, subtotal, discount_total, tax_total and total of each quote the statement touched to the sums over its lines (one UPDATE per statement; quotes locked in key order first); refuses changes to the lines of a quote that is not a draft.';
CREATE TRIGGER crm_50_totals_insert AFTER INSERT ON crm.quote_line_item
	REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_quote_totals('quote_line_item');
CREATE TRIGGER crm_50_totals_update AFTER UPDATE ON crm.quote_line_item
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_quote_totals('quote_line_item');
CREATE TRIGGER crm_50_totals_delete AFTER DELETE ON crm.quote_line_item
	REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_quote_totals('quote_line_item');

-- ---------------------------------------------------------------------------
-- Expiry (a job) and drift checks
-- ---------------------------------------------------------------------------

-- Expire the current organization's sent quotes whose validity ended before
-- the given day.  Returns how many.
CREATE FUNCTION crm.expire_quotes(on_date date DEFAULT CURRENT_DATE) RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
	n bigint;
BEGIN
	IF on_date IS NULL OR NOT isfinite(on_date) THEN
		RAISE EXCEPTION 'expire_quotes needs a finite day, not %', coalesce(on_date::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	UPDATE crm.quote x SET status = 'expired'
	 WHERE x.organization_id = org AND x.status = 'sent' AND x.valid_until < on_date AND x.deleted_at IS NULL;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END;
$$;
COMMENT ON FUNCTION crm.expire_quotes(date) IS
	'Marks the current organization''s sent quotes whose valid_until is before on_date (default today) expired; returns how many.';

-- The job: crm.expire_quotes() for every organization in its own context.
CREATE FUNCTION crm.expire_all_quotes() RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	o record;
	total bigint := 0;
BEGIN
	FOR o IN SELECT DISTINCT x.organization_id FROM crm.quote x WHERE x.status = 'sent' ORDER BY 1 LOOP
		BEGIN
			PERFORM set_config('crm.organization_id', o.organization_id::text, true);
			total := total + crm.expire_quotes();
		EXCEPTION WHEN OTHERS THEN
			RAISE WARNING 'expiring the quotes of organization % failed: %', o.organization_id, SQLERRM;
		END;
	END LOOP;
	RETURN total;
END;
$$;
COMMENT ON FUNCTION crm.expire_all_quotes() IS
	'Job: crm.expire_quotes() for every organization with sent quotes, each in its own tenant context (one failure does not stop the others). Returns how many quotes expired.';
INSERT INTO crm.job (name, schedule, command, description) VALUES
	('expire_quotes', '15 0 * * *', 'SELECT crm.expire_all_quotes()',
	 'Marks sent quotes whose valid_until has passed expired.');

-- Drift check: quote totals and deal amounts against their lines.
CREATE FUNCTION crm.check_quote_totals()
RETURNS TABLE (entity text, id uuid, expected text, actual text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	RETURN QUERY
	WITH s AS (
		SELECT q.organization_id, q.id, count(l.id)::integer AS n, coalesce(sum(l.subtotal), 0) AS subtotal,
			   coalesce(sum(l.discount_amount), 0) AS discount, coalesce(sum(l.tax_amount), 0) AS tax,
			   coalesce(sum(l.line_total), 0) AS total
		  FROM crm.quote q
		  LEFT JOIN crm.quote_line_item l ON l.organization_id = q.organization_id AND l.quote_id = q.id
		 GROUP BY q.organization_id, q.id)
	SELECT 'quote'::text, q.id,
		   format('%s lines, subtotal %s, discount %s, tax %s, total %s', s.n, s.subtotal, s.discount, s.tax, s.total),
		   format('%s lines, subtotal %s, discount %s, tax %s, total %s', q.line_count, q.subtotal, q.discount_total, q.tax_total, q.total)
	  FROM crm.quote q JOIN s ON s.organization_id = q.organization_id AND s.id = q.id
	 WHERE (q.line_count, q.subtotal, q.discount_total, q.tax_total, q.total) IS DISTINCT FROM (s.n, s.subtotal, s.discount, s.tax, s.total)
	UNION ALL
	SELECT 'opportunity'::text, o.id, format('amount %s (its line items)', sum(l.total_price)), format('amount %s', o.amount)
	  FROM crm.opportunity o
	  JOIN crm.opportunity_line_item l ON l.organization_id = o.organization_id AND l.opportunity_id = o.id
	 GROUP BY o.organization_id, o.id, o.amount
	HAVING o.amount <> sum(l.total_price)
	 ORDER BY 1, 2;
END;
$$;
COMMENT ON FUNCTION crm.check_quote_totals() IS
	'crm.verify() check: quotes whose line count or totals differ from the sums over their lines, and opportunities with line items whose amount differs from their total.';
INSERT INTO crm.verify_check VALUES
	('quote_totals', 'crm.check_quote_totals()', 'Quote totals and the amounts of opportunities with line items equal the sums over their lines.');

-- Drift check: each organization's quote numbers are Q-000001 up to its
-- counter, each once.
CREATE FUNCTION crm.check_quote_numbers()
RETURNS TABLE (entity text, id uuid, expected text, actual text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	RETURN QUERY
	WITH q AS (
		SELECT x.organization_id, count(*) AS n, max(substr(x.number, 3)::bigint) AS top,
			   count(DISTINCT substr(x.number, 3)::bigint) AS distinct_n
		  FROM crm.quote x GROUP BY x.organization_id)
	SELECT 'quote_counter'::text, coalesce(q.organization_id, k.organization_id),
		   format('numbers 1 to %s, each once', coalesce(k.last_number, 0)),
		   format('%s quotes, %s distinct numbers, highest %s', coalesce(q.n, 0), coalesce(q.distinct_n, 0), coalesce(q.top, 0))
	  FROM q FULL JOIN crm.quote_counter k ON k.organization_id = q.organization_id
	 WHERE NOT (coalesce(q.n, 0) = coalesce(k.last_number, 0) AND coalesce(q.top, 0) = coalesce(k.last_number, 0)
				AND coalesce(q.distinct_n, 0) = coalesce(q.n, 0))
	 ORDER BY 2;
END;
$$;
COMMENT ON FUNCTION crm.check_quote_numbers() IS
	'crm.verify() check: organizations whose quote numbers are not exactly 1 to their counter''s last number, each once (gap-free).';
INSERT INTO crm.verify_check VALUES
	('quote_numbers', 'crm.check_quote_numbers()', 'Each organization''s quote numbers run from 1 to its counter without gaps or repeats.');
-- ============================================================================
-- 38 sales reports: exchange rates to the corporate currency, quotas, the
-- forecast, win rates, stage velocity, daily pipeline snapshots and the
-- reporting views (doc/sales.md, "Currencies" and "Reports")
--
-- The corporate currency of an organization is crm.organization.
-- default_currency.  Reports convert at read time: an amount whose close
-- date falls in month M is converted with the rate in force on the first
-- day of M (the crm.exchange_rate row of its currency with the latest
-- valid_from <= that day); an amount without a close date with the rate in
-- force today.  The roll-up keeps close months, not days, so this is the
-- finest rule it can honour exactly; every report (from the roll-up or
-- from the opportunities) uses it, so they agree to the cent.  A needed
-- rate that does not exist is an error naming the currency and the day.
-- ============================================================================

CREATE TABLE crm.exchange_rate (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	currency	char(3) NOT NULL,
	valid_from	date NOT NULL,
	rate		numeric NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT exchange_rate_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT exchange_rate_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT exchange_rate_key UNIQUE (organization_id, currency, valid_from),
	CONSTRAINT exchange_rate_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
	CONSTRAINT exchange_rate_positive CHECK (rate > 0),
	CONSTRAINT exchange_rate_finite CHECK (rate <> 'NaN'::numeric)
);
COMMENT ON TABLE crm.exchange_rate IS 'Exchange rates of a currency to the organization''s corporate currency (crm.organization.default_currency), each valid from a day until the next one of the same currency; reports convert with them at read time.';
COMMENT ON COLUMN crm.exchange_rate.currency IS 'ISO 4217 code of the currency converted.';
COMMENT ON COLUMN crm.exchange_rate.valid_from IS 'First day the rate applies (until the next valid_from of the same currency). Amounts closing in a month use the rate in force on the month''s first day.';
COMMENT ON COLUMN crm.exchange_rate.rate IS 'Units of corporate currency per unit of currency (exact numeric, > 0).';
SELECT crm._setup_tenant_table('crm.exchange_rate', label => 'exchange rate');

-- One amount to convert: a grouping key, its currency, the day whose rate
-- applies (NULL: today), and the count and sums in that currency.
CREATE TYPE crm._fx_cell AS (key text, currency char(3), day date, n bigint, amount numeric, weighted numeric);
COMMENT ON TYPE crm._fx_cell IS 'Internal: a count, amount and weighted amount in one currency, with the day whose exchange rate applies (crm._fx).';

-- The cells converted to the corporate currency and summed per key (sums
-- exact, rounded to cents once, at the end).  A missing rate is an error.
CREATE FUNCTION crm._fx(org uuid, cells crm._fx_cell[])
RETURNS TABLE (key text, n bigint, amount numeric, weighted numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	corp char(3);
	cur char(3)[];
	days date[];
	rates numeric[];
BEGIN
	SELECT o.default_currency INTO corp FROM crm.organization o WHERE o.id = org;
	-- one look-up per currency and day (not per cell), in a fixed order so
	-- that the first missing rate reported is always the same
	SELECT array_agg(d.currency ORDER BY d.day, d.currency), array_agg(d.day ORDER BY d.day, d.currency),
		   array_agg((SELECT r.rate FROM crm.exchange_rate r
					   WHERE r.organization_id = org AND r.currency = d.currency AND r.valid_from <= d.day
					   ORDER BY r.valid_from DESC LIMIT 1) ORDER BY d.day, d.currency)
	  INTO cur, days, rates
	  FROM (SELECT DISTINCT c.currency, coalesce(c.day, current_date) AS day
			  FROM unnest(cells) c WHERE c.currency <> corp) d;
	FOR i IN 1 .. coalesce(cardinality(rates), 0) LOOP
		IF rates[i] IS NULL THEN
			RAISE EXCEPTION 'no exchange rate from % to the corporate currency % on %', cur[i], corp, to_char(days[i], 'YYYY-MM-DD')
				USING ERRCODE = 'no_data_found',
					  DETAIL = 'Amounts closing in a month are converted with the rate in force on its first day (amounts without close date: today).',
					  HINT = format('INSERT INTO crm.exchange_rate (currency, valid_from, rate) VALUES (%L, %L, …);', cur[i], to_char(days[i], 'YYYY-MM-DD'));
		END IF;
	END LOOP;
	RETURN QUERY
	SELECT c.key, sum(c.n)::bigint, round(sum(c.amount * coalesce(x.rate, 1)), 2), round(sum(c.weighted * coalesce(x.rate, 1)), 2)
	  FROM unnest(cells) c
	  LEFT JOIN unnest(cur, days, rates) x(currency, day, rate)
		ON c.currency <> corp AND x.currency = c.currency AND x.day = coalesce(c.day, current_date)
	 GROUP BY c.key;
END;
$$;
COMMENT ON FUNCTION crm._fx(uuid, crm._fx_cell[]) IS
	'Internal: converts cells to the organization''s corporate currency (rate in force on each cell''s day, today when NULL; 1 for the corporate currency) and sums them per key, rounded to cents once; errors (P0002) on a missing rate.';

-- The rate of a currency to the corporate currency on a day.
CREATE FUNCTION crm.exchange_rate_on(currency char(3), day date DEFAULT NULL)
RETURNS numeric
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
	corp char(3);
	r numeric;
BEGIN
	IF currency IS NULL OR currency !~ '^[A-Z]{3}$' THEN
		RAISE EXCEPTION 'currency must be an ISO 4217 code (three capital letters), not %', coalesce(currency::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT o.default_currency INTO corp FROM crm.organization o WHERE o.id = org;
	IF currency = corp THEN
		RETURN 1;
	END IF;
	SELECT x.rate INTO r FROM crm.exchange_rate x
	 WHERE x.organization_id = org AND x.currency = exchange_rate_on.currency
	   AND x.valid_from <= coalesce(day, current_date)
	 ORDER BY x.valid_from DESC LIMIT 1;
	IF r IS NULL THEN
		RAISE EXCEPTION 'no exchange rate from % to the corporate currency % on %', currency, corp, to_char(coalesce(day, current_date), 'YYYY-MM-DD')
			USING ERRCODE = 'no_data_found',
				  HINT = 'Add one to crm.exchange_rate (valid_from on or before that day).';
	END IF;
	RETURN r;
END;
$$;
COMMENT ON FUNCTION crm.exchange_rate_on(char, date) IS
	'The rate of a currency to the organization''s corporate currency in force on a day (default today): 1 for the corporate currency; errors (P0002) when there is none.';

-- ---------------------------------------------------------------------------
-- Quotas
-- ---------------------------------------------------------------------------
CREATE TABLE crm.sales_quota (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	user_id		uuid,
	team_id		uuid,
	period_start date NOT NULL,
	period_end	date NOT NULL,
	amount		numeric(18,2) NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT sales_quota_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT sales_quota_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT sales_quota_user_fkey FOREIGN KEY (organization_id, user_id) REFERENCES crm.app_user (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT sales_quota_team_fkey FOREIGN KEY (organization_id, team_id) REFERENCES crm.team (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT sales_quota_user_or_team CHECK ((user_id IS NULL) <> (team_id IS NULL)),
	CONSTRAINT sales_quota_period_order CHECK (period_start <= period_end),
	CONSTRAINT sales_quota_amount_nonnegative CHECK (amount >= 0),
	-- one quota per user (or team) and day: a forecast period sums the
	-- quotas inside it, so overlapping ones would count twice
	CONSTRAINT sales_quota_no_overlap EXCLUDE USING gist (
		crm.uuid_point(organization_id) WITH OPERATOR(pg_catalog.=),
		crm.uuid_point(coalesce(user_id, team_id)) WITH OPERATOR(pg_catalog.=),
		daterange(period_start, period_end, '[]') WITH OPERATOR(pg_catalog.&&))
);
CREATE INDEX sales_quota_user_idx ON crm.sales_quota (organization_id, user_id, period_start) WHERE user_id IS NOT NULL;
CREATE INDEX sales_quota_team_idx ON crm.sales_quota (organization_id, team_id, period_start) WHERE team_id IS NOT NULL;
COMMENT ON TABLE crm.sales_quota IS 'A sales target of a user or a team for a period, in the corporate currency; periods of one user or team never overlap. crm.forecast sums the quotas lying wholly inside its period.';
COMMENT ON COLUMN crm.sales_quota.user_id IS 'The crm.app_user the quota is for (or team_id).';
COMMENT ON COLUMN crm.sales_quota.team_id IS 'The crm.team the quota is for (or user_id).';
COMMENT ON COLUMN crm.sales_quota.period_start IS 'First day of the quota period.';
COMMENT ON COLUMN crm.sales_quota.period_end IS 'Last day of the quota period (inclusive).';
COMMENT ON COLUMN crm.sales_quota.amount IS 'Target of closed-won amount in the corporate currency.';
SELECT crm._setup_tenant_table('crm.sales_quota', label => 'sales quota');

-- ---------------------------------------------------------------------------
-- The forecast: from the roll-up, for whole months
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm.forecast(period_start date, period_end date, owner uuid DEFAULT NULL, team uuid DEFAULT NULL)
RETURNS TABLE (currency char(3), closed_won numeric, "commit" numeric,
			   best_case numeric, pipeline numeric, weighted numeric, quota numeric, attainment numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
	ps date := forecast.period_start;
	pe date := forecast.period_end;
	owners uuid[];
	corp char(3);
	q numeric;
	cats record;
BEGIN
	IF ps IS NULL OR pe IS NULL OR ps > pe THEN
		RAISE EXCEPTION 'a forecast needs a period: period_start (%) on or before period_end (%)',
			coalesce(ps::text, 'NULL'), coalesce(pe::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF ps <> date_trunc('month', ps)::date OR pe <> (date_trunc('month', pe) + interval '1 month - 1 day')::date THEN
		RAISE EXCEPTION 'a forecast period is whole months: % to % is not', to_char(ps, 'YYYY-MM-DD'), to_char(pe, 'YYYY-MM-DD')
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'The forecast reads the roll-up, which counts opportunities per close month.',
				  HINT = format('Use %s to %s.', to_char(date_trunc('month', ps), 'YYYY-MM-DD'), to_char(date_trunc('month', pe) + interval '1 month - 1 day', 'YYYY-MM-DD'));
	END IF;
	IF owner IS NOT NULL AND team IS NOT NULL THEN
		RAISE EXCEPTION 'a forecast is for an owner or a team, not both'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF owner IS NOT NULL THEN
		IF NOT EXISTS (SELECT 1 FROM crm.app_user u WHERE u.organization_id = org AND u.id = owner) THEN
			RAISE EXCEPTION 'user % does not exist in this organization', owner USING ERRCODE = 'no_data_found';
		END IF;
		owners := ARRAY[owner];
		SELECT sum(x.amount) INTO q FROM crm.sales_quota x
		 WHERE x.organization_id = org AND x.user_id = owner AND x.period_start >= ps AND x.period_end <= pe;
	ELSIF team IS NOT NULL THEN
		IF NOT EXISTS (SELECT 1 FROM crm.team t WHERE t.organization_id = org AND t.id = team) THEN
			RAISE EXCEPTION 'team % does not exist in this organization', team USING ERRCODE = 'no_data_found';
		END IF;
		owners := ARRAY(SELECT m.user_id FROM crm.team_member m WHERE m.organization_id = org AND m.team_id = team);
		SELECT sum(x.amount) INTO q FROM crm.sales_quota x
		 WHERE x.organization_id = org AND x.team_id = team AND x.period_start >= ps AND x.period_end <= pe;
	ELSE
		SELECT sum(x.amount) INTO q FROM crm.sales_quota x
		 WHERE x.organization_id = org AND x.user_id IS NOT NULL AND x.period_start >= ps AND x.period_end <= pe;
	END IF;
	SELECT o.default_currency INTO corp FROM crm.organization o WHERE o.id = org;
	SELECT coalesce(sum(f.amount) FILTER (WHERE f.key = 'closed'), 0) AS closed_won,
		   coalesce(sum(f.amount) FILTER (WHERE f.key = 'commit'), 0) AS "commit",
		   coalesce(sum(f.amount) FILTER (WHERE f.key = 'best_case'), 0) AS best_case,
		   coalesce(sum(f.amount) FILTER (WHERE f.key = 'pipeline'), 0) AS pipeline,
		   coalesce(sum(f.weighted) FILTER (WHERE f.key IN ('commit', 'best_case', 'pipeline')), 0) AS weighted
	  INTO cats
	  FROM crm._fx(org, ARRAY(
		SELECT ROW(u.forecast_category, u.currency, CASE WHEN u.currency <> corp THEN u.close_month END,
				   sum(u.opportunity_count), sum(u.amount), sum(u.expected_revenue))::crm._fx_cell
		  FROM crm.pipeline_rollup u
		 WHERE u.organization_id = org AND u.close_month BETWEEN ps AND pe
		   AND u.forecast_category <> 'omitted'
		   AND (owners IS NULL OR u.owner_id = ANY (owners))
		 GROUP BY u.forecast_category, u.currency, CASE WHEN u.currency <> corp THEN u.close_month END
		HAVING sum(u.opportunity_count) <> 0)) f;
	RETURN QUERY SELECT corp, cats.closed_won, cats.commit, cats.best_case, cats.pipeline, cats.weighted,
						q, CASE WHEN q > 0 THEN round(cats.closed_won * 100 / q, 2) END;
END;
$$;
COMMENT ON FUNCTION crm.forecast(date, date, uuid, uuid) IS
	'Forecast of whole months (period_start a first, period_end a last day of a month) in the corporate currency, from crm.pipeline_rollup: closed won; open amounts by forecast category (commit, best_case, pipeline; not cumulative); weighted = expected revenue of the open ones; quota = sum of the quotas wholly inside the period (the owner''s, the team''s, or all users''); attainment = closed won / quota in percent. Optional owner or team (its current members'' deals).';

-- ---------------------------------------------------------------------------
-- Win rate over closed deals
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm.win_rate("from" date, "to" date, group_by text DEFAULT 'owner')
RETURNS TABLE (group_key text, won bigint, lost bigint, win_rate numeric, won_amount numeric, lost_amount numeric, currency char(3))
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
	corp char(3);
BEGIN
	IF "from" IS NULL OR "to" IS NULL OR "from" > "to" THEN
		RAISE EXCEPTION 'win_rate needs a period: from (%) on or before to (%)', coalesce("from"::text, 'NULL'), coalesce("to"::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF group_by IS NULL OR group_by NOT IN ('owner', 'source', 'type') THEN
		RAISE EXCEPTION 'win_rate cannot group by %', coalesce(quote_literal(group_by), 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Group by owner, source (lead_source) or type.';
	END IF;
	SELECT o.default_currency INTO corp FROM crm.organization o WHERE o.id = org;
	RETURN QUERY
	WITH closed AS (
		SELECT CASE group_by WHEN 'owner' THEN x.owner_id::text WHEN 'source' THEN x.lead_source ELSE x.type END AS g,
			   x.is_won, x.currency, date_trunc('month', x.close_date)::date AS m, x.amount
		  FROM crm.opportunity x
		 WHERE x.organization_id = org AND x.deleted_at IS NULL AND x.is_closed
		   AND x.close_date BETWEEN "from" AND "to"),
	fx AS (
		SELECT * FROM crm._fx(org, ARRAY(
			SELECT ROW(coalesce(c.g, '') || CASE WHEN c.is_won THEN '|won' ELSE '|lost' END,
					   c.currency, c.m, count(*), sum(c.amount), 0)::crm._fx_cell
			  FROM closed c GROUP BY c.g, c.is_won, c.currency, c.m)))
	SELECT nullif(regexp_replace(f.key, '\|(won|lost)$', ''), ''),
		   coalesce(sum(f.n) FILTER (WHERE f.key LIKE '%|won'), 0)::bigint,
		   coalesce(sum(f.n) FILTER (WHERE f.key LIKE '%|lost'), 0)::bigint,
		   round(100.0 * coalesce(sum(f.n) FILTER (WHERE f.key LIKE '%|won'), 0) / sum(f.n), 2),
		   coalesce(sum(f.amount) FILTER (WHERE f.key LIKE '%|won'), 0),
		   coalesce(sum(f.amount) FILTER (WHERE f.key LIKE '%|lost'), 0),
		   corp
	  FROM fx f
	 GROUP BY 1
	 ORDER BY 1 NULLS LAST;
END;
$$;
COMMENT ON FUNCTION crm.win_rate(date, date, text) IS
	'Win rate of the live opportunities closed (won or lost) with a close date in from..to, grouped by owner (its id), source (lead_source) or type: won and lost counts, won / (won + lost) in percent, won and lost amounts in the corporate currency. A NULL group_key gathers deals without a value.';

-- ---------------------------------------------------------------------------
-- Stage velocity from the history
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm.stage_velocity(pipeline uuid, "from" date, "to" date)
RETURNS TABLE (stage_id uuid, stage text, "position" integer, entered bigint, exited bigint,
			   avg_days numeric, median_days numeric, advanced bigint, conversion_rate numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
	p uuid;
BEGIN
	IF "from" IS NULL OR "to" IS NULL OR "from" > "to" THEN
		RAISE EXCEPTION 'stage_velocity needs a period: from (%) on or before to (%)', coalesce("from"::text, 'NULL'), coalesce("to"::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	p := crm._report_pipeline(org, pipeline);
	RETURN QUERY
	WITH stint AS (
		SELECT h.opportunity_id, h.stage_id, lower(h.valid) AS a, upper(h.valid) AS b,
			   lag(h.stage_id) OVER w AS prev_stage, lag(upper(h.valid)) OVER w AS prev_end
		  FROM crm.opportunity_stage_history h
		 WHERE h.organization_id = org AND h.pipeline_id = p
		WINDOW w AS (PARTITION BY h.opportunity_id ORDER BY lower(h.valid))),
	-- a visit: consecutive stints of one stage without a gap (a soft delete)
	marked AS (
		SELECT s.*, sum(CASE WHEN s.prev_stage = s.stage_id AND s.prev_end = s.a THEN 0 ELSE 1 END)
					  OVER (PARTITION BY s.opportunity_id ORDER BY s.a) AS visit
		  FROM stint s),
	visit AS (
		SELECT m.opportunity_id, m.visit, min(m.stage_id::text)::uuid AS stage_id, min(m.a) AS a,
			   CASE WHEN bool_or(m.b IS NULL) THEN NULL ELSE max(m.b) END AS b
		  FROM marked m GROUP BY m.opportunity_id, m.visit),
	moved AS (
		SELECT v.*, lead(v.stage_id) OVER w AS next_stage, lead(v.a) OVER w AS next_a
		  FROM visit v
		WINDOW w AS (PARTITION BY v.opportunity_id ORDER BY v.a)),
	per AS (
		SELECT v.stage_id, count(*) AS entered,
			   count(*) FILTER (WHERE v.next_stage IS NOT NULL AND v.next_a = v.b) AS exited,
			   avg(extract(epoch FROM v.b - v.a) / 86400) FILTER (WHERE v.next_stage IS NOT NULL AND v.next_a = v.b) AS avg_days,
			   percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM v.b - v.a) / 86400)
				   FILTER (WHERE v.next_stage IS NOT NULL AND v.next_a = v.b) AS median_days,
			   count(*) FILTER (WHERE v.next_a = v.b AND ns.position > s.position AND NOT (ns.is_closed AND NOT ns.is_won)) AS advanced
		  FROM moved v
		  JOIN crm.pipeline_stage s ON s.organization_id = org AND s.id = v.stage_id
		  LEFT JOIN crm.pipeline_stage ns ON ns.organization_id = org AND ns.id = v.next_stage
		 WHERE v.a >= "from" AND v.a < "to" + 1
		 GROUP BY v.stage_id)
	SELECT s.id, s.name, s.position, coalesce(r.entered, 0), coalesce(r.exited, 0),
		   round(r.avg_days, 2), round(r.median_days::numeric, 2), coalesce(r.advanced, 0),
		   CASE WHEN r.exited > 0 THEN round(100.0 * r.advanced / r.exited, 2) END
	  FROM crm.pipeline_stage s
	  LEFT JOIN per r ON r.stage_id = s.id
	 WHERE s.organization_id = org AND s.pipeline_id = p
	 ORDER BY s.position, s.name;
END;
$$;
COMMENT ON FUNCTION crm.stage_velocity(uuid, date, date) IS
	'Per stage of a pipeline (default: the default pipeline), over visits entered in from..to (a visit: consecutive history stints in one stage): entered, exited (moved on to another stage), average and median days of the exited visits, advanced (moved to a later stage that is not a lost one), and conversion_rate = advanced / exited in percent. Rebuilt from crm.opportunity_stage_history.';

-- ---------------------------------------------------------------------------
-- Daily trend rows (for charts only: no report depends on them)
-- ---------------------------------------------------------------------------
CREATE TABLE crm.pipeline_snapshot (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	snapshot_date date NOT NULL,
	pipeline_id	uuid NOT NULL,
	stage_id	uuid NOT NULL,
	currency	char(3) NOT NULL,
	opportunity_count bigint NOT NULL,
	amount		numeric NOT NULL,
	weighted_amount numeric NOT NULL,
	taken_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT pipeline_snapshot_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT pipeline_snapshot_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT pipeline_snapshot_stage_fkey FOREIGN KEY (organization_id, pipeline_id, stage_id)
		REFERENCES crm.pipeline_stage (organization_id, pipeline_id, id) ON DELETE CASCADE,
	CONSTRAINT pipeline_snapshot_key UNIQUE (organization_id, snapshot_date, pipeline_id, stage_id)
);
COMMENT ON TABLE crm.pipeline_snapshot IS 'Daily trend rows of the weighted pipeline per pipeline and stage in the corporate currency (crm.snapshot_pipeline); for charts only, no report reads them (crm.pipeline_as_of rebuilds any past instant exactly).';
COMMENT ON COLUMN crm.pipeline_snapshot.snapshot_date IS 'The day the row describes (a rerun the same day replaces it).';
COMMENT ON COLUMN crm.pipeline_snapshot.pipeline_id IS 'The pipeline.';
COMMENT ON COLUMN crm.pipeline_snapshot.stage_id IS 'The stage.';
COMMENT ON COLUMN crm.pipeline_snapshot.currency IS 'The corporate currency at the time of the snapshot.';
COMMENT ON COLUMN crm.pipeline_snapshot.opportunity_count IS 'Live opportunities in the stage.';
COMMENT ON COLUMN crm.pipeline_snapshot.amount IS 'Their amount in the corporate currency.';
COMMENT ON COLUMN crm.pipeline_snapshot.weighted_amount IS 'Their expected revenue in the corporate currency.';
COMMENT ON COLUMN crm.pipeline_snapshot.taken_at IS 'When the row was written.';
SELECT crm._setup_tenant_table('crm.pipeline_snapshot', audited => false, label => 'pipeline snapshot');

-- The job: every organization's pipelines, each organization in its own
-- tenant context; one failure (a missing rate) does not stop the others.
CREATE FUNCTION crm.snapshot_pipeline(day date DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	o record;
	p record;
	d date := coalesce(day, current_date);
	n bigint;
	total bigint := 0;
BEGIN
	FOR o IN SELECT g.id FROM crm.organization g ORDER BY g.id LOOP
		BEGIN
			PERFORM set_config('crm.organization_id', o.id::text, true);
			FOR p IN SELECT x.id FROM crm.pipeline x WHERE x.organization_id = o.id ORDER BY x.id LOOP
				INSERT INTO crm.pipeline_snapshot AS t (organization_id, snapshot_date, pipeline_id, stage_id, currency,
														 opportunity_count, amount, weighted_amount)
				SELECT o.id, d, p.id, s.stage_id, s.currency, s.opportunity_count, s.amount, s.weighted_amount
				  FROM crm.pipeline_summary(p.id) s
				ON CONFLICT ON CONSTRAINT pipeline_snapshot_key DO UPDATE
					SET currency = EXCLUDED.currency, opportunity_count = EXCLUDED.opportunity_count,
						amount = EXCLUDED.amount, weighted_amount = EXCLUDED.weighted_amount, taken_at = EXCLUDED.taken_at;
				GET DIAGNOSTICS n = ROW_COUNT;
				total := total + n;
			END LOOP;
		EXCEPTION WHEN OTHERS THEN
			RAISE WARNING 'pipeline snapshot of organization % failed: %', o.id, SQLERRM;
		END;
	END LOOP;
	PERFORM set_config('crm.organization_id', '', true);
	RETURN total;
END;
$$;
COMMENT ON FUNCTION crm.snapshot_pipeline(date) IS
	'Job: writes crm.pipeline_snapshot rows (crm.pipeline_summary of every pipeline) of every organization for a day (default today; a rerun replaces that day''s rows), each organization in its own tenant context. Returns the rows written.';
INSERT INTO crm.job (name, schedule, command, description) VALUES
	('snapshot_pipeline', '15 0 * * *', 'SELECT crm.snapshot_pipeline()',
	 'Daily trend rows of the weighted pipeline (crm.pipeline_snapshot), for charts; reports never depend on them.');
-- ============================================================================
-- 40 activities, notes, attachments
-- ============================================================================

CREATE TABLE crm.activity (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	type		text NOT NULL,
	subject		text NOT NULL,
	body		text,
	status		text NOT NULL DEFAULT 'planned',
	priority	text NOT NULL DEFAULT 'normal',
	activity_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	due_at		timestamptz,
	completed_at timestamptz,
	duration_minutes integer,
	direction	text,
	outcome		text,
	account_id	uuid,
	contact_id	uuid,
	lead_id		uuid,
	opportunity_id uuid,
	owner_id	uuid,
	assignee_id	uuid,
	tags		text[] NOT NULL DEFAULT '{}',
	custom_fields jsonb NOT NULL DEFAULT '{}',
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	deleted_at	timestamptz,
	-- subject, and the first 20,000 characters of the body (a tsvector has
	-- a size limit, and a search hit needs no more)
	search_vector tsvector GENERATED ALWAYS AS (
		setweight(to_tsvector('simple'::regconfig, crm.search_fold(subject)), 'A') ||
		setweight(to_tsvector('simple'::regconfig, crm.search_fold(left(coalesce(body, ''), 20000))), 'C')
	) STORED,
	CONSTRAINT activity_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT activity_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT activity_account_fkey FOREIGN KEY (organization_id, account_id) REFERENCES crm.account (organization_id, id),
	CONSTRAINT activity_contact_fkey FOREIGN KEY (organization_id, contact_id) REFERENCES crm.contact (organization_id, id),
	CONSTRAINT activity_lead_fkey FOREIGN KEY (organization_id, lead_id) REFERENCES crm.lead (organization_id, id),
	CONSTRAINT activity_opportunity_fkey FOREIGN KEY (organization_id, opportunity_id) REFERENCES crm.opportunity (organization_id, id),
	CONSTRAINT activity_owner_fkey FOREIGN KEY (organization_id, owner_id) REFERENCES crm.app_user (organization_id, id),
	CONSTRAINT activity_assignee_fkey FOREIGN KEY (organization_id, assignee_id) REFERENCES crm.app_user (organization_id, id),
	CONSTRAINT activity_type_valid CHECK (type IN ('call', 'email', 'meeting', 'task', 'note', 'sms')),
	CONSTRAINT activity_subject_not_blank CHECK (pg_catalog.btrim(subject) <> ''),
	CONSTRAINT activity_status_valid CHECK (status IN ('planned', 'in_progress', 'completed', 'cancelled')),
	CONSTRAINT activity_priority_valid CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
	CONSTRAINT activity_direction_valid CHECK (direction IN ('inbound', 'outbound')),
	CONSTRAINT activity_duration_nonnegative CHECK (duration_minutes >= 0),
	CONSTRAINT activity_custom_fields_object CHECK (jsonb_typeof(custom_fields) = 'object')
);
CREATE INDEX activity_contact_timeline_idx ON crm.activity (organization_id, contact_id, activity_at DESC) WHERE contact_id IS NOT NULL;
CREATE INDEX activity_account_timeline_idx ON crm.activity (organization_id, account_id, activity_at DESC) WHERE account_id IS NOT NULL;
CREATE INDEX activity_lead_timeline_idx ON crm.activity (organization_id, lead_id, activity_at DESC) WHERE lead_id IS NOT NULL;
CREATE INDEX activity_opportunity_timeline_idx ON crm.activity (organization_id, opportunity_id, activity_at DESC) WHERE opportunity_id IS NOT NULL;
CREATE INDEX activity_owner_idx ON crm.activity (organization_id, owner_id, activity_at DESC) WHERE deleted_at IS NULL;
CREATE INDEX activity_open_due_idx ON crm.activity (organization_id, assignee_id, due_at)
	WHERE status IN ('planned', 'in_progress') AND deleted_at IS NULL;
COMMENT ON TABLE crm.activity IS 'Something done or to do with a customer: call, email, meeting, task, note or SMS; the 360-degree timeline.';
COMMENT ON COLUMN crm.activity.type IS 'call, email, meeting, task, note or sms.';
COMMENT ON COLUMN crm.activity.subject IS 'One-line summary.';
COMMENT ON COLUMN crm.activity.body IS 'Full text (email body, call notes).';
COMMENT ON COLUMN crm.activity.status IS 'planned, in_progress, completed or cancelled.';
COMMENT ON COLUMN crm.activity.priority IS 'low, normal, high or urgent.';
COMMENT ON COLUMN crm.activity.activity_at IS 'When it happened or is planned: the timeline sort key.';
COMMENT ON COLUMN crm.activity.due_at IS 'Deadline of a task.';
COMMENT ON COLUMN crm.activity.completed_at IS 'When it was completed.';
COMMENT ON COLUMN crm.activity.duration_minutes IS 'Length of a call or meeting.';
COMMENT ON COLUMN crm.activity.direction IS 'inbound or outbound (calls, emails, sms).';
COMMENT ON COLUMN crm.activity.outcome IS 'Result, from the organization''s picklist activity_outcome (connected, left voicemail, no answer, ...).';
COMMENT ON COLUMN crm.activity.account_id IS 'Related crm.account.';
COMMENT ON COLUMN crm.activity.contact_id IS 'Related crm.contact.';
COMMENT ON COLUMN crm.activity.lead_id IS 'Related crm.lead.';
COMMENT ON COLUMN crm.activity.opportunity_id IS 'Related crm.opportunity.';
COMMENT ON COLUMN crm.activity.assignee_id IS 'The crm.app_user who is to do it.';
SELECT crm._setup_tenant_table('crm.activity');

CREATE TABLE crm.note (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	body		text NOT NULL,
	is_pinned	boolean NOT NULL DEFAULT false,
	account_id	uuid,
	contact_id	uuid,
	lead_id		uuid,
	activity_id	uuid,
	opportunity_id uuid,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	deleted_at	timestamptz,
	search_vector tsvector GENERATED ALWAYS AS (
		to_tsvector('simple'::regconfig, crm.search_fold(left(body, 20000)))
	) STORED,
	CONSTRAINT note_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT note_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT note_account_fkey FOREIGN KEY (organization_id, account_id) REFERENCES crm.account (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT note_contact_fkey FOREIGN KEY (organization_id, contact_id) REFERENCES crm.contact (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT note_lead_fkey FOREIGN KEY (organization_id, lead_id) REFERENCES crm.lead (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT note_activity_fkey FOREIGN KEY (organization_id, activity_id) REFERENCES crm.activity (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT note_opportunity_fkey FOREIGN KEY (organization_id, opportunity_id) REFERENCES crm.opportunity (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT note_body_not_blank CHECK (pg_catalog.btrim(body) <> ''),
	CONSTRAINT note_has_parent CHECK (num_nonnulls(account_id, contact_id, lead_id, activity_id, opportunity_id) >= 1)
);
CREATE INDEX note_account_idx ON crm.note (organization_id, account_id, created_at DESC) WHERE account_id IS NOT NULL;
CREATE INDEX note_contact_idx ON crm.note (organization_id, contact_id, created_at DESC) WHERE contact_id IS NOT NULL;
CREATE INDEX note_lead_idx ON crm.note (organization_id, lead_id, created_at DESC) WHERE lead_id IS NOT NULL;
CREATE INDEX note_activity_idx ON crm.note (organization_id, activity_id) WHERE activity_id IS NOT NULL;
CREATE INDEX note_opportunity_idx ON crm.note (organization_id, opportunity_id, created_at DESC) WHERE opportunity_id IS NOT NULL;
COMMENT ON TABLE crm.note IS 'A free-text note on an account, contact, lead, opportunity or activity.';
COMMENT ON COLUMN crm.note.body IS 'The note text.';
COMMENT ON COLUMN crm.note.is_pinned IS 'Shown at the top of the record.';
COMMENT ON COLUMN crm.note.account_id IS 'The account the note is on.';
COMMENT ON COLUMN crm.note.contact_id IS 'The contact the note is on.';
COMMENT ON COLUMN crm.note.lead_id IS 'The lead the note is on.';
COMMENT ON COLUMN crm.note.activity_id IS 'The activity the note is on.';
COMMENT ON COLUMN crm.note.opportunity_id IS 'The opportunity the note is on.';
SELECT crm._setup_tenant_table('crm.note');

CREATE TABLE crm.attachment (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	file_name	text NOT NULL,
	content_type text NOT NULL DEFAULT 'application/octet-stream',
	size_bytes	bigint NOT NULL,
	storage_key	text NOT NULL,
	sha256		text,
	account_id	uuid,
	contact_id	uuid,
	lead_id		uuid,
	activity_id	uuid,
	note_id		uuid,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	deleted_at	timestamptz,
	CONSTRAINT attachment_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT attachment_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT attachment_account_fkey FOREIGN KEY (organization_id, account_id) REFERENCES crm.account (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT attachment_contact_fkey FOREIGN KEY (organization_id, contact_id) REFERENCES crm.contact (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT attachment_lead_fkey FOREIGN KEY (organization_id, lead_id) REFERENCES crm.lead (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT attachment_activity_fkey FOREIGN KEY (organization_id, activity_id) REFERENCES crm.activity (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT attachment_note_fkey FOREIGN KEY (organization_id, note_id) REFERENCES crm.note (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT attachment_file_name_not_blank CHECK (pg_catalog.btrim(file_name) <> ''),
	CONSTRAINT attachment_content_type_format CHECK (content_type ~ '^[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+(;.*)?$'),
	CONSTRAINT attachment_size_nonnegative CHECK (size_bytes >= 0),
	CONSTRAINT attachment_sha256_format CHECK (sha256 ~ '^[0-9a-f]{64}$'),
	CONSTRAINT attachment_has_parent CHECK (num_nonnulls(account_id, contact_id, lead_id, activity_id, note_id) >= 1)
);
CREATE INDEX attachment_account_idx ON crm.attachment (organization_id, account_id) WHERE account_id IS NOT NULL;
CREATE INDEX attachment_contact_idx ON crm.attachment (organization_id, contact_id) WHERE contact_id IS NOT NULL;
CREATE INDEX attachment_lead_idx ON crm.attachment (organization_id, lead_id) WHERE lead_id IS NOT NULL;
CREATE INDEX attachment_activity_idx ON crm.attachment (organization_id, activity_id) WHERE activity_id IS NOT NULL;
CREATE INDEX attachment_note_idx ON crm.attachment (organization_id, note_id) WHERE note_id IS NOT NULL;
COMMENT ON TABLE crm.attachment IS 'Metadata of a file attached to a record; the bytes live in external storage under storage_key.';
COMMENT ON COLUMN crm.attachment.file_name IS 'Original file name.';
COMMENT ON COLUMN crm.attachment.content_type IS 'MIME type (lower case).';
COMMENT ON COLUMN crm.attachment.size_bytes IS 'Size in bytes.';
COMMENT ON COLUMN crm.attachment.storage_key IS 'Where the bytes are (object-store key or URL).';
COMMENT ON COLUMN crm.attachment.sha256 IS 'SHA-256 of the content, lower-case hex.';
COMMENT ON COLUMN crm.attachment.account_id IS 'The account the file is attached to.';
COMMENT ON COLUMN crm.attachment.contact_id IS 'The contact the file is attached to.';
COMMENT ON COLUMN crm.attachment.lead_id IS 'The lead the file is attached to.';
COMMENT ON COLUMN crm.attachment.activity_id IS 'The activity the file is attached to.';
COMMENT ON COLUMN crm.attachment.note_id IS 'The note the file is attached to.';
SELECT crm._setup_tenant_table('crm.attachment');
-- ============================================================================
-- 45 scoring: engagement events, the per-tenant scoring model, scores of
-- leads and contacts that equal a recomputation at every instant
-- (doc/scoring.md; src/scoring.c)
--
-- The derived state is crm.score_tally: one row per (record, rule, window)
-- with the number of events, their raw points and their points weighted to
-- the tenant's reference time (points * 2^((occurred_at - reference_at) /
-- half_life)).  A score at any instant is computed from it (crm._score_at):
-- rule caps apply per window to the raw points (scaling the weighted points
-- in proportion), decay is one multiplication per group, then group caps,
-- then the total is clamped to 0..100.  Since the weighted points do not
-- change with time, the order of records by them never changes either:
-- crm.score.engagement_ref is indexed, and "hottest now" is an index scan.
-- ============================================================================

-- The scoring settings of an organization (one row, seeded).
CREATE TABLE crm.scoring_settings (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	total_cap	numeric(8,2) NOT NULL DEFAULT 100,
	mql_threshold numeric(8,2) NOT NULL DEFAULT 60,
	sql_threshold numeric(8,2) NOT NULL DEFAULT 80,
	unknown_event_types text NOT NULL DEFAULT 'reject',
	reference_at timestamptz NOT NULL DEFAULT '2026-01-01 00:00:00+00',
	retain_days	integer,
	pruned_before timestamptz,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT scoring_settings_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT scoring_settings_one_per_org UNIQUE (organization_id),
	CONSTRAINT scoring_settings_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT scoring_settings_total_cap_range CHECK (total_cap > 0 AND total_cap <= 100),
	CONSTRAINT scoring_settings_thresholds_order CHECK (mql_threshold > 0 AND mql_threshold <= sql_threshold),
	CONSTRAINT scoring_settings_unknown_valid CHECK (unknown_event_types IN ('reject', 'accept')),
	CONSTRAINT scoring_settings_reference_finite CHECK (pg_catalog.isfinite(reference_at)),
	CONSTRAINT scoring_settings_retain_days_positive CHECK (retain_days >= 1),
	CONSTRAINT scoring_settings_pruned_before_finite CHECK (pg_catalog.isfinite(pruned_before))
);
COMMENT ON TABLE crm.scoring_settings IS 'Scoring settings of an organization (one row, seeded by crm.create_organization).';
COMMENT ON COLUMN crm.scoring_settings.total_cap IS 'Upper bound of lead_score (at most 100; the lower bound is 0).';
COMMENT ON COLUMN crm.scoring_settings.mql_threshold IS 'lead_score at which a lead becomes marketing-qualified (event lead.mql).';
COMMENT ON COLUMN crm.scoring_settings.sql_threshold IS 'lead_score at which a lead becomes sales-qualified (event lead.sql; status new/contacted/nurturing becomes qualified).';
COMMENT ON COLUMN crm.scoring_settings.unknown_event_types IS 'reject: an engagement event of a type not in crm.engagement_event_type is an error (22023); accept: stored, scored by no rule.';
COMMENT ON COLUMN crm.scoring_settings.reference_at IS 'The fixed instant decaying points are stored at (crm.score_tally.weighted); changing it re-scores the organization.';
COMMENT ON COLUMN crm.scoring_settings.retain_days IS 'Retention: crm.prune_engagement_events (job prune_engagement_events) folds events that occurred more than this many days ago into crm.score_base and deletes them; NULL: events are kept.';
COMMENT ON COLUMN crm.scoring_settings.pruned_before IS 'Set by crm.prune_engagement_events: the events that occurred before it are folded into crm.score_base (scores as of an earlier instant cannot be recomputed); NULL: none pruned.';
SELECT crm._setup_tenant_table('crm.scoring_settings', label => 'scoring settings');

-- Event types an organization knows (the built-in ones are seeded).
CREATE TABLE crm.engagement_event_type (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	name		text NOT NULL,
	description	text,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT engagement_event_type_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT engagement_event_type_name_key UNIQUE (organization_id, name),
	CONSTRAINT engagement_event_type_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT engagement_event_type_name_format CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$')
);
COMMENT ON TABLE crm.engagement_event_type IS 'The engagement event types of an organization: page_view, form_submit, email_open, ... (seeded) and its own.';
COMMENT ON COLUMN crm.engagement_event_type.name IS 'Type name (lower snake_case), as in crm.engagement_event.event_type.';
COMMENT ON COLUMN crm.engagement_event_type.description IS 'What the event means.';
SELECT crm._setup_tenant_table('crm.engagement_event_type', label => 'engagement event type');

-- Groups of rules: fit (who the record is) or engagement (what it did).
CREATE TABLE crm.scoring_group (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	name		text NOT NULL,
	kind		text NOT NULL,
	cap			numeric(8,2),
	half_life_days numeric(10,3),
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT scoring_group_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT scoring_group_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT scoring_group_kind_valid CHECK (kind IN ('fit', 'engagement')),
	CONSTRAINT scoring_group_cap_positive CHECK (cap > 0),
	CONSTRAINT scoring_group_half_life_valid CHECK (half_life_days IS NULL OR (kind = 'engagement' AND half_life_days >= 7)),
	CONSTRAINT scoring_group_name_not_blank CHECK (pg_catalog.btrim(name) <> '')
);
COMMENT ON TABLE crm.scoring_group IS 'A group of scoring rules: fit or engagement, with a cap on its points and (engagement) a half-life.';
COMMENT ON COLUMN crm.scoring_group.name IS 'Group name.';
COMMENT ON COLUMN crm.scoring_group.kind IS 'fit (criteria over the record''s fields) or engagement (engagement events).';
COMMENT ON COLUMN crm.scoring_group.cap IS 'At most this many points from the group (after decay); NULL: no cap.';
COMMENT ON COLUMN crm.scoring_group.half_life_days IS 'Engagement: the points of an event halve every this many days (at least 7); NULL: no decay.';
SELECT crm._setup_tenant_table('crm.scoring_group', label => 'scoring group');

CREATE TABLE crm.scoring_rule (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	group_id	uuid NOT NULL,
	kind		text NOT NULL,
	name		text NOT NULL,
	event_type	text,
	property_match jsonb,
	entity		text,
	criteria	jsonb,
	points		numeric(8,2) NOT NULL,
	max_points	numeric(8,2),
	window_days	integer,
	is_active	boolean NOT NULL DEFAULT true,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT scoring_rule_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT scoring_rule_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT scoring_rule_group_fkey FOREIGN KEY (organization_id, group_id)
		REFERENCES crm.scoring_group (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT scoring_rule_name_not_blank CHECK (pg_catalog.btrim(name) <> ''),
	CONSTRAINT scoring_rule_shape CHECK (CASE kind
		WHEN 'engagement' THEN event_type IS NOT NULL AND entity IS NULL AND criteria IS NULL
		WHEN 'fit' THEN event_type IS NULL AND property_match IS NULL AND entity IN ('lead', 'contact')
						AND criteria IS NOT NULL AND max_points IS NULL AND window_days IS NULL
		ELSE false END),
	CONSTRAINT scoring_rule_property_match_object CHECK (jsonb_typeof(property_match) = 'object'),
	CONSTRAINT scoring_rule_criteria_object CHECK (jsonb_typeof(criteria) = 'object'),
	CONSTRAINT scoring_rule_points_nonzero CHECK (points <> 0),
	CONSTRAINT scoring_rule_max_points_positive CHECK (max_points > 0),
	CONSTRAINT scoring_rule_window_valid CHECK (window_days IS NULL OR (window_days BETWEEN 1 AND 3650 AND max_points IS NOT NULL))
);
COMMENT ON TABLE crm.scoring_rule IS 'A scoring rule: engagement (an event type, optionally with a property condition, gives points, capped per window) or fit (a criteria document over the lead or contact gives points).';
COMMENT ON COLUMN crm.scoring_rule.group_id IS 'The crm.scoring_group.';
COMMENT ON COLUMN crm.scoring_rule.kind IS 'The group''s kind (fit or engagement); a rule of another kind than its group is refused (23514).';
COMMENT ON COLUMN crm.scoring_rule.name IS 'Rule name (shown by crm.explain_score).';
COMMENT ON COLUMN crm.scoring_rule.event_type IS 'Engagement: the event type the rule counts.';
COMMENT ON COLUMN crm.scoring_rule.property_match IS 'Engagement: counts only events whose properties contain this object (jsonb @>); NULL: every event of the type.';
COMMENT ON COLUMN crm.scoring_rule.entity IS 'Fit: lead or contact, the entity the criteria document is about.';
COMMENT ON COLUMN crm.scoring_rule.criteria IS 'Fit: a criteria document (doc/criteria.md) the record must match.';
COMMENT ON COLUMN crm.scoring_rule.points IS 'Points per event (engagement) or for a match (fit); negative allowed, never 0.';
COMMENT ON COLUMN crm.scoring_rule.max_points IS 'Engagement: at most this many points (in absolute value) per window; NULL: no cap.';
COMMENT ON COLUMN crm.scoring_rule.window_days IS 'Engagement: the cap''s window in days (windows are aligned to 1970-01-01 UTC); NULL with a cap: the cap holds over all time.';
COMMENT ON COLUMN crm.scoring_rule.is_active IS 'Inactive rules count nothing.';
SELECT crm._setup_tenant_table('crm.scoring_rule', label => 'scoring rule');

-- The events.  Append-only and high volume: no stamp, no audit (the row is
-- its own record), one statement trigger that scores a whole INSERT/COPY.
CREATE TABLE crm.engagement_event (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	lead_id		uuid,
	contact_id	uuid,
	event_type	text NOT NULL,
	occurred_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	properties	jsonb NOT NULL DEFAULT '{}',
	source		text,
	url			text,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT engagement_event_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT engagement_event_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT engagement_event_lead_fkey FOREIGN KEY (organization_id, lead_id) REFERENCES crm.lead (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT engagement_event_contact_fkey FOREIGN KEY (organization_id, contact_id) REFERENCES crm.contact (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT engagement_event_one_subject CHECK ((lead_id IS NULL) <> (contact_id IS NULL)),
	CONSTRAINT engagement_event_properties_object CHECK (jsonb_typeof(properties) = 'object'),
	CONSTRAINT engagement_event_occurred_finite CHECK (pg_catalog.isfinite(occurred_at))
);
CREATE INDEX engagement_event_lead_idx ON crm.engagement_event (organization_id, lead_id, occurred_at) WHERE lead_id IS NOT NULL;
CREATE INDEX engagement_event_contact_idx ON crm.engagement_event (organization_id, contact_id, occurred_at) WHERE contact_id IS NOT NULL;
COMMENT ON TABLE crm.engagement_event IS 'What a lead or contact did (page view, email click, demo request, ...): append-only, built for COPY; scored by crm.trg_engagement_score.';
COMMENT ON COLUMN crm.engagement_event.lead_id IS 'The lead (exactly one of lead_id, contact_id).';
COMMENT ON COLUMN crm.engagement_event.contact_id IS 'The contact (exactly one of lead_id, contact_id).';
COMMENT ON COLUMN crm.engagement_event.event_type IS 'A type of crm.engagement_event_type (unknown types: see crm.scoring_settings.unknown_event_types).';
COMMENT ON COLUMN crm.engagement_event.occurred_at IS 'When it happened (decay counts from here).';
COMMENT ON COLUMN crm.engagement_event.properties IS 'Event details (JSON object); rules may require some (scoring_rule.property_match).';
COMMENT ON COLUMN crm.engagement_event.source IS 'The system that reported it (web, email, ...).';
COMMENT ON COLUMN crm.engagement_event.url IS 'The page or link concerned.';
SELECT crm._setup_tenant_table('crm.engagement_event', audited => false, label => 'engagement event');

-- The derived state: per record, rule and cap window.
CREATE TABLE crm.score_tally (
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	record_id	uuid NOT NULL,
	rule_id		uuid NOT NULL,
	bucket		bigint NOT NULL,
	events		bigint NOT NULL,
	raw_points	numeric NOT NULL,
	weighted	double precision NOT NULL,
	CONSTRAINT score_tally_pkey PRIMARY KEY (organization_id, record_id, rule_id, bucket),
	CONSTRAINT score_tally_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id)
);
-- No foreign key to the rule: the tally is derived data, written only under
-- the tenant's model lock with the rules of the moment; the deletion of a
-- rule deletes its rows (crm.trg_scoring_model), and crm.verify() reports a
-- row whose rule does not exist.  (The key's check, one query per new tally
-- row, was a tenth of the cost of a bulk load of events.)
-- No index by rule: every read goes by record (the primary key), and an
-- index by (organization_id, rule_id) tempts the planner, before the table
-- is analysed, to read every tally of a rule to find one record's.  A rule
-- deletion (rare; it re-scores the tenant anyway) scans the tenant's tallies.
COMMENT ON TABLE crm.score_tally IS 'Derived (crm.verify() check score_tally): per lead or contact, rule and cap window, the events counted, their raw points and their points weighted to the reference time.';
COMMENT ON COLUMN crm.score_tally.record_id IS 'The lead or contact.';
COMMENT ON COLUMN crm.score_tally.rule_id IS 'The crm.scoring_rule.';
COMMENT ON COLUMN crm.score_tally.bucket IS 'The cap window: floor(epoch days / window_days); 0 for rules without a window and fit rules.';
COMMENT ON COLUMN crm.score_tally.events IS 'Events counted (1 for a matching fit rule).';
COMMENT ON COLUMN crm.score_tally.raw_points IS 'Sum of the rule''s points over those events.';
COMMENT ON COLUMN crm.score_tally.weighted IS 'Sum of points * 2^((occurred_at - reference_at) / half_life) (raw points when the group does not decay).';
SELECT crm._setup_tenant_table('crm.score_tally', audited => false, label => 'score tally');

-- Pruned events, folded (crm.prune_engagement_events): per record, rule
-- and cap window, the number of events and their weights at one point --
-- what crm.score_tally needs of them for any points the rule may be given
-- later.  Events and base together are what scores are recomputed from.
CREATE TABLE crm.score_base (
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	record_id	uuid NOT NULL,
	rule_id		uuid NOT NULL,
	bucket		bigint NOT NULL,
	events		bigint NOT NULL,
	weight		double precision NOT NULL,
	CONSTRAINT score_base_pkey PRIMARY KEY (organization_id, record_id, rule_id, bucket),
	CONSTRAINT score_base_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT score_base_rule_fkey FOREIGN KEY (organization_id, rule_id) REFERENCES crm.scoring_rule (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT score_base_events_positive CHECK (events > 0)
);
COMMENT ON TABLE crm.score_base IS 'Engagement events pruned by crm.prune_engagement_events, folded per lead or contact, rule and cap window: scores are recomputed from these and the events that remain (doc/scoring.md, "Retention").';
COMMENT ON COLUMN crm.score_base.record_id IS 'The lead or contact.';
COMMENT ON COLUMN crm.score_base.rule_id IS 'The crm.scoring_rule that counted the events (inactive rules included: reactivated, they count them again).';
COMMENT ON COLUMN crm.score_base.bucket IS 'The cap window, as in crm.score_tally.';
COMMENT ON COLUMN crm.score_base.events IS 'Events folded.';
COMMENT ON COLUMN crm.score_base.weight IS 'Sum over those events of 2^((occurred_at - reference_at) / half_life) (the number of events when the rule''s group does not decay): the tally takes points * weight.';
SELECT crm._setup_tenant_table('crm.score_base', audited => false, label => 'score base');

-- The score of a lead or contact (id = the record's id).
CREATE TABLE crm.score (
	record_id	uuid NOT NULL,
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	lead_id		uuid,
	contact_id	uuid,
	engagement_ref double precision NOT NULL DEFAULT 0,
	fit_score	numeric(8,2) NOT NULL DEFAULT 0,
	engagement_score numeric(8,2) NOT NULL DEFAULT 0,
	lead_score	numeric(5,2) NOT NULL DEFAULT 0,
	stage		text NOT NULL DEFAULT 'none',
	score_updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT score_pkey PRIMARY KEY (organization_id, record_id),
	CONSTRAINT score_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT score_one_subject CHECK ((lead_id IS NULL) <> (contact_id IS NULL) AND record_id = coalesce(lead_id, contact_id)),
	CONSTRAINT score_stage_valid CHECK (stage IN ('none', 'mql', 'sql')),
	CONSTRAINT score_lead_score_range CHECK (lead_score BETWEEN 0 AND 100)
);
CREATE INDEX score_hottest_idx ON crm.score (organization_id, engagement_ref DESC) WHERE lead_id IS NOT NULL;
COMMENT ON TABLE crm.score IS 'Score of a lead or contact (derived from crm.score_tally; crm.verify() check scores). Order by engagement_ref DESC for the hottest now.';
COMMENT ON COLUMN crm.score.record_id IS 'The lead''s or contact''s id (derived data: no foreign key, so that merging or erasing records never has to touch scores; crm.trg_fit_score removes the score of a deleted record).';
COMMENT ON COLUMN crm.score.lead_id IS 'The lead (exactly one of lead_id, contact_id).';
COMMENT ON COLUMN crm.score.contact_id IS 'The contact.';
COMMENT ON COLUMN crm.score.engagement_ref IS 'Engagement points weighted to the reference time, before group caps: the current engagement is this times 2^(-(now - reference_at)/half_life), so the order by it is the order now (one half-life per tenant).';
COMMENT ON COLUMN crm.score.fit_score IS 'Fit points (after group caps) at score_updated_at.';
COMMENT ON COLUMN crm.score.engagement_score IS 'Engagement points (after decay and group caps) at score_updated_at; crm.score_as_of gives any instant.';
COMMENT ON COLUMN crm.score.lead_score IS 'fit + engagement, within 0 and the total cap, at score_updated_at.';
COMMENT ON COLUMN crm.score.stage IS 'none, mql or sql: the highest threshold lead_score reached at score_updated_at.';
COMMENT ON COLUMN crm.score.score_updated_at IS 'The instant the stored scores are of (the last write, or crm.decay_scores).';
SELECT crm._setup_tenant_table('crm.score', audited => false, label => 'score');

-- ---------------------------------------------------------------------------
-- Computing scores from the tally
-- ---------------------------------------------------------------------------

-- The contribution of every rule to each record at an instant: the tally
-- with rule caps (per window, in proportion), decay and group caps applied.
-- group_share is the rule's part of its group after the group cap (rules
-- share a capped group in proportion to their points, so the parts sum
-- exactly to the group).
CREATE FUNCTION crm._score_parts(org uuid, records uuid[], at timestamptz, from_events boolean DEFAULT false)
RETURNS TABLE (record_id uuid, rule_id uuid, group_id uuid, kind text, events bigint, raw_points numeric,
			   after_rule_cap numeric, after_decay double precision, after_group_cap double precision)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	-- two statements, not one with a branch switched off: a generic plan
	-- would still run the event recomputation
	IF from_events THEN
		-- the events up to the instant, and the stored fit part
		RETURN QUERY
	WITH s AS (SELECT x.reference_at FROM crm.scoring_settings x WHERE x.organization_id = org),
	t AS (
		SELECT y.record_id, y.rule_id, y.events, y.raw_points, y.weighted
		  FROM crm.score_tally y
		  JOIN crm.scoring_rule yr ON yr.organization_id = org AND yr.id = y.rule_id
		 WHERE y.organization_id = org AND y.record_id = ANY (records) AND yr.kind = 'fit'
		UNION ALL
		SELECT e.record_id, e.rule_id, e.events, e.raw_points, e.weighted
		  FROM crm._engagement_tally(org, records, at) e),
	per_rule AS (
		SELECT t.record_id, r.id AS rule_id, g.id AS group_id, g.kind, g.cap,
			   sum(t.events)::bigint AS events, sum(t.raw_points) AS raw_points,
			   sum(CASE WHEN r.max_points IS NULL OR abs(t.raw_points) <= r.max_points THEN t.raw_points
						ELSE sign(t.raw_points) * r.max_points END) AS after_rule_cap,
			   sum(CASE WHEN r.max_points IS NULL OR abs(t.raw_points) <= r.max_points THEN t.weighted
						ELSE t.weighted * (r.max_points / abs(t.raw_points))::float8 END)
				 * CASE WHEN g.half_life_days IS NULL THEN 1::float8
						ELSE pg_catalog.power(2::float8, -(extract(epoch FROM at - (SELECT reference_at FROM s))::float8
														   / (g.half_life_days::float8 * 86400))) END AS after_decay
		  FROM t
		  JOIN crm.scoring_rule r ON r.organization_id = org AND r.id = t.rule_id AND r.is_active
		  JOIN crm.scoring_group g ON g.organization_id = org AND g.id = r.group_id
		 GROUP BY t.record_id, r.id, g.id, g.kind, g.cap, g.half_life_days),
	per_group AS (
		SELECT p.*, sum(p.after_decay) OVER (PARTITION BY p.record_id, p.group_id) AS group_total
		  FROM per_rule p)
	SELECT q.record_id, q.rule_id, q.group_id, q.kind, q.events, q.raw_points, q.after_rule_cap, q.after_decay,
		   CASE WHEN q.cap IS NULL OR q.group_total <= q.cap::float8 THEN q.after_decay
				ELSE q.after_decay * (q.cap::float8 / q.group_total) END
	  FROM per_group q;
	ELSE
		-- the stored tally
		RETURN QUERY
	WITH s AS (SELECT x.reference_at FROM crm.scoring_settings x WHERE x.organization_id = org),
	t AS (
		SELECT y.record_id, y.rule_id, y.events, y.raw_points, y.weighted
		  FROM crm.score_tally y
		 WHERE y.organization_id = org AND y.record_id = ANY (records)),
	per_rule AS (
		SELECT t.record_id, r.id AS rule_id, g.id AS group_id, g.kind, g.cap,
			   sum(t.events)::bigint AS events, sum(t.raw_points) AS raw_points,
			   sum(CASE WHEN r.max_points IS NULL OR abs(t.raw_points) <= r.max_points THEN t.raw_points
						ELSE sign(t.raw_points) * r.max_points END) AS after_rule_cap,
			   sum(CASE WHEN r.max_points IS NULL OR abs(t.raw_points) <= r.max_points THEN t.weighted
						ELSE t.weighted * (r.max_points / abs(t.raw_points))::float8 END)
				 * CASE WHEN g.half_life_days IS NULL THEN 1::float8
						ELSE pg_catalog.power(2::float8, -(extract(epoch FROM at - (SELECT reference_at FROM s))::float8
														   / (g.half_life_days::float8 * 86400))) END AS after_decay
		  FROM t
		  JOIN crm.scoring_rule r ON r.organization_id = org AND r.id = t.rule_id AND r.is_active
		  JOIN crm.scoring_group g ON g.organization_id = org AND g.id = r.group_id
		 GROUP BY t.record_id, r.id, g.id, g.kind, g.cap, g.half_life_days),
	per_group AS (
		SELECT p.*, sum(p.after_decay) OVER (PARTITION BY p.record_id, p.group_id) AS group_total
		  FROM per_rule p)
	SELECT q.record_id, q.rule_id, q.group_id, q.kind, q.events, q.raw_points, q.after_rule_cap, q.after_decay,
		   CASE WHEN q.cap IS NULL OR q.group_total <= q.cap::float8 THEN q.after_decay
				ELSE q.after_decay * (q.cap::float8 / q.group_total) END
	  FROM per_group q;
	END IF;
END;
$$;
COMMENT ON FUNCTION crm._score_parts(uuid, uuid[], timestamptz, boolean) IS
	'Internal: each rule''s contribution to each record at an instant (events, raw points, after the rule cap, after decay, after the group cap), from the stored tally or (from_events) from the events that occurred up to the instant.';

-- Scores of records at an instant.
CREATE FUNCTION crm._score_at(org uuid, records uuid[], at timestamptz, from_events boolean DEFAULT false)
RETURNS TABLE (record_id uuid, engagement_ref double precision, fit_score numeric, engagement_score numeric, lead_score numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	total_cap numeric := (SELECT x.total_cap FROM crm.scoring_settings x WHERE x.organization_id = org);
BEGIN
	RETURN QUERY
	WITH p AS (SELECT * FROM crm._score_parts(org, records, at, from_events)),
	ref AS (
		SELECT t.record_id, sum(CASE WHEN r.max_points IS NULL OR abs(t.raw_points) <= r.max_points THEN t.weighted
									 ELSE t.weighted * (r.max_points / abs(t.raw_points))::float8 END) AS w
		  FROM crm.score_tally t
		  JOIN crm.scoring_rule r ON r.organization_id = org AND r.id = t.rule_id AND r.is_active AND r.kind = 'engagement'
		 WHERE t.organization_id = org AND t.record_id = ANY (records) AND NOT from_events
		 GROUP BY t.record_id),
	per_record AS (
		SELECT p.record_id, coalesce(sum(p.after_group_cap) FILTER (WHERE p.kind = 'fit'), 0) AS fit,
			   coalesce(sum(p.after_group_cap) FILTER (WHERE p.kind = 'engagement'), 0) AS eng
		  FROM p GROUP BY p.record_id),
	sums AS (
		SELECT u.id, coalesce(x.fit, 0) AS fit, coalesce(x.eng, 0) AS eng, coalesce(ref.w, 0) AS w
		  FROM (SELECT DISTINCT v.id FROM unnest(records) AS v(id)) u
		  LEFT JOIN per_record x ON x.record_id = u.id
		  LEFT JOIN ref ON ref.record_id = u.id)
	SELECT s.id, s.w, round(s.fit::numeric, 2), round(s.eng::numeric, 2),
		   round(least(greatest(s.fit + s.eng, 0), coalesce(total_cap, 100)::float8)::numeric, 2)
	  FROM sums s;
END;
$$;
COMMENT ON FUNCTION crm._score_at(uuid, uuid[], timestamptz, boolean) IS
	'Internal: fit, engagement and lead score of records at an instant, computed from crm.score_tally (or, from_events, from the events up to the instant).';

-- Lock the score rows of records (creating them), in id order: every
-- writer of a record's tally holds its score row lock, so concurrent
-- statements for one record are serialised and each recomputes from a
-- snapshot taken after the lock (no lost update at any isolation level).
CREATE FUNCTION crm._score_lock(org uuid, leads uuid[], contacts uuid[])
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	INSERT INTO crm.score AS s (record_id, organization_id, lead_id, contact_id)
	SELECT x.id, org, x.id, NULL FROM unnest(leads) AS x(id)
	UNION ALL
	SELECT x.id, org, NULL, x.id FROM unnest(contacts) AS x(id)
	ORDER BY 1
	ON CONFLICT ON CONSTRAINT score_pkey DO NOTHING;
	PERFORM 1 FROM crm.score s
	  WHERE s.organization_id = org AND s.record_id = ANY (coalesce(leads, '{}') || coalesce(contacts, '{}'))
	  ORDER BY s.record_id FOR UPDATE;
END;
$$;
COMMENT ON FUNCTION crm._score_lock(uuid, uuid[], uuid[]) IS
	'Internal: creates and locks (in id order) the crm.score rows of leads and contacts before their tally changes.';

-- Store the scores of records as of an instant, move thresholds, emit
-- crossings (src/scoring.c): the arithmetic of crm._score_at, in C, over
-- the records' tallies; rounding, the total cap and the stages in the
-- UPDATE that stores them.  The caller holds the records' score row locks.
CREATE FUNCTION crm._score_refresh(org uuid, records uuid[], at timestamptz DEFAULT pg_catalog.now())
RETURNS void
AS 'MODULE_PATHNAME', 'scoring_refresh'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION crm._score_refresh(uuid, uuid[], timestamptz) IS
	'Internal: stores the scores of records as of an instant (computed from crm.score_tally as crm._score_at computes them); a lead crossing the MQL or SQL threshold upwards emits lead.mql / lead.sql (and becomes qualified at SQL).';

-- The model lock of an organization (src/scoring.c): scorers hold it in
-- share mode to the end of their transaction, a model change in exclusive
-- mode; the exclusive lock also invalidates every backend's cached model
-- of the scoring tables when the change commits.
CREATE FUNCTION crm._score_model_lock(org uuid, exclusive boolean)
RETURNS void
AS 'MODULE_PATHNAME', 'scoring_model_lock'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION crm._score_model_lock(uuid, boolean) IS
	'Internal: takes the scoring model lock of an organization to the end of the transaction: share (scorers) or exclusive (a model change, which also invalidates the cached models of every backend).';

-- The engagement tally of records recomputed from their events (the
-- reference the trigger's incremental sums must equal).
CREATE FUNCTION crm._engagement_tally(org uuid, records uuid[], until timestamptz DEFAULT NULL)
RETURNS TABLE (record_id uuid, rule_id uuid, bucket bigint, events bigint, raw_points numeric, weighted double precision)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	horizon timestamptz := (SELECT x.pruned_before FROM crm.scoring_settings x WHERE x.organization_id = org);
BEGIN
	-- the events before the horizon are only in the base, folded: no
	-- instant before it can be recomputed
	IF until < horizon THEN
		RAISE EXCEPTION 'scores as of % cannot be recomputed: the events that occurred before % were pruned', until, horizon
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Ask for an instant at or after crm.scoring_settings.pruned_before (doc/scoring.md, "Retention").';
	END IF;
	RETURN QUERY
	SELECT x.record_id, x.rule_id, x.bucket, sum(x.events)::bigint, sum(x.raw_points), sum(x.weighted)
	  FROM (
		SELECT coalesce(e.lead_id, e.contact_id) AS record_id, r.id AS rule_id,
			   CASE WHEN r.window_days IS NULL THEN 0::bigint
					ELSE floor(extract(epoch FROM e.occurred_at) / (r.window_days::numeric * 86400))::bigint END AS bucket,
			   1::bigint AS events, r.points::numeric AS raw_points,
			   r.points::float8 * CASE WHEN g.half_life_days IS NULL THEN 1::float8
					ELSE pg_catalog.power(2::float8, extract(epoch FROM e.occurred_at - s.reference_at)::float8
											/ (g.half_life_days::float8 * 86400)) END AS weighted
		  FROM crm.engagement_event e
		  JOIN crm.scoring_settings s ON s.organization_id = org
		  JOIN crm.scoring_rule r ON r.organization_id = org AND r.kind = 'engagement' AND r.is_active
								 AND r.event_type = e.event_type
								 AND (r.property_match IS NULL OR e.properties OPERATOR(pg_catalog.@>) r.property_match)
		  JOIN crm.scoring_group g ON g.organization_id = org AND g.id = r.group_id
		 WHERE e.organization_id = org
		   AND (records IS NULL OR e.lead_id = ANY (records) OR e.contact_id = ANY (records))
		   AND (until IS NULL OR e.occurred_at <= until)
		UNION ALL
		-- the pruned events, at the rule's points now
		SELECT b.record_id, r.id, b.bucket, b.events, b.events * r.points, r.points::float8 * b.weight
		  FROM crm.score_base b
		  JOIN crm.scoring_rule r ON r.organization_id = org AND r.id = b.rule_id AND r.kind = 'engagement' AND r.is_active
		 WHERE b.organization_id = org AND (records IS NULL OR b.record_id = ANY (records))) x
	 GROUP BY 1, 2, 3;
END;
$$;
COMMENT ON FUNCTION crm._engagement_tally(uuid, uuid[], timestamptz) IS
	'Internal: the engagement part of crm.score_tally recomputed from crm.engagement_event and crm.score_base (records NULL: the whole organization; until: only events that occurred up to then, at or after the pruning horizon).';

-- The fit part of the tally of records, from the fit rules' criteria.
CREATE FUNCTION crm._fit_tally(org uuid, entity text, records uuid[])
RETURNS TABLE (record_id uuid, rule_id uuid, points numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	r record;
	-- many records: one criteria_select per rule (the compiled SQL over the
	-- tenant) joined to them beats a criteria_match per record
	whole boolean := records IS NULL OR cardinality(records) > greatest(1000,
		(SELECT c.reltuples / 50 FROM pg_class c WHERE c.oid = ('crm.' || _fit_tally.entity)::regclass));
BEGIN
	FOR r IN SELECT x.id, x.criteria, x.points FROM crm.scoring_rule x
			  WHERE x.organization_id = org AND x.kind = 'fit' AND x.is_active AND x.entity = _fit_tally.entity
			  ORDER BY x.id LOOP
		IF whole THEN
			RETURN QUERY
			SELECT m.id, r.id, r.points FROM crm.criteria_select(r.criteria, _fit_tally.entity) AS m(id)
			 WHERE records IS NULL OR m.id IN (SELECT u.id FROM unnest(records) AS u(id));
		ELSE
			RETURN QUERY
			SELECT u.id, r.id, r.points FROM unnest(records) AS u(id)
			 WHERE crm.criteria_match(r.criteria, _fit_tally.entity, u.id);
		END IF;
	END LOOP;
END;
$$;
COMMENT ON FUNCTION crm._fit_tally(uuid, text, uuid[]) IS
	'Internal: the fit rules each record matches (records NULL: every live record of the entity): per rule, crm.criteria_match over a few records, crm.criteria_select (the compiled SQL) for many.';

-- Re-score records from their base data: events and fields.
CREATE FUNCTION crm._score_recompute(org uuid, leads uuid[], contacts uuid[], fit_only boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	recs uuid[] := coalesce(leads, '{}') || coalesce(contacts, '{}');
	saved text := current_setting('crm.organization_id', true);
BEGIN
	IF cardinality(recs) = 0 THEN
		RETURN;
	END IF;
	-- the model cannot change under us (a change waits for our commit)
	PERFORM crm._score_model_lock(org, false);
	-- criteria are evaluated for the records' organization
	PERFORM set_config('crm.organization_id', org::text, true);
	PERFORM crm._score_lock(org, leads, contacts);
	DELETE FROM crm.score_tally t
	 USING crm.scoring_rule r
	 WHERE t.organization_id = org AND t.record_id = ANY (recs)
	   AND r.organization_id = org AND r.id = t.rule_id AND (r.kind = 'fit' OR NOT fit_only);
	IF NOT fit_only THEN
		INSERT INTO crm.score_tally (organization_id, record_id, rule_id, bucket, events, raw_points, weighted)
		SELECT org, x.* FROM crm._engagement_tally(org, recs) x;
	END IF;
	INSERT INTO crm.score_tally (organization_id, record_id, rule_id, bucket, events, raw_points, weighted)
	SELECT org, f.record_id, f.rule_id, 0, 1, f.points, f.points FROM crm._fit_tally(org, 'lead', leads) f
	UNION ALL
	SELECT org, f.record_id, f.rule_id, 0, 1, f.points, f.points FROM crm._fit_tally(org, 'contact', contacts) f;
	PERFORM crm._score_refresh(org, recs);
	PERFORM set_config('crm.organization_id', coalesce(saved, ''), true);
END;
$$;
COMMENT ON FUNCTION crm._score_recompute(uuid, uuid[], uuid[], boolean) IS
	'Internal: recomputes the tally (fit only, or fit and engagement) and the scores of leads and contacts.';

-- Re-score a whole organization, set-based (after a model change).
CREATE FUNCTION crm._score_rebuild(org uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	PERFORM crm._score_recompute(org,
		ARRAY(SELECT l.id FROM crm.lead l WHERE l.organization_id = org ORDER BY l.id),
		ARRAY(SELECT c.id FROM crm.contact c WHERE c.organization_id = org
				 AND (EXISTS (SELECT 1 FROM crm.score s WHERE s.organization_id = org AND s.record_id = c.id)
					  OR EXISTS (SELECT 1 FROM crm.scoring_rule r WHERE r.organization_id = org AND r.kind = 'fit' AND r.entity = 'contact'))
			   ORDER BY c.id));
END;
$$;
COMMENT ON FUNCTION crm._score_rebuild(uuid) IS 'Internal: re-scores every lead and scored contact of an organization (after a change of its model).';

-- ---------------------------------------------------------------------------
-- Triggers
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm.trg_engagement_score() RETURNS trigger
	AS 'MODULE_PATHNAME', 'scoring_engagement_insert'
	LANGUAGE C;
COMMENT ON FUNCTION crm.trg_engagement_score() IS
	'AFTER INSERT statement trigger on crm.engagement_event (transition table): matches every event against the tenant''s engagement rules in C and adds the statement''s points to crm.score_tally with one batched call per statement.';
CREATE TRIGGER crm_50_score AFTER INSERT ON crm.engagement_event
	REFERENCING NEW TABLE AS crm_new FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_engagement_score('engagement_event');

-- Deleted (pruned, erased) or corrected events: their records are
-- recomputed from the events that remain.
-- Recompute the records of a list that still exist (the others may be
-- gone: events cascade from the deletion of their lead or contact).
CREATE FUNCTION crm._score_recompute_live(org uuid, leads uuid[], contacts uuid[])
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	PERFORM crm._score_recompute(org,
		ARRAY(SELECT l.id FROM crm.lead l WHERE l.organization_id = org AND l.id = ANY (leads) ORDER BY 1),
		ARRAY(SELECT c.id FROM crm.contact c WHERE c.organization_id = org AND c.id = ANY (contacts) ORDER BY 1));
END;
$$;
COMMENT ON FUNCTION crm._score_recompute_live(uuid, uuid[], uuid[]) IS
	'Internal: recomputes the scores of those of the given leads and contacts that still exist.';

CREATE FUNCTION crm.trg_engagement_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	o record;
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_engagement_change()', TG_NAME, TG_RELID, TG_ARGV, '{engagement_event}');
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN NULL;
	END IF;
	-- (plpgsql plans a query when it first runs it: the DELETE branch never
	-- names crm_new, which a DELETE trigger does not have)
	IF TG_OP = 'DELETE' THEN
		FOR o IN SELECT x.organization_id AS org, array_agg(DISTINCT x.lead_id) AS leads,
						array_agg(DISTINCT x.contact_id) AS contacts
				   FROM crm_old x GROUP BY 1 ORDER BY 1 LOOP
			PERFORM crm._score_recompute_live(o.org, o.leads, o.contacts);
		END LOOP;
	ELSE
		FOR o IN SELECT x.organization_id AS org, array_agg(DISTINCT x.lead_id) AS leads,
						array_agg(DISTINCT x.contact_id) AS contacts
				   FROM (SELECT y.organization_id, y.lead_id, y.contact_id FROM crm_old y
						 UNION ALL SELECT y.organization_id, y.lead_id, y.contact_id FROM crm_new y) x
				  GROUP BY 1 ORDER BY 1 LOOP
			PERFORM crm._score_recompute_live(o.org, o.leads, o.contacts);
		END LOOP;
	END IF;
	RETURN NULL;
END;
$$;
COMMENT ON FUNCTION crm.trg_engagement_change() IS
	'AFTER UPDATE/DELETE statement trigger on crm.engagement_event: recomputes the scores of the records whose events changed or were pruned.';
CREATE TRIGGER crm_50_score_update AFTER UPDATE ON crm.engagement_event
	REFERENCING OLD TABLE AS crm_old NEW TABLE AS crm_new
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_engagement_change('engagement_event');
CREATE TRIGGER crm_50_score_delete AFTER DELETE ON crm.engagement_event
	REFERENCING OLD TABLE AS crm_old
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_engagement_change('engagement_event');

-- The columns of crm.<entity> a criteria document reads (for the fit trigger).
CREATE FUNCTION crm._criteria_columns(criteria jsonb, entity text) RETURNS text[]
	AS 'MODULE_PATHNAME', 'criteria_columns'
	LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION crm._criteria_columns(jsonb, text) IS
	'Internal: the columns of crm.<entity> a criteria document reads, for the current tenant (custom fields: custom_fields; account fields: account_id), sorted; raises for an invalid document.';

-- A new lead or contact, or a change of a field its tenant's fit rules read
-- (or of deleted_at): its fit is rescored, for those rows only.  Routing's
-- own update of new leads (owner, priority, tags) rescores nothing unless a
-- fit rule reads what it set; writes of crm's own score columns do not
-- touch these tables.
CREATE FUNCTION crm.trg_fit_score() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	o record;
	org uuid;
	cols text[];
	saved text;
	ignored constant text[] := ARRAY['updated_at', 'updated_by', 'search_vector'];
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_fit_score()', TG_NAME, TG_RELID, TG_ARGV, '{lead,contact}');
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN NULL;
	END IF;
	IF TG_OP = 'DELETE' THEN
		-- a deleted record takes its score along (derived data, no foreign key)
		DELETE FROM crm.score s USING crm_old d WHERE s.organization_id = d.organization_id AND s.record_id = d.id;
		DELETE FROM crm.score_tally t USING crm_old d WHERE t.organization_id = d.organization_id AND t.record_id = d.id;
		DELETE FROM crm.score_base b USING crm_old d WHERE b.organization_id = d.organization_id AND b.record_id = d.id;
	ELSIF TG_OP = 'INSERT' THEN
		FOR o IN SELECT n.organization_id AS org, array_agg(n.id ORDER BY n.id) AS ids
				   FROM crm_new n GROUP BY 1 ORDER BY 1 LOOP
			-- contacts are scored once they have events or the tenant has contact fit rules
			IF TG_ARGV[0] = 'lead' OR EXISTS (SELECT 1 FROM crm.scoring_rule r WHERE r.organization_id = o.org
												 AND r.kind = 'fit' AND r.entity = 'contact') THEN
				PERFORM crm._score_recompute(o.org, CASE WHEN TG_ARGV[0] = 'lead' THEN o.ids END,
											 CASE WHEN TG_ARGV[0] = 'contact' THEN o.ids END, true);
			END IF;
		END LOOP;
	ELSE
		saved := current_setting('crm.organization_id', true);
		FOR org IN SELECT DISTINCT n.organization_id FROM crm_new n ORDER BY 1 LOOP
			-- the columns the organization's fit rules read (its custom
			-- fields: documents are compiled for the rule's organization);
			-- NULL when a document no longer compiles (a custom field it
			-- read was dropped): then any change of the row counts
			PERFORM set_config('crm.organization_id', org::text, true);
			IF EXISTS (SELECT 1 FROM crm.scoring_rule r, LATERAL crm.criteria_validate(r.criteria, r.entity) v
						WHERE r.organization_id = org AND r.kind = 'fit' AND r.entity = TG_ARGV[0]) THEN
				cols := NULL;
			ELSE
				SELECT coalesce(array_agg(DISTINCT c ORDER BY c), '{}') INTO cols
				  FROM crm.scoring_rule r, LATERAL unnest(crm._criteria_columns(r.criteria, r.entity)) c
				 WHERE r.organization_id = org AND r.kind = 'fit' AND r.entity = TG_ARGV[0];
				cols := cols || ARRAY['deleted_at'];
			END IF;
			PERFORM set_config('crm.organization_id', coalesce(saved, ''), true);
			-- planned for each statement (EXECUTE): a plan kept from a one-row
			-- statement would pair the rows of a bulk update by nested loop
			FOR o IN EXECUTE
					'SELECT array_agg(n.id ORDER BY n.id) AS ids
					   FROM crm_new n JOIN crm_old p ON p.organization_id = n.organization_id AND p.id = n.id
					  WHERE n.organization_id = $3
						AND CASE WHEN $2 IS NULL THEN (to_jsonb(n) - $1) IS DISTINCT FROM (to_jsonb(p) - $1)
								 ELSE EXISTS (SELECT 1 FROM unnest($2) c WHERE to_jsonb(n) -> c IS DISTINCT FROM to_jsonb(p) -> c) END
					 HAVING count(*) > 0' USING ignored, cols, org LOOP
				IF TG_ARGV[0] = 'lead' OR EXISTS (SELECT 1 FROM crm.score s WHERE s.organization_id = org AND s.record_id = ANY (o.ids))
				   OR EXISTS (SELECT 1 FROM crm.scoring_rule r WHERE r.organization_id = org AND r.kind = 'fit' AND r.entity = 'contact') THEN
					PERFORM crm._score_recompute(org, CASE WHEN TG_ARGV[0] = 'lead' THEN o.ids END,
												 CASE WHEN TG_ARGV[0] = 'contact' THEN o.ids END, true);
				END IF;
			END LOOP;
		END LOOP;
	END IF;
	RETURN NULL;
END;
$$;
COMMENT ON FUNCTION crm.trg_fit_score() IS
	'AFTER INSERT/UPDATE/DELETE statement trigger on crm.lead and crm.contact: re-scores the fit of the inserted rows and of the rows whose fields changed, set-based; removes the scores of deleted rows.';
CREATE TRIGGER crm_92_fit_score AFTER INSERT ON crm.lead
	REFERENCING NEW TABLE AS crm_new FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_fit_score('lead');
CREATE TRIGGER crm_92_fit_score_update AFTER UPDATE ON crm.lead
	REFERENCING OLD TABLE AS crm_old NEW TABLE AS crm_new FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_fit_score('lead');
CREATE TRIGGER crm_92_fit_score AFTER INSERT ON crm.contact
	REFERENCING NEW TABLE AS crm_new FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_fit_score('contact');
CREATE TRIGGER crm_92_fit_score_update AFTER UPDATE ON crm.contact
	REFERENCING OLD TABLE AS crm_old NEW TABLE AS crm_new FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_fit_score('contact');
CREATE TRIGGER crm_92_fit_score_delete AFTER DELETE ON crm.lead
	REFERENCING OLD TABLE AS crm_old FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_fit_score('lead');
CREATE TRIGGER crm_92_fit_score_delete AFTER DELETE ON crm.contact
	REFERENCING OLD TABLE AS crm_old FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_fit_score('contact');

-- A change of the model (rules, groups, settings, event types): the
-- organizations whose model changed take its model lock exclusively (every
-- scorer of the organization waits for the change to commit, then reads
-- the new model; cached models are invalidated), fit documents are
-- validated, then each organization is re-scored in one pass.  An update
-- of names, descriptions or timestamps changes no score and does nothing.
CREATE FUNCTION crm.trg_scoring_model() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	tbl name;		-- the logical table: scoring_rule, scoring_group, ...
	o uuid;
	orgs uuid[];
	bad record;
	saved text;
	-- (retention: pruning folds events into crm.score_base, which changes
	-- no score)
	ignored constant text[] := ARRAY['name', 'description', 'created_at', 'updated_at', 'created_by', 'updated_by',
									 'retain_days', 'pruned_before'];
BEGIN
	tbl := crm._trigger_table_ok('crm.trg_scoring_model()', TG_NAME, TG_RELID, TG_ARGV, '{scoring_rule,scoring_group,scoring_settings,engagement_event_type}');
	-- (plpgsql plans a query when it first runs it: only the UPDATE branch
	-- names crm_old_rows, which only the UPDATE trigger has)
	IF TG_OP = 'UPDATE' THEN
		SELECT coalesce(array_agg(DISTINCT n.organization_id ORDER BY n.organization_id), '{}') INTO orgs
		  FROM crm_rows n JOIN crm_old_rows p ON p.organization_id = n.organization_id AND p.id = n.id
		 WHERE (to_jsonb(n) - ignored) IS DISTINCT FROM (to_jsonb(p) - ignored);
	ELSE
		SELECT coalesce(array_agg(DISTINCT x.organization_id ORDER BY x.organization_id), '{}') INTO orgs
		  FROM crm_rows x;
	END IF;
	-- (in organization order: two changes never wait for each other crosswise)
	FOREACH o IN ARRAY orgs LOOP
		PERFORM crm._score_model_lock(o, true);
	END LOOP;
	-- a deleted rule's tally goes with it (no foreign key: derived data)
	IF tbl = 'scoring_rule' AND TG_OP = 'DELETE' THEN
		DELETE FROM crm.score_tally t USING crm_rows d
		 WHERE t.organization_id = d.organization_id AND t.rule_id = d.id;
	END IF;
	IF current_setting('crm.restoring', true) = 'on' OR tbl = 'engagement_event_type' THEN
		RETURN NULL;
	END IF;
	-- a rule's kind is its group's (the foreign key is the group's primary
	-- key only: referenced tenant tables have no other unique key on
	-- organization_id, test/pgtap/catalog.sql)
	IF tbl IN ('scoring_rule', 'scoring_group') AND TG_OP <> 'DELETE' THEN
		SELECT r.name, r.kind, g.name AS gname, g.kind AS gkind INTO bad
		  FROM crm.scoring_rule r JOIN crm.scoring_group g ON g.organization_id = r.organization_id AND g.id = r.group_id
		 WHERE r.kind <> g.kind
		   AND (r.organization_id, CASE WHEN tbl = 'scoring_rule' THEN r.id ELSE g.id END)
			   IN (SELECT n.organization_id, n.id FROM crm_rows n)
		 LIMIT 1;
		IF FOUND THEN
			RAISE EXCEPTION 'scoring rule "%" is of kind %, but its group "%" is of kind %', bad.name, bad.kind, bad.gname, bad.gkind
				USING ERRCODE = 'check_violation',
					  HINT = 'A rule''s kind must be its group''s kind.';
		END IF;
	END IF;
	IF tbl = 'scoring_rule' AND TG_OP <> 'DELETE' THEN
		saved := current_setting('crm.organization_id', true);
		FOR o IN SELECT DISTINCT n.organization_id FROM crm_rows n WHERE n.kind = 'fit' ORDER BY 1 LOOP
			-- the document is checked against the rule's organization's fields
			PERFORM set_config('crm.organization_id', o::text, true);
			SELECT n.id, n.name, v.path, v.message INTO bad
			  FROM crm_rows n, LATERAL crm.criteria_validate(n.criteria, n.entity) v
			 WHERE n.kind = 'fit' AND n.organization_id = o LIMIT 1;
			IF FOUND THEN
				RAISE EXCEPTION 'scoring rule "%" has an invalid criteria document: % (at %)', bad.name, bad.message, bad.path
					USING ERRCODE = 'invalid_parameter_value',
						  HINT = 'See doc/criteria.md; crm.criteria_validate(criteria, entity) lists every problem.';
			END IF;
		END LOOP;
		PERFORM set_config('crm.organization_id', coalesce(saved, ''), true);
	END IF;
	-- The pruned events (crm.score_base) follow the model where they can:
	-- a rule's new points apply to them, a new reference time rescales
	-- their weights.  A rule that counts other events than before (event
	-- type, property condition, window, group) or a group decaying at
	-- another rate forgets them: their types, properties and times are gone.
	IF TG_OP = 'UPDATE' AND tbl = 'scoring_rule' THEN
		DELETE FROM crm.score_base b
		 USING crm_rows n JOIN crm_old_rows p ON p.organization_id = n.organization_id AND p.id = n.id
		 WHERE b.organization_id = n.organization_id AND b.rule_id = n.id
		   AND (n.event_type, n.property_match, n.window_days, n.group_id)
			   IS DISTINCT FROM (p.event_type, p.property_match, p.window_days, p.group_id);
	ELSIF TG_OP = 'UPDATE' AND tbl = 'scoring_group' THEN
		DELETE FROM crm.score_base b
		 USING crm_rows n JOIN crm_old_rows p ON p.organization_id = n.organization_id AND p.id = n.id,
			   crm.scoring_rule r
		 WHERE n.half_life_days IS DISTINCT FROM p.half_life_days
		   AND r.organization_id = n.organization_id AND r.group_id = n.id
		   AND b.organization_id = n.organization_id AND b.rule_id = r.id;
	ELSIF TG_OP = 'UPDATE' AND tbl = 'scoring_settings' THEN
		-- 2^((e - new)/h) = 2^((e - old)/h) * 2^((old - new)/h)
		UPDATE crm.score_base b
		   SET weight = b.weight * pg_catalog.power(2::float8, extract(epoch FROM p.reference_at - n.reference_at)::float8
														 / (g.half_life_days::float8 * 86400))
		  FROM crm_rows n JOIN crm_old_rows p ON p.organization_id = n.organization_id AND p.id = n.id,
			   crm.scoring_rule r JOIN crm.scoring_group g ON g.organization_id = r.organization_id AND g.id = r.group_id
		 WHERE n.reference_at <> p.reference_at AND g.half_life_days IS NOT NULL
		   AND r.organization_id = n.organization_id
		   AND b.organization_id = n.organization_id AND b.rule_id = r.id;
	END IF;
	-- (organization_id never changes: crm.trg_stamp)
	FOREACH o IN ARRAY orgs LOOP
		IF EXISTS (SELECT 1 FROM crm.organization g WHERE g.id = o)
		   AND EXISTS (SELECT 1 FROM crm.scoring_settings s WHERE s.organization_id = o) THEN
			PERFORM crm._score_rebuild(o);
		END IF;
	END LOOP;
	RETURN NULL;
END;
$$;
COMMENT ON FUNCTION crm.trg_scoring_model() IS
	'AFTER statement trigger on crm.scoring_rule, crm.scoring_group, crm.scoring_settings and crm.engagement_event_type: locks the changed organizations'' models (invalidating cached models), validates fit criteria and re-scores the organizations set-based.';
DO $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['scoring_rule', 'scoring_group', 'scoring_settings', 'engagement_event_type'] LOOP
		EXECUTE format('CREATE TRIGGER crm_50_model_insert AFTER INSERT ON crm.%I REFERENCING NEW TABLE AS crm_rows '
					   'FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_scoring_model(%L)', t, t);
		EXECUTE format('CREATE TRIGGER crm_50_model_update AFTER UPDATE ON crm.%I '
					   'REFERENCING OLD TABLE AS crm_old_rows NEW TABLE AS crm_rows '
					   'FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_scoring_model(%L)', t, t);
		EXECUTE format('CREATE TRIGGER crm_50_model_delete AFTER DELETE ON crm.%I REFERENCING OLD TABLE AS crm_rows '
					   'FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_scoring_model(%L)', t, t);
	END LOOP;
END;
$$;

-- ---------------------------------------------------------------------------
-- The public surface
-- ---------------------------------------------------------------------------

-- The scores of a lead (or contact) at an instant, from the tally.
CREATE FUNCTION crm.score_as_of(lead_id uuid, at timestamptz)
RETURNS TABLE (fit_score numeric, engagement_score numeric, lead_score numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
BEGIN
	IF at IS NULL OR NOT isfinite(at) THEN
		RAISE EXCEPTION 'at must be a finite timestamp' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM crm.lead l WHERE l.organization_id = org AND l.id = score_as_of.lead_id)
	   AND NOT EXISTS (SELECT 1 FROM crm.contact c WHERE c.organization_id = org AND c.id = score_as_of.lead_id) THEN
		RAISE EXCEPTION 'lead % does not exist in this organization', score_as_of.lead_id
			USING ERRCODE = 'no_data_found';
	END IF;
	RETURN QUERY SELECT s.fit_score, s.engagement_score, s.lead_score
				   FROM crm._score_at(org, ARRAY[score_as_of.lead_id], at, true) s;
END;
$$;
COMMENT ON FUNCTION crm.score_as_of(uuid, timestamptz) IS
	'Fit, engagement and lead score of a lead (or contact) at an instant, exact (decay included), from its tallied events and fit rules.';

-- Each rule's contribution to a lead's score at an instant.
CREATE FUNCTION crm.explain_score(lead_id uuid, at timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (group_name text, rule_name text, kind text, events bigint, raw_points numeric,
			   after_rule_cap numeric, after_decay numeric, after_group_cap numeric, points numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
	total numeric;
	cap numeric;
	acc numeric := 0;
	r record;
	rows_left integer;
BEGIN
	IF at IS NULL OR NOT isfinite(at) THEN
		RAISE EXCEPTION 'at must be a finite timestamp' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM crm.lead l WHERE l.organization_id = org AND l.id = explain_score.lead_id)
	   AND NOT EXISTS (SELECT 1 FROM crm.contact c WHERE c.organization_id = org AND c.id = explain_score.lead_id) THEN
		RAISE EXCEPTION 'lead % does not exist in this organization', explain_score.lead_id
			USING ERRCODE = 'no_data_found';
	END IF;
	SELECT s.lead_score INTO total FROM crm._score_at(org, ARRAY[explain_score.lead_id], at, true) s;
	-- The points column distributes the lead score over the rules: each
	-- rule's part after the group cap, rounded, scaled down in proportion
	-- when the total was clamped, the rounding remainder on the last row,
	-- so that the column sums exactly to lead_score.
	SELECT sum(p.after_group_cap) INTO cap FROM crm._score_parts(org, ARRAY[explain_score.lead_id], at, true) p;
	SELECT count(*) INTO rows_left FROM crm._score_parts(org, ARRAY[explain_score.lead_id], at, true);
	FOR r IN SELECT g.name AS gname, ru.name AS rname, p.*
			   FROM crm._score_parts(org, ARRAY[explain_score.lead_id], at, true) p
			   JOIN crm.scoring_group g ON g.organization_id = org AND g.id = p.group_id
			   JOIN crm.scoring_rule ru ON ru.organization_id = org AND ru.id = p.rule_id
			  ORDER BY p.kind DESC, g.name, ru.name LOOP
		rows_left := rows_left - 1;
		group_name := r.gname;
		rule_name := r.rname;
		kind := r.kind;
		events := r.events;
		raw_points := r.raw_points;
		after_rule_cap := r.after_rule_cap;
		after_decay := round(r.after_decay::numeric, 4);
		after_group_cap := round(r.after_group_cap::numeric, 4);
		IF rows_left = 0 THEN
			points := total - acc;
		ELSIF cap IS NULL OR cap = 0 OR round(cap::numeric, 2) = total THEN
			points := round(r.after_group_cap::numeric, 2);
		ELSE
			points := round((r.after_group_cap * (total / cap::numeric))::numeric, 2);
		END IF;
		acc := acc + points;
		RETURN NEXT;
	END LOOP;
END;
$$;
COMMENT ON FUNCTION crm.explain_score(uuid, timestamptz) IS
	'Each rule''s contribution to a lead''s score at an instant: events counted, raw points, after the rule cap, after decay, after the group cap, and points summing exactly to crm.score_as_of(...).lead_score.';

-- Refresh the stored display scores of every organization to now (decay
-- moves them; stored weighted values and their order never change).
CREATE FUNCTION crm.decay_scores(at timestamptz DEFAULT pg_catalog.now())
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	o uuid;
	n bigint := 0;
	k bigint;
BEGIN
	FOR o IN SELECT s.organization_id FROM crm.scoring_settings s ORDER BY 1 LOOP
		BEGIN
			PERFORM set_config('crm.organization_id', o::text, true);
			PERFORM crm._score_lock(o, ARRAY(SELECT s.record_id FROM crm.score s WHERE s.organization_id = o AND s.lead_id IS NOT NULL ORDER BY 1),
									ARRAY(SELECT s.record_id FROM crm.score s WHERE s.organization_id = o AND s.contact_id IS NOT NULL ORDER BY 1));
			PERFORM crm._score_refresh(o, ARRAY(SELECT s.record_id FROM crm.score s WHERE s.organization_id = o ORDER BY 1), at);
			SELECT count(*) INTO k FROM crm.score s WHERE s.organization_id = o;
			n := n + k;
		EXCEPTION WHEN OTHERS THEN
			RAISE WARNING 'crm.decay_scores: organization % failed: %', o, SQLERRM;
		END;
	END LOOP;
	RETURN n;
END;
$$;
COMMENT ON FUNCTION crm.decay_scores(timestamptz) IS
	'Job: refreshes the stored display scores (fit, engagement, lead score, stage) of every organization to an instant (default now); emits threshold crossings. Returns the number of scores refreshed.';
INSERT INTO crm.job (name, schedule, command, description) VALUES
	('decay_scores', '7 * * * *', 'SELECT crm.decay_scores()', 'Refreshes stored lead and contact scores as engagement decays (hourly).');

-- Retention: fold the events that can no longer be asked about into
-- crm.score_base and delete them (doc/scoring.md, "Retention").  Per
-- organization with retain_days: the horizon is the start (UTC) of the day
-- retain_days before "at"; the events that occurred before it are summed
-- per record, rule and cap window (their count and weights: what the tally
-- needs of them, for any points) and deleted.  No tally or score changes:
-- a recomputation from the base and the remaining events gives what it gave
-- from all the events.  Events that no rule counts are deleted unfolded.
CREATE FUNCTION crm.prune_engagement_events(at timestamptz DEFAULT pg_catalog.now())
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	o record;
	horizon timestamptz;
	done timestamptz;
	n bigint := 0;
	k bigint;
	restoring text;
	saved text := current_setting('crm.organization_id', true);
BEGIN
	IF at IS NULL OR NOT isfinite(at) THEN
		RAISE EXCEPTION 'at must be a finite timestamp' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	FOR o IN SELECT s.organization_id AS org, s.retain_days FROM crm.scoring_settings s
			  WHERE s.retain_days IS NOT NULL ORDER BY 1 LOOP
		horizon := date_trunc('day', at - o.retain_days * interval '1 day', 'UTC');
		BEGIN
			PERFORM set_config('crm.organization_id', o.org::text, true);
			-- one pruner per organization (the settings row), and no model
			-- change meanwhile (the model lock, after the row: the order a
			-- change of the settings takes them in)
			SELECT s.pruned_before INTO done FROM crm.scoring_settings s WHERE s.organization_id = o.org FOR UPDATE;
			CONTINUE WHEN done >= horizon;
			PERFORM crm._score_model_lock(o.org, false);
			INSERT INTO crm.score_base AS b (organization_id, record_id, rule_id, bucket, events, weight)
			SELECT o.org, coalesce(e.lead_id, e.contact_id), r.id,
				   CASE WHEN r.window_days IS NULL THEN 0::bigint
						ELSE floor(extract(epoch FROM e.occurred_at) / (r.window_days::numeric * 86400))::bigint END,
				   count(*),
				   sum(CASE WHEN g.half_life_days IS NULL THEN 1::float8
							ELSE pg_catalog.power(2::float8, extract(epoch FROM e.occurred_at - s.reference_at)::float8
															/ (g.half_life_days::float8 * 86400)) END)
			  FROM crm.engagement_event e
			  JOIN crm.scoring_settings s ON s.organization_id = o.org
			  -- inactive rules too: reactivated, they count these events again
			  JOIN crm.scoring_rule r ON r.organization_id = o.org AND r.kind = 'engagement'
									 AND r.event_type = e.event_type
									 AND (r.property_match IS NULL OR e.properties OPERATOR(pg_catalog.@>) r.property_match)
			  JOIN crm.scoring_group g ON g.organization_id = o.org AND g.id = r.group_id
			 WHERE e.organization_id = o.org AND e.occurred_at < horizon
			 GROUP BY 2, 3, 4
			ON CONFLICT ON CONSTRAINT score_base_pkey DO UPDATE
				SET events = b.events + EXCLUDED.events, weight = b.weight + EXCLUDED.weight;
			-- the deletion re-scores nothing (crm.trg_engagement_change would
			-- recompute the records to what they are)
			restoring := current_setting('crm.restoring');
			PERFORM set_config('crm.restoring', 'on', true);
			DELETE FROM crm.engagement_event e WHERE e.organization_id = o.org AND e.occurred_at < horizon;
			GET DIAGNOSTICS k = ROW_COUNT;
			PERFORM set_config('crm.restoring', restoring, true);
			UPDATE crm.scoring_settings s SET pruned_before = horizon WHERE s.organization_id = o.org;
			n := n + k;
		EXCEPTION WHEN OTHERS THEN
			RAISE WARNING 'crm.prune_engagement_events: organization % failed: %', o.org, SQLERRM;
		END;
	END LOOP;
	PERFORM set_config('crm.organization_id', coalesce(saved, ''), true);
	RETURN n;
END;
$$;
COMMENT ON FUNCTION crm.prune_engagement_events(timestamptz) IS
	'Job: for every organization with scoring_settings.retain_days, folds the engagement events that occurred before the start of the day retain_days before "at" (default now) into crm.score_base, deletes them and moves pruned_before there; scores do not change. Returns the number of events deleted.';
INSERT INTO crm.job (name, schedule, command, description) VALUES
	('prune_engagement_events', '23 3 * * *', 'SELECT crm.prune_engagement_events()',
	 'Folds engagement events older than each organization''s retain_days into crm.score_base and deletes them (daily).');

-- Drift check: the tally against a recomputation from events and fields,
-- and the stored weighted sums against the tally.
CREATE FUNCTION crm.check_scores()
RETURNS TABLE (entity text, id uuid, expected text, actual text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	o uuid;
	at timestamptz;
	saved text := current_setting('crm.organization_id', true);
BEGIN
	FOR o IN SELECT s.organization_id FROM crm.scoring_settings s
			  WHERE s.organization_id IN (SELECT g.id FROM crm.organization g) ORDER BY 1 LOOP
		-- criteria are evaluated for the organization checked (the owner
		-- verifies every organization after a restore)
		PERFORM set_config('crm.organization_id', o::text, true);
		RETURN QUERY
		WITH expect AS (
			SELECT e.record_id, e.rule_id, e.bucket, e.events, e.raw_points, e.weighted FROM crm._engagement_tally(o, NULL) e
			UNION ALL
			SELECT f.record_id, f.rule_id, 0, 1, f.points, f.points::float8
			  FROM crm._fit_tally(o, 'lead', NULL) f
			UNION ALL
			SELECT f.record_id, f.rule_id, 0, 1, f.points, f.points::float8
			  FROM crm._fit_tally(o, 'contact', ARRAY(SELECT s.record_id FROM crm.score s WHERE s.organization_id = o AND s.contact_id IS NOT NULL)) f),
		-- (rows of rules that do not exist count: they should not)
		have AS (
			SELECT t.record_id, t.rule_id, t.bucket, t.events, t.raw_points, t.weighted
			  FROM crm.score_tally t LEFT JOIN crm.scoring_rule r ON r.organization_id = o AND r.id = t.rule_id
			 WHERE t.organization_id = o AND (r.id IS NULL OR r.is_active))
		SELECT 'score_tally'::text, coalesce(x.record_id, h.record_id),
			   CASE WHEN x.record_id IS NULL THEN 'no entry'
					ELSE format('rule %s window %s: %s events, %s points, weighted %s', x.rule_id, x.bucket, x.events, x.raw_points, x.weighted) END,
			   CASE WHEN h.record_id IS NULL THEN 'no entry'
					ELSE format('rule %s window %s: %s events, %s points, weighted %s', h.rule_id, h.bucket, h.events, h.raw_points, h.weighted) END
		  FROM expect x FULL JOIN have h ON h.record_id = x.record_id AND h.rule_id = x.rule_id AND h.bucket = x.bucket
		 WHERE x.record_id IS NULL OR h.record_id IS NULL OR x.events <> h.events OR x.raw_points <> h.raw_points
			OR abs(x.weighted - h.weighted) > 1e-9 * greatest(1, abs(x.weighted));
		-- the stored scores, recomputed per instant they are of (one
		-- computation for all records stored at the same instant)
		FOR at IN SELECT DISTINCT s.score_updated_at FROM crm.score s WHERE s.organization_id = o ORDER BY 1 LOOP
			RETURN QUERY
			SELECT 'score'::text, s.record_id, format('engagement_ref %s, lead_score %s', a.engagement_ref, a.lead_score),
				   format('engagement_ref %s, lead_score %s', s.engagement_ref, s.lead_score)
			  FROM crm._score_at(o, ARRAY(SELECT x.record_id FROM crm.score x WHERE x.organization_id = o AND x.score_updated_at = at), at) a
			  JOIN crm.score s ON s.organization_id = o AND s.record_id = a.record_id
			 WHERE abs(a.engagement_ref - s.engagement_ref) > 1e-9 * greatest(1, abs(a.engagement_ref))
				OR a.lead_score <> s.lead_score OR a.fit_score <> s.fit_score OR a.engagement_score <> s.engagement_score;
		END LOOP;
		RETURN QUERY
		SELECT 'lead'::text, l.id, 'a score row'::text, 'none'::text
		  FROM crm.lead l WHERE l.organization_id = o
		   AND NOT EXISTS (SELECT 1 FROM crm.score s WHERE s.organization_id = o AND s.record_id = l.id);
		RETURN QUERY
		SELECT 'score'::text, s.record_id, 'a live lead or contact'::text, 'no such record'::text
		  FROM crm.score s WHERE s.organization_id = o
		   AND NOT EXISTS (SELECT 1 FROM crm.lead l WHERE l.organization_id = o AND l.id = s.lead_id)
		   AND NOT EXISTS (SELECT 1 FROM crm.contact c WHERE c.organization_id = o AND c.id = s.contact_id);
	END LOOP;
	PERFORM set_config('crm.organization_id', coalesce(saved, ''), true);
END;
$$;
COMMENT ON FUNCTION crm.check_scores() IS
	'crm.verify() check: score tallies equal a recomputation from events and fit rules, and stored scores equal the tally at score_updated_at.';
INSERT INTO crm.verify_check VALUES
	('scores', 'crm.check_scores()', 'Lead and contact scores equal a recomputation from their events and fit rules.');

-- The leads with the highest engagement now: an index scan of
-- score_hottest_idx (the order by weighted points is the order now).
CREATE FUNCTION crm.hottest_leads(lim integer DEFAULT 50)
RETURNS TABLE (lead_id uuid, engagement_ref double precision, lead_score numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
BEGIN
	IF lim IS NULL OR lim < 1 OR lim > 10000 THEN
		RAISE EXCEPTION 'lim must be between 1 and 10000' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	RETURN QUERY SELECT s.lead_id, s.engagement_ref, s.lead_score FROM crm.score s
				  WHERE s.organization_id = org AND s.lead_id IS NOT NULL
				  ORDER BY s.engagement_ref DESC LIMIT lim;
END;
$$;
COMMENT ON FUNCTION crm.hottest_leads(integer) IS
	'The current organization''s leads with the most engagement now (index scan of score_hottest_idx), with their stored lead score.';

-- ---------------------------------------------------------------------------
-- Seeds
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm._seed_scoring(org uuid) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
SET crm.user_id = ''
AS $$
DECLARE
	eng uuid;
	fit uuid;
BEGIN
	INSERT INTO crm.engagement_event_type (organization_id, name, description)
	SELECT org, t.n, t.d FROM (VALUES
		('page_view', 'Viewed a page'), ('form_submit', 'Submitted a form'), ('email_open', 'Opened an email'),
		('email_click', 'Clicked a link in an email'), ('demo_request', 'Requested a demo'),
		('pricing_viewed', 'Viewed the pricing page'), ('signup_started', 'Started a signup'),
		('resource_downloaded', 'Downloaded a resource'), ('webinar_attended', 'Attended a webinar'),
		('meeting_booked', 'Booked a meeting'), ('unsubscribe', 'Unsubscribed')) AS t(n, d);
	-- the settings row last: until it exists, the model triggers re-score nothing
	INSERT INTO crm.scoring_group AS g (organization_id, name, kind, cap, half_life_days)
	VALUES (org, 'Engagement', 'engagement', NULL, 30) RETURNING g.id INTO eng;
	INSERT INTO crm.scoring_group AS g (organization_id, name, kind, cap, half_life_days)
	VALUES (org, 'Fit', 'fit', NULL, NULL) RETURNING g.id INTO fit;
	INSERT INTO crm.scoring_rule (organization_id, group_id, kind, name, event_type, points)
	VALUES (org, eng, 'engagement', 'Demo request', 'demo_request', 50),
		   (org, eng, 'engagement', 'Signup started', 'signup_started', 30),
		   (org, eng, 'engagement', 'Pricing viewed', 'pricing_viewed', 20),
		   (org, eng, 'engagement', 'Resource downloaded', 'resource_downloaded', 15),
		   (org, eng, 'engagement', 'Email click', 'email_click', 10),
		   (org, eng, 'engagement', 'Email open', 'email_open', 5),
		   (org, eng, 'engagement', 'Page view', 'page_view', 1);
	INSERT INTO crm.scoring_rule (organization_id, group_id, kind, name, entity, criteria, points)
	SELECT org, fit, 'fit', x.name, e.entity, x.criteria::jsonb, x.points
	  FROM (VALUES ('Senior title', '{"any": [{"field": "title", "op": "contains", "value": "vp"},
												{"field": "title", "op": "contains", "value": "vice president"},
												{"field": "title", "op": "contains", "value": "director"},
												{"field": "title", "op": "contains", "value": "chief"},
												{"field": "title", "op": "contains", "value": "head of"},
												{"field": "title", "op": "in", "value": ["ceo", "cto", "cfo", "coo", "cmo", "founder", "owner"]}]}', 20),
				   ('Referral source', '{"field": "lead_source", "op": "eq", "value": "referral"}', 25)) AS x(name, criteria, points),
		   (VALUES ('lead')) AS e(entity);
	INSERT INTO crm.scoring_settings (organization_id) VALUES (org);
END;
$$;
COMMENT ON FUNCTION crm._seed_scoring(uuid) IS
	'Internal (crm.create_organization): the default scoring model of a new organization: the built-in event types; engagement (half-life 30 days) demo request 50, signup started 30, pricing viewed 20, resource downloaded 15, email click 10, email open 5, page view 1; fit senior title +20, referral source +25; MQL 60, SQL 80.';
-- ============================================================================
-- 46 routing: new leads get an owner on insert (doc/routing.md)
--
-- Rules are tried in priority order; the first whose criteria document
-- matches (and whose action can assign) decides: a named user, the next
-- member of a team in round-robin, the owner of a territory, or no owner
-- (action none); the deciding rule also sets the lead's priority and adds
-- its tags.  A bulk insert is routed set-based: each rule is evaluated once
-- over the set of leads still unassigned, the round-robin turns of a team
-- are handed out in memory under one lock of the team's member rows, and
-- the outcome is written with one UPDATE and one INSERT.
-- ============================================================================

CREATE TABLE crm.routing_rule (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	name		text NOT NULL,
	priority	integer NOT NULL,
	criteria	jsonb,
	action		text NOT NULL,
	user_id		uuid,
	team_id		uuid,
	territory_id uuid,
	set_priority text,
	add_tags	text[] NOT NULL DEFAULT '{}',
	is_active	boolean NOT NULL DEFAULT true,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT routing_rule_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT routing_rule_priority_key UNIQUE (organization_id, priority),
	CONSTRAINT routing_rule_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT routing_rule_user_fkey FOREIGN KEY (organization_id, user_id) REFERENCES crm.app_user (organization_id, id),
	CONSTRAINT routing_rule_team_fkey FOREIGN KEY (organization_id, team_id) REFERENCES crm.team (organization_id, id),
	CONSTRAINT routing_rule_territory_fkey FOREIGN KEY (organization_id, territory_id) REFERENCES crm.territory (organization_id, id),
	CONSTRAINT routing_rule_name_not_blank CHECK (pg_catalog.btrim(name) <> ''),
	CONSTRAINT routing_rule_criteria_object CHECK (jsonb_typeof(criteria) = 'object'),
	CONSTRAINT routing_rule_action_valid CHECK (CASE action
		WHEN 'user' THEN user_id IS NOT NULL AND team_id IS NULL AND territory_id IS NULL
		WHEN 'round_robin' THEN team_id IS NOT NULL AND user_id IS NULL AND territory_id IS NULL
		WHEN 'territory' THEN territory_id IS NOT NULL AND user_id IS NULL AND team_id IS NULL
		WHEN 'none' THEN user_id IS NULL AND team_id IS NULL AND territory_id IS NULL
		ELSE false END),
	CONSTRAINT routing_rule_priority_valid CHECK (set_priority IN ('low', 'normal', 'high', 'urgent')),
	CONSTRAINT routing_rule_tags_no_null CHECK (array_position(add_tags, NULL) IS NULL)
);
COMMENT ON TABLE crm.routing_rule IS 'Lead routing: tried in priority order on every new lead without an owner; the first matching rule that can assign decides.';
COMMENT ON COLUMN crm.routing_rule.name IS 'Rule name (shown by crm.explain_routing).';
COMMENT ON COLUMN crm.routing_rule.priority IS 'Lower first; unique per organization.';
COMMENT ON COLUMN crm.routing_rule.criteria IS 'A criteria document over the lead (doc/criteria.md); NULL: every lead.';
COMMENT ON COLUMN crm.routing_rule.action IS 'user (assign user_id), round_robin (the next available member of team_id), territory (the owner of territory_id) or none (no owner: the lead keeps none, gets set_priority and add_tags, and later rules are not tried).';
COMMENT ON COLUMN crm.routing_rule.user_id IS 'action user: the owner to assign.';
COMMENT ON COLUMN crm.routing_rule.team_id IS 'action round_robin: the team (its members, see crm.routing_member).';
COMMENT ON COLUMN crm.routing_rule.territory_id IS 'action territory: the territory whose owner gets the lead.';
COMMENT ON COLUMN crm.routing_rule.set_priority IS 'Priority (low, normal, high, urgent) given to the lead it routes, when the lead was inserted without one; NULL: none.';
COMMENT ON COLUMN crm.routing_rule.add_tags IS 'Tags added to the lead it routes.';
COMMENT ON COLUMN crm.routing_rule.is_active IS 'Inactive rules are skipped.';
SELECT crm._setup_tenant_table('crm.routing_rule', label => 'routing rule');

-- The round-robin state of a team member (created on first use).
CREATE TABLE crm.routing_member (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	team_id		uuid NOT NULL,
	user_id		uuid NOT NULL,
	is_paused	boolean NOT NULL DEFAULT false,
	daily_capacity integer,
	turns		bigint NOT NULL DEFAULT 0,
	assigned_on	date,
	assigned_that_day integer NOT NULL DEFAULT 0,
	last_assigned_at timestamptz,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT routing_member_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT routing_member_key UNIQUE (organization_id, team_id, user_id),
	CONSTRAINT routing_member_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT routing_member_team_fkey FOREIGN KEY (organization_id, team_id) REFERENCES crm.team (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT routing_member_user_fkey FOREIGN KEY (organization_id, user_id) REFERENCES crm.app_user (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT routing_member_capacity_nonnegative CHECK (daily_capacity >= 0),
	CONSTRAINT routing_member_counts_nonnegative CHECK (turns >= 0 AND assigned_that_day >= 0)
);
COMMENT ON TABLE crm.routing_member IS 'Round-robin state and availability of a team member: paused, daily capacity, turns taken.';
COMMENT ON COLUMN crm.routing_member.team_id IS 'The crm.team.';
COMMENT ON COLUMN crm.routing_member.user_id IS 'The crm.app_user; only current members of the team (crm.team_member) take turns.';
COMMENT ON COLUMN crm.routing_member.is_paused IS 'A paused member gets no leads (holidays, overload).';
COMMENT ON COLUMN crm.routing_member.daily_capacity IS 'At most this many leads per day (UTC); NULL: no limit.';
COMMENT ON COLUMN crm.routing_member.turns IS 'Leads received through round-robin; the member with the fewest turns is next (a new member starts at the team''s lowest).';
COMMENT ON COLUMN crm.routing_member.assigned_on IS 'The day (UTC) assigned_that_day counts.';
COMMENT ON COLUMN crm.routing_member.assigned_that_day IS 'Leads received on assigned_on (for daily_capacity).';
COMMENT ON COLUMN crm.routing_member.last_assigned_at IS 'When the member last received a lead.';
SELECT crm._setup_tenant_table('crm.routing_member', label => 'routing member');

-- Why each lead got its owner (written by routing; read by crm.explain_routing).
CREATE TABLE crm.routing_decision (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	lead_id		uuid NOT NULL,
	rule_id		uuid,
	rule_name	text,
	assigned_to	uuid,
	lead_priority text,
	tags_added	text[] NOT NULL DEFAULT '{}',
	reason		text NOT NULL,
	decided_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT routing_decision_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT routing_decision_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id)
);
CREATE INDEX routing_decision_lead_idx ON crm.routing_decision (organization_id, lead_id);
COMMENT ON TABLE crm.routing_decision IS 'The routing of each new lead: the rule that assigned it (or none) and why.';
COMMENT ON COLUMN crm.routing_decision.lead_id IS 'The lead routed (a log: no foreign key, so that merging leads keeps the history of the merged-away lead).';
COMMENT ON COLUMN crm.routing_decision.rule_id IS 'The crm.routing_rule that assigned it; NULL when none did.';
COMMENT ON COLUMN crm.routing_decision.rule_name IS 'The rule''s name at the time.';
COMMENT ON COLUMN crm.routing_decision.assigned_to IS 'The owner given (crm.app_user); NULL: none.';
COMMENT ON COLUMN crm.routing_decision.lead_priority IS 'The priority the rule gave the lead (NULL: none given; a lead inserted with a priority keeps it).';
COMMENT ON COLUMN crm.routing_decision.tags_added IS 'The tags the rule added to the lead.';
COMMENT ON COLUMN crm.routing_decision.reason IS 'Why: the rule matched, and how the owner was chosen; or why no rule assigned.';
COMMENT ON COLUMN crm.routing_decision.decided_at IS 'When.';
SELECT crm._setup_tenant_table('crm.routing_decision', audited => false, label => 'routing decision');

-- Hand out n round-robin turns of a team: returns the members, in order,
-- fewer than n when capacity runs out.  The team's member rows are locked
-- (in user order) for the rest of the transaction, so concurrent inserts
-- take turns one after the other and never hand out the same turn twice.
CREATE FUNCTION crm._round_robin(org uuid, team uuid, n integer, at timestamptz)
RETURNS uuid[]
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	day date := (at AT TIME ZONE 'UTC')::date;
	users uuid[];
	turns bigint[];
	room integer[];
	got integer[];
	res uuid[] := '{}';
	best integer;
	i integer;
	k integer;
BEGIN
	-- members without state start at the team's fewest turns
	INSERT INTO crm.routing_member AS m (organization_id, team_id, user_id, turns)
	SELECT org, team, tm.user_id,
		   coalesce((SELECT min(x.turns) FROM crm.routing_member x WHERE x.organization_id = org AND x.team_id = team), 0)
	  FROM crm.team_member tm
	 WHERE tm.organization_id = org AND tm.team_id = team
	ORDER BY tm.user_id
	ON CONFLICT ON CONSTRAINT routing_member_key DO NOTHING;

	SELECT array_agg(m.user_id ORDER BY m.user_id), array_agg(m.turns ORDER BY m.user_id),
		   array_agg(CASE WHEN m.is_paused OR NOT u.is_active OR u.deleted_at IS NOT NULL THEN 0
						  WHEN m.daily_capacity IS NULL THEN 2147483647
						  ELSE greatest(m.daily_capacity - CASE WHEN m.assigned_on = day THEN m.assigned_that_day ELSE 0 END, 0) END
					 ORDER BY m.user_id)
	  INTO users, turns, room
	  FROM (SELECT * FROM crm.routing_member x WHERE x.organization_id = org AND x.team_id = team
			 ORDER BY x.user_id FOR UPDATE) m
	  JOIN crm.app_user u ON u.organization_id = org AND u.id = m.user_id
	 WHERE EXISTS (SELECT 1 FROM crm.team_member tm WHERE tm.organization_id = org AND tm.team_id = team AND tm.user_id = m.user_id);
	IF users IS NULL THEN
		RETURN res;
	END IF;
	got := array_fill(0, ARRAY[cardinality(users)]);
	FOR k IN 1 .. n LOOP
		best := NULL;
		FOR i IN 1 .. cardinality(users) LOOP
			IF room[i] > 0 AND (best IS NULL OR turns[i] < turns[best]) THEN
				best := i;
			END IF;
		END LOOP;
		EXIT WHEN best IS NULL;
		res := res || users[best];
		turns[best] := turns[best] + 1;
		room[best] := room[best] - 1;
		got[best] := got[best] + 1;
	END LOOP;
	UPDATE crm.routing_member m
	   SET turns = m.turns + g.n,
		   assigned_that_day = CASE WHEN m.assigned_on = day THEN m.assigned_that_day ELSE 0 END + g.n,
		   assigned_on = day, last_assigned_at = at
	  FROM unnest(users, got) AS g(u, n)
	 WHERE m.organization_id = org AND m.team_id = team AND m.user_id = g.u AND g.n > 0;
	RETURN res;
END;
$$;
COMMENT ON FUNCTION crm._round_robin(uuid, uuid, integer, timestamptz) IS
	'Internal: the next n round-robin owners of a team (fewest turns first; paused, inactive and full members skipped), under a lock of the team''s member rows.';

-- Route the new leads of a statement.
CREATE FUNCTION crm.trg_route_leads() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	o record;
	r record;
	todo uuid[];
	hit uuid[];
	owners uuid[];
	saved text;
	-- the decisions: lead, owner given (NULL: none), rule
	ids uuid[];
	who uuid[];
	rids uuid[];
	owner uuid;
	k integer;
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_route_leads()', TG_NAME, TG_RELID, TG_ARGV, '{lead}');
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN NULL;
	END IF;
	saved := current_setting('crm.organization_id', true);
	FOR o IN SELECT n.organization_id AS org, array_agg(n.id ORDER BY n.id) AS ids
			   FROM crm_new n WHERE n.owner_id IS NULL AND n.deleted_at IS NULL
			  GROUP BY 1 ORDER BY 1 LOOP
		CONTINUE WHEN NOT EXISTS (SELECT 1 FROM crm.routing_rule x WHERE x.organization_id = o.org AND x.is_active);
		PERFORM set_config('crm.organization_id', o.org::text, true);
		todo := o.ids;
		ids := '{}'; who := '{}'; rids := '{}';
		FOR r IN SELECT x.* FROM crm.routing_rule x WHERE x.organization_id = o.org AND x.is_active
				  ORDER BY x.priority LOOP
			EXIT WHEN cardinality(todo) = 0;
			SELECT coalesce(array_agg(t.id ORDER BY t.ord), '{}') INTO hit
			  FROM unnest(todo) WITH ORDINALITY AS t(id, ord)
			 WHERE r.criteria IS NULL OR crm.criteria_match(r.criteria, 'lead', t.id);
			CONTINUE WHEN cardinality(hit) = 0;
			owners := NULL;
			IF r.action = 'user' THEN
				SELECT u.id INTO owner FROM crm.app_user u
				 WHERE u.organization_id = o.org AND u.id = r.user_id AND u.is_active AND u.deleted_at IS NULL;
				IF owner IS NOT NULL THEN
					owners := array_fill(owner, ARRAY[cardinality(hit)]);
				END IF;
			ELSIF r.action = 'territory' THEN
				SELECT u.id INTO owner FROM crm.territory t JOIN crm.app_user u ON u.organization_id = o.org AND u.id = t.owner_id
				 WHERE t.organization_id = o.org AND t.id = r.territory_id AND t.deleted_at IS NULL
				   AND u.is_active AND u.deleted_at IS NULL;
				IF owner IS NOT NULL THEN
					owners := array_fill(owner, ARRAY[cardinality(hit)]);
				END IF;
			ELSIF r.action = 'round_robin' THEN
				owners := crm._round_robin(o.org, r.team_id, cardinality(hit), pg_catalog.now());
			ELSE
				-- none: the rule decides without an owner
				owners := array_fill(NULL::uuid, ARRAY[cardinality(hit)]);
			END IF;
			-- the first k leads the rule could decide (round-robin may run out
			-- of capacity); the others fall through to the next rule
			k := coalesce(cardinality(owners), 0);
			CONTINUE WHEN k = 0;
			ids := ids || hit[1:k];
			who := who || owners;
			rids := rids || array_fill(r.id, ARRAY[k]);
			todo := ARRAY(SELECT t.id FROM unnest(todo) WITH ORDINALITY AS t(id, ord)
						   LEFT JOIN unnest(hit[1:k]) AS h(id) ON h.id = t.id
						   WHERE h.id IS NULL ORDER BY t.ord);
		END LOOP;
		-- one UPDATE for the statement's leads: owner, priority (unless the
		-- writer gave one), tags; leads a rule left as they were are not
		-- written
		UPDATE crm.lead l
		   SET owner_id = coalesce(d.u, l.owner_id),
			   priority = coalesce(l.priority, q.set_priority),
			   tags = CASE WHEN cardinality(q.add_tags) = 0 THEN l.tags
						   ELSE ARRAY(SELECT DISTINCT x FROM unnest(l.tags || q.add_tags) x ORDER BY 1) END
		  FROM unnest(ids, who, rids) AS d(i, u, ri)
		  JOIN crm.routing_rule q ON q.organization_id = o.org AND q.id = d.ri
		 WHERE l.organization_id = o.org AND l.id = d.i
		   AND (d.u IS NOT NULL OR (l.priority IS NULL AND q.set_priority IS NOT NULL)
				OR NOT (l.tags OPERATOR(pg_catalog.@>) q.add_tags));
		INSERT INTO crm.routing_decision (organization_id, lead_id, rule_id, rule_name, assigned_to, lead_priority, tags_added, reason)
		SELECT o.org, d.i, q.id, q.name, d.u, p.priority, q.add_tags,
			   format('matched rule "%s" (priority %s): %s', q.name, q.priority, CASE q.action
						WHEN 'user' THEN 'assigned to its user'
						WHEN 'territory' THEN 'assigned to the owner of its territory'
						WHEN 'round_robin' THEN 'round-robin turn of its team (fewest turns among available members)'
						ELSE 'no owner (the rule assigns none)' END)
			   || CASE WHEN p.priority IS NOT NULL THEN format('; priority %s', p.priority) ELSE '' END
			   || CASE WHEN cardinality(q.add_tags) > 0 THEN format('; tags added: %s', array_to_string(q.add_tags, ', ')) ELSE '' END
		  FROM unnest(ids, who, rids) AS d(i, u, ri)
		  JOIN crm.routing_rule q ON q.organization_id = o.org AND q.id = d.ri
		  JOIN crm_new n ON n.organization_id = o.org AND n.id = d.i
		  CROSS JOIN LATERAL (SELECT CASE WHEN n.priority IS NULL THEN q.set_priority END AS priority) p
		UNION ALL
		SELECT o.org, t.id, NULL, NULL, NULL, NULL, '{}', 'no active rule matched that could assign an owner'
		  FROM unnest(todo) AS t(id);
	END LOOP;
	PERFORM set_config('crm.organization_id', coalesce(saved, ''), true);
	RETURN NULL;
END;
$$;
COMMENT ON FUNCTION crm.trg_route_leads() IS
	'AFTER INSERT statement trigger on crm.lead: gives new leads without an owner one by the routing rules, with the deciding rule''s priority and tags, set-based (one evaluation per rule over the statement''s leads, one update, one insert of decisions).';
CREATE TRIGGER crm_94_route AFTER INSERT ON crm.lead
	REFERENCING NEW TABLE AS crm_new FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_route_leads('lead');

-- Validate routing criteria when rules are written.
CREATE FUNCTION crm.trg_routing_rule_check() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	bad record;
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_routing_rule_check()', TG_NAME, TG_RELID, TG_ARGV, '{routing_rule}');
	IF NEW.criteria IS NOT NULL THEN
		SELECT v.path, v.message INTO bad FROM crm.criteria_validate(NEW.criteria, 'lead') v LIMIT 1;
		IF FOUND THEN
			RAISE EXCEPTION 'routing rule "%" has an invalid criteria document: % (at %)', NEW.name, bad.message, bad.path
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'See doc/criteria.md; crm.criteria_validate(criteria, ''lead'') lists every problem.';
		END IF;
	END IF;
	RETURN NEW;
END;
$$;
COMMENT ON FUNCTION crm.trg_routing_rule_check() IS
	'BEFORE INSERT/UPDATE row trigger on crm.routing_rule: the criteria document must be valid for leads of the organization.';
CREATE TRIGGER crm_30_check BEFORE INSERT OR UPDATE OF criteria ON crm.routing_rule
	FOR EACH ROW EXECUTE FUNCTION crm.trg_routing_rule_check('routing_rule');

-- Which rule assigned a lead, and why.
CREATE FUNCTION crm.explain_routing(lead_id uuid)
RETURNS TABLE (rule_name text, priority integer, action text, assigned_to uuid, assigned_to_name text,
			   lead_priority text, tags_added text[], reason text, decided_at timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
BEGIN
	IF NOT EXISTS (SELECT 1 FROM crm.lead l WHERE l.organization_id = org AND l.id = explain_routing.lead_id) THEN
		RAISE EXCEPTION 'lead % does not exist in this organization', explain_routing.lead_id
			USING ERRCODE = 'no_data_found';
	END IF;
	RETURN QUERY
	SELECT d.rule_name, r.priority, r.action, d.assigned_to, u.name, d.lead_priority, d.tags_added, d.reason, d.decided_at
	  FROM crm.routing_decision d
	  LEFT JOIN crm.routing_rule r ON r.organization_id = org AND r.id = d.rule_id
	  LEFT JOIN crm.app_user u ON u.organization_id = org AND u.id = d.assigned_to
	 WHERE d.organization_id = org AND d.lead_id = explain_routing.lead_id
	 ORDER BY d.decided_at, d.id;
END;
$$;
COMMENT ON FUNCTION crm.explain_routing(uuid) IS
	'How a lead was routed: the rule that decided (name, priority, action), the owner given, the priority and tags it gave the lead, and why; or that no rule could.';
-- ============================================================================
-- 50 custom fields: per-tenant field definitions; the custom_fields jsonb of
-- each record is validated against them by crm.trg_custom_fields (C)
-- ============================================================================

CREATE TABLE crm.custom_field (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	entity		text NOT NULL,
	name		text NOT NULL,
	label		text NOT NULL,
	field_type	text NOT NULL,
	is_required	boolean NOT NULL DEFAULT false,
	options		jsonb,
	description	text,
	position	integer NOT NULL DEFAULT 0,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT custom_field_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT custom_field_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT custom_field_name_key UNIQUE (organization_id, entity, name),
	CONSTRAINT custom_field_name_format CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
	CONSTRAINT custom_field_label_not_blank CHECK (pg_catalog.btrim(label) <> ''),
	CONSTRAINT custom_field_type_valid CHECK (field_type IN ('text', 'number', 'date', 'boolean', 'picklist', 'multi_picklist', 'url', 'email', 'phone', 'currency')),
	CONSTRAINT custom_field_options_for_picklists CHECK (
		CASE WHEN field_type IN ('picklist', 'multi_picklist')
			 THEN jsonb_typeof(options) = 'array' AND jsonb_array_length(options) > 0
			 ELSE options IS NULL OR jsonb_typeof(options) = 'object' END)
);
COMMENT ON TABLE crm.custom_field IS 'A tenant-defined field of an entity; values live in the entity''s custom_fields jsonb under name.';
COMMENT ON COLUMN crm.custom_field.entity IS 'The table the field belongs to: a crm.table_registry table with has_custom_fields (account, contact, lead, activity, ...); ''crm.contact'' is stored as ''contact''.';
COMMENT ON COLUMN crm.custom_field.name IS 'Key in custom_fields (lower snake_case).';
COMMENT ON COLUMN crm.custom_field.label IS 'Label shown to users.';
COMMENT ON COLUMN crm.custom_field.field_type IS 'text, number, date, boolean, picklist, multi_picklist, url, email, phone or currency.';
COMMENT ON COLUMN crm.custom_field.is_required IS 'Every record of the entity must carry a non-null value (checked on every write of custom_fields, and against stored records when the field becomes required).';
COMMENT ON COLUMN crm.custom_field.options IS 'picklist/multi_picklist: JSON array of the allowed strings; other types: optional JSON object of constraints (max_length, min, max).';
COMMENT ON COLUMN crm.custom_field.description IS 'Help text.';
COMMENT ON COLUMN crm.custom_field.position IS 'Display order.';
SELECT crm._setup_tenant_table('crm.custom_field', label => 'custom field');
-- The entity first (crm._entity_guard): a table of crm.table_registry with
-- custom fields, else 22023 naming them; stored as 'contact' for
-- 'crm.contact'.
CREATE TRIGGER crm_05_entity BEFORE INSERT OR UPDATE OF entity ON crm.custom_field
	FOR EACH ROW EXECUTE FUNCTION crm._entity_guard('custom_field', 'custom_fields');

-- The GIN index the definition-change re-check uses (custom_fields ? name);
-- account, contact and lead have theirs in their own files.
CREATE INDEX activity_custom_fields_idx ON crm.activity USING gin (custom_fields);

-- ---------------------------------------------------------------------------
-- The validator, callable from SQL (C, src/custom_fields.c over the pure
-- rules of src/cf_validate.c): the trigger, the definition guard and
-- crm.verify() all use the same code.
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm.custom_field_value_error(field_type text, options jsonb, value jsonb)
RETURNS text
	AS 'MODULE_PATHNAME', 'custom_field_value_error'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.custom_field_value_error(text, jsonb, jsonb) IS
	'NULL when value is acceptable for a custom field of that type and options (JSON null or SQL NULL: no value, acceptable), else the reason. Errors for an unknown type or invalid options.';

CREATE FUNCTION crm.custom_field_value_valid(field_type text, options jsonb, value jsonb)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT crm.custom_field_value_error(field_type, options, value) IS NULL $$;
COMMENT ON FUNCTION crm.custom_field_value_valid(text, jsonb, jsonb) IS
	'True when value is acceptable for a custom field of that type and options (see crm.custom_field_value_error for the reason when not).';

CREATE FUNCTION crm.custom_field_options_error(field_type text, options jsonb)
RETURNS text
	AS 'MODULE_PATHNAME', 'custom_field_options_error'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.custom_field_options_error(text, jsonb) IS
	'NULL when options suit a custom field of that type (picklist values; max_length; min/max), else what is wrong.';

CREATE FUNCTION crm.custom_fields_error(entity text, organization_id uuid, custom_fields jsonb)
RETURNS text
	AS 'MODULE_PATHNAME', 'custom_fields_error'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION crm.custom_fields_error(text, uuid, jsonb) IS
	'NULL when a custom_fields value passes crm.trg_custom_fields against the organization''s current definitions of the entity, else the error it would raise.';

CREATE FUNCTION crm._custom_field_lock(organization_id uuid, entity text)
RETURNS void
	AS 'MODULE_PATHNAME', 'custom_field_lock'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION crm._custom_field_lock(uuid, text) IS
	'Internal: the transaction-scoped exclusive lock of a (tenant, entity) pair that a definition change holds; writers of custom_fields hold it shared.';

-- ---------------------------------------------------------------------------
-- Definition changes keep stored values valid.  A change that could make
-- stored values invalid (a new definition, field_type, options, is_required,
-- name, entity) first takes the exclusive lock of the (tenant, entity) pair
-- -- so it waits for writers in flight and sees their rows -- then re-checks
-- the records that carry the field (GIN: custom_fields ? name), or all of
-- the tenant's records when the field is required, and refuses the change
-- when any would become invalid.  Deleting a definition removes the key from
-- the records.
-- ---------------------------------------------------------------------------

-- Count the tenant's records of entity that a definition would reject, with
-- one example (the smallest id) and its problem.
CREATE FUNCTION crm._custom_field_recheck(organization_id uuid, entity text, field_name text,
										  field_type text, options jsonb, is_required boolean,
										  OUT bad bigint, OUT example uuid, OUT example_problem text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	EXECUTE format(
		'SELECT count(*), (array_agg(b.id ORDER BY b.id))[1], (array_agg(b.why ORDER BY b.id))[1]
		   FROM (SELECT t.id,
						CASE WHEN coalesce(t.custom_fields -> $2, ''null'') = ''null''
							 THEN CASE WHEN $5 THEN ''the required value is missing'' END
							 ELSE crm.custom_field_value_error($3, $4, t.custom_fields -> $2) END AS why
				   FROM crm.%I t
				  WHERE t.organization_id = $1 %s) b
		  WHERE b.why IS NOT NULL',
		entity, CASE WHEN is_required THEN '' ELSE 'AND t.custom_fields ? $2' END)
	INTO bad, example, example_problem
	USING organization_id, field_name, field_type, options, is_required;
END;
$$;
COMMENT ON FUNCTION crm._custom_field_recheck(uuid, text, text, text, jsonb, boolean) IS
	'Internal: how many of a tenant''s records of entity a field definition would reject, with one example id and its problem.';

-- BEFORE INSERT OR UPDATE OR DELETE on crm.custom_field.  SECURITY DEFINER:
-- the definition lock (crm._custom_field_lock) and the re-check are internal
-- and not executable by application roles; every query here filters by the
-- definition's organization explicitly (row-level security does not apply to
-- the owner), and the definition row itself passed the caller's policy.
CREATE FUNCTION crm._custom_field_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	problem text;
	n bigint;
	ex uuid;
	r record;
	moved boolean := TG_OP = 'UPDATE' AND (NEW.name <> OLD.name OR NEW.entity <> OLD.entity);
	relevant boolean := TG_OP <> 'UPDATE' OR moved
		OR NEW.field_type <> OLD.field_type
		OR NEW.options IS DISTINCT FROM OLD.options
		OR NEW.is_required <> OLD.is_required;
BEGIN
	PERFORM crm._trigger_table_ok('crm._custom_field_guard()', TG_NAME, TG_RELID, TG_ARGV, '{custom_field}');
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
	END IF;
	IF TG_OP <> 'DELETE' THEN
		problem := crm.custom_field_options_error(NEW.field_type, NEW.options);
		IF problem IS NOT NULL THEN
			RAISE EXCEPTION 'invalid options for custom field "%" of crm.%', NEW.name, NEW.entity
				USING ERRCODE = 'invalid_parameter_value',
					  DETAIL = problem || '.',
					  HINT = 'picklist and multi_picklist: a JSON array of distinct strings; text: {"max_length": n}; number and currency: {"min": a, "max": b}; other types: no options.';
		END IF;
	END IF;
	IF NOT relevant THEN
		RETURN NEW;
	END IF;
	-- The re-check must see every committed record: only a READ COMMITTED
	-- statement takes a snapshot after the lock below is granted.
	IF current_setting('transaction_isolation') <> 'read committed' THEN
		RAISE EXCEPTION 'custom field definitions can only be changed in a READ COMMITTED transaction'
			USING ERRCODE = 'invalid_transaction_state',
				  DETAIL = format('The transaction isolation level is %s; the check of stored values would not see records committed since the transaction began.',
								  current_setting('transaction_isolation')),
				  HINT = 'Run the change in a transaction with the default isolation level (READ COMMITTED).';
	END IF;
	IF TG_OP <> 'INSERT' THEN
		PERFORM crm._custom_field_lock(OLD.organization_id, OLD.entity);
	END IF;
	IF TG_OP = 'DELETE' THEN
		RETURN OLD;				-- the records lose the key in crm._custom_field_strip
	END IF;
	PERFORM crm._custom_field_lock(NEW.organization_id, NEW.entity);

	IF moved THEN
		EXECUTE format('SELECT count(*), min(t.id::text)::uuid FROM crm.%I t
						 WHERE t.organization_id = $1 AND t.custom_fields ? $2', OLD.entity)
		INTO n, ex USING OLD.organization_id, OLD.name;
		IF n > 0 THEN
			RAISE EXCEPTION 'custom field "%" of crm.% cannot be renamed or moved: % record(s) hold values for it', OLD.name, OLD.entity, n
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  DETAIL = format('For example crm.%s %s.', OLD.entity, ex),
					  HINT = 'Create a new field, copy the values into it (custom_fields || jsonb_build_object(new, custom_fields -> old)), then delete the old field.';
		END IF;
	END IF;

	SELECT * INTO r FROM crm._custom_field_recheck(NEW.organization_id, NEW.entity, NEW.name,
												   NEW.field_type, NEW.options, NEW.is_required);
	IF r.bad > 0 THEN
		RAISE EXCEPTION 'custom field "%" of crm.% cannot be %: % stored record(s) would not be valid',
			NEW.name, NEW.entity, CASE TG_OP WHEN 'INSERT' THEN 'defined like this' ELSE 'changed like this' END, r.bad
			USING ERRCODE = 'check_violation',
				  DETAIL = format('For example crm.%s %s: %s.', NEW.entity, r.example, r.example_problem),
				  HINT = format('Correct or clear those values first (UPDATE crm.%s SET custom_fields = ...), then change the definition.', NEW.entity);
	END IF;
	RETURN NEW;
END;
$$;
COMMENT ON FUNCTION crm._custom_field_guard() IS
	'Trigger on crm.custom_field: validates options, refuses definition changes that stored values would not satisfy, and renames of fields in use.';
CREATE TRIGGER crm_30_custom_field_guard BEFORE INSERT OR UPDATE OR DELETE ON crm.custom_field
	FOR EACH ROW EXECUTE FUNCTION crm._custom_field_guard('custom_field');

-- AFTER DELETE on crm.custom_field: the field's values go with it.
CREATE FUNCTION crm._custom_field_strip() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	n bigint;
BEGIN
	PERFORM crm._trigger_table_ok('crm._custom_field_strip()', TG_NAME, TG_RELID, TG_ARGV, '{custom_field}');
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN NULL;
	END IF;
	EXECUTE format('UPDATE crm.%I t SET custom_fields = t.custom_fields - $2
					 WHERE t.organization_id = $1 AND t.custom_fields ? $2', OLD.entity)
	USING OLD.organization_id, OLD.name;
	GET DIAGNOSTICS n = ROW_COUNT;
	IF n > 0 THEN
		RAISE NOTICE 'removed custom field "%" from % record(s) of crm.%', OLD.name, n, OLD.entity;
	END IF;
	RETURN NULL;
END;
$$;
COMMENT ON FUNCTION crm._custom_field_strip() IS
	'Trigger on crm.custom_field: deleting a definition removes its key from the custom_fields of the tenant''s records.';
CREATE TRIGGER crm_80_custom_field_strip AFTER DELETE ON crm.custom_field
	FOR EACH ROW EXECUTE FUNCTION crm._custom_field_strip('custom_field');

-- ---------------------------------------------------------------------------
-- crm.verify() check: stored custom_fields that the trigger would reject
-- now (written behind its back: replication role replica, restore mode).
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm.check_custom_fields()
RETURNS TABLE (entity text, id uuid, expected text, actual text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	t name;
BEGIN
	FOR t IN
		-- every crm table with custom_fields (crm.table_registry)
		SELECT r.table_name FROM crm.table_registry r WHERE r.has_custom_fields ORDER BY r.table_name
	LOOP
		RETURN QUERY EXECUTE format(
			'SELECT %1$L::text, x.id, ''custom_fields valid against the definitions''::text, x.problem
			   FROM (SELECT t.organization_id, t.id, crm.custom_fields_error(%1$L, t.organization_id, t.custom_fields) AS problem
					   FROM crm.%1$I t) x
			  WHERE x.problem IS NOT NULL
			  ORDER BY x.organization_id, x.id', t);
	END LOOP;
END;
$$;
COMMENT ON FUNCTION crm.check_custom_fields() IS
	'crm.verify() check: records whose custom_fields do not validate against the current definitions (unknown key, invalid value, required value missing).';
INSERT INTO crm.verify_check VALUES
	('custom_fields', 'crm.check_custom_fields()', 'Every record''s custom_fields validate against the tenant''s custom field definitions.');
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
-- ============================================================================
-- 58 criteria: one condition language (JSON) for lists, routing, scoring and
-- SLA policies, compiled in C to parameterised SQL (src/criteria*.c,
-- doc/criteria.md)
-- ============================================================================

-- ---------------------------------------------------------------------------
-- Leakproof operators, so that indexes serve the compiled SQL under
-- row-level security.  PostgreSQL evaluates a user's condition inside an
-- index scan of a table with RLS only when its function is LEAKPROOF; the
-- built-in && and @> of arrays and @> of jsonb are not marked so, and a
-- tenant's tag or custom-field filter would then read every row of the
-- tenant.  These are the same built-in functions (pure functions of their
-- arguments; for text[] and jsonb they raise no error about the values)
-- declared LEAKPROOF, their operators, and GIN operator classes built from
-- the standard support functions (as crm.@@ in sql/70_search.sql).
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm.text_array_overlap(text[], text[]) RETURNS boolean
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF
	AS 'arrayoverlap';
COMMENT ON FUNCTION crm.text_array_overlap(text[], text[]) IS
	'text[] && text[] (the arrays share an element), declared LEAKPROOF so that GIN indexes serve it under row-level security; operator crm.&&.';
CREATE FUNCTION crm.text_array_contains(text[], text[]) RETURNS boolean
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF
	AS 'arraycontains';
COMMENT ON FUNCTION crm.text_array_contains(text[], text[]) IS
	'text[] @> text[] (the first holds every element of the second), declared LEAKPROOF so that GIN indexes serve it under row-level security; operator crm.@>.';
CREATE FUNCTION crm.jsonb_contains(jsonb, jsonb) RETURNS boolean
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF
	AS 'jsonb_contains';
COMMENT ON FUNCTION crm.jsonb_contains(jsonb, jsonb) IS
	'jsonb @> jsonb, declared LEAKPROOF so that GIN indexes serve it under row-level security; operator crm.@>.';

-- The built-in estimator of array containment refuses operators it does not
-- know: these call it as the built-in operator ours behave like.
CREATE FUNCTION crm._criteria_overlap_sel(internal, oid, internal, integer) RETURNS double precision
	AS 'MODULE_PATHNAME', 'criteria_overlap_sel'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm._criteria_overlap_sel(internal, oid, internal, integer) IS
	'Restriction selectivity of crm.&& on text[] (arraycontsel as for the built-in &&).';
CREATE FUNCTION crm._criteria_contains_sel(internal, oid, internal, integer) RETURNS double precision
	AS 'MODULE_PATHNAME', 'criteria_contains_sel'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm._criteria_contains_sel(internal, oid, internal, integer) IS
	'Restriction selectivity of crm.@> on text[] (arraycontsel as for the built-in @>).';

CREATE OPERATOR crm.&& (LEFTARG = text[], RIGHTARG = text[], FUNCTION = crm.text_array_overlap,
						COMMUTATOR = OPERATOR(crm.&&),
						RESTRICT = crm._criteria_overlap_sel, JOIN = arraycontjoinsel);
COMMENT ON OPERATOR crm.&& (text[], text[]) IS
	'The arrays share an element; served by GIN indexes with crm.text_array_ops under row-level security: tags OPERATOR(crm.&&) ARRAY[''vip''].';
CREATE OPERATOR crm.@> (LEFTARG = text[], RIGHTARG = text[], FUNCTION = crm.text_array_contains,
						RESTRICT = crm._criteria_contains_sel, JOIN = arraycontjoinsel);
COMMENT ON OPERATOR crm.@> (text[], text[]) IS
	'The first array holds every element of the second; served by GIN indexes with crm.text_array_ops under row-level security.';
CREATE OPERATOR crm.@> (LEFTARG = jsonb, RIGHTARG = jsonb, FUNCTION = crm.jsonb_contains,
						RESTRICT = matchingsel, JOIN = matchingjoinsel);
COMMENT ON OPERATOR crm.@> (jsonb, jsonb) IS
	'jsonb containment; served by GIN indexes with crm.jsonb_path_ops under row-level security: custom_fields OPERATOR(crm.@>) ''{"tier": "gold"}''.';

CREATE OPERATOR CLASS crm.text_array_ops FOR TYPE text[] USING gin AS
	OPERATOR 1 crm.&& (text[], text[]),
	OPERATOR 2 crm.@> (text[], text[]),
	FUNCTION 1 pg_catalog.bttextcmp(text, text),
	FUNCTION 2 pg_catalog.ginarrayextract(anyarray, internal, internal),
	FUNCTION 3 pg_catalog.ginqueryarrayextract(anyarray, internal, smallint, internal, internal, internal, internal),
	FUNCTION 4 pg_catalog.ginarrayconsistent(internal, smallint, anyarray, integer, internal, internal, internal, internal),
	FUNCTION 6 pg_catalog.ginarraytriconsistent(internal, smallint, anyarray, integer, internal, internal, internal),
	STORAGE text;
COMMENT ON OPERATOR FAMILY crm.text_array_ops USING gin IS 'GIN index support of crm.&& and crm.@> on text[] (tags under row-level security).';
CREATE OPERATOR CLASS crm.jsonb_path_ops FOR TYPE jsonb USING gin AS
	OPERATOR 7 crm.@> (jsonb, jsonb),
	FUNCTION 1 pg_catalog.btint4cmp(integer, integer),
	FUNCTION 2 pg_catalog.gin_extract_jsonb_path(jsonb, internal, internal),
	FUNCTION 3 pg_catalog.gin_extract_jsonb_query_path(jsonb, internal, smallint, internal, internal, internal, internal),
	FUNCTION 4 pg_catalog.gin_consistent_jsonb_path(internal, smallint, jsonb, integer, internal, internal, internal, internal),
	FUNCTION 6 pg_catalog.gin_triconsistent_jsonb_path(internal, smallint, jsonb, integer, internal, internal, internal),
	STORAGE integer;
COMMENT ON OPERATOR FAMILY crm.jsonb_path_ops USING gin IS 'GIN index support of crm.@> on jsonb (custom fields under row-level security).';

-- Case- and accent-insensitive text: the folding of search and duplicate
-- detection (similarity.c), the same C code in SQL and in the compiler.
CREATE FUNCTION crm.criteria_fold(text) RETURNS text
	AS 'MODULE_PATHNAME', 'criteria_fold'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION crm.criteria_fold(text) IS
	'Text as criteria compare it: lower case, Latin letters without accents (Müller -> muller); never raises an error (LEAKPROOF, so indexes on it serve criteria under row-level security).';

-- The indexes the compiled SQL uses (doc/criteria.md, "Indexes").  Tags:
-- crm.text_array_ops (replacing a plain GIN index on tags, which no query
-- under RLS could use).  Custom fields: crm.jsonb_path_ops besides the
-- jsonb_ops index that custom-field definition changes use (custom_fields ?
-- name).  Text: the folded value, in byte order, of the fields lists filter
-- most; partial, as the compiled SQL only reads live rows.
CREATE INDEX contact_tags_idx ON crm.contact USING gin (tags crm.text_array_ops);
CREATE INDEX lead_tags_idx ON crm.lead USING gin (tags crm.text_array_ops);
CREATE INDEX account_tags_idx ON crm.account USING gin (tags crm.text_array_ops);
CREATE INDEX activity_tags_idx ON crm.activity USING gin (tags crm.text_array_ops);
CREATE INDEX contact_criteria_cf_idx ON crm.contact USING gin (custom_fields crm.jsonb_path_ops);
CREATE INDEX lead_criteria_cf_idx ON crm.lead USING gin (custom_fields crm.jsonb_path_ops);
CREATE INDEX account_criteria_cf_idx ON crm.account USING gin (custom_fields crm.jsonb_path_ops);
CREATE INDEX contact_criteria_email_idx ON crm.contact (organization_id, (crm.criteria_fold(email::text) COLLATE "C")) WHERE deleted_at IS NULL;
CREATE INDEX contact_criteria_last_name_idx ON crm.contact (organization_id, (crm.criteria_fold(last_name) COLLATE "C")) WHERE deleted_at IS NULL;
CREATE INDEX lead_criteria_email_idx ON crm.lead (organization_id, (crm.criteria_fold(email::text) COLLATE "C")) WHERE deleted_at IS NULL;
CREATE INDEX lead_criteria_company_idx ON crm.lead (organization_id, (crm.criteria_fold(company) COLLATE "C")) WHERE deleted_at IS NULL;
CREATE INDEX account_criteria_name_idx ON crm.account (organization_id, (crm.criteria_fold(name) COLLATE "C")) WHERE deleted_at IS NULL;
CREATE INDEX account_criteria_industry_idx ON crm.account (organization_id, (crm.criteria_fold(industry) COLLATE "C")) WHERE deleted_at IS NULL;

-- ---------------------------------------------------------------------------
-- The field catalog
-- ---------------------------------------------------------------------------

-- The fields crm defines: the same for every tenant, part of the extension
-- (a view over a list, not a table: nothing a tenant owns).  source: column
-- (a column of the record), account (a column of a contact's account).
-- The tenant column and internal columns (ids of the record itself,
-- search vectors, created_by ...) are not fields.
CREATE VIEW crm.criteria_system_field WITH (security_invoker = true) AS
SELECT f.entity, f.name, f.source, f.column_name, f.type
  FROM (VALUES
	('contact', 'first_name', 'column', 'first_name', 'text'),
	('contact', 'last_name', 'column', 'last_name', 'text'),
	('contact', 'email', 'column', 'email', 'text'),
	('contact', 'phone', 'column', 'phone', 'text'),
	('contact', 'mobile', 'column', 'mobile', 'text'),
	('contact', 'title', 'column', 'title', 'text'),
	('contact', 'department', 'column', 'department', 'text'),
	('contact', 'lead_source', 'column', 'lead_source', 'text'),
	('contact', 'preferred_contact_method', 'column', 'preferred_contact_method', 'text'),
	('contact', 'timezone', 'column', 'timezone', 'text'),
	('contact', 'locale', 'column', 'locale', 'text'),
	('contact', 'birthday', 'column', 'birthday', 'date'),
	('contact', 'do_not_email', 'column', 'do_not_email', 'boolean'),
	('contact', 'do_not_call', 'column', 'do_not_call', 'boolean'),
	('contact', 'unsubscribed_at', 'column', 'unsubscribed_at', 'timestamp'),
	('contact', 'description', 'column', 'description', 'text'),
	('contact', 'owner_id', 'column', 'owner_id', 'uuid'),
	('contact', 'account_id', 'column', 'account_id', 'uuid'),
	('contact', 'tags', 'column', 'tags', 'tags'),
	('contact', 'created_at', 'column', 'created_at', 'timestamp'),
	('contact', 'updated_at', 'column', 'updated_at', 'timestamp'),
	('contact', 'account.name', 'account', 'name', 'text'),
	('contact', 'account.type', 'account', 'type', 'text'),
	('contact', 'account.status', 'account', 'status', 'text'),
	('contact', 'account.rating', 'account', 'rating', 'text'),
	('contact', 'account.industry', 'account', 'industry', 'text'),
	('contact', 'account.employee_count', 'account', 'employee_count', 'integer'),
	('contact', 'account.annual_revenue', 'account', 'annual_revenue', 'number'),
	('contact', 'account.domain', 'account', 'domain', 'text'),
	('contact', 'account.owner_id', 'account', 'owner_id', 'uuid'),
	('contact', 'account.tags', 'account', 'tags', 'tags'),
	('lead', 'first_name', 'column', 'first_name', 'text'),
	('lead', 'last_name', 'column', 'last_name', 'text'),
	('lead', 'email', 'column', 'email', 'text'),
	('lead', 'phone', 'column', 'phone', 'text'),
	('lead', 'company', 'column', 'company', 'text'),
	('lead', 'title', 'column', 'title', 'text'),
	('lead', 'website', 'column', 'website', 'text'),
	('lead', 'industry', 'column', 'industry', 'text'),
	('lead', 'employee_count', 'column', 'employee_count', 'integer'),
	('lead', 'lead_source', 'column', 'lead_source', 'text'),
	('lead', 'status', 'column', 'status', 'text'),
	('lead', 'priority', 'column', 'priority', 'text'),
	('lead', 'utm_source', 'column', 'utm_source', 'text'),
	('lead', 'utm_medium', 'column', 'utm_medium', 'text'),
	('lead', 'utm_campaign', 'column', 'utm_campaign', 'text'),
	('lead', 'utm_term', 'column', 'utm_term', 'text'),
	('lead', 'utm_content', 'column', 'utm_content', 'text'),
	('lead', 'converted_at', 'column', 'converted_at', 'timestamp'),
	('lead', 'description', 'column', 'description', 'text'),
	('lead', 'owner_id', 'column', 'owner_id', 'uuid'),
	('lead', 'tags', 'column', 'tags', 'tags'),
	('lead', 'created_at', 'column', 'created_at', 'timestamp'),
	('lead', 'updated_at', 'column', 'updated_at', 'timestamp'),
	('account', 'name', 'column', 'name', 'text'),
	('account', 'type', 'column', 'type', 'text'),
	('account', 'status', 'column', 'status', 'text'),
	('account', 'rating', 'column', 'rating', 'text'),
	('account', 'industry', 'column', 'industry', 'text'),
	('account', 'employee_count', 'column', 'employee_count', 'integer'),
	('account', 'annual_revenue', 'column', 'annual_revenue', 'number'),
	('account', 'currency', 'column', 'currency', 'text'),
	('account', 'website', 'column', 'website', 'text'),
	('account', 'domain', 'column', 'domain', 'text'),
	('account', 'phone', 'column', 'phone', 'text'),
	('account', 'description', 'column', 'description', 'text'),
	('account', 'owner_id', 'column', 'owner_id', 'uuid'),
	('account', 'parent_account_id', 'column', 'parent_account_id', 'uuid'),
	('account', 'territory_id', 'column', 'territory_id', 'uuid'),
	('account', 'tags', 'column', 'tags', 'tags'),
	('account', 'created_at', 'column', 'created_at', 'timestamp'),
	('account', 'updated_at', 'column', 'updated_at', 'timestamp'),
	('activity', 'type', 'column', 'type', 'text'),
	('activity', 'subject', 'column', 'subject', 'text'),
	('activity', 'status', 'column', 'status', 'text'),
	('activity', 'priority', 'column', 'priority', 'text'),
	('activity', 'direction', 'column', 'direction', 'text'),
	('activity', 'outcome', 'column', 'outcome', 'text'),
	('activity', 'activity_at', 'column', 'activity_at', 'timestamp'),
	('activity', 'due_at', 'column', 'due_at', 'timestamp'),
	('activity', 'completed_at', 'column', 'completed_at', 'timestamp'),
	('activity', 'duration_minutes', 'column', 'duration_minutes', 'integer'),
	('activity', 'owner_id', 'column', 'owner_id', 'uuid'),
	('activity', 'assignee_id', 'column', 'assignee_id', 'uuid'),
	('activity', 'tags', 'column', 'tags', 'tags'),
	('activity', 'created_at', 'column', 'created_at', 'timestamp'),
	-- support cases (sql/75_cases.sql): SLA policies match on these
	('case', 'subject', 'column', 'subject', 'text'),
	('case', 'status', 'column', 'status', 'text'),
	('case', 'priority', 'column', 'priority', 'text'),
	('case', 'severity', 'column', 'severity', 'integer'),
	('case', 'channel', 'column', 'channel', 'text'),
	('case', 'category', 'column', 'category', 'text'),
	('case', 'account_id', 'column', 'account_id', 'uuid'),
	('case', 'contact_id', 'column', 'contact_id', 'uuid'),
	('case', 'assignee_id', 'column', 'assignee_id', 'uuid'),
	('case', 'team_id', 'column', 'team_id', 'uuid'),
	('case', 'product_id', 'column', 'product_id', 'uuid'),
	('case', 'tags', 'column', 'tags', 'tags'),
	('case', 'created_at', 'column', 'created_at', 'timestamp'),
	('case', 'account.name', 'account', 'name', 'text'),
	('case', 'account.type', 'account', 'type', 'text'),
	('case', 'account.status', 'account', 'status', 'text'),
	('case', 'account.rating', 'account', 'rating', 'text'),
	('case', 'account.industry', 'account', 'industry', 'text'),
	('case', 'account.employee_count', 'account', 'employee_count', 'integer'),
	('case', 'account.annual_revenue', 'account', 'annual_revenue', 'number'),
	('case', 'account.tags', 'account', 'tags', 'tags')
  ) AS f(entity, name, source, column_name, type);
COMMENT ON VIEW crm.criteria_system_field IS 'The criteria fields crm defines for contact, lead, account, activity and case (columns, and a contact''s or case''s account.* fields); part of the extension, the same for every tenant.';
COMMENT ON COLUMN crm.criteria_system_field.entity IS 'contact, lead, account, activity or case (activity: also the fields of related-record conditions).';
COMMENT ON COLUMN crm.criteria_system_field.name IS 'The field name criteria use.';
COMMENT ON COLUMN crm.criteria_system_field.source IS 'column: a column of the record; account: a column of the contact''s (or case''s) account.';
COMMENT ON COLUMN crm.criteria_system_field.column_name IS 'The column read.';
COMMENT ON COLUMN crm.criteria_system_field.type IS 'text, integer, number, date, timestamp, boolean, uuid or tags.';

-- Whether a name is one of crm's fields of the entity (tenant fields must
-- not shadow them).
CREATE FUNCTION crm.criteria_is_system_field(entity text, name text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT EXISTS (SELECT 1 FROM crm.criteria_system_field s WHERE s.entity = $1 AND s.name = $2) $$;
COMMENT ON FUNCTION crm.criteria_is_system_field(text, text) IS
	'True when crm defines a criteria field of that name for the entity (immutable within an extension version).';

-- Fields a tenant adds without code: a key of one of the record's jsonb
-- columns, with a type.  The tenant's own rows only (row-level security).
CREATE TABLE crm.criteria_tenant_field (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	entity		text NOT NULL,
	name		text NOT NULL,
	column_name	text NOT NULL,
	json_key	text NOT NULL,
	type		text NOT NULL,
	description	text,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT criteria_tenant_field_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT criteria_tenant_field_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT criteria_tenant_field_name_key UNIQUE (organization_id, entity, name),
	CONSTRAINT criteria_tenant_field_entity_valid CHECK (entity IN ('contact', 'lead', 'account')),
	CONSTRAINT criteria_tenant_field_name_format CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
	CONSTRAINT criteria_tenant_field_not_system CHECK (NOT crm.criteria_is_system_field(entity, name)),
	CONSTRAINT criteria_tenant_field_column_valid CHECK (
		(entity, column_name) IN (('contact', 'custom_fields'), ('contact', 'social_profiles'), ('contact', 'mailing_address'),
								  ('lead', 'custom_fields'),
								  ('account', 'custom_fields'), ('account', 'billing_address'), ('account', 'shipping_address'))),
	CONSTRAINT criteria_tenant_field_key_not_blank CHECK (pg_catalog.btrim(json_key) <> ''),
	CONSTRAINT criteria_tenant_field_type_valid CHECK (type IN ('text', 'number', 'boolean', 'date'))
);
COMMENT ON TABLE crm.criteria_tenant_field IS 'A criteria field a tenant adds: a key of a jsonb column of the record (billing_address -> city), typed; invisible to other tenants.';
COMMENT ON COLUMN crm.criteria_tenant_field.entity IS 'contact, lead or account.';
COMMENT ON COLUMN crm.criteria_tenant_field.name IS 'The field name criteria use (lower snake_case, not one of crm''s fields).';
COMMENT ON COLUMN crm.criteria_tenant_field.column_name IS 'The jsonb column: custom_fields, or an address or social_profiles column of the entity.';
COMMENT ON COLUMN crm.criteria_tenant_field.json_key IS 'The key of the value in that column.';
COMMENT ON COLUMN crm.criteria_tenant_field.type IS 'text, number, boolean or date (a YYYY-MM-DD string).';
COMMENT ON COLUMN crm.criteria_tenant_field.description IS 'Help text.';
SELECT crm._setup_tenant_table('crm.criteria_tenant_field', label => 'criteria field');

-- Every backend caches compiled documents per tenant; a change to the
-- tables the catalog reads invalidates every backend's cache when it
-- commits (src/criteria.c).
CREATE FUNCTION crm.trg_criteria_catalog() RETURNS trigger
	AS 'MODULE_PATHNAME', 'criteria_catalog_changed'
	LANGUAGE C;
COMMENT ON FUNCTION crm.trg_criteria_catalog() IS
	'AFTER statement trigger on crm.custom_field and crm.criteria_tenant_field: invalidates the compiled criteria documents every backend caches.';
CREATE TRIGGER crm_95_criteria_catalog AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.custom_field
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_criteria_catalog();
CREATE TRIGGER crm_95_criteria_catalog AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.criteria_tenant_field
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_criteria_catalog();

CREATE FUNCTION crm.criteria_operators(type text, is_list boolean DEFAULT false) RETURNS text[]
	AS 'MODULE_PATHNAME', 'criteria_operators'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.criteria_operators(text, boolean) IS
	'The operators a criteria field of that type takes (is_list: a multi_picklist custom field).';

-- Every field of the current tenant: crm's, the custom fields
-- (custom_fields.<name>, typed by their crm.custom_field definition) and
-- the tenant's additions.  Each part filters by the tenant explicitly.
CREATE VIEW crm.criteria_field WITH (security_invoker = true) AS
SELECT s.entity, s.name, s.source, s.column_name, NULL::text AS json_key, s.type, false AS is_list,
	   CASE s.source WHEN 'account' THEN 'a.' || quote_ident(s.column_name) || ' (the contact''s account)'
					 ELSE 't.' || quote_ident(s.column_name) END AS sql_expression,
	   crm.criteria_operators(s.type, false) AS operators, true AS is_system
  FROM crm.criteria_system_field s
UNION ALL
SELECT f.entity, 'custom_fields.' || f.name, 'json', 'custom_fields', f.name,
	   CASE f.field_type WHEN 'number' THEN 'number' WHEN 'currency' THEN 'number' WHEN 'date' THEN 'date'
						 WHEN 'boolean' THEN 'boolean' ELSE 'text' END,
	   f.field_type = 'multi_picklist',
	   't.custom_fields ->> ' || quote_literal(f.name),
	   crm.criteria_operators(CASE f.field_type WHEN 'number' THEN 'number' WHEN 'currency' THEN 'number' WHEN 'date' THEN 'date'
											  WHEN 'boolean' THEN 'boolean' ELSE 'text' END, f.field_type = 'multi_picklist'),
	   false
  FROM crm.custom_field f
 WHERE f.organization_id = crm.current_org() AND f.entity IN ('contact', 'lead', 'account')
UNION ALL
SELECT t.entity, t.name, 'json', t.column_name, t.json_key, t.type, false,
	   't.' || quote_ident(t.column_name) || ' ->> ' || quote_literal(t.json_key),
	   crm.criteria_operators(t.type, false), false
  FROM crm.criteria_tenant_field t
 WHERE t.organization_id = crm.current_org();
COMMENT ON VIEW crm.criteria_field IS 'The criteria fields of the current tenant: crm''s (is_system), its custom fields (custom_fields.<name>) and its own additions (crm.criteria_tenant_field).';
COMMENT ON COLUMN crm.criteria_field.entity IS 'contact, lead, account or activity.';
COMMENT ON COLUMN crm.criteria_field.name IS 'The field name criteria use.';
COMMENT ON COLUMN crm.criteria_field.source IS 'column, account (a contact''s account) or json (a key of a jsonb column).';
COMMENT ON COLUMN crm.criteria_field.column_name IS 'The column read.';
COMMENT ON COLUMN crm.criteria_field.json_key IS 'For json fields: the key read.';
COMMENT ON COLUMN crm.criteria_field.type IS 'text, integer, number, date, timestamp, boolean, uuid or tags.';
COMMENT ON COLUMN crm.criteria_field.is_list IS 'A list of strings (multi_picklist custom field): has_any / has_all.';
COMMENT ON COLUMN crm.criteria_field.sql_expression IS 'What the compiled SQL reads (t: the record; keys are passed as parameters).';
COMMENT ON COLUMN crm.criteria_field.operators IS 'The operators the field takes.';
COMMENT ON COLUMN crm.criteria_field.is_system IS 'Defined by crm (true) or by the tenant (false).';

-- ---------------------------------------------------------------------------
-- The SQL surface
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm.criteria_validate(criteria jsonb, entity text)
RETURNS TABLE(path text, message text)
	AS 'MODULE_PATHNAME', 'criteria_validate'
	LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION crm.criteria_validate(jsonb, text) IS
	'Check a criteria document against the current tenant''s fields of the entity: no rows when valid, else the JSON path and what is wrong (for editors).';

CREATE FUNCTION crm.criteria_sql(criteria jsonb, entity text) RETURNS text
	AS 'MODULE_PATHNAME', 'criteria_sql'
	LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION crm.criteria_sql(jsonb, text) IS
	'The SQL a criteria document compiles to, with its parameters listed below it (to show and explain).';

CREATE FUNCTION crm.criteria_select(criteria jsonb, entity text, lim integer DEFAULT NULL) RETURNS SETOF uuid
	AS 'MODULE_PATHNAME', 'criteria_select'
	-- the compiled statement is planned under this path, not the caller's
	-- (an operator or function planted ahead of pg_catalog must not match)
	SET search_path = pg_catalog, crm, pg_temp
	LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION crm.criteria_select(jsonb, text, integer) IS
	'The ids of the current tenant''s live records of the entity that match the criteria (at most lim; NULL: all).';

CREATE FUNCTION crm.criteria_match(criteria jsonb, entity text, id uuid) RETURNS boolean
	AS 'MODULE_PATHNAME', 'criteria_match'
	-- the compiled statement is planned under this path, not the caller's
	-- (an operator or function planted ahead of pg_catalog must not match)
	SET search_path = pg_catalog, crm, pg_temp
	LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION crm.criteria_match(jsonb, text, uuid) IS
	'Whether the current tenant''s live record id of the entity matches the criteria (false when there is no such record).';
-- ============================================================================
-- 60 audit: crm.audit_log, written by crm.trg_audit (C) on every core table
-- ============================================================================

CREATE TABLE crm.audit_log (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	table_name	text NOT NULL,
	row_id		uuid NOT NULL,
	seq			integer NOT NULL,
	action		text NOT NULL,
	old_values	jsonb,
	new_values	jsonb,
	actor_id	uuid,
	db_role		text NOT NULL DEFAULT current_user,
	txid		xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
	changed_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT audit_log_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT audit_log_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT audit_log_action_valid CHECK (action IN ('INSERT', 'UPDATE', 'DELETE', 'MERGE', 'ERASE')),
	CONSTRAINT audit_log_seq_positive CHECK (seq > 0),
	-- The history of a record, in the order of its changes (and the proof
	-- that no two writers gave an entry the same place in it).
	CONSTRAINT audit_log_record_seq_key UNIQUE (organization_id, table_name, row_id, seq)
);
-- Time ranges: the log is appended in time order, so a BRIN index answers
-- "what changed last week" at a fraction of a btree's cost per write (every
-- audited row pays for each index of the log).
CREATE INDEX audit_log_time_idx ON crm.audit_log USING brin (changed_at);
COMMENT ON TABLE crm.audit_log IS 'Who changed what and when: one row per inserted, updated or deleted record of every core table (an INSERT entry does not repeat the row: crm.history reconstructs it).';
COMMENT ON COLUMN crm.audit_log.id IS 'Primary key within the organization (uuid v7: roughly time-ordered; the order of one record''s entries is seq).';
COMMENT ON COLUMN crm.audit_log.organization_id IS 'The tenant of the changed record.';
COMMENT ON COLUMN crm.audit_log.table_name IS 'The crm table of the changed record.';
COMMENT ON COLUMN crm.audit_log.row_id IS 'The id of the changed record.';
COMMENT ON COLUMN crm.audit_log.seq IS 'Place of the entry in the history of its record: 1, 2, 3, ... in the order the changes were made (taken under the record''s row lock; crm.history orders by it).';
COMMENT ON COLUMN crm.audit_log.action IS 'INSERT, UPDATE, DELETE (and MERGE, ERASE from the data-quality functions).';
COMMENT ON COLUMN crm.audit_log.old_values IS 'UPDATE: the changed columns before (JSON null: the column was NULL); DELETE: the whole row (non-null columns); INSERT: NULL.';
COMMENT ON COLUMN crm.audit_log.new_values IS 'UPDATE: the changed columns after; INSERT: NULL (the entry does not repeat the row; crm.history gives the row as inserted); DELETE: NULL.';
COMMENT ON COLUMN crm.audit_log.actor_id IS 'The acting crm.app_user (crm.user_id), NULL for system writes.';
COMMENT ON COLUMN crm.audit_log.db_role IS 'The database role that made the change.';
COMMENT ON COLUMN crm.audit_log.txid IS 'The transaction (pg_current_xact_id) that made the change.';
COMMENT ON COLUMN crm.audit_log.changed_at IS 'Transaction time of the change.';
SELECT crm._setup_tenant_table('crm.audit_log', audited => false, label => 'audit entry');

-- The timeline of one record, oldest first: in the order of its changes
-- (audit_log.seq).  The entity is an audited crm table, written 'contact' or
-- 'crm.contact' (crm._entity); anything else is an error, not an empty result.
--
-- INSERT entries do not repeat the inserted row (src/audit.c); crm.history
-- gives it back in new_values.  It reads the history backwards from the
-- record's last state (the row itself, or a DELETE entry's old_values): an
-- UPDATE entry's old_values are the values of those columns before it (JSON
-- null: the column was NULL), MERGE and ERASE entries describe changes that
-- UPDATE entries record, and what is left at an INSERT entry is the row as
-- it was inserted.  doc/design.md, "The audit log's INSERT entries".
CREATE FUNCTION crm.history(entity text, record_id uuid)
RETURNS TABLE (changed_at timestamptz, action text, actor_id uuid, db_role text,
			   old_values jsonb, new_values jsonb, txid xid8, audit_id uuid, seq integer)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	tbl text := crm._entity(history.entity, 'audited');
	org uuid := crm.current_org();
	maint constant text[] := ARRAY['updated_at', 'updated_by'];
	state jsonb;
	inserted jsonb := '{}';
	e record;
	k text;
	cols text;
BEGIN
	IF EXISTS (SELECT 1 FROM crm.audit_log a
				WHERE a.organization_id = org AND a.table_name = tbl AND a.row_id = history.record_id
				  AND a.action = 'INSERT' AND a.new_values IS NULL) THEN
		-- the row now, as an entry renders a whole row: its non-NULL
		-- columns, without generated columns and without updated_at and
		-- updated_by (no entry reports those, so no earlier state of them
		-- can be given)
		SELECT string_agg(format('(%L, to_jsonb(t.%I))', a.attname, a.attname), ', ' ORDER BY a.attnum)
		  INTO cols
		  FROM pg_attribute a
		 WHERE a.attrelid = format('crm.%I', tbl)::regclass AND a.attnum > 0 AND NOT a.attisdropped
		   AND a.attgenerated = '' AND a.attname <> ALL (maint);
		EXECUTE format('SELECT (SELECT pg_catalog.jsonb_object_agg(x.k, x.v) FROM (VALUES %s) x(k, v) WHERE x.v IS NOT NULL)'
					   '  FROM crm.%I t WHERE t.organization_id = $1 AND t.id = $2', cols, tbl)
		   INTO state USING org, history.record_id;
		FOR e IN SELECT a.action, a.old_values, a.new_values, a.seq FROM crm.audit_log a
				  WHERE a.organization_id = org AND a.table_name = tbl AND a.row_id = history.record_id
				  ORDER BY a.seq DESC LOOP
			IF e.action = 'DELETE' THEN
				-- the whole row as it was deleted
				state := e.old_values - maint;
			ELSIF e.action = 'UPDATE' AND e.new_values IS NULL THEN
				-- the row left this id (a key change): it was old_values
				state := e.old_values - maint;
			ELSIF e.action = 'UPDATE' AND e.old_values IS NULL THEN
				-- the row came to this id (a key change): nothing before
				state := NULL;
			ELSIF e.action = 'UPDATE' THEN
				FOR k IN SELECT jsonb_object_keys(e.old_values) LOOP
					IF jsonb_typeof(e.old_values -> k) = 'null' THEN
						state := coalesce(state, '{}') - k;
					ELSE
						state := coalesce(state, '{}') || jsonb_build_object(k, e.old_values -> k);
					END IF;
				END LOOP;
			ELSIF e.action = 'INSERT' THEN
				inserted := inserted || jsonb_build_object(e.seq::text, coalesce(e.new_values, state));
				state := NULL;
			END IF;
		END LOOP;
	END IF;
	RETURN QUERY
	SELECT a.changed_at, a.action, a.actor_id, a.db_role, a.old_values,
		   CASE WHEN a.action = 'INSERT' AND a.new_values IS NULL THEN inserted -> a.seq::text ELSE a.new_values END,
		   a.txid, a.id, a.seq
	  FROM crm.audit_log a
	 WHERE a.organization_id = org
	   AND a.table_name = tbl
	   AND a.row_id = history.record_id
	 ORDER BY a.seq;
END;
$$;
COMMENT ON FUNCTION crm.history(text, uuid) IS
	'The audit timeline of one record of the current organization, oldest first (in the order of the changes, audit_log.seq): crm.history(''contact'', id) or crm.history(''crm.contact'', id). An INSERT entry''s new_values is the row as inserted, reconstructed from the row and the later entries (the log does not repeat it; updated_at/updated_by are not part of the history).';

-- ---------------------------------------------------------------------------
-- crm.verify() check: duplicated audit entries.  A record's history starts
-- with its INSERT entry, and a later INSERT entry can only follow a DELETE
-- (the same id inserted again).  An INSERT entry anywhere else is a second
-- entry for the same insert: what a restore writes when crm's triggers are
-- live (no crm.pre_restore()) next to the restored history.
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm.check_audit_duplicates()
RETURNS TABLE (entity text, id uuid, expected text, actual text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
	SELECT h.table_name, h.row_id, 'INSERT entry first, or after a DELETE'::text,
		   pg_catalog.format('INSERT entry %s follows %s entry %s', h.seq, h.prev_action, h.prev_seq)
	  FROM (SELECT l.organization_id, l.table_name, l.row_id, l.seq, l.action,
				   pg_catalog.lag(l.action) OVER w AS prev_action,
				   pg_catalog.lag(l.seq) OVER w AS prev_seq
			  FROM crm.audit_log l
			WINDOW w AS (PARTITION BY l.organization_id, l.table_name, l.row_id ORDER BY l.seq)) h
	 WHERE h.action = 'INSERT' AND h.prev_action IS NOT NULL AND h.prev_action <> 'DELETE'
	 ORDER BY h.organization_id, h.table_name, h.row_id, h.seq;
$$;
COMMENT ON FUNCTION crm.check_audit_duplicates() IS
	'crm.verify() check: records whose audit history has an INSERT entry that is neither the first entry nor follows a DELETE (a duplicated entry, e.g. from a restore without crm.pre_restore()).';
INSERT INTO crm.verify_check VALUES
	('audit_duplicates', 'crm.check_audit_duplicates()', 'Every record''s audit history has one INSERT entry per life of the record: first, or right after a DELETE.');
-- ============================================================================
-- 66 merge: fold duplicate records into one.  Every foreign key that points
-- at the merged records is found in the catalog at call time (crm's own
-- tables, tables added later, and the user's tables in other schemas), so a
-- merge never leaves a reference behind.  Also: the writer of MERGE and
-- ERASE entries of crm.audit_log, reached only through crm.merge and
-- crm.subject_erase.
--
-- Merges are rare, catalog-driven administrative operations, so they are
-- written in PL/pgSQL; every identifier in dynamic SQL goes through %I /
-- quote_ident and every value through EXECUTE ... USING.
-- ============================================================================

-- The role that SQL outside any SECURITY DEFINER function runs as: the SET
-- ROLE role, else the session user.  Inside a SECURITY DEFINER function
-- current_user is the function's owner; this is who called it.
CREATE FUNCTION crm._invoking_role() RETURNS name
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN pg_catalog.current_setting('role') = 'none' THEN session_user
				ELSE pg_catalog.current_setting('role')::name END;
$$;
COMMENT ON FUNCTION crm._invoking_role() IS
	'Internal: the role the caller acts as (SET ROLE role, else the session user), also inside SECURITY DEFINER functions.';

-- The organization the caller acts for, checked against the caller's own
-- crm.grant_access restriction.  crm.current_org() checks the current and the
-- session user; inside a SECURITY DEFINER function the current user is the
-- owner, so the SET ROLE role has to be checked here.
CREATE FUNCTION crm._caller_org() RETURNS uuid
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
	caller name := crm._invoking_role();
BEGIN
	-- the limits of the role and of every role it is a member of, as
	-- crm.current_org() applies them (a superuser is bound only by its own)
	IF EXISTS (SELECT 1 FROM crm.role_access a, pg_roles r
				WHERE r.rolname = caller
				  AND (a.role::oid = r.oid OR (NOT r.rolsuper AND pg_has_role(r.oid, a.role::oid, 'MEMBER')))
				  AND a.organizations IS NOT NULL AND org <> ALL (a.organizations)) THEN
		RAISE EXCEPTION 'role "%" may not act for organization %', caller, org
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	RETURN org;
END;
$$;
COMMENT ON FUNCTION crm._caller_org() IS
	'Internal: crm.current_org(), also refusing an organization the calling role (not only the function owner) is restricted from.';

-- crm._caller_org(), for the SECURITY DEFINER functions that write rows on
-- the caller's behalf which application roles may only read (roll-ups,
-- counters, SLA state): also refused unless the calling role holds the
-- privilege on the table those rows derive from -- the readonly level,
-- which may call them, writes nothing through them.
CREATE FUNCTION crm._caller_org(tbl regclass, privilege text) RETURNS uuid
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm._caller_org();
	caller name := crm._invoking_role();
BEGIN
	IF NOT pg_catalog.has_table_privilege(caller, tbl, privilege) THEN
		RAISE EXCEPTION 'role "%" has no % privilege on %', caller, upper(privilege), crm._qualified(tbl)
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'crm.grant_access() gives this privilege to the user and admin levels, not to readonly.';
	END IF;
	RETURN org;
END;
$$;
COMMENT ON FUNCTION crm._caller_org(regclass, text) IS
	'Internal: crm._caller_org(), also refusing (42501) a calling role without the privilege (e.g. UPDATE) on the table.';

-- Write one MERGE or ERASE entry into crm.audit_log.  crm.audit_log is
-- read-only for application roles (only the audit trigger writes it), but
-- crm.merge and crm.subject_erase run as the caller; their owner's steps
-- (crm._merge_record, crm._subject_erase_record: src/owner_step.c) write
-- their entries through this function, which nobody else may execute.  It
-- checks as well: only MERGE and ERASE entries, only for an existing record
-- of the caller's organization, only in a crm tenant table the caller may
-- UPDATE, always with the true actor and database role.
CREATE FUNCTION crm._audit_write(entity regclass, row_id uuid, action text, old_values jsonb, new_values jsonb)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm._caller_org();
	caller name := crm._invoking_role();
	rel name;
	present boolean;
	entry uuid;
BEGIN
	IF action IS NULL OR action NOT IN ('MERGE', 'ERASE') THEN
		RAISE EXCEPTION 'crm._audit_write writes only MERGE and ERASE entries, not %', coalesce(action, 'NULL')
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	SELECT c.relname INTO rel
	  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE c.oid = _audit_write.entity AND n.nspname = 'crm'
	   AND c.relname IN (SELECT r.table_name FROM crm.table_registry r WHERE r.is_audited);
	IF rel IS NULL THEN
		RAISE EXCEPTION '% is not an audited crm table', crm._qualified(entity)
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF NOT pg_catalog.has_table_privilege(caller, entity, 'UPDATE') THEN
		RAISE EXCEPTION 'permission denied to write audit entries for %', crm._qualified(entity)
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = format('Role %s has no UPDATE privilege on the table.', caller);
	END IF;
	-- The owner bypasses row-level security: filter by tenant explicitly.
	-- The row lock (which crm.merge and crm.subject_erase hold already)
	-- orders this entry after every change of the record committed before
	-- and before every later one, as the audit trigger's entries are.
	EXECUTE format('SELECT EXISTS (SELECT 1 FROM crm.%I WHERE organization_id = $1 AND id = $2 FOR NO KEY UPDATE)', rel)
	   INTO present USING org, row_id;
	IF NOT present THEN
		RAISE EXCEPTION 'crm.% % not found in this organization', rel, row_id
			USING ERRCODE = 'no_data_found';
	END IF;
	INSERT INTO crm.audit_log AS a (organization_id, table_name, row_id, seq, action, old_values, new_values, actor_id, db_role)
	VALUES (org, rel, row_id,
			coalesce((SELECT max(l.seq) FROM crm.audit_log l
					   WHERE l.organization_id = org AND l.table_name = rel AND l.row_id = _audit_write.row_id), 0) + 1,
			action, old_values, new_values, crm.acting_user(), caller)
	RETURNING a.id INTO entry;
	RETURN entry;
END;
$$;
COMMENT ON FUNCTION crm._audit_write(regclass, uuid, text, jsonb, jsonb) IS
	'Internal: writes a MERGE or ERASE entry to crm.audit_log for an existing record of the caller''s organization in an audited crm table the caller may UPDATE; returns the entry id.';

-- A table's name, schema-qualified and quoted whatever the search_path.
CREATE FUNCTION crm._qualified(tbl regclass) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT format('%I.%I', n.nspname, c.relname)
	  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE c.oid = tbl;
$$;
COMMENT ON FUNCTION crm._qualified(regclass) IS 'Internal: schema.table of a table, quoted as needed, independent of search_path.';

-- The foreign keys that reference a table's (organization_id, id), in any
-- schema: the referencing table and its two columns.  Composite keys are the
-- only way to reference a crm tenant table (its only unique key is the
-- primary key (organization_id, id)).
CREATE FUNCTION crm._referencing_keys(entity regclass)
RETURNS TABLE (constraint_name name, ref_table regclass, org_column name, fk_column name)
LANGUAGE sql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
	SELECT k.conname, k.conrelid::regclass, ao.attname, ai.attname
	  FROM pg_constraint k
	  JOIN pg_class c ON c.oid = k.conrelid
	  JOIN pg_namespace n ON n.oid = c.relnamespace
	  JOIN pg_attribute po ON po.attrelid = k.confrelid AND po.attname = 'organization_id'
	  JOIN pg_attribute pi ON pi.attrelid = k.confrelid AND pi.attname = 'id'
	  JOIN pg_attribute ao ON ao.attrelid = k.conrelid
		   AND ao.attnum = k.conkey[array_position(k.confkey, po.attnum)]
	  JOIN pg_attribute ai ON ai.attrelid = k.conrelid
		   AND ai.attnum = k.conkey[array_position(k.confkey, pi.attnum)]
	 WHERE k.contype = 'f' AND k.confrelid = entity
	   AND k.conparentid = 0			-- a partitioned table's key once, not per partition
	   AND cardinality(k.confkey) = 2
	   AND po.attnum = ANY (k.confkey) AND pi.attnum = ANY (k.confkey)
	 ORDER BY n.nspname, c.relname, ai.attname, k.conname;
$$;
COMMENT ON FUNCTION crm._referencing_keys(regclass) IS
	'Internal: every foreign key (any schema) that references the table''s (organization_id, id), with its referencing table and columns.';

-- SQL of a condition, on the row aliased "v" of ref_table whose fk_column
-- points at a victim ($3, uuid[]), that is true when moving that row to the
-- survivor ($1) would collide in a unique index containing fk_column with a
-- row that wins: a row already pointing at the survivor, or a row pointing
-- at a victim earlier in the victims array.  Built from the catalog's unique
-- indexes (key columns, expressions, partial-index predicates); NULL when no
-- unique index contains fk_column.
CREATE FUNCTION crm._merge_collision_sql(ref_table regclass, org_column name, fk_column name)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	fk_att smallint := (SELECT a.attnum FROM pg_attribute a
						 WHERE a.attrelid = ref_table AND a.attname = fk_column);
	ix record;
	k integer;
	att smallint;
	expr text;
	sides text[];
	conds text[];
	alts text[] := '{}';
	alias text;
BEGIN
	FOR ix IN
		SELECT i.indexrelid, i.indnkeyatts, i.indnullsnotdistinct,
			   string_to_array(i.indkey::text, ' ')::smallint[] AS keys,
			   pg_get_expr(i.indpred, i.indrelid) AS pred
		  FROM pg_index i
		 WHERE i.indrelid = ref_table AND i.indisunique AND i.indisvalid
		   AND fk_att = ANY ((string_to_array(i.indkey::text, ' ')::smallint[])[1:i.indnkeyatts])
		 ORDER BY i.indexrelid
	LOOP
		-- w: a winning row (already at the survivor, or at an earlier victim)
		conds := ARRAY[format('w.%1$I = v.%1$I', org_column),
					   format('(w.%1$I = $1 OR array_position($3, w.%1$I) < array_position($3, v.%1$I))', fk_column)];
		FOR k IN 1 .. ix.indnkeyatts LOOP
			att := ix.keys[k];
			IF att = fk_att THEN
				CONTINUE;			-- equal once moved
			END IF;
			sides := '{}';
			FOREACH alias IN ARRAY ARRAY['w', 'v'] LOOP
				IF att <> 0 THEN
					sides := sides || (alias || '.' || quote_ident((SELECT a.attname FROM pg_attribute a
																	 WHERE a.attrelid = ref_table AND a.attnum = att)));
				ELSE
					-- an index expression, evaluated on the same physical row
					expr := pg_get_indexdef(ix.indexrelid, k, false);
					sides := sides || ('(SELECT (' || expr || ') FROM ' || crm._qualified(ref_table) || ' q WHERE q.tableoid = '
									   || alias || '.tableoid AND q.ctid = ' || alias || '.ctid)');
				END IF;
			END LOOP;
			conds := conds || (sides[1] || CASE WHEN ix.indnullsnotdistinct THEN ' IS NOT DISTINCT FROM ' ELSE ' = ' END || sides[2]);
		END LOOP;
		IF ix.pred IS NOT NULL THEN
			-- both rows must be covered by a partial index to collide in it
			FOREACH alias IN ARRAY ARRAY['w', 'v'] LOOP
				conds := conds || ('coalesce((SELECT (' || ix.pred || ') FROM ' || crm._qualified(ref_table) || ' q WHERE q.tableoid = '
								   || alias || '.tableoid AND q.ctid = ' || alias || '.ctid), false)');
			END LOOP;
		END IF;
		alts := alts || ('EXISTS (SELECT 1 FROM ' || crm._qualified(ref_table) || ' w WHERE ' || array_to_string(conds, ' AND ') || ')');
	END LOOP;
	IF cardinality(alts) = 0 THEN
		RETURN NULL;
	END IF;
	RETURN '(' || array_to_string(alts, ' OR ') || ')';
END;
$$;
COMMENT ON FUNCTION crm._merge_collision_sql(regclass, name, name) IS
	'Internal: SQL condition on row "v" that is true when re-pointing it from a victim to the survivor would violate a unique index of its table (from the catalog).';

-- Merge victims into survivor.  See doc/data_quality.md, "Merging records".
-- crm.merge (below) runs this as the caller, then crm._merge_record as the
-- owner (src/owner_step.c); neither step is executable by anyone else.
-- Returns the summary and the MERGE entries to write.
CREATE FUNCTION crm._merge_run(entity text, survivor uuid, victims uuid[], field_choices jsonb)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
	rel name;
	tbl regclass;					-- the entity's table
	qual text;						-- the entity, schema-qualified and quoted
	all_ids uuid[];
	found_ids uuid[];
	deleted_ids uuid[];
	fk record;
	coll text;
	n bigint;
	key text;
	repointed jsonb := '{}';
	collisions jsonb := '{}';
	self_columns name[] := '{}';
	snapshot jsonb;					-- id -> the record as jsonb, after re-pointing
	surv jsonb;
	c record;
	cur jsonb;
	val jsonb;
	src text;
	i integer;
	new_values jsonb := '{}';
	old_fields jsonb := '{}';
	new_fields jsonb := '{}';
	sources jsonb := '{}';
	set_list text[] := '{}';
	fixed constant name[] := ARRAY['id', 'organization_id', 'created_at', 'created_by',
								   'updated_at', 'updated_by', 'deleted_at'];
	summary jsonb;
	v uuid;
BEGIN
	-- The entity: a crm tenant table ('contact' or 'crm.contact') with the
	-- columns a merge needs.
	rel := crm._entity(_merge_run.entity);
	tbl := format('crm.%I', rel)::regclass;
	IF (SELECT count(*) FROM pg_attribute a
		 WHERE a.attrelid = tbl AND a.attname IN ('id', 'deleted_at') AND NOT a.attisdropped) <> 2 THEN
		RAISE EXCEPTION 'crm.% cannot be merged: it has no id and deleted_at columns', rel
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	qual := format('crm.%I', rel);

	-- The ids.
	IF survivor IS NULL THEN
		RAISE EXCEPTION 'the survivor must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF victims IS NULL OR cardinality(victims) = 0 THEN
		RAISE EXCEPTION 'victims must be a non-empty array of ids' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF array_position(victims, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'victims must not contain NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF survivor = ANY (victims) THEN
		RAISE EXCEPTION 'the survivor % is also among the victims', survivor
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF (SELECT count(DISTINCT x) FROM unnest(victims) x) <> cardinality(victims) THEN
		RAISE EXCEPTION 'victims contains an id more than once' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF field_choices IS NULL OR jsonb_typeof(field_choices) <> 'object' THEN
		RAISE EXCEPTION 'field_choices must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	all_ids := survivor || victims;

	-- Lock the records in id order (two merges of overlapping sets cannot
	-- deadlock), then check that each exists here and is not deleted.
	-- Another tenant's record is invisible (row-level security and the
	-- explicit organization filter): it is "not found", never touched.
	EXECUTE format('SELECT array_agg(t.id ORDER BY t.id), array_agg(t.id ORDER BY t.id) FILTER (WHERE t.deleted_at IS NOT NULL)
					  FROM (SELECT id, deleted_at FROM %s WHERE organization_id = $1 AND id = ANY ($2)
							 ORDER BY id FOR UPDATE) t', qual)
	   INTO found_ids, deleted_ids USING org, all_ids;
	IF coalesce(cardinality(found_ids), 0) <> cardinality(all_ids) THEN
		RAISE EXCEPTION 'crm.% not found in this organization: %', rel,
				array_to_string(ARRAY(SELECT x FROM unnest(all_ids) x WHERE x <> ALL (coalesce(found_ids, '{}')) ORDER BY x), ', ')
			USING ERRCODE = 'no_data_found';
	END IF;
	IF deleted_ids IS NOT NULL THEN
		RAISE EXCEPTION 'crm.% is deleted: %', rel, array_to_string(deleted_ids, ', ')
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Restore it first (deleted_at = NULL) or leave it out of the merge.';
	END IF;

	-- Field choices name fillable columns and records of the merge.
	FOR key, val IN SELECT * FROM jsonb_each(field_choices) LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_attribute a
						WHERE a.attrelid = tbl AND a.attname = key AND a.attnum > 0 AND NOT a.attisdropped
						  AND a.attgenerated = '' AND a.attidentity <> 'a' AND a.attname <> ALL (fixed)) THEN
			RAISE EXCEPTION 'field_choices: crm.% has no column "%" that a merge can set', rel, key
				USING ERRCODE = 'undefined_column';
		END IF;
		IF jsonb_typeof(val) <> 'null' AND (jsonb_typeof(val) <> 'string'
			 OR (val #>> '{}') !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
			 OR (val #>> '{}')::uuid <> ALL (all_ids)) THEN
			RAISE EXCEPTION 'field_choices: "%" must be null (keep the survivor''s value) or the id of the survivor or a victim, not %', key, val
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
	END LOOP;

	-- Re-point every reference to a victim.  A referencing row whose move
	-- would collide in a unique index is removed instead: soft-deleted
	-- (staying with the victim) when its table has deleted_at, else deleted.
	FOR fk IN SELECT * FROM crm._referencing_keys(tbl) LOOP
		key := crm._qualified(fk.ref_table) || '.' || quote_ident(fk.fk_column);
		IF fk.ref_table = tbl THEN
			-- A self reference (parent account): the survivor cannot become
			-- its own parent; it takes the victim's parent instead, or none.
			self_columns := self_columns || fk.fk_column;
			EXECUTE format('UPDATE %1$s s SET %2$I = (SELECT CASE WHEN p.%2$I = ANY ($3) THEN NULL ELSE p.%2$I END
														  FROM %1$s p WHERE p.%3$I = s.%3$I AND p.id = s.%2$I)
							 WHERE s.%3$I = $2 AND s.id = $1 AND s.%2$I = ANY ($3)',
						   crm._qualified(fk.ref_table), fk.fk_column, fk.org_column)
			USING survivor, org, all_ids;
		END IF;
		coll := crm._merge_collision_sql(fk.ref_table, fk.org_column, fk.fk_column);
		EXECUTE format('UPDATE %s v SET %I = $1 WHERE v.%I = $2 AND v.%I = ANY ($3)%s',
					   crm._qualified(fk.ref_table), fk.fk_column, fk.org_column, fk.fk_column,
					   CASE WHEN coll IS NULL THEN '' ELSE ' AND NOT ' || coll END)
		USING survivor, org, victims;
		GET DIAGNOSTICS n = ROW_COUNT;
		IF n > 0 THEN
			repointed := repointed || jsonb_build_object(key, n);
		END IF;
		IF coll IS NOT NULL THEN
			-- what still points at a victim collided
			IF EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = fk.ref_table AND a.attname = 'deleted_at' AND NOT a.attisdropped) THEN
				EXECUTE format('UPDATE %s v SET deleted_at = coalesce(v.deleted_at, pg_catalog.now()) WHERE v.%I = $1 AND v.%I = ANY ($2)',
							   crm._qualified(fk.ref_table), fk.org_column, fk.fk_column)
				USING org, victims;
			ELSE
				EXECUTE format('DELETE FROM %s v WHERE v.%I = $1 AND v.%I = ANY ($2)',
							   crm._qualified(fk.ref_table), fk.org_column, fk.fk_column)
				USING org, victims;
			END IF;
			GET DIAGNOSTICS n = ROW_COUNT;
			IF n > 0 THEN
				collisions := collisions || jsonb_build_object(key, n);
			END IF;
		END IF;
	END LOOP;

	-- The records as they are now, then the victims leave (before the
	-- survivor takes their values, so a unique key can move across).
	EXECUTE format('SELECT jsonb_object_agg(t.id::text, to_jsonb(t)) FROM %s t WHERE t.organization_id = $1 AND t.id = ANY ($2)', qual)
	   INTO snapshot USING org, all_ids;
	EXECUTE format('UPDATE %s SET deleted_at = pg_catalog.now() WHERE organization_id = $1 AND id = ANY ($2)', qual)
	USING org, victims;

	-- Fill the survivor's fields.
	surv := snapshot -> survivor::text;
	FOR c IN
		SELECT a.attname, pg_catalog.format_type(a.atttypid, NULL) AS typ
		  FROM pg_attribute a
		 WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped
		   AND a.attgenerated = '' AND a.attidentity <> 'a' AND a.attname <> ALL (fixed)
		 ORDER BY a.attnum
	LOOP
		cur := surv -> c.attname;
		val := NULL;
		src := NULL;
		IF field_choices ? c.attname THEN
			src := field_choices ->> c.attname;
			IF src IS NULL THEN
				CONTINUE;			-- keep the survivor's value
			END IF;
			val := snapshot -> src -> c.attname;
		ELSIF c.attname = 'tags' AND c.typ = 'text[]' THEN
			-- the union, in order of first appearance (survivor first)
			SELECT coalesce(jsonb_agg(e ORDER BY si, ei), '[]') INTO val
			  FROM (SELECT DISTINCT ON (t.e) t.e, s.si, t.ei
					  FROM unnest(all_ids) WITH ORDINALITY s(id, si),
						   jsonb_array_elements(CASE WHEN jsonb_typeof(snapshot -> s.id::text -> 'tags') = 'array'
													 THEN snapshot -> s.id::text -> 'tags' ELSE '[]' END)
							 WITH ORDINALITY t(e, ei)
					 ORDER BY t.e, s.si, t.ei) u;
		ELSIF c.attname = 'custom_fields' AND c.typ = 'jsonb' THEN
			-- the survivor's keys win, then earlier victims over later ones
			val := '{}';
			FOR i IN REVERSE cardinality(victims) .. 1 LOOP
				IF jsonb_typeof(snapshot -> victims[i]::text -> 'custom_fields') = 'object' THEN
					val := val || (snapshot -> victims[i]::text -> 'custom_fields');
				END IF;
			END LOOP;
			IF jsonb_typeof(cur) = 'object' THEN
				val := val || cur;
			END IF;
		ELSIF cur IS NULL OR cur IN ('null', '""', '{}', '[]') THEN
			-- empty: the first victim (in array order) that has a value
			FOREACH v IN ARRAY victims LOOP
				val := snapshot -> v::text -> c.attname;
				IF val IS NOT NULL AND val NOT IN ('null', '""', '{}', '[]')
				   AND NOT (c.attname = ANY (self_columns) AND (val #>> '{}')::uuid = ANY (all_ids)) THEN
					src := v::text;
					EXIT;
				END IF;
				val := NULL;
			END LOOP;
			IF val IS NULL THEN
				CONTINUE;
			END IF;
		ELSE
			CONTINUE;
		END IF;
		IF val IS DISTINCT FROM cur THEN
			new_values := new_values || jsonb_build_object(c.attname, val);
			old_fields := old_fields || jsonb_build_object(c.attname, cur);
			new_fields := new_fields || jsonb_build_object(c.attname, val);
			IF src IS NOT NULL THEN
				sources := sources || jsonb_build_object(c.attname, src);
			END IF;
			set_list := set_list || format('%1$I = r.%1$I', c.attname);
		END IF;
	END LOOP;
	IF cardinality(set_list) > 0 THEN
		EXECUTE format('UPDATE %s t SET %s FROM jsonb_populate_record(NULL::%s, $1) r WHERE t.organization_id = $2 AND t.id = $3',
					   qual, array_to_string(set_list, ', '), qual)
		USING new_values, org, survivor;
	END IF;

	summary := jsonb_build_object(
		'entity', rel,
		'survivor', survivor,
		'victims', to_jsonb(victims),
		'repointed', repointed,
		'collisions_removed', collisions,
		'fields_filled', sources,
		'fields_changed', to_jsonb(ARRAY(SELECT jsonb_object_keys(new_fields) ORDER BY 1)));

	PERFORM crm.emit(rel || '.merged', rel, survivor, summary);
	-- What crm._merge_record writes: one entry per victim, one for the
	-- survivor.
	RETURN jsonb_build_object(
		'table', tbl::oid,
		'summary', summary,
		'entries', (SELECT jsonb_agg(jsonb_build_object(
								'row_id', x.victim_id,
								'old_values', jsonb_build_object('deleted_at', NULL),
								'new_values', jsonb_build_object('merged_into', survivor,
																 'deleted_at', pg_catalog.now(),
																 'merged_with', to_jsonb(victims)))
								ORDER BY x.pos)
					  FROM unnest(victims) WITH ORDINALITY x(victim_id, pos))
				   || jsonb_build_array(jsonb_build_object(
						'row_id', survivor,
						'old_values', old_fields,
						'new_values', new_fields || jsonb_build_object('_merge', summary - 'entity' - 'survivor'))));
END;
$$;
COMMENT ON FUNCTION crm._merge_run(text, uuid, uuid[], jsonb) IS
	'Internal (crm.merge, as the caller): the merge; returns the summary and the MERGE audit entries crm._merge_record writes.';

-- The owner's step of crm.merge: the MERGE entries of what crm._merge_run
-- did, through crm._audit_write (which checks the caller's organization
-- and privilege and that each record exists).
CREATE FUNCTION crm._merge_record(state jsonb)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	e jsonb;
BEGIN
	FOR e IN SELECT x FROM jsonb_array_elements(state -> 'entries') x LOOP
		PERFORM crm._audit_write((state ->> 'table')::oid::regclass, (e ->> 'row_id')::uuid, 'MERGE',
								 e -> 'old_values', e -> 'new_values');
	END LOOP;
	RETURN state -> 'summary';
END;
$$;
COMMENT ON FUNCTION crm._merge_record(jsonb) IS
	'Internal (crm.merge, as the owner): writes the MERGE audit entries crm._merge_run returned; returns the summary.';

CREATE FUNCTION crm.merge(entity text, survivor uuid, victims uuid[], field_choices jsonb DEFAULT '{}')
RETURNS jsonb
	AS 'MODULE_PATHNAME', 'owner_step_call'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION crm.merge(text, uuid, uuid[], jsonb) IS
	'Merges victims into survivor (same crm table, current organization): re-points every foreign key (any schema, from the catalog), resolves unique collisions, fills the survivor''s empty fields (field_choices {"column": id|null} overrides), unions tags and custom_fields, soft-deletes the victims, writes MERGE audit entries and a <entity>.merged event. Returns a summary. Runs as the caller, in the caller''s transaction.';
-- ============================================================================
-- 67 privacy: which columns hold personal data (crm.pii_column), a data
-- subject's export (crm.subject_export) and erasure (crm.subject_erase), and
-- the proof of an erasure that keeps no personal data (crm.erasure_log).
--
-- Everything is driven by crm.pii_column, so the user's own tables are
-- covered once their columns are registered there.  Rare administrative
-- operations: PL/pgSQL, identifiers through %I, values through USING.
-- ============================================================================

-- ---------------------------------------------------------------------------
-- The catalog of personal-data columns.  Global, not per tenant: it
-- describes the schema, which all tenants share; the data it points at is
-- per tenant, and every function below touches the current tenant only.
-- ---------------------------------------------------------------------------
CREATE TABLE crm.pii_column (
	schema_name	name NOT NULL,
	table_name	name NOT NULL,
	column_name	name NOT NULL,
	kind		text NOT NULL,
	is_subject_key boolean NOT NULL DEFAULT false,
	is_builtin	boolean NOT NULL DEFAULT false,
	description	text,
	CONSTRAINT pii_column_pkey PRIMARY KEY (schema_name, table_name, column_name),
	CONSTRAINT pii_column_kind_valid CHECK (kind IN ('name', 'email', 'phone', 'address', 'birth_date',
													 'identifier', 'free_text', 'other', 'reference')),
	CONSTRAINT pii_column_subject_key_is_email CHECK (NOT is_subject_key OR kind = 'email')
);
COMMENT ON TABLE crm.pii_column IS
	'Columns holding personal data, for crm.subject_export/subject_erase. crm''s own rows are is_builtin; add rows for your own tables (they need organization_id and id columns).';
COMMENT ON COLUMN crm.pii_column.schema_name IS 'Schema of the table.';
COMMENT ON COLUMN crm.pii_column.table_name IS 'Table name.';
COMMENT ON COLUMN crm.pii_column.column_name IS 'Column name.';
COMMENT ON COLUMN crm.pii_column.kind IS
	'name, email, phone, address, birth_date, identifier, free_text, other: personal data, anonymised on erasure; reference: a foreign key to a record about the subject, whose rows are then about the subject too.';
COMMENT ON COLUMN crm.pii_column.is_subject_key IS 'The column identifies the subject: an email column matched (ignoring case) against the address given to subject_export/subject_erase.';
COMMENT ON COLUMN crm.pii_column.is_builtin IS 'Row supplied by the extension (not dumped; recreated by CREATE EXTENSION). Rows you add keep the default false and are dumped.';
COMMENT ON COLUMN crm.pii_column.description IS 'Why the column is personal data, or any note.';
SELECT pg_catalog.pg_extension_config_dump('crm.pii_column', 'WHERE NOT is_builtin');
CREATE TRIGGER crm_00_data_guard BEFORE INSERT OR TRUNCATE ON crm.pii_column
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_data_guard();
GRANT SELECT ON crm.pii_column TO PUBLIC;

INSERT INTO crm.pii_column (schema_name, table_name, column_name, kind, is_subject_key, is_builtin, description) VALUES
	('crm', 'contact', 'email', 'email', true, true, 'The contact''s address: identifies the subject.'),
	('crm', 'contact', 'first_name', 'name', false, true, NULL),
	('crm', 'contact', 'last_name', 'name', false, true, NULL),
	('crm', 'contact', 'phone', 'phone', false, true, NULL),
	('crm', 'contact', 'mobile', 'phone', false, true, NULL),
	('crm', 'contact', 'birthday', 'birth_date', false, true, NULL),
	('crm', 'contact', 'social_profiles', 'identifier', false, true, 'Profile handles and URLs.'),
	('crm', 'contact', 'mailing_address', 'address', false, true, NULL),
	('crm', 'contact', 'description', 'free_text', false, true, NULL),
	('crm', 'lead', 'email', 'email', true, true, 'The lead''s address: identifies the subject.'),
	('crm', 'lead', 'first_name', 'name', false, true, NULL),
	('crm', 'lead', 'last_name', 'name', false, true, NULL),
	('crm', 'lead', 'phone', 'phone', false, true, NULL),
	('crm', 'lead', 'description', 'free_text', false, true, NULL),
	('crm', 'lead', 'converted_contact_id', 'reference', false, true, 'A lead converted into the subject''s contact is the same person.'),
	('crm', 'app_user', 'email', 'email', true, true, 'A CRM user is a person too.'),
	('crm', 'app_user', 'name', 'name', false, true, NULL),
	('crm', 'activity', 'subject', 'free_text', false, true, 'Calls, emails, meetings with the subject describe them.'),
	('crm', 'activity', 'body', 'free_text', false, true, NULL),
	('crm', 'activity', 'contact_id', 'reference', false, true, NULL),
	('crm', 'activity', 'lead_id', 'reference', false, true, NULL),
	('crm', 'note', 'body', 'free_text', false, true, 'Notes on the subject.'),
	('crm', 'note', 'contact_id', 'reference', false, true, NULL),
	('crm', 'note', 'lead_id', 'reference', false, true, NULL),
	('crm', 'note', 'activity_id', 'reference', false, true, NULL),
	('crm', 'attachment', 'file_name', 'free_text', false, true, 'File names often carry names (cv_ann_smith.pdf). The bytes live outside the database: the export lists their storage_key.'),
	('crm', 'attachment', 'contact_id', 'reference', false, true, NULL),
	('crm', 'attachment', 'lead_id', 'reference', false, true, NULL),
	('crm', 'attachment', 'activity_id', 'reference', false, true, NULL),
	('crm', 'attachment', 'note_id', 'reference', false, true, NULL);

-- ---------------------------------------------------------------------------
-- How a subject is matched: the one place to change when the email columns
-- become crm.email (then: col = $1::crm.email, served by its btree index).
-- ---------------------------------------------------------------------------

-- The normalised form of a subject's address (what is compared and hashed).
CREATE FUNCTION crm._subject_key(email text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT lower(btrim(email));
$$;
COMMENT ON FUNCTION crm._subject_key(text) IS 'Internal: the normalised subject address (lower case, trimmed) that is matched and hashed.';

-- SQL condition matching a subject-key column against $1 (a _subject_key):
-- crm.email columns compare through crm.email's case-insensitive = with
-- text, which their (organization_id, email) btree indexes serve; text
-- columns of user tables compare lower-cased.
CREATE FUNCTION crm._subject_match_sql(tbl regclass, col name) RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN a.atttypid = 'crm.email'::regtype
				THEN format('%I OPERATOR(pg_catalog.=) $1::text', col)
				ELSE format('lower(%I::text) = $1', col) END
	  FROM pg_attribute a
	 WHERE a.attrelid = tbl AND a.attname = col AND NOT a.attisdropped;
$$;
COMMENT ON FUNCTION crm._subject_match_sql(regclass, name) IS 'Internal: SQL condition "column matches the subject $1" (case-insensitive; index-served for crm.email columns).';

-- The proof value kept in crm.erasure_log: SHA-256 of the normalised
-- address, salted with the organization (the same person erased by two
-- tenants gives two unrelated hashes).
CREATE FUNCTION crm._subject_hash(org uuid, subject_key text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT encode(sha256(convert_to('crm.erasure:' || org::text || ':' || subject_key, 'UTF8')), 'hex');
$$;
COMMENT ON FUNCTION crm._subject_hash(uuid, text) IS 'Internal: hex SHA-256 of the subject key salted with the organization id (crm.erasure_log.subject_hash).';

-- ---------------------------------------------------------------------------
-- The erasure record.
-- ---------------------------------------------------------------------------
CREATE TABLE crm.erasure_log (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	erased_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	subject_hash text NOT NULL,
	reason		text NOT NULL,
	records		jsonb NOT NULL DEFAULT '{}',
	actor_id	uuid,
	db_role		text NOT NULL DEFAULT current_user,
	CONSTRAINT erasure_log_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT erasure_log_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT erasure_log_subject_hash_format CHECK (subject_hash ~ '^[0-9a-f]{64}$'),
	CONSTRAINT erasure_log_reason_not_blank CHECK (pg_catalog.btrim(reason) <> ''),
	CONSTRAINT erasure_log_records_object CHECK (jsonb_typeof(records) = 'object')
);
CREATE INDEX erasure_log_subject_idx ON crm.erasure_log (organization_id, subject_hash);
COMMENT ON TABLE crm.erasure_log IS
	'Proof of each crm.subject_erase: when, why, by whom, how many records per table, and a salted hash of the address (never the address). Read-only for application roles.';
COMMENT ON COLUMN crm.erasure_log.erased_at IS 'When the erasure ran (transaction time).';
COMMENT ON COLUMN crm.erasure_log.subject_hash IS 'Hex SHA-256 of the normalised address salted with the organization id: crm.erasure_lookup(email) finds it again, the address cannot be read from it.';
COMMENT ON COLUMN crm.erasure_log.reason IS 'Why (e.g. the request reference); must not contain personal data.';
COMMENT ON COLUMN crm.erasure_log.records IS 'Records anonymised per table ({"crm.contact": 2, ...}) and audit entries scrubbed.';
COMMENT ON COLUMN crm.erasure_log.actor_id IS 'The acting crm.app_user (crm.user_id), NULL for a system run.';
COMMENT ON COLUMN crm.erasure_log.db_role IS 'The database role that ran the erasure.';
SELECT crm._setup_tenant_table('crm.erasure_log', audited => false, label => 'erasure record');

-- ---------------------------------------------------------------------------
-- Catalog helpers.
-- ---------------------------------------------------------------------------

-- The registered personal-data columns that exist, resolved to their
-- tables; an entry naming a missing table or column, or a table without
-- organization_id and id, is an error (a typo must not leave data behind).
CREATE FUNCTION crm._pii_columns()
RETURNS TABLE (tbl regclass, column_name name, kind text, is_subject_key boolean, target regclass)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	p record;
	rel regclass;
	att smallint;
BEGIN
	FOR p IN SELECT * FROM crm.pii_column ORDER BY schema_name, table_name, column_name LOOP
		rel := to_regclass(format('%I.%I', p.schema_name, p.table_name));
		IF rel IS NULL THEN
			RAISE EXCEPTION 'crm.pii_column names table %.%, which does not exist', quote_ident(p.schema_name), quote_ident(p.table_name)
				USING ERRCODE = 'undefined_table', HINT = 'Delete or correct the crm.pii_column rows of that table.';
		END IF;
		SELECT a.attnum INTO att FROM pg_attribute a
		 WHERE a.attrelid = rel AND a.attname = p.column_name AND a.attnum > 0 AND NOT a.attisdropped;
		IF att IS NULL THEN
			RAISE EXCEPTION 'crm.pii_column names column %.%, which does not exist', crm._qualified(rel), quote_ident(p.column_name)
				USING ERRCODE = 'undefined_column', HINT = 'Delete or correct that crm.pii_column row.';
		END IF;
		IF (SELECT count(*) FROM pg_attribute a WHERE a.attrelid = rel AND a.attname IN ('organization_id', 'id') AND NOT a.attisdropped) <> 2 THEN
			RAISE EXCEPTION 'table % in crm.pii_column has no organization_id and id columns', crm._qualified(rel)
				USING ERRCODE = 'invalid_table_definition';
		END IF;
		tbl := rel;
		column_name := p.column_name;
		kind := p.kind;
		is_subject_key := p.is_subject_key;
		target := NULL;
		IF p.kind = 'reference' THEN
			SELECT k.confrelid INTO target FROM pg_constraint k
			 WHERE k.conrelid = rel AND k.contype = 'f' AND att = ANY (k.conkey)
			   AND EXISTS (SELECT 1 FROM crm._referencing_keys(k.confrelid::regclass) r
							WHERE r.constraint_name = k.conname AND r.ref_table = rel)
			 ORDER BY k.conname LIMIT 1;
			IF target IS NULL THEN
				RAISE EXCEPTION 'reference column %.% in crm.pii_column is not a foreign key to (organization_id, id) of a table', crm._qualified(rel), quote_ident(p.column_name)
					USING ERRCODE = 'invalid_table_definition';
			END IF;
		END IF;
		RETURN NEXT;
	END LOOP;
END;
$$;
COMMENT ON FUNCTION crm._pii_columns() IS 'Internal: crm.pii_column resolved to tables (reference columns with the table they point at); errors on entries that do not match the schema.';

-- SQL expression giving the anonymised value of a personal-data column of
-- the row being updated (it may use the row's id).  NULL for references,
-- which are not personal data themselves.
CREATE FUNCTION crm._erased_expr(tbl regclass, col name, kind text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	a record;
BEGIN
	IF kind = 'reference' THEN
		RETURN NULL;
	END IF;
	SELECT t.typcategory, pg_catalog.format_type(x.atttypid, x.atttypmod) AS typ, x.attnotnull, t.typname
	  INTO a
	  FROM pg_attribute x JOIN pg_type t ON t.oid = x.atttypid
	 WHERE x.attrelid = tbl AND x.attname = col;
	IF kind = 'email' THEN
		-- unique per record and valid for the email checks
		RETURN format('CAST(%L || replace(id::text, %L, %L) || %L AS %s)', 'erased+', '-', '', '@erased.invalid', a.typ);
	ELSIF kind = 'name' AND a.typcategory = 'S' THEN
		RETURN format('CAST(%L AS %s)', 'erased', a.typ);
	ELSIF NOT a.attnotnull THEN
		RETURN 'NULL';
	ELSIF a.typcategory = 'S' THEN
		RETURN format('CAST(%L AS %s)', '[erased]', a.typ);
	ELSIF a.typname IN ('jsonb', 'json') OR a.typcategory = 'A' THEN
		RETURN format('CAST(%L AS %s)', '{}', a.typ);
	END IF;
	RAISE EXCEPTION 'cannot anonymise %.%: NOT NULL column of type %', crm._qualified(tbl), quote_ident(col), a.typ
		USING ERRCODE = 'feature_not_supported',
			  HINT = 'Make the column nullable, or remove it from crm.pii_column and erase it yourself.';
END;
$$;
COMMENT ON FUNCTION crm._erased_expr(regclass, name, text) IS
	'Internal: SQL of the anonymised value of a personal-data column: names ''erased'', emails erased+<id>@erased.invalid, else NULL (or ''[erased]''/empty when NOT NULL).';

-- SQL condition: the row's personal-data columns all hold their anonymised
-- values.
CREATE FUNCTION crm._erased_state_sql(tbl regclass)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
	SELECT coalesce(string_agg(format('%I IS NOT DISTINCT FROM %s', p.column_name, crm._erased_expr(p.tbl, p.column_name, p.kind)),
							   ' AND ' ORDER BY p.column_name), 'true')
	  FROM crm._pii_columns() p
	 WHERE p.tbl = _erased_state_sql.tbl AND p.kind <> 'reference';
$$;
COMMENT ON FUNCTION crm._erased_state_sql(regclass) IS 'Internal: SQL condition true when every personal-data column of a row holds its anonymised value.';

-- Replace the values of some keys of a jsonb object by "[erased]".
CREATE FUNCTION crm._jsonb_scrub(j jsonb, keys text[])
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN jsonb_typeof(j) = 'object' AND j ?| keys
				THEN (SELECT jsonb_object_agg(e.key, CASE WHEN e.key = ANY (keys) THEN '"[erased]"'::jsonb ELSE e.value END)
						FROM jsonb_each(j) e)
				ELSE j END;
$$;
COMMENT ON FUNCTION crm._jsonb_scrub(jsonb, text[]) IS 'Internal: the object with the values of the given keys replaced by "[erased]".';

-- Every record of the current organization about a subject, per table:
--  1. rows whose subject-key column matches the address;
--  2. rows of crm tables whose subject-key column held it before (their
--     audit entries say so), and rows merged into any found row;
--  3. transitively, rows whose reference column points at a found row.
-- gone_ids: ids of records whose audit entries carry the address but that
-- no longer exist (hard-deleted): their audit entries are about the subject.
CREATE FUNCTION crm._subject_records(subject_key text)
RETURNS TABLE (tbl regclass, row_ids uuid[], gone_ids uuid[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
	p record;
	ids uuid[];
	present uuid[];
	f_tbl oid[] := '{}';
	f_id uuid[] := '{}';
	g_tbl oid[] := '{}';
	g_id uuid[] := '{}';
	rel name;
	added integer;
	rounds integer := 0;
BEGIN
	-- 1 and 2: matches, now and in the audit history
	FOR p IN SELECT * FROM crm._pii_columns() c WHERE c.is_subject_key LOOP
		EXECUTE format('SELECT array_agg(id) FROM %s WHERE organization_id = $2 AND %s',
					   crm._qualified(p.tbl), crm._subject_match_sql(p.tbl, p.column_name))
		   INTO ids USING subject_key, org;
		f_tbl := f_tbl || array_fill(p.tbl::oid, ARRAY[coalesce(cardinality(ids), 0)]);
		f_id := f_id || coalesce(ids, '{}');
		SELECT c.relname INTO rel FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		 WHERE c.oid = p.tbl AND n.nspname = 'crm';
		IF rel IS NOT NULL THEN
			SELECT array_agg(DISTINCT a.row_id) INTO ids
			  FROM crm.audit_log a
			 WHERE a.organization_id = org AND a.table_name = rel
			   AND (crm._subject_key(a.old_values ->> p.column_name::text) = subject_key
					OR crm._subject_key(a.new_values ->> p.column_name::text) = subject_key);
			IF ids IS NOT NULL THEN
				EXECUTE format('SELECT array_agg(id) FROM %s WHERE organization_id = $1 AND id = ANY ($2)', crm._qualified(p.tbl))
				   INTO present USING org, ids;
				f_tbl := f_tbl || array_fill(p.tbl::oid, ARRAY[coalesce(cardinality(present), 0)]);
				f_id := f_id || coalesce(present, '{}');
				ids := ARRAY(SELECT x FROM unnest(ids) x WHERE x <> ALL (coalesce(present, '{}')));
				g_tbl := g_tbl || array_fill(p.tbl::oid, ARRAY[cardinality(ids)]);
				g_id := g_id || ids;
			END IF;
		END IF;
	END LOOP;

	-- 2 (merges) and 3 (references), until nothing new is found
	LOOP
		added := 0;
		rounds := rounds + 1;
		FOR p IN SELECT DISTINCT f.t AS tbl, c.relname FROM unnest(f_tbl) f(t)
				   JOIN pg_class c ON c.oid = f.t JOIN pg_namespace n ON n.oid = c.relnamespace
				  WHERE n.nspname = 'crm' LOOP
			SELECT array_agg(DISTINCT a.row_id) INTO ids
			  FROM crm.audit_log a
			 WHERE a.organization_id = org AND a.table_name = p.relname AND a.action = 'MERGE'
			   AND a.new_values ? 'merged_into'
			   AND (a.new_values ->> 'merged_into')::uuid IN (SELECT x.i FROM unnest(f_tbl, f_id) x(t, i) WHERE x.t = p.tbl)
			   AND a.row_id NOT IN (SELECT x.i FROM unnest(f_tbl, f_id) x(t, i) WHERE x.t = p.tbl);
			IF ids IS NOT NULL THEN
				EXECUTE format('SELECT array_agg(id) FROM %s WHERE organization_id = $1 AND id = ANY ($2)', crm._qualified(p.tbl))
				   INTO ids USING org, ids;
				IF ids IS NOT NULL THEN
					f_tbl := f_tbl || array_fill(p.tbl::oid, ARRAY[cardinality(ids)]);
					f_id := f_id || ids;
					added := added + cardinality(ids);
				END IF;
			END IF;
		END LOOP;
		FOR p IN SELECT * FROM crm._pii_columns() c WHERE c.kind = 'reference' LOOP
			EXECUTE format('SELECT array_agg(id) FROM %s WHERE organization_id = $1 AND %I = ANY ($2) AND id <> ALL ($3)',
						   crm._qualified(p.tbl), p.column_name)
			   INTO ids
			  USING org,
					ARRAY(SELECT x.i FROM unnest(f_tbl, f_id) x(t, i) WHERE x.t = p.target),
					ARRAY(SELECT x.i FROM unnest(f_tbl, f_id) x(t, i) WHERE x.t = p.tbl);
			IF ids IS NOT NULL THEN
				f_tbl := f_tbl || array_fill(p.tbl::oid, ARRAY[cardinality(ids)]);
				f_id := f_id || ids;
				added := added + cardinality(ids);
			END IF;
		END LOOP;
		EXIT WHEN added = 0;
		IF rounds > 100 THEN
			RAISE EXCEPTION 'subject records: no fixed point after 100 rounds' USING ERRCODE = 'program_limit_exceeded';
		END IF;
	END LOOP;

	RETURN QUERY
	SELECT x.t::regclass,
		   array_agg(DISTINCT x.i ORDER BY x.i) FILTER (WHERE NOT x.gone),
		   coalesce(array_agg(DISTINCT x.i ORDER BY x.i) FILTER (WHERE x.gone), '{}')
	  FROM (SELECT f.t, f.i, false AS gone FROM unnest(f_tbl, f_id) f(t, i)
			UNION ALL
			SELECT g.t, g.i, true FROM unnest(g_tbl, g_id) g(t, i)) x
	 GROUP BY x.t
	 ORDER BY crm._qualified(x.t::regclass);
END;
$$;
COMMENT ON FUNCTION crm._subject_records(text) IS
	'Internal: the records of the current organization about a subject (subject-key matches now or in the audit history, rows merged into them, rows referencing them through pii_column references), per table.';

-- Scrub the personal values out of the audit entries of some records
-- (crm.audit_log is read-only for application roles, hence SECURITY
-- DEFINER).  Refused unless every record is anonymised already, or no longer
-- exists and its audit entries carry the subject's address: it cannot be
-- used to rewrite the history of ordinary records.
CREATE FUNCTION crm._audit_scrub(entity regclass, row_ids uuid[], subject_key text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm._caller_org();
	caller name := crm._invoking_role();
	rel name;
	keys text[];
	present uuid[];
	bad uuid[];
	n bigint;
BEGIN
	SELECT c.relname INTO rel
	  FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
	 WHERE c.oid = entity AND ns.nspname = 'crm'
	   AND c.relname IN (SELECT r.table_name FROM crm.table_registry r);
	IF rel IS NULL THEN
		RAISE EXCEPTION '% is not a crm tenant table', crm._qualified(entity) USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF NOT pg_catalog.has_table_privilege(caller, entity, 'UPDATE') THEN
		RAISE EXCEPTION 'permission denied to scrub audit entries of %', crm._qualified(entity)
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	-- personal columns, and generated columns computed from them
	keys := ARRAY(SELECT p.column_name::text FROM crm._pii_columns() p WHERE p.tbl = entity AND p.kind <> 'reference'
				  UNION
				  SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = entity AND a.attgenerated <> '' AND NOT a.attisdropped);
	IF cardinality(keys) = 0 OR row_ids IS NULL OR cardinality(row_ids) = 0 THEN
		RETURN 0;
	END IF;
	EXECUTE format('SELECT array_agg(id) FROM crm.%I WHERE organization_id = $1 AND id = ANY ($2)', rel)
	   INTO present USING org, row_ids;
	EXECUTE format('SELECT array_agg(id) FROM crm.%I WHERE organization_id = $1 AND id = ANY ($2) AND NOT (%s)',
				   rel, crm._erased_state_sql(entity))
	   INTO bad USING org, row_ids;
	IF bad IS NULL THEN
		SELECT array_agg(x) INTO bad
		  FROM unnest(row_ids) x
		 WHERE x <> ALL (coalesce(present, '{}'))
		   AND NOT EXISTS (SELECT 1 FROM crm.audit_log a, crm._pii_columns() p
							WHERE a.organization_id = org AND a.table_name = rel AND a.row_id = x
							  AND p.tbl = entity AND p.is_subject_key
							  AND (crm._subject_key(a.old_values ->> p.column_name::text) = subject_key
								   OR crm._subject_key(a.new_values ->> p.column_name::text) = subject_key));
	END IF;
	IF bad IS NOT NULL THEN
		RAISE EXCEPTION 'refusing to scrub the audit entries of crm.% %: not anonymised', rel, bad[1]
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	UPDATE crm.audit_log a
	   SET old_values = crm._jsonb_scrub(a.old_values, keys),
		   new_values = crm._jsonb_scrub(a.new_values, keys)
	 WHERE a.organization_id = org AND a.table_name = rel AND a.row_id = ANY (row_ids)
	   AND (a.old_values ?| keys OR a.new_values ?| keys);
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END;
$$;
COMMENT ON FUNCTION crm._audit_scrub(regclass, uuid[], text) IS
	'Internal (crm.subject_erase): replaces personal values in the audit entries of anonymised records by "[erased]"; returns the entries changed.';

-- Write the erasure record (crm.erasure_log is read-only for application
-- roles).  Refused while any subject-key column of the organization still
-- matches the address: the record proves that nothing is left.
CREATE FUNCTION crm._erasure_write(erasure_id uuid, subject_key text, reason text, records jsonb)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm._caller_org();
	caller name := crm._invoking_role();
	p record;
	left_over boolean;
	h text;
BEGIN
	FOR p IN SELECT * FROM crm._pii_columns() c WHERE c.is_subject_key LOOP
		IF NOT pg_catalog.has_table_privilege(caller, p.tbl, 'UPDATE') THEN
			RAISE EXCEPTION 'permission denied to record an erasure: no UPDATE privilege on %', crm._qualified(p.tbl)
				USING ERRCODE = 'insufficient_privilege';
		END IF;
		EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE organization_id = $2 AND %s)',
					   crm._qualified(p.tbl), crm._subject_match_sql(p.tbl, p.column_name))
		   INTO left_over USING subject_key, org;
		IF left_over THEN
			RAISE EXCEPTION 'refusing to record an erasure: % still holds the address', crm._qualified(p.tbl)
				USING ERRCODE = 'object_not_in_prerequisite_state';
		END IF;
	END LOOP;
	h := crm._subject_hash(org, subject_key);
	INSERT INTO crm.erasure_log (id, organization_id, subject_hash, reason, records, actor_id, db_role)
	VALUES (erasure_id, org, h, reason, records, crm.acting_user(), caller);
	RETURN h;
END;
$$;
COMMENT ON FUNCTION crm._erasure_write(uuid, text, text, jsonb) IS
	'Internal (crm.subject_erase): writes the crm.erasure_log row after checking that no subject-key column of the organization still holds the address; returns the subject hash.';

-- ---------------------------------------------------------------------------
-- The user-facing functions.
-- ---------------------------------------------------------------------------

-- Everything the current organization holds about a person.
CREATE FUNCTION crm.subject_export(email crm.email)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
	key text := crm._subject_key(email::text);
	r record;
	rel name;
	rows jsonb;
	records jsonb := '{}';
	audit jsonb := '[]';
	entries jsonb;
BEGIN
	IF key IS NULL OR key = '' THEN
		RAISE EXCEPTION 'an email address is required' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	FOR r IN SELECT * FROM crm._subject_records(key) LOOP
		IF r.row_ids IS NOT NULL THEN
			-- whole rows, without generated columns (derived, e.g. search vectors)
			EXECUTE format('SELECT jsonb_agg(to_jsonb(t) - $3 ORDER BY t.id) FROM %s t WHERE t.organization_id = $1 AND t.id = ANY ($2)',
						   crm._qualified(r.tbl))
			   INTO rows
			  USING org, r.row_ids,
					ARRAY(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = r.tbl AND a.attgenerated <> '' AND NOT a.attisdropped);
			records := records || jsonb_build_object(crm._qualified(r.tbl), rows);
		END IF;
		SELECT c.relname INTO rel FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		 WHERE c.oid = r.tbl AND n.nspname = 'crm';
		IF rel IS NOT NULL THEN
			SELECT jsonb_agg(to_jsonb(a) - 'organization_id' ORDER BY a.row_id, a.seq) INTO entries
			  FROM crm.audit_log a
			 WHERE a.organization_id = org AND a.table_name = rel
			   AND a.row_id = ANY (coalesce(r.row_ids, '{}') || r.gone_ids);
			audit := audit || coalesce(entries, '[]');
		END IF;
	END LOOP;
	RETURN jsonb_build_object(
		'subject', email,
		'organization_id', org,
		'exported_at', pg_catalog.now(),
		'records', records,
		'audit_log', audit);
END;
$$;
COMMENT ON FUNCTION crm.subject_export(crm.email) IS
	'Data-subject export: one JSON document with every record of the current organization about the person with this address (from crm.pii_column: matches, merged and referencing records) and their audit entries.';

-- Erase a person from the current organization.  crm.subject_erase (below)
-- runs this as the caller, then crm._subject_erase_record as the owner
-- (src/owner_step.c); neither step is executable by anyone else.  Returns
-- the counts and what the owner's step is to record.
CREATE FUNCTION crm._subject_erase_run(email crm.email, reason text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
	key text := crm._subject_key(email::text);
	erasure_id uuid := crm.uuid_v7();
	r record;
	rel name;
	set_list text[];
	cols text[];
	n bigint;
	counts jsonb := '{}';
	erase jsonb := '[]';
	scrub jsonb := '[]';
	recs jsonb;
BEGIN
	IF key IS NULL OR key = '' THEN
		RAISE EXCEPTION 'an email address is required' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF reason IS NULL OR btrim(reason) = '' THEN
		RAISE EXCEPTION 'a reason is required (e.g. the request reference; no personal data)'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- Erasure must see everything committed before it reports success,
	-- also what writers still in flight add.  Lock every table that holds
	-- personal data against writers (SHARE ROW EXCLUSIVE: waits for the
	-- transactions writing them, holds off new ones until this one ends,
	-- and two erasures queue up rather than deadlock); the search below
	-- then runs with a snapshot taken after the wait.  Only a READ COMMITTED
	-- statement takes such a snapshot.
	IF current_setting('transaction_isolation') <> 'read committed' THEN
		RAISE EXCEPTION 'crm.subject_erase can only run in a READ COMMITTED transaction'
			USING ERRCODE = 'invalid_transaction_state',
				  DETAIL = format('The transaction isolation level is %s; the search for the person''s records would not see what was committed since the transaction began.',
								  current_setting('transaction_isolation')),
				  HINT = 'Run the erasure in a transaction with the default isolation level (READ COMMITTED).';
	END IF;
	FOR r IN SELECT DISTINCT p.tbl, crm._qualified(p.tbl) AS name FROM crm._pii_columns() p ORDER BY 2 LOOP
		EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', r.name);
	END LOOP;

	-- Find everything first: anonymising changes what matches.
	SELECT coalesce(jsonb_agg(jsonb_build_object('tbl', s.tbl::oid, 'row_ids', s.row_ids, 'gone_ids', s.gone_ids)), '[]')
	  INTO recs FROM crm._subject_records(key) s;

	-- Anonymise the personal columns; records identified by an address
	-- (contacts, leads, users) are also soft-deleted.  Everything else of
	-- the records (amounts, dates, counts, links) stays.
	FOR r IN SELECT x.tbl::regclass AS tbl, x.row_ids, x.gone_ids
			   FROM jsonb_to_recordset(recs) AS x(tbl oid, row_ids uuid[], gone_ids uuid[]) LOOP
		CONTINUE WHEN r.row_ids IS NULL;
		SELECT array_agg(format('%I = %s', p.column_name, crm._erased_expr(p.tbl, p.column_name, p.kind)) ORDER BY p.column_name),
			   array_agg(p.column_name::text ORDER BY p.column_name)
		  INTO set_list, cols
		  FROM crm._pii_columns() p WHERE p.tbl = r.tbl AND p.kind <> 'reference';
		n := 0;
		IF set_list IS NOT NULL THEN
			IF EXISTS (SELECT 1 FROM crm._pii_columns() p WHERE p.tbl = r.tbl AND p.is_subject_key)
			   AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = r.tbl AND a.attname = 'deleted_at' AND NOT a.attisdropped) THEN
				set_list := set_list || 'deleted_at = coalesce(deleted_at, pg_catalog.now())'::text;
			END IF;
			EXECUTE format('UPDATE %s SET %s WHERE organization_id = $1 AND id = ANY ($2)',
						   crm._qualified(r.tbl), array_to_string(set_list, ', '))
			USING org, r.row_ids;
			GET DIAGNOSTICS n = ROW_COUNT;
		END IF;
		counts := counts || jsonb_build_object(crm._qualified(r.tbl), n);
		-- to record: an ERASE entry per record of an audited crm table (no
		-- values)
		IF EXISTS (SELECT 1 FROM crm.table_registry t JOIN pg_class c ON c.relname = t.table_name
					 JOIN pg_namespace ns ON ns.oid = c.relnamespace AND ns.nspname = 'crm'
					WHERE c.oid = r.tbl AND t.is_audited) THEN
			erase := erase || jsonb_build_object('table', r.tbl::oid, 'ids', to_jsonb(r.row_ids),
												 'columns', to_jsonb(coalesce(cols, '{}')));
		END IF;
	END LOOP;

	-- Scrub the personal values out of outbox events about those records,
	-- and (to record) out of their audit entries, including the entries
	-- the anonymising updates just produced.
	FOR r IN SELECT x.tbl::regclass AS tbl, x.row_ids, x.gone_ids
			   FROM jsonb_to_recordset(recs) AS x(tbl oid, row_ids uuid[], gone_ids uuid[]) LOOP
		SELECT c.relname INTO rel FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
		 WHERE c.oid = r.tbl AND ns.nspname = 'crm';
		CONTINUE WHEN rel IS NULL;
		scrub := scrub || jsonb_build_object('table', r.tbl::oid, 'ids', to_jsonb(coalesce(r.row_ids, '{}') || r.gone_ids));
		UPDATE crm.outbox o SET payload = jsonb_build_object('erased', true)
		 WHERE o.organization_id = org AND o.entity = rel
		   AND o.entity_id = ANY (coalesce(r.row_ids, '{}') || r.gone_ids)
		   AND o.payload <> jsonb_build_object('erased', true);
	END LOOP;

	RETURN jsonb_build_object('erasure_id', erasure_id, 'subject_key', key, 'reason', reason,
							  'records', counts, 'erase', erase, 'scrub', scrub);
END;
$$;
COMMENT ON FUNCTION crm._subject_erase_run(crm.email, text) IS
	'Internal (crm.subject_erase, as the caller): the erasure; returns the counts and the ERASE entries and audit scrubs crm._subject_erase_record makes.';

-- The owner's step of crm.subject_erase: the ERASE entries, the scrubbed
-- audit entries and the crm.erasure_log row of what crm._subject_erase_run
-- did, through the writers above (each checks the caller's organization
-- and privileges; the erasure record also that nothing of the address is
-- left).
CREATE FUNCTION crm._subject_erase_record(state jsonb)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	erasure_id uuid := (state ->> 'erasure_id')::uuid;
	key text := state ->> 'subject_key';
	e jsonb;
	i uuid;
	scrubbed bigint := 0;
	counts jsonb;
	h text;
BEGIN
	FOR e IN SELECT x FROM jsonb_array_elements(state -> 'erase') x LOOP
		FOR i IN SELECT y::uuid FROM jsonb_array_elements_text(e -> 'ids') y LOOP
			PERFORM crm._audit_write((e ->> 'table')::oid::regclass, i, 'ERASE', NULL,
									 jsonb_build_object('erasure_id', erasure_id, 'columns', e -> 'columns'));
		END LOOP;
	END LOOP;
	FOR e IN SELECT x FROM jsonb_array_elements(state -> 'scrub') x LOOP
		scrubbed := scrubbed + crm._audit_scrub((e ->> 'table')::oid::regclass,
												ARRAY(SELECT y::uuid FROM jsonb_array_elements_text(e -> 'ids') y), key);
	END LOOP;
	counts := (state -> 'records') || jsonb_build_object('crm.audit_log', scrubbed);
	h := crm._erasure_write(erasure_id, key, state ->> 'reason', counts);
	RETURN jsonb_build_object('erasure_id', erasure_id, 'subject_hash', h, 'records', counts);
END;
$$;
COMMENT ON FUNCTION crm._subject_erase_record(jsonb) IS
	'Internal (crm.subject_erase, as the owner): writes the ERASE audit entries, scrubs the audit entries and writes the crm.erasure_log row crm._subject_erase_run asked for; returns the erasure id, subject hash and counts.';

CREATE FUNCTION crm.subject_erase(email crm.email, reason text)
RETURNS jsonb
	AS 'MODULE_PATHNAME', 'owner_step_call'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION crm.subject_erase(crm.email, text) IS
	'Data-subject erasure in the current organization: anonymises the crm.pii_column columns of every record about the person (soft-deleting contacts/leads/users), scrubs their audit entries, keeps non-personal data, writes crm.erasure_log. Returns the counts.';

-- Find earlier erasures of an address (without the log keeping it).
CREATE FUNCTION crm.erasure_lookup(email crm.email)
RETURNS SETOF crm.erasure_log
LANGUAGE sql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
	SELECT e.* FROM crm.erasure_log e
	 WHERE e.organization_id = crm.current_org()
	   AND e.subject_hash = crm._subject_hash(crm.current_org(), crm._subject_key(email::text))
	 ORDER BY e.erased_at, e.id;
$$;
COMMENT ON FUNCTION crm.erasure_lookup(crm.email) IS
	'The current organization''s erasure records for an address (matched by its salted hash), e.g. to honour an erasure when the person shows up again.';
-- ============================================================================
-- 68 duplicate detection: similarity functions (C), blocking keys and their
-- indexes, crm.find_duplicates(), crm.duplicate_pairs(), per-tenant rules
-- enforced on insert (exact-key rules also on update).  See
-- doc/data_quality.md, "Duplicate detection".
--
-- Candidates come only from blocking keys, each served by an index that
-- starts with organization_id: same normalised email, same phone digits, same
-- phonetic name key (also with first and last name swapped), for accounts
-- same domain and same phonetic company key.  Candidates are then scored.
-- Keys are computed from email::text and phone::text, so they work for text
-- columns and for the crm.email / crm.phone types alike.
-- ============================================================================

-- Similarity functions (pure C in src/similarity.c).
CREATE FUNCTION crm.jaro_winkler(text, text) RETURNS real
	AS 'MODULE_PATHNAME', 'dedup_jaro_winkler'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.jaro_winkler(text, text) IS
	'Jaro-Winkler similarity in [0, 1] (prefix scale 0.1, prefix of at most 4, boost above 0.7) of two strings, compared by code point ignoring ASCII case and Latin accents; only the first 255 code points count.';

CREATE FUNCTION crm.edit_distance(text, text) RETURNS integer
	AS 'MODULE_PATHNAME', 'dedup_edit_distance'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.edit_distance(text, text) IS
	'Optimal string alignment distance (insertions, deletions, substitutions, adjacent transpositions) between two strings, by code point ignoring ASCII case and Latin accents; only the first 255 code points count.';

CREATE FUNCTION crm.name_similarity(text, text) RETURNS real
	AS 'MODULE_PATHNAME', 'dedup_name_similarity'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.name_similarity(text, text) IS
	'Similarity of two names in [0, 1]: 0.25 * crm.jaro_winkler + 0.75 * (1 - crm.edit_distance / longer length); one typo in ten letters gives about 0.92, a different ending of three letters in thirteen about 0.8.';

CREATE FUNCTION crm.name_key(first text, last text) RETURNS text
	AS 'MODULE_PATHNAME', 'dedup_name_key'
	LANGUAGE C IMMUTABLE LEAKPROOF PARALLEL SAFE
	COST 100;
COMMENT ON FUNCTION crm.name_key(text, text) IS
	'Blocking key of a person''s name: phonetic code of the family name, '':'', the first two symbols of the given name''s code (''John'', ''Smith'' -> S53:J5; Jon Smyth, Jane Schmidt, Jim Smith alike; Robert Smith S53:R1). NULL when the family name has no letter; a NULL argument counts as empty. name_key(last, first) is the key for swapped names. LEAKPROOF, so its indexes serve queries under row-level security.';

CREATE FUNCTION crm.company_norm(name text) RETURNS text
	AS 'MODULE_PATHNAME', 'dedup_company_norm'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.company_norm(text) IS
	'A company name without case, accents, punctuation and legal-form words (''The ACME Corp., Inc.'' -> acme).';

CREATE FUNCTION crm.company_key(name text) RETURNS text
	AS 'MODULE_PATHNAME', 'dedup_company_key'
	LANGUAGE C IMMUTABLE STRICT LEAKPROOF PARALLEL SAFE
	COST 100;
COMMENT ON FUNCTION crm.company_key(text) IS
	'Blocking key of a company name: phonetic code of crm.company_norm(name) (''Acme Inc.'' and ''ACME Incorporated'' -> A25). NULL when the name has no letter or digit. LEAKPROOF (never fails), so its index serves queries under row-level security.';

-- Key functions in C, LEAKPROOF (they never fail): under row-level security
-- only leakproof functions may see a row before the tenant policy has, so
-- only then can an index on the function serve a lookup.  COST 100 (name
-- and company keys too): computing a key for every row of a filter costs
-- far more than reading it from its index, and the planner must know that
-- when the statistics of a table just bulk-loaded say it is tiny -- with the
-- default cost 1 it probed any index on organization_id and filtered the
-- whole tenant by the key, once per new record.
CREATE FUNCTION crm.email_key(email text) RETURNS text
	AS 'MODULE_PATHNAME', 'dedup_email_key'
	LANGUAGE C IMMUTABLE STRICT LEAKPROOF PARALLEL SAFE
	COST 100;
COMMENT ON FUNCTION crm.email_key(text) IS
	'Blocking key of an email address: trimmed, ASCII lower case, as crm.email compares it (crm.email_key(email::text)); NULL when crm.email would not accept the text (the type''s parser decides).';

CREATE FUNCTION crm.email_domain_key(email text) RETURNS text
	AS 'MODULE_PATHNAME', 'dedup_email_domain_key'
	LANGUAGE C IMMUTABLE STRICT LEAKPROOF PARALLEL SAFE;
COMMENT ON FUNCTION crm.email_domain_key(text) IS
	'The domain of an email address, ASCII lower case (crm.email_domain of the same address); NULL when crm.email would not accept the text. Indexed on contact to join contacts to account.domain.';

CREATE FUNCTION crm.phone_key(phone text) RETURNS text
	AS 'MODULE_PATHNAME', 'dedup_phone_key'
	LANGUAGE C IMMUTABLE STRICT LEAKPROOF PARALLEL SAFE
	COST 100;
COMMENT ON FUNCTION crm.phone_key(text) IS
	'Blocking key of a phone number: its E.164 digits without + and extension, read by crm.phone''s parser with no default country (crm.phone::text, or any international spelling); NULL when that reads no valid number.';

CREATE FUNCTION crm.person_full_name(first text, last text) RETURNS text
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	RETURN pg_catalog.btrim(pg_catalog.concat_ws(' ', pg_catalog.btrim(first), pg_catalog.btrim(last)));
COMMENT ON FUNCTION crm.person_full_name(text, text) IS
	'Given and family name, each trimmed, joined by one space; what name similarity compares.';

-- ---------------------------------------------------------------------------
-- Blocking indexes.  Partial on live rows: soft-deleted records are never
-- candidates.  account.domain is served by account_domain_idx.
-- ---------------------------------------------------------------------------
CREATE INDEX contact_dedup_email_idx ON crm.contact (organization_id, crm.email_key(email::text)) WHERE deleted_at IS NULL;
CREATE INDEX contact_dedup_phone_idx ON crm.contact (organization_id, crm.phone_key(phone::text)) WHERE deleted_at IS NULL;
CREATE INDEX contact_dedup_mobile_idx ON crm.contact (organization_id, crm.phone_key(mobile::text)) WHERE deleted_at IS NULL;
CREATE INDEX contact_dedup_name_idx ON crm.contact (organization_id, crm.name_key(first_name, last_name)) WHERE deleted_at IS NULL;
CREATE INDEX contact_dedup_name_swapped_idx ON crm.contact (organization_id, crm.name_key(last_name, first_name)) WHERE deleted_at IS NULL;
-- The contacts of an account by email domain:
--   JOIN crm.contact c ON c.organization_id = a.organization_id
--    AND crm.email_domain_key(c.email::text) = a.domain AND c.deleted_at IS NULL
CREATE INDEX contact_dedup_domain_idx ON crm.contact (organization_id, crm.email_domain_key(email::text)) WHERE deleted_at IS NULL;
CREATE INDEX lead_dedup_email_idx ON crm.lead (organization_id, crm.email_key(email::text)) WHERE deleted_at IS NULL;
CREATE INDEX lead_dedup_phone_idx ON crm.lead (organization_id, crm.phone_key(phone::text)) WHERE deleted_at IS NULL;
CREATE INDEX lead_dedup_name_idx ON crm.lead (organization_id, crm.name_key(first_name, last_name)) WHERE deleted_at IS NULL;
CREATE INDEX lead_dedup_name_swapped_idx ON crm.lead (organization_id, crm.name_key(last_name, first_name)) WHERE deleted_at IS NULL;
CREATE INDEX account_dedup_phone_idx ON crm.account (organization_id, crm.phone_key(phone::text)) WHERE deleted_at IS NULL;
CREATE INDEX account_dedup_name_idx ON crm.account (organization_id, crm.company_key(name)) WHERE deleted_at IS NULL;

-- ---------------------------------------------------------------------------
-- Scoring, in C (src/similarity.c: sim_person_match, sim_account_match).
-- Each piece of evidence is a probability-like weight, combined as a
-- noisy-OR, score = 1 - (1 - e*c)(1 - p*c)(1 - 0.8*n*x):
--   e  0.95 same email key; 0.75 emails one edit apart (6+ characters)
--   p  0.90 a phone key in common (persons); accounts: d 0.90 same domain,
--      p 0.80 same phone (switchboards are shared)
--   n  name similarity when >= 0.75, else 0: crm.name_similarity of the full
--      names, the best of straight and first/last swapped order; it counts
--      with the weight 0.8 (SIM_NAME_WEIGHT): a name alone, however equal,
--      scores at most 0.8, so namesakes that share no email or phone never
--      reach a block (block rules need a threshold above 0.8), while the
--      name with an email or phone in common scores 0.93 or more
--   x  contrary evidence against a name-only match: 0.80 when both have
--      emails (domains) and they differ, times 0.80 when both have phones and
--      none is shared -- namesakes with different contact data score 0.64
--      and 0.51
--   c  0.85 when the names are dissimilar (< 0.6): a shared mailbox or
--      switchboard alone is not the same person
-- The score functions are what candidate filters call (a few microseconds a
-- pair); the reasons functions run only for the pairs that are kept.
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm.person_score(a_first text, a_last text, a_email text, a_phones text[],
								 b_first text, b_last text, b_email text, b_phones text[])
	RETURNS real
	AS 'MODULE_PATHNAME', 'dedup_person_score'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.person_score(text, text, text, text[], text, text, text, text[]) IS
	'Duplicate score in [0, 1] of two persons, given first and last names, email keys and phone keys (NULLs allowed): 1 - (1 - e*c)(1 - p*c)(1 - 0.8*n*x) with e = 0.95 same email (0.75 one edit apart), p = 0.90 shared phone, n = name similarity (best of straight and swapped order, if >= 0.75; a name alone scores at most 0.8), x = 0.80 per differing email / phones, c = 0.85 for dissimilar names (< 0.6). In C.';

CREATE FUNCTION crm.person_reasons(a_first text, a_last text, a_email text, a_phones text[],
								   b_first text, b_last text, b_email text, b_phones text[])
	RETURNS text[]
	AS 'MODULE_PATHNAME', 'dedup_person_reasons'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.person_reasons(text, text, text, text[], text, text, text, text[]) IS
	'What contributed to crm.person_score: same email, similar email, same phone, similar name (0.93), similar name (0.93, first and last swapped).';

CREATE FUNCTION crm.account_score(a_name text, a_domain text, a_phone text,
								  b_name text, b_domain text, b_phone text)
	RETURNS real
	AS 'MODULE_PATHNAME', 'dedup_account_score'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.account_score(text, text, text, text, text, text) IS
	'Duplicate score in [0, 1] of two accounts, given names, domains and phone keys: 1 - (1 - d*c)(1 - p*c)(1 - 0.8*n*x) with d = 0.90 same domain, p = 0.80 same phone, n = similarity of crm.company_norm names (if >= 0.75; a name alone scores at most 0.8), x = 0.80 per differing domain / phone, c = 0.85 for dissimilar names. In C.';

CREATE FUNCTION crm.account_reasons(a_name text, a_domain text, a_phone text,
									b_name text, b_domain text, b_phone text)
	RETURNS text[]
	AS 'MODULE_PATHNAME', 'dedup_account_reasons'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.account_reasons(text, text, text, text, text, text) IS
	'What contributed to crm.account_score: same domain, same phone, similar name (0.93).';

CREATE FUNCTION crm.person_match(a_first text, a_last text, a_email text, a_phones text[],
								 b_first text, b_last text, b_email text, b_phones text[])
RETURNS TABLE (score real, reasons text[])
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	SELECT crm.person_score(a_first, a_last, a_email, a_phones, b_first, b_last, b_email, b_phones),
		   crm.person_reasons(a_first, a_last, a_email, a_phones, b_first, b_last, b_email, b_phones)
$$;
COMMENT ON FUNCTION crm.person_match(text, text, text, text[], text, text, text, text[]) IS
	'crm.person_score and crm.person_reasons of two persons as one row (inlined: the reasons are computed only for rows that are kept).';

CREATE FUNCTION crm.account_match(a_name text, a_domain text, a_phone text,
								  b_name text, b_domain text, b_phone text)
RETURNS TABLE (score real, reasons text[])
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	SELECT crm.account_score(a_name, a_domain, a_phone, b_name, b_domain, b_phone),
		   crm.account_reasons(a_name, a_domain, a_phone, b_name, b_domain, b_phone)
$$;
COMMENT ON FUNCTION crm.account_match(text, text, text, text, text, text) IS
	'crm.account_score and crm.account_reasons of two accounts as one row.';

-- ---------------------------------------------------------------------------
-- Block limit.  A key value shared by more records than this (a mailbox or
-- switchboard number used by a whole company, a placeholder name such as
-- "Test Test", a very common name at millions of records) is not a blocking
-- key: it would bring thousands of candidates that the other keys have not
-- proposed, at a cost quadratic in the block size.  Both find_duplicates and
-- duplicate_pairs ignore such a key value, the same way, so they agree; the
-- record's other keys still apply.
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm.dedup_block_limit() RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN 1000;
COMMENT ON FUNCTION crm.dedup_block_limit() IS
	'Largest block of duplicate detection: a blocking key value (email, phone, name key, domain, company key) shared by more live records of an organization than this (1000) proposes no candidates. For a name key, records with it as the straight and as the swapped key count together; for a phone, phone and mobile columns count together.';

-- ---------------------------------------------------------------------------
-- Candidates of a set of records (one for find_duplicates, all the rows of
-- an INSERT for the duplicate rule): the records' blocking keys; each
-- distinct key value's block counted once (at most limit + 1 index entries)
-- and dropped when over the limit; then a UNION of index lookups on the
-- remaining keys (each branch fetches the candidate's columns itself, so no
-- join back to the table), scored.  A statement that inserts many records
-- sharing one key counts that key once, not once per record.  name_keys
-- false leaves out the name (company) keys: a block rule needs an email or
-- phone (domain) in common, which only those keys bring.  Each lookup
-- is a LATERAL subquery with OFFSET 0, so it stays an index probe per record
-- even when the statistics of a table just bulk-loaded say it is empty (a
-- join would then scan the tenant once per record).  Inlinable SQL (EXPLAIN
-- of a call shows the real plan).
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm._contact_duplicates_of(org uuid, recs uuid[], threshold real, name_keys boolean)
RETURNS TABLE (id uuid, candidate_id uuid, score real, reasons text[])
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	WITH me AS MATERIALIZED (
		SELECT c.id, c.first_name, c.last_name, crm.email_key(c.email::text) AS ek,
			   pg_catalog.array_remove(ARRAY[crm.phone_key(c.phone::text), crm.phone_key(c.mobile::text)], NULL) AS pk,
			   pg_catalog.array_remove(ARRAY[crm.name_key(c.first_name, c.last_name), crm.name_key(c.last_name, c.first_name)], NULL) AS nk
		  FROM crm.contact c
		 WHERE c.organization_id = org AND c.id = ANY (recs)
	), ok_e AS MATERIALIZED (
		SELECT d.v FROM (SELECT DISTINCT me.ek AS v FROM me WHERE me.ek IS NOT NULL) d
		 WHERE (SELECT pg_catalog.count(*) FROM (SELECT FROM crm.contact c
					WHERE c.organization_id = org AND c.deleted_at IS NULL AND crm.email_key(c.email::text) = d.v
					LIMIT crm.dedup_block_limit() + 1) z) <= crm.dedup_block_limit()
	), ok_p AS MATERIALIZED (
		SELECT d.v FROM (SELECT DISTINCT p AS v FROM me, pg_catalog.unnest(me.pk) p) d
		 WHERE (SELECT pg_catalog.count(*) FROM (SELECT FROM crm.contact c
					WHERE c.organization_id = org AND c.deleted_at IS NULL AND crm.phone_key(c.phone::text) = d.v
					LIMIT crm.dedup_block_limit() + 1) z)
			 + (SELECT pg_catalog.count(*) FROM (SELECT FROM crm.contact c
					WHERE c.organization_id = org AND c.deleted_at IS NULL AND crm.phone_key(c.mobile::text) = d.v
					LIMIT crm.dedup_block_limit() + 1) z) <= crm.dedup_block_limit()
	), ok_n AS MATERIALIZED (
		SELECT d.v FROM (SELECT DISTINCT n AS v FROM me, pg_catalog.unnest(me.nk) n) d
		 WHERE name_keys AND (SELECT pg_catalog.count(*) FROM (SELECT FROM crm.contact c
					WHERE c.organization_id = org AND c.deleted_at IS NULL AND crm.name_key(c.first_name, c.last_name) = d.v
					LIMIT crm.dedup_block_limit() + 1) z)
			 + (SELECT pg_catalog.count(*) FROM (SELECT FROM crm.contact c
					WHERE c.organization_id = org AND c.deleted_at IS NULL AND crm.name_key(c.last_name, c.first_name) = d.v
					LIMIT crm.dedup_block_limit() + 1) z) <= crm.dedup_block_limit()
	), k AS (
		-- one row per record and usable key: equality probes below; the
		-- usable keys as one jsonb object built once (a sorted key lookup
		-- per record, whatever plan the statistics suggest)
		SELECT me.id, 'e' AS kind, me.ek AS v FROM me WHERE (SELECT pg_catalog.jsonb_object_agg(o.v, true) FROM ok_e o) OPERATOR(pg_catalog.?) me.ek
		UNION ALL
		SELECT me.id, 'p', p FROM me, pg_catalog.unnest(me.pk) p WHERE (SELECT pg_catalog.jsonb_object_agg(o.v, true) FROM ok_p o) OPERATOR(pg_catalog.?) p
		UNION ALL
		SELECT me.id, 'n', n FROM me, pg_catalog.unnest(me.nk) n WHERE (SELECT pg_catalog.jsonb_object_agg(o.v, true) FROM ok_n o) OPERATOR(pg_catalog.?) n
	), cand AS (
		SELECT k.id AS rec, c.id, c.first_name, c.last_name, c.email, c.phone, c.mobile
		  FROM k CROSS JOIN LATERAL (SELECT c.id, c.first_name, c.last_name, c.email::text AS email, c.phone::text AS phone, c.mobile::text AS mobile
				  FROM crm.contact c
				 WHERE c.organization_id = org AND c.deleted_at IS NULL AND crm.email_key(c.email::text) = k.v
				OFFSET 0) c
		 WHERE k.kind = 'e'
		UNION
		SELECT k.id, c.id, c.first_name, c.last_name, c.email, c.phone, c.mobile
		  FROM k CROSS JOIN LATERAL (SELECT c.id, c.first_name, c.last_name, c.email::text AS email, c.phone::text AS phone, c.mobile::text AS mobile
				  FROM crm.contact c
				 WHERE c.organization_id = org AND c.deleted_at IS NULL AND crm.phone_key(c.phone::text) = k.v
				OFFSET 0) c
		 WHERE k.kind = 'p'
		UNION
		SELECT k.id, c.id, c.first_name, c.last_name, c.email, c.phone, c.mobile
		  FROM k CROSS JOIN LATERAL (SELECT c.id, c.first_name, c.last_name, c.email::text AS email, c.phone::text AS phone, c.mobile::text AS mobile
				  FROM crm.contact c
				 WHERE c.organization_id = org AND c.deleted_at IS NULL AND crm.phone_key(c.mobile::text) = k.v
				OFFSET 0) c
		 WHERE k.kind = 'p'
		UNION
		SELECT k.id, c.id, c.first_name, c.last_name, c.email, c.phone, c.mobile
		  FROM k CROSS JOIN LATERAL (SELECT c.id, c.first_name, c.last_name, c.email::text AS email, c.phone::text AS phone, c.mobile::text AS mobile
				  FROM crm.contact c
				 WHERE c.organization_id = org AND c.deleted_at IS NULL
				   AND crm.name_key(c.first_name, c.last_name) = k.v
				OFFSET 0) c
		 WHERE k.kind = 'n'
		UNION
		SELECT k.id, c.id, c.first_name, c.last_name, c.email, c.phone, c.mobile
		  FROM k CROSS JOIN LATERAL (SELECT c.id, c.first_name, c.last_name, c.email::text AS email, c.phone::text AS phone, c.mobile::text AS mobile
				  FROM crm.contact c
				 WHERE c.organization_id = org AND c.deleted_at IS NULL
				   AND crm.name_key(c.last_name, c.first_name) = k.v
				OFFSET 0) c
		 WHERE k.kind = 'n'
	)
	SELECT me.id, c.id, m.score, m.reasons
	  FROM me
	  JOIN cand c ON c.rec = me.id
	 CROSS JOIN LATERAL crm.person_match(
			me.first_name, me.last_name, me.ek, me.pk,
			c.first_name, c.last_name, crm.email_key(c.email),
			pg_catalog.array_remove(ARRAY[crm.phone_key(c.phone), crm.phone_key(c.mobile)], NULL)) m
	 WHERE c.id <> me.id AND m.score >= threshold
$$;
COMMENT ON FUNCTION crm._contact_duplicates_of(uuid, uuid[], real, boolean) IS
	'Internal (crm.find_duplicates and the duplicate rule for contacts): candidates of a set of contacts from the blocking indexes (email, phone, mobile, name keys; each distinct key value counted once, values over crm.dedup_block_limit() ignored), scored by crm.person_match.';

CREATE FUNCTION crm._contact_duplicates(org uuid, rec uuid, threshold real)
RETURNS TABLE (candidate_id uuid, score real, reasons text[])
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT d.candidate_id, d.score, d.reasons
	  FROM crm._contact_duplicates_of(org, ARRAY[rec], threshold, true) d
	 ORDER BY d.score DESC, d.candidate_id
$$;
COMMENT ON FUNCTION crm._contact_duplicates(uuid, uuid, real) IS
	'Internal (crm.find_duplicates for contacts): crm._contact_duplicates_of for one contact, best first.';

CREATE FUNCTION crm._lead_duplicates_of(org uuid, recs uuid[], threshold real, name_keys boolean)
RETURNS TABLE (id uuid, candidate_id uuid, score real, reasons text[])
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	WITH me AS MATERIALIZED (
		SELECT l.id, l.first_name, l.last_name, crm.email_key(l.email::text) AS ek,
			   pg_catalog.array_remove(ARRAY[crm.phone_key(l.phone::text)], NULL) AS pk,
			   pg_catalog.array_remove(ARRAY[crm.name_key(l.first_name, l.last_name), crm.name_key(l.last_name, l.first_name)], NULL) AS nk
		  FROM crm.lead l
		 WHERE l.organization_id = org AND l.id = ANY (recs)
	), ok_e AS MATERIALIZED (
		SELECT d.v FROM (SELECT DISTINCT me.ek AS v FROM me WHERE me.ek IS NOT NULL) d
		 WHERE (SELECT pg_catalog.count(*) FROM (SELECT FROM crm.lead l
					WHERE l.organization_id = org AND l.deleted_at IS NULL AND crm.email_key(l.email::text) = d.v
					LIMIT crm.dedup_block_limit() + 1) z) <= crm.dedup_block_limit()
	), ok_p AS MATERIALIZED (
		SELECT d.v FROM (SELECT DISTINCT p AS v FROM me, pg_catalog.unnest(me.pk) p) d
		 WHERE (SELECT pg_catalog.count(*) FROM (SELECT FROM crm.lead l
					WHERE l.organization_id = org AND l.deleted_at IS NULL AND crm.phone_key(l.phone::text) = d.v
					LIMIT crm.dedup_block_limit() + 1) z) <= crm.dedup_block_limit()
	), ok_n AS MATERIALIZED (
		SELECT d.v FROM (SELECT DISTINCT n AS v FROM me, pg_catalog.unnest(me.nk) n) d
		 WHERE name_keys AND (SELECT pg_catalog.count(*) FROM (SELECT FROM crm.lead l
					WHERE l.organization_id = org AND l.deleted_at IS NULL AND crm.name_key(l.first_name, l.last_name) = d.v
					LIMIT crm.dedup_block_limit() + 1) z)
			 + (SELECT pg_catalog.count(*) FROM (SELECT FROM crm.lead l
					WHERE l.organization_id = org AND l.deleted_at IS NULL AND crm.name_key(l.last_name, l.first_name) = d.v
					LIMIT crm.dedup_block_limit() + 1) z) <= crm.dedup_block_limit()
	), k AS (
		-- one row per record and usable key: equality probes below; the
		-- usable keys as one jsonb object built once (a sorted key lookup
		-- per record, whatever plan the statistics suggest)
		SELECT me.id, 'e' AS kind, me.ek AS v FROM me WHERE (SELECT pg_catalog.jsonb_object_agg(o.v, true) FROM ok_e o) OPERATOR(pg_catalog.?) me.ek
		UNION ALL
		SELECT me.id, 'p', p FROM me, pg_catalog.unnest(me.pk) p WHERE (SELECT pg_catalog.jsonb_object_agg(o.v, true) FROM ok_p o) OPERATOR(pg_catalog.?) p
		UNION ALL
		SELECT me.id, 'n', n FROM me, pg_catalog.unnest(me.nk) n WHERE (SELECT pg_catalog.jsonb_object_agg(o.v, true) FROM ok_n o) OPERATOR(pg_catalog.?) n
	), cand AS (
		SELECT k.id AS rec, l.id, l.first_name, l.last_name, l.email, l.phone
		  FROM k CROSS JOIN LATERAL (SELECT l.id, l.first_name, l.last_name, l.email::text AS email, l.phone::text AS phone
				  FROM crm.lead l
				 WHERE l.organization_id = org AND l.deleted_at IS NULL AND crm.email_key(l.email::text) = k.v
				OFFSET 0) l
		 WHERE k.kind = 'e'
		UNION
		SELECT k.id, l.id, l.first_name, l.last_name, l.email, l.phone
		  FROM k CROSS JOIN LATERAL (SELECT l.id, l.first_name, l.last_name, l.email::text AS email, l.phone::text AS phone
				  FROM crm.lead l
				 WHERE l.organization_id = org AND l.deleted_at IS NULL AND crm.phone_key(l.phone::text) = k.v
				OFFSET 0) l
		 WHERE k.kind = 'p'
		UNION
		SELECT k.id, l.id, l.first_name, l.last_name, l.email, l.phone
		  FROM k CROSS JOIN LATERAL (SELECT l.id, l.first_name, l.last_name, l.email::text AS email, l.phone::text AS phone
				  FROM crm.lead l
				 WHERE l.organization_id = org AND l.deleted_at IS NULL
				   AND crm.name_key(l.first_name, l.last_name) = k.v
				OFFSET 0) l
		 WHERE k.kind = 'n'
		UNION
		SELECT k.id, l.id, l.first_name, l.last_name, l.email, l.phone
		  FROM k CROSS JOIN LATERAL (SELECT l.id, l.first_name, l.last_name, l.email::text AS email, l.phone::text AS phone
				  FROM crm.lead l
				 WHERE l.organization_id = org AND l.deleted_at IS NULL
				   AND crm.name_key(l.last_name, l.first_name) = k.v
				OFFSET 0) l
		 WHERE k.kind = 'n'
	)
	SELECT me.id, l.id, m.score, m.reasons
	  FROM me
	  JOIN cand l ON l.rec = me.id
	 CROSS JOIN LATERAL crm.person_match(
			me.first_name, me.last_name, me.ek, me.pk,
			l.first_name, l.last_name, crm.email_key(l.email),
			pg_catalog.array_remove(ARRAY[crm.phone_key(l.phone)], NULL)) m
	 WHERE l.id <> me.id AND m.score >= threshold
$$;
COMMENT ON FUNCTION crm._lead_duplicates_of(uuid, uuid[], real, boolean) IS
	'Internal (crm.find_duplicates and the duplicate rule for leads): candidates of a set of leads from the blocking indexes (each distinct key value counted once, values over crm.dedup_block_limit() ignored), scored by crm.person_match.';

CREATE FUNCTION crm._lead_duplicates(org uuid, rec uuid, threshold real)
RETURNS TABLE (candidate_id uuid, score real, reasons text[])
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT d.candidate_id, d.score, d.reasons
	  FROM crm._lead_duplicates_of(org, ARRAY[rec], threshold, true) d
	 ORDER BY d.score DESC, d.candidate_id
$$;
COMMENT ON FUNCTION crm._lead_duplicates(uuid, uuid, real) IS
	'Internal (crm.find_duplicates for leads): crm._lead_duplicates_of for one lead, best first.';

CREATE FUNCTION crm._account_duplicates_of(org uuid, recs uuid[], threshold real, name_keys boolean)
RETURNS TABLE (id uuid, candidate_id uuid, score real, reasons text[])
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	WITH me AS MATERIALIZED (
		SELECT a.id, a.name, a.domain, crm.phone_key(a.phone::text) AS pk, crm.company_key(a.name) AS ck
		  FROM crm.account a
		 WHERE a.organization_id = org AND a.id = ANY (recs)
	), ok_d AS MATERIALIZED (
		SELECT d.v FROM (SELECT DISTINCT me.domain AS v FROM me WHERE me.domain IS NOT NULL) d
		 WHERE (SELECT pg_catalog.count(*) FROM (SELECT FROM crm.account a
					WHERE a.organization_id = org AND a.deleted_at IS NULL AND a.domain = d.v
					LIMIT crm.dedup_block_limit() + 1) z) <= crm.dedup_block_limit()
	), ok_p AS MATERIALIZED (
		SELECT d.v FROM (SELECT DISTINCT me.pk AS v FROM me WHERE me.pk IS NOT NULL) d
		 WHERE (SELECT pg_catalog.count(*) FROM (SELECT FROM crm.account a
					WHERE a.organization_id = org AND a.deleted_at IS NULL AND crm.phone_key(a.phone::text) = d.v
					LIMIT crm.dedup_block_limit() + 1) z) <= crm.dedup_block_limit()
	), ok_c AS MATERIALIZED (
		SELECT d.v FROM (SELECT DISTINCT me.ck AS v FROM me WHERE me.ck IS NOT NULL) d
		 WHERE name_keys AND (SELECT pg_catalog.count(*) FROM (SELECT FROM crm.account a
					WHERE a.organization_id = org AND a.deleted_at IS NULL AND crm.company_key(a.name) = d.v
					LIMIT crm.dedup_block_limit() + 1) z) <= crm.dedup_block_limit()
	), k AS (
		SELECT me.*,
			   CASE WHEN (SELECT pg_catalog.jsonb_object_agg(o.v, true) FROM ok_d o) OPERATOR(pg_catalog.?) me.domain THEN me.domain END AS domain_ok,
			   CASE WHEN (SELECT pg_catalog.jsonb_object_agg(o.v, true) FROM ok_p o) OPERATOR(pg_catalog.?) me.pk THEN me.pk END AS pk_ok,
			   CASE WHEN (SELECT pg_catalog.jsonb_object_agg(o.v, true) FROM ok_c o) OPERATOR(pg_catalog.?) me.ck THEN me.ck END AS ck_ok
		  FROM me
	), cand AS (
		SELECT k.id AS rec, a.id, a.name, a.domain, a.phone
		  FROM k CROSS JOIN LATERAL (SELECT a.id, a.name, a.domain, a.phone::text AS phone
				  FROM crm.account a
				 WHERE a.organization_id = org AND a.deleted_at IS NULL AND a.domain = k.domain_ok
				OFFSET 0) a
		UNION
		SELECT k.id, a.id, a.name, a.domain, a.phone
		  FROM k CROSS JOIN LATERAL (SELECT a.id, a.name, a.domain, a.phone::text AS phone
				  FROM crm.account a
				 WHERE a.organization_id = org AND a.deleted_at IS NULL AND crm.phone_key(a.phone::text) = k.pk_ok
				OFFSET 0) a
		UNION
		SELECT k.id, a.id, a.name, a.domain, a.phone
		  FROM k CROSS JOIN LATERAL (SELECT a.id, a.name, a.domain, a.phone::text AS phone
				  FROM crm.account a
				 WHERE a.organization_id = org AND a.deleted_at IS NULL AND crm.company_key(a.name) = k.ck_ok
				OFFSET 0) a
	)
	SELECT me.id, a.id, m.score, m.reasons
	  FROM k me
	  JOIN cand a ON a.rec = me.id
	 CROSS JOIN LATERAL crm.account_match(me.name, me.domain, me.pk, a.name, a.domain, crm.phone_key(a.phone)) m
	 WHERE a.id <> me.id AND m.score >= threshold
$$;
COMMENT ON FUNCTION crm._account_duplicates_of(uuid, uuid[], real, boolean) IS
	'Internal (crm.find_duplicates and the duplicate rule for accounts): candidates of a set of accounts from the blocking indexes (domain, phone, company key; each distinct value counted once, values over crm.dedup_block_limit() ignored), scored by crm.account_match.';

CREATE FUNCTION crm._account_duplicates(org uuid, rec uuid, threshold real)
RETURNS TABLE (candidate_id uuid, score real, reasons text[])
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT d.candidate_id, d.score, d.reasons
	  FROM crm._account_duplicates_of(org, ARRAY[rec], threshold, true) d
	 ORDER BY d.score DESC, d.candidate_id
$$;
COMMENT ON FUNCTION crm._account_duplicates(uuid, uuid, real) IS
	'Internal (crm.find_duplicates for accounts): crm._account_duplicates_of for one account, best first.';

-- The entity name ('contact', 'lead', 'account') of an entity written
-- 'contact' or 'crm.contact', or an error naming the entities with duplicate
-- detection (those whose table carries crm.trg_duplicate_check).
CREATE FUNCTION crm._dedup_entity(entity text) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	RETURN crm._entity(entity, 'duplicates');
END;
$$;
COMMENT ON FUNCTION crm._dedup_entity(text) IS
	'Internal: the table name of an entity with duplicate detection (contact, lead, account), written ''contact'' or ''crm.contact''; an error for any other.';

-- Candidates of one record of an organization (shared by find_duplicates and
-- the insert trigger).
CREATE FUNCTION crm._duplicates(entity text, org uuid, rec uuid, threshold real)
RETURNS TABLE (candidate_id uuid, score real, reasons text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	IF threshold IS NULL OR threshold < 0 OR threshold > 1 THEN
		RAISE EXCEPTION 'threshold must be between 0 and 1, not %', threshold
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	CASE entity
		WHEN 'contact' THEN RETURN QUERY SELECT * FROM crm._contact_duplicates(org, rec, threshold);
		WHEN 'lead' THEN RETURN QUERY SELECT * FROM crm._lead_duplicates(org, rec, threshold);
		WHEN 'account' THEN RETURN QUERY SELECT * FROM crm._account_duplicates(org, rec, threshold);
	END CASE;
END;
$$;
COMMENT ON FUNCTION crm._duplicates(text, uuid, uuid, real) IS
	'Internal: candidates of one contact, lead or account of an organization, scored, at or above the threshold.';

CREATE FUNCTION crm.find_duplicates(entity text, id uuid, threshold real DEFAULT 0.75)
RETURNS TABLE (candidate_id uuid, score real, reasons text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	ent text := crm._dedup_entity(find_duplicates.entity);
	org uuid := crm.current_org();
	found_it boolean;
BEGIN
	EXECUTE format('SELECT EXISTS (SELECT 1 FROM crm.%I WHERE organization_id = $1 AND id = $2)', ent)
		INTO found_it USING org, find_duplicates.id;
	IF NOT found_it THEN
		RAISE EXCEPTION '% % not found', ent, find_duplicates.id
			USING ERRCODE = 'no_data_found',
				  HINT = 'The record must exist in the current organization (crm.organization_id).';
	END IF;
	RETURN QUERY SELECT * FROM crm._duplicates(ent, org, find_duplicates.id, find_duplicates.threshold);
END;
$$;
COMMENT ON FUNCTION crm.find_duplicates(text, uuid, real) IS
	'Likely duplicates of one contact, lead or account of the current organization: candidate_id, score in [0, 1] (at least threshold), reasons (same email, same phone, same domain, similar name (0.93)). Candidates come from indexed blocking keys only; best first.';

-- ---------------------------------------------------------------------------
-- All pairs of a tenant in one set-based pass: every live row's blocking
-- keys (tagged by kind), each with the row's scoring fields (no join back
-- to the table afterwards); blocks of one record
-- (most emails and phones) and blocks over crm.dedup_block_limit() are
-- dropped; the rest are self-joined on the key (id_a < id_b) and each
-- pair scored in C.  A pair that shares several keys is scored once per key
-- (cheaper than making pairs distinct before scoring, as nearly all
-- candidate pairs share one key only); the few that pass the threshold are
-- made distinct and get their reasons.
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm._person_pairs(entity regclass, org uuid, threshold real)
RETURNS TABLE (id_a uuid, id_b uuid, score real, reasons text[])
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
DECLARE
	-- contacts have a phone and a mobile, leads only a phone
	is_contact boolean := entity = 'crm.contact'::regclass;
	tbl text := CASE WHEN is_contact THEN 'crm.contact' ELSE 'crm.lead' END;
	phones text := CASE WHEN is_contact
						THEN 'ARRAY[crm.phone_key(c.phone::text), crm.phone_key(c.mobile::text)]'
						ELSE 'ARRAY[crm.phone_key(c.phone::text)]' END;
BEGIN
	RETURN QUERY EXECUTE format($q$
	WITH k AS (
		SELECT c.id, c.first_name, c.last_name, crm.email_key(c.email::text) AS ek,
			   pg_catalog.array_remove(%s, NULL) AS pk,
			   crm.name_key(c.first_name, c.last_name) AS nk1,
			   crm.name_key(c.last_name, c.first_name) AS nk2
		  FROM %s c
		 WHERE c.organization_id = $1 AND c.deleted_at IS NULL
	), b AS MATERIALIZED (
		SELECT s.id, s.key, s.first_name, s.last_name, s.ek, s.pk
		  FROM (SELECT k.id, v.key, k.first_name, k.last_name, k.ek, k.pk,
					   pg_catalog.count(*) OVER (PARTITION BY v.key) AS n
				  FROM k CROSS JOIN LATERAL
					   (SELECT 'e:' || k.ek UNION ALL SELECT 'n:' || k.nk1 UNION ALL SELECT 'n:' || k.nk2
						UNION ALL SELECT 'p:' || p FROM pg_catalog.unnest(k.pk) p) AS v(key)
				 WHERE v.key IS NOT NULL) s
		 WHERE s.n BETWEEN 2 AND crm.dedup_block_limit()
	), scored AS (
		SELECT x.id AS id_a, y.id AS id_b,
			   crm.person_score(x.first_name, x.last_name, x.ek, x.pk, y.first_name, y.last_name, y.ek, y.pk) AS score,
			   x.first_name AS a_first, x.last_name AS a_last, x.ek AS a_ek, x.pk AS a_pk,
			   y.first_name AS b_first, y.last_name AS b_last, y.ek AS b_ek, y.pk AS b_pk
		  FROM b x
		  JOIN b y ON y.key = x.key AND x.id < y.id
		OFFSET 0					-- a fence: score each pair once
	)
	SELECT DISTINCT ON (s.id_a, s.id_b) s.id_a, s.id_b, s.score,
		   crm.person_reasons(s.a_first, s.a_last, s.a_ek, s.a_pk, s.b_first, s.b_last, s.b_ek, s.b_pk)
	  FROM scored s
	 WHERE s.score >= $2
	 ORDER BY s.id_a, s.id_b
	$q$, phones, tbl) USING org, threshold;
END;
$$;
COMMENT ON FUNCTION crm._person_pairs(regclass, uuid, real) IS
	'Internal (crm.duplicate_pairs for contacts and leads): all candidate pairs of an organization from one self-join on the blocking keys (blocks over crm.dedup_block_limit() ignored), scored in C.';

CREATE FUNCTION crm._account_pairs(org uuid, threshold real)
RETURNS TABLE (id_a uuid, id_b uuid, score real, reasons text[])
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	WITH k AS (
		SELECT a.id, a.name, a.domain, crm.phone_key(a.phone::text) AS pk, crm.company_key(a.name) AS ck
		  FROM crm.account a
		 WHERE a.organization_id = org AND a.deleted_at IS NULL
	), b AS MATERIALIZED (
		SELECT s.id, s.key, s.name, s.domain, s.pk
		  FROM (SELECT k.id, v.key, k.name, k.domain, k.pk, pg_catalog.count(*) OVER (PARTITION BY v.key) AS n
				  FROM k CROSS JOIN LATERAL
					   (VALUES ('d:' || k.domain), ('p:' || k.pk), ('c:' || k.ck)) AS v(key)
				 WHERE v.key IS NOT NULL) s
		 WHERE s.n BETWEEN 2 AND crm.dedup_block_limit()
	), scored AS (
		SELECT x.id AS id_a, y.id AS id_b,
			   crm.account_score(x.name, x.domain, x.pk, y.name, y.domain, y.pk) AS score,
			   x.name AS a_name, x.domain AS a_domain, x.pk AS a_pk,
			   y.name AS b_name, y.domain AS b_domain, y.pk AS b_pk
		  FROM b x
		  JOIN b y ON y.key = x.key AND x.id < y.id
		OFFSET 0					-- a fence: score each pair once
	)
	SELECT DISTINCT ON (s.id_a, s.id_b) s.id_a, s.id_b, s.score,
		   crm.account_reasons(s.a_name, s.a_domain, s.a_pk, s.b_name, s.b_domain, s.b_pk)
	  FROM scored s
	 WHERE s.score >= threshold
	 ORDER BY s.id_a, s.id_b
$$;
COMMENT ON FUNCTION crm._account_pairs(uuid, real) IS
	'Internal (crm.duplicate_pairs for accounts): all candidate pairs of an organization from one self-join on the blocking keys (blocks over crm.dedup_block_limit() ignored), scored in C.';

CREATE FUNCTION crm.duplicate_pairs(entity text, threshold real DEFAULT 0.75)
RETURNS TABLE (id_a uuid, id_b uuid, score real, reasons text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
SET work_mem = '128MB'			-- one batch pass: sort and join blocks in memory
AS $$
DECLARE
	ent text := crm._dedup_entity(duplicate_pairs.entity);
	org uuid := crm.current_org();
BEGIN
	IF threshold IS NULL OR threshold < 0 OR threshold > 1 THEN
		RAISE EXCEPTION 'threshold must be between 0 and 1, not %', threshold
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	CASE ent
		WHEN 'contact', 'lead' THEN RETURN QUERY SELECT * FROM crm._person_pairs(format('crm.%I', ent)::regclass, org, threshold);
		WHEN 'account' THEN RETURN QUERY SELECT * FROM crm._account_pairs(org, threshold);
	END CASE;
END;
$$;
COMMENT ON FUNCTION crm.duplicate_pairs(text, real) IS
	'Every likely duplicate pair of contacts, leads or accounts of the current organization (id_a < id_b, score at least threshold, reasons), found in one set-based pass over the blocking keys.';

-- ---------------------------------------------------------------------------
-- Rules: what happens when a new record has a duplicate.
-- ---------------------------------------------------------------------------
CREATE TABLE crm.duplicate_rule (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	entity		text NOT NULL,
	action		text NOT NULL DEFAULT 'alert',
	threshold	real NOT NULL DEFAULT 0.85,
	match_key	text,
	is_active	boolean NOT NULL DEFAULT true,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT duplicate_rule_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT duplicate_rule_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	-- one similarity rule (match_key NULL) and one exact rule per key
	CONSTRAINT duplicate_rule_entity_key UNIQUE NULLS NOT DISTINCT (organization_id, entity, match_key),
	CONSTRAINT duplicate_rule_action_valid CHECK (action IN ('allow', 'alert', 'block')),
	CONSTRAINT duplicate_rule_threshold_range CHECK (threshold > 0 AND threshold <= 1),
	CONSTRAINT duplicate_rule_match_key_valid CHECK (match_key IS NULL
		OR (entity IN ('contact', 'lead') AND match_key IN ('email', 'phone'))
		OR (entity = 'account' AND match_key IN ('domain', 'phone'))),
	-- a name alone scores at most 0.8 (SIM_NAME_WEIGHT, src/similarity.h):
	-- a block needs more than a name
	CONSTRAINT duplicate_rule_block_threshold CHECK (action <> 'block' OR match_key IS NOT NULL OR threshold > 0.8::real)
);
COMMENT ON TABLE crm.duplicate_rule IS 'Per-organization duplicate rules of an entity, applied to the records each INSERT writes: a similarity rule (match_key NULL: duplicate score at least threshold) and exact-key rules (match_key: the same email, phone or domain as a live record; also checked on updates that change the key); a match is allowed, alerted (outbox event <entity>.duplicate_alert) or blocked (23505).';
COMMENT ON COLUMN crm.duplicate_rule.entity IS 'An entity with duplicate detection (contact, lead, account); ''crm.contact'' is stored as ''contact''.';
COMMENT ON COLUMN crm.duplicate_rule.action IS 'allow (do nothing), alert (emit <entity>.duplicate_alert with the candidates) or block (refuse the statement, SQLSTATE 23505).';
COMMENT ON COLUMN crm.duplicate_rule.threshold IS 'Similarity rule: lowest crm.find_duplicates score that counts as a duplicate (0 < threshold <= 1; above 0.8 for block, since a name alone scores at most 0.8). Ignored by exact-key rules.';
COMMENT ON COLUMN crm.duplicate_rule.match_key IS 'NULL: similarity rule (scored candidates). email, phone (contact, lead) or domain, phone (account): exact-key rule, the key is unique among the organization''s live records (crm.email_key, crm.phone_key of phone and mobile, domain), checked on insert and when an update changes the key or revives a record.';
COMMENT ON COLUMN crm.duplicate_rule.is_active IS 'False: the rule is kept but not applied (as if allow).';
SELECT crm._setup_tenant_table('crm.duplicate_rule', label => 'duplicate rule');
-- The entity: one with duplicate detection (crm._entity_guard), else 22023
-- naming them.
CREATE TRIGGER crm_05_entity BEFORE INSERT OR UPDATE OF entity ON crm.duplicate_rule
	FOR EACH ROW EXECUTE FUNCTION crm._entity_guard('duplicate_rule', 'duplicates');

-- A block rule behaves like a unique key under concurrency: inserts that
-- share a blocking key serialise on a lock of that key (crm's own lock
-- space), and the second one looks again once the first has committed
-- (src/dedup_rule.c; doc/design.md, "Duplicate rules under concurrency").
CREATE FUNCTION crm._dedup_lock(org uuid, entity text, keys text[]) RETURNS void
	AS 'MODULE_PATHNAME', 'dedup_lock'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION crm._dedup_lock(uuid, text, text[]) IS
	'Internal (duplicate rule block): takes a transaction-level lock per blocking key of the new records (or, past the transaction''s key budget, one lock on the organization''s entity), so that inserts of possible duplicates serialise.';
-- Not executable by application roles: crm.trg_duplicate_check is SECURITY
-- DEFINER (a lock key no caller can choose).

-- Exact-key matches of a set of records: live records of the organization
-- with the same key (email key; phone key of phone or mobile, any against
-- any; domain).  The same indexes as the blocking keys serve them, one
-- probe per record (LATERAL ... OFFSET 0, as above).
CREATE FUNCTION crm._dedup_exact_of(entity text, org uuid, recs uuid[], match_key text)
RETURNS TABLE (id uuid, candidate_id uuid, score real, reasons text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	CASE entity || ':' || match_key
	WHEN 'contact:email' THEN RETURN QUERY
		SELECT n.id, c.id, 1::real, ARRAY['same email'] FROM crm.contact n
		 CROSS JOIN LATERAL (SELECT c.id FROM crm.contact c
							  WHERE c.organization_id = org AND c.deleted_at IS NULL
								AND crm.email_key(c.email::text) = crm.email_key(n.email::text) AND c.id <> n.id
							 OFFSET 0) c
		 WHERE n.organization_id = org AND n.id = ANY (recs);
	WHEN 'contact:phone' THEN RETURN QUERY
		SELECT DISTINCT n.id, c.id, 1::real, ARRAY['same phone'] FROM crm.contact n
		 CROSS JOIN LATERAL pg_catalog.unnest(ARRAY[crm.phone_key(n.phone::text), crm.phone_key(n.mobile::text)]) v(pk)
		 CROSS JOIN LATERAL (SELECT c.id FROM crm.contact c
							  WHERE c.organization_id = org AND c.deleted_at IS NULL AND crm.phone_key(c.phone::text) = v.pk
							 UNION
							 SELECT c.id FROM crm.contact c
							  WHERE c.organization_id = org AND c.deleted_at IS NULL AND crm.phone_key(c.mobile::text) = v.pk) c
		 WHERE n.organization_id = org AND n.id = ANY (recs) AND v.pk IS NOT NULL AND c.id <> n.id;
	WHEN 'lead:email' THEN RETURN QUERY
		SELECT n.id, l.id, 1::real, ARRAY['same email'] FROM crm.lead n
		 CROSS JOIN LATERAL (SELECT l.id FROM crm.lead l
							  WHERE l.organization_id = org AND l.deleted_at IS NULL
								AND crm.email_key(l.email::text) = crm.email_key(n.email::text) AND l.id <> n.id
							 OFFSET 0) l
		 WHERE n.organization_id = org AND n.id = ANY (recs);
	WHEN 'lead:phone' THEN RETURN QUERY
		SELECT n.id, l.id, 1::real, ARRAY['same phone'] FROM crm.lead n
		 CROSS JOIN LATERAL (SELECT l.id FROM crm.lead l
							  WHERE l.organization_id = org AND l.deleted_at IS NULL
								AND crm.phone_key(l.phone::text) = crm.phone_key(n.phone::text) AND l.id <> n.id
							 OFFSET 0) l
		 WHERE n.organization_id = org AND n.id = ANY (recs);
	WHEN 'account:domain' THEN RETURN QUERY
		SELECT n.id, a.id, 1::real, ARRAY['same domain'] FROM crm.account n
		 CROSS JOIN LATERAL (SELECT a.id FROM crm.account a
							  WHERE a.organization_id = org AND a.deleted_at IS NULL
								AND a.domain = n.domain AND a.id <> n.id
							 OFFSET 0) a
		 WHERE n.organization_id = org AND n.id = ANY (recs);
	WHEN 'account:phone' THEN RETURN QUERY
		SELECT n.id, a.id, 1::real, ARRAY['same phone'] FROM crm.account n
		 CROSS JOIN LATERAL (SELECT a.id FROM crm.account a
							  WHERE a.organization_id = org AND a.deleted_at IS NULL
								AND crm.phone_key(a.phone::text) = crm.phone_key(n.phone::text) AND a.id <> n.id
							 OFFSET 0) a
		 WHERE n.organization_id = org AND n.id = ANY (recs);
	END CASE;
END;
$$;
COMMENT ON FUNCTION crm._dedup_exact_of(text, uuid, uuid[], text) IS
	'Internal (exact-key duplicate rules): for each of a set of records, the live records of the organization with the same email, phone (phone or mobile) or domain.';

-- What a rule finds for a set of records: scored candidates (similarity
-- rule) or exact-key matches.
CREATE FUNCTION crm._dedup_matches(entity text, org uuid, recs uuid[], threshold real, match_key text, name_keys boolean)
RETURNS TABLE (id uuid, candidate_id uuid, score real, reasons text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	IF match_key IS NOT NULL THEN
		RETURN QUERY SELECT * FROM crm._dedup_exact_of(entity, org, recs, match_key);
		RETURN;
	END IF;
	CASE entity
		WHEN 'contact' THEN RETURN QUERY SELECT * FROM crm._contact_duplicates_of(org, recs, threshold, name_keys);
		WHEN 'lead' THEN RETURN QUERY SELECT * FROM crm._lead_duplicates_of(org, recs, threshold, name_keys);
		WHEN 'account' THEN RETURN QUERY SELECT * FROM crm._account_duplicates_of(org, recs, threshold, name_keys);
	END CASE;
END;
$$;
COMMENT ON FUNCTION crm._dedup_matches(text, uuid, uuid[], real, text, boolean) IS
	'Internal (duplicate rules): what a rule finds for a set of records of an organization: scored candidates at or above the threshold (match_key NULL; with name_keys false only candidates that share an email, phone or domain, as for block) or the records with the same key.';

CREATE FUNCTION crm._dedup_exists_now(entity text, org uuid, recs uuid[], threshold real, match_key text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'dedup_exists_now'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION crm._dedup_exists_now(text, uuid, uuid[], real, text) IS
	'Internal (duplicate rule block under REPEATABLE READ/SERIALIZABLE): whether crm._dedup_matches finds anything for the records in a snapshot taken now rather than the transaction''s.';
-- Called by crm.trg_duplicate_check (SECURITY DEFINER), whose queries filter
-- by organization explicitly.

-- The blocking keys of a new record, as the candidate queries above use
-- them (email, phone and mobile, both name orders; for accounts domain,
-- phone, company key), each marked with its kind.  A similarity block rule
-- locks the email and phone (domain) keys, an exact-key rule the keys of its
-- kind only: the same locks.
CREATE FUNCTION crm._dedup_keys(entity text, rec jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, crm, pg_temp
AS $$
	SELECT pg_catalog.array_remove(CASE entity
		WHEN 'account' THEN ARRAY['d:' || (rec ->> 'domain'), 'p:' || crm.phone_key(rec ->> 'phone'),
								  'c:' || crm.company_key(rec ->> 'name')]
		ELSE ARRAY['e:' || crm.email_key(rec ->> 'email'),
				   'p:' || crm.phone_key(rec ->> 'phone'), 'p:' || crm.phone_key(rec ->> 'mobile'),
				   'n:' || crm.name_key(rec ->> 'first_name', rec ->> 'last_name'),
				   'n:' || crm.name_key(rec ->> 'last_name', rec ->> 'first_name')]
		END, NULL)
$$;
COMMENT ON FUNCTION crm._dedup_keys(text, jsonb) IS
	'Internal (duplicate rule block): the blocking keys of a contact, lead or account (given as jsonb), marked by kind (e: email, p: phone, n: name, d: domain, c: company).';

-- AFTER INSERT and AFTER UPDATE statement trigger on contact, lead and
-- account: applies the rules to all the statement's records at once (one
-- set-based look-up per rule, each blocking key counted once), so a bulk
-- INSERT ... SELECT costs per record a few index probes, not a count of
-- every block.  On UPDATE only exact-key rules apply, to the records whose
-- key changed or that were revived (a unique key holds on update too).
-- SECURITY DEFINER: the key locks and the look-ups are internal, not
-- executable by application roles (sql/95_privileges.sql); every query here
-- and in the functions it calls filters by the records' organization
-- explicitly, and the rows themselves passed the caller's row-level
-- security.
CREATE FUNCTION crm.trg_duplicate_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	ent text;
	o uuid;
	ids uuid[];
	r record;
	tag text;
	recs uuid[];
	keys text[];
	hit record;
	best jsonb;
BEGIN
	ent := crm._trigger_table_ok('crm.trg_duplicate_check()', TG_NAME, TG_RELID, TG_ARGV, '{contact,lead,account}');
	IF TG_LEVEL <> 'STATEMENT' OR TG_WHEN <> 'AFTER' THEN
		RAISE EXCEPTION 'crm.trg_duplicate_check() must be fired as an AFTER statement trigger'
			USING ERRCODE = 'trigger_protocol_violated';
	END IF;
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN NULL;
	END IF;
	-- per organization of the statement's live records (a superuser may
	-- write several at once)
	FOR o IN SELECT DISTINCT n.organization_id FROM new_rows n WHERE n.deleted_at IS NULL ORDER BY 1
	LOOP
		ids := NULL;
		FOR r IN
			SELECT d.action, d.threshold, d.match_key FROM crm.duplicate_rule d
			 WHERE d.organization_id = o AND d.entity = ent AND d.is_active AND d.action <> 'allow'
			   AND (TG_OP = 'INSERT' OR d.match_key IS NOT NULL)
			 ORDER BY d.match_key NULLS LAST
		LOOP
			IF ids IS NULL THEN
				SELECT pg_catalog.array_agg(n.id ORDER BY n.id) INTO ids
				  FROM new_rows n WHERE n.organization_id = o AND n.deleted_at IS NULL;
			END IF;
			tag := CASE r.match_key WHEN 'email' THEN 'e:' WHEN 'phone' THEN 'p:' WHEN 'domain' THEN 'd:' END;
			recs := ids;
			IF TG_OP = 'UPDATE' THEN
				-- only records whose key changed, or that were revived
				SELECT pg_catalog.array_agg(n.id ORDER BY n.id) INTO recs
				  FROM new_rows n JOIN old_rows x ON x.organization_id = n.organization_id AND x.id = n.id
				 WHERE n.id = ANY (ids)
				   AND (x.deleted_at IS NOT NULL
						OR ARRAY(SELECT k FROM pg_catalog.unnest(crm._dedup_keys(ent, pg_catalog.to_jsonb(n))) k WHERE pg_catalog.left(k, 2) = tag ORDER BY k)
						   IS DISTINCT FROM
						   ARRAY(SELECT k FROM pg_catalog.unnest(crm._dedup_keys(ent, pg_catalog.to_jsonb(x))) k WHERE pg_catalog.left(k, 2) = tag ORDER BY k));
				CONTINUE WHEN recs IS NULL;
			END IF;
			-- block: wait for every transaction that wrote a record sharing
			-- a key; the query below then runs with a new snapshot (READ
			-- COMMITTED) and sees what they committed.  A block needs an
			-- email or phone (domain) in common, so the name and company
			-- keys are neither locked nor looked up: namesakes do not wait
			-- for each other.
			IF r.action = 'block' THEN
				SELECT pg_catalog.array_agg(DISTINCT k) INTO keys
				  FROM new_rows n, pg_catalog.unnest(crm._dedup_keys(ent, pg_catalog.to_jsonb(n))) k
				 WHERE n.id = ANY (recs)
				   AND CASE WHEN tag IS NULL THEN pg_catalog.left(k, 2) NOT IN ('n:', 'c:') ELSE pg_catalog.left(k, 2) = tag END;
				PERFORM crm._dedup_lock(o, ent, keys);
			END IF;

			FOR hit IN
				SELECT f.id, pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('id', f.candidate_id, 'score', round(f.score::numeric, 3), 'reasons', pg_catalog.to_jsonb(f.reasons))
											   ORDER BY f.score DESC, f.candidate_id) AS cands
				  FROM crm._dedup_matches(ent, o, recs, r.threshold, r.match_key, r.action <> 'block') f
				 GROUP BY f.id ORDER BY f.id
			LOOP
				IF r.action = 'block' THEN
					best := hit.cands -> 0;
					IF r.match_key IS NULL THEN
						RAISE EXCEPTION 'new % is a duplicate of % %: %', ent, ent, best ->> 'id',
							(SELECT string_agg(x, ', ') FROM jsonb_array_elements_text(best -> 'reasons') x)
							USING ERRCODE = 'unique_violation',
								  DETAIL = format('Score %s of the new %s %s reaches the threshold %s of the organization''s duplicate rule for %s (action block); %s candidate(s): %s.',
												  best ->> 'score', ent, hit.id, r.threshold, ent, jsonb_array_length(hit.cands),
												  (SELECT string_agg(c ->> 'id', ', ') FROM jsonb_array_elements(hit.cands) c)),
								  HINT = format('Update the existing %s instead, merge the records with crm.merge(), or change the rule (crm.duplicate_rule: action alert or allow, or a higher threshold).', ent);
					END IF;
					RAISE EXCEPTION '% % has the same % as % %', CASE TG_OP WHEN 'INSERT' THEN 'new' ELSE 'updated' END,
						ent, r.match_key, ent, best ->> 'id'
						USING ERRCODE = 'unique_violation',
							  DETAIL = format('The organization''s duplicate rule for %s makes %s unique among live records (action block); %s record(s) have the %s of %s %s: %s.',
											  ent, r.match_key, jsonb_array_length(hit.cands), r.match_key,
											  CASE TG_OP WHEN 'INSERT' THEN 'the new ' ELSE 'the updated ' END || ent, hit.id,
											  (SELECT string_agg(c ->> 'id', ', ') FROM jsonb_array_elements(hit.cands) c)),
							  HINT = format('Update the existing %s instead, merge the records with crm.merge(), or change the rule (crm.duplicate_rule with match_key %s: action alert or allow).', ent, r.match_key);
				END IF;
				PERFORM crm.emit(ent || '.duplicate_alert', ent, hit.id,
								 CASE WHEN r.match_key IS NULL THEN jsonb_build_object('threshold', r.threshold, 'candidates', hit.cands)
									  ELSE jsonb_build_object('match_key', r.match_key, 'candidates', hit.cands) END, o);
			END LOOP;
			-- REPEATABLE READ and SERIALIZABLE read with the transaction's
			-- snapshot: a duplicate committed since is invisible to it, and
			-- the statement must not commit.  The retry sees the duplicate.
			IF NOT FOUND AND r.action = 'block' AND current_setting('transaction_isolation') <> 'read committed'
			   AND crm._dedup_exists_now(ent, o, recs, r.threshold, r.match_key) THEN
				RAISE EXCEPTION 'could not serialize the duplicate check of the % %', CASE TG_OP WHEN 'INSERT' THEN 'new' ELSE 'updated' END, ent
					USING ERRCODE = 'serialization_failure',
						  DETAIL = format('A duplicate committed after this %s transaction took its snapshot; the organization''s duplicate rule for %s%s is block.',
										  current_setting('transaction_isolation'), ent,
										  CASE WHEN r.match_key IS NOT NULL THEN format(' (match_key %s)', r.match_key) ELSE '' END),
						  HINT = 'Retry the transaction: it will see the duplicate.';
			END IF;
		END LOOP;
	END LOOP;
	RETURN NULL;
END;
$$;
COMMENT ON FUNCTION crm.trg_duplicate_check() IS
	'AFTER INSERT and AFTER UPDATE statement trigger on contact, lead and account: applies the organization''s crm.duplicate_rule rows to the statement''s records at once (block: error 23505 naming the best candidate, like a unique key also against concurrent inserts; 40001 under REPEATABLE READ/SERIALIZABLE when the duplicate committed after the snapshot; alert: outbox event <entity>.duplicate_alert). On UPDATE only exact-key rules, for records whose key changed or that were revived. Off in restore mode.';

CREATE TRIGGER crm_60_duplicate_check AFTER INSERT ON crm.contact
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_duplicate_check('contact');
CREATE TRIGGER crm_60_duplicate_check_update AFTER UPDATE ON crm.contact
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_duplicate_check('contact');
CREATE TRIGGER crm_60_duplicate_check AFTER INSERT ON crm.lead
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_duplicate_check('lead');
CREATE TRIGGER crm_60_duplicate_check_update AFTER UPDATE ON crm.lead
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_duplicate_check('lead');
CREATE TRIGGER crm_60_duplicate_check AFTER INSERT ON crm.account
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_duplicate_check('account');
CREATE TRIGGER crm_60_duplicate_check_update AFTER UPDATE ON crm.account
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_duplicate_check('account');
-- ============================================================================
-- 70 search: ranked full-text search across contacts, accounts, leads,
-- activities and notes
-- ============================================================================

-- Full-text matching that row-level security lets an index serve.  Under
-- RLS, PostgreSQL evaluates a user's condition inside an index scan only if
-- its function is LEAKPROOF, and the built-in @@ is not marked so: a tenant's
-- search would then scan every row of the tenant.  crm.ts_match is the same
-- built-in function (ts_match_vq: a pure function of its two arguments that
-- raises no error about them) declared LEAKPROOF, crm.@@ its operator, and
-- crm.tsvector_ops a GIN operator class for it built from the standard
-- tsvector support functions.  Write OPERATOR(crm.@@) to use it.
CREATE FUNCTION crm.ts_match(tsvector, tsquery) RETURNS boolean
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF
	AS 'ts_match_vq';
COMMENT ON FUNCTION crm.ts_match(tsvector, tsquery) IS
	'tsvector @@ tsquery, declared LEAKPROOF so that indexes serve it under row-level security; operator crm.@@.';
CREATE OPERATOR crm.@@ (LEFTARG = tsvector, RIGHTARG = tsquery, FUNCTION = crm.ts_match,
						RESTRICT = tsmatchsel, JOIN = tsmatchjoinsel);
COMMENT ON OPERATOR crm.@@ (tsvector, tsquery) IS
	'Full-text match usable by the search indexes under row-level security: search_vector OPERATOR(crm.@@) crm.search_query(''ann'').';
CREATE OPERATOR CLASS crm.tsvector_ops FOR TYPE tsvector USING gin AS
	OPERATOR 1 crm.@@ (tsvector, tsquery),
	FUNCTION 1 pg_catalog.gin_cmp_tslexeme(text, text),
	FUNCTION 2 pg_catalog.gin_extract_tsvector(tsvector, internal, internal),
	FUNCTION 3 pg_catalog.gin_extract_tsquery(tsvector, internal, smallint, internal, internal, internal, internal),
	FUNCTION 4 pg_catalog.gin_tsquery_consistent(internal, smallint, tsvector, integer, internal, internal, internal, internal),
	FUNCTION 5 pg_catalog.gin_cmp_prefix(text, text, smallint, internal),
	FUNCTION 6 pg_catalog.gin_tsquery_triconsistent(internal, smallint, tsvector, integer, internal, internal, internal),
	STORAGE text;
COMMENT ON OPERATOR FAMILY crm.tsvector_ops USING gin IS 'GIN index support of crm.@@ (full-text match under row-level security).';

-- The search indexes of contact, account and lead use it (they serve
-- crm.search and any query written with OPERATOR(crm.@@)).
CREATE INDEX contact_search_idx ON crm.contact USING gin (search_vector crm.tsvector_ops);
CREATE INDEX account_search_idx ON crm.account USING gin (search_vector crm.tsvector_ops);
CREATE INDEX lead_search_idx ON crm.lead USING gin (search_vector crm.tsvector_ops);
CREATE INDEX activity_search_idx ON crm.activity USING gin (search_vector crm.tsvector_ops);
CREATE INDEX note_search_idx ON crm.note USING gin (search_vector crm.tsvector_ops);

-- Turn what a user types into a tsquery, as search-as-you-type expects:
-- every word must match a word of the record, the last one as a prefix
-- ("ann smi" finds Ann Smith and Ann Smithers).  Only the last word is a
-- prefix because a prefix term makes the index union every word it begins
-- (all the "ann..." names of every tenant), while a whole word is one cheap
-- lookup.  The input is folded as the indexed text is ("muller" finds
-- Müller).  Input that is a phone number in any format ("(415) 555-0199",
-- "+44 20 7946 0958", "020 7946 0958") becomes its digits, one prefix term,
-- matched against the digits crm.search_phone_terms indexes.  Operators in
-- the input are treated as text, never as tsquery syntax.
CREATE FUNCTION crm.search_query(query text) RETURNS tsquery
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE
		WHEN query ~ '^[[:space:]0-9()+./-]+$' AND length(regexp_replace(query, '[^0-9]', '', 'g')) >= 6
			THEN (quote_literal(regexp_replace(query, '[^0-9]', '', 'g')) || ':*')::tsquery
		ELSE (SELECT CASE WHEN count(*) = 0 THEN NULL
						  ELSE string_agg(quote_literal(w) || CASE WHEN k = last THEN ':*' ELSE '' END, ' & ' ORDER BY k)::tsquery END
				FROM (SELECT w, row_number() OVER (ORDER BY n) AS k, count(*) OVER () AS last
						FROM regexp_split_to_table(lower(crm.search_fold(query)), '[^[:alnum:]@._+-]+') WITH ORDINALITY AS t(w, n)
					   WHERE w <> '') words)
	END;
$$;
COMMENT ON FUNCTION crm.search_query(text) IS
	'The tsquery crm.search() uses for a user''s input: every word must match a word, the last one as a prefix; accents folded; a phone number in any format becomes its digits.';

CREATE FUNCTION crm.search(query text, lim integer DEFAULT 20)
RETURNS TABLE (entity text, id uuid, title text, subtitle text, rank real)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	q tsquery := crm.search_query(query);
	org uuid := crm.current_org();
BEGIN
	IF lim IS NULL OR lim < 1 OR lim > 1000 THEN
		RAISE EXCEPTION 'search limit must be between 1 and 1000, not %', lim
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF q IS NULL THEN
		RETURN;
	END IF;
	RETURN QUERY
	SELECT * FROM (
		(SELECT 'contact'::text, c.id, concat_ws(' ', c.first_name, c.last_name), c.email::text, ts_rank(c.search_vector, q)
		   FROM crm.contact c
		  WHERE c.organization_id = org AND c.search_vector OPERATOR(crm.@@) q AND c.deleted_at IS NULL
		  ORDER BY 5 DESC LIMIT lim)
		UNION ALL
		(SELECT 'account'::text, a.id, a.name, a.domain, ts_rank(a.search_vector, q)
		   FROM crm.account a
		  WHERE a.organization_id = org AND a.search_vector OPERATOR(crm.@@) q AND a.deleted_at IS NULL
		  ORDER BY 5 DESC LIMIT lim)
		UNION ALL
		(SELECT 'lead'::text, l.id, concat_ws(' ', l.first_name, l.last_name), coalesce(l.company, l.email::text), ts_rank(l.search_vector, q)
		   FROM crm.lead l
		  WHERE l.organization_id = org AND l.search_vector OPERATOR(crm.@@) q AND l.deleted_at IS NULL
		  ORDER BY 5 DESC LIMIT lim)
		UNION ALL
		(SELECT 'activity'::text, v.id, v.subject, v.type || ' ' || to_char(v.activity_at, 'YYYY-MM-DD'), ts_rank(v.search_vector, q)
		   FROM crm.activity v
		  WHERE v.organization_id = org AND v.search_vector OPERATOR(crm.@@) q AND v.deleted_at IS NULL
		  ORDER BY 5 DESC LIMIT lim)
		UNION ALL
		(SELECT 'note'::text, n.id, left(n.body, 80), 'note ' || to_char(n.created_at, 'YYYY-MM-DD'), ts_rank(n.search_vector, q)
		   FROM crm.note n
		  WHERE n.organization_id = org AND n.search_vector OPERATOR(crm.@@) q AND n.deleted_at IS NULL
		  ORDER BY 5 DESC LIMIT lim)
		UNION ALL
		(SELECT 'case'::text, k.id, k.case_number || ' ' || k.subject, k.status || ' ' || k.priority, ts_rank(k.search_vector, q)
		   FROM crm.case k
		  WHERE k.organization_id = org AND k.search_vector OPERATOR(crm.@@) q AND k.deleted_at IS NULL
		  ORDER BY 5 DESC LIMIT lim)
	) hits (entity, id, title, subtitle, rank)
	ORDER BY hits.rank DESC, hits.entity, hits.id
	LIMIT lim;
END;
$$;
COMMENT ON FUNCTION crm.search(text, integer) IS
	'Ranked full-text search over the current organization''s contacts, accounts, leads, activities, notes and cases (every word matches a word, the last as a prefix; accents folded; phone numbers in any format).';
-- ============================================================================
-- 72 marketing: campaigns (a hierarchy) and their members, ROI, email
-- engagement, and marketing lists whose dynamic membership is kept current
-- per changed row by C triggers (src/lists.c) with the criteria evaluator
-- (doc/marketing.md)
-- ============================================================================

-- ---------------------------------------------------------------------------
-- Campaigns
-- ---------------------------------------------------------------------------
CREATE TABLE crm.campaign (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	name		text NOT NULL,
	parent_campaign_id uuid,
	type		text NOT NULL DEFAULT 'other',
	status		text NOT NULL DEFAULT 'planned',
	start_date	date,
	end_date	date,
	budget		numeric(18,2),
	actual_cost	numeric(18,2) NOT NULL DEFAULT 0,
	expected_revenue numeric(18,2),
	currency	char(3),
	description	text,
	owner_id	uuid,
	tags		text[] NOT NULL DEFAULT '{}',
	custom_fields jsonb NOT NULL DEFAULT '{}',
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	deleted_at	timestamptz,
	CONSTRAINT campaign_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT campaign_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT campaign_parent_fkey FOREIGN KEY (organization_id, parent_campaign_id) REFERENCES crm.campaign (organization_id, id),
	CONSTRAINT campaign_owner_fkey FOREIGN KEY (organization_id, owner_id) REFERENCES crm.app_user (organization_id, id),
	CONSTRAINT campaign_not_own_parent CHECK (parent_campaign_id IS DISTINCT FROM id),
	CONSTRAINT campaign_name_not_blank CHECK (pg_catalog.btrim(name) <> ''),
	CONSTRAINT campaign_type_valid CHECK (type IN ('email', 'social', 'event', 'webinar', 'content', 'ppc', 'direct_mail', 'other')),
	CONSTRAINT campaign_status_valid CHECK (status IN ('planned', 'active', 'completed', 'aborted')),
	CONSTRAINT campaign_dates_ordered CHECK (end_date >= start_date),
	CONSTRAINT campaign_budget_nonnegative CHECK (budget >= 0),
	CONSTRAINT campaign_actual_cost_nonnegative CHECK (actual_cost >= 0),
	CONSTRAINT campaign_expected_revenue_nonnegative CHECK (expected_revenue >= 0),
	CONSTRAINT campaign_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
	CONSTRAINT campaign_custom_fields_object CHECK (jsonb_typeof(custom_fields) = 'object')
);
CREATE INDEX campaign_parent_idx ON crm.campaign (organization_id, parent_campaign_id) WHERE parent_campaign_id IS NOT NULL;
CREATE INDEX campaign_status_idx ON crm.campaign (organization_id, status, start_date) WHERE deleted_at IS NULL;
COMMENT ON TABLE crm.campaign IS 'A marketing campaign; campaigns form a hierarchy (parent campaign, never a cycle) along which crm.v_campaign_roi rolls up.';
COMMENT ON COLUMN crm.campaign.name IS 'Campaign name.';
COMMENT ON COLUMN crm.campaign.parent_campaign_id IS 'The parent campaign (a programme, a quarter''s plan), if any; never a cycle.';
COMMENT ON COLUMN crm.campaign.type IS 'email, social, event, webinar, content, ppc, direct_mail or other.';
COMMENT ON COLUMN crm.campaign.status IS 'planned, active, completed or aborted.';
COMMENT ON COLUMN crm.campaign.start_date IS 'First day of the campaign.';
COMMENT ON COLUMN crm.campaign.end_date IS 'Last day of the campaign (not before start_date).';
COMMENT ON COLUMN crm.campaign.budget IS 'Budgeted cost.';
COMMENT ON COLUMN crm.campaign.actual_cost IS 'Cost spent so far (the ROI''s denominator).';
COMMENT ON COLUMN crm.campaign.expected_revenue IS 'Revenue the campaign is expected to bring.';
COMMENT ON COLUMN crm.campaign.currency IS 'ISO 4217 code of budget, cost and revenue (the organization default when NULL).';
COMMENT ON COLUMN crm.campaign.description IS 'Free description.';
SELECT crm._setup_tenant_table('crm.campaign');
-- the hierarchy check accounts and territories use (src/hierarchy.c)
CREATE TRIGGER crm_15_no_cycle BEFORE INSERT OR UPDATE OF parent_campaign_id ON crm.campaign
	FOR EACH ROW EXECUTE FUNCTION crm.trg_no_cycle('campaign', 'parent_campaign_id');

-- The member statuses of one campaign: each campaign has its own list
-- (an event has registered/attended/no_show, an email sent/opened/clicked).
CREATE TABLE crm.campaign_member_status (
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	campaign_id	uuid NOT NULL,
	status		text NOT NULL,
	has_responded boolean NOT NULL DEFAULT false,
	sort_order	integer NOT NULL DEFAULT 0,
	is_default	boolean NOT NULL DEFAULT false,
	CONSTRAINT campaign_member_status_pkey PRIMARY KEY (organization_id, campaign_id, status),
	CONSTRAINT campaign_member_status_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT campaign_member_status_campaign_fkey FOREIGN KEY (organization_id, campaign_id)
		REFERENCES crm.campaign (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT campaign_member_status_format CHECK (status ~ '^[a-z][a-z0-9_]*$')
);
CREATE UNIQUE INDEX campaign_member_status_one_default ON crm.campaign_member_status (organization_id, campaign_id) WHERE is_default;
COMMENT ON TABLE crm.campaign_member_status IS 'The member statuses a campaign allows (sent, opened, clicked, responded, registered, attended, no_show by default), which of them count as a response, and their order (email events only move a member forward).';
COMMENT ON COLUMN crm.campaign_member_status.campaign_id IS 'The campaign.';
COMMENT ON COLUMN crm.campaign_member_status.status IS 'Status name (lower case).';
COMMENT ON COLUMN crm.campaign_member_status.has_responded IS 'A member in this status has responded (counted in responses, sets first_responded_at).';
COMMENT ON COLUMN crm.campaign_member_status.sort_order IS 'Position in the funnel: email events never move a member to a lower one.';
COMMENT ON COLUMN crm.campaign_member_status.is_default IS 'The status of a member added without one (at most one per campaign).';
SELECT crm._setup_tenant_table('crm.campaign_member_status', false);

-- Every new campaign gets the default statuses.
CREATE FUNCTION crm.trg_campaign_seed_statuses() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_campaign_seed_statuses()', TG_NAME, TG_RELID, TG_ARGV, '{campaign}');
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN NULL;
	END IF;
	INSERT INTO crm.campaign_member_status (organization_id, campaign_id, status, has_responded, sort_order, is_default)
	SELECT NEW.organization_id, NEW.id, s.status, s.responded, s.ord, s.ord = 10
	  FROM (VALUES ('sent', false, 10), ('opened', false, 20), ('clicked', true, 30), ('responded', true, 40),
				   ('registered', true, 50), ('attended', true, 60), ('no_show', false, 55)) s(status, responded, ord);
	RETURN NULL;
END;
$$;
COMMENT ON FUNCTION crm.trg_campaign_seed_statuses() IS
	'AFTER INSERT row trigger on crm.campaign: adds the default member statuses (sent, opened, clicked, responded, registered, attended, no_show).';
CREATE TRIGGER crm_50_seed_statuses AFTER INSERT ON crm.campaign
	FOR EACH ROW EXECUTE FUNCTION crm.trg_campaign_seed_statuses('campaign');

CREATE TABLE crm.campaign_member (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	campaign_id	uuid NOT NULL,
	contact_id	uuid,
	lead_id		uuid,
	member_id	uuid GENERATED ALWAYS AS (coalesce(contact_id, lead_id)) STORED,
	status		text NOT NULL,
	has_responded boolean NOT NULL DEFAULT false,
	first_responded_at timestamptz,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT campaign_member_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT campaign_member_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT campaign_member_campaign_fkey FOREIGN KEY (organization_id, campaign_id)
		REFERENCES crm.campaign (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT campaign_member_contact_fkey FOREIGN KEY (organization_id, contact_id) REFERENCES crm.contact (organization_id, id),
	CONSTRAINT campaign_member_lead_fkey FOREIGN KEY (organization_id, lead_id) REFERENCES crm.lead (organization_id, id),
	CONSTRAINT campaign_member_status_fkey FOREIGN KEY (organization_id, campaign_id, status)
		REFERENCES crm.campaign_member_status (organization_id, campaign_id, status),
	CONSTRAINT campaign_member_one_person CHECK (num_nonnulls(contact_id, lead_id) = 1),
	CONSTRAINT campaign_member_unique UNIQUE (organization_id, campaign_id, member_id)
);
CREATE INDEX campaign_member_person_idx ON crm.campaign_member (organization_id, member_id);
COMMENT ON TABLE crm.campaign_member IS 'A contact or a lead (exactly one) in a campaign, with a status from the campaign''s own list; unique per campaign and person.';
COMMENT ON COLUMN crm.campaign_member.campaign_id IS 'The campaign.';
COMMENT ON COLUMN crm.campaign_member.contact_id IS 'The contact (or lead_id).';
COMMENT ON COLUMN crm.campaign_member.lead_id IS 'The lead (or contact_id).';
COMMENT ON COLUMN crm.campaign_member.member_id IS 'The person: contact_id or lead_id (generated).';
COMMENT ON COLUMN crm.campaign_member.status IS 'A status of crm.campaign_member_status for this campaign (default: the campaign''s default status).';
COMMENT ON COLUMN crm.campaign_member.has_responded IS 'Whether the status counts as a response (maintained from crm.campaign_member_status).';
COMMENT ON COLUMN crm.campaign_member.first_responded_at IS 'When the member first reached a responding status (kept when the status moves on).';
SELECT crm._setup_tenant_table('crm.campaign_member');

-- has_responded and first_responded_at follow the status; the default
-- status fills an omitted one.
CREATE FUNCTION crm.trg_campaign_member_status() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	responded boolean;
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_campaign_member_status()', TG_NAME, TG_RELID, TG_ARGV, '{campaign_member}');
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN NEW;
	END IF;
	IF NEW.status IS NULL THEN
		SELECT s.status INTO NEW.status FROM crm.campaign_member_status s
		 WHERE s.organization_id = NEW.organization_id AND s.campaign_id = NEW.campaign_id AND s.is_default;
	END IF;
	SELECT s.has_responded INTO responded FROM crm.campaign_member_status s
	 WHERE s.organization_id = NEW.organization_id AND s.campaign_id = NEW.campaign_id AND s.status = NEW.status;
	NEW.has_responded := coalesce(responded, false);
	IF NEW.has_responded AND NEW.first_responded_at IS NULL THEN
		NEW.first_responded_at := pg_catalog.now();
	END IF;
	RETURN NEW;
END;
$$;
COMMENT ON FUNCTION crm.trg_campaign_member_status() IS
	'BEFORE INSERT OR UPDATE row trigger on crm.campaign_member: default status, has_responded from the campaign''s status list, first_responded_at set once.';
CREATE TRIGGER crm_30_member_status BEFORE INSERT OR UPDATE OF status, campaign_id ON crm.campaign_member
	FOR EACH ROW EXECUTE FUNCTION crm.trg_campaign_member_status('campaign_member');

-- The opportunity's campaign (the column came with sales).
ALTER TABLE crm.opportunity ADD CONSTRAINT opportunity_campaign_fkey
	FOREIGN KEY (organization_id, campaign_id) REFERENCES crm.campaign (organization_id, id);
CREATE INDEX opportunity_campaign_idx ON crm.opportunity (organization_id, campaign_id) WHERE campaign_id IS NOT NULL;

-- ROI per campaign, each figure also rolled up over the campaign and all its
-- descendants.  ROI = (won revenue - cost) / cost, NULL without cost.
CREATE VIEW crm.v_campaign_roi WITH (security_invoker = true) AS
WITH RECURSIVE own AS (
	SELECT c.organization_id, c.id, c.parent_campaign_id, c.name, c.status, c.actual_cost,
		   (SELECT count(*) FROM crm.campaign_member m WHERE m.organization_id = c.organization_id AND m.campaign_id = c.id) AS members,
		   (SELECT count(*) FROM crm.campaign_member m WHERE m.organization_id = c.organization_id AND m.campaign_id = c.id AND m.has_responded) AS responses,
		   o.opportunities, o.pipeline, o.won_revenue
	  FROM crm.campaign c
	  CROSS JOIN LATERAL (
		SELECT count(*) AS opportunities,
			   coalesce(sum(p.amount) FILTER (WHERE NOT p.is_closed), 0) AS pipeline,
			   coalesce(sum(p.amount) FILTER (WHERE p.is_won), 0) AS won_revenue
		  FROM crm.opportunity p
		 WHERE p.organization_id = c.organization_id AND p.campaign_id = c.id AND p.deleted_at IS NULL) o
	 WHERE c.deleted_at IS NULL),
-- every (ancestor, descendant) pair, the campaign itself included
tree(organization_id, ancestor, id) AS (
	SELECT organization_id, id, id FROM own
	UNION ALL
	SELECT t.organization_id, t.ancestor, d.id
	  FROM tree t JOIN own d ON d.organization_id = t.organization_id AND d.parent_campaign_id = t.id)
SELECT a.organization_id, a.id AS campaign_id, a.parent_campaign_id, a.name, a.status,
	   a.members, a.responses, a.opportunities, a.pipeline, a.won_revenue, a.actual_cost AS cost,
	   CASE WHEN a.actual_cost > 0 THEN round((a.won_revenue - a.actual_cost) / a.actual_cost, 4) END AS roi,
	   r.members AS total_members, r.responses AS total_responses, r.opportunities AS total_opportunities,
	   r.pipeline AS total_pipeline, r.won_revenue AS total_won_revenue, r.cost AS total_cost,
	   CASE WHEN r.cost > 0 THEN round((r.won_revenue - r.cost) / r.cost, 4) END AS total_roi
  FROM own a
  JOIN (SELECT t.organization_id, t.ancestor, sum(d.members) AS members, sum(d.responses) AS responses,
			   sum(d.opportunities) AS opportunities, sum(d.pipeline) AS pipeline,
			   sum(d.won_revenue) AS won_revenue, sum(d.actual_cost) AS cost
		  FROM tree t JOIN own d ON d.organization_id = t.organization_id AND d.id = t.id
		 GROUP BY 1, 2) r ON r.organization_id = a.organization_id AND r.ancestor = a.id;
COMMENT ON VIEW crm.v_campaign_roi IS 'Per live campaign: members, responses, opportunities, open pipeline, won revenue, cost and ROI ((won - cost) / cost), each also as total_* over the campaign and its descendants.';
COMMENT ON COLUMN crm.v_campaign_roi.organization_id IS 'The organization (tenant).';
COMMENT ON COLUMN crm.v_campaign_roi.campaign_id IS 'The campaign.';
COMMENT ON COLUMN crm.v_campaign_roi.parent_campaign_id IS 'Its parent campaign.';
COMMENT ON COLUMN crm.v_campaign_roi.name IS 'Campaign name.';
COMMENT ON COLUMN crm.v_campaign_roi.status IS 'Campaign status.';
COMMENT ON COLUMN crm.v_campaign_roi.members IS 'Members of the campaign itself.';
COMMENT ON COLUMN crm.v_campaign_roi.responses IS 'Members in a responding status.';
COMMENT ON COLUMN crm.v_campaign_roi.opportunities IS 'Live opportunities sourced by the campaign.';
COMMENT ON COLUMN crm.v_campaign_roi.pipeline IS 'Amount of its open opportunities.';
COMMENT ON COLUMN crm.v_campaign_roi.won_revenue IS 'Amount of its won opportunities.';
COMMENT ON COLUMN crm.v_campaign_roi.cost IS 'Its actual cost.';
COMMENT ON COLUMN crm.v_campaign_roi.roi IS '(won_revenue - cost) / cost; NULL without cost.';
COMMENT ON COLUMN crm.v_campaign_roi.total_members IS 'members over the campaign and its descendants.';
COMMENT ON COLUMN crm.v_campaign_roi.total_responses IS 'responses over the campaign and its descendants.';
COMMENT ON COLUMN crm.v_campaign_roi.total_opportunities IS 'opportunities over the campaign and its descendants.';
COMMENT ON COLUMN crm.v_campaign_roi.total_pipeline IS 'pipeline over the campaign and its descendants.';
COMMENT ON COLUMN crm.v_campaign_roi.total_won_revenue IS 'won_revenue over the campaign and its descendants.';
COMMENT ON COLUMN crm.v_campaign_roi.total_cost IS 'cost over the campaign and its descendants.';
COMMENT ON COLUMN crm.v_campaign_roi.total_roi IS 'ROI of the totals.';

-- ---------------------------------------------------------------------------
-- Email engagement
-- ---------------------------------------------------------------------------
CREATE TABLE crm.email_message (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	contact_id	uuid,
	lead_id		uuid,
	campaign_id	uuid,
	template_name text,
	subject		text,
	status		text NOT NULL DEFAULT 'sent',
	sent_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT email_message_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT email_message_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT email_message_contact_fkey FOREIGN KEY (organization_id, contact_id) REFERENCES crm.contact (organization_id, id),
	CONSTRAINT email_message_lead_fkey FOREIGN KEY (organization_id, lead_id) REFERENCES crm.lead (organization_id, id),
	CONSTRAINT email_message_campaign_fkey FOREIGN KEY (organization_id, campaign_id) REFERENCES crm.campaign (organization_id, id),
	CONSTRAINT email_message_one_person CHECK (num_nonnulls(contact_id, lead_id) = 1),
	CONSTRAINT email_message_status_valid CHECK (status IN ('queued', 'sent', 'delivered', 'bounced', 'failed'))
);
CREATE INDEX email_message_contact_idx ON crm.email_message (organization_id, contact_id, sent_at DESC) WHERE contact_id IS NOT NULL;
CREATE INDEX email_message_lead_idx ON crm.email_message (organization_id, lead_id, sent_at DESC) WHERE lead_id IS NOT NULL;
CREATE INDEX email_message_campaign_idx ON crm.email_message (organization_id, campaign_id) WHERE campaign_id IS NOT NULL;
COMMENT ON TABLE crm.email_message IS 'One email sent to a contact or a lead (exactly one), possibly for a campaign.';
COMMENT ON COLUMN crm.email_message.contact_id IS 'The recipient contact (or lead_id).';
COMMENT ON COLUMN crm.email_message.lead_id IS 'The recipient lead (or contact_id).';
COMMENT ON COLUMN crm.email_message.campaign_id IS 'The campaign it was sent for, if any: its events move the recipient''s campaign member status.';
COMMENT ON COLUMN crm.email_message.template_name IS 'Name of the template it was made from.';
COMMENT ON COLUMN crm.email_message.subject IS 'Subject line.';
COMMENT ON COLUMN crm.email_message.status IS 'queued, sent, delivered, bounced or failed (delivered and bounced follow its events).';
COMMENT ON COLUMN crm.email_message.sent_at IS 'When it was sent.';
SELECT crm._setup_tenant_table('crm.email_message');

CREATE TABLE crm.email_event (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	email_message_id uuid NOT NULL,
	event_type	text NOT NULL,
	bounce_type	text,
	url			text,
	occurred_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT email_event_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT email_event_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT email_event_message_fkey FOREIGN KEY (organization_id, email_message_id)
		REFERENCES crm.email_message (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT email_event_type_valid CHECK (event_type IN ('delivered', 'opened', 'clicked', 'bounced', 'complained', 'unsubscribed')),
	CONSTRAINT email_event_bounce_type_valid CHECK (bounce_type IN ('hard', 'soft')),
	CONSTRAINT email_event_bounce_type_only_bounces CHECK (bounce_type IS NULL OR event_type = 'bounced')
);
CREATE INDEX email_event_message_idx ON crm.email_event (organization_id, email_message_id, occurred_at);
COMMENT ON TABLE crm.email_event IS 'What happened to a sent email (delivered, opened, clicked, bounced, complained, unsubscribed); each event moves the message status, the campaign member status, and on unsubscribe, complaint or hard bounce the contact''s consent, in the same transaction.';
COMMENT ON COLUMN crm.email_event.email_message_id IS 'The email.';
COMMENT ON COLUMN crm.email_event.event_type IS 'delivered, opened, clicked, bounced, complained or unsubscribed.';
COMMENT ON COLUMN crm.email_event.bounce_type IS 'hard or soft (bounces only; a hard bounce sets do_not_email).';
COMMENT ON COLUMN crm.email_event.url IS 'The link clicked (clicked events).';
COMMENT ON COLUMN crm.email_event.occurred_at IS 'When it happened (as the sending service reports it).';
SELECT crm._setup_tenant_table('crm.email_event', false);

-- An email event's consequences, in the inserting transaction.
CREATE FUNCTION crm.trg_email_event() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	msg crm.email_message;
	target text;
	cur_order integer;
	new_order integer;
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_email_event()', TG_NAME, TG_RELID, TG_ARGV, '{email_event}');
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN NULL;
	END IF;
	SELECT * INTO msg FROM crm.email_message m
	 WHERE m.organization_id = NEW.organization_id AND m.id = NEW.email_message_id;
	-- the message's delivery status
	IF NEW.event_type IN ('delivered', 'bounced') THEN
		UPDATE crm.email_message m SET status = NEW.event_type
		 WHERE m.organization_id = NEW.organization_id AND m.id = msg.id AND m.status <> NEW.event_type;
	END IF;
	-- consent: an unsubscribe, a complaint or a hard bounce stops marketing email
	IF msg.contact_id IS NOT NULL
	   AND (NEW.event_type IN ('unsubscribed', 'complained') OR (NEW.event_type = 'bounced' AND NEW.bounce_type = 'hard')) THEN
		UPDATE crm.contact c
		   SET do_not_email = true,
			   unsubscribed_at = CASE WHEN NEW.event_type = 'bounced' THEN c.unsubscribed_at
									  ELSE coalesce(c.unsubscribed_at, NEW.occurred_at) END
		 WHERE c.organization_id = NEW.organization_id AND c.id = msg.contact_id
		   AND (NOT c.do_not_email OR (NEW.event_type <> 'bounced' AND c.unsubscribed_at IS NULL));
	END IF;
	-- the campaign member status moves forward only (opened after clicked
	-- leaves clicked); a recipient who is not a member yet becomes one
	target := CASE NEW.event_type WHEN 'delivered' THEN 'sent' WHEN 'opened' THEN 'opened'
								  WHEN 'clicked' THEN 'clicked' WHEN 'unsubscribed' THEN 'responded' END;
	IF msg.campaign_id IS NOT NULL AND target IS NOT NULL THEN
		SELECT s.sort_order INTO new_order FROM crm.campaign_member_status s
		 WHERE s.organization_id = NEW.organization_id AND s.campaign_id = msg.campaign_id AND s.status = target;
		IF new_order IS NOT NULL THEN
			SELECT s.sort_order INTO cur_order
			  FROM crm.campaign_member m
			  JOIN crm.campaign_member_status s
				ON s.organization_id = m.organization_id AND s.campaign_id = m.campaign_id AND s.status = m.status
			 WHERE m.organization_id = NEW.organization_id AND m.campaign_id = msg.campaign_id
			   AND m.member_id = coalesce(msg.contact_id, msg.lead_id)
			   FOR UPDATE OF m;
			IF NOT FOUND THEN
				INSERT INTO crm.campaign_member (organization_id, campaign_id, contact_id, lead_id, status)
				VALUES (NEW.organization_id, msg.campaign_id, msg.contact_id, msg.lead_id, target)
				ON CONFLICT (organization_id, campaign_id, member_id) DO NOTHING;
			ELSIF cur_order < new_order THEN
				UPDATE crm.campaign_member m SET status = target
				 WHERE m.organization_id = NEW.organization_id AND m.campaign_id = msg.campaign_id
				   AND m.member_id = coalesce(msg.contact_id, msg.lead_id);
			END IF;
		END IF;
	END IF;
	-- TODO(engagement): feed engagement scoring here once crm.engagement_event
	-- lands (issue "engagement scoring"): one engagement row per email event
	-- (opened, clicked, ...) for the recipient, written in this transaction.
	-- The event below is the hook until then.
	PERFORM crm.emit('email.' || NEW.event_type, CASE WHEN msg.contact_id IS NOT NULL THEN 'contact' ELSE 'lead' END,
					 coalesce(msg.contact_id, msg.lead_id),
					 jsonb_build_object('email_message_id', msg.id, 'campaign_id', msg.campaign_id, 'url', NEW.url),
					 NEW.organization_id);
	RETURN NULL;
END;
$$;
COMMENT ON FUNCTION crm.trg_email_event() IS
	'AFTER INSERT row trigger on crm.email_event: message status, campaign member status (forward only), consent of the contact on unsubscribe/complaint/hard bounce, and an email.<event> event.';
CREATE TRIGGER crm_50_email_event AFTER INSERT ON crm.email_event
	FOR EACH ROW EXECUTE FUNCTION crm.trg_email_event('email_event');

-- ---------------------------------------------------------------------------
-- Marketing lists
-- ---------------------------------------------------------------------------
CREATE TABLE crm.marketing_list (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	name		text NOT NULL,
	kind		text NOT NULL DEFAULT 'static',
	entity		text NOT NULL DEFAULT 'contact',
	criteria	jsonb,
	member_of	uuid[] NOT NULL DEFAULT '{}',
	respect_consent boolean NOT NULL DEFAULT true,
	description	text,
	owner_id	uuid,
	refreshed_at timestamptz,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	deleted_at	timestamptz,
	CONSTRAINT marketing_list_pkey PRIMARY KEY (organization_id, id),
	-- (the key of a member's list and its entity: marketing_list_member_list_fkey)
	CONSTRAINT marketing_list_entity_key UNIQUE (organization_id, id, entity),
	CONSTRAINT marketing_list_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT marketing_list_owner_fkey FOREIGN KEY (organization_id, owner_id) REFERENCES crm.app_user (organization_id, id),
	CONSTRAINT marketing_list_name_not_blank CHECK (pg_catalog.btrim(name) <> ''),
	CONSTRAINT marketing_list_kind_valid CHECK (kind IN ('static', 'dynamic', 'snapshot')),
	CONSTRAINT marketing_list_entity_valid CHECK (entity IN ('contact', 'lead')),
	CONSTRAINT marketing_list_criteria_dynamic CHECK ((kind = 'dynamic') = (criteria IS NOT NULL)),
	CONSTRAINT marketing_list_member_of_dynamic CHECK (kind = 'dynamic' OR cardinality(member_of) = 0)
);
CREATE UNIQUE INDEX marketing_list_name_key ON crm.marketing_list (organization_id, lower(name)) WHERE deleted_at IS NULL;
COMMENT ON TABLE crm.marketing_list IS 'A list of contacts or leads: static (added by hand or from a query), dynamic (criteria, kept current per changed row and by crm.refresh_list) or snapshot (a dynamic list''s members at one moment).';
COMMENT ON COLUMN crm.marketing_list.name IS 'List name (unique per organization among live lists, case-insensitive).';
COMMENT ON COLUMN crm.marketing_list.kind IS 'static, dynamic or snapshot.';
COMMENT ON COLUMN crm.marketing_list.entity IS 'contact or lead: what the list holds.';
COMMENT ON COLUMN crm.marketing_list.criteria IS 'Dynamic lists: the criteria document (doc/criteria.md) members satisfy; NULL for the other kinds.';
COMMENT ON COLUMN crm.marketing_list.member_of IS 'Dynamic lists: members must also be (stored) members of every one of these lists of the same entity (lists of lists; never a cycle).';
COMMENT ON COLUMN crm.marketing_list.respect_consent IS 'Contacts with do_not_email or unsubscribed_at are never members of a dynamic list, and are left out of crm.list_members (default true).';
COMMENT ON COLUMN crm.marketing_list.description IS 'Free description.';
COMMENT ON COLUMN crm.marketing_list.refreshed_at IS 'When crm.refresh_list last ran on the list.';
SELECT crm._setup_tenant_table('crm.marketing_list');

CREATE TABLE crm.marketing_list_member (
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	list_id		uuid NOT NULL,
	entity		text NOT NULL DEFAULT 'contact',
	contact_id	uuid,
	lead_id		uuid,
	member_id	uuid GENERATED ALWAYS AS (coalesce(contact_id, lead_id)) STORED,
	source		text NOT NULL DEFAULT 'manual',
	added_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	removed_at	timestamptz,
	CONSTRAINT marketing_list_member_pkey PRIMARY KEY (organization_id, list_id, member_id),
	CONSTRAINT marketing_list_member_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	-- a member is of its list's entity (a list's entity never changes)
	CONSTRAINT marketing_list_member_list_fkey FOREIGN KEY (organization_id, list_id, entity)
		REFERENCES crm.marketing_list (organization_id, id, entity) ON DELETE CASCADE,
	CONSTRAINT marketing_list_member_contact_fkey FOREIGN KEY (organization_id, contact_id) REFERENCES crm.contact (organization_id, id),
	CONSTRAINT marketing_list_member_lead_fkey FOREIGN KEY (organization_id, lead_id) REFERENCES crm.lead (organization_id, id),
	CONSTRAINT marketing_list_member_entity_matches CHECK (CASE entity WHEN 'contact' THEN contact_id IS NOT NULL AND lead_id IS NULL
																	   WHEN 'lead' THEN lead_id IS NOT NULL AND contact_id IS NULL END),
	CONSTRAINT marketing_list_member_source_valid CHECK (source IN ('manual', 'criteria')),
	CONSTRAINT marketing_list_member_removed_after_added CHECK (removed_at >= added_at)
);
CREATE INDEX marketing_list_member_person_idx ON crm.marketing_list_member (organization_id, member_id) WHERE removed_at IS NULL;
COMMENT ON TABLE crm.marketing_list_member IS 'Membership of a marketing list: current members have no removed_at; a departure keeps the row with removed_at (a return clears it).';
COMMENT ON COLUMN crm.marketing_list_member.list_id IS 'The list.';
COMMENT ON COLUMN crm.marketing_list_member.entity IS 'The list''s entity (contact or lead; checked against the list), so that the row holds only that kind of person.';
COMMENT ON COLUMN crm.marketing_list_member.contact_id IS 'The contact (contact lists).';
COMMENT ON COLUMN crm.marketing_list_member.lead_id IS 'The lead (lead lists).';
COMMENT ON COLUMN crm.marketing_list_member.member_id IS 'The person: contact_id or lead_id (generated).';
COMMENT ON COLUMN crm.marketing_list_member.source IS 'manual (static and snapshot lists) or criteria (dynamic lists).';
COMMENT ON COLUMN crm.marketing_list_member.added_at IS 'When the person (last) joined.';
COMMENT ON COLUMN crm.marketing_list_member.removed_at IS 'When the person left; NULL for a current member.';
SELECT crm._setup_tenant_table('crm.marketing_list_member', false);

-- A list's rules: a dynamic list's criteria are valid for its entity; the
-- lists it reads are live lists of the same entity and close no cycle
-- (changes of one tenant's list graph are serialised by locking its
-- dynamic lists' rows); a dynamic list's entity and kind do not change.
CREATE FUNCTION crm.trg_marketing_list_check() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	err record;
	bad uuid;
	path text;
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_marketing_list_check()', TG_NAME, TG_RELID, TG_ARGV, '{marketing_list}');
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN NEW;
	END IF;
	IF TG_OP = 'UPDATE' AND (NEW.kind <> OLD.kind OR NEW.entity <> OLD.entity) THEN
		RAISE EXCEPTION 'a marketing list''s kind and entity cannot change'
			USING ERRCODE = 'feature_not_supported',
				  HINT = 'Create a new list (crm.snapshot_list copies a dynamic list''s members into a snapshot).';
	END IF;
	IF NEW.kind = 'dynamic' AND (TG_OP = 'INSERT' OR NEW.criteria IS DISTINCT FROM OLD.criteria) THEN
		SELECT * INTO err FROM crm.criteria_validate(NEW.criteria, NEW.entity) LIMIT 1;
		IF FOUND THEN
			RAISE EXCEPTION 'invalid criteria for marketing list "%": %: %', NEW.name, err.path, err.message
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
	END IF;
	IF cardinality(NEW.member_of) > 0 AND (TG_OP = 'INSERT' OR NEW.member_of IS DISTINCT FROM OLD.member_of) THEN
		PERFORM 1 FROM crm.marketing_list l
		 WHERE l.organization_id = NEW.organization_id AND l.kind = 'dynamic' ORDER BY l.id FOR UPDATE;
		SELECT d INTO bad FROM unnest(NEW.member_of) d
		 WHERE NOT EXISTS (SELECT 1 FROM crm.marketing_list l
							WHERE l.organization_id = NEW.organization_id AND l.id = d
							  AND l.entity = NEW.entity AND l.deleted_at IS NULL)
		 LIMIT 1;
		IF bad IS NOT NULL THEN
			RAISE EXCEPTION 'marketing list % in member_of is not a live % list of this organization', bad, NEW.entity
				USING ERRCODE = 'foreign_key_violation';
		END IF;
		-- going down the lists NEW reads must never lead back to NEW
		WITH RECURSIVE down(id, path) AS (
			SELECT d, ARRAY[NEW.id, d] FROM unnest(NEW.member_of) d
			UNION ALL
			SELECT x, down.path || x FROM down
			  JOIN crm.marketing_list l ON l.organization_id = NEW.organization_id AND l.id = down.id
			 CROSS JOIN LATERAL unnest(l.member_of) x
			 WHERE down.id <> NEW.id AND cardinality(down.path) < 100)
		SELECT array_to_string(down.path, ' -> ') INTO path FROM down WHERE down.id = NEW.id LIMIT 1;
		IF path IS NOT NULL THEN
			RAISE EXCEPTION 'marketing list "%" cannot read the membership of a list that reads its own', NEW.name
				USING ERRCODE = 'integrity_constraint_violation',
					  DETAIL = 'The lists would form a cycle: ' || path || '.',
					  HINT = 'A list of lists must not depend on itself.';
		END IF;
	END IF;
	RETURN NEW;
END;
$$;
COMMENT ON FUNCTION crm.trg_marketing_list_check() IS
	'BEFORE INSERT OR UPDATE row trigger on crm.marketing_list: valid criteria, member_of naming live lists of the same entity without a cycle, kind and entity fixed.';
CREATE TRIGGER crm_30_check BEFORE INSERT OR UPDATE ON crm.marketing_list
	FOR EACH ROW EXECUTE FUNCTION crm.trg_marketing_list_check('marketing_list');
-- every backend's per-row list cache is rebuilt after a change of the lists
CREATE TRIGGER crm_95_lists_changed AFTER INSERT OR UPDATE OR DELETE ON crm.marketing_list
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_criteria_catalog();

-- Static and snapshot lists hold members added by hand; a dynamic list
-- holds what its criteria select.  (The entity is the foreign key's to
-- check: rows written from criteria, a refresh's thousands, skip this
-- trigger.)
CREATE FUNCTION crm.trg_marketing_list_member_check() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	list_kind text;
	list_entity text;
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_marketing_list_member_check()', TG_NAME, TG_RELID, TG_ARGV, '{marketing_list_member}');
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN NEW;
	END IF;
	SELECT l.kind, l.entity INTO list_kind, list_entity FROM crm.marketing_list l
	 WHERE l.organization_id = NEW.organization_id AND l.id = NEW.list_id;
	IF list_entity IS DISTINCT FROM NEW.entity AND list_entity IS NOT NULL THEN
		RAISE EXCEPTION 'marketing list % holds %s, not %s', NEW.list_id, list_entity, NEW.entity
			USING ERRCODE = 'check_violation';
	END IF;
	IF NEW.source = 'manual' AND list_kind = 'dynamic' THEN
		RAISE EXCEPTION 'members of a dynamic list come from its criteria'
			USING ERRCODE = 'feature_not_supported',
				  HINT = 'Change the list''s criteria, or add the person to a static list.';
	END IF;
	RETURN NEW;
END;
$$;
COMMENT ON FUNCTION crm.trg_marketing_list_member_check() IS
	'BEFORE INSERT OR UPDATE row trigger on crm.marketing_list_member, for manual members: the member is of the list''s entity; refuses manual members of a dynamic list.';
CREATE TRIGGER crm_30_check BEFORE INSERT OR UPDATE OF list_id, entity, source ON crm.marketing_list_member
	FOR EACH ROW WHEN (NEW.source = 'manual') EXECUTE FUNCTION crm.trg_marketing_list_member_check('marketing_list_member');

-- Maintenance of dynamic lists as records change (src/lists.c): after each
-- INSERT and UPDATE statement on contact and lead (set-based, from the
-- transition tables), and after an account's fields change.  Named crm_70_*
-- so that they fire before the statement triggers that update the same rows
-- again (fit score, routing): those nested updates are then evaluated
-- against the rows this statement wrote.
CREATE FUNCTION crm.trg_list_membership() RETURNS trigger
	AS 'MODULE_PATHNAME', 'lists_membership_trigger'
	LANGUAGE C;
COMMENT ON FUNCTION crm.trg_list_membership() IS
	'AFTER INSERT and AFTER UPDATE statement trigger with transition tables on contact and lead (argument: the entity), AFTER UPDATE row trigger on account (argument account): evaluates the changed rows against only the dynamic lists whose fields the change touches (criteria evaluator, lists of lists in dependency order), writes the joins and departures set-based and emits list.joined / list.left.';
CREATE TRIGGER crm_70_lists_insert AFTER INSERT ON crm.contact
	REFERENCING NEW TABLE AS crm_new FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_list_membership('contact');
CREATE TRIGGER crm_70_lists_update AFTER UPDATE ON crm.contact
	REFERENCING OLD TABLE AS crm_old NEW TABLE AS crm_new FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_list_membership('contact');
CREATE TRIGGER crm_70_lists_insert AFTER INSERT ON crm.lead
	REFERENCING NEW TABLE AS crm_new FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_list_membership('lead');
CREATE TRIGGER crm_70_lists_update AFTER UPDATE ON crm.lead
	REFERENCING OLD TABLE AS crm_old NEW TABLE AS crm_new FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_list_membership('lead');
CREATE TRIGGER crm_70_lists AFTER UPDATE ON crm.account
	FOR EACH ROW EXECUTE FUNCTION crm.trg_list_membership('account');

-- The ids of the records a criteria document selects (the compiled SQL).
CREATE FUNCTION crm.list_preview(criteria jsonb, entity text DEFAULT 'contact', lim integer DEFAULT 100)
RETURNS SETOF uuid
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	IF list_preview.entity IS NULL OR list_preview.entity NOT IN ('contact', 'lead') THEN
		RAISE EXCEPTION 'marketing lists hold contacts or leads, not "%"', list_preview.entity
			USING ERRCODE = 'invalid_parameter_value', HINT = 'entity => ''contact'' or ''lead''.';
	END IF;
	RETURN QUERY SELECT s.id FROM crm.criteria_select(list_preview.criteria, list_preview.entity, lim) s(id);
END;
$$;
COMMENT ON FUNCTION crm.list_preview(jsonb, text, integer) IS
	'The ids of up to lim live contacts (or leads) a criteria document selects, before a list is saved (compiled SQL, the tenant''s rows only).';

-- The live list of the current tenant, locked as asked, or an error.
CREATE FUNCTION crm._list(list_id uuid, lock boolean)
RETURNS crm.marketing_list
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	l crm.marketing_list;
BEGIN
	IF lock THEN
		SELECT * INTO l FROM crm.marketing_list m
		 WHERE m.organization_id = crm.current_org() AND m.id = _list.list_id AND m.deleted_at IS NULL FOR UPDATE;
	ELSE
		SELECT * INTO l FROM crm.marketing_list m
		 WHERE m.organization_id = crm.current_org() AND m.id = _list.list_id AND m.deleted_at IS NULL;
	END IF;
	IF l.id IS NULL THEN
		RAISE EXCEPTION 'marketing list % does not exist', coalesce(_list.list_id::text, 'NULL')
			USING ERRCODE = 'no_data_found', HINT = 'Pass the id of a live list of the current organization.';
	END IF;
	RETURN l;
END;
$$;
COMMENT ON FUNCTION crm._list(uuid, boolean) IS 'Internal: the current tenant''s live list (optionally locked FOR UPDATE), or no_data_found.';

-- One dynamic list's difference, set-based (src/lists.c): its criteria
-- compiled into a SQL predicate (every value a parameter), with liveness,
-- consent, the stored membership of the lists it reads and an explicit
-- tenant filter, as the caller (row-level security applies).
CREATE FUNCTION crm._list_refresh(list_id uuid, OUT joined bigint, OUT "left" bigint)
	AS 'MODULE_PATHNAME', 'lists_refresh'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION crm._list_refresh(uuid) IS
	'Internal (crm.refresh_list): locks the current tenant''s dynamic list and applies the difference between its stored members and its criteria in one statement (joins inserted or re-opened, departures stamped removed_at, list.joined / list.left events); the counts.';
CREATE FUNCTION crm._list_diff(list_id uuid)
RETURNS TABLE (member_id uuid, wanted boolean)
	AS 'MODULE_PATHNAME', 'lists_diff'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION crm._list_diff(uuid) IS
	'Internal (crm.check_list_membership): the people whose stored membership of the current tenant''s dynamic list differs from its criteria (wanted: they should be members), in id order.';

-- Bring a dynamic list up to date: only the difference is written (joins
-- inserted or re-opened, departures closed with removed_at), each emitting
-- list.joined / list.left.  Idempotent: on an up-to-date list it writes
-- nothing.  Serialised with the per-row triggers by the list's row lock.
CREATE FUNCTION crm.refresh_list(list_id uuid)
RETURNS TABLE (joined bigint, "left" bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	l crm.marketing_list;
	org uuid := crm.current_org();
BEGIN
	l := crm._list(refresh_list.list_id, true);
	IF l.kind <> 'dynamic' THEN
		RAISE EXCEPTION 'marketing list "%" is a % list: only dynamic lists are refreshed', l.name, l.kind
			USING ERRCODE = 'wrong_object_type';
	END IF;
	SELECT r.joined, r."left" INTO joined, "left" FROM crm._list_refresh(l.id) r;
	UPDATE crm.marketing_list m SET refreshed_at = pg_catalog.now()
	 WHERE m.organization_id = org AND m.id = l.id;
	RETURN NEXT;
END;
$$;
COMMENT ON FUNCTION crm.refresh_list(uuid) IS
	'Brings a dynamic list up to date, writing only the difference (joins in, departures out with removed_at, list.joined / list.left events); returns the counts; idempotent.';

-- The current tenant's dynamic lists in dependency order (a list after the
-- lists it reads).
CREATE FUNCTION crm._lists_in_order()
RETURNS TABLE (list_id uuid, depth integer)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	RETURN QUERY
	WITH RECURSIVE d(id, depth) AS (
		SELECT l.id, 0 FROM crm.marketing_list l
		 WHERE l.organization_id = crm.current_org() AND l.kind = 'dynamic' AND l.deleted_at IS NULL
		UNION ALL
		SELECT l.id, d.depth + 1 FROM d
		  JOIN crm.marketing_list l ON l.organization_id = crm.current_org() AND d.id = ANY (l.member_of)
		 WHERE l.kind = 'dynamic' AND l.deleted_at IS NULL AND d.depth < 100)
	SELECT d.id, max(d.depth)::integer FROM d GROUP BY d.id ORDER BY 2, 1;
END;
$$;
COMMENT ON FUNCTION crm._lists_in_order() IS 'Internal: the current tenant''s dynamic lists, each after the lists it reads (depth order).';

-- Job: refresh every dynamic list of every organization (time-relative
-- criteria such as within_last change with the clock alone), each
-- organization in its own tenant context, lists in dependency order.
CREATE FUNCTION crm.refresh_lists()
RETURNS TABLE (organization_id uuid, list_id uuid, joined bigint, "left" bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	o record;
	x record;
	r record;
BEGIN
	FOR o IN SELECT DISTINCT l.organization_id AS org FROM crm.marketing_list l
			  WHERE l.kind = 'dynamic' AND l.deleted_at IS NULL ORDER BY 1 LOOP
		BEGIN
			PERFORM set_config('crm.organization_id', o.org::text, true);
			FOR x IN SELECT * FROM crm._lists_in_order() LOOP
				SELECT * INTO r FROM crm.refresh_list(x.list_id);
				organization_id := o.org;
				list_id := x.list_id;
				joined := r.joined;
				"left" := r."left";
				RETURN NEXT;
			END LOOP;
		EXCEPTION WHEN OTHERS THEN
			RAISE WARNING 'refreshing the marketing lists of organization % failed: %', o.org, SQLERRM;
		END;
	END LOOP;
END;
$$;
COMMENT ON FUNCTION crm.refresh_lists() IS
	'Job: crm.refresh_list for every dynamic list of every organization (each in its own tenant context, lists in dependency order; one failure does not stop the others).';
INSERT INTO crm.job (name, schedule, command, description) VALUES
	('refresh_lists', '*/15 * * * *', 'SELECT count(*) FROM crm.refresh_lists()',
	 'Refreshes dynamic marketing lists (time-relative criteria change with the clock; per-row triggers keep the rest current).');

-- The current members of a list (consent respected when the list says so).
CREATE FUNCTION crm.list_members(list_id uuid)
RETURNS TABLE (member_id uuid, entity text, source text, added_at timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	l crm.marketing_list;
BEGIN
	SELECT * INTO l FROM crm.marketing_list m
	 WHERE m.organization_id = crm.current_org() AND m.id = list_members.list_id AND m.deleted_at IS NULL;
	IF l.id IS NULL THEN
		RAISE EXCEPTION 'marketing list % does not exist', coalesce(list_members.list_id::text, 'NULL')
			USING ERRCODE = 'no_data_found', HINT = 'Pass the id of a live list of the current organization.';
	END IF;
	RETURN QUERY
	SELECT m.member_id, m.entity, m.source, m.added_at
	  FROM crm.marketing_list_member m
	  LEFT JOIN crm.contact c ON c.organization_id = m.organization_id AND c.id = m.contact_id
	  LEFT JOIN crm.lead d ON d.organization_id = m.organization_id AND d.id = m.lead_id
	 WHERE m.organization_id = l.organization_id AND m.list_id = l.id AND m.removed_at IS NULL
	   AND coalesce(c.deleted_at, d.deleted_at) IS NULL
	   AND NOT (l.respect_consent AND c.id IS NOT NULL AND (c.do_not_email OR c.unsubscribed_at IS NOT NULL))
	 ORDER BY m.added_at, m.member_id;
END;
$$;
COMMENT ON FUNCTION crm.list_members(uuid) IS
	'The current, live members of a list (contacts without consent left out when the list respects consent), oldest first.';

-- Add people to a static list: the ids a query returns (one uuid column),
-- run as the caller, so row-level security applies.  Returns how many
-- joined.
CREATE FUNCTION crm.list_add(list_id uuid, query text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	l crm.marketing_list;
	n bigint;
BEGIN
	l := crm._list(list_add.list_id, true);
	IF l.kind <> 'static' THEN
		RAISE EXCEPTION 'marketing list "%" is a % list: people are added to static lists', l.name, l.kind
			USING ERRCODE = 'wrong_object_type';
	END IF;
	IF query IS NULL THEN
		RAISE EXCEPTION 'query must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	EXECUTE format(
		'WITH q AS (SELECT DISTINCT x.id FROM (%1$s) x(id)),
		 ins AS (
			INSERT INTO crm.marketing_list_member AS m (organization_id, list_id, entity, %2$I, source)
			SELECT $1, $2, %3$L, q.id, ''manual'' FROM q
			ON CONFLICT (organization_id, list_id, member_id)
			DO UPDATE SET removed_at = NULL, added_at = EXCLUDED.added_at WHERE m.removed_at IS NOT NULL
			RETURNING m.member_id),
		 ev AS (
			INSERT INTO crm.outbox (organization_id, event_type, entity, entity_id, payload)
			SELECT $1, ''list.joined'', %3$L, i.member_id, pg_catalog.jsonb_build_object(''list_id'', $2) FROM ins i)
		 SELECT count(*) FROM ins',
		query, l.entity || '_id', l.entity)
	INTO n USING l.organization_id, l.id;
	RETURN n;
END;
$$;
COMMENT ON FUNCTION crm.list_add(uuid, text) IS
	'Adds the ids a query returns (one uuid column; run as the caller) to a static list; returns how many joined. Another tenant''s ids are refused by the composite foreign key.';

-- Remove people from a static list (removed_at set); returns how many left.
CREATE FUNCTION crm.list_remove(list_id uuid, ids uuid[])
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	l crm.marketing_list;
	n bigint;
BEGIN
	l := crm._list(list_remove.list_id, true);
	IF l.kind <> 'static' THEN
		RAISE EXCEPTION 'marketing list "%" is a % list: people are removed from static lists', l.name, l.kind
			USING ERRCODE = 'wrong_object_type';
	END IF;
	WITH del AS (
		UPDATE crm.marketing_list_member m SET removed_at = pg_catalog.now()
		 WHERE m.organization_id = l.organization_id AND m.list_id = l.id AND m.removed_at IS NULL
		   AND m.member_id = ANY (list_remove.ids)
		RETURNING m.member_id),
	ev AS (
		INSERT INTO crm.outbox (organization_id, event_type, entity, entity_id, payload)
		SELECT l.organization_id, 'list.left', l.entity, d.member_id, jsonb_build_object('list_id', l.id) FROM del d)
	SELECT count(*) INTO n FROM del;
	RETURN n;
END;
$$;
COMMENT ON FUNCTION crm.list_remove(uuid, uuid[]) IS 'Removes people from a static list (removed_at set, list.left emitted); returns how many left.';

-- A snapshot list holding a list's current members; returns its id.
CREATE FUNCTION crm.snapshot_list(list_id uuid, name text)
RETURNS uuid
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	l crm.marketing_list;
	snap uuid;
BEGIN
	l := crm._list(snapshot_list.list_id, true);
	INSERT INTO crm.marketing_list AS m (name, kind, entity, respect_consent, description)
	VALUES (snapshot_list.name, 'snapshot', l.entity, l.respect_consent,
			format('Snapshot of "%s" taken at %s', l.name, pg_catalog.now()))
	RETURNING m.id INTO snap;
	INSERT INTO crm.marketing_list_member (organization_id, list_id, entity, contact_id, lead_id, source)
	SELECT l.organization_id, snap, l.entity, m.contact_id, m.lead_id, 'manual'
	  FROM crm.marketing_list_member m
	 WHERE m.organization_id = l.organization_id AND m.list_id = l.id AND m.removed_at IS NULL;
	RETURN snap;
END;
$$;
COMMENT ON FUNCTION crm.snapshot_list(uuid, text) IS 'Creates a snapshot list holding a list''s current members; returns its id.';

-- Drift check: stored membership of every dynamic list against its
-- criteria (what crm.refresh_list would change).
CREATE FUNCTION crm.check_list_membership()
RETURNS TABLE (entity text, id uuid, expected text, actual text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	x record;
BEGIN
	-- membership is checked for the current organization (criteria read its
	-- field catalog); without one there is nothing to check
	IF coalesce(current_setting('crm.organization_id', true), '') = '' THEN
		RETURN;
	END IF;
	FOR x IN SELECT * FROM crm._lists_in_order() LOOP
		RETURN QUERY
		SELECT l.entity, d.member_id,
			   CASE WHEN d.wanted THEN 'a member of list ' ELSE 'not a member of list ' END || l.id::text,
			   CASE WHEN d.wanted THEN 'not a member' ELSE 'a member' END
		  FROM crm.marketing_list l CROSS JOIN LATERAL crm._list_diff(l.id) d
		 WHERE l.organization_id = crm.current_org() AND l.id = x.list_id;
	END LOOP;
END;
$$;
COMMENT ON FUNCTION crm.check_list_membership() IS
	'crm.verify() check: people whose stored membership of a dynamic list of the current organization differs from its criteria (what crm.refresh_list would change).';
INSERT INTO crm.verify_check VALUES
	('list_membership', 'crm.check_list_membership()', 'Stored membership of every dynamic list equals what its criteria select.');
-- ============================================================================
-- 75 cases: support cases (gap-free per-tenant numbers), case comments, and
-- business calendars with their arithmetic (doc/sla.md)
-- ============================================================================

-- ---------------------------------------------------------------------------
-- Business calendars
-- ---------------------------------------------------------------------------
CREATE TABLE crm.business_calendar (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	name		text NOT NULL,
	time_zone	text NOT NULL,
	hours		jsonb NOT NULL,
	holidays	date[] NOT NULL DEFAULT '{}',
	recurring_holidays text[] NOT NULL DEFAULT '{}',
	is_default	boolean NOT NULL DEFAULT false,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT business_calendar_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT business_calendar_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	-- (not led by organization_id: foreign-key checks keep the primary key)
	CONSTRAINT business_calendar_name_key UNIQUE (name, organization_id),
	CONSTRAINT business_calendar_name_not_blank CHECK (pg_catalog.btrim(name) <> ''),
	CONSTRAINT business_calendar_one_default EXCLUDE USING btree (organization_id WITH OPERATOR(pg_catalog.=))
		WHERE (is_default) DEFERRABLE INITIALLY IMMEDIATE
);
COMMENT ON TABLE crm.business_calendar IS 'A business calendar: weekly open intervals in an IANA time zone, minus holidays; SLA targets count its open time (crm.business_add, crm.business_minutes). Semantics in doc/sla.md.';
COMMENT ON COLUMN crm.business_calendar.name IS 'Calendar name, unique per organization.';
COMMENT ON COLUMN crm.business_calendar.time_zone IS 'IANA time zone the hours and holidays are local to (e.g. Europe/Berlin).';
COMMENT ON COLUMN crm.business_calendar.hours IS 'Weekly open intervals: {"mon": [["09:00","12:00"],["13:00","17:00"]], ..., "sun": []}; a missing day is closed, "24:00" ends a day, an end not after the start runs into the next day.';
COMMENT ON COLUMN crm.business_calendar.holidays IS 'Closed local days (whole days, also cutting an overnight interval reaching into them).';
COMMENT ON COLUMN crm.business_calendar.recurring_holidays IS 'Closed local days every year, as ''MM-DD'' (02-29 in leap years only).';
COMMENT ON COLUMN crm.business_calendar.is_default IS 'The calendar SLA policies use when they name none; one per organization (seeded 24x7).';
SELECT crm._setup_tenant_table('crm.business_calendar', label => 'business calendar');

CREATE FUNCTION crm._business_calendar_validate(time_zone text, hours jsonb, holidays date[], recurring text[])
RETURNS void
	AS 'MODULE_PATHNAME', 'sla_calendar_validate'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm._business_calendar_validate(text, jsonb, date[], text[]) IS
	'Internal: raises a clear error (22023) for an unknown time zone, hours that are not the documented shape, bad day keys or times, overlapping intervals, bad recurring holidays, or a calendar never open.';

-- Every write of a calendar is validated (also direct INSERT/UPDATE).
CREATE FUNCTION crm.trg_business_calendar_check() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_business_calendar_check()', TG_NAME, TG_RELID, TG_ARGV, '{business_calendar}');
	PERFORM crm._business_calendar_validate(NEW.time_zone, NEW.hours, NEW.holidays, NEW.recurring_holidays);
	RETURN NEW;
END;
$$;
COMMENT ON FUNCTION crm.trg_business_calendar_check() IS
	'BEFORE INSERT OR UPDATE row trigger on crm.business_calendar: validates zone, hours and holidays.';
CREATE TRIGGER crm_30_check BEFORE INSERT OR UPDATE ON crm.business_calendar
	FOR EACH ROW EXECUTE FUNCTION crm.trg_business_calendar_check('business_calendar');

-- Every backend caches compiled calendars; a change invalidates them at
-- commit (and in the changing transaction at its next command).
CREATE FUNCTION crm.trg_business_calendar_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'sla_calendar_changed'
	LANGUAGE C;
COMMENT ON FUNCTION crm.trg_business_calendar_changed() IS
	'AFTER statement trigger on crm.business_calendar: invalidates the compiled calendars every backend caches.';
CREATE TRIGGER crm_95_calendar_cache AFTER INSERT OR UPDATE OR DELETE ON crm.business_calendar
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_business_calendar_changed();

-- The one way tools create calendars (its signature is relied upon).
CREATE FUNCTION crm.create_business_calendar(name text, time_zone text, hours jsonb,
											 holidays date[] DEFAULT '{}', recurring_holidays text[] DEFAULT '{}')
RETURNS uuid
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	new_id uuid;
BEGIN
	INSERT INTO crm.business_calendar AS c (organization_id, name, time_zone, hours, holidays, recurring_holidays)
	VALUES (crm.current_org(), create_business_calendar.name, create_business_calendar.time_zone,
			create_business_calendar.hours, coalesce(create_business_calendar.holidays, '{}'),
			coalesce(create_business_calendar.recurring_holidays, '{}'))
	RETURNING c.id INTO new_id;
	RETURN new_id;
END;
$$;
COMMENT ON FUNCTION crm.create_business_calendar(text, text, jsonb, date[], text[]) IS
	'Creates a business calendar of the current organization and returns its id: name, IANA time zone, weekly hours {"mon": [["09:00","17:00"]], ...}, holiday dates, yearly ''MM-DD'' holidays.';

CREATE FUNCTION crm.business_add(start timestamptz, minutes integer, calendar uuid) RETURNS timestamptz
	AS 'MODULE_PATHNAME', 'sla_business_add_sql'
	LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION crm.business_add(timestamptz, integer, uuid) IS
	'The earliest instant t with exactly minutes of the calendar''s open time in [start, t) (start itself for 0); a deadline on a closing time is that closing time. Exact across daylight saving.';

CREATE FUNCTION crm.business_minutes("from" timestamptz, "to" timestamptz, calendar uuid) RETURNS integer
	AS 'MODULE_PATHNAME', 'sla_business_minutes_sql'
	LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION crm.business_minutes(timestamptz, timestamptz, uuid) IS
	'The calendar''s open time in [from, to) in whole minutes (rounded down); negative of the swapped span when from > to.';

CREATE FUNCTION crm._business_add_usec(start timestamptz, usec bigint, calendar uuid) RETURNS timestamptz
	AS 'MODULE_PATHNAME', 'sla_business_add_usec'
	LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION crm._business_add_usec(timestamptz, bigint, uuid) IS
	'Internal (SLA engine): crm.business_add with a microsecond amount.';

CREATE FUNCTION crm._business_usec("from" timestamptz, "to" timestamptz, calendar uuid) RETURNS bigint
	AS 'MODULE_PATHNAME', 'sla_business_usec'
	LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION crm._business_usec(timestamptz, timestamptz, uuid) IS
	'Internal (SLA engine): the calendar''s open time in [from, to) in microseconds.';

-- ---------------------------------------------------------------------------
-- Cases
-- ---------------------------------------------------------------------------

-- The last case number of each tenant.  Taken under the row's lock by the
-- inserting transaction, so numbers are consecutive in commit order and a
-- rolled-back insert gives its number back.
CREATE TABLE crm.case_counter (
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	last_number	bigint NOT NULL,
	CONSTRAINT case_counter_pkey PRIMARY KEY (organization_id),
	CONSTRAINT case_counter_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT case_counter_positive CHECK (last_number > 0)
);
COMMENT ON TABLE crm.case_counter IS 'The last case number given in each organization (gap-free numbering: the counter row is locked until the inserting transaction ends).';
COMMENT ON COLUMN crm.case_counter.last_number IS 'The number of the organization''s latest case.';
SELECT crm._setup_tenant_table('crm.case_counter', audited => false, label => 'case counter');

-- The next case number of the caller's organization; the counter row stays
-- locked until the transaction ends (SECURITY DEFINER: application roles
-- may only read the counter).
CREATE FUNCTION crm._next_case_number(org uuid) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	n bigint;
BEGIN
	IF org IS DISTINCT FROM crm._caller_org('crm.case', 'INSERT') THEN
		RAISE EXCEPTION 'organization % is not the current organization', org USING ERRCODE = 'insufficient_privilege';
	END IF;
	INSERT INTO crm.case_counter AS k (organization_id, last_number) VALUES (org, 1)
	ON CONFLICT (organization_id) DO UPDATE SET last_number = k.last_number + 1
	RETURNING k.last_number INTO n;
	RETURN n;
END;
$$;
COMMENT ON FUNCTION crm._next_case_number(uuid) IS
	'Internal (crm.trg_case_before): takes the next case number of the organization; the counter row stays locked until commit or rollback, so numbers have no gaps.';

CREATE TABLE crm.case (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	number		bigint NOT NULL DEFAULT 0,
	case_number	text GENERATED ALWAYS AS ('CS-' || pg_catalog.lpad(number::text, 6, '0')) STORED,
	subject		text NOT NULL,
	description	text,
	account_id	uuid,
	contact_id	uuid,
	status		text NOT NULL DEFAULT 'new',
	priority	text NOT NULL DEFAULT 'medium',
	severity	smallint NOT NULL DEFAULT 3,
	channel		text NOT NULL DEFAULT 'email',
	category	text,
	assignee_id	uuid,
	team_id		uuid,
	product_id	uuid,
	status_changed_at timestamptz,
	first_response_at timestamptz,
	resolved_at	timestamptz,
	closed_at	timestamptz,
	escalated	boolean NOT NULL DEFAULT false,
	tags		text[] NOT NULL DEFAULT '{}',
	custom_fields jsonb NOT NULL DEFAULT '{}',
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	deleted_at	timestamptz,
	search_vector tsvector GENERATED ALWAYS AS (
		setweight(to_tsvector('simple'::regconfig, crm.search_fold(subject)), 'A') ||
		setweight(to_tsvector('simple'::regconfig, crm.search_fold(left(coalesce(description, ''), 20000))), 'C')
	) STORED,
	CONSTRAINT case_pkey PRIMARY KEY (organization_id, id),
	-- (not led by organization_id: foreign-key checks keep the primary key)
	CONSTRAINT case_number_key UNIQUE (number, organization_id),
	CONSTRAINT case_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT case_account_fkey FOREIGN KEY (organization_id, account_id) REFERENCES crm.account (organization_id, id),
	CONSTRAINT case_contact_fkey FOREIGN KEY (organization_id, contact_id) REFERENCES crm.contact (organization_id, id),
	CONSTRAINT case_assignee_fkey FOREIGN KEY (organization_id, assignee_id) REFERENCES crm.app_user (organization_id, id),
	CONSTRAINT case_team_fkey FOREIGN KEY (organization_id, team_id) REFERENCES crm.team (organization_id, id),
	CONSTRAINT case_subject_not_blank CHECK (pg_catalog.btrim(subject) <> ''),
	CONSTRAINT case_status_valid CHECK (status IN ('new', 'open', 'pending', 'on_hold', 'resolved', 'closed')),
	CONSTRAINT case_priority_valid CHECK (priority IN ('low', 'medium', 'high', 'urgent')),
	CONSTRAINT case_severity_range CHECK (severity BETWEEN 1 AND 4),
	CONSTRAINT case_channel_valid CHECK (channel IN ('email', 'phone', 'chat', 'portal', 'social')),
	CONSTRAINT case_custom_fields_object CHECK (jsonb_typeof(custom_fields) = 'object')
);
CREATE INDEX case_account_idx ON crm.case (organization_id, account_id, created_at DESC) WHERE account_id IS NOT NULL;
CREATE INDEX case_contact_idx ON crm.case (organization_id, contact_id, created_at DESC) WHERE contact_id IS NOT NULL;
CREATE INDEX case_open_idx ON crm.case (organization_id, assignee_id, priority)
	WHERE status NOT IN ('resolved', 'closed') AND deleted_at IS NULL;
CREATE INDEX case_search_idx ON crm.case USING gin (search_vector crm.tsvector_ops);
CREATE INDEX case_tags_idx ON crm.case USING gin (tags);
COMMENT ON TABLE crm.case IS 'A support case: numbered CS-000001 per organization without gaps, with status, priority and SLA targets (crm.case_sla).';
COMMENT ON COLUMN crm.case.number IS 'Per-organization sequence number, gap-free under concurrency and rollback (assigned on insert; a given value is replaced).';
COMMENT ON COLUMN crm.case.case_number IS 'The number as shown: CS- and at least six digits (CS-000042).';
COMMENT ON COLUMN crm.case.subject IS 'One-line summary.';
COMMENT ON COLUMN crm.case.description IS 'The customer''s description.';
COMMENT ON COLUMN crm.case.account_id IS 'The customer crm.account.';
COMMENT ON COLUMN crm.case.contact_id IS 'The crm.contact who reported it.';
COMMENT ON COLUMN crm.case.status IS 'new, open, pending, on_hold, resolved or closed; the SLA policy''s pause statuses stop its clocks, resolved and closed stop them too.';
COMMENT ON COLUMN crm.case.priority IS 'low, medium, high or urgent.';
COMMENT ON COLUMN crm.case.severity IS 'Severity 1 (critical) to 4 (minor).';
COMMENT ON COLUMN crm.case.channel IS 'email, phone, chat, portal or social.';
COMMENT ON COLUMN crm.case.category IS 'Free category (for SLA policies and reports).';
COMMENT ON COLUMN crm.case.assignee_id IS 'The crm.app_user working on it.';
COMMENT ON COLUMN crm.case.team_id IS 'The crm.team it is queued to.';
COMMENT ON COLUMN crm.case.product_id IS 'The product it is about (its foreign key arrives with products).';
COMMENT ON COLUMN crm.case.status_changed_at IS 'When the status last changed (set on a status change unless the same UPDATE sets it: import and tests inject times here).';
COMMENT ON COLUMN crm.case.first_response_at IS 'When the first public agent comment was written.';
COMMENT ON COLUMN crm.case.resolved_at IS 'When the case was last resolved (cleared on reopening).';
COMMENT ON COLUMN crm.case.closed_at IS 'When the case was closed (cleared on reopening).';
COMMENT ON COLUMN crm.case.escalated IS 'Set by the SLA sweep when a target is breached.';
SELECT crm._setup_tenant_table('crm.case');

-- Number, status times: BEFORE INSERT OR UPDATE.
CREATE FUNCTION crm.trg_case_before() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	at timestamptz;
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_case_before()', TG_NAME, TG_RELID, TG_ARGV, '{case}');
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN NEW;
	END IF;
	IF TG_OP = 'INSERT' THEN
		NEW.number := crm._next_case_number(NEW.organization_id);
		NEW.status_changed_at := coalesce(NEW.status_changed_at, NEW.created_at);
		at := NEW.status_changed_at;
	ELSE
		IF NEW.number IS DISTINCT FROM OLD.number THEN
			RAISE EXCEPTION 'the number of case % cannot change', OLD.case_number
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		IF NEW.status IS NOT DISTINCT FROM OLD.status THEN
			RETURN NEW;
		END IF;
		IF NEW.status_changed_at IS NOT DISTINCT FROM OLD.status_changed_at THEN
			NEW.status_changed_at := pg_catalog.now();
		END IF;
		at := NEW.status_changed_at;
	END IF;
	IF NEW.status IN ('resolved', 'closed') THEN
		IF TG_OP = 'INSERT' OR OLD.status NOT IN ('resolved', 'closed') THEN
			NEW.resolved_at := coalesce(NEW.resolved_at, at);
		END IF;
		IF NEW.status = 'closed' THEN
			NEW.closed_at := coalesce(NEW.closed_at, at);
		ELSE
			NEW.closed_at := NULL;
		END IF;
	ELSE
		NEW.resolved_at := NULL;
		NEW.closed_at := NULL;
	END IF;
	RETURN NEW;
END;
$$;
COMMENT ON FUNCTION crm.trg_case_before() IS
	'BEFORE INSERT OR UPDATE row trigger on crm.case: gap-free number (the tenant''s counter row, locked until commit), status_changed_at, resolved_at, closed_at.';
CREATE TRIGGER crm_30_case BEFORE INSERT OR UPDATE ON crm.case
	FOR EACH ROW EXECUTE FUNCTION crm.trg_case_before('case');

-- Comments on a case: by an agent (app_user) or by the customer (contact).
CREATE TABLE crm.case_comment (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	case_id		uuid NOT NULL,
	author_user_id uuid,
	author_contact_id uuid,
	is_public	boolean NOT NULL DEFAULT true,
	body		text NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	deleted_at	timestamptz,
	CONSTRAINT case_comment_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT case_comment_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT case_comment_case_fkey FOREIGN KEY (organization_id, case_id) REFERENCES crm.case (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT case_comment_user_fkey FOREIGN KEY (organization_id, author_user_id) REFERENCES crm.app_user (organization_id, id),
	CONSTRAINT case_comment_contact_fkey FOREIGN KEY (organization_id, author_contact_id) REFERENCES crm.contact (organization_id, id),
	CONSTRAINT case_comment_one_author CHECK (num_nonnulls(author_user_id, author_contact_id) = 1),
	CONSTRAINT case_comment_customer_public CHECK (author_contact_id IS NULL OR is_public),
	CONSTRAINT case_comment_body_not_blank CHECK (pg_catalog.btrim(body) <> '')
);
CREATE INDEX case_comment_case_idx ON crm.case_comment (organization_id, case_id, created_at);
COMMENT ON TABLE crm.case_comment IS 'A comment on a case by an agent (author_user_id) or the customer (author_contact_id); public agent comments are responses for the SLA.';
COMMENT ON COLUMN crm.case_comment.case_id IS 'The crm.case commented on.';
COMMENT ON COLUMN crm.case_comment.author_user_id IS 'The agent (crm.app_user) who wrote it; exactly one author.';
COMMENT ON COLUMN crm.case_comment.author_contact_id IS 'The customer (crm.contact) who wrote it; exactly one author.';
COMMENT ON COLUMN crm.case_comment.is_public IS 'Visible to the customer; internal notes (false) are not responses. Customer comments are always public.';
COMMENT ON COLUMN crm.case_comment.body IS 'The text.';
SELECT crm._setup_tenant_table('crm.case_comment', label => 'case comment');

-- Activities can relate to a case.
ALTER TABLE crm.activity ADD COLUMN case_id uuid;
ALTER TABLE crm.activity ADD CONSTRAINT activity_case_fkey FOREIGN KEY (organization_id, case_id) REFERENCES crm.case (organization_id, id);
CREATE INDEX activity_case_timeline_idx ON crm.activity (organization_id, case_id, activity_at DESC) WHERE case_id IS NOT NULL;
COMMENT ON COLUMN crm.activity.case_id IS 'Related crm.case.';
-- ============================================================================
-- 76 sla: SLA policies, per-case targets kept exact at commit, the breach
-- sweep, reporting (doc/sla.md)
-- ============================================================================

-- Every tenant starts with a 24x7 calendar in UTC (the default).
CREATE FUNCTION crm._seed_sla(org uuid) RETURNS uuid
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
SET crm.user_id = ''
AS $$
DECLARE
	c uuid;
BEGIN
	INSERT INTO crm.business_calendar AS x (organization_id, name, time_zone, hours, is_default)
	VALUES (org, '24x7', 'UTC',
			'{"mon": [["00:00","24:00"]], "tue": [["00:00","24:00"]], "wed": [["00:00","24:00"]], "thu": [["00:00","24:00"]],
			  "fri": [["00:00","24:00"]], "sat": [["00:00","24:00"]], "sun": [["00:00","24:00"]]}', true)
	RETURNING x.id INTO c;
	RETURN c;
END;
$$;
COMMENT ON FUNCTION crm._seed_sla(uuid) IS
	'Internal (crm.create_organization): creates the default business calendar 24x7 (UTC, always open) of a new organization.';

-- ---------------------------------------------------------------------------
-- Policies
-- ---------------------------------------------------------------------------
CREATE TABLE crm.sla_policy (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	name		text NOT NULL,
	position	integer NOT NULL,
	criteria	jsonb,
	calendar_id	uuid,
	first_response_minutes integer,
	next_response_minutes integer,
	resolution_minutes integer,
	pause_statuses text[] NOT NULL DEFAULT '{pending,on_hold}',
	warning_percent integer NOT NULL DEFAULT 80,
	is_active	boolean NOT NULL DEFAULT true,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT sla_policy_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT sla_policy_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT sla_policy_calendar_fkey FOREIGN KEY (organization_id, calendar_id) REFERENCES crm.business_calendar (organization_id, id),
	-- (not led by organization_id: foreign-key checks keep the primary key)
	CONSTRAINT sla_policy_name_key UNIQUE (name, organization_id),
	CONSTRAINT sla_policy_name_not_blank CHECK (pg_catalog.btrim(name) <> ''),
	CONSTRAINT sla_policy_targets_positive CHECK (first_response_minutes > 0 AND next_response_minutes > 0 AND resolution_minutes > 0),
	CONSTRAINT sla_policy_pause_statuses_valid CHECK (pause_statuses <@ '{new,open,pending,on_hold}'::text[]),
	CONSTRAINT sla_policy_warning_percent_range CHECK (warning_percent BETWEEN 1 AND 100)
);
COMMENT ON TABLE crm.sla_policy IS 'An SLA policy: the first active one (by position) whose criteria match a case applies; targets in business minutes of its calendar.';
COMMENT ON COLUMN crm.sla_policy.name IS 'Policy name, unique per organization.';
COMMENT ON COLUMN crm.sla_policy.position IS 'Order in which policies are tried (ascending; ties by id).';
COMMENT ON COLUMN crm.sla_policy.criteria IS 'A criteria document over case fields (priority, channel, category, severity, account.type, ...; doc/criteria.md); NULL matches every case (the fallback).';
COMMENT ON COLUMN crm.sla_policy.calendar_id IS 'The crm.business_calendar whose open time counts; NULL: the organization''s default calendar.';
COMMENT ON COLUMN crm.sla_policy.first_response_minutes IS 'Business minutes from creation to the first public agent comment (NULL: no such target).';
COMMENT ON COLUMN crm.sla_policy.next_response_minutes IS 'Business minutes from a customer comment to the next public agent comment (NULL: no such target).';
COMMENT ON COLUMN crm.sla_policy.resolution_minutes IS 'Business minutes from creation to resolution (NULL: no such target).';
COMMENT ON COLUMN crm.sla_policy.pause_statuses IS 'Case statuses that stop the clocks (resolved and closed always do).';
COMMENT ON COLUMN crm.sla_policy.warning_percent IS 'Share of a target (percent) after which the target is at risk (crm.sla_sweep emits case.sla_warning).';
COMMENT ON COLUMN crm.sla_policy.is_active IS 'False: no longer applied (cases move to the next matching policy).';
SELECT crm._setup_tenant_table('crm.sla_policy', label => 'SLA policy');

-- A policy's criteria must be a valid document over case fields.
CREATE FUNCTION crm.trg_sla_policy_check() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_sla_policy_check()', TG_NAME, TG_RELID, TG_ARGV, '{sla_policy}');
	IF NEW.criteria IS NOT NULL AND current_setting('crm.restoring', true) IS DISTINCT FROM 'on' THEN
		PERFORM crm.criteria_sql(NEW.criteria, 'case');
	END IF;
	RETURN NEW;
END;
$$;
COMMENT ON FUNCTION crm.trg_sla_policy_check() IS
	'BEFORE INSERT OR UPDATE row trigger on crm.sla_policy: the criteria must compile for entity case.';
CREATE TRIGGER crm_30_check BEFORE INSERT OR UPDATE ON crm.sla_policy
	FOR EACH ROW EXECUTE FUNCTION crm.trg_sla_policy_check('sla_policy');

-- ---------------------------------------------------------------------------
-- Per-case targets
-- ---------------------------------------------------------------------------
CREATE TABLE crm.case_sla (
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	case_id		uuid NOT NULL,
	target		text NOT NULL,
	policy_id	uuid NOT NULL,
	calendar_id	uuid NOT NULL,
	target_minutes integer NOT NULL,
	warning_percent integer NOT NULL,
	started_at	timestamptz NOT NULL,
	paused_minutes numeric NOT NULL DEFAULT 0,
	paused_since timestamptz,
	warn_at		timestamptz,
	due_at		timestamptz NOT NULL,
	achieved_at	timestamptz,
	warned_at	timestamptz,
	breached_at	timestamptz,
	is_achieved	boolean GENERATED ALWAYS AS (achieved_at IS NOT NULL) STORED,
	is_breached	boolean GENERATED ALWAYS AS (breached_at IS NOT NULL) STORED,
	next_alert_at timestamptz GENERATED ALWAYS AS (CASE WHEN warned_at IS NULL AND warn_at < due_at THEN warn_at ELSE due_at END) STORED,
	CONSTRAINT case_sla_pkey PRIMARY KEY (organization_id, case_id, target),
	CONSTRAINT case_sla_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT case_sla_case_fkey FOREIGN KEY (organization_id, case_id) REFERENCES crm.case (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT case_sla_policy_fkey FOREIGN KEY (organization_id, policy_id) REFERENCES crm.sla_policy (organization_id, id),
	CONSTRAINT case_sla_calendar_fkey FOREIGN KEY (organization_id, calendar_id) REFERENCES crm.business_calendar (organization_id, id),
	CONSTRAINT case_sla_target_valid CHECK (target IN ('first_response', 'next_response', 'resolution')),
	CONSTRAINT case_sla_paused_nonnegative CHECK (paused_minutes >= 0)
);
-- What the sweep reads: only targets still running, by their next alert.
CREATE INDEX case_sla_due_idx ON crm.case_sla (organization_id, next_alert_at)
	WHERE achieved_at IS NULL AND paused_since IS NULL AND breached_at IS NULL;
COMMENT ON TABLE crm.case_sla IS 'The SLA targets of each case: due and warning times (exact at commit), paused business minutes, achieved and breached times. Maintained by crm''s triggers; crm.verify() recomputes it.';
COMMENT ON COLUMN crm.case_sla.case_id IS 'The crm.case.';
COMMENT ON COLUMN crm.case_sla.target IS 'first_response, next_response or resolution.';
COMMENT ON COLUMN crm.case_sla.policy_id IS 'The crm.sla_policy the target comes from.';
COMMENT ON COLUMN crm.case_sla.calendar_id IS 'The crm.business_calendar counted in.';
COMMENT ON COLUMN crm.case_sla.target_minutes IS 'The target in business minutes.';
COMMENT ON COLUMN crm.case_sla.warning_percent IS 'Share of the target after which it is at risk.';
COMMENT ON COLUMN crm.case_sla.started_at IS 'When the clock started: the case''s creation, or (next_response) the customer comment.';
COMMENT ON COLUMN crm.case_sla.paused_minutes IS 'Business minutes (exact, fractional) the clock stood still so far; kept across policy, priority and calendar changes.';
COMMENT ON COLUMN crm.case_sla.paused_since IS 'When the current pause began (NULL: running).';
COMMENT ON COLUMN crm.case_sla.warn_at IS 'When the target becomes at risk (warning_percent of the target, plus the pauses so far).';
COMMENT ON COLUMN crm.case_sla.due_at IS 'When the target is due: started_at + target + paused business minutes.';
COMMENT ON COLUMN crm.case_sla.achieved_at IS 'When the target was met (response, resolution).';
COMMENT ON COLUMN crm.case_sla.warned_at IS 'The warning time, once the at-risk transition was recorded (and case.sla_warning emitted).';
COMMENT ON COLUMN crm.case_sla.breached_at IS 'The due time, once the breach was recorded (and case.sla_breached emitted).';
COMMENT ON COLUMN crm.case_sla.is_achieved IS 'achieved_at IS NOT NULL.';
COMMENT ON COLUMN crm.case_sla.is_breached IS 'breached_at IS NOT NULL.';
COMMENT ON COLUMN crm.case_sla.next_alert_at IS 'The next transition the sweep looks for: the warning time until warned, then the due time.';
SELECT crm._setup_tenant_table('crm.case_sla', audited => false, label => 'case SLA');

-- The instant when minutes (plus the pauses) of the calendar have passed.
CREATE FUNCTION crm._sla_at(started timestamptz, minutes numeric, paused numeric, calendar uuid)
RETURNS timestamptz
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	RETURN crm._business_add_usec(started, ((minutes + paused) * 60000000)::bigint, calendar);
END;
$$;
COMMENT ON FUNCTION crm._sla_at(timestamptz, numeric, numeric, uuid) IS
	'Internal: started + (minutes + paused) business minutes of the calendar.';

-- Whether a status stops the clocks under a policy.
CREATE FUNCTION crm._sla_stopped(status text, pause_statuses text[]) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN status IN ('resolved', 'closed') OR status = ANY (pause_statuses);
END;
$$;
COMMENT ON FUNCTION crm._sla_stopped(text, text[]) IS 'Internal: resolved and closed, and the policy''s pause statuses, stop the clocks.';

-- Record every warning and breach of running targets up to "at" (one case
-- or all of the tenant), emitting one event per transition.  The rows are
-- locked first and re-checked (READ COMMITTED re-reads a row changed
-- concurrently), so a transition is recorded exactly once whoever gets
-- there first -- the sweep, or the change that stops the clock.
CREATE FUNCTION crm._sla_settle(org uuid, one_case uuid, at timestamptz) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	r record;
	n integer := 0;
BEGIN
	-- SECURITY DEFINER (it writes derived rows application roles may only
	-- read): the caller's own organization only, for a caller that may
	-- change cases
	IF org IS DISTINCT FROM crm._caller_org('crm.case', 'UPDATE') THEN
		RAISE EXCEPTION 'organization % is not the current organization', org USING ERRCODE = 'insufficient_privilege';
	END IF;
	at := least(at, pg_catalog.now());
	FOR r IN
		WITH due AS (
			SELECT s.case_id, s.target, s.warned_at AS old_warned, s.warn_at, s.due_at
			  FROM crm.case_sla s
			 WHERE s.organization_id = org AND (one_case IS NULL OR s.case_id = one_case)
			   AND s.achieved_at IS NULL AND s.paused_since IS NULL AND s.breached_at IS NULL
			   AND s.next_alert_at <= at
			 ORDER BY s.case_id, s.target
			   FOR UPDATE OF s)
		UPDATE crm.case_sla s
		   SET warned_at = coalesce(s.warned_at, CASE WHEN s.warn_at <= at THEN s.warn_at END),
			   breached_at = CASE WHEN s.due_at <= at THEN s.due_at END
		  FROM due
		 WHERE s.organization_id = org AND s.case_id = due.case_id AND s.target = due.target
		RETURNING s.case_id, s.target, due.old_warned, s.warned_at, s.breached_at, s.due_at, s.policy_id
	LOOP
		IF r.old_warned IS NULL AND r.warned_at IS NOT NULL THEN
			PERFORM crm.emit('case.sla_warning', 'case', r.case_id,
							 jsonb_build_object('target', r.target, 'due_at', r.due_at, 'warned_at', r.warned_at,
												'policy_id', r.policy_id), org);
			n := n + 1;
		END IF;
		IF r.breached_at IS NOT NULL THEN
			PERFORM crm.emit('case.sla_breached', 'case', r.case_id,
							 jsonb_build_object('target', r.target, 'due_at', r.due_at, 'policy_id', r.policy_id), org);
			UPDATE crm.case c SET escalated = true
			 WHERE c.organization_id = org AND c.id = r.case_id AND NOT c.escalated;
			n := n + 1;
		END IF;
	END LOOP;
	RETURN n;
END;
$$;
COMMENT ON FUNCTION crm._sla_settle(uuid, uuid, timestamptz) IS
	'Internal: records the warnings and breaches of running targets up to a time (one case, or NULL: all of the organization), one event per transition; returns the number of events.';

-- (Re)apply the matching policy to a case: its targets recomputed from
-- creation, the pause time already accumulated kept.
CREATE FUNCTION crm._sla_apply(org uuid, case_id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	c record;
	p record;
	pid uuid;
	cal uuid;
	t text;
	minutes integer;
	stopped boolean;
BEGIN
	-- SECURITY DEFINER (it writes derived rows application roles may only
	-- read): the caller's own organization only, for a caller that may
	-- change cases
	IF org IS DISTINCT FROM crm._caller_org('crm.case', 'UPDATE') THEN
		RAISE EXCEPTION 'organization % is not the current organization', org USING ERRCODE = 'insufficient_privilege';
	END IF;
	SELECT x.id, x.status, x.created_at, x.status_changed_at, x.resolved_at, x.deleted_at INTO c
	  FROM crm.case x WHERE x.organization_id = org AND x.id = _sla_apply.case_id;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	IF c.deleted_at IS NULL THEN
		FOR p IN SELECT s.id, s.criteria FROM crm.sla_policy s WHERE s.organization_id = org AND s.is_active ORDER BY s.position, s.id LOOP
			IF p.criteria IS NULL OR crm.criteria_match(p.criteria, 'case', c.id) THEN
				pid := p.id;
				EXIT;
			END IF;
		END LOOP;
	END IF;
	IF pid IS NULL THEN
		DELETE FROM crm.case_sla s WHERE s.organization_id = org AND s.case_id = c.id AND s.achieved_at IS NULL;
		RETURN;
	END IF;
	SELECT * INTO p FROM crm.sla_policy s WHERE s.organization_id = org AND s.id = pid;
	cal := coalesce(p.calendar_id, (SELECT b.id FROM crm.business_calendar b WHERE b.organization_id = org AND b.is_default));
	IF cal IS NULL THEN
		RAISE EXCEPTION 'SLA policy "%" has no calendar and the organization has no default calendar', p.name
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Set crm.sla_policy.calendar_id, or mark a calendar is_default.';
	END IF;
	stopped := crm._sla_stopped(c.status, p.pause_statuses);
	FOREACH t IN ARRAY ARRAY['first_response', 'next_response', 'resolution'] LOOP
		minutes := CASE t WHEN 'first_response' THEN p.first_response_minutes
						  WHEN 'next_response' THEN p.next_response_minutes
						  ELSE p.resolution_minutes END;
		IF minutes IS NULL THEN
			DELETE FROM crm.case_sla s
			 WHERE s.organization_id = org AND s.case_id = c.id AND s.target = t AND s.achieved_at IS NULL;
			CONTINUE;
		END IF;
		UPDATE crm.case_sla s
		   SET policy_id = p.id, calendar_id = cal, target_minutes = minutes, warning_percent = p.warning_percent,
			   due_at = crm._sla_at(s.started_at, minutes, s.paused_minutes, cal),
			   warn_at = crm._sla_at(s.started_at, minutes * p.warning_percent / 100.0, s.paused_minutes, cal)
		 WHERE s.organization_id = org AND s.case_id = c.id AND s.target = t;
		IF NOT FOUND AND t <> 'next_response' THEN
			INSERT INTO crm.case_sla (organization_id, case_id, target, policy_id, calendar_id, target_minutes,
									  warning_percent, started_at, paused_since, due_at, warn_at, achieved_at)
			VALUES (org, c.id, t, p.id, cal, minutes, p.warning_percent, c.created_at,
					CASE WHEN stopped THEN c.created_at END,
					crm._sla_at(c.created_at, minutes, 0, cal),
					crm._sla_at(c.created_at, minutes * p.warning_percent / 100.0, 0, cal),
					CASE WHEN t = 'resolution' THEN c.resolved_at END);
		END IF;
	END LOOP;
END;
$$;
COMMENT ON FUNCTION crm._sla_apply(uuid, uuid) IS
	'Internal: applies the first matching active policy to a case: creates or recomputes its targets from creation, keeping the accumulated pause; removes targets no policy sets.';

-- A status change at time "at": pausing stops the running clocks, resuming
-- adds the paused business time, resolving achieves the resolution target,
-- reopening takes that back.
CREATE FUNCTION crm._sla_status(org uuid, case_id uuid, old_status text, new_status text, at timestamptz) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	pause text[];
	was boolean;
	now_stopped boolean;
BEGIN
	-- SECURITY DEFINER (it writes derived rows application roles may only
	-- read): the caller's own organization only, for a caller that may
	-- change cases
	IF org IS DISTINCT FROM crm._caller_org('crm.case', 'UPDATE') THEN
		RAISE EXCEPTION 'organization % is not the current organization', org USING ERRCODE = 'insufficient_privilege';
	END IF;
	SELECT p.pause_statuses INTO pause
	  FROM crm.case_sla s JOIN crm.sla_policy p ON p.organization_id = s.organization_id AND p.id = s.policy_id
	 WHERE s.organization_id = org AND s.case_id = _sla_status.case_id
	 LIMIT 1;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	was := crm._sla_stopped(old_status, pause);
	now_stopped := crm._sla_stopped(new_status, pause);
	IF now_stopped AND NOT was THEN
		-- transitions up to the pause are recorded before the clock stops
		PERFORM crm._sla_settle(org, _sla_status.case_id, at);
		UPDATE crm.case_sla s SET paused_since = at
		 WHERE s.organization_id = org AND s.case_id = _sla_status.case_id
		   AND s.achieved_at IS NULL AND s.paused_since IS NULL;
	ELSIF was AND NOT now_stopped THEN
		UPDATE crm.case_sla s
		   SET paused_minutes = s.paused_minutes + crm._business_usec(s.paused_since, greatest(at, s.paused_since), s.calendar_id) / 60000000.0,
			   paused_since = NULL
		 WHERE s.organization_id = org AND s.case_id = _sla_status.case_id AND s.paused_since IS NOT NULL;
		UPDATE crm.case_sla s
		   SET achieved_at = NULL
		 WHERE s.organization_id = org AND s.case_id = _sla_status.case_id AND s.target = 'resolution'
		   AND old_status IN ('resolved', 'closed');
		UPDATE crm.case_sla s
		   SET due_at = crm._sla_at(s.started_at, s.target_minutes, s.paused_minutes, s.calendar_id),
			   warn_at = crm._sla_at(s.started_at, s.target_minutes * s.warning_percent / 100.0, s.paused_minutes, s.calendar_id)
		 WHERE s.organization_id = org AND s.case_id = _sla_status.case_id AND s.achieved_at IS NULL;
	END IF;
	IF new_status IN ('resolved', 'closed') AND old_status NOT IN ('resolved', 'closed') THEN
		UPDATE crm.case_sla s SET achieved_at = at
		 WHERE s.organization_id = org AND s.case_id = _sla_status.case_id AND s.target = 'resolution' AND s.achieved_at IS NULL;
	ELSIF old_status IN ('resolved', 'closed') AND new_status NOT IN ('resolved', 'closed') AND now_stopped THEN
		-- reopened into a pause status: not achieved, still paused
		UPDATE crm.case_sla s SET achieved_at = NULL
		 WHERE s.organization_id = org AND s.case_id = _sla_status.case_id AND s.target = 'resolution';
	END IF;
END;
$$;
COMMENT ON FUNCTION crm._sla_status(uuid, uuid, text, text, timestamptz) IS
	'Internal: the SLA effect of a case status change at a time (pause, resume with the paused business time added, resolve, reopen).';

-- AFTER INSERT OR UPDATE on crm.case.
CREATE FUNCTION crm.trg_case_sla() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_case_sla()', TG_NAME, TG_RELID, TG_ARGV, '{case}');
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN NULL;
	END IF;
	IF TG_OP = 'INSERT' THEN
		PERFORM crm._sla_apply(NEW.organization_id, NEW.id);
		RETURN NULL;
	END IF;
	IF (NEW.priority, NEW.severity, NEW.channel, NEW.category, NEW.account_id, NEW.contact_id, NEW.team_id,
		NEW.assignee_id, NEW.product_id, NEW.tags, NEW.custom_fields, NEW.deleted_at, NEW.subject)
	   IS DISTINCT FROM
	   (OLD.priority, OLD.severity, OLD.channel, OLD.category, OLD.account_id, OLD.contact_id, OLD.team_id,
		OLD.assignee_id, OLD.product_id, OLD.tags, OLD.custom_fields, OLD.deleted_at, OLD.subject) THEN
		PERFORM crm._sla_apply(NEW.organization_id, NEW.id);
	END IF;
	IF NEW.status IS DISTINCT FROM OLD.status THEN
		PERFORM crm._sla_status(NEW.organization_id, NEW.id, OLD.status, NEW.status, NEW.status_changed_at);
	END IF;
	RETURN NULL;
END;
$$;
COMMENT ON FUNCTION crm.trg_case_sla() IS
	'AFTER INSERT OR UPDATE row trigger on crm.case: applies the matching SLA policy on insert and when a field policies read changes; pauses, resumes, resolves and reopens the targets on a status change.';
CREATE TRIGGER crm_40_sla AFTER INSERT OR UPDATE ON crm.case
	FOR EACH ROW EXECUTE FUNCTION crm.trg_case_sla('case');

-- A comment at time "at": a public agent comment (by_agent) is a response,
-- a customer comment starts a next-response clock.
CREATE FUNCTION crm._sla_comment(org uuid, case_id uuid, at timestamptz, by_agent boolean) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	c record;
	p record;
BEGIN
	-- SECURITY DEFINER (it writes derived rows application roles may only
	-- read): the caller's own organization only, for a caller that may
	-- change cases
	IF org IS DISTINCT FROM crm._caller_org('crm.case', 'UPDATE') THEN
		RAISE EXCEPTION 'organization % is not the current organization', org USING ERRCODE = 'insufficient_privilege';
	END IF;
	IF by_agent THEN
		-- what was due before the response is recorded first
		PERFORM crm._sla_settle(org, _sla_comment.case_id, at);
		UPDATE crm.case x SET first_response_at = at
		 WHERE x.organization_id = org AND x.id = _sla_comment.case_id AND x.first_response_at IS NULL;
		UPDATE crm.case_sla s SET achieved_at = at
		 WHERE s.organization_id = org AND s.case_id = _sla_comment.case_id
		   AND s.target IN ('first_response', 'next_response') AND s.achieved_at IS NULL;
		RETURN;
	END IF;
	SELECT x.status INTO c FROM crm.case x WHERE x.organization_id = org AND x.id = _sla_comment.case_id;
	SELECT pol.id, pol.next_response_minutes, pol.warning_percent, pol.pause_statuses, s.calendar_id INTO p
	  FROM crm.case_sla s JOIN crm.sla_policy pol ON pol.organization_id = s.organization_id AND pol.id = s.policy_id
	 WHERE s.organization_id = org AND s.case_id = _sla_comment.case_id
	 ORDER BY s.target LIMIT 1;
	IF p.id IS NULL OR p.next_response_minutes IS NULL OR c.status IN ('resolved', 'closed') THEN
		RETURN;
	END IF;
	-- a new clock unless one is running (the oldest unanswered comment counts)
	INSERT INTO crm.case_sla AS s (organization_id, case_id, target, policy_id, calendar_id, target_minutes,
								   warning_percent, started_at, paused_since, due_at, warn_at)
	VALUES (org, _sla_comment.case_id, 'next_response', p.id, p.calendar_id, p.next_response_minutes, p.warning_percent, at,
			CASE WHEN crm._sla_stopped(c.status, p.pause_statuses) THEN at END,
			crm._sla_at(at, p.next_response_minutes, 0, p.calendar_id),
			crm._sla_at(at, p.next_response_minutes * p.warning_percent / 100.0, 0, p.calendar_id))
	ON CONFLICT ON CONSTRAINT case_sla_pkey DO UPDATE
	   SET started_at = excluded.started_at, paused_since = excluded.paused_since, paused_minutes = 0,
		   due_at = excluded.due_at, warn_at = excluded.warn_at,
		   achieved_at = NULL, warned_at = NULL, breached_at = NULL
	 WHERE s.achieved_at IS NOT NULL;
END;
$$;
COMMENT ON FUNCTION crm._sla_comment(uuid, uuid, timestamptz, boolean) IS
	'Internal: the SLA effect of a comment at a time: an agent''s public comment sets first_response_at and achieves the response targets; a customer''s starts a next-response clock.';

-- AFTER INSERT on crm.case_comment: responses and customer replies.
CREATE FUNCTION crm.trg_case_comment_sla() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_case_comment_sla()', TG_NAME, TG_RELID, TG_ARGV, '{case_comment}');
	IF current_setting('crm.restoring', true) = 'on' OR NEW.deleted_at IS NOT NULL THEN
		RETURN NULL;
	END IF;
	IF NEW.author_user_id IS NOT NULL AND NEW.is_public THEN
		PERFORM crm._sla_comment(NEW.organization_id, NEW.case_id, NEW.created_at, true);
	ELSIF NEW.author_contact_id IS NOT NULL THEN
		PERFORM crm._sla_comment(NEW.organization_id, NEW.case_id, NEW.created_at, false);
	END IF;
	RETURN NULL;
END;
$$;
COMMENT ON FUNCTION crm.trg_case_comment_sla() IS
	'AFTER INSERT row trigger on crm.case_comment: a public agent comment sets first_response_at and achieves the response targets; a customer comment starts a next-response clock (crm._sla_comment).';
CREATE TRIGGER crm_40_sla AFTER INSERT ON crm.case_comment
	FOR EACH ROW EXECUTE FUNCTION crm.trg_case_comment_sla('case_comment');

-- Due and warning times of the running targets counted in the given
-- calendars, recomputed (after a calendar edit).
CREATE FUNCTION crm._sla_recompute(org uuid, calendars uuid[]) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	-- SECURITY DEFINER (it writes derived rows application roles may only
	-- read): the caller's own organization only, for a caller that may
	-- change cases
	IF org IS DISTINCT FROM crm._caller_org('crm.case', 'UPDATE') THEN
		RAISE EXCEPTION 'organization % is not the current organization', org USING ERRCODE = 'insufficient_privilege';
	END IF;
	UPDATE crm.case_sla s
	   SET due_at = crm._sla_at(s.started_at, s.target_minutes, s.paused_minutes, s.calendar_id),
		   warn_at = crm._sla_at(s.started_at, s.target_minutes * s.warning_percent / 100.0, s.paused_minutes, s.calendar_id)
	 WHERE s.organization_id = org AND s.achieved_at IS NULL AND s.calendar_id = ANY (calendars);
END;
$$;
COMMENT ON FUNCTION crm._sla_recompute(uuid, uuid[]) IS
	'Internal: recomputes the due and warning times of the running targets counted in the given calendars.';

-- Policy and calendar changes recompute the open cases they concern, in
-- the same transaction.
CREATE FUNCTION crm.trg_sla_config_changed() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	tbl name;		-- the logical table: sla_policy or business_calendar
	r record;
BEGIN
	tbl := crm._trigger_table_ok('crm.trg_sla_config_changed()', TG_NAME, TG_RELID, TG_ARGV, '{sla_policy,business_calendar}');
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN NULL;
	END IF;
	IF tbl = 'business_calendar' THEN
		PERFORM crm._sla_recompute(crm.current_org(), ARRAY(SELECT n.id FROM crm_new n));
		RETURN NULL;
	END IF;
	-- a policy: every open case of the organization is matched again
	FOR r IN SELECT c.id FROM crm.case c
			  WHERE c.organization_id = crm.current_org() AND c.deleted_at IS NULL
				AND c.status NOT IN ('resolved', 'closed')
			  ORDER BY c.id LOOP
		PERFORM crm._sla_apply(crm.current_org(), r.id);
	END LOOP;
	RETURN NULL;
END;
$$;
COMMENT ON FUNCTION crm.trg_sla_config_changed() IS
	'AFTER statement trigger on crm.sla_policy and crm.business_calendar: recomputes the targets of the open cases a changed policy or calendar concerns.';
CREATE TRIGGER crm_96_sla_recompute AFTER UPDATE ON crm.business_calendar
	REFERENCING NEW TABLE AS crm_new FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_sla_config_changed('business_calendar');
CREATE TRIGGER crm_96_sla_recompute_insert AFTER INSERT ON crm.sla_policy
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_sla_config_changed('sla_policy');
CREATE TRIGGER crm_96_sla_recompute_update AFTER UPDATE ON crm.sla_policy
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_sla_config_changed('sla_policy');

-- ---------------------------------------------------------------------------
-- The sweep
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm.sla_sweep(as_of timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (organization_id uuid, events integer)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	o record;
	n integer;
	own_org text := current_setting('crm.organization_id', true);
BEGIN
	IF as_of IS NULL THEN
		RAISE EXCEPTION 'as_of must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	FOR o IN SELECT g.id FROM crm.organization g ORDER BY g.id LOOP
		BEGIN
			-- each tenant in its own tenant context
			PERFORM set_config('crm.organization_id', o.id::text, true);
			n := crm._sla_settle(o.id, NULL, as_of);
			IF n > 0 THEN
				organization_id := o.id;
				events := n;
				RETURN NEXT;
			END IF;
		EXCEPTION WHEN insufficient_privilege THEN
			NULL;				-- an organization the caller may not act for
		WHEN OTHERS THEN
			RAISE WARNING 'SLA sweep of organization % failed: %', o.id, SQLERRM;
		END;
	END LOOP;
	PERFORM set_config('crm.organization_id', coalesce(own_org, ''), true);
END;
$$;
COMMENT ON FUNCTION crm.sla_sweep(timestamptz) IS
	'Records every target that became at risk or breached by as_of, for every organization the caller may act for (each in its own tenant context), through the partial index of running targets; emits exactly one case.sla_warning / case.sla_breached per transition; idempotent. Returns the organizations with events.';
INSERT INTO crm.job (name, schedule, command, description) VALUES
	('sla_sweep', '* * * * *', 'SELECT crm.sla_sweep()', 'Records SLA warnings and breaches (case.sla_warning, case.sla_breached events).');

-- ---------------------------------------------------------------------------
-- Reporting
-- ---------------------------------------------------------------------------
CREATE VIEW crm.v_case_sla WITH (security_invoker = true) AS
SELECT s.organization_id, s.case_id, c.case_number, c.subject, c.status AS case_status, c.priority, c.team_id,
	   s.target, s.policy_id, p.name AS policy_name, s.calendar_id, s.target_minutes, s.started_at,
	   s.due_at, s.warn_at, s.paused_minutes, s.paused_since, s.achieved_at, s.breached_at,
	   CASE WHEN s.achieved_at IS NOT NULL THEN 'achieved'
			WHEN s.breached_at IS NOT NULL OR s.due_at <= pg_catalog.now() AND s.paused_since IS NULL THEN 'breached'
			WHEN s.paused_since IS NOT NULL THEN 'paused'
			WHEN s.warned_at IS NOT NULL OR s.warn_at <= pg_catalog.now() THEN 'at_risk'
			ELSE 'on_track' END AS state,
	   CASE WHEN s.achieved_at IS NULL THEN
			crm.business_minutes(coalesce(s.paused_since, pg_catalog.now()), s.due_at, s.calendar_id) END AS minutes_left
  FROM crm.case_sla s
  JOIN crm.case c ON c.organization_id = s.organization_id AND c.id = s.case_id
  JOIN crm.sla_policy p ON p.organization_id = s.organization_id AND p.id = s.policy_id
 WHERE c.deleted_at IS NULL;
COMMENT ON VIEW crm.v_case_sla IS 'Every SLA target of live cases with its state now: on_track, at_risk, breached, paused or achieved, and business minutes left (negative: overdue; for a paused target, as of the pause).';
COMMENT ON COLUMN crm.v_case_sla.organization_id IS 'The tenant.';
COMMENT ON COLUMN crm.v_case_sla.case_id IS 'The crm.case.';
COMMENT ON COLUMN crm.v_case_sla.case_number IS 'The case''s number (CS-000042).';
COMMENT ON COLUMN crm.v_case_sla.subject IS 'The case''s subject.';
COMMENT ON COLUMN crm.v_case_sla.case_status IS 'The case''s status.';
COMMENT ON COLUMN crm.v_case_sla.priority IS 'The case''s priority.';
COMMENT ON COLUMN crm.v_case_sla.team_id IS 'The case''s team.';
COMMENT ON COLUMN crm.v_case_sla.target IS 'first_response, next_response or resolution.';
COMMENT ON COLUMN crm.v_case_sla.policy_id IS 'The policy.';
COMMENT ON COLUMN crm.v_case_sla.policy_name IS 'The policy''s name.';
COMMENT ON COLUMN crm.v_case_sla.calendar_id IS 'The calendar counted in.';
COMMENT ON COLUMN crm.v_case_sla.target_minutes IS 'The target in business minutes.';
COMMENT ON COLUMN crm.v_case_sla.started_at IS 'When the clock started.';
COMMENT ON COLUMN crm.v_case_sla.due_at IS 'When it is due.';
COMMENT ON COLUMN crm.v_case_sla.warn_at IS 'When it is at risk.';
COMMENT ON COLUMN crm.v_case_sla.paused_minutes IS 'Business minutes paused so far.';
COMMENT ON COLUMN crm.v_case_sla.paused_since IS 'Start of the current pause.';
COMMENT ON COLUMN crm.v_case_sla.achieved_at IS 'When it was met.';
COMMENT ON COLUMN crm.v_case_sla.breached_at IS 'The recorded breach (its due time).';
COMMENT ON COLUMN crm.v_case_sla.state IS 'on_track, at_risk, breached, paused or achieved.';
COMMENT ON COLUMN crm.v_case_sla.minutes_left IS 'Business minutes until due (negative: overdue); NULL once achieved.';

-- Compliance between two dates (cases created in [from, to]), by team,
-- priority or policy.
CREATE FUNCTION crm.sla_compliance("from" date, "to" date, group_by text DEFAULT 'policy')
RETURNS TABLE (grp text, target text, targets bigint, achieved bigint, breached bigint,
			   achieved_percent numeric, median_first_response_minutes numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
BEGIN
	IF group_by IS NULL OR group_by NOT IN ('team', 'priority', 'policy') THEN
		RAISE EXCEPTION 'group_by must be team, priority or policy, not %', coalesce(quote_literal(group_by), 'NULL')
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF "from" IS NULL OR "to" IS NULL OR "from" > "to" THEN
		RAISE EXCEPTION 'the period must be two dates, from not after to'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	RETURN QUERY
	SELECT CASE group_by WHEN 'team' THEN coalesce(tm.name, '(no team)')
						 WHEN 'priority' THEN c.priority ELSE p.name END,
		   s.target,
		   count(*),
		   count(*) FILTER (WHERE s.achieved_at IS NOT NULL AND s.breached_at IS NULL),
		   count(*) FILTER (WHERE s.breached_at IS NOT NULL),
		   round(100.0 * count(*) FILTER (WHERE s.achieved_at IS NOT NULL AND s.breached_at IS NULL) / count(*), 1),
		   (percentile_cont(0.5) WITHIN GROUP (ORDER BY crm.business_minutes(s.started_at, s.achieved_at, s.calendar_id) - s.paused_minutes)
				FILTER (WHERE s.target = 'first_response' AND s.achieved_at IS NOT NULL))::numeric
	  FROM crm.case_sla s
	  JOIN crm.case c ON c.organization_id = s.organization_id AND c.id = s.case_id
	  JOIN crm.sla_policy p ON p.organization_id = s.organization_id AND p.id = s.policy_id
	  LEFT JOIN crm.team tm ON tm.organization_id = c.organization_id AND tm.id = c.team_id
	 WHERE s.organization_id = org AND c.deleted_at IS NULL
	   AND c.created_at >= "from"::timestamptz AND c.created_at < ("to" + 1)::timestamptz
	 GROUP BY 1, 2
	 ORDER BY 1, 2;
END;
$$;
COMMENT ON FUNCTION crm.sla_compliance(date, date, text) IS
	'SLA compliance of the cases created in [from, to] grouped by team, priority or policy: targets, achieved in time, breached, achieved % and the median first response in business minutes (paused time excluded).';

-- ---------------------------------------------------------------------------
-- Drift check: due and warning times recomputed from the stored inputs.
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm.check_case_sla()
RETURNS TABLE (entity text, id uuid, expected text, actual text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	o record;
	own_org text := current_setting('crm.organization_id', true);
BEGIN
	-- every organization whose targets the caller sees (all of them after a
	-- restore), each in its own tenant context: calendars are the tenant's
	FOR o IN SELECT DISTINCT s.organization_id AS org FROM crm.case_sla s ORDER BY 1 LOOP
		PERFORM set_config('crm.organization_id', o.org::text, true);
		RETURN QUERY
		SELECT 'case_sla'::text, s.case_id,
			   s.target || ' due ' || crm._sla_at(s.started_at, s.target_minutes, s.paused_minutes, s.calendar_id)::text,
			   s.target || ' due ' || s.due_at::text
		  FROM crm.case_sla s
		 WHERE s.organization_id = o.org AND s.achieved_at IS NULL AND s.paused_since IS NULL
		   AND s.due_at IS DISTINCT FROM crm._sla_at(s.started_at, s.target_minutes, s.paused_minutes, s.calendar_id)
		 ORDER BY s.case_id, s.target;
	END LOOP;
	PERFORM set_config('crm.organization_id', coalesce(own_org, ''), true);
END;
$$;
COMMENT ON FUNCTION crm.check_case_sla() IS
	'crm.verify() check: running SLA targets (of every organization the caller sees) whose due time differs from started_at + target + paused business minutes of their calendar.';
INSERT INTO crm.verify_check VALUES
	('case_sla', 'crm.check_case_sla()', 'Running SLA targets are due at start + target + paused business minutes of their calendar.');
-- ============================================================================
-- 77 knowledge: knowledge-base articles, their links to cases, and article
-- suggestions for a case through the full-text index (doc/sla.md)
-- ============================================================================

CREATE TABLE crm.knowledge_article (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	title		text NOT NULL,
	body		text NOT NULL DEFAULT '',
	status		text NOT NULL DEFAULT 'draft',
	version		integer NOT NULL DEFAULT 1,
	published_at timestamptz,
	helpful_count integer NOT NULL DEFAULT 0,
	unhelpful_count integer NOT NULL DEFAULT 0,
	owner_id	uuid,
	tags		text[] NOT NULL DEFAULT '{}',
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	deleted_at	timestamptz,
	-- title, and the first 20,000 characters of the body
	search_vector tsvector GENERATED ALWAYS AS (
		setweight(to_tsvector('simple'::regconfig, crm.search_fold(title)), 'A') ||
		setweight(to_tsvector('simple'::regconfig, crm.search_fold(left(body, 20000))), 'C')
	) STORED,
	CONSTRAINT knowledge_article_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT knowledge_article_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT knowledge_article_owner_fkey FOREIGN KEY (organization_id, owner_id) REFERENCES crm.app_user (organization_id, id),
	CONSTRAINT knowledge_article_title_not_blank CHECK (pg_catalog.btrim(title) <> ''),
	CONSTRAINT knowledge_article_status_valid CHECK (status IN ('draft', 'published', 'archived')),
	CONSTRAINT knowledge_article_version_positive CHECK (version > 0),
	CONSTRAINT knowledge_article_counts_nonnegative CHECK (helpful_count >= 0 AND unhelpful_count >= 0)
);
-- what crm.suggest_articles reads: published articles only
CREATE INDEX knowledge_article_search_idx ON crm.knowledge_article USING gin (search_vector crm.tsvector_ops)
	WHERE status = 'published' AND deleted_at IS NULL;
COMMENT ON TABLE crm.knowledge_article IS 'A knowledge-base article: draft, published or archived; versioned; full-text searchable; suggested for cases (crm.suggest_articles).';
COMMENT ON COLUMN crm.knowledge_article.title IS 'Title (weighs most in searches and suggestions).';
COMMENT ON COLUMN crm.knowledge_article.body IS 'The article text.';
COMMENT ON COLUMN crm.knowledge_article.status IS 'draft, published (suggested for cases) or archived.';
COMMENT ON COLUMN crm.knowledge_article.version IS 'Incremented by every change of title or body.';
COMMENT ON COLUMN crm.knowledge_article.published_at IS 'When it was last published.';
COMMENT ON COLUMN crm.knowledge_article.helpful_count IS 'Readers who found it helpful.';
COMMENT ON COLUMN crm.knowledge_article.unhelpful_count IS 'Readers who did not.';
SELECT crm._setup_tenant_table('crm.knowledge_article', label => 'knowledge article');

-- Versions and publication times.
CREATE FUNCTION crm.trg_knowledge_article() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_knowledge_article()', TG_NAME, TG_RELID, TG_ARGV, '{knowledge_article}');
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN NEW;
	END IF;
	IF TG_OP = 'INSERT' THEN
		NEW.version := 1;
	ELSIF (NEW.title, NEW.body) IS DISTINCT FROM (OLD.title, OLD.body) THEN
		NEW.version := OLD.version + 1;
	ELSE
		NEW.version := OLD.version;
	END IF;
	IF NEW.status = 'published' AND (TG_OP = 'INSERT' OR OLD.status <> 'published') THEN
		NEW.published_at := pg_catalog.now();
	END IF;
	RETURN NEW;
END;
$$;
COMMENT ON FUNCTION crm.trg_knowledge_article() IS
	'BEFORE INSERT OR UPDATE row trigger on crm.knowledge_article: version (1, then +1 per change of title or body), published_at.';
CREATE TRIGGER crm_30_version BEFORE INSERT OR UPDATE ON crm.knowledge_article
	FOR EACH ROW EXECUTE FUNCTION crm.trg_knowledge_article('knowledge_article');

-- Articles linked to cases (the article that solved it, one sent to the
-- customer).
CREATE TABLE crm.knowledge_article_case (
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	article_id	uuid NOT NULL,
	case_id		uuid NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	CONSTRAINT knowledge_article_case_pkey PRIMARY KEY (organization_id, article_id, case_id),
	CONSTRAINT knowledge_article_case_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT knowledge_article_case_article_fkey FOREIGN KEY (organization_id, article_id)
		REFERENCES crm.knowledge_article (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT knowledge_article_case_case_fkey FOREIGN KEY (organization_id, case_id)
		REFERENCES crm.case (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX knowledge_article_case_case_idx ON crm.knowledge_article_case (organization_id, case_id);
COMMENT ON TABLE crm.knowledge_article_case IS 'A knowledge article linked to a case.';
COMMENT ON COLUMN crm.knowledge_article_case.article_id IS 'The crm.knowledge_article.';
COMMENT ON COLUMN crm.knowledge_article_case.case_id IS 'The crm.case.';
SELECT crm._setup_tenant_table('crm.knowledge_article_case', audited => false, label => 'knowledge article link');

-- Published articles ranked by text similarity to a case: any word of the
-- case's subject and description (accents folded, words of three letters
-- or more, the first 64), through the partial full-text index; ties by the
-- helpful votes.
CREATE FUNCTION crm.suggest_articles(case_id uuid, lim integer DEFAULT 5)
RETURNS TABLE (article_id uuid, title text, rank real)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
	txt text;
	q tsquery;
BEGIN
	IF lim IS NULL OR lim < 1 OR lim > 100 THEN
		RAISE EXCEPTION 'lim must be between 1 and 100, not %', coalesce(lim::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT c.subject || ' ' || coalesce(left(c.description, 20000), '') INTO txt
	  FROM crm.case c WHERE c.organization_id = org AND c.id = suggest_articles.case_id AND c.deleted_at IS NULL;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'case % does not exist', coalesce(suggest_articles.case_id::text, 'NULL')
			USING ERRCODE = 'no_data_found',
				  HINT = 'Pass the id of a live case of the current organization.';
	END IF;
	SELECT string_agg(quote_literal(w), ' | ')::tsquery INTO q
	  FROM (SELECT DISTINCT w FROM regexp_split_to_table(lower(crm.search_fold(txt)), '[^[:alnum:]]+') w
			 WHERE length(w) >= 3 LIMIT 64) words;
	IF q IS NULL THEN
		RETURN;
	END IF;
	RETURN QUERY
	SELECT a.id, a.title, ts_rank(a.search_vector, q) AS r
	  FROM crm.knowledge_article a
	 WHERE a.organization_id = org AND a.status = 'published' AND a.deleted_at IS NULL
	   AND a.search_vector OPERATOR(crm.@@) q
	 ORDER BY r DESC, a.helpful_count DESC, a.id
	 LIMIT lim;
END;
$$;
COMMENT ON FUNCTION crm.suggest_articles(uuid, integer) IS
	'Published knowledge articles of the current organization ranked by text similarity to a case (any word of its subject and description), through the full-text index; at most lim (1-100).';
-- ============================================================================
-- 80 security and operations: role levels, restore mode, the DROP guard
-- ============================================================================

-- Grant a database role what a level needs, optionally only for some
-- organizations.  Levels:
--   readonly  SELECT on every tenant table and every crm.v_* view
--   user      + INSERT/UPDATE of records (soft delete through deleted_at),
--             DELETE of line items (opportunity_line_item, quote_line_item)
--   admin     + DELETE, writing definitions (custom fields, picklists, teams,
--             users), and the current organization's settings
CREATE FUNCTION crm.grant_access(role regrole, level text, organizations uuid[] DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	t record;
	config_tables constant text[] := ARRAY['custom_field', 'picklist_value', 'team', 'team_member', 'territory', 'app_user', 'duplicate_rule', 'criteria_tenant_field',
											  'pipeline', 'pipeline_stage', 'product', 'price_book', 'price_book_entry',
											  'exchange_rate', 'sales_quota', 'scoring_settings', 'engagement_event_type',
											  'scoring_group', 'scoring_rule', 'routing_rule', 'routing_member',
											  'business_calendar', 'sla_policy'];
	-- the settings of crm.organization a tenant admin may change (the policy
	-- organization_self limits the change to the current organization)
	org_settings constant text := 'name, default_currency, default_country, default_timezone';
	readonly_tables constant text[] := ARRAY['audit_log', 'erasure_log', 'opportunity_stage_history', 'pipeline_rollup',
											  'quote_counter', 'quote_version', 'pipeline_snapshot',
											  'score', 'score_tally', 'score_base', 'routing_decision', 'case_counter', 'case_sla'];
	-- parts of a record rather than records (no soft delete): users delete them
	user_deletable constant text[] := ARRAY['opportunity_line_item', 'quote_line_item'];
BEGIN
	IF level IS NULL OR level NOT IN ('admin', 'user', 'readonly') THEN
		RAISE EXCEPTION 'unknown access level "%"', level
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use admin, user or readonly.';
	END IF;
	IF organizations IS NOT NULL AND (cardinality(organizations) = 0 OR array_position(organizations, NULL) IS NOT NULL) THEN
		RAISE EXCEPTION 'organizations must be NULL (any) or a non-empty list of organization ids'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF organizations IS NOT NULL AND EXISTS (
		SELECT 1 FROM unnest(organizations) o
		 WHERE NOT EXISTS (SELECT 1 FROM crm.organization g WHERE g.id = o)) THEN
		RAISE EXCEPTION 'unknown organization in %', organizations
			USING ERRCODE = 'foreign_key_violation';
	END IF;

	-- Start from nothing, so that a lower level really removes rights.
	EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA crm FROM %s', role);
	EXECUTE format('GRANT USAGE ON SCHEMA crm TO %s', role);
	EXECUTE format('GRANT SELECT ON crm.organization TO %s', role);
	IF level = 'admin' THEN
		EXECUTE format('GRANT UPDATE (%s) ON crm.organization TO %s', org_settings, role);
	END IF;
	FOR t IN SELECT table_name FROM crm.table_registry ORDER BY table_name LOOP
		EXECUTE format('GRANT SELECT ON crm.%I TO %s', t.table_name, role);
		IF level = 'admin' AND t.table_name <> ALL (readonly_tables) THEN
			EXECUTE format('GRANT INSERT, UPDATE, DELETE ON crm.%I TO %s', t.table_name, role);
		ELSIF level = 'user' AND t.table_name <> ALL (config_tables || readonly_tables) THEN
			EXECUTE format('GRANT INSERT, UPDATE ON crm.%I TO %s', t.table_name, role);
			IF t.table_name = ANY (user_deletable) THEN
				EXECUTE format('GRANT DELETE ON crm.%I TO %s', t.table_name, role);
			END IF;
		END IF;
	END LOOP;
	-- The reporting views, for every level: they are security_invoker, so
	-- they read the tables above with the role's own rights and policies.
	FOR t IN SELECT c.relname AS table_name FROM pg_class c
			  WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind = 'v' ORDER BY 1 LOOP
		EXECUTE format('GRANT SELECT ON crm.%I TO %s', t.table_name, role);
	END LOOP;
	-- the criteria field catalog (views over the tables above)
	EXECUTE format('GRANT SELECT ON crm.criteria_field, crm.criteria_system_field TO %s', role);
	IF level = 'admin' AND organizations IS NULL THEN
		EXECUTE format('GRANT EXECUTE ON FUNCTION crm.create_organization(text, text) TO %s', role);
	ELSE
		EXECUTE format('REVOKE EXECUTE ON FUNCTION crm.create_organization(text, text) FROM %s', role);
	END IF;

	INSERT INTO crm.role_access AS r (role, level, organizations)
	VALUES (grant_access.role, grant_access.level, grant_access.organizations)
	ON CONFLICT ON CONSTRAINT role_access_pkey DO UPDATE
		SET level = EXCLUDED.level, organizations = EXCLUDED.organizations, granted_at = pg_catalog.now();
	PERFORM crm._reset_access_cache();
END;
$$;
COMMENT ON FUNCTION crm.grant_access(regrole, text, uuid[]) IS
	'Grants a role the privileges of a level (admin, user, readonly); with organizations, the role can act only for those (crm.current_org() refuses others).';
REVOKE ALL ON FUNCTION crm.grant_access(regrole, text, uuid[]) FROM PUBLIC;

-- Take every right crm gave a role away again.
CREATE FUNCTION crm.revoke_access(role regrole)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA crm FROM %s', role);
	EXECUTE format('REVOKE EXECUTE ON FUNCTION crm.create_organization(text, text) FROM %s', role);
	EXECUTE format('REVOKE USAGE ON SCHEMA crm FROM %s', role);
	DELETE FROM crm.role_access r WHERE r.role = revoke_access.role;
	PERFORM crm._reset_access_cache();
END;
$$;
COMMENT ON FUNCTION crm.revoke_access(regrole) IS 'Revokes what crm.grant_access() granted a role.';
REVOKE ALL ON FUNCTION crm.revoke_access(regrole) FROM PUBLIC;

-- A tenant admin edits its organization's settings (name, currency, country,
-- time zone): UPDATE on those columns only (crm.grant_access), on the
-- current organization only (policy organization_self).  The stamp trigger
-- keeps updated_at and refuses a change of id.
CREATE TRIGGER crm_10_stamp BEFORE INSERT OR UPDATE ON crm.organization
	FOR EACH ROW EXECUTE FUNCTION crm.trg_stamp('organization');

-- ---------------------------------------------------------------------------
-- Restore mode.  pg_dump includes every crm table's rows; on restore they are
-- loaded into tables that already have crm's triggers.  Between
-- crm.pre_restore() and crm.post_restore() those triggers leave every row as
-- it is loaded (no second audit entry, no new updated_at, no re-validation),
-- in this session and in every new session of this database (pg_restore -j).
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm.pre_restore() RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	EXECUTE format('ALTER DATABASE %I SET crm.restoring = on', current_database());
	PERFORM set_config('crm.restoring', 'on', false);
END;
$$;
COMMENT ON FUNCTION crm.pre_restore() IS
	'Before loading a dump: turns restore mode on for this database (crm triggers leave loaded rows untouched). Superuser only.';
REVOKE ALL ON FUNCTION crm.pre_restore() FROM PUBLIC;

CREATE FUNCTION crm.post_restore()
RETURNS TABLE ("check" text, entity text, id uuid, expected text, actual text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	EXECUTE format('ALTER DATABASE %I RESET crm.restoring', current_database());
	PERFORM set_config('crm.restoring', 'off', false);
	RETURN QUERY SELECT * FROM crm.verify();
END;
$$;
COMMENT ON FUNCTION crm.post_restore() IS
	'After loading a dump: turns restore mode off and returns crm.verify() (no rows: the restored data is consistent). Superuser only.';
REVOKE ALL ON FUNCTION crm.post_restore() FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- The DROP guard: DROP EXTENSION crm (and DROP SCHEMA crm CASCADE, DROP
-- EXTENSION plpgsql CASCADE, DROP OWNED BY its owner, which take it along)
-- would drop every CRM table with its data.  It is refused while any CRM
-- table has a row, unless the superuser says SET crm.allow_drop_with_data = on
-- first (src/drop_guard.c).
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm.drop_guard() RETURNS event_trigger
	AS 'MODULE_PATHNAME', 'drop_guard'
	LANGUAGE C;
COMMENT ON FUNCTION crm.drop_guard() IS
	'Event trigger: refuses DROP EXTENSION crm (or DROP SCHEMA crm CASCADE, DROP OWNED BY its owner, ...) while CRM data exists (crm.allow_drop_with_data overrides).';
CREATE EVENT TRIGGER crm_drop_guard ON ddl_command_start
	WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA', 'DROP OWNED')
	EXECUTE FUNCTION crm.drop_guard();

-- The other ways a CRM table or column can go: as a side effect of dropping
-- something it depends on (ALTER EXTENSION crm DROP TYPE crm.email; DROP
-- TYPE crm.email CASCADE drops every email column).  Checked on what a
-- command did drop, before it commits (src/drop_objects.c).
CREATE FUNCTION crm.drop_objects_guard() RETURNS event_trigger
	AS 'MODULE_PATHNAME', 'drop_objects_guard'
	LANGUAGE C;
COMMENT ON FUNCTION crm.drop_objects_guard() IS
	'Event trigger (sql_drop): refuses a command that drops a table of schema crm or a column of one other than DROP EXTENSION crm (crm.allow_drop_with_data overrides).';
CREATE EVENT TRIGGER crm_drop_objects_guard ON sql_drop
	EXECUTE FUNCTION crm.drop_objects_guard();
-- A command that takes the extension itself along drops the sql_drop guard
-- too; so every DROP ... CASCADE of an object of schema crm is refused at
-- its start.
CREATE FUNCTION crm.drop_cascade_guard() RETURNS event_trigger
	AS 'MODULE_PATHNAME', 'drop_cascade_guard'
	LANGUAGE C;
COMMENT ON FUNCTION crm.drop_cascade_guard() IS
	'Event trigger (ddl_command_start): refuses DROP ... CASCADE of an object of schema crm (crm.allow_drop_with_data overrides).';
CREATE EVENT TRIGGER crm_drop_cascade_guard ON ddl_command_start
	EXECUTE FUNCTION crm.drop_cascade_guard();
-- ============================================================================
-- 85 reporting: the crm.v_* views and the hierarchy and timeline functions
--
-- The views are what BI tools and reports read: live rows only (deleted_at IS
-- NULL), the names of owners, accounts and territories resolved, the account
-- hierarchy as a path.  Rule: a view never shows data of a soft-deleted row.
-- A reference to a soft-deleted record keeps its id but resolves to no name,
-- and the account hierarchy runs through live accounts only (a live account
-- under a soft-deleted parent is the root of its own tree here).
--
-- Every view is security_invoker: it reads its tables as the role that queries
-- it, so row-level security applies (a view owned by the installing superuser
-- would otherwise read every tenant's rows).  Joins carry organization_id, so
-- each stays within one tenant and every join is on a tenant-first key.
-- ============================================================================

-- Two rules keep every view's plan proportional to the rows it returns, also
-- while the planner has no statistics yet (a first bulk load) and would
-- rather read a whole tenant through any index that begins with
-- organization_id:
--   * a name is looked up by primary key only; whether the referenced row is
--     live is tested on the row found (CASE), not in the join, which would
--     let the partial "WHERE deleted_at IS NULL" indexes in;
--   * the hierarchy is walked upwards one parent at a time, each step a
--     primary-key lookup fenced by LIMIT 1 (otherwise the planner may turn
--     the step into a join that reads the tenant per step: quadratic).
-- Every join is a LEFT JOIN on a unique key or to a one-row aggregate, so a
-- query that does not use its columns does not pay for it (join removal).

-- Accounts with the live ancestry of each: from the root of its live tree down
-- to itself, walked laterally per account, so a query that picks a few
-- accounts walks only their ancestors.  CYCLE guards against a cycle that
-- restore mode let in (the trigger refuses them otherwise; crm.verify()
-- reports them).
CREATE VIEW crm.v_account WITH (security_invoker = true) AS
SELECT a.id, a.organization_id, a.name,
	   a.parent_account_id, CASE WHEN p.deleted_at IS NULL THEN p.name END AS parent_account_name,
	   h.root_account_id, h.depth, h.path, h.path_ids,
	   a.type, a.status, a.rating, a.industry, a.employee_count, a.annual_revenue, a.currency,
	   a.website, a.domain, a.phone, a.billing_address, a.shipping_address, a.description,
	   a.owner_id, CASE WHEN o.deleted_at IS NULL THEN o.name END AS owner_name,
	   a.territory_id, CASE WHEN t.deleted_at IS NULL THEN t.name END AS territory_name,
	   a.tags, a.custom_fields, a.created_at, a.updated_at, a.created_by, a.updated_by
  FROM crm.account a
  LEFT JOIN crm.account p ON p.organization_id = a.organization_id AND p.id = a.parent_account_id
  LEFT JOIN crm.app_user o ON o.organization_id = a.organization_id AND o.id = a.owner_id
  LEFT JOIN crm.territory t ON t.organization_id = a.organization_id AND t.id = a.territory_id
  LEFT JOIN LATERAL (
	WITH RECURSIVE up (id, parent_id, name, n) AS (
		SELECT a.id, a.parent_account_id, a.name, 0
		UNION ALL
		SELECT x.id, x.parent_account_id, x.name, up.n + 1
		  FROM up,
		  LATERAL (SELECT q.id, q.parent_account_id, q.name, q.deleted_at FROM crm.account q
					WHERE q.organization_id = a.organization_id AND q.id = up.parent_id
					LIMIT 1) x
		 WHERE x.deleted_at IS NULL
	) CYCLE id SET is_cycle USING visited
	SELECT (array_agg(up.id ORDER BY up.n DESC))[1] AS root_account_id,
		   max(up.n) AS depth,
		   string_agg(up.name, ' > ' ORDER BY up.n DESC) AS path,
		   array_agg(up.id ORDER BY up.n DESC) AS path_ids
	  FROM up
	 WHERE NOT up.is_cycle
 ) h ON true
 WHERE a.deleted_at IS NULL;
COMMENT ON VIEW crm.v_account IS
	'Live accounts of the current organization with owner, territory and parent names and the account hierarchy (root, depth, path); for reports and BI tools (a soft-deleted referenced record shows no name).';

CREATE VIEW crm.v_contact WITH (security_invoker = true) AS
SELECT c.id, c.organization_id,
	   c.first_name, c.last_name, crm.person_full_name(c.first_name, c.last_name) AS full_name,
	   c.email, c.phone, c.mobile, c.title, c.department,
	   c.account_id, CASE WHEN a.deleted_at IS NULL THEN a.name END AS account_name, ap.path AS account_path,
	   c.lead_source, c.preferred_contact_method, c.timezone, c.locale, c.birthday, c.social_profiles,
	   c.do_not_email, c.do_not_call, c.unsubscribed_at, c.mailing_address, c.description,
	   c.owner_id, CASE WHEN o.deleted_at IS NULL THEN o.name END AS owner_name,
	   c.tags, c.custom_fields, c.created_at, c.updated_at, c.created_by, c.updated_by
  FROM crm.contact c
  LEFT JOIN crm.account a ON a.organization_id = c.organization_id AND a.id = c.account_id
  -- the account's path, looked up per contact (one row: an aggregate, so the
  -- join is left out when the column is not asked for)
  LEFT JOIN LATERAL (SELECT max(v.path) AS path FROM crm.v_account v
					  WHERE v.organization_id = c.organization_id AND v.id = c.account_id) ap ON true
  LEFT JOIN crm.app_user o ON o.organization_id = c.organization_id AND o.id = c.owner_id
 WHERE c.deleted_at IS NULL;
COMMENT ON VIEW crm.v_contact IS
	'Live contacts of the current organization with full name, owner name, account name and the account''s hierarchy path; for reports and BI tools (a soft-deleted referenced record shows no name).';

CREATE VIEW crm.v_lead WITH (security_invoker = true) AS
SELECT l.id, l.organization_id,
	   l.first_name, l.last_name, crm.person_full_name(l.first_name, l.last_name) AS full_name,
	   l.email, l.phone, l.company, l.title, l.website, l.industry, l.employee_count,
	   l.lead_source, l.status, l.priority, l.utm_source, l.utm_medium, l.utm_campaign, l.utm_term, l.utm_content,
	   l.converted_at,
	   l.converted_account_id, CASE WHEN a.deleted_at IS NULL THEN a.name END AS converted_account_name,
	   l.converted_contact_id,
	   CASE WHEN c.id IS NOT NULL AND c.deleted_at IS NULL
			THEN crm.person_full_name(c.first_name, c.last_name) END AS converted_contact_name,
	   l.converted_opportunity_id, l.disqualification_reason, l.description,
	   l.owner_id, CASE WHEN o.deleted_at IS NULL THEN o.name END AS owner_name,
	   l.tags, l.custom_fields, l.created_at, l.updated_at, l.created_by, l.updated_by
  FROM crm.lead l
  LEFT JOIN crm.account a ON a.organization_id = l.organization_id AND a.id = l.converted_account_id
  LEFT JOIN crm.contact c ON c.organization_id = l.organization_id AND c.id = l.converted_contact_id
  LEFT JOIN crm.app_user o ON o.organization_id = l.organization_id AND o.id = l.owner_id
 WHERE l.deleted_at IS NULL;
COMMENT ON VIEW crm.v_lead IS
	'Live leads of the current organization with owner name and the names of the account and contact a converted lead became; for reports and BI tools (a soft-deleted referenced record shows no name).';

CREATE VIEW crm.v_activity WITH (security_invoker = true) AS
SELECT v.id, v.organization_id, v.type, v.subject, v.body, v.status, v.priority,
	   v.activity_at, v.due_at, v.completed_at, v.duration_minutes, v.direction, v.outcome,
	   v.account_id, CASE WHEN a.deleted_at IS NULL THEN a.name END AS account_name,
	   v.contact_id,
	   CASE WHEN c.id IS NOT NULL AND c.deleted_at IS NULL
			THEN crm.person_full_name(c.first_name, c.last_name) END AS contact_name,
	   v.lead_id,
	   CASE WHEN l.id IS NOT NULL AND l.deleted_at IS NULL
			THEN crm.person_full_name(l.first_name, l.last_name) END AS lead_name,
	   v.owner_id, CASE WHEN o.deleted_at IS NULL THEN o.name END AS owner_name,
	   v.assignee_id, CASE WHEN s.deleted_at IS NULL THEN s.name END AS assignee_name,
	   v.tags, v.custom_fields, v.created_at, v.updated_at, v.created_by, v.updated_by
  FROM crm.activity v
  LEFT JOIN crm.account a ON a.organization_id = v.organization_id AND a.id = v.account_id
  LEFT JOIN crm.contact c ON c.organization_id = v.organization_id AND c.id = v.contact_id
  LEFT JOIN crm.lead l ON l.organization_id = v.organization_id AND l.id = v.lead_id
  LEFT JOIN crm.app_user o ON o.organization_id = v.organization_id AND o.id = v.owner_id
  LEFT JOIN crm.app_user s ON s.organization_id = v.organization_id AND s.id = v.assignee_id
 WHERE v.deleted_at IS NULL;
COMMENT ON VIEW crm.v_activity IS
	'Live activities of the current organization with the names of their account, contact, lead, owner and assignee; for reports and BI tools (a soft-deleted referenced record shows no name).';

-- Column comments: a column a view takes from its table keeps that table's
-- comment (one text for both, so they cannot disagree); the derived columns
-- are commented below.
DO $$
DECLARE
	c record;
BEGIN
	FOR c IN
		SELECT v.oid::regclass AS view, a.attname, col_description(t.oid, b.attnum) AS txt
		  FROM pg_class v
		  JOIN pg_attribute a ON a.attrelid = v.oid AND a.attnum > 0
		  JOIN pg_class t ON t.relnamespace = v.relnamespace AND t.relname = substr(v.relname, 3)
		  JOIN pg_attribute b ON b.attrelid = t.oid AND b.attname = a.attname AND NOT b.attisdropped
		 WHERE v.relnamespace = 'crm'::regnamespace AND v.relkind = 'v' AND v.relname LIKE 'v\_%'
		   AND col_description(t.oid, b.attnum) IS NOT NULL
	LOOP
		EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', c.view, c.attname, c.txt);
	END LOOP;
END;
$$;
COMMENT ON COLUMN crm.v_account.parent_account_name IS 'Name of the parent account (NULL when it is soft-deleted).';
COMMENT ON COLUMN crm.v_account.root_account_id IS 'The top of the account''s live hierarchy (the account itself when it has no live parent).';
COMMENT ON COLUMN crm.v_account.depth IS 'Levels below root_account_id (0 for a root).';
COMMENT ON COLUMN crm.v_account.path IS 'Account names from the root down to this account, joined by '' > ''.';
COMMENT ON COLUMN crm.v_account.path_ids IS 'Account ids from the root down to this account.';
COMMENT ON COLUMN crm.v_account.owner_name IS 'Name of the owning crm.app_user.';
COMMENT ON COLUMN crm.v_account.territory_name IS 'Name of the territory.';
COMMENT ON COLUMN crm.v_contact.full_name IS 'Given and family name (crm.person_full_name).';
COMMENT ON COLUMN crm.v_contact.account_name IS 'Name of the contact''s account.';
COMMENT ON COLUMN crm.v_contact.account_path IS 'Hierarchy path of the contact''s account (crm.v_account.path).';
COMMENT ON COLUMN crm.v_contact.owner_name IS 'Name of the owning crm.app_user.';
COMMENT ON COLUMN crm.v_lead.full_name IS 'Given and family name (crm.person_full_name).';
COMMENT ON COLUMN crm.v_lead.converted_account_name IS 'Name of the account the lead was converted into.';
COMMENT ON COLUMN crm.v_lead.converted_contact_name IS 'Full name of the contact the lead was converted into.';
COMMENT ON COLUMN crm.v_lead.owner_name IS 'Name of the owning crm.app_user.';
COMMENT ON COLUMN crm.v_activity.account_name IS 'Name of the related account.';
COMMENT ON COLUMN crm.v_activity.contact_name IS 'Full name of the related contact.';
COMMENT ON COLUMN crm.v_activity.lead_name IS 'Full name of the related lead.';
COMMENT ON COLUMN crm.v_activity.owner_name IS 'Name of the owning crm.app_user.';
COMMENT ON COLUMN crm.v_activity.assignee_name IS 'Name of the assigned crm.app_user.';

-- ---------------------------------------------------------------------------
-- crm.account_tree: an account's live subtree (or, from_root, the whole live
-- hierarchy it belongs to), depth-first with siblings by name.  depth, path
-- and path_ids are those of crm.v_account (counted from the root of the live
-- hierarchy), so the rows are exactly the crm.v_account rows whose path_ids
-- contain the starting account.  Children are found through
-- account_parent_idx, one index lookup per account of the subtree.
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm.account_tree(account_id uuid, from_root boolean DEFAULT false)
RETURNS TABLE (id uuid, parent_account_id uuid, name text, depth integer, path text, path_ids uuid[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
	start crm.v_account;
BEGIN
	SELECT * INTO start FROM crm.v_account v
	 WHERE v.organization_id = org AND v.id = account_tree.account_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'account % not found', coalesce(account_tree.account_id::text, 'NULL')
			USING ERRCODE = 'no_data_found',
				  DETAIL = 'There is no live account with this id in the current organization.';
	END IF;
	IF from_root AND start.depth > 0 THEN
		SELECT * INTO start FROM crm.v_account v
		 WHERE v.organization_id = org AND v.id = start.root_account_id;
	END IF;
	RETURN QUERY
	WITH RECURSIVE down (id, parent_account_id, name, depth, path, path_ids, sort_key) AS (
		SELECT start.id, start.parent_account_id, start.name, start.depth, start.path, start.path_ids,
			   '{}'::text[]
		UNION ALL
		SELECT a.id, a.parent_account_id, a.name, d.depth + 1, d.path || ' > ' || a.name, d.path_ids || a.id,
			   d.sort_key || (a.name || chr(1) || a.id::text)
		  FROM down d
		  JOIN crm.account a
			ON a.organization_id = org AND a.parent_account_id = d.id AND a.deleted_at IS NULL
	) CYCLE id SET is_cycle USING visited
	SELECT d.id, d.parent_account_id, d.name, d.depth, d.path, d.path_ids
	  FROM down d
	 WHERE NOT d.is_cycle
	 ORDER BY d.sort_key;
END;
$$;
COMMENT ON FUNCTION crm.account_tree(uuid, boolean) IS
	'The live subtree of an account of the current organization (from_root: the whole hierarchy it is in), depth-first, siblings by name, with depth and path as in crm.v_account.';

-- ---------------------------------------------------------------------------
-- crm.timeline: what happened to one record, in time order -- its audit
-- entries, and the live activities and notes that refer to it.  Which
-- activity and note columns refer to the record's table is read from their
-- foreign keys (account_id, contact_id, lead_id, activity_id; owner_id and
-- assignee_id for a user), so a table that later gets a foreign key from
-- crm.activity or crm.note gets a timeline without a change here.
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm.timeline(entity text, id uuid)
RETURNS TABLE (occurred_at timestamptz, kind text, item_id uuid, summary text, detail jsonb,
			   user_id uuid, user_name text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
	tbl name;
	src record;
	parts text[];
BEGIN
	-- 'contact' or 'crm.contact', a crm record table (crm._entity: 22023
	-- listing the allowed ones otherwise)
	tbl := crm._entity(timeline.entity);

	parts := ARRAY[
		'SELECT a.changed_at, ''audit''::text, a.id,
				a.action || coalesce('': '' || (SELECT string_agg(k, '', '' ORDER BY k)
												   FROM jsonb_object_keys(a.new_values) k
												  WHERE a.action = ''UPDATE''), ''''),
				jsonb_build_object(''old_values'', a.old_values, ''new_values'', a.new_values),
				a.actor_id, u.name
		   FROM crm.audit_log a
		   LEFT JOIN crm.app_user u ON u.organization_id = a.organization_id AND u.id = a.actor_id AND u.deleted_at IS NULL
		  WHERE a.organization_id = $1 AND a.table_name = $3 AND a.row_id = $2'];

	-- the activities and notes whose foreign keys point at the record
	FOR src IN
		SELECT k.conrelid AS rel, string_agg(format('t.%I = $2', att.attname), ' OR ' ORDER BY att.attname) AS cond
		  FROM pg_constraint k
		  JOIN pg_attribute att ON att.attrelid = k.conrelid AND att.attnum = ANY (k.conkey)
							   AND att.attname <> 'organization_id'
		 WHERE k.contype = 'f' AND k.confrelid = ('crm.' || quote_ident(tbl))::regclass
		   AND k.conrelid IN ('crm.activity'::regclass, 'crm.note'::regclass)
		   AND cardinality(k.conkey) = 2
		 GROUP BY k.conrelid
	LOOP
		IF src.rel = 'crm.activity'::regclass THEN
			parts := parts || format(
				'SELECT t.activity_at, ''activity''::text, t.id, t.type || '': '' || t.subject,
						jsonb_strip_nulls(jsonb_build_object(''type'', t.type, ''status'', t.status,
							''priority'', t.priority, ''direction'', t.direction, ''outcome'', t.outcome,
							''due_at'', t.due_at, ''completed_at'', t.completed_at,
							''duration_minutes'', t.duration_minutes, ''body'', t.body)),
						coalesce(t.owner_id, t.created_by), u.name
				   FROM crm.activity t
				   LEFT JOIN crm.app_user u ON u.organization_id = t.organization_id
										   AND u.id = coalesce(t.owner_id, t.created_by) AND u.deleted_at IS NULL
				  WHERE t.organization_id = $1 AND t.deleted_at IS NULL AND (%s)', src.cond);
		ELSE
			parts := parts || format(
				'SELECT t.created_at, ''note''::text, t.id, split_part(t.body, E''\n'', 1),
						jsonb_build_object(''body'', t.body, ''is_pinned'', t.is_pinned),
						t.created_by, u.name
				   FROM crm.note t
				   LEFT JOIN crm.app_user u ON u.organization_id = t.organization_id AND u.id = t.created_by AND u.deleted_at IS NULL
				  WHERE t.organization_id = $1 AND t.deleted_at IS NULL AND (%s)', src.cond);
		END IF;
	END LOOP;

	RETURN QUERY EXECUTE array_to_string(parts, ' UNION ALL ') || ' ORDER BY 1, 2, 3'
		USING org, timeline.id, tbl::text;
END;
$$;
COMMENT ON FUNCTION crm.timeline(text, uuid) IS
	'What happened to one record of the current organization, oldest first: its audit entries and the live activities and notes that refer to it (kind audit, activity or note).';
-- ============================================================================
-- 86 sales views: crm.v_pipeline and crm.v_forecast for BI tools (doc/sales.md)
--
-- After sql/85_views.sql, whose column-comment pass matches a view v_x to a
-- table x: v_pipeline is not a view of crm.pipeline, so its comments are set
-- here, from crm.opportunity and crm.pipeline_rollup.
-- ============================================================================

-- Live opportunities with their pipeline, stage and owner names, and the
-- amounts in the corporate currency (NULL where no rate applies: a view
-- for BI tools does not fail on one missing rate).
CREATE VIEW crm.v_pipeline WITH (security_invoker = true) AS
SELECT x.id, x.organization_id, x.name, x.pipeline_id, p.name AS pipeline_name, x.stage_id, s.name AS stage_name,
	   s.position AS stage_position, x.account_id, x.owner_id, CASE WHEN u.deleted_at IS NULL THEN u.name END AS owner_name,
	   x.amount, x.currency, x.probability, x.expected_revenue, x.forecast_category, x.type, x.lead_source,
	   x.close_date, date_trunc('month', x.close_date)::date AS close_month, x.stage_entered_at,
	   x.is_closed, x.is_won, x.closed_at,
	   g.default_currency AS corporate_currency,
	   round(x.amount * fx.rate, 2) AS amount_corporate,
	   round(x.expected_revenue * fx.rate, 2) AS expected_revenue_corporate
  FROM crm.opportunity x
  JOIN crm.organization g ON g.id = x.organization_id
  LEFT JOIN crm.pipeline p ON p.organization_id = x.organization_id AND p.id = x.pipeline_id
  LEFT JOIN crm.pipeline_stage s ON s.organization_id = x.organization_id AND s.id = x.stage_id
  LEFT JOIN crm.app_user u ON u.organization_id = x.organization_id AND u.id = x.owner_id
  LEFT JOIN LATERAL (
	SELECT CASE WHEN x.currency = g.default_currency THEN 1 ELSE
		(SELECT r.rate FROM crm.exchange_rate r
		  WHERE r.organization_id = x.organization_id AND r.currency = x.currency
			AND r.valid_from <= coalesce(date_trunc('month', x.close_date)::date, current_date)
		  ORDER BY r.valid_from DESC LIMIT 1) END AS rate) fx ON true
 WHERE x.deleted_at IS NULL;
COMMENT ON VIEW crm.v_pipeline IS 'Live opportunities with pipeline, stage and owner names and their amounts in the corporate currency (rate of the close month''s first day; NULL when no rate exists).';

-- The roll-up per bucket (slots summed), with the corporate-currency sums.
CREATE VIEW crm.v_forecast WITH (security_invoker = true) AS
SELECT b.organization_id, b.pipeline_id, b.stage_id, b.owner_id, b.close_month, b.forecast_category, b.currency,
	   b.opportunity_count, b.amount, b.expected_revenue,
	   g.default_currency AS corporate_currency,
	   round(b.amount * fx.rate, 2) AS amount_corporate,
	   round(b.expected_revenue * fx.rate, 2) AS expected_revenue_corporate
  FROM (SELECT r.organization_id, r.pipeline_id, r.stage_id, r.owner_id, r.close_month, r.forecast_category, r.currency,
			   sum(r.opportunity_count)::bigint AS opportunity_count, sum(r.amount) AS amount, sum(r.expected_revenue) AS expected_revenue
		  FROM crm.pipeline_rollup r
		 GROUP BY 1, 2, 3, 4, 5, 6, 7
		HAVING sum(r.opportunity_count) <> 0) b
  JOIN crm.organization g ON g.id = b.organization_id
  LEFT JOIN LATERAL (
	SELECT CASE WHEN b.currency = g.default_currency THEN 1 ELSE
		(SELECT e.rate FROM crm.exchange_rate e
		  WHERE e.organization_id = b.organization_id AND e.currency = b.currency
			AND e.valid_from <= coalesce(b.close_month, current_date)
		  ORDER BY e.valid_from DESC LIMIT 1) END AS rate) fx ON true;
COMMENT ON VIEW crm.v_forecast IS 'The weighted-pipeline roll-up per pipeline, stage, owner, close month, forecast category and currency (slots summed), with amounts in the corporate currency (NULL when no rate exists).';

-- Column comments: a column taken from its table keeps that table's comment;
-- the derived ones are commented below.
DO $$
DECLARE
	c record;
BEGIN
	FOR c IN
		SELECT v.view, a.attname, col_description(v.src, b.attnum) AS txt
		  FROM (VALUES ('crm.v_pipeline'::regclass, 'crm.opportunity'::regclass),
					   ('crm.v_forecast'::regclass, 'crm.pipeline_rollup'::regclass)) v(view, src)
		  JOIN pg_attribute a ON a.attrelid = v.view AND a.attnum > 0
		  JOIN pg_attribute b ON b.attrelid = v.src AND b.attname = a.attname AND NOT b.attisdropped
		 WHERE col_description(v.src, b.attnum) IS NOT NULL
	LOOP
		EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', c.view, c.attname, c.txt);
	END LOOP;
END;
$$;
COMMENT ON COLUMN crm.v_pipeline.id IS 'The opportunity''s id.';
COMMENT ON COLUMN crm.v_pipeline.organization_id IS 'The organization.';
COMMENT ON COLUMN crm.v_pipeline.pipeline_name IS 'Name of the pipeline.';
COMMENT ON COLUMN crm.v_pipeline.stage_name IS 'Name of the stage.';
COMMENT ON COLUMN crm.v_pipeline.stage_position IS 'Position of the stage in its pipeline.';
COMMENT ON COLUMN crm.v_pipeline.owner_name IS 'Name of the owning crm.app_user (NULL when soft-deleted).';
COMMENT ON COLUMN crm.v_pipeline.close_month IS 'First day of the close date''s month: the month whose first-day exchange rate converts the amounts.';
COMMENT ON COLUMN crm.v_pipeline.corporate_currency IS 'The organization''s corporate currency (crm.organization.default_currency).';
COMMENT ON COLUMN crm.v_pipeline.amount_corporate IS 'amount in the corporate currency, rounded to cents (NULL when no exchange rate applies).';
COMMENT ON COLUMN crm.v_pipeline.expected_revenue_corporate IS 'expected_revenue in the corporate currency, rounded to cents (NULL when no exchange rate applies).';
COMMENT ON COLUMN crm.v_forecast.organization_id IS 'The organization.';
COMMENT ON COLUMN crm.v_forecast.opportunity_count IS 'Number of live opportunities in the bucket (slots summed).';
COMMENT ON COLUMN crm.v_forecast.amount IS 'Sum of their amount in currency.';
COMMENT ON COLUMN crm.v_forecast.expected_revenue IS 'Sum of their expected revenue in currency.';
COMMENT ON COLUMN crm.v_forecast.corporate_currency IS 'The organization''s corporate currency (crm.organization.default_currency).';
COMMENT ON COLUMN crm.v_forecast.amount_corporate IS 'amount in the corporate currency (rate of the close month''s first day; today''s without close month), rounded to cents; NULL when no rate applies.';
COMMENT ON COLUMN crm.v_forecast.expected_revenue_corporate IS 'expected_revenue in the corporate currency, rounded to cents; NULL when no rate applies.';
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
-- ============================================================================
-- 95 privileges: who may execute what (doc/design.md, "Security model").
--
-- PostgreSQL lets PUBLIC execute every new function.  crm takes that away
-- from all of its functions, then gives back exactly two lists:
--
--   the public API     documented in doc/reference.md: what clients call,
--                      the support functions of crm's types and operators,
--                      the functions in crm's defaults, policies and checks;
--   caller-rights      internal functions that the public API calls while it
--   support            runs as its caller (PostgreSQL checks EXECUTE on every
--                      nested call).  Each one either runs as the caller under
--                      row-level security and can do nothing the caller could
--                      not do with plain SQL, or is a SECURITY DEFINER that
--                      checks the caller's organization and privileges itself.
--
-- Everything else -- trigger functions, locks, install helpers, restore
-- mode, job scheduling, access grants -- is executable by the owner only.
-- A function a later feature adds is therefore not executable until it is
-- put on a list here; test/sql/security.sql shows both lists, and
-- test/pgtap/security.sql fails on any trigger, lock or SECURITY DEFINER
-- function that is executable without being listed.
-- ============================================================================

REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA crm FROM PUBLIC;

DO $$
DECLARE
	f text;
	public_api constant text[] := ARRAY[
		-- tenancy and ids
		'crm.uuid_v7()', 'crm.uuid_v7_time(uuid)', 'crm.current_org()', 'crm.current_user_id()',
		'crm.acting_user()', 'crm.is_valid_timezone(text)',
		-- events, verification, history
		'crm.emit(text, text, uuid, jsonb, uuid)', 'crm.event_channel()', 'crm.verify()',
		'crm.check_hierarchy_cycles()', 'crm.check_custom_fields()', 'crm.check_live_references()',
		'crm.check_audit_duplicates()', 'crm.check_picklists()', 'crm.history(text, uuid)',
		-- custom fields
		'crm.custom_field_value_error(text, jsonb, jsonb)', 'crm.custom_field_value_valid(text, jsonb, jsonb)',
		'crm.custom_field_options_error(text, jsonb)', 'crm.custom_fields_error(text, uuid, jsonb)',
		-- merge, privacy, duplicates
		'crm.merge(text, uuid, uuid[], jsonb)', 'crm.subject_export(crm.email)',
		'crm.subject_erase(crm.email, text)', 'crm.erasure_lookup(crm.email)',
		'crm.find_duplicates(text, uuid, real)', 'crm.duplicate_pairs(text, real)',
		'crm.jaro_winkler(text, text)', 'crm.edit_distance(text, text)', 'crm.name_similarity(text, text)',
		'crm.name_key(text, text)', 'crm.company_norm(text)', 'crm.company_key(text)', 'crm.email_key(text)',
		'crm.email_domain_key(text)', 'crm.phone_key(text)', 'crm.person_full_name(text, text)',
		'crm.dedup_block_limit()',
		'crm.person_score(text, text, text, text[], text, text, text, text[])',
		'crm.person_reasons(text, text, text, text[], text, text, text, text[])',
		'crm.person_match(text, text, text, text[], text, text, text, text[])',
		'crm.account_score(text, text, text, text, text, text)',
		'crm.account_reasons(text, text, text, text, text, text)',
		'crm.account_match(text, text, text, text, text, text)',
		-- search
		'crm.ts_match(tsvector, tsquery)', 'crm.search_query(text)', 'crm.search(text, integer)',
		'crm.search_fold(text)', 'crm.search_phone_terms(crm.phone)',
		-- reporting (sql/85_views.sql)
		'crm.account_tree(uuid, boolean)', 'crm.timeline(text, uuid)',

		-- criteria (and the leakproof operators and checks they use)
		'crm.criteria_validate(jsonb, text)', 'crm.criteria_sql(jsonb, text)',
		'crm.criteria_select(jsonb, text, integer)', 'crm.criteria_match(jsonb, text, uuid)',
		'crm.criteria_fold(text)', 'crm.criteria_operators(text, boolean)',
		'crm.criteria_is_system_field(text, text)', 'crm.text_array_overlap(text[], text[])',
		'crm.text_array_contains(text[], text[])', 'crm.jsonb_contains(jsonb, jsonb)',

		-- sales (uuid_point sits in the exclusion constraints of the stage
		-- history and the quotas, which applications write)
		'crm.pipeline_summary(uuid, uuid, date, date)', 'crm.pipeline_as_of(timestamptz, uuid)',
		'crm.fold_pipeline_rollup()', 'crm.check_pipeline_rollup()', 'crm.check_opportunity_history()',
		'crm.uuid_range(uuid, uuid)', 'crm.uuid_range(uuid, uuid, text)', 'crm.uuid_point(uuid)',
		-- lead conversion, quotes (sql/36_conversion.sql, sql/37_quotes.sql)
		'crm.convert_lead(uuid, uuid, uuid, boolean, text)', 'crm.expire_quotes(date)',
		'crm.check_quote_totals()', 'crm.check_quote_numbers()',
		-- sales reports (sql/38_sales_reports.sql)
		'crm.pipeline_summary_by_currency(uuid, uuid, date, date)', 'crm.exchange_rate_on(char, date)',
		'crm.forecast(date, date, uuid, uuid)', 'crm.win_rate(date, date, text)',
		'crm.stage_velocity(uuid, date, date)',
		-- scoring and routing (sql/45_scoring.sql, sql/46_routing.sql)
		'crm.score_as_of(uuid, timestamptz)', 'crm.explain_score(uuid, timestamptz)',
		'crm.hottest_leads(integer)', 'crm.check_scores()', 'crm.explain_routing(uuid)',
		-- marketing lists (sql/72_marketing.sql)
		'crm.list_preview(jsonb, text, integer)', 'crm.refresh_list(uuid)', 'crm.list_members(uuid)',
		'crm.list_add(uuid, text)', 'crm.list_remove(uuid, uuid[])', 'crm.snapshot_list(uuid, text)',
		'crm.check_list_membership()',
		-- cases and SLAs (sql/75_cases.sql, sql/76_sla.sql)
		'crm.create_business_calendar(text, text, jsonb, date[], text[])',
		'crm.business_add(timestamptz, integer, uuid)', 'crm.business_minutes(timestamptz, timestamptz, uuid)',
		'crm.sla_sweep(timestamptz)', 'crm.sla_compliance(date, date, text)', 'crm.check_case_sla()',
		'crm.suggest_articles(uuid, integer)'];
	caller_rights_support constant text[] := ARRAY[
		-- who calls, for which organization, with which privilege (the
		-- SECURITY DEFINER functions below, and crm.merge's and
		-- crm.subject_erase's owner's steps)
		'crm._invoking_role()', 'crm._caller_org()', 'crm._caller_org(regclass, text)',
		-- the table check of every PL/pgSQL trigger function (catalog only)
		'crm._trigger_table_ok(text, name, oid, text[], text[])',
		-- catalog lookups and SQL builders (no table data)
		'crm._qualified(regclass)', 'crm._referencing_keys(regclass)',
		'crm._merge_collision_sql(regclass, name, name)', 'crm._pii_columns()',
		'crm._erased_expr(regclass, name, text)', 'crm._erased_state_sql(regclass)',
		'crm._subject_match_sql(regclass, name)', 'crm._dedup_entity(text)', 'crm._entity(text, text)',
		-- pure functions of their arguments
		'crm._subject_key(text)', 'crm._jsonb_scrub(jsonb, text[])',
		-- queries that run as the caller, under row-level security
		'crm._subject_records(text)', 'crm._duplicates(text, uuid, uuid, real)',
		'crm._contact_duplicates(uuid, uuid, real)', 'crm._lead_duplicates(uuid, uuid, real)',
		'crm._account_duplicates(uuid, uuid, real)', 'crm._contact_duplicates_of(uuid, uuid[], real, boolean)',
		'crm._lead_duplicates_of(uuid, uuid[], real, boolean)', 'crm._account_duplicates_of(uuid, uuid[], real, boolean)',
		'crm._person_pairs(regclass, uuid, real)',
		'crm._account_pairs(uuid, real)', 'crm._report_pipeline(uuid, uuid)',
		'crm._per_stage(uuid, uuid, crm._stage_cell[])', 'crm._fx(uuid, crm._fx_cell[])',
		-- conversion and pricing: look-ups and defaults as the caller
		'crm._domain_of(text, crm.email)', 'crm._default_currency()',
		'crm._list_price(uuid, uuid, uuid, char, date)',
		'crm._score_at(uuid, uuid[], timestamptz, boolean)', 'crm._score_parts(uuid, uuid[], timestamptz, boolean)',
		'crm._engagement_tally(uuid, uuid[], timestamptz)', 'crm._fit_tally(uuid, text, uuid[])',
		'crm._list(uuid, boolean)', 'crm._list_refresh(uuid)', 'crm._list_diff(uuid)', 'crm._lists_in_order()',
		-- the SLA engine, called by the case triggers as the writing role
		'crm._business_add_usec(timestamptz, bigint, uuid)', 'crm._business_usec(timestamptz, timestamptz, uuid)',
		'crm._business_calendar_validate(text, jsonb, date[], text[])',
		'crm._sla_at(timestamptz, numeric, numeric, uuid)', 'crm._sla_stopped(text, text[])',
		-- (the next six SECURITY DEFINER, each checking with
		-- crm._caller_org(tbl, privilege) that the caller acts for that
		-- organization and may INSERT or UPDATE crm.case)
		'crm._next_case_number(uuid)', 'crm._sla_settle(uuid, uuid, timestamptz)', 'crm._sla_apply(uuid, uuid)',
		'crm._sla_status(uuid, uuid, text, text, timestamptz)', 'crm._sla_comment(uuid, uuid, timestamptz, boolean)',
		'crm._sla_recompute(uuid, uuid[])',
		-- the salted hash of crm.erasure_lookup (a pure function)
		'crm._subject_hash(uuid, text)'];
	-- Not on either list, on purpose: the writers of crm.audit_log and
	-- crm.erasure_log (crm._audit_write, crm._audit_scrub,
	-- crm._erasure_write) and the steps of crm.merge and crm.subject_erase
	-- (crm._merge_run/_record, crm._subject_erase_run/_record).  Those two
	-- public functions reach them through src/owner_step.c, which checks no
	-- EXECUTE privilege; an application role that could call a writer itself
	-- could forge MERGE entries (which erasure follows) or erasure records.
BEGIN
	FOREACH f IN ARRAY public_api || caller_rights_support LOOP
		EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO PUBLIC', f::regprocedure);
	END LOOP;
	-- crm.email and crm.phone: input/output, casts, operators, index support
	FOR f IN
		SELECT p.oid::regprocedure::text FROM pg_proc p
		 WHERE p.pronamespace = 'crm'::regnamespace
		   AND (p.proname LIKE 'email\_%' OR p.proname LIKE 'phone\_%' OR p.proname IN ('email', 'phone'))
	LOOP
		EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO PUBLIC', f);
	END LOOP;
END;
$$;
