/*
 * criteria_eval.c
 *		A criteria document evaluated against one record in memory, with the
 *		answers of the SQL that criteria_compile.c writes (pure C: see
 *		criteria_eval.h).
 *
 * Each condition mirrors its SQL: text folded (sim_fold_text, as
 * crm.criteria_fold) and compared bytewise (COLLATE "C"); a field without
 * a value makes a condition unknown, except the jsonb containment tests
 * (custom-field eq / in of numbers, booleans and dates, has_any / has_all of
 * lists), which are false then, as "@>" is; account.* conditions are
 * true or false, never unknown (EXISTS): true when the contact has a live
 * account satisfying them.
 */
#include "criteria_eval.h"

#include "cf_validate.h"
#include "similarity.h"

#include <string.h>

/* Days from 1970-01-01 of a civil date (proleptic Gregorian). */
static int64_t
days_from_civil(int64_t y, int64_t m, int64_t d)
{
	int64_t		era;
	int64_t		yoe,
				doy,
				doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* Days since 2000-01-01 (PostgreSQL's date epoch) of YYYY-MM-DD. */
int64_t
crit_date_days(CritText t)
{
	int64_t		y = (t.ptr[0] - '0') * 1000 + (t.ptr[1] - '0') * 100 + (t.ptr[2] - '0') * 10 + (t.ptr[3] - '0');
	int64_t		m = (t.ptr[5] - '0') * 10 + (t.ptr[6] - '0');
	int64_t		d = (t.ptr[8] - '0') * 10 + (t.ptr[9] - '0');

	return days_from_civil(y, m, d) - days_from_civil(2000, 1, 1);
}

/* ---------------------------------------------------------------------
 * Preparation
 * ---------------------------------------------------------------------
 */
typedef struct Prep
{
	CritProgram *prog;
	const CritEvalEnv *env;
	CritError  *err;
} Prep;

/* Store a text (folded, lower-cased or as is) in the program. */
static bool
keep_text(Prep *p, CritText t, int how)
{
	CritProgram *prog = p->prog;
	char	   *o;
	size_t		n = t.len;
	size_t		i;

	if (prog->ntexts >= CRIT_MAX_VALUES || CRIT_MAX_BYTES - prog->ntext < t.len)
		return false;
	o = prog->text + prog->ntext;
	if (how == 1)
		n = sim_fold_text(t.ptr, t.len, o);
	else
		for (i = 0; i < t.len; i++)
			o[i] = (how == 2 && t.ptr[i] >= 'A' && t.ptr[i] <= 'F') ? (char) (t.ptr[i] + 32) : t.ptr[i];
	prog->texts[prog->ntexts].ptr = o;
	prog->texts[prog->ntexts].len = n;
	prog->ntexts++;
	prog->ntext += n;
	return true;
}

static bool
keep_int(Prep *p, int64_t v)
{
	if (p->prog->nints >= CRIT_MAX_VALUES)
		return false;
	p->prog->ints[p->prog->nints++] = v;
	return true;
}

/* Parse a plain JSON integer (already checked by the compiler). */
static int64_t
parse_int(CritText t)
{
	int64_t		v = 0;
	size_t		i = (t.len > 0 && t.ptr[0] == '-') ? 1 : 0;
	size_t		k;

	for (k = i; k < t.len; k++)
		v = v * 10 + (t.ptr[k] - '0');
	return i ? -v : v;
}

/* Does the condition test jsonb containment (crm.@>) in the SQL? */
static bool
is_containment(const CritNode *n, const CritField *f)
{
	if (f->source != CRIT_SRC_JSON)
		return false;
	if (n->op == CRIT_OP_HAS_ANY || n->op == CRIT_OP_HAS_ALL)
		return true;
	return (n->op == CRIT_OP_EQ || n->op == CRIT_OP_IN) && f->type != CRIT_T_TEXT && !f->is_list;
}

/* Prepare one value of a condition. */
static bool
prepare_value(Prep *p, const CritField *f, const CritJson *v)
{
	bool		json = f->source == CRIT_SRC_JSON;

	if (f->is_list || f->type == CRIT_T_TAGS)
		return keep_text(p, v->text, 0);
	switch (f->type)
	{
		case CRIT_T_TEXT:
			return keep_text(p, v->text, 1);
		case CRIT_T_INT:
			return keep_int(p, parse_int(v->text));
		case CRIT_T_NUMBER:
			return keep_text(p, v->text, 0);
		case CRIT_T_DATE:
			return json ? keep_text(p, v->text, 0) : keep_int(p, crit_date_days(v->text));
		case CRIT_T_TIMESTAMP:
			return keep_int(p, p->env->timestamp(p->env->ctx, v->text));
		case CRIT_T_BOOL:
			return keep_int(p, v->text.len == 4);
		case CRIT_T_UUID:
			return keep_text(p, v->text, 2);
		default:
			break;
	}
	return false;
}

/* Prepare a document. */
bool
crit_eval_prepare(const CritDoc *doc, CritLookup lookup, void *lctx,
				  const CritEvalEnv *env, CritProgram *prog, CritError *err)
{
	Prep		p;
	int			i;

	memset(err, 0, sizeof(*err));
	prog->doc = doc;
	prog->nints = 0;
	prog->ntext = 0;
	prog->ntexts = 0;
	p.prog = prog;
	p.env = env;
	p.err = err;
	if (!doc->root)
	{
		crit_error(err, CRIT_ERR_INVALID, "$", NULL, "no document");
		return false;
	}
	memset(prog->prep, 0, sizeof(CritPrepared) * doc->nnodes);
	for (i = 0; i < doc->nnodes; i++)
	{
		const CritNode *n = &doc->nodes[i];
		CritPrepared *pp = &prog->prep[i];
		const CritJson *v;
		int			ti = prog->ntexts;
		int			ii = prog->nints;
		const CritNode *up;
		const char *related = NULL;

		if (n->kind == CRIT_RELATED)
		{
			if (!keep_int(&p, n->at_least) ||
				!keep_int(&p, n->has_within ? env->ago(env->ctx, n->amount, n->unit) : INT64_MIN))
				goto too_large;
			pp->ints = &prog->ints[ii];
			pp->nvals = 2;
			continue;
		}
		if (n->kind != CRIT_COND)
			continue;
		for (up = n->parent; up; up = up->parent)
			if (up->kind == CRIT_RELATED)
				related = "activity";
		pp->field = lookup(lctx, related, n->field.ptr, n->field.len);
		if (!pp->field)
		{
			crit_error(err, CRIT_ERR_UNKNOWN_FIELD, "$", NULL, "unknown field");
			return false;
		}
		if (n->op == CRIT_OP_WITHIN_LAST || n->op == CRIT_OP_BEFORE_LAST)
		{
			if (!keep_int(&p, env->ago(env->ctx, n->amount, n->unit)))
				goto too_large;
			pp->nvals = 1;
		}
		else if (n->value && n->value->kind == CRIT_J_ARRAY)
		{
			for (v = n->value->first; v; v = v->next, pp->nvals++)
				if (!prepare_value(&p, pp->field, v))
					goto too_large;
		}
		else if (n->value)
		{
			if (!prepare_value(&p, pp->field, n->value))
				goto too_large;
			pp->nvals = 1;
		}
		pp->texts = &prog->texts[ti];
		pp->ints = &prog->ints[ii];
	}
	return true;

too_large:
	crit_error(err, CRIT_ERR_LIMIT, "$", NULL, "the document has too many values to evaluate");
	return false;
}

/* ---------------------------------------------------------------------
 * Evaluation
 * ---------------------------------------------------------------------
 */

static CritTruth
truth(bool b)
{
	return b ? CRIT_TRUE : CRIT_FALSE;
}

static CritTruth
t_not(CritTruth t)
{
	return t == CRIT_UNKNOWN ? CRIT_UNKNOWN : truth(t == CRIT_FALSE);
}

static CritTruth
t_or(CritTruth a, CritTruth b)
{
	if (a == CRIT_TRUE || b == CRIT_TRUE)
		return CRIT_TRUE;
	if (a == CRIT_UNKNOWN || b == CRIT_UNKNOWN)
		return CRIT_UNKNOWN;
	return CRIT_FALSE;
}

/* Bytewise order, shorter first on a common prefix (COLLATE "C"). */
static int
text_cmp(CritText a, CritText b)
{
	size_t		n = a.len < b.len ? a.len : b.len;
	int			c = n ? memcmp(a.ptr, b.ptr, n) : 0;

	if (c != 0)
		return c < 0 ? -1 : 1;
	return a.len < b.len ? -1 : (a.len > b.len ? 1 : 0);
}

static bool
text_eq(CritText a, CritText b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* Numeric order of two number texts; NaN above every number, as numeric. */
static int
number_cmp(CritText a, CritText b)
{
	bool		anan = text_eq(a, (CritText) {"NaN", 3});
	bool		bnan = text_eq(b, (CritText) {"NaN", 3});
	int			c = 0;

	if (anan || bnan)
		return anan == bnan ? 0 : (anan ? 1 : -1);
	if (!cf_number_compare((CfText) {a.ptr, a.len}, (CfText) {b.ptr, b.len}, &c))
		return 0;
	return c;
}

/* The result of a comparison operator on c = cmp(x, value). */
static CritTruth
cmp_op(CritOp op, int c)
{
	switch (op)
	{
		case CRIT_OP_EQ:
			return truth(c == 0);
		case CRIT_OP_NEQ:
			return truth(c != 0);
		case CRIT_OP_GT:
			return truth(c > 0);
		case CRIT_OP_GTE:
			return truth(c >= 0);
		case CRIT_OP_LT:
			return truth(c < 0);
		case CRIT_OP_LTE:
			return truth(c <= 0);
		default:
			return CRIT_UNKNOWN;
	}
}

/* The kind of comparison of a field's values. */
typedef enum CmpKind
{
	CMP_TEXT,
	CMP_INT,
	CMP_NUMBER
} CmpKind;

/* Compare x with prepared value i. */
static int
cmp_value(CmpKind k, const CritPrepared *pp, int i, CritText xt, int64_t xi)
{
	switch (k)
	{
		case CMP_TEXT:
			return text_cmp(xt, pp->texts[i]);
		case CMP_INT:
			return xi < pp->ints[i] ? -1 : (xi > pp->ints[i] ? 1 : 0);
		case CMP_NUMBER:
			return number_cmp(xt, pp->texts[i]);
	}
	return 0;
}

/* Is text t among the items? */
static bool
has_item(const CritText *items, int n, CritText t)
{
	int			i;

	for (i = 0; i < n; i++)
		if (text_eq(items[i], t))
			return true;
	return false;
}

/* has_any / has_all of the prepared values among a value's items. */
static CritTruth
has_any_all(CritOp op, const CritPrepared *pp, const CritVal *v)
{
	int			i;

	for (i = 0; i < pp->nvals; i++)
	{
		bool		in = has_item(v->items, v->nitems, pp->texts[i]);

		if (op == CRIT_OP_HAS_ANY && in)
			return CRIT_TRUE;
		if (op == CRIT_OP_HAS_ALL && !in)
			return CRIT_FALSE;
	}
	return truth(op == CRIT_OP_HAS_ALL);
}

/* Does the field have no value ("X IS NULL" of the SQL)? */
static bool
value_is_null(const CritField *f, const CritVal *v)
{
	if (v->kind == CRIT_VAL_NULL)
		return true;
	if (f->source != CRIT_SRC_JSON)
		return false;
	if (f->is_list || f->type == CRIT_T_TEXT || f->type == CRIT_T_DATE)
		return v->json_kind == CRIT_J_NULL;
	if (f->type == CRIT_T_NUMBER)
		return v->json_kind != CRIT_J_NUMBER;
	if (f->type == CRIT_T_BOOL)
		return v->json_kind != CRIT_J_BOOL;
	return false;
}

/* jsonb containment: {"key": value} and {"key": [items]} tests. */
static CritTruth
containment(const CritNode *n, const CritPrepared *pp, const CritField *f, const CritVal *v)
{
	int			i;

	if (v->kind == CRIT_VAL_NULL)
		return CRIT_UNKNOWN;	/* the jsonb column itself is NULL */
	if (f->is_list)
	{
		if (v->kind != CRIT_VAL_JSON || v->json_kind != CRIT_J_ARRAY)
			return CRIT_FALSE;
		return has_any_all(n->op, pp, v);
	}
	if (v->kind != CRIT_VAL_JSON)
		return v->kind == CRIT_VAL_NULL ? CRIT_UNKNOWN : CRIT_FALSE;
	for (i = 0; i < pp->nvals; i++)
	{
		switch (f->type)
		{
			case CRIT_T_NUMBER:
				if (v->json_kind == CRIT_J_NUMBER && number_cmp(v->text, pp->texts[i]) == 0)
					return CRIT_TRUE;
				break;
			case CRIT_T_BOOL:
				if (v->json_kind == CRIT_J_BOOL && (int64_t) (v->text.len == 4) == pp->ints[i])
					return CRIT_TRUE;
				break;
			case CRIT_T_DATE:
				if (v->json_kind == CRIT_J_STRING && text_eq(v->text, pp->texts[i]))
					return CRIT_TRUE;
				break;
			default:
				break;
		}
	}
	return CRIT_FALSE;
}

/* The predicate of a condition on a value (no include_no_value). */
static CritTruth
predicate(const CritNode *n, const CritPrepared *pp, const CritEvalEnv *env, const CritVal *v)
{
	const CritField *f = pp->field;
	bool		json = f->source == CRIT_SRC_JSON;
	CmpKind		k = CMP_TEXT;
	CritText	xt = {NULL, 0};
	int64_t		xi = 0;
	int			i;

	if (n->op == CRIT_OP_IS_NULL || n->op == CRIT_OP_IS_NOT_NULL)
	{
		bool		null;

		if (f->type == CRIT_T_TAGS && !json)
		{
			if (v->kind != CRIT_VAL_TAGS)
				return CRIT_UNKNOWN;
			null = v->nitems + v->nitems_other == 0;
		}
		else
			null = value_is_null(f, v);
		return truth(null == (n->op == CRIT_OP_IS_NULL));
	}
	if (is_containment(n, f))
		return containment(n, pp, f, v);
	if (value_is_null(f, v))
		return CRIT_UNKNOWN;

	/* the value as the SQL reads it */
	if (f->type == CRIT_T_TAGS)
	{
		return has_any_all(n->op, pp, v);
	}
	switch (f->type)
	{
		case CRIT_T_TEXT:
			{
				char	   *buf = env->scratch(env->ctx, v->text.len + 1);

				xt.ptr = buf;
				xt.len = sim_fold_text(v->text.ptr, v->text.len, buf);
				k = CMP_TEXT;
				break;
			}
		case CRIT_T_NUMBER:
			xt = v->text;
			k = CMP_NUMBER;
			break;
		case CRIT_T_DATE:
			if (json)
			{
				xt = v->text;
				k = CMP_TEXT;
			}
			else
			{
				xi = v->i;
				k = CMP_INT;
			}
			break;
		case CRIT_T_BOOL:
			xi = json ? (v->text.len == 4) : v->b;
			k = CMP_INT;
			break;
		case CRIT_T_UUID:
			xt = v->text;
			k = CMP_TEXT;
			break;
		default:
			xi = v->i;
			k = CMP_INT;
			break;
	}

	switch (n->op)
	{
		case CRIT_OP_IN:
		case CRIT_OP_NOT_IN:
			for (i = 0; i < pp->nvals; i++)
				if (cmp_value(k, pp, i, xt, xi) == 0)
					return truth(n->op == CRIT_OP_IN);
			return truth(n->op == CRIT_OP_NOT_IN);
		case CRIT_OP_BETWEEN:
			return truth(cmp_value(k, pp, 0, xt, xi) >= 0 && cmp_value(k, pp, 1, xt, xi) <= 0);
		case CRIT_OP_WITHIN_LAST:
			return truth(xi >= pp->ints[0]);
		case CRIT_OP_BEFORE_LAST:
			return truth(xi < pp->ints[0]);
		case CRIT_OP_CONTAINS:
		case CRIT_OP_NOT_CONTAINS:
			{
				CritText	p = pp->texts[0];
				bool		found = p.len == 0;
				size_t		s;

				for (s = 0; !found && p.len <= xt.len && s <= xt.len - p.len; s++)
					found = memcmp(xt.ptr + s, p.ptr, p.len) == 0;
				return truth(found == (n->op == CRIT_OP_CONTAINS));
			}
		case CRIT_OP_STARTS_WITH:
			return truth(pp->texts[0].len <= xt.len &&
						 (pp->texts[0].len == 0 || memcmp(xt.ptr, pp->texts[0].ptr, pp->texts[0].len) == 0));
		case CRIT_OP_ENDS_WITH:
			return truth(pp->texts[0].len <= xt.len &&
						 (pp->texts[0].len == 0 ||
						  memcmp(xt.ptr + xt.len - pp->texts[0].len, pp->texts[0].ptr, pp->texts[0].len) == 0));
		default:
			return cmp_op(n->op, cmp_value(k, pp, 0, xt, xi));
	}
}

/* A condition, with include_no_value and the account semi-join. */
static CritTruth
eval_cond(const CritProgram *prog, const CritNode *n, const CritEvalEnv *env)
{
	const CritPrepared *pp = &prog->prep[n - prog->doc->nodes];
	CritVal		v;
	CritTruth	t;

	memset(&v, 0, sizeof(v));
	env->value(env->ctx, pp->field, &v);
	if (pp->field->source == CRIT_SRC_ACCOUNT)
	{
		if (v.kind == CRIT_VAL_NO_LINK)
			return truth(n->include_no_value);
		if (v.kind == CRIT_VAL_NO_ROW)
			return CRIT_FALSE;
	}
	t = predicate(n, pp, env, &v);
	if (n->include_no_value)
	{
		bool		null;

		if (pp->field->type == CRIT_T_TAGS && pp->field->source != CRIT_SRC_JSON)
			null = v.kind == CRIT_VAL_TAGS && v.nitems + v.nitems_other == 0;
		else
			null = value_is_null(pp->field, &v);
		t = t_or(t, truth(null));
	}
	if (pp->field->source == CRIT_SRC_ACCOUNT)
		t = truth(t == CRIT_TRUE);
	return t;
}

static CritTruth
eval_node(const CritProgram *prog, const CritNode *n, const CritEvalEnv *env)
{
	const CritNode *m;
	CritTruth	acc;

	switch (n->kind)
	{
		case CRIT_COND:
			return eval_cond(prog, n, env);
		case CRIT_RELATED:
			{
				const CritPrepared *pp = &prog->prep[n - prog->doc->nodes];

				return truth(env->related(env->ctx, prog, n, pp->ints[0], pp->ints[1]) >= pp->ints[0]);
			}
		case CRIT_NOT:
			return t_not(eval_node(prog, n->first, env));
		case CRIT_ALL:
			acc = CRIT_TRUE;
			for (m = n->first; m; m = m->next)
			{
				CritTruth	t = eval_node(prog, m, env);

				if (t == CRIT_FALSE)
					return CRIT_FALSE;
				if (t == CRIT_UNKNOWN)
					acc = CRIT_UNKNOWN;
			}
			return acc;
		case CRIT_ANY:
			acc = CRIT_FALSE;
			for (m = n->first; m; m = m->next)
				acc = t_or(acc, eval_node(prog, m, env));
			return acc;
	}
	return CRIT_UNKNOWN;
}

/* Evaluate a related condition's "where" on the current related row. */
CritTruth
crit_eval_where(const CritProgram *prog, const CritNode *related, const CritEvalEnv *env)
{
	return related->first ? eval_node(prog, related->first, env) : CRIT_TRUE;
}

/* Evaluate a prepared document. */
CritTruth
crit_eval(const CritProgram *prog, const CritEvalEnv *env)
{
	return eval_node(prog, prog->doc->root, env);
}
