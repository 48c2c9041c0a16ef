/*
 * tenant_column.c
 *		The isolation guard in auto, before ALTER TABLE runs: a tenant column
 *		added to a table that has rows.
 *
 * The guard isolates the table as the statement ends (isolation.c), and a
 * row whose tenant is NULL is visible to no tenant, nor to the table's
 * owner: such a row would be lost to everyone but the operations role.
 * So the statement is refused (55000) unless it gives the rows a tenant
 * (NOT NULL, a DEFAULT, or a generated value), which is a choice made on
 * purpose.  Whether the table has rows is judged without row-level
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

/* Whether a column definition gives existing rows a value: NOT NULL, DEFAULT. */
static bool
column_fills_rows(ColumnDef *column)
{
	ListCell   *lc;

	if (column->is_not_null || column->raw_default != NULL)
		return true;
	foreach(lc, column->constraints)
	{
		Constraint *constraint = lfirst(lc);

		if (IsA(constraint, Constraint) &&
			(constraint->contype == CONSTR_NOTNULL || constraint->contype == CONSTR_DEFAULT ||
			 constraint->contype == CONSTR_GENERATED || constraint->contype == CONSTR_PRIMARY))
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
