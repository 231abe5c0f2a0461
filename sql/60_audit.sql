-- ============================================================================
-- 60 audit: crm.audit_log, written by crm.trg_audit (C) on every core table
-- ============================================================================

CREATE TABLE crm.audit_log (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	table_name	text NOT NULL,
	row_id		uuid NOT NULL,
	action		text NOT NULL,
	old_values	jsonb,
	new_values	jsonb,
	actor_id	uuid,
	db_role		text NOT NULL DEFAULT current_user,
	txid		xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
	changed_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT audit_log_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT audit_log_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT audit_log_action_valid CHECK (action IN ('INSERT', 'UPDATE', 'DELETE', 'MERGE', 'ERASE'))
);
CREATE INDEX audit_log_row_idx ON crm.audit_log (organization_id, table_name, row_id, id);
-- Time ranges: the log is appended in time order, so a BRIN index answers
-- "what changed last week" at a fraction of a btree's cost per write (every
-- audited row pays for each index of the log).
CREATE INDEX audit_log_time_idx ON crm.audit_log USING brin (changed_at);
COMMENT ON TABLE crm.audit_log IS 'Who changed what and when: one row per inserted, updated or deleted record of every core table.';
COMMENT ON COLUMN crm.audit_log.id IS 'Primary key within the organization (uuid v7: orders entries by time).';
COMMENT ON COLUMN crm.audit_log.organization_id IS 'The tenant of the changed record.';
COMMENT ON COLUMN crm.audit_log.table_name IS 'The crm table of the changed record.';
COMMENT ON COLUMN crm.audit_log.row_id IS 'The id of the changed record.';
COMMENT ON COLUMN crm.audit_log.action IS 'INSERT, UPDATE, DELETE (and MERGE, ERASE from the data-quality functions).';
COMMENT ON COLUMN crm.audit_log.old_values IS 'UPDATE: the changed columns before; DELETE: the whole row; INSERT: NULL.';
COMMENT ON COLUMN crm.audit_log.new_values IS 'UPDATE: the changed columns after; INSERT: the whole row (non-null columns); DELETE: NULL.';
COMMENT ON COLUMN crm.audit_log.actor_id IS 'The acting crm.app_user (crm.user_id), NULL for system writes.';
COMMENT ON COLUMN crm.audit_log.db_role IS 'The database role that made the change.';
COMMENT ON COLUMN crm.audit_log.txid IS 'The transaction (pg_current_xact_id) that made the change.';
COMMENT ON COLUMN crm.audit_log.changed_at IS 'Transaction time of the change.';
SELECT crm._setup_tenant_table('crm.audit_log', audited => false, label => 'audit entry');

-- The timeline of one record, oldest first.  The entity is an audited crm
-- table, written 'contact' or 'crm.contact' (crm._entity); anything else is
-- an error, not an empty result.
CREATE FUNCTION crm.history(entity text, record_id uuid)
RETURNS TABLE (changed_at timestamptz, action text, actor_id uuid, db_role text,
			   old_values jsonb, new_values jsonb, txid xid8, audit_id uuid)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	tbl text := crm._entity(history.entity, 'audited');
	org uuid := crm.current_org();
BEGIN
	RETURN QUERY
	SELECT a.changed_at, a.action, a.actor_id, a.db_role, a.old_values, a.new_values, a.txid, a.id
	  FROM crm.audit_log a
	 WHERE a.organization_id = org
	   AND a.table_name = tbl
	   AND a.row_id = history.record_id
	 ORDER BY a.id;
END;
$$;
COMMENT ON FUNCTION crm.history(text, uuid) IS
	'The audit timeline of one record of the current organization, oldest first: crm.history(''contact'', id) or crm.history(''crm.contact'', id).';
