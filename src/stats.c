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
 * the table is full, 5 % of the tenants are evicted (see evict_entries).
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
	slock_t		mutex;			/* evicting, evictions and stats_reset */
	bool		evicting;		/* a backend is evicting */
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

/*
 * Eviction.  When the table is full, one backend at a time (the others
 * count nothing new meanwhile, and wait for nothing) removes 5 % of the
 * tenants:
 *
 *	- first those that have had at most one transaction, oldest activity
 *	  first: a role that invents tenant ids (every with_tenant() caller
 *	  can) fills the table with such entries, and they evict each other, so
 *	  that a flood costs the real tenants at most one pass's worth (the
 *	  least recently active 5 %) and no more;
 *	- then the least recently active.
 *
 * The entries are copied under the lock held shared (others keep counting),
 * the victims chosen outside any lock in linear time (quickselect), and
 * removed under the exclusive lock in short batches, skipping any that was
 * active since the copy.  The copy's memory is allocated before the lock,
 * and an allocation failure only skips the pass.  Nothing of this runs on
 * the commit path: a transaction's entry is made before (PRE_COMMIT).
 */
typedef struct EvictionCandidate
{
	int64		order;			/* smaller goes first */
	TimestampTz last_activity;
	StatsKey	key;
} EvictionCandidate;

#define EVICTION_BATCH 256

/* Entries with at most one transaction sort before every other one. */
static int64
eviction_order(const StatsCounters *c)
{
	return c->transactions > 1 ? c->last_activity : c->last_activity - (INT64CONST(1) << 62);
}

static void
swap_candidates(EvictionCandidate *a, EvictionCandidate *b)
{
	EvictionCandidate t = *a;

	*a = *b;
	*b = t;
}

/* Put the k smallest candidates first (Hoare's selection, median of three). */
static void
select_smallest(EvictionCandidate *c, int n, int k)
{
	int			lo = 0;
	int			hi = n - 1;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int64		pivot;
		int			i = lo;
		int			j = hi;

		if (c[mid].order < c[lo].order)
			swap_candidates(&c[mid], &c[lo]);
		if (c[hi].order < c[lo].order)
			swap_candidates(&c[hi], &c[lo]);
		if (c[hi].order < c[mid].order)
			swap_candidates(&c[hi], &c[mid]);
		pivot = c[mid].order;
		while (i <= j)
		{
			while (c[i].order < pivot)
				i++;
			while (c[j].order > pivot)
				j--;
			if (i <= j)
				swap_candidates(&c[i++], &c[j--]);
		}
		if (k - 1 <= j)
			hi = j;
		else if (k - 1 >= i)
			lo = i;
		else
			break;
	}
}

static void
evict_entries(void)
{
	EvictionCandidate *candidates;
	HASH_SEQ_STATUS seq;
	StatsEntry *entry;
	int			n = 0;
	int			victims;
	int			evicted = 0;
	int			i;

	candidates = palloc_extended(sizeof(EvictionCandidate) * stats_max_tenants,
								 MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
	if (candidates == NULL)
		return;

	LWLockAcquire(stats_state->lock, LW_SHARED);
	hash_seq_init(&seq, stats_hash);
	while ((entry = hash_seq_search(&seq)) != NULL)
	{
		if (entry->key.is_null)
			continue;
		if (n >= stats_max_tenants)
		{
			hash_seq_term(&seq);
			break;
		}
		SpinLockAcquire(&entry->mutex);
		candidates[n].order = eviction_order(&entry->counters);
		candidates[n].last_activity = entry->counters.last_activity;
		SpinLockRelease(&entry->mutex);
		candidates[n].key = entry->key;
		n++;
	}
	LWLockRelease(stats_state->lock);

	victims = Min(Max(n / 20, 1), n);
	if (victims > 0)
		select_smallest(candidates, n, victims);

	for (i = 0; i < victims;)
	{
		int			end = Min(i + EVICTION_BATCH, victims);

		LWLockAcquire(stats_state->lock, LW_EXCLUSIVE);
		for (; i < end; i++)
		{
			bool		active_since;

			entry = hash_search(stats_hash, &candidates[i].key, HASH_FIND, NULL);
			if (entry == NULL)
				continue;
			SpinLockAcquire(&entry->mutex);
			active_since = entry->counters.last_activity > candidates[i].last_activity;
			SpinLockRelease(&entry->mutex);
			if (active_since)
				continue;
			hash_search(stats_hash, &candidates[i].key, HASH_REMOVE, NULL);
			evicted++;
		}
		LWLockRelease(stats_state->lock);
	}
	pfree(candidates);

	SpinLockAcquire(&stats_state->mutex);
	stats_state->evictions += evicted;
	SpinLockRelease(&stats_state->mutex);
}

/* Insert key if there is room; the lock is not held. */
static void
insert_entry(const StatsKey *key)
{
	StatsEntry *entry;
	bool		found;

	LWLockAcquire(stats_state->lock, LW_EXCLUSIVE);
	if (hash_get_num_entries(stats_hash) < stats_max_tenants)
	{
		entry = hash_search(stats_hash, key, HASH_ENTER, &found);
		if (!found)
		{
			SpinLockInit(&entry->mutex);
			memset(&entry->counters, 0, sizeof(StatsCounters));
			/* active now: a concurrent eviction does not take it for the oldest */
			entry->counters.first_activity = GetCurrentStatementStartTimestamp();
			entry->counters.last_activity = entry->counters.first_activity;
		}
	}
	LWLockRelease(stats_state->lock);
}

/* Evict, as the one backend evicting; false when another one is. */
static bool
evict_alone(void)
{
	bool		mine = false;

	SpinLockAcquire(&stats_state->mutex);
	if (!stats_state->evicting)
		mine = stats_state->evicting = true;
	SpinLockRelease(&stats_state->mutex);
	if (!mine)
		return false;
	PG_TRY();
	{
		evict_entries();
	}
	PG_FINALLY();
	{
		SpinLockAcquire(&stats_state->mutex);
		stats_state->evicting = false;
		SpinLockRelease(&stats_state->mutex);
	}
	PG_END_TRY();
	return true;
}

/*
 * Make an entry for key, evicting first when the table is full, unless
 * another backend is evicting (the caller then counts nothing this time).
 */
static void
create_entry(const StatsKey *key)
{
	bool		full;

	LWLockAcquire(stats_state->lock, LW_SHARED);
	full = hash_get_num_entries(stats_hash) >= stats_max_tenants;
	LWLockRelease(stats_state->lock);
	if (full && !evict_alone())
		return;
	insert_entry(key);
}

/*
 * The entry of key, created first if need be and create is true; the lock
 * is held shared on return.
 */
static StatsEntry *
find_entry(const StatsKey *key, bool create)
{
	StatsEntry *entry;

	LWLockAcquire(stats_state->lock, LW_SHARED);
	entry = hash_search(stats_hash, key, HASH_FIND, NULL);
	if (entry != NULL || !create)
		return entry;
	LWLockRelease(stats_state->lock);

	create_entry(key);
	LWLockAcquire(stats_state->lock, LW_SHARED);
	/* none when another backend was evicting, or evicted it again */
	return hash_search(stats_hash, key, HASH_FIND, NULL);
}

/*
 * Add one statement's figures (or one transaction) to the current tenant;
 * create its entry unless only_existing (the commit and abort paths, which
 * must neither allocate nor fail).
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
	StatsKey	key;

	if (stats_hash == NULL || stats_track == STATS_TRACK_NONE ||
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
			(void) find_entry(&key, true);
			LWLockRelease(stats_state->lock);
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
			stats_add(1, 0, 0, 0.0, NULL, NULL, true);
			break;
		default:
			break;
	}
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
		stats_state->evicting = false;
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
