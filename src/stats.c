/*
 * stats.c
 *		Per-tenant usage statistics: which tenant costs what.
 *
 * Counted the way pg_stat_statements counts, at the executor's end and
 * around utility statements, but keyed by the tenant of the sealed context
 * instead of the query: every statement that ends while its transaction has
 * a tenant is that tenant's; the others go to one row without a tenant, so
 * that the totals add up.  Transactions are counted when they end, for the
 * tenant they had then.
 *
 * The counters live in shared memory, a hash table of at most
 * trovella.stats_max_tenants entries, which needs shared_preload_libraries;
 * without it the functions fail with 55000 and everything else works.  When
 * the table is full, the least recently active tenants (5 %) are evicted.
 * The postmaster saves the table at a clean shutdown and loads it at start,
 * as pg_stat_statements does.
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/xact.h"
#include "executor/executor.h"
#include "executor/instrument.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "compat.h"
#include "trovella.h"

#define STATS_FILE		PGSTAT_STAT_PERMANENT_DIRECTORY "/trovella_tenant_stats.stat"
#define STATS_MAGIC		0x74727673	/* "trvs" */
#define STATS_VERSION	1

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

/* A tenant, or no tenant (is_null). */
typedef struct StatsKey
{
	pg_uuid_t	tenant;
	bool		is_null;
} StatsKey;

typedef struct StatsCounters
{
	int64		transactions;
	int64		statements;
	int64		rows;
	double		total_time;		/* milliseconds */
	double		max_time;
	int64		shared_blks_hit;
	int64		shared_blks_read;
	int64		shared_blks_dirtied;
	int64		shared_blks_written;
	int64		temp_blks_written;
	int64		wal_records;
	uint64		wal_bytes;
	TimestampTz first_activity;
	TimestampTz last_activity;
} StatsCounters;

typedef struct StatsEntry
{
	StatsKey	key;			/* hash key: first */
	slock_t		mutex;			/* protects the counters */
	StatsCounters counters;
} StatsEntry;

/* Shared state besides the hash table. */
typedef struct StatsState
{
	LWLock	   *lock;			/* the hash table: shared to count, exclusive to add or remove */
	slock_t		mutex;			/* evictions and stats_reset */
	int64		evictions;
	TimestampTz stats_reset;
} StatsState;

static int	stats_max_tenants = 5000;
static int	stats_track = STATS_TRACK_TOP;
static bool stats_save = true;

static StatsState *stats_state = NULL;
static HTAB *stats_hash = NULL;

/* Executor nesting, to tell top-level statements from nested ones. */
static int	nesting_level = 0;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

#define stats_enabled(level) \
	(stats_hash != NULL && MyBackendType == B_BACKEND && !IsParallelWorker() && \
	 (stats_track == STATS_TRACK_ALL || (stats_track == STATS_TRACK_TOP && (level) == 0)))

static Size
stats_memsize(void)
{
	return MAXALIGN(sizeof(StatsState)) + hash_estimate_size(stats_max_tenants, sizeof(StatsEntry));
}

static void
stats_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(stats_memsize());
	RequestNamedLWLockTranche("trovella_stats", 1);
}

/* The key of the current statement: its transaction's tenant, if any. */
static void
current_key(StatsKey *key)
{
	memset(key, 0, sizeof(StatsKey));
	key->is_null = !trovella_current_tenant_id(&key->tenant);
}

/* Evict the least recently active 5 % of the tenants; caller holds the lock exclusively. */
static void
evict_entries(void)
{
	HASH_SEQ_STATUS seq;
	StatsEntry *entry;
	StatsEntry **entries;
	int			n = 0;
	int			i;
	int			victims;

	entries = palloc(hash_get_num_entries(stats_hash) * sizeof(StatsEntry *));
	hash_seq_init(&seq, stats_hash);
	while ((entry = hash_seq_search(&seq)) != NULL)
		if (!entry->key.is_null)
			entries[n++] = entry;
	/* a partial selection would do; the table is small and this is rare */
	for (i = 1; i < n; i++)
	{
		StatsEntry *e = entries[i];
		int			j = i - 1;

		while (j >= 0 && entries[j]->counters.last_activity > e->counters.last_activity)
		{
			entries[j + 1] = entries[j];
			j--;
		}
		entries[j + 1] = e;
	}
	victims = Max(n / 20, 1);
	for (i = 0; i < Min(victims, n); i++)
		hash_search(stats_hash, &entries[i]->key, HASH_REMOVE, NULL);
	pfree(entries);
	SpinLockAcquire(&stats_state->mutex);
	stats_state->evictions += Min(victims, n);
	SpinLockRelease(&stats_state->mutex);
}

/*
 * The entry of key, created if need be and create is true; the lock is held
 * shared on return.
 */
static StatsEntry *
find_entry(const StatsKey *key, bool create)
{
	StatsEntry *entry;
	bool		found;

	LWLockAcquire(stats_state->lock, LW_SHARED);
	entry = hash_search(stats_hash, key, HASH_FIND, NULL);
	if (entry != NULL || !create)
		return entry;

	LWLockRelease(stats_state->lock);
	LWLockAcquire(stats_state->lock, LW_EXCLUSIVE);
	entry = hash_search(stats_hash, key, HASH_FIND, NULL);
	if (entry == NULL)
	{
		if (hash_get_num_entries(stats_hash) >= stats_max_tenants)
			evict_entries();
		entry = hash_search(stats_hash, key, HASH_ENTER, &found);
		SpinLockInit(&entry->mutex);
		memset(&entry->counters, 0, sizeof(StatsCounters));
		entry->counters.first_activity = GetCurrentStatementStartTimestamp();
	}
	LWLockRelease(stats_state->lock);
	LWLockAcquire(stats_state->lock, LW_SHARED);
	/* it may have been evicted in between, on a table full of newcomers */
	return hash_search(stats_hash, key, HASH_FIND, NULL);
}

/*
 * Add one statement's figures (or one transaction) to the current tenant;
 * create its entry unless only_existing (an aborting transaction does not
 * allocate).
 */
static void
stats_add(int64 transactions, int64 statements, int64 rows, double ms,
		  const BufferUsage *bufusage, const WalUsage *walusage, bool only_existing)
{
	StatsKey	key;
	StatsEntry *entry;

	current_key(&key);
	entry = find_entry(&key, !only_existing);
	if (entry != NULL)
	{
		StatsCounters *c = &entry->counters;

		SpinLockAcquire(&entry->mutex);
		c->transactions += transactions;
		c->statements += statements;
		c->rows += rows;
		c->total_time += ms;
		if (ms > c->max_time)
			c->max_time = ms;
		if (bufusage != NULL)
		{
			c->shared_blks_hit += bufusage->shared_blks_hit;
			c->shared_blks_read += bufusage->shared_blks_read;
			c->shared_blks_dirtied += bufusage->shared_blks_dirtied;
			c->shared_blks_written += bufusage->shared_blks_written;
			c->temp_blks_written += bufusage->temp_blks_written;
		}
		if (walusage != NULL)
		{
			c->wal_records += walusage->wal_records;
			c->wal_bytes += walusage->wal_bytes;
		}
		c->last_activity = GetCurrentStatementStartTimestamp();
		SpinLockRelease(&entry->mutex);
	}
	LWLockRelease(stats_state->lock);
}

static void
stats_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);

	/* as pg_stat_statements: total time and buffer and WAL usage */
	if (stats_enabled(nesting_level) && queryDesc->totaltime == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(queryDesc->estate->es_query_cxt);

		queryDesc->totaltime = InstrAlloc(1, INSTRUMENT_ALL, false);
		MemoryContextSwitchTo(old);
	}
}

static void
stats_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction, uint64 count
				  TROVELLA_EXECUTOR_RUN_ONCE_PARAM)
{
	nesting_level++;
	PG_TRY();
	{
		if (prev_ExecutorRun)
			prev_ExecutorRun(queryDesc, direction, count TROVELLA_EXECUTOR_RUN_ONCE_ARG);
		else
			standard_ExecutorRun(queryDesc, direction, count TROVELLA_EXECUTOR_RUN_ONCE_ARG);
	}
	PG_FINALLY();
	{
		nesting_level--;
	}
	PG_END_TRY();
}

static void
stats_ExecutorFinish(QueryDesc *queryDesc)
{
	nesting_level++;
	PG_TRY();
	{
		if (prev_ExecutorFinish)
			prev_ExecutorFinish(queryDesc);
		else
			standard_ExecutorFinish(queryDesc);
	}
	PG_FINALLY();
	{
		nesting_level--;
	}
	PG_END_TRY();
}

static void
stats_ExecutorEnd(QueryDesc *queryDesc)
{
	if (queryDesc->totaltime != NULL && stats_enabled(nesting_level))
	{
		InstrEndLoop(queryDesc->totaltime);
		stats_add(0, 1, queryDesc->estate->es_processed,
				  queryDesc->totaltime->total * 1000.0,
				  &queryDesc->totaltime->bufusage, &queryDesc->totaltime->walusage, false);
	}
	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
}

/*
 * Utility statements, timed around their execution.  EXECUTE, PREPARE and
 * DEALLOCATE are left to the executor, which counts what EXECUTE runs.
 */
static void
stats_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
					 bool readOnlyTree, ProcessUtilityContext context,
					 ParamListInfo params, QueryEnvironment *queryEnv,
					 DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *stmt = pstmt->utilityStmt;
	bool		track = stats_enabled(nesting_level) &&
		!IsA(stmt, ExecuteStmt) && !IsA(stmt, PrepareStmt) && !IsA(stmt, DeallocateStmt);
	instr_time	start;
	instr_time	duration;
	BufferUsage bufusage_start = pgBufferUsage;
	BufferUsage bufusage;
	WalUsage	walusage_start = pgWalUsage;
	WalUsage	walusage;

	if (!track)
	{
		trovella_next_ProcessUtility(prev_ProcessUtility, pstmt, queryString, readOnlyTree,
									 context, params, queryEnv, dest, qc);
		return;
	}

	INSTR_TIME_SET_CURRENT(start);
	nesting_level++;
	PG_TRY();
	{
		trovella_next_ProcessUtility(prev_ProcessUtility, pstmt, queryString, readOnlyTree,
									 context, params, queryEnv, dest, qc);
	}
	PG_FINALLY();
	{
		nesting_level--;
	}
	PG_END_TRY();
	INSTR_TIME_SET_CURRENT(duration);
	INSTR_TIME_SUBTRACT(duration, start);
	memset(&bufusage, 0, sizeof(bufusage));
	BufferUsageAccumDiff(&bufusage, &pgBufferUsage, &bufusage_start);
	memset(&walusage, 0, sizeof(walusage));
	WalUsageAccumDiff(&walusage, &pgWalUsage, &walusage_start);
	/* transaction control ends or starts a transaction: counted there */
	if (!IsA(stmt, TransactionStmt))
		stats_add(0, 1, (qc && qc->commandTag != CMDTAG_UNKNOWN) ? qc->nprocessed : 0,
				  INSTR_TIME_GET_MILLISEC(duration), &bufusage, &walusage, false);
}

/* A transaction ends: one more for the tenant it had then. */
static void
stats_xact_callback(XactEvent event, void *arg)
{
	if ((event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT) &&
		stats_hash != NULL && stats_track != STATS_TRACK_NONE &&
		MyBackendType == B_BACKEND && !IsParallelWorker())
		stats_add(1, 0, 0, 0.0, NULL, NULL, event == XACT_EVENT_ABORT);
}

/* Save the table at a clean shutdown, in the postmaster. */
static void
stats_shmem_shutdown(int code, Datum arg)
{
	FILE	   *file;
	HASH_SEQ_STATUS seq;
	StatsEntry *entry;
	int32		header[2] = {STATS_MAGIC, STATS_VERSION};
	int32		count;

	if (code != 0 || stats_hash == NULL || !stats_save)
		return;
	file = AllocateFile(STATS_FILE ".tmp", PG_BINARY_W);
	if (file == NULL)
		goto error;
	count = hash_get_num_entries(stats_hash);
	if (fwrite(header, sizeof(header), 1, file) != 1 ||
		fwrite(&count, sizeof(count), 1, file) != 1 ||
		fwrite(&stats_state->evictions, sizeof(int64), 1, file) != 1 ||
		fwrite(&stats_state->stats_reset, sizeof(TimestampTz), 1, file) != 1)
		goto error;
	hash_seq_init(&seq, stats_hash);
	while ((entry = hash_seq_search(&seq)) != NULL)
	{
		if (fwrite(&entry->key, sizeof(StatsKey), 1, file) != 1 ||
			fwrite(&entry->counters, sizeof(StatsCounters), 1, file) != 1)
		{
			hash_seq_term(&seq);
			goto error;
		}
	}
	if (FreeFile(file))
	{
		file = NULL;
		goto error;
	}
	(void) durable_rename(STATS_FILE ".tmp", STATS_FILE, LOG);
	return;

error:
	ereport(LOG,
			(errcode_for_file_access(),
			 errmsg("trovella: could not write file \"%s\": %m", STATS_FILE ".tmp")));
	if (file)
		FreeFile(file);
	unlink(STATS_FILE ".tmp");
}

/* Load what the last clean shutdown saved, then remove the file. */
static void
stats_load(void)
{
	FILE	   *file = AllocateFile(STATS_FILE, PG_BINARY_R);
	int32		header[2];
	int32		count;
	int32		i;

	if (file == NULL)
		return;
	if (fread(header, sizeof(header), 1, file) != 1 ||
		header[0] != STATS_MAGIC || header[1] != STATS_VERSION ||
		fread(&count, sizeof(count), 1, file) != 1 ||
		fread(&stats_state->evictions, sizeof(int64), 1, file) != 1 ||
		fread(&stats_state->stats_reset, sizeof(TimestampTz), 1, file) != 1)
		goto done;
	for (i = 0; i < count && hash_get_num_entries(stats_hash) < stats_max_tenants; i++)
	{
		StatsKey	key;
		StatsCounters counters;
		StatsEntry *entry;
		bool		found;

		if (fread(&key, sizeof(key), 1, file) != 1 ||
			fread(&counters, sizeof(counters), 1, file) != 1)
			break;
		entry = hash_search(stats_hash, &key, HASH_ENTER, &found);
		SpinLockInit(&entry->mutex);
		entry->counters = counters;
	}
done:
	FreeFile(file);
	unlink(STATS_FILE);
}

static void
stats_shmem_startup(void)
{
	bool		found;
	HASHCTL		info;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	stats_state = ShmemInitStruct("trovella tenant stats", sizeof(StatsState), &found);
	if (!found)
	{
		stats_state->lock = &(GetNamedLWLockTranche("trovella_stats"))->lock;
		SpinLockInit(&stats_state->mutex);
		stats_state->evictions = 0;
		stats_state->stats_reset = GetCurrentTimestamp();
	}
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(StatsKey);
	info.entrysize = sizeof(StatsEntry);
	stats_hash = ShmemInitHash("trovella tenant stats hash", stats_max_tenants, stats_max_tenants,
							   &info, HASH_ELEM | HASH_BLOBS);
	LWLockRelease(AddinShmemInitLock);

	if (!IsUnderPostmaster)
		on_shmem_exit(stats_shmem_shutdown, (Datum) 0);
	if (!found && stats_save)
		stats_load();
}

void
StatsInit(void)
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
	if (!process_shared_preload_libraries_in_progress)
		return;

	DefineCustomIntVariable("trovella.stats_max_tenants",
							gettext_noop("How many tenants trovella.tenant_stats keeps; the least recently active are evicted beyond."),
							NULL,
							&stats_max_tenants,
							5000,
							10,
							INT_MAX / 2,
							PGC_POSTMASTER,
							0,
							NULL,
							NULL,
							NULL);
	DefineCustomBoolVariable("trovella.stats_save",
							 gettext_noop("Saves trovella.tenant_stats across clean server restarts."),
							 NULL,
							 &stats_save,
							 true,
							 PGC_SIGHUP,
							 0,
							 NULL,
							 NULL,
							 NULL);

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = stats_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = stats_shmem_startup;
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = stats_ExecutorStart;
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = stats_ExecutorRun;
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = stats_ExecutorFinish;
	prev_ExecutorEnd = ExecutorEnd_hook;
	ExecutorEnd_hook = stats_ExecutorEnd;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = stats_ProcessUtility;
	RegisterXactCallback(stats_xact_callback, NULL);
}

/* 55000 unless the library was preloaded; 42501 is EXECUTE's business. */
static void
require_stats(const char *function_name)
{
	if (stats_hash == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("trovella.%s: per-tenant statistics need trovella in shared_preload_libraries",
						function_name),
				 errhint("Add trovella to shared_preload_libraries in postgresql.conf and restart the server.")));
}

PG_FUNCTION_INFO_V1(trovella_tenant_stats);
Datum
trovella_tenant_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HASH_SEQ_STATUS seq;
	StatsEntry *entry;

	require_stats("tenant_stats");
	InitMaterializedSRF(fcinfo, 0);
	LWLockAcquire(stats_state->lock, LW_SHARED);
	hash_seq_init(&seq, stats_hash);
	while ((entry = hash_seq_search(&seq)) != NULL)
	{
		Datum		values[15];
		bool		nulls[15] = {0};
		StatsCounters c;
		char		wal_bytes[32];
		int			n = 0;

		SpinLockAcquire(&entry->mutex);
		c = entry->counters;
		SpinLockRelease(&entry->mutex);

		if (entry->key.is_null)
			nulls[n++] = true;
		else
		{
			pg_uuid_t  *id = palloc(sizeof(pg_uuid_t));

			*id = entry->key.tenant;
			values[n++] = UUIDPGetDatum(id);
		}
		values[n++] = Int64GetDatum(c.transactions);
		values[n++] = Int64GetDatum(c.statements);
		values[n++] = Int64GetDatum(c.rows);
		values[n++] = Float8GetDatum(c.total_time);
		values[n++] = Float8GetDatum(c.max_time);
		values[n++] = Int64GetDatum(c.shared_blks_hit);
		values[n++] = Int64GetDatum(c.shared_blks_read);
		values[n++] = Int64GetDatum(c.shared_blks_dirtied);
		values[n++] = Int64GetDatum(c.shared_blks_written);
		values[n++] = Int64GetDatum(c.temp_blks_written);
		values[n++] = Int64GetDatum(c.wal_records);
		snprintf(wal_bytes, sizeof(wal_bytes), UINT64_FORMAT, c.wal_bytes);
		values[n++] = DirectFunctionCall3(numeric_in, CStringGetDatum(wal_bytes),
										  ObjectIdGetDatum(0), Int32GetDatum(-1));
		nulls[n] = (c.first_activity == 0);
		values[n++] = TimestampTzGetDatum(c.first_activity);
		nulls[n] = (c.last_activity == 0);
		values[n++] = TimestampTzGetDatum(c.last_activity);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	LWLockRelease(stats_state->lock);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(trovella_tenant_stats_info);
Datum
trovella_tenant_stats_info(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[5];
	bool		nulls[5] = {0};

	require_stats("tenant_stats_info");
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	LWLockAcquire(stats_state->lock, LW_SHARED);
	values[2] = Int32GetDatum((int32) hash_get_num_entries(stats_hash));
	LWLockRelease(stats_state->lock);
	SpinLockAcquire(&stats_state->mutex);
	values[0] = Int64GetDatum(stats_state->evictions);
	values[1] = TimestampTzGetDatum(stats_state->stats_reset);
	SpinLockRelease(&stats_state->mutex);
	values[3] = Int32GetDatum(stats_max_tenants);
	values[4] = Int64GetDatum((int64) stats_memsize());
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/* tenant_stats_reset(tenant_id uuid DEFAULT NULL): one tenant, or all. */
PG_FUNCTION_INFO_V1(trovella_tenant_stats_reset);
Datum
trovella_tenant_stats_reset(PG_FUNCTION_ARGS)
{
	require_stats("tenant_stats_reset");
	LWLockAcquire(stats_state->lock, LW_EXCLUSIVE);
	if (PG_ARGISNULL(0))
	{
		HASH_SEQ_STATUS seq;
		StatsEntry *entry;

		hash_seq_init(&seq, stats_hash);
		while ((entry = hash_seq_search(&seq)) != NULL)
			hash_search(stats_hash, &entry->key, HASH_REMOVE, NULL);
		SpinLockAcquire(&stats_state->mutex);
		stats_state->evictions = 0;
		stats_state->stats_reset = GetCurrentTimestamp();
		SpinLockRelease(&stats_state->mutex);
	}
	else
	{
		StatsKey	key;

		memset(&key, 0, sizeof(key));
		key.tenant = *PG_GETARG_UUID_P(0);
		hash_search(stats_hash, &key, HASH_REMOVE, NULL);
	}
	LWLockRelease(stats_state->lock);
	PG_RETURN_VOID();
}
