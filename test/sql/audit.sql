-- crm.trg_audit and crm.history: every insert, update and delete of an
-- audited table leaves one crm.audit_log row, written even for roles that
-- cannot write the audit log themselves.
\pset null <null>

-- Two tenants, a CRM user in the first, and three database roles:
-- a 'user'-level and an 'admin'-level role for tenant A, a 'user' for B.
SELECT crm.create_organization('Audit Org A') AS org_a \gset
SELECT crm.create_organization('Audit Org B') AS org_b \gset
SET crm.organization_id = :'org_a';
INSERT INTO crm.app_user (name, email) VALUES ('Audit Alice', 'alice@audit.example')
RETURNING id AS alice \gset
CREATE ROLE audit_app_user;
CREATE ROLE audit_app_admin;
CREATE ROLE audit_app_other;
SELECT crm.grant_access('audit_app_user', 'user', ARRAY[:'org_a']::uuid[]);
SELECT crm.grant_access('audit_app_admin', 'admin', ARRAY[:'org_a']::uuid[]);
SELECT crm.grant_access('audit_app_other', 'user', ARRAY[:'org_b']::uuid[]);
-- (creating the CRM user was itself audited, as a system write)
SELECT table_name, action, actor_id IS NULL AS system_write, db_role
  FROM crm.audit_log WHERE organization_id = :'org_a';

-- ---------------------------------------------------------------------------
-- INSERT: one entry saying who inserted the record, when, as which role, in
-- which transaction; it does not repeat the row (old_values and new_values
-- are NULL).  crm.history gives the inserted row back in new_values: the
-- row's non-null columns, without the generated columns (search_vector, the
-- picklist list names) and the maintenance columns updated_at/updated_by,
-- exactly as to_jsonb renders it.
-- ---------------------------------------------------------------------------
SET ROLE audit_app_user;
SET crm.user_id = :'alice';
BEGIN;
INSERT INTO crm.contact (first_name, last_name, email, birthday, do_not_call, tags, social_profiles, mailing_address)
VALUES ('Ada', 'Lovelace', 'ada@audit.example', '1985-12-10', true, '{vip,math}',
		'{"x": "@ada", "links": [1, null, {"a": true}]}', '{"city": "London", "zip": null}')
RETURNING id AS ada \gset
SELECT action, table_name, row_id = :'ada' AS right_row, old_values IS NULL AS no_old,
	   new_values IS NULL AS row_not_repeated,
	   actor_id = :'alice' AS actor_is_user_id, db_role,
	   txid = pg_current_xact_id() AS this_txid, changed_at = now() AS at_txn_start
  FROM crm.audit_log WHERE row_id = :'ada';
COMMIT;
SELECT to_jsonb(c) - ARRAY(SELECT attname::text FROM pg_attribute WHERE attrelid = 'crm.contact'::regclass AND attgenerated <> '')
	   - 'updated_at' - 'updated_by' AS ada_inserted
  FROM crm.contact c WHERE c.id = :'ada' \gset
SELECT h.new_values = (SELECT jsonb_object_agg(j.key, j.value) FROM jsonb_each(:'ada_inserted'::jsonb) j
						WHERE j.value <> 'null') AS whole_row_as_to_jsonb,
	   h.new_values ?| ARRAY(SELECT attname::text FROM pg_attribute WHERE attrelid = 'crm.contact'::regclass AND attgenerated <> '') AS has_generated,
	   h.new_values ? 'deleted_at' AS has_null_column,
	   h.new_values ?| ARRAY['updated_at', 'updated_by'] AS has_maintenance,
	   h.new_values -> 'tags' AS tags,
	   h.new_values -> 'birthday' AS birthday,
	   h.new_values -> 'do_not_call' AS do_not_call,
	   h.new_values -> 'mailing_address' AS mailing_address
  FROM crm.history('contact', :'ada') h WHERE h.action = 'INSERT';

-- ---------------------------------------------------------------------------
-- UPDATE of two columns: old_values and new_values hold exactly those two
-- (updated_at/updated_by changed too, but they are maintenance, not news).
-- A column set to NULL shows as JSON null.
-- ---------------------------------------------------------------------------
UPDATE crm.contact SET title = 'Countess', email = NULL WHERE id = :'ada';
SELECT action, old_values, new_values,
	   ARRAY(SELECT jsonb_object_keys(old_values) ORDER BY 1) AS old_keys,
	   ARRAY(SELECT jsonb_object_keys(new_values) ORDER BY 1) AS new_keys
  FROM crm.audit_log WHERE row_id = :'ada' AND action = 'UPDATE';

-- An UPDATE that changes nothing (same values; updated_at still moves)
-- writes no entry.
SELECT count(*) AS entries_before FROM crm.audit_log WHERE row_id = :'ada';
UPDATE crm.contact SET title = 'Countess', first_name = 'Ada' WHERE id = :'ada';
SELECT count(*) AS entries_after FROM crm.audit_log WHERE row_id = :'ada';

-- Changing a jsonb and an array column records the new values as JSON.
UPDATE crm.contact SET tags = '{vip}', social_profiles = social_profiles || '{"y": 2}' WHERE id = :'ada';
SELECT old_values, new_values FROM crm.audit_log
 WHERE row_id = :'ada' AND action = 'UPDATE' ORDER BY id DESC LIMIT 1;

-- ---------------------------------------------------------------------------
-- A multi-row UPDATE statement writes one entry per changed row, each with
-- its own values; rows it did not change get none.
-- ---------------------------------------------------------------------------
INSERT INTO crm.contact (last_name, title)
SELECT 'Batch ' || g, 'T' || g FROM generate_series(1, 5) g;
UPDATE crm.contact SET title = 'T1' WHERE last_name LIKE 'Batch %';
SELECT c.last_name, a.old_values, a.new_values
  FROM crm.audit_log a JOIN crm.contact c ON c.organization_id = a.organization_id AND c.id = a.row_id
 WHERE a.action = 'UPDATE' AND c.last_name LIKE 'Batch %'
 ORDER BY c.last_name;

-- ---------------------------------------------------------------------------
-- The audit log cannot be written, changed or erased by an application
-- role: permission denied (SQLSTATE 42501), for the user and admin levels.
-- ---------------------------------------------------------------------------
\set VERBOSITY sqlstate
INSERT INTO crm.audit_log (table_name, row_id, action) VALUES ('contact', :'ada', 'DELETE');
UPDATE crm.audit_log SET actor_id = NULL WHERE row_id = :'ada';
DELETE FROM crm.audit_log WHERE row_id = :'ada';
SET ROLE audit_app_admin;
INSERT INTO crm.audit_log (table_name, row_id, action) VALUES ('contact', :'ada', 'DELETE');
UPDATE crm.audit_log SET actor_id = NULL WHERE row_id = :'ada';
DELETE FROM crm.audit_log WHERE row_id = :'ada';
\set VERBOSITY default

-- ---------------------------------------------------------------------------
-- DELETE (admin level): old_values is the whole row as it was.
-- ---------------------------------------------------------------------------
SELECT to_jsonb(c) - ARRAY(SELECT attname::text FROM pg_attribute WHERE attrelid = 'crm.contact'::regclass AND attgenerated <> '') AS ada_before FROM crm.contact c WHERE id = :'ada' \gset
DELETE FROM crm.contact WHERE id = :'ada';
SELECT action, db_role, new_values IS NULL AS no_new,
	   old_values = (SELECT jsonb_object_agg(j.key, j.value) FROM jsonb_each(:'ada_before'::jsonb) j
					  WHERE j.value <> 'null') AS whole_old_row
  FROM crm.audit_log WHERE row_id = :'ada' AND action = 'DELETE';

-- ---------------------------------------------------------------------------
-- crm.history(table, id): the timeline of one record, oldest first.
-- ---------------------------------------------------------------------------
SELECT action, db_role, actor_id = :'alice' AS by_alice,
	   ARRAY(SELECT jsonb_object_keys(coalesce(new_values, old_values)) ORDER BY 1) AS columns
  FROM crm.history('crm.contact', :'ada');
-- The INSERT entry's row comes back although the record is gone and was
-- changed five times: read backwards from its DELETE entry through the
-- UPDATE entries' old values, it is the row as inserted above.
SELECT new_values = (SELECT jsonb_object_agg(j.key, j.value) FROM jsonb_each(:'ada_inserted'::jsonb) j
					  WHERE j.value <> 'null') AS inserted_row_reconstructed
  FROM crm.history('crm.contact', :'ada') WHERE action = 'INSERT';

-- ---------------------------------------------------------------------------
-- Another tenant's session sees none of these entries.
-- ---------------------------------------------------------------------------
SET ROLE audit_app_other;
SET crm.organization_id = :'org_b';
SELECT count(*) AS visible_entries FROM crm.audit_log WHERE organization_id = :'org_a';
SELECT count(*) AS history_rows FROM crm.history('crm.contact', :'ada');
-- and it cannot switch to tenant A to look (the role is limited to B)
\set VERBOSITY sqlstate
SET crm.organization_id = :'org_a';
SELECT count(*) FROM crm.audit_log;
\set VERBOSITY default
RESET ROLE;

-- ---------------------------------------------------------------------------
-- A savepoint rolled back takes its audit entries with it.
-- ---------------------------------------------------------------------------
SET ROLE audit_app_user;
SET crm.organization_id = :'org_a';
BEGIN;
INSERT INTO crm.contact (last_name) VALUES ('Savepoint') RETURNING id AS sp \gset
SAVEPOINT s1;
UPDATE crm.contact SET title = 'gone' WHERE id = :'sp';
SELECT count(*) AS entries_inside FROM crm.audit_log WHERE row_id = :'sp';
ROLLBACK TO SAVEPOINT s1;
UPDATE crm.contact SET title = 'kept' WHERE id = :'sp';
COMMIT;
SELECT action, new_values->>'title' AS title FROM crm.history('crm.contact', :'sp');

-- Without crm.user_id the change is a system write: actor_id is NULL.
RESET crm.user_id;
UPDATE crm.contact SET title = 'system' WHERE id = :'sp';
SELECT action, actor_id IS NULL AS system_write, new_values
  FROM crm.history('crm.contact', :'sp') ORDER BY audit_id DESC LIMIT 1;
RESET ROLE;

-- ---------------------------------------------------------------------------
-- Restore mode (superuser only): loading rows writes no audit entries.
-- ---------------------------------------------------------------------------
SELECT count(*) AS entries_before FROM crm.audit_log WHERE organization_id = :'org_a';
SET crm.restoring = on;
INSERT INTO crm.contact (last_name) VALUES ('Restored') RETURNING id AS restored \gset
UPDATE crm.contact SET title = 'x' WHERE id = :'restored';
DELETE FROM crm.contact WHERE id = :'restored';
RESET crm.restoring;
SELECT count(*) AS entries_after FROM crm.audit_log WHERE organization_id = :'org_a';
SELECT count(*) AS entries_of_restored_row FROM crm.audit_log WHERE row_id = :'restored';
-- an application role cannot turn restore mode on
SET ROLE audit_app_user;
\set VERBOSITY sqlstate
SET crm.restoring = on;
\set VERBOSITY default
RESET ROLE;

-- ---------------------------------------------------------------------------
-- Type rendering matches to_jsonb: a scratch table in schema crm (the
-- audit trigger runs only on crm's own tables) with the audit triggers (as
-- crm._setup_tenant_table attaches them), one column per kind of type,
-- in a session time zone other than UTC.
-- ---------------------------------------------------------------------------
CREATE TYPE audit_mood AS ENUM ('calm', 'busy');
CREATE DOMAIN audit_short AS varchar(10);
CREATE TABLE crm.audit_types (
	organization_id uuid NOT NULL,
	id			uuid NOT NULL,
	n			numeric(18,2),
	n_free		numeric,
	i2			smallint,
	i4			integer,
	i8			bigint,
	f4			real,
	f8			double precision,
	b			boolean,
	d			date,
	ts			timestamp,
	tstz		timestamptz,
	j			jsonb,
	js			json,
	tags		text[],
	grid		integer[],
	ch			char(5),
	dom			audit_short,
	mood		audit_mood,
	iv			interval,
	u			uuid,
	big			text,
	CONSTRAINT audit_types_pkey PRIMARY KEY (organization_id, id) DEFERRABLE
);
CREATE TRIGGER crm_90_audit_insert AFTER INSERT ON crm.audit_types
	REFERENCING NEW TABLE AS crm_new FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_audit('audit_types');
CREATE TRIGGER crm_90_audit_update AFTER UPDATE ON crm.audit_types
	REFERENCING OLD TABLE AS crm_old NEW TABLE AS crm_new FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_audit('audit_types');
CREATE TRIGGER crm_90_audit_delete AFTER DELETE ON crm.audit_types
	REFERENCING OLD TABLE AS crm_old FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_audit('audit_types');
SET TimeZone = 'America/New_York';
INSERT INTO crm.audit_types VALUES
	(:'org_a', '00000000-0000-7000-8000-000000000001', 1234.50, 1e-20, -2, 2147483647, -9223372036854775808,
	 1.5, 0.1, false, '2024-02-29', '2024-02-29 13:14:15.123456', '2024-07-01 12:00:00+02',
	 '{"k": [1, 2.50, "x", null], "o": {}}', '{"b": 1, "a": [true]}', '{a,NULL,"c d"}',
	 '{{1,2},{3,NULL}}', 'ab', 'short', 'busy', '1 day 02:03:04', '00000000-0000-7000-8000-00000000abcd',
	 repeat('long text ', 20000)),
	(:'org_a', '00000000-0000-7000-8000-000000000002', NULL, 'NaN', NULL, NULL, NULL,
	 '-Infinity', 'NaN', true, 'infinity', '-infinity', 'infinity',
	 '"just a string"', '3', '{}', '{}', NULL, NULL, NULL, NULL, NULL, NULL),
	(:'org_a', '00000000-0000-7000-8000-000000000003', 0, 'Infinity', NULL, NULL, NULL,
	 1e30, 1e-10, NULL, NULL, NULL, NULL,
	 'null', 'null', '{"[x]"}', NULL, NULL, NULL, NULL, NULL, NULL, NULL);
-- The INSERT entries carry no values; the rows as the trigger renders them
-- are in the DELETE entries' old_values, checked at the end of this section.
SELECT row_id, old_values IS NULL AND new_values IS NULL AS insert_entry_empty
  FROM crm.audit_log WHERE table_name = 'audit_types' AND action = 'INSERT' ORDER BY row_id;

-- The 200,000-character text is stored compressed; updating another column,
-- or rewriting the text with the same content, does not report it changed.
UPDATE crm.audit_types SET b = NOT b, big = big || '' WHERE id = '00000000-0000-7000-8000-000000000001';
SELECT old_values, new_values FROM crm.audit_log
 WHERE table_name = 'audit_types' AND action = 'UPDATE';

-- Old and new rows are paired by primary key, not by the order they come
-- in: swapping the ids of two rows (a deferrable key allows it) pairs the
-- old row with id 2 with the new row with id 2.
UPDATE crm.audit_types SET id = CASE id WHEN '00000000-0000-7000-8000-000000000002' THEN '00000000-0000-7000-8000-000000000003'::uuid
									 ELSE '00000000-0000-7000-8000-000000000002'::uuid END
 WHERE id IN ('00000000-0000-7000-8000-000000000002', '00000000-0000-7000-8000-000000000003');
SELECT row_id, old_values ->> 'n_free' AS old_n_free, new_values ->> 'n_free' AS new_n_free,
	   ARRAY(SELECT jsonb_object_keys(new_values) ORDER BY 1) AS changed
  FROM crm.audit_log
 WHERE table_name = 'audit_types' AND action = 'UPDATE' AND old_values ? 'f8' ORDER BY row_id;

-- A key that really changes (possible only in a table without crm's stamp
-- trigger) is recorded as the old row under the old id and the new row under
-- the new id.
UPDATE crm.audit_types SET id = '00000000-0000-7000-8000-000000000009' WHERE id = '00000000-0000-7000-8000-000000000003';
SELECT row_id, old_values ->> 'n_free' AS old_n_free, new_values ->> 'n_free' AS new_n_free FROM crm.audit_log
 WHERE table_name = 'audit_types' AND action = 'UPDATE' AND (old_values IS NULL) <> (new_values IS NULL)
 ORDER BY row_id;

-- DELETE of several rows: one entry each, whose old_values is the row as
-- the trigger renders it: to_jsonb of the row without its SQL NULLs (a jsonb
-- or json column holding JSON null is not an SQL NULL: it stays).
CREATE TEMP TABLE audit_types_before AS SELECT * FROM crm.audit_types;
DELETE FROM crm.audit_types;
SELECT row_id, (old_values ->> 'b') AS b FROM crm.audit_log
 WHERE table_name = 'audit_types' AND action = 'DELETE' ORDER BY row_id;
SELECT t.id, a.old_values = (SELECT jsonb_object_agg(j.key, j.value) FROM jsonb_each(to_jsonb(t)) j
							  WHERE j.value <> 'null')
							|| CASE WHEN t.j IS NULL THEN '{}' ELSE jsonb_build_object('j', t.j) END
							|| CASE WHEN t.js IS NULL THEN '{}' ELSE jsonb_build_object('js', t.js) END
		 AS same_as_to_jsonb
  FROM audit_types_before t JOIN crm.audit_log a ON a.row_id = t.id AND a.table_name = 'audit_types' AND a.action = 'DELETE'
 ORDER BY t.id;
-- and what that looks like (the long text left out)
SELECT jsonb_pretty(old_values - 'big' - 'organization_id') FROM crm.audit_log
 WHERE table_name = 'audit_types' AND action = 'DELETE' ORDER BY row_id;
DROP TABLE audit_types_before;
RESET TimeZone;

-- ---------------------------------------------------------------------------
-- A large statement is written in batches: 12,000 rows, 12,000 entries.
-- ---------------------------------------------------------------------------
SET ROLE audit_app_user;
SET crm.user_id = :'alice';
INSERT INTO crm.contact (last_name, tags) SELECT 'Bulk ' || g, ARRAY['bulk'] FROM generate_series(1, 12000) g;
UPDATE crm.contact SET title = 'bulk' WHERE tags @> '{bulk}';
SELECT action, count(*), count(DISTINCT row_id) AS records, bool_and(actor_id = :'alice') AS by_alice
  FROM crm.audit_log a
 WHERE table_name = 'contact' AND row_id IN (SELECT id FROM crm.contact WHERE tags @> '{bulk}')
 GROUP BY action ORDER BY action;
RESET ROLE;

-- ---------------------------------------------------------------------------
-- Misuse is refused with a clear error: the trigger needs its transition
-- tables, fires per statement, and needs the uuid key columns.
-- ---------------------------------------------------------------------------
CREATE TABLE crm.audit_misuse (organization_id uuid, id uuid);
CREATE TRIGGER no_transition AFTER INSERT ON crm.audit_misuse
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_audit('audit_misuse');
INSERT INTO crm.audit_misuse VALUES (:'org_a', gen_random_uuid());
DROP TRIGGER no_transition ON crm.audit_misuse;
CREATE TRIGGER per_row AFTER INSERT ON crm.audit_misuse
	FOR EACH ROW EXECUTE FUNCTION crm.trg_audit('audit_misuse');
INSERT INTO crm.audit_misuse VALUES (:'org_a', gen_random_uuid());
DROP TRIGGER per_row ON crm.audit_misuse;
ALTER TABLE crm.audit_misuse ALTER COLUMN id TYPE text;
CREATE TRIGGER text_id AFTER INSERT ON crm.audit_misuse
	REFERENCING NEW TABLE AS crm_new FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_audit('audit_misuse');
INSERT INTO crm.audit_misuse VALUES (:'org_a', 'x');
DROP TABLE crm.audit_misuse;

-- ---------------------------------------------------------------------------
-- Order: seq numbers the entries of a record 1, 2, 3, ... in the order of
-- its changes, and crm.history orders by it (the rolled-back savepoint
-- above left no gap).  A record deleted and inserted again with the same id
-- goes on with its history.  (test/scripts/audit_order.sh checks the order
-- under concurrent writers.)
-- ---------------------------------------------------------------------------
SET crm.organization_id = :'org_a';
SELECT seq, action, new_values->>'title' AS title FROM crm.history('crm.contact', :'sp');
INSERT INTO crm.contact (last_name) VALUES ('Again') RETURNING id AS again \gset
DELETE FROM crm.contact WHERE id = :'again';
INSERT INTO crm.contact (id, last_name) VALUES (:'again', 'Again');
SELECT seq, action FROM crm.history('crm.contact', :'again');
-- Two entries cannot take the same place in a record's history.
\set VERBOSITY sqlstate
INSERT INTO crm.audit_log (table_name, row_id, seq, action) VALUES ('contact', :'again', 3, 'UPDATE');
\set VERBOSITY default

-- crm.verify() check audit_duplicates: an INSERT entry that neither starts
-- a record's history nor follows a DELETE is a second entry for the same
-- insert -- what loading a row through live triggers (a restore without
-- restore mode) writes next to the restored history.  Re-inserting after a
-- DELETE is no duplicate.
SELECT count(*) AS duplicates FROM crm.check_audit_duplicates() WHERE id IN (:'sp', :'again');
SET crm.restoring = on;
DELETE FROM crm.contact WHERE id = :'sp';
RESET crm.restoring;
INSERT INTO crm.contact (id, last_name, title) VALUES (:'sp', 'Savepoint', 'system');
SELECT entity, id = :'sp' AS is_sp, expected, actual FROM crm.check_audit_duplicates() WHERE id IN (:'sp', :'again');
SELECT "check", entity FROM crm.verify() WHERE id = :'sp';
DELETE FROM crm.audit_log WHERE row_id = :'sp' AND seq = 4;

-- Clean up the roles (their grants first).
DROP TABLE crm.audit_types;
DROP TYPE audit_mood;
DROP DOMAIN audit_short;
SELECT crm.revoke_access('audit_app_user');
SELECT crm.revoke_access('audit_app_admin');
SELECT crm.revoke_access('audit_app_other');
DROP ROLE audit_app_user;
DROP ROLE audit_app_admin;
DROP ROLE audit_app_other;
