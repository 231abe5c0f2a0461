/*
 * owner_step.c
 *		Public functions that run as their caller and end with a step only
 *		crm's owner may take.
 *
 * crm.merge and crm.subject_erase run as the caller, under row-level
 * security, in the caller's transaction; but they also write what no
 * application role may write: MERGE and ERASE entries of crm.audit_log and
 * the crm.erasure_log row.  Those writers used to be SECURITY DEFINER
 * functions every role could execute (PostgreSQL checks EXECUTE on each
 * nested call of a caller-rights function), so an application role could
 * call them itself and forge a MERGE entry -- which data-subject erasure
 * follows -- or an erasure record, in its own organization.
 *
 * Here such a public function crm.NAME is a C function that calls two SQL
 * functions nobody but the owner may execute, through fmgr, which checks no
 * privilege:
 *
 *		crm._NAME_run(same arguments) RETURNS jsonb
 *			the work, as the caller (not SECURITY DEFINER); returns what is
 *			to be recorded;
 *		crm._NAME_record(jsonb) RETURNS <the return type of crm.NAME>
 *			SECURITY DEFINER: writes the log entries from that document and
 *			returns the result.
 *
 * The caller can start the pair only through crm.NAME, so the entries
 * record what _NAME_run did; nothing else can reach _NAME_record.  Each
 * writer it calls still checks the caller's organization and privileges.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

/* The two steps of one public function, looked up once per call site. */
typedef struct OwnerStep
{
	FmgrInfo	run;
	FmgrInfo	record;
} OwnerStep;

/* The function crm.<prefix><name><suffix>(argtypes), which must exist. */
static Oid
owner_step_lookup(const char *name, const char *suffix, int nargs, const Oid *argtypes)
{
	List	   *qualified = list_make2(makeString("crm"), makeString(psprintf("_%s_%s", name, suffix)));

	return LookupFuncName(qualified, nargs, argtypes, false);
}

/* Whether a function is SECURITY DEFINER. */
static bool
owner_step_secdef(Oid fn)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	bool		secdef;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", fn);
	secdef = ((Form_pg_proc) GETSTRUCT(tup))->prosecdef;
	ReleaseSysCache(tup);
	return secdef;
}

/* Find and check the two steps of the public function fn_oid. */
static OwnerStep *
owner_step_prepare(FmgrInfo *flinfo)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(flinfo->fn_oid));
	Form_pg_proc proc;
	Oid			run;
	Oid			record;
	Oid			jsonb = JSONBOID;
	OwnerStep  *st;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", flinfo->fn_oid);
	proc = (Form_pg_proc) GETSTRUCT(tup);
	if (proc->pronamespace != get_namespace_oid("crm", false))
		elog(ERROR, "owner_step_call serves functions of schema crm only");
	run = owner_step_lookup(NameStr(proc->proname), "run", proc->pronargs, proc->proargtypes.values);
	record = owner_step_lookup(NameStr(proc->proname), "record", 1, &jsonb);
	if (get_func_rettype(run) != JSONBOID || get_func_rettype(record) != proc->prorettype ||
		!owner_step_secdef(record) || owner_step_secdef(run))
		elog(ERROR, "the steps of crm.%s are not a run (jsonb, caller's rights) and a record (SECURITY DEFINER) step",
			 NameStr(proc->proname));
	ReleaseSysCache(tup);

	st = MemoryContextAllocZero(flinfo->fn_mcxt, sizeof(OwnerStep));
	fmgr_info_cxt(run, &st->run, flinfo->fn_mcxt);
	fmgr_info_cxt(record, &st->record, flinfo->fn_mcxt);
	if (st->run.fn_strict || st->record.fn_strict)
		elog(ERROR, "the steps of crm.%s must not be STRICT", get_func_name(flinfo->fn_oid));
	return st;
}

/* crm.merge, crm.subject_erase: crm._NAME_run, then crm._NAME_record. */
PG_FUNCTION_INFO_V1(owner_step_call);
Datum
owner_step_call(PG_FUNCTION_ARGS)
{
	OwnerStep  *st = (OwnerStep *) fcinfo->flinfo->fn_extra;
	LOCAL_FCINFO(run, FUNC_MAX_ARGS);
	LOCAL_FCINFO(record, 1);
	Datum		state;
	Datum		result;
	int			i;

	if (st == NULL)
		fcinfo->flinfo->fn_extra = st = owner_step_prepare(fcinfo->flinfo);

	InitFunctionCallInfoData(*run, &st->run, PG_NARGS(), PG_GET_COLLATION(), NULL, NULL);
	for (i = 0; i < PG_NARGS(); i++)
		run->args[i] = fcinfo->args[i];
	state = FunctionCallInvoke(run);

	InitFunctionCallInfoData(*record, &st->record, 1, InvalidOid, NULL, NULL);
	record->args[0].value = state;
	record->args[0].isnull = run->isnull;
	result = FunctionCallInvoke(record);
	fcinfo->isnull = record->isnull;
	return result;
}
