/*
 * audit_jsonb.c
 *		An audited row's values as jsonb: the value to_jsonb(row) makes, from
 *		each column's conversion kept per relation (row_jsonb.c decides it).
 *		to_jsonb looks every column's type up in the catalog for each row
 *		(its base type, its output function) and calls each output function
 *		through a fresh lookup; the audit trigger converts every row it
 *		records, and that was a fifth of a record's cost.
 *
 * What is kept for a relation is checked against its tuple descriptor at
 * each row, and made again when a column was added, dropped, renamed or
 * changed its type.  test/sql/audit_jsonb.sql compares the result with
 * to_jsonb over every kind of column.
 */
#include "postgres.h"

#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "audit.h"
#include "row_jsonb.h"

typedef struct AuditColumns
{
	Oid			relid;			/* hash key */
	MemoryContext context;		/* holds shape; NULL: not made yet */
	RowJsonbShape *shape;
} AuditColumns;

static HTAB *relations = NULL;

/*
 * Each column's conversion, made in a context of its own: a lookup may
 * process invalidations, but nothing here is kept by them.
 */
static void
make_columns(AuditColumns *entry, TupleDesc desc)
{
	MemoryContext context = AllocSetContextCreate(CacheMemoryContext,
												  "trovella audited columns",
												  ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(context);
	RowJsonbShape *shape = trovella_row_jsonb_shape(desc);

	MemoryContextSwitchTo(old);
	if (entry->context != NULL)
		MemoryContextDelete(entry->context);
	entry->shape = shape;
	entry->context = context;
}

/*
 * The relation's columns.  A relation's columns change only while no row of
 * it is being recorded (ALTER TABLE waits for, or refuses, every statement
 * using the relation), so what a caller is using is never replaced under it.
 */
static AuditColumns *
relation_columns(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	AuditColumns *entry;
	bool		found;

	if (relations == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(AuditColumns);
		relations = hash_create("trovella audited columns", 32, &ctl,
								HASH_ELEM | HASH_BLOBS);
	}
	entry = hash_search(relations, &relid, HASH_ENTER, &found);
	if (!found)
	{
		entry->context = NULL;
		entry->shape = NULL;
	}
	if (entry->context == NULL ||
		!trovella_row_jsonb_shape_matches(entry->shape, RelationGetDescr(rel)))
		make_columns(entry, RelationGetDescr(rel));
	return entry;
}

/*
 * The object of the row's columns that include marks (every column: NULL),
 * with values and nulls as heap_deform_tuple() gives them: what to_jsonb of
 * a row of those columns alone makes.
 */
Jsonb *
trovella_audit_jsonb(Relation rel, const Datum *values, const bool *nulls,
					 const bool *include)
{
	return trovella_row_jsonb(relation_columns(rel)->shape, values, nulls,
							  include, NULL);
}
