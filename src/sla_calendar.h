/*
 * sla_calendar.h
 *		Pure business-calendar arithmetic (no PostgreSQL headers).
 *
 * A calendar is a weekly pattern of open intervals in local time (minute
 * precision, several per day, overnight intervals continuing into the next
 * day), minus holidays (whole local days: fixed dates and yearly-recurring
 * month-days).  Instants are int64 microseconds since 2000-01-01 00:00 UTC
 * (PostgreSQL's timestamptz); days are int32 days since 2000-01-01 (its
 * date).  The offset of the calendar's zone is supplied by the caller as a
 * callback that returns the offset at an instant and the next instant at
 * which it changes, so daylight-saving changes are exact: an instant is
 * open when its local time is open, and a local interval that contains a
 * jump holds as much time as really passes.
 *
 * Cost: the arithmetic jumps whole weeks (a weekly prefix sum with a binary
 * search inside the week); it visits only the holidays and the zone-offset
 * changes inside the span, never its days one by one.
 *
 * Nothing here allocates: a SlaCalendar is a fixed-size struct filled by
 * sla_parse_hours / sla_add_recurring / sla_set_holidays; the fixed
 * holidays stay in the caller's memory.  Texts are (pointer, length) pairs
 * that need not be NUL-terminated.  The exact semantics are in doc/sla.md.
 */
#ifndef SLA_CALENDAR_H
#define SLA_CALENDAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SLA_USEC_PER_MINUTE INT64_C(60000000)
#define SLA_USEC_PER_DAY	INT64_C(86400000000)
#define SLA_MINUTES_PER_WEEK (7 * 1440)

/* at most this many intervals in one hours document */
#define SLA_MAX_INTERVALS	168
/* merged weekly segments (an interval past Sunday midnight splits in two) */
#define SLA_MAX_SEGMENTS	(SLA_MAX_INTERVALS + 1)
#define SLA_MAX_RECURRING	366

/* "no further offset change" from a zone callback */
#define SLA_NEVER			INT64_MAX

typedef enum SlaStatus
{
	SLA_OK = 0,
	SLA_ERR_SYNTAX,				/* hours is not the expected JSON shape */
	SLA_ERR_DAY,				/* a key that is not mon..sun, or twice */
	SLA_ERR_TIME,				/* not "HH:MM" from 00:00 to 24:00 */
	SLA_ERR_INTERVAL,			/* an interval starting at 24:00 */
	SLA_ERR_OVERLAP,			/* two intervals share open time */
	SLA_ERR_TOO_MANY,			/* more than SLA_MAX_INTERVALS */
	SLA_ERR_HOLIDAY,			/* a recurring holiday that is not "MM-DD" */
	SLA_ERR_NO_OPEN_TIME,		/* the calendar is never open */
	SLA_ERR_RANGE,				/* an instant outside years 1000..9999 */
	SLA_ERR_ZONE				/* the zone callback failed */
} SlaStatus;

typedef struct SlaCalendar
{
	int			nseg;
	int32_t		seg_start[SLA_MAX_SEGMENTS];	/* minute of the week, Monday 00:00 = 0 */
	int32_t		seg_end[SLA_MAX_SEGMENTS];	/* exclusive, <= 10080 */
	int64_t		seg_before[SLA_MAX_SEGMENTS];	/* open usec of the week before it */
	int64_t		week_open;		/* open usec of a whole week */
	int			nrecurring;
	uint16_t	recurring[SLA_MAX_RECURRING];	/* month * 32 + day, sorted, unique */
	const int32_t *holidays;	/* sorted, unique days; caller's memory */
	int			nholidays;
} SlaCalendar;

/*
 * Offset of the zone at utc (usec, local = utc + offset) and the first
 * instant after utc at which the offset changes (SLA_NEVER if none).
 * Returns false on failure.
 */
typedef bool (*SlaZoneFn) (void *ctx, int64_t utc, int64_t *offset, int64_t *next_change);

/* Empties cal (closed always, no holidays). */
extern void sla_calendar_init(SlaCalendar *cal);

/*
 * Parses the weekly hours {"mon": [["09:00","12:00"], ...], ..., "sun": []}
 * into cal.  On failure returns the status and writes a lower-case reason
 * (for an error detail) into err.
 */
extern SlaStatus sla_parse_hours(SlaCalendar *cal, const char *json, size_t len,
								 char *err, size_t errlen);

/* Adds one yearly-recurring holiday "MM-DD" (02-29 counts in leap years). */
extern SlaStatus sla_add_recurring(SlaCalendar *cal, const char *mmdd, size_t len,
								   char *err, size_t errlen);

/*
 * Sorts and de-duplicates days[] in place (n entries) and makes them the
 * fixed holidays of cal; returns the number kept.  days must stay valid
 * while cal is used.
 */
extern int	sla_set_holidays(SlaCalendar *cal, int32_t *days, int n);

/* Whether cal has any open time at all (some week time not covered by holidays forever). */
extern bool sla_has_open_time(const SlaCalendar *cal);

/*
 * The earliest instant t >= start with exactly amount usec of open time in
 * [start, t); amount 0 gives start.  amount must be >= 0.
 */
extern SlaStatus sla_business_add(const SlaCalendar *cal, SlaZoneFn zone, void *zctx,
								  int64_t start, int64_t amount, int64_t *result);

/* The open time in [from, to) in usec, for from <= to (0 otherwise). */
extern SlaStatus sla_business_time(const SlaCalendar *cal, SlaZoneFn zone, void *zctx,
								   int64_t from, int64_t to, int64_t *result);

/* Whether instant t is open (its local time is open and not a holiday). */
extern SlaStatus sla_is_open(const SlaCalendar *cal, SlaZoneFn zone, void *zctx,
							 int64_t t, bool *open);

/* Calendar helpers: days since 2000-01-01 <-> proleptic Gregorian dates. */
extern int32_t sla_days_from_civil(int32_t y, int m, int d);
extern void sla_civil_from_days(int32_t days, int32_t *y, int *m, int *d);

/* The instants the arithmetic accepts: 1000-01-01 .. 9999-12-31 UTC. */
extern int64_t sla_min_instant(void);
extern int64_t sla_max_instant(void);

#endif							/* SLA_CALENDAR_H */
