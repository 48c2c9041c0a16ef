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
 * none.  The record's tenant is the row's (the tenant column of a table
 * trovella isolates), not the context's: the history of a tenant's rows is
 * that tenant's, whoever wrote them (a migration, a job).
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
#include "funcapi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/xid8.h"

#include "audit.h"
#include "citus.h"
#include "compat.h"
#include "context.h"
#include "policy_check.h"
#include "row_scope.h"
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
static SPIPlanPtr lookup_plan = NULL;

void
trovella_audit_relcache(Oid relid)
{
	trovella_audit_store_forget(relid);
	trovella_audit_note_relation(relid);
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

/* relid and its partition ancestors, nearest first, after those in list. */
static List *
with_ancestors(List *list, Oid relid)
{
	return list_concat(lappend_oid(list, relid), get_partition_ancestors(relid));
}

/* The registration of the first of relids registered and enabled. */
static bool
lookup_registration(List *relids, int32 *table_id)
{
	int			n = list_length(relids);
	Datum	   *elems = palloc(sizeof(Datum) * n);
	Oid			argtypes[1] = {OIDARRAYOID};
	Datum		values[1];
	SpiSection	spi;
	bool		found = false;
	int			i = 0;
	ListCell   *lc;

	foreach(lc, relids)
		elems[i++] = ObjectIdGetDatum(lfirst_oid(lc));
	values[0] = PointerGetDatum(construct_array(elems, n, OIDOID, sizeof(Oid), true, TYPALIGN_INT));

	trovella_spi_connect(&spi);
	if (SPI_execute_plan(trovella_keep_plan(&lookup_plan,
											"SELECT t.id"
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

		*table_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
												SPI_tuptable->tupdesc, 1, &isnull));
		found = true;
	}
	trovella_spi_finish(&spi);
	return found;
}

/*
 * The registration of the table rel is, or is a partition of, or (on
 * Citus) is a shard of.
 */
static bool
find_registration(Relation rel, Trigger *trigger, int32 *table_id)
{
	Oid			relid = RelationGetRelid(rel);
	List	   *relids = with_ancestors(NIL, relid);
	bool		listed;
	Oid			table = trovella_citus_shard_table(relid, &listed);

	if (OidIsValid(table))
		relids = with_ancestors(relids, table);
	return lookup_registration(relids, table_id) ||
		(trigger != NULL && trovella_audit_shard_registration(trigger, table, table_id));
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
audited_relation(Relation rel, Trigger *trigger)
{
	Oid			relid = RelationGetRelid(rel);
	AuditedRelation *entry;
	AuditedRelation found;
	PolicyCheckCache policies;

	if (audited != NULL)
	{
		entry = hash_search(audited, &relid, HASH_FIND, NULL);
		if (entry != NULL)
			return entry;
	}

	/*
	 * Looked up whole before it is entered: each lookup below may process
	 * invalidations, which empty the cache.
	 */
	memset(&found, 0, sizeof(found));
	found.relid = relid;
	if (!find_registration(rel, trigger, &found.table_id))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("trovella: table %s is not audited",
						RelationGetRelationName(rel)),
				 errdetail("trovella.audit_row() records only tables trovella.enable_audit() was called on."),
				 errhint("Drop the trigger, or call trovella.enable_audit() on the table.")));
	/*
	 * A record is the row's tenant's only where row-level security proves
	 * the row is: in a table isolated by trovella, a role it binds writes
	 * only its context's tenant's rows.  In any other table (one of the
	 * writer's own) the column says whatever the writer put there, and the
	 * record is of no tenant.
	 */
	memset(&policies, 0, sizeof(policies));
	found.tenant_att = trovella_isolated_column(relid, &policies);
	find_key_columns(rel, &found);

	if (audited == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(AuditedRelation);
		audited = hash_create("trovella audited relations", 32, &ctl,
							  HASH_ELEM | HASH_BLOBS);
	}
	entry = hash_search(audited, &relid, HASH_ENTER, NULL);
	*entry = found;
	return entry;
}

/* The whole row's values as jsonb (audit_jsonb.c). */
static Jsonb *
row_jsonb(Relation rel, HeapTuple tuple)
{
	TupleDesc	desc = RelationGetDescr(rel);
	Datum	   *values = palloc(sizeof(Datum) * desc->natts);
	bool	   *nulls = palloc(sizeof(bool) * desc->natts);

	heap_deform_tuple(tuple, desc, values, nulls);
	return trovella_audit_jsonb(rel, values, nulls, NULL);
}

/* Whether two values of one key are the same bytes. */
static bool
same_value(const JsonbValue *a, const JsonbValue *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type)
	{
		case jbvNull:
			return true;
		case jbvBool:
			return a->val.boolean == b->val.boolean;
		case jbvString:
			return a->val.string.len == b->val.string.len &&
				memcmp(a->val.string.val, b->val.string.val, a->val.string.len) == 0;
		case jbvNumeric:
			return VARSIZE_ANY(a->val.numeric) == VARSIZE_ANY(b->val.numeric) &&
				memcmp(a->val.numeric, b->val.numeric, VARSIZE_ANY(a->val.numeric)) == 0;
		case jbvBinary:
			return a->val.binary.len == b->val.binary.len &&
				memcmp(a->val.binary.data, b->val.binary.data, a->val.binary.len) == 0;
		default:
			return false;
	}
}

/*
 * An UPDATE's record keeps only the columns it changed: of the old and the
 * new row (one relation's, so the same keys in the same order), the keys
 * whose values differ.
 */
static void
keep_changed(Jsonb **old, Jsonb **new)
{
	JsonbIterator *oi = JsonbIteratorInit(&(*old)->root);
	JsonbIterator *ni = JsonbIteratorInit(&(*new)->root);
	TrovellaJsonbBuild os;
	TrovellaJsonbBuild ns;
	JsonbValue	ok;
	JsonbValue	nk;
	JsonbValue	ov;
	JsonbValue	nv;

	memset(&os, 0, sizeof(os));
	memset(&ns, 0, sizeof(ns));
	(void) JsonbIteratorNext(&oi, &ov, true);	/* the object's start */
	(void) JsonbIteratorNext(&ni, &nv, true);
	trovella_jsonb_push(&os, WJB_BEGIN_OBJECT, NULL);
	trovella_jsonb_push(&ns, WJB_BEGIN_OBJECT, NULL);
	while (JsonbIteratorNext(&oi, &ok, true) == WJB_KEY &&
		   JsonbIteratorNext(&ni, &nk, true) == WJB_KEY)
	{
		(void) JsonbIteratorNext(&oi, &ov, true);
		(void) JsonbIteratorNext(&ni, &nv, true);
		if (!same_value(&ok, &nk))
			return;				/* not one relation's rows: keep both whole */
		if (same_value(&ov, &nv))
			continue;
		trovella_jsonb_push(&os, WJB_KEY, &ok);
		trovella_jsonb_push(&os, WJB_VALUE, &ov);
		trovella_jsonb_push(&ns, WJB_KEY, &nk);
		trovella_jsonb_push(&ns, WJB_VALUE, &nv);
	}
	trovella_jsonb_push(&os, WJB_END_OBJECT, NULL);
	trovella_jsonb_push(&ns, WJB_END_OBJECT, NULL);
	*old = JsonbValueToJsonb(os.result);
	*new = JsonbValueToJsonb(ns.result);
}

/*
 * An UPDATE's old and new values, of the columns it changed only.  A column
 * whose two values are the same datum image cannot differ as jsonb, and is
 * left out before any jsonb is built (most of an UPDATE's columns: this
 * saves converting the whole row twice); the others are converted, as a
 * row of those columns alone, and keep_changed() decides by their jsonb, as
 * for a whole row.
 */
static void
changed_values(Relation rel, HeapTuple oldtuple, HeapTuple newtuple,
			   Jsonb **old, Jsonb **new)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			natts = desc->natts;
	Datum	   *ovalues = palloc(sizeof(Datum) * natts);
	Datum	   *nvalues = palloc(sizeof(Datum) * natts);
	bool	   *onulls = palloc(sizeof(bool) * natts);
	bool	   *nnulls = palloc(sizeof(bool) * natts);
	bool	   *changed = palloc0(sizeof(bool) * natts);

	heap_deform_tuple(oldtuple, desc, ovalues, onulls);
	heap_deform_tuple(newtuple, desc, nvalues, nnulls);
	for (int i = 0; i < natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		if (onulls[i] && nnulls[i])
			continue;
		if (onulls[i] == nnulls[i] &&
			datum_image_eq(ovalues[i], nvalues[i], att->attbyval, att->attlen))
			continue;
		changed[i] = true;
	}
	*old = trovella_audit_jsonb(rel, ovalues, onulls, changed);
	*new = trovella_audit_jsonb(rel, nvalues, nnulls, changed);
	keep_changed(old, new);
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
	/* a copy: an invalidation processed below may empty the cache */
	AuditedRelation audited_copy = *audited_relation(rel, trigdata->tg_trigger);
	AuditedRelation *entry = &audited_copy;
	HeapTuple	oldtuple = NULL;
	HeapTuple	newtuple = NULL;
	HeapTuple	keytuple;
	AuditRecord r;
	pg_uuid_t	user;
	pg_uuid_t	tenants[2];
	pg_uuid_t  *owners[2];
	int			n = 0;

	/* import_tenant's rows: the export brings the tenant's history */
	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) &&
		trovella_row_scope_row(ROW_SCOPE_IMPORT, trigdata->tg_relation, trigdata->tg_trigtuple))
		return PointerGetDatum(NULL);
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
		/* trovella.purge_tenant erases the tenant's history: no record */
		if (trovella_row_scope_row(ROW_SCOPE_PURGE, trigdata->tg_relation, oldtuple))
			return PointerGetDatum(NULL);
	}
	keytuple = newtuple ? newtuple : oldtuple;

	r.table_id = entry->table_id;
	r.row_key = row_key(entry, keytuple, desc);
	if (oldtuple && newtuple)
		changed_values(rel, oldtuple, newtuple, &r.old, &r.new);
	else
	{
		r.old = oldtuple ? row_jsonb(rel, oldtuple) : NULL;
		r.new = newtuple ? row_jsonb(rel, newtuple) : NULL;
	}
	trovella_audit_attribute(&r, &user);

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
		trovella_audit_store(fcinfo, &r);
	}
	return PointerGetDatum(NULL);
}

Datum
trovella_audit_truncate(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = audit_trigger_data(fcinfo, false);
	AuditRecord r;
	pg_uuid_t	user;
	bool		listed;

	if (!TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trovella: audit_truncate() must be a TRUNCATE trigger")));
	/*
	 * A shard Citus moved has its table's TRUNCATE trigger too: the
	 * table's own, on the coordinator, records the TRUNCATE, once.
	 */
	if (OidIsValid(trovella_citus_shard_table(RelationGetRelid(trigdata->tg_relation), &listed)))
	{
		trovella_audit_refuse_shard_truncate(trigdata->tg_relation);
		return PointerGetDatum(NULL);
	}

	/*
	 * A Citus table truncated on a worker: the worker has no registry, and
	 * its record, numbered in the worker's group, would land in the history
	 * shard of no tenant on whichever node holds it, where sealing takes
	 * another group's records as final.  Refused: run it on the
	 * coordinator, which records it once.
	 */
	if (trovella_citus_managed(RelationGetRelid(trigdata->tg_relation)) && trovella_citus_worker())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("trovella: TRUNCATE of audited table %s must run on the Citus coordinator",
						RelationGetRelationName(trigdata->tg_relation)),
				 errdetail("The coordinator records a TRUNCATE of a distributed table once, in the history of no tenant."),
				 errhint("Run the TRUNCATE on the coordinator.")));
	r.operation = 'T';
	r.table_id = audited_relation(trigdata->tg_relation, NULL)->table_id;
	r.tenant_id = NULL;			/* every tenant's rows: the history of none */
	r.row_key = NULL;
	r.old = NULL;
	r.new = NULL;
	trovella_audit_attribute(&r, &user);
	trovella_audit_store(fcinfo, &r);
	return PointerGetDatum(NULL);
}
