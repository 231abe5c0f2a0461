/*
 * stamp.c
 *		crm.trg_stamp(): the BEFORE INSERT OR UPDATE row trigger on every core
 *		table that keeps the common columns honest.
 *
 * INSERT: created_at defaults to now() and updated_at to created_at when the
 *		writer gave none (so imports can carry their history); created_by and
 *		updated_by are the acting user (crm.user_id) when one is set; an
 *		explicit NULL id or organization_id gets its default (a new uuid v7,
 *		the current organization), as ORMs send NULL for generated keys.
 * UPDATE: updated_at = now(), updated_by = the acting user (NULL when none:
 *		a system write); created_at/created_by keep their old values, and id
 *		and organization_id cannot change (a row never moves to another tenant).
 * In restore mode (crm.restoring) rows are left exactly as loaded.
 *
 * It runs only on crm's own tables and checks the type of every common
 * column it reads or writes (trigger_support.c): a column of that name with
 * another type is an error, never a value written as if it were a uuid.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "crm.h"
#include "trigger_support.h"

#define STAMP_FNAME "crm.trg_stamp()"

/* Attribute numbers of the common columns, found once per statement. */
typedef struct StampColumns
{
	Oid			relid;
	int			id;
	int			org;
	int			created_at;
	int			updated_at;
	int			created_by;
	int			updated_by;
} StampColumns;

/* The cached column numbers for this trigger's relation. */
static StampColumns *
stamp_columns(FunctionCallInfo fcinfo, Relation rel)
{
	StampColumns *c = (StampColumns *) fcinfo->flinfo->fn_extra;

	if (c == NULL || c->relid != RelationGetRelid(rel))
	{
		c = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(StampColumns));
		c->relid = RelationGetRelid(rel);
		c->id = crm_trigger_column(rel, "id", UUIDOID, false, STAMP_FNAME);
		c->org = crm_trigger_column(rel, "organization_id", UUIDOID, false, STAMP_FNAME);
		c->created_at = crm_trigger_column(rel, "created_at", TIMESTAMPTZOID, false, STAMP_FNAME);
		c->updated_at = crm_trigger_column(rel, "updated_at", TIMESTAMPTZOID, false, STAMP_FNAME);
		c->created_by = crm_trigger_column(rel, "created_by", UUIDOID, false, STAMP_FNAME);
		c->updated_by = crm_trigger_column(rel, "updated_by", UUIDOID, false, STAMP_FNAME);
		fcinfo->flinfo->fn_extra = c;
	}
	return c;
}

/* Refuse a change of an identifying column. */
static void
check_unchanged(HeapTuple oldtup, HeapTuple newtup, TupleDesc desc, int attnum, const char *table)
{
	bool		oldnull,
				newnull;
	Datum		o,
				n;

	if (attnum == 0)
		return;
	o = heap_getattr(oldtup, attnum, desc, &oldnull);
	n = heap_getattr(newtup, attnum, desc, &newnull);
	if (oldnull != newnull || (!oldnull && !datumIsEqual(o, n, false, UUID_LEN)))
		ereport(ERROR,
				(errcode(ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION),
				 errmsg("column \"%s\" of crm.%s cannot be changed",
						NameStr(TupleDescAttr(desc, attnum - 1)->attname),
						table),
				 errdetail("A record keeps its id and its organization for life."),
				 errhint("Create a new record instead.")));
}

PG_FUNCTION_INFO_V1(stamp_row);

/* SQL: crm.trg_stamp() returns trigger (BEFORE INSERT OR UPDATE, FOR EACH ROW) */
Datum
stamp_row(PG_FUNCTION_ARGS)
{
	TriggerData *td;
	Relation	rel;
	TupleDesc	desc;
	StampColumns *c;
	HeapTuple	tup;
	int			cols[6];
	Datum		vals[6];
	bool		nulls[6];
	pg_uuid_t  *newid = NULL;
	pg_uuid_t  *neworg = NULL;
	int			n = 0;
	pg_uuid_t  *actor;
	bool		have_actor;
	Datum		now;

	td = crm_trigger_check(fcinfo, STAMP_FNAME, CRM_TRIG_BEFORE_ROW | CRM_TRIG_INSERT | CRM_TRIG_UPDATE);
	rel = td->tg_relation;
	desc = RelationGetDescr(rel);
	tup = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;

	if (crm_restoring)
		return PointerGetDatum(tup);

	c = stamp_columns(fcinfo, rel);
	actor = palloc(UUID_LEN);
	have_actor = crm_acting_user(actor);
	now = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());

	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		bool		isnull;
		Datum		created = 0;

		/*
		 * An explicit NULL id or organization_id gets the column's default:
		 * ORMs (Sequelize and others) send id = NULL for a key the database
		 * generates.
		 */
		if (c->id)
		{
			(void) heap_getattr(tup, c->id, desc, &isnull);
			if (isnull)
			{
				newid = palloc(UUID_LEN);
				crm_uuid7_generate(newid);
				cols[n] = c->id;
				vals[n] = UUIDPGetDatum(newid);
				nulls[n++] = false;
			}
		}
		if (c->org)
		{
			(void) heap_getattr(tup, c->org, desc, &isnull);
			if (isnull)
			{
				neworg = palloc(UUID_LEN);
				*neworg = crm_current_org_uuid();
				cols[n] = c->org;
				vals[n] = UUIDPGetDatum(neworg);
				nulls[n++] = false;
			}
		}

		if (c->created_at)
		{
			created = heap_getattr(tup, c->created_at, desc, &isnull);
			if (isnull)
			{
				created = now;
				cols[n] = c->created_at;
				vals[n] = now;
				nulls[n++] = false;
			}
		}
		if (c->updated_at)
		{
			(void) heap_getattr(tup, c->updated_at, desc, &isnull);
			if (isnull)
			{
				cols[n] = c->updated_at;
				vals[n] = c->created_at ? created : now;
				nulls[n++] = false;
			}
		}
		if (have_actor && c->created_by)
		{
			cols[n] = c->created_by;
			vals[n] = UUIDPGetDatum(actor);
			nulls[n++] = false;
		}
		if (have_actor && c->updated_by)
		{
			cols[n] = c->updated_by;
			vals[n] = UUIDPGetDatum(actor);
			nulls[n++] = false;
		}
	}
	else
	{
		HeapTuple	old = td->tg_trigtuple;
		bool		isnull;
		const char *table = crm_trigger_arg(td, 0, STAMP_FNAME, "table name");

		check_unchanged(old, tup, desc, c->id, table);
		check_unchanged(old, tup, desc, c->org, table);
		if (c->created_at)
		{
			cols[n] = c->created_at;
			vals[n] = heap_getattr(old, c->created_at, desc, &isnull);
			nulls[n++] = isnull;
		}
		if (c->created_by)
		{
			cols[n] = c->created_by;
			vals[n] = heap_getattr(old, c->created_by, desc, &isnull);
			nulls[n++] = isnull;
		}
		if (c->updated_at)
		{
			cols[n] = c->updated_at;
			vals[n] = now;
			nulls[n++] = false;
		}
		if (c->updated_by)
		{
			cols[n] = c->updated_by;
			vals[n] = have_actor ? UUIDPGetDatum(actor) : (Datum) 0;
			nulls[n++] = !have_actor;
		}
	}

	if (n > 0)
		tup = heap_modify_tuple_by_cols(tup, desc, n, cols, vals, nulls);
	return PointerGetDatum(tup);
}
