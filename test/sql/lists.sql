-- Marketing lists: static, dynamic and snapshot lists; dynamic membership
-- kept current per changed row by C triggers (evaluating only the lists a
-- change can affect) and by crm.refresh_list (only the difference);
-- lists of lists; consent; row-level security (doc/marketing.md).
\set VERBOSITY terse
SET client_min_messages = warning;
\set org_a '1a000000-0000-7000-8000-00000000000a'
\set org_b '1a000000-0000-7000-8000-00000000000b'
\set acc '1a000000-0000-7000-8000-0000000000a1'
\set ceos '1a000000-0000-7000-8000-0000000001c1'
\set gold '1a000000-0000-7000-8000-0000000001c2'
\set soft '1a000000-0000-7000-8000-0000000001c3'
\set softceos '1a000000-0000-7000-8000-0000000001c4'
\set allceos '1a000000-0000-7000-8000-0000000001c5'
\set newleads '1a000000-0000-7000-8000-0000000001c6'
\set vips '1a000000-0000-7000-8000-0000000001c7'
\set bceos '1a000000-0000-7000-8000-0000000001c8'
INSERT INTO crm.organization (id, name) VALUES (:'org_a', 'Lists A'), (:'org_b', 'Lists B');
DROP ROLE IF EXISTS crm_lists_user;
CREATE ROLE crm_lists_user;
SELECT crm.grant_access('crm_lists_user', 'admin');
SET ROLE crm_lists_user;
SET crm.organization_id = :'org_a';
INSERT INTO crm.custom_field (entity, name, label, field_type, options) VALUES
	('contact', 'tier', 'Tier', 'picklist', '["Gold", "Silver"]');
INSERT INTO crm.account (id, name, industry) VALUES (:'acc', 'Initech', 'Software');
INSERT INTO crm.contact (first_name, last_name, email, title, account_id, custom_fields) VALUES
	('Ann', 'Able', 'ann@a.example', 'CEO', :'acc', '{"tier": "Gold"}'),
	('Bob', 'Baker', 'bob@a.example', 'Engineer', :'acc', '{}'),
	('Cy', 'Cole', 'cy@a.example', 'CEO', NULL, '{"tier": "Silver"}');
SET crm.organization_id = :'org_b';
INSERT INTO crm.contact (first_name, last_name, title) VALUES ('Bea', 'Other', 'CEO') RETURNING id AS other_contact \gset
SET crm.organization_id = :'org_a';

-- Who is in which list (names, so the output does not depend on ids).
CREATE FUNCTION pg_temp.members() RETURNS TABLE (list text, person text) LANGUAGE sql AS $$
	SELECT l.name, coalesce(c.first_name, d.first_name)
	  FROM crm.marketing_list_member m JOIN crm.marketing_list l ON l.organization_id = m.organization_id AND l.id = m.list_id
	  LEFT JOIN crm.contact c ON c.organization_id = m.organization_id AND c.id = m.contact_id
	  LEFT JOIN crm.lead d ON d.organization_id = m.organization_id AND d.id = m.lead_id
	 WHERE m.removed_at IS NULL ORDER BY 1, 2 $$;
CREATE FUNCTION pg_temp.events() RETURNS TABLE (event text, n bigint) LANGUAGE sql AS $$
	SELECT event_type, count(*) FROM crm.outbox WHERE event_type LIKE 'list.%' GROUP BY 1 ORDER BY 1 $$;

-- Preview: what a document selects, before a list exists.
SELECT count(*) AS ceos FROM crm.list_preview('{"field": "title", "op": "eq", "value": "ceo"}');
SELECT count(*) AS limited FROM crm.list_preview('{"field": "last_name", "op": "is_not_null"}', 'contact', 2);

-- Dynamic lists: a new list is filled by its first refresh.
INSERT INTO crm.marketing_list (id, name, kind, criteria) VALUES
	(:'ceos', 'CEOs', 'dynamic', '{"field": "title", "op": "eq", "value": "ceo"}');
INSERT INTO crm.marketing_list (id, name, kind, criteria) VALUES
	(:'gold', 'Gold', 'dynamic', '{"field": "custom_fields.tier", "op": "eq", "value": "Gold"}');
INSERT INTO crm.marketing_list (id, name, kind, criteria) VALUES
	(:'soft', 'Software', 'dynamic', '{"field": "account.industry", "op": "eq", "value": "software"}');
-- a list of lists: CEOs at software accounts (stored membership of both)
INSERT INTO crm.marketing_list (id, name, kind, criteria, member_of) VALUES
	(:'softceos', 'Software CEOs', 'dynamic', '{"field": "last_name", "op": "is_not_null"}', ARRAY[:'ceos', :'soft']::uuid[]);
-- crm.refresh_lists refreshes in dependency order (lists of lists last)
RESET ROLE;
SELECT l.name, r.joined, r."left" FROM crm.refresh_lists() r JOIN crm.marketing_list l ON l.id = r.list_id
 WHERE r.organization_id = :'org_a' ORDER BY l.name;
SET ROLE crm_lists_user;
SET crm.organization_id = :'org_a';
SELECT * FROM pg_temp.members();
-- idempotent: a second refresh changes nothing
SELECT * FROM crm.refresh_list(:'ceos');
SELECT * FROM crm.refresh_list(:'softceos');

-- Per-row maintenance.  An insert joins the lists it matches:
INSERT INTO crm.contact (first_name, last_name, title, account_id) VALUES ('Dee', 'Dunn', 'ceo', :'acc') RETURNING id AS dee \gset
SELECT * FROM pg_temp.members() WHERE person = 'Dee';
-- an update of a watched field joins and leaves (and the list of lists follows):
UPDATE crm.contact SET title = 'CTO' WHERE id = :'dee';
SELECT * FROM pg_temp.members() WHERE person = 'Dee';
UPDATE crm.contact SET title = 'CEO' WHERE id = :'dee';
-- an update of a field no list reads writes nothing (no event)
SELECT * FROM pg_temp.events();
UPDATE crm.contact SET department = 'Board', description = 'x' WHERE id = :'dee';
SELECT * FROM pg_temp.events();
-- custom fields
UPDATE crm.contact SET custom_fields = '{"tier": "Gold"}' WHERE first_name = 'Bob';
UPDATE crm.contact SET custom_fields = '{"tier": "Silver"}' WHERE first_name = 'Ann';
SELECT * FROM pg_temp.members() WHERE list = 'Gold';
-- account-field criteria follow the account
UPDATE crm.account SET industry = 'Retail' WHERE id = :'acc';
SELECT * FROM pg_temp.members() WHERE list LIKE 'Software%';
UPDATE crm.account SET industry = 'Software' WHERE id = :'acc';
SELECT * FROM pg_temp.members() WHERE list LIKE 'Software%';
-- moving a contact to another account is a change of account_id
UPDATE crm.contact SET account_id = NULL WHERE id = :'dee';
SELECT * FROM pg_temp.members() WHERE person = 'Dee';
-- consent: a contact who opts out leaves every list that respects consent
INSERT INTO crm.marketing_list (id, name, kind, criteria, respect_consent) VALUES
	(:'allceos', 'CEOs, all', 'dynamic', '{"field": "title", "op": "eq", "value": "ceo"}', false);
SELECT * FROM crm.refresh_list(:'allceos');
UPDATE crm.contact SET do_not_email = true WHERE first_name = 'Cy';
SELECT * FROM pg_temp.members() WHERE person = 'Cy';
-- soft delete leaves every list
UPDATE crm.contact SET deleted_at = now() WHERE id = :'dee';
SELECT * FROM pg_temp.members() WHERE person = 'Dee';
SELECT list_id = :'ceos' AS ceos, removed_at IS NOT NULL AS removed FROM crm.marketing_list_member
 WHERE member_id = :'dee' ORDER BY 1;
-- every change above kept stored membership equal to the criteria
SELECT * FROM crm.verify() WHERE "check" = 'list_membership';
SELECT * FROM pg_temp.events();

-- Refresh applies exactly the difference: a change behind the triggers'
-- back (restore mode turns them off) is found and fixed, with events.
RESET ROLE;
SET crm.restoring = on;
UPDATE crm.contact SET title = 'CEO' WHERE organization_id = :'org_a' AND first_name = 'Bob';
UPDATE crm.contact SET title = 'Intern' WHERE organization_id = :'org_a' AND first_name = 'Ann';
RESET crm.restoring;
SET ROLE crm_lists_user;
SET crm.organization_id = :'org_a';
SELECT "check", entity, expected, actual FROM crm.verify() WHERE "check" = 'list_membership' ORDER BY expected;
SELECT * FROM crm.refresh_list(:'ceos');
SELECT * FROM crm.refresh_list(:'ceos');
SELECT * FROM crm.refresh_list(:'softceos');
SELECT * FROM crm.refresh_list(:'allceos');
SELECT * FROM crm.verify() WHERE "check" = 'list_membership';
SELECT * FROM pg_temp.members() WHERE list LIKE '%CEOs%';

-- Lists of lists: a cycle is refused; member_of must name live lists of
-- the same entity; a dynamic list's members come from its criteria.
UPDATE crm.marketing_list SET member_of = ARRAY[:'softceos']::uuid[] WHERE id = :'ceos';
UPDATE crm.marketing_list SET member_of = ARRAY[:'ceos']::uuid[] WHERE id = :'ceos';
INSERT INTO crm.marketing_list (name, kind, entity, criteria, member_of) VALUES
	('Lead list', 'dynamic', 'lead', '{"field": "company", "op": "is_not_null"}', ARRAY[:'ceos']::uuid[]);
INSERT INTO crm.marketing_list (name, kind, criteria) VALUES ('Broken', 'dynamic', '{"field": "nope", "op": "is_null"}');
INSERT INTO crm.marketing_list (name, kind) VALUES ('No criteria', 'dynamic');
INSERT INTO crm.marketing_list_member (list_id, contact_id) VALUES (:'ceos', :'dee');
UPDATE crm.marketing_list SET kind = 'static' WHERE id = :'ceos';

-- Lead lists
INSERT INTO crm.lead (first_name, last_name, company, status) VALUES ('Lou', 'Lead', 'Acme', 'new');
INSERT INTO crm.marketing_list (id, name, kind, entity, criteria) VALUES
	(:'newleads', 'New leads', 'dynamic', 'lead', '{"field": "status", "op": "eq", "value": "new"}');
SELECT * FROM crm.refresh_list(:'newleads');
INSERT INTO crm.lead (first_name, last_name, company) VALUES ('Lia', 'Lead', 'Acme');
UPDATE crm.lead SET status = 'contacted' WHERE first_name = 'Lou';
SELECT * FROM pg_temp.members() WHERE list = 'New leads';

-- Static lists: added from a query (as the caller, under RLS), removed by
-- id; another tenant's contact cannot be held (composite foreign key).
INSERT INTO crm.marketing_list (id, name) VALUES (:'vips', 'VIPs');
SELECT crm.list_add(:'vips', $$SELECT id FROM crm.contact WHERE first_name IN ('Ann', 'Bob', 'Cy')$$);
SELECT crm.list_add(:'vips', $$SELECT id FROM crm.contact WHERE first_name = 'Ann'$$);
SELECT crm.list_add(:'vips', format('SELECT %L::uuid', :'other_contact'));
INSERT INTO crm.marketing_list_member (list_id, contact_id) VALUES (:'vips', :'other_contact');
-- a member is of its list's entity, whoever writes it (the trigger names the
-- mismatch of a manual row, the composite foreign key refuses any row)
INSERT INTO crm.marketing_list_member (list_id, entity, lead_id) SELECT :'vips', 'lead', id FROM crm.lead LIMIT 1;
INSERT INTO crm.marketing_list_member (list_id, entity, lead_id, source) SELECT :'vips', 'lead', id, 'criteria' FROM crm.lead LIMIT 1;
SELECT crm.list_add(:'ceos', 'SELECT NULL::uuid');
SELECT crm.refresh_list(:'vips');
-- list_members leaves out contacts without consent (Cy opted out)
SELECT c.first_name FROM crm.list_members(:'vips') m JOIN crm.contact c ON c.id = m.member_id ORDER BY 1;
SELECT crm.list_remove(:'vips', ARRAY(SELECT id FROM crm.contact WHERE first_name = 'Bob'));
SELECT c.first_name FROM crm.list_members(:'vips') m JOIN crm.contact c ON c.id = m.member_id ORDER BY 1;
-- a snapshot: the members of the moment, not kept current
SELECT crm.snapshot_list(:'ceos', 'CEOs today') AS snap \gset
UPDATE crm.contact SET title = 'CEO' WHERE first_name = 'Ann';
SELECT count(*) AS snapshot_members FROM crm.list_members(:'snap');
SELECT count(*) AS ceos_members FROM crm.list_members(:'ceos');

-- Row-level security: another tenant sees none of these lists, and its
-- criteria never reach this tenant's rows.
SET crm.organization_id = :'org_b';
SELECT count(*) AS lists_seen FROM crm.marketing_list;
SELECT count(*) AS members_seen FROM crm.marketing_list_member;
SELECT crm.list_members(:'ceos');
SELECT crm.refresh_list(:'ceos');
SELECT count(*) AS ceos_b FROM crm.list_preview('{"field": "title", "op": "eq", "value": "ceo"}');
INSERT INTO crm.marketing_list (id, name, kind, criteria) VALUES
	(:'bceos', 'B CEOs', 'dynamic', '{"field": "title", "op": "eq", "value": "ceo"}');
SELECT * FROM crm.refresh_list(:'bceos');
UPDATE crm.contact SET title = 'CEO';
SELECT * FROM pg_temp.members();
SET crm.organization_id = :'org_a';

-- Randomized workload: many updates of watched and unwatched fields,
-- consent, soft deletes and account changes; afterwards stored membership
-- equals what refresh would compute (verify empty, refresh changes nothing).
SELECT setseed(0.42);
INSERT INTO crm.account (name, industry) SELECT 'Acc ' || i, (ARRAY['Software', 'Retail', NULL])[1 + i % 3] FROM generate_series(1, 5) i;
INSERT INTO crm.contact (first_name, last_name, title, account_id, custom_fields)
SELECT 'R' || i, 'Rand', (ARRAY['CEO', 'CTO', 'Engineer'])[1 + (random() * 2)::int],
	   (SELECT id FROM crm.account WHERE name = 'Acc ' || (1 + i % 5)),
	   CASE WHEN random() < 0.5 THEN '{"tier": "Gold"}' ELSE '{}' END::jsonb
  FROM generate_series(1, 60) i;
DO $$
DECLARE
	i int;
BEGIN
	FOR i IN 1 .. 300 LOOP
		CASE (random() * 6)::int
			WHEN 0 THEN UPDATE crm.contact SET title = (ARRAY['CEO', 'CTO', 'Engineer'])[1 + (random() * 2)::int]
						 WHERE id = (SELECT id FROM crm.contact WHERE last_name = 'Rand' ORDER BY random() LIMIT 1);
			WHEN 1 THEN UPDATE crm.contact SET custom_fields = CASE WHEN random() < 0.5 THEN '{"tier": "Gold"}' ELSE '{"tier": "Silver"}' END::jsonb
						 WHERE id = (SELECT id FROM crm.contact WHERE last_name = 'Rand' ORDER BY random() LIMIT 1);
			WHEN 2 THEN UPDATE crm.contact SET do_not_email = NOT do_not_email
						 WHERE id = (SELECT id FROM crm.contact WHERE last_name = 'Rand' ORDER BY random() LIMIT 1);
			WHEN 3 THEN UPDATE crm.account SET industry = (ARRAY['Software', 'Retail', NULL])[1 + (random() * 2)::int]
						 WHERE id = (SELECT id FROM crm.account WHERE name LIKE 'Acc %' ORDER BY random() LIMIT 1);
			WHEN 4 THEN UPDATE crm.contact SET deleted_at = CASE WHEN deleted_at IS NULL THEN now() END
						 WHERE id = (SELECT id FROM crm.contact WHERE last_name = 'Rand' ORDER BY random() LIMIT 1);
			WHEN 5 THEN UPDATE crm.contact SET account_id = (SELECT id FROM crm.account WHERE name LIKE 'Acc %' ORDER BY random() LIMIT 1)
						 WHERE id = (SELECT id FROM crm.contact WHERE last_name = 'Rand' ORDER BY random() LIMIT 1);
			ELSE UPDATE crm.contact SET description = md5(random()::text)
						 WHERE id = (SELECT id FROM crm.contact WHERE last_name = 'Rand' ORDER BY random() LIMIT 1);
		END CASE;
	END LOOP;
END $$;
SELECT count(*) AS drift FROM crm.verify() WHERE "check" = 'list_membership';
SELECT sum(r.joined) AS joined, sum(r."left") AS "left"
  FROM crm.marketing_list l CROSS JOIN LATERAL crm.refresh_list(l.id) r
 WHERE l.kind = 'dynamic' AND l.deleted_at IS NULL;
-- Statements of many rows.  The triggers fire once per statement: they read
-- its transition tables, evaluate each changed row against the lists its
-- change concerns, and write every join and departure together.
CREATE FUNCTION pg_temp.counts() RETURNS TABLE (list text, members bigint) LANGUAGE sql AS $$
	SELECT list, count(*) FROM pg_temp.members() WHERE list IN ('CEOs', 'CEOs, all', 'Software', 'Software CEOs', 'Gold')
	 GROUP BY 1 ORDER BY 1 $$;
SELECT * FROM pg_temp.counts();
-- one UPDATE moving sixty contacts in or out of the CEO lists; the list of
-- lists (Software CEOs) follows in the same statement
UPDATE crm.contact SET title = CASE WHEN title = 'CEO' THEN 'CTO' ELSE 'CEO' END WHERE last_name = 'Rand';
SELECT * FROM pg_temp.counts();
SELECT count(*) AS drift FROM crm.verify() WHERE "check" = 'list_membership';
-- one INSERT of forty contacts: the ones that match join, the list of
-- lists included (a new row is nobody's member: nothing is read)
INSERT INTO crm.contact (first_name, last_name, title, account_id, custom_fields)
SELECT 'B' || i, 'Bulk', CASE WHEN i % 2 = 0 THEN 'CEO' ELSE 'Engineer' END,
	   (SELECT id FROM crm.account WHERE name = 'Acc 1'), CASE WHEN i % 4 = 0 THEN '{"tier": "Gold"}' ELSE '{}' END::jsonb
  FROM generate_series(1, 40) i;
SELECT list, count(*) FROM pg_temp.members() WHERE person ~ '^B[0-9]+$' GROUP BY 1 ORDER BY 1;
-- an upsert: the inserted rows and the updated rows of one statement
INSERT INTO crm.contact (id, first_name, last_name, title)
SELECT id, first_name, last_name, 'Engineer' FROM crm.contact WHERE last_name = 'Bulk' AND first_name IN ('B2', 'B4')
UNION ALL SELECT crm.uuid_v7(), 'Up', 'Bulk', 'CEO'
ON CONFLICT (organization_id, id) DO UPDATE SET title = EXCLUDED.title;
SELECT list, person FROM pg_temp.members() WHERE person IN ('B2', 'B4', 'Up') ORDER BY 1, 2;
-- a statement that changes no watched column writes nothing (no event)
SELECT * FROM pg_temp.events();
UPDATE crm.contact SET description = 'bulk' WHERE last_name = 'Bulk';
UPDATE crm.contact SET title = title WHERE last_name = 'Bulk';
SELECT * FROM pg_temp.events();
-- one UPDATE of five accounts: their contacts follow the Software lists
UPDATE crm.account SET industry = CASE WHEN industry = 'Software' THEN 'Retail' ELSE 'Software' END WHERE name LIKE 'Acc %';
SELECT * FROM pg_temp.counts();
-- soft delete and consent of many rows at once
UPDATE crm.contact SET deleted_at = now() WHERE last_name = 'Bulk' AND first_name LIKE 'B1%';
UPDATE crm.contact SET do_not_email = true WHERE last_name = 'Bulk' AND first_name LIKE 'B2%';
SELECT * FROM pg_temp.counts();
SELECT count(*) AS drift FROM crm.verify() WHERE "check" = 'list_membership';
SELECT sum(r.joined) AS joined, sum(r."left") AS "left"
  FROM crm.marketing_list l CROSS JOIN LATERAL crm.refresh_list(l.id) r
 WHERE l.kind = 'dynamic' AND l.deleted_at IS NULL;

-- Lead lists see each row as its statement wrote it, before routing (a
-- later statement trigger) updates it again: that nested update is then
-- evaluated from the inserted row to the routed one.
INSERT INTO crm.routing_rule (name, priority, criteria, action, set_priority, add_tags) VALUES
	('Students', 5, '{"field": "title", "op": "contains", "value": "student"}', 'none', 'low', '{student}');
INSERT INTO crm.marketing_list (name, kind, entity, criteria) VALUES
	('Unprioritised leads', 'dynamic', 'lead', '{"field": "priority", "op": "is_null"}'),
	('Student leads', 'dynamic', 'lead', '{"field": "tags", "op": "has_any", "value": ["student"]}');
SELECT sum(r.joined) AS joined FROM crm.marketing_list l CROSS JOIN LATERAL crm.refresh_list(l.id) r
 WHERE l.name IN ('Unprioritised leads', 'Student leads');
INSERT INTO crm.lead (first_name, last_name, company, title) VALUES
	('Pia', 'Pupil', 'School', 'Student'), ('Pat', 'Prof', 'School', 'Professor');
SELECT * FROM pg_temp.members() WHERE person IN ('Pia', 'Pat');
SELECT count(*) AS drift FROM crm.verify() WHERE "check" = 'list_membership';

-- Randomized workload of many-row statements: updates of watched and
-- unwatched fields of random subsets, consent, soft deletes, account
-- changes, inserts; afterwards stored membership equals what refresh would
-- compute.
SELECT setseed(0.17);
DO $$
DECLARE
	i int;
BEGIN
	FOR i IN 1 .. 60 LOOP
		CASE (random() * 6)::int
			WHEN 0 THEN UPDATE crm.contact SET title = (ARRAY['CEO', 'CTO', 'Engineer'])[1 + (random() * 2)::int]
						 WHERE last_name IN ('Rand', 'Bulk') AND random() < 0.3;
			WHEN 1 THEN UPDATE crm.contact SET custom_fields = CASE WHEN random() < 0.5 THEN '{"tier": "Gold"}' ELSE '{"tier": "Silver"}' END::jsonb,
											   title = CASE WHEN random() < 0.3 THEN 'CEO' ELSE title END
						 WHERE last_name IN ('Rand', 'Bulk') AND random() < 0.3;
			WHEN 2 THEN UPDATE crm.contact SET do_not_email = random() < 0.2
						 WHERE last_name IN ('Rand', 'Bulk') AND random() < 0.3;
			WHEN 3 THEN UPDATE crm.account SET industry = (ARRAY['Software', 'Retail', NULL])[1 + (random() * 2)::int]
						 WHERE name LIKE 'Acc %' AND random() < 0.5;
			WHEN 4 THEN UPDATE crm.contact SET deleted_at = CASE WHEN random() < 0.2 THEN now() END
						 WHERE last_name IN ('Rand', 'Bulk') AND random() < 0.3;
			WHEN 5 THEN UPDATE crm.contact SET account_id = (SELECT id FROM crm.account WHERE name LIKE 'Acc %' ORDER BY random() LIMIT 1)
						 WHERE last_name IN ('Rand', 'Bulk') AND random() < 0.3;
			ELSE INSERT INTO crm.contact (first_name, last_name, title, account_id)
				 SELECT 'N' || g, 'Bulk', (ARRAY['CEO', 'CTO', 'Engineer'])[1 + (random() * 2)::int],
						(SELECT id FROM crm.account WHERE name = 'Acc ' || (1 + g % 5))
				   FROM generate_series(1, 5) g;
		END CASE;
	END LOOP;
END $$;
SELECT count(*) AS drift FROM crm.verify() WHERE "check" = 'list_membership';
SELECT sum(r.joined) AS joined, sum(r."left") AS "left"
  FROM crm.marketing_list l CROSS JOIN LATERAL crm.refresh_list(l.id) r
 WHERE l.kind = 'dynamic' AND l.deleted_at IS NULL;
RESET ROLE;
SELECT crm.revoke_access('crm_lists_user');
DROP OWNED BY crm_lists_user;
DROP ROLE crm_lists_user;
