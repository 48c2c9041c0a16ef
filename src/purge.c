/*
 * purge.c
 *		trovella.purge_tenant(tenant, INOUT receipt): a procedure of the
 *		operations role that deletes a suspended tenant's rows from every
 *		table trovella isolates (and the membership table), referencing
 *		tables before those they reference, in batches of
 *		trovella.purge_batch_rows rows each committed on its own, so that
 *		no other tenant waits long on a lock and a cancelled or crashed
 *		purge resumes where it stopped: trovella.purge_run keeps the counts
 *		taken when it began.  Its last transaction (purge_finish.c) erases
 *		the rest and writes the receipt.
 *
 *		It reads and deletes as its caller, who must be a role that
 *		row-level security does not bind: a purge judged from one tenant's
 *		view would report success over rows it never saw.  A procedure that
 *		commits may neither be SECURITY DEFINER nor have a SET clause, so
 *		it names every object in its statements with its schema, and reads
 *		the catalog with only pg_catalog on the search path.  trovella's own
 *		tables it writes as the extension's owner, from C only: no SQL
 *		function offers those steps.  Called inside a transaction block (or
 *		from a function), it runs in that one transaction.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "citus.h"
#include "cluster_purge.h"
#include "compat.h"
#include "purge.h"
#include "row_scope.h"
#include "statement.h"

/* trovella.purge_batch_rows: rows deleted from a table per transaction. */
static int	purge_batch_rows = 5000;

/*
 * trovella.purge_batch_pause: milliseconds the purge waits after a batch
 * has committed, before the next, holding no lock and no snapshot: the
 * CPU and the WAL it leaves to the other tenants' transactions.
 */
static int	purge_batch_pause = 0;

/*
 * Every table trovella isolates (its policies name the tenant column),
 * outside trovella's schema, and the registered membership table; each
 * table that holds rows, partitions at any depth included; ordered so that
 * a table comes before every table it references (tables of one partition
 * tree as their root).
 */
static const char *const tables_sql =
"WITH RECURSIVE isolated AS ("
"  SELECT c.oid, trovella.tenant_policy_column(c.oid) AS col"
"  FROM pg_class c"
"  WHERE c.relkind = 'r'"
"    AND c.relnamespace <> 'trovella'::regnamespace"
"    AND NOT pg_is_other_temp_schema(c.relnamespace)"
"    AND EXISTS (SELECT FROM pg_policy p WHERE p.polrelid = c.oid"
"                AND p.polname IN ('trovella_tenant_isolation', 'trovella_tenant_access'))"
"  UNION"
"  SELECT m.tbl::oid, m.tenant_column FROM trovella.membership m"
"  JOIN pg_class c ON c.oid = m.tbl AND c.relkind = 'r'),"
" purged AS ("
"  SELECT i.oid, i.col, coalesce(pg_partition_root(i.oid)::oid, i.oid) AS root"
"  FROM isolated i WHERE i.col IS NOT NULL),"
" refs AS ("
"  SELECT DISTINCT coalesce(pg_partition_root(f.conrelid)::oid, f.conrelid) AS child,"
"         coalesce(pg_partition_root(f.confrelid)::oid, f.confrelid) AS parent"
"  FROM pg_constraint f WHERE f.contype = 'f'),"
" edges AS ("
"  SELECT r.child, r.parent FROM refs r"
"  WHERE r.child <> r.parent"
"    AND EXISTS (SELECT FROM purged p WHERE p.root = r.child)"
"    AND EXISTS (SELECT FROM purged p WHERE p.root = r.parent)),"
" walk(rel, depth) AS ("
"  SELECT DISTINCT p.root, 0 FROM purged p"
"  UNION"
"  SELECT e.parent, w.depth + 1 FROM walk w JOIN edges e ON e.child = w.rel"
"  WHERE w.depth < 64),"
" ranked AS (SELECT w.rel, max(w.depth) AS depth FROM walk w GROUP BY w.rel)"
" SELECT p.oid, format('%I.%I', n.nspname, c.relname), p.oid::regclass::text,"
"        format('%I', p.col), p.col::text,"
"        (SELECT string_agg(format('%I', a.attname), ', ' ORDER BY k.n)"
"         FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, n)"
"         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
"         WHERE i.indrelid = p.oid AND i.indisprimary)"
" FROM purged p"
" JOIN ranked r ON r.rel = p.root"
" JOIN pg_class c ON c.oid = p.oid"
" JOIN pg_namespace n ON n.oid = c.relnamespace"
" ORDER BY r.depth, p.root, p.oid";

void
PurgeInit(void)
{
	DefineCustomIntVariable("trovella.purge_batch_rows",
							gettext_noop("Rows trovella.purge_tenant deletes from one table in one transaction."),
							NULL,
							&purge_batch_rows,
							5000,
							1,
							1000000,
							PGC_USERSET,
							0,
							NULL,
							NULL,
							NULL);
	DefineCustomIntVariable("trovella.purge_batch_pause",
							gettext_noop("Milliseconds trovella.purge_tenant waits after each committed batch."),
							gettext_noop("Time left to the other tenants' transactions; 0 does not wait."),
							&purge_batch_pause,
							0,
							0,
							60000,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL,
							NULL,
							NULL);
}

/*
 * Wait trovella.purge_batch_pause between two batches, a cancel or a
 * terminate served at once.
 */
static void
pause_between_batches(void)
{
	TimestampTz until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), purge_batch_pause);

	for (;;)
	{
		long		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), until);

		CHECK_FOR_INTERRUPTS();
		if (left <= 0)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 left, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* The tenant's rows in the table now, read as the caller. */
static int64
count_rows(PurgeState *state, PurgeTable *table)
{
	Oid			argtypes[1] = {UUIDOID};
	bool		isnull;
	int			level;
	char	   *sql = psprintf("SELECT pg_catalog.count(*) FROM ONLY %s WHERE %s OPERATOR(pg_catalog.=) $1",
							   table->name, table->column);

	level = trovella_serial_begin();
	if (SPI_execute_with_args(sql, 1, argtypes, &state->tenant_datum, NULL, false, 0) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not count the rows of table %s", table->label);
	trovella_serial_end(level);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * 55000 unless the tenant is suspended.  The suspension's row is locked
 * FOR SHARE to the end of the transaction: a resume waits for the batch,
 * and the next batch sees it.
 */
static void
require_suspended(PurgeState *state)
{
	OwnerSection section;
	Oid			argtypes[1] = {UUIDOID};
	bool		suspended;

	trovella_begin_owner_section_as(state->owner, &section);
	if (SPI_execute_with_args("SELECT FROM trovella.suspended_tenant s"
							  " WHERE s.tenant_id OPERATOR(pg_catalog.=) $1 FOR SHARE",
							  1, argtypes, &state->tenant_datum, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read trovella.suspended_tenant");
	suspended = SPI_processed > 0;
	trovella_end_owner_section(&section);
	if (!suspended)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("trovella.purge_tenant: the tenant is not suspended"),
				 errdetail("A purge erases what the tenant's transactions could still be writing."),
				 errhint("SELECT trovella.suspend_tenant(tenant, reason) first.")));
}

/*
 * The tables to purge, in order, as the caller sees the catalog; each one
 * row-level security binds the caller on refused.
 */
static void
list_tables(PurgeState *state, MemoryContext cxt)
{
	CatalogSearchPath path;
	ListCell   *lc;

	push_catalog_search_path(&path);
	if (SPI_execute(tables_sql, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list the isolated tables");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		MemoryContext old;
		PurgeTable *table;
		char	   *column;
		ListCell   *c;
		bool		known = false;

		/* a shard on this node: its rows go through its Citus table */
		if (trovella_citus_is_shard(DatumGetObjectId(SPI_getbinval(tuple, desc, 1, &isnull))))
			continue;
		old = MemoryContextSwitchTo(cxt);
		table = palloc0(sizeof(PurgeTable));
		column = SPI_getvalue(tuple, desc, 5);

		table->relid = DatumGetObjectId(SPI_getbinval(tuple, desc, 1, &isnull));
		table->name = SPI_getvalue(tuple, desc, 2);
		table->label = SPI_getvalue(tuple, desc, 3);
		table->column = SPI_getvalue(tuple, desc, 4);
		table->column_name = column;
		table->key = SPI_getvalue(tuple, desc, 6);
		table->citus = trovella_citus_managed(table->relid);
		table->before = -1;
		state->tables = lappend(state->tables, table);
		foreach(c, state->columns)
			known |= strcmp(lfirst(c), column) == 0;
		if (!known)
			state->columns = lappend(state->columns, column);
		MemoryContextSwitchTo(old);
	}
	pop_catalog_search_path(&path);
	foreach(lc, state->tables)
	{
		PurgeTable *table = lfirst(lc);

		trovella_purge_require_full_view(table->relid, table->label);
	}
}

/*
 * The counts taken when the purge began: from trovella.purge_run when a
 * purge of the tenant did not finish, else counted now and kept there.
 * Returns whether the purge resumes.
 */
static bool
begin_run(PurgeState *state)
{
	OwnerSection section;
	Oid			argtypes[2] = {UUIDOID, TEXTOID};
	Datum		values[2];
	bool		resumed;
	StringInfoData counts;
	bool		first = true;
	ListCell   *lc;

	trovella_begin_owner_section_as(state->owner, &section);
	if (SPI_execute_with_args("SELECT k.key, k.value::pg_catalog.int8"
							  " FROM trovella.purge_run r, pg_catalog.jsonb_each_text(r.counts_before) k"
							  " WHERE r.tenant_id OPERATOR(pg_catalog.=) $1",
							  1, argtypes, &state->tenant_datum, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read trovella.purge_run");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *label = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		bool		isnull;
		int64		before = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));

		foreach(lc, state->tables)
		{
			PurgeTable *table = lfirst(lc);

			if (strcmp(table->label, label) == 0)
				table->before = before;
		}
	}
	if (SPI_execute_with_args("SELECT FROM trovella.purge_run r WHERE r.tenant_id OPERATOR(pg_catalog.=) $1",
							  1, argtypes, &state->tenant_datum, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read trovella.purge_run");
	resumed = SPI_processed > 0;
	trovella_end_owner_section(&section);

	/* a table new since the purge began: its count now */
	initStringInfo(&counts);
	appendStringInfoChar(&counts, '{');
	foreach(lc, state->tables)
	{
		PurgeTable *table = lfirst(lc);

		if (table->before < 0)
			table->before = count_rows(state, table);
		if (!first)
			appendStringInfoString(&counts, ", ");
		escape_json(&counts, table->label);
		appendStringInfo(&counts, ": " INT64_FORMAT, table->before);
		first = false;
	}
	appendStringInfoChar(&counts, '}');
	if (resumed)
		return true;

	values[0] = state->tenant_datum;
	values[1] = CStringGetTextDatum(counts.data);
	trovella_begin_owner_section_as(state->owner, &section);
	if (SPI_execute_with_args("INSERT INTO trovella.purge_run (tenant_id, started_at, started_by, counts_before, status)"
							  " VALUES ($1, pg_catalog.statement_timestamp(), pg_catalog.\"session_user\"(),"
							  "         $2::pg_catalog.jsonb, 'deleting')",
							  2, argtypes, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not write trovella.purge_run");
	trovella_end_owner_section(&section);
	return false;
}

/* Delete the tenant's rows from the table, a batch per transaction. */
static void
purge_table(PurgeState *state, PurgeTable *table, bool resumed, bool nonatomic)
{
	Oid			argtypes[1] = {UUIDOID};
	int			batch = purge_batch_rows;
	int64		remaining = resumed ? count_rows(state, table) : table->before;
	int64		total = Max(table->before, remaining);
	int64		done = total - remaining;
	char	   *sql;

	if (!table->citus)
		sql = psprintf("DELETE FROM ONLY %s WHERE ctid OPERATOR(pg_catalog.=) ANY (ARRAY("
					   "SELECT ctid FROM ONLY %s WHERE %s OPERATOR(pg_catalog.=) $1 LIMIT %d))",
					   table->name, table->name, table->column, batch);
	else if (table->key != NULL)
		/* Citus routes a batch by the tenant to its shard; no ctid there */
		/*
		 * Rows compared as records (record_eq: each column's default
		 * equality, from its type), not by an IN whose = the caller's
		 * search path would resolve.
		 */
		sql = psprintf("DELETE FROM %s WHERE %s OPERATOR(pg_catalog.=) $1 AND ROW(%s) OPERATOR(pg_catalog.=) ANY (ARRAY("
					   "SELECT ROW(%s) FROM %s WHERE %s OPERATOR(pg_catalog.=) $1 LIMIT %d))",
					   table->name, table->column, table->key,
					   table->key, table->name, table->column, batch);
	else
		sql = psprintf("DELETE FROM %s WHERE %s OPERATOR(pg_catalog.=) $1",
					   table->name, table->column);

	/*
	 * Until a batch finds no row: one that another session updated since
	 * the batch read its ctid is not deleted by it, and comes next time.
	 */
	for (;;)
	{
		uint64		deleted;

		/* a tenant resumed meanwhile is live again: not one more batch */
		require_suspended(state);
		trovella_row_scope_begin(ROW_SCOPE_PURGE, &state->tenant, table->relid, table->column_name);
		/* the same scope, signed, for the workers' shards of a Citus table */
		if (table->citus)
			trovella_cluster_purge_scope_send(&state->tenant, table->relid, table->column_name);
		if (SPI_execute_with_args(sql, 1, argtypes, &state->tenant_datum, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not delete from table %s", table->label);
		if (table->citus)
			trovella_cluster_purge_scope_send(NULL, InvalidOid, NULL);
		trovella_row_scope_end(ROW_SCOPE_PURGE);
		deleted = SPI_processed;
		if (deleted == 0)
			break;
		done += deleted;
		ereport(NOTICE,
				(errmsg("trovella.purge_tenant: purged " UINT64_FORMAT " rows of %s (" INT64_FORMAT " of " INT64_FORMAT ")",
						deleted, table->label, done, Max(total, done))));
		if (nonatomic)
		{
			SPI_commit();
			/* not after a short batch: the next finds no row, most likely */
			if (purge_batch_pause > 0 && deleted >= (uint64) batch)
				pause_between_batches();
		}
	}
}

/* Mark the run as past its deletions, so that they are not counted again. */
static void
mark_verifying(PurgeState *state)
{
	OwnerSection section;
	Oid			argtypes[1] = {UUIDOID};

	trovella_begin_owner_section_as(state->owner, &section);
	if (SPI_execute_with_args("UPDATE trovella.purge_run r SET status = 'verifying'"
							  " WHERE r.tenant_id OPERATOR(pg_catalog.=) $1",
							  1, argtypes, &state->tenant_datum, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not write trovella.purge_run");
	trovella_end_owner_section(&section);
}

/*
 * One purge of a tenant at a time: a lock of the session, held across the
 * purge's commits, on an advisory tag of this database and the tenant's
 * 128 bits folded to 64 (two tenants sharing the tag only wait for each
 * other's turn: the second is refused and may be called again), with
 * trovella's own fourth field, apart from pg_advisory_lock()'s 1 and 2.
 */
#define PURGE_LOCK_FIELD 35

static void
purge_locktag(LOCKTAG *tag, const pg_uuid_t *tenant)
{
	uint32		k[4];

	memcpy(k, tenant->data, sizeof(k));
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, k[0] ^ k[2], k[1] ^ k[3], PURGE_LOCK_FIELD);
}

/* CALL trovella.purge_tenant(tenant uuid, INOUT receipt jsonb DEFAULT NULL) */
PG_FUNCTION_INFO_V1(trovella_purge_tenant);
Datum
trovella_purge_tenant(PG_FUNCTION_ARGS)
{
	static const pg_uuid_t nil = {{0}};
	MemoryContext outer = CurrentMemoryContext;
	PurgeState *state = palloc0(sizeof(PurgeState));
	bool		nonatomic = fcinfo->context != NULL && IsA(fcinfo->context, CallContext) &&
		!castNode(CallContext, fcinfo->context)->atomic;
	char	   *receipt = NULL;
	LOCKTAG		tag;
	volatile bool locked = false;
	TupleDesc	desc;
	Datum		values[1];
	bool		nulls[1] = {false};

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("trovella.purge_tenant: tenant must not be NULL")));
	state->tenant = *PG_GETARG_UUID_P(0);
	state->tenant_datum = UUIDPGetDatum(&state->tenant);
	if (memcmp(&state->tenant, &nil, UUID_LEN) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("trovella.purge_tenant: the nil tenant cannot be purged"),
				 errdetail("The nil uuid's context is the owner's for maintenance, not a tenant's.")));
	state->owner = trovella_function_owner(fcinfo);

	if (SPI_connect_ext(nonatomic ? SPI_OPT_NONATOMIC : 0) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	purge_locktag(&tag, &state->tenant);
	PG_TRY();
	{
		bool		resumed;
		ListCell   *lc;

		if (LockAcquire(&tag, ExclusiveLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
			ereport(ERROR,
					(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
					 errmsg("trovella.purge_tenant: another purge of the tenant is running"),
					 errhint("Let it finish; once it has stopped, a CALL resumes where it stopped.")));
		locked = true;
		require_suspended(state);
		list_tables(state, outer);
		resumed = begin_run(state);
		if (nonatomic)
			SPI_commit();
		foreach(lc, state->tables)
			purge_table(state, lfirst(lc), resumed, nonatomic);
		mark_verifying(state);
		if (nonatomic)
			SPI_commit();
		receipt = trovella_purge_finish(state);
		receipt = MemoryContextStrdup(outer, receipt);
	}
	PG_FINALLY();
	{
		trovella_row_scope_end(ROW_SCOPE_PURGE);
		if (locked)
			LockRelease(&tag, ExclusiveLock, true);
	}
	PG_END_TRY();
	SPI_finish();

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = DirectFunctionCall1(jsonb_in, CStringGetDatum(receipt));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}
