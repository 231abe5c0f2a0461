/*
 * trigger_support.h
 *		What every crm C trigger does before it touches a row: check how it
 *		was fired, refuse a relation that is not crm's own, take the logical
 *		table name from its trigger argument, check the type of every column
 *		it reads or writes; and crm's own lock keyspace.
 */
#ifndef CRM_TRIGGER_SUPPORT_H
#define CRM_TRIGGER_SUPPORT_H

#include "postgres.h"

#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/hsearch.h"
#include "storage/lock.h"
#include "utils/rel.h"
#include "utils/uuid.h"

/* The events a trigger function accepts (crm_trigger_check's "kinds"). */
#define CRM_TRIG_BEFORE_ROW			0x01	/* BEFORE ... FOR EACH ROW */
#define CRM_TRIG_AFTER_STATEMENT	0x02	/* AFTER ... FOR EACH STATEMENT */
#define CRM_TRIG_AFTER_ROW			0x04	/* AFTER ... FOR EACH ROW */
#define CRM_TRIG_INSERT				0x10
#define CRM_TRIG_UPDATE				0x20
#define CRM_TRIG_DELETE				0x40

/*
 * Check that fcinfo is a trigger call of the accepted kinds on a relation
 * that is crm's own, and return the trigger data.  "fname" is the SQL name
 * used in messages (e.g. "crm.trg_stamp()").
 */
extern TriggerData *crm_trigger_check(FunctionCallInfo fcinfo, const char *fname, int kinds);

/* Whether a relation lives in schema crm and is owned by crm's owner. */
extern bool crm_relation_is_own(Relation rel);

/*
 * Argument "argno" of the trigger (0-based), or a clear error when the
 * trigger has too few arguments.  crm._setup_tenant_table passes the logical
 * table name as argument 0: on Citus the trigger fires on shards whose
 * relation names differ, and only crm's owner can create a trigger on a
 * relation crm_relation_is_own accepts, so the value is trustworthy.
 */
extern const char *crm_trigger_arg(TriggerData *td, int argno, const char *fname, const char *what);

/*
 * Attribute number of column "name" of the trigger's relation, checked to
 * be of type "typid" (no domain, no other type).  0 when the relation has no
 * such column and "required" is false; an error when it is required, or
 * when the column exists with another type.
 */
extern int	crm_trigger_column(Relation rel, const char *name, Oid typid, bool required,
							   const char *fname);

/*
 * Run a kept SPI plan as role "owner" (the owner of a crm table: trigger
 * work that must not depend on the caller's privileges, such as writing
 * the audit log or looking up a referenced row), with row-level security
 * not forced; every such query filters by organization itself.  The
 * statement runs under search_path pg_catalog, crm, pg_temp, whatever the
 * caller's path (see search_path.sh).  With owner InvalidOid, the statement
 * runs as the current user, under row-level security (only the path is
 * pinned).  The caller is connected to SPI.  Returns SPI_execute_plan's
 * result.
 */
extern int	crm_spi_execute_as(Oid owner, SPIPlanPtr plan, Datum *values, const char *nulls,
							   bool read_only, long count);

/* The owner of a relation. */
extern Oid	crm_relation_owner(Oid relid);

/*
 * crm_spi_execute_as for statements that look rows up by key.  Their kept
 * generic plan is made (or made again after an invalidation) with
 * enable_seqscan off: a plan made while a table is still small -- a new
 * backend's first statement, a table just analysed nearly empty -- would
 * otherwise scan the whole table once per looked-up row for the rest of the
 * backend's life.  Only the planning runs with the setting; the statement's
 * own work (foreign-key checks, triggers) is planned as usual.  The plan
 * must have been prepared with CURSOR_OPT_GENERIC_PLAN (crm_keep_plan).
 * While the plan source's generic plan is still the valid one this function
 * made, a call runs it at once (no setting saved and restored, no second
 * fetch of the plan); a generic plan the plan cache made during an
 * execution instead (an invalidation that arrived while the execution
 * locked the relations) is marked invalid afterwards, so it serves that
 * one execution only and the next call plans it with the setting.
 */
extern int	crm_spi_execute_lookup_as(Oid owner, SPIPlanPtr plan, Datum *values, const char *nulls,
									  bool read_only, long count);

/*
 * The plan in *slot, prepared and kept (SPI_keepplan) on first use with
 * SPI_prepare_cursor's "cursor_options" (0, or CURSOR_OPT_GENERIC_PLAN for
 * a statement whose plan does not depend on its arguments' values).
 */
extern SPIPlanPtr crm_keep_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes,
								int cursor_options);

/*
 * The slot of a kept plan in a backend-lifetime cache keyed by an OID (a
 * trigger's or a relation's): *cache is created on first use; a new slot
 * holds NULL.  Plans in it are prepared once and kept (SPI_keepplan).
 */
extern SPIPlanPtr *crm_plan_slot(HTAB **cache, const char *name, Oid key, int nplans, int which);

/*
 * crm's own advisory lock keyspace.  SQL's pg_advisory_* functions use
 * field4 = 1 (one int8 key) or 2 (two int4 keys), so no caller can compute
 * or take a lock whose field4 is one of these.
 */
typedef enum CrmLockSpace
{
	CRM_LOCK_CUSTOM_FIELD = 0x4346,	/* (tenant, entity) custom field definitions */
	CRM_LOCK_HIERARCHY = 0x4348,	/* (tenant, table) parent links */
	CRM_LOCK_SCORING = 0x4353,	/* (tenant, "model") the scoring model:
								 * scorers share, model changes exclusive */
	CRM_LOCK_DEDUP = 0x4344			/* (tenant, entity) duplicate rules; the
									 * key locks under it: dedup_rule.c */
} CrmLockSpace;

/* The lock tag of (space, tenant, name) in crm's keyspace. */
extern void crm_lock_tag(LOCKTAG *tag, CrmLockSpace space, const pg_uuid_t *org, const char *name, int namelen);

/*
 * The per-statement caches of crm's row triggers (custom field definitions,
 * picklist values) hold one entry per tenant the statement touches: one,
 * normally; several only when row-level security is bypassed.  Every entry
 * begins with its tenant's pg_uuid_t; the cache lives in "cxt" (fn_mcxt).
 */
typedef struct CrmTenantCache
{
	size_t		entry_size;
	int			n;
	int			max;
	int			last;			/* the entry found last: rows of one tenant come together */
	char	   *entries;
	MemoryContext cxt;
} CrmTenantCache;

extern void crm_tenant_cache_init(CrmTenantCache *tc, size_t entry_size, MemoryContext cxt);
/* The entry of a tenant, or NULL. */
extern void *crm_tenant_cache_find(CrmTenantCache *tc, const pg_uuid_t *org);
/* A new zeroed entry for a tenant (its uuid set) for the caller to fill. */
extern void *crm_tenant_cache_add(CrmTenantCache *tc, const pg_uuid_t *org);

/* Bytewise comparison of two strings (COLLATE "C" order), for lookups. */
static inline int
crm_bytes_cmp(const char *a, int alen, const char *b, int blen)
{
	int			c = memcmp(a, b, Min(alen, blen));

	if (c != 0)
		return c;
	return alen < blen ? -1 : (alen > blen ? 1 : 0);
}

#endif							/* CRM_TRIGGER_SUPPORT_H */
