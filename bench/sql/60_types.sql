-- bench/sql/60_types.sql — g. crm.email and crm.phone against text.
--
-- The big tenant's addresses and numbers, copied into four plain tables:
-- crm.email with its default (case-insensitive) btree index vs text with a
-- lower() expression index — the usual way to get case-insensitive lookups
-- — and crm.phone vs its canonical E.164 text with a plain btree index.

CREATE TABLE bench.email_typed AS SELECT email FROM crm.contact WHERE organization_id = (SELECT org FROM bench.tenant WHERE t = 0) AND email IS NOT NULL;
CREATE TABLE bench.email_text AS SELECT email::text AS email FROM bench.email_typed;
CREATE TABLE bench.phone_typed AS SELECT phone FROM crm.contact WHERE organization_id = (SELECT org FROM bench.tenant WHERE t = 0) AND phone IS NOT NULL;
CREATE TABLE bench.phone_text AS SELECT phone::text AS phone FROM bench.phone_typed;
VACUUM ANALYZE bench.email_typed, bench.email_text, bench.phone_typed, bench.phone_text;

-- Milliseconds one statement takes.
CREATE FUNCTION bench.time_ms(q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz := clock_timestamp();
BEGIN
	EXECUTE q;
	RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END;
$$;

-- Lookup parameters: 50 addresses written in another case than stored, and
-- 50 numbers as people type them.
INSERT INTO bench.param (name, vals)
SELECT 'emails_upper', array_agg(upper(email::text)) FROM (SELECT email FROM bench.email_typed ORDER BY email LIMIT 50) s;
INSERT INTO bench.param (name, vals)
SELECT 'phones_typed', array_agg(crm.phone_format(phone, 'international')) FROM (SELECT phone FROM bench.phone_typed ORDER BY phone LIMIT 50) s;
INSERT INTO bench.param (name, vals)
SELECT 'phones_e164', array_agg(phone::text) FROM (SELECT phone FROM bench.phone_typed ORDER BY phone LIMIT 50) s;
