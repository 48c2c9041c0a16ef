/*
 * export.c
 *		trovella.export_tenant(tenant): every row of one tenant, from every
 *		table trovella isolates and from its audit history, as (ordinal,
 *		table_name, row jsonb), then a manifest with each table's row count
 *		and SHA-256 (the format: README, "Export and import").
 *
 * The function runs as its caller, the operations role, and reads each
 * table with an explicit filter on its tenant column: a caller that
 * row-level security binds on one of them is refused before any row is
 * read (42501), since its view of the table may lack rows of the tenant
 * (those soft delete hides, for one) and the export would still look whole.
 *
 * Every statement is read-only: it runs under the calling statement's
 * snapshot, so the export is one consistent picture of the tenant.  Each
 * table is read by one statement whose rows the executor hands over one by
 * one (a DestReceiver): each becomes its jsonb there (row_jsonb.c), and
 * goes into the function's tuplestore, which spills to disk past work_mem,
 * so that the backend never holds the tenant in memory.  A table's SHA-256
 * is over its rows' text; the total over the tables' SHA-256s.
 *
 * A partitioned table is read once, through the root of its isolated tree
 * (its partitions' rows come with it); a table with inheritance children
 * is read ONLY, each child being an isolated table of its own.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/params.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rls.h"
#include "utils/tuplestore.h"
#include "utils/uuid.h"

#include "citus.h"
#include "export.h"
#include "row_jsonb.h"
#include "sqlarg.h"
#include "statement.h"

/* The state of an export, between tables. */
typedef struct ExportState
{
	Tuplestorestate *store;
	TupleDesc	desc;
	pg_cryptohash_ctx *total;
	int64		ordinal;
	int64		progress_rows;
	StringInfoData tables;		/* the manifest's "tables" array, so far */
	MemoryContext table_context;	/* what is looked up for a table's rows */
	MemoryContext row_context;
} ExportState;

pg_cryptohash_ctx *
trovella_sha256_begin(void)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (ctx == NULL || pg_cryptohash_init(ctx) < 0)
		elog(ERROR, "could not compute SHA-256");
	return ctx;
}

void
trovella_sha256_add(pg_cryptohash_ctx *ctx, const char *data, size_t len)
{
	if (pg_cryptohash_update(ctx, (const uint8 *) data, len) < 0)
		elog(ERROR, "could not compute SHA-256: %s", pg_cryptohash_error(ctx));
}

void
trovella_sha256_hex(pg_cryptohash_ctx *ctx, char hex[PG_SHA256_DIGEST_LENGTH * 2 + 1])
{
	uint8		digest[PG_SHA256_DIGEST_LENGTH];

	if (pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
		elog(ERROR, "could not compute SHA-256: %s", pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
	hex_encode((const char *) digest, sizeof(digest), hex);
	hex[PG_SHA256_DIGEST_LENGTH * 2] = '\0';
}

char *
trovella_export_table_name(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

void
trovella_refuse_rls_bound(Oid relid, const char *function_name)
{
	if (check_enable_rls(relid, InvalidOid, true) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("trovella.%s: row-level security binds role \"%s\" on table %s",
						function_name, GetUserNameFromId(GetUserId(), false),
						trovella_export_table_name(relid)),
				 errdetail("It would see one tenant's view of the table, not every row of the tenant."),
				 errhint("Run it as the operations role (BYPASSRLS, as app_backup in the README's Operations section).")));
}

/*
 * The tables trovella isolates, by name: those with trovella's policies on
 * a tenant column, but a partition whose ancestor has them (read through
 * that ancestor), temporary tables and trovella's own, whose audit history
 * export_tenant reads apart.
 */
List *
trovella_export_tables(void)
{
	List	   *tables = NIL;

	if (SPI_execute("SELECT c.oid, trovella.tenant_policy_column(c.oid)::pg_catalog.text,"
					"       c.relkind OPERATOR(pg_catalog.=) 'p'"
					" FROM pg_catalog.pg_class c"
					" JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace"
					" WHERE c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p}'::\"char\"[])"
					"   AND c.relpersistence OPERATOR(pg_catalog.<>) 't'"
					"   AND n.nspname OPERATOR(pg_catalog.<>) ALL ('{trovella,information_schema}'::pg_catalog.name[])"
					"   AND n.nspname OPERATOR(pg_catalog.!~~) 'pg\\_%'"
					"   AND trovella.tenant_policy_column(c.oid) IS NOT NULL"
					"   AND NOT EXISTS (SELECT FROM pg_catalog.pg_partition_ancestors(c.oid) a"
					"                   WHERE a.relid OPERATOR(pg_catalog.<>) c.oid"
					"                     AND trovella.tenant_policy_column(a.relid) IS NOT NULL)"
					" ORDER BY n.nspname COLLATE \"C\", c.relname COLLATE \"C\"",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list the isolated tables");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;
		Oid			relid = DatumGetObjectId(SPI_getbinval(t, d, 1, &isnull));
		ExportTable *table;

		/*
		 * A Citus shard on this node (a coordinator holding shards, where
		 * SPI sees them): its rows are read through its Citus table.
		 */
		if (trovella_citus_is_shard(relid))
			continue;
		table = palloc(sizeof(ExportTable));
		table->relid = relid;
		table->name = trovella_export_table_name(table->relid);
		table->column = SPI_getvalue(t, d, 2);
		table->partitioned = DatumGetBool(SPI_getbinval(t, d, 3, &isnull));
		table->order_by = NULL;
		tables = lappend(tables, table);
	}
	return tables;
}

ExportTable *
trovella_export_audit_table(const char *table, const char *order_by)
{
	ExportTable *result = palloc(sizeof(ExportTable));

	result->relid = get_relname_relid(table, get_namespace_oid("trovella", false));
	if (!OidIsValid(result->relid))
		elog(ERROR, "trovella.%s is missing", table);
	result->name = psprintf("trovella.%s", table);
	result->column = "tenant_id";
	result->partitioned = false;
	result->order_by = order_by;
	return result;
}

static void
put_row(ExportState *state, const char *table_name, Datum row, bool row_null)
{
	Datum		values[3];
	bool		nulls[3] = {false, table_name == NULL, row_null};

	values[0] = Int64GetDatum(++state->ordinal);
	values[1] = table_name ? CStringGetTextDatum(table_name) : (Datum) 0;
	values[2] = row;
	tuplestore_putvalues(state->store, state->desc, values, nulls);
}

/*
 * Where the executor sends a table's rows: each one becomes its jsonb
 * (row_jsonb.c), goes into the table's hash and the output.
 */
typedef struct ExportReceiver
{
	DestReceiver pub;
	ExportState *state;
	const char *table_name;
	RowJsonbShape *shape;
	pg_cryptohash_ctx *hash;
	int64		rows;
} ExportReceiver;

static void
export_startup(DestReceiver *self, int operation, TupleDesc desc)
{
	ExportReceiver *receiver = (ExportReceiver *) self;
	MemoryContext old = MemoryContextSwitchTo(receiver->state->table_context);

	receiver->shape = trovella_row_jsonb_shape(desc);
	MemoryContextSwitchTo(old);
}

static bool
export_receive(TupleTableSlot *slot, DestReceiver *self)
{
	ExportReceiver *receiver = (ExportReceiver *) self;
	ExportState *state = receiver->state;
	MemoryContext old = MemoryContextSwitchTo(state->row_context);
	Jsonb	   *row;
	StringInfoData text;

	slot_getallattrs(slot);
	initStringInfo(&text);	/* (in row_context: freed with the row) */
	row = trovella_row_jsonb(receiver->shape, slot->tts_values, slot->tts_isnull,
							 NULL, &text);
	appendStringInfoChar(&text, '\n');
	trovella_sha256_add(receiver->hash, text.data, text.len);
	put_row(state, receiver->table_name, PointerGetDatum(row), false);
	MemoryContextSwitchTo(old);
	MemoryContextReset(state->row_context);
	if (++receiver->rows % state->progress_rows == 0)
		ereport(NOTICE,
				(errmsg("trovella: exported " INT64_FORMAT " rows of %s",
						receiver->rows, receiver->table_name)));
	return true;
}

static void
export_shutdown(DestReceiver *self)
{
}

static void
export_destroy(DestReceiver *self)
{
}

/*
 * Every row of one table: into the output and the table's hash, straight
 * from the executor (no copy of the rows in between); the table's entry
 * of the manifest, and its hash into the total.
 */
static void
export_one(ExportState *state, ExportTable *table, Datum tenant)
{
	ExportReceiver receiver;
	SPIExecuteOptions options;
	char		hex[PG_SHA256_DIGEST_LENGTH * 2 + 1];

	memset(&receiver, 0, sizeof(receiver));
	receiver.pub.receiveSlot = export_receive;
	receiver.pub.rStartup = export_startup;
	receiver.pub.rShutdown = export_shutdown;
	receiver.pub.rDestroy = export_destroy;
	receiver.pub.mydest = DestTuplestore;	/* (DestNone would mean "discard") */
	receiver.state = state;
	receiver.table_name = table->name;
	receiver.hash = trovella_sha256_begin();

	memset(&options, 0, sizeof(options));
	options.params = makeParamList(1);
	options.params->numParams = 1;
	options.params->params[0].value = tenant;
	options.params->params[0].isnull = false;
	options.params->params[0].pflags = PARAM_FLAG_CONST;
	options.params->params[0].ptype = UUIDOID;
	options.read_only = true;
	options.dest = &receiver.pub;
	if (SPI_execute_extended(psprintf("SELECT t.* FROM %s%s t"
									  " WHERE t.%s OPERATOR(pg_catalog.=) $1%s%s",
									  table->partitioned ? "" : "ONLY ", table->name,
									  quote_identifier(table->column),
									  table->order_by ? " ORDER BY t." : "",
									  table->order_by ? table->order_by : ""),
							 &options) != SPI_OK_SELECT)
		elog(ERROR, "could not read table %s", table->name);
	MemoryContextReset(state->table_context);

	trovella_sha256_hex(receiver.hash, hex);
	trovella_sha256_add(state->total, hex, PG_SHA256_DIGEST_LENGTH * 2);
	trovella_sha256_add(state->total, "\n", 1);
	if (state->tables.len > 1)
		appendStringInfoChar(&state->tables, ',');
	appendStringInfoString(&state->tables, "{\"table\":");
	escape_json(&state->tables, table->name);
	appendStringInfo(&state->tables, ",\"rows\":" INT64_FORMAT ",\"sha256\":\"%s\"}",
					 receiver.rows, hex);
}

/* The manifest, the last row: table_name NULL. */
static void
put_manifest(ExportState *state, Datum tenant)
{
	Oid			argtypes[4] = {UUIDOID, JSONBOID, INT8OID, TEXTOID};
	Datum		values[4];
	char		hex[PG_SHA256_DIGEST_LENGTH * 2 + 1];
	bool		isnull;
	Datum		manifest;

	appendStringInfoChar(&state->tables, ']');
	trovella_sha256_hex(state->total, hex);
	values[0] = tenant;
	values[1] = DirectFunctionCall1(jsonb_in, CStringGetDatum(state->tables.data));
	values[2] = Int64GetDatum(state->ordinal);
	values[3] = CStringGetTextDatum(hex);
	if (SPI_execute_with_args("SELECT pg_catalog.jsonb_build_object("
							  " 'format', 'trovella-export', 'version', 1, 'tenant', $1,"
							  " 'exported_at', pg_catalog.statement_timestamp(),"
							  " 'postgresql', pg_catalog.current_setting('server_version'),"
							  " 'trovella', (SELECT e.extversion FROM pg_catalog.pg_extension e"
							  "              WHERE e.extname OPERATOR(pg_catalog.=) 'trovella'),"
							  " 'tables', $2, 'rows', $3, 'sha256', $4)",
							  4, argtypes, values, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not make the manifest");
	manifest = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	put_row(state, NULL, manifest, false);
}

/* export_tenant(tenant uuid, progress_rows bigint): the rows, then the manifest. */
PG_FUNCTION_INFO_V1(trovella_export_tenant);
Datum
trovella_export_tenant(PG_FUNCTION_ARGS)
{
	static const pg_uuid_t nil;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ExportState state;
	SpiSection spi;
	Datum		tenant;
	List	   *tables;
	ListCell   *lc;

	trovella_require_arg(fcinfo, 0, "tenant", "export_tenant");
	trovella_require_arg(fcinfo, 1, "progress_rows", "export_tenant");
	tenant = PG_GETARG_DATUM(0);
	if (memcmp(DatumGetUUIDP(tenant)->data, nil.data, UUID_LEN) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("trovella.export_tenant: the nil uuid is not a tenant"),
				 errhint("The nil tenant's context is the owner's for maintenance; it holds no tenant's rows.")));
	state.progress_rows = PG_GETARG_INT64(1);
	if (state.progress_rows <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("trovella.export_tenant: progress_rows must be positive")));

	InitMaterializedSRF(fcinfo, 0);
	state.store = rsinfo->setResult;
	state.desc = rsinfo->setDesc;
	state.ordinal = 0;
	state.total = trovella_sha256_begin();
	initStringInfo(&state.tables);
	appendStringInfoChar(&state.tables, '[');
	state.table_context = AllocSetContextCreate(CurrentMemoryContext, "trovella export table",
												ALLOCSET_DEFAULT_SIZES);
	state.row_context = AllocSetContextCreate(CurrentMemoryContext, "trovella export row",
											  ALLOCSET_DEFAULT_SIZES);

	trovella_spi_connect(&spi);
	tables = trovella_export_tables();
	tables = lappend(tables, trovella_export_audit_table("audit_history", "seq"));
	tables = lappend(tables, trovella_export_audit_table("audit_seal", "seal_no"));
	/* refuse before reading: never a partial export */
	foreach(lc, tables)
		trovella_refuse_rls_bound(((ExportTable *) lfirst(lc))->relid, "export_tenant");
	foreach(lc, tables)
		export_one(&state, lfirst(lc), tenant);
	put_manifest(&state, tenant);
	trovella_spi_finish(&spi);
	MemoryContextDelete(state.row_context);
	MemoryContextDelete(state.table_context);
	return (Datum) 0;
}
