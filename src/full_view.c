/*
 * full_view.c
 *		A statement that validates or copies a table must see every tenant's
 *		rows: run by a role that row-level security binds to one tenant's
 *		view (or to none), it is refused, never a partial success.
 *
 * Validations (before ALTER TABLE runs, from ProcessUtility):
 *
 *	- ADD FOREIGN KEY (as a table constraint, or a column's REFERENCES),
 *	  unless NOT VALID; VALIDATE CONSTRAINT of a foreign key; ATTACH
 *	  PARTITION under a table that has foreign keys (the partition's rows
 *	  are checked against them).  PostgreSQL's initial check
 *	  (RI_Initial_Check) reads the referencing table as the current user
 *	  and assumes its owner sees every row, which FORCE ROW LEVEL SECURITY
 *	  makes untrue: it saw one tenant's rows and marked the key valid for
 *	  all of them.
 *	- DETACH PARTITION of a table that foreign keys reference: PostgreSQL
 *	  checks, the same way, that no row still references the partition.
 *
 * Each is refused (42501) when row-level security binds the current user on
 * a table the check reads, and the table it validates holds a row, any
 * tenant's: judged from C without row-level security (relation_rows.c).
 * A foreign key added to an empty table (CREATE TABLE then ADD FOREIGN
 * KEY, the usual migration) is marked valid without PostgreSQL's check,
 * as PostgreSQL does for a table it creates: it passes with or without a
 * tenant context (the check, reading under the policies, would fail
 * without one).
 *
 * Copies (before a query is planned, where Citus's distributed plans still
 * show what they read, and before the executor starts it): CREATE TABLE AS, SELECT
 * INTO, CREATE MATERIALIZED VIEW and REFRESH MATERIALIZED VIEW whose query
 * reads a tenant-isolated table, and INSERT or MERGE that reads one into a
 * table that is not tenant-isolated or was created in this transaction,
 * are refused (42501) when row-level security binds the role that reads it:
 * the copy would hold one tenant's rows where no policy keeps them, or
 * only one tenant's rows where every tenant's were meant (a table rebuilt
 * by copying, as Citus's conversions do).  A copy into a temporary table
 * passes: residue.c decides whether it may outlive the transaction.  A copy
 * between isolated tables inside a tenant context (the target's policy
 * checks each row) and UPDATE ... FROM (it changes only the rows the
 * caller may see, which in a tenant context is what it means) pass.
 *
 * Roles that row-level security does not bind (superusers, BYPASSRLS: the
 * operations role of the README) run all of these as PostgreSQL does, and
 * so do Citus's shard placements, whose keys are their table's.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_inherits.h"
#include "commands/tablecmds.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "parser/parsetree.h"
#include "rewrite/rowsecurity.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/syscache.h"

#include "citus.h"
#include "compat.h"
#include "full_view.h"
#include "relation_rows.h"

#define COPY_HINT \
	"Copy into a tenant-isolated table or a temporary table, or run it as a role that row-level security does not bind (BYPASSRLS: the operations role)."

/*
 * Whether the CREATE TABLE AS (or SELECT INTO) being run makes a temporary
 * table: set before the statement runs, read when its query starts.
 */
static bool into_temporary = false;

static void
refuse_validation(const char *what, Oid relid, Oid bound_relid)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("trovella: %s on table %s needs a role that sees every tenant's rows",
					what, get_rel_name(relid)),
			 errdetail("Row-level security binds role \"%s\" on table %s: PostgreSQL would check only the rows this role sees and accept the rows of every other tenant unchecked.",
					   GetUserNameFromId(GetUserId(), false), get_rel_name(bound_relid)),
			 errhint("Run it as a role that row-level security does not bind (BYPASSRLS: the operations role), or add the foreign key NOT VALID and have that role run VALIDATE CONSTRAINT.")));
}

/* The first table of relid's tree that row-level security binds us on. */
static Oid
bound_in_tree(Oid relid)
{
	List	   *relids;
	ListCell   *lc;

	if (!OidIsValid(relid))
		return InvalidOid;
	relids = find_all_inheritors(relid, NoLock, NULL);
	foreach(lc, relids)
		if (check_enable_rls(lfirst_oid(lc), InvalidOid, true) == RLS_ENABLED)
			return lfirst_oid(lc);
	return InvalidOid;
}

/*
 * A check of the rows of checked (and below) against referenced: refused
 * if row-level security binds us on either, and checked holds a row.
 * Returns whether it binds us and checked is empty: nothing to check.
 */
static bool
judge_check(const char *what, Oid checked, Oid referenced, LOCKMODE lockmode)
{
	Oid			bound;

	/*
	 * A Citus shard placement gets its table's keys, checked on the table:
	 * Citus adds them to the placements it copies (a shard move or split),
	 * connected as the table's owner
	 */
	if (trovella_citus_is_shard(checked))
		return false;
	bound = bound_in_tree(checked);

	if (!OidIsValid(bound))
		bound = bound_in_tree(referenced);
	if (!OidIsValid(bound))
		return false;
	if (trovella_relation_has_rows(checked, lockmode))
		refuse_validation(what, checked, bound);
	return true;
}

/* Foreign keys a column definition adds (REFERENCES), validated at once. */
static List *
column_foreign_keys(ColumnDef *column)
{
	List	   *keys = NIL;
	ListCell   *lc;

	foreach(lc, column->constraints)
	{
		Constraint *constraint = lfirst(lc);

		if (IsA(constraint, Constraint) && constraint->contype == CONSTR_FOREIGN &&
			!constraint->skip_validation)
			keys = lappend(keys, constraint);
	}
	return keys;
}

/* The table a foreign key not yet validated refers to, or InvalidOid. */
static Oid
unvalidated_key_target(Oid relid, const char *name)
{
	Oid			conoid = get_relation_constraint_oid(relid, name, true);
	HeapTuple	tuple;
	Oid			referenced = InvalidOid;

	if (!OidIsValid(conoid))
		return InvalidOid;
	tuple = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));
	if (!HeapTupleIsValid(tuple))
		return InvalidOid;
	if (((Form_pg_constraint) GETSTRUCT(tuple))->contype == CONSTRAINT_FOREIGN &&
		!((Form_pg_constraint) GETSTRUCT(tuple))->convalidated)
		referenced = ((Form_pg_constraint) GETSTRUCT(tuple))->confrelid;
	ReleaseSysCache(tuple);
	return referenced;
}

/*
 * ATTACH PARTITION: the new partition's rows meet each key of the parent
 * (read under the lock a reader takes, kept to the end of the transaction;
 * ATTACH itself takes a stronger one next).
 */
static void
judge_attach(Oid parent, PartitionCmd *cmd, LOCKMODE lockmode)
{
	/* locked as the statement locks it (not weaker: no upgrade to wait on) */
	Relation	rel = table_open(parent, lockmode);
	List	   *keys = copyObject(RelationGetFKeyList(rel));
	Oid			partition;
	ListCell   *lc;

	table_close(rel, NoLock);
	if (keys == NIL)
		return;
	partition = RangeVarGetRelid(cmd->name, NoLock, true);
	if (!OidIsValid(partition) || !table_ownercheck(partition, GetUserId()))
		return;
	foreach(lc, keys)
		judge_check("ATTACH PARTITION", partition,
					((ForeignKeyCacheInfo *) lfirst(lc))->confrelid, AccessExclusiveLock);
}

/*
 * DETACH PARTITION of a referenced table: PostgreSQL reads each referencing
 * table for rows that still point into the partition.
 */
static void
judge_detach(Oid parent)
{
	Relation	catalog = table_open(ConstraintRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	List	   *referencing = NIL;
	ListCell   *lc;

	ScanKeyInit(&key, Anum_pg_constraint_confrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(parent));
	scan = systable_beginscan(catalog, InvalidOid, false, NULL, 1, &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_constraint constraint = (Form_pg_constraint) GETSTRUCT(tuple);

		if (constraint->contype == CONSTRAINT_FOREIGN)
			referencing = list_append_unique_oid(referencing, constraint->conrelid);
	}
	systable_endscan(scan);
	table_close(catalog, AccessShareLock);
	foreach(lc, referencing)
		judge_check("DETACH PARTITION", lfirst_oid(lc), parent, ShareLock);
}

/*
 * ALTER TABLE: refused if it would check rows from one tenant's view.
 * Returns whether it adds foreign keys to a table that row-level security
 * binds us on and that has no row: PostgreSQL's check would read it (and
 * the referenced table) under the policies, and without a tenant context
 * fail, where there is nothing to check.
 */
static bool
judge_alter_table(AlterTableStmt *stmt)
{
	Oid			relid;
	LOCKMODE	lockmode;
	ListCell   *lc;
	bool		keys_to_empty = false;

	if (stmt->objtype != OBJECT_TABLE || stmt->relation == NULL)
		return false;
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	/* PostgreSQL refuses the statement itself to anyone else */
	if (!OidIsValid(relid) || !table_ownercheck(relid, GetUserId()))
		return false;
	lockmode = AlterTableGetLockLevel(stmt->cmds);
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst(lc);
		List	   *keys = NIL;
		ListCell   *k;

		switch (cmd->subtype)
		{
			case AT_AddConstraint:
				if (IsA(cmd->def, Constraint) &&
					((Constraint *) cmd->def)->contype == CONSTR_FOREIGN &&
					!((Constraint *) cmd->def)->skip_validation)
					keys = list_make1(cmd->def);
				break;
			case AT_AddColumn:
				if (IsA(cmd->def, ColumnDef))
					keys = column_foreign_keys((ColumnDef *) cmd->def);
				break;
			case AT_ValidateConstraint:
				{
					Oid			referenced = unvalidated_key_target(relid, cmd->name);

					if (OidIsValid(referenced))
						judge_check("VALIDATE CONSTRAINT", relid, referenced, lockmode);
				}
				break;
			case AT_AttachPartition:
				if (get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE)
					judge_attach(relid, (PartitionCmd *) cmd->def, lockmode);
				break;
			case AT_DetachPartition:
				judge_detach(relid);
				break;
			default:
				break;
		}
		foreach(k, keys)
			if (judge_check("ADD FOREIGN KEY", relid,
							RangeVarGetRelid(((Constraint *) lfirst(k))->pktable, NoLock, true),
							lockmode))
				keys_to_empty = true;
	}
	return keys_to_empty;
}

/*
 * The foreign keys an ALTER TABLE adds to an empty table, locked as the
 * statement locks it: valid without a check, as PostgreSQL marks those
 * of a table it creates.
 */
static void
mark_keys_valid(AlterTableStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst(lc);
		List	   *keys = NIL;
		ListCell   *k;

		if (cmd->subtype == AT_AddConstraint && IsA(cmd->def, Constraint) &&
			((Constraint *) cmd->def)->contype == CONSTR_FOREIGN &&
			!((Constraint *) cmd->def)->skip_validation)
			keys = list_make1(cmd->def);
		else if (cmd->subtype == AT_AddColumn && IsA(cmd->def, ColumnDef))
			keys = column_foreign_keys((ColumnDef *) cmd->def);
		foreach(k, keys)
		{
			((Constraint *) lfirst(k))->skip_validation = true;
			((Constraint *) lfirst(k))->initially_valid = true;
		}
	}
}

/* Whether CREATE TABLE AS makes its table in a temporary schema. */
static bool
into_is_temporary(IntoClause *into)
{
	const char *schema = into->rel->schemaname;

	return into->rel->relpersistence == RELPERSISTENCE_TEMP ||
		(schema != NULL && strncmp(schema, "pg_temp", 7) == 0);
}

/*
 * Before a utility statement (hooks.c).  The statement may be copied
 * (readOnlyTree) to mark the foreign keys of an empty table valid.
 */
void
trovella_full_view_utility_before(PlannedStmt **pstmt, bool *readOnlyTree)
{
	Node	   *stmt = (*pstmt)->utilityStmt;

	if (IsA(stmt, AlterTableStmt))
	{
		if (!judge_alter_table((AlterTableStmt *) stmt))
			return;
		if (*readOnlyTree)
		{
			*pstmt = copyObject(*pstmt);
			*readOnlyTree = false;
		}
		mark_keys_valid((AlterTableStmt *) (*pstmt)->utilityStmt);
	}
	else if (IsA(stmt, CreateTableAsStmt))
		into_temporary = ((CreateTableAsStmt *) stmt)->into != NULL &&
			into_is_temporary(((CreateTableAsStmt *) stmt)->into);
	else if (IsA(stmt, ExplainStmt))
	{
		Query	   *query = (Query *) ((ExplainStmt *) stmt)->query;

		if (query != NULL && IsA(query, Query) && query->commandType == CMD_UTILITY &&
			query->utilityStmt != NULL && IsA(query->utilityStmt, CreateTableAsStmt) &&
			((CreateTableAsStmt *) query->utilityStmt)->into != NULL)
			into_temporary = into_is_temporary(((CreateTableAsStmt *) query->utilityStmt)->into);
	}
}

/* Whether rel carries trovella's isolation policy. */
static bool
tenant_isolated(Relation rel)
{
	ListCell   *lc;

	if (!rel->rd_rel->relrowsecurity || rel->rd_rsdesc == NULL)
		return false;
	foreach(lc, rel->rd_rsdesc->policies)
		if (strcmp(((RowSecurityPolicy *) lfirst(lc))->policy_name,
				   "trovella_tenant_isolation") == 0)
			return true;
	return false;
}

/*
 * Whether rows written into the table keep one tenant's view: it is
 * temporary (residue.c), or isolated and older than this transaction.
 */
static bool
target_keeps_view(Oid relid)
{
	Relation	rel = RelationIdGetRelation(relid);
	bool		keeps;

	if (!RelationIsValid(rel))
		return false;
	keeps = rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP ||
		(tenant_isolated(rel) && rel->rd_createSubid == InvalidSubTransactionId);
	RelationClose(rel);
	return keeps;
}

static void
refuse_copy(Oid source, const char *target, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("trovella: cannot copy rows of tenant-isolated table %s into %s",
					get_rel_name(source), target),
			 errdetail("Row-level security binds role \"%s\" to one tenant's rows of %s: the copy would hold only those, where no tenant policy keeps them.",
					   GetUserNameFromId(GetUserId(), false), get_rel_name(source)),
			 errhint("%s", hint)));
}

/* The first isolated table the plan reads under a policy that binds. */
static Oid
bound_isolated_source(PlannedStmt *pstmt)
{
	ListCell   *lc;
	Index		rti = 0;
	List	   *result_relations = trovella_result_relations(pstmt);

	foreach(lc, pstmt->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);
		Oid			userid;
		Relation	rel;
		bool		isolated;

		rti++;
		if (rte->rtekind != RTE_RELATION || list_member_int(result_relations, rti) ||
			!rte_read_as(pstmt, rte, &userid))
			continue;
		rel = RelationIdGetRelation(rte->relid);
		if (!RelationIsValid(rel))
			continue;
		isolated = tenant_isolated(rel);
		RelationClose(rel);
		if (isolated && check_enable_rls(rte->relid, userid, true) == RLS_ENABLED)
			return rte->relid;
	}
	return InvalidOid;
}

/* Before a query starts (hooks.c): a copy made from one tenant's view. */
void
trovella_full_view_executor_start(QueryDesc *queryDesc, int eflags)
{
	PlannedStmt *pstmt = queryDesc->plannedstmt;
	CommandDest dest;
	Oid			source;
	char	   *target;
	const char *hint = COPY_HINT;

	/* EXPLAIN without ANALYZE copies nothing */
	if ((eflags & EXEC_FLAG_EXPLAIN_ONLY) || queryDesc->dest == NULL)
		return;
	dest = queryDesc->dest->mydest;

	if (dest == DestIntoRel)
	{
		if (into_temporary)
			return;
		target = "a new table";
	}
	else if (dest == DestTransientRel)
	{
		target = "a materialized view";
		hint = "A materialized view's query runs as the view's owner: have a role that row-level security does not bind (BYPASSRLS: the operations role) own it, and grant SELECT on it only to roles that may read every tenant's rows.";
	}
	else if ((pstmt->commandType == CMD_INSERT || pstmt->commandType == CMD_MERGE) &&
			 trovella_result_relations(pstmt) != NIL)
	{
		Oid			relid = rt_fetch(linitial_int(trovella_result_relations(pstmt)), pstmt->rtable)->relid;

		if (target_keeps_view(relid))
			return;
		target = psprintf("table %s, which is not tenant-isolated or was created in this transaction",
						  get_rel_name(relid));
	}
	else
		return;
	source = bound_isolated_source(pstmt);
	if (OidIsValid(source))
		refuse_copy(source, target, hint);
}

/* Whether an isolated table in this query tree is read under its policies. */
static bool
find_bound_isolated(Node *node, Oid *source)
{
	if (node == NULL)
		return false;
	if (IsA(node, RangeTblEntry))
	{
		RangeTblEntry *rte = (RangeTblEntry *) node;
		Relation	rel;
		bool		isolated;

		/* the rewriter gave it its policies: row-level security binds */
		if (rte->rtekind != RTE_RELATION || rte->securityQuals == NIL)
			return false;
		rel = RelationIdGetRelation(rte->relid);
		if (!RelationIsValid(rel))
			return false;
		isolated = tenant_isolated(rel);
		RelationClose(rel);
		if (isolated)
			*source = rte->relid;
		return isolated;
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, find_bound_isolated, source,
								 QTW_EXAMINE_RTES_BEFORE);
	return expression_tree_walker(node, find_bound_isolated, source);
}

/*
 * Before a query is planned (hooks.c): INSERT or MERGE into a table that
 * keeps no tenant's view, reading an isolated table under its policies.
 * Seen here, before Citus plans it: a distributed plan no longer lists the
 * tables it reads.
 */
void
trovella_full_view_planner(Query *parse)
{
	Oid			relid;
	Oid			source = InvalidOid;

	if ((parse->commandType != CMD_INSERT && parse->commandType != CMD_MERGE) ||
		parse->resultRelation == 0)
		return;
	relid = rt_fetch(parse->resultRelation, parse->rtable)->relid;
	if (target_keeps_view(relid) || !find_bound_isolated((Node *) parse, &source))
		return;
	refuse_copy(source,
				psprintf("table %s, which is not tenant-isolated or was created in this transaction",
						 get_rel_name(relid)),
				COPY_HINT);
}
