/*
 * live_refs.c
 *		crm.trg_live_refs(table): soft delete that holds.  A BEFORE INSERT OR
 *		UPDATE row trigger on every core table (crm._setup_tenant_table):
 *
 *	As a child: a new or changed reference -- a tenant foreign key
 *	(organization_id, x_id) to a crm table that has deleted_at -- must point
 *	at a live record.  A reference to a soft-deleted record, or to one merged
 *	away (crm.merge soft-deletes the victims), is refused with 23503, naming
 *	the record and, for a merged one, the record it was merged into.
 *	Unchanged references are not looked at: editing an old activity of a
 *	deleted contact stays possible.
 *
 *	As a parent: when a row's deleted_at goes from NULL to a value, the row is
 *	locked FOR UPDATE (stronger than the lock its UPDATE holds).
 *
 * Why that holds under concurrency: the child's look-up takes FOR KEY SHARE
 * on the parent row (as the foreign-key check itself does), which conflicts
 * with FOR UPDATE -- the lock a soft delete now takes and crm.merge takes on
 * survivor and victims before it reads them -- and with nothing an ordinary
 * UPDATE of the parent takes.  So a reference and a deletion or merge of its
 * target serialise: in READ COMMITTED the reference waits, re-reads the
 * committed parent and is refused; the deletion (or merge) waits for the
 * reference's transaction and then, for a merge, re-points the now
 * committed reference with its later statements.  In REPEATABLE READ and
 * SERIALIZABLE the waiting reference fails with 40001 (retry).  Never does a
 * reference end pointing at a merged-away record.
 *
 * The look-ups run as the owner of the referenced table, like PostgreSQL's
 * own foreign-key checks (a user-level role has no UPDATE privilege on
 * crm.app_user, which FOR KEY SHARE needs), so each carries an explicit
 * organization_id filter; plans are prepared once per backend and
 * referenced relation and kept.
 *
 * A transaction looks a record up once: the references it has found live
 * and locked FOR KEY SHARE are remembered until it ends (a bulk load of
 * contacts names the same accounts and owners again and again).  That is
 * exact because the lock holds to the end of the transaction, and while it
 * holds no other transaction can soft-delete or merge the record (both take
 * FOR UPDATE).  What can end it early is forgotten with it: a rolled-back
 * subtransaction (whose locks are released) empties the memory, and so does
 * a soft delete by the transaction itself (its own FOR UPDATE does not wait
 * for its own FOR KEY SHARE) and any write in restore mode.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "crm.h"
#include "trigger_support.h"

#define LIVE_FNAME "crm.trg_live_refs()"

/* One reference of the trigger's table to a soft-deletable crm table. */
typedef struct LiveRef
{
	AttrNumber	attnum;			/* the x_id column of the child */
	Oid			refrelid;		/* the referenced table */
} LiveRef;

/* The references of the trigger's table, found once per statement. */
typedef struct LiveRefs
{
	Oid			relid;
	int			nrefs;
	LiveRef    *refs;
	AttrNumber	org_att;
	AttrNumber	id_att;
	AttrNumber	deleted_att;	/* 0: the table itself has no soft delete */
} LiveRefs;

/* Kept plans per referenced (or own) relation: the look-up and the lock. */
static HTAB *live_plans = NULL;

/* The references found live and locked by this transaction (see above). */
typedef struct LiveSeenKey
{
	Oid			refrelid;
	pg_uuid_t	org;
	pg_uuid_t	id;
} LiveSeenKey;

static HTAB *live_seen = NULL;
static LocalTransactionId live_seen_lxid = InvalidLocalTransactionId;
static bool live_seen_callback = false;

/* at most this many remembered references per transaction */
#define LIVE_SEEN_MAX 200000

#define LIVE_PLAN_LOOKUP 0		/* deleted_at of (org, id), FOR KEY SHARE */
#define LIVE_PLAN_LOCK 1		/* (org, id) FOR UPDATE */

/* Attribute number of a uuid/timestamptz column, or 0 (type checked). */
static AttrNumber
live_column(Relation rel, const char *name, Oid typid)
{
	return crm_trigger_column(rel, name, typid, false, LIVE_FNAME);
}

/* Whether relation relid is a crm table with a deleted_at timestamptz column. */
static bool
live_soft_deletable(Oid relid)
{
	AttrNumber	a = get_attnum(relid, "deleted_at");

	return a != InvalidAttrNumber && get_atttype(relid, a) == TIMESTAMPTZOID &&
		get_rel_namespace(relid) == get_namespace_oid("crm", false);
}

/* The references of rel to soft-deletable tables (tenant keys only). */
static LiveRefs *
live_refs(FunctionCallInfo fcinfo, Relation rel)
{
	LiveRefs   *r = (LiveRefs *) fcinfo->flinfo->fn_extra;
	List	   *fks;
	ListCell   *lc;
	MemoryContext old;

	if (r != NULL && r->relid == RelationGetRelid(rel))
		return r;
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	r = palloc0(sizeof(LiveRefs));
	r->relid = RelationGetRelid(rel);
	r->org_att = crm_trigger_column(rel, "organization_id", UUIDOID, true, LIVE_FNAME);
	r->id_att = crm_trigger_column(rel, "id", UUIDOID, true, LIVE_FNAME);
	r->deleted_att = live_column(rel, "deleted_at", TIMESTAMPTZOID);
	fks = RelationGetFKeyList(rel);
	r->refs = palloc0(sizeof(LiveRef) * Max(list_length(fks), 1));
	foreach(lc, fks)
	{
		ForeignKeyCacheInfo *fk = lfirst_node(ForeignKeyCacheInfo, lc);
		TupleDesc	desc = RelationGetDescr(rel);

		/* tenant keys: (organization_id, x_id) -> (organization_id, id) */
		if (fk->nkeys != 2 || fk->conkey[0] != r->org_att ||
			get_attnum(fk->confrelid, "organization_id") != fk->confkey[0] ||
			get_attnum(fk->confrelid, "id") != fk->confkey[1] ||
			TupleDescAttr(desc, fk->conkey[1] - 1)->atttypid != UUIDOID ||
			!live_soft_deletable(fk->confrelid))
			continue;
		r->refs[r->nrefs].attnum = fk->conkey[1];
		r->refs[r->nrefs].refrelid = fk->confrelid;
		r->nrefs++;
	}
	MemoryContextSwitchTo(old);
	fcinfo->flinfo->fn_extra = r;
	return r;
}

/* Prepare and keep one plan. */
static SPIPlanPtr
live_prepare(const char *sql)
{
	Oid			argtypes[2] = {UUIDOID, UUIDOID};
	SPIPlanPtr	plan = NULL;

	return crm_keep_plan(&plan, sql, 2, argtypes, 0);
}

/* schema.table of a relation, quoted. */
static char *
live_qualified(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/* Run a kept plan as the owner of relation relid. */
static int
live_execute_as_owner(Oid relid, SPIPlanPtr plan, Datum *args)
{
	return crm_spi_execute_as(crm_relation_owner(relid), plan, args, NULL, false, 1);
}

/* The text of a uuid datum. */
static char *
live_uuid_text(Datum u)
{
	return DatumGetCString(DirectFunctionCall1(uuid_out, u));
}

/* Refuse a reference to a deleted record, naming where it was merged into. */
static void
live_refuse(Relation rel, const char *table, const char *column, Oid refrelid,
			Datum org, Datum ref, Datum deleted_at)
{
	char	   *reftable = get_rel_name(refrelid);
	char	   *merged_into = NULL;
	Datum		args[2] = {org, ref};
	SPIPlanPtr	plan;

	/* the survivor, when the record was merged away (its MERGE entry) */
	plan = SPI_prepare("SELECT a.new_values ->> 'merged_into' FROM crm.audit_log a"
					   " WHERE a.organization_id = $1 AND a.row_id = $2 AND a.action = 'MERGE'"
					   " AND a.new_values ? 'merged_into' ORDER BY a.changed_at DESC LIMIT 1",
					   2, (Oid[2]) {UUIDOID, UUIDOID});
	if (plan != NULL && live_execute_as_owner(refrelid, plan, args) == SPI_OK_SELECT &&
		SPI_processed > 0)
		merged_into = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

	ereport(ERROR,
			(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
			 errmsg("crm.%s.%s cannot point at crm.%s %s: it is %s", table, column, reftable,
					live_uuid_text(ref), merged_into ? "merged into another record" : "deleted"),
			 merged_into
			 ? errdetail("crm.%s %s was merged into %s.", reftable, live_uuid_text(ref), merged_into)
			 : errdetail("crm.%s %s was deleted at %s.", reftable, live_uuid_text(ref),
						 DatumGetCString(DirectFunctionCall1(timestamptz_out, deleted_at))),
			 merged_into
			 ? errhint("Point it at %s instead.", merged_into)
			 : errhint("Point it at a live record, or restore this one first (UPDATE crm.%s SET deleted_at = NULL).",
					   reftable),
			 errtable(rel)));
}

/*
 * Check one reference; the caller is connected to SPI.  True when the
 * record was found live (and is now locked FOR KEY SHARE).
 */
static bool
live_check_ref(Relation rel, const char *table, const LiveRef *ref, Datum org, Datum value)
{
	SPIPlanPtr *lookup = crm_plan_slot(&live_plans, "crm live reference plans", ref->refrelid, 2, LIVE_PLAN_LOOKUP);
	Datum		args[2] = {org, value};
	int			rc;

	if (*lookup == NULL)
	{
		char	   *sql = psprintf("SELECT t.deleted_at FROM %s t"
								   " WHERE t.organization_id OPERATOR(pg_catalog.=) $1"
								   " AND t.id OPERATOR(pg_catalog.=) $2 FOR KEY SHARE OF t",
								   live_qualified(ref->refrelid));

		*lookup = live_prepare(sql);
	}
	rc = live_execute_as_owner(ref->refrelid, *lookup, args);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "live reference look-up failed: %s", SPI_result_code_string(rc));
	if (SPI_processed > 0)
	{
		bool		isnull;
		Datum		deleted = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			live_refuse(rel, table, get_attname(RelationGetRelid(rel), ref->attnum, false),
						ref->refrelid, org, value, deleted);
		return true;
	}
	/* no row: the foreign-key check reports it */
	return false;
}

/* A rolled-back subtransaction released the locks: forget them all. */
static void
live_seen_subxact(SubXactEvent event, SubTransactionId mySubid pg_attribute_unused(),
				  SubTransactionId parentSubid pg_attribute_unused(), void *arg pg_attribute_unused())
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		live_seen = NULL;		/* the memory goes with the transaction */
}

/* Forget every remembered reference of this transaction. */
static void
live_seen_forget(void)
{
	live_seen = NULL;
}

/* The transaction's memory of references (created on first use). */
static HTAB *
live_seen_table(void)
{
	if (live_seen != NULL && live_seen_lxid == MyProc->lxid)
		return live_seen;
	if (!live_seen_callback)
	{
		RegisterSubXactCallback(live_seen_subxact, NULL);
		live_seen_callback = true;
	}
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(LiveSeenKey);
		ctl.entrysize = sizeof(LiveSeenKey);
		ctl.hcxt = TopTransactionContext;
		live_seen = hash_create("crm live references seen", 256, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		live_seen_lxid = MyProc->lxid;
	}
	return live_seen;
}

static void
live_seen_key(LiveSeenKey *k, Oid refrelid, Datum org, Datum id)
{
	memset(k, 0, sizeof(*k));
	k->refrelid = refrelid;
	memcpy(&k->org, DatumGetUUIDP(org), UUID_LEN);
	memcpy(&k->id, DatumGetUUIDP(id), UUID_LEN);
}

PG_FUNCTION_INFO_V1(live_refs_check);

/* SQL: crm.trg_live_refs(table) returns trigger (BEFORE INSERT OR UPDATE, FOR EACH ROW) */
Datum
live_refs_check(PG_FUNCTION_ARGS)
{
	TriggerData *td;
	Relation	rel;
	TupleDesc	desc;
	HeapTuple	tup;
	HeapTuple	oldtup = NULL;
	LiveRefs   *r;
	const char *table;
	Datum		org;
	bool		isnull;
	bool		connected = false;
	int			i;

	td = crm_trigger_check(fcinfo, LIVE_FNAME, CRM_TRIG_BEFORE_ROW | CRM_TRIG_INSERT | CRM_TRIG_UPDATE);
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
	{
		/* a soft delete here takes no lock: remember nothing across it */
		live_seen_forget();
		return PointerGetDatum(tup);
	}

	table = crm_trigger_arg(td, 0, LIVE_FNAME, "table name");
	r = live_refs(fcinfo, rel);
	org = heap_getattr(tup, r->org_att, desc, &isnull);
	if (isnull)
		return PointerGetDatum(tup);	/* NOT NULL reports it */

	for (i = 0; i < r->nrefs; i++)
	{
		const LiveRef *ref = &r->refs[i];
		Datum		v = heap_getattr(tup, ref->attnum, desc, &isnull);

		if (isnull)
			continue;
		if (oldtup != NULL)
		{
			bool		oldnull;
			Datum		o = heap_getattr(oldtup, ref->attnum, desc, &oldnull);

			if (!oldnull && memcmp(DatumGetUUIDP(o), DatumGetUUIDP(v), UUID_LEN) == 0)
				continue;		/* unchanged */
		}
		{
			HTAB	   *seen = live_seen_table();
			LiveSeenKey key;

			live_seen_key(&key, ref->refrelid, org, v);
			if (hash_search(seen, &key, HASH_FIND, NULL) != NULL)
				continue;		/* found live and locked by this transaction */
			if (!connected)
			{
				if (SPI_connect() != SPI_OK_CONNECT)
					elog(ERROR, "SPI_connect failed");
				connected = true;
			}
			if (live_check_ref(rel, table, ref, org, v) && live_seen != NULL &&
				hash_get_num_entries(live_seen) < LIVE_SEEN_MAX)
				(void) hash_search(live_seen, &key, HASH_ENTER, NULL);
		}
	}

	/* a soft delete locks its row against new references (see above) */
	if (oldtup != NULL && r->deleted_att != 0)
	{
		bool		oldnull,
					newnull;

		(void) heap_getattr(oldtup, r->deleted_att, desc, &oldnull);
		(void) heap_getattr(tup, r->deleted_att, desc, &newnull);
		if (oldnull && !newnull)
		{
			SPIPlanPtr *lock = crm_plan_slot(&live_plans, "crm live reference plans",
											 RelationGetRelid(rel), 2, LIVE_PLAN_LOCK);
			Datum		args[2];
			int			rc;

			/* this transaction's own lock does not hold it against itself */
			live_seen_forget();

			args[0] = org;
			args[1] = heap_getattr(oldtup, r->id_att, desc, &isnull);
			if (!isnull)
			{
				if (!connected)
				{
					if (SPI_connect() != SPI_OK_CONNECT)
						elog(ERROR, "SPI_connect failed");
					connected = true;
				}
				if (*lock == NULL)
					*lock = live_prepare(psprintf("SELECT 1 FROM %s t"
													" WHERE t.organization_id OPERATOR(pg_catalog.=) $1"
													" AND t.id OPERATOR(pg_catalog.=) $2 FOR UPDATE OF t",
													live_qualified(RelationGetRelid(rel))));
				rc = live_execute_as_owner(RelationGetRelid(rel), *lock, args);
				if (rc != SPI_OK_SELECT)
					elog(ERROR, "soft-delete lock failed: %s", SPI_result_code_string(rc));
			}
		}
	}
	if (connected)
		SPI_finish();
	return PointerGetDatum(tup);
}
