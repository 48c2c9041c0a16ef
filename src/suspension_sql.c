/*
 * suspension_sql.c
 *		SQL functions of suspension: suspension_changed, which
 *		suspend_tenant and resume_tenant call after they wrote
 *		trovella.suspended_tenant.
 */
#include "postgres.h"

#include "fmgr.h"

#include "suspension.h"

/* suspension_changed(): every backend reads the suspended tenants again. */
PG_FUNCTION_INFO_V1(trovella_suspension_changed_sql);
Datum
trovella_suspension_changed_sql(PG_FUNCTION_ARGS)
{
	trovella_suspension_changed();
	PG_RETURN_VOID();
}
