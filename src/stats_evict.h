/*
 * stats_evict.h
 *		Choosing the tenants to evict from the statistics (stats_evict.c).
 */
#ifndef TROVELLA_STATS_EVICT_H
#define TROVELLA_STATS_EVICT_H

#include "c.h"

#include "stats_file.h"

/* A copy of one entry's slot, taken under the lock, judged outside it. */
typedef struct EvictionCandidate
{
	int64		order;			/* smaller goes first */
	int32		slot;			/* where the entry is */
} EvictionCandidate;

/* The order of an entry: those with at most one transaction first. */
extern int64 trovella_eviction_order(const StatsCounters *counters);

/* Put the k smallest of n candidates first, in any order. */
extern void trovella_select_smallest(EvictionCandidate *candidates, int n, int k);

#endif							/* TROVELLA_STATS_EVICT_H */
