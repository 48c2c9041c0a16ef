/*
 * cluster.h
 *		trovella on a Citus cluster (cluster.c): the signed context, which
 *		ClusterInit registers as a context observer, and the utility
 *		statement handlers that hooks.c calls.
 */
#ifndef TROVELLA_CLUSTER_H
#define TROVELLA_CLUSTER_H

#include "postgres.h"

#include "nodes/nodes.h"

/* What one utility statement's handlers carry from before to after. */
typedef struct ClusterUtility
{
	bool		receiving;		/* a worker's SET LOCAL of the signed context */
	bool		scope;			/* or of a purge's scope (cluster_purge.c) */
} ClusterUtility;

extern void ClusterInit(void);

extern void trovella_cluster_utility_before(Node *parsetree, ClusterUtility *state);
extern void trovella_cluster_utility_done(ClusterUtility *state);
extern void trovella_cluster_utility_after(ClusterUtility *state);
extern void trovella_cluster_abort(void);

#endif							/* TROVELLA_CLUSTER_H */
