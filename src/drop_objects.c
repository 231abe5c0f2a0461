/*
 * drop_objects.c
 *		crm.drop_objects_guard(): the sql_drop event trigger that refuses a
 *		command which drops a CRM table or a column of one by any other way
 *		than DROP EXTENSION crm.
 *
 * The ddl_command_start guard (drop_guard.c) looks at the statements that
 * name the extension.  Others can drop CRM tables or their columns too, as
 * side effects: a superuser's "ALTER EXTENSION crm DROP TYPE crm.email;
 * DROP TYPE crm.email CASCADE" drops every email column of every tenant,
 * and dropping a function or type the tables depend on can take tables
 * with it.  Those statements cannot be predicted at their start, so this
 * guard looks at what they did drop, at sql_drop time, still inside the
 * transaction, and refuses -- the whole command is rolled back -- when it
 * includes a CRM table or a column of one.
 *
 * Allowed: the drops of crm's own install and upgrade scripts
 * (creating_extension), the commands drop_guard.c has already decided on
 * (DROP EXTENSION, DROP SCHEMA, DROP OWNED), and anything once the superuser
 * has set crm.allow_drop_with_data = on.  Any other command that takes the
 * extension itself along (DROP TYPE crm.email CASCADE drops the extension
 * through the type's functions) is refused like a dropped table.  Temporary tables
 * and objects of other schemas are never looked at.
 *
 * One case escapes sql_drop: a command that drops the extension itself as
 * a side effect (DROP TYPE crm.email CASCADE, after ALTER EXTENSION crm DROP
 * TYPE, reaches the extension through the type's functions) drops this
 * event trigger too, and then it does not fire.  crm.drop_cascade_guard()
 * therefore also looks at every DROP ... CASCADE at its start and refuses
 * one that names an object of schema crm: without CASCADE PostgreSQL itself
 * refuses to drop what the CRM tables depend on.
 *
 * Refusal is SQLSTATE 2BP01 (dependent_objects_still_exist), as in
 * drop_guard.c.
 */
#include "postgres.h"

#include "access/relation.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/rel.h"

#include "crm.h"

/* Most dropped objects named in the error. */
#define DROP_OBJECTS_NAMED 10

PG_FUNCTION_INFO_V1(drop_objects_guard);

/* SQL: crm.drop_objects_guard() returns event_trigger (sql_drop) */
Datum
drop_objects_guard(PG_FUNCTION_ARGS)
{
	int			rc;
	uint64		i,
				n;
	StringInfoData names;
	CommandTag	tag;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.drop_objects_guard() can only be called as an event trigger")));
	if (creating_extension || crm_allow_drop_with_data)
		PG_RETURN_VOID();
	/* these commands were decided on by crm.drop_guard() at their start */
	tag = ((EventTriggerData *) fcinfo->context)->tag;
	if (tag == CMDTAG_DROP_EXTENSION || tag == CMDTAG_DROP_SCHEMA || tag == CMDTAG_DROP_OWNED)
		PG_RETURN_VOID();

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/*
	 * The CRM tables are those whose rows pg_dump saves: the tenant tables
	 * of crm.table_registry, crm.organization and crm.role_access.  (The
	 * registry itself cannot be among the dropped tables here: it is a
	 * member of the extension, which is refused below when it goes too.)
	 */
	rc = SPI_execute("SELECT d.object_identity FROM pg_catalog.pg_event_trigger_dropped_objects() d"
					 " WHERE (d.object_type IN ('table', 'table column') AND d.schema_name = 'crm'"
					 " AND NOT d.is_temporary"
					 " AND (d.address_names[2] IN ('organization', 'role_access')"
					 " OR d.address_names[2] IN (SELECT r.table_name::text FROM crm.table_registry r)))"
					 " OR (d.object_type = 'extension' AND d.object_name = 'crm')"
					 " ORDER BY 1",
					 true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading the dropped objects failed: %s", SPI_result_code_string(rc));
	n = SPI_processed;
	if (n == 0)
	{
		SPI_finish();
		PG_RETURN_VOID();
	}
	initStringInfo(&names);
	for (i = 0; i < n && i < DROP_OBJECTS_NAMED; i++)
	{
		char	   *v = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);

		appendStringInfo(&names, "%s%s", i > 0 ? ", " : "", v ? v : "?");
	}
	if (n > DROP_OBJECTS_NAMED)
		appendStringInfo(&names, " and %llu more", (unsigned long long) (n - DROP_OBJECTS_NAMED));
	ereport(ERROR,
			(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
			 errmsg_plural("this command would drop %llu CRM table or column with its data",
						   "this command would drop %llu CRM tables or columns with their data",
						   (unsigned long) n, (unsigned long long) n),
			 errdetail("Dropped: %s.", names.data),
			 errhint("CRM tables and columns go only with DROP EXTENSION crm (which refuses while data exists); "
					 "to drop them anyway, SET crm.allow_drop_with_data = on first.")));
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(drop_cascade_guard);

/* SQL: crm.drop_cascade_guard() returns event_trigger (ddl_command_start) */
Datum
drop_cascade_guard(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	DropStmt   *stmt;
	Oid			crm_nsp;
	ListCell   *lc;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.drop_cascade_guard() can only be called as an event trigger")));
	trigdata = (EventTriggerData *) fcinfo->context;
	if (trigdata->parsetree == NULL || !IsA(trigdata->parsetree, DropStmt))
		PG_RETURN_VOID();
	stmt = (DropStmt *) trigdata->parsetree;
	/* DROP SCHEMA and DROP EXTENSION are crm.drop_guard()'s */
	if (stmt->behavior != DROP_CASCADE || stmt->removeType == OBJECT_SCHEMA ||
		stmt->removeType == OBJECT_EXTENSION ||
		creating_extension || crm_allow_drop_with_data)
		PG_RETURN_VOID();
	crm_nsp = get_namespace_oid("crm", true);
	if (!OidIsValid(crm_nsp))
		PG_RETURN_VOID();

	foreach(lc, stmt->objects)
	{
		Relation	rel = NULL;
		ObjectAddress addr;

		/* the lock the drop takes anyway, so that the answer holds */
		addr = get_object_address(stmt->removeType, lfirst(lc), &rel,
								  AccessExclusiveLock, true);
		if (rel != NULL)
			relation_close(rel, NoLock);
		if (!OidIsValid(addr.objectId))
			continue;			/* the drop reports what does not exist */
		if (get_object_namespace(&addr) == crm_nsp)
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("%s ... CASCADE of %s could drop CRM tables or columns with their data",
							GetCommandTagName(trigdata->tag), getObjectDescription(&addr, false)),
					 errdetail("Objects of schema crm go only with DROP EXTENSION crm (which refuses while data exists)."),
					 errhint("Drop it without CASCADE to see what depends on it; to drop it anyway, SET crm.allow_drop_with_data = on first.")));
	}
	PG_RETURN_VOID();
}
