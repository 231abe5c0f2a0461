/*
 * criteria_eval.h
 *		The in-memory back end of the criteria language: a parsed document
 *		(criteria_parse.h), checked against the catalog (criteria_compile.h),
 *		evaluated against one record without SQL (pure C, no PostgreSQL
 *		headers).
 *
 * It answers exactly what the compiled SQL answers for that record, in SQL's
 * three-valued logic (doc/criteria.md, "No value"): the randomized
 * differential test (test/sql/criteria_diff.sql) holds the two back ends to
 * that.  Two steps: crit_eval_prepare resolves fields and turns the
 * document's values into what records are compared with (folded text,
 * integers, dates, timestamps through the caller's env), once per document;
 * crit_eval then costs no allocation but the caller's scratch memory for
 * folding a record's text.
 */
#ifndef CRM_CRITERIA_EVAL_H
#define CRM_CRITERIA_EVAL_H

#include <stdint.h>

#include "criteria_compile.h"

/* SQL's three truth values. */
typedef enum CritTruth
{
	CRIT_FALSE = 0,
	CRIT_TRUE = 1,
	CRIT_UNKNOWN = 2
} CritTruth;

/* What a record holds for a field. */
typedef enum CritValKind
{
	CRIT_VAL_NULL = 0,			/* SQL NULL (for a jsonb field: the column is NULL) */
	CRIT_VAL_TEXT,				/* text: a text column */
	CRIT_VAL_INT,				/* i: an integer column */
	CRIT_VAL_NUMBER,			/* text: a numeric column's text ("12.50", "NaN") */
	CRIT_VAL_DATE,				/* i: days since 2000-01-01 */
	CRIT_VAL_TIMESTAMP,			/* i: microseconds since 2000-01-01 00:00 UTC */
	CRIT_VAL_BOOL,				/* b */
	CRIT_VAL_UUID,				/* text: 36 characters, lower case */
	CRIT_VAL_TAGS,				/* items/nitems: a text[] column (no NULL elements) */
	CRIT_VAL_JSON,				/* json_kind, text, items: a value of a jsonb column */
	CRIT_VAL_NO_LINK,			/* account.* fields: the contact has no account */
	CRIT_VAL_NO_ROW				/* account.* fields: its account is deleted */
} CritValKind;

/*
 * A value.  For CRIT_VAL_JSON: json_kind is the stored value's JSON type
 * (CRIT_J_NULL when the key is absent or its value null);
 * text is what ->> gives (a string's contents, a number's or boolean's
 * text, a container's JSON text); items are an array's string elements
 * (nitems_other counts its other elements).
 */
typedef struct CritVal
{
	CritValKind kind;
	CritText	text;
	int64_t		i;
	bool		b;
	const CritText *items;
	int			nitems;
	int			nitems_other;
	CritJsonKind json_kind;
} CritVal;

struct CritProgram;

/* What the evaluator needs from its caller. */
typedef struct CritEvalEnv
{
	void	   *ctx;
	/* a timestamp text of the document, as timestamptz input reads it */
	int64_t		(*timestamp) (void *ctx, CritText text);
	/* now() minus amount units (the SQL's now() - interval) */
	int64_t		(*ago) (void *ctx, int amount, CritUnit unit);
	/* n bytes of memory valid until the evaluation ends */
	char	   *(*scratch) (void *ctx, size_t n);
	/*
	 * the record's value of a field (inside a related condition's "where":
	 * the value of the related row being looked at)
	 */
	void		(*value) (void *ctx, const CritField *field, CritVal *out);
	/*
	 * A related-record condition: how many of the record's live related rows
	 * of that kind with activity_at >= since (INT64_MIN: any) satisfy the
	 * node's "where" -- crit_eval_where on each, with value() answering for
	 * that row -- counting no further than at_least.
	 */
	int64_t		(*related) (void *ctx, const struct CritProgram *prog, const CritNode *node,
							int64_t at_least, int64_t since);
} CritEvalEnv;

/* The prepared form of one condition. */
typedef struct CritPrepared
{
	const CritField *field;
	int			nvals;
	CritText   *texts;			/* folded text, uuid lower case, date/number text */
	int64_t    *ints;			/* integers, dates, timestamps; the threshold of *_last */
} CritPrepared;

/* A document ready to evaluate: one CritPrepared per node (by index). */
typedef struct CritProgram
{
	const CritDoc *doc;
	CritPrepared prep[CRIT_MAX_NODES];
	/* storage of the prepared values */
	int			nints;
	size_t		ntext;
	int			ntexts;
	int64_t		ints[CRIT_MAX_VALUES];
	CritText	texts[CRIT_MAX_VALUES];
	char		text[CRIT_MAX_BYTES];
} CritProgram;

/*
 * Prepare doc (parsed, and compiled successfully against the same lookup)
 * for evaluation.  Returns false with err set only for what the compiler
 * would also refuse.
 */
extern bool crit_eval_prepare(const CritDoc *doc, CritLookup lookup, void *lctx,
							  const CritEvalEnv *env, CritProgram *prog, CritError *err);

/* Evaluate the prepared document against the record env describes. */
extern CritTruth crit_eval(const CritProgram *prog, const CritEvalEnv *env);

/*
 * Evaluate a related-record condition's "where" against the related row
 * env->value now answers for (true when the condition has no "where").
 */
extern CritTruth crit_eval_where(const CritProgram *prog, const CritNode *related,
								 const CritEvalEnv *env);

/* Days since 2000-01-01 of a valid YYYY-MM-DD text. */
extern int64_t crit_date_days(CritText t);

#endif							/* CRM_CRITERIA_EVAL_H */
