/*
 * dedup_rule.c
 *		What makes a duplicate rule with action block behave like a unique
 *		key under concurrency (crm.trg_duplicate_check, sql/68_dedup.sql):
 *
 *		crm._dedup_lock(org, entity, keys)	serialises the inserts that share
 *			a blocking key: a transaction-level exclusive lock per (tenant,
 *			entity, key), in crm's own advisory lock space, under a shared
 *			lock on (tenant, entity); a transaction that would hold more key
 *			locks than its budget takes that (tenant, entity) lock exclusively
 *			instead (a bulk INSERT must not fill the shared lock table);
 *		crm._dedup_exists_now(entity, org, ids, threshold, match_key)
 *			whether a rule finds a duplicate of the records in a snapshot
 *			taken now, which under REPEATABLE READ and SERIALIZABLE can see
 *			more than the transaction's own snapshot.
 *
 * Two records are compared only when they share a blocking key (candidates
 * come from the blocking indexes only), so two concurrent inserts of
 * duplicates always meet on at least one lock: the second waits until the
 * first commits or rolls back, and then looks again.  doc/design.md
 * ("Duplicate rules under concurrency") gives the whole argument.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

#include "trigger_support.h"

/*
 * Tells crm's duplicate-rule locks apart from the advisory locks of
 * applications (pg_advisory_lock uses 1 and 2 here) and from crm's
 * custom-field locks.
 */
#define DEDUP_LOCK_SUBID 0x4444

/*
 * Key locks one transaction may hold (half of max_locks_per_transaction, the
 * per-backend share of the shared lock table); past it, the transaction locks
 * the whole (tenant, entity) instead.
 */
#define DEDUP_KEY_BUDGET Max(max_locks_per_xact / 2, 8)

/* Key locks taken by the current transaction (local transaction id). */
static LocalTransactionId dedup_budget_lxid = InvalidLocalTransactionId;
static int	dedup_budget_used = 0;

/* qsort order of lock keys (64-bit hashes). */
static int
dedup_key_cmp(const void *a, const void *b)
{
	uint64		x = *(const uint64 *) a;
	uint64		y = *(const uint64 *) b;

	return x < y ? -1 : (x > y ? 1 : 0);
}

PG_FUNCTION_INFO_V1(dedup_lock);

/*
 * SQL: crm._dedup_lock(org uuid, entity text, keys text[]) returns void.
 * Takes the (tenant, entity) lock in share mode, then the transaction-level
 * lock of every non-null key, in hash order (two inserts sharing several
 * keys cannot deadlock on them).  When the keys would exceed the
 * transaction's budget (a bulk INSERT ... SELECT, or thousands of inserts in
 * one transaction), takes the (tenant, entity) lock in exclusive mode
 * instead: it conflicts with every other writer's share lock, so the keys
 * are covered all at once, at the price of serialising the tenant's writers
 * of that entity until the transaction ends.
 */
Datum
dedup_lock(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *org;
	text	   *entity;
	ArrayType  *keys;
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	uint64	   *hashes;
	int			n = 0;
	int			i;
	StringInfoData buf;
	LOCKTAG		etag;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_VOID();
	org = PG_GETARG_UUID_P(0);
	entity = PG_GETARG_TEXT_PP(1);
	keys = PG_GETARG_ARRAYTYPE_P(2);
	if (ARR_ELEMTYPE(keys) != TEXTOID)
		elog(ERROR, "crm._dedup_lock expects text[]");
	deconstruct_array(keys, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &nelems);

	hashes = palloc(sizeof(uint64) * Max(nelems, 1));
	initStringInfo(&buf);
	for (i = 0; i < nelems; i++)
	{
		text	   *k;

		if (nulls[i])
			continue;
		k = DatumGetTextPP(elems[i]);
		/* tenant, entity and key, each delimited, hashed as one string */
		resetStringInfo(&buf);
		appendBinaryStringInfo(&buf, (const char *) org->data, UUID_LEN);
		appendBinaryStringInfo(&buf, VARDATA_ANY(entity), VARSIZE_ANY_EXHDR(entity));
		appendStringInfoChar(&buf, '\0');
		appendBinaryStringInfo(&buf, VARDATA_ANY(k), VARSIZE_ANY_EXHDR(k));
		hashes[n++] = DatumGetUInt64(hash_any_extended((const unsigned char *) buf.data, buf.len, 0));
	}
	qsort(hashes, n, sizeof(uint64), dedup_key_cmp);

	crm_lock_tag(&etag, CRM_LOCK_DEDUP, org, VARDATA_ANY(entity), VARSIZE_ANY_EXHDR(entity));
	if (MyProc->lxid != dedup_budget_lxid)
	{
		dedup_budget_lxid = MyProc->lxid;
		dedup_budget_used = 0;
	}
	if (n == 0 || LockHeldByMe(&etag, ExclusiveLock))
		n = 0;					/* nothing to lock, or all of it locked already */
	else if (dedup_budget_used + n > DEDUP_KEY_BUDGET)
	{
		(void) LockAcquire(&etag, ExclusiveLock, false, false);
		n = 0;
	}
	else
	{
		(void) LockAcquire(&etag, ShareLock, false, false);
		dedup_budget_used += n;
	}
	for (i = 0; i < n; i++)
	{
		LOCKTAG		tag;

		if (i > 0 && hashes[i] == hashes[i - 1])
			continue;
		SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) (hashes[i] >> 32), (uint32) hashes[i],
							 DEDUP_LOCK_SUBID);
		(void) LockAcquire(&tag, ExclusiveLock, false, false);
	}
	pfree(buf.data);
	pfree(hashes);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(dedup_exists_now);

/*
 * SQL: crm._dedup_exists_now(entity text, org uuid, ids uuid[], threshold
 * real, match_key text) returns boolean: whether crm._dedup_matches() finds
 * anything for a block rule (without name keys) when it reads with a
 * snapshot taken now instead of the transaction's.  match_key may be NULL (a similarity rule).  Row-level
 * security and privileges apply as for any query of the caller.
 */
Datum
dedup_exists_now(PG_FUNCTION_ARGS)
{
	Oid			argtypes[5] = {TEXTOID, UUIDOID, UUIDARRAYOID, FLOAT4OID, TEXTOID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	Snapshot	snap;
	bool		found = false;
	bool		isnull;
	int			rc;
	int			i;

	for (i = 0; i < 5; i++)
	{
		if (PG_ARGISNULL(i))
		{
			if (i < 4)
				PG_RETURN_NULL();
			nulls[i] = 'n';
			values[i] = (Datum) 0;
		}
		else
			values[i] = PG_GETARG_DATUM(i);
	}

	/*
	 * A read-only SPI query runs with the active snapshot, and so do the
	 * STABLE functions it calls: make the one taken now active.
	 */
	snap = RegisterSnapshot(GetLatestSnapshot());
	PushActiveSnapshot(snap);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute_with_args("SELECT EXISTS (SELECT 1 FROM crm._dedup_matches($1, $2, $3, $4, $5, false))",
							   5, argtypes, values, nulls, true, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not look for duplicates: %s", SPI_result_code_string(rc));
	found = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	PopActiveSnapshot();
	UnregisterSnapshot(snap);
	PG_RETURN_BOOL(found && !isnull);
}
