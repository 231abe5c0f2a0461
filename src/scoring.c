/*
 * scoring.c
 *		crm.trg_engagement_score(): the AFTER INSERT ... FOR EACH STATEMENT
 *		trigger (transition table crm_new) of crm.engagement_event.
 *
 * A whole INSERT or COPY is scored in one pass over its transition table,
 * here in C: every event is matched against its tenant's active engagement
 * rules (event type, and the rule's property_match contained in the event's
 * properties), and its points are added to an in-memory tally keyed by
 * (record, rule, cap window) -- the number of events, the raw points, and
 * the points weighted to the tenant's reference time,
 *
 *		points * 2^((occurred_at - reference_at) / half_life)
 *
 * which never change with time (sql/45_scoring.sql explains how a score at
 * any instant follows from them).  The tally is then written through one
 * kept plan calling crm._score_add() with arrays, in batches of at most
 * SCORING_BATCH entries that never split a record: that call locks the
 * records' score rows in id order (the entries are sorted by record, so two
 * statements lock in the same order), adds the entries to crm.score_tally
 * and refreshes the records' scores -- one update per affected lead or
 * contact per statement, whatever the number of its events.
 *
 * The model of a tenant (settings, event types, rules) is read once per
 * statement with kept plans.  An event type the tenant does not know is an
 * error (22023) unless its settings accept unknown types, which are then
 * stored and scored by no rule.  The work runs as the owner of crm.score:
 * application roles cannot write scores or tallies themselves.  In restore
 * mode nothing is done: the restored tally already counts the events.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/uuid.h"

#include <math.h>

#include "crm.h"
#include "trigger_support.h"

#define SCORING_FNAME "crm.trg_engagement_score()"

/* Entries per crm._score_add() call (a batch never splits a record). */
#define SCORING_BATCH 20000

/* One active engagement rule of a tenant. */
typedef struct ScoreRule
{
	pg_uuid_t	id;
	char	   *event_type;
	Jsonb	   *property_match; /* NULL: any event of the type */
	int64		cents;			/* points * 100 */
	int32		window_days;	/* 0: no window */
	double		half_life_us;	/* 0: no decay */
} ScoreRule;

/* A tenant's model, as the statement needs it. */
typedef struct ScoreModel
{
	pg_uuid_t	org;
	bool		accept_unknown;
	TimestampTz reference_at;
	int			ntypes;
	char	  **types;			/* known event types, sorted bytewise */
	int			nrules;
	ScoreRule  *rules;			/* sorted by event type */
} ScoreModel;

/* The tally key: one record, rule and window. */
typedef struct ScoreKey
{
	pg_uuid_t	org;
	pg_uuid_t	record;
	pg_uuid_t	rule;
	int64		bucket;
} ScoreKey;

typedef struct ScoreEntry
{
	ScoreKey	key;
	bool		is_lead;
	int64		events;
	int64		cents;
	double		weighted;
} ScoreEntry;

/* Column numbers of crm.engagement_event, type-checked per statement. */
typedef struct ScoreColumns
{
	Oid			relid;
	int			org;
	int			lead;
	int			contact;
	int			type;
	int			occurred;
	int			props;
} ScoreColumns;

static SPIPlanPtr score_settings_plan = NULL;
static SPIPlanPtr score_types_plan = NULL;
static SPIPlanPtr score_rules_plan = NULL;
static SPIPlanPtr score_add_plan = NULL;

static SPIPlanPtr
score_keep(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes)
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

static ScoreColumns *
score_columns(FunctionCallInfo fcinfo, Relation rel)
{
	ScoreColumns *c = (ScoreColumns *) fcinfo->flinfo->fn_extra;

	if (c == NULL || c->relid != RelationGetRelid(rel))
	{
		c = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ScoreColumns));
		c->relid = RelationGetRelid(rel);
		c->org = crm_trigger_column(rel, "organization_id", UUIDOID, true, SCORING_FNAME);
		c->lead = crm_trigger_column(rel, "lead_id", UUIDOID, true, SCORING_FNAME);
		c->contact = crm_trigger_column(rel, "contact_id", UUIDOID, true, SCORING_FNAME);
		c->type = crm_trigger_column(rel, "event_type", TEXTOID, true, SCORING_FNAME);
		c->occurred = crm_trigger_column(rel, "occurred_at", TIMESTAMPTZOID, true, SCORING_FNAME);
		c->props = crm_trigger_column(rel, "properties", JSONBOID, true, SCORING_FNAME);
		fcinfo->flinfo->fn_extra = c;
	}
	return c;
}

static int
score_str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

static int
score_rule_cmp(const void *a, const void *b)
{
	return strcmp(((const ScoreRule *) a)->event_type, ((const ScoreRule *) b)->event_type);
}

/* Read a tenant's model (as the owner of its tables); cxt holds it. */
static void
score_load_model(ScoreModel *m, const pg_uuid_t *org, Oid owner, MemoryContext cxt)
{
	Oid			argtypes[1] = {UUIDOID};
	Datum		args[1];
	int			rc;
	uint64		i;
	MemoryContext old;

	memset(m, 0, sizeof(*m));
	m->org = *org;
	args[0] = UUIDPGetDatum(&m->org);

	rc = crm_spi_execute_as(owner, score_keep(&score_settings_plan,
											  "SELECT s.unknown_event_types = 'accept', s.reference_at"
											  " FROM crm.scoring_settings s WHERE s.organization_id = $1",
											  1, argtypes), args, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading the scoring settings failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
	{
		/* an organization without a scoring model: events are stored only */
		m->accept_unknown = true;
		return;
	}
	{
		bool		isnull;

		m->accept_unknown = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		m->reference_at = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	}

	rc = crm_spi_execute_as(owner, score_keep(&score_types_plan,
											  "SELECT t.name FROM crm.engagement_event_type t WHERE t.organization_id = $1",
											  1, argtypes), args, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading the event types failed: %s", SPI_result_code_string(rc));
	old = MemoryContextSwitchTo(cxt);
	m->ntypes = (int) SPI_processed;
	m->types = palloc(sizeof(char *) * Max(m->ntypes, 1));
	for (i = 0; i < SPI_processed; i++)
		m->types[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
	MemoryContextSwitchTo(old);
	qsort(m->types, m->ntypes, sizeof(char *), score_str_cmp);

	rc = crm_spi_execute_as(owner, score_keep(&score_rules_plan,
											  "SELECT r.id, r.event_type, r.property_match, (r.points * 100)::int8,"
											  " coalesce(r.window_days, 0), coalesce(g.half_life_days::float8, 0)"
											  " FROM crm.scoring_rule r JOIN crm.scoring_group g"
											  " ON g.organization_id = r.organization_id AND g.id = r.group_id"
											  " WHERE r.organization_id = $1 AND r.kind = 'engagement' AND r.is_active",
											  1, argtypes), args, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading the scoring rules failed: %s", SPI_result_code_string(rc));
	old = MemoryContextSwitchTo(cxt);
	m->nrules = (int) SPI_processed;
	m->rules = palloc0(sizeof(ScoreRule) * Max(m->nrules, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		ScoreRule  *r = &m->rules[i];
		bool		isnull;
		Datum		d;

		r->id = *DatumGetUUIDP(SPI_getbinval(tup, desc, 1, &isnull));
		r->event_type = SPI_getvalue(tup, desc, 2);
		d = SPI_getbinval(tup, desc, 3, &isnull);
		r->property_match = isnull ? NULL : DatumGetJsonbPCopy(d);
		r->cents = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
		r->window_days = DatumGetInt32(SPI_getbinval(tup, desc, 5, &isnull));
		r->half_life_us = DatumGetFloat8(SPI_getbinval(tup, desc, 6, &isnull)) * (double) USECS_PER_DAY;
	}
	MemoryContextSwitchTo(old);
	qsort(m->rules, m->nrules, sizeof(ScoreRule), score_rule_cmp);
}

static bool
score_type_known(const ScoreModel *m, const char *type)
{
	return bsearch(&type, m->types, m->ntypes, sizeof(char *), score_str_cmp) != NULL;
}

/* floor(a / b) for b > 0. */
static int64
score_floor_div(int64 a, int64 b)
{
	int64		q = a / b;

	if ((a % b) != 0 && a < 0)
		q--;
	return q;
}

/* Add one event to the tally. */
static void
score_event(HTAB *tally, const ScoreModel *m, const pg_uuid_t *record, bool is_lead,
			const char *type, TimestampTz at, Datum props)
{
	int			i;

	for (i = 0; i < m->nrules; i++)
	{
		const ScoreRule *r = &m->rules[i];
		int			c = strcmp(r->event_type, type);
		ScoreKey	key;
		ScoreEntry *e;
		bool		found;

		if (c < 0)
			continue;
		if (c > 0)
			break;
		if (r->property_match != NULL &&
			!DatumGetBool(DirectFunctionCall2(jsonb_contains, props, JsonbPGetDatum(r->property_match))))
			continue;

		memset(&key, 0, sizeof(key));
		key.org = m->org;
		key.record = *record;
		key.rule = r->id;
		if (r->window_days > 0)
		{
			/* windows are aligned to the Unix epoch, in UTC */
			int64		unix_us = at + (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;

			key.bucket = score_floor_div(unix_us, (int64) r->window_days * USECS_PER_DAY);
		}
		e = (ScoreEntry *) hash_search(tally, &key, HASH_ENTER, &found);
		if (!found)
		{
			e->is_lead = is_lead;
			e->events = 0;
			e->cents = 0;
			e->weighted = 0;
		}
		e->events++;
		e->cents += r->cents;
		if (r->half_life_us > 0)
			e->weighted += ((double) r->cents / 100.0) *
				pow(2.0, (double) (at - m->reference_at) / r->half_life_us);
		else
			e->weighted += (double) r->cents / 100.0;
	}
}

static int
score_entry_cmp(const void *a, const void *b)
{
	const ScoreEntry *x = *(ScoreEntry *const *) a;
	const ScoreEntry *y = *(ScoreEntry *const *) b;

	return memcmp(&x->key, &y->key, offsetof(ScoreKey, bucket) + sizeof(int64));
}

/* Write entries [from, to) of one tenant through crm._score_add(). */
static void
score_flush(ScoreEntry **es, int from, int to, Oid owner)
{
	Oid			argtypes[9] = {UUIDOID, UUIDARRAYOID, UUIDARRAYOID, UUIDARRAYOID, UUIDARRAYOID,
	INT8ARRAYOID, INT8ARRAYOID, NUMERICARRAYOID, FLOAT8ARRAYOID};
	Datum		values[9];
	int			n = to - from;
	Datum	   *leads = palloc(sizeof(Datum) * n);
	Datum	   *contacts = palloc(sizeof(Datum) * n);
	Datum	   *records = palloc(sizeof(Datum) * n);
	Datum	   *rules = palloc(sizeof(Datum) * n);
	Datum	   *buckets = palloc(sizeof(Datum) * n);
	Datum	   *events = palloc(sizeof(Datum) * n);
	Datum	   *raw = palloc(sizeof(Datum) * n);
	Datum	   *weighted = palloc(sizeof(Datum) * n);
	int			nl = 0,
				nc = 0,
				i,
				rc;

	for (i = 0; i < n; i++)
	{
		ScoreEntry *e = es[from + i];

		/* a new record: entries are sorted by record */
		if (i == 0 || memcmp(&e->key.record, &es[from + i - 1]->key.record, UUID_LEN) != 0)
		{
			if (e->is_lead)
				leads[nl++] = UUIDPGetDatum(&e->key.record);
			else
				contacts[nc++] = UUIDPGetDatum(&e->key.record);
		}
		records[i] = UUIDPGetDatum(&e->key.record);
		rules[i] = UUIDPGetDatum(&e->key.rule);
		buckets[i] = Int64GetDatum(e->key.bucket);
		events[i] = Int64GetDatum(e->events);
		raw[i] = NumericGetDatum(int64_div_fast_to_numeric(e->cents, 2));
		weighted[i] = Float8GetDatum(e->weighted);
	}
	values[0] = UUIDPGetDatum(&es[from]->key.org);
	values[1] = PointerGetDatum(construct_array(leads, nl, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	values[2] = PointerGetDatum(construct_array(contacts, nc, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	values[3] = PointerGetDatum(construct_array(records, n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	values[4] = PointerGetDatum(construct_array(rules, n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	values[5] = PointerGetDatum(construct_array(buckets, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[6] = PointerGetDatum(construct_array(events, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[7] = PointerGetDatum(construct_array(raw, n, NUMERICOID, -1, false, TYPALIGN_INT));
	values[8] = PointerGetDatum(construct_array(weighted, n, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));

	rc = crm_spi_execute_as(owner, score_keep(&score_add_plan,
											  "SELECT crm._score_add($1, $2, $3, $4, $5, $6, $7, $8, $9)",
											  9, argtypes), values, NULL, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "crm._score_add failed: %s", SPI_result_code_string(rc));
}

PG_FUNCTION_INFO_V1(scoring_engagement_insert);

/* SQL: crm.trg_engagement_score() returns trigger (AFTER INSERT, FOR EACH STATEMENT, NEW TABLE) */
Datum
scoring_engagement_insert(PG_FUNCTION_ARGS)
{
	TriggerData *td;
	Relation	rel;
	ScoreColumns *cols;
	Tuplestorestate *ts;
	TupleTableSlot *slot;
	MemoryContext cxt;
	MemoryContext row_cxt;
	MemoryContext old;
	HTAB	   *tally;
	HASHCTL		ctl;
	ScoreModel *models = NULL;
	int			nmodels = 0;
	int			maxmodels = 0;
	ScoreModel *m = NULL;
	Oid			owner;
	Oid			score_rel;
	int			ptr;
	long		n;
	ScoreEntry **es;
	HASH_SEQ_STATUS seq;
	ScoreEntry *e;
	int			i;

	td = crm_trigger_check(fcinfo, SCORING_FNAME, CRM_TRIG_AFTER_STATEMENT | CRM_TRIG_INSERT);
	if (crm_restoring)
		return PointerGetDatum(NULL);
	if (strcmp(crm_trigger_arg(td, 0, SCORING_FNAME, "table name"), "engagement_event") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s works only on crm.engagement_event", SCORING_FNAME)));
	rel = td->tg_relation;
	ts = td->tg_newtable;
	if (ts == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s on \"%s\" has no NEW transition table", SCORING_FNAME, RelationGetRelationName(rel)),
				 errhint("Create the trigger with REFERENCING NEW TABLE AS ... FOR EACH STATEMENT.")));
	if (tuplestore_tuple_count(ts) == 0)
		return PointerGetDatum(NULL);
	cols = score_columns(fcinfo, rel);

	score_rel = crm_relation_oid("score");
	if (!OidIsValid(score_rel))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table crm.score does not exist"),
				 errhint("The crm extension is incompletely installed; reinstall or update it.")));
	owner = crm_relation_owner(score_rel);

	cxt = AllocSetContextCreate(CurrentMemoryContext, "crm scoring", ALLOCSET_DEFAULT_SIZES);
	row_cxt = AllocSetContextCreate(cxt, "crm scoring row", ALLOCSET_SMALL_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(ScoreKey);
	ctl.entrysize = sizeof(ScoreEntry);
	ctl.hcxt = cxt;
	tally = hash_create("crm scoring tally", 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/* our own read pointer: other statement triggers read the same store */
	slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsMinimalTuple);
	ptr = tuplestore_alloc_read_pointer(ts, EXEC_FLAG_REWIND);
	tuplestore_select_read_pointer(ts, ptr);
	tuplestore_rescan(ts);
	while (tuplestore_gettupleslot(ts, true, false, slot))
	{
		pg_uuid_t	org;
		pg_uuid_t	record;
		bool		is_lead;
		char	   *type;

		slot_getallattrs(slot);
		if (slot->tts_isnull[cols->org - 1] || slot->tts_isnull[cols->type - 1] ||
			slot->tts_isnull[cols->occurred - 1] || slot->tts_isnull[cols->props - 1])
			elog(ERROR, "engagement event without organization_id, event_type, occurred_at or properties");
		org = *DatumGetUUIDP(slot->tts_values[cols->org - 1]);
		if (!slot->tts_isnull[cols->lead - 1])
		{
			record = *DatumGetUUIDP(slot->tts_values[cols->lead - 1]);
			is_lead = true;
		}
		else if (!slot->tts_isnull[cols->contact - 1])
		{
			record = *DatumGetUUIDP(slot->tts_values[cols->contact - 1]);
			is_lead = false;
		}
		else
			elog(ERROR, "engagement event without lead_id or contact_id");

		/* rows of one tenant come together: find its model, or read it */
		if (m == NULL || memcmp(&m->org, &org, UUID_LEN) != 0)
		{
			m = NULL;
			for (i = 0; i < nmodels; i++)
				if (memcmp(&models[i].org, &org, UUID_LEN) == 0)
					m = &models[i];
			if (m == NULL)
			{
				old = MemoryContextSwitchTo(cxt);
				if (nmodels == maxmodels)
				{
					maxmodels = Max(4, maxmodels * 2);
					models = models ? repalloc(models, sizeof(ScoreModel) * maxmodels)
						: palloc(sizeof(ScoreModel) * maxmodels);
				}
				MemoryContextSwitchTo(old);
				m = &models[nmodels++];
				score_load_model(m, &org, owner, cxt);
			}
		}

		old = MemoryContextSwitchTo(row_cxt);
		type = TextDatumGetCString(slot->tts_values[cols->type - 1]);
		if (!m->accept_unknown && !score_type_known(m, type))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown engagement event type \"%s\"", type),
					 errdetail("The organization's event types are crm.engagement_event_type; its scoring settings reject other types."),
					 errhint("Add the type (INSERT INTO crm.engagement_event_type (name) VALUES ('%s')), or accept unknown types unscored (UPDATE crm.scoring_settings SET unknown_event_types = 'accept').",
							 type)));
		score_event(tally, m, &record, is_lead, type,
					DatumGetTimestampTz(slot->tts_values[cols->occurred - 1]),
					slot->tts_values[cols->props - 1]);
		MemoryContextSwitchTo(old);
		MemoryContextReset(row_cxt);
	}
	tuplestore_select_read_pointer(ts, 0);
	ExecDropSingleTupleTableSlot(slot);

	/* the entries by tenant and record, then in batches */
	n = hash_get_num_entries(tally);
	if (n > 0)
	{
		int			from = 0;

		old = MemoryContextSwitchTo(cxt);
		es = palloc(sizeof(ScoreEntry *) * n);
		MemoryContextSwitchTo(old);
		i = 0;
		hash_seq_init(&seq, tally);
		while ((e = (ScoreEntry *) hash_seq_search(&seq)) != NULL)
			es[i++] = e;
		qsort(es, n, sizeof(ScoreEntry *), score_entry_cmp);
		for (i = 1; i <= n; i++)
		{
			bool		end = (i == n);

			if (!end && memcmp(&es[i]->key.org, &es[from]->key.org, UUID_LEN) != 0)
				end = true;
			/* a batch ends at a record boundary */
			if (!end && i - from >= SCORING_BATCH &&
				memcmp(&es[i]->key.record, &es[i - 1]->key.record, UUID_LEN) != 0)
				end = true;
			if (end)
			{
				old = MemoryContextSwitchTo(row_cxt);
				score_flush(es, from, i, owner);
				MemoryContextSwitchTo(old);
				MemoryContextReset(row_cxt);
				from = i;
			}
		}
	}

	SPI_finish();
	MemoryContextDelete(cxt);
	return PointerGetDatum(NULL);
}
