/*
 * test_criteria.c
 *	  Unit tests of the criteria parser and compiler (src/criteria_parse.c,
 *	  src/criteria_compile.c): document shapes, errors and their JSON paths,
 *	  bounds, and the SQL and parameters compiled for a small catalog.
 *
 * Prints every failure, then "N passed, M failed"; exits non-zero on a
 * failure.
 */
#include "criteria_compile.h"
#include "criteria_eval.h"
#include "criteria_parse.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int	n_passed = 0;
static int	n_failed = 0;

#if defined(__GNUC__)
static void check(int ok, const char *fmt,...) __attribute__((format(printf, 2, 3)));
#endif

static void
check(int ok, const char *fmt,...)
{
	va_list		ap;

	if (ok)
	{
		n_passed++;
		return;
	}
	n_failed++;
	printf("FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static CritDoc *doc;
static CritCompiled *out;

/* The test catalog: a few fields of each kind. */
static const CritField fields[] = {
	{{"title", 5}, CRIT_T_TEXT, CRIT_SRC_COLUMN, "title", {NULL, 0}, 0, false, false},
	{{"employee_count", 14}, CRIT_T_INT, CRIT_SRC_COLUMN, "employee_count", {NULL, 0}, 0, false, false},
	{{"created_at", 10}, CRIT_T_TIMESTAMP, CRIT_SRC_COLUMN, "created_at", {NULL, 0}, 0, false, false},
	{{"do_not_email", 12}, CRIT_T_BOOL, CRIT_SRC_COLUMN, "do_not_email", {NULL, 0}, 0, false, false},
	{{"owner_id", 8}, CRIT_T_UUID, CRIT_SRC_COLUMN, "owner_id", {NULL, 0}, 0, false, false},
	{{"tags", 4}, CRIT_T_TAGS, CRIT_SRC_COLUMN, "tags", {NULL, 0}, 0, false, false},
	{{"birthday", 8}, CRIT_T_DATE, CRIT_SRC_COLUMN, "birthday", {NULL, 0}, 0, false, false},
	{{"account.industry", 16}, CRIT_T_TEXT, CRIT_SRC_ACCOUNT, "industry", {NULL, 0}, 0, false, false},
	{{"custom_fields.tier", 18}, CRIT_T_TEXT, CRIT_SRC_JSON, "custom_fields", {"tier", 4}, 0, false, false},
	{{"custom_fields.seats", 19}, CRIT_T_NUMBER, CRIT_SRC_JSON, "custom_fields", {"seats", 5}, 0, false, false},
	{{"custom_fields.langs", 19}, CRIT_T_TEXT, CRIT_SRC_JSON, "custom_fields", {"langs", 5}, 0, true, false},
	{{"status", 6}, CRIT_T_TEXT, CRIT_SRC_COLUMN, "status", {NULL, 0}, CRIT_OP_BIT(CRIT_OP_EQ) | CRIT_OP_BIT(CRIT_OP_IN), false, false},
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

/* Parse a document that must parse. */
static void
parse_ok(const char *json)
{
	CritError	err;
	bool		ok = crit_parse(json, strlen(json), doc, &err);

	check(ok, "parse %s: %s: %s", json, err.path, err.message);
}

/* Parse (and compile) a document that must fail with kind at path. */
static void
fails(const char *json, CritErrKind kind, const char *path, const char *msgpart)
{
	CritError	err;
	bool		ok = crit_parse(json, strlen(json), doc, &err);

	if (ok)
		ok = crit_compile(doc, lookup, NULL, out, &err);
	check(!ok, "%.80s: accepted", json);
	if (ok)
		return;
	check(err.kind == kind, "%.80s: kind %d, expected %d (%s)", json, err.kind, kind, err.message);
	check(strcmp(err.path, path) == 0, "%.80s: path %s, expected %s", json, err.path, path);
	check(strstr(err.message, msgpart) != NULL, "%.80s: message \"%s\" lacks \"%s\"", json, err.message, msgpart);
}

/* Compile a document that must compile to sql with these parameters. */
static void
compiles(const char *json, const char *sql, int nparams, const char *const *params)
{
	CritError	err;
	bool		ok = crit_parse(json, strlen(json), doc, &err);
	int			i;

	if (ok)
		ok = crit_compile(doc, lookup, NULL, out, &err);
	check(ok, "%s: %s: %s", json, err.path, err.message);
	if (!ok)
		return;
	check(strcmp(out->sql, sql) == 0, "%s:\n  got      %s\n  expected %s", json, out->sql, sql);
	check(out->nparams == nparams, "%s: %d parameters, expected %d", json, out->nparams, nparams);
	for (i = 0; i < nparams && i < out->nparams; i++)
		check(strlen(params[i]) == out->params[i].text.len &&
			  memcmp(out->params[i].text.ptr, params[i], out->params[i].text.len) == 0,
			  "%s: parameter $%d is %.*s, expected %s", json, i + 2,
			  (int) out->params[i].text.len, out->params[i].text.ptr, params[i]);
}

static void
test_parse(void)
{
	char	   *deep;
	size_t		i,
				n;
	CritError	err;

	parse_ok("{\"field\": \"title\", \"op\": \"contains\", \"value\": \"vp\"}");
	parse_ok(" {\"all\": [{\"field\": \"a\", \"op\": \"is_null\"}, {\"not\": {\"any\": [{\"field\": \"b\", \"op\": \"eq\", \"value\": 1}]}}]} ");
	check(doc->root->kind == CRIT_ALL && doc->root->count == 2, "all with two members");
	check(doc->root->first->next->kind == CRIT_NOT, "second member is not");
	parse_ok("{\"field\": \"title\", \"op\": \"is_null\", \"value\": null}");
	parse_ok("{\"field\": \"created_at\", \"op\": \"within_last\", \"value\": \"30 days\"}");
	check(doc->root->amount == 30 && doc->root->unit == CRIT_UNIT_DAY, "30 days parsed");
	parse_ok("{\"field\": \"created_at\", \"op\": \"before_last\", \"value\": \"1 month\"}");
	check(doc->root->amount == 1 && doc->root->unit == CRIT_UNIT_MONTH, "1 month parsed");
	parse_ok("{\"field\": \"title\", \"op\": \"eq\", \"value\": \"\\u00e9\\ud83d\\ude00\\\"\"}");
	check(doc->root->value->text.len == 7 && memcmp(doc->root->value->text.ptr, "\xc3\xa9\xf0\x9f\x98\x80\"", 7) == 0,
		  "escapes decoded to UTF-8");
	parse_ok("{\"field\": \"title\", \"op\": \"eq\", \"value\": \"x\", \"include_no_value\": true}");
	check(doc->root->include_no_value, "include_no_value read");

	/* JSON syntax */
	fails("", CRIT_ERR_SYNTAX, "$", "a value expected");
	fails("{\"all\": [}", CRIT_ERR_SYNTAX, "$", "unexpected character at byte 9");
	fails("{\"field\": \"a\"} x", CRIT_ERR_SYNTAX, "$", "text after the document");
	fails("{\"field\": \"a\\u0000\", \"op\": \"eq\", \"value\": 1}", CRIT_ERR_SYNTAX, "$", "NUL");
	fails("{\"field\": \"\\ud800\", \"op\": \"eq\", \"value\": 1}", CRIT_ERR_SYNTAX, "$", "surrogate");
	fails("{\"field\": \"\xff\", \"op\": \"eq\", \"value\": 1}", CRIT_ERR_SYNTAX, "$", "UTF-8");
	fails("{\"field\": \"a\", \"op\": \"eq\", \"value\": 01}", CRIT_ERR_SYNTAX, "$", "expected");
	fails("[1,2,]", CRIT_ERR_SYNTAX, "$", "unexpected character");

	/* shapes */
	fails("[]", CRIT_ERR_INVALID, "$", "must be an object, not an array");
	fails("{}", CRIT_ERR_INVALID, "$", "empty object");
	fails("{\"all\": []}", CRIT_ERR_INVALID, "$.all", "at least one");
	fails("{\"all\": {}}", CRIT_ERR_INVALID, "$.all", "takes an array");
	fails("{\"all\": [], \"any\": []}", CRIT_ERR_INVALID, "$", "exactly one key");
	fails("{\"every\": []}", CRIT_ERR_INVALID, "$", "unknown key \"every\"");
	fails("{\"not\": []}", CRIT_ERR_INVALID, "$.not", "takes one condition");
	fails("{\"all\": [{\"field\": \"title\", \"op\": \"eq\", \"value\": \"a\"}, {\"any\": [{\"field\": \"title\", \"op\": \"gt\"}]}]}",
		  CRIT_ERR_INVALID, "$.all[1].any[0]", "needs a value");
	fails("{\"all\": [{\"field\": \"title\", \"op\": \"eq\", \"value\": \"a\"}, {\"field\": \"title\", \"op\": \"greater\", \"value\": 1}]}",
		  CRIT_ERR_INVALID, "$.all[1].op", "unknown operator \"greater\"");
	fails("{\"field\": \"title\", \"op\": \"eq\", \"value\": 1, \"drop\": 1}", CRIT_ERR_INVALID, "$.drop", "unknown key \"drop\"");
	fails("{\"field\": 1, \"op\": \"eq\", \"value\": 1}", CRIT_ERR_INVALID, "$.field", "non-empty string");
	fails("{\"field\": \"title\", \"value\": 1}", CRIT_ERR_INVALID, "$.op", "needs \"op\"");
	fails("{\"field\": \"title\", \"op\": \"is_null\", \"value\": 1}", CRIT_ERR_INVALID, "$.value", "takes no value");
	fails("{\"field\": \"title\", \"op\": \"in\", \"value\": \"a\"}", CRIT_ERR_INVALID, "$.value", "takes an array");
	fails("{\"field\": \"title\", \"op\": \"in\", \"value\": []}", CRIT_ERR_INVALID, "$.value", "at least one");
	fails("{\"field\": \"title\", \"op\": \"in\", \"value\": [\"a\", null]}", CRIT_ERR_INVALID, "$.value[1]", "not null");
	fails("{\"field\": \"title\", \"op\": \"between\", \"value\": [1]}", CRIT_ERR_INVALID, "$.value", "two values");
	fails("{\"field\": \"title\", \"op\": \"eq\", \"value\": [1]}", CRIT_ERR_INVALID, "$.value", "single value");
	fails("{\"field\": \"created_at\", \"op\": \"within_last\", \"value\": \"30 fortnights\"}", CRIT_ERR_INVALID, "$.value", "interval");
	fails("{\"field\": \"created_at\", \"op\": \"within_last\", \"value\": \"0 days\"}", CRIT_ERR_INVALID, "$.value", "interval");
	fails("{\"field\": \"created_at\", \"op\": \"within_last\", \"value\": \"9999999999999 days\"}", CRIT_ERR_INVALID, "$.value", "interval");
	fails("{\"field\": \"title\", \"op\": \"eq\", \"value\": \"a\", \"include_no_value\": \"yes\"}", CRIT_ERR_INVALID,
		  "$.include_no_value", "boolean");

	/* bounds: 10,000 levels of nesting, never a deep recursion */
	n = 10000;
	deep = malloc(n * 10 + 64);
	for (i = 0; i < 5000; i++)
		memcpy(deep + i * 9, "{\"not\": [", 9);
	strcpy(deep + 5000 * 9, "1");
	fails(deep, CRIT_ERR_LIMIT, "$", "deeper than 32 levels");
	for (i = 0; i < n; i++)
		memcpy(deep + i, "[", 1);
	deep[n] = '\0';
	fails(deep, CRIT_ERR_LIMIT, "$", "deeper than 32 levels");
	free(deep);
	/* more groups than CRIT_MAX_NODES */
	deep = malloc(64 + 40 * 600);
	strcpy(deep, "{\"any\": [");
	for (i = 0; i < 600; i++)
		strcat(deep, i ? ",{\"field\":\"t\",\"op\":\"is_null\"}" : "{\"field\":\"t\",\"op\":\"is_null\"}");
	strcat(deep, "]}");
	fails(deep, CRIT_ERR_LIMIT, "$", "more than 512 groups");
	free(deep);
	/* too long */
	deep = malloc(CRIT_MAX_BYTES + 2);
	memset(deep, ' ', CRIT_MAX_BYTES + 1);
	deep[CRIT_MAX_BYTES + 1] = '\0';
	fails(deep, CRIT_ERR_LIMIT, "$", "longer than");
	free(deep);
	/* a path through not and nested groups */
	check(crit_parse("{\"any\": [{\"not\": {\"all\": [{\"field\": \"x\", \"op\": \"is_null\"}]}}]}",
					 strlen("{\"any\": [{\"not\": {\"all\": [{\"field\": \"x\", \"op\": \"is_null\"}]}}]}"), doc, &err), "nested");
	if (doc->root)
	{
		char		path[CRIT_PATH_SIZE];

		crit_node_path(doc->root->first->first->first, path, sizeof(path));
		check(strcmp(path, "$.any[0].not.all[0]") == 0, "path %s", path);
	}
}

static void
test_compile(void)
{
	/* text: folded, COLLATE "C", case and accents ignored */
	compiles("{\"field\": \"title\", \"op\": \"eq\", \"value\": \"VP Sales\"}",
			 "crm.criteria_fold((t.title)::pg_catalog.text) COLLATE \"C\" = $2", 1, (const char *[]) {"vp sales"});
	compiles("{\"field\": \"title\", \"op\": \"contains\", \"value\": \"Café\"}",
			 "pg_catalog.strpos(crm.criteria_fold((t.title)::pg_catalog.text) COLLATE \"C\", $2) > 0", 1, (const char *[]) {"cafe"});
	compiles("{\"field\": \"title\", \"op\": \"starts_with\", \"value\": \"Dir\"}",
			 "crm.criteria_fold((t.title)::pg_catalog.text) COLLATE \"C\" OPERATOR(pg_catalog.^@) $2", 1, (const char *[]) {"dir"});
	compiles("{\"field\": \"title\", \"op\": \"ends_with\", \"value\": \"Ö\"}",
			 "pg_catalog.\"right\"(crm.criteria_fold((t.title)::pg_catalog.text) COLLATE \"C\", $3) = $2", 2, (const char *[]) {"o", "1"});
	compiles("{\"field\": \"title\", \"op\": \"in\", \"value\": [\"A\\\"b\", \"c\\\\\"]}",
			 "crm.criteria_fold((t.title)::pg_catalog.text) COLLATE \"C\" = ANY ($2)", 1, (const char *[]) {"{\"a\\\"b\",\"c\\\\\"}"});
	compiles("{\"field\": \"title\", \"op\": \"neq\", \"value\": \"x\", \"include_no_value\": true}",
			 "(crm.criteria_fold((t.title)::pg_catalog.text) COLLATE \"C\" <> $2 OR (t.title)::pg_catalog.text IS NULL)", 1, (const char *[]) {"x"});
	/* injection attempts stay parameters */
	compiles("{\"field\": \"title\", \"op\": \"eq\", \"value\": \"'; DROP TABLE crm.contact; --\"}",
			 "crm.criteria_fold((t.title)::pg_catalog.text) COLLATE \"C\" = $2", 1, (const char *[]) {"'; drop table crm.contact; --"});
	/* numbers, timestamps, booleans, uuids, dates */
	compiles("{\"field\": \"employee_count\", \"op\": \"between\", \"value\": [10, 50]}",
			 "(t.employee_count >= $2 AND t.employee_count <= $3)", 2, (const char *[]) {"10", "50"});
	compiles("{\"field\": \"created_at\", \"op\": \"within_last\", \"value\": \"2 weeks\"}",
			 "t.created_at >= (pg_catalog.now() OPERATOR(pg_catalog.-) $2)", 1, (const char *[]) {"2 weeks"});
	compiles("{\"field\": \"do_not_email\", \"op\": \"eq\", \"value\": false}",
			 "t.do_not_email = $2", 1, (const char *[]) {"false"});
	compiles("{\"field\": \"owner_id\", \"op\": \"in\", \"value\": [\"0190a000-0000-7000-8000-000000000001\"]}",
			 "t.owner_id = ANY ($2)", 1, (const char *[]) {"{\"0190a000-0000-7000-8000-000000000001\"}"});
	/* tags: the leakproof operators */
	compiles("{\"field\": \"tags\", \"op\": \"has_any\", \"value\": [\"vip\", \"x\"]}",
			 "t.tags OPERATOR(crm.&&) $2", 1, (const char *[]) {"{\"vip\",\"x\"}"});
	compiles("{\"field\": \"tags\", \"op\": \"has_all\", \"value\": [\"vip\"]}",
			 "t.tags OPERATOR(crm.@>) $2", 1, (const char *[]) {"{\"vip\"}"});
	compiles("{\"field\": \"tags\", \"op\": \"is_null\"}", "pg_catalog.cardinality(t.tags) = 0", 0, NULL);
	/* account fields: a semi-join */
	compiles("{\"field\": \"account.industry\", \"op\": \"eq\", \"value\": \"Retail\"}",
			 "(EXISTS (SELECT FROM crm.account a WHERE a.organization_id = $1 AND a.id = t.account_id AND a.deleted_at IS NULL AND "
			 "crm.criteria_fold((a.industry)::pg_catalog.text) COLLATE \"C\" = $2))", 1, (const char *[]) {"retail"});
	/* custom fields: the key is a parameter too */
	compiles("{\"field\": \"custom_fields.seats\", \"op\": \"eq\", \"value\": 10}",
			 "t.custom_fields OPERATOR(crm.@>) $2", 1, (const char *[]) {"{\"seats\":10}"});
	compiles("{\"field\": \"custom_fields.seats\", \"op\": \"gt\", \"value\": 2.5}",
			 "(CASE WHEN pg_catalog.jsonb_typeof(t.custom_fields OPERATOR(pg_catalog.->) $2) = 'number' "
			 "THEN (t.custom_fields OPERATOR(pg_catalog.->>) $2)::pg_catalog.numeric END) > $3", 2, (const char *[]) {"seats", "2.5"});
	compiles("{\"field\": \"custom_fields.langs\", \"op\": \"has_all\", \"value\": [\"de\", \"fr\"]}",
			 "t.custom_fields OPERATOR(crm.@>) $2", 1, (const char *[]) {"{\"langs\":[\"de\",\"fr\"]}"});
	compiles("{\"field\": \"custom_fields.seats\", \"op\": \"eq\", \"value\": 1, \"include_no_value\": true}",
			 "(t.custom_fields OPERATOR(crm.@>) $3 OR (CASE WHEN pg_catalog.jsonb_typeof(t.custom_fields OPERATOR(pg_catalog.->) $2) = 'number' "
			 "THEN (t.custom_fields OPERATOR(pg_catalog.->>) $2)::pg_catalog.numeric END) IS NULL)", 2, (const char *[]) {"seats", "{\"seats\":1}"});
	compiles("{\"field\": \"custom_fields.tier\", \"op\": \"eq\", \"value\": \"Gold\"}",
			 "crm.criteria_fold((t.custom_fields OPERATOR(pg_catalog.->>) $2)) COLLATE \"C\" = $3", 2, (const char *[]) {"tier", "gold"});
	/* groups */
	compiles("{\"all\": [{\"field\": \"tags\", \"op\": \"is_null\"}, {\"not\": {\"any\": [{\"field\": \"owner_id\", \"op\": \"is_null\"}, {\"field\": \"birthday\", \"op\": \"gt\", \"value\": \"2000-02-29\"}]}}]}",
			 "(pg_catalog.cardinality(t.tags) = 0 AND (NOT (t.owner_id IS NULL OR t.birthday > $2)))", 1, (const char *[]) {"2000-02-29"});

	/* related records: a counted, limited semi-join on the activity timeline */
	compiles("{\"related\": \"activity\", \"at_least\": 3, \"within_last\": \"30 days\", \"where\": {\"all\": ["
			 "{\"field\": \"type\", \"op\": \"eq\", \"value\": \"Meeting\"}, {\"field\": \"activity_at\", \"op\": \"is_not_null\"}]}}",
			 "(t.id IN (SELECT r.contact_id FROM crm.activity r WHERE r.organization_id = $1 AND r.contact_id IS NOT NULL "
			 "AND r.deleted_at IS NULL AND r.activity_at >= (pg_catalog.now() OPERATOR(pg_catalog.-) $3) AND "
			 "(crm.criteria_fold((r.type)::pg_catalog.text) COLLATE \"C\" = $4 AND r.activity_at IS NOT NULL) "
			 "GROUP BY r.contact_id HAVING pg_catalog.count(*) >= $2))",
			 3, (const char *[]) {"3", "30 days", "meeting"});
	compiles("{\"not\": {\"related\": \"activity\"}}",
			 "(NOT (t.id IN (SELECT r.contact_id FROM crm.activity r WHERE r.organization_id = $1 AND r.contact_id IS NOT NULL "
			 "AND r.deleted_at IS NULL GROUP BY r.contact_id HAVING pg_catalog.count(*) >= $2)))", 1, (const char *[]) {"1"});
	fails("{\"related\": \"activity\", \"where\": {\"field\": \"title\", \"op\": \"is_null\"}}", CRIT_ERR_UNKNOWN_FIELD,
		  "$.where.field", "unknown field \"title\"");
	fails("{\"related\": \"activity\", \"where\": {\"related\": \"activity\"}}", CRIT_ERR_INVALID, "$.where.related", "cannot be nested");
	fails("{\"related\": \"opportunity\"}", CRIT_ERR_INVALID, "$.related", "unknown kind of related record");
	fails("{\"related\": \"activity\", \"at_least\": 0}", CRIT_ERR_INVALID, "$.at_least", "whole number");
	fails("{\"related\": \"activity\", \"at_least\": 2.5}", CRIT_ERR_INVALID, "$.at_least", "whole number");
	fails("{\"related\": \"activity\", \"within_last\": \"soon\"}", CRIT_ERR_INVALID, "$.within_last", "interval");
	fails("{\"related\": \"activity\", \"where\": []}", CRIT_ERR_INVALID, "$.where", "an object");
	fails("{\"related\": \"activity\", \"count\": 1}", CRIT_ERR_INVALID, "$.count", "unknown key \"count\"");

	/* catalog errors */
	fails("{\"field\": \"organization_id\", \"op\": \"is_null\"}", CRIT_ERR_UNKNOWN_FIELD, "$.field", "unknown field \"organization_id\"");
	fails("{\"all\": [{\"field\": \"title\", \"op\": \"is_null\"}, {\"field\": \"title\", \"op\": \"is_null\"}, {\"field\": \"tags\", \"op\": \"gt\", \"value\": 1}]}",
		  CRIT_ERR_INVALID, "$.all[2].op", "operator \"gt\" is not allowed for field \"tags\"");
	fails("{\"field\": \"status\", \"op\": \"contains\", \"value\": \"x\"}", CRIT_ERR_INVALID, "$.op", "not allowed");
	fails("{\"field\": \"employee_count\", \"op\": \"eq\", \"value\": 1.5}", CRIT_ERR_INVALID, "$.value", "takes integers");
	fails("{\"field\": \"employee_count\", \"op\": \"eq\", \"value\": 3000000000}", CRIT_ERR_INVALID, "$.value", "takes integers");
	fails("{\"field\": \"title\", \"op\": \"eq\", \"value\": 5}", CRIT_ERR_INVALID, "$.value", "takes strings");
	fails("{\"field\": \"custom_fields.seats\", \"op\": \"gt\", \"value\": 1e1001}", CRIT_ERR_INVALID, "$.value", "exponent at most 1000");
	compiles("{\"field\": \"custom_fields.seats\", \"op\": \"neq\", \"value\": -1.5e-1000}",
			 "(CASE WHEN pg_catalog.jsonb_typeof(t.custom_fields OPERATOR(pg_catalog.->) $2) = 'number' "
			 "THEN (t.custom_fields OPERATOR(pg_catalog.->>) $2)::pg_catalog.numeric END) <> $3", 2, (const char *[]) {"seats", "-1.5e-1000"});
	fails("{\"field\": \"birthday\", \"op\": \"eq\", \"value\": \"2001-02-29\"}", CRIT_ERR_INVALID, "$.value", "dates");
	fails("{\"field\": \"created_at\", \"op\": \"gt\", \"value\": \"2001-02-28 25:00\"}", CRIT_ERR_INVALID, "$.value", "timestamps");
	fails("{\"field\": \"owner_id\", \"op\": \"in\", \"value\": [\"0190a000-0000-7000-8000-000000000001\", \"x'\"]}",
		  CRIT_ERR_INVALID, "$.value[1]", "uuids");
	fails("{\"field\": \"title\\\"; --\", \"op\": \"eq\", \"value\": \"x\"}", CRIT_ERR_UNKNOWN_FIELD, "$.field", "unknown field \"title\\\"; --\"");
	check(crit_date_valid((CritText) {"2000-02-29", 10}) && !crit_date_valid((CritText) {"1900-02-29", 10}), "leap years");
}

/* The evaluator's test record: title, tags and custom_fields.seats. */
static const char *rec_title;	/* NULL: no title */
static const char *rec_seats;	/* NULL: no key; else a JSON number text */
static const char *related_type;	/* the related activity being looked at */
static int64_t related_at;
static char scratch[4096];

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
	return -amount;
}

static char *
env_scratch(void *ctx, size_t n)
{
	(void) ctx;
	return n <= sizeof(scratch) ? scratch : NULL;
}

static void
env_value(void *ctx, const CritField *f, CritVal *v)
{
	static const CritText tags[] = {{"vip", 3}};

	(void) ctx;
	if (related_type)
	{
		if (strcmp(f->column, "type") == 0)
		{
			v->kind = CRIT_VAL_TEXT;
			v->text.ptr = related_type;
			v->text.len = strlen(related_type);
		}
		else
		{
			v->kind = CRIT_VAL_TIMESTAMP;
			v->i = related_at;
		}
		return;
	}
	if (strcmp(f->column, "title") == 0 && rec_title)
	{
		v->kind = CRIT_VAL_TEXT;
		v->text.ptr = rec_title;
		v->text.len = strlen(rec_title);
	}
	else if (strcmp(f->column, "tags") == 0)
	{
		v->kind = CRIT_VAL_TAGS;
		v->items = tags;
		v->nitems = 1;
	}
	else if (strcmp(f->column, "custom_fields") == 0)
	{
		v->kind = CRIT_VAL_JSON;
		v->json_kind = rec_seats ? CRIT_J_NUMBER : CRIT_J_NULL;
		v->text.ptr = rec_seats;
		v->text.len = rec_seats ? strlen(rec_seats) : 0;
	}
	else if (strcmp(f->column, "industry") == 0)
		v->kind = CRIT_VAL_NO_LINK;
	else
		v->kind = CRIT_VAL_NULL;
}

/* Two activities: a meeting (activity_at 0) and a call (activity_at -100). */
static int64_t
env_related(void *ctx, const CritProgram *prog, const CritNode *node, int64_t at_least, int64_t since)
{
	static const char *const types[] = {"Meeting", "call"};
	static const int64_t at[] = {0, -100};
	CritEvalEnv env = {NULL, NULL, NULL, env_scratch, NULL, NULL};
	int64_t		n = 0;
	int			i;

	(void) ctx;
	for (i = 0; i < 2 && n < at_least; i++)
	{
		related_type = types[i];
		related_at = at[i];
		env.value = env_value;
		if (at[i] >= since && crit_eval_where(prog, node, &env) == CRIT_TRUE)
			n++;
	}
	related_type = NULL;
	return n;
}

/* Evaluate a document against the test record. */
static CritTruth
eval(const char *json)
{
	static CritProgram prog;
	CritEvalEnv env = {NULL, env_timestamp, env_ago, env_scratch, env_value, env_related};
	CritError	err;

	if (!crit_parse(json, strlen(json), doc, &err) || !crit_compile(doc, lookup, NULL, out, &err) ||
		!crit_eval_prepare(doc, lookup, NULL, &env, &prog, &err))
	{
		check(0, "%s: %s", json, err.message);
		return CRIT_UNKNOWN;
	}
	return crit_eval(&prog, &env);
}

static void
test_eval(void)
{
	rec_title = "Head of Café";
	rec_seats = "10.0";
	check(eval("{\"field\": \"title\", \"op\": \"contains\", \"value\": \"CAFE\"}") == CRIT_TRUE, "folded contains");
	check(eval("{\"field\": \"title\", \"op\": \"ends_with\", \"value\": \"fé\"}") == CRIT_TRUE, "folded ends_with");
	check(eval("{\"field\": \"title\", \"op\": \"gt\", \"value\": \"HEAD\"}") == CRIT_TRUE, "byte order");
	check(eval("{\"field\": \"custom_fields.seats\", \"op\": \"eq\", \"value\": 1e1}") == CRIT_TRUE, "numeric equality");
	check(eval("{\"field\": \"custom_fields.seats\", \"op\": \"between\", \"value\": [9.99, 10]}") == CRIT_TRUE, "between");
	check(eval("{\"field\": \"tags\", \"op\": \"has_all\", \"value\": [\"vip\", \"x\"]}") == CRIT_FALSE, "has_all");
	rec_title = NULL;
	rec_seats = NULL;
	check(eval("{\"field\": \"title\", \"op\": \"contains\", \"value\": \"vp\"}") == CRIT_UNKNOWN, "no value: unknown");
	check(eval("{\"not\": {\"field\": \"title\", \"op\": \"contains\", \"value\": \"vp\"}}") == CRIT_UNKNOWN, "not unknown");
	check(eval("{\"field\": \"title\", \"op\": \"neq\", \"value\": \"x\", \"include_no_value\": true}") == CRIT_TRUE, "include_no_value");
	check(eval("{\"any\": [{\"field\": \"title\", \"op\": \"is_null\"}, {\"field\": \"title\", \"op\": \"eq\", \"value\": \"x\"}]}") == CRIT_TRUE, "any: true or unknown");
	check(eval("{\"all\": [{\"field\": \"title\", \"op\": \"is_null\"}, {\"field\": \"title\", \"op\": \"eq\", \"value\": \"x\"}]}") == CRIT_UNKNOWN, "all: true and unknown");
	check(eval("{\"not\": {\"field\": \"custom_fields.seats\", \"op\": \"eq\", \"value\": 1}}") == CRIT_TRUE, "containment is false, not unknown");
	check(eval("{\"field\": \"account.industry\", \"op\": \"eq\", \"value\": \"x\"}") == CRIT_FALSE, "no account: false");
	check(eval("{\"field\": \"account.industry\", \"op\": \"eq\", \"value\": \"x\", \"include_no_value\": true}") == CRIT_TRUE,
		  "no account, include_no_value: true");
	check(eval("{\"related\": \"activity\", \"at_least\": 2}") == CRIT_TRUE, "two activities");
	check(eval("{\"related\": \"activity\", \"at_least\": 3}") == CRIT_FALSE, "not three");
	check(eval("{\"related\": \"activity\", \"where\": {\"field\": \"type\", \"op\": \"eq\", \"value\": \"MEETING\"}}") == CRIT_TRUE,
		  "a meeting");
	check(eval("{\"related\": \"activity\", \"at_least\": 2, \"within_last\": \"50 minutes\"}") == CRIT_FALSE,
		  "one within the interval");
	check(eval("{\"not\": {\"related\": \"activity\", \"where\": {\"field\": \"type\", \"op\": \"eq\", \"value\": \"task\"}}}") == CRIT_TRUE,
		  "no task");
	check(crit_date_days((CritText) {"2000-01-01", 10}) == 0 && crit_date_days((CritText) {"1999-12-31", 10}) == -1 &&
		  crit_date_days((CritText) {"2000-03-01", 10}) == 60, "date days");
}

int
main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	doc = malloc(sizeof(CritDoc));
	out = malloc(sizeof(CritCompiled));
	test_parse();
	test_compile();
	test_eval();
	free(doc);
	free(out);
	printf("%d passed, %d failed\n", n_passed, n_failed);
	return n_failed ? 1 : 0;
}
