/*
 * trovella.c
 *		Module entry point: each capability defines its own settings.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "compat.h"
#include "trovella.h"

TROVELLA_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	TenantInit();
	IsolationInit();
	PatInit();
	ResidueInit();
	MembershipInit();
	StatsInit();
	ClusterInit();
	MarkGUCPrefixReserved("trovella");
}
