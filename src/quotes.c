/*
 * quotes.c
 *		The hot triggers of quotes and opportunity line items
 *		(sql/37_quotes.sql, doc/quotes.md), in C:
 *
 *		crm.trg_quote_line_price()	BEFORE INSERT OR UPDATE row trigger on
 *			crm.quote_line_item: the list price from the quote's price book
 *			and the tax rate from the product when not given.
 *		crm.trg_quote_totals()		AFTER statement trigger on
 *			crm.quote_line_item: the totals of every quote the statement
 *			touched become the sums over its lines.
 *		crm.trg_opportunity_amount()	AFTER statement trigger on
 *			crm.opportunity_line_item: the amount of every deal whose lines'
 *			totals changed becomes their sum.
 *
 * They do what the PL/pgSQL functions they replace did, statement for
 * statement (the same queries, the same errors), minus the interpreter:
 * the transition tables are read here (keys collected, sorted, made
 * distinct in C), every query is a kept plan, and the pricing trigger
 * caches its look-ups for the statement (fn_extra: one per quote and one
 * per product and price list), so a bulk insert of lines runs one price
 * query per distinct product instead of one per line.
 *
 * The price look-up has a fast path: one query returns what decides the
 * price, and when everything is in order the price is taken here.  Any
 * other case (a missing, deleted or inactive product, a book that is
 * missing, inactive, in another currency, out of its dates or without the
 * product, no price in the currency) goes through crm._list_price(), whose
 * errors are the documented ones: one rule, its error texts in one place.
 *
 * The arithmetic of a line (subtotal, discount, tax, line total, each
 * rounded to cents half up) stays in the table's generated columns: that
 * is exact numeric arithmetic done by the executor without any trigger,
 * and the bare copies the benchmark compares with have the same columns,
 * so moving it here would buy nothing and split the rule in two places.
 *
 * Every query runs as the caller (as the PL/pgSQL functions did), under
 * row-level security, with explicit tenant filters.  Each function accepts
 * only its own table, named by trigger argument 0 (crm's logical name,
 * Citus-safe), on a relation that is crm's own.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datum.h"
#include "utils/fmgrprotos.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"
#include "utils/uuid.h"

#include "crm.h"
#include "trigger_support.h"

#define LINE_PRICE_FNAME	"crm.trg_quote_line_price()"
#define QUOTE_TOTALS_FNAME	"crm.trg_quote_totals()"
#define OPP_AMOUNT_FNAME	"crm.trg_opportunity_amount()"

/*
 * The trigger checks of crm_trigger_check, and that argument 0 names the
 * one table the function is written for; the refusal says what the
 * PL/pgSQL versions said.
 */
static TriggerData *
quote_trigger_check(FunctionCallInfo fcinfo, const char *fname, int kinds,
					const char *table, const char *how)
{
	TriggerData *td = crm_trigger_check(fcinfo, fname, kinds);
	Trigger    *tg = td->tg_trigger;

	if (tg->tgnargs < 1 || strcmp(tg->tgargs[0], table) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s runs only as %s on crm.%s, not on %s",
						fname, how, table, RelationGetRelationName(td->tg_relation))));
	return td;
}

/*
 * A kept plan, prepared on first use.  The statement triggers' queries take
 * arrays of keys and touch tables that grow while a session writes (a bulk
 * load starts on empty tables): a generic plan made on the first call would
 * keep the seq scans that were right for an empty table, so they are
 * planned for each statement with its arrays (custom: a fraction of a
 * millisecond, once per statement).  The row triggers' look-ups by key are
 * left to the plan cache's usual choice.
 */
static SPIPlanPtr
quote_plan_opts(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes, int options)
{
	return crm_keep_plan(slot, sql, nargs, argtypes, options);
}

/* A kept plan for a row trigger's look-up by key. */
static SPIPlanPtr
quote_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes)
{
	return quote_plan_opts(slot, sql, nargs, argtypes, 0);
}

/* A kept plan for a statement trigger's set-based query (custom plans). */
static SPIPlanPtr
rollup_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes)
{
	return quote_plan_opts(slot, sql, nargs, argtypes, CURSOR_OPT_CUSTOM_PLAN);
}

/* A uuid column of a slot or tuple value, or NULL. */
static inline const pg_uuid_t *
quote_uuid(Datum d, bool isnull)
{
	return isnull ? NULL : DatumGetUUIDP(d);
}

/* Whether two nullable uuids are equal (IS NOT DISTINCT FROM). */
static inline bool
quote_uuid_same(const pg_uuid_t *a, const pg_uuid_t *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return memcmp(a->data, b->data, UUID_LEN) == 0;
}

/* Whether two nullable numerics are equal (IS NOT DISTINCT FROM). */
static inline bool
quote_numeric_same(Datum a, bool anull, Datum b, bool bnull)
{
	if (anull || bnull)
		return anull == bnull;
	return DatumGetBool(DirectFunctionCall2(numeric_eq, a, b));
}

/* ------------------------------------------------------------------------
 * Pricing a quote line
 * ------------------------------------------------------------------------
 */

/* A quote as its lines are priced: cached per statement. */
typedef struct QuoteKey
{
	pg_uuid_t	org;
	pg_uuid_t	id;
} QuoteKey;

typedef struct QuoteInfo
{
	QuoteKey	key;
	bool		found;
	bool		book_null;
	pg_uuid_t	book;
	Datum		currency;		/* bpchar, in the cache's context */
	DateADT		quote_date;
} QuoteInfo;

/* A list price look-up: cached per statement. */
typedef struct PriceKey
{
	pg_uuid_t	org;
	pg_uuid_t	book;			/* zero when none */
	pg_uuid_t	product;
	char		currency[8];
	DateADT		on_date;
	bool		book_null;
} PriceKey;

typedef struct PriceInfo
{
	PriceKey	key;
	Datum		price;			/* numeric, in the cache's context */
	bool		tax_null;
	Datum		tax_rate;
} PriceInfo;

typedef struct LinePriceCache
{
	Oid			relid;
	int			att_org;
	int			att_quote;
	int			att_product;
	int			att_list_price;
	int			att_tax_rate;
	int32		typmod_list_price;
	int32		typmod_tax_rate;
	HTAB	   *quotes;
	HTAB	   *prices;
	MemoryContext cxt;
} LinePriceCache;

static SPIPlanPtr quote_info_plan;
static SPIPlanPtr price_fast_plan;
static SPIPlanPtr price_slow_plan;
static SPIPlanPtr product_tax_plan;

static LinePriceCache *
line_price_cache(FunctionCallInfo fcinfo, Relation rel)
{
	LinePriceCache *c = (LinePriceCache *) fcinfo->flinfo->fn_extra;
	HASHCTL		ctl;
	TupleDesc	desc = RelationGetDescr(rel);

	if (c != NULL && c->relid == RelationGetRelid(rel))
		return c;
	c = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(LinePriceCache));
	c->relid = RelationGetRelid(rel);
	c->cxt = fcinfo->flinfo->fn_mcxt;
	c->att_org = crm_trigger_column(rel, "organization_id", UUIDOID, true, LINE_PRICE_FNAME);
	c->att_quote = crm_trigger_column(rel, "quote_id", UUIDOID, true, LINE_PRICE_FNAME);
	c->att_product = crm_trigger_column(rel, "product_id", UUIDOID, true, LINE_PRICE_FNAME);
	c->att_list_price = crm_trigger_column(rel, "list_price", NUMERICOID, true, LINE_PRICE_FNAME);
	c->att_tax_rate = crm_trigger_column(rel, "tax_rate", NUMERICOID, true, LINE_PRICE_FNAME);
	c->typmod_list_price = TupleDescAttr(desc, c->att_list_price - 1)->atttypmod;
	c->typmod_tax_rate = TupleDescAttr(desc, c->att_tax_rate - 1)->atttypmod;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(QuoteKey);
	ctl.entrysize = sizeof(QuoteInfo);
	ctl.hcxt = c->cxt;
	c->quotes = hash_create("crm quote line quotes", 16, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(PriceKey);
	ctl.entrysize = sizeof(PriceInfo);
	ctl.hcxt = c->cxt;
	c->prices = hash_create("crm quote line prices", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	fcinfo->flinfo->fn_extra = c;
	return c;
}

/* The quote's currency, price book and date (found = false: no such quote). */
static QuoteInfo *
line_price_quote(LinePriceCache *c, const pg_uuid_t *org, const pg_uuid_t *quote)
{
	QuoteKey	key;
	QuoteInfo  *q;
	bool		found;
	Oid			types[2] = {UUIDOID, UUIDOID};
	Datum		values[2];
	int			rc;

	memset(&key, 0, sizeof(key));
	key.org = *org;
	key.id = *quote;
	q = hash_search(c->quotes, &key, HASH_ENTER, &found);
	if (found)
		return q;
	q->found = false;

	values[0] = UUIDPGetDatum(org);
	values[1] = UUIDPGetDatum(quote);
	rc = SPI_execute_plan(quote_plan(&quote_info_plan,
									 "SELECT x.currency, x.price_book_id, x.quote_date FROM crm.quote x"
									 " WHERE x.organization_id = $1 AND x.id = $2",
									 2, types),
						  values, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "the quote look-up failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		d;
		MemoryContext old;

		d = SPI_getbinval(tup, desc, 1, &isnull);
		old = MemoryContextSwitchTo(c->cxt);
		q->currency = isnull ? (Datum) 0 : datumCopy(d, false, -1);
		MemoryContextSwitchTo(old);
		d = SPI_getbinval(tup, desc, 2, &isnull);
		q->book_null = isnull;
		if (!isnull)
			q->book = *DatumGetUUIDP(d);
		d = SPI_getbinval(tup, desc, 3, &isnull);
		q->quote_date = DatumGetDateADT(d);
		/* quote.currency and quote_date are NOT NULL */
		q->found = q->currency != (Datum) 0;
	}
	return q;
}

/*
 * The list price and tax rate of a product for a line of quote q: the
 * decisive facts in one query, the price taken here when all is in order,
 * else crm._list_price() (which raises the error that applies).
 */
static PriceInfo *
line_price_lookup(LinePriceCache *c, const pg_uuid_t *org, QuoteInfo *q, const pg_uuid_t *product)
{
	PriceKey	key;
	PriceInfo  *p;
	bool		found;
	Oid			types[5] = {UUIDOID, UUIDOID, UUIDOID, BPCHAROID, DATEOID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	char	   *cur;
	int			rc;
	HeapTuple	tup = NULL;
	TupleDesc	desc = NULL;
	bool		isnull;
	bool		have_price = false;
	Datum		price = (Datum) 0;
	Datum		tax;
	bool		tax_null;
	MemoryContext old;

	cur = TextDatumGetCString(q->currency);
	memset(&key, 0, sizeof(key));
	key.org = *org;
	key.book_null = q->book_null;
	if (!q->book_null)
		key.book = q->book;
	key.product = *product;
	strlcpy(key.currency, cur, sizeof(key.currency));
	key.on_date = q->quote_date;
	p = hash_search(c->prices, &key, HASH_FIND, &found);
	if (found)
		return p;

	values[0] = UUIDPGetDatum(org);
	values[1] = q->book_null ? (Datum) 0 : UUIDPGetDatum(&q->book);
	nulls[1] = q->book_null ? 'n' : ' ';
	values[2] = UUIDPGetDatum(product);
	values[3] = q->currency;
	values[4] = DateADTGetDatum(q->quote_date);

	/*
	 * The same joins as crm._list_price(); the conditions it raises on come
	 * back as booleans.
	 */
	rc = SPI_execute_plan(quote_plan(&price_fast_plan,
									 "SELECT p.deleted_at IS NULL AND p.is_active, p.tax_rate,"
									 " p.currency = $4, p.unit_price,"
									 " b.id IS NOT NULL, b.is_active AND b.currency = $4"
									 " AND NOT coalesce($5 < b.valid_from OR $5 > b.valid_to, false),"
									 " e.unit_price"
									 " FROM crm.product p"
									 " LEFT JOIN crm.price_book b ON b.organization_id = $1"
									 " AND CASE WHEN $2::uuid IS NOT NULL THEN b.id = $2"
									 " ELSE b.kind = 'standard' AND b.is_active AND b.currency = $4 END"
									 " LEFT JOIN crm.price_book_entry e ON e.organization_id = $1"
									 " AND e.price_book_id = b.id AND e.product_id = p.id AND e.is_active"
									 " WHERE p.organization_id = $1 AND p.id = $3",
									 5, types),
						  values, nulls, false, 2);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "the price look-up failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 1)
	{
		bool		product_ok,
					book_found,
					book_ok;

		tup = SPI_tuptable->vals[0];
		desc = SPI_tuptable->tupdesc;
		product_ok = DatumGetBool(SPI_getbinval(tup, desc, 1, &isnull)) && !isnull;
		book_found = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
		book_ok = DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull)) && !isnull;
		if (product_ok && (q->book_null || book_found))
		{
			if (book_found)
			{
				Datum		entry = SPI_getbinval(tup, desc, 7, &isnull);

				if (book_ok && !isnull)
				{
					price = entry;
					have_price = true;
				}
				else if (book_ok && q->book_null)
				{
					/* the standard book lacks it: the product's own price */
					bool		same = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull)) && !isnull;

					if (same)
					{
						price = SPI_getbinval(tup, desc, 4, &isnull);
						have_price = !isnull;
					}
				}
			}
			else
			{
				bool		same = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull)) && !isnull;

				if (same)
				{
					price = SPI_getbinval(tup, desc, 4, &isnull);
					have_price = !isnull;
				}
			}
		}
	}
	if (have_price)
		tax = SPI_getbinval(tup, desc, 2, &tax_null);
	else
	{
		/* not in order: crm._list_price() says why (or prices it) */
		rc = SPI_execute_plan(quote_plan(&price_slow_plan,
										 "SELECT x.price, x.tax_rate FROM crm._list_price($1, $2, $3, $4, $5) x",
										 5, types),
							  values, nulls, false, 1);
		if (rc != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "the price look-up failed: %s", SPI_result_code_string(rc));
		tup = SPI_tuptable->vals[0];
		desc = SPI_tuptable->tupdesc;
		price = SPI_getbinval(tup, desc, 1, &isnull);
		if (isnull)
			elog(ERROR, "crm._list_price() returned no price");
		tax = SPI_getbinval(tup, desc, 2, &tax_null);
	}

	p = hash_search(c->prices, &key, HASH_ENTER, &found);
	old = MemoryContextSwitchTo(c->cxt);
	p->price = datumCopy(price, false, -1);
	p->tax_null = tax_null;
	p->tax_rate = tax_null ? (Datum) 0 : datumCopy(tax, false, -1);
	MemoryContextSwitchTo(old);
	return p;
}

/* The product's own tax rate (NULL: none, or no such product). */
static bool
line_price_product_tax(const pg_uuid_t *org, const pg_uuid_t *product, Datum *tax)
{
	Oid			types[2] = {UUIDOID, UUIDOID};
	Datum		values[2];
	bool		isnull = true;
	int			rc;

	values[0] = UUIDPGetDatum(org);
	values[1] = UUIDPGetDatum(product);
	rc = SPI_execute_plan(quote_plan(&product_tax_plan,
									 "SELECT p.tax_rate FROM crm.product p"
									 " WHERE p.organization_id = $1 AND p.id = $2",
									 2, types),
						  values, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "the product look-up failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 1)
	{
		*tax = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (!isnull)
			*tax = SPI_datumTransfer(*tax, false, -1);
	}
	return !isnull;
}

/* A numeric value coerced to a column's typmod (as a PL/pgSQL assignment does). */
static Datum
line_price_coerce(Datum value, int32 typmod)
{
	if (typmod < 0)
		return value;
	return DirectFunctionCall2(numeric, value, Int32GetDatum(typmod));
}

PG_FUNCTION_INFO_V1(quote_line_price);

/* SQL: crm.trg_quote_line_price('quote_line_item') returns trigger (BEFORE INSERT OR UPDATE, FOR EACH ROW) */
Datum
quote_line_price(PG_FUNCTION_ARGS)
{
	TriggerData *td;
	Relation	rel;
	TupleDesc	desc;
	HeapTuple	newtup;
	LinePriceCache *c;
	Datum		org_d,
				quote_d,
				product_d,
				list_d,
				tax_d;
	bool		org_null,
				quote_null,
				product_null,
				list_null,
				tax_null;
	QuoteInfo  *q;
	bool		changed = false;
	bool		tax_zero = false;
	int			cols[2];
	Datum		vals[2];
	bool		nulls[2];

	td = quote_trigger_check(fcinfo, LINE_PRICE_FNAME,
							 CRM_TRIG_BEFORE_ROW | CRM_TRIG_INSERT | CRM_TRIG_UPDATE,
							 "quote_line_item", "a BEFORE row trigger");
	newtup = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	if (crm_restoring)
		return PointerGetDatum(newtup);

	rel = td->tg_relation;
	desc = RelationGetDescr(rel);
	c = line_price_cache(fcinfo, rel);

	org_d = heap_getattr(newtup, c->att_org, desc, &org_null);
	quote_d = heap_getattr(newtup, c->att_quote, desc, &quote_null);
	product_d = heap_getattr(newtup, c->att_product, desc, &product_null);
	list_d = heap_getattr(newtup, c->att_list_price, desc, &list_null);
	tax_d = heap_getattr(newtup, c->att_tax_rate, desc, &tax_null);

	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		HeapTuple	oldtup = td->tg_trigtuple;
		bool		oq_null,
					op_null,
					ol_null,
					ot_null;
		Datum		oq = heap_getattr(oldtup, c->att_quote, desc, &oq_null);
		Datum		op = heap_getattr(oldtup, c->att_product, desc, &op_null);
		Datum		ol = heap_getattr(oldtup, c->att_list_price, desc, &ol_null);
		Datum		ot = heap_getattr(oldtup, c->att_tax_rate, desc, &ot_null);

		if (!quote_null && !oq_null
			&& !quote_uuid_same(DatumGetUUIDP(quote_d), DatumGetUUIDP(oq)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a line item cannot move to another quote"),
					 errhint("Delete it and add a new line to the other quote.")));
		if (quote_numeric_same(list_d, list_null, ol, ol_null)
			&& !quote_uuid_same(quote_uuid(product_d, product_null), quote_uuid(op, op_null)))
		{
			/* the product changed and the price did not: priced again below */
			list_null = true;
			if (quote_numeric_same(tax_d, tax_null, ot, ot_null))
				tax_null = true;
			changed = true;
		}
	}

	if (list_null || tax_null)
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		q = (org_null || quote_null) ? NULL
			: line_price_quote(c, DatumGetUUIDP(org_d), DatumGetUUIDP(quote_d));
		if (q != NULL && q->found)
		{
			if (product_null)
			{
				if (list_null)
					ereport(ERROR,
							(errcode(ERRCODE_NOT_NULL_VIOLATION),
							 errmsg("a line item without a product needs a list_price")));
				tax_zero = tax_null;
			}
			else if (list_null)
			{
				PriceInfo  *p = line_price_lookup(c, DatumGetUUIDP(org_d), q, DatumGetUUIDP(product_d));

				list_d = p->price;
				list_null = false;
				changed = true;
				if (tax_null)
				{
					tax_d = p->tax_rate;
					tax_null = p->tax_null;
				}
			}
			else
			{
				/* a price of its own: only the tax rate is wanted */
				tax_null = !line_price_product_tax(DatumGetUUIDP(org_d), DatumGetUUIDP(product_d), &tax_d);
				tax_zero = tax_null;
			}
		}
		SPI_finish();
		if (tax_zero)
		{
			/* (made here: the SPI context is gone) */
			tax_d = DirectFunctionCall1(int4_numeric, Int32GetDatum(0));
			tax_null = false;
		}
		changed = true;
	}
	if (!changed)
		return PointerGetDatum(newtup);

	/* write back list_price and tax_rate (unchanged, cleared or priced) */
	cols[0] = c->att_list_price;
	vals[0] = list_null ? (Datum) 0 : line_price_coerce(list_d, c->typmod_list_price);
	nulls[0] = list_null;
	cols[1] = c->att_tax_rate;
	vals[1] = tax_null ? (Datum) 0 : line_price_coerce(tax_d, c->typmod_tax_rate);
	nulls[1] = tax_null;
	return PointerGetDatum(heap_modify_tuple_by_cols(newtup, desc, 2, cols, vals, nulls));
}

/* ------------------------------------------------------------------------
 * Roll-ups: quote totals and opportunity amounts
 * ------------------------------------------------------------------------
 */

/* A (tenant, parent) key of a roll-up. */
typedef struct RollupKey
{
	pg_uuid_t	org;
	pg_uuid_t	id;
} RollupKey;

static int
rollup_key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(RollupKey));
}

/* The transition table of a statement trigger, or a clear error without one. */
static Tuplestorestate *
rollup_transition_table(Tuplestorestate *ts, Relation rel, const char *fname, const char *which)
{
	if (ts == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s on \"%s\" has no %s transition table",
						fname, RelationGetRelationName(rel), which),
				 errhint("Create the trigger with REFERENCING %s TABLE AS ... FOR EACH STATEMENT (sql/37_quotes.sql).",
						 which)));
	return ts;
}

/*
 * The distinct (organization_id, parent) keys of a transition table's rows,
 * sorted (uuid order, as ORDER BY sorts them: the order locks are taken
 * in).  Rows with a NULL key are skipped, as the SQL joins skipped them.
 */
static RollupKey *
rollup_keys(Tuplestorestate *ts, TupleDesc desc, int att_org, int att_parent, int *nkeys)
{
	int64		cap = Max(tuplestore_tuple_count(ts), 1);
	RollupKey  *keys = palloc(sizeof(RollupKey) * cap);
	int			n = 0;
	int			i,
				m;
	int			ptr = tuplestore_alloc_read_pointer(ts, EXEC_FLAG_REWIND);
	TupleTableSlot *slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);

	/* a read pointer of our own: other statement triggers read the same table */
	tuplestore_select_read_pointer(ts, ptr);
	tuplestore_rescan(ts);
	while (tuplestore_gettupleslot(ts, true, false, slot))
	{
		bool		onull,
					pnull;
		Datum		o = slot_getattr(slot, att_org, &onull);
		Datum		p = slot_getattr(slot, att_parent, &pnull);

		if (onull || pnull)
			continue;
		if (n >= cap)
		{
			cap *= 2;
			keys = repalloc(keys, sizeof(RollupKey) * cap);
		}
		keys[n].org = *DatumGetUUIDP(o);
		keys[n].id = *DatumGetUUIDP(p);
		n++;
	}
	tuplestore_select_read_pointer(ts, 0);
	ExecDropSingleTupleTableSlot(slot);

	if (n > 1)
		qsort(keys, n, sizeof(RollupKey), rollup_key_cmp);
	for (i = 0, m = 0; i < n; i++)
		if (m == 0 || rollup_key_cmp(&keys[m - 1], &keys[i]) != 0)
			keys[m++] = keys[i];
	*nkeys = m;
	return keys;
}

/* The keys as two uuid[] parameters (organizations, ids), in key order. */
static void
rollup_key_arrays(RollupKey *keys, int n, Datum *orgs, Datum *ids)
{
	Datum	   *o = palloc(sizeof(Datum) * n);
	Datum	   *d = palloc(sizeof(Datum) * n);
	int			i;

	for (i = 0; i < n; i++)
	{
		o[i] = UUIDPGetDatum(&keys[i].org);
		d[i] = UUIDPGetDatum(&keys[i].id);
	}
	/* uuid: 16 bytes, passed by reference, char alignment */
	*orgs = PointerGetDatum(construct_array(o, n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	*ids = PointerGetDatum(construct_array(d, n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
}

static SPIPlanPtr totals_lock_plan;
static SPIPlanPtr totals_update_plan;

PG_FUNCTION_INFO_V1(quote_totals);

/* SQL: crm.trg_quote_totals('quote_line_item') returns trigger (AFTER INSERT/UPDATE/DELETE, FOR EACH STATEMENT, transition tables) */
Datum
quote_totals(PG_FUNCTION_ARGS)
{
	TriggerData *td;
	Relation	rel;
	Tuplestorestate *ts;
	RollupKey  *keys;
	int			nkeys;
	int			att_org,
				att_quote;
	Oid			types[2] = {UUIDARRAYOID, UUIDARRAYOID};
	Datum		values[2];
	int			rc;
	bool		isnull;
	Datum		final_number;

	td = quote_trigger_check(fcinfo, QUOTE_TOTALS_FNAME,
							 CRM_TRIG_AFTER_STATEMENT | CRM_TRIG_INSERT | CRM_TRIG_UPDATE | CRM_TRIG_DELETE,
							 "quote_line_item", "an AFTER statement trigger");
	if (crm_restoring)
		return PointerGetDatum(NULL);
	rel = td->tg_relation;

	/*
	 * An update cannot move a line to another quote
	 * (crm.trg_quote_line_price): the new rows name every quote it touched.
	 */
	if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
		ts = rollup_transition_table(td->tg_oldtable, rel, QUOTE_TOTALS_FNAME, "OLD");
	else
		ts = rollup_transition_table(td->tg_newtable, rel, QUOTE_TOTALS_FNAME, "NEW");
	if (tuplestore_tuple_count(ts) == 0)
		return PointerGetDatum(NULL);
	att_org = crm_trigger_column(rel, "organization_id", UUIDOID, true, QUOTE_TOTALS_FNAME);
	att_quote = crm_trigger_column(rel, "quote_id", UUIDOID, true, QUOTE_TOTALS_FNAME);
	keys = rollup_keys(ts, RelationGetDescr(rel), att_org, att_quote, &nkeys);
	if (nkeys == 0)
		return PointerGetDatum(NULL);
	rollup_key_arrays(keys, nkeys, &values[0], &values[1]);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/*
	 * Lock, in key order, and find a quote that is not a draft (a quote
	 * deleted with its lines, ON DELETE CASCADE, is gone: nothing to do).
	 */
	rc = SPI_execute_plan(rollup_plan(&totals_lock_plan,
									 "SELECT min(y.number) FILTER (WHERE y.status <> 'draft')"
									 " FROM (SELECT x.number, x.status FROM crm.quote x"
									 " JOIN unnest($1::uuid[], $2::uuid[]) AS k(org, id)"
									 " ON x.organization_id = k.org AND x.id = k.id"
									 " ORDER BY x.organization_id, x.id FOR UPDATE OF x) y",
									 2, types),
						  values, NULL, false, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "locking the quotes failed: %s", SPI_result_code_string(rc));
	final_number = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
	{
		/* the error path: its status, for the message (not a kept plan) */
		Oid			t3[3] = {UUIDARRAYOID, UUIDARRAYOID, TEXTOID};
		Datum		v3[3] = {values[0], values[1], final_number};
		char	   *number;
		char	   *status;

		rc = SPI_execute_with_args("SELECT x.number, x.status FROM crm.quote x"
								   " JOIN unnest($1::uuid[], $2::uuid[]) AS k(org, id)"
								   " ON x.organization_id = k.org AND x.id = k.id WHERE x.number = $3",
								   3, t3, v3, NULL, true, 1);
		if (rc != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "reading the final quote failed: %s", SPI_result_code_string(rc));
		number = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("quote %s is %s and its line items cannot change", number, status),
				 strcmp(status, "sent") == 0
				 ? errhint("Revise it first (UPDATE crm.quote SET status = 'draft'), then send it again: that makes its next version.")
				 : errhint("Create a new quote (a final quote keeps what the customer answered to).")));
	}

	rc = SPI_execute_plan(rollup_plan(&totals_update_plan,
									 "UPDATE crm.quote x"
									 " SET line_count = s.n, subtotal = s.subtotal, discount_total = s.discount,"
									 " tax_total = s.tax, total = s.total"
									 " FROM (SELECT k.org, k.id, count(l.id)::integer AS n,"
									 " coalesce(sum(l.subtotal), 0) AS subtotal,"
									 " coalesce(sum(l.discount_amount), 0) AS discount,"
									 " coalesce(sum(l.tax_amount), 0) AS tax,"
									 " coalesce(sum(l.line_total), 0) AS total"
									 " FROM unnest($1::uuid[], $2::uuid[]) AS k(org, id)"
									 " LEFT JOIN crm.quote_line_item l"
									 " ON l.organization_id = k.org AND l.quote_id = k.id"
									 " GROUP BY k.org, k.id) s"
									 " WHERE x.organization_id = s.org AND x.id = s.id"
									 " AND (x.line_count, x.subtotal, x.discount_total, x.tax_total, x.total)"
									 " IS DISTINCT FROM (s.n, s.subtotal, s.discount, s.tax, s.total)",
									 2, types),
						  values, NULL, false, 0);
	if (rc != SPI_OK_UPDATE)
		elog(ERROR, "updating the quote totals failed: %s", SPI_result_code_string(rc));
	SPI_finish();
	return PointerGetDatum(NULL);
}

/* An opportunity line as the amount trigger pairs old and new rows. */
typedef struct OppLine
{
	RollupKey	key;			/* (organization_id, id) */
	pg_uuid_t	opp;
	bool		opp_null;
	bool		total_null;
	Datum		total;
} OppLine;

static int
opp_line_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(RollupKey));
}

/* Every row of a transition table, sorted by (organization_id, id). */
static OppLine *
opp_lines(Tuplestorestate *ts, TupleDesc desc, int att_org, int att_id, int att_opp,
		  int att_total, int *nlines)
{
	int64		cap = Max(tuplestore_tuple_count(ts), 1);
	OppLine    *lines = palloc0(sizeof(OppLine) * cap);
	int			n = 0;
	int			ptr = tuplestore_alloc_read_pointer(ts, EXEC_FLAG_REWIND);
	TupleTableSlot *slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);

	tuplestore_select_read_pointer(ts, ptr);
	tuplestore_rescan(ts);
	while (tuplestore_gettupleslot(ts, true, false, slot))
	{
		bool		onull,
					inull;
		Datum		o = slot_getattr(slot, att_org, &onull);
		Datum		i = slot_getattr(slot, att_id, &inull);
		Datum		p,
					t;

		if (onull || inull)
			continue;
		if (n >= cap)
		{
			cap *= 2;
			lines = repalloc(lines, sizeof(OppLine) * cap);
		}
		memset(&lines[n], 0, sizeof(OppLine));
		lines[n].key.org = *DatumGetUUIDP(o);
		lines[n].key.id = *DatumGetUUIDP(i);
		p = slot_getattr(slot, att_opp, &lines[n].opp_null);
		if (!lines[n].opp_null)
			lines[n].opp = *DatumGetUUIDP(p);
		t = slot_getattr(slot, att_total, &lines[n].total_null);
		if (!lines[n].total_null)
			lines[n].total = datumCopy(t, false, -1);
		n++;
	}
	tuplestore_select_read_pointer(ts, 0);
	ExecDropSingleTupleTableSlot(slot);
	if (n > 1)
		qsort(lines, n, sizeof(OppLine), opp_line_cmp);
	*nlines = n;
	return lines;
}

static SPIPlanPtr amount_lock_plan;
static SPIPlanPtr amount_update_plan;

PG_FUNCTION_INFO_V1(quote_opportunity_amount);

/* SQL: crm.trg_opportunity_amount('opportunity_line_item') returns trigger (AFTER INSERT/UPDATE/DELETE, FOR EACH STATEMENT, transition tables) */
Datum
quote_opportunity_amount(PG_FUNCTION_ARGS)
{
	TriggerData *td;
	Relation	rel;
	TupleDesc	desc;
	RollupKey  *keys;
	int			nkeys;
	int			att_org,
				att_opp;
	Oid			types[2] = {UUIDARRAYOID, UUIDARRAYOID};
	Datum		values[2];
	int			rc;

	td = quote_trigger_check(fcinfo, OPP_AMOUNT_FNAME,
							 CRM_TRIG_AFTER_STATEMENT | CRM_TRIG_INSERT | CRM_TRIG_UPDATE | CRM_TRIG_DELETE,
							 "opportunity_line_item", "an AFTER statement trigger");
	if (crm_restoring)
		return PointerGetDatum(NULL);
	rel = td->tg_relation;
	desc = RelationGetDescr(rel);
	att_org = crm_trigger_column(rel, "organization_id", UUIDOID, true, OPP_AMOUNT_FNAME);
	att_opp = crm_trigger_column(rel, "opportunity_id", UUIDOID, true, OPP_AMOUNT_FNAME);

	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		/*
		 * The deals of the lines whose total_price changed: old and new rows
		 * paired by (organization_id, id), as the SQL join paired them.
		 */
		Tuplestorestate *olds = rollup_transition_table(td->tg_oldtable, rel, OPP_AMOUNT_FNAME, "OLD");
		Tuplestorestate *news = rollup_transition_table(td->tg_newtable, rel, OPP_AMOUNT_FNAME, "NEW");
		int			att_id = crm_trigger_column(rel, "id", UUIDOID, true, OPP_AMOUNT_FNAME);
		int			att_total = crm_trigger_column(rel, "total_price", NUMERICOID, true, OPP_AMOUNT_FNAME);
		OppLine    *o,
				   *n;
		int			no,
					nn,
					i = 0,
					j = 0,
					m;

		if (tuplestore_tuple_count(news) == 0)
			return PointerGetDatum(NULL);
		o = opp_lines(olds, desc, att_org, att_id, att_opp, att_total, &no);
		n = opp_lines(news, desc, att_org, att_id, att_opp, att_total, &nn);
		keys = palloc(sizeof(RollupKey) * Max(nn, 1));
		nkeys = 0;
		while (i < no && j < nn)
		{
			int			cmp = opp_line_cmp(&o[i], &n[j]);

			if (cmp < 0)
				i++;
			else if (cmp > 0)
				j++;
			else
			{
				if (!n[j].opp_null
					&& !quote_numeric_same(o[i].total, o[i].total_null, n[j].total, n[j].total_null))
				{
					keys[nkeys].org = n[j].key.org;
					keys[nkeys].id = n[j].opp;
					nkeys++;
				}
				i++;
				j++;
			}
		}
		if (nkeys > 1)
			qsort(keys, nkeys, sizeof(RollupKey), rollup_key_cmp);
		for (i = 0, m = 0; i < nkeys; i++)
			if (m == 0 || rollup_key_cmp(&keys[m - 1], &keys[i]) != 0)
				keys[m++] = keys[i];
		nkeys = m;
	}
	else
	{
		Tuplestorestate *ts = TRIGGER_FIRED_BY_INSERT(td->tg_event)
			? rollup_transition_table(td->tg_newtable, rel, OPP_AMOUNT_FNAME, "NEW")
			: rollup_transition_table(td->tg_oldtable, rel, OPP_AMOUNT_FNAME, "OLD");

		if (tuplestore_tuple_count(ts) == 0)
			return PointerGetDatum(NULL);
		keys = rollup_keys(ts, desc, att_org, att_opp, &nkeys);
	}
	if (nkeys == 0)
		return PointerGetDatum(NULL);
	rollup_key_arrays(keys, nkeys, &values[0], &values[1]);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* lock the deals in key order first: no deadlock between two writers */
	rc = SPI_execute_plan(rollup_plan(&amount_lock_plan,
									 "SELECT 1 FROM crm.opportunity x"
									 " JOIN unnest($1::uuid[], $2::uuid[]) AS k(org, id)"
									 " ON x.organization_id = k.org AND x.id = k.id"
									 " ORDER BY x.organization_id, x.id FOR UPDATE OF x",
									 2, types),
						  values, NULL, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "locking the opportunities failed: %s", SPI_result_code_string(rc));
	rc = SPI_execute_plan(rollup_plan(&amount_update_plan,
									 "UPDATE crm.opportunity x SET amount = s.total"
									 " FROM (SELECT k.org, k.id, sum(l.total_price) AS total"
									 " FROM unnest($1::uuid[], $2::uuid[]) AS k(org, id)"
									 " JOIN crm.opportunity_line_item l"
									 " ON l.organization_id = k.org AND l.opportunity_id = k.id"
									 " GROUP BY k.org, k.id) s"
									 " WHERE x.organization_id = s.org AND x.id = s.id"
									 " AND x.amount IS DISTINCT FROM s.total",
									 2, types),
						  values, NULL, false, 0);
	if (rc != SPI_OK_UPDATE)
		elog(ERROR, "updating the opportunity amounts failed: %s", SPI_result_code_string(rc));
	SPI_finish();
	return PointerGetDatum(NULL);
}
