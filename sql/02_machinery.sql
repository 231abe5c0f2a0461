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
