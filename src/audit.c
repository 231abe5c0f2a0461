/*
 * audit.c
 *		crm.trg_audit(): the generic audit trigger.  Attached by
 *		crm._setup_tenant_table() to every audited table as three AFTER ...
 *		FOR EACH STATEMENT triggers with transition tables (crm_new, crm_old);
 *		writes one crm.audit_log row per inserted, updated or deleted record.
 *
 *		INSERT	who, when, which role and transaction; old_values and
 *				new_values NULL: the entry does not repeat the row
 *		UPDATE	old_values/new_values = only the columns that changed; an
 *				update that changed nothing but updated_at/updated_by (or a
 *				generated column) writes no entry
 *		DELETE	old_values = the row (its non-null columns)
 *
 * An INSERT entry need not carry the row: every later change of a recorded
 * column is an UPDATE entry holding the column's value before it, and the
 * row's last state is the row itself or its DELETE entry, so reading the
 * history backwards from there gives every earlier state, the inserted one
 * included (crm.history does exactly that; doc/design.md, "The audit log's
 * INSERT entries").  Repeating the row doubled the bytes a bulk load writes.
 *
 * Generated columns (search_vector) are derived data and never recorded.
 *
 * The work is set-based: the transition tuplestores are read here, in C,
 * once.  Old and new rows of an UPDATE are paired by primary key
 * (organization_id, id).  They normally come in the same order, so a pair is
 * matched as it is read and nothing is kept; a row whose partner has not been
 * seen yet waits in a hash table, so the result never depends on that order.
 *
 * Entries are written through one kept SPI plan that inserts a batch of up to
 * AUDIT_BATCH_ROWS rows from arrays (unnest), so a bulk load costs one
 * statement per batch and never holds more than one batch in memory.  The
 * insert runs as the owner of crm.audit_log: application roles have no
 * INSERT privilege on it (they cannot forge history), yet their changes are
 * recorded.  In restore mode (crm.restoring) nothing is written: the restored
 * audit log already holds the history of the restored rows.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/uuid.h"
#include "utils/xid8.h"

#include "crm.h"
#include "trigger_support.h"

#define AUDIT_FNAME "crm.trg_audit()"

/* A batch is written when it has this many entries or this many bytes. */
#define AUDIT_BATCH_ROWS	5000
#define AUDIT_BATCH_BYTES	(8 * 1024 * 1024)

/* One audited column. */
typedef struct AuditColumn
{
	int			attnum;
	const char *name;
	int			namelen;
	bool		maintenance;	/* updated_at, updated_by: no change of its own */
	int16		attlen;
	bool		attbyval;
	CrmJsonType jt;
} AuditColumn;

/* What the trigger knows about the relation, built once per statement. */
typedef struct AuditRelInfo
{
	Oid			relid;
	int			natts;
	text	   *relname;
	char	   *relname_c;		/* the same, as a C string */
	int			id_att;
	int			org_att;
	int			ncols;
	AuditColumn *cols;			/* in jsonb key order */
} AuditRelInfo;

/* The primary key of a tenant row, the key of the UPDATE pairing. */
typedef struct AuditKey
{
	pg_uuid_t	org;
	pg_uuid_t	id;
} AuditKey;

/* A row of an UPDATE waiting for its partner. */
typedef struct AuditParked
{
	AuditKey	key;
	MinimalTuple tuple;
} AuditParked;

/* The entries of the current statement on their way into crm.audit_log. */
typedef struct AuditWriter
{
	MemoryContext row_cxt;		/* scratch, reset after every record */
	MemoryContext batch_cxt;	/* the jsonb values of the pending batch */
	Oid			owner;			/* owner of crm.audit_log */
	Datum		relname;
	Datum		action;
	Datum		db_role;
	Datum		txid;
	Datum		changed_at;
	pg_uuid_t	actor;
	bool		have_actor;
	int			n;				/* entries pending */
	int			cap;			/* room for entries: the statement's row
								 * count, at most AUDIT_BATCH_ROWS */
	Size		bytes;
	pg_uuid_t  *orgs;
	pg_uuid_t  *ids;
	Datum	   *olds;
	Datum	   *news;
	bool	   *oldnull;
	bool	   *newnull;
} AuditWriter;

/* The batch insert, prepared once per backend. */
static SPIPlanPtr audit_insert_plan = NULL;

/*
 * seq, the entry's place in the history of its record, is the record's last
 * seq + 1.  That is exact because whoever writes an entry holds the record's
 * row lock (an UPDATE or DELETE locks the row until commit; an INSERT's row
 * is not visible to anyone else yet), and the lookup runs with a snapshot
 * taken after the lock was granted: in READ COMMITTED each batch insert
 * takes a new one, and in REPEATABLE READ an update of a row changed by a
 * transaction the snapshot does not see fails before getting here.  A
 * record appears at most once per statement, and batches of one statement
 * see each other (SPI advances the command counter), so a batch never gives
 * two entries the same place.  audit_log_record_seq_key backs all this: a
 * collision would be an error, never a silently wrong order.
 *
 * Every operator is schema-qualified: the plan is prepared under the
 * session's search_path and runs as the owner of crm.audit_log, so an
 * unqualified "=" could resolve to an operator planted in a schema ahead of
 * pg_catalog (test/scripts/search_path.sh).
 */
#define AUDIT_NARGS 10
static const char *const audit_insert_sql =
"INSERT INTO crm.audit_log (organization_id, table_name, row_id, seq, action,"
" old_values, new_values, actor_id, db_role, txid, changed_at)"
" SELECT u.o, $1, u.r,"
" COALESCE((SELECT pg_catalog.max(l.seq) FROM crm.audit_log l"
" WHERE l.organization_id OPERATOR(pg_catalog.=) u.o AND l.table_name OPERATOR(pg_catalog.=) $1"
" AND l.row_id OPERATOR(pg_catalog.=) u.r), 0) OPERATOR(pg_catalog.+) 1,"
" $2, u.ov, u.nv, $3, $4, $5, $6"
" FROM ROWS FROM (pg_catalog.unnest($7), pg_catalog.unnest($8),"
" pg_catalog.unnest($9), pg_catalog.unnest($10)) AS u(o, r, ov, nv)";

/* jsonb orders object keys by length, then bytes: sort columns the same way. */
static int
audit_column_cmp(const void *a, const void *b)
{
	const AuditColumn *x = (const AuditColumn *) a;
	const AuditColumn *y = (const AuditColumn *) b;

	if (x->namelen != y->namelen)
		return x->namelen < y->namelen ? -1 : 1;
	return memcmp(x->name, y->name, x->namelen);
}

/*
 * The column facts of the audited relations, built once per backend and
 * relation (not once per statement: a one-row update of crm.opportunity
 * spent about 1 % of its time sorting and typing its columns again).  An
 * invalidation of the relation (ALTER TABLE) marks its entry stale; the
 * next statement builds it anew.  A statement may still hold the old facts
 * (fn_extra), so they are freed with the transaction, not at once.
 */
typedef struct AuditRelCacheEntry
{
	Oid			relid;			/* key */
	bool		valid;
	MemoryContext cxt;			/* holds info */
	AuditRelInfo *info;
} AuditRelCacheEntry;

static HTAB *audit_rel_cache = NULL;

static void
audit_relcache_callback(Datum arg pg_attribute_unused(), Oid relid)
{
	AuditRelCacheEntry *e;

	if (audit_rel_cache == NULL)
		return;
	if (OidIsValid(relid))
	{
		e = (AuditRelCacheEntry *) hash_search(audit_rel_cache, &relid, HASH_FIND, NULL);
		if (e != NULL)
			e->valid = false;
	}
	else
	{
		HASH_SEQ_STATUS scan;

		hash_seq_init(&scan, audit_rel_cache);
		while ((e = (AuditRelCacheEntry *) hash_seq_search(&scan)) != NULL)
			e->valid = false;
	}
}

/* Build the column facts of the trigger's relation in mcxt. */
static AuditRelInfo *
audit_rel_info_build(TriggerData *td, const char *name_arg, MemoryContext mcxt)
{
	Relation	rel = td->tg_relation;
	TupleDesc	desc = RelationGetDescr(rel);
	AuditRelInfo *info;
	MemoryContext old;
	int			i;

	old = MemoryContextSwitchTo(mcxt);
	info = palloc0(sizeof(AuditRelInfo));
	info->relid = RelationGetRelid(rel);
	info->natts = desc->natts;
	/* entries name the logical table, never the relation's own name */
	info->relname_c = pstrdup(name_arg);
	info->relname = cstring_to_text(name_arg);
	info->cols = palloc0(sizeof(AuditColumn) * Max(desc->natts, 1));

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		const char *name = NameStr(att->attname);
		AuditColumn *col;

		if (att->attisdropped || att->attgenerated)
			continue;
		if (strcmp(name, "id") == 0 || strcmp(name, "organization_id") == 0)
		{
			if (att->atttypid != UUIDOID)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("crm.trg_audit() cannot audit table \"%s\"", RelationGetRelationName(rel)),
						 errdetail("Column \"%s\" is of type %s, not uuid.", name, format_type_be(att->atttypid))));
			if (name[0] == 'i')
				info->id_att = i + 1;
			else
				info->org_att = i + 1;
		}
		col = &info->cols[info->ncols++];
		col->attnum = i + 1;
		col->name = pstrdup(name);
		col->namelen = strlen(name);
		col->maintenance = strcmp(name, "updated_at") == 0 || strcmp(name, "updated_by") == 0;
		col->attlen = att->attlen;
		col->attbyval = att->attbyval;
		crm_json_type_init(&col->jt, att->atttypid, mcxt);
	}
	if (info->id_att == 0 || info->org_att == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("crm.trg_audit() cannot audit table \"%s\"", RelationGetRelationName(rel)),
				 errdetail("An audited table needs the uuid columns organization_id and id.")));
	qsort(info->cols, info->ncols, sizeof(AuditColumn), audit_column_cmp);
	MemoryContextSwitchTo(old);
	return info;
}

/* The column facts of the trigger's relation: per statement in fn_extra, per backend in audit_rel_cache. */
static AuditRelInfo *
audit_rel_info(FunctionCallInfo fcinfo, TriggerData *td)
{
	Relation	rel = td->tg_relation;
	Oid			relid = RelationGetRelid(rel);
	AuditRelInfo *info = (AuditRelInfo *) fcinfo->flinfo->fn_extra;
	const char *name_arg;
	AuditRelCacheEntry *e;
	bool		found;

	if (info != NULL && info->relid == relid && info->natts == RelationGetDescr(rel)->natts)
		return info;

	if (audit_rel_cache == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(AuditRelCacheEntry);
		audit_rel_cache = hash_create("crm audit relations", 64, &ctl, HASH_ELEM | HASH_BLOBS);
		CacheRegisterRelcacheCallback(audit_relcache_callback, (Datum) 0);
	}
	name_arg = crm_trigger_arg(td, 0, AUDIT_FNAME, "table name");
	e = (AuditRelCacheEntry *) hash_search(audit_rel_cache, &relid, HASH_ENTER, &found);
	if (!found)
	{
		e->valid = false;
		e->cxt = NULL;
		e->info = NULL;
	}
	/* (another trigger of the relation could name another logical table) */
	if (!e->valid || e->info->natts != RelationGetDescr(rel)->natts ||
		strcmp(e->info->relname_c, name_arg) != 0)
	{
		MemoryContext cxt = AllocSetContextCreate(CacheMemoryContext, "crm audit relation",
												  ALLOCSET_SMALL_SIZES);

		PG_TRY();
		{
			info = audit_rel_info_build(td, name_arg, cxt);
		}
		PG_CATCH();
		{
			MemoryContextDelete(cxt);
			PG_RE_THROW();
		}
		PG_END_TRY();
		if (e->cxt != NULL)
			MemoryContextSetParent(e->cxt, TopTransactionContext);
		e->cxt = cxt;
		e->info = info;
		e->valid = true;
	}
	fcinfo->flinfo->fn_extra = e->info;
	return e->info;
}

/* The owner of crm.audit_log, as whom the entries are written. */
static Oid
audit_log_owner(void)
{
	Oid			relid = crm_relation_oid("audit_log");

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table crm.audit_log does not exist"),
				 errhint("The crm extension is incompletely installed; reinstall or update it.")));
	return crm_relation_owner(relid);
}

/* The kept batch-insert plan (prepared on first use). */
static pg_noinline SPIPlanPtr
audit_plan(void)
{
	Oid			argtypes[AUDIT_NARGS] = {TEXTOID, TEXTOID, UUIDOID, TEXTOID, XID8OID,
	TIMESTAMPTZOID, UUIDARRAYOID, UUIDARRAYOID, JSONBARRAYOID, JSONBARRAYOID};

	/*
	 * Generic from the first run: with the arrays as constants the planner
	 * estimates the unnest at their true length, so every custom plan looks
	 * cheaper than the generic one (estimated at 10 rows) and the plan cache
	 * re-planned the insert on every statement -- a tenth of a one-row
	 * update.  The plan's shape does not depend on the number of rows.
	 */
	return crm_keep_plan(&audit_insert_plan, audit_insert_sql, AUDIT_NARGS, argtypes,
						 CURSOR_OPT_GENERIC_PLAN);
}

/*
 * Run the batch insert as the owner of crm.audit_log.  Each entry's seq is
 * looked up by key: planned as a lookup, or a plan made while the log was
 * small (just analysed nearly empty, say) scans the whole log once per
 * entry for the rest of the backend's life -- a 100,000-row update took
 * more than 17 minutes (test/scripts/audit_order.sh checks the plan).
 */
static void
audit_execute_as_owner(AuditWriter *w, Datum *values, const char *nulls)
{
	int			rc = crm_spi_execute_lookup_as(w->owner, audit_plan(), values, nulls, false, 0);

	if (rc != SPI_OK_INSERT)
		elog(ERROR, "audit insert failed: %s", SPI_result_code_string(rc));
}

/* Write the pending entries and start an empty batch. */
static void
audit_flush(AuditWriter *w)
{
	Datum		values[AUDIT_NARGS];
	char		nulls[AUDIT_NARGS];
	Datum	   *orgs;
	Datum	   *ids;
	int			dims[1];
	int			lbs[1] = {1};
	int			i;
	MemoryContext old;

	if (w->n == 0)
		return;

	old = MemoryContextSwitchTo(w->batch_cxt);
	orgs = palloc(sizeof(Datum) * w->n);
	ids = palloc(sizeof(Datum) * w->n);
	for (i = 0; i < w->n; i++)
	{
		orgs[i] = UUIDPGetDatum(&w->orgs[i]);
		ids[i] = UUIDPGetDatum(&w->ids[i]);
	}
	dims[0] = w->n;
	memset(nulls, ' ', sizeof(nulls));
	values[0] = w->relname;
	values[1] = w->action;
	values[2] = UUIDPGetDatum(&w->actor);
	nulls[2] = w->have_actor ? ' ' : 'n';
	values[3] = w->db_role;
	values[4] = w->txid;
	values[5] = w->changed_at;
	values[6] = PointerGetDatum(construct_array(orgs, w->n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	values[7] = PointerGetDatum(construct_array(ids, w->n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	values[8] = PointerGetDatum(construct_md_array(w->olds, w->oldnull, 1, dims, lbs,
												   JSONBOID, -1, false, TYPALIGN_INT));
	values[9] = PointerGetDatum(construct_md_array(w->news, w->newnull, 1, dims, lbs,
												   JSONBOID, -1, false, TYPALIGN_INT));
	MemoryContextSwitchTo(old);

	audit_execute_as_owner(w, values, nulls);

	MemoryContextReset(w->batch_cxt);
	w->n = 0;
	w->bytes = 0;
}

/* Queue one entry; oldv/newv are NULL or jsonb allocated in batch_cxt. */
static void
audit_add(AuditWriter *w, const AuditKey *key, Jsonb *oldv, Jsonb *newv)
{
	int			i = w->n;

	w->orgs[i] = key->org;
	w->ids[i] = key->id;
	w->olds[i] = PointerGetDatum(oldv);
	w->oldnull[i] = oldv == NULL;
	w->news[i] = PointerGetDatum(newv);
	w->newnull[i] = newv == NULL;
	if (oldv)
		w->bytes += VARSIZE(oldv);
	if (newv)
		w->bytes += VARSIZE(newv);
	w->n++;
	if (w->n >= w->cap || w->bytes >= AUDIT_BATCH_BYTES)
		audit_flush(w);
}

/* The primary key of the row in a slot whose attributes are all deformed. */
static void
audit_slot_key(const AuditRelInfo *info, TupleTableSlot *slot, AuditKey *key)
{
	if (slot->tts_isnull[info->org_att - 1] || slot->tts_isnull[info->id_att - 1])
		elog(ERROR, "audited row without organization_id or id");
	key->org = *DatumGetUUIDP(slot->tts_values[info->org_att - 1]);
	key->id = *DatumGetUUIDP(slot->tts_values[info->id_att - 1]);
}

/* Push a column name as the next object key. */
static inline void
audit_push_key(JsonbParseState **ps, const AuditColumn *col)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) col->name;
	k.val.string.len = col->namelen;
	pushJsonbValue(ps, WJB_KEY, &k);
}

/* The non-null columns of a row as a jsonb object, allocated in batch_cxt. */
static Jsonb *
audit_row_jsonb(AuditWriter *w, const AuditRelInfo *info, TupleTableSlot *slot)
{
	JsonbParseState *ps = NULL;
	JsonbValue *res;
	MemoryContext old;
	Jsonb	   *jb;
	int			i;

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	for (i = 0; i < info->ncols; i++)
	{
		const AuditColumn *col = &info->cols[i];
		int			a = col->attnum - 1;

		if (slot->tts_isnull[a])
			continue;
		audit_push_key(&ps, col);
		crm_json_push_datum(&ps, WJB_VALUE, slot->tts_values[a], false, &col->jt);
	}
	res = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);

	old = MemoryContextSwitchTo(w->batch_cxt);
	jb = JsonbValueToJsonb(res);
	MemoryContextSwitchTo(old);
	return jb;
}

/* Whether two non-null values of a column are the same (binary equality). */
static bool
audit_same_value(const AuditColumn *col, Datum a, Datum b)
{
	struct varlena *x;
	struct varlena *y;
	Size		len;

	if (datumIsEqual(a, b, col->attbyval, col->attlen))
		return true;
	if (col->attlen != -1 ||
		(!VARATT_IS_EXTENDED(DatumGetPointer(a)) && !VARATT_IS_EXTENDED(DatumGetPointer(b))))
		return false;

	/* compressed, toasted or short-header: compare the plain values */
	x = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(a));
	y = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(b));
	len = VARSIZE_ANY_EXHDR(x);
	return len == VARSIZE_ANY_EXHDR(y) && memcmp(VARDATA_ANY(x), VARDATA_ANY(y), len) == 0;
}

/* Queue the entry of one updated row, unless nothing of interest changed. */
static void
audit_update_pair(AuditWriter *w, const AuditRelInfo *info, const AuditKey *key,
				  TupleTableSlot *os, TupleTableSlot *ns)
{
	JsonbParseState *po = NULL;
	JsonbParseState *pn = NULL;
	JsonbValue *ro;
	JsonbValue *rn;
	Jsonb	   *jo;
	Jsonb	   *jn;
	MemoryContext old;
	bool		any = false;
	int			i;

	for (i = 0; i < info->ncols; i++)
	{
		const AuditColumn *col = &info->cols[i];
		int			a = col->attnum - 1;
		bool		onull = os->tts_isnull[a];
		bool		nnull = ns->tts_isnull[a];

		if (col->maintenance || (onull && nnull))
			continue;
		if (!onull && !nnull && audit_same_value(col, os->tts_values[a], ns->tts_values[a]))
			continue;
		if (!any)
		{
			pushJsonbValue(&po, WJB_BEGIN_OBJECT, NULL);
			pushJsonbValue(&pn, WJB_BEGIN_OBJECT, NULL);
			any = true;
		}
		audit_push_key(&po, col);
		crm_json_push_datum(&po, WJB_VALUE, os->tts_values[a], onull, &col->jt);
		audit_push_key(&pn, col);
		crm_json_push_datum(&pn, WJB_VALUE, ns->tts_values[a], nnull, &col->jt);
	}
	if (!any)
		return;
	ro = pushJsonbValue(&po, WJB_END_OBJECT, NULL);
	rn = pushJsonbValue(&pn, WJB_END_OBJECT, NULL);

	old = MemoryContextSwitchTo(w->batch_cxt);
	jo = JsonbValueToJsonb(ro);
	jn = JsonbValueToJsonb(rn);
	MemoryContextSwitchTo(old);
	audit_add(w, key, jo, jn);
}

/*
 * A read pointer of our own on a transition table, at its start: other
 * statement triggers of the same event read the same tuplestore.
 */
static void
audit_open_reader(Tuplestorestate *ts)
{
	int			ptr = tuplestore_alloc_read_pointer(ts, EXEC_FLAG_REWIND);

	tuplestore_select_read_pointer(ts, ptr);
	tuplestore_rescan(ts);
}

/* Hand the default read pointer back to whoever reads the table next. */
static void
audit_close_reader(Tuplestorestate *ts)
{
	tuplestore_select_read_pointer(ts, 0);
}

/*
 * INSERT: one entry per record that does not repeat the row (the row itself
 * and the entries that follow reconstruct it; see the header).  Only the key
 * columns are deformed.
 */
static void
audit_inserts(AuditWriter *w, const AuditRelInfo *info, Tuplestorestate *ts,
			  TupleDesc desc)
{
	TupleTableSlot *slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	int			keyatts = Max(info->org_att, info->id_att);

	audit_open_reader(ts);
	while (tuplestore_gettupleslot(ts, true, false, slot))
	{
		AuditKey	key;

		slot_getsomeattrs(slot, keyatts);
		audit_slot_key(info, slot, &key);
		audit_add(w, &key, NULL, NULL);
	}
	audit_close_reader(ts);
	ExecDropSingleTupleTableSlot(slot);
}

/* DELETE: one entry with the whole row per record. */
static void
audit_deletes(AuditWriter *w, const AuditRelInfo *info, Tuplestorestate *ts,
			  TupleDesc desc)
{
	TupleTableSlot *slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);

	audit_open_reader(ts);
	while (tuplestore_gettupleslot(ts, true, false, slot))
	{
		MemoryContext old = MemoryContextSwitchTo(w->row_cxt);
		AuditKey	key;
		Jsonb	   *row;

		slot_getallattrs(slot);
		audit_slot_key(info, slot, &key);
		row = audit_row_jsonb(w, info, slot);
		MemoryContextSwitchTo(old);
		audit_add(w, &key, row, NULL);
		MemoryContextReset(w->row_cxt);
	}
	audit_close_reader(ts);
	ExecDropSingleTupleTableSlot(slot);
}

/* A hash table for UPDATE rows whose partner has not come yet. */
static HTAB *
audit_park_table(const char *name, MemoryContext cxt)
{
	HASHCTL		ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(AuditKey);
	ctl.entrysize = sizeof(AuditParked);
	ctl.hcxt = cxt;
	return hash_create(name, 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/*
 * One side of an UPDATE whose partner was not read with it: pair it with a
 * waiting partner if there is one, else park it.  slot holds the row (is_old
 * says which side), tmp is a spare slot for the partner.
 */
static void
audit_match_or_park(AuditWriter *w, const AuditRelInfo *info, TupleTableSlot *slot,
					TupleTableSlot *tmp, bool is_old, HTAB *mine, HTAB *theirs,
					MemoryContext park_cxt)
{
	AuditKey	key;
	AuditParked *p;
	bool		found;
	MemoryContext old;

	audit_slot_key(info, slot, &key);
	p = (AuditParked *) hash_search(theirs, &key, HASH_FIND, NULL);
	if (p != NULL)
	{
		MinimalTuple partner = p->tuple;

		ExecStoreMinimalTuple(partner, tmp, false);
		slot_getallattrs(tmp);
		old = MemoryContextSwitchTo(w->row_cxt);
		if (is_old)
			audit_update_pair(w, info, &key, slot, tmp);
		else
			audit_update_pair(w, info, &key, tmp, slot);
		MemoryContextSwitchTo(old);
		MemoryContextReset(w->row_cxt);
		ExecClearTuple(tmp);
		hash_search(theirs, &key, HASH_REMOVE, NULL);
		pfree(partner);
		return;
	}
	p = (AuditParked *) hash_search(mine, &key, HASH_ENTER, &found);
	old = MemoryContextSwitchTo(park_cxt);
	if (found)
		pfree(p->tuple);		/* cannot happen: a row is updated once per statement */
	p->tuple = ExecCopySlotMinimalTuple(slot);
	MemoryContextSwitchTo(old);
}

/* Write the rows left waiting: their key changed (a table without crm.trg_stamp). */
static void
audit_unpaired(AuditWriter *w, const AuditRelInfo *info, HTAB *parked,
			   TupleTableSlot *tmp, bool is_old)
{
	HASH_SEQ_STATUS seq;
	AuditParked *p;

	hash_seq_init(&seq, parked);
	while ((p = (AuditParked *) hash_seq_search(&seq)) != NULL)
	{
		MemoryContext old;
		Jsonb	   *row;

		ExecStoreMinimalTuple(p->tuple, tmp, false);
		slot_getallattrs(tmp);
		old = MemoryContextSwitchTo(w->row_cxt);
		row = audit_row_jsonb(w, info, tmp);
		MemoryContextSwitchTo(old);
		audit_add(w, &p->key, is_old ? row : NULL, is_old ? NULL : row);
		MemoryContextReset(w->row_cxt);
		ExecClearTuple(tmp);
	}
}

/* UPDATE: pair old and new rows by primary key and record what changed. */
static void
audit_updates(AuditWriter *w, const AuditRelInfo *info, Tuplestorestate *olds,
			  Tuplestorestate *news, TupleDesc desc, MemoryContext park_cxt)
{
	TupleTableSlot *os = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	TupleTableSlot *ns = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	TupleTableSlot *tmp = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	HTAB	   *park_old = NULL;
	HTAB	   *park_new = NULL;

	audit_open_reader(olds);
	audit_open_reader(news);
	for (;;)
	{
		bool		have_o = tuplestore_gettupleslot(olds, true, false, os);
		bool		have_n = tuplestore_gettupleslot(news, true, false, ns);
		AuditKey	ko;
		AuditKey	kn;

		if (!have_o && !have_n)
			break;
		if (have_o)
			slot_getallattrs(os);
		if (have_n)
			slot_getallattrs(ns);
		if (have_o && have_n)
		{
			audit_slot_key(info, os, &ko);
			audit_slot_key(info, ns, &kn);
			if (memcmp(&ko, &kn, sizeof(AuditKey)) == 0)
			{
				/* the usual case: the pair comes together */
				MemoryContext old = MemoryContextSwitchTo(w->row_cxt);

				audit_update_pair(w, info, &ko, os, ns);
				MemoryContextSwitchTo(old);
				MemoryContextReset(w->row_cxt);
				continue;
			}
		}
		if (park_old == NULL)
		{
			park_old = audit_park_table("crm audit old rows", park_cxt);
			park_new = audit_park_table("crm audit new rows", park_cxt);
		}
		if (have_o)
			audit_match_or_park(w, info, os, tmp, true, park_old, park_new, park_cxt);
		if (have_n)
			audit_match_or_park(w, info, ns, tmp, false, park_new, park_old, park_cxt);
	}
	audit_close_reader(olds);
	audit_close_reader(news);
	if (park_old != NULL)
	{
		audit_unpaired(w, info, park_old, tmp, true);
		audit_unpaired(w, info, park_new, tmp, false);
	}
	ExecDropSingleTupleTableSlot(os);
	ExecDropSingleTupleTableSlot(ns);
	ExecDropSingleTupleTableSlot(tmp);
}

/* The transition table a trigger needs, or a clear error. */
static Tuplestorestate *
audit_transition_table(Tuplestorestate *ts, Relation rel, const char *which)
{
	if (ts == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("crm.trg_audit() on \"%s\" has no %s transition table",
						RelationGetRelationName(rel), which),
				 errhint("Create the trigger with crm._setup_tenant_table(), or with REFERENCING %s TABLE AS ... FOR EACH STATEMENT.",
						 which)));
	return ts;
}

PG_FUNCTION_INFO_V1(audit_capture);

/* SQL: crm.trg_audit() returns trigger (AFTER INSERT/UPDATE/DELETE, FOR EACH STATEMENT, transition tables) */
Datum
audit_capture(PG_FUNCTION_ARGS)
{
	TriggerData *td;
	Relation	rel;
	TupleDesc	desc;
	AuditRelInfo *info;
	AuditWriter *w;
	Tuplestorestate *olds = NULL;
	Tuplestorestate *news = NULL;
	const char *action;
	MemoryContext audit_cxt;
	MemoryContext old;

	td = crm_trigger_check(fcinfo, AUDIT_FNAME,
						   CRM_TRIG_AFTER_STATEMENT | CRM_TRIG_INSERT | CRM_TRIG_UPDATE | CRM_TRIG_DELETE);

	if (crm_restoring)
		return PointerGetDatum(NULL);

	rel = td->tg_relation;
	desc = RelationGetDescr(rel);
	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		action = "INSERT";
		news = audit_transition_table(td->tg_newtable, rel, "NEW");
	}
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		action = "UPDATE";
		olds = audit_transition_table(td->tg_oldtable, rel, "OLD");
		news = audit_transition_table(td->tg_newtable, rel, "NEW");
	}
	else
	{
		action = "DELETE";
		olds = audit_transition_table(td->tg_oldtable, rel, "OLD");
	}
	if (tuplestore_tuple_count(news ? news : olds) == 0)
		return PointerGetDatum(NULL);

	info = audit_rel_info(fcinfo, td);

	audit_cxt = AllocSetContextCreate(CurrentMemoryContext, "crm audit",
									  ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(audit_cxt);
	w = palloc0(sizeof(AuditWriter));
	/* a one-row statement (the usual OLTP case) allocates for one entry */
	w->cap = (int) Min(tuplestore_tuple_count(news ? news : olds), AUDIT_BATCH_ROWS);
	w->orgs = palloc(sizeof(pg_uuid_t) * w->cap);
	w->ids = palloc(sizeof(pg_uuid_t) * w->cap);
	w->olds = palloc(sizeof(Datum) * w->cap);
	w->news = palloc(sizeof(Datum) * w->cap);
	w->oldnull = palloc(sizeof(bool) * w->cap);
	w->newnull = palloc(sizeof(bool) * w->cap);
	w->row_cxt = AllocSetContextCreate(audit_cxt, "crm audit row", ALLOCSET_DEFAULT_SIZES);
	w->batch_cxt = AllocSetContextCreate(audit_cxt, "crm audit batch", ALLOCSET_DEFAULT_SIZES);
	w->owner = audit_log_owner();
	w->relname = PointerGetDatum(info->relname);
	w->action = CStringGetTextDatum(action);
	w->db_role = CStringGetTextDatum(GetUserNameFromId(GetUserId(), false));
	w->txid = FullTransactionIdGetDatum(GetTopFullTransactionId());
	w->changed_at = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	w->have_actor = crm_acting_user(&w->actor);
	MemoryContextSwitchTo(old);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	if (olds && news)
		audit_updates(w, info, olds, news, desc, audit_cxt);
	else if (news)
		audit_inserts(w, info, news, desc);
	else
		audit_deletes(w, info, olds, desc);
	audit_flush(w);

	SPI_finish();
	MemoryContextDelete(audit_cxt);
	return PointerGetDatum(NULL);
}
