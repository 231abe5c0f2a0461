-- Support cases (doc/sla.md): per-tenant gap-free numbers CS-000001 (also
-- across rollbacks), status times, comments by agents and customers,
-- activities related to a case, full-text search, tenancy.
\set VERBOSITY terse
SET client_min_messages = warning;
SET timezone = 'UTC';

SELECT crm.create_organization('Case Org') AS org \gset
SELECT crm.create_organization('Other Case Org') AS other \gset
DROP ROLE IF EXISTS crm_case_admin;
DROP ROLE IF EXISTS crm_case_agent;
CREATE ROLE crm_case_admin;
CREATE ROLE crm_case_agent;
SELECT crm.grant_access('crm_case_admin', 'admin');
SELECT crm.grant_access('crm_case_agent', 'user');
SET ROLE crm_case_admin;
SET crm.organization_id = :'org';
INSERT INTO crm.app_user (name, email) VALUES ('Alice Agent', 'alice@case.example') RETURNING id AS alice \gset
-- Agents (the user level) work the cases.
RESET ROLE;
SET ROLE crm_case_agent;
SET crm.user_id = :'alice';
INSERT INTO crm.account (name) VALUES ('Customer Ltd') RETURNING id AS acct \gset
INSERT INTO crm.contact (first_name, last_name, account_id) VALUES ('Carl', 'Customer', :'acct') RETURNING id AS carl \gset

-- Numbers count per tenant from 1; a given number is replaced.
INSERT INTO crm.case (subject, account_id, contact_id, created_at) VALUES
	('Printer on fire', :'acct', :'carl', '2025-02-03 09:00+00'),
	('Invoice question', :'acct', :'carl', '2025-02-03 09:05+00');
INSERT INTO crm.case (number, subject) VALUES (999, 'Number given');
SELECT number, case_number, subject, status, priority, severity, channel, status_changed_at IS NOT NULL AS has_status_time
  FROM crm.case ORDER BY number;
-- A rolled-back insert gives its number back: no gap.
BEGIN;
INSERT INTO crm.case (subject) VALUES ('Rolled back');
ROLLBACK;
INSERT INTO crm.case (subject) VALUES ('After the rollback') RETURNING case_number;
-- The other tenant counts on its own.
SET crm.organization_id = :'other';
RESET crm.user_id;
INSERT INTO crm.case (subject) VALUES ('Other tenant''s first') RETURNING case_number;
SELECT count(*) AS cases_seen_by_other FROM crm.case;
SET crm.organization_id = :'org';
SET crm.user_id = :'alice';
-- The number cannot change, and the counter is not the agents' to write.
UPDATE crm.case SET number = 7 WHERE number = 1;
UPDATE crm.case_counter SET last_number = 1;
SELECT last_number FROM crm.case_counter;

-- Status times: resolved_at and closed_at follow the status; reopening
-- clears them.  A status change takes its time from the UPDATE when given.
SELECT id AS fire FROM crm.case WHERE number = 1 \gset
UPDATE crm.case SET status = 'resolved', status_changed_at = '2025-02-04 10:00+00' WHERE id = :'fire';
SELECT status, status_changed_at, resolved_at, closed_at FROM crm.case WHERE id = :'fire';
UPDATE crm.case SET status = 'closed', status_changed_at = '2025-02-05 10:00+00' WHERE id = :'fire';
SELECT status, resolved_at, closed_at FROM crm.case WHERE id = :'fire';
UPDATE crm.case SET status = 'open', status_changed_at = '2025-02-06 10:00+00' WHERE id = :'fire';
SELECT status, status_changed_at, resolved_at, closed_at FROM crm.case WHERE id = :'fire';

-- Comments: exactly one author; customer comments are public.
INSERT INTO crm.case_comment (case_id, author_user_id, body, is_public) VALUES (:'fire', :'alice', 'Internal note', false);
INSERT INTO crm.case_comment (case_id, author_contact_id, body) VALUES (:'fire', :'carl', 'Still burning');
INSERT INTO crm.case_comment (case_id, body) VALUES (:'fire', 'Nobody wrote this');
INSERT INTO crm.case_comment (case_id, author_user_id, author_contact_id, body) VALUES (:'fire', :'alice', :'carl', 'Both');
INSERT INTO crm.case_comment (case_id, author_contact_id, body, is_public) VALUES (:'fire', :'carl', 'Secret', false);
SELECT author_user_id IS NOT NULL AS by_agent, is_public, body FROM crm.case_comment ORDER BY created_at, id;

-- Activities relate to a case.
INSERT INTO crm.activity (type, subject, case_id) VALUES ('call', 'Called about the fire', :'fire');
SELECT a.subject, c.case_number FROM crm.activity a JOIN crm.case c ON c.id = a.case_id;

-- Full-text search finds cases by number words and subject.
SELECT entity, title FROM crm.search('printer');
SELECT entity, title FROM crm.search('invoice');

-- Knowledge base: articles are versioned (title or body changes) and only
-- published ones are suggested, ranked by similarity to the case's text.
INSERT INTO crm.knowledge_article (title, body, status) VALUES
	('Printer catches fire', 'Unplug the printer, then call the fire brigade. Printer fires start in the fuser.', 'published'),
	('Reading an invoice', 'Every invoice lists the period, the items and the total.', 'published'),
	('Printer paper jam', 'Open the tray and remove the paper.', 'published'),
	('Printer fire (old draft)', 'Draft text about printer fire.', 'draft');
SELECT id AS kb_fire FROM crm.knowledge_article WHERE title = 'Printer catches fire' \gset
UPDATE crm.knowledge_article SET body = body || ' Keep an extinguisher near.' WHERE id = :'kb_fire';
UPDATE crm.knowledge_article SET helpful_count = helpful_count + 1 WHERE id = :'kb_fire';
SELECT title, status, version, published_at IS NOT NULL AS published, helpful_count FROM crm.knowledge_article ORDER BY title;
SELECT title, rank > 0 AS similar FROM crm.suggest_articles(:'fire');
SELECT title FROM crm.suggest_articles((SELECT id FROM crm.case WHERE number = 2), 1);
INSERT INTO crm.knowledge_article_case (article_id, case_id) VALUES (:'kb_fire', :'fire');
SELECT a.title, c.case_number FROM crm.knowledge_article_case l
  JOIN crm.knowledge_article a ON a.id = l.article_id JOIN crm.case c ON c.id = l.case_id;
-- The suggestion reads the published articles through the partial index
-- (with enough articles for an index to pay).
RESET ROLE;
INSERT INTO crm.knowledge_article (organization_id, title, body, status)
SELECT :'org', 'Filler ' || g, 'Nothing to see ' || g, 'published' FROM generate_series(1, 3000) g;
ANALYZE crm.knowledge_article;
CREATE FUNCTION pg_temp.plan(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	l text;
BEGIN
	FOR l IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
		RETURN NEXT regexp_replace(l, '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<org>', 'g');
	END LOOP;
END;
$$;
SET enable_seqscan = off;
SELECT * FROM pg_temp.plan(format($$SELECT a.id FROM crm.knowledge_article a
 WHERE a.organization_id = %L AND a.status = 'published' AND a.deleted_at IS NULL
   AND a.search_vector OPERATOR(crm.@@) 'printer | fire'::tsquery$$, :'org'));
RESET enable_seqscan;
SET ROLE crm_case_agent;
SET crm.user_id = :'alice';

-- Invalid values are refused by named constraints.
INSERT INTO crm.case (subject, status) VALUES ('x', 'waiting');
INSERT INTO crm.case (subject, priority) VALUES ('x', 'critical');
INSERT INTO crm.case (subject, severity) VALUES ('x', 5);
INSERT INTO crm.case (subject, channel) VALUES ('x', 'fax');
INSERT INTO crm.case (subject) VALUES ('  ');
-- Another tenant's contact cannot be referenced.
SET crm.organization_id = :'other';
RESET crm.user_id;
INSERT INTO crm.case (subject, contact_id) VALUES ('x', :'carl');
RESET ROLE;
