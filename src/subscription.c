/*
 * subscription.c
 *		The tables a subscription made or altered by a statement writes into
 *		(CREATE or ALTER SUBSCRIPTION), for the isolation guard: their rows
 *		arrive without any DDL for the guard to see, so it judges them when
 *		the subscription is made or refreshed.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "subscription.h"

/*
 * The subscription's tables, by OID, in TopTransactionContext (the guard
 * keeps them until commit); NIL for any other statement.
 */
List *
trovella_subscription_tables(Node *parsetree)
{
	const char *name;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	List	   *tables = NIL;

	if (IsA(parsetree, CreateSubscriptionStmt))
		name = ((CreateSubscriptionStmt *) parsetree)->subname;
	else if (IsA(parsetree, AlterSubscriptionStmt))
		name = ((AlterSubscriptionStmt *) parsetree)->subname;
	else
		return NIL;
	values[0] = CStringGetTextDatum(name);
	if (SPI_execute_with_args("SELECT r.srrelid FROM pg_catalog.pg_subscription_rel r"
							  " JOIN pg_catalog.pg_subscription s ON s.oid = r.srsubid"
							  " JOIN pg_catalog.pg_database d ON d.oid = s.subdbid"
							  " WHERE s.subname = $1 AND d.datname = pg_catalog.current_database()",
							  1, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the tables of subscription \"%s\"", name);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		relid = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
		{
			MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

			tables = lappend_oid(tables, DatumGetObjectId(relid));
			MemoryContextSwitchTo(old);
		}
	}
	return tables;
}
