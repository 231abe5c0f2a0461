/*
 * custom_fields.c
 *		crm.trg_custom_fields(): the BEFORE INSERT OR UPDATE OF custom_fields
 *		row trigger that validates a record's custom_fields against its
 *		tenant's crm.custom_field definitions, and the SQL-callable functions
 *		that expose the same validation to the definition-change guard and to
 *		crm.verify().
 *
 * The rules of the values themselves live in cf_validate.c (pure C); this
 * file loads definitions, walks the jsonb and turns verdicts into errors.
 *
 * Definitions are cached per statement (fn_extra) and per organization: a
 * statement normally touches one tenant; only when row-level security is
 * bypassed can it touch several.  Before loading the definitions of a
 * (tenant, entity) the trigger takes a transaction-scoped share lock on that
 * pair; every definition change takes the exclusive lock on it
 * (crm._custom_field_lock()) before it re-checks stored data.  So a
 * definition change waits for in-flight writers and sees their rows, and a
 * writer that comes later waits for the change and validates against it
 * (the definitions are read with the latest snapshot, after the lock).
 * doc/custom_fields.md explains why this is an advisory lock rather than
 * FOR SHARE row locks on the definitions.
 *
 * All violations of a record are reported with SQLSTATE 23514
 * (check_violation); malformed options are 22023.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"

#include "cf_validate.h"
#include "crm.h"
#include "trigger_support.h"

/* Bytes of an offending value quoted in an error. */
#define CF_VALUE_QUOTE 80
/* Field names listed in a hint at most. */
#define CF_HINT_NAMES 20
#define CF_TRIGGER_FNAME "crm.trg_custom_fields()"

/* One definition, ready to validate with. */
typedef struct CfDef
{
	char	   *name;
	int			namelen;
	CfFieldType type;
	bool		required;
	CfOptions	opts;
	char	   *options_problem;	/* non-NULL when the options are malformed */
} CfDef;

/* The definitions of one tenant for the entity, sorted by name (bytewise). */
typedef struct CfOrgDefs
{
	pg_uuid_t	org;
	int			ndefs;
	CfDef	   *defs;
} CfOrgDefs;

/* The per-statement cache kept in fn_extra. */
typedef struct CfCache
{
	char		entity[NAMEDATALEN];
	char	   *input;			/* crm.custom_fields_error: the entity as given */
	int			org_attnum;
	int			cf_attnum;
	CrmTenantCache tenants;		/* CfOrgDefs of each tenant seen */
	MemoryContext cxt;			/* fn_mcxt: lives as long as the statement */
	MemoryContext rowcxt;		/* reset for every row */
} CfCache;

/* A violation, ready to be raised or returned as text. */
typedef struct CfProblem
{
	int			sqlerrcode;
	char	   *message;
	char	   *detail;
	char	   *hint;
} CfProblem;

/* The kept plan loading one tenant's definitions of one entity. */
static SPIPlanPtr cf_load_plan = NULL;

/* ------------------------------------------------------------------------
 * Converting jsonb to the validator's structs
 * ------------------------------------------------------------------------
 */

static void cf_value_from_container(JsonbContainer *c, CfValue *out);

/* Describe a scalar or nested jsonb value for the validator. */
static void
cf_value_from_jbv(JsonbValue *v, CfValue *out)
{
	memset(out, 0, sizeof(*out));
	switch (v->type)
	{
		case jbvNull:
			out->kind = CF_KIND_NULL;
			break;
		case jbvString:
			out->kind = CF_KIND_STRING;
			out->text.ptr = v->val.string.val;
			out->text.len = v->val.string.len;
			break;
		case jbvNumeric:
			out->kind = CF_KIND_NUMBER;
			out->text.ptr = DatumGetCString(DirectFunctionCall1(numeric_out,
																NumericGetDatum(v->val.numeric)));
			out->text.len = strlen(out->text.ptr);
			break;
		case jbvBool:
			out->kind = CF_KIND_BOOL;
			out->text.ptr = v->val.boolean ? "true" : "false";
			out->text.len = strlen(out->text.ptr);
			break;
		case jbvBinary:
			cf_value_from_container(v->val.binary.data, out);
			break;
		default:
			elog(ERROR, "unexpected jsonb value type %d", (int) v->type);
	}
}

/* Describe a jsonb container (object, array or raw scalar). */
static void
cf_value_from_container(JsonbContainer *c, CfValue *out)
{
	JsonbValue	v;

	memset(out, 0, sizeof(*out));
	if (JsonContainerIsScalar(c))
	{
		if (!JsonbExtractScalar(c, &v))
			elog(ERROR, "could not extract a jsonb scalar");
		cf_value_from_jbv(&v, out);
	}
	else if (JsonContainerIsObject(c))
		out->kind = CF_KIND_OBJECT;
	else
	{
		JsonbIterator *it = JsonbIteratorInit(c);
		JsonbIteratorToken r;
		CfValue    *elems = palloc0(sizeof(CfValue) * Max(1, JsonContainerSize(c)));
		size_t		n = 0;

		while ((r = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (r != WJB_ELEM)
				continue;
			if (v.type == jbvBinary)
			{
				/* nested containers: their kind is all a picklist needs */
				elems[n].kind = JsonContainerIsObject(v.val.binary.data) ? CF_KIND_OBJECT : CF_KIND_ARRAY;
				n++;
			}
			else
				cf_value_from_jbv(&v, &elems[n++]);
		}
		out->kind = CF_KIND_ARRAY;
		out->elems = elems;
		out->nelems = n;
	}
}

/* The JSON text of a value, cut to CF_VALUE_QUOTE bytes for a message. */
static char *
cf_value_quote(JsonbValue *v)
{
	Jsonb	   *jb = JsonbValueToJsonb(v);
	char	   *s = JsonbToCString(NULL, &jb->root, VARSIZE(jb));
	int			len = strlen(s);

	if (len > CF_VALUE_QUOTE)
	{
		int			cut = pg_mbcliplen(s, len, CF_VALUE_QUOTE);

		s[cut] = '\0';
		return psprintf("%s...", s);
	}
	return s;
}

/* A non-negative whole number given as an option, or -1 with *ok false. */
static long long
cf_option_count(JsonbValue *v, bool *ok)
{
	char	   *s;
	long long	n = 0;
	int			i;

	*ok = false;
	if (v->type != jbvNumeric)
		return -1;
	s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	for (i = 0; s[i] != '\0'; i++)
	{
		if (s[i] < '0' || s[i] > '9' || i >= 9)
			return -1;
		n = n * 10 + (s[i] - '0');
	}
	*ok = i > 0;
	return n;
}

/*
 * Read a definition's options jsonb into opts (allocated in the current
 * memory context).  Returns NULL when they are well-formed and sensible for
 * the type, else why not.
 */
static char *
cf_options_from_jsonb(CfFieldType type, Jsonb *jb, CfOptions *opts)
{
	char		reason[CF_REASON_SIZE];
	bool		picklist = type == CF_TYPE_PICKLIST || type == CF_TYPE_MULTI_PICKLIST;
	JsonbIterator *it;
	JsonbIteratorToken r;
	JsonbValue	v;

	memset(opts, 0, sizeof(*opts));
	opts->max_length = -1;
	if (type == CF_TYPE_INVALID)
		return pstrdup("unknown field type");
	if (jb != NULL && picklist)
	{
		CfText	   *choices;
		size_t		n = 0;

		if (!JB_ROOT_IS_ARRAY(jb) || JB_ROOT_IS_SCALAR(jb))
			return psprintf("the options of a %s must be a JSON array of strings", cf_type_name(type));
		choices = palloc0(sizeof(CfText) * Max(1, JB_ROOT_COUNT(jb)));
		it = JsonbIteratorInit(&jb->root);
		while ((r = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (r != WJB_ELEM)
				continue;
			if (v.type != jbvString)
				return psprintf("option %zu is not a string", n + 1);
			choices[n].ptr = pnstrdup(v.val.string.val, v.val.string.len);
			choices[n].len = v.val.string.len;
			n++;
		}
		opts->choices = choices;
		opts->nchoices = n;
	}
	else if (jb != NULL)
	{
		const char *key = NULL;

		if (!JB_ROOT_IS_OBJECT(jb))
			return psprintf("the options of a %s field must be a JSON object", cf_type_name(type));
		it = JsonbIteratorInit(&jb->root);
		while ((r = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (r == WJB_KEY)
			{
				key = pnstrdup(v.val.string.val, v.val.string.len);
				continue;
			}
			if (r != WJB_VALUE)
				continue;
			if (strcmp(key, "max_length") == 0)
			{
				bool		ok;

				opts->max_length = cf_option_count(&v, &ok);
				if (!ok)
					return pstrdup("max_length must be a whole number from 0 to 999999999");
			}
			else if (strcmp(key, "min") == 0 || strcmp(key, "max") == 0)
			{
				CfValue		num;

				if (v.type != jbvNumeric)
					return psprintf("%s must be a number", key);
				cf_value_from_jbv(&v, &num);
				if (key[1] == 'i')
					opts->min = num.text;
				else
					opts->max = num.text;
			}
			else
				return psprintf("unknown option \"%s\" (known options: max_length for text, min and max for number and currency)",
								key);
		}
	}
	if (!cf_check_options(type, opts, reason, sizeof(reason)))
		return pstrdup(reason);
	return NULL;
}

/* ------------------------------------------------------------------------
 * Loading and caching definitions
 * ------------------------------------------------------------------------
 */

/* The lock tag of a (tenant, entity) pair, in crm's own keyspace. */
static void
cf_lock_tag(LOCKTAG *tag, const pg_uuid_t *org, const char *entity)
{
	crm_lock_tag(tag, CRM_LOCK_CUSTOM_FIELD, org, entity, strlen(entity));
}

/* The definition named key, or NULL. */
static CfDef *
cf_find_def(CfOrgDefs *d, const char *key, int keylen)
{
	int			lo = 0,
				hi = d->ndefs - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int			c = crm_bytes_cmp(key, keylen, d->defs[mid].name, d->defs[mid].namelen);

		if (c == 0)
			return &d->defs[mid];
		if (c < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return NULL;
}

/*
 * Load the definitions of (org, entity) into d, allocated in cxt.  With
 * for_write, first take the share lock on the pair and read with the latest
 * snapshot, so that a definition change committed while we waited counts.
 */
static void
cf_load_defs(CfOrgDefs *d, const pg_uuid_t *org, const char *entity, MemoryContext cxt, bool for_write)
{
	Datum		args[2];
	int			rc;
	uint64		i;
	MemoryContext old;

	if (for_write)
	{
		LOCKTAG		tag;

		cf_lock_tag(&tag, org, entity);
		(void) LockAcquire(&tag, ShareLock, false, false);
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (cf_load_plan == NULL)
	{
		Oid			argtypes[2] = {UUIDOID, TEXTOID};

		(void) crm_keep_plan(&cf_load_plan,
							 "SELECT f.name, f.field_type, f.is_required, f.options"
							 "  FROM crm.custom_field f"
							 " WHERE f.organization_id OPERATOR(pg_catalog.=) $1"
							 "   AND f.entity OPERATOR(pg_catalog.=) $2"
							 " ORDER BY f.name COLLATE \"C\"",
							 2, argtypes, 0);
	}
	args[0] = UUIDPGetDatum(org);
	args[1] = CStringGetTextDatum(entity);
	if (for_write)
		rc = SPI_execute_snapshot(cf_load_plan, args, NULL, GetLatestSnapshot(),
								  InvalidSnapshot, false, false, 0);
	else
		rc = SPI_execute_plan(cf_load_plan, args, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "loading custom field definitions failed: %s", SPI_result_code_string(rc));

	old = MemoryContextSwitchTo(cxt);
	memcpy(&d->org, org, sizeof(pg_uuid_t));
	d->ndefs = (int) SPI_processed;
	d->defs = palloc0(sizeof(CfDef) * Max(1, SPI_processed));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		CfDef	   *def = &d->defs[i];
		bool		isnull;
		Datum		val;
		char	   *type;

		def->name = TextDatumGetCString(heap_getattr(tup, 1, desc, &isnull));
		def->namelen = strlen(def->name);
		type = TextDatumGetCString(heap_getattr(tup, 2, desc, &isnull));
		def->type = cf_type_from_name(type, strlen(type));
		def->required = DatumGetBool(heap_getattr(tup, 3, desc, &isnull));
		val = heap_getattr(tup, 4, desc, &isnull);
		def->options_problem = cf_options_from_jsonb(def->type, isnull ? NULL : DatumGetJsonbP(val), &def->opts);
	}
	MemoryContextSwitchTo(old);
	SPI_finish();
}

/* The cache of this call site, created on first use. */
static CfCache *
cf_cache(FunctionCallInfo fcinfo, const char *entity)
{
	CfCache    *c = (CfCache *) fcinfo->flinfo->fn_extra;

	if (c == NULL || strcmp(c->entity, entity) != 0)
	{
		c = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(CfCache));
		strlcpy(c->entity, entity, NAMEDATALEN);
		c->cxt = fcinfo->flinfo->fn_mcxt;
		c->rowcxt = AllocSetContextCreate(c->cxt, "crm custom fields row", ALLOCSET_SMALL_SIZES);
		crm_tenant_cache_init(&c->tenants, sizeof(CfOrgDefs), c->cxt);
		fcinfo->flinfo->fn_extra = c;
	}
	return c;
}

/* The definitions of a tenant, from the cache or loaded now. */
static CfOrgDefs *
cf_org_defs(CfCache *c, const pg_uuid_t *org, bool for_write)
{
	CfOrgDefs  *d = crm_tenant_cache_find(&c->tenants, org);

	if (d == NULL)
	{
		d = crm_tenant_cache_add(&c->tenants, org);
		cf_load_defs(d, org, c->entity, c->cxt, for_write);
	}
	return d;
}

/* ------------------------------------------------------------------------
 * Validating a custom_fields object
 * ------------------------------------------------------------------------
 */

/* The hint of an unknown key: the known fields, or how to define one. */
static char *
cf_known_fields_hint(CfOrgDefs *d, const char *entity)
{
	StringInfoData buf;
	int			i;

	if (d->ndefs == 0)
		return psprintf("crm.%s has no custom fields in this organization; an admin defines one with "
						"INSERT INTO crm.custom_field (entity, name, label, field_type) VALUES ('%s', ...).",
						entity, entity);
	initStringInfo(&buf);
	appendStringInfo(&buf, "The custom fields of crm.%s are: ", entity);
	for (i = 0; i < d->ndefs && i < CF_HINT_NAMES; i++)
		appendStringInfo(&buf, "%s%s", i > 0 ? ", " : "", d->defs[i].name);
	if (d->ndefs > CF_HINT_NAMES)
		appendStringInfo(&buf, ", ... (%d in all)", d->ndefs);
	appendStringInfoString(&buf, ". Define new ones in crm.custom_field.");
	return buf.data;
}

/* Fill p and return true: custom_fields of the entity break a rule. */
static bool
cf_problem(CfProblem *p, int code, char *message, char *detail, char *hint)
{
	p->sqlerrcode = code;
	p->message = message;
	p->detail = detail;
	p->hint = hint;
	return true;
}

/*
 * Check one custom_fields value against a tenant's definitions of entity.
 * Returns false when it is valid, else fills p with the first problem.
 */
static bool
cf_check_object(CfOrgDefs *d, const char *entity, Jsonb *jb, CfProblem *p)
{
	JsonbIterator *it;
	JsonbIteratorToken r;
	JsonbValue	v;
	CfDef	   *def = NULL;
	bool	   *seen;
	int			i;

	if (!JB_ROOT_IS_OBJECT(jb))
	{
		CfValue		cv;
		JsonbValue	whole;

		cf_value_from_container(&jb->root, &cv);
		whole.type = jbvBinary;
		whole.val.binary.data = &jb->root;
		whole.val.binary.len = VARSIZE(jb) - VARHDRSZ;
		return cf_problem(p, ERRCODE_CHECK_VIOLATION,
						  psprintf("custom_fields of crm.%s must be a JSON object", entity),
						  psprintf("The value given is %s: %s.", cf_kind_name(cv.kind), cf_value_quote(&whole)),
						  pstrdup("Write custom fields as {\"field_name\": value, ...}; use {} for none."));
	}

	seen = palloc0(sizeof(bool) * Max(1, d->ndefs));
	it = JsonbIteratorInit(&jb->root);
	while ((r = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (r == WJB_KEY)
		{
			def = cf_find_def(d, v.val.string.val, v.val.string.len);
			if (def == NULL)
			{
				char	   *key = pnstrdup(v.val.string.val, v.val.string.len);

				return cf_problem(p, ERRCODE_CHECK_VIOLATION,
								  psprintf("unknown custom field \"%s\" for crm.%s", key, entity),
								  NULL,
								  cf_known_fields_hint(d, entity));
			}
			seen[def - d->defs] = true;
		}
		else if (r == WJB_VALUE && def != NULL)
		{
			CfValue		cv;
			char		reason[CF_REASON_SIZE];

			if (def->options_problem != NULL)
				return cf_problem(p, ERRCODE_INVALID_PARAMETER_VALUE,
								  psprintf("custom field \"%s\" of crm.%s has an invalid definition", def->name, entity),
								  psprintf("%s.", def->options_problem),
								  pstrdup("An admin must correct the field's field_type or options in crm.custom_field."));
			if (v.type == jbvNull)
			{
				if (def->required)
					return cf_problem(p, ERRCODE_CHECK_VIOLATION,
									  psprintf("custom field \"%s\" of crm.%s is required", def->name, entity),
									  pstrdup("The value given is null."),
									  pstrdup("Give the field a value, or make it optional (is_required = false)."));
				continue;
			}
			cf_value_from_jbv(&v, &cv);
			if (!cf_validate_value(def->type, &def->opts, &cv, reason, sizeof(reason)))
				return cf_problem(p, ERRCODE_CHECK_VIOLATION,
								  psprintf("invalid value for custom field \"%s\" of crm.%s", def->name, entity),
								  psprintf("Field \"%s\" is of type %s: %s. The value given is %s.",
										   def->name, cf_type_name(def->type), reason, cf_value_quote(&v)),
								  NULL);
		}
	}
	for (i = 0; i < d->ndefs; i++)
		if (d->defs[i].required && !seen[i])
			return cf_problem(p, ERRCODE_CHECK_VIOLATION,
							  psprintf("custom field \"%s\" of crm.%s is required", d->defs[i].name, entity),
							  pstrdup("custom_fields has no value for it."),
							  pstrdup("Give the field a value, or make it optional (is_required = false)."));
	return false;
}

/* ------------------------------------------------------------------------
 * Entry points
 * ------------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(custom_fields_validate);

/* SQL: crm.trg_custom_fields() returns trigger (BEFORE INSERT OR UPDATE OF custom_fields, FOR EACH ROW) */
Datum
custom_fields_validate(PG_FUNCTION_ARGS)
{
	TriggerData *td;
	Relation	rel;
	TupleDesc	desc;
	HeapTuple	tup;
	CfCache    *c;
	CfOrgDefs  *d;
	CfProblem	p;
	MemoryContext old;
	Datum		orgd,
				cfd;
	bool		orgnull,
				cfnull;

	td = crm_trigger_check(fcinfo, CF_TRIGGER_FNAME, CRM_TRIG_BEFORE_ROW | CRM_TRIG_INSERT | CRM_TRIG_UPDATE);
	rel = td->tg_relation;
	desc = RelationGetDescr(rel);
	tup = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;

	if (crm_restoring)
		return PointerGetDatum(tup);

	/* the entity is the logical table name, never the relation's own name */
	c = cf_cache(fcinfo, crm_trigger_arg(td, 0, CF_TRIGGER_FNAME, "table name"));
	if (c->org_attnum == 0)
	{
		c->org_attnum = crm_trigger_column(rel, "organization_id", UUIDOID, true, CF_TRIGGER_FNAME);
		c->cf_attnum = crm_trigger_column(rel, "custom_fields", JSONBOID, true, CF_TRIGGER_FNAME);
	}

	orgd = heap_getattr(tup, c->org_attnum, desc, &orgnull);
	cfd = heap_getattr(tup, c->cf_attnum, desc, &cfnull);
	/* NULLs are for the NOT NULL constraints to report */
	if (orgnull || cfnull)
		return PointerGetDatum(tup);

	d = cf_org_defs(c, DatumGetUUIDP(orgd), true);

	MemoryContextReset(c->rowcxt);
	old = MemoryContextSwitchTo(c->rowcxt);
	if (cf_check_object(d, c->entity, DatumGetJsonbP(cfd), &p))
		ereport(ERROR,
				(errcode(p.sqlerrcode),
				 errmsg_internal("%s", p.message),
				 p.detail ? errdetail_internal("%s", p.detail) : 0,
				 p.hint ? errhint("%s", p.hint) : 0,
				 errtable(rel)));
	MemoryContextSwitchTo(old);
	MemoryContextReset(c->rowcxt);

	return PointerGetDatum(tup);
}

/*
 * The table name of an entity given to a SQL function as 'contact' or
 * 'crm.contact': crm._entity() resolves it against crm.table_registry and
 * raises the error that lists the entities with custom fields.  Called once
 * per call site and spelling, not per row.
 */
static char *
cf_resolve_entity(text *input)
{
	MemoryContext caller = CurrentMemoryContext;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	char	   *name;
	int			rc;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	args[0] = PointerGetDatum(input);
	rc = SPI_execute_with_args("SELECT crm._entity($1, 'custom_fields')::text", 1, argtypes, args, NULL, true, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "resolving the entity failed: %s", SPI_result_code_string(rc));
	name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (name == NULL)
		elog(ERROR, "crm._entity() returned NULL");
	name = MemoryContextStrdup(caller, name);
	SPI_finish();
	return name;
}

PG_FUNCTION_INFO_V1(custom_fields_error);

/*
 * SQL: crm.custom_fields_error(entity text, organization_id uuid,
 * custom_fields jsonb) returns text: NULL when the value passes the trigger's
 * checks against the tenant's current definitions, else the error message
 * (with its detail).  The entity is checked first ('contact' or
 * 'crm.contact'; anything without custom fields is a 22023 error).  Used by
 * crm.verify().
 */
Datum
custom_fields_error(PG_FUNCTION_ARGS)
{
	char	   *input;
	CfCache    *c;
	CfOrgDefs  *d;
	CfProblem	p;
	MemoryContext old;
	text	   *result = NULL;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the entity must not be NULL"),
				 errhint("Name a crm table with custom fields: 'contact' or 'crm.contact'.")));
	input = text_to_cstring(PG_GETARG_TEXT_PP(0));
	c = (CfCache *) fcinfo->flinfo->fn_extra;
	if (c == NULL || c->input == NULL || strcmp(c->input, input) != 0)
	{
		c = cf_cache(fcinfo, cf_resolve_entity(PG_GETARG_TEXT_PP(0)));
		c->input = MemoryContextStrdup(c->cxt, input);
	}
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	d = cf_org_defs(c, PG_GETARG_UUID_P(1), false);

	MemoryContextReset(c->rowcxt);
	old = MemoryContextSwitchTo(c->rowcxt);
	if (cf_check_object(d, c->entity, PG_GETARG_JSONB_P(2), &p))
	{
		MemoryContextSwitchTo(old);
		result = cstring_to_text(p.detail ? psprintf("%s: %s", p.message, p.detail) : p.message);
	}
	else
		MemoryContextSwitchTo(old);
	MemoryContextReset(c->rowcxt);

	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(result);
}

/* The field type named by a text argument; errors for an unknown one. */
static CfFieldType
cf_type_arg(text *t)
{
	char	   *name = text_to_cstring(t);
	CfFieldType type = cf_type_from_name(name, strlen(name));

	if (type == CF_TYPE_INVALID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown custom field type \"%s\"", name),
				 errhint("Use text, number, date, boolean, picklist, multi_picklist, url, email, phone or currency.")));
	return type;
}

PG_FUNCTION_INFO_V1(custom_field_value_error);

/*
 * SQL: crm.custom_field_value_error(field_type text, options jsonb, value
 * jsonb) returns text: NULL when value is acceptable for a field of that
 * type and options (JSON null and SQL NULL are: "no value"), else why not.
 */
Datum
custom_field_value_error(PG_FUNCTION_ARGS)
{
	CfFieldType type;
	CfOptions	opts;
	char	   *problem;
	Jsonb	   *value;
	CfValue		cv;
	char		reason[CF_REASON_SIZE];

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("field_type must not be null")));
	type = cf_type_arg(PG_GETARG_TEXT_PP(0));
	problem = cf_options_from_jsonb(type, PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1), &opts);
	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid options for a %s custom field", cf_type_name(type)),
				 errdetail("%s.", problem)));
	if (PG_ARGISNULL(2))
		PG_RETURN_NULL();
	value = PG_GETARG_JSONB_P(2);
	cf_value_from_container(&value->root, &cv);
	if (cf_validate_value(type, &opts, &cv, reason, sizeof(reason)))
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(reason));
}

PG_FUNCTION_INFO_V1(custom_field_options_error);

/*
 * SQL: crm.custom_field_options_error(field_type text, options jsonb)
 * returns text: NULL when the options suit the type, else why not.
 */
Datum
custom_field_options_error(PG_FUNCTION_ARGS)
{
	CfFieldType type;
	CfOptions	opts;
	char	   *problem;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	type = cf_type_arg(PG_GETARG_TEXT_PP(0));
	problem = cf_options_from_jsonb(type, PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1), &opts);
	if (problem == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(problem));
}

PG_FUNCTION_INFO_V1(custom_field_lock);

/*
 * SQL: crm._custom_field_lock(organization_id uuid, entity text) returns
 * void: the exclusive lock a definition change of (tenant, entity) holds to
 * the end of its transaction; writers of that entity's custom_fields hold
 * the share lock on the same pair.
 */
Datum
custom_field_lock(PG_FUNCTION_ARGS)
{
	LOCKTAG		tag;
	char	   *entity;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_VOID();
	entity = text_to_cstring(PG_GETARG_TEXT_PP(1));
	cf_lock_tag(&tag, PG_GETARG_UUID_P(0), entity);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	PG_RETURN_VOID();
}
