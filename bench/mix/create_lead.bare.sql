-- pgbench (bare): a web-form lead arrives with what its visitor did; without
-- crm the application picks the owner (one of the 20 routing users) and the
-- priority itself.  Nothing scores it or maintains lists.
\set r random(1, 2000000000)
\set e random(1, 1500)
\set s random(1, 8)
\set i random(1, 6)
\set t random(1, 6)
\set ne random(2, 3)
\set u random(2, 21)
BEGIN;
INSERT INTO bare.lead (organization_id, first_name, last_name, email, phone, company, title, industry, employee_count, lead_source, status,
                       utm_source, owner_id, priority, tags, custom_fields)
VALUES (:org, 'Lee', 'Mix' || :r::text, 'lee.mix' || :r::text || '@lead-mix.example.org', '+1 557 200 0100', 'Mix ' || :r::text || ' Inc',
        (ARRAY['VP Sales', 'Buyer', 'Head of IT', 'Engineer', 'CEO', 'Office Manager'])[:t],
        (ARRAY['Software', 'Finance', 'Retail', 'Manufacturing', 'Healthcare', 'Education'])[:i], :e,
        (ARRAY['web', 'web', 'referral', 'event'])[1 + :r % 4], 'new',
        (ARRAY['google', 'linkedin', 'de', 'newsletter', 'at', 'direct', 'ch', 'partner'])[:s], bench.user_id(0, :u),
        CASE WHEN :e >= 1000 THEN 'high' ELSE 'normal' END, '{webinar}', '{"campaign_code": "C1234"}')
RETURNING id AS lead_id \gset
INSERT INTO bare.engagement_event (organization_id, lead_id, event_type, properties, source, url)
SELECT :org, :lead_id, (ARRAY['page_view', 'pricing_viewed', 'email_click', 'demo_request', 'signup_started', 'resource_downloaded'])[1 + (:r + g * 7919) % 6],
       '{"form": "contact-us"}', 'web', 'https://example.com/p/' || g
  FROM generate_series(1, :ne) g;
END;
