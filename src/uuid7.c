/*
 * uuid7.c
 *		crm.uuid_v7(): RFC 9562 version 7 UUIDs, time-ordered and strictly
 *		monotonic within a backend.
 *
 * Layout (big-endian): 48 bits Unix time in milliseconds, 4 bits version
 * (0111), 12 bits rand_a, 2 bits variant (10), 62 bits rand_b.
 *
 * Monotonicity follows RFC 9562 section 6.2, method 2 ("monotonic random"):
 * the 74 bits of rand_a and rand_b form one counter.  A new millisecond starts
 * it at a random value with its top bit clear (so there is room to count);
 * within the same millisecond, or when the clock goes backwards, it grows by a
 * random step of 1 to 2^24.  Should it overflow, the timestamp is advanced by
 * one millisecond: ids stay unique and ordered even then.
 */
#include "postgres.h"

#include <sys/time.h>

#include "fmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "crm.h"

/* Last value issued by this backend: milliseconds and the 74-bit counter. */
static uint64 last_ms = 0;
static uint64 last_hi = 0;		/* top 10 bits of the counter */
static uint64 last_lo = 0;		/* low 64 bits of the counter */

#define COUNTER_HI_BITS 10
#define COUNTER_HI_MASK ((UINT64CONST(1) << COUNTER_HI_BITS) - 1)

/* Fill buf with len random bytes, or fail loudly. */
static void
random_bytes(void *buf, size_t len)
{
	if (!pg_strong_random(buf, len))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random bytes for uuid_v7")));
}

/* Current Unix time in milliseconds. */
static uint64
unix_ms_now(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (uint64) tv.tv_sec * 1000 + (uint64) tv.tv_usec / 1000;
}

/* Generate the next version 7 UUID of this backend into *out. */
void
crm_uuid7_generate(pg_uuid_t *out)
{
	uint64		now = unix_ms_now();
	uint64		hi,
				lo,
				ms;
	int			i;

	if (now > last_ms)
	{
		uint64		r[2];

		random_bytes(r, sizeof(r));
		ms = now;
		/* 9 random bits on top (top counter bit clear), 64 below */
		hi = r[0] & (COUNTER_HI_MASK >> 1);
		lo = r[1];
	}
	else
	{
		uint32		step;

		random_bytes(&step, sizeof(step));
		step = (step & 0xFFFFFF) + 1;
		ms = last_ms;
		hi = last_hi;
		lo = last_lo + step;
		if (lo < last_lo)
			hi++;				/* carry into the top bits */
		if (hi > COUNTER_HI_MASK)
		{
			uint64		r[2];

			/* counter exhausted within one millisecond: move time on */
			random_bytes(r, sizeof(r));
			ms = last_ms + 1;
			hi = r[0] & (COUNTER_HI_MASK >> 1);
			lo = r[1];
		}
	}
	last_ms = ms;
	last_hi = hi;
	last_lo = lo;

	/* 48-bit timestamp */
	for (i = 0; i < 6; i++)
		out->data[i] = (unsigned char) (ms >> (8 * (5 - i)));

	/*
	 * The 74 counter bits, hi:10 then lo:64, are laid out as rand_a (12 bits)
	 * and rand_b (62 bits): rand_a = hi:10 + top 2 bits of lo, rand_b = low
	 * 62 bits of lo.
	 */
	{
		uint32		rand_a = (uint32) ((hi << 2) | (lo >> 62));
		uint64		rand_b = lo & ((UINT64CONST(1) << 62) - 1);

		out->data[6] = (unsigned char) (0x70 | ((rand_a >> 8) & 0x0F));
		out->data[7] = (unsigned char) (rand_a & 0xFF);
		out->data[8] = (unsigned char) (0x80 | ((rand_b >> 56) & 0x3F));
		for (i = 9; i < 16; i++)
			out->data[i] = (unsigned char) (rand_b >> (8 * (15 - i)));
	}
}

PG_FUNCTION_INFO_V1(uuid7_generate);

/* SQL: crm.uuid_v7() returns uuid */
Datum
uuid7_generate(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *u = (pg_uuid_t *) palloc(UUID_LEN);

	crm_uuid7_generate(u);
	PG_RETURN_UUID_P(u);
}

PG_FUNCTION_INFO_V1(uuid7_timestamp);

/* SQL: crm.uuid_v7_time(uuid) returns timestamptz: the embedded time (NULL if not v7) */
Datum
uuid7_timestamp(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *u = PG_GETARG_UUID_P(0);
	uint64		ms = 0;
	int			i;

	if ((u->data[6] >> 4) != 7 || (u->data[8] & 0xC0) != 0x80)
		PG_RETURN_NULL();
	for (i = 0; i < 6; i++)
		ms = (ms << 8) | u->data[i];
	/* Unix ms to PostgreSQL microseconds since 2000-01-01 */
	PG_RETURN_TIMESTAMPTZ((TimestampTz) ms * 1000 -
						  ((TimestampTz) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY));
}
