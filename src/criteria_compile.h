/*
 * criteria_compile.h
 *		The criteria compiler: a parsed document (criteria_parse.h) checked
 *		against the field catalog and compiled to a parameterised SQL
 *		predicate (pure C, no PostgreSQL headers).
 *
 * The caller (src/criteria.c) describes the fields of an entity as
 * CritFields, with SQL identifiers already quoted, and gets back SQL text
 * in which every value of the document is a parameter ($2, $3, ...; $1 is
 * the tenant), plus the parameters as (type, text) pairs that the caller
 * turns into Datums with each type's input function.  No text of the
 * document ever reaches the SQL: field names select a catalog entry,
 * operators select fixed SQL, values become parameters (doc/criteria.md,
 * "How it compiles").
 *
 * SQL aliases: t is the record's table; a is crm.account in the subquery
 * of a contact's account.* fields; r is the related table of a related-record
 * condition.
 */
#ifndef CRM_CRITERIA_COMPILE_H
#define CRM_CRITERIA_COMPILE_H

#include "criteria_parse.h"

/* What a field holds (and so which operators and values it takes). */
typedef enum CritType
{
	CRIT_T_TEXT = 0,			/* text, compared folded (case and accents) */
	CRIT_T_INT,					/* integer */
	CRIT_T_NUMBER,				/* numeric */
	CRIT_T_DATE,				/* date */
	CRIT_T_TIMESTAMP,			/* timestamptz */
	CRIT_T_BOOL,				/* boolean */
	CRIT_T_UUID,				/* uuid (an owner, an account) */
	CRIT_T_TAGS,				/* text[] */
	CRIT_T_COUNT
} CritType;

/* Where a field's value lives. */
typedef enum CritSource
{
	CRIT_SRC_COLUMN = 0,		/* column "column" of the record */
	CRIT_SRC_ACCOUNT,			/* column "column" of the contact's account */
	CRIT_SRC_JSON				/* key "key" of jsonb column "column" */
} CritSource;

/*
 * A catalog entry.  column: a quoted SQL identifier.  ops: the operators
 * the field takes (0: all its type takes, crit_type_ops).  For CRIT_SRC_JSON
 * fields, is_list marks a JSON array of strings (a multi_picklist custom
 * field: has_any / has_all), exact marks values compared exactly (picklist
 * choices: eq and in then use the jsonb GIN index).
 */
typedef struct CritField
{
	CritText	name;
	CritType	type;
	CritSource	source;
	const char *column;
	CritText	key;
	CritOpMask	ops;
	bool		is_list;
	bool		exact;
} CritField;

/*
 * The field of a name, or NULL; ctx is the caller's.  related: NULL for the
 * record's own fields, else the kind of related record ("activity") whose
 * fields a related-record condition's "where" uses; with an empty name, the
 * column of that kind linking it to the record (NULL: not related).
 */
typedef const CritField *(*CritLookup) (void *ctx, const char *related, const char *name, size_t len);

/* The types of parameters (the caller maps them to PostgreSQL types). */
typedef enum CritParamType
{
	CRIT_P_TEXT = 0,
	CRIT_P_TEXT_ARRAY,			/* text: an array literal {"a","b"} */
	CRIT_P_INT4,
	CRIT_P_NUMERIC,
	CRIT_P_DATE,
	CRIT_P_TIMESTAMPTZ,
	CRIT_P_BOOL,
	CRIT_P_UUID,
	CRIT_P_UUID_ARRAY,			/* text: an array literal */
	CRIT_P_JSONB,
	CRIT_P_INTERVAL,
	CRIT_P_INT4_ARRAY,
	CRIT_P_NUMERIC_ARRAY
} CritParamType;

typedef struct CritParam
{
	CritParamType type;
	CritText	text;			/* the value in its type's input syntax */
} CritParam;

/* Bounds of the compiled form. */
#define CRIT_MAX_PARAMS		2048
#define CRIT_SQL_SIZE		(256 * 1024)
#define CRIT_PTEXT_SIZE		(256 * 1024)

/* A compiled document, in caller-provided memory. */
typedef struct CritCompiled
{
	size_t		sqllen;
	int			nparams;		/* parameters $2 .. $(nparams + 1) */
	size_t		nptext;
	CritParam	params[CRIT_MAX_PARAMS];
	char		sql[CRIT_SQL_SIZE];
	char		ptext[CRIT_PTEXT_SIZE];
} CritCompiled;

/*
 * Check doc against the catalog (lookup) and compile it for the entity
 * whose table has alias t.  "tenant_param" is the SQL of the tenant
 * (normally "$1"), used in the account subqueries.  On failure err says
 * what and where (CRIT_ERR_INVALID, CRIT_ERR_UNKNOWN_FIELD, CRIT_ERR_LIMIT).
 */
extern bool crit_compile(const CritDoc *doc, CritLookup lookup, void *ctx,
						 CritCompiled *out, CritError *err);

/* The operators a type takes. */
extern CritOpMask crit_type_ops(CritType type, bool is_list);

/* The name of a type ("text"), and the type of a name (CRIT_T_COUNT: none). */
extern const char *crit_type_name(CritType type);
extern CritType crit_type_from_name(const char *s, size_t len);

/* Is t an ISO date YYYY-MM-DD of the calendar? */
extern bool crit_date_valid(CritText t);

/* Is t a uuid in its canonical 8-4-4-4-12 hex form? */
extern bool crit_uuid_valid(CritText t);

#endif							/* CRM_CRITERIA_COMPILE_H */
