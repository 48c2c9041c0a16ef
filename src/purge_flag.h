/*
 * purge_flag.h
 *		The tenant this backend's trovella.purge_tenant is deleting
 *		(purge_flag.c): the audit and soft delete triggers let its DELETEs
 *		through as real deletions, with no history record per row.
 */
#ifndef TROVELLA_PURGE_FLAG_H
#define TROVELLA_PURGE_FLAG_H

#include "postgres.h"

#include "access/htup.h"
#include "utils/relcache.h"
#include "utils/uuid.h"

/* Set by the purge around its own DELETE statements only. */
extern void trovella_purge_flag_set(const pg_uuid_t *tenant_id, Oid relid, const char *column);
extern void trovella_purge_flag_clear(void);

/*
 * Set on a Citus worker by cluster_purge.c only, for the scope a purge
 * signed: the Citus table by its qualified name.
 */
extern void trovella_purge_flag_set_worker(const pg_uuid_t *tenant_id, const char *table,
										   const char *column);
extern void trovella_purge_flag_clear_worker(void);

/*
 * Whether a purge's DELETE is running in this backend (or, on a worker,
 * for this transaction), and the row is the purged tenant's, in the table
 * it deletes from or a placement of it.
 */
extern bool trovella_purge_deleting_row(Relation rel, HeapTuple tuple);

#endif							/* TROVELLA_PURGE_FLAG_H */
