/*
 * import.c
 *		trovella.import_tenant(source): restores an export of export_tenant
 *		(export.c), loaded into a table of (ordinal, table_name, row), into
 *		a database whose schema exists and that holds no row of the tenant.
 *
 * In this order, and nothing is written before the last check passed:
 *	1. the manifest: one row with table_name NULL, this format (22P04);
 *	2. the rows against it: each table's count and SHA-256, and the total
 *	   (the SHA-256 of the tables' SHA-256s, in the manifest's order; XX001
 *	   on any difference: the export is not what was exported);
 *	   and no audit history made on Citus (0A000) (import_manifest.c);
 *	3. the tables: each one of the export is isolated here (42P01 when it
 *	   does not exist, 55000 when it is not isolated), row-level security
 *	   does not bind the caller on any (42501), and no isolated table nor
 *	   the audit history holds a row of the tenant (55000);
 *	4. the INSERTs, one per table, referenced tables before those that
 *	   reference them (pg_constraint), each row through
 *	   jsonb_populate_record, generated columns left out and identity
 *	   columns kept (OVERRIDING SYSTEM VALUE); trovella's row triggers keep
 *	   each of these rows as it is and record nothing (row_scope.h), but
 *	   not other rows inserted meanwhile (an application's trigger); the audit
 *	   history goes in verbatim, and the record numbers' sequence is moved
 *	   past its numbers, and so are the sequences of each table's identity
 *	   and serial columns.  Each table then holds exactly the manifest's
 *	   count of the tenant's rows, or the import fails (XX001: a row of
 *	   another tenant).
 * It runs as its caller, the operations role, with the caller's rights.
 * Its own statements run with only pg_catalog on the search path
 * (statement.c); the application's triggers that its INSERTs fire run on
 * the caller's search path, as in any INSERT of the caller's.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"
#include "utils/uuid.h"

#include "export.h"
#include "import_manifest.h"
#include "row_scope.h"
#include "sqlarg.h"
#include "statement.h"

#define IMPORT_BATCH 1000

static void
mismatch(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("trovella.import_tenant: the export does not match its manifest"),
			 errdetail("%s", what),
			 errhint("The rows were changed, lost or added since the export: export the tenant again.")));
}

static ImportTable *
find_table(List *tables, const char *name)
{
	ListCell   *lc;

	foreach(lc, tables)
	{
		ImportTable *table = lfirst(lc);

		if (strcmp(table->name, name) == 0)
			return table;
	}
	return NULL;
}

/* Every row, in order, against the manifest's counts and checksums. */
static void
verify_rows(const char *source, List *tables, int64 rows, const char *sha256)
{
	pg_cryptohash_ctx *total = trovella_sha256_begin();
	char		hex[PG_SHA256_DIGEST_LENGTH * 2 + 1];
	SPIPlanPtr	plan;
	Portal		portal;
	ImportTable *table = NULL;
	int64		seen = 0;
	ListCell   *lc;

	foreach(lc, tables)
		((ImportTable *) lfirst(lc))->hash = trovella_sha256_begin();
	plan = SPI_prepare(psprintf("SELECT s.table_name, s.row::pg_catalog.text FROM %s s"
								" WHERE s.table_name IS NOT NULL ORDER BY s.ordinal", source),
					   0, NULL);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, IMPORT_BATCH);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	t = SPI_tuptable->vals[i];
			TupleDesc	d = SPI_tuptable->tupdesc;
			char	   *name = SPI_getvalue(t, d, 1);
			char	   *row = SPI_getvalue(t, d, 2);
			size_t		len;

			if (table == NULL || strcmp(table->name, name) != 0)
				table = find_table(tables, name);
			if (table == NULL)
				mismatch(psprintf("Table %s is not in the manifest.", name));
			if (row == NULL)
				mismatch(psprintf("A row of table %s is null.", name));
			len = strlen(row);
			trovella_sha256_add(table->hash, row, len);
			trovella_sha256_add(table->hash, "\n", 1);
			table->seen++;
			seen++;
			pfree(row);
			pfree(name);
		}
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	SPI_freeplan(plan);

	foreach(lc, tables)
	{
		table = lfirst(lc);
		trovella_sha256_hex(table->hash, hex);
		table->hash = NULL;
		if (table->seen != table->rows)
			mismatch(psprintf("Table %s has " INT64_FORMAT " rows, the manifest says " INT64_FORMAT ".",
											  table->name, table->seen, table->rows));
		if (strcmp(hex, table->sha256) != 0)
			mismatch(psprintf("The rows of table %s do not have the manifest's SHA-256.",
											  table->name));
		trovella_sha256_add(total, hex, PG_SHA256_DIGEST_LENGTH * 2);
		trovella_sha256_add(total, "\n", 1);
	}
	trovella_sha256_hex(total, hex);
	if (seen != rows)
		mismatch(psprintf("The export has " INT64_FORMAT " rows, the manifest says " INT64_FORMAT ".",
										  seen, rows));
	if (strcmp(hex, sha256) != 0)
		mismatch("The rows do not have the manifest's total SHA-256.");
}

static char *
table_query(const char *what, ExportTable *target)
{
	return psprintf("SELECT %s FROM %s%s t WHERE t.%s OPERATOR(pg_catalog.=) $1", what,
					target->partitioned ? "" : "ONLY ", target->name,
					quote_identifier(target->column));
}

static int64
tenant_rows(ExportTable *target, Datum tenant, bool any)
{
	Oid			argtypes[1] = {UUIDOID};
	bool		isnull;

	if (SPI_execute_with_args(table_query(any ? "1" : "pg_catalog.count(*)", target),
							  1, argtypes, &tenant, NULL, false, any ? 1 : 0) != SPI_OK_SELECT)
		elog(ERROR, "could not count the tenant's rows");
	if (any)
		return (int64) SPI_processed;
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* Each table of the export is isolated here and holds no row of the tenant. */
static void
resolve_targets(List *tables, Datum tenant)
{
	List	   *targets = trovella_export_tables();
	ListCell   *lc;

	targets = lappend(targets, trovella_export_audit_table("audit_history", "seq"));
	targets = lappend(targets, trovella_export_audit_table("audit_seal", "seal_no"));
	foreach(lc, targets)
		trovella_refuse_rls_bound(((ExportTable *) lfirst(lc))->relid, "import_tenant");
	foreach(lc, tables)
	{
		ImportTable *table = lfirst(lc);
		ListCell   *lc2;

		foreach(lc2, targets)
		{
			ExportTable *target = lfirst(lc2);

			if (strcmp(target->name, table->name) == 0)
				table->target = target;
		}
		if (table->target == NULL)
		{
			Oid			argtypes[1] = {TEXTOID};
			Datum		name = CStringGetTextDatum(table->name);

			if (SPI_execute_with_args("SELECT pg_catalog.to_regclass($1) IS NULL", 1, argtypes,
									  &name, NULL, true, 1) != SPI_OK_SELECT)
				elog(ERROR, "could not look the table up");
			if (strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), "t") == 0)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_TABLE),
						 errmsg("trovella.import_tenant: table %s of the export does not exist here", table->name),
						 errhint("Create the schema first (the migrations, or pg_dump --schema-only).")));
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("trovella.import_tenant: table %s of the export is not tenant-isolated here", table->name),
					 errhint("Isolate it as on the source: SELECT trovella.enable_tenant_isolation('%s').", table->name)));
		}
	}
	foreach(lc, targets)
	{
		ExportTable *target = lfirst(lc);

		if (tenant_rows(target, tenant, true) > 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("trovella.import_tenant: the tenant already has rows here, in %s", target->name),
					 errdetail("An export is restored only where its tenant holds no row."),
					 errhint("Purge the tenant here first, or import into another database.")));
	}
}

/* The next table to insert: one whose referenced tables are all in. */
static ImportTable *
next_table(List *tables, List *references)
{
	ListCell   *lc;

	foreach(lc, tables)
	{
		ImportTable *table = lfirst(lc);
		bool		ready = !table->done;

		for (int i = 0; ready && i < list_length(references); i += 2)
		{
			Oid			referencing = list_nth_oid(references, i);
			Oid			referenced = list_nth_oid(references, i + 1);

			if (referencing == table->target->relid && referenced != referencing)
			{
				ListCell   *lc2;

				foreach(lc2, tables)
				{
					ImportTable *other = lfirst(lc2);

					if (other->target->relid == referenced && !other->done)
						ready = false;
				}
			}
		}
		if (ready)
			return table;
	}
	/* a cycle of foreign keys: the first left, in the export's order */
	foreach(lc, tables)
	{
		if (!((ImportTable *) lfirst(lc))->done)
			return lfirst(lc);
	}
	return NULL;
}

/* Pairs (referencing, referenced) of the foreign keys, by their trees' roots. */
static List *
foreign_keys(void)
{
	List	   *pairs = NIL;

	if (SPI_execute("SELECT coalesce(pg_catalog.pg_partition_root(c.conrelid), c.conrelid),"
					"       coalesce(pg_catalog.pg_partition_root(c.confrelid), c.confrelid)"
					" FROM pg_catalog.pg_constraint c WHERE c.contype OPERATOR(pg_catalog.=) 'f'",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the foreign keys");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		pairs = lappend_oid(pairs, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
																  SPI_tuptable->tupdesc, 1, &isnull)));
		pairs = lappend_oid(pairs, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
																  SPI_tuptable->tupdesc, 2, &isnull)));
	}
	return pairs;
}

/* The rows of one table, as the export holds them. */
static void
insert_rows(const char *source, ImportTable *table, Datum tenant, CallerPath *caller_path)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		relid = ObjectIdGetDatum(table->target->relid);
	Oid			nameargtypes[1] = {TEXTOID};
	Datum		name = CStringGetTextDatum(table->name);
	char	   *columns;
	char	   *values;
	char	   *insert;
	int			result;

	if (SPI_execute_with_args("SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum),"
							  "       pg_catalog.string_agg('r.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum)"
							  " FROM pg_catalog.pg_attribute a"
							  " WHERE a.attrelid OPERATOR(pg_catalog.=) $1 AND a.attnum OPERATOR(pg_catalog.>) 0"
							  "   AND NOT a.attisdropped AND a.attgenerated OPERATOR(pg_catalog.=) ''",
							  1, argtypes, &relid, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the columns");
	columns = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	values = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	insert = psprintf("INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s"
					  " FROM %s s CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(NULL::%s, s.row) r"
					  " WHERE s.table_name OPERATOR(pg_catalog.=) $1 ORDER BY s.ordinal",
					  table->name, columns, values, source, table->name);

	/*
	 * The application's triggers run as in an INSERT of the caller's, on
	 * the caller's search path; the statement names every object with its
	 * schema, so that path cannot change what it means.
	 */
	trovella_caller_path_begin(caller_path);
	result = SPI_execute_with_args(insert, 1, nameargtypes, &name, NULL, false, 0);
	trovella_caller_path_end(caller_path);
	if (result != SPI_OK_INSERT)
		elog(ERROR, "could not insert the rows of %s", table->name);
	if ((int64) SPI_processed != table->rows || tenant_rows(table->target, tenant, false) != table->rows)
		mismatch(psprintf("Rows of table %s belong to another tenant than the manifest's.", table->name));
}

/*
 * The sequences of a table's identity and serial columns, moved past the
 * greatest value the table now holds: the rows came with their values
 * (OVERRIDING SYSTEM VALUE), and the application's next INSERT into a
 * database whose sequences are at their start would take one of them.
 */
static void
move_sequences(ImportTable *table)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		relid = ObjectIdGetDatum(table->target->relid);
	SPITupleTable *sequences;
	uint64		n;

	if (SPI_execute_with_args("SELECT pg_catalog.quote_ident(sn.nspname) OPERATOR(pg_catalog.||) '.'"
							  "         OPERATOR(pg_catalog.||) pg_catalog.quote_ident(sc.relname),"
							  "       pg_catalog.quote_ident(a.attname)"
							  " FROM pg_catalog.pg_depend d"
							  " JOIN pg_catalog.pg_class sc ON sc.oid OPERATOR(pg_catalog.=) d.objid"
							  " JOIN pg_catalog.pg_namespace sn ON sn.oid OPERATOR(pg_catalog.=) sc.relnamespace"
							  " JOIN pg_catalog.pg_sequence q ON q.seqrelid OPERATOR(pg_catalog.=) d.objid"
							  " JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) d.refobjid"
							  "  AND a.attnum OPERATOR(pg_catalog.=) d.refobjsubid"
							  " WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
							  "   AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
							  "   AND d.refobjid OPERATOR(pg_catalog.=) $1"
							  "   AND d.deptype OPERATOR(pg_catalog.=) ANY ('{a,i}'::pg_catalog.\"char\"[])"
							  "   AND sc.relkind OPERATOR(pg_catalog.=) 'S'"
							  "   AND q.seqincrement OPERATOR(pg_catalog.>) 0",
							  1, argtypes, &relid, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the sequences of %s", table->name);
	sequences = SPI_tuptable;
	n = SPI_processed;
	for (uint64 i = 0; i < n; i++)
	{
		char	   *sequence = SPI_getvalue(sequences->vals[i], sequences->tupdesc, 1);
		char	   *column = SPI_getvalue(sequences->vals[i], sequences->tupdesc, 2);

		if (SPI_execute(psprintf("SELECT pg_catalog.setval(%s::pg_catalog.regclass, x.m)"
								 " FROM (SELECT pg_catalog.max(t.%s) AS m FROM %s t) x, %s s"
								 " WHERE x.m OPERATOR(pg_catalog.>=) s.last_value",
								 quote_literal_cstr(sequence), column, table->name, sequence),
						false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not move sequence %s", sequence);
	}
	SPI_freetuptable(sequences);
}

/* The rows of one table, trovella's row triggers keeping them as exported. */
static void
insert_restoring(const char *source, ImportTable *table, Datum tenant, CallerPath *caller_path)
{
	trovella_row_scope_begin(ROW_SCOPE_IMPORT, DatumGetUUIDP(tenant), table->target->relid,
							 table->target->column);
	PG_TRY();
	{
		insert_rows(source, table, tenant, caller_path);
	}
	PG_FINALLY();
	{
		trovella_row_scope_end(ROW_SCOPE_IMPORT);
	}
	PG_END_TRY();
}

/* Every table in foreign-key order, each a row of the result. */
static void
insert_tables(const char *source, List *tables, List *references, Datum tenant,
			  CallerPath *caller_path, Tuplestorestate *store, TupleDesc desc)
{
	ImportTable *table;

	while ((table = next_table(tables, references)) != NULL)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		if (table->rows > 0)
		{
			insert_restoring(source, table, tenant, caller_path);
			move_sequences(table);
		}
		table->done = true;
		values[0] = CStringGetTextDatum(table->name);
		values[1] = Int64GetDatum(table->rows);
		tuplestore_putvalues(store, desc, values, nulls);
	}
}

/* import_tenant(source regclass): the rows inserted, per table. */
PG_FUNCTION_INFO_V1(trovella_import_tenant);
Datum
trovella_import_tenant(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Tuplestorestate *store;
	TupleDesc	desc;
	SpiSection	spi;
	CallerPath	caller_path;
	const char *source;
	Datum		tenant;
	int64		rows;
	char	   *sha256;
	List	   *tables;
	List	   *references;

	trovella_require_arg(fcinfo, 0, "source", "import_tenant");
	source = trovella_export_table_name(PG_GETARG_OID(0));
	InitMaterializedSRF(fcinfo, 0);
	store = rsinfo->setResult;
	desc = rsinfo->setDesc;

	trovella_caller_path_save(&caller_path);
	trovella_spi_connect(&spi);
	tables = trovella_import_read_manifest(source, &tenant, &rows, &sha256);
	verify_rows(source, tables, rows, sha256);
	trovella_import_refuse_citus_history(source);
	resolve_targets(tables, tenant);
	references = foreign_keys();
	insert_tables(source, tables, references, tenant, &caller_path, store, desc);

	/* the records' numbers: new records here come after the imported ones */
	if (SPI_execute("SELECT pg_catalog.setval('trovella.audit_seq', h.seq)"
					" FROM (SELECT pg_catalog.max(seq) AS seq FROM trovella.audit_history) h,"
					"      trovella.audit_seq s"
					" WHERE h.seq OPERATOR(pg_catalog.>) s.last_value", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not move the audit sequence");
	trovella_spi_finish(&spi);
	return (Datum) 0;
}
