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
