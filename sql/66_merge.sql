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
