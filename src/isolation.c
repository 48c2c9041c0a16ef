/*
 * isolation.c
 *		Settings of the RLS helpers.  The helpers themselves are SQL in the
 *		install script: their work is DDL and catalog queries.
 */
#include "postgres.h"

#include "utils/guc.h"

#include "trovella.h"

static char *tenant_column_setting = NULL;

void
IsolationInit(void)
{
	DefineCustomStringVariable("trovella.tenant_column",
							   gettext_noop("Column name that marks a table as tenant-scoped for trovella.isolation_status."),
							   NULL,
							   &tenant_column_setting,
							   "tenant_id",
							   PGC_USERSET,
							   0,
							   NULL,
							   NULL,
							   NULL);
}
