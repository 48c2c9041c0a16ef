/*
 * token_scan.c
 *		Looking up personal access tokens: the token table resolved once per
 *		backend, and the per-query scan of its unique index on token_hash,
 *		with its cleanup.
 *
 * pat_verify and authenticate are called on every API request.  They read
 * the token through the table's unique index on token_hash with the access
 * methods (index_probe.c), running no statement at all: no SQL is parsed,
 * planned or run, so nothing on the caller's search path can be resolved
 * and no statement text exists to carry the digest; and no privilege is
 * checked, the functions themselves being what guards the table (their
 * EXECUTE is granted to the application only).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/stratnum.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"
#include "utils/tuplestore.h"

#include "citus.h"
#include "compat.h"
#include "index_probe.h"
#include "token_scan.h"

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
void
trovella_token_hash(const char *token, size_t len, uint8 digest[PG_SHA256_DIGEST_LENGTH])
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	pat_hash_with(ctx, token, len, digest);
	pg_cryptohash_free(ctx);
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

/* A relcache invalidation (hooks.c): resolve again if it is about the table. */
void
trovella_token_relcache(Oid relid)
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
	int			position;

	if (OidIsValid(token_table.relid))
		return;
	relid = get_relname_relid("personal_access_token", get_namespace_oid("trovella", false));
	if (!OidIsValid(relid))
		elog(ERROR, "relation trovella.personal_access_token does not exist");
	/* a Citus reference table: this node's copy (citus.c) */
	token_table.table = relid;
	relid = trovella_citus_local_copy(relid);

	/*
	 * Otherwise, on a cluster, the tokens are the coordinator's alone: a
	 * worker's table of its own holds none, and a token made there would
	 * work on that node only.
	 */
	if (relid == token_table.table && trovella_citus_worker())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("trovella: personal access tokens are kept on the Citus coordinator, not on this worker"),
				 errhint("Create, verify and revoke tokens connected to the coordinator.")));
	hash_column = token_column(relid, "token_hash");
	token_table.hash_index = trovella_find_unique_index(relid, 1, &hash_column, &position);
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

/* Fail (55000) where this node keeps no tokens: before a token is made. */
void
trovella_token_table_here(void)
{
	resolve_token_table();
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
	IndexProbe	probe;
	pg_cryptohash_ctx *sha256;	/* reused for every token of the query */
	Snapshot	query_snapshot; /* the query's, when the scan was opened */
	TransactionId query_xmin;	/* to tell the snapshot from a later */
	CommandId	query_cid;		/* one at the same address */
	Snapshot	snapshot;		/* the scan's own registered copy of it */
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
	ResourceOwner saved_owner;

	if (ts->abandoned)
		return;
	forget_token_scan(ts);
	if (!IsTransactionState())
		return;					/* freed by an abort, which releases all this */
	/* the owner that holds the scan's buffer pin, relations and snapshot */
	saved_owner = CurrentResourceOwner;
	CurrentResourceOwner = ts->owner;
	pg_cryptohash_free(ts->sha256);
	trovella_probe_close(&ts->probe, true);
	UnregisterSnapshot(ts->snapshot);
	CurrentResourceOwner = saved_owner;
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

/* At a transaction's end (hooks.c): an abort released every scan. */
void
trovella_token_scans_xact(XactEvent event)
{
	switch (event)
	{
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			abandon_token_scans(NULL);
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			/* every query, held cursors too, has ended and closed its scan */
			Assert(open_scans == NULL);
			abandon_token_scans(NULL);
			break;
		default:
			break;
	}
}

/* At a subtransaction's end (hooks.c): an abort released its scans. */
void
trovella_token_scans_subxact(SubXactEvent event)
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
	if (ts != NULL && !ts->abandoned && ts->query_snapshot == snapshot &&
		ts->query_xmin == snapshot->xmin && ts->query_cid == snapshot->curcid)
		return ts;
	if (ts != NULL)
		close_token_scan(ts);	/* its memory stays until the query ends */

	resolve_token_table();
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	ts = palloc0(sizeof(TokenScan));
	ts->query_snapshot = snapshot;
	ts->query_xmin = snapshot->xmin;
	ts->query_cid = snapshot->curcid;
	/* a copy of its own, whose command id follows the statement's commands */
	PushCopiedSnapshot(snapshot);
	ts->snapshot = RegisterSnapshot(GetActiveSnapshot());
	PopActiveSnapshot();
	trovella_probe_open(&ts->probe, token_table.relid, token_table.hash_index, ts->snapshot, 1);
	ts->sha256 = pg_cryptohash_create(PG_SHA256);
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
 * (and the binding third for pat_verify_with_tenant) and return true, with
 * what the caller needs of it in *match.  One probe of the unique index on
 * token_hash, under the calling statement's snapshot, which sees what
 * earlier commands of the statement did (a token pat_create made, one
 * pat_revoke revoked) as a VOLATILE SQL function would.
 */
bool
trovella_token_lookup(FunctionCallInfo fcinfo, text *token, TokenMatch *match)
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
	bool		found = false;

	SET_VARSIZE(&digest_value.header, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	pat_hash_with(ts->sha256, VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token),
				  (uint8 *) VARDATA(&digest_value.header));
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_BYTEAEQ, PointerGetDatum(&digest_value));
	ts->snapshot->curcid = GetCurrentCommandId(false);
	if (trovella_probe(&ts->probe, &key))
	{
		TupleTableSlot *slot = ts->probe.slot;
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
			match->token_id = *DatumGetUUIDP(values[n++]);
			values[n] = slot_getattr(slot, token_table.user_id, &nulls[n]);
			match->user_id = *DatumGetUUIDP(values[n++]);
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
			match->bound = !tenant_null;
			if (!tenant_null)
				match->tenant_id = *DatumGetUUIDP(tenant);
			match->last_used_at =
				DatumGetTimestampTz(slot_getattr(slot, token_table.last_used_at,
												 &match->last_used_null));
			/* the tuplestore copies the row */
			tuplestore_putvalues(rsinfo->setResult, desc, values, nulls);
			found = true;
		}
		ExecClearTuple(slot);
	}
	explicit_bzero(&digest_value, sizeof(digest_value));
	return found;
}

