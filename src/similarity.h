/*
 * similarity.h
 *		String similarity and name keys for duplicate detection: pure C, no
 *		PostgreSQL headers (unit-tested and fuzzed outside the server).
 *
 * All functions take UTF-8 byte strings with explicit lengths (no NUL
 * needed) and work on Unicode code points, not bytes, after this folding:
 *	- ASCII letters are lower-cased;
 *	- the Latin letters of Latin-1 Supplement and Latin Extended-A
 *	  (U+00C0..U+017F) lose their accents (é -> e, Ł -> l); ß, æ, œ, þ, ĳ
 *	  become two letters (ss, ae, oe, th, ij);
 *	- every other code point is left as it is (Greek, Cyrillic, CJK ...);
 *	- a byte that does not start a valid UTF-8 sequence becomes one code
 *	  point of its own (U+DC00 + byte, never a valid character), so
 *	  arbitrary bytes are accepted and distinct bytes stay distinct.
 * Inputs are compared on their first SIM_MAX_CODEPOINTS folded code points;
 * anything beyond is ignored, so every call costs at most
 * O(SIM_MAX_CODEPOINTS^2) time and O(SIM_MAX_CODEPOINTS) memory, on the
 * stack (no allocation at all).
 */
#ifndef CRM_SIMILARITY_H
#define CRM_SIMILARITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest input considered, in folded code points. */
#define SIM_MAX_CODEPOINTS 255

/* Big enough for any name key or company key, including the NUL. */
#define SIM_KEY_BUFSIZE 64

/* Big enough for any sim_company_norm() result, including the NUL. */
#define SIM_NORM_BUFSIZE (SIM_MAX_CODEPOINTS * 4 + 1)

/*
 * Decode and fold s into at most max code points; returns how many were
 * written.
 */
extern int	sim_fold(const char *s, size_t len, uint32_t *out, int max);

/*
 * Fold the whole of s (any length) the same way, writing UTF-8 to out,
 * which must have room for len bytes: folding never makes a text longer.
 * Code points that do not fold, and bytes that are not valid UTF-8, are
 * copied as they are.  Returns the number of bytes written (no NUL).
 */
extern size_t sim_fold_text(const char *s, size_t len, char *out);

/*
 * Jaro-Winkler similarity in [0, 1] (prefix scale 0.1, at most 4 prefix
 * code points).  1 for equal folded strings (two empty strings included),
 * 0 when exactly one is empty.  Symmetric.
 */
extern double sim_jaro_winkler(const char *a, size_t alen, const char *b, size_t blen);

/*
 * Optimal string alignment distance (Levenshtein plus transposition of two
 * adjacent code points, each substring edited once) between the folded
 * strings; between 0 and SIM_MAX_CODEPOINTS.
 */
extern int	sim_edit_distance(const char *a, size_t alen, const char *b, size_t blen);

/*
 * Name similarity in [0, 1]: 0.25 * Jaro-Winkler + 0.75 * (1 - edit distance
 * / longer length).  Jaro-Winkler alone rates strings with a common prefix
 * generously ("john smith" / "jane smith" 0.88, "james dunnsen" / "james
 * dunnini" 0.93); the edit term makes one typo count for much less than
 * three.  The weights were chosen on the generated data set of the dedup
 * regression test (doc/data_quality.md).  1 for equal folded strings,
 * symmetric.
 */
extern double sim_name_similarity(const char *a, size_t alen, const char *b, size_t blen);

/*
 * Number of folded code points sim_jaro_winkler and sim_edit_distance see
 * (at most SIM_MAX_CODEPOINTS).
 */
extern int	sim_length(const char *s, size_t len);

/*
 * Blocking key of a person's name: the phonetic code of the family name
 * (class of the first letter and up to three digits), ':', and the first two
 * symbols of the given name's code (class of the first letter and the first
 * digit); e.g. ("John", "Smith") -> "S53:J5", ("Jane", "Smyth") -> "S53:J5",
 * ("James", "Smith") -> "S53:J5", ("Robert", "Smith") -> "S53:R1".  Writes a
 * NUL-terminated key into out (at least SIM_KEY_BUFSIZE bytes) and returns
 * its length, or 0 (empty key) when the family name has no letter.  Swapping
 * the arguments gives the second key: ("Smith", "John") -> "J5:S5".
 */
extern size_t sim_name_key(const char *first, size_t flen, const char *last, size_t llen, char *out);

/*
 * A company name without case, accents, punctuation and legal-form words
 * ("The ACME Corp., Inc." -> "acme"): the tokens that remain, joined by one
 * space.  When only such words remain, all tokens are kept.  Writes into out
 * (at least SIM_NORM_BUFSIZE bytes) and returns the length.
 */
extern size_t sim_company_norm(const char *s, size_t len, char *out);

/*
 * Blocking key of a company name: phonetic code of the normalised name with
 * its spaces removed ("Acme Widgets Ltd" -> "A25322").  Returns 0 when the
 * name has no letter or digit.
 */
extern size_t sim_company_key(const char *s, size_t len, char *out);

/*
 * Pair scoring (crm.person_match, crm.account_match).  A string that is
 * absent (SQL NULL) has s == NULL.
 */
typedef struct SimText
{
	const char *s;
	size_t		len;
} SimText;

/* A person: names, email key, phone keys (any number). */
typedef struct SimPerson
{
	SimText		first;
	SimText		last;
	SimText		email;
	const SimText *phones;
	int			nphones;
} SimPerson;

/* An account: name (as typed), domain, phone key. */
typedef struct SimAccount
{
	SimText		name;
	SimText		domain;
	SimText		phone;
} SimAccount;

/*
 * Weight of the name evidence.  A name alone, however similar, is not proof
 * of identity (namesakes share it): a pair with neither email nor phone
 * evidence scores at most SIM_NAME_WEIGHT, so a duplicate rule can block
 * only above it (crm.duplicate_rule refuses a block threshold <= 0.8).
 */
#define SIM_NAME_WEIGHT 0.80

/*
 * The evidence and the score of a pair: score = 1 - (1 - e*c)(1 - p*c)(1 -
 * w*n*x) with w = SIM_NAME_WEIGHT (doc/data_quality.md, "Score").
 */
typedef struct SimMatch
{
	double		score;			/* in [0, 1] */
	double		email;			/* e: 0.95 same email, 0.75 one edit apart;
								 * accounts 0.90 same domain; else 0 */
	double		phone;			/* p: 0.90 a phone in common (accounts 0.80) */
	double		name;			/* n: name similarity if >= 0.75, else 0 (the
								 * score counts SIM_NAME_WEIGHT * n) */
	bool		swapped;		/* persons: the name matched in swapped order */
} SimMatch;

/*
 * Persons: e 0.95 equal email keys, 0.75 keys one edit apart (both at least
 * 6 characters); p 0.90 a phone key in common; n the name similarity of the
 * full names (given and family name trimmed, joined by a space), the best of
 * straight and first/last swapped order, counted when >= 0.75 (with the
 * weight SIM_NAME_WEIGHT, so a name alone scores at most 0.8); x 0.80 if both
 * have emails and e = 0, times 0.80 if both have phones and p = 0; c 0.85 if
 * the name similarity is below 0.6.  Symmetric.
 */
extern void sim_person_match(const SimPerson *a, const SimPerson *b, SimMatch *m);

/*
 * Accounts: d (stored in email) 0.90 equal domains; p 0.80 equal phone
 * keys; n the name similarity of the normalised names (sim_company_norm), if
 * >= 0.75; x and c as for persons (differing domains / phones).
 */
extern void sim_account_match(const SimAccount *a, const SimAccount *b, SimMatch *m);

/* Big enough for any reason string, including the NUL. */
#define SIM_REASON_BUFSIZE 64

/*
 * The reasons of a match, in this order: "same email" / "similar email"
 * (accounts: "same domain"), "same phone", "similar name (0.93)" (persons
 * matched in swapped order: "similar name (0.93, first and last swapped)").
 * Returns how many (0 to 3) were written to out.
 */
extern int	sim_match_reasons(const SimMatch *m, bool account, char out[3][SIM_REASON_BUFSIZE]);

#endif							/* CRM_SIMILARITY_H */
