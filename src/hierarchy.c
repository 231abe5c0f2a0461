/*
 * hierarchy.c
 *		crm.trg_no_cycle(table, parent_column): the BEFORE INSERT OR UPDATE OF
 *		parent row trigger on every hierarchy (accounts, territories, and the
 *		hierarchies later features add).  A new parent link must never close
 *		a cycle, at any isolation level.
 *
 * How that holds under concurrency: two transactions that each add one edge
 * of a cycle (A under B, B under A) must not both pass.  Every change of a
 * parent link of one tenant's hierarchy takes an exclusive lock on (tenant,
 * table) in crm's own advisory keyspace (trigger_support.h: no SQL caller
 * can compute or take it) and holds it to the end of the transaction.  The
 * walk up from the new parent then runs with a snapshot taken after the
 * lock was granted (GetLatestSnapshot, as the RI triggers do for their
 * cross-check), so it sees every link committed by a transaction that held
 * the lock before, also in REPEATABLE READ and SERIALIZABLE, whose own
 * snapshot would not.  A link another transaction is still adding cannot
 * exist: that transaction holds the lock.
 *
 * The walk is one recursive query, prepared once per backend and trigger
 * (kept plan, keyed by trigger OID), with an explicit organization_id
 * filter so that on Citus it routes to the tenant's shard.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

#include "crm.h"
#include "trigger_support.h"

#define NO_CYCLE_FNAME "crm.trg_no_cycle()"
/* Deeper hierarchies are not walked further (and reported as a cycle). */
#define NO_CYCLE_MAX_DEPTH 10000

/* Kept plans of the walk, per trigger (its arguments are fixed for life). */
static HTAB *no_cycle_plans = NULL;

/* The kept plan of the walk for this trigger, prepared on first use. */
static SPIPlanPtr
no_cycle_plan(Oid tgoid, const char *table, const char *column)
{
	SPIPlanPtr *slot = crm_plan_slot(&no_cycle_plans, "crm hierarchy plans", tgoid, 1, 0);
	StringInfoData sql;
	Oid			argtypes[3] = {UUIDOID, UUIDOID, UUIDOID};
	SPIPlanPtr	plan;

	if (*slot != NULL)
		return *slot;

	/*
	 * $1 the new parent, $2 the tenant, $3 the record.  The path is carried
	 * so that the error can name the records of the cycle.
	 */
	initStringInfo(&sql);
	/*
	 * Each step is one primary-key lookup (LATERAL ... LIMIT 1): the plan is
	 * kept and generic, and a join of the whole CTE with the table would let
	 * the planner read the whole tenant at every step.
	 */
	appendStringInfo(&sql,
					 "WITH RECURSIVE up(id, path) AS ("
					 " SELECT $1::uuid, ARRAY[$1::uuid]"
					 " UNION ALL"
					 " SELECT p.parent, up.path || p.parent FROM up"
					 " CROSS JOIN LATERAL (SELECT t.%s AS parent FROM crm.%s t"
					 " WHERE t.organization_id OPERATOR(pg_catalog.=) $2"
					 " AND t.id OPERATOR(pg_catalog.=) up.id LIMIT 1) p"
					 " WHERE p.parent IS NOT NULL"
					 " AND up.id OPERATOR(pg_catalog.<>) $3"
					 " AND pg_catalog.cardinality(up.path) < %d)"
					 " SELECT up.path FROM up"
					 " WHERE up.id OPERATOR(pg_catalog.=) $3 OR pg_catalog.cardinality(up.path) >= %d"
					 " LIMIT 1",
					 quote_identifier(column), quote_identifier(table),
					 NO_CYCLE_MAX_DEPTH, NO_CYCLE_MAX_DEPTH);
	plan = crm_keep_plan(slot, sql.data, 3, argtypes, 0);
	pfree(sql.data);
	return plan;
}

/*
 * "a -> b -> c" of a path of uuids (the first and last few when it is long),
 * in the upper executor context, so that it outlives SPI_finish.  *closed
 * says whether the path ends at "id" (else it hit the depth limit).
 */
static char *
no_cycle_path_text(Datum path, Datum id, bool *closed)
{
	ArrayType  *a = DatumGetArrayTypeP(path);
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i;
	StringInfoData s;

	deconstruct_array(a, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR, &elems, &nulls, &n);
	*closed = n > 0 && !nulls[n - 1] &&
		memcmp(DatumGetUUIDP(elems[n - 1]), DatumGetUUIDP(id), UUID_LEN) == 0;
	initStringInfo(&s);
	for (i = 0; i < n; i++)
	{
		if (n > 12 && i == 5)
		{
			appendStringInfo(&s, " -> (%d more)", n - 10);
			i = n - 5;
		}
		if (i > 0)
			appendStringInfoString(&s, " -> ");
		appendStringInfoString(&s, nulls[i] ? "?" : DatumGetCString(DirectFunctionCall1(uuid_out, elems[i])));
	}
	{
		char	   *r = SPI_palloc(s.len + 1);

		memcpy(r, s.data, s.len + 1);
		return r;
	}
}

/* The text of a uuid datum. */
static char *
uuid_text(Datum u)
{
	return DatumGetCString(DirectFunctionCall1(uuid_out, u));
}

PG_FUNCTION_INFO_V1(hierarchy_no_cycle);

/* SQL: crm.trg_no_cycle(table, parent_column) returns trigger (BEFORE INSERT OR UPDATE OF parent, FOR EACH ROW) */
Datum
hierarchy_no_cycle(PG_FUNCTION_ARGS)
{
	TriggerData *td;
	Relation	rel;
	TupleDesc	desc;
	HeapTuple	tup;
	const char *table;
	const char *column;
	int			id_att,
				org_att,
				parent_att;
	Datum		parent,
				org,
				id;
	bool		isnull;
	LOCKTAG		tag;
	SPIPlanPtr	plan;
	Datum		args[3];
	int			rc;

	td = crm_trigger_check(fcinfo, NO_CYCLE_FNAME, CRM_TRIG_BEFORE_ROW | CRM_TRIG_INSERT | CRM_TRIG_UPDATE);
	rel = td->tg_relation;
	desc = RelationGetDescr(rel);
	tup = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	if (crm_restoring)
		return PointerGetDatum(tup);

	table = crm_trigger_arg(td, 0, NO_CYCLE_FNAME, "table name");
	column = crm_trigger_arg(td, 1, NO_CYCLE_FNAME, "parent column");
	id_att = crm_trigger_column(rel, "id", UUIDOID, true, NO_CYCLE_FNAME);
	org_att = crm_trigger_column(rel, "organization_id", UUIDOID, true, NO_CYCLE_FNAME);
	parent_att = crm_trigger_column(rel, column, UUIDOID, true, NO_CYCLE_FNAME);

	parent = heap_getattr(tup, parent_att, desc, &isnull);
	if (isnull)
		return PointerGetDatum(tup);
	org = heap_getattr(tup, org_att, desc, &isnull);
	if (isnull)
		return PointerGetDatum(tup);	/* the NOT NULL constraint reports it */
	id = heap_getattr(tup, id_att, desc, &isnull);
	if (isnull)
		return PointerGetDatum(tup);

	/* an unchanged link adds no edge */
	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		bool		oldnull;
		Datum		oldparent = heap_getattr(td->tg_trigtuple, parent_att, desc, &oldnull);

		if (!oldnull && memcmp(DatumGetUUIDP(oldparent), DatumGetUUIDP(parent), UUID_LEN) == 0)
			return PointerGetDatum(tup);
	}

	/* a record directly under itself needs no walk */
	if (memcmp(DatumGetUUIDP(parent), DatumGetUUIDP(id), UUID_LEN) != 0)
	{
		crm_lock_tag(&tag, CRM_LOCK_HIERARCHY, DatumGetUUIDP(org), table, strlen(table));
		(void) LockAcquire(&tag, ExclusiveLock, false, false);

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		plan = no_cycle_plan(td->tg_trigger->tgoid, table, column);
		args[0] = parent;
		args[1] = org;
		args[2] = id;
		/* a snapshot taken now, after the lock: see the links committed before */
		rc = SPI_execute_snapshot(plan, args, NULL, GetLatestSnapshot(), InvalidSnapshot,
								  true, false, 1);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "hierarchy walk failed: %s", SPI_result_code_string(rc));
		if (SPI_processed == 0)
		{
			SPI_finish();
			return PointerGetDatum(tup);
		}
		else
		{
			Datum		path = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
			bool		closed = false;
			char	   *chain = isnull ? pstrdup("?") : no_cycle_path_text(path, id, &closed);

			SPI_finish();
			if (!closed)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("crm.%s %s cannot have %s as its parent: the hierarchy above it is deeper than %d levels",
								table, uuid_text(id), uuid_text(parent), NO_CYCLE_MAX_DEPTH),
						 errdetail("Going up from the new parent: %s.", chain)));
			ereport(ERROR,
					(errcode(ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION),
					 errmsg("crm.%s %s cannot have %s as its parent: that would make a cycle",
							table, uuid_text(id), uuid_text(parent)),
					 errdetail("Going up from the new parent leads back to the record: %s.", chain),
					 errhint("A record cannot be its own ancestor; move the other record first.")));
		}
	}
	ereport(ERROR,
			(errcode(ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION),
			 errmsg("crm.%s %s cannot have itself as its parent", table, uuid_text(id)),
			 errhint("Choose another parent, or none.")));
	return (Datum) 0;
}
