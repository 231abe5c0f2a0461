-- Reporting views (crm.v_account, crm.v_contact, crm.v_lead, crm.v_activity)
-- and the functions crm.account_tree and crm.timeline, as application roles
-- under row-level security: live rows only, names resolved, the account
-- hierarchy as a path; another tenant's rows never show.
\set VERBOSITY terse
\set org_a '7e000000-0000-7000-8000-00000000000a'
\set org_b '7e000000-0000-7000-8000-00000000000b'
INSERT INTO crm.organization (id, name) VALUES (:'org_a', 'Views A'), (:'org_b', 'Views B');
DROP ROLE IF EXISTS crm_views_admin;
DROP ROLE IF EXISTS crm_views_user;
DROP ROLE IF EXISTS crm_views_reader;
DROP ROLE IF EXISTS crm_views_nobody;
CREATE ROLE crm_views_admin;
CREATE ROLE crm_views_user;
CREATE ROLE crm_views_reader;
CREATE ROLE crm_views_nobody;
SELECT crm.grant_access('crm_views_admin', 'admin', ARRAY[:'org_a', :'org_b']::uuid[]);
SELECT crm.grant_access('crm_views_user', 'user');
SELECT crm.grant_access('crm_views_reader', 'readonly', ARRAY[:'org_a']::uuid[]);
GRANT USAGE ON SCHEMA crm TO crm_views_nobody;

-- The views read their tables as the caller (security_invoker), so
-- row-level security applies to whoever queries them.
SELECT c.relname, c.reloptions FROM pg_class c
 WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind = 'v' ORDER BY 1;

-- ---------------------------------------------------------------------------
-- Data, written by the application roles.  Tenant A: users (one of them
-- soft-deleted), an account hierarchy Globex > Globex Europe > Globex GmbH,
-- a root Initech, a soft-deleted Gone Corp with a live child, contacts,
-- leads and activities with soft-deleted ones among them.  Tenant B: rows
-- with the same names, which must never show in A.
-- ---------------------------------------------------------------------------
SET ROLE crm_views_admin;
SET crm.organization_id = :'org_a';
INSERT INTO crm.app_user (id, name, email) VALUES
	('7e000000-0000-7000-8000-0000000000a1', 'Alice Admin', 'alice@a.example'),
	('7e000000-0000-7000-8000-0000000000a2', 'Old Owner', 'old@a.example');
SET crm.organization_id = :'org_b';
INSERT INTO crm.app_user (id, name, email) VALUES ('7e000000-0000-7000-8000-0000000000b1', 'Bella B', 'bella@b.example');
RESET ROLE;

SET ROLE crm_views_user;
SET crm.organization_id = :'org_a';
SET crm.user_id = '7e000000-0000-7000-8000-0000000000a1';
INSERT INTO crm.account (id, name, parent_account_id, owner_id, domain) VALUES
	('7e000000-0000-7000-8000-000000000a01', 'Globex', NULL, '7e000000-0000-7000-8000-0000000000a1', 'globex.example'),
	('7e000000-0000-7000-8000-000000000a02', 'Globex Europe', '7e000000-0000-7000-8000-000000000a01', '7e000000-0000-7000-8000-0000000000a2', NULL),
	('7e000000-0000-7000-8000-000000000a03', 'Globex GmbH', '7e000000-0000-7000-8000-000000000a02', NULL, NULL),
	('7e000000-0000-7000-8000-000000000a04', 'Initech', NULL, NULL, NULL),
	('7e000000-0000-7000-8000-000000000a05', 'Gone Corp', NULL, NULL, NULL),
	('7e000000-0000-7000-8000-000000000a06', 'Orphan Ltd', '7e000000-0000-7000-8000-000000000a05', NULL, NULL),
	('7e000000-0000-7000-8000-000000000a07', 'Globex Asia', '7e000000-0000-7000-8000-000000000a01', NULL, NULL);
INSERT INTO crm.contact (id, first_name, last_name, email, account_id, owner_id) VALUES
	('7e000000-0000-7000-8000-000000000c01', 'Ann', 'Smith', 'ann@globex.example', '7e000000-0000-7000-8000-000000000a03', '7e000000-0000-7000-8000-0000000000a1'),
	('7e000000-0000-7000-8000-000000000c02', NULL, 'Solo', NULL, NULL, NULL),
	('7e000000-0000-7000-8000-000000000c03', 'Dee', 'Leted', NULL, '7e000000-0000-7000-8000-000000000a04', NULL);
INSERT INTO crm.lead (first_name, last_name, company, status, owner_id) VALUES
	('Lee', 'Open', 'Hooli', 'new', '7e000000-0000-7000-8000-0000000000a1'),
	('Lou', 'Gone', 'Vandelay', 'new', NULL);
INSERT INTO crm.lead (first_name, last_name, status, converted_at, converted_account_id, converted_contact_id) VALUES
	('Ann', 'Smith', 'converted', now(), '7e000000-0000-7000-8000-000000000a03', '7e000000-0000-7000-8000-000000000c01');
INSERT INTO crm.activity (id, type, subject, activity_at, account_id, contact_id, owner_id, assignee_id) VALUES
	('7e000000-0000-7000-8000-000000000e01', 'call', 'Intro call', '2020-01-01 10:00+00', '7e000000-0000-7000-8000-000000000a03',
	 '7e000000-0000-7000-8000-000000000c01', '7e000000-0000-7000-8000-0000000000a1', '7e000000-0000-7000-8000-0000000000a2'),
	('7e000000-0000-7000-8000-000000000e02', 'task', 'Send pricing', now() + interval '1 day', NULL,
	 '7e000000-0000-7000-8000-000000000c01', NULL, NULL),
	('7e000000-0000-7000-8000-000000000e03', 'email', 'Withdrawn', now(), NULL,
	 '7e000000-0000-7000-8000-000000000c01', NULL, NULL);
INSERT INTO crm.note (body, contact_id) VALUES (E'Prefers email\nsecond line', '7e000000-0000-7000-8000-000000000c01');
INSERT INTO crm.note (body, contact_id, deleted_at) VALUES ('Deleted note', '7e000000-0000-7000-8000-000000000c01', now());
UPDATE crm.contact SET title = 'CTO', department = 'IT' WHERE id = '7e000000-0000-7000-8000-000000000c01';
-- soft deletes
UPDATE crm.account SET deleted_at = now() WHERE name = 'Gone Corp';
UPDATE crm.contact SET deleted_at = now() WHERE last_name = 'Leted';
UPDATE crm.lead SET deleted_at = now() WHERE last_name = 'Gone';
UPDATE crm.activity SET deleted_at = now() WHERE subject = 'Withdrawn';
RESET crm.user_id;
SET crm.organization_id = :'org_b';
INSERT INTO crm.account (id, name, parent_account_id) VALUES
	('7e000000-0000-7000-8000-000000000b01', 'Globex', NULL),
	('7e000000-0000-7000-8000-000000000b02', 'B Secret', '7e000000-0000-7000-8000-000000000b01');
INSERT INTO crm.contact (first_name, last_name, account_id) VALUES ('Ann', 'Smith', '7e000000-0000-7000-8000-000000000b02');
INSERT INTO crm.lead (first_name, last_name) VALUES ('Bea', 'Secret');
INSERT INTO crm.activity (type, subject, contact_id)
SELECT 'call', 'B call', id FROM crm.contact;
RESET ROLE;
SET ROLE crm_views_admin;
SET crm.organization_id = :'org_a';
UPDATE crm.app_user SET deleted_at = now() WHERE name = 'Old Owner';
RESET ROLE;

-- ---------------------------------------------------------------------------
-- 1. The views as tenant A: live rows only, names resolved.  Gone Corp is
-- soft-deleted: Orphan Ltd keeps its parent id but shows no parent name and
-- is the root of its own live hierarchy.  A soft-deleted owner (Old Owner)
-- resolves to no name either.
-- ---------------------------------------------------------------------------
SET ROLE crm_views_user;
SET crm.organization_id = :'org_a';
SELECT name, parent_account_name, depth, path, owner_name,
	   parent_account_id IS NOT NULL AS has_parent_id, owner_id IS NOT NULL AS has_owner_id,
	   path_ids[1] = root_account_id AS root_first, path_ids[cardinality(path_ids)] = id AS self_last,
	   cardinality(path_ids) = depth + 1 AS one_id_per_level
  FROM crm.v_account ORDER BY path;
SELECT full_name, email, title, account_name, account_path, owner_name FROM crm.v_contact ORDER BY full_name;
SELECT full_name, company, status, owner_name, converted_account_name, converted_contact_name FROM crm.v_lead ORDER BY full_name;
SELECT type, subject, account_name, contact_name, lead_name, owner_name, assignee_name,
	   assignee_id IS NOT NULL AS has_assignee_id
  FROM crm.v_activity ORDER BY activity_at;

-- Every view has exactly the live rows its table shows this role, and only
-- tenant A's.
SELECT 'v_account' AS view, (SELECT count(*) FROM crm.v_account) AS view_rows,
	   (SELECT count(*) FROM crm.account WHERE deleted_at IS NULL) AS live_rows,
	   (SELECT count(*) FROM crm.v_account WHERE organization_id <> :'org_a') AS foreign_rows
UNION ALL
SELECT 'v_contact', (SELECT count(*) FROM crm.v_contact),
	   (SELECT count(*) FROM crm.contact WHERE deleted_at IS NULL),
	   (SELECT count(*) FROM crm.v_contact WHERE organization_id <> :'org_a')
UNION ALL
SELECT 'v_lead', (SELECT count(*) FROM crm.v_lead),
	   (SELECT count(*) FROM crm.lead WHERE deleted_at IS NULL),
	   (SELECT count(*) FROM crm.v_lead WHERE organization_id <> :'org_a')
UNION ALL
SELECT 'v_activity', (SELECT count(*) FROM crm.v_activity),
	   (SELECT count(*) FROM crm.activity WHERE deleted_at IS NULL),
	   (SELECT count(*) FROM crm.v_activity WHERE organization_id <> :'org_a');
-- A missing reference has no name (NULL, never an empty string).
SELECT count(*) AS empty_names FROM crm.v_activity
 WHERE '' IN (account_name, contact_name, lead_name, owner_name, assignee_name);
SELECT count(*) AS empty_names FROM crm.v_lead WHERE '' IN (converted_account_name, converted_contact_name, owner_name);
-- No soft-deleted row shows, not even by id.
SELECT (SELECT count(*) FROM crm.v_account WHERE name = 'Gone Corp') AS deleted_account,
	   (SELECT count(*) FROM crm.v_contact WHERE id = '7e000000-0000-7000-8000-000000000c03') AS deleted_contact,
	   (SELECT count(*) FROM crm.v_lead WHERE last_name = 'Gone') AS deleted_lead,
	   (SELECT count(*) FROM crm.v_activity WHERE subject = 'Withdrawn') AS deleted_activity;

-- ---------------------------------------------------------------------------
-- 2. Tenant B through the same role: B's rows only; A's hierarchy, names and
-- owners never appear, also when asked for A's ids directly.
-- ---------------------------------------------------------------------------
SET crm.organization_id = :'org_b';
SELECT name, depth, path, owner_name FROM crm.v_account ORDER BY path;
SELECT full_name, account_name, account_path FROM crm.v_contact;
SELECT full_name FROM crm.v_lead;
SELECT subject, contact_name FROM crm.v_activity;
SELECT count(*) AS a_rows_by_id
  FROM crm.v_account WHERE id = '7e000000-0000-7000-8000-000000000a01' OR '7e000000-0000-7000-8000-000000000a01' = ANY (path_ids);

-- ---------------------------------------------------------------------------
-- 3. Without a tenant the views raise the tenant error, never an empty
-- result; a readonly role of A reads them (and cannot act as B); a role
-- without crm.grant_access cannot read them.
-- ---------------------------------------------------------------------------
RESET crm.organization_id;
SELECT count(*) FROM crm.v_contact;
RESET ROLE;
SET ROLE crm_views_reader;
SET crm.organization_id = :'org_a';
SELECT count(*) AS reader_accounts FROM crm.v_account;
SET crm.organization_id = :'org_b';
SELECT count(*) FROM crm.v_account;
RESET ROLE;
SET ROLE crm_views_nobody;
SET crm.organization_id = :'org_a';
SELECT count(*) FROM crm.v_account;
RESET ROLE;

-- ---------------------------------------------------------------------------
-- 4. crm.account_tree: the live subtree, depth-first with siblings by name;
-- depth and path as in crm.v_account; from_root gives the whole hierarchy.
-- ---------------------------------------------------------------------------
SET ROLE crm_views_user;
SET crm.organization_id = :'org_a';
SELECT name, depth, path FROM crm.account_tree('7e000000-0000-7000-8000-000000000a01');
SELECT name, depth, path FROM crm.account_tree('7e000000-0000-7000-8000-000000000a02');
SELECT name, depth, path FROM crm.account_tree('7e000000-0000-7000-8000-000000000a03', from_root => true);
SELECT name, depth, path FROM crm.account_tree('7e000000-0000-7000-8000-000000000a06');
-- The rows are exactly crm.v_account's rows below the account.
SELECT count(*) AS differences FROM (
	(SELECT id, parent_account_id, name, depth, path, path_ids FROM crm.account_tree('7e000000-0000-7000-8000-000000000a01')
	 EXCEPT
	 SELECT id, parent_account_id, name, depth, path, path_ids FROM crm.v_account
	  WHERE '7e000000-0000-7000-8000-000000000a01' = ANY (path_ids))
	UNION ALL
	(SELECT id, parent_account_id, name, depth, path, path_ids FROM crm.v_account
	  WHERE '7e000000-0000-7000-8000-000000000a01' = ANY (path_ids)
	 EXCEPT
	 SELECT id, parent_account_id, name, depth, path, path_ids FROM crm.account_tree('7e000000-0000-7000-8000-000000000a01'))
) d;
-- A soft-deleted account, another tenant's account and an unknown id are
-- all "not found" (nothing tells B's accounts from ids that do not exist).
SELECT * FROM crm.account_tree('7e000000-0000-7000-8000-000000000a05');
SELECT * FROM crm.account_tree('7e000000-0000-7000-8000-000000000b01');
SELECT * FROM crm.account_tree('7e000000-0000-7000-8000-0000000000ff');

-- ---------------------------------------------------------------------------
-- 5. crm.timeline: the record's audit entries, live activities and live
-- notes, oldest first (the 2020 call before the contact's creation); the
-- user who acted, by name (for an activity its owner, else who logged it).
-- ---------------------------------------------------------------------------
SELECT kind, summary, user_name, detail - 'body' - 'new_values' - 'old_values' AS detail
  FROM crm.timeline('crm.contact', '7e000000-0000-7000-8000-000000000c01');
-- an update's entry carries the changed columns
SELECT detail FROM crm.timeline('crm.contact', '7e000000-0000-7000-8000-000000000c01')
 WHERE summary LIKE 'UPDATE: department%';
-- the timeline is ordered by time
SELECT bool_and(occurred_at >= prev) AS in_time_order
  FROM (SELECT occurred_at, lag(occurred_at, 1, '-infinity') OVER (ORDER BY ordinality) AS prev
		  FROM crm.timeline('crm.contact', '7e000000-0000-7000-8000-000000000c01') WITH ORDINALITY) t;
-- an account: its own entries and the activity that names it; a user: the
-- activities they own or are assigned (read from the foreign keys)
SELECT kind, summary FROM crm.timeline('crm.account', '7e000000-0000-7000-8000-000000000a03');
SELECT kind, summary FROM crm.timeline('crm.app_user', '7e000000-0000-7000-8000-0000000000a2') WHERE kind <> 'audit';
-- another tenant's record: nothing, as for an id that does not exist
SET crm.organization_id = :'org_b';
SELECT count(*) AS a_contact_from_b FROM crm.timeline('crm.contact', '7e000000-0000-7000-8000-000000000c01');
-- not a crm record table
SELECT * FROM crm.timeline('pg_class', '7e000000-0000-7000-8000-000000000c01');
SELECT * FROM crm.timeline('crm.table_registry', '7e000000-0000-7000-8000-000000000c01');
RESET ROLE;

-- ---------------------------------------------------------------------------
-- 6. Reading a view costs only what it shows: a query that does not use the
-- resolved names or the hierarchy does not join for them (the outer joins
-- are removed), so a plain list of contacts is one scan of crm.contact.
-- ---------------------------------------------------------------------------
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	line text;
	plan text := '';
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
		plan := plan || line || E'\n';
	END LOOP;
	RETURN plan;
END $$;
SET ROLE crm_views_user;
SET crm.organization_id = :'org_a';
SELECT pg_temp.plan_of('SELECT id, full_name, email FROM crm.v_contact') !~ ' on (account|app_user)\M' AS contact_list_reads_only_contact,
	   pg_temp.plan_of('SELECT id, name FROM crm.v_account') !~ '( on (app_user|territory)\M|CTE)' AS account_list_reads_only_account,
	   pg_temp.plan_of('SELECT id, account_path FROM crm.v_contact') ~ 'CTE' AS path_walks_when_asked;
-- Each step of the hierarchy walk is a primary-key lookup of one parent,
-- whatever the statistics say (never a read of the tenant per step).
SELECT pg_temp.plan_of('SELECT path FROM crm.v_account')
	   ~ 'Index Scan using account_pkey on account q\s+Index Cond: \(\(organization_id = \$\d+\) AND \(id = up_\d+\.parent_id\)\)'
	   AS walk_step_by_primary_key;
RESET ROLE;

-- ---------------------------------------------------------------------------
-- 7. A cycle can only come in through restore mode (the trigger refuses it
-- otherwise); the views and functions still terminate on one.
-- ---------------------------------------------------------------------------
SET crm.restoring = on;
INSERT INTO crm.account (organization_id, id, name, parent_account_id) VALUES
	(:'org_a', '7e000000-0000-7000-8000-000000000a08', 'Loop X', '7e000000-0000-7000-8000-000000000a09'),
	(:'org_a', '7e000000-0000-7000-8000-000000000a09', 'Loop Y', '7e000000-0000-7000-8000-000000000a08');
RESET crm.restoring;
SET ROLE crm_views_user;
SET crm.organization_id = :'org_a';
SELECT name, depth, path FROM crm.v_account WHERE name LIKE 'Loop%' ORDER BY name;
SELECT name, depth FROM crm.account_tree('7e000000-0000-7000-8000-000000000a08');
RESET ROLE;
SET crm.restoring = on;
DELETE FROM crm.account WHERE organization_id = :'org_a' AND name LIKE 'Loop%';
RESET crm.restoring;

-- Clean up the roles (their grants first).
SELECT crm.revoke_access(r) FROM unnest(ARRAY['crm_views_admin', 'crm_views_user', 'crm_views_reader']::regrole[]) r;
REVOKE USAGE ON SCHEMA crm FROM crm_views_nobody;
DROP ROLE crm_views_admin;
DROP ROLE crm_views_user;
DROP ROLE crm_views_reader;
DROP ROLE crm_views_nobody;
