/*
 * crm.h
 *		Declarations shared by the fmgr-facing C files of the crm extension.
 *
 * Pure-logic files (parsers, calendar arithmetic) have headers of their own
 * and do not include this one.
 */
#ifndef CRM_H
#define CRM_H

#include "postgres.h"
#include "fmgr.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

/* GUC variables, defined in crm.c */
extern char *crm_organization_guc;
extern char *crm_user_guc;
extern bool crm_restoring;
extern bool crm_allow_drop_with_data;
extern bool crm_rollup_shared_rows;

/* phone.c */
extern char *crm_default_country;
extern bool phone_check_default_country(char **newval, void **extra, GucSource source);

/* tenancy.c */
extern pg_uuid_t crm_current_org_uuid(void);
extern bool crm_acting_user(pg_uuid_t *out);
extern void crm_access_cache_reset(void);

/* uuid7.c */
extern void crm_uuid7_generate(pg_uuid_t *out);

/* Namespace and relation lookups shared by triggers and functions. */
extern Oid	crm_namespace_oid(void);
extern Oid	crm_relation_oid(const char *relname);

/* audit_json.c: datums rendered as jsonb values, as to_jsonb() does */
typedef enum CrmJsonKind
{
	CRM_JSON_BOOL,
	CRM_JSON_INT2,
	CRM_JSON_INT4,
	CRM_JSON_INT8,
	CRM_JSON_NUMERIC,
	CRM_JSON_FLOAT,
	CRM_JSON_STRING,
	CRM_JSON_UUID,
	CRM_JSON_DATETIME,
	CRM_JSON_JSONB,
	CRM_JSON_JSON,
	CRM_JSON_ARRAY,
	CRM_JSON_OTHER
} CrmJsonKind;

typedef struct CrmJsonType
{
	CrmJsonKind kind;
	Oid			typid;			/* the base type (domains resolved) */
	int16		typlen;
	bool		typbyval;
	char		typalign;
	FmgrInfo	outfn;			/* FLOAT, JSON, OTHER: the output function */
	struct CrmJsonType *elem;	/* ARRAY: the element type */
} CrmJsonType;

extern void crm_json_type_init(CrmJsonType *t, Oid typid, MemoryContext mcxt);
extern void crm_json_push_datum(JsonbParseState **ps, JsonbIteratorToken tok,
								Datum value, bool isnull, const CrmJsonType *t);

#endif							/* CRM_H */
