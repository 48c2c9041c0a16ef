/*
 * membership_sql.c
 *		SQL functions of membership: use_membership and stop_membership,
 *		which register the application's member table (as the extension's
 *		owner, in trovella.membership), current_member_role, and
 *		membership_marker for trovella.health.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/uuid.h"

#include "citus.h"
#include "compat.h"
#include "context.h"
#include "membership.h"
#include "sqlarg.h"
#include "statement.h"

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

/* The user's role in the current tenant: NULL without a role column. */
PG_FUNCTION_INFO_V1(trovella_current_member_role);
Datum
trovella_current_member_role(PG_FUNCTION_ARGS)
{
	pg_uuid_t	tenant = *trovella_tenant_or_error();
	pg_uuid_t	user = *trovella_user_or_error();
	text	   *role;

	if (member_role.lxid == TROVELLA_MY_LXID &&
		memcmp(&member_role.tenant, &tenant, sizeof(pg_uuid_t)) == 0 &&
		memcmp(&member_role.user, &user, sizeof(pg_uuid_t)) == 0)
	{
		if (member_role.isnull)
			PG_RETURN_NULL();
		/* a copy: the cache is replaced in a later transaction */
		PG_RETURN_DATUM(datumCopy(PointerGetDatum(member_role.role), false, -1));
	}

	if (!trovella_member_role(&tenant, &user, &role))
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

/*
 * Write trovella.membership as the extension's owner, take the marker off
 * the table registered before (unmark) and put it on relid, then tell every
 * backend.  The marker too as the extension's owner (the caller was checked
 * to own the tables): on Citus both are reference tables, whose placements
 * Citus lets one user only write in a transaction (25001 otherwise).
 */
static void
write_registration(FunctionCallInfo fcinfo, Oid relid, const char *tenant,
				   const char *user, const char *role, Oid unmark)
{
	SpiSection	spi;
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
	trovella_spi_connect(&spi);
	if (SPI_execute("DELETE FROM trovella.membership", false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not clear trovella.membership");
	if (OidIsValid(relid) &&
		SPI_execute_with_args("INSERT INTO trovella.membership (tbl, tenant_column, user_column, role_column)"
							  " VALUES ($1::pg_catalog.regclass, $2::pg_catalog.name,"
							  " $3::pg_catalog.name, $4::pg_catalog.name)",
							  4, argtypes, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not write trovella.membership");
	trovella_spi_finish(&spi);
	if (OidIsValid(unmark) && unmark != relid &&
		SearchSysCacheExists1(RELOID, ObjectIdGetDatum(unmark)))
		trovella_membership_mark(unmark, false);
	if (OidIsValid(relid))
		trovella_membership_mark(relid, true);
	trovella_end_owner_section(&section);
	CacheInvalidateRelcacheByRelid(trovella_membership_config_relid());
}

/* Whether a table is registered, and which (its OID may be a dropped table's). */
static bool
registered_table(Oid *relid)
{
	SpiSection	spi;
	bool		found;

	trovella_spi_connect(&spi);
	/* not read-only: a new snapshot sees a change earlier in the same statement */
	if (SPI_execute("SELECT tbl::pg_catalog.oid FROM trovella.membership", false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read trovella.membership");
	found = (SPI_processed == 1);
	if (found)
	{
		bool		isnull;

		*relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	trovella_spi_finish(&spi);
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
 * On a Citus cluster every node checks membership (a client may connect to
 * a worker, and a bound token may be presented there), so the registration
 * must reach every node, in the same distributed transaction: 55000 unless
 * trovella.membership is a reference table there.
 */
static void
require_registration_reaches_every_node(const char *function_name)
{
	Oid			config = trovella_membership_config_relid();

	if (trovella_citus_has_other_nodes() && !trovella_citus_reference_table(config))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("trovella.%s: on a Citus cluster, the registration must reach every node",
						function_name),
				 errdetail("trovella.membership is not a Citus reference table, so the workers would not check membership."),
				 errhint("As a superuser, on the coordinator: SELECT create_reference_table('trovella.membership');")));
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
	require_registration_reaches_every_node("use_membership");
	if (!registered_table(&previous))
		previous = InvalidOid;
	else if (previous != relid)
		require_registration_owner(previous, "use_membership");
	trovella_membership_validate(relid, tenant, user, role);
	write_registration(fcinfo, relid, tenant, user, role, previous);
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
	write_registration(fcinfo, InvalidOid, NULL, NULL, NULL, previous);
	PG_RETURN_BOOL(true);
}

/* membership_marker(): the marked table that counts (health), or NULL. */
PG_FUNCTION_INFO_V1(trovella_membership_marker);
Datum
trovella_membership_marker(PG_FUNCTION_ARGS)
{
	Oid			relid = trovella_membership_marked_table();

	if (!OidIsValid(relid))
		PG_RETURN_NULL();
	PG_RETURN_OID(relid);
}

/*
 * membership_table(): the table this node reads memberships from, NULL when
 * none is registered; 55000 (and the like) when the registration cannot
 * serve here.  trovella.health asks every Citus worker.
 */
PG_FUNCTION_INFO_V1(trovella_membership_table_sql);
Datum
trovella_membership_table_sql(PG_FUNCTION_ARGS)
{
	Oid			relid = trovella_membership_table();

	if (!OidIsValid(relid))
		PG_RETURN_NULL();
	PG_RETURN_OID(relid);
}
