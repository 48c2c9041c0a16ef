/*
 * stats_count.c
 *		What the per-tenant statistics count, and when (the table of
 *		counters is stats.c's).
 *
 * Counted the way pg_stat_statements counts, at the executor's end and
 * around utility statements, but keyed by the tenant of the sealed context
 * instead of the query: every statement that ends while its transaction has
 * a tenant is that tenant's; the others go to one row without a tenant, so
 * that the totals add up.  Transactions are counted when they end, for the
 * tenant they had then, into an entry made before the commit.
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "executor/executor.h"
#include "executor/instrument.h"
#include "miscadmin.h"
#include "tcop/utility.h"
#include "utils/guc.h"

#include "context.h"
#include "compat.h"
#include "stats.h"
#include "stats_count.h"

typedef enum StatsTrack
{
	STATS_TRACK_NONE,
	STATS_TRACK_TOP,
	STATS_TRACK_ALL
} StatsTrack;

static const struct config_enum_entry stats_track_options[] = {
	{"none", STATS_TRACK_NONE, false},
	{"top", STATS_TRACK_TOP, false},
	{"all", STATS_TRACK_ALL, false},
	{NULL, 0, false}
};

static int	stats_track = STATS_TRACK_TOP;

/* Executor nesting, to tell top-level statements from nested ones. */
static int	nesting_level = 0;

#define stats_enabled(level) \
	(trovella_stats_ready() && MyBackendType == B_BACKEND && !IsParallelWorker() && \
	 (stats_track == STATS_TRACK_ALL || (stats_track == STATS_TRACK_TOP && (level) == 0)))

void
StatsCountInit(void)
{
	DefineCustomEnumVariable("trovella.stats_track",
							 gettext_noop("Which statements trovella.tenant_stats counts: none, top (top-level statements) or all (nested ones too)."),
							 NULL,
							 &stats_track,
							 STATS_TRACK_TOP,
							 stats_track_options,
							 PGC_SUSET,
							 0,
							 NULL,
							 NULL,
							 NULL);
}

/* The key of the current statement: its transaction's tenant, if any. */
static void
current_key(StatsKey *key)
{
	pg_uuid_t	tenant;

	memset(key, 0, sizeof(StatsKey));
	key->is_null = !trovella_current_tenant_id(&tenant);
	if (!key->is_null)
		memcpy(key->tenant.data, tenant.data, UUID_LEN);
}

/* One statement's figures, for the current tenant. */
static void
count_statement(int64 rows, double ms, const BufferUsage *bufusage, const WalUsage *walusage)
{
	StatsKey	key;
	StatsCounters delta = {0};

	current_key(&key);
	delta.statements = 1;
	delta.rows = rows;
	delta.total_time = ms;
	delta.max_time = ms;
	delta.shared_blks_hit = bufusage->shared_blks_hit;
	delta.shared_blks_read = bufusage->shared_blks_read;
	delta.shared_blks_dirtied = bufusage->shared_blks_dirtied;
	delta.shared_blks_written = bufusage->shared_blks_written;
	delta.temp_blks_written = bufusage->temp_blks_written;
	delta.wal_records = walusage->wal_records;
	delta.wal_bytes = walusage->wal_bytes;
	trovella_stats_add(&key, &delta, true);
}

/*
 * Before and after ExecutorStart (hooks.c): as pg_stat_statements, the
 * query's total time and buffer and WAL usage, which 19 allocates when
 * asked before and older versions leave to the module after (compat.h).
 */
void
trovella_stats_executor_asks(QueryDesc *queryDesc)
{
	if (stats_enabled(nesting_level))
		TROVELLA_ASK_QUERY_INSTR(queryDesc);
}

void
trovella_stats_executor_start(QueryDesc *queryDesc)
{
	if (stats_enabled(nesting_level) && TROVELLA_QUERY_INSTR(queryDesc) == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(queryDesc->estate->es_query_cxt);

		TROVELLA_ALLOC_QUERY_INSTR(queryDesc);
		MemoryContextSwitchTo(old);
	}
}

/*
 * Around ExecutorRun and ExecutorFinish (hooks.c): what runs inside is
 * nested, and counted only with stats_track = all.
 */
void
trovella_stats_enter(void)
{
	nesting_level++;
}

void
trovella_stats_leave(void)
{
	nesting_level--;
}

/* Before ExecutorEnd (hooks.c): one statement for the current tenant. */
void
trovella_stats_executor_end(QueryDesc *queryDesc)
{
	Instrumentation *instr = TROVELLA_QUERY_INSTR(queryDesc);

	if (instr != NULL && stats_enabled(nesting_level))
		count_statement(queryDesc->estate->es_processed, TROVELLA_QUERY_INSTR_MS(instr),
						&instr->bufusage, &instr->walusage);
}

/*
 * Utility statements, timed around their execution (hooks.c): begin before
 * it, done after it whatever happened, after once it succeeded.  EXECUTE,
 * PREPARE and DEALLOCATE are left to the executor, which counts what
 * EXECUTE runs.
 */
void
trovella_stats_utility_begin(Node *stmt, StatsUtility *state)
{
	state->track = stats_enabled(nesting_level) &&
		!IsA(stmt, ExecuteStmt) && !IsA(stmt, PrepareStmt) && !IsA(stmt, DeallocateStmt);
	if (!state->track)
		return;
	state->bufusage_start = pgBufferUsage;
	state->walusage_start = pgWalUsage;
	INSTR_TIME_SET_CURRENT(state->start);
	nesting_level++;
}

void
trovella_stats_utility_done(StatsUtility *state)
{
	if (state->track)
		nesting_level--;
}

void
trovella_stats_utility_after(Node *stmt, QueryCompletion *qc, StatsUtility *state)
{
	instr_time	duration;
	BufferUsage bufusage;
	WalUsage	walusage;

	if (!state->track)
		return;
	INSTR_TIME_SET_CURRENT(duration);
	INSTR_TIME_SUBTRACT(duration, state->start);
	memset(&bufusage, 0, sizeof(bufusage));
	BufferUsageAccumDiff(&bufusage, &pgBufferUsage, &state->bufusage_start);
	memset(&walusage, 0, sizeof(walusage));
	WalUsageAccumDiff(&walusage, &pgWalUsage, &state->walusage_start);
	/* transaction control ends or starts a transaction: counted there */
	if (!IsA(stmt, TransactionStmt))
		count_statement((qc && qc->commandTag != CMDTAG_UNKNOWN) ? qc->nprocessed : 0,
						INSTR_TIME_GET_MILLISEC(duration), &bufusage, &walusage);
}

/* A transaction ends (hooks.c): one more for the tenant it had then. */
void
trovella_stats_xact(XactEvent event)
{
	StatsKey	key;

	if (!trovella_stats_ready() || stats_track == STATS_TRACK_NONE ||
		MyBackendType != B_BACKEND || IsParallelWorker())
		return;
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			/*
			 * Make the tenant's entry now, where work and errors are still
			 * allowed: at COMMIT only an existing entry is added to, which
			 * takes no allocation and raises no error.
			 */
			current_key(&key);
			trovella_stats_ensure(&key);
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
			{
				StatsCounters delta = {0};

				current_key(&key);
				delta.transactions = 1;
				trovella_stats_add(&key, &delta, false);
			}
			break;
		default:
			break;
	}
}
