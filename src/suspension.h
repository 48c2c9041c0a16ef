/*
 * suspension.h
 *		Suspended tenants (suspension.c): SuspensionInit registers the
 *		check every new tenant context passes; suspension_sql.c tells every
 *		backend when a suspension changed.
 */
#ifndef TROVELLA_SUSPENSION_H
#define TROVELLA_SUSPENSION_H

#include "postgres.h"

#include "utils/uuid.h"

extern void SuspensionInit(void);

/* Whether tenant is suspended on this node (a worker receiving a purge's scope). */
extern bool trovella_tenant_suspended(const pg_uuid_t *tenant_id);

/* A relcache invalidation (hooks.c): the table may have changed. */
extern void trovella_suspension_relcache(Oid relid);

/* After a suspension changed: every backend reads the table again. */
extern void trovella_suspension_changed(void);

#endif							/* TROVELLA_SUSPENSION_H */
