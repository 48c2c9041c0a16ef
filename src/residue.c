/*
 * residue.c
 *		Nothing a tenant's transaction read outlives it on the connection.
 *
 * The context itself ends with its transaction (context.c).  Two things can
 * carry what the transaction read past its end, to whoever uses the session
 * next (the next client of a pooled connection):
 *
 *	- a cursor declared WITH HOLD, which PostgreSQL materializes at commit;
 *	- a temporary table that keeps its rows at commit.
 *
 * trovella refuses both, at the first moment it can, so that nothing is left
 * behind even in part:
 *
 *	- DECLARE ... WITH HOLD in a transaction that has had a context fails
 *	  (25000), and so does setting a context in a transaction that has
 *	  declared such a cursor and not closed it;
 *	- a temporary table written after the transaction had a context makes
 *	  the commit fail (25000), unless its rows are gone at commit anyway
 *	  (residue_temp.c: created ON COMMIT DROP or ON COMMIT DELETE ROWS, or
 *	  a descendant of one created ON COMMIT DROP).  A table that inherits
 *	  from one written counts as written: an INSERT routes rows into it, an
 *	  ALTER TABLE fills its new column.  The failed commit rolls the writes
 *	  back;
 *	- ANALYZE, or an index built, on a temporary table that outlives the
 *	  transaction is refused at once (25000, residue_temp.c).
 *
 * Writes are seen at the executor's end (INSERT, UPDATE, MERGE, also from
 * functions and triggers) and in ProcessUtility (COPY FROM, CREATE TABLE AS,
 * SELECT INTO, and those two under EXPLAIN ANALYZE; ALTER TABLE that
 * computes a column's values).
 *
 * trovella.residue_check (superuser only, on by default) turns both checks
 * off, for test harnesses such as pgTAP whose results live in a temporary
 * table across transactions.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/portal.h"
#include "utils/rel.h"

#include "context.h"
#include "residue.h"
#include "residue_temp.h"
#include "statement.h"

/* Something of this transaction to look at again, with its subtransaction. */
typedef struct Residue
{
	SubTransactionId subid;
	Oid			relid;			/* a temporary table written */
	char	   *cursor;			/* or a cursor declared WITH HOLD */
} Residue;

/* This transaction's residues, in TopTransactionContext. */
static List *residues = NIL;

/*
 * False until the first transaction that started with the hooks installed:
 * a cursor declared before the library was loaded was not seen.
 */
static bool hooks_whole_transaction = false;

static bool residue_check = true;

static void
remember(Oid relid, const char *cursor)
{
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	Residue    *residue = palloc(sizeof(Residue));

	residue->subid = GetCurrentSubTransactionId();
	residue->relid = relid;
	residue->cursor = cursor ? pstrdup(cursor) : NULL;
	residues = lappend(residues, residue);
	MemoryContextSwitchTo(old);
}

/* Whether relid is among this transaction's residues. */
static bool
noted(Oid relid)
{
	ListCell   *lc;

	foreach(lc, residues)
		if (((Residue *) lfirst(lc))->relid == relid)
			return true;
	return false;
}

/*
 * A temporary table written while the transaction has had a context, and
 * every table that inherits from it, which the write may have reached.
 */
static void
note_written(Oid relid)
{
	ListCell   *lc;

	if (noted(relid))
		return;
	remember(relid, NULL);
	if (!has_subclass(relid))
		return;
	foreach(lc, find_all_inheritors(relid, NoLock, NULL))
		if (!noted(lfirst_oid(lc)))
			remember(lfirst_oid(lc), NULL);
}

static void
note_written_rangevar(RangeVar *relation)
{
	Oid			relid = RangeVarGetRelid(relation, NoLock, true);

	if (OidIsValid(relid) && get_rel_persistence(relid) == RELPERSISTENCE_TEMP)
		note_written(relid);
}

/* At the executor's end (hooks.c): temporary tables the query wrote. */
void
trovella_residue_executor_end(QueryDesc *queryDesc)
{
	ListCell   *lc;

	if (!residue_check || queryDesc->estate == NULL || !trovella_context_in_transaction())
		return;
	foreach(lc, queryDesc->estate->es_opened_result_relations)
	{
		Relation	rel = ((ResultRelInfo *) lfirst(lc))->ri_RelationDesc;

		if (rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP)
			note_written(RelationGetRelid(rel));
	}
}

static void
refuse_hold_cursor(const char *name, const char *when)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
			 errmsg("trovella: cursor \"%s\" is WITH HOLD %s", name, when),
			 errdetail("A held cursor outlives its transaction on this connection, where the next client of a connection pool could fetch what the tenant's transaction read."),
			 errhint("Declare the cursor without WITH HOLD, or close it before the tenant context is set.")));
}

/*
 * Before a utility statement (hooks.c): a cursor declared WITH HOLD; data
 * derived from a temporary table (residue_temp.c).
 */
void
trovella_residue_utility_before(Node *stmt)
{
	if (IsA(stmt, DeclareCursorStmt) &&
		(((DeclareCursorStmt *) stmt)->options & CURSOR_OPT_HOLD))
	{
		if (residue_check && trovella_context_in_transaction())
			refuse_hold_cursor(((DeclareCursorStmt *) stmt)->portalname,
							   "in a transaction that has a tenant context");
		remember(InvalidOid, ((DeclareCursorStmt *) stmt)->portalname);
	}
	else if (residue_check && trovella_context_in_transaction())
		trovella_refuse_derived(stmt);
}

/*
 * Whether an ALTER TABLE writes values an expression computes into every
 * row: a column added with a default or generated, a column's type changed
 * (USING).
 */
static bool
alter_rewrites(AlterTableStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);

		ListCell   *c;

		if (cmd->subtype == AT_AlterColumnType)
			return true;
		if (cmd->subtype != AT_AddColumn || cmd->def == NULL || !IsA(cmd->def, ColumnDef))
			continue;
		if (((ColumnDef *) cmd->def)->raw_default != NULL)
			return true;
		/* as parsed: the default is still among the column's constraints */
		foreach(c, ((ColumnDef *) cmd->def)->constraints)
		{
			Constraint *constraint = (Constraint *) lfirst(c);

			if (IsA(constraint, Constraint) &&
				(constraint->contype == CONSTR_DEFAULT || constraint->contype == CONSTR_GENERATED))
				return true;
		}
	}
	return false;
}

/* Whether an EXPLAIN runs its statement (ANALYZE). */
static bool
explain_analyzes(ExplainStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->options)
	{
		DefElem    *option = (DefElem *) lfirst(lc);

		if (strcmp(option->defname, "analyze") == 0)
			return defGetBoolean(option);
	}
	return false;
}

/* After a utility statement (hooks.c): temporary tables it wrote. */
void
trovella_residue_utility_after(Node *stmt)
{
	/* the statement itself may have set the context */
	if (!residue_check || !trovella_context_in_transaction())
		return;
	if (IsA(stmt, CopyStmt) && ((CopyStmt *) stmt)->is_from &&
		((CopyStmt *) stmt)->relation != NULL)
		note_written_rangevar(((CopyStmt *) stmt)->relation);
	else if (IsA(stmt, CreateTableAsStmt) &&
			 ((CreateTableAsStmt *) stmt)->objtype == OBJECT_TABLE)
		note_written_rangevar(((CreateTableAsStmt *) stmt)->into->rel);
	else if (IsA(stmt, AlterTableStmt) && alter_rewrites((AlterTableStmt *) stmt))
		note_written_rangevar(((AlterTableStmt *) stmt)->relation);
	else if (IsA(stmt, ExplainStmt) && explain_analyzes((ExplainStmt *) stmt))
	{
		/* EXPLAIN ANALYZE CREATE TABLE AS, or SELECT INTO: it ran */
		Query	   *query = (Query *) ((ExplainStmt *) stmt)->query;

		if (query != NULL && IsA(query, Query) && query->commandType == CMD_UTILITY &&
			query->utilityStmt != NULL && IsA(query->utilityStmt, CreateTableAsStmt) &&
			((CreateTableAsStmt *) query->utilityStmt)->objtype == OBJECT_TABLE)
			note_written_rangevar(((CreateTableAsStmt *) query->utilityStmt)->into->rel);
	}
}

/*
 * A context check (context.h): when a transaction gets its first context, a
 * cursor it declared WITH HOLD and still has open would keep what the
 * context lets it read.
 */
static void
check_residue_before_context(const ContextProposal *proposal)
{
	SpiSection	spi;
	ListCell   *lc;

	if (!residue_check || !proposal->first_in_transaction)
		return;
	foreach(lc, residues)
	{
		Residue    *residue = lfirst(lc);
		Portal		portal;

		if (residue->cursor == NULL)
			continue;
		portal = GetPortalByName(residue->cursor);
		if (PortalIsValid(portal) && (portal->cursorOptions & CURSOR_OPT_HOLD) &&
			portal->createSubid != InvalidSubTransactionId)
			refuse_hold_cursor(residue->cursor, "open in this transaction");
	}

	/* the library was loaded in this transaction: ask the portal manager */
	if (!hooks_whole_transaction)
	{
		trovella_spi_connect(&spi);
		if (SPI_execute("SELECT name FROM pg_catalog.pg_cursors"
						" WHERE is_holdable AND creation_time OPERATOR(pg_catalog.>=) pg_catalog.transaction_timestamp()",
						true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not list the open cursors");
		if (SPI_processed > 0)
			refuse_hold_cursor(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
							   "open in this transaction");
		trovella_spi_finish(&spi);
	}
}

/* At commit: a temporary table the tenant's transaction wrote keeps rows. */
static void
check_written_tables(void)
{
	ListCell   *lc;

	foreach(lc, residues)
	{
		Residue    *residue = lfirst(lc);
		char	   *name;

		if (!OidIsValid(residue->relid) || trovella_temp_rows_gone(residue->relid))
			continue;
		name = get_rel_name(residue->relid);
		if (name == NULL)
			continue;			/* dropped in the transaction */
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("trovella: temporary table \"%s\" was written in a transaction with a tenant context and keeps its rows at commit",
						name),
				 errdetail("The rows would outlive the transaction on this connection, where the next client of a connection pool could read them."),
				 errhint("Create the table with ON COMMIT DROP or ON COMMIT DELETE ROWS, or drop it before COMMIT.")));
	}
}

/* At a transaction's end (hooks.c). */
void
trovella_residue_xact(XactEvent event)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (residue_check)
				check_written_tables();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			/* the list lived in the transaction's memory */
			residues = NIL;
			hooks_whole_transaction = true;
			trovella_residue_temp_xact(event);
			break;
		default:
			break;
	}
}

/*
 * At a subtransaction's end (hooks.c): what a rolled-back subtransaction
 * wrote, declared or created is gone with it.
 */
void
trovella_residue_subxact(SubXactEvent event, SubTransactionId mySubid)
{
	ListCell   *lc;

	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	trovella_residue_temp_subxact_abort(mySubid);
	foreach(lc, residues)
	{
		Residue    *residue = lfirst(lc);

		if (residue->subid >= mySubid)
			residues = foreach_delete_current(residues, lc);
	}
}

void
ResidueInit(void)
{
	DefineCustomBoolVariable("trovella.residue_check",
							 gettext_noop("Refuses cursors WITH HOLD and temporary tables that would keep what a transaction with a tenant context read."),
							 gettext_noop("Only for test harnesses that keep their results in a temporary table, such as pgTAP."),
							 &residue_check,
							 true,
							 PGC_SUSET,
							 0,
							 NULL,
							 NULL,
							 NULL);

	trovella_register_context_check(check_residue_before_context);
}
