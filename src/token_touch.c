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
#include "nodes/parsenodes.h"
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
 * REPEATABLE READ, a row another session changed and
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
 * The uses of due tokens gathered in REPEATABLE READ, to be
 * written together when the statement that found them finishes: one
 * subtransaction for a statement that checks 200 tokens, not 200.  Kept in
 * TopTransactionContext; each use remembers the subtransaction it was found
 * in, so that a rollback to a savepoint forgets what was found after it.
 */
typedef struct PendingUse
{
	pg_uuid_t	token_id;
	Oid			owner;			/* who the write runs as */
	int			nest_level;		/* the subtransaction that found it */
} PendingUse;

static PendingUse *pending = NULL;
static int	npending = 0;
static int	pending_size = 0;

/*
 * A COMMIT or PREPARE TRANSACTION statement has begun: until the
 * transaction ends nothing is written, since a subtransaction rolled back
 * while the transaction block is ending breaks PostgreSQL's state rules (an
 * assertion in xact.c).
 */
static bool committing = false;

static void
gather_use(Oid owner, const pg_uuid_t *token_id)
{
	if (pending == NULL)
	{
		pending_size = 16;
		pending = MemoryContextAlloc(TopTransactionContext, sizeof(PendingUse) * pending_size);
	}
	else if (npending == pending_size)
	{
		pending_size *= 2;
		pending = repalloc(pending, sizeof(PendingUse) * pending_size);
	}
	pending[npending].token_id = *token_id;
	pending[npending].owner = owner;
	pending[npending].nest_level = GetCurrentTransactionNestLevel();
	npending++;
}

static void
forget_uses(void)
{
	pending = NULL;				/* freed with TopTransactionContext */
	npending = 0;
	pending_size = 0;
}

/*
 * A statement finished (hooks.c: after ExecutorFinish, after a utility
 * statement other than transaction control): the uses it gathered are
 * written, one subtransaction for all of them (one per owner, where
 * functions of different owners found them).  This runs where the
 * statement's own AFTER triggers run, never once COMMIT has begun
 * (committing).  The list is taken first, so that the write's own
 * statements find nothing to write.
 */
void
trovella_token_touch_flush(void)
{
	PendingUse *uses = pending;
	int			nuses = npending;
	pg_uuid_t  *ids;
	int			done = 0;

	if (nuses == 0 || committing || IsInParallelMode())
		return;					/* kept for a later statement, or forgotten */
	if (XactReadOnly || RecoveryInProgress())
	{
		forget_uses();			/* gone read-only since (SET LOCAL) */
		return;
	}
	pending = NULL;
	npending = 0;
	pending_size = 0;
	ids = palloc(sizeof(pg_uuid_t) * nuses);
	while (done < nuses)
	{
		Oid			owner = uses[done].owner;
		int			nids = 0;

		for (int i = done; i < nuses; i++)
			if (uses[i].owner == owner)
				ids[nids++] = uses[i].token_id;
		write_last_used_or_give_up(owner, ids, nids);
		/* the next owner's, if any */
		for (int i = done; i < nuses; i++)
			if (uses[i].owner == owner)
				uses[i].owner = InvalidOid;
		while (done < nuses && !OidIsValid(uses[done].owner))
			done++;
	}
	pfree(ids);
	pfree(uses);
}

/*
 * A utility statement is about to run (hooks.c): COMMIT and PREPARE
 * TRANSACTION first write what earlier statements left, then stop writes
 * until the transaction ends.  (Should trovella be loaded for the first time
 * during COMMIT, by a deferred trigger, a use that trigger finds is written
 * then; where that write fails, the subtransaction rolled back trips the
 * assertion PostgreSQL's own PL/pgSQL trips there with an exception block,
 * on assert-enabled builds only.  Preloaded, this cannot happen.)
 */
void
trovella_token_touch_utility(Node *stmt)
{
	TransactionStmt *xact;

	if (!IsA(stmt, TransactionStmt))
		return;
	xact = (TransactionStmt *) stmt;
	if (xact->kind != TRANS_STMT_COMMIT && xact->kind != TRANS_STMT_PREPARE)
		return;
	if (!IsTransactionBlock() || IsAbortedTransactionBlockState())
		return;					/* no transaction callback will follow */
	trovella_token_touch_flush();
	committing = true;
}

/*
 * A utility statement finished (hooks.c): what it found is written, unless
 * it was transaction control (ROLLBACK leaves the transaction where no
 * subtransaction may begin; a later statement, or the transaction's end,
 * takes care of what is left).
 */
void
trovella_token_touch_utility_done(Node *stmt)
{
	if (!IsA(stmt, TransactionStmt))
		trovella_token_touch_flush();
}

/*
 * Transaction end (hooks.c).  A use still gathered at PRE_COMMIT was found
 * while COMMIT ran (a cursor it closed, a deferred trigger): it is not
 * written, since no subtransaction may run then; the token was checked all
 * the same, and its last_used_at is written at its next use.
 */
void
trovella_token_touch_xact(XactEvent event)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
			forget_uses();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			forget_uses();
			committing = false;
			break;
		default:
			break;
	}
}

/*
 * Subtransaction end (hooks.c): a rollback forgets the uses found in it, a
 * release hands them to its parent.
 */
void
trovella_token_touch_subxact(SubXactEvent event)
{
	int			level = GetCurrentTransactionNestLevel();
	int			kept = 0;

	if (event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB)
		return;
	for (int i = 0; i < npending; i++)
	{
		if (pending[i].nest_level >= level)
		{
			if (event == SUBXACT_EVENT_ABORT_SUB)
				continue;
			pending[i].nest_level = level - 1;
		}
		pending[kept++] = pending[i];
	}
	npending = kept;
}

/*
 * Record that a token was used, at most once per pat_last_used_interval,
 * never in a read-only transaction or on a standby, never in SERIALIZABLE,
 * and never waiting for another backend that is writing the same row (SKIP
 * LOCKED).  The write sees the latest committed row, not the transaction's
 * snapshot: a use another session recorded since is not written again, and
 * in READ COMMITTED nothing can then fail, so there it is written at once.
 * In REPEATABLE READ a narrow race remains (a commit between that snapshot
 * and the row lock), so there the write runs in a subtransaction and gives
 * up quietly; and since a subtransaction that writes takes a transaction id
 * of its own, the uses a statement finds are gathered and written together
 * when it finishes (trovella_token_touch_flush): a bulk check takes one
 * transaction id, not one per token (past 64 the backend's cache of
 * subtransaction ids overflows).  In SERIALIZABLE the write would make the
 * token row a read-write dependency between the application's
 * transactions, which SSI can turn into a serialization failure at COMMIT,
 * where no subtransaction can catch it: a token check must never cause one.
 */
void
trovella_token_touch(FunctionCallInfo fcinfo, const pg_uuid_t *token_id,
					 TimestampTz last_used_at, bool last_used_null)
{
	TimestampTz now = GetCurrentStatementStartTimestamp();
	TimestampTz due_before = TimestampTzPlusMilliseconds(now, -(int64) pat_last_used_interval * 1000);

	if (XactReadOnly || RecoveryInProgress() || IsolationIsSerializable())
		return;
	if (!last_used_null && last_used_at > due_before)
		return;

	if (IsolationUsesXactSnapshot())
		gather_use(trovella_function_owner(fcinfo), token_id);
	else
		write_last_used(trovella_function_owner(fcinfo), token_id, 1);
}
