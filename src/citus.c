/*
 * citus.c
 *		What trovella asks of Citus, when Citus is loaded: whether it is,
 *		whether this backend is one of Citus's own, and which relation holds
 *		this node's copy of a reference table.  Nothing here changes
 *		anything; without Citus every answer is "no" or the table itself.
 */
#include "postgres.h"

#include <errno.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "citus.h"
#include "compat.h"
#include "statement.h"

/* Whether the Citus library is loaded in this backend (not a placeholder). */
bool
trovella_citus_loaded(void)
{
	const char *name = "citus.propagate_set_commands";

	return GetConfigOption(name, true, false) != NULL &&
		(GetConfigOptionFlags(name, true) & GUC_CUSTOM_PLACEHOLDER) == 0;
}

/*
 * Whether this backend is one Citus opened to run its own work on this node
 * (creating shards, syncing metadata, moving shards).  Citus itself tells
 * them by application name, which any client can set; so we use it only
 * where that gains a client nothing: shard policies are only ever
 * tightened, and the guard, a safety net for migrations rather than a
 * boundary, leaves the shards to the coordinator's judgement (a client that
 * spoofs the name escapes the guard alone; isolation_status still lists
 * every table that is not isolated).
 */
bool
trovella_citus_internal_backend(void)
{
	static const char *const prefixes[] = {
		"citus_internal gpid=", "citus_rebalancer gpid=", "citus_shard_"
	};

	if (application_name == NULL || !trovella_citus_loaded())
		return false;
	for (size_t i = 0; i < lengthof(prefixes); i++)
		if (strncmp(application_name, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

/*
 * Whether a query of Citus's metadata, given one OID as $1, returns a row;
 * false without Citus.
 */
static bool
metadata_has_row(const char *query, Oid arg)
{
	SpiSection	spi;
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(arg)};
	bool		found;

	if (!trovella_citus_loaded() || !OidIsValid(get_extension_oid("citus", true)))
		return false;
	trovella_spi_connect(&spi);
	if (SPI_execute_with_args(query, 1, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read Citus's metadata");
	found = SPI_processed > 0;
	trovella_spi_finish(&spi);
	return found;
}

/*
 * What Citus's metadata says of relid, if its name is that of a shard
 * placement ("<table>_<shard id>"): whether it is that placement on this
 * node (*listed: pg_dist_shard lists the shard of that table of relid's
 * schema, and pg_dist_placement puts a placement of it in this node's
 * group; names being unique in a schema, relid is then the placement
 * itself, not a table a user named like one after a shard held elsewhere),
 * whether Citus manages relid itself as a table (managed: a shell table,
 * never a placement), that table of the name (table, InvalidOid if there
 * is none), and whether Citus's metadata gives that table a shard of that
 * id, wherever its placements are (known).  False, saying nothing, when
 * the name is not so made or Citus is not there.
 */
typedef struct ShardName
{
	bool		listed;
	bool		managed;
	bool		known;
	Oid			table;
} ShardName;

static bool
shard_metadata(Oid relid, ShardName *shard)
{
	SpiSection	spi;
	char	   *name;
	char	   *underscore;
	char	   *end;
	int64		shardid;
	Oid			argtypes[3] = {INT8OID, OIDOID, OIDOID};
	Datum		values[3];
	bool		isnull;

	if (!OidIsValid(relid) || !trovella_citus_loaded() ||
		!OidIsValid(get_extension_oid("citus", true)))
		return false;
	name = get_rel_name(relid);
	if (name == NULL || (underscore = strrchr(name, '_')) == NULL || underscore[1] == '\0')
		return false;
	/* as Citus writes a shard id: digits, the first not 0 (not "+7", "07") */
	if (underscore[1] == '0' || strspn(underscore + 1, "0123456789") != strlen(underscore + 1))
		return false;
	errno = 0;
	shardid = strtoi64(underscore + 1, &end, 10);
	if (errno != 0 || *end != '\0' || shardid <= 0)
		return false;
	*underscore = '\0';
	shard->table = get_relname_relid(name, get_rel_namespace(relid));

	values[0] = Int64GetDatum(shardid);
	values[1] = ObjectIdGetDatum(shard->table);
	values[2] = ObjectIdGetDatum(relid);
	/* not read-only: a fresh snapshot sees the metadata this command wrote */
	trovella_spi_connect(&spi);
	if (SPI_execute_with_args("SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_shard s "
							  "  JOIN pg_catalog.pg_dist_placement p ON p.shardid OPERATOR(pg_catalog.=) s.shardid "
							  "  WHERE s.shardid OPERATOR(pg_catalog.=) $1 "
							  "  AND s.logicalrelid OPERATOR(pg_catalog.=) $2 "
							  "  AND p.groupid OPERATOR(pg_catalog.=) "
							  "    (SELECT g.groupid FROM pg_catalog.pg_dist_local_group g)), "
							  "EXISTS (SELECT FROM pg_catalog.pg_dist_partition d "
							  "  WHERE d.logicalrelid OPERATOR(pg_catalog.=) $3), "
							  "EXISTS (SELECT FROM pg_catalog.pg_dist_shard s "
							  "  WHERE s.shardid OPERATOR(pg_catalog.=) $1 "
							  "  AND s.logicalrelid OPERATOR(pg_catalog.=) $2)",
							  3, argtypes, values, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not read Citus's metadata");
	shard->listed = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	shard->managed = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	shard->known = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	trovella_spi_finish(&spi);
	return true;
}

/*
 * Whether relid is a shard placement on this node, and of which table.
 * Citus makes placements on workers and, by local execution in the
 * caller's own backend, on a coordinator that holds placements (reference
 * tables, Citus local tables, shouldhaveshards).  It is one if Citus's
 * metadata lists it; or, in one of Citus's own backends, if its name is a
 * placement's and Citus does not manage it as a table: a worker may be
 * given a placement before the metadata that lists it.  A shell table,
 * which Citus also makes in its own backends, never is.
 */
static bool
placement_of(Oid relid, Oid *table)
{
	ShardName	shard;

	if (!shard_metadata(relid, &shard) || shard.managed ||
		!(shard.listed || trovella_citus_internal_backend()))
		return false;
	*table = shard.table;
	return true;
}

/* Whether relid is a shard placement on this node (placement_of). */
bool
trovella_citus_is_shard(Oid relid)
{
	Oid			table;

	return placement_of(relid, &table);
}

/*
 * The table of which relid is a shard that Citus's metadata knows: named
 * after a shard the metadata gives that table (a table Citus manages, not
 * one a user named so), and not itself a table Citus manages; whoever
 * asks, by the metadata alone.  *listed: whether the metadata puts a
 * placement of that shard on this node (one Citus is copying here is not
 * listed until the copy is done).  InvalidOid otherwise.
 */
Oid
trovella_citus_shard_table(Oid relid, bool *listed)
{
	ShardName	shard;

	if (!shard_metadata(relid, &shard) || shard.managed || !shard.known)
		return InvalidOid;
	*listed = shard.listed;
	return shard.table;
}

/*
 * Whether relid is a shard placement on this node by Citus's metadata
 * alone, whoever asks: what the audit leaves to the placement checks of
 * the table it belongs to.
 */
bool
trovella_citus_listed_placement(Oid relid)
{
	ShardName	shard;

	return shard_metadata(relid, &shard) && !shard.managed && shard.listed;
}

/*
 * Whether relid, just renamed by a statement nested in a function call, now
 * has a placement's name and is not a table Citus manages: Citus makes a
 * local table a placement so (a Citus local table, a reference table on a
 * coordinator in the metadata), before its metadata lists the placement.
 */
bool
trovella_citus_renamed_to_shard(Oid relid)
{
	ShardName	shard;

	return shard_metadata(relid, &shard) && !shard.managed;
}

/*
 * Whether this node runs Citus with other nodes in its metadata, so that
 * what a table of this node alone holds does not reach them.
 */
bool
trovella_citus_has_other_nodes(void)
{
	SpiSection	spi;
	bool		isnull;
	bool		others;

	if (!trovella_citus_loaded() || !OidIsValid(get_extension_oid("citus", true)))
		return false;
	trovella_spi_connect(&spi);
	if (SPI_execute("SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_node n "
					"  WHERE n.groupid OPERATOR(pg_catalog.<>) "
					"    (SELECT g.groupid FROM pg_catalog.pg_dist_local_group g))",
					true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read Citus's metadata");
	others = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	trovella_spi_finish(&spi);
	return others;
}

/*
 * This node's Citus group: pg_dist_local_group, 0 on a coordinator, on a
 * node of no cluster and without Citus.  A group once given does not
 * change: kept for the backend's life; 0 only for its transaction, since a
 * node is made a worker by another backend.
 */
int32
trovella_citus_local_group(void)
{
	static int32 group = 0;
	static LocalTransactionId zero_in = InvalidLocalTransactionId;
	SpiSection	spi;
	bool		isnull = true;

	if (group > 0)
		return group;
	if (zero_in == TROVELLA_MY_LXID && zero_in != InvalidLocalTransactionId)
		return 0;
	if (trovella_citus_loaded() && OidIsValid(get_extension_oid("citus", true)))
	{
		trovella_spi_connect(&spi);
		if (SPI_execute("SELECT g.groupid FROM pg_catalog.pg_dist_local_group g", true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read Citus's metadata");
		if (SPI_processed == 1)
		{
			Datum		value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

			if (!isnull && DatumGetInt32(value) > 0)
				group = DatumGetInt32(value);
		}
		trovella_spi_finish(&spi);
	}
	if (group == 0)
		zero_in = TROVELLA_MY_LXID;
	return group;
}

/*
 * Whether this node is a Citus worker: Citus's metadata gives it a group
 * other than the coordinator's (0).  A node of no cluster, and a
 * coordinator, are not.
 */
bool
trovella_citus_worker(void)
{
	SpiSection	spi;
	bool		isnull = true;
	bool		worker = false;

	if (!trovella_citus_loaded() || !OidIsValid(get_extension_oid("citus", true)))
		return false;
	trovella_spi_connect(&spi);
	if (SPI_execute("SELECT g.groupid OPERATOR(pg_catalog.<>) 0 FROM pg_catalog.pg_dist_local_group g",
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read Citus's metadata");
	if (SPI_processed == 1)
		worker = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) &&
			!isnull;
	trovella_spi_finish(&spi);
	return worker;
}

/*
 * Whether Citus acts on relid's DDL only after the statement, after the
 * event triggers ran: a table it manages (it then sends the statement to
 * the shards), or one in a schema it distributes (it then distributes the
 * new table).
 */
bool
trovella_citus_acts_after_ddl(Oid relid)
{
	/* distributed schemas since Citus 12 */
	if (OidIsValid(get_relname_relid("pg_dist_schema", PG_CATALOG_NAMESPACE)) &&
		metadata_has_row("SELECT FROM pg_catalog.pg_dist_schema s "
						 "WHERE s.schemaid OPERATOR(pg_catalog.=) $1",
						 get_rel_namespace(relid)))
		return true;
	return trovella_citus_managed(relid);
}

/*
 * Whether Citus manages relid as a table (distributed, reference or Citus
 * local: pg_dist_partition lists it): its rows are in its placements, and
 * what the table itself holds is only what it held before Citus took it
 * over.
 */
bool
trovella_citus_managed(Oid relid)
{
	return metadata_has_row("SELECT FROM pg_catalog.pg_dist_partition d "
							"WHERE d.logicalrelid OPERATOR(pg_catalog.=) $1",
							relid);
}

/* Whether Citus has made relid a reference table (a full copy on every node). */
bool
trovella_citus_reference_table(Oid relid)
{
	return metadata_has_row("SELECT FROM pg_catalog.pg_dist_partition d "
							"WHERE d.logicalrelid OPERATOR(pg_catalog.=) $1 "
							"AND d.partmethod OPERATOR(pg_catalog.=) 'n' "
							"AND d.repmodel OPERATOR(pg_catalog.=) 't'",
							relid);
}

/*
 * Whether Citus shards relid's rows over its nodes (a distributed table,
 * not a reference table, which every node holds whole, nor a Citus local
 * table, which only the coordinator holds) in shards that are not
 * co-located with other's: a tenant's rows of the two are then not
 * always on one node.
 */
bool
trovella_citus_sharded_apart(Oid relid, Oid other)
{
	SpiSection	spi;
	Oid			argtypes[2] = {OIDOID, OIDOID};
	Datum		values[2] = {ObjectIdGetDatum(relid), ObjectIdGetDatum(other)};
	bool		apart;

	if (!trovella_citus_loaded() || !OidIsValid(get_extension_oid("citus", true)))
		return false;
	trovella_spi_connect(&spi);
	if (SPI_execute_with_args("SELECT FROM pg_catalog.pg_dist_partition d "
							  "WHERE d.logicalrelid OPERATOR(pg_catalog.=) $1 "
							  "AND d.colocationid OPERATOR(pg_catalog.<>) 0 "
							  "AND d.repmodel OPERATOR(pg_catalog.<>) 't' "
							  "AND d.colocationid IS DISTINCT FROM "
							  "  (SELECT o.colocationid FROM pg_catalog.pg_dist_partition o "
							  "   WHERE o.logicalrelid OPERATOR(pg_catalog.=) $2)",
							  2, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read Citus's metadata");
	apart = SPI_processed > 0;
	trovella_spi_finish(&spi);
	return apart;
}

/*
 * The tables whose row of pg_dist_partition this transaction wrote (inserted
 * or updated, in a subtransaction still alive): those Citus distributed,
 * converted or moved to another colocation group in it.  Read as they are
 * now (SnapshotSelf: the last command's changes too); NIL without Citus.
 */
List *
trovella_citus_written_tables(void)
{
	Oid			catalog;
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tuple;
	AttrNumber	att;
	List	   *written = NIL;

	if (!trovella_citus_loaded() || !OidIsValid(get_extension_oid("citus", true)))
		return NIL;
	catalog = get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE);
	if (!OidIsValid(catalog))
		return NIL;
	rel = table_open(catalog, AccessShareLock);
	att = get_attnum(catalog, "logicalrelid");
	if (att == InvalidAttrNumber)
		elog(ERROR, "pg_dist_partition has no column logicalrelid");
	scan = systable_beginscan(rel, InvalidOid, false, SnapshotSelf, 0, NULL);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		relid;

		if (!TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tuple->t_data)))
			continue;
		relid = heap_getattr(tuple, att, RelationGetDescr(rel), &isnull);
		if (!isnull)
			written = lappend_oid(written, DatumGetObjectId(relid));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return written;
}

/*
 * The column Citus distributes relid's rows by (hash or range); none for a
 * reference or Citus local table, or without Citus.
 */
AttrNumber
trovella_citus_distribution_column(Oid relid)
{
	SpiSection	spi;
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	AttrNumber	att = InvalidAttrNumber;
	bool		isnull;

	if (!trovella_citus_loaded() || !OidIsValid(get_extension_oid("citus", true)))
		return InvalidAttrNumber;
	trovella_spi_connect(&spi);
	if (SPI_execute_with_args("SELECT a.attnum FROM pg_catalog.pg_dist_partition d"
							  " JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) d.logicalrelid"
							  "  AND a.attname OPERATOR(pg_catalog.=) pg_catalog.column_to_column_name(d.logicalrelid, d.partkey)"
							  " WHERE d.logicalrelid OPERATOR(pg_catalog.=) $1 AND d.partkey IS NOT NULL",
							  1, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read Citus's metadata");
	if (SPI_processed == 1)
		att = DatumGetInt16(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	trovella_spi_finish(&spi);
	return att;
}

/*
 * Citus refuses triggers on the tables it manages unless
 * citus.enable_unsafe_triggers is on; with it, it gives each shard the
 * table's trigger.  On until trovella_citus_end_triggers(level), which
 * restores it; -1 (and nothing set) without Citus.
 */
int
trovella_citus_allow_triggers(void)
{
	int			level;

	if (!trovella_citus_loaded())
		return -1;
	level = NewGUCNestLevel();
	(void) set_config_option("citus.enable_unsafe_triggers", "on", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return level;
}

void
trovella_citus_end_triggers(int level)
{
	if (level >= 0)
		AtEOXact_GUC(true, level);
}

/*
 * The relation that holds this node's copy of a table Citus has made a
 * reference table: its local shard placement (a full copy, which Citus
 * writes with every other copy in one distributed transaction).  Code that
 * reads a table directly, below the planner (the token lookup), must read
 * that copy, since the table itself keeps only what it held before Citus
 * took it over.  The table itself when Citus does not manage it; 55000
 * when Citus does but keeps no copy here, or shards it.
 */
Oid
trovella_citus_local_copy(Oid relid)
{
	SpiSection	spi;
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	uint64		rows;
	int64		first_shard = 0;
	int64		local_shard = 0;
	bool		sharded = false;
	char	   *name;
	Oid			copy;

	if (!trovella_citus_loaded() || !OidIsValid(get_extension_oid("citus", true)))
		return relid;

	trovella_spi_connect(&spi);
	if (SPI_execute_with_args("SELECT s.shardid, p.groupid OPERATOR(pg_catalog.=) "
							  "  (SELECT g.groupid FROM pg_catalog.pg_dist_local_group g) "
							  "FROM pg_catalog.pg_dist_shard s "
							  "JOIN pg_catalog.pg_dist_placement p ON p.shardid OPERATOR(pg_catalog.=) s.shardid "
							  "WHERE s.logicalrelid OPERATOR(pg_catalog.=) $1",
							  1, argtypes, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read Citus's metadata");
	rows = SPI_processed;
	for (uint64 i = 0; i < rows; i++)
	{
		bool		isnull;
		int64		shard = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));

		if (i == 0)
			first_shard = shard;
		else if (shard != first_shard)
			sharded = true;
		if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull)))
			local_shard = shard;
	}
	trovella_spi_finish(&spi);
	if (rows == 0)
		return relid;			/* not Citus's */
	if (sharded || local_shard == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("trovella: %s must be a Citus reference table with a copy on this node",
						get_rel_name(relid)),
				 errhint("Give it a copy on every node, the coordinator's too: SELECT citus_set_coordinator_host('<host>', <port>); before create_reference_table() (the token table: leave it on the coordinator).")));
	name = psprintf("%s_" INT64_FORMAT, get_rel_name(relid), local_shard);
	copy = get_relname_relid(name, get_rel_namespace(relid));
	if (!OidIsValid(copy))
		elog(ERROR, "the local copy %s of a Citus reference table is missing", name);
	return copy;
}
