/*-------------------------------------------------------------------------
 *
 * phone_data.h
 *	  Internal tables of the crm phone parser: country calling codes,
 *	  regions (ISO 3166 alpha-2) with their dialling prefixes, and the
 *	  leading-digit rules that pick a region inside a shared calling code.
 *
 * Not part of the public API (phone_parse.h); exposed so that the unit
 * tests can check the tables' invariants.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_PHONE_DATA_H
#define CRM_PHONE_DATA_H

#include <stddef.h>
#include <stdint.h>

/* calling-code flags */
#define PHONE_CC_NANP		0x01	/* +1: 10 digits, NPA/NXX rules */
#define PHONE_CC_STRIP_ZERO	0x02	/* national prefix 0: NSN never starts
									 * with 0, a 0 after +cc is dropped */
#define PHONE_CC_NONGEO		0x04	/* non-geographic (region "001") */
#define PHONE_CC_MX_MOBILE1	0x08	/* drop obsolete mobile '1' (+52 1 ...) */
#define PHONE_CC_AR_MOBILE15 0x10	/* national mobile token 15 -> 9 (+54) */
#define PHONE_CC_NANP_310	0x20	/* 7-digit 310-xxxx service numbers (CA) */

/* one assigned country calling code */
typedef struct phone_cc_info
{
	uint16_t	cc;				/* 1..999 */
	uint8_t		min_nsn;		/* national significant number length range */
	uint8_t		max_nsn;
	uint8_t		flags;			/* PHONE_CC_* */
	char		region[4];		/* main region, "001" if non-geographic */
} phone_cc_info;

/*
 * One region.  Prefix lists are '|'-separated digit strings, "" = none.
 * intl: international dialling prefixes besides "00", which is always
 * accepted.  trunk: the national trunk prefix (used when formatting and when
 * parsing).  trunk_parse: further prefixes only recognised when parsing
 * (obsolete or alternative trunk prefixes).  carrier: carrier-selection
 * codes that may follow the trunk prefix (BR).
 */
typedef struct phone_region_info
{
	char		alpha2[3];
	uint16_t	cc;
	const char *intl;
	const char *trunk;
	const char *trunk_parse;
	const char *carrier;
} phone_region_info;

/* leading NSN digits that identify a region inside a shared calling code */
typedef struct phone_subregion
{
	uint16_t	cc;
	char		prefix[6];		/* NSN prefix */
	char		region[3];
} phone_subregion;

extern const phone_cc_info phone_cc_table[];
extern const size_t phone_cc_table_len;
extern const phone_region_info phone_region_table[];
extern const size_t phone_region_table_len;
extern const phone_subregion phone_subregion_table[];
extern const size_t phone_subregion_table_len;

/* Calling code entry for cc, or NULL if unassigned. */
extern const phone_cc_info *phone_cc_lookup(unsigned cc);

/* Region entry for a 2-byte alpha-2 code (case-insensitive), or NULL. */
extern const phone_region_info *phone_region_lookup(const char *alpha2,
													size_t len);

/* Region of NSN nsn[0..len) in calling code cc ("001" for non-geographic). */
extern const char *phone_subregion_lookup(unsigned cc, const char *nsn,
										  size_t len);

#endif							/* CRM_PHONE_DATA_H */
