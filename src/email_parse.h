/*-------------------------------------------------------------------------
 *
 * email_parse.h
 *	  Public interface of the crm email address validator/normaliser.
 *
 * Pure C11, no PostgreSQL headers, no allocation, no global mutable state.
 * Every function takes an explicit (pointer, length) pair and never reads
 * past the given length; inputs need not be NUL-terminated.
 *
 * Accepted syntax ("practical" subset of RFC 5321/5322):
 *
 *	  local@domain
 *
 *	  - leading/trailing blanks are trimmed: ASCII whitespace (space, tab,
 *		CR, LF, VT, FF) and, in UTF-8, the invisible characters copy and
 *		paste brings along: U+00A0 NO-BREAK SPACE, U+200B ZERO WIDTH SPACE,
 *		U+200C ZERO WIDTH NON-JOINER, U+200D ZERO WIDTH JOINER, U+202F
 *		NARROW NO-BREAK SPACE, U+2060 WORD JOINER, U+FEFF BYTE ORDER MARK;
 *		whitespace inside the address is rejected;
 *	  - every byte must be ASCII (internationalised domains must be given in
 *		their xn-- form; UTF-8 local parts are rejected);
 *	  - exactly one '@';
 *	  - local part: RFC 5322 dot-atom (A-Z a-z 0-9 and !#$%&'*+/=?^_`{|}~-
 *		plus dots, no leading, trailing or consecutive dot), 1..64 octets.
 *		Quoted local parts ("a b"@x.com) are rejected (EMAIL_LOCAL_QUOTED,
 *		checked before anything else a quoted part could contain):
 *		they are legal but virtually never used and most MTAs refuse them;
 *	  - domain: 1..255 octets, at least two dot-separated labels, each label
 *		1..63 of [A-Za-z0-9-] not beginning or ending with '-'; the last
 *		label (TLD) must not be all digits.  A trailing root dot
 *		("x.com.") is rejected as an empty label.  Domain literals
 *		([192.0.2.1], [IPv6:...]) are rejected (EMAIL_DOMAIN_LITERAL);
 *	  - whole address at most 254 octets (RFC 5321 path limit minus <>).
 *
 * xn-- labels are only checked for the LDH rule above; the Punycode payload
 * itself is not decoded.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_EMAIL_PARSE_H
#define CRM_EMAIL_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* RFC 5321 limits, in octets */
#define EMAIL_MAX_LEN			254		/* whole address */
#define EMAIL_MAX_LOCAL_LEN		64		/* local part */
#define EMAIL_MAX_DOMAIN_LEN	255		/* domain */
#define EMAIL_MAX_LABEL_LEN		63		/* one domain label */

/* buffer size that is always enough for email_normalize() (text + NUL) */
#define EMAIL_NORMALIZE_BUFSZ	(EMAIL_MAX_LEN + 1)

/* buffer size that is always enough for email_describe() (text + NUL) */
#define EMAIL_DESCRIBE_BUFSZ	256

typedef enum email_status
{
	EMAIL_OK = 0,
	EMAIL_EMPTY,				/* nothing but whitespace */
	EMAIL_NO_AT,				/* no '@' */
	EMAIL_MULTIPLE_AT,			/* more than one '@' */
	EMAIL_LOCAL_EMPTY,			/* nothing before '@' */
	EMAIL_LOCAL_TOO_LONG,		/* local part > 64 octets */
	EMAIL_LOCAL_BAD_CHAR,		/* byte not allowed in a dot-atom */
	EMAIL_LOCAL_DOT,			/* leading/trailing/double dot in local part */
	EMAIL_LOCAL_QUOTED,			/* quoted local part (unsupported) */
	EMAIL_DOMAIN_EMPTY,			/* nothing after '@' */
	EMAIL_DOMAIN_TOO_LONG,		/* domain > 255 octets */
	EMAIL_DOMAIN_LITERAL,		/* [address] literal (unsupported) */
	EMAIL_LABEL_EMPTY,			/* empty label (leading/trailing/double dot) */
	EMAIL_LABEL_TOO_LONG,		/* label > 63 octets */
	EMAIL_LABEL_BAD_CHAR,		/* byte other than letter/digit/hyphen */
	EMAIL_LABEL_HYPHEN,			/* label begins or ends with '-' */
	EMAIL_DOMAIN_ONE_LABEL,		/* domain without a dot */
	EMAIL_TLD_NUMERIC,			/* last label is all digits */
	EMAIL_TOO_LONG,				/* whole address > 254 octets */
	EMAIL_NON_ASCII,			/* byte >= 0x80 */
	EMAIL_WHITESPACE			/* whitespace inside the address */
} email_status;

/* number of distinct email_status values */
#define EMAIL_STATUS_COUNT		((int) EMAIL_WHITESPACE + 1)

/*
 * Full result of a parse.  Offsets are relative to the start of the input
 * buffer that was passed in (not to the trimmed span).
 */
typedef struct email_parts
{
	size_t		start;			/* first byte of the trimmed address */
	size_t		end;			/* one past its last byte */
	size_t		at;				/* offset of the '@' (valid if found) */
	size_t		err_off;		/* offset of the offending byte/label */
	size_t		err_len;		/* its length (0 if not applicable) */
} email_parts;

/* Validate s[0..len); on EMAIL_OK set the trimmed span and '@' offset. */
extern email_status email_parse(const char *s, size_t len,
								size_t *start, size_t *end, size_t *at);

/* Like email_parse() but also reports where the error is (parts != NULL). */
extern email_status email_parse_ex(const char *s, size_t len,
								   email_parts *parts);

/*
 * Validate and write the canonical form (trimmed, domain lower-cased, local
 * part kept as typed) to out[0..outsz); NUL-terminated if room.  *outlen gets
 * the text length.  If outsz is too small nothing useful is written and
 * EMAIL_TOO_LONG is returned; EMAIL_NORMALIZE_BUFSZ is always enough.
 */
extern email_status email_normalize(const char *s, size_t len,
									char *out, size_t outsz, size_t *outlen);

/* Static lower-case message for a status, e.g. "the local part is empty". */
extern const char *email_status_message(email_status st);

/* Short stable identifier for a status, e.g. "local_empty". */
extern const char *email_status_name(email_status st);

/*
 * Write a detailed lower-case message naming the offending item (e.g.
 * 'the domain label "-x" begins with a hyphen') for a failed
 * email_parse_ex() on the same input.  Always NUL-terminates when bufsz > 0;
 * output is truncated to fit.  Returns the length written.
 */
extern size_t email_describe(const char *s, size_t len, email_status st,
							 const email_parts *parts,
							 char *buf, size_t bufsz);

/*
 * Compare two strings byte-wise after ASCII case folding (locale
 * independent); shorter string sorts first on a common prefix.
 * Returns <0, 0 or >0.
 */
extern int	email_cmp(const char *a, size_t alen, const char *b, size_t blen);

/*
 * Copy s[0..len) to out[0..len) with ASCII letters lower-cased (the folding
 * of email_cmp() and email_hash_folded()); no NUL is written.
 */
extern void email_fold_copy(const char *s, size_t len, char *out);

/* 64-bit hash of the ASCII-lower-cased bytes; email_cmp()==0 => same hash. */
extern uint64_t email_hash_folded(const char *s, size_t len, uint64_t seed);

#endif							/* CRM_EMAIL_PARSE_H */
