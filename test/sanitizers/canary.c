/*
 * canary.c
 *		Deliberate bugs, each in a function of its own, that the checking runs
 *		must catch: test/scripts/sanitizers.sh builds this module with the
 *		sanitizer flags and scripts/valgrind.sh plainly, and each calls its
 *		functions in a backend after the suite to prove that a clean result
 *		is not a silent net.  Never installed anywhere else.
 */
#include "postgres.h"

#include <stdlib.h>

#include "fmgr.h"

PG_MODULE_MAGIC;

/* Reads one byte past a malloc'd buffer of n bytes (ASan). */
PG_FUNCTION_INFO_V1(canary_heap_overflow);
Datum
canary_heap_overflow(PG_FUNCTION_ARGS)
{
	int32		n = PG_GETARG_INT32(0);
	volatile char *p = malloc(n);
	int32		r;

	memset((char *) p, 'x', n);
	r = p[n];
	free((char *) p);
	PG_RETURN_INT32(r);
}

/* Shifts 1 by n, more than the width of int for n >= 32 (UBSan). */
PG_FUNCTION_INFO_V1(canary_bad_shift);
Datum
canary_bad_shift(PG_FUNCTION_ARGS)
{
	int32		n = PG_GETARG_INT32(0);

	PG_RETURN_INT32(1 << n);
}

/* Branches on a malloc'd int that was never written (valgrind memcheck). */
PG_FUNCTION_INFO_V1(canary_uninit);
Datum
canary_uninit(PG_FUNCTION_ARGS)
{
	int32		n = PG_GETARG_INT32(0);
	int		   *p = malloc(sizeof(int) * n);
	int32		r = 0;

	if (p[n - 1] > 0)
		r = 1;
	free(p);
	PG_RETURN_INT32(r);
}
