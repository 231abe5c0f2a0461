/*
 * picklists.c
 *		crm.trg_picklists(): the BEFORE INSERT OR UPDATE row trigger that
 *		checks the descriptive columns of a record (account type, industry,
 *		lead source, ...) against its tenant's crm.picklist_value list, so a
 *		value outside the list is refused with an error that names the
 *		allowed values.
 *
 * The guarantee itself is a composite foreign key (organization_id,
 * <column>_list, <column>) -> crm.picklist_value (organization_id, list,
 * value) on every picklist column: index-served, safe against a concurrent
 * removal of the value, and distributable with Citus.  A foreign key error
 * cannot say what is allowed, though (and under row-level security it does
 * not even show the key), so this trigger checks first and, only when the
 * value is not in the list, builds the message.
 *
 * Trigger arguments: the logical table name, then pairs of (column, list),
 * set by crm._setup_picklist().  The tenant's values of those lists are
 * loaded once per statement and tenant with a kept plan, as the caller (so
 * row-level security applies) and with an explicit organization filter;
 * each row then costs a binary search per changed picklist column.  An
 * UPDATE that leaves a column as it was does not check it, so a record keeps
 * a value that has been retired (is_active = false) since it was set.
 *
 * Violations are SQLSTATE 23514 (check_violation), like the CHECK
 * constraints these lists replaced; the error carries the table, column and
 * the name of the foreign key.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/uuid.h"

#include "crm.h"
#include "trigger_support.h"

#define PL_TRIGGER_FNAME "crm.trg_picklists()"
/* Bytes of an offending value quoted in an error. */
#define PL_VALUE_QUOTE 80
/* Allowed values listed in an error at most. */
#define PL_DETAIL_VALUES 40

/* One value of a tenant's list. */
typedef struct PlValue
{
	char	   *value;
	int			len;
	int			position;
	bool		active;
} PlValue;

/* A tenant's values of one list, sorted bytewise for the lookup. */
typedef struct PlList
{
	int			nvalues;
	PlValue    *values;
} PlList;

/* The lists of one tenant (indexed like PlCache.lists). */
typedef struct PlOrg
{
	pg_uuid_t	org;
	bool		foreign;		/* another tenant's row under RLS: not ours to judge */
	PlList	   *lists;
} PlOrg;

/* A picklist column of the trigger's table. */
typedef struct PlColumn
{
	int			attnum;
	const char *column;
	int			list;			/* index into PlCache.lists */
} PlColumn;

/* The per-statement cache kept in fn_extra. */
typedef struct PlCache
{
	Oid			relid;
	const char *table;
	int			org_attnum;
	int			ncols;
	PlColumn   *cols;
	int			nlists;
	const char **lists;
	CrmTenantCache tenants;		/* PlOrg of each tenant seen */
	MemoryContext cxt;
} PlCache;

/* The kept plan loading one tenant's values of some lists. */
static SPIPlanPtr pl_load_plan = NULL;

/* The columns and lists named by the trigger's arguments. */
static PlCache *
pl_cache(FunctionCallInfo fcinfo, TriggerData *td)
{
	PlCache    *c = (PlCache *) fcinfo->flinfo->fn_extra;
	Relation	rel = td->tg_relation;
	Trigger    *trig = td->tg_trigger;
	MemoryContext old;
	int			i;

	if (c != NULL && c->relid == RelationGetRelid(rel))
		return c;
	if (trig->tgnargs < 3 || trig->tgnargs % 2 != 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s needs the table name and pairs of (column, list) as arguments", PL_TRIGGER_FNAME),
				 errhint("Create picklist triggers with crm._setup_picklist().")));

	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	c = palloc0(sizeof(PlCache));
	c->relid = RelationGetRelid(rel);
	c->cxt = fcinfo->flinfo->fn_mcxt;
	c->table = pstrdup(crm_trigger_arg(td, 0, PL_TRIGGER_FNAME, "table name"));
	c->org_attnum = crm_trigger_column(rel, "organization_id", UUIDOID, true, PL_TRIGGER_FNAME);
	crm_tenant_cache_init(&c->tenants, sizeof(PlOrg), c->cxt);
	c->ncols = (trig->tgnargs - 1) / 2;
	c->cols = palloc0(sizeof(PlColumn) * c->ncols);
	c->lists = palloc0(sizeof(char *) * c->ncols);
	for (i = 0; i < c->ncols; i++)
	{
		const char *column = trig->tgargs[1 + 2 * i];
		const char *list = trig->tgargs[2 + 2 * i];
		int			j;

		c->cols[i].column = pstrdup(column);
		c->cols[i].attnum = crm_trigger_column(rel, column, TEXTOID, true, PL_TRIGGER_FNAME);
		for (j = 0; j < c->nlists; j++)
			if (strcmp(c->lists[j], list) == 0)
				break;
		if (j == c->nlists)
			c->lists[c->nlists++] = pstrdup(list);
		c->cols[i].list = j;
	}
	MemoryContextSwitchTo(old);
	fcinfo->flinfo->fn_extra = c;
	return c;
}

/* qsort comparator: by value, bytewise. */
static int
pl_value_cmp(const void *a, const void *b)
{
	const PlValue *x = (const PlValue *) a;
	const PlValue *y = (const PlValue *) b;

	return crm_bytes_cmp(x->value, x->len, y->value, y->len);
}

/* Load a tenant's values of the cached lists into o (in c->cxt). */
static void
pl_load(PlCache *c, PlOrg *o, const pg_uuid_t *org)
{
	Datum		args[2];
	Datum	   *names;
	int			rc;
	int			i;
	uint64		r;
	int		   *counts;
	MemoryContext old;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (pl_load_plan == NULL)
	{
		Oid			argtypes[2] = {UUIDOID, TEXTARRAYOID};

		(void) crm_keep_plan(&pl_load_plan,
							 "SELECT v.list, v.value, v.position, v.is_active"
							 "  FROM crm.picklist_value v"
							 " WHERE v.organization_id OPERATOR(pg_catalog.=) $1"
							 "   AND v.list OPERATOR(pg_catalog.=) ANY ($2)",
							 2, argtypes, 0);
	}
	names = palloc(sizeof(Datum) * c->nlists);
	for (i = 0; i < c->nlists; i++)
		names[i] = CStringGetTextDatum(c->lists[i]);
	args[0] = UUIDPGetDatum(org);
	args[1] = PointerGetDatum(construct_array(names, c->nlists, TEXTOID, -1, false, TYPALIGN_INT));
	rc = SPI_execute_plan(pl_load_plan, args, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "loading picklist values failed: %s", SPI_result_code_string(rc));

	old = MemoryContextSwitchTo(c->cxt);
	o->lists = palloc0(sizeof(PlList) * c->nlists);
	counts = palloc0(sizeof(int) * c->nlists);
	for (i = 0; i < c->nlists; i++)
		o->lists[i].values = palloc0(sizeof(PlValue) * Max(1, SPI_processed));
	for (r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *list = TextDatumGetCString(heap_getattr(tup, 1, desc, &isnull));
		PlValue    *v;

		for (i = 0; i < c->nlists; i++)
			if (strcmp(c->lists[i], list) == 0)
				break;
		if (i == c->nlists)
			continue;
		v = &o->lists[i].values[counts[i]++];
		v->value = TextDatumGetCString(heap_getattr(tup, 2, desc, &isnull));
		v->len = strlen(v->value);
		v->position = DatumGetInt32(heap_getattr(tup, 3, desc, &isnull));
		v->active = DatumGetBool(heap_getattr(tup, 4, desc, &isnull));
	}
	for (i = 0; i < c->nlists; i++)
	{
		o->lists[i].nvalues = counts[i];
		qsort(o->lists[i].values, counts[i], sizeof(PlValue), pl_value_cmp);
	}
	MemoryContextSwitchTo(old);
	SPI_finish();
}

/*
 * The lists of a tenant, from the cache or loaded now.  Under row-level
 * security the caller sees only the current organization's values; a row
 * of another organization is refused by the policy's WITH CHECK, which
 * says so better than an empty list would, so such a row is not checked.
 */
static PlOrg *
pl_org(PlCache *c, Relation rel, const pg_uuid_t *org)
{
	PlOrg	   *o = crm_tenant_cache_find(&c->tenants, org);

	if (o != NULL)
		return o;
	o = crm_tenant_cache_add(&c->tenants, org);
	if (check_enable_rls(RelationGetRelid(rel), InvalidOid, true) == RLS_ENABLED)
	{
		pg_uuid_t	cur = crm_current_org_uuid();

		if (memcmp(&cur, org, sizeof(pg_uuid_t)) != 0)
		{
			o->foreign = true;
			return o;
		}
	}
	pl_load(c, o, org);
	return o;
}

/* The value of list equal to (s, len), or NULL. */
static PlValue *
pl_find(PlList *l, const char *s, int len)
{
	PlValue		key;

	key.value = unconstify(char *, s);
	key.len = len;
	return bsearch(&key, l->values, l->nvalues, sizeof(PlValue), pl_value_cmp);
}

/* qsort comparator: display order (position, then value). */
static int
pl_display_cmp(const void *a, const void *b)
{
	const PlValue *x = *(const PlValue *const *) a;
	const PlValue *y = *(const PlValue *const *) b;

	if (x->position != y->position)
		return x->position < y->position ? -1 : 1;
	return crm_bytes_cmp(x->value, x->len, y->value, y->len);
}

/* "a, b, c" of the active values of a list, in display order. */
static char *
pl_allowed_text(PlList *l, int *nactive)
{
	StringInfoData buf;
	PlValue   **order = palloc(sizeof(PlValue *) * Max(1, l->nvalues));
	int			n = 0;
	int			i;

	for (i = 0; i < l->nvalues; i++)
		if (l->values[i].active)
			order[n++] = &l->values[i];
	qsort(order, n, sizeof(PlValue *), pl_display_cmp);
	initStringInfo(&buf);
	for (i = 0; i < n && i < PL_DETAIL_VALUES; i++)
		appendStringInfo(&buf, "%s%s", i > 0 ? ", " : "", order[i]->value);
	if (n > PL_DETAIL_VALUES)
		appendStringInfo(&buf, ", ... (%d in all)", n);
	*nactive = n;
	return buf.data;
}

/* A value quoted for a message, cut to PL_VALUE_QUOTE bytes. */
static char *
pl_quote(const char *s, int len)
{
	if (len > PL_VALUE_QUOTE)
		return psprintf("%s...", pnstrdup(s, pg_mbcliplen(s, len, PL_VALUE_QUOTE)));
	return pnstrdup(s, len);
}

/* Refuse a value that is not an active value of the tenant's list. */
static void
pl_refuse(PlCache *c, PlColumn *col, PlList *l, PlValue *found, Relation rel,
		  const char *s, int len)
{
	const char *list = c->lists[col->list];
	int			nactive;
	char	   *allowed = pl_allowed_text(l, &nactive);
	char	   *value = pl_quote(s, len);
	char	   *detail;
	char	   *literal;

	if (nactive == 0)
		detail = psprintf("The organization's picklist \"%s\" has no active values.", list);
	else if (found != NULL)
		detail = psprintf("\"%s\" is retired (is_active = false) in the organization's picklist \"%s\"; allowed: %s.",
						  value, list, allowed);
	else
		detail = psprintf("The organization's picklist \"%s\" allows: %s.", list, allowed);

	/* the hint's SQL names the value when it is short enough to quote */
	literal = len <= PL_VALUE_QUOTE ? quote_literal_cstr(value) : "'...'";
	ereport(ERROR,
			(errcode(ERRCODE_CHECK_VIOLATION),
			 errmsg("\"%s\" is not an allowed value of crm.%s.%s", value, c->table, col->column),
			 errdetail_internal("%s", detail),
			 found != NULL
			 ? errhint("Use one of the allowed values, or have an admin reactivate it: UPDATE crm.picklist_value SET is_active = true WHERE list = '%s' AND value = %s.",
					   list, literal)
			 : errhint("Use one of the allowed values, or have an admin add it: INSERT INTO crm.picklist_value (list, value) VALUES ('%s', %s).",
					   list, literal),
			 errtablecol(rel, col->attnum),
			 err_generic_string(PG_DIAG_CONSTRAINT_NAME,
								psprintf("%s_%s_fkey", c->table, col->column))));
}

PG_FUNCTION_INFO_V1(picklist_check);

/* SQL: crm.trg_picklists() returns trigger (BEFORE INSERT OR UPDATE OF <columns>, FOR EACH ROW) */
Datum
picklist_check(PG_FUNCTION_ARGS)
{
	TriggerData *td;
	Relation	rel;
	TupleDesc	desc;
	HeapTuple	tup;
	HeapTuple	oldtup = NULL;
	PlCache    *c;
	PlOrg	   *o = NULL;
	Datum		orgd;
	bool		isnull;
	int			i;

	td = crm_trigger_check(fcinfo, PL_TRIGGER_FNAME, CRM_TRIG_BEFORE_ROW | CRM_TRIG_INSERT | CRM_TRIG_UPDATE);
	rel = td->tg_relation;
	desc = RelationGetDescr(rel);
	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		tup = td->tg_newtuple;
		oldtup = td->tg_trigtuple;
	}
	else
		tup = td->tg_trigtuple;

	if (crm_restoring)
		return PointerGetDatum(tup);

	c = pl_cache(fcinfo, td);
	orgd = heap_getattr(tup, c->org_attnum, desc, &isnull);
	if (isnull)
		return PointerGetDatum(tup);	/* for the NOT NULL constraint to report */

	for (i = 0; i < c->ncols; i++)
	{
		PlColumn   *col = &c->cols[i];
		Datum		d = heap_getattr(tup, col->attnum, desc, &isnull);
		text	   *t;
		PlList	   *l;
		PlValue    *v;

		if (isnull)
			continue;
		t = DatumGetTextPP(d);
		if (oldtup != NULL)
		{
			bool		oldnull;
			Datum		od = heap_getattr(oldtup, col->attnum, desc, &oldnull);

			/* unchanged: it was valid when set, even if since retired */
			if (!oldnull)
			{
				text	   *ot = DatumGetTextPP(od);

				if (crm_bytes_cmp(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t),
								 VARDATA_ANY(ot), VARSIZE_ANY_EXHDR(ot)) == 0)
					continue;
			}
		}
		if (o == NULL)
			o = pl_org(c, rel, DatumGetUUIDP(orgd));
		if (o->foreign)
			break;
		l = &o->lists[col->list];
		v = pl_find(l, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
		if (v == NULL || !v->active)
			pl_refuse(c, col, l, v, rel, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
	}
	return PointerGetDatum(tup);
}
