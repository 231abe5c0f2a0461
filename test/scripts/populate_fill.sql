-- The fill of a populated CRM, shared by the tests that need every CRM
-- table to have rows: the dump/restore test (test/scripts/populate.sql,
-- three tenants, frozen with each release for the upgrade test) and the
-- tenant attack (test/pgtap/attack.sql, a victim and an attacker tenant).
-- Included with \ir; it only defines functions in pg_temp:
--
--   pg_temp.fill(n, org, admin_role, user_role)
--       fills organization org (n makes its names and numbers its own:
--       'Boss <n>', amounts of 1000 x n, ...) through the normal path: the
--       non-superuser roles admin_role and user_role (granted 'admin' and
--       'user' for org by the caller) write everything, crm.user_id set,
--       every trigger firing.  Leaves the session with RESET ROLE.
--   pg_temp.fill_jobs()
--       runs, as the owner, the jobs whose tables only they write: the
--       retention prune of engagement events (crm.score_base), the roll-up
--       fold (crm.pipeline_stage_rollup) and the daily pipeline snapshot
--       (crm.pipeline_snapshot), for every organization.
--
-- A feature that adds a table gives it rows here, so that both tests see it.
CREATE FUNCTION pg_temp.fill(n int, org uuid, admin_role name DEFAULT 'crm_dr_admin', user_role name DEFAULT 'crm_dr_user')
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	boss uuid; rep uuid;
	t_world uuid; t_region uuid; t_city uuid;
	a_group uuid; a_sub uuid; a_leaf uuid; a_gone uuid;
	c1 uuid; c2 uuid; l1 uuid; l2 uuid; act uuid; nt uuid; tm uuid;
	pl uuid; st_due uuid; o1 uuid; o2 uuid; o3 uuid; cs uuid; kb uuid;
	pr1 uuid; pr2 uuid; pb uuid; q1 uuid; q2 uuid;
	cp uuid; cc uuid; cw uuid; em uuid; ml uuid; sl uuid;
BEGIN
	PERFORM set_config('crm.organization_id', org::text, false);
	PERFORM set_config('crm.user_id', '', false);
	EXECUTE format('SET ROLE %I', admin_role);
	-- users (the first one before any crm.user_id exists)
	INSERT INTO crm.app_user (name, email) VALUES ('Boss ' || n, 'boss' || n || '@t' || n || '.example') RETURNING id INTO boss;
	PERFORM set_config('crm.user_id', boss::text, false);
	INSERT INTO crm.app_user (name, email, timezone) VALUES ('Rep ' || n, 'rep' || n || '@t' || n || '.example', 'Europe/Berlin') RETURNING id INTO rep;
	INSERT INTO crm.team (name, manager_id) VALUES ('Sales ' || n, boss) RETURNING id INTO tm;
	INSERT INTO crm.team_member (team_id, user_id, role) VALUES (tm, boss, 'manager'), (tm, rep, 'member');
	-- territories: world > region > city, each parent updated after its child
	-- was linked, so in heap order the child precedes the parent
	INSERT INTO crm.territory (name) VALUES ('World') RETURNING id INTO t_world;
	INSERT INTO crm.territory (name, parent_territory_id) VALUES ('Region', t_world) RETURNING id INTO t_region;
	INSERT INTO crm.territory (name, parent_territory_id, owner_id) VALUES ('City', t_region, rep) RETURNING id INTO t_city;
	UPDATE crm.territory SET description = 'the top' WHERE id = t_world;
	UPDATE crm.territory SET description = 'in the middle' WHERE id = t_region;
	-- custom field definitions
	INSERT INTO crm.custom_field (entity, name, label, field_type) VALUES
		('account', 'tier', 'Tier', 'text'),
		('contact', 'shoe_size', 'Shoe size', 'number');
	INSERT INTO crm.custom_field (entity, name, label, field_type, options) VALUES
		('lead', 'interest', 'Interest', 'picklist', '["crm", "erp"]');
	-- a tenant's own criteria field
	INSERT INTO crm.criteria_tenant_field (entity, name, column_name, json_key, type) VALUES
		('account', 'billing_city', 'billing_address', 'city', 'text');
	EXECUTE format('SET ROLE %I', user_role);
	-- accounts: group > sub > leaf, re-parented after creation; one soft-deleted
	INSERT INTO crm.account (name, domain, custom_fields, tags, territory_id)
		VALUES ('Leaf ' || n, 'leaf' || n || '.example', '{"tier": "gold"}', '{vip}', t_city) RETURNING id INTO a_leaf;
	INSERT INTO crm.account (name, annual_revenue, currency) VALUES ('Sub ' || n, 1234.50, 'EUR') RETURNING id INTO a_sub;
	INSERT INTO crm.account (name, billing_address) VALUES ('Group ' || n, '{"city": "Zürich"}') RETURNING id INTO a_group;
	UPDATE crm.account SET parent_account_id = a_sub WHERE id = a_leaf;
	UPDATE crm.account SET parent_account_id = a_group WHERE id = a_sub;
	UPDATE crm.account SET rating = 'hot' WHERE id = a_group;
	INSERT INTO crm.account (name) VALUES ('Gone ' || n) RETURNING id INTO a_gone;
	UPDATE crm.account SET deleted_at = pg_catalog.now() WHERE id = a_gone;
	-- contacts, leads, activities, notes, attachments
	INSERT INTO crm.contact (account_id, first_name, last_name, email, custom_fields, birthday)
		VALUES (a_leaf, 'Ada', 'Lovelace ' || n, 'ada@leaf' || n || '.example', '{"shoe_size": 38}', '1815-12-10'::date + 40000)
		RETURNING id INTO c1;
	INSERT INTO crm.contact (last_name, description) VALUES ('O''Brien ' || n, E'tab\there, newline\nthere, backslash \\ done') RETURNING id INTO c2;
	UPDATE crm.contact SET deleted_at = pg_catalog.now(), title = 'ex' WHERE id = c2;
	INSERT INTO crm.lead (last_name, company, email, custom_fields) VALUES ('Lead ' || n, 'Prospect ' || n, 'l@p' || n || '.example', '{"interest": "crm"}') RETURNING id INTO l1;
	INSERT INTO crm.lead (last_name, status) VALUES ('Other ' || n, 'contacted') RETURNING id INTO l2;
	UPDATE crm.lead SET status = 'qualified' WHERE id = l2;
	INSERT INTO crm.activity (type, subject, contact_id, account_id, owner_id, custom_fields)
		VALUES ('call', 'Intro call ' || n, c1, a_leaf, rep, '{}') RETURNING id INTO act;
	UPDATE crm.activity SET status = 'completed', completed_at = pg_catalog.now() WHERE id = act;
	INSERT INTO crm.note (body, activity_id, contact_id) VALUES ('Went well ' || n, act, c1) RETURNING id INTO nt;
	INSERT INTO crm.attachment (file_name, size_bytes, storage_key, note_id, sha256)
		VALUES ('minutes.pdf', 1024, 's3://bucket/' || n, nt, repeat('ab', 32));
	PERFORM crm.emit('contact.created', 'crm.contact', c1, jsonb_build_object('n', n));
	-- sales: a second pipeline, deals moved through stages (history stints,
	-- roll-up rows in several slots), won, lost, soft-deleted, a deal contact
	EXECUTE format('SET ROLE %I', admin_role);	-- pipelines are configuration
	INSERT INTO crm.pipeline (name) VALUES ('Renewals ' || n) RETURNING id INTO pl;
	INSERT INTO crm.pipeline_stage (pipeline_id, name, position, default_probability, forecast_category)
		VALUES (pl, 'Due', 1, 60, 'commit') RETURNING id INTO st_due;
	EXECUTE format('SET ROLE %I', user_role);
	INSERT INTO crm.opportunity (name, amount, account_id, contact_id, owner_id, close_date)
		VALUES ('Deal ' || n, 1000 * n, a_leaf, c1, rep, DATE '2027-01-15') RETURNING id INTO o1;
	INSERT INTO crm.opportunity (name, amount, currency, owner_id, close_date)
		VALUES ('Euro deal ' || n, 333.33, 'EUR', rep, DATE '2027-02-01') RETURNING id INTO o2;
	INSERT INTO crm.opportunity (name, amount, pipeline_id) VALUES ('Renewal ' || n, 50, pl) RETURNING id INTO o3;
	UPDATE crm.opportunity SET stage_id = (SELECT id FROM crm.pipeline_stage WHERE pipeline_id = (SELECT id FROM crm.pipeline WHERE is_default) AND name = 'Proposal') WHERE id = o1;
	UPDATE crm.opportunity SET probability = 35 WHERE id = o1;
	UPDATE crm.opportunity SET stage_id = (SELECT id FROM crm.pipeline_stage WHERE pipeline_id = (SELECT id FROM crm.pipeline WHERE is_default) AND name = 'Closed Lost'),
		lost_reason = 'price' WHERE id = o2;
	UPDATE crm.opportunity SET deleted_at = pg_catalog.now() WHERE id = o3;
	INSERT INTO crm.opportunity_contact (opportunity_id, contact_id, role, is_primary) VALUES (o1, c1, 'champion', true);
	UPDATE crm.lead SET converted_opportunity_id = o1 WHERE id = l1;
	-- products and quotes: a catalog (admin), deal lines that make o1's
	-- amount, a quote sent twice (two frozen versions) and accepted (its
	-- lines synced to the deal), a draft, and a quote number given back by
	-- a rolled-back subtransaction; a lead converted
	EXECUTE format('SET ROLE %I', admin_role);
	INSERT INTO crm.product (name, sku, unit_price, tax_rate) VALUES ('Widget ' || n, 'W-' || n, 10, 20) RETURNING id INTO pr1;
	INSERT INTO crm.product (name, sku, unit_price, tax_rate) VALUES ('Support ' || n, 'S-' || n, 0.05, 8.875) RETURNING id INTO pr2;
	INSERT INTO crm.price_book (name, kind) VALUES ('Standard', 'standard') RETURNING id INTO pb;
	INSERT INTO crm.price_book_entry (price_book_id, product_id, unit_price) VALUES (pb, pr1, 9.5), (pb, pr2, 0.04);
	EXECUTE format('SET ROLE %I', user_role);
	INSERT INTO crm.opportunity_line_item (opportunity_id, product_id, quantity, position) VALUES (o1, pr1, 3, 1), (o1, pr2, 100, 2);
	UPDATE crm.opportunity_line_item SET discount_percent = 10 WHERE opportunity_id = o1 AND position = 2;
	INSERT INTO crm.quote (name, opportunity_id, quote_date, valid_until, terms)
		VALUES ('Quote ' || n, o1, DATE '2027-01-10', DATE '2027-02-10', E'Net 30\nno returns') RETURNING id INTO q1;
	INSERT INTO crm.quote_line_item (quote_id, product_id, quantity, discount_percent, position) VALUES
		(q1, pr1, 7, 0, 1), (q1, pr2, 1000, 12.5, 2);
	INSERT INTO crm.quote_line_item (quote_id, description, quantity, list_price, tax_rate, position) VALUES (q1, 'Setup', 0.5, 1.01, 10, 3);
	UPDATE crm.quote SET status = 'sent' WHERE id = q1;
	UPDATE crm.quote SET status = 'draft' WHERE id = q1;
	UPDATE crm.quote_line_item SET quantity = 8 WHERE quote_id = q1 AND position = 1;
	UPDATE crm.quote SET status = 'sent' WHERE id = q1;
	UPDATE crm.quote SET status = 'accepted' WHERE id = q1;
	BEGIN
		INSERT INTO crm.quote (name) VALUES ('Rolled back ' || n);
		RAISE EXCEPTION 'undo';
	EXCEPTION WHEN raise_exception THEN
		NULL;
	END;
	INSERT INTO crm.quote (name, quote_date) VALUES ('Draft ' || n, DATE '2027-01-12') RETURNING id INTO q2;
	INSERT INTO crm.quote_line_item (quote_id, product_id, quantity) VALUES (q2, pr1, 1);
	PERFORM crm.convert_lead(l2, opportunity_name => 'Converted ' || n);
	-- sales configuration: exchange rates and a quota (admin)
	EXECUTE format('SET ROLE %I', admin_role);
	INSERT INTO crm.exchange_rate (currency, valid_from, rate) VALUES ('EUR', DATE '2027-01-01', 1.08), ('EUR', DATE '2027-02-01', 1.1);
	INSERT INTO crm.sales_quota (user_id, period_start, period_end, amount) VALUES (rep, DATE '2027-01-01', DATE '2027-03-31', 5000 * n);
	-- scoring and routing (issue 11): a routing rule and a routed lead,
	-- engagement events of a lead and a contact (scores and tallies); the
	-- restore must bring them back without counting an event twice
	EXECUTE format('SET ROLE %I', admin_role);
	INSERT INTO crm.routing_rule (name, priority, action, team_id, add_tags) VALUES ('All ' || n, 1, 'round_robin', tm, '{routed}');
	INSERT INTO crm.lead (last_name, title, lead_source) VALUES ('Routed ' || n, 'VP Sales', 'referral');
	UPDATE crm.routing_member SET daily_capacity = 50 WHERE team_id = tm AND user_id = rep;
	EXECUTE format('SET ROLE %I', user_role);
	INSERT INTO crm.engagement_event (lead_id, event_type, occurred_at, properties)
	SELECT l1, (ARRAY['page_view', 'demo_request', 'email_click'])[1 + g % 3], timestamptz '2026-02-01' + g * interval '1 day', '{"n": 1}'
	  FROM generate_series(1, 10) g;
	INSERT INTO crm.engagement_event (contact_id, event_type, occurred_at) VALUES (c1, 'webinar_attended', '2026-02-03');
	-- marketing: campaigns programme > campaign > wave, each parent linked
	-- after its child exists (child before parent in heap order), members,
	-- an email with events (member status, consent), a dynamic list kept
	-- by its triggers and refreshed, a static list
	INSERT INTO crm.campaign (name, type, actual_cost) VALUES ('Wave ' || n, 'email', 10) RETURNING id INTO cw;
	INSERT INTO crm.campaign (name, type) VALUES ('Campaign ' || n, 'webinar') RETURNING id INTO cc;
	INSERT INTO crm.campaign (name, budget) VALUES ('Programme ' || n, 1000) RETURNING id INTO cp;
	UPDATE crm.campaign SET parent_campaign_id = cc WHERE id = cw;
	UPDATE crm.campaign SET parent_campaign_id = cp WHERE id = cc;
	INSERT INTO crm.campaign_member (campaign_id, lead_id, status) VALUES (cc, l1, 'registered');
	UPDATE crm.opportunity SET campaign_id = cw WHERE id = o1;
	INSERT INTO crm.email_message (contact_id, campaign_id, template_name) VALUES (c1, cw, 'hello') RETURNING id INTO em;
	INSERT INTO crm.email_event (email_message_id, event_type) VALUES (em, 'delivered'), (em, 'clicked');
	INSERT INTO crm.marketing_list (name, kind, criteria) VALUES ('Chiefs ' || n, 'dynamic', '{"field": "title", "op": "eq", "value": "chief"}') RETURNING id INTO ml;
	UPDATE crm.contact SET title = 'Chief' WHERE id = c1;
	PERFORM crm.refresh_list(ml);
	INSERT INTO crm.marketing_list (name) VALUES ('Static ' || n) RETURNING id INTO sl;
	PERFORM crm.list_add(sl, format('SELECT %L::uuid', c1));
	-- support: an SLA policy (configuration), a case with comments from
	-- both sides, a pause, an activity about it (SLA state: crm.case_sla)
	EXECUTE format('SET ROLE %I', admin_role);
	INSERT INTO crm.sla_policy (name, position, first_response_minutes, next_response_minutes, resolution_minutes)
		VALUES ('Standard ' || n, 1, 60, 120, 480);
	EXECUTE format('SET ROLE %I', user_role);
	INSERT INTO crm.case (subject, account_id, contact_id, created_at)
		VALUES ('Broken ' || n, a_leaf, c1, '2025-03-03 10:00+00') RETURNING id INTO cs;
	INSERT INTO crm.case_comment (case_id, author_contact_id, body, created_at) VALUES (cs, c1, 'help', '2025-03-03 10:05+00');
	INSERT INTO crm.case_comment (case_id, author_user_id, body, created_at) VALUES (cs, rep, 'on it', '2025-03-03 10:30+00');
	INSERT INTO crm.case_comment (case_id, author_contact_id, body, created_at) VALUES (cs, c1, 'thanks', '2025-03-03 10:45+00');
	UPDATE crm.case SET status = 'pending', status_changed_at = '2025-03-03 11:00+00' WHERE id = cs;
	INSERT INTO crm.activity (type, subject, case_id) VALUES ('call', 'Case call ' || n, cs);
	INSERT INTO crm.knowledge_article (title, body, status) VALUES ('How to fix ' || n, 'Turn it off and on.', 'published')
		RETURNING id INTO kb;
	UPDATE crm.knowledge_article SET body = body || ' Then wait.', helpful_count = 2 WHERE id = kb;
	INSERT INTO crm.knowledge_article_case (article_id, case_id) VALUES (kb, cs);
	-- data-quality records: a duplicate rule, a merge, an erasure
	EXECUTE format('SET ROLE %I', admin_role);
	INSERT INTO crm.duplicate_rule (entity, action) VALUES ('lead', 'alert');
	INSERT INTO crm.contact (first_name, last_name, email) VALUES ('Ada', 'Lovelace ' || n, 'ada.l@leaf' || n || '.example') RETURNING id INTO c2;
	PERFORM crm.merge('crm.contact', c1, ARRAY[c2]);
	INSERT INTO crm.contact (last_name, email) VALUES ('Forget ' || n, 'forget' || n || '@t' || n || '.example');
	PERFORM crm.subject_erase(('forget' || n || '@t' || n || '.example')::crm.email, 'request ' || n);
	RESET ROLE;
END;
$$;

-- The owner's jobs of the fill (see the header).
CREATE FUNCTION pg_temp.fill_jobs() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	-- as pg_cron runs them: no tenant and no user set (a job switches the
	-- tenant per organization; a crm.user_id left over from the fill is a
	-- user of one organization only, refused in the others)
	PERFORM set_config('crm.organization_id', '', false);
	PERFORM set_config('crm.user_id', '', false);
	-- retention: the events of February 6th and before are folded into
	-- crm.score_base and deleted; a restore brings the base back and
	-- crm.post_restore() finds the scores equal to the recomputation from
	-- it and the remaining events
	UPDATE crm.scoring_settings SET retain_days = 23;
	PERFORM crm.prune_engagement_events('2026-03-01');
	IF EXISTS (SELECT 1 FROM crm.engagement_event e WHERE e.occurred_at < '2026-02-06 00:00+00')
	   OR NOT EXISTS (SELECT 1 FROM crm.score_base) THEN
		RAISE EXCEPTION 'the prune of the fill left events behind';
	END IF;
	-- the roll-up fold (every 10 minutes in a deployment): slot rows into
	-- one row per bucket and, summed over owners, crm.pipeline_stage_rollup
	-- (two statements: one query would test the per-stage rows with the
	-- snapshot taken before the fold wrote them)
	IF crm.fold_pipeline_rollups() = 0 THEN
		RAISE EXCEPTION 'the roll-up fold of the fill folded nothing';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM crm.pipeline_stage_rollup) THEN
		RAISE EXCEPTION 'the roll-up fold of the fill wrote no per-stage row';
	END IF;
	-- the daily pipeline snapshot job (trend rows of every tenant)
	IF crm.snapshot_pipeline(DATE '2027-01-31') = 0 THEN
		RAISE EXCEPTION 'the pipeline snapshot of the fill wrote no row';
	END IF;
END;
$$;
