-- pgbench (bare): move a random deal to another open stage; without crm's
-- trigger the application sets what the stage implies itself.
\set k random(1, :nopp)
\set s random(1, 4)
UPDATE bare.opportunity o SET stage_id = s.stage_id, next_step = 'call back', probability = s.probability,
       forecast_category = s.forecast_category, stage_entered_at = now(), updated_at = now()
  FROM bench.mix_stage s
 WHERE s.t = 0 AND s.pos = :s AND o.organization_id = :org AND o.id = bench.gid(0, 7, :k, :nopp);
