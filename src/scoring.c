/*
 * scoring.c
 *		Lead scoring in C: the AFTER INSERT ... FOR EACH STATEMENT trigger
 *		of crm.engagement_event (crm.trg_engagement_score), the refresh of
 *		stored scores (crm._score_refresh), the lock of a tenant's scoring
 *		model (crm._score_model_lock), and a per-backend cache of each
 *		tenant's model.
 *
 * A whole INSERT or COPY is scored in one pass over its transition table:
 * every event is matched against its tenant's active engagement rules
 * (event type, and the rule's property_match contained in the event's
 * properties), and its points are added to an in-memory tally keyed by
 * (record, rule, cap window) -- the number of events, the raw points, and
 * the points weighted to the tenant's reference time,
 *
 *		points * 2^((occurred_at - reference_at) / half_life)
 *
 * which never change with time (sql/45_scoring.sql explains how a score at
 * any instant follows from them).  The tally is written in batches of at
 * most SCORING_BATCH entries that never split a record, each with three
 * kept plans: lock (and create) the records' crm.score rows in id order;
 * read the records' score rows and tallies; write the merged tally rows
 * and the recomputed scores -- one update per affected lead or contact per
 * statement, whatever the number of its events.
 *
 * The refresh (score_refresh; also crm._score_refresh, used by every other
 * writer of scores) computes a record's scores from its tally exactly as
 * crm._score_at does in SQL -- rule caps per window, decay per group, group
 * caps -- and leaves the rounding, the total cap and the thresholds to the
 * UPDATE, in SQL, so that stored values are those crm.verify() recomputes.
 * Upward threshold crossings emit lead.mql / lead.sql through crm.emit.
 *
 * The model of a tenant (settings, event types, active rules and their
 * groups) is cached per backend.  Scorers take the tenant's model lock in
 * share mode before they read the model (cached or not) and keep it to the
 * end of their transaction; a model change (crm.trg_scoring_model) takes it
 * in exclusive mode and sends a relcache invalidation of
 * crm.scoring_settings, which every backend's callback turns into a new
 * cache generation.  So a scorer never uses a model that a concurrent
 * change replaces before it commits, and a scorer that waited for a change
 * reads the new model: the invalidation is sent before the change releases
 * its locks.
 *
 * An event type the tenant does not know is an error (22023) unless its
 * settings accept unknown types, which are then stored and scored by no
 * rule.  The work runs as the owner of crm.score: application roles cannot
 * write scores or tallies themselves.  In restore mode nothing is done: the
 * restored tally already counts the events.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "parser/parse_node.h"
#include "storage/itemptr.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
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

/* Entries per batch of the trigger (a batch never splits a record). */
#define SCORING_BATCH 20000

/* Records per refresh query (bounds the memory of a refresh). */
#define SCORING_REFRESH_CHUNK 10000

/* Tenant models kept per backend. */
#define SCORING_CACHE_SIZE 16

/* An active engagement rule, for matching events. */
typedef struct ScoreRule
{
	pg_uuid_t	id;
	char	   *event_type;
	Jsonb	   *property_match; /* NULL: any event of the type */
	int64		cents;			/* points * 100 */
	int32		window_days;	/* 0: no window */
	double		half_life_us;	/* 0: no decay */
} ScoreRule;

/* A group of rules. */
typedef struct ScoreGroup
{
	pg_uuid_t	id;
	bool		fit;
	bool		has_cap;
	double		cap;
	double		half_life_days; /* 0: no decay */
} ScoreGroup;

/* Any active rule, by id: what a tally row of it contributes to. */
typedef struct ScoreRuleRef
{
	pg_uuid_t	id;
	int			group;			/* index into ScoreModel.groups */
	bool		fit;
	int64		max_cents;		/* the cap per window * 100; 0: no cap */
} ScoreRuleRef;

/* A tenant's model, as scoring needs it. */
typedef struct ScoreModel
{
	pg_uuid_t	org;
	uint64		generation;		/* the cache generation it was read in */
	MemoryContext cxt;			/* holds the model */
	bool		has_settings;	/* without settings, events are stored only */
	bool		accept_unknown;
	TimestampTz reference_at;
	double		total_cap;		/* as float8 (100 without settings) */
	Datum		mql_threshold;	/* numeric; (Datum) 0 without settings */
	Datum		sql_threshold;
	int			ntypes;
	char	  **types;			/* known event types, sorted bytewise */
	int			nrules;
	ScoreRule  *rules;			/* engagement rules, sorted by event type */
	int			nrefs;
	ScoreRuleRef *refs;			/* every active rule, sorted by id */
	int			ngroups;
	ScoreGroup *groups;
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

/* Column numbers of crm.engagement_event, type-checked per relation. */
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

/* Kept plans. */
static SPIPlanPtr score_settings_plan = NULL;
static SPIPlanPtr score_types_plan = NULL;
static SPIPlanPtr score_rules_plan = NULL;
static SPIPlanPtr score_lock_plan = NULL;
static SPIPlanPtr score_read_plan = NULL;
static SPIPlanPtr score_write_plan = NULL;
static SPIPlanPtr score_emit_plan = NULL;
static SPIPlanPtr score_qualify_plan = NULL;

/*
 * The model cache.  An entry is valid while its generation is the current
 * one; a replaced entry may still be in use by a caller up the stack (a
 * refresh can run a trigger that refreshes again), so it is freed only at
 * the end of the transaction.
 */
static ScoreModel *score_cache[SCORING_CACHE_SIZE];
static int	score_cache_next = 0;	/* the slot to evict when all are used */
static List *score_retired = NIL;	/* replaced models, freed at transaction end */
static uint64 score_generation = 1;
static Oid	score_settings_oid = InvalidOid;
static bool score_callbacks_registered = false;

/* Relcache invalidation: of crm.scoring_settings (a model change), or of everything. */
static void
score_relcache_callback(Datum arg, Oid relid)
{
	(void) arg;
	if (relid == InvalidOid || relid == score_settings_oid)
	{
		score_generation++;
		score_settings_oid = InvalidOid;
	}
}

/* Retire a cached model (freed at the end of the transaction). */
static void
score_retire(ScoreModel *m)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	score_retired = lappend(score_retired, m);
	MemoryContextSwitchTo(old);
}

/*
 * End of a transaction: free the retired models; after an abort, forget
 * every model (one may have been read from the aborted transaction's own
 * uncommitted changes).
 */
static void
score_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	(void) arg;
	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PARALLEL_COMMIT && event != XACT_EVENT_PARALLEL_ABORT)
		return;
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		int			i;

		for (i = 0; i < SCORING_CACHE_SIZE; i++)
		{
			if (score_cache[i] != NULL)
				score_retire(score_cache[i]);
			score_cache[i] = NULL;
		}
	}
	foreach(lc, score_retired)
	{
		ScoreModel *m = (ScoreModel *) lfirst(lc);

		MemoryContextDelete(m->cxt);
	}
	list_free(score_retired);
	score_retired = NIL;
}

/* Register the callbacks and look up crm.scoring_settings (after every invalidation). */
static void
score_cache_setup(void)
{
	if (!score_callbacks_registered)
	{
		CacheRegisterRelcacheCallback(score_relcache_callback, (Datum) 0);
		RegisterXactCallback(score_xact_callback, NULL);
		score_callbacks_registered = true;
	}
	if (!OidIsValid(score_settings_oid))
	{
		score_settings_oid = crm_relation_oid("scoring_settings");
		if (!OidIsValid(score_settings_oid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("table crm.scoring_settings does not exist"),
					 errhint("The crm extension is incompletely installed; reinstall or update it.")));
	}
}

/*
 * Take a tenant's model lock (to the end of the transaction) and accept the
 * invalidations sent meanwhile: a model change that committed while we
 * waited is then seen by the cache.
 */
static void
score_lock_model(const pg_uuid_t *org, LOCKMODE mode)
{
	LOCKTAG		tag;

	crm_lock_tag(&tag, CRM_LOCK_SCORING, org, "model", 5);
	(void) LockAcquire(&tag, mode, false, false);
	AcceptInvalidationMessages();
}

static SPIPlanPtr
score_keep(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes)
{
	if (*slot == NULL)
	{
		/*
		 * A generic plan from the start: the statements are planned once
		 * per backend, not once per call (the arrays' sizes vary, the plans
		 * -- index lookups per element -- do not).
		 */
		SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		*slot = plan;
	}
	return *slot;
}

/*
 * Run a kept plan (prepared on first use) as "owner", each statement with
 * a new snapshot; raise unless SPI answered "expected".
 */
static void
score_run(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes, Datum *args,
		  const char *nulls, Oid owner, int expected, const char *what)
{
	int			rc = crm_spi_execute_as(owner, score_keep(slot, sql, nargs, argtypes), args, nulls, false, 0);

	if (rc != expected)
		elog(ERROR, "%s failed: %s", what, SPI_result_code_string(rc));
}

/*
 * score_run for the statements that look rows up by key, whose generic
 * plan is made with enable_seqscan off (crm_spi_execute_as_lookups): it is
 * made once per backend, possibly while a table is still empty (a scoring
 * backend's first statement, the first batch of a COPY before any tally row
 * exists).
 */
static void
score_run_lookups(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes, Datum *args,
				  const char *nulls, Oid owner, int expected, const char *what)
{
	int			rc = crm_spi_execute_as_lookups(owner, score_keep(slot, sql, nargs, argtypes),
												args, nulls, false, 0);

	if (rc != expected)
		elog(ERROR, "%s failed: %s", what, SPI_result_code_string(rc));
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

static int
score_ref_cmp(const void *a, const void *b)
{
	return memcmp(&((const ScoreRuleRef *) a)->id, &((const ScoreRuleRef *) b)->id, UUID_LEN);
}

static int
score_uuid_cmp(const void *a, const void *b)
{
	return memcmp(a, b, UUID_LEN);
}

/*
 * Read a tenant's model into m (allocated in cxt), as the owner of its
 * tables, each query with a new snapshot (in READ COMMITTED: a model change
 * that committed while we waited for the model lock is seen).  The caller
 * is connected to SPI.
 */
static void
score_load_model(ScoreModel *m, const pg_uuid_t *org, Oid owner, MemoryContext cxt)
{
	Oid			argtypes[1] = {UUIDOID};
	Datum		args[1];
	uint64		i;
	int			nrules;
	int			nengagement;
	MemoryContext old;

	m->org = *org;
	args[0] = UUIDPGetDatum(&m->org);

	score_run(&score_settings_plan,
			  "SELECT s.unknown_event_types = 'accept', s.reference_at, s.total_cap::float8,"
			  " s.mql_threshold, s.sql_threshold"
			  " FROM crm.scoring_settings s WHERE s.organization_id = $1",
			  1, argtypes, args, NULL, owner, SPI_OK_SELECT, "reading the scoring settings");
	if (SPI_processed == 0)
	{
		/* an organization without a scoring model: events are stored only */
		m->has_settings = false;
		m->accept_unknown = true;
		m->total_cap = 100;
	}
	else
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		m->has_settings = true;
		m->accept_unknown = DatumGetBool(SPI_getbinval(tup, desc, 1, &isnull));
		m->reference_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 2, &isnull));
		m->total_cap = DatumGetFloat8(SPI_getbinval(tup, desc, 3, &isnull));
		old = MemoryContextSwitchTo(cxt);
		m->mql_threshold = datumCopy(SPI_getbinval(tup, desc, 4, &isnull), false, -1);
		m->sql_threshold = datumCopy(SPI_getbinval(tup, desc, 5, &isnull), false, -1);
		MemoryContextSwitchTo(old);
	}
	SPI_freetuptable(SPI_tuptable);

	score_run(&score_types_plan,
			  "SELECT t.name FROM crm.engagement_event_type t WHERE t.organization_id = $1",
			  1, argtypes, args, NULL, owner, SPI_OK_SELECT, "reading the event types");
	old = MemoryContextSwitchTo(cxt);
	m->ntypes = (int) SPI_processed;
	m->types = palloc(sizeof(char *) * Max(m->ntypes, 1));
	for (i = 0; i < SPI_processed; i++)
		m->types[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
	MemoryContextSwitchTo(old);
	qsort(m->types, m->ntypes, sizeof(char *), score_str_cmp);
	SPI_freetuptable(SPI_tuptable);

	/* the active rules with their groups, by group */
	score_run(&score_rules_plan,
			  "SELECT r.id, r.kind = 'fit', r.event_type, r.property_match, (r.points * 100)::int8,"
			  " coalesce((r.max_points * 100)::int8, 0), coalesce(r.window_days, 0),"
			  " g.id, g.kind = 'fit', g.cap::float8, coalesce(g.half_life_days::float8, 0)"
			  " FROM crm.scoring_rule r JOIN crm.scoring_group g"
			  " ON g.organization_id = r.organization_id AND g.id = r.group_id"
			  " WHERE r.organization_id = $1 AND r.is_active"
			  " ORDER BY g.id, r.id",
			  1, argtypes, args, NULL, owner, SPI_OK_SELECT, "reading the scoring rules");
	old = MemoryContextSwitchTo(cxt);
	nrules = (int) SPI_processed;
	m->refs = palloc0(sizeof(ScoreRuleRef) * Max(nrules, 1));
	m->rules = palloc0(sizeof(ScoreRule) * Max(nrules, 1));
	m->groups = palloc0(sizeof(ScoreGroup) * Max(nrules, 1));
	m->nrefs = 0;
	m->ngroups = 0;
	nengagement = 0;
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		ScoreRuleRef *ref = &m->refs[m->nrefs++];
		bool		isnull;
		pg_uuid_t	gid = *DatumGetUUIDP(SPI_getbinval(tup, desc, 8, &isnull));
		ScoreGroup *g;
		Datum		d;

		/* rows come by group: a new group starts when the id changes */
		if (m->ngroups == 0 || memcmp(&m->groups[m->ngroups - 1].id, &gid, UUID_LEN) != 0)
		{
			g = &m->groups[m->ngroups++];
			g->id = gid;
			g->fit = DatumGetBool(SPI_getbinval(tup, desc, 9, &isnull));
			d = SPI_getbinval(tup, desc, 10, &isnull);
			g->has_cap = !isnull;
			g->cap = isnull ? 0 : DatumGetFloat8(d);
			g->half_life_days = DatumGetFloat8(SPI_getbinval(tup, desc, 11, &isnull));
		}
		g = &m->groups[m->ngroups - 1];

		ref->id = *DatumGetUUIDP(SPI_getbinval(tup, desc, 1, &isnull));
		ref->fit = DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull));
		ref->group = m->ngroups - 1;
		ref->max_cents = DatumGetInt64(SPI_getbinval(tup, desc, 6, &isnull));

		/* engagement rules count events only where the tenant has settings */
		if (!ref->fit && m->has_settings)
		{
			ScoreRule  *r = &m->rules[nengagement++];

			r->id = ref->id;
			r->event_type = SPI_getvalue(tup, desc, 3);
			d = SPI_getbinval(tup, desc, 4, &isnull);
			r->property_match = isnull ? NULL : DatumGetJsonbPCopy(d);
			r->cents = DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull));
			r->window_days = DatumGetInt32(SPI_getbinval(tup, desc, 7, &isnull));
			r->half_life_us = g->half_life_days * (double) USECS_PER_DAY;
		}
	}
	m->nrules = nengagement;
	MemoryContextSwitchTo(old);
	qsort(m->rules, m->nrules, sizeof(ScoreRule), score_rule_cmp);
	qsort(m->refs, m->nrefs, sizeof(ScoreRuleRef), score_ref_cmp);
	SPI_freetuptable(SPI_tuptable);
}

/*
 * The model of a tenant: cached, or read (and cached).  The caller holds
 * the tenant's model lock and is connected to SPI.  The model stays valid
 * to the end of the transaction.
 */
static ScoreModel *
score_model(const pg_uuid_t *org, Oid owner)
{
	ScoreModel *m;
	uint64		generation;
	MemoryContext cxt;
	int			slot = -1;
	int			i;

	score_cache_setup();
	for (i = 0; i < SCORING_CACHE_SIZE; i++)
	{
		m = score_cache[i];
		if (m != NULL && memcmp(&m->org, org, UUID_LEN) == 0)
		{
			if (m->generation == score_generation)
				return m;
			score_retire(m);
			score_cache[i] = NULL;
			slot = i;
			break;
		}
	}
	if (slot < 0)
		for (i = 0; i < SCORING_CACHE_SIZE && slot < 0; i++)
			if (score_cache[i] == NULL)
				slot = i;
	if (slot < 0)
	{
		slot = score_cache_next;
		score_cache_next = (score_cache_next + 1) % SCORING_CACHE_SIZE;
		score_retire(score_cache[slot]);
		score_cache[slot] = NULL;
	}

	/*
	 * Read under the current context, so that an error frees it; keep it
	 * only once complete.  The generation is the one before the model is
	 * read: an invalidation arriving meanwhile makes the entry stale at once.
	 */
	generation = score_generation;
	cxt = AllocSetContextCreate(CurrentMemoryContext, "crm scoring model", ALLOCSET_SMALL_SIZES);
	m = MemoryContextAllocZero(cxt, sizeof(ScoreModel));
	m->cxt = cxt;
	score_load_model(m, org, owner, cxt);
	m->generation = generation;
	MemoryContextSetParent(cxt, TopMemoryContext);
	score_cache[slot] = m;
	return m;
}

static bool
score_type_known(const ScoreModel *m, const char *type)
{
	return bsearch(&type, m->types, m->ntypes, sizeof(char *), score_str_cmp) != NULL;
}

static const ScoreRuleRef *
score_find_ref(const ScoreModel *m, const pg_uuid_t *id)
{
	ScoreRuleRef key;

	key.id = *id;
	return bsearch(&key, m->refs, m->nrefs, sizeof(ScoreRuleRef), score_ref_cmp);
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

/* A uuid[] of n uuids. */
static Datum
score_uuid_array(const pg_uuid_t *ids, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		d[i] = UUIDPGetDatum(&ids[i]);
	return PointerGetDatum(construct_array(d, n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
}

/* A float8[] of n values. */
static Datum
score_float8_array(const double *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		d[i] = Float8GetDatum(v[i]);
	return PointerGetDatum(construct_array(d, n, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* A threshold crossing found by a refresh. */
typedef struct ScoreCrossing
{
	pg_uuid_t	id;
	int			old_stage;
	int			new_stage;
	Datum		lead_score;
} ScoreCrossing;

static int
score_crossing_cmp(const void *a, const void *b)
{
	return memcmp(&((const ScoreCrossing *) a)->id, &((const ScoreCrossing *) b)->id, UUID_LEN);
}

/* 0 none, 1 mql, 2 sql */
static int
score_stage_code(const char *s)
{
	if (strcmp(s, "sql") == 0)
		return 2;
	if (strcmp(s, "mql") == 0)
		return 1;
	return 0;
}

/* The place in recs (sorted) of the record in column 1 of a result row, or -1. */
static int
score_record_index(HeapTuple tup, TupleDesc desc, const pg_uuid_t *recs, int n)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, 1, &isnull);
	pg_uuid_t  *at;

	if (isnull)
		return -1;
	at = bsearch(DatumGetUUIDP(d), recs, n, sizeof(pg_uuid_t), score_uuid_cmp);
	return at == NULL ? -1 : (int) (at - recs);
}

/* Emit lead.mql or lead.sql for a lead through crm.emit. */
static void
score_emit(const char *event, const pg_uuid_t *org, const ScoreCrossing *c, Oid owner)
{
	Oid			emit_types[4] = {TEXTOID, UUIDOID, NUMERICOID, UUIDOID};
	Datum		args[4];

	args[0] = CStringGetTextDatum(event);
	args[1] = UUIDPGetDatum(&c->id);
	args[2] = c->lead_score;
	args[3] = UUIDPGetDatum(org);
	score_run(&score_emit_plan,
			  "SELECT crm.emit($1, 'lead', $2, pg_catalog.jsonb_build_object('lead_score', $3), $4)",
			  4, emit_types, args, NULL, owner, SPI_OK_SELECT, "crm.emit");
}

/* Emit the events of a lead's upward crossing; reaching SQL qualifies it. */
static void
score_cross(const pg_uuid_t *org, const ScoreCrossing *c, Oid owner)
{
	Oid			qualify_types[2] = {UUIDOID, UUIDOID};
	Datum		args[2];

	if (c->old_stage == 0 && c->new_stage >= 1)
		score_emit("lead.mql", org, c, owner);
	if (c->new_stage == 2)
	{
		score_emit("lead.sql", org, c, owner);
		args[0] = UUIDPGetDatum(org);
		args[1] = UUIDPGetDatum(&c->id);
		score_run(&score_qualify_plan,
				  "UPDATE crm.lead l SET status = 'qualified'"
				  " WHERE l.organization_id = $1 AND l.id = $2"
				  " AND l.status IN ('new', 'contacted', 'nurturing')",
				  2, qualify_types, args, NULL, owner, SPI_OK_UPDATE, "qualifying a lead");
	}
}

/* A numeric[] of n amounts given in cents (scale 2). */
static Datum
score_numeric_cents_array(const int64 *cents, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		d[i] = NumericGetDatum(int64_div_fast_to_numeric(cents[i], 2));
	return PointerGetDatum(construct_array(d, n, NUMERICOID, -1, false, TYPALIGN_INT));
}

/* An int8[] of n values. */
static Datum
score_int8_array(const int64 *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		d[i] = Int64GetDatum(v[i]);
	return PointerGetDatum(construct_array(d, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* A tid[] of n item pointers. */
static Datum
score_tid_array(ItemPointerData *tids, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		d[i] = PointerGetDatum(&tids[i]);
	return PointerGetDatum(construct_array(d, n, TIDOID, sizeof(ItemPointerData), false, TYPALIGN_SHORT));
}

/*
 * Add a tally row of a rule (raw points in cents, weighted points) to a
 * record's sums per group and its engagement_ref.
 */
static void
score_accumulate(const ScoreRuleRef *rule, int64 raw, double w, double *groups, double *ref)
{
	int64		absraw = raw < 0 ? -raw : raw;

	/* the rule cap of a window scales its weighted points alike */
	if (rule->max_cents > 0 && absraw > rule->max_cents)
		w = w * ((double) rule->max_cents / (double) absraw);
	groups[rule->group] += w;
	if (!rule->fit)
		*ref += w;
}

/* The entry of pending[0..n) (sorted) with the key of a tally row, or NULL. */
static ScoreEntry *
score_find_pending(ScoreEntry **pending, int n, const pg_uuid_t *org, const pg_uuid_t *record,
				   const pg_uuid_t *rule, int64 bucket)
{
	ScoreEntry	key;
	ScoreEntry *kp = &key;
	ScoreEntry **found;

	memset(&key, 0, sizeof(key));
	key.key.org = *org;
	key.key.record = *record;
	key.key.rule = *rule;
	key.key.bucket = bucket;
	found = bsearch(&kp, pending, n, sizeof(ScoreEntry *), score_entry_cmp);
	return found == NULL ? NULL : *found;
}

/* What one refresh chunk writes: tally rows to insert and to update. */
typedef struct ScoreWrites
{
	int			nins;
	pg_uuid_t  *ins_record;
	pg_uuid_t  *ins_rule;
	int64	   *ins_bucket;
	int64	   *ins_events;
	int64	   *ins_cents;
	double	   *ins_weighted;
	int			nupd;
	ItemPointerData *upd_tid;
	int64	   *upd_events;
	int64	   *upd_cents;
	double	   *upd_weighted;
} ScoreWrites;

/*
 * Store the scores of records (sorted, distinct) as of "at" from their
 * tallies -- with the entries "pending" (sorted by key; the trigger's, for
 * these records only) added to them -- and handle upward threshold
 * crossings.  The caller holds the records' score row locks and the
 * tenant's model lock, and is connected to SPI.
 *
 * Per chunk of records: one statement reads the score rows and the tallies
 * (each looked up by key), the pending entries are merged into the tally
 * rows in memory, the scores are computed from the merged tallies, and one
 * statement writes the new and changed tally rows and the scores.  Every
 * writer of a record's tally holds its score row lock, so no other session
 * can add a tally row between the read and the write: new rows are plain
 * inserts.  The score is what crm._score_at computes in SQL, in the same
 * order of operations on float8: per rule and window, the weighted points
 * scaled down to the rule's cap; per group, their sum times the group's
 * decay factor, capped; fit and engagement as the sums of their groups.
 */
static void
score_refresh(const ScoreModel *m, const pg_uuid_t *records, int nrecords, TimestampTz at, Oid owner,
			  ScoreEntry **pending, int npending)
{
	Oid			read_types[2] = {UUIDOID, UUIDARRAYOID};
	Oid			write_types[19] = {TIDARRAYOID, FLOAT8ARRAYOID, FLOAT8ARRAYOID, FLOAT8ARRAYOID,
		TIMESTAMPTZOID, FLOAT8OID, NUMERICOID, NUMERICOID,
		UUIDOID, UUIDARRAYOID, UUIDARRAYOID, INT8ARRAYOID, INT8ARRAYOID, NUMERICARRAYOID, FLOAT8ARRAYOID,
	TIDARRAYOID, INT8ARRAYOID, NUMERICARRAYOID, FLOAT8ARRAYOID};
	int			ngroups = Max(m->ngroups, 1);
	int			chunk = Max(1, Min(SCORING_REFRESH_CHUNK, 1000000 / ngroups));
	double	   *factor = palloc(sizeof(double) * ngroups);
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "crm score refresh", ALLOCSET_DEFAULT_SIZES);
	int			from;
	int			pfrom = 0;
	int			g;

	/* the decay of each group at "at", as crm._score_parts computes it */
	for (g = 0; g < m->ngroups; g++)
	{
		if (m->groups[g].half_life_days <= 0)
			factor[g] = 1.0;
		else
			factor[g] = pow(2.0, -(((double) (at - m->reference_at) / 1000000.0) /
								   (m->groups[g].half_life_days * 86400.0)));
	}

	for (from = 0; from < nrecords; from += chunk)
	{
		int			n = Min(chunk, nrecords - from);
		const pg_uuid_t *recs = records + from;
		MemoryContext old = MemoryContextSwitchTo(cxt);
		double	   *acc = palloc0(sizeof(double) * n * ngroups);
		double	   *ref = palloc0(sizeof(double) * n);
		int		   *old_stage = palloc0(sizeof(int) * n);
		bool	   *present = palloc0(sizeof(bool) * n);
		ItemPointerData *tids = palloc(sizeof(ItemPointerData) * n);
		ItemPointerData *score_tids = palloc(sizeof(ItemPointerData) * n);
		double	   *fit = palloc(sizeof(double) * n);
		double	   *eng = palloc(sizeof(double) * n);
		double	   *refs = palloc(sizeof(double) * n);
		ScoreEntry **pend;
		int			npend = 0;
		ScoreWrites w;
		ScoreCrossing *cross;
		int			ncross = 0;
		int			nids = 0;
		Datum		args[19];
		uint64		i;
		int			k;

		/* the pending entries of this chunk's records (both sorted by record) */
		pend = pending + pfrom;
		while (pfrom + npend < npending &&
			   memcmp(&pending[pfrom + npend]->key.record, &recs[n - 1], UUID_LEN) <= 0)
			npend++;
		pfrom += npend;
		memset(&w, 0, sizeof(w));
		w.upd_tid = palloc(sizeof(ItemPointerData) * Max(npend, 1));
		w.upd_events = palloc(sizeof(int64) * Max(npend, 1));
		w.upd_cents = palloc(sizeof(int64) * Max(npend, 1));
		w.upd_weighted = palloc(sizeof(double) * Max(npend, 1));
		w.ins_record = palloc(sizeof(pg_uuid_t) * Max(npend, 1));
		w.ins_rule = palloc(sizeof(pg_uuid_t) * Max(npend, 1));
		w.ins_bucket = palloc(sizeof(int64) * Max(npend, 1));
		w.ins_events = palloc(sizeof(int64) * Max(npend, 1));
		w.ins_cents = palloc(sizeof(int64) * Max(npend, 1));
		w.ins_weighted = palloc(sizeof(double) * Max(npend, 1));

		/*
		 * The records' score rows (where they are, and their stages) and
		 * tally rows, each looked up by its key, one record after the
		 * other: the subqueries cannot be flattened into a join (a hash
		 * join would read every tally of the tenant), and the plan is made
		 * without sequential scans (score_run_lookups).
		 */
		args[0] = UUIDPGetDatum(&m->org);
		args[1] = score_uuid_array(recs, n);
		score_run_lookups(&score_read_plan,
				  "SELECT r.id, s.ctid, s.stage, NULL::uuid, NULL::int8, NULL::int8, NULL::int8, NULL::float8"
				  " FROM unnest($2) AS r(id), LATERAL (SELECT x.ctid, x.stage FROM crm.score x"
				  " WHERE x.organization_id = $1 AND x.record_id = r.id OFFSET 0) s"
				  " UNION ALL"
				  " SELECT r.id, t.ctid, NULL, t.rule_id, t.bucket, t.events, (t.raw_points * 100)::int8, t.weighted"
				  " FROM unnest($2) AS r(id), LATERAL (SELECT y.ctid, y.rule_id, y.bucket, y.events, y.raw_points, y.weighted"
				  " FROM crm.score_tally y WHERE y.organization_id = $1 AND y.record_id = r.id OFFSET 0) t",
				  2, read_types, args, NULL, owner, SPI_OK_SELECT, "reading score tallies");
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			ItemPointer tid;
			pg_uuid_t  *rule_id;
			int64		bucket;
			int64		events;
			int64		raw;
			double		wt;
			ScoreEntry *e;
			const ScoreRuleRef *rule;
			Datum		d;

			k = score_record_index(tup, desc, recs, n);
			if (k < 0)
				continue;
			tid = (ItemPointer) DatumGetPointer(SPI_getbinval(tup, desc, 2, &isnull));
			d = SPI_getbinval(tup, desc, 4, &isnull);
			if (isnull)
			{
				/* the score row (locked by the caller: it stays where it is) */
				present[k] = true;
				score_tids[k] = *tid;
				old_stage[k] = score_stage_code(TextDatumGetCString(SPI_getbinval(tup, desc, 3, &isnull)));
				continue;
			}
			rule_id = DatumGetUUIDP(d);
			bucket = DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull));
			events = DatumGetInt64(SPI_getbinval(tup, desc, 6, &isnull));
			raw = DatumGetInt64(SPI_getbinval(tup, desc, 7, &isnull));
			wt = DatumGetFloat8(SPI_getbinval(tup, desc, 8, &isnull));
			/* a pending entry adds to the row (as "t.x + EXCLUDED.x" would) */
			e = npend > 0 ? score_find_pending(pend, npend, &m->org, &recs[k], rule_id, bucket) : NULL;
			if (e != NULL)
			{
				events += e->events;
				raw += e->cents;
				wt += e->weighted;
				w.upd_tid[w.nupd] = *tid;
				w.upd_events[w.nupd] = events;
				w.upd_cents[w.nupd] = raw;
				w.upd_weighted[w.nupd] = wt;
				w.nupd++;
				e->events = -1;	/* merged */
			}
			rule = score_find_ref(m, rule_id);
			if (rule == NULL)
				continue;		/* an inactive rule */
			score_accumulate(rule, raw, wt, &acc[(size_t) k * ngroups], &ref[k]);
		}
		SPI_freetuptable(SPI_tuptable);

		/* pending entries with no tally row yet: new rows */
		for (k = 0; k < npend; k++)
		{
			ScoreEntry *e = pend[k];
			const pg_uuid_t *at_rec;
			const ScoreRuleRef *rule;
			int			r;

			if (e->events < 0)
				continue;
			at_rec = bsearch(&e->key.record, recs, n, sizeof(pg_uuid_t), score_uuid_cmp);
			Assert(at_rec != NULL);
			r = (int) (at_rec - recs);
			w.ins_record[w.nins] = e->key.record;
			w.ins_rule[w.nins] = e->key.rule;
			w.ins_bucket[w.nins] = e->key.bucket;
			w.ins_events[w.nins] = e->events;
			w.ins_cents[w.nins] = e->cents;
			w.ins_weighted[w.nins] = e->weighted;
			w.nins++;
			rule = score_find_ref(m, &e->key.rule);
			if (rule != NULL)
				score_accumulate(rule, e->cents, e->weighted, &acc[(size_t) r * ngroups], &ref[r]);
		}

		/* decay, group caps, fit and engagement */
		for (k = 0; k < n; k++)
		{
			double		f = 0;
			double		e = 0;

			if (!present[k])
				continue;
			for (g = 0; g < m->ngroups; g++)
			{
				const ScoreGroup *grp = &m->groups[g];
				double		v = acc[(size_t) k * ngroups + g];

				if (v == 0)
					continue;
				v = v * factor[g];
				if (grp->has_cap && v > grp->cap)
					v = grp->cap;
				if (grp->fit)
					f += v;
				else
					e += v;
			}
			tids[nids] = score_tids[k];
			fit[nids] = f;
			eng[nids] = e;
			refs[nids] = ref[k];
			nids++;
		}

		if (nids == 0 && w.nins == 0 && w.nupd == 0)
		{
			MemoryContextSwitchTo(old);
			MemoryContextReset(cxt);
			continue;
		}

		/*
		 * Write: the new and changed tally rows (the CTEs), and the scores,
		 * rounded, clamped and staged in SQL with the very expressions of
		 * crm._score_at (float8 to numeric, then round).  Every row is
		 * written where the read found it (TID lookups).
		 */
		args[0] = score_tid_array(tids, nids);
		args[1] = score_float8_array(fit, nids);
		args[2] = score_float8_array(eng, nids);
		args[3] = score_float8_array(refs, nids);
		args[4] = TimestampTzGetDatum(at);
		args[5] = Float8GetDatum(m->total_cap);
		args[6] = m->mql_threshold;
		args[7] = m->sql_threshold;
		args[8] = UUIDPGetDatum(&m->org);
		args[9] = score_uuid_array(w.ins_record, w.nins);
		args[10] = score_uuid_array(w.ins_rule, w.nins);
		args[11] = score_int8_array(w.ins_bucket, w.nins);
		args[12] = score_int8_array(w.ins_events, w.nins);
		args[13] = score_numeric_cents_array(w.ins_cents, w.nins);
		args[14] = score_float8_array(w.ins_weighted, w.nins);
		args[15] = score_tid_array(w.upd_tid, w.nupd);
		args[16] = score_int8_array(w.upd_events, w.nupd);
		args[17] = score_numeric_cents_array(w.upd_cents, w.nupd);
		args[18] = score_float8_array(w.upd_weighted, w.nupd);
		score_run_lookups(&score_write_plan,
				  "WITH new_tally AS ("
				  " INSERT INTO crm.score_tally (organization_id, record_id, rule_id, bucket, events, raw_points, weighted)"
				  " SELECT $9, u.r, u.ru, u.b, u.n, u.p, u.w"
				  " FROM ROWS FROM (unnest($10), unnest($11), unnest($12), unnest($13), unnest($14), unnest($15))"
				  " AS u(r, ru, b, n, p, w)),"
				  " changed_tally AS ("
				  " UPDATE crm.score_tally t SET events = u.n, raw_points = u.p, weighted = u.w"
				  " FROM ROWS FROM (unnest($16), unnest($17), unnest($18), unnest($19)) AS u(tid, n, p, w)"
				  " WHERE t.ctid = u.tid)"
				  " UPDATE crm.score s"
				  " SET engagement_ref = u.ref, fit_score = round(u.fit::numeric, 2),"
				  " engagement_score = round(u.eng::numeric, 2), lead_score = u.ls, score_updated_at = $5,"
				  " stage = CASE WHEN s.lead_id IS NULL THEN 'none' WHEN u.ls >= $8 THEN 'sql'"
				  " WHEN u.ls >= $7 THEN 'mql' ELSE 'none' END"
				  " FROM (SELECT x.tid, x.fit, x.eng, x.ref,"
				  " round(least(greatest(x.fit + x.eng, 0), $6)::numeric, 2) AS ls"
				  " FROM ROWS FROM (unnest($1), unnest($2), unnest($3), unnest($4)) AS x(tid, fit, eng, ref)) u"
				  " WHERE s.ctid = u.tid"
				  " RETURNING s.record_id, s.lead_id IS NOT NULL, s.stage, s.lead_score",
				  19, write_types, args, m->has_settings ? NULL : "      nn           ",
				  owner, SPI_OK_UPDATE_RETURNING, "storing scores");
		cross = palloc(sizeof(ScoreCrossing) * Max(SPI_processed, 1));
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			int			stage;

			k = score_record_index(tup, desc, recs, n);
			if (k < 0 || !DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull)))
				continue;
			stage = score_stage_code(TextDatumGetCString(SPI_getbinval(tup, desc, 3, &isnull)));
			/* once per upward crossing: none -> mql -> sql */
			if (stage <= old_stage[k])
				continue;
			cross[ncross].id = recs[k];
			cross[ncross].old_stage = old_stage[k];
			cross[ncross].new_stage = stage;
			cross[ncross].lead_score = datumCopy(SPI_getbinval(tup, desc, 4, &isnull), false, -1);
			ncross++;
		}
		SPI_freetuptable(SPI_tuptable);
		qsort(cross, ncross, sizeof(ScoreCrossing), score_crossing_cmp);
		for (k = 0; k < ncross; k++)
			score_cross(&m->org, &cross[k], owner);

		MemoryContextSwitchTo(old);
		MemoryContextReset(cxt);
	}
	MemoryContextDelete(cxt);
	pfree(factor);
}

/*
 * Write entries [from, to) of one tenant (sorted by key): lock the
 * records' score rows (creating the missing ones) in id order, in one
 * statement, then merge the entries into the records' tallies and refresh
 * the records (score_refresh).
 */
static void
score_flush(const ScoreModel *m, ScoreEntry **es, int from, int to, Oid owner)
{
	Oid			lock_types[3] = {UUIDOID, UUIDARRAYOID, UUIDARRAYOID};
	Datum		values[3];
	int			n = to - from;
	pg_uuid_t  *recs = palloc(sizeof(pg_uuid_t) * n);
	pg_uuid_t  *leads = palloc(sizeof(pg_uuid_t) * n);
	pg_uuid_t  *contacts = palloc(sizeof(pg_uuid_t) * n);
	int			nrecs = 0,
				nl = 0,
				nc = 0,
				i;

	for (i = 0; i < n; i++)
	{
		ScoreEntry *e = es[from + i];

		/* a new record: entries are sorted by record */
		if (i == 0 || memcmp(&e->key.record, &es[from + i - 1]->key.record, UUID_LEN) != 0)
		{
			recs[nrecs++] = e->key.record;
			if (e->is_lead)
				leads[nl++] = e->key.record;
			else
				contacts[nc++] = e->key.record;
		}
	}

	/*
	 * Every writer of a record's tally holds its score row lock, so
	 * concurrent statements for one record take turns, and each reads the
	 * tally after the lock, with a new snapshot (no lost update at any
	 * isolation level: REPEATABLE READ fails with 40001 here instead).
	 */
	values[0] = UUIDPGetDatum(&m->org);
	values[1] = score_uuid_array(leads, nl);
	values[2] = score_uuid_array(contacts, nc);
	score_run(&score_lock_plan,
			  "INSERT INTO crm.score AS s (record_id, organization_id, lead_id, contact_id)"
			  " SELECT x.id, $1, x.lead_id, x.contact_id FROM"
			  " (SELECT u.id, u.id AS lead_id, NULL::uuid AS contact_id FROM unnest($2) AS u(id)"
			  " UNION ALL SELECT u.id, NULL::uuid, u.id FROM unnest($3) AS u(id)) x"
			  " ORDER BY x.id"
			  " ON CONFLICT ON CONSTRAINT score_pkey DO UPDATE SET stage = s.stage WHERE false",
			  3, lock_types, values, NULL, owner, SPI_OK_INSERT, "locking score rows");

	score_refresh(m, recs, nrecs, GetCurrentTransactionStartTimestamp(), owner, es + from, n);
}

/* The column numbers of crm.engagement_event, checked once per relation. */
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

/* The owner of crm.score, whom scoring runs as. */
static Oid
score_owner(void)
{
	Oid			score_rel = crm_relation_oid("score");

	if (!OidIsValid(score_rel))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table crm.score does not exist"),
				 errhint("The crm extension is incompletely installed; reinstall or update it.")));
	return crm_relation_owner(score_rel);
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
	ScoreModel **models = NULL;
	int			nmodels = 0;
	int			maxmodels = 0;
	ScoreModel *m = NULL;
	Oid			owner;
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
	owner = score_owner();

	cxt = AllocSetContextCreate(CurrentMemoryContext, "crm scoring", ALLOCSET_DEFAULT_SIZES);
	row_cxt = AllocSetContextCreate(cxt, "crm scoring row", ALLOCSET_SMALL_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(ScoreKey);
	ctl.entrysize = sizeof(ScoreEntry);
	ctl.hcxt = cxt;
	tally = hash_create("crm scoring tally", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

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

		/*
		 * Rows of one tenant come together: find its model, or lock the
		 * tenant's model (share) and get it.
		 */
		if (m == NULL || memcmp(&m->org, &org, UUID_LEN) != 0)
		{
			m = NULL;
			for (i = 0; i < nmodels; i++)
				if (memcmp(&models[i]->org, &org, UUID_LEN) == 0)
					m = models[i];
			if (m == NULL)
			{
				old = MemoryContextSwitchTo(cxt);
				if (nmodels == maxmodels)
				{
					maxmodels = Max(4, maxmodels * 2);
					models = models ? repalloc(models, sizeof(ScoreModel *) * maxmodels)
						: palloc(sizeof(ScoreModel *) * maxmodels);
				}
				MemoryContextSwitchTo(old);
				score_lock_model(&org, ShareLock);
				m = score_model(&org, owner);
				models[nmodels++] = m;
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
				int			k;

				m = NULL;
				for (k = 0; k < nmodels; k++)
					if (memcmp(&models[k]->org, &es[from]->key.org, UUID_LEN) == 0)
						m = models[k];
				Assert(m != NULL);
				old = MemoryContextSwitchTo(row_cxt);
				score_flush(m, es, from, i, owner);
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

PG_FUNCTION_INFO_V1(scoring_refresh);

/*
 * SQL: crm._score_refresh(org uuid, records uuid[], at timestamptz) returns
 * void: stores the scores of records as of an instant (see score_refresh).
 * The caller holds the records' score row locks (crm._score_lock).
 */
Datum
scoring_refresh(PG_FUNCTION_ARGS)
{
	pg_uuid_t	org;
	ArrayType  *arr;
	TimestampTz at;
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	pg_uuid_t  *recs;
	int			n = 0;
	int			i;
	Oid			owner;
	ScoreModel *m;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_VOID();
	org = *PG_GETARG_UUID_P(0);
	arr = PG_GETARG_ARRAYTYPE_P(1);
	at = PG_GETARG_TIMESTAMPTZ(2);
	if (ARR_ELEMTYPE(arr) != UUIDOID)
		elog(ERROR, "crm._score_refresh: records must be uuid[]");
	deconstruct_array(arr, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR, &elems, &nulls, &nelems);
	recs = palloc(sizeof(pg_uuid_t) * Max(nelems, 1));
	for (i = 0; i < nelems; i++)
		if (!nulls[i])
			recs[n++] = *DatumGetUUIDP(elems[i]);
	if (n == 0)
		PG_RETURN_VOID();
	qsort(recs, n, sizeof(pg_uuid_t), score_uuid_cmp);
	/* distinct */
	{
		int			k = 1;

		for (i = 1; i < n; i++)
			if (memcmp(&recs[i], &recs[k - 1], UUID_LEN) != 0)
				recs[k++] = recs[i];
		n = k;
	}

	owner = score_owner();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	score_lock_model(&org, ShareLock);
	m = score_model(&org, owner);
	score_refresh(m, recs, n, at, owner, NULL, 0);
	SPI_finish();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(scoring_model_lock);

/*
 * SQL: crm._score_model_lock(org uuid, exclusive boolean) returns void: the
 * tenant's model lock, to the end of the transaction.  Share: a scorer
 * (crm._score_recompute; the event trigger and crm._score_refresh take it
 * themselves).  Exclusive: a change of the model, which also invalidates
 * every backend's cached models when it commits (and this backend's at
 * its next command).
 */
Datum
scoring_model_lock(PG_FUNCTION_ARGS)
{
	pg_uuid_t	org;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_VOID();
	org = *PG_GETARG_UUID_P(0);
	if (PG_GETARG_BOOL(1))
	{
		score_cache_setup();
		score_lock_model(&org, ExclusiveLock);
		CacheInvalidateRelcacheByRelid(score_settings_oid);
	}
	else
		score_lock_model(&org, ShareLock);
	PG_RETURN_VOID();
}
