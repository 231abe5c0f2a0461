/*-------------------------------------------------------------------------
 *
 * phone_parse.h
 *	  Public interface of the crm telephone number parser/formatter.
 *
 * Turns what people type ("+1 (415) 555-0100", "0049 30 1234567",
 * "030 1234567" with default country DE, "tel:+1-415-555-0100;ext=12",
 * "(415) 555-0100 x12", ...) into an E.164 number plus an optional
 * extension, and formats such numbers back to text.
 *
 * Pure C11, no PostgreSQL headers, no allocation, no global mutable state.
 * Inputs are (pointer, length) pairs and are never read past their length;
 * they need not be NUL-terminated.  Outputs go to caller buffers whose
 * maximum needed sizes are given by the constants below.
 *
 * Accepted input
 * --------------
 *	- UTF-8 text as people paste it is first normalised: the digits of
 *	  other scripts (Arabic-Indic U+0660.., Persian/Urdu U+06F0..,
 *	  Devanagari U+0966.., Bengali U+09E6.., full-width U+FF10..) read as
 *	  ASCII digits, U+FF0B FULLWIDTH PLUS SIGN as '+', Unicode spaces
 *	  (U+00A0, U+2000..U+200A, U+202F, U+205F, U+3000) as spaces, dashes
 *	  (U+2010..U+2015, U+2212, U+30FC, U+FF0D) as '-', full-width brackets,
 *	  full stop and solidus as their ASCII forms; U+00AD SOFT HYPHEN and the
 *	  invisible U+200B..U+200D, U+2060 and U+FEFF are ignored;
 *	- an optional label before the number: letters, dots and blanks ending
 *	  in ':' ("tel:" -- RFC 3966, whose only URI parameter understood is
 *	  ";ext=" --, "Phone:", "Tel.:", "M:");
 *	- optional leading '+' (before any digit) introducing the country code;
 *	- digits; separators: space/tab, '-', '.', '(', ')', '/';
 *	- letters, read as keypad digits (ABC 2 .. WXYZ 9), when the number has
 *	  at least three of them after at least two digits (1-800-FLOWERS), as
 *	  libphonenumber does; fewer letters ("01OO") are an error;
 *	- an optional extension at the very end: a marker "ext", "ext.",
 *	  "extn", "extension", "anexo", "x", "#" or ";ext=" (case-insensitive,
 *	  after a digit, not continuing a word, optionally preceded by a comma
 *	  and followed by '.', ':' or spaces) and 1..10 digits;
 *	- without '+', the number is read using the default country: its
 *	  international dialling prefix(es) (011 in NANP, 010 in JP, 0011 in
 *	  AU, 810 in RU, ...; the ITU-recommended "00" is accepted everywhere as
 *	  well) introduce a country code; otherwise the national trunk prefix
 *	  (0, 1 in NANP, 8 in RU, 06 in HU, none in IT/ES/DK/...) is dropped and
 *	  the default country's calling code is used.  With no default country
 *	  only "+" or "00" numbers can be parsed.
 *	- any other character is rejected with PHONE_BAD_CHAR, and the error
 *	  names it: its code point and its position in characters.
 *
 * Validation
 * ----------
 *	- the country calling code must be assigned (see phone_data.c);
 *	- the national significant number (NSN, the digits after the country
 *	  code) must have a length in the range published for that code, never
 *	  fewer than PHONE_MIN_NSN digits, and the whole E.164 number never more
 *	  than PHONE_MAX_DIGITS digits;
 *	- NANP (+1): exactly 10 national digits, area code and exchange code not
 *	  beginning with 0 or 1, area code not of the N11 service form;
 *	- where the trunk prefix is "0" (GB, DE, FR, ...), a 0 right after the
 *	  country code is the trunk prefix written by habit ("+44 (0)20 ...")
 *	  and is dropped; a second 0 is an error.  Countries that keep their
 *	  leading 0 in E.164 (IT, SM, VA, CI, CG, GA, ...) are left alone;
 *	- +52 (MX): the obsolete mobile "1" after the country code is dropped.
 *	Numbers are not checked against per-operator ranges: a number of the
 *	right shape in an assigned code is accepted.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CRM_PHONE_PARSE_H
#define CRM_PHONE_PARSE_H

#include <stddef.h>
#include <stdint.h>

#define PHONE_MAX_DIGITS	15	/* E.164 digits, country code included */
#define PHONE_MIN_NSN		4	/* never fewer national digits */
#define PHONE_MAX_EXT		10	/* extension digits */

/* longest canonical text: "+" 15 digits ";ext=" 10 digits */
#define PHONE_MAX_TEXT		(1 + PHONE_MAX_DIGITS + 5 + PHONE_MAX_EXT)
/* buffer that always holds phone_format_e164() output plus NUL */
#define PHONE_TEXT_BUFSZ	(PHONE_MAX_TEXT + 1)
/* buffer that always holds any phone_format_*() output plus NUL */
#define PHONE_FORMAT_BUFSZ	64
/* buffer that always holds phone_describe() output plus NUL */
#define PHONE_DESCRIBE_BUFSZ 160

typedef enum phone_status
{
	PHONE_OK = 0,
	PHONE_EMPTY,				/* nothing but whitespace */
	PHONE_BAD_CHAR,				/* character not allowed (see err) */
	PHONE_TOO_SHORT,			/* too few digits */
	PHONE_TOO_LONG,				/* too many digits */
	PHONE_UNASSIGNED_CC,		/* country calling code not assigned */
	PHONE_NO_DEFAULT_COUNTRY,	/* national number, no default country */
	PHONE_UNKNOWN_COUNTRY,		/* default country not recognised */
	PHONE_EXT_EMPTY,			/* extension marker without digits */
	PHONE_EXT_TOO_LONG,			/* extension longer than 10 digits */
	PHONE_BAD_AREA_CODE,		/* NANP area code 0xx/1xx/N11 */
	PHONE_BAD_EXCHANGE,			/* NANP exchange code 0xx/1xx */
	PHONE_LEADING_ZERO			/* national number may not start with 0 */
} phone_status;

/* number of distinct phone_status values */
#define PHONE_STATUS_COUNT	((int) PHONE_LEADING_ZERO + 1)

/*
 * A parsed number.  digits/ext are NUL-terminated ASCII digit strings, so
 * the struct is self-contained (no pointers into the input).
 */
typedef struct phone_number
{
	char		digits[PHONE_MAX_DIGITS + 1];	/* E.164 digits, no '+' */
	char		ext[PHONE_MAX_EXT + 1]; /* extension digits, may be "" */
	uint8_t		ndigits;		/* strlen(digits): 5..15 */
	uint8_t		cc_len;			/* leading digits that are the country
								 * code: 1..3 */
	uint8_t		ext_len;		/* strlen(ext): 0..10 */
} phone_number;

/* Where and why a parse failed (for phone_describe()). */
typedef struct phone_error
{
	size_t		pos;			/* byte offset of the bad character */
	unsigned char ch;			/* PHONE_BAD_CHAR: its first byte */
	uint32_t	cp;				/* PHONE_BAD_CHAR: its code point (UTF-8),
								 * 0 when the bytes are not UTF-8 */
	unsigned	char_pos;		/* PHONE_BAD_CHAR: its position in
								 * characters, from 1 */
	uint8_t		text_len;		/* bytes used in text[] */
	char		text[8];		/* UNASSIGNED_CC: code digits tried;
								 * UNKNOWN_COUNTRY: first bytes of it;
								 * BAD_CHAR: the character's UTF-8 bytes */
	uint16_t	cc;				/* country code, when known (else 0) */
	unsigned	ndigits;		/* digits found (TOO_SHORT/TOO_LONG/EXT) */
	unsigned	min_digits;		/* bound that was violated */
	unsigned	max_digits;
} phone_error;

/*
 * Parse s[0..len) with an optional default country (ISO 3166 alpha-2,
 * case-insensitive, region[0..region_len); NULL or empty = none).
 * A non-empty region that is not a known alpha-2 code is an error
 * (PHONE_UNKNOWN_COUNTRY) even when the number has a '+'.  "001" is not a
 * valid default country.  On PHONE_OK *out is filled; on error *out is
 * zeroed and *err (if not NULL) tells where the problem is.  out may be
 * NULL to only validate.
 */
extern phone_status phone_parse(const char *s, size_t len,
								const char *region, size_t region_len,
								phone_number *out, phone_error *err);

/*
 * Formatters.  Each writes NUL-terminated text to buf[0..bufsz) and returns
 * its length, or -1 (writing "" if bufsz > 0) when bufsz is too small or *p
 * is not a valid number.  PHONE_FORMAT_BUFSZ always suffices.
 */

/* Canonical form "+<digits>" or "+<digits>;ext=<ext>"; parses back to *p. */
extern int	phone_format_e164(const phone_number *p, char *buf, size_t bufsz);

/*
 * "+1 415-555-0100", "+44 20 7946 0958 ext. 12": libphonenumber's
 * INTERNATIONAL format for the calling codes in phone_formats.c (see
 * phone_lpn.h), crm's own grouping for the others; parses back to *p.
 */
extern int	phone_format_international(const phone_number *p, char *buf,
									   size_t bufsz);

/*
 * National form as dialled inside the number's region: "(415) 555-0100",
 * "020 7946 0958", "06 1234 5678" (IT keeps its 0), "8 (495) 123-45-67",
 * "011 15-2345-6789"; libphonenumber's NATIONAL format where phone_lpn.c
 * has its metadata.
 * Parsing it with the number's region (phone_region()) gives *p back: when
 * a national form would be ambiguous (it would read as an international
 * call, or the number is not dialled with the trunk prefix), and for
 * non-geographic numbers (+800 ...), the international form is written.
 */
extern int	phone_format_national(const phone_number *p, char *buf,
								  size_t bufsz);

/*
 * ISO 3166 alpha-2 region of a number ("US", "CA", "JM", "GB", "GG", "KZ",
 * ...), "001" for non-geographic codes, NULL if *p is not valid.  Within a
 * shared code the region is derived from leading digits when cheaply known,
 * otherwise the code's main region is returned.
 */
extern const char *phone_region(const phone_number *p);

/* Country calling code of a number (1..999), 0 if *p is not valid. */
extern int	phone_country_code(const phone_number *p);

/* Calling code for an alpha-2 region (case-insensitive), 0 if unknown. */
extern int	phone_region_calling_code(const char *region, size_t region_len);

/* True if *p is structurally valid (as produced by phone_parse()). */
extern int	phone_is_valid(const phone_number *p);

/* Total order: by E.164 digits (as strings), then by extension. */
extern int	phone_cmp(const phone_number *a, const phone_number *b);

/* Static lower-case message for a status. */
extern const char *phone_status_message(phone_status st);

/* Short stable identifier for a status, e.g. "too_short". */
extern const char *phone_status_name(phone_status st);

/*
 * Detailed lower-case message, e.g. "bad character 'X' at position 5" or
 * "unassigned country calling code +28"; NUL-terminated, truncated to fit.
 * err may be NULL (static message).  Returns the length written.
 */
extern size_t phone_describe(phone_status st, const phone_error *err,
							 char *buf, size_t bufsz);

#endif							/* CRM_PHONE_PARSE_H */
