/*
 * sla.c
 *		SQL glue of the business calendars: crm.business_add,
 *		crm.business_minutes, the microsecond variants the SLA engine uses,
 *		and the validation behind crm.create_business_calendar.  The
 *		arithmetic itself is pure C (sla_calendar.c); here the calendar row
 *		is read, compiled once per backend and cached, and the calendar's
 *		zone is supplied to the core from PostgreSQL's own time zone
 *		database (pg_next_dst_boundary).
 *
 * The cache: entries keyed by (organization, calendar id), valid for one
 * generation.  The generation moves when a relcache invalidation of
 * crm.business_calendar arrives (crm.trg_criteria_catalog sends one at the
 * commit of every change, to every backend; the own backend sees it at the
 * next command) or of all relations.  A calendar row is read like a catalog
 * row, with the latest snapshot, after the generation was taken: since a
 * committing transaction sends its invalidations only after it has become
 * visible, an entry can never hold data older than its generation.
 *
 * Errors: 22023 for invalid hours, holidays, time zones and negative
 * minutes; 42704 (undefined_object) for a calendar that does not exist --
 * also for another tenant's, which is invisible; 22008 for instants outside
 * the years 1000..9999.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "crm.h"
#include "sla_calendar.h"
#include "trigger_support.h"

#define SLA_CACHE_MAX 1024
/* seconds from the Unix epoch to PostgreSQL's (2000-01-01) */
#define SLA_EPOCH_DIFF ((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)

typedef struct SlaCacheKey
{
	pg_uuid_t	org;
	pg_uuid_t	id;
} SlaCacheKey;

typedef struct SlaCacheEntry
{
	SlaCacheKey key;
	uint64		generation;
	pg_tz	   *tz;
	int32	   *holidays;		/* TopMemoryContext */
	SlaCalendar cal;
} SlaCacheEntry;

static HTAB *sla_cache = NULL;
static uint64 sla_generation = 1;
static Oid	sla_calendar_oid = InvalidOid;
static SPIPlanPtr sla_read_plan = NULL;

/* Relcache invalidation of crm.business_calendar, or of everything. */
static void
sla_relcache_callback(Datum arg, Oid relid)
{
	(void) arg;
	if (relid == InvalidOid || relid == sla_calendar_oid)
	{
		sla_generation++;
		sla_calendar_oid = InvalidOid;
	}
}

/* The zone callback: PostgreSQL's offset at utc and its next change. */
static bool
sla_zone(void *ctx, int64_t utc, int64_t *offset, int64_t *next_change)
{
	pg_tz	   *tz = (pg_tz *) ctx;
	pg_time_t	t;
	pg_time_t	boundary;
	long int	before,
				after;
	int			bdst,
				adst,
				r;

	/* floor to the second: transitions fall on whole seconds */
	t = (pg_time_t) (utc >= 0 ? utc / USECS_PER_SEC : -((-utc + USECS_PER_SEC - 1) / USECS_PER_SEC));
	t += SLA_EPOCH_DIFF;
	r = pg_next_dst_boundary(&t, &before, &bdst, &boundary, &after, &adst, tz);
	if (r < 0)
		return false;
	*offset = (int64) before * USECS_PER_SEC;
	if (r == 0 || boundary <= t)
		*next_change = SLA_NEVER;
	else
		*next_change = (int64) (boundary - SLA_EPOCH_DIFF) * USECS_PER_SEC;
	return true;
}

/* The zone named by a text, or an error naming it. */
static pg_tz *
sla_lookup_zone(const char *name)
{
	pg_tz	   *tz = NULL;

	if (strlen(name) > 0 && strlen(name) <= TZ_STRLEN_MAX)
		tz = pg_tzset(name);
	if (tz == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%s\" is not known", name),
				 errhint("Use an IANA zone name such as 'Europe/Berlin' (see pg_timezone_names).")));
	return tz;
}

/* Raises the error of a failed parse ("what" names the part). */
static void
sla_raise_calendar(const char *what, const char *err)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid business calendar %s: %s", what, err),
			 errhint("hours is {\"mon\": [[\"09:00\",\"12:00\"],[\"13:00\",\"17:00\"]], ..., \"sun\": []}: keys mon..sun, times HH:MM up to 24:00, intervals of one calendar must not overlap; recurring holidays are 'MM-DD'.")));
}

/*
 * Compiles the parts of a calendar into cal; holidays (date datums) are
 * copied into *holidays_out (allocated in cxt).  Raises on invalid input.
 */
static void
sla_compile(SlaCalendar *cal, const char *hours, ArrayType *holidays, ArrayType *recurring,
			MemoryContext cxt, int32 **holidays_out)
{
	char		err[256];
	SlaStatus	st;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int32	   *days;

	sla_calendar_init(cal);
	st = sla_parse_hours(cal, hours, strlen(hours), err, sizeof(err));
	if (st != SLA_OK)
		sla_raise_calendar("hours", err);
	if (recurring)
	{
		deconstruct_array(recurring, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
		for (int i = 0; i < n; i++)
		{
			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("a recurring holiday must not be NULL")));
			st = sla_add_recurring(cal, VARDATA_ANY(elems[i]), VARSIZE_ANY_EXHDR(elems[i]), err, sizeof(err));
			if (st != SLA_OK)
				sla_raise_calendar("recurring holiday", err);
		}
	}
	n = 0;
	if (holidays)
		deconstruct_array(holidays, DATEOID, sizeof(DateADT), true, TYPALIGN_INT, &elems, &nulls, &n);
	days = MemoryContextAlloc(cxt, sizeof(int32) * (n > 0 ? n : 1));
	for (int i = 0; i < n; i++)
	{
		DateADT		d;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("a holiday must not be NULL")));
		d = DatumGetDateADT(elems[i]);
		if (DATE_NOT_FINITE(d))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a holiday must be a finite date")));
		days[i] = d;
	}
	sla_set_holidays(cal, days, n);
	*holidays_out = days;
	if (!sla_has_open_time(cal))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid business calendar: it is never open"),
				 errdetail("The hours have no open interval, or the recurring holidays cover every day of the year.")));
}

/* The compiled calendar of the current tenant; raises if there is none. */
static SlaCacheEntry *
sla_calendar(pg_uuid_t *id)
{
	SlaCacheKey key;
	SlaCacheEntry *e;
	bool		found;
	uint64		generation;
	Datum		vals[2];
	int			rc;
	bool		isnull;
	char	   *tzname;
	char	   *hours;
	Datum		d;
	ArrayType  *hol = NULL,
			   *rec = NULL;
	SlaCalendar cal;
	int32	   *days;
	pg_tz	   *tz;

	memset(&key, 0, sizeof(key));
	key.org = crm_current_org_uuid();
	key.id = *id;
	if (sla_cache == NULL)
	{
		HASHCTL		ctl;

		CacheRegisterRelcacheCallback(sla_relcache_callback, (Datum) 0);
		ctl.keysize = sizeof(SlaCacheKey);
		ctl.entrysize = sizeof(SlaCacheEntry);
		ctl.hcxt = TopMemoryContext;
		sla_cache = hash_create("crm business calendars", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	if (!OidIsValid(sla_calendar_oid))
		sla_calendar_oid = crm_relation_oid("business_calendar");
	e = hash_search(sla_cache, &key, HASH_FIND, NULL);
	if (e && e->generation == sla_generation)
		return e;

	/* the generation before the row is read (see the file header) */
	generation = sla_generation;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (sla_read_plan == NULL)
	{
		Oid			types[2] = {UUIDOID, UUIDOID};

		(void) crm_keep_plan(&sla_read_plan,
							 "SELECT c.time_zone, c.hours::text, c.holidays, c.recurring_holidays "
							 "FROM crm.business_calendar c "
							 "WHERE c.organization_id OPERATOR(pg_catalog.=) $1 AND c.id OPERATOR(pg_catalog.=) $2",
							 2, types, 0);
	}
	vals[0] = UUIDPGetDatum(&key.org);
	vals[1] = UUIDPGetDatum(&key.id);
	rc = SPI_execute_snapshot(sla_read_plan, vals, NULL, GetLatestSnapshot(), InvalidSnapshot, true, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading the business calendar failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("business calendar %s does not exist",
						DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(id)))),
				 errdetail("There is no such calendar in the current organization."),
				 errhint("Pass the id of one of the organization's calendars (crm.business_calendar).")));
	tzname = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	hours = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
	if (!isnull)
		hol = DatumGetArrayTypeP(d);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull);
	if (!isnull)
		rec = DatumGetArrayTypeP(d);
	tz = sla_lookup_zone(tzname ? tzname : "");
	sla_compile(&cal, hours ? hours : "", hol, rec, TopMemoryContext, &days);
	SPI_finish();

	if (hash_get_num_entries(sla_cache) >= SLA_CACHE_MAX)
	{
		HASH_SEQ_STATUS s;
		SlaCacheEntry *x;

		hash_seq_init(&s, sla_cache);
		while ((x = hash_seq_search(&s)) != NULL)
		{
			pfree(x->holidays);
			hash_search(sla_cache, &x->key, HASH_REMOVE, NULL);
		}
	}
	e = hash_search(sla_cache, &key, HASH_ENTER, &found);
	if (found)
		pfree(e->holidays);
	e->generation = generation;
	e->tz = tz;
	e->holidays = days;
	e->cal = cal;
	e->cal.holidays = days;
	return e;
}

/* Raises the error of a failed computation. */
static void
sla_raise_arith(SlaStatus st)
{
	if (st == SLA_ERR_RANGE)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("business time arithmetic is limited to the years 1000 to 9999")));
	if (st == SLA_ERR_NO_OPEN_TIME)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the business calendar is never open")));
	elog(ERROR, "business calendar arithmetic failed (status %d)", (int) st);
}

/* start + amount usec of open time. */
static TimestampTz
sla_add(SlaCacheEntry *e, TimestampTz start, int64 amount)
{
	int64_t		r;
	SlaStatus	st;

	if (TIMESTAMP_NOT_FINITE(start))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("business time arithmetic needs a finite start")));
	st = sla_business_add(&e->cal, sla_zone, e->tz, start, amount, &r);
	if (st != SLA_OK)
		sla_raise_arith(st);
	return (TimestampTz) r;
}

/* Open usec in [a, b); negative when b < a. */
static int64
sla_between(SlaCacheEntry *e, TimestampTz a, TimestampTz b)
{
	int64_t		r;
	SlaStatus	st;
	bool		neg = b < a;

	if (TIMESTAMP_NOT_FINITE(a) || TIMESTAMP_NOT_FINITE(b))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("business time arithmetic needs finite instants")));
	st = neg ? sla_business_time(&e->cal, sla_zone, e->tz, b, a, &r)
		: sla_business_time(&e->cal, sla_zone, e->tz, a, b, &r);
	if (st != SLA_OK)
		sla_raise_arith(st);
	return neg ? -r : r;
}

PG_FUNCTION_INFO_V1(sla_business_add_sql);
/* crm.business_add(start timestamptz, minutes int, calendar uuid) */
Datum
sla_business_add_sql(PG_FUNCTION_ARGS)
{
	TimestampTz start = PG_GETARG_TIMESTAMPTZ(0);
	int32		minutes = PG_GETARG_INT32(1);
	SlaCacheEntry *e;

	if (minutes < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("business minutes to add must not be negative: %d", minutes),
				 errhint("crm.business_add counts forward from start; use crm.business_minutes for a span.")));
	e = sla_calendar(PG_GETARG_UUID_P(2));
	PG_RETURN_TIMESTAMPTZ(sla_add(e, start, (int64) minutes * USECS_PER_MINUTE));
}

PG_FUNCTION_INFO_V1(sla_business_minutes_sql);
/* crm.business_minutes(from timestamptz, to timestamptz, calendar uuid) */
Datum
sla_business_minutes_sql(PG_FUNCTION_ARGS)
{
	TimestampTz a = PG_GETARG_TIMESTAMPTZ(0);
	TimestampTz b = PG_GETARG_TIMESTAMPTZ(1);
	SlaCacheEntry *e = sla_calendar(PG_GETARG_UUID_P(2));
	int64		us = sla_between(e, a, b);
	/* rounded down for a <= b; the negative of the swapped span otherwise */
	int64		m = us >= 0 ? us / USECS_PER_MINUTE : -((-us) / USECS_PER_MINUTE);

	if (m > PG_INT32_MAX || m < PG_INT32_MIN)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("business minutes out of range for an integer")));
	PG_RETURN_INT32((int32) m);
}

PG_FUNCTION_INFO_V1(sla_business_add_usec);
/* crm._business_add_usec(start timestamptz, usec bigint, calendar uuid) */
Datum
sla_business_add_usec(PG_FUNCTION_ARGS)
{
	int64		us = PG_GETARG_INT64(1);

	if (us < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("business time to add must not be negative")));
	PG_RETURN_TIMESTAMPTZ(sla_add(sla_calendar(PG_GETARG_UUID_P(2)), PG_GETARG_TIMESTAMPTZ(0), us));
}

PG_FUNCTION_INFO_V1(sla_business_usec);
/* crm._business_usec(from timestamptz, to timestamptz, calendar uuid) */
Datum
sla_business_usec(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(sla_between(sla_calendar(PG_GETARG_UUID_P(2)),
								PG_GETARG_TIMESTAMPTZ(0), PG_GETARG_TIMESTAMPTZ(1)));
}

PG_FUNCTION_INFO_V1(sla_calendar_validate);
/*
 * crm._business_calendar_validate(time_zone text, hours jsonb, holidays
 * date[], recurring text[]): raises a clear error for anything invalid.
 */
Datum
sla_calendar_validate(PG_FUNCTION_ARGS)
{
	SlaCalendar *cal = palloc(sizeof(SlaCalendar));
	int32	   *days;
	char	   *hours;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a business calendar needs a time zone")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a business calendar needs its hours")));
	sla_lookup_zone(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	hours = JsonbToCString(NULL, &PG_GETARG_JSONB_P(1)->root, VARSIZE(PG_GETARG_JSONB_P(1)));
	sla_compile(cal, hours,
				PG_ARGISNULL(2) ? NULL : PG_GETARG_ARRAYTYPE_P(2),
				PG_ARGISNULL(3) ? NULL : PG_GETARG_ARRAYTYPE_P(3),
				CurrentMemoryContext, &days);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(sla_calendar_changed);
/*
 * crm.trg_business_calendar_changed(): AFTER ... FOR EACH STATEMENT on
 * crm.business_calendar: a relcache invalidation of the table, which every
 * backend's callback (this backend's at its next command) turns into a new
 * cache generation.
 */
Datum
sla_calendar_changed(PG_FUNCTION_ARGS)
{
	TriggerData *td = crm_trigger_check(fcinfo, "crm.trg_business_calendar_changed()",
										CRM_TRIG_AFTER_STATEMENT | CRM_TRIG_INSERT |
										CRM_TRIG_UPDATE | CRM_TRIG_DELETE);

	CacheInvalidateRelcacheByRelid(RelationGetRelid(td->tg_relation));
	return PointerGetDatum(NULL);
}
