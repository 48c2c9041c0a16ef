/*
 * cluster_purge.h
 *		A purge's row scope, signed for the shards of a Citus table
 *		(cluster_purge.c): sent by purge.c around its DELETE statements,
 *		received on a worker through cluster.c's utility handlers.
 */
#ifndef TROVELLA_CLUSTER_PURGE_H
#define TROVELLA_CLUSTER_PURGE_H

#include "postgres.h"

#include "nodes/nodes.h"
#include "utils/uuid.h"

extern void ClusterPurgeInit(void);

/*
 * Before the purge's DELETE of Citus table relid: the tenant's rows of its
 * placements are in the scope on the workers; after it (tenant NULL): no
 * longer.
 */
extern void trovella_cluster_purge_scope_send(const pg_uuid_t *tenant, Oid relid,
											  const char *column);

/* A worker's SET LOCAL of the scope: before, done (always), after (success). */
extern void trovella_cluster_purge_utility_before(Node *parsetree, bool *state);
extern void trovella_cluster_purge_utility_done(bool state);
extern void trovella_cluster_purge_utility_after(bool state);
extern void trovella_cluster_purge_abort(void);

#endif							/* TROVELLA_CLUSTER_PURGE_H */
