/* drop_guard.c: STUB, replaced by the DROP EXTENSION guard */
#include "postgres.h"
#include "fmgr.h"

PG_FUNCTION_INFO_V1(drop_guard);
Datum
drop_guard(PG_FUNCTION_ARGS)
{
	PG_RETURN_VOID();
}
