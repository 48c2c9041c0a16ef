/*
 * stats.c
 *		Per-tenant usage statistics: which tenant costs what.
 *
 * This file is the table of counters; what is counted, and when, is
 * stats_count.c's.
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
#include "stats_evict.h"
#include "stats_file.h"

#define STATS_FILE		PGSTAT_STAT_PERMANENT_DIRECTORY "/trovella_tenant_stats.stat"

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
static bool stats_save = true;

static StatsState *stats_state = NULL;
static HTAB *stats_hash = NULL;

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
#define EVICTION_BATCH 256

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
		candidates[n].order = trovella_eviction_order(&entry->counters);
		candidates[n].last_activity = entry->counters.last_activity;
		SpinLockRelease(&entry->mutex);
		candidates[n].key = entry->key;
		n++;
	}
	LWLockRelease(stats_state->lock);

	victims = Min(Max(n / 20, 1), n);
	if (victims > 0)
		trovella_select_smallest(candidates, n, victims);

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
 * Add delta to key's entry, made first when create (not on the commit and
 * abort paths, which must neither allocate nor fail); delta's max_time is
 * the time of the one statement added.
 */
void
trovella_stats_add(const StatsKey *key, const StatsCounters *delta, bool create)
{
	StatsEntry *entry = find_entry(key, create);

	if (entry != NULL)
	{
		StatsCounters *c = &entry->counters;

		SpinLockAcquire(&entry->mutex);
		c->transactions += delta->transactions;
		c->statements += delta->statements;
		c->rows += delta->rows;
		c->total_time += delta->total_time;
		if (delta->max_time > c->max_time)
			c->max_time = delta->max_time;
		c->shared_blks_hit += delta->shared_blks_hit;
		c->shared_blks_read += delta->shared_blks_read;
		c->shared_blks_dirtied += delta->shared_blks_dirtied;
		c->shared_blks_written += delta->shared_blks_written;
		c->temp_blks_written += delta->temp_blks_written;
		c->wal_records += delta->wal_records;
		c->wal_bytes += delta->wal_bytes;
		c->last_activity = GetCurrentStatementStartTimestamp();
		SpinLockRelease(&entry->mutex);
	}
	LWLockRelease(stats_state->lock);
}

/* Make key's entry now, if there is none (before a commit adds to it). */
void
trovella_stats_ensure(const StatsKey *key)
{
	(void) find_entry(key, true);
	LWLockRelease(stats_state->lock);
}

/* Whether the table exists: trovella was preloaded. */
bool
trovella_stats_ready(void)
{
	return stats_hash != NULL;
}

/* Save the table at a clean shutdown, in the postmaster (stats_file.h). */
static void
stats_shmem_shutdown(int code, Datum arg)
{
	FILE	   *file;
	HASH_SEQ_STATUS seq;
	StatsEntry *entry;
	StatsFileHeader header;
	uint8		header_bytes[STATS_FILE_HEADER_SIZE];
	uint8		record[STATS_FILE_RECORD_SIZE];
	uint32		crc = stats_file_crc_begin();
	uint32		written = 0;

	if (code != 0 || stats_hash == NULL || !stats_save)
		return;
	file = AllocateFile(STATS_FILE ".tmp", PG_BINARY_W);
	if (file == NULL)
		goto error;
	header.magic = STATS_FILE_MAGIC;
	header.version = STATS_FILE_VERSION;
	header.record_size = STATS_FILE_RECORD_SIZE;
	header.count = hash_get_num_entries(stats_hash);
	header.evictions = stats_state->evictions;
	header.stats_reset = stats_state->stats_reset;
	stats_file_header(&header, header_bytes);
	crc = stats_file_crc_add(crc, header_bytes, sizeof(header_bytes));
	if (fwrite(header_bytes, sizeof(header_bytes), 1, file) != 1)
		goto error;
	hash_seq_init(&seq, stats_hash);
	while ((entry = hash_seq_search(&seq)) != NULL)
	{
		stats_file_record(&entry->key, &entry->counters, record);
		crc = stats_file_crc_add(crc, record, sizeof(record));
		if (fwrite(record, sizeof(record), 1, file) != 1)
		{
			hash_seq_term(&seq);
			goto error;
		}
		written++;
	}
	crc = stats_file_crc_end(crc);
	if (written != header.count || fwrite(&crc, sizeof(crc), 1, file) != 1)
		goto error;
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

/* Undo a partial load: forget every entry. */
static void
forget_all_entries(void)
{
	HASH_SEQ_STATUS seq;
	StatsEntry *entry;

	hash_seq_init(&seq, stats_hash);
	while ((entry = hash_seq_search(&seq)) != NULL)
		hash_search(stats_hash, &entry->key, HASH_REMOVE, NULL);
}

/*
 * Load what the last clean shutdown saved, whole or not at all, then remove
 * the file.  A file that does not check out (stats_file_check), or that
 * names a tenant twice, is reported in the log and ignored: the server
 * starts with empty statistics, never with part of a file.
 */
static void
stats_load(void)
{
	FILE	   *file = AllocateFile(STATS_FILE, PG_BINARY_R);
	struct stat st;
	uint8	   *data = NULL;
	StatsFileHeader header;
	const char *problem = NULL;
	uint32		i;

	if (file == NULL)
		return;
	if (fstat(fileno(file), &st) != 0)
		problem = "it cannot be read";
	else if ((size_t) st.st_size > stats_file_size((uint32) stats_max_tenants))
		problem = "it holds more tenants than trovella.stats_max_tenants";
	else
	{
		data = palloc_extended(Max(st.st_size, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
		if (data == NULL || fread(data, 1, st.st_size, file) != (size_t) st.st_size)
			problem = "it cannot be read";
		else
			problem = stats_file_check(data, st.st_size, (uint32) stats_max_tenants, &header);
	}
	for (i = 0; problem == NULL && i < header.count; i++)
	{
		StatsKey	key;
		StatsCounters counters;
		StatsEntry *entry;
		bool		found;

		stats_file_read_record(data + STATS_FILE_HEADER_SIZE + (size_t) i * STATS_FILE_RECORD_SIZE,
							   &key, &counters);
		entry = hash_search(stats_hash, &key, HASH_ENTER, &found);
		if (found)
		{
			forget_all_entries();
			problem = "it names a tenant twice";
			break;
		}
		SpinLockInit(&entry->mutex);
		entry->counters = counters;
	}
	if (problem == NULL)
	{
		stats_state->evictions = header.evictions;
		stats_state->stats_reset = header.stats_reset;
	}
	else
		ereport(LOG,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("trovella: ignoring the saved per-tenant statistics in \"%s\"", STATS_FILE),
				 errdetail("%s.", problem)));
	if (data != NULL)
		pfree(data);
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
