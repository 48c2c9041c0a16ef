/*
 * stats_count.h
 *		What the per-tenant statistics count (stats_count.c): the handlers
 *		hooks.c calls.
 */
#ifndef TROVELLA_STATS_COUNT_H
#define TROVELLA_STATS_COUNT_H

#include "postgres.h"

#include "access/xact.h"
#include "executor/execdesc.h"
#include "executor/instrument.h"
#include "nodes/nodes.h"
#include "portability/instr_time.h"
#include "tcop/cmdtag.h"

/* What one utility statement's handlers carry from begin to after. */
typedef struct StatsUtility
{
	bool		track;
	instr_time	start;
	BufferUsage bufusage_start;
	WalUsage	walusage_start;
} StatsUtility;

extern void StatsCountInit(void);

/* The executor ones are installed only when trovella is preloaded. */
extern void trovella_stats_executor_asks(QueryDesc *queryDesc);
extern void trovella_stats_executor_start(QueryDesc *queryDesc);
extern void trovella_stats_enter(void);
extern void trovella_stats_leave(void);
extern void trovella_stats_executor_end(QueryDesc *queryDesc);
extern void trovella_stats_utility_begin(Node *stmt, StatsUtility *state);
extern void trovella_stats_utility_done(StatsUtility *state);
extern void trovella_stats_utility_after(Node *stmt, QueryCompletion *qc, StatsUtility *state);
extern void trovella_stats_xact(XactEvent event);

#endif							/* TROVELLA_STATS_COUNT_H */
