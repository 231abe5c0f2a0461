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
