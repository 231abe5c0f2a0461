-- pgbench (bare): the same update of a random contact of the big tenant.
\set k random(1, :n)
\set p random(2000000, 9999999)
\set t random(1, 11)
\set nps random(0, 10)
UPDATE bare.contact c SET phone = '+1 558 ' || :p,
       title = (ARRAY['CEO', 'CTO', 'CFO', 'VP Sales', 'Head of IT', 'Buyer', 'Engineer', 'Office Manager', 'Consultant',
                      'Director of Operations', 'Senior Buyer'])[:t],
       custom_fields = c.custom_fields || jsonb_build_object('nps', :nps::integer)
 WHERE c.organization_id = :org AND c.id = bench.gid(0, 2, :k, :n);
