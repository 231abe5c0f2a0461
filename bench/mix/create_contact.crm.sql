-- pgbench (crm): create a contact with its account (one transaction).
\set u random(1, 50)
\set r random(1, 2000000000)
BEGIN;
INSERT INTO crm.account (name, domain, website, industry, owner_id, custom_fields)
VALUES ('Bench ' || :r::text || ' Ltd', 'bench-' || :r::text || '.example.com', 'https://bench-' || :r::text || '.example.com',
        'Software', bench.user_id(0, :u), '{"tier": "silver"}')
RETURNING id AS acc \gset
INSERT INTO crm.contact (account_id, first_name, last_name, email, phone, title, owner_id, tags, custom_fields)
VALUES (:acc, 'Pat', 'Bench' || :r::text, 'pat.bench' || :r::text || '@bench-' || :r::text || '.example.com',
        '+1 555 201 0100', 'Buyer', bench.user_id(0, :u), '{new}', '{"segment": "smb", "newsletter": true}');
END;
