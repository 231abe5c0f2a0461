/*
 * lists.c
 *		Dynamic marketing lists: membership kept current by C triggers as
 *		records change, and brought up to date set-based by a refresh.
 *
 *	crm.trg_list_membership(entity)
 *		AFTER INSERT and AFTER UPDATE ... FOR EACH STATEMENT with transition
 *		tables on crm.contact and crm.lead (crm_70_lists_insert,
 *		crm_70_lists_update); AFTER UPDATE ... FOR EACH ROW on crm.account
 *		(crm_70_lists: contact lists with account.* criteria).
 *	crm._list_refresh(list_id), crm._list_diff(list_id)
 *		crm.refresh_list's difference, applied, and crm.verify()'s, listed.
 *
 * Per statement, a changed row is evaluated only against the dynamic lists
 * whose fields the change touches: each list's criteria document is
 * compiled once per backend into a criteria.h handle, which also says which
 * columns it reads (plus deleted_at, the consent columns when the list
 * respects consent, and account_id for account.* fields).  The trigger reads
 * the statement's transition tables once, compares each row's watched
 * columns, evaluates the touched lists in memory on the old and the new row
 * (no query), and collects the joins and departures; they are written
 * together, a batch of up to LISTS_BATCH at a time (a ListWriter): one
 * INSERT inserts or re-opens the joins, one UPDATE per list stamps the
 * departures' removed_at, each writing a list.joined / list.left outbox
 * event for every row it changed.  An update that changes no watched column
 * costs a few datum comparisons.
 *
 * Lists of lists (member_of) are processed in dependency order, person by
 * person; a list is re-evaluated when its own columns changed or an input
 * list's membership changed for the person.  Whether the person is a stored
 * member of the lists involved in member_of is read once per statement for
 * all its persons (after locking those lists, see below) and then kept in
 * a hash table that the statement's own changes update, so no query runs
 * per row or per list.  A new row is nobody's member yet: inserts read
 * nothing.  An account's update does the same for the account's contacts
 * against the lists reading a changed account column.
 *
 * Writers take a KEY SHARE lock on a list's row before writing its
 * membership (and before reading the stored membership they decide by);
 * crm.refresh_list takes FOR UPDATE on it before it computes the list's
 * members, so a refresh waits for writers in flight and then sees their
 * rows, and writers that come later see the refresh's rows (READ
 * COMMITTED; doc/marketing.md).
 *
 * The triggers are named crm_70_*: statement triggers fire in name order,
 * and the ones that update the statement's rows again (fit score crm_92,
 * routing crm_94) must come after, so that their nested update is evaluated
 * against the row this statement wrote.
 *
 * crm._list_refresh compiles the list's criteria into a SQL predicate
 * (crm_criteria_predicate: every value a parameter, identifiers quoted from
 * the field catalog) and computes the whole difference in one query: the
 * wanted set (criteria, liveness, consent, stored membership of the lists it
 * reads, an explicit tenant filter beside row-level security) full-joined
 * with the current members.  The difference goes through the triggers'
 * writer: the joins in one INSERT, the departures in one UPDATE, with their
 * events.  It runs as the caller.  crm._list_diff lists the same difference
 * for crm.verify().
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
#include "executor/executor.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "nodes/bitmapset.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/tuplestore.h"
#include "utils/uuid.h"

#include "criteria.h"
#include "crm.h"
#include "trigger_support.h"

#define LISTS_FNAME "crm.trg_list_membership()"
#define LISTS_CACHE_SIZE 8
#define LISTS_BATCH 10000		/* a trigger's membership changes written per statement */
#define LISTS_REFRESH_BATCH 1000000 /* a refresh's */

/* One dynamic list, as the trigger sees it. */
typedef struct ListDef
{
	pg_uuid_t	id;
	int			depth;			/* 0, or 1 + the deepest list it reads */
	bool		respect_consent;
	int			ndeps;
	pg_uuid_t  *deps;			/* the lists it reads (member_of) */
	int		   *dep_idx;		/* each one's index in the set; -1: not live */
	bool		involved;		/* it reads, or is read by, another list */
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
	Bitmapset  *watch;			/* union over the lists */
	Bitmapset  *watch_account;	/* union over the lists */
	bool		has_deps;		/* some list reads another */
	int			ninvolved;
	pg_uuid_t  *involved;		/* the lists of member_of relations, read or reading */
} ListSet;

static ListSet list_cache[LISTS_CACHE_SIZE];
static uint64 list_generation = 1;
static bool list_callback_registered = false;
static Oid	list_table_oid = InvalidOid;

/* Kept plans. */
static SPIPlanPtr load_plan = NULL;
static SPIPlanPtr lock_plan = NULL;
static SPIPlanPtr state_plan = NULL;
static SPIPlanPtr join_plans[2] = {NULL, NULL};	/* contact, lead */
static SPIPlanPtr leave_plan = NULL;
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

/*
 * A kept plan, prepared on first use, generic from the start: a custom plan
 * estimates an unnest at the array's true length and always looks cheaper
 * than the generic one (estimated at a few rows), so the plan cache would
 * plan the statements again on every execution; their shape does not
 * depend on the number of rows.
 */
static inline SPIPlanPtr
lists_keep(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes)
{
	return crm_keep_plan(slot, sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);
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
				alldeps,
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
		l->dep_idx = MemoryContextAlloc(s->cxt, sizeof(int) * Max(nd, 1));
		for (k = 0; k < nd; k++)
			if (!nulls[k])
				memcpy(&l->deps[l->ndeps++], DatumGetUUIDP(elems[k]), UUID_LEN);
		s->has_deps |= l->ndeps > 0;
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
			s->watch = bms_union(s->watch, l->watch);
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

	/*
	 * Where each list read is in the set, and which lists take part in a
	 * member_of relation (their stored membership is what the statement
	 * decides by): the reading lists and the lists they read, live or not.
	 */
	alldeps = 0;
	for (i = 0; i < s->n; i++)
		alldeps += s->lists[i].ndeps;
	s->involved = MemoryContextAlloc(s->cxt, sizeof(pg_uuid_t) * Max(s->n + alldeps, 1));
	for (i = 0; i < s->n; i++)
	{
		ListDef    *l = &s->lists[i];

		l->involved |= l->ndeps > 0;
		for (k = 0; k < l->ndeps; k++)
		{
			int			j;

			l->dep_idx[k] = -1;
			for (j = 0; j < s->n; j++)
				if (memcmp(&s->lists[j].id, &l->deps[k], UUID_LEN) == 0)
				{
					l->dep_idx[k] = j;
					s->lists[j].involved = true;
				}
			/* a list read that is no longer live: its stored rows still count */
			if (l->dep_idx[k] < 0)
				s->involved[s->ninvolved++] = l->deps[k];
		}
	}
	for (i = 0; i < s->n; i++)
		if (s->lists[i].involved)
			s->involved[s->ninvolved++] = s->lists[i].id;
	MemoryContextSetParent(s->cxt, CacheMemoryContext);
	s->used = true;
	return s;
}

/* The columns the trigger reads itself, type-checked. */
typedef struct ListCols
{
	int			org;
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
	c->org = lists_desc_column(desc, "organization_id", UUIDOID, true);
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

/* ---------------------------------------------------------------------
 * Membership changes on their way into crm.marketing_list_member (a
 * ListWriter), shared by the triggers and crm._list_refresh.
 *
 * A batch is written by one INSERT of all its joins (new rows inserted,
 * departed ones re-opened by ON CONFLICT) and one UPDATE per list of its
 * departures, each writing an outbox event for every row it changed in
 * the same statement.  No statement joins the batch with the member table:
 * the joins go through the primary key's conflict check, the departures
 * through an index scan of (tenant, list, member_id = ANY (ids)).  Their
 * plans are generic and made without sequential scans once per backend,
 * so they stay index lookups whatever the statistics said when they were
 * made (a join planned while the table looked empty could scan the batch
 * once per member row).
 * ---------------------------------------------------------------------
 */

/* One change: a person joins or leaves a list. */
typedef struct ListChange
{
	pg_uuid_t	list;
	pg_uuid_t	person;
	bool		join;
} ListChange;

typedef struct ListWriter
{
	pg_uuid_t	org;
	bool		lead;			/* the lists hold leads (else contacts) */
	Oid			owner;			/* as whom (InvalidOid: the caller) */
	bool		lock;			/* KEY SHARE the lists' rows before writing */
	int			n;
	int			cap;
	ListChange *changes;
	uint64		joined;			/* rows changed so far */
	uint64		left;
} ListWriter;

static void
lists_writer_init(ListWriter *w, const pg_uuid_t *org, bool lead, Oid owner, bool lock, int cap,
				  MemoryContext cxt)
{
	memset(w, 0, sizeof(*w));
	w->org = *org;
	w->lead = lead;
	w->owner = owner;
	w->lock = lock;
	w->cap = cap;
	w->changes = MemoryContextAlloc(cxt, sizeof(ListChange) * cap);
}

/* Run a kept statement of the writer (connected to SPI). */
static void
lists_exec(const ListWriter *w, SPIPlanPtr plan, Datum *args, int expected, const char *what)
{
	int			rc = crm_spi_execute_lookup_as(w->owner, plan, args, NULL, false, 0);

	if (rc != expected)
		elog(ERROR, "%s failed: %s", what, SPI_result_code_string(rc));
}

/* A uuid[] of n uuids, in the current memory context. */
static Datum
lists_uuid_array(const pg_uuid_t *ids, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		elems[i] = UUIDPGetDatum(&ids[i]);
	return PointerGetDatum(construct_array(elems, n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
}

/*
 * Lock the rows of lists (KEY SHARE, in id order): a refresh of one of
 * them in flight is waited for, a later one waits for this transaction.
 * Connected to SPI.
 */
static void
lists_lock(const ListWriter *w, const pg_uuid_t *lists, int n)
{
	Oid			argtypes[2] = {UUIDOID, UUIDARRAYOID};
	Datum		args[2];

	args[0] = UUIDPGetDatum(&w->org);
	args[1] = lists_uuid_array(lists, n);
	lists_exec(w, lists_keep(&lock_plan,
							 "SELECT 1 FROM crm.marketing_list l WHERE l.organization_id = $1"
							 " AND l.id = ANY ($2) ORDER BY l.id FOR KEY SHARE OF l",
							 2, argtypes),
			   args, SPI_OK_SELECT, "locking crm.marketing_list");
}

/* Changes in (list, departures after joins, person) order. */
static int
lists_change_cmp(const void *a, const void *b)
{
	const ListChange *x = (const ListChange *) a;
	const ListChange *y = (const ListChange *) b;
	int			c = memcmp(&x->list, &y->list, UUID_LEN);

	if (c != 0)
		return c;
	if (x->join != y->join)
		return x->join ? -1 : 1;
	return memcmp(&x->person, &y->person, UUID_LEN);
}

/* The count a writing statement returns. */
static uint64
lists_count(void)
{
	bool		isnull;
	Datum		d;

	if (SPI_processed != 1 || SPI_gettypeid(SPI_tuptable->tupdesc, 1) != INT8OID)
		elog(ERROR, "writing crm.marketing_list_member: unexpected result");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : (uint64) DatumGetInt64(d);
}

/* Write the batch (see above) and start an empty one. */
static void
lists_writer_flush(ListWriter *w)
{
	Oid			jtypes[4] = {UUIDOID, UUIDARRAYOID, UUIDARRAYOID, TEXTOID};
	Oid			ltypes[4] = {UUIDOID, UUIDOID, UUIDARRAYOID, TEXTOID};
	Datum		args[4];
	pg_uuid_t  *lists;
	pg_uuid_t  *ids;
	pg_uuid_t  *persons;
	int			nlists = 0;
	int			njoins = 0;
	int			i;

	if (w->n == 0)
		return;
	/* (everything allocated from here on goes with SPI_finish) */
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	qsort(w->changes, w->n, sizeof(ListChange), lists_change_cmp);
	lists = palloc(sizeof(pg_uuid_t) * w->n);
	ids = palloc(sizeof(pg_uuid_t) * w->n);
	persons = palloc(sizeof(pg_uuid_t) * w->n);
	for (i = 0; i < w->n; i++)
	{
		if (i == 0 || memcmp(&w->changes[i].list, &w->changes[i - 1].list, UUID_LEN) != 0)
			lists[nlists++] = w->changes[i].list;
		if (w->changes[i].join)
		{
			ids[njoins] = w->changes[i].list;
			persons[njoins++] = w->changes[i].person;
		}
	}
	if (w->lock)
		lists_lock(w, lists, nlists);

	args[0] = UUIDPGetDatum(&w->org);
	args[3] = CStringGetTextDatum(w->lead ? "lead" : "contact");
	if (njoins > 0)
	{
		SPIPlanPtr *slot = &join_plans[w->lead ? 1 : 0];

		/* (the two plans differ in the person's column: contact_id or lead_id) */
		if (*slot == NULL)
			(void) lists_keep(slot,
							  psprintf("WITH ins AS ("
									   "  INSERT INTO crm.marketing_list_member AS m (organization_id, list_id, entity, %s, source)"
									   "  SELECT $1, u.list_id, $4, u.member_id, 'criteria'"
									   "    FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3)) AS u(list_id, member_id)"
									   "  ON CONFLICT (organization_id, list_id, member_id) DO UPDATE"
									   "  SET removed_at = NULL, added_at = pg_catalog.now(), source = 'criteria'"
									   "  WHERE m.removed_at IS NOT NULL RETURNING m.list_id, m.member_id),"
									   " ev AS ("
									   "  INSERT INTO crm.outbox (organization_id, event_type, entity, entity_id, payload)"
									   "  SELECT $1, 'list.joined', $4, i.member_id, pg_catalog.jsonb_build_object('list_id', i.list_id)"
									   "    FROM ins i)"
									   " SELECT pg_catalog.count(*) FROM ins",
									   w->lead ? "lead_id" : "contact_id"),
							  4, jtypes);
		args[1] = lists_uuid_array(ids, njoins);
		args[2] = lists_uuid_array(persons, njoins);
		lists_exec(w, *slot, args, SPI_OK_SELECT, "writing the joins of marketing lists");
		w->joined += lists_count();
	}
	/* the departures, list by list */
	for (i = 0; i < w->n;)
	{
		int			k = 0;

		while (i < w->n && w->changes[i].join)
			i++;
		if (i == w->n)
			break;
		args[1] = UUIDPGetDatum(&w->changes[i].list);
		while (i + k < w->n && memcmp(&w->changes[i + k].list, &w->changes[i].list, UUID_LEN) == 0)
		{
			persons[k] = w->changes[i + k].person;
			k++;
		}
		args[2] = lists_uuid_array(persons, k);
		lists_exec(w, lists_keep(&leave_plan,
								 "WITH del AS ("
								 "  UPDATE crm.marketing_list_member m SET removed_at = pg_catalog.now()"
								 "   WHERE m.organization_id = $1 AND m.list_id = $2 AND m.member_id = ANY ($3)"
								 "     AND m.removed_at IS NULL"
								 "  RETURNING m.member_id),"
								 " ev AS ("
								 "  INSERT INTO crm.outbox (organization_id, event_type, entity, entity_id, payload)"
								 "  SELECT $1, 'list.left', $4, d.member_id, pg_catalog.jsonb_build_object('list_id', $2)"
								 "    FROM del d)"
								 " SELECT pg_catalog.count(*) FROM del",
								 4, ltypes),
				   args, SPI_OK_SELECT, "writing the departures of marketing lists");
		w->left += lists_count();
		i += k;
	}
	SPI_finish();
	w->n = 0;
}

/* Queue a change (a join or a departure); the batch is written when full. */
static void
lists_writer_add(ListWriter *w, const pg_uuid_t *list, const pg_uuid_t *person, bool join)
{
	ListChange *c = &w->changes[w->n];

	c->list = *list;
	c->person = *person;
	c->join = join;
	if (++w->n == w->cap)
		lists_writer_flush(w);
}

/* ---------------------------------------------------------------------
 * One statement's membership changes (a ListRun): decided person by
 * person, in dependency order, and queued to a writer.
 * ---------------------------------------------------------------------
 */

/* A (list, person) pair: the key of the stored-membership table. */
typedef struct ListKey
{
	pg_uuid_t	list;
	pg_uuid_t	person;
} ListKey;

typedef struct ListMember
{
	ListKey		key;
	bool		member;
} ListMember;

typedef struct ListRun
{
	ListSet    *s;
	bool		inserted;		/* the persons are new rows: nobody's members */
	MemoryContext cxt;
	bool	   *stateful;		/* per list: decided against "state" */
	HTAB	   *state;			/* (list, person) -> stored member or not */
	bool	   *touched;		/* per list: the current person's change concerns it */
	bool	   *changed;		/* per list: its membership changes for the person */
	ListWriter w;
} ListRun;

static void
lists_run_start(ListRun *r, ListSet *s, const char *entity, Oid owner)
{
	HASHCTL		ctl;
	int			n = Max(s->n, 1);

	memset(r, 0, sizeof(*r));
	r->s = s;
	r->cxt = AllocSetContextCreate(CurrentMemoryContext, "crm list membership", ALLOCSET_DEFAULT_SIZES);
	r->stateful = MemoryContextAllocZero(r->cxt, sizeof(bool) * n);
	r->touched = MemoryContextAllocZero(r->cxt, sizeof(bool) * n);
	r->changed = MemoryContextAllocZero(r->cxt, sizeof(bool) * n);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(ListKey);
	ctl.entrysize = sizeof(ListMember);
	ctl.hcxt = r->cxt;
	r->state = hash_create("crm list membership state", 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	lists_writer_init(&r->w, &s->org, strcmp(entity, "lead") == 0, owner, true, LISTS_BATCH, r->cxt);
}

/* Is the person a member of the list, as far as the statement knows? */
static bool
lists_state_get(ListRun *r, const pg_uuid_t *list, const pg_uuid_t *person)
{
	ListKey		key;
	ListMember *m;

	key.list = *list;
	key.person = *person;
	m = (ListMember *) hash_search(r->state, &key, HASH_FIND, NULL);
	return m != NULL && m->member;
}

static void
lists_state_set(ListRun *r, const pg_uuid_t *list, const pg_uuid_t *person, bool member)
{
	ListKey		key;
	ListMember *m;

	key.list = *list;
	key.person = *person;
	m = (ListMember *) hash_search(r->state, &key, HASH_ENTER, NULL);
	m->member = member;
}

/*
 * Read which of the persons are stored members of which of the lists into
 * the state table, the lists locked first: the statement's decisions about
 * them are made against what a refresh in flight wrote.
 */
static void
lists_state_load(ListRun *r, const pg_uuid_t *lists, int nlists, const pg_uuid_t *persons, int npersons)
{
	Oid			argtypes[3] = {UUIDOID, UUIDARRAYOID, UUIDARRAYOID};
	Datum		args[3];
	SPITupleTable *tt;
	uint64		i;

	if (nlists == 0 || npersons == 0)
		return;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	lists_lock(&r->w, lists, nlists);
	args[0] = UUIDPGetDatum(&r->s->org);
	args[1] = lists_uuid_array(lists, nlists);
	args[2] = lists_uuid_array(persons, npersons);
	lists_exec(&r->w, lists_keep(&state_plan,
								 "SELECT m.list_id, m.member_id FROM crm.marketing_list_member m"
								 " WHERE m.organization_id = $1 AND m.list_id = ANY ($2) AND m.member_id = ANY ($3)"
								 "   AND m.removed_at IS NULL",
								 3, argtypes),
			   args, SPI_OK_SELECT, "reading crm.marketing_list_member");
	tt = SPI_tuptable;
	if (SPI_gettypeid(tt->tupdesc, 1) != UUIDOID || SPI_gettypeid(tt->tupdesc, 2) != UUIDOID)
		elog(ERROR, "crm.marketing_list_member has unexpected column types");
	for (i = 0; i < tt->numvals; i++)
	{
		bool		n1,
					n2;
		Datum		l = SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &n1);
		Datum		p = SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &n2);

		if (!n1 && !n2)
			lists_state_set(r, DatumGetUUIDP(l), DatumGetUUIDP(p), true);
	}
	SPI_finish();
}

/*
 * Bring one person's membership up to date in the lists marked touched
 * (and in every list reading one whose membership changes), in dependency
 * order.  A stateful list is decided against the stored membership in the
 * state table (and the table follows the decision); for a new row, the
 * other lists are joined when it matches; given the old row, they are
 * written only when the old and the new row answer differently; without
 * either, the answer is written as it is (the write changes only what
 * differs).
 */
static void
lists_person(ListRun *r, const ListCols *c, TupleDesc desc, HeapTuple row, HeapTuple oldrow,
			 const pg_uuid_t *person)
{
	ListSet    *s = r->s;
	int			i,
				k;

	memset(r->changed, 0, sizeof(bool) * s->n);
	for (i = 0; i < s->n; i++)
	{
		ListDef    *l = &s->lists[i];
		bool		want;
		bool		eval = r->touched[i];

		if (!l->crit)
			continue;
		for (k = 0; k < l->ndeps && !eval; k++)
			eval = l->dep_idx[k] >= 0 && r->changed[l->dep_idx[k]];
		if (!eval)
			continue;
		want = lists_row_matches(l, c, row, desc, &s->org);
		for (k = 0; k < l->ndeps && want; k++)
			want = lists_state_get(r, &l->deps[k], person);
		if (r->stateful[i])
		{
			if (want == lists_state_get(r, &l->id, person))
				continue;
			lists_state_set(r, &l->id, person, want);
		}
		else if (r->inserted)
		{
			if (!want)
				continue;
		}
		else if (oldrow != NULL && l->ndeps == 0)
		{
			if (want == lists_row_matches(l, c, oldrow, desc, &s->org))
				continue;
		}
		r->changed[i] = true;
		lists_writer_add(&r->w, &l->id, person, want);
	}
}

/* Write what is left and free the run. */
static void
lists_run_end(ListRun *r)
{
	lists_writer_flush(&r->w);
	MemoryContextDelete(r->cxt);
}

/* ---------------------------------------------------------------------
 * The statement triggers on contact and lead.
 * ---------------------------------------------------------------------
 */

/*
 * A read pointer of our own on a transition table, at its start: other
 * statement triggers of the same event read the same tuplestore.  The
 * default pointer is handed back when we are done (lists_close_reader).
 */
static int
lists_open_reader(Tuplestorestate *ts)
{
	int			ptr = tuplestore_alloc_read_pointer(ts, EXEC_FLAG_REWIND);

	tuplestore_select_read_pointer(ts, ptr);
	tuplestore_rescan(ts);
	return ptr;
}

static void
lists_close_reader(Tuplestorestate *ts)
{
	tuplestore_select_read_pointer(ts, 0);
}

/* Start reading the transition tables again from their first rows. */
static void
lists_rewind(Tuplestorestate *olds, Tuplestorestate *news, int optr, int nptr)
{
	if (olds)
	{
		tuplestore_select_read_pointer(olds, optr);
		tuplestore_rescan(olds);
	}
	tuplestore_select_read_pointer(news, nptr);
	tuplestore_rescan(news);
}

/*
 * The next row of the statement (and its old version for an update), its
 * columns deformed; false at the end.  Old and new rows come in the same
 * order (and id, organization_id never change: crm.trg_stamp).
 */
static bool
lists_next(Tuplestorestate *olds, Tuplestorestate *news, TupleTableSlot *os, TupleTableSlot *ns,
		   const ListCols *c)
{
	if (!tuplestore_gettupleslot(news, true, false, ns))
		return false;
	slot_getallattrs(ns);
	if (olds)
	{
		if (!tuplestore_gettupleslot(olds, true, false, os))
			elog(ERROR, "%s: the old and new transition tables differ in length", LISTS_FNAME);
		slot_getallattrs(os);
		if (os->tts_isnull[c->id - 1] || ns->tts_isnull[c->id - 1] ||
			memcmp(DatumGetUUIDP(os->tts_values[c->id - 1]), DatumGetUUIDP(ns->tts_values[c->id - 1]), UUID_LEN) != 0)
			elog(ERROR, "%s: the old and new transition tables are not in the same order", LISTS_FNAME);
	}
	return true;
}

/*
 * Mark in r->touched the lists whose columns differ between os and ns (the
 * union of the lists' columns compared once each); false if none.
 */
static bool
lists_touched(ListRun *r, TupleDesc desc, TupleTableSlot *os, TupleTableSlot *ns)
{
	ListSet    *s = r->s;
	Bitmapset  *diff = NULL;
	int			att = -1;
	int			i;
	bool		any = false;

	while ((att = bms_next_member(s->watch, att)) >= 0)
	{
		Form_pg_attribute fa = TupleDescAttr(desc, att - 1);
		bool		on = os->tts_isnull[att - 1];
		bool		nn = ns->tts_isnull[att - 1];

		if (on != nn ||
			(!on && !datumIsEqual(os->tts_values[att - 1], ns->tts_values[att - 1], fa->attbyval, fa->attlen)))
			diff = bms_add_member(diff, att);
	}
	for (i = 0; i < s->n; i++)
	{
		r->touched[i] = diff != NULL && bms_overlap(s->lists[i].watch, diff);
		any |= r->touched[i];
	}
	bms_free(diff);
	return any;
}

/* Is the slot's row one of the tenant's? */
static inline bool
lists_slot_of(TupleTableSlot *slot, const ListCols *c, const pg_uuid_t *org)
{
	return !slot->tts_isnull[c->org - 1] && !slot->tts_isnull[c->id - 1] &&
		memcmp(DatumGetUUIDP(slot->tts_values[c->org - 1]), org, UUID_LEN) == 0;
}

/*
 * An INSERT or UPDATE statement on contact or lead: every row of the
 * current tenant against the lists its change concerns.
 */
static void
lists_statement(TriggerData *td, const char *entity, const pg_uuid_t *org, Oid owner)
{
	Relation	rel = td->tg_relation;
	TupleDesc	desc = RelationGetDescr(rel);
	bool		update = TRIGGER_FIRED_BY_UPDATE(td->tg_event);
	Tuplestorestate *news = td->tg_newtable;
	Tuplestorestate *olds = update ? td->tg_oldtable : NULL;
	TupleTableSlot *os = NULL;
	TupleTableSlot *ns;
	MemoryContext rowcxt;
	MemoryContext old;
	ListSet    *s;
	ListCols	c;
	ListRun		r;
	int			optr = 0;
	int			nptr;
	int			i;

	if (news == NULL || (update && olds == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s on \"%s\" has no transition tables", LISTS_FNAME, RelationGetRelationName(rel)),
				 errhint("Create it with REFERENCING NEW TABLE AS ... (and OLD TABLE AS ... for UPDATE) FOR EACH STATEMENT.")));
	if (tuplestore_tuple_count(news) == 0)
		return;
	s = lists_for(org, entity, rel, owner);
	if (s->n == 0)
		return;
	lists_cols(desc, strcmp(entity, "contact") == 0, &c);
	lists_run_start(&r, s, entity, owner);
	old = MemoryContextSwitchTo(r.cxt);
	rowcxt = AllocSetContextCreate(r.cxt, "crm list membership row", ALLOCSET_DEFAULT_SIZES);
	ns = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	if (olds)
	{
		os = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
		optr = lists_open_reader(olds);
	}
	nptr = lists_open_reader(news);
	MemoryContextSwitchTo(old);

	if (!update)
	{
		/*
		 * New rows are nobody's members yet: every list is concerned, and
		 * the lists of member_of relations start from an empty state.
		 */
		r.inserted = true;
		for (i = 0; i < s->n; i++)
		{
			r.stateful[i] = s->lists[i].involved;
			r.touched[i] = true;
		}
	}
	else if (s->has_deps)
	{
		/*
		 * Lists of lists decide by stored membership: first the persons whose
		 * change concerns a list of a member_of relation, then their stored
		 * membership of those lists in one query.
		 */
		int			np = 0;
		int			cap = 1024;
		pg_uuid_t  *persons = MemoryContextAlloc(r.cxt, sizeof(pg_uuid_t) * cap);

		for (i = 0; i < s->n; i++)
			r.stateful[i] = s->lists[i].involved;
		while (lists_next(olds, news, os, ns, &c))
		{
			bool		any = false;

			if (!lists_slot_of(ns, &c, org) || !lists_touched(&r, desc, os, ns))
				continue;
			for (i = 0; i < s->n && !any; i++)
				any = r.touched[i] && s->lists[i].involved;
			if (!any)
				continue;
			if (np == cap)
			{
				cap *= 2;
				persons = repalloc(persons, sizeof(pg_uuid_t) * cap);
			}
			persons[np++] = *DatumGetUUIDP(ns->tts_values[c.id - 1]);
		}
		lists_state_load(&r, s->involved, s->ninvolved, persons, np);
		lists_rewind(olds, news, optr, nptr);
	}

	while (lists_next(olds, news, os, ns, &c))
	{
		HeapTuple	row;
		HeapTuple	oldrow = NULL;

		if (!lists_slot_of(ns, &c, org))
			continue;
		if (update && !lists_touched(&r, desc, os, ns))
			continue;
		old = MemoryContextSwitchTo(rowcxt);
		row = ExecFetchSlotHeapTuple(ns, false, NULL);
		if (update)
			oldrow = ExecFetchSlotHeapTuple(os, false, NULL);
		MemoryContextSwitchTo(old);
		lists_person(&r, &c, desc, row, oldrow, DatumGetUUIDP(ns->tts_values[c.id - 1]));
		MemoryContextReset(rowcxt);
	}
	if (olds)
	{
		lists_close_reader(olds);
		ExecDropSingleTupleTableSlot(os);
	}
	lists_close_reader(news);
	ExecDropSingleTupleTableSlot(ns);
	lists_run_end(&r);
}

/* An account changed: its contacts, in the contact lists reading account fields it changed. */
static void
lists_account_changed(TriggerData *td, const pg_uuid_t *org, Oid owner)
{
	Relation	rel = td->tg_relation;
	TupleDesc	desc = RelationGetDescr(rel);
	ListSet    *s = lists_for(org, "account", rel, owner);
	bool		any = false;
	int			i;
	int			att;
	Bitmapset  *changed = NULL;
	Oid			argtypes[2] = {UUIDOID, UUIDOID};
	Datum		args[2];
	bool		isnull;
	SPITupleTable *tt;
	ListCols	c;
	ListRun		r;
	pg_uuid_t  *lists;
	int			nlists = 0;
	pg_uuid_t  *persons;
	uint64		k;

	if (s->n == 0 || bms_is_empty(s->watch_account))
		return;
	att = -1;
	while ((att = bms_next_member(s->watch_account, att)) >= 0)
	{
		Form_pg_attribute fa = TupleDescAttr(desc, att - 1);
		bool		on,
					nn;
		Datum		ov = heap_getattr(td->tg_trigtuple, att, desc, &on);
		Datum		nv = heap_getattr(td->tg_newtuple, att, desc, &nn);

		if (on != nn || (!on && !datumIsEqual(ov, nv, fa->attbyval, fa->attlen)))
			changed = bms_add_member(changed, att);
	}
	if (changed == NULL)
		return;
	lists_run_start(&r, s, "contact", owner);
	lists = MemoryContextAlloc(r.cxt, sizeof(pg_uuid_t) * (s->n + s->ninvolved + 1));
	for (i = 0; i < s->n; i++)
	{
		/* every list decided here is decided against stored membership */
		r.stateful[i] = true;
		r.touched[i] = bms_overlap(s->lists[i].watch_account, changed);
		any |= r.touched[i];
		if (r.touched[i])
			lists[nlists++] = s->lists[i].id;
	}
	if (!any)
	{
		MemoryContextDelete(r.cxt);
		return;
	}
	for (i = 0; i < s->ninvolved; i++)
		lists[nlists++] = s->involved[i];

	args[0] = UUIDPGetDatum(org);
	args[1] = heap_getattr(td->tg_newtuple, crm_trigger_column(rel, "id", UUIDOID, true, LISTS_FNAME), desc, &isnull);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (crm_spi_execute_lookup_as(owner,
						   lists_keep(&contacts_plan,
									  "SELECT t.* FROM crm.contact t WHERE t.organization_id = $1 AND t.account_id = $2"
									  " AND t.deleted_at IS NULL",
									  2, argtypes),
						   args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading the account's contacts failed");
	tt = SPI_tuptable;
	lists_cols(tt->tupdesc, true, &c);
	persons = MemoryContextAlloc(r.cxt, sizeof(pg_uuid_t) * Max(tt->numvals, 1));
	for (k = 0; k < tt->numvals; k++)
		persons[k] = *DatumGetUUIDP(heap_getattr(tt->vals[k], c.id, tt->tupdesc, &isnull));
	lists_state_load(&r, lists, nlists, persons, (int) tt->numvals);
	for (k = 0; k < tt->numvals; k++)
		lists_person(&r, &c, tt->tupdesc, tt->vals[k], NULL, &persons[k]);
	lists_run_end(&r);
	SPI_finish();
}

PG_FUNCTION_INFO_V1(lists_membership_trigger);
/*
 * SQL: crm.trg_list_membership(entity) returns trigger: AFTER INSERT or
 * AFTER UPDATE FOR EACH STATEMENT with transition tables on contact and
 * lead; AFTER UPDATE FOR EACH ROW on account.
 */
Datum
lists_membership_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td;
	Relation	rel;
	const char *entity;
	pg_uuid_t	org;
	bool		row_level;

	row_level = CALLED_AS_TRIGGER(fcinfo) && TRIGGER_FIRED_FOR_ROW(((TriggerData *) fcinfo->context)->tg_event);
	td = crm_trigger_check(fcinfo, LISTS_FNAME,
						   (row_level ? CRM_TRIG_AFTER_ROW : CRM_TRIG_AFTER_STATEMENT) | CRM_TRIG_INSERT | CRM_TRIG_UPDATE);
	rel = td->tg_relation;
	entity = crm_trigger_arg(td, 0, LISTS_FNAME, "entity");
	if (strcmp(entity, "contact") != 0 && strcmp(entity, "lead") != 0 && strcmp(entity, "account") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: unknown entity \"%s\"", LISTS_FNAME, entity),
				 errhint("The argument is contact, lead or account.")));
	if (row_level != (strcmp(entity, "account") == 0) ||
		(row_level && !TRIGGER_FIRED_BY_UPDATE(td->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s on %s must be fired as %s", LISTS_FNAME, entity,
						row_level || strcmp(entity, "account") == 0 ? "an AFTER UPDATE row trigger"
						: "an AFTER INSERT or UPDATE statement trigger with transition tables")));
	if (crm_restoring)
		return PointerGetDatum(NULL);
	/* the current tenant's rows only (the others are left to the refresh) */
	if (crm_organization_guc == NULL || crm_organization_guc[0] == '\0')
		return PointerGetDatum(NULL);
	org = crm_current_org_uuid();

	if (row_level)
	{
		bool		isnull;
		Datum		d = heap_getattr(td->tg_newtuple,
									 crm_trigger_column(rel, "organization_id", UUIDOID, true, LISTS_FNAME),
									 RelationGetDescr(rel), &isnull);

		if (!isnull && memcmp(DatumGetUUIDP(d), &org, UUID_LEN) == 0)
			lists_account_changed(td, &org, crm_relation_owner(RelationGetRelid(rel)));
		return PointerGetDatum(NULL);
	}
	lists_statement(td, entity, &org, crm_relation_owner(RelationGetRelid(rel)));
	return PointerGetDatum(NULL);
}

/* ---------------------------------------------------------------------
 * crm._list_refresh and crm._list_diff: one list's difference, set-based,
 * as the caller (row-level security applies, beside explicit tenant
 * filters).
 * ---------------------------------------------------------------------
 */

/* A list as the set functions need it. */
typedef struct ListRow
{
	pg_uuid_t	id;
	pg_uuid_t	org;
	char	   *name;
	char	   *kind;
	bool		lead;
	bool		respect_consent;
	Jsonb	   *criteria;		/* NULL unless dynamic */
	int			ndeps;
	Datum	   *deps;			/* uuid Datums */
} ListRow;

/*
 * Read the current tenant's live list (locked FOR UPDATE when asked) as the
 * caller, or raise no_data_found.  Connected to SPI; the values are copied
 * into the caller's context "cxt".
 */
static void
lists_read_list(Datum id, bool lock, MemoryContext cxt, ListRow *out)
{
	Oid			argtypes[2] = {UUIDOID, UUIDOID};
	Datum		args[2];
	SPITupleTable *tt;
	HeapTuple	t;
	bool		isnull;
	Datum		d;
	MemoryContext old;
	bool	   *nulls = NULL;
	int			k;

	out->org = crm_current_org_uuid();
	args[0] = UUIDPGetDatum(&out->org);
	args[1] = id;
	if (SPI_execute_with_args(lock ?
							  "SELECT l.kind, l.entity, l.criteria, l.member_of, l.respect_consent, l.name"
							  "  FROM crm.marketing_list l WHERE l.organization_id = $1 AND l.id = $2"
							  "   AND l.deleted_at IS NULL FOR UPDATE OF l" :
							  "SELECT l.kind, l.entity, l.criteria, l.member_of, l.respect_consent, l.name"
							  "  FROM crm.marketing_list l WHERE l.organization_id = $1 AND l.id = $2"
							  "   AND l.deleted_at IS NULL",
							  2, argtypes, args, NULL, !lock, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading crm.marketing_list failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("marketing list %s does not exist",
						DatumGetCString(DirectFunctionCall1(uuid_out, id))),
				 errhint("Pass the id of a live list of the current organization.")));
	tt = SPI_tuptable;
	if (SPI_gettypeid(tt->tupdesc, 1) != TEXTOID || SPI_gettypeid(tt->tupdesc, 2) != TEXTOID ||
		SPI_gettypeid(tt->tupdesc, 3) != JSONBOID || SPI_gettypeid(tt->tupdesc, 4) != UUIDARRAYOID ||
		SPI_gettypeid(tt->tupdesc, 5) != BOOLOID || SPI_gettypeid(tt->tupdesc, 6) != TEXTOID)
		elog(ERROR, "crm.marketing_list has unexpected column types");
	t = tt->vals[0];
	old = MemoryContextSwitchTo(cxt);
	memcpy(&out->id, DatumGetUUIDP(id), UUID_LEN);
	out->kind = TextDatumGetCString(SPI_getbinval(t, tt->tupdesc, 1, &isnull));
	d = SPI_getbinval(t, tt->tupdesc, 2, &isnull);
	if (strcmp(TextDatumGetCString(d), "lead") == 0)
		out->lead = true;
	else if (strcmp(TextDatumGetCString(d), "contact") == 0)
		out->lead = false;
	else
		elog(ERROR, "marketing list of unknown entity \"%s\"", TextDatumGetCString(d));
	d = SPI_getbinval(t, tt->tupdesc, 3, &isnull);
	out->criteria = isnull ? NULL : DatumGetJsonbPCopy(d);
	d = SPI_getbinval(t, tt->tupdesc, 4, &isnull);
	out->ndeps = 0;
	out->deps = NULL;
	if (!isnull)
		deconstruct_array(DatumGetArrayTypePCopy(d), UUIDOID, UUID_LEN, false, TYPALIGN_CHAR,
						  &out->deps, &nulls, &out->ndeps);
	for (k = 0; k < out->ndeps; k++)
		if (nulls[k])
			elog(ERROR, "marketing list with a NULL in member_of");
	d = SPI_getbinval(t, tt->tupdesc, 5, &isnull);
	out->respect_consent = !isnull && DatumGetBool(d);
	out->name = TextDatumGetCString(SPI_getbinval(t, tt->tupdesc, 6, &isnull));
	MemoryContextSwitchTo(old);
}

/*
 * The members a dynamic list should have, as SQL over crm.<entity> t and
 * its parameters: the compiled criteria (crm_criteria_predicate), the
 * record live, consent when the list respects it, and stored membership of
 * every list it reads; an explicit filter on the tenant ($1).  Adds the
 * list's own id as the next parameter, and "extra" more after it; the
 * parameters are returned in *nargs / *types / *values, the id's number in
 * *list_param.
 */
static char *
lists_want_sql(const ListRow *l, int extra, int *nargs, Oid **types, Datum **values, int *list_param)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "crm list criteria", ALLOCSET_DEFAULT_SIZES);
	CrmCriteria *crit = crm_criteria_prepare(l->criteria, l->lead ? "lead" : "contact", cxt);
	const char *pred;
	StringInfoData s;
	int			n;
	int			k;

	pred = crm_criteria_predicate(crit, &l->org, 1 + l->ndeps + extra, &n, types, values);
	initStringInfo(&s);
	appendStringInfo(&s,
					 "SELECT t.id FROM crm.%s t"
					 " WHERE t.organization_id = $1 AND t.deleted_at IS NULL"
					 "   AND (%s)",
					 l->lead ? "lead" : "contact", pred);
	if (l->respect_consent && !l->lead)
		appendStringInfoString(&s, " AND NOT t.do_not_email AND t.unsubscribed_at IS NULL");
	*list_param = ++n;
	(*types)[n - 1] = UUIDOID;
	(*values)[n - 1] = UUIDPGetDatum(&l->id);
	for (k = 0; k < l->ndeps; k++)
	{
		n++;
		(*types)[n - 1] = UUIDOID;
		(*values)[n - 1] = l->deps[k];
		appendStringInfo(&s,
						 " AND EXISTS (SELECT FROM crm.marketing_list_member d%d"
						 " WHERE d%d.organization_id = $1 AND d%d.list_id = $%d"
						 " AND d%d.member_id = t.id AND d%d.removed_at IS NULL)",
						 k, k, k, n, k, k);
	}
	*nargs = n;
	/* (the predicate's text and the parameters are copies; the handle can go) */
	crm_criteria_free(crit);
	return s.data;
}

/*
 * The difference between a dynamic list's stored members and what its
 * criteria select, as SQL returning (member_id, wanted): wanted people
 * who are not current members, and current members who are not wanted.
 * A full join (hashed or merged, never a nested loop over both sides,
 * whatever the statistics of a freshly filled list say).
 */
static char *
lists_diff_sql(const ListRow *l, bool ordered, int *nargs, Oid **types, Datum **values)
{
	int			lp;
	char	   *want = lists_want_sql(l, 0, nargs, types, values, &lp);

	return psprintf("WITH want AS (%s),"
					" have AS (SELECT m.member_id AS id FROM crm.marketing_list_member m"
					"           WHERE m.organization_id = $1 AND m.list_id = $%d AND m.removed_at IS NULL)"
					" SELECT coalesce(w.id, h.id), w.id IS NOT NULL FROM want w FULL JOIN have h ON h.id = w.id"
					"  WHERE w.id IS NULL OR h.id IS NULL%s",
					want, lp, ordered ? " ORDER BY 1" : "");
}

/*
 * Run the difference of a list (as the caller), handing each row to "fn";
 * the rows come in chunks from a cursor.
 */
static void
lists_diff_each(const ListRow *l, bool ordered, void (*fn) (void *ctx, Datum id, bool wanted), void *ctx)
{
	int			nargs;
	Oid		   *types;
	Datum	   *values;
	char	   *sql = lists_diff_sql(l, ordered, &nargs, &types, &values);
	Portal		portal = SPI_cursor_open_with_args(NULL, sql, nargs, types, values, NULL, true, CURSOR_OPT_NO_SCROLL);

	for (;;)
	{
		uint64		i;

		SPI_cursor_fetch(portal, true, 10000);
		if (SPI_processed == 0)
			break;
		if (SPI_gettypeid(SPI_tuptable->tupdesc, 1) != UUIDOID || SPI_gettypeid(SPI_tuptable->tupdesc, 2) != BOOLOID)
			elog(ERROR, "marketing list difference: unexpected column types");
		for (i = 0; i < SPI_processed; i++)
		{
			bool		n1,
						n2;
			Datum		id = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &n1);
			Datum		wanted = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &n2);

			if (!n1 && !n2)
				fn(ctx, id, DatumGetBool(wanted));
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
}

/* Collect a refresh's difference. */
typedef struct ListDiff
{
	MemoryContext cxt;
	int			n;
	int			cap;
	pg_uuid_t  *ids;
	bool	   *wanted;
} ListDiff;

static void
lists_diff_collect(void *ctx, Datum id, bool wanted)
{
	ListDiff   *d = (ListDiff *) ctx;

	if (d->n == d->cap)
	{
		d->cap = d->cap ? d->cap * 2 : 1024;
		d->ids = d->ids ? repalloc_huge(d->ids, sizeof(pg_uuid_t) * d->cap)
			: MemoryContextAllocHuge(d->cxt, sizeof(pg_uuid_t) * d->cap);
		d->wanted = d->wanted ? repalloc_huge(d->wanted, sizeof(bool) * d->cap)
			: MemoryContextAllocHuge(d->cxt, sizeof(bool) * d->cap);
	}
	d->ids[d->n] = *DatumGetUUIDP(id);
	d->wanted[d->n++] = wanted;
}

PG_FUNCTION_INFO_V1(lists_refresh);
/*
 * SQL: crm._list_refresh(list_id uuid, OUT joined bigint, OUT "left" bigint):
 * lock the current tenant's dynamic list FOR UPDATE and write the
 * difference between its stored members and what its criteria select (one
 * query); joins and departures go through a ListWriter (as the caller),
 * with their events.  The counts of the rows changed.
 */
Datum
lists_refresh(PG_FUNCTION_ARGS)
{
	TupleDesc	rdesc;
	ListRow		l;
	ListDiff	d;
	ListWriter	w;
	Datum		result[2];
	bool		rnulls[2] = {false, false};
	MemoryContext cxt = CurrentMemoryContext;
	int			i;

	if (get_call_result_type(fcinfo, NULL, &rdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "crm._list_refresh must return a record");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("marketing list NULL does not exist"),
				 errhint("Pass the id of a live list of the current organization.")));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	lists_read_list(PG_GETARG_DATUM(0), true, cxt, &l);
	if (strcmp(l.kind, "dynamic") != 0 || l.criteria == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("marketing list \"%s\" is a %s list: only dynamic lists are refreshed", l.name, l.kind)));
	memset(&d, 0, sizeof(d));
	d.cxt = cxt;
	lists_diff_each(&l, false, lists_diff_collect, &d);
	SPI_finish();

	/* (the list's row is locked FOR UPDATE already: no KEY SHARE) */
	lists_writer_init(&w, &l.org, l.lead, InvalidOid, false, Max(Min(d.n, LISTS_REFRESH_BATCH), 1), cxt);
	for (i = 0; i < d.n; i++)
		lists_writer_add(&w, &l.id, &d.ids[i], d.wanted[i]);
	lists_writer_flush(&w);
	result[0] = Int64GetDatum((int64) w.joined);
	result[1] = Int64GetDatum((int64) w.left);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(rdesc), result, rnulls)));
}

/* Hand a difference's row to the SRF's tuplestore. */
static void
lists_diff_put(void *ctx, Datum id, bool wanted)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) ctx;
	Datum		row[2] = {id, BoolGetDatum(wanted)};
	bool		nulls[2] = {false, false};

	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, row, nulls);
}

PG_FUNCTION_INFO_V1(lists_diff);
/*
 * SQL: crm._list_diff(list_id uuid) RETURNS TABLE (member_id uuid, wanted
 * boolean): the people whose stored membership of the current tenant's
 * dynamic list differs from what its criteria select (wanted: they should
 * be members), in id order; what crm._list_refresh would change.
 */
Datum
lists_diff(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ListRow		l;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (PG_ARGISNULL(0))
		return (Datum) 0;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	lists_read_list(PG_GETARG_DATUM(0), false, CurrentMemoryContext, &l);
	if (strcmp(l.kind, "dynamic") == 0 && l.criteria != NULL)
		lists_diff_each(&l, true, lists_diff_put, rsinfo);
	SPI_finish();
	return (Datum) 0;
}
