/*
 * timezone.c
 *		crm.is_valid_timezone(text): whether PostgreSQL knows a time zone name.
 */
#include "postgres.h"

#include "fmgr.h"
#include "pgtime.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(tz_is_valid);

/* SQL: crm.is_valid_timezone(text) returns boolean */
Datum
tz_is_valid(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	int			len = VARSIZE_ANY_EXHDR(t);
	char		name[TZ_STRLEN_MAX + 1];

	if (len == 0 || len > TZ_STRLEN_MAX)
		PG_RETURN_BOOL(false);
	memcpy(name, VARDATA_ANY(t), len);
	name[len] = '\0';
	if (memchr(name, '\0', len) != NULL)
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(pg_tzset(name) != NULL);
}
