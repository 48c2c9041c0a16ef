/*
 * token_touch.c
 *		The throttled write of a token's last_used_at, after pat_verify or
 *		authenticate found it: one saved UPDATE, run as the table's owner,
 *		whose only inputs are parameters.
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "statement.h"
#include "token_touch.h"

static int	pat_last_used_interval = 60;	/* seconds */

static SPIPlanPtr touch_plan = NULL;

void
TokenTouchInit(void)
{
	DefineCustomIntVariable("trovella.pat_last_used_interval",
							gettext_noop("Least time between two writes of a token's last_used_at."),
							NULL,
							&pat_last_used_interval,
							60,
							0,
							INT_MAX,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL,
							NULL,
							NULL);
}

/*
 * The write itself, as the table's owner, under the latest snapshot, of
 * every token of ids that is due.
 */
static void
write_last_used(Oid owner, const pg_uuid_t *ids, int nids)
{
	SpiSection	spi;
	Oid			argtypes[2] = {UUIDARRAYOID, TIMESTAMPTZOID};
	Datum		values[2];
	Datum	   *elements = palloc(sizeof(Datum) * nids);
	TimestampTz now = GetCurrentStatementStartTimestamp();
	OwnerSection section;

	for (int i = 0; i < nids; i++)
		elements[i] = UUIDPGetDatum(&ids[i]);
	values[0] = PointerGetDatum(construct_array(elements, nids, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	values[1] = TimestampTzGetDatum(TimestampTzPlusMilliseconds(now, -(int64) pat_last_used_interval * 1000));

	trovella_begin_owner_section_as(owner, &section);
	trovella_spi_connect(&spi);
	if (SPI_execute_snapshot(trovella_keep_plan(&touch_plan,
												"UPDATE trovella.personal_access_token SET last_used_at = pg_catalog.statement_timestamp() "
												"WHERE id OPERATOR(pg_catalog.=) ANY ("
												"  SELECT t.id FROM trovella.personal_access_token t"
												"  WHERE t.id OPERATOR(pg_catalog.=) ANY ($1)"
												"    AND (t.last_used_at IS NULL OR t.last_used_at OPERATOR(pg_catalog.<=) $2)"
												"  FOR UPDATE SKIP LOCKED)",
												2, argtypes),
							 values, NULL, GetLatestSnapshot(), InvalidSnapshot,
							 false, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not record the use of a token");
	trovella_spi_finish(&spi);
	trovella_end_owner_section(&section);
	pfree(elements);
}

/*
 * The write in a subtransaction that gives up on 40001 or 55P03: in
 * REPEATABLE READ and SERIALIZABLE, a row another session changed and
 * committed between the latest snapshot and the row lock is a
 * serialization failure, which a token check must never be.
 */
static void
write_last_used_or_give_up(Oid owner, const pg_uuid_t *ids, int nids)
{
	MemoryContext context = CurrentMemoryContext;
	ResourceOwner resowner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(context);
	PG_TRY();
	{
		write_last_used(owner, ids, nids);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(context);
		CurrentResourceOwner = resowner;
	}
	PG_CATCH();
	{
		ErrorData  *error;

		MemoryContextSwitchTo(context);
		error = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(context);
		CurrentResourceOwner = resowner;
		if (error->sqlerrcode != ERRCODE_T_R_SERIALIZATION_FAILURE &&
			error->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
			ReThrowError(error);
		FreeErrorData(error);
	}
	PG_END_TRY();
}

/*
 * Record that a token was used, at most once per pat_last_used_interval,
 * never in a read-only transaction or on a standby, and never waiting for
 * another backend that is writing the same row (SKIP LOCKED).  The write
 * sees the latest committed row, not the transaction's snapshot: a use
 * another session recorded since is not written again, and in READ
 * COMMITTED nothing can then fail.  In REPEATABLE READ and SERIALIZABLE a
 * narrow race remains (a commit between that snapshot and the row lock),
 * so there the write runs in a subtransaction and gives up quietly; only
 * there, since a subtransaction that writes takes a transaction id of its
 * own.  A bulk check of many due tokens in one such transaction so takes
 * one per token (past 64 the backend's cache of subtransaction ids
 * overflows); gathering them for one write at commit is not possible, since
 * a subtransaction rolled back during commit breaks PostgreSQL's state
 * rules (an assertion in xact.c), and before commit no hook says which
 * statement is the client's last.
 */
void
trovella_token_touch(FunctionCallInfo fcinfo, const pg_uuid_t *token_id,
					 TimestampTz last_used_at, bool last_used_null)
{
	TimestampTz now = GetCurrentStatementStartTimestamp();
	TimestampTz due_before = TimestampTzPlusMilliseconds(now, -(int64) pat_last_used_interval * 1000);

	if (XactReadOnly || RecoveryInProgress())
		return;
	if (!last_used_null && last_used_at > due_before)
		return;

	if (IsolationUsesXactSnapshot())
		write_last_used_or_give_up(trovella_function_owner(fcinfo), token_id, 1);
	else
		write_last_used(trovella_function_owner(fcinfo), token_id, 1);
}
