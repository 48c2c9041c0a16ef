/*
 * audit_store.c
 *		Writing an audit record into trovella.audit_history.  Straight into
 *		the heap and its indexes, as PostgreSQL writes its own catalogs: no
 *		executor, no privilege check, no policy, since the audit trigger is
 *		the history's only writer and no role holds a privilege on it.
 *		Where Citus distributes the history, or the history has an index
 *		that is not a plain one on columns, through a saved INSERT run as
 *		the extension's owner instead, which Citus routes.
 *
 * Every record is numbered from trovella.audit_seq after its lock is taken
 * (audit_seal.c waits for the holders of that lock), tagged on a Citus
 * worker with the node's group (AUDIT_NUMBER: unique in the cluster, and
 * increasing within a group, as a tenant's records move with its shard),
 * is attributed from what a client cannot set, and carries the SHA-256 of
 * its content (audit_seal.c recomputes it).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/xid8.h"

#include "audit.h"
#include "citus.h"
#include "compat.h"
#include "context.h"
#include "statement.h"

#define HISTORY_COLUMNS 13

static const pg_uuid_t no_tenant;	/* the nil uuid: records of no tenant */

/* The history, as resolved once per backend (audit.c forgets it). */
static Oid	history = InvalidOid;
static Oid	history_seq = InvalidOid;
static bool history_direct = false;
static SPIPlanPtr insert_plan = NULL;

/* The column names, in order: what the direct write assumes. */
static const char *const history_columns[HISTORY_COLUMNS] = {
	"seq", "tenant_id", "table_id", "operation", "row_key", "user_id", "role",
	"login_role", "xact", "at", "old", "new", "hash"
};

/* trovella.audit_seq, which numbers the records (audit_seal.c waits on it). */
Oid
trovella_audit_sequence(void)
{
	Oid			nsp = get_namespace_oid("trovella", false);
	Oid			relid = get_relname_relid("audit_seq", nsp);

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("trovella: the audit trail needs trovella 0.5.0"),
				 errhint("Run ALTER EXTENSION trovella UPDATE.")));
	return relid;
}

/* Length-prefixed, so that no two records hash the same bytes. */
static void
hash_field(pg_cryptohash_ctx *ctx, const void *data, int32 len)
{
	uint32		be = pg_hton32((uint32) len);

	if (pg_cryptohash_update(ctx, (const uint8 *) &be, sizeof(be)) < 0 ||
		(len > 0 && pg_cryptohash_update(ctx, (const uint8 *) data, len) < 0))
		elog(ERROR, "could not compute SHA-256: %s", pg_cryptohash_error(ctx));
}

/*
 * A jsonb value's binary form, not its text: writing the text cost more
 * than the rest of the hash.  The binary form is a function of the value
 * (keys sorted and unique, numbers as numeric_in makes them, padding
 * zeroed), so the text a dump writes parses back into the same bytes, and
 * pg_upgrade keeps them as they are.
 */
static void
hash_jsonb(pg_cryptohash_ctx *ctx, Jsonb *value)
{
	if (value == NULL)
		hash_field(ctx, NULL, -1);
	else
		hash_field(ctx, VARDATA(value), VARSIZE(value) - VARHDRSZ);
}

void
trovella_audit_record_hash(const AuditRecord *r, uint8 digest[PG_SHA256_DIGEST_LENGTH])
{
	static const pg_uuid_t nil;
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	uint32		table_id = pg_hton32((uint32) r->table_id);
	uint64		xact = pg_hton64(U64FromFullTransactionId(r->xact));
	uint64		at = pg_hton64((uint64) r->at);
	const char	version = 2;

	if (pg_cryptohash_init(ctx) < 0)
		elog(ERROR, "could not compute SHA-256: %s", pg_cryptohash_error(ctx));
	hash_field(ctx, &version, 1);
	/* no tenant is stored as the nil uuid */
	hash_field(ctx, r->tenant_id ? r->tenant_id : &nil, UUID_LEN);
	hash_field(ctx, &table_id, sizeof(table_id));
	hash_field(ctx, &r->operation, 1);
	if (r->row_key)
		hash_field(ctx, VARDATA_ANY(r->row_key), VARSIZE_ANY_EXHDR(r->row_key));
	else
		hash_field(ctx, NULL, -1);
	hash_field(ctx, r->user_id, r->user_id ? UUID_LEN : -1);
	hash_field(ctx, r->role, strlen(r->role));
	hash_field(ctx, r->login_role, strlen(r->login_role));
	hash_field(ctx, &xact, sizeof(xact));
	hash_field(ctx, &at, sizeof(at));
	hash_jsonb(ctx, r->old);
	hash_jsonb(ctx, r->new);
	if (pg_cryptohash_final(ctx, digest, PG_SHA256_DIGEST_LENGTH) < 0)
		elog(ERROR, "could not compute SHA-256: %s", pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
}

void
trovella_audit_store_forget(Oid relid)
{
	/* (an index of the history changed: insert_directly() looks each time) */
	if (!OidIsValid(relid) || relid == history || relid == history_seq)
		history = history_seq = InvalidOid;
}

/* Whether the history is laid out as this file writes it, plain indexes only. */
static bool
writable_directly(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	List	   *indexes;
	ListCell   *lc;
	bool		plain = true;

	if (trovella_citus_managed(RelationGetRelid(rel)) || desc->natts != HISTORY_COLUMNS)
		return false;
	for (int i = 0; i < HISTORY_COLUMNS; i++)
		if (TupleDescAttr(desc, i)->attisdropped ||
			strcmp(NameStr(TupleDescAttr(desc, i)->attname), history_columns[i]) != 0)
			return false;
	indexes = RelationGetIndexList(rel);
	foreach(lc, indexes)
	{
		HeapTuple	tuple = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));

		if (!HeapTupleIsValid(tuple))
			elog(ERROR, "cache lookup failed for index %u", lfirst_oid(lc));
		if (!heap_attisnull(tuple, Anum_pg_index_indexprs, NULL) ||
			!heap_attisnull(tuple, Anum_pg_index_indpred, NULL))
			plain = false;
		ReleaseSysCache(tuple);
	}
	list_free(indexes);
	return plain;
}

/*
 * The history as resolved, into the caller's variables: taking a lock may
 * process invalidations, which make this file forget what it keeps.
 */
static void
resolve_history(Oid *relid, Oid *seq, bool *direct)
{
	Relation	rel;

	if (OidIsValid(history))
	{
		*relid = history;
		*seq = history_seq;
		*direct = history_direct;
		return;
	}
	*seq = trovella_audit_sequence();
	*relid = get_relname_relid("audit_history", get_namespace_oid("trovella", false));
	if (!OidIsValid(*relid))
		elog(ERROR, "trovella.audit_history does not exist");
	rel = table_open(*relid, AccessShareLock);
	*direct = writable_directly(rel);
	table_close(rel, NoLock);
	history = *relid;
	history_seq = *seq;
	history_direct = *direct;
}

/*
 * heap_insert and each index's insert, as CatalogTupleInsert() does; false
 * (and nothing written) if an index is not a plain one on columns, which
 * only the executor can fill.
 */
static bool
insert_directly(Oid relid, Datum *values, bool *isnull)
{
	Relation	rel = table_open(relid, RowExclusiveLock);
	List	   *index_oids = RelationGetIndexList(rel);
	int			nindexes = list_length(index_oids);
	Relation   *indexes = palloc(sizeof(Relation) * (nindexes + 1));
	IndexInfo **infos = palloc(sizeof(IndexInfo *) * (nindexes + 1));
	bool		plain = RelationGetDescr(rel)->natts == HISTORY_COLUMNS;
	HeapTuple	tuple;
	TupleTableSlot *slot;
	ListCell   *lc;
	int			i = 0;

	foreach(lc, index_oids)
	{
		indexes[i] = index_open(lfirst_oid(lc), RowExclusiveLock);
		infos[i] = BuildIndexInfo(indexes[i]);
		if (infos[i]->ii_Expressions != NIL || infos[i]->ii_Predicate != NIL)
			plain = false;
		i++;
	}
	if (plain)
	{
		tuple = heap_form_tuple(RelationGetDescr(rel), values, isnull);
		simple_heap_insert(rel, tuple);
		slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsHeapTuple);
		ExecStoreHeapTuple(tuple, slot, false);
		for (i = 0; i < nindexes; i++)
		{
			Datum		keys[INDEX_MAX_KEYS];
			bool		keys_null[INDEX_MAX_KEYS];

			if (!infos[i]->ii_ReadyForInserts)
				continue;
			FormIndexDatum(infos[i], slot, NULL, keys, keys_null);
			index_insert(indexes[i], keys, keys_null, &tuple->t_self, rel,
						 indexes[i]->rd_index->indisunique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO,
						 false, infos[i]);
			trovella_index_insert_cleanup(indexes[i], infos[i]);
		}
		ExecDropSingleTupleTableSlot(slot);
	}
	for (i = 0; i < nindexes; i++)
		index_close(indexes[i], NoLock);
	list_free(index_oids);
	table_close(rel, NoLock);
	return plain;
}

static void
insert_by_statement(FunctionCallInfo fcinfo, Datum *values, bool *isnull)
{
	Oid			argtypes[HISTORY_COLUMNS] = {INT8OID, UUIDOID, INT4OID, CHAROID, TEXTOID,
		UUIDOID, TEXTOID, TEXTOID, XID8OID, TIMESTAMPTZOID, JSONBOID, JSONBOID, BYTEAOID};
	char		nulls[HISTORY_COLUMNS];
	OwnerSection section;
	SpiSection	spi;

	for (int i = 0; i < HISTORY_COLUMNS; i++)
		nulls[i] = isnull[i] ? 'n' : ' ';
	trovella_begin_owner_section(fcinfo, &section);
	trovella_spi_connect(&spi);
	if (SPI_execute_plan(trovella_keep_plan(&insert_plan,
											"INSERT INTO trovella.audit_history"
											" (seq, tenant_id, table_id, operation, row_key, user_id, role,"
											" login_role, xact, at, old, new, hash)"
											" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
											HISTORY_COLUMNS, argtypes),
						 values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not store an audit record");
	trovella_spi_finish(&spi);
	trovella_end_owner_section(&section);
}

/* Who acts: what a client cannot set. */
void
trovella_audit_attribute(AuditRecord *r, pg_uuid_t *user)
{
	r->user_id = trovella_current_user(user) ? user : NULL;
	r->role = GetUserNameFromId(GetUserId(), false);
	r->login_role = GetUserNameFromId(GetSessionUserId(), false);
	r->xact = GetTopFullTransactionId();
	r->at = GetCurrentStatementStartTimestamp();
}

void
trovella_audit_store(FunctionCallInfo fcinfo, const AuditRecord *r)
{
	Datum		values[HISTORY_COLUMNS];
	bool		isnull[HISTORY_COLUMNS];
	bytea	   *hash = palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	Oid			relid;
	Oid			seq;
	bool		direct;
	int32		group;

	trovella_audit_record_hash(r, (uint8 *) VARDATA(hash));
	SET_VARSIZE(hash, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	memset(isnull, 0, sizeof(isnull));

	resolve_history(&relid, &seq, &direct);
	/* (read before the lock, which a sealer waits on, is taken) */
	group = trovella_citus_local_group();
	/* the lock before the number: see audit_seal.c */
	LockRelationOid(seq, RowExclusiveLock);
	values[0] = Int64GetDatum(AUDIT_NUMBER(group, nextval_internal(seq, false)));
	values[1] = UUIDPGetDatum(r->tenant_id ? r->tenant_id : &no_tenant);
	values[2] = Int32GetDatum(r->table_id);
	values[3] = CharGetDatum(r->operation);
	values[4] = r->row_key ? PointerGetDatum(r->row_key) : (isnull[4] = true, (Datum) 0);
	values[5] = r->user_id ? UUIDPGetDatum(r->user_id) : (isnull[5] = true, (Datum) 0);
	values[6] = CStringGetTextDatum(r->role);
	values[7] = CStringGetTextDatum(r->login_role);
	values[8] = FullTransactionIdGetDatum(r->xact);
	values[9] = TimestampTzGetDatum(r->at);
	values[10] = r->old ? JsonbPGetDatum(r->old) : (isnull[10] = true, (Datum) 0);
	values[11] = r->new ? JsonbPGetDatum(r->new) : (isnull[11] = true, (Datum) 0);
	values[12] = PointerGetDatum(hash);

	if (!direct || !insert_directly(relid, values, isnull))
		insert_by_statement(fcinfo, values, isnull);
}
