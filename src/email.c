/*
 * email.c
 *		The crm.email base type: fmgr glue around the pure parser in
 *		email_parse.c.
 *
 * A value is stored as text exactly as it was typed (only surrounding
 * whitespace trimmed), so the original spelling comes back out.  Equality,
 * ordering and hashing fold ASCII case independently of the database
 * collation ("Ann@Example.COM" = "ann@example.com"), so btree, hash and merge
 * joins agree, as citext reasons for its own type.  Addresses are ASCII by
 * construction (IDN domains in their xn-- form), so ASCII folding is exact.
 *
 * Comparisons also accept text on either side (crm.email = text, ...), so a
 * client that sends a text or varchar parameter still compares
 * case-insensitively and can use the index; those operators are members of
 * the same btree and hash operator families.
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"

#include "cmp_ops.h"

#include "email_parse.h"

/* Parse and validate s; on success return the stored (trimmed) value. */
static text *
email_from_cstring(const char *s, size_t len)
{
	email_parts parts;
	email_status st = email_parse_ex(s, len, &parts);

	if (st != EMAIL_OK)
	{
		char		detail[EMAIL_DESCRIBE_BUFSZ];

		email_describe(s, len, st, &parts, detail, sizeof(detail));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid email address \"%.*s\": %s",
						(int) Min(len, 300), s, detail),
				 errhint("An address has the form local@domain.tld; internationalised domains are written in their xn-- form.")));
	}
	return cstring_to_text_with_len(s + parts.start, (int) (parts.end - parts.start));
}

PG_FUNCTION_INFO_V1(email_in);

/* Input function: text form to crm.email. */
Datum
email_in(PG_FUNCTION_ARGS)
{
	char	   *s = PG_GETARG_CSTRING(0);

	PG_RETURN_TEXT_P(email_from_cstring(s, strlen(s)));
}

PG_FUNCTION_INFO_V1(email_out);

/* Output function: the address as it was typed. */
Datum
email_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(TextDatumGetCString(PG_GETARG_DATUM(0)));
}

PG_FUNCTION_INFO_V1(email_recv);

/* Binary input: the text bytes, validated like the text input. */
Datum
email_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			nbytes;
	char	   *s = pq_getmsgtext(buf, buf->len - buf->cursor, &nbytes);

	PG_RETURN_TEXT_P(email_from_cstring(s, (size_t) nbytes));
}

PG_FUNCTION_INFO_V1(email_send);

/* Binary output: the text bytes. */
Datum
email_send(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendtext(&buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PG_FUNCTION_INFO_V1(email_from_text);

/* Cast text -> crm.email (validates). */
Datum
email_from_text(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);

	PG_RETURN_TEXT_P(email_from_cstring(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)));
}

/*
 * Case-folded three-way comparison of two text-like datums (crm.email or
 * text: both are varlena text); frees detoasted copies.
 */
static int
email_compare_args(FunctionCallInfo fcinfo)
{
	text	   *a = PG_GETARG_TEXT_PP(0);
	text	   *b = PG_GETARG_TEXT_PP(1);
	int			r = email_cmp(VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a),
							  VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));

	PG_FREE_IF_COPY(a, 0);
	PG_FREE_IF_COPY(b, 1);
	return r;
}

/*
 * One set of comparison entry points serves email-email, email-text and
 * text-email: the argument types only matter to the catalog.
 */
CRM_DEFINE_CMP_OPS(email, email_compare_args)

PG_FUNCTION_INFO_V1(email_hash);

/*
 * hash support: 32-bit hash of the case-folded bytes.  It is the low half of
 * the extended hash with seed 0, as PostgreSQL requires of hash operator
 * classes (test/pgtap/hash_opclasses.sql checks every crm hash family).
 */
Datum
email_hash(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	uint64		h = email_hash_folded(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), 0);

	PG_FREE_IF_COPY(t, 0);
	PG_RETURN_INT32((int32) (uint32) h);
}

PG_FUNCTION_INFO_V1(email_hash_extended);

/* hash support: 64-bit seeded hash of the case-folded bytes */
Datum
email_hash_extended(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	uint64		h = email_hash_folded(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t),
									  (uint64) PG_GETARG_INT64(1));

	PG_FREE_IF_COPY(t, 0);
	PG_RETURN_INT64((int64) h);
}

/*
 * Offset of the last '@' of a stored address (it has exactly one: input and
 * binary input validate).  Were one missing, the whole value would count as
 * the local part: the part functions never fail, so crm.email_domain can be
 * LEAKPROOF.
 */
static int
email_at(const char *s, int len)
{
	int			i;

	for (i = len - 1; i >= 0; i--)
		if (s[i] == '@')
			return i;
	return len;
}

PG_FUNCTION_INFO_V1(email_domain);

/* crm.email_domain(email): the domain, lower case */
Datum
email_domain(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	const char *s = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);
	int			at = email_at(s, len);
	int			dlen = at < len ? len - at - 1 : 0;
	text	   *res = (text *) palloc(VARHDRSZ + dlen);

	email_fold_copy(s + len - dlen, dlen, VARDATA(res));
	SET_VARSIZE(res, VARHDRSZ + dlen);
	PG_FREE_IF_COPY(t, 0);
	PG_RETURN_TEXT_P(res);
}

PG_FUNCTION_INFO_V1(email_local);

/* crm.email_local(email): the local part, as typed */
Datum
email_local(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	const char *s = VARDATA_ANY(t);
	int			at = email_at(s, VARSIZE_ANY_EXHDR(t));

	PG_RETURN_TEXT_P(cstring_to_text_with_len(s, at));
}
