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
 * caller may well have no right to read the table).  It reads the latest
 * snapshot, in every isolation level: not the transaction's, which predates
 * memberships removed since the transaction began, nor a READ COMMITTED
 * statement's, taken when the statement began: a removal that has committed
 * before the check must be refused.
 *
 * What the registration resolves to (relation, index, columns) is kept per
 * backend and forgotten by relcache invalidation: of the member table or
 * its index (DDL), or of trovella.membership, which use_membership and
 * stop_membership invalidate themselves.  On a Citus cluster the
 * registration must reach every node (trovella.membership a reference
 * table, which use_membership requires there); each node then checks
 * membership against its own copies, and reads the registration once per
 * transaction, since Citus's writes to this node's copy invalidate nothing.
 *
 * The registration lives in trovella's own table, which a dump of the
 * application's schema alone (pg_dump --schema=public) leaves behind.  So
 * use_membership also marks the member table itself with a constraint,
 * trovella_membership (CHECK (true) NOT VALID), which travels with the
 * table: a database where a table is so marked but none is registered
 * refuses every context that pairs a user with a tenant (55000) instead of
 * opening any tenant to any user.  A marker counts only where trovella can
 * have put it: on a permanent ordinary table (not a temporary one, which
 * any role with TEMP can create) whose owner may run use_membership() (any
 * role with CREATE in some schema can mark a table of its own).  Whether a
 * marker exists is kept with the registration; while none is registered
 * it is forgotten when any constraint changes (hooks.c), since a marker
 * may then appear on any table; once one is registered only the
 * invalidations of the registration and the member table count.
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
#include "catalog/pg_constraint.h"
#include "catalog/pg_index.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "storage/proc.h"
#include "utils/acl.h"
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

#include "citus.h"
#include "compat.h"
#include "context.h"
#include "index_probe.h"
#include "membership.h"
#include "statement.h"

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
	Oid			marked;			/* unregistered: a table marked as the member table */
	LocalTransactionId lxid;	/* resolved in this transaction */
	bool		per_transaction;	/* trovella.membership is a Citus reference table */
} Membership;

static Membership membership;

/* The registration's query, parsed once per backend. */
static SPIPlanPtr registration_plan = NULL;

/* A relcache invalidation (hooks.c): what it resolved to may have changed. */
void
trovella_membership_relcache(Oid relid)
{
	if (relid == InvalidOid || relid == membership.config ||
		relid == membership.relid || relid == membership.index)
		membership.resolved = false;
}

/*
 * A constraint changed (hooks.c): while no table is registered, a marker
 * may have come or gone.  A registered table's own changes come as its
 * relcache invalidation.
 */
void
trovella_membership_constraint_changed(void)
{
	if (!membership.registered)
		membership.resolved = false;
}

/*
 * Whether a marker on relid counts: trovella put it there (use_membership,
 * as the table's owner), or a role that may run use_membership could have.
 * Not on a temporary table (use_membership refuses them), nor on a table
 * whose owner may not register it.
 */
static bool
marker_counts(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Form_pg_class form;
	Oid			argtypes[4] = {REGCLASSOID, NAMEOID, NAMEOID, NAMEOID};
	Oid			use_membership;
	bool		counts;

	if (!HeapTupleIsValid(tuple))
		return false;
	form = (Form_pg_class) GETSTRUCT(tuple);
	counts = form->relkind == RELKIND_RELATION &&
		form->relpersistence == RELPERSISTENCE_PERMANENT &&
		!isAnyTempNamespace(form->relnamespace);
	if (counts)
	{
		use_membership = LookupFuncName(list_make2(makeString("trovella"), makeString("use_membership")),
										4, argtypes, true);
		counts = OidIsValid(use_membership) &&
			function_aclcheck(use_membership, form->relowner, ACL_EXECUTE) == ACLCHECK_OK;
	}
	ReleaseSysCache(tuple);
	return counts;
}

/*
 * A table carrying a marker constraint that counts, or InvalidOid; *count:
 * how many do.  Citus's shard placements, which copy their table's
 * constraints, never count.  citus_copy: the marker of a Citus reference
 * table (a node's copy of the registered table, see current_membership)
 * rather than one marker_counts() accepts.
 */
static Oid
marked_tables(int *count, bool citus_copy)
{
	Relation	catalog = table_open(ConstraintRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			relid = InvalidOid;
	List	   *marked = NIL;
	ListCell   *lc;

	*count = 0;
	ScanKeyInit(&key, Anum_pg_constraint_conname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum(MEMBERSHIP_MARKER));
	scan = systable_beginscan(catalog, ConstraintNameNspIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_constraint form = (Form_pg_constraint) GETSTRUCT(tuple);

		if (form->contype == CONSTRAINT_CHECK && OidIsValid(form->conrelid))
			marked = lappend_oid(marked, form->conrelid);
	}
	systable_endscan(scan);
	table_close(catalog, AccessShareLock);
	foreach(lc, marked)
	{
		if (citus_copy ? !trovella_citus_reference_table(lfirst_oid(lc)) : !marker_counts(lfirst_oid(lc)))
			continue;
		if (trovella_citus_is_shard(lfirst_oid(lc)))
			continue;
		if (!OidIsValid(relid))
			relid = lfirst_oid(lc);
		(*count)++;
	}
	return relid;
}

/* A table carrying a marker constraint that counts, or InvalidOid. */
Oid
trovella_membership_marked_table(void)
{
	int			count;

	return marked_tables(&count, false);
}

/* trovella.membership; InvalidOid in a database still at 0.2.0 or older. */
Oid
trovella_membership_config_relid(void)
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

/*
 * Fill m with what table, tenant, user and role (NULL: none) resolve to,
 * or raise the error that says why they cannot serve.
 */
static void
resolve_member_table(Membership *m, Oid relid, const char *tenant,
					 const char *user, const char *role)
{
	AttrNumber	columns[2];
	int			positions[2];
	char		relkind = get_rel_relkind(relid);

	if (relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("trovella: %s is not an ordinary table", get_rel_name(relid)),
				 relkind == RELKIND_PARTITIONED_TABLE
				 ? errdetail("The membership table is read through one unique index, which a partitioned table does not have.")
				 : errdetail("The membership table is read through one unique index on its own storage, which only an ordinary table has."),
				 errhint("Register the table that stores the memberships.")));
	if (get_rel_persistence(relid) == RELPERSISTENCE_TEMP)
		not_usable(relid, "It is a temporary table.");
	m->relid = relid;
	m->tenant = member_column(relid, tenant, true);
	m->user = member_column(relid, user, true);
	m->role = role ? member_column(relid, role, false) : InvalidAttrNumber;
	if (m->tenant == m->user)
		not_usable(relid, "The tenant and user columns are the same column.");

	columns[0] = m->tenant;
	columns[1] = m->user;
	m->index = trovella_find_unique_index(relid, 2, columns, positions);
	m->tenant_key = positions[0];
	m->user_key = positions[1];
	if (!OidIsValid(m->index))
		not_usable(relid, "It has no valid unique B-tree index on exactly the tenant and user columns.");
}

/* The registration as this backend sees it now. */
static Membership *
current_membership(void)
{
	SpiSection	spi;
	Membership	m = {0};

	if (membership.resolved &&
		(!membership.per_transaction || membership.lxid == TROVELLA_MY_LXID))
		return &membership;

	m.config = trovella_membership_config_relid();
	if (!OidIsValid(m.config))
	{
		/* not updated yet: nothing registered, and asked again next time */
		membership = m;
		return &membership;
	}
	elog(DEBUG1, "trovella: reading the membership registration");
	trovella_spi_connect(&spi);
	if (SPI_execute_plan(trovella_keep_plan(&registration_plan,
											"SELECT tbl::pg_catalog.oid, tenant_column::pg_catalog.text,"
											" user_column::pg_catalog.text, role_column::pg_catalog.text"
											" FROM trovella.membership", 0, NULL),
						 NULL, NULL, true, 2) != SPI_OK_SELECT)
		elog(ERROR, "could not read trovella.membership");
	if (SPI_processed > 1)
		elog(ERROR, "trovella.membership has more than one row");
	if (SPI_processed == 1)
	{
		HeapTuple	row = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Oid			relid = DatumGetObjectId(SPI_getbinval(row, desc, 1, &isnull));
		int			marked = 0;
		Oid			here = InvalidOid;

		/*
		 * The registration's OID is this node's own where the table it names
		 * carries the marker.  A node Citus added later got the row copied
		 * from another node, that node's OID included: there it is the one
		 * Citus reference table marked here (Citus gives the marker to its
		 * copy of the table); none, or more than one, fails closed.
		 */
		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)) ||
			!OidIsValid(get_relation_constraint_oid(relid, MEMBERSHIP_MARKER, true)))
			here = marked_tables(&marked, true);
		if (marked == 1)
			relid = here;
		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("trovella: the registered membership table no longer exists"),
					 errhint("Register the new one with trovella.use_membership(), or stop with trovella.stop_membership().")));
		/* a Citus reference table: this node's copy (citus.c) */
		resolve_member_table(&m, trovella_citus_local_copy(relid),
							 SPI_getvalue(row, desc, 2), SPI_getvalue(row, desc, 3),
							 SPI_getvalue(row, desc, 4));
		m.registered = true;
	}
	trovella_spi_finish(&spi);
	if (!m.registered)
	{
		int			marked;

		m.marked = marked_tables(&marked, false);
	}
	/*
	 * On Citus, trovella.membership may be a reference table, which Citus
	 * writes on this node without a relcache invalidation here: read it
	 * again in each transaction.
	 */
	m.per_transaction = trovella_citus_local_copy(m.config) != m.config;
	m.lxid = TROVELLA_MY_LXID;
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
	IndexProbe	probe;
	ScanKeyData keys[2];
	Snapshot	snapshot;
	bool		found;

	/* not the statement's: it may have begun before a removal committed */
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	trovella_probe_open(&probe, m->relid, m->index, snapshot, 2);
	ScanKeyInit(&keys[m->tenant_key - 1], m->tenant_key, BTEqualStrategyNumber, F_UUID_EQ,
				UUIDPGetDatum(tenant));
	ScanKeyInit(&keys[m->user_key - 1], m->user_key, BTEqualStrategyNumber, F_UUID_EQ,
				UUIDPGetDatum(user));
	found = trovella_probe(&probe, keys);
	if (role != NULL)
	{
		*role = NULL;
		if (found && m->role != InvalidAttrNumber)
		{
			bool		isnull;
			Datum		value = slot_getattr(probe.slot, m->role, &isnull);

			if (!isnull)
			{
				Oid			type = TupleDescAttr(RelationGetDescr(probe.rel), m->role - 1)->atttypid;
				Oid			output;
				bool		varlena;

				getTypeOutputInfo(type, &output, &varlena);
				*role = cstring_to_text(OidOutputFunctionCall(output, value));
			}
		}
	}
	trovella_probe_close(&probe, false);
	UnregisterSnapshot(snapshot);
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

	if (!m->registered && OidIsValid(m->marked))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("trovella.%s: table %s is marked as the membership table, but no membership table is registered",
						function_name, get_rel_name(m->marked) ? get_rel_name(m->marked) : "(dropped)"),
				 errdetail("A restore that left trovella.membership behind (pg_dump --schema of the application alone) would otherwise let any user open any tenant."),
				 errhint("Register it again with trovella.use_membership(), or drop its constraint %s if it is no longer the membership table.",
						 MEMBERSHIP_MARKER)));
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

/*
 * The table this node reads memberships from (its copy, for a Citus
 * reference table), InvalidOid when none is registered; the error that says
 * why when the registration cannot serve here.
 */
Oid
trovella_membership_table(void)
{
	Membership *m = current_membership();

	return m->registered ? m->relid : InvalidOid;
}

/*
 * Whether user is a member of tenant, and its role (NULL: no role column,
 * or a NULL role), in the caller's memory; 55000 when no membership table
 * is registered.
 */
bool
trovella_member_role(const pg_uuid_t *tenant_id, const pg_uuid_t *user_id, text **role)
{
	Membership *m = current_membership();

	if (!m->registered)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("trovella.current_member_role: no membership table is registered"),
				 errhint("Register one with trovella.use_membership().")));
	return member_lookup(m, tenant_id, user_id, role);
}

/*
 * Put the marker constraint on the member table, or take it off, as the
 * current user: use_membership and stop_membership, as the extension's
 * owner, with the registration (membership_sql.c).
 */
void
trovella_membership_mark(Oid relid, bool marked)
{
	SpiSection	spi;
	bool		present = OidIsValid(get_relation_constraint_oid(relid, MEMBERSHIP_MARKER, true));
	char	   *table;

	if (present == marked)
		return;
	table = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									   get_rel_name(relid));
	trovella_spi_connect(&spi);
	if (SPI_execute(marked
					? psprintf("ALTER TABLE %s ADD CONSTRAINT %s CHECK (true) NOT VALID",
							   table, MEMBERSHIP_MARKER)
					: psprintf("ALTER TABLE %s DROP CONSTRAINT %s", table, MEMBERSHIP_MARKER),
					false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not mark the membership table");
	trovella_spi_finish(&spi);
}

/* 42P01/42703/42804/42809/55000 unless relid can serve as the membership table. */
void
trovella_membership_validate(Oid relid, const char *tenant, const char *user, const char *role)
{
	Membership	m = {0};

	resolve_member_table(&m, relid, tenant, user, role);
}

/*
 * The context check (context.h): a context that pairs a user with a tenant
 * needs the membership table to say the user belongs there.
 */
static void
check_member_of_context(const ContextProposal *proposal)
{
	if (proposal->tenant_id != NULL && proposal->user_id != NULL)
		trovella_check_membership(proposal->tenant_id, proposal->user_id,
								  proposal->function_name);
}

void
MembershipInit(void)
{
	trovella_register_context_check(check_member_of_context);
}

