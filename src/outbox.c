/*
 * outbox.c
 *		Notifications of outbox events that reveal nothing across tenants.
 *
 * Every row inserted into crm.outbox is announced at commit with NOTIFY on
 * a channel of its own organization, named "crm_events_" followed by 32 hex
 * digits of SHA-256(secret key || organization id).  The key is random,
 * made at CREATE EXTENSION time, and lives in crm.event_key, which no
 * application role can read.  So a listener learns the events of a tenant
 * only if it can call crm.event_channel() for that tenant, that is, only if
 * it may act for it: knowing another organization's id is not enough, and
 * one tenant's event volume and timing are invisible to the others.
 *
 * The payload is the outbox id, nothing else.  NOTIFY itself cannot be
 * protected (any role may NOTIFY any channel), so a notification is only a
 * wake-up call: the consumer reads the event from crm.outbox, under its
 * tenant's row-level security, and an id that is not there was not sent by
 * crm (doc/design.md, "Events").
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "fmgr.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/fmgrprotos.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

#include "crm.h"
#include "trigger_support.h"

#define OUTBOX_FNAME "crm.trg_outbox_notify()"
/* "crm_events_" and 32 hex digits: well below NAMEDATALEN */
#define CHANNEL_HEX 32

/* The secret key (bytea) from crm.event_key, read without privileges. */
static bytea *
outbox_read_event_key(void)
{
	Oid			relid = crm_relation_oid("event_key");
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	Snapshot	snap;
	bytea	   *key = NULL;

	if (!OidIsValid(relid))
		elog(ERROR, "crm.event_key is missing");
	rel = table_open(relid, AccessShareLock);
	snap = RegisterSnapshot(GetLatestSnapshot());
	scan = table_beginscan(rel, snap, 0, NULL);
	if ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, 1, RelationGetDescr(rel), &isnull);

		if (!isnull && TupleDescAttr(RelationGetDescr(rel), 0)->atttypid == BYTEAOID)
			key = DatumGetByteaPCopy(d);
	}
	table_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);
	if (key == NULL || VARSIZE_ANY_EXHDR(key) < 16)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("crm.event_key holds no key"),
				 errhint("The crm extension is incompletely installed or restored; reinstall it.")));
	return key;
}

/*
 * The key, read once per transaction (an INSERT of many outbox rows would
 * otherwise scan crm.event_key once per row); kept in TopMemoryContext.
 */
static bytea *
outbox_event_key(void)
{
	static bytea *key = NULL;
	static LocalTransactionId key_lxid = InvalidLocalTransactionId;
	bytea	   *fresh;

	if (key != NULL && key_lxid == MyProc->lxid)
		return key;
	fresh = outbox_read_event_key();
	if (key != NULL)
		pfree(key);
	key = MemoryContextAlloc(TopMemoryContext, VARSIZE(fresh));
	memcpy(key, fresh, VARSIZE(fresh));
	pfree(fresh);
	key_lxid = MyProc->lxid;
	return key;
}

/* The channel name of an organization's events (palloc'd). */
static char *
outbox_channel(const pg_uuid_t *org)
{
	bytea	   *key = outbox_event_key();
	Size		klen = VARSIZE_ANY_EXHDR(key);
	bytea	   *msg = palloc(VARHDRSZ + klen + UUID_LEN);
	bytea	   *digest;
	char	   *name = palloc(sizeof("crm_events_") + CHANNEL_HEX);
	const unsigned char *d;
	int			i;

	SET_VARSIZE(msg, VARHDRSZ + klen + UUID_LEN);
	memcpy(VARDATA(msg), VARDATA_ANY(key), klen);
	memcpy(VARDATA(msg) + klen, org->data, UUID_LEN);
	digest = DatumGetByteaPP(DirectFunctionCall1(sha256_bytea, PointerGetDatum(msg)));
	d = (const unsigned char *) VARDATA_ANY(digest);

	strcpy(name, "crm_events_");
	for (i = 0; i < CHANNEL_HEX / 2; i++)
		sprintf(name + strlen("crm_events_") + 2 * i, "%02x", d[i]);
	pfree(msg);
	return name;
}

PG_FUNCTION_INFO_V1(outbox_event_channel);

/* SQL: crm.event_channel() returns text: the channel of the current organization's events */
Datum
outbox_event_channel(PG_FUNCTION_ARGS)
{
	pg_uuid_t	org = crm_current_org_uuid();

	PG_RETURN_TEXT_P(cstring_to_text(outbox_channel(&org)));
}

PG_FUNCTION_INFO_V1(outbox_notify);

/* SQL: crm.trg_outbox_notify() returns trigger (AFTER INSERT ON crm.outbox, FOR EACH ROW) */
Datum
outbox_notify(PG_FUNCTION_ARGS)
{
	TriggerData *td = crm_trigger_check(fcinfo, OUTBOX_FNAME, CRM_TRIG_AFTER_ROW | CRM_TRIG_INSERT);
	Relation	rel = td->tg_relation;
	int			org_att = crm_trigger_column(rel, "organization_id", UUIDOID, true, OUTBOX_FNAME);
	int			id_att = crm_trigger_column(rel, "id", UUIDOID, true, OUTBOX_FNAME);
	bool		orgnull,
				idnull;
	Datum		org = heap_getattr(td->tg_trigtuple, org_att, RelationGetDescr(rel), &orgnull);
	Datum		id = heap_getattr(td->tg_trigtuple, id_att, RelationGetDescr(rel), &idnull);

	/* a restore loads old events: nobody is waiting for them */
	if (!crm_restoring && !orgnull && !idnull)
		Async_Notify(outbox_channel(DatumGetUUIDP(org)),
					 DatumGetCString(DirectFunctionCall1(uuid_out, id)));
	return PointerGetDatum(NULL);
}
