/*
 * row_move.c
 *		Whether trovella's row triggers fire for a row that an UPDATE moves
 *		to another partition.
 *
 * PostgreSQL runs an UPDATE whose new row leaves its partition as the
 * partition's BEFORE UPDATE row triggers, then a DELETE from that partition
 * (its BEFORE DELETE row triggers fire) and an INSERT into the partition
 * the new row routes to (that one's BEFORE INSERT row triggers fire).  The
 * triggers are told DELETE and INSERT and nothing more, up to PostgreSQL 19
 * at least, so the move is noted here: the BEFORE UPDATE of a row whose new
 * version fails the partition's constraint notes the partition, the old
 * row's tid and the new row.  In the same statement (the same active
 * snapshot's command, transaction and subtransaction), the BEFORE DELETE of
 * that row version is the move's delete, and a BEFORE INSERT into a
 * partition of the same partitioned table of a row equal to the noted one,
 * column by column, is the move's insert: a client's INSERT can pass for it
 * only by inserting the very row the UPDATE moves.
 *
 * A BEFORE UPDATE trigger of the table's own that fires after trovella's
 * and changes the new row makes the insert no longer equal: it is then
 * taken as an INSERT (created_* and deleted_* set anew).
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/partition.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "nodes/pg_list.h"
#include "storage/proc.h"
#include "utils/datum.h"
#include "utils/memutils.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "compat.h"
#include "row_move.h"

/* The move under way, if any: what the last BEFORE UPDATE noted. */
typedef struct RowMove
{
	bool		valid;
	LocalTransactionId lxid;
	SubTransactionId subxid;
	CommandId	curcid;
	Oid			root;			/* the topmost partitioned table */
	Oid			relid;			/* the partition the row leaves */
	ItemPointerData tid;		/* the old row; invalid once deleted */
	HeapTuple	new_row;		/* in TopMemoryContext, as tupdesc */
	TupleDesc	tupdesc;
} RowMove;

static RowMove move = {0};

/* The statement now running, as a move notes it. */
static bool
same_statement(void)
{
	return move.valid && ActiveSnapshotSet() &&
		move.lxid == TROVELLA_MY_LXID &&
		move.subxid == GetCurrentSubTransactionId() &&
		move.curcid == GetActiveSnapshot()->curcid;
}

static void
forget_move(void)
{
	if (move.new_row)
		heap_freetuple(move.new_row);
	if (move.tupdesc)
		FreeTupleDesc(move.tupdesc);
	memset(&move, 0, sizeof(move));
}

/* Whether new_row fails the partition constraint of rel (a partition). */
static bool
leaves_partition(Relation rel, HeapTuple new_row)
{
	List	   *qual = RelationGetPartitionQual(rel);
	EState	   *estate;
	ExprContext *econtext;
	ExprState  *check;
	TupleTableSlot *slot;
	bool		fits;

	if (qual == NIL)
		return false;
	estate = CreateExecutorState();
	check = ExecPrepareCheck(qual, estate);
	slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsHeapTuple);
	ExecStoreHeapTuple(new_row, slot, false);
	econtext = GetPerTupleExprContext(estate);
	econtext->ecxt_scantuple = slot;
	fits = ExecCheck(check, econtext);
	ExecDropSingleTupleTableSlot(slot);
	FreeExecutorState(estate);
	return !fits;
}

/* The topmost partitioned table above a partition. */
static Oid
partition_root(Oid relid)
{
	List	   *ancestors = get_partition_ancestors(relid);
	Oid			root = ancestors != NIL ? llast_oid(ancestors) : InvalidOid;

	list_free(ancestors);
	return root;
}

void
trovella_row_move_update(Relation rel, HeapTuple old_row, HeapTuple new_row)
{
	MemoryContext old_context;

	forget_move();
	if (!rel->rd_rel->relispartition || !ActiveSnapshotSet() ||
		!leaves_partition(rel, new_row))
		return;
	move.root = partition_root(RelationGetRelid(rel));
	if (!OidIsValid(move.root))
		return;
	old_context = MemoryContextSwitchTo(TopMemoryContext);
	move.new_row = heap_copytuple(new_row);
	move.tupdesc = CreateTupleDescCopy(RelationGetDescr(rel));
	MemoryContextSwitchTo(old_context);
	move.lxid = TROVELLA_MY_LXID;
	move.subxid = GetCurrentSubTransactionId();
	move.curcid = GetActiveSnapshot()->curcid;
	move.relid = RelationGetRelid(rel);
	ItemPointerCopy(&old_row->t_self, &move.tid);
	move.valid = true;
}

bool
trovella_row_move_delete(Relation rel, HeapTuple old_row)
{
	if (!same_statement() || move.relid != RelationGetRelid(rel) ||
		!ItemPointerIsValid(&move.tid) || !ItemPointerEquals(&move.tid, &old_row->t_self))
		return false;
	ItemPointerSetInvalid(&move.tid);
	return true;
}

bool
trovella_row_move_insert(Relation rel, HeapTuple new_row)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	int			i;

	if (!same_statement() || !rel->rd_rel->relispartition ||
		partition_root(RelationGetRelid(rel)) != move.root)
		return false;
	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(tupdesc, i);
		int			noted = attr->attisdropped ? 0 : SPI_fnumber(move.tupdesc, NameStr(attr->attname));
		bool		null;
		bool		noted_null;
		Datum		value;
		Datum		noted_value;

		if (attr->attisdropped)
			continue;
		if (noted <= 0)
			return false;
		value = heap_getattr(new_row, i + 1, tupdesc, &null);
		noted_value = heap_getattr(move.new_row, noted, move.tupdesc, &noted_null);
		if (null != noted_null ||
			(!null && !datumIsEqual(value, noted_value, attr->attbyval, attr->attlen)))
			return false;
	}
	return true;
}
