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
											  'pipeline_stage_rollup',
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
