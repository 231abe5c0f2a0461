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

/* A SimText of a C string, or absent for NULL. */
static SimText
st(const char *s)
{
	SimText		t = {s, s ? strlen(s) : 0};

	return t;
}

/*
 * Score and reasons of two persons (phones: up to two, NULL for none) equal
 * the expected score to 3 decimals and the reasons joined by "; "; the score
 * is the same both ways.
 */
static void
person_is(const char *af, const char *al, const char *ae, const char *ap,
		  const char *bf, const char *bl, const char *be, const char *bp,
		  double expected, const char *reasons)
{
	SimText		pa[1] = {st(ap)},
				pb[1] = {st(bp)};
	SimPerson	a = {st(af), st(al), st(ae), pa, ap ? 1 : 0};
	SimPerson	b = {st(bf), st(bl), st(be), pb, bp ? 1 : 0};
	SimMatch	m,
				r;
	char		out[3][SIM_REASON_BUFSIZE];
	char		joined[256] = "";
	char		what[1024];
	int			k;

	sim_person_match(&a, &b, &m);
	sim_person_match(&b, &a, &r);
	k = sim_match_reasons(&m, false, out);
	for (int i = 0; i < k; i++)
	{
		if (i > 0)
			strcat(joined, "; ");
		strcat(joined, out[i]);
	}
	snprintf(what, sizeof(what), "person_match(%s %s, %s %s) = %.4f [%s] (reversed %.4f), expected %.3f [%s]",
			 af ? af : "-", al ? al : "-", bf ? bf : "-", bl ? bl : "-", m.score, joined, r.score, expected, reasons);
	check(fabs(m.score - expected) < 0.0005 && m.score == r.score && strcmp(joined, reasons) == 0, what);
}

/* Score and reasons of two accounts, as person_is. */
static void
account_is(const char *an, const char *ad, const char *ap, const char *bn, const char *bd, const char *bp,
		   double expected, const char *reasons)
{
	SimAccount	a = {st(an), st(ad), st(ap)};
	SimAccount	b = {st(bn), st(bd), st(bp)};
	SimMatch	m,
				r;
	char		out[3][SIM_REASON_BUFSIZE];
	char		joined[256] = "";
	char		what[1024];
	int			k;

	sim_account_match(&a, &b, &m);
	sim_account_match(&b, &a, &r);
	k = sim_match_reasons(&m, true, out);
	for (int i = 0; i < k; i++)
	{
		if (i > 0)
			strcat(joined, "; ");
		strcat(joined, out[i]);
	}
	snprintf(what, sizeof(what), "account_match(%s, %s) = %.4f [%s] (reversed %.4f), expected %.3f [%s]",
			 an, bn, m.score, joined, r.score, expected, reasons);
	check(fabs(m.score - expected) < 0.0005 && m.score == r.score && strcmp(joined, reasons) == 0, what);
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

	/*
	 * Name keys: the family name's code and the first two symbols of the
	 * given name's code
	 */
	nk_is("John", "Smith", "S53:J5");
	nk_is("Jon", "Smyth", "S53:J5");
	nk_is("Jane", "Schmidt", "S53:J5");
	nk_is("J.", "Schmidt", "S53:J");	/* an initial alone: its own block */
	nk_is("Robert", "Smith", "S53:R1");
	nk_is("Smith", "John", "J5:S5");	/* the swapped key */
	nk_is("", "Smith", "S53:");
	nk_is("John", "", "");
	nk_is("John", "--", "");
	nk_is("Anna", "MEYER", "M6:A5");
	nk_is("anna", "Maier", "M6:A5");
	nk_is("Catherine", "Zeta-Jones", "S325:K3");
	nk_is("Katherine", "Zeta Jones", "S325:K3");
	nk_is("Philip", "Knight", "N23:F4");
	nk_is("Felipe", "Night", "N23:F4");
	nk_is("Éloïse", "Dubœuf", "D11:A4");
	nk_is("Zoë", "O'Brien", "A165:S");
	nk_is("Ian", "van der Berg", "F536:A5");
	nk_is("Ian", "Vanderberg", "F536:A5");
	nk_is("Xavier", "Psmith", "S53:S1");
	nk_is("Иван", "Петров", "Петр:Ив");
	nk_is("太郎", "山田", "山田:太郎");
	nk_is("Ann", "Lee", "L:A5");
	nk_is("Ann", "Leeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "L:A5");
	/* a typo after the given name's first consonant keeps the key */
	nk_is("Jonh", "Smith", "S53:J5");
	nk_is("Micheal", "Brown", "B65:M2");
	nk_is("Michael", "Brown", "B65:M2");

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

	/*
	 * Pair scoring (the regression test shows the same values).  The name
	 * counts with the weight 0.8: a name alone never scores above 0.8.
	 */
	/* same email key, same name: 1 - 0.05 * (1 - 0.8) */
	person_is("John", "Smith", "john.smith@acme.test", "14155550100",
			  "JOHN", "SMITH", "john.smith@acme.test", NULL, 0.99, "same email; similar name (1.00)");
	/* swapped names alone: 0.8 */
	person_is("John", "Smith", NULL, NULL, "Smith", "John", NULL, NULL, 0.8,
			  "similar name (1.00, first and last swapped)");
	/*
	 * namesakes that share no email or phone and have nothing to contradict
	 * (one has only an email, the other only a phone): 0.8, below any block
	 * threshold (before the weight: 1.0)
	 */
	person_is("John", "Smith", "john.smith@acme.test", NULL,
			  "John", "Smith", NULL, "14155550100", 0.8, "similar name (1.00)");
	/* a namesake with another email and phone: 0.8 * 0.8 * 0.8 */
	person_is("John", "Smith", "john.smith@acme.test", "14155550100",
			  "John", "Smith", "jsmith@other.test", "442079460000", 0.512, "similar name (1.00)");
	/* only the other email differs: 0.8 * 0.8 */
	person_is("John", "Smith", "john.smith@acme.test", NULL,
			  "John", "Smith", "jsmith@other.test", NULL, 0.64, "similar name (1.00)");
	/* the same name and an email one edit apart: 1 - 0.25 * 0.2 */
	person_is("Ann", "Lee", "ann.lee@x.test", NULL, "Ann", "Lee", "ann.le@x.test", NULL, 0.95,
			  "similar email; similar name (1.00)");
	/* same phone, unrelated names (< 0.6): 0.9 * 0.85 */
	person_is("John", "Smith", NULL, "14155550100", "Wei", "Zhang", NULL, "14155550100", 0.765, "same phone");
	/* emails one edit apart, no name similarity */
	person_is("Ann", "Lee", "ann.lee@x.test", NULL, "Bob", "Ray", "ann.le@x.test", NULL, 0.6375, "similar email");
	/* a short email one edit apart is not similar */
	person_is("Ann", "Lee", "a@x.t", NULL, "Bob", "Ray", "a@y.t", NULL, 0.0, "");
	/* typo in the family name */
	person_is("Jon", "Smyth", NULL, "14155550100", "John", "Smith", "john.smith@acme.test", "14155550100",
			  0.9667, "same phone; similar name (0.83)");
	/* absent names: two empty full names are equal */
	person_is(NULL, NULL, NULL, NULL, NULL, "", NULL, NULL, 0.8, "similar name (1.00)");
	/* whitespace is trimmed as btrim() does */
	person_is("  John ", " Smith", NULL, NULL, "John", "Smith  ", NULL, NULL, 0.8, "similar name (1.00)");
	/* accounts: same domain and similar normalised name */
	/* (the names are dissimilar: c = 0.85) */
	account_is("Acme Inc.", "acme.test", "14155550000", "Acme Holding", "acme.test", NULL, 0.765, "same domain");
	account_is("Acme Inc.", "acme.test", "14155550000", "ACME Incorporated", NULL, NULL, 0.8, "similar name (1.00)");
	account_is("Acme Inc.", "acme.test", "14155550000", "Globex", NULL, "14155550000", 0.68, "same phone");
	account_is("Acme Inc.", "acme.test", NULL, "Acme Inc", "acme2.test", NULL, 0.64, "similar name (1.00)");
	/* the same name and the same phone: 1 - 0.2 * 0.2 */
	account_is("Acme Inc.", NULL, "14155550000", "ACME Inc", NULL, "14155550000", 0.96, "same phone; similar name (1.00)");
	/* long names: every input is cut at SIM_MAX_CODEPOINTS code points */
	big[1000] = big2[1000] = '\0';
	person_is(big, big, NULL, NULL, big2, big, NULL, NULL, 0.8, "similar name (1.00)");

	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
