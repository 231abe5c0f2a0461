/*
 * test_similarity.c
 *		Unit tests of src/similarity.c (pure C, no server): Jaro-Winkler values
 *		from the literature, edit distances, folding, and the name and company
 *		keys.  Prints one line per failure and "N passed, M failed" last;
 *		exits non-zero on any failure.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "similarity.h"

static int	passed,
			failed;

/* Record one check. */
static void
check(int ok, const char *what)
{
	if (ok)
		passed++;
	else
	{
		failed++;
		printf("FAILED: %s\n", what);
	}
}

/* Jaro-Winkler of two C strings equals expected to 3 decimals. */
static void
jw_is(const char *a, const char *b, double expected)
{
	double		got = sim_jaro_winkler(a, strlen(a), b, strlen(b));
	double		rev = sim_jaro_winkler(b, strlen(b), a, strlen(a));
	char		what[4096];

	snprintf(what, sizeof(what), "jaro_winkler(%s, %s) = %.4f, expected %.3f (reversed %.4f)",
			 a, b, got, expected, rev);
	check(fabs(got - expected) < 0.0005 && got == rev, what);
}

/* Edit distance of two C strings equals expected, both ways. */
static void
ed_is(const char *a, const char *b, int expected)
{
	int			got = sim_edit_distance(a, strlen(a), b, strlen(b));
	int			rev = sim_edit_distance(b, strlen(b), a, strlen(a));
	char		what[4096];

	snprintf(what, sizeof(what), "edit_distance(%s, %s) = %d (reversed %d), expected %d",
			 a, b, got, rev, expected);
	check(got == expected && rev == expected, what);
}

/* Name key of (first, last) equals expected. */
static void
nk_is(const char *first, const char *last, const char *expected)
{
	char		out[SIM_KEY_BUFSIZE];
	size_t		n = sim_name_key(first, strlen(first), last, strlen(last), out);
	char		what[4096];

	snprintf(what, sizeof(what), "name_key(%s, %s) = \"%s\", expected \"%s\"", first, last, out, expected);
	check(n == strlen(expected) && strcmp(out, expected) == 0, what);
}

/* Company normalisation and key of s equal the expected strings. */
static void
company_is(const char *s, const char *norm, const char *key)
{
	char		n[SIM_NORM_BUFSIZE],
				k[SIM_KEY_BUFSIZE];
	size_t		nl = sim_company_norm(s, strlen(s), n);
	size_t		kl = sim_company_key(s, strlen(s), k);
	char		what[4096];

	snprintf(what, sizeof(what), "company(%s): norm \"%s\" key \"%s\", expected \"%s\" \"%s\"",
			 s, n, k, norm, key);
	check(nl == strlen(norm) && strcmp(n, norm) == 0 && kl == strlen(key) && strcmp(k, key) == 0, what);
}

int
main(void)
{
	char		big[2000];
	char		big2[2000];

	/* Jaro-Winkler: the classic examples (Winkler 1990; Cohen et al.) */
	jw_is("MARTHA", "MARHTA", 0.961);
	jw_is("DWAYNE", "DUANE", 0.840);
	jw_is("DIXON", "DICKSONX", 0.813);
	jw_is("JELLYFISH", "SMELLYFISH", 0.896);
	/* identical, empty, disjoint */
	jw_is("", "", 1.0);
	jw_is("abc", "", 0.0);
	jw_is("abc", "xyz", 0.0);
	jw_is("same", "same", 1.0);
	/* case and accents do not matter; code points, not bytes */
	jw_is("MÜLLER", "muller", 1.0);
	jw_is("Łukasz", "lukasz", 1.0);
	jw_is("Straße", "strasse", 1.0);
	jw_is("Ærø", "aero", 1.0);
	jw_is("Москва", "Москва", 1.0);
	/* one Cyrillic letter differs: 5 of 6 code points match */
	jw_is("Москва", "Моск0а", 0.933);
	/* single code points */
	jw_is("a", "a", 1.0);
	jw_is("a", "b", 0.0);
	/* the boost applies only above 0.7 (prefix "ab" common, jaro 0.5) */
	jw_is("abxxxx", "abyyyy", 0.556);

	/* Edit distance (optimal string alignment) */
	ed_is("kitten", "sitting", 3);
	ed_is("", "", 0);
	ed_is("", "abc", 3);
	ed_is("ab", "ba", 1);
	ed_is("ca", "abc", 3);		/* OSA, not unrestricted Damerau (2) */
	ed_is("jon smith", "john smith", 1);
	ed_is("Müller", "MULLER", 0);
	ed_is("Straße", "strase", 1);
	ed_is("Ωμέγα", "Ωμεγα", 1);	/* Greek accents are not folded */
	ed_is("日本語", "日本", 1);		/* one code point, three bytes */

	/* Name similarity: mean of Jaro-Winkler and normalised edit distance */
	check(sim_name_similarity("", 0, "", 0) == 1.0, "name_similarity of empty strings is 1");
	check(sim_name_similarity("Ann Lee", 7, "ann lee", 7) == 1.0, "name_similarity ignores case");
	{
		double		typo = sim_name_similarity("jon smith", 9, "john smith", 10);
		double		other = sim_name_similarity("jane smith", 10, "john smith", 10);
		double		jw_other = sim_jaro_winkler("jane smith", 10, "john smith", 10);
		char		what[200];

		snprintf(what, sizeof(what), "name_similarity: typo %.3f > 0.9, other person %.3f < 0.8 (jw %.3f > 0.85)",
				 typo, other, jw_other);
		check(typo > 0.9 && other < 0.8 && jw_other > 0.85, what);
	}

	/* Length limit: inputs are cut at SIM_MAX_CODEPOINTS code points */
	memset(big, 'a', 1000);
	memset(big2, 'a', 1000);
	big2[900] = 'b';
	check(sim_edit_distance(big, 1000, big2, 1000) == 0, "differences after 255 code points are ignored");
	check(sim_edit_distance(big, 1000, "", 0) == SIM_MAX_CODEPOINTS, "distance is bounded by 255");
	check(sim_jaro_winkler(big, 1000, big2, 1000) == 1.0, "jaro_winkler of long equal prefixes is 1");
	check(sim_length(big, 1000) == SIM_MAX_CODEPOINTS, "length is capped");
	check(sim_length("Straße", strlen("Straße")) == 7, "ß folds to two letters");
	/* invalid UTF-8: every byte stands for itself, distinct bytes stay distinct */
	check(sim_edit_distance("\xff\xfe", 2, "\xff\xfd", 2) == 1, "invalid bytes compare bytewise");
	check(sim_jaro_winkler("\xc3", 1, "\xc3", 1) == 1.0, "a truncated sequence equals itself");
	check(sim_edit_distance("\xc3\xa9", 2, "e", 1) == 0, "valid é folds to e");
	check(sim_edit_distance("\xe0\x80\x80", 3, "\xe0\x80\x81", 3) == 1, "overlong sequences are bytes");
	check(sim_edit_distance("\xed\xa0\x80", 3, "?", 1) == 3, "encoded surrogates are three bytes");

	/* Name keys: the family name's code and the given name's class */
	nk_is("John", "Smith", "S53:J");
	nk_is("Jon", "Smyth", "S53:J");
	nk_is("J.", "Schmidt", "S53:J");
	nk_is("Smith", "John", "J5:S");		/* the swapped key */
	nk_is("", "Smith", "S53:");
	nk_is("John", "", "");
	nk_is("John", "--", "");
	nk_is("Anna", "MEYER", "M6:A");
	nk_is("anna", "Maier", "M6:A");
	nk_is("Catherine", "Zeta-Jones", "S325:K");
	nk_is("Katherine", "Zeta Jones", "S325:K");
	nk_is("Philip", "Knight", "N23:F");
	nk_is("Felipe", "Night", "N23:F");
	nk_is("Éloïse", "Dubœuf", "D11:A");
	nk_is("Zoë", "O'Brien", "A165:S");
	nk_is("Ian", "van der Berg", "F536:A");
	nk_is("Ian", "Vanderberg", "F536:A");
	nk_is("Xavier", "Psmith", "S53:S");
	nk_is("Иван", "Петров", "Петр:И");
	nk_is("太郎", "山田", "山田:太");
	nk_is("Ann", "Lee", "L:A");
	nk_is("Ann", "Leeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "L:A");

	/* Company normalisation and keys */
	company_is("Acme Inc.", "acme", "A25");
	company_is("ACME, Incorporated", "acme", "A25");
	company_is("The Acme Corp", "acme", "A25");
	company_is("Acme Widgets Ltd", "acme widgets", "A25323");
	company_is("Johnson & Johnson", "johnson johnson", "J52525");
	company_is("Johnson and Johnson", "johnson johnson", "J52525");
	company_is("McDonald's", "mcdonalds", "M23543");
	company_is("Société Générale S.A.", "societe generale", "S23256");
	company_is("3M Company", "3m", "35");
	company_is("The Company", "the company", "T2515");
	company_is("...", "", "");
	company_is("A.B.C. Trading", "abc trading", "A12363");
	company_is("I B M", "ibm", "A15");
	company_is("Müller GmbH & Co. KG", "muller", "M46");

	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
