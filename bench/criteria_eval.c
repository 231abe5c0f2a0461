/*
 * criteria_eval.c (bench)
 *		Single-record evaluations per second of the pure in-memory evaluator
 *		(src/criteria_eval.c) for the five documents of bench/criteria.sql,
 *		on a record held in memory -- what a trigger pays per changed row,
 *		without the SQL call and the row read of crm.criteria_match.
 *
 *   cc -O2 -std=c11 -Isrc bench/criteria_eval.c src/criteria_parse.c \
 *      src/criteria_compile.c src/criteria_eval.c src/similarity.c \
 *      src/cf_validate.c -o /tmp/criteria_eval && /tmp/criteria_eval
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "criteria_compile.h"
#include "criteria_eval.h"
#include "criteria_parse.h"

static const CritField fields[] = {
	{{"tags", 4}, CRIT_T_TAGS, CRIT_SRC_COLUMN, "tags", {NULL, 0}, 0, false, false},
	{{"owner_id", 8}, CRIT_T_UUID, CRIT_SRC_COLUMN, "owner_id", {NULL, 0}, 0, false, false},
	{{"custom_fields.lifecycle_stage", 29}, CRIT_T_TEXT, CRIT_SRC_JSON, "custom_fields", {"lifecycle_stage", 15}, 0, false, false},
	{{"custom_fields.seats", 19}, CRIT_T_NUMBER, CRIT_SRC_JSON, "custom_fields", {"seats", 5}, 0, false, false},
	{{"account.industry", 16}, CRIT_T_TEXT, CRIT_SRC_ACCOUNT, "industry", {NULL, 0}, 0, false, false},
};
static const CritField activity_fields[] = {
	{{"", 0}, CRIT_T_UUID, CRIT_SRC_COLUMN, "contact_id", {NULL, 0}, 0, false, false},
	{{"type", 4}, CRIT_T_TEXT, CRIT_SRC_COLUMN, "type", {NULL, 0}, 0, false, false},
};

static const CritField *
lookup(void *ctx, const char *related, const char *name, size_t len)
{
	const CritField *set = related ? activity_fields : fields;
	size_t		n = related ? 2 : sizeof(fields) / sizeof(fields[0]);
	size_t		i;

	(void) ctx;
	for (i = 0; i < n; i++)
		if (set[i].name.len == len && memcmp(set[i].name.ptr, name, len) == 0)
			return &set[i];
	return NULL;
}

/* The record: a contact with tags, an owner, custom fields and an account. */
static const CritText tags[] = {{"t1", 2}, {"t3", 2}};
static const char *activity_type;	/* the related row looked at, or NULL */
static char scratch[256];

static int64_t
env_timestamp(void *ctx, CritText t)
{
	(void) ctx;
	(void) t;
	return 0;
}

static int64_t
env_ago(void *ctx, int amount, CritUnit unit)
{
	(void) ctx;
	(void) unit;
	return -(int64_t) amount;
}

static char *
env_scratch(void *ctx, size_t n)
{
	(void) ctx;
	return n <= sizeof(scratch) ? scratch : malloc(n);
}

static void
env_value(void *ctx, const CritField *f, CritVal *v)
{
	(void) ctx;
	if (activity_type)
	{
		v->kind = CRIT_VAL_TEXT;
		v->text.ptr = activity_type;
		v->text.len = strlen(activity_type);
	}
	else if (f == &fields[0])
	{
		v->kind = CRIT_VAL_TAGS;
		v->items = tags;
		v->nitems = 2;
	}
	else if (f == &fields[1])
	{
		v->kind = CRIT_VAL_UUID;
		v->text.ptr = "5b000000-0000-7000-8000-000000000007";
		v->text.len = 36;
	}
	else if (f == &fields[2])
	{
		v->kind = CRIT_VAL_JSON;
		v->json_kind = CRIT_J_STRING;
		v->text.ptr = "customer";
		v->text.len = 8;
	}
	else if (f == &fields[3])
	{
		v->kind = CRIT_VAL_JSON;
		v->json_kind = CRIT_J_NUMBER;
		v->text.ptr = "42";
		v->text.len = 2;
	}
	else
	{
		v->kind = CRIT_VAL_TEXT;
		v->text.ptr = "Industry 7";
		v->text.len = 10;
	}
}

static const CritEvalEnv *the_env;

/* Four related activities, the evaluator looking at each in turn. */
static int64_t
env_related(void *ctx, const CritProgram *prog, const CritNode *node, int64_t at_least, int64_t since)
{
	static const char *const types[] = {"meeting", "call", "meeting", "meeting"};
	int64_t		n = 0;
	int			i;

	(void) ctx;
	(void) since;
	for (i = 0; i < 4 && n < at_least; i++)
	{
		activity_type = types[i];
		if (crit_eval_where(prog, node, the_env) == CRIT_TRUE)
			n++;
	}
	activity_type = NULL;
	return n;
}

int
main(void)
{
	static const char *const docs[] = {
		"{\"field\": \"tags\", \"op\": \"has_any\", \"value\": [\"t3\"]}",
		"{\"all\": [{\"field\": \"owner_id\", \"op\": \"eq\", \"value\": \"5b000000-0000-7000-8000-000000000007\"},"
		" {\"field\": \"custom_fields.lifecycle_stage\", \"op\": \"eq\", \"value\": \"customer\"}]}",
		"{\"field\": \"custom_fields.seats\", \"op\": \"eq\", \"value\": 42}",
		"{\"field\": \"account.industry\", \"op\": \"eq\", \"value\": \"Industry 7\"}",
		"{\"related\": \"activity\", \"at_least\": 3, \"within_last\": \"30 days\","
		" \"where\": {\"field\": \"type\", \"op\": \"eq\", \"value\": \"meeting\"}}",
	};
	static const char *const labels[] = {"tag", "owner + stage", "custom field", "account industry", "related activity"};
	CritEvalEnv env = {NULL, env_timestamp, env_ago, env_scratch, env_value, env_related};
	CritDoc    *doc = malloc(sizeof(CritDoc));
	CritCompiled *out = malloc(sizeof(CritCompiled));
	CritProgram *prog = malloc(sizeof(CritProgram));
	size_t		k;

	the_env = &env;
	printf("| document | evaluations / s | answer |\n| --- | ---: | --- |\n");
	for (k = 0; k < sizeof(docs) / sizeof(docs[0]); k++)
	{
		CritError	err;
		struct timespec a,
					b;
		long		i,
					n = 2000000;
		int			t = 0;
		double		s;

		if (!crit_parse(docs[k], strlen(docs[k]), doc, &err) || !crit_compile(doc, lookup, NULL, out, &err) ||
			!crit_eval_prepare(doc, lookup, NULL, &env, prog, &err))
		{
			fprintf(stderr, "%s: %s: %s\n", labels[k], err.path, err.message);
			return 1;
		}
		clock_gettime(CLOCK_MONOTONIC, &a);
		for (i = 0; i < n; i++)
			t += crit_eval(prog, &env) == CRIT_TRUE;
		clock_gettime(CLOCK_MONOTONIC, &b);
		s = (double) (b.tv_sec - a.tv_sec) + (double) (b.tv_nsec - a.tv_nsec) / 1e9;
		printf("| %s | %.0f | %s |\n", labels[k], n / s, t == n ? "true" : (t == 0 ? "false" : "mixed"));
	}
	free(doc);
	free(out);
	free(prog);
	return 0;
}
