-- pgbench (crm): log a call on a random live contact of the big tenant
-- (crm refuses one on a soft-deleted contact: 2% of the draws log nothing).
\set k random(1, :n)
INSERT INTO crm.activity (type, subject, status, activity_at, completed_at, duration_minutes, direction, outcome,
                          contact_id, account_id, owner_id, assignee_id)
SELECT 'call', 'Call with ' || c.first_name, 'completed', now(), now(), 12, 'outbound', 'connected',
       c.id, c.account_id, c.owner_id, c.owner_id
  FROM crm.contact c
 WHERE c.id = bench.gid(0, 2, :k, :n) AND c.deleted_at IS NULL;
