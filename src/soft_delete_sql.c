/*
 * soft_delete_sql.c
 *		SQL functions of soft delete: the policy's test of whether marked
 *		rows may be read, with_deleted(), restore() and purge_deleted().
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "context.h"
#include "soft_delete.h"

/* The table's name as regclass prints it, for messages. */
static char *
relation_text(Oid relid)
{
	return DatumGetCString(DirectFunctionCall1(regclassout, ObjectIdGetDatum(relid)));
}

/* The table's owner. */
static Oid
relation_owner(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

/*
 * The table soft delete can act on: 42809 unless an ordinary or
 * partitioned table, 55000 without deleted_at and deleted_by of their
 * types.  Its name with its schema, quoted.
 */
static char *
soft_delete_table(Oid relid, const char *function_name)
{
	char		kind = get_rel_relkind(relid);
	static const char *const columns[2] = {"deleted_at", "deleted_by"};
	static const Oid types[2] = {TIMESTAMPTZOID, UUIDOID};
	int			i;

	if (kind != RELKIND_RELATION && kind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("trovella: %s is not a table", relation_text(relid)),
				 errhint("trovella.%s applies to ordinary and partitioned tables.", function_name)));
	for (i = 0; i < 2; i++)
	{
		AttrNumber	attnum = get_attnum(relid, columns[i]);

		if (attnum == InvalidAttrNumber || get_atttype(relid, attnum) != types[i])
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("trovella: table %s has no soft delete", relation_text(relid)),
					 errdetail("It has no column \"%s\" of type %s.", columns[i], format_type_be(types[i])),
					 errhint("Run trovella.enable_soft_delete() on the table first.")));
	}
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/*
 * deleted_rows_visible(): whether the rows soft delete marked pass the
 * table's trovella_soft_delete policy now: during trovella's own writes,
 * and in a transaction that called with_deleted().
 */
PG_FUNCTION_INFO_V1(trovella_deleted_rows_visible_sql);
Datum
trovella_deleted_rows_visible_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(trovella_deleted_rows_visible());
}

/* with_deleted(): the transaction reads marked rows from now on. */
PG_FUNCTION_INFO_V1(trovella_with_deleted);
Datum
trovella_with_deleted(PG_FUNCTION_ARGS)
{
	trovella_require_transaction_block("with_deleted");
	trovella_read_deleted_rows();
	PG_RETURN_VOID();
}

/*
 * restore(tbl, key_value, key_column): clears deleted_* of the marked rows
 * whose key_column equals key_value, as the caller under its policies (a
 * tenant restores its own rows only); how many.
 */
PG_FUNCTION_INFO_V1(trovella_restore);
Datum
trovella_restore(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Name		key_column = PG_GETARG_NAME(2);
	Oid			argtypes[1] = {get_fn_expr_argtype(fcinfo->flinfo, 1)};
	Datum		values[1] = {PG_GETARG_DATUM(1)};
	char	   *table = soft_delete_table(relid, "restore");

	if (get_attnum(relid, NameStr(*key_column)) == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("trovella: column \"%s\" of table %s does not exist",
						NameStr(*key_column), relation_text(relid)),
				 errhint("Name the key column as the third argument.")));
	PG_RETURN_INT64((int64) trovella_soft_delete_statement(
		psprintf("UPDATE %s SET deleted_at = NULL, deleted_by = NULL "
				 "WHERE %s OPERATOR(pg_catalog.=) $1 AND deleted_at IS NOT NULL",
				 table, quote_identifier(NameStr(*key_column))),
		1, argtypes, values, NULL, false, SPI_OK_UPDATE));
}

/*
 * purge_deleted(tbl, older_than): really deletes the rows marked deleted
 * longer ago than older_than, every tenant's: a job of the table's owner,
 * run as that owner with forced row-level security set aside for the
 * statement, as PostgreSQL's own referential checks run.
 */
PG_FUNCTION_INFO_V1(trovella_purge_deleted);
Datum
trovella_purge_deleted(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Interval   *older_than = PG_GETARG_INTERVAL_P(1);
	char	   *table = soft_delete_table(relid, "purge_deleted");
	Interval	zero = {0};
	Oid			argtypes[1] = {TIMESTAMPTZOID};
	Datum		values[1];
	Oid			saved_userid;
	int			saved_sec_context;
	volatile uint64 purged = 0;	/* (set in PG_TRY, read after it) */

	if (!table_ownercheck(relid, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("trovella: must be owner of table %s to call trovella.purge_deleted",
						relation_text(relid)),
				 errhint("Run the purge as the role that owns the table (the one that runs the migrations).")));
	if (DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(older_than),
										  IntervalPGetDatum(&zero))) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("trovella: older_than must not be negative")));
	values[0] = DirectFunctionCall2(timestamptz_mi_interval,
									TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
									IntervalPGetDatum(older_than));

	GetUserIdAndSecContext(&saved_userid, &saved_sec_context);
	SetUserIdAndSecContext(relation_owner(relid),
						   saved_sec_context | SECURITY_LOCAL_USERID_CHANGE | SECURITY_NOFORCE_RLS);
	PG_TRY();
	{
		purged = trovella_soft_delete_statement(
			psprintf("DELETE FROM %s WHERE deleted_at OPERATOR(pg_catalog.<) $1", table),
			1, argtypes, values, NULL, true, SPI_OK_DELETE);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(saved_userid, saved_sec_context);
	}
	PG_END_TRY();
	PG_RETURN_INT64((int64) purged);
}
