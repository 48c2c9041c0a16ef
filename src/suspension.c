/*
 * suspension.c
 *		Suspended tenants: a tenant an operator suspended with
 *		trovella.suspend_tenant() is opened by no new context until
 *		trovella.resume_tenant().
 *
 * The suspensions are rows of trovella.suspended_tenant, which only those
 * two functions write (as the extension's owner; nobody else has any right
 * on it).  Every path that gives a transaction a tenant it did not have yet
 * (with_tenant, authenticate with a token bound to a tenant) probes the
 * table's primary key first, through the access methods as the membership
 * check does (membership.c): no statement runs, so nothing on the caller's
 * search path takes part, and no right of the caller's is needed.  In READ
 * COMMITTED the calling statement's snapshot is used, otherwise the latest:
 * a suspension that committed before the check is always seen.
 *
 * A transaction that already has the tenant is not checked again (calling
 * with_tenant a second time, with_user or authenticate after with_tenant):
 * transactions open when the suspension commits finish as they began.
 *
 * On a Citus cluster trovella.suspended_tenant is a reference table (the
 * SQL functions require it where there are other nodes), and every node
 * reads its own copy of it: a client connected to a worker is refused
 * there as on the coordinator.  The coordinator's checked context reaches
 * its workers signed (cluster.c), which is not checked again.
 *
 * What the table resolves to (its OID, its primary key's) is kept per
 * backend and checked against the catalog before each use; with Citus
 * loaded it is resolved again in each transaction, since the node's copy
 * changes when Citus makes the table a reference table.
 */
#include "postgres.h"

#include "access/stratnum.h"
#include "access/tupdesc.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_index.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "citus.h"
#include "compat.h"
#include "context.h"
#include "index_probe.h"
#include "suspension.h"

/* trovella.suspended_tenant as this node reads it. */
typedef struct SuspensionTable
{
	bool		resolved;
	Oid			relid;			/* InvalidOid: not there (an older version) */
	Oid			index;			/* its primary key, on tenant_id */
	AttrNumber	reason;
	LocalTransactionId lxid;	/* resolved in this transaction (Citus) */
} SuspensionTable;

static SuspensionTable suspension;

/* Whether what was resolved still names the table and its key. */
static bool
still_valid(const SuspensionTable *s)
{
	HeapTuple	tuple;
	bool		valid;

	if (!OidIsValid(s->relid))
		return OidIsValid(get_namespace_oid("trovella", true)) &&
			!OidIsValid(get_relname_relid("suspended_tenant", get_namespace_oid("trovella", true)));
	tuple = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(s->index));
	if (!HeapTupleIsValid(tuple))
		return false;
	valid = ((Form_pg_index) GETSTRUCT(tuple))->indrelid == s->relid;
	ReleaseSysCache(tuple);
	return valid;
}

static SuspensionTable *
current_table(void)
{
	SuspensionTable s = {0};
	Oid			namespace;
	AttrNumber	tenant;
	int			position;

	if (suspension.resolved &&
		(trovella_citus_loaded() ? suspension.lxid == TROVELLA_MY_LXID : still_valid(&suspension)))
		return &suspension;

	namespace = get_namespace_oid("trovella", true);
	if (OidIsValid(namespace))
		s.relid = get_relname_relid("suspended_tenant", namespace);
	if (OidIsValid(s.relid))
	{
		/* a Citus reference table: this node's copy (citus.c) */
		s.relid = trovella_citus_local_copy(s.relid);
		tenant = get_attnum(s.relid, "tenant_id");
		s.reason = get_attnum(s.relid, "reason");
		if (tenant == InvalidAttrNumber || s.reason == InvalidAttrNumber)
			elog(ERROR, "trovella.suspended_tenant lacks its columns");
		s.index = trovella_find_unique_index(s.relid, 1, &tenant, &position);
		if (!OidIsValid(s.index))
			elog(ERROR, "trovella.suspended_tenant has no unique index on tenant_id");
	}
	s.lxid = TROVELLA_MY_LXID;
	s.resolved = true;
	suspension = s;
	return &suspension;
}

/*
 * The reason tenant is suspended for, in the caller's memory; NULL when it
 * is not suspended.
 */
static char *
suspension_reason(SuspensionTable *s, const pg_uuid_t *tenant)
{
	IndexProbe	probe;
	ScanKeyData key;
	Snapshot	snapshot;
	char	   *reason = NULL;

	snapshot = RegisterSnapshot(IsolationUsesXactSnapshot() || !ActiveSnapshotSet()
								? GetLatestSnapshot() : GetActiveSnapshot());
	trovella_probe_open(&probe, s->relid, s->index, snapshot, 1);
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_UUID_EQ, UUIDPGetDatum(tenant));
	if (trovella_probe(&probe, &key))
	{
		bool		isnull;
		Datum		value = slot_getattr(probe.slot, s->reason, &isnull);

		reason = isnull ? pstrdup("") : TextDatumGetCString(value);
	}
	trovella_probe_close(&probe, false);
	UnregisterSnapshot(snapshot);
	return reason;
}

/*
 * 57000, naming no tenant, with the operators' reason as its DETAIL, when
 * tenant is suspended on this node.
 */
static void
check_suspension(const pg_uuid_t *tenant_id, const char *function_name)
{
	SuspensionTable *s = current_table();
	char	   *reason;

	if (!OidIsValid(s->relid))
		return;
	reason = suspension_reason(s, tenant_id);
	if (reason == NULL)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_OPERATOR_INTERVENTION),
			 errmsg("trovella.%s: the tenant is suspended", function_name),
			 errdetail_internal("%s", reason),
			 errhint("The operators suspended it with trovella.suspend_tenant(); only trovella.resume_tenant() lifts it.")));
}

/*
 * The context check (context.h): a tenant the transaction does not have yet
 * must not be suspended.
 */
static void
check_tenant_not_suspended(const ContextProposal *proposal)
{
	pg_uuid_t	current;

	if (proposal->tenant_id == NULL)
		return;
	if (trovella_current_tenant_id(&current) &&
		memcmp(current.data, proposal->tenant_id->data, UUID_LEN) == 0)
		return;
	check_suspension(proposal->tenant_id, proposal->function_name);
}

void
SuspensionInit(void)
{
	trovella_register_context_check(check_tenant_not_suspended);
}
