/*
 * cf_validate.c
 *		Pure validation of custom-field values: the rules of every field type
 *		(text, number, date, boolean, picklist, multi_picklist, url, email,
 *		phone, currency) and of the options of a definition.
 *
 * No PostgreSQL headers and no allocation: the fmgr side (custom_fields.c)
 * and the fuzz harness (test/fuzz/fuzz_cf_validate.c) describe values with
 * the structs of cf_validate.h.  Numbers are compared exactly on their
 * decimal text, never through floating point.  E-mail addresses and phone
 * numbers are decided by the parsers of the crm.email and crm.phone types
 * (email_parse.c, phone_parse.c, pure C as well).  The rules are documented
 * in doc/custom_fields.md.
 */
#include "cf_validate.h"

#include "email_parse.h"
#include "phone_parse.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Longest url accepted, in bytes. */
#define CF_URL_MAX 2048
/* Longest label and host name of a URL's host. */
#define CF_LABEL_MAX 63
#define CF_HOST_MAX 253
/* Bytes of an offending element or option quoted in a reason. */
#define CF_QUOTE_MAX 40
/* Exponents beyond this are clamped; no jsonb numeric comes near it. */
#define CF_EXP_CLAMP 1000000000000000LL

static const struct
{
	const char *name;
	CfFieldType type;
	const char *expectation;
}			cf_types[] =
{
	{"text", CF_TYPE_TEXT, "a JSON string"},
	{"number", CF_TYPE_NUMBER, "a JSON number"},
	{"date", CF_TYPE_DATE, "a JSON string holding a date YYYY-MM-DD"},
	{"boolean", CF_TYPE_BOOLEAN, "JSON true or false"},
	{"picklist", CF_TYPE_PICKLIST, "a JSON string among the options"},
	{"multi_picklist", CF_TYPE_MULTI_PICKLIST, "a JSON array of distinct strings among the options"},
	{"url", CF_TYPE_URL, "a JSON string holding an http:// or https:// URL"},
	{"email", CF_TYPE_EMAIL, "a JSON string holding an e-mail address"},
	{"phone", CF_TYPE_PHONE, "a JSON string holding a phone number"},
	{"currency", CF_TYPE_CURRENCY, "a JSON number with at most 2 decimal places"},
};

#define CF_NTYPES (sizeof(cf_types) / sizeof(cf_types[0]))

/* printf into the reason buffer (if there is one); always returns false. */
static bool
cf_fail(char *reason, size_t sz, const char *fmt,...)
__attribute__((format(printf, 3, 4)));

static bool
cf_fail(char *reason, size_t sz, const char *fmt,...)
{
	va_list		ap;

	if (reason != NULL && sz > 0)
	{
		va_start(ap, fmt);
		vsnprintf(reason, sz, fmt, ap);
		va_end(ap);
	}
	return false;
}

/*
 * Copy at most CF_QUOTE_MAX bytes of t into buf (of CF_QUOTE_MAX + 4 bytes),
 * cut at a UTF-8 character boundary, with "..." when shortened; NUL bytes
 * become '?', so the quote is always a proper C string.
 */
static const char *
cf_quote(CfText t, char *buf)
{
	size_t		n = t.len;
	size_t		i;
	bool		cut = false;

	if (n > CF_QUOTE_MAX)
	{
		n = CF_QUOTE_MAX;
		/* do not split a multi-byte character */
		while (n > 0 && ((unsigned char) t.ptr[n] & 0xC0) == 0x80)
			n--;
		cut = true;
	}
	for (i = 0; i < n; i++)
		buf[i] = t.ptr[i] == '\0' ? '?' : t.ptr[i];
	if (cut)
	{
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

CfFieldType
cf_type_from_name(const char *name, size_t len)
{
	size_t		i;

	if (name == NULL)
		return CF_TYPE_INVALID;
	for (i = 0; i < CF_NTYPES; i++)
		if (strlen(cf_types[i].name) == len && memcmp(cf_types[i].name, name, len) == 0)
			return cf_types[i].type;
	return CF_TYPE_INVALID;
}

const char *
cf_type_name(CfFieldType type)
{
	size_t		i;

	for (i = 0; i < CF_NTYPES; i++)
		if (cf_types[i].type == type)
			return cf_types[i].name;
	return "invalid";
}

const char *
cf_type_expectation(CfFieldType type)
{
	size_t		i;

	for (i = 0; i < CF_NTYPES; i++)
		if (cf_types[i].type == type)
			return cf_types[i].expectation;
	return "nothing (unknown field type)";
}

const char *
cf_kind_name(CfKind kind)
{
	switch (kind)
	{
		case CF_KIND_NULL:
			return "null";
		case CF_KIND_STRING:
			return "a string";
		case CF_KIND_NUMBER:
			return "a number";
		case CF_KIND_BOOL:
			return "a boolean";
		case CF_KIND_ARRAY:
			return "an array";
		case CF_KIND_OBJECT:
			return "an object";
	}
	return "an unknown kind of value";
}

/* ------------------------------------------------------------------------
 * Numbers
 * ------------------------------------------------------------------------
 */

/*
 * A JSON number, decomposed: value = sign * 0.D * 10^pos, where D are the
 * significant digits (no leading or trailing zeros), found in the mantissa
 * text M (integer part followed by fraction part, '.' skipped).
 */
typedef struct CfNumber
{
	int			sign;			/* -1, 0 (the value is zero) or 1 */
	const char *ip;				/* integer-part digits */
	size_t		iplen;
	const char *fp;				/* fraction digits */
	size_t		fplen;
	size_t		first;			/* index in M of the first significant digit */
	size_t		nsig;			/* number of significant digits */
	long long	pos;			/* decimal exponent of 0.D */
	long long	decimals;		/* digits after the point, without trailing
								 * zeros */
} CfNumber;

/* The digit at index i of the mantissa text (integer part, then fraction). */
static char
cf_mantissa_digit(const CfNumber *n, size_t i)
{
	return i < n->iplen ? n->ip[i] : n->fp[i - n->iplen];
}

/* Parse a JSON number text; false when it is not one. */
static bool
cf_number_parse(CfText t, CfNumber *n)
{
	const char *s = t.ptr;
	size_t		len = t.len;
	size_t		i = 0;
	size_t		mlen;
	size_t		last;
	bool		negative = false;
	long long	exp = 0;

	memset(n, 0, sizeof(*n));
	if (s == NULL || len == 0)
		return false;
	if (s[i] == '-')
	{
		negative = true;
		i++;
	}
	/* integer part: 0 or [1-9][0-9]* */
	if (i >= len || s[i] < '0' || s[i] > '9')
		return false;
	n->ip = s + i;
	if (s[i] == '0')
		i++;
	else
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
	n->iplen = (size_t) (s + i - n->ip);
	n->fp = s + i;
	if (i < len && s[i] == '.')
	{
		i++;
		n->fp = s + i;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		n->fplen = (size_t) (s + i - n->fp);
		if (n->fplen == 0)
			return false;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E'))
	{
		bool		eneg = false;
		size_t		start;

		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
		{
			eneg = s[i] == '-';
			i++;
		}
		start = i;
		while (i < len && s[i] >= '0' && s[i] <= '9')
		{
			if (exp < CF_EXP_CLAMP)
				exp = exp * 10 + (s[i] - '0');
			i++;
		}
		if (i == start)
			return false;
		if (eneg)
			exp = -exp;
	}
	if (i != len)
		return false;

	/* significant digits of the mantissa */
	mlen = n->iplen + n->fplen;
	while (n->first < mlen && cf_mantissa_digit(n, n->first) == '0')
		n->first++;
	if (n->first == mlen)
	{
		n->sign = 0;			/* zero, whatever its sign or exponent */
		return true;
	}
	last = mlen;
	while (cf_mantissa_digit(n, last - 1) == '0')
		last--;
	n->nsig = last - n->first;
	n->sign = negative ? -1 : 1;
	/* value = M * 10^(exp - fplen); 0.D has its point before M[first] */
	n->pos = (long long) (mlen - n->first) - (long long) n->fplen + exp;
	/* digits after the point: of M up to last, shifted by the exponent */
	n->decimals = (long long) last - (long long) n->iplen - exp;
	if (n->decimals < 0)
		n->decimals = 0;
	return true;
}

bool
cf_number_valid(CfText t)
{
	CfNumber	n;

	return cf_number_parse(t, &n);
}

/* Compare two parsed numbers: -1, 0 or 1. */
static int
cf_number_cmp(const CfNumber *a, const CfNumber *b)
{
	size_t		i;
	int			mag;

	if (a->sign != b->sign)
		return a->sign < b->sign ? -1 : 1;
	if (a->sign == 0)
		return 0;
	/* same sign: compare magnitudes, then flip for negatives */
	if (a->pos != b->pos)
		mag = a->pos < b->pos ? -1 : 1;
	else
	{
		mag = 0;
		for (i = 0; i < a->nsig && i < b->nsig && mag == 0; i++)
		{
			char		da = cf_mantissa_digit(a, a->first + i);
			char		db = cf_mantissa_digit(b, b->first + i);

			if (da != db)
				mag = da < db ? -1 : 1;
		}
		if (mag == 0 && a->nsig != b->nsig)
			mag = a->nsig < b->nsig ? -1 : 1;
	}
	return a->sign > 0 ? mag : -mag;
}

bool
cf_number_compare(CfText a, CfText b, int *cmp)
{
	CfNumber	na,
				nb;

	if (!cf_number_parse(a, &na) || !cf_number_parse(b, &nb))
		return false;
	*cmp = cf_number_cmp(&na, &nb);
	return true;
}

/* Check a number value against the min/max options. */
static bool
cf_number_bounds(const CfNumber *n, CfText value, const CfOptions *opts, char *reason, size_t sz)
{
	CfNumber	bound;
	char		q1[CF_QUOTE_MAX + 4];
	char		q2[CF_QUOTE_MAX + 4];

	if (opts == NULL)
		return true;
	if (opts->min.ptr != NULL)
	{
		if (!cf_number_parse(opts->min, &bound))
			return cf_fail(reason, sz, "the option min is not a number");
		if (cf_number_cmp(n, &bound) < 0)
			return cf_fail(reason, sz, "%s is less than the minimum %s",
						   cf_quote(value, q1), cf_quote(opts->min, q2));
	}
	if (opts->max.ptr != NULL)
	{
		if (!cf_number_parse(opts->max, &bound))
			return cf_fail(reason, sz, "the option max is not a number");
		if (cf_number_cmp(n, &bound) > 0)
			return cf_fail(reason, sz, "%s is greater than the maximum %s",
						   cf_quote(value, q1), cf_quote(opts->max, q2));
	}
	return true;
}

/* ------------------------------------------------------------------------
 * Dates
 * ------------------------------------------------------------------------
 */

/* Days in a month of the proleptic Gregorian calendar. */
static int
cf_days_in_month(int year, int month)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool		leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

bool
cf_date_check(CfText t, char *reason, size_t sz)
{
	static const char pattern[] = "dddd-dd-dd";
	char		q[CF_QUOTE_MAX + 4];
	int			year,
				month,
				day;
	size_t		i;

	if (t.len != sizeof(pattern) - 1)
		return cf_fail(reason, sz, "\"%s\" is not a date in the form YYYY-MM-DD", cf_quote(t, q));
	for (i = 0; i < t.len; i++)
	{
		bool		ok = pattern[i] == 'd' ? (t.ptr[i] >= '0' && t.ptr[i] <= '9') : t.ptr[i] == '-';

		if (!ok)
			return cf_fail(reason, sz, "\"%s\" is not a date in the form YYYY-MM-DD", cf_quote(t, q));
	}
	year = (t.ptr[0] - '0') * 1000 + (t.ptr[1] - '0') * 100 + (t.ptr[2] - '0') * 10 + (t.ptr[3] - '0');
	month = (t.ptr[5] - '0') * 10 + (t.ptr[6] - '0');
	day = (t.ptr[8] - '0') * 10 + (t.ptr[9] - '0');
	if (year < 1)
		return cf_fail(reason, sz, "\"%s\" is out of range: the year must be 0001 to 9999", cf_quote(t, q));
	if (month < 1 || month > 12 || day < 1 || day > cf_days_in_month(year, month))
		return cf_fail(reason, sz, "\"%s\" is not a calendar date", cf_quote(t, q));
	return true;
}

/* ------------------------------------------------------------------------
 * Host names, URLs, e-mail addresses, phone numbers
 * ------------------------------------------------------------------------
 */

static size_t cf_char_count(CfText t);

static bool
cf_is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool
cf_is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Is s[0..len) four dot-separated decimal octets 0..255? */
static bool
cf_is_ipv4(const char *s, size_t len)
{
	size_t		i = 0;
	int			part;

	for (part = 0; part < 4; part++)
	{
		int			v = 0;
		size_t		start = i;

		while (i < len && s[i] >= '0' && s[i] <= '9' && i - start < 3)
			v = v * 10 + (s[i++] - '0');
		if (i == start || v > 255 || (i - start > 1 && s[start] == '0'))
			return false;
		if (part < 3)
		{
			if (i >= len || s[i] != '.')
				return false;
			i++;
		}
	}
	return i == len;
}

/*
 * Is s[0..len) a plausible DNS name: dot-separated labels of letters,
 * digits, hyphens (not at either end of a label) or non-ASCII bytes (an
 * internationalised name), at least two labels, the last one (the top-level
 * domain) at least two characters and not all digits?
 */
static bool
cf_is_domain(const char *s, size_t len, const char **why)
{
	size_t		i = 0;
	int			labels = 0;
	bool		last_has_alpha = false;
	size_t		last_len = 0;

	if (len == 0)
	{
		*why = "is empty";
		return false;
	}
	if (len > CF_HOST_MAX)
	{
		*why = "is longer than 253 characters";
		return false;
	}
	while (i <= len)
	{
		size_t		start = i;
		bool		has_alpha = false;

		while (i < len && s[i] != '.')
		{
			unsigned char c = (unsigned char) s[i];

			if (!(cf_is_alnum(c) || c == '-' || c >= 0x80))
			{
				*why = "contains a character not allowed in a host name";
				return false;
			}
			if (cf_is_alpha(c) || c >= 0x80)
				has_alpha = true;
			i++;
		}
		if (i == start)
		{
			*why = "has an empty label";
			return false;
		}
		if (i - start > CF_LABEL_MAX)
		{
			*why = "has a label longer than 63 characters";
			return false;
		}
		if (s[start] == '-' || s[i - 1] == '-')
		{
			*why = "has a label that starts or ends with a hyphen";
			return false;
		}
		labels++;
		last_has_alpha = has_alpha;
		last_len = i - start;
		i++;					/* skip the dot (or step past the end) */
	}
	if (labels < 2)
	{
		*why = "has no top-level domain";
		return false;
	}
	if (!last_has_alpha || last_len < 2)
	{
		*why = "has an implausible top-level domain";
		return false;
	}
	return true;
}

/* Is s[0..len) an IPv6 literal body (between the brackets)? */
static bool
cf_is_ipv6(const char *s, size_t len)
{
	size_t		i;
	int			colons = 0;

	if (len < 2 || len > 45)
		return false;
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c == ':')
			colons++;
		else if (!(cf_is_alnum(c) && (c <= '9' || (c | 0x20) <= 'f')) && c != '.')
			return false;
	}
	return colons >= 2 && colons <= 7;
}

bool
cf_url_check(CfText t, char *reason, size_t sz)
{
	const char *s = t.ptr;
	size_t		len = t.len;
	size_t		i;
	size_t		start;
	size_t		end;
	size_t		host_end;
	const char *why = NULL;
	char		q[CF_QUOTE_MAX + 4];

	if (cf_char_count(t) > CF_URL_MAX)
		return cf_fail(reason, sz, "the URL is longer than %d characters", CF_URL_MAX);
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c <= 0x20 || c == 0x7F)
			return cf_fail(reason, sz, "the URL contains a space or control character");
	}
	if (len >= 7 && strncasecmp(s, "http://", 7) == 0)
		start = 7;
	else if (len >= 8 && strncasecmp(s, "https://", 8) == 0)
		start = 8;
	else
		return cf_fail(reason, sz, "\"%s\" does not start with http:// or https://", cf_quote(t, q));

	/* the authority: up to the first '/', '?' or '#' */
	end = start;
	while (end < len && s[end] != '/' && s[end] != '?' && s[end] != '#')
		end++;
	for (i = start; i < end; i++)
		if (s[i] == '@')
			return cf_fail(reason, sz, "the URL must not carry a user name or password");

	/* the host, then an optional :port */
	if (start < end && s[start] == '[')
	{
		host_end = start + 1;
		while (host_end < end && s[host_end] != ']')
			host_end++;
		if (host_end >= end || !cf_is_ipv6(s + start + 1, host_end - start - 1))
			return cf_fail(reason, sz, "the URL has an invalid IPv6 host");
		host_end++;
	}
	else
	{
		host_end = start;
		while (host_end < end && s[host_end] != ':')
			host_end++;
		if (!cf_is_ipv4(s + start, host_end - start) &&
			!cf_is_domain(s + start, host_end - start, &why))
			return cf_fail(reason, sz, "the host of the URL %s", why ? why : "is not valid");
	}
	if (host_end < end)
	{
		unsigned long port = 0;
		size_t		digits = 0;

		if (s[host_end] != ':')
			return cf_fail(reason, sz, "the URL has an invalid port");
		for (i = host_end + 1; i < end; i++, digits++)
		{
			if (s[i] < '0' || s[i] > '9' || digits >= 5)
				return cf_fail(reason, sz, "the URL has an invalid port");
			port = port * 10 + (unsigned long) (s[i] - '0');
		}
		if (digits == 0 || port == 0 || port > 65535)
			return cf_fail(reason, sz, "the URL has an invalid port");
	}
	return true;
}

/*
 * An e-mail address is what the crm.email type accepts: the one parser,
 * email_parse.c, decides (so a custom field, the type and the duplicate keys
 * never disagree).  Blanks around the address are allowed, as the type trims
 * them.
 */
bool
cf_email_check(CfText t, char *reason, size_t sz)
{
	email_parts parts;
	email_status st = email_parse_ex(t.ptr, t.len, &parts);
	char		detail[EMAIL_DESCRIBE_BUFSZ];
	char		q[CF_QUOTE_MAX + 4];

	if (st == EMAIL_OK)
		return true;
	email_describe(t.ptr, t.len, st, &parts, detail, sizeof(detail));
	return cf_fail(reason, sz, "\"%s\" is not a valid e-mail address: %s", cf_quote(t, q), detail);
}

/*
 * A phone number is what the crm.phone type accepts without a default
 * country (phone_parse.c decides): international form, "+<country code>
 * <number>" or "00<country code> <number>", with an optional extension.  A
 * national number cannot be read the same way in every session (it depends
 * on crm.default_country), while a stored custom-field value is checked
 * again by definition changes and crm.verify() in other sessions.
 */
bool
cf_phone_check(CfText t, char *reason, size_t sz)
{
	phone_error err;
	phone_status st = phone_parse(t.ptr, t.len, NULL, 0, NULL, &err);
	char		detail[PHONE_DESCRIBE_BUFSZ];
	char		q[CF_QUOTE_MAX + 4];

	if (st == PHONE_OK)
		return true;
	phone_describe(st, &err, detail, sizeof(detail));
	return cf_fail(reason, sz, "\"%s\" is not a valid phone number: %s", cf_quote(t, q), detail);
}

/* ------------------------------------------------------------------------
 * Values and options
 * ------------------------------------------------------------------------
 */

/* Number of characters of UTF-8 text (bytes that do not continue one). */
static size_t
cf_char_count(CfText t)
{
	size_t		n = 0;
	size_t		i;

	for (i = 0; i < t.len; i++)
		if (((unsigned char) t.ptr[i] & 0xC0) != 0x80)
			n++;
	return n;
}

static bool
cf_text_equal(CfText a, CfText b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* Is t one of the choices? */
static bool
cf_is_choice(const CfOptions *opts, CfText t)
{
	size_t		i;

	if (opts == NULL)
		return false;
	for (i = 0; i < opts->nchoices; i++)
		if (cf_text_equal(opts->choices[i], t))
			return true;
	return false;
}

/* Write "t" is not one of the options ("a", "b", ...) into reason. */
static bool
cf_not_a_choice(const CfOptions *opts, CfText t, const char *what, char *reason, size_t sz)
{
	char		q[CF_QUOTE_MAX + 4];
	size_t		used;
	size_t		i;

	cf_fail(reason, sz, "%s\"%s\" is not one of the options (", what, cf_quote(t, q));
	if (reason == NULL || sz == 0)
		return false;
	used = strlen(reason);
	for (i = 0; opts != NULL && i < opts->nchoices; i++)
	{
		/* room for this choice, the separator and a closing "...)" */
		size_t		need = strlen(cf_quote(opts->choices[i], q)) + 6;

		if (used + need + 5 >= sz)
		{
			snprintf(reason + used, sz - used, "...");
			used = strlen(reason);
			break;
		}
		snprintf(reason + used, sz - used, "%s\"%s\"", i > 0 ? ", " : "", q);
		used = strlen(reason);
	}
	snprintf(reason + used, sz - used, ")");
	return false;
}

/* The kind check common to all types. */
static bool
cf_expect_kind(CfFieldType type, const CfValue *v, CfKind kind, char *reason, size_t sz)
{
	if (v->kind != kind)
		return cf_fail(reason, sz, "expected %s, got %s", cf_type_expectation(type), cf_kind_name(v->kind));
	return true;
}

bool
cf_validate_value(CfFieldType type, const CfOptions *opts, const CfValue *v, char *reason, size_t sz)
{
	char		q[CF_QUOTE_MAX + 4];
	CfNumber	n;
	size_t		i,
				j;

	if (reason != NULL && sz > 0)
		reason[0] = '\0';
	if (v == NULL)
		return cf_fail(reason, sz, "no value");
	if (type == CF_TYPE_INVALID)
		return cf_fail(reason, sz, "the field has an unknown type");
	if (v->kind == CF_KIND_NULL)
		return true;			/* no value: always acceptable here */
	if ((v->kind == CF_KIND_STRING || v->kind == CF_KIND_NUMBER || v->kind == CF_KIND_BOOL) &&
		v->text.ptr == NULL && v->text.len > 0)
		return cf_fail(reason, sz, "the value has no text");

	switch (type)
	{
		case CF_TYPE_TEXT:
			if (!cf_expect_kind(type, v, CF_KIND_STRING, reason, sz))
				return false;
			if (opts != NULL && opts->max_length >= 0 &&
				cf_char_count(v->text) > (unsigned long long) opts->max_length)
				return cf_fail(reason, sz, "the text has %zu characters, at most %lld are allowed",
							   cf_char_count(v->text), opts->max_length);
			return true;

		case CF_TYPE_NUMBER:
		case CF_TYPE_CURRENCY:
			if (!cf_expect_kind(type, v, CF_KIND_NUMBER, reason, sz))
				return false;
			if (!cf_number_parse(v->text, &n))
				return cf_fail(reason, sz, "\"%s\" is not a valid JSON number", cf_quote(v->text, q));
			if (type == CF_TYPE_CURRENCY && n.decimals > 2)
				return cf_fail(reason, sz, "%s has %lld decimal places, a currency amount has at most 2",
							   cf_quote(v->text, q), n.decimals);
			return cf_number_bounds(&n, v->text, opts, reason, sz);

		case CF_TYPE_DATE:
			if (!cf_expect_kind(type, v, CF_KIND_STRING, reason, sz))
				return false;
			return cf_date_check(v->text, reason, sz);

		case CF_TYPE_BOOLEAN:
			return cf_expect_kind(type, v, CF_KIND_BOOL, reason, sz);

		case CF_TYPE_PICKLIST:
			if (!cf_expect_kind(type, v, CF_KIND_STRING, reason, sz))
				return false;
			if (!cf_is_choice(opts, v->text))
				return cf_not_a_choice(opts, v->text, "", reason, sz);
			return true;

		case CF_TYPE_MULTI_PICKLIST:
			if (!cf_expect_kind(type, v, CF_KIND_ARRAY, reason, sz))
				return false;
			if (v->nelems > 0 && v->elems == NULL)
				return cf_fail(reason, sz, "the array has no elements");
			for (i = 0; i < v->nelems; i++)
			{
				const CfValue *e = &v->elems[i];

				if (e->kind != CF_KIND_STRING || (e->text.ptr == NULL && e->text.len > 0))
					return cf_fail(reason, sz, "element %zu is %s, expected a string",
								   i + 1, cf_kind_name(e->kind));
				if (!cf_is_choice(opts, e->text))
				{
					char		what[32];

					snprintf(what, sizeof(what), "element %zu ", i + 1);
					return cf_not_a_choice(opts, e->text, what, reason, sz);
				}
				for (j = 0; j < i; j++)
					if (cf_text_equal(v->elems[j].text, e->text))
						return cf_fail(reason, sz, "\"%s\" is selected twice", cf_quote(e->text, q));
			}
			return true;

		case CF_TYPE_URL:
			if (!cf_expect_kind(type, v, CF_KIND_STRING, reason, sz))
				return false;
			return cf_url_check(v->text, reason, sz);

		case CF_TYPE_EMAIL:
			if (!cf_expect_kind(type, v, CF_KIND_STRING, reason, sz))
				return false;
			return cf_email_check(v->text, reason, sz);

		case CF_TYPE_PHONE:
			if (!cf_expect_kind(type, v, CF_KIND_STRING, reason, sz))
				return false;
			return cf_phone_check(v->text, reason, sz);

		case CF_TYPE_INVALID:
			break;
	}
	return cf_fail(reason, sz, "the field has an unknown type");
}

bool
cf_check_options(CfFieldType type, const CfOptions *opts, char *reason, size_t sz)
{
	bool		picklist = type == CF_TYPE_PICKLIST || type == CF_TYPE_MULTI_PICKLIST;
	bool		numeric = type == CF_TYPE_NUMBER || type == CF_TYPE_CURRENCY;
	char		q[CF_QUOTE_MAX + 4];
	size_t		i,
				j;
	int			cmp;

	if (reason != NULL && sz > 0)
		reason[0] = '\0';
	if (type == CF_TYPE_INVALID)
		return cf_fail(reason, sz, "unknown field type");
	if (picklist && (opts == NULL || opts->nchoices == 0))
		return cf_fail(reason, sz, "a %s needs at least one option", cf_type_name(type));
	if (opts == NULL)
		return true;
	if (!picklist && opts->nchoices > 0)
		return cf_fail(reason, sz, "a %s field takes no list of options", cf_type_name(type));
	if (opts->nchoices > 0 && opts->choices == NULL)
		return cf_fail(reason, sz, "the options are missing");
	for (i = 0; i < opts->nchoices; i++)
	{
		if (opts->choices[i].len == 0)
			return cf_fail(reason, sz, "option %zu is an empty string", i + 1);
		if (opts->choices[i].ptr == NULL)
			return cf_fail(reason, sz, "option %zu has no text", i + 1);
		for (j = 0; j < i; j++)
			if (cf_text_equal(opts->choices[j], opts->choices[i]))
				return cf_fail(reason, sz, "option \"%s\" is listed twice", cf_quote(opts->choices[i], q));
	}
	if (opts->max_length >= 0 && type != CF_TYPE_TEXT)
		return cf_fail(reason, sz, "max_length applies to text fields only");
	if ((opts->min.ptr != NULL || opts->max.ptr != NULL) && !numeric)
		return cf_fail(reason, sz, "min and max apply to number and currency fields only");
	if (opts->min.ptr != NULL && !cf_number_valid(opts->min))
		return cf_fail(reason, sz, "min must be a number");
	if (opts->max.ptr != NULL && !cf_number_valid(opts->max))
		return cf_fail(reason, sz, "max must be a number");
	if (opts->min.ptr != NULL && opts->max.ptr != NULL &&
		cf_number_compare(opts->min, opts->max, &cmp) && cmp > 0)
		return cf_fail(reason, sz, "min is greater than max");
	return true;
}
