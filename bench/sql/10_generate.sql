-- bench/sql/10_generate.sql
-- The deterministic data generator.  bench.generate(t, org, contacts,
-- activities_per_contact, dir) writes one CSV file per table for tenant t
-- into dir (server side, as the superuser); bench/run.sh then COPYs the same
-- files into the crm tables (triggers on) and into the bare copies.
--
-- Every value is a function of (tenant number, record number) through
-- bench.rnd(): the same arguments give byte-identical files on every run.
--
-- Shapes:
--   app_user   50 per tenant
--   account    1-50 contacts each, skewed (size = 1 + 49 r^3, mean ~13)
--   contact    `contacts`; each belongs to an account, the members of one
--              account scattered over the two years (a permutation), owner
--              mostly the account's owner; 2% soft-deleted
--   lead       contacts / 5
--   activity   contacts * activities_per_contact over two years in time
--              order, each on a contact that exists by then (older contacts
--              collect more), 10% on leads instead, and those that would fall
--              on a soft-deleted contact too (crm refuses such a reference)
--   note       contacts / 4, on contacts that are not soft-deleted
--   custom_field  definitions for contact, account, lead and activity; every
--              record's custom_fields match them

-- Word lists.
CREATE FUNCTION bench.first_names() RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT
'{Anna,Ben,Carla,David,Elena,Felix,Grace,Hugo,Ines,Jonas,Klara,Leon,Maria,Noah,Olga,Paul,Quinn,Rosa,Sam,Tina,Uwe,Vera,Walter,Xenia,Yusuf,Zoe,
Aaron,Bianca,Chen,Dmitri,Emma,Farid,Giulia,Hannah,Ivan,Julia,Kenji,Lara,Mateo,Nina,Omar,Priya,Rafael,Sofia,Tom,Ulla,Victor,Wei,Yara,Zeynep,
Adam,Beatriz,Carlos,Daria,Erik,Fatima,Gabriel,Helena,Isaac,Jana,Karim,Lena,Marco,Nora,Oscar,Pia,Ruben,Sara,Theo,Valentina,William,Amira,
Bruno,Chloe,Diego,Eva,Finn,Greta,Henrik,Ida,Jakob,Kim,Luca,Mila,Nils,Olivia,Pedro,Rita,Simon,Tara,Ursula,Vincent,Yasmin,Ahmed,Alice,Anton,
Astrid,Boris,Camille,Clara,Daniel,Elif,Emil,Frida,George,Hanna,Igor,Irene,James,Jan,Kai,Laura,Lukas,Mia,Max,Nadia,Niklas,Paula,Peter,Robin,
Selma,Sven,Teresa,Tobias,Vanessa,Yannick}'::text[] $$;

CREATE FUNCTION bench.name_heads() RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT
'{Ander,Berg,Carr,Dal,Eck,Fisch,Gold,Hart,Ivers,Jans,Kess,Lind,Mor,Nord,Ost,Pet,Quist,Ross,Stein,Thal,Ull,Vass,Wein,Yor,Zell,
Alm,Brand,Crom,Dorn,Eng,Falk,Grun,Holm,Iron,Kron,Lang,Mark,Nash,Old,Park,Rand,Sand,Tor,Wald,Win}'::text[] $$;

CREATE FUNCTION bench.name_tails() RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT
'{son,berg,mann,ford,ley,ton,wood,field,stone,well,by,ham,strom,dal,holm,quist,ridge,worth,brook,hurst,land,more}'::text[] $$;

CREATE FUNCTION bench.company_heads() RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT
'{Acme,Apex,Blue,Bright,Cedar,Core,Delta,Echo,Ever,First,Global,Green,Harbor,Iron,Juniper,Key,Lumen,Meta,North,Nova,Omni,
Pine,Prime,Quantum,Red,River,Silver,Smart,Solid,Star,Summit,True,Union,Vertex,West,Zen}'::text[] $$;

CREATE FUNCTION bench.company_tails() RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT
'{Works,Labs,Systems,Logistics,Foods,Energy,Health,Capital,Media,Motors,Analytics,Software,Partners,Retail,Design,Build,Cloud,Networks}'::text[] $$;

-- The COPY column list of each generated table.
CREATE FUNCTION bench.cols(entity text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT CASE entity
	WHEN 'app_user' THEN 'id, organization_id, name, email, title, timezone, created_at, updated_at'
	WHEN 'custom_field' THEN 'id, organization_id, entity, name, label, field_type, is_required, options, position, created_at, updated_at'
	WHEN 'account' THEN 'id, organization_id, name, type, status, rating, industry, employee_count, annual_revenue, currency, '
		'website, domain, phone, billing_address, owner_id, tags, custom_fields, created_at, updated_at, created_by'
	WHEN 'contact' THEN 'id, organization_id, account_id, first_name, last_name, email, phone, mobile, title, department, '
		'lead_source, preferred_contact_method, timezone, locale, birthday, social_profiles, do_not_email, do_not_call, '
		'unsubscribed_at, mailing_address, description, owner_id, tags, custom_fields, created_at, updated_at, created_by, deleted_at'
	WHEN 'lead' THEN 'id, organization_id, first_name, last_name, email, phone, company, title, industry, employee_count, '
		'lead_source, status, utm_source, utm_medium, utm_campaign, converted_at, disqualification_reason, owner_id, tags, '
		'custom_fields, created_at, updated_at, created_by'
	WHEN 'activity' THEN 'id, organization_id, type, subject, body, status, priority, activity_at, due_at, completed_at, '
		'duration_minutes, direction, outcome, account_id, contact_id, lead_id, owner_id, assignee_id, tags, custom_fields, '
		'created_at, updated_at, created_by'
	WHEN 'note' THEN 'id, organization_id, body, is_pinned, contact_id, created_at, updated_at, created_by'
	END $$;

-- The load order (foreign keys).
CREATE FUNCTION bench.entities() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
	SELECT '{app_user,custom_field,account,contact,lead,activity,note}'::text[] $$;

-- Generate the CSV files of tenant t; returns the row counts.
CREATE FUNCTION bench.generate(t integer, org uuid, n bigint, act_per_contact float8, dir text)
RETURNS bench.tenant
LANGUAGE plpgsql
AS $gen$
DECLARE
	nl bigint := greatest(n / 5, 1);
	nact bigint := round(n * act_per_contact);
	nn bigint := greatest(n / 4, 1);
	na bigint;
	perm bigint := 1000003;		-- multiplier of the contact permutation
	f text;
	res bench.tenant;
BEGIN
	SET LOCAL work_mem = '256MB';
	SET LOCAL client_min_messages = warning;
	WHILE n % perm = 0 LOOP perm := perm + 2; END LOOP;
	f := dir || '/t' || t || '_';

	-- app users
	EXECUTE format($q$COPY (
		SELECT bench.user_id(%1$s, u), %2$L::uuid,
			   bench.pick(bench.first_names(), bench.rnd(u, 101 + 1000 * %1$s)) || ' ' || bench.pick(bench.name_heads(), bench.rnd(u, 102 + 1000 * %1$s)) || bench.pick(bench.name_tails(), bench.rnd(u, 103 + 1000 * %1$s)),
			   'user' || u || '@tenant' || %1$s || '.example.com',
			   bench.pick('{Account Executive,Sales Manager,SDR,Support Agent,Customer Success Manager}', bench.rnd(u, 104 + 1000 * %1$s)),
			   bench.pick('{UTC,Europe/Berlin,America/New_York,Asia/Tokyo,America/Los_Angeles}', bench.rnd(u, 105 + 1000 * %1$s)),
			   bench.epoch(), bench.epoch()
		  FROM generate_series(1, 50) u) TO %3$L WITH (FORMAT csv)$q$, t, org, f || 'app_user.csv');

	-- custom field definitions
	EXECUTE format($q$COPY (
		SELECT bench.mkid(1672531200, %1$s, 9, i), %2$L::uuid, e, nm, lb, ft, req, opt::jsonb, i, bench.epoch(), bench.epoch()
		  FROM (VALUES
			(1, 'contact', 'segment', 'Segment', 'picklist', true, '["smb","mid_market","enterprise","public_sector"]'),
			(2, 'contact', 'nps', 'NPS score', 'number', false, '{"min":0,"max":10}'),
			(3, 'contact', 'newsletter', 'Newsletter', 'boolean', false, NULL),
			(4, 'contact', 'renewal_date', 'Renewal date', 'date', false, NULL),
			(5, 'account', 'tier', 'Tier', 'picklist', false, '["bronze","silver","gold","platinum"]'),
			(6, 'account', 'arr', 'ARR', 'number', false, '{"min":0}'),
			(7, 'lead', 'campaign_code', 'Campaign code', 'text', false, '{"max_length":20}'),
			(8, 'activity', 'sentiment', 'Sentiment', 'picklist', false, '["positive","neutral","negative"]')
		  ) AS d(i, e, nm, lb, ft, req, opt)) TO %3$L WITH (FORMAT csv)$q$, t, org, f || 'custom_field.csv');

	-- accounts: sizes first (staging), so that contacts can be laid out;
	-- owners skewed (low-numbered users own more)
	DROP TABLE IF EXISTS bench_gen.acc;
	EXECUTE format($q$CREATE UNLOGGED TABLE bench_gen.acc AS
		SELECT a, size, start, 1 + floor(50 * bench.rnd(a, 201 + 1000 * %2$s) ^ 1.6)::bigint AS owner_u FROM (
			SELECT a, size, (sum(size) OVER (ORDER BY a) - size)::bigint AS start
			  FROM (SELECT a, 1 + floor(49 * bench.rnd(a, 200 + 1000 * %2$s) ^ 3)::bigint AS size
					  FROM generate_series(1, %1$s / 6 + 10) a) s) s2
		 WHERE start < %1$s$q$, n, t);
	SELECT count(*) INTO na FROM bench_gen.acc;
	IF (SELECT max(start + size) FROM bench_gen.acc) < n THEN
		RAISE EXCEPTION 'generator: accounts cover too few contacts';
	END IF;
	EXECUTE format($q$COPY (
		SELECT bench.gid(%1$s, 3, a, %3$s), %2$L::uuid,
			   bench.pick(bench.company_heads(), bench.rnd(a, 210 + 1000 * %1$s)) || ' ' || bench.pick(bench.company_tails(), bench.rnd(a, 211 + 1000 * %1$s)) || ' '
				 || bench.pick('{Inc,GmbH,Ltd,LLC,SA,Group,AG,BV}', bench.rnd(a, 212 + 1000 * %1$s)) || ' ' || a,
			   bench.pick('{prospect,prospect,customer,customer,customer,partner,competitor,other}', bench.rnd(a, 213 + 1000 * %1$s)),
			   bench.pick('{active,active,active,active,inactive,churned}', bench.rnd(a, 214 + 1000 * %1$s)),
			   bench.pick('{hot,warm,cold}', bench.rnd(a, 215 + 1000 * %1$s)),
			   bench.pick('{Software,Manufacturing,Retail,Finance,Healthcare,Education,Logistics,Energy,Media,Public Sector}', bench.rnd(a, 216 + 1000 * %1$s)),
			   (10 ^ (1 + 4 * bench.rnd(a, 217 + 1000 * %1$s)))::int,
			   round((10 ^ (5 + 4 * bench.rnd(a, 218 + 1000 * %1$s)))::numeric, 2),
			   bench.pick('{USD,USD,EUR,GBP}', bench.rnd(a, 219 + 1000 * %1$s)),
			   'https://' || lower(bench.pick(bench.company_heads(), bench.rnd(a, 210 + 1000 * %1$s))) || '-' || a || '.example.com',
			   lower(bench.pick(bench.company_heads(), bench.rnd(a, 210 + 1000 * %1$s))) || '-' || a || '.example.com',
			   '+1 555 ' || (2000000 + bench.rint(a, 220 + 1000 * %1$s, 0, 7999999))::text,
			   jsonb_build_object('city', bench.pick('{Berlin,Paris,London,New York,Tokyo,Madrid,Toronto,Sydney}', bench.rnd(a, 221 + 1000 * %1$s)),
								  'country', bench.pick('{DE,FR,GB,US,JP,ES,CA,AU}', bench.rnd(a, 221 + 1000 * %1$s))),
			   bench.user_id(%1$s, owner_u),
			   CASE WHEN bench.rnd(a, 222 + 1000 * %1$s) < 0.3 THEN ARRAY[bench.pick('{key_account,reseller,vip,at_risk,expansion}', bench.rnd(a, 223 + 1000 * %1$s))] ELSE '{}' END,
			   jsonb_build_object('tier', bench.pick('{bronze,bronze,silver,gold,platinum}', bench.rnd(a, 224 + 1000 * %1$s)),
								  'arr', bench.rint(a, 225 + 1000 * %1$s, 0, 500000)),
			   bench.spread(%1$s, 3, a, %3$s), bench.spread(%1$s, 3, a, %3$s), bench.user_id(%1$s, owner_u)
		  FROM bench_gen.acc ORDER BY a) TO %4$L WITH (FORMAT csv)$q$, t, org, na, f || 'account.csv');

	-- contacts: slot s of account a's range is contact k = perm(s), so the
	-- members of an account are spread over the two years
	DROP TABLE IF EXISTS bench_gen.con;
	EXECUTE format($q$CREATE UNLOGGED TABLE bench_gen.con AS
		SELECT k, bench.gid(%1$s, 2, k, %2$s) AS id, bench.gid(%1$s, 3, a, %4$s) AS account_id,
			   bench.user_id(%1$s, CASE WHEN bench.rnd(k, 301 + 1000 * %1$s) < 0.85 THEN owner_u ELSE bench.rint(k, 302 + 1000 * %1$s, 1, 50) END) AS owner_id,
			   bench.pick(bench.first_names(), bench.rnd(k, 303 + 1000 * %1$s)) AS first_name,
			   bench.pick(bench.name_heads(), bench.rnd(k, 304 + 1000 * %1$s)) || bench.pick(bench.name_tails(), bench.rnd(k, 305 + 1000 * %1$s)) AS last_name,
			   lower(bench.pick(bench.company_heads(), bench.rnd(a, 210 + 1000 * %1$s))) || '-' || a || '.example.com' AS domain
		  FROM bench_gen.acc, generate_series(start, least(start + size, %2$s) - 1) s,
			   LATERAL (SELECT (s * %3$s) %% %2$s + 1 AS k) p$q$, t, n, perm, na);
	CREATE INDEX ON bench_gen.con (k);
	ANALYZE bench_gen.con;
	EXECUTE format($q$COPY (
		SELECT id, %2$L::uuid, account_id, first_name, last_name,
			   lower(first_name || '.' || last_name) || '.' || k || '@' || domain,
			   '+1 555 ' || (2000000 + bench.rint(k, 310 + 1000 * %1$s, 0, 7999999))::text,
			   CASE WHEN bench.rnd(k, 311 + 1000 * %1$s) < 0.5 THEN '+1 556 ' || (2000000 + bench.rint(k, 312 + 1000 * %1$s, 0, 7999999))::text END,
			   bench.pick('{CEO,CTO,CFO,VP Sales,Head of IT,Buyer,Engineer,Office Manager,Consultant,Director of Operations}', bench.rnd(k, 313 + 1000 * %1$s)),
			   bench.pick('{Sales,IT,Finance,Operations,Marketing,Procurement,Engineering,Management}', bench.rnd(k, 314 + 1000 * %1$s)),
			   bench.pick('{web,referral,event,cold_call,partner,advertising}', bench.rnd(k, 315 + 1000 * %1$s)),
			   bench.pick('{email,email,phone,mobile,sms,mail,none}', bench.rnd(k, 316 + 1000 * %1$s)),
			   bench.pick('{UTC,Europe/Berlin,Europe/Paris,Europe/London,America/New_York,America/Chicago,Asia/Tokyo,Australia/Sydney}', bench.rnd(k, 317 + 1000 * %1$s)),
			   bench.pick('{en,en_US,de_DE,fr_FR,es_ES,ja_JP,pt-BR}', bench.rnd(k, 318 + 1000 * %1$s)),
			   CASE WHEN bench.rnd(k, 319 + 1000 * %1$s) < 0.6 THEN date '1950-01-01' + bench.rint(k, 320 + 1000 * %1$s, 0, 18000)::int END,
			   CASE WHEN bench.rnd(k, 321 + 1000 * %1$s) < 0.4 THEN jsonb_build_object('linkedin', 'https://linkedin.com/in/' || lower(first_name || '-' || last_name) || '-' || k) ELSE '{}' END,
			   bench.rnd(k, 322 + 1000 * %1$s) < 0.05, bench.rnd(k, 323 + 1000 * %1$s) < 0.03,
			   CASE WHEN bench.rnd(k, 324 + 1000 * %1$s) < 0.04 THEN bench.spread(%1$s, 2, k, %3$s) + interval '90 days' END,
			   CASE WHEN bench.rnd(k, 325 + 1000 * %1$s) < 0.5 THEN jsonb_build_object('street', bench.rint(k, 326 + 1000 * %1$s, 1, 200) || ' Main Street',
					'city', bench.pick('{Berlin,Paris,London,New York,Tokyo,Madrid,Toronto,Sydney}', bench.rnd(k, 327 + 1000 * %1$s)), 'postal_code', lpad(bench.rint(k, 328 + 1000 * %1$s, 0, 99999)::text, 5, '0')) END,
			   CASE WHEN bench.rnd(k, 329 + 1000 * %1$s) < 0.1 THEN 'Met at ' || bench.pick('{a trade fair,a webinar,a partner event,the user conference}', bench.rnd(k, 330 + 1000 * %1$s)) || '.' END,
			   owner_id,
			   CASE WHEN bench.rnd(k, 331 + 1000 * %1$s) < 0.35 THEN ARRAY(SELECT DISTINCT bench.pick('{vip,newsletter,decision_maker,champion,technical,billing,churn_risk,partner,webinar,trial,beta,event}', bench.rnd(k * 4 + i, 332 + 1000 * %1$s)) FROM generate_series(1, 1 + (bench.rnd(k, 333 + 1000 * %1$s) * 3)::int) i) ELSE '{}' END,
			   jsonb_strip_nulls(jsonb_build_object(
					'segment', bench.pick('{smb,smb,smb,mid_market,mid_market,enterprise,public_sector}', bench.rnd(k, 334 + 1000 * %1$s)),
					'nps', CASE WHEN bench.rnd(k, 335 + 1000 * %1$s) < 0.6 THEN bench.rint(k, 336 + 1000 * %1$s, 0, 10) END,
					'newsletter', bench.rnd(k, 337 + 1000 * %1$s) < 0.5,
					'renewal_date', CASE WHEN bench.rnd(k, 338 + 1000 * %1$s) < 0.3 THEN to_char(date '2025-01-01' + bench.rint(k, 339 + 1000 * %1$s, 0, 700)::int, 'YYYY-MM-DD') END)),
			   bench.spread(%1$s, 2, k, %3$s), bench.spread(%1$s, 2, k, %3$s) + bench.rnd(k, 340 + 1000 * %1$s) * interval '30 days', owner_id,
			   CASE WHEN bench.rnd(k, 341 + 1000 * %1$s) < 0.02 THEN bench.spread(%1$s, 2, k, %3$s) + interval '60 days' END
		  FROM bench_gen.con ORDER BY k) TO %4$L WITH (FORMAT csv)$q$, t, org, n, f || 'contact.csv');

	-- leads
	EXECUTE format($q$COPY (
		SELECT bench.gid(%1$s, 4, l, %3$s), %2$L::uuid, fn, ln,
			   lower(fn || '.' || ln) || '.' || l || '@lead' || l || '.example.org',
			   '+1 557 ' || (2000000 + bench.rint(l, 410 + 1000 * %1$s, 0, 7999999))::text,
			   bench.pick(bench.company_heads(), bench.rnd(l, 411 + 1000 * %1$s)) || ' ' || bench.pick(bench.company_tails(), bench.rnd(l, 412 + 1000 * %1$s)),
			   bench.pick('{CEO,CTO,VP Sales,Head of IT,Buyer,Engineer}', bench.rnd(l, 413 + 1000 * %1$s)),
			   bench.pick('{Software,Manufacturing,Retail,Finance,Healthcare,Education}', bench.rnd(l, 414 + 1000 * %1$s)),
			   bench.rint(l, 415 + 1000 * %1$s, 1, 5000),
			   bench.pick('{web,referral,event,cold_call,partner,advertising}', bench.rnd(l, 416 + 1000 * %1$s)),
			   st,
			   bench.pick('{google,linkedin,newsletter,partner,direct}', bench.rnd(l, 417 + 1000 * %1$s)),
			   bench.pick('{cpc,social,email,referral,none}', bench.rnd(l, 418 + 1000 * %1$s)),
			   'camp-' || bench.rint(l, 419 + 1000 * %1$s, 1, 40),
			   CASE WHEN st = 'converted' THEN bench.spread(%1$s, 4, l, %3$s) + interval '20 days' END,
			   CASE WHEN st = 'unqualified' THEN bench.pick('{no budget,no need,competitor,bad fit}', bench.rnd(l, 420 + 1000 * %1$s)) END,
			   bench.user_id(%1$s, bench.rint(l, 421 + 1000 * %1$s, 1, 50)),
			   CASE WHEN bench.rnd(l, 422 + 1000 * %1$s) < 0.2 THEN ARRAY['webinar'] ELSE '{}' END,
			   CASE WHEN bench.rnd(l, 423 + 1000 * %1$s) < 0.5 THEN jsonb_build_object('campaign_code', 'C' || bench.rint(l, 424 + 1000 * %1$s, 1000, 9999)) ELSE '{}' END,
			   bench.spread(%1$s, 4, l, %3$s), bench.spread(%1$s, 4, l, %3$s), bench.user_id(%1$s, bench.rint(l, 421 + 1000 * %1$s, 1, 50))
		  FROM generate_series(1, %3$s) l,
			   LATERAL (SELECT bench.pick(bench.first_names(), bench.rnd(l, 401 + 1000 * %1$s)) AS fn,
							   bench.pick(bench.name_heads(), bench.rnd(l, 402 + 1000 * %1$s)) || bench.pick(bench.name_tails(), bench.rnd(l, 403 + 1000 * %1$s)) AS ln,
							   bench.pick('{new,new,new,contacted,contacted,nurturing,qualified,unqualified,converted}', bench.rnd(l, 404 + 1000 * %1$s)) AS st) x
		) TO %4$L WITH (FORMAT csv)$q$, t, org, nl, f || 'lead.csv');

	-- activities, in time order; activity j falls on a contact created before it
	EXECUTE format($q$COPY (
		SELECT bench.mkid(at_s - 300, %1$s, 5, j), %2$L::uuid, ty,
			   initcap(ty) || ' with ' || coalesce(c.first_name, 'lead') || ': ' || bench.pick('{follow-up,introduction,demo,pricing,renewal,onboarding,support question,contract}', bench.rnd(j, 503 + 1000 * %1$s)),
			   CASE WHEN bench.rnd(j, 504 + 1000 * %1$s) < 0.4 THEN 'Discussed ' || bench.pick('{the proposal,next steps,the integration,budget for next year,the support ticket,training}', bench.rnd(j, 505 + 1000 * %1$s)) || ' and agreed to follow up.' END,
			   st,
			   bench.pick('{low,normal,normal,normal,high,urgent}', bench.rnd(j, 506 + 1000 * %1$s)),
			   at,
			   CASE WHEN ty = 'task' THEN at + interval '3 days' END,
			   CASE WHEN st = 'completed' THEN at + interval '30 minutes' END,
			   CASE WHEN ty IN ('call', 'meeting') THEN bench.rint(j, 507 + 1000 * %1$s, 5, 90)::int END,
			   CASE WHEN ty IN ('call', 'email', 'sms') THEN bench.pick('{inbound,outbound,outbound}', bench.rnd(j, 508 + 1000 * %1$s)) END,
			   CASE WHEN ty = 'call' THEN bench.pick('{connected,left voicemail,no answer}', bench.rnd(j, 509 + 1000 * %1$s)) END,
			   c.account_id, c.id, CASE WHEN c.id IS NULL THEN bench.gid(%1$s, 4, lk, %5$s) END,
			   coalesce(c.owner_id, bench.user_id(%1$s, bench.rint(j, 510 + 1000 * %1$s, 1, 50))),
			   coalesce(c.owner_id, bench.user_id(%1$s, bench.rint(j, 510 + 1000 * %1$s, 1, 50))),
			   CASE WHEN bench.rnd(j, 511 + 1000 * %1$s) < 0.05 THEN ARRAY['important'] ELSE '{}' END,
			   CASE WHEN bench.rnd(j, 512 + 1000 * %1$s) < 0.2 THEN jsonb_build_object('sentiment', bench.pick('{positive,neutral,negative}', bench.rnd(j, 513 + 1000 * %1$s))) ELSE '{}' END,
			   at - interval '5 minutes', at - interval '5 minutes', coalesce(c.owner_id, bench.user_id(%1$s, bench.rint(j, 510 + 1000 * %1$s, 1, 50)))
		  FROM generate_series(1, %3$s) j
		  CROSS JOIN LATERAL (SELECT bench.spread(%1$s, 5, j, %3$s) AS at, bench.spread_s(%1$s, 5, j, %3$s) AS at_s,
									 bench.pick('{call,call,email,email,email,meeting,task,note,sms}', bench.rnd(j, 501 + 1000 * %1$s)) AS ty,
									 bench.rnd(j, 502 + 1000 * %1$s) < 0.1 AS on_lead,
									 1 + floor(bench.rnd(j, 514 + 1000 * %1$s) * greatest(1, floor(%4$s::float8 * j / %3$s)))::bigint AS ck,
									 1 + floor(bench.rnd(j, 515 + 1000 * %1$s) * greatest(1, floor(%5$s::float8 * j / %3$s)))::bigint AS lk) x
		  CROSS JOIN LATERAL (SELECT CASE WHEN x.at > bench.epoch() + interval '700 days' THEN 'planned'
										  WHEN bench.rnd(j, 516 + 1000 * %1$s) < 0.08 THEN 'cancelled' ELSE 'completed' END AS st) s
		  -- (crm refuses a reference to a soft-deleted contact: such an activity is on a lead)
		  LEFT JOIN bench_gen.con c ON NOT on_lead AND c.k = ck AND bench.rnd(ck, 341 + 1000 * %1$s) >= 0.02
		 ORDER BY j) TO %6$L WITH (FORMAT csv)$q$, t, org, nact, n, nl, f || 'activity.csv');

	-- notes on contacts
	EXECUTE format($q$COPY (
		SELECT bench.gid(%1$s, 6, i, %3$s), %2$L::uuid,
			   bench.pick('{Prefers calls in the morning.,Decision expected next quarter.,Asked for a discount.,Uses a competitor for support.,Very happy with onboarding.,Budget owner is the CFO.}', bench.rnd(i, 601 + 1000 * %1$s)),
			   bench.rnd(i, 602 + 1000 * %1$s) < 0.05,
			   bench.gid(%1$s, 2, lk, %4$s),
			   greatest(bench.spread(%1$s, 6, i, %3$s), bench.spread(%1$s, 2, lk, %4$s)),
			   greatest(bench.spread(%1$s, 6, i, %3$s), bench.spread(%1$s, 2, lk, %4$s)),
			   bench.user_id(%1$s, bench.rint(i, 603 + 1000 * %1$s, 1, 50))
		  FROM generate_series(1, %3$s) i,
			   LATERAL (SELECT 1 + floor(bench.rnd(i, 604 + 1000 * %1$s) * greatest(1, floor(%4$s::float8 * i / %3$s)))::bigint AS ck) x,
			   -- the nearest older contact that is not soft-deleted (crm refuses a
			   -- reference to a deleted one)
			   LATERAL (SELECT coalesce((SELECT k FROM generate_series(x.ck, greatest(x.ck - 50, 1), -1) k
										  WHERE bench.rnd(k, 341 + 1000 * %1$s) >= 0.02 LIMIT 1), x.ck) AS lk) y
		) TO %5$L WITH (FORMAT csv)$q$, t, org, nn, n, f || 'note.csv');

	DROP TABLE bench_gen.acc;
	DROP TABLE bench_gen.con;
	res := ROW(t, org, n, na, nl, nact, nn);
	INSERT INTO bench.tenant VALUES (res.*);
	RETURN res;
END;
$gen$;
