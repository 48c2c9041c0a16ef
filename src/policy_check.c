/*
 * policy_check.c
 *		Whether a table's tenant isolation is intact, read from the catalog
 *		by OID.
 *
 * A tenant check is the expression enable_tenant_isolation() gives both
 * trovella policies, USING and WITH CHECK: the tenant column compared with
 * pg_catalog's uuid equality to trovella.current_tenant(), called bare (as
 * Citus requires of a distributed table) or in a scalar subquery that the
 * planner evaluates once per query.  It is recognised here from the stored
 * expression tree, by the OIDs of the operator, the function and the
 * column: never from text printed under someone's search_path, where an
 * always-true "=" created in another schema prints just like the real one.
 *
 * The guard at commit (isolation_judge.c) and the audit (is_tenant_policy,
 * policy_problems, hence is_isolated and isolation_status, through
 * trovella.is_tenant_check) use this one judgement.  The expression is
 * walked by hand, not with pull_varattnos(), which must not be given a
 * sublink (an assert-enabled server aborts).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_policy.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/primnodes.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "policy_check.h"

/* What one policy is, as far as the check needs it. */
typedef struct TenantPolicy
{
	bool		found;
	bool		shape_ok;		/* FOR ALL, TO PUBLIC, both expressions */
	bool		permissive;
	Node	   *qual;
	Node	   *with_check;
} TenantPolicy;

/* The OIDs a tenant check is made of, looked up once per run. */
static void
resolve(PolicyCheckCache *cache)
{
	if (cache->resolved)
		return;
	cache->uuid_equal = OpernameGetOprid(list_make2(makeString("pg_catalog"), makeString("=")),
										 UUIDOID, UUIDOID);
	cache->current_tenant = LookupFuncName(list_make2(makeString("trovella"),
													  makeString("current_tenant")),
										   0, NULL, true);
	cache->resolved = true;
}

/* trovella.current_tenant(), called with no argument. */
static bool
is_current_tenant_call(Node *node, PolicyCheckCache *cache)
{
	FuncExpr   *call = (FuncExpr *) node;

	return node != NULL && IsA(node, FuncExpr) &&
		OidIsValid(cache->current_tenant) && call->funcid == cache->current_tenant &&
		call->args == NIL && !call->funcretset;
}

/* (SELECT trovella.current_tenant()): a bare SELECT of that one call. */
static bool
is_per_query_call(Node *node, PolicyCheckCache *cache)
{
	SubLink    *sublink = (SubLink *) node;
	Query	   *query;
	TargetEntry *entry;

	if (node == NULL || !IsA(node, SubLink) || sublink->subLinkType != EXPR_SUBLINK ||
		sublink->testexpr != NULL || sublink->subselect == NULL || !IsA(sublink->subselect, Query))
		return false;
	query = (Query *) sublink->subselect;
	if (query->commandType != CMD_SELECT || query->utilityStmt != NULL ||
		query->rtable != NIL || query->cteList != NIL ||
		query->jointree == NULL || query->jointree->fromlist != NIL || query->jointree->quals != NULL ||
		query->hasAggs || query->hasWindowFuncs || query->hasTargetSRFs || query->hasSubLinks ||
		query->groupClause != NIL || query->groupingSets != NIL || query->havingQual != NULL ||
		query->windowClause != NIL || query->distinctClause != NIL || query->sortClause != NIL ||
		query->limitOffset != NULL || query->limitCount != NULL || query->rowMarks != NIL ||
		query->setOperations != NULL || list_length(query->targetList) != 1)
		return false;
	entry = linitial_node(TargetEntry, query->targetList);
	return !entry->resjunk && is_current_tenant_call((Node *) entry->expr, cache);
}

/*
 * Whether an expression of a policy on a table is the tenant check on the
 * table's column number column.
 */
bool
trovella_is_tenant_check(Node *expression, AttrNumber column, PolicyCheckCache *cache)
{
	OpExpr	   *comparison = (OpExpr *) expression;
	Var		   *tenant;

	resolve(cache);
	if (expression == NULL || !IsA(expression, OpExpr) || !OidIsValid(cache->uuid_equal) ||
		comparison->opno != cache->uuid_equal || comparison->opretset ||
		list_length(comparison->args) != 2)
		return false;
	tenant = (Var *) linitial(comparison->args);
	if (!IsA(tenant, Var) || tenant->varno != 1 || tenant->varlevelsup != 0 ||
		tenant->varattno != column || column <= 0 || tenant->vartype != UUIDOID)
		return false;
	return is_current_tenant_call(lsecond(comparison->args), cache) ||
		is_per_query_call(lsecond(comparison->args), cache);
}

/* Whether a polroles array is exactly {PUBLIC}. */
static bool
roles_are_public(Datum roles)
{
	Datum	   *oids;
	int			count;

	deconstruct_array(DatumGetArrayTypeP(roles), OIDOID, sizeof(Oid), true, TYPALIGN_INT,
					  &oids, NULL, &count);
	return count == 1 && DatumGetObjectId(oids[0]) == ACL_ID_PUBLIC;
}

/* Reads the named policy of a table from pg_policy. */
static TenantPolicy
read_policy(Relation catalog, Oid relid, const char *name)
{
	TenantPolicy policy = {0};
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tuple;

	ScanKeyInit(&keys[0], Anum_pg_policy_polrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	ScanKeyInit(&keys[1], Anum_pg_policy_polname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum(name));
	scan = systable_beginscan(catalog, PolicyPolrelidPolnameIndexId, true, NULL, 2, keys);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		Form_pg_policy form = (Form_pg_policy) GETSTRUCT(tuple);
		TupleDesc	desc = RelationGetDescr(catalog);
		bool		roles_null;
		bool		qual_null;
		bool		check_null;
		Datum		roles = heap_getattr(tuple, Anum_pg_policy_polroles, desc, &roles_null);
		Datum		qual = heap_getattr(tuple, Anum_pg_policy_polqual, desc, &qual_null);
		Datum		check = heap_getattr(tuple, Anum_pg_policy_polwithcheck, desc, &check_null);

		policy.found = true;
		policy.permissive = form->polpermissive;
		policy.shape_ok = form->polcmd == '*' && !roles_null && roles_are_public(roles) &&
			!qual_null && !check_null;
		if (policy.shape_ok)
		{
			policy.qual = stringToNode(TextDatumGetCString(qual));
			policy.with_check = stringToNode(TextDatumGetCString(check));
		}
	}
	systable_endscan(scan);
	return policy;
}

static bool
policy_ok(const TenantPolicy *policy, bool permissive, AttrNumber column, PolicyCheckCache *cache)
{
	return policy->found && policy->shape_ok && policy->permissive == permissive &&
		trovella_is_tenant_check(policy->qual, column, cache) &&
		trovella_is_tenant_check(policy->with_check, column, cache);
}

/*
 * The column a table is isolated on: RLS enabled and forced, and both
 * trovella policies exactly as enable_tenant_isolation() creates them, on
 * the column the restrictive one compares.  InvalidAttrNumber when it is
 * not (or not an ordinary or partitioned table).  Then is_isolated(tbl,
 * tenant_policy_column(tbl)) is true, and false otherwise.
 */
AttrNumber
trovella_isolated_column(Oid relid, PolicyCheckCache *cache)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Form_pg_class form;
	bool		forced;
	Relation	catalog;
	TenantPolicy restrictive;
	TenantPolicy permissive;
	AttrNumber	column = InvalidAttrNumber;

	if (!HeapTupleIsValid(tuple))
		return InvalidAttrNumber;
	form = (Form_pg_class) GETSTRUCT(tuple);
	forced = form->relrowsecurity && form->relforcerowsecurity &&
		(form->relkind == RELKIND_RELATION || form->relkind == RELKIND_PARTITIONED_TABLE);
	ReleaseSysCache(tuple);
	if (!forced)
		return InvalidAttrNumber;

	catalog = table_open(PolicyRelationId, AccessShareLock);
	restrictive = read_policy(catalog, relid, "trovella_tenant_isolation");
	permissive = read_policy(catalog, relid, "trovella_tenant_access");
	table_close(catalog, AccessShareLock);

	/* the column: the one the restrictive policy's USING clause compares */
	if (restrictive.shape_ok && IsA(restrictive.qual, OpExpr) &&
		list_length(((OpExpr *) restrictive.qual)->args) == 2 &&
		IsA(linitial(((OpExpr *) restrictive.qual)->args), Var))
		column = ((Var *) linitial(((OpExpr *) restrictive.qual)->args))->varattno;
	if (column > 0 && get_attname(relid, column, true) != NULL &&
		policy_ok(&restrictive, false, column, cache) &&
		policy_ok(&permissive, true, column, cache))
		return column;
	return InvalidAttrNumber;
}

/* The column a table is isolated on, proved once per run. */
static AttrNumber
proved_column(Oid relid, PolicyCheckCache *cache)
{
	ListCell   *lc;
	ListCell   *lc2;
	AttrNumber	column;

	forboth(lc, cache->proved, lc2, cache->proved_columns)
		if (lfirst_oid(lc) == relid)
			return (AttrNumber) lfirst_int(lc2);
	column = trovella_isolated_column(relid, cache);
	cache->proved = lappend_oid(cache->proved, relid);
	cache->proved_columns = lappend_int(cache->proved_columns, column);
	return column;
}

/*
 * Whether every table a table inherits from (as a partition or not), at
 * any level, is certainly isolated on a column of that name: then a SELECT
 * on any of them returns only the current tenant's rows of it.  False when
 * one may not be; the SQL judgement then decides.
 */
bool
trovella_ancestors_isolated(Oid relid, const char *column, PolicyCheckCache *cache)
{
	Relation	catalog;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	List	   *parents = NIL;
	ListCell   *lc;

	check_stack_depth();
	catalog = table_open(InheritsRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_inherits_inhrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(catalog, InheritsRelidSeqnoIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
		parents = lappend_oid(parents, ((Form_pg_inherits) GETSTRUCT(tuple))->inhparent);
	systable_endscan(scan);
	table_close(catalog, AccessShareLock);

	foreach(lc, parents)
	{
		Oid			parent = lfirst_oid(lc);
		AttrNumber	parent_column = proved_column(parent, cache);
		char	   *name;

		if (parent_column == InvalidAttrNumber)
			return false;
		name = get_attname(parent, parent_column, true);
		if (name == NULL || strcmp(name, column) != 0 ||
			!trovella_ancestors_isolated(parent, column, cache))
			return false;
	}
	return true;
}
