-- ============================================================================
-- 68 duplicate detection: similarity functions (C), blocking keys and their
-- indexes, crm.find_duplicates(), crm.duplicate_pairs(), per-tenant rules
-- enforced on insert (exact-key rules also on update).  See
-- doc/data_quality.md, "Duplicate detection".
--
-- Candidates come only from blocking keys, each served by an index that
-- starts with organization_id: same normalised email, same phone digits, same
-- phonetic name key (also with first and last name swapped), for accounts
-- same domain and same phonetic company key.  Candidates are then scored.
-- Keys are computed from email::text and phone::text, so they work for text
-- columns and for the crm.email / crm.phone types alike.
-- ============================================================================

-- Similarity functions (pure C in src/similarity.c).
CREATE FUNCTION crm.jaro_winkler(text, text) RETURNS real
	AS 'MODULE_PATHNAME', 'dedup_jaro_winkler'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.jaro_winkler(text, text) IS
	'Jaro-Winkler similarity in [0, 1] (prefix scale 0.1, prefix of at most 4, boost above 0.7) of two strings, compared by code point ignoring ASCII case and Latin accents; only the first 255 code points count.';

CREATE FUNCTION crm.edit_distance(text, text) RETURNS integer
	AS 'MODULE_PATHNAME', 'dedup_edit_distance'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.edit_distance(text, text) IS
	'Optimal string alignment distance (insertions, deletions, substitutions, adjacent transpositions) between two strings, by code point ignoring ASCII case and Latin accents; only the first 255 code points count.';

CREATE FUNCTION crm.name_similarity(text, text) RETURNS real
	AS 'MODULE_PATHNAME', 'dedup_name_similarity'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.name_similarity(text, text) IS
	'Similarity of two names in [0, 1]: 0.25 * crm.jaro_winkler + 0.75 * (1 - crm.edit_distance / longer length); one typo in ten letters gives about 0.92, a different ending of three letters in thirteen about 0.8.';

CREATE FUNCTION crm.name_key(first text, last text) RETURNS text
	AS 'MODULE_PATHNAME', 'dedup_name_key'
	LANGUAGE C IMMUTABLE LEAKPROOF PARALLEL SAFE
	COST 100;
COMMENT ON FUNCTION crm.name_key(text, text) IS
	'Blocking key of a person''s name: phonetic code of the family name, '':'', the first two symbols of the given name''s code (''John'', ''Smith'' -> S53:J5; Jon Smyth, Jane Schmidt, Jim Smith alike; Robert Smith S53:R1). NULL when the family name has no letter; a NULL argument counts as empty. name_key(last, first) is the key for swapped names. LEAKPROOF, so its indexes serve queries under row-level security.';

CREATE FUNCTION crm.company_norm(name text) RETURNS text
	AS 'MODULE_PATHNAME', 'dedup_company_norm'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.company_norm(text) IS
	'A company name without case, accents, punctuation and legal-form words (''The ACME Corp., Inc.'' -> acme).';

CREATE FUNCTION crm.company_key(name text) RETURNS text
	AS 'MODULE_PATHNAME', 'dedup_company_key'
	LANGUAGE C IMMUTABLE STRICT LEAKPROOF PARALLEL SAFE
	COST 100;
COMMENT ON FUNCTION crm.company_key(text) IS
	'Blocking key of a company name: phonetic code of crm.company_norm(name) (''Acme Inc.'' and ''ACME Incorporated'' -> A25). NULL when the name has no letter or digit. LEAKPROOF (never fails), so its index serves queries under row-level security.';

-- Key functions in C, LEAKPROOF (they never fail): under row-level security
-- only leakproof functions may see a row before the tenant policy has, so
-- only then can an index on the function serve a lookup.  COST 100 (name
-- and company keys too): computing a key for every row of a filter costs
-- far more than reading it from its index, and the planner must know that
-- when the statistics of a table just bulk-loaded say it is tiny -- with the
-- default cost 1 it probed any index on organization_id and filtered the
-- whole tenant by the key, once per new record.
CREATE FUNCTION crm.email_key(email text) RETURNS text
	AS 'MODULE_PATHNAME', 'dedup_email_key'
	LANGUAGE C IMMUTABLE STRICT LEAKPROOF PARALLEL SAFE
	COST 100;
COMMENT ON FUNCTION crm.email_key(text) IS
	'Blocking key of an email address: trimmed, ASCII lower case, as crm.email compares it (crm.email_key(email::text)); NULL when crm.email would not accept the text (the type''s parser decides).';

CREATE FUNCTION crm.email_domain_key(email text) RETURNS text
	AS 'MODULE_PATHNAME', 'dedup_email_domain_key'
	LANGUAGE C IMMUTABLE STRICT LEAKPROOF PARALLEL SAFE;
COMMENT ON FUNCTION crm.email_domain_key(text) IS
	'The domain of an email address, ASCII lower case (crm.email_domain of the same address); NULL when crm.email would not accept the text. Indexed on contact to join contacts to account.domain.';

CREATE FUNCTION crm.phone_key(phone text) RETURNS text
	AS 'MODULE_PATHNAME', 'dedup_phone_key'
	LANGUAGE C IMMUTABLE STRICT LEAKPROOF PARALLEL SAFE
	COST 100;
COMMENT ON FUNCTION crm.phone_key(text) IS
	'Blocking key of a phone number: its E.164 digits without + and extension, read by crm.phone''s parser with no default country (crm.phone::text, or any international spelling); NULL when that reads no valid number.';

CREATE FUNCTION crm.person_full_name(first text, last text) RETURNS text
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	RETURN pg_catalog.btrim(pg_catalog.concat_ws(' ', pg_catalog.btrim(first), pg_catalog.btrim(last)));
COMMENT ON FUNCTION crm.person_full_name(text, text) IS
	'Given and family name, each trimmed, joined by one space; what name similarity compares.';

-- ---------------------------------------------------------------------------
-- Blocking indexes.  Partial on live rows: soft-deleted records are never
-- candidates.  account.domain is served by account_domain_idx.
-- ---------------------------------------------------------------------------
CREATE INDEX contact_dedup_email_idx ON crm.contact (organization_id, crm.email_key(email::text)) WHERE deleted_at IS NULL;
CREATE INDEX contact_dedup_phone_idx ON crm.contact (organization_id, crm.phone_key(phone::text)) WHERE deleted_at IS NULL;
CREATE INDEX contact_dedup_mobile_idx ON crm.contact (organization_id, crm.phone_key(mobile::text)) WHERE deleted_at IS NULL;
CREATE INDEX contact_dedup_name_idx ON crm.contact (organization_id, crm.name_key(first_name, last_name)) WHERE deleted_at IS NULL;
CREATE INDEX contact_dedup_name_swapped_idx ON crm.contact (organization_id, crm.name_key(last_name, first_name)) WHERE deleted_at IS NULL;
-- The contacts of an account by email domain:
--   JOIN crm.contact c ON c.organization_id = a.organization_id
--    AND crm.email_domain_key(c.email::text) = a.domain AND c.deleted_at IS NULL
CREATE INDEX contact_dedup_domain_idx ON crm.contact (organization_id, crm.email_domain_key(email::text)) WHERE deleted_at IS NULL;
CREATE INDEX lead_dedup_email_idx ON crm.lead (organization_id, crm.email_key(email::text)) WHERE deleted_at IS NULL;
CREATE INDEX lead_dedup_phone_idx ON crm.lead (organization_id, crm.phone_key(phone::text)) WHERE deleted_at IS NULL;
CREATE INDEX lead_dedup_name_idx ON crm.lead (organization_id, crm.name_key(first_name, last_name)) WHERE deleted_at IS NULL;
CREATE INDEX lead_dedup_name_swapped_idx ON crm.lead (organization_id, crm.name_key(last_name, first_name)) WHERE deleted_at IS NULL;
CREATE INDEX account_dedup_phone_idx ON crm.account (organization_id, crm.phone_key(phone::text)) WHERE deleted_at IS NULL;
CREATE INDEX account_dedup_name_idx ON crm.account (organization_id, crm.company_key(name)) WHERE deleted_at IS NULL;

-- ---------------------------------------------------------------------------
-- Scoring, in C (src/similarity.c: sim_person_match, sim_account_match).
-- Each piece of evidence is a probability-like weight, combined as a
-- noisy-OR, score = 1 - (1 - e*c)(1 - p*c)(1 - 0.8*n*x):
--   e  0.95 same email key; 0.75 emails one edit apart (6+ characters)
--   p  0.90 a phone key in common (persons); accounts: d 0.90 same domain,
--      p 0.80 same phone (switchboards are shared)
--   n  name similarity when >= 0.75, else 0: crm.name_similarity of the full
--      names, the best of straight and first/last swapped order; it counts
--      with the weight 0.8 (SIM_NAME_WEIGHT): a name alone, however equal,
--      scores at most 0.8, so namesakes that share no email or phone never
--      reach a block (block rules need a threshold above 0.8), while the
--      name with an email or phone in common scores 0.93 or more
--   x  contrary evidence against a name-only match: 0.80 when both have
--      emails (domains) and they differ, times 0.80 when both have phones and
--      none is shared -- namesakes with different contact data score 0.64
--      and 0.51
--   c  0.85 when the names are dissimilar (< 0.6): a shared mailbox or
--      switchboard alone is not the same person
-- The score functions are what candidate filters call (a few microseconds a
-- pair); the reasons functions run only for the pairs that are kept.
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm.person_score(a_first text, a_last text, a_email text, a_phones text[],
								 b_first text, b_last text, b_email text, b_phones text[])
	RETURNS real
	AS 'MODULE_PATHNAME', 'dedup_person_score'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.person_score(text, text, text, text[], text, text, text, text[]) IS
	'Duplicate score in [0, 1] of two persons, given first and last names, email keys and phone keys (NULLs allowed): 1 - (1 - e*c)(1 - p*c)(1 - 0.8*n*x) with e = 0.95 same email (0.75 one edit apart), p = 0.90 shared phone, n = name similarity (best of straight and swapped order, if >= 0.75; a name alone scores at most 0.8), x = 0.80 per differing email / phones, c = 0.85 for dissimilar names (< 0.6). In C.';

CREATE FUNCTION crm.person_reasons(a_first text, a_last text, a_email text, a_phones text[],
								   b_first text, b_last text, b_email text, b_phones text[])
	RETURNS text[]
	AS 'MODULE_PATHNAME', 'dedup_person_reasons'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.person_reasons(text, text, text, text[], text, text, text, text[]) IS
	'What contributed to crm.person_score: same email, similar email, same phone, similar name (0.93), similar name (0.93, first and last swapped).';

CREATE FUNCTION crm.account_score(a_name text, a_domain text, a_phone text,
								  b_name text, b_domain text, b_phone text)
	RETURNS real
	AS 'MODULE_PATHNAME', 'dedup_account_score'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.account_score(text, text, text, text, text, text) IS
	'Duplicate score in [0, 1] of two accounts, given names, domains and phone keys: 1 - (1 - d*c)(1 - p*c)(1 - 0.8*n*x) with d = 0.90 same domain, p = 0.80 same phone, n = similarity of crm.company_norm names (if >= 0.75; a name alone scores at most 0.8), x = 0.80 per differing domain / phone, c = 0.85 for dissimilar names. In C.';

CREATE FUNCTION crm.account_reasons(a_name text, a_domain text, a_phone text,
									b_name text, b_domain text, b_phone text)
	RETURNS text[]
	AS 'MODULE_PATHNAME', 'dedup_account_reasons'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.account_reasons(text, text, text, text, text, text) IS
	'What contributed to crm.account_score: same domain, same phone, similar name (0.93).';

CREATE FUNCTION crm.person_match(a_first text, a_last text, a_email text, a_phones text[],
								 b_first text, b_last text, b_email text, b_phones text[])
RETURNS TABLE (score real, reasons text[])
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	SELECT crm.person_score(a_first, a_last, a_email, a_phones, b_first, b_last, b_email, b_phones),
		   crm.person_reasons(a_first, a_last, a_email, a_phones, b_first, b_last, b_email, b_phones)
$$;
COMMENT ON FUNCTION crm.person_match(text, text, text, text[], text, text, text, text[]) IS
	'crm.person_score and crm.person_reasons of two persons as one row (inlined: the reasons are computed only for rows that are kept).';

CREATE FUNCTION crm.account_match(a_name text, a_domain text, a_phone text,
								  b_name text, b_domain text, b_phone text)
RETURNS TABLE (score real, reasons text[])
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	SELECT crm.account_score(a_name, a_domain, a_phone, b_name, b_domain, b_phone),
		   crm.account_reasons(a_name, a_domain, a_phone, b_name, b_domain, b_phone)
$$;
COMMENT ON FUNCTION crm.account_match(text, text, text, text, text, text) IS
	'crm.account_score and crm.account_reasons of two accounts as one row.';

-- ---------------------------------------------------------------------------
-- Block limit.  A key value shared by more records than this (a mailbox or
-- switchboard number used by a whole company, a placeholder name such as
-- "Test Test", a very common name at millions of records) is not a blocking
-- key: it would bring thousands of candidates that the other keys have not
-- proposed, at a cost quadratic in the block size.  Both find_duplicates and
-- duplicate_pairs ignore such a key value, the same way, so they agree; the
-- record's other keys still apply.
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm.dedup_block_limit() RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN 1000;
COMMENT ON FUNCTION crm.dedup_block_limit() IS
	'Largest block of duplicate detection: a blocking key value (email, phone, name key, domain, company key) shared by more live records of an organization than this (1000) proposes no candidates. For a name key, records with it as the straight and as the swapped key count together; for a phone, phone and mobile columns count together.';

-- ---------------------------------------------------------------------------
-- Candidates of a set of records (one for find_duplicates, all the rows of
-- an INSERT for the duplicate rule): the records' blocking keys; each
-- distinct key value's block counted once (at most limit + 1 index entries)
-- and dropped when over the limit; then a UNION of index lookups on the
-- remaining keys (each branch fetches the candidate's columns itself, so no
-- join back to the table), scored.  A statement that inserts many records
-- sharing one key counts that key once, not once per record.  name_keys
-- false leaves out the name (company) keys: a block rule needs an email or
-- phone (domain) in common, which only those keys bring.  Each lookup
-- is a LATERAL subquery with OFFSET 0, so it stays an index probe per record
-- even when the statistics of a table just bulk-loaded say it is empty (a
-- join would then scan the tenant once per record).  Inlinable SQL (EXPLAIN
-- of a call shows the real plan).
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm._contact_duplicates_of(org uuid, recs uuid[], threshold real, name_keys boolean)
RETURNS TABLE (id uuid, candidate_id uuid, score real, reasons text[])
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	WITH me AS MATERIALIZED (
		SELECT c.id, c.first_name, c.last_name, crm.email_key(c.email::text) AS ek,
			   pg_catalog.array_remove(ARRAY[crm.phone_key(c.phone::text), crm.phone_key(c.mobile::text)], NULL) AS pk,
			   pg_catalog.array_remove(ARRAY[crm.name_key(c.first_name, c.last_name), crm.name_key(c.last_name, c.first_name)], NULL) AS nk
		  FROM crm.contact c
		 WHERE c.organization_id = org AND c.id = ANY (recs)
	), ok_e AS MATERIALIZED (
		SELECT d.v FROM (SELECT DISTINCT me.ek AS v FROM me WHERE me.ek IS NOT NULL) d
		 WHERE (SELECT pg_catalog.count(*) FROM (SELECT FROM crm.contact c
					WHERE c.organization_id = org AND c.deleted_at IS NULL AND crm.email_key(c.email::text) = d.v
					LIMIT crm.dedup_block_limit() + 1) z) <= crm.dedup_block_limit()
	), ok_p AS MATERIALIZED (
		SELECT d.v FROM (SELECT DISTINCT p AS v FROM me, pg_catalog.unnest(me.pk) p) d
		 WHERE (SELECT pg_catalog.count(*) FROM (SELECT FROM crm.contact c
					WHERE c.organization_id = org AND c.deleted_at IS NULL AND crm.phone_key(c.phone::text) = d.v
					LIMIT crm.dedup_block_limit() + 1) z)
			 + (SELECT pg_catalog.count(*) FROM (SELECT FROM crm.contact c
					WHERE c.organization_id = org AND c.deleted_at IS NULL AND crm.phone_key(c.mobile::text) = d.v
					LIMIT crm.dedup_block_limit() + 1) z) <= crm.dedup_block_limit()
	), ok_n AS MATERIALIZED (
		SELECT d.v FROM (SELECT DISTINCT n AS v FROM me, pg_catalog.unnest(me.nk) n) d
		 WHERE name_keys AND (SELECT pg_catalog.count(*) FROM (SELECT FROM crm.contact c
					WHERE c.organization_id = org AND c.deleted_at IS NULL AND crm.name_key(c.first_name, c.last_name) = d.v
					LIMIT crm.dedup_block_limit() + 1) z)
			 + (SELECT pg_catalog.count(*) FROM (SELECT FROM crm.contact c
					WHERE c.organization_id = org AND c.deleted_at IS NULL AND crm.name_key(c.last_name, c.first_name) = d.v
					LIMIT crm.dedup_block_limit() + 1) z) <= crm.dedup_block_limit()
	), k AS (
		-- one row per record and usable key: equality probes below; the
		-- usable keys as one jsonb object built once (a sorted key lookup
		-- per record, whatever plan the statistics suggest)
		SELECT me.id, 'e' AS kind, me.ek AS v FROM me WHERE (SELECT pg_catalog.jsonb_object_agg(o.v, true) FROM ok_e o) OPERATOR(pg_catalog.?) me.ek
		UNION ALL
		SELECT me.id, 'p', p FROM me, pg_catalog.unnest(me.pk) p WHERE (SELECT pg_catalog.jsonb_object_agg(o.v, true) FROM ok_p o) OPERATOR(pg_catalog.?) p
		UNION ALL
		SELECT me.id, 'n', n FROM me, pg_catalog.unnest(me.nk) n WHERE (SELECT pg_catalog.jsonb_object_agg(o.v, true) FROM ok_n o) OPERATOR(pg_catalog.?) n
	), cand AS (
		SELECT k.id AS rec, c.id, c.first_name, c.last_name, c.email, c.phone, c.mobile
		  FROM k CROSS JOIN LATERAL (SELECT c.id, c.first_name, c.last_name, c.email::text AS email, c.phone::text AS phone, c.mobile::text AS mobile
				  FROM crm.contact c
				 WHERE c.organization_id = org AND c.deleted_at IS NULL AND crm.email_key(c.email::text) = k.v
				OFFSET 0) c
		 WHERE k.kind = 'e'
		UNION
		SELECT k.id, c.id, c.first_name, c.last_name, c.email, c.phone, c.mobile
		  FROM k CROSS JOIN LATERAL (SELECT c.id, c.first_name, c.last_name, c.email::text AS email, c.phone::text AS phone, c.mobile::text AS mobile
				  FROM crm.contact c
				 WHERE c.organization_id = org AND c.deleted_at IS NULL AND crm.phone_key(c.phone::text) = k.v
				OFFSET 0) c
		 WHERE k.kind = 'p'
		UNION
		SELECT k.id, c.id, c.first_name, c.last_name, c.email, c.phone, c.mobile
		  FROM k CROSS JOIN LATERAL (SELECT c.id, c.first_name, c.last_name, c.email::text AS email, c.phone::text AS phone, c.mobile::text AS mobile
				  FROM crm.contact c
				 WHERE c.organization_id = org AND c.deleted_at IS NULL AND crm.phone_key(c.mobile::text) = k.v
				OFFSET 0) c
		 WHERE k.kind = 'p'
		UNION
		SELECT k.id, c.id, c.first_name, c.last_name, c.email, c.phone, c.mobile
		  FROM k CROSS JOIN LATERAL (SELECT c.id, c.first_name, c.last_name, c.email::text AS email, c.phone::text AS phone, c.mobile::text AS mobile
				  FROM crm.contact c
				 WHERE c.organization_id = org AND c.deleted_at IS NULL
				   AND crm.name_key(c.first_name, c.last_name) = k.v
				OFFSET 0) c
		 WHERE k.kind = 'n'
		UNION
		SELECT k.id, c.id, c.first_name, c.last_name, c.email, c.phone, c.mobile
		  FROM k CROSS JOIN LATERAL (SELECT c.id, c.first_name, c.last_name, c.email::text AS email, c.phone::text AS phone, c.mobile::text AS mobile
				  FROM crm.contact c
				 WHERE c.organization_id = org AND c.deleted_at IS NULL
				   AND crm.name_key(c.last_name, c.first_name) = k.v
				OFFSET 0) c
		 WHERE k.kind = 'n'
	)
	SELECT me.id, c.id, m.score, m.reasons
	  FROM me
	  JOIN cand c ON c.rec = me.id
	 CROSS JOIN LATERAL crm.person_match(
			me.first_name, me.last_name, me.ek, me.pk,
			c.first_name, c.last_name, crm.email_key(c.email),
			pg_catalog.array_remove(ARRAY[crm.phone_key(c.phone), crm.phone_key(c.mobile)], NULL)) m
	 WHERE c.id <> me.id AND m.score >= threshold
$$;
COMMENT ON FUNCTION crm._contact_duplicates_of(uuid, uuid[], real, boolean) IS
	'Internal (crm.find_duplicates and the duplicate rule for contacts): candidates of a set of contacts from the blocking indexes (email, phone, mobile, name keys; each distinct key value counted once, values over crm.dedup_block_limit() ignored), scored by crm.person_match.';

CREATE FUNCTION crm._contact_duplicates(org uuid, rec uuid, threshold real)
RETURNS TABLE (candidate_id uuid, score real, reasons text[])
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT d.candidate_id, d.score, d.reasons
	  FROM crm._contact_duplicates_of(org, ARRAY[rec], threshold, true) d
	 ORDER BY d.score DESC, d.candidate_id
$$;
COMMENT ON FUNCTION crm._contact_duplicates(uuid, uuid, real) IS
	'Internal (crm.find_duplicates for contacts): crm._contact_duplicates_of for one contact, best first.';

CREATE FUNCTION crm._lead_duplicates_of(org uuid, recs uuid[], threshold real, name_keys boolean)
RETURNS TABLE (id uuid, candidate_id uuid, score real, reasons text[])
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	WITH me AS MATERIALIZED (
		SELECT l.id, l.first_name, l.last_name, crm.email_key(l.email::text) AS ek,
			   pg_catalog.array_remove(ARRAY[crm.phone_key(l.phone::text)], NULL) AS pk,
			   pg_catalog.array_remove(ARRAY[crm.name_key(l.first_name, l.last_name), crm.name_key(l.last_name, l.first_name)], NULL) AS nk
		  FROM crm.lead l
		 WHERE l.organization_id = org AND l.id = ANY (recs)
	), ok_e AS MATERIALIZED (
		SELECT d.v FROM (SELECT DISTINCT me.ek AS v FROM me WHERE me.ek IS NOT NULL) d
		 WHERE (SELECT pg_catalog.count(*) FROM (SELECT FROM crm.lead l
					WHERE l.organization_id = org AND l.deleted_at IS NULL AND crm.email_key(l.email::text) = d.v
					LIMIT crm.dedup_block_limit() + 1) z) <= crm.dedup_block_limit()
	), ok_p AS MATERIALIZED (
		SELECT d.v FROM (SELECT DISTINCT p AS v FROM me, pg_catalog.unnest(me.pk) p) d
		 WHERE (SELECT pg_catalog.count(*) FROM (SELECT FROM crm.lead l
					WHERE l.organization_id = org AND l.deleted_at IS NULL AND crm.phone_key(l.phone::text) = d.v
					LIMIT crm.dedup_block_limit() + 1) z) <= crm.dedup_block_limit()
	), ok_n AS MATERIALIZED (
		SELECT d.v FROM (SELECT DISTINCT n AS v FROM me, pg_catalog.unnest(me.nk) n) d
		 WHERE name_keys AND (SELECT pg_catalog.count(*) FROM (SELECT FROM crm.lead l
					WHERE l.organization_id = org AND l.deleted_at IS NULL AND crm.name_key(l.first_name, l.last_name) = d.v
					LIMIT crm.dedup_block_limit() + 1) z)
			 + (SELECT pg_catalog.count(*) FROM (SELECT FROM crm.lead l
					WHERE l.organization_id = org AND l.deleted_at IS NULL AND crm.name_key(l.last_name, l.first_name) = d.v
					LIMIT crm.dedup_block_limit() + 1) z) <= crm.dedup_block_limit()
	), k AS (
		-- one row per record and usable key: equality probes below; the
		-- usable keys as one jsonb object built once (a sorted key lookup
		-- per record, whatever plan the statistics suggest)
		SELECT me.id, 'e' AS kind, me.ek AS v FROM me WHERE (SELECT pg_catalog.jsonb_object_agg(o.v, true) FROM ok_e o) OPERATOR(pg_catalog.?) me.ek
		UNION ALL
		SELECT me.id, 'p', p FROM me, pg_catalog.unnest(me.pk) p WHERE (SELECT pg_catalog.jsonb_object_agg(o.v, true) FROM ok_p o) OPERATOR(pg_catalog.?) p
		UNION ALL
		SELECT me.id, 'n', n FROM me, pg_catalog.unnest(me.nk) n WHERE (SELECT pg_catalog.jsonb_object_agg(o.v, true) FROM ok_n o) OPERATOR(pg_catalog.?) n
	), cand AS (
		SELECT k.id AS rec, l.id, l.first_name, l.last_name, l.email, l.phone
		  FROM k CROSS JOIN LATERAL (SELECT l.id, l.first_name, l.last_name, l.email::text AS email, l.phone::text AS phone
				  FROM crm.lead l
				 WHERE l.organization_id = org AND l.deleted_at IS NULL AND crm.email_key(l.email::text) = k.v
				OFFSET 0) l
		 WHERE k.kind = 'e'
		UNION
		SELECT k.id, l.id, l.first_name, l.last_name, l.email, l.phone
		  FROM k CROSS JOIN LATERAL (SELECT l.id, l.first_name, l.last_name, l.email::text AS email, l.phone::text AS phone
				  FROM crm.lead l
				 WHERE l.organization_id = org AND l.deleted_at IS NULL AND crm.phone_key(l.phone::text) = k.v
				OFFSET 0) l
		 WHERE k.kind = 'p'
		UNION
		SELECT k.id, l.id, l.first_name, l.last_name, l.email, l.phone
		  FROM k CROSS JOIN LATERAL (SELECT l.id, l.first_name, l.last_name, l.email::text AS email, l.phone::text AS phone
				  FROM crm.lead l
				 WHERE l.organization_id = org AND l.deleted_at IS NULL
				   AND crm.name_key(l.first_name, l.last_name) = k.v
				OFFSET 0) l
		 WHERE k.kind = 'n'
		UNION
		SELECT k.id, l.id, l.first_name, l.last_name, l.email, l.phone
		  FROM k CROSS JOIN LATERAL (SELECT l.id, l.first_name, l.last_name, l.email::text AS email, l.phone::text AS phone
				  FROM crm.lead l
				 WHERE l.organization_id = org AND l.deleted_at IS NULL
				   AND crm.name_key(l.last_name, l.first_name) = k.v
				OFFSET 0) l
		 WHERE k.kind = 'n'
	)
	SELECT me.id, l.id, m.score, m.reasons
	  FROM me
	  JOIN cand l ON l.rec = me.id
	 CROSS JOIN LATERAL crm.person_match(
			me.first_name, me.last_name, me.ek, me.pk,
			l.first_name, l.last_name, crm.email_key(l.email),
			pg_catalog.array_remove(ARRAY[crm.phone_key(l.phone)], NULL)) m
	 WHERE l.id <> me.id AND m.score >= threshold
$$;
COMMENT ON FUNCTION crm._lead_duplicates_of(uuid, uuid[], real, boolean) IS
	'Internal (crm.find_duplicates and the duplicate rule for leads): candidates of a set of leads from the blocking indexes (each distinct key value counted once, values over crm.dedup_block_limit() ignored), scored by crm.person_match.';

CREATE FUNCTION crm._lead_duplicates(org uuid, rec uuid, threshold real)
RETURNS TABLE (candidate_id uuid, score real, reasons text[])
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT d.candidate_id, d.score, d.reasons
	  FROM crm._lead_duplicates_of(org, ARRAY[rec], threshold, true) d
	 ORDER BY d.score DESC, d.candidate_id
$$;
COMMENT ON FUNCTION crm._lead_duplicates(uuid, uuid, real) IS
	'Internal (crm.find_duplicates for leads): crm._lead_duplicates_of for one lead, best first.';

CREATE FUNCTION crm._account_duplicates_of(org uuid, recs uuid[], threshold real, name_keys boolean)
RETURNS TABLE (id uuid, candidate_id uuid, score real, reasons text[])
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	WITH me AS MATERIALIZED (
		SELECT a.id, a.name, a.domain, crm.phone_key(a.phone::text) AS pk, crm.company_key(a.name) AS ck
		  FROM crm.account a
		 WHERE a.organization_id = org AND a.id = ANY (recs)
	), ok_d AS MATERIALIZED (
		SELECT d.v FROM (SELECT DISTINCT me.domain AS v FROM me WHERE me.domain IS NOT NULL) d
		 WHERE (SELECT pg_catalog.count(*) FROM (SELECT FROM crm.account a
					WHERE a.organization_id = org AND a.deleted_at IS NULL AND a.domain = d.v
					LIMIT crm.dedup_block_limit() + 1) z) <= crm.dedup_block_limit()
	), ok_p AS MATERIALIZED (
		SELECT d.v FROM (SELECT DISTINCT me.pk AS v FROM me WHERE me.pk IS NOT NULL) d
		 WHERE (SELECT pg_catalog.count(*) FROM (SELECT FROM crm.account a
					WHERE a.organization_id = org AND a.deleted_at IS NULL AND crm.phone_key(a.phone::text) = d.v
					LIMIT crm.dedup_block_limit() + 1) z) <= crm.dedup_block_limit()
	), ok_c AS MATERIALIZED (
		SELECT d.v FROM (SELECT DISTINCT me.ck AS v FROM me WHERE me.ck IS NOT NULL) d
		 WHERE name_keys AND (SELECT pg_catalog.count(*) FROM (SELECT FROM crm.account a
					WHERE a.organization_id = org AND a.deleted_at IS NULL AND crm.company_key(a.name) = d.v
					LIMIT crm.dedup_block_limit() + 1) z) <= crm.dedup_block_limit()
	), k AS (
		SELECT me.*,
			   CASE WHEN (SELECT pg_catalog.jsonb_object_agg(o.v, true) FROM ok_d o) OPERATOR(pg_catalog.?) me.domain THEN me.domain END AS domain_ok,
			   CASE WHEN (SELECT pg_catalog.jsonb_object_agg(o.v, true) FROM ok_p o) OPERATOR(pg_catalog.?) me.pk THEN me.pk END AS pk_ok,
			   CASE WHEN (SELECT pg_catalog.jsonb_object_agg(o.v, true) FROM ok_c o) OPERATOR(pg_catalog.?) me.ck THEN me.ck END AS ck_ok
		  FROM me
	), cand AS (
		SELECT k.id AS rec, a.id, a.name, a.domain, a.phone
		  FROM k CROSS JOIN LATERAL (SELECT a.id, a.name, a.domain, a.phone::text AS phone
				  FROM crm.account a
				 WHERE a.organization_id = org AND a.deleted_at IS NULL AND a.domain = k.domain_ok
				OFFSET 0) a
		UNION
		SELECT k.id, a.id, a.name, a.domain, a.phone
		  FROM k CROSS JOIN LATERAL (SELECT a.id, a.name, a.domain, a.phone::text AS phone
				  FROM crm.account a
				 WHERE a.organization_id = org AND a.deleted_at IS NULL AND crm.phone_key(a.phone::text) = k.pk_ok
				OFFSET 0) a
		UNION
		SELECT k.id, a.id, a.name, a.domain, a.phone
		  FROM k CROSS JOIN LATERAL (SELECT a.id, a.name, a.domain, a.phone::text AS phone
				  FROM crm.account a
				 WHERE a.organization_id = org AND a.deleted_at IS NULL AND crm.company_key(a.name) = k.ck_ok
				OFFSET 0) a
	)
	SELECT me.id, a.id, m.score, m.reasons
	  FROM k me
	  JOIN cand a ON a.rec = me.id
	 CROSS JOIN LATERAL crm.account_match(me.name, me.domain, me.pk, a.name, a.domain, crm.phone_key(a.phone)) m
	 WHERE a.id <> me.id AND m.score >= threshold
$$;
COMMENT ON FUNCTION crm._account_duplicates_of(uuid, uuid[], real, boolean) IS
	'Internal (crm.find_duplicates and the duplicate rule for accounts): candidates of a set of accounts from the blocking indexes (domain, phone, company key; each distinct value counted once, values over crm.dedup_block_limit() ignored), scored by crm.account_match.';

CREATE FUNCTION crm._account_duplicates(org uuid, rec uuid, threshold real)
RETURNS TABLE (candidate_id uuid, score real, reasons text[])
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT d.candidate_id, d.score, d.reasons
	  FROM crm._account_duplicates_of(org, ARRAY[rec], threshold, true) d
	 ORDER BY d.score DESC, d.candidate_id
$$;
COMMENT ON FUNCTION crm._account_duplicates(uuid, uuid, real) IS
	'Internal (crm.find_duplicates for accounts): crm._account_duplicates_of for one account, best first.';

-- The entity name ('contact', 'lead', 'account') of an entity written
-- 'contact' or 'crm.contact', or an error naming the entities with duplicate
-- detection (those whose table carries crm.trg_duplicate_check).
CREATE FUNCTION crm._dedup_entity(entity text) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	RETURN crm._entity(entity, 'duplicates');
END;
$$;
COMMENT ON FUNCTION crm._dedup_entity(text) IS
	'Internal: the table name of an entity with duplicate detection (contact, lead, account), written ''contact'' or ''crm.contact''; an error for any other.';

-- Candidates of one record of an organization (shared by find_duplicates and
-- the insert trigger).
CREATE FUNCTION crm._duplicates(entity text, org uuid, rec uuid, threshold real)
RETURNS TABLE (candidate_id uuid, score real, reasons text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	IF threshold IS NULL OR threshold < 0 OR threshold > 1 THEN
		RAISE EXCEPTION 'threshold must be between 0 and 1, not %', threshold
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	CASE entity
		WHEN 'contact' THEN RETURN QUERY SELECT * FROM crm._contact_duplicates(org, rec, threshold);
		WHEN 'lead' THEN RETURN QUERY SELECT * FROM crm._lead_duplicates(org, rec, threshold);
		WHEN 'account' THEN RETURN QUERY SELECT * FROM crm._account_duplicates(org, rec, threshold);
	END CASE;
END;
$$;
COMMENT ON FUNCTION crm._duplicates(text, uuid, uuid, real) IS
	'Internal: candidates of one contact, lead or account of an organization, scored, at or above the threshold.';

CREATE FUNCTION crm.find_duplicates(entity text, id uuid, threshold real DEFAULT 0.75)
RETURNS TABLE (candidate_id uuid, score real, reasons text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	ent text := crm._dedup_entity(find_duplicates.entity);
	org uuid := crm.current_org();
	found_it boolean;
BEGIN
	EXECUTE format('SELECT EXISTS (SELECT 1 FROM crm.%I WHERE organization_id = $1 AND id = $2)', ent)
		INTO found_it USING org, find_duplicates.id;
	IF NOT found_it THEN
		RAISE EXCEPTION '% % not found', ent, find_duplicates.id
			USING ERRCODE = 'no_data_found',
				  HINT = 'The record must exist in the current organization (crm.organization_id).';
	END IF;
	RETURN QUERY SELECT * FROM crm._duplicates(ent, org, find_duplicates.id, find_duplicates.threshold);
END;
$$;
COMMENT ON FUNCTION crm.find_duplicates(text, uuid, real) IS
	'Likely duplicates of one contact, lead or account of the current organization: candidate_id, score in [0, 1] (at least threshold), reasons (same email, same phone, same domain, similar name (0.93)). Candidates come from indexed blocking keys only; best first.';

-- ---------------------------------------------------------------------------
-- All pairs of a tenant in one set-based pass: every live row's blocking
-- keys (tagged by kind), each with the row's scoring fields (no join back
-- to the table afterwards); blocks of one record
-- (most emails and phones) and blocks over crm.dedup_block_limit() are
-- dropped; the rest are self-joined on the key (id_a < id_b) and each
-- pair scored in C.  A pair that shares several keys is scored once per key
-- (cheaper than making pairs distinct before scoring, as nearly all
-- candidate pairs share one key only); the few that pass the threshold are
-- made distinct and get their reasons.
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm._person_pairs(entity regclass, org uuid, threshold real)
RETURNS TABLE (id_a uuid, id_b uuid, score real, reasons text[])
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
DECLARE
	-- contacts have a phone and a mobile, leads only a phone
	is_contact boolean := entity = 'crm.contact'::regclass;
	tbl text := CASE WHEN is_contact THEN 'crm.contact' ELSE 'crm.lead' END;
	phones text := CASE WHEN is_contact
						THEN 'ARRAY[crm.phone_key(c.phone::text), crm.phone_key(c.mobile::text)]'
						ELSE 'ARRAY[crm.phone_key(c.phone::text)]' END;
BEGIN
	RETURN QUERY EXECUTE format($q$
	WITH k AS (
		SELECT c.id, c.first_name, c.last_name, crm.email_key(c.email::text) AS ek,
			   pg_catalog.array_remove(%s, NULL) AS pk,
			   crm.name_key(c.first_name, c.last_name) AS nk1,
			   crm.name_key(c.last_name, c.first_name) AS nk2
		  FROM %s c
		 WHERE c.organization_id = $1 AND c.deleted_at IS NULL
	), b AS MATERIALIZED (
		SELECT s.id, s.key, s.first_name, s.last_name, s.ek, s.pk
		  FROM (SELECT k.id, v.key, k.first_name, k.last_name, k.ek, k.pk,
					   pg_catalog.count(*) OVER (PARTITION BY v.key) AS n
				  FROM k CROSS JOIN LATERAL
					   (SELECT 'e:' || k.ek UNION ALL SELECT 'n:' || k.nk1 UNION ALL SELECT 'n:' || k.nk2
						UNION ALL SELECT 'p:' || p FROM pg_catalog.unnest(k.pk) p) AS v(key)
				 WHERE v.key IS NOT NULL) s
		 WHERE s.n BETWEEN 2 AND crm.dedup_block_limit()
	), scored AS (
		SELECT x.id AS id_a, y.id AS id_b,
			   crm.person_score(x.first_name, x.last_name, x.ek, x.pk, y.first_name, y.last_name, y.ek, y.pk) AS score,
			   x.first_name AS a_first, x.last_name AS a_last, x.ek AS a_ek, x.pk AS a_pk,
			   y.first_name AS b_first, y.last_name AS b_last, y.ek AS b_ek, y.pk AS b_pk
		  FROM b x
		  JOIN b y ON y.key = x.key AND x.id < y.id
		OFFSET 0					-- a fence: score each pair once
	)
	SELECT DISTINCT ON (s.id_a, s.id_b) s.id_a, s.id_b, s.score,
		   crm.person_reasons(s.a_first, s.a_last, s.a_ek, s.a_pk, s.b_first, s.b_last, s.b_ek, s.b_pk)
	  FROM scored s
	 WHERE s.score >= $2
	 ORDER BY s.id_a, s.id_b
	$q$, phones, tbl) USING org, threshold;
END;
$$;
COMMENT ON FUNCTION crm._person_pairs(regclass, uuid, real) IS
	'Internal (crm.duplicate_pairs for contacts and leads): all candidate pairs of an organization from one self-join on the blocking keys (blocks over crm.dedup_block_limit() ignored), scored in C.';

CREATE FUNCTION crm._account_pairs(org uuid, threshold real)
RETURNS TABLE (id_a uuid, id_b uuid, score real, reasons text[])
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	WITH k AS (
		SELECT a.id, a.name, a.domain, crm.phone_key(a.phone::text) AS pk, crm.company_key(a.name) AS ck
		  FROM crm.account a
		 WHERE a.organization_id = org AND a.deleted_at IS NULL
	), b AS MATERIALIZED (
		SELECT s.id, s.key, s.name, s.domain, s.pk
		  FROM (SELECT k.id, v.key, k.name, k.domain, k.pk, pg_catalog.count(*) OVER (PARTITION BY v.key) AS n
				  FROM k CROSS JOIN LATERAL
					   (VALUES ('d:' || k.domain), ('p:' || k.pk), ('c:' || k.ck)) AS v(key)
				 WHERE v.key IS NOT NULL) s
		 WHERE s.n BETWEEN 2 AND crm.dedup_block_limit()
	), scored AS (
		SELECT x.id AS id_a, y.id AS id_b,
			   crm.account_score(x.name, x.domain, x.pk, y.name, y.domain, y.pk) AS score,
			   x.name AS a_name, x.domain AS a_domain, x.pk AS a_pk,
			   y.name AS b_name, y.domain AS b_domain, y.pk AS b_pk
		  FROM b x
		  JOIN b y ON y.key = x.key AND x.id < y.id
		OFFSET 0					-- a fence: score each pair once
	)
	SELECT DISTINCT ON (s.id_a, s.id_b) s.id_a, s.id_b, s.score,
		   crm.account_reasons(s.a_name, s.a_domain, s.a_pk, s.b_name, s.b_domain, s.b_pk)
	  FROM scored s
	 WHERE s.score >= threshold
	 ORDER BY s.id_a, s.id_b
$$;
COMMENT ON FUNCTION crm._account_pairs(uuid, real) IS
	'Internal (crm.duplicate_pairs for accounts): all candidate pairs of an organization from one self-join on the blocking keys (blocks over crm.dedup_block_limit() ignored), scored in C.';

CREATE FUNCTION crm.duplicate_pairs(entity text, threshold real DEFAULT 0.75)
RETURNS TABLE (id_a uuid, id_b uuid, score real, reasons text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
SET work_mem = '128MB'			-- one batch pass: sort and join blocks in memory
AS $$
DECLARE
	ent text := crm._dedup_entity(duplicate_pairs.entity);
	org uuid := crm.current_org();
BEGIN
	IF threshold IS NULL OR threshold < 0 OR threshold > 1 THEN
		RAISE EXCEPTION 'threshold must be between 0 and 1, not %', threshold
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	CASE ent
		WHEN 'contact', 'lead' THEN RETURN QUERY SELECT * FROM crm._person_pairs(format('crm.%I', ent)::regclass, org, threshold);
		WHEN 'account' THEN RETURN QUERY SELECT * FROM crm._account_pairs(org, threshold);
	END CASE;
END;
$$;
COMMENT ON FUNCTION crm.duplicate_pairs(text, real) IS
	'Every likely duplicate pair of contacts, leads or accounts of the current organization (id_a < id_b, score at least threshold, reasons), found in one set-based pass over the blocking keys.';

-- ---------------------------------------------------------------------------
-- Rules: what happens when a new record has a duplicate.
-- ---------------------------------------------------------------------------
CREATE TABLE crm.duplicate_rule (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	entity		text NOT NULL,
	action		text NOT NULL DEFAULT 'alert',
	threshold	real NOT NULL DEFAULT 0.85,
	match_key	text,
	is_active	boolean NOT NULL DEFAULT true,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT duplicate_rule_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT duplicate_rule_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	-- one similarity rule (match_key NULL) and one exact rule per key
	CONSTRAINT duplicate_rule_entity_key UNIQUE NULLS NOT DISTINCT (organization_id, entity, match_key),
	CONSTRAINT duplicate_rule_action_valid CHECK (action IN ('allow', 'alert', 'block')),
	CONSTRAINT duplicate_rule_threshold_range CHECK (threshold > 0 AND threshold <= 1),
	CONSTRAINT duplicate_rule_match_key_valid CHECK (match_key IS NULL
		OR (entity IN ('contact', 'lead') AND match_key IN ('email', 'phone'))
		OR (entity = 'account' AND match_key IN ('domain', 'phone'))),
	-- a name alone scores at most 0.8 (SIM_NAME_WEIGHT, src/similarity.h):
	-- a block needs more than a name
	CONSTRAINT duplicate_rule_block_threshold CHECK (action <> 'block' OR match_key IS NOT NULL OR threshold > 0.8::real)
);
COMMENT ON TABLE crm.duplicate_rule IS 'Per-organization duplicate rules of an entity, applied to the records each INSERT writes: a similarity rule (match_key NULL: duplicate score at least threshold) and exact-key rules (match_key: the same email, phone or domain as a live record; also checked on updates that change the key); a match is allowed, alerted (outbox event <entity>.duplicate_alert) or blocked (23505).';
COMMENT ON COLUMN crm.duplicate_rule.entity IS 'An entity with duplicate detection (contact, lead, account); ''crm.contact'' is stored as ''contact''.';
COMMENT ON COLUMN crm.duplicate_rule.action IS 'allow (do nothing), alert (emit <entity>.duplicate_alert with the candidates) or block (refuse the statement, SQLSTATE 23505).';
COMMENT ON COLUMN crm.duplicate_rule.threshold IS 'Similarity rule: lowest crm.find_duplicates score that counts as a duplicate (0 < threshold <= 1; above 0.8 for block, since a name alone scores at most 0.8). Ignored by exact-key rules.';
COMMENT ON COLUMN crm.duplicate_rule.match_key IS 'NULL: similarity rule (scored candidates). email, phone (contact, lead) or domain, phone (account): exact-key rule, the key is unique among the organization''s live records (crm.email_key, crm.phone_key of phone and mobile, domain), checked on insert and when an update changes the key or revives a record.';
COMMENT ON COLUMN crm.duplicate_rule.is_active IS 'False: the rule is kept but not applied (as if allow).';
SELECT crm._setup_tenant_table('crm.duplicate_rule', label => 'duplicate rule');
-- The entity: one with duplicate detection (crm._entity_guard), else 22023
-- naming them.
CREATE TRIGGER crm_05_entity BEFORE INSERT OR UPDATE OF entity ON crm.duplicate_rule
	FOR EACH ROW EXECUTE FUNCTION crm._entity_guard('duplicate_rule', 'duplicates');

-- A block rule behaves like a unique key under concurrency: inserts that
-- share a blocking key serialise on a lock of that key (crm's own lock
-- space), and the second one looks again once the first has committed
-- (src/dedup_rule.c; doc/design.md, "Duplicate rules under concurrency").
CREATE FUNCTION crm._dedup_lock(org uuid, entity text, keys text[]) RETURNS void
	AS 'MODULE_PATHNAME', 'dedup_lock'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION crm._dedup_lock(uuid, text, text[]) IS
	'Internal (duplicate rule block): takes a transaction-level lock per blocking key of the new records (or, past the transaction''s key budget, one lock on the organization''s entity), so that inserts of possible duplicates serialise.';
-- Not executable by application roles: crm.trg_duplicate_check is SECURITY
-- DEFINER (a lock key no caller can choose).

-- Exact-key matches of a set of records: live records of the organization
-- with the same key (email key; phone key of phone or mobile, any against
-- any; domain).  The same indexes as the blocking keys serve them, one
-- probe per record (LATERAL ... OFFSET 0, as above).
CREATE FUNCTION crm._dedup_exact_of(entity text, org uuid, recs uuid[], match_key text)
RETURNS TABLE (id uuid, candidate_id uuid, score real, reasons text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	CASE entity || ':' || match_key
	WHEN 'contact:email' THEN RETURN QUERY
		SELECT n.id, c.id, 1::real, ARRAY['same email'] FROM crm.contact n
		 CROSS JOIN LATERAL (SELECT c.id FROM crm.contact c
							  WHERE c.organization_id = org AND c.deleted_at IS NULL
								AND crm.email_key(c.email::text) = crm.email_key(n.email::text) AND c.id <> n.id
							 OFFSET 0) c
		 WHERE n.organization_id = org AND n.id = ANY (recs);
	WHEN 'contact:phone' THEN RETURN QUERY
		SELECT DISTINCT n.id, c.id, 1::real, ARRAY['same phone'] FROM crm.contact n
		 CROSS JOIN LATERAL pg_catalog.unnest(ARRAY[crm.phone_key(n.phone::text), crm.phone_key(n.mobile::text)]) v(pk)
		 CROSS JOIN LATERAL (SELECT c.id FROM crm.contact c
							  WHERE c.organization_id = org AND c.deleted_at IS NULL AND crm.phone_key(c.phone::text) = v.pk
							 UNION
							 SELECT c.id FROM crm.contact c
							  WHERE c.organization_id = org AND c.deleted_at IS NULL AND crm.phone_key(c.mobile::text) = v.pk) c
		 WHERE n.organization_id = org AND n.id = ANY (recs) AND v.pk IS NOT NULL AND c.id <> n.id;
	WHEN 'lead:email' THEN RETURN QUERY
		SELECT n.id, l.id, 1::real, ARRAY['same email'] FROM crm.lead n
		 CROSS JOIN LATERAL (SELECT l.id FROM crm.lead l
							  WHERE l.organization_id = org AND l.deleted_at IS NULL
								AND crm.email_key(l.email::text) = crm.email_key(n.email::text) AND l.id <> n.id
							 OFFSET 0) l
		 WHERE n.organization_id = org AND n.id = ANY (recs);
	WHEN 'lead:phone' THEN RETURN QUERY
		SELECT n.id, l.id, 1::real, ARRAY['same phone'] FROM crm.lead n
		 CROSS JOIN LATERAL (SELECT l.id FROM crm.lead l
							  WHERE l.organization_id = org AND l.deleted_at IS NULL
								AND crm.phone_key(l.phone::text) = crm.phone_key(n.phone::text) AND l.id <> n.id
							 OFFSET 0) l
		 WHERE n.organization_id = org AND n.id = ANY (recs);
	WHEN 'account:domain' THEN RETURN QUERY
		SELECT n.id, a.id, 1::real, ARRAY['same domain'] FROM crm.account n
		 CROSS JOIN LATERAL (SELECT a.id FROM crm.account a
							  WHERE a.organization_id = org AND a.deleted_at IS NULL
								AND a.domain = n.domain AND a.id <> n.id
							 OFFSET 0) a
		 WHERE n.organization_id = org AND n.id = ANY (recs);
	WHEN 'account:phone' THEN RETURN QUERY
		SELECT n.id, a.id, 1::real, ARRAY['same phone'] FROM crm.account n
		 CROSS JOIN LATERAL (SELECT a.id FROM crm.account a
							  WHERE a.organization_id = org AND a.deleted_at IS NULL
								AND crm.phone_key(a.phone::text) = crm.phone_key(n.phone::text) AND a.id <> n.id
							 OFFSET 0) a
		 WHERE n.organization_id = org AND n.id = ANY (recs);
	END CASE;
END;
$$;
COMMENT ON FUNCTION crm._dedup_exact_of(text, uuid, uuid[], text) IS
	'Internal (exact-key duplicate rules): for each of a set of records, the live records of the organization with the same email, phone (phone or mobile) or domain.';

-- What a rule finds for a set of records: scored candidates (similarity
-- rule) or exact-key matches.
CREATE FUNCTION crm._dedup_matches(entity text, org uuid, recs uuid[], threshold real, match_key text, name_keys boolean)
RETURNS TABLE (id uuid, candidate_id uuid, score real, reasons text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	IF match_key IS NOT NULL THEN
		RETURN QUERY SELECT * FROM crm._dedup_exact_of(entity, org, recs, match_key);
		RETURN;
	END IF;
	CASE entity
		WHEN 'contact' THEN RETURN QUERY SELECT * FROM crm._contact_duplicates_of(org, recs, threshold, name_keys);
		WHEN 'lead' THEN RETURN QUERY SELECT * FROM crm._lead_duplicates_of(org, recs, threshold, name_keys);
		WHEN 'account' THEN RETURN QUERY SELECT * FROM crm._account_duplicates_of(org, recs, threshold, name_keys);
	END CASE;
END;
$$;
COMMENT ON FUNCTION crm._dedup_matches(text, uuid, uuid[], real, text, boolean) IS
	'Internal (duplicate rules): what a rule finds for a set of records of an organization: scored candidates at or above the threshold (match_key NULL; with name_keys false only candidates that share an email, phone or domain, as for block) or the records with the same key.';

CREATE FUNCTION crm._dedup_exists_now(entity text, org uuid, recs uuid[], threshold real, match_key text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'dedup_exists_now'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION crm._dedup_exists_now(text, uuid, uuid[], real, text) IS
	'Internal (duplicate rule block under REPEATABLE READ/SERIALIZABLE): whether crm._dedup_matches finds anything for the records in a snapshot taken now rather than the transaction''s.';
-- Called by crm.trg_duplicate_check (SECURITY DEFINER), whose queries filter
-- by organization explicitly.

-- The blocking keys of a new record, as the candidate queries above use
-- them (email, phone and mobile, both name orders; for accounts domain,
-- phone, company key), each marked with its kind.  A similarity block rule
-- locks the email and phone (domain) keys, an exact-key rule the keys of its
-- kind only: the same locks.
CREATE FUNCTION crm._dedup_keys(entity text, rec jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, crm, pg_temp
AS $$
	SELECT pg_catalog.array_remove(CASE entity
		WHEN 'account' THEN ARRAY['d:' || (rec ->> 'domain'), 'p:' || crm.phone_key(rec ->> 'phone'),
								  'c:' || crm.company_key(rec ->> 'name')]
		ELSE ARRAY['e:' || crm.email_key(rec ->> 'email'),
				   'p:' || crm.phone_key(rec ->> 'phone'), 'p:' || crm.phone_key(rec ->> 'mobile'),
				   'n:' || crm.name_key(rec ->> 'first_name', rec ->> 'last_name'),
				   'n:' || crm.name_key(rec ->> 'last_name', rec ->> 'first_name')]
		END, NULL)
$$;
COMMENT ON FUNCTION crm._dedup_keys(text, jsonb) IS
	'Internal (duplicate rule block): the blocking keys of a contact, lead or account (given as jsonb), marked by kind (e: email, p: phone, n: name, d: domain, c: company).';

-- AFTER INSERT and AFTER UPDATE statement trigger on contact, lead and
-- account: applies the rules to all the statement's records at once (one
-- set-based look-up per rule, each blocking key counted once), so a bulk
-- INSERT ... SELECT costs per record a few index probes, not a count of
-- every block.  On UPDATE only exact-key rules apply, to the records whose
-- key changed or that were revived (a unique key holds on update too).
-- SECURITY DEFINER: the key locks and the look-ups are internal, not
-- executable by application roles (sql/95_privileges.sql); every query here
-- and in the functions it calls filters by the records' organization
-- explicitly, and the rows themselves passed the caller's row-level
-- security.
CREATE FUNCTION crm.trg_duplicate_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	ent text;
	o uuid;
	ids uuid[];
	r record;
	tag text;
	recs uuid[];
	keys text[];
	hit record;
	best jsonb;
BEGIN
	ent := crm._trigger_table_ok('crm.trg_duplicate_check()', TG_NAME, TG_RELID, TG_ARGV, '{contact,lead,account}');
	IF TG_LEVEL <> 'STATEMENT' OR TG_WHEN <> 'AFTER' THEN
		RAISE EXCEPTION 'crm.trg_duplicate_check() must be fired as an AFTER statement trigger'
			USING ERRCODE = 'trigger_protocol_violated';
	END IF;
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN NULL;
	END IF;
	-- per organization of the statement's live records (a superuser may
	-- write several at once)
	FOR o IN SELECT DISTINCT n.organization_id FROM new_rows n WHERE n.deleted_at IS NULL ORDER BY 1
	LOOP
		ids := NULL;
		FOR r IN
			SELECT d.action, d.threshold, d.match_key FROM crm.duplicate_rule d
			 WHERE d.organization_id = o AND d.entity = ent AND d.is_active AND d.action <> 'allow'
			   AND (TG_OP = 'INSERT' OR d.match_key IS NOT NULL)
			 ORDER BY d.match_key NULLS LAST
		LOOP
			IF ids IS NULL THEN
				SELECT pg_catalog.array_agg(n.id ORDER BY n.id) INTO ids
				  FROM new_rows n WHERE n.organization_id = o AND n.deleted_at IS NULL;
			END IF;
			tag := CASE r.match_key WHEN 'email' THEN 'e:' WHEN 'phone' THEN 'p:' WHEN 'domain' THEN 'd:' END;
			recs := ids;
			IF TG_OP = 'UPDATE' THEN
				-- only records whose key changed, or that were revived
				SELECT pg_catalog.array_agg(n.id ORDER BY n.id) INTO recs
				  FROM new_rows n JOIN old_rows x ON x.organization_id = n.organization_id AND x.id = n.id
				 WHERE n.id = ANY (ids)
				   AND (x.deleted_at IS NOT NULL
						OR ARRAY(SELECT k FROM pg_catalog.unnest(crm._dedup_keys(ent, pg_catalog.to_jsonb(n))) k WHERE pg_catalog.left(k, 2) = tag ORDER BY k)
						   IS DISTINCT FROM
						   ARRAY(SELECT k FROM pg_catalog.unnest(crm._dedup_keys(ent, pg_catalog.to_jsonb(x))) k WHERE pg_catalog.left(k, 2) = tag ORDER BY k));
				CONTINUE WHEN recs IS NULL;
			END IF;
			-- block: wait for every transaction that wrote a record sharing
			-- a key; the query below then runs with a new snapshot (READ
			-- COMMITTED) and sees what they committed.  A block needs an
			-- email or phone (domain) in common, so the name and company
			-- keys are neither locked nor looked up: namesakes do not wait
			-- for each other.
			IF r.action = 'block' THEN
				SELECT pg_catalog.array_agg(DISTINCT k) INTO keys
				  FROM new_rows n, pg_catalog.unnest(crm._dedup_keys(ent, pg_catalog.to_jsonb(n))) k
				 WHERE n.id = ANY (recs)
				   AND CASE WHEN tag IS NULL THEN pg_catalog.left(k, 2) NOT IN ('n:', 'c:') ELSE pg_catalog.left(k, 2) = tag END;
				PERFORM crm._dedup_lock(o, ent, keys);
			END IF;

			FOR hit IN
				SELECT f.id, pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('id', f.candidate_id, 'score', round(f.score::numeric, 3), 'reasons', pg_catalog.to_jsonb(f.reasons))
											   ORDER BY f.score DESC, f.candidate_id) AS cands
				  FROM crm._dedup_matches(ent, o, recs, r.threshold, r.match_key, r.action <> 'block') f
				 GROUP BY f.id ORDER BY f.id
			LOOP
				IF r.action = 'block' THEN
					best := hit.cands -> 0;
					IF r.match_key IS NULL THEN
						RAISE EXCEPTION 'new % is a duplicate of % %: %', ent, ent, best ->> 'id',
							(SELECT string_agg(x, ', ') FROM jsonb_array_elements_text(best -> 'reasons') x)
							USING ERRCODE = 'unique_violation',
								  DETAIL = format('Score %s of the new %s %s reaches the threshold %s of the organization''s duplicate rule for %s (action block); %s candidate(s): %s.',
												  best ->> 'score', ent, hit.id, r.threshold, ent, jsonb_array_length(hit.cands),
												  (SELECT string_agg(c ->> 'id', ', ') FROM jsonb_array_elements(hit.cands) c)),
								  HINT = format('Update the existing %s instead, merge the records with crm.merge(), or change the rule (crm.duplicate_rule: action alert or allow, or a higher threshold).', ent);
					END IF;
					RAISE EXCEPTION '% % has the same % as % %', CASE TG_OP WHEN 'INSERT' THEN 'new' ELSE 'updated' END,
						ent, r.match_key, ent, best ->> 'id'
						USING ERRCODE = 'unique_violation',
							  DETAIL = format('The organization''s duplicate rule for %s makes %s unique among live records (action block); %s record(s) have the %s of %s %s: %s.',
											  ent, r.match_key, jsonb_array_length(hit.cands), r.match_key,
											  CASE TG_OP WHEN 'INSERT' THEN 'the new ' ELSE 'the updated ' END || ent, hit.id,
											  (SELECT string_agg(c ->> 'id', ', ') FROM jsonb_array_elements(hit.cands) c)),
							  HINT = format('Update the existing %s instead, merge the records with crm.merge(), or change the rule (crm.duplicate_rule with match_key %s: action alert or allow).', ent, r.match_key);
				END IF;
				PERFORM crm.emit(ent || '.duplicate_alert', ent, hit.id,
								 CASE WHEN r.match_key IS NULL THEN jsonb_build_object('threshold', r.threshold, 'candidates', hit.cands)
									  ELSE jsonb_build_object('match_key', r.match_key, 'candidates', hit.cands) END, o);
			END LOOP;
			-- REPEATABLE READ and SERIALIZABLE read with the transaction's
			-- snapshot: a duplicate committed since is invisible to it, and
			-- the statement must not commit.  The retry sees the duplicate.
			IF NOT FOUND AND r.action = 'block' AND current_setting('transaction_isolation') <> 'read committed'
			   AND crm._dedup_exists_now(ent, o, recs, r.threshold, r.match_key) THEN
				RAISE EXCEPTION 'could not serialize the duplicate check of the % %', CASE TG_OP WHEN 'INSERT' THEN 'new' ELSE 'updated' END, ent
					USING ERRCODE = 'serialization_failure',
						  DETAIL = format('A duplicate committed after this %s transaction took its snapshot; the organization''s duplicate rule for %s%s is block.',
										  current_setting('transaction_isolation'), ent,
										  CASE WHEN r.match_key IS NOT NULL THEN format(' (match_key %s)', r.match_key) ELSE '' END),
						  HINT = 'Retry the transaction: it will see the duplicate.';
			END IF;
		END LOOP;
	END LOOP;
	RETURN NULL;
END;
$$;
COMMENT ON FUNCTION crm.trg_duplicate_check() IS
	'AFTER INSERT and AFTER UPDATE statement trigger on contact, lead and account: applies the organization''s crm.duplicate_rule rows to the statement''s records at once (block: error 23505 naming the best candidate, like a unique key also against concurrent inserts; 40001 under REPEATABLE READ/SERIALIZABLE when the duplicate committed after the snapshot; alert: outbox event <entity>.duplicate_alert). On UPDATE only exact-key rules, for records whose key changed or that were revived. Off in restore mode.';

CREATE TRIGGER crm_60_duplicate_check AFTER INSERT ON crm.contact
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_duplicate_check('contact');
CREATE TRIGGER crm_60_duplicate_check_update AFTER UPDATE ON crm.contact
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_duplicate_check('contact');
CREATE TRIGGER crm_60_duplicate_check AFTER INSERT ON crm.lead
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_duplicate_check('lead');
CREATE TRIGGER crm_60_duplicate_check_update AFTER UPDATE ON crm.lead
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_duplicate_check('lead');
CREATE TRIGGER crm_60_duplicate_check AFTER INSERT ON crm.account
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_duplicate_check('account');
CREATE TRIGGER crm_60_duplicate_check_update AFTER UPDATE ON crm.account
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_duplicate_check('account');
