/*
 * ops_sql.c
 *		SQL functions for operating trovella: what trovella.health asks of
 *		the library (its version, the cluster key), and what
 *		trovella.record_seed asks: whether it runs inside a transaction
 *		block, and the ledger's row as last committed.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/snapmgr.h"
#include "utils/builtins.h"

#include "citus.h"
#include "cluster_key.h"
#include "statement.h"

/* library_version(): the version of the library this backend loaded. */
PG_FUNCTION_INFO_V1(trovella_library_version);
Datum
trovella_library_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(TROVELLA_VERSION));
}

/*
 * cluster_key_problem(): NULL when no cluster key is configured here or it
 * can be used; otherwise why not (the file's state, never its content).
 */
PG_FUNCTION_INFO_V1(trovella_cluster_key_problem_sql);
Datum
trovella_cluster_key_problem_sql(PG_FUNCTION_ARGS)
{
	bool		configured;
	const char *problem = trovella_cluster_key_problem(&configured);

	if (problem == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(problem));
}

/* in_transaction_block(): whether the caller runs inside BEGIN ... COMMIT. */
PG_FUNCTION_INFO_V1(trovella_in_transaction_block);
Datum
trovella_in_transaction_block(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(IsTransactionBlock());
}

/*
 * seed_latest(name): the ledger's row of a seed under the latest snapshot,
 * not the transaction's (record_seed in REPEATABLE READ or SERIALIZABLE,
 * when a concurrent run recorded it after this transaction's snapshot);
 * NULL when there is none.
 */
PG_FUNCTION_INFO_V1(trovella_seed_latest);
Datum
trovella_seed_latest(PG_FUNCTION_ARGS)
{
	SpiSection	spi;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {PG_GETARG_DATUM(0)};
	SPIPlanPtr	plan;
	TupleDesc	seed_type;
	HeapTupleHeader row = NULL;

	if (get_call_result_type(fcinfo, NULL, &seed_type) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "seed_latest must return trovella.seed");
	trovella_spi_connect(&spi);
	plan = SPI_prepare("SELECT s.* FROM trovella.seed s WHERE s.name OPERATOR(pg_catalog.=) $1",
					   1, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_execute_snapshot(plan, values, NULL, GetLatestSnapshot(), InvalidSnapshot,
							 true, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read trovella.seed");
	if (SPI_processed == 1)
		row = SPI_returntuple(SPI_tuptable->vals[0], seed_type);
	trovella_spi_finish(&spi);
	if (row == NULL)
		PG_RETURN_NULL();
	PG_RETURN_HEAPTUPLEHEADER(row);
}

/*
 * citus_placement(tbl regclass): whether Citus's metadata makes the table a
 * shard placement on this node (never its name alone); false without Citus.
 */
PG_FUNCTION_INFO_V1(trovella_citus_placement_sql);
Datum
trovella_citus_placement_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(trovella_citus_listed_placement(PG_GETARG_OID(0)));}
