/*
 * row_scope.h
 *		The rows trovella itself is writing, for one operation (row_scope.c):
 *		trovella's row triggers (soft delete, standard columns, audit) let
 *		them through as that operation needs.
 */
#ifndef TROVELLA_ROW_SCOPE_H
#define TROVELLA_ROW_SCOPE_H

#include "postgres.h"

#include "access/htup.h"
#include "utils/relcache.h"
#include "utils/uuid.h"

typedef enum RowScopeOperation
{
	ROW_SCOPE_PURGE,			/* purge_tenant deletes: for good, unrecorded */
	ROW_SCOPE_IMPORT,			/* import_tenant inserts: as exported, unrecorded */
	ROW_SCOPE_OPERATIONS
} RowScopeOperation;

/*
 * Around the operation's own statement on one table (the root of its tree
 * for an import): the tenant, the table, its tenant column.  Set by
 * purge.c and import.c only.
 */
extern void trovella_row_scope_begin(RowScopeOperation operation, const pg_uuid_t *tenant_id,
									 Oid relid, const char *column);
extern void trovella_row_scope_end(RowScopeOperation operation);

/*
 * Whether a worker's scope still holds for its tenant, asked for each row
 * in it (cluster_purge.c: the tenant still suspended there).
 */
typedef bool (*RowScopeCheck) (const pg_uuid_t *tenant_id);

/*
 * A purge's, on a Citus worker, set by cluster_purge.c only once verified:
 * the Citus table by its qualified name; a row is in it only while check
 * says so.
 */
extern void trovella_row_scope_begin_worker(const pg_uuid_t *tenant_id, const char *table,
											const char *column, RowScopeCheck check);
extern void trovella_row_scope_end_worker(void);

/*
 * Whether the row is in the operation's scope: the scope's tenant's, in its
 * table, a partition of it, or a Citus placement here of it.
 */
extern bool trovella_row_scope_row(RowScopeOperation operation, Relation rel, HeapTuple tuple);

#endif							/* TROVELLA_ROW_SCOPE_H */
