/*
 * phone_formats.h
 *		The shape of the generated format tables (phone_formats.c) that
 *		phone_lpn.c applies.  Pure C, no PostgreSQL headers.
 */
#ifndef CRM_PHONE_FORMATS_H
#define CRM_PHONE_FORMATS_H

#include <stddef.h>

/* One number format of libphonenumber's metadata. */
typedef struct phone_lpn_fmt
{
	const char *pattern;		/* regular expression for the whole NSN */
	const char *format;			/* "$1 $2-$3", or "NA": not formatted */
	const char *leading;		/* regular expression for leading digits */
	const char *np_rule;		/* "0$1", "($1)": the national prefix */
} phone_lpn_fmt;

/* The formats of one calling code (those of its main region). */
typedef struct phone_lpn_code
{
	unsigned	cc;
	const char *national_prefix;
	const phone_lpn_fmt *formats;
	size_t		nformats;
	const phone_lpn_fmt *intl;	/* international formats, or NULL: the
									 * national ones */
	size_t		nintl;
} phone_lpn_code;

extern const phone_lpn_code phone_lpn_codes[];
extern const size_t phone_lpn_ncodes;

#endif							/* CRM_PHONE_FORMATS_H */
