/*
 * pat_sql.c
 *		Personal access tokens: hashing and the SQL glue of pat_create,
 *		pat_verify, authenticate and pat_is_well_formed.
 *
 * Only a SHA-256 digest of a token is stored, and neither a token nor its
 * digest ever appears in the text of a statement, an error or a log line.
 * pat_list and pat_revoke need no hashing and are PL/pgSQL in the install
 * script.
 *
 * pat_verify and authenticate are called on every API request.  They read
 * the token through the table's unique index on token_hash with the access
 * methods, running no statement at all (pat_lookup).  pat_create, and the
 * throttled write of a token's last_used_at, run saved SPI plans whose only
 * inputs are parameters.  None of them is SECURITY DEFINER with SET
 * search_path (that SET clause cost a third of pat_verify's throughput):
 * they run as their caller and switch to the function owner's rights only
 * around a statement, with the search path restricted to the system
 * catalogs (compat.h) and as a restricted operation, the way PostgreSQL's
 * own foreign-key checks run their queries as a table's owner.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_index.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/hashfn.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"
#include "utils/wait_event.h"

#include "compat.h"
#include "pat.h"
#include "random.h"
#include "trovella.h"

#define PAT_NAME_MAX		100
#define PAT_SCOPES_MAX		32
#define PAT_SCOPE_LEN_MAX	64

/*
 * The lock that serializes one user's pat_create: an advisory lock tag of
 * class "trvp" whose last field is neither 1 nor 2, the only values SQL's
 * pg_advisory_lock() functions produce, so that no SQL caller can take,
 * hold or wait for it.  Waiting for it is bounded (PAT_LOCK_WAIT_MS).
 */
#define PAT_LOCK_CLASS		0x74727670
#define PAT_LOCK_KIND		0x7470
#define PAT_LOCK_WAIT_MS	5000
#define PAT_LOCK_POLL_MS	10

static int	pat_max_lifetime = 365 * 24 * 60 * 60;	/* seconds */
static int	pat_max_per_user = 50;
static int	pat_last_used_interval = 60;	/* seconds */

/* Saved plans, prepared on first use in each backend. */
static SPIPlanPtr touch_plan = NULL;
static SPIPlanPtr count_plan = NULL;
static SPIPlanPtr insert_plan = NULL;
static SPIPlanPtr bound_insert_plan = NULL;

static void forget_token_table(Datum arg, Oid relid);
static void token_scan_xact_callback(XactEvent event, void *arg);
static void token_scan_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
										SubTransactionId parentSubid, void *arg);

void
PatInit(void)
{
	CacheRegisterRelcacheCallback(forget_token_table, (Datum) 0);
	RegisterXactCallback(token_scan_xact_callback, NULL);
	RegisterSubXactCallback(token_scan_subxact_callback, NULL);

	DefineCustomIntVariable("trovella.pat_max_lifetime",
							gettext_noop("Longest lifetime pat_create() accepts for a token."),
							NULL,
							&pat_max_lifetime,
							365 * 24 * 60 * 60,
							60,
							INT_MAX,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL,
							NULL,
							NULL);

	DefineCustomIntVariable("trovella.pat_max_per_user",
							gettext_noop("Most unrevoked, unexpired tokens one user may hold."),
							NULL,
							&pat_max_per_user,
							50,
							1,
							100000,
							PGC_SUSET,
							0,
							NULL,
							NULL,
							NULL);

	DefineCustomIntVariable("trovella.pat_last_used_interval",
							gettext_noop("Least time between two writes of a token's last_used_at."),
							NULL,
							&pat_last_used_interval,
							60,
							0,
							INT_MAX,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL,
							NULL,
							NULL);
}

/* SHA-256 of a token, with a context that is reused. */
static void
pat_hash_with(pg_cryptohash_ctx *ctx, const char *token, size_t len,
			  uint8 digest[PG_SHA256_DIGEST_LENGTH])
{
	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) token, len) < 0 ||
		pg_cryptohash_final(ctx, digest, PG_SHA256_DIGEST_LENGTH) < 0)
		elog(ERROR, "could not compute SHA-256: %s", pg_cryptohash_error(ctx));
}

/* SHA-256 of a token, with a context of its own. */
static void
pat_hash(const char *token, size_t len, uint8 digest[PG_SHA256_DIGEST_LENGTH])
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	pat_hash_with(ctx, token, len, digest);
	pg_cryptohash_free(ctx);
}

static Datum
digest_datum(const uint8 digest[PG_SHA256_DIGEST_LENGTH])
{
	bytea	   *result = palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);

	SET_VARSIZE(result, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	memcpy(VARDATA(result), digest, PG_SHA256_DIGEST_LENGTH);
	return PointerGetDatum(result);
}

/* Prepare and keep a plan the first time it is needed. */
static SPIPlanPtr
keep_plan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	prepared = SPI_prepare(sql, nargs, argtypes);

		if (prepared == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(prepared) != 0)
			elog(ERROR, "SPI_keepplan failed");
		*plan = prepared;
	}
	return *plan;
}

/*
 * Record that a token was used, at most once per pat_last_used_interval,
 * never in a read-only transaction or on a standby, and never waiting for
 * another backend that is writing the same row.  The statement runs as the
 * table's owner with the search path restricted (trovella_begin_owner_section).
 */
static void
touch_last_used(FunctionCallInfo fcinfo, pg_uuid_t *token_id,
				Datum last_used_at, bool last_used_null)
{
	TimestampTz now = GetCurrentStatementStartTimestamp();
	TimestampTz due_before = TimestampTzPlusMilliseconds(now, -(int64) pat_last_used_interval * 1000);
	Oid			argtypes[2] = {UUIDOID, TIMESTAMPTZOID};
	Datum		values[2];
	OwnerSection section;

	if (XactReadOnly || RecoveryInProgress())
		return;
	if (!last_used_null && DatumGetTimestampTz(last_used_at) > due_before)
		return;

	values[0] = UUIDPGetDatum(token_id);
	values[1] = TimestampTzGetDatum(due_before);
	trovella_begin_owner_section(fcinfo, &section);
	SPI_connect();
	if (SPI_execute_plan(keep_plan(&touch_plan,
								   "UPDATE trovella.personal_access_token SET last_used_at = pg_catalog.statement_timestamp() "
								   "WHERE id OPERATOR(pg_catalog.=) ("
								   "  SELECT t.id FROM trovella.personal_access_token t"
								   "  WHERE t.id OPERATOR(pg_catalog.=) $1"
								   "    AND (t.last_used_at IS NULL OR t.last_used_at OPERATOR(pg_catalog.<=) $2)"
								   "  FOR UPDATE SKIP LOCKED)",
								   2, argtypes),
						 values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not record the use of a token");
	SPI_finish();
	trovella_end_owner_section(&section);
}

/*
 * What the lookup reads, resolved once per backend: the token table, its
 * unique index on token_hash and the columns the result needs.  Forgotten
 * whenever the relation cache drops either relation (the extension was
 * dropped, the table altered, the index rebuilt), and resolved again.
 */
typedef struct TokenTable
{
	Oid			relid;			/* what is read; InvalidOid: not resolved */
	Oid			table;			/* trovella.personal_access_token (relid, or
								 * Citus's local copy of it) */
	Oid			hash_index;
	AttrNumber	id;
	AttrNumber	user_id;
	AttrNumber	scopes;
	AttrNumber	expires_at;
	AttrNumber	last_used_at;
	AttrNumber	revoked_at;
	AttrNumber	tenant_id;		/* 0.3.0; InvalidAttrNumber before the update */
} TokenTable;

static TokenTable token_table;

static void
forget_token_table(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == token_table.relid || relid == token_table.hash_index ||
		relid == token_table.table)
		token_table.relid = InvalidOid;
}

static AttrNumber
token_column(Oid relid, const char *column)
{
	AttrNumber	attnum = get_attnum(relid, column);

	if (attnum == InvalidAttrNumber)
		elog(ERROR, "column %s of trovella.personal_access_token is missing", column);
	return attnum;
}

static void
resolve_token_table(void)
{
	Oid			relid;
	AttrNumber	hash_column;
	Relation	rel;
	List	   *indexes;
	ListCell   *lc;

	if (OidIsValid(token_table.relid))
		return;
	relid = get_relname_relid("personal_access_token", get_namespace_oid("trovella", false));
	if (!OidIsValid(relid))
		elog(ERROR, "relation trovella.personal_access_token does not exist");
	/* a Citus reference table: this node's copy (cluster.c) */
	token_table.table = relid;
	relid = trovella_citus_local_copy(relid);
	hash_column = token_column(relid, "token_hash");

	rel = table_open(relid, AccessShareLock);
	indexes = RelationGetIndexList(rel);
	token_table.hash_index = InvalidOid;
	foreach(lc, indexes)
	{
		HeapTuple	tuple = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		Form_pg_index index;

		if (!HeapTupleIsValid(tuple))
			elog(ERROR, "cache lookup failed for index %u", lfirst_oid(lc));
		index = (Form_pg_index) GETSTRUCT(tuple);
		if (index->indisunique && index->indisvalid && index->indnkeyatts == 1 &&
			index->indkey.values[0] == hash_column && heap_attisnull(tuple, Anum_pg_index_indpred, NULL))
			token_table.hash_index = index->indexrelid;
		ReleaseSysCache(tuple);
	}
	list_free(indexes);
	table_close(rel, AccessShareLock);
	if (!OidIsValid(token_table.hash_index))
		elog(ERROR, "trovella.personal_access_token has no unique index on token_hash");

	token_table.id = token_column(relid, "id");
	token_table.user_id = token_column(relid, "user_id");
	token_table.scopes = token_column(relid, "scopes");
	token_table.expires_at = token_column(relid, "expires_at");
	token_table.last_used_at = token_column(relid, "last_used_at");
	token_table.revoked_at = token_column(relid, "revoked_at");
	token_table.tenant_id = get_attnum(relid, "tenant_id");
	token_table.relid = relid;
}

/*
 * An open scan of the token table's unique index, kept in the caller's
 * FmgrInfo for the rest of the query that opened it, so that a query
 * presenting many tokens (a join, a LATERAL call per row) opens the table
 * and its index and sets up the scan once, as a nested loop join would.
 * It is closed when the query's memory goes (a memory context callback),
 * under the resource owner it was opened with.
 *
 * An abort releases the resource owner's buffer pins, relation references
 * and hash context itself, and the scan must then only be forgotten.  Two
 * orders occur: a query that fails in the aborting (sub)transaction has its
 * memory freed during the abort, when the transaction is no longer in
 * progress; a cursor that was opened before but failed in an aborted
 * subtransaction keeps its memory to the end of the transaction, and has
 * its resource owner moved below the subtransaction's before the
 * subtransaction callbacks run, which mark the scans below the released
 * owner abandoned.
 */
typedef struct TokenScan
{
	Relation	rel;
	Relation	index;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	pg_cryptohash_ctx *sha256;	/* reused for every token of the query */
	Snapshot	snapshot;
	TransactionId snapshot_xmin;	/* to tell the snapshot from a later */
	CommandId	snapshot_cid;	/* one at the same address */
	ResourceOwner owner;		/* what it was opened under */
	bool		abandoned;		/* closed, or released by an abort */
	MemoryContextCallback on_free;
	struct TokenScan *next;		/* in open_scans while not abandoned */
} TokenScan;

static TokenScan *open_scans = NULL;

static void
forget_token_scan(TokenScan *ts)
{
	TokenScan **link;

	ts->abandoned = true;
	for (link = &open_scans; *link != NULL; link = &(*link)->next)
	{
		if (*link == ts)
		{
			*link = ts->next;
			return;
		}
	}
}

static void
close_token_scan(TokenScan *ts)
{
	if (ts->abandoned)
		return;
	forget_token_scan(ts);
	if (!IsTransactionState())
		return;					/* freed by an abort, which releases all this */
	pg_cryptohash_free(ts->sha256);
	index_endscan(ts->scan);
	ExecDropSingleTupleTableSlot(ts->slot);
	index_close(ts->index, NoLock);
	table_close(ts->rel, NoLock);
}

static void
free_token_scan(void *arg)
{
	close_token_scan((TokenScan *) arg);
}

/* Abandon the scans whose owner is released (NULL: every one). */
static void
abandon_token_scans(ResourceOwner released)
{
	TokenScan  *ts = open_scans;

	while (ts != NULL)
	{
		TokenScan  *next = ts->next;
		ResourceOwner owner;

		for (owner = ts->owner; owner != NULL; owner = ResourceOwnerGetParent(owner))
		{
			if (released == NULL || owner == released)
			{
				forget_token_scan(ts);
				break;
			}
		}
		ts = next;
	}
}

static void
token_scan_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		abandon_token_scans(NULL);
}

static void
token_scan_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
							SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		abandon_token_scans(CurTransactionResourceOwner);
}

/* The query's open scan of the token table, opened on first use. */
static TokenScan *
token_scan(FunctionCallInfo fcinfo)
{
	TokenScan  *ts = (TokenScan *) fcinfo->flinfo->fn_extra;
	Snapshot	snapshot;
	MemoryContext old;

	if (!ActiveSnapshotSet())
		elog(ERROR, "a token can only be looked up inside a query");
	snapshot = GetActiveSnapshot();

	/*
	 * A scan is tied to its snapshot, which stays the query's for the
	 * FmgrInfo's life; should another one ever be active, reopen.
	 */
	if (ts != NULL && !ts->abandoned && ts->snapshot == snapshot &&
		ts->snapshot_xmin == snapshot->xmin && ts->snapshot_cid == snapshot->curcid)
		return ts;
	if (ts != NULL)
		close_token_scan(ts);	/* its memory stays until the query ends */

	resolve_token_table();
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	ts = palloc0(sizeof(TokenScan));
	ts->rel = table_open(token_table.relid, AccessShareLock);
	ts->index = index_open(token_table.hash_index, AccessShareLock);
	ts->slot = table_slot_create(ts->rel, NULL);
	ts->scan = begin_index_scan(ts->rel, ts->index, snapshot, 1);
	ts->sha256 = pg_cryptohash_create(PG_SHA256);
	ts->snapshot = snapshot;
	ts->snapshot_xmin = snapshot->xmin;
	ts->snapshot_cid = snapshot->curcid;
	ts->owner = CurrentResourceOwner;
	ts->on_free.func = free_token_scan;
	ts->on_free.arg = ts;
	MemoryContextRegisterResetCallback(fcinfo->flinfo->fn_mcxt, &ts->on_free);
	ts->next = open_scans;
	open_scans = ts;
	MemoryContextSwitchTo(old);
	fcinfo->flinfo->fn_extra = ts;
	return ts;
}

/*
 * Look up a well-formed token (callers check the format, so that malformed
 * ones never reach the table) and, when it is known, unrevoked and
 * unexpired, put (token_id, user_id, scopes, expires_at) into the result
 * and return true, with the user in *user_id.
 *
 * One probe of the unique index on token_hash through the access methods,
 * under the calling statement's snapshot: no SQL is parsed, planned or run,
 * so nothing on the caller's search path can be resolved and no statement
 * text exists to carry the digest; and no privilege is checked, the
 * function itself being what guards the table (its EXECUTE is granted to
 * the application only).  Only recording last_used_at, at most once per
 * trovella.pat_last_used_interval, runs a statement, as the table's owner.
 */
static bool
pat_lookup(FunctionCallInfo fcinfo, text *token, pg_uuid_t *user_id,
		   bool *bound, pg_uuid_t *tenant_id)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	union
	{
		bytea		header;
		int32		align;		/* SET_VARSIZE writes a 4-byte header */
		char		bytes[VARHDRSZ + PG_SHA256_DIGEST_LENGTH];
	}			digest_value;
	TokenScan  *ts = token_scan(fcinfo);
	ScanKeyData key;
	pg_uuid_t	token_id;
	Datum		last_used_at = (Datum) 0;
	bool		last_used_null = true;
	bool		found = false;

	SET_VARSIZE(&digest_value.header, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	pat_hash_with(ts->sha256, VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token),
				  (uint8 *) VARDATA(&digest_value.header));
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_BYTEAEQ, PointerGetDatum(&digest_value));
	index_rescan(ts->scan, &key, 1, NULL, 0);
	if (index_getnext_slot(ts->scan, ForwardScanDirection, ts->slot))
	{
		TupleTableSlot *slot = ts->slot;
		TupleDesc	desc = rsinfo->setDesc ? rsinfo->setDesc : rsinfo->expectedDesc;
		Datum		values[5];
		bool		nulls[5];
		bool		revoked_null;
		bool		expires_null;
		Datum		expires_at;
		Datum		tenant = (Datum) 0;
		bool		tenant_null = true;
		int			n = 0;

		(void) slot_getattr(slot, token_table.revoked_at, &revoked_null);
		expires_at = slot_getattr(slot, token_table.expires_at, &expires_null);
		if (revoked_null && !expires_null &&
			DatumGetTimestampTz(expires_at) > GetCurrentStatementStartTimestamp())
		{
			if (token_table.tenant_id != InvalidAttrNumber)
				tenant = slot_getattr(slot, token_table.tenant_id, &tenant_null);
			values[n] = slot_getattr(slot, token_table.id, &nulls[n]);
			token_id = *DatumGetUUIDP(values[n++]);
			values[n] = slot_getattr(slot, token_table.user_id, &nulls[n]);
			*user_id = *DatumGetUUIDP(values[n++]);
			/* pat_verify_with_tenant (0.3.0) has the binding third */
			if (desc->natts == 5)
			{
				values[n] = tenant;
				nulls[n++] = tenant_null;
			}
			values[n] = slot_getattr(slot, token_table.scopes, &nulls[n]);
			n++;
			values[n] = expires_at;
			nulls[n++] = false;
			Assert(n == desc->natts);
			*bound = !tenant_null;
			if (!tenant_null)
				*tenant_id = *DatumGetUUIDP(tenant);
			last_used_at = slot_getattr(slot, token_table.last_used_at, &last_used_null);
			/* the tuplestore copies the row */
			tuplestore_putvalues(rsinfo->setResult, desc, values, nulls);
			found = true;
		}
		ExecClearTuple(slot);
	}
	explicit_bzero(&digest_value, sizeof(digest_value));

	if (found)
		touch_last_used(fcinfo, &token_id, last_used_at, last_used_null);
	return found;
}

/*
 * Set up the materialized result of pat_verify or authenticate.  When the
 * caller gives the descriptor it expects (a FROM clause and a target list
 * both do), rows are formed with it and no descriptor is returned, which
 * the executor allows: that spares building, copying and freeing one per
 * call.  Otherwise, as InitMaterializedSRF() does.
 */
static void
begin_token_result(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext old;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) || rsinfo->expectedDesc == NULL ||
		!(rsinfo->allowedModes & SFRM_Materialize))
	{
		InitMaterializedSRF(fcinfo, 0);
		return;
	}
	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	rsinfo->setResult = tuplestore_begin_heap((rsinfo->allowedModes & SFRM_Materialize_Random) != 0,
											  false, work_mem);
	rsinfo->setDesc = NULL;
	rsinfo->returnMode = SFRM_Materialize;
	MemoryContextSwitchTo(old);
}

/* Prefix, length, alphabet and checksum of a token; no table access. */
PG_FUNCTION_INFO_V1(trovella_pat_is_well_formed);
Datum
trovella_pat_is_well_formed(PG_FUNCTION_ARGS)
{
	text	   *token = PG_GETARG_TEXT_PP(0);

	PG_RETURN_BOOL(pat_is_well_formed(VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token)));
}

/* The token's row when it is valid; no row otherwise, whatever the reason. */
PG_FUNCTION_INFO_V1(trovella_pat_verify);
Datum
trovella_pat_verify(PG_FUNCTION_ARGS)
{
	text	   *token = PG_GETARG_TEXT_PP(0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		well_formed = pat_is_well_formed(VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token));
	pg_uuid_t	user_id;
	pg_uuid_t	tenant_id;
	bool		bound;

	/*
	 * A malformed token returns no row before even a result descriptor is
	 * built: the executor reads a materialized result without a tuplestore
	 * as an empty set.  This is most of what garbage costs.
	 */
	if (!well_formed && rsinfo != NULL && IsA(rsinfo, ReturnSetInfo) &&
		(rsinfo->allowedModes & SFRM_Materialize))
	{
		rsinfo->returnMode = SFRM_Materialize;
		return (Datum) 0;
	}

	begin_token_result(fcinfo);
	if (well_formed)
		(void) pat_lookup(fcinfo, token, &user_id, &bound, &tenant_id);
	return (Datum) 0;
}

/*
 * pat_verify, then with_user() for the token's user, and for a token bound
 * to a tenant with_tenant() for that tenant; 28000 if invalid, 42501 if the
 * user is no longer a member of the bound tenant.
 */
PG_FUNCTION_INFO_V1(trovella_authenticate);
Datum
trovella_authenticate(PG_FUNCTION_ARGS)
{
	text	   *token;
	pg_uuid_t	user_id;
	pg_uuid_t	tenant_id;
	bool		bound;

	trovella_require_transaction_block("authenticate");
	begin_token_result(fcinfo);
	token = PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0);
	if (token == NULL ||
		!pat_is_well_formed(VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token)) ||
		!pat_lookup(fcinfo, token, &user_id, &bound, &tenant_id))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("trovella: invalid token"),
				 errhint("The token may be mistyped, unknown, revoked or expired; present a valid token or create a new one.")));
	trovella_set_user(&user_id, "authenticate");
	if (bound)
		trovella_set_tenant(&tenant_id, "authenticate");
	return (Datum) 0;
}

static void
invalid_argument(const char *message, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("trovella.pat_create: %s", message),
			 detail ? errdetail_internal("%s", detail) : 0));
}

/*
 * name: 1 to 100 characters, none of them a control character (a newline or
 * a BEL would forge lines in whatever shows the name).  Server encodings are
 * ASCII-safe, so a byte below 0x80 is always a character of its own; in
 * UTF-8 the C1 controls U+0080 to U+009F are refused too.
 */
static void
check_name(text *name)
{
	const unsigned char *bytes = (const unsigned char *) VARDATA_ANY(name);
	size_t		len = VARSIZE_ANY_EXHDR(name);
	int			chars = pg_mbstrlen_with_len((const char *) bytes, len);
	bool		utf8 = GetDatabaseEncoding() == PG_UTF8;
	size_t		i;

	if (chars < 1 || chars > PAT_NAME_MAX)
		invalid_argument("name must be 1 to 100 characters", NULL);
	for (i = 0; i < len; i++)
	{
		if (bytes[i] < 0x20 || bytes[i] == 0x7F ||
			(utf8 && bytes[i] == 0xC2 && i + 1 < len && bytes[i + 1] >= 0x80 && bytes[i + 1] <= 0x9F))
			invalid_argument("name must not contain control characters",
							 "A token's name is shown to people in lists: printable characters only.");
	}
}

/*
 * expires_at: in the future and within trovella.pat_max_lifetime.  A
 * token's validity is always judged at the statement's time, not at the
 * transaction's start: a token that expired a moment ago must not work in a
 * transaction that began before.
 */
static void
check_expiry(TimestampTz expires_at)
{
	TimestampTz now = GetCurrentStatementStartTimestamp();

	if (TIMESTAMP_NOT_FINITE(expires_at) || expires_at <= now)
		invalid_argument("expires_at must be in the future", NULL);
	if (expires_at > TimestampTzPlusMilliseconds(now, (int64) pat_max_lifetime * 1000))
		invalid_argument("expires_at is beyond trovella.pat_max_lifetime",
						 psprintf("Tokens may live at most %d seconds.", pat_max_lifetime));
}

static bool
scope_is_valid(const char *scope, size_t len)
{
	size_t		i;

	if (len < 1 || len > PAT_SCOPE_LEN_MAX || scope[0] < 'a' || scope[0] > 'z')
		return false;
	for (i = 1; i < len; i++)
	{
		char		c = scope[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			  c == '_' || c == '.' || c == ':' || c == '-'))
			return false;
	}
	return true;
}

/*
 * scopes: at most 32, no NULLs, each ^[a-z][a-z0-9_.:-]{0,63}$.  Returns
 * the scopes as stored: a one-dimensional array whose first element is
 * scopes[1], whatever bounds the caller gave ('[5:6]={a,b}' is {a,b}).
 */
static Datum
check_scopes(ArrayType *scopes)
{
	Datum	   *elems;
	bool	   *elem_nulls;
	int			count;
	int			i;

	if (ARR_NDIM(scopes) > 1)
		invalid_argument("scopes must be a one-dimensional array", NULL);
	deconstruct_array(scopes, TEXTOID, -1, false, TYPALIGN_INT, &elems, &elem_nulls, &count);
	if (count > PAT_SCOPES_MAX)
		invalid_argument("at most 32 scopes are allowed", NULL);
	for (i = 0; i < count; i++)
	{
		text	   *scope;

		if (elem_nulls[i])
			invalid_argument("scopes must not contain NULL", NULL);
		scope = DatumGetTextPP(elems[i]);
		if (!scope_is_valid(VARDATA_ANY(scope), VARSIZE_ANY_EXHDR(scope)))
			invalid_argument(psprintf("invalid scope \"%s\"",
									  trovella_quote_value(VARDATA_ANY(scope), VARSIZE_ANY_EXHDR(scope))),
							 "A scope is a lowercase letter followed by up to 63 of a-z, 0-9, _ . : -");
	}
	return PointerGetDatum(construct_array(elems, count, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * Take the user's token lock until the end of the transaction.  Only
 * another pat_create for the same user can hold it, until its transaction
 * ends; a transaction left open after one must not stall the user's next
 * pat_create forever, so the wait gives up after PAT_LOCK_WAIT_MS with
 * 55P03, polling as VACUUM does for its truncation lock.
 */
static void
lock_user_tokens(const pg_uuid_t *user_id)
{
	LOCKTAG		tag;
	int			waited_ms;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, PAT_LOCK_CLASS,
						 hash_bytes(user_id->data, UUID_LEN), PAT_LOCK_KIND);
	for (waited_ms = 0;; waited_ms += PAT_LOCK_POLL_MS)
	{
		if (LockAcquire(&tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL)
			return;
		if (waited_ms >= PAT_LOCK_WAIT_MS)
			ereport(ERROR,
					(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
					 errmsg("trovella.pat_create: another transaction is creating a token for this user"),
					 errdetail("It has not ended within %d seconds.", PAT_LOCK_WAIT_MS / 1000),
					 errhint("Retry once that transaction has committed or rolled back.")));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 PAT_LOCK_POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Serialize pat_create for one user until the end of the transaction, then
 * count that user's live tokens under the latest snapshot, so that a token
 * committed by a racing transaction is counted even in REPEATABLE READ.
 */
static void
check_token_cap(const pg_uuid_t *user_id)
{
	Oid			argtypes[1] = {UUIDOID};
	Datum		values[1];
	int64		live;
	bool		isnull;

	lock_user_tokens(user_id);

	values[0] = UUIDPGetDatum(user_id);
	if (SPI_execute_snapshot(keep_plan(&count_plan,
									   "SELECT pg_catalog.count(*) FROM trovella.personal_access_token"
									   " WHERE user_id OPERATOR(pg_catalog.=) $1"
									   "   AND revoked_at IS NULL"
									   "   AND expires_at OPERATOR(pg_catalog.>) pg_catalog.statement_timestamp()",
									   1, argtypes),
							 values, NULL, GetLatestSnapshot(), InvalidSnapshot,
							 true, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not count tokens");
	live = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (live >= pat_max_per_user)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("trovella.pat_create: the user already has %d live tokens", pat_max_per_user),
				 errdetail("trovella.pat_max_per_user allows at most %d unrevoked, unexpired tokens per user.",
						   pat_max_per_user),
				 errhint("Revoke a token the user no longer needs with trovella.pat_revoke().")));
}

/* A new token for the current user; the plaintext is returned only here. */
PG_FUNCTION_INFO_V1(trovella_pat_create);
Datum
trovella_pat_create(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	pg_uuid_t	user_id;
	pg_uuid_t  *token_id = palloc(sizeof(pg_uuid_t));
	char		random_part[PAT_RANDOM_LEN];
	char		token[PAT_TOKEN_LEN];
	uint8		bytes[64];
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	size_t		have = 0;
	Oid			argtypes[8] = {UUIDOID, UUIDOID, TEXTOID, TEXTOID, BYTEAOID, TEXTARRAYOID, TIMESTAMPTZOID, UUIDOID};
	Datum		values[8];
	pg_uuid_t  *tenant_id = NULL;
	SPIPlanPtr	plan;
	Datum		result[2];
	bool		result_nulls[2] = {false, false};
	Datum		scopes;
	OwnerSection section;

	if (!trovella_current_user(&user_id))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("trovella: no user context"),
				 errdetail("Tokens belong to a user: pat_create() needs one set in this transaction."),
				 errhint("Run BEGIN; SELECT trovella.with_user(user_id); first.")));
	trovella_require_arg(fcinfo, 0, "name", "pat_create");
	trovella_require_arg(fcinfo, 1, "expires_at", "pat_create");
	trovella_require_arg(fcinfo, 2, "scopes", "pat_create");
	check_name(PG_GETARG_TEXT_PP(0));
	check_expiry(PG_GETARG_TIMESTAMPTZ(1));
	scopes = check_scopes(PG_GETARG_ARRAYTYPE_P(2));
	/* the four-argument form (0.3.0) binds the token to a tenant */
	if (PG_NARGS() == 4)
	{
		trovella_require_arg(fcinfo, 3, "tenant_id", "pat_create");
		tenant_id = PG_GETARG_UUID_P(3);
		if (!trovella_membership_registered())
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("trovella.pat_create: a token is bound to a tenant only with a membership table"),
					 errhint("Register the application's membership table with trovella.use_membership().")));
		trovella_check_membership(tenant_id, &user_id, "pat_create");
	}

	InitMaterializedSRF(fcinfo, 0);

	while (have < PAT_RANDOM_LEN)
	{
		trovella_random_bytes(bytes, sizeof(bytes));
		have += pat_random_chars(bytes, sizeof(bytes), random_part + have, PAT_RANDOM_LEN - have);
	}
	explicit_bzero(bytes, sizeof(bytes));
	pat_format(random_part, token);
	explicit_bzero(random_part, sizeof(random_part));
	pat_hash(token, PAT_TOKEN_LEN, digest);
	trovella_new_ulid(token_id);

	trovella_begin_owner_section(fcinfo, &section);
	SPI_connect();
	check_token_cap(&user_id);

	values[0] = UUIDPGetDatum(token_id);
	values[1] = UUIDPGetDatum(&user_id);
	values[2] = PG_GETARG_DATUM(0);
	values[3] = PointerGetDatum(cstring_to_text_with_len(token, PAT_HINT_LEN));
	values[4] = digest_datum(digest);
	values[5] = scopes;
	values[6] = PG_GETARG_DATUM(1);
	explicit_bzero(digest, sizeof(digest));
	if (tenant_id == NULL)
		plan = keep_plan(&insert_plan,
						 "INSERT INTO trovella.personal_access_token"
						 " (id, user_id, name, token_hint, token_hash, scopes, expires_at)"
						 " VALUES ($1, $2, $3, $4, $5, $6, $7)",
						 7, argtypes);
	else
	{
		values[7] = UUIDPGetDatum(tenant_id);
		plan = keep_plan(&bound_insert_plan,
						 "INSERT INTO trovella.personal_access_token"
						 " (id, user_id, name, token_hint, token_hash, scopes, expires_at, tenant_id)"
						 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
						 8, argtypes);
	}
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not store a token");
	SPI_finish();
	trovella_end_owner_section(&section);

	result[0] = UUIDPGetDatum(token_id);
	result[1] = PointerGetDatum(cstring_to_text_with_len(token, PAT_TOKEN_LEN));
	explicit_bzero(token, sizeof(token));
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, result, result_nulls);
	return (Datum) 0;
}
