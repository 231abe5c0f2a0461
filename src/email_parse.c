/*-------------------------------------------------------------------------
 *
 * email_parse.c
 *	  Email address validation, normalisation, case-insensitive comparison
 *	  and hashing for the crm extension.
 *
 * See email_parse.h for the accepted syntax and the design rules (no
 * allocation, no global mutable state, length-bounded reads only).
 *
 *-------------------------------------------------------------------------
 */
#include "email_parse.h"
#include "utf8.h"

#include <string.h>

/* a bounded, always NUL-terminated output buffer for email_describe() */
typedef struct email_sbuf
{
	char	   *buf;
	size_t		size;
	size_t		len;
} email_sbuf;

/* True for the ASCII whitespace bytes that are trimmed or rejected. */
static int
email_is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
		c == '\v' || c == '\f';
}

/*
 * Length of an invisible character that copy and paste brings along around
 * an address, in UTF-8, starting at s[i] (i < e), or 0: U+00A0 NO-BREAK
 * SPACE, U+200B ZERO WIDTH SPACE, U+200C ZERO WIDTH NON-JOINER, U+200D ZERO
 * WIDTH JOINER, U+202F NARROW NO-BREAK SPACE, U+2060 WORD JOINER and U+FEFF
 * ZERO WIDTH NO-BREAK SPACE (byte-order mark).  They are trimmed like ASCII
 * blanks; inside the address they are refused as non-ASCII.
 */
static size_t
email_invisible_len(const char *s, size_t i, size_t e)
{
	const unsigned char *u = (const unsigned char *) s + i;
	size_t		n = e - i;

	if (n >= 2 && u[0] == 0xC2 && u[1] == 0xA0)
		return 2;
	if (n >= 3 && u[0] == 0xE2 && u[1] == 0x80 &&
		(u[2] == 0x8B || u[2] == 0x8C || u[2] == 0x8D || u[2] == 0xAF))
		return 3;
	if (n >= 3 && u[0] == 0xE2 && u[1] == 0x81 && u[2] == 0xA0)
		return 3;
	if (n >= 3 && u[0] == 0xEF && u[1] == 0xBB && u[2] == 0xBF)
		return 3;
	return 0;
}

/* Bytes of blank (ASCII or invisible) at s[b..e), from the front. */
static size_t
email_blank_prefix(const char *s, size_t b, size_t e)
{
	if (b < e && email_is_space((unsigned char) s[b]))
		return 1;
	return b < e ? email_invisible_len(s, b, e) : 0;
}

/* Bytes of blank (ASCII or invisible) ending at s[e-1], within s[b..e). */
static size_t
email_blank_suffix(const char *s, size_t b, size_t e)
{
	size_t		k;

	if (e > b && email_is_space((unsigned char) s[e - 1]))
		return 1;
	for (k = 2; k <= 3; k++)
		if (e - b >= k && email_invisible_len(s, e - k, e) == k)
			return k;
	return 0;
}

/* True for ASCII letters and digits. */
static int
email_is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9');
}

/* True for the RFC 5322 atext characters (dot-atom pieces). */
static int
email_is_atext(unsigned char c)
{
	if (email_is_alnum(c))
		return 1;
	switch (c)
	{
		case '!':
		case '#':
		case '$':
		case '%':
		case '&':
		case '\'':
		case '*':
		case '+':
		case '/':
		case '=':
		case '?':
		case '^':
		case '_':
		case '`':
		case '{':
		case '|':
		case '}':
		case '~':
		case '-':
			return 1;
		default:
			return 0;
	}
}

/* ASCII-only lower-casing, independent of the C locale. */
static unsigned char
email_fold(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char) (c + ('a' - 'A')) : c;
}

/* Record an error location and return the status. */
static email_status
email_fail(email_parts *p, email_status st, size_t off, size_t len)
{
	p->err_off = off;
	p->err_len = len;
	return st;
}

/* Check the local part s[b..e) (non-empty, already known ASCII). */
static email_status
email_check_local(const char *s, size_t b, size_t e, email_parts *p)
{
	size_t		i;

	if (e - b > EMAIL_MAX_LOCAL_LEN)
		return email_fail(p, EMAIL_LOCAL_TOO_LONG, b, e - b);
	for (i = b; i < e; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c == '.')
		{
			if (i == b || i == e - 1 || s[i - 1] == '.')
				return email_fail(p, EMAIL_LOCAL_DOT, i, 1);
		}
		else if (!email_is_atext(c))
			return email_fail(p, EMAIL_LOCAL_BAD_CHAR, i, 1);
	}
	return EMAIL_OK;
}

/* Check one domain label s[b..e). */
static email_status
email_check_label(const char *s, size_t b, size_t e, email_parts *p)
{
	size_t		i;

	if (e == b)
		return email_fail(p, EMAIL_LABEL_EMPTY, b, 0);
	if (e - b > EMAIL_MAX_LABEL_LEN)
		return email_fail(p, EMAIL_LABEL_TOO_LONG, b, e - b);
	for (i = b; i < e; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (!email_is_alnum(c) && c != '-')
			return email_fail(p, EMAIL_LABEL_BAD_CHAR, b, e - b);
	}
	if (s[b] == '-' || s[e - 1] == '-')
		return email_fail(p, EMAIL_LABEL_HYPHEN, b, e - b);
	return EMAIL_OK;
}

/* Check the domain s[b..e) (already known ASCII, no whitespace, no '@'). */
static email_status
email_check_domain(const char *s, size_t b, size_t e, email_parts *p)
{
	size_t		i = b;
	size_t		nlabels = 0;
	size_t		last_b = b;
	size_t		last_e = b;
	email_status st;

	if (e == b)
		return email_fail(p, EMAIL_DOMAIN_EMPTY, b, 0);
	if (s[b] == '[')
		return email_fail(p, EMAIL_DOMAIN_LITERAL, b, e - b);
	if (e - b > EMAIL_MAX_DOMAIN_LEN)
		return email_fail(p, EMAIL_DOMAIN_TOO_LONG, b, e - b);

	for (;;)
	{
		size_t		j = i;

		while (j < e && s[j] != '.')
			j++;
		st = email_check_label(s, i, j, p);
		if (st != EMAIL_OK)
			return st;
		nlabels++;
		last_b = i;
		last_e = j;
		if (j >= e)
			break;
		i = j + 1;				/* skip the dot; may equal e: empty label */
	}

	if (nlabels < 2)
		return email_fail(p, EMAIL_DOMAIN_ONE_LABEL, b, e - b);
	for (i = last_b; i < last_e; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return EMAIL_OK;
	}
	return email_fail(p, EMAIL_TLD_NUMERIC, last_b, last_e - last_b);
}

/* Validate s[0..len) and fill *parts (never NULL here). */
email_status
email_parse_ex(const char *s, size_t len, email_parts *parts)
{
	email_parts local;
	email_parts *p = parts ? parts : &local;
	size_t		b = 0;
	size_t		e = len;
	size_t		i;
	size_t		at = 0;
	int			nat = 0;
	email_status st;

	memset(p, 0, sizeof(*p));
	if (s == NULL)
		len = e = 0;

	while ((i = email_blank_prefix(s, b, e)) > 0)
		b += i;
	while ((i = email_blank_suffix(s, b, e)) > 0)
		e -= i;
	p->start = b;
	p->end = e;
	if (b == e)
		return email_fail(p, EMAIL_EMPTY, b, 0);
	/* a quoted local part ("john doe"@x.com) may hold anything: say so first */
	if (s[b] == '"')
		return email_fail(p, EMAIL_LOCAL_QUOTED, b, e - b);

	for (i = b; i < e; i++)
	{
		if ((unsigned char) s[i] >= 0x80)
			return email_fail(p, EMAIL_NON_ASCII, i, 1);
	}
	for (i = b; i < e; i++)
	{
		if (email_is_space((unsigned char) s[i]))
			return email_fail(p, EMAIL_WHITESPACE, i, 1);
	}
	for (i = b; i < e; i++)
	{
		if (s[i] == '@')
		{
			if (nat)
				return email_fail(p, EMAIL_MULTIPLE_AT, i, 1);
			nat = 1;
			at = i;
		}
	}
	if (!nat)
		return email_fail(p, EMAIL_NO_AT, b, e - b);
	p->at = at;

	if (at == b)
		return email_fail(p, EMAIL_LOCAL_EMPTY, b, 0);
	st = email_check_local(s, b, at, p);
	if (st != EMAIL_OK)
		return st;
	st = email_check_domain(s, at + 1, e, p);
	if (st != EMAIL_OK)
		return st;
	if (e - b > EMAIL_MAX_LEN)
		return email_fail(p, EMAIL_TOO_LONG, b, e - b);
	return EMAIL_OK;
}

/* Validate s[0..len); report trimmed span and '@' offset on success. */
email_status
email_parse(const char *s, size_t len, size_t *start, size_t *end, size_t *at)
{
	email_parts p;
	email_status st = email_parse_ex(s, len, &p);

	if (st == EMAIL_OK)
	{
		if (start)
			*start = p.start;
		if (end)
			*end = p.end;
		if (at)
			*at = p.at;
	}
	return st;
}

/* Validate and copy the canonical form (domain lower-cased) into out. */
email_status
email_normalize(const char *s, size_t len, char *out, size_t outsz,
				size_t *outlen)
{
	email_parts p;
	email_status st = email_parse_ex(s, len, &p);
	size_t		n;
	size_t		i;

	if (outlen)
		*outlen = 0;
	if (st != EMAIL_OK)
		return st;
	n = p.end - p.start;
	if (out == NULL || outsz < n)
		return EMAIL_TOO_LONG;
	for (i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char) s[p.start + i];

		out[i] = (char) (p.start + i > p.at ? email_fold(c) : c);
	}
	if (outsz > n)
		out[n] = '\0';
	if (outlen)
		*outlen = n;
	return EMAIL_OK;
}

/* Static lower-case message describing a status. */
const char *
email_status_message(email_status st)
{
	switch (st)
	{
		case EMAIL_OK:
			return "the email address is valid";
		case EMAIL_EMPTY:
			return "the email address is empty";
		case EMAIL_NO_AT:
			return "the email address has no \"@\"";
		case EMAIL_MULTIPLE_AT:
			return "the email address has more than one \"@\"";
		case EMAIL_LOCAL_EMPTY:
			return "the part before \"@\" is empty";
		case EMAIL_LOCAL_TOO_LONG:
			return "the part before \"@\" is longer than 64 characters";
		case EMAIL_LOCAL_BAD_CHAR:
			return "the part before \"@\" contains a character that is not allowed";
		case EMAIL_LOCAL_DOT:
			return "the part before \"@\" begins or ends with a dot or has two dots in a row";
		case EMAIL_LOCAL_QUOTED:
			return "quoted local parts are not supported";
		case EMAIL_DOMAIN_EMPTY:
			return "the domain after \"@\" is empty";
		case EMAIL_DOMAIN_TOO_LONG:
			return "the domain is longer than 255 characters";
		case EMAIL_DOMAIN_LITERAL:
			return "domain literals such as [192.0.2.1] are not supported";
		case EMAIL_LABEL_EMPTY:
			return "the domain has an empty label (leading, trailing or double dot)";
		case EMAIL_LABEL_TOO_LONG:
			return "a domain label is longer than 63 characters";
		case EMAIL_LABEL_BAD_CHAR:
			return "the domain contains a character other than letters, digits, hyphens and dots";
		case EMAIL_LABEL_HYPHEN:
			return "a domain label begins or ends with a hyphen";
		case EMAIL_DOMAIN_ONE_LABEL:
			return "the domain has no dot (at least two labels are required)";
		case EMAIL_TLD_NUMERIC:
			return "the top-level domain is all digits";
		case EMAIL_TOO_LONG:
			return "the email address is longer than 254 characters";
		case EMAIL_NON_ASCII:
			return "the email address contains a non-ASCII character (international domains must use the xn-- form)";
		case EMAIL_WHITESPACE:
			return "the email address contains whitespace";
	}
	return "unknown email status";
}

/* Short stable identifier of a status. */
const char *
email_status_name(email_status st)
{
	switch (st)
	{
		case EMAIL_OK:
			return "ok";
		case EMAIL_EMPTY:
			return "empty";
		case EMAIL_NO_AT:
			return "no_at";
		case EMAIL_MULTIPLE_AT:
			return "multiple_at";
		case EMAIL_LOCAL_EMPTY:
			return "local_empty";
		case EMAIL_LOCAL_TOO_LONG:
			return "local_too_long";
		case EMAIL_LOCAL_BAD_CHAR:
			return "local_bad_char";
		case EMAIL_LOCAL_DOT:
			return "local_dot";
		case EMAIL_LOCAL_QUOTED:
			return "local_quoted";
		case EMAIL_DOMAIN_EMPTY:
			return "domain_empty";
		case EMAIL_DOMAIN_TOO_LONG:
			return "domain_too_long";
		case EMAIL_DOMAIN_LITERAL:
			return "domain_literal";
		case EMAIL_LABEL_EMPTY:
			return "label_empty";
		case EMAIL_LABEL_TOO_LONG:
			return "label_too_long";
		case EMAIL_LABEL_BAD_CHAR:
			return "label_bad_char";
		case EMAIL_LABEL_HYPHEN:
			return "label_hyphen";
		case EMAIL_DOMAIN_ONE_LABEL:
			return "domain_one_label";
		case EMAIL_TLD_NUMERIC:
			return "tld_numeric";
		case EMAIL_TOO_LONG:
			return "too_long";
		case EMAIL_NON_ASCII:
			return "non_ascii";
		case EMAIL_WHITESPACE:
			return "whitespace";
	}
	return "unknown";
}

/* Append a NUL-terminated string, truncating at the buffer end. */
static void
email_sb_puts(email_sbuf *sb, const char *str)
{
	while (*str)
	{
		if (sb->len + 1 < sb->size)
			sb->buf[sb->len++] = *str;
		str++;
	}
	if (sb->size > 0)
		sb->buf[sb->len] = '\0';
}

/* Append an unsigned decimal number. */
static void
email_sb_putnum(email_sbuf *sb, size_t v)
{
	char		tmp[24];
	size_t		n = 0;
	char		out[24];
	size_t		k = 0;

	do
	{
		tmp[n++] = (char) ('0' + (v % 10));
		v /= 10;
	} while (v > 0 && n < sizeof(tmp));
	while (n > 0)
		out[k++] = tmp[--n];
	out[k] = '\0';
	email_sb_puts(sb, out);
}

/* Append one input byte in printable, escaped form (x, \", \\ or \xNN). */
static void
email_sb_putbyte(email_sbuf *sb, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";
	char		tmp[5];

	if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '\'')
	{
		tmp[0] = (char) c;
		tmp[1] = '\0';
	}
	else if (c == '"' || c == '\\' || c == '\'')
	{
		tmp[0] = '\\';
		tmp[1] = (char) c;
		tmp[2] = '\0';
	}
	else
	{
		tmp[0] = '\\';
		tmp[1] = 'x';
		tmp[2] = hex[c >> 4];
		tmp[3] = hex[c & 15];
		tmp[4] = '\0';
	}
	email_sb_puts(sb, tmp);
}

/* Append s[off..off+n) in double quotes, shortened to 64 bytes. */
/* Append "U+00A0" and, for the invisible characters, their name. */
static void
email_sb_putcp(email_sbuf *sb, int32_t cp)
{
	static const struct
	{
		int32_t		cp;
		const char *name;
	}			names[] =
	{
		{0x00A0, "NO-BREAK SPACE"}, {0x200B, "ZERO WIDTH SPACE"},
		{0x200C, "ZERO WIDTH NON-JOINER"}, {0x200D, "ZERO WIDTH JOINER"},
		{0x202F, "NARROW NO-BREAK SPACE"}, {0x2060, "WORD JOINER"},
		{0xFEFF, "ZERO WIDTH NO-BREAK SPACE"}
	};
	char		tmp[UTF8_CP_BUFSZ];
	size_t		k;

	utf8_format_cp(cp, tmp);
	email_sb_puts(sb, tmp);
	for (k = 0; k < sizeof(names) / sizeof(names[0]); k++)
		if (names[k].cp == cp)
		{
			email_sb_puts(sb, " ");
			email_sb_puts(sb, names[k].name);
		}
}

static void
email_sb_quote(email_sbuf *sb, const char *s, size_t off, size_t n)
{
	size_t		i;
	size_t		show = n > 64 ? 61 : n;

	email_sb_puts(sb, "\"");
	for (i = 0; i < show; i++)
		email_sb_putbyte(sb, (unsigned char) s[off + i]);
	if (show < n)
		email_sb_puts(sb, "...");
	email_sb_puts(sb, "\"");
}

/* Append a quoted single character, e.g. '_'. */
static void
email_sb_char(email_sbuf *sb, unsigned char c)
{
	email_sb_puts(sb, "'");
	email_sb_putbyte(sb, c);
	email_sb_puts(sb, "'");
}

/* Write a detailed message for status st about input s (see header). */
size_t
email_describe(const char *s, size_t len, email_status st,
			   const email_parts *parts, char *buf, size_t bufsz)
{
	email_sbuf	sb;
	size_t		off = 0;
	size_t		n = 0;
	size_t		i;

	sb.buf = buf;
	sb.size = (buf != NULL) ? bufsz : 0;
	sb.len = 0;
	if (sb.size > 0)
		buf[0] = '\0';

	/* fall back to the static message if the location is unusable */
	if (parts != NULL && s != NULL)
	{
		off = parts->err_off;
		n = parts->err_len;
	}
	if (parts == NULL || s == NULL || off > len || n > len - off)
	{
		email_sb_puts(&sb, email_status_message(st));
		return sb.len;
	}

	switch (st)
	{
		case EMAIL_MULTIPLE_AT:
			email_sb_puts(&sb, "the email address has a second \"@\" at position ");
			email_sb_putnum(&sb, off + 1);
			break;
		case EMAIL_LOCAL_TOO_LONG:
			email_sb_puts(&sb, "the part before \"@\" is ");
			email_sb_putnum(&sb, n);
			email_sb_puts(&sb, " characters long (at most 64 are allowed)");
			break;
		case EMAIL_LOCAL_BAD_CHAR:
			if (n != 1)
				goto fallback;
			email_sb_puts(&sb, "the part before \"@\" contains the character ");
			email_sb_char(&sb, (unsigned char) s[off]);
			email_sb_puts(&sb, " at position ");
			email_sb_putnum(&sb, off + 1);
			email_sb_puts(&sb, ", which is not allowed");
			break;
		case EMAIL_LOCAL_DOT:
			if (parts->at <= parts->start || parts->at > len)
				goto fallback;
			email_sb_puts(&sb, "the part before \"@\" ");
			email_sb_quote(&sb, s, parts->start, parts->at - parts->start);
			if (off == parts->start)
				email_sb_puts(&sb, " begins with a dot");
			else if (off + 1 == parts->at)
				email_sb_puts(&sb, " ends with a dot");
			else
				email_sb_puts(&sb, " has two dots in a row");
			break;
		case EMAIL_DOMAIN_TOO_LONG:
			email_sb_puts(&sb, "the domain is ");
			email_sb_putnum(&sb, n);
			email_sb_puts(&sb, " characters long (at most 255 are allowed)");
			break;
		case EMAIL_LABEL_EMPTY:
			if (parts->at >= parts->end || parts->end > len)
				goto fallback;
			email_sb_puts(&sb, "the domain ");
			email_sb_quote(&sb, s, parts->at + 1, parts->end - parts->at - 1);
			if (off == parts->at + 1)
				email_sb_puts(&sb, " begins with a dot");
			else if (off == parts->end)
				email_sb_puts(&sb, " ends with a dot");
			else
				email_sb_puts(&sb, " has two dots in a row");
			break;
		case EMAIL_LABEL_TOO_LONG:
			email_sb_puts(&sb, "the domain label ");
			email_sb_quote(&sb, s, off, n);
			email_sb_puts(&sb, " is ");
			email_sb_putnum(&sb, n);
			email_sb_puts(&sb, " characters long (at most 63 are allowed)");
			break;
		case EMAIL_LABEL_BAD_CHAR:
			for (i = off; i < off + n; i++)
			{
				unsigned char c = (unsigned char) s[i];

				if (!email_is_alnum(c) && c != '-')
					break;
			}
			if (i >= off + n)
				goto fallback;
			email_sb_puts(&sb, "the domain label ");
			email_sb_quote(&sb, s, off, n);
			email_sb_puts(&sb, " contains the character ");
			email_sb_char(&sb, (unsigned char) s[i]);
			email_sb_puts(&sb, ", which is not allowed");
			break;
		case EMAIL_LABEL_HYPHEN:
			if (n == 0)
				goto fallback;
			email_sb_puts(&sb, "the domain label ");
			email_sb_quote(&sb, s, off, n);
			email_sb_puts(&sb, s[off] == '-' ? " begins with a hyphen"
						  : " ends with a hyphen");
			break;
		case EMAIL_DOMAIN_ONE_LABEL:
			email_sb_puts(&sb, "the domain ");
			email_sb_quote(&sb, s, off, n);
			email_sb_puts(&sb, " has no dot (at least two labels are required)");
			break;
		case EMAIL_TLD_NUMERIC:
			email_sb_puts(&sb, "the top-level domain ");
			email_sb_quote(&sb, s, off, n);
			email_sb_puts(&sb, " is all digits");
			break;
		case EMAIL_TOO_LONG:
			email_sb_puts(&sb, "the email address is ");
			email_sb_putnum(&sb, n);
			email_sb_puts(&sb, " characters long (at most 254 are allowed)");
			break;
		case EMAIL_NON_ASCII:
			if (n != 1)
				goto fallback;
			{
				int32_t		cp;

				(void) utf8_decode(s + off, len - off, &cp);
				if (cp == UTF8_INVALID)
				{
					email_sb_puts(&sb, "the email address contains the non-ASCII byte ");
					email_sb_putbyte(&sb, (unsigned char) s[off]);
				}
				else
				{
					email_sb_puts(&sb, "the email address contains the character ");
					email_sb_putcp(&sb, cp);
				}
			}
			email_sb_puts(&sb, " at position ");
			email_sb_putnum(&sb, off + 1);
			email_sb_puts(&sb, " (international domains must use the xn-- form)");
			break;
		case EMAIL_WHITESPACE:
			if (n != 1)
				goto fallback;
			email_sb_puts(&sb, "the email address contains whitespace (");
			email_sb_putbyte(&sb, (unsigned char) s[off]);
			email_sb_puts(&sb, ") at position ");
			email_sb_putnum(&sb, off + 1);
			break;
		default:
			goto fallback;
	}
	return sb.len;

fallback:
	sb.len = 0;
	if (sb.size > 0)
		buf[0] = '\0';
	email_sb_puts(&sb, email_status_message(st));
	return sb.len;
}

/* Compare ASCII-case-folded bytes, then lengths. */
int
email_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t		n = alen < blen ? alen : blen;
	size_t		i;

	for (i = 0; i < n; i++)
	{
		unsigned char ca = email_fold((unsigned char) a[i]);
		unsigned char cb = email_fold((unsigned char) b[i]);

		if (ca != cb)
			return ca < cb ? -1 : 1;
	}
	if (alen == blen)
		return 0;
	return alen < blen ? -1 : 1;
}

/* splitmix64 finaliser: a full-avalanche 64-bit mixer. */
static uint64_t
email_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	x ^= x >> 31;
	return x;
}

/* Copy with ASCII letters lower-cased (see email_parse.h). */
void
email_fold_copy(const char *s, size_t len, char *out)
{
	size_t		i;

	for (i = 0; i < len; i++)
		out[i] = (char) email_fold((unsigned char) s[i]);
}

/* Seeded FNV-1a over the folded bytes, finished with a mixer. */
uint64_t
email_hash_folded(const char *s, size_t len, uint64_t seed)
{
	uint64_t	h = UINT64_C(0xcbf29ce484222325) ^ email_mix64(seed);
	size_t		i;

	for (i = 0; i < len; i++)
	{
		h ^= email_fold((unsigned char) s[i]);
		h *= UINT64_C(0x100000001b3);
	}
	return email_mix64(h ^ (uint64_t) len);
}
