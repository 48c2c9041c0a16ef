/*
 * audit_watch.c
 *		The history of the recording itself: whenever a statement may have
 *		changed whether an audited table is recorded (its triggers enabled,
 *		disabled, made, altered or dropped, or enable_audit and
 *		disable_audit), a record of no tenant, operation 'A', says which
 *		statement, by whom, and whether the table is recorded after it.  An
 *		owner who turns the triggers off, writes and turns them on again
 *		leaves that gap in the history.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "nodes/parsenodes.h"
#include "tcop/deparse_utility.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "audit.h"
#include "compat.h"
#include "statement.h"

PG_FUNCTION_INFO_V1(trovella_audit_watch);
PG_FUNCTION_INFO_V1(trovella_audit_watch_drop);

bool		trovella_audit_unwatched = false;

static SPIPlanPtr status_plan = NULL;

/*
 * The audited table relid is, or is a partition of, with its id and
 * whether it is recorded now: false if none.
 */
static bool
audited_status(Oid relid, int32 *table_id, bool *recording)
{
	List	   *candidates = lcons_oid(relid, get_partition_ancestors(relid));
	Oid			argtypes[1] = {OIDOID};
	ListCell   *lc;

	foreach(lc, candidates)
	{
		Datum		values[1] = {ObjectIdGetDatum(lfirst_oid(lc))};
		bool		isnull;

		if (SPI_execute_plan(trovella_keep_plan(&status_plan,
												"SELECT t.id, coalesce(s.recording, false)"
												" FROM trovella.audit_table t"
												" LEFT JOIN trovella.audit_status s ON s.table_name OPERATOR(pg_catalog.=) t.relid"
												" WHERE t.relid::pg_catalog.oid OPERATOR(pg_catalog.=) $1",
												1, argtypes),
							 values, NULL, false, 1) != SPI_OK_SELECT)	/* (sees the statement's own change) */
			elog(ERROR, "could not read trovella.audit_table");
		if (SPI_processed == 1)
		{
			*table_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
			*recording = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
			return true;
		}
	}
	return false;
}

void
trovella_audit_record_status(FunctionCallInfo fcinfo, Oid relid, const char *command)
{
	SpiSection	spi;
	AuditRecord r;
	pg_uuid_t	user;
	bool		recording;
	bool		audited;
	StringInfoData json;

	trovella_spi_connect(&spi);
	audited = audited_status(relid, &r.table_id, &recording);
	trovella_spi_finish(&spi);
	if (!audited)
		return;
	initStringInfo(&json);
	appendStringInfoString(&json, "{\"command\": ");
	escape_json(&json, command);
	appendStringInfo(&json, ", \"table\": ");
	escape_json(&json, get_rel_name(relid) ? get_rel_name(relid) : "");
	appendStringInfo(&json, ", \"recording\": %s}", recording ? "true" : "false");
	r.operation = 'A';
	r.tenant_id = NULL;
	r.row_key = NULL;
	r.old = NULL;
	r.new = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json.data)));
	trovella_audit_attribute(&r, &user);
	trovella_audit_store(fcinfo, &r);
}

/* Whether an ALTER TABLE enabled or disabled triggers. */
static const char *
trigger_subcommand(CollectedCommand *cmd)
{
	ListCell   *lc;

	if (cmd->type != SCT_AlterTable)
		return NULL;
	foreach(lc, cmd->d.alterTable.subcmds)
	{
		AlterTableCmd *at = (AlterTableCmd *) ((CollectedATSubcmd *) lfirst(lc))->parsetree;

		if (at == NULL || !IsA(at, AlterTableCmd))
			continue;
		switch (at->subtype)
		{
			case AT_EnableTrig:
			case AT_EnableAlwaysTrig:
			case AT_EnableTrigAll:
			case AT_EnableTrigUser:
				return "ALTER TABLE ... ENABLE TRIGGER";
			case AT_EnableReplicaTrig:
				return "ALTER TABLE ... ENABLE REPLICA TRIGGER";
			case AT_DisableTrig:
			case AT_DisableTrigAll:
			case AT_DisableTrigUser:
				return "ALTER TABLE ... DISABLE TRIGGER";
			default:
				break;
		}
	}
	return NULL;
}

/*
 * The table of a trigger named like trovella's or calling its functions
 * (whatever it was renamed to), or InvalidOid.
 */
static Oid
audit_trigger_table(Oid trigger)
{
	Relation	triggers = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			relid = InvalidOid;

	/* (pg_trigger has no syscache by OID) */
	ScanKeyInit(&key, Anum_pg_trigger_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(trigger));
	scan = systable_beginscan(triggers, TriggerOidIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		Form_pg_trigger form = (Form_pg_trigger) GETSTRUCT(tuple);
		char	   *function = get_func_name(form->tgfoid);

		if (strncmp(NameStr(form->tgname), "trovella_audit", 14) == 0 ||
			(function != NULL && get_func_namespace(form->tgfoid) == get_namespace_oid("trovella", true) &&
			 (strcmp(function, "audit_row") == 0 || strcmp(function, "audit_truncate") == 0)))
			relid = form->tgrelid;
	}
	systable_endscan(scan);
	table_close(triggers, AccessShareLock);
	return relid;
}

/*
 * After ALTER TABLE (ENABLE or DISABLE TRIGGER), CREATE TRIGGER and ALTER
 * TRIGGER: a status record for each audited table they touched.
 */
Datum
trovella_audit_watch(PG_FUNCTION_ARGS)
{
	SpiSection	spi;
	MemoryContext outer = CurrentMemoryContext;
	List	   *tables = NIL;
	List	   *commands = NIL;
	ListCell   *lc;
	ListCell   *lc2;
	uint64		n;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trovella: audit_watch() must be an event trigger")));
	if (trovella_audit_unwatched)
		PG_RETURN_NULL();
	trovella_spi_connect(&spi);
	if (SPI_execute("SELECT c.classid, c.objid, c.command_tag, c.command"
					" FROM pg_catalog.pg_event_trigger_ddl_commands() c"
					" WHERE c.objsubid OPERATOR(pg_catalog.=) 0", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the event's commands");
	n = SPI_processed;
	for (uint64 i = 0; i < n; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;
		Oid			classid = DatumGetObjectId(SPI_getbinval(t, d, 1, &isnull));
		Oid			objid = DatumGetObjectId(SPI_getbinval(t, d, 2, &isnull));
		char	   *tag = SPI_getvalue(t, d, 3);
		Datum		command = SPI_getbinval(t, d, 4, &isnull);
		const char *what = NULL;
		Oid			relid = InvalidOid;

		if (classid == RelationRelationId && !isnull)
		{
			what = trigger_subcommand((CollectedCommand *) DatumGetPointer(command));
			relid = objid;
		}
		else if (classid == TriggerRelationId)
		{
			relid = audit_trigger_table(objid);
			what = tag;
		}
		if (what != NULL && OidIsValid(relid))
		{
			MemoryContext old = MemoryContextSwitchTo(outer);

			tables = lappend_oid(tables, relid);
			commands = lappend(commands, pstrdup(what));
			MemoryContextSwitchTo(old);
		}
	}
	trovella_spi_finish(&spi);
	forboth(lc, tables, lc2, commands)
	{
		trovella_audit_refuse_shard_gap(lfirst_oid(lc));
		/* the new table of a Citus conversion takes the old one's registration */
		if (strcmp(lfirst(lc2), "CREATE TRIGGER") == 0 && trovella_audit_adopt(fcinfo, lfirst_oid(lc)))
			lfirst(lc2) = "CREATE TRIGGER (a table conversion's new table)";
		trovella_audit_record_status(fcinfo, lfirst_oid(lc), lfirst(lc2));
	}
	PG_RETURN_NULL();
}

/* After DROP TRIGGER of one named like trovella's: its table's status. */
Datum
trovella_audit_watch_drop(PG_FUNCTION_ARGS)
{
	SpiSection	spi;
	MemoryContext outer = CurrentMemoryContext;
	List	   *tables = NIL;
	ListCell   *lc;
	uint64		n;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trovella: audit_watch_drop() must be an event trigger")));
	if (trovella_audit_unwatched)
		PG_RETURN_NULL();
	trovella_spi_connect(&spi);
	/* a trigger's address: its table's schema and name, then its own name */
	if (SPI_execute("SELECT pg_catalog.to_regclass(pg_catalog.quote_ident(d.address_names[1])"
					"  OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(d.address_names[2]))::pg_catalog.oid"
					" FROM pg_catalog.pg_event_trigger_dropped_objects() d"
					" WHERE d.object_type OPERATOR(pg_catalog.=) 'trigger'"
					" AND d.address_names[3] OPERATOR(pg_catalog.~~) 'trovella\\_audit%'", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the dropped objects");
	n = SPI_processed;
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		Datum		relid = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
		{
			MemoryContext old = MemoryContextSwitchTo(outer);

			tables = lappend_oid(tables, DatumGetObjectId(relid));
			MemoryContextSwitchTo(old);
		}
	}
	trovella_spi_finish(&spi);
	foreach(lc, tables)
	{
		trovella_audit_refuse_shard_gap(lfirst_oid(lc));
		trovella_audit_record_status(fcinfo, lfirst_oid(lc), "DROP TRIGGER");
	}
	PG_RETURN_NULL();
}
