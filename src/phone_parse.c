/*-------------------------------------------------------------------------
 *
 * phone_parse.c
 *	  Parsing of typed telephone numbers into E.164, validation, and
 *	  formatting (E.164, international, national) for the crm extension.
 *
 * See phone_parse.h for what is accepted and how numbers are validated,
 * and phone_data.c for the numbering-plan tables.
 *
 * Everything works on caller-provided memory with explicit lengths; the
 * only state is the const tables.  Digit counts are capped while scanning
 * (PHONE_SCAN_MAX), so no arithmetic can overflow whatever the input size.
 *
 *-------------------------------------------------------------------------
 */
#include "phone_parse.h"
#include "phone_lpn.h"
#include "utf8.h"
#include "phone_data.h"

#include <string.h>

/* digits kept while scanning; any more means "too many digits" anyway */
#define PHONE_SCAN_MAX		32

/* most groups any formatting rule produces */
#define PHONE_MAX_GROUPS	6

/* result of the lexical scan of the input */
typedef struct phone_scan
{
	char		digits[PHONE_SCAN_MAX];
	size_t		ndigits;		/* digits seen (kept: min(ndigits, MAX)) */
	char		ext[PHONE_MAX_EXT];
	size_t		next;			/* extension digits seen */
	int			plus;			/* a '+' preceded the digits */
} phone_scan;

/* bounded, always NUL-terminated text writer; failed if it overflowed */
typedef struct phone_out
{
	char	   *buf;
	size_t		size;
	size_t		len;
	int			failed;
} phone_out;

/* True for an ASCII decimal digit. */
static int
phone_is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* True for the ASCII whitespace bytes trimmed or used as separators. */
static int
phone_is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
		c == '\v' || c == '\f';
}

/* True for the visual separators allowed between digits. */
static int
phone_is_separator(unsigned char c)
{
	return phone_is_space(c) || c == '-' || c == '.' || c == '(' ||
		c == ')' || c == '/';
}

/* ASCII-only lower-casing, independent of the C locale. */
static unsigned char
phone_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char) (c + ('a' - 'A')) : c;
}

/* True if s[0..n) starts with the lower-case word w (case-insensitive). */
static int
phone_has_word(const char *s, size_t n, const char *w)
{
	size_t		k = strlen(w);
	size_t		i;

	if (n < k)
		return 0;
	for (i = 0; i < k; i++)
	{
		if (phone_lower((unsigned char) s[i]) != (unsigned char) w[i])
			return 0;
	}
	return 1;
}

/*
 * What people paste
 * -----------------
 * The input is first normalised to ASCII (phone_normalize): digits of other
 * scripts become ASCII digits, the full-width plus sign '+', Unicode spaces,
 * dashes and full-width punctuation their ASCII separators, and invisible
 * characters disappear; every other character becomes PHONE_NORM_BAD.  Each
 * normalised byte remembers the offset of the character it came from, so an
 * error names the character as typed.
 */
#define PHONE_NORM_MAX		256
#define PHONE_NORM_BAD		'\001'

typedef struct phone_norm
{
	char		buf[PHONE_NORM_MAX];
	size_t		off[PHONE_NORM_MAX];	/* input offset of each byte */
	size_t		len;
} phone_norm;

/*
 * The ASCII a non-ASCII code point stands for in a phone number: a digit,
 * '+', a separator; 0 for an invisible character (dropped); PHONE_NORM_BAD
 * for anything else.
 */
static char
phone_map_cp(int32_t cp)
{
	static const int32_t digit_zero[] = {
		0x0660,					/* ARABIC-INDIC DIGIT ZERO */
		0x06F0,					/* EXTENDED ARABIC-INDIC (Persian, Urdu) */
		0x0966,					/* DEVANAGARI */
		0x09E6,					/* BENGALI */
		0xFF10					/* FULLWIDTH */
	};
	size_t		i;

	for (i = 0; i < sizeof(digit_zero) / sizeof(digit_zero[0]); i++)
		if (cp >= digit_zero[i] && cp <= digit_zero[i] + 9)
			return (char) ('0' + (cp - digit_zero[i]));
	switch (cp)
	{
		case 0xFF0B:			/* FULLWIDTH PLUS SIGN */
			return '+';
		case 0x00A0:			/* NO-BREAK SPACE */
		case 0x202F:			/* NARROW NO-BREAK SPACE */
		case 0x205F:			/* MEDIUM MATHEMATICAL SPACE */
		case 0x3000:			/* IDEOGRAPHIC SPACE */
			return ' ';
		case 0x2010:			/* HYPHEN ... HORIZONTAL BAR */
		case 0x2011:
		case 0x2012:
		case 0x2013:
		case 0x2014:
		case 0x2015:
		case 0x2212:			/* MINUS SIGN */
		case 0x30FC:			/* KATAKANA-HIRAGANA PROLONGED SOUND MARK */
		case 0xFF0D:			/* FULLWIDTH HYPHEN-MINUS */
			return '-';
		case 0xFF08:			/* FULLWIDTH LEFT PARENTHESIS */
		case 0xFF3B:			/* FULLWIDTH LEFT SQUARE BRACKET */
			return '(';
		case 0xFF09:
		case 0xFF3D:
			return ')';
		case 0xFF0E:			/* FULLWIDTH FULL STOP */
			return '.';
		case 0xFF0F:			/* FULLWIDTH SOLIDUS */
			return '/';
		case 0x00AD:			/* SOFT HYPHEN */
		case 0x200B:			/* ZERO WIDTH SPACE */
		case 0x200C:			/* ZERO WIDTH NON-JOINER */
		case 0x200D:			/* ZERO WIDTH JOINER */
		case 0x2060:			/* WORD JOINER */
		case 0xFEFF:			/* ZERO WIDTH NO-BREAK SPACE (byte-order mark) */
			return 0;
		default:
			if (cp >= 0x2000 && cp <= 0x200A)	/* EN QUAD ... HAIR SPACE */
				return ' ';
			return PHONE_NORM_BAD;
	}
}

/* Normalise s[0..len) into *nm; PHONE_TOO_LONG when it does not fit. */
static phone_status
phone_normalize(const char *s, size_t len, phone_norm *nm, phone_error *err)
{
	size_t		i = 0;
	size_t		n;

	nm->len = 0;
	while (i < len)
	{
		int32_t		cp;
		char		c;

		n = utf8_decode(s + i, len - i, &cp);
		/* not UTF-8, or a NUL byte: no character of a number */
		if (cp <= 0)
			c = PHONE_NORM_BAD;
		else
			c = cp < 0x80 ? (char) cp : phone_map_cp(cp);

		if (c != 0)
		{
			if (nm->len == PHONE_NORM_MAX)
			{
				err->max_digits = PHONE_MAX_DIGITS;
				err->ndigits = PHONE_NORM_MAX;
				return PHONE_TOO_LONG;
			}
			nm->buf[nm->len] = c;
			nm->off[nm->len] = i;
			nm->len++;
		}
		i += n;
	}
	return PHONE_OK;
}

/* Fill err for the bad character at normalised offset k. */
static phone_status
phone_bad_char(phone_error *err, const char *s, size_t len,
			   const phone_norm *nm, size_t k)
{
	size_t		pos = nm->off[k];
	size_t		i;
	int32_t		cp;
	size_t		n = utf8_decode(s + pos, len - pos, &cp);

	err->pos = pos;
	err->ch = (unsigned char) s[pos];
	err->cp = cp < 0 ? 0 : (uint32_t) cp;
	err->text_len = 0;
	if (cp >= 0x80)
	{
		memcpy(err->text, s + pos, n);
		err->text_len = (uint8_t) n;
	}
	/* the position in characters: the bytes that begin one before pos */
	err->char_pos = 1;
	for (i = 0; i < pos; i++)
		if (((unsigned char) s[i] & 0xC0) != 0x80)
			err->char_pos++;
	return PHONE_BAD_CHAR;
}

/* True for an ASCII letter. */
static int
phone_is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* The keypad digit of a letter (ABC 2 ... WXYZ 9). */
static char
phone_keypad_digit(unsigned char c)
{
	static const char keypad[] = "22233344455566677778889999";

	return keypad[phone_lower(c) - 'a'];
}

/*
 * The extension at the end of b[lo..hi): a marker ("ext", "ext.",
 * "extension", "extn", "anexo", "x", "#", ";ext=", optionally preceded by a
 * comma and followed by '.', ':' or blanks) and up to the end only digits.
 * Returns the marker's start (the end of the number) and sets the digits'
 * span, or returns hi when there is none.  A marker must follow a digit of
 * the number and must not continue a word (1-800-FEDEX has no extension).
 */
static size_t
phone_find_ext(const char *b, size_t lo, size_t hi, size_t *dstart)
{
	static const char *const markers[] = {
		"extension", ";ext=", "extn", "anexo", "ext", "x", "#"
	};
	size_t		j = hi;
	size_t		d,
				m,
				i;

	while (j > lo && phone_is_digit((unsigned char) b[j - 1]))
		j--;
	d = j;
	while (j > lo && (b[j - 1] == '.' || b[j - 1] == ':' || phone_is_space((unsigned char) b[j - 1])))
		j--;
	for (m = 0; m < sizeof(markers) / sizeof(markers[0]); m++)
	{
		size_t		k = strlen(markers[m]);
		size_t		start;
		int			digit_before = 0;

		if (j - lo < k || !phone_has_word(b + j - k, k, markers[m]))
			continue;
		start = j - k;
		if (start > lo && phone_is_alpha((unsigned char) b[start - 1]))
			continue;
		for (i = lo; i < start; i++)
			digit_before |= phone_is_digit((unsigned char) b[i]);
		if (!digit_before)
			continue;
		while (start > lo && (b[start - 1] == ',' || phone_is_space((unsigned char) b[start - 1])))
			start--;
		*dstart = d;
		return start;
	}
	return hi;
}

/*
 * Lexical pass: collect '+', digits and extension, reject anything else.
 * A label before the number ("tel:", "Phone:", "M.:") is skipped; letters
 * are read as keypad digits when the number has at least three of them
 * after at least two digits (1-800-FLOWERS), libphonenumber's rule, so
 * that "01OO" and "abc" stay errors.
 */
static phone_status
phone_scan_input(const char *s, size_t len, phone_scan *sc, phone_error *err)
{
	phone_norm	nm;
	const char *t = nm.buf;
	size_t		b = 0;
	size_t		e;
	size_t		i;
	size_t		end;
	size_t		dstart = 0;
	size_t		letters = 0;
	size_t		digits_first = 0;
	phone_status st = phone_normalize(s, len, &nm, err);

	if (st != PHONE_OK)
		return st;
	e = nm.len;
	while (b < e && phone_is_space((unsigned char) t[b]))
		b++;
	while (e > b && phone_is_space((unsigned char) t[e - 1]))
		e--;
	if (b == e)
		return PHONE_EMPTY;

	/* a label: letters, blanks and dots up to a ':' before the number */
	for (i = b; i < e && (phone_is_alpha((unsigned char) t[i]) || t[i] == '.' ||
						  phone_is_space((unsigned char) t[i])); i++)
		;
	if (i < e && i > b && t[i] == ':' && phone_is_alpha((unsigned char) t[b]))
	{
		b = i + 1;
		while (b < e && phone_is_space((unsigned char) t[b]))
			b++;
	}

	end = phone_find_ext(t, b, e, &dstart);
	for (i = b; i < end; i++)
	{
		if (phone_is_alpha((unsigned char) t[i]))
			letters++;
		else if (phone_is_digit((unsigned char) t[i]) && letters == 0)
			digits_first++;
	}
	/* a vanity number: three letters or more, after at least two digits */
	if (digits_first < 2)
		letters = 0;

	for (i = b; i < end; i++)
	{
		unsigned char c = (unsigned char) t[i];

		if (letters >= 3 && phone_is_alpha(c))
			c = (unsigned char) phone_keypad_digit(c);
		if (phone_is_digit(c))
		{
			if (sc->ndigits < PHONE_SCAN_MAX)
				sc->digits[sc->ndigits] = (char) c;
			if (sc->ndigits <= PHONE_SCAN_MAX)
				sc->ndigits++;
		}
		else if (c == '+' && sc->ndigits == 0 && !sc->plus)
			sc->plus = 1;
		else if (!phone_is_separator(c))
			return phone_bad_char(err, s, len, &nm, i);
	}
	if (end == e)
		return PHONE_OK;

	/* the extension digits */
	for (i = dstart; i < e; i++)
	{
		if (sc->next < PHONE_MAX_EXT)
			sc->ext[sc->next] = t[i];
		if (sc->next <= PHONE_MAX_EXT)
			sc->next++;
	}
	if (sc->next == 0)
		return PHONE_EXT_EMPTY;
	if (sc->next > PHONE_MAX_EXT)
	{
		err->ndigits = (unsigned) sc->next;
		err->max_digits = PHONE_MAX_EXT;
		return PHONE_EXT_TOO_LONG;
	}
	return PHONE_OK;
}

/* True if d[0..n) begins with the digit string p[0..k). */
static int
phone_starts(const char *d, size_t n, const char *p, size_t k)
{
	return k > 0 && k <= n && memcmp(d, p, k) == 0;
}

/*
 * Longest entry of the '|'-separated list that d[0..n) starts with, and
 * whose removal leaves a length in [lo, hi] (if must_fit); 0 if none.
 */
static size_t
phone_list_match(const char *list, const char *d, size_t n,
				 int must_fit, size_t lo, size_t hi)
{
	size_t		best = 0;
	const char *p = list;

	while (p != NULL && *p != '\0')
	{
		const char *q = strchr(p, '|');
		size_t		k = q ? (size_t) (q - p) : strlen(p);

		if (phone_starts(d, n, p, k) && k > best &&
			(!must_fit || (n - k >= lo && n - k <= hi)))
			best = k;
		p = q ? q + 1 : NULL;
	}
	return best;
}

/* Length of the international prefix of region reg that d starts with. */
static size_t
phone_intl_prefix(const phone_region_info *reg, const char *d, size_t n)
{
	size_t		k = phone_list_match(reg->intl, d, n, 0, 0, 0);

	if (k < 2 && phone_starts(d, n, "00", 2))
		k = 2;
	/*
	 * No calling code begins with 0, so digits that go on with a 0 did not
	 * begin with an international prefix (as libphonenumber reasons): in
	 * Israel, where 012..019 are international prefixes, 01800 123 456 is
	 * the national 1-800 number written with the trunk 0.
	 */
	if (k > 0 && k < n && d[k] == '0')
		return 0;
	return k;
}

/* Lower bound on the NSN length of a calling code. */
static size_t
phone_min_nsn(const phone_cc_info *info)
{
	return info->min_nsn > PHONE_MIN_NSN ? info->min_nsn : PHONE_MIN_NSN;
}

/*
 * Canada's 7-digit 310-xxxx numbers (one number for a whole province, e.g.
 * 310-HYDRO): dialled without area code, +1 310xxxx in E.164 as
 * libphonenumber writes them.
 */
static int
phone_is_nanp_310(const phone_cc_info *info, const char *nsn, size_t n)
{
	return (info->flags & PHONE_CC_NANP_310) && n == 7 &&
		nsn[0] == '3' && nsn[1] == '1' && nsn[2] == '0';
}

/* Check an NSN against its calling code's rules (shared by parse/valid). */
static phone_status
phone_check_nsn(const phone_cc_info *info, const char *nsn, size_t n,
				phone_error *err)
{
	size_t		cclen = info->cc >= 100 ? 3 : info->cc >= 10 ? 2 : 1;
	size_t		max = info->max_nsn;

	if (cclen + max > PHONE_MAX_DIGITS)
		max = PHONE_MAX_DIGITS - cclen;
	err->cc = info->cc;
	err->ndigits = (unsigned) n;
	err->min_digits = (unsigned) phone_min_nsn(info);
	err->max_digits = (unsigned) max;
	if (phone_is_nanp_310(info, nsn, n))
		return PHONE_OK;
	if (n < phone_min_nsn(info))
		return PHONE_TOO_SHORT;
	if (n > max)
		return PHONE_TOO_LONG;
	if ((info->flags & PHONE_CC_STRIP_ZERO) && nsn[0] == '0')
		return PHONE_LEADING_ZERO;
	if (info->flags & PHONE_CC_NANP)
	{
		memcpy(err->text, nsn, 3);
		err->text_len = 3;
		if (nsn[0] < '2' || (nsn[1] == '1' && nsn[2] == '1'))
			return PHONE_BAD_AREA_CODE;
		memcpy(err->text, nsn + 3, 3);
		if (nsn[3] < '2')
			return PHONE_BAD_EXCHANGE;
		err->text_len = 0;
	}
	return PHONE_OK;
}

/* Apply per-code fix-ups to (cc, NSN), validate, and fill *out. */
static phone_status
phone_finish(const phone_cc_info *info, const char *nsn, size_t n,
			 const phone_scan *sc, phone_number *out, phone_error *err)
{
	size_t		cclen = info->cc >= 100 ? 3 : info->cc >= 10 ? 2 : 1;
	phone_status st;
	unsigned	v = info->cc;
	size_t		i;
	char		ar[PHONE_MAX_DIGITS];

	/* "+44 (0)20 ...": habitual trunk 0 after the country code */
	if ((info->flags & PHONE_CC_STRIP_ZERO) && n > 0 && nsn[0] == '0')
	{
		nsn++;
		n--;
	}
	/* "+52 1 55 ...": obsolete Mexican mobile prefix */
	if ((info->flags & PHONE_CC_MX_MOBILE1) && n == 11 && nsn[0] == '1')
	{
		nsn++;
		n--;
	}
	/*
	 * "011 15-2345-6789", "+54 341 15 234 5678": Argentine mobiles written
	 * with the national mobile token 15 after the area code, which E.164
	 * writes as a 9 before it (+54 9 11 2345 6789).  Area codes have 2
	 * (Buenos Aires, 11), 3 or 4 digits, those of 3 and 4 begin with 2 or
	 * 3; with the token the number has 12 digits.
	 */
	if ((info->flags & PHONE_CC_AR_MOBILE15) && n == 12)
	{
		size_t		a = 0;

		if (nsn[0] == '1' && nsn[1] == '1' && nsn[2] == '1' && nsn[3] == '5')
			a = 2;
		else if ((nsn[0] == '2' || nsn[0] == '3') && nsn[3] == '1' && nsn[4] == '5')
			a = 3;
		else if ((nsn[0] == '2' || nsn[0] == '3') && nsn[4] == '1' && nsn[5] == '5')
			a = 4;
		if (a > 0)
		{
			ar[0] = '9';
			memcpy(ar + 1, nsn, a);
			memcpy(ar + 1 + a, nsn + a + 2, n - a - 2);
			nsn = ar;
			n = n - 1;
		}
	}
	st = phone_check_nsn(info, nsn, n, err);
	if (st != PHONE_OK)
		return st;

	for (i = cclen; i > 0; i--)
	{
		out->digits[i - 1] = (char) ('0' + v % 10);
		v /= 10;
	}
	memcpy(out->digits + cclen, nsn, n);
	out->digits[cclen + n] = '\0';
	out->ndigits = (uint8_t) (cclen + n);
	out->cc_len = (uint8_t) cclen;
	memcpy(out->ext, sc->ext, sc->next);
	out->ext[sc->next] = '\0';
	out->ext_len = (uint8_t) sc->next;
	return PHONE_OK;
}

/* True if some assigned calling code begins with the digits d[0..n). */
static int
phone_cc_prefix_exists(const char *d, size_t n)
{
	size_t		i;

	for (i = 0; i < phone_cc_table_len; i++)
	{
		char		tmp[4];
		unsigned	v = phone_cc_table[i].cc;
		size_t		k = v >= 100 ? 3 : v >= 10 ? 2 : 1;
		size_t		j;

		for (j = k; j > 0; j--)
		{
			tmp[j - 1] = (char) ('0' + v % 10);
			v /= 10;
		}
		if (n <= k && memcmp(tmp, d, n) == 0)
			return 1;
	}
	return 0;
}

/* Parse d[0..n) that starts with a country calling code. */
static phone_status
phone_parse_intl(const char *d, size_t n, const phone_scan *sc,
				 phone_number *out, phone_error *err)
{
	unsigned	v = 0;
	size_t		k;

	for (k = 1; k <= 3 && k <= n; k++)
	{
		const phone_cc_info *info;

		v = v * 10 + (unsigned) (d[k - 1] - '0');
		info = (d[0] == '0') ? NULL : phone_cc_lookup(v);
		if (info != NULL)
			return phone_finish(info, d + k, n - k, sc, out, err);
		/* codes are prefix-free: stop at the first impossible prefix */
		if (d[0] == '0' || !phone_cc_prefix_exists(d, k))
		{
			memcpy(err->text, d, k);
			err->text_len = (uint8_t) k;
			return PHONE_UNASSIGNED_CC;
		}
	}
	/* fewer than 3 digits, all a prefix of some assigned code */
	err->ndigits = (unsigned) n;
	err->min_digits = PHONE_MIN_NSN + 1;
	return PHONE_TOO_SHORT;
}

/*
 * Number of leading digits of d[0..n) to drop as national trunk prefix of
 * region reg: the longest matching prefix that leaves a valid length, or,
 * if none does and the number is too long anyway, the longest matching one.
 */
static size_t
phone_trunk_len(const phone_region_info *reg, const phone_cc_info *info,
				const char *d, size_t n)
{
	size_t		lo = phone_min_nsn(info);
	size_t		hi = info->max_nsn;
	size_t		k;
	size_t		k2;

	/* "1 310-1234": a 310 number after the trunk prefix */
	k = phone_list_match(reg->trunk, d, n, 0, 0, 0);
	if (k > 0 && k < n && phone_is_nanp_310(info, d + k, n - k))
		return k;
	k = phone_list_match(reg->trunk, d, n, 1, lo, hi);
	k2 = phone_list_match(reg->trunk_parse, d, n, 1, lo, hi);
	if (k2 > k)
		k = k2;
	if (k > 0 || n <= hi)
		return k;
	k = phone_list_match(reg->trunk, d, n, 0, 0, 0);
	k2 = phone_list_match(reg->trunk_parse, d, n, 0, 0, 0);
	return k2 > k ? k2 : k;
}

/* Parse d[0..n) as a national number of region reg. */
static phone_status
phone_parse_national(const phone_region_info *reg, const char *d, size_t n,
					 const phone_scan *sc, phone_number *out,
					 phone_error *err)
{
	const phone_cc_info *info = phone_cc_lookup(reg->cc);
	size_t		t;

	if (info == NULL)			/* cannot happen with consistent tables */
		return PHONE_UNKNOWN_COUNTRY;
	t = phone_trunk_len(reg, info, d, n);
	d += t;
	n -= t;
	/* BR: 0 + carrier code + area code + subscriber number */
	if (t > 0 && reg->carrier[0] != '\0' && n > info->max_nsn)
	{
		size_t		c = phone_list_match(reg->carrier, d, n, 1,
										 phone_min_nsn(info), info->max_nsn);

		d += c;
		n -= c;
	}
	return phone_finish(info, d, n, sc, out, err);
}

/* Parse a typed phone number; see phone_parse.h. */
phone_status
phone_parse(const char *s, size_t len, const char *region, size_t region_len,
			phone_number *out, phone_error *err)
{
	phone_error lerr;
	phone_number lout;
	phone_scan	sc;
	const phone_region_info *reg = NULL;
	phone_status st;
	size_t		k;

	if (err == NULL)
		err = &lerr;
	if (out == NULL)
		out = &lout;
	memset(err, 0, sizeof(*err));
	memset(out, 0, sizeof(*out));
	memset(&sc, 0, sizeof(sc));
	if (s == NULL)
		len = 0;
	if (region == NULL)
		region_len = 0;

	if (region_len > 0)
	{
		reg = phone_region_lookup(region, region_len);
		if (reg == NULL)
		{
			size_t		n = region_len < sizeof(err->text) ?
				region_len : sizeof(err->text);

			memcpy(err->text, region, n);
			err->text_len = (uint8_t) n;
			return PHONE_UNKNOWN_COUNTRY;
		}
	}

	st = phone_scan_input(s, len, &sc, err);
	if (st != PHONE_OK)
		return st;
	if (sc.ndigits > PHONE_MAX_DIGITS + 4)
	{
		/* more than any prefix + E.164 number can account for */
		err->ndigits = (unsigned) sc.ndigits;
		err->max_digits = PHONE_MAX_DIGITS;
		return PHONE_TOO_LONG;
	}
	if (sc.ndigits == 0)
	{
		err->min_digits = PHONE_MIN_NSN + 1;
		return PHONE_TOO_SHORT;
	}

	if (sc.plus)
		st = phone_parse_intl(sc.digits, sc.ndigits, &sc, out, err);
	else if (reg != NULL)
	{
		k = phone_intl_prefix(reg, sc.digits, sc.ndigits);
		if (k > 0)
			st = phone_parse_intl(sc.digits + k, sc.ndigits - k, &sc, out, err);
		else
			st = phone_parse_national(reg, sc.digits, sc.ndigits, &sc, out, err);
	}
	else if (phone_starts(sc.digits, sc.ndigits, "00", 2))
		st = phone_parse_intl(sc.digits + 2, sc.ndigits - 2, &sc, out, err);
	else
		st = PHONE_NO_DEFAULT_COUNTRY;

	if (st != PHONE_OK)
		memset(out, 0, sizeof(*out));
	return st;
}

/* Calling-code entry of a structurally valid number, else NULL. */
static const phone_cc_info *
phone_valid_info(const phone_number *p)
{
	const phone_cc_info *info;
	phone_error err;
	unsigned	v = 0;
	size_t		i;

	if (p == NULL || p->ndigits > PHONE_MAX_DIGITS ||
		p->ext_len > PHONE_MAX_EXT || p->cc_len < 1 || p->cc_len > 3 ||
		p->cc_len >= p->ndigits)
		return NULL;
	if (p->digits[p->ndigits] != '\0' || p->ext[p->ext_len] != '\0')
		return NULL;
	for (i = 0; i < p->ndigits; i++)
	{
		if (!phone_is_digit((unsigned char) p->digits[i]))
			return NULL;
	}
	for (i = 0; i < p->ext_len; i++)
	{
		if (!phone_is_digit((unsigned char) p->ext[i]))
			return NULL;
	}
	if (p->digits[0] == '0')
		return NULL;
	for (i = 0; i < p->cc_len; i++)
		v = v * 10 + (unsigned) (p->digits[i] - '0');
	info = phone_cc_lookup(v);
	if (info == NULL)
		return NULL;
	memset(&err, 0, sizeof(err));
	if (phone_check_nsn(info, p->digits + p->cc_len,
						(size_t) (p->ndigits - p->cc_len), &err) != PHONE_OK)
		return NULL;
	return info;
}

/* True if *p is a valid number as produced by phone_parse(). */
int
phone_is_valid(const phone_number *p)
{
	return phone_valid_info(p) != NULL;
}

/* Country calling code of *p, 0 if invalid. */
int
phone_country_code(const phone_number *p)
{
	const phone_cc_info *info = phone_valid_info(p);

	return info ? (int) info->cc : 0;
}

/* Calling code of an alpha-2 region, 0 if unknown. */
int
phone_region_calling_code(const char *region, size_t region_len)
{
	const phone_region_info *reg = phone_region_lookup(region, region_len);

	return reg ? (int) reg->cc : 0;
}

/* Region of a number (see header). */
const char *
phone_region(const phone_number *p)
{
	const phone_cc_info *info = phone_valid_info(p);

	if (info == NULL)
		return NULL;
	if (info->flags & PHONE_CC_NONGEO)
		return info->region;
	if (phone_is_nanp_310(info, p->digits + p->cc_len, (size_t) (p->ndigits - p->cc_len)))
		return "CA";
	return phone_subregion_lookup(info->cc, p->digits + p->cc_len,
								  (size_t) (p->ndigits - p->cc_len));
}

/* Order by digits, then extension (both as strings). */
int
phone_cmp(const phone_number *a, const phone_number *b)
{
	int			c = strncmp(a->digits, b->digits, sizeof(a->digits));

	if (c == 0)
		c = strncmp(a->ext, b->ext, sizeof(a->ext));
	return c < 0 ? -1 : c > 0 ? 1 : 0;
}

/* Start writing into buf[0..size). */
static void
phone_out_init(phone_out *o, char *buf, size_t size)
{
	o->buf = buf;
	o->size = buf ? size : 0;
	o->len = 0;
	o->failed = (o->size == 0);
	if (o->size > 0)
		buf[0] = '\0';
}

/* Append s[0..n), marking failure if it does not fit with the NUL. */
static void
phone_out_put(phone_out *o, const char *s, size_t n)
{
	if (o->failed)
		return;
	if (n >= o->size - o->len)
	{
		o->failed = 1;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

/* Append a NUL-terminated string. */
static void
phone_out_puts(phone_out *o, const char *s)
{
	phone_out_put(o, s, strlen(s));
}

/* Finish: the length, or -1 with an empty buffer on failure. */
static int
phone_out_done(phone_out *o)
{
	if (o->failed)
	{
		if (o->size > 0)
			o->buf[0] = '\0';
		return -1;
	}
	return (int) o->len;
}

/* Fill g[] with sizes a, b, c, ... (0-terminated argument list style). */
static size_t
phone_set_groups(uint8_t *g, int a, int b, int c, int d, int e)
{
	int			v[5];
	size_t		k = 0;
	size_t		i;

	v[0] = a;
	v[1] = b;
	v[2] = c;
	v[3] = d;
	v[4] = e;
	for (i = 0; i < 5 && v[i] > 0; i++)
		g[k++] = (uint8_t) v[i];
	return k;
}

/* Generic grouping of an n-digit NSN. */
static size_t
phone_generic_groups(size_t n, uint8_t *g)
{
	switch (n)
	{
		case 6:
			return phone_set_groups(g, 3, 3, 0, 0, 0);
		case 7:
			return phone_set_groups(g, 3, 4, 0, 0, 0);
		case 8:
			return phone_set_groups(g, 4, 4, 0, 0, 0);
		case 9:
			return phone_set_groups(g, 3, 3, 3, 0, 0);
		case 10:
			return phone_set_groups(g, 3, 3, 4, 0, 0);
		case 11:
			return phone_set_groups(g, 3, 4, 4, 0, 0);
		case 12:
			return phone_set_groups(g, 4, 4, 4, 0, 0);
		case 13:
			return phone_set_groups(g, 3, 3, 3, 4, 0);
		case 14:
			return phone_set_groups(g, 3, 3, 4, 4, 0);
		default:
			g[0] = (uint8_t) n;
			return 1;
	}
}

/* Lead group of `lead` digits, the rest split in groups of at most 4. */
static size_t
phone_lead_groups(size_t n, size_t lead, uint8_t *g)
{
	size_t		rest = n - lead;
	size_t		k = 0;

	g[k++] = (uint8_t) lead;
	if (rest <= 5)
		g[k++] = (uint8_t) rest;
	else if (rest <= 8)
	{
		g[k++] = (uint8_t) (rest - 4);
		g[k++] = 4;
	}
	else
	{
		g[k++] = (uint8_t) (rest - 8);
		g[k++] = 4;
		g[k++] = 4;
	}
	return k;
}

/* Digit groups for the NSN of calling code cc ("20 7946 0958" style). */
static size_t
phone_groups(unsigned cc, const char *d, size_t n, uint8_t *g)
{
	switch (cc)
	{
		case 1:
			if (n == 7)			/* 310-xxxx */
				return phone_set_groups(g, 3, 4, 0, 0, 0);
			return phone_set_groups(g, 3, 3, 4, 0, 0);
		case 7:
			if (n == 10)
				return phone_set_groups(g, 3, 3, 2, 2, 0);
			break;
		case 33:
			if (n == 9)
				return phone_set_groups(g, 1, 2, 2, 2, 2);
			break;
		case 34:
			if (n == 9)
				return phone_set_groups(g, 3, 3, 3, 0, 0);
			break;
		case 31:
			if (n == 9)
				return d[0] == '6' ? phone_set_groups(g, 1, 8, 0, 0, 0)
					: phone_set_groups(g, 2, 3, 4, 0, 0);
			break;
		case 39:
			if (d[0] == '0' && n >= 6)
				return phone_lead_groups(n, (d[1] == '2' || d[1] == '6') ? 2 : 3, g);
			if (d[0] == '3' && n == 10)
				return phone_set_groups(g, 3, 3, 4, 0, 0);
			break;
		case 36:
			if (n == 8 && d[0] == '1')
				return phone_set_groups(g, 1, 3, 4, 0, 0);
			if (n == 8 || n == 9)
				return phone_set_groups(g, 2, 3, (int) n - 5, 0, 0);
			break;
		case 41:
			if (n == 9)
				return phone_set_groups(g, 2, 3, 2, 2, 0);
			break;
		case 44:
			if (n == 10)
			{
				if (d[0] == '2')
					return phone_set_groups(g, 2, 4, 4, 0, 0);
				if ((d[0] == '1' && (d[1] == '1' || d[2] == '1')) ||
					d[0] == '3' || d[0] == '8' || d[0] == '9')
					return phone_set_groups(g, 3, 3, 4, 0, 0);
				return phone_set_groups(g, 4, 6, 0, 0, 0);
			}
			if (n == 9)
				return phone_set_groups(g, 4, 5, 0, 0, 0);
			break;
		case 49:
			if (n >= 6)
			{
				size_t		lead;

				if ((d[0] == '3' || d[0] == '4') && d[1] == '0')
					lead = 2;
				else if ((d[0] == '6' || d[0] == '8') && d[1] == '9')
					lead = 2;
				else if (d[0] == '1' || d[2] == '1')
					lead = 3;
				else
					lead = 4;
				g[0] = (uint8_t) lead;
				g[1] = (uint8_t) (n - lead);
				return 2;
			}
			break;
		case 972:
			if (n == 8)
				return phone_set_groups(g, 1, 3, 4, 0, 0);
			if (n == 9)
				return phone_set_groups(g, 2, 3, 4, 0, 0);
			break;
		case 52:
			if (n == 10)
				return phone_set_groups(g, 2, 4, 4, 0, 0);
			break;
		case 55:
			if (n == 11)
				return phone_set_groups(g, 2, 5, 4, 0, 0);
			if (n == 10)
				return phone_set_groups(g, 2, 4, 4, 0, 0);
			break;
		case 61:
			if (n == 9)
				return d[0] == '4' ? phone_set_groups(g, 3, 3, 3, 0, 0)
					: phone_set_groups(g, 1, 4, 4, 0, 0);
			break;
		case 81:
			if (n == 10)
				return phone_set_groups(g, 2, 4, 4, 0, 0);
			if (n == 9)
				return (d[0] == '3' || d[0] == '6')
					? phone_set_groups(g, 1, 4, 4, 0, 0)
					: phone_set_groups(g, 2, 3, 4, 0, 0);
			break;
		case 86:
			if (n == 11)
				return phone_set_groups(g, 3, 4, 4, 0, 0);
			if (n == 10)
				return phone_set_groups(g, 2, 4, 4, 0, 0);
			break;
		case 91:
			if (n == 10)
				return phone_set_groups(g, 5, 5, 0, 0, 0);
			break;
		default:
			break;
	}
	return phone_generic_groups(n, g);
}

/* Append the NSN in groups separated by spaces (first group optional). */
static void
phone_put_groups(phone_out *o, const char *d, size_t n, const uint8_t *g,
				 size_t ng, size_t first)
{
	size_t		pos = 0;
	size_t		i;

	for (i = 0; i < ng && pos < n; i++)
	{
		size_t		k = g[i];

		if (k > n - pos)
			k = n - pos;
		if (i >= first && i > 0)
			phone_out_puts(o, " ");
		if (i >= first)
			phone_out_put(o, d + pos, k);
		pos += k;
	}
	if (pos < n)
	{
		phone_out_puts(o, " ");
		phone_out_put(o, d + pos, n - pos);
	}
}

/* Append " ext. <digits>" if the number has an extension. */
static void
phone_put_ext(phone_out *o, const phone_number *p, const char *marker)
{
	if (p->ext_len > 0)
	{
		phone_out_puts(o, marker);
		phone_out_put(o, p->ext, p->ext_len);
	}
}

/* Canonical "+<digits>[;ext=<ext>]". */
int
phone_format_e164(const phone_number *p, char *buf, size_t bufsz)
{
	phone_out	o;

	phone_out_init(&o, buf, bufsz);
	if (phone_valid_info(p) == NULL)
		o.failed = 1;
	else
	{
		phone_out_puts(&o, "+");
		phone_out_put(&o, p->digits, p->ndigits);
		phone_put_ext(&o, p, ";ext=");
	}
	return phone_out_done(&o);
}

/*
 * Append libphonenumber's national (or international, without "+cc ")
 * form of nsn[0..n); 0 on success, -1 when its metadata has no formats for
 * cc (nothing appended then).
 */
static int
phone_lpn_put(phone_out *o, unsigned cc, const char *nsn, size_t n, int national)
{
	char		tmp[PHONE_FORMAT_BUFSZ];
	int			len = phone_lpn_format(cc, nsn, n, national, tmp, sizeof(tmp));

	if (len < 0)
		return -1;
	phone_out_put(o, tmp, (size_t) len);
	return 0;
}

/*
 * The national form buf[0..len) must denote this very number when dialled
 * inside its region.  For odd numbers it might not (e.g. a national number
 * beginning with the region's international prefix, or an Israeli 1-800
 * number that is dialled without the trunk 0): then write the unambiguous
 * international form instead.
 */
static int
phone_national_checked(const phone_number *p, const char *region, char *buf,
					   size_t bufsz, size_t len)
{
	if (region != NULL)
	{
		phone_number q;

		if (phone_parse(buf, len, region, strlen(region), &q, NULL) != PHONE_OK ||
			phone_cmp(p, &q) != 0)
			return phone_format_international(p, buf, bufsz);
	}
	return (int) len;
}

/* "+<cc> <groups>[ ext. <ext>]". */
int
phone_format_international(const phone_number *p, char *buf, size_t bufsz)
{
	const phone_cc_info *info = phone_valid_info(p);
	phone_out	o;
	uint8_t		g[PHONE_MAX_GROUPS];
	size_t		ng;
	const char *nsn;
	size_t		n;

	phone_out_init(&o, buf, bufsz);
	if (info == NULL)
	{
		o.failed = 1;
		return phone_out_done(&o);
	}
	nsn = p->digits + p->cc_len;
	n = (size_t) (p->ndigits - p->cc_len);
	phone_out_puts(&o, "+");
	phone_out_put(&o, p->digits, p->cc_len);
	phone_out_puts(&o, " ");
	if (phone_lpn_put(&o, info->cc, nsn, n, 0) != 0)
	{
		ng = phone_groups(info->cc, nsn, n, g);
		phone_put_groups(&o, nsn, n, g, ng, 0);
	}
	phone_put_ext(&o, p, " ext. ");
	return phone_out_done(&o);
}

/* National form (international form if that would be ambiguous). */
int
phone_format_national(const phone_number *p, char *buf, size_t bufsz)
{
	const phone_cc_info *info = phone_valid_info(p);
	const phone_region_info *reg;
	const char *region;
	phone_out	o;
	uint8_t		g[PHONE_MAX_GROUPS];
	size_t		ng;
	const char *nsn;
	size_t		n;
	size_t		tlen;

	if (info == NULL || (info->flags & PHONE_CC_NONGEO))
		return phone_format_international(p, buf, bufsz);

	phone_out_init(&o, buf, bufsz);
	nsn = p->digits + p->cc_len;
	n = (size_t) (p->ndigits - p->cc_len);
	region = phone_region(p);

	/* libphonenumber's rules where its metadata is at hand (40 regions) */
	if (phone_lpn_put(&o, info->cc, nsn, n, 1) == 0)
	{
		phone_put_ext(&o, p, " ext. ");
		if (phone_out_done(&o) < 0)
			return -1;
		return phone_national_checked(p, region, buf, bufsz, o.len);
	}

	if (phone_is_nanp_310(info, nsn, n))
	{
		phone_out_put(&o, nsn, 3);
		phone_out_puts(&o, "-");
		phone_out_put(&o, nsn + 3, 4);
		phone_put_ext(&o, p, " ext. ");
		return phone_out_done(&o);
	}
	if (info->flags & PHONE_CC_NANP)
	{
		phone_out_puts(&o, "(");
		phone_out_put(&o, nsn, 3);
		phone_out_puts(&o, ") ");
		phone_out_put(&o, nsn + 3, 3);
		phone_out_puts(&o, "-");
		phone_out_put(&o, nsn + 6, 4);
		phone_put_ext(&o, p, " ext. ");
		return phone_out_done(&o);
	}

	region = phone_subregion_lookup(info->cc, nsn, n);
	reg = region ? phone_region_lookup(region, strlen(region)) : NULL;
	tlen = 0;
	if (reg != NULL)
	{
		const char *bar = strchr(reg->trunk, '|');

		tlen = bar ? (size_t) (bar - reg->trunk) : strlen(reg->trunk);
	}
	ng = phone_groups(info->cc, nsn, n, g);
	if (tlen == 1 && reg->trunk[0] == '0')
	{
		/* "020 7946 0958": the trunk 0 is written glued to the area code */
		phone_out_puts(&o, "0");
		phone_out_put(&o, nsn, g[0] < n ? g[0] : n);
		phone_put_groups(&o, nsn, n, g, ng, 1);
	}
	else
	{
		if (tlen > 0)
		{
			phone_out_put(&o, reg->trunk, tlen);
			phone_out_puts(&o, " ");
		}
		phone_put_groups(&o, nsn, n, g, ng, 0);
	}
	phone_put_ext(&o, p, " ext. ");
	if (phone_out_done(&o) < 0)
		return -1;

	return phone_national_checked(p, region, buf, bufsz, o.len);
}

/* Static lower-case message for a status. */
const char *
phone_status_message(phone_status st)
{
	switch (st)
	{
		case PHONE_OK:
			return "the phone number is valid";
		case PHONE_EMPTY:
			return "the phone number is empty";
		case PHONE_BAD_CHAR:
			return "the phone number contains a character that is not allowed";
		case PHONE_TOO_SHORT:
			return "too few digits";
		case PHONE_TOO_LONG:
			return "too many digits";
		case PHONE_UNASSIGNED_CC:
			return "unassigned country calling code";
		case PHONE_NO_DEFAULT_COUNTRY:
			return "no default country (a national number needs one, or write the number with +country code)";
		case PHONE_UNKNOWN_COUNTRY:
			return "unknown default country";
		case PHONE_EXT_EMPTY:
			return "the extension has no digits";
		case PHONE_EXT_TOO_LONG:
			return "the extension is longer than 10 digits";
		case PHONE_BAD_AREA_CODE:
			return "invalid area code (north american area codes cannot begin with 0 or 1 or end in 11)";
		case PHONE_BAD_EXCHANGE:
			return "invalid exchange code (north american exchange codes cannot begin with 0 or 1)";
		case PHONE_LEADING_ZERO:
			return "the national number cannot begin with 0 in this country";
	}
	return "unknown phone status";
}

/* Short stable identifier of a status. */
const char *
phone_status_name(phone_status st)
{
	switch (st)
	{
		case PHONE_OK:
			return "ok";
		case PHONE_EMPTY:
			return "empty";
		case PHONE_BAD_CHAR:
			return "bad_char";
		case PHONE_TOO_SHORT:
			return "too_short";
		case PHONE_TOO_LONG:
			return "too_long";
		case PHONE_UNASSIGNED_CC:
			return "unassigned_cc";
		case PHONE_NO_DEFAULT_COUNTRY:
			return "no_default_country";
		case PHONE_UNKNOWN_COUNTRY:
			return "unknown_country";
		case PHONE_EXT_EMPTY:
			return "ext_empty";
		case PHONE_EXT_TOO_LONG:
			return "ext_too_long";
		case PHONE_BAD_AREA_CODE:
			return "bad_area_code";
		case PHONE_BAD_EXCHANGE:
			return "bad_exchange";
		case PHONE_LEADING_ZERO:
			return "leading_zero";
	}
	return "unknown";
}

/* Append an unsigned decimal number (truncating writer). */
static void
phone_desc_num(phone_out *o, unsigned v)
{
	char		tmp[12];
	size_t		n = sizeof(tmp);

	do
	{
		tmp[--n] = (char) ('0' + v % 10);
		v /= 10;
	} while (v > 0 && n > 0);
	phone_out_put(o, tmp + n, sizeof(tmp) - n);
}

/* Append one byte printably: c, \' , \\ or \xNN. */
static void
phone_desc_byte(phone_out *o, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";
	char		tmp[4];

	if (c == '\'' || c == '"' || c == '\\')
	{
		tmp[0] = '\\';
		tmp[1] = (char) c;
		phone_out_put(o, tmp, 2);
	}
	else if (c >= 0x20 && c < 0x7f)
	{
		tmp[0] = (char) c;
		phone_out_put(o, tmp, 1);
	}
	else
	{
		tmp[0] = '\\';
		tmp[1] = 'x';
		tmp[2] = hex[c >> 4];
		tmp[3] = hex[c & 15];
		phone_out_put(o, tmp, 4);
	}
}

/* Append the "+<cc>" of err, if known. */
static void
phone_desc_cc(phone_out *o, const phone_error *err)
{
	if (err->cc != 0)
	{
		phone_out_puts(o, " for +");
		phone_desc_num(o, err->cc);
	}
}

/* Detailed message, see header. */
size_t
phone_describe(phone_status st, const phone_error *err, char *buf,
			   size_t bufsz)
{
	phone_out	o;
	size_t		i;
	size_t		tl;

	/* pieces that do not fit are dropped whole: the text is cut short */
	phone_out_init(&o, buf, bufsz);
	if (o.size == 0)
		return 0;
	if (err == NULL)
	{
		phone_out_puts(&o, phone_status_message(st));
		return o.len;
	}
	tl = err->text_len < sizeof(err->text) ? err->text_len : sizeof(err->text);

	switch (st)
	{
		case PHONE_BAD_CHAR:
			phone_out_puts(&o, "bad character ");
			if (err->cp >= 0x80)
			{
				/* U+00E9 'é': the code point, then the character as typed */
				char		u[UTF8_CP_BUFSZ];

				utf8_format_cp((int32_t) err->cp, u);
				phone_out_puts(&o, u);
				phone_out_puts(&o, " '");
				phone_out_put(&o, err->text, tl);
				phone_out_puts(&o, "'");
			}
			else
			{
				phone_out_puts(&o, "'");
				phone_desc_byte(&o, err->ch);
				phone_out_puts(&o, "'");
			}
			phone_out_puts(&o, " at position ");
			phone_desc_num(&o, err->char_pos);
			break;
		case PHONE_TOO_SHORT:
		case PHONE_TOO_LONG:
			phone_out_puts(&o, st == PHONE_TOO_SHORT ? "too few digits"
						   : "too many digits");
			if (err->cc != 0)
			{
				phone_out_puts(&o, ": numbers");
				phone_desc_cc(&o, err);
				if (err->min_digits == err->max_digits)
				{
					phone_out_puts(&o, " have ");
					phone_desc_num(&o, err->min_digits);
				}
				else if (st == PHONE_TOO_SHORT)
				{
					phone_out_puts(&o, " have at least ");
					phone_desc_num(&o, err->min_digits);
				}
				else
				{
					phone_out_puts(&o, " have at most ");
					phone_desc_num(&o, err->max_digits);
				}
				phone_out_puts(&o, " digits after the country code, found ");
				phone_desc_num(&o, err->ndigits);
			}
			break;
		case PHONE_UNASSIGNED_CC:
			phone_out_puts(&o, "unassigned country calling code +");
			for (i = 0; i < tl; i++)
				phone_desc_byte(&o, (unsigned char) err->text[i]);
			break;
		case PHONE_UNKNOWN_COUNTRY:
			phone_out_puts(&o, "unknown default country \"");
			for (i = 0; i < tl; i++)
				phone_desc_byte(&o, (unsigned char) err->text[i]);
			phone_out_puts(&o, "\"");
			break;
		case PHONE_EXT_TOO_LONG:
			phone_out_puts(&o, "the extension is too long: more than ");
			phone_desc_num(&o, PHONE_MAX_EXT);
			phone_out_puts(&o, " digits");
			break;
		case PHONE_BAD_AREA_CODE:
		case PHONE_BAD_EXCHANGE:
			phone_out_puts(&o, st == PHONE_BAD_AREA_CODE ? "invalid area code "
						   : "invalid exchange code ");
			for (i = 0; i < tl; i++)
				phone_desc_byte(&o, (unsigned char) err->text[i]);
			phone_out_puts(&o, st == PHONE_BAD_AREA_CODE
						   ? " (north american area codes cannot begin with 0 or 1 or end in 11)"
						   : " (north american exchange codes cannot begin with 0 or 1)");
			break;
		case PHONE_LEADING_ZERO:
			phone_out_puts(&o, "the national number");
			if (err->cc != 0)
			{
				phone_out_puts(&o, " after +");
				phone_desc_num(&o, err->cc);
			}
			phone_out_puts(&o, " cannot begin with 0");
			break;
		default:
			phone_out_puts(&o, phone_status_message(st));
			break;
	}
	return o.len;
}
