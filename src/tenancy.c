/*
 * tenancy.c
 *		The tenant and actor of the current transaction: crm.current_org(),
 *		crm.current_user_id(), and the per-role tenant restriction that
 *		crm.grant_access(role, level, organizations) records.
 *
 * crm.current_org() sits in every row-level security policy, so it is on the
 * hottest path there is: for a sequential scan it runs once per row.  The
 * parsed GUC value and the role's allowed organizations are therefore cached
 * for the current transaction; a call that finds the GUC text unchanged does
 * a string comparison and a 16-byte copy.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/stratnum.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "crm.h"
#include "error_hints.h"

#define GUC_TEXT_MAX 64

/* What the current transaction's roles may act as. */
typedef struct AccessCache
{
	bool		valid;
	LocalTransactionId lxid;
	Oid			userid;
	Oid			sessionid;
	bool		restricted;		/* false: any organization */
	int			norgs;
	pg_uuid_t  *orgs;			/* in TopMemoryContext */
} AccessCache;

/* The last crm.organization_id value parsed and accepted. */
typedef struct OrgCache
{
	bool		valid;
	LocalTransactionId lxid;
	Oid			userid;
	Oid			sessionid;
	char		text[GUC_TEXT_MAX];
	pg_uuid_t	org;
} OrgCache;

static AccessCache access_cache;
static OrgCache org_cache;

/* Forget cached access rules (crm.grant_access calls this after a change). */
void
crm_access_cache_reset(void)
{
	access_cache.valid = false;
	org_cache.valid = false;
}

/* Value of one hex digit, or -1. */
static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Parse a uuid in its canonical 8-4-4-4-12 form or as 32 hex digits.
 * Returns false on anything else.
 */
static bool
parse_uuid_text(const char *s, pg_uuid_t *out)
{
	size_t		len = strlen(s);
	int			n = 0;
	size_t		i;

	if (len != 36 && len != 32)
		return false;
	for (i = 0; i < len; i++)
	{
		int			h,
					l;

		if (len == 36 && (i == 8 || i == 13 || i == 18 || i == 23))
		{
			if (s[i] != '-')
				return false;
			continue;
		}
		if (i + 1 >= len)
			return false;
		h = hexval(s[i]);
		l = hexval(s[i + 1]);
		if (h < 0 || l < 0 || n >= UUID_LEN)
			return false;
		out->data[n++] = (unsigned char) ((h << 4) | l);
		i++;
	}
	return n == UUID_LEN;
}

/* Load the organizations the current and session roles are limited to. */
static void
load_access(Oid userid, Oid sessionid)
{
	Oid			relid = crm_relation_oid("role_access");
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	Snapshot	snap;
	MemoryContext old;
	bool		restricted = false;
	pg_uuid_t  *orgs = NULL;
	int			norgs = 0;
	int			nroles_restricted = 0;

	if (access_cache.orgs)
		pfree(access_cache.orgs);
	access_cache.orgs = NULL;
	access_cache.valid = false;

	if (!OidIsValid(relid))
		elog(ERROR, "crm.role_access is missing");

	/*
	 * Read the table directly: the roles asking need no privilege on it, and
	 * it is small.  A limit binds the role it was granted to and every role
	 * that is a member of it, directly or through other roles, with or
	 * without INHERIT (a member can always SET ROLE to it): granting a group
	 * role is how PostgreSQL shares privileges, so it must share the limit
	 * too.  Limits only narrow: a session whose current or session user is
	 * bound by several may act only for organizations all of them allow, and
	 * an unrestricted grant elsewhere does not lift them.
	 */
	rel = table_open(relid, AccessShareLock);

	/*
	 * The running query's snapshot when there is one: it exists in parallel
	 * workers too, where a new snapshot may not be taken (the policy runs
	 * there: crm.current_org() is parallel safe).
	 */
	snap = RegisterSnapshot(ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot());
	scan = table_beginscan(rel, snap, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		bool		isnull;
		Oid			role = DatumGetObjectId(heap_getattr(tup, 1, RelationGetDescr(rel), &isnull));
		Datum		arr;
		ArrayType  *a;
		Datum	   *elems;
		bool	   *nulls;
		int			nelems;
		pg_uuid_t  *mine;
		int			nmine = 0;
		int			i;

		if (isnull || !(is_member_of_role_nosuper(userid, role) ||
						 is_member_of_role_nosuper(sessionid, role)))
			continue;
		arr = heap_getattr(tup, 3, RelationGetDescr(rel), &isnull);
		if (isnull)
			continue;			/* NULL: any organization */

		a = DatumGetArrayTypeP(arr);
		deconstruct_array(a, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR,
						  &elems, &nulls, &nelems);
		mine = palloc(sizeof(pg_uuid_t) * Max(nelems, 1));
		for (i = 0; i < nelems; i++)
			if (!nulls[i])
				memcpy(&mine[nmine++], DatumGetUUIDP(elems[i]), UUID_LEN);

		if (nroles_restricted == 0)
		{
			orgs = mine;
			norgs = nmine;
		}
		else
		{
			/* intersect with what the other role allows */
			int			j,
						k = 0;

			for (i = 0; i < norgs; i++)
				for (j = 0; j < nmine; j++)
					if (memcmp(&orgs[i], &mine[j], UUID_LEN) == 0)
					{
						orgs[k++] = orgs[i];
						break;
					}
			norgs = k;
			pfree(mine);
		}
		nroles_restricted++;
		restricted = true;
	}
	table_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);

	old = MemoryContextSwitchTo(TopMemoryContext);
	access_cache.orgs = palloc(sizeof(pg_uuid_t) * Max(norgs, 1));
	MemoryContextSwitchTo(old);
	if (norgs > 0)
		memcpy(access_cache.orgs, orgs, sizeof(pg_uuid_t) * norgs);
	access_cache.norgs = norgs;
	access_cache.restricted = restricted;
	access_cache.userid = userid;
	access_cache.sessionid = sessionid;
	access_cache.lxid = MyProc->lxid;
	access_cache.valid = true;
}

/* Attribute number of a column of a crm table, checked to be of its type. */
static AttrNumber
table_column(Relation rel, const char *name, Oid typid)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0 && att->atttypid == typid)
			return i + 1;
	}
	elog(ERROR, "%s has no column %s of type %s", RelationGetRelationName(rel), name, format_type_be(typid));
	return 0;
}

/*
 * Whether organization org exists, read through the primary key of
 * crm.organization with the running query's snapshot (no privilege needed;
 * once per transaction).
 */
static bool
organization_exists(const pg_uuid_t *org)
{
	Oid			relid = crm_relation_oid("organization");
	Oid			indexid = crm_relation_oid("organization_pkey");
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key[1];
	Snapshot	snap;
	bool		found;

	if (!OidIsValid(relid) || !OidIsValid(indexid))
		elog(ERROR, "crm.organization or its primary key is missing");
	rel = table_open(relid, AccessShareLock);
	ScanKeyInit(&key[0], table_column(rel, "id", UUIDOID), BTEqualStrategyNumber,
				F_UUID_EQ, UUIDPGetDatum(org));
	snap = RegisterSnapshot(ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot());
	scan = systable_beginscan(rel, indexid, true, snap, 1, key);
	found = systable_getnext(scan) != NULL;
	systable_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * The tenant of the current transaction, from crm.organization_id.
 * Raises a clear error when it is unset, malformed, or an organization the
 * current role may not act for.
 */
pg_uuid_t
crm_current_org_uuid(void)
{
	const char *val = crm_organization_guc;
	Oid			userid = GetUserId();
	Oid			sessionid = GetSessionUserId();
	LocalTransactionId lxid = MyProc->lxid;
	pg_uuid_t	org;
	int			i;

	if (org_cache.valid && org_cache.lxid == lxid &&
		org_cache.userid == userid && org_cache.sessionid == sessionid &&
		val != NULL && strcmp(val, org_cache.text) == 0)
		return org_cache.org;

	if (val == NULL || val[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("crm.organization_id is not set"),
				 errdetail("Every crm table belongs to an organization; the session must say which one it acts for."),
				 errhint("SET crm.organization_id = '<organization uuid>' (or SET LOCAL within a transaction).")));

	if (!parse_uuid_text(val, &org))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid value for crm.organization_id: \"%s\"", val),
				 errdetail("The value must be a uuid, the id of a row of crm.organization.")));

	if (!access_cache.valid || access_cache.lxid != lxid ||
		access_cache.userid != userid || access_cache.sessionid != sessionid)
		load_access(userid, sessionid);

	if (access_cache.restricted)
	{
		bool		ok = false;

		for (i = 0; i < access_cache.norgs && !ok; i++)
			ok = memcmp(&access_cache.orgs[i], &org, UUID_LEN) == 0;
		if (!ok)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("role \"%s\" may not act for organization %s",
							GetUserNameFromId(userid, false), val),
					 errdetail("crm.grant_access() limited this role to other organizations."),
					 errhint("Connect as a role granted for that organization.")));
	}

	if (!organization_exists(&org))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("crm.organization_id %s is not an organization", val),
				 errdetail("No row of crm.organization has this id."),
				 errhint("SET crm.organization_id to the id crm.create_organization() returned (SELECT id, name FROM crm.organization).")));
	crm_error_hints_prepare();

	org_cache.valid = false;
	if (strlen(val) < GUC_TEXT_MAX)
	{
		strlcpy(org_cache.text, val, GUC_TEXT_MAX);
		org_cache.org = org;
		org_cache.lxid = lxid;
		org_cache.userid = userid;
		org_cache.sessionid = sessionid;
		org_cache.valid = true;
	}
	return org;
}

/* The last crm.user_id value validated, for one transaction and tenant. */
typedef struct ActorCache
{
	bool		valid;
	LocalTransactionId lxid;
	char		text[GUC_TEXT_MAX];
	pg_uuid_t	org;
	pg_uuid_t	user;
} ActorCache;

static ActorCache actor_cache;

/*
 * Whether user is an active crm.app_user (is_active, not deleted) of
 * organization org.  Read through the primary key index directly: the
 * check must not depend on the caller's privileges or row-level security,
 * and it runs once per transaction.  The snapshot is the running query's
 * (parallel workers have one; a worker cannot take a new one).
 */
static bool
app_user_is_active(const pg_uuid_t *org, const pg_uuid_t *user)
{
	Oid			relid = crm_relation_oid("app_user");
	Oid			indexid = crm_relation_oid("app_user_pkey");
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key[2];
	HeapTuple	tup;
	Snapshot	snap;
	bool		ok = false;

	if (!OidIsValid(relid) || !OidIsValid(indexid))
		elog(ERROR, "crm.app_user or its primary key is missing");
	rel = table_open(relid, AccessShareLock);
	/* heap attribute numbers: systable_beginscan maps them to the index's */
	ScanKeyInit(&key[0], table_column(rel, "organization_id", UUIDOID), BTEqualStrategyNumber,
				F_UUID_EQ, UUIDPGetDatum(org));
	ScanKeyInit(&key[1], table_column(rel, "id", UUIDOID), BTEqualStrategyNumber,
				F_UUID_EQ, UUIDPGetDatum(user));
	snap = RegisterSnapshot(ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot());
	scan = systable_beginscan(rel, indexid, true, snap, 2, key);
	if ((tup = systable_getnext(scan)) != NULL)
	{
		TupleDesc	desc = RelationGetDescr(rel);
		bool		isnull;
		Datum		active = heap_getattr(tup, table_column(rel, "is_active", BOOLOID), desc, &isnull);

		ok = !isnull && DatumGetBool(active);
		(void) heap_getattr(tup, table_column(rel, "deleted_at", TIMESTAMPTZOID), desc, &isnull);
		ok = ok && isnull;
	}
	systable_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);
	return ok;
}

/*
 * The acting user from crm.user_id: true and *out set when it is set, false
 * when it is unset.  A set value must be the id of an active crm.app_user of
 * the current organization (checked once per transaction and tenant): any
 * other uuid -- another tenant's user, a deactivated or deleted one, a
 * made-up one -- would land in created_by and in the audit log's actor.  In
 * restore mode the value is taken as it is (nothing is stamped then).
 */
bool
crm_acting_user(pg_uuid_t *out)
{
	const char *val = crm_user_guc;
	LocalTransactionId lxid = MyProc->lxid;
	pg_uuid_t	org;

	if (val == NULL || val[0] == '\0')
		return false;
	if (!parse_uuid_text(val, out))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid value for crm.user_id: \"%s\"", val),
				 errdetail("The value must be a uuid, the id of a row of crm.app_user.")));
	if (crm_restoring)
		return true;

	org = crm_current_org_uuid();
	if (actor_cache.valid && actor_cache.lxid == lxid &&
		strcmp(actor_cache.text, val) == 0 &&
		memcmp(&actor_cache.org, &org, UUID_LEN) == 0)
		return true;

	if (!app_user_is_active(&org, out))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("crm.user_id %s is not an active user of organization %s", val,
						crm_organization_guc ? crm_organization_guc : "?"),
				 errdetail("crm.user_id must be the id of a crm.app_user of the current organization that is active and not deleted."),
				 errhint("SET crm.user_id to the acting user's crm.app_user id, or RESET crm.user_id for a system write.")));

	actor_cache.valid = false;
	if (strlen(val) < GUC_TEXT_MAX)
	{
		strlcpy(actor_cache.text, val, GUC_TEXT_MAX);
		actor_cache.org = org;
		actor_cache.user = *out;
		actor_cache.lxid = lxid;
		actor_cache.valid = true;
	}
	return true;
}

PG_FUNCTION_INFO_V1(tenancy_current_org);

/* SQL: crm.current_org() returns uuid */
Datum
tenancy_current_org(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *res = palloc(UUID_LEN);

	*res = crm_current_org_uuid();
	PG_RETURN_UUID_P(res);
}

PG_FUNCTION_INFO_V1(tenancy_current_user_id);

/* SQL: crm.current_user_id() returns uuid; an error when crm.user_id is unset */
Datum
tenancy_current_user_id(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *res = palloc(UUID_LEN);

	if (!crm_acting_user(res))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("crm.user_id is not set"),
				 errhint("SET crm.user_id = '<app_user uuid>' to say who acts.")));
	PG_RETURN_UUID_P(res);
}

PG_FUNCTION_INFO_V1(tenancy_acting_user);

/* SQL: crm.acting_user() returns uuid; NULL when crm.user_id is unset */
Datum
tenancy_acting_user(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *res = palloc(UUID_LEN);

	if (!crm_acting_user(res))
		PG_RETURN_NULL();
	PG_RETURN_UUID_P(res);
}

PG_FUNCTION_INFO_V1(tenancy_reset_access_cache);

/* SQL: crm._reset_access_cache(); called after crm.role_access changes */
Datum
tenancy_reset_access_cache(PG_FUNCTION_ARGS)
{
	crm_access_cache_reset();
	PG_RETURN_VOID();
}
