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
