/*
 * trovella.c
 *		Module entry point.  Each module defines its own settings and makes
 *		its registrations in its init function; the order here is the order
 *		of the context checks (membership, residue, then suspension, so that
 *		a non-member learns nothing of a suspension) and observers (the
 *		Citus signer).  hooks.c installs the server hooks last.  src/README
 *		describes the layers.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "cluster.h"
#include "cluster_key.h"
#include "cluster_purge.h"
#include "compat.h"
#include "context.h"
#include "hooks.h"
#include "isolation.h"
#include "log_redact.h"
#include "membership.h"
#include "pat_sql.h"
#include "purge.h"
#include "residue.h"
#include "soft_delete.h"
#include "stats.h"
#include "stats_count.h"
#include "stats_store.h"
#include "suspension.h"
#include "token_cap.h"
#include "token_touch.h"

TROVELLA_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	ContextInit();
	IsolationInit();
	PatInit();
	LogRedactInit();
	TokenCapInit();
	TokenTouchInit();
	MembershipInit();			/* context check: membership first */
	ResidueInit();				/* context check: residue second */
	SuspensionInit();			/* context check: suspension third */
	StatsInit();
	StatsCountInit();
	StatsStoreInit();
	ClusterKeyInit();
	ClusterInit();				/* context observer: the Citus signer */
	ClusterPurgeInit();
	SoftDeleteInit();
	PurgeInit();
	HooksInit();
	MarkGUCPrefixReserved("trovella");
}
