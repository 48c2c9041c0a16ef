/*
 * isolation.c
 *		Settings of the RLS helpers, and the isolation guard.
 *
 * The helpers themselves are SQL in the install scripts: their work is DDL
 * and catalog queries.  The guard is an event trigger on ddl_command_end
 * (any statement) whose function is here, to keep state across a transaction:
 *
 *	off		nothing (but partitions, below)
 *	warn	a WARNING at commit for each table the transaction left with a
 *			tenant column but without isolation
 *	error	the same as an error: the transaction does not commit
 *	auto	isolation is enabled on such a table as soon as the DDL ends, or
 *			the statement where Citus acts on it after (isolation_defer.c); a
 *			tenant column added to a table with rows is refused (tenant_column.c)
 * A table that inherits from one not isolated on its column is judged at
 * commit, isolated or not, in auto as in error (isolation_judge.c).
 *
 * warn and error look at commit, not at the end of each statement, so that
 * the usual migration, CREATE TABLE then enable_tenant_isolation() in one
 * transaction, passes.  Which tables need isolation, and whether they have
 * it, is decided in SQL (isolation_guard_candidates, isolation_guard_problem).
 *
 * A second event trigger, on sql_drop, catches DROP POLICY.  It only ever
 * remembers the table: enable_tenant_isolation() itself drops and recreates
 * the policies, so a dropped policy is judged at commit, where auto acts as
 * error (putting a policy back at commit time is not the guard's place).
 *
 * In every mode, a partition created or attached under an isolated parent,
 * at any depth, is isolated as soon as the DDL ends: it inherits its
 * parent's isolation, as it inherits its columns.
 *
 * On Citus, the guard does not judge what Citus's own backends create on a
 * node (shards, and the copies of distributed tables' definitions): those
 * are the coordinator's table, judged there.
 *
 * Both settings that steer the guard are PGC_SUSET: a mode a database
 * administrator chose is not for an ordinary role's SET to undo.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "commands/policy.h"
#include "nodes/parsenodes.h"
#include "executor/spi.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "citus.h"
#include "isolation.h"
#include "isolation_defer.h"
#include "isolation_judge.h"
#include "residue.h"
#include "statement.h"
#include "subscription.h"

typedef enum IsolationGuardMode
{
	GUARD_OFF,
	GUARD_WARN,
	GUARD_ERROR,
	GUARD_AUTO
} IsolationGuardMode;

static const struct config_enum_entry isolation_guard_modes[] = {
	{"off", GUARD_OFF, false},
	{"warn", GUARD_WARN, false},
	{"error", GUARD_ERROR, false},
	{"auto", GUARD_AUTO, false},
	{NULL, 0, false}
};

static char *tenant_column_setting = NULL;
static int	isolation_guard = GUARD_WARN;

/* True while the guard runs, so that the DDL it issues does not re-enter it. */
static bool guard_running = false;
/*
 * Above zero while enable_tenant_isolation() (or another helper) does its
 * own drop-and-recreate: auto then only remembers the tables, judged at
 * commit like error.  A client can call trovella.isolation_helper() too: the
 * mark only makes the guard stricter (a partition under an isolated parent
 * gets its policies anyway; what the mark covers is judged at commit).
 */
static int	helper_depth = 0;

/* Tables to look at when the transaction commits, in TopTransactionContext. */
static List *pending_tables = NIL;

/* The guard's queries, planned once per backend. */
static SPIPlanPtr candidates_plan = NULL;
static SPIPlanPtr dropped_plan = NULL;

/* At a transaction's end (hooks.c): judge the remembered tables. */
void
trovella_isolation_xact(XactEvent event)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (pending_tables != NIL)
			{
				List	   *tables = pending_tables;

				pending_tables = NIL;
				if (isolation_guard != GUARD_OFF)
					trovella_judge_tables(tables, isolation_guard == GUARD_WARN ? WARNING : ERROR);
			}
			break;
		default:
			/* the list lived in the transaction's memory */
			pending_tables = NIL;
			helper_depth = 0;
			break;
	}
}

void
IsolationInit(void)
{
	DefineCustomStringVariable("trovella.tenant_column",
							   gettext_noop("Column name that marks a table as tenant-scoped for trovella.isolation_status and the isolation guard."),
							   NULL,
							   &tenant_column_setting,
							   "tenant_id",
							   PGC_SUSET,
							   0,
							   NULL,
							   NULL,
							   NULL);

	DefineCustomEnumVariable("trovella.isolation_guard",
							 gettext_noop("What to do about DDL that leaves a table with a tenant column but without tenant isolation: off, warn, error or auto."),
							 NULL,
							 &isolation_guard,
							 GUARD_WARN,
							 isolation_guard_modes,
							 PGC_SUSET,
							 0,
							 NULL,
							 NULL,
							 NULL);
}

/* Whether the guard is in auto (tenant_column.c). */
bool
trovella_isolation_guard_auto(void)
{
	return isolation_guard == GUARD_AUTO;
}

/* The tenant column's name (trovella.tenant_column). */
const char *
trovella_tenant_column(void)
{
	return tenant_column_setting;
}

/* Remember a table until commit (isolation_judge.c judges each once). */
static void
remember_table(Oid relid)
{
	MemoryContext old;

	/* a table's statements come in a row; the rest is sorted out at commit */
	if (pending_tables != NIL && llast_oid(pending_tables) == relid)
		return;
	old = MemoryContextSwitchTo(TopTransactionContext);
	pending_tables = lappend_oid(pending_tables, relid);
	MemoryContextSwitchTo(old);
}

/*
 * Whether an existing table could need the guard: it has the tenant column,
 * takes part in partitioning, has children, or carries a trovella policy.
 */
static bool
table_may_need_guard(Oid relid)
{
	char		relkind;

	if (!OidIsValid(relid))
		return true;
	if (get_attnum(relid, tenant_column_setting) != InvalidAttrNumber)
		return true;
	relkind = get_rel_relkind(relid);
	if (relkind == RELKIND_PARTITIONED_TABLE || get_rel_relispartition(relid) ||
		has_subclass(relid))
		return true;
	return OidIsValid(get_relation_policy_oid(relid, "trovella_tenant_isolation", true)) ||
		OidIsValid(get_relation_policy_oid(relid, "trovella_tenant_access", true));
}

/*
 * A cheap look at the statement before any SQL runs.  The event trigger
 * fires on every DDL statement (a list of tags missed CREATE SCHEMA, ALTER
 * TYPE, IMPORT FOREIGN SCHEMA); these cannot create a table, give one a
 * column or take a policy away.  Anything else is checked in full.
 */
static const NodeTag passed_over[] = {
	T_IndexStmt, T_ReindexStmt, T_CreateFunctionStmt, T_AlterFunctionStmt, T_CommentStmt, T_GrantStmt,
	T_AlterDefaultPrivilegesStmt, T_CreateSeqStmt, T_AlterSeqStmt, T_ViewStmt, T_DefineStmt,
	T_CompositeTypeStmt, T_CreateEnumStmt, T_AlterEnumStmt, T_CreateDomainStmt, T_CreateStatsStmt,
	T_CreateTrigStmt, T_CreateExtensionStmt, T_AlterExtensionStmt};
static bool
command_may_need_guard(Node *parsetree)
{
	if (IsA(parsetree, CreateStmt))
	{
		CreateStmt *stmt = (CreateStmt *) parsetree;
		ListCell   *lc;

		if (stmt->partbound != NULL || stmt->inhRelations != NIL || stmt->ofTypename != NULL)
			return true;
		foreach(lc, stmt->tableElts)
		{
			Node	   *element = lfirst(lc);

			if (IsA(element, TableLikeClause))
				return true;
			if (IsA(element, ColumnDef) &&
				strcmp(((ColumnDef *) element)->colname, tenant_column_setting) == 0)
				return true;
		}
		return false;
	}
	if (IsA(parsetree, AlterTableStmt))
		return table_may_need_guard(RangeVarGetRelid(((AlterTableStmt *) parsetree)->relation,
													 NoLock, true));

	for (size_t i = 0; i < lengthof(passed_over); i++)
		if (nodeTag(parsetree) == passed_over[i])
			return false;
	return true;
}

/*
 * Run one of the guard's queries (planned once per backend) and return the
 * tables it lists with their tenant columns (a row with a NULL is skipped),
 * copied out of the result: the arrays live in the caller's SPI
 * connection, until its SPI_finish().
 */
static uint64
guard_tables(SPIPlanPtr *plan, const char *query, Oid **tables, Datum **columns)
{
	uint64		count;
	uint64		i;

	if (SPI_execute_plan(trovella_keep_plan(plan, query, 0, NULL),
						 NULL, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list tables for the isolation guard");
	*tables = palloc(sizeof(Oid) * Max(SPI_processed, 1));
	*columns = palloc(sizeof(Datum) * Max(SPI_processed, 1));
	count = 0;
	for (i = 0; i < SPI_processed; i++)
	{
		bool		table_null;
		bool		column_null;
		Datum		table = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &table_null);
		Datum		column = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &column_null);

		if (table_null || column_null)
			continue;
		(*tables)[count] = DatumGetObjectId(table);
		(*columns)[count] = datumCopy(column, false, NAMEDATALEN);
		count++;
	}
	return count;
}

/*
 * Whether a table is a partition of an isolated table: it inherits the
 * isolation at once, in every guard mode (a partition is read through its
 * parent, but also directly, where only its own policies apply).
 */
static bool
parent_isolated(Oid relid)
{
	Oid			parent;

	if (!get_rel_relispartition(relid))
		return false;
	parent = get_partition_parent(relid, true);
	return OidIsValid(get_relation_policy_oid(parent, "trovella_tenant_isolation", true)) &&
		OidIsValid(get_relation_policy_oid(parent, "trovella_tenant_access", true));
}

/*
 * The table a statement makes inherit from another (CREATE TABLE ...
 * INHERITS or PARTITION OF, ALTER TABLE ... INHERIT or ATTACH PARTITION),
 * or InvalidOid: judged at commit, isolated or not, in every mode but off.
 */
static Oid
inheriting_table(Node *parsetree)
{
	ListCell   *lc;

	if (IsA(parsetree, CreateForeignTableStmt))
		parsetree = (Node *) &((CreateForeignTableStmt *) parsetree)->base;
	if (IsA(parsetree, CreateStmt))
	{
		CreateStmt *stmt = (CreateStmt *) parsetree;

		if (stmt->inhRelations != NIL)
			return RangeVarGetRelid(stmt->relation, NoLock, true);
		return InvalidOid;
	}
	if (!IsA(parsetree, AlterTableStmt))
		return InvalidOid;
	foreach(lc, ((AlterTableStmt *) parsetree)->cmds)
	{
		AlterTableCmd *cmd = lfirst(lc);

		if (cmd->subtype == AT_AddInherit)
			return RangeVarGetRelid(((AlterTableStmt *) parsetree)->relation, NoLock, true);
		if (cmd->subtype == AT_AttachPartition && IsA(cmd->def, PartitionCmd))
			return RangeVarGetRelid(((PartitionCmd *) cmd->def)->name, NoLock, true);
	}
	return InvalidOid;
}

/*
 * Remembers a table that others inherit from, when a statement changed it
 * or its policies: at commit what inherits from it is judged again (a
 * parent that lost its tenant column, then its RLS, exposes its children).
 */
static void
remember_if_parent(Oid relid)
{
	if (OidIsValid(relid) && SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)) &&
		has_subclass(relid))
		remember_table(relid);
}

/* The table a statement alters, or whose policy it creates or alters. */
static Oid
changed_table(Node *parsetree)
{
	RangeVar   *relation = NULL;

	if (IsA(parsetree, AlterTableStmt))
		relation = ((AlterTableStmt *) parsetree)->relation;
	else if (IsA(parsetree, CreatePolicyStmt))
		relation = ((CreatePolicyStmt *) parsetree)->table;
	else if (IsA(parsetree, AlterPolicyStmt))
		relation = ((AlterPolicyStmt *) parsetree)->table;
	return relation == NULL ? InvalidOid : RangeVarGetRelid(relation, NoLock, true);
}

/* The tables of the policies a DROP POLICY names (that still exist). */
static List *
dropped_policy_tables(Node *parsetree)
{
	List	   *tables = NIL;
	ListCell   *lc;

	if (!IsA(parsetree, DropStmt) || ((DropStmt *) parsetree)->removeType != OBJECT_POLICY)
		return NIL;
	foreach(lc, ((DropStmt *) parsetree)->objects)
	{
		/* the policy's name, qualified by its table's */
		List	   *names = lfirst(lc);
		RangeVar   *table = makeRangeVarFromNameList(list_truncate(list_copy(names),
																   list_length(names) - 1));

		tables = lappend_oid(tables, RangeVarGetRelid(table, NoLock, true));
	}
	return tables;
}

/* Whether the statement (or an element of CREATE SCHEMA) adds a partition. */
static bool
adds_partition(Node *parsetree)
{
	ListCell   *lc;

	if (IsA(parsetree, CreateSchemaStmt))
	{
		foreach(lc, ((CreateSchemaStmt *) parsetree)->schemaElts)
			if (adds_partition(lfirst(lc)))
				return true;
		return false;
	}
	if (IsA(parsetree, CreateStmt))
		return ((CreateStmt *) parsetree)->partbound != NULL;
	if (!IsA(parsetree, AlterTableStmt))
		return false;
	foreach(lc, ((AlterTableStmt *) parsetree)->cmds)
		if (((AlterTableCmd *) lfirst(lc))->subtype == AT_AttachPartition)
			return true;
	return false;
}

/*
 * The statements enable_tenant_isolation() runs on each table, seen while
 * it runs (helper_depth): judged at commit without a query now, which on a
 * partitioned table would look at the whole tree after every statement.
 * ENABLE and FORCE ROW LEVEL SECURITY and a column's default cannot take
 * isolation away, so they are not even remembered; a policy created or
 * dropped is, by its table.  Anything else goes the usual way, so a faked
 * isolation_helper(true) gains nothing.  Returns false for anything else.
 */
static bool
remember_helper_statement(Node *parsetree)
{
	ListCell   *lc;

	if (IsA(parsetree, CreatePolicyStmt))
	{
		remember_table(RangeVarGetRelid(((CreatePolicyStmt *) parsetree)->table, NoLock, false));
		return true;
	}
	if (IsA(parsetree, DropStmt) && ((DropStmt *) parsetree)->removeType == OBJECT_POLICY)
	{
		foreach(lc, dropped_policy_tables(parsetree))
			remember_table(lfirst_oid(lc));
		return true;
	}
	if (!IsA(parsetree, AlterTableStmt))
		return false;
	foreach(lc, ((AlterTableStmt *) parsetree)->cmds)
	{
		AlterTableType subtype = ((AlterTableCmd *) lfirst(lc))->subtype;

		if (subtype != AT_EnableRowSecurity && subtype != AT_ForceRowSecurity &&
			subtype != AT_ColumnDefault)
			return false;
	}
	return true;
}

/* The isolation guard: event trigger on ddl_command_end. */
PG_FUNCTION_INFO_V1(trovella_isolation_guard);
Datum
trovella_isolation_guard(PG_FUNCTION_ARGS)
{
	SpiSection	spi;
	Node	   *parsetree;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "trovella_isolation_guard: not fired by the event trigger manager");
	parsetree = ((EventTriggerData *) fcinfo->context)->parsetree;

	/* what a tenant transaction may write into and keep (residue.c) */
	trovella_note_created_table(parsetree);

	/*
	 * Extensions manage their own tables; the guard's own DDL is settled;
	 * the shards Citus makes of a table are judged as that table, on the
	 * coordinator (and their policies checked by isolation_status there).
	 */
	if (guard_running || creating_extension || trovella_citus_internal_backend() ||
		!command_may_need_guard(parsetree) ||
		(isolation_guard == GUARD_OFF && !adds_partition(parsetree)))
		PG_RETURN_VOID();
	if (helper_depth > 0 && isolation_guard != GUARD_OFF &&
		remember_helper_statement(parsetree))
		PG_RETURN_VOID();

	guard_running = true;
	PG_TRY();
	{
		uint64		count;
		Oid		   *tables;
		Datum	   *columns;
		uint64		i;
		ListCell   *lc;

		trovella_spi_connect(&spi);
		count = guard_tables(&candidates_plan,
							 "SELECT tbl, tenant_column FROM trovella.isolation_guard_candidates()",
							 &tables, &columns);
		for (i = 0; i < count; i++)
		{
			/*
			 * A partition under an isolated parent is isolated at once, in
			 * every mode; else auto isolates (after the statement where
			 * Citus acts on it then), the others judge at commit. One that
			 * inherits is judged at commit too (CREATE SCHEMA). Citus's
			 * placements here are judged as their table, by OID.
			 */
			bool		inherit;

			if (trovella_citus_is_shard(tables[i]))
				continue;
			inherit = parent_isolated(tables[i]);
			if (isolation_guard == GUARD_OFF && !inherit)
				continue;
			/* row-level security cannot apply to a foreign table: judged at commit */
			if (get_rel_relkind(tables[i]) == RELKIND_FOREIGN_TABLE)
			{
				if (isolation_guard != GUARD_OFF)
					remember_table(tables[i]);
				continue;
			}
			if (!inherit && isolation_guard == GUARD_AUTO && helper_depth == 0 &&
				trovella_isolation_defer(tables[i], columns[i]))
				continue;
			if (inherit || (isolation_guard == GUARD_AUTO && helper_depth == 0))
			{
				Oid			argtypes[2] = {REGCLASSOID, NAMEOID};
				Datum		values[2] = {ObjectIdGetDatum(tables[i]), columns[i]};

				if (SPI_execute_with_args("SELECT trovella.enable_tenant_isolation($1, $2)",
										  2, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
					elog(ERROR, "could not enable tenant isolation");
				if (has_superclass(tables[i]))
					remember_table(tables[i]);
			}
			else
				remember_table(tables[i]);
		}
		if (isolation_guard != GUARD_OFF)	/* rows reach them without DDL */
			foreach(lc, trovella_subscription_tables(parsetree))
				remember_table(lfirst_oid(lc));
		trovella_spi_finish(&spi);
		if (isolation_guard != GUARD_OFF)
		{
			if (OidIsValid(inheriting_table(parsetree)))
				remember_table(inheriting_table(parsetree));
			remember_if_parent(changed_table(parsetree));
		}
	}
	PG_FINALLY();
	{
		guard_running = false;
	}
	PG_END_TRY();
	PG_RETURN_VOID();
}

/*
 * The isolation guard on sql_drop (DROP POLICY): the tables that lost a
 * policy and with it their isolation are judged at commit, in every mode.
 */
PG_FUNCTION_INFO_V1(trovella_isolation_guard_drop);
Datum
trovella_isolation_guard_drop(PG_FUNCTION_ARGS)
{
	SpiSection	spi;
	uint64		count;
	Oid		   *tables;
	Datum	   *columns;
	uint64		i;
	ListCell   *lc;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "trovella_isolation_guard_drop: not fired by the event trigger manager");
	if (isolation_guard == GUARD_OFF || guard_running || creating_extension ||
		trovella_citus_internal_backend())
		PG_RETURN_VOID();
	if (helper_depth > 0 &&
		remember_helper_statement(((EventTriggerData *) fcinfo->context)->parsetree))
		PG_RETURN_VOID();

	trovella_spi_connect(&spi);
	count = guard_tables(&dropped_plan,
						 "SELECT tbl, tenant_column FROM trovella.isolation_guard_dropped()",
						 &tables, &columns);
	for (i = 0; i < count; i++)
		remember_table(tables[i]);
	trovella_spi_finish(&spi);
	foreach(lc, dropped_policy_tables(((EventTriggerData *) fcinfo->context)->parsetree))
		remember_if_parent(lfirst_oid(lc));
	PG_RETURN_VOID();
}

/*
 * isolation_helper(running boolean): enable_tenant_isolation() says when its
 * own DDL begins and ends (see helper_depth).
 */
PG_FUNCTION_INFO_V1(trovella_isolation_helper);
Datum
trovella_isolation_helper(PG_FUNCTION_ARGS)
{
	if (PG_GETARG_BOOL(0))
		helper_depth++;
	else if (helper_depth > 0)
		helper_depth--;
	PG_RETURN_VOID();
}

/* A rolled-back subtransaction may have left a helper half done. */
void
trovella_isolation_subxact(SubXactEvent event)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		helper_depth = 0;
}
