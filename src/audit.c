/* audit.c: STUB, replaced by the audit trigger implementation */
#include "postgres.h"
#include "fmgr.h"
#include "commands/trigger.h"

PG_FUNCTION_INFO_V1(audit_capture);
Datum
audit_capture(PG_FUNCTION_ARGS)
{
	return PointerGetDatum(NULL);
}
