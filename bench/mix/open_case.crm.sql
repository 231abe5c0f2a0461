-- pgbench (crm): an agent opens a case for a random contact of the big
-- tenant and comments (one transaction).  The case gets the next gap-free
-- number (the tenant's counter row, locked to commit) and its SLA targets
-- from the policy its priority selects (office-hours calendar or 24x7);
-- three times in four the agent answers the customer (a public comment:
-- first response achieved), otherwise the customer adds a comment (a
-- next-response clock starts).  A soft-deleted contact (2 % of the draws)
-- gives a case without contact, answered by the agent.
\set k random(1, :n)
\set u random(30, 39)
\set p random(1, 8)
\set who random(1, 4)
BEGIN;
INSERT INTO crm.case (subject, description, contact_id, account_id, priority, channel, assignee_id)
SELECT 'Mix case ' || :k::text, 'The export stopped working after the last update.', c.id, c.account_id,
       (ARRAY['low', 'medium', 'medium', 'medium', 'high', 'high', 'urgent', 'low'])[:p], 'email', bench.user_id(0, :u)
  FROM (VALUES (1)) v
  LEFT JOIN crm.contact c ON c.id = bench.gid(0, 2, :k, :n) AND c.deleted_at IS NULL
RETURNING id AS case_id, coalesce(contact_id::text, '') AS case_contact \gset
\if :who = 1
INSERT INTO crm.case_comment (case_id, author_user_id, author_contact_id, body)
SELECT :case_id, CASE WHEN x.c IS NULL THEN bench.user_id(0, :u) END, x.c, 'It still fails this morning, see the attached log.'
  FROM (SELECT nullif(:case_contact, '')::uuid AS c) x;
\else
INSERT INTO crm.case_comment (case_id, author_user_id, body)
VALUES (:case_id, bench.user_id(0, :u), 'Thanks for the report: we can reproduce it and are working on a fix.');
\endif
END;
