-- ============================================================================
-- 77 knowledge: knowledge-base articles, their links to cases, and article
-- suggestions for a case through the full-text index (doc/sla.md)
-- ============================================================================

CREATE TABLE crm.knowledge_article (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	title		text NOT NULL,
	body		text NOT NULL DEFAULT '',
	status		text NOT NULL DEFAULT 'draft',
	version		integer NOT NULL DEFAULT 1,
	published_at timestamptz,
	helpful_count integer NOT NULL DEFAULT 0,
	unhelpful_count integer NOT NULL DEFAULT 0,
	owner_id	uuid,
	tags		text[] NOT NULL DEFAULT '{}',
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	deleted_at	timestamptz,
	-- title, and the first 20,000 characters of the body
	search_vector tsvector GENERATED ALWAYS AS (
		setweight(to_tsvector('simple'::regconfig, crm.search_fold(title)), 'A') ||
		setweight(to_tsvector('simple'::regconfig, crm.search_fold(left(body, 20000))), 'C')
	) STORED,
	CONSTRAINT knowledge_article_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT knowledge_article_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT knowledge_article_owner_fkey FOREIGN KEY (organization_id, owner_id) REFERENCES crm.app_user (organization_id, id),
	CONSTRAINT knowledge_article_title_not_blank CHECK (pg_catalog.btrim(title) <> ''),
	CONSTRAINT knowledge_article_status_valid CHECK (status IN ('draft', 'published', 'archived')),
	CONSTRAINT knowledge_article_version_positive CHECK (version > 0),
	CONSTRAINT knowledge_article_counts_nonnegative CHECK (helpful_count >= 0 AND unhelpful_count >= 0)
);
-- what crm.suggest_articles reads: published articles only
CREATE INDEX knowledge_article_search_idx ON crm.knowledge_article USING gin (search_vector crm.tsvector_ops)
	WHERE status = 'published' AND deleted_at IS NULL;
COMMENT ON TABLE crm.knowledge_article IS 'A knowledge-base article: draft, published or archived; versioned; full-text searchable; suggested for cases (crm.suggest_articles).';
COMMENT ON COLUMN crm.knowledge_article.title IS 'Title (weighs most in searches and suggestions).';
COMMENT ON COLUMN crm.knowledge_article.body IS 'The article text.';
COMMENT ON COLUMN crm.knowledge_article.status IS 'draft, published (suggested for cases) or archived.';
COMMENT ON COLUMN crm.knowledge_article.version IS 'Incremented by every change of title or body.';
COMMENT ON COLUMN crm.knowledge_article.published_at IS 'When it was last published.';
COMMENT ON COLUMN crm.knowledge_article.helpful_count IS 'Readers who found it helpful.';
COMMENT ON COLUMN crm.knowledge_article.unhelpful_count IS 'Readers who did not.';
SELECT crm._setup_tenant_table('crm.knowledge_article', label => 'knowledge article');

-- Versions and publication times.
CREATE FUNCTION crm.trg_knowledge_article() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_knowledge_article()', TG_NAME, TG_RELID, TG_ARGV, '{knowledge_article}');
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN NEW;
	END IF;
	IF TG_OP = 'INSERT' THEN
		NEW.version := 1;
	ELSIF (NEW.title, NEW.body) IS DISTINCT FROM (OLD.title, OLD.body) THEN
		NEW.version := OLD.version + 1;
	ELSE
		NEW.version := OLD.version;
	END IF;
	IF NEW.status = 'published' AND (TG_OP = 'INSERT' OR OLD.status <> 'published') THEN
		NEW.published_at := pg_catalog.now();
	END IF;
	RETURN NEW;
END;
$$;
COMMENT ON FUNCTION crm.trg_knowledge_article() IS
	'BEFORE INSERT OR UPDATE row trigger on crm.knowledge_article: version (1, then +1 per change of title or body), published_at.';
CREATE TRIGGER crm_30_version BEFORE INSERT OR UPDATE ON crm.knowledge_article
	FOR EACH ROW EXECUTE FUNCTION crm.trg_knowledge_article('knowledge_article');

-- Articles linked to cases (the article that solved it, one sent to the
-- customer).
CREATE TABLE crm.knowledge_article_case (
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	article_id	uuid NOT NULL,
	case_id		uuid NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	CONSTRAINT knowledge_article_case_pkey PRIMARY KEY (organization_id, article_id, case_id),
	CONSTRAINT knowledge_article_case_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT knowledge_article_case_article_fkey FOREIGN KEY (organization_id, article_id)
		REFERENCES crm.knowledge_article (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT knowledge_article_case_case_fkey FOREIGN KEY (organization_id, case_id)
		REFERENCES crm.case (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX knowledge_article_case_case_idx ON crm.knowledge_article_case (organization_id, case_id);
COMMENT ON TABLE crm.knowledge_article_case IS 'A knowledge article linked to a case.';
COMMENT ON COLUMN crm.knowledge_article_case.article_id IS 'The crm.knowledge_article.';
COMMENT ON COLUMN crm.knowledge_article_case.case_id IS 'The crm.case.';
SELECT crm._setup_tenant_table('crm.knowledge_article_case', audited => false, label => 'knowledge article link');

-- Published articles ranked by text similarity to a case: any word of the
-- case's subject and description (accents folded, words of three letters
-- or more, the first 64), through the partial full-text index; ties by the
-- helpful votes.
CREATE FUNCTION crm.suggest_articles(case_id uuid, lim integer DEFAULT 5)
RETURNS TABLE (article_id uuid, title text, rank real)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
	txt text;
	q tsquery;
BEGIN
	IF lim IS NULL OR lim < 1 OR lim > 100 THEN
		RAISE EXCEPTION 'lim must be between 1 and 100, not %', coalesce(lim::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT c.subject || ' ' || coalesce(left(c.description, 20000), '') INTO txt
	  FROM crm.case c WHERE c.organization_id = org AND c.id = suggest_articles.case_id AND c.deleted_at IS NULL;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'case % does not exist', coalesce(suggest_articles.case_id::text, 'NULL')
			USING ERRCODE = 'no_data_found',
				  HINT = 'Pass the id of a live case of the current organization.';
	END IF;
	SELECT string_agg(quote_literal(w), ' | ')::tsquery INTO q
	  FROM (SELECT DISTINCT w FROM regexp_split_to_table(lower(crm.search_fold(txt)), '[^[:alnum:]]+') w
			 WHERE length(w) >= 3 LIMIT 64) words;
	IF q IS NULL THEN
		RETURN;
	END IF;
	RETURN QUERY
	SELECT a.id, a.title, ts_rank(a.search_vector, q) AS r
	  FROM crm.knowledge_article a
	 WHERE a.organization_id = org AND a.status = 'published' AND a.deleted_at IS NULL
	   AND a.search_vector OPERATOR(crm.@@) q
	 ORDER BY r DESC, a.helpful_count DESC, a.id
	 LIMIT lim;
END;
$$;
COMMENT ON FUNCTION crm.suggest_articles(uuid, integer) IS
	'Published knowledge articles of the current organization ranked by text similarity to a case (any word of its subject and description), through the full-text index; at most lim (1-100).';
