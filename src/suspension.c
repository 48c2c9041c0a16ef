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
 * search path takes part, and no right of the caller's is needed.  The
 * probe reads the latest snapshot, in every isolation level: a suspension
 * that committed before the check is always seen, also by a READ COMMITTED
 * statement that began before it (whose own snapshot would predate it).
 *
 * A transaction that already has the tenant is not checked again (calling
 * with_tenant a second time, with_user or authenticate after with_tenant):
 * transactions open when the suspension commits finish as they began.
 *
 * On a Citus cluster trovella.suspended_tenant is a reference table (the
 * SQL functions require it where there are other nodes), and every node
 * reads its own copy of it: a client connected to a worker is refused
 * there as on the coordinator.  The coordinator's checked context reaches
 * its workers signed (cluster.c), and is checked again there when a
 * transaction receives it for a tenant it does not have yet: a value is
 * accepted until it expires, by any transaction that presents it, and
 * whoever read it (the statements Citus sends, citus.log_remote_commands)
 * could otherwise open the tenant after its suspension.  A transaction
 * that had the tenant before the suspension keeps it on the connections it
 * had, and is refused on those it opens after it.
 *
 * A transaction opening a tenant should not pay for a probe of the table
 * (a few microseconds, as much as with_tenant itself): on one node each
 * backend keeps the suspended tenants' ids, a sorted array read once, and
 * probes the table only for a tenant in it (for the reason, and to see the
 * suspension still holds).  suspend_tenant and resume_tenant invalidate the
 * table's relcache entry (trovella.suspension_changed()), as DDL would, and
 * the check takes the invalidation messages first: a suspension that has
 * committed before the check is seen, in any isolation level.  Each
 * backend then reads the table again, with the latest snapshot.  With Citus
 * loaded, whose writes to this node's copy of a reference table invalidate
 * nothing here, every check probes this node's copy.  Which relation that
 * copy is stays resolved across transactions: Citus invalidates the
 * table's relcache entry whenever its metadata changes (the table made a
 * reference table, a placement added, moved or dropped: Citus's
 * InsertIntoPgDistPartition, InsertShardPlacementRow and the like), and a
 * dropped copy invalidates its own entry.  Resolving it is a query of
 * Citus's metadata, which every worker would otherwise pay in each
 * transaction that receives a signed context.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tupdesc.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_index.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
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
	Oid			table;			/* trovella.suspended_tenant; InvalidOid: not there */
	Oid			relid;			/* what this node reads: the table, or its Citus copy */
	Oid			index;			/* its primary key, on tenant_id */
	AttrNumber	tenant;
	AttrNumber	reason;
	bool		citus;			/* resolved with Citus loaded */
	bool		loaded;			/* ids holds the table's tenants (one node) */
	int			count;
	pg_uuid_t  *ids;			/* sorted, in TopMemoryContext */
} SuspensionTable;

static SuspensionTable suspension;

/* trovella.suspended_tenant's OID, InvalidOid when there is none. */
static Oid
suspension_table_relid(void)
{
	Oid			namespace = get_namespace_oid("trovella", true);

	return OidIsValid(namespace) ? get_relname_relid("suspended_tenant", namespace) : InvalidOid;
}

/*
 * A relcache invalidation (hooks.c): of the table (DDL, or a suspension
 * changed), or of everything.
 */
void
trovella_suspension_relcache(Oid relid)
{
	if (relid == InvalidOid || relid == suspension.table || relid == suspension.relid ||
		relid == suspension.index)
	{
		suspension.resolved = false;
		suspension.loaded = false;
	}
}

/* suspend_tenant and resume_tenant: every backend reads the table again. */
void
trovella_suspension_changed(void)
{
	Oid			table = suspension_table_relid();

	if (OidIsValid(table))
		CacheInvalidateRelcacheByRelid(table);
}

static SuspensionTable *
current_table(bool citus)
{
	SuspensionTable s = {0};
	int			position;

	/* without the table (an older version), look for it each time */
	if (suspension.resolved && OidIsValid(suspension.table) &&
		suspension.citus == citus)
		return &suspension;

	s.table = suspension_table_relid();
	if (OidIsValid(s.table))
	{
		/* a Citus reference table: this node's copy (citus.c) */
		s.relid = citus ? trovella_citus_local_copy(s.table) : s.table;
		s.tenant = get_attnum(s.relid, "tenant_id");
		s.reason = get_attnum(s.relid, "reason");
		if (s.tenant == InvalidAttrNumber || s.reason == InvalidAttrNumber)
			elog(ERROR, "trovella.suspended_tenant lacks its columns");
		s.index = trovella_find_unique_index(s.relid, 1, &s.tenant, &position);
		if (!OidIsValid(s.index))
			elog(ERROR, "trovella.suspended_tenant has no unique index on tenant_id");
	}
	if (suspension.ids != NULL)
		pfree(suspension.ids);
	s.citus = citus;
	s.resolved = true;
	suspension = s;
	return &suspension;
}

static int
uuid_order(const void *a, const void *b)
{
	return memcmp(a, b, UUID_LEN);
}

/* Read the suspended tenants' ids into s->ids, with the latest snapshot. */
static void
load_ids(SuspensionTable *s)
{
	Relation	rel = table_open(s->relid, AccessShareLock);
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
	SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, snapshot, 0, NULL);
	HeapTuple	tuple;
	int			allocated = 16;
	pg_uuid_t  *ids = MemoryContextAlloc(TopMemoryContext, allocated * sizeof(pg_uuid_t));
	int			count = 0;

	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		value = heap_getattr(tuple, s->tenant, RelationGetDescr(rel), &isnull);

		if (isnull)
			continue;
		if (count == allocated)
		{
			allocated *= 2;
			ids = repalloc(ids, allocated * sizeof(pg_uuid_t));
		}
		ids[count++] = *DatumGetUUIDP(value);
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
	qsort(ids, count, sizeof(pg_uuid_t), uuid_order);
	if (s->ids != NULL)
		pfree(s->ids);
	s->ids = ids;
	s->count = count;
	s->loaded = true;
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

	/* not the statement's: it may have begun before the suspension committed */
	snapshot = RegisterSnapshot(GetLatestSnapshot());
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
	bool		citus = trovella_citus_loaded();
	SuspensionTable *s;
	char	   *reason;

	/* a suspension committed before now: its invalidation first */
	if (!citus)
		AcceptInvalidationMessages();
	s = current_table(citus);
	if (!OidIsValid(s->table))
		return;
	if (!citus)
	{
		if (!s->loaded)
			load_ids(s);
		if (bsearch(tenant_id, s->ids, s->count, sizeof(pg_uuid_t), uuid_order) == NULL)
			return;
	}
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
 * Whether tenant is suspended on this node (its copy of the table, with
 * the latest snapshot): a Citus worker receiving a purge's signed scope
 * (cluster_purge.c).
 */
bool
trovella_tenant_suspended(const pg_uuid_t *tenant_id)
{
	bool		citus = trovella_citus_loaded();
	SuspensionTable *s;

	if (!citus)
		AcceptInvalidationMessages();
	s = current_table(citus);
	return OidIsValid(s->table) && suspension_reason(s, tenant_id) != NULL;
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
	/* a signed value replayed in a new transaction after the suspension */
	trovella_register_verified_context_check(check_tenant_not_suspended);
}
