/*
 * pipeline.c
 *		The two row triggers of crm.opportunity:
 *
 * crm.trg_opportunity_stage() (BEFORE INSERT OR UPDATE) fills what the
 *		stage decides: the default pipeline and its first stage when none is
 *		given, the currency, the probability and forecast category (from the
 *		stage unless overridden by hand), and the close semantics -- entering
 *		a closed stage sets is_closed, is_won, closed_at, probability 100 or
 *		0 and forecast category closed or omitted, and a lost stage requires
 *		a lost reason; leaving a closed stage reopens the deal.
 *
 * crm.trg_opportunity_track() (AFTER INSERT OR UPDATE OR DELETE) writes the
 *		stage history as stints (crm.opportunity_stage_history: a tstzrange
 *		per interval in which the tracked values stood, never overlapping)
 *		and the deltas of the weighted-pipeline roll-up (crm.pipeline_rollup).
 *
 * The roll-up is exact at commit without a hot row: every delta goes to the
 * row of its bucket in the writing backend's own slot (its backend id), in
 * the same transaction as the change.  Two running transactions never have
 * the same backend id, so they never update the same roll-up row: no lock
 * waits, no deadlocks, no lost update, at every isolation level; a bucket's
 * value is the sum over its slots, each slot row exactly the committed sum
 * of its deltas.  doc/sales.md compares this with row locks on one row per
 * bucket.
 *
 * Both triggers query only rows of the opportunity's tenant, with explicit
 * organization_id filters, through plans prepared once per backend and
 * trigger and run as the table owner (the history and the roll-up are
 * read-only to applications).  In restore mode they leave rows untouched.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "storage/backendid.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datum.h"
#include "utils/datetime.h"
#include "utils/numeric.h"
#include "utils/rangetypes.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"
#include "utils/uuid.h"

#include "crm.h"
#include "trigger_support.h"

#define STAGE_FNAME "crm.trg_opportunity_stage()"
#define TRACK_FNAME "crm.trg_opportunity_track()"

/* Column numbers of crm.opportunity, found and type-checked per statement. */
typedef struct OppColumns
{
	Oid			relid;
	int			id;
	int			org;
	int			name;
	int			pipeline;
	int			stage;
	int			amount;
	int			currency;
	int			probability;
	int			probability_override;
	int			expected_revenue;
	int			forecast;
	int			forecast_override;
	int			lost_reason;
	int			owner;
	int			close_date;
	int			stage_entered_at;
	int			is_closed;
	int			is_won;
	int			closed_at;
	int			deleted_at;
} OppColumns;

static OppColumns *
opp_columns(FunctionCallInfo fcinfo, Relation rel, const char *fname)
{
	OppColumns *c = (OppColumns *) fcinfo->flinfo->fn_extra;

	if (c == NULL || c->relid != RelationGetRelid(rel))
	{
		c = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(OppColumns));
		c->relid = RelationGetRelid(rel);
		c->id = crm_trigger_column(rel, "id", UUIDOID, true, fname);
		c->org = crm_trigger_column(rel, "organization_id", UUIDOID, true, fname);
		c->name = crm_trigger_column(rel, "name", TEXTOID, true, fname);
		c->pipeline = crm_trigger_column(rel, "pipeline_id", UUIDOID, true, fname);
		c->stage = crm_trigger_column(rel, "stage_id", UUIDOID, true, fname);
		c->amount = crm_trigger_column(rel, "amount", NUMERICOID, true, fname);
		c->currency = crm_trigger_column(rel, "currency", BPCHAROID, true, fname);
		c->probability = crm_trigger_column(rel, "probability", NUMERICOID, true, fname);
		c->probability_override = crm_trigger_column(rel, "probability_override", NUMERICOID, true, fname);
		c->expected_revenue = crm_trigger_column(rel, "expected_revenue", NUMERICOID, true, fname);
		c->forecast = crm_trigger_column(rel, "forecast_category", TEXTOID, true, fname);
		c->forecast_override = crm_trigger_column(rel, "forecast_category_override", TEXTOID, true, fname);
		c->lost_reason = crm_trigger_column(rel, "lost_reason", TEXTOID, true, fname);
		c->owner = crm_trigger_column(rel, "owner_id", UUIDOID, true, fname);
		c->close_date = crm_trigger_column(rel, "close_date", DATEOID, true, fname);
		c->stage_entered_at = crm_trigger_column(rel, "stage_entered_at", TIMESTAMPTZOID, true, fname);
		c->is_closed = crm_trigger_column(rel, "is_closed", BOOLOID, true, fname);
		c->is_won = crm_trigger_column(rel, "is_won", BOOLOID, true, fname);
		c->closed_at = crm_trigger_column(rel, "closed_at", TIMESTAMPTZOID, true, fname);
		c->deleted_at = crm_trigger_column(rel, "deleted_at", TIMESTAMPTZOID, true, fname);
		fcinfo->flinfo->fn_extra = c;
	}
	return c;
}

/* Both triggers serve crm.opportunity only: their SQL names its tables. */
static void
opp_check_table(TriggerData *td, const char *fname)
{
	const char *table = crm_trigger_arg(td, 0, fname, "table name");

	if (strcmp(table, "opportunity") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s works only on crm.opportunity, not crm.%s", fname, table)));
}

/* Kept plans, per trigger OID. */
static HTAB *stage_plans = NULL;
static HTAB *track_plans = NULL;
static HTAB *open_plans = NULL;	/* open a stint, with 0-2 roll-up deltas */
static HTAB *move_plans = NULL;	/* close a stint and open the next, with 0-2
								 * roll-up deltas */

#define STAGE_PLAN_BY_ID	0
#define STAGE_PLAN_FIRST	1
#define STAGE_PLAN_STAGE_ONLY 2	/* by id, without the organization's currency */

#define TRACK_PLAN_CLOSE	0
#define TRACK_PLAN_LAST_END	1
#define TRACK_PLAN_ROLLUP_1 2	/* one roll-up delta alone */
#define TRACK_PLAN_ROLLUP_2 3	/* two */

/*
 * A generic plan from the first run: each statement is a look-up or a
 * write of one row by key, whose plan does not depend on the values.  Left
 * to itself the plan cache re-plans the history and roll-up statements with
 * their values every time (their custom plans cost less than the generic
 * one), which was a tenth of a stage change.
 */
static SPIPlanPtr
opp_prepare(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes)
{
	return crm_keep_plan(slot, sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);
}

/* Equality of two nullable uuids. */
static bool
uuid_same(Datum a, bool anull, Datum b, bool bnull)
{
	if (anull || bnull)
		return anull && bnull;
	return memcmp(DatumGetUUIDP(a), DatumGetUUIDP(b), UUID_LEN) == 0;
}

/* Equality of two nullable numerics (by value: 1.0 = 1.00). */
static bool
numeric_same(Datum a, bool anull, Datum b, bool bnull)
{
	if (anull || bnull)
		return anull && bnull;
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp, a, b)) == 0;
}

/* Equality of two nullable texts (bpchar compared as stored). */
static bool
text_same(Datum a, bool anull, Datum b, bool bnull)
{
	if (anull || bnull)
		return anull && bnull;
	return DatumGetBool(DirectFunctionCall2Coll(texteq, C_COLLATION_OID, a, b));
}

/* Equality of two nullable dates, or of their months. */
static bool
date_same(Datum a, bool anull, Datum b, bool bnull, bool month_only)
{
	int			ay,
				am,
				ad,
				by,
				bm,
				bd;

	if (anull || bnull)
		return anull && bnull;
	if (!month_only || DATE_NOT_FINITE(DatumGetDateADT(a)) || DATE_NOT_FINITE(DatumGetDateADT(b)))
		return DatumGetDateADT(a) == DatumGetDateADT(b);
	j2date(DatumGetDateADT(a) + POSTGRES_EPOCH_JDATE, &ay, &am, &ad);
	j2date(DatumGetDateADT(b) + POSTGRES_EPOCH_JDATE, &by, &bm, &bd);
	return ay == by && am == bm;
}

/* Whether a nullable text is NULL or only white space. */
static bool
text_blank(Datum v, bool isnull)
{
	char	   *s;

	if (isnull)
		return true;
	s = TextDatumGetCString(v);
	while (*s)
	{
		if (!isspace((unsigned char) *s))
			return false;
		s++;
	}
	return true;
}

static char *
uuid_str(Datum u)
{
	return DatumGetCString(DirectFunctionCall1(uuid_out, u));
}

/* What the trigger needs to know about a stage. */
typedef struct StageInfo
{
	Datum		id;
	Datum		pipeline;
	Datum		probability;
	Datum		forecast;
	bool		is_closed;
	bool		is_won;
	char	   *name;
	Datum		currency;		/* the organization's default currency; 0
								 * when not asked for */
} StageInfo;

/*
 * Look the stage up: by id when "stage" is given, else the first active
 * open stage of "pipeline" (the default pipeline when that is NULL too).
 * False when there is none.  Values are copied out of SPI.
 */
static bool
stage_lookup(TriggerData *td, Oid owner, Datum org, Datum pipeline, bool pipeline_null,
			 Datum stage, bool stage_null, bool need_currency, StageInfo *out)
{
	Oid			tgoid = td->tg_trigger->tgoid;
	SPIPlanPtr	plan;
	Datum		args[2];
	char		nulls[2] = {' ', ' '};
	int			rc;
	bool		isnull;
	HeapTuple	row;
	TupleDesc	desc;

#define STAGE_COLUMNS \
	"SELECT s.id, s.pipeline_id, s.default_probability, s.forecast_category, s.is_closed, s.is_won," \
	" s.name, o.default_currency::pg_catalog.bpchar" \
	" FROM crm.pipeline_stage s JOIN crm.organization o ON o.id OPERATOR(pg_catalog.=) s.organization_id" \
	" WHERE s.organization_id OPERATOR(pg_catalog.=) $1"

	args[0] = org;
	if (!stage_null && !need_currency)
	{
		/* the usual update: the row has its currency, the stage is given */
		plan = opp_prepare(crm_plan_slot(&stage_plans, "crm stage plans", tgoid, 3, STAGE_PLAN_STAGE_ONLY),
						   "SELECT s.id, s.pipeline_id, s.default_probability, s.forecast_category, s.is_closed,"
						   " s.is_won, s.name, NULL::pg_catalog.bpchar FROM crm.pipeline_stage s"
						   " WHERE s.organization_id OPERATOR(pg_catalog.=) $1 AND s.id OPERATOR(pg_catalog.=) $2",
						   2, (Oid[2]) {UUIDOID, UUIDOID});
		args[1] = stage;
	}
	else if (!stage_null)
	{
		plan = opp_prepare(crm_plan_slot(&stage_plans, "crm stage plans", tgoid, 3, STAGE_PLAN_BY_ID),
						   STAGE_COLUMNS " AND s.id OPERATOR(pg_catalog.=) $2",
						   2, (Oid[2]) {UUIDOID, UUIDOID});
		args[1] = stage;
	}
	else
	{
		plan = opp_prepare(crm_plan_slot(&stage_plans, "crm stage plans", tgoid, 3, STAGE_PLAN_FIRST),
						   STAGE_COLUMNS
						   " AND s.pipeline_id OPERATOR(pg_catalog.=) COALESCE($2,"
						   "  (SELECT p.id FROM crm.pipeline p WHERE p.organization_id OPERATOR(pg_catalog.=) $1"
						   "    AND p.is_default))"
						   " AND s.is_active AND NOT s.is_closed"
						   " ORDER BY s.position, s.name LIMIT 1",
						   2, (Oid[2]) {UUIDOID, UUIDOID});
		args[1] = pipeline;
		if (pipeline_null)
			nulls[1] = 'n';
	}
	rc = crm_spi_execute_lookup_as(owner, plan, args, nulls, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "stage look-up failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		return false;
	row = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	out->id = SPI_datumTransfer(SPI_getbinval(row, desc, 1, &isnull), false, UUID_LEN);
	out->pipeline = SPI_datumTransfer(SPI_getbinval(row, desc, 2, &isnull), false, UUID_LEN);
	out->probability = SPI_datumTransfer(SPI_getbinval(row, desc, 3, &isnull), false, -1);
	out->forecast = SPI_datumTransfer(SPI_getbinval(row, desc, 4, &isnull), false, -1);
	out->is_closed = DatumGetBool(SPI_getbinval(row, desc, 5, &isnull));
	out->is_won = DatumGetBool(SPI_getbinval(row, desc, 6, &isnull));
	out->name = TextDatumGetCString(SPI_datumTransfer(SPI_getbinval(row, desc, 7, &isnull), false, -1));
	out->currency = SPI_getbinval(row, desc, 8, &isnull);
	out->currency = isnull ? (Datum) 0 : SPI_datumTransfer(out->currency, false, -1);
	return true;
}

PG_FUNCTION_INFO_V1(pipeline_opportunity_stage);

/* SQL: crm.trg_opportunity_stage(table) returns trigger (BEFORE INSERT OR UPDATE, FOR EACH ROW) */
Datum
pipeline_opportunity_stage(PG_FUNCTION_ARGS)
{
	TriggerData *td;
	Relation	rel;
	TupleDesc	desc;
	HeapTuple	tup;
	HeapTuple	old = NULL;
	OppColumns *c;
	Oid			owner;
	Datum		org,
				pipeline,
				stage;
	bool		isnull,
				pipeline_null,
				stage_null,
				currency_null;
	StageInfo	st;
	TimestampTz now = GetCurrentStatementStartTimestamp();
	bool		was_closed = false;
	bool		was_won = false;
	bool		entering;
	int			cols[12];
	Datum		vals[12];
	bool		nulls[12];
	int			n = 0;
	Datum		ov,
				fov;
	bool		ov_null,
				fov_null;

	td = crm_trigger_check(fcinfo, STAGE_FNAME, CRM_TRIG_BEFORE_ROW | CRM_TRIG_INSERT | CRM_TRIG_UPDATE);
	rel = td->tg_relation;
	desc = RelationGetDescr(rel);
	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		tup = td->tg_newtuple;
		old = td->tg_trigtuple;
	}
	else
		tup = td->tg_trigtuple;
	if (crm_restoring)
		return PointerGetDatum(tup);
	opp_check_table(td, STAGE_FNAME);
	c = opp_columns(fcinfo, rel, STAGE_FNAME);

	/*
	 * An update that leaves every column this trigger reads or maintains
	 * as it was (a new name, next step, description, ...) keeps a row the
	 * trigger made consistent before: nothing to look up.  The trigger is
	 * declared UPDATE OF these same columns (sql/35_sales.sql), so an update
	 * that does not set any of them does not even call it; this check
	 * catches one that sets them to the values they had.
	 */
	if (old != NULL)
	{
		const int	watched[] = {c->pipeline, c->stage, c->currency, c->probability, c->probability_override,
			c->forecast, c->forecast_override, c->lost_reason, c->stage_entered_at, c->is_closed, c->is_won,
		c->closed_at};
		int			i;

		for (i = 0; i < (int) lengthof(watched); i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, watched[i] - 1);
			bool		onull,
						nnull;
			Datum		ov = heap_getattr(old, watched[i], desc, &onull);
			Datum		nv = heap_getattr(tup, watched[i], desc, &nnull);

			if (onull != nnull || (!onull && !datumIsEqual(ov, nv, att->attbyval, att->attlen)))
				break;
		}
		if (i == (int) lengthof(watched))
			return PointerGetDatum(tup);
	}

	org = heap_getattr(tup, c->org, desc, &isnull);
	if (isnull)
		return PointerGetDatum(tup);	/* NOT NULL reports it */
	pipeline = heap_getattr(tup, c->pipeline, desc, &pipeline_null);
	stage = heap_getattr(tup, c->stage, desc, &stage_null);

	if (old != NULL)
	{
		bool		opnull,
					osnull;
		Datum		op = heap_getattr(old, c->pipeline, desc, &opnull);
		Datum		os = heap_getattr(old, c->stage, desc, &osnull);

		/* a move to another pipeline without a stage: its first stage */
		if (!uuid_same(op, opnull, pipeline, pipeline_null) && uuid_same(os, osnull, stage, stage_null))
			stage_null = true;
		was_closed = DatumGetBool(heap_getattr(old, c->is_closed, desc, &isnull)) && !isnull;
		was_won = DatumGetBool(heap_getattr(old, c->is_won, desc, &isnull)) && !isnull;
	}

	(void) heap_getattr(tup, c->currency, desc, &currency_null);

	owner = rel->rd_rel->relowner;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!stage_lookup(td, owner, org, pipeline, pipeline_null, stage, stage_null, currency_null, &st))
	{
		SPI_finish();
		if (!stage_null)
			ereport(ERROR,
					(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
					 errmsg("stage %s does not exist in this organization", uuid_str(stage)),
					 errhint("Choose a stage of crm.pipeline_stage.")));
		if (!pipeline_null)
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("pipeline %s has no active open stage to start the opportunity in", uuid_str(pipeline)),
					 errhint("Give stage_id, or add an active stage that is not closed to the pipeline.")));
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("the opportunity has no pipeline and the organization has no default pipeline with an active open stage"),
				 errhint("Give pipeline_id and stage_id, or make a pipeline the default: UPDATE crm.pipeline SET is_default = (id = '…').")));
	}
	SPI_finish();

	if (!pipeline_null && !uuid_same(pipeline, false, st.pipeline, false))
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("stage \"%s\" is not a stage of the opportunity's pipeline", st.name),
				 errdetail("The opportunity is in pipeline %s.", uuid_str(pipeline)),
				 errhint("Choose a stage of the opportunity's pipeline, or leave stage_id out when changing pipeline_id to start in its first stage.")));

	cols[n] = c->pipeline;
	vals[n] = st.pipeline;
	nulls[n++] = false;
	cols[n] = c->stage;
	vals[n] = st.id;
	nulls[n++] = false;
	if (currency_null)
	{
		cols[n] = c->currency;
		vals[n] = st.currency;
		nulls[n++] = st.currency == (Datum) 0;	/* (NOT NULL reports it) */
	}

	/* the overrides: writing probability (forecast_category) sets them */
	ov = heap_getattr(tup, c->probability_override, desc, &ov_null);
	fov = heap_getattr(tup, c->forecast_override, desc, &fov_null);
	{
		bool		pnull,
					fnull;
		Datum		p = heap_getattr(tup, c->probability, desc, &pnull);
		Datum		f = heap_getattr(tup, c->forecast, desc, &fnull);

		if (old == NULL)
		{
			if (ov_null && !pnull)
			{
				ov = p;
				ov_null = false;
			}
			if (fov_null && !fnull)
			{
				fov = f;
				fov_null = false;
			}
		}
		else
		{
			bool		oonull,
						opnull;
			Datum		oo = heap_getattr(old, c->probability_override, desc, &oonull);
			Datum		op = heap_getattr(old, c->probability, desc, &opnull);

			if (numeric_same(oo, oonull, ov, ov_null) && !numeric_same(op, opnull, p, pnull))
			{
				ov = p;
				ov_null = pnull;
			}
			oo = heap_getattr(old, c->forecast_override, desc, &oonull);
			op = heap_getattr(old, c->forecast, desc, &opnull);
			if (text_same(oo, oonull, fov, fov_null) && !text_same(op, opnull, f, fnull))
			{
				fov = f;
				fov_null = fnull;
			}
		}
	}
	cols[n] = c->probability_override;
	vals[n] = ov;
	nulls[n++] = ov_null;
	cols[n] = c->forecast_override;
	vals[n] = fov;
	nulls[n++] = fov_null;

	/* entering a stage: a new opportunity, or a changed stage */
	if (old == NULL)
		entering = true;
	else
	{
		bool		osnull;
		Datum		os = heap_getattr(old, c->stage, desc, &osnull);

		entering = !uuid_same(os, osnull, st.id, false);
	}
	if (entering)
	{
		bool		given;

		(void) heap_getattr(tup, c->stage_entered_at, desc, &given);
		given = !given && old == NULL;	/* an import may carry its own */
		if (!given)
		{
			cols[n] = c->stage_entered_at;
			vals[n] = TimestampTzGetDatum(now);
			nulls[n++] = false;
		}
	}

	if (st.is_closed)
	{
		Datum		lr;
		bool		lrnull;

		lr = heap_getattr(tup, c->lost_reason, desc, &lrnull);
		if (!st.is_won && text_blank(lr, lrnull))
		{
			bool		nnull;
			Datum		name = heap_getattr(tup, c->name, desc, &nnull);

			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("opportunity \"%s\" cannot enter the lost stage \"%s\" without a lost reason",
							nnull ? "" : TextDatumGetCString(name), st.name),
					 errhint("Set lost_reason in the same statement.")));
		}
		cols[n] = c->probability;
		vals[n] = NumericGetDatum(int64_to_numeric(st.is_won ? 100 : 0));
		nulls[n++] = false;
		cols[n] = c->forecast;
		vals[n] = CStringGetTextDatum(st.is_won ? "closed" : "omitted");
		nulls[n++] = false;
		cols[n] = c->is_closed;
		vals[n] = BoolGetDatum(true);
		nulls[n++] = false;
		cols[n] = c->is_won;
		vals[n] = BoolGetDatum(st.is_won);
		nulls[n++] = false;
		/* closed now, unless it was closed the same way already (or an import says when) */
		{
			bool		canull;

			(void) heap_getattr(tup, c->closed_at, desc, &canull);
			if ((old == NULL && canull) || (old != NULL && (!was_closed || was_won != st.is_won)))
			{
				cols[n] = c->closed_at;
				vals[n] = TimestampTzGetDatum(now);
				nulls[n++] = false;
			}
		}
	}
	else
	{
		cols[n] = c->probability;
		vals[n] = ov_null ? st.probability : ov;
		nulls[n++] = false;
		cols[n] = c->forecast;
		vals[n] = fov_null ? st.forecast : fov;
		nulls[n++] = false;
		cols[n] = c->is_closed;
		vals[n] = BoolGetDatum(false);
		nulls[n++] = false;
		cols[n] = c->is_won;
		vals[n] = BoolGetDatum(false);
		nulls[n++] = false;
		cols[n] = c->closed_at;
		vals[n] = (Datum) 0;
		nulls[n++] = true;
	}
	Assert(n <= (int) lengthof(cols));

	return PointerGetDatum(heap_modify_tuple_by_cols(tup, desc, n, cols, vals, nulls));
}

/* The tracked values of one version of an opportunity. */
typedef struct OppState
{
	bool		live;
	Datum		org;
	Datum		id;
	Datum		pipeline;
	Datum		stage;
	Datum		amount;
	Datum		currency;
	Datum		probability;
	bool		is_override;
	Datum		expected;
	Datum		forecast;
	Datum		close_date;
	bool		close_null;
	Datum		owner;
	bool		owner_null;
} OppState;

static void
opp_state(HeapTuple tup, TupleDesc desc, const OppColumns *c, OppState *s)
{
	bool		isnull;

	s->org = heap_getattr(tup, c->org, desc, &isnull);
	s->id = heap_getattr(tup, c->id, desc, &isnull);
	(void) heap_getattr(tup, c->deleted_at, desc, &isnull);
	s->live = isnull;
	s->pipeline = heap_getattr(tup, c->pipeline, desc, &isnull);
	s->stage = heap_getattr(tup, c->stage, desc, &isnull);
	s->amount = heap_getattr(tup, c->amount, desc, &isnull);
	s->currency = heap_getattr(tup, c->currency, desc, &isnull);
	s->probability = heap_getattr(tup, c->probability, desc, &isnull);
	(void) heap_getattr(tup, c->probability_override, desc, &isnull);
	s->is_override = !isnull;
	s->expected = heap_getattr(tup, c->expected_revenue, desc, &isnull);
	s->forecast = heap_getattr(tup, c->forecast, desc, &isnull);
	s->close_date = heap_getattr(tup, c->close_date, desc, &s->close_null);
	s->owner = heap_getattr(tup, c->owner, desc, &s->owner_null);
}

/* Whether two versions belong to the same roll-up bucket. */
static bool
same_bucket(const OppState *a, const OppState *b)
{
	return uuid_same(a->pipeline, false, b->pipeline, false) &&
		uuid_same(a->stage, false, b->stage, false) &&
		uuid_same(a->owner, a->owner_null, b->owner, b->owner_null) &&
		date_same(a->close_date, a->close_null, b->close_date, b->close_null, true) &&
		text_same(a->forecast, false, b->forecast, false) &&
		text_same(a->currency, false, b->currency, false);
}

/*
 * A total order of buckets (pipeline, stage, owner, close month, forecast
 * category, currency; no owner or close date first): a move between two
 * buckets updates them in this order, so that with shared rows
 * (crm.rollup_shared_rows) two single-statement moves in opposite
 * directions lock in the same order instead of deadlocking.
 */
static int
bucket_cmp(const OppState *a, const OppState *b)
{
	int			c;

	if ((c = memcmp(DatumGetUUIDP(a->pipeline), DatumGetUUIDP(b->pipeline), UUID_LEN)) != 0)
		return c;
	if ((c = memcmp(DatumGetUUIDP(a->stage), DatumGetUUIDP(b->stage), UUID_LEN)) != 0)
		return c;
	if (a->owner_null != b->owner_null)
		return a->owner_null ? -1 : 1;
	if (!a->owner_null && (c = memcmp(DatumGetUUIDP(a->owner), DatumGetUUIDP(b->owner), UUID_LEN)) != 0)
		return c;
	if (a->close_null != b->close_null)
		return a->close_null ? -1 : 1;
	if (!a->close_null && !date_same(a->close_date, false, b->close_date, false, true))
		return DatumGetDateADT(a->close_date) < DatumGetDateADT(b->close_date) ? -1 : 1;
	if ((c = DatumGetInt32(DirectFunctionCall2Coll(bttextcmp, C_COLLATION_OID, a->forecast, b->forecast))) != 0)
		return c;
	return DatumGetInt32(DirectFunctionCall2Coll(bttextcmp, C_COLLATION_OID, a->currency, b->currency));
}

/*
 * Whether any value the history tracks differs.  crm_40_track is declared
 * UPDATE OF these columns, deleted_at and the columns that make
 * crm_30_stage rewrite them (sql/35_sales.sql): keep the lists together.
 */
static bool
tracked_changed(const OppState *a, const OppState *b)
{
	return !(uuid_same(a->pipeline, false, b->pipeline, false) &&
			 uuid_same(a->stage, false, b->stage, false) &&
			 numeric_same(a->amount, false, b->amount, false) &&
			 text_same(a->currency, false, b->currency, false) &&
			 numeric_same(a->probability, false, b->probability, false) &&
			 a->is_override == b->is_override &&
			 text_same(a->forecast, false, b->forecast, false) &&
			 date_same(a->close_date, a->close_null, b->close_date, b->close_null, false) &&
			 uuid_same(a->owner, a->owner_null, b->owner, b->owner_null));
}

/* One delta of the roll-up: a version's bucket and what to add to it. */
typedef struct RollupDelta
{
	const OppState *s;
	int			sign;			/* +1 the version enters, -1 it leaves, 0 it stays */
	Datum		amount;
	Datum		expected;
} RollupDelta;

#define ROLLUP_NARGS 11			/* parameters per delta */

/*
 * Append the roll-up upsert of n deltas (n = 1 or 2: of different buckets,
 * in bucket order) whose parameters begin after $first.  A move between
 * buckets costs one statement, not two.  The rows of one INSERT are
 * inserted, or their conflicting rows locked, in the order of its VALUES,
 * so the fixed bucket order still holds for shared rows.
 */
static void
rollup_sql(StringInfo buf, int n, int first)
{
	appendStringInfoString(buf,
						   "INSERT INTO crm.pipeline_rollup AS r (organization_id, pipeline_id, stage_id, owner_id,"
						   " close_month, forecast_category, currency, slot, opportunity_count, amount, expected_revenue)"
						   " VALUES");
	for (int i = 0; i < n; i++)
	{
		int			p = first + ROLLUP_NARGS * i;

		appendStringInfo(buf,
						 "%s ($%d, $%d, $%d, $%d,"
						 " pg_catalog.date_trunc('month', $%d::pg_catalog.timestamp)::pg_catalog.date,"
						 " $%d, $%d, $%d, $%d, $%d, $%d)",
						 i > 0 ? "," : "",
						 p + 1, p + 2, p + 3, p + 4, p + 5, p + 6, p + 7, p + 8, p + 9, p + 10, p + 11);
	}
	appendStringInfoString(buf,
						   " ON CONFLICT ON CONSTRAINT pipeline_rollup_key DO UPDATE"
						   " SET opportunity_count = r.opportunity_count OPERATOR(pg_catalog.+) EXCLUDED.opportunity_count,"
						   " amount = r.amount OPERATOR(pg_catalog.+) EXCLUDED.amount,"
						   " expected_revenue = r.expected_revenue OPERATOR(pg_catalog.+) EXCLUDED.expected_revenue");
}

/* The types and values of the parameters of n deltas. */
static void
rollup_args(const RollupDelta *d, int n, Oid *types, Datum *args, char *nulls)
{
	static const Oid rowtypes[ROLLUP_NARGS] = {UUIDOID, UUIDOID, UUIDOID, UUIDOID, DATEOID, TEXTOID,
	BPCHAROID, INT4OID, INT8OID, NUMERICOID, NUMERICOID};

	for (int i = 0; i < n; i++)
	{
		const OppState *s = d[i].s;
		Datum	   *a = args + ROLLUP_NARGS * i;
		char	   *nl = nulls + ROLLUP_NARGS * i;

		memcpy(types + ROLLUP_NARGS * i, rowtypes, sizeof(rowtypes));
		memset(nl, ' ', ROLLUP_NARGS);
		a[0] = s->org;
		a[1] = s->pipeline;
		a[2] = s->stage;
		a[3] = s->owner;
		if (s->owner_null)
			nl[3] = 'n';
		a[4] = s->close_date;
		if (s->close_null)
			nl[4] = 'n';
		a[5] = s->forecast;
		a[6] = s->currency;
		a[7] = Int32GetDatum(crm_rollup_shared_rows ? 0 : (int32) MyBackendId);
		a[8] = Int64GetDatum(d[i].sign);
		a[9] = d[i].amount;
		a[10] = d[i].expected;
	}
}

/* Apply one or two deltas in a statement of their own. */
static void
rollup_apply(Oid tgoid, Oid owner, const RollupDelta *d, int n)
{
	SPIPlanPtr *slot;
	Datum		args[2 * ROLLUP_NARGS];
	char		nulls[2 * ROLLUP_NARGS];
	Oid			argtypes[2 * ROLLUP_NARGS];
	int			rc;

	Assert(n == 1 || n == 2);
	rollup_args(d, n, argtypes, args, nulls);
	slot = crm_plan_slot(&track_plans, "crm opportunity track plans", tgoid, 4,
						 n == 1 ? TRACK_PLAN_ROLLUP_1 : TRACK_PLAN_ROLLUP_2);
	if (*slot == NULL)
	{
		StringInfoData sql;

		initStringInfo(&sql);
		rollup_sql(&sql, n, 0);
		(void) opp_prepare(slot, sql.data, ROLLUP_NARGS * n, argtypes);
		pfree(sql.data);
	}
	rc = crm_spi_execute_lookup_as(owner, *slot, args, nulls, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "pipeline roll-up update failed: %s", SPI_result_code_string(rc));
}

static Datum
num_neg(Datum v)
{
	return DirectFunctionCall1(numeric_uminus, v);
}

static Datum
num_sub(Datum a, Datum b)
{
	return DirectFunctionCall2(numeric_sub, a, b);
}

/*
 * Close the open stint of opportunity $2 of tenant $1 at $3 (or just after
 * its start).  The open stint, if any, is the one that began last (a later
 * one would overlap it): the look-up reads that one stint through the
 * (organization_id, opportunity_id, lower(valid)) index, backwards, not all
 * the opportunity's stints, and the update takes it by its address.  No
 * other transaction can write the opportunity's stints meanwhile: the
 * trigger holds the opportunity's row lock.
 */
#define HISTORY_CLOSE \
	"UPDATE crm.opportunity_stage_history h" \
	" SET valid = pg_catalog.tstzrange(pg_catalog.lower(h.valid)," \
	"  GREATEST($3, pg_catalog.lower(h.valid) OPERATOR(pg_catalog.+) '1 microsecond'::pg_catalog.interval))" \
	" WHERE h.ctid OPERATOR(pg_catalog.=) (SELECT l.ctid FROM crm.opportunity_stage_history l" \
	"  WHERE l.organization_id OPERATOR(pg_catalog.=) $1 AND l.opportunity_id OPERATOR(pg_catalog.=) $2" \
	"  ORDER BY pg_catalog.lower(l.valid) DESC LIMIT 1)" \
	" AND h.organization_id OPERATOR(pg_catalog.=) $1 AND h.opportunity_id OPERATOR(pg_catalog.=) $2" \
	" AND pg_catalog.upper_inf(h.valid)"

/*
 * Close the open stint of an opportunity at "at" (or just after its start);
 * returns the end, or "at" when there was none.
 */
static TimestampTz
history_close(Oid tgoid, Oid owner, const OppState *s, TimestampTz at)
{
	SPIPlanPtr	plan;
	Datum		args[3] = {s->org, s->id, TimestampTzGetDatum(at)};
	int			rc;
	bool		isnull;

	plan = opp_prepare(crm_plan_slot(&track_plans, "crm opportunity track plans", tgoid, 4, TRACK_PLAN_CLOSE),
					   HISTORY_CLOSE " RETURNING pg_catalog.upper(h.valid)",
					   3, (Oid[3]) {UUIDOID, UUIDOID, TIMESTAMPTZOID});
	rc = crm_spi_execute_lookup_as(owner, plan, args, NULL, false, 0);
	if (rc != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "stage history update failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		return at;
	return DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* The end of the last stint of an opportunity, or "at" when it is later. */
static TimestampTz
history_last_end(Oid tgoid, Oid owner, const OppState *s, TimestampTz at)
{
	SPIPlanPtr	plan;
	Datum		args[2] = {s->org, s->id};
	int			rc;
	bool		isnull;
	Datum		v;

	plan = opp_prepare(crm_plan_slot(&track_plans, "crm opportunity track plans", tgoid, 4, TRACK_PLAN_LAST_END),
					   "SELECT pg_catalog.max(pg_catalog.upper(h.valid)) FROM crm.opportunity_stage_history h"
					   " WHERE h.organization_id OPERATOR(pg_catalog.=) $1 AND h.opportunity_id OPERATOR(pg_catalog.=) $2",
					   2, (Oid[2]) {UUIDOID, UUIDOID});
	/*
	 * Not read-only: a fresh snapshot.  The opportunity's row lock may have
	 * been waited for; the transaction that held it may have closed the
	 * last stint later than this transaction's start, and the statement's
	 * snapshot would not see that end (the new stint would overlap it).
	 */
	rc = crm_spi_execute_lookup_as(owner, plan, args, NULL, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "stage history look-up failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		return at;
	v = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull || DatumGetTimestampTz(v) < at)
		return at;
	return DatumGetTimestampTz(v);
}

#define HISTORY_NARGS 19

/*
 * Open a stint with the values of "s" from "from"; "prev" the values before,
 * if any.  With "close", the statement first closes the open stint at
 * "from" (as history_close) and opens the new one where it ended: a stage
 * change runs one statement on the history instead of two.  The INSERT's
 * value reads the UPDATE's result, so the UPDATE has finished before the
 * new row is checked against the exclusion constraint (which sees the
 * closed version, not the open one it replaced).
 *
 * The nd (0-2) roll-up deltas go into the same statement, as a WITH query
 * of their own (rollup_sql), run after the history's rows are written: a
 * stage change then costs one statement for the history and the roll-up,
 * where each statement has its own executor start and end, snapshot and
 * command counter increment.
 */
static void
history_open(Oid tgoid, Oid owner, const OppState *s, const OppState *prev, TimestampTz from, bool close,
			 const RollupDelta *d, int nd)
{
	SPIPlanPtr *slot;
	Datum		args[HISTORY_NARGS + 2 * ROLLUP_NARGS];
	char		nulls[HISTORY_NARGS + 2 * ROLLUP_NARGS];
	pg_uuid_t	actor;
	int			rc;
	Oid			argtypes[HISTORY_NARGS + 2 * ROLLUP_NARGS] = {UUIDOID, UUIDOID, TIMESTAMPTZOID, UUIDOID,
		UUIDOID, UUIDOID, NUMERICOID, NUMERICOID, BPCHAROID, NUMERICOID, NUMERICOID, BOOLOID,
	TEXTOID, TEXTOID, DATEOID, DATEOID, UUIDOID, UUIDOID, UUIDOID};

	Assert(nd >= 0 && nd <= 2);
	memset(nulls, ' ', HISTORY_NARGS);
	args[0] = s->org;
	args[1] = s->id;
	args[2] = TimestampTzGetDatum(from);
	args[3] = s->pipeline;
	args[4] = s->stage;
	args[6] = s->amount;
	args[8] = s->currency;
	args[9] = s->probability;
	args[11] = BoolGetDatum(s->is_override);
	args[12] = s->forecast;
	args[14] = s->close_date;
	nulls[14] = s->close_null ? 'n' : ' ';
	args[16] = s->owner;
	nulls[16] = s->owner_null ? 'n' : ' ';
	if (prev != NULL)
	{
		args[5] = prev->stage;
		args[7] = prev->amount;
		args[10] = prev->probability;
		args[13] = prev->forecast;
		args[15] = prev->close_date;
		nulls[15] = prev->close_null ? 'n' : ' ';
		args[17] = prev->owner;
		nulls[17] = prev->owner_null ? 'n' : ' ';
	}
	else
	{
		args[5] = args[7] = args[10] = args[13] = args[15] = args[17] = (Datum) 0;
		nulls[5] = nulls[7] = nulls[10] = nulls[13] = nulls[15] = nulls[17] = 'n';
	}
	if (crm_acting_user(&actor))
		args[18] = UUIDPGetDatum(&actor);
	else
	{
		args[18] = (Datum) 0;
		nulls[18] = 'n';
	}
	rollup_args(d, nd, argtypes + HISTORY_NARGS, args + HISTORY_NARGS, nulls + HISTORY_NARGS);

	slot = close ? crm_plan_slot(&move_plans, "crm opportunity move plans", tgoid, 3, nd)
		: crm_plan_slot(&open_plans, "crm opportunity open plans", tgoid, 3, nd);
	if (*slot == NULL)
	{
		StringInfoData sql;
		const char *sep = "WITH ";

		initStringInfo(&sql);
		if (nd > 0)
		{
			appendStringInfoString(&sql, "WITH rollup AS (");
			rollup_sql(&sql, nd, HISTORY_NARGS);
			appendStringInfoString(&sql, ")");
			sep = ", ";
		}
		if (close)
			appendStringInfo(&sql, "%sclosed AS (" HISTORY_CLOSE " RETURNING pg_catalog.upper(h.valid) AS t) ", sep);
		appendStringInfo(&sql,
						 " INSERT INTO crm.opportunity_stage_history (organization_id, opportunity_id, valid,"
						 " pipeline_id, stage_id, from_stage_id, amount, previous_amount, currency, probability,"
						 " previous_probability, is_probability_override, forecast_category, previous_forecast_category,"
						 " close_date, previous_close_date, owner_id, previous_owner_id, changed_by)"
						 " VALUES ($1, $2, pg_catalog.tstzrange(%s, NULL),"
						 " $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
						 close ? "COALESCE((SELECT pg_catalog.max(c.t) FROM closed c), $3)" : "$3");
		(void) opp_prepare(slot, sql.data, HISTORY_NARGS + ROLLUP_NARGS * nd, argtypes);
		pfree(sql.data);
	}
	rc = crm_spi_execute_lookup_as(owner, *slot, args, nulls, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "stage history insert failed: %s", SPI_result_code_string(rc));
}

PG_FUNCTION_INFO_V1(pipeline_opportunity_track);

/* SQL: crm.trg_opportunity_track(table) returns trigger (AFTER INSERT OR UPDATE OR DELETE, FOR EACH ROW) */
Datum
pipeline_opportunity_track(PG_FUNCTION_ARGS)
{
	TriggerData *td;
	Relation	rel;
	TupleDesc	desc;
	OppColumns *c;
	OppState	o,
				n;
	bool		has_old,
				has_new;
	Oid			owner,
				tgoid;
	TimestampTz now = GetCurrentStatementStartTimestamp();
	RollupDelta d[2] = {{0}};
	int			nd = 0;

	td = crm_trigger_check(fcinfo, TRACK_FNAME,
						   CRM_TRIG_AFTER_ROW | CRM_TRIG_INSERT | CRM_TRIG_UPDATE | CRM_TRIG_DELETE);
	if (crm_restoring)
		return PointerGetDatum(NULL);
	opp_check_table(td, TRACK_FNAME);
	rel = td->tg_relation;
	desc = RelationGetDescr(rel);
	c = opp_columns(fcinfo, rel, TRACK_FNAME);
	owner = rel->rd_rel->relowner;
	tgoid = td->tg_trigger->tgoid;

	has_old = !TRIGGER_FIRED_BY_INSERT(td->tg_event);
	has_new = !TRIGGER_FIRED_BY_DELETE(td->tg_event);
	if (has_old)
		opp_state(td->tg_trigtuple, desc, c, &o);
	if (has_new)
		opp_state(TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple, desc, c, &n);
	has_old = has_old && o.live;
	has_new = has_new && n.live;
	if (!has_old && !has_new)
		return PointerGetDatum(NULL);
	if (has_old && has_new && !tracked_changed(&o, &n))
		return PointerGetDatum(NULL);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/* the roll-up deltas */
	if (has_old && has_new && same_bucket(&o, &n))
	{
		/* the same bucket: only the sums move, if anything */
		if (!numeric_same(n.amount, false, o.amount, false) ||
			!numeric_same(n.expected, false, o.expected, false))
			d[nd++] = (RollupDelta) {&n, 0, num_sub(n.amount, o.amount), num_sub(n.expected, o.expected)};
	}
	else
	{
		/* one or two buckets; two in bucket order (see bucket_cmp) */
		bool		new_first = has_old && has_new && bucket_cmp(&n, &o) < 0;

		if (new_first)
			d[nd++] = (RollupDelta) {&n, 1, n.amount, n.expected};
		if (has_old)
			d[nd++] = (RollupDelta) {&o, -1, num_neg(o.amount), num_neg(o.expected)};
		if (has_new && !new_first)
			d[nd++] = (RollupDelta) {&n, 1, n.amount, n.expected};
	}

	/*
	 * The history and the roll-up: one statement where a stint opens, two
	 * where one only closes (a soft delete); a hard delete takes its stints
	 * along (ON DELETE CASCADE).
	 */
	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
		history_open(tgoid, owner, &n, NULL, now, false, d, nd);
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event) && has_new)
	{
		if (has_old)
			history_open(tgoid, owner, &n, &o, now, true, d, nd);
		else
			history_open(tgoid, owner, &n, NULL, history_last_end(tgoid, owner, &n, now), false, d, nd);
	}
	else
	{
		if (nd > 0)
			rollup_apply(tgoid, owner, d, nd);
		if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
			(void) history_close(tgoid, owner, &o, now);
	}
	SPI_finish();
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(pipeline_uuid_diff);

/*
 * SQL: crm._uuid_diff(uuid, uuid) returns float8, the subtype difference of
 * crm.uuid_range: the uuids read as 128-bit unsigned numbers, subtracted
 * (approximately, as doubles).  GiST uses it to place ranges in its pages;
 * without it every uuid range looks equally far from every other and the
 * exclusion index of the stage history degrades into a scan.
 */
Datum
pipeline_uuid_diff(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *a = PG_GETARG_UUID_P(0);
	pg_uuid_t  *b = PG_GETARG_UUID_P(1);
	uint64		ahi = 0,
				alo = 0,
				bhi = 0,
				blo = 0,
				dhi,
				dlo;
	bool		neg;
	int			i;

	for (i = 0; i < 8; i++)
	{
		ahi = (ahi << 8) | a->data[i];
		alo = (alo << 8) | a->data[i + 8];
		bhi = (bhi << 8) | b->data[i];
		blo = (blo << 8) | b->data[i + 8];
	}

	/*
	 * Subtract exactly, then round: rounding each uuid to a double first
	 * (53 bits) made all uuids v7 of one millisecond equal, and GiST placed
	 * the opportunities created in a burst without telling them apart.
	 */
	neg = ahi < bhi || (ahi == bhi && alo < blo);
	if (neg)
	{
		dhi = bhi - ahi - (blo < alo ? 1 : 0);
		dlo = blo - alo;
	}
	else
	{
		dhi = ahi - bhi - (alo < blo ? 1 : 0);
		dlo = alo - blo;
	}
	PG_RETURN_FLOAT8((neg ? -1.0 : 1.0) * ((double) dhi * 18446744073709551616.0 + (double) dlo));
}

PG_FUNCTION_INFO_V1(pipeline_uuid_point);

/*
 * SQL: crm.uuid_point(uuid) returns crm.uuid_range, the range [u, u] holding
 * one uuid: what crm.uuid_range(u, u, '[]') returns, for the exclusion
 * constraints that put uuid equality into GiST.  A C function of crm's
 * library, because the executor looks a range type's own constructor up by
 * name among all built-in functions (a linear search) each time it sets up
 * an index expression that calls it: every insert into the stage history,
 * every close of a stint, paid that search twice.
 */
Datum
pipeline_uuid_point(PG_FUNCTION_ARGS)
{
	TypeCacheEntry *typcache = (TypeCacheEntry *) fcinfo->flinfo->fn_extra;
	RangeBound	lower,
				upper;

	if (typcache == NULL)
	{
		Oid			rngtypid = get_fn_expr_rettype(fcinfo->flinfo);

		if (!OidIsValid(rngtypid))
			elog(ERROR, "crm.uuid_point() could not determine its result type");
		typcache = lookup_type_cache(rngtypid, TYPECACHE_RANGE_INFO);
		if (typcache->rngelemtype == NULL || typcache->rngelemtype->type_id != UUIDOID)
			elog(ERROR, "crm.uuid_point() must return a range of uuid, not %s", format_type_be(rngtypid));
		fcinfo->flinfo->fn_extra = typcache;
	}
	lower.val = upper.val = PG_GETARG_DATUM(0);
	lower.infinite = upper.infinite = false;
	lower.inclusive = upper.inclusive = true;
	lower.lower = true;
	upper.lower = false;
	PG_RETURN_RANGE_P(make_range(typcache, &lower, &upper, false));
}
