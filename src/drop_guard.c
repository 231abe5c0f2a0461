/*
 * drop_guard.c
 *		crm.drop_guard(): the ddl_command_start event trigger that refuses to
 *		drop the extension crm while its tables hold data.
 *
 * Every crm table is a member of the extension, so DROP EXTENSION crm drops
 * them all, without CASCADE and without a word about the rows in them.  The
 * guard looks at the statement before it runs and, when the statement would
 * drop the extension, refuses as long as any CRM table has a row, unless the
 * superuser has set crm.allow_drop_with_data = on.  The CRM tables are the
 * ones whose rows pg_dump saves, those crm registers with
 * pg_extension_config_dump(): crm.organization, crm.role_access and every
 * tenant table of crm.table_registry.  The extension's own registries
 * (crm.table_registry, crm.verify_check, crm.job) are not user data.
 *
 * The guard acts only when the statement would otherwise succeed, i.e. the
 * user owns what is named (or is a superuser): anyone else gets PostgreSQL's
 * own refusal and never takes the guard's locks on the CRM tables.
 *
 * Statements that drop the extension:
 *		DROP EXTENSION crm [, ...]
 *		DROP EXTENSION x CASCADE, where crm requires x (directly or not)
 *		DROP SCHEMA crm CASCADE, and DROP SCHEMA s CASCADE where s holds an
 *			extension crm requires (without CASCADE these fail by themselves)
 *		DROP OWNED BY r, where r owns crm (or, with CASCADE, an extension crm
 *			requires)
 * DROP DATABASE is not an event-trigger command and is not guarded: it names
 * what it destroys.
 *
 * crm.trg_data_guard(), a BEFORE INSERT OR TRUNCATE statement trigger on
 * every CRM table, guards the two other ways data is lost or corrupted
 * wholesale:
 *		TRUNCATE of a CRM table that holds rows (TRUNCATE is not audited, and
 *			TRUNCATE crm.organization CASCADE would empty every table, the
 *			audit log included) is refused, with the same override;
 *		a restore without crm.pre_restore() is refused at its first row: a
 *			session that writes a CRM table with row_security = off or
 *			check_function_bodies = off outside restore mode is a pg_dump
 *			script or pg_restore (both start with SET check_function_bodies =
 *			false and, unless dumped with --enable-row-security, SET
 *			row_security = off; an application role cannot write a table
 *			with row-level security while row_security is off at all).
 *
 * Refusal is SQLSTATE 2BP01 (dependent_objects_still_exist): the same code
 * as DROP ... RESTRICT when something still depends on the object, which is
 * what the data is; clients that handle one handle the other.
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"

#include "crm.h"
#include "trigger_support.h"

/* An extension the drop of which takes crm with it: crm or one it requires. */
typedef struct GuardedExtension
{
	Oid			oid;
	Oid			namespace;
	Oid			owner;
	bool		is_crm;
} GuardedExtension;

/*
 * crm and every extension it requires, transitively (pg_depend records a
 * normal dependency of an extension on each extension it requires).
 */
static List *
guarded_extensions(void)
{
	MemoryContext caller = CurrentMemoryContext;
	List	   *result = NIL;
	uint64		i;
	int			rc;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute("WITH RECURSIVE req(oid) AS ("
					 " SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname = 'crm'"
					 " UNION"
					 " SELECT d.refobjid FROM pg_catalog.pg_depend d JOIN req ON d.objid = req.oid"
					 "  WHERE d.classid = 'pg_catalog.pg_extension'::pg_catalog.regclass"
					 "    AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass"
					 "    AND d.deptype = 'n')"
					 " SELECT e.oid, e.extnamespace, e.extowner, e.extname = 'crm'"
					 "   FROM pg_catalog.pg_extension e JOIN req USING (oid)",
					 true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read the extensions crm requires: %s", SPI_result_code_string(rc));

	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		GuardedExtension *g;
		bool		isnull;
		MemoryContext old;

		/* The list must outlive SPI_finish. */
		old = MemoryContextSwitchTo(caller);
		g = palloc(sizeof(GuardedExtension));
		g->oid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		g->namespace = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
		g->owner = DatumGetObjectId(SPI_getbinval(tup, desc, 3, &isnull));
		g->is_crm = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
		result = lappend(result, g);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return result;
}

/* The crm entry of the guarded list (NULL if crm is not installed). */
static GuardedExtension *
crm_entry(List *guarded)
{
	ListCell   *lc;

	foreach(lc, guarded)
	{
		GuardedExtension *g = lfirst(lc);

		if (g->is_crm)
			return g;
	}
	return NULL;
}

/* Whether DROP EXTENSION <names> [CASCADE] would drop crm. */
static bool
drops_via_extension(DropStmt *stmt, List *guarded)
{
	ListCell   *lc;

	foreach(lc, stmt->objects)
	{
		Oid			ext = get_extension_oid(strVal(lfirst(lc)), true);
		ListCell   *gc;

		if (!OidIsValid(ext))
			continue;
		foreach(gc, guarded)
		{
			GuardedExtension *g = lfirst(gc);

			if (g->oid == ext && (g->is_crm || stmt->behavior == DROP_CASCADE) &&
				pg_extension_ownercheck(ext, GetUserId()))
				return true;
		}
	}
	return false;
}

/* Whether DROP SCHEMA <names> CASCADE would drop crm. */
static bool
drops_via_schema(DropStmt *stmt, List *guarded)
{
	ListCell   *lc;

	foreach(lc, stmt->objects)
	{
		Oid			nsp = get_namespace_oid(strVal(lfirst(lc)), true);
		ListCell   *gc;

		if (!OidIsValid(nsp))
			continue;
		foreach(gc, guarded)
		{
			GuardedExtension *g = lfirst(gc);

			/*
			 * Without CASCADE the drop of a schema holding an extension fails
			 * on its own (the extension depends on the schema).
			 */
			if (g->namespace == nsp && stmt->behavior == DROP_CASCADE &&
				pg_namespace_ownercheck(nsp, GetUserId()))
				return true;
		}
	}
	return false;
}

/* Whether DROP OWNED BY <roles> [CASCADE] would drop crm. */
static bool
drops_via_owner(DropOwnedStmt *stmt, List *guarded)
{
	ListCell   *lc;

	foreach(lc, stmt->roles)
	{
		Oid			role = get_rolespec_oid(lfirst_node(RoleSpec, lc), true);
		ListCell   *gc;

		if (!OidIsValid(role))
			continue;
		foreach(gc, guarded)
		{
			GuardedExtension *g = lfirst(gc);

			if (g->owner == role && (g->is_crm || stmt->behavior == DROP_CASCADE) &&
				has_privs_of_role(GetUserId(), role))
				return true;
		}
	}
	return false;
}

/* A table pg_dump saves rows of, and the filter it dumps them with. */
typedef struct DataTable
{
	Oid			relid;
	char	   *condition;		/* "WHERE ..." or NULL: every row */
} DataTable;

/*
 * The tables that hold CRM data: those crm registers with
 * pg_extension_config_dump() so that pg_dump saves their rows, i.e.
 * crm.organization, crm.role_access and every tenant table of
 * crm.table_registry.  Read from pg_extension, which everyone may read.
 */
static List *
crm_data_tables(Oid crm_oid)
{
	MemoryContext caller = CurrentMemoryContext;
	List	   *result = NIL;
	uint64		i;
	int			rc;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute_with_args("SELECT c.oid, t.cond"
							   "  FROM pg_catalog.pg_extension e"
							   " CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest(e.extconfig), pg_catalog.unnest(e.extcondition)) AS t(oid, cond)"
							   "  JOIN pg_catalog.pg_class c ON c.oid = t.oid"
							   " WHERE e.oid = $1"
							   " ORDER BY c.relname",
							   1, (Oid[]) {OIDOID}, (Datum[]) {ObjectIdGetDatum(crm_oid)}, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read the configuration tables of crm: %s", SPI_result_code_string(rc));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Oid			relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
														   SPI_tuptable->tupdesc, 1, &isnull));
		char	   *cond = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		MemoryContext old = MemoryContextSwitchTo(caller);
		DataTable  *t = palloc(sizeof(DataTable));

		t->relid = relid;
		t->condition = (cond && cond[0] != '\0') ? pstrdup(cond) : NULL;
		result = lappend(result, t);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return result;
}

/*
 * Whether a table (or any partition of it) has a row visible to snap.
 * Reads through the table access method: no privilege check and no
 * row-level security, so the answer does not depend on who asks.
 */
static bool
table_has_rows(Oid relid, Snapshot snap)
{
	List	   *rels = find_all_inheritors(relid, NoLock, NULL);
	ListCell   *lc;
	bool		found = false;

	foreach(lc, rels)
	{
		Relation	rel;
		TableScanDesc scan;
		TupleTableSlot *slot;

		rel = table_open(lfirst_oid(lc), NoLock);
		if (RELKIND_HAS_STORAGE(rel->rd_rel->relkind))
		{
			slot = table_slot_create(rel, NULL);
			scan = table_beginscan(rel, snap, 0, NULL);
			found = table_scan_getnextslot(scan, ForwardScanDirection, slot);
			table_endscan(scan);
			ExecDropSingleTupleTableSlot(slot);
		}
		table_close(rel, NoLock);
		if (found)
			break;
	}
	list_free(rels);
	return found;
}

/*
 * Whether a table has a row that its pg_dump filter (a "WHERE ..." the
 * extension registered, e.g. rows users added to a catalog the extension
 * fills) would save.  Run through SPI by the user about to drop crm, who
 * owns it (or is superuser) and so is not subject to row-level security.
 */
static bool
table_has_rows_where(Oid relid, const char *condition)
{
	StringInfoData sql;
	bool		found;
	bool		isnull;
	int			rc;

	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT EXISTS (SELECT 1 FROM ONLY %s %s)",
					 quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
												get_rel_name(relid)),
					 condition);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute(sql.data, true, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not check %s for data: %s", sql.data, SPI_result_code_string(rc));
	found = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	pfree(sql.data);
	return found && !isnull;
}

/*
 * Refuse the drop when CRM tables hold data.  Each table (and partition) is
 * locked ACCESS EXCLUSIVE first, the lock the drop takes anyway: a writer
 * that inserted rows and has not committed yet is waited for, and its rows
 * are then seen (with a snapshot taken after the locks), so no data slips
 * through between this check and the drop.  Writers that come later wait
 * for the drop.  test/specs/drop_guard_race.spec shows both.
 */
static void
refuse_if_data(Oid crm_oid, const char *command)
{
	List	   *tables = crm_data_tables(crm_oid);
	ListCell   *lc;
	Snapshot	snap;
	StringInfoData names;
	int			with_data = 0;

	/*
	 * find_all_inheritors() locks the partitions and children, not the table
	 * itself: lock that first (in the order of the list, by name, so that two
	 * drops queue up rather than deadlock).
	 */
	foreach(lc, tables)
	{
		Oid			relid = ((DataTable *) lfirst(lc))->relid;

		LockRelationOid(relid, AccessExclusiveLock);
		list_free(find_all_inheritors(relid, AccessExclusiveLock, NULL));
	}

	/*
	 * Look with a snapshot taken now, after every writer was waited for: the
	 * transaction's own snapshot (REPEATABLE READ) can be older than their
	 * commits.  The filtered check goes through SPI, which reads with the
	 * active snapshot when read-only, so make this one the active snapshot.
	 */
	initStringInfo(&names);
	snap = RegisterSnapshot(GetLatestSnapshot());
	PushActiveSnapshot(snap);
	foreach(lc, tables)
	{
		DataTable  *t = lfirst(lc);
		Oid			relid = t->relid;

		if (t->condition ? !table_has_rows_where(relid, t->condition) : !table_has_rows(relid, snap))
			continue;
		appendStringInfo(&names, "%s%s", with_data > 0 ? ", " : "",
						 quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
													get_rel_name(relid)));
		with_data++;
	}
	PopActiveSnapshot();
	UnregisterSnapshot(snap);

	if (with_data > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg_plural("cannot drop extension crm: %d of its tables holds data",
							   "cannot drop extension crm: %d of its tables hold data",
							   with_data, with_data),
				 errdetail("%s would drop every CRM table with its rows. Tables with rows: %s.",
						   command, names.data),
				 errhint("Back the data up first (pg_dump), then run SET crm.allow_drop_with_data = on "
						 "as a superuser to drop it anyway.")));
	pfree(names.data);
	list_free_deep(tables);
}

PG_FUNCTION_INFO_V1(drop_guard);

/* SQL: crm.drop_guard() returns event_trigger (ddl_command_start) */
Datum
drop_guard(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	Node	   *parsetree;
	List	   *guarded;
	GuardedExtension *crm;
	bool		drops_crm = false;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "crm.drop_guard() must be called as an event trigger");
	trigdata = (EventTriggerData *) fcinfo->context;
	parsetree = trigdata->parsetree;

	if (crm_allow_drop_with_data || parsetree == NULL)
		PG_RETURN_VOID();
	/* Quick exit for everything that names no extension, schema or role of interest. */
	if (!IsA(parsetree, DropStmt) && !IsA(parsetree, DropOwnedStmt))
		PG_RETURN_VOID();
	if (IsA(parsetree, DropStmt) &&
		((DropStmt *) parsetree)->removeType != OBJECT_EXTENSION &&
		((DropStmt *) parsetree)->removeType != OBJECT_SCHEMA)
		PG_RETURN_VOID();

	guarded = guarded_extensions();
	crm = crm_entry(guarded);
	if (crm == NULL)
		PG_RETURN_VOID();

	if (IsA(parsetree, DropOwnedStmt))
		drops_crm = drops_via_owner((DropOwnedStmt *) parsetree, guarded);
	else if (((DropStmt *) parsetree)->removeType == OBJECT_EXTENSION)
		drops_crm = drops_via_extension((DropStmt *) parsetree, guarded);
	else
		drops_crm = drops_via_schema((DropStmt *) parsetree, guarded);

	if (drops_crm)
		refuse_if_data(crm->oid, GetCommandTagName(trigdata->tag));
	list_free_deep(guarded);
	PG_RETURN_VOID();
}

/*
 * Whether a relation is one of crm's tables (the trigger refuses any other:
 * attached to a foreign table it would only get in the way).
 */
static void
data_guard_check_relation(Relation rel)
{
	if (!crm_relation_is_own(rel))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("crm.trg_data_guard() guards only crm's own tables, not \"%s\"",
						RelationGetRelationName(rel))));
}

PG_FUNCTION_INFO_V1(data_guard);

/* SQL: crm.trg_data_guard() returns trigger (BEFORE INSERT OR TRUNCATE, FOR EACH STATEMENT) */
Datum
data_guard(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Relation	rel;
	const char *name;
	Snapshot	snap;
	bool		has_rows;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(td->tg_event) ||
		!(TRIGGER_FIRED_BY_INSERT(td->tg_event) || TRIGGER_FIRED_BY_TRUNCATE(td->tg_event)))
		elog(ERROR, "crm.trg_data_guard() must be a BEFORE INSERT or TRUNCATE statement trigger");
	rel = td->tg_relation;
	data_guard_check_relation(rel);
	name = quote_qualified_identifier("crm", RelationGetRelationName(rel));

	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		/*
		 * Cheap tests only: this runs before every INSERT statement.  The
		 * install script fills crm.pii_column also when a restore creates
		 * the extension.
		 */
		if ((row_security && check_function_bodies) || crm_restoring || creating_extension)
			return PointerGetDatum(NULL);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("crm is not in restore mode: run SELECT crm.pre_restore() before restoring a dump"),
				 errdetail("This session writes %s with %s = off, as pg_dump scripts and pg_restore do. "
						   "Without restore mode crm's triggers would treat every restored row as a new write: "
						   "a second audit entry, a new updated_at, custom fields checked against definitions "
						   "not loaded yet.", name, row_security ? "check_function_bodies" : "row_security"),
				 errhint("Run SELECT crm.pre_restore() in the target database, restore, then SELECT * FROM crm.post_restore(). "
						 "A session that is not a restore writes with row_security and check_function_bodies on.")));
	}

	/*
	 * TRUNCATE holds ACCESS EXCLUSIVE locks on every table it empties by
	 * now, so writers were waited for; look with a snapshot taken now.
	 */
	if (crm_allow_drop_with_data)
		return PointerGetDatum(NULL);
	snap = RegisterSnapshot(GetLatestSnapshot());
	has_rows = table_has_rows(RelationGetRelid(rel), snap);
	UnregisterSnapshot(snap);
	if (has_rows)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot truncate %s: it holds data", name),
				 errdetail("TRUNCATE is not audited and cannot be undone after commit; "
						   "with CASCADE it empties every table that references this one, the audit log included."),
				 errhint("Delete the rows instead (audited), or back the data up first (pg_dump) and run "
						 "SET crm.allow_drop_with_data = on as a superuser to truncate anyway.")));
	return PointerGetDatum(NULL);
}
