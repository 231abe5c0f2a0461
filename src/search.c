/*
 * search.c
 *		crm.search_fold(text): the folding full-text search applies to what
 *		it indexes and to what users type, so that "muller" finds Müller and
 *		"Ł" is found as "l" -- the same folding duplicate detection uses
 *		(similarity.c: ASCII lower-cased, Latin-1 and Latin Extended-A
 *		letters without their accents, ß/æ/œ/þ/ĳ as two letters).
 */
#include "postgres.h"

#include "catalog/pg_collation.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "similarity.h"

PG_FUNCTION_INFO_V1(search_fold);

/* SQL: crm.search_fold(text) returns text, IMMUTABLE STRICT */
Datum
search_fold(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	const char *s = VARDATA_ANY(t);
	size_t		len = VARSIZE_ANY_EXHDR(t);
	text	   *result;
	size_t		n;

	/* the folding works on UTF-8; other encodings are only lower-cased */
	if (GetDatabaseEncoding() != PG_UTF8)
		PG_RETURN_TEXT_P(DatumGetTextPP(DirectFunctionCall1Coll(lower, C_COLLATION_OID,
																 PointerGetDatum(t))));
	result = (text *) palloc(VARHDRSZ + len);
	n = sim_fold_text(s, len, VARDATA(result));
	SET_VARSIZE(result, VARHDRSZ + n);
	PG_FREE_IF_COPY(t, 0);
	PG_RETURN_TEXT_P(result);
}
