/*
 * fuzz_sla_calendar.c
 *		libFuzzer harness for src/sla_calendar.c.  The input is split at its
 *		first NUL byte: the part before is parsed as an hours document (and
 *		its first recurring holidays "MM-DD"); the 16 bytes after, if any,
 *		give a start and a span.  Nothing may crash, and when the hours
 *		parse: business_time lies between 0 and the span, and business_add
 *		is its inverse -- adding the open time of [a, b) to a lands at or
 *		before b with exactly that open time before it.  A synthetic zone
 *		with a daylight-saving change every 97 days exercises the offset
 *		walk.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sla_calendar.h"

/* offset +1h or +2h, changing every 97 days (on odd seconds) */
static bool
zone(void *ctx, int64_t t, int64_t *off, int64_t *next)
{
	int64_t		period = 97 * SLA_USEC_PER_DAY + 1000001;
	int64_t		k = t >= 0 ? t / period : -((-t + period - 1) / period);

	(void) ctx;
	*off = (k & 1) ? 7200000000LL : 3600000000LL;
	*next = (k + 1) * period;
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static SlaCalendar cal;
	const uint8_t *nul = memchr(data, 0, size);
	size_t		hlen = nul ? (size_t) (nul - data) : size;
	char		err[256];
	int32_t		hol[4];
	uint64_t	x = 0,
				y = 0;
	int64_t		a,
				b,
				open,
				t,
				back;

	sla_calendar_init(&cal);
	if (sla_parse_hours(&cal, (const char *) data, hlen, err, sizeof(err)) != SLA_OK)
	{
		if (memchr(err, 0, sizeof(err)) == NULL)
			abort();
		return 0;
	}
	if (cal.week_open < 0 || cal.week_open > 7 * SLA_USEC_PER_DAY)
		abort();
	(void) sla_add_recurring(&cal, (const char *) data, hlen < 5 ? hlen : 5, err, sizeof(err));
	if (!nul || size - hlen - 1 < 16)
		return 0;
	memcpy(&x, nul + 1, 8);
	memcpy(&y, nul + 9, 8);
	/* a start within 1900..2100 and a span up to about 30 years */
	a = (int64_t) (x % (200ULL * 366 * 86400000000ULL)) - (int64_t) (100ULL * 365 * 86400000000ULL);
	b = a + (int64_t) (y % (30ULL * 366 * 86400000000ULL));
	hol[0] = (int32_t) (a / SLA_USEC_PER_DAY) + 1;
	hol[1] = hol[0] + 3;
	hol[2] = hol[0] + 400;
	hol[3] = hol[0];
	sla_set_holidays(&cal, hol, 4);
	if (sla_business_time(&cal, zone, NULL, a, b, &open) != SLA_OK)
		abort();
	if (open < 0 || open > b - a)
		abort();
	if (!sla_has_open_time(&cal))
		return 0;
	if (sla_business_add(&cal, zone, NULL, a, open, &t) != SLA_OK)
		abort();
	if (t < a || t > b)
		abort();
	if (sla_business_time(&cal, zone, NULL, a, t, &back) != SLA_OK || back != open)
		abort();
	return 0;
}
