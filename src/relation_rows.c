/*
 * relation_rows.c
 *		Whether a table holds any row, every tenant's counted: a scan of the
 *		table and each table below it (partitions, inheritance children),
 *		read directly, never through the executor, so that no row-level
 *		security policy hides a row.
 *
 * The caller names the lock the statement it judges will take: the table
 * and those below it are locked so, and the scan uses a snapshot taken
 * after the locks, so that what it saw is what the statement will find
 * (PostgreSQL's own foreign key check reads under a snapshot as recent).
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_inherits.h"
#include "executor/tuptable.h"
#include "storage/lmgr.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "compat.h"
#include "relation_rows.h"

/*
 * Whether a scan of rel finds a row; with column, a row whose value there
 * is NULL (rel's own attribute of that name).
 */
static bool
scan_finds_row(Relation rel, Snapshot snapshot, const char *column)
{
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	TableScanDesc scan = begin_table_scan(rel, snapshot);
	AttrNumber	attnum = column ? get_attnum(RelationGetRelid(rel), column) : InvalidAttrNumber;
	bool		found = false;

	if (column == NULL || attnum > 0)
		while (!found && table_scan_getnextslot(scan, ForwardScanDirection, slot))
			found = column == NULL || slot_attisnull(slot, attnum);
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	return found;
}

/* The scan of relid and the tables below it (scan_finds_row). */
static bool
tree_finds_row(Oid relid, LOCKMODE lockmode, const char *column)
{
	List	   *relids;
	ListCell   *lc;
	Snapshot	snapshot;
	bool		found = false;

	LockRelationOid(relid, lockmode);
	relids = find_all_inheritors(relid, lockmode, NULL);
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	foreach(lc, relids)
	{
		Relation	rel = try_table_open(lfirst_oid(lc), NoLock);

		if (rel == NULL)
			continue;			/* dropped before it was locked */
		if (RELKIND_HAS_STORAGE(rel->rd_rel->relkind))
			found = scan_finds_row(rel, snapshot, column);
		table_close(rel, NoLock);
		if (found)
			break;
	}
	UnregisterSnapshot(snapshot);
	return found;
}

/* Whether relid or a table below it has a row, whoever's row it is. */
bool
trovella_relation_has_rows(Oid relid, LOCKMODE lockmode)
{
	return tree_finds_row(relid, lockmode, NULL);
}

/*
 * Whether relid or a table below it has a row whose value in column is
 * NULL, whoever's row it is.
 */
bool
trovella_relation_has_null(Oid relid, const char *column, LOCKMODE lockmode)
{
	return tree_finds_row(relid, lockmode, column);
}
