/*
 * isolation_defer.h
 *		In auto, isolation after the statement where Citus acts on the
 *		table after it (isolation_defer.c).
 */
#ifndef TROVELLA_ISOLATION_DEFER_H
#define TROVELLA_ISOLATION_DEFER_H

#include "postgres.h"

#include "access/xact.h"

/* Remember relid to isolate after the statement, where Citus acts then. */
extern bool trovella_isolation_defer(Oid relid, Datum column);

/* The refusal of a tenant column that would leave rows without a tenant. */
extern void trovella_refuse_tenantless_rows(Oid relid, const char *column);

/* Around each utility statement (hooks.c): its depth, then after it. */
extern int	trovella_isolation_utility_begin(void);
extern void trovella_isolation_utility_end(int depth);

/* At a transaction's end (hooks.c). */
extern void trovella_isolation_defer_xact(XactEvent event);

#endif							/* TROVELLA_ISOLATION_DEFER_H */
