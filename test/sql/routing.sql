-- Lead routing (issue 11): rules in priority order with criteria documents,
-- fall-through, assignment to a user, a territory's owner or round-robin
-- over a team (fair, with pauses, daily capacities and inactive users
-- skipped), or no owner; priority and tags set by the deciding rule; bulk
-- inserts routed set-based, crm.explain_routing.
SET client_min_messages = warning;
SET TimeZone = 'UTC';
SELECT crm.create_organization('Routing Co') AS org \gset
DROP ROLE IF EXISTS routing_admin;
CREATE ROLE routing_admin;
SELECT crm.grant_access('routing_admin', 'admin');
SET crm.organization_id = :'org';
SET ROLE routing_admin;

INSERT INTO crm.app_user (name, email) VALUES
	('Una', 'una@r.example'), ('Vic', 'vic@r.example'), ('Wes', 'wes@r.example'),
	('Xia', 'xia@r.example'), ('Yul', 'yul@r.example'), ('Zed', 'zed@r.example');
SELECT id AS una FROM crm.app_user WHERE name = 'Una' \gset
SELECT id AS vic FROM crm.app_user WHERE name = 'Vic' \gset
SELECT id AS zed FROM crm.app_user WHERE name = 'Zed' \gset
INSERT INTO crm.team (name) VALUES ('Inbound') RETURNING id AS team \gset
INSERT INTO crm.team_member (team_id, user_id)
SELECT :'team', id FROM crm.app_user WHERE name IN ('Vic', 'Wes', 'Xia', 'Yul');
INSERT INTO crm.territory (name, owner_id) VALUES ('DACH', :'zed') RETURNING id AS dach \gset

-- Priority 10: enterprise leads to Una; 20: German-speaking web leads to
-- the territory owner; 30: everything else round-robin over Inbound.
INSERT INTO crm.routing_rule (name, priority, criteria, action, user_id, add_tags) VALUES
	('Enterprise', 10, '{"field": "employee_count", "op": "gte", "value": 1000}', 'user', :'una', '{enterprise}');
INSERT INTO crm.routing_rule (name, priority, criteria, action, territory_id) VALUES
	('DACH', 20, '{"field": "utm_source", "op": "in", "value": ["de", "at", "ch"]}', 'territory', :'dach');
INSERT INTO crm.routing_rule (name, priority, action, team_id) VALUES
	('Everyone else', 30, 'round_robin', :'team');

INSERT INTO crm.lead (last_name, employee_count, utm_source) VALUES
	('Big', 5000, 'de'),		-- priority order: Enterprise wins over DACH
	('German', 10, 'de'),
	('Small', 10, NULL);
SELECT l.last_name, u.name AS owner, l.tags FROM crm.lead l JOIN crm.app_user u ON u.id = l.owner_id ORDER BY 1;
SELECT l.last_name, e.rule_name, e.priority, e.action, e.assigned_to_name, e.reason
  FROM crm.lead l, crm.explain_routing(l.id) e ORDER BY 1;
-- a lead given an owner by its writer is not routed
INSERT INTO crm.lead (last_name, owner_id, employee_count) VALUES ('Owned', :'vic', 9999);
SELECT u.name FROM crm.lead l JOIN crm.app_user u ON u.id = l.owner_id WHERE l.last_name = 'Owned';

-- Fall-through: the user of the first matching rule is inactive; the
-- next matching rule decides.
UPDATE crm.app_user SET is_active = false WHERE id = :'una';
INSERT INTO crm.lead (last_name, employee_count) VALUES ('Big2', 2000);
SELECT e.rule_name, e.reason FROM crm.lead l, crm.explain_routing(l.id) e WHERE l.last_name = 'Big2';
UPDATE crm.app_user SET is_active = true WHERE id = :'una';

-- ---------------------------------------------------------------------------
-- Priority and tags: the deciding rule sets the lead's priority (unless its
-- writer gave one) and adds its tags.  A rule with action none decides
-- without an owner: later rules are not tried.
-- ---------------------------------------------------------------------------
UPDATE crm.routing_rule SET set_priority = 'high' WHERE name = 'Enterprise';
INSERT INTO crm.routing_rule (name, priority, criteria, action, set_priority, add_tags) VALUES
	('Students', 5, '{"field": "title", "op": "contains", "value": "student"}', 'none', 'low', '{review,student}');
INSERT INTO crm.lead (last_name, employee_count, title, priority, tags) VALUES
	('Big3', 3000, NULL, NULL, '{inbound}'),	-- Enterprise: Una, high, its tag added to the lead's
	('Big4', 3000, NULL, 'urgent', '{}'),		-- Enterprise: the writer's priority stays
	('Pupil', 3000, 'Student', NULL, '{}');		-- Students (priority 5) decides first: no owner
SELECT l.last_name, u.name AS owner, l.priority, l.tags
  FROM crm.lead l LEFT JOIN crm.app_user u ON u.id = l.owner_id
 WHERE l.last_name IN ('Big3', 'Big4', 'Pupil') ORDER BY 1;
SELECT l.last_name, e.rule_name, e.action, e.assigned_to_name, e.lead_priority, e.tags_added, e.reason
  FROM crm.lead l, crm.explain_routing(l.id) e WHERE l.last_name IN ('Big3', 'Big4', 'Pupil') ORDER BY 1;
-- a lead the deciding rule leaves as it was is not written (its history
-- has only its insert)
UPDATE crm.routing_rule SET set_priority = NULL, add_tags = '{}' WHERE name = 'Students';
INSERT INTO crm.lead (last_name, title) VALUES ('Pupil2', 'student');
SELECT l.owner_id IS NULL AS unassigned, l.priority, l.tags,
	   (SELECT count(*) FROM crm.audit_log a WHERE a.row_id = l.id) AS audit_entries
  FROM crm.lead l WHERE l.last_name = 'Pupil2';
SELECT e.rule_name, e.reason FROM crm.lead l, crm.explain_routing(l.id) e WHERE l.last_name = 'Pupil2';
DELETE FROM crm.routing_rule WHERE name = 'Students';

-- ---------------------------------------------------------------------------
-- Round-robin fairness over 1,000 leads in one statement: 250 each.
-- ---------------------------------------------------------------------------
RESET ROLE;
UPDATE crm.routing_member SET turns = 0;
SET ROLE routing_admin;
-- (the rule also sets a priority and a tag: one UPDATE for the statement)
UPDATE crm.routing_rule SET set_priority = 'normal', add_tags = '{inbound}' WHERE name = 'Everyone else';
INSERT INTO crm.lead (last_name) SELECT 'RR ' || g FROM generate_series(1, 1000) g;
SELECT u.name, count(*) FROM crm.lead l JOIN crm.app_user u ON u.id = l.owner_id
 WHERE l.last_name LIKE 'RR %' GROUP BY 1 ORDER BY 1;
SELECT l.priority, l.tags, count(*) FROM crm.lead l WHERE l.last_name LIKE 'RR %' GROUP BY 1, 2;
SELECT count(DISTINCT d.lead_id) AS decisions, count(*) FILTER (WHERE d.lead_priority = 'normal' AND d.tags_added = '{inbound}') AS with_priority_and_tags
  FROM crm.routing_decision d JOIN crm.lead l ON l.id = d.lead_id WHERE l.last_name LIKE 'RR %';
UPDATE crm.routing_rule SET set_priority = NULL, add_tags = '{}' WHERE name = 'Everyone else';
-- and 200 more one by one: still even
DO $$ BEGIN FOR i IN 1 .. 200 LOOP INSERT INTO crm.lead (last_name) VALUES ('One ' || i); END LOOP; END $$;
SELECT u.name, count(*) FROM crm.lead l JOIN crm.app_user u ON u.id = l.owner_id
 WHERE l.last_name LIKE 'One %' GROUP BY 1 ORDER BY 1;
SELECT u.name, m.turns FROM crm.routing_member m JOIN crm.app_user u ON u.id = m.user_id ORDER BY 1;

-- Paused, inactive and full members are skipped.
UPDATE crm.routing_member SET is_paused = true WHERE user_id = :'vic';
UPDATE crm.app_user SET is_active = false WHERE name = 'Wes';
UPDATE crm.routing_member m SET daily_capacity = m.assigned_that_day + 2
  FROM crm.app_user u WHERE u.id = m.user_id AND u.name = 'Xia';
INSERT INTO crm.lead (last_name) SELECT 'Cap ' || g FROM generate_series(1, 10) g;
SELECT u.name, count(*) FROM crm.lead l JOIN crm.app_user u ON u.id = l.owner_id
 WHERE l.last_name LIKE 'Cap %' GROUP BY 1 ORDER BY 1;
-- everybody unavailable: leads stay unassigned, and explain_routing says why
UPDATE crm.routing_member SET is_paused = true;
INSERT INTO crm.lead (last_name) VALUES ('Nobody');
SELECT l.owner_id IS NULL AS unassigned, e.rule_name, e.reason FROM crm.lead l, crm.explain_routing(l.id) e WHERE l.last_name = 'Nobody';

-- Routing's own update of the new leads (owner, priority, tags) rescores
-- their fit only when a fit rule reads what it set: counted with the
-- transaction's function statistics.  The default model's fit rules read
-- title and lead_source.
UPDATE crm.routing_member SET is_paused = false;
RESET ROLE;
SET track_functions = 'pl';
BEGIN;
SET LOCAL ROLE routing_admin;
INSERT INTO crm.lead (last_name, title) VALUES ('Counted', 'Intern');
SELECT pg_stat_get_xact_function_calls('crm._score_recompute(uuid,uuid[],uuid[],boolean)'::regprocedure) AS recomputes_after_insert;
UPDATE crm.lead SET description = 'called back', priority = 'high' WHERE last_name = 'Counted';
SELECT pg_stat_get_xact_function_calls('crm._score_recompute(uuid,uuid[],uuid[],boolean)'::regprocedure) AS after_unread_columns;
UPDATE crm.lead SET title = 'VP Sales' WHERE last_name = 'Counted';
SELECT pg_stat_get_xact_function_calls('crm._score_recompute(uuid,uuid[],uuid[],boolean)'::regprocedure) AS after_title;
SELECT s.fit_score FROM crm.score s JOIN crm.lead l ON l.id = s.lead_id WHERE l.last_name = 'Counted';
COMMIT;
SET ROLE routing_admin;
-- a fit rule that reads the tags: routing's update (Enterprise: owner Una,
-- tag enterprise) gives the points
INSERT INTO crm.scoring_rule (group_id, kind, name, entity, criteria, points)
SELECT id, 'fit', 'Enterprise tag', 'lead', '{"field": "tags", "op": "has_any", "value": ["enterprise"]}', 7
  FROM crm.scoring_group WHERE name = 'Fit';
INSERT INTO crm.lead (last_name, employee_count) VALUES ('Tagged', 2000);
SELECT l.tags, s.fit_score FROM crm.score s JOIN crm.lead l ON l.id = s.lead_id WHERE l.last_name = 'Tagged';
SELECT count(*) AS score_drift FROM crm.verify() WHERE "check" = 'scores';

-- Bad input
\set VERBOSITY terse
INSERT INTO crm.routing_rule (name, priority, criteria, action, user_id) VALUES ('Bad', 40, '{"field": "nope", "op": "eq", "value": 1}', 'user', :'una');
INSERT INTO crm.routing_rule (name, priority, action, user_id, team_id) VALUES ('Both', 41, 'user', :'una', :'team');
INSERT INTO crm.routing_rule (name, priority, action) VALUES ('Nothing', 42, 'teleport');
INSERT INTO crm.routing_rule (name, priority, action, user_id) VALUES ('None with a user', 43, 'none', :'una');
INSERT INTO crm.routing_rule (name, priority, action, set_priority) VALUES ('Bad priority', 44, 'none', 'critical');
INSERT INTO crm.routing_rule (name, priority, action, user_id) VALUES ('Same priority', 10, 'user', :'una');
SELECT * FROM crm.explain_routing('00000000-0000-7000-8000-000000000000');
\set VERBOSITY default

RESET ROLE;
SELECT crm.revoke_access('routing_admin');
DROP ROLE routing_admin;
