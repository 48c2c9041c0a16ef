/*
 * row_scope.c
 *		The rows trovella itself is writing, for one operation: one
 *		tenant's, of one table, checked per row by trovella's row triggers
 *		(soft delete, standard columns, audit), which then let them through
 *		as the operation needs.  No SQL sets a scope.
 *
 *		ROW_SCOPE_PURGE: the rows trovella.purge_tenant deletes.  Soft
 *		delete deletes them for good (a purge must not leave marked rows
 *		behind) and the audit trigger writes no record of them: the purge
 *		erases the tenant's history and its receipt says which sealed
 *		history that was.  Set by purge.c around its own DELETE statements,
 *		cleared when they end, by error or not; on a Citus worker by
 *		cluster_purge.c, once it has verified the scope the purge signed and
 *		sent with the DELETE, for as long as that SET LOCAL lasts.
 *
 *		ROW_SCOPE_IMPORT: the rows import_tenant inserts (import.c, around
 *		each table's INSERT).  The row triggers keep the values of the
 *		export (created_*, updated_*, deleted_*) and record nothing (the
 *		export carries the tenant's audit history).
 *
 *		A row is in a scope when it is the scope's tenant's (its tenant
 *		column, found by name in the row's own relation) and its relation is
 *		the scope's table, a partition of it at any depth, or a Citus
 *		placement on this node of it (by Citus's metadata: Citus may run the
 *		statement on a shard here, and on a worker the scope names the Citus
 *		table by its qualified name, the coordinator's OID meaning nothing
 *		there).  Any other row written meanwhile, by a trigger or a cascade,
 *		another tenant's above all, is marked, stamped and recorded as ever.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/partition.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "citus.h"
#include "row_scope.h"

typedef struct RowScope
{
	bool		set;
	pg_uuid_t	tenant;
	Oid			relid;			/* the table, on this node */
	char		table[NAMEDATALEN * 2 + 8]; /* or its qualified name (a worker's) */
	char		column[NAMEDATALEN];
	RowScopeCheck check;		/* asked for each row in the scope, or NULL */
	Oid			last_relid;		/* the last relation asked about, */
	AttrNumber	last_attnum;	/* its tenant column if in scope, else 0 */
} RowScope;

static RowScope local_scope[ROW_SCOPE_OPERATIONS];
static RowScope worker_scope;	/* a purge's, on a Citus worker */

static void
scope_set(RowScope *scope, const pg_uuid_t *tenant_id, Oid relid,
		  const char *table, const char *column, RowScopeCheck check)
{
	scope->tenant = *tenant_id;
	scope->check = check;
	scope->relid = relid;
	strlcpy(scope->table, table ? table : "", sizeof(scope->table));
	strlcpy(scope->column, column, sizeof(scope->column));
	scope->last_relid = InvalidOid;
	scope->set = true;
}

void
trovella_row_scope_begin(RowScopeOperation operation, const pg_uuid_t *tenant_id,
						 Oid relid, const char *column)
{
	scope_set(&local_scope[operation], tenant_id, relid, NULL, column, NULL);
}

void
trovella_row_scope_end(RowScopeOperation operation)
{
	local_scope[operation].set = false;
}

void
trovella_row_scope_begin_worker(const pg_uuid_t *tenant_id, const char *table, const char *column,
				RowScopeCheck check)
{
	scope_set(&worker_scope, tenant_id, InvalidOid, table, column, check);
}

void
trovella_row_scope_end_worker(void)
{
	worker_scope.set = false;
}

/*
 * Whether rel is the scope's table, a partition of it, or a placement on
 * this node of it by Citus's metadata.
 */
static bool
scope_table(RowScope *scope, Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	Oid			table;
	bool		listed = false;

	if (OidIsValid(scope->relid) &&
		(relid == scope->relid ||
		 (rel->rd_rel->relispartition &&
		  list_member_oid(get_partition_ancestors(relid), scope->relid))))
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
scope_row(RowScope *scope, Relation rel, HeapTuple tuple)
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

		if (scope_table(scope, rel))
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
	if (isnull || memcmp(DatumGetUUIDP(value), &scope->tenant, UUID_LEN) != 0)
		return false;
	/* a worker's: the transaction that received it may outlast a resume */
	return scope->check == NULL || scope->check(&scope->tenant);
}

bool
trovella_row_scope_row(RowScopeOperation operation, Relation rel, HeapTuple tuple)
{
	return scope_row(&local_scope[operation], rel, tuple) ||
		(operation == ROW_SCOPE_PURGE && scope_row(&worker_scope, rel, tuple));
}
