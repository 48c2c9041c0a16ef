/*
 * residue_temp.c
 *		Which temporary tables lose every row at commit, and what a tenant's
 *		transaction may not derive from the others.
 *
 * A temporary table created ON COMMIT DROP is dropped at commit, and so is
 * every table that inherits from it (its partitions, its inheritance
 * children).  One created ON COMMIT DELETE ROWS is emptied at commit, but
 * PostgreSQL does not cascade that to its partitions or children: a row
 * routed into a partition of its own keeps, as does a value that ALTER
 * TABLE ... ADD COLUMN ... DEFAULT writes into a child.  So the rows of a
 * table are gone at commit when it was created ON COMMIT DROP or DELETE
 * ROWS, or inherits from a table created ON COMMIT DROP; residue.c notes a
 * table written and every table that inherits from it, and asks this file
 * about each of them at commit.
 *
 * Which tables were created ON COMMIT DROP or DELETE ROWS is not in the
 * catalog: the isolation guard's event trigger, which fires on every CREATE
 * TABLE, notes them (trovella_note_created_table).  A table it did not see
 * counts as keeping its rows: the check fails closed.
 *
 * Data can also be derived from a table's rows without writing any: the
 * statistics ANALYZE stores in pg_statistic (which no ON COMMIT action
 * removes), and an index, whose entries hold what its expressions computed
 * and which an index-only scan returns without reading the table.  In a
 * transaction with a tenant context, ANALYZE of a temporary table that is
 * not dropped at commit, ANALYZE of every table (this session's temporary
 * tables among them), and an index built on a temporary table whose rows
 * are not all gone at commit (CREATE INDEX, REINDEX, CLUSTER, an ALTER
 * TABLE that adds a unique, primary key or exclusion constraint or sets the
 * access method) are refused (25000).
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/vacuum.h"
#include "executor/spi.h"
#include "nodes/parsenodes.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "compat.h"
#include "residue_temp.h"
#include "statement.h"

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
	bool		drop;			/* ON COMMIT DROP; otherwise DELETE ROWS */
	SubTransactionId subid;
} Transient;

static List *transient_tables = NIL;

/* Whether the DDL command of the event trigger being run created relid. */
static bool
created_by_this_command(Oid relid)
{
	SpiSection	spi;
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	bool		created;

	trovella_spi_connect(&spi);
	if (SPI_execute_with_args("SELECT 1 FROM pg_catalog.pg_event_trigger_ddl_commands() c"
							  " WHERE c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
							  "   AND c.objid OPERATOR(pg_catalog.=) $1",
							  1, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not list the objects of the command");
	created = SPI_processed > 0;
	trovella_spi_finish(&spi);
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
	transient->drop = (oncommit == ONCOMMIT_DROP);
	transient->subid = GetCurrentSubTransactionId();
	transient_tables = lappend(transient_tables, transient);
	MemoryContextSwitchTo(old);
}

/* The live table relid created ON COMMIT DROP or DELETE ROWS, or NULL. */
static Transient *
find_transient(Oid relid)
{
	ListCell   *lc;

	foreach(lc, transient_tables)
		if (((Transient *) lfirst(lc))->relid == relid)
			return lfirst(lc);
	return NULL;
}

/* Whether relid is dropped at commit: ON COMMIT DROP, itself or an ancestor. */
static bool
dropped_at_commit(Oid relid)
{
	ListCell   *lc;

	foreach(lc, transient_tables)
	{
		Transient  *transient = lfirst(lc);

		if (!transient->drop)
			continue;
		if (transient->relid == relid)
			return true;
		/* the ON COMMIT DROP table's descendants are dropped with it */
		if (has_subclass(transient->relid) &&
			list_member_oid(find_all_inheritors(transient->relid, NoLock, NULL), relid))
			return true;
	}
	return false;
}

bool
trovella_temp_rows_gone(Oid relid)
{
	Transient  *transient = find_transient(relid);

	if (transient != NULL && !transient->drop)
		return true;			/* ON COMMIT DELETE ROWS empties it */
	return dropped_at_commit(relid);
}

/* Whether the rows of relid and of every table inheriting from it are gone. */
static bool
tree_rows_gone(Oid relid)
{
	ListCell   *lc;

	if (!trovella_temp_rows_gone(relid))
		return false;
	if (!has_subclass(relid))
		return true;
	foreach(lc, find_all_inheritors(relid, NoLock, NULL))
		if (!trovella_temp_rows_gone(lfirst_oid(lc)))
			return false;
	return true;
}

static void
refuse_analyze(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
			 name
			 ? errmsg("trovella: ANALYZE of temporary table \"%s\" in a transaction with a tenant context", name)
			 : errmsg("trovella: ANALYZE of every table in a transaction with a tenant context"),
			 name
			 ? errdetail("The statistics it stores (pg_stats) keep values of the table's rows after the transaction, on this connection, where the next client of a connection pool could read them; ON COMMIT DELETE ROWS does not remove them.")
			 : errdetail("It analyzes this session's temporary tables too, whose statistics (pg_stats) keep values of their rows after the transaction."),
			 name
			 ? errhint("Run ANALYZE before the tenant context is set, or create the table ON COMMIT DROP.")
			 : errhint("Name the tables to analyze, or run ANALYZE outside the tenant's transaction.")));
}

static void
refuse_index(Oid relid)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
			 errmsg("trovella: an index built on temporary table \"%s\" in a transaction with a tenant context would outlive the transaction",
					get_rel_name(relid)),
			 errdetail("The index keeps what its expressions computed, which an index-only scan reads without the table, on this connection, where the next client of a connection pool could read it."),
			 errhint("Build the index before the tenant context is set, or create the table (its partitions and children too) ON COMMIT DROP or ON COMMIT DELETE ROWS.")));
}

/* An index built on relation (a table or, for REINDEX INDEX, an index). */
static void
check_index_build(RangeVar *relation, bool is_index)
{
	Oid			relid;

	if (relation == NULL)
		return;
	relid = RangeVarGetRelid(relation, NoLock, true);
	if (OidIsValid(relid) && is_index)
		relid = IndexGetRelation(relid, true);
	if (OidIsValid(relid) && get_rel_persistence(relid) == RELPERSISTENCE_TEMP &&
		!tree_rows_gone(relid))
		refuse_index(relid);
}

/* Whether a constraint is enforced by an index it builds. */
static bool
builds_index(Node *node)
{
	if (node == NULL || !IsA(node, Constraint))
		return false;
	switch (((Constraint *) node)->contype)
	{
		case CONSTR_PRIMARY:
		case CONSTR_UNIQUE:
		case CONSTR_EXCLUSION:
			return ((Constraint *) node)->indexname == NULL;	/* not USING INDEX */
		default:
			return false;
	}
}

/* Whether an ALTER TABLE builds an index, or rebuilds those it has. */
static bool
alter_builds_index(AlterTableStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);

		/* a new access method rewrites the table and rebuilds its indexes */
		if (cmd->subtype == AT_AddIndex || cmd->subtype == AT_SetAccessMethod ||
			(cmd->subtype == AT_AddConstraint && builds_index(cmd->def)))
			return true;
		if (cmd->subtype == AT_AddColumn && cmd->def != NULL && IsA(cmd->def, ColumnDef))
		{
			ListCell   *c;

			foreach(c, ((ColumnDef *) cmd->def)->constraints)
				if (builds_index(lfirst(c)))
					return true;
		}
	}
	return false;
}

void
trovella_refuse_derived(Node *stmt)
{
	if (IsA(stmt, VacuumStmt) && !((VacuumStmt *) stmt)->is_vacuumcmd)
	{
		ListCell   *lc;

		if (((VacuumStmt *) stmt)->rels == NIL)
			refuse_analyze(NULL);
		foreach(lc, ((VacuumStmt *) stmt)->rels)
		{
			VacuumRelation *rel = lfirst(lc);
			Oid			relid = rel->relation ? RangeVarGetRelid(rel->relation, NoLock, true) : rel->oid;

			if (OidIsValid(relid) && get_rel_persistence(relid) == RELPERSISTENCE_TEMP &&
				!dropped_at_commit(relid))
				refuse_analyze(get_rel_name(relid));
		}
	}
	else if (IsA(stmt, IndexStmt))
		check_index_build(((IndexStmt *) stmt)->relation, false);
	else if (IsA(stmt, ReindexStmt) &&
			 (((ReindexStmt *) stmt)->kind == REINDEX_OBJECT_TABLE ||
			  ((ReindexStmt *) stmt)->kind == REINDEX_OBJECT_INDEX))
		check_index_build(((ReindexStmt *) stmt)->relation,
						  ((ReindexStmt *) stmt)->kind == REINDEX_OBJECT_INDEX);
	else if (TROVELLA_IS_CLUSTER_STMT(stmt))
		check_index_build(TROVELLA_CLUSTER_RELATION(stmt), false);
	else if (IsA(stmt, AlterTableStmt) && alter_builds_index((AlterTableStmt *) stmt))
		check_index_build(((AlterTableStmt *) stmt)->relation, false);
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

void
trovella_residue_temp_xact(XactEvent event)
{
	ListCell   *lc;

	if (event == XACT_EVENT_ABORT)
		forget_transient(InvalidOid, TopSubTransactionId);
	else
		foreach(lc, transient_tables)
			((Transient *) lfirst(lc))->subid = InvalidSubTransactionId;
}

void
trovella_residue_temp_subxact_abort(SubTransactionId mySubid)
{
	forget_transient(InvalidOid, mySubid);
}
