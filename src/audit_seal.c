/*
 * audit_seal.c
 *		The audit history's tamper evidence: one hash chain per tenant,
 *		sealed in batches by trovella.audit_seal() (a job), so that no
 *		writer waits for another; checked by trovella.audit_verify(); its
 *		current end handed out by trovella.audit_head().
 *
 * The chain and its digests: audit_chain.c.  On a single node a seal
 * covers the tenant's records numbered after seal n-1's upto and up to
 * its own; audit_seal() reads the sequence's last number and waits for
 * its writers (trovella_audit_final_number).  The numbers, unlike
 * transaction ids, survive a dump and restore.  Where Citus distributes
 * the history, each node seals the placements it holds
 * (audit_seal_citus.c), and the coordinator has every node do so.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/xid8.h"

#include "audit.h"
#include "audit_chain.h"
#include "citus.h"
#include "compat.h"
#include "context.h"
#include "statement.h"

PG_FUNCTION_INFO_V1(trovella_audit_seal);
PG_FUNCTION_INFO_V1(trovella_audit_head);
PG_FUNCTION_INFO_V1(trovella_audit_seal_node);

#define HEAD_PREFIX "trovella-audit-head:1:"

static SPIPlanPtr pending_plan = NULL;
static SPIPlanPtr last_seal_plan = NULL;
static SPIPlanPtr store_seal_plan = NULL;

static const pg_uuid_t nil_tenant;	/* the chain of records of no tenant */

/* The tenant's last seal: its number (0: none) and digest. */
static int64
last_seal(const pg_uuid_t *tenant, bytea **digest)
{
	Oid			argtypes[1] = {UUIDOID};
	Datum		values[1] = {UUIDPGetDatum(tenant)};
	bool		isnull;

	*digest = NULL;
	if (SPI_execute_plan(trovella_keep_plan(&last_seal_plan,
											"SELECT s.seal_no, s.digest FROM trovella.audit_seal s"
											" WHERE s.tenant_id OPERATOR(pg_catalog.=) $1"
											" ORDER BY s.seal_no DESC LIMIT 1",
											1, argtypes),
						 values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read trovella.audit_seal");
	if (SPI_processed == 0)
		return 0;
	*digest = DatumGetByteaPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

static void
store_seal(const pg_uuid_t *tenant, int64 seal_no, int64 upto, int64 records, bytea *digest)
{
	Oid			argtypes[5] = {UUIDOID, INT8OID, INT8OID, INT8OID, BYTEAOID};
	Datum		values[5];

	values[0] = UUIDPGetDatum(tenant);
	values[1] = Int64GetDatum(seal_no);
	values[2] = Int64GetDatum(upto);
	values[3] = Int64GetDatum(records);
	values[4] = PointerGetDatum(digest);
	if (SPI_execute_plan(trovella_keep_plan(&store_seal_plan,
											"INSERT INTO trovella.audit_seal (tenant_id, seal_no, upto, records, digest)"
											" VALUES ($1, $2, $3, $4, $5)",
											5, argtypes),
						 values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not store a seal");
}

/* Refuses what a sealer cannot do: see trovella_audit_final_number(). */
static void
check_sealer(const char *function_name)
{
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("trovella: %s() must run in a READ COMMITTED transaction", function_name),
				 errdetail("It reads records committed while it waited for their writers.")));
	LockRelationOid(trovella_audit_sequence(), AccessShareLock);
	if (trovella_relation_locked_by_me(trovella_audit_sequence(), RowExclusiveLock))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("trovella: %s() cannot run in a transaction that wrote audit records", function_name),
				 errhint("Seal in a transaction of its own, as a job does.")));
}

static bool
history_distributed(void)
{
	return trovella_citus_managed(get_relname_relid("audit_history", get_namespace_oid("trovella", false)));
}

/*
 * On Citus: this node's placements; on the coordinator (group 0), first
 * the number up to which its own records are final (the records of no
 * tenant it writes into the history's shards, a TRUNCATE's), then each
 * worker's placements, each sealing the coordinator's records up to it.
 */
static int64
seal_distributed(FunctionCallInfo fcinfo, bool fan_out, int64 coordinator_upto)
{
	OwnerSection section;
	SpiSection	spi;
	int64		total;

	trovella_begin_owner_section(fcinfo, &section);
	trovella_spi_connect(&spi);
	if (fan_out && trovella_citus_local_group() == 0)
	{
		coordinator_upto = trovella_audit_final_number();
		total = trovella_audit_seal_placements(coordinator_upto);
		total += trovella_audit_seal_workers(coordinator_upto);
	}
	else
		total = trovella_audit_seal_placements(coordinator_upto);
	trovella_spi_finish(&spi);
	trovella_end_owner_section(&section);
	return total;
}

/* What the coordinator's audit_seal() runs on each worker. */
Datum
trovella_audit_seal_node(PG_FUNCTION_ARGS)
{
	check_sealer("audit_seal_node");
	if (!history_distributed())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("trovella: audit_seal_node() is for a history Citus distributes"),
				 errhint("Call trovella.audit_seal().")));
	PG_RETURN_INT64(seal_distributed(fcinfo, false, PG_GETARG_INT64(0)));
}

Datum
trovella_audit_seal(PG_FUNCTION_ARGS)
{
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		values[2];
	OwnerSection section;
	SpiSection	spi;
	Portal		portal;
	pg_uuid_t	tenant = nil_tenant;
	pg_cryptohash_ctx *ctx = NULL;
	int64		seal_no = 0;
	int64		records = 0;
	int64		total = 0;
	int64		from;
	int64		upto;
	bool		isnull;

	check_sealer("audit_seal");
	/* on a worker alone (its own job): the coordinator's records wait for it */
	if (history_distributed())
		PG_RETURN_INT64(seal_distributed(fcinfo, true, 0));

	trovella_begin_owner_section(fcinfo, &section);
	trovella_spi_connect(&spi);
	/* one sealer at a time */
	if (SPI_execute("LOCK TABLE trovella.audit_seal IN SHARE ROW EXCLUSIVE MODE", false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not lock trovella.audit_seal");
	upto = trovella_audit_final_number();
	if (SPI_execute("SELECT coalesce(pg_catalog.max(s.upto), 0) FROM trovella.audit_seal s",
					false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read trovella.audit_seal");
	from = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	values[0] = Int64GetDatum(from);
	values[1] = Int64GetDatum(upto);
	portal = SPI_cursor_open(NULL,
							 trovella_keep_plan(&pending_plan,
												"SELECT h.tenant_id, h.hash FROM trovella.audit_history h"
												" WHERE h.seq OPERATOR(pg_catalog.>) $1 AND h.seq OPERATOR(pg_catalog.<=) $2"
												" ORDER BY 1, h.seq",
												2, argtypes),
							 values, NULL, false);
	for (;;)
	{
		SPITupleTable *batch;
		uint64		n;

		SPI_cursor_fetch(portal, true, 1000);
		batch = SPI_tuptable;
		n = SPI_processed;
		if (n == 0)
			break;
		for (uint64 i = 0; i < n; i++)
		{
			pg_uuid_t  *row_tenant = DatumGetUUIDP(SPI_getbinval(batch->vals[i], batch->tupdesc, 1, &isnull));
			bytea	   *hash = DatumGetByteaPP(SPI_getbinval(batch->vals[i], batch->tupdesc, 2, &isnull));

			if (ctx == NULL || memcmp(row_tenant, &tenant, UUID_LEN) != 0)
			{
				bytea	   *previous;

				if (ctx != NULL)
					store_seal(&tenant, seal_no, upto, records, trovella_audit_digest_end(ctx, &upto, 1, records));
				tenant = *row_tenant;
				seal_no = last_seal(&tenant, &previous) + 1;
				ctx = trovella_audit_digest_begin(previous);
				records = 0;
			}
			trovella_audit_digest_update(ctx, VARDATA_ANY(hash), VARSIZE_ANY_EXHDR(hash));
			records++;
			total++;
		}
		SPI_freetuptable(batch);
	}
	if (ctx != NULL)
		store_seal(&tenant, seal_no, upto, records, trovella_audit_digest_end(ctx, &upto, 1, records));
	SPI_cursor_close(portal);
	trovella_spi_finish(&spi);
	trovella_end_owner_section(&section);
	PG_RETURN_INT64(total);
}

static char *
uuid_text(const pg_uuid_t *id)
{
	return DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(id)));
}

Datum
trovella_audit_head(PG_FUNCTION_ARGS)
{
	const pg_uuid_t *tenant = PG_ARGISNULL(0) ? &nil_tenant : PG_GETARG_UUID_P(0);
	OwnerSection section;
	SpiSection	spi;
	bytea	   *digest;
	int64		seal_no;
	char	   *head = NULL;
	MemoryContext outer = CurrentMemoryContext;

	trovella_begin_owner_section(fcinfo, &section);
	trovella_spi_connect(&spi);
	seal_no = last_seal(tenant, &digest);
	/* in the caller's memory: SPI's goes at trovella_spi_finish() */
	if (seal_no > 0)
		head = MemoryContextStrdup(outer, psprintf(HEAD_PREFIX "%s:" INT64_FORMAT ":%s",
												   uuid_text(tenant), seal_no, trovella_audit_hex(digest)));
	trovella_spi_finish(&spi);
	trovella_end_owner_section(&section);
	if (head == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(head));
}

