/*
 * trigger_support.c
 *		The checks every crm C trigger makes before it reads or writes a row
 *		(see trigger_support.h), and crm's own advisory lock keyspace.
 *
 * Why these checks: PostgreSQL checks EXECUTE on a trigger function only
 * when the trigger is created, and a role that can create a temporary table
 * can create triggers on it.  crm's trigger functions are not executable by
 * PUBLIC, but the triggers must not depend on that alone: each refuses a
 * relation that is not crm's own and checks the type of every column it
 * touches, so a hostile table (wrong types, missing columns, a crm table's
 * name in pg_temp) gets a clear error, never a crash or a forged write.
 *
 * "crm's own" is: in schema crm and owned by the owner of schema crm.  No
 * application role can arrange both (it cannot create objects in crm, and a
 * table it creates is its own), and the test holds on Citus shards, which
 * keep the schema and owner of their logical table but not its name or OID.
 */
#include "postgres.h"

#include "access/hash.h"
#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/plancache.h"
#include "utils/syscache.h"

#include "error_hints.h"
#include "trigger_support.h"

/* Whether a relation in schema relnamespace, owned by relowner, is crm's own. */
static bool
crm_class_is_own(Oid relnamespace, Oid relowner)
{
	Oid			nsp = get_namespace_oid("crm", true);
	HeapTuple	tup;
	Oid			owner;

	if (!OidIsValid(nsp) || relnamespace != nsp)
		return false;
	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
	if (!HeapTupleIsValid(tup))
		return false;
	owner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
	ReleaseSysCache(tup);
	return relowner == owner;
}

/* Whether a relation lives in schema crm and is owned by crm's owner. */
bool
crm_relation_is_own(Relation rel)
{
	return crm_class_is_own(RelationGetNamespace(rel), rel->rd_rel->relowner);
}

/* The error of a trigger function fired on a relation that is not crm's own. */
static void
crm_refuse_relation(const char *fname, const char *relname, Oid relnamespace, Oid relowner)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("%s refuses to run on table \"%s\"", fname, relname),
			 errdetail("The table is in schema %s, owned by %s; crm's trigger functions work only on crm's own tables (in schema crm, owned by the owner of schema crm).",
					   get_namespace_name(relnamespace), GetUserNameFromId(relowner, false)),
			 errhint("Drop this trigger.")));
}

/* The error of a trigger that does not give its function an argument it needs. */
static void
crm_refuse_missing_arg(const char *tgname, const char *relname, const char *fname, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
			 errmsg("trigger \"%s\" on \"%s\" gives %s no %s", tgname, relname, fname, what),
			 errhint("Create crm's triggers with crm._setup_tenant_table().")));
}

/* A readable name of the events a trigger function accepts. */
static const char *
crm_trigger_kinds_text(int kinds)
{
	StringInfoData s;
	const char *sep = "";

	initStringInfo(&s);
	appendStringInfoString(&s, (kinds & CRM_TRIG_BEFORE_ROW) ? "a BEFORE " : "an AFTER ");
	if (kinds & CRM_TRIG_INSERT)
	{
		appendStringInfoString(&s, "INSERT");
		sep = " or ";
	}
	if (kinds & CRM_TRIG_UPDATE)
	{
		appendStringInfo(&s, "%sUPDATE", sep);
		sep = " or ";
	}
	if (kinds & CRM_TRIG_DELETE)
		appendStringInfo(&s, "%sDELETE", sep);
	appendStringInfoString(&s, (kinds & CRM_TRIG_AFTER_STATEMENT) ? " statement trigger" : " row trigger");
	return s.data;
}

/* See trigger_support.h. */
TriggerData *
crm_trigger_check(FunctionCallInfo fcinfo, const char *fname, int kinds)
{
	TriggerData *td;
	TriggerEvent ev;
	bool		ok;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s can only be called as a trigger", fname)));
	td = (TriggerData *) fcinfo->context;
	ev = td->tg_event;

	if (kinds & CRM_TRIG_BEFORE_ROW)
		ok = TRIGGER_FIRED_BEFORE(ev) && TRIGGER_FIRED_FOR_ROW(ev);
	else if (kinds & CRM_TRIG_AFTER_ROW)
		ok = TRIGGER_FIRED_AFTER(ev) && TRIGGER_FIRED_FOR_ROW(ev);
	else
		ok = TRIGGER_FIRED_AFTER(ev) && TRIGGER_FIRED_FOR_STATEMENT(ev);
	if (TRIGGER_FIRED_BY_INSERT(ev))
		ok = ok && (kinds & CRM_TRIG_INSERT);
	else if (TRIGGER_FIRED_BY_UPDATE(ev))
		ok = ok && (kinds & CRM_TRIG_UPDATE);
	else if (TRIGGER_FIRED_BY_DELETE(ev))
		ok = ok && (kinds & CRM_TRIG_DELETE);
	else
		ok = false;				/* TRUNCATE */
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s must be fired as %s", fname, crm_trigger_kinds_text(kinds))));

	if (!crm_relation_is_own(td->tg_relation))
		crm_refuse_relation(fname, RelationGetRelationName(td->tg_relation),
							RelationGetNamespace(td->tg_relation), td->tg_relation->rd_rel->relowner);
	crm_error_hints_prepare();
	return td;
}

/* See trigger_support.h. */
const char *
crm_trigger_arg(TriggerData *td, int argno, const char *fname, const char *what)
{
	Trigger    *tg = td->tg_trigger;

	if (tg->tgnargs <= argno || tg->tgargs[argno] == NULL || tg->tgargs[argno][0] == '\0')
		crm_refuse_missing_arg(tg->tgname, RelationGetRelationName(td->tg_relation), fname, what);
	return tg->tgargs[argno];
}

/*
 * crm._trigger_table_ok(fname, tg_name, tg_relid, tg_argv, allowed): the
 * checks of crm_trigger_check and crm_trigger_arg for crm's PL/pgSQL
 * trigger functions, which call it first with their TG_NAME, TG_RELID and
 * TG_ARGV.  The relation must be crm's own; its logical table name is the
 * trigger's first argument (on Citus the trigger fires on shards, whose
 * names and OIDs differ from the logical table's), one of "allowed" (NULL:
 * any).  Returns that name.
 */
PG_FUNCTION_INFO_V1(trigger_table_ok);
Datum
trigger_table_ok(PG_FUNCTION_ARGS)
{
	const char *fname = PG_ARGISNULL(0) ? "crm's trigger function" : text_to_cstring(PG_GETARG_TEXT_PP(0));
	const char *tgname = PG_ARGISNULL(1) ? "?" : NameStr(*PG_GETARG_NAME(1));
	Oid			relid = PG_ARGISNULL(2) ? InvalidOid : PG_GETARG_OID(2);
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Form_pg_class form;
	char	   *relname;
	char	   *logical = NULL;
	Name		result;

	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s: relation with OID %u does not exist", fname, relid),
				 errhint("Call crm._trigger_table_ok() with TG_RELID from a trigger function.")));
	form = (Form_pg_class) GETSTRUCT(tup);
	relname = pstrdup(NameStr(form->relname));
	if (!crm_class_is_own(form->relnamespace, form->relowner))
		crm_refuse_relation(fname, relname, form->relnamespace, form->relowner);
	ReleaseSysCache(tup);

	/* the logical table name: the first trigger argument */
	if (!PG_ARGISNULL(3))
	{
		ArrayType  *argv = PG_GETARG_ARRAYTYPE_P(3);
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		deconstruct_array(argv, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
		if (n > 0 && !nulls[0])
			logical = text_to_cstring(DatumGetTextPP(elems[0]));
	}
	if (logical == NULL || logical[0] == '\0')
		crm_refuse_missing_arg(tgname, relname, fname, "logical table name");

	if (!PG_ARGISNULL(4))
	{
		ArrayType  *allowed = PG_GETARG_ARRAYTYPE_P(4);
		Datum	   *elems;
		bool	   *nulls;
		int			n;
		int			i;
		StringInfoData list;

		deconstruct_array(allowed, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
		initStringInfo(&list);
		for (i = 0; i < n; i++)
		{
			char	   *a;

			if (nulls[i])
				continue;
			a = text_to_cstring(DatumGetTextPP(elems[i]));
			if (strcmp(a, logical) == 0)
				break;
			appendStringInfo(&list, "%scrm.%s", list.len > 0 ? ", " : "", a);
		}
		if (i == n)
			ereport(ERROR,
					(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
					 errmsg("%s works only on %s, not on crm.%s", fname, list.data, logical),
					 errdetail("Trigger \"%s\" on \"%s\" names crm.%s as its table.", tgname, relname, logical)));
	}
	result = (Name) palloc0(NAMEDATALEN);
	namestrcpy(result, logical);
	PG_RETURN_NAME(result);
}

/* See trigger_support.h. */
int
crm_trigger_column(Relation rel, const char *name, Oid typid, bool required, const char *fname)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || strcmp(NameStr(att->attname), name) != 0)
			continue;
		if (att->atttypid != typid)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("%s cannot run on table \"%s\": column \"%s\" is of type %s, not %s",
							fname, RelationGetRelationName(rel), name,
							format_type_be(att->atttypid), format_type_be(typid))));
		return i + 1;
	}
	if (required)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("%s cannot run on table \"%s\": it has no column \"%s\"",
						fname, RelationGetRelationName(rel), name)));
	return 0;
}

/* See trigger_support.h. */
void
crm_lock_tag(LOCKTAG *tag, CrmLockSpace space, const pg_uuid_t *org, const char *name, int namelen)
{
	uint32		k1 = hash_bytes(org->data, UUID_LEN);
	uint32		k2 = hash_bytes((const unsigned char *) name, namelen);

	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, k1, k2, (uint16) space);
}

/* See trigger_support.h. */
Oid
crm_relation_owner(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/* See trigger_support.h. */
int
crm_spi_execute_as(Oid owner, SPIPlanPtr plan, Datum *values, const char *nulls,
				   bool read_only, long count)
{
	Oid			save_userid;
	int			save_sec;
	volatile int rc = 0;

	int			nest;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	if (OidIsValid(owner))
		SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_NOFORCE_RLS);
	PG_TRY();
	{
		/*
		 * The statement runs with the owner's rights: it must not resolve a
		 * name or an operator through the caller's search_path (a writable
		 * schema ahead of pg_catalog could plant a better-matching "=").
		 * The plan cache re-analyses a plan made under another path.  An
		 * error unwinds the setting with the (sub)transaction.
		 */
		nest = NewGUCNestLevel();
		(void) set_config_option("search_path", "pg_catalog, crm, pg_temp", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		rc = SPI_execute_plan(plan, values, nulls, read_only, count);
		AtEOXact_GUC(true, nest);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
	return rc;
}

/*
 * The generic plans crm_spi_execute_lookup_as made with enable_seqscan off,
 * by plan source: a plan found here, still the source's generic plan and
 * still valid, can run without the planning set-up.
 */
typedef struct CrmLookupPlan
{
	CachedPlanSource *source;	/* key */
	CachedPlan *plan;			/* its generic plan as made by us */
	int			generation;		/* and that plan's generation */
} CrmLookupPlan;

static HTAB *lookup_plans = NULL;

/* The plan source of a kept single-statement plan, or NULL. */
static CachedPlanSource *
crm_plan_source(SPIPlanPtr plan)
{
	List	   *sources = SPI_plan_get_plan_sources(plan);

	return list_length(sources) == 1 ? (CachedPlanSource *) linitial(sources) : NULL;
}

/*
 * Plan (if the plan cache must) and fetch the generic plan of "plan" with
 * enable_seqscan off, as the execution will fetch it: same role, same
 * search_path (the cache plans again under another).  The relations it
 * locked stay locked, so no invalidation from another backend can make the
 * execution plan it again.  Returns the plan, released.
 */
static CachedPlan *
crm_lookup_plan_prepare(Oid owner, SPIPlanPtr plan)
{
	int			nest = NewGUCNestLevel();
	Oid			save_userid;
	int			save_sec;
	CachedPlan *volatile cplan = NULL;

	(void) set_config_option("search_path", "pg_catalog, crm, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	GetUserIdAndSecContext(&save_userid, &save_sec);
	if (OidIsValid(owner))
		SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_NOFORCE_RLS);
	PG_TRY();
	{
		cplan = SPI_plan_get_cached_plan(plan);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
	if (cplan == NULL)
		elog(ERROR, "SPI_plan_get_cached_plan failed: %s", SPI_result_code_string(SPI_result));
	ReleaseCachedPlan(cplan, CurrentResourceOwner);
	AtEOXact_GUC(true, nest);
	return cplan;
}

/* See trigger_support.h. */
int
crm_spi_execute_lookup_as(Oid owner, SPIPlanPtr plan, Datum *values, const char *nulls,
						  bool read_only, long count)
{
	CachedPlanSource *source = crm_plan_source(plan);
	CrmLookupPlan *made = NULL;
	bool		found;
	int			rc;

	if (source == NULL || !source->is_saved)
		elog(ERROR, "crm_spi_execute_lookup_as: not a kept single-statement plan");
	if (lookup_plans == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(CachedPlanSource *);
		ctl.entrysize = sizeof(CrmLookupPlan);
		lookup_plans = hash_create("crm lookup plans", 32, &ctl, HASH_ELEM | HASH_BLOBS);
	}
	made = (CrmLookupPlan *) hash_search(lookup_plans, &source, HASH_ENTER, &found);
	if (!found)
		made->plan = NULL;

	/*
	 * The planning set-up (two settings saved and restored, the plan fetched
	 * once more) is a measurable part of a one-row statement: skip it while
	 * the generic plan is the one made with it and nothing has invalidated
	 * it.  An invalidation that arrives after this test (while the execution
	 * locks the relations) makes the execution plan again without the
	 * setting; the test after the execution catches that.
	 */
	if (!(source->is_valid && source->gplan != NULL && source->gplan == made->plan &&
		  source->gplan->is_valid && source->gplan->generation == made->generation))
	{
		made->plan = crm_lookup_plan_prepare(owner, plan);
		made->generation = made->plan->generation;
	}
	rc = crm_spi_execute_as(owner, plan, values, nulls, read_only, count);

	/*
	 * A generic plan made during the execution (not by the set-up above) is
	 * marked invalid, as the plan cache marks one whose relations changed:
	 * the next call plans it again with enable_seqscan off.
	 */
	if (source->gplan != NULL && (source->gplan != made->plan || source->gplan->generation != made->generation))
		source->gplan->is_valid = false;
	return rc;
}

/* See trigger_support.h. */
SPIPlanPtr
crm_keep_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes, int cursor_options)
{
	if (*slot == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, argtypes, cursor_options);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		*slot = plan;
	}
	return *slot;
}

/* A cache entry: the key and its plans. */
typedef struct CrmPlanEntry
{
	Oid			key;
	SPIPlanPtr	plans[4];
} CrmPlanEntry;

/* See trigger_support.h. */
SPIPlanPtr *
crm_plan_slot(HTAB **cache, const char *name, Oid key, int nplans, int which)
{
	CrmPlanEntry *e;
	bool		found;

	if (nplans <= 0 || nplans > (int) lengthof(e->plans) || which < 0 || which >= nplans)
		elog(ERROR, "crm_plan_slot: plan %d of %d out of range", which, nplans);
	if (*cache == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(CrmPlanEntry);
		*cache = hash_create(name, 16, &ctl, HASH_ELEM | HASH_BLOBS);
	}
	e = (CrmPlanEntry *) hash_search(*cache, &key, HASH_ENTER, &found);
	if (!found)
		memset(e->plans, 0, sizeof(e->plans));
	return &e->plans[which];
}

/* An empty cache of entries of entry_size bytes, each beginning with a tenant. */
void
crm_tenant_cache_init(CrmTenantCache *tc, size_t entry_size, MemoryContext cxt)
{
	memset(tc, 0, sizeof(*tc));
	tc->entry_size = entry_size;
	tc->cxt = cxt;
}

/* The entry of tenant org, or NULL; the last one found is tried first. */
void *
crm_tenant_cache_find(CrmTenantCache *tc, const pg_uuid_t *org)
{
	int			i;

	if (tc->last < tc->n && memcmp(tc->entries + tc->last * tc->entry_size, org, sizeof(pg_uuid_t)) == 0)
		return tc->entries + tc->last * tc->entry_size;
	for (i = 0; i < tc->n; i++)
		if (memcmp(tc->entries + i * tc->entry_size, org, sizeof(pg_uuid_t)) == 0)
		{
			tc->last = i;
			return tc->entries + i * tc->entry_size;
		}
	return NULL;
}

/* Room for tenant org's entry, zeroed but for the tenant (entries may move). */
void *
crm_tenant_cache_add(CrmTenantCache *tc, const pg_uuid_t *org)
{
	char	   *entry;

	if (tc->n == tc->max)
	{
		tc->max = tc->max == 0 ? 4 : tc->max * 2;
		if (tc->entries == NULL)
			tc->entries = MemoryContextAlloc(tc->cxt, tc->entry_size * tc->max);
		else
			tc->entries = repalloc(tc->entries, tc->entry_size * tc->max);
	}
	entry = tc->entries + tc->n * tc->entry_size;
	memset(entry, 0, tc->entry_size);
	memcpy(entry, org, sizeof(pg_uuid_t));
	tc->last = tc->n++;
	return entry;
}
