/*
 * cf_validate.h
 *		Pure validation of custom-field values (no PostgreSQL headers).
 *
 * The caller describes a JSON value as a CfValue (its kind and, for scalars,
 * its text; for arrays, its elements) and a field definition as a
 * CfFieldType plus CfOptions, and asks whether the value is acceptable.
 * Every verdict "invalid" comes with a reason: a lower-case sentence
 * fragment meant for an error detail, e.g. "expected a JSON number, got a
 * string" or "2023-02-29 is not a calendar date".
 *
 * The rules are documented in doc/custom_fields.md.  This file is also
 * compiled into the libFuzzer harness test/fuzz/fuzz_cf_validate.c, so it
 * must never crash or read out of bounds on any input: texts are (pointer,
 * length) pairs and need not be NUL-terminated or valid UTF-8.
 */
#ifndef CF_VALIDATE_H
#define CF_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

/* The field types of crm.custom_field.field_type. */
typedef enum CfFieldType
{
	CF_TYPE_INVALID = 0,
	CF_TYPE_TEXT,
	CF_TYPE_NUMBER,
	CF_TYPE_DATE,
	CF_TYPE_BOOLEAN,
	CF_TYPE_PICKLIST,
	CF_TYPE_MULTI_PICKLIST,
	CF_TYPE_URL,
	CF_TYPE_EMAIL,
	CF_TYPE_PHONE,
	CF_TYPE_CURRENCY
} CfFieldType;

/* The kind of a JSON value. */
typedef enum CfKind
{
	CF_KIND_NULL = 0,
	CF_KIND_STRING,
	CF_KIND_NUMBER,
	CF_KIND_BOOL,
	CF_KIND_ARRAY,
	CF_KIND_OBJECT
} CfKind;

/* A byte string that is not necessarily NUL-terminated. */
typedef struct CfText
{
	const char *ptr;
	size_t		len;
} CfText;

/*
 * A JSON value.  text: for a string its (unescaped) contents, for a number
 * its JSON text (e.g. "-12.50"), for a boolean "true" or "false"; unused
 * otherwise.  elems/nelems: the elements of an array (of which only scalars
 * carry text; nested containers are described by their kind alone).
 */
typedef struct CfValue
{
	CfKind		kind;
	CfText		text;
	const struct CfValue *elems;
	size_t		nelems;
} CfValue;

/*
 * The options of a definition.  choices: the allowed strings of a picklist
 * or multi_picklist.  max_length: the longest text in characters, or -1.
 * min/max: JSON number texts bounding a number or currency (ptr NULL: none).
 */
typedef struct CfOptions
{
	const CfText *choices;
	size_t		nchoices;
	long long	max_length;
	CfText		min;
	CfText		max;
} CfOptions;

/* Room a reason needs, including the terminating NUL. */
#define CF_REASON_SIZE 320

/* The type named by a field_type text, or CF_TYPE_INVALID. */
extern CfFieldType cf_type_from_name(const char *name, size_t len);

/* The field_type name of a type ("number"); "invalid" for CF_TYPE_INVALID. */
extern const char *cf_type_name(CfFieldType type);

/* What a value of the type looks like, for messages ("a JSON number"). */
extern const char *cf_type_expectation(CfFieldType type);

/* The name of a JSON kind for messages ("a string", "an array"). */
extern const char *cf_kind_name(CfKind kind);

/*
 * Is v an acceptable value of a field of this type and these options?
 * JSON null is acceptable (it means "no value"; whether a field may be
 * empty is the caller's business).  On false, reason (of reasonsz bytes,
 * CF_REASON_SIZE recommended) holds why; opts may be NULL for "no options".
 */
extern bool cf_validate_value(CfFieldType type, const CfOptions *opts,
							  const CfValue *v, char *reason, size_t reasonsz);

/*
 * Are these options sensible for the type?  Picklists need at least one
 * choice, all distinct and non-empty; max_length applies to text only and
 * is >= 0; min/max apply to number and currency only, are valid numbers
 * and min <= max.  On false, reason says what is wrong.
 */
extern bool cf_check_options(CfFieldType type, const CfOptions *opts,
							 char *reason, size_t reasonsz);

/*
 * Compare two JSON number texts exactly (no floating point): sets *cmp to
 * -1, 0 or 1 and returns true, or returns false when either is not a valid
 * JSON number.
 */
extern bool cf_number_compare(CfText a, CfText b, int *cmp);

/* Is the text a valid JSON number? */
extern bool cf_number_valid(CfText t);

/* Date, URL, e-mail and phone checks on a string's contents. */
extern bool cf_date_check(CfText t, char *reason, size_t reasonsz);
extern bool cf_url_check(CfText t, char *reason, size_t reasonsz);
extern bool cf_email_check(CfText t, char *reason, size_t reasonsz);
extern bool cf_phone_check(CfText t, char *reason, size_t reasonsz);

#endif							/* CF_VALIDATE_H */
