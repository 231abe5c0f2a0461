/* custom_fields.c: STUB, replaced by the validation trigger */
#include "postgres.h"
#include "fmgr.h"
#include "commands/trigger.h"

PG_FUNCTION_INFO_V1(custom_fields_validate);
Datum
custom_fields_validate(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	return PointerGetDatum(TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple);
}
