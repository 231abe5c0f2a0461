/*
 * criteria_columns.c
 *		crm._criteria_columns(criteria jsonb, entity text): the columns of
 *		crm.<entity> a criteria document reads, for triggers that re-evaluate
 *		a document only when one of them changed (fit scoring).
 *
 * The document is compiled for the current tenant (its custom fields) by
 * the criteria compiler; an invalid document raises its error.  Custom
 * fields read the column custom_fields; account fields read account_id;
 * conditions on related records (activities) read no column of the
 * record.  The answer is sorted and without repeats.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "criteria.h"

PG_FUNCTION_INFO_V1(criteria_columns);

static int
cc_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

Datum
criteria_columns(PG_FUNCTION_ARGS)
{
	Jsonb	   *doc = PG_GETARG_JSONB_P(0);
	char	   *entity = text_to_cstring(PG_GETARG_TEXT_PP(1));
	CrmCriteria *c = crm_criteria_prepare(doc, entity, CurrentMemoryContext);
	const CrmCriteriaReads *r = crm_criteria_reads(c);
	char	  **names = palloc(sizeof(char *) * (r->ncolumns + 1));
	Datum	   *elems = palloc(sizeof(Datum) * (r->ncolumns + 1));
	int			n = 0;
	int			kept = 0;
	int			i;

	for (i = 0; i < r->ncolumns; i++)
		names[n++] = pstrdup(r->columns[i]);
	if (r->naccount > 0)
		names[n++] = pstrdup("account_id");
	crm_criteria_free(c);
	qsort(names, n, sizeof(char *), cc_name_cmp);
	for (i = 0; i < n; i++)
		if (kept == 0 || strcmp(names[i], TextDatumGetCString(elems[kept - 1])) != 0)
			elems[kept++] = CStringGetTextDatum(names[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, kept, TEXTOID, -1, false, TYPALIGN_INT));
}
