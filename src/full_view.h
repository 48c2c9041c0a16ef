/*
 * full_view.h
 *		Validations and copies that must see every tenant's rows, refused to
 *		a role that row-level security binds (full_view.c).  hooks.c calls
 *		the handlers.
 */
#ifndef TROVELLA_FULL_VIEW_H
#define TROVELLA_FULL_VIEW_H

#include "postgres.h"

#include "access/xact.h"
#include "executor/execdesc.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"

extern void trovella_full_view_utility_before(PlannedStmt **pstmt, bool *readOnlyTree);
extern void trovella_full_view_planner(Query *parse);
extern void trovella_full_view_executor_start(QueryDesc *queryDesc, int eflags);
extern void trovella_full_view_executor_end(QueryDesc *queryDesc);
extern void trovella_full_view_xact(XactEvent event);
extern void trovella_full_view_subxact(SubXactEvent event, SubTransactionId subid);
extern void trovella_full_view_relcache(Oid relid);

#endif							/* TROVELLA_FULL_VIEW_H */
