/*
 * isolation.h
 *		The isolation guard (isolation.c): its settings, its event trigger
 *		functions, and what it does when a transaction ends (hooks.c).
 */
#ifndef TROVELLA_ISOLATION_H
#define TROVELLA_ISOLATION_H

#include "postgres.h"

#include "access/xact.h"
#include "nodes/nodes.h"

extern void IsolationInit(void);
extern void trovella_isolation_xact(XactEvent event);
extern void trovella_isolation_subxact(SubXactEvent event);
extern bool trovella_isolation_guard_auto(void);
extern const char *trovella_tenant_column(void);

/* tenant_column.c: in auto, a tenant column added to a table with rows */
extern void trovella_isolation_utility_before(Node *stmt);

#endif							/* TROVELLA_ISOLATION_H */
