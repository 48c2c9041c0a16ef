/*
 * stats_store.h
 *		The per-tenant statistics saved at a clean shutdown and loaded at
 *		start (stats_store.c); hooks.c calls both, in the postmaster.
 */
#ifndef TROVELLA_STATS_STORE_H
#define TROVELLA_STATS_STORE_H

extern void StatsStoreInit(void);
extern void trovella_stats_save(int code);
extern void trovella_stats_load(void);

#endif							/* TROVELLA_STATS_STORE_H */
