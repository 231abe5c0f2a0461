/*
 * phone.c
 *		The crm.phone base type: fmgr glue around the pure parser in
 *		phone_parse.c, and the crm.default_country setting.
 *
 * A value is stored as its canonical text, "+<E.164 digits>" or
 * "+<digits>;ext=<digits>", so output needs no work and equal numbers have
 * equal bytes.  Ordering is by the E.164 digits, then the extension.
 *
 * Input reads national numbers with crm.default_country (ISO 3166 alpha-2),
 * as date input reads DateStyle: the same text can mean different numbers
 * under different settings, so text-to-phone conversion is STABLE, while
 * everything on stored values is IMMUTABLE.
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"

#include "cmp_ops.h"
#include "utils/guc.h"

#include "crm.h"
#include "phone_parse.h"

char	   *crm_default_country = NULL;

/* GUC check hook: crm.default_country must be empty or a known region. */
bool
phone_check_default_country(char **newval, void **extra, GucSource source)
{
	const char *v = *newval;

	(void) extra;
	(void) source;
	if (v == NULL || v[0] == '\0')
		return true;
	if (strlen(v) != 2 || phone_region_calling_code(v, 2) == 0)
	{
		GUC_check_errdetail("\"%s\" is not an ISO 3166 alpha-2 country code with a telephone calling code.", v);
		return false;
	}
	return true;
}

/* Parse s with region (may be NULL) into canonical text, or fail clearly. */
static text *
phone_from_cstring(const char *s, size_t len, const char *region)
{
	phone_number p;
	phone_error err;
	phone_status st;
	char		out[PHONE_TEXT_BUFSZ];
	int			n;

	st = phone_parse(s, len, region, region ? strlen(region) : 0, &p, &err);
	if (st != PHONE_OK)
	{
		char		detail[PHONE_DESCRIBE_BUFSZ];

		phone_describe(st, &err, detail, sizeof(detail));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid phone number \"%.*s\": %s", (int) Min(len, 100), s, detail),
				 st == PHONE_NO_DEFAULT_COUNTRY ?
				 errhint("Write the number with its country code (+44 ...), or SET crm.default_country = 'GB' (any ISO 3166 alpha-2 code).") :
				 errhint("Write the number as +<country code> <number>, optionally followed by \" ext. <digits>\".")));
	}
	n = phone_format_e164(&p, out, sizeof(out));
	if (n < 0)
		elog(ERROR, "could not format a parsed phone number");
	return cstring_to_text_with_len(out, n);
}

/* The parsed form of a stored (canonical) value. */
static void
phone_unpack(text *t, phone_number *p)
{
	if (phone_parse(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), NULL, 0, p, NULL) != PHONE_OK)
		elog(ERROR, "stored crm.phone value is not canonical");
}

PG_FUNCTION_INFO_V1(phone_in);

/* Input function: what people type to crm.phone (uses crm.default_country). */
Datum
phone_in(PG_FUNCTION_ARGS)
{
	char	   *s = PG_GETARG_CSTRING(0);

	PG_RETURN_TEXT_P(phone_from_cstring(s, strlen(s), crm_default_country));
}

PG_FUNCTION_INFO_V1(phone_out);

/* Output function: the canonical E.164 text. */
Datum
phone_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(TextDatumGetCString(PG_GETARG_DATUM(0)));
}

PG_FUNCTION_INFO_V1(phone_recv);

/* Binary input: canonical text bytes, validated. */
Datum
phone_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			nbytes;
	char	   *s = pq_getmsgtext(buf, buf->len - buf->cursor, &nbytes);

	if (nbytes == 0 || s[0] != '+')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary crm.phone value"),
				 errdetail("The binary form is the canonical text +<digits>[;ext=<digits>].")));
	PG_RETURN_TEXT_P(phone_from_cstring(s, (size_t) nbytes, NULL));
}

PG_FUNCTION_INFO_V1(phone_send);

/* Binary output: canonical text bytes. */
Datum
phone_send(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendtext(&buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PG_FUNCTION_INFO_V1(phone_from_text);

/* Cast text -> crm.phone (uses crm.default_country). */
Datum
phone_from_text(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);

	PG_RETURN_TEXT_P(phone_from_cstring(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), crm_default_country));
}

PG_FUNCTION_INFO_V1(phone_parse_in);

/* crm.phone(text, country text): parse with an explicit default country */
Datum
phone_parse_in(PG_FUNCTION_ARGS)
{
	text	   *t;
	char	   *region;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	t = PG_GETARG_TEXT_PP(0);
	region = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));

	if (region && region[0] != '\0' && (strlen(region) != 2 || phone_region_calling_code(region, 2) == 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown country \"%s\"", region),
				 errhint("Use an ISO 3166 alpha-2 code such as US, GB or DE.")));
	PG_RETURN_TEXT_P(phone_from_cstring(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), region));
}

/*
 * Compare two canonical values: E.164 digits first (as digit strings), then
 * the extension.  The canonical text is '+' digits [';ext=' digits].
 */
static int
phone_compare_text(const char *a, int alen, const char *b, int blen)
{
	const char *ae = memchr(a, ';', alen);
	const char *be = memchr(b, ';', blen);
	int			an = ae ? (int) (ae - a) : alen;
	int			bn = be ? (int) (be - b) : blen;
	int			r = memcmp(a, b, Min(an, bn));

	if (r != 0)
		return r;
	if (an != bn)
		return an < bn ? -1 : 1;
	/* same number: no extension first, then by extension text */
	{
		int			ax = alen - an,
					bx = blen - bn;

		r = memcmp(a + an, b + bn, Min(ax, bx));
		if (r != 0)
			return r;
		return ax == bx ? 0 : (ax < bx ? -1 : 1);
	}
}

/* Three-way comparison of the two crm.phone arguments. */
static int
phone_compare_args(FunctionCallInfo fcinfo)
{
	text	   *a = PG_GETARG_TEXT_PP(0);
	text	   *b = PG_GETARG_TEXT_PP(1);
	int			r = phone_compare_text(VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a),
									   VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));

	PG_FREE_IF_COPY(a, 0);
	PG_FREE_IF_COPY(b, 1);
	return r;
}

/* =, <>, <, <=, >, >= and the btree support function */
CRM_DEFINE_CMP_OPS(phone, phone_compare_args)

/*
 * The comparison key of a text compared with crm.phone values: the canonical
 * text of the number it reads as with crm.default_country, written to buf
 * (PHONE_TEXT_BUFSZ bytes), or the text itself when it reads as no number.
 * Never fails, so the cross-type operators are LEAKPROOF.  The canonical
 * text of a number parses back to itself, and a text that reads as no number
 * is never a canonical text, so such text equals no stored number;
 * phone_compare_text orders any two strings, so the order stays total.
 */
static const char *
phone_text_key(const char *s, int len, char *buf, int *keylen)
{
	phone_number p;
	const char *region = crm_default_country;
	int			n;

	if (phone_parse(s, (size_t) len, region, region ? strlen(region) : 0, &p, NULL) == PHONE_OK &&
		(n = phone_format_e164(&p, buf, PHONE_TEXT_BUFSZ)) >= 0)
	{
		*keylen = n;
		return buf;
	}
	*keylen = len;
	return s;
}

/* Three-way comparison of a crm.phone (argument phone_arg) with a text. */
static int
phone_text_compare(FunctionCallInfo fcinfo, int phone_arg)
{
	text	   *ph = PG_GETARG_TEXT_PP(phone_arg);
	text	   *tx = PG_GETARG_TEXT_PP(1 - phone_arg);
	char		buf[PHONE_TEXT_BUFSZ];
	int			klen;
	const char *key = phone_text_key(VARDATA_ANY(tx), VARSIZE_ANY_EXHDR(tx), buf, &klen);
	int			r = phone_compare_text(VARDATA_ANY(ph), VARSIZE_ANY_EXHDR(ph), key, klen);

	PG_FREE_IF_COPY(ph, phone_arg);
	PG_FREE_IF_COPY(tx, 1 - phone_arg);
	if (phone_arg == 0)
		return r;
	return r > 0 ? -1 : (r < 0 ? 1 : 0);
}

/* crm.phone compared with text, and text compared with crm.phone. */
static int
phone_text_compare_args(FunctionCallInfo fcinfo)
{
	return phone_text_compare(fcinfo, 0);
}

static int
text_phone_compare_args(FunctionCallInfo fcinfo)
{
	return phone_text_compare(fcinfo, 1);
}

CRM_DEFINE_CMP_OPS(phone_text, phone_text_compare_args)
CRM_DEFINE_CMP_OPS(text_phone, text_phone_compare_args)

PG_FUNCTION_INFO_V1(phone_hash);
/* hash support: 32-bit hash of the canonical bytes */
Datum
phone_hash(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	Datum		h = hash_any((unsigned char *) VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));

	PG_FREE_IF_COPY(t, 0);
	return h;
}

PG_FUNCTION_INFO_V1(phone_hash_extended);
/* hash support: 64-bit seeded hash of the canonical bytes */
Datum
phone_hash_extended(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	Datum		h = hash_any_extended((unsigned char *) VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t),
									  (uint64) PG_GETARG_INT64(1));

	PG_FREE_IF_COPY(t, 0);
	return h;
}

/*
 * The hash of text argument 0 as the number it reads as (see
 * phone_text_key): 32-bit, or 64-bit with the seed in argument 1.
 */
static Datum
phone_text_hash_args(FunctionCallInfo fcinfo, bool extended)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	char		buf[PHONE_TEXT_BUFSZ];
	int			klen;
	const char *key = phone_text_key(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), buf, &klen);
	Datum		h = extended ?
		hash_any_extended((const unsigned char *) key, klen, (uint64) PG_GETARG_INT64(1)) :
		hash_any((const unsigned char *) key, klen);

	PG_FREE_IF_COPY(t, 0);
	return h;
}

PG_FUNCTION_INFO_V1(phone_text_hash);
/* hash support for text in crm.phone's hash family: 32-bit */
Datum
phone_text_hash(PG_FUNCTION_ARGS)
{
	return phone_text_hash_args(fcinfo, false);
}

PG_FUNCTION_INFO_V1(phone_text_hash_extended);
/* hash support for text in crm.phone's hash family: 64-bit, seeded */
Datum
phone_text_hash_extended(PG_FUNCTION_ARGS)
{
	return phone_text_hash_args(fcinfo, true);
}

PG_FUNCTION_INFO_V1(phone_format_fn);

/* crm.phone_format(phone, style): 'e164', 'international' or 'national' */
Datum
phone_format_fn(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	char	   *style = text_to_cstring(PG_GETARG_TEXT_PP(1));
	phone_number p;
	char		buf[PHONE_FORMAT_BUFSZ];
	int			n;

	phone_unpack(t, &p);
	if (strcmp(style, "e164") == 0)
		n = phone_format_e164(&p, buf, sizeof(buf));
	else if (strcmp(style, "international") == 0)
		n = phone_format_international(&p, buf, sizeof(buf));
	else if (strcmp(style, "national") == 0)
		n = phone_format_national(&p, buf, sizeof(buf));
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown phone format \"%s\"", style),
				 errhint("Use 'e164', 'international' or 'national'.")));
	if (n < 0)
		elog(ERROR, "could not format a phone number");
	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf, n));
}

PG_FUNCTION_INFO_V1(phone_country_fn);

/* crm.phone_country(phone): ISO 3166 alpha-2 region ('001': non-geographic) */
Datum
phone_country_fn(PG_FUNCTION_ARGS)
{
	phone_number p;
	const char *r;

	phone_unpack(PG_GETARG_TEXT_PP(0), &p);
	r = phone_region(&p);
	if (r == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(r));
}

PG_FUNCTION_INFO_V1(phone_calling_code_fn);

/* crm.phone_calling_code(phone): the country calling code, e.g. 44 */
Datum
phone_calling_code_fn(PG_FUNCTION_ARGS)
{
	phone_number p;

	phone_unpack(PG_GETARG_TEXT_PP(0), &p);
	PG_RETURN_INT32(phone_country_code(&p));
}

PG_FUNCTION_INFO_V1(phone_extension_fn);

/* crm.phone_extension(phone): extension digits or NULL */
Datum
phone_extension_fn(PG_FUNCTION_ARGS)
{
	phone_number p;

	phone_unpack(PG_GETARG_TEXT_PP(0), &p);
	if (p.ext_len == 0)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(p.ext));
}
