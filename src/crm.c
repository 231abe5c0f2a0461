/*
 * crm.c
 *		Module entry point: the magic block, _PG_init and the crm.* GUCs.
 *
 * crm needs no shared_preload_libraries: everything here is per backend and
 * is set up the first time any crm C function is called.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "fmgr.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

#include "crm.h"
#include "error_hints.h"

PG_MODULE_MAGIC;

char	   *crm_organization_guc = NULL;
char	   *crm_user_guc = NULL;
bool		crm_restoring = false;
bool		crm_allow_drop_with_data = false;
bool		crm_rollup_shared_rows = false;

void		_PG_init(void);

/* Register the crm.* settings and reserve the prefix. */
void
_PG_init(void)
{
	DefineCustomStringVariable("crm.organization_id",
							   "The tenant (crm.organization id) this session or transaction acts for.",
							   "Every tenant table's row-level security policy compares organization_id with this value; "
							   "set it per session or with SET LOCAL per transaction.",
							   &crm_organization_guc,
							   NULL,
							   PGC_USERSET,
							   0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("crm.user_id",
							   "The crm.app_user id of whoever acts in this session or transaction.",
							   "Recorded as created_by/updated_by and as the actor of audit log entries.",
							   &crm_user_guc,
							   NULL,
							   PGC_USERSET,
							   0,
							   NULL, NULL, NULL);

	DefineCustomBoolVariable("crm.restoring",
							 "Restore mode: crm's triggers leave rows exactly as they are loaded.",
							 "Set by crm.pre_restore() and cleared by crm.post_restore(); only a superuser can set it.",
							 &crm_restoring,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("crm.allow_drop_with_data",
							 "Allow dropping or truncating CRM data: DROP EXTENSION crm, DROP SCHEMA crm CASCADE, DROP OWNED, TRUNCATE, drops of CRM tables or columns.",
							 "Without it, dropping the extension is refused as long as any CRM table has rows.",
							 &crm_allow_drop_with_data,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("crm.rollup_shared_rows",
							 "For benchmarks only: write weighted-pipeline roll-up deltas to one shared row per bucket.",
							 "The row-lock design crm measured against its per-backend slot rows (doc/sales.md): "
							 "equally exact, but writers of a bucket wait for each other's commit and can deadlock.",
							 &crm_rollup_shared_rows,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("crm.default_country",
							   "Country (ISO 3166 alpha-2) for phone numbers written without a country code.",
							   "Used when text is converted to crm.phone: \"030 1234567\" with DE is +49301234567; "
							   "its international and trunk prefixes are understood too.",
							   &crm_default_country,
							   "",
							   PGC_USERSET,
							   0,
							   phone_check_default_country, NULL, NULL);

	MarkGUCPrefixReserved("crm");
	crm_error_hints_init();
}

/* The OID of schema crm (errors if it is missing). */
Oid
crm_namespace_oid(void)
{
	return get_namespace_oid("crm", false);
}

/* The OID of table crm.<relname>, or InvalidOid. */
Oid
crm_relation_oid(const char *relname)
{
	return get_relname_relid(relname, crm_namespace_oid());
}
