/*
 * purge_flag.c
 *		The tenant this backend's trovella.purge_tenant is deleting, set
 *		only by the purge (purge.c, a C procedure with no SQL way to set it)
 *		around its own DELETE statements and cleared when they end, by error
 *		or not.  While it is set, soft delete deletes for good (a purge must
 *		not leave marked rows behind) and the audit trigger writes no record
 *		of the tenant's deleted rows: the purge erases the tenant's history
 *		and its receipt says which sealed history that was.
 */
#include "postgres.h"

#include "purge_flag.h"

static bool purge_set = false;
static pg_uuid_t purge_tenant;

void
trovella_purge_flag_set(const pg_uuid_t *tenant_id)
{
	purge_tenant = *tenant_id;
	purge_set = true;
}

void
trovella_purge_flag_clear(void)
{
	purge_set = false;
}

bool
trovella_purge_deleting(void)
{
	return purge_set;
}

bool
trovella_purge_deleting_tenant(const pg_uuid_t *tenant_id)
{
	return purge_set && memcmp(&purge_tenant, tenant_id, UUID_LEN) == 0;
}
