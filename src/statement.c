/*
 * statement.c
 *		Statements trovella runs itself, through SPI: with the extension
 *		owner's rights, for functions that are not SECURITY DEFINER (tokens,
 *		membership), and from plans prepared once per backend.
 */
#include "postgres.h"

#include "catalog/pg_proc.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
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
