-- ============================================================================
-- 70 search: ranked full-text search across contacts, accounts and leads
-- ============================================================================

-- Turn what a user types into a prefix tsquery: every word must match the
-- start of a token ("ann smi" finds Ann Smith).  Operators in the input are
-- treated as text, never as tsquery syntax.
CREATE FUNCTION crm.search_query(query text) RETURNS tsquery
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN count(*) = 0 THEN NULL
				ELSE string_agg(quote_literal(w) || ':*', ' & ')::tsquery END
	  FROM regexp_split_to_table(lower(query), '[^[:alnum:]@._+-]+') AS w
	 WHERE w <> '';
$$;
COMMENT ON FUNCTION crm.search_query(text) IS
	'The prefix tsquery crm.search() uses for a user''s input (every word must start some token).';

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
		  WHERE c.organization_id = org AND c.search_vector @@ q AND c.deleted_at IS NULL
		  ORDER BY 5 DESC LIMIT lim)
		UNION ALL
		(SELECT 'account'::text, a.id, a.name, a.domain, ts_rank(a.search_vector, q)
		   FROM crm.account a
		  WHERE a.organization_id = org AND a.search_vector @@ q AND a.deleted_at IS NULL
		  ORDER BY 5 DESC LIMIT lim)
		UNION ALL
		(SELECT 'lead'::text, l.id, concat_ws(' ', l.first_name, l.last_name), coalesce(l.company, l.email::text), ts_rank(l.search_vector, q)
		   FROM crm.lead l
		  WHERE l.organization_id = org AND l.search_vector @@ q AND l.deleted_at IS NULL
		  ORDER BY 5 DESC LIMIT lim)
	) hits (entity, id, title, subtitle, rank)
	ORDER BY hits.rank DESC, hits.entity, hits.id
	LIMIT lim;
END;
$$;
COMMENT ON FUNCTION crm.search(text, integer) IS
	'Ranked full-text search over the current organization''s contacts, accounts and leads (prefix match on every word).';
