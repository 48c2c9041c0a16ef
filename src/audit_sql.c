/*
 * audit_sql.c
 *		trovella.enable_audit() and disable_audit(): the registration in
 *		trovella.audit_table (as the extension's owner) and the triggers
 *		(as the caller, who must own the table); and the event trigger that
 *		forgets a dropped table's OID.
 *
 * The row trigger is created on the table itself; PostgreSQL clones it to
 * every partition, present and future.  TRUNCATE triggers are not cloned,
 * so each member of the partition tree gets its own.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_inherits.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "nodes/parsenodes.h"
#include "tcop/deparse_utility.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "audit.h"
#include "citus.h"
#include "compat.h"
#include "statement.h"

PG_FUNCTION_INFO_V1(trovella_enable_audit);
PG_FUNCTION_INFO_V1(trovella_disable_audit);
PG_FUNCTION_INFO_V1(trovella_audit_table_drop);
PG_FUNCTION_INFO_V1(trovella_audit_partitions);

static SPIPlanPtr register_plan = NULL;
static SPIPlanPtr unregister_plan = NULL;
static SPIPlanPtr registered_plan = NULL;
static SPIPlanPtr members_plan = NULL;
static SPIPlanPtr forget_plan = NULL;
static SPIPlanPtr created_plan = NULL;

/* Whether a table inherits, or is inherited from, other than as a partition. */
static bool
inheritance_relative(Oid relid)
{
	Relation	inherits = table_open(InheritsRelationId, AccessShareLock);
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tuple;
	bool		found = false;

	/* children: no index on inhparent alone but the one led by it */
	ScanKeyInit(&key, Anum_pg_inherits_inhparent, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(inherits, InheritsParentIndexId, true, NULL, 1, &key);
	while (!found && HeapTupleIsValid(tuple = systable_getnext(scan)))
		found = !get_rel_relispartition(((Form_pg_inherits) GETSTRUCT(tuple))->inhrelid);
	systable_endscan(scan);
	table_close(inherits, AccessShareLock);
	/* parents */
	return found || (has_superclass(relid) && !get_rel_relispartition(relid));
}

/* The table, which the caller must own: 42P01, 42809, 42501 otherwise. */
static Oid
audited_table_argument(FunctionCallInfo fcinfo, const char *function_name)
{
	Oid			relid = PG_GETARG_OID(0);
	char		relkind;

	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("trovella: relation with OID %u does not exist", relid)));
	relkind = get_rel_relkind(relid);
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("trovella: %s is not a table", get_rel_name(relid)),
				 errhint("%s applies to ordinary and partitioned tables.", function_name)));
	if (!table_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, get_relkind_objtype(relkind), get_rel_name(relid));
	if (get_rel_namespace(relid) == get_namespace_oid("trovella", false))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("trovella: %s cannot audit trovella's own table %s",
						function_name, get_rel_name(relid))));
	/* a session's own table, which no policy covers: its records would be its word alone */
	if (get_rel_persistence(relid) == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("trovella: %s cannot audit temporary table %s",
						function_name, get_rel_name(relid))));
	if (inheritance_relative(relid))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("trovella: %s cannot audit %s, which has inheritance parents or children",
						function_name, get_rel_name(relid)),
				 errdetail("PostgreSQL gives a child of INHERITS none of its parent's triggers: its rows would change unrecorded."),
				 errhint("Use declarative partitioning.")));
	return relid;
}

static char *
qualified_name(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/* Whether enable_audit was called on the table (and not undone). */
static bool
is_audited(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};

	if (SPI_execute_plan(trovella_keep_plan(&registered_plan,
											"SELECT 1 FROM trovella.audit_table t"
											" WHERE t.enabled AND t.relid::pg_catalog.oid OPERATOR(pg_catalog.=) $1",
											1, argtypes),
						 values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read trovella.audit_table");
	return SPI_processed > 0;
}

/* The nearest ancestor of relid that is audited: InvalidOid if none. */
static Oid
audited_ancestor(Oid relid)
{
	ListCell   *lc;

	foreach(lc, get_partition_ancestors(relid))
		if (is_audited(lfirst_oid(lc)))
			return lfirst_oid(lc);
	return InvalidOid;
}

/* The tables relid inherits from directly (partitions' parents included). */
static List *
inheritance_parents(Oid relid)
{
	Relation	inherits = table_open(InheritsRelationId, AccessShareLock);
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tuple;
	List	   *parents = NIL;

	ScanKeyInit(&key, Anum_pg_inherits_inhrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(inherits, InheritsRelidSeqnoIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
		parents = lappend_oid(parents, ((Form_pg_inherits) GETSTRUCT(tuple))->inhparent);
	systable_endscan(scan);
	table_close(inherits, AccessShareLock);
	return parents;
}

/*
 * Which table of the tree, other than relid itself, is audited on its own
 * (an ancestor records relid's rows already; a partition would record
 * them twice): InvalidOid if none.
 */
static Oid
audited_relative(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	Oid			found = audited_ancestor(relid);

	if (OidIsValid(found))
		return found;
	if (SPI_execute_plan(trovella_keep_plan(&members_plan,
											"SELECT t.relid::pg_catalog.oid FROM trovella.audit_table t"
											" JOIN pg_catalog.pg_partition_tree($1) p ON p.relid OPERATOR(pg_catalog.=) t.relid"
											" WHERE t.enabled AND p.level OPERATOR(pg_catalog.>) 0 LIMIT 1",
											1, argtypes),
						 values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read trovella.audit_table");
	if (SPI_processed > 0)
	{
		bool		isnull;

		found = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
											   SPI_tuptable->tupdesc, 1, &isnull));
	}
	return found;
}

/*
 * The table and every member of its partition tree, as SQL (a table that
 * is no partition has no tree: pg_partition_tree() returns nothing).
 */
static char *
tree_sql(Oid relid)
{
	return psprintf("(SELECT %u::pg_catalog.oid::pg_catalog.regclass AS relid"
					" UNION SELECT t.relid FROM pg_catalog.pg_partition_tree(%u::pg_catalog.oid::pg_catalog.regclass) t)",
					relid, relid);
}

/* Run one DDL statement the caller could run. */
static void
run_ddl(const char *sql)
{
	if (SPI_execute(sql, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not run: %s", sql);
}

/*
 * trovella's own trigger, which the isolation audit need not flag as code
 * that runs on every tenant's rows: it writes only the history.
 */
static void
mark_reviewed(const char *trigger, const char *table)
{
	run_ddl(psprintf("COMMENT ON TRIGGER %s ON %s IS 'trovella: reviewed: trovella''s audit trigger: it writes only to trovella.audit_history, each record in the history of its row''s tenant'",
					 trigger, table));
}

/*
 * Every member of the tree gets an enabled TRUNCATE trigger; the row
 * trigger is created on the table (and cloned), or enabled where a member
 * has it disabled.  Its arguments, table_id (0: none made) and the table's
 * name, tell a shard on a Citus worker, which has no registry, its table's
 * registration.
 */
static void
create_triggers(Oid relid, int32 table_id)
{
	bool		row_trigger = table_id != 0;
	char	   *table = qualified_name(relid);
	char	   *sql;
	uint64		n;

	sql = psprintf("SELECT p.relid::pg_catalog.oid,"
				   " trovella.audit_trigger_state(p.relid, 'trovella_audit'),"
				   " trovella.audit_trigger_state(p.relid, 'trovella_audit_truncate')"
				   " FROM %s p", tree_sql(relid));
	/* not read-only: it reads the registration just written */
	if (SPI_execute(sql, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the partition tree");
	n = SPI_processed;
	{
		SPITupleTable *members = SPI_tuptable;

		for (uint64 i = 0; i < n; i++)
		{
			HeapTuple	tuple = members->vals[i];
			bool		isnull;
			Oid			member = DatumGetObjectId(SPI_getbinval(tuple, members->tupdesc, 1, &isnull));
			char	   *row = SPI_getvalue(tuple, members->tupdesc, 2);
			char	   *truncate = SPI_getvalue(tuple, members->tupdesc, 3);
			char	   *name = qualified_name(member);

			/* a look-alike of the same name goes: the table's own, or PostgreSQL's clone of it */
			if (row_trigger && member == relid && row != NULL && row[0] == 'X')
			{
				run_ddl(psprintf("DROP TRIGGER trovella_audit ON %s", table));
				row = NULL;
			}
			if (!row_trigger)
				;				/* a partition: PostgreSQL gave it its row trigger */
			else if (row == NULL && member == relid)
			{
				run_ddl(psprintf("CREATE TRIGGER trovella_audit AFTER INSERT OR UPDATE OR DELETE ON %s"
								 " FOR EACH ROW EXECUTE FUNCTION trovella.audit_row('%d', %s)",
								 table, table_id, quote_literal_cstr(table)));
				mark_reviewed("trovella_audit", table);
			}
			else if (row != NULL && row[0] != 'X' &&
					 row[0] != TRIGGER_FIRES_ON_ORIGIN && row[0] != TRIGGER_FIRES_ALWAYS)
				run_ddl(psprintf("ALTER TABLE %s ENABLE TRIGGER trovella_audit", name));
			if (truncate != NULL && truncate[0] == 'X')
			{
				run_ddl(psprintf("DROP TRIGGER trovella_audit_truncate ON %s", name));
				truncate = NULL;
			}
			if (truncate == NULL)
			{
				run_ddl(psprintf("CREATE TRIGGER trovella_audit_truncate AFTER TRUNCATE ON %s"
								 " FOR EACH STATEMENT EXECUTE FUNCTION trovella.audit_truncate()", name));
				mark_reviewed("trovella_audit_truncate", name);
			}
			else if (truncate[0] != TRIGGER_FIRES_ON_ORIGIN && truncate[0] != TRIGGER_FIRES_ALWAYS)
				run_ddl(psprintf("ALTER TABLE %s ENABLE TRIGGER trovella_audit_truncate", name));
		}
	}
}

static void
drop_triggers(Oid relid)
{
	char	   *sql = psprintf("SELECT p.relid::pg_catalog.regclass::pg_catalog.text"
							   " FROM %s p"
							   " WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g"
							   "  WHERE g.tgrelid OPERATOR(pg_catalog.=) p.relid"
							   "  AND g.tgname OPERATOR(pg_catalog.=) 'trovella_audit_truncate')",
							   tree_sql(relid));
	SPITupleTable *members;
	uint64		n;

	run_ddl(psprintf("DROP TRIGGER IF EXISTS trovella_audit ON %s", qualified_name(relid)));
	if (SPI_execute(sql, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the partition tree");
	members = SPI_tuptable;
	n = SPI_processed;
	for (uint64 i = 0; i < n; i++)
		run_ddl(psprintf("DROP TRIGGER trovella_audit_truncate ON %s",
						 SPI_getvalue(members->vals[i], members->tupdesc, 1)));
}

Datum
trovella_enable_audit(PG_FUNCTION_ARGS)
{
	Oid			relid = audited_table_argument(fcinfo, "enable_audit");
	Oid			argtypes[2] = {OIDOID, TEXTOID};
	Datum		values[2];
	Oid			relative;
	OwnerSection section;
	SpiSection	spi;
	bool		isnull;
	int32		table_id;
	int			citus_level;

	trovella_spi_connect(&spi);
	relative = audited_relative(relid);
	if (OidIsValid(relative))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("trovella: %s is in the partition tree of %s, which is audited",
						get_rel_name(relid), get_rel_name(relative)),
				 errdetail("Its changes would be recorded twice."),
				 errhint("Audit the partitioned table only: PostgreSQL gives its partitions its trigger.")));
	trovella_audit_refuse_citus_placing(relid);

	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(qualified_name(relid));
	trovella_begin_owner_section(fcinfo, &section);
	if (SPI_execute_plan(trovella_keep_plan(&register_plan,
											"INSERT INTO trovella.audit_table (relid, name)"
											" VALUES ($1::pg_catalog.oid::pg_catalog.regclass, $2)"
											" ON CONFLICT (relid) DO UPDATE SET enabled = true, name = excluded.name"
											" RETURNING id",
											2, argtypes),
						 values, NULL, false, 0) != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
		elog(ERROR, "could not register the table");
	table_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	trovella_end_owner_section(&section);

	/* enable_audit's own record below says what its statements did */
	citus_level = trovella_citus_allow_triggers();
	trovella_audit_unwatched = true;
	PG_TRY();
	{
		create_triggers(relid, table_id);
	}
	PG_FINALLY();
	{
		trovella_audit_unwatched = false;
	}
	PG_END_TRY();
	trovella_citus_end_triggers(citus_level);
	trovella_spi_finish(&spi);
	trovella_audit_record_status(fcinfo, relid, "enable_audit");
	PG_RETURN_VOID();
}

Datum
trovella_disable_audit(PG_FUNCTION_ARGS)
{
	Oid			relid = audited_table_argument(fcinfo, "disable_audit");
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	OwnerSection section;
	SpiSection	spi;
	int			citus_level;

	trovella_spi_connect(&spi);
	citus_level = trovella_citus_allow_triggers();
	drop_triggers(relid);
	trovella_citus_end_triggers(citus_level);
	trovella_begin_owner_section(fcinfo, &section);
	if (SPI_execute_plan(trovella_keep_plan(&unregister_plan,
											"UPDATE trovella.audit_table SET enabled = false"
											" WHERE relid::pg_catalog.oid OPERATOR(pg_catalog.=) $1",
											1, argtypes),
						 values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not unregister the table");
	trovella_end_owner_section(&section);
	trovella_spi_finish(&spi);
	trovella_audit_record_status(fcinfo, relid, "disable_audit");
	PG_RETURN_VOID();
}

Datum
trovella_audit_table_drop(PG_FUNCTION_ARGS)
{
	OwnerSection section;
	SpiSection	spi;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trovella: audit_table_drop() must be an event trigger")));
	trovella_spi_connect(&spi);
	trovella_begin_owner_section(fcinfo, &section);
	if (SPI_execute_plan(trovella_keep_plan(&forget_plan,
											"UPDATE trovella.audit_table t SET relid = NULL, enabled = false"
											" FROM (SELECT DISTINCT d.objid FROM pg_catalog.pg_event_trigger_dropped_objects() d"
											"  WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
											"  AND d.objsubid OPERATOR(pg_catalog.=) 0) d"
											" WHERE t.relid::pg_catalog.oid OPERATOR(pg_catalog.=) d.objid"
											" RETURNING t.id, d.objid",
											0, NULL),
						 NULL, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "could not update trovella.audit_table");
	/* a Citus conversion's new table may take them over (audit_convert.c) */
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		trovella_audit_note_forgotten(DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
																  SPI_tuptable->tupdesc, 1, &isnull)),
									  DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
																	 SPI_tuptable->tupdesc, 2, &isnull)));
	}
	trovella_end_owner_section(&section);
	trovella_spi_finish(&spi);
	PG_RETURN_NULL();
}

/*
 * A table made to inherit from an audited table (or from one of its tree)
 * would have its rows changed through the parent unrecorded: PostgreSQL
 * gives an INHERITS child none of its parent's triggers.  Refused.
 */
static void
refuse_audited_parent(Oid child)
{
	ListCell   *lc;

	if (get_rel_relispartition(child))
		return;
	foreach(lc, inheritance_parents(child))
	{
		Oid			parent = lfirst_oid(lc);

		if (is_audited(parent) || OidIsValid(audited_ancestor(parent)))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("trovella: %s cannot inherit from audited table %s",
							get_rel_name(child), get_rel_name(parent)),
					 errdetail("PostgreSQL gives a child of INHERITS none of its parent's triggers: its rows would change unrecorded."),
					 errhint("Use declarative partitioning.")));
	}
}

/*
 * The partition a command adds to a tree: CREATE TABLE ... PARTITION OF
 * (the command's table) or ALTER TABLE ... ATTACH PARTITION (each one it
 * attaches); InvalidOid for any other command (a restore's ALTER TABLE ...
 * ADD CONSTRAINT, say, which must leave the triggers to the restore).
 */
/* Whether a command made its table inherit (INHERITS, ALTER TABLE ... INHERIT). */
static bool
added_inheritance(CollectedCommand *cmd)
{
	ListCell   *lc;

	if (cmd->type == SCT_Simple && cmd->parsetree != NULL && IsA(cmd->parsetree, CreateStmt))
		return ((CreateStmt *) cmd->parsetree)->inhRelations != NIL &&
			((CreateStmt *) cmd->parsetree)->partbound == NULL;
	if (cmd->type != SCT_AlterTable)
		return false;
	foreach(lc, cmd->d.alterTable.subcmds)
	{
		AlterTableCmd *at = (AlterTableCmd *) ((CollectedATSubcmd *) lfirst(lc))->parsetree;

		if (at != NULL && IsA(at, AlterTableCmd) && at->subtype == AT_AddInherit)
			return true;
	}
	return false;
}

static List *
added_partitions(Oid objid, CollectedCommand *cmd)
{
	List	   *added = NIL;
	ListCell   *lc;

	if (cmd->type == SCT_Simple && cmd->parsetree != NULL &&
		IsA(cmd->parsetree, CreateStmt) && ((CreateStmt *) cmd->parsetree)->partbound != NULL)
		return list_make1_oid(objid);
	if (cmd->type != SCT_AlterTable)
		return NIL;
	foreach(lc, cmd->d.alterTable.subcmds)
	{
		CollectedATSubcmd *sub = lfirst(lc);
		AlterTableCmd *at = (AlterTableCmd *) sub->parsetree;
		Oid			partition;

		if (at == NULL || !IsA(at, AlterTableCmd) || at->subtype != AT_AttachPartition)
			continue;
		/* named as the statement named it: under the caller's search path */
		partition = RangeVarGetRelid(((PartitionCmd *) at->def)->name, NoLock, true);
		if (OidIsValid(partition))
			added = lappend_oid(added, partition);
	}
	return added;
}

/*
 * After CREATE TABLE and ALTER TABLE: a partition created in or attached to
 * an audited tree gets its TRUNCATE trigger (and its partitions theirs),
 * which PostgreSQL does not clone (the row trigger it does).  Run as
 * whoever ran the statement, who owns the partition.
 */
Datum
trovella_audit_partitions(PG_FUNCTION_ARGS)
{
	SpiSection	spi;
	MemoryContext outer = CurrentMemoryContext;
	uint64		n;
	Oid		   *objids;
	CollectedCommand **cmds;
	List	   *added = NIL;
	List	   *inheritors = NIL;
	ListCell   *lc;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trovella: audit_partitions() must be an event trigger")));
	trovella_spi_connect(&spi);
	if (SPI_execute_plan(trovella_keep_plan(&created_plan,
											"SELECT c.objid, c.command FROM pg_catalog.pg_event_trigger_ddl_commands() c"
											" WHERE c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
											" AND c.objsubid OPERATOR(pg_catalog.=) 0",
											0, NULL),
						 NULL, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the event's commands");
	n = SPI_processed;
	objids = MemoryContextAlloc(outer, sizeof(Oid) * (n + 1));
	cmds = MemoryContextAlloc(outer, sizeof(CollectedCommand *) * (n + 1));
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		Datum		command;

		objids[i] = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		command = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull);
		/* the event's own memory: valid until the event ends */
		cmds[i] = isnull ? NULL : (CollectedCommand *) DatumGetPointer(command);
	}
	trovella_spi_finish(&spi);
	for (uint64 i = 0; i < n; i++)
		if (cmds[i] != NULL)
		{
			added = list_concat(added, added_partitions(objids[i], cmds[i]));
			if (added_inheritance(cmds[i]))
				inheritors = lappend_oid(inheritors, objids[i]);
		}
	if (added == NIL && inheritors == NIL)
		PG_RETURN_NULL();
	trovella_spi_connect(&spi);
	foreach(lc, inheritors)
		refuse_audited_parent(lfirst_oid(lc));
	foreach(lc, added)
	{
		Oid			relid = lfirst_oid(lc);
		char		relkind = get_rel_relkind(relid);

		if ((relkind == RELKIND_RELATION || relkind == RELKIND_PARTITIONED_TABLE) &&
			OidIsValid(audited_ancestor(relid)))
			create_triggers(relid, 0);
	}
	trovella_spi_finish(&spi);
	PG_RETURN_NULL();
}
