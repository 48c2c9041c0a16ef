/*
 * isolation_judge.c
 *		The isolation guard's judgement at commit, of the tables a
 *		transaction's DDL touched (isolation.c remembers them).
 *
 * Each table is judged once, however many statements touched it: first by
 * a quick proof from the catalog (policy_check.c), which covers a table
 * enable_tenant_isolation() just isolated; a table the proof does not cover
 * by the SQL judgement of record, trovella.isolation_guard_problem.  Then a
 * table that inherits (not as a partition) from a table without its tenant
 * column, through which every tenant's rows of it are read, by
 * trovella.inheritance_guard_problem (0.4.0; skipped in a database not
 * updated yet).
 */
#include "postgres.h"

#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "isolation_judge.h"
#include "policy_check.h"
#include "statement.h"

/* The SQL judgements, planned once per backend. */
static SPIPlanPtr problem_plan = NULL;
static SPIPlanPtr inheritance_plan = NULL;

static char *
qualified_name(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

static Oid
inheritance_judgement(void)
{
	Oid			argtypes[1] = {REGCLASSOID};

	return LookupFuncName(list_make2(makeString("trovella"), makeString("inheritance_guard_problem")),
						  1, argtypes, true);
}

/*
 * Whether a table inherits (not as a partition) from a table through which
 * a SELECT returns every tenant's rows of it: refused like a missing policy.
 */
static void
check_inheritance(Oid relid, int elevel)
{
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	bool		isnull;
	Datum		problem;

	if (!has_superclass(relid) || get_rel_relispartition(relid))
		return;
	/* a database still at 0.3.0 or older has no such judgement */
	if (!OidIsValid(inheritance_judgement()))
		return;
	if (SPI_execute_plan(trovella_keep_plan(&inheritance_plan,
											"SELECT trovella.inheritance_guard_problem($1)",
											1, argtypes),
						 values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not check tenant isolation");
	problem = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return;
	ereport(elevel,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("trovella: table %s is tenant-isolated but inherits from a table that is not",
					qualified_name(relid)),
			 errdetail("%s.", TextDatumGetCString(problem)),
			 errhint("trovella.isolation_guard is \"%s\".",
					 GetConfigOption("trovella.isolation_guard", false, false))));
}

/*
 * At commit (isolation.c): every table the transaction's DDL touched that
 * still exists and lacks isolation, or inherits from a table that bypasses
 * it, gets a complaint at elevel: WARNING, or ERROR to stop the commit.
 */
void
trovella_judge_tables(List *tables, int elevel)
{
	ListCell   *lc;
	Oid			argtypes[1] = {REGCLASSOID};
	PolicyCheckCache cache = {0};

	/* each table once, in the order of creation, in O(n log n) */
	list_sort(tables, list_oid_cmp);

	/* at pre-commit no statement holds a snapshot for the queries */
	PushActiveSnapshot(GetTransactionSnapshot());
	SPI_connect();
	foreach(lc, tables)
	{
		Oid			relid = lfirst_oid(lc);
		Datum		values[1] = {ObjectIdGetDatum(relid)};
		bool		isnull;
		Datum		column;
		char	   *table;

		if (foreach_current_index(lc) > 0 &&
			list_nth_oid(tables, foreach_current_index(lc) - 1) == relid)
			continue;
		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
			continue;			/* dropped again, or rolled back to a savepoint */
		if (!trovella_certainly_isolated(relid, &cache))
		{
			if (SPI_execute_plan(trovella_keep_plan(&problem_plan,
													"SELECT trovella.isolation_guard_problem($1)",
													1, argtypes),
								 values, NULL, true, 1) != SPI_OK_SELECT)
				elog(ERROR, "could not check tenant isolation");
			column = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
			if (!isnull)
			{
				table = qualified_name(relid);
				ereport(elevel,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("trovella: table %s has tenant column \"%s\" but is not tenant-isolated",
								table, NameStr(*DatumGetName(column))),
						 errdetail("trovella.isolation_guard is \"%s\".",
								   GetConfigOption("trovella.isolation_guard", false, false)),
						 errhint("In the same transaction, run SELECT trovella.enable_tenant_isolation('%s', '%s');",
								 table, NameStr(*DatumGetName(column)))));
				continue;
			}
		}
		check_inheritance(relid, elevel);
	}
	SPI_finish();
	PopActiveSnapshot();
}

