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
