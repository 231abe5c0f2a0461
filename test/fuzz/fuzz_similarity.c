/*
 * fuzz_similarity.c
 *		libFuzzer harness for src/similarity.c.  The input is split at its
 *		first NUL byte (or in the middle when there is none) into two
 *		strings; every function must return without crashing, and:
 *		Jaro-Winkler lies in [0, 1], is symmetric, and is 1 for a string and
 *		itself (name similarity too); the edit distance is symmetric, 0 for a string and itself and
 *		at most the longer length; keys are NUL-terminated, of the length
 *		returned, within their buffers, and valid UTF-8; person and account
 *		scores lie in [0, 1], are symmetric, and their reasons fit their
 *		buffers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "similarity.h"

/* Whether s[0..len) is valid UTF-8 (keys must be storable as text). */
static int
valid_utf8(const unsigned char *s, size_t len)
{
	size_t		i = 0;

	while (i < len)
	{
		unsigned char c = s[i];
		size_t		n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;

		if (n == 0 || i + n > len || c == 0)
			return 0;
		for (size_t k = 1; k < n; k++)
			if ((s[i + k] & 0xC0) != 0x80)
				return 0;
		i += n;
	}
	return 1;
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *) data;
	const char *nul = memchr(s, 0, size);
	size_t		alen = nul ? (size_t) (nul - s) : size / 2;
	const char *b = nul ? nul + 1 : s + alen;
	size_t		blen = size - alen - (nul ? 1 : 0);
	char		key[SIM_KEY_BUFSIZE + 1];
	char		norm[SIM_NORM_BUFSIZE + 1];
	double		ab,
				ba,
				aa;
	int			dab,
				dba,
				la,
				lb;
	size_t		n;

	ab = sim_jaro_winkler(s, alen, b, blen);
	ba = sim_jaro_winkler(b, blen, s, alen);
	aa = sim_jaro_winkler(s, alen, s, alen);
	if (!(ab >= 0.0 && ab <= 1.0) || ab != ba || aa != 1.0)
		abort();

	dab = sim_edit_distance(s, alen, b, blen);
	dba = sim_edit_distance(b, blen, s, alen);
	la = sim_length(s, alen);
	lb = sim_length(b, blen);
	if (dab != dba || dab < 0 || dab > (la > lb ? la : lb) || dab < abs(la - lb) ||
		sim_edit_distance(s, alen, s, alen) != 0)
		abort();
	/* equal folded strings: distance 0 exactly when similarity 1 */
	if ((dab == 0) != (ab == 1.0))
		abort();

	ab = sim_name_similarity(s, alen, b, blen);
	if (!(ab >= 0.0 && ab <= 1.0) || ab != sim_name_similarity(b, blen, s, alen) ||
		sim_name_similarity(s, alen, s, alen) != 1.0)
		abort();

	/* guard bytes after the documented buffer sizes must stay untouched */
	key[SIM_KEY_BUFSIZE] = 0x5a;
	n = sim_name_key(s, alen, b, blen, key);
	if (key[SIM_KEY_BUFSIZE] != 0x5a || strlen(key) != n || !valid_utf8((unsigned char *) key, n))
		abort();
	n = sim_company_key(s, alen, key);
	if (key[SIM_KEY_BUFSIZE] != 0x5a || strlen(key) != n || !valid_utf8((unsigned char *) key, n))
		abort();
	/* pair scoring: the two halves as names, emails and phones */
	{
		SimText		ta = {s, alen},
					tb = {b, blen},
					none = {NULL, 0};
		SimPerson	pa = {ta, tb, ta, &tb, 1};
		SimPerson	pb = {tb, ta, tb, &ta, 1};
		SimPerson	pc = {tb, none, none, NULL, 0};
		SimAccount	aa = {ta, tb, ta};
		SimAccount	ab = {tb, ta, none};
		SimMatch	m1,
					m2;
		char		reasons[3][SIM_REASON_BUFSIZE];

		sim_person_match(&pa, &pb, &m1);
		sim_person_match(&pb, &pa, &m2);
		if (!(m1.score >= 0.0 && m1.score <= 1.0) || m1.score != m2.score ||
			sim_match_reasons(&m1, false, reasons) > 3)
			abort();
		sim_person_match(&pa, &pc, &m1);
		sim_person_match(&pc, &pa, &m2);
		if (!(m1.score >= 0.0 && m1.score <= 1.0) || m1.score != m2.score)
			abort();
		/* pc has no email and no phone: a name alone never exceeds 0.8 */
		if (m1.email != 0.0 || m1.phone != 0.0 || m1.score > SIM_NAME_WEIGHT)
			abort();
		sim_account_match(&aa, &ab, &m1);
		sim_account_match(&ab, &aa, &m2);
		if (!(m1.score >= 0.0 && m1.score <= 1.0) || m1.score != m2.score ||
			sim_match_reasons(&m1, true, reasons) > 3)
			abort();
	}

	norm[SIM_NORM_BUFSIZE] = 0x5a;
	n = sim_company_norm(s, alen, norm);
	if (norm[SIM_NORM_BUFSIZE] != 0x5a || strlen(norm) != n || !valid_utf8((unsigned char *) norm, n))
		abort();
	return 0;
}
