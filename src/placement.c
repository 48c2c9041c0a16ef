/*
 * placement.c
 *		The policies of Citus's shard placements, as trovella creates them on
 *		a single node.
 *
 * Citus gives a table's policies to its placements, and to the new table of
 * a conversion (undistribute_table, alter_distributed_table), by running
 * CREATE POLICY statements it deparses itself: without AS RESTRICTIVE, and
 * without subqueries, which it refuses in the policies of the tables it
 * manages.  It runs them nested in a function call: in one of its own
 * backends on a worker, or in the caller's own backend (local execution)
 * on a coordinator that holds placements.  So where Citus is loaded, for
 * trovella's two policies:
 *
 *	- a nested CREATE POLICY of the isolation policy is made restrictive,
 *	  whatever the table: trovella never creates it otherwise;
 *	- on a shard placement, both compare the tenant with
 *	  (SELECT trovella.current_tenant()), an InitPlan evaluated once per
 *	  query instead of once per row;
 *	- a nested CREATE POLICY of a policy the table already has replaces it
 *	  when it gives trovella's own condition: the guard in auto mode
 *	  isolates the tables Citus creates as the DDL ends, before Citus gives
 *	  them their policies (any other such statement fails, 42710);
 *	- a table that Citus turns into a placement by renaming it (a Citus
 *	  local table, a reference table made on a coordinator in the metadata)
 *	  keeps its policies but gets the per-query form.
 *
 * Each of these only tightens a policy or writes it in an equivalent form;
 * the isolation guard judges the tables at commit as always, and
 * isolation_status checks every placement.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/policy.h"
#include "executor/spi.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "citus.h"
#include "placement.h"
#include "statement.h"

#define ISOLATION_POLICY	"trovella_tenant_isolation"
#define ACCESS_POLICY		"trovella_tenant_access"

/*
 * Whether expr is "col = trovella.current_tenant()", the form in which
 * Citus deparses trovella's policies ("=" or "pg_catalog.=").
 */
static bool
tenant_condition(Node *expr)
{
	A_Expr	   *op;
	FuncCall   *call;

	if (expr == NULL || !IsA(expr, A_Expr))
		return false;
	op = (A_Expr *) expr;
	if (op->kind != AEXPR_OP || op->rexpr == NULL || !IsA(op->rexpr, FuncCall) ||
		op->lexpr == NULL || !IsA(op->lexpr, ColumnRef) ||
		strcmp(strVal(llast(op->name)), "=") != 0 ||
		(list_length(op->name) == 2 && strcmp(strVal(linitial(op->name)), "pg_catalog") != 0) ||
		list_length(op->name) > 2)
		return false;
	call = (FuncCall *) op->rexpr;
	return list_length(call->funcname) == 2 && call->args == NIL &&
		strcmp(strVal(linitial(call->funcname)), "trovella") == 0 &&
		strcmp(strVal(lsecond(call->funcname)), "current_tenant") == 0;
}

/* Rewrite "col = trovella.current_tenant()" as "col = (SELECT ...)". */
static Node *
per_query_condition(Node *expr)
{
	A_Expr	   *op;
	FuncCall   *call;
	ResTarget  *target;
	SelectStmt *select;
	SubLink    *sublink;

	if (!tenant_condition(expr))
		return expr;
	op = (A_Expr *) expr;
	call = (FuncCall *) op->rexpr;

	target = makeNode(ResTarget);
	target->val = (Node *) call;
	target->location = -1;
	select = makeNode(SelectStmt);
	select->targetList = list_make1(target);
	sublink = makeNode(SubLink);
	sublink->subLinkType = EXPR_SUBLINK;
	sublink->subselect = (Node *) select;
	sublink->location = -1;
	op->rexpr = (Node *) sublink;
	return expr;
}

static bool
trovella_policy(const char *name)
{
	return strcmp(name, ISOLATION_POLICY) == 0 || strcmp(name, ACCESS_POLICY) == 0;
}

/* A nested CREATE POLICY of one of trovella's policies. */
static void
create_policy(PlannedStmt **pstmt, bool *readOnlyTree)
{
	SpiSection	spi;
	CreatePolicyStmt *policy = (CreatePolicyStmt *) (*pstmt)->utilityStmt;
	bool		isolation = strcmp(policy->policy_name, ISOLATION_POLICY) == 0;
	Oid			relid = RangeVarGetRelid(policy->table, NoLock, true);
	bool		shard = trovella_citus_is_shard(relid);

	/*
	 * The guard in auto mode was first: Citus's statement, which gives the
	 * table trovella's own condition, replaces its policy.  Any other
	 * statement of that name fails as it would on one server (42710).
	 */
	if (OidIsValid(relid) && OidIsValid(get_relation_policy_oid(relid, policy->policy_name, true)) &&
		tenant_condition(policy->qual) && tenant_condition(policy->with_check))
	{
		char	   *drop = psprintf("DROP POLICY %s ON %s",
									quote_identifier(policy->policy_name),
									quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
															   get_rel_name(relid)));

		trovella_spi_connect(&spi);
		if (SPI_execute(drop, false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "could not replace policy %s", policy->policy_name);
		trovella_spi_finish(&spi);
	}
	if (!shard && !(isolation && policy->permissive))
		return;
	if (*readOnlyTree)
	{
		*pstmt = copyObject(*pstmt);
		*readOnlyTree = false;
		policy = (CreatePolicyStmt *) (*pstmt)->utilityStmt;
	}
	if (isolation)
		policy->permissive = false;
	if (shard)
	{
		policy->qual = per_query_condition(policy->qual);
		policy->with_check = per_query_condition(policy->with_check);
	}
}

/*
 * After a nested ALTER TABLE ... RENAME that made a table a shard
 * placement: its trovella policies in the per-query form.
 */
static void
per_query_policies(Oid relid)
{
	SpiSection	spi;
	Oid			argtypes[2] = {OIDOID, TEXTOID};
	Datum		values[2];
	char	   *table = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
												   get_rel_name(relid));
	List	   *alters = NIL;
	ListCell   *lc;

	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(table);
	trovella_spi_connect(&spi);
	if (SPI_execute_with_args("SELECT pg_catalog.format('ALTER POLICY %I ON %s USING (%I OPERATOR(pg_catalog.=) "
							  "  (SELECT trovella.current_tenant())) WITH CHECK (%I OPERATOR(pg_catalog.=) "
							  "  (SELECT trovella.current_tenant()))', p.polname, $2, c.col, c.col) "
							  "FROM pg_catalog.pg_policy p, "
							  "  LATERAL (SELECT trovella.tenant_policy_column(p.polrelid) AS col) c "
							  "WHERE p.polrelid OPERATOR(pg_catalog.=) $1 AND c.col IS NOT NULL "
							  "  AND p.polname OPERATOR(pg_catalog.=) ANY "
							  "    (ARRAY['" ISOLATION_POLICY "', '" ACCESS_POLICY "']::pg_catalog.name[]) "
							  "  AND pg_catalog.strpos(pg_catalog.pg_get_expr(p.polqual, p.polrelid), "
							  "    'SELECT trovella.current_tenant()') OPERATOR(pg_catalog.=) 0",
							  2, argtypes, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the policies of %s", table);
	for (uint64 i = 0; i < SPI_processed; i++)
		alters = lappend(alters, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	foreach(lc, alters)
		if (SPI_execute(lfirst(lc), false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "could not alter the policies of %s", table);
	trovella_spi_finish(&spi);
}

/* Before a utility statement (hooks.c). */
void
trovella_placement_utility_before(PlannedStmt **pstmt, bool *readOnlyTree,
								  ProcessUtilityContext context, PlacementUtility *state)
{
	Node	   *parsetree = (*pstmt)->utilityStmt;

	state->became_shard = InvalidOid;
	if (context != PROCESS_UTILITY_QUERY || !trovella_citus_loaded())
		return;
	if (IsA(parsetree, CreatePolicyStmt) &&
		trovella_policy(((CreatePolicyStmt *) parsetree)->policy_name))
		create_policy(pstmt, readOnlyTree);
	else if (IsA(parsetree, RenameStmt) &&
			 ((RenameStmt *) parsetree)->renameType == OBJECT_TABLE &&
			 ((RenameStmt *) parsetree)->relation != NULL)
		state->became_shard = RangeVarGetRelid(((RenameStmt *) parsetree)->relation, NoLock, true);
}

/* After the statement succeeded. */
void
trovella_placement_utility_after(PlacementUtility *state)
{
	if (OidIsValid(state->became_shard) && trovella_citus_renamed_to_shard(state->became_shard))
		per_query_policies(state->became_shard);
}
