/*
 * test_sla_calendar.c
 *		Unit tests of src/sla_calendar.c (pure C, no server): the hours
 *		parser's verdicts, hand-computed business_add/business_time cases
 *		in a fixed zone and in synthetic zones with the European and the US
 *		daylight-saving rules, and a randomized comparison against a slow
 *		minute-by-minute reference written here.  Prints one line per
 *		failure and "N passed, M failed" last; exits non-zero on a failure.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sla_calendar.h"

#define MIN SLA_USEC_PER_MINUTE
#define HOUR (60 * MIN)
#define DAY SLA_USEC_PER_DAY

static int	passed,
			failed;

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

/* UTC instant of a UTC wall time */
static int64_t
utc(int y, int mo, int d, int h, int mi)
{
	return (int64_t) sla_days_from_civil(y, mo, d) * DAY + h * HOUR + mi * MIN;
}

/* ---- zones ---- */

static bool
zone_fixed(void *ctx, int64_t t, int64_t *off, int64_t *next)
{
	(void) t;
	*off = *(int64_t *) ctx;
	*next = SLA_NEVER;
	return true;
}

/* the day of the last Sunday of a month / the n-th Sunday */
static int32_t
last_sunday(int y, int m)
{
	int32_t		d = sla_days_from_civil(y, m + 1, 1) - 1;	/* m < 12 here */

	/* day 0 (2000-01-01) is a Saturday: Sunday is d % 7 == 1 */
	while (((d % 7) + 7) % 7 != 1)
		d--;
	return d;
}

static int32_t
nth_sunday(int y, int m, int n)
{
	int32_t		d = sla_days_from_civil(y, m, 1);

	while (((d % 7) + 7) % 7 != 1)
		d++;
	return d + 7 * (n - 1);
}

/* Europe/Berlin since 1996: +1, +2 from the last Sunday of March 01:00 UTC to the last Sunday of October 01:00 UTC */
static void
eu_changes(int y, int64_t *a, int64_t *b)
{
	*a = (int64_t) last_sunday(y, 3) * DAY + 1 * HOUR;
	*b = (int64_t) last_sunday(y, 10) * DAY + 1 * HOUR;
}

/* America/New_York since 2007: -5, -4 from the 2nd Sunday of March 07:00 UTC to the 1st Sunday of November 06:00 UTC */
static void
us_changes(int y, int64_t *a, int64_t *b)
{
	*a = (int64_t) nth_sunday(y, 3, 2) * DAY + 7 * HOUR;
	*b = (int64_t) nth_sunday(y, 11, 1) * DAY + 6 * HOUR;
}

static bool
zone_rule(void *ctx, int64_t t, int64_t *off, int64_t *next)
{
	int			us = *(int *) ctx;
	int32_t		y;
	int			m,
				d;
	int64_t		a,
				b;
	int64_t		std = us ? -5 * HOUR : 1 * HOUR;

	sla_civil_from_days((int32_t) ((t >= 0 ? t : t - DAY + 1) / DAY), &y, &m, &d);
	if (us)
		us_changes(y, &a, &b);
	else
		eu_changes(y, &a, &b);
	if (t < a)
	{
		*off = std;
		*next = a;
	}
	else if (t < b)
	{
		*off = std + HOUR;
		*next = b;
	}
	else
	{
		int64_t		a2,
					b2;

		if (us)
			us_changes(y + 1, &a2, &b2);
		else
			eu_changes(y + 1, &a2, &b2);
		*off = std;
		*next = a2;
	}
	return true;
}

/* ---- the slow reference: one minute at a time ---- */

/* whether local minute-of-day range of a day is open (weekly pattern only) */
typedef struct Ref
{
	bool		open[7][1440];	/* weekday (mon = 0), minute */
	int32_t		hol[64];
	int			nhol;
	int			rec[16][2];
	int			nrec;
} Ref;

static void
ref_add(Ref *r, int day, int s, int e)
{
	int			end = e > s ? e : e + 1440;

	for (int m = s; m < end; m++)
		r->open[(day + m / 1440) % 7][m % 1440] = true;
}

static bool
ref_holiday(const Ref *r, int32_t d)
{
	int32_t		y;
	int			m,
				dd;

	for (int i = 0; i < r->nhol; i++)
		if (r->hol[i] == d)
			return true;
	sla_civil_from_days(d, &y, &m, &dd);
	for (int i = 0; i < r->nrec; i++)
		if (r->rec[i][0] == m && r->rec[i][1] == dd)
			return true;
	return false;
}

static bool
ref_open_minute(const Ref *r, SlaZoneFn zone, void *zctx, int64_t t)
{
	int64_t		off,
				next,
				local;
	int32_t		d;
	int			wd;

	zone(zctx, t, &off, &next);
	local = t + off;
	d = (int32_t) ((local >= 0 ? local : local - DAY + 1) / DAY);
	if (ref_holiday(r, d))
		return false;
	wd = (((d - 2) % 7) + 7) % 7;	/* 2000-01-03 was a Monday */
	return r->open[wd][(local - (int64_t) d * DAY) / MIN];
}

/* ---- cases ---- */

static SlaCalendar cal;
static int32_t hol_buf[64];

static void
setup(const char *hours)
{
	char		err[256];
	SlaStatus	st;

	sla_calendar_init(&cal);
	st = sla_parse_hours(&cal, hours, strlen(hours), err, sizeof(err));
	if (st != SLA_OK)
		printf("setup failed: %s: %s\n", hours, err);
}

static void
parse_is(const char *hours, SlaStatus expected, const char *errpart)
{
	SlaCalendar c;
	char		err[256] = "";
	char		what[600];
	SlaStatus	st = sla_parse_hours(&c, hours, strlen(hours), err, sizeof(err));

	snprintf(what, sizeof(what), "parse %s: status %d (%s), expected %d", hours, (int) st, err, (int) expected);
	check(st == expected && (errpart == NULL || strstr(err, errpart) != NULL), what);
}

static void
add_is(SlaZoneFn z, void *zc, int64_t start, int minutes, int64_t expected, const char *label)
{
	int64_t		r = 0,
				back = -1;
	char		what[300];
	SlaStatus	st = sla_business_add(&cal, z, zc, start, (int64_t) minutes * MIN, &r);

	snprintf(what, sizeof(what), "%s: add %d min: got %" PRId64 " min after start, expected %" PRId64,
			 label, minutes, (r - start) / MIN, (expected - start) / MIN);
	check(st == SLA_OK && r == expected, what);
	/* the inverse: exactly that much open time up to the result */
	sla_business_time(&cal, z, zc, start, r, &back);
	snprintf(what, sizeof(what), "%s: business_time back = %" PRId64 " usec, expected %d min", label, back, minutes);
	check(back == (int64_t) minutes * MIN, what);
}

static void
time_is(SlaZoneFn z, void *zc, int64_t a, int64_t b, int64_t minutes, const char *label)
{
	int64_t		r = -1;
	char		what[300];
	SlaStatus	st = sla_business_time(&cal, z, zc, a, b, &r);

	snprintf(what, sizeof(what), "%s: business_time = %" PRId64 " min, expected %" PRId64, label, r / MIN, minutes);
	check(st == SLA_OK && r == minutes * MIN, what);
}

static const char *office = "{\"mon\": [[\"09:00\",\"12:00\"],[\"13:00\",\"17:00\"]], \"tue\": [[\"09:00\",\"12:00\"],[\"13:00\",\"17:00\"]],"
	"\"wed\": [[\"09:00\",\"12:00\"],[\"13:00\",\"17:00\"]], \"thu\": [[\"09:00\",\"12:00\"],[\"13:00\",\"17:00\"]],"
	"\"fri\": [[\"09:00\",\"12:00\"],[\"13:00\",\"17:00\"]], \"sat\": [], \"sun\": []}";

static void
test_parser(void)
{
	parse_is(office, SLA_OK, NULL);
	parse_is("{}", SLA_OK, NULL);
	parse_is(" { \"mon\" : [ ] } ", SLA_OK, NULL);
	parse_is("{\"mon\": [[\"22:00\",\"06:00\"]]}", SLA_OK, NULL);
	parse_is("{\"sun\": [[\"22:00\",\"06:00\"]], \"mon\": [[\"06:00\",\"10:00\"]]}", SLA_OK, NULL);
	parse_is("{\"mon\": [[\"00:00\",\"24:00\"]]}", SLA_OK, NULL);
	parse_is("{\"monday\": []}", SLA_ERR_DAY, "\"monday\" is not a day key");
	parse_is("{\"mon\": [], \"mon\": []}", SLA_ERR_DAY, "twice");
	parse_is("{\"mon\": [[\"25:00\",\"26:00\"]]}", SLA_ERR_TIME, "\"25:00\"");
	parse_is("{\"mon\": [[\"09:60\",\"10:00\"]]}", SLA_ERR_TIME, NULL);
	parse_is("{\"mon\": [[\"9:00\",\"10:00\"]]}", SLA_ERR_TIME, NULL);
	parse_is("{\"mon\": [[\"24:00\",\"10:00\"]]}", SLA_ERR_INTERVAL, "24:00");
	parse_is("{\"mon\": [[\"09:00\",\"12:00\"],[\"11:00\",\"13:00\"]]}", SLA_ERR_OVERLAP, "overlaps");
	parse_is("{\"mon\": [[\"22:00\",\"06:00\"]], \"tue\": [[\"05:00\",\"09:00\"]]}", SLA_ERR_OVERLAP, "\"tue\"");
	parse_is("{\"sun\": [[\"22:00\",\"06:00\"]], \"mon\": [[\"05:00\",\"09:00\"]]}", SLA_ERR_OVERLAP, NULL);
	parse_is("{\"mon\": [[\"09:00\"]]}", SLA_ERR_SYNTAX, NULL);
	parse_is("{\"mon\": [[\"09:00\",\"10:00\"]] x", SLA_ERR_SYNTAX, NULL);
	parse_is("[]", SLA_ERR_SYNTAX, NULL);
	parse_is("{\"mon\": [[\"09:00\",\"10:00\"]]} extra", SLA_ERR_SYNTAX, NULL);
	parse_is("", SLA_ERR_SYNTAX, NULL);
	/* touching intervals merge into one segment */
	setup("{\"mon\": [[\"09:00\",\"12:00\"],[\"12:00\",\"17:00\"]]}");
	check(cal.nseg == 1 && cal.week_open == 8 * HOUR, "touching intervals merge");
	{
		char		err[100];
		SlaCalendar c;

		sla_calendar_init(&c);
		check(sla_add_recurring(&c, "12-25", 5, err, sizeof err) == SLA_OK, "recurring 12-25");
		check(sla_add_recurring(&c, "02-29", 5, err, sizeof err) == SLA_OK, "recurring 02-29");
		check(sla_add_recurring(&c, "02-30", 5, err, sizeof err) == SLA_ERR_HOLIDAY, "recurring 02-30 refused");
		check(sla_add_recurring(&c, "13-01", 5, err, sizeof err) == SLA_ERR_HOLIDAY, "recurring 13-01 refused");
		check(sla_add_recurring(&c, "1-1", 3, err, sizeof err) == SLA_ERR_HOLIDAY, "recurring 1-1 refused");
		check(c.nrecurring == 2, "two recurring holidays");
	}
}

static void
test_hand(void)
{
	int64_t		zero = 0;
	int			eu = 0,
				us = 1;

	setup(office);
	/* Wed 2025-01-15 10:00 UTC: 2h to noon, 4h afternoon, 2h on Thursday: 11:00 */
	add_is(zone_fixed, &zero, utc(2025, 1, 15, 10, 0), 480, utc(2025, 1, 16, 11, 0), "office +8h");
	/* a deadline exactly at closing time is that closing time */
	add_is(zone_fixed, &zero, utc(2025, 1, 15, 9, 0), 180, utc(2025, 1, 15, 12, 0), "ends at lunch");
	add_is(zone_fixed, &zero, utc(2025, 1, 15, 9, 0), 420, utc(2025, 1, 15, 17, 0), "ends at closing");
	/* start on a closed day (Saturday) */
	add_is(zone_fixed, &zero, utc(2025, 1, 18, 11, 0), 1, utc(2025, 1, 20, 9, 1), "start on Saturday");
	/* start at lunch */
	add_is(zone_fixed, &zero, utc(2025, 1, 15, 12, 30), 30, utc(2025, 1, 15, 13, 30), "start at lunch");
	/* zero minutes: the start itself, even when closed */
	add_is(zone_fixed, &zero, utc(2025, 1, 18, 11, 0), 0, utc(2025, 1, 18, 11, 0), "zero minutes");
	/* a whole week of work from Monday 09:00 is Friday 17:00 */
	add_is(zone_fixed, &zero, utc(2025, 1, 13, 9, 0), 5 * 420, utc(2025, 1, 17, 17, 0), "one week");
	/* several years: 2025-01-13 + 520 weeks of work (no holidays) */
	add_is(zone_fixed, &zero, utc(2025, 1, 13, 9, 0), 520 * 5 * 420, utc(2034, 12, 29, 17, 0), "520 weeks");
	time_is(zone_fixed, &zero, utc(2025, 1, 13, 0, 0), utc(2025, 1, 20, 0, 0), 2100, "a week");
	time_is(zone_fixed, &zero, utc(2025, 1, 15, 12, 0), utc(2025, 1, 15, 13, 0), 0, "lunch hour");

	/* a holiday on a Friday */
	hol_buf[0] = sla_days_from_civil(2025, 1, 17);
	sla_set_holidays(&cal, hol_buf, 1);
	add_is(zone_fixed, &zero, utc(2025, 1, 16, 16, 0), 120, utc(2025, 1, 20, 10, 0), "Friday holiday");
	time_is(zone_fixed, &zero, utc(2025, 1, 13, 0, 0), utc(2025, 1, 20, 0, 0), 1680, "week with a Friday holiday");
	sla_set_holidays(&cal, hol_buf, 0);

	/* a recurring holiday across a year boundary: 12-31 and 01-01 */
	{
		char		err[64];

		sla_add_recurring(&cal, "12-31", 5, err, sizeof err);
		sla_add_recurring(&cal, "01-01", 5, err, sizeof err);
		/* Tue 2024-12-31 and Wed 2025-01-01 are closed: Mon 12-30 16:00 + 2h = Thu 01-02 10:00 */
		add_is(zone_fixed, &zero, utc(2024, 12, 30, 16, 0), 120, utc(2025, 1, 2, 10, 0), "recurring over new year");
		/* the next year too: Wed 2025-12-31 and Thu 2026-01-01 */
		add_is(zone_fixed, &zero, utc(2025, 12, 30, 16, 0), 120, utc(2026, 1, 2, 10, 0), "recurring next year");
		cal.nrecurring = 0;
	}

	/* overnight shifts: Mon-Fri 22:00-06:00 */
	setup("{\"mon\": [[\"22:00\",\"06:00\"]], \"tue\": [[\"22:00\",\"06:00\"]], \"wed\": [[\"22:00\",\"06:00\"]],"
		  "\"thu\": [[\"22:00\",\"06:00\"]], \"fri\": [[\"22:00\",\"06:00\"]]}");
	add_is(zone_fixed, &zero, utc(2025, 1, 13, 12, 0), 60, utc(2025, 1, 13, 23, 0), "night shift");
	add_is(zone_fixed, &zero, utc(2025, 1, 17, 23, 0), 480, utc(2025, 1, 20, 23, 0), "Friday night into Monday");
	/* a holiday cuts the part of the previous night that reaches into it */
	hol_buf[0] = sla_days_from_civil(2025, 1, 14);
	sla_set_holidays(&cal, hol_buf, 1);
	time_is(zone_fixed, &zero, utc(2025, 1, 13, 0, 0), utc(2025, 1, 15, 12, 0), 120 + 360, "holiday cuts overnight");
	sla_set_holidays(&cal, hol_buf, 0);

	/* Europe/Berlin, 24x7: the spring-forward night has 23 hours */
	setup("{\"mon\": [[\"00:00\",\"24:00\"]], \"tue\": [[\"00:00\",\"24:00\"]], \"wed\": [[\"00:00\",\"24:00\"]],"
		  "\"thu\": [[\"00:00\",\"24:00\"]], \"fri\": [[\"00:00\",\"24:00\"]], \"sat\": [[\"00:00\",\"24:00\"]], \"sun\": [[\"00:00\",\"24:00\"]]}");
	/* Sunday 2025-03-30 local day = 2025-03-29 23:00 UTC .. 2025-03-30 22:00 UTC */
	time_is(zone_rule, &eu, utc(2025, 3, 29, 23, 0), utc(2025, 3, 30, 22, 0), 23 * 60, "Berlin spring day");
	time_is(zone_rule, &eu, utc(2025, 10, 25, 22, 0), utc(2025, 10, 26, 23, 0), 25 * 60, "Berlin fall day");

	/* Berlin, Sunday 01:00-04:00 local only */
	setup("{\"sun\": [[\"01:00\",\"04:00\"]]}");
	/* spring: 01:00 CET = 00:00 UTC; 04:00 CEST = 02:00 UTC: 2 real hours */
	time_is(zone_rule, &eu, utc(2025, 3, 29, 0, 0), utc(2025, 3, 31, 0, 0), 120, "Berlin spring window");
	add_is(zone_rule, &eu, utc(2025, 3, 30, 0, 0), 90, utc(2025, 3, 30, 1, 30), "Berlin spring add");
	/* fall: 01:00 CEST = 23:00 UTC Sat; 04:00 CET = 03:00 UTC: 4 real hours */
	time_is(zone_rule, &eu, utc(2025, 10, 25, 0, 0), utc(2025, 10, 27, 0, 0), 240, "Berlin fall window");
	add_is(zone_rule, &eu, utc(2025, 10, 25, 23, 0), 210, utc(2025, 10, 26, 2, 30), "Berlin fall add");

	/* New York, Sunday 01:00-04:00 local */
	/* spring 2025-03-09: 01:00 EST = 06:00 UTC; 04:00 EDT = 08:00 UTC */
	time_is(zone_rule, &us, utc(2025, 3, 8, 0, 0), utc(2025, 3, 10, 0, 0), 120, "New York spring window");
	add_is(zone_rule, &us, utc(2025, 3, 9, 6, 0), 61, utc(2025, 3, 9, 7, 1), "New York spring add");
	/* fall 2025-11-02: 01:00 EDT = 05:00 UTC; 04:00 EST = 09:00 UTC */
	time_is(zone_rule, &us, utc(2025, 11, 1, 0, 0), utc(2025, 11, 3, 0, 0), 240, "New York fall window");
	add_is(zone_rule, &us, utc(2025, 11, 2, 5, 30), 180, utc(2025, 11, 2, 8, 30), "New York fall add");

	/* years: office hours in Berlin over ten years equal the sum of the years */
	setup(office);
	{
		int64_t		total = 0,
					part;

		for (int y = 2020; y < 2030; y++)
		{
			sla_business_time(&cal, zone_rule, &eu, utc(y, 1, 1, 0, 0), utc(y + 1, 1, 1, 0, 0), &part);
			total += part;
		}
		time_is(zone_rule, &eu, utc(2020, 1, 1, 0, 0), utc(2030, 1, 1, 0, 0), total / MIN, "ten years");
	}
}

/* deterministic PRNG */
static uint64_t rng = 88172645463325252ULL;
static uint64_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void
test_random(void)
{
	int			eu = 0,
				us = 1;
	int64_t		fixed = 2 * HOUR + 30 * MIN;

	for (int round = 0; round < 60; round++)
	{
		Ref			ref;
		char		hours[2048];
		size_t		pos = 0;
		static const char *keys[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
		SlaZoneFn	z = round % 3 == 2 ? zone_fixed : zone_rule;
		void	   *zc = round % 3 == 0 ? (void *) &eu : round % 3 == 1 ? (void *) &us : (void *) &fixed;
		char		err[256];

		memset(&ref, 0, sizeof(ref));
		/* random non-overlapping intervals: each day cut at random points */
		pos += snprintf(hours + pos, sizeof(hours) - pos, "{");
		for (int d = 0; d < 7; d++)
		{
			int			t = (int) (rnd() % 300);
			int			n = 0;

			pos += snprintf(hours + pos, sizeof(hours) - pos, "%s\"%s\": [", d ? ", " : "", keys[d]);
			while (t < 1440 && n < 3 && rnd() % 4 != 0)
			{
				int			s = t;
				int			e = s + 1 + (int) (rnd() % 400);

				if (e > 1440)
					e = 1440;
				pos += snprintf(hours + pos, sizeof(hours) - pos, "%s[\"%02d:%02d\", \"%02d:%02d\"]",
								n ? ", " : "", s / 60, s % 60, e / 60, e % 60);
				ref_add(&ref, d, s, e);
				t = e + 1 + (int) (rnd() % 200);
				n++;
			}
			pos += snprintf(hours + pos, sizeof(hours) - pos, "]");
		}
		pos += snprintf(hours + pos, sizeof(hours) - pos, "}");
		sla_calendar_init(&cal);
		if (sla_parse_hours(&cal, hours, pos, err, sizeof err) != SLA_OK)
		{
			check(0, err);
			continue;
		}
		ref.nhol = (int) (rnd() % 4);
		for (int i = 0; i < ref.nhol; i++)
			hol_buf[i] = ref.hol[i] = sla_days_from_civil(2025, 1 + (int) (rnd() % 12), 1 + (int) (rnd() % 28));
		sla_set_holidays(&cal, hol_buf, ref.nhol);
		ref.nrec = (int) (rnd() % 3);
		for (int i = 0; i < ref.nrec; i++)
		{
			char		mmdd[6];

			ref.rec[i][0] = 1 + (int) (rnd() % 12);
			ref.rec[i][1] = 1 + (int) (rnd() % 28);
			snprintf(mmdd, sizeof mmdd, "%02d-%02d", ref.rec[i][0], ref.rec[i][1]);
			sla_add_recurring(&cal, mmdd, 5, err, sizeof err);
		}
		if (cal.week_open == 0)
			continue;
		for (int k = 0; k < 20; k++)
		{
			/* a start in 2025 on a whole minute, a span up to 20 days */
			int64_t		a = utc(2025, 1, 1, 0, 0) + (int64_t) (rnd() % (365 * 1440)) * MIN;
			int64_t		span = (int64_t) (rnd() % (20 * 1440));
			int64_t		refmin = 0,
						got;
			int64_t		t;
			int			m = (int) (rnd() % 3000) + 1,
						acc = 0;
			int64_t		refadd = -1,
						gotadd;
			char		what[200];

			for (t = a; t < a + span * MIN; t += MIN)
				refmin += ref_open_minute(&ref, z, zc, t);
			sla_business_time(&cal, z, zc, a, a + span * MIN, &got);
			snprintf(what, sizeof what, "random round %d.%d business_time %" PRId64 " vs reference %" PRId64,
					 round, k, got / MIN, refmin);
			check(got == refmin * MIN, what);
			for (t = a; t < a + 400 * DAY; t += MIN)
				if (ref_open_minute(&ref, z, zc, t) && ++acc == m)
				{
					refadd = t + MIN;
					break;
				}
			if (refadd < 0)
				continue;
			sla_business_add(&cal, z, zc, a, (int64_t) m * MIN, &gotadd);
			snprintf(what, sizeof what, "random round %d.%d business_add %d: %" PRId64 " vs reference %" PRId64,
					 round, k, m, (gotadd - a) / MIN, (refadd - a) / MIN);
			check(gotadd == refadd, what);
		}
	}
}

int
main(void)
{
	test_parser();
	test_hand();
	test_random();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
