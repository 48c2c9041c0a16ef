/*
 * statement.c
 *		Statements trovella runs itself, through SPI: always with only the
 *		system catalogs on the search path and every table visible; with the extension owner's
 *		rights, for functions that are not SECURITY DEFINER (tokens,
 *		membership); from plans prepared once per backend; and, for a
 *		background job's scans, without parallel workers.
 */
#include "postgres.h"

#include "catalog/pg_proc.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/syscache.h"

#include "compat.h"
#include "statement.h"

/* The owner of the called function: the extension's owner. */
Oid
trovella_function_owner(FunctionCallInfo fcinfo)
{
	HeapTuple	proc = SearchSysCache1(PROCOID, ObjectIdGetDatum(fcinfo->flinfo->fn_oid));
	Oid			owner;

	if (!HeapTupleIsValid(proc))
		elog(ERROR, "cache lookup failed for function %u", fcinfo->flinfo->fn_oid);
	owner = ((Form_pg_proc) GETSTRUCT(proc))->proowner;
	ReleaseSysCache(proc);
	return owner;
}

/*
 * Act as the owner of the called function (the extension's owner, who owns
 * its tables) with only the system catalogs on the search path, and as a
 * restricted operation, until trovella_end_owner_section().  An error in
 * between is cleaned up by transaction or subtransaction abort, which
 * restores both.
 */
void
trovella_begin_owner_section(FunctionCallInfo fcinfo, OwnerSection *section)
{
	trovella_begin_owner_section_as(trovella_function_owner(fcinfo), section);
}

void
trovella_begin_owner_section_as(Oid owner, OwnerSection *section)
{
	GetUserIdAndSecContext(&section->saved_userid, &section->saved_sec_context);
	SetUserIdAndSecContext(owner, section->saved_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	push_catalog_search_path(&section->saved_search_path);
}

void
trovella_end_owner_section(const OwnerSection *section)
{
	pop_catalog_search_path(&section->saved_search_path);
	SetUserIdAndSecContext(section->saved_userid, section->saved_sec_context);
}

/* Whether Citus is loaded here, and so hides shard-named tables from queries. */
static bool
citus_hides_shards(void)
{
	const char *name = "citus.override_table_visibility";

	return GetConfigOption(name, true, false) != NULL &&
		(GetConfigOptionFlags(name, true) & GUC_CUSTOM_PLACEHOLDER) == 0;
}

/*
 * Connect to SPI with only the system catalogs on the search path, until
 * trovella_spi_finish().  Every statement trovella runs goes through here:
 * it runs as whoever called (often a superuser during Citus operations),
 * so nothing that role's search_path reaches (a function, an operator, a
 * table) may stand in for what the statement names, and a kept plan is
 * re-planned under this path, never under the caller's.  Where Citus is
 * loaded, its hiding of every table named like a shard from catalog
 * queries is off too: what trovella judges it sees by OID, whatever its
 * name, and tells Citus's own placements by Citus's metadata (citus.c).
 * An error in between is cleaned up by transaction or subtransaction
 * abort.
 */
void
trovella_spi_connect(SpiSection *section)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	push_catalog_search_path(&section->search_path);
	section->visibility_level = 0;
	if (citus_hides_shards())
	{
		section->visibility_level = NewGUCNestLevel();
		(void) set_config_option("citus.override_table_visibility", "off",
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
								 true, 0, false);
	}
}

void
trovella_spi_finish(const SpiSection *section)
{
	if (section->visibility_level > 0)
		AtEOXact_GUC(true, section->visibility_level);
	pop_catalog_search_path(&section->search_path);
	SPI_finish();
}

/*
 * The caller's search path for a statement that runs the application's
 * triggers (import_tenant's INSERTs), as they would run in an INSERT of the
 * caller's: a trigger function that names a table without its schema, or
 * sets its own search_path, finds what it would there.  trovella's own
 * triggers connect with trovella_spi_connect() and so pin the path again
 * for their statements.
 */
void
trovella_caller_path_save(CallerPath *path)
{
	path->search_path = pstrdup(GetConfigOption("search_path", false, false));
}

void
trovella_caller_path_begin(CallerPath *path)
{
	push_caller_search_path(path->search_path, &path->saved);
}

void
trovella_caller_path_end(const CallerPath *path)
{
	pop_caller_search_path(&path->saved);
}

SPIPlanPtr
trovella_keep_plan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes)
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

int
trovella_serial_begin(void)
{
	int			level = NewGUCNestLevel();

	(void) set_config_option("max_parallel_workers_per_gather", "0", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return level;
}

void
trovella_serial_end(int level)
{
	AtEOXact_GUC(true, level);
}
