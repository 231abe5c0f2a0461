-- pgbench (bare): read the 360° view of a random contact of the big tenant
-- = figure c of bench/run.sh: the contact with its account, its colleagues,
-- its opportunities, its open cases with the state of their SLA targets,
-- and its last 20 activities.
\set k random(1, :n)
SELECT jsonb_build_object(
        'contact', to_jsonb(c) - 'search_vector',
        'account', to_jsonb(a) - 'search_vector',
        'colleagues', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', o.id, 'name', concat_ws(' ', o.first_name, o.last_name),
                                            'title', o.title, 'email', o.email) ORDER BY o.last_name, o.first_name), '[]')
                         FROM bare.contact o
                        WHERE o.organization_id = c.organization_id AND o.account_id = c.account_id
                          AND o.id <> c.id AND o.deleted_at IS NULL),
        'opportunities', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', o.id, 'name', o.name, 'stage', s.name, 'amount', o.amount,
                                            'currency', o.currency, 'close_date', o.close_date, 'is_closed', o.is_closed,
                                            'is_won', o.is_won) ORDER BY o.close_date DESC, o.id), '[]')
                            FROM bare.opportunity o
                            JOIN bare.pipeline_stage s ON s.organization_id = o.organization_id AND s.id = o.stage_id
                           WHERE o.organization_id = c.organization_id AND o.contact_id = c.id AND o.deleted_at IS NULL),
        'open_cases', (SELECT coalesce(jsonb_agg(jsonb_build_object('case_number', k.case_number, 'subject', k.subject,
                                            'status', k.status, 'priority', k.priority, 'sla',
                                            (SELECT jsonb_agg(jsonb_build_object('target', v.target, 'state',
                                                        CASE WHEN v.achieved_at IS NOT NULL THEN 'achieved'
                                                             WHEN v.breached_at IS NOT NULL OR v.due_at <= now() AND v.paused_since IS NULL THEN 'breached'
                                                             WHEN v.paused_since IS NOT NULL THEN 'paused'
                                                             WHEN v.warned_at IS NOT NULL OR v.warn_at <= now() THEN 'at_risk'
                                                             ELSE 'on_track' END,
                                                        'due_at', v.due_at,
                                                        'minutes_left', CASE WHEN v.achieved_at IS NULL THEN
                                                             floor(extract(epoch FROM v.due_at - coalesce(v.paused_since, now())) / 60) END)
                                                     ORDER BY v.target)
                                               FROM bare.case_sla v
                                              WHERE v.organization_id = k.organization_id AND v.case_id = k.id))
                                        ORDER BY k.created_at DESC), '[]')
                         FROM bare.case k
                        WHERE k.organization_id = c.organization_id AND k.contact_id = c.id AND k.deleted_at IS NULL
                          AND k.status NOT IN ('resolved', 'closed')),
        'activities', (SELECT coalesce(jsonb_agg(x ORDER BY x.activity_at DESC), '[]')
                         FROM (SELECT v.id, v.type, v.subject, v.status, v.activity_at, v.owner_id
                                 FROM bare.activity v
                                WHERE v.organization_id = c.organization_id AND v.contact_id = c.id AND v.deleted_at IS NULL
                                ORDER BY v.activity_at DESC LIMIT 20) x))
  FROM bare.contact c
  LEFT JOIN bare.account a ON a.organization_id = c.organization_id AND a.id = c.account_id
 WHERE c.organization_id = :org AND c.id = bench.gid(0, 2, :k, :n);
