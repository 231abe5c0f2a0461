/*-------------------------------------------------------------------------
 *
 * test_parsers.c
 *	  Standalone table-driven unit tests for the crm email and phone
 *	  parsers (src/email_parse.c, src/phone_parse.c, src/phone_data.c).
 *
 * Build and run with test/unit/Makefile ("make check", "make check-asan").
 * Prints every failure, then "N passed, M failed" as its last line, and
 * exits non-zero if anything failed.
 *
 *-------------------------------------------------------------------------
 */
#include "email_parse.h"
#include "phone_data.h"
#include "phone_parse.h"
#include "phone_lpn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int	n_passed = 0;
static int	n_failed = 0;

#if defined(__GNUC__)
static void check(int ok, const char *fmt,...) __attribute__((format(printf, 2, 3)));
#endif

/* Record one check; print a message on failure. */
static void
check(int ok, const char *fmt,...)
{
	va_list		ap;

	if (ok)
	{
		n_passed++;
		return;
	}
	n_failed++;
	printf("FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* Printable copy of s[0..len) for failure messages (static buffer). */
static const char *
show(const char *s, size_t len)
{
	static char buf[1100];
	size_t		o = 0;
	size_t		i;

	for (i = 0; i < len && o + 5 < sizeof(buf); i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c >= 0x20 && c < 0x7f)
			buf[o++] = (char) c;
		else
			o += (size_t) snprintf(buf + o, sizeof(buf) - o, "\\x%02x", c);
	}
	buf[o] = '\0';
	return buf;
}

/* ------------------------------------------------------------------ */
/* email																*/
/* ------------------------------------------------------------------ */

typedef struct email_ok_case
{
	const char *in;
	const char *norm;			/* expected email_normalize() output */
} email_ok_case;

static const email_ok_case email_ok_cases[] = {
	{"user@example.com", "user@example.com"},
	{"USER@EXAMPLE.COM", "USER@example.com"},
	{"User.Name@Example.Com", "User.Name@example.com"},
	{"first.last@example.co.uk", "first.last@example.co.uk"},
	{"first+tag@example.com", "first+tag@example.com"},
	{"first+tag+more@gmail.com", "first+tag+more@gmail.com"},
	{"a@b.co", "a@b.co"},
	{"x@a-b.com", "x@a-b.com"},
	{"o'brien@example.ie", "o'brien@example.ie"},
	{"user_name@example.org", "user_name@example.org"},
	{"user-name@sub.example.com", "user-name@sub.example.com"},
	{"1234567890@example.com", "1234567890@example.com"},
	{"!#$%&'*+/=?^_`{|}~-@example.com", "!#$%&'*+/=?^_`{|}~-@example.com"},
	{"a.b.c.d@e.f.g", "a.b.c.d@e.f.g"},
	{"user@xn--bcher-kva.example", "user@xn--bcher-kva.example"},
	{"user@XN--BCHER-KVA.EXAMPLE", "user@xn--bcher-kva.example"},
	{"user@xn--fiqs8s.xn--fiqz9s", "user@xn--fiqs8s.xn--fiqz9s"},
	{"user@123.example", "user@123.example"},
	{"user@example.c0m", "user@example.c0m"},
	{"user@a.b123", "user@a.b123"},
	{"user@a.123b", "user@a.123b"},
	{"  padded@example.com  ", "padded@example.com"},
	{"\tuser@example.com\r\n", "user@example.com"},
	{"\v\fuser@example.com\f", "user@example.com"},
	/* invisible characters that copy and paste brings along are trimmed */
	{"\xc2\xa0user@example.com\xc2\xa0", "user@example.com"},
	{"\xef\xbb\xbfuser@example.com", "user@example.com"},
	{"user@example.com\xe2\x80\x8b", "user@example.com"},
	{"\xe2\x80\x8c\xe2\x80\x8duser@example.com\xe2\x81\xa0", "user@example.com"},
	{" \xe2\x80\xaf\tuser@example.com \xc2\xa0\xef\xbb\xbf ", "user@example.com"},
	{"u@e.io", "u@e.io"},
	{"user@EXAMPLE.Com", "user@example.com"},
	{"user@localhost.localdomain", "user@localhost.localdomain"},
	{"user@sub-domain.example-site.com", "user@sub-domain.example-site.com"},
	{"user@1example.com", "user@1example.com"},
	{"user@example.museum", "user@example.museum"},
	{"x@x.xn--p1ai", "x@x.xn--p1ai"},
	{"test/test@example.com", "test/test@example.com"},
	{"te{st}@example.com", "te{st}@example.com"},
	{"user@mail.example.co.jp", "user@mail.example.co.jp"},
	{"user%host@example.com", "user%host@example.com"},
	{"user=x@example.com", "user=x@example.com"},
	{"~@example.com", "~@example.com"},
	{"_@example.com", "_@example.com"},
	{"-@example.com", "-@example.com"},
	{"a-@example.com", "a-@example.com"},
	{"#!$%&'*+-/=?^_`{}|~@example.org", "#!$%&'*+-/=?^_`{}|~@example.org"},
	{"user@a1.b2.c3.d4.e5.f6.g7", "user@a1.b2.c3.d4.e5.f6.g7"},
	{"user@a--b.com", "user@a--b.com"},
	{"user@0.com", "user@0.com"},
	{"user@9-9.com", "user@9-9.com"},
	{"Z@Z.ZZ", "Z@z.zz"},
	{"john.doe@EXAMPLE.ORG ", "john.doe@example.org"},
	{"mixed.Case.Local@Mixed.Case.Domain", "mixed.Case.Local@mixed.case.domain"},
	{"info@dept.university.ac.uk", "info@dept.university.ac.uk"},
	{"noreply@notifications.github.com", "noreply@notifications.github.com"},
	{"support@xn--80ak6aa92e.com", "support@xn--80ak6aa92e.com"},
	{"a.b@c-d.e-f", "a.b@c-d.e-f"},
};

typedef struct email_bad_case
{
	const char *in;
	email_status st;
} email_bad_case;

static const email_bad_case email_bad_cases[] = {
	{"", EMAIL_EMPTY},
	{"   ", EMAIL_EMPTY},
	{"\t\r\n", EMAIL_EMPTY},
	{"plainaddress", EMAIL_NO_AT},
	{"example.com", EMAIL_NO_AT},
	{"user#example.com", EMAIL_NO_AT},
	{"@example.com", EMAIL_LOCAL_EMPTY},
	{"@", EMAIL_LOCAL_EMPTY},
	{"user@", EMAIL_DOMAIN_EMPTY},
	{"user@@example.com", EMAIL_MULTIPLE_AT},
	{"a@b@c.com", EMAIL_MULTIPLE_AT},
	{"@@", EMAIL_MULTIPLE_AT},
	{"\"a@b\"@c.com", EMAIL_LOCAL_QUOTED},
	{".user@example.com", EMAIL_LOCAL_DOT},
	{"user.@example.com", EMAIL_LOCAL_DOT},
	{"us..er@example.com", EMAIL_LOCAL_DOT},
	{".@example.com", EMAIL_LOCAL_DOT},
	{"a...b@example.com", EMAIL_LOCAL_DOT},
	{"us er@example.com", EMAIL_WHITESPACE},
	{"user@exa mple.com", EMAIL_WHITESPACE},
	{"user @example.com", EMAIL_WHITESPACE},
	{"user@ example.com", EMAIL_WHITESPACE},
	{"User <user@example.com>", EMAIL_WHITESPACE},
	{"a\tb@example.com", EMAIL_WHITESPACE},
	{"a@b.com\nc@d.com", EMAIL_WHITESPACE},
	{"\"john doe\"@example.com", EMAIL_LOCAL_QUOTED},
	{" \"john\"@example.com", EMAIL_LOCAL_QUOTED},
	{"user@example", EMAIL_DOMAIN_ONE_LABEL},
	{"user@localhost", EMAIL_DOMAIN_ONE_LABEL},
	{"a@b", EMAIL_DOMAIN_ONE_LABEL},
	{"user@.example.com", EMAIL_LABEL_EMPTY},
	{"user@example.com.", EMAIL_LABEL_EMPTY},
	{"user@example..com", EMAIL_LABEL_EMPTY},
	{"user@.", EMAIL_LABEL_EMPTY},
	{"user@a..b", EMAIL_LABEL_EMPTY},
	{"user@-example.com", EMAIL_LABEL_HYPHEN},
	{"user@example-.com", EMAIL_LABEL_HYPHEN},
	{"user@example.-com", EMAIL_LABEL_HYPHEN},
	{"user@example.com-", EMAIL_LABEL_HYPHEN},
	{"user@-.com", EMAIL_LABEL_HYPHEN},
	{"user@xn--", EMAIL_LABEL_HYPHEN},
	{"user@exa_mple.com", EMAIL_LABEL_BAD_CHAR},
	{"user@example.com:25", EMAIL_LABEL_BAD_CHAR},
	{"user@example.com,", EMAIL_LABEL_BAD_CHAR},
	{"user@exam<ple.com", EMAIL_LABEL_BAD_CHAR},
	{"user@example.com>", EMAIL_LABEL_BAD_CHAR},
	{"user@exa!mple.com", EMAIL_LABEL_BAD_CHAR},
	{"user@example.co/m", EMAIL_LABEL_BAD_CHAR},
	{"user@ex*ample.com", EMAIL_LABEL_BAD_CHAR},
	{"user@[192.168.0.1]", EMAIL_DOMAIN_LITERAL},
	{"user@[IPv6:2001:db8::1]", EMAIL_DOMAIN_LITERAL},
	{"\"john\"@example.com", EMAIL_LOCAL_QUOTED},
	{"\"\"@example.com", EMAIL_LOCAL_QUOTED},
	{"user@1.2.3.4", EMAIL_TLD_NUMERIC},
	{"user@example.123", EMAIL_TLD_NUMERIC},
	{"user@a.0", EMAIL_TLD_NUMERIC},
	{"jos\xc3\xa9@example.com", EMAIL_NON_ASCII},
	{"user@ex\xc3\xa4mple.com", EMAIL_NON_ASCII},
	{"user@\xe4\xbe\x8b\xe3\x81\x88.jp", EMAIL_NON_ASCII},
	{"user\xc2\xa0@example.com", EMAIL_NON_ASCII},	/* inside: refused */
	{"user@exa\xe2\x80\x8bmple.com", EMAIL_NON_ASCII},
	{"\xc2user@example.com", EMAIL_NON_ASCII},	/* a lone lead byte is no blank */
	{"user@example.com\xa0", EMAIL_NON_ASCII},
	{"user@example.com\xe2\x80", EMAIL_NON_ASCII},
	{"us(er)@example.com", EMAIL_LOCAL_BAD_CHAR},
	{"us,er@example.com", EMAIL_LOCAL_BAD_CHAR},
	{"us\\er@example.com", EMAIL_LOCAL_BAD_CHAR},
	{"us;er@example.com", EMAIL_LOCAL_BAD_CHAR},
	{"us<er>@example.com", EMAIL_LOCAL_BAD_CHAR},
	{"us[er]@example.com", EMAIL_LOCAL_BAD_CHAR},
	{"us:er@example.com", EMAIL_LOCAL_BAD_CHAR},
	{"mailto:user@example.com", EMAIL_LOCAL_BAD_CHAR},
	{"us\"er@example.com", EMAIL_LOCAL_BAD_CHAR},
	{"us\x01er@example.com", EMAIL_LOCAL_BAD_CHAR},
	{"us\x7f" "er@example.com", EMAIL_LOCAL_BAD_CHAR},
	{"a.(b)@example.com", EMAIL_LOCAL_BAD_CHAR},
	{"user@ex\x01" "ample.com", EMAIL_LABEL_BAD_CHAR},
};

/* Build a string of n copies of c followed by tail into buf. */
static const char *
build(char *buf, size_t bufsz, const char *head, size_t n, char c,
	  const char *tail)
{
	size_t		o = 0;
	size_t		i;

	for (i = 0; head[i] && o + 1 < bufsz; i++)
		buf[o++] = head[i];
	for (i = 0; i < n && o + 1 < bufsz; i++)
		buf[o++] = c;
	for (i = 0; tail[i] && o + 1 < bufsz; i++)
		buf[o++] = tail[i];
	buf[o] = '\0';
	return buf;
}

/* Check one valid email: parse, normalise, re-parse, compare, hash. */
static void
check_email_ok(const char *in, size_t len, const char *norm)
{
	char		out[EMAIL_NORMALIZE_BUFSZ];
	char		out2[EMAIL_NORMALIZE_BUFSZ];
	size_t		olen = 0;
	size_t		olen2 = 0;
	size_t		start = 99;
	size_t		end = 99;
	size_t		at = 99;
	email_status st;

	st = email_parse(in, len, &start, &end, &at);
	check(st == EMAIL_OK, "email \"%s\": expected ok, got %s", show(in, len),
		  email_status_name(st));
	if (st != EMAIL_OK)
		return;
	check(start <= at && at < end && end <= len && in[at] == '@',
		  "email \"%s\": bad span %zu..%zu @%zu", show(in, len), start, end, at);
	st = email_normalize(in, len, out, sizeof(out), &olen);
	check(st == EMAIL_OK && olen == end - start && olen <= EMAIL_MAX_LEN &&
		  strlen(out) == olen,
		  "email \"%s\": normalize failed", show(in, len));
	if (norm)
		check(strcmp(out, norm) == 0, "email \"%s\": normalized to \"%s\", expected \"%s\"",
			  show(in, len), out, norm);
	/* round trip: the canonical form is accepted and is a fixed point */
	st = email_normalize(out, olen, out2, sizeof(out2), &olen2);
	check(st == EMAIL_OK && olen2 == olen && memcmp(out, out2, olen) == 0,
		  "email \"%s\": normalized form does not round-trip", show(in, len));
	/* the canonical form equals the trimmed input under folding */
	check(email_cmp(out, olen, in + start, end - start) == 0,
		  "email \"%s\": cmp(normalized, input) != 0", show(in, len));
	check(email_hash_folded(out, olen, 0) == email_hash_folded(in + start, end - start, 0),
		  "email \"%s\": hash(normalized) != hash(input)", show(in, len));
}

/* Check one invalid email: expected status, and describe() is sane. */
static void
check_email_bad(const char *in, size_t len, email_status want)
{
	email_parts parts;
	char		msg[EMAIL_DESCRIBE_BUFSZ];
	char		out[EMAIL_NORMALIZE_BUFSZ];
	size_t		olen = 77;
	size_t		mlen;
	email_status st = email_parse_ex(in, len, &parts);

	check(st == want, "email \"%s\": expected %s, got %s", show(in, len),
		  email_status_name(want), email_status_name(st));
	mlen = email_describe(in, len, st, &parts, msg, sizeof(msg));
	check(mlen > 0 && mlen == strlen(msg) && mlen < sizeof(msg),
		  "email \"%s\": describe gave bad length", show(in, len));
	check(email_normalize(in, len, out, sizeof(out), &olen) == st && olen == 0,
		  "email \"%s\": normalize disagrees with parse", show(in, len));
}

/* Email tests. */
static void
test_email(void)
{
	char		buf[1024];
	char		buf2[1024];
	size_t		i;
	int			ncase = 0;

	for (i = 0; i < sizeof(email_ok_cases) / sizeof(email_ok_cases[0]); i++)
	{
		check_email_ok(email_ok_cases[i].in, strlen(email_ok_cases[i].in),
					   email_ok_cases[i].norm);
		ncase++;
	}
	for (i = 0; i < sizeof(email_bad_cases) / sizeof(email_bad_cases[0]); i++)
	{
		check_email_bad(email_bad_cases[i].in, strlen(email_bad_cases[i].in),
						email_bad_cases[i].st);
		ncase++;
	}

	/* length limits, built programmatically */
	build(buf, sizeof(buf), "", 64, 'a', "@example.com");
	check_email_ok(buf, strlen(buf), NULL);
	build(buf, sizeof(buf), "", 65, 'a', "@example.com");
	check_email_bad(buf, strlen(buf), EMAIL_LOCAL_TOO_LONG);
	build(buf, sizeof(buf), "", 300, 'a', "@example.com");
	check_email_bad(buf, strlen(buf), EMAIL_LOCAL_TOO_LONG);
	build(buf, sizeof(buf), "user@", 63, 'b', ".com");
	check_email_ok(buf, strlen(buf), NULL);
	build(buf, sizeof(buf), "user@", 64, 'b', ".com");
	check_email_bad(buf, strlen(buf), EMAIL_LABEL_TOO_LONG);
	build(buf, sizeof(buf), "user@example.", 64, 'c', "");
	check_email_bad(buf, strlen(buf), EMAIL_LABEL_TOO_LONG);
	ncase += 6;

	/* whole length: 64 + 1 + 189 = 254 ok, 255 too long */
	{
		char		dom[200];

		/* three labels of 61 "x", dots, ".com": 61 * 3 + 2 + 4 = 189 */
		build(dom, sizeof(dom), "", 61, 'x', ".");
		build(dom + 62, sizeof(dom) - 62, "", 61, 'x', ".");
		build(dom + 124, sizeof(dom) - 124, "", 61, 'x', ".com");
		check(strlen(dom) == 189, "email domain setup (%zu)", strlen(dom));
		build(buf, sizeof(buf), "", 64, 'a', "@");
		strcat(buf, dom);
		check(strlen(buf) == 254, "email length setup (%zu)", strlen(buf));
		check_email_ok(buf, strlen(buf), NULL);
		build(buf, sizeof(buf), "", 64, 'a', "@y");
		strcat(buf, dom);
		check(strlen(buf) == 255, "email length setup 2 (%zu)", strlen(buf));
		check_email_bad(buf, strlen(buf), EMAIL_TOO_LONG);

		/* a domain of exactly 255 octets: 4 labels of 63 and 3 dots */
		build(buf2, sizeof(buf2), "", 63, 'd', ".");
		build(buf2 + 64, sizeof(buf2) - 64, "", 63, 'd', ".");
		build(buf2 + 128, sizeof(buf2) - 128, "", 63, 'd', ".");
		build(buf2 + 192, sizeof(buf2) - 192, "", 63, 'd', "");
		check(strlen(buf2) == 255, "email domain setup 2 (%zu)", strlen(buf2));
		/* domain itself acceptable, the whole address too long */
		build(buf, sizeof(buf), "a@", 0, 'x', buf2);
		check_email_bad(buf, strlen(buf), EMAIL_TOO_LONG);
		/* one more octet: the domain is too long */
		build(buf, sizeof(buf), "a@x", 0, 'x', buf2);
		check_email_bad(buf, strlen(buf), EMAIL_DOMAIN_TOO_LONG);
		ncase += 4;
	}

	/* inputs are not NUL-terminated: only len bytes may be looked at */
	{
		const char *s = "user@example.comZZZ";

		check_email_ok(s, 16, "user@example.com");
		check_email_ok(s, 19, "user@example.comzzz");
		check_email_bad(s, 12, EMAIL_DOMAIN_ONE_LABEL);		/* "user@example" */
		check_email_bad(s, 5, EMAIL_DOMAIN_EMPTY);	/* "user@" */
		ncase += 4;
	}
	/* embedded NUL is a character like any other */
	check_email_bad("user@example.com\0", 17, EMAIL_LABEL_BAD_CHAR);
	check_email_bad("us\0er@example.com", 17, EMAIL_LOCAL_BAD_CHAR);
	check_email_bad(NULL, 0, EMAIL_EMPTY);
	ncase += 3;

	/* outputs are optional */
	{
		size_t		a = 1;
		size_t		b = 2;
		size_t		c = 3;

		check(email_parse("x@y.z", 5, NULL, NULL, NULL) == EMAIL_OK, "email NULL outputs");
		check(email_parse("x@y.z", 5, &a, &b, &c) == EMAIL_OK && a == 0 && b == 5 && c == 1,
			  "email span x@y.z");
		check(email_parse("  x@y.z ", 8, &a, &b, &c) == EMAIL_OK && a == 2 && b == 7 && c == 3,
			  "email span padded");
		check(email_parse_ex("x@y.z", 5, NULL) == EMAIL_OK, "email_parse_ex NULL parts");
		ncase += 4;
	}

	/* normalize into a too-small buffer */
	{
		char		small[8];
		size_t		olen = 5;

		check(email_normalize("user@example.com", 16, small, sizeof(small), &olen) == EMAIL_TOO_LONG
			  && olen == 0, "email normalize small buffer");
		check(email_normalize("a@b.cd", 6, small, 6, &olen) == EMAIL_OK && olen == 6 &&
			  memcmp(small, "a@b.cd", 6) == 0, "email normalize exact buffer (no NUL)");
		ncase += 2;
	}

	/* detailed messages */
	{
		static const struct
		{
			const char *in;
			const char *want;
		}			d[] = {
			{"a@-x.com", "the domain label \"-x\" begins with a hyphen"},
			{"a@x-.com", "the domain label \"x-\" ends with a hyphen"},
			{"a@ex_ample.com", "the domain label \"ex_ample\" contains the character '_', which is not allowed"},
			{".a@x.com", "the part before \"@\" \".a\" begins with a dot"},
			{"a.@x.com", "the part before \"@\" \"a.\" ends with a dot"},
			{"a..b@x.com", "the part before \"@\" \"a..b\" has two dots in a row"},
			{"a,b@x.com", "the part before \"@\" contains the character ',' at position 2, which is not allowed"},
			{"a@b@c.com", "the email address has a second \"@\" at position 4"},
			{"a@localhost", "the domain \"localhost\" has no dot (at least two labels are required)"},
			{"a@1.2.3.4", "the top-level domain \"4\" is all digits"},
			{"a@x..com", "the domain \"x..com\" has two dots in a row"},
			{"a@.x.com", "the domain \".x.com\" begins with a dot"},
			{"a@x.com.", "the domain \"x.com.\" ends with a dot"},
			{"j\xc3\xb6@x.com", "the email address contains the character U+00F6 at position 2 (international domains must use the xn-- form)"},
			{"a\xc2\xa0" "b@x.com", "the email address contains the character U+00A0 NO-BREAK SPACE at position 2 (international domains must use the xn-- form)"},
			{"a@x\xf0\x9f\x98\x80.com", "the email address contains the character U+1F600 at position 4 (international domains must use the xn-- form)"},
			{"j\xb6@x.com", "the email address contains the non-ASCII byte \\xb6 at position 2 (international domains must use the xn-- form)"},
			{"j\xe0\x80\x80@x.com", "the email address contains the non-ASCII byte \\xe0 at position 2 (international domains must use the xn-- form)"},
			{"a b@x.com", "the email address contains whitespace ( ) at position 2"},
			{"a\"b@x.com", "the part before \"@\" contains the character '\\\"' at position 2, which is not allowed"},
			{"", "the email address is empty"},
			{"abc", "the email address has no \"@\""},
			{"\"q\"@x.com", "quoted local parts are not supported"},
			{"a@[1.2.3.4]", "domain literals such as [192.0.2.1] are not supported"},
		};

		for (i = 0; i < sizeof(d) / sizeof(d[0]); i++)
		{
			email_parts parts;
			char		msg[EMAIL_DESCRIBE_BUFSZ];
			email_status st = email_parse_ex(d[i].in, strlen(d[i].in), &parts);

			email_describe(d[i].in, strlen(d[i].in), st, &parts, msg, sizeof(msg));
			check(strcmp(msg, d[i].want) == 0, "email describe \"%s\": got '%s', want '%s'",
				  show(d[i].in, strlen(d[i].in)), msg, d[i].want);
			ncase++;
		}
		/* long items are shortened; tiny buffers are safe */
		build(buf, sizeof(buf), "a@", 100, 'q', "-.com");
		{
			email_parts parts;
			char		msg[EMAIL_DESCRIBE_BUFSZ];
			char		tiny[5];
			email_status st = email_parse_ex(buf, strlen(buf), &parts);
			size_t		n;

			check(st == EMAIL_LABEL_TOO_LONG, "long label status");
			n = email_describe(buf, strlen(buf), st, &parts, msg, sizeof(msg));
			check(n < 200 && strstr(msg, "...") != NULL && strstr(msg, "101 characters") != NULL,
				  "long label describe: %s", msg);
			n = email_describe(buf, strlen(buf), st, &parts, tiny, sizeof(tiny));
			check(n == 4 && strlen(tiny) == 4, "tiny describe buffer");
			check(email_describe(buf, strlen(buf), st, &parts, NULL, 0) == 0, "NULL describe buffer");
			check(email_describe(buf, strlen(buf), st, NULL, msg, sizeof(msg)) > 0 &&
				  strcmp(msg, email_status_message(st)) == 0, "describe without parts");
			ncase += 5;
		}
		for (i = 0; i < (size_t) EMAIL_STATUS_COUNT; i++)
		{
			const char *m = email_status_message((email_status) i);

			check(m != NULL && m[0] >= 'a' && m[0] <= 'z' &&
				  strcmp(email_status_name((email_status) i), "unknown") != 0,
				  "email status %zu has a lower-case message and a name", i);
			ncase++;
		}
	}
	printf("email: %d cases\n", ncase);
}

/* Compare/hash cases. */
typedef struct cmp_case
{
	const char *a;
	const char *b;
	int			sign;
} cmp_case;

static const cmp_case cmp_cases[] = {
	{"User@Example.com", "user@example.COM", 0},
	{"a@x.com", "b@x.com", -1},
	{"b@x.com", "a@x.com", 1},
	{"abc", "ab", 1},
	{"ab", "abc", -1},
	{"", "", 0},
	{"", "a", -1},
	{"A", "a", 0},
	{"Z", "z", 0},
	{"[", "a", -1},
	{"Z", "[", 1},			/* folded 'z' (0x7a) > '[' (0x5b) */
	{"@", "`", -1},
	{"ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz", 0},
	{"\xc3\x84", "\xc3\xa4", -1},	/* non-ASCII is not folded */
	{"x\x80", "x\x7f", 1},	/* bytes compare unsigned */
	{"Mixed.Case@Domain.ORG", "mixed.case@domain.org", 0},
	{"user+Tag@x.com", "user+tag@x.com", 0},
	{"user@x.com", "user@x.co", 1},
	{"ß@x.com", "SS@x.com", 1},
};

/* Case-insensitive comparison and hash agreement. */
static void
test_email_cmp_hash(void)
{
	size_t		i;
	int			ncase = 0;
	uint64_t	seeds[] = {0, 1, 42, UINT64_C(0xdeadbeefcafef00d)};
	unsigned	rng = 12345;

	for (i = 0; i < sizeof(cmp_cases) / sizeof(cmp_cases[0]); i++)
	{
		const cmp_case *c = &cmp_cases[i];
		int			r = email_cmp(c->a, strlen(c->a), c->b, strlen(c->b));
		int			r2 = email_cmp(c->b, strlen(c->b), c->a, strlen(c->a));
		size_t		k;

		r = (r > 0) - (r < 0);
		r2 = (r2 > 0) - (r2 < 0);
		check(r == c->sign && r2 == -c->sign, "cmp(\"%s\",\"%s\") = %d, want %d", c->a, c->b, r, c->sign);
		for (k = 0; k < sizeof(seeds) / sizeof(seeds[0]); k++)
		{
			uint64_t	ha = email_hash_folded(c->a, strlen(c->a), seeds[k]);
			uint64_t	hb = email_hash_folded(c->b, strlen(c->b), seeds[k]);

			check((c->sign == 0) == (ha == hb), "hash(\"%s\") vs hash(\"%s\") seed %zu", c->a, c->b, k);
		}
		ncase++;
	}
	/* the seed matters */
	check(email_hash_folded("a@b.c", 5, 1) != email_hash_folded("a@b.c", 5, 2), "hash seed ignored");
	check(email_hash_folded("", 0, 0) != email_hash_folded("", 0, 1), "hash seed ignored (empty)");
	ncase += 2;

	/* random case flips agree; a one-byte change (almost surely) differs */
	for (i = 0; i < 500; i++)
	{
		char		a[40];
		char		b[40];
		size_t		n = i % 37 + 1;
		size_t		k;

		for (k = 0; k < n; k++)
		{
			char		c;

			rng = rng * 1103515245u + 12345u;
			c = (char) ('a' + (rng >> 16) % 26);
			if ((rng >> 8) % 5 == 0)
				c = (char) ('0' + (rng >> 12) % 10);
			a[k] = c;
			b[k] = ((rng >> 20) & 1) && c >= 'a' && c <= 'z' ? (char) (c - 32) : c;
		}
		check(email_cmp(a, n, b, n) == 0 && email_hash_folded(a, n, i) == email_hash_folded(b, n, i),
			  "random fold %zu", i);
		b[n / 2] = b[n / 2] == '#' ? '$' : '#';
		check(email_cmp(a, n, b, n) != 0 && email_hash_folded(a, n, i) != email_hash_folded(b, n, i),
			  "random change %zu", i);
		ncase++;
	}
	printf("email cmp/hash: %d cases\n", ncase);
}

/* ------------------------------------------------------------------ */
/* phone																*/
/* ------------------------------------------------------------------ */

typedef struct phone_ok_case
{
	const char *in;
	const char *region;			/* default country, NULL = none */
	const char *e164;			/* expected canonical text */
	const char *intl;			/* expected international form, or NULL */
	const char *natl;			/* expected national form, or NULL */
	const char *where;			/* expected phone_region(), or NULL */
} phone_ok_case;

static const phone_ok_case phone_ok_cases[] = {
	/* the shapes from the specification */
	{"+1 (415) 555-0100", NULL, "+14155550100", "+1 415-555-0100", "(415) 555-0100", "US"},
	/* Argentine mobiles with the national token 15; Canada's 310-xxxx */
	{"011 15-2345-6789", "AR", "+5491123456789", NULL, NULL, "AR"},
	{"0341 15 234 5678", "AR", "+5493412345678", NULL, NULL, "AR"},
	{"+54 11 15 2345 6789", NULL, "+5491123456789", NULL, NULL, "AR"},
	{"02966 15 12 3456", "AR", "+5492966123456", NULL, NULL, "AR"},
	{"+54 9 11 2345 6789", NULL, "+5491123456789", NULL, NULL, "AR"},
	{"011 2345-6789", "AR", "+541123456789", NULL, NULL, "AR"},
	{"310-1234", "CA", "+13101234", "+1 310-1234", "310-1234", "CA"},
	{"+1 310-1234", NULL, "+13101234", "+1 310-1234", "310-1234", "CA"},
	{"310-CARE", "CA", "+13102273", NULL, NULL, "CA"},
	{"01800123456", "IL", "+9721800123456", NULL, NULL, "IL"},	/* 018 + 0: no international prefix */
	{"00700 1 415 555 0100", "KR", "+14155550100", NULL, NULL, "US"},	/* KR carrier IDD 00700 */
	{"00365 44 20 7946 0958", "KR", "+442079460958", NULL, NULL, "GB"},
	{"1 310-1234", "US", "+13101234", NULL, NULL, "CA"},
	/* what people paste: vanity letters, other scripts' digits, Unicode
	 * spaces and dashes, full-width punctuation, invisible characters,
	 * labels, a comma before the extension */
	{"1-800-FLOWERS", "US", "+18003569377", NULL, NULL, "US"},
	{"+1 800 GOT JUNK", NULL, "+18004685865", NULL, NULL, "US"},
	{"+\xd9\xa9\xd9\xa7\xd9\xa1 \xd9\xa5\xd9\xa0 \xd9\xa1\xd9\xa2\xd9\xa3 \xd9\xa4\xd9\xa5\xd9\xa6\xd9\xa7", NULL, "+971501234567", NULL, NULL, "AE"},
	{"\xdb\xb0\xdb\xb9\xdb\xb1\xdb\xb2 \xdb\xb3\xdb\xb4\xdb\xb5 \xdb\xb6\xdb\xb7\xdb\xb8\xdb\xb9", "IR", "+989123456789", NULL, NULL, "IR"},
	{"\xef\xbc\x8b\xef\xbc\x98\xef\xbc\x91\xef\xbc\x8d\xef\xbc\x93\xef\xbc\x8d\xef\xbc\x91\xef\xbc\x92\xef\xbc\x93\xef\xbc\x94\xef\xbc\x8d\xef\xbc\x95\xef\xbc\x96\xef\xbc\x97\xef\xbc\x98", NULL, "+81312345678", NULL, NULL, "JP"},
	{"\xef\xbc\x88\xef\xbc\x90\xef\xbc\x93\xef\xbc\x89\xe3\x80\x80\xef\xbc\x91\xef\xbc\x92\xef\xbc\x93\xef\xbc\x94\xe3\x83\xbc\xef\xbc\x95\xef\xbc\x96\xef\xbc\x97\xef\xbc\x98", "JP", "+81312345678", NULL, NULL, "JP"},
	{"+44\xc2\xa0" "20\xc2\xa0" "7946\xc2\xa0" "0958", NULL, "+442079460958", NULL, NULL, "GB"},
	{"+1 415\xe2\x80\x93" "555\xe2\x80\x94" "0100", NULL, "+14155550100", NULL, NULL, "US"},
	{"\xe2\x80\x8b+1 415 555\xe2\x80\x8c" "0100\xef\xbb\xbf", NULL, "+14155550100", NULL, NULL, "US"},
	{"+1\xe2\x88\x92" "415\xe2\x88\x92" "555\xe2\x88\x92" "0100", NULL, "+14155550100", NULL, NULL, "US"},
	{"phone: +1 415 555 0100", NULL, "+14155550100", NULL, NULL, "US"},
	{"Tel.: +44 20 7946 0958", NULL, "+442079460958", NULL, NULL, "GB"},
	{"M: 030 1234567", "DE", "+49301234567", NULL, NULL, "DE"},
	{"+1 415 555 0100, ext 12", NULL, "+14155550100;ext=12", NULL, NULL, "US"},
	{"+1 415 555 0100,ext. 12", NULL, "+14155550100;ext=12", NULL, NULL, "US"},
	{"+34 912 345 678 anexo 21", NULL, "+34912345678;ext=21", NULL, NULL, "ES"},
	{"+1 415 555 0100 extn 7", NULL, "+14155550100;ext=7", NULL, NULL, "US"},
	{"+44 20 7946 0958", NULL, "+442079460958", "+44 20 7946 0958", "020 7946 0958", "GB"},
	{"0049 30 1234567", "DE", "+49301234567", "+49 30 1234567", "030 1234567", "DE"},
	{"0049 30 1234567", NULL, "+49301234567", NULL, NULL, "DE"},
	{"011 44 20 7946 0958", "US", "+442079460958", NULL, NULL, "GB"},
	{"415.555.0100 ext. 12", "US", "+14155550100;ext=12", "+1 415-555-0100 ext. 12", "(415) 555-0100 ext. 12", "US"},
	{"(415) 555-0100 x12", "US", "+14155550100;ext=12", NULL, NULL, NULL},
	{"+1 415 555 0100;ext=12", NULL, "+14155550100;ext=12", NULL, NULL, NULL},
	{"030 1234567", "DE", "+49301234567", NULL, NULL, "DE"},
	{"tel:+1-415-555-0100", NULL, "+14155550100", NULL, NULL, NULL},
	/* US / NANP */
	{"TEL:+1-415-555-0100;EXT=7", NULL, "+14155550100;ext=7", NULL, NULL, NULL},
	{"1-800-555-0199", "US", "+18005550199", NULL, "(800) 555-0199", "US"},
	{"1 (212) 555-0123", "US", "+12125550123", NULL, NULL, "US"},
	{"212 555 0123", "us", "+12125550123", NULL, NULL, "US"},
	{"415 555 0100 extension 7", "US", "+14155550100;ext=7", NULL, NULL, NULL},
	{"415-555-0100 #99", "US", "+14155550100;ext=99", NULL, NULL, NULL},
	{"415 555 0100 EXT: 1234567890", "US", "+14155550100;ext=1234567890", NULL, NULL, NULL},
	{"415 555 0100 Ext.12", "US", "+14155550100;ext=12", NULL, NULL, NULL},
	{"415 555 0100 X 12", "US", "+14155550100;ext=12", NULL, NULL, NULL},
	{"4155550100x0", "US", "+14155550100;ext=0", NULL, NULL, NULL},
	{"+1/415/555/0100", NULL, "+14155550100", NULL, NULL, NULL},
	{"(+1) 415 555 0100", NULL, "+14155550100", NULL, NULL, NULL},
	{"+ 1 415 555 0100", NULL, "+14155550100", NULL, NULL, NULL},
	{"  +1 415 555 0100  ", NULL, "+14155550100", NULL, NULL, NULL},
	{"\t+1.415.555.0100\n", NULL, "+14155550100", NULL, NULL, NULL},
	{"+1 202 555 0143", "GB", "+12025550143", NULL, NULL, "US"},
	{"00 1 202 555 0143", "GB", "+12025550143", NULL, NULL, "US"},
	{"+1 907 555 0100", NULL, "+19075550100", NULL, NULL, "US"},
	/* Canada and the Caribbean share +1 */
	{"(613) 555-0199", "CA", "+16135550199", "+1 613-555-0199", "(613) 555-0199", "CA"},
	{"1 604 555 0123", "CA", "+16045550123", NULL, NULL, "CA"},
	{"+1 416 555 0123", NULL, "+14165550123", NULL, NULL, "CA"},
	{"+1 514 555 0123", "US", "+15145550123", NULL, NULL, "CA"},
	{"876-555-0100", "JM", "+18765550100", NULL, "(876) 555-0100", "JM"},
	{"+1 787 555 0100", NULL, "+17875550100", NULL, NULL, "PR"},
	{"+1 809 555 0100", NULL, "+18095550100", NULL, NULL, "DO"},
	{"+1 242 555 0100", NULL, "+12425550100", NULL, NULL, "BS"},
	{"+1 868 555 0100", NULL, "+18685550100", NULL, NULL, "TT"},
	{"+1 671 555 0100", NULL, "+16715550100", NULL, NULL, "GU"},
	{"+1 340 555 0100", NULL, "+13405550100", NULL, NULL, "VI"},
	{"011 33 1 23 45 67 89", "CA", "+33123456789", NULL, NULL, "FR"},
	/* United Kingdom and crown dependencies */
	{"020 7946 0958", "GB", "+442079460958", NULL, NULL, "GB"},
	{"07700 900123", "GB", "+447700900123", "+44 7700 900123", "07700 900123", "GB"},
	{"+44 (0)161 496 0000", NULL, "+441614960000", "+44 161 496 0000", "0161 496 0000", "GB"},
	{"0044 161 496 0000", "DE", "+441614960000", NULL, NULL, "GB"},
	{"+44 (0) 20 7946 0958", NULL, "+442079460958", NULL, NULL, NULL},
	{"01481 123456", "GG", "+441481123456", NULL, "01481 123456", "GG"},
	{"01534 123456", "JE", "+441534123456", NULL, NULL, "JE"},
	{"01624 123456", "IM", "+441624123456", NULL, NULL, "IM"},
	{"0113 496 0000", "GB", "+441134960000", "+44 113 496 0000", NULL, "GB"},
	{"0800 123 4567", "GB", "+448001234567", NULL, NULL, "GB"},
	/* Germany */
	{"+49 (0)30 1234567", NULL, "+49301234567", NULL, NULL, "DE"},
	{"+49 151 23456789", NULL, "+4915123456789", "+49 1512 3456789", "01512 3456789", "DE"},
	{"089/1234567", "DE", "+49891234567", "+49 89 1234567", NULL, "DE"},
	{"0221 1234567", "de", "+492211234567", "+49 221 1234567", NULL, "DE"},
	{"06221 12345", "DE", "+49622112345", NULL, NULL, "DE"},
	/* France */
	{"01 23 45 67 89", "FR", "+33123456789", "+33 1 23 45 67 89", "01 23 45 67 89", "FR"},
	{"+33 6 12 34 56 78", NULL, "+33612345678", NULL, "06 12 34 56 78", "FR"},
	{"+33 (0)6 12 34 56 78", NULL, "+33612345678", NULL, NULL, "FR"},
	{"06.12.34.56.78", "FR", "+33612345678", NULL, NULL, "FR"},
	/* Italy keeps its leading 0; Vatican and San Marino */
	{"06 1234 5678", "IT", "+390612345678", "+39 06 1234 5678", "06 1234 5678", "IT"},
	{"+39 06 1234 5678", NULL, "+390612345678", NULL, NULL, "IT"},
	{"+39 347 123 4567", NULL, "+393471234567", "+39 347 123 4567", "347 123 4567", "IT"},
	{"0039 02 1234 5678", "DE", "+390212345678", NULL, "02 1234 5678", "IT"},
	{"+39 06 698 12345", NULL, "+390669812345", NULL, NULL, "VA"},
	{"+378 0549 123456", NULL, "+3780549123456", NULL, NULL, "SM"},
	/* Spain, Portugal, Benelux, Alps, Nordics, Central Europe */
	{"912 34 56 78", "ES", "+34912345678", "+34 912 34 56 78", "912 34 56 78", "ES"},
	{"+34 612 345 678", NULL, "+34612345678", NULL, NULL, "ES"},
	{"21 234 5678", "PT", "+351212345678", NULL, NULL, "PT"},
	{"020 123 4567", "NL", "+31201234567", "+31 20 123 4567", "020 123 4567", "NL"},
	{"06 12345678", "NL", "+31612345678", "+31 6 12345678", NULL, "NL"},
	{"02 123 45 67", "BE", "+3221234567", NULL, NULL, "BE"},
	{"044 668 18 00", "CH", "+41446681800", "+41 44 668 18 00", "044 668 18 00", "CH"},
	{"01 234567", "AT", "+431234567", NULL, NULL, "AT"},
	{"32 12 34 56", "DK", "+4532123456", NULL, NULL, "DK"},
	{"22 12 34 56", "NO", "+4722123456", NULL, NULL, "NO"},
	{"08-123 456 78", "SE", "+46812345678", NULL, NULL, "SE"},
	{"09 1234 567", "FI", "+35891234567", NULL, NULL, "FI"},
	{"018 12345", "AX", "+3581812345", NULL, NULL, "AX"},
	{"12 345 67 89", "PL", "+48123456789", NULL, NULL, "PL"},
	{"+420 212 345 678", NULL, "+420212345678", NULL, NULL, "CZ"},
	{"02/123 456 78", "SK", "+421212345678", NULL, NULL, "SK"},
	{"06 1 234 5678", "HU", "+3612345678", "+36 1 234 5678", "06 1 234 5678", "HU"},
	{"01 234 5678", "IE", "+35312345678", NULL, NULL, "IE"},
	{"21 0123 4567", "GR", "+302101234567", NULL, NULL, "GR"},
	{"22 123456", "CY", "+35722123456", NULL, NULL, "CY"},
	{"2123 4567", "MT", "+35621234567", NULL, NULL, "MT"},
	{"26 12 34", "LU", "+352261234", NULL, NULL, "LU"},
	{"512 3456", "IS", "+3545123456", NULL, NULL, "IS"},
	{"512 3456", "EE", "+3725123456", NULL, NULL, "EE"},
	{"21 234 567", "LV", "+37121234567", NULL, NULL, "LV"},
	{"8 612 34567", "LT", "+37061234567", NULL, NULL, "LT"},
	{"0 612 34567", "LT", "+37061234567", NULL, NULL, "LT"},
	{"021 123 4567", "RO", "+40211234567", NULL, NULL, "RO"},
	{"02 123 4567", "BG", "+35921234567", NULL, NULL, "BG"},
	{"01 2345 678", "HR", "+38512345678", NULL, NULL, "HR"},
	{"011 123 4567", "RS", "+381111234567", NULL, NULL, "RS"},
	{"01 234 56 78", "SI", "+38612345678", NULL, NULL, "SI"},
	/* Eastern Europe and Central Asia */
	{"8 (495) 123-45-67", "RU", "+74951234567", "+7 495 123-45-67", "8 (495) 123-45-67", "RU"},
	{"8 800 555 35 35", "RU", "+78005553535", NULL, NULL, "RU"},
	{"495 123 45 67", "RU", "+74951234567", NULL, NULL, "RU"},
	{"812 123 45 67", "RU", "+78121234567", NULL, NULL, "RU"},
	{"810 1 415 555 0100", "RU", "+14155550100", NULL, NULL, "US"},
	{"8 701 123 4567", "KZ", "+77011234567", NULL, NULL, "KZ"},
	{"+7 727 123 4567", NULL, "+77271234567", NULL, NULL, "KZ"},
	{"044 123 4567", "UA", "+380441234567", NULL, NULL, "UA"},
	{"8 029 123-45-67", "BY", "+375291234567", NULL, NULL, "BY"},
	{"+375 29 123 45 67", NULL, "+375291234567", NULL, "8 291 234 567", "BY"},
	{"+375 (0)29 123 45 67", NULL, "+375291234567", NULL, NULL, "BY"},
	{"022 123 456", "MD", "+37322123456", NULL, NULL, "MD"},
	{"90 123 4567", "UZ", "+998901234567", NULL, NULL, "UZ"},
	{"8 90 123 4567", "UZ", "+998901234567", NULL, NULL, "UZ"},
	/* Middle East */
	{"0212 123 45 67", "TR", "+902121234567", NULL, NULL, "TR"},
	{"03-123-4567", "IL", "+97231234567", NULL, "03-123-4567", "IL"},
	{"1-800-123-456", "IL", "+9721800123456", NULL, "1-800-123-456", "IL"},	/* no trunk 0 */
	{"+266 0011 5678", NULL, "+26600115678", NULL, "+266 0011 5678", "LS"},	/* would read as 00 */
	{"013 44 20 7946 0958", "IL", "+442079460958", NULL, NULL, "GB"},
	{"04 123 4567", "AE", "+97141234567", NULL, NULL, "AE"},
	{"011 123 4567", "SA", "+966111234567", NULL, NULL, "SA"},
	{"021 2345 6789", "IR", "+982123456789", NULL, NULL, "IR"},
	{"4412 3456", "QA", "+97444123456", NULL, NULL, "QA"},
	/* South and East Asia, Oceania */
	{"098765 43210", "IN", "+919876543210", "+91 98765 43210", "098765 43210", "IN"},
	{"011 2345 6789", "IN", "+911123456789", NULL, NULL, "IN"},
	{"010 1234 5678", "CN", "+861012345678", "+86 10 1234 5678", NULL, "CN"},
	{"138 0013 8000", "CN", "+8613800138000", "+86 138 0013 8000", "138 0013 8000", "CN"},
	{"03-1234-5678", "JP", "+81312345678", "+81 3-1234-5678", "03-1234-5678", "JP"},
	{"090-1234-5678", "JP", "+819012345678", NULL, "090-1234-5678", "JP"},
	{"010 44 20 7946 0958", "JP", "+442079460958", NULL, NULL, "GB"},
	{"02-123-4567", "KR", "+8221234567", NULL, NULL, "KR"},
	{"010-1234-5678", "KR", "+821012345678", NULL, NULL, "KR"},
	{"001 1 415 555 0100", "KR", "+14155550100", NULL, NULL, "US"},
	{"(02) 9876 5432", "AU", "+61298765432", "+61 2 9876 5432", "(02) 9876 5432", "AU"},
	{"0412 345 678", "AU", "+61412345678", "+61 412 345 678", "0412 345 678", "AU"},
	{"0011 1 415 555 0100", "AU", "+14155550100", NULL, NULL, "US"},
	{"0044 20 7946 0958", "AU", "+442079460958", NULL, NULL, "GB"},
	{"09 123 4567", "NZ", "+6491234567", NULL, NULL, "NZ"},
	{"6123 4567", "SG", "+6561234567", NULL, NULL, "SG"},
	{"2123 4567", "HK", "+85221234567", NULL, NULL, "HK"},
	{"02 1234 5678", "TW", "+886212345678", NULL, NULL, "TW"},
	{"02 123 4567", "TH", "+6621234567", NULL, NULL, "TH"},
	{"03-1234 5678", "MY", "+60312345678", NULL, NULL, "MY"},
	{"021 1234 5678", "ID", "+622112345678", NULL, NULL, "ID"},
	{"02 8123 4567", "PH", "+63281234567", NULL, NULL, "PH"},
	{"024 1234 5678", "VN", "+842412345678", NULL, NULL, "VN"},
	{"021 1234 5678", "PK", "+922112345678", NULL, NULL, "PK"},
	{"011 234 5678", "LK", "+94112345678", NULL, NULL, "LK"},
	{"02 9123 4567", "BD", "+880291234567", NULL, NULL, "BD"},
	/* Latin America */
	{"(11) 91234-5678", "BR", "+5511912345678", "+55 11 91234-5678", NULL, "BR"},
	{"0 21 11 91234 5678", "BR", "+5511912345678", NULL, NULL, "BR"},
	{"011 91234 5678", "BR", "+5511912345678", NULL, NULL, "BR"},
	{"0021 1 415 555 0100", "BR", "+14155550100", NULL, NULL, "US"},
	{"011 4123-4567", "AR", "+541141234567", NULL, NULL, "AR"},
	{"+54 9 11 4123 4567", NULL, "+5491141234567", NULL, NULL, "AR"},
	{"55 1234 5678", "MX", "+525512345678", "+52 55 1234 5678", "55 1234 5678", "MX"},
	{"+52 1 55 1234 5678", NULL, "+525512345678", NULL, NULL, "MX"},
	{"01 55 1234 5678", "MX", "+525512345678", NULL, NULL, "MX"},
	{"044 55 1234 5678", "MX", "+525512345678", NULL, NULL, "MX"},
	{"2 2123 4567", "CL", "+56221234567", NULL, NULL, "CL"},
	{"601 234 5678", "CO", "+576012345678", NULL, NULL, "CO"},
	{"005 1 415 555 0100", "CO", "+14155550100", NULL, NULL, "US"},
	{"01 234 5678", "PE", "+5112345678", NULL, NULL, "PE"},
	{"0212 123 4567", "VE", "+582121234567", NULL, NULL, "VE"},
	{"2222 3333", "CR", "+50622223333", NULL, NULL, "CR"},
	{"119 1 415 555 0100", "CU", "+14155550100", NULL, NULL, "US"},
	/* Africa */
	{"011 123 4567", "ZA", "+27111234567", NULL, NULL, "ZA"},
	{"02 1234 5678", "EG", "+20212345678", NULL, NULL, "EG"},
	{"0803 123 4567", "NG", "+2348031234567", NULL, NULL, "NG"},
	{"009 44 20 7946 0958", "NG", "+442079460958", NULL, NULL, "GB"},
	{"0712 345678", "KE", "+254712345678", NULL, NULL, "KE"},
	{"000 44 20 7946 0958", "KE", "+442079460958", NULL, NULL, "GB"},
	{"0522-123456", "MA", "+212522123456", NULL, NULL, "MA"},
	{"+212 5288 12345", NULL, "+212528812345", NULL, NULL, "EH"},
	{"+225 07 07 12 34 56", NULL, "+2250707123456", NULL, NULL, "CI"},
	{"+242 06 123 4567", NULL, "+242061234567", NULL, NULL, "CG"},
	{"024 123 4567", "GH", "+233241234567", NULL, NULL, "GH"},
	{"0 44 20 7946 0958", "CV", "+442079460958", NULL, NULL, "GB"},
	{"0044 20 7946 0958", "CV", "+442079460958", NULL, NULL, "GB"},
	{"+262 269 12 34 56", NULL, "+262269123456", NULL, NULL, "YT"},
	{"0262 12 34 56", "RE", "+262262123456", NULL, NULL, "RE"},
	/* small codes and short numbers */
	{"+683 4002", NULL, "+6834002", "+683 4002", "4002", "NU"},
	{"+290 22123", NULL, "+29022123", NULL, NULL, "SH"},
	{"+290 8123", NULL, "+2908123", NULL, NULL, "TA"},
	{"+500 12345", NULL, "+50012345", NULL, NULL, "FK"},
	{"+599 9 123 4567", NULL, "+59991234567", NULL, NULL, "CW"},
	{"+599 717 1234", NULL, "+5997171234", NULL, NULL, "BQ"},
	{"+47 79 12 34 56", NULL, "+4779123456", NULL, NULL, "SJ"},
	{"+61 8 9164 1234", NULL, "+61891641234", NULL, NULL, "CX"},
	{"052 44 20 7946 0958", "FJ", "+442079460958", NULL, NULL, "GB"},
	{"+692 625 1234", NULL, "+6926251234", NULL, NULL, "MH"},
	/* non-geographic codes */
	{"+800 1234 5678", NULL, "+80012345678", "+800 1234 5678", "+800 1234 5678", "001"},
	{"+882 1234 567890", NULL, "+8821234567890", NULL, NULL, "001"},
	{"00 870 123 456 789", NULL, "+870123456789", NULL, NULL, "001"},
	/* extensions in every spelling */
	{"+44 20 7946 0958 ext 123", NULL, "+442079460958;ext=123", "+44 20 7946 0958 ext. 123", "020 7946 0958 ext. 123", NULL},
	{"+44 20 7946 0958 #123", NULL, "+442079460958;ext=123", NULL, NULL, NULL},
	{"+44 20 7946 0958;ext=123", NULL, "+442079460958;ext=123", NULL, NULL, NULL},
	{"+44 20 7946 0958 extension: 123", NULL, "+442079460958;ext=123", NULL, NULL, NULL},
	{"+44 20 7946 0958 EXT. 123", NULL, "+442079460958;ext=123", NULL, NULL, NULL},
	{"+44 20 7946 0958x123", NULL, "+442079460958;ext=123", NULL, NULL, NULL},
};

typedef struct phone_bad_case
{
	const char *in;
	const char *region;
	phone_status st;
} phone_bad_case;

static const phone_bad_case phone_bad_cases[] = {
	{"", "US", PHONE_EMPTY},
	{"   ", "US", PHONE_EMPTY},
	{"\t\n", NULL, PHONE_EMPTY},
	{"+", NULL, PHONE_TOO_SHORT},
	{"()", "US", PHONE_TOO_SHORT},
	{"tel:", "US", PHONE_TOO_SHORT},
	{"- . /", "US", PHONE_TOO_SHORT},
	{"abc", "US", PHONE_BAD_CHAR},
	{"1-800-FLOWERS", "US", PHONE_OK},	/* vanity: 3+ letters after 2+ digits */
	{"415-555-CALL", "US", PHONE_OK},
	{"01OO", "GB", PHONE_BAD_CHAR},	/* two letters are no vanity number */
	{"abc", "US", PHONE_BAD_CHAR},	/* letters first are no vanity number */
	{"1-800-GO-FEDEX", "US", PHONE_OK},	/* "x" ending a word is no extension */
	{"415 555 0100 (home)", "US", PHONE_TOO_LONG},	/* read as a vanity number */
	{"415 555 01\xc3\xa9" "0", "US", PHONE_BAD_CHAR},
	{"415\xe2\x80\xa2" "555\xe2\x80\xa2" "0100", "US", PHONE_BAD_CHAR},	/* U+2022 BULLET */
	{"415 555 0100\xff", "US", PHONE_BAD_CHAR},	/* not UTF-8 */
	{"415-555-0100", NULL, PHONE_NO_DEFAULT_COUNTRY},
	{"030 1234567", "", PHONE_NO_DEFAULT_COUNTRY},
	{"011 44 20 7946 0958", NULL, PHONE_NO_DEFAULT_COUNTRY},
	{"415-555-0100", "ZZ", PHONE_UNKNOWN_COUNTRY},
	{"415-555-0100", "USA", PHONE_UNKNOWN_COUNTRY},
	{"415-555-0100", "U", PHONE_UNKNOWN_COUNTRY},
	{"415-555-0100", "001", PHONE_UNKNOWN_COUNTRY},
	{"+1 415-555-0100", "XX", PHONE_UNKNOWN_COUNTRY},
	{"+28 1234 5678", NULL, PHONE_UNASSIGNED_CC},
	{"+0 123 4567", NULL, PHONE_UNASSIGNED_CC},
	{"+210 123456", NULL, PHONE_UNASSIGNED_CC},
	{"+259 123456", NULL, PHONE_UNASSIGNED_CC},
	{"+292 123456", NULL, PHONE_UNASSIGNED_CC},
	{"+379 123456", NULL, PHONE_UNASSIGNED_CC},
	{"+384 123456", NULL, PHONE_UNASSIGNED_CC},
	{"+388 123456", NULL, PHONE_UNASSIGNED_CC},
	{"+422 123456", NULL, PHONE_UNASSIGNED_CC},
	{"+671 123 4567", NULL, PHONE_UNASSIGNED_CC},
	{"+684 123 4567", NULL, PHONE_UNASSIGNED_CC},
	{"+693 1234567", NULL, PHONE_UNASSIGNED_CC},
	{"+801 12345678", NULL, PHONE_UNASSIGNED_CC},
	{"+83 12345678", NULL, PHONE_UNASSIGNED_CC},
	{"+89 12345678", NULL, PHONE_UNASSIGNED_CC},
	{"+969 1234567", NULL, PHONE_UNASSIGNED_CC},
	{"+999 1234567", NULL, PHONE_UNASSIGNED_CC},
	{"0028 1234 5678", "DE", PHONE_UNASSIGNED_CC},
	{"+1 415 555", NULL, PHONE_TOO_SHORT},
	{"+1 415 555 01000", NULL, PHONE_TOO_LONG},
	{"415 555 010", "US", PHONE_TOO_SHORT},
	{"+44 20 7946 0958 123456", NULL, PHONE_TOO_LONG},
	{"+1234567890123456", NULL, PHONE_TOO_LONG},
	{"12345678901234567890", "DE", PHONE_TOO_LONG},
	{"+44 123", NULL, PHONE_TOO_SHORT},
	{"+49 123", NULL, PHONE_TOO_SHORT},
	{"+683 123", NULL, PHONE_TOO_SHORT},
	{"+33 1 23 45 67 8", NULL, PHONE_TOO_SHORT},
	{"+33 1 23 45 67 89 0", NULL, PHONE_TOO_LONG},
	{"+7 495 123 456", NULL, PHONE_TOO_SHORT},
	{"+7 8 495 123 4567", NULL, PHONE_TOO_LONG},
	{"0049", "DE", PHONE_TOO_SHORT},
	{"00", "DE", PHONE_TOO_SHORT},
	{"+2", NULL, PHONE_TOO_SHORT},
	{"+1", NULL, PHONE_TOO_SHORT},
	{"+1 015 555 0100", NULL, PHONE_BAD_AREA_CODE},
	{"+1 115 555 0100", NULL, PHONE_BAD_AREA_CODE},
	{"+1 411 555 0100", NULL, PHONE_BAD_AREA_CODE},
	{"(911) 555-0100", "US", PHONE_BAD_AREA_CODE},
	{"+1 415 055 0100", NULL, PHONE_BAD_EXCHANGE},
	{"+1 415 155 0100", NULL, PHONE_BAD_EXCHANGE},
	{"0 415 555 0100", "US", PHONE_TOO_LONG},
	{"0415 555 010", "US", PHONE_BAD_AREA_CODE},
	{"415 555 0100 ext", "US", PHONE_EXT_EMPTY},
	{"415 555 0100 x", "US", PHONE_EXT_EMPTY},
	{"415 555 0100 #", "US", PHONE_EXT_EMPTY},
	{"415 555 0100 ext.", "US", PHONE_EXT_EMPTY},
	{"415 555 0100 x12345678901", "US", PHONE_EXT_TOO_LONG},
	{"415 555 0100 ext 123456789012345678901234567890123456", "US", PHONE_EXT_TOO_LONG},
	{"415 555 0100 x12a", "US", PHONE_BAD_CHAR},
	{"415 555 0100 x 1-2", "US", PHONE_BAD_CHAR},
	{"x12", "US", PHONE_BAD_CHAR},
	{"#12", "US", PHONE_BAD_CHAR},
	{"+1 415 555 0100 ext 12 ext 3", NULL, PHONE_TOO_LONG},	/* "ext" read as keypad letters */
	{"++1 415 555 0100", NULL, PHONE_BAD_CHAR},
	{"1+415 555 0100", "US", PHONE_BAD_CHAR},
	{"+1 415 555 0100 \xc3\xa9", NULL, PHONE_BAD_CHAR},
	{"\xef\xbc\x91\xef\xbc\x92", "US", PHONE_TOO_SHORT},	/* full-width digits */
	{"+1 415 555 0100;phone-context=x", NULL, PHONE_BAD_CHAR},
	{"+1 415 555 0100,", NULL, PHONE_BAD_CHAR},
	{"+1 415 555 0100 ext 12 ", NULL, PHONE_OK},	/* trailing space trimmed */
	{"+1_415_555_0100", NULL, PHONE_BAD_CHAR},
	{"+1 [415] 555 0100", NULL, PHONE_BAD_CHAR},
	{"+44 0 0207946095", NULL, PHONE_LEADING_ZERO},
	{"+33 00 1 23 45 67 8", NULL, PHONE_LEADING_ZERO},
	{"00 28 1234 5678", "XK", PHONE_UNASSIGNED_CC},
	{"0 0 20 7946 0958", "XK", PHONE_OK},	/* 00 is international: +20 (EG) */
};

/* Parse s[0..len) with region (NUL-terminated or NULL). */
static phone_status
parse_with(const char *s, size_t len, const char *region, phone_number *p,
		   phone_error *e)
{
	return phone_parse(s, len, region, region ? strlen(region) : 0, p, e);
}

/* Formatted text re-parses to the same number (with region, if any). */
static void
check_reparse(const phone_number *p, const char *text, const char *region,
			  const char *what, const char *in)
{
	phone_number q;
	phone_status st = parse_with(text, strlen(text), region, &q, NULL);

	check(st == PHONE_OK && phone_cmp(p, &q) == 0 &&
		  memcmp(p, &q, sizeof(q)) == 0,
		  "phone \"%s\": %s form \"%s\" does not parse back (%s)", in, what,
		  text, phone_status_name(st));
}

/* One valid phone case, with all round trips. */
static void
check_phone_ok(const phone_ok_case *c)
{
	phone_number p;
	phone_error e;
	char		t1[PHONE_TEXT_BUFSZ];
	char		t2[PHONE_FORMAT_BUFSZ];
	char		t3[PHONE_FORMAT_BUFSZ];
	char		msg[PHONE_DESCRIBE_BUFSZ];
	const char *where;
	phone_status st;
	int			n1;
	int			n2;
	int			n3;

	st = parse_with(c->in, strlen(c->in), c->region, &p, &e);
	if (st != PHONE_OK)
		phone_describe(st, &e, msg, sizeof(msg));
	check(st == PHONE_OK, "phone \"%s\" [%s]: expected ok, got %s (%s)", show(c->in, strlen(c->in)),
		  c->region ? c->region : "-", phone_status_name(st), st ? msg : "");
	if (st != PHONE_OK)
		return;
	check(phone_is_valid(&p), "phone \"%s\": result not valid", c->in);
	n1 = phone_format_e164(&p, t1, sizeof(t1));
	n2 = phone_format_international(&p, t2, sizeof(t2));
	n3 = phone_format_national(&p, t3, sizeof(t3));
	check(n1 > 0 && (size_t) n1 == strlen(t1) && n1 <= PHONE_MAX_TEXT,
		  "phone \"%s\": e164 length", c->in);
	check(n2 > 0 && (size_t) n2 == strlen(t2) && n3 > 0 && (size_t) n3 == strlen(t3),
		  "phone \"%s\": format lengths", c->in);
	check(strcmp(t1, c->e164) == 0, "phone \"%s\" [%s]: got %s, want %s",
		  show(c->in, strlen(c->in)), c->region ? c->region : "-", t1, c->e164);
	if (c->intl)
		check(strcmp(t2, c->intl) == 0, "phone \"%s\": international \"%s\", want \"%s\"",
			  c->in, t2, c->intl);
	if (c->natl)
		check(strcmp(t3, c->natl) == 0, "phone \"%s\": national \"%s\", want \"%s\"",
			  c->in, t3, c->natl);
	where = phone_region(&p);
	if (c->where)
		check(where != NULL && strcmp(where, c->where) == 0,
			  "phone \"%s\": region %s, want %s", c->in, where ? where : "(null)", c->where);

	/* round trips: canonical text, international and national forms */
	check_reparse(&p, t1, NULL, "e164", c->in);
	check_reparse(&p, t1, "US", "e164 (default US)", c->in);
	check_reparse(&p, t1, "JP", "e164 (default JP)", c->in);
	check_reparse(&p, t2, NULL, "international", c->in);
	if (where != NULL && strcmp(where, "001") != 0)
		check_reparse(&p, t3, where, "national", c->in);
	/* the E.164 text with the default country's own prefix in front */
	check(phone_country_code(&p) > 0 &&
		  (size_t) p.cc_len == (size_t) (phone_country_code(&p) >= 100 ? 3 :
										  phone_country_code(&p) >= 10 ? 2 : 1),
		  "phone \"%s\": country code / cc_len mismatch", c->in);
}

/* One invalid phone case. */
static void
check_phone_bad(const phone_bad_case *c)
{
	phone_number p;
	phone_error e;
	char		msg[PHONE_DESCRIBE_BUFSZ];
	phone_status st;
	size_t		n;
	phone_number zero;

	memset(&p, 0x5a, sizeof(p));
	st = parse_with(c->in, strlen(c->in), c->region, &p, &e);
	check(st == c->st, "phone \"%s\" [%s]: expected %s, got %s", show(c->in, strlen(c->in)),
		  c->region ? c->region : "-", phone_status_name(c->st), phone_status_name(st));
	if (st == PHONE_OK)
		return;
	memset(&zero, 0, sizeof(zero));
	check(memcmp(&p, &zero, sizeof(p)) == 0, "phone \"%s\": output not cleared on error", c->in);
	check(!phone_is_valid(&p), "phone \"%s\": cleared output is valid", c->in);
	n = phone_describe(st, &e, msg, sizeof(msg));
	check(n > 0 && n == strlen(msg) && msg[0] >= 'a' && msg[0] <= 'z',
		  "phone \"%s\": describe \"%s\"", c->in, msg);
}

/* True if the '|'-separated list contains the item. */
static int
list_has(const char *list, const char *item)
{
	size_t		k = strlen(item);

	while (list != NULL && *list != '\0')
	{
		const char *bar = strchr(list, '|');
		size_t		n = bar ? (size_t) (bar - list) : strlen(list);

		if (n == k && strncmp(list, item, k) == 0)
			return 1;
		list = bar ? bar + 1 : NULL;
	}
	return 0;
}

/* Invariants of the numbering-plan tables. */
static void
test_phone_tables(int *ncase)
{
	size_t		i;
	size_t		j;

	for (i = 0; i < phone_cc_table_len; i++)
	{
		const phone_cc_info *c = &phone_cc_table[i];
		size_t		cclen = c->cc >= 100 ? 3 : c->cc >= 10 ? 2 : 1;
		char		a[8];

		check(i == 0 || phone_cc_table[i - 1].cc < c->cc, "cc table sorted at %u", c->cc);
		check(c->cc >= 1 && c->cc <= 999, "cc %u in range", c->cc);
		check(c->min_nsn >= PHONE_MIN_NSN && c->min_nsn <= c->max_nsn &&
			  cclen + c->max_nsn <= PHONE_MAX_DIGITS,
			  "cc %u length range %u..%u", c->cc, c->min_nsn, c->max_nsn);
		check(phone_cc_lookup(c->cc) == c, "cc %u lookup", c->cc);
		if (c->flags & PHONE_CC_NONGEO)
			check(strcmp(c->region, "001") == 0, "cc %u non-geographic region", c->cc);
		else
		{
			const phone_region_info *r = phone_region_lookup(c->region, strlen(c->region));

			check(r != NULL && r->cc == c->cc, "cc %u main region %s", c->cc, c->region);
			/* STRIP_ZERO exactly when every region's national prefixes include 0 */
			for (j = 0; j < phone_region_table_len; j++)
			{
				const phone_region_info *rr = &phone_region_table[j];
				int			zero = list_has(rr->trunk, "0") || list_has(rr->trunk_parse, "0");

				if (rr->cc == c->cc)
					check(((c->flags & PHONE_CC_STRIP_ZERO) != 0) == zero,
						  "cc %u region %s: strip-zero flag vs trunk \"%s\"", c->cc, rr->alpha2, rr->trunk);
			}
		}
		/* prefix-free: no other code is a prefix of this one */
		snprintf(a, sizeof(a), "%u", c->cc);
		{
			int			prefix_free = 1;

			for (j = 0; j < phone_cc_table_len; j++)
			{
				char		b[8];

				snprintf(b, sizeof(b), "%u", phone_cc_table[j].cc);
				if (j != i && strncmp(a, b, strlen(b)) == 0)
					prefix_free = 0;
			}
			check(prefix_free, "cc %s has another code as prefix", a);
		}
		(*ncase)++;
	}
	check(phone_cc_table_len > 200, "cc table has %zu codes", phone_cc_table_len);

	for (i = 0; i < phone_region_table_len; i++)
	{
		const phone_region_info *r = &phone_region_table[i];
		const char *lists[4];
		size_t		k;

		lists[0] = r->intl;
		lists[1] = r->trunk;
		lists[2] = r->trunk_parse;
		lists[3] = r->carrier;
		check(i == 0 || strcmp(phone_region_table[i - 1].alpha2, r->alpha2) < 0,
			  "region table sorted at %s", r->alpha2);
		check(r->alpha2[0] >= 'A' && r->alpha2[0] <= 'Z' && r->alpha2[1] >= 'A' &&
			  r->alpha2[1] <= 'Z' && r->alpha2[2] == '\0', "region code %s", r->alpha2);
		check(phone_cc_lookup(r->cc) != NULL, "region %s code %u assigned", r->alpha2, r->cc);
		check(phone_region_lookup(r->alpha2, 2) == r, "region %s lookup", r->alpha2);
		for (k = 0; k < 4; k++)
		{
			const char *p = lists[k];
			int			ok = p != NULL;
			size_t		run = 0;

			for (; ok && *p; p++)
			{
				if (*p == '|')
				{
					ok = run > 0;
					run = 0;
				}
				else if (*p >= '0' && *p <= '9')
					run++;
				else
					ok = 0;
			}
			check(ok && (lists[k][0] == '\0' || run > 0), "region %s list %zu \"%s\"", r->alpha2, k,
				  lists[k] ? lists[k] : "(null)");
		}
		check(strchr(r->trunk, '|') == NULL, "region %s has a single trunk prefix", r->alpha2);
		(*ncase)++;
	}
	check(phone_region_table_len >= 240, "region table has %zu regions", phone_region_table_len);

	for (i = 0; i < phone_subregion_table_len; i++)
	{
		const phone_subregion *s = &phone_subregion_table[i];
		const phone_region_info *r = phone_region_lookup(s->region, 2);

		check(r != NULL && r->cc == s->cc, "subregion %u %s -> %s", s->cc, s->prefix, s->region);
		check(i == 0 || phone_subregion_table[i - 1].cc < s->cc ||
			  (phone_subregion_table[i - 1].cc == s->cc &&
			   strcmp(phone_subregion_table[i - 1].prefix, s->prefix) < 0),
			  "subregion table sorted at %u %s", s->cc, s->prefix);
		(*ncase)++;
	}

	/* lookups */
	check(phone_region_calling_code("us", 2) == 1 && phone_region_calling_code("GB", 2) == 44 &&
		  phone_region_calling_code("Gb", 2) == 44 && phone_region_calling_code("ZZ", 2) == 0 &&
		  phone_region_calling_code("G", 1) == 0 && phone_region_calling_code(NULL, 2) == 0 &&
		  phone_region_calling_code("GBR", 3) == 0 && phone_region_calling_code("xk", 2) == 383,
		  "phone_region_calling_code");
	check(phone_cc_lookup(0) == NULL && phone_cc_lookup(1000) == NULL && phone_cc_lookup(28) == NULL,
		  "phone_cc_lookup of unassigned codes");
	(*ncase) += 2;
}

/* A dozen international dialling prefix / trunk prefix facts per region. */
static void
test_phone_prefix_facts(int *ncase)
{
	static const struct
	{
		const char *region;
		const char *intl;		/* one international prefix */
		const char *trunk;		/* trunk prefix, "" if none */
	}			f[] = {
		{"US", "011", "1"}, {"CA", "011", "1"}, {"GB", "00", "0"}, {"DE", "00", "0"},
		{"FR", "00", "0"}, {"JP", "010", "0"}, {"AU", "0011", "0"}, {"IN", "00", "0"},
		{"BR", "0021", "0"}, {"CN", "00", "0"}, {"IT", "00", ""}, {"ES", "00", ""},
		{"PT", "00", ""}, {"DK", "00", ""}, {"NO", "00", ""}, {"RU", "810", "8"},
		{"KZ", "810", "8"}, {"HU", "00", "06"}, {"SM", "00", ""}, {"JM", "011", "1"},
		{"KR", "001", "0"}, {"IL", "013", "0"}, {"KE", "000", "0"}, {"NG", "009", "0"},
		{"CU", "119", "0"}, {"MX", "00", ""}, {"GR", "00", ""}, {"PL", "00", ""},
	};
	size_t		i;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
	{
		char		in[64];
		char		t[PHONE_TEXT_BUFSZ];
		phone_number p;
		phone_status st;

		/* <intl prefix> 44 20 7946 0958 reaches London from anywhere */
		snprintf(in, sizeof(in), "%s 44 20 7946 0958", f[i].intl);
		st = parse_with(in, strlen(in), f[i].region, &p, NULL);
		phone_format_e164(&p, t, sizeof(t));
		check(st == PHONE_OK && strcmp(t, "+442079460958") == 0,
			  "%s: \"%s\" gave %s %s", f[i].region, in, phone_status_name(st), t);
		/* the national format starts with the trunk prefix */
		{
			const phone_region_info *r = phone_region_lookup(f[i].region, 2);

			check(r != NULL && strcmp(r->trunk, f[i].trunk) == 0, "%s: trunk prefix \"%s\", want \"%s\"",
				  f[i].region, r ? r->trunk : "?", f[i].trunk);
		}
		(*ncase)++;
	}
}

/* Formatter and API edge cases. */
static void
test_phone_api(int *ncase)
{
	phone_number p;
	phone_number q;
	phone_error e;
	char		buf[PHONE_FORMAT_BUFSZ];
	char		msg[PHONE_DESCRIBE_BUFSZ];
	int			n;

	/* inputs are not NUL-terminated */
	check(phone_parse("+14155550100999", 12, NULL, 0, &p, NULL) == PHONE_OK &&
		  strcmp(p.digits, "14155550100") == 0, "phone length-bounded input");
	check(phone_parse("030 1234567", 11, "DEU", 2, &p, NULL) == PHONE_OK &&
		  strcmp(p.digits, "49301234567") == 0, "phone length-bounded region");
	check(phone_parse("+1 415\0 555 0100", 16, NULL, 0, &p, &e) == PHONE_BAD_CHAR &&
		  e.pos == 6 && e.ch == 0, "phone embedded NUL");
	check(phone_parse(NULL, 0, NULL, 0, &p, NULL) == PHONE_EMPTY, "phone NULL input");
	check(phone_parse("+14155550100", 12, NULL, 0, NULL, NULL) == PHONE_OK, "phone NULL out");
	(*ncase) += 5;

	/* the generated libphonenumber formats all compile */
	check(phone_lpn_check_table() == 1, "every pattern of phone_formats.c compiles");
	(*ncase)++;

	/* error details */
	check(parse_with("415-555-AB00", 12, "US", &p, &e) == PHONE_BAD_CHAR && e.pos == 8 && e.ch == 'A',
		  "bad char position");
	phone_describe(PHONE_BAD_CHAR, &e, msg, sizeof(msg));
	check(strcmp(msg, "bad character 'A' at position 9") == 0, "describe bad char: %s", msg);
	parse_with("+28 123", 7, NULL, &p, &e);
	phone_describe(PHONE_UNASSIGNED_CC, &e, msg, sizeof(msg));
	check(strcmp(msg, "unassigned country calling code +28") == 0, "describe unassigned: %s", msg);
	parse_with("+2101234", 8, NULL, &p, &e);
	phone_describe(PHONE_UNASSIGNED_CC, &e, msg, sizeof(msg));
	check(strcmp(msg, "unassigned country calling code +210") == 0, "describe unassigned 3: %s", msg);
	parse_with("1", 1, "Zz", &p, &e);
	phone_describe(PHONE_UNKNOWN_COUNTRY, &e, msg, sizeof(msg));
	check(strcmp(msg, "unknown default country \"Zz\"") == 0, "describe unknown country: %s", msg);
	parse_with("+44 123", 7, NULL, &p, &e);
	phone_describe(PHONE_TOO_SHORT, &e, msg, sizeof(msg));
	check(strcmp(msg, "too few digits: numbers for +44 have at least 7 digits after the country code, found 3") == 0,
		  "describe too short: %s", msg);
	parse_with("+33 1 23 45 67 89 0", 19, NULL, &p, &e);
	phone_describe(PHONE_TOO_LONG, &e, msg, sizeof(msg));
	check(strcmp(msg, "too many digits: numbers for +33 have 9 digits after the country code, found 10") == 0,
		  "describe too long: %s", msg);
	parse_with("415", 3, NULL, &p, &e);
	phone_describe(PHONE_NO_DEFAULT_COUNTRY, &e, msg, sizeof(msg));
	check(strncmp(msg, "no default country", 18) == 0, "describe no default: %s", msg);
	parse_with("+1 115 555 0100", 15, NULL, &p, &e);
	phone_describe(PHONE_BAD_AREA_CODE, &e, msg, sizeof(msg));
	check(strncmp(msg, "invalid area code 115 ", 22) == 0, "describe area: %s", msg);
	parse_with("+1 415 055 0100", 15, NULL, &p, &e);
	phone_describe(PHONE_BAD_EXCHANGE, &e, msg, sizeof(msg));
	check(strncmp(msg, "invalid exchange code 055 ", 26) == 0, "describe exchange: %s", msg);
	parse_with("+44 0 0207946095", 16, NULL, &p, &e);
	phone_describe(PHONE_LEADING_ZERO, &e, msg, sizeof(msg));
	check(strcmp(msg, "the national number after +44 cannot begin with 0") == 0, "describe zero: %s", msg);
	parse_with("+1 415 555 0100 x123456789012", 29, NULL, &p, &e);
	phone_describe(PHONE_EXT_TOO_LONG, &e, msg, sizeof(msg));
	check(strcmp(msg, "the extension is too long: more than 10 digits") == 0, "describe ext: %s", msg);
	parse_with("+1 415 555 0100 \x80", 17, NULL, &p, &e);
	phone_describe(PHONE_BAD_CHAR, &e, msg, sizeof(msg));
	check(strcmp(msg, "bad character '\\x80' at position 17") == 0, "describe non-ascii: %s", msg);
	parse_with("+1 41\xc3\xa9 555 0100", 16, NULL, &p, &e);
	phone_describe(PHONE_BAD_CHAR, &e, msg, sizeof(msg));
	check(strcmp(msg, "bad character U+00E9 '\xc3\xa9' at position 6") == 0, "describe unicode: %s", msg);
	parse_with("\xc2\xa0+1 415\xe2\x80\xa2" "555 0100", 18, NULL, &p, &e);
	phone_describe(PHONE_BAD_CHAR, &e, msg, sizeof(msg));
	check(strcmp(msg, "bad character U+2022 '\xe2\x80\xa2' at position 8") == 0 && e.pos == 8,
		  "describe unicode position in characters: %s", msg);
	check(phone_describe(PHONE_EMPTY, NULL, msg, sizeof(msg)) > 0 &&
		  strcmp(msg, "the phone number is empty") == 0, "describe without err");
	check(phone_describe(PHONE_TOO_SHORT, &e, NULL, 0) == 0, "describe NULL buffer");
	check(phone_describe(PHONE_BAD_CHAR, &e, msg, 4) == 0 && msg[0] == '\0',
		  "describe tiny buffer (pieces dropped whole)");
	(*ncase) += 19;

	for (n = 0; n < PHONE_STATUS_COUNT; n++)
	{
		const char *m = phone_status_message((phone_status) n);

		check(m[0] >= 'a' && m[0] <= 'z' && strcmp(phone_status_name((phone_status) n), "unknown") != 0,
			  "phone status %d message/name", n);
		(*ncase)++;
	}

	/* formatters: buffer sizes */
	check(parse_with("+1 415 555 0100 x1234567890", 27, NULL, &p, NULL) == PHONE_OK, "setup");
	n = phone_format_e164(&p, buf, sizeof(buf));
	check(n == 27 && strcmp(buf, "+14155550100;ext=1234567890") == 0, "e164 with ext: %s", buf);
	check(phone_format_e164(&p, buf, 28) == 27, "e164 exact buffer");
	check(phone_format_e164(&p, buf, 27) == -1 && buf[0] == '\0', "e164 short buffer (no room for NUL)");
	check(phone_format_e164(&p, NULL, 0) == -1, "e164 NULL buffer");
	check(phone_format_international(&p, buf, 10) == -1 && buf[0] == '\0', "intl short buffer");
	check(phone_format_national(&p, buf, 10) == -1 && buf[0] == '\0', "national short buffer");
	(*ncase) += 6;

	/* the longest canonical text fits PHONE_TEXT_BUFSZ */
	check(parse_with("+882 123456789012 x1234567890", 29, NULL, &p, NULL) == PHONE_OK, "longest setup");
	n = phone_format_e164(&p, buf, PHONE_TEXT_BUFSZ);
	check(n == PHONE_MAX_TEXT, "longest canonical text is PHONE_MAX_TEXT (%d)", n);
	n = phone_format_international(&p, buf, sizeof(buf));
	check(n > 0 && n < PHONE_FORMAT_BUFSZ, "longest international fits (%d)", n);
	n = phone_format_national(&p, buf, sizeof(buf));
	check(n > 0 && n < PHONE_FORMAT_BUFSZ, "longest national fits (%d)", n);
	(*ncase) += 3;

	/* invalid structs are refused by every function */
	memset(&q, 0, sizeof(q));
	check(phone_format_e164(&q, buf, sizeof(buf)) == -1 && phone_region(&q) == NULL &&
		  phone_country_code(&q) == 0 && !phone_is_valid(&q) && !phone_is_valid(NULL),
		  "zero struct refused");
	check(parse_with("+44 20 7946 0958", 16, NULL, &p, NULL) == PHONE_OK, "setup 2");
	q = p;
	q.digits[5] = 'x';
	check(phone_format_e164(&q, buf, sizeof(buf)) == -1, "non-digit refused");
	q = p;
	q.cc_len = 3;
	check(phone_format_e164(&q, buf, sizeof(buf)) == -1, "wrong cc_len refused");
	q = p;
	q.ndigits = 16;
	check(phone_format_e164(&q, buf, sizeof(buf)) == -1, "ndigits overflow refused");
	q = p;
	q.digits[q.ndigits] = '1';
	check(phone_format_e164(&q, buf, sizeof(buf)) == -1, "missing NUL refused");
	q = p;
	q.ext_len = 11;
	check(phone_format_e164(&q, buf, sizeof(buf)) == -1, "ext overflow refused");
	q = p;
	memcpy(q.digits, "4402079460958", 14);
	q.ndigits = 13;
	check(phone_format_e164(&q, buf, sizeof(buf)) == -1, "leading zero NSN refused");
	(*ncase) += 7;

	/* ordering */
	{
		phone_number a;
		phone_number b;

		parse_with("+14155550100", 12, NULL, &a, NULL);
		parse_with("+14155550100 x1", 15, NULL, &b, NULL);
		check(phone_cmp(&a, &b) < 0 && phone_cmp(&b, &a) > 0 && phone_cmp(&a, &a) == 0, "cmp ext");
		parse_with("+442079460958", 13, NULL, &b, NULL);
		check(phone_cmp(&a, &b) < 0, "cmp digits");
		(*ncase) += 2;
	}
}

/* Phone tests. */
static void
test_phone(void)
{
	size_t		i;
	int			nok = 0;
	int			nbad = 0;
	int			nother = 0;
	char		regions[128][3];
	size_t		nregions = 0;

	for (i = 0; i < sizeof(phone_ok_cases) / sizeof(phone_ok_cases[0]); i++)
	{
		const char *w = phone_ok_cases[i].where;
		size_t		k;

		check_phone_ok(&phone_ok_cases[i]);
		nok++;
		if (w == NULL || strlen(w) != 2)
			continue;
		for (k = 0; k < nregions && strcmp(regions[k], w) != 0; k++)
			;
		if (k == nregions && nregions < 128)
			memcpy(regions[nregions++], w, 3);
	}
	for (i = 0; i < sizeof(phone_bad_cases) / sizeof(phone_bad_cases[0]); i++)
	{
		check_phone_bad(&phone_bad_cases[i]);
		nbad++;
	}
	check(nregions >= 30, "valid phone cases cover %zu regions (want >= 30)", nregions);
	test_phone_tables(&nother);
	test_phone_prefix_facts(&nother);
	test_phone_api(&nother);
	printf("phone: %d valid, %d invalid, %d other cases; %zu+ regions\n", nok, nbad, nother, nregions);
}

/* Exhaustive-ish round trip: every assigned code with synthetic NSNs. */
static void
test_phone_synthetic(void)
{
	size_t		i;
	int			ncase = 0;

	for (i = 0; i < phone_cc_table_len; i++)
	{
		const phone_cc_info *c = &phone_cc_table[i];
		unsigned	len;

		for (len = c->min_nsn; len <= c->max_nsn; len++)
		{
			char		in[40];
			char		t[PHONE_TEXT_BUFSZ];
			char		t2[PHONE_FORMAT_BUFSZ];
			phone_number p;
			phone_status st;
			size_t		o;
			unsigned	k;

			o = (size_t) snprintf(in, sizeof(in), "+%u ", c->cc);
			for (k = 0; k < len; k++)
				in[o++] = (char) ('2' + (k * 7 + len) % 8);
			in[o] = '\0';
			st = parse_with(in, o, NULL, &p, NULL);
			check(st == PHONE_OK, "synthetic %s: %s", in, phone_status_name(st));
			if (st != PHONE_OK)
				continue;
			phone_format_e164(&p, t, sizeof(t));
			check_reparse(&p, t, NULL, "e164", in);
			phone_format_international(&p, t2, sizeof(t2));
			check_reparse(&p, t2, NULL, "international", in);
			if (!(c->flags & PHONE_CC_NONGEO))
			{
				const char *w = phone_region(&p);

				phone_format_national(&p, t2, sizeof(t2));
				check(w != NULL, "synthetic %s region", in);
				if (w)
					check_reparse(&p, t2, w, "national", in);
			}
			ncase++;
		}
	}
	printf("phone synthetic round trips: %d cases\n", ncase);
}

/* Run everything; last line is the summary. */
int
main(void)
{
	test_email();
	test_email_cmp_hash();
	test_phone();
	test_phone_synthetic();
	printf("%d passed, %d failed\n", n_passed, n_failed);
	return n_failed == 0 ? 0 : 1;
}
