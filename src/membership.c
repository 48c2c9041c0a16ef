/*
 * membership.c
 *		Membership-checked tenant context: a user opens only the tenants the
 *		application's own membership table says they belong to.
 *
 * trovella.use_membership() registers one table (a row per member: tenant,
 * user, optionally role) in trovella.membership, an extension configuration
 * table that pg_dump keeps.  From then on every path that pairs a user with
 * a tenant (with_tenant with a user, with_tenant after with_user or
 * authenticate, with_user or authenticate after with_tenant, a token bound
 * to a tenant) looks the pair up first and sets nothing when it is missing.
 *
 * The lookup is one probe of the table's unique index on (tenant, user) with
 * the access methods: no statement runs, so nothing on the caller's search
 * path takes part, and no privilege or policy of the caller's applies (the
 * caller may well have no right to read the table).  In READ COMMITTED it
 * uses the calling statement's snapshot, taken as the statement began; in
 * REPEATABLE READ or SERIALIZABLE the latest snapshot, not the
 * transaction's, which predates memberships removed since the transaction
 * began: a removal that has committed before the check must be refused.
 *
 * What the registration resolves to (relation, index, columns) is kept per
 * backend and forgotten by relcache invalidation: of the member table or
 * its index (DDL), or of trovella.membership, which use_membership and
 * stop_membership invalidate themselves.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_am_d.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/uuid.h"

#include "compat.h"
#include "trovella.h"

/* The registration, resolved; valid until a relcache invalidation. */
typedef struct Membership
{
	bool		resolved;
	bool		registered;
	Oid			config;			/* trovella.membership */
	Oid			relid;			/* the member table */
	Oid			index;			/* its unique index on (tenant, user) */
	AttrNumber	tenant;			/* columns of the member table */
	AttrNumber	user;
	AttrNumber	role;			/* InvalidAttrNumber: no role column */
	int			tenant_key;		/* 1-based position in the index */
	int			user_key;
} Membership;

static Membership membership;

/* current_member_role(), read once per transaction. */
typedef struct MemberRole
{
	LocalTransactionId lxid;
	pg_uuid_t	tenant;
	pg_uuid_t	user;
	bool		isnull;
	text	   *role;			/* in TopMemoryContext */
} MemberRole;

static MemberRole member_role;

static void
forget_membership(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == membership.config ||
		relid == membership.relid || relid == membership.index)
		membership.resolved = false;
}

void
MembershipInit(void)
{
	CacheRegisterRelcacheCallback(forget_membership, (Datum) 0);
}

/* trovella.membership; InvalidOid in a database still at 0.2.0 or older. */
static Oid
config_relid(void)
{
	return get_relname_relid("membership", get_namespace_oid("trovella", false));
}

static void
not_usable(Oid relid, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("trovella: table %s cannot serve as the membership table",
					get_rel_name(relid) ? get_rel_name(relid) : "(dropped)"),
			 errdetail_internal("%s", detail),
			 errhint("Membership needs uuid tenant and user columns and a unique index on exactly those two.")));
}

static AttrNumber
member_column(Oid relid, const char *column, bool uuid_type)
{
	AttrNumber	attnum;
	Oid			type;

	attnum = get_attnum(relid, column);
	if (attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("trovella: column \"%s\" of table %s does not exist",
						column, get_rel_name(relid))));
	type = get_atttype(relid, attnum);
	if (uuid_type ? type != UUIDOID
		: (type != TEXTOID && type != VARCHAROID && !type_is_enum(type)))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("trovella: column \"%s\" of table %s is of type %s, not %s",
						column, get_rel_name(relid), format_type_be(type),
						uuid_type ? "uuid" : "text, varchar or an enum")));
	return attnum;
}

static Oid
index_access_method(Oid indexrelid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(indexrelid));
	Oid			am;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", indexrelid);
	am = ((Form_pg_class) GETSTRUCT(tuple))->relam;
	ReleaseSysCache(tuple);
	return am;
}

/*
 * Fill m with what table, tenant, user and role (NULL: none) resolve to,
 * or raise the error that says why they cannot serve.
 */
static void
resolve_member_table(Membership *m, Oid relid, const char *tenant,
					 const char *user, const char *role)
{
	Relation	rel;
	List	   *indexes;
	ListCell   *lc;
	char		relkind = get_rel_relkind(relid);

	if (relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("trovella: %s is not an ordinary table", get_rel_name(relid)),
				 errdetail("The membership table is read through one unique index, which a partitioned table does not have.")));
	if (get_rel_persistence(relid) == RELPERSISTENCE_TEMP)
		not_usable(relid, "It is a temporary table.");
	m->relid = relid;
	m->tenant = member_column(relid, tenant, true);
	m->user = member_column(relid, user, true);
	m->role = role ? member_column(relid, role, false) : InvalidAttrNumber;
	if (m->tenant == m->user)
		not_usable(relid, "The tenant and user columns are the same column.");

	m->index = InvalidOid;
	rel = table_open(relid, AccessShareLock);
	indexes = RelationGetIndexList(rel);
	foreach(lc, indexes)
	{
		HeapTuple	tuple = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		Form_pg_index index;

		if (!HeapTupleIsValid(tuple))
			elog(ERROR, "cache lookup failed for index %u", lfirst_oid(lc));
		index = (Form_pg_index) GETSTRUCT(tuple);
		if (index->indisunique && index->indisvalid && index->indnkeyatts == 2 &&
			index_access_method(index->indexrelid) == BTREE_AM_OID &&
			heap_attisnull(tuple, Anum_pg_index_indpred, NULL) &&
			heap_attisnull(tuple, Anum_pg_index_indexprs, NULL))
		{
			AttrNumber	first = index->indkey.values[0];
			AttrNumber	second = index->indkey.values[1];

			if (first == m->tenant && second == m->user)
			{
				m->index = index->indexrelid;
				m->tenant_key = 1;
				m->user_key = 2;
			}
			else if (first == m->user && second == m->tenant)
			{
				m->index = index->indexrelid;
				m->tenant_key = 2;
				m->user_key = 1;
			}
		}
		ReleaseSysCache(tuple);
	}
	list_free(indexes);
	table_close(rel, AccessShareLock);
	if (!OidIsValid(m->index))
		not_usable(relid, "It has no valid unique B-tree index on exactly the tenant and user columns.");
}

/* The registration as this backend sees it now. */
static Membership *
current_membership(void)
{
	Membership	m = {0};

	if (membership.resolved)
		return &membership;

	m.config = config_relid();
	if (!OidIsValid(m.config))
	{
		/* not updated yet: nothing registered, and asked again next time */
		membership = m;
		return &membership;
	}
	SPI_connect();
	if (SPI_execute("SELECT tbl::pg_catalog.oid, tenant_column::pg_catalog.text,"
					" user_column::pg_catalog.text, role_column::pg_catalog.text"
					" FROM trovella.membership", true, 2) != SPI_OK_SELECT)
		elog(ERROR, "could not read trovella.membership");
	if (SPI_processed > 1)
		elog(ERROR, "trovella.membership has more than one row");
	if (SPI_processed == 1)
	{
		HeapTuple	row = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Oid			relid = DatumGetObjectId(SPI_getbinval(row, desc, 1, &isnull));

		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("trovella: the registered membership table no longer exists"),
					 errhint("Register the new one with trovella.use_membership(), or stop with trovella.stop_membership().")));
		/* a Citus reference table: this node's copy (cluster.c) */
		resolve_member_table(&m, trovella_citus_local_copy(relid),
							 SPI_getvalue(row, desc, 2), SPI_getvalue(row, desc, 3),
							 SPI_getvalue(row, desc, 4));
		m.registered = true;
	}
	SPI_finish();
	m.resolved = true;
	membership = m;
	return &membership;
}

/*
 * Whether user is a member of tenant; its role too when role is not NULL
 * (*role NULL: no role column, or a NULL role), in the caller's memory.
 */
static bool
member_lookup(Membership *m, const pg_uuid_t *tenant, const pg_uuid_t *user, text **role)
{
	Relation	rel;
	Relation	index;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	ScanKeyData keys[2];
	Snapshot	snapshot;
	bool		found;

	rel = table_open(m->relid, AccessShareLock);
	index = index_open(m->index, AccessShareLock);
	snapshot = RegisterSnapshot(IsolationUsesXactSnapshot() || !ActiveSnapshotSet()
								? GetLatestSnapshot() : GetActiveSnapshot());
	slot = table_slot_create(rel, NULL);
	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_UUID_EQ,
				UUIDPGetDatum(m->tenant_key == 1 ? tenant : user));
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_UUID_EQ,
				UUIDPGetDatum(m->tenant_key == 1 ? user : tenant));
	scan = begin_index_scan(rel, index, snapshot, 2);
	index_rescan(scan, keys, 2, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	if (role != NULL)
	{
		*role = NULL;
		if (found && m->role != InvalidAttrNumber)
		{
			bool		isnull;
			Datum		value = slot_getattr(slot, m->role, &isnull);

			if (!isnull)
			{
				Oid			type = TupleDescAttr(RelationGetDescr(rel), m->role - 1)->atttypid;
				Oid			output;
				bool		varlena;

				getTypeOutputInfo(type, &output, &varlena);
				*role = cstring_to_text(OidOutputFunctionCall(output, value));
			}
		}
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);
	index_close(index, AccessShareLock);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * Raise 42501, setting nothing, unless user is a member of tenant or no
 * membership table is registered.  The message names neither.
 */
void
trovella_check_membership(const pg_uuid_t *tenant_id, const pg_uuid_t *user_id,
						  const char *function_name)
{
	Membership *m = current_membership();

	if (!m->registered || member_lookup(m, tenant_id, user_id, NULL))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("trovella.%s: the user is not a member of the tenant", function_name),
			 errdetail("The registered membership table has no row for this user in this tenant."),
			 strcmp(function_name, "authenticate") == 0
			 ? errhint("The token is bound to a tenant its user no longer belongs to.")
			 : errhint("The application chose a tenant the signed-in user does not belong to.")));
}

/* Whether a membership table is registered (pat_create binds tokens only then). */
bool
trovella_membership_registered(void)
{
	return current_membership()->registered;
}

/* The user's role in the current tenant: NULL without a role column. */
PG_FUNCTION_INFO_V1(trovella_current_member_role);
Datum
trovella_current_member_role(PG_FUNCTION_ARGS)
{
	pg_uuid_t	tenant;
	pg_uuid_t	user;
	Membership *m;
	text	   *role;

	trovella_current_context_or_error(&tenant, &user);
	if (member_role.lxid == TROVELLA_MY_LXID &&
		memcmp(&member_role.tenant, &tenant, sizeof(pg_uuid_t)) == 0 &&
		memcmp(&member_role.user, &user, sizeof(pg_uuid_t)) == 0)
	{
		if (member_role.isnull)
			PG_RETURN_NULL();
		/* a copy: the cache is replaced in a later transaction */
		PG_RETURN_DATUM(datumCopy(PointerGetDatum(member_role.role), false, -1));
	}

	m = current_membership();
	if (!m->registered)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("trovella.current_member_role: no membership table is registered"),
				 errhint("Register one with trovella.use_membership().")));
	if (!member_lookup(m, &tenant, &user, &role))
		trovella_check_membership(&tenant, &user, "current_member_role");

	if (member_role.role != NULL)
		pfree(member_role.role);
	member_role.role = role ? MemoryContextAlloc(TopMemoryContext, VARSIZE_ANY(role)) : NULL;
	if (role != NULL)
		memcpy(member_role.role, role, VARSIZE_ANY(role));
	member_role.isnull = (role == NULL);
	member_role.tenant = tenant;
	member_role.user = user;
	member_role.lxid = TROVELLA_MY_LXID;
	if (member_role.isnull)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(role);
}

/* Raise 42501 unless the caller owns relid (superusers own everything). */
static void
require_owner(Oid relid, const char *function_name)
{
	if (!table_ownercheck(relid, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("trovella.%s: must be the owner of table %s",
						function_name, get_rel_name(relid))));
}

/* Write trovella.membership as the extension's owner, then tell every backend. */
static void
write_registration(FunctionCallInfo fcinfo, Oid relid, const char *tenant,
				   const char *user, const char *role)
{
	OwnerSection section;
	Oid			argtypes[4] = {OIDOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[4] = {ObjectIdGetDatum(relid)};
	char		nulls[4] = {' ', ' ', ' ', role ? ' ' : 'n'};

	if (OidIsValid(relid))
	{
		values[1] = CStringGetTextDatum(tenant);
		values[2] = CStringGetTextDatum(user);
		values[3] = role ? CStringGetTextDatum(role) : (Datum) 0;
	}
	trovella_begin_owner_section(fcinfo, &section);
	SPI_connect();
	if (SPI_execute("DELETE FROM trovella.membership", false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not clear trovella.membership");
	if (OidIsValid(relid) &&
		SPI_execute_with_args("INSERT INTO trovella.membership (tbl, tenant_column, user_column, role_column)"
							  " VALUES ($1::pg_catalog.regclass, $2::pg_catalog.name,"
							  " $3::pg_catalog.name, $4::pg_catalog.name)",
							  4, argtypes, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not write trovella.membership");
	SPI_finish();
	trovella_end_owner_section(&section);
	CacheInvalidateRelcacheByRelid(config_relid());
}

/* Whether a table is registered, and which (its OID may be a dropped table's). */
static bool
registered_table(Oid *relid)
{
	bool		found;

	SPI_connect();
	/* not read-only: a new snapshot sees a change earlier in the same statement */
	if (SPI_execute("SELECT tbl::pg_catalog.oid FROM trovella.membership", false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read trovella.membership");
	found = (SPI_processed == 1);
	if (found)
	{
		bool		isnull;

		*relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_finish();
	return found;
}

/*
 * Raise 42501 unless the caller may replace or remove the registration of
 * relid: its owner, or a superuser once the table is gone.
 */
static void
require_registration_owner(Oid relid, const char *function_name)
{
	if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		require_owner(relid, function_name);
	else if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("trovella.%s: the registered membership table no longer exists; only a superuser may replace or remove the registration",
						function_name)));
}

/*
 * use_membership(tbl, tenant_column, user_column, role_column DEFAULT NULL):
 * register tbl.  The caller must own it, and the table registered before,
 * if it still exists.
 */
PG_FUNCTION_INFO_V1(trovella_use_membership);
Datum
trovella_use_membership(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Oid			previous;
	char	   *tenant;
	char	   *user;
	char	   *role = NULL;
	Membership	m = {0};

	trovella_require_arg(fcinfo, 0, "tbl", "use_membership");
	trovella_require_arg(fcinfo, 1, "tenant_column", "use_membership");
	trovella_require_arg(fcinfo, 2, "user_column", "use_membership");
	relid = PG_GETARG_OID(0);
	tenant = NameStr(*PG_GETARG_NAME(1));
	user = NameStr(*PG_GETARG_NAME(2));
	if (!PG_ARGISNULL(3))
		role = NameStr(*PG_GETARG_NAME(3));
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("trovella.use_membership: table with OID %u does not exist", relid)));

	require_owner(relid, "use_membership");
	if (registered_table(&previous) && previous != relid)
		require_registration_owner(previous, "use_membership");
	resolve_member_table(&m, relid, tenant, user, role);
	write_registration(fcinfo, relid, tenant, user, role);
	PG_RETURN_VOID();
}

/* stop_membership(): no membership checks any more; false if there were none. */
PG_FUNCTION_INFO_V1(trovella_stop_membership);
Datum
trovella_stop_membership(PG_FUNCTION_ARGS)
{
	Oid			previous;

	if (!registered_table(&previous))
		PG_RETURN_BOOL(false);
	require_registration_owner(previous, "stop_membership");
	write_registration(fcinfo, InvalidOid, NULL, NULL, NULL);
	PG_RETURN_BOOL(true);
}
