/*
 * audit_citus.c
 *		The audit trail on Citus: which tables enable_audit takes there, and
 *		how a shard's trigger on a worker, which has no registry, knows its
 *		table's registration; a shard's recording stopped by hand on a
 *		worker, refused.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

#include "audit.h"
#include "citus.h"
#include "policy_check.h"
#include "statement.h"

/* On Citus, each shard records on its own node: not into another node's history, nor in every copy. */
void
trovella_audit_refuse_citus_placing(Oid relid)
{
	AttrNumber	distribution;
	PolicyCheckCache policies;

	if (trovella_citus_reference_table(relid))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("trovella: enable_audit cannot audit reference table %s", get_rel_name(relid)),
				 errdetail("Every node holds a copy of a reference table, and each copy would record each change.")));
	distribution = trovella_citus_distribution_column(relid);
	memset(&policies, 0, sizeof(policies));
	if (distribution != InvalidAttrNumber && distribution != trovella_isolated_column(relid, &policies))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("trovella: enable_audit cannot audit %s: Citus does not distribute it by its tenant column",
						get_rel_name(relid)),
				 errdetail("A record goes to its tenant's history, on the node of the tenant's rows."),
				 errhint("Isolate it (enable_tenant_isolation) and distribute it by its tenant column.")));
	if (trovella_citus_sharded_apart(relid, get_relname_relid("audit_history",
															   get_namespace_oid("trovella", false))))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("trovella: enable_audit cannot audit %s: trovella.audit_history is not co-located with it",
						get_rel_name(relid)),
				 errdetail("A shard records its changes into the history on its own node."),
				 errhint("Distribute the history by tenant first: SELECT trovella.distribute_audit('%s');",
						 quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), get_rel_name(relid)))));
}

/*
 * Whether relid, or one of its partition ancestors, has the qualified name
 * name on this node.
 */
static bool
named(Oid relid, const char *name)
{
	List	   *relids = lcons_oid(relid, get_partition_ancestors(relid));
	ListCell   *lc;

	foreach(lc, relids)
	{
		Oid			member = lfirst_oid(lc);

		if (strcmp(quote_qualified_identifier(get_namespace_name(get_rel_namespace(member)),
											  get_rel_name(member)), name) == 0)
			return true;
	}
	return false;
}

/*
 * On a Citus worker, which has no registration (the coordinator's registry
 * is the coordinator's), a shard's registration is its trigger's first
 * argument, believed where the second names the table the shard belongs to
 * (by Citus's metadata), or its partitioned ancestor, and that table, on
 * this node, has trovella's enabled trigger with the same arguments: Citus
 * gave both from the coordinator's table.  The name binds the registration
 * to its table: the owner of another table, who can add triggers to that
 * table's copy here, cannot make its changes records of this one.
 */
bool
trovella_audit_shard_registration(Trigger *trigger, Oid table, int32 *table_id)
{
	Oid			argtypes[3] = {OIDOID, TEXTOID, TEXTOID};
	Datum		values[3];
	SpiSection	spi;
	bool		found;

	if (trigger->tgnargs != 2 || !OidIsValid(table) || !named(table, trigger->tgargs[1]))
		return false;
	values[0] = ObjectIdGetDatum(table);
	values[1] = CStringGetTextDatum(trigger->tgargs[0]);
	values[2] = CStringGetTextDatum(trigger->tgargs[1]);
	trovella_spi_connect(&spi);
	if (SPI_execute_with_args("SELECT FROM pg_catalog.pg_trigger g"
							  " WHERE g.tgrelid OPERATOR(pg_catalog.=) $1"
							  " AND g.tgname OPERATOR(pg_catalog.=) 'trovella_audit'"
							  " AND g.tgfoid OPERATOR(pg_catalog.=) 'trovella.audit_row()'::pg_catalog.regprocedure"
							  " AND g.tgtype OPERATOR(pg_catalog.=) 29 AND g.tgqual IS NULL"
							  " AND g.tgenabled OPERATOR(pg_catalog.=) ANY ('{O,A}'::pg_catalog.\"char\"[])"
							  " AND g.tgnargs OPERATOR(pg_catalog.=) 2"
							  " AND g.tgargs OPERATOR(pg_catalog.=) (pg_catalog.convert_to($2, 'UTF8')"
							  "     OPERATOR(pg_catalog.||) '\\x00'::pg_catalog.bytea"
							  "     OPERATOR(pg_catalog.||) pg_catalog.convert_to($3, 'UTF8')"
							  "     OPERATOR(pg_catalog.||) '\\x00'::pg_catalog.bytea)",
							  3, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_trigger");
	found = SPI_processed == 1;
	trovella_spi_finish(&spi);
	if (found)
		*table_id = pg_strtoint32(trigger->tgargs[0]);
	return found;
}


/*
 * Whether this backend changes shards by hand: citus.enable_manual_changes_to_shards
 * on, outside Citus's own backends (which need no setting; Citus tells them by
 * application name, which a client can set too: see the README).
 */
static bool
manual_shard_changes(void)
{
	const char *setting = GetConfigOption("citus.enable_manual_changes_to_shards", true, false);

	return setting != NULL && strcmp(setting, "on") == 0 && !trovella_citus_internal_backend();
}

/*
 * On a worker, a statement changing a shard by hand must leave it with every
 * audit trigger its table has here, enabled: a worker has no registry to
 * record the gap in (55000 otherwise).
 */
void
trovella_audit_refuse_shard_gap(Oid relid)
{
	Oid			argtypes[2] = {OIDOID, OIDOID};
	Datum		values[2];
	SpiSection	spi;
	bool		listed;
	bool		gap;
	Oid			table;

	if (!OidIsValid(relid) || !manual_shard_changes())
		return;
	table = trovella_citus_shard_table(relid, &listed);
	if (!OidIsValid(table))
		return;
	values[0] = ObjectIdGetDatum(table);
	values[1] = ObjectIdGetDatum(relid);
	trovella_spi_connect(&spi);
	if (SPI_execute_with_args("SELECT FROM pg_catalog.pg_trigger t"
							  " WHERE t.tgrelid OPERATOR(pg_catalog.=) $1"
							  " AND t.tgfoid OPERATOR(pg_catalog.=) ANY (ARRAY['trovella.audit_row()'::pg_catalog.regprocedure,"
							  "     'trovella.audit_truncate()'::pg_catalog.regprocedure]::pg_catalog.oid[])"
							  " AND t.tgenabled OPERATOR(pg_catalog.=) ANY ('{O,A}'::pg_catalog.\"char\"[])"
							  " AND NOT EXISTS (SELECT FROM pg_catalog.pg_trigger s"
							  "  WHERE s.tgrelid OPERATOR(pg_catalog.=) $2 AND s.tgfoid OPERATOR(pg_catalog.=) t.tgfoid"
							  /* the same events, columns and arguments, no WHEN: one that never fires is no trigger */
							  "  AND s.tgtype OPERATOR(pg_catalog.=) t.tgtype AND s.tgattr OPERATOR(pg_catalog.=) t.tgattr"
							  "  AND s.tgargs OPERATOR(pg_catalog.=) t.tgargs AND s.tgqual IS NULL"
							  "  AND s.tgenabled OPERATOR(pg_catalog.=) ANY ('{O,A}'::pg_catalog.\"char\"[]))",
							  2, argtypes, values, NULL, false, 1) != SPI_OK_SELECT)	/* (sees the statement's own change) */
		elog(ERROR, "could not read pg_trigger");
	gap = SPI_processed > 0;
	trovella_spi_finish(&spi);
	if (gap)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("trovella: shard %s of audited table %s cannot stop recording",
						get_rel_name(relid), get_rel_name(table)),
				 errdetail("A worker has no registry to record the gap in."),
				 errhint("Use trovella.disable_audit() on the coordinator.")));
}

/* On a worker, a shard of an audited table truncated by hand (55000): unrecorded. */
void
trovella_audit_refuse_shard_truncate(Relation rel)
{
	if (manual_shard_changes())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("trovella: shard %s of an audited table cannot be truncated by hand",
						RelationGetRelationName(rel)),
				 errdetail("The coordinator records a TRUNCATE of a distributed table; a worker has no registry to record it in."),
				 errhint("Run the TRUNCATE on the coordinator.")));
}
