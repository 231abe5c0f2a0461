-- pgbench (crm): update a random contact of the big tenant.
\set k random(1, :n)
\set p random(2000000, 9999999)
UPDATE crm.contact c SET phone = '+1 558 ' || :p, title = 'Senior Buyer'
 WHERE c.id = bench.gid(0, 2, :k, :n);
