/*
 * error_hints.c
 *		Errors a user can act on: what a violated crm constraint allows, which
 *		field a duplicate is about, what to do instead of a refused delete.
 *
 * For an application role, row-level security makes PostgreSQL leave out the
 * failing row ("Failing row contains ...") and the key values of a unique
 * violation, so a check or unique violation on a crm table names only a
 * constraint.  crm adds the missing part on its way out, through
 * emit_log_hook, which sees every error before it is sent:
 *
 *	23514 check violation		hint: what the constraint allows (the values of
 *								an IN list, else its definition)
 *	23505 unique violation		detail: which field(s) of which record already
 *								hold the value in this organization (never the
 *								value: RLS withheld it on purpose)
 *	23503 delete of a parent	hint: soft-delete instead, or reassign
 *	42501 on a crm table		hint: what the access levels allow
 *
 * The hook runs while the error is being reported, when the catalogs may not
 * be read (the transaction is failing); so what it needs is loaded before,
 * at a safe point -- the first crm.current_org() or crm trigger of a
 * transaction after the catalogs changed -- into a hash table of its own,
 * keyed by constraint or index name (crm's names are unique in schema crm).
 * It only fills fields that are empty, and only for crm's constraints.
 * The hook is called for errors written to the server log (log_min_messages
 * at its default, warning, or lower); with log_min_messages = fatal or panic
 * the hints are not added.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_index.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "crm.h"
#include "error_hints.h"

/* What is known about one crm constraint or unique index. */
typedef struct HintEntry
{
	char		name[NAMEDATALEN];	/* hash key */
	char		kind;			/* 'c' check, 'u' unique, 'f' foreign key */
	char	   *text;			/* c: the rule; u: the fields; f: parent table */
	char	   *table;			/* the constrained table */
} HintEntry;

static HTAB *hint_map = NULL;
static HTAB *hint_tables = NULL;	/* names of crm's tables */
static HTAB *hint_relids = NULL;	/* OIDs of crm's tables */
static MemoryContext hint_cxt = NULL;
static bool hint_valid = false;
static bool hint_callbacks = false;
static emit_log_hook_type prev_emit_log_hook = NULL;

/* Catalog change: reload before the next use. */
static void
hint_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	(void) arg;
	(void) cacheid;
	(void) hashvalue;
	hint_valid = false;
}

/*
 * Relation change of a crm table (an index created or renamed, a column
 * added): reload too.  Other relations' changes (every ANALYZE sends one)
 * are not ours.
 */
static void
hint_invalidate_rel(Datum arg, Oid relid)
{
	(void) arg;
	if (!OidIsValid(relid) || hint_relids == NULL ||
		hash_search(hint_relids, &relid, HASH_FIND, NULL) != NULL)
		hint_valid = false;
}

/* The values of "col = ANY (ARRAY['a'::text, 'b'::text])", or NULL. */
static char *
hint_in_list(const char *def)
{
	const char *p = strstr(def, "ANY (ARRAY[");
	StringInfoData s;
	int			n = 0;

	if (p == NULL)
		return NULL;
	initStringInfo(&s);
	p += strlen("ANY (ARRAY[");
	while (*p && *p != ']')
	{
		if (*p == '\'')
		{
			const char *q = p + 1;

			appendStringInfoString(&s, n++ > 0 ? ", " : "");
			while (*q && !(*q == '\'' && q[1] != '\''))
			{
				appendStringInfoChar(&s, *q);
				q += (*q == '\'' ? 2 : 1);
			}
			p = *q ? q + 1 : q;
		}
		else
			p++;
	}
	return n > 0 ? s.data : NULL;
}

/* Add one entry. */
static void
hint_add(const char *name, char kind, const char *text, const char *table)
{
	HintEntry  *e;
	bool		found;

	if (strlen(name) >= NAMEDATALEN)
		return;
	e = (HintEntry *) hash_search(hint_map, name, HASH_ENTER, &found);
	e->kind = kind;
	e->text = MemoryContextStrdup(hint_cxt, text);
	e->table = MemoryContextStrdup(hint_cxt, table);
}

/* The names of an index's columns other than organization_id. */
static char *
hint_index_fields(Form_pg_index idx)
{
	StringInfoData s;
	int			i,
				n = 0;

	initStringInfo(&s);
	for (i = 0; i < idx->indnkeyatts; i++)
	{
		AttrNumber	a = idx->indkey.values[i];
		char	   *col;

		if (a == 0)
		{
			appendStringInfo(&s, "%san expression", n++ > 0 ? ", " : "");
			continue;
		}
		col = get_attname(idx->indrelid, a, false);
		if (strcmp(col, "organization_id") == 0)
			continue;
		appendStringInfo(&s, "%s%s", n++ > 0 ? ", " : "", col);
	}
	return s.data;
}

/* Load the constraints and unique indexes of schema crm. */
static void
hint_load(void)
{
	Oid			nsp = get_namespace_oid("crm", true);
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	HASHCTL		ctl;
	MemoryContext old;

	if (hint_cxt == NULL)
		hint_cxt = AllocSetContextCreate(TopMemoryContext, "crm error hints", ALLOCSET_DEFAULT_SIZES);
	else
		MemoryContextReset(hint_cxt);
	hint_map = NULL;
	hint_tables = NULL;
	hint_relids = NULL;
	if (!OidIsValid(nsp))
		return;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = NAMEDATALEN;
	ctl.entrysize = sizeof(HintEntry);
	ctl.hcxt = hint_cxt;
	hint_map = hash_create("crm error hints", 256, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	ctl.entrysize = NAMEDATALEN;
	hint_tables = hash_create("crm tables", 64, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(Oid);
	hint_relids = hash_create("crm table oids", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	old = MemoryContextSwitchTo(hint_cxt);

	/* check and foreign-key constraints of crm's tables */
	rel = table_open(ConstraintRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while ((tup = systable_getnext(scan)) != NULL)
	{
		Form_pg_constraint c = (Form_pg_constraint) GETSTRUCT(tup);
		char	   *table;

		if (c->connamespace != nsp || !OidIsValid(c->conrelid))
			continue;
		table = get_rel_name(c->conrelid);
		if (table == NULL)
			continue;
		(void) hash_search(hint_tables, table, HASH_ENTER, NULL);
		(void) hash_search(hint_relids, &c->conrelid, HASH_ENTER, NULL);
		if (c->contype == CONSTRAINT_CHECK)
		{
			char	   *def = TextDatumGetCString(DirectFunctionCall2(pg_get_constraintdef_ext,
																	 ObjectIdGetDatum(c->oid),
																	 BoolGetDatum(true)));
			char	   *values = hint_in_list(def);

			hint_add(NameStr(c->conname), 'c',
					 values ? psprintf("Allowed values: %s.", values)
					 : psprintf("The rule %s: %s.", NameStr(c->conname), def),
					 table);
		}
		else if (c->contype == CONSTRAINT_FOREIGN)
		{
			char	   *parent = get_rel_name(c->confrelid);

			if (parent != NULL)
				hint_add(NameStr(c->conname), 'f', parent, table);
		}
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	/* unique indexes (constraints or not) of crm's tables */
	rel = table_open(IndexRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while ((tup = systable_getnext(scan)) != NULL)
	{
		Form_pg_index idx = (Form_pg_index) GETSTRUCT(tup);
		char	   *name;
		char	   *table;

		if (!idx->indisunique || idx->indisprimary || get_rel_namespace(idx->indrelid) != nsp)
			continue;
		name = get_rel_name(idx->indexrelid);
		table = get_rel_name(idx->indrelid);
		if (name != NULL && table != NULL)
			hint_add(name, 'u', hint_index_fields(idx), table);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	MemoryContextSwitchTo(old);
}

/* See error_hints.h. */
void
crm_error_hints_prepare(void)
{
	if (hint_valid || IsParallelWorker() || !IsTransactionState())
		return;
	if (!hint_callbacks)
	{
		CacheRegisterSyscacheCallback(CONSTROID, hint_invalidate, (Datum) 0);
		CacheRegisterRelcacheCallback(hint_invalidate_rel, (Datum) 0);
		hint_callbacks = true;
	}
	hint_load();
	hint_valid = true;
}

/* An entry for a constraint name, or NULL. */
static HintEntry *
hint_find(const char *name)
{
	if (hint_map == NULL || name == NULL || strlen(name) >= NAMEDATALEN)
		return NULL;
	return (HintEntry *) hash_search(hint_map, name, HASH_FIND, NULL);
}

/* The hook: fill in what a crm error leaves out. */
static void
crm_emit_log_hook(ErrorData *edata)
{
	MemoryContext old;
	HintEntry  *e;

	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
	if (edata->elevel < ERROR || hint_map == NULL)
		return;

	old = MemoryContextSwitchTo(ErrorContext);
	e = hint_find(edata->constraint_name);
	if (e != NULL && (edata->schema_name == NULL || strcmp(edata->schema_name, "crm") == 0))
	{
		if (edata->sqlerrcode == ERRCODE_CHECK_VIOLATION && e->kind == 'c' && edata->hint == NULL)
			edata->hint = pstrdup(e->text);
		else if (edata->sqlerrcode == ERRCODE_UNIQUE_VIOLATION && e->kind == 'u' && edata->detail == NULL)
		{
			edata->detail = psprintf("Another record of crm.%s in this organization already has this %s.",
									 e->table, e->text);
			if (edata->hint == NULL)
				edata->hint = pstrdup("Update that record instead, or use another value.");
		}
		else if (edata->sqlerrcode == ERRCODE_FOREIGN_KEY_VIOLATION && e->kind == 'f' &&
				 edata->hint == NULL && edata->message != NULL &&
				 strncmp(edata->message, "update or delete on table", 25) == 0)
			edata->hint = psprintf("Records of crm.%s still point at it. Soft-delete it instead "
								   "(UPDATE crm.%s SET deleted_at = now() WHERE ...), or point those records "
								   "elsewhere first (crm.merge() moves every reference to another record).",
								   e->table, e->text);
	}
	else if (edata->sqlerrcode == ERRCODE_INSUFFICIENT_PRIVILEGE && edata->hint == NULL &&
			 edata->message != NULL && hint_tables != NULL &&
			 strncmp(edata->message, "permission denied for table ", 28) == 0 &&
			 strlen(edata->message + 28) < NAMEDATALEN &&
			 hash_search(hint_tables, edata->message + 28, HASH_FIND, NULL) != NULL)
		edata->hint = psprintf("crm's access levels (crm.grant_access): readonly reads; user also inserts and updates "
							   "records and removes them by soft delete (UPDATE crm.%s SET deleted_at = now() WHERE ...); "
							   "admin also deletes and edits definitions (custom fields, users, teams, rules).",
							   edata->message + 28);
	MemoryContextSwitchTo(old);
}

/* See error_hints.h. */
void
crm_error_hints_init(void)
{
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = crm_emit_log_hook;
}
