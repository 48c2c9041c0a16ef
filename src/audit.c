/*
 * audit.c
 *		The audit trigger: every INSERT, UPDATE, DELETE and TRUNCATE of a
 *		table trovella.enable_audit was called on becomes a row of
 *		trovella.audit_history, written as the extension's owner (no other
 *		role has any privilege on the history) and attributed from what a
 *		client cannot change: the sealed context's user, the role and the
 *		login role, the transaction.  Each record carries the SHA-256 of its
 *		content; audit_seal.c chains those hashes per tenant.
 *
 * The trigger runs AFTER, so that a record is what happened: a row an
 * ON CONFLICT DO NOTHING skipped, or a BEFORE trigger cancelled, leaves
 * none.  The record's tenant is the row's (its tenant column), not the
 * context's: the history of a tenant's rows is that tenant's, whoever wrote
 * them (a migration, a job).
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/cryptohash.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/xid8.h"

#include "audit.h"
#include "compat.h"
#include "context.h"
#include "statement.h"

PG_FUNCTION_INFO_V1(trovella_audit_row);
PG_FUNCTION_INFO_V1(trovella_audit_truncate);

/*
 * What the trigger needs of an audited relation, looked up once per backend
 * and forgotten when the relation cache drops the relation (a column added,
 * a trigger dropped, the table dropped and its OID used again).
 */
typedef struct AuditedRelation
{
	Oid			relid;			/* hash key */
	int32		table_id;		/* trovella.audit_table.id */
	AttrNumber	tenant_att;		/* InvalidAttrNumber: no tenant column */
	int			nkeys;			/* key columns, the tenant column left out */
	AttrNumber	keys[INDEX_MAX_KEYS];
} AuditedRelation;

static HTAB *audited = NULL;
static Oid	audit_seq = InvalidOid; /* trovella.audit_seq, once looked up */
static SPIPlanPtr lookup_plan = NULL;
static SPIPlanPtr insert_plan = NULL;
static FmgrInfo to_jsonb_info;
static bool to_jsonb_ready = false;

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

void
trovella_audit_relcache(Oid relid)
{
	if (relid == audit_seq || !OidIsValid(relid))
		audit_seq = InvalidOid;
	if (audited == NULL)
		return;
	if (OidIsValid(relid))
		(void) hash_search(audited, &relid, HASH_REMOVE, NULL);
	else
	{
		hash_destroy(audited);
		audited = NULL;
	}
}

/* The registered table this relation is, or is a partition of. */
static bool
lookup_registration(Relation rel, int32 *table_id, char **tenant_column)
{
	List	   *ancestors = get_partition_ancestors(RelationGetRelid(rel));
	int			n = list_length(ancestors) + 1;
	Datum	   *elems = palloc(sizeof(Datum) * n);
	Oid			argtypes[1] = {OIDARRAYOID};
	Datum		values[1];
	SpiSection	spi;
	bool		found = false;
	int			i = 0;
	ListCell   *lc;

	elems[i++] = ObjectIdGetDatum(RelationGetRelid(rel));
	foreach(lc, ancestors)
		elems[i++] = ObjectIdGetDatum(lfirst_oid(lc));
	values[0] = PointerGetDatum(construct_array(elems, n, OIDOID, sizeof(Oid), true, TYPALIGN_INT));

	trovella_spi_connect(&spi);
	if (SPI_execute_plan(trovella_keep_plan(&lookup_plan,
											"SELECT t.id, t.tenant_column"
											" FROM trovella.audit_table t"
											" WHERE t.enabled"
											" AND t.relid::pg_catalog.oid OPERATOR(pg_catalog.=) ANY ($1)"
											" ORDER BY pg_catalog.array_position($1, t.relid::pg_catalog.oid)"
											" LIMIT 1",
											1, argtypes),
						 values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read trovella.audit_table");
	if (SPI_processed == 1)
	{
		bool		isnull;
		char	   *column;

		*table_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
												SPI_tuptable->tupdesc, 1, &isnull));
		column = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		*tenant_column = column ? MemoryContextStrdup(CurTransactionContext, column) : NULL;
		found = true;
	}
	trovella_spi_finish(&spi);
	return found;
}

/* The primary key's columns (else the replica identity's), but the tenant's. */
static void
find_key_columns(Relation rel, AuditedRelation *entry)
{
	Oid			index;
	HeapTuple	tuple;
	Form_pg_index form;

	entry->nkeys = 0;
	list_free(RelationGetIndexList(rel));
	index = OidIsValid(rel->rd_pkindex) ? rel->rd_pkindex : rel->rd_replidindex;
	if (!OidIsValid(index))
		return;
	tuple = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(index));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for index %u", index);
	form = (Form_pg_index) GETSTRUCT(tuple);
	for (int i = 0; i < form->indnkeyatts; i++)
	{
		AttrNumber	att = form->indkey.values[i];

		if (att != InvalidAttrNumber && att != entry->tenant_att)
			entry->keys[entry->nkeys++] = att;
	}
	ReleaseSysCache(tuple);
}

static AuditedRelation *
audited_relation(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	AuditedRelation *entry;
	bool		found;
	int32		table_id;
	char	   *tenant_column;

	if (audited == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(AuditedRelation);
		audited = hash_create("trovella audited relations", 32, &ctl,
							  HASH_ELEM | HASH_BLOBS);
	}
	entry = hash_search(audited, &relid, HASH_FIND, NULL);
	if (entry != NULL)
		return entry;

	if (!lookup_registration(rel, &table_id, &tenant_column))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("trovella: table %s is not audited",
						RelationGetRelationName(rel)),
				 errdetail("trovella.audit_row() records only tables trovella.enable_audit() was called on."),
				 errhint("Drop the trigger, or call trovella.enable_audit() on the table.")));

	entry = hash_search(audited, &relid, HASH_ENTER, &found);
	entry->table_id = table_id;
	entry->tenant_att = InvalidAttrNumber;
	if (tenant_column != NULL)
	{
		AttrNumber	att = get_attnum(relid, tenant_column);

		if (att != InvalidAttrNumber && get_atttype(relid, att) == UUIDOID)
			entry->tenant_att = att;
	}
	find_key_columns(rel, entry);
	return entry;
}

/* to_jsonb(row), called as SQL would, with a record argument. */
static Jsonb *
row_jsonb(HeapTuple tuple, TupleDesc desc)
{
	if (!to_jsonb_ready)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		fmgr_info(F_TO_JSONB, &to_jsonb_info);
		to_jsonb_info.fn_expr = (Node *)
			makeFuncExpr(F_TO_JSONB, JSONBOID,
						 list_make1(makeNullConst(RECORDOID, -1, InvalidOid)),
						 InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
		MemoryContextSwitchTo(old);
		to_jsonb_ready = true;
	}
	return DatumGetJsonbP(FunctionCall1(&to_jsonb_info,
										heap_copy_tuple_as_datum(tuple, desc)));
}

/*
 * The row's key as text: the one key column's text, or a JSON array of
 * them; NULL without a key.
 */
static text *
row_key(const AuditedRelation *entry, HeapTuple tuple, TupleDesc desc)
{
	StringInfoData buf;

	if (entry->nkeys == 0)
		return NULL;
	initStringInfo(&buf);
	if (entry->nkeys > 1)
		appendStringInfoChar(&buf, '[');
	for (int i = 0; i < entry->nkeys; i++)
	{
		bool		isnull;
		Datum		value = heap_getattr(tuple, entry->keys[i], desc, &isnull);
		Oid			typoutput;
		bool		varlena;
		char	   *str = NULL;

		if (!isnull)
		{
			getTypeOutputInfo(TupleDescAttr(desc, entry->keys[i] - 1)->atttypid,
							  &typoutput, &varlena);
			str = OidOutputFunctionCall(typoutput, value);
		}
		if (entry->nkeys == 1)
			return str ? cstring_to_text(str) : NULL;
		if (i > 0)
			appendStringInfoChar(&buf, ',');
		if (str)
			escape_json(&buf, str);
		else
			appendStringInfoString(&buf, "null");
	}
	appendStringInfoChar(&buf, ']');
	return cstring_to_text(buf.data);
}

static bool
row_tenant(const AuditedRelation *entry, HeapTuple tuple, TupleDesc desc, pg_uuid_t *tenant)
{
	bool		isnull;
	Datum		value;

	if (entry->tenant_att == InvalidAttrNumber)
		return false;
	value = heap_getattr(tuple, entry->tenant_att, desc, &isnull);
	if (isnull)
		return false;
	*tenant = *DatumGetUUIDP(value);
	return true;
}

static bool
same_tenant(const pg_uuid_t *a, const pg_uuid_t *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return memcmp(a, b, UUID_LEN) == 0;
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

static void
hash_jsonb(pg_cryptohash_ctx *ctx, Jsonb *value)
{
	char	   *str;

	if (value == NULL)
	{
		hash_field(ctx, NULL, -1);
		return;
	}
	/* the text form: what a dump and restore keeps */
	str = JsonbToCString(NULL, &value->root, VARSIZE(value));
	hash_field(ctx, str, strlen(str));
	pfree(str);
}

void
trovella_audit_record_hash(const AuditRecord *r, uint8 digest[PG_SHA256_DIGEST_LENGTH])
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	uint32		table_id = pg_hton32((uint32) r->table_id);
	uint64		xact = pg_hton64(U64FromFullTransactionId(r->xact));
	uint64		at = pg_hton64((uint64) r->at);
	const char	version = 1;

	if (pg_cryptohash_init(ctx) < 0)
		elog(ERROR, "could not compute SHA-256: %s", pg_cryptohash_error(ctx));
	hash_field(ctx, &version, 1);
	hash_field(ctx, r->tenant_id, r->tenant_id ? UUID_LEN : -1);
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

/* Insert the record, as the extension's owner. */
static void
store_record(FunctionCallInfo fcinfo, const AuditRecord *r)
{
	Oid			argtypes[12] = {UUIDOID, INT4OID, CHAROID, TEXTOID, UUIDOID, TEXTOID,
	TEXTOID, XID8OID, TIMESTAMPTZOID, JSONBOID, JSONBOID, BYTEAOID};
	Datum		values[12];
	char		nulls[12];
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	bytea	   *hash = palloc(VARHDRSZ + sizeof(digest));
	OwnerSection section;
	SpiSection	spi;

	trovella_audit_record_hash(r, digest);
	SET_VARSIZE(hash, VARHDRSZ + sizeof(digest));
	memcpy(VARDATA(hash), digest, sizeof(digest));
	memset(nulls, ' ', sizeof(nulls));

	values[0] = r->tenant_id ? UUIDPGetDatum(r->tenant_id) : (nulls[0] = 'n', (Datum) 0);
	values[1] = Int32GetDatum(r->table_id);
	values[2] = CharGetDatum(r->operation);
	values[3] = r->row_key ? PointerGetDatum(r->row_key) : (nulls[3] = 'n', (Datum) 0);
	values[4] = r->user_id ? UUIDPGetDatum(r->user_id) : (nulls[4] = 'n', (Datum) 0);
	values[5] = CStringGetTextDatum(r->role);
	values[6] = CStringGetTextDatum(r->login_role);
	values[7] = FullTransactionIdGetDatum(r->xact);
	values[8] = TimestampTzGetDatum(r->at);
	values[9] = r->old ? JsonbPGetDatum(r->old) : (nulls[9] = 'n', (Datum) 0);
	values[10] = r->new ? JsonbPGetDatum(r->new) : (nulls[10] = 'n', (Datum) 0);
	values[11] = PointerGetDatum(hash);

	/*
	 * Before a number is drawn: audit_seal() waits for the transactions
	 * holding this lock, and so for every record numbered so far.
	 */
	if (!OidIsValid(audit_seq))
		audit_seq = trovella_audit_sequence();
	LockRelationOid(audit_seq, RowExclusiveLock);

	trovella_begin_owner_section(fcinfo, &section);
	trovella_spi_connect(&spi);
	if (SPI_execute_plan(trovella_keep_plan(&insert_plan,
											"INSERT INTO trovella.audit_history"
											" (tenant_id, table_id, operation, row_key, user_id, role,"
											" login_role, xact, at, old, new, hash)"
											" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
											12, argtypes),
						 values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not store an audit record");
	trovella_spi_finish(&spi);
	trovella_end_owner_section(&section);
}

/* Who acts: what a client cannot set. */
static void
attribute(AuditRecord *r, pg_uuid_t *user)
{
	r->user_id = trovella_current_user(user) ? user : NULL;
	r->role = GetUserNameFromId(GetUserId(), false);
	r->login_role = GetUserNameFromId(GetSessionUserId(), false);
	r->xact = GetTopFullTransactionId();
	r->at = GetCurrentStatementStartTimestamp();
}

static TriggerData *
audit_trigger_data(FunctionCallInfo fcinfo, bool row_level)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		(TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) != 0) != row_level)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trovella: %s must be an AFTER %s trigger",
						row_level ? "audit_row()" : "audit_truncate()",
						row_level ? "row" : "statement"),
				 errhint("Use trovella.enable_audit().")));
	return trigdata;
}

Datum
trovella_audit_row(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = audit_trigger_data(fcinfo, true);
	Relation	rel = trigdata->tg_relation;
	TupleDesc	desc = RelationGetDescr(rel);
	AuditedRelation *entry = audited_relation(rel);
	HeapTuple	oldtuple = NULL;
	HeapTuple	newtuple = NULL;
	HeapTuple	keytuple;
	AuditRecord r;
	pg_uuid_t	user;
	pg_uuid_t	tenants[2];
	pg_uuid_t  *owners[2];
	int			n = 0;

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		r.operation = 'I';
		newtuple = trigdata->tg_trigtuple;
	}
	else if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		r.operation = 'U';
		oldtuple = trigdata->tg_trigtuple;
		newtuple = trigdata->tg_newtuple;
	}
	else
	{
		r.operation = 'D';
		oldtuple = trigdata->tg_trigtuple;
	}
	keytuple = newtuple ? newtuple : oldtuple;

	r.table_id = entry->table_id;
	r.row_key = row_key(entry, keytuple, desc);
	r.old = oldtuple ? row_jsonb(oldtuple, desc) : NULL;
	r.new = newtuple ? row_jsonb(newtuple, desc) : NULL;
	attribute(&r, &user);

	/* a row moved to another tenant is in both tenants' history */
	if (oldtuple)
		owners[n++] = row_tenant(entry, oldtuple, desc, &tenants[0]) ? &tenants[0] : NULL;
	if (newtuple)
	{
		pg_uuid_t  *owner = row_tenant(entry, newtuple, desc, &tenants[1]) ? &tenants[1] : NULL;

		if (n == 0 || !same_tenant(owners[0], owner))
			owners[n++] = owner;
	}
	for (int i = 0; i < n; i++)
	{
		r.tenant_id = owners[i];
		store_record(fcinfo, &r);
	}
	return PointerGetDatum(NULL);
}

Datum
trovella_audit_truncate(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = audit_trigger_data(fcinfo, false);
	AuditedRelation *entry = audited_relation(trigdata->tg_relation);
	AuditRecord r;
	pg_uuid_t	user;

	if (!TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trovella: audit_truncate() must be a TRUNCATE trigger")));
	r.operation = 'T';
	r.table_id = entry->table_id;
	r.tenant_id = NULL;			/* every tenant's rows: the history of none */
	r.row_key = NULL;
	r.old = NULL;
	r.new = NULL;
	attribute(&r, &user);
	store_record(fcinfo, &r);
	return PointerGetDatum(NULL);
}
