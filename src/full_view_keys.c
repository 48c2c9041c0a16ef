/*
 * full_view_keys.c
 *		Foreign keys checked from one tenant's view, before ALTER TABLE runs
 *		(called by full_view.c's ProcessUtility handler).
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
 * without one).  On Citus, a table's rows are in its placements: a key
 * added to such a table in a tenant context is refused, since each
 * placement would be checked from that tenant's view; a key Citus copies
 * to a placement it moves or splits passes (judge_check, copied_key).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/indexing.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_inherits.h"
#include "commands/tablecmds.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/syscache.h"

#include "citus.h"
#include "compat.h"
#include "context.h"
#include "full_view_keys.h"
#include "relation_rows.h"

static void
refuse_validation(const char *what, Oid relid, Oid bound_relid)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("trovella: %s on table %s needs a role that sees every tenant's rows",
					what, get_rel_name(relid)),
			 errdetail("Row-level security binds role \"%s\" on table %s: PostgreSQL would check only the rows this role sees and accept the rows of every other tenant unchecked.",
					   GetUserNameFromId(GetUserId(), false), get_rel_name(bound_relid)),
			 strstr(what, "PARTITION") != NULL ?
			 errhint("Run it as a role that row-level security does not bind (BYPASSRLS: the operations role).") :
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
 * if row-level security binds us on either and checked holds a row.
 * Returns whether it binds us and checked is empty: nothing to check.
 *
 * A table Citus manages keeps its rows in its placements; what it holds
 * itself is only what it held before Citus took it over.  Citus sends the
 * statement on to each placement, where PostgreSQL checks the rows under
 * the policies: without a tenant context that check fails closed (42501)
 * on the first row it must check, but in one it would check that tenant's
 * rows alone and accept the rest, so it is refused there.
 *
 * On a placement, the same: refused in a tenant context if it holds a
 * row; otherwise left to PostgreSQL's check, which Citus runs connected as
 * the table's owner (no tenant context) when it gives a placement it
 * copies (a move, a split) its table's keys (copied_key: those pass).
 */
static bool
judge_check(const char *what, Oid checked, Oid referenced, LOCKMODE lockmode)
{
	pg_uuid_t	tenant;
	bool		in_context = trovella_current_tenant_id(&tenant);
	Oid			bound = bound_in_tree(checked);

	if (!OidIsValid(bound))
		bound = bound_in_tree(referenced);
	if (!OidIsValid(bound))
		return false;
	if (trovella_citus_is_shard(checked))
	{
		if (in_context && trovella_relation_has_rows(checked, lockmode))
			refuse_validation(what, checked, bound);
		return false;
	}
	if ((in_context && trovella_citus_managed(checked)) ||
		trovella_relation_has_rows(checked, lockmode))
		refuse_validation(what, checked, bound);
	return true;
}

/* Whether the names of a key's columns are names (String nodes) in order. */
static bool
same_columns(Oid relid, const int16 *attnums, int natts, List *names)
{
	if (list_length(names) != natts)
		return false;
	for (int i = 0; i < natts; i++)
	{
		char	   *attname = get_attname(relid, attnums[i], true);

		if (attname == NULL || strcmp(attname, strVal(list_nth(names, i))) != 0)
			return false;
	}
	return true;
}

/*
 * Whether key, added to the shard placement placement by a role that
 * row-level security binds, without a tenant context, is a key its table
 * already had, valid, before this transaction: the same columns referring
 * to the same table (or a shard of it), with the same match and actions.
 * Citus gives the placements it copies (a shard move, a split, a
 * rebalance) their table's keys, connected as the table's owner, whom
 * forced row-level security binds: PostgreSQL's check of the copied rows
 * would then fail closed, where the rows were copied from placements the
 * key already held on.  Such a key is marked valid without the check, as
 * Citus itself marks the keys of the placements it moves by logical
 * replication (citus.skip_constraint_validation).  A key new to the table
 * (Citus sending ADD FOREIGN KEY on to each placement) is checked: the
 * table's own copy of it is this transaction's, or not yet there; so is
 * one whose table's key is NOT VALID, and one added to a placement the
 * metadata already lists on this node (a key dropped from it and added
 * again).  The placement is recognised by Citus's metadata alone (a shard
 * of a table Citus manages, not listed here until the copy is done), never
 * by the application name.
 */
static bool
copied_key(Oid placement, Constraint *key, Oid referenced)
{
	pg_uuid_t	tenant;
	Oid			table;
	Oid			referenced_table;
	Relation	catalog;
	ScanKeyData scankey;
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		listed;
	bool		copied = false;

	if (!OidIsValid(referenced) || key->fk_attrs == NIL || key->pk_attrs == NIL ||
		trovella_current_tenant_id(&tenant) ||
		(!OidIsValid(bound_in_tree(placement)) && !OidIsValid(bound_in_tree(referenced))))
		return false;
	/* a placement Citus is copying here: not listed on this node yet */
	table = trovella_citus_shard_table(placement, &listed);
	if (!OidIsValid(table) || listed)
		return false;
	referenced_table = trovella_citus_shard_table(referenced, &listed);
	if (!OidIsValid(referenced_table))
		referenced_table = referenced;

	/*
	 * The table's keys from the catalog, without locking the table: a
	 * conversion that makes the placement holds it exclusively, from the
	 * backend whose work this is (Citus would see a deadlock)
	 */
	catalog = table_open(ConstraintRelationId, AccessShareLock);
	ScanKeyInit(&scankey, Anum_pg_constraint_conrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(table));
	scan = systable_beginscan(catalog, ConstraintRelidTypidNameIndexId, true, NULL, 1, &scankey);
	while (!copied && HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_constraint constraint = (Form_pg_constraint) GETSTRUCT(tuple);
		int			nkeys;
		int			nset;
		AttrNumber	conkey[INDEX_MAX_KEYS];
		AttrNumber	confkey[INDEX_MAX_KEYS];
		AttrNumber	setkey[INDEX_MAX_KEYS];
		Oid			operators[3][INDEX_MAX_KEYS];

		if (constraint->contype != CONSTRAINT_FOREIGN || !constraint->convalidated ||
			constraint->confrelid != referenced_table ||
			constraint->confmatchtype != key->fk_matchtype ||
			constraint->confupdtype != key->fk_upd_action ||
			constraint->confdeltype != key->fk_del_action)
			continue;
		DeconstructFkConstraintRow(tuple, &nkeys, conkey, confkey, operators[0],
								   operators[1], operators[2], &nset, setkey);
		copied = same_columns(table, conkey, nkeys, key->fk_attrs) &&
			same_columns(referenced_table, confkey, nkeys, key->pk_attrs) &&
			!TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tuple->t_data));
	}
	systable_endscan(scan);
	table_close(catalog, AccessShareLock);
	return copied;
}

/*
 * An unnamed foreign key added to a table Citus manages: Citus names it
 * and sends it on to the placements NOT VALID, so that none of their rows
 * is checked while the table says the key is valid (Citus 13.0).  Refused
 * to every role: named, the key is checked on every placement.
 */
static void
refuse_unnamed_key(Oid relid, Constraint *key)
{
	if (key->conname != NULL || !trovella_citus_managed(relid))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("trovella: name the foreign key added to Citus table %s", get_rel_name(relid)),
			 errdetail("Citus sends an unnamed foreign key to the table's shards NOT VALID: their rows would not be checked, while the table would say the key is valid."),
			 errhint("ALTER TABLE %s ADD CONSTRAINT <name> FOREIGN KEY ...", get_rel_name(relid))));
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
 * Returns the positions (in stmt->cmds) of the commands whose foreign keys
 * need no check: added to a table that row-level security binds us on and
 * that has no row (PostgreSQL's check would read it, and the referenced
 * table, under the policies, and without a tenant context fail, where
 * there is nothing to check), or copied by Citus to a placement
 * (copied_key).
 */
List *
trovella_full_view_judge_alter(AlterTableStmt *stmt)
{
	Oid			relid;
	LOCKMODE	lockmode;
	ListCell   *lc;
	List	   *unchecked = NIL;
	List	   *added_not_valid = NIL;

	if (stmt->objtype != OBJECT_TABLE || stmt->relation == NULL)
		return NIL;
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	/* PostgreSQL refuses the statement itself to anyone else */
	if (!OidIsValid(relid) || !table_ownercheck(relid, GetUserId()))
		return NIL;
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
					((Constraint *) cmd->def)->contype == CONSTR_FOREIGN)
				{
					if (!((Constraint *) cmd->def)->skip_validation)
					{
						refuse_unnamed_key(relid, (Constraint *) cmd->def);
						keys = list_make1(cmd->def);
					}
					else if (((Constraint *) cmd->def)->conname != NULL)
						added_not_valid = lappend(added_not_valid, cmd->def);
				}
				break;
			case AT_AddColumn:
				if (IsA(cmd->def, ColumnDef))
					keys = column_foreign_keys((ColumnDef *) cmd->def);
				break;
			case AT_ValidateConstraint:
				{
					Oid			referenced = unvalidated_key_target(relid, cmd->name);
					ListCell   *a;

					/* or a key this statement adds NOT VALID, before */
					foreach(a, added_not_valid)
						if (strcmp(((Constraint *) lfirst(a))->conname, cmd->name) == 0)
							referenced = RangeVarGetRelid(((Constraint *) lfirst(a))->pktable,
														  NoLock, true);
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
		{
			Constraint *key = lfirst(k);
			Oid			referenced = RangeVarGetRelid(key->pktable, NoLock, true);

			if (judge_check("ADD FOREIGN KEY", relid, referenced, lockmode) ||
				(cmd->subtype == AT_AddConstraint && copied_key(relid, key, referenced)))
				unchecked = list_append_unique_int(unchecked, foreach_current_index(lc));
		}
	}
	return unchecked;
}

/*
 * The foreign keys of the commands at positions (from
 * trovella_full_view_judge_alter): valid without a check, as PostgreSQL
 * marks those of a table it creates.
 */
void
trovella_full_view_mark_keys_valid(AlterTableStmt *stmt, List *positions)
{
	ListCell   *lc;

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst(lc);
		List	   *keys = NIL;
		ListCell   *k;

		if (!list_member_int(positions, foreach_current_index(lc)))
			continue;
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
