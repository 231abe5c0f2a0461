-- ============================================================================
-- 10 people: CRM users, teams, territories
-- ============================================================================

CREATE TABLE crm.app_user (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	name		text NOT NULL,
	email		crm.email NOT NULL,
	title		text,
	timezone	text NOT NULL DEFAULT 'UTC',
	is_active	boolean NOT NULL DEFAULT true,
	db_role		name,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	deleted_at	timestamptz,
	CONSTRAINT app_user_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT app_user_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT app_user_name_not_blank CHECK (pg_catalog.btrim(name) <> ''),
	CONSTRAINT app_user_timezone_valid CHECK (crm.is_valid_timezone(timezone))
);
CREATE UNIQUE INDEX app_user_email_key ON crm.app_user (organization_id, email) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX app_user_db_role_key ON crm.app_user (organization_id, db_role) WHERE deleted_at IS NULL AND db_role IS NOT NULL;
COMMENT ON TABLE crm.app_user IS 'A CRM user of an organization (a salesperson, an agent): owner of records, actor in the audit log.';
COMMENT ON COLUMN crm.app_user.name IS 'Full name.';
COMMENT ON COLUMN crm.app_user.email IS 'Work email; unique per organization among users not deleted (case-insensitive).';
COMMENT ON COLUMN crm.app_user.title IS 'Job title.';
COMMENT ON COLUMN crm.app_user.timezone IS 'IANA time zone the user works in.';
COMMENT ON COLUMN crm.app_user.is_active IS 'False for a user who can no longer work in the CRM (keeps ownership history).';
COMMENT ON COLUMN crm.app_user.db_role IS 'Optional database role this user logs in as.';
SELECT crm._setup_tenant_table('crm.app_user', label => 'user');

CREATE TABLE crm.team (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	name		text NOT NULL,
	description	text,
	manager_id	uuid,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	deleted_at	timestamptz,
	CONSTRAINT team_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT team_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT team_manager_fkey FOREIGN KEY (organization_id, manager_id) REFERENCES crm.app_user (organization_id, id),
	CONSTRAINT team_name_not_blank CHECK (pg_catalog.btrim(name) <> '')
);
CREATE UNIQUE INDEX team_name_key ON crm.team (organization_id, lower(name)) WHERE deleted_at IS NULL;
COMMENT ON TABLE crm.team IS 'A group of users (sales team, support queue).';
COMMENT ON COLUMN crm.team.name IS 'Team name, unique per organization among teams not deleted.';
COMMENT ON COLUMN crm.team.description IS 'What the team does.';
COMMENT ON COLUMN crm.team.manager_id IS 'The crm.app_user who manages the team.';
SELECT crm._setup_tenant_table('crm.team');

CREATE TABLE crm.team_member (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	team_id		uuid NOT NULL,
	user_id		uuid NOT NULL,
	role		text NOT NULL DEFAULT 'member',
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT team_member_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT team_member_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT team_member_team_fkey FOREIGN KEY (organization_id, team_id) REFERENCES crm.team (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT team_member_user_fkey FOREIGN KEY (organization_id, user_id) REFERENCES crm.app_user (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT team_member_unique UNIQUE (organization_id, team_id, user_id)
);
CREATE INDEX team_member_user_idx ON crm.team_member (organization_id, user_id);
COMMENT ON TABLE crm.team_member IS 'Membership of a user in a team.';
COMMENT ON COLUMN crm.team_member.team_id IS 'The crm.team.';
COMMENT ON COLUMN crm.team_member.user_id IS 'The crm.app_user.';
COMMENT ON COLUMN crm.team_member.role IS 'Role in the team, from the organization''s picklist team_role (default: member, lead, manager).';
SELECT crm._setup_tenant_table('crm.team_member', label => 'team member');

CREATE TABLE crm.territory (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	name		text NOT NULL,
	parent_territory_id uuid,
	description	text,
	owner_id	uuid,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	deleted_at	timestamptz,
	CONSTRAINT territory_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT territory_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT territory_parent_fkey FOREIGN KEY (organization_id, parent_territory_id) REFERENCES crm.territory (organization_id, id),
	CONSTRAINT territory_owner_fkey FOREIGN KEY (organization_id, owner_id) REFERENCES crm.app_user (organization_id, id),
	CONSTRAINT territory_not_own_parent CHECK (parent_territory_id IS DISTINCT FROM id),
	CONSTRAINT territory_name_not_blank CHECK (pg_catalog.btrim(name) <> '')
);
CREATE INDEX territory_parent_idx ON crm.territory (organization_id, parent_territory_id) WHERE parent_territory_id IS NOT NULL;
COMMENT ON TABLE crm.territory IS 'A sales territory; territories form a hierarchy (no cycles).';
COMMENT ON COLUMN crm.territory.name IS 'Territory name.';
COMMENT ON COLUMN crm.territory.parent_territory_id IS 'The enclosing territory, if any.';
COMMENT ON COLUMN crm.territory.description IS 'Description of the territory.';
SELECT crm._setup_tenant_table('crm.territory');
