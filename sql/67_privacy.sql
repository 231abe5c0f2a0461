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
