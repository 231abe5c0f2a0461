-- ============================================================================
-- 30 leads
-- ============================================================================

CREATE TABLE crm.lead (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	first_name	text,
	last_name	text NOT NULL,
	email		crm.email,
	phone		crm.phone,
	company		text,
	title		text,
	website		text,
	industry	text,
	employee_count integer,
	lead_source	text,
	status		text NOT NULL DEFAULT 'new',
	priority	text,
	utm_source	text,
	utm_medium	text,
	utm_campaign text,
	utm_term	text,
	utm_content	text,
	converted_at timestamptz,
	converted_account_id uuid,
	converted_contact_id uuid,
	converted_opportunity_id uuid,
	disqualification_reason text,
	description	text,
	owner_id	uuid,
	tags		text[] NOT NULL DEFAULT '{}',
	custom_fields jsonb NOT NULL DEFAULT '{}',
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	deleted_at	timestamptz,
	search_vector tsvector GENERATED ALWAYS AS (
		setweight(to_tsvector('simple'::regconfig, crm.search_fold(coalesce(first_name, '') || ' ' || coalesce(last_name, ''))), 'A') ||
		setweight(to_tsvector('simple'::regconfig, coalesce(email::text, '') || ' ' || coalesce(crm.email_domain(email), '')), 'A') ||
		setweight(to_tsvector('simple'::regconfig, crm.search_fold(coalesce(company, ''))), 'B') ||
		setweight(to_tsvector('simple'::regconfig, crm.search_fold(coalesce(title, '')) || ' ' || coalesce(crm.search_phone_terms(phone), '')), 'C')
	) STORED,
	CONSTRAINT lead_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT lead_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT lead_owner_fkey FOREIGN KEY (organization_id, owner_id) REFERENCES crm.app_user (organization_id, id),
	CONSTRAINT lead_converted_account_fkey FOREIGN KEY (organization_id, converted_account_id) REFERENCES crm.account (organization_id, id),
	CONSTRAINT lead_converted_contact_fkey FOREIGN KEY (organization_id, converted_contact_id) REFERENCES crm.contact (organization_id, id),
	CONSTRAINT lead_last_name_not_blank CHECK (pg_catalog.btrim(last_name) <> ''),
	CONSTRAINT lead_status_valid CHECK (status IN ('new', 'contacted', 'nurturing', 'qualified', 'unqualified', 'converted')),
	CONSTRAINT lead_priority_valid CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
	CONSTRAINT lead_converted_consistent CHECK ((status = 'converted') = (converted_at IS NOT NULL)),
	CONSTRAINT lead_employee_count_nonnegative CHECK (employee_count >= 0),
	CONSTRAINT lead_custom_fields_object CHECK (jsonb_typeof(custom_fields) = 'object')
);
CREATE INDEX lead_owner_idx ON crm.lead (organization_id, owner_id, created_at DESC) WHERE deleted_at IS NULL;
CREATE INDEX lead_status_idx ON crm.lead (organization_id, status, created_at DESC) WHERE deleted_at IS NULL;
CREATE INDEX lead_email_idx ON crm.lead (organization_id, email) WHERE email IS NOT NULL;
CREATE INDEX lead_phone_idx ON crm.lead (organization_id, phone) WHERE phone IS NOT NULL;
CREATE INDEX lead_custom_fields_idx ON crm.lead USING gin (custom_fields);
COMMENT ON TABLE crm.lead IS 'A prospective customer not yet qualified; converted into account, contact and opportunity.';
COMMENT ON COLUMN crm.lead.first_name IS 'Given name.';
COMMENT ON COLUMN crm.lead.last_name IS 'Family name (required).';
COMMENT ON COLUMN crm.lead.email IS 'Email address (crm.email).';
COMMENT ON COLUMN crm.lead.phone IS 'Phone number (crm.phone: E.164).';
COMMENT ON COLUMN crm.lead.company IS 'Company name as given.';
COMMENT ON COLUMN crm.lead.title IS 'Job title.';
COMMENT ON COLUMN crm.lead.website IS 'Company web site.';
COMMENT ON COLUMN crm.lead.industry IS 'Industry, from the organization''s picklist industry.';
COMMENT ON COLUMN crm.lead.employee_count IS 'Company size.';
COMMENT ON COLUMN crm.lead.lead_source IS 'Where the lead came from, from the organization''s picklist lead_source (web, referral, event, ...).';
COMMENT ON COLUMN crm.lead.status IS 'new, contacted, nurturing, qualified, unqualified or converted.';
COMMENT ON COLUMN crm.lead.priority IS 'low, normal, high or urgent; NULL: not set (routing rules may set it, doc/routing.md).';
COMMENT ON COLUMN crm.lead.utm_source IS 'UTM source of the first visit.';
COMMENT ON COLUMN crm.lead.utm_medium IS 'UTM medium.';
COMMENT ON COLUMN crm.lead.utm_campaign IS 'UTM campaign.';
COMMENT ON COLUMN crm.lead.utm_term IS 'UTM term.';
COMMENT ON COLUMN crm.lead.utm_content IS 'UTM content.';
COMMENT ON COLUMN crm.lead.converted_at IS 'When the lead was converted (set exactly when status = converted).';
COMMENT ON COLUMN crm.lead.converted_account_id IS 'The account the lead became.';
COMMENT ON COLUMN crm.lead.converted_contact_id IS 'The contact the lead became.';
COMMENT ON COLUMN crm.lead.converted_opportunity_id IS 'The opportunity created at conversion (foreign key added with opportunities).';
COMMENT ON COLUMN crm.lead.disqualification_reason IS 'Why the lead was marked unqualified.';
COMMENT ON COLUMN crm.lead.description IS 'Free description.';
SELECT crm._setup_tenant_table('crm.lead');
