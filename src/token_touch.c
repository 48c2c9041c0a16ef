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

/* The write itself, as the table's owner, under the latest snapshot. */
static void
write_last_used(FunctionCallInfo fcinfo, Datum *values)
{
	Oid			argtypes[2] = {UUIDOID, TIMESTAMPTZOID};
	OwnerSection section;

	trovella_begin_owner_section(fcinfo, &section);
	SPI_connect();
	if (SPI_execute_snapshot(trovella_keep_plan(&touch_plan,
												"UPDATE trovella.personal_access_token SET last_used_at = pg_catalog.statement_timestamp() "
												"WHERE id OPERATOR(pg_catalog.=) ("
												"  SELECT t.id FROM trovella.personal_access_token t"
												"  WHERE t.id OPERATOR(pg_catalog.=) $1"
												"    AND (t.last_used_at IS NULL OR t.last_used_at OPERATOR(pg_catalog.<=) $2)"
												"  FOR UPDATE SKIP LOCKED)",
												2, argtypes),
							 values, NULL, GetLatestSnapshot(), InvalidSnapshot,
							 false, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not record the use of a token");
	SPI_finish();
	trovella_end_owner_section(&section);
}

/*
 * The write in a subtransaction that gives up on 40001 or 55P03: in
 * REPEATABLE READ and SERIALIZABLE, a row another session changed and
 * committed between the latest snapshot and the row lock is a
 * serialization failure, which a token check must never be.
 */
static void
write_last_used_or_give_up(FunctionCallInfo fcinfo, Datum *values)
{
	MemoryContext context = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(context);
	PG_TRY();
	{
		write_last_used(fcinfo, values);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(context);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *error;

		MemoryContextSwitchTo(context);
		error = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(context);
		CurrentResourceOwner = owner;
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
 * own.
 */
void
trovella_token_touch(FunctionCallInfo fcinfo, const pg_uuid_t *token_id,
					 TimestampTz last_used_at, bool last_used_null)
{
	TimestampTz now = GetCurrentStatementStartTimestamp();
	TimestampTz due_before = TimestampTzPlusMilliseconds(now, -(int64) pat_last_used_interval * 1000);
	Datum		values[2];

	if (XactReadOnly || RecoveryInProgress())
		return;
	if (!last_used_null && last_used_at > due_before)
		return;

	values[0] = UUIDPGetDatum((pg_uuid_t *) token_id);
	values[1] = TimestampTzGetDatum(due_before);
	if (IsolationUsesXactSnapshot())
		write_last_used_or_give_up(fcinfo, values);
	else
		write_last_used(fcinfo, values);
}
