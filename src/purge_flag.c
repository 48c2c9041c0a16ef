/*
 * purge_flag.c
 *		The rows this backend's trovella.purge_tenant is deleting: one
 *		tenant's, of one table.  While such a scope is set, soft delete
 *		deletes those rows for good (a purge must not leave marked rows
 *		behind) and the audit trigger writes no record of them: the purge
 *		erases the tenant's history and its receipt says which sealed
 *		history that was.  A row a trigger or a cascade deletes meanwhile,
 *		another tenant's above all, is marked and recorded as ever.
 *
 *		Two ways to set it.  On the node that runs the purge, purge.c sets
 *		it around its own DELETE statements (a C procedure: no SQL way to
 *		set it), and clears it when they end, by error or not; Citus may run
 *		the DELETE of a distributed table there, on a shard this node holds
 *		(local execution): the shard's rows are in scope when Citus's
 *		metadata makes it a placement here of the purged table.  On a Citus
 *		worker, cluster_purge.c sets it once it has verified the scope the
 *		purge signed and sent with the DELETE (for as long as that SET LOCAL
 *		lasts): there it names the Citus table by its qualified name (the
 *		coordinator's OID means nothing on another node), and a row is in
 *		scope when its relation is a placement here of that table.  The
 *		tenant column is found by name in the placement itself.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "citus.h"
#include "purge_flag.h"

typedef struct PurgeScope
{
	bool		set;
	pg_uuid_t	tenant;
	Oid			relid;			/* the purged table, on this node */
	char		table[NAMEDATALEN * 2 + 8]; /* or its qualified name (a worker's) */
	char		column[NAMEDATALEN];
	Oid			last_relid;		/* the last relation asked about, */
	AttrNumber	last_attnum;	/* its tenant column if in scope, else 0 */
} PurgeScope;

static PurgeScope local_scope;
static PurgeScope worker_scope;

static void
scope_set(PurgeScope *scope, const pg_uuid_t *tenant_id, Oid relid,
		  const char *table, const char *column)
{
	scope->tenant = *tenant_id;
	scope->relid = relid;
	strlcpy(scope->table, table ? table : "", sizeof(scope->table));
	strlcpy(scope->column, column, sizeof(scope->column));
	scope->last_relid = InvalidOid;
	scope->set = true;
}

void
trovella_purge_flag_set(const pg_uuid_t *tenant_id, Oid relid, const char *column)
{
	scope_set(&local_scope, tenant_id, relid, NULL, column);
}

void
trovella_purge_flag_clear(void)
{
	local_scope.set = false;
}

void
trovella_purge_flag_set_worker(const pg_uuid_t *tenant_id, const char *table, const char *column)
{
	scope_set(&worker_scope, tenant_id, InvalidOid, table, column);
}

void
trovella_purge_flag_clear_worker(void)
{
	worker_scope.set = false;
}

/*
 * Whether relid is the scope's table, or a placement on this node of it by
 * Citus's metadata.
 */
static bool
scope_table(PurgeScope *scope, Oid relid)
{
	Oid			table;
	bool		listed = false;

	if (OidIsValid(scope->relid) && relid == scope->relid)
		return true;
	if (!trovella_citus_loaded())
		return false;
	table = trovella_citus_shard_table(relid, &listed);
	if (!OidIsValid(table) || !listed)
		return false;
	if (OidIsValid(scope->relid))
		return table == scope->relid;
	return strcmp(quote_qualified_identifier(get_namespace_name(get_rel_namespace(table)),
											 get_rel_name(table)), scope->table) == 0;
}

/* Whether the row is the scope's tenant's, in the scope's table. */
static bool
scope_row(PurgeScope *scope, Relation rel, HeapTuple tuple)
{
	TupleDesc	desc = RelationGetDescr(rel);
	Oid			relid = RelationGetRelid(rel);
	bool		isnull;
	Datum		value;

	if (!scope->set || tuple == NULL)
		return false;
	if (relid != scope->last_relid)
	{
		AttrNumber	attnum = InvalidAttrNumber;

		if (scope_table(scope, relid))
			attnum = get_attnum(relid, scope->column);
		if (attnum <= 0 || attnum > desc->natts ||
			TupleDescAttr(desc, attnum - 1)->atttypid != UUIDOID)
			attnum = InvalidAttrNumber;
		scope->last_attnum = attnum;
		scope->last_relid = relid;
	}
	if (scope->last_attnum == InvalidAttrNumber)
		return false;
	value = heap_getattr(tuple, scope->last_attnum, desc, &isnull);
	return !isnull && memcmp(DatumGetUUIDP(value), &scope->tenant, UUID_LEN) == 0;
}

bool
trovella_purge_deleting_row(Relation rel, HeapTuple tuple)
{
	return scope_row(&local_scope, rel, tuple) || scope_row(&worker_scope, rel, tuple);
}
