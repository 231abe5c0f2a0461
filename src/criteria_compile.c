/*
 * criteria_compile.c
 *		A parsed criteria document checked against the field catalog and
 *		compiled to a parameterised SQL predicate (pure C: see
 *		criteria_compile.h).
 *
 * Every condition compiles to fixed SQL around the field's expression and
 * parameters, chosen so that the index crm creates for it can serve it
 * under row-level security (doc/criteria.md, "Indexes"): text through
 * crm.criteria_fold(...) COLLATE "C" (leakproof, btree-indexed), tags
 * through crm.&& / crm.@> (leakproof, GIN), custom-field equality of
 * numbers, booleans and dates and multi_picklist membership through
 * crm.@> on jsonb (leakproof, GIN).  A condition whose field has no value
 * is unknown (SQL NULL), as in SQL: "not" of unknown is unknown, and an
 * unknown document does not match.  include_no_value turns it into true.
 * Conditions on a contact's account.* fields are never unknown: true when
 * the contact has a live account that satisfies them, else false.
 */
#include "criteria_compile.h"

#include "similarity.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const type_names[CRIT_T_COUNT] = {
	"text", "integer", "number", "date", "timestamp", "boolean", "uuid", "tags"
};

#define OPS(...) ops_of((const CritOp[]) {__VA_ARGS__, CRIT_OP_COUNT})

static CritOpMask
ops_of(const CritOp *list)
{
	CritOpMask	m = 0;

	for (; *list != CRIT_OP_COUNT; list++)
		m |= CRIT_OP_BIT(*list);
	return m;
}

/* The operators a type takes. */
CritOpMask
crit_type_ops(CritType type, bool is_list)
{
	if (is_list)
		return OPS(CRIT_OP_HAS_ANY, CRIT_OP_HAS_ALL, CRIT_OP_IS_NULL, CRIT_OP_IS_NOT_NULL);
	switch (type)
	{
		case CRIT_T_TEXT:
			return OPS(CRIT_OP_EQ, CRIT_OP_NEQ, CRIT_OP_IN, CRIT_OP_NOT_IN, CRIT_OP_CONTAINS,
					   CRIT_OP_NOT_CONTAINS, CRIT_OP_STARTS_WITH, CRIT_OP_ENDS_WITH,
					   CRIT_OP_GT, CRIT_OP_GTE, CRIT_OP_LT, CRIT_OP_LTE, CRIT_OP_BETWEEN,
					   CRIT_OP_IS_NULL, CRIT_OP_IS_NOT_NULL);
		case CRIT_T_INT:
		case CRIT_T_NUMBER:
			return OPS(CRIT_OP_EQ, CRIT_OP_NEQ, CRIT_OP_IN, CRIT_OP_NOT_IN,
					   CRIT_OP_GT, CRIT_OP_GTE, CRIT_OP_LT, CRIT_OP_LTE, CRIT_OP_BETWEEN,
					   CRIT_OP_IS_NULL, CRIT_OP_IS_NOT_NULL);
		case CRIT_T_DATE:
			return OPS(CRIT_OP_EQ, CRIT_OP_NEQ, CRIT_OP_GT, CRIT_OP_GTE, CRIT_OP_LT,
					   CRIT_OP_LTE, CRIT_OP_BETWEEN, CRIT_OP_IS_NULL, CRIT_OP_IS_NOT_NULL);
		case CRIT_T_TIMESTAMP:
			return OPS(CRIT_OP_GT, CRIT_OP_GTE, CRIT_OP_LT, CRIT_OP_LTE, CRIT_OP_BETWEEN,
					   CRIT_OP_WITHIN_LAST, CRIT_OP_BEFORE_LAST,
					   CRIT_OP_IS_NULL, CRIT_OP_IS_NOT_NULL);
		case CRIT_T_BOOL:
			return OPS(CRIT_OP_EQ, CRIT_OP_NEQ, CRIT_OP_IS_NULL, CRIT_OP_IS_NOT_NULL);
		case CRIT_T_UUID:
			return OPS(CRIT_OP_EQ, CRIT_OP_NEQ, CRIT_OP_IN, CRIT_OP_NOT_IN,
					   CRIT_OP_IS_NULL, CRIT_OP_IS_NOT_NULL);
		case CRIT_T_TAGS:
			return OPS(CRIT_OP_HAS_ANY, CRIT_OP_HAS_ALL, CRIT_OP_IS_NULL, CRIT_OP_IS_NOT_NULL);
		case CRIT_T_COUNT:
			break;
	}
	return 0;
}

const char *
crit_type_name(CritType type)
{
	if ((int) type < 0 || type >= CRIT_T_COUNT)
		return "invalid";
	return type_names[type];
}

CritType
crit_type_from_name(const char *s, size_t len)
{
	int			i;

	for (i = 0; i < CRIT_T_COUNT; i++)
		if (strlen(type_names[i]) == len && memcmp(type_names[i], s, len) == 0)
			return (CritType) i;
	return CRIT_T_COUNT;
}

static bool
digits(const char *s, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static int
num(const char *s, int n)
{
	int			v = 0;
	int			i;

	for (i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/* YYYY-MM-DD, a real calendar date from year 1 to 9999. */
bool
crit_date_valid(CritText t)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int			y,
				m,
				d;

	if (t.len != 10 || !digits(t.ptr, 4) || t.ptr[4] != '-' || !digits(t.ptr + 5, 2) ||
		t.ptr[7] != '-' || !digits(t.ptr + 8, 2))
		return false;
	y = num(t.ptr, 4);
	m = num(t.ptr + 5, 2);
	d = num(t.ptr + 8, 2);
	if (y < 1 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return false;
	if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return false;
	return true;
}

/*
 * An ISO 8601 timestamp: a date, optionally "T" or " " and HH:MM[:SS[.f]],
 * optionally "Z" or +HH[:MM] / -HH[:MM].
 */
static bool
timestamp_valid(CritText t)
{
	CritText	date = {t.ptr, 10};
	size_t		i = 10;

	if (t.len < 10 || !crit_date_valid(date))
		return false;
	if (i == t.len)
		return true;
	if (t.ptr[i] != 'T' && t.ptr[i] != ' ')
		return false;
	i++;
	if (t.len - i < 5 || !digits(t.ptr + i, 2) || t.ptr[i + 2] != ':' || !digits(t.ptr + i + 3, 2) ||
		num(t.ptr + i, 2) > 23 || num(t.ptr + i + 3, 2) > 59)
		return false;
	i += 5;
	if (i < t.len && t.ptr[i] == ':')
	{
		if (t.len - i < 3 || !digits(t.ptr + i + 1, 2) || num(t.ptr + i + 1, 2) > 59)
			return false;
		i += 3;
		if (i < t.len && t.ptr[i] == '.')
		{
			size_t		f = 0;

			i++;
			while (i < t.len && t.ptr[i] >= '0' && t.ptr[i] <= '9' && f < 6)
				i++, f++;
			if (f == 0)
				return false;
		}
	}
	if (i == t.len)
		return true;
	if (t.ptr[i] == 'Z')
		return i + 1 == t.len;
	if (t.ptr[i] != '+' && t.ptr[i] != '-')
		return false;
	i++;
	if (t.len - i < 2 || !digits(t.ptr + i, 2) || num(t.ptr + i, 2) > 14)
		return false;
	i += 2;
	if (i == t.len)
		return true;
	if (t.ptr[i] == ':')
		i++;
	return t.len - i == 2 && digits(t.ptr + i, 2) && num(t.ptr + i, 2) <= 59;
}

/* 8-4-4-4-12 hex digits. */
bool
crit_uuid_valid(CritText t)
{
	size_t		i;

	if (t.len != 36)
		return false;
	for (i = 0; i < 36; i++)
	{
		char		c = t.ptr[i];

		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (c != '-')
				return false;
		}
		else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return false;
	}
	return true;
}

/* A JSON number that is an integer in int4's range, written plainly. */
static bool
int4_valid(CritText t)
{
	size_t		i = 0;
	long long	v = 0;

	if (t.len > 0 && t.ptr[0] == '-')
		i = 1;
	if (i >= t.len || t.len - i > 10)
		return false;
	for (; i < t.len; i++)
	{
		if (t.ptr[i] < '0' || t.ptr[i] > '9')
			return false;
		v = v * 10 + (t.ptr[i] - '0');
	}
	if (t.ptr[0] == '-')
		v = -v;
	return v >= -2147483648LL && v <= 2147483647LL;
}

/*
 * A JSON number numeric can hold: at most 1000 digits and an exponent of at
 * most 1000 either way (numeric itself refuses far less than JSON allows).
 */
static bool
number_in_range(CritText t)
{
	size_t		i;
	size_t		ndigits = 0;
	long		exp = 0;

	for (i = 0; i < t.len && t.ptr[i] != 'e' && t.ptr[i] != 'E'; i++)
		if (t.ptr[i] >= '0' && t.ptr[i] <= '9')
			ndigits++;
	if (ndigits > 1000)
		return false;
	if (i < t.len)
	{
		i++;
		if (i < t.len && (t.ptr[i] == '+' || t.ptr[i] == '-'))
			i++;
		for (; i < t.len; i++)
		{
			exp = exp * 10 + (t.ptr[i] - '0');
			if (exp > 1000)
				return false;
		}
	}
	return true;
}

/* ---------------------------------------------------------------------
 * Output
 * ---------------------------------------------------------------------
 */
typedef struct Compiler
{
	CritLookup	lookup;
	void	   *ctx;
	const char *related;		/* inside a related condition's "where": its kind */
	CritCompiled *out;
	CritError  *err;
	bool		overflow;
} Compiler;

#if defined(__GNUC__)
static void emit(Compiler *c, const char *fmt,...) __attribute__((format(printf, 2, 3)));
#endif

/* Append to the SQL text (a flag on overflow, reported at the end). */
static void
emit(Compiler *c, const char *fmt,...)
{
	va_list		ap;
	size_t		room = CRIT_SQL_SIZE - c->out->sqllen;
	int			n;

	if (c->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(c->out->sql + c->out->sqllen, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t) n >= room)
	{
		c->overflow = true;
		c->out->sql[c->out->sqllen] = '\0';
		return;
	}
	c->out->sqllen += (size_t) n;
}

/* Room in the parameter text area for n more bytes? */
static char *
ptext_reserve(Compiler *c, size_t n)
{
	if (c->overflow || CRIT_PTEXT_SIZE - c->out->nptext < n + 1)
	{
		c->overflow = true;
		return NULL;
	}
	return c->out->ptext + c->out->nptext;
}

/* A new parameter whose text was written at the reserve point; its number. */
static int
param_commit(Compiler *c, CritParamType type, size_t len)
{
	CritParam  *p;

	if (c->overflow || c->out->nparams >= CRIT_MAX_PARAMS)
	{
		c->overflow = true;
		return 0;
	}
	p = &c->out->params[c->out->nparams++];
	p->type = type;
	p->text.ptr = c->out->ptext + c->out->nptext;
	p->text.len = len;
	c->out->ptext[c->out->nptext + len] = '\0';
	c->out->nptext += len + 1;
	return c->out->nparams + 1;
}

/* A parameter holding t as is. */
static int
param_raw(Compiler *c, CritParamType type, CritText t)
{
	char	   *o = ptext_reserve(c, t.len);

	if (!o)
		return 0;
	memcpy(o, t.ptr, t.len);
	return param_commit(c, type, t.len);
}

/* A text parameter holding t folded (case and accents). */
static int
param_folded(Compiler *c, CritText t)
{
	char	   *o = ptext_reserve(c, t.len);

	if (!o)
		return 0;
	return param_commit(c, CRIT_P_TEXT, sim_fold_text(t.ptr, t.len, o));
}

/* Write s (escaped for an array literal or a JSON string) at *o. */
static size_t
put_escaped(char *o, CritText s)
{
	size_t		n = 0;
	size_t		i;

	for (i = 0; i < s.len; i++)
	{
		char		ch = s.ptr[i];

		if (ch == '"' || ch == '\\')
			o[n++] = '\\';
		o[n++] = ch;
	}
	return n;
}

/*
 * An array parameter {"v1","v2"} of the values of an array (folded for
 * text).  Escaped quotes and backslashes at most double a value.
 */
static int
param_array(Compiler *c, CritParamType type, const CritJson *arr, bool fold)
{
	size_t		need = 2;
	const CritJson *e;
	char	   *o;
	size_t		n = 0;

	for (e = arr->first; e; e = e->next)
		need += 2 * e->text.len + 3;
	if (!(o = ptext_reserve(c, need)))
		return 0;
	o[n++] = '{';
	for (e = arr->first; e; e = e->next)
	{
		CritText	v = e->text;
		char		folded[256];

		if (n > 1)
			o[n++] = ',';
		o[n++] = '"';
		if (fold)
		{
			/* fold piecewise: folding never lengthens a text */
			size_t		off = 0;

			while (off < v.len)
			{
				size_t		chunk = v.len - off;
				CritText	piece;

				if (chunk > sizeof(folded) / 2)
				{
					/* do not split a UTF-8 sequence */
					chunk = sizeof(folded) / 2;
					while (chunk > 0 && ((unsigned char) v.ptr[off + chunk] & 0xC0) == 0x80)
						chunk--;
				}
				piece.ptr = folded;
				piece.len = sim_fold_text(v.ptr + off, chunk, folded);
				n += put_escaped(o + n, piece);
				off += chunk;
			}
		}
		else
			n += put_escaped(o + n, v);
		o[n++] = '"';
	}
	o[n++] = '}';
	return param_commit(c, type, n);
}

/* A jsonb parameter {"key": value} (value: a JSON scalar or list of them). */
static int
param_json_member(Compiler *c, CritText key, const CritJson *value, bool as_list)
{
	size_t		need = 2 * key.len + 8;
	const CritJson *e;
	char	   *o;
	size_t		n = 0;
	const CritJson *single = value;

	if (as_list && value->kind == CRIT_J_ARRAY)
		for (e = value->first; e; e = e->next)
			need += 2 * e->text.len + 3;
	else
		need += 2 * value->text.len + 4;
	if (!(o = ptext_reserve(c, need)))
		return 0;
	o[n++] = '{';
	o[n++] = '"';
	n += put_escaped(o + n, key);
	o[n++] = '"';
	o[n++] = ':';
	if (as_list)
		o[n++] = '[';
	for (e = (as_list && value->kind == CRIT_J_ARRAY) ? value->first : single; e;
		 e = (as_list && value->kind == CRIT_J_ARRAY) ? e->next : NULL)
	{
		if (as_list && o[n - 1] != '[')
			o[n++] = ',';
		if (e->kind == CRIT_J_STRING)
		{
			o[n++] = '"';
			n += put_escaped(o + n, e->text);
			o[n++] = '"';
		}
		else
		{
			memcpy(o + n, e->text.ptr, e->text.len);
			n += e->text.len;
		}
	}
	if (as_list)
		o[n++] = ']';
	o[n++] = '}';
	return param_commit(c, CRIT_P_JSONB, n);
}

/* ---------------------------------------------------------------------
 * Conditions
 * ---------------------------------------------------------------------
 */

/* An invalid-condition error at node's path + suffix. */
static bool
cond_error(Compiler *c, const CritNode *node, CritErrKind kind, const char *suffix,
		   const char *hint, const char *message)
{
	char		path[CRIT_PATH_SIZE];
	size_t		off = crit_node_path(node, path, sizeof(path));

	if (suffix && off < sizeof(path))
		snprintf(path + off, sizeof(path) - off, "%s", suffix);
	crit_error(c->err, kind, path, hint, "%s", message);
	return false;
}

/* What a field of a type takes as values, for messages. */
static const char *
type_expectation(const CritField *f)
{
	if (f->is_list)
		return "strings";
	switch (f->type)
	{
		case CRIT_T_TEXT:
		case CRIT_T_TAGS:
			return "strings";
		case CRIT_T_INT:
			return "integers";
		case CRIT_T_NUMBER:
			return "numbers (at most 1000 digits, exponent at most 1000)";
		case CRIT_T_DATE:
			return "dates as \"YYYY-MM-DD\" strings";
		case CRIT_T_TIMESTAMP:
			return "timestamps as ISO 8601 strings (\"2024-05-01\" or \"2024-05-01T09:30:00Z\")";
		case CRIT_T_BOOL:
			return "true or false";
		case CRIT_T_UUID:
			return "uuids as strings";
		case CRIT_T_COUNT:
			break;
	}
	return "values";
}

/* Is one JSON scalar a value of the field? */
static bool
value_fits(const CritField *f, const CritJson *v)
{
	if (f->is_list)
		return v->kind == CRIT_J_STRING;
	switch (f->type)
	{
		case CRIT_T_TEXT:
		case CRIT_T_TAGS:
			return v->kind == CRIT_J_STRING;
		case CRIT_T_INT:
			return v->kind == CRIT_J_NUMBER && int4_valid(v->text);
		case CRIT_T_NUMBER:
			return v->kind == CRIT_J_NUMBER && number_in_range(v->text);
		case CRIT_T_DATE:
			return v->kind == CRIT_J_STRING && crit_date_valid(v->text);
		case CRIT_T_TIMESTAMP:
			return v->kind == CRIT_J_STRING && timestamp_valid(v->text);
		case CRIT_T_BOOL:
			return v->kind == CRIT_J_BOOL;
		case CRIT_T_UUID:
			return v->kind == CRIT_J_STRING && crit_uuid_valid(v->text);
		case CRIT_T_COUNT:
			break;
	}
	return false;
}

static CritParamType
scalar_ptype(CritType t)
{
	switch (t)
	{
		case CRIT_T_INT:
			return CRIT_P_INT4;
		case CRIT_T_NUMBER:
			return CRIT_P_NUMERIC;
		case CRIT_T_DATE:
			return CRIT_P_DATE;
		case CRIT_T_TIMESTAMP:
			return CRIT_P_TIMESTAMPTZ;
		case CRIT_T_BOOL:
			return CRIT_P_BOOL;
		case CRIT_T_UUID:
			return CRIT_P_UUID;
		default:
			return CRIT_P_TEXT;
	}
}

static CritParamType
array_ptype(CritType t)
{
	switch (t)
	{
		case CRIT_T_INT:
			return CRIT_P_INT4_ARRAY;
		case CRIT_T_NUMBER:
			return CRIT_P_NUMERIC_ARRAY;
		case CRIT_T_UUID:
			return CRIT_P_UUID_ARRAY;
		default:
			return CRIT_P_TEXT_ARRAY;
	}
}

/*
 * The SQL of the field's value into x (and, for text, folded into fx).
 * JSON numbers and booleans are read only when the stored value has that
 * JSON type (anything else counts as no value); JSON dates are the stored
 * strings, which sort as dates.
 */
static void
value_sql(Compiler *c, const CritField *f, const char *alias, char *x, size_t xs, char *fx, size_t fxs)
{
	if (f->source == CRIT_SRC_JSON)
	{
		int			k = param_raw(c, CRIT_P_TEXT, f->key);

		switch (f->is_list ? CRIT_T_TAGS : f->type)
		{
			case CRIT_T_NUMBER:
				snprintf(x, xs, "(CASE WHEN pg_catalog.jsonb_typeof(%s.%s OPERATOR(pg_catalog.->) $%d) = 'number' "
						 "THEN (%s.%s OPERATOR(pg_catalog.->>) $%d)::pg_catalog.numeric END)",
						 alias, f->column, k, alias, f->column, k);
				break;
			case CRIT_T_BOOL:
				snprintf(x, xs, "(CASE WHEN pg_catalog.jsonb_typeof(%s.%s OPERATOR(pg_catalog.->) $%d) = 'boolean' "
						 "THEN (%s.%s OPERATOR(pg_catalog.->>) $%d)::pg_catalog.bool END)",
						 alias, f->column, k, alias, f->column, k);
				break;
			case CRIT_T_DATE:
				snprintf(x, xs, "((%s.%s OPERATOR(pg_catalog.->>) $%d) COLLATE \"C\")", alias, f->column, k);
				break;
			default:
				snprintf(x, xs, "(%s.%s OPERATOR(pg_catalog.->>) $%d)", alias, f->column, k);
				break;
		}
	}
	else if (f->type == CRIT_T_TEXT)
		snprintf(x, xs, "(%s.%s)::pg_catalog.text", alias, f->column);
	else
		snprintf(x, xs, "%s.%s", alias, f->column);
	if (fx)
		snprintf(fx, fxs, "crm.criteria_fold(%s) COLLATE \"C\"", x);
}

#define XSIZE 512

/* One condition's predicate on a field (alias: t, or a for account.*). */
static bool
compile_pred(Compiler *c, const CritNode *node, const CritField *f, const char *alias)
{
	char		x[XSIZE];
	char		fx[XSIZE + 64];
	const CritJson *v = node->value;
	bool		text = (f->type == CRIT_T_TEXT && !f->is_list);
	bool		json = (f->source == CRIT_SRC_JSON);
	bool		tags = (f->type == CRIT_T_TAGS && !json);
	const char *lhs;
	int			p,
				q;
	const char *cmp = NULL;

	/*
	 * Containment tests read the jsonb column itself: the key parameter of
	 * the value expression is made only when something reads the value.
	 */
	if (!(json && !node->include_no_value &&
		  (node->op == CRIT_OP_HAS_ANY || node->op == CRIT_OP_HAS_ALL ||
		   ((node->op == CRIT_OP_EQ || node->op == CRIT_OP_IN) && f->type != CRIT_T_TEXT))))
		value_sql(c, f, alias, x, sizeof(x), fx, sizeof(fx));
	else
		x[0] = fx[0] = '\0';
	lhs = text ? fx : x;
	if (node->include_no_value)
		emit(c, "(");

	switch (node->op)
	{
		case CRIT_OP_IS_NULL:
			if (tags)
				emit(c, "pg_catalog.cardinality(%s) = 0", x);
			else
				emit(c, "%s IS NULL", x);
			break;
		case CRIT_OP_IS_NOT_NULL:
			if (tags)
				emit(c, "pg_catalog.cardinality(%s) > 0", x);
			else
				emit(c, "%s IS NOT NULL", x);
			break;
		case CRIT_OP_EQ:
		case CRIT_OP_NEQ:
			if (json && node->op == CRIT_OP_EQ && f->type != CRIT_T_TEXT)
			{
				/* number, boolean, date: containment, which the GIN index serves */
				p = param_json_member(c, f->key, v, false);
				emit(c, "%s.%s OPERATOR(crm.@>) $%d", alias, f->column, p);
				break;
			}
			p = text ? param_folded(c, v->text) : param_raw(c, json && f->type == CRIT_T_DATE ? CRIT_P_TEXT : scalar_ptype(f->type), v->text);
			emit(c, "%s %s $%d", lhs, node->op == CRIT_OP_EQ ? "=" : "<>", p);
			break;
		case CRIT_OP_IN:
		case CRIT_OP_NOT_IN:
			if (json && node->op == CRIT_OP_IN && f->type != CRIT_T_TEXT)
			{
				const CritJson *e;

				emit(c, "(");
				for (e = v->first; e; e = e->next)
				{
					p = param_json_member(c, f->key, e, false);
					emit(c, "%s%s.%s OPERATOR(crm.@>) $%d", e == v->first ? "" : " OR ", alias, f->column, p);
				}
				emit(c, ")");
				break;
			}
			p = param_array(c, text ? CRIT_P_TEXT_ARRAY : array_ptype(f->type), v, text);
			if (node->op == CRIT_OP_IN)
				emit(c, "%s = ANY ($%d)", lhs, p);
			else
				emit(c, "NOT (%s = ANY ($%d))", lhs, p);
			break;
		case CRIT_OP_CONTAINS:
			p = param_folded(c, v->text);
			emit(c, "pg_catalog.strpos(%s, $%d) > 0", lhs, p);
			break;
		case CRIT_OP_NOT_CONTAINS:
			p = param_folded(c, v->text);
			emit(c, "pg_catalog.strpos(%s, $%d) = 0", lhs, p);
			break;
		case CRIT_OP_STARTS_WITH:
			p = param_folded(c, v->text);
			emit(c, "%s OPERATOR(pg_catalog.^@) $%d", lhs, p);
			break;
		case CRIT_OP_ENDS_WITH:
			{
				char		nbuf[24];
				CritText	nt;
				const char *fold_start;
				size_t		chars = 0;
				size_t		i;

				p = param_folded(c, v->text);
				if (c->overflow)
					break;
				fold_start = c->out->params[p - 2].text.ptr;
				for (i = 0; i < c->out->params[p - 2].text.len; i++)
					if (((unsigned char) fold_start[i] & 0xC0) != 0x80)
						chars++;
				snprintf(nbuf, sizeof(nbuf), "%zu", chars);
				nt.ptr = nbuf;
				nt.len = strlen(nbuf);
				q = param_raw(c, CRIT_P_INT4, nt);
				emit(c, "pg_catalog.\"right\"(%s, $%d) = $%d", lhs, q, p);
				break;
			}
		case CRIT_OP_GT:
			cmp = ">";
			/* FALLTHROUGH */
		case CRIT_OP_GTE:
			if (!cmp)
				cmp = ">=";
			/* FALLTHROUGH */
		case CRIT_OP_LT:
			if (!cmp)
				cmp = "<";
			/* FALLTHROUGH */
		case CRIT_OP_LTE:
			if (!cmp)
				cmp = "<=";
			p = text ? param_folded(c, v->text) : param_raw(c, json ? (f->type == CRIT_T_DATE ? CRIT_P_TEXT : CRIT_P_NUMERIC) : scalar_ptype(f->type), v->text);
			emit(c, "%s %s $%d", lhs, cmp, p);
			break;
		case CRIT_OP_BETWEEN:
			{
				CritParamType pt = json ? (f->type == CRIT_T_DATE ? CRIT_P_TEXT : CRIT_P_NUMERIC) : scalar_ptype(f->type);

				p = text ? param_folded(c, v->first->text) : param_raw(c, pt, v->first->text);
				q = text ? param_folded(c, v->first->next->text) : param_raw(c, pt, v->first->next->text);
				emit(c, "(%s >= $%d AND %s <= $%d)", lhs, p, lhs, q);
				break;
			}
		case CRIT_OP_WITHIN_LAST:
		case CRIT_OP_BEFORE_LAST:
			{
				char		ibuf[48];
				CritText	it;

				snprintf(ibuf, sizeof(ibuf), "%d %s", node->amount, crit_unit_name(node->unit));
				it.ptr = ibuf;
				it.len = strlen(ibuf);
				p = param_raw(c, CRIT_P_INTERVAL, it);
				emit(c, "%s %s (pg_catalog.now() OPERATOR(pg_catalog.-) $%d)", x,
					 node->op == CRIT_OP_WITHIN_LAST ? ">=" : "<", p);
				break;
			}
		case CRIT_OP_HAS_ANY:
			if (json)
			{
				const CritJson *e;

				emit(c, "(");
				for (e = v->first; e; e = e->next)
				{
					CritJson	one = *e;

					one.next = NULL;
					p = param_json_member(c, f->key, &one, true);
					emit(c, "%s%s.%s OPERATOR(crm.@>) $%d", e == v->first ? "" : " OR ", alias, f->column, p);
				}
				emit(c, ")");
			}
			else
			{
				p = param_array(c, CRIT_P_TEXT_ARRAY, v, false);
				emit(c, "%s OPERATOR(crm.&&) $%d", x, p);
			}
			break;
		case CRIT_OP_HAS_ALL:
			if (json)
			{
				p = param_json_member(c, f->key, v, true);
				emit(c, "%s.%s OPERATOR(crm.@>) $%d", alias, f->column, p);
			}
			else
			{
				p = param_array(c, CRIT_P_TEXT_ARRAY, v, false);
				emit(c, "%s OPERATOR(crm.@>) $%d", x, p);
			}
			break;
		case CRIT_OP_COUNT:
			break;
	}
	if (node->include_no_value)
	{
		if (tags)
			emit(c, " OR pg_catalog.cardinality(%s) = 0)", x);
		else
			emit(c, " OR %s IS NULL)", x);
	}
	return true;
}

static bool compile_node(Compiler *c, const CritNode *node);

/* One condition: look the field up, check operator and value, compile. */
static bool
compile_cond(Compiler *c, const CritNode *node)
{
	const CritField *f = c->lookup(c->ctx, c->related, node->field.ptr, node->field.len);
	CritOpMask	allowed;
	char		msg[CRIT_MSG_SIZE];
	char		hint[CRIT_MSG_SIZE];
	char		ops[360];
	char		q[96];

	crit_quote(node->field, q, sizeof(q));
	if (!f)
	{
		snprintf(msg, sizeof(msg), "unknown field %s", q);
		return cond_error(c, node, CRIT_ERR_UNKNOWN_FIELD, ".field",
						  "crm.criteria_field lists the fields of each entity; custom fields are custom_fields.<name>.", msg);
	}
	allowed = f->ops ? f->ops : crit_type_ops(f->type, f->is_list);
	if (!(allowed & CRIT_OP_BIT(node->op)))
	{
		crit_op_list(allowed, ops, sizeof(ops));
		snprintf(msg, sizeof(msg), "operator \"%s\" is not allowed for field %s", crit_op_name(node->op), q);
		snprintf(hint, sizeof(hint), "Operators of field %s: %s.", q, ops);
		return cond_error(c, node, CRIT_ERR_INVALID, ".op", hint, msg);
	}
	if (node->value && node->op != CRIT_OP_WITHIN_LAST && node->op != CRIT_OP_BEFORE_LAST)
	{
		const CritJson *v = node->value;
		int			i = 0;

		if (v->kind == CRIT_J_ARRAY)
		{
			for (v = v->first; v; v = v->next, i++)
				if (!value_fits(f, v))
				{
					char		sfx[48];

					snprintf(sfx, sizeof(sfx), ".value[%d]", i);
					snprintf(msg, sizeof(msg), "field %s takes %s", q, type_expectation(f));
					return cond_error(c, node, CRIT_ERR_INVALID, sfx, NULL, msg);
				}
		}
		else if (!value_fits(f, v))
		{
			snprintf(msg, sizeof(msg), "field %s takes %s", q, type_expectation(f));
			return cond_error(c, node, CRIT_ERR_INVALID, ".value", NULL, msg);
		}
	}
	if (f->source == CRIT_SRC_ACCOUNT)
	{
		/*
		 * A semi-join, which the account's own indexes serve: true or false,
		 * never unknown (x IN (subquery) would be unknown or false for a
		 * contact without an account, depending on other accounts).
		 */
		emit(c, "(EXISTS (SELECT FROM crm.account a WHERE a.organization_id = $1 AND a.id = t.account_id "
			 "AND a.deleted_at IS NULL AND ");
		compile_pred(c, node, f, "a");
		emit(c, ")%s)", node->include_no_value ? " OR t.account_id IS NULL" : "");
		return true;
	}
	return compile_pred(c, node, f, c->related ? "r" : "t");
}

/*
 * A related-record condition: at least N live related rows (linked to the
 * record, within the interval, matching "where").  A semi-join on the
 * grouped related rows, which the planner runs as a hash of the tenant's
 * qualifying rows or as index probes of the related table's timeline index,
 * whichever is cheaper; never unknown (the link is never NULL inside).
 */
static bool
compile_related(Compiler *c, const CritNode *node)
{
	char		kind[64];
	const CritField *link;
	char		nbuf[24];
	CritText	nt;
	int			n;

	if (c->related)
		return cond_error(c, node, CRIT_ERR_INVALID, ".related", "Write the conditions on the related record directly in \"where\".",
						  "related-record conditions cannot be nested");
	snprintf(kind, sizeof(kind), "%.*s", (int) (node->field.len > 60 ? 60 : node->field.len), node->field.ptr);
	if (node->field.len > 60 || strcmp(kind, "activity") != 0 ||
		!(link = c->lookup(c->ctx, "activity", "", 0)))
	{
		char		q[96];
		char		msg[CRIT_MSG_SIZE];

		crit_quote(node->field, q, sizeof(q));
		snprintf(msg, sizeof(msg), "unknown kind of related record %s", q);
		return cond_error(c, node, CRIT_ERR_INVALID, ".related", "Related records: activity (of contacts, leads and accounts).", msg);
	}
	snprintf(nbuf, sizeof(nbuf), "%d", node->at_least);
	nt.ptr = nbuf;
	nt.len = strlen(nbuf);
	n = param_raw(c, CRIT_P_INT4, nt);
	emit(c, "(t.id IN (SELECT r.%s FROM crm.activity r WHERE r.organization_id = $1 AND r.%s IS NOT NULL "
		 "AND r.deleted_at IS NULL", link->column, link->column);
	if (node->has_within)
	{
		char		ibuf[48];
		CritText	it;
		int			p;

		snprintf(ibuf, sizeof(ibuf), "%d %s", node->amount, crit_unit_name(node->unit));
		it.ptr = ibuf;
		it.len = strlen(ibuf);
		p = param_raw(c, CRIT_P_INTERVAL, it);
		emit(c, " AND r.activity_at >= (pg_catalog.now() OPERATOR(pg_catalog.-) $%d)", p);
	}
	if (node->first)
	{
		emit(c, " AND ");
		c->related = "activity";
		if (!compile_node(c, node->first))
			return false;
		c->related = NULL;
	}
	emit(c, " GROUP BY r.%s HAVING pg_catalog.count(*) >= $%d))", link->column, n);
	return true;
}

static bool
compile_node(Compiler *c, const CritNode *node)
{
	const CritNode *m;

	switch (node->kind)
	{
		case CRIT_COND:
			return compile_cond(c, node);
		case CRIT_RELATED:
			return compile_related(c, node);
		case CRIT_NOT:
			emit(c, "(NOT ");
			if (!compile_node(c, node->first))
				return false;
			emit(c, ")");
			return true;
		case CRIT_ALL:
		case CRIT_ANY:
			emit(c, "(");
			for (m = node->first; m; m = m->next)
			{
				if (m != node->first)
					emit(c, node->kind == CRIT_ALL ? " AND " : " OR ");
				if (!compile_node(c, m))
					return false;
			}
			emit(c, ")");
			return true;
	}
	return false;
}

/* Compile a document. */
bool
crit_compile(const CritDoc *doc, CritLookup lookup, void *ctx, CritCompiled *out, CritError *err)
{
	Compiler	c;

	memset(err, 0, sizeof(*err));
	out->sqllen = 0;
	out->nparams = 0;
	out->nptext = 0;
	out->sql[0] = '\0';
	c.lookup = lookup;
	c.ctx = ctx;
	c.out = out;
	c.err = err;
	c.overflow = false;
	c.related = NULL;
	if (!doc->root)
	{
		crit_error(err, CRIT_ERR_INVALID, "$", NULL, "no document");
		return false;
	}
	if (!compile_node(&c, doc->root))
		return false;
	if (c.overflow)
	{
		crit_error(err, CRIT_ERR_LIMIT, "$", "Split the criteria into smaller documents.",
				   "the compiled document is too large (more than %d parameters or %d bytes of SQL)",
				   CRIT_MAX_PARAMS, CRIT_SQL_SIZE);
		return false;
	}
	return true;
}
