/*-------------------------------------------------------------------------
 *
 * fuzz_email.c
 *	  libFuzzer harness for the crm email parser (src/email_parse.c).
 *
 * For every input: parse; describe the result; if accepted, normalise,
 * re-parse the normalised text and require the identical canonical output
 * (the parser must never accept what it cannot print back), and require
 * that comparison and hashing ignore ASCII case.  Any violation aborts.
 *
 *-------------------------------------------------------------------------
 */
#include "email_parse.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Abort with a message: a property was violated. */
static void
fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz_email: property violated: %s\n", what);
	abort();
}

/* ASCII case flip of every letter of s[0..n) into out. */
static void
flip_case(const char *s, size_t n, char *out)
{
	size_t		i;

	for (i = 0; i < n; i++)
	{
		char		c = s[i];

		if (c >= 'a' && c <= 'z')
			c = (char) (c - 32);
		else if (c >= 'A' && c <= 'Z')
			c = (char) (c + 32);
		out[i] = c;
	}
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* libFuzzer entry point: check every property on one input. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *) data;
	email_parts parts;
	email_status st;
	char		msg[EMAIL_DESCRIBE_BUFSZ];
	char		small[7];
	size_t		mlen;
	char		out[EMAIL_NORMALIZE_BUFSZ];
	char		out2[EMAIL_NORMALIZE_BUFSZ];
	size_t		olen = 0;
	size_t		olen2 = 0;
	char	   *flipped;
	uint64_t	seed = size > 0 ? data[0] : 7;

	st = email_parse_ex(s, size, &parts);
	if ((int) st < 0 || (int) st >= EMAIL_STATUS_COUNT)
		fuzz_fail("status out of range");
	if (email_status_message(st) == NULL || email_status_name(st) == NULL)
		fuzz_fail("missing message");
	mlen = email_describe(s, size, st, &parts, msg, sizeof(msg));
	if (mlen == 0 || mlen >= sizeof(msg) || strlen(msg) != mlen)
		fuzz_fail("describe length");
	mlen = email_describe(s, size, st, &parts, small, sizeof(small));
	if (mlen >= sizeof(small) || strlen(small) != mlen)
		fuzz_fail("describe small buffer");

	/* case-insensitive helpers agree on arbitrary bytes */
	flipped = malloc(size + 1);
	if (flipped == NULL)
		return 0;
	flip_case(s, size, flipped);
	if (email_cmp(s, size, flipped, size) != 0)
		fuzz_fail("cmp of case variants");
	if (email_hash_folded(s, size, seed) != email_hash_folded(flipped, size, seed))
		fuzz_fail("hash of case variants");
	/* case variants parse the same way */
	if (email_parse(flipped, size, NULL, NULL, NULL) != st)
		fuzz_fail("case variant parses differently");
	free(flipped);

	if (email_normalize(s, size, out, sizeof(out), &olen) != st)
		fuzz_fail("normalize status differs from parse");
	if (st != EMAIL_OK)
	{
		if (olen != 0)
			fuzz_fail("normalize length on error");
		return 0;
	}

	/* accepted: span, limits, canonical round trip */
	if (!(parts.start <= parts.at && parts.at < parts.end && parts.end <= size &&
		  s[parts.at] == '@'))
		fuzz_fail("span");
	if (olen != parts.end - parts.start || olen > EMAIL_MAX_LEN || olen == 0 ||
		strlen(out) != olen)
		fuzz_fail("normalized length");
	if (parts.at - parts.start > EMAIL_MAX_LOCAL_LEN ||
		parts.end - parts.at - 1 > EMAIL_MAX_DOMAIN_LEN)
		fuzz_fail("part lengths");
	if (email_normalize(out, olen, out2, sizeof(out2), &olen2) != EMAIL_OK)
		fuzz_fail("normalized form rejected");
	if (olen2 != olen || memcmp(out, out2, olen) != 0)
		fuzz_fail("normalized form not a fixed point");
	if (email_cmp(out, olen, s + parts.start, olen) != 0 ||
		email_hash_folded(out, olen, seed) !=
		email_hash_folded(s + parts.start, olen, seed))
		fuzz_fail("normalized form not equal to input under folding");

	/* every byte of an accepted address is printable ASCII */
	{
		size_t		i;

		for (i = 0; i < olen; i++)
		{
			if ((unsigned char) out[i] <= 0x20 || (unsigned char) out[i] >= 0x7f)
				fuzz_fail("non-printable byte accepted");
		}
	}
	return 0;
}
