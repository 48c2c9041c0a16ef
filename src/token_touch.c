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
 * Record that a token was used, at most once per pat_last_used_interval,
 * never in a read-only transaction or on a standby, and never waiting for
 * another backend that is writing the same row.  The statement runs as the
 * table's owner with the search path restricted (trovella_begin_owner_section).
 */
void
trovella_token_touch(FunctionCallInfo fcinfo, const pg_uuid_t *token_id,
					 TimestampTz last_used_at, bool last_used_null)
{
	TimestampTz now = GetCurrentStatementStartTimestamp();
	TimestampTz due_before = TimestampTzPlusMilliseconds(now, -(int64) pat_last_used_interval * 1000);
	Oid			argtypes[2] = {UUIDOID, TIMESTAMPTZOID};
	Datum		values[2];
	OwnerSection section;

	if (XactReadOnly || RecoveryInProgress())
		return;
	if (!last_used_null && last_used_at > due_before)
		return;

	values[0] = UUIDPGetDatum((pg_uuid_t *) token_id);
	values[1] = TimestampTzGetDatum(due_before);
	trovella_begin_owner_section(fcinfo, &section);
	SPI_connect();
	if (SPI_execute_plan(trovella_keep_plan(&touch_plan,
								   "UPDATE trovella.personal_access_token SET last_used_at = pg_catalog.statement_timestamp() "
								   "WHERE id OPERATOR(pg_catalog.=) ("
								   "  SELECT t.id FROM trovella.personal_access_token t"
								   "  WHERE t.id OPERATOR(pg_catalog.=) $1"
								   "    AND (t.last_used_at IS NULL OR t.last_used_at OPERATOR(pg_catalog.<=) $2)"
								   "  FOR UPDATE SKIP LOCKED)",
								   2, argtypes),
						 values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not record the use of a token");
	SPI_finish();
	trovella_end_owner_section(&section);
}

