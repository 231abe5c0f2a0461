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
	CONSTRAINT custom_field_entity_valid CHECK (entity IN ('account', 'contact', 'lead', 'activity')),
	CONSTRAINT custom_field_name_format CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
	CONSTRAINT custom_field_label_not_blank CHECK (pg_catalog.btrim(label) <> ''),
	CONSTRAINT custom_field_type_valid CHECK (field_type IN ('text', 'number', 'date', 'boolean', 'picklist', 'multi_picklist', 'url', 'email', 'phone', 'currency')),
	CONSTRAINT custom_field_options_for_picklists CHECK (
		CASE WHEN field_type IN ('picklist', 'multi_picklist')
			 THEN jsonb_typeof(options) = 'array' AND jsonb_array_length(options) > 0
			 ELSE options IS NULL OR jsonb_typeof(options) = 'object' END)
);
COMMENT ON TABLE crm.custom_field IS 'A tenant-defined field of an entity; values live in the entity''s custom_fields jsonb under name.';
COMMENT ON COLUMN crm.custom_field.entity IS 'The table the field belongs to: account, contact, lead or activity.';
COMMENT ON COLUMN crm.custom_field.name IS 'Key in custom_fields (lower snake_case).';
COMMENT ON COLUMN crm.custom_field.label IS 'Label shown to users.';
COMMENT ON COLUMN crm.custom_field.field_type IS 'text, number, date, boolean, picklist, multi_picklist, url, email, phone or currency.';
COMMENT ON COLUMN crm.custom_field.is_required IS 'A record must carry a non-null value whenever its custom_fields are written.';
COMMENT ON COLUMN crm.custom_field.options IS 'picklist/multi_picklist: JSON array of the allowed strings; other types: optional JSON object of constraints (max_length, min, max).';
COMMENT ON COLUMN crm.custom_field.description IS 'Help text.';
COMMENT ON COLUMN crm.custom_field.position IS 'Display order.';
SELECT crm._setup_tenant_table('crm.custom_field', label => 'custom field');
