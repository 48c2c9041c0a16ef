/*
 * citus.h
 *		What trovella asks of Citus (citus.c).
 */
#ifndef TROVELLA_CITUS_H
#define TROVELLA_CITUS_H

#include "postgres.h"

#include "nodes/pg_list.h"

/* Whether the Citus library is loaded in this backend (not a placeholder). */
extern bool trovella_citus_loaded(void);

/* Whether this backend is one Citus opened to run its own work here. */
extern bool trovella_citus_internal_backend(void);

/* Whether relid is a shard placement on this node. */
extern bool trovella_citus_is_shard(Oid relid);

/* The Citus table whose shard (by the metadata) relid is, or InvalidOid. */
extern Oid	trovella_citus_shard_table(Oid relid, bool *listed);

/* Whether Citus's metadata makes relid a placement on this node, whoever asks. */
extern bool trovella_citus_listed_placement(Oid relid);

/* Whether relid, just renamed in a nested statement, became a placement. */
extern bool trovella_citus_renamed_to_shard(Oid relid);

/* Whether this node runs Citus with other nodes in its metadata. */
extern bool trovella_citus_has_other_nodes(void);

/* This node's Citus group (pg_dist_local_group); 0 on a coordinator or without Citus. */
extern int32 trovella_citus_local_group(void);

/* Whether this node is a Citus worker (not the coordinator). */
extern bool trovella_citus_worker(void);

/* Whether Citus acts on relid's DDL only after the statement. */
extern bool trovella_citus_acts_after_ddl(Oid relid);

/* Whether Citus manages relid as a table (its rows are in its placements). */
extern bool trovella_citus_managed(Oid relid);

/* Whether Citus has made relid a reference table. */
extern bool trovella_citus_reference_table(Oid relid);

/* Whether relid is sharded by Citus, but not co-located with other. */
extern bool trovella_citus_sharded_apart(Oid relid, Oid other);

/* The tables whose pg_dist_partition row this transaction wrote. */
extern List *trovella_citus_written_tables(void);

/* The column Citus distributes relid by; InvalidAttrNumber if none. */
extern AttrNumber trovella_citus_distribution_column(Oid relid);

/* Let Citus take triggers on its tables until trovella_citus_end_triggers. */
extern int	trovella_citus_allow_triggers(void);
extern void trovella_citus_end_triggers(int level);

/* This node's copy of a Citus reference table; relid itself without Citus. */
extern Oid	trovella_citus_local_copy(Oid relid);

#endif							/* TROVELLA_CITUS_H */
