/*
 * purge_flag.c
 *		The tenant this backend's trovella.purge_tenant is deleting, set
 *		only by the purge (purge.c, a C procedure with no SQL way to set it)
 *		around its own DELETE statements and cleared when they end, by error
 *		or not.  While it is set, soft delete deletes for good (a purge must
 *		not leave marked rows behind) and the audit trigger writes no record
 *		of the tenant's deleted rows: the purge erases the tenant's history
 *		and its receipt says which sealed history that was.  Soft delete
 *		deletes for good only the tenant's rows of the table the purge is
 *		deleting from: a row a trigger or a cascade deletes meanwhile,
 *		another tenant's above all, is marked as ever.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "utils/rel.h"

#include "purge_flag.h"

static bool purge_set = false;
static pg_uuid_t purge_tenant;
static Oid	purge_relid = InvalidOid;
static AttrNumber purge_attnum = InvalidAttrNumber;

void
trovella_purge_flag_set(const pg_uuid_t *tenant_id, Oid relid, AttrNumber attnum)
{
	purge_tenant = *tenant_id;
	purge_relid = relid;
	purge_attnum = attnum;
	purge_set = true;
}

void
trovella_purge_flag_clear(void)
{
	purge_set = false;
}

/* Whether the row is the tenant's, in the table the purge deletes from. */
bool
trovella_purge_deleting_row(Relation rel, HeapTuple tuple)
{
	TupleDesc	desc = RelationGetDescr(rel);
	bool		isnull;
	Datum		value;

	if (!purge_set || RelationGetRelid(rel) != purge_relid ||
		purge_attnum <= 0 || purge_attnum > desc->natts ||
		TupleDescAttr(desc, purge_attnum - 1)->atttypid != UUIDOID)
		return false;
	value = heap_getattr(tuple, purge_attnum, desc, &isnull);
	return !isnull && memcmp(DatumGetUUIDP(value), &purge_tenant, UUID_LEN) == 0;
}
