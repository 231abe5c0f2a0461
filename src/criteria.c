/*
 * criteria.c
 *		The SQL face of the criteria language: crm.criteria_validate,
 *		crm.criteria_sql, crm.criteria_select, crm.criteria_match, the
 *		folding function crm.criteria_fold and the selectivity estimators of
 *		crm's leakproof array operators.
 *
 * The parser (criteria_parse.c) and the compiler (criteria_compile.c) are
 * pure C; this file feeds them the document's text and the field catalog
 * of the current tenant (crm.criteria_field, read with one kept plan), turns
 * their errors into ereports, and runs the compiled predicate with typed
 * parameters: $1 is the tenant, every value of the document is another
 * parameter, and identifiers come from the catalog through quote_identifier.
 * Everything runs as the caller, under row-level security, with an
 * explicit organization_id filter besides (doc/criteria.md).
 *
 * Errors: 22023 for an invalid document (the message names the JSON path,
 * the hint says what is allowed), 42703 for an unknown field, 54001 for a
 * document beyond a bound, 22P02 for text that is not JSON.
 */
#include "postgres.h"

#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "access/xact.h"
#include "catalog/pg_cast.h"
#include "utils/syscache.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "common/hashfn.h"
#include "commands/trigger.h"
#include "trigger_support.h"
#include "utils/array.h"
#include "utils/date.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/selfuncs.h"
#include "utils/tuplestore.h"
#include "utils/uuid.h"

#include "criteria.h"
#include "criteria_compile.h"
#include "criteria_eval.h"
#include "criteria_parse.h"
#include "crm.h"
#include "similarity.h"

/* The fields of one entity, as the compiler and the evaluator see them. */
typedef struct CritFieldSet
{
	int			n;
	CritField  *fields;
	char	  **columns;		/* the unquoted column name of each field */
} CritFieldSet;

/*
 * A document and its compiled form, with the catalog it was checked against.
 * Allocated without zeroing (it is close to a megabyte, mostly the parser's
 * and compiler's fixed arrays, which they initialise as far as they use
 * them): crit_prepare sets every other member before anything reads it.
 * activity, link and link_column mean something only once activity_loaded
 * (resp. has_link) is set.
 */
typedef struct CritWork
{
	CritDoc		doc;
	CritCompiled out;
	CritError	err;
	char		entity[NAMEDATALEN];
	CritFieldSet self;			/* the entity's fields */
	bool		activity_loaded;
	CritFieldSet activity;		/* activity fields (related conditions) */
	bool		has_link;
	CritField	link;			/* activity's column referencing the entity */
	char	   *link_column;
} CritWork;

/* Kept plans reading the current tenant's catalog, and activity's link. */
static SPIPlanPtr crit_fields_plan = NULL;
static SPIPlanPtr crit_link_plan = NULL;

static void crit_load_fields(CritFieldSet *set, const char *entity);
static char *crit_link_of(const char *entity);

/* Look a field up by name (the compiler's CritLookup). */
static const CritField *
crit_lookup(void *ctx, const char *related, const char *name, size_t len)
{
	CritWork   *w = (CritWork *) ctx;
	CritFieldSet *set = &w->self;
	int			i;

	if (related)
	{
		if (!w->activity_loaded)
		{
			w->activity_loaded = true;
			crit_load_fields(&w->activity, "activity");
			w->link_column = crit_link_of(w->entity);
			if (w->link_column)
			{
				w->has_link = true;
				w->link.name.ptr = "";
				w->link.type = CRIT_T_UUID;
				w->link.column = quote_identifier(w->link_column);
			}
		}
		if (len == 0)
			return w->has_link ? &w->link : NULL;
		set = &w->activity;
	}
	for (i = 0; i < set->n; i++)
		if (set->fields[i].name.len == len && memcmp(set->fields[i].name.ptr, name, len) == 0)
			return &set->fields[i];
	return NULL;
}

/* A text column of the current SPI row (NULL when SQL NULL), type-checked. */
static char *
spi_text(HeapTuple tup, TupleDesc desc, int col, const char *what)
{
	bool		isnull;
	Datum		d;

	if (SPI_gettypeid(desc, col) != TEXTOID)
		elog(ERROR, "crm.criteria_field.%s is not of type text", what);
	d = SPI_getbinval(tup, desc, col, &isnull);
	return isnull ? NULL : TextDatumGetCString(d);
}

/* A kept plan (prepared on first use). */
static SPIPlanPtr
crit_keep(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes)
{
	return crm_keep_plan(slot, sql, nargs, argtypes, 0);
}

/*
 * The column of crm.activity that references the entity (its foreign key
 * to crm.<entity> pairs organization_id with it), or NULL.  From the
 * catalog, not a list: activity gains links as other issues add them.
 */
static char *
crit_link_of(const char *entity)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		arg = CStringGetTextDatum(entity);
	MemoryContext caller = CurrentMemoryContext;
	char	   *result = NULL;
	int			rc;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute_plan(crit_keep(&crit_link_plan,
									"SELECT a.attname::pg_catalog.text FROM pg_catalog.pg_constraint k"
									"  JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[2]"
									" WHERE k.contype = 'f' AND k.conrelid = 'crm.activity'::pg_catalog.regclass"
									"   AND k.confrelid = (SELECT c.oid FROM pg_catalog.pg_class c"
									"                       WHERE c.relnamespace = 'crm'::pg_catalog.regnamespace AND c.relname = $1)"
									"   AND pg_catalog.cardinality(k.conkey) = 2",
									1, argtypes),
						  &arg, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading the links of crm.activity failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 1)
		result = MemoryContextStrdup(caller, spi_text(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, "link"));
	SPI_finish();
	return result;
}

/*
 * Load the fields of the entity for the current tenant into set (memory of
 * the caller's context).
 */
static void
crit_load_fields(CritFieldSet *set, const char *entity)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		arg = CStringGetTextDatum(entity);
	MemoryContext caller = CurrentMemoryContext;
	uint64		i;
	int			rc;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute_plan(crit_keep(&crit_fields_plan,
									"SELECT name, source, column_name, json_key, type, is_list"
									"  FROM crm.criteria_field WHERE entity OPERATOR(pg_catalog.=) $1",
									1, argtypes),
						  &arg, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading crm.criteria_field failed: %s", SPI_result_code_string(rc));
	set->n = (int) SPI_processed;
	set->fields = MemoryContextAllocZero(caller, sizeof(CritField) * Max(SPI_processed, 1));
	set->columns = MemoryContextAllocZero(caller, sizeof(char *) * Max(SPI_processed, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		CritField  *f = &set->fields[i];
		char	   *name = spi_text(tup, desc, 1, "name");
		char	   *source = spi_text(tup, desc, 2, "source");
		char	   *column = spi_text(tup, desc, 3, "column_name");
		char	   *key = spi_text(tup, desc, 4, "json_key");
		char	   *type = spi_text(tup, desc, 5, "type");
		bool		isnull;
		Datum		is_list;

		if (SPI_gettypeid(desc, 6) != BOOLOID)
			elog(ERROR, "crm.criteria_field.is_list is not of type boolean");
		is_list = SPI_getbinval(tup, desc, 6, &isnull);
		if (!name || !source || !column || !type)
			elog(ERROR, "crm.criteria_field has a row without name, source, column or type");
		f->name.ptr = MemoryContextStrdup(caller, name);
		f->name.len = strlen(name);
		f->column = MemoryContextStrdup(caller, quote_identifier(column));
		set->columns[i] = MemoryContextStrdup(caller, column);
		if (key)
		{
			f->key.ptr = MemoryContextStrdup(caller, key);
			f->key.len = strlen(key);
		}
		f->type = crit_type_from_name(type, strlen(type));
		if (f->type == CRIT_T_COUNT)
			elog(ERROR, "crm.criteria_field: field \"%s\" has unknown type \"%s\"", name, type);
		if (strcmp(source, "column") == 0)
			f->source = CRIT_SRC_COLUMN;
		else if (strcmp(source, "account") == 0)
			f->source = CRIT_SRC_ACCOUNT;
		else if (strcmp(source, "json") == 0 && key)
			f->source = CRIT_SRC_JSON;
		else
			elog(ERROR, "crm.criteria_field: field \"%s\" has unknown source \"%s\"", name, source);
		f->is_list = !isnull && DatumGetBool(is_list);
	}
	SPI_finish();
}

/*
 * Parse and compile a document for an entity.  Returns false with w->err
 * set when the document is invalid; raises for what is not the document's
 * fault (an unknown entity).
 */
static bool
crit_prepare(CritWork *w, Jsonb *criteria, text *entity)
{
	char	   *json;

	/* a document far beyond the bound is refused before it is printed */
	if (VARSIZE(criteria) > 4 * CRIT_MAX_BYTES)
	{
		crit_error(&w->err, CRIT_ERR_LIMIT, "$", "Split the criteria into smaller documents.",
				   "the document is longer than %d bytes", CRIT_MAX_BYTES);
		return false;
	}
	json = JsonbToCString(NULL, &criteria->root, VARSIZE(criteria));
	strlcpy(w->entity, text_to_cstring(entity), sizeof(w->entity));
	/*
	 * The activity fields are loaded only for a document with a related
	 * condition; until then they are an empty set, never whatever the
	 * memory held (the evaluator tells a related field by its address).
	 */
	w->activity_loaded = false;
	memset(&w->activity, 0, sizeof(w->activity));
	w->has_link = false;
	memset(&w->link, 0, sizeof(w->link));
	w->link_column = NULL;
	crit_load_fields(&w->self, w->entity);
	if (w->self.n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown entity \"%s\"", w->entity),
				 errhint("Criteria apply to the entities contact, lead, account, activity and case.")));
	if (!crit_parse(json, strlen(json), &w->doc, &w->err))
		return false;
	return crit_compile(&w->doc, crit_lookup, w, &w->out, &w->err);
}

/* Raise the error of a document. */
static void
crit_raise(const CritError *err)
{
	int			code;

	switch (err->kind)
	{
		case CRIT_ERR_SYNTAX:
			code = ERRCODE_INVALID_TEXT_REPRESENTATION;
			break;
		case CRIT_ERR_LIMIT:
			code = ERRCODE_STATEMENT_TOO_COMPLEX;
			break;
		case CRIT_ERR_UNKNOWN_FIELD:
			code = ERRCODE_UNDEFINED_COLUMN;
			break;
		default:
			code = ERRCODE_INVALID_PARAMETER_VALUE;
			break;
	}
	ereport(ERROR,
			(errcode(code),
			 errmsg("%s: %s", err->path, err->message),
			 err->hint[0] ? errhint("%s", err->hint) : 0));
}

/*
 * The per-backend cache of compiled documents, keyed by (tenant, entity,
 * the document's jsonb bytes) and the catalog generation: a hot document is
 * parsed, checked and compiled once.  The generation moves whenever a
 * relcache invalidation of crm.custom_field or crm.criteria_tenant_field
 * arrives -- crm.trg_criteria_catalog sends one at the commit of every
 * change to them, to every backend -- or of all relations.  Entries live in
 * their own memory contexts; when the cache is full it is emptied.
 */
#define CRIT_CACHE_SIZE 16

typedef struct CritCacheEntry
{
	bool		used;
	uint32		hash;
	pg_uuid_t	org;
	char		entity[NAMEDATALEN];
	Size		keylen;
	char	   *key;			/* the jsonb's bytes */
	uint64		generation;
	MemoryContext cxt;
	CritWork   *w;
	CritProgram *prog;			/* NULL until the evaluator needs it */
	TimestampTz prepared_for;	/* the transaction start prog was prepared in */
} CritCacheEntry;

static CritCacheEntry crit_cache[CRIT_CACHE_SIZE];
static uint64 crit_generation = 1;
static bool crit_callback_registered = false;
static Oid	crit_custom_field_oid = InvalidOid;
static Oid	crit_tenant_field_oid = InvalidOid;

/* Relcache invalidation: a change of the catalog's tables, or of everything. */
static void
crit_relcache_callback(Datum arg, Oid relid)
{
	(void) arg;
	if (relid == InvalidOid || relid == crit_custom_field_oid || relid == crit_tenant_field_oid)
	{
		crit_generation++;
		crit_custom_field_oid = InvalidOid;
		crit_tenant_field_oid = InvalidOid;
	}
}

/* Empty the cache. */
static void
crit_cache_clear(void)
{
	int			i;

	for (i = 0; i < CRIT_CACHE_SIZE; i++)
	{
		if (crit_cache[i].used)
			MemoryContextDelete(crit_cache[i].cxt);
		crit_cache[i].used = false;
	}
}

/*
 * The work area of a document for the current tenant: from the cache, or
 * checked and compiled (and cached); raises on an invalid document.
 */
static CritCacheEntry *
crit_cached(Jsonb *criteria, text *entity)
{
	char	   *ent = text_to_cstring(entity);
	pg_uuid_t	org = crm_current_org_uuid();
	Size		keylen = VARSIZE(criteria) - VARHDRSZ;
	char	   *key = VARDATA(criteria);
	uint32		hash = hash_bytes((const unsigned char *) key, (int) keylen);
	CritCacheEntry *e = NULL;
	uint64		generation;
	MemoryContext cxt;
	MemoryContext old;
	int			i;

	if (!crit_callback_registered)
	{
		CacheRegisterRelcacheCallback(crit_relcache_callback, (Datum) 0);
		crit_callback_registered = true;
	}
	if (!OidIsValid(crit_custom_field_oid) || !OidIsValid(crit_tenant_field_oid))
	{
		/* (looked up again after every invalidation: the extension may be new) */
		crit_custom_field_oid = crm_relation_oid("custom_field");
		crit_tenant_field_oid = crm_relation_oid("criteria_tenant_field");
	}
	for (i = 0; i < CRIT_CACHE_SIZE; i++)
	{
		CritCacheEntry *c = &crit_cache[i];

		if (c->used && c->hash == hash && c->keylen == keylen &&
			memcmp(&c->org, &org, sizeof(org)) == 0 && strcmp(c->entity, ent) == 0 &&
			memcmp(c->key, key, keylen) == 0)
		{
			if (c->generation == crit_generation)
				return c;
			MemoryContextDelete(c->cxt);
			c->used = false;
		}
	}
	for (i = 0; i < CRIT_CACHE_SIZE && !e; i++)
		if (!crit_cache[i].used)
			e = &crit_cache[i];
	if (!e)
	{
		crit_cache_clear();
		e = &crit_cache[0];
	}

	/*
	 * Build under the current context, so that an error frees it; keep it
	 * only once it is complete.  The generation is the one before the
	 * catalog is read: an invalidation arriving meanwhile makes the entry
	 * stale at once.
	 */
	generation = crit_generation;
	cxt = AllocSetContextCreate(CurrentMemoryContext, "crm criteria document", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	e->w = palloc0(sizeof(CritWork));
	if (!crit_prepare(e->w, criteria, entity))
	{
		MemoryContextSwitchTo(old);
		crit_raise(&e->w->err);
	}
	e->key = palloc(keylen);
	memcpy(e->key, key, keylen);
	MemoryContextSwitchTo(old);
	MemoryContextSetParent(cxt, TopMemoryContext);
	e->cxt = cxt;
	e->keylen = keylen;
	e->hash = hash;
	e->org = org;
	strlcpy(e->entity, ent, sizeof(e->entity));
	e->generation = generation;
	e->prog = NULL;
	e->prepared_for = 0;
	e->used = true;
	return e;
}

/* The compiled document (see crit_cached). */
static CritWork *
crit_work(Jsonb *criteria, text *entity)
{
	return crit_cached(criteria, entity)->w;
}

PG_FUNCTION_INFO_V1(criteria_catalog_changed);
/*
 * crm.trg_criteria_catalog(): AFTER ... FOR EACH STATEMENT on the tables the
 * field catalog reads: every backend's cache of compiled documents is
 * invalidated when the change commits (a relcache invalidation of the
 * table, which each backend's callback turns into a new generation).
 */
Datum
criteria_catalog_changed(PG_FUNCTION_ARGS)
{
	TriggerData *td;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "crm.trg_criteria_catalog() must be called as a trigger");
	td = (TriggerData *) fcinfo->context;
	if (!crm_relation_is_own(td->tg_relation))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("crm.trg_criteria_catalog() can only run on crm's own tables")));
	CacheInvalidateRelcacheByRelid(RelationGetRelid(td->tg_relation));
	return PointerGetDatum(NULL);
}

/* The PostgreSQL type of a compiled parameter. */
static Oid
crit_param_type(CritParamType t)
{
	switch (t)
	{
		case CRIT_P_TEXT:
			return TEXTOID;
		case CRIT_P_TEXT_ARRAY:
			return TEXTARRAYOID;
		case CRIT_P_INT4:
			return INT4OID;
		case CRIT_P_NUMERIC:
			return NUMERICOID;
		case CRIT_P_DATE:
			return DATEOID;
		case CRIT_P_TIMESTAMPTZ:
			return TIMESTAMPTZOID;
		case CRIT_P_BOOL:
			return BOOLOID;
		case CRIT_P_UUID:
			return UUIDOID;
		case CRIT_P_UUID_ARRAY:
			return UUIDARRAYOID;
		case CRIT_P_JSONB:
			return JSONBOID;
		case CRIT_P_INTERVAL:
			return INTERVALOID;
		case CRIT_P_INT4_ARRAY:
			return INT4ARRAYOID;
		case CRIT_P_NUMERIC_ARRAY:
			return NUMERICARRAYOID;
	}
	elog(ERROR, "unknown criteria parameter type %d", (int) t);
	return InvalidOid;
}

/*
 * The statement of a compiled document: SELECT <what> FROM crm.<entity> t
 * WHERE t.organization_id = $1 AND t.deleted_at IS NULL AND (<predicate>)
 * <tail>.
 */
static char *
crit_statement(CritWork *w, const char *what, const char *tail)
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfo(&s, "SELECT %s FROM crm.%s t\nWHERE t.organization_id = $1 AND t.deleted_at IS NULL\n  AND %s%s",
					 what, quote_identifier(w->entity), w->out.sql, tail);
	return s.data;
}

/*
 * Types and values of $1 (the tenant "tenant") and the compiled parameters,
 * plus room for "extra" more, in the current memory context.
 */
static void
crit_params(CritWork *w, const pg_uuid_t *tenant, int extra, Oid **types, Datum **values)
{
	int			n = w->out.nparams + 1 + extra;
	pg_uuid_t  *org = palloc(sizeof(pg_uuid_t));
	int			i;

	*types = palloc(sizeof(Oid) * n);
	*values = palloc0(sizeof(Datum) * n);
	*org = *tenant;
	(*types)[0] = UUIDOID;
	(*values)[0] = UUIDPGetDatum(org);
	for (i = 0; i < w->out.nparams; i++)
	{
		Oid			typ = crit_param_type(w->out.params[i].type);
		Oid			input;
		Oid			ioparam;

		getTypeInputInfo(typ, &input, &ioparam);
		(*types)[i + 1] = typ;
		(*values)[i + 1] = OidInputFunctionCall(input, (char *) w->out.params[i].text.ptr, ioparam, -1);
	}
}

PG_FUNCTION_INFO_V1(criteria_fold);
/* crm.criteria_fold(text): lower case, Latin letters without accents. */
Datum
criteria_fold(PG_FUNCTION_ARGS)
{
	text	   *in = PG_GETARG_TEXT_PP(0);
	size_t		len = VARSIZE_ANY_EXHDR(in);
	text	   *out = (text *) palloc(len + VARHDRSZ);
	size_t		n = sim_fold_text(VARDATA_ANY(in), len, VARDATA(out));

	SET_VARSIZE(out, n + VARHDRSZ);
	PG_FREE_IF_COPY(in, 0);
	PG_RETURN_TEXT_P(out);
}

PG_FUNCTION_INFO_V1(criteria_operators);
/* crm.criteria_operators(type, is_list): the operators a field type takes. */
Datum
criteria_operators(PG_FUNCTION_ARGS)
{
	char	   *type = text_to_cstring(PG_GETARG_TEXT_PP(0));
	bool		is_list = PG_GETARG_BOOL(1);
	CritType	t = crit_type_from_name(type, strlen(type));
	CritOpMask	mask;
	Datum		elems[CRIT_OP_COUNT];
	int			n = 0;
	int			i;

	if (t == CRIT_T_COUNT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown criteria field type \"%s\"", type),
				 errhint("Types: text, integer, number, date, timestamp, boolean, uuid, tags.")));
	mask = crit_type_ops(t, is_list);
	for (i = 0; i < CRIT_OP_COUNT; i++)
		if (mask & CRIT_OP_BIT(i))
			elems[n++] = CStringGetTextDatum(crit_op_name((CritOp) i));
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

PG_FUNCTION_INFO_V1(criteria_validate);
/* crm.criteria_validate(criteria, entity): (path, message), none when valid. */
Datum
criteria_validate(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	CritWork   *w;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		return (Datum) 0;
	w = palloc0(sizeof(CritWork));
	if (!crit_prepare(w, PG_GETARG_JSONB_P(0), PG_GETARG_TEXT_PP(1)))
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};
		char	   *msg = w->err.hint[0] ? psprintf("%s (%s)", w->err.message, w->err.hint) : w->err.message;

		values[0] = CStringGetTextDatum(w->err.path);
		values[1] = CStringGetTextDatum(msg);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(criteria_sql);
/* crm.criteria_sql(criteria, entity): the compiled statement and its parameters. */
Datum
criteria_sql(PG_FUNCTION_ARGS)
{
	CritWork   *w = crit_work(PG_GETARG_JSONB_P(0), PG_GETARG_TEXT_PP(1));
	StringInfoData s;
	int			i;

	initStringInfo(&s);
	appendStringInfoString(&s, crit_statement(w, "t.id", ""));
	appendStringInfoString(&s, "\n-- $1 = crm.current_org()");
	for (i = 0; i < w->out.nparams; i++)
		appendStringInfo(&s, "\n-- $%d = %s::%s", i + 2,
						 quote_literal_cstr(w->out.params[i].text.ptr),
						 format_type_be(crit_param_type(w->out.params[i].type)));
	PG_RETURN_TEXT_P(cstring_to_text(s.data));
}

PG_FUNCTION_INFO_V1(criteria_select);
/* crm.criteria_select(criteria, entity, lim): ids of the matching records. */
Datum
criteria_select(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	CritWork   *w;
	Oid		   *types;
	Datum	   *values;
	int			nargs;
	char	   *sql;
	Portal		portal;
	bool		limited = !PG_ARGISNULL(2);
	pg_uuid_t	org;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		return (Datum) 0;
	if (limited && PG_GETARG_INT32(2) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lim must not be negative"),
				 errhint("Pass NULL for all matching records.")));
	w = crit_work(PG_GETARG_JSONB_P(0), PG_GETARG_TEXT_PP(1));
	org = crm_current_org_uuid();
	crit_params(w, &org, limited ? 1 : 0, &types, &values);
	nargs = w->out.nparams + 1 + (limited ? 1 : 0);
	if (limited)
	{
		types[nargs - 1] = INT8OID;
		values[nargs - 1] = Int64GetDatum((int64) PG_GETARG_INT32(2));
	}
	sql = crit_statement(w, "t.id", limited ? psprintf(" LIMIT $%d", nargs) : "");

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	portal = SPI_cursor_open_with_args(NULL, sql, nargs, types, values, NULL, true,
									   CURSOR_OPT_NO_SCROLL);
	for (;;)
	{
		uint64		i;

		SPI_cursor_fetch(portal, true, 10000);
		if (SPI_processed == 0)
			break;
		if (SPI_gettypeid(SPI_tuptable->tupdesc, 1) != UUIDOID)
			elog(ERROR, "criteria_select: id is not a uuid");
		for (i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			Datum		id = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &id, &isnull);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_finish();
	return (Datum) 0;
}

/* ---------------------------------------------------------------------
 * The evaluator's view of a record: a row of crm.<entity> read by id (and,
 * for account.* fields, the contact's live account), each value checked
 * for the type its field needs.
 * ---------------------------------------------------------------------
 */
typedef struct CritRecord
{
	CritWork   *w;
	HeapTuple	row;
	TupleDesc	desc;
	pg_uuid_t	org;
	bool		account_read;	/* account looked up already */
	bool		no_account;		/* account_id is NULL */
	HeapTuple	account;		/* NULL: deleted or absent */
	TupleDesc	account_desc;
	const CritEvalEnv *env;
	HeapTuple	related_row;	/* the related row a "where" looks at */
	TupleDesc	related_desc;
} CritRecord;

/*
 * Kept plans per entity: one set reads a live record by id (of the entity,
 * and of the account for account.* fields), the other a record's live
 * activities.  As many entries as entities are used in the backend (the
 * catalog's, which issues add to), in TopMemoryContext.
 */
typedef struct CritEntityPlan
{
	char		entity[NAMEDATALEN];
	SPIPlanPtr	plan;			/* NULL until prepared */
} CritEntityPlan;

typedef struct CritPlanSet
{
	int			n;
	int			size;
	CritEntityPlan *items;
} CritPlanSet;

static CritPlanSet crit_row_plans;
static CritPlanSet crit_related_plans;

/* The entry of an entity in a plan set, added (without a plan) if new. */
static CritEntityPlan *
crit_plan_slot(CritPlanSet *set, const char *entity)
{
	CritEntityPlan *slot;
	int			i;

	for (i = 0; i < set->n; i++)
		if (strcmp(set->items[i].entity, entity) == 0)
			return &set->items[i];
	if (set->n == set->size)
	{
		int			size = set->size > 0 ? set->size * 2 : 8;

		set->items = set->items
			? repalloc(set->items, sizeof(CritEntityPlan) * size)
			: MemoryContextAlloc(TopMemoryContext, sizeof(CritEntityPlan) * size);
		set->size = size;
	}
	slot = &set->items[set->n++];
	strlcpy(slot->entity, entity, NAMEDATALEN);
	slot->plan = NULL;
	return slot;
}

/* The kept plan reading a live row of crm.<entity> by (tenant, id). */
static SPIPlanPtr
crit_row_plan(const char *entity)
{
	Oid			argtypes[2] = {UUIDOID, UUIDOID};
	CritEntityPlan *slot = crit_plan_slot(&crit_row_plans, entity);

	if (slot->plan == NULL)
		crit_keep(&slot->plan,
				  psprintf("SELECT t.* FROM crm.%s t WHERE t.organization_id = $1 AND t.id = $2 AND t.deleted_at IS NULL",
						   quote_identifier(entity)),
				  2, argtypes);
	return slot->plan;
}

/*
 * Read related rows with a new snapshot (crm_criteria_eval_tuple: a trigger
 * must see the rows its own statement changed, as the RI triggers do).
 */
static bool crit_read_latest = false;

/* Read a live row by id (connected to SPI); NULL when there is none. */
static HeapTuple
crit_read_row(const char *entity, pg_uuid_t *org, Datum id, TupleDesc *desc)
{
	Datum		args[2] = {UUIDPGetDatum(org), id};
	int			rc = SPI_execute_plan(crit_row_plan(entity), args, NULL, !crit_read_latest, 1);

	if (rc != SPI_OK_SELECT)
		elog(ERROR, "criteria: reading crm.%s failed: %s", entity, SPI_result_code_string(rc));
	if (SPI_processed == 0)
		return NULL;
	*desc = SPI_tuptable->tupdesc;
	return SPI_tuptable->vals[0];
}

/* The value of column "name" of a row, checked to be of one of the types. */
static Datum
crit_column(HeapTuple row, TupleDesc desc, const char *name, bool *isnull, Oid *typid)
{
	int			attno = SPI_fnumber(desc, name);

	if (attno <= 0)
		elog(ERROR, "criteria: the catalog names column \"%s\", which the record does not have", name);
	*typid = SPI_gettypeid(desc, attno);
	return SPI_getbinval(row, desc, attno, isnull);
}

static void
crit_wrong_type(const char *name, Oid typid, const CritField *f)
{
	elog(ERROR, "criteria: column \"%s\" is of type %s, not what field \"%.*s\" (%s) reads",
		 name, format_type_be(typid), (int) f->name.len, f->name.ptr, crit_type_name(f->type));
}

/*
 * Is a type stored as text, with a binary cast to text (crm.email,
 * crm.phone): what (x)::text reads is then its own varlena.
 */
static bool
crit_text_like(Oid typid)
{
	HeapTuple	tup = SearchSysCache2(CASTSOURCETARGET, ObjectIdGetDatum(typid), ObjectIdGetDatum(TEXTOID));
	bool		result = false;

	if (HeapTupleIsValid(tup))
	{
		result = ((Form_pg_cast) GETSTRUCT(tup))->castmethod == COERCION_METHOD_BINARY;
		ReleaseSysCache(tup);
	}
	return result;
}

/* A column's value as the evaluator sees it. */
static void
crit_column_value(HeapTuple row, TupleDesc desc, const char *name, const CritField *f, CritVal *out)
{
	bool		isnull;
	Oid			typid;
	Datum		d = crit_column(row, desc, name, &isnull, &typid);

	if (isnull)
	{
		out->kind = CRIT_VAL_NULL;
		return;
	}
	switch (f->type)
	{
		case CRIT_T_TEXT:
			if (typid == BPCHAROID)
			{
				/* (bpchar)::text drops the padding */
				char	   *s = TextDatumGetCString(d);
				size_t		n = strlen(s);

				while (n > 0 && s[n - 1] == ' ')
					n--;
				out->text.ptr = s;
				out->text.len = n;
			}
			else if (typid == TEXTOID || typid == VARCHAROID || crit_text_like(typid))
			{
				text	   *t = DatumGetTextPP(d);

				out->text.ptr = VARDATA_ANY(t);
				out->text.len = VARSIZE_ANY_EXHDR(t);
			}
			else
				crit_wrong_type(name, typid, f);
			out->kind = CRIT_VAL_TEXT;
			break;
		case CRIT_T_INT:
			if (typid == INT4OID)
				out->i = DatumGetInt32(d);
			else if (typid == INT2OID)
				out->i = DatumGetInt16(d);
			else if (typid == INT8OID)
				out->i = DatumGetInt64(d);
			else
				crit_wrong_type(name, typid, f);
			out->kind = CRIT_VAL_INT;
			break;
		case CRIT_T_NUMBER:
			if (typid != NUMERICOID)
				crit_wrong_type(name, typid, f);
			out->text.ptr = DatumGetCString(DirectFunctionCall1(numeric_out, d));
			out->text.len = strlen(out->text.ptr);
			out->kind = CRIT_VAL_NUMBER;
			break;
		case CRIT_T_DATE:
			if (typid != DATEOID)
				crit_wrong_type(name, typid, f);
			out->i = DatumGetDateADT(d);
			out->kind = CRIT_VAL_DATE;
			break;
		case CRIT_T_TIMESTAMP:
			if (typid != TIMESTAMPTZOID)
				crit_wrong_type(name, typid, f);
			out->i = DatumGetTimestampTz(d);
			out->kind = CRIT_VAL_TIMESTAMP;
			break;
		case CRIT_T_BOOL:
			if (typid != BOOLOID)
				crit_wrong_type(name, typid, f);
			out->b = DatumGetBool(d);
			out->kind = CRIT_VAL_BOOL;
			break;
		case CRIT_T_UUID:
			if (typid != UUIDOID)
				crit_wrong_type(name, typid, f);
			out->text.ptr = DatumGetCString(DirectFunctionCall1(uuid_out, d));
			out->text.len = strlen(out->text.ptr);
			out->kind = CRIT_VAL_UUID;
			break;
		case CRIT_T_TAGS:
			{
				ArrayType  *arr;
				Datum	   *elems;
				bool	   *nulls;
				int			n;
				int			i;
				CritText   *items;

				if (typid != TEXTARRAYOID)
					crit_wrong_type(name, typid, f);
				arr = DatumGetArrayTypeP(d);
				deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
				items = palloc(sizeof(CritText) * Max(n, 1));
				out->nitems = 0;
				for (i = 0; i < n; i++)
				{
					if (nulls[i])
					{
						out->nitems_other++;
						continue;
					}
					items[out->nitems].ptr = VARDATA_ANY(DatumGetTextPP(elems[i]));
					items[out->nitems].len = VARSIZE_ANY_EXHDR(DatumGetTextPP(elems[i]));
					out->nitems++;
				}
				out->items = items;
				out->kind = CRIT_VAL_TAGS;
				break;
			}
		case CRIT_T_COUNT:
			crit_wrong_type(name, typid, f);
	}
}

/* The value of a key of a jsonb column, as ->> and @> see it. */
static void
crit_json_value(HeapTuple row, TupleDesc desc, const char *name, const CritField *f, CritVal *out)
{
	bool		isnull;
	Oid			typid;
	Datum		d = crit_column(row, desc, name, &isnull, &typid);
	Jsonb	   *jb;
	JsonbValue	v;

	if (!isnull && typid != JSONBOID)
		crit_wrong_type(name, typid, f);
	if (isnull)
	{
		out->kind = CRIT_VAL_NULL;
		return;
	}
	jb = DatumGetJsonbP(d);
	out->kind = CRIT_VAL_JSON;
	out->json_kind = CRIT_J_NULL;
	if (!JB_ROOT_IS_OBJECT(jb) ||
		!getKeyJsonValueFromContainer(&jb->root, f->key.ptr, f->key.len, &v))
		return;
	switch (v.type)
	{
		case jbvNull:
			return;
		case jbvString:
			out->json_kind = CRIT_J_STRING;
			out->text.ptr = v.val.string.val;
			out->text.len = v.val.string.len;
			return;
		case jbvNumeric:
			out->json_kind = CRIT_J_NUMBER;
			out->text.ptr = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v.val.numeric)));
			out->text.len = strlen(out->text.ptr);
			return;
		case jbvBool:
			out->json_kind = CRIT_J_BOOL;
			out->text.ptr = v.val.boolean ? "true" : "false";
			out->text.len = v.val.boolean ? 4 : 5;
			return;
		case jbvBinary:
			{
				JsonbContainer *c = v.val.binary.data;

				out->text.ptr = JsonbToCString(NULL, c, v.val.binary.len);
				out->text.len = strlen(out->text.ptr);
				if (JsonContainerIsArray(c))
				{
					uint32		n = JsonContainerSize(c);
					uint32		i;
					CritText   *items = palloc(sizeof(CritText) * Max(n, 1));

					out->json_kind = CRIT_J_ARRAY;
					for (i = 0; i < n; i++)
					{
						JsonbValue *e = getIthJsonbValueFromContainer(c, i);

						if (e->type == jbvString)
						{
							items[out->nitems].ptr = e->val.string.val;
							items[out->nitems].len = e->val.string.len;
							out->nitems++;
						}
						else
							out->nitems_other++;
					}
					out->items = items;
				}
				else
					out->json_kind = CRIT_J_OBJECT;
				return;
			}
		default:
			elog(ERROR, "criteria: unexpected jsonb value type %d", (int) v.type);
	}
}

/* CritEvalEnv.value: the record's value of a field. */
static void
crit_env_value(void *ctx, const CritField *f, CritVal *out)
{
	CritRecord *r = (CritRecord *) ctx;
	CritWork   *w = r->w;
	bool		related = w->activity_loaded && w->activity.n > 0 &&
		f >= w->activity.fields && f < w->activity.fields + w->activity.n;
	const char *column = related ? w->activity.columns[f - w->activity.fields] : w->self.columns[f - w->self.fields];
	HeapTuple	row = related ? r->related_row : r->row;
	TupleDesc	desc = related ? r->related_desc : r->desc;

	if (f->source == CRIT_SRC_JSON)
	{
		crit_json_value(row, desc, column, f, out);
		return;
	}
	if (f->source == CRIT_SRC_COLUMN)
	{
		crit_column_value(row, desc, column, f, out);
		return;
	}
	/* account.*: the contact's live account, read once per record */
	if (!r->account_read)
	{
		bool		isnull;
		Oid			typid;
		Datum		account_id = crit_column(r->row, r->desc, "account_id", &isnull, &typid);

		if (!isnull && typid != UUIDOID)
			elog(ERROR, "criteria: account_id is not a uuid");
		r->account_read = true;
		r->no_account = isnull;
		if (!isnull)
			r->account = crit_read_row("account", &r->org, account_id, &r->account_desc);
	}
	if (r->no_account)
		out->kind = CRIT_VAL_NO_LINK;
	else if (!r->account)
		out->kind = CRIT_VAL_NO_ROW;
	else
		crit_column_value(r->account, r->account_desc, column, f, out);
}

/*
 * CritEvalEnv.related: count the record's live activities since "since"
 * that satisfy the condition's "where", up to at_least (one kept plan).
 */
static int64_t
crit_env_related(void *ctx, const CritProgram *prog, const CritNode *node, int64_t at_least, int64_t since)
{
	CritRecord *r = (CritRecord *) ctx;
	CritWork   *w = r->w;
	Oid			argtypes[3] = {UUIDOID, UUIDOID, TIMESTAMPTZOID};
	Datum		args[3];
	CritEntityPlan *slot;
	SPIPlanPtr	plan;
	SPITupleTable *rows;
	bool		isnull;
	Oid			typid;
	int64_t		n = 0;
	uint64		i;
	int			rc;

	if (!w->has_link)
		elog(ERROR, "criteria: activity is not related to %s", w->entity);
	slot = crit_plan_slot(&crit_related_plans, w->entity);
	if (slot->plan == NULL)
		crit_keep(&slot->plan,
				  psprintf("SELECT r.* FROM crm.activity r WHERE r.organization_id = $1 AND r.%s = $2"
						   " AND r.deleted_at IS NULL AND r.activity_at >= $3", quote_identifier(w->link_column)),
				  3, argtypes);
	plan = slot->plan;
	args[0] = UUIDPGetDatum(&r->org);
	args[1] = crit_column(r->row, r->desc, "id", &isnull, &typid);
	if (isnull || typid != UUIDOID)
		elog(ERROR, "criteria: the record's id is not a uuid");
	args[2] = TimestampTzGetDatum(since);
	rc = SPI_execute_plan(plan, args, NULL, !crit_read_latest, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "criteria: reading activities failed: %s", SPI_result_code_string(rc));
	rows = SPI_tuptable;
	for (i = 0; i < rows->numvals && n < at_least; i++)
	{
		r->related_row = rows->vals[i];
		r->related_desc = rows->tupdesc;
		if (crit_eval_where(prog, node, r->env) == CRIT_TRUE)
			n++;
	}
	r->related_row = NULL;
	return n;
}

/* CritEvalEnv.timestamp: timestamptz input of a document's text. */
static int64_t
crit_env_timestamp(void *ctx, CritText t)
{
	(void) ctx;
	return DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in, CStringGetDatum(pnstrdup(t.ptr, t.len)),
												   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
}

/* CritEvalEnv.ago: now() - interval, as the SQL computes it. */
static int64_t
crit_env_ago(void *ctx, int amount, CritUnit unit)
{
	Datum		iv = DirectFunctionCall3(interval_in, CStringGetDatum(psprintf("%d %s", amount, crit_unit_name(unit))),
										 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));

	(void) ctx;
	return DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
												   TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()), iv));
}

/* CritEvalEnv.scratch: memory until the evaluation ends. */
static char *
crit_env_scratch(void *ctx, size_t n)
{
	(void) ctx;
	return palloc(n);
}

PG_FUNCTION_INFO_V1(criteria_match);
/*
 * crm.criteria_match(criteria, entity, id): does that record match?  The
 * in-memory evaluator on the record's row (one kept plan reads it).
 */
Datum
criteria_match(PG_FUNCTION_ARGS)
{
	CritCacheEntry *e = crit_cached(PG_GETARG_JSONB_P(0), PG_GETARG_TEXT_PP(1));
	CritWork   *w = e->w;
	CritRecord	rec;
	CritEvalEnv env;
	CritTruth	t = CRIT_FALSE;

	memset(&rec, 0, sizeof(rec));
	rec.w = w;
	rec.org = crm_current_org_uuid();
	env.ctx = &rec;
	env.timestamp = crit_env_timestamp;
	env.ago = crit_env_ago;
	env.scratch = crit_env_scratch;
	env.value = crit_env_value;
	env.related = crit_env_related;
	rec.env = &env;

	/*
	 * The prepared values depend on now() (within_last): prepared again in
	 * each transaction.
	 */
	if (e->prog == NULL)
		e->prog = MemoryContextAlloc(e->cxt, sizeof(CritProgram));
	if (e->prepared_for != GetCurrentTransactionStartTimestamp())
	{
		e->prepared_for = 0;
		if (!crit_eval_prepare(&w->doc, crit_lookup, w, &env, e->prog, &w->err))
			crit_raise(&w->err);
		e->prepared_for = GetCurrentTransactionStartTimestamp();
	}
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rec.row = crit_read_row(w->entity, &rec.org, PG_GETARG_DATUM(2), &rec.desc);
	/* (SPI keeps every result's rows and descriptor until SPI_finish) */
	if (rec.row)
		t = crit_eval(e->prog, &env);
	SPI_finish();
	PG_RETURN_BOOL(t == CRIT_TRUE);
}

/*
 * Selectivity of crm.&& and crm.@> on text[]: the built-in estimator
 * (arraycontsel), told which built-in operator ours behaves like (it
 * refuses operators it does not know).
 */
static Datum
crit_arraysel(FunctionCallInfo fcinfo, Oid builtin)
{
	return DirectFunctionCall4Coll(arraycontsel, PG_GET_COLLATION(),
								   PG_GETARG_DATUM(0), ObjectIdGetDatum(builtin),
								   PG_GETARG_DATUM(2), PG_GETARG_DATUM(3));
}

PG_FUNCTION_INFO_V1(criteria_overlap_sel);
/* Restriction selectivity of crm.&& (text[], text[]). */
Datum
criteria_overlap_sel(PG_FUNCTION_ARGS)
{
	return crit_arraysel(fcinfo, OID_ARRAY_OVERLAP_OP);
}

PG_FUNCTION_INFO_V1(criteria_contains_sel);
/* Restriction selectivity of crm.@> (text[], text[]). */
Datum
criteria_contains_sel(PG_FUNCTION_ARGS)
{
	return crit_arraysel(fcinfo, OID_ARRAY_CONTAINS_OP);
}

/* ---------------------------------------------------------------------
 * The C API of criteria.h: handles owned by the caller.
 * ---------------------------------------------------------------------
 */
struct CrmCriteria
{
	MemoryContext cxt;
	MemoryContext evalcxt;		/* per-row memory, reset after each row */
	CritWork   *w;
	CritProgram *prog;
	TimestampTz prepared_for;
	CrmCriteriaReads reads;
};

/* Add a name to a list of names if it is not there yet. */
static void
crit_reads_add(char ***names, int *n, const char *name)
{
	int			i;

	for (i = 0; i < *n; i++)
		if (strcmp((*names)[i], name) == 0)
			return;
	*names = *n == 0 ? palloc(sizeof(char *) * 8) : repalloc(*names, sizeof(char *) * (*n + 8));
	(*names)[(*n)++] = pstrdup(name);
}

/* Collect what a node and its members read (in_related: inside a "where"). */
static void
crit_reads_walk(CritWork *w, CrmCriteriaReads *r, const CritNode *n, bool in_related)
{
	const CritNode *m;

	if (n->kind == CRIT_RELATED)
	{
		r->related = true;
		if (n->has_within)
			r->time_relative = true;
		crit_reads_add(&r->columns, &r->ncolumns, "id");
		in_related = true;
	}
	else if (n->kind == CRIT_COND)
	{
		const CritField *f;

		if (n->op == CRIT_OP_WITHIN_LAST || n->op == CRIT_OP_BEFORE_LAST)
			r->time_relative = true;
		if (in_related)
			return;
		f = crit_lookup(w, NULL, n->field.ptr, n->field.len);
		if (f == NULL)
			elog(ERROR, "criteria: a compiled document names an unknown field");
		if (f->source == CRIT_SRC_ACCOUNT)
		{
			crit_reads_add(&r->columns, &r->ncolumns, "account_id");
			crit_reads_add(&r->account_columns, &r->naccount, w->self.columns[f - w->self.fields]);
		}
		else
			crit_reads_add(&r->columns, &r->ncolumns, w->self.columns[f - w->self.fields]);
		return;
	}
	for (m = n->first; m; m = m->next)
		crit_reads_walk(w, r, m, in_related);
}

/* crm_criteria_prepare: see criteria.h. */
CrmCriteria *
crm_criteria_prepare(Jsonb *criteria, const char *entity, MemoryContext parent)
{
	MemoryContext cxt = AllocSetContextCreate(parent, "crm criteria handle", ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	CrmCriteria *c = palloc0(sizeof(CrmCriteria));

	PG_TRY();
	{
		c->cxt = cxt;
		c->w = palloc0(sizeof(CritWork));
		if (!crit_prepare(c->w, criteria, cstring_to_text(entity)))
			crit_raise(&c->w->err);
		c->prog = palloc(sizeof(CritProgram));
		c->evalcxt = AllocSetContextCreate(cxt, "crm criteria row", ALLOCSET_SMALL_SIZES);
		crit_reads_walk(c->w, &c->reads, c->w->doc.root, false);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(old);
		MemoryContextDelete(cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	return c;
}

/* crm_criteria_reads: see criteria.h. */
const CrmCriteriaReads *
crm_criteria_reads(const CrmCriteria *c)
{
	return &c->reads;
}

/* crm_criteria_eval_tuple: see criteria.h. */
CritTruth
crm_criteria_eval_tuple(CrmCriteria *c, HeapTuple row, TupleDesc desc, const pg_uuid_t *org)
{
	CritRecord	rec;
	CritEvalEnv env;
	CritTruth	t;
	bool		spi = c->reads.naccount > 0 || c->reads.related;
	MemoryContext old;

	memset(&rec, 0, sizeof(rec));
	rec.w = c->w;
	rec.org = *org;
	rec.row = row;
	rec.desc = desc;
	env.ctx = &rec;
	env.timestamp = crit_env_timestamp;
	env.ago = crit_env_ago;
	env.scratch = crit_env_scratch;
	env.value = crit_env_value;
	env.related = crit_env_related;
	rec.env = &env;

	/* now() moves with the transaction: within_last is prepared per transaction */
	if (c->prepared_for != GetCurrentTransactionStartTimestamp())
	{
		old = MemoryContextSwitchTo(c->cxt);
		c->prepared_for = 0;
		if (!crit_eval_prepare(&c->w->doc, crit_lookup, c->w, &env, c->prog, &c->w->err))
			crit_raise(&c->w->err);
		c->prepared_for = GetCurrentTransactionStartTimestamp();
		MemoryContextSwitchTo(old);
	}
	old = MemoryContextSwitchTo(c->evalcxt);
	if (spi && SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	crit_read_latest = true;
	PG_TRY();
	{
		t = crit_eval(c->prog, &env);
	}
	PG_FINALLY();
	{
		crit_read_latest = false;
	}
	PG_END_TRY();
	if (spi)
		SPI_finish();
	MemoryContextSwitchTo(old);
	MemoryContextReset(c->evalcxt);
	return t;
}

/* crm_criteria_predicate: see criteria.h. */
const char *
crm_criteria_predicate(const CrmCriteria *c, const pg_uuid_t *org, int extra,
					   int *nargs, Oid **types, Datum **values)
{
	crit_params(c->w, org, extra, types, values);
	*nargs = c->w->out.nparams + 1;
	return pstrdup(c->w->out.sql);
}

/* crm_criteria_free: see criteria.h. */
void
crm_criteria_free(CrmCriteria *c)
{
	if (c)
		MemoryContextDelete(c->cxt);
}

/* crm_criteria_catalog_generation: see criteria.h. */
uint64
crm_criteria_catalog_generation(void)
{
	if (!crit_callback_registered)
	{
		CacheRegisterRelcacheCallback(crit_relcache_callback, (Datum) 0);
		crit_callback_registered = true;
	}
	if (!OidIsValid(crit_custom_field_oid) || !OidIsValid(crit_tenant_field_oid))
	{
		crit_custom_field_oid = crm_relation_oid("custom_field");
		crit_tenant_field_oid = crm_relation_oid("criteria_tenant_field");
	}
	return crit_generation;
}
