-- Privacy: crm.pii_column says which columns hold personal data (crm's own
-- and the user's); crm.subject_export(email) gathers everything the current
-- organization holds about a person, crm.subject_erase(email, reason)
-- anonymises it -- records, their audit entries, outbox events -- keeping
-- everything non-personal, and leaves a proof in crm.erasure_log that holds
-- no personal data.
\set VERBOSITY terse
SET client_min_messages = warning;

\set org_a '9a000000-0000-7000-8000-00000000000a'
\set org_b '9a000000-0000-7000-8000-00000000000b'
INSERT INTO crm.organization (id, name) VALUES (:'org_a', 'Privacy A'), (:'org_b', 'Privacy B');
DROP ROLE IF EXISTS crm_privacy_admin;
DROP ROLE IF EXISTS crm_privacy_reader;
CREATE ROLE crm_privacy_admin;
CREATE ROLE crm_privacy_reader;
SELECT crm.grant_access('crm_privacy_admin', 'admin');
SELECT crm.grant_access('crm_privacy_reader', 'readonly');

-- crm's own personal-data columns come with the extension.
SELECT schema_name, table_name, string_agg(column_name || ':' || kind || CASE WHEN is_subject_key THEN '(key)' ELSE '' END, ', ' ORDER BY column_name) AS columns
  FROM crm.pii_column WHERE is_builtin GROUP BY 1, 2 ORDER BY 1, 2;

-- A user table of event attendees, registered as personal data: its email
-- identifies the subject, and its contact_id links it to a contact.
CREATE SCHEMA privacy_app;
CREATE TABLE privacy_app.attendee (
	id			uuid NOT NULL DEFAULT gen_random_uuid(),
	organization_id uuid NOT NULL,
	event		text NOT NULL,
	attendee_email text NOT NULL,
	badge_name	text,
	dietary_notes text,
	ticket_price numeric(10,2) NOT NULL,
	contact_id	uuid,
	PRIMARY KEY (organization_id, id),
	FOREIGN KEY (organization_id, contact_id) REFERENCES crm.contact (organization_id, id)
);
GRANT USAGE ON SCHEMA privacy_app TO crm_privacy_admin, crm_privacy_reader;
GRANT SELECT, INSERT, UPDATE ON privacy_app.attendee TO crm_privacy_admin;
GRANT SELECT ON privacy_app.attendee TO crm_privacy_reader;
INSERT INTO crm.pii_column (schema_name, table_name, column_name, kind, is_subject_key) VALUES
	('privacy_app', 'attendee', 'attendee_email', 'email', true),
	('privacy_app', 'attendee', 'badge_name', 'name', false),
	('privacy_app', 'attendee', 'dietary_notes', 'free_text', false),
	('privacy_app', 'attendee', 'contact_id', 'reference', false);
-- The catalog refuses nonsense.
INSERT INTO crm.pii_column (schema_name, table_name, column_name, kind) VALUES ('privacy_app', 'attendee', 'event', 'gossip');
INSERT INTO crm.pii_column (schema_name, table_name, column_name, kind, is_subject_key) VALUES ('privacy_app', 'attendee', 'event', 'name', true);
-- Only the user's rows are dumped (the extension recreates its own).
SELECT (SELECT extcondition[array_position(extconfig, 'crm.pii_column'::regclass)] FROM pg_extension WHERE extname = 'crm') AS dump_filter;

-- The person: Zelphina Quorrigan.  Tenant A knows her as a contact (her
-- address spelled in mixed case), as a converted lead, as an older duplicate
-- contact merged into her contact, as a contact whose address has changed
-- since (the old one is in the audit history), and as an event attendee; she
-- has activities, a note on an activity and an attachment.  Tenant B knows
-- her too (never touched by A's erasure).  Someone else (Other Person) must
-- stay as they are.
\set acc '9a000000-0000-7000-8000-0000000000a1'
\set zc '9a000000-0000-7000-8000-0000000000c1'
\set zc_old '9a000000-0000-7000-8000-0000000000c2'
\set zc_moved '9a000000-0000-7000-8000-0000000000c3'
\set zc_gone '9a000000-0000-7000-8000-0000000000c4'
\set other '9a000000-0000-7000-8000-0000000000c9'
\set zl '9a000000-0000-7000-8000-0000000000d1'
\set za '9a000000-0000-7000-8000-0000000000e1'
SET ROLE crm_privacy_admin;
SET crm.organization_id = :'org_b';
INSERT INTO crm.contact (first_name, last_name, email, phone) VALUES ('Zelphina', 'Quorrigan', 'zelphina.q@quorrigan-mail.example', '+1 415 555 0199');
SET crm.organization_id = :'org_a';
INSERT INTO crm.account (id, name, annual_revenue) VALUES (:'acc', 'Quux Industries', 2500000);
INSERT INTO crm.custom_field (entity, name, label, field_type) VALUES ('contact', 'segment', 'Segment', 'text');
INSERT INTO crm.contact (id, account_id, first_name, last_name, email, phone, mobile, birthday, social_profiles, mailing_address, description, custom_fields) VALUES
	(:'zc', :'acc', 'Zelphina', 'Quorrigan', 'Zelphina.Q@Quorrigan-Mail.example', '+1 415 555 0199', '+1 415 555 0198', '1984-05-06',
	 '{"linkedin": "zquorrigan"}', '{"street": "1 Quorrigan Way", "city": "Springfield"}', 'Zelphina prefers mornings', '{"segment": "enterprise"}'),
	(:'zc_old', :'acc', 'Zelfina', 'Quorrigan', 'zq@old-quorrigan.example', NULL, NULL, NULL, '{}', NULL, NULL, '{}'),
	(:'zc_moved', NULL, 'Zelphina', 'Quorrigan-Smith', 'zelphina@new-quorrigan.example', NULL, NULL, NULL, '{}', NULL, NULL, '{}'),
	(:'other', :'acc', 'Other', 'Person', 'other.person@example.com', '+1 212 555 0100', NULL, NULL, '{}', NULL, 'a loyal customer', '{}');
INSERT INTO crm.lead (id, first_name, last_name, email, phone, company, status, converted_at, converted_contact_id, converted_account_id) VALUES
	(:'zl', 'Zelphina', 'Quorrigan', 'ZELPHINA.Q@quorrigan-mail.example', '+1 415 555 0199', 'Quux Industries', 'converted', now(), :'zc', :'acc');
INSERT INTO crm.activity (id, type, subject, body, contact_id, account_id, duration_minutes) VALUES
	(:'za', 'call', 'Call with Zelphina', 'Zelphina asked for a quote', :'zc', :'acc', 30);
INSERT INTO crm.activity (type, subject, contact_id, account_id, duration_minutes) VALUES
	('meeting', 'Quorrigan on site', :'zc', :'acc', 90),
	('email', 'Quote for Quux', :'zc_old', :'acc', NULL),
	('call', 'Call with Other', :'other', :'acc', 10);
-- the old record's email activity is re-pointed by the merge (a new
-- reference to a merged-away record is refused)
SELECT crm.merge('crm.contact', :'zc', ARRAY[:'zc_old']::uuid[]) -> 'victims' AS merged;
INSERT INTO crm.activity (type, subject, lead_id) VALUES ('email', 'Welcome Zelphina', :'zl');
INSERT INTO crm.note (body, activity_id) VALUES ('Zelphina will call back on 415 555 0199', :'za');
INSERT INTO crm.note (body, contact_id) VALUES ('Other Person likes golf', :'other');
INSERT INTO crm.attachment (file_name, size_bytes, storage_key, contact_id) VALUES ('zelphina_quorrigan_cv.pdf', 48000, 's3://a/9f1c.pdf', :'zc');
INSERT INTO privacy_app.attendee (organization_id, event, attendee_email, badge_name, dietary_notes, ticket_price, contact_id) VALUES
	(:'org_a', 'Summit', 'zelphina.q@quorrigan-mail.example', 'Zel Quorrigan', 'vegan', 250, NULL),
	(:'org_a', 'Expo', 'zq@old-quorrigan.example', 'Z. Quorrigan', NULL, 100, :'zc'),
	(:'org_a', 'Summit', 'other.person@example.com', 'Other Person', NULL, 250, :'other');
RESET ROLE;

-- Besides the audit trigger's own entries, some are added here as the
-- superuser to cover cases the set-up above does not produce: the insert of her contact (whole row,
-- including the generated search vector), the change of zc_moved's address
-- away from hers, and the delete of a contact (zc_gone) that no longer
-- exists -- plus an entry about Other Person, which must stay.
INSERT INTO crm.audit_log (organization_id, table_name, row_id, action, old_values, new_values, seq)
SELECT v.*, coalesce((SELECT max(l.seq) FROM crm.audit_log l
					   WHERE l.organization_id = v.o AND l.table_name = v.t AND l.row_id = v.r), 0) + 1
  FROM (VALUES
	(:'org_a'::uuid, 'contact', :'zc'::uuid, 'INSERT', NULL::jsonb,
	 '{"first_name": "Zelphina", "last_name": "Quorrigan", "email": "Zelphina.Q@Quorrigan-Mail.example", "phone": "+1 415 555 0199", "search_vector": "''zelphina'':1A ''quorrigan'':2A", "account_id": "9a000000-0000-7000-8000-0000000000a1"}'::jsonb),
	(:'org_a', 'contact', :'zc_moved', 'UPDATE', '{"email": "zelphina.q@quorrigan-mail.example"}', '{"email": "zelphina@new-quorrigan.example"}'),
	(:'org_a', 'contact', :'zc_gone', 'DELETE', '{"first_name": "Zelphina", "last_name": "Quorrigan", "email": "zelphina.q@quorrigan-mail.example"}', NULL),
	(:'org_a', 'contact', :'other', 'UPDATE', '{"phone": null}', '{"phone": "+1 212 555 0100"}')) AS v(o, t, r, a, ov, nv);

-- ---------------------------------------------------------------------------
-- Export: every record about her, per table, and their audit entries.  The
-- address matches whatever its case; the merged duplicate, the contact that
-- used her address before, the converted lead, the activities, the note on
-- an activity, the attachment and the user's attendee rows are all there.
-- ---------------------------------------------------------------------------
SET ROLE crm_privacy_admin;
SET crm.organization_id = :'org_a';
SELECT crm.subject_export('zelphina.q@QUORRIGAN-MAIL.example') AS doc \gset
SELECT key AS "table", jsonb_array_length(value) AS records FROM jsonb_each(:'doc'::jsonb -> 'records') ORDER BY 1;
SELECT jsonb_array_length(:'doc'::jsonb -> 'audit_log') AS audit_entries,
	   (:'doc'::jsonb) #>> '{records,crm.contact,0,first_name}' AS first_name,
	   (:'doc'::jsonb) #>> '{records,crm.attachment,0,storage_key}' AS file_to_delete,
	   (:'doc'::jsonb)::text LIKE '%Other Person%' AS mentions_other_person,
	   (:'doc'::jsonb) ->> 'organization_id' = :'org_a' AS own_tenant;
-- Tenant B's export knows only B's contact.
SET crm.organization_id = :'org_b';
SELECT key AS "table", jsonb_array_length(value) AS records
  FROM jsonb_each(crm.subject_export('zelphina.q@quorrigan-mail.example') -> 'records') ORDER BY 1;
-- An address nobody has gives an empty document.
SET crm.organization_id = :'org_a';
SELECT crm.subject_export('nobody@nowhere.example') -> 'records' AS records;
SELECT crm.subject_export('  ');
RESET ROLE;

-- ---------------------------------------------------------------------------
-- Before erasing: the non-personal facts that must survive it.
-- ---------------------------------------------------------------------------
CREATE TEMP TABLE facts_before AS
SELECT (SELECT count(*) FROM crm.activity WHERE organization_id = :'org_a') AS activities,
	   (SELECT sum(duration_minutes) FROM crm.activity WHERE organization_id = :'org_a') AS minutes,
	   (SELECT string_agg(type || '@' || activity_at || '/' || coalesce(contact_id::text, '') || '/' || coalesce(account_id::text, ''), ',' ORDER BY id)
		  FROM crm.activity WHERE organization_id = :'org_a') AS activity_facts,
	   (SELECT annual_revenue FROM crm.account WHERE id = :'acc') AS revenue,
	   (SELECT sum(ticket_price) FROM privacy_app.attendee) AS ticket_revenue,
	   (SELECT count(*) FROM crm.contact WHERE organization_id = :'org_a') AS contacts,
	   (SELECT row(c.*)::text FROM crm.contact c WHERE id = :'other') AS other_contact,
	   (SELECT string_agg(row(a.*)::text, ',') FROM privacy_app.attendee a WHERE attendee_email LIKE 'other%') AS other_attendee,
	   (SELECT string_agg(row(l.*)::text, ',' ORDER BY l.id) FROM crm.audit_log l WHERE organization_id = :'org_a' AND row_id = :'other') AS other_audit;

-- Refusals: a read-only role cannot erase; a reason is required.
SET ROLE crm_privacy_reader;
SELECT crm.subject_erase('zelphina.q@quorrigan-mail.example', 'request 7');
RESET ROLE;
SET ROLE crm_privacy_admin;
SELECT crm.subject_erase('zelphina.q@quorrigan-mail.example', ' ');

-- ---------------------------------------------------------------------------
-- Erase.  The result counts the records anonymised per table and the audit
-- entries scrubbed.
-- ---------------------------------------------------------------------------
SELECT crm.subject_erase('Zelphina.Q@quorrigan-mail.example', 'GDPR request 2024-117') AS result \gset
SELECT key AS "table", value AS anonymised FROM jsonb_each(:'result'::jsonb -> 'records') ORDER BY 1;

-- What her records look like now: names 'erased', addresses replaced by a
-- per-record placeholder that still passes the email check, phones, birthday,
-- address and free text gone; contacts, leads soft-deleted; links kept.
SELECT replace(id::text, '9a000000-0000-7000-8000-0000000000', '') AS id, first_name, last_name, email, phone, mobile, birthday,
	   social_profiles, mailing_address, description, custom_fields, account_id IS NOT NULL AS has_account, deleted_at IS NOT NULL AS deleted
  FROM crm.contact WHERE organization_id = :'org_a' ORDER BY id;
SELECT first_name, last_name, email, phone, company, status, replace(converted_contact_id::text, '9a000000-0000-7000-8000-0000000000', '') AS converted_contact
  FROM crm.lead WHERE id = :'zl';
SELECT type, subject, body, duration_minutes FROM crm.activity WHERE organization_id = :'org_a' ORDER BY id;
SELECT body FROM crm.note WHERE organization_id = :'org_a' ORDER BY id;
SELECT file_name, storage_key FROM crm.attachment WHERE organization_id = :'org_a';
SELECT event, attendee_email LIKE 'erased+%@erased.invalid' AS placeholder, badge_name, dietary_notes, ticket_price FROM privacy_app.attendee ORDER BY event, ticket_price;
RESET ROLE;

-- Nothing personal is left in tenant A: every text-like column (text,
-- varchar, jsonb, tsvector, arrays...) of every table in schema crm and of
-- the user's table is searched for her names, addresses and phone digits.
-- Tenant B's copy is found, so the search does find what is there.
CREATE TEMP TABLE hits AS
SELECT c.oid::regclass::text AS tbl, a.attname AS col, x.org, x.n
  FROM pg_class c
  JOIN pg_namespace ns ON ns.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  JOIN pg_type t ON t.oid = a.atttypid
  CROSS JOIN LATERAL (
	SELECT (xpath('/row/o/text()', r))[1]::text AS org, (xpath('/row/n/text()', r))[1]::text::int AS n
	  FROM unnest(xpath('/table/row', query_to_xml(format(
		'SELECT %s AS o, count(*) AS n FROM %s WHERE %I::text ~* %L GROUP BY 1',
		CASE WHEN EXISTS (SELECT 1 FROM pg_attribute o WHERE o.attrelid = c.oid AND o.attname = 'organization_id')
			 THEN 'organization_id::text' ELSE '''global''' END,
		c.oid::regclass, a.attname, 'zelphina|zelfina|quorrigan|4155550199|415 555 0199|415 555 0198|zq@old'), false, false, ''))) r) x
 WHERE ns.nspname IN ('crm', 'privacy_app') AND c.relkind = 'r'
   AND (t.typcategory IN ('S', 'A') OR t.typname IN ('json', 'jsonb', 'tsvector'));
SELECT tbl, col, CASE org WHEN :'org_a' THEN 'A' WHEN :'org_b' THEN 'B' ELSE org END AS org, n
  FROM hits WHERE org IN (:'org_a', :'org_b', 'global') ORDER BY 3, 1, 2;

-- Non-personal data is intact: the activity count, durations, dates and
-- links, the account's revenue, ticket revenue, the number of contacts, and
-- everything about Other Person (record, attendee row, audit entries).
SELECT b.activities = n.activities AS activities_same, b.minutes = n.minutes AS minutes_same,
	   b.activity_facts = n.activity_facts AS activity_facts_same, n.revenue, b.revenue = n.revenue AS revenue_same,
	   b.ticket_revenue = n.ticket_revenue AS tickets_same, b.contacts = n.contacts AS contacts_same,
	   b.other_contact = n.other_contact AS other_contact_same, b.other_attendee = n.other_attendee AS other_attendee_same,
	   b.other_audit = n.other_audit AS other_audit_same
  FROM facts_before b,
	   (SELECT (SELECT count(*) FROM crm.activity WHERE organization_id = :'org_a') AS activities,
			   (SELECT sum(duration_minutes) FROM crm.activity WHERE organization_id = :'org_a') AS minutes,
			   (SELECT string_agg(type || '@' || activity_at || '/' || coalesce(contact_id::text, '') || '/' || coalesce(account_id::text, ''), ',' ORDER BY id)
				  FROM crm.activity WHERE organization_id = :'org_a') AS activity_facts,
			   (SELECT annual_revenue FROM crm.account WHERE id = :'acc') AS revenue,
			   (SELECT sum(ticket_price) FROM privacy_app.attendee) AS ticket_revenue,
			   (SELECT count(*) FROM crm.contact WHERE organization_id = :'org_a') AS contacts,
			   (SELECT row(c.*)::text FROM crm.contact c WHERE id = :'other') AS other_contact,
			   (SELECT string_agg(row(a.*)::text, ',') FROM privacy_app.attendee a WHERE attendee_email LIKE 'other%') AS other_attendee,
			   (SELECT string_agg(row(l.*)::text, ',' ORDER BY l.id) FROM crm.audit_log l WHERE organization_id = :'org_a' AND row_id = :'other') AS other_audit) n;

-- The audit log: her entries keep their shape with the values scrubbed,
-- and an ERASE entry per record names the erasure and the columns, never
-- the values.
-- (The trigger's own entries are there too; their time stamps are shown as
-- <time> so the output is stable.)
CREATE FUNCTION pg_temp.stable(j jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
	SELECT jsonb_object_agg(k, CASE WHEN k IN ('created_at', 'updated_at', 'deleted_at') AND v <> 'null' THEN '"<time>"' ELSE v END)
	  FROM jsonb_each(j) e(k, v)
$$;
SELECT replace(row_id::text, '9a000000-0000-7000-8000-0000000000', '') AS row_id, action,
       pg_temp.stable(old_values) AS old_values, pg_temp.stable(new_values) AS new_values
  FROM crm.audit_log WHERE organization_id = :'org_a' AND table_name = 'contact' AND action IN ('INSERT', 'UPDATE', 'DELETE')
 ORDER BY row_id, id;
SELECT table_name, count(*) AS erase_entries, bool_and(new_values ->> 'erasure_id' = :'result'::jsonb ->> 'erasure_id') AS same_erasure
  FROM crm.audit_log WHERE organization_id = :'org_a' AND action = 'ERASE' GROUP BY 1 ORDER BY 1;

-- crm.history gives a record back as it was inserted (INSERT entries do not
-- repeat the row: it is read back from the row and the later entries).  For
-- the contact whose address had moved away before the erasure, every
-- personal value of that first state is "[erased]" and the address is
-- nowhere; the other person's contact comes back as it was inserted (without
-- the phone an update added later).
SET crm.organization_id = :'org_a';
SELECT x.r AS row_id, h.new_values ->> 'email' AS email, h.new_values ->> 'first_name' AS first_name,
	   h.new_values ->> 'last_name' AS last_name, h.new_values ? 'phone' AS has_phone,
	   h.new_values::text ~* 'zelphina|zelfina|quorrigan' AS holds_address
  FROM (VALUES ('c3', :'zc_moved'::uuid), ('c9', :'other'::uuid)) x(r, id),
	   crm.history('contact', x.id) h
 WHERE h.action = 'INSERT' ORDER BY 1;
RESET crm.organization_id;

-- The proof: one erasure record with the reason, the counts, the salted
-- hash (the organization id salts it: the same address in B gives another
-- hash) and no address.
SELECT reason, records = (:'result'::jsonb -> 'records') AS same_counts, db_role,
	   subject_hash = crm._subject_hash(:'org_a', 'zelphina.q@quorrigan-mail.example') AS hash_of_normalised_address,
	   subject_hash <> crm._subject_hash(:'org_b', 'zelphina.q@quorrigan-mail.example') AS salted_per_tenant,
	   row(e.*)::text ~* 'zelphina|quorrigan' AS holds_address
  FROM crm.erasure_log e WHERE organization_id = :'org_a';
-- A later request is matched by the address (any case), only in its tenant.
SET ROLE crm_privacy_admin;
SELECT count(*) AS found_again FROM crm.erasure_lookup('ZELPHINA.Q@quorrigan-mail.example');
SELECT crm.subject_export('zelphina.q@quorrigan-mail.example') -> 'records' AS export_after_erasure;
SET crm.organization_id = :'org_b';
SELECT count(*) AS found_in_b FROM crm.erasure_lookup('zelphina.q@quorrigan-mail.example');
SET crm.organization_id = :'org_a';

-- The proof cannot be forged or edited by application roles: the erasure
-- log is read-only, and its writer and the audit scrubber are reached only
-- through crm.subject_erase (src/owner_step.c), as are its two steps.
INSERT INTO crm.erasure_log (subject_hash, reason) VALUES (repeat('0', 64), 'forged');
UPDATE crm.erasure_log SET reason = 'edited';
SELECT crm._erasure_write(crm.uuid_v7(), 'other.person@example.com', 'forged', '{}');
SELECT crm._audit_scrub('crm.contact', ARRAY[:'other']::uuid[], 'other.person@example.com');
SELECT crm._subject_erase_record(jsonb_build_object('erasure_id', crm.uuid_v7(), 'subject_key', 'nobody@example.com',
															  'reason', 'forged', 'records', '{}', 'erase', '[]', 'scrub', '[]'));
SELECT crm._subject_erase_run('other.person@example.com', 'forged');
RESET ROLE;
-- The writers' own checks stay (seen here by the owner): no erasure record
-- while the address is still present, no scrub of records that were not
-- anonymised.
SELECT crm._erasure_write(crm.uuid_v7(), 'other.person@example.com', 'forged', '{}');
SELECT crm._audit_scrub('crm.contact', ARRAY[:'other']::uuid[], 'other.person@example.com');
RESET crm.organization_id;

-- crm.pii_column is global: remove this test's registrations with its table
-- (an entry naming a missing table makes every export and erasure fail,
-- rather than silently skip data).
DROP TABLE privacy_app.attendee;
SET ROLE crm_privacy_admin;
SET crm.organization_id = :'org_a';
SELECT crm.subject_export('x@example.com');
RESET ROLE;
DELETE FROM crm.pii_column WHERE schema_name = 'privacy_app';
SET ROLE crm_privacy_admin;
SELECT crm.subject_export('x@example.com') -> 'records' AS records;
RESET ROLE;
RESET crm.organization_id;
DROP SCHEMA privacy_app;
