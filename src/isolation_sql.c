/*
 * isolation_sql.c
 *		SQL functions of the isolation audit that the library answers: the
 *		tenant check, recognised by OID (policy_check.c), for is_tenant_policy
 *		and policy_problems, so that the audit and the guard at commit judge
 *		a policy the same way.
 */
#include "postgres.h"

#include "fmgr.h"
#include "nodes/nodes.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "policy_check.h"

/*
 * is_tenant_check(expression, tbl, tenant_column): whether a policy
 * expression of the table is trovella's tenant check on that column.
 */
PG_FUNCTION_INFO_V1(trovella_is_tenant_check_sql);
Datum
trovella_is_tenant_check_sql(PG_FUNCTION_ARGS)
{
	char	   *expression = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			relid = PG_GETARG_OID(1);
	AttrNumber	column = get_attnum(relid, NameStr(*PG_GETARG_NAME(2)));
	PolicyCheckCache cache = {0};

	if (column == InvalidAttrNumber)
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(trovella_is_tenant_check(stringToNode(expression), column, &cache));
}
