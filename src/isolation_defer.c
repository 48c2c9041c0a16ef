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
 * transaction, as the same role.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "citus.h"
#include "isolation_defer.h"
#include "statement.h"

typedef struct DeferredTable
{
	Oid			relid;
	NameData	column;
} DeferredTable;

/* Tables to isolate after the statement, in TopTransactionContext. */
static List *deferred = NIL;

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
	namestrcpy(&entry->column, NameStr(*DatumGetName(column)));
	deferred = lappend(deferred, entry);
	MemoryContextSwitchTo(old);
	return true;
}

/* After a utility statement: isolate the tables remembered during it. */
void
trovella_isolation_run_deferred(void)
{
	List	   *tables = deferred;
	ListCell   *lc;
	SpiSection	spi;

	if (tables == NIL)
		return;
	deferred = NIL;
	trovella_spi_connect(&spi);
	foreach(lc, tables)
	{
		DeferredTable *entry = lfirst(lc);
		Oid			argtypes[2] = {REGCLASSOID, NAMEOID};
		Datum		values[2] = {ObjectIdGetDatum(entry->relid), NameGetDatum(&entry->column)};

		/* a table a rolled back subtransaction made is gone */
		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(entry->relid)))
			continue;
		if (SPI_execute_with_args("SELECT trovella.enable_tenant_isolation($1, $2)",
								  2, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not enable tenant isolation");
	}
	trovella_spi_finish(&spi);
	list_free_deep(tables);
}

/* At a transaction's end (hooks.c): the list lived in its memory. */
void
trovella_isolation_defer_xact(XactEvent event)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		deferred = NIL;
}
