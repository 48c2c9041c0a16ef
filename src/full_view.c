/*
 * full_view.c
 *		A statement that validates or copies a table must see every tenant's
 *		rows: run by a role that row-level security binds to one tenant's
 *		view (or to none), it is refused, never a partial success.
 *
 * Validations (foreign keys, before ALTER TABLE runs): full_view_keys.c.
 *
 * Copies (before a query is planned, where Citus's distributed plans still
 * show what they read, and before the executor starts it): CREATE TABLE AS,
 * SELECT INTO, CREATE MATERIALIZED VIEW and REFRESH MATERIALIZED VIEW whose
 * query reads a tenant-isolated table, and a query any statement of which
 * (a data-modifying WITH query too) inserts into a table that is not proved
 * isolated (policy_check.c) or was created in this transaction, are refused
 * (42501) when row-level security binds the role that reads it, and so is
 * a statement nested in such a copy (a function's query) that reads one:
 * the copy would hold one tenant's rows where no policy keeps them.  A copy
 * into a temporary table passes (residue.c decides whether it may outlive
 * the transaction), as do a copy between isolated tables in a tenant
 * context (the target's policy checks each row) and UPDATE ... FROM (it
 * changes the rows the caller may see: in a tenant context, its own).
 *
 * Roles that row-level security does not bind (superusers, BYPASSRLS: the
 * operations role of the README) run all of these as PostgreSQL does, and
 * so do Citus's shard placements (full_view_keys.c), whose keys are their
 * table's.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_inherits.h"
#include "commands/tablecmds.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "utils/hsearch.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "parser/parsetree.h"
#include "rewrite/rowsecurity.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/syscache.h"

#include "compat.h"
#include "full_view.h"
#include "full_view_keys.h"
#include "policy_check.h"

#define COPY_HINT \
	"Copy into a tenant-isolated table or a temporary table, or run it as a role that row-level security does not bind (BYPASSRLS: the operations role)."

/*
 * Whether the CREATE TABLE AS (or SELECT INTO) being run makes a temporary
 * table: set before the statement runs, read when its query starts.
 */
static bool into_temporary = false;

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
		List	   *unchecked = trovella_full_view_judge_alter((AlterTableStmt *) stmt);

		if (unchecked == NIL)
			return;
		if (*readOnlyTree)
		{
			*pstmt = copyObject(*pstmt);
			*readOnlyTree = false;
		}
		trovella_full_view_mark_keys_valid((AlterTableStmt *) (*pstmt)->utilityStmt, unchecked);
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

/*
 * Whether rel carries a policy by trovella's name: a table read under it is
 * taken for isolated (a source), whatever the policy says: fail closed.
 */
static bool
carries_tenant_policy(Relation rel)
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
 * temporary (residue.c), or older than this transaction and proved
 * isolated by the judgement the guard and the audit use (policy_check.c),
 * not by its policies' names.
 */
/*
 * Verdicts of trovella_isolated_column(), which reads and parses policies
 * from the catalog: asked for every INSERT, so kept until the relation
 * cache drops any relation.
 */
typedef struct KeptView
{
	Oid			relid;
	bool		keeps;
} KeptView;

static HTAB *kept_views = NULL;

static bool
target_keeps_view(Oid relid)
{
	Relation	rel = RelationIdGetRelation(relid);
	bool		temporary;
	bool		created;
	PolicyCheckCache cache;
	KeptView   *entry;

	if (!RelationIsValid(rel))
		return false;
	temporary = rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP;
	created = rel->rd_createSubid != InvalidSubTransactionId;
	RelationClose(rel);
	if (temporary)
		return true;
	if (created)
		return false;
	if (kept_views == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(KeptView);
		kept_views = hash_create("trovella tables that keep a tenant's view", 64, &ctl,
								 HASH_ELEM | HASH_BLOBS);
	}
	entry = hash_search(kept_views, &relid, HASH_FIND, NULL);
	if (entry == NULL)
	{
		bool		keeps;

		memset(&cache, 0, sizeof(cache));
		keeps = trovella_isolated_column(relid, &cache) != InvalidAttrNumber;
		/* the judgement may have let the relation cache drop the table */
		if (kept_views == NULL)
			return keeps;
		entry = hash_search(kept_views, &relid, HASH_ENTER, NULL);
		entry->keeps = keeps;
	}
	return entry->keeps;
}

/*
 * The relation cache dropped a relation: a policy of it, or of a table it
 * inherits from, may have changed.  Every verdict is judged again.
 */
void
trovella_full_view_relcache(Oid relid)
{
	if (kept_views != NULL)
	{
		hash_destroy(kept_views);
		kept_views = NULL;
	}
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
		isolated = carries_tenant_policy(rel);
		RelationClose(rel);
		if (isolated && check_enable_rls(rte->relid, userid, true) == RLS_ENABLED)
			return rte->relid;
	}
	return InvalidOid;
}

/*
 * The copies running (ExecutorStart to ExecutorEnd), innermost last: while
 * one runs, a statement nested in it (a function's query) that reads an
 * isolated table under its policies is refused too, since its rows may be
 * what the copy writes.  Kept in TopMemoryContext; an entry is dropped at
 * its ExecutorEnd, or when the (sub)transaction it started in aborts.
 */
typedef struct RunningCopy
{
	QueryDesc  *queryDesc;
	SubTransactionId subid;
	char	   *target;
} RunningCopy;

static List *running_copies = NIL;

static void
forget_copy(ListCell *cell)
{
	RunningCopy *copy = lfirst(cell);

	running_copies = list_delete_cell(running_copies, cell);
	pfree(copy->target);
	pfree(copy);
}

/*
 * What the query copies into, or NULL: a new table (not temporary), a
 * materialized view, or a table it inserts into (by any of its statements,
 * the data-modifying WITH queries too) that keeps no tenant's view.
 */
static char *
copy_target(QueryDesc *queryDesc, const char **hint)
{
	PlannedStmt *pstmt = queryDesc->plannedstmt;
	ListCell   *lc;

	if (queryDesc->dest->mydest == DestIntoRel)
		return into_temporary ? NULL : "a new table";
	if (queryDesc->dest->mydest == DestTransientRel)
	{
		*hint = "A materialized view's query runs as the view's owner: have a role that row-level security does not bind (BYPASSRLS: the operations role) own it, and grant SELECT on it only to roles that may read every tenant's rows.";
		return "a materialized view";
	}
	foreach(lc, trovella_result_relations(pstmt))
	{
		RangeTblEntry *rte = rt_fetch(lfirst_int(lc), pstmt->rtable);

		if ((rte_required_perms(pstmt, rte) & ACL_INSERT) && !target_keeps_view(rte->relid))
			return psprintf("table %s, which is not tenant-isolated or was created in this transaction",
							get_rel_name(rte->relid));
	}
	return NULL;
}

/*
 * Before a query starts (hooks.c): a copy made from one tenant's view, or
 * a read of one tenant's view nested in a copy.
 */
void
trovella_full_view_executor_start(QueryDesc *queryDesc, int eflags)
{
	PlannedStmt *pstmt = queryDesc->plannedstmt;
	const char *hint = COPY_HINT;
	char	   *target;
	Oid			source;
	RunningCopy *copy;
	MemoryContext old;

	/* EXPLAIN without ANALYZE copies nothing */
	if ((eflags & EXEC_FLAG_EXPLAIN_ONLY) || queryDesc->dest == NULL)
		return;
	target = copy_target(queryDesc, &hint);
	if (target == NULL && running_copies == NIL)
		return;
	source = bound_isolated_source(pstmt);
	if (OidIsValid(source))
	{
		if (target == NULL)
			refuse_copy(source, ((RunningCopy *) llast(running_copies))->target,
						"A function or trigger that a copy calls reads as the caller: run the copy as a role that row-level security does not bind (BYPASSRLS: the operations role).");
		refuse_copy(source, target, hint);
	}
	if (target == NULL)
		return;
	old = MemoryContextSwitchTo(TopMemoryContext);
	copy = palloc(sizeof(RunningCopy));
	copy->queryDesc = queryDesc;
	copy->subid = GetCurrentSubTransactionId();
	copy->target = pstrdup(target);
	running_copies = lappend(running_copies, copy);
	MemoryContextSwitchTo(old);
}

/* At ExecutorEnd (hooks.c): the copy it ends is no longer running. */
void
trovella_full_view_executor_end(QueryDesc *queryDesc)
{
	ListCell   *lc;

	foreach(lc, running_copies)
		if (((RunningCopy *) lfirst(lc))->queryDesc == queryDesc)
		{
			forget_copy(lc);
			return;
		}
}

/* Transaction end (hooks.c): no copy runs on. */
void
trovella_full_view_xact(XactEvent event)
{
	if (event != XACT_EVENT_ABORT && event != XACT_EVENT_PARALLEL_ABORT &&
		event != XACT_EVENT_COMMIT && event != XACT_EVENT_PARALLEL_COMMIT &&
		event != XACT_EVENT_PREPARE)
		return;
	while (running_copies != NIL)
		forget_copy(list_tail(running_copies));
}

/*
 * A subtransaction aborted (hooks.c): the copies started in it, or in one
 * nested in it (a later, greater id), never reach their ExecutorEnd.
 */
void
trovella_full_view_subxact(SubXactEvent event, SubTransactionId subid)
{
	int			i;

	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	for (i = list_length(running_copies) - 1; i >= 0; i--)
		if (((RunningCopy *) list_nth(running_copies, i))->subid >= subid)
			forget_copy(list_nth_cell(running_copies, i));
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
		isolated = carries_tenant_policy(rel);
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
 * The first table that the query, or one of its data-modifying WITH
 * queries, inserts into (INSERT, MERGE) and that keeps no tenant's view.
 */
static Oid
planned_copy_target(Query *parse)
{
	ListCell   *lc;

	if ((parse->commandType == CMD_INSERT || parse->commandType == CMD_MERGE) &&
		parse->resultRelation != 0 &&
		!target_keeps_view(rt_fetch(parse->resultRelation, parse->rtable)->relid))
		return rt_fetch(parse->resultRelation, parse->rtable)->relid;
	foreach(lc, parse->cteList)
	{
		CommonTableExpr *cte = lfirst(lc);
		Oid			relid;

		if (IsA(cte->ctequery, Query) &&
			OidIsValid(relid = planned_copy_target((Query *) cte->ctequery)))
			return relid;
	}
	return InvalidOid;
}

/*
 * Before a query is planned (hooks.c): INSERT or MERGE (or a WITH query
 * that is one) into a table that keeps no tenant's view, reading an
 * isolated table under its policies.  Seen here, before Citus plans it: a
 * distributed plan no longer lists the tables it reads.
 */
void
trovella_full_view_planner(Query *parse)
{
	Oid			relid;
	Oid			source = InvalidOid;

	relid = planned_copy_target(parse);
	if (!OidIsValid(relid) || !find_bound_isolated((Node *) parse, &source))
		return;
	refuse_copy(source,
				psprintf("table %s, which is not tenant-isolated or was created in this transaction",
						 get_rel_name(relid)),
				COPY_HINT);
}
