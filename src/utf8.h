/*
 * utf8.h
 *		Decoding one UTF-8 character, and writing a code point as U+XXXX: the
 *		pieces the pure parsers (email_parse.c, phone_parse.c) and the
 *		similarity measures (similarity.c) share.
 *
 * Pure C11, no PostgreSQL headers, no allocation; inputs are (pointer,
 * length) pairs, never read past their length.
 */
#ifndef CRM_UTF8_H
#define CRM_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* *cp of a byte that does not begin a well-formed character */
#define UTF8_INVALID	(-1)

/* room for "U+10FFFF" and its NUL */
#define UTF8_CP_BUFSZ	9

/*
 * Decode the character at s[0..len) (len > 0): return its length in bytes
 * and set *cp.  A byte that does not begin a well-formed character --
 * malformed, truncated, overlong, a surrogate, past U+10FFFF -- counts as
 * one byte with *cp = UTF8_INVALID.
 */
extern size_t utf8_decode(const char *s, size_t len, int32_t *cp);

/* Write "U+00E9" (at least four hex digits) into buf[UTF8_CP_BUFSZ]. */
extern void utf8_format_cp(int32_t cp, char *buf);

#endif							/* CRM_UTF8_H */
