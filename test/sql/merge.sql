-- Merge: crm.merge(entity, survivor, victims, field_choices) folds duplicate
-- records into one.  Every foreign key pointing at a victim is found in the
-- catalog and re-pointed -- crm's own tables and a user's tables in another
-- schema alike; unique collisions on the way are resolved; the survivor's
-- empty fields are filled; victims are soft-deleted; the audit log explains
-- it.  Any failure leaves everything as it was, and another tenant's records
-- are never touched.
\set VERBOSITY terse
SET client_min_messages = warning;

\set org_a '4d000000-0000-7000-8000-00000000000a'
\set org_b '4d000000-0000-7000-8000-00000000000b'
INSERT INTO crm.organization (id, name) VALUES (:'org_a', 'Merge A'), (:'org_b', 'Merge B');
DROP ROLE IF EXISTS crm_merge_admin;
DROP ROLE IF EXISTS crm_merge_reader;
CREATE ROLE crm_merge_admin;
CREATE ROLE crm_merge_reader;
SELECT crm.grant_access('crm_merge_admin', 'admin');
SELECT crm.grant_access('crm_merge_reader', 'readonly');

-- The user's own tables, in their own schema, referencing crm.contact:
--  * list_member: UNIQUE (organization_id, list_id, contact_id), no deleted_at
--    (a colliding row is deleted);
--  * subscription: the key columns in the other order, a unique expression
--    index limited to live rows, and deleted_at (a colliding row is
--    soft-deleted);
--  * frozen: a trigger that refuses changes of frozen rows (to make a merge
--    fail half-way).
CREATE SCHEMA merge_app;
CREATE TABLE merge_app.list_member (
	organization_id uuid NOT NULL,
	list_id		integer NOT NULL,
	contact_id	uuid NOT NULL,
	CONSTRAINT list_member_contact_fkey FOREIGN KEY (organization_id, contact_id) REFERENCES crm.contact (organization_id, id),
	CONSTRAINT list_member_unique UNIQUE (organization_id, list_id, contact_id)
);
CREATE TABLE merge_app.subscription (
	organization_id uuid NOT NULL,
	topic		text NOT NULL,
	subscriber	uuid NOT NULL,
	deleted_at	timestamptz,
	CONSTRAINT subscription_contact_fkey FOREIGN KEY (subscriber, organization_id) REFERENCES crm.contact (id, organization_id)
);
CREATE UNIQUE INDEX subscription_topic_key ON merge_app.subscription (organization_id, lower(topic), subscriber) WHERE deleted_at IS NULL;
CREATE TABLE merge_app.frozen (
	organization_id uuid NOT NULL,
	contact_id	uuid NOT NULL,
	is_frozen	boolean NOT NULL DEFAULT true,
	CONSTRAINT frozen_contact_fkey FOREIGN KEY (organization_id, contact_id) REFERENCES crm.contact (organization_id, id)
);
CREATE FUNCTION merge_app.refuse_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF OLD.is_frozen THEN
		RAISE EXCEPTION 'frozen row of contact % cannot change', OLD.contact_id;
	END IF;
	RETURN NEW;
END;
$$;
CREATE TRIGGER refuse_frozen BEFORE UPDATE ON merge_app.frozen FOR EACH ROW EXECUTE FUNCTION merge_app.refuse_frozen();
GRANT USAGE ON SCHEMA merge_app TO crm_merge_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA merge_app TO crm_merge_admin;

-- Fixed ids, so that messages naming records are stable.
\set u1 '4d000000-0000-7000-8000-0000000000a1'
\set u2 '4d000000-0000-7000-8000-0000000000a2'
\set u3 '4d000000-0000-7000-8000-0000000000a3'
\set t1 '4d000000-0000-7000-8000-0000000000b1'
\set t2 '4d000000-0000-7000-8000-0000000000b2'
\set acc1 '4d000000-0000-7000-8000-0000000000c1'
\set acc2 '4d000000-0000-7000-8000-0000000000c2'
\set acc3 '4d000000-0000-7000-8000-0000000000c3'
\set c1 '4d000000-0000-7000-8000-0000000000d1'
\set c2 '4d000000-0000-7000-8000-0000000000d2'
\set c3 '4d000000-0000-7000-8000-0000000000d3'
\set c4 '4d000000-0000-7000-8000-0000000000d4'
\set c5 '4d000000-0000-7000-8000-0000000000d5'
\set l1 '4d000000-0000-7000-8000-0000000000e1'
\set l2 '4d000000-0000-7000-8000-0000000000e2'
\set cb '4d000000-0000-7000-8000-0000000000f1'

-- Tenant B has one contact (it must never be touched from A).
SET ROLE crm_merge_admin;
SET crm.organization_id = :'org_b';
INSERT INTO crm.contact (id, last_name, email) VALUES (:'cb', 'Bystander', 'b@b.example');

-- Tenant A: users and teams, a small account hierarchy, three contacts who
-- are the same person (c1 survivor, c2 and c3 victims), one deleted contact
-- (c4) and one contact held by a frozen user row (c5), their activities,
-- notes, an attachment, a converted lead, list memberships, subscriptions.
SET crm.organization_id = :'org_a';
INSERT INTO crm.app_user (id, name, email) VALUES
	(:'u1', 'Uma Owner', 'uma@a.example'),
	(:'u2', 'Ulf Seller', 'ulf@a.example'),
	(:'u3', 'Ulf Seller (old login)', 'ulf.old@a.example');
UPDATE crm.app_user SET title = 'Account Executive' WHERE id = :'u3';
INSERT INTO crm.team (id, name, manager_id) VALUES (:'t1', 'East', :'u3'), (:'t2', 'West', :'u1');
INSERT INTO crm.team_member (team_id, user_id) VALUES (:'t1', :'u2'), (:'t1', :'u3'), (:'t2', :'u3');
INSERT INTO crm.custom_field (entity, name, label, field_type) VALUES
	('contact', 'tier', 'Tier', 'text'), ('contact', 'source', 'Source', 'text');
INSERT INTO crm.account (id, name, annual_revenue, domain, owner_id) VALUES
	(:'acc2', 'Acme Corporation', 5000000, 'acme.example', :'u3');
INSERT INTO crm.account (id, name, parent_account_id, owner_id) VALUES
	(:'acc1', 'Acme', :'acc2', :'u1'),
	(:'acc3', 'Acme Europe', :'acc2', :'u3');
INSERT INTO crm.contact (id, account_id, first_name, last_name, email, phone, mobile, title, birthday, tags, custom_fields, owner_id) VALUES
	(:'c1', :'acc1', 'Ann', 'Smith', NULL, '+1 415 555 0100', NULL, 'CTO', NULL, '{vip}', '{"tier": "gold"}', :'u1'),
	(:'c2', :'acc2', 'Ann', 'Smith', 'ann@acme.example', '+1 415 555 0199', '+1 415 555 0142', NULL, NULL, '{vip,tech}', '{"tier": "silver", "source": "fair"}', :'u2'),
	(:'c3', :'acc2', 'Anne', 'Smith', 'ann.smith@acme.example', NULL, NULL, 'Chief Technology Officer', '1980-02-29', '{board}', '{}', :'u3'),
	(:'c4', NULL, 'Ann', 'Smith', 'ann@old.example', NULL, NULL, NULL, NULL, '{}', '{}', NULL),
	(:'c5', NULL, 'Ann', 'Smith', 'ann@frozen.example', NULL, NULL, NULL, NULL, '{}', '{}', NULL);
UPDATE crm.contact SET deleted_at = now() WHERE id = :'c4';
INSERT INTO crm.activity (type, subject, contact_id, account_id, owner_id) VALUES
	('call', 'intro call', :'c1', :'acc1', :'u1'),
	('email', 'proposal', :'c2', :'acc2', :'u3'),
	('meeting', 'demo', :'c2', :'acc2', :'u2'),
	('call', 'follow-up', :'c3', :'acc3', :'u3'),
	('call', 'frozen call', :'c5', NULL, NULL);
INSERT INTO crm.note (body, contact_id) VALUES ('met at the fair', :'c2'), ('prefers email', :'c3');
INSERT INTO crm.note (body, account_id) VALUES ('group deal', :'acc2');
INSERT INTO crm.attachment (file_name, size_bytes, storage_key, contact_id) VALUES ('card.png', 1200, 's3://a/card.png', :'c3');
INSERT INTO crm.lead (id, last_name, email, status, converted_at, converted_contact_id, converted_account_id) VALUES
	(:'l1', 'Smith', 'ann@acme.example', 'converted', now(), :'c3', :'acc2');
INSERT INTO crm.lead (id, first_name, last_name, company, phone) VALUES
	(:'l2', 'Ann', 'Smith', 'Acme', '+1 415 555 0100');
INSERT INTO crm.activity (type, subject, lead_id) VALUES ('call', 'lead call', :'l1');
INSERT INTO merge_app.list_member VALUES
	(:'org_a', 1, :'c1'), (:'org_a', 1, :'c2'),		-- c2's row collides with the survivor's
	(:'org_a', 2, :'c2'), (:'org_a', 2, :'c3'),		-- both victims: the first victim's row wins
	(:'org_a', 3, :'c3');							-- moves
INSERT INTO merge_app.subscription VALUES
	(:'org_a', 'News', :'c1', NULL), (:'org_a', 'news', :'c2', NULL),	-- collides (lower(topic))
	(:'org_a', 'news', :'c3', now() - interval '1 day'),					-- deleted: outside the index, moves
	(:'org_a', 'Events', :'c3', NULL);										-- moves
INSERT INTO merge_app.frozen VALUES (:'org_a', :'c5', true);
RESET ROLE;

-- Every row of every table (crm and merge_app) that references a contact,
-- counted by the contact it points at: computed from the catalog here, not
-- with crm.merge's own helpers.
CREATE TEMP VIEW contact_refs AS
SELECT k.conrelid::regclass::text AS ref_table, a.attname AS ref_column, x.target, x.n
  FROM pg_constraint k
  JOIN pg_attribute a ON a.attrelid = k.conrelid
	   AND a.attnum = k.conkey[array_position(k.confkey, (SELECT attnum FROM pg_attribute WHERE attrelid = 'crm.contact'::regclass AND attname = 'id'))]
  CROSS JOIN LATERAL (
	SELECT (xpath('/row/t/text()', r))[1]::text AS target, (xpath('/row/n/text()', r))[1]::text::int AS n
	  FROM unnest(xpath('/table/row', query_to_xml(format(
		'SELECT %1$I::text AS t, count(*) AS n FROM %2$s WHERE organization_id = %3$L AND %1$I IS NOT NULL GROUP BY 1',
		a.attname, k.conrelid::regclass, '4d000000-0000-7000-8000-00000000000a'), false, false, ''))) r) x
 WHERE k.contype = 'f' AND k.confrelid = 'crm.contact'::regclass;
CREATE TEMP TABLE refs_before AS SELECT * FROM contact_refs;
SELECT ref_table, ref_column,
	   replace(target, '4d000000-0000-7000-8000-0000000000', '') AS target, n
  FROM refs_before ORDER BY 1, 2, 3;

-- ---------------------------------------------------------------------------
-- Refusals.  Each leaves everything as it was (checked after the list).
-- ---------------------------------------------------------------------------
SET ROLE crm_merge_admin;
-- not a crm tenant table
SELECT crm.merge('merge_app.list_member', :'c1', ARRAY[:'c2']::uuid[]);
SELECT crm.merge('pg_class', :'c1', ARRAY[:'c2']::uuid[]);
-- bad id lists
SELECT crm.merge('crm.contact', :'c1', ARRAY[]::uuid[]);
SELECT crm.merge('crm.contact', :'c1', NULL);
SELECT crm.merge('crm.contact', NULL, ARRAY[:'c2']::uuid[]);
SELECT crm.merge('crm.contact', :'c1', ARRAY[:'c2', NULL]::uuid[]);
SELECT crm.merge('crm.contact', :'c1', ARRAY[:'c2', :'c1']::uuid[]);
SELECT crm.merge('crm.contact', :'c1', ARRAY[:'c2', :'c3', :'c2']::uuid[]);
-- a victim of another tenant is simply not found here (never touched)
SELECT crm.merge('crm.contact', :'c1', ARRAY[:'c2', :'cb']::uuid[]);
-- a deleted victim
SELECT crm.merge('crm.contact', :'c1', ARRAY[:'c2', :'c4']::uuid[]);
-- bad field choices
SELECT crm.merge('crm.contact', :'c1', ARRAY[:'c2']::uuid[], '{"nickname": null}');
SELECT crm.merge('crm.contact', :'c1', ARRAY[:'c2']::uuid[], '{"id": null}');
SELECT crm.merge('crm.contact', :'c1', ARRAY[:'c2']::uuid[], '{"search_vector": null}');
SELECT crm.merge('crm.contact', :'c1', ARRAY[:'c2']::uuid[], jsonb_build_object('title', :'c3'));
SELECT crm.merge('crm.contact', :'c1', ARRAY[:'c2']::uuid[], '{"title": 42}');
SELECT crm.merge('crm.contact', :'c1', ARRAY[:'c2']::uuid[], '[]');
-- A failure half-way: c5's activity is re-pointed first (crm sorts before
-- merge_app), then the frozen row refuses to change.  The whole merge is
-- rolled back, the activity still points at c5.
SELECT crm.merge('crm.contact', :'c1', ARRAY[:'c5']::uuid[]);
-- The same inside an explicit transaction: the caller's transaction is
-- aborted, nothing was caught and continued.
BEGIN;
SELECT crm.merge('crm.contact', :'c1', ARRAY[:'c5']::uuid[]);
SELECT 1;
ROLLBACK;
-- Acting for tenant B, A's records do not exist.
SET crm.organization_id = :'org_b';
SELECT crm.merge('crm.contact', :'cb', ARRAY[:'c2']::uuid[]);
SELECT crm.merge('crm.contact', :'c1', ARRAY[:'cb']::uuid[]);
RESET ROLE;
-- A read-only role may not merge (a merge locks and updates the records).
SET ROLE crm_merge_reader;
SET crm.organization_id = :'org_a';
SELECT crm.merge('crm.contact', :'c1', ARRAY[:'c2']::uuid[]);
RESET ROLE;

-- Nothing changed: the same references, no contact deleted or updated, no
-- MERGE entry, no event.
SELECT count(*) AS changed_refs
  FROM ((TABLE refs_before EXCEPT TABLE contact_refs) UNION ALL (TABLE contact_refs EXCEPT TABLE refs_before)) d;
SELECT id, deleted_at IS NOT NULL AS deleted, updated_at = created_at AS untouched
  FROM crm.contact WHERE organization_id IN (:'org_a', :'org_b') ORDER BY id;
SELECT count(*) AS merge_entries FROM crm.audit_log WHERE organization_id IN (:'org_a', :'org_b') AND action = 'MERGE';
SELECT count(*) AS merge_events FROM crm.outbox WHERE organization_id IN (:'org_a', :'org_b') AND event_type LIKE '%.merged';

-- ---------------------------------------------------------------------------
-- Merging contacts c2 and c3 into c1.  The title is taken from c3 by
-- choice; everything else empty in c1 comes from the first victim that has
-- it (email, mobile from c2; birthday from c3); c1's own values stay (phone,
-- first name); tags are united, custom fields merged (c1's keys win, then
-- c2's over c3's).
-- ---------------------------------------------------------------------------
SET ROLE crm_merge_admin;
SET crm.organization_id = :'org_a';
SET crm.user_id = :'u1';
SELECT jsonb_pretty(crm.merge('crm.contact', :'c1', ARRAY[:'c2', :'c3']::uuid[],
							  jsonb_build_object('title', :'c3', 'first_name', NULL))) AS summary;
RESET crm.user_id;
RESET ROLE;

-- References after the merge, per table and column: every live reference
-- to c2/c3 now points at c1 (activities, notes, the attachment, the lead's
-- converted_contact_id, list members, subscriptions).  What still points at
-- a victim is exactly the collisions: the list member rows were deleted (no
-- deleted_at), the subscription row stays with c2, soft-deleted.
SELECT ref_table, ref_column,
	   replace(target, '4d000000-0000-7000-8000-0000000000', '') AS target, n
  FROM contact_refs ORDER BY 1, 2, 3;
SELECT list_id, replace(contact_id::text, '4d000000-0000-7000-8000-0000000000', '') AS contact
  FROM merge_app.list_member ORDER BY 1, 2;
SELECT topic, replace(subscriber::text, '4d000000-0000-7000-8000-0000000000', '') AS subscriber, deleted_at IS NOT NULL AS deleted
  FROM merge_app.subscription ORDER BY 1, 2, 3;

-- The survivor's fields, and the victims soft-deleted with their data.
SELECT replace(id::text, '4d000000-0000-7000-8000-0000000000', '') AS id, first_name, email, phone, mobile, title, birthday, tags, custom_fields,
	   deleted_at IS NOT NULL AS deleted
  FROM crm.contact WHERE id IN (:'c1', :'c2', :'c3') ORDER BY id;

-- The audit log explains the merge: one entry per victim (merged into c1)
-- and one for the survivor (the fields before and after, the victims, the
-- re-pointed and removed references), written as the calling role with the
-- acting user.
SELECT replace(row_id::text, '4d000000-0000-7000-8000-0000000000', '') AS row_id, action,
	   actor_id = :'u1' AS by_u1, db_role, old_values,
	   new_values - '_merge' - 'deleted_at' AS new_values,
	   new_values ? 'deleted_at' AS records_deletion,
	   new_values -> '_merge' -> 'repointed' AS repointed
  FROM crm.audit_log WHERE organization_id = :'org_a' AND action = 'MERGE' ORDER BY row_id;
-- ... and an event tells the outside.
SELECT event_type, entity, replace(entity_id::text, '4d000000-0000-7000-8000-0000000000', '') AS entity_id,
	   payload -> 'victims' AS victims
  FROM crm.outbox WHERE organization_id = :'org_a' AND event_type LIKE '%.merged';
-- Tenant B's contact was never touched.
SELECT last_name, updated_at = created_at AS untouched, deleted_at IS NULL AS live FROM crm.contact WHERE id = :'cb';

-- A victim is merged once: merging it again finds it deleted.
SET ROLE crm_merge_admin;
SELECT crm.merge('crm.contact', :'c1', ARRAY[:'c2']::uuid[]);

-- ---------------------------------------------------------------------------
-- Accounts: acc2 (the parent) into acc1 (its child).  The survivor cannot
-- become its own parent: it takes acc2's parent (none).  acc3 moves under
-- acc1; contacts, activities, the note and the lead's converted account move
-- too; acc1 gets acc2's revenue and domain.
-- ---------------------------------------------------------------------------
SELECT jsonb_pretty(crm.merge('crm.account', :'acc1', ARRAY[:'acc2']::uuid[]) - 'survivor' - 'victims' - 'entity') AS summary;
SELECT replace(id::text, '4d000000-0000-7000-8000-0000000000', '') AS id, name,
	   replace(parent_account_id::text, '4d000000-0000-7000-8000-0000000000', '') AS parent,
	   annual_revenue, domain, deleted_at IS NOT NULL AS deleted
  FROM crm.account ORDER BY id;
SELECT count(*) FILTER (WHERE account_id = :'acc2') AS at_acc2, count(*) FILTER (WHERE account_id = :'acc1') AS at_acc1
  FROM crm.activity;
SELECT replace(converted_account_id::text, '4d000000-0000-7000-8000-0000000000', '') AS converted_account FROM crm.lead WHERE id = :'l1';

-- ---------------------------------------------------------------------------
-- Users: u3 (an old login) into u2.  team_member (team, user) is unique: u3's
-- membership of East collides with u2's and is deleted (the table has no
-- deleted_at); West moves.  Ownerships and the team manager move too.
-- ---------------------------------------------------------------------------
SELECT jsonb_pretty(crm.merge('crm.app_user', :'u2', ARRAY[:'u3']::uuid[]) - 'survivor' - 'victims' - 'entity') AS summary;
SELECT t.name AS team, u.name AS member FROM crm.team_member m JOIN crm.team t ON t.id = m.team_id JOIN crm.app_user u ON u.id = m.user_id
 WHERE m.organization_id = :'org_a' ORDER BY 1, 2;
SELECT name, title, deleted_at IS NOT NULL AS deleted FROM crm.app_user ORDER BY id;

-- ---------------------------------------------------------------------------
-- Leads: l1 (converted, with a call) into l2 (new).  Fields are filled column by column,
-- so l2 would get l1's converted_at but keep its status 'new', which the
-- lead_converted_consistent CHECK refuses: the merge fails as a whole and
-- nothing changes.  Choosing the status from l1 makes the record consistent.
-- ---------------------------------------------------------------------------
SELECT crm.merge('crm.lead', :'l2', ARRAY[:'l1']::uuid[]);
SELECT count(*) FILTER (WHERE deleted_at IS NULL) AS live_leads FROM crm.lead WHERE id IN (:'l1', :'l2');
SELECT crm.merge('crm.lead', :'l2', ARRAY[:'l1']::uuid[], jsonb_build_object('status', :'l1')) -> 'fields_filled' AS filled;
SELECT first_name, last_name, email, status, converted_at IS NOT NULL AS converted,
	   replace(converted_contact_id::text, '4d000000-0000-7000-8000-0000000000', '') AS converted_contact
  FROM crm.lead WHERE id = :'l2';
SELECT count(*) AS lead_activities FROM crm.activity WHERE lead_id = :'l2';
RESET ROLE;

-- MERGE entries cannot be forged, not even in one's own tenant (erasure
-- follows them: a made-up "merged_into" would pull a record into another
-- person's erasure).  Only crm.merge and crm.subject_erase reach the
-- audit-entry writer (src/owner_step.c); an application role cannot call
-- it, nor the merge's own two steps.
SET ROLE crm_merge_admin;
SELECT crm._audit_write('crm.contact', :'c1', 'MERGE', NULL, jsonb_build_object('merged_into', :'c2'));
SELECT crm._merge_record(jsonb_build_object('table', 'crm.contact'::regclass::oid, 'summary', '{}',
		'entries', jsonb_build_array(jsonb_build_object('row_id', :'c1', 'new_values', jsonb_build_object('merged_into', :'c2')))));
SELECT crm._merge_run('crm.contact', :'c1', ARRAY[:'c2']::uuid[], '{}');
RESET ROLE;
SET ROLE crm_merge_reader;
SELECT crm._audit_write('crm.contact', :'c1', 'MERGE', NULL, '{}');
RESET ROLE;
-- The writer's own checks stay (seen here by the owner): only MERGE and
-- ERASE entries, only for existing records of the current tenant, only in
-- audited tables.
SELECT crm._audit_write('crm.contact', :'c1', 'UPDATE', NULL, '{"last_name": "forged"}');
SELECT crm._audit_write('crm.contact', :'cb', 'MERGE', NULL, '{}');
SELECT crm._audit_write('crm.outbox', :'c1', 'MERGE', NULL, '{}');
SELECT count(*) AS forged_merge_entries FROM crm.audit_log
 WHERE row_id = :'c1' AND action = 'MERGE' AND new_values ->> 'merged_into' = :'c2';
-- ... and application roles still cannot write the audit log directly.
SET ROLE crm_merge_admin;
INSERT INTO crm.audit_log (table_name, row_id, action) VALUES ('contact', :'c1', 'MERGE');
RESET ROLE;
RESET crm.organization_id;
DROP SCHEMA merge_app CASCADE;
