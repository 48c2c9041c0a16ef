/*
 * index_probe.c
 *		One probe of a unique B-tree index with the access methods: no SQL is
 *		parsed, planned or run, so nothing on the caller's search path takes
 *		part and no privilege or policy of the caller's applies.  The token
 *		lookups (token_scan.c) keep a probe open for a whole query; the
 *		membership check (membership.c) opens one per check.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_am_d.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "compat.h"
#include "index_probe.h"

static Oid
index_access_method(Oid indexrelid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(indexrelid));
	Oid			am;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", indexrelid);
	am = ((Form_pg_class) GETSTRUCT(tuple))->relam;
	ReleaseSysCache(tuple);
	return am;
}

/* Whether the index's keys are exactly the columns; their positions if so. */
static bool
keys_match(Form_pg_index index, int ncolumns, const AttrNumber *columns, int *positions)
{
	int			i;
	int			k;

	for (i = 0; i < ncolumns; i++)
	{
		positions[i] = 0;
		for (k = 0; k < ncolumns; k++)
			if (index->indkey.values[k] == columns[i])
				positions[i] = k + 1;
		if (positions[i] == 0)
			return false;
	}
	return true;
}

Oid
trovella_find_unique_index(Oid relid, int ncolumns, const AttrNumber *columns,
						   int *key_positions)
{
	Relation	rel = table_open(relid, AccessShareLock);
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	Oid			found = InvalidOid;
	int		   *positions = palloc(sizeof(int) * ncolumns);

	foreach(lc, indexes)
	{
		HeapTuple	tuple = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		Form_pg_index index;

		if (!HeapTupleIsValid(tuple))
			elog(ERROR, "cache lookup failed for index %u", lfirst_oid(lc));
		index = (Form_pg_index) GETSTRUCT(tuple);
		if (index->indisunique && index->indisvalid && index->indnkeyatts == ncolumns &&
			index_access_method(index->indexrelid) == BTREE_AM_OID &&
			heap_attisnull(tuple, Anum_pg_index_indpred, NULL) &&
			heap_attisnull(tuple, Anum_pg_index_indexprs, NULL) &&
			keys_match(index, ncolumns, columns, positions))
		{
			found = index->indexrelid;
			memcpy(key_positions, positions, sizeof(int) * ncolumns);
		}
		ReleaseSysCache(tuple);
	}
	pfree(positions);
	list_free(indexes);
	table_close(rel, AccessShareLock);
	return found;
}

void
trovella_probe_open(IndexProbe *probe, Oid relid, Oid indexid, Snapshot snapshot, int nkeys)
{
	probe->rel = table_open(relid, AccessShareLock);
	probe->index = index_open(indexid, AccessShareLock);
	probe->slot = table_slot_create(probe->rel, NULL);
	probe->scan = begin_index_scan(probe->rel, probe->index, snapshot, nkeys);
	probe->nkeys = nkeys;
	probe->context = CurrentMemoryContext;
}

/*
 * The probe runs in the scan's own memory context, as the executor runs an
 * index scan in the query's: the index access method keeps what it
 * allocates on the way for the next probe (B-tree's list of the items to
 * mark dead, made at the first dead row found), which the caller's
 * per-call memory would not outlive.
 */
bool
trovella_probe(IndexProbe *probe, ScanKey keys)
{
	MemoryContext old = MemoryContextSwitchTo(probe->context);
	bool		found;

	ExecClearTuple(probe->slot);
	index_rescan(probe->scan, keys, probe->nkeys, NULL, 0);
	found = index_getnext_slot(probe->scan, ForwardScanDirection, probe->slot);
	MemoryContextSwitchTo(old);
	return found;
}

void
trovella_probe_close(IndexProbe *probe, bool keep_locks)
{
	LOCKMODE	lockmode = keep_locks ? NoLock : AccessShareLock;

	index_endscan(probe->scan);
	ExecDropSingleTupleTableSlot(probe->slot);
	index_close(probe->index, lockmode);
	table_close(probe->rel, lockmode);
}
