/*
 * tenant_column.c
 *		The isolation guard in auto, before ALTER TABLE runs: a tenant column
 *		added to a table that has rows.
 *
 * The guard isolates the table as the statement ends (isolation.c), and a
 * row whose tenant is NULL is visible to no tenant, nor to the table's
 * owner: such a row would be lost to everyone but the operations role.
 * So the statement is refused (55000) unless it gives the rows a tenant:
 * NOT NULL, or a DEFAULT or generated value that is a constant other than
 * NULL (DEFAULT NULL, or a function that may return NULL, does not).  Whether the table has rows is judged without row-level
 * security (relation_rows.c), under the lock the statement takes.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "commands/extension.h"
#include "commands/tablecmds.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/lsyscache.h"

#include "citus.h"
#include "compat.h"
#include "isolation.h"
#include "relation_rows.h"

/*
 * Whether a raw default or generation expression is provably not NULL: a
 * constant other than NULL, cast or not.  Anything else (a function's
 * result, NULL::uuid) may leave the rows without a tenant.
 */
static bool
provably_not_null(Node *expr)
{
	while (expr != NULL && IsA(expr, TypeCast))
		expr = ((TypeCast *) expr)->arg;
	return expr != NULL && IsA(expr, A_Const) && !((A_Const *) expr)->isnull;
}

/*
 * Whether a column definition gives existing rows a tenant: NOT NULL (then
 * PostgreSQL refuses a NULL fill itself), or a DEFAULT or generated value
 * that is a constant other than NULL.
 */
static bool
column_fills_rows(ColumnDef *column)
{
	ListCell   *lc;

	if (column->is_not_null || provably_not_null(column->raw_default))
		return true;
	foreach(lc, column->constraints)
	{
		Constraint *constraint = lfirst(lc);

		if (!IsA(constraint, Constraint))
			continue;
		if (constraint->contype == CONSTR_NOTNULL || constraint->contype == CONSTR_PRIMARY)
			return true;
		if ((constraint->contype == CONSTR_DEFAULT || constraint->contype == CONSTR_GENERATED) &&
			provably_not_null(constraint->raw_expr))
			return true;
	}
	return false;
}

/*
 * Before a utility statement (hooks.c): in auto, ALTER TABLE ... ADD
 * COLUMN of the tenant column, with no value for the rows a table has.
 */
void
trovella_isolation_utility_before(Node *stmt)
{
	AlterTableStmt *alter;
	Oid			relid;
	ListCell   *lc;

	if (!trovella_isolation_guard_auto() || !IsA(stmt, AlterTableStmt) ||
		creating_extension || trovella_citus_internal_backend())
		return;
	alter = (AlterTableStmt *) stmt;
	if (alter->objtype != OBJECT_TABLE || alter->relation == NULL)
		return;
	foreach(lc, alter->cmds)
	{
		AlterTableCmd *cmd = lfirst(lc);
		ColumnDef  *column = (ColumnDef *) cmd->def;

		if (cmd->subtype != AT_AddColumn || column == NULL || !IsA(column, ColumnDef) ||
			strcmp(column->colname, trovella_tenant_column()) != 0 || column_fills_rows(column))
			continue;
		relid = RangeVarGetRelid(alter->relation, NoLock, true);
		/* PostgreSQL refuses the statement itself to anyone else */
		if (!OidIsValid(relid) || !table_ownercheck(relid, GetUserId()) ||
			get_attnum(relid, trovella_tenant_column()) != InvalidAttrNumber)
			return;
		if (trovella_relation_has_rows(relid, AlterTableGetLockLevel(alter->cmds)))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("trovella: adding tenant column \"%s\" to table %s, which has rows, would leave them without a tenant",
							trovella_tenant_column(), get_rel_name(relid)),
					 errdetail("trovella.isolation_guard is \"auto\": the table is isolated as this statement ends, and a row whose tenant is NULL is visible to no tenant, nor to the table's owner."),
					 errhint("Add the column NOT NULL with a DEFAULT that names a tenant, then have the operations role (BYPASSRLS) set each row's tenant; or add it to the table while it is empty.")));
		return;
	}
}
