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
 * NULL (DEFAULT NULL, or a function that may return NULL, does not).
 * Whether the table has rows is judged without row-level security
 * (relation_rows.c), under the lock the statement takes.  ALTER TYPE ...
 * ADD ATTRIBUTE of it, which CASCADE gives the type's tables, is refused
 * the same way when one of them has rows; RENAME COLUMN to it, when a
 * row's value is NULL.  A table Citus manages keeps its rows in its
 * placements: isolation_defer.c asks them once Citus is done.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "commands/extension.h"
#include "commands/tablecmds.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"

#include "citus.h"
#include "compat.h"
#include "isolation.h"
#include "isolation_defer.h"
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
 * The tables of a composite type (CREATE TABLE ... OF), which ALTER TYPE
 * ... ADD ATTRIBUTE ... CASCADE gives the column too: read as tablecmds.c
 * does, by a scan of pg_class (reloftype has no index).
 */
static List *
typed_tables(Oid typid)
{
	Relation	class_rel = table_open(RelationRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	List	   *tables = NIL;

	ScanKeyInit(&key, Anum_pg_class_reloftype, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(typid));
	scan = systable_beginscan(class_rel, InvalidOid, false, NULL, 1, &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
		tables = lappend_oid(tables, ((Form_pg_class) GETSTRUCT(tuple))->oid);
	systable_endscan(scan);
	table_close(class_rel, AccessShareLock);
	return tables;
}

/* Refuses the statement if the table has rows. */
static void
refuse_if_rows(Oid relid, LOCKMODE lockmode)
{
	if (trovella_relation_has_rows(relid, lockmode))
		trovella_refuse_tenantless_rows(relid, trovella_tenant_column());
}

/*
 * A column of relid about to become its tenant column: refused if a row's
 * value is NULL (a row that would have no tenant), read without row-level
 * security under the lock the rename takes.  Only a user column of a
 * table the guard isolates counts; a Citus table's rows are in its
 * placements, asked once Citus is done (isolation_defer.c).
 */
static void
refuse_if_null(Oid relid, const char *column)
{
	char		relkind = get_rel_relkind(relid);

	if (get_attnum(relid, column) <= 0 ||
		get_attnum(relid, trovella_tenant_column()) != InvalidAttrNumber ||
		(relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE &&
		 relkind != RELKIND_FOREIGN_TABLE) ||
		trovella_citus_managed(relid))
		return;
	if (trovella_relation_has_null(relid, column, AccessExclusiveLock))
		trovella_refuse_tenantless_rows(relid, trovella_tenant_column());
}

/*
 * ALTER TABLE (or FOREIGN TABLE) ... RENAME COLUMN c TO the tenant column,
 * and ALTER TYPE ... RENAME ATTRIBUTE c TO it, which CASCADE gives the
 * type's tables.
 */
static void
judge_rename(RenameStmt *rename)
{
	Oid			relid;
	ListCell   *lc;

	if ((rename->renameType != OBJECT_COLUMN && rename->renameType != OBJECT_ATTRIBUTE) ||
		rename->relation == NULL || rename->subname == NULL || rename->newname == NULL ||
		strcmp(rename->newname, trovella_tenant_column()) != 0)
		return;
	relid = RangeVarGetRelid(rename->relation, NoLock, true);
	/* PostgreSQL refuses the statement itself to anyone else */
	if (!OidIsValid(relid) || !table_ownercheck(relid, GetUserId()))
		return;
	if (rename->renameType == OBJECT_COLUMN)
		refuse_if_null(relid, rename->subname);
	else if (get_rel_relkind(relid) == RELKIND_COMPOSITE_TYPE)
		/* (a table of another owner: PostgreSQL refuses it the change) */
		foreach(lc, typed_tables(get_rel_type_id(relid)))
			if (table_ownercheck(lfirst_oid(lc), GetUserId()))
				refuse_if_null(lfirst_oid(lc), rename->subname);
}

/*
 * Before a utility statement (hooks.c): in auto, ALTER TABLE ... ADD
 * COLUMN of the tenant column, with no value for the rows a table has, or
 * ALTER TYPE ... ADD ATTRIBUTE of it for the rows of a table of that type.
 */
void
trovella_isolation_utility_before(Node *stmt)
{
	AlterTableStmt *alter;
	Oid			relid;
	ListCell   *lc;

	if (!trovella_isolation_guard_auto() || creating_extension ||
		trovella_citus_internal_backend())
		return;
	if (IsA(stmt, RenameStmt))
	{
		judge_rename((RenameStmt *) stmt);
		return;
	}
	if (!IsA(stmt, AlterTableStmt))
		return;
	alter = (AlterTableStmt *) stmt;
	if ((alter->objtype != OBJECT_TABLE && alter->objtype != OBJECT_TYPE) ||
		alter->relation == NULL)
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
			get_attnum(relid, trovella_tenant_column()) != InvalidAttrNumber ||
			trovella_citus_managed(relid))
			return;
		if (alter->objtype == OBJECT_TYPE)
		{
			ListCell   *table;

			/* (a table of another owner: PostgreSQL refuses it the change) */
			foreach(table, typed_tables(get_rel_type_id(relid)))
				if (table_ownercheck(lfirst_oid(table), GetUserId()))
					refuse_if_rows(lfirst_oid(table), AccessExclusiveLock);
		}
		else
			refuse_if_rows(relid, AlterTableGetLockLevel(alter->cmds));
		return;
	}
}
