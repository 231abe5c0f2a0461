/*
 * criteria.h
 *		The criteria language for other C code of crm: a document compiled
 *		once for (tenant, entity) into a handle the caller owns, evaluated
 *		in memory against a row of that entity's table (a HeapTuple and its
 *		TupleDesc, e.g. a trigger's tuple), and the set of fields the
 *		document reads, so that a trigger evaluates only the documents a
 *		change can affect.
 *
 * The handle answers exactly what crm.criteria_match answers for the same
 * row (the same evaluator, criteria_eval.h; the randomized differential
 * test holds it to the compiled SQL).  Users: per-row list membership
 * (src/lists.c); routing, SLA policies and fit scoring can use the same.
 *
 *	h = crm_criteria_prepare(criteria, "contact", cxt);	-- raises if invalid
 *	reads = crm_criteria_reads(h);		-- columns it reads
 *	t = crm_criteria_eval_tuple(h, tuple, desc, &org);	-- CRIT_TRUE/...
 *	crm_criteria_free(h);
 *
 * A handle belongs to the tenant current when it was prepared (its custom
 * fields); the caller drops it when the field catalog changes
 * (crm_criteria_catalog_generation moves).
 */
#ifndef CRM_CRITERIA_H
#define CRM_CRITERIA_H

#include "postgres.h"

#include "access/htup.h"
#include "access/tupdesc.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

#include "criteria_eval.h"

typedef struct CrmCriteria CrmCriteria;

/* What a document reads of a record. */
typedef struct CrmCriteriaReads
{
	int			ncolumns;
	char	  **columns;		/* columns of the entity's own table (unquoted) */
	int			naccount;
	char	  **account_columns;	/* columns of crm.account (account.* fields,
									 * which also read the record's account_id) */
	bool		related;		/* related-record (activity) conditions */
	bool		time_relative;	/* within_last / before_last: the answer
								 * changes with the clock alone */
} CrmCriteriaReads;

/*
 * Check and compile a document for an entity of the current tenant, in a
 * new memory context under "parent".  Raises the document's error (as
 * crm.criteria_validate describes it) when it is invalid.
 */
extern CrmCriteria *crm_criteria_prepare(Jsonb *criteria, const char *entity, MemoryContext parent);

/* The fields a prepared document reads. */
extern const CrmCriteriaReads *crm_criteria_reads(const CrmCriteria *c);

/*
 * Evaluate the document against a row of crm.<entity> (any TupleDesc with
 * the entity's columns) of tenant org.  Account and related-record fields
 * are read by kept plans (SPI, connected here when needed).  Per-row
 * memory is freed before it returns.  A soft-deleted row is evaluated as it
 * is: the caller decides what deleted_at means.
 */
extern CritTruth crm_criteria_eval_tuple(CrmCriteria *c, HeapTuple row, TupleDesc desc,
										 const pg_uuid_t *org);

/*
 * The document as a SQL predicate for set work (a list's refresh, its
 * check): the compiler's output, over crm.<entity> with alias t, in which
 * $1 is the tenant and every value of the document is a parameter $2 ..
 * $(*nargs); identifiers come quoted from the field catalog, never from the
 * document's text.  *types and *values (palloc'd in the current context,
 * with room for "extra" more parameters after them, for the caller's own
 * statement) hold the parameters, $1 set to org.  The predicate filters
 * neither by tenant nor by deleted_at: the caller's statement does, with
 * an explicit organization_id = $1 beside row-level security.
 */
extern const char *crm_criteria_predicate(const CrmCriteria *c, const pg_uuid_t *org, int extra,
										  int *nargs, Oid **types, Datum **values);

/* Free a handle. */
extern void crm_criteria_free(CrmCriteria *c);

/*
 * The field catalog's generation: moves when custom fields or tenant
 * criteria fields change (in any backend, at commit).  Handles prepared
 * under another generation may read a stale catalog.
 */
extern uint64 crm_criteria_catalog_generation(void);

#endif							/* CRM_CRITERIA_H */
