-- ============================================================================
-- 70 search: ranked full-text search across contacts, accounts, leads,
-- activities and notes
-- ============================================================================

-- Full-text matching that row-level security lets an index serve.  Under
-- RLS, PostgreSQL evaluates a user's condition inside an index scan only if
-- its function is LEAKPROOF, and the built-in @@ is not marked so: a tenant's
-- search would then scan every row of the tenant.  crm.ts_match is the same
-- built-in function (ts_match_vq: a pure function of its two arguments that
-- raises no error about them) declared LEAKPROOF, crm.@@ its operator, and
-- crm.tsvector_ops a GIN operator class for it built from the standard
-- tsvector support functions.  Write OPERATOR(crm.@@) to use it.
CREATE FUNCTION crm.ts_match(tsvector, tsquery) RETURNS boolean
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF
	AS 'ts_match_vq';
COMMENT ON FUNCTION crm.ts_match(tsvector, tsquery) IS
	'tsvector @@ tsquery, declared LEAKPROOF so that indexes serve it under row-level security; operator crm.@@.';
CREATE OPERATOR crm.@@ (LEFTARG = tsvector, RIGHTARG = tsquery, FUNCTION = crm.ts_match,
						RESTRICT = tsmatchsel, JOIN = tsmatchjoinsel);
COMMENT ON OPERATOR crm.@@ (tsvector, tsquery) IS
	'Full-text match usable by the search indexes under row-level security: search_vector OPERATOR(crm.@@) crm.search_query(''ann'').';
CREATE OPERATOR CLASS crm.tsvector_ops FOR TYPE tsvector USING gin AS
	OPERATOR 1 crm.@@ (tsvector, tsquery),
	FUNCTION 1 pg_catalog.gin_cmp_tslexeme(text, text),
	FUNCTION 2 pg_catalog.gin_extract_tsvector(tsvector, internal, internal),
	FUNCTION 3 pg_catalog.gin_extract_tsquery(tsvector, internal, smallint, internal, internal, internal, internal),
	FUNCTION 4 pg_catalog.gin_tsquery_consistent(internal, smallint, tsvector, integer, internal, internal, internal, internal),
	FUNCTION 5 pg_catalog.gin_cmp_prefix(text, text, smallint, internal),
	FUNCTION 6 pg_catalog.gin_tsquery_triconsistent(internal, smallint, tsvector, integer, internal, internal, internal),
	STORAGE text;
COMMENT ON OPERATOR FAMILY crm.tsvector_ops USING gin IS 'GIN index support of crm.@@ (full-text match under row-level security).';

-- The search indexes of contact, account and lead use it (they serve
-- crm.search and any query written with OPERATOR(crm.@@)).
CREATE INDEX contact_search_idx ON crm.contact USING gin (search_vector crm.tsvector_ops);
CREATE INDEX account_search_idx ON crm.account USING gin (search_vector crm.tsvector_ops);
CREATE INDEX lead_search_idx ON crm.lead USING gin (search_vector crm.tsvector_ops);
CREATE INDEX activity_search_idx ON crm.activity USING gin (search_vector crm.tsvector_ops);
CREATE INDEX note_search_idx ON crm.note USING gin (search_vector crm.tsvector_ops);

-- Turn what a user types into a tsquery, as search-as-you-type expects:
-- every word must match a word of the record, the last one as a prefix
-- ("ann smi" finds Ann Smith and Ann Smithers).  Only the last word is a
-- prefix because a prefix term makes the index union every word it begins
-- (all the "ann..." names of every tenant), while a whole word is one cheap
-- lookup.  The input is folded as the indexed text is ("muller" finds
-- Müller).  Input that is a phone number in any format ("(415) 555-0199",
-- "+44 20 7946 0958", "020 7946 0958") becomes its digits, one prefix term,
-- matched against the digits crm.search_phone_terms indexes.  Operators in
-- the input are treated as text, never as tsquery syntax.
CREATE FUNCTION crm.search_query(query text) RETURNS tsquery
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE
		WHEN query ~ '^[[:space:]0-9()+./-]+$' AND length(regexp_replace(query, '[^0-9]', '', 'g')) >= 6
			THEN (quote_literal(regexp_replace(query, '[^0-9]', '', 'g')) || ':*')::tsquery
		ELSE (SELECT CASE WHEN count(*) = 0 THEN NULL
						  ELSE string_agg(quote_literal(w) || CASE WHEN k = last THEN ':*' ELSE '' END, ' & ' ORDER BY k)::tsquery END
				FROM (SELECT w, row_number() OVER (ORDER BY n) AS k, count(*) OVER () AS last
						FROM regexp_split_to_table(lower(crm.search_fold(query)), '[^[:alnum:]@._+-]+') WITH ORDINALITY AS t(w, n)
					   WHERE w <> '') words)
	END;
$$;
COMMENT ON FUNCTION crm.search_query(text) IS
	'The tsquery crm.search() uses for a user''s input: every word must match a word, the last one as a prefix; accents folded; a phone number in any format becomes its digits.';

CREATE FUNCTION crm.search(query text, lim integer DEFAULT 20)
RETURNS TABLE (entity text, id uuid, title text, subtitle text, rank real)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	q tsquery := crm.search_query(query);
	org uuid := crm.current_org();
BEGIN
	IF lim IS NULL OR lim < 1 OR lim > 1000 THEN
		RAISE EXCEPTION 'search limit must be between 1 and 1000, not %', lim
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF q IS NULL THEN
		RETURN;
	END IF;
	RETURN QUERY
	SELECT * FROM (
		(SELECT 'contact'::text, c.id, concat_ws(' ', c.first_name, c.last_name), c.email::text, ts_rank(c.search_vector, q)
		   FROM crm.contact c
		  WHERE c.organization_id = org AND c.search_vector OPERATOR(crm.@@) q AND c.deleted_at IS NULL
		  ORDER BY 5 DESC LIMIT lim)
		UNION ALL
		(SELECT 'account'::text, a.id, a.name, a.domain, ts_rank(a.search_vector, q)
		   FROM crm.account a
		  WHERE a.organization_id = org AND a.search_vector OPERATOR(crm.@@) q AND a.deleted_at IS NULL
		  ORDER BY 5 DESC LIMIT lim)
		UNION ALL
		(SELECT 'lead'::text, l.id, concat_ws(' ', l.first_name, l.last_name), coalesce(l.company, l.email::text), ts_rank(l.search_vector, q)
		   FROM crm.lead l
		  WHERE l.organization_id = org AND l.search_vector OPERATOR(crm.@@) q AND l.deleted_at IS NULL
		  ORDER BY 5 DESC LIMIT lim)
		UNION ALL
		(SELECT 'activity'::text, v.id, v.subject, v.type || ' ' || to_char(v.activity_at, 'YYYY-MM-DD'), ts_rank(v.search_vector, q)
		   FROM crm.activity v
		  WHERE v.organization_id = org AND v.search_vector OPERATOR(crm.@@) q AND v.deleted_at IS NULL
		  ORDER BY 5 DESC LIMIT lim)
		UNION ALL
		(SELECT 'note'::text, n.id, left(n.body, 80), 'note ' || to_char(n.created_at, 'YYYY-MM-DD'), ts_rank(n.search_vector, q)
		   FROM crm.note n
		  WHERE n.organization_id = org AND n.search_vector OPERATOR(crm.@@) q AND n.deleted_at IS NULL
		  ORDER BY 5 DESC LIMIT lim)
		UNION ALL
		(SELECT 'case'::text, k.id, k.case_number || ' ' || k.subject, k.status || ' ' || k.priority, ts_rank(k.search_vector, q)
		   FROM crm.case k
		  WHERE k.organization_id = org AND k.search_vector OPERATOR(crm.@@) q AND k.deleted_at IS NULL
		  ORDER BY 5 DESC LIMIT lim)
	) hits (entity, id, title, subtitle, rank)
	ORDER BY hits.rank DESC, hits.entity, hits.id
	LIMIT lim;
END;
$$;
COMMENT ON FUNCTION crm.search(text, integer) IS
	'Ranked full-text search over the current organization''s contacts, accounts, leads, activities, notes and cases (every word matches a word, the last as a prefix; accents folded; phone numbers in any format).';
