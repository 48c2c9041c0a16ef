/*
 * isolation_defer.c
 *		In auto, the isolation of a table Citus acts on after the DDL
 *		statement itself: run once that statement is done (hooks.c calls
 *		trovella_isolation_run_deferred() after each utility statement).
 *
 * Citus propagates a statement to the shards after the statement, and so
 * after the guard's event trigger: isolating there a distributed table that
 * just got its tenant column sent CREATE POLICY to shards that did not have
 * the column yet (42703).  And Citus distributes a table made in a
 * distributed schema after the statement, reading it first as the caller:
 * isolated already, it was unreadable to the owner without a tenant context
 * (42501).  Such a table is isolated once Citus is done, as if
 * enable_tenant_isolation() were the statement's last step, in the same
 * transaction, as the same role: at the end of that statement, not of one
 * Citus runs nested in it (a placement's own DDL, run here by local
 * execution), when the other placements may not have the column yet.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_type.h"
#include "commands/policy.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rls.h"
#include "utils/syscache.h"

#include "citus.h"
#include "isolation_defer.h"
#include "statement.h"

typedef struct DeferredTable
{
	Oid			relid;
	NameData	column;
	int			depth;			/* of the statement it is isolated after */
} DeferredTable;

/* Tables to isolate after the statement, in TopTransactionContext. */
static List *deferred = NIL;

/* How deep in utility statements this backend is (1: a top-level one). */
static int	utility_depth = 0;

/*
 * Remember relid to isolate on its tenant column after the statement, if
 * Citus acts on it then; false (nothing remembered) otherwise.
 */
bool
trovella_isolation_defer(Oid relid, Datum column)
{
	MemoryContext old;
	DeferredTable *entry;

	if (!trovella_citus_acts_after_ddl(relid))
		return false;
	old = MemoryContextSwitchTo(TopTransactionContext);
	entry = palloc(sizeof(DeferredTable));
	entry->relid = relid;
	entry->depth = utility_depth;
	namestrcpy(&entry->column, NameStr(*DatumGetName(column)));
	deferred = lappend(deferred, entry);
	MemoryContextSwitchTo(old);
	return true;
}

/*
 * Refuses the statement that gives relid the tenant column, which would
 * leave rows without a tenant (55000): here, and before ALTER TABLE
 * (tenant_column.c).
 */
void
trovella_refuse_tenantless_rows(Oid relid, const char *column)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("trovella: tenant column \"%s\" would leave rows of table %s without a tenant",
					column, get_rel_name(relid)),
			 errdetail("trovella.isolation_guard is \"auto\": the table is isolated as this statement ends, and a row whose tenant is NULL is visible to no tenant, nor to the table's owner."),
			 errhint("Add the column NOT NULL with a DEFAULT that names a tenant, then have the operations role (BYPASSRLS) set each row's tenant; or add it to the table while it is empty.")));
}

/*
 * The rows of a table Citus manages are in its placements: the check made
 * before the statement (tenant_column.c) read only what the table itself
 * holds.  A tenant column that may be NULL is asked of every placement
 * (one query Citus sends to each), before the table is isolated: a row
 * whose tenant is NULL would be visible to no tenant, nor to the owner.
 */
static void
refuse_rows_without_tenant(const DeferredTable *entry)
{
	AttrNumber	attnum = get_attnum(entry->relid, NameStr(entry->column));
	HeapTuple	tuple;
	bool		not_null;
	char	   *sql;
	bool		isnull;

	if (attnum == InvalidAttrNumber)
		return;
	tuple = SearchSysCache2(ATTNUM, ObjectIdGetDatum(entry->relid), Int16GetDatum(attnum));
	if (!HeapTupleIsValid(tuple))
		return;
	not_null = ((Form_pg_attribute) GETSTRUCT(tuple))->attnotnull;
	ReleaseSysCache(tuple);
	/* judged when it was isolated first (re-isolated here) */
	if (not_null || OidIsValid(get_relation_policy_oid(entry->relid, "trovella_tenant_isolation", true)))
		return;
	/* the query would see only what the policies show this role */
	if (check_enable_rls(entry->relid, InvalidOid, true) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("trovella: whether tenant column \"%s\" leaves rows of table %s without a tenant needs a role that sees every row",
						NameStr(entry->column), get_rel_name(entry->relid)),
				 errdetail("Row-level security binds role \"%s\" on the table, whose rows are in its Citus placements.",
						   GetUserNameFromId(GetUserId(), false)),
				 errhint("Add the column NOT NULL with a DEFAULT that names a tenant, or run the statement as a role that row-level security does not bind (BYPASSRLS: the operations role).")));
	sql = psprintf("SELECT EXISTS (SELECT 1 FROM %s WHERE %s IS NULL)",
				   quote_qualified_identifier(get_namespace_name(get_rel_namespace(entry->relid)),
											  get_rel_name(entry->relid)),
				   quote_identifier(NameStr(entry->column)));
	if (SPI_execute(sql, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read table %s", get_rel_name(entry->relid));
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
		trovella_refuse_tenantless_rows(entry->relid, NameStr(entry->column));
}

/* Before a utility statement (hooks.c): its depth, for ..._end(). */
int
trovella_isolation_utility_begin(void)
{
	return ++utility_depth;
}

/*
 * After a utility statement of that depth (hooks.c): isolate the tables
 * remembered during it.  One that failed never gets here, and the depth is
 * set right again by the statement around it, or at the transaction's end.
 */
void
trovella_isolation_utility_end(int depth)
{
	List	   *now = NIL;
	List	   *later = NIL;
	ListCell   *lc;
	MemoryContext old;
	SpiSection	spi;

	utility_depth = depth - 1;
	if (deferred == NIL)
		return;
	old = MemoryContextSwitchTo(TopTransactionContext);
	foreach(lc, deferred)
	{
		DeferredTable *entry = lfirst(lc);

		if (entry->depth >= depth)
			now = lappend(now, entry);
		else
			later = lappend(later, entry);
	}
	MemoryContextSwitchTo(old);
	list_free(deferred);
	deferred = later;
	if (now == NIL)
		return;
	trovella_spi_connect(&spi);
	foreach(lc, now)
	{
		DeferredTable *entry = lfirst(lc);
		Oid			argtypes[2] = {REGCLASSOID, NAMEOID};
		Datum		values[2] = {ObjectIdGetDatum(entry->relid), NameGetDatum(&entry->column)};

		/* a table a rolled back subtransaction made is gone */
		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(entry->relid)))
			continue;
		refuse_rows_without_tenant(entry);
		if (SPI_execute_with_args("SELECT trovella.enable_tenant_isolation($1, $2)",
								  2, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not enable tenant isolation");
	}
	trovella_spi_finish(&spi);
}

/* At a transaction's end (hooks.c): the list lived in its memory. */
void
trovella_isolation_defer_xact(XactEvent event)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
	{
		deferred = NIL;
		utility_depth = 0;
	}
}
