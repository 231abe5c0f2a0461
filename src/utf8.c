/*
 * utf8.c
 *		Decoding one UTF-8 character and formatting a code point (see utf8.h).
 */
#include "utf8.h"

/* Decode the character at s[0..len) (see utf8.h). */
size_t
utf8_decode(const char *s, size_t len, int32_t *cp)
{
	const unsigned char *u = (const unsigned char *) s;
	size_t		n,
				i;
	int32_t		v,
				min;

	if (u[0] < 0x80)
	{
		*cp = u[0];
		return 1;
	}
	if ((u[0] & 0xE0) == 0xC0)
	{
		n = 2;
		v = u[0] & 0x1F;
		min = 0x80;
	}
	else if ((u[0] & 0xF0) == 0xE0)
	{
		n = 3;
		v = u[0] & 0x0F;
		min = 0x800;
	}
	else if ((u[0] & 0xF8) == 0xF0)
	{
		n = 4;
		v = u[0] & 0x07;
		min = 0x10000;
	}
	else
		goto invalid;
	if (n > len)
		goto invalid;
	for (i = 1; i < n; i++)
	{
		if ((u[i] & 0xC0) != 0x80)
			goto invalid;
		v = (v << 6) | (u[i] & 0x3F);
	}
	if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		goto invalid;
	*cp = v;
	return n;

invalid:
	*cp = UTF8_INVALID;
	return 1;
}

/* "U+" and the code point in upper-case hex, at least four digits. */
void
utf8_format_cp(int32_t cp, char *buf)
{
	static const char hex[] = "0123456789ABCDEF";
	uint32_t	v = cp < 0 ? 0 : (uint32_t) cp;
	int			digits = v > 0xFFFFF ? 6 : v > 0xFFFF ? 5 : 4;
	int			i;

	buf[0] = 'U';
	buf[1] = '+';
	for (i = 0; i < digits; i++)
		buf[2 + i] = hex[(v >> (4 * (digits - 1 - i))) & 15];
	buf[2 + digits] = '\0';
}
