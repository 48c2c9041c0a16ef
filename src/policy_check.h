/*
 * policy_check.h
 *		Whether a table's tenant isolation is intact, read from the catalog
 *		by OID (policy_check.c).
 */
#ifndef TROVELLA_POLICY_CHECK_H
#define TROVELLA_POLICY_CHECK_H

#include "postgres.h"

#include "nodes/pg_list.h"

/*
 * What a run of checks looks up once: the OIDs a tenant check is made of,
 * and the tables already proved isolated (with their column).  Zeroed by
 * the caller; lives in its memory, as long as the run and no longer: a
 * later transaction may have a new extension.
 */
typedef struct PolicyCheckCache
{
	bool		resolved;
	Oid			uuid_equal;		/* pg_catalog.=(uuid, uuid) */
	Oid			current_tenant; /* trovella.current_tenant() */
	List	   *proved;			/* OIDs proved isolated ... */
	List	   *proved_columns; /* ... and the column of each (int list) */
} PolicyCheckCache;

extern bool trovella_is_tenant_check(Node *expression, AttrNumber column, PolicyCheckCache *cache);
extern AttrNumber trovella_isolated_column(Oid relid, PolicyCheckCache *cache);
extern bool trovella_ancestors_isolated(Oid relid, const char *column, PolicyCheckCache *cache);

#endif							/* TROVELLA_POLICY_CHECK_H */
