/*
 * phone_lpn.c
 *		National and international formats of a phone number by
 *		libphonenumber's rules, from its metadata (phone_formats.c, generated
 *		by scripts/gen-phone-formats.js).
 *
 * libphonenumber picks the first format of the number's calling code whose
 * leading-digits pattern matches the start of the national significant
 * number (NSN) and whose pattern matches all of it, then writes the groups
 * of that match into the format ("$1 $2-$3"); the national form puts the
 * national-prefix rule ("0$1", "($1)", "8 ($1)") in place of the first
 * group.  The patterns are regular expressions over digits using only
 * digits, \d, [classes], (groups), (?:groups), |, ?, {n} and {n,m}; the
 * small backtracking matcher below implements exactly that subset.
 *
 * Pure C, no PostgreSQL headers, no allocation; never reads past its
 * inputs.  The patterns come from the generated table, not from users.
 */
#include "phone_lpn.h"

#include <string.h>

#include "phone_formats.h"

/* ------------------------------------------------------------------------
 * A regular-expression subset over digit strings
 * ------------------------------------------------------------------------
 */
#define LPN_MAX_NODES	1024
#define LPN_MAX_CAPS	10
#define LPN_INF			255

enum
{
	LPN_SET,					/* one digit of a set */
	LPN_GROUP,					/* alternatives (child: the first LPN_ALT) */
	LPN_ALT						/* one alternative (child: its first node) */
};

typedef struct lpn_node
{
	unsigned char kind;
	unsigned char min;			/* repetitions (LPN_SET, LPN_GROUP) */
	unsigned char max;
	signed char cap;			/* capture number of a group, or -1 */
	unsigned short set;			/* LPN_SET: bit d for digit d */
	short		child;
	short		next;			/* next node of the sequence, or -1 */
} lpn_node;

typedef struct lpn_re
{
	lpn_node	node[LPN_MAX_NODES];
	int			nnodes;
	int			ncaps;
	/* matching state */
	const char *s;
	int			n;
	int			full;			/* the whole string must match */
	int			cap_start[LPN_MAX_CAPS];
	int			cap_end[LPN_MAX_CAPS];
} lpn_re;

/* where a group instance ends: resume here */
typedef struct lpn_k
{
	int			node;
	int			count;
	int			start;
	const struct lpn_k *up;
} lpn_k;

static int	lpn_parse_alts(lpn_re *re, const char **p, int cap);

/* A new node, or -1 when the table is full. */
static int
lpn_new(lpn_re *re, unsigned char kind)
{
	lpn_node   *nd;

	if (re->nnodes >= LPN_MAX_NODES)
		return -1;
	nd = &re->node[re->nnodes];
	memset(nd, 0, sizeof(*nd));
	nd->kind = kind;
	nd->min = nd->max = 1;
	nd->cap = -1;
	nd->child = nd->next = -1;
	return re->nnodes++;
}

/* A decimal number at *p (for {n,m}); -1 if none. */
static int
lpn_number(const char **p)
{
	int			v = 0;
	int			any = 0;

	while (**p >= '0' && **p <= '9' && v < 1000)
	{
		v = v * 10 + (**p - '0');
		(*p)++;
		any = 1;
	}
	return any ? v : -1;
}

/* Parse one atom and its quantifier at *p; its node, or -1 on error. */
static int
lpn_parse_atom(lpn_re *re, const char **p)
{
	int			id;
	const char *q = *p;

	if (*q >= '0' && *q <= '9')
	{
		if ((id = lpn_new(re, LPN_SET)) < 0)
			return -1;
		re->node[id].set = (unsigned short) (1u << (*q - '0'));
		q++;
	}
	else if (q[0] == '\\' && q[1] == 'd')
	{
		if ((id = lpn_new(re, LPN_SET)) < 0)
			return -1;
		re->node[id].set = 0x3FF;
		q += 2;
	}
	else if (*q == '[')
	{
		unsigned	set = 0;

		q++;
		while (*q >= '0' && *q <= '9')
		{
			int			lo = *q - '0',
						hi = lo;

			q++;
			if (q[0] == '-' && q[1] >= '0' && q[1] <= '9')
			{
				hi = q[1] - '0';
				q += 2;
			}
			for (; lo <= hi; lo++)
				set |= 1u << lo;
		}
		if (*q != ']')
			return -1;
		q++;
		if ((id = lpn_new(re, LPN_SET)) < 0)
			return -1;
		re->node[id].set = (unsigned short) set;
	}
	else if (*q == '(')
	{
		int			cap = -1;

		q++;
		if (q[0] == '?' && q[1] == ':')
			q += 2;
		else
		{
			if (re->ncaps >= LPN_MAX_CAPS)
				return -1;
			cap = re->ncaps++;
		}
		if ((id = lpn_parse_alts(re, &q, cap)) < 0)
			return -1;
		if (*q != ')')
			return -1;
		q++;
	}
	else
		return -1;

	/* quantifier */
	if (*q == '?')
	{
		re->node[id].min = 0;
		q++;
	}
	else if (*q == '{')
	{
		int			lo,
					hi;

		q++;
		lo = lpn_number(&q);
		hi = lo;
		if (*q == ',')
		{
			q++;
			hi = lpn_number(&q);
		}
		if (lo < 0 || hi < lo || hi >= LPN_INF || *q != '}')
			return -1;
		q++;
		re->node[id].min = (unsigned char) lo;
		re->node[id].max = (unsigned char) hi;
	}
	*p = q;
	return id;
}

/* Parse alternatives up to ')' or the end into a group node. */
static int
lpn_parse_alts(lpn_re *re, const char **p, int cap)
{
	int			group = lpn_new(re, LPN_GROUP);
	int			last_alt = -1;

	if (group < 0)
		return -1;
	re->node[group].cap = (signed char) cap;
	for (;;)
	{
		int			alt = lpn_new(re, LPN_ALT);
		int			last = -1;

		if (alt < 0)
			return -1;
		if (last_alt < 0)
			re->node[group].child = (short) alt;
		else
			re->node[last_alt].next = (short) alt;
		last_alt = alt;
		while (**p != '\0' && **p != '|' && **p != ')')
		{
			int			atom = lpn_parse_atom(re, p);

			if (atom < 0)
				return -1;
			if (last < 0)
				re->node[alt].child = (short) atom;
			else
				re->node[last].next = (short) atom;
			last = atom;
		}
		if (**p != '|')
			return group;
		(*p)++;
	}
}

/* Compile pattern into *re; 0 on success, -1 for what the subset lacks. */
static int
lpn_compile(lpn_re *re, const char *pattern)
{
	const char *p = pattern;

	re->nnodes = 0;
	re->ncaps = 0;
	if (lpn_parse_alts(re, &p, -1) != 0 || *p != '\0')
		return -1;
	return 0;
}

static int	lpn_rep(lpn_re *re, int node, int count, int pos, const lpn_k *k);

/* Match the sequence from node on at pos, then the continuation k. */
static int
lpn_seq(lpn_re *re, int node, int pos, const lpn_k *k)
{
	if (node >= 0)
		return lpn_rep(re, node, 0, pos, k);
	if (k == NULL)
		return !re->full || pos == re->n;
	{
		/* a group instance ends here */
		const lpn_node *g = &re->node[k->node];
		int			saved_start = 0,
					saved_end = 0;
		int			r;

		if (g->cap >= 0)
		{
			saved_start = re->cap_start[g->cap];
			saved_end = re->cap_end[g->cap];
			re->cap_start[g->cap] = k->start;
			re->cap_end[g->cap] = pos;
		}
		/* an empty instance ends the repetition (no endless loop) */
		if (pos == k->start)
			r = k->count + 1 >= g->min && lpn_seq(re, g->next, pos, k->up);
		else
			r = lpn_rep(re, k->node, k->count + 1, pos, k->up);
		if (!r && g->cap >= 0)
		{
			re->cap_start[g->cap] = saved_start;
			re->cap_end[g->cap] = saved_end;
		}
		return r;
	}
}

/*
 * Node has matched count times, ending at pos: greedily try one more, then
 * go on with the rest of its sequence (k: what follows that sequence).
 */
static int
lpn_rep(lpn_re *re, int node, int count, int pos, const lpn_k *k)
{
	const lpn_node *nd = &re->node[node];

	if (count < nd->max)
	{
		if (nd->kind == LPN_SET)
		{
			if (pos < re->n && re->s[pos] >= '0' && re->s[pos] <= '9' &&
				(nd->set & (1u << (re->s[pos] - '0'))) &&
				lpn_rep(re, node, count + 1, pos + 1, k))
				return 1;
		}
		else
		{
			lpn_k		f;
			int			alt;

			f.node = node;
			f.count = count;
			f.start = pos;
			f.up = k;
			for (alt = nd->child; alt >= 0; alt = re->node[alt].next)
				if (lpn_seq(re, re->node[alt].child, pos, &f))
					return 1;
		}
	}
	if (count >= nd->min)
		return lpn_seq(re, nd->next, pos, k);
	return 0;
}

/* Does pattern match all of s[0..n) (full) or a prefix of it? */
static int
lpn_match(lpn_re *re, const char *pattern, const char *s, int n, int full)
{
	int			i;

	if (lpn_compile(re, pattern) != 0)
		return 0;
	re->s = s;
	re->n = n;
	re->full = full;
	for (i = 0; i < LPN_MAX_CAPS; i++)
		re->cap_start[i] = re->cap_end[i] = -1;
	return lpn_seq(re, 0, 0, NULL);
}

/* ------------------------------------------------------------------------
 * Formatting
 * ------------------------------------------------------------------------
 */

/* The formats of a calling code, or NULL. */
static const phone_lpn_code *
lpn_code(unsigned cc)
{
	size_t		i;

	for (i = 0; i < phone_lpn_ncodes; i++)
		if (phone_lpn_codes[i].cc == cc)
			return &phone_lpn_codes[i];
	return NULL;
}

/* Append s[0..n) to buf at *len (room: bufsz, NUL kept); 0 if it fits. */
static int
lpn_put(char *buf, size_t bufsz, size_t *len, const char *s, size_t n)
{
	if (*len + n + 1 > bufsz)
		return -1;
	memcpy(buf + *len, s, n);
	*len += n;
	buf[*len] = '\0';
	return 0;
}

/*
 * Write the groups of re's last match into a format string such as
 * "$1 $2-$3"; for the first group reference, np_rule ("0$1": "$1" the
 * group) when given.
 */
static int
lpn_expand(const lpn_re *re, const char *fmt, const char *np_rule,
		   char *buf, size_t bufsz, size_t *len)
{
	const char *f;
	int			first = 1;

	for (f = fmt; *f != '\0'; f++)
	{
		int			g;

		if (f[0] != '$' || f[1] < '1' || f[1] > '9')
		{
			if (lpn_put(buf, bufsz, len, f, 1) != 0)
				return -1;
			continue;
		}
		g = f[1] - '1';
		f++;
		if (g >= re->ncaps || re->cap_start[g] < 0)
			return -1;
		if (first && np_rule != NULL)
		{
			const char *r;

			for (r = np_rule; *r != '\0'; r++)
			{
				if (r[0] == '$' && r[1] == '1')
				{
					if (lpn_put(buf, bufsz, len, re->s + re->cap_start[g],
								(size_t) (re->cap_end[g] - re->cap_start[g])) != 0)
						return -1;
					r++;
				}
				else if (lpn_put(buf, bufsz, len, r, 1) != 0)
					return -1;
			}
		}
		else if (lpn_put(buf, bufsz, len, re->s + re->cap_start[g],
						 (size_t) (re->cap_end[g] - re->cap_start[g])) != 0)
			return -1;
		first = 0;
	}
	return 0;
}

/* Format the NSN of calling code cc (see phone_lpn.h). */
int
phone_lpn_format(unsigned cc, const char *nsn, size_t n, int national,
				 char *buf, size_t bufsz)
{
	const phone_lpn_code *code = lpn_code(cc);
	const phone_lpn_fmt *list;
	size_t		nlist,
				i,
				len = 0;
	lpn_re		re;

	if (code == NULL || bufsz == 0 || n == 0 || n > 20)
		return -1;
	buf[0] = '\0';
	list = (!national && code->intl != NULL) ? code->intl : code->formats;
	nlist = (!national && code->intl != NULL) ? code->nintl : code->nformats;
	for (i = 0; i < nlist; i++)
	{
		const phone_lpn_fmt *f = &list[i];

		if (f->leading != NULL && !lpn_match(&re, f->leading, nsn, (int) n, 0))
			continue;
		if (!lpn_match(&re, f->pattern, nsn, (int) n, 1))
			continue;
		if (strcmp(f->format, "NA") == 0)
			break;
		if (lpn_expand(&re, f->format, national ? f->np_rule : NULL, buf, bufsz, &len) != 0)
			return -1;
		return (int) len;
	}
	/* no format: the digits as they are */
	if (lpn_put(buf, bufsz, &len, nsn, n) != 0)
		return -1;
	return (int) len;
}

/* Do all patterns of the table compile (for the unit tests)? */
int
phone_lpn_check_table(void)
{
	lpn_re		re;
	size_t		i,
				j;

	for (i = 0; i < phone_lpn_ncodes; i++)
	{
		const phone_lpn_code *c = &phone_lpn_codes[i];

		for (j = 0; j < c->nformats + c->nintl; j++)
		{
			const phone_lpn_fmt *f = j < c->nformats ? &c->formats[j] : &c->intl[j - c->nformats];

			if (lpn_compile(&re, f->pattern) != 0 ||
				(f->leading != NULL && lpn_compile(&re, f->leading) != 0))
				return 0;
		}
	}
	return 1;
}
