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
 *	  the commit fail (25000), unless it was created ON COMMIT DROP or ON
 *	  COMMIT DELETE ROWS.  The failed commit rolls the writes back.
 *
 * Writes are seen at the executor's end (INSERT, UPDATE, MERGE, also from
 * functions and triggers) and in ProcessUtility (COPY FROM, CREATE TABLE AS,
 * SELECT INTO, and those two under EXPLAIN ANALYZE; ALTER TABLE that
 * computes a column's values).  Which temporary tables are ON COMMIT DROP or DELETE ROWS is
 * not in the catalog: the isolation guard's event trigger, which fires on
 * every CREATE TABLE, notes them (trovella_note_created_table).  A table it
 * did not see counts as keeping its rows: the check fails closed.
 *
 * trovella.residue_check (superuser only, on by default) turns both checks
 * off, for test harnesses such as pgTAP whose results live in a temporary
 * table across transactions.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
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
 * Temporary tables created ON COMMIT DROP or DELETE ROWS, for the session
 * (TopMemoryContext), with the subtransaction that created them until their
 * transaction commits (then InvalidSubTransactionId).  An OID is only a
 * name for a table while the table lives: one is forgotten when its table is
 * dropped (object_access_hook, hooks.c) or its creation rolled back, so that
 * a later table given the same OID does not inherit the exemption.
 */
typedef struct Transient
{
	Oid			relid;
	SubTransactionId subid;
} Transient;

static List *transient_tables = NIL;

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

/* A temporary table written while the transaction has had a context. */
static void
note_written(Oid relid)
{
	ListCell   *lc;

	foreach(lc, residues)
	{
		Residue    *residue = lfirst(lc);

		if (residue->relid == relid)
			return;
	}
	remember(relid, NULL);
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

/* Before a utility statement (hooks.c): a cursor declared WITH HOLD. */
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
		SPI_connect();
		if (SPI_execute("SELECT name FROM pg_catalog.pg_cursors"
						" WHERE is_holdable AND creation_time OPERATOR(pg_catalog.>=) pg_catalog.transaction_timestamp()",
						true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not list the open cursors");
		if (SPI_processed > 0)
			refuse_hold_cursor(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
							   "open in this transaction");
		SPI_finish();
	}
}

/* Whether the DDL command of the event trigger being run created relid. */
static bool
created_by_this_command(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	bool		created;

	SPI_connect();
	if (SPI_execute_with_args("SELECT 1 FROM pg_catalog.pg_event_trigger_ddl_commands() c"
							  " WHERE c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
							  "   AND c.objid OPERATOR(pg_catalog.=) $1",
							  1, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not list the objects of the command");
	created = SPI_processed > 0;
	SPI_finish();
	return created;
}

/*
 * From the isolation guard's event trigger, for every CREATE TABLE, CREATE
 * TABLE AS and SELECT INTO: remember temporary tables whose rows end with
 * the transaction anyway.
 */
void
trovella_note_created_table(Node *parsetree)
{
	RangeVar   *relation;
	OnCommitAction oncommit;
	bool		if_not_exists;
	Oid			relid;
	MemoryContext old;
	Transient  *transient;

	if (IsA(parsetree, CreateStmt))
	{
		relation = ((CreateStmt *) parsetree)->relation;
		oncommit = ((CreateStmt *) parsetree)->oncommit;
		if_not_exists = ((CreateStmt *) parsetree)->if_not_exists;
	}
	else if (IsA(parsetree, CreateTableAsStmt) &&
			 ((CreateTableAsStmt *) parsetree)->into != NULL)
	{
		relation = ((CreateTableAsStmt *) parsetree)->into->rel;
		oncommit = ((CreateTableAsStmt *) parsetree)->into->onCommit;
		if_not_exists = ((CreateTableAsStmt *) parsetree)->if_not_exists;
	}
	else
		return;
	if (oncommit != ONCOMMIT_DROP && oncommit != ONCOMMIT_DELETE_ROWS)
		return;
	relid = RangeVarGetRelid(relation, NoLock, true);
	if (!OidIsValid(relid) || get_rel_persistence(relid) != RELPERSISTENCE_TEMP)
		return;
	/* IF NOT EXISTS that found an ordinary table there created nothing */
	if (if_not_exists && !created_by_this_command(relid))
		return;

	old = MemoryContextSwitchTo(TopMemoryContext);
	transient = palloc(sizeof(Transient));
	transient->relid = relid;
	transient->subid = GetCurrentSubTransactionId();
	transient_tables = lappend(transient_tables, transient);
	MemoryContextSwitchTo(old);
}

/* Whether relid is a live table created ON COMMIT DROP or DELETE ROWS. */
static bool
is_transient(Oid relid)
{
	ListCell   *lc;

	foreach(lc, transient_tables)
		if (((Transient *) lfirst(lc))->relid == relid)
			return true;
	return false;
}

/*
 * Forget the transient tables that match: a dropped table's (relid), or
 * those whose creation was rolled back (subids from first_subid on, of a
 * transaction not yet committed).
 */
static void
forget_transient(Oid relid, SubTransactionId first_subid)
{
	ListCell   *lc;

	foreach(lc, transient_tables)
	{
		Transient  *transient = lfirst(lc);

		if (transient->relid == relid ||
			(first_subid != InvalidSubTransactionId && transient->subid >= first_subid))
		{
			transient_tables = foreach_delete_current(transient_tables, lc);
			pfree(transient);
		}
	}
}

/* A relation was dropped (hooks.c): its OID names nothing any more. */
void
trovella_residue_relation_dropped(Oid relid)
{
	if (transient_tables != NIL)
		forget_transient(relid, InvalidSubTransactionId);
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

		if (!OidIsValid(residue->relid) || is_transient(residue->relid))
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
			if (event == XACT_EVENT_ABORT)
				forget_transient(InvalidOid, TopSubTransactionId);
			else
			{
				ListCell   *lc;

				foreach(lc, transient_tables)
					((Transient *) lfirst(lc))->subid = InvalidSubTransactionId;
			}
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
	forget_transient(InvalidOid, mySubid);
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
