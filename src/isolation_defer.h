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

/* After each utility statement (hooks.c). */
extern void trovella_isolation_run_deferred(void);

/* At a transaction's end (hooks.c). */
extern void trovella_isolation_defer_xact(XactEvent event);

#endif							/* TROVELLA_ISOLATION_DEFER_H */
