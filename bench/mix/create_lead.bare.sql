-- pgbench (bare): a web-form lead arrives.
\set u random(1, 50)
\set r random(1, 2000000000)
INSERT INTO bare.lead (organization_id, first_name, last_name, email, phone, company, title, industry, lead_source, status, owner_id, tags, custom_fields)
VALUES (:org, 'Lee', 'Mix' || :r::text, 'lee.mix' || :r::text || '@lead-mix.example.org', '+1 557 200 0100',
        'Mix ' || :r::text || ' Inc', 'Buyer', 'Software', 'web', 'new', bench.user_id(0, :u), '{webinar}',
        '{"campaign_code": "C1234"}');
