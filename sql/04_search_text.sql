-- ============================================================================
-- 04 search text: what full-text search indexes and looks for, folded the
-- way duplicate detection folds names (before the tables that index it)
-- ============================================================================

-- Accent and case folding (src/search.c, similarity.c): "Müller" is indexed
-- as "muller", so "muller" and "Müller" find it alike.
CREATE FUNCTION crm.search_fold(text) RETURNS text
	AS 'MODULE_PATHNAME', 'search_fold'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.search_fold(text) IS
	'Text as full-text search indexes it: lower case, Latin letters without accents (Müller -> muller, ß -> ss); other scripts unchanged.';

-- The words a phone number is found by, whatever format the user types:
-- all its digits (14155550199), the national number with its trunk prefix
-- ((415) 555-0199 -> 4155550199; 020 7946 0958 -> 02079460958) and without
-- the country code (2079460958).  Extensions are left out.
CREATE FUNCTION crm.search_phone_terms(p crm.phone) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT concat_ws(' ',
		regexp_replace(split_part(p::text, ';', 1), '\D', '', 'g'),
		regexp_replace(split_part(crm.phone_format(p, 'national'), ' ext', 1), '\D', '', 'g'),
		substr(regexp_replace(split_part(p::text, ';', 1), '\D', '', 'g'),
			   length(crm.phone_calling_code(p)::text) + 1));
$$;
COMMENT ON FUNCTION crm.search_phone_terms(crm.phone) IS
	'The search words of a phone number: all its digits, the national number, and the number without country code.';
