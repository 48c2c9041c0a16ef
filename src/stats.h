/*
 * stats.h
 *		Per-tenant usage statistics (stats.c): the handlers hooks.c calls,
 *		and what the SQL functions (stats_sql.c) read.
 */
#ifndef TROVELLA_STATS_H
#define TROVELLA_STATS_H

#include "postgres.h"

#include "access/xact.h"
#include "executor/execdesc.h"
#include "executor/instrument.h"
#include "portability/instr_time.h"
#include "tcop/cmdtag.h"
#include "utils/uuid.h"

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

/* What one utility statement's handlers carry from begin to after. */
typedef struct StatsUtility
{
	bool		track;
	instr_time	start;
	BufferUsage bufusage_start;
	WalUsage	walusage_start;
} StatsUtility;

/* What tenant_stats_info() shows. */
typedef struct StatsInfo
{
	int64		evictions;
	TimestampTz stats_reset;
	int32		tenants;
	int32		max_tenants;
	int64		shared_memory;
} StatsInfo;

typedef void (*StatsVisitor) (const StatsKey *key, const StatsCounters *counters, void *arg);

extern void StatsInit(void);

/* Handlers that hooks.c calls (the shared memory and executor ones only when preloaded). */
extern void trovella_stats_shmem_request(void);
extern void trovella_stats_shmem_startup(void);
extern void trovella_stats_executor_start(QueryDesc *queryDesc);
extern void trovella_stats_enter(void);
extern void trovella_stats_leave(void);
extern void trovella_stats_executor_end(QueryDesc *queryDesc);
extern void trovella_stats_utility_begin(Node *stmt, StatsUtility *state);
extern void trovella_stats_utility_done(StatsUtility *state);
extern void trovella_stats_utility_after(Node *stmt, QueryCompletion *qc, StatsUtility *state);
extern void trovella_stats_xact(XactEvent event);

/* For the SQL functions. */
extern void trovella_stats_require(const char *function_name);
extern void trovella_stats_foreach(StatsVisitor visit, void *arg);
extern void trovella_stats_info(StatsInfo *info);
extern void trovella_stats_reset(const pg_uuid_t *tenant_id);

#endif							/* TROVELLA_STATS_H */
