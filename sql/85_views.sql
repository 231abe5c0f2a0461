-- ============================================================================
-- 85 reporting: the crm.v_* views and the hierarchy and timeline functions
--
-- The views are what BI tools and reports read: live rows only (deleted_at IS
-- NULL), the names of owners, accounts and territories resolved, the account
-- hierarchy as a path.  Rule: a view never shows data of a soft-deleted row.
-- A reference to a soft-deleted record keeps its id but resolves to no name,
-- and the account hierarchy runs through live accounts only (a live account
-- under a soft-deleted parent is the root of its own tree here).
--
-- Every view is security_invoker: it reads its tables as the role that queries
-- it, so row-level security applies (a view owned by the installing superuser
-- would otherwise read every tenant's rows).  Joins carry organization_id, so
-- each stays within one tenant and every join is on a tenant-first key.
-- ============================================================================

-- Two rules keep every view's plan proportional to the rows it returns, also
-- while the planner has no statistics yet (a first bulk load) and would
-- rather read a whole tenant through any index that begins with
-- organization_id:
--   * a name is looked up by primary key only; whether the referenced row is
--     live is tested on the row found (CASE), not in the join, which would
--     let the partial "WHERE deleted_at IS NULL" indexes in;
--   * the hierarchy is walked upwards one parent at a time, each step a
--     primary-key lookup fenced by LIMIT 1 (otherwise the planner may turn
--     the step into a join that reads the tenant per step: quadratic).
-- Every join is a LEFT JOIN on a unique key or to a one-row aggregate, so a
-- query that does not use its columns does not pay for it (join removal).

-- Accounts with the live ancestry of each: from the root of its live tree down
-- to itself, walked laterally per account, so a query that picks a few
-- accounts walks only their ancestors.  CYCLE guards against a cycle that
-- restore mode let in (the trigger refuses them otherwise; crm.verify()
-- reports them).
CREATE VIEW crm.v_account WITH (security_invoker = true) AS
SELECT a.id, a.organization_id, a.name,
	   a.parent_account_id, CASE WHEN p.deleted_at IS NULL THEN p.name END AS parent_account_name,
	   h.root_account_id, h.depth, h.path, h.path_ids,
	   a.type, a.status, a.rating, a.industry, a.employee_count, a.annual_revenue, a.currency,
	   a.website, a.domain, a.phone, a.billing_address, a.shipping_address, a.description,
	   a.owner_id, CASE WHEN o.deleted_at IS NULL THEN o.name END AS owner_name,
	   a.territory_id, CASE WHEN t.deleted_at IS NULL THEN t.name END AS territory_name,
	   a.tags, a.custom_fields, a.created_at, a.updated_at, a.created_by, a.updated_by
  FROM crm.account a
  LEFT JOIN crm.account p ON p.organization_id = a.organization_id AND p.id = a.parent_account_id
  LEFT JOIN crm.app_user o ON o.organization_id = a.organization_id AND o.id = a.owner_id
  LEFT JOIN crm.territory t ON t.organization_id = a.organization_id AND t.id = a.territory_id
  LEFT JOIN LATERAL (
	WITH RECURSIVE up (id, parent_id, name, n) AS (
		SELECT a.id, a.parent_account_id, a.name, 0
		UNION ALL
		SELECT x.id, x.parent_account_id, x.name, up.n + 1
		  FROM up,
		  LATERAL (SELECT q.id, q.parent_account_id, q.name, q.deleted_at FROM crm.account q
					WHERE q.organization_id = a.organization_id AND q.id = up.parent_id
					LIMIT 1) x
		 WHERE x.deleted_at IS NULL
	) CYCLE id SET is_cycle USING visited
	SELECT (array_agg(up.id ORDER BY up.n DESC))[1] AS root_account_id,
		   max(up.n) AS depth,
		   string_agg(up.name, ' > ' ORDER BY up.n DESC) AS path,
		   array_agg(up.id ORDER BY up.n DESC) AS path_ids
	  FROM up
	 WHERE NOT up.is_cycle
 ) h ON true
 WHERE a.deleted_at IS NULL;
COMMENT ON VIEW crm.v_account IS
	'Live accounts of the current organization with owner, territory and parent names and the account hierarchy (root, depth, path); for reports and BI tools (a soft-deleted referenced record shows no name).';

CREATE VIEW crm.v_contact WITH (security_invoker = true) AS
SELECT c.id, c.organization_id,
	   c.first_name, c.last_name, crm.person_full_name(c.first_name, c.last_name) AS full_name,
	   c.email, c.phone, c.mobile, c.title, c.department,
	   c.account_id, CASE WHEN a.deleted_at IS NULL THEN a.name END AS account_name, ap.path AS account_path,
	   c.lead_source, c.preferred_contact_method, c.timezone, c.locale, c.birthday, c.social_profiles,
	   c.do_not_email, c.do_not_call, c.unsubscribed_at, c.mailing_address, c.description,
	   c.owner_id, CASE WHEN o.deleted_at IS NULL THEN o.name END AS owner_name,
	   c.tags, c.custom_fields, c.created_at, c.updated_at, c.created_by, c.updated_by
  FROM crm.contact c
  LEFT JOIN crm.account a ON a.organization_id = c.organization_id AND a.id = c.account_id
  -- the account's path, looked up per contact (one row: an aggregate, so the
  -- join is left out when the column is not asked for)
  LEFT JOIN LATERAL (SELECT max(v.path) AS path FROM crm.v_account v
					  WHERE v.organization_id = c.organization_id AND v.id = c.account_id) ap ON true
  LEFT JOIN crm.app_user o ON o.organization_id = c.organization_id AND o.id = c.owner_id
 WHERE c.deleted_at IS NULL;
COMMENT ON VIEW crm.v_contact IS
	'Live contacts of the current organization with full name, owner name, account name and the account''s hierarchy path; for reports and BI tools (a soft-deleted referenced record shows no name).';

CREATE VIEW crm.v_lead WITH (security_invoker = true) AS
SELECT l.id, l.organization_id,
	   l.first_name, l.last_name, crm.person_full_name(l.first_name, l.last_name) AS full_name,
	   l.email, l.phone, l.company, l.title, l.website, l.industry, l.employee_count,
	   l.lead_source, l.status, l.priority, l.utm_source, l.utm_medium, l.utm_campaign, l.utm_term, l.utm_content,
	   l.converted_at,
	   l.converted_account_id, CASE WHEN a.deleted_at IS NULL THEN a.name END AS converted_account_name,
	   l.converted_contact_id,
	   CASE WHEN c.id IS NOT NULL AND c.deleted_at IS NULL
			THEN crm.person_full_name(c.first_name, c.last_name) END AS converted_contact_name,
	   l.converted_opportunity_id, l.disqualification_reason, l.description,
	   l.owner_id, CASE WHEN o.deleted_at IS NULL THEN o.name END AS owner_name,
	   l.tags, l.custom_fields, l.created_at, l.updated_at, l.created_by, l.updated_by
  FROM crm.lead l
  LEFT JOIN crm.account a ON a.organization_id = l.organization_id AND a.id = l.converted_account_id
  LEFT JOIN crm.contact c ON c.organization_id = l.organization_id AND c.id = l.converted_contact_id
  LEFT JOIN crm.app_user o ON o.organization_id = l.organization_id AND o.id = l.owner_id
 WHERE l.deleted_at IS NULL;
COMMENT ON VIEW crm.v_lead IS
	'Live leads of the current organization with owner name and the names of the account and contact a converted lead became; for reports and BI tools (a soft-deleted referenced record shows no name).';

CREATE VIEW crm.v_activity WITH (security_invoker = true) AS
SELECT v.id, v.organization_id, v.type, v.subject, v.body, v.status, v.priority,
	   v.activity_at, v.due_at, v.completed_at, v.duration_minutes, v.direction, v.outcome,
	   v.account_id, CASE WHEN a.deleted_at IS NULL THEN a.name END AS account_name,
	   v.contact_id,
	   CASE WHEN c.id IS NOT NULL AND c.deleted_at IS NULL
			THEN crm.person_full_name(c.first_name, c.last_name) END AS contact_name,
	   v.lead_id,
	   CASE WHEN l.id IS NOT NULL AND l.deleted_at IS NULL
			THEN crm.person_full_name(l.first_name, l.last_name) END AS lead_name,
	   v.owner_id, CASE WHEN o.deleted_at IS NULL THEN o.name END AS owner_name,
	   v.assignee_id, CASE WHEN s.deleted_at IS NULL THEN s.name END AS assignee_name,
	   v.tags, v.custom_fields, v.created_at, v.updated_at, v.created_by, v.updated_by
  FROM crm.activity v
  LEFT JOIN crm.account a ON a.organization_id = v.organization_id AND a.id = v.account_id
  LEFT JOIN crm.contact c ON c.organization_id = v.organization_id AND c.id = v.contact_id
  LEFT JOIN crm.lead l ON l.organization_id = v.organization_id AND l.id = v.lead_id
  LEFT JOIN crm.app_user o ON o.organization_id = v.organization_id AND o.id = v.owner_id
  LEFT JOIN crm.app_user s ON s.organization_id = v.organization_id AND s.id = v.assignee_id
 WHERE v.deleted_at IS NULL;
COMMENT ON VIEW crm.v_activity IS
	'Live activities of the current organization with the names of their account, contact, lead, owner and assignee; for reports and BI tools (a soft-deleted referenced record shows no name).';

-- Column comments: a column a view takes from its table keeps that table's
-- comment (one text for both, so they cannot disagree); the derived columns
-- are commented below.
DO $$
DECLARE
	c record;
BEGIN
	FOR c IN
		SELECT v.oid::regclass AS view, a.attname, col_description(t.oid, b.attnum) AS txt
		  FROM pg_class v
		  JOIN pg_attribute a ON a.attrelid = v.oid AND a.attnum > 0
		  JOIN pg_class t ON t.relnamespace = v.relnamespace AND t.relname = substr(v.relname, 3)
		  JOIN pg_attribute b ON b.attrelid = t.oid AND b.attname = a.attname AND NOT b.attisdropped
		 WHERE v.relnamespace = 'crm'::regnamespace AND v.relkind = 'v' AND v.relname LIKE 'v\_%'
		   AND col_description(t.oid, b.attnum) IS NOT NULL
	LOOP
		EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', c.view, c.attname, c.txt);
	END LOOP;
END;
$$;
COMMENT ON COLUMN crm.v_account.parent_account_name IS 'Name of the parent account (NULL when it is soft-deleted).';
COMMENT ON COLUMN crm.v_account.root_account_id IS 'The top of the account''s live hierarchy (the account itself when it has no live parent).';
COMMENT ON COLUMN crm.v_account.depth IS 'Levels below root_account_id (0 for a root).';
COMMENT ON COLUMN crm.v_account.path IS 'Account names from the root down to this account, joined by '' > ''.';
COMMENT ON COLUMN crm.v_account.path_ids IS 'Account ids from the root down to this account.';
COMMENT ON COLUMN crm.v_account.owner_name IS 'Name of the owning crm.app_user.';
COMMENT ON COLUMN crm.v_account.territory_name IS 'Name of the territory.';
COMMENT ON COLUMN crm.v_contact.full_name IS 'Given and family name (crm.person_full_name).';
COMMENT ON COLUMN crm.v_contact.account_name IS 'Name of the contact''s account.';
COMMENT ON COLUMN crm.v_contact.account_path IS 'Hierarchy path of the contact''s account (crm.v_account.path).';
COMMENT ON COLUMN crm.v_contact.owner_name IS 'Name of the owning crm.app_user.';
COMMENT ON COLUMN crm.v_lead.full_name IS 'Given and family name (crm.person_full_name).';
COMMENT ON COLUMN crm.v_lead.converted_account_name IS 'Name of the account the lead was converted into.';
COMMENT ON COLUMN crm.v_lead.converted_contact_name IS 'Full name of the contact the lead was converted into.';
COMMENT ON COLUMN crm.v_lead.owner_name IS 'Name of the owning crm.app_user.';
COMMENT ON COLUMN crm.v_activity.account_name IS 'Name of the related account.';
COMMENT ON COLUMN crm.v_activity.contact_name IS 'Full name of the related contact.';
COMMENT ON COLUMN crm.v_activity.lead_name IS 'Full name of the related lead.';
COMMENT ON COLUMN crm.v_activity.owner_name IS 'Name of the owning crm.app_user.';
COMMENT ON COLUMN crm.v_activity.assignee_name IS 'Name of the assigned crm.app_user.';

-- ---------------------------------------------------------------------------
-- crm.account_tree: an account's live subtree (or, from_root, the whole live
-- hierarchy it belongs to), depth-first with siblings by name.  depth, path
-- and path_ids are those of crm.v_account (counted from the root of the live
-- hierarchy), so the rows are exactly the crm.v_account rows whose path_ids
-- contain the starting account.  Children are found through
-- account_parent_idx, one index lookup per account of the subtree.
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm.account_tree(account_id uuid, from_root boolean DEFAULT false)
RETURNS TABLE (id uuid, parent_account_id uuid, name text, depth integer, path text, path_ids uuid[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
	start crm.v_account;
BEGIN
	SELECT * INTO start FROM crm.v_account v
	 WHERE v.organization_id = org AND v.id = account_tree.account_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'account % not found', coalesce(account_tree.account_id::text, 'NULL')
			USING ERRCODE = 'no_data_found',
				  DETAIL = 'There is no live account with this id in the current organization.';
	END IF;
	IF from_root AND start.depth > 0 THEN
		SELECT * INTO start FROM crm.v_account v
		 WHERE v.organization_id = org AND v.id = start.root_account_id;
	END IF;
	RETURN QUERY
	WITH RECURSIVE down (id, parent_account_id, name, depth, path, path_ids, sort_key) AS (
		SELECT start.id, start.parent_account_id, start.name, start.depth, start.path, start.path_ids,
			   '{}'::text[]
		UNION ALL
		SELECT a.id, a.parent_account_id, a.name, d.depth + 1, d.path || ' > ' || a.name, d.path_ids || a.id,
			   d.sort_key || (a.name || chr(1) || a.id::text)
		  FROM down d
		  JOIN crm.account a
			ON a.organization_id = org AND a.parent_account_id = d.id AND a.deleted_at IS NULL
	) CYCLE id SET is_cycle USING visited
	SELECT d.id, d.parent_account_id, d.name, d.depth, d.path, d.path_ids
	  FROM down d
	 WHERE NOT d.is_cycle
	 ORDER BY d.sort_key;
END;
$$;
COMMENT ON FUNCTION crm.account_tree(uuid, boolean) IS
	'The live subtree of an account of the current organization (from_root: the whole hierarchy it is in), depth-first, siblings by name, with depth and path as in crm.v_account.';

-- ---------------------------------------------------------------------------
-- crm.timeline: what happened to one record, in time order -- its audit
-- entries, and the live activities and notes that refer to it.  Which
-- activity and note columns refer to the record's table is read from their
-- foreign keys (account_id, contact_id, lead_id, activity_id; owner_id and
-- assignee_id for a user), so a table that later gets a foreign key from
-- crm.activity or crm.note gets a timeline without a change here.
-- ---------------------------------------------------------------------------
CREATE FUNCTION crm.timeline(entity text, id uuid)
RETURNS TABLE (occurred_at timestamptz, kind text, item_id uuid, summary text, detail jsonb,
			   user_id uuid, user_name text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
	tbl name;
	src record;
	parts text[];
BEGIN
	-- 'contact' or 'crm.contact', a crm record table (crm._entity: 22023
	-- listing the allowed ones otherwise)
	tbl := crm._entity(timeline.entity);

	parts := ARRAY[
		'SELECT a.changed_at, ''audit''::text, a.id,
				a.action || coalesce('': '' || (SELECT string_agg(k, '', '' ORDER BY k)
												   FROM jsonb_object_keys(a.new_values) k
												  WHERE a.action = ''UPDATE''), ''''),
				jsonb_build_object(''old_values'', a.old_values, ''new_values'', a.new_values),
				a.actor_id, u.name
		   FROM crm.audit_log a
		   LEFT JOIN crm.app_user u ON u.organization_id = a.organization_id AND u.id = a.actor_id AND u.deleted_at IS NULL
		  WHERE a.organization_id = $1 AND a.table_name = $3 AND a.row_id = $2'];

	-- the activities and notes whose foreign keys point at the record
	FOR src IN
		SELECT k.conrelid AS rel, string_agg(format('t.%I = $2', att.attname), ' OR ' ORDER BY att.attname) AS cond
		  FROM pg_constraint k
		  JOIN pg_attribute att ON att.attrelid = k.conrelid AND att.attnum = ANY (k.conkey)
							   AND att.attname <> 'organization_id'
		 WHERE k.contype = 'f' AND k.confrelid = ('crm.' || quote_ident(tbl))::regclass
		   AND k.conrelid IN ('crm.activity'::regclass, 'crm.note'::regclass)
		   AND cardinality(k.conkey) = 2
		 GROUP BY k.conrelid
	LOOP
		IF src.rel = 'crm.activity'::regclass THEN
			parts := parts || format(
				'SELECT t.activity_at, ''activity''::text, t.id, t.type || '': '' || t.subject,
						jsonb_strip_nulls(jsonb_build_object(''type'', t.type, ''status'', t.status,
							''priority'', t.priority, ''direction'', t.direction, ''outcome'', t.outcome,
							''due_at'', t.due_at, ''completed_at'', t.completed_at,
							''duration_minutes'', t.duration_minutes, ''body'', t.body)),
						coalesce(t.owner_id, t.created_by), u.name
				   FROM crm.activity t
				   LEFT JOIN crm.app_user u ON u.organization_id = t.organization_id
										   AND u.id = coalesce(t.owner_id, t.created_by) AND u.deleted_at IS NULL
				  WHERE t.organization_id = $1 AND t.deleted_at IS NULL AND (%s)', src.cond);
		ELSE
			parts := parts || format(
				'SELECT t.created_at, ''note''::text, t.id, split_part(t.body, E''\n'', 1),
						jsonb_build_object(''body'', t.body, ''is_pinned'', t.is_pinned),
						t.created_by, u.name
				   FROM crm.note t
				   LEFT JOIN crm.app_user u ON u.organization_id = t.organization_id AND u.id = t.created_by AND u.deleted_at IS NULL
				  WHERE t.organization_id = $1 AND t.deleted_at IS NULL AND (%s)', src.cond);
		END IF;
	END LOOP;

	RETURN QUERY EXECUTE array_to_string(parts, ' UNION ALL ') || ' ORDER BY 1, 2, 3'
		USING org, timeline.id, tbl::text;
END;
$$;
COMMENT ON FUNCTION crm.timeline(text, uuid) IS
	'What happened to one record of the current organization, oldest first: its audit entries and the live activities and notes that refer to it (kind audit, activity or note).';
