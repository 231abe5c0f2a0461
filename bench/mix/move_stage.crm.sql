-- pgbench (crm): move a random deal of the big tenant to another open stage
-- (stage trigger: probability, forecast category, history stint, roll-up).
\set k random(1, :nopp)
\set s random(1, 4)
UPDATE crm.opportunity o SET stage_id = s.stage_id, next_step = 'call back'
  FROM bench.mix_stage s
 WHERE s.t = 0 AND s.pos = :s AND o.id = bench.gid(0, 7, :k, :nopp);
