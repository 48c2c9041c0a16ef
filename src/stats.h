/*
 * stats.h
 *		Per-tenant usage statistics: the table of counters in shared memory
 *		(stats.c), for the counting (stats_count.c) and the SQL functions
 *		(stats_sql.c).
 */
#ifndef TROVELLA_STATS_H
#define TROVELLA_STATS_H

#include "postgres.h"

#include "utils/uuid.h"

#include "stats_file.h"

#define STATS_LOST_LEN 160

/* What tenant_stats_info() and tenant_stats_loss() show. */
typedef struct StatsInfo
{
	int64		evictions;
	TimestampTz stats_reset;
	TimestampTz lost_at;		/* 0: nothing lost since the last full reset */
	char		lost[STATS_LOST_LEN];
	int32		tenants;
	int32		max_tenants;
	int64		shared_memory;
} StatsInfo;

typedef void (*StatsVisitor) (const StatsKey *key, const StatsCounters *counters, void *arg);

extern void StatsInit(void);

/* Handlers that hooks.c calls, when trovella is preloaded. */
extern void trovella_stats_shmem_request(void);
extern bool trovella_stats_shmem_startup(void);

/* For the file (stats_store.c), where no backend runs. */
extern int	trovella_stats_max_tenants(void);
extern void trovella_stats_header(int32 *count, int64 *evictions, TimestampTz *stats_reset);
extern void trovella_stats_restore_header(int64 evictions, TimestampTz stats_reset);
extern void trovella_stats_foreach_unlocked(StatsVisitor visit, void *arg);
extern bool trovella_stats_restore(const StatsKey *key, const StatsCounters *counters);
extern void trovella_stats_forget_all(void);
extern void trovella_stats_note_lost(const char *reason);

/* For the counting (stats_count.c). */
extern bool trovella_stats_ready(void);
extern void trovella_stats_add(const StatsKey *key, const StatsCounters *delta, bool create);
extern void trovella_stats_ensure(const StatsKey *key);

/* For the SQL functions. */
extern void trovella_stats_require(const char *function_name);
extern void trovella_stats_foreach(StatsVisitor visit, void *arg);
extern void trovella_stats_info(StatsInfo *info);
extern void trovella_stats_reset(const pg_uuid_t *tenant_id);

#endif							/* TROVELLA_STATS_H */
