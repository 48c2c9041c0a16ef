/*
 * token_cap.c
 *		At most trovella.pat_max_per_user live tokens per user: pat_create
 *		takes the user's creation lock, then counts under the latest snapshot.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"
#include "utils/wait_event.h"

#include "statement.h"
#include "token_cap.h"

/*
 * The lock that serializes one user's pat_create: an advisory lock tag of
 * class "trvp" whose last field is neither 1 nor 2, the only values SQL's
 * pg_advisory_lock() functions produce, so that no SQL caller can take,
 * hold or wait for it.  Waiting for it is bounded (PAT_LOCK_WAIT_MS).
 */
#define PAT_LOCK_CLASS		0x74727670
#define PAT_LOCK_KIND		0x7470
#define PAT_LOCK_WAIT_MS	5000
#define PAT_LOCK_POLL_MS	10

static int	pat_max_per_user = 50;

static SPIPlanPtr count_plan = NULL;

void
TokenCapInit(void)
{
	DefineCustomIntVariable("trovella.pat_max_per_user",
							gettext_noop("Most unrevoked, unexpired tokens one user may hold."),
							NULL,
							&pat_max_per_user,
							50,
							1,
							100000,
							PGC_SUSET,
							0,
							NULL,
							NULL,
							NULL);
}

/*
 * Take the user's token lock until the end of the transaction.  Only
 * another pat_create for the same user can hold it, until its transaction
 * ends; a transaction left open after one must not stall the user's next
 * pat_create forever, so the wait gives up after PAT_LOCK_WAIT_MS with
 * 55P03, polling as VACUUM does for its truncation lock.
 */
static void
lock_user_tokens(const pg_uuid_t *user_id)
{
	LOCKTAG		tag;
	int			waited_ms;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, PAT_LOCK_CLASS,
						 hash_bytes(user_id->data, UUID_LEN), PAT_LOCK_KIND);
	for (waited_ms = 0;; waited_ms += PAT_LOCK_POLL_MS)
	{
		if (LockAcquire(&tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL)
			return;
		if (waited_ms >= PAT_LOCK_WAIT_MS)
			ereport(ERROR,
					(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
					 errmsg("trovella.pat_create: another transaction is creating a token for this user"),
					 errdetail("It has not ended within %d seconds.", PAT_LOCK_WAIT_MS / 1000),
					 errhint("Retry once that transaction has committed or rolled back.")));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 PAT_LOCK_POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Serialize pat_create for one user until the end of the transaction, then
 * count that user's live tokens under the latest snapshot, so that a token
 * committed by a racing transaction is counted even in REPEATABLE READ.
 */
void
trovella_check_token_cap(const pg_uuid_t *user_id)
{
	Oid			argtypes[1] = {UUIDOID};
	Datum		values[1];
	int64		live;
	bool		isnull;

	lock_user_tokens(user_id);

	values[0] = UUIDPGetDatum((pg_uuid_t *) user_id);
	if (SPI_execute_snapshot(trovella_keep_plan(&count_plan,
									   "SELECT pg_catalog.count(*) FROM trovella.personal_access_token"
									   " WHERE user_id OPERATOR(pg_catalog.=) $1"
									   "   AND revoked_at IS NULL"
									   "   AND expires_at OPERATOR(pg_catalog.>) pg_catalog.statement_timestamp()",
									   1, argtypes),
							 values, NULL, GetLatestSnapshot(), InvalidSnapshot,
							 true, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not count tokens");
	live = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (live >= pat_max_per_user)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("trovella.pat_create: the user already has %d live tokens", pat_max_per_user),
				 errdetail("trovella.pat_max_per_user allows at most %d unrevoked, unexpired tokens per user.",
						   pat_max_per_user),
				 errhint("Revoke a token the user no longer needs with trovella.pat_revoke().")));
}

/* A new token for the current user; the plaintext is returned only here. */
