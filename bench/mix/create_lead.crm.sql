-- pgbench (crm): a web-form lead arrives (scoring and routing triggers, as
-- features add them, fire on it).
\set u random(1, 50)
\set r random(1, 2000000000)
INSERT INTO crm.lead (first_name, last_name, email, phone, company, title, industry, lead_source, status, owner_id, tags, custom_fields)
VALUES ('Lee', 'Mix' || :r::text, 'lee.mix' || :r::text || '@lead-mix.example.org', '+1 557 200 0100',
        'Mix ' || :r::text || ' Inc', 'Buyer', 'Software', 'web', 'new', bench.user_id(0, :u), '{webinar}',
        '{"campaign_code": "C1234"}');
