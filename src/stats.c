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
 * as pg_stat_statements does (stats_store.c).
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "compat.h"
#include "stats.h"
#include "stats_evict.h"
#include "stats_file.h"

typedef struct StatsEntry
{
	StatsKey	key;			/* hash key: first */
	slock_t		mutex;			/* protects the counters */
	StatsCounters counters;
	int32		slot;			/* its place in the eviction array */
	int64		published_order;	/* what the slot says of it */
} StatsEntry;

/*
 * The eviction array: one slot per entry, so that an eviction pass reads a
 * contiguous array instead of every entry of the hash table (a cache miss
 * each: 30 ms at 200,000 tenants).  A slot holds the key and the entry's
 * eviction order, published when it moves by a second or more (and when
 * the tenant has its second transaction), so that counting a statement
 * rarely writes it.
 */
typedef struct StatsSlot
{
	pg_atomic_uint64 order;		/* an int64 (stats_evict.h) */
	StatsKey	key;
	bool		in_use;
} StatsSlot;

/* Shared state besides the hash table. */
typedef struct StatsState
{
	LWLock	   *lock;			/* the hash table and the slots: shared to count, exclusive to add or remove */
	slock_t		mutex;			/* evicting, evictions, stats_reset, lost */
	bool		evicting;		/* a backend is evicting */
	int64		evictions;
	TimestampTz stats_reset;
	TimestampTz lost_at;		/* when counts were lost, 0 if never */
	char		lost[STATS_LOST_LEN];	/* why */
	int32		free_count;		/* free slots, on the stack free_slots */
} StatsState;

#define ORDER_PUBLISH_USECS USECS_PER_SEC

StaticAssertDecl(sizeof(StatsTenant) == UUID_LEN, "a StatsTenant holds a uuid");

static int	stats_max_tenants = 5000;

static StatsState *stats_state = NULL;
static StatsSlot *stats_slots = NULL;
static int32 *free_slots = NULL;
static HTAB *stats_hash = NULL;

static Size
stats_memsize(void)
{
	return MAXALIGN(sizeof(StatsState)) +
		MAXALIGN(mul_size(stats_max_tenants, sizeof(StatsSlot))) +
		MAXALIGN(mul_size(stats_max_tenants, sizeof(int32))) +
		hash_estimate_size(stats_max_tenants, sizeof(StatsEntry));
}

/*
 * Enter key into the table with a slot; the caller holds the lock
 * exclusively and has checked that there is room.  NULL if there is none.
 */
static StatsEntry *
enter_entry(const StatsKey *key, bool *found)
{
	StatsEntry *entry;
	int32		slot;

	if (stats_state->free_count == 0)
	{
		entry = hash_search(stats_hash, key, HASH_FIND, NULL);
		*found = (entry != NULL);
		return entry;
	}
	entry = hash_search(stats_hash, key, HASH_ENTER, found);
	if (*found)
		return entry;
	slot = free_slots[--stats_state->free_count];
	SpinLockInit(&entry->mutex);
	memset(&entry->counters, 0, sizeof(StatsCounters));
	entry->slot = slot;
	entry->published_order = trovella_eviction_order(&entry->counters);
	stats_slots[slot].key = *key;
	stats_slots[slot].in_use = true;
	pg_atomic_write_u64(&stats_slots[slot].order, (uint64) entry->published_order);
	return entry;
}

/* Remove an entry and free its slot; the caller holds the lock exclusively. */
static void
remove_entry(StatsEntry *entry)
{
	StatsKey	key = entry->key;

	stats_slots[entry->slot].in_use = false;
	free_slots[stats_state->free_count++] = entry->slot;
	hash_search(stats_hash, &key, HASH_REMOVE, NULL);
}

/* Publish the entry's order to its slot when it moved enough; under its mutex. */
static void
publish_order(StatsEntry *entry)
{
	int64		order = trovella_eviction_order(&entry->counters);

	if (order - entry->published_order >= ORDER_PUBLISH_USECS ||
		order < entry->published_order)
	{
		entry->published_order = order;
		pg_atomic_write_u64(&stats_slots[entry->slot].order, (uint64) order);
	}
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
 * The slots (StatsSlot) are copied under the lock held shared (others keep
 * counting), the victims chosen outside any lock in linear time, and
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
	for (i = 0; i < stats_max_tenants; i++)
	{
		if (!stats_slots[i].in_use || stats_slots[i].key.is_null)
			continue;
		candidates[n].order = (int64) pg_atomic_read_u64(&stats_slots[i].order);
		candidates[n].slot = i;
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
			StatsSlot  *slot = &stats_slots[candidates[i].slot];
			bool		active_since;

			if (!slot->in_use)
				continue;
			entry = hash_search(stats_hash, &slot->key, HASH_FIND, NULL);
			if (entry == NULL)
				continue;
			/* active since the copy, or the slot now another tenant's */
			SpinLockAcquire(&entry->mutex);
			active_since = entry->published_order > candidates[i].order;
			SpinLockRelease(&entry->mutex);
			if (active_since)
				continue;
			remove_entry(entry);
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
	entry = enter_entry(key, &found);
	if (entry != NULL && !found)
	{
		/* active now: a concurrent eviction does not take it for the oldest */
		entry->counters.first_activity = GetCurrentStatementStartTimestamp();
		entry->counters.last_activity = entry->counters.first_activity;
		publish_order(entry);
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
		publish_order(entry);
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

/*
 * For the file (stats_store.c), where no backend runs: in the postmaster
 * at start, before any backend, and at shutdown, after the last.
 */
int
trovella_stats_max_tenants(void)
{
	return stats_max_tenants;
}

void
trovella_stats_header(int32 *count, int64 *evictions, TimestampTz *stats_reset)
{
	*count = (int32) hash_get_num_entries(stats_hash);
	*evictions = stats_state->evictions;
	*stats_reset = stats_state->stats_reset;
}

void
trovella_stats_restore_header(int64 evictions, TimestampTz stats_reset)
{
	stats_state->evictions = evictions;
	stats_state->stats_reset = stats_reset;
}

void
trovella_stats_foreach_unlocked(StatsVisitor visit, void *arg)
{
	HASH_SEQ_STATUS seq;
	StatsEntry *entry;

	hash_seq_init(&seq, stats_hash);
	while ((entry = hash_seq_search(&seq)) != NULL)
		visit(&entry->key, &entry->counters, arg);
}

/* One saved entry; false when the key is there already or there is no room. */
bool
trovella_stats_restore(const StatsKey *key, const StatsCounters *counters)
{
	bool		found;
	StatsEntry *entry = enter_entry(key, &found);

	if (entry == NULL || found)
		return false;
	entry->counters = *counters;
	publish_order(entry);
	return true;
}

/*
 * The counts before now were lost, and why (stats_store.c, as the server
 * starts): trovella.health says so until the next full reset.
 */
void
trovella_stats_note_lost(const char *reason)
{
	TimestampTz now = GetCurrentTimestamp();
	char		copy[STATS_LOST_LEN];

	strlcpy(copy, reason, sizeof(copy));
	SpinLockAcquire(&stats_state->mutex);
	stats_state->lost_at = now;
	memcpy(stats_state->lost, copy, sizeof(copy));
	SpinLockRelease(&stats_state->mutex);
}

/* Forget every entry (trovella_stats_reset holds the lock exclusively). */
void
trovella_stats_forget_all(void)
{
	HASH_SEQ_STATUS seq;
	StatsEntry *entry;

	hash_seq_init(&seq, stats_hash);
	while ((entry = hash_seq_search(&seq)) != NULL)
		remove_entry(entry);
}

/*
 * shmem_startup_hook (hooks.c, preloaded only): true when the table was
 * made now, empty (in the postmaster, which then loads the saved file).
 */
bool
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
		stats_state->lost_at = 0;
		stats_state->lost[0] = '\0';
	}
	stats_slots = ShmemInitStruct("trovella tenant stats slots",
								  mul_size(stats_max_tenants, sizeof(StatsSlot)), &found);
	free_slots = ShmemInitStruct("trovella tenant stats free slots",
								 mul_size(stats_max_tenants, sizeof(int32)), &found);
	if (!found)
	{
		for (int i = 0; i < stats_max_tenants; i++)
		{
			pg_atomic_init_u64(&stats_slots[i].order, 0);
			stats_slots[i].in_use = false;
			/* popped from the top: slot 0 first */
			free_slots[i] = stats_max_tenants - 1 - i;
		}
		stats_state->free_count = stats_max_tenants;
	}
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(StatsKey);
	info.entrysize = sizeof(StatsEntry);
	stats_hash = shmem_init_hash("trovella tenant stats hash", stats_max_tenants,
								 &info, HASH_ELEM | HASH_BLOBS);
	LWLockRelease(AddinShmemInitLock);
	return !found;
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
	info->lost_at = stats_state->lost_at;
	memcpy(info->lost, stats_state->lost, STATS_LOST_LEN);
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
		trovella_stats_forget_all();
		SpinLockAcquire(&stats_state->mutex);
		stats_state->evictions = 0;
		stats_state->stats_reset = GetCurrentTimestamp();
		stats_state->lost_at = 0;
		stats_state->lost[0] = '\0';
		SpinLockRelease(&stats_state->mutex);
	}
	else
	{
		StatsKey	key;
		StatsEntry *entry;

		memset(&key, 0, sizeof(key));
		memcpy(key.tenant.data, tenant_id->data, UUID_LEN);
		entry = hash_search(stats_hash, &key, HASH_FIND, NULL);
		if (entry != NULL)
			remove_entry(entry);
	}
	LWLockRelease(stats_state->lock);
}
