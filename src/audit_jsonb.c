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
#include "utils/syscache.h"

#include "audit.h"
#include "row_jsonb.h"

typedef struct AuditColumns
{
	Oid			relid;			/* hash key */
	MemoryContext context;		/* holds shape; NULL: not made yet */
	RowJsonbShape *shape;
	bool		stale;			/* its relation's cache was invalidated */
} AuditColumns;

static HTAB *relations = NULL;

/* Whether an entry is stale: the next lookup removes those of a dropped relation. */
static bool any_stale = false;

/*
 * Each column's conversion, made in a context of its own: a lookup may
 * process invalidations, but nothing here is kept by them.
 */
static void
make_columns(AuditColumns *entry, TupleDesc desc)
{
	MemoryContext context = AllocSetContextCreate(CurrentMemoryContext,
												  "trovella audited columns",
												  ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(context);
	RowJsonbShape *shape = trovella_row_jsonb_shape(desc);

	MemoryContextSwitchTo(old);
	/* kept only once made: an error above frees it with its parent */
	MemoryContextSetParent(context, CacheMemoryContext);
	if (entry->context != NULL)
		MemoryContextDelete(entry->context);
	entry->shape = shape;
	entry->context = context;
}

/*
 * Remove the entries of relations dropped since their cache was last
 * invalidated.  Not in the invalidation callback: a caller may be using an
 * entry then (a lookup inside trovella_row_jsonb() may process
 * invalidations).  An entry in use is never removed here: its relation is
 * open, and cannot be dropped while it is.
 */
static void
remove_dropped(void)
{
	HASH_SEQ_STATUS status;
	AuditColumns *entry;

	any_stale = false;
	hash_seq_init(&status, relations);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		if (!entry->stale)
			continue;
		entry->stale = false;
		if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(entry->relid)))
			continue;
		if (entry->context != NULL)
			MemoryContextDelete(entry->context);
		(void) hash_search(relations, &entry->relid, HASH_REMOVE, NULL);
	}
}

/* A relation's cache was invalidated (hooks.c): InvalidOid, every one's. */
void
trovella_audit_jsonb_relcache(Oid relid)
{
	AuditColumns *entry;

	if (relations == NULL)
		return;
	if (OidIsValid(relid))
	{
		entry = hash_search(relations, &relid, HASH_FIND, NULL);
		if (entry != NULL)
		{
			entry->stale = true;
			any_stale = true;
		}
	}
	else
	{
		HASH_SEQ_STATUS status;

		hash_seq_init(&status, relations);
		while ((entry = hash_seq_search(&status)) != NULL)
			entry->stale = true;
		any_stale = true;
	}
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
	else if (any_stale)
		remove_dropped();
	entry = hash_search(relations, &relid, HASH_ENTER, &found);
	if (!found)
	{
		entry->context = NULL;
		entry->shape = NULL;
		entry->stale = false;
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
