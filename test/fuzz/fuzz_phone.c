/*-------------------------------------------------------------------------
 *
 * fuzz_phone.c
 *	  libFuzzer harness for the crm phone parser (src/phone_parse.c).
 *
 * Input layout: if the first two bytes are upper-case letters they are the
 * default country (known or not) and the number follows; a first byte '-'
 * means no default country; any other first byte picks a region from the
 * table.  For every input: parse; describe; if accepted, format the
 * canonical E.164 text, re-parse it (with no, the same and another default
 * country) and require the identical number and identical text; do the
 * same for the international form and for the national form (re-parsed
 * with the number's own region).  Any violation aborts.
 *
 *-------------------------------------------------------------------------
 */
#include "phone_data.h"
#include "phone_parse.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Abort with a message: a property was violated. */
static void
fuzz_fail(const char *what, const char *text)
{
	fprintf(stderr, "fuzz_phone: property violated: %s [%s]\n", what,
			text ? text : "");
	abort();
}

/* Parse text with region and require exactly *p back. */
static void
require_same(const phone_number *p, const char *text, const char *region,
			 const char *what)
{
	phone_number q;
	phone_error e;
	phone_status st;

	st = phone_parse(text, strlen(text), region, region ? strlen(region) : 0,
					 &q, &e);
	if (st != PHONE_OK)
		fuzz_fail(what, text);
	if (phone_cmp(p, &q) != 0 || memcmp(p, &q, sizeof(q)) != 0)
		fuzz_fail(what, text);
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* libFuzzer entry point: check every property on one input. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		region[3] = {0, 0, 0};
	const char *reg = NULL;
	size_t		reglen = 0;
	const char *s;
	size_t		n;
	phone_number p;
	phone_error e;
	phone_status st;
	char		msg[PHONE_DESCRIBE_BUFSZ];
	char		t1[PHONE_TEXT_BUFSZ];
	char		t2[PHONE_FORMAT_BUFSZ];
	char		t3[PHONE_FORMAT_BUFSZ];
	char		again[PHONE_TEXT_BUFSZ];
	const char *where;
	int			n1;
	int			n2;
	int			n3;
	size_t		mlen;

	if (size == 0)
		return 0;
	if (size >= 2 && data[0] >= 'A' && data[0] <= 'Z' &&
		data[1] >= 'A' && data[1] <= 'Z')
	{
		region[0] = (char) data[0];
		region[1] = (char) data[1];
		reg = region;
		reglen = 2;
		s = (const char *) data + 2;
		n = size - 2;
	}
	else if (data[0] == '-')
	{
		s = (const char *) data + 1;
		n = size - 1;
	}
	else
	{
		const phone_region_info *r = &phone_region_table[data[0] % phone_region_table_len];

		memcpy(region, r->alpha2, 2);
		reg = region;
		reglen = 2;
		s = (const char *) data + 1;
		n = size - 1;
	}

	st = phone_parse(s, n, reg, reglen, &p, &e);
	if ((int) st < 0 || (int) st >= PHONE_STATUS_COUNT)
		fuzz_fail("status out of range", NULL);
	mlen = phone_describe(st, &e, msg, sizeof(msg));
	if (mlen == 0 || mlen >= sizeof(msg) || strlen(msg) != mlen)
		fuzz_fail("describe length", msg);
	if (st == PHONE_BAD_CHAR && (e.pos >= n || (unsigned char) s[e.pos] != e.ch))
		fuzz_fail("bad char position", msg);
	if (st != PHONE_OK)
	{
		if (phone_is_valid(&p) || phone_format_e164(&p, t1, sizeof(t1)) != -1)
			fuzz_fail("invalid result is formattable", NULL);
		return 0;
	}

	/* accepted: structurally valid, bounded, formattable */
	if (!phone_is_valid(&p) || p.ndigits > PHONE_MAX_DIGITS ||
		p.ext_len > PHONE_MAX_EXT)
		fuzz_fail("result not valid", NULL);
	n1 = phone_format_e164(&p, t1, sizeof(t1));
	n2 = phone_format_international(&p, t2, sizeof(t2));
	n3 = phone_format_national(&p, t3, sizeof(t3));
	if (n1 <= 0 || n1 > PHONE_MAX_TEXT || (size_t) n1 != strlen(t1))
		fuzz_fail("e164 length", t1);
	if (n2 <= 0 || (size_t) n2 != strlen(t2) || n3 <= 0 || (size_t) n3 != strlen(t3))
		fuzz_fail("format length", t2);
	where = phone_region(&p);
	if (where == NULL || phone_country_code(&p) <= 0)
		fuzz_fail("no region", t1);

	/* canonical round trip, whatever the default country */
	require_same(&p, t1, NULL, "e164 round trip");
	require_same(&p, t1, reg, "e164 round trip (same default)");
	require_same(&p, t1, "JP", "e164 round trip (default JP)");
	{
		phone_number q;

		phone_parse(t1, strlen(t1), NULL, 0, &q, NULL);
		if (phone_format_e164(&q, again, sizeof(again)) != n1 ||
			strcmp(again, t1) != 0)
			fuzz_fail("e164 text not a fixed point", t1);
	}
	/* human forms parse back too */
	require_same(&p, t2, NULL, "international round trip");
	if (strcmp(where, "001") != 0)
		require_same(&p, t3, where, "national round trip");
	return 0;
}
