/*
 * criteria_parse.h
 *		The criteria language's parser: JSON text into a bounded tree of
 *		groups and conditions, with errors that name the JSON path (pure C,
 *		no PostgreSQL headers; unit-tested and fuzzed outside the server).
 *
 * A document is a group {"all": [...]}, {"any": [...]}, {"not": {...}} or a
 * condition {"field": "...", "op": "...", "value": ..., "include_no_value":
 * bool}; the language is described in doc/criteria.md.  This file checks
 * the shape only (keys, operator names, the JSON kind of each operator's
 * value); whether a field exists and accepts an operator and a value is the
 * compiler's business (criteria_compile.h), because it needs the catalog.
 *
 * No allocation: the caller provides a CritDoc, which holds every node and
 * every unescaped string.  Documents are bounded (CRIT_MAX_BYTES of text,
 * CRIT_MAX_DEPTH levels of JSON nesting, CRIT_MAX_VALUES JSON values), so a
 * parse never recurses deeper than CRIT_MAX_DEPTH and never runs out of
 * room; a document beyond a bound is refused with CRIT_ERR_LIMIT.  Inputs
 * are (pointer, length) pairs and need not be NUL-terminated.
 */
#ifndef CRM_CRITERIA_PARSE_H
#define CRM_CRITERIA_PARSE_H

#include <stdbool.h>
#include <stddef.h>

/* Bounds of a document (doc/criteria.md, "Limits"). */
#define CRIT_MAX_BYTES		65536	/* JSON text */
#define CRIT_MAX_DEPTH		32		/* JSON nesting levels */
#define CRIT_MAX_VALUES		4096	/* JSON values (objects, arrays, scalars) */
#define CRIT_MAX_NODES		512		/* groups and conditions */

/* Room for an error's path, message and hint, NUL included. */
#define CRIT_PATH_SIZE		256
#define CRIT_MSG_SIZE		512

/* What went wrong (the glue maps each to a SQLSTATE). */
typedef enum CritErrKind
{
	CRIT_OK = 0,
	CRIT_ERR_SYNTAX,			/* not JSON (22P02) */
	CRIT_ERR_INVALID,			/* JSON, but not a valid document (22023) */
	CRIT_ERR_LIMIT,				/* beyond a bound (54001) */
	CRIT_ERR_UNKNOWN_FIELD		/* no such field in the catalog (42703) */
} CritErrKind;

typedef struct CritError
{
	CritErrKind kind;
	char		path[CRIT_PATH_SIZE];	/* "$.all[2].op" */
	char		message[CRIT_MSG_SIZE]; /* lower case, no path */
	char		hint[CRIT_MSG_SIZE];	/* what is allowed ("" if nothing) */
} CritError;

/* A byte string that is not necessarily NUL-terminated. */
typedef struct CritText
{
	const char *ptr;
	size_t		len;
} CritText;

typedef enum CritJsonKind
{
	CRIT_J_NULL = 0,
	CRIT_J_BOOL,
	CRIT_J_NUMBER,
	CRIT_J_STRING,
	CRIT_J_ARRAY,
	CRIT_J_OBJECT
} CritJsonKind;

/*
 * A JSON value.  text: a string's unescaped contents (valid UTF-8, no NUL),
 * a number's JSON text, "true" or "false".  Containers list their elements
 * or members through first/next; key is a member's (unescaped) name.
 */
typedef struct CritJson
{
	CritJsonKind kind;
	CritText	text;
	CritText	key;
	const struct CritJson *first;
	const struct CritJson *next;
	int			count;
} CritJson;

/* The operators, in the order of crit_op_name. */
typedef enum CritOp
{
	CRIT_OP_EQ = 0,
	CRIT_OP_NEQ,
	CRIT_OP_IN,
	CRIT_OP_NOT_IN,
	CRIT_OP_CONTAINS,
	CRIT_OP_NOT_CONTAINS,
	CRIT_OP_STARTS_WITH,
	CRIT_OP_ENDS_WITH,
	CRIT_OP_GT,
	CRIT_OP_GTE,
	CRIT_OP_LT,
	CRIT_OP_LTE,
	CRIT_OP_BETWEEN,
	CRIT_OP_IS_NULL,
	CRIT_OP_IS_NOT_NULL,
	CRIT_OP_WITHIN_LAST,
	CRIT_OP_BEFORE_LAST,
	CRIT_OP_HAS_ANY,
	CRIT_OP_HAS_ALL,
	CRIT_OP_COUNT
} CritOp;

/* A bit per operator (the catalog's allowed operators). */
typedef unsigned int CritOpMask;
#define CRIT_OP_BIT(op)		((CritOpMask) 1 << (op))

typedef enum CritNodeKind
{
	CRIT_ALL = 0,
	CRIT_ANY,
	CRIT_NOT,
	CRIT_COND,
	CRIT_RELATED				/* at least N related records matching "where" */
} CritNodeKind;

/* The units of within_last / before_last ("30 days"). */
typedef enum CritUnit
{
	CRIT_UNIT_MINUTE = 0,
	CRIT_UNIT_HOUR,
	CRIT_UNIT_DAY,
	CRIT_UNIT_WEEK,
	CRIT_UNIT_MONTH,
	CRIT_UNIT_YEAR
} CritUnit;

/* Largest amount of an interval ("36500 days"). */
#define CRIT_MAX_AMOUNT		100000

/* Largest at_least of a related-record condition. */
#define CRIT_MAX_AT_LEAST	1000000

/*
 * A group or a condition.  parent/index locate it for error paths (index:
 * position in the parent's list; -1 under "not", "where" and at the root).
 * Groups list their members through first/next (a "not" has exactly one).
 * A condition has its field name, operator, value (NULL when the operator
 * takes none) and include_no_value; within_last / before_last also carry
 * their parsed interval (amount, unit).  A related-record condition
 * {"related": "activity", "where": {...}, "at_least": 3, "within_last":
 * "30 days"} has the kind in field, its "where" as its only member (none:
 * any related record), at_least, and its interval when has_within.
 */
typedef struct CritNode
{
	CritNodeKind kind;
	const struct CritNode *parent;
	int			index;
	const struct CritNode *first;
	const struct CritNode *next;
	int			count;
	CritText	field;
	CritOp		op;
	const CritJson *value;
	bool		include_no_value;
	int			amount;
	CritUnit	unit;
	int			at_least;
	bool		has_within;
} CritNode;

/*
 * Everything a parse produces, in caller-provided memory (about 300 kB;
 * reusable: crit_parse starts afresh).
 */
typedef struct CritDoc
{
	const CritNode *root;
	int			nvalues;
	int			nnodes;
	size_t		nstr;
	CritJson	values[CRIT_MAX_VALUES];
	CritNode	nodes[CRIT_MAX_NODES];
	char		str[CRIT_MAX_BYTES];
} CritDoc;

/*
 * Parse the JSON text s[0..len) into doc.  On success doc->root is the
 * document's top node; on failure err says what and where.
 */
extern bool crit_parse(const char *s, size_t len, CritDoc *doc, CritError *err);

/* Write the JSON path of a node ("$.all[2].not") to buf; returns its length. */
extern size_t crit_node_path(const CritNode *node, char *buf, size_t size);

/* The name of an operator ("starts_with"). */
extern const char *crit_op_name(CritOp op);

/* The operator of a name, or CRIT_OP_COUNT when there is none. */
extern CritOp crit_op_from_name(const char *s, size_t len);

/* The operators of a mask as a list for hints ("eq, neq, in"). */
extern void crit_op_list(CritOpMask mask, char *buf, size_t size);

/* The name of a unit in the plural ("days"). */
extern const char *crit_unit_name(CritUnit unit);

/* Set err (kind, path, message, hint); printf-style message. */
#if defined(__GNUC__)
extern void crit_error(CritError *err, CritErrKind kind, const char *path, const char *hint,
					   const char *fmt,...) __attribute__((format(printf, 5, 6)));
#else
extern void crit_error(CritError *err, CritErrKind kind, const char *path, const char *hint,
					   const char *fmt,...);
#endif

/* A printable, quoted and shortened copy of a text for messages. */
extern void crit_quote(CritText t, char *buf, size_t size);

#endif							/* CRM_CRITERIA_PARSE_H */
