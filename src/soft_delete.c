/*
 * soft_delete.c
 *		Soft delete (trovella.enable_soft_delete): a DELETE marks the row in
 *		deleted_at and deleted_by instead of removing it, and the table's
 *		restrictive policy trovella_soft_delete (FOR SELECT, USING deleted_at
 *		IS NULL OR trovella.deleted_rows_visible()) hides the marked rows.
 *
 * The trigger trovella_soft_delete (BEFORE INSERT OR UPDATE OR DELETE FOR
 * EACH ROW) does all the writing:
 *
 *	DELETE	of a live row: an UPDATE of that row (by its ctid, as the caller,
 *			under the caller's policies) sets deleted_at to the transaction's
 *			time and deleted_by to the context's user, and the DELETE itself is
 *			skipped; of a row marked already: skipped.  While a purge runs
 *			(purge_deleted, or an INSERT taking a marked row's key) the row is
 *			really deleted, and so is a row an UPDATE moves to another
 *			partition (row_move.c).  The UPDATE (and a purge's DELETE) names
 *			the partitioned table above a partition when the caller is
 *			granted on it and not on the partition.
 *	INSERT	deleted_* are NULL whatever the client sends (but those of a
 *			row an UPDATE moves to another partition); a marked row that
 *			holds a key of the new row in a unique index is really deleted
 *			first, so that the INSERT (or INSERT ... ON CONFLICT DO UPDATE)
 *			goes in as though it had never been there.
 *	UPDATE	of a marked row: skipped, unless the transaction reads deleted
 *			rows (with_deleted()); deleted_* cannot be changed but by
 *			trovella's own UPDATE (the mark, restore()): 0A000.
 *
 * PostgreSQL applies a table's SELECT policies to the new row of an UPDATE
 * that reads columns (WHERE, RETURNING) and to the row an ON CONFLICT DO
 * UPDATE finds: a policy that hides marked rows makes the UPDATE that marks
 * one fail (42501), the trap of hand-written soft deletes under row-level
 * security.  deleted_rows_visible() is true while trovella's own statements
 * run, and for the rest of a transaction that called with_deleted(): the
 * trovella.with_deleted setting, set LOCAL as the context is, so that it
 * ends with the transaction (or a rollback to a savepoint before it) and
 * parallel workers see it too.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/nbtree.h"
#include "access/xact.h"
#include "catalog/partition.h"
#include "catalog/pg_am_d.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "index_probe.h"
#include "row_scope.h"
#include "row_columns.h"
#include "row_move.h"
#include "soft_delete.h"

/* trovella.with_deleted: the transaction reads deleted rows. */
static bool with_deleted = false;

/* How deep trovella's own UPDATEs of deleted_* and its purges are nested. */
static int	own_write_depth = 0;
static int	purge_depth = 0;

void
SoftDeleteInit(void)
{
	DefineCustomBoolVariable("trovella.with_deleted",
							 gettext_noop("Whether the transaction reads the rows soft delete marked deleted, set only by trovella.with_deleted()."),
							 NULL,
							 &with_deleted,
							 false,
							 PGC_SUSET,
							 GUC_NO_RESET_ALL | GUC_DISALLOW_IN_FILE | GUC_NOT_IN_SAMPLE,
							 NULL,
							 NULL,
							 NULL);
}

bool
trovella_deleted_rows_visible(void)
{
	return with_deleted || own_write_depth > 0;
}

void
trovella_read_deleted_rows(void)
{
	(void) set_config_option("trovella.with_deleted", "on",
							 PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, ERROR, false);
}

/*
 * Run sql through SPI with its arguments, as the caller, with trovella's
 * own write (purge false) or a purge (purge true) under way; the number of
 * rows it processed.  The statement names everything with its schema, so
 * the caller's search_path, which the table's other triggers may need,
 * stays as it is.
 */
uint64
trovella_soft_delete_statement(const char *sql, int nargs, Oid *argtypes, Datum *values,
							   const char *nulls, bool purge, int expected)
{
	int		   *volatile depth = purge ? &purge_depth : &own_write_depth;	/* (across PG_TRY) */
	uint64		processed;
	volatile int result = 0;

	SPI_connect();
	(*depth)++;
	PG_TRY();
	{
		result = SPI_execute_with_args(sql, nargs, argtypes, values, nulls, false, 0);
	}
	PG_FINALLY();
	{
		(*depth)--;
	}
	PG_END_TRY();
	if (result != expected)
		elog(ERROR, "trovella: SPI_execute_with_args returned %d", result);
	processed = SPI_processed;
	SPI_finish();
	return processed;
}

/*
 * The table trovella's statement on a row of rel names, as the caller:
 * rel itself when the caller holds mode on it, else (a partition) its
 * nearest ancestor on which it does, else rel.  PostgreSQL checks the
 * privileges of the table a statement names, and an application is
 * granted on the partitioned table as a rule, not on each partition.
 */
static Oid
statement_target(Relation rel, AclMode mode)
{
	Oid			relid = RelationGetRelid(rel);
	List	   *ancestors;
	ListCell   *lc;
	Oid			target = relid;

	if (!rel->rd_rel->relispartition || pg_class_aclcheck(relid, GetUserId(), mode) == ACLCHECK_OK)
		return relid;
	ancestors = get_partition_ancestors(relid);
	foreach(lc, ancestors)
	{
		if (pg_class_aclcheck(lfirst_oid(lc), GetUserId(), mode) == ACLCHECK_OK)
		{
			target = lfirst_oid(lc);
			break;
		}
	}
	list_free(ancestors);
	return target;
}

/*
 * What names the row at $1 (a tid) of rel in a statement on target: rel
 * itself, or an ancestor and the partition (tableoid, $2).
 */
static char *
row_target(Relation rel, Oid target, const char *verb)
{
	char	   *name = quote_qualified_identifier(get_namespace_name(get_rel_namespace(target)),
												  get_rel_name(target));

	if (target == RelationGetRelid(rel))
		return psprintf("%s ONLY %s", verb, name);
	return psprintf("%s %s", verb, name);
}

static const char *
row_condition(Relation rel, Oid target)
{
	if (target == RelationGetRelid(rel))
		return "ctid OPERATOR(pg_catalog.=) $1";
	return "ctid OPERATOR(pg_catalog.=) $1 AND tableoid OPERATOR(pg_catalog.=) $2";
}

/*
 * Mark the row at tid deleted: trovella's own UPDATE of deleted_*, as the
 * caller under its policies, through the partitioned table when the
 * caller is granted on it only.
 */
static void
mark_deleted(Relation rel, ItemPointer tid)
{
	Oid			target = statement_target(rel, ACL_UPDATE);
	Oid			argtypes[4] = {TIDOID, OIDOID, TIMESTAMPTZOID, UUIDOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	bool		user_null;

	values[0] = PointerGetDatum(tid);
	values[1] = ObjectIdGetDatum(RelationGetRelid(rel));
	values[2] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	values[3] = trovella_context_user_datum(&user_null);
	if (user_null)
		nulls[3] = 'n';
	(void) trovella_soft_delete_statement(psprintf("%s SET deleted_at = $3, deleted_by = $4 WHERE %s",
												   row_target(rel, target, "UPDATE"),
												   row_condition(rel, target)),
										  4, argtypes, values, nulls, false, SPI_OK_UPDATE);
}

/*
 * The key of one unique B-tree index in row, as scan keys; false when the
 * index cannot be probed so (expressions, a predicate, a NULL key, a type
 * without an equality of its operator class), or the row's key holds a
 * NULL, which conflicts with nothing.
 */
static bool
index_keys(Relation index, HeapTuple row, TupleDesc tupdesc, ScanKey keys)
{
	Form_pg_index form = index->rd_index;
	int			i;

	if (!form->indisunique || !form->indisvalid || !form->indislive ||
		index->rd_rel->relam != BTREE_AM_OID ||
		!heap_attisnull(index->rd_indextuple, Anum_pg_index_indexprs, NULL) ||
		!heap_attisnull(index->rd_indextuple, Anum_pg_index_indpred, NULL))
		return false;
	for (i = 0; i < form->indnkeyatts; i++)
	{
		AttrNumber	attnum = form->indkey.values[i];
		Oid			equality;
		bool		isnull;
		Datum		value;

		if (attnum <= 0)
			return false;
		value = heap_getattr(row, attnum, tupdesc, &isnull);
		equality = get_opfamily_member(index->rd_opfamily[i], index->rd_opcintype[i],
									   index->rd_opcintype[i], BTEqualStrategyNumber);
		if (isnull || !OidIsValid(equality))
			return false;
		ScanKeyEntryInitialize(&keys[i], 0, i + 1, BTEqualStrategyNumber, InvalidOid,
							   index->rd_indcollation[i], get_opcode(equality), value);
	}
	return true;
}

/*
 * Really delete the marked row at tid, which only trovella's own statement
 * sees, as the caller (through the partitioned table as mark_deleted).
 */
static void
purge_marked_row(Relation rel, ItemPointer tid)
{
	Oid			target = statement_target(rel, ACL_DELETE);
	Oid			argtypes[2] = {TIDOID, OIDOID};
	Datum		values[2] = {PointerGetDatum(tid), ObjectIdGetDatum(RelationGetRelid(rel))};
	int			nargs = target == RelationGetRelid(rel) ? 1 : 2;

	own_write_depth++;
	PG_TRY();
	{
		(void) trovella_soft_delete_statement(psprintf("%s WHERE %s",
													   row_target(rel, target, "DELETE FROM"),
													   row_condition(rel, target)),
											  nargs, argtypes, values, NULL, true, SPI_OK_DELETE);
	}
	PG_FINALLY();
	{
		own_write_depth--;
	}
	PG_END_TRY();
}

/*
 * Really delete each marked row that holds a key of row in a unique index
 * of rel, as the caller under its policies (another tenant's row is never
 * touched: its duplicate key stays an error).
 */
static void
purge_conflicting(Relation rel, HeapTuple row, AttrNumber deleted_at)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	List	   *indexes = RelationGetIndexList(rel);
	List	   *marked = NIL;
	ListCell   *lc;

	foreach(lc, indexes)
	{
		Oid			indexid = lfirst_oid(lc);
		Relation	index = index_open(indexid, AccessShareLock);
		ScanKey		keys = palloc(sizeof(ScanKeyData) * index->rd_index->indnkeyatts);
		int			nkeys = index->rd_index->indnkeyatts;
		bool		probe_it = index_keys(index, row, tupdesc, keys);
		IndexProbe	probe;

		index_close(index, AccessShareLock);
		if (!probe_it)
			continue;
		trovella_probe_open(&probe, RelationGetRelid(rel), indexid, GetActiveSnapshot(), nkeys);
		if (trovella_probe(&probe, keys) && !slot_attisnull(probe.slot, deleted_at))
		{
			ItemPointer tid = palloc(sizeof(ItemPointerData));

			ItemPointerCopy(&probe.slot->tts_tid, tid);
			marked = lappend(marked, tid);
		}
		trovella_probe_close(&probe, true);
	}
	list_free(indexes);

	foreach(lc, marked)
		purge_marked_row(rel, (ItemPointer) lfirst(lc));
}

/* Whether a column differs between the old and the new row. */
static bool
column_changed(HeapTuple old_row, HeapTuple new_row, TupleDesc tupdesc, AttrNumber attnum)
{
	Form_pg_attribute attr = TupleDescAttr(tupdesc, attnum - 1);
	bool		old_null;
	bool		new_null;
	Datum		old_value = heap_getattr(old_row, attnum, tupdesc, &old_null);
	Datum		new_value = heap_getattr(new_row, attnum, tupdesc, &new_null);

	if (old_null || new_null)
		return old_null != new_null;
	return !datumIsEqual(old_value, new_value, attr->attbyval, attr->attlen);
}

/*
 * soft_delete(): BEFORE INSERT OR UPDATE OR DELETE FOR EACH ROW, as the
 * file's opening comment says.
 */
PG_FUNCTION_INFO_V1(trovella_soft_delete);
Datum
trovella_soft_delete(PG_FUNCTION_ARGS)
{
	TriggerData *trigger = (TriggerData *) fcinfo->context;
	Relation	rel;
	TupleDesc	tupdesc;
	AttrNumber	deleted_at;
	AttrNumber	deleted_by;
	HeapTuple	old_row;

	trovella_check_row_trigger(fcinfo, "soft_delete", true, true, true);
	rel = trigger->tg_relation;
	tupdesc = RelationGetDescr(rel);
	deleted_at = trovella_row_column(rel, "deleted_at", TIMESTAMPTZOID, "enable_soft_delete");
	deleted_by = trovella_row_column(rel, "deleted_by", UUIDOID, "enable_soft_delete");
	old_row = trigger->tg_trigtuple;

	/* a row import_tenant restores keeps deleted_* (its tenant holds no row here) */
	if (TRIGGER_FIRED_BY_INSERT(trigger->tg_event) && trovella_row_scope_row(ROW_SCOPE_IMPORT, rel, old_row))
		return PointerGetDatum(old_row);
	if (TRIGGER_FIRED_BY_INSERT(trigger->tg_event) && trovella_row_move_insert(rel, old_row))
	{
		/* a row an UPDATE moves keeps deleted_* */
		if (heap_attisnull(old_row, deleted_at, tupdesc))
			purge_conflicting(rel, old_row, deleted_at);
		return PointerGetDatum(old_row);
	}
	if (TRIGGER_FIRED_BY_INSERT(trigger->tg_event))
	{
		int			columns[2] = {deleted_at, deleted_by};
		Datum		values[2] = {0, 0};
		bool		nulls[2] = {true, true};
		HeapTuple	new_row = heap_modify_tuple_by_cols(old_row, tupdesc, 2, columns, values, nulls);

		purge_conflicting(rel, new_row, deleted_at);
		return PointerGetDatum(new_row);
	}
	if (TRIGGER_FIRED_BY_DELETE(trigger->tg_event))
	{
		if (purge_depth > 0 || trovella_row_scope_row(ROW_SCOPE_PURGE, rel, old_row) || trovella_row_move_delete(rel, old_row))
			return PointerGetDatum(old_row);
		if (heap_attisnull(old_row, deleted_at, tupdesc))
			mark_deleted(rel, &old_row->t_self);
		return PointerGetDatum(NULL);
	}

	/* UPDATE */
	if (own_write_depth > 0)
		return PointerGetDatum(trigger->tg_newtuple);
	if (!heap_attisnull(old_row, deleted_at, tupdesc) && !with_deleted)
		return PointerGetDatum(NULL);
	if (column_changed(old_row, trigger->tg_newtuple, tupdesc, deleted_at) ||
		column_changed(old_row, trigger->tg_newtuple, tupdesc, deleted_by))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("trovella: deleted_at and deleted_by of table %s are written by soft delete only",
						RelationGetRelationName(rel)),
				 errhint("DELETE the row to mark it deleted; trovella.restore() restores it.")));
	trovella_row_move_update(rel, old_row, trigger->tg_newtuple);
	return PointerGetDatum(trigger->tg_newtuple);
}
