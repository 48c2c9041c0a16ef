/*
 * ops_sql.c
 *		SQL functions for operating trovella: what trovella.health asks of
 *		the library (its version, the cluster key), and whether a seed is
 *		recorded inside a transaction block (trovella.record_seed).
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "utils/builtins.h"

#include "cluster.h"

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
