/*
 * fuzz_criteria.c
 *		libFuzzer harness for the criteria parser and compiler
 *		(src/criteria_parse.c, src/criteria_compile.c): the input is a JSON
 *		document; it must never crash, an error must carry a path and a
 *		message, and compiled SQL must carry nothing of the document's text
 *		(no quote but those of its fixed fragments, no ';', no comment) and
 *		reference only parameters that exist; the evaluator then runs on
 *		a record whose values come from the input too, and must answer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "criteria_compile.h"
#include "criteria_eval.h"
#include "criteria_parse.h"

static const CritField fields[] = {
	{{"title", 5}, CRIT_T_TEXT, CRIT_SRC_COLUMN, "title", {NULL, 0}, 0, false, false},
	{{"n", 1}, CRIT_T_INT, CRIT_SRC_COLUMN, "n", {NULL, 0}, 0, false, false},
	{{"x", 1}, CRIT_T_NUMBER, CRIT_SRC_COLUMN, "x", {NULL, 0}, 0, false, false},
	{{"at", 2}, CRIT_T_TIMESTAMP, CRIT_SRC_COLUMN, "at", {NULL, 0}, 0, false, false},
	{{"d", 1}, CRIT_T_DATE, CRIT_SRC_COLUMN, "d", {NULL, 0}, 0, false, false},
	{{"b", 1}, CRIT_T_BOOL, CRIT_SRC_COLUMN, "b", {NULL, 0}, 0, false, false},
	{{"u", 1}, CRIT_T_UUID, CRIT_SRC_COLUMN, "u", {NULL, 0}, 0, false, false},
	{{"tags", 4}, CRIT_T_TAGS, CRIT_SRC_COLUMN, "tags", {NULL, 0}, 0, false, false},
	{{"account.industry", 16}, CRIT_T_TEXT, CRIT_SRC_ACCOUNT, "industry", {NULL, 0}, 0, false, false},
	{{"cf.t", 4}, CRIT_T_TEXT, CRIT_SRC_JSON, "custom_fields", {"t'\"", 3}, 0, false, false},
	{{"cf.n", 4}, CRIT_T_NUMBER, CRIT_SRC_JSON, "custom_fields", {"n", 1}, 0, false, false},
	{{"cf.b", 4}, CRIT_T_BOOL, CRIT_SRC_JSON, "custom_fields", {"b", 1}, 0, false, false},
	{{"cf.d", 4}, CRIT_T_DATE, CRIT_SRC_JSON, "custom_fields", {"d", 1}, 0, false, false},
	{{"cf.l", 4}, CRIT_T_TEXT, CRIT_SRC_JSON, "custom_fields", {"l", 1}, 0, true, false},
};

/* Activities: the link column, then the fields. */
static const CritField activity_fields[] = {
	{{"", 0}, CRIT_T_UUID, CRIT_SRC_COLUMN, "contact_id", {NULL, 0}, 0, false, false},
	{{"type", 4}, CRIT_T_TEXT, CRIT_SRC_COLUMN, "type", {NULL, 0}, 0, false, false},
	{{"activity_at", 11}, CRIT_T_TIMESTAMP, CRIT_SRC_COLUMN, "activity_at", {NULL, 0}, 0, false, false},
};

static const CritField *
lookup(void *ctx, const char *related, const char *name, size_t len)
{
	size_t		i;

	(void) ctx;
	if (related)
	{
		if (len == 0)
			return &activity_fields[0];
		for (i = 1; i < sizeof(activity_fields) / sizeof(activity_fields[0]); i++)
			if (activity_fields[i].name.len == len && memcmp(activity_fields[i].name.ptr, name, len) == 0)
				return &activity_fields[i];
		return NULL;
	}
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (fields[i].name.len == len && memcmp(fields[i].name.ptr, name, len) == 0)
			return &fields[i];
	return NULL;
}

/* The evaluator's record: each field's value made from a few input bytes. */
typedef struct FuzzRecord
{
	const uint8_t *data;
	size_t		size;
	char		scratch[1 << 16];
	size_t		used;
} FuzzRecord;

static const CritText items[] = {{"a", 1}, {"VIP", 3}, {"de", 2}, {"", 0}};
static const CritEvalEnv *current_env;

static int64_t
env_timestamp(void *ctx, CritText t)
{
	(void) ctx;
	return (int64_t) t.len * 1000;
}

static int64_t
env_ago(void *ctx, int amount, CritUnit unit)
{
	(void) ctx;
	return -(int64_t) amount * (int64_t) (unit + 1);
}

static char *
env_scratch(void *ctx, size_t n)
{
	FuzzRecord *r = ctx;
	char	   *p;

	if (n > sizeof(r->scratch) - r->used)
		r->used = 0;			/* reuse: values are only compared once */
	p = r->scratch + r->used;
	r->used += n;
	return p;
}

static void
env_value(void *ctx, const CritField *f, CritVal *out)
{
	FuzzRecord *r = ctx;
	size_t		k = (size_t) (f - fields);
	uint8_t		b = r->size ? r->data[k % r->size] : 0;
	static const char *const texts[] = {"VP Sales", "Café", "", "2.5", "NaN", "2025-03-01",
		"0190a000-0000-7000-8000-000000000001", "-1e5"};

	out->kind = (CritValKind) (b % 12);
	out->text.ptr = texts[(b >> 4) % 8];
	out->text.len = strlen(out->text.ptr);
	out->i = (int64_t) b * 1000 - 5000;
	out->b = b & 1;
	out->items = items;
	out->nitems = (b >> 2) % 5;
	out->nitems_other = b & 1;
	out->json_kind = (CritJsonKind) ((b >> 3) % 6);
}

/* Each record has three related rows, seen through the same value(). */
static int64_t
env_related(void *ctx, const CritProgram *prog, const CritNode *node, int64_t at_least, int64_t since)
{
	int64_t		n = 0;
	int			i;

	(void) ctx;
	(void) since;
	for (i = 0; i < 3 && n < at_least; i++)
		if (crit_eval_where(prog, node, current_env) == CRIT_TRUE)
			n++;
	return n;
}

static void
fail(const char *what)
{
	fprintf(stderr, "invariant violated: %s\n", what);
	abort();
}

static void
check_error(const CritError *err)
{
	if (err->kind == CRIT_OK)
		fail("failure without an error kind");
	if (err->path[0] != '$' || memchr(err->path, '\0', sizeof(err->path)) == NULL)
		fail("error path");
	if (err->message[0] == '\0' || memchr(err->message, '\0', sizeof(err->message)) == NULL)
		fail("error message");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static CritDoc *doc;
	static CritCompiled *out;
	static CritProgram *prog;
	static FuzzRecord *rec;
	CritError	err;
	CritEvalEnv env;
	CritTruth	t;
	const char *s;

	if (!doc)
	{
		doc = malloc(sizeof(CritDoc));
		out = malloc(sizeof(CritCompiled));
		prog = malloc(sizeof(CritProgram));
		rec = malloc(sizeof(FuzzRecord));
	}
	if (!crit_parse((const char *) data, size, doc, &err))
	{
		check_error(&err);
		return 0;
	}
	if (!crit_compile(doc, lookup, NULL, out, &err))
	{
		check_error(&err);
		return 0;
	}
	if (strlen(out->sql) != out->sqllen)
		fail("sql length");
	if (strchr(out->sql, ';') || strstr(out->sql, "--") || strstr(out->sql, "/*"))
		fail("a statement separator or comment in the SQL");
	for (s = strchr(out->sql, '\''); s; s = strchr(s + 1, '\''))
	{
		if (strncmp(s, "'number'", 8) == 0 || strncmp(s, "'boolean'", 9) == 0)
			s = strchr(s + 1, '\'');
		else
			fail("a quote in the SQL");
	}
	for (s = strchr(out->sql, '$'); s; s = strchr(s + 1, '$'))
	{
		long		n = strtol(s + 1, NULL, 10);

		if (n < 1 || n > out->nparams + 1)
			fail("a parameter number out of range");
	}

	rec->data = data;
	rec->size = size;
	rec->used = 0;
	env.ctx = rec;
	env.timestamp = env_timestamp;
	env.ago = env_ago;
	env.scratch = env_scratch;
	env.value = env_value;
	env.related = env_related;
	current_env = &env;
	if (!crit_eval_prepare(doc, lookup, NULL, &env, prog, &err))
	{
		check_error(&err);
		return 0;
	}
	t = crit_eval(prog, &env);
	if (t != CRIT_TRUE && t != CRIT_FALSE && t != CRIT_UNKNOWN)
		fail("not a truth value");
	return 0;
}
