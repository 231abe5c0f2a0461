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
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/selfuncs.h"
#include "utils/tuplestore.h"
#include "utils/uuid.h"

#include "criteria_compile.h"
#include "criteria_parse.h"
#include "crm.h"
#include "similarity.h"

/* A document and its compiled form, with the catalog it was checked against. */
typedef struct CritWork
{
	CritDoc		doc;
	CritCompiled out;
	CritError	err;
	char		entity[NAMEDATALEN];
	int			nfields;
	CritField  *fields;
} CritWork;

/* Kept plan reading the current tenant's catalog of an entity. */
static SPIPlanPtr crit_fields_plan = NULL;

/* Look a field up by name (the compiler's CritLookup). */
static const CritField *
crit_lookup(void *ctx, const char *name, size_t len)
{
	CritWork   *w = (CritWork *) ctx;
	int			i;

	for (i = 0; i < w->nfields; i++)
		if (w->fields[i].name.len == len && memcmp(w->fields[i].name.ptr, name, len) == 0)
			return &w->fields[i];
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

/*
 * Load the fields of the entity for the current tenant into w (memory of
 * the caller's context).  An entity without fields does not exist.
 */
static void
crit_load_fields(CritWork *w, text *entity)
{
	char	   *ent = text_to_cstring(entity);
	Datum		arg = PointerGetDatum(entity);
	MemoryContext caller = CurrentMemoryContext;
	uint64		i;
	int			rc;

	if (strlen(ent) >= NAMEDATALEN)
		ent[NAMEDATALEN - 1] = '\0';
	strlcpy(w->entity, ent, sizeof(w->entity));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (crit_fields_plan == NULL)
	{
		Oid			argtypes[1] = {TEXTOID};
		SPIPlanPtr	plan = SPI_prepare("SELECT name, source, column_name, json_key, type, is_list"
									   "  FROM crm.criteria_field WHERE entity OPERATOR(pg_catalog.=) $1",
									   1, argtypes);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		crit_fields_plan = plan;
	}
	rc = SPI_execute_plan(crit_fields_plan, &arg, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading crm.criteria_field failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown entity \"%s\"", ent),
				 errhint("Criteria apply to the entities contact, lead and account.")));
	w->nfields = (int) SPI_processed;
	w->fields = MemoryContextAllocZero(caller, sizeof(CritField) * SPI_processed);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		CritField  *f = &w->fields[i];
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
	crit_load_fields(w, entity);
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

/* A new work area, checked and compiled; raises on an invalid document. */
static CritWork *
crit_work(Jsonb *criteria, text *entity)
{
	CritWork   *w = palloc(sizeof(CritWork));

	if (!crit_prepare(w, criteria, entity))
		crit_raise(&w->err);
	return w;
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

/* Types and values of $1 (the tenant) and the compiled parameters, plus extra. */
static void
crit_params(CritWork *w, int extra, Oid **types, Datum **values)
{
	int			n = w->out.nparams + 1 + extra;
	pg_uuid_t  *org = palloc(sizeof(pg_uuid_t));
	int			i;

	*types = palloc(sizeof(Oid) * n);
	*values = palloc0(sizeof(Datum) * n);
	*org = crm_current_org_uuid();
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
	w = palloc(sizeof(CritWork));
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

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		return (Datum) 0;
	if (limited && PG_GETARG_INT32(2) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lim must not be negative"),
				 errhint("Pass NULL for all matching records.")));
	w = crit_work(PG_GETARG_JSONB_P(0), PG_GETARG_TEXT_PP(1));
	crit_params(w, limited ? 1 : 0, &types, &values);
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

PG_FUNCTION_INFO_V1(criteria_match);
/* crm.criteria_match(criteria, entity, id): does that record match? */
Datum
criteria_match(PG_FUNCTION_ARGS)
{
	CritWork   *w = crit_work(PG_GETARG_JSONB_P(0), PG_GETARG_TEXT_PP(1));
	Oid		   *types;
	Datum	   *values;
	int			nargs = w->out.nparams + 2;
	char	   *sql;
	bool		found;
	int			rc;

	crit_params(w, 1, &types, &values);
	types[nargs - 1] = UUIDOID;
	values[nargs - 1] = PG_GETARG_DATUM(2);
	sql = crit_statement(w, "1", psprintf(" AND t.id = $%d", nargs));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute_with_args(sql, nargs, types, values, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "criteria_match: %s", SPI_result_code_string(rc));
	found = SPI_processed > 0;
	SPI_finish();
	PG_RETURN_BOOL(found);
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
