/*
 * index_probe.h
 *		Probe a unique B-tree index with equality keys under a snapshot
 *		(index_probe.c): how trovella reads its token table and the
 *		application's membership table without running a statement.
 */
#ifndef TROVELLA_INDEX_PROBE_H
#define TROVELLA_INDEX_PROBE_H

#include "postgres.h"

#include "access/genam.h"
#include "access/skey.h"
#include "executor/tuptable.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"

/* An open scan of one unique index and its table. */
typedef struct IndexProbe
{
	Relation	rel;
	Relation	index;
	IndexScanDesc scan;
	TupleTableSlot *slot;		/* the row found, until the next probe */
	int			nkeys;
	MemoryContext context;		/* the scan's: where every probe runs */
} IndexProbe;

/*
 * A valid, unique B-tree index of relid without predicate or expressions
 * whose key columns are exactly columns[0..ncolumns-1], in any order;
 * key_positions[i] is then the 1-based position of columns[i] in it.
 * InvalidOid when there is none.
 */
extern Oid	trovella_find_unique_index(Oid relid, int ncolumns, const AttrNumber *columns,
									   int *key_positions);

/*
 * Open relid and its index indexid with AccessShareLock, for nkeys keys.
 * The scan lives in CurrentMemoryContext, which must outlive it.
 */
extern void trovella_probe_open(IndexProbe *probe, Oid relid, Oid indexid,
								Snapshot snapshot, int nkeys);

/*
 * Look up keys (attribute numbers are positions in the index, the strategy
 * BTEqualStrategyNumber); true with the row in probe->slot when found.
 */
extern bool trovella_probe(IndexProbe *probe, ScanKey keys);

/* Close; keep_locks leaves the relation locks to the transaction's end. */
extern void trovella_probe_close(IndexProbe *probe, bool keep_locks);

#endif							/* TROVELLA_INDEX_PROBE_H */
