/*
 * sla_calendar.c
 *		Business-calendar arithmetic: the hours parser, business_add and
 *		business_time (see sla_calendar.h for the contract, doc/sla.md for
 *		the semantics).  Pure C: no PostgreSQL headers, no allocation.
 *
 * Local time is measured in usec since 2000-01-01 00:00 local.  Inside one
 * stretch of constant zone offset the UTC range maps onto one contiguous
 * local range, so the work splits into (a) walking the offset changes in
 * the span (twice a year in a zone with daylight saving) and (b) local
 * arithmetic: the weekly open time before a local instant is
 * F(x) = weeks * week_open + (open time of the week before x's position),
 * one binary search; holidays subtract F over their day.  Nothing loops
 * over days, weeks or minutes.
 */
#include "sla_calendar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WEEK_USEC	(INT64_C(7) * SLA_USEC_PER_DAY)
/* local day 0 (2000-01-01) is a Saturday; weeks start on Monday, day 2 */
#define WEEK_ORIGIN (INT64_C(2) * SLA_USEC_PER_DAY)
#define NO_DAY		INT32_MAX

static const char *const day_keys[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

/* floor(a / b) for b > 0 */
static int64_t
floordiv(int64_t a, int64_t b)
{
	int64_t		q = a / b;

	if ((a % b) != 0 && a < 0)
		q--;
	return q;
}

int32_t
sla_days_from_civil(int32_t y, int m, int d)
{
	int64_t		yy = (int64_t) y - (m <= 2);
	int64_t		era = (yy >= 0 ? yy : yy - 399) / 400;
	int64_t		yoe = yy - era * 400;
	int64_t		doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t		doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	/* days since 1970-01-01, then since 2000-01-01 */
	return (int32_t) (era * 146097 + doe - 719468 - 10957);
}

void
sla_civil_from_days(int32_t days, int32_t *y, int *m, int *d)
{
	int64_t		z = (int64_t) days + 10957 + 719468;
	int64_t		era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t		doe = z - era * 146097;
	int64_t		yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t		doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t		mp = (5 * doy + 2) / 153;
	int			dd = (int) (doy - (153 * mp + 2) / 5 + 1);
	int			mm = (int) (mp < 10 ? mp + 3 : mp - 9);

	*y = (int32_t) (yoe + era * 400 + (mm <= 2));
	*m = mm;
	*d = dd;
}

int64_t
sla_min_instant(void)
{
	return (int64_t) sla_days_from_civil(1000, 1, 1) * SLA_USEC_PER_DAY;
}

int64_t
sla_max_instant(void)
{
	return (int64_t) sla_days_from_civil(10000, 1, 1) * SLA_USEC_PER_DAY;
}

static bool
is_leap(int32_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

void
sla_calendar_init(SlaCalendar *cal)
{
	memset(cal, 0, sizeof(*cal));
}

/* ---------------------------------------------------------------------
 * The hours parser: a strict subset of JSON, exactly the documented shape.
 * --------------------------------------------------------------------- */

typedef struct Parser
{
	const char *s;
	size_t		len;
	size_t		pos;
	char	   *err;
	size_t		errlen;
} Parser;

typedef struct RawInterval
{
	int32_t		start;			/* minute of the week */
	int32_t		end;			/* exclusive, may exceed a week */
	int			day;
	int32_t		s_min,
				e_min;			/* as written */
} RawInterval;

static SlaStatus
fail(Parser *p, SlaStatus st, const char *msg)
{
	if (p->err && p->errlen > 0)
		snprintf(p->err, p->errlen, "%s", msg);
	return st;
}

static void
skip_ws(Parser *p)
{
	while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
							   p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
		p->pos++;
}

static bool
expect(Parser *p, char c)
{
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == c)
	{
		p->pos++;
		return true;
	}
	return false;
}

/* A string without escapes; sets *ptr and *n to its contents. */
static bool
parse_string(Parser *p, const char **ptr, size_t *n)
{
	size_t		i;

	skip_ws(p);
	if (p->pos >= p->len || p->s[p->pos] != '"')
		return false;
	i = p->pos + 1;
	while (i < p->len && p->s[i] != '"')
	{
		if (p->s[i] == '\\' || (unsigned char) p->s[i] < 0x20)
			return false;
		i++;
	}
	if (i >= p->len)
		return false;
	*ptr = p->s + p->pos + 1;
	*n = i - p->pos - 1;
	p->pos = i + 1;
	return true;
}

/* "HH:MM" from 00:00 to 24:00 into minutes; -1 if not. */
static int32_t
parse_time(const char *t, size_t n)
{
	int			h,
				m;

	if (n != 5 || t[2] != ':')
		return -1;
	for (size_t i = 0; i < 5; i++)
		if (i != 2 && (t[i] < '0' || t[i] > '9'))
			return -1;
	h = (t[0] - '0') * 10 + (t[1] - '0');
	m = (t[3] - '0') * 10 + (t[4] - '0');
	if (m > 59 || h > 24 || (h == 24 && m != 0))
		return -1;
	return h * 60 + m;
}

/* minutes 0..1440 as "HH:MM" into buf[6] */
static void
fmt_time(char *buf, int32_t minutes)
{
	unsigned	h = (unsigned) (minutes / 60) % 25,
				m = (unsigned) (minutes % 60) % 60;

	buf[0] = (char) ('0' + h / 10);
	buf[1] = (char) ('0' + h % 10);
	buf[2] = ':';
	buf[3] = (char) ('0' + m / 10);
	buf[4] = (char) ('0' + m % 10);
	buf[5] = '\0';
}

static int
cmp_raw(const void *a, const void *b)
{
	const RawInterval *x = a,
			   *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->end < y->end ? -1 : x->end > y->end;
}

static int
cmp_seg(const void *a, const void *b)
{
	const int32_t *x = a,
			   *y = b;

	return x[0] < y[0] ? -1 : x[0] > y[0];
}

SlaStatus
sla_parse_hours(SlaCalendar *cal, const char *json, size_t len, char *err, size_t errlen)
{
	Parser		p = {json, len, 0, err, errlen};
	RawInterval raw[SLA_MAX_INTERVALS];
	int			nraw = 0;
	bool		seen[7] = {false};
	char		msg[160];
	int32_t		segs[SLA_MAX_SEGMENTS + 1][2];
	int			nseg = 0;

	cal->nseg = 0;
	cal->week_open = 0;
	if (json == NULL)
		return fail(&p, SLA_ERR_SYNTAX, "hours must be a JSON object");
	if (!expect(&p, '{'))
		return fail(&p, SLA_ERR_SYNTAX, "hours must be a JSON object of day keys (\"mon\" ... \"sun\")");
	skip_ws(&p);
	if (!expect(&p, '}'))
	{
		for (;;)
		{
			const char *k;
			size_t		kn;
			int			day = -1;

			if (!parse_string(&p, &k, &kn))
				return fail(&p, SLA_ERR_SYNTAX, "expected a day key (\"mon\" ... \"sun\")");
			for (int i = 0; i < 7; i++)
				if (kn == 3 && memcmp(k, day_keys[i], 3) == 0)
					day = i;
			if (day < 0)
			{
				snprintf(msg, sizeof(msg), "\"%.*s\" is not a day key (mon, tue, wed, thu, fri, sat, sun)",
						 (int) (kn > 40 ? 40 : kn), k);
				return fail(&p, SLA_ERR_DAY, msg);
			}
			if (seen[day])
			{
				snprintf(msg, sizeof(msg), "day \"%s\" appears twice", day_keys[day]);
				return fail(&p, SLA_ERR_DAY, msg);
			}
			seen[day] = true;
			if (!expect(&p, ':') || !expect(&p, '['))
			{
				snprintf(msg, sizeof(msg), "\"%s\" must be a list of [\"HH:MM\", \"HH:MM\"] intervals", day_keys[day]);
				return fail(&p, SLA_ERR_SYNTAX, msg);
			}
			skip_ws(&p);
			if (!expect(&p, ']'))
			{
				for (;;)
				{
					const char *a,
							   *b;
					size_t		an,
								bn;
					int32_t		s,
								e;

					if (!expect(&p, '[') || !parse_string(&p, &a, &an) || !expect(&p, ',') ||
						!parse_string(&p, &b, &bn) || !expect(&p, ']'))
					{
						snprintf(msg, sizeof(msg), "\"%s\": an interval must be [\"HH:MM\", \"HH:MM\"]", day_keys[day]);
						return fail(&p, SLA_ERR_SYNTAX, msg);
					}
					s = parse_time(a, an);
					e = parse_time(b, bn);
					if (s < 0 || e < 0)
					{
						snprintf(msg, sizeof(msg), "\"%s\": \"%.*s\" is not a time of day from 00:00 to 24:00",
								 day_keys[day], s < 0 ? (int) (an > 20 ? 20 : an) : (int) (bn > 20 ? 20 : bn),
								 s < 0 ? a : b);
						return fail(&p, SLA_ERR_TIME, msg);
					}
					if (s == 1440)
					{
						snprintf(msg, sizeof(msg), "\"%s\": an interval cannot start at 24:00", day_keys[day]);
						return fail(&p, SLA_ERR_INTERVAL, msg);
					}
					if (nraw >= SLA_MAX_INTERVALS)
					{
						snprintf(msg, sizeof(msg), "more than %d intervals", SLA_MAX_INTERVALS);
						return fail(&p, SLA_ERR_TOO_MANY, msg);
					}
					raw[nraw].day = day;
					raw[nraw].s_min = s;
					raw[nraw].e_min = e;
					raw[nraw].start = day * 1440 + s;
					/* an end not after the start runs into the next day */
					raw[nraw].end = day * 1440 + (e > s ? e : e + 1440);
					nraw++;
					if (expect(&p, ','))
						continue;
					if (expect(&p, ']'))
						break;
					snprintf(msg, sizeof(msg), "\"%s\": expected , or ] after an interval", day_keys[day]);
					return fail(&p, SLA_ERR_SYNTAX, msg);
				}
			}
			if (expect(&p, ','))
				continue;
			if (expect(&p, '}'))
				break;
			return fail(&p, SLA_ERR_SYNTAX, "expected , or } after a day's intervals");
		}
	}
	skip_ws(&p);
	if (p.pos != p.len)
		return fail(&p, SLA_ERR_SYNTAX, "unexpected text after the hours object");

	/* overlaps, on the circle of the week */
	qsort(raw, nraw, sizeof(RawInterval), cmp_raw);
	for (int i = 0; i < nraw; i++)
	{
		for (int j = i + 1; j < nraw; j++)
		{
			int32_t		as = raw[i].start,
						ae = raw[i].end,
						bs = raw[j].start,
						be = raw[j].end;
			bool		overlap = (bs < ae) ||
				/* the part of an interval running past Sunday midnight */
				(be > SLA_MINUTES_PER_WEEK && be - SLA_MINUTES_PER_WEEK > as) ||
				(ae > SLA_MINUTES_PER_WEEK && ae - SLA_MINUTES_PER_WEEK > bs);

			if (overlap)
			{
				char		t1[6],
							t2[6],
							t3[6],
							t4[6];

				fmt_time(t1, raw[i].s_min);
				fmt_time(t2, raw[i].e_min);
				fmt_time(t3, raw[j].s_min);
				fmt_time(t4, raw[j].e_min);
				snprintf(msg, sizeof(msg), "\"%s\" [\"%s\", \"%s\"] overlaps \"%s\" [\"%s\", \"%s\"]",
						 day_keys[raw[i].day], t1, t2, day_keys[raw[j].day], t3, t4);
				return fail(&p, SLA_ERR_OVERLAP, msg);
			}
			if (bs >= ae && !(ae > SLA_MINUTES_PER_WEEK))
				break;			/* sorted by start: no later one can overlap i */
		}
	}

	/* segments within the week, the part past Sunday midnight wrapped */
	for (int i = 0; i < nraw; i++)
	{
		if (raw[i].end > SLA_MINUTES_PER_WEEK)
		{
			segs[nseg][0] = 0;
			segs[nseg][1] = raw[i].end - SLA_MINUTES_PER_WEEK;
			nseg++;
			segs[nseg][0] = raw[i].start;
			segs[nseg][1] = SLA_MINUTES_PER_WEEK;
			nseg++;
		}
		else
		{
			segs[nseg][0] = raw[i].start;
			segs[nseg][1] = raw[i].end;
			nseg++;
		}
	}
	qsort(segs, nseg, sizeof(segs[0]), cmp_seg);
	/* merge touching segments */
	for (int i = 0; i < nseg; i++)
	{
		if (cal->nseg > 0 && cal->seg_end[cal->nseg - 1] == segs[i][0])
			cal->seg_end[cal->nseg - 1] = segs[i][1];
		else
		{
			cal->seg_start[cal->nseg] = segs[i][0];
			cal->seg_end[cal->nseg] = segs[i][1];
			cal->nseg++;
		}
	}
	for (int i = 0; i < cal->nseg; i++)
	{
		cal->seg_before[i] = cal->week_open;
		cal->week_open += (int64_t) (cal->seg_end[i] - cal->seg_start[i]) * SLA_USEC_PER_MINUTE;
	}
	return SLA_OK;
}

SlaStatus
sla_add_recurring(SlaCalendar *cal, const char *mmdd, size_t len, char *err, size_t errlen)
{
	int			m,
				d,
				i;
	uint16_t	key;
	static const int mdays[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (mmdd == NULL || len != 5 || mmdd[2] != '-' ||
		mmdd[0] < '0' || mmdd[0] > '9' || mmdd[1] < '0' || mmdd[1] > '9' ||
		mmdd[3] < '0' || mmdd[3] > '9' || mmdd[4] < '0' || mmdd[4] > '9')
		goto bad;
	m = (mmdd[0] - '0') * 10 + (mmdd[1] - '0');
	d = (mmdd[3] - '0') * 10 + (mmdd[4] - '0');
	if (m < 1 || m > 12 || d < 1 || d > mdays[m])
		goto bad;
	key = (uint16_t) (m * 32 + d);
	for (i = 0; i < cal->nrecurring && cal->recurring[i] < key; i++)
		;
	if (i < cal->nrecurring && cal->recurring[i] == key)
		return SLA_OK;
	if (cal->nrecurring >= SLA_MAX_RECURRING)
		goto bad;
	memmove(&cal->recurring[i + 1], &cal->recurring[i], (cal->nrecurring - i) * sizeof(uint16_t));
	cal->recurring[i] = key;
	cal->nrecurring++;
	return SLA_OK;
bad:
	if (err && errlen > 0)
		snprintf(err, errlen, "\"%.*s\" is not a month-day \"MM-DD\"", (int) (len > 20 ? 20 : len), mmdd ? mmdd : "");
	return SLA_ERR_HOLIDAY;
}

static int
cmp_day(const void *a, const void *b)
{
	int32_t		x = *(const int32_t *) a,
				y = *(const int32_t *) b;

	return x < y ? -1 : x > y;
}

int
sla_set_holidays(SlaCalendar *cal, int32_t *days, int n)
{
	int			k = 0;

	if (n > 0)
	{
		qsort(days, n, sizeof(int32_t), cmp_day);
		for (int i = 0; i < n; i++)
			if (k == 0 || days[k - 1] != days[i])
				days[k++] = days[i];
	}
	cal->holidays = days;
	cal->nholidays = k;
	return k;
}

bool
sla_has_open_time(const SlaCalendar *cal)
{
	/* 366 recurring month-days cover every day of every year */
	return cal->week_open > 0 && cal->nrecurring < 366;
}

/* ---------------------------------------------------------------------
 * Local arithmetic
 * --------------------------------------------------------------------- */

/* Open usec of the weekly pattern in [week start, week start + pos). */
static int64_t
week_prefix(const SlaCalendar *cal, int64_t pos)
{
	int			lo = 0,
				hi = cal->nseg;
	int64_t		s,
				len;

	/* the last segment starting before pos */
	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;

		if ((int64_t) cal->seg_start[mid] * SLA_USEC_PER_MINUTE < pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return 0;
	lo--;
	s = (int64_t) cal->seg_start[lo] * SLA_USEC_PER_MINUTE;
	len = (int64_t) (cal->seg_end[lo] - cal->seg_start[lo]) * SLA_USEC_PER_MINUTE;
	return cal->seg_before[lo] + (pos - s < len ? pos - s : len);
}

/* Weekly open usec before local instant x (from the week origin). */
static int64_t
weekly_F(const SlaCalendar *cal, int64_t x)
{
	int64_t		w = floordiv(x - WEEK_ORIGIN, WEEK_USEC);

	return w * cal->week_open + week_prefix(cal, x - WEEK_ORIGIN - w * WEEK_USEC);
}

/* The earliest local y with weekly_F(y) = target (week_open > 0). */
static int64_t
weekly_inverse(const SlaCalendar *cal, int64_t target)
{
	int64_t		q = floordiv(target - 1, cal->week_open);
	int64_t		r = target - q * cal->week_open;	/* in (0, week_open] */
	int			lo = 0,
				hi = cal->nseg - 1;

	/* the segment with seg_before < r <= seg_before + its length */
	while (lo < hi)
	{
		int			mid = (lo + hi + 1) / 2;

		if (cal->seg_before[mid] < r)
			lo = mid;
		else
			hi = mid - 1;
	}
	return WEEK_ORIGIN + q * WEEK_USEC + (int64_t) cal->seg_start[lo] * SLA_USEC_PER_MINUTE +
		(r - cal->seg_before[lo]);
}

/* The first holiday on or after day d (NO_DAY if none). */
static int32_t
next_holiday(const SlaCalendar *cal, int32_t d)
{
	int32_t		best = NO_DAY;

	if (cal->nholidays > 0)
	{
		int			lo = 0,
					hi = cal->nholidays;

		while (lo < hi)
		{
			int			mid = (lo + hi) / 2;

			if (cal->holidays[mid] < d)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < cal->nholidays)
			best = cal->holidays[lo];
	}
	if (cal->nrecurring > 0)
	{
		int32_t		y;
		int			m,
					dd;

		sla_civil_from_days(d, &y, &m, &dd);
		/* this year's remaining ones, else the next years' (02-29 alone: up to 8 years) */
		for (int k = 0; k < 9; k++, y++)
		{
			int32_t		found = NO_DAY;

			for (int i = 0; i < cal->nrecurring; i++)
			{
				int			rm = cal->recurring[i] / 32,
							rd = cal->recurring[i] % 32;

				if (k == 0 && (rm < m || (rm == m && rd < dd)))
					continue;
				if (rm == 2 && rd == 29 && !is_leap(y))
					continue;
				found = sla_days_from_civil(y, rm, rd);
				break;
			}
			if (found != NO_DAY)
			{
				if (found < best)
					best = found;
				break;
			}
			if (best != NO_DAY && sla_days_from_civil(y + 1, 1, 1) > best)
				break;
		}
	}
	return best;
}

static int32_t
day_of(int64_t x)
{
	return (int32_t) floordiv(x, SLA_USEC_PER_DAY);
}

/* Open usec in local [x0, x1): the weekly time minus the holidays in it. */
static int64_t
local_open(const SlaCalendar *cal, int64_t x0, int64_t x1)
{
	int64_t		total;
	int32_t		d;

	if (x1 <= x0 || cal->week_open == 0)
		return 0;
	total = weekly_F(cal, x1) - weekly_F(cal, x0);
	d = day_of(x0);
	for (;;)
	{
		int32_t		h = next_holiday(cal, d);
		int64_t		hs,
					he;

		if (h == NO_DAY || (int64_t) h * SLA_USEC_PER_DAY >= x1)
			break;
		hs = (int64_t) h * SLA_USEC_PER_DAY;
		he = hs + SLA_USEC_PER_DAY;
		total -= weekly_F(cal, he < x1 ? he : x1) - weekly_F(cal, hs > x0 ? hs : x0);
		d = h + 1;
	}
	return total;
}

/*
 * The earliest local y in [x0, xlim] with need usec open in [x0, y): true
 * and *y; else false and *used = the open usec in [x0, xlim).
 */
static bool
local_add(const SlaCalendar *cal, int64_t x0, int64_t need, int64_t xlim,
		  int64_t *y, int64_t *used)
{
	int64_t		cur = x0,
				rem = need;

	*used = 0;
	if (rem == 0)
	{
		*y = x0;
		return true;
	}
	while (cur < xlim)
	{
		int32_t		h = next_holiday(cal, day_of(cur));
		int64_t		hs = h == NO_DAY ? INT64_MAX : (int64_t) h * SLA_USEC_PER_DAY;
		int64_t		stop,
					avail;

		if (cur >= hs)
		{
			cur = hs + SLA_USEC_PER_DAY;
			continue;
		}
		stop = hs < xlim ? hs : xlim;
		avail = weekly_F(cal, stop) - weekly_F(cal, cur);
		if (avail >= rem)
		{
			*y = weekly_inverse(cal, weekly_F(cal, cur) + rem);
			return true;
		}
		rem -= avail;
		cur = stop == hs ? hs + SLA_USEC_PER_DAY : xlim;
	}
	*used = need - rem;
	return false;
}

/* ---------------------------------------------------------------------
 * UTC arithmetic: walk the stretches of constant offset.
 * --------------------------------------------------------------------- */

SlaStatus
sla_business_time(const SlaCalendar *cal, SlaZoneFn zone, void *zctx,
				  int64_t from, int64_t to, int64_t *result)
{
	int64_t		t = from,
				total = 0;

	*result = 0;
	if (from < sla_min_instant() || to > sla_max_instant())
		return SLA_ERR_RANGE;
	while (t < to)
	{
		int64_t		off,
					next,
					e;

		if (!zone(zctx, t, &off, &next) || next <= t ||
			off < -2 * SLA_USEC_PER_DAY || off > 2 * SLA_USEC_PER_DAY)
			return SLA_ERR_ZONE;
		e = next < to ? next : to;
		total += local_open(cal, t + off, e + off);
		t = e;
	}
	*result = total;
	return SLA_OK;
}

SlaStatus
sla_business_add(const SlaCalendar *cal, SlaZoneFn zone, void *zctx,
				 int64_t start, int64_t amount, int64_t *result)
{
	int64_t		t = start,
				rem = amount,
				max = sla_max_instant();

	*result = start;
	if (start < sla_min_instant() || start > max || amount < 0)
		return SLA_ERR_RANGE;
	if (amount == 0)
		return SLA_OK;
	if (!sla_has_open_time(cal))
		return SLA_ERR_NO_OPEN_TIME;
	while (t < max)
	{
		int64_t		off,
					next,
					lim,
					y,
					used;

		if (!zone(zctx, t, &off, &next) || next <= t ||
			off < -2 * SLA_USEC_PER_DAY || off > 2 * SLA_USEC_PER_DAY)
			return SLA_ERR_ZONE;
		lim = next < max ? next : max;
		if (local_add(cal, t + off, rem, lim + off, &y, &used))
		{
			*result = y - off;
			return *result <= max ? SLA_OK : SLA_ERR_RANGE;
		}
		rem -= used;
		t = lim;
	}
	return SLA_ERR_RANGE;
}

SlaStatus
sla_is_open(const SlaCalendar *cal, SlaZoneFn zone, void *zctx, int64_t t, bool *open)
{
	int64_t		r;
	SlaStatus	st = sla_business_time(cal, zone, zctx, t, t + 1, &r);

	*open = (st == SLA_OK && r > 0);
	return st;
}
