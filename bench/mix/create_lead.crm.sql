-- pgbench (crm): a web-form lead arrives with what its visitor did (one
-- transaction): the lead without an owner -- routing gives it one, with a
-- priority and tags (Enterprise / DACH / two round-robin teams), fit scoring
-- scores it, the lead lists take it in -- then 2-3 engagement events in one
-- statement, scored set-based; a lead that crosses the SQL threshold is
-- qualified by the scoring trigger (and joins the "Qualified leads" list).
\set r random(1, 2000000000)
\set e random(1, 1500)
\set s random(1, 8)
\set i random(1, 6)
\set t random(1, 6)
\set ne random(2, 3)
BEGIN;
INSERT INTO crm.lead (first_name, last_name, email, phone, company, title, industry, employee_count, lead_source, status,
                      utm_source, tags, custom_fields)
VALUES ('Lee', 'Mix' || :r::text, 'lee.mix' || :r::text || '@lead-mix.example.org', '+1 557 200 0100', 'Mix ' || :r::text || ' Inc',
        (ARRAY['VP Sales', 'Buyer', 'Head of IT', 'Engineer', 'CEO', 'Office Manager'])[:t],
        (ARRAY['Software', 'Finance', 'Retail', 'Manufacturing', 'Healthcare', 'Education'])[:i], :e,
        (ARRAY['web', 'web', 'referral', 'event'])[1 + :r % 4], 'new',
        (ARRAY['google', 'linkedin', 'de', 'newsletter', 'at', 'direct', 'ch', 'partner'])[:s], '{webinar}',
        '{"campaign_code": "C1234"}')
RETURNING id AS lead_id \gset
INSERT INTO crm.engagement_event (lead_id, event_type, properties, source, url)
SELECT :lead_id, (ARRAY['page_view', 'pricing_viewed', 'email_click', 'demo_request', 'signup_started', 'resource_downloaded'])[1 + (:r + g * 7919) % 6],
       '{"form": "contact-us"}', 'web', 'https://example.com/p/' || g
  FROM generate_series(1, :ne) g;
END;
