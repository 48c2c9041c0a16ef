/*
 * restoring.c
 *		Whether a row is one import_tenant (import.c) restores: set by it
 *		around each table's INSERT, and read by trovella's row triggers,
 *		which then keep the values of the export (created_*, updated_*,
 *		deleted_*) and record nothing (the export carries the tenant's audit
 *		history).  Only the export's rows: the table being inserted (or a
 *		partition of it) and the export's tenant, so that an application's
 *		trigger that writes during the import is stamped and audited as
 *		always.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/partition.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/uuid.h"

#include "restoring.h"

static Oid	restoring_relid = InvalidOid;
static char restoring_column[NAMEDATALEN];
static pg_uuid_t restoring_tenant;

void
trovella_restoring_begin(Oid relid, const char *column, Datum tenant)
{
	strlcpy(restoring_column, column, NAMEDATALEN);
	memcpy(&restoring_tenant, DatumGetUUIDP(tenant), sizeof(pg_uuid_t));
	restoring_relid = relid;
}

void
trovella_restoring_end(void)
{
	restoring_relid = InvalidOid;
}

bool
trovella_restoring_row(Relation rel, HeapTuple tuple)
{
	Oid			relid = RelationGetRelid(rel);
	AttrNumber	attnum;
	Datum		value;
	bool		isnull;

	if (!OidIsValid(restoring_relid))
		return false;
	if (relid != restoring_relid &&
		!(rel->rd_rel->relispartition &&
		  list_member_oid(get_partition_ancestors(relid), restoring_relid)))
		return false;
	attnum = get_attnum(relid, restoring_column);
	if (attnum == InvalidAttrNumber || tuple == NULL)
		return false;
	value = heap_getattr(tuple, attnum, RelationGetDescr(rel), &isnull);
	return !isnull && memcmp(DatumGetUUIDP(value)->data, restoring_tenant.data, UUID_LEN) == 0;
}
