-- pgbench (crm): update a random contact of the big tenant: new phone, title
-- and NPS answer (stamp, custom-field validation, audit of the changed
-- columns, and the dynamic lists that read title or nps: people join and
-- leave "Executives", "Promoters", ... in the same transaction).
\set k random(1, :n)
\set p random(2000000, 9999999)
\set t random(1, 11)
\set nps random(0, 10)
UPDATE crm.contact c SET phone = '+1 558 ' || :p,
       title = (ARRAY['CEO', 'CTO', 'CFO', 'VP Sales', 'Head of IT', 'Buyer', 'Engineer', 'Office Manager', 'Consultant',
                      'Director of Operations', 'Senior Buyer'])[:t],
       custom_fields = c.custom_fields || jsonb_build_object('nps', :nps::integer)
 WHERE c.id = bench.gid(0, 2, :k, :n);
