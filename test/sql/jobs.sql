-- Scheduled jobs: crm.schedule_jobs() puts the crm.job registry into pg_cron
-- when pg_cron is installed (idempotently), says clearly when it is not, and
-- the install script itself schedules nothing.  (The test cluster preloads
-- pg_cron with cron.database_name = contrib_regression.)
SELECT name, schedule, command FROM crm.job ORDER BY name;

-- Without pg_cron: nothing is scheduled, and the caller is told so.
SELECT count(*) AS pg_cron_installed FROM pg_extension WHERE extname = 'pg_cron';
SELECT * FROM crm.schedule_jobs();
SELECT * FROM crm.unschedule_jobs();

-- With pg_cron: nothing is scheduled until crm.schedule_jobs() is called ...
CREATE EXTENSION pg_cron;
SELECT count(*) AS jobs_before FROM cron.job;
-- ... schedule_jobs() creates one job per registry entry, named crm.<name>,
-- and running it again changes nothing (no duplicates).
SELECT * FROM crm.schedule_jobs();
SELECT * FROM crm.schedule_jobs();
SELECT jobname, schedule, command, database FROM cron.job ORDER BY jobname;
-- A changed schedule in the registry is applied by the next call.
UPDATE crm.job SET schedule = '*/10 * * * *' WHERE name = 'outbox_prune';
SELECT * FROM crm.schedule_jobs();
SELECT jobname, schedule FROM cron.job ORDER BY jobname;
UPDATE crm.job SET schedule = '17 3 * * *' WHERE name = 'outbox_prune';
-- Every job is a plain function that can be called by hand.
SELECT crm.outbox_prune('100 years') >= 0 AS ran_by_hand;
-- unschedule_jobs() removes them, and is idempotent too.
SELECT * FROM crm.unschedule_jobs();
SELECT * FROM crm.unschedule_jobs();
SELECT count(*) AS jobs_after FROM cron.job;
DROP EXTENSION pg_cron;

-- The outbox: crm.emit() writes an event in the caller's transaction (gone
-- if it rolls back) for the current organization only.
\set org '0e0e0e0e-0000-7000-8000-00000000000e'
INSERT INTO crm.organization (id, name) VALUES (:'org', 'Outbox Org');
SET crm.organization_id = :'org';
BEGIN;
SELECT crm.emit('contact.created', 'crm.contact', '0e0e0e0e-0000-7000-8000-0000000000c1', '{"source": "test"}') AS ev \gset
ROLLBACK;
SELECT count(*) AS after_rollback FROM crm.outbox WHERE organization_id = :'org';
SELECT crm.emit('contact.created', 'crm.contact', '0e0e0e0e-0000-7000-8000-0000000000c1', '{"source": "test"}') AS ev \gset
SELECT event_type, entity, entity_id, payload, id = :'ev' AS id_returned, organization_id = :'org' AS own_org
  FROM crm.outbox WHERE organization_id = :'org';
-- Events about user tables name them schema-qualified.
CREATE TABLE public.my_widget (id int);
SELECT crm.emit('widget.made', 'public.my_widget', NULL) IS NOT NULL AS emitted;
SELECT entity FROM crm.outbox WHERE organization_id = :'org' AND event_type = 'widget.made';
DROP TABLE public.my_widget;
RESET crm.organization_id;
