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
extern void trovella_purge_flag_set(const pg_uuid_t *tenant_id, Oid relid, AttrNumber attnum);
extern void trovella_purge_flag_clear(void);

/* Whether a purge's DELETE is running in this backend. */
extern bool trovella_purge_deleting(void);
extern bool trovella_purge_deleting_row(Relation rel, HeapTuple tuple);

/* Whether a purge's DELETE of that tenant's rows is running. */
extern bool trovella_purge_deleting_tenant(const pg_uuid_t *tenant_id);

#endif							/* TROVELLA_PURGE_FLAG_H */
