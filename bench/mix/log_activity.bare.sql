-- pgbench (bare): log a call on a random live contact of the big tenant.
\set k random(1, :n)
INSERT INTO bare.activity (organization_id, type, subject, status, activity_at, completed_at, duration_minutes, direction, outcome,
                          contact_id, account_id, owner_id, assignee_id)
SELECT :org::uuid, 'call', 'Call with ' || c.first_name, 'completed', now(), now(), 12, 'outbound', 'connected',
       c.id, c.account_id, c.owner_id, c.owner_id
  FROM bare.contact c
 WHERE c.organization_id = :org AND c.id = bench.gid(0, 2, :k, :n) AND c.deleted_at IS NULL;
