-- ============================================================================
-- 40 activities, notes, attachments
-- ============================================================================

CREATE TABLE crm.activity (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	type		text NOT NULL,
	subject		text NOT NULL,
	body		text,
	status		text NOT NULL DEFAULT 'planned',
	priority	text NOT NULL DEFAULT 'normal',
	activity_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	due_at		timestamptz,
	completed_at timestamptz,
	duration_minutes integer,
	direction	text,
	outcome		text,
	account_id	uuid,
	contact_id	uuid,
	lead_id		uuid,
	opportunity_id uuid,
	owner_id	uuid,
	assignee_id	uuid,
	tags		text[] NOT NULL DEFAULT '{}',
	custom_fields jsonb NOT NULL DEFAULT '{}',
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	deleted_at	timestamptz,
	-- subject, and the first 20,000 characters of the body (a tsvector has
	-- a size limit, and a search hit needs no more)
	search_vector tsvector GENERATED ALWAYS AS (
		setweight(to_tsvector('simple'::regconfig, crm.search_fold(subject)), 'A') ||
		setweight(to_tsvector('simple'::regconfig, crm.search_fold(left(coalesce(body, ''), 20000))), 'C')
	) STORED,
	CONSTRAINT activity_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT activity_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT activity_account_fkey FOREIGN KEY (organization_id, account_id) REFERENCES crm.account (organization_id, id),
	CONSTRAINT activity_contact_fkey FOREIGN KEY (organization_id, contact_id) REFERENCES crm.contact (organization_id, id),
	CONSTRAINT activity_lead_fkey FOREIGN KEY (organization_id, lead_id) REFERENCES crm.lead (organization_id, id),
	CONSTRAINT activity_opportunity_fkey FOREIGN KEY (organization_id, opportunity_id) REFERENCES crm.opportunity (organization_id, id),
	CONSTRAINT activity_owner_fkey FOREIGN KEY (organization_id, owner_id) REFERENCES crm.app_user (organization_id, id),
	CONSTRAINT activity_assignee_fkey FOREIGN KEY (organization_id, assignee_id) REFERENCES crm.app_user (organization_id, id),
	CONSTRAINT activity_type_valid CHECK (type IN ('call', 'email', 'meeting', 'task', 'note', 'sms')),
	CONSTRAINT activity_subject_not_blank CHECK (pg_catalog.btrim(subject) <> ''),
	CONSTRAINT activity_status_valid CHECK (status IN ('planned', 'in_progress', 'completed', 'cancelled')),
	CONSTRAINT activity_priority_valid CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
	CONSTRAINT activity_direction_valid CHECK (direction IN ('inbound', 'outbound')),
	CONSTRAINT activity_duration_nonnegative CHECK (duration_minutes >= 0),
	CONSTRAINT activity_custom_fields_object CHECK (jsonb_typeof(custom_fields) = 'object')
);
CREATE INDEX activity_contact_timeline_idx ON crm.activity (organization_id, contact_id, activity_at DESC) WHERE contact_id IS NOT NULL;
CREATE INDEX activity_account_timeline_idx ON crm.activity (organization_id, account_id, activity_at DESC) WHERE account_id IS NOT NULL;
CREATE INDEX activity_lead_timeline_idx ON crm.activity (organization_id, lead_id, activity_at DESC) WHERE lead_id IS NOT NULL;
CREATE INDEX activity_opportunity_timeline_idx ON crm.activity (organization_id, opportunity_id, activity_at DESC) WHERE opportunity_id IS NOT NULL;
CREATE INDEX activity_owner_idx ON crm.activity (organization_id, owner_id, activity_at DESC) WHERE deleted_at IS NULL;
CREATE INDEX activity_open_due_idx ON crm.activity (organization_id, assignee_id, due_at)
	WHERE status IN ('planned', 'in_progress') AND deleted_at IS NULL;
COMMENT ON TABLE crm.activity IS 'Something done or to do with a customer: call, email, meeting, task, note or SMS; the 360-degree timeline.';
COMMENT ON COLUMN crm.activity.type IS 'call, email, meeting, task, note or sms.';
COMMENT ON COLUMN crm.activity.subject IS 'One-line summary.';
COMMENT ON COLUMN crm.activity.body IS 'Full text (email body, call notes).';
COMMENT ON COLUMN crm.activity.status IS 'planned, in_progress, completed or cancelled.';
COMMENT ON COLUMN crm.activity.priority IS 'low, normal, high or urgent.';
COMMENT ON COLUMN crm.activity.activity_at IS 'When it happened or is planned: the timeline sort key.';
COMMENT ON COLUMN crm.activity.due_at IS 'Deadline of a task.';
COMMENT ON COLUMN crm.activity.completed_at IS 'When it was completed.';
COMMENT ON COLUMN crm.activity.duration_minutes IS 'Length of a call or meeting.';
COMMENT ON COLUMN crm.activity.direction IS 'inbound or outbound (calls, emails, sms).';
COMMENT ON COLUMN crm.activity.outcome IS 'Result, from the organization''s picklist activity_outcome (connected, left voicemail, no answer, ...).';
COMMENT ON COLUMN crm.activity.account_id IS 'Related crm.account.';
COMMENT ON COLUMN crm.activity.contact_id IS 'Related crm.contact.';
COMMENT ON COLUMN crm.activity.lead_id IS 'Related crm.lead.';
COMMENT ON COLUMN crm.activity.opportunity_id IS 'Related crm.opportunity.';
COMMENT ON COLUMN crm.activity.assignee_id IS 'The crm.app_user who is to do it.';
SELECT crm._setup_tenant_table('crm.activity');

CREATE TABLE crm.note (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	body		text NOT NULL,
	is_pinned	boolean NOT NULL DEFAULT false,
	account_id	uuid,
	contact_id	uuid,
	lead_id		uuid,
	activity_id	uuid,
	opportunity_id uuid,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	deleted_at	timestamptz,
	search_vector tsvector GENERATED ALWAYS AS (
		to_tsvector('simple'::regconfig, crm.search_fold(left(body, 20000)))
	) STORED,
	CONSTRAINT note_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT note_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT note_account_fkey FOREIGN KEY (organization_id, account_id) REFERENCES crm.account (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT note_contact_fkey FOREIGN KEY (organization_id, contact_id) REFERENCES crm.contact (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT note_lead_fkey FOREIGN KEY (organization_id, lead_id) REFERENCES crm.lead (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT note_activity_fkey FOREIGN KEY (organization_id, activity_id) REFERENCES crm.activity (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT note_opportunity_fkey FOREIGN KEY (organization_id, opportunity_id) REFERENCES crm.opportunity (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT note_body_not_blank CHECK (pg_catalog.btrim(body) <> ''),
	CONSTRAINT note_has_parent CHECK (num_nonnulls(account_id, contact_id, lead_id, activity_id, opportunity_id) >= 1)
);
CREATE INDEX note_account_idx ON crm.note (organization_id, account_id, created_at DESC) WHERE account_id IS NOT NULL;
CREATE INDEX note_contact_idx ON crm.note (organization_id, contact_id, created_at DESC) WHERE contact_id IS NOT NULL;
CREATE INDEX note_lead_idx ON crm.note (organization_id, lead_id, created_at DESC) WHERE lead_id IS NOT NULL;
CREATE INDEX note_activity_idx ON crm.note (organization_id, activity_id) WHERE activity_id IS NOT NULL;
CREATE INDEX note_opportunity_idx ON crm.note (organization_id, opportunity_id, created_at DESC) WHERE opportunity_id IS NOT NULL;
COMMENT ON TABLE crm.note IS 'A free-text note on an account, contact, lead, opportunity or activity.';
COMMENT ON COLUMN crm.note.body IS 'The note text.';
COMMENT ON COLUMN crm.note.is_pinned IS 'Shown at the top of the record.';
COMMENT ON COLUMN crm.note.account_id IS 'The account the note is on.';
COMMENT ON COLUMN crm.note.contact_id IS 'The contact the note is on.';
COMMENT ON COLUMN crm.note.lead_id IS 'The lead the note is on.';
COMMENT ON COLUMN crm.note.activity_id IS 'The activity the note is on.';
COMMENT ON COLUMN crm.note.opportunity_id IS 'The opportunity the note is on.';
SELECT crm._setup_tenant_table('crm.note');

CREATE TABLE crm.attachment (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	file_name	text NOT NULL,
	content_type text NOT NULL DEFAULT 'application/octet-stream',
	size_bytes	bigint NOT NULL,
	storage_key	text NOT NULL,
	sha256		text,
	account_id	uuid,
	contact_id	uuid,
	lead_id		uuid,
	activity_id	uuid,
	note_id		uuid,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	deleted_at	timestamptz,
	CONSTRAINT attachment_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT attachment_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT attachment_account_fkey FOREIGN KEY (organization_id, account_id) REFERENCES crm.account (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT attachment_contact_fkey FOREIGN KEY (organization_id, contact_id) REFERENCES crm.contact (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT attachment_lead_fkey FOREIGN KEY (organization_id, lead_id) REFERENCES crm.lead (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT attachment_activity_fkey FOREIGN KEY (organization_id, activity_id) REFERENCES crm.activity (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT attachment_note_fkey FOREIGN KEY (organization_id, note_id) REFERENCES crm.note (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT attachment_file_name_not_blank CHECK (pg_catalog.btrim(file_name) <> ''),
	CONSTRAINT attachment_content_type_format CHECK (content_type ~ '^[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+(;.*)?$'),
	CONSTRAINT attachment_size_nonnegative CHECK (size_bytes >= 0),
	CONSTRAINT attachment_sha256_format CHECK (sha256 ~ '^[0-9a-f]{64}$'),
	CONSTRAINT attachment_has_parent CHECK (num_nonnulls(account_id, contact_id, lead_id, activity_id, note_id) >= 1)
);
CREATE INDEX attachment_account_idx ON crm.attachment (organization_id, account_id) WHERE account_id IS NOT NULL;
CREATE INDEX attachment_contact_idx ON crm.attachment (organization_id, contact_id) WHERE contact_id IS NOT NULL;
CREATE INDEX attachment_lead_idx ON crm.attachment (organization_id, lead_id) WHERE lead_id IS NOT NULL;
CREATE INDEX attachment_activity_idx ON crm.attachment (organization_id, activity_id) WHERE activity_id IS NOT NULL;
CREATE INDEX attachment_note_idx ON crm.attachment (organization_id, note_id) WHERE note_id IS NOT NULL;
COMMENT ON TABLE crm.attachment IS 'Metadata of a file attached to a record; the bytes live in external storage under storage_key.';
COMMENT ON COLUMN crm.attachment.file_name IS 'Original file name.';
COMMENT ON COLUMN crm.attachment.content_type IS 'MIME type (lower case).';
COMMENT ON COLUMN crm.attachment.size_bytes IS 'Size in bytes.';
COMMENT ON COLUMN crm.attachment.storage_key IS 'Where the bytes are (object-store key or URL).';
COMMENT ON COLUMN crm.attachment.sha256 IS 'SHA-256 of the content, lower-case hex.';
COMMENT ON COLUMN crm.attachment.account_id IS 'The account the file is attached to.';
COMMENT ON COLUMN crm.attachment.contact_id IS 'The contact the file is attached to.';
COMMENT ON COLUMN crm.attachment.lead_id IS 'The lead the file is attached to.';
COMMENT ON COLUMN crm.attachment.activity_id IS 'The activity the file is attached to.';
COMMENT ON COLUMN crm.attachment.note_id IS 'The note the file is attached to.';
SELECT crm._setup_tenant_table('crm.attachment');
