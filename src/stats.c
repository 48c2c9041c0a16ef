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
#include "context.h"
#include "stats.h"

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

#define stats_enabled(level) \
	(stats_hash != NULL && MyBackendType == B_BACKEND && !IsParallelWorker() && \
	 (stats_track == STATS_TRACK_ALL || (stats_track == STATS_TRACK_TOP && (level) == 0)))

static Size
stats_memsize(void)
{
	return MAXALIGN(sizeof(StatsState)) + hash_estimate_size(stats_max_tenants, sizeof(StatsEntry));
}

/* shmem_request_hook (hooks.c, preloaded only). */
void
trovella_stats_shmem_request(void)
{
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

/* After ExecutorStart (hooks.c): as pg_stat_statements, total time and buffer and WAL usage. */
void
trovella_stats_executor_start(QueryDesc *queryDesc)
{
	if (stats_enabled(nesting_level) && queryDesc->totaltime == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(queryDesc->estate->es_query_cxt);

		queryDesc->totaltime = InstrAlloc(1, INSTRUMENT_ALL, false);
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
	if (queryDesc->totaltime != NULL && stats_enabled(nesting_level))
	{
		InstrEndLoop(queryDesc->totaltime);
		stats_add(0, 1, queryDesc->estate->es_processed,
				  queryDesc->totaltime->total * 1000.0,
				  &queryDesc->totaltime->bufusage, &queryDesc->totaltime->walusage, false);
	}
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
		stats_add(0, 1, (qc && qc->commandTag != CMDTAG_UNKNOWN) ? qc->nprocessed : 0,
				  INSTR_TIME_GET_MILLISEC(duration), &bufusage, &walusage, false);
}

/* A transaction ends (hooks.c): one more for the tenant it had then. */
void
trovella_stats_xact(XactEvent event)
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

/* shmem_startup_hook (hooks.c, preloaded only). */
void
trovella_stats_shmem_startup(void)
{
	bool		found;
	HASHCTL		info;

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
}


/* 55000 unless the library was preloaded; 42501 is EXECUTE's business. */
void
trovella_stats_require(const char *function_name)
{
	if (stats_hash == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("trovella.%s: per-tenant statistics need trovella in shared_preload_libraries",
						function_name),
				 errhint("Add trovella to shared_preload_libraries in postgresql.conf and restart the server.")));
}

/*
 * Call visit for each entry with a copy of its counters, under the lock
 * held shared (visit must not raise an error that leaves it held: an
 * ERROR releases LWLocks at abort, as for any backend code).
 */
void
trovella_stats_foreach(StatsVisitor visit, void *arg)
{
	HASH_SEQ_STATUS seq;
	StatsEntry *entry;

	LWLockAcquire(stats_state->lock, LW_SHARED);
	hash_seq_init(&seq, stats_hash);
	while ((entry = hash_seq_search(&seq)) != NULL)
	{
		StatsCounters counters;

		SpinLockAcquire(&entry->mutex);
		counters = entry->counters;
		SpinLockRelease(&entry->mutex);
		visit(&entry->key, &counters, arg);
	}
	LWLockRelease(stats_state->lock);
}

void
trovella_stats_info(StatsInfo *info)
{
	LWLockAcquire(stats_state->lock, LW_SHARED);
	info->tenants = (int32) hash_get_num_entries(stats_hash);
	LWLockRelease(stats_state->lock);
	SpinLockAcquire(&stats_state->mutex);
	info->evictions = stats_state->evictions;
	info->stats_reset = stats_state->stats_reset;
	SpinLockRelease(&stats_state->mutex);
	info->max_tenants = stats_max_tenants;
	info->shared_memory = (int64) stats_memsize();
}

/* Forget one tenant's counters, or every tenant's (tenant_id NULL). */
void
trovella_stats_reset(const pg_uuid_t *tenant_id)
{
	LWLockAcquire(stats_state->lock, LW_EXCLUSIVE);
	if (tenant_id == NULL)
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
		key.tenant = *tenant_id;
		hash_search(stats_hash, &key, HASH_REMOVE, NULL);
	}
	LWLockRelease(stats_state->lock);
}
