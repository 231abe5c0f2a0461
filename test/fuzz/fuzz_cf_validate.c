/*
 * fuzz_cf_validate.c
 *		libFuzzer harness for the pure custom-field validator
 *		(src/cf_validate.c): builds a field definition and a JSON value from
 *		the input and checks that validation never crashes, always leaves a
 *		proper reason, and that number comparison is a consistent order.
 *
 * Input layout: 8 header bytes, then length-prefixed segments (one length
 * byte, then that many bytes):
 *	h[0] field type (mod 11, 0 = invalid)	h[1] value kind (mod 6)
 *	h[2] flags: 1 min, 2 max, 4 max_length	h[3] max_length
 *	h[4] number of choices (mod 9)			h[5] number of array elements (mod 9)
 *	h[6] element kinds (bit i: element i is a number, not a string)
 *	h[7] reason buffer size (0: none, else 1..CF_REASON_SIZE)
 *	segment 0 the value's text, 1 min, 2 max, then choices, then elements.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cf_validate.h"

#define MAX_SEGS 40

/* Abort with a message: libFuzzer reports it as a crash. */
static void
fail(const char *what)
{
	fprintf(stderr, "invariant violated: %s\n", what);
	abort();
}

/* A reason must be a NUL-terminated string inside its buffer. */
static void
check_reason(const char *reason, size_t sz, int ok)
{
	if (sz == 0)
		return;
	if (memchr(reason, '\0', sz) == NULL)
		fail("reason not terminated");
	if (!ok && sz > 1 && reason[0] == '\0')
		fail("invalid without a reason");
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	CfText		segs[MAX_SEGS];
	size_t		nsegs = 0;
	size_t		pos = 8;
	CfText		choices[8];
	CfValue		elems[8];
	CfOptions	opts;
	CfValue		v;
	char	   *reason;
	size_t		sz;
	size_t		i;
	size_t		nchoices,
				nelems;
	int			ok,
				c1,
				c2;
	CfFieldType type;

	if (size < 8)
		return 0;
	/* each segment is copied into its own allocation: ASan sees overreads */
	while (pos < size && nsegs < MAX_SEGS)
	{
		size_t		len = data[pos++];
		char	   *copy;

		if (len > size - pos)
			len = size - pos;
		copy = malloc(len ? len : 1);
		memcpy(copy, data + pos, len);
		segs[nsegs].ptr = copy;
		segs[nsegs].len = len;
		nsegs++;
		pos += len;
	}
	while (nsegs < 3)
	{
		segs[nsegs].ptr = malloc(1);
		segs[nsegs].len = 0;
		nsegs++;
	}

	type = (CfFieldType) (data[0] % 11);
	memset(&opts, 0, sizeof(opts));
	opts.max_length = (data[2] & 4) ? data[3] : -1;
	if (data[2] & 1)
		opts.min = segs[1];
	if (data[2] & 2)
		opts.max = segs[2];
	nchoices = data[4] % 9;
	if (nchoices > nsegs - 3)
		nchoices = nsegs - 3;
	for (i = 0; i < nchoices; i++)
		choices[i] = segs[3 + i];
	opts.choices = choices;
	opts.nchoices = nchoices;
	nelems = data[5] % 9;
	for (i = 0; i < nelems; i++)
	{
		memset(&elems[i], 0, sizeof(CfValue));
		elems[i].kind = (data[6] >> i) & 1 ? CF_KIND_NUMBER : CF_KIND_STRING;
		/* elements come after the choices, reusing segments when short */
		elems[i].text = nsegs > 3 ? segs[3 + (nchoices + i) % (nsegs - 3)] : segs[0];
	}

	memset(&v, 0, sizeof(v));
	v.kind = (CfKind) (data[1] % 6);
	v.text = segs[0];
	v.elems = elems;
	v.nelems = nelems;

	sz = data[7] == 0 ? 0 : 1 + (data[7] - 1) % CF_REASON_SIZE;
	reason = malloc(sz ? sz : 1);

	/* the validator, with and without a reason buffer */
	ok = cf_validate_value(type, &opts, &v, sz ? reason : NULL, sz);
	check_reason(reason, sz, ok);
	if (cf_validate_value(type, &opts, &v, NULL, 0) != ok)
		fail("verdict depends on the reason buffer");
	if (v.kind == CF_KIND_NULL && type != CF_TYPE_INVALID && !ok)
		fail("null rejected");
	ok = cf_check_options(type, &opts, sz ? reason : NULL, sz);
	check_reason(reason, sz, ok);

	/* the single-purpose checks on the raw text */
	ok = cf_date_check(segs[0], sz ? reason : NULL, sz);
	check_reason(reason, sz, ok);
	ok = cf_url_check(segs[0], sz ? reason : NULL, sz);
	check_reason(reason, sz, ok);
	ok = cf_email_check(segs[0], sz ? reason : NULL, sz);
	check_reason(reason, sz, ok);
	ok = cf_phone_check(segs[0], sz ? reason : NULL, sz);
	check_reason(reason, sz, ok);

	/* number comparison: reflexive and antisymmetric */
	if (cf_number_compare(segs[0], segs[1], &c1))
	{
		if (!cf_number_compare(segs[1], segs[0], &c2) || c1 != -c2)
			fail("number comparison not antisymmetric");
		if (!cf_number_compare(segs[0], segs[0], &c2) || c2 != 0)
			fail("number comparison not reflexive");
	}

	free(reason);
	for (i = 0; i < nsegs; i++)
		free((void *) segs[i].ptr);
	return 0;
}
