/*
 * audit_convert.c
 *		The audit trail through what Citus does to an audited table after
 *		enable_audit: a conversion that would shard it apart from the
 *		history, a conversion that replaces it by a new table, a partition
 *		added to it.
 *
 * - A table sharded apart from trovella.audit_history cannot record: its
 *	 shards' records would go to a history shard on another node, and Citus
 *	 refuses its writes (XX000).  create_distributed_table,
 *	 alter_distributed_table and update_distributed_table_colocation of an
 *	 audited table into another colocation group than the history's are
 *	 refused (0A000) when the transaction commits: Citus's functions run no
 *	 statement trovella sees on the coordinator, but each invalidates the
 *	 table's relation cache, which is noted here; at pre-commit the tables
 *	 whose pg_dist_partition row this transaction wrote are judged (every
 *	 audited table where it wrote the history's: the history moved away).
 * - A Citus conversion (undistribute_table, alter_distributed_table) makes a
 *	 new table, drops the old one, renames the new one to its name and only
 *	 then gives it the old one's triggers.  The new table takes over the old
 *	 one's registration when trovella's row trigger is made on it
 *	 (audit_watch.c), where the trigger is the one enable_audit makes (its
 *	 function, events, no WHEN, no columns), names that registration and
 *	 the table's name, and the old table was dropped in the same
 *	 transaction while Citus managed it (pg_dist_partition listed it when
 *	 its DROP began).  A local table dropped and made again, however its
 *	 trigger is made, does not: its registration stays dropped.
 * - A partition created in, or attached to, an audited distributed table
 *	 gets trovella's TRUNCATE trigger (audit_sql.c), which Citus refuses to
 *	 distribute unless citus.enable_unsafe_triggers is on: it is, for that
 *	 statement only.
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_type.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "nodes/parsenodes.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "audit.h"
#include "citus.h"
#include "statement.h"

/*
 * Whether a relation's cache was invalidated in this transaction (by it or
 * by another backend): the cheap sign that Citus's metadata may have changed.
 */
static bool noted = false;

/* Registrations whose table, one Citus managed, this transaction dropped. */
#define FORGOTTEN_MAX 32
static int32 forgotten[FORGOTTEN_MAX];
static int	nforgotten = 0;

/* Tables Citus managed when this transaction began to drop them. */
#define CONVERTED_MAX 32
static Oid	converted[CONVERTED_MAX];
static int	nconverted = 0;

void
trovella_audit_note_relation(Oid relid)
{
	noted = true;
}

/*
 * The registration table_id lost its table, relid: noted for a conversion's
 * new table to take over only where Citus managed relid when its DROP began.
 */
void
trovella_audit_note_forgotten(int32 table_id, Oid relid)
{
	for (int i = 0; i < nconverted; i++)
		if (converted[i] == relid)
		{
			if (nforgotten < FORGOTTEN_MAX)
				forgotten[nforgotten++] = table_id;
			return;
		}
}

/* Before DROP TABLE: note the tables Citus manages among those dropped. */
static void
note_converted(DropStmt *drop)
{
	ListCell   *lc;

	foreach(lc, drop->objects)
	{
		Oid			relid = RangeVarGetRelid(makeRangeVarFromNameList(lfirst(lc)),
											 NoLock, true);

		if (OidIsValid(relid) && nconverted < CONVERTED_MAX &&
			trovella_citus_managed(relid))
			converted[nconverted++] = relid;
	}
}

/* Whether trigger is the row trigger enable_audit makes. */
static bool
audit_row_trigger(const Trigger *trigger)
{
	return strcmp(trigger->tgname, "trovella_audit") == 0 && trigger->tgnargs == 2 &&
		trigger->tgtype == (TRIGGER_TYPE_ROW | TRIGGER_TYPE_AFTER | TRIGGER_TYPE_INSERT |
							TRIGGER_TYPE_UPDATE | TRIGGER_TYPE_DELETE) &&
		trigger->tgqual == NULL && trigger->tgnattr == 0 &&
		get_func_nargs(trigger->tgfoid) == 0 &&
		strcmp(get_func_name(trigger->tgfoid), "audit_row") == 0 &&
		get_func_namespace(trigger->tgfoid) == get_namespace_oid("trovella", false);
}

/* The history's relation, or InvalidOid where the extension is not at 0.5.0. */
static Oid
history_relation(void)
{
	Oid			nsp = get_namespace_oid("trovella", true);

	if (!OidIsValid(nsp) || !OidIsValid(get_relname_relid("audit_table", nsp)))
		return InvalidOid;
	return get_relname_relid("audit_history", nsp);
}

/*
 * At pre-commit: an audited table whose Citus metadata this transaction
 * wrote must still be co-located with the history, and every audited table
 * must be when the transaction wrote the history's own.  An invalidation
 * only says that something may have changed, and other backends' come here
 * too: what this transaction wrote in pg_dist_partition is what is judged.
 */
static void
refuse_sharded_apart(void)
{
	Oid			history = history_relation();
	Oid			argtypes[2] = {OIDARRAYOID, BOOLOID};
	Datum		values[2];
	Datum	   *elems;
	int			n = 0;
	bool		all = false;
	List	   *written;
	List	   *apart = NIL;
	SpiSection	spi;
	ListCell   *lc;

	if (!OidIsValid(history))
		return;
	written = trovella_citus_written_tables();
	if (written == NIL)
		return;
	elems = palloc(sizeof(Datum) * list_length(written));
	foreach(lc, written)
	{
		elems[n++] = ObjectIdGetDatum(lfirst_oid(lc));
		all = all || lfirst_oid(lc) == history;
	}
	values[0] = PointerGetDatum(construct_array(elems, n, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
	values[1] = BoolGetDatum(all);
	/* at pre-commit no statement holds a snapshot for the queries */
	PushActiveSnapshot(GetTransactionSnapshot());
	trovella_spi_connect(&spi);
	if (SPI_execute_with_args("SELECT t.relid::pg_catalog.oid FROM trovella.audit_table t"
							  " WHERE t.enabled AND t.relid IS NOT NULL"
							  " AND ($2 OR t.relid::pg_catalog.oid OPERATOR(pg_catalog.=) ANY ($1))",
							  2, argtypes, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read trovella.audit_table");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		apart = lappend_oid(apart, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
																  SPI_tuptable->tupdesc, 1, &isnull)));
	}
	trovella_spi_finish(&spi);
	foreach(lc, apart)
	{
		Oid			relid = lfirst_oid(lc);

		if (trovella_citus_sharded_apart(relid, history))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("trovella: audited table %s cannot be sharded apart from trovella.audit_history",
							get_rel_name(relid)),
					 errdetail("Each shard records its changes into the history on its own node: Citus would refuse its writes."),
					 errhint("Distribute it with colocate_with => 'trovella.audit_history' (after trovella.distribute_audit), or call trovella.disable_audit first.")));
	}
	PopActiveSnapshot();
}

void
trovella_audit_xact(XactEvent event)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (noted && trovella_citus_loaded() &&
				FullTransactionIdIsValid(GetTopFullTransactionIdIfAny()))
				refuse_sharded_apart();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			noted = false;
			nforgotten = 0;
			nconverted = 0;
			break;
		default:
			break;
	}
}

/*
 * A trigger made on relid: where its trovella row trigger, made as
 * enable_audit makes it, names a registration whose table, one Citus
 * managed, this transaction dropped, and names it by the table's name, the
 * table takes the registration over (the new table of a Citus conversion).
 * Returns whether it did; as the extension's owner.
 */
bool
trovella_audit_adopt(FunctionCallInfo fcinfo, Oid relid)
{
	Relation	rel;
	TriggerDesc *triggers;
	int32		table_id = 0;
	char	   *name;
	bool		adopted = false;
	Oid			argtypes[3] = {INT4OID, OIDOID, TEXTOID};
	Datum		values[3];
	OwnerSection section;
	SpiSection	spi;

	if (nforgotten == 0 || !trovella_citus_loaded())
		return false;
	name = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
	rel = relation_open(relid, AccessShareLock);
	triggers = rel->trigdesc;
	for (int i = 0; triggers != NULL && i < triggers->numtriggers; i++)
	{
		Trigger    *trigger = &triggers->triggers[i];

		if (audit_row_trigger(trigger) && strcmp(trigger->tgargs[1], name) == 0)
			table_id = pg_strtoint32(trigger->tgargs[0]);
	}
	relation_close(rel, AccessShareLock);
	for (int i = 0; i < nforgotten && !adopted; i++)
		adopted = table_id != 0 && forgotten[i] == table_id;
	if (!adopted)
		return false;

	values[0] = Int32GetDatum(table_id);
	values[1] = ObjectIdGetDatum(relid);
	values[2] = CStringGetTextDatum(name);
	trovella_spi_connect(&spi);
	trovella_begin_owner_section(fcinfo, &section);
	if (SPI_execute_with_args("UPDATE trovella.audit_table SET relid = $2::pg_catalog.regclass, enabled = true"
							  " WHERE id OPERATOR(pg_catalog.=) $1 AND relid IS NULL"
							  " AND name OPERATOR(pg_catalog.=) $3",
							  3, argtypes, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update trovella.audit_table");
	adopted = SPI_processed == 1;
	trovella_end_owner_section(&section);
	trovella_spi_finish(&spi);
	return adopted;
}

/*
 * Before CREATE TABLE ... PARTITION OF or ALTER TABLE ... ATTACH PARTITION
 * of a table Citus distributes, which is audited: Citus may take the new
 * partition's TRUNCATE trigger.  Returns the GUC level to end, or -1.
 */
int
trovella_audit_utility_before(Node *stmt)
{
	RangeVar   *parent = NULL;
	Oid			relid;
	SpiSection	spi;
	Oid			argtypes[1] = {OIDARRAYOID};
	Datum		values[1];
	List	   *tree;
	Datum	   *elems;
	int			n = 0;
	bool		audited;
	ListCell   *lc;

	if (stmt == NULL || !trovella_citus_loaded())
		return -1;
	if (IsA(stmt, DropStmt) && ((DropStmt *) stmt)->removeType == OBJECT_TABLE &&
		OidIsValid(history_relation()))
	{
		note_converted((DropStmt *) stmt);
		return -1;
	}
	if (IsA(stmt, CreateStmt) && ((CreateStmt *) stmt)->partbound != NULL &&
		((CreateStmt *) stmt)->inhRelations != NIL)
		parent = linitial(((CreateStmt *) stmt)->inhRelations);
	else if (IsA(stmt, AlterTableStmt))
	{
		foreach(lc, ((AlterTableStmt *) stmt)->cmds)
		{
			AlterTableCmd *cmd = lfirst(lc);

			if (IsA(cmd, AlterTableCmd) && cmd->subtype == AT_AttachPartition)
				parent = ((AlterTableStmt *) stmt)->relation;
		}
	}
	if (parent == NULL || !OidIsValid(history_relation()))
		return -1;
	relid = RangeVarGetRelid(parent, NoLock, true);
	if (!OidIsValid(relid) || !trovella_citus_managed(relid))
		return -1;
	tree = lcons_oid(relid, get_partition_ancestors(relid));
	elems = palloc(sizeof(Datum) * list_length(tree));
	foreach(lc, tree)
		elems[n++] = ObjectIdGetDatum(lfirst_oid(lc));
	values[0] = PointerGetDatum(construct_array(elems, n, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
	trovella_spi_connect(&spi);
	if (SPI_execute_with_args("SELECT FROM trovella.audit_table t WHERE t.enabled"
							  " AND t.relid::pg_catalog.oid OPERATOR(pg_catalog.=) ANY ($1)",
							  1, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read trovella.audit_table");
	audited = SPI_processed > 0;
	trovella_spi_finish(&spi);
	return audited ? trovella_citus_allow_triggers() : -1;
}

void
trovella_audit_utility_after(int level)
{
	trovella_citus_end_triggers(level);
}
