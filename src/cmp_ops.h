/*
 * cmp_ops.h
 *		One macro that defines the fmgr entry points of a type's comparison
 *		operators (=, <>, <, <=, >, >=) and its btree support function from
 *		a single three-way comparison over the call's two arguments.
 *
 *		CRM_DEFINE_CMP_OPS(email, email_compare_args)
 * defines email_cmp_fn, email_eq, email_ne, email_lt, email_le, email_gt and
 * email_ge, each calling email_compare_args(fcinfo).
 */
#ifndef CRM_CMP_OPS_H
#define CRM_CMP_OPS_H

#include "fmgr.h"

#define CRM_DEFINE_CMP_OP(prefix, name, compare, test) \
PG_FUNCTION_INFO_V1(prefix##_##name); \
Datum \
prefix##_##name(PG_FUNCTION_ARGS) \
{ \
	PG_RETURN_BOOL(compare(fcinfo) test); \
}

#define CRM_DEFINE_CMP_OPS(prefix, compare) \
PG_FUNCTION_INFO_V1(prefix##_cmp_fn); \
Datum \
prefix##_cmp_fn(PG_FUNCTION_ARGS) \
{ \
	PG_RETURN_INT32(compare(fcinfo)); \
} \
CRM_DEFINE_CMP_OP(prefix, eq, compare, == 0) \
CRM_DEFINE_CMP_OP(prefix, ne, compare, != 0) \
CRM_DEFINE_CMP_OP(prefix, lt, compare, < 0) \
CRM_DEFINE_CMP_OP(prefix, le, compare, <= 0) \
CRM_DEFINE_CMP_OP(prefix, gt, compare, > 0) \
CRM_DEFINE_CMP_OP(prefix, ge, compare, >= 0)

#endif							/* CRM_CMP_OPS_H */
