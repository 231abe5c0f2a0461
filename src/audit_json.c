/*
 * audit_json.c
 *		Datums to jsonb values, the way to_jsonb() renders them, without going
 *		through SQL: the audit trigger turns every audited column of every
 *		changed row into jsonb, so this is on the bulk-load path.
 *
 * The type of each column is looked at once (crm_json_type_init, per
 * statement); crm_json_push_datum then only switches on the cached kind.
 *
 *		boolean							JSON boolean
 *		smallint, integer, bigint		JSON number
 *		numeric, real, double			JSON number (NaN and infinities as strings,
 *										as to_jsonb gives them)
 *		text, varchar, char(n)			JSON string
 *		uuid							JSON string
 *		date, timestamp, timestamptz	ISO 8601 string (JsonEncodeDateTime)
 *		jsonb							embedded as it is
 *		json							parsed and embedded
 *		arrays of any of these			JSON arrays (nested for several dimensions,
 *										SQL NULL elements as JSON null)
 *		anything else					its text output as a JSON string
 *
 * Domains are rendered as their base type, as to_jsonb does.  Composite types
 * fall under "anything else" (to_jsonb would give an object; no crm table has
 * a composite column).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/jsonapi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/uuid.h"

#include "crm.h"

/* Work out how values of type typid are rendered; allocations in mcxt. */
void
crm_json_type_init(CrmJsonType *t, Oid typid, MemoryContext mcxt)
{
	Oid			base = getBaseType(typid);
	Oid			elem;
	Oid			outfn;
	bool		isvarlena;

	memset(t, 0, sizeof(CrmJsonType));
	t->typid = base;
	get_typlenbyvalalign(base, &t->typlen, &t->typbyval, &t->typalign);

	switch (base)
	{
		case BOOLOID:
			t->kind = CRM_JSON_BOOL;
			return;
		case INT2OID:
			t->kind = CRM_JSON_INT2;
			return;
		case INT4OID:
			t->kind = CRM_JSON_INT4;
			return;
		case INT8OID:
			t->kind = CRM_JSON_INT8;
			return;
		case NUMERICOID:
			t->kind = CRM_JSON_NUMERIC;
			return;
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			t->kind = CRM_JSON_STRING;
			return;
		case UUIDOID:
			t->kind = CRM_JSON_UUID;
			return;
		case DATEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			t->kind = CRM_JSON_DATETIME;
			return;
		case JSONBOID:
			t->kind = CRM_JSON_JSONB;
			return;
		default:
			break;
	}

	elem = get_element_type(base);
	if (OidIsValid(elem) && t->typlen == -1)
	{
		t->kind = CRM_JSON_ARRAY;
		t->elem = MemoryContextAlloc(mcxt, sizeof(CrmJsonType));
		crm_json_type_init(t->elem, elem, mcxt);
		return;
	}

	/* Everything else goes through its output function. */
	getTypeOutputInfo(base, &outfn, &isvarlena);
	fmgr_info_cxt(outfn, &t->outfn, mcxt);
	if (base == FLOAT4OID || base == FLOAT8OID)
		t->kind = CRM_JSON_FLOAT;
	else if (base == JSONOID)
		t->kind = CRM_JSON_JSON;
	else
		t->kind = CRM_JSON_OTHER;
}

/* Push a whole jsonb document as one value (or element). */
static void
push_jsonb(JsonbParseState **ps, JsonbIteratorToken tok, Jsonb *jb)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken r;

	if (JB_ROOT_IS_SCALAR(jb))
	{
		if (!JsonbExtractScalar(&jb->root, &v))
			elog(ERROR, "jsonb scalar expected");
		pushJsonbValue(ps, tok, &v);
		return;
	}

	it = JsonbIteratorInit(&jb->root);
	while ((r = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		if (r == WJB_BEGIN_ARRAY || r == WJB_END_ARRAY ||
			r == WJB_BEGIN_OBJECT || r == WJB_END_OBJECT)
			pushJsonbValue(ps, r, NULL);
		else
			pushJsonbValue(ps, r, &v);
	}
}

/* Push a numeric as a JSON number, or as a string when JSON has no number for it. */
static void
push_numeric(JsonbParseState **ps, JsonbIteratorToken tok, Numeric num)
{
	JsonbValue	v;

	if (numeric_is_nan(num) || numeric_is_inf(num))
	{
		v.type = jbvString;
		v.val.string.val = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(num)));
		v.val.string.len = strlen(v.val.string.val);
	}
	else
	{
		v.type = jbvNumeric;
		v.val.numeric = num;
	}
	pushJsonbValue(ps, tok, &v);
}

/* Push the elements of dimension dim of an array, from *idx on. */
static void
push_array_dim(JsonbParseState **ps, int dim, int ndims, const int *dims,
			   Datum *elems, bool *nulls, int *idx, const CrmJsonType *et)
{
	int			i;

	pushJsonbValue(ps, WJB_BEGIN_ARRAY, NULL);
	for (i = 0; i < dims[dim]; i++)
	{
		if (dim + 1 < ndims)
			push_array_dim(ps, dim + 1, ndims, dims, elems, nulls, idx, et);
		else
		{
			crm_json_push_datum(ps, WJB_ELEM, elems[*idx], nulls[*idx], et);
			(*idx)++;
		}
	}
	pushJsonbValue(ps, WJB_END_ARRAY, NULL);
}

/*
 * Push one datum as the next value (tok = WJB_VALUE, after a WJB_KEY) or
 * array element (tok = WJB_ELEM).  Allocates in the current memory context.
 */
void
crm_json_push_datum(JsonbParseState **ps, JsonbIteratorToken tok,
					Datum value, bool isnull, const CrmJsonType *t)
{
	JsonbValue	v;

	if (isnull)
	{
		v.type = jbvNull;
		pushJsonbValue(ps, tok, &v);
		return;
	}

	switch (t->kind)
	{
		case CRM_JSON_BOOL:
			v.type = jbvBool;
			v.val.boolean = DatumGetBool(value);
			break;
		case CRM_JSON_INT2:
			v.type = jbvNumeric;
			v.val.numeric = int64_to_numeric(DatumGetInt16(value));
			break;
		case CRM_JSON_INT4:
			v.type = jbvNumeric;
			v.val.numeric = int64_to_numeric(DatumGetInt32(value));
			break;
		case CRM_JSON_INT8:
			v.type = jbvNumeric;
			v.val.numeric = int64_to_numeric(DatumGetInt64(value));
			break;
		case CRM_JSON_NUMERIC:
			push_numeric(ps, tok, DatumGetNumeric(value));
			return;
		case CRM_JSON_FLOAT:
			{
				/* to_jsonb: the float's text, a number when JSON allows it */
				char	   *s = OutputFunctionCall((FmgrInfo *) &t->outfn, value);
				int			len = strlen(s);

				if (IsValidJsonNumber(s, len))
				{
					v.type = jbvNumeric;
					v.val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in,
																		CStringGetDatum(s),
																		ObjectIdGetDatum(InvalidOid),
																		Int32GetDatum(-1)));
				}
				else
				{
					v.type = jbvString;
					v.val.string.val = s;
					v.val.string.len = len;
				}
				break;
			}
		case CRM_JSON_STRING:
			{
				struct varlena *s = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(value));

				v.type = jbvString;
				v.val.string.val = VARDATA_ANY(s);
				v.val.string.len = VARSIZE_ANY_EXHDR(s);
				break;
			}
		case CRM_JSON_UUID:
			v.type = jbvString;
			v.val.string.val = DatumGetCString(DirectFunctionCall1(uuid_out, value));
			v.val.string.len = 36;
			break;
		case CRM_JSON_DATETIME:
			v.type = jbvString;
			v.val.string.val = JsonEncodeDateTime(NULL, value, t->typid, NULL);
			v.val.string.len = strlen(v.val.string.val);
			break;
		case CRM_JSON_JSONB:
			push_jsonb(ps, tok, DatumGetJsonbP(value));
			return;
		case CRM_JSON_JSON:
			{
				char	   *s = OutputFunctionCall((FmgrInfo *) &t->outfn, value);

				push_jsonb(ps, tok, DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(s))));
				return;
			}
		case CRM_JSON_ARRAY:
			{
				ArrayType  *a = DatumGetArrayTypeP(value);
				int			ndims = ARR_NDIM(a);
				Datum	   *elems;
				bool	   *nulls;
				int			nelems;
				int			idx = 0;

				if (ndims <= 0)
				{
					pushJsonbValue(ps, WJB_BEGIN_ARRAY, NULL);
					pushJsonbValue(ps, WJB_END_ARRAY, NULL);
					return;
				}
				deconstruct_array(a, ARR_ELEMTYPE(a), t->elem->typlen, t->elem->typbyval,
								  t->elem->typalign, &elems, &nulls, &nelems);
				push_array_dim(ps, 0, ndims, ARR_DIMS(a), elems, nulls, &idx, t->elem);
				return;
			}
		case CRM_JSON_OTHER:
		default:
			v.type = jbvString;
			v.val.string.val = OutputFunctionCall((FmgrInfo *) &t->outfn, value);
			v.val.string.len = strlen(v.val.string.val);
			break;
	}
	pushJsonbValue(ps, tok, &v);
}
