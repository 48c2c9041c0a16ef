/*
 * isolation_judge.c
 *		The isolation guard's judgement at commit, of the tables a
 *		transaction's DDL touched (isolation.c remembers them).
 *
 * Each table is judged once, however many statements touched it, and so is
 * every table that inherits from it: a change to a parent (its column
 * dropped, its RLS disabled) changes what its children's rows are read
 * through.  First by a proof from the catalog, by OID (policy_check.c),
 * which covers a table enable_tenant_isolation() isolated; a table the
 * proof does not cover by the SQL judgement of record,
 * trovella.isolation_guard_problem, which recognises a policy with the same
 * C function.  Then a table that inherits, as a partition or not, from a
 * table through which every tenant's rows of it are read: proved when every
 * ancestor is isolated on the same column, else judged by
 * trovella.inheritance_guard_problem (0.4.0; skipped in a database not
 * updated yet).
 */
#include "postgres.h"

#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "citus.h"
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
 * Whether a table inherits (as a partition or not) from a table through
 * which a SELECT returns every tenant's rows of it: one without its tenant
 * column, one not isolated on it (reviewed or not: a reviewed mark covers a
 * table's own rows, never another table's seen through it), a foreign
 * table.  Refused like a missing policy.  column: the column the table was
 * proved isolated on, or InvalidAttrNumber.
 */
static void
check_inheritance(Oid relid, AttrNumber column, int elevel, PolicyCheckCache *cache)
{
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	bool		isnull;
	Datum		problem;

	if (!has_superclass(relid))
		return;
	if (column != InvalidAttrNumber &&
		trovella_ancestors_isolated(relid, get_attname(relid, column, false), cache))
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
 * The tables to judge: each remembered table that still exists, and every
 * table that inherits from it, at any level (a change to a table changes
 * what its descendants' rows are read through), each once, in the order
 * of creation.
 */
static List *
tables_and_descendants(List *tables)
{
	List	   *judged = NIL;
	List	   *unique = NIL;
	ListCell   *lc;

	foreach(lc, tables)
	{
		Oid			relid = lfirst_oid(lc);

		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
			continue;			/* dropped again, or rolled back to a savepoint */
		if (has_subclass(relid))
			judged = list_concat(judged, find_all_inheritors(relid, NoLock, NULL));
		else
			judged = lappend_oid(judged, relid);
	}
	/* in O(n log n) */
	list_sort(judged, list_oid_cmp);
	foreach(lc, judged)
		if (unique == NIL || llast_oid(unique) != lfirst_oid(lc))
			unique = lappend_oid(unique, lfirst_oid(lc));
	return unique;
}

/*
 * At commit (isolation.c): every table the transaction's DDL touched, or
 * that inherits from one, that still exists and lacks isolation, or
 * inherits from a table that bypasses it, gets a complaint at elevel:
 * WARNING, or ERROR to stop the commit.
 */
void
trovella_judge_tables(List *tables, int elevel)
{
	SpiSection	spi;
	ListCell   *lc;
	Oid			argtypes[1] = {REGCLASSOID};
	PolicyCheckCache cache = {0};
	List	   *judged = tables_and_descendants(tables);

	/* at pre-commit no statement holds a snapshot for the queries */
	PushActiveSnapshot(GetTransactionSnapshot());
	trovella_spi_connect(&spi);
	foreach(lc, judged)
	{
		Oid			relid = lfirst_oid(lc);
		Datum		values[1] = {ObjectIdGetDatum(relid)};
		bool		isnull;
		Datum		column;
		char	   *table;
		AttrNumber	isolated_on;

		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)) ||
			trovella_citus_is_shard(relid))
			continue;			/* dropped; or Citus's placement, judged as its table */
		isolated_on = trovella_isolated_column(relid, &cache);
		if (isolated_on == InvalidAttrNumber)
		{
			if (SPI_execute_plan(trovella_keep_plan(&problem_plan,
													"SELECT trovella.isolation_guard_problem($1)",
													1, argtypes),
								 values, NULL, true, 1) != SPI_OK_SELECT)
				elog(ERROR, "could not check tenant isolation");
			column = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
			if (!isnull && get_rel_relkind(relid) == RELKIND_FOREIGN_TABLE)
			{
				table = qualified_name(relid);
				ereport(elevel,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("trovella: foreign table %s has tenant column \"%s\" and cannot be tenant-isolated",
								table, NameStr(*DatumGetName(column))),
						 errdetail("Row-level security cannot apply to a foreign table: a SELECT on it returns every tenant's rows it holds.  trovella.isolation_guard is \"%s\".",
								   GetConfigOption("trovella.isolation_guard", false, false)),
						 errhint("Keep tenant data out of it, or mark it reviewed in the same transaction: COMMENT ON FOREIGN TABLE %s IS 'trovella: reviewed: why';",
								 table)));
				continue;
			}
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
		check_inheritance(relid, isolated_on, elevel, &cache);
	}
	trovella_spi_finish(&spi);
	PopActiveSnapshot();
}
