/*
 * placement.h
 *		The policies of Citus's shard placements (placement.c): the utility
 *		statement handlers that hooks.c calls.
 */
#ifndef TROVELLA_PLACEMENT_H
#define TROVELLA_PLACEMENT_H

#include "postgres.h"

#include "nodes/plannodes.h"
#include "tcop/utility.h"

/* What one utility statement's handlers carry from before to after. */
typedef struct PlacementUtility
{
	Oid			became_shard;	/* a table Citus renamed to a shard's name */
} PlacementUtility;

extern void trovella_placement_utility_before(PlannedStmt **pstmt, bool *readOnlyTree,
											  ProcessUtilityContext context,
											  PlacementUtility *state);
extern void trovella_placement_utility_after(PlacementUtility *state);

#endif							/* TROVELLA_PLACEMENT_H */
