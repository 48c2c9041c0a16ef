/*
 * audit_seal.c
 *		The audit history's tamper evidence: one hash chain per tenant,
 *		sealed in batches by trovella.audit_seal() (a job), so that no
 *		writer waits for another; checked by trovella.audit_verify(); its
 *		current end handed out by trovella.audit_head().
 *
 * Seal n of a tenant covers the tenant's records numbered after seal n-1's
 * upto and up to its own:
 *
 *		digest(n) = SHA-256(digest(n-1) || hash of each record, in number
 *					order || upto as 8 bytes || records as 8 bytes)
 *
 * (digest(0) is empty), where a record's hash (audit.c) covers its content.
 * A seal must cover every record it ever will: audit_seal() reads the
 * sequence's last number, then waits for every transaction that holds the
 * sequence's lock (audit.c takes it before drawing a number), so that
 * every record numbered up to there is committed or gone.  The numbers,
 * unlike transaction ids, survive a dump and restore.
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
#include "citus.h"
#include "compat.h"
#include "context.h"
#include "statement.h"

PG_FUNCTION_INFO_V1(trovella_audit_seal);
PG_FUNCTION_INFO_V1(trovella_audit_head);
PG_FUNCTION_INFO_V1(trovella_audit_verify);

#define HEAD_PREFIX "trovella-audit-head:1:"

static SPIPlanPtr pending_plan = NULL;
static SPIPlanPtr last_seal_plan = NULL;
static SPIPlanPtr store_seal_plan = NULL;
static SPIPlanPtr seals_plan = NULL;
static SPIPlanPtr records_plan = NULL;

static const pg_uuid_t nil_tenant;	/* the chain of records of no tenant */

static void
digest_update(pg_cryptohash_ctx *ctx, const void *data, size_t len)
{
	if (pg_cryptohash_update(ctx, (const uint8 *) data, len) < 0)
		elog(ERROR, "could not compute SHA-256: %s", pg_cryptohash_error(ctx));
}

/* Start a seal's digest after the previous one (NULL: the first). */
static pg_cryptohash_ctx *
digest_begin(const bytea *previous)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (pg_cryptohash_init(ctx) < 0)
		elog(ERROR, "could not compute SHA-256: %s", pg_cryptohash_error(ctx));
	if (previous != NULL)
		digest_update(ctx, VARDATA_ANY(previous), VARSIZE_ANY_EXHDR(previous));
	return ctx;
}

static bytea *
digest_end(pg_cryptohash_ctx *ctx, int64 upto, int64 records)
{
	uint64		be_upto = pg_hton64((uint64) upto);
	uint64		be_records = pg_hton64((uint64) records);
	bytea	   *digest = palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);

	digest_update(ctx, &be_upto, sizeof(be_upto));
	digest_update(ctx, &be_records, sizeof(be_records));
	SET_VARSIZE(digest, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	if (pg_cryptohash_final(ctx, (uint8 *) VARDATA(digest), PG_SHA256_DIGEST_LENGTH) < 0)
		elog(ERROR, "could not compute SHA-256: %s", pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
	return digest;
}

static bool
bytea_equal(const bytea *a, const bytea *b)
{
	return VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
		memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) == 0;
}

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

/* The number every record up to which is final, once its writers ended. */
static int64
final_number(void)
{
	Oid			seq = trovella_audit_sequence();
	LOCKTAG		tag;
	bool		isnull;
	int64		last = 0;

	if (SPI_execute("SELECT CASE WHEN s.is_called THEN s.last_value ELSE 0 END"
					" FROM trovella.audit_seq s", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read trovella.audit_seq");
	if (SPI_processed == 1)
		last = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SET_LOCKTAG_RELATION(tag, MyDatabaseId, seq);
	WaitForLockers(tag, ShareLock, false);
	return last;
}

/*
 * A history Citus distributes is numbered on each node by that node's
 * sequence, and a tenant's records move with its shard: one node's
 * numbers, and the wait for its writers, no longer order a tenant's
 * records.  Sealing there is not done yet; say so rather than seal wrong.
 */
static void
refuse_distributed_history(const char *function_name)
{
	if (trovella_citus_managed(get_relname_relid("audit_history", get_namespace_oid("trovella", false))))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("trovella: %s() does not yet work on a history Citus distributes", function_name),
				 errdetail("Each node numbers its records itself, and a tenant's records move with its shards.")));
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

	refuse_distributed_history("audit_seal");
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("trovella: audit_seal() must run in a READ COMMITTED transaction"),
				 errdetail("It reads records committed while it waited for their writers.")));
	LockRelationOid(trovella_audit_sequence(), AccessShareLock);
	if (trovella_relation_locked_by_me(trovella_audit_sequence(), RowExclusiveLock))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("trovella: audit_seal() cannot run in a transaction that wrote audit records"),
				 errhint("Seal in a transaction of its own, as a job does.")));

	trovella_begin_owner_section(fcinfo, &section);
	trovella_spi_connect(&spi);
	/* one sealer at a time */
	if (SPI_execute("LOCK TABLE trovella.audit_seal IN SHARE ROW EXCLUSIVE MODE", false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not lock trovella.audit_seal");
	upto = final_number();
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
					store_seal(&tenant, seal_no, upto, records, digest_end(ctx, upto, records));
				tenant = *row_tenant;
				seal_no = last_seal(&tenant, &previous) + 1;
				ctx = digest_begin(previous);
				records = 0;
			}
			digest_update(ctx, VARDATA_ANY(hash), VARSIZE_ANY_EXHDR(hash));
			records++;
			total++;
		}
		SPI_freetuptable(batch);
	}
	if (ctx != NULL)
		store_seal(&tenant, seal_no, upto, records, digest_end(ctx, upto, records));
	SPI_cursor_close(portal);
	trovella_spi_finish(&spi);
	trovella_end_owner_section(&section);
	PG_RETURN_INT64(total);
}

static char *
hex(const bytea *value)
{
	const unsigned char *data = (const unsigned char *) VARDATA_ANY(value);
	int			len = VARSIZE_ANY_EXHDR(value);
	char	   *out = palloc(len * 2 + 1);

	for (int i = 0; i < len; i++)
		sprintf(out + 2 * i, "%02x", data[i]);
	return out;
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

	refuse_distributed_history("audit_head");
	trovella_begin_owner_section(fcinfo, &section);
	trovella_spi_connect(&spi);
	seal_no = last_seal(tenant, &digest);
	/* in the caller's memory: SPI's goes at trovella_spi_finish() */
	if (seal_no > 0)
		head = MemoryContextStrdup(outer, psprintf(HEAD_PREFIX "%s:" INT64_FORMAT ":%s",
												   uuid_text(tenant), seal_no, hex(digest)));
	trovella_spi_finish(&spi);
	trovella_end_owner_section(&section);
	if (head == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(head));
}

/* A seal as stored. */
typedef struct Seal
{
	int64		seal_no;
	int64		upto;
	int64		records;
	bytea	   *digest;
} Seal;

/* What audit_verify() found: the first problem wins. */
typedef struct Verdict
{
	MemoryContext memory;		/* the caller's, which outlives SPI's */
	int64		seals;
	int64		records;
	int64		unsealed;
	int64		broken_seal;	/* 0: none */
	int64		broken_seq;		/* 0: none */
	char	   *problem;		/* NULL: none */
} Verdict;

static void
found(Verdict *v, int64 seal_no, int64 seq, char *problem)
{
	if (v->problem != NULL)
		return;
	v->broken_seal = seal_no;
	v->broken_seq = seq;
	v->problem = MemoryContextStrdup(v->memory, problem);
}

static Seal *
load_seals(const pg_uuid_t *tenant, int64 *nseals)
{
	Oid			argtypes[1] = {UUIDOID};
	Datum		values[1] = {UUIDPGetDatum(tenant)};
	Seal	   *seals;
	bool		isnull;

	if (SPI_execute_plan(trovella_keep_plan(&seals_plan,
											"SELECT s.seal_no, s.upto, s.records, s.digest FROM trovella.audit_seal s"
											" WHERE s.tenant_id OPERATOR(pg_catalog.=) $1 ORDER BY s.seal_no",
											1, argtypes),
						 values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read trovella.audit_seal");
	*nseals = (int64) SPI_processed;
	seals = palloc0(sizeof(Seal) * (SPI_processed + 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;

		seals[i].seal_no = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
		seals[i].upto = DatumGetInt64(SPI_getbinval(t, d, 2, &isnull));
		seals[i].records = DatumGetInt64(SPI_getbinval(t, d, 3, &isnull));
		seals[i].digest = DatumGetByteaPCopy(SPI_getbinval(t, d, 4, &isnull));
	}
	return seals;
}

static void *
nullable(HeapTuple t, TupleDesc d, int column)
{
	bool		isnull;
	Datum		value = SPI_getbinval(t, d, column, &isnull);

	return isnull ? NULL : DatumGetPointer(value);
}

/* Whether a stored record's content still gives its stored hash. */
static bool
record_intact(HeapTuple t, TupleDesc d, const bytea *stored)
{
	AuditRecord r;
	bool		isnull;
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	void	   *old = nullable(t, d, 11);
	void	   *new = nullable(t, d, 12);

	r.tenant_id = nullable(t, d, 2);
	r.table_id = DatumGetInt32(SPI_getbinval(t, d, 3, &isnull));
	r.operation = DatumGetChar(SPI_getbinval(t, d, 4, &isnull));
	r.row_key = nullable(t, d, 5) ? DatumGetTextPP(PointerGetDatum(nullable(t, d, 5))) : NULL;
	r.user_id = nullable(t, d, 6);
	r.role = TextDatumGetCString(SPI_getbinval(t, d, 7, &isnull));
	r.login_role = TextDatumGetCString(SPI_getbinval(t, d, 8, &isnull));
	r.xact = DatumGetFullTransactionId(SPI_getbinval(t, d, 9, &isnull));
	r.at = DatumGetTimestampTz(SPI_getbinval(t, d, 10, &isnull));
	r.old = old ? DatumGetJsonbP(PointerGetDatum(old)) : NULL;
	r.new = new ? DatumGetJsonbP(PointerGetDatum(new)) : NULL;
	trovella_audit_record_hash(&r, digest);
	return VARSIZE_ANY_EXHDR(stored) == PG_SHA256_DIGEST_LENGTH &&
		memcmp(VARDATA_ANY(stored), digest, PG_SHA256_DIGEST_LENGTH) == 0;
}

/* Close seal k's digest and compare it with what was stored. */
static void
close_seal(Verdict *v, const Seal *seal, pg_cryptohash_ctx *ctx, int64 records)
{
	bytea	   *digest = digest_end(ctx, seal->upto, records);

	if (records != seal->records || !bytea_equal(digest, seal->digest))
		found(v, seal->seal_no, 0,
			  psprintf("seal " INT64_FORMAT " does not match its records: a record it covers was removed, added or changed",
					   seal->seal_no));
}

static void
verify_chain(const pg_uuid_t *tenant, Verdict *v, Seal *seals, int64 nseals)
{
	Oid			argtypes[1] = {UUIDOID};
	Datum		values[1] = {UUIDPGetDatum(tenant)};
	Portal		portal;
	int64		k = 0;
	int64		in_seal = 0;
	pg_cryptohash_ctx *ctx = nseals > 0 ? digest_begin(NULL) : NULL;
	const char *columns = "SELECT h.seq, h.tenant_id, h.table_id, h.operation, h.row_key, h.user_id,"
		" h.role, h.login_role, h.xact, h.at, h.old, h.new, h.hash FROM trovella.audit_history h";

	for (int64 i = 0; i < nseals; i++)
		if (seals[i].seal_no != i + 1 || (i > 0 && seals[i].upto <= seals[i - 1].upto))
			found(v, i + 1, 0, psprintf("seal " INT64_FORMAT " is missing or out of order", i + 1));

	portal = SPI_cursor_open(NULL,
							 trovella_keep_plan(&records_plan,
												psprintf("%s WHERE h.tenant_id OPERATOR(pg_catalog.=) $1 ORDER BY h.seq", columns),
												1, argtypes),
							 values, NULL, true);
	for (;;)
	{
		SPITupleTable *batch;
		uint64		n;
		bool		isnull;

		SPI_cursor_fetch(portal, true, 1000);
		batch = SPI_tuptable;
		n = SPI_processed;
		if (n == 0)
			break;
		for (uint64 i = 0; i < n; i++)
		{
			HeapTuple	t = batch->vals[i];
			int64		seq = DatumGetInt64(SPI_getbinval(t, batch->tupdesc, 1, &isnull));
			bytea	   *hash = DatumGetByteaPP(SPI_getbinval(t, batch->tupdesc, 13, &isnull));

			while (k < nseals && seq > seals[k].upto)
			{
				close_seal(v, &seals[k], ctx, in_seal);
				ctx = digest_begin(seals[k].digest);
				in_seal = 0;
				k++;
			}
			v->records++;
			if (!record_intact(t, batch->tupdesc, hash))
				found(v, k < nseals ? seals[k].seal_no : 0, seq,
					  psprintf("record " INT64_FORMAT " does not match its hash: its content was changed", seq));
			if (k < nseals)
			{
				digest_update(ctx, VARDATA_ANY(hash), VARSIZE_ANY_EXHDR(hash));
				in_seal++;
			}
			else
				v->unsealed++;
		}
		SPI_freetuptable(batch);
	}
	SPI_cursor_close(portal);
	for (; k < nseals; k++)
	{
		close_seal(v, &seals[k], ctx, in_seal);
		ctx = digest_begin(seals[k].digest);
		in_seal = 0;
	}
	if (ctx != NULL)
		pg_cryptohash_free(ctx);
}

/*
 * The head handed out: "trovella-audit-head:1:<tenant>:<seal>:<digest>";
 * 22023 if it is not one, or another tenant's.
 */
static void
parse_head(const char *head, const pg_uuid_t *tenant, int64 *seal_no, char **digest)
{
	const char *p = head;
	char	   *end;
	pg_uuid_t	head_tenant;
	char		tenant_part[37];

	if (strncmp(p, HEAD_PREFIX, strlen(HEAD_PREFIX)) != 0)
		goto bad;
	p += strlen(HEAD_PREFIX);
	if (strlen(p) < 37 || p[36] != ':')
		goto bad;
	memcpy(tenant_part, p, 36);
	tenant_part[36] = '\0';
	if (!trovella_parse_uuid(tenant_part, &head_tenant))
		goto bad;
	if (memcmp(&head_tenant, tenant, UUID_LEN) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("trovella: the head is another tenant's")));
	p += 37;
	errno = 0;
	*seal_no = strtoll(p, &end, 10);
	if (errno != 0 || end == p || *end != ':' || *seal_no < 1)
		goto bad;
	p = end + 1;
	if (strlen(p) != 2 * PG_SHA256_DIGEST_LENGTH || strspn(p, "0123456789abcdef") != strlen(p))
		goto bad;
	*digest = pstrdup(p);
	return;
bad:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("trovella: not an audit head"),
			 errhint("Pass what trovella.audit_head() returned.")));
}

Datum
trovella_audit_verify(PG_FUNCTION_ARGS)
{
	const pg_uuid_t *tenant = PG_ARGISNULL(0) ? &nil_tenant : PG_GETARG_UUID_P(0);
	Verdict		v = {0};
	TupleDesc	desc;
	Datum		out[7];
	bool		out_nulls[7] = {false, false, false, false, false, false, false};
	OwnerSection section;
	SpiSection	spi;
	Seal	   *seals;
	int64		nseals;
	int64		head_seal = 0;
	char	   *head_digest = NULL;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	refuse_distributed_history("audit_verify");
	v.memory = CurrentMemoryContext;
	if (!PG_ARGISNULL(1))
		parse_head(text_to_cstring(PG_GETARG_TEXT_PP(1)), tenant, &head_seal, &head_digest);

	trovella_begin_owner_section(fcinfo, &section);
	trovella_spi_connect(&spi);
	seals = load_seals(tenant, &nseals);
	v.seals = nseals;
	verify_chain(tenant, &v, seals, nseals);
	if (head_digest != NULL)
	{
		if (head_seal > nseals)
			found(&v, head_seal, 0,
				  psprintf("the history ends before the head's seal " INT64_FORMAT ": seals were removed", head_seal));
		else if (strcmp(hex(seals[head_seal - 1].digest), head_digest) != 0)
			found(&v, head_seal, 0,
				  psprintf("seal " INT64_FORMAT " differs from the head: the history up to it was rewritten", head_seal));
	}
	trovella_spi_finish(&spi);
	trovella_end_owner_section(&section);

	out[0] = BoolGetDatum(v.problem == NULL);
	out[1] = Int64GetDatum(v.seals);
	out[2] = Int64GetDatum(v.records);
	out[3] = Int64GetDatum(v.unsealed);
	out[4] = Int64GetDatum(v.broken_seal);
	out_nulls[4] = v.broken_seal == 0;
	out[5] = Int64GetDatum(v.broken_seq);
	out_nulls[5] = v.broken_seq == 0;
	out[6] = v.problem ? CStringGetTextDatum(v.problem) : (Datum) 0;
	out_nulls[6] = v.problem == NULL;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, out, out_nulls)));
}
