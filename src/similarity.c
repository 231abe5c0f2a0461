/*
 * similarity.c
 *		Jaro-Winkler similarity, optimal string alignment distance, and the
 *		phonetic blocking keys of person and company names.  Pure C with no
 *		PostgreSQL headers: see similarity.h for the contract (UTF-8 in,
 *		folded code points compared, inputs cut at SIM_MAX_CODEPOINTS).
 *
 * The phonetic code ("crm phonetic") is a Soundex relative written for
 * blocking, not for linguistics:
 *	- only letters count (digits too for companies); spaces, hyphens and
 *	  apostrophes vanish, so "van der Berg" = "Vanderberg";
 *	- a few spellings that sound alike are rewritten first: a leading kn, gn,
 *	  pn, wr or ps loses its silent letter, a leading x becomes s, ph becomes f;
 *	- the first letter is kept as its class: vowels (and y) -> A; c, k, q -> K;
 *	  s, z -> S; f, v, w -> F; any other letter upper-cased;
 *	- the following consonants become Soundex digits (b f p v 1, c g j k q s x
 *	  z 2, d t 3, l 4, m n 5, r 6); repeats of one digit collapse unless a
 *	  vowel separates them; h and w neither count nor separate;
 *	- code points outside ASCII (Cyrillic, CJK, ...) are kept literally, and
 *	  digits too, so non-Latin names still get a usable key.
 * Smith, Smyth and Schmidt all give S53; Meyer and Maier M6; Catherine and
 * Katherine K365.
 */
#include "similarity.h"
#include "utf8.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/*
 * Folding of U+00C0..U+00FF (upper half: C0..DF, lower half: E0..FF) and
 * U+0100..U+017F to ASCII letters: '-' keeps the code point (the
 * multiplication and division signs), '*' expands to two letters.
 */
static const char fold_latin1_upper[] = "aaaaaa*ceeeeiiiidnooooo-ouuuuy**";
static const char fold_latin1_lower[] = "aaaaaa*ceeeeiiiidnooooo-ouuuuy*y";
static const char fold_latin_ext_a[] =
	"aaaaaa" "cccccccc" "dddd" "eeeeeeeeee" "gggggggg" "hhhh" "iiiiiiiiii" "**"
	"jj" "kk" "k" "llllllllll" "nnnnnn" "n" "nn" "oooooo" "**" "rrrrrr"
	"ssssssss" "tttttt" "uuuuuuuuuuuu" "ww" "yyy" "zzzzzz" "s";

/* The two letters a '*' entry of the folding tables expands to. */
static const char *
fold_expansion(uint32_t cp)
{
	switch (cp)
	{
		case 0xC6:
		case 0xE6:
			return "ae";
		case 0xDE:
		case 0xFE:
			return "th";
		case 0xDF:
			return "ss";
		case 0x132:
		case 0x133:
			return "ij";
		case 0x152:
		case 0x153:
			return "oe";
	}
	return "";					/* can't happen: only the above are '*' */
}

/*
 * Decode one UTF-8 sequence at s (len > 0 bytes left); returns its length
 * and stores the code point.  A byte that begins no well-formed character
 * yields 1 byte decoded as U+DC00 + that byte (so such bytes still compare
 * as themselves).
 */
static size_t
sim_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
	int32_t		v;
	size_t		n = utf8_decode((const char *) s, len, &v);

	*cp = v == UTF8_INVALID ? 0xDC00u + (uint32_t) s[0] : (uint32_t) v;
	return n;
}

/*
 * The folding of one code point (see similarity.h): one or two code points
 * written to out; returns how many.
 */
static int
fold_cp(uint32_t cp, uint32_t out[2])
{
	char		f = 0;

	if (cp >= 'A' && cp <= 'Z')
		cp += 'a' - 'A';
	else if (cp >= 0xC0 && cp <= 0xDF)
		f = fold_latin1_upper[cp - 0xC0];
	else if (cp >= 0xE0 && cp <= 0xFF)
		f = fold_latin1_lower[cp - 0xE0];
	else if (cp >= 0x100 && cp <= 0x17F)
		f = fold_latin_ext_a[cp - 0x100];

	if (f == '*')
	{
		const char *two = fold_expansion(cp);

		out[0] = (uint32_t) two[0];
		out[1] = (uint32_t) two[1];
		return 2;
	}
	out[0] = (f != 0 && f != '-') ? (uint32_t) f : cp;
	return 1;
}

/* Decode and fold s into at most max code points; returns how many. */
int
sim_fold(const char *s, size_t len, uint32_t *out, int max)
{
	const unsigned char *p = (const unsigned char *) s;
	size_t		pos = 0;
	int			n = 0;

	while (pos < len && n < max)
	{
		uint32_t	cp;
		uint32_t	f[2];
		int			k;

		pos += sim_utf8_decode(p + pos, len - pos, &cp);
		k = fold_cp(cp, f);
		out[n++] = f[0];
		if (k == 2 && n < max)
			out[n++] = f[1];
	}
	return n;
}

/* Fold a whole text, UTF-8 in and out; see similarity.h. */
size_t
sim_fold_text(const char *s, size_t len, char *out)
{
	const unsigned char *p = (const unsigned char *) s;
	size_t		pos = 0;
	size_t		o = 0;

	while (pos < len)
	{
		uint32_t	cp;
		uint32_t	f[2];
		size_t		n = sim_utf8_decode(p + pos, len - pos, &cp);
		int			k = fold_cp(cp, f);

		if (k == 1 && f[0] == cp)
		{
			/* unchanged (also an invalid byte): copy its bytes */
			memcpy(out + o, s + pos, n);
			o += n;
		}
		else
		{
			/* folded code points are ASCII, never longer than the input */
			out[o++] = (char) f[0];
			if (k == 2)
				out[o++] = (char) f[1];
		}
		pos += n;
	}
	return o;
}

/* Number of folded code points the comparison functions see. */
int
sim_length(const char *s, size_t len)
{
	uint32_t	buf[SIM_MAX_CODEPOINTS];

	return sim_fold(s, len, buf, SIM_MAX_CODEPOINTS);
}

/* Lexicographic comparison of two code point arrays. */
static int
cp_compare(const uint32_t *a, int n, const uint32_t *b, int m)
{
	for (int i = 0; i < n && i < m; i++)
		if (a[i] != b[i])
			return a[i] < b[i] ? -1 : 1;
	return n < m ? -1 : (n > m ? 1 : 0);
}

/* Jaro-Winkler similarity of two folded code point arrays. */
static double
jaro_winkler_cp(const uint32_t *a, int n, const uint32_t *b, int m)
{
	bool		amatch[SIM_MAX_CODEPOINTS] = {false};
	bool		bmatch[SIM_MAX_CODEPOINTS] = {false};
	int			window,
				matches = 0,
				halftrans = 0,
				prefix = 0,
				k;
	double		jaro,
				jw;

	if (n == 0 && m == 0)
		return 1.0;
	if (n == 0 || m == 0)
		return 0.0;

	/*
	 * The greedy matching below depends on which string is scanned; fixing
	 * the order (shorter first, then lexicographic) makes the result exactly
	 * symmetric.
	 */
	if (n > m || (n == m && cp_compare(a, n, b, m) > 0))
	{
		const uint32_t *t = a;
		int			tn = n;

		a = b;
		n = m;
		b = t;
		m = tn;
	}

	window = (n > m ? n : m) / 2 - 1;
	if (window < 0)
		window = 0;

	for (int i = 0; i < n; i++)
	{
		int			lo = i - window > 0 ? i - window : 0;
		int			hi = i + window + 1 < m ? i + window + 1 : m;

		for (int j = lo; j < hi; j++)
		{
			if (!bmatch[j] && a[i] == b[j])
			{
				amatch[i] = bmatch[j] = true;
				matches++;
				break;
			}
		}
	}
	if (matches == 0)
		return 0.0;

	k = 0;
	for (int i = 0; i < n; i++)
	{
		if (!amatch[i])
			continue;
		while (!bmatch[k])
			k++;
		if (a[i] != b[k])
			halftrans++;
		k++;
	}

	jaro = ((double) matches / n + (double) matches / m +
			(matches - halftrans / 2.0) / matches) / 3.0;

	/* Winkler's boost for a common prefix, only for already similar strings */
	if (jaro <= 0.7)
		return jaro;
	while (prefix < 4 && prefix < n && a[prefix] == b[prefix])
		prefix++;
	jw = jaro + prefix * 0.1 * (1.0 - jaro);
	return jw > 1.0 ? 1.0 : jw;
}

/* Jaro-Winkler similarity of two UTF-8 strings (see similarity.h). */
double
sim_jaro_winkler(const char *a, size_t alen, const char *b, size_t blen)
{
	uint32_t	ca[SIM_MAX_CODEPOINTS],
				cb[SIM_MAX_CODEPOINTS];
	int			n = sim_fold(a, alen, ca, SIM_MAX_CODEPOINTS);
	int			m = sim_fold(b, blen, cb, SIM_MAX_CODEPOINTS);

	return jaro_winkler_cp(ca, n, cb, m);
}

/* Optimal string alignment distance of two folded code point arrays. */
static int
edit_distance_cp(const uint32_t *ca, int n, const uint32_t *cb, int m)
{
	int			rows[3][SIM_MAX_CODEPOINTS + 1];
	int		   *prev2 = rows[0],
			   *prev = rows[1],
			   *cur = rows[2];

	if (n == 0)
		return m;
	if (m == 0)
		return n;

	for (int j = 0; j <= m; j++)
		prev[j] = j;
	for (int i = 1; i <= n; i++)
	{
		int		   *t;

		cur[0] = i;
		for (int j = 1; j <= m; j++)
		{
			int			cost = ca[i - 1] == cb[j - 1] ? 0 : 1;
			int			d = prev[j] + 1;

			if (cur[j - 1] + 1 < d)
				d = cur[j - 1] + 1;
			if (prev[j - 1] + cost < d)
				d = prev[j - 1] + cost;
			if (i > 1 && j > 1 && ca[i - 1] == cb[j - 2] && ca[i - 2] == cb[j - 1] &&
				prev2[j - 2] + 1 < d)
				d = prev2[j - 2] + 1;
			cur[j] = d;
		}
		t = prev2;
		prev2 = prev;
		prev = cur;
		cur = t;
	}
	return prev[m];
}

/* Optimal string alignment distance of two UTF-8 strings (see similarity.h). */
int
sim_edit_distance(const char *a, size_t alen, const char *b, size_t blen)
{
	uint32_t	ca[SIM_MAX_CODEPOINTS],
				cb[SIM_MAX_CODEPOINTS];
	int			n = sim_fold(a, alen, ca, SIM_MAX_CODEPOINTS);
	int			m = sim_fold(b, blen, cb, SIM_MAX_CODEPOINTS);

	return edit_distance_cp(ca, n, cb, m);
}

/* Name similarity of two folded code point arrays. */
static double
name_similarity_cp(const uint32_t *a, int n, const uint32_t *b, int m)
{
	int			longer = n > m ? n : m;
	double		edit;

	if (longer == 0)
		return 1.0;
	edit = 1.0 - (double) edit_distance_cp(a, n, b, m) / longer;
	return 0.25 * jaro_winkler_cp(a, n, b, m) + 0.75 * edit;
}

/* Name similarity of two UTF-8 strings (see similarity.h). */
double
sim_name_similarity(const char *a, size_t alen, const char *b, size_t blen)
{
	uint32_t	ca[SIM_MAX_CODEPOINTS],
				cb[SIM_MAX_CODEPOINTS];
	int			n = sim_fold(a, alen, ca, SIM_MAX_CODEPOINTS);
	int			m = sim_fold(b, blen, cb, SIM_MAX_CODEPOINTS);

	return name_similarity_cp(ca, n, cb, m);
}

/* ------------------------------------------------------------------------
 * Phonetic keys
 * ------------------------------------------------------------------------
 */

/* Whether a folded code point is part of a name (letters, non-ASCII). */
static bool
is_name_char(uint32_t cp, bool digits)
{
	if (cp >= 'a' && cp <= 'z')
		return true;
	if (digits && cp >= '0' && cp <= '9')
		return true;
	/* above Latin-1 punctuation; excluding general punctuation and the
	 * invalid-byte escapes */
	return cp >= 0xC0 && cp != 0xD7 && cp != 0xF7 &&
		!(cp >= 0x2000 && cp <= 0x206F) && !(cp >= 0xDC00 && cp <= 0xDCFF);
}

/* Whether a folded code point is an ASCII vowel (y counts as one). */
static bool
is_vowel(uint32_t cp)
{
	return cp == 'a' || cp == 'e' || cp == 'i' || cp == 'o' || cp == 'u' || cp == 'y';
}

/* Soundex digit of an ASCII consonant; 0 for vowels, h and w. */
static char
consonant_class(uint32_t cp)
{
	switch (cp)
	{
		case 'b':
		case 'f':
		case 'p':
		case 'v':
			return '1';
		case 'c':
		case 'g':
		case 'j':
		case 'k':
		case 'q':
		case 's':
		case 'x':
		case 'z':
			return '2';
		case 'd':
		case 't':
			return '3';
		case 'l':
			return '4';
		case 'm':
		case 'n':
			return '5';
		case 'r':
			return '6';
	}
	return 0;
}

/* Append the UTF-8 form of cp at out[*pos] (invalid-byte escapes as '?'). */
static void
utf8_put(char *out, size_t *pos, uint32_t cp)
{
	unsigned char *o = (unsigned char *) out + *pos;

	if (cp >= 0xD800 && cp <= 0xDFFF)
		cp = '?';
	if (cp < 0x80)
	{
		o[0] = (unsigned char) cp;
		*pos += 1;
	}
	else if (cp < 0x800)
	{
		o[0] = (unsigned char) (0xC0 | (cp >> 6));
		o[1] = (unsigned char) (0x80 | (cp & 0x3F));
		*pos += 2;
	}
	else if (cp < 0x10000)
	{
		o[0] = (unsigned char) (0xE0 | (cp >> 12));
		o[1] = (unsigned char) (0x80 | ((cp >> 6) & 0x3F));
		o[2] = (unsigned char) (0x80 | (cp & 0x3F));
		*pos += 3;
	}
	else
	{
		o[0] = (unsigned char) (0xF0 | (cp >> 18));
		o[1] = (unsigned char) (0x80 | ((cp >> 12) & 0x3F));
		o[2] = (unsigned char) (0x80 | ((cp >> 6) & 0x3F));
		o[3] = (unsigned char) (0x80 | (cp & 0x3F));
		*pos += 4;
	}
}

/*
 * The name characters of cp[0..n) with the spelling rewrites applied (see
 * the file header); returns how many were written to out.
 */
static int
phonetic_prepare(const uint32_t *cp, int n, bool digits, uint32_t *out)
{
	int			k = 0;

	for (int i = 0; i < n; i++)
		if (is_name_char(cp[i], digits))
			out[k++] = cp[i];

	if (k >= 2 &&
		((out[0] == 'k' && out[1] == 'n') || (out[0] == 'g' && out[1] == 'n') ||
		 (out[0] == 'p' && out[1] == 'n') || (out[0] == 'w' && out[1] == 'r') ||
		 (out[0] == 'p' && out[1] == 's')))
	{
		memmove(out, out + 1, (k - 1) * sizeof(uint32_t));
		k--;
	}
	if (k >= 1 && out[0] == 'x')
		out[0] = 's';
	for (int i = 0; i + 1 < k; i++)
		if (out[i] == 'p' && out[i + 1] == 'h')
			out[i] = 'f';			/* the h is ignored by the coder anyway */
	return k;
}

/* The class symbol of the first letter of a code (see the file header). */
static uint32_t
first_class(uint32_t c)
{
	if (is_vowel(c))
		return 'A';
	if (c == 'c' || c == 'k' || c == 'q')
		return 'K';
	if (c == 's' || c == 'z')
		return 'S';
	if (c == 'f' || c == 'v' || c == 'w')
		return 'F';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 'A';
	return c;					/* digits and non-ASCII as they are */
}

/*
 * Write the phonetic code of the prepared characters p[0..k) at out[*pos]:
 * the first letter's class and at most maxsym further symbols.
 */
static void
phonetic_code(const uint32_t *p, int k, int maxsym, char *out, size_t *pos)
{
	char		last;
	int			emitted = 0;

	if (k == 0)
		return;
	utf8_put(out, pos, first_class(p[0]));
	last = consonant_class(p[0]);
	for (int i = 1; i < k && emitted < maxsym; i++)
	{
		uint32_t	c = p[i];
		char		d;

		if (c == 'h' || c == 'w')
			continue;
		if (is_vowel(c))
		{
			last = 0;
			continue;
		}
		d = consonant_class(c);
		if (d != 0)
		{
			if (d != last)
			{
				out[(*pos)++] = d;
				emitted++;
			}
			last = d;
		}
		else
		{
			/* a digit or a non-ASCII code point: literally */
			utf8_put(out, pos, c);
			emitted++;
			last = 0;
		}
	}
}

/* Blocking key of a person's name (see similarity.h). */
size_t
sim_name_key(const char *first, size_t flen, const char *last, size_t llen, char *out)
{
	uint32_t	cp[SIM_MAX_CODEPOINTS],
				p[SIM_MAX_CODEPOINTS];
	int			n,
				k;
	size_t		pos = 0;

	n = sim_fold(last, llen, cp, SIM_MAX_CODEPOINTS);
	k = phonetic_prepare(cp, n, false, p);
	if (k == 0)
	{
		out[0] = '\0';
		return 0;
	}
	phonetic_code(p, k, 3, out, &pos);
	out[pos++] = ':';

	n = sim_fold(first, flen, cp, SIM_MAX_CODEPOINTS);
	k = phonetic_prepare(cp, n, false, p);
	phonetic_code(p, k, 1, out, &pos);
	out[pos] = '\0';
	return pos;
}

/* Words that name a legal form or are filler in company names. */
static const char *const company_stopwords[] = {
	"ab", "ag", "and", "aps", "as", "asa", "bv", "co", "company", "corp",
	"corporation", "gmbh", "inc", "incorporated", "kg", "kgaa", "kk", "limited",
	"llc", "llp", "lp", "ltd", "mbh", "nv", "oy", "oyj", "plc", "pte", "pty",
	"pvt", "sa", "sarl", "sas", "sl", "spa", "srl", "the", "ug"
};

/* Whether the token cp[0..n) is a company stop word. */
static bool
is_company_stopword(const uint32_t *cp, int n)
{
	char		word[16];

	if (n >= (int) sizeof(word))
		return false;
	for (int i = 0; i < n; i++)
	{
		if (cp[i] < 'a' || cp[i] > 'z')
			return false;
		word[i] = (char) cp[i];
	}
	word[n] = '\0';
	for (size_t i = 0; i < sizeof(company_stopwords) / sizeof(company_stopwords[0]); i++)
		if (strcmp(word, company_stopwords[i]) == 0)
			return true;
	return false;
}

/*
 * The significant tokens of a company name, separated by single spaces, as
 * code points into out; returns the count.  Tokens are runs of name
 * characters (apostrophes inside vanish: O'Neil); runs of one-letter tokens
 * are joined (S.A. -> sa, A B C -> abc); then stop words are dropped, unless
 * nothing else remains.
 */
static int
company_tokens(const char *s, size_t len, uint32_t *out)
{
	uint32_t	cp[SIM_MAX_CODEPOINTS];
	uint32_t	chars[SIM_MAX_CODEPOINTS];
	int			tstart[SIM_MAX_CODEPOINTS],
				tlen[SIM_MAX_CODEPOINTS];
	bool		initials[SIM_MAX_CODEPOINTS];
	int			n = sim_fold(s, len, cp, SIM_MAX_CODEPOINTS);
	int			nchars = 0,
				ntok = 0,
				i = 0;

	while (i < n)
	{
		int			start = nchars;

		while (i < n && (is_name_char(cp[i], true) ||
						 (nchars > start && (cp[i] == '\'' || cp[i] == 0x2019))))
		{
			if (cp[i] != '\'' && cp[i] != 0x2019)
				chars[nchars++] = cp[i];
			i++;
		}
		if (nchars == start)
		{
			i++;
			continue;
		}
		if (nchars - start == 1 && ntok > 0 && initials[ntok - 1])
			tlen[ntok - 1]++;	/* chars are contiguous: extend the run */
		else
		{
			tstart[ntok] = start;
			tlen[ntok] = nchars - start;
			initials[ntok] = (nchars - start == 1);
			ntok++;
		}
	}

	for (int pass = 0; pass < 2; pass++)
	{
		int			k = 0;

		for (int t = 0; t < ntok; t++)
		{
			/* the first pass drops stop words; the second keeps everything */
			if (pass == 0 && is_company_stopword(chars + tstart[t], tlen[t]))
				continue;
			if (k > 0)
				out[k++] = ' ';
			memcpy(out + k, chars + tstart[t], tlen[t] * sizeof(uint32_t));
			k += tlen[t];
		}
		if (k > 0)
			return k;
	}
	return 0;
}

/* Normalised company name (see similarity.h). */
size_t
sim_company_norm(const char *s, size_t len, char *out)
{
	uint32_t	tok[2 * SIM_MAX_CODEPOINTS];
	int			k = company_tokens(s, len, tok);
	size_t		pos = 0;

	for (int i = 0; i < k; i++)
		utf8_put(out, &pos, tok[i]);
	out[pos] = '\0';
	return pos;
}

/* Blocking key of a company name (see similarity.h). */
size_t
sim_company_key(const char *s, size_t len, char *out)
{
	uint32_t	tok[2 * SIM_MAX_CODEPOINTS],
				p[2 * SIM_MAX_CODEPOINTS];
	int			k = company_tokens(s, len, tok);
	size_t		pos = 0;

	k = phonetic_prepare(tok, k, true, p);
	phonetic_code(p, k, 5, out, &pos);
	out[pos] = '\0';
	return pos;
}

/* ------------------------------------------------------------------------
 * Pair scoring
 * ------------------------------------------------------------------------
 */

/* Whether the optional strings a and b are both present and byte-equal. */
static bool
text_equal(SimText a, SimText b)
{
	return a.s != NULL && b.s != NULL && a.len == b.len && memcmp(a.s, b.s, a.len) == 0;
}

/* Number of UTF-8 characters of s (bytes that do not continue a sequence). */
static size_t
utf8_chars(SimText s)
{
	size_t		n = 0;

	for (size_t i = 0; i < s.len; i++)
		if (((unsigned char) s.s[i] & 0xC0) != 0x80)
			n++;
	return n;
}

/* Remove leading and trailing ASCII spaces (what SQL btrim() removes). */
static SimText
trim_spaces(SimText t)
{
	if (t.s == NULL)
		return t;
	while (t.len > 0 && t.s[0] == ' ')
	{
		t.s++;
		t.len--;
	}
	while (t.len > 0 && t.s[t.len - 1] == ' ')
		t.len--;
	return t;
}

/*
 * Fold the full name "one two" (each part trimmed, joined by one space when
 * both are non-empty: crm.person_full_name) into out; returns its length in
 * code points (at most SIM_MAX_CODEPOINTS).  Folding is per code point, so
 * folding the parts separately equals folding the joined string.
 */
static int
fold_full_name(SimText one, SimText two, uint32_t *out)
{
	int			n = 0;

	one = trim_spaces(one);
	two = trim_spaces(two);
	if (one.s != NULL && one.len > 0)
		n = sim_fold(one.s, one.len, out, SIM_MAX_CODEPOINTS);
	if (two.s != NULL && two.len > 0)
	{
		if (n > 0 && n < SIM_MAX_CODEPOINTS)
			out[n++] = ' ';
		n += sim_fold(two.s, two.len, out + n, SIM_MAX_CODEPOINTS - n);
	}
	return n;
}

/*
 * Finish a match: n, x and c from the similarities, then the noisy-OR.  The
 * name counts with the weight SIM_NAME_WEIGHT, so without email or phone
 * evidence the score stays at or below it (a namesake is not proof).
 */
static void
combine(SimMatch *m, double sim, double x)
{
	double		c = sim < 0.6 ? 0.85 : 1.0;

	m->name = sim >= 0.75 ? sim : 0.0;
	m->score = 1.0 - (1.0 - m->email * c) * (1.0 - m->phone * c) *
		(1.0 - SIM_NAME_WEIGHT * m->name * x);
	/* rounding can push the product a hair outside [0, 1] */
	if (m->score < 0.0)
		m->score = 0.0;
	if (m->score > 1.0)
		m->score = 1.0;
}

/* Duplicate score of two persons (see similarity.h). */
void
sim_person_match(const SimPerson *a, const SimPerson *b, SimMatch *m)
{
	uint32_t	a1[SIM_MAX_CODEPOINTS],
				a2[SIM_MAX_CODEPOINTS],
				b1[SIM_MAX_CODEPOINTS],
				b2[SIM_MAX_CODEPOINTS];
	int			na1 = fold_full_name(a->first, a->last, a1);
	int			na2 = fold_full_name(a->last, a->first, a2);
	int			nb1 = fold_full_name(b->first, b->last, b1);
	int			nb2 = fold_full_name(b->last, b->first, b2);
	float		straight,
				swapped,
				s2;
	double		x = 1.0;

	memset(m, 0, sizeof(*m));

	/* similarities are rounded to real, as crm.name_similarity returns them */
	straight = (float) name_similarity_cp(a1, na1, b1, nb1);
	swapped = (float) name_similarity_cp(a1, na1, b2, nb2);
	s2 = (float) name_similarity_cp(a2, na2, b1, nb1);
	if (s2 > swapped)
		swapped = s2;
	m->swapped = swapped > straight;

	if (text_equal(a->email, b->email))
		m->email = 0.95;
	else if (a->email.s != NULL && b->email.s != NULL)
	{
		size_t		la = utf8_chars(a->email),
					lb = utf8_chars(b->email);

		if ((la < lb ? la : lb) >= 6 &&
			sim_edit_distance(a->email.s, a->email.len, b->email.s, b->email.len) == 1)
			m->email = 0.75;
	}

	for (int i = 0; i < a->nphones && m->phone == 0.0; i++)
		for (int j = 0; j < b->nphones; j++)
			if (text_equal(a->phones[i], b->phones[j]))
			{
				m->phone = 0.90;
				break;
			}

	if (m->email == 0.0 && a->email.s != NULL && b->email.s != NULL)
		x *= 0.80;
	if (m->phone == 0.0 && a->nphones > 0 && b->nphones > 0)
		x *= 0.80;
	combine(m, m->swapped ? swapped : straight, x);
}

/* Duplicate score of two accounts (see similarity.h). */
void
sim_account_match(const SimAccount *a, const SimAccount *b, SimMatch *m)
{
	uint32_t	ca[SIM_MAX_CODEPOINTS],
				cb[SIM_MAX_CODEPOINTS];
	uint32_t	tok[2 * SIM_MAX_CODEPOINTS];
	int			n,
				k;
	float		sim;
	double		x = 1.0;

	memset(m, 0, sizeof(*m));

	/*
	 * The normalised names as code points (crm.company_norm, whose result is
	 * then compared on its first SIM_MAX_CODEPOINTS code points).
	 */
	k = company_tokens(a->name.s ? a->name.s : "", a->name.s ? a->name.len : 0, tok);
	n = k < SIM_MAX_CODEPOINTS ? k : SIM_MAX_CODEPOINTS;
	memcpy(ca, tok, n * sizeof(uint32_t));
	k = company_tokens(b->name.s ? b->name.s : "", b->name.s ? b->name.len : 0, tok);
	k = k < SIM_MAX_CODEPOINTS ? k : SIM_MAX_CODEPOINTS;
	memcpy(cb, tok, k * sizeof(uint32_t));
	sim = (float) name_similarity_cp(ca, n, cb, k);

	if (text_equal(a->domain, b->domain))
		m->email = 0.90;
	if (text_equal(a->phone, b->phone))
		m->phone = 0.80;
	if (m->email == 0.0 && a->domain.s != NULL && b->domain.s != NULL)
		x *= 0.80;
	if (m->phone == 0.0 && a->phone.s != NULL && b->phone.s != NULL)
		x *= 0.80;
	combine(m, sim, x);
}

/* The reasons of a match (see similarity.h). */
int
sim_match_reasons(const SimMatch *m, bool account, char out[3][SIM_REASON_BUFSIZE])
{
	int			k = 0;

	if (account && m->email > 0.0)
		snprintf(out[k++], SIM_REASON_BUFSIZE, "same domain");
	else if (m->email >= 0.95)
		snprintf(out[k++], SIM_REASON_BUFSIZE, "same email");
	else if (m->email > 0.0)
		snprintf(out[k++], SIM_REASON_BUFSIZE, "similar email");
	if (m->phone > 0.0)
		snprintf(out[k++], SIM_REASON_BUFSIZE, "same phone");
	if (m->name > 0.0)
		snprintf(out[k++], SIM_REASON_BUFSIZE, "similar name (%.2f%s)", m->name,
				 m->swapped && !account ? ", first and last swapped" : "");
	return k;
}
