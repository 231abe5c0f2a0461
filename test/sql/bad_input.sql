-- Bad input to every public function: each case must fail with the given
-- SQLSTATE (and a message a user can act on).  The last query lists public
-- functions that have no case here, so a new function without one fails
-- this test.
SET search_path = crm, public;
\set org '0d0d0d0d-0000-7000-8000-00000000000d'
INSERT INTO crm.organization (id, name) VALUES (:'org', 'Bad Input Org');
DROP ROLE IF EXISTS crm_bad_input;
CREATE ROLE crm_bad_input;
SELECT crm.grant_access('crm_bad_input', 'user', ARRAY[:'org']::uuid[]);

-- Run a statement as the application role; return the SQLSTATE it failed
-- with, or 'no error'.
CREATE FUNCTION pg_temp.sqlstate_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.sqlstate_of(text) TO crm_bad_input;

CREATE TEMP TABLE bad_case (fn text, stmt text, expected text);
GRANT SELECT ON bad_case TO crm_bad_input;
INSERT INTO bad_case VALUES
	-- tenancy
	('search_fold', $$SELECT crm.search_fold(E'\\xff\\x00 invalid?')$$, 'no error'),
	('search_fold', $$SELECT crm.search_fold(NULL)$$, 'no error'),
	('search_phone_terms', $$SELECT crm.search_phone_terms('not a phone')$$, '22P02'),
	('current_org', $$SELECT set_config('crm.organization_id', '', true), crm.current_org()$$, '55000'),
	('current_org', $$SELECT set_config('crm.organization_id', 'acme', true), crm.current_org()$$, '22P02'),
	('current_org', $$SELECT set_config('crm.organization_id', '00000000-0000-7000-8000-0000000000ff', true), crm.current_org()$$, '42501'),
	('event_channel', $$SELECT set_config('crm.organization_id', '', true), crm.event_channel()$$, '55000'),
	('event_channel', $$SELECT set_config('crm.organization_id', '00000000-0000-7000-8000-0000000000ff', true), crm.event_channel()$$, '42501'),
	('current_user_id', $$SELECT set_config('crm.user_id', '', true), crm.current_user_id()$$, '55000'),
	('current_user_id', $$SELECT set_config('crm.user_id', '{not a uuid}', true), crm.current_user_id()$$, '22P02'),
	('acting_user', $$SELECT set_config('crm.user_id', 'bob', true), crm.acting_user()$$, '22P02'),
	('create_organization', $$SELECT crm.create_organization('Nope')$$, '42501'),
	('grant_access', $$SELECT crm.grant_access('crm_bad_input', 'user')$$, '42501'),
	('revoke_access', $$SELECT crm.revoke_access('crm_bad_input')$$, '42501'),
	('pre_restore', $$SELECT crm.pre_restore()$$, '42501'),
	('post_restore', $$SELECT crm.post_restore()$$, '42501'),
	-- records through the tables: constraint violations name the constraint
	('(insert)', $$INSERT INTO crm.contact (last_name) VALUES ('  ')$$, '23514'),
	('(insert)', $$INSERT INTO crm.contact (last_name, timezone) VALUES ('x', 'Mars/Olympus')$$, '23514'),
	('(insert)', $$INSERT INTO crm.contact (last_name, email) VALUES ('x', 'x@@y.com')$$, '22P02'),
	('(insert)', $$INSERT INTO crm.lead (last_name, status) VALUES ('x', 'converted')$$, '23514'),
	('(insert)', $$INSERT INTO crm.account (name, domain) VALUES ('x', 'Not A Domain')$$, '23514'),
	('(insert)', $$INSERT INTO crm.activity (type, subject) VALUES ('fax', 'x')$$, '23514'),
	('(insert)', $$INSERT INTO crm.note (body) VALUES ('orphan')$$, '23514'),
	('(insert)', $$INSERT INTO crm.contact (last_name, account_id) VALUES ('x', '00000000-0000-7000-8000-000000000001')$$, '23503'),
	('(update)', $$UPDATE crm.contact SET id = crm.uuid_v7()$$, '23000'),
	('(update)', $$UPDATE crm.contact SET organization_id = '00000000-0000-7000-8000-0000000000ff'$$, '23000'),
	-- search and history
	('search', $$SELECT * FROM crm.search('ann', 0)$$, '22023'),
	('search', $$SELECT * FROM crm.search('ann', 100000)$$, '22023'),
	('search', $$SELECT * FROM crm.search(NULL)$$, 'no error'),
	-- sales (this organization was inserted directly: it has no default pipeline)
	('pipeline_summary', $$SELECT * FROM crm.pipeline_summary()$$, 'P0002'),
	('pipeline_summary', $$SELECT * FROM crm.pipeline_summary(crm.uuid_v7())$$, 'P0002'),
	('pipeline_summary', $$SELECT * FROM crm.pipeline_summary(close_from => '2027-02-01', close_to => '2027-01-01')$$, '22023'),
	('pipeline_as_of', $$SELECT * FROM crm.pipeline_as_of('infinity')$$, '22023'),
	('pipeline_as_of', $$SELECT * FROM crm.pipeline_as_of(NULL)$$, '22023'),
	('pipeline_as_of', $$SELECT * FROM crm.pipeline_as_of(now(), crm.uuid_v7())$$, 'P0002'),
	('fold_pipeline_rollup', $$SELECT set_config('crm.organization_id', '', true), crm.fold_pipeline_rollup()$$, '55000'),
	('fold_pipeline_rollups', $$SELECT crm.fold_pipeline_rollups()$$, '42501'),
	('pipeline_summary_by_currency', $$SELECT * FROM crm.pipeline_summary_by_currency()$$, 'P0002'),
	('pipeline_summary_by_currency', $$SELECT * FROM crm.pipeline_summary_by_currency(close_from => '2027-02-01', close_to => '2027-01-01')$$, '22023'),
	('exchange_rate_on', $$SELECT crm.exchange_rate_on('eur')$$, '22023'),
	('exchange_rate_on', $$SELECT crm.exchange_rate_on(NULL)$$, '22023'),
	('exchange_rate_on', $$SELECT crm.exchange_rate_on('XXX', '2027-01-01')$$, 'P0002'),
	('forecast', $$SELECT * FROM crm.forecast('2027-01-01', '2027-03-30')$$, '22023'),
	('forecast', $$SELECT * FROM crm.forecast('2027-02-01', '2027-01-31')$$, '22023'),
	('forecast', $$SELECT * FROM crm.forecast(NULL, '2027-01-31')$$, '22023'),
	('forecast', $$SELECT * FROM crm.forecast('2027-01-01', '2027-01-31', crm.uuid_v7())$$, 'P0002'),
	('forecast', $$SELECT * FROM crm.forecast('2027-01-01', '2027-01-31', team => crm.uuid_v7())$$, 'P0002'),
	('forecast', $$SELECT * FROM crm.forecast('2027-01-01', '2027-01-31', crm.uuid_v7(), crm.uuid_v7())$$, '22023'),
	('win_rate', $$SELECT * FROM crm.win_rate('2027-01-01', '2027-12-31', 'colour')$$, '22023'),
	('win_rate', $$SELECT * FROM crm.win_rate('2027-01-01', '2027-12-31', NULL)$$, '22023'),
	('win_rate', $$SELECT * FROM crm.win_rate('2027-12-31', '2027-01-01')$$, '22023'),
	('stage_velocity', $$SELECT * FROM crm.stage_velocity(NULL, '2027-12-31', '2027-01-01')$$, '22023'),
	('stage_velocity', $$SELECT * FROM crm.stage_velocity(crm.uuid_v7(), '2027-01-01', '2027-12-31')$$, 'P0002'),
	('snapshot_pipeline', $$SELECT crm.snapshot_pipeline()$$, '42501'),
	('(insert)', $$INSERT INTO crm.exchange_rate (currency, valid_from, rate) VALUES ('EUR', '2027-01-01', 1)$$, '42501'),
	('(insert)', $$INSERT INTO crm.sales_quota (period_start, period_end, amount) VALUES ('2027-01-01', '2027-01-31', 1)$$, '42501'),
	-- scoring and routing
	('score_as_of', $$SELECT * FROM crm.score_as_of(crm.uuid_v7(), '2026-01-01')$$, 'P0002'),
	('score_as_of', $$SELECT * FROM crm.score_as_of(crm.uuid_v7(), 'infinity')$$, '22023'),
	('score_as_of', $$SELECT * FROM crm.score_as_of(crm.uuid_v7(), NULL)$$, '22023'),
	('explain_score', $$SELECT * FROM crm.explain_score(crm.uuid_v7())$$, 'P0002'),
	('explain_score', $$SELECT * FROM crm.explain_score(NULL, '-infinity')$$, '22023'),
	('hottest_leads', $$SELECT * FROM crm.hottest_leads(0)$$, '22023'),
	('hottest_leads', $$SELECT * FROM crm.hottest_leads(NULL)$$, '22023'),
	('hottest_leads', $$SELECT set_config('crm.organization_id', '', true), crm.hottest_leads()$$, '55000'),
	('explain_routing', $$SELECT * FROM crm.explain_routing(crm.uuid_v7())$$, 'P0002'),
	('explain_routing', $$SELECT * FROM crm.explain_routing(NULL)$$, 'P0002'),
	('decay_scores', $$SELECT crm.decay_scores()$$, '42501'),
	('prune_engagement_events', $$SELECT crm.prune_engagement_events()$$, '42501'),
	('(insert)', $$INSERT INTO crm.score_base (record_id, rule_id, bucket, events, weight) VALUES (crm.uuid_v7(), crm.uuid_v7(), 0, 1, 1)$$, '42501'),
	('(insert)', $$INSERT INTO crm.engagement_event (event_type) VALUES ('page_view')$$, '23514'),
	('(insert)', $$INSERT INTO crm.engagement_event (lead_id, event_type) VALUES ('00000000-0000-7000-8000-000000000001', 'page_view')$$, '23503'),
	('(insert)', $$INSERT INTO crm.score (record_id, lead_id) VALUES ('00000000-0000-7000-8000-000000000001', '00000000-0000-7000-8000-000000000001')$$, '42501'),
	('(insert)', $$INSERT INTO crm.scoring_rule (group_id, kind, name, points) VALUES (crm.uuid_v7(), 'fit', 'x', 1)$$, '42501'),
	('refresh_lists', $$SELECT * FROM crm.refresh_lists()$$, '42501'),
	('uuid_range', $$SELECT crm.uuid_range('00000000-0000-7000-8000-000000000002', '00000000-0000-7000-8000-000000000001')$$, '22000'),
	('uuid_point', $$SELECT crm.uuid_point('not a uuid')$$, '22P02'),
	('uuid_multirange', $$SELECT crm.uuid_multirange()$$, '42501'),
	('(insert)', $$INSERT INTO crm.opportunity (name) VALUES ('no pipeline')$$, '23502'),
	('(insert)', $$INSERT INTO crm.opportunity (name, stage_id) VALUES ('x', '00000000-0000-7000-8000-000000000001')$$, '23503'),
	('(insert)', $$INSERT INTO crm.pipeline (name) VALUES ('Config')$$, '42501'),
	-- lead conversion and quotes (this organization has no default pipeline)
	('convert_lead', $$SELECT * FROM crm.convert_lead(NULL)$$, '22004'),
	('convert_lead', $$SELECT * FROM crm.convert_lead(crm.uuid_v7())$$, 'P0002'),
	('convert_lead', $$SELECT * FROM crm.convert_lead(crm.uuid_v7(), create_opportunity => NULL)$$, '22004'),
	('convert_lead', $$SELECT * FROM crm.convert_lead(crm.uuid_v7(), opportunity_name => ' ')$$, '22023'),
	('expire_quotes', $$SELECT crm.expire_quotes(NULL)$$, '22023'),
	('expire_quotes', $$SELECT crm.expire_quotes('infinity')$$, '22023'),
	('expire_all_quotes', $$SELECT crm.expire_all_quotes()$$, '42501'),
	('(insert)', $$INSERT INTO crm.product (name) VALUES ('Config')$$, '42501'),
	('(insert)', $$INSERT INTO crm.quote (name, number) VALUES ('x', 'Q-000001')$$, '428C9'),
	('(insert)', $$INSERT INTO crm.quote (name, status) VALUES ('x', 'accepted')$$, '22023'),
	('(insert)', $$INSERT INTO crm.quote_line_item (quote_id, description, list_price, tax_rate) VALUES (crm.uuid_v7(), 'x', -1, 0)$$, '23514'),
	('(insert)', $$INSERT INTO crm.quote_line_item (quote_id, description, list_price, tax_rate) VALUES (crm.uuid_v7(), 'x', 1, 0)$$, '23503'),
	('(insert)', $$INSERT INTO crm.quote_version (quote_id, version, number, name, currency, quote_date, subtotal, discount_total, tax_total, total, lines, sent_at) VALUES (crm.uuid_v7(), 1, 'Q-000001', 'x', 'USD', '2027-01-01', 0, 0, 0, 0, '[]', now())$$, '42501'),
	('search_query', $$SELECT crm.search_query('&|!():*')$$, 'no error'),
	('ts_match', $$SELECT crm.ts_match('a b', crm.search_query(repeat('x ', 5000)))$$, 'no error'),
	-- an entity is 'contact' or 'crm.contact', a crm table with the feature
	('history', $$SELECT * FROM crm.history('crm.no_such_table', crm.uuid_v7())$$, '22023'),
	('history', $$SELECT * FROM crm.history('pg_class', crm.uuid_v7())$$, '22023'),
	('history', $$SELECT * FROM crm.history('outbox', crm.uuid_v7())$$, '22023'),
	('history', $$SELECT * FROM crm.history(NULL, crm.uuid_v7())$$, '22004'),
	-- reporting
	('account_tree', $$SELECT * FROM crm.account_tree(crm.uuid_v7())$$, 'P0002'),
	('account_tree', $$SELECT * FROM crm.account_tree(NULL, NULL)$$, 'P0002'),
	('timeline', $$SELECT * FROM crm.timeline('pg_class', crm.uuid_v7())$$, '22023'),
	('timeline', $$SELECT * FROM crm.timeline('crm.no_such_table', crm.uuid_v7())$$, '22023'),
	('timeline', $$SELECT * FROM crm.timeline(NULL, NULL)$$, '22004'),
	('timeline', $$SELECT * FROM crm.timeline('crm.contact', NULL)$$, 'no error'),
	-- criteria: an invalid document names its JSON path (22023), an unknown
	-- field is 42703, a document beyond a bound 54001
	('criteria_validate', $$SELECT * FROM crm.criteria_validate('{"field": "title", "op": "nope"}', 'contact')$$, 'no error'),
	('criteria_validate', $$SELECT * FROM crm.criteria_validate('{}', 'invoice')$$, '22023'),
	('criteria_sql', $$SELECT crm.criteria_sql('{"field": "title", "op": "nope"}', 'contact')$$, '22023'),
	('criteria_sql', $$SELECT crm.criteria_sql('{"field": "organization_id", "op": "is_null"}', 'contact')$$, '42703'),
	('criteria_select', $$SELECT crm.criteria_select('[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]', 'lead')$$, '54001'),
	('criteria_select', $$SELECT crm.criteria_select('{"field": "tags", "op": "has_any", "value": ["x"]}', 'account', -5)$$, '22023'),
	('criteria_match', $$SELECT crm.criteria_match('{"field": "birthday", "op": "eq", "value": "1999-02-29"}', 'contact', crm.uuid_v7())$$, '22023'),
	('criteria_match', $$SELECT crm.criteria_match('{"field": "title", "op": "is_null"}', 'contact', crm.uuid_v7())$$, 'no error'),
	-- marketing lists
	('list_preview', $$SELECT crm.list_preview('{"field": "title", "op": "eq", "value": "x"}', 'account')$$, '22023'),
	('list_preview', $$SELECT crm.list_preview('{"field": "nope", "op": "eq", "value": "x"}')$$, '42703'),
	('refresh_list', $$SELECT crm.refresh_list(crm.uuid_v7())$$, 'P0002'),
	('refresh_list', $$SELECT crm.refresh_list(NULL)$$, 'P0002'),
	('list_members', $$SELECT crm.list_members(crm.uuid_v7())$$, 'P0002'),
	('list_add', $$SELECT crm.list_add(crm.uuid_v7(), 'SELECT NULL::uuid')$$, 'P0002'),
	('list_remove', $$SELECT crm.list_remove(crm.uuid_v7(), '{}')$$, 'P0002'),
	('snapshot_list', $$SELECT crm.snapshot_list(crm.uuid_v7(), 'x')$$, 'P0002'),
	('check_list_membership', $$SELECT * FROM crm.check_list_membership()$$, 'no error'),
	('criteria_fold', $$SELECT crm.criteria_fold(E'\\xff\\x00 invalid?')$$, 'no error'),
	('criteria_operators', $$SELECT crm.criteria_operators('money')$$, '22023'),
	('criteria_is_system_field', $$SELECT crm.criteria_is_system_field(NULL, 'x')$$, 'no error'),
	('text_array_overlap', $$SELECT crm.text_array_overlap('{a,NULL}', '{{b}}')$$, 'no error'),
	('text_array_contains', $$SELECT crm.text_array_contains('{}', NULL)$$, 'no error'),
	('jsonb_contains', $$SELECT crm.jsonb_contains('[1]', '{"a": null}')$$, 'no error'),
	('(insert)', $$INSERT INTO crm.criteria_tenant_field (entity, name, column_name, json_key, type) VALUES ('contact', 'email', 'custom_fields', 'x', 'text')$$, '42501'),
	('emit', $$SELECT crm.emit('Not An Event', 'crm.contact', NULL)$$, '23514'),
	('emit', $$SELECT crm.emit('contact.created', 'crm.nothing', NULL)$$, '42P01'),
	('emit', $$SELECT crm.emit('contact.created', 'crm.contact', NULL, '[1, 2]')$$, '23514'),
	('outbox_prune', $$SELECT crm.outbox_prune('1 day')$$, '42501'),  -- a job for the owner or an admin
	('verify', $$SELECT * FROM crm.verify()$$, 'no error'),
	-- scheduling is for the database owner (pg_cron runs jobs as who scheduled them)
	('schedule_jobs', $$SELECT * FROM crm.schedule_jobs()$$, '42501'),
	('unschedule_jobs', $$SELECT * FROM crm.unschedule_jobs()$$, '42501'),
	('uuid_v7_time', $$SELECT crm.uuid_v7_time('not-a-uuid')$$, '22P02'),
	('is_valid_timezone', $$SELECT crm.is_valid_timezone(repeat('x', 10000))$$, 'no error'),
	-- email and phone
	('email', $$SELECT crm.email('')$$, '22P02'),
	('email', $$SELECT crm.email(repeat('a', 300) || '@example.com')$$, '22P02'),
	('email', $$SELECT 'a@b'::crm.email$$, '22P02'),
	('email_domain', $$SELECT crm.email_domain('no-at-sign')$$, '22P02'),
	('email_local', $$SELECT crm.email_local('a@b@c.com')$$, '22P02'),
	('email_in_domain', $$SELECT crm.email_in_domain('bad', 'example.com')$$, '22P02'),
	('phone', $$SELECT crm.phone('555-0100')$$, '22P02'),
	('phone', $$SELECT crm.phone('555-0100', 'XX')$$, '22023'),
	('phone', $$SELECT crm.phone('+999 123 456')$$, '22P02'),
	('phone', $$SELECT crm.phone(repeat('9', 100))$$, '22P02'),
	('phone_format', $$SELECT crm.phone_format('+14155550100', 'fancy')$$, '22023'),
	('phone_country', $$SELECT crm.phone_country('+1 199 555 0100')$$, '22P02'),
	('phone_calling_code', $$SELECT crm.phone_calling_code('+')$$, '22P02'),
	('phone_extension', $$SELECT crm.phone_extension('+1 415 555 0100 ext')$$, '22P02'),
	-- custom fields: the checking functions report bad values as text, and
	-- refuse what is not a field type or valid options
	('custom_field_value_error', $$SELECT crm.custom_field_value_error('nope', NULL, '1')$$, '22023'),
	('custom_field_value_error', $$SELECT crm.custom_field_value_error('date', NULL, '"2023-02-29"') IS NOT NULL$$, 'no error'),
	('custom_field_value_valid', $$SELECT crm.custom_field_value_valid('number', '{"min": "x"}', '1')$$, '22023'),
	('custom_field_options_error', $$SELECT crm.custom_field_options_error('picklist', '5') IS NOT NULL$$, 'no error'),
	('custom_fields_error', $$SELECT crm.custom_fields_error('contact', crm.current_org(), '[1]') IS NOT NULL$$, 'no error'),
	('custom_fields_error', $$SELECT crm.custom_fields_error('invoice', crm.current_org(), '{}')$$, '22023'),
	('custom_fields_error', $$SELECT crm.custom_fields_error('note', crm.current_org(), '{}')$$, '22023'),
	('custom_fields_error', $$SELECT crm.custom_fields_error('crm.contact.x', crm.current_org(), '{}')$$, '22023'),
	('custom_fields_error', $$SELECT crm.custom_fields_error(NULL, crm.current_org(), '{}')$$, '22004'),
	('(insert)', $$INSERT INTO crm.contact (last_name, custom_fields) VALUES ('x', '{"no_such_field": 1}')$$, '23514'),
	-- merge and privacy
	('merge', $$SELECT crm.merge('pg_class', crm.uuid_v7(), ARRAY[crm.uuid_v7()])$$, '22023'),
	('merge', $$SELECT crm.merge('crm.contact', crm.uuid_v7(), '{}')$$, '22023'),
	('merge', $$SELECT crm.merge('crm.contact', crm.uuid_v7(), ARRAY[crm.uuid_v7()])$$, 'P0002'),
	('merge', $$SELECT crm.merge('crm.contact', (SELECT id FROM crm.contact LIMIT 1), ARRAY[(SELECT id FROM crm.contact LIMIT 1)])$$, '22023'),
	('subject_export', $$SELECT crm.subject_export('not an address')$$, '22P02'),
	('subject_erase', $$SELECT crm.subject_erase('x@y.com', NULL)$$, '22023'),
	('subject_erase', $$SELECT crm.subject_erase('@y.com', 'request')$$, '22P02'),
	('erasure_lookup', $$SELECT crm.erasure_lookup('nobody')$$, '22P02'),
	-- duplicate detection: bounded work on any text, clear errors otherwise
	('find_duplicates', $$SELECT * FROM crm.find_duplicates('pg_class', crm.uuid_v7())$$, '22023'),
	('find_duplicates', $$SELECT * FROM crm.find_duplicates('crm.contact', crm.uuid_v7())$$, 'P0002'),
	('find_duplicates', $$SELECT * FROM crm.find_duplicates('crm.contact', (SELECT id FROM crm.contact LIMIT 1), 1.5)$$, '22023'),
	('duplicate_pairs', $$SELECT * FROM crm.duplicate_pairs('crm.note')$$, '22023'),
	('duplicate_pairs', $$SELECT * FROM crm.duplicate_pairs('crm.contact', -1)$$, '22023'),
	('jaro_winkler', $$SELECT crm.jaro_winkler(repeat('ab', 100000), E'\\xff\\xfe')$$, 'no error'),
	('edit_distance', $$SELECT crm.edit_distance(repeat('é', 100000), '')$$, 'no error'),
	('name_similarity', $$SELECT crm.name_similarity(repeat('x', 5000), 'x')$$, 'no error'),
	('name_key', $$SELECT crm.name_key(NULL, repeat('ß', 1000))$$, 'no error'),
	('company_key', $$SELECT crm.company_key('   ')$$, 'no error'),
	('company_norm', $$SELECT crm.company_norm(repeat('Inc. ', 1000))$$, 'no error'),
	('email_key', $$SELECT crm.email_key('not an email')$$, 'no error'),
	('email_domain_key', $$SELECT crm.email_domain_key('@@@')$$, 'no error'),
	('phone_key', $$SELECT crm.phone_key('call me maybe')$$, 'no error'),
	('person_full_name', $$SELECT crm.person_full_name(NULL, NULL)$$, 'no error'),
	('person_match', $$SELECT crm.person_match(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)$$, 'no error'),
	('account_match', $$SELECT crm.account_match(NULL, NULL, NULL, NULL, NULL, NULL)$$, 'no error'),
	('person_score', $$SELECT crm.person_score(repeat('a', 10000), NULL, 'x', ARRAY[NULL, ''], NULL, '', NULL, '{}')$$, 'no error'),
	('person_reasons', $$SELECT crm.person_reasons(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)$$, 'no error'),
	('account_score', $$SELECT crm.account_score('', '', '', repeat('x', 10000), NULL, NULL)$$, 'no error'),
	('account_reasons', $$SELECT crm.account_reasons(NULL, NULL, NULL, NULL, NULL, NULL)$$, 'no error'),
	('dedup_block_limit', $$SELECT crm.dedup_block_limit()$$, 'no error'),
	-- business calendars and SLAs (calendar validation: test/sql/sla_calendar.sql)
	('create_business_calendar', $$SELECT crm.create_business_calendar('x', 'Mars/Olympus', '{}')$$, '42501'),
	('business_add', $$SELECT crm.business_add(now(), -1, crm.uuid_v7())$$, '22023'),
	('business_add', $$SELECT crm.business_add(now(), 1, crm.uuid_v7())$$, '42704'),
	('business_add', $$SELECT crm.business_add('infinity', 1, crm.uuid_v7())$$, '42704'),
	('business_minutes', $$SELECT crm.business_minutes(now(), now(), crm.uuid_v7())$$, '42704'),
	('sla_sweep', $$SELECT crm.sla_sweep(NULL)$$, '22004'),
	('sla_compliance', $$SELECT * FROM crm.sla_compliance('2025-01-01', '2025-02-01', 'weekday')$$, '22023'),
	('sla_compliance', $$SELECT * FROM crm.sla_compliance('2025-02-01', '2025-01-01', 'team')$$, '22023'),
	('sla_compliance', $$SELECT * FROM crm.sla_compliance(NULL, '2025-01-01')$$, '22023'),
	('(insert)', $$INSERT INTO crm.case (subject, status) VALUES ('x', 'waiting')$$, '23514'),
	('(insert)', $$INSERT INTO crm.case_comment (case_id, body) VALUES (crm.uuid_v7(), 'x')$$, '23514'),
	('(update)', $$UPDATE crm.case_sla SET due_at = now()$$, '42501'),
	('suggest_articles', $$SELECT * FROM crm.suggest_articles(crm.uuid_v7())$$, 'P0002'),
	('suggest_articles', $$SELECT * FROM crm.suggest_articles(crm.uuid_v7(), 0)$$, '22023'),
	('suggest_articles', $$SELECT * FROM crm.suggest_articles(NULL)$$, 'P0002'),
	('(insert)', $$INSERT INTO crm.knowledge_article (title, status) VALUES ('x', 'live')$$, '23514');

-- One existing record to aim updates at.
INSERT INTO crm.contact (organization_id, last_name) VALUES (:'org', 'Existing');

SET ROLE crm_bad_input;
SET crm.organization_id = :'org';
-- Every case: the SQLSTATE it raised, flagged when it is not the expected one.
SELECT fn, expected, got, CASE WHEN got = expected THEN 'ok' ELSE 'WRONG' END AS verdict
  FROM (SELECT fn, expected, pg_temp.sqlstate_of(stmt) AS got FROM bad_case) s
 ORDER BY fn, expected, got;
-- The failures left nothing behind: only the one existing contact, unchanged.
SELECT count(*) AS rows_left, bool_and(updated_at = created_at) AS unchanged FROM crm.contact;
RESET ROLE;

-- Public functions without a case above (trigger functions, type support
-- functions and internal _functions excluded).
SELECT p.proname
  FROM pg_proc p
 WHERE p.pronamespace = 'crm'::regnamespace
   AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype)
   AND p.proname !~ '^_'
   AND p.proname !~ '^(email|phone)_(in|out|recv|send|cmp|eq|ne|lt|le|gt|ge|hash|hash_extended)$'
   AND p.proname NOT IN (SELECT fn FROM bad_case)
   AND p.proname <> 'uuid_v7'                                      -- no input to get wrong
   AND p.oid NOT IN (SELECT check_function FROM crm.verify_check)  -- crm.verify() checks: no input
 ORDER BY 1;

SELECT crm.revoke_access('crm_bad_input');
DROP OWNED BY crm_bad_input;
DROP ROLE crm_bad_input;
