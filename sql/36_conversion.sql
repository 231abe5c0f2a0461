-- ============================================================================
-- 36 lead conversion: a qualified lead becomes an account, a contact and
-- (optionally) an opportunity, in one transaction (doc/quotes.md, "Lead
-- conversion").
-- ============================================================================

-- The internet domain of a web site or an email address, lower case, as
-- crm.account.domain holds it ('https://www.Example.com/x' -> example.com);
-- NULL when nothing domain-like is left.
CREATE FUNCTION crm._domain_of(site text, email crm.email) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	d text;
BEGIN
	d := lower(btrim(site));
	d := regexp_replace(d, '^[a-z][a-z0-9+.-]*://', '');	-- scheme
	d := regexp_replace(d, '^[^/@]*@', '');					-- user info
	d := regexp_replace(d, '[/?#:].*$', '');				-- port, path, query
	d := regexp_replace(d, '^www\.', '');
	d := rtrim(d, '.');
	IF d IS NULL OR d !~ '^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$' THEN
		d := lower(crm.email_domain(email));
	END IF;
	IF d IS NULL OR d !~ '^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$' THEN
		RETURN NULL;
	END IF;
	RETURN d;
END;
$$;
COMMENT ON FUNCTION crm._domain_of(text, crm.email) IS
	'Internal (crm.convert_lead): the lower-case internet domain of a web site URL, else of an email address; NULL when neither gives one.';

-- Convert a lead.  Runs as the caller, under row-level security, with an
-- explicit tenant filter in every query; the lead row is locked first, so
-- of two sessions converting the same lead the second waits and then finds
-- it converted.
CREATE FUNCTION crm.convert_lead(lead_id uuid, account_id uuid DEFAULT NULL, contact_id uuid DEFAULT NULL,
								 create_opportunity boolean DEFAULT true, opportunity_name text DEFAULT NULL)
RETURNS TABLE (converted_account_id uuid, converted_contact_id uuid, converted_opportunity_id uuid,
			   account_created boolean, contact_created boolean)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
	l crm.lead%ROWTYPE;
	a crm.account%ROWTYPE;
	c crm.contact%ROWTYPE;
	dom text;
	acc uuid := convert_lead.account_id;
	con uuid := convert_lead.contact_id;
	opp uuid;
	new_account boolean := false;
	new_contact boolean := false;
	pipe uuid;
	oname text;
BEGIN
	IF lead_id IS NULL THEN
		RAISE EXCEPTION 'the lead to convert must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF create_opportunity IS NULL THEN
		RAISE EXCEPTION 'create_opportunity must be true or false, not NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF opportunity_name IS NOT NULL AND btrim(opportunity_name) = '' THEN
		RAISE EXCEPTION 'the opportunity name must not be blank' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF opportunity_name IS NOT NULL AND NOT create_opportunity THEN
		RAISE EXCEPTION 'an opportunity name was given, but no opportunity is to be created'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Leave opportunity_name NULL, or pass create_opportunity => true.';
	END IF;

	-- The lead, locked: a concurrent conversion waits here and then sees
	-- the lead converted.
	SELECT * INTO l FROM crm.lead x WHERE x.organization_id = org AND x.id = lead_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'lead % does not exist in this organization', lead_id USING ERRCODE = 'no_data_found';
	END IF;
	IF l.status = 'converted' THEN
		RAISE EXCEPTION 'lead % is already converted', lead_id
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = format('It was converted at %s into account %s, contact %s%s.', l.converted_at,
								  coalesce(l.converted_account_id::text, 'none'), coalesce(l.converted_contact_id::text, 'none'),
								  coalesce(', opportunity ' || l.converted_opportunity_id, '')),
				  HINT = 'Work with the records it was converted into.';
	END IF;
	IF l.status = 'unqualified' THEN
		RAISE EXCEPTION 'lead % is disqualified and cannot be converted', lead_id
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = coalesce('Reason: ' || l.disqualification_reason || '.', 'No reason was recorded.'),
				  HINT = 'Requalify it first: UPDATE crm.lead SET status = ''qualified'' WHERE id = ''…''.';
	END IF;
	IF l.deleted_at IS NOT NULL THEN
		RAISE EXCEPTION 'lead % is deleted and cannot be converted', lead_id
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Restore it first: UPDATE crm.lead SET deleted_at = NULL WHERE id = ''…''.';
	END IF;

	-- The records named by the caller must be live records of this tenant.
	IF con IS NOT NULL THEN
		SELECT * INTO c FROM crm.contact x WHERE x.organization_id = org AND x.id = con AND x.deleted_at IS NULL FOR UPDATE;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'contact % does not exist in this organization', con USING ERRCODE = 'no_data_found';
		END IF;
		-- a contact of an account converts into that account unless
		-- another is named
		acc := coalesce(acc, c.account_id);
	END IF;
	IF acc IS NOT NULL THEN
		SELECT * INTO a FROM crm.account x WHERE x.organization_id = org AND x.id = acc AND x.deleted_at IS NULL FOR UPDATE;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'account % does not exist in this organization', acc USING ERRCODE = 'no_data_found';
		END IF;
	END IF;

	-- The account: the one named, else a live one with the lead's domain
	-- (web site, else email), else one with the company's name (case
	-- insensitive), else a new one.  The oldest wins a tie.
	dom := crm._domain_of(l.website, l.email);
	IF acc IS NULL AND dom IS NOT NULL THEN
		SELECT * INTO a FROM crm.account x
		 WHERE x.organization_id = org AND x.domain = dom AND x.deleted_at IS NULL
		 ORDER BY x.created_at, x.id LIMIT 1 FOR UPDATE;
		acc := a.id;
	END IF;
	IF acc IS NULL AND l.company IS NOT NULL AND btrim(l.company) <> '' THEN
		SELECT * INTO a FROM crm.account x
		 WHERE x.organization_id = org AND lower(x.name) = lower(btrim(l.company)) AND x.deleted_at IS NULL
		 ORDER BY x.created_at, x.id LIMIT 1 FOR UPDATE;
		acc := a.id;
	END IF;
	IF acc IS NULL THEN
		INSERT INTO crm.account AS x (organization_id, name, website, domain, industry, employee_count, owner_id)
		VALUES (org, coalesce(nullif(btrim(l.company), ''), concat_ws(' ', l.first_name, l.last_name)), l.website,
				-- a domain only from the lead's own web site (an email domain
				-- may be a mail provider's)
				CASE WHEN l.website IS NOT NULL THEN crm._domain_of(l.website, NULL) END,
				l.industry, l.employee_count, l.owner_id)
		RETURNING x.id INTO acc;
		new_account := true;
	ELSE
		-- fill only what the account leaves empty
		UPDATE crm.account x
		   SET website = coalesce(x.website, l.website),
			   domain = coalesce(x.domain, CASE WHEN l.website IS NOT NULL THEN crm._domain_of(l.website, NULL) END),
			   industry = coalesce(x.industry, l.industry),
			   employee_count = coalesce(x.employee_count, l.employee_count),
			   owner_id = coalesce(x.owner_id, l.owner_id)
		 WHERE x.organization_id = org AND x.id = acc
		   AND (x.website IS NULL AND l.website IS NOT NULL
				OR x.domain IS NULL AND crm._domain_of(l.website, NULL) IS NOT NULL
				OR x.industry IS NULL AND l.industry IS NOT NULL
				OR x.employee_count IS NULL AND l.employee_count IS NOT NULL
				OR x.owner_id IS NULL AND l.owner_id IS NOT NULL);
	END IF;

	-- The contact: the one named, else a live one with the lead's email,
	-- else a new one.
	IF con IS NULL AND l.email IS NOT NULL THEN
		SELECT * INTO c FROM crm.contact x
		 WHERE x.organization_id = org AND x.email = l.email AND x.deleted_at IS NULL
		 ORDER BY x.created_at, x.id LIMIT 1 FOR UPDATE;
		con := c.id;
	END IF;
	IF con IS NULL THEN
		INSERT INTO crm.contact AS x (organization_id, account_id, first_name, last_name, email, phone, title,
									  lead_source, description, owner_id)
		VALUES (org, acc, l.first_name, l.last_name, l.email, l.phone, l.title, l.lead_source, l.description, l.owner_id)
		RETURNING x.id INTO con;
		new_contact := true;
	ELSE
		UPDATE crm.contact x
		   SET account_id = coalesce(x.account_id, acc),
			   first_name = coalesce(x.first_name, l.first_name),
			   email = coalesce(x.email, l.email),
			   phone = coalesce(x.phone, l.phone),
			   title = coalesce(x.title, l.title),
			   lead_source = coalesce(x.lead_source, l.lead_source),
			   description = coalesce(x.description, l.description),
			   owner_id = coalesce(x.owner_id, l.owner_id)
		 WHERE x.organization_id = org AND x.id = con
		   AND (x.account_id IS NULL
				OR x.first_name IS NULL AND l.first_name IS NOT NULL
				OR x.email IS NULL AND l.email IS NOT NULL
				OR x.phone IS NULL AND l.phone IS NOT NULL
				OR x.title IS NULL AND l.title IS NOT NULL
				OR x.lead_source IS NULL AND l.lead_source IS NOT NULL
				OR x.description IS NULL AND l.description IS NOT NULL
				OR x.owner_id IS NULL AND l.owner_id IS NOT NULL);
	END IF;

	-- The opportunity, in the default pipeline (its first stage, the
	-- organization's currency: crm.trg_opportunity_stage).
	IF create_opportunity THEN
		SELECT p.id INTO pipe FROM crm.pipeline p WHERE p.organization_id = org AND p.is_default;
		IF pipe IS NULL THEN
			RAISE EXCEPTION 'the organization has no default pipeline for the new opportunity'
				USING ERRCODE = 'no_data_found',
					  HINT = 'Make a pipeline the default (UPDATE crm.pipeline SET is_default = (id = ''…'')), or pass create_opportunity => false.';
		END IF;
		-- (the name computed first: no subquery inside COALESCE, see
		-- ARCHITECTURE section 9)
		SELECT y.name INTO oname FROM crm.account y WHERE y.organization_id = org AND y.id = acc;
		oname := coalesce(btrim(opportunity_name), oname);
		INSERT INTO crm.opportunity AS x (organization_id, name, account_id, contact_id, pipeline_id, lead_source,
										  owner_id, type)
		VALUES (org, oname, acc, con, pipe, l.lead_source, l.owner_id, 'new_business')
		RETURNING x.id INTO opp;
		INSERT INTO crm.opportunity_contact (organization_id, opportunity_id, contact_id, role, is_primary)
		VALUES (org, opp, con, 'other', true);
	END IF;

	-- The lead's activities, notes and attachments move to the new records.
	UPDATE crm.activity x
	   SET lead_id = NULL,
		   contact_id = coalesce(x.contact_id, con),
		   account_id = coalesce(x.account_id, acc),
		   opportunity_id = coalesce(x.opportunity_id, opp)
	 WHERE x.organization_id = org AND x.lead_id = convert_lead.lead_id;
	UPDATE crm.note x
	   SET lead_id = NULL,
		   contact_id = coalesce(x.contact_id, con)
	 WHERE x.organization_id = org AND x.lead_id = convert_lead.lead_id;
	UPDATE crm.attachment x
	   SET lead_id = NULL,
		   contact_id = coalesce(x.contact_id, con)
	 WHERE x.organization_id = org AND x.lead_id = convert_lead.lead_id;

	UPDATE crm.lead x
	   SET status = 'converted', converted_at = pg_catalog.now(),
		   converted_account_id = acc, converted_contact_id = con, converted_opportunity_id = opp
	 WHERE x.organization_id = org AND x.id = convert_lead.lead_id;

	PERFORM crm.emit('lead.converted', 'lead', convert_lead.lead_id,
					 jsonb_build_object('account_id', acc, 'contact_id', con, 'opportunity_id', opp,
										'account_created', new_account, 'contact_created', new_contact),
					 org);
	RETURN QUERY SELECT acc, con, opp, new_account, new_contact;
END;
$$;
COMMENT ON FUNCTION crm.convert_lead(uuid, uuid, uuid, boolean, text) IS
	'Converts a lead in one transaction: finds the account (the one given, else by domain, else by company name) or creates it, finds the contact (the one given, else by email) or creates it, fills only empty fields of existing records, optionally creates an opportunity in the default pipeline (primary contact set), moves the lead''s activities, notes and attachments, marks the lead converted and emits lead.converted. Refuses converted, disqualified and deleted leads.';
