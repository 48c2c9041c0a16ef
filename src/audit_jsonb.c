/*
 * audit_jsonb.c
 *		An audited row's values as jsonb: the value to_jsonb(row) makes, from
 *		what is kept per relation, each column's name and how its type
 *		converts.  to_jsonb looks every column's type up in the catalog for
 *		each row (its base type, its output function) and calls each output
 *		function through a fresh lookup; the audit trigger converts every row
 *		it records, and that was a fifth of a record's cost.
 *
 * The types an application's table mostly has are converted here as
 * to_jsonb converts them (booleans, integers, numeric and floating point,
 * text, uuid, dates and times, jsonb; and domains over them: to_jsonb looks
 * through a domain).  A column of any other type (an array, a composite,
 * json, an enum, a type of an extension that may cast to json) is
 * converted by to_jsonb itself, value by value.  test/sql/audit_jsonb.sql
 * compares the two over every kind.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/uuid.h"

#include "audit.h"
#include "compat.h"

/* How a column's value becomes a jsonb value. */
typedef enum ColumnKind
{
	COLUMN_BY_TO_JSONB,			/* to_jsonb(value) */
	COLUMN_BOOL,
	COLUMN_INT2,
	COLUMN_INT4,
	COLUMN_INT8,
	COLUMN_NUMBER,				/* numeric, float: a number, or its text
								 * (NaN, Infinity) */
	COLUMN_TEXT,				/* text, varchar, bpchar: their bytes */
	COLUMN_UUID,
	COLUMN_DATETIME,			/* date, timestamp, timestamptz: ISO 8601 */
	COLUMN_JSONB
} ColumnKind;

typedef struct AuditColumn
{
	bool		dropped;
	Oid			typid;			/* as declared (what is checked) */
	Oid			basetype;		/* a domain's base type */
	ColumnKind	kind;
	NameData	name;
	int			namelen;
	FmgrInfo	convert;		/* NUMBER: the output function; BY_TO_JSONB:
								 * to_jsonb, told the column's type */
} AuditColumn;

typedef struct AuditColumns
{
	Oid			relid;			/* hash key */
	int			natts;
	MemoryContext context;		/* holds columns; NULL: not made yet */
	AuditColumn *columns;
} AuditColumns;

static HTAB *relations = NULL;

static ColumnKind
column_kind(Oid basetype)
{
	switch (basetype)
	{
		case BOOLOID:
			return COLUMN_BOOL;
		case INT2OID:
			return COLUMN_INT2;
		case INT4OID:
			return COLUMN_INT4;
		case INT8OID:
			return COLUMN_INT8;
		case NUMERICOID:
		case FLOAT4OID:
		case FLOAT8OID:
			return COLUMN_NUMBER;
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			return COLUMN_TEXT;
		case UUIDOID:
			return COLUMN_UUID;
		case DATEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return COLUMN_DATETIME;
		case JSONBOID:
			return COLUMN_JSONB;
		default:
			return COLUMN_BY_TO_JSONB;
	}
}

/* Whether what is kept still describes the relation's columns. */
static bool
columns_match(const AuditColumns *entry, TupleDesc desc)
{
	if (entry->context == NULL || entry->natts != desc->natts)
		return false;
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		const AuditColumn *column = &entry->columns[i];

		if (column->dropped != att->attisdropped ||
			(!att->attisdropped &&
			 (column->typid != att->atttypid ||
			  strcmp(NameStr(column->name), NameStr(att->attname)) != 0)))
			return false;
	}
	return true;
}

/*
 * Each column's conversion, looked up into a context of its own: a lookup
 * may process invalidations, but nothing here is kept by them.
 */
static void
make_columns(AuditColumns *entry, TupleDesc desc)
{
	MemoryContext context = AllocSetContextCreate(CacheMemoryContext,
												  "trovella audited columns",
												  ALLOCSET_SMALL_SIZES);
	AuditColumn *columns = MemoryContextAllocZero(context,
												  sizeof(AuditColumn) * Max(desc->natts, 1));

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		AuditColumn *column = &columns[i];

		column->dropped = att->attisdropped;
		if (column->dropped)
			continue;
		column->typid = att->atttypid;
		column->basetype = getBaseType(att->atttypid);
		column->kind = column_kind(column->basetype);
		namestrcpy(&column->name, NameStr(att->attname));
		column->namelen = strlen(NameStr(column->name));
		if (column->kind == COLUMN_NUMBER)
		{
			Oid			output;
			bool		varlena;

			getTypeOutputInfo(column->basetype, &output, &varlena);
			fmgr_info_cxt(output, &column->convert, context);
		}
		else if (column->kind == COLUMN_BY_TO_JSONB)
		{
			MemoryContext old = MemoryContextSwitchTo(context);

			fmgr_info_cxt(F_TO_JSONB, &column->convert, context);
			column->convert.fn_expr = (Node *)
				makeFuncExpr(F_TO_JSONB, JSONBOID,
							 list_make1(makeNullConst(att->atttypid, att->atttypmod,
													  att->attcollation)),
							 InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
			MemoryContextSwitchTo(old);
		}
	}
	if (entry->context != NULL)
		MemoryContextDelete(entry->context);
	entry->natts = desc->natts;
	entry->columns = columns;
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
		entry->natts = 0;
		entry->columns = NULL;
	}
	if (!columns_match(entry, RelationGetDescr(rel)))
		make_columns(entry, RelationGetDescr(rel));
	return entry;
}

static void
set_number(JsonbValue *v, char *text)
{
	if (strpbrk(text, "Nn") != NULL)
	{
		v->type = jbvString;
		v->val.string.val = text;
		v->val.string.len = strlen(text);
	}
	else
	{
		v->type = jbvNumeric;
		v->val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in,
															 CStringGetDatum(text),
															 ObjectIdGetDatum(InvalidOid),
															 Int32GetDatum(-1)));
	}
}

static void
set_binary(JsonbValue *v, Jsonb *value)
{
	v->type = jbvBinary;
	v->val.binary.data = &value->root;
	v->val.binary.len = VARSIZE(value) - VARHDRSZ;
}

/* One column's value, as composite_to_jsonb() makes it. */
static void
column_value(AuditColumn *column, Datum value, bool isnull, JsonbValue *v)
{
	if (isnull)
	{
		v->type = jbvNull;
		return;
	}
	switch (column->kind)
	{
		case COLUMN_BOOL:
			v->type = jbvBool;
			v->val.boolean = DatumGetBool(value);
			break;
		case COLUMN_INT2:
			v->type = jbvNumeric;
			v->val.numeric = int64_to_numeric(DatumGetInt16(value));
			break;
		case COLUMN_INT4:
			v->type = jbvNumeric;
			v->val.numeric = int64_to_numeric(DatumGetInt32(value));
			break;
		case COLUMN_INT8:
			v->type = jbvNumeric;
			v->val.numeric = int64_to_numeric(DatumGetInt64(value));
			break;
		case COLUMN_NUMBER:
			set_number(v, OutputFunctionCall(&column->convert, value));
			break;
		case COLUMN_TEXT:
			{
				text	   *t = DatumGetTextPP(value);

				v->type = jbvString;
				v->val.string.val = VARDATA_ANY(t);
				v->val.string.len = VARSIZE_ANY_EXHDR(t);
				break;
			}
		case COLUMN_UUID:
			v->type = jbvString;
			v->val.string.val = DatumGetCString(DirectFunctionCall1(uuid_out, value));
			v->val.string.len = strlen(v->val.string.val);
			break;
		case COLUMN_DATETIME:
			v->type = jbvString;
			v->val.string.val = JsonEncodeDateTime(NULL, value, column->basetype, NULL);
			v->val.string.len = strlen(v->val.string.val);
			break;
		case COLUMN_JSONB:
			set_binary(v, DatumGetJsonbP(value));
			break;
		case COLUMN_BY_TO_JSONB:
			set_binary(v, DatumGetJsonbP(FunctionCall1(&column->convert, value)));
			break;
	}
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
	AuditColumns *entry = relation_columns(rel);
	TrovellaJsonbBuild build;

	memset(&build, 0, sizeof(build));
	trovella_jsonb_push(&build, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < entry->natts; i++)
	{
		AuditColumn *column = &entry->columns[i];
		JsonbValue	key;
		JsonbValue	value;

		if (column->dropped || (include != NULL && !include[i]))
			continue;
		key.type = jbvString;
		key.val.string.val = NameStr(column->name);
		key.val.string.len = column->namelen;
		trovella_jsonb_push(&build, WJB_KEY, &key);
		column_value(column, values[i], nulls[i], &value);
		trovella_jsonb_push(&build, WJB_VALUE, &value);
	}
	trovella_jsonb_push(&build, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(build.result);
}
