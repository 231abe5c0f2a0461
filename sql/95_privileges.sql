-- ============================================================================
-- 95 privileges: who may execute what (doc/design.md, "Security model").
--
-- PostgreSQL lets PUBLIC execute every new function.  crm takes that away
-- from all of its functions, then gives back exactly two lists:
--
--   the public API     documented in doc/reference.md: what clients call,
--                      the support functions of crm's types and operators,
--                      the functions in crm's defaults, policies and checks;
--   caller-rights      internal functions that the public API calls while it
--   support            runs as its caller (PostgreSQL checks EXECUTE on every
--                      nested call).  Each one either runs as the caller under
--                      row-level security and can do nothing the caller could
--                      not do with plain SQL, or is a SECURITY DEFINER that
--                      checks the caller's organization and privileges itself.
--
-- Everything else -- trigger functions, locks, install helpers, restore
-- mode, job scheduling, access grants -- is executable by the owner only.
-- A function a later feature adds is therefore not executable until it is
-- put on a list here; test/sql/security.sql shows both lists, and
-- test/pgtap/security.sql fails on any trigger, lock or SECURITY DEFINER
-- function that is executable without being listed.
-- ============================================================================

REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA crm FROM PUBLIC;

DO $$
DECLARE
	f text;
	public_api constant text[] := ARRAY[
		-- tenancy and ids
		'crm.uuid_v7()', 'crm.uuid_v7_time(uuid)', 'crm.current_org()', 'crm.current_user_id()',
		'crm.acting_user()', 'crm.is_valid_timezone(text)',
		-- events, verification, history
		'crm.emit(text, text, uuid, jsonb, uuid)', 'crm.event_channel()', 'crm.verify()',
		'crm.check_hierarchy_cycles()', 'crm.check_custom_fields()', 'crm.check_live_references()',
		'crm.check_audit_duplicates()', 'crm.check_picklists()', 'crm.history(text, uuid)',
		-- custom fields
		'crm.custom_field_value_error(text, jsonb, jsonb)', 'crm.custom_field_value_valid(text, jsonb, jsonb)',
		'crm.custom_field_options_error(text, jsonb)', 'crm.custom_fields_error(text, uuid, jsonb)',
		-- merge, privacy, duplicates
		'crm.merge(text, uuid, uuid[], jsonb)', 'crm.subject_export(crm.email)',
		'crm.subject_erase(crm.email, text)', 'crm.erasure_lookup(crm.email)',
		'crm.find_duplicates(text, uuid, real)', 'crm.duplicate_pairs(text, real)',
		'crm.jaro_winkler(text, text)', 'crm.edit_distance(text, text)', 'crm.name_similarity(text, text)',
		'crm.name_key(text, text)', 'crm.company_norm(text)', 'crm.company_key(text)', 'crm.email_key(text)',
		'crm.email_domain_key(text)', 'crm.phone_key(text)', 'crm.person_full_name(text, text)',
		'crm.dedup_block_limit()',
		'crm.person_score(text, text, text, text[], text, text, text, text[])',
		'crm.person_reasons(text, text, text, text[], text, text, text, text[])',
		'crm.person_match(text, text, text, text[], text, text, text, text[])',
		'crm.account_score(text, text, text, text, text, text)',
		'crm.account_reasons(text, text, text, text, text, text)',
		'crm.account_match(text, text, text, text, text, text)',
		-- search
		'crm.ts_match(tsvector, tsquery)', 'crm.search_query(text)', 'crm.search(text, integer)',
		'crm.search_fold(text)', 'crm.search_phone_terms(crm.phone)',
		-- reporting (sql/85_views.sql)
		'crm.account_tree(uuid, boolean)', 'crm.timeline(text, uuid)',

		-- criteria (and the leakproof operators and checks they use)
		'crm.criteria_validate(jsonb, text)', 'crm.criteria_sql(jsonb, text)',
		'crm.criteria_select(jsonb, text, integer)', 'crm.criteria_match(jsonb, text, uuid)',
		'crm.criteria_fold(text)', 'crm.criteria_operators(text, boolean)',
		'crm.criteria_is_system_field(text, text)', 'crm.text_array_overlap(text[], text[])',
		'crm.text_array_contains(text[], text[])', 'crm.jsonb_contains(jsonb, jsonb)',

		-- sales (uuid_point sits in the exclusion constraints of the stage
		-- history and the quotas, which applications write)
		'crm.pipeline_summary(uuid, uuid, date, date)', 'crm.pipeline_as_of(timestamptz, uuid)',
		'crm.fold_pipeline_rollup()', 'crm.check_pipeline_rollup()', 'crm.check_pipeline_stage_rollup()',
		'crm.check_opportunity_history()',
		'crm.uuid_range(uuid, uuid)', 'crm.uuid_range(uuid, uuid, text)', 'crm.uuid_point(uuid)',
		-- lead conversion, quotes (sql/36_conversion.sql, sql/37_quotes.sql)
		'crm.convert_lead(uuid, uuid, uuid, boolean, text)', 'crm.expire_quotes(date)',
		'crm.check_quote_totals()', 'crm.check_quote_numbers()',
		-- sales reports (sql/38_sales_reports.sql)
		'crm.pipeline_summary_by_currency(uuid, uuid, date, date)', 'crm.exchange_rate_on(char, date)',
		'crm.forecast(date, date, uuid, uuid)', 'crm.win_rate(date, date, text)',
		'crm.stage_velocity(uuid, date, date)',
		-- scoring and routing (sql/45_scoring.sql, sql/46_routing.sql)
		'crm.score_as_of(uuid, timestamptz)', 'crm.explain_score(uuid, timestamptz)',
		'crm.hottest_leads(integer)', 'crm.check_scores()', 'crm.explain_routing(uuid)',
		-- marketing lists (sql/72_marketing.sql)
		'crm.list_preview(jsonb, text, integer)', 'crm.refresh_list(uuid)', 'crm.list_members(uuid)',
		'crm.list_add(uuid, text)', 'crm.list_remove(uuid, uuid[])', 'crm.snapshot_list(uuid, text)',
		'crm.check_list_membership()',
		-- cases and SLAs (sql/75_cases.sql, sql/76_sla.sql)
		'crm.create_business_calendar(text, text, jsonb, date[], text[])',
		'crm.business_add(timestamptz, integer, uuid)', 'crm.business_minutes(timestamptz, timestamptz, uuid)',
		'crm.sla_sweep(timestamptz)', 'crm.sla_compliance(date, date, text)', 'crm.check_case_sla()',
		'crm.suggest_articles(uuid, integer)'];
	caller_rights_support constant text[] := ARRAY[
		-- who calls, for which organization, with which privilege (the
		-- SECURITY DEFINER functions below, and crm.merge's and
		-- crm.subject_erase's owner's steps)
		'crm._invoking_role()', 'crm._caller_org()', 'crm._caller_org(regclass, text)',
		-- the table check of every PL/pgSQL trigger function (catalog only)
		'crm._trigger_table_ok(text, name, oid, text[], text[])',
		-- catalog lookups and SQL builders (no table data)
		'crm._qualified(regclass)', 'crm._referencing_keys(regclass)',
		'crm._merge_collision_sql(regclass, name, name)', 'crm._pii_columns()',
		'crm._erased_expr(regclass, name, text)', 'crm._erased_state_sql(regclass)',
		'crm._subject_match_sql(regclass, name)', 'crm._dedup_entity(text)', 'crm._entity(text, text)',
		-- pure functions of their arguments
		'crm._subject_key(text)', 'crm._jsonb_scrub(jsonb, text[])',
		-- queries that run as the caller, under row-level security
		'crm._subject_records(text)', 'crm._duplicates(text, uuid, uuid, real)',
		'crm._contact_duplicates(uuid, uuid, real)', 'crm._lead_duplicates(uuid, uuid, real)',
		'crm._account_duplicates(uuid, uuid, real)', 'crm._contact_duplicates_of(uuid, uuid[], real, boolean)',
		'crm._lead_duplicates_of(uuid, uuid[], real, boolean)', 'crm._account_duplicates_of(uuid, uuid[], real, boolean)',
		'crm._person_pairs(regclass, uuid, real)',
		'crm._account_pairs(uuid, real)', 'crm._report_pipeline(uuid, uuid)',
		'crm._per_stage(uuid, uuid, crm._stage_cell[])', 'crm._fx(uuid, crm._fx_cell[])',
		'crm._rollup_cells(uuid, uuid, uuid[], date, date)',
		-- conversion and pricing: look-ups and defaults as the caller
		'crm._domain_of(text, crm.email)', 'crm._default_currency()',
		'crm._list_price(uuid, uuid, uuid, char, date)',
		'crm._score_at(uuid, uuid[], timestamptz, boolean)', 'crm._score_parts(uuid, uuid[], timestamptz, boolean)',
		'crm._engagement_tally(uuid, uuid[], timestamptz)', 'crm._fit_tally(uuid, text, uuid[])',
		'crm._list(uuid, boolean)', 'crm._list_refresh(uuid)', 'crm._list_diff(uuid)', 'crm._lists_in_order()',
		-- the SLA engine, called by the case triggers as the writing role
		'crm._business_add_usec(timestamptz, bigint, uuid)', 'crm._business_usec(timestamptz, timestamptz, uuid)',
		'crm._business_calendar_validate(text, jsonb, date[], text[])',
		'crm._sla_at(timestamptz, numeric, numeric, uuid)', 'crm._sla_stopped(text, text[])',
		-- (the next six SECURITY DEFINER, each checking with
		-- crm._caller_org(tbl, privilege) that the caller acts for that
		-- organization and may INSERT or UPDATE crm.case)
		'crm._next_case_number(uuid)', 'crm._sla_settle(uuid, uuid, timestamptz)', 'crm._sla_apply(uuid, uuid)',
		'crm._sla_status(uuid, uuid, text, text, timestamptz)', 'crm._sla_comment(uuid, uuid, timestamptz, boolean)',
		'crm._sla_recompute(uuid, uuid[])',
		-- the salted hash of crm.erasure_lookup (a pure function)
		'crm._subject_hash(uuid, text)'];
	-- Not on either list, on purpose: the writers of crm.audit_log and
	-- crm.erasure_log (crm._audit_write, crm._audit_scrub,
	-- crm._erasure_write) and the steps of crm.merge and crm.subject_erase
	-- (crm._merge_run/_record, crm._subject_erase_run/_record).  Those two
	-- public functions reach them through src/owner_step.c, which checks no
	-- EXECUTE privilege; an application role that could call a writer itself
	-- could forge MERGE entries (which erasure follows) or erasure records.
BEGIN
	FOREACH f IN ARRAY public_api || caller_rights_support LOOP
		EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO PUBLIC', f::regprocedure);
	END LOOP;
	-- crm.email and crm.phone: input/output, casts, operators, index support
	FOR f IN
		SELECT p.oid::regprocedure::text FROM pg_proc p
		 WHERE p.pronamespace = 'crm'::regnamespace
		   AND (p.proname LIKE 'email\_%' OR p.proname LIKE 'phone\_%' OR p.proname IN ('email', 'phone'))
	LOOP
		EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO PUBLIC', f);
	END LOOP;
END;
$$;
