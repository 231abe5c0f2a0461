/*
 * lists.c
 *		crm.trg_list_membership(entity): dynamic marketing lists kept current
 *		per changed row.  AFTER INSERT OR UPDATE FOR EACH ROW on crm.contact
 *		and crm.lead, AFTER UPDATE on crm.account (for contact lists with
 *		account.* criteria).
 *
 * A changed row is evaluated only against the dynamic lists whose fields
 * the change touches: each list's criteria document is compiled once per
 * backend into a criteria.h handle, which also says which columns it reads
 * (plus deleted_at, the consent columns when the list respects consent,
 * and account_id for account.* fields).  An update that changes none of a
 * list's columns costs that list a few datum comparisons and nothing else;
 * an update that does is evaluated in memory on the old and the new row
 * (no query), and only when the answer differs is membership written.
 * Lists of lists (member_of) are processed in dependency order; a list
 * whose input list changed for this person is re-evaluated, reading the
 * stored membership of the lists it depends on.
 *
 * Joins are an INSERT ... ON CONFLICT re-opening a departed row, departures
 * set removed_at; each that changes a row writes list.joined / list.left to
 * crm.outbox, in the same transaction.  Before writing, the trigger takes a
 * KEY SHARE lock on the list's row; crm.refresh_list takes FOR UPDATE on it
 * before it computes the list's members, so a refresh waits for writers in
 * flight and then sees their rows, and writers that come later see the
 * refresh's rows (READ COMMITTED; doc/marketing.md).
 *
 * The cache of one (tenant, entity)'s lists lives for the backend and is
 * rebuilt after any change of crm.marketing_list (its statement trigger
 * sends a relcache invalidation, as the criteria catalog does) or of the
 * criteria field catalog.  Rows of a tenant other than the session's
 * current one (a superuser's cross-tenant write) are left to the refresh:
 * criteria read the current tenant's field catalog.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "nodes/bitmapset.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/uuid.h"

#include "criteria.h"
#include "crm.h"
#include "trigger_support.h"

#define LISTS_FNAME "crm.trg_list_membership()"
#define LISTS_CACHE_SIZE 8

/* One dynamic list, as the trigger sees it. */
typedef struct ListDef
{
	pg_uuid_t	id;
	int			depth;			/* 0, or 1 + the deepest list it reads */
	bool		respect_consent;
	int			ndeps;
	pg_uuid_t  *deps;			/* the lists it reads (member_of) */
	CrmCriteria *crit;			/* NULL: criteria no longer compile (skipped) */
	Bitmapset  *watch;			/* attnos of the entity's table it reads */
	Bitmapset  *watch_account;	/* attnos of crm.account it reads */
} ListDef;

/* The dynamic lists of one (tenant, entity), in dependency order. */
typedef struct ListSet
{
	bool		used;
	pg_uuid_t	org;
	char		entity[NAMEDATALEN];
	uint64		generation;
	uint64		catalog_generation;
	MemoryContext cxt;
	int			n;
	ListDef    *lists;
	Bitmapset  *watch_account;	/* union over the lists */
} ListSet;

static ListSet list_cache[LISTS_CACHE_SIZE];
static uint64 list_generation = 1;
static bool list_callback_registered = false;
static Oid	list_table_oid = InvalidOid;

/* Kept plans. */
static SPIPlanPtr load_plan = NULL;
static SPIPlanPtr lock_plan = NULL;
static SPIPlanPtr member_plan = NULL;
static SPIPlanPtr leave_plan = NULL;
static SPIPlanPtr join_plans[2] = {NULL, NULL};	/* contact, lead */
static SPIPlanPtr emit_plan = NULL;
static SPIPlanPtr contacts_plan = NULL;

/* Relcache invalidation of crm.marketing_list (or of everything). */
static void
lists_relcache_callback(Datum arg, Oid relid)
{
	(void) arg;
	if (relid == InvalidOid || relid == list_table_oid)
	{
		list_generation++;
		list_table_oid = InvalidOid;
	}
}

/* A kept plan, prepared on first use. */
static SPIPlanPtr
lists_keep(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes)
{
	if (*slot == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		*slot = plan;
	}
	return *slot;
}

/* The attribute numbers of named columns of a descriptor (unknown: none). */
static Bitmapset *
lists_attnos(TupleDesc desc, char **names, int n, Bitmapset *into)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		int			att = SPI_fnumber(desc, names[i]);

		if (att > 0)
			into = bms_add_member(into, att);
	}
	return into;
}

/* Compile a list's criteria; NULL (and a warning) when they no longer compile. */
static CrmCriteria *
lists_prepare_criteria(Jsonb *criteria, const char *entity, const pg_uuid_t *id, MemoryContext cxt)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	CrmCriteria *volatile c = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		c = crm_criteria_prepare(criteria, entity, cxt);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		ereport(WARNING,
				(errmsg("marketing list %s is not kept current: its criteria do not compile: %s",
						DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(id))), edata->message),
				 errhint("Fix the list's criteria (the field catalog changed since they were saved).")));
		c = NULL;
	}
	PG_END_TRY();
	return c;
}

/*
 * The dynamic lists of (org, entity) -- for entity "account", the contact
 * lists -- from the cache or loaded (as the table's owner).
 */
static ListSet *
lists_for(const pg_uuid_t *org, const char *entity, Relation rel, Oid owner)
{
	const char *list_entity = strcmp(entity, "lead") == 0 ? "lead" : "contact";
	uint64		catalog_gen = crm_criteria_catalog_generation();
	ListSet    *s = NULL;
	int			i,
				k,
				pass;
	Oid			argtypes[2] = {UUIDOID, TEXTOID};
	Datum		args[2];
	MemoryContext old;
	SPITupleTable *tt;
	Relation	account = NULL;

	if (!list_callback_registered)
	{
		CacheRegisterRelcacheCallback(lists_relcache_callback, (Datum) 0);
		list_callback_registered = true;
	}
	if (!OidIsValid(list_table_oid))
		list_table_oid = crm_relation_oid("marketing_list");

	for (i = 0; i < LISTS_CACHE_SIZE; i++)
	{
		ListSet    *c = &list_cache[i];

		if (c->used && memcmp(&c->org, org, UUID_LEN) == 0 && strcmp(c->entity, entity) == 0)
		{
			if (c->generation == list_generation && c->catalog_generation == catalog_gen)
				return c;
			MemoryContextDelete(c->cxt);
			c->used = false;
		}
	}
	for (i = 0; i < LISTS_CACHE_SIZE && !s; i++)
		if (!list_cache[i].used)
			s = &list_cache[i];
	if (!s)
	{
		for (i = 0; i < LISTS_CACHE_SIZE; i++)
		{
			MemoryContextDelete(list_cache[i].cxt);
			list_cache[i].used = false;
		}
		s = &list_cache[0];
	}

	memset(s, 0, sizeof(*s));
	s->generation = list_generation;
	s->catalog_generation = catalog_gen;
	s->org = *org;
	/* keyed by the trigger's entity: an account's entry holds account attnos */
	strlcpy(s->entity, entity, sizeof(s->entity));
	s->cxt = AllocSetContextCreate(CurrentMemoryContext, "crm marketing lists", ALLOCSET_SMALL_SIZES);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	args[0] = UUIDPGetDatum(org);
	args[1] = CStringGetTextDatum(list_entity);
	if (crm_spi_execute_as(owner,
						   lists_keep(&load_plan,
									  "SELECT id, criteria, member_of, respect_consent FROM crm.marketing_list"
									  " WHERE organization_id = $1 AND entity = $2 AND kind = 'dynamic' AND deleted_at IS NULL"
									  " ORDER BY id",
									  2, argtypes),
						   args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading crm.marketing_list failed");
	tt = SPI_tuptable;
	if (SPI_gettypeid(tt->tupdesc, 1) != UUIDOID || SPI_gettypeid(tt->tupdesc, 2) != JSONBOID ||
		SPI_gettypeid(tt->tupdesc, 3) != UUIDARRAYOID || SPI_gettypeid(tt->tupdesc, 4) != BOOLOID)
		elog(ERROR, "crm.marketing_list has unexpected column types");
	s->n = (int) tt->numvals;
	s->lists = MemoryContextAllocZero(s->cxt, sizeof(ListDef) * Max(s->n, 1));
	if (strcmp(entity, "account") == 0)
		account = rel;
	for (i = 0; i < s->n; i++)
	{
		ListDef    *l = &s->lists[i];
		HeapTuple	t = tt->vals[i];
		bool		isnull;
		ArrayType  *deps;
		Datum	   *elems;
		bool	   *nulls;
		int			nd;
		const CrmCriteriaReads *r;

		memcpy(&l->id, DatumGetUUIDP(SPI_getbinval(t, tt->tupdesc, 1, &isnull)), UUID_LEN);
		l->respect_consent = DatumGetBool(SPI_getbinval(t, tt->tupdesc, 4, &isnull));
		deps = DatumGetArrayTypeP(SPI_getbinval(t, tt->tupdesc, 3, &isnull));
		deconstruct_array(deps, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR, &elems, &nulls, &nd);
		l->deps = MemoryContextAlloc(s->cxt, sizeof(pg_uuid_t) * Max(nd, 1));
		for (k = 0; k < nd; k++)
			if (!nulls[k])
				memcpy(&l->deps[l->ndeps++], DatumGetUUIDP(elems[k]), UUID_LEN);
		l->crit = lists_prepare_criteria(DatumGetJsonbP(SPI_getbinval(t, tt->tupdesc, 2, &isnull)),
										 list_entity, &l->id, s->cxt);
		if (!l->crit)
			continue;
		r = crm_criteria_reads(l->crit);
		old = MemoryContextSwitchTo(s->cxt);
		if (account)
		{
			/* account.* fields read the account's columns, and whether it is live */
			if (r->naccount > 0)
			{
				l->watch_account = lists_attnos(RelationGetDescr(account), r->account_columns, r->naccount, NULL);
				l->watch_account = bms_add_member(l->watch_account, SPI_fnumber(RelationGetDescr(account), "deleted_at"));
				s->watch_account = bms_union(s->watch_account, l->watch_account);
			}
		}
		else
		{
			char	   *always[3] = {"deleted_at", "do_not_email", "unsubscribed_at"};

			l->watch = lists_attnos(RelationGetDescr(rel), r->columns, r->ncolumns, NULL);
			l->watch = lists_attnos(RelationGetDescr(rel), always, l->respect_consent ? 3 : 1, l->watch);
		}
		MemoryContextSwitchTo(old);
	}
	SPI_finish();

	/* depth: 1 + the deepest list read (the graph has no cycle) */
	for (pass = 0; pass <= s->n; pass++)
	{
		bool		moved = false;

		for (i = 0; i < s->n; i++)
			for (k = 0; k < s->lists[i].ndeps; k++)
			{
				int			j;

				for (j = 0; j < s->n; j++)
					if (memcmp(&s->lists[j].id, &s->lists[i].deps[k], UUID_LEN) == 0 &&
						s->lists[i].depth < s->lists[j].depth + 1)
					{
						s->lists[i].depth = s->lists[j].depth + 1;
						moved = true;
					}
			}
		if (!moved)
			break;
	}
	/* insertion sort by depth, stable */
	for (i = 1; i < s->n; i++)
	{
		ListDef		x = s->lists[i];

		for (k = i; k > 0 && s->lists[k - 1].depth > x.depth; k--)
			s->lists[k] = s->lists[k - 1];
		s->lists[k] = x;
	}
	MemoryContextSetParent(s->cxt, CacheMemoryContext);
	s->used = true;
	return s;
}

/* Is the value of attribute att different in the two rows? */
static bool
lists_att_changed(TupleDesc desc, HeapTuple a, HeapTuple b, int att)
{
	Form_pg_attribute fa = TupleDescAttr(desc, att - 1);
	bool		na,
				nb;
	Datum		da = heap_getattr(a, att, desc, &na);
	Datum		db = heap_getattr(b, att, desc, &nb);

	if (na || nb)
		return na != nb;
	return !datumIsEqual(da, db, fa->attbyval, fa->attlen);
}

/* The columns the trigger reads itself, type-checked. */
typedef struct ListCols
{
	int			id;
	int			deleted_at;
	int			do_not_email;	/* 0 for leads */
	int			unsubscribed_at;
} ListCols;

/* Column "name" of a descriptor, checked to be of type typid; 0 if absent. */
static int
lists_desc_column(TupleDesc desc, const char *name, Oid typid, bool required)
{
	int			att = SPI_fnumber(desc, name);

	if (att <= 0)
	{
		if (required)
			elog(ERROR, "%s: the row has no column \"%s\"", LISTS_FNAME, name);
		return 0;
	}
	if (SPI_gettypeid(desc, att) != typid)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s: column \"%s\" is of type %s, not %s", LISTS_FNAME, name,
						format_type_be(SPI_gettypeid(desc, att)), format_type_be(typid))));
	return att;
}

static void
lists_cols(TupleDesc desc, bool contact, ListCols *c)
{
	c->id = lists_desc_column(desc, "id", UUIDOID, true);
	c->deleted_at = lists_desc_column(desc, "deleted_at", TIMESTAMPTZOID, true);
	c->do_not_email = contact ? lists_desc_column(desc, "do_not_email", BOOLOID, true) : 0;
	c->unsubscribed_at = contact ? lists_desc_column(desc, "unsubscribed_at", TIMESTAMPTZOID, true) : 0;
}

/* Does the row belong in the list, by its own fields (criteria, liveness, consent)? */
static bool
lists_row_matches(ListDef *l, const ListCols *c, HeapTuple row, TupleDesc desc, const pg_uuid_t *org)
{
	bool		isnull;

	(void) heap_getattr(row, c->deleted_at, desc, &isnull);
	if (!isnull)
		return false;
	if (l->respect_consent && c->do_not_email)
	{
		Datum		dne = heap_getattr(row, c->do_not_email, desc, &isnull);

		if (!isnull && DatumGetBool(dne))
			return false;
		(void) heap_getattr(row, c->unsubscribed_at, desc, &isnull);
		if (!isnull)
			return false;
	}
	return crm_criteria_eval_tuple(l->crit, row, desc, org) == CRIT_TRUE;
}

/* Is the person a stored member of list? (connected to SPI) */
static bool
lists_is_member(Oid owner, const pg_uuid_t *org, const pg_uuid_t *list, Datum person)
{
	Oid			argtypes[3] = {UUIDOID, UUIDOID, UUIDOID};
	Datum		args[3] = {UUIDPGetDatum(org), UUIDPGetDatum(list), person};

	if (crm_spi_execute_as(owner,
						   lists_keep(&member_plan,
									  "SELECT 1 FROM crm.marketing_list_member WHERE organization_id = $1"
									  " AND list_id = $2 AND member_id = $3 AND removed_at IS NULL",
									  3, argtypes),
						   args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading crm.marketing_list_member failed");
	return SPI_processed > 0;
}

/*
 * Make the person a member (join) or not; returns whether membership
 * changed, emitting list.joined / list.left if so (connected to SPI).
 */
static bool
lists_write(Oid owner, const pg_uuid_t *org, const char *entity, const pg_uuid_t *list, Datum person, bool join)
{
	Oid			argtypes[5] = {UUIDOID, UUIDOID, UUIDOID, TEXTOID, TEXTOID};
	Datum		args[5] = {UUIDPGetDatum(org), UUIDPGetDatum(list), person, 0, 0};
	bool		lead = strcmp(entity, "lead") == 0;
	int			rc;

	/* wait for a refresh of the list in flight; make a later one wait for us */
	if (crm_spi_execute_as(owner,
						   lists_keep(&lock_plan,
									  "SELECT 1 FROM crm.marketing_list WHERE organization_id = $1 AND id = $2 FOR KEY SHARE",
									  2, argtypes),
						   args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "locking crm.marketing_list failed");
	if (join)
		rc = crm_spi_execute_as(owner,
								lists_keep(&join_plans[lead ? 1 : 0],
										   lead ?
										   "INSERT INTO crm.marketing_list_member AS m (organization_id, list_id, entity, lead_id, source)"
										   " VALUES ($1, $2, 'lead', $3, 'criteria')"
										   " ON CONFLICT (organization_id, list_id, member_id) DO UPDATE"
										   " SET removed_at = NULL, added_at = pg_catalog.now(), source = 'criteria'"
										   " WHERE m.removed_at IS NOT NULL RETURNING 1" :
										   "INSERT INTO crm.marketing_list_member AS m (organization_id, list_id, entity, contact_id, source)"
										   " VALUES ($1, $2, 'contact', $3, 'criteria')"
										   " ON CONFLICT (organization_id, list_id, member_id) DO UPDATE"
										   " SET removed_at = NULL, added_at = pg_catalog.now(), source = 'criteria'"
										   " WHERE m.removed_at IS NOT NULL RETURNING 1",
										   3, argtypes),
								args, NULL, false, 0);
	else
		rc = crm_spi_execute_as(owner,
								lists_keep(&leave_plan,
										   "UPDATE crm.marketing_list_member SET removed_at = pg_catalog.now()"
										   " WHERE organization_id = $1 AND list_id = $2 AND member_id = $3"
										   " AND removed_at IS NULL RETURNING 1",
										   3, argtypes),
								args, NULL, false, 0);
	if (rc < 0)
		elog(ERROR, "writing crm.marketing_list_member failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		return false;
	args[3] = CStringGetTextDatum(join ? "list.joined" : "list.left");
	args[4] = CStringGetTextDatum(entity);
	if (crm_spi_execute_as(owner,
						   lists_keep(&emit_plan,
									  "INSERT INTO crm.outbox (organization_id, event_type, entity, entity_id, payload)"
									  " VALUES ($1, $4, $5, $3, pg_catalog.jsonb_build_object('list_id', $2))",
									  5, argtypes),
						   args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "writing list event failed");
	return true;
}

/*
 * Bring one person's membership up to date in the lists marked in
 * "touched" (and in every list reading one whose membership changes), in
 * dependency order.  oldrow (updates of the person's own row): a list
 * without member_of is written only when the old and new rows answer
 * differently; "inserted": a new row, which is nobody's member yet.
 */
static void
lists_apply(ListSet *s, const char *entity, Oid owner, const ListCols *c, TupleDesc desc,
			HeapTuple row, HeapTuple oldrow, bool inserted, bool *touched)
{
	bool	   *changed = palloc0(sizeof(bool) * Max(s->n, 1));
	bool		isnull;
	Datum		person = heap_getattr(row, c->id, desc, &isnull);
	bool		connected = false;
	int			i,
				k,
				j;

	if (isnull)
		return;
	for (i = 0; i < s->n; i++)
	{
		ListDef    *l = &s->lists[i];
		bool		want;
		bool		eval = touched[i];

		if (!l->crit)
			continue;
		for (k = 0; k < l->ndeps && !eval; k++)
			for (j = 0; j < i; j++)
				if (changed[j] && memcmp(&s->lists[j].id, &l->deps[k], UUID_LEN) == 0)
					eval = true;
		if (!eval)
			continue;
		want = lists_row_matches(l, c, row, desc, &s->org);
		if (inserted && !want)
			continue;
		if (l->ndeps == 0 && oldrow != NULL &&
			want == lists_row_matches(l, c, oldrow, desc, &s->org))
			continue;
		if (!connected)
		{
			if (SPI_connect() != SPI_OK_CONNECT)
				elog(ERROR, "SPI_connect failed");
			connected = true;
		}
		for (k = 0; k < l->ndeps && want; k++)
			want = lists_is_member(owner, &s->org, &l->deps[k], person);
		changed[i] = lists_write(owner, &s->org, entity, &l->id, person, want);
	}
	if (connected)
		SPI_finish();
}

/* Is org the session's current tenant? (no tenant set: no) */
static bool
lists_org_is_current(const pg_uuid_t *org)
{
	pg_uuid_t	cur;

	if (crm_organization_guc == NULL || crm_organization_guc[0] == '\0')
		return false;
	cur = crm_current_org_uuid();
	return memcmp(&cur, org, UUID_LEN) == 0;
}

/* An account changed: its contacts, in the contact lists reading account fields it changed. */
static void
lists_account_changed(TriggerData *td, const pg_uuid_t *org, Oid owner)
{
	Relation	rel = td->tg_relation;
	TupleDesc	desc = RelationGetDescr(rel);
	ListSet    *s = lists_for(org, "account", rel, owner);
	bool	   *touched;
	bool		any = false;
	int			i;
	int			att;
	Bitmapset  *changed = NULL;
	Oid			argtypes[2] = {UUIDOID, UUIDOID};
	Datum		args[2];
	bool		isnull;
	SPITupleTable *tt;
	ListCols	c;
	uint64		r;

	if (s->n == 0 || bms_is_empty(s->watch_account))
		return;
	att = -1;
	while ((att = bms_next_member(s->watch_account, att)) >= 0)
		if (lists_att_changed(desc, td->tg_trigtuple, td->tg_newtuple, att))
			changed = bms_add_member(changed, att);
	if (changed == NULL)
		return;
	touched = palloc0(sizeof(bool) * s->n);
	for (i = 0; i < s->n; i++)
		if (bms_overlap(s->lists[i].watch_account, changed))
			touched[i] = any = true;
	if (!any)
		return;
	args[0] = UUIDPGetDatum(org);
	args[1] = heap_getattr(td->tg_newtuple, crm_trigger_column(rel, "id", UUIDOID, true, LISTS_FNAME), desc, &isnull);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (crm_spi_execute_as(owner,
						   lists_keep(&contacts_plan,
									  "SELECT t.* FROM crm.contact t WHERE t.organization_id = $1 AND t.account_id = $2"
									  " AND t.deleted_at IS NULL",
									  2, argtypes),
						   args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading the account's contacts failed");
	tt = SPI_tuptable;
	lists_cols(tt->tupdesc, true, &c);
	for (r = 0; r < tt->numvals; r++)
		lists_apply(s, "contact", owner, &c, tt->tupdesc, tt->vals[r], NULL, false, touched);
	SPI_finish();
}

PG_FUNCTION_INFO_V1(lists_membership_trigger);
/* SQL: crm.trg_list_membership(entity) returns trigger (AFTER INSERT OR UPDATE, FOR EACH ROW) */
Datum
lists_membership_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td;
	Relation	rel;
	TupleDesc	desc;
	const char *entity;
	HeapTuple	row;
	HeapTuple	oldrow = NULL;
	pg_uuid_t	org;
	bool		isnull;
	Datum		d;
	Oid			owner;
	ListSet    *s;
	ListCols	c;
	bool	   *touched;
	bool		any = false;
	int			i;

	td = crm_trigger_check(fcinfo, LISTS_FNAME, CRM_TRIG_AFTER_ROW | CRM_TRIG_INSERT | CRM_TRIG_UPDATE);
	if (crm_restoring)
		return PointerGetDatum(NULL);
	rel = td->tg_relation;
	desc = RelationGetDescr(rel);
	entity = crm_trigger_arg(td, 0, LISTS_FNAME, "entity");
	if (strcmp(entity, "contact") != 0 && strcmp(entity, "lead") != 0 && strcmp(entity, "account") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: unknown entity \"%s\"", LISTS_FNAME, entity),
				 errhint("The argument is contact, lead or account.")));
	row = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	d = heap_getattr(row, crm_trigger_column(rel, "organization_id", UUIDOID, true, LISTS_FNAME), desc, &isnull);
	if (isnull)
		return PointerGetDatum(NULL);
	memcpy(&org, DatumGetUUIDP(d), UUID_LEN);
	if (!lists_org_is_current(&org))
		return PointerGetDatum(NULL);
	owner = crm_relation_owner(RelationGetRelid(rel));

	if (strcmp(entity, "account") == 0)
	{
		if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
			lists_account_changed(td, &org, owner);
		return PointerGetDatum(NULL);
	}

	s = lists_for(&org, entity, rel, owner);
	if (s->n == 0)
		return PointerGetDatum(NULL);
	lists_cols(desc, strcmp(entity, "contact") == 0, &c);
	touched = palloc0(sizeof(bool) * s->n);
	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		/* each watched column compared once */
		int8	   *diff = palloc0(sizeof(int8) * (desc->natts + 1));

		oldrow = td->tg_trigtuple;
		for (i = 0; i < s->n; i++)
		{
			int			att = -1;

			while (!touched[i] && (att = bms_next_member(s->lists[i].watch, att)) >= 0)
			{
				if (diff[att] == 0)
					diff[att] = lists_att_changed(desc, oldrow, row, att) ? 1 : -1;
				if (diff[att] > 0)
					touched[i] = any = true;
			}
		}
	}
	else
		for (i = 0; i < s->n; i++)
			touched[i] = any = true;
	if (any)
		lists_apply(s, entity, owner, &c, desc, row, oldrow, oldrow == NULL, touched);
	return PointerGetDatum(NULL);
}
