-- bench/sql/00_harness.sql
-- The bench schema: deterministic pseudo-randomness, deterministic ids, the
-- results table and the timing functions.  Installed by the superuser into
-- the benchmark database only; nothing here is part of the extension.

CREATE SCHEMA bench;
CREATE SCHEMA bench_gen;		-- unlogged staging tables of the generator

-- A pseudo-random number in [0, 1) from (k, salt): a hash, so the same
-- (k, salt) always gives the same number on every run and machine.
CREATE FUNCTION bench.rnd(k bigint, salt integer) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT ((pg_catalog.hashint8extended(k, salt) >> 11) & 9007199254740991)::float8 / 9007199254740992.0 $$;

-- An integer in [lo, hi] from (k, salt).
CREATE FUNCTION bench.rint(k bigint, salt integer, lo bigint, hi bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT lo + floor(bench.rnd(k, salt) * (hi - lo + 1))::bigint $$;

-- One element of an array, chosen by a number in [0, 1).
CREATE FUNCTION bench.pick(a text[], r float8) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT a[1 + floor(r * cardinality(a))::int] $$;

-- Generation epoch: all data lies in the two years from here.
CREATE FUNCTION bench.epoch() RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT to_timestamp(1672531200) $$;	-- 2023-01-01 00:00 UTC

-- The helpers below are written with immutable operations only (epoch
-- seconds, to_timestamp(float8), explicit ::text casts), so that the planner
-- inlines them into the generator's queries: a SQL function that is not
-- inlined costs a function-call setup per row.

-- The creation time (epoch seconds) of record i of n of a kind: spread
-- evenly over two years (record order is creation order), with up to an hour
-- of jitter.
CREATE FUNCTION bench.spread_s(t integer, kind integer, i bigint, n bigint) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 1672531200 + ((i - 1)::float8 / greatest(n, 1)) * 63072000
			+ bench.rnd(i, t * 1000 + kind) * 3600 $$;

CREATE FUNCTION bench.spread(t integer, kind integer, i bigint, n bigint) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT to_timestamp(bench.spread_s(t, kind, i, n)) $$;

-- A deterministic uuid of version 7 shape: the creation time (epoch
-- seconds) in its first 48 bits, so ids are time-ordered like
-- crm.uuid_v7(), a hash of (tenant, kind, number) in the rest.
CREATE FUNCTION bench.mkid(s float8, t integer, kind integer, i bigint) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT (lpad(to_hex((s * 1000)::bigint), 12, '0') || '7'
			 || substr(md5(t::text || ':' || kind::text || ':' || i::text), 1, 3) || '8'
			 || substr(md5(t::text || ':' || kind::text || ':' || i::text), 4, 15))::uuid $$;

-- The id of record i of n of a kind in tenant t (kinds: 1 app_user,
-- 2 contact, 3 account, 4 lead, 5 activity, 6 note, 9 custom_field).
CREATE FUNCTION bench.gid(t integer, kind integer, i bigint, n bigint) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT bench.mkid(bench.spread_s(t, kind, i, n), t, kind, i) $$;

-- The id of app_user u (1..50) of tenant t.
CREATE FUNCTION bench.user_id(t integer, u bigint) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT bench.mkid(1672531200, t, 1, u) $$;

-- The generated tenants: number, organization, sizes.
CREATE TABLE bench.tenant (
	t			integer PRIMARY KEY,
	org			uuid NOT NULL,
	contacts	bigint NOT NULL,
	accounts	bigint,
	leads		bigint NOT NULL,
	activities	bigint NOT NULL,
	notes		bigint NOT NULL
);

-- Parameter sets of the timed queries, per tenant (values picked from the
-- tenant's own records: tenant 0 the big one, tenant 1 the tenth).
CREATE TABLE bench.param (
	t			integer NOT NULL DEFAULT 0,
	name		text NOT NULL,
	vals		text[] NOT NULL,
	PRIMARY KEY (t, name)
);

-- Every measurement of the run.
CREATE TABLE bench.result (
	seq			serial PRIMARY KEY,
	figure		text NOT NULL,		-- e.g. 'a'
	label		text NOT NULL,
	side		text NOT NULL,		-- crm | baseline
	value		float8 NOT NULL,	-- median
	unit		text NOT NULL,		-- ms | s | tps
	target_value float8,			-- the crm value must be <= this (ms or s)
	target_ratio float8,			-- crm / baseline must be <= this
	baseline_kind text,
	runs		integer
);

-- The median of an array.
CREATE FUNCTION bench.median(v float8[]) RETURNS float8
LANGUAGE sql IMMUTABLE STRICT
AS $$ SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(v) x $$;

-- Run a query once per parameter value, `rounds` times over the set, after
-- an untimed warm-up over the first values, and return the elapsed
-- milliseconds of each run.  A slow query stops early once budget_s seconds
-- are spent (with at least 5 timed runs).  The query text takes its value
-- as $1 (text); it is parsed and planned on every run, as when a client
-- sends it unprepared.  Runs as the caller: for the application role, under
-- row-level security.
CREATE FUNCTION bench.time_query(q text, vals text[], rounds integer DEFAULT 3, budget_s float8 DEFAULT 20)
RETURNS float8[]
LANGUAGE plpgsql
AS $$
DECLARE
	v text;
	t0 timestamptz;
	started timestamptz;
	times float8[] := '{}';
	r integer;
	i integer;
BEGIN
	FOR i IN 1 .. least(cardinality(vals), 5) LOOP
		EXECUTE q USING vals[i];
	END LOOP;
	started := clock_timestamp();
	<<outer>>
	FOR r IN 1 .. rounds LOOP
		FOREACH v IN ARRAY vals LOOP
			t0 := clock_timestamp();
			EXECUTE q USING v;
			times := times || (extract(epoch FROM clock_timestamp() - t0) * 1000)::float8;
			EXIT outer WHEN cardinality(times) >= 5 AND clock_timestamp() - started > budget_s * interval '1 second';
		END LOOP;
	END LOOP;
	RETURN times;
END;
$$;

-- COPY into a table inside a subtransaction that is then rolled back, and
-- return the seconds the COPY took (for the PL/pgSQL audit variant, whose
-- rows must not stay).  Superuser.
CREATE FUNCTION bench.copy_timed_rollback(target regclass, cols text, file text) RETURNS float8
LANGUAGE plpgsql
AS $$
DECLARE
	secs float8;
BEGIN
	BEGIN
		secs := bench.copy_timed(target, cols, file);
		RAISE EXCEPTION 'bench: roll back' USING ERRCODE = 'BR001';
	EXCEPTION WHEN SQLSTATE 'BR001' THEN
		NULL;
	END;
	RETURN secs;
END;
$$;

-- COPY a server-side CSV file into a table and return the seconds it took
-- (the statement with all its triggers and constraint checks).  Superuser.
CREATE FUNCTION bench.copy_timed(target regclass, cols text, file text) RETURNS float8
LANGUAGE plpgsql
AS $$
DECLARE
	t0 timestamptz := clock_timestamp();
BEGIN
	EXECUTE format('COPY %s (%s) FROM %L WITH (FORMAT csv)', target, cols, file);
	RETURN extract(epoch FROM clock_timestamp() - t0);
END;
$$;

-- Bulk import of n contacts with their accounts (one account per 5
-- contacts) into schema sch, the way an application import does it: one
-- multi-row INSERT of accounts, then one of contacts, ids from
-- crm.uuid_v7(), values as parameters.  Runs `runs` such imports (batch
-- numbers from first_batch on) and returns the milliseconds of each.
CREATE FUNCTION bench.time_import(sch text, org uuid, owner uuid, n integer, runs integer, first_batch integer)
RETURNS float8[]
LANGUAGE plpgsql
AS $$
DECLARE
	t0 timestamptz;
	times float8[] := '{}';
	b integer;
	na integer := greatest(n / 5, 1);
	acc uuid[];
BEGIN
	FOR b IN first_batch .. first_batch + runs - 1 LOOP
		t0 := clock_timestamp();
		acc := ARRAY(SELECT crm.uuid_v7() FROM generate_series(1, na));
		EXECUTE format($q$
			INSERT INTO %I.account (id, organization_id, name, domain, website, industry, type, owner_id, custom_fields)
			SELECT $1[g], $2, 'Import ' || $4 || '-' || g || ' Ltd', 'import' || $4 || '-' || g || '.example.com',
				   'https://import' || $4 || '-' || g || '.example.com', 'Software', 'prospect', $3,
				   jsonb_build_object('tier', 'bronze')
			  FROM generate_series(1, cardinality($1)) g$q$, sch)
			USING acc, org, owner, b;
		EXECUTE format($q$
			INSERT INTO %I.contact (organization_id, account_id, first_name, last_name, email, phone, title,
									lead_source, owner_id, tags, custom_fields)
			SELECT $2, $1[1 + g %% cardinality($1)], 'Imported', 'Person' || g,
				   'imported.' || $4 || '.' || g || '@import' || $4 || '-' || (1 + g %% cardinality($1)) || '.example.com',
				   '+1 555 ' || (2000000 + g)::text, 'Buyer', 'import', $3, ARRAY['imported'],
				   jsonb_build_object('segment', 'smb', 'newsletter', g %% 2 = 0)
			  FROM generate_series(1, $5) g$q$, sch)
			USING acc, org, owner, b, n;
		times := times || (extract(epoch FROM clock_timestamp() - t0) * 1000)::float8;
	END LOOP;
	RETURN times;
END;
$$;

-- The baseline's bare copies (schema bare, created by the caller): for each
-- crm table of tbls, bare.<name> with the same columns, defaults, generated
-- columns, CHECK constraints and indexes, and the same foreign keys, pointed
-- at the bare copy of the referenced table when there is one (of this call
-- or an earlier one) or at crm.organization; foreign keys to tables that
-- have no bare copy (stages, territories, SLA policies, ...) are left out.
-- No triggers, no row-level security.  With org, the organization's rows are
-- copied over.  The rows are copied before the foreign keys exist, which
-- are then added NOT VALID (they check every later write, not the copied
-- rows): a referenced row of another table may be absent from its bare
-- copy (one copied by an earlier call, before later writes to crm).
CREATE FUNCTION bench.make_bare(tbls text[], org uuid DEFAULT NULL) RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
	t text;
	fk record;
BEGIN
	FOREACH t IN ARRAY tbls LOOP
		EXECUTE format('CREATE TABLE bare.%I (LIKE crm.%I INCLUDING ALL)', t, t);
	END LOOP;
	IF org IS NOT NULL THEN
		FOREACH t IN ARRAY tbls LOOP
			EXECUTE format('INSERT INTO bare.%I (%s) SELECT %2$s FROM crm.%1$I WHERE organization_id = %3$L',
						   t, (SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
								WHERE attrelid = format('crm.%I', t)::regclass AND attnum > 0 AND NOT attisdropped
								  AND attgenerated = ''),
						   org);
		END LOOP;
	END IF;
	FOREACH t IN ARRAY tbls LOOP
		FOR fk IN
			SELECT c.conname, pg_get_constraintdef(c.oid) AS def, r.relname AS ref, c.confrelid::regclass::text AS ref_name
			  FROM pg_constraint c JOIN pg_class r ON r.oid = c.confrelid
			 WHERE c.conrelid = format('crm.%I', t)::regclass AND c.contype = 'f'
			 ORDER BY c.conname
		LOOP
			IF to_regclass(format('bare.%I', fk.ref)) IS NOT NULL THEN
				EXECUTE format('ALTER TABLE bare.%I ADD CONSTRAINT %I %s NOT VALID', t, fk.conname,
							   replace(fk.def, 'REFERENCES ' || fk.ref_name || '(', format('REFERENCES bare.%I(', fk.ref)));
			ELSIF fk.ref = 'organization' THEN
				EXECUTE format('ALTER TABLE bare.%I ADD CONSTRAINT %I %s NOT VALID', t, fk.conname, fk.def);
			END IF;
		END LOOP;
	END LOOP;
END;
$$;
