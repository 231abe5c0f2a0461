/*
 * dedup.c
 *		SQL entry points of the duplicate-detection helpers: Jaro-Winkler
 *		similarity, edit distance, and the person and company name keys used
 *		as blocking keys by crm.find_duplicates() and crm.duplicate_pairs(),
 *		and the pair scores (crm.person_score, crm.account_score and their
 *		reasons).  The logic is in similarity.c (pure C); this file only
 *		converts arguments and results.
 *
 * similarity.c works on UTF-8.  In a database of another encoding the text is
 * converted to UTF-8 first and keys are converted back, so results do not
 * depend on the encoding (test/scripts/encodings.sh runs the same checks in
 * UTF8, LATIN1 and SQL_ASCII databases); SQL_ASCII bytes are taken as they
 * are.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "email_parse.h"
#include "phone_parse.h"
#include "similarity.h"

/*
 * Whether text of the database encoding can be handed to similarity.c as it
 * is.  In UTF-8 it is UTF-8 already; in SQL_ASCII the bytes have no declared
 * encoding, so they are taken as they are (similarity.c reads invalid UTF-8
 * byte by byte and never fails on it): converting would validate them as
 * UTF-8 and raise an error, which the LEAKPROOF key functions must never do.
 */
static bool
db_encoding_is_utf8(void)
{
	int			enc = GetDatabaseEncoding();

	return enc == PG_UTF8 || enc == PG_SQL_ASCII;
}

/*
 * The bytes of a text argument in UTF-8 (a palloc'd, NUL-terminated copy only
 * when the database encoding had to be converted).  pg_server_to_any() hands
 * back its input itself when it converts nothing (an empty value, say), and
 * a text datum's bytes are not NUL-terminated: the length is taken from the
 * result only when it is a converted copy.
 */
static const char *
text_utf8(text *t, size_t *len)
{
	const char *s = VARDATA_ANY(t);
	int			n = VARSIZE_ANY_EXHDR(t);

	if (!db_encoding_is_utf8())
	{
		const char *c = pg_server_to_any(s, n, PG_UTF8);

		if (c != s)
		{
			s = c;
			n = (int) strlen(c);
		}
	}
	*len = (size_t) n;
	return s;
}

/* A text datum from UTF-8 bytes, converted to the database encoding. */
static text *
utf8_text(const char *s, size_t len)
{
	if (!db_encoding_is_utf8())
	{
		const char *c = pg_any_to_server(s, (int) len, PG_UTF8);

		if (c != s)
		{
			s = c;
			len = strlen(c);
		}
	}
	return cstring_to_text_with_len(s, (int) len);
}

/* A measure of two strings (UTF-8 bytes and lengths). */
typedef double (*pair_measure) (const char *a, size_t alen, const char *b, size_t blen);

/* Apply a measure to the call's two text arguments. */
static double
measure_text_pair(FunctionCallInfo fcinfo, pair_measure measure)
{
	text	   *a = PG_GETARG_TEXT_PP(0);
	text	   *b = PG_GETARG_TEXT_PP(1);
	size_t		alen,
				blen;
	const char *as = text_utf8(a, &alen);
	const char *bs = text_utf8(b, &blen);
	double		r = measure(as, alen, bs, blen);

	PG_FREE_IF_COPY(a, 0);
	PG_FREE_IF_COPY(b, 1);
	return r;
}

/* sim_edit_distance as a pair_measure. */
static double
edit_distance_measure(const char *a, size_t alen, const char *b, size_t blen)
{
	return (double) sim_edit_distance(a, alen, b, blen);
}

PG_FUNCTION_INFO_V1(dedup_jaro_winkler);
/* crm.jaro_winkler(text, text) RETURNS real */
Datum
dedup_jaro_winkler(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT4((float4) measure_text_pair(fcinfo, sim_jaro_winkler));
}

PG_FUNCTION_INFO_V1(dedup_edit_distance);
/* crm.edit_distance(text, text) RETURNS integer */
Datum
dedup_edit_distance(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32((int32) measure_text_pair(fcinfo, edit_distance_measure));
}

PG_FUNCTION_INFO_V1(dedup_name_similarity);
/* crm.name_similarity(text, text) RETURNS real */
Datum
dedup_name_similarity(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT4((float4) measure_text_pair(fcinfo, sim_name_similarity));
}

PG_FUNCTION_INFO_V1(dedup_name_key);
/*
 * crm.name_key(first text, last text) RETURNS text; NULL for no key.  Not
 * strict: a NULL name counts as empty, so that index expressions need no
 * COALESCE (which would keep them from serving queries under row-level
 * security: only leakproof functions may see the rows before the policy).
 */
Datum
dedup_name_key(PG_FUNCTION_ARGS)
{
	size_t		flen = 0,
				llen = 0,
				n;
	const char *fs = "";
	const char *ls = "";
	char		key[SIM_KEY_BUFSIZE];

	if (!PG_ARGISNULL(0))
		fs = text_utf8(PG_GETARG_TEXT_PP(0), &flen);
	if (!PG_ARGISNULL(1))
		ls = text_utf8(PG_GETARG_TEXT_PP(1), &llen);
	n = sim_name_key(fs, flen, ls, llen, key);
	if (n == 0)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(utf8_text(key, n));
}

PG_FUNCTION_INFO_V1(dedup_company_key);
/* crm.company_key(name text) RETURNS text; NULL for no key */
Datum
dedup_company_key(PG_FUNCTION_ARGS)
{
	text	   *name = PG_GETARG_TEXT_PP(0);
	size_t		len,
				n;
	const char *s = text_utf8(name, &len);
	char		key[SIM_KEY_BUFSIZE];

	n = sim_company_key(s, len, key);
	if (n == 0)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(utf8_text(key, n));
}

PG_FUNCTION_INFO_V1(dedup_company_norm);
/* crm.company_norm(name text) RETURNS text */
Datum
dedup_company_norm(PG_FUNCTION_ARGS)
{
	text	   *name = PG_GETARG_TEXT_PP(0);
	size_t		len,
				n;
	const char *s = text_utf8(name, &len);
	char	   *out = palloc(SIM_NORM_BUFSIZE);

	n = sim_company_norm(s, len, out);
	PG_RETURN_TEXT_P(utf8_text(out, n));
}

/* A text datum of s[0..len) with ASCII letters lower-cased. */
static text *
folded_text(const char *s, size_t len)
{
	text	   *result = (text *) palloc(VARHDRSZ + len);

	SET_VARSIZE(result, VARHDRSZ + len);
	email_fold_copy(s, len, VARDATA(result));
	return result;
}

PG_FUNCTION_INFO_V1(dedup_email_key);
/*
 * crm.email_key(text) RETURNS text: the address as crm.email compares it
 * (trimmed, ASCII lower case); NULL when crm.email would not accept it --
 * the type's parser decides.  Never fails (LEAKPROOF: usable in index
 * conditions under RLS).
 */
Datum
dedup_email_key(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	const char *s = VARDATA_ANY(t);
	size_t		start,
				end,
				at;

	if (email_parse(s, VARSIZE_ANY_EXHDR(t), &start, &end, &at) != EMAIL_OK)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(folded_text(s + start, end - start));
}

PG_FUNCTION_INFO_V1(dedup_email_domain_key);
/*
 * crm.email_domain_key(text) RETURNS text: the domain of an address in ASCII
 * lower case (crm.email_domain of the same value); NULL when crm.email would
 * not accept it.  LEAKPROOF.
 */
Datum
dedup_email_domain_key(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	const char *s = VARDATA_ANY(t);
	size_t		start,
				end,
				at;

	if (email_parse(s, VARSIZE_ANY_EXHDR(t), &start, &end, &at) != EMAIL_OK)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(folded_text(s + at + 1, end - at - 1));
}

PG_FUNCTION_INFO_V1(dedup_phone_key);
/*
 * crm.phone_key(text) RETURNS text: the E.164 digits of a phone number,
 * without '+' and extension, as crm.phone's parser reads it with no default
 * country (so crm.phone::text and any international spelling of the same
 * number give the same key); NULL when it reads no valid number.  LEAKPROOF.
 */
Datum
dedup_phone_key(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	phone_number p;

	if (phone_parse(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), NULL, 0, &p, NULL) != PHONE_OK)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text_with_len(p.digits, p.ndigits));
}

/* Argument i as a SimText in UTF-8; absent (s == NULL) when SQL NULL. */
static SimText
arg_text(FunctionCallInfo fcinfo, int i)
{
	SimText		t = {NULL, 0};

	if (!PG_ARGISNULL(i))
		t.s = text_utf8(PG_GETARG_TEXT_PP(i), &t.len);
	return t;
}

/*
 * The non-NULL elements of text[] argument i (phone keys: compared as bytes,
 * so not converted), palloc'd; *n is their count (0 for a NULL array).
 */
static SimText *
arg_text_array(FunctionCallInfo fcinfo, int i, int *n)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	SimText    *out;

	*n = 0;
	if (PG_ARGISNULL(i))
		return NULL;
	arr = PG_GETARG_ARRAYTYPE_P(i);
	if (ARR_ELEMTYPE(arr) != TEXTOID)
		elog(ERROR, "phone keys must be text[]");
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &nelems);
	out = palloc(sizeof(SimText) * (nelems > 0 ? nelems : 1));
	for (int k = 0; k < nelems; k++)
	{
		if (nulls[k])
			continue;
		out[*n].s = VARDATA_ANY(DatumGetPointer(elems[k]));
		out[*n].len = VARSIZE_ANY_EXHDR(DatumGetPointer(elems[k]));
		(*n)++;
	}
	return out;
}

/*
 * The match of the two persons in arguments 0..3 and 4..7 (first, last,
 * email key, phone keys).
 */
static void
person_args(FunctionCallInfo fcinfo, SimMatch *m)
{
	SimPerson	a,
				b;

	a.first = arg_text(fcinfo, 0);
	a.last = arg_text(fcinfo, 1);
	a.email = arg_text(fcinfo, 2);
	a.phones = arg_text_array(fcinfo, 3, &a.nphones);
	b.first = arg_text(fcinfo, 4);
	b.last = arg_text(fcinfo, 5);
	b.email = arg_text(fcinfo, 6);
	b.phones = arg_text_array(fcinfo, 7, &b.nphones);
	sim_person_match(&a, &b, m);
}

/*
 * The match of the two accounts in arguments 0..2 and 3..5 (name, domain,
 * phone key).
 */
static void
account_args(FunctionCallInfo fcinfo, SimMatch *m)
{
	SimAccount	a,
				b;

	a.name = arg_text(fcinfo, 0);
	a.domain = arg_text(fcinfo, 1);
	a.phone = arg_text(fcinfo, 2);
	b.name = arg_text(fcinfo, 3);
	b.domain = arg_text(fcinfo, 4);
	b.phone = arg_text(fcinfo, 5);
	sim_account_match(&a, &b, m);
}

/* The reasons of a match as a text[] (possibly empty). */
static ArrayType *
reasons_array(const SimMatch *m, bool account)
{
	char		out[3][SIM_REASON_BUFSIZE];
	Datum		elems[3];
	int			k = sim_match_reasons(m, account, out);

	for (int i = 0; i < k; i++)
		elems[i] = PointerGetDatum(utf8_text(out[i], strlen(out[i])));
	return construct_array(elems, k, TEXTOID, -1, false, TYPALIGN_INT);
}

PG_FUNCTION_INFO_V1(dedup_person_score);
/* crm.person_score(8 x person fields) RETURNS real */
Datum
dedup_person_score(PG_FUNCTION_ARGS)
{
	SimMatch	m;

	person_args(fcinfo, &m);
	PG_RETURN_FLOAT4((float4) m.score);
}

PG_FUNCTION_INFO_V1(dedup_person_reasons);
/* crm.person_reasons(8 x person fields) RETURNS text[] */
Datum
dedup_person_reasons(PG_FUNCTION_ARGS)
{
	SimMatch	m;

	person_args(fcinfo, &m);
	PG_RETURN_ARRAYTYPE_P(reasons_array(&m, false));
}

PG_FUNCTION_INFO_V1(dedup_account_score);
/* crm.account_score(6 x account fields) RETURNS real */
Datum
dedup_account_score(PG_FUNCTION_ARGS)
{
	SimMatch	m;

	account_args(fcinfo, &m);
	PG_RETURN_FLOAT4((float4) m.score);
}

PG_FUNCTION_INFO_V1(dedup_account_reasons);
/* crm.account_reasons(6 x account fields) RETURNS text[] */
Datum
dedup_account_reasons(PG_FUNCTION_ARGS)
{
	SimMatch	m;

	account_args(fcinfo, &m);
	PG_RETURN_ARRAYTYPE_P(reasons_array(&m, true));
}
