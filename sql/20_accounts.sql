-- ============================================================================
-- 20 accounts and contacts
-- ============================================================================

CREATE TABLE crm.account (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	name		text NOT NULL,
	parent_account_id uuid,
	type		text NOT NULL DEFAULT 'prospect',
	status		text NOT NULL DEFAULT 'active',
	rating		text,
	industry	text,
	employee_count integer,
	annual_revenue numeric(18,2),
	currency	char(3),
	website		text,
	domain		text,
	phone		crm.phone,
	billing_address jsonb,
	shipping_address jsonb,
	description	text,
	owner_id	uuid,
	territory_id uuid,
	tags		text[] NOT NULL DEFAULT '{}',
	custom_fields jsonb NOT NULL DEFAULT '{}',
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	deleted_at	timestamptz,
	search_vector tsvector GENERATED ALWAYS AS (
		setweight(to_tsvector('simple'::regconfig, crm.search_fold(coalesce(name, ''))), 'A') ||
		setweight(to_tsvector('simple'::regconfig, coalesce(domain, '') || ' ' || coalesce(website, '')), 'B') ||
		setweight(to_tsvector('simple'::regconfig, crm.search_fold(coalesce(industry, '')) || ' ' || coalesce(crm.search_phone_terms(phone), '')), 'C')
	) STORED,
	CONSTRAINT account_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT account_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT account_parent_fkey FOREIGN KEY (organization_id, parent_account_id) REFERENCES crm.account (organization_id, id),
	CONSTRAINT account_owner_fkey FOREIGN KEY (organization_id, owner_id) REFERENCES crm.app_user (organization_id, id),
	CONSTRAINT account_territory_fkey FOREIGN KEY (organization_id, territory_id) REFERENCES crm.territory (organization_id, id),
	CONSTRAINT account_not_own_parent CHECK (parent_account_id IS DISTINCT FROM id),
	CONSTRAINT account_name_not_blank CHECK (pg_catalog.btrim(name) <> ''),
	CONSTRAINT account_status_valid CHECK (status IN ('active', 'inactive', 'churned')),
	CONSTRAINT account_employee_count_nonnegative CHECK (employee_count >= 0),
	CONSTRAINT account_annual_revenue_nonnegative CHECK (annual_revenue >= 0),
	CONSTRAINT account_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
	CONSTRAINT account_domain_format CHECK (domain ~ '^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$'),
	CONSTRAINT account_billing_address_object CHECK (jsonb_typeof(billing_address) = 'object'),
	CONSTRAINT account_shipping_address_object CHECK (jsonb_typeof(shipping_address) = 'object'),
	CONSTRAINT account_custom_fields_object CHECK (jsonb_typeof(custom_fields) = 'object')
);
CREATE INDEX account_owner_idx ON crm.account (organization_id, owner_id, created_at DESC) WHERE deleted_at IS NULL;
CREATE INDEX account_parent_idx ON crm.account (organization_id, parent_account_id) WHERE parent_account_id IS NOT NULL;
CREATE INDEX account_territory_idx ON crm.account (organization_id, territory_id) WHERE territory_id IS NOT NULL;
CREATE INDEX account_domain_idx ON crm.account (organization_id, domain) WHERE domain IS NOT NULL;
CREATE INDEX account_name_idx ON crm.account (organization_id, lower(name) text_pattern_ops) WHERE deleted_at IS NULL;
CREATE INDEX account_custom_fields_idx ON crm.account USING gin (custom_fields);
COMMENT ON TABLE crm.account IS 'A company or organisation the tenant does business with; accounts form a hierarchy (parent account).';
COMMENT ON COLUMN crm.account.name IS 'Account name.';
COMMENT ON COLUMN crm.account.parent_account_id IS 'The parent account (group, holding), if any; never a cycle.';
COMMENT ON COLUMN crm.account.type IS 'Account type, from the organization''s picklist account_type (default: prospect, customer, partner, competitor, other).';
COMMENT ON COLUMN crm.account.status IS 'active, inactive or churned.';
COMMENT ON COLUMN crm.account.rating IS 'Rating, from the organization''s picklist account_rating (default: hot, warm, cold).';
COMMENT ON COLUMN crm.account.industry IS 'Industry, from the organization''s picklist industry.';
COMMENT ON COLUMN crm.account.employee_count IS 'Number of employees.';
COMMENT ON COLUMN crm.account.annual_revenue IS 'Annual revenue in currency.';
COMMENT ON COLUMN crm.account.currency IS 'ISO 4217 code of annual_revenue (the organization default when NULL).';
COMMENT ON COLUMN crm.account.website IS 'Web site URL.';
COMMENT ON COLUMN crm.account.domain IS 'Internet domain, lower case (example.com): matches contacts'' email domains.';
COMMENT ON COLUMN crm.account.phone IS 'Main phone number (crm.phone: E.164).';
COMMENT ON COLUMN crm.account.billing_address IS 'Billing address (JSON object: street, city, region, postal_code, country).';
COMMENT ON COLUMN crm.account.shipping_address IS 'Shipping address (JSON object, same keys as billing_address).';
COMMENT ON COLUMN crm.account.description IS 'Free description.';
COMMENT ON COLUMN crm.account.territory_id IS 'The crm.territory the account belongs to.';
SELECT crm._setup_tenant_table('crm.account');
CREATE TRIGGER crm_15_no_cycle BEFORE INSERT OR UPDATE OF parent_account_id ON crm.account
	FOR EACH ROW EXECUTE FUNCTION crm.trg_no_cycle('account', 'parent_account_id');
CREATE TRIGGER crm_15_no_cycle BEFORE INSERT OR UPDATE OF parent_territory_id ON crm.territory
	FOR EACH ROW EXECUTE FUNCTION crm.trg_no_cycle('territory', 'parent_territory_id');

CREATE TABLE crm.contact (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	account_id	uuid,
	first_name	text,
	last_name	text NOT NULL,
	email		crm.email,
	phone		crm.phone,
	mobile		crm.phone,
	title		text,
	department	text,
	lead_source	text,
	preferred_contact_method text,
	timezone	text,
	locale		text,
	birthday	date,
	social_profiles jsonb NOT NULL DEFAULT '{}',
	do_not_email boolean NOT NULL DEFAULT false,
	do_not_call	boolean NOT NULL DEFAULT false,
	unsubscribed_at timestamptz,
	mailing_address jsonb,
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
		setweight(to_tsvector('simple'::regconfig, crm.search_fold(coalesce(title, '') || ' ' || coalesce(department, ''))), 'C') ||
		setweight(to_tsvector('simple'::regconfig, coalesce(crm.search_phone_terms(phone), '') || ' ' || coalesce(crm.search_phone_terms(mobile), '')), 'B')
	) STORED,
	CONSTRAINT contact_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT contact_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT contact_account_fkey FOREIGN KEY (organization_id, account_id) REFERENCES crm.account (organization_id, id),
	CONSTRAINT contact_owner_fkey FOREIGN KEY (organization_id, owner_id) REFERENCES crm.app_user (organization_id, id),
	CONSTRAINT contact_last_name_not_blank CHECK (pg_catalog.btrim(last_name) <> ''),
	CONSTRAINT contact_timezone_valid CHECK (crm.is_valid_timezone(timezone)),
	CONSTRAINT contact_locale_format CHECK (locale ~ '^[a-z]{2,3}([_-][A-Za-z0-9]{2,8})*$'),
	CONSTRAINT contact_birthday_past CHECK (birthday > DATE '1900-01-01'),
	CONSTRAINT contact_social_profiles_object CHECK (jsonb_typeof(social_profiles) = 'object'),
	CONSTRAINT contact_mailing_address_object CHECK (jsonb_typeof(mailing_address) = 'object'),
	CONSTRAINT contact_custom_fields_object CHECK (jsonb_typeof(custom_fields) = 'object')
);
CREATE INDEX contact_owner_idx ON crm.contact (organization_id, owner_id, created_at DESC) WHERE deleted_at IS NULL;
CREATE INDEX contact_account_idx ON crm.contact (organization_id, account_id) WHERE account_id IS NOT NULL;
CREATE INDEX contact_email_idx ON crm.contact (organization_id, email) WHERE email IS NOT NULL;
CREATE INDEX contact_email_domain_idx ON crm.contact (organization_id, crm.email_domain(email)) WHERE email IS NOT NULL;
CREATE INDEX contact_phone_idx ON crm.contact (organization_id, phone) WHERE phone IS NOT NULL;
CREATE INDEX contact_mobile_idx ON crm.contact (organization_id, mobile) WHERE mobile IS NOT NULL;
CREATE INDEX contact_name_idx ON crm.contact (organization_id, lower(last_name) text_pattern_ops, lower(first_name)) WHERE deleted_at IS NULL;
CREATE INDEX contact_recent_idx ON crm.contact (organization_id, created_at DESC) WHERE deleted_at IS NULL;
CREATE INDEX contact_custom_fields_idx ON crm.contact USING gin (custom_fields);
COMMENT ON TABLE crm.contact IS 'A person the tenant deals with, usually at an account.';
COMMENT ON COLUMN crm.contact.account_id IS 'The crm.account the person works for, if any.';
COMMENT ON COLUMN crm.contact.first_name IS 'Given name.';
COMMENT ON COLUMN crm.contact.last_name IS 'Family name (required).';
COMMENT ON COLUMN crm.contact.email IS 'Email address (crm.email: validated, compared case-insensitively).';
COMMENT ON COLUMN crm.contact.phone IS 'Phone number (crm.phone: E.164).';
COMMENT ON COLUMN crm.contact.mobile IS 'Mobile phone number (crm.phone: E.164).';
COMMENT ON COLUMN crm.contact.title IS 'Job title.';
COMMENT ON COLUMN crm.contact.department IS 'Department.';
COMMENT ON COLUMN crm.contact.lead_source IS 'Where the contact came from, from the organization''s picklist lead_source (web, referral, event, ...).';
COMMENT ON COLUMN crm.contact.preferred_contact_method IS 'How the person prefers to be contacted, from the organization''s picklist contact_method (default: email, phone, mobile, sms, mail, none).';
COMMENT ON COLUMN crm.contact.timezone IS 'IANA time zone of the person.';
COMMENT ON COLUMN crm.contact.locale IS 'Language/locale tag (en, de_DE, pt-BR).';
COMMENT ON COLUMN crm.contact.birthday IS 'Date of birth.';
COMMENT ON COLUMN crm.contact.social_profiles IS 'Social profiles as a JSON object (linkedin, x, github, ... -> URL or handle).';
COMMENT ON COLUMN crm.contact.do_not_email IS 'Consent: never send marketing email.';
COMMENT ON COLUMN crm.contact.do_not_call IS 'Consent: never call.';
COMMENT ON COLUMN crm.contact.unsubscribed_at IS 'When the person unsubscribed from marketing, if they did.';
COMMENT ON COLUMN crm.contact.mailing_address IS 'Postal address (JSON object: street, city, region, postal_code, country).';
COMMENT ON COLUMN crm.contact.description IS 'Free description.';
SELECT crm._setup_tenant_table('crm.contact');
