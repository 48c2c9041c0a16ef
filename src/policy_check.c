/*
 * policy_check.c
 *		Whether a table's tenant isolation is intact, read from the catalog.
 *
 * The judgement of record is SQL (trovella.is_isolated and the functions
 * around it).  This is a quick proof of the common case for the isolation
 * guard, which at commit may have thousands of tables to look at, each just
 * isolated by enable_tenant_isolation(): RLS enabled and forced, and both
 * trovella policies exactly as that function creates them, on the column the
 * restrictive one compares.  Then is_isolated(tbl, tenant_policy_column(tbl))
 * is true: that column is the only one the restrictive policy depends on.
 * The forms the policies must print as come from trovella.tenant_check_forms,
 * so that the two cannot drift apart; a table the proof does not cover is
 * not judged a problem here, only handed to the SQL judgement.
 *
 * Printing an expression (pg_get_expr) builds the table's relcache entry,
 * which DDL has just invalidated: the costly part.  An expression equal()
 * to one already printed (equal() ignores where in a statement's text it
 * was written), reading a column of the same name, prints the same; the
 * partitions of a table all carry the same two.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_policy.h"
#include "catalog/pg_type.h"
#include "nodes/bitmapset.h"
#include "optimizer/optimizer.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "policy_check.h"

/* What one policy is, as far as the proof needs it. */
typedef struct TenantPolicy
{
	bool		found;
	bool		shape_ok;		/* FOR ALL, TO PUBLIC, both expressions */
	bool		permissive;
	Node	   *qual;
	Node	   *with_check;
} TenantPolicy;

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

/*
 * trovella.tenant_check_forms(column): the texts a tenant check prints as,
 * asked once per column in a run of checks (it is IMMUTABLE); NULL where
 * the function does not exist yet.
 */
static ArrayType *
tenant_check_forms(const char *column, PolicyCheckCache *cache)
{
	Oid			argtypes[1] = {NAMEOID};
	List	   *function;
	Oid			forms_function;

	if (cache->forms != NULL && strcmp(NameStr(cache->column), column) == 0)
		return cache->forms;
	function = list_make2(makeString("trovella"), makeString("tenant_check_forms"));
	forms_function = LookupFuncName(function, 1, argtypes, true);
	if (!OidIsValid(forms_function))
		return NULL;			/* a database still at 0.2.0: no proof */
	namestrcpy(&cache->column, column);
	cache->forms = DatumGetArrayTypeP(OidFunctionCall1(forms_function, NameGetDatum(&cache->column)));
	return cache->forms;
}

/*
 * Whether an expression of a table's policy prints as one of the forms of a
 * tenant check on the column (named column_name).  It must read that column
 * and no other: then an expression equal to one printed before, for a column
 * of the same name, prints the same.
 */
static bool
is_tenant_check(Node *expression, Oid relid, AttrNumber column, const char *column_name,
				PolicyCheckCache *cache)
{
	ListCell   *lc;
	char	   *printed;
	Datum	   *texts;
	int			count;
	int			i;
	Bitmapset  *read = NULL;
	ArrayType  *forms = tenant_check_forms(column_name, cache);

	if (forms == NULL)
		return false;
	pull_varattnos(expression, 1, &read);
	if (bms_membership(read) != BMS_SINGLETON ||
		bms_singleton_member(read) + FirstLowInvalidHeapAttributeNumber != column)
		return false;

	foreach(lc, cache->checks)
	{
		List	   *known = lfirst(lc);

		if (strcmp(strVal(linitial(known)), column_name) == 0 && equal(lsecond(known), expression))
			return true;
	}

	printed = TextDatumGetCString(DirectFunctionCall2(pg_get_expr,
													  CStringGetTextDatum(nodeToString(expression)),
													  ObjectIdGetDatum(relid)));
	deconstruct_array(forms, TEXTOID, -1, false, TYPALIGN_INT, &texts, NULL, &count);
	for (i = 0; i < count; i++)
		if (strcmp(printed, TextDatumGetCString(texts[i])) == 0)
		{
			cache->checks = lappend(cache->checks,
									list_make2(makeString(pstrdup(column_name)), expression));
			return true;
		}
	return false;
}

static bool
policy_ok(const TenantPolicy *policy, bool permissive, Oid relid, AttrNumber column,
		  const char *column_name, PolicyCheckCache *cache)
{
	return policy->found && policy->shape_ok && policy->permissive == permissive &&
		is_tenant_check(policy->qual, relid, column, column_name, cache) &&
		is_tenant_check(policy->with_check, relid, column, column_name, cache);
}

/*
 * True only when the table is certainly isolated; false when it may not be
 * (the SQL judgement then decides).  The cache must live as long as the run
 * of checks, and no longer: a later transaction may have a new extension.
 */
bool
trovella_certainly_isolated(Oid relid, PolicyCheckCache *cache)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	bool		forced;
	Relation	catalog;
	TenantPolicy restrictive;
	TenantPolicy permissive;
	Bitmapset  *read = NULL;
	bool		isolated = false;

	if (!HeapTupleIsValid(tuple))
		return false;
	forced = ((Form_pg_class) GETSTRUCT(tuple))->relrowsecurity &&
		((Form_pg_class) GETSTRUCT(tuple))->relforcerowsecurity;
	ReleaseSysCache(tuple);
	if (!forced)
		return false;

	catalog = table_open(PolicyRelationId, AccessShareLock);
	restrictive = read_policy(catalog, relid, "trovella_tenant_isolation");
	permissive = read_policy(catalog, relid, "trovella_tenant_access");
	table_close(catalog, AccessShareLock);

	/* the column: the one the restrictive policy's USING clause reads */
	if (restrictive.shape_ok)
		pull_varattnos(restrictive.qual, 1, &read);
	if (bms_membership(read) == BMS_SINGLETON)
	{
		AttrNumber	column = bms_singleton_member(read) + FirstLowInvalidHeapAttributeNumber;
		char	   *column_name = get_attname(relid, column, true);

		isolated = column_name != NULL &&
			policy_ok(&restrictive, false, relid, column, column_name, cache) &&
			policy_ok(&permissive, true, relid, column, column_name, cache);
	}
	return isolated;
}
