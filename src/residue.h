/*
 * residue.h
 *		Nothing a tenant's transaction read outlives it on the connection
 *		(residue.c).  ResidueInit registers a context check; hooks.c calls
 *		the handlers; the isolation guard reports the tables it sees created.
 */
#ifndef TROVELLA_RESIDUE_H
#define TROVELLA_RESIDUE_H

#include "postgres.h"

#include "access/xact.h"
#include "executor/execdesc.h"
#include "nodes/nodes.h"

extern void ResidueInit(void);

extern void trovella_residue_executor_end(QueryDesc *queryDesc);
extern void trovella_residue_utility_before(Node *stmt);
extern void trovella_residue_utility_after(Node *stmt);
extern void trovella_residue_xact(XactEvent event);
extern void trovella_residue_subxact(SubXactEvent event, SubTransactionId mySubid);

/* The temporary tables whose rows are gone at commit (residue_temp.c). */
#include "residue_temp.h"

#endif							/* TROVELLA_RESIDUE_H */
