/*
 * error_hints.h
 *		Actionable errors for crm's constraints (error_hints.c).
 */
#ifndef CRM_ERROR_HINTS_H
#define CRM_ERROR_HINTS_H

/* Install the error hook (from _PG_init). */
extern void crm_error_hints_init(void);

/*
 * Load what the hook needs if the catalogs changed since; call at a point
 * where the catalogs may be read (a query or trigger of crm is running).
 */
extern void crm_error_hints_prepare(void);

#endif							/* CRM_ERROR_HINTS_H */
