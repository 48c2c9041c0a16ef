/*
 * token_touch.c
 *		The throttled write of a token's last_used_at, after pat_verify or
 *		authenticate found it: one saved UPDATE, run as the table's owner,
 *		whose only inputs are parameters; in REPEATABLE READ and
 *		SERIALIZABLE, the transaction's uses together, before commit.
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
 * In REPEATABLE READ and SERIALIZABLE, the uses found and not written yet
 * (in TopTransactionContext), and the owner who writes them: written
 * together, in one subtransaction, at commit or once TOUCH_BATCH wait.
 */
#define TOUCH_BATCH 1024

static pg_uuid_t *pending = NULL;
static int	npending = 0;
static Oid	pending_owner = InvalidOid;

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

/* Write the uses waiting, in one subtransaction. */
static void
write_pending(void)
{
	int			n = npending;

	npending = 0;				/* an error here forgets them: a use is a hint */
	if (n > 0)
		write_last_used_or_give_up(pending_owner, pending, n);
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
 * own.  One per token would overflow the backend's cache of subtransaction
 * ids (64) in a bulk check, which slows every snapshot in the cluster: the
 * uses wait, and are written together at commit (trovella_token_touch_xact)
 * or when TOUCH_BATCH have gathered.
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

	if (!IsolationUsesXactSnapshot())
	{
		write_last_used(trovella_function_owner(fcinfo), token_id, 1);
		return;
	}
	for (int i = 0; i < npending; i++)
		if (memcmp(&pending[i], token_id, sizeof(pg_uuid_t)) == 0)
			return;
	if (pending == NULL)
		pending = MemoryContextAlloc(TopTransactionContext, sizeof(pg_uuid_t) * TOUCH_BATCH);
	if (npending == 0)
		pending_owner = trovella_function_owner(fcinfo);
	pending[npending++] = *token_id;
	if (npending == TOUCH_BATCH)
		write_pending();
}

/*
 * At a transaction's end (hooks.c): the uses waiting are written before
 * commit; the list lived in the transaction's memory.
 */
void
trovella_token_touch_xact(XactEvent event)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			write_pending();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			pending = NULL;
			npending = 0;
			break;
		default:
			break;
	}
}
