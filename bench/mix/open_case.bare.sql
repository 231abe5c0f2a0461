-- pgbench (bare): the same case and comment on the bare tables.  Without crm
-- the application numbers the case from a sequence (with gaps), writes its
-- SLA targets itself from the policy of its priority (bench.mix_sla: due
-- times as plain intervals, no business calendar), and marks the first
-- response on the case and its target when the agent answers.
\set k random(1, :n)
\set u random(30, 39)
\set p random(1, 8)
\set who random(1, 4)
BEGIN;
INSERT INTO bare.case (organization_id, number, subject, description, contact_id, account_id, priority, channel, assignee_id,
                       status_changed_at, first_response_at)
SELECT :org, nextval('bare.case_number_seq'), 'Mix case ' || :k::text, 'The export stopped working after the last update.', c.id, c.account_id,
       (ARRAY['low', 'medium', 'medium', 'medium', 'high', 'high', 'urgent', 'low'])[:p], 'email', bench.user_id(0, :u),
       now(), CASE WHEN :who <> 1 OR c.id IS NULL THEN now() END
  FROM (VALUES (1)) v
  LEFT JOIN bare.contact c ON c.organization_id = :org AND c.id = bench.gid(0, 2, :k, :n) AND c.deleted_at IS NULL
RETURNING id AS case_id, coalesce(contact_id::text, '') AS case_contact, priority AS case_priority \gset
INSERT INTO bare.case_sla (organization_id, case_id, target, policy_id, calendar_id, target_minutes, warning_percent, started_at,
                           due_at, warn_at, achieved_at)
SELECT :org, :case_id, t.target, s.policy_id, s.calendar_id, t.minutes, 80, now(),
       now() + t.minutes * interval '1 minute', now() + t.minutes * interval '0.8 minute',
       CASE WHEN t.target = 'first_response' AND (:who <> 1 OR :case_contact = '') THEN now() END
  FROM bench.mix_sla s
 CROSS JOIN LATERAL (VALUES ('first_response', s.first_response_minutes), ('resolution', s.resolution_minutes),
                            ('next_response', CASE WHEN :who = 1 AND :case_contact <> '' THEN s.next_response_minutes END)) t(target, minutes)
 WHERE s.priority = :case_priority AND t.minutes IS NOT NULL;
\if :who = 1
INSERT INTO bare.case_comment (organization_id, case_id, author_user_id, author_contact_id, body)
SELECT :org, :case_id, CASE WHEN x.c IS NULL THEN bench.user_id(0, :u) END, x.c, 'It still fails this morning, see the attached log.'
  FROM (SELECT nullif(:case_contact, '')::uuid AS c) x;
\else
INSERT INTO bare.case_comment (organization_id, case_id, author_user_id, body)
VALUES (:org, :case_id, bench.user_id(0, :u), 'Thanks for the report: we can reproduce it and are working on a fix.');
\endif
END;
