/*
 * phone_lpn.h
 *		Formatting by libphonenumber's rules and metadata (phone_lpn.c, with
 *		the generated tables of phone_formats.c).  Pure C, no PostgreSQL
 *		headers, no allocation.
 */
#ifndef CRM_PHONE_LPN_H
#define CRM_PHONE_LPN_H

#include <stddef.h>

/*
 * Format the national significant number nsn[0..n) of calling code cc as
 * libphonenumber's NATIONAL (national != 0: with the national prefix where
 * the rules write it) or INTERNATIONAL form without the "+cc " (national ==
 * 0) into buf[0..bufsz), NUL-terminated.  Returns the length, or -1 when
 * the table has no formats for cc or buf is too small.
 */
extern int	phone_lpn_format(unsigned cc, const char *nsn, size_t n, int national,
							 char *buf, size_t bufsz);

/* 1 if every pattern of the generated table compiles (unit tests). */
extern int	phone_lpn_check_table(void);

#endif							/* CRM_PHONE_LPN_H */
