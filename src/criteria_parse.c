/*
 * criteria_parse.c
 *		JSON text into a bounded tree of criteria groups and conditions
 *		(pure C: see criteria_parse.h for the contract).
 *
 * Two steps: a strict JSON parser (RFC 8259; a string's \u escapes are
 * decoded to UTF-8, \u0000 and unpaired surrogates are refused as jsonb
 * refuses them) builds CritJson values, then the document builder checks
 * the criteria shape and builds CritNodes.  Recursion is bounded by
 * CRIT_MAX_DEPTH in the first step and by the JSON nesting in the second.
 */
#include "criteria_parse.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const op_names[CRIT_OP_COUNT] = {
	"eq", "neq", "in", "not_in", "contains", "not_contains", "starts_with",
	"ends_with", "gt", "gte", "lt", "lte", "between", "is_null", "is_not_null",
	"within_last", "before_last", "has_any", "has_all"
};

static const char *const unit_names[] = {
	"minutes", "hours", "days", "weeks", "months", "years"
};

#define COND_KEYS "field, op, value, include_no_value"
#define GROUP_KEYS "all, any, not (a group), field (a condition) or related (a related-record condition)"
#define RELATED_KEYS "related, where, at_least, within_last"

/* The name of an operator. */
const char *
crit_op_name(CritOp op)
{
	if ((int) op < 0 || op >= CRIT_OP_COUNT)
		return "invalid";
	return op_names[op];
}

/* The operator of a name, or CRIT_OP_COUNT. */
CritOp
crit_op_from_name(const char *s, size_t len)
{
	int			i;

	for (i = 0; i < CRIT_OP_COUNT; i++)
		if (strlen(op_names[i]) == len && memcmp(op_names[i], s, len) == 0)
			return (CritOp) i;
	return CRIT_OP_COUNT;
}

/* The plural name of a unit. */
const char *
crit_unit_name(CritUnit unit)
{
	if ((int) unit < 0 || unit > CRIT_UNIT_YEAR)
		return "invalid";
	return unit_names[unit];
}

/* Append a NUL-terminated string to buf[0..size) at *off, truncating. */
static void
append(char *buf, size_t size, size_t *off, const char *s)
{
	size_t		n = strlen(s);

	if (size == 0 || *off >= size - 1)
		return;
	if (n > size - 1 - *off)
		n = size - 1 - *off;
	memcpy(buf + *off, s, n);
	*off += n;
	buf[*off] = '\0';
}

/* The operators of a mask, comma-separated. */
void
crit_op_list(CritOpMask mask, char *buf, size_t size)
{
	size_t		off = 0;
	int			i;
	bool		first = true;

	if (size == 0)
		return;
	buf[0] = '\0';
	for (i = 0; i < CRIT_OP_COUNT; i++)
	{
		if (!(mask & CRIT_OP_BIT(i)))
			continue;
		if (!first)
			append(buf, size, &off, ", ");
		append(buf, size, &off, op_names[i]);
		first = false;
	}
}

/* Fill in an error. */
void
crit_error(CritError *err, CritErrKind kind, const char *path, const char *hint,
		   const char *fmt,...)
{
	va_list		ap;

	err->kind = kind;
	snprintf(err->path, sizeof(err->path), "%s", path ? path : "$");
	snprintf(err->hint, sizeof(err->hint), "%s", hint ? hint : "");
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

/*
 * A quoted copy of t for messages: at most 60 bytes of it, control bytes,
 * quotes and backslashes escaped, "..." when shortened.
 */
void
crit_quote(CritText t, char *buf, size_t size)
{
	size_t		off = 0;
	size_t		i;
	char		tmp[8];

	if (size == 0)
		return;
	buf[0] = '\0';
	append(buf, size, &off, "\"");
	for (i = 0; i < t.len && i < 60; i++)
	{
		unsigned char c = (unsigned char) t.ptr[i];

		if (c < 0x20 || c == 0x7f)
			snprintf(tmp, sizeof(tmp), "\\x%02x", c);
		else if (c == '"' || c == '\\')
			snprintf(tmp, sizeof(tmp), "\\%c", c);
		else
		{
			tmp[0] = (char) c;
			tmp[1] = '\0';
		}
		append(buf, size, &off, tmp);
	}
	if (t.len > 60)
		append(buf, size, &off, "...");
	append(buf, size, &off, "\"");
}

/* ---------------------------------------------------------------------
 * Step 1: JSON
 * ---------------------------------------------------------------------
 */
typedef struct JsonParser
{
	const char *s;
	size_t		len;
	size_t		pos;
	CritDoc    *doc;
	CritError  *err;
} JsonParser;

static void
skip_ws(JsonParser *p)
{
	while (p->pos < p->len &&
		   (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
			p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
		p->pos++;
}

/* A syntax error at the current byte. */
static bool
syntax_error(JsonParser *p, const char *what)
{
	if (p->pos >= p->len)
		crit_error(p->err, CRIT_ERR_SYNTAX, "$", NULL,
				   "invalid JSON: %s at the end of the document", what);
	else
		crit_error(p->err, CRIT_ERR_SYNTAX, "$", NULL,
				   "invalid JSON: %s at byte %zu", what, p->pos);
	return false;
}

static CritJson *
new_value(JsonParser *p, CritJsonKind kind)
{
	CritJson   *v;

	if (p->doc->nvalues >= CRIT_MAX_VALUES)
	{
		crit_error(p->err, CRIT_ERR_LIMIT, "$", "Split the criteria into smaller documents.",
				   "the document has more than %d JSON values", CRIT_MAX_VALUES);
		return NULL;
	}
	v = &p->doc->values[p->doc->nvalues++];
	memset(v, 0, sizeof(*v));
	v->kind = kind;
	return v;
}

/* Write code point cp as UTF-8 into the string area. */
static void
put_utf8(CritDoc *doc, unsigned long cp)
{
	char	   *o = doc->str + doc->nstr;

	if (cp < 0x80)
	{
		o[0] = (char) cp;
		doc->nstr += 1;
	}
	else if (cp < 0x800)
	{
		o[0] = (char) (0xC0 | (cp >> 6));
		o[1] = (char) (0x80 | (cp & 0x3F));
		doc->nstr += 2;
	}
	else if (cp < 0x10000)
	{
		o[0] = (char) (0xE0 | (cp >> 12));
		o[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char) (0x80 | (cp & 0x3F));
		doc->nstr += 3;
	}
	else
	{
		o[0] = (char) (0xF0 | (cp >> 18));
		o[1] = (char) (0x80 | ((cp >> 12) & 0x3F));
		o[2] = (char) (0x80 | ((cp >> 6) & 0x3F));
		o[3] = (char) (0x80 | (cp & 0x3F));
		doc->nstr += 4;
	}
}

/* Four hex digits at p->pos, or -1. */
static long
hex4(JsonParser *p)
{
	long		v = 0;
	int			i;

	if (p->len - p->pos < 4)
		return -1;
	for (i = 0; i < 4; i++)
	{
		char		c = p->s[p->pos + i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	p->pos += 4;
	return v;
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		return (n >= 2 && (s[1] & 0xC0) == 0x80) ? 2 : 0;
	if (c >= 0xE0 && c <= 0xEF)
	{
		if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
			return 0;
		if (c == 0xE0 && s[1] < 0xA0)
			return 0;			/* overlong */
		if (c == 0xED && s[1] >= 0xA0)
			return 0;			/* surrogate */
		return 3;
	}
	if (c >= 0xF0 && c <= 0xF4)
	{
		if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
			return 0;
		if (c == 0xF0 && s[1] < 0x90)
			return 0;			/* overlong */
		if (c == 0xF4 && s[1] >= 0x90)
			return 0;			/* beyond U+10FFFF */
		return 4;
	}
	return 0;
}

/*
 * A string (p->pos at the opening quote): unescaped into the string area
 * (never longer than its JSON text, which is inside the CRIT_MAX_BYTES
 * input, so the area cannot overflow).
 */
static bool
parse_string(JsonParser *p, CritText *out)
{
	CritDoc    *doc = p->doc;
	size_t		start = doc->nstr;

	p->pos++;					/* the quote */
	for (;;)
	{
		unsigned char c;

		if (p->pos >= p->len)
			return syntax_error(p, "unterminated string");
		c = (unsigned char) p->s[p->pos];
		if (c == '"')
		{
			p->pos++;
			break;
		}
		if (c < 0x20)
			return syntax_error(p, "control character in a string");
		if (c == '\\')
		{
			char		e;

			p->pos++;
			if (p->pos >= p->len)
				return syntax_error(p, "unterminated string");
			e = p->s[p->pos++];
			switch (e)
			{
				case '"':
				case '\\':
				case '/':
					doc->str[doc->nstr++] = e;
					break;
				case 'b':
					doc->str[doc->nstr++] = '\b';
					break;
				case 'f':
					doc->str[doc->nstr++] = '\f';
					break;
				case 'n':
					doc->str[doc->nstr++] = '\n';
					break;
				case 'r':
					doc->str[doc->nstr++] = '\r';
					break;
				case 't':
					doc->str[doc->nstr++] = '\t';
					break;
				case 'u':
					{
						long		cp = hex4(p);

						if (cp < 0)
							return syntax_error(p, "bad \\u escape");
						if (cp == 0)
							return syntax_error(p, "\\u0000 (a NUL character) in a string");
						if (cp >= 0xDC00 && cp <= 0xDFFF)
							return syntax_error(p, "unpaired surrogate in a \\u escape");
						if (cp >= 0xD800 && cp <= 0xDBFF)
						{
							long		lo;

							if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
								return syntax_error(p, "unpaired surrogate in a \\u escape");
							p->pos += 2;
							lo = hex4(p);
							if (lo < 0xDC00 || lo > 0xDFFF)
								return syntax_error(p, "unpaired surrogate in a \\u escape");
							cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
						}
						put_utf8(doc, (unsigned long) cp);
						break;
					}
				default:
					p->pos--;
					return syntax_error(p, "unknown escape in a string");
			}
			continue;
		}
		{
			size_t		n = utf8_len((const unsigned char *) p->s + p->pos, p->len - p->pos);

			if (n == 0)
				return syntax_error(p, "invalid UTF-8 in a string");
			memcpy(doc->str + doc->nstr, p->s + p->pos, n);
			doc->nstr += n;
			p->pos += n;
		}
	}
	out->ptr = doc->str + start;
	out->len = doc->nstr - start;
	return true;
}

/* A number (JSON grammar); its text is kept as written. */
static bool
parse_number(JsonParser *p, CritText *out)
{
	size_t		start = p->pos;
	const char *s = p->s;

	if (p->pos < p->len && s[p->pos] == '-')
		p->pos++;
	if (p->pos >= p->len)
		return syntax_error(p, "incomplete number");
	if (s[p->pos] == '0')
		p->pos++;
	else if (s[p->pos] >= '1' && s[p->pos] <= '9')
		while (p->pos < p->len && s[p->pos] >= '0' && s[p->pos] <= '9')
			p->pos++;
	else
		return syntax_error(p, "incomplete number");
	if (p->pos < p->len && s[p->pos] == '.')
	{
		p->pos++;
		if (p->pos >= p->len || s[p->pos] < '0' || s[p->pos] > '9')
			return syntax_error(p, "incomplete number");
		while (p->pos < p->len && s[p->pos] >= '0' && s[p->pos] <= '9')
			p->pos++;
	}
	if (p->pos < p->len && (s[p->pos] == 'e' || s[p->pos] == 'E'))
	{
		p->pos++;
		if (p->pos < p->len && (s[p->pos] == '+' || s[p->pos] == '-'))
			p->pos++;
		if (p->pos >= p->len || s[p->pos] < '0' || s[p->pos] > '9')
			return syntax_error(p, "incomplete number");
		while (p->pos < p->len && s[p->pos] >= '0' && s[p->pos] <= '9')
			p->pos++;
	}
	out->ptr = s + start;
	out->len = p->pos - start;
	return true;
}

static bool
literal(JsonParser *p, const char *word)
{
	size_t		n = strlen(word);

	if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
		return false;
	p->pos += n;
	return true;
}

/* One value at p->pos; depth = containers around it. */
static const CritJson *
parse_value(JsonParser *p, int depth)
{
	CritJson   *v;
	char		c;

	skip_ws(p);
	if (p->pos >= p->len)
	{
		syntax_error(p, "a value expected");
		return NULL;
	}
	c = p->s[p->pos];
	if (c == '{' || c == '[')
	{
		bool		obj = (c == '{');
		const CritJson **tail;

		if (depth >= CRIT_MAX_DEPTH)
		{
			crit_error(p->err, CRIT_ERR_LIMIT, "$", "Flatten nested groups: all and any take any number of members.",
					   "the document is nested deeper than %d levels", CRIT_MAX_DEPTH);
			return NULL;
		}
		if (!(v = new_value(p, obj ? CRIT_J_OBJECT : CRIT_J_ARRAY)))
			return NULL;
		tail = &v->first;
		p->pos++;
		skip_ws(p);
		if (p->pos < p->len && p->s[p->pos] == (obj ? '}' : ']'))
		{
			p->pos++;
			return v;
		}
		for (;;)
		{
			CritText	key = {NULL, 0};
			const CritJson *elem;

			if (obj)
			{
				skip_ws(p);
				if (p->pos >= p->len || p->s[p->pos] != '"')
				{
					syntax_error(p, "a member name expected");
					return NULL;
				}
				if (!parse_string(p, &key))
					return NULL;
				skip_ws(p);
				if (p->pos >= p->len || p->s[p->pos] != ':')
				{
					syntax_error(p, "':' expected");
					return NULL;
				}
				p->pos++;
			}
			if (!(elem = parse_value(p, depth + 1)))
				return NULL;
			((CritJson *) elem)->key = key;
			*tail = elem;
			tail = &((CritJson *) elem)->next;
			v->count++;
			skip_ws(p);
			if (p->pos < p->len && p->s[p->pos] == ',')
			{
				p->pos++;
				continue;
			}
			if (p->pos < p->len && p->s[p->pos] == (obj ? '}' : ']'))
			{
				p->pos++;
				return v;
			}
			syntax_error(p, obj ? "',' or '}' expected" : "',' or ']' expected");
			return NULL;
		}
	}
	if (c == '"')
	{
		if (!(v = new_value(p, CRIT_J_STRING)))
			return NULL;
		return parse_string(p, &v->text) ? v : NULL;
	}
	if (c == '-' || (c >= '0' && c <= '9'))
	{
		if (!(v = new_value(p, CRIT_J_NUMBER)))
			return NULL;
		return parse_number(p, &v->text) ? v : NULL;
	}
	if (literal(p, "true") || literal(p, "false"))
	{
		if (!(v = new_value(p, CRIT_J_BOOL)))
			return NULL;
		v->text.ptr = c == 't' ? "true" : "false";
		v->text.len = c == 't' ? 4 : 5;
		return v;
	}
	if (literal(p, "null"))
		return new_value(p, CRIT_J_NULL);
	syntax_error(p, "unexpected character");
	return NULL;
}

/* ---------------------------------------------------------------------
 * Step 2: the criteria document
 * ---------------------------------------------------------------------
 */

/* The path of a node. */
size_t
crit_node_path(const CritNode *node, char *buf, size_t size)
{
	const CritNode *chain[CRIT_MAX_DEPTH + 2];
	int			n = 0;
	size_t		off = 0;
	char		tmp[32];

	if (size == 0)
		return 0;
	buf[0] = '\0';
	append(buf, size, &off, "$");
	for (; node && node->parent && n < CRIT_MAX_DEPTH + 2; node = node->parent)
		chain[n++] = node;
	while (n-- > 0)
	{
		const CritNode *c = chain[n];

		switch (c->parent->kind)
		{
			case CRIT_ALL:
				snprintf(tmp, sizeof(tmp), ".all[%d]", c->index);
				break;
			case CRIT_ANY:
				snprintf(tmp, sizeof(tmp), ".any[%d]", c->index);
				break;
			case CRIT_RELATED:
				snprintf(tmp, sizeof(tmp), ".where");
				break;
			default:
				snprintf(tmp, sizeof(tmp), ".not");
				break;
		}
		append(buf, size, &off, tmp);
	}
	return off;
}

typedef struct Builder
{
	CritDoc    *doc;
	CritError  *err;
} Builder;

static bool
key_is(const CritJson *m, const char *name)
{
	return m->key.len == strlen(name) && memcmp(m->key.ptr, name, m->key.len) == 0;
}

/* An invalid-document error at node's path + suffix. */
static bool
invalid_at(Builder *b, const CritNode *node, const char *suffix, const char *hint,
		   const char *message)
{
	char		path[CRIT_PATH_SIZE];
	size_t		off = crit_node_path(node, path, sizeof(path));

	if (suffix)
		append(path, sizeof(path), &off, suffix);
	crit_error(b->err, CRIT_ERR_INVALID, path, hint, "%s", message);
	return false;
}

static const char *
kind_name(CritJsonKind k)
{
	switch (k)
	{
		case CRIT_J_NULL:
			return "null";
		case CRIT_J_BOOL:
			return "a boolean";
		case CRIT_J_NUMBER:
			return "a number";
		case CRIT_J_STRING:
			return "a string";
		case CRIT_J_ARRAY:
			return "an array";
		case CRIT_J_OBJECT:
			return "an object";
	}
	return "a value";
}

static bool build_node(Builder *b, const CritJson *j, CritNode *node);

/* A new node under parent (NULL: the root). */
static CritNode *
new_node(Builder *b, const CritNode *parent, int index)
{
	CritNode   *n;

	if (b->doc->nnodes >= CRIT_MAX_NODES)
	{
		crit_error(b->err, CRIT_ERR_LIMIT, "$", "Split the criteria into smaller documents.",
				   "the document has more than %d groups and conditions", CRIT_MAX_NODES);
		return NULL;
	}
	n = &b->doc->nodes[b->doc->nnodes++];
	memset(n, 0, sizeof(*n));
	n->parent = parent;
	n->index = index;
	return n;
}

/*
 * Parse "N unit" (e.g. "30 days", "1 month"): N a positive integer up to
 * CRIT_MAX_AMOUNT, unit singular or plural.
 */
static bool
parse_interval(CritText t, int *amount, CritUnit *unit)
{
	size_t		i = 0;
	long		n = 0;
	static const char *const singular[] = {"minute", "hour", "day", "week", "month", "year"};
	int			u;
	size_t		rest;

	while (i < t.len && t.ptr[i] == ' ')
		i++;
	if (i >= t.len || t.ptr[i] < '0' || t.ptr[i] > '9')
		return false;
	while (i < t.len && t.ptr[i] >= '0' && t.ptr[i] <= '9')
	{
		n = n * 10 + (t.ptr[i] - '0');
		if (n > CRIT_MAX_AMOUNT)
			return false;
		i++;
	}
	if (n < 1)
		return false;
	while (i < t.len && t.ptr[i] == ' ')
		i++;
	rest = t.len - i;
	while (rest > 0 && t.ptr[i + rest - 1] == ' ')
		rest--;
	for (u = 0; u <= CRIT_UNIT_YEAR; u++)
	{
		size_t		sl = strlen(singular[u]);

		if ((rest == sl || (rest == sl + 1 && t.ptr[i + sl] == 's')) &&
			memcmp(t.ptr + i, singular[u], sl) == 0)
		{
			*amount = (int) n;
			*unit = (CritUnit) u;
			return true;
		}
	}
	return false;
}

/* Check the value of a condition against what its operator takes. */
static bool
check_value(Builder *b, CritNode *node, const CritJson *value)
{
	char		msg[CRIT_MSG_SIZE];
	const char *opname = crit_op_name(node->op);
	const CritJson *e;

	switch (node->op)
	{
		case CRIT_OP_IS_NULL:
		case CRIT_OP_IS_NOT_NULL:
			if (value && value->kind != CRIT_J_NULL)
			{
				snprintf(msg, sizeof(msg), "operator \"%s\" takes no value", opname);
				return invalid_at(b, node, ".value", "Leave out \"value\".", msg);
			}
			node->value = NULL;
			return true;
		default:
			break;
	}
	if (!value || value->kind == CRIT_J_NULL)
	{
		snprintf(msg, sizeof(msg), "operator \"%s\" needs a value", opname);
		return invalid_at(b, node, value ? ".value" : NULL,
						  "To match records without a value, use the operator is_null.", msg);
	}
	node->value = value;
	switch (node->op)
	{
		case CRIT_OP_IN:
		case CRIT_OP_NOT_IN:
		case CRIT_OP_HAS_ANY:
		case CRIT_OP_HAS_ALL:
		case CRIT_OP_BETWEEN:
			if (value->kind != CRIT_J_ARRAY)
			{
				snprintf(msg, sizeof(msg), "operator \"%s\" takes an array, not %s", opname, kind_name(value->kind));
				return invalid_at(b, node, ".value",
								  node->op == CRIT_OP_BETWEEN ? "Write [low, high]." : "Write [\"a\", \"b\"].", msg);
			}
			if (node->op == CRIT_OP_BETWEEN && value->count != 2)
			{
				snprintf(msg, sizeof(msg), "operator \"between\" takes two values, not %d", value->count);
				return invalid_at(b, node, ".value", "Write [low, high].", msg);
			}
			if (value->count == 0)
			{
				snprintf(msg, sizeof(msg), "operator \"%s\" needs at least one value", opname);
				return invalid_at(b, node, ".value", "Write [\"a\", \"b\"].", msg);
			}
			{
				int			i = 0;

				for (e = value->first; e; e = e->next, i++)
				{
					if (e->kind == CRIT_J_NULL || e->kind == CRIT_J_ARRAY || e->kind == CRIT_J_OBJECT)
					{
						char		sfx[48];

						snprintf(sfx, sizeof(sfx), ".value[%d]", i);
						snprintf(msg, sizeof(msg), "the values of operator \"%s\" are strings, numbers or booleans, not %s",
								 opname, kind_name(e->kind));
						return invalid_at(b, node, sfx, "To match records without a value, use the operator is_null.", msg);
					}
				}
			}
			return true;
		case CRIT_OP_WITHIN_LAST:
		case CRIT_OP_BEFORE_LAST:
			if (value->kind != CRIT_J_STRING || !parse_interval(value->text, &node->amount, &node->unit))
			{
				snprintf(msg, sizeof(msg), "operator \"%s\" takes an interval such as \"30 days\"", opname);
				return invalid_at(b, node, ".value",
								  "Write \"N unit\": N from 1 to 100000, unit minutes, hours, days, weeks, months or years.", msg);
			}
			return true;
		default:
			if (value->kind == CRIT_J_ARRAY || value->kind == CRIT_J_OBJECT)
			{
				snprintf(msg, sizeof(msg), "operator \"%s\" takes a single value, not %s", opname, kind_name(value->kind));
				return invalid_at(b, node, ".value",
								  value->kind == CRIT_J_ARRAY ? "For a list of values, use the operator in." : "Write a string, a number or a boolean.", msg);
			}
			return true;
	}
}

/* A condition object. */
static bool
build_cond(Builder *b, const CritJson *j, CritNode *node)
{
	const CritJson *m;
	const CritJson *field = NULL;
	const CritJson *op = NULL;
	const CritJson *value = NULL;
	bool		has_value = false;
	char		msg[CRIT_MSG_SIZE];
	char		q[96];

	node->kind = CRIT_COND;
	for (m = j->first; m; m = m->next)
	{
		if (key_is(m, "field"))
			field = m;
		else if (key_is(m, "op"))
			op = m;
		else if (key_is(m, "value"))
		{
			value = m;
			has_value = true;
		}
		else if (key_is(m, "include_no_value"))
		{
			if (m->kind != CRIT_J_BOOL)
			{
				snprintf(msg, sizeof(msg), "\"include_no_value\" must be a boolean, not %s", kind_name(m->kind));
				return invalid_at(b, node, ".include_no_value", "Write true or false.", msg);
			}
			node->include_no_value = (m->text.len == 4);
		}
		else
		{
			char		sfx[CRIT_PATH_SIZE];

			crit_quote(m->key, q, sizeof(q));
			snprintf(sfx, sizeof(sfx), ".%.*s", (int) (m->key.len > 60 ? 60 : m->key.len), m->key.ptr);
			snprintf(msg, sizeof(msg), "unknown key %s in a condition", q);
			return invalid_at(b, node, sfx, "A condition has the keys " COND_KEYS ".", msg);
		}
	}
	if (!field || field->kind != CRIT_J_STRING || field->text.len == 0)
		return invalid_at(b, node, ".field", "Write the name of a field, e.g. \"email\" or \"custom_fields.tier\".",
						  field ? "\"field\" must be a non-empty string" : "a condition needs \"field\"");
	node->field = field->text;
	if (!op || op->kind != CRIT_J_STRING)
	{
		char		ops[400];

		crit_op_list(~(CritOpMask) 0, ops, sizeof(ops));
		snprintf(msg, sizeof(msg), "Operators: %s.", ops);
		return invalid_at(b, node, ".op", msg,
						  op ? "\"op\" must be a string" : "a condition needs \"op\"");
	}
	node->op = crit_op_from_name(op->text.ptr, op->text.len);
	if (node->op == CRIT_OP_COUNT)
	{
		char		ops[400];
		char		hint[CRIT_MSG_SIZE];

		crit_op_list(~(CritOpMask) 0, ops, sizeof(ops));
		snprintf(hint, sizeof(hint), "Operators: %s.", ops);
		crit_quote(op->text, q, sizeof(q));
		snprintf(msg, sizeof(msg), "unknown operator %s", q);
		return invalid_at(b, node, ".op", hint, msg);
	}
	return check_value(b, node, has_value ? value : NULL);
}

/* A related-record condition. */
static bool
build_related(Builder *b, const CritJson *j, CritNode *node)
{
	const CritJson *m;
	const CritJson *where = NULL;
	char		msg[CRIT_MSG_SIZE];
	char		q[96];

	node->kind = CRIT_RELATED;
	node->at_least = 1;
	for (m = j->first; m; m = m->next)
	{
		if (key_is(m, "related"))
		{
			if (m->kind != CRIT_J_STRING || m->text.len == 0)
				return invalid_at(b, node, ".related", "Related records: activity.",
								  "\"related\" must name the kind of related record");
			node->field = m->text;
		}
		else if (key_is(m, "where"))
			where = m;
		else if (key_is(m, "at_least"))
		{
			long		n = 0;
			size_t		i;

			if (m->kind != CRIT_J_NUMBER || m->text.ptr[0] == '-' || m->text.len > 7)
				n = -1;
			for (i = 0; n >= 0 && i < m->text.len; i++)
			{
				if (m->text.ptr[i] < '0' || m->text.ptr[i] > '9')
					n = -1;
				else
					n = n * 10 + (m->text.ptr[i] - '0');
			}
			if (n < 1 || n > CRIT_MAX_AT_LEAST)
				return invalid_at(b, node, ".at_least", "Write a whole number from 1 to 1000000.",
								  "\"at_least\" must be a whole number from 1 to 1000000");
			node->at_least = (int) n;
		}
		else if (key_is(m, "within_last"))
		{
			if (m->kind != CRIT_J_STRING || !parse_interval(m->text, &node->amount, &node->unit))
				return invalid_at(b, node, ".within_last",
								  "Write \"N unit\": N from 1 to 100000, unit minutes, hours, days, weeks, months or years.",
								  "\"within_last\" takes an interval such as \"30 days\"");
			node->has_within = true;
		}
		else
		{
			char		sfx[CRIT_PATH_SIZE];

			crit_quote(m->key, q, sizeof(q));
			snprintf(sfx, sizeof(sfx), ".%.*s", (int) (m->key.len > 60 ? 60 : m->key.len), m->key.ptr);
			snprintf(msg, sizeof(msg), "unknown key %s in a related-record condition", q);
			return invalid_at(b, node, sfx, "A related-record condition has the keys " RELATED_KEYS ".", msg);
		}
	}
	if (where)
	{
		CritNode   *child;

		if (where->kind != CRIT_J_OBJECT)
			return invalid_at(b, node, ".where", "Write {\"where\": {\"field\": ...}}.",
							  "\"where\" takes one condition or group (an object)");
		if (!(child = new_node(b, node, -1)))
			return false;
		node->first = child;
		node->count = 1;
		return build_node(b, where, child);
	}
	return true;
}

/* A group's members (an array of documents). */
static bool
build_group(Builder *b, const CritJson *arr, CritNode *node, const char *key)
{
	const CritJson *e;
	const CritNode **tail = &node->first;
	char		msg[CRIT_MSG_SIZE];
	char		sfx[16];
	int			i = 0;

	snprintf(sfx, sizeof(sfx), ".%s", key);
	if (arr->kind != CRIT_J_ARRAY)
	{
		snprintf(msg, sizeof(msg), "\"%s\" takes an array of conditions and groups, not %s", key, kind_name(arr->kind));
		return invalid_at(b, node, sfx, "Write {\"all\": [{\"field\": ...}, ...]}.", msg);
	}
	if (arr->count == 0)
	{
		snprintf(msg, sizeof(msg), "\"%s\" needs at least one condition or group", key);
		return invalid_at(b, node, sfx, "Add a condition, or leave the group out.", msg);
	}
	for (e = arr->first; e; e = e->next, i++)
	{
		CritNode   *child = new_node(b, node, i);

		if (!child)
			return false;
		*tail = child;
		tail = &child->next;
		node->count++;
		if (!build_node(b, e, child))
			return false;
	}
	return true;
}

/* Any document: a group or a condition. */
static bool
build_node(Builder *b, const CritJson *j, CritNode *node)
{
	const CritJson *m;
	char		msg[CRIT_MSG_SIZE];
	char		q[96];

	if (j->kind != CRIT_J_OBJECT)
	{
		snprintf(msg, sizeof(msg), "a condition or group must be an object, not %s", kind_name(j->kind));
		return invalid_at(b, node, NULL, "Write {\"all\": [...]}, {\"any\": [...]}, {\"not\": {...}} or {\"field\": ..., \"op\": ...}.", msg);
	}
	for (m = j->first; m; m = m->next)
	{
		if (key_is(m, "field"))
			return build_cond(b, j, node);
		if (key_is(m, "related"))
			return build_related(b, j, node);
	}
	if (j->count != 1)
	{
		if (j->count == 0)
			return invalid_at(b, node, NULL, "Write {\"all\": [...]}, {\"any\": [...]}, {\"not\": {...}} or {\"field\": ..., \"op\": ...}.",
							  "an empty object is neither a condition nor a group");
		return invalid_at(b, node, NULL, "A group has exactly one of the keys all, any, not.",
						  "a group must have exactly one key");
	}
	m = j->first;
	if (key_is(m, "all"))
	{
		node->kind = CRIT_ALL;
		return build_group(b, m, node, "all");
	}
	if (key_is(m, "any"))
	{
		node->kind = CRIT_ANY;
		return build_group(b, m, node, "any");
	}
	if (key_is(m, "not"))
	{
		CritNode   *child;

		node->kind = CRIT_NOT;
		if (m->kind != CRIT_J_OBJECT)
		{
			snprintf(msg, sizeof(msg), "\"not\" takes one condition or group (an object), not %s", kind_name(m->kind));
			return invalid_at(b, node, ".not", "Write {\"not\": {\"field\": ...}}; for several, {\"not\": {\"any\": [...]}}.", msg);
		}
		if (!(child = new_node(b, node, -1)))
			return false;
		node->first = child;
		node->count = 1;
		return build_node(b, m, child);
	}
	crit_quote(m->key, q, sizeof(q));
	snprintf(msg, sizeof(msg), "unknown key %s", q);
	return invalid_at(b, node, NULL, "Keys: " GROUP_KEYS ".", msg);
}

/* Parse a document. */
bool
crit_parse(const char *s, size_t len, CritDoc *doc, CritError *err)
{
	JsonParser	p;
	Builder		b;
	const CritJson *top;
	CritNode   *root;

	memset(err, 0, sizeof(*err));
	doc->root = NULL;
	doc->nvalues = 0;
	doc->nnodes = 0;
	doc->nstr = 0;
	if (len > CRIT_MAX_BYTES)
	{
		crit_error(err, CRIT_ERR_LIMIT, "$", "Split the criteria into smaller documents.",
				   "the document is longer than %d bytes", CRIT_MAX_BYTES);
		return false;
	}
	p.s = s;
	p.len = len;
	p.pos = 0;
	p.doc = doc;
	p.err = err;
	if (!(top = parse_value(&p, 0)))
		return false;
	skip_ws(&p);
	if (p.pos != p.len)
		return syntax_error(&p, "text after the document");

	b.doc = doc;
	b.err = err;
	if (!(root = new_node(&b, NULL, -1)))
		return false;
	if (!build_node(&b, top, root))
		return false;
	doc->root = root;
	return true;
}
