-- bench/sql/40_queries.sql
-- The timed read queries (figures a-c).  Each has a crm form, run by the
-- application role under row-level security with no tenant filter of its
-- own (the policy supplies it), and a baseline form on the bare copies with
-- the explicit organization_id filter a plain application would write
-- ({org} is replaced by the big tenant's id).  $1 is one value of the
-- parameter set `params` (bench.param).

CREATE TABLE bench.query (
	figure		text NOT NULL,
	label		text PRIMARY KEY,
	target_ms	float8,
	params		text NOT NULL,
	crm_sql		text NOT NULL,
	bare_sql	text NOT NULL
);

-- crm.search() on the bare tables: the same PL/pgSQL function, its table
-- names pointed at the bare copies (kept in step with crm.search itself).
DO $$
DECLARE
	def text := pg_get_functiondef('crm.search(text, integer)'::regprocedure);
	t text;
BEGIN
	def := replace(def, 'FUNCTION crm.search(', 'FUNCTION bench.search_bare(');
	FOREACH t IN ARRAY ARRAY['contact', 'account', 'lead'] LOOP
		def := replace(def, 'crm.' || t || ' ', 'bare.' || t || ' ');
	END LOOP;
	IF def ~ 'crm\.(contact|account|lead) ' THEN
		RAISE EXCEPTION 'bench: could not point crm.search at the bare tables';
	END IF;
	EXECUTE def;
END;
$$;

INSERT INTO bench.query VALUES
('a', 'a. contact list page (25, owner''s, newest first)', 1, 'owners',
$q$SELECT c.id, c.first_name, c.last_name, c.email, c.phone, c.created_at, a.name AS account_name
  FROM crm.contact c
  LEFT JOIN crm.account a ON a.organization_id = c.organization_id AND a.id = c.account_id
 WHERE c.owner_id = $1::uuid AND c.deleted_at IS NULL
 ORDER BY c.created_at DESC LIMIT 25$q$,
$q$SELECT c.id, c.first_name, c.last_name, c.email, c.phone, c.created_at, a.name AS account_name
  FROM bare.contact c
  LEFT JOIN bare.account a ON a.organization_id = c.organization_id AND a.id = c.account_id
 WHERE c.organization_id = {org} AND c.owner_id = $1::uuid AND c.deleted_at IS NULL
 ORDER BY c.created_at DESC LIMIT 25$q$),

('b', 'b1. search: crm.search(''first last-prefix'')', 10, 'search_terms',
$q$SELECT * FROM crm.search($1)$q$,
$q$SELECT * FROM bench.search_bare($1)$q$),

('b', 'b2. search: direct tsvector query on contact', 10, 'full_names',
$q$SELECT c.id, c.first_name, c.last_name, c.email
  FROM crm.contact c
 WHERE c.search_vector OPERATOR(crm.@@) plainto_tsquery('simple', $1) AND c.deleted_at IS NULL
 ORDER BY ts_rank(c.search_vector, plainto_tsquery('simple', $1)) DESC LIMIT 20$q$,
$q$SELECT c.id, c.first_name, c.last_name, c.email
  FROM bare.contact c
 WHERE c.organization_id = {org} AND c.search_vector OPERATOR(crm.@@) plainto_tsquery('simple', $1) AND c.deleted_at IS NULL
 ORDER BY ts_rank(c.search_vector, plainto_tsquery('simple', $1)) DESC LIMIT 20$q$),

('b', 'b3. search: contact by email', 10, 'emails',
$q$SELECT c.id, c.first_name, c.last_name, c.account_id
  FROM crm.contact c
 WHERE c.email OPERATOR(pg_catalog.=) $1::text AND c.deleted_at IS NULL$q$,
$q$SELECT c.id, c.first_name, c.last_name, c.account_id
  FROM bare.contact c
 WHERE c.organization_id = {org} AND c.email OPERATOR(pg_catalog.=) $1::text AND c.deleted_at IS NULL$q$),

('c', 'c. customer 360° view', 5, 'contacts',
$q$SELECT jsonb_build_object(
		'contact', to_jsonb(c) - 'search_vector',
		'account', to_jsonb(a) - 'search_vector',
		'colleagues', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', o.id, 'name', concat_ws(' ', o.first_name, o.last_name),
											'title', o.title, 'email', o.email) ORDER BY o.last_name, o.first_name), '[]')
						 FROM crm.contact o
						WHERE o.organization_id = c.organization_id AND o.account_id = c.account_id
						  AND o.id <> c.id AND o.deleted_at IS NULL),
		'activities', (SELECT coalesce(jsonb_agg(x ORDER BY x.activity_at DESC), '[]')
						 FROM (SELECT v.id, v.type, v.subject, v.status, v.activity_at, v.owner_id
								 FROM crm.activity v
								WHERE v.organization_id = c.organization_id AND v.contact_id = c.id AND v.deleted_at IS NULL
								ORDER BY v.activity_at DESC LIMIT 20) x))
  FROM crm.contact c
  LEFT JOIN crm.account a ON a.organization_id = c.organization_id AND a.id = c.account_id
 WHERE c.id = $1::uuid$q$,
$q$SELECT jsonb_build_object(
		'contact', to_jsonb(c) - 'search_vector',
		'account', to_jsonb(a) - 'search_vector',
		'colleagues', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', o.id, 'name', concat_ws(' ', o.first_name, o.last_name),
											'title', o.title, 'email', o.email) ORDER BY o.last_name, o.first_name), '[]')
						 FROM bare.contact o
						WHERE o.organization_id = c.organization_id AND o.account_id = c.account_id
						  AND o.id <> c.id AND o.deleted_at IS NULL),
		'activities', (SELECT coalesce(jsonb_agg(x ORDER BY x.activity_at DESC), '[]')
						 FROM (SELECT v.id, v.type, v.subject, v.status, v.activity_at, v.owner_id
								 FROM bare.activity v
								WHERE v.organization_id = c.organization_id AND v.contact_id = c.id AND v.deleted_at IS NULL
								ORDER BY v.activity_at DESC LIMIT 20) x))
  FROM bare.contact c
  LEFT JOIN bare.account a ON a.organization_id = c.organization_id AND a.id = c.account_id
 WHERE c.organization_id = {org} AND c.id = $1::uuid$q$);

-- The parameter sets, picked deterministically from tenant 0 (the big one).
CREATE FUNCTION bench.make_params() RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
	big bench.tenant;
BEGIN
	SELECT * INTO big FROM bench.tenant WHERE t = 0;
	DELETE FROM bench.param;
	INSERT INTO bench.param
	SELECT 'owners', array_agg(bench.user_id(0, u)::text ORDER BY u) FROM generate_series(1, 50) u;
	CREATE TEMP TABLE sample ON COMMIT DROP AS
	SELECT c.* FROM generate_series(1, 100) i
	  JOIN crm.contact c ON c.organization_id = big.org AND c.id = bench.gid(0, 2, 1 + (i * 104729) % big.contacts, big.contacts)
	 WHERE c.deleted_at IS NULL AND c.account_id IS NOT NULL
	 ORDER BY i LIMIT 50;
	INSERT INTO bench.param SELECT 'contacts', array_agg(id::text) FROM sample;
	INSERT INTO bench.param SELECT 'emails', array_agg(email) FROM sample;
	INSERT INTO bench.param SELECT 'full_names', array_agg(first_name || ' ' || last_name) FROM sample;
	INSERT INTO bench.param SELECT 'search_terms', array_agg(lower(first_name || ' ' || left(last_name, 4))) FROM sample;
END;
$$;
