-- pgbench (crm): read the 360° view of a random contact of the big tenant
-- = figure c of bench/run.sh: the contact with its account, its colleagues,
-- its opportunities, its open cases with the state of their SLA targets,
-- and its last 20 activities.
\set k random(1, :n)
SELECT jsonb_build_object(
        'contact', to_jsonb(c) - 'search_vector',
        'account', to_jsonb(a) - 'search_vector',
        'colleagues', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', o.id, 'name', concat_ws(' ', o.first_name, o.last_name),
                                            'title', o.title, 'email', o.email) ORDER BY o.last_name, o.first_name), '[]')
                         FROM crm.contact o
                        WHERE o.organization_id = c.organization_id AND o.account_id = c.account_id
                          AND o.id <> c.id AND o.deleted_at IS NULL),
        'opportunities', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', o.id, 'name', o.name, 'stage', s.name, 'amount', o.amount,
                                            'currency', o.currency, 'close_date', o.close_date, 'is_closed', o.is_closed,
                                            'is_won', o.is_won) ORDER BY o.close_date DESC, o.id), '[]')
                            FROM crm.opportunity o
                            JOIN crm.pipeline_stage s ON s.organization_id = o.organization_id AND s.id = o.stage_id
                           WHERE o.organization_id = c.organization_id AND o.contact_id = c.id AND o.deleted_at IS NULL),
        'open_cases', (SELECT coalesce(jsonb_agg(jsonb_build_object('case_number', k.case_number, 'subject', k.subject,
                                            'status', k.status, 'priority', k.priority, 'sla',
                                            (SELECT jsonb_agg(jsonb_build_object('target', v.target, 'state', v.state, 'due_at', v.due_at,
                                                                                 'minutes_left', v.minutes_left) ORDER BY v.target)
                                               FROM crm.v_case_sla v
                                              WHERE v.organization_id = k.organization_id AND v.case_id = k.id))
                                        ORDER BY k.created_at DESC), '[]')
                         FROM crm.case k
                        WHERE k.organization_id = c.organization_id AND k.contact_id = c.id AND k.deleted_at IS NULL
                          AND k.status NOT IN ('resolved', 'closed')),
        'activities', (SELECT coalesce(jsonb_agg(x ORDER BY x.activity_at DESC), '[]')
                         FROM (SELECT v.id, v.type, v.subject, v.status, v.activity_at, v.owner_id
                                 FROM crm.activity v
                                WHERE v.organization_id = c.organization_id AND v.contact_id = c.id AND v.deleted_at IS NULL
                                ORDER BY v.activity_at DESC LIMIT 20) x))
  FROM crm.contact c
  LEFT JOIN crm.account a ON a.organization_id = c.organization_id AND a.id = c.account_id
 WHERE c.id = bench.gid(0, 2, :k, :n);
