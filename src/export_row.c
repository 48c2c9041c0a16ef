/*
 * export_row.c
 *		A row as the jsonb that to_jsonb(row) makes of it, for export.c.
 *
 * to_jsonb of a whole row looks up each column's type again for every row
 * (its domain's base type, whether it is an array, a composite, its
 * output function), pushes the keys in column order and then sorts them.
 * Here that is done once per table: the columns are kept in the order of
 * jsonb's keys (shorter first, then bytewise), each with what its value
 * becomes, decided as to_jsonb decides it (jsonb_categorize_type):
 *
 *	smallint, integer, bigint	a number, made from the integer itself
 *	numeric					itself; NaN and infinities as their text
 *	real, double precision	a number from their text, unless that text is
 *							not a number (NaN, Infinity): then the text
 *	boolean					true or false
 *	date, timestamp[tz]		ISO 8601, as JsonEncodeDateTime writes it
 *	text, varchar, char		the string itself
 *	uuid					its canonical text
 *	jsonb					itself, nested
 *	arrays, composites, json, and types defined in the database (which
 *	may have a cast to json)	what to_jsonb itself makes of the value
 *	any other type			the text of its output function
 *
 * A domain is its base type.  A NULL is JSON's null.  The result is the
 * same jsonb as to_jsonb(row) (test/sql/export_row.sql compares the two
 * over every common type), under the same settings (export_tenant's SET
 * clauses fix those that output functions read).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "compat.h"
#include "export_row.h"

typedef enum ExportValueKind
{
	EXPORT_INT2,
	EXPORT_INT4,
	EXPORT_INT8,
	EXPORT_NUMERIC,
	EXPORT_FLOAT,				/* number from the output function's text */
	EXPORT_BOOL,
	EXPORT_DATETIME,
	EXPORT_TEXT,
	EXPORT_UUID,
	EXPORT_JSONB,
	EXPORT_TO_JSONB,			/* to_jsonb of the value */
	EXPORT_OUTPUT				/* the output function's text */
} ExportValueKind;

typedef struct ExportColumn
{
	int			index;			/* in the row's values */
	JsonbValue	key;			/* the column's name */
	char	   *key_text;		/* the key as JSON, then ": " */
	int			key_text_len;
	ExportValueKind kind;
	Oid			base_type;		/* for EXPORT_DATETIME */
	FmgrInfo	function;		/* output function, or to_jsonb */
} ExportColumn;

struct ExportRowShape
{
	int			ncolumns;
	ExportColumn columns[FLEXIBLE_ARRAY_MEMBER];
};

static void append_escaped(StringInfo out, const char *data, int len);

/* jsonb's order of keys: the shorter first, then bytewise */
static int
key_order(const void *a, const void *b)
{
	const JsonbValue *ka = &((const ExportColumn *) a)->key;
	const JsonbValue *kb = &((const ExportColumn *) b)->key;

	if (ka->val.string.len != kb->val.string.len)
		return ka->val.string.len < kb->val.string.len ? -1 : 1;
	return memcmp(ka->val.string.val, kb->val.string.val, ka->val.string.len);
}

/* What a value of type (a column's, perhaps a domain) becomes. */
static void
choose_kind(ExportColumn *column, Oid type, int32 typmod, Oid collation)
{
	Oid			base = getBaseType(type);
	Oid			output;
	bool		varlena;

	column->base_type = base;
	switch (base)
	{
		case INT2OID:
			column->kind = EXPORT_INT2;
			return;
		case INT4OID:
			column->kind = EXPORT_INT4;
			return;
		case INT8OID:
			column->kind = EXPORT_INT8;
			return;
		case NUMERICOID:
			column->kind = EXPORT_NUMERIC;
			return;
		case BOOLOID:
			column->kind = EXPORT_BOOL;
			return;
		case DATEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			column->kind = EXPORT_DATETIME;
			return;
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			column->kind = EXPORT_TEXT;
			return;
		case UUIDOID:
			column->kind = EXPORT_UUID;
			return;
		case JSONBOID:
			column->kind = EXPORT_JSONB;
			return;
		case FLOAT4OID:
		case FLOAT8OID:
			column->kind = EXPORT_FLOAT;
			break;
		default:
			if (base == JSONOID || OidIsValid(get_element_type(base)) ||
				type_is_rowtype(base) || base >= FirstNormalObjectId)
			{
				FuncExpr   *call;

				column->kind = EXPORT_TO_JSONB;
				fmgr_info(F_TO_JSONB, &column->function);
				call = makeFuncExpr(F_TO_JSONB, JSONBOID,
									list_make1(makeNullConst(type, typmod, collation)),
									InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
				column->function.fn_expr = (Node *) call;
				return;
			}
			column->kind = EXPORT_OUTPUT;
			break;
	}
	getTypeOutputInfo(base, &output, &varlena);
	fmgr_info(output, &column->function);
}

ExportRowShape *
trovella_export_row_shape(TupleDesc desc)
{
	ExportRowShape *shape = palloc0(offsetof(ExportRowShape, columns) +
									sizeof(ExportColumn) * desc->natts);

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		ExportColumn *column;

		if (att->attisdropped)
			continue;
		column = &shape->columns[shape->ncolumns++];
		column->index = i;
		column->key.type = jbvString;
		column->key.val.string.val = pstrdup(NameStr(att->attname));
		column->key.val.string.len = strlen(column->key.val.string.val);
		choose_kind(column, att->atttypid, att->atttypmod, att->attcollation);
	}
	for (int i = 0; i < shape->ncolumns; i++)
	{
		ExportColumn *column = &shape->columns[i];
		StringInfoData key;

		initStringInfo(&key);
		append_escaped(&key, column->key.val.string.val, column->key.val.string.len);
		appendBinaryStringInfo(&key, ": ", 2);
		column->key_text = key.data;
		column->key_text_len = key.len;
	}
	qsort(shape->columns, shape->ncolumns, sizeof(ExportColumn), key_order);
	return shape;
}

/* A string value, refused past jsonb's limit as to_jsonb refuses it. */
static void
set_string(JsonbValue *v, char *data, size_t len)
{
	if (len > JENTRY_OFFLENMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("string too long to represent as jsonb string"),
				 errdetail("Due to an implementation restriction, jsonb strings cannot exceed %d bytes.",
						   JENTRY_OFFLENMASK)));
	v->type = jbvString;
	v->val.string.val = data;
	v->val.string.len = len;
}

/* A number from text, or the text where it is not one (as to_jsonb). */
static void
set_number_text(JsonbValue *v, char *text)
{
	if (strchr(text, 'N') != NULL || strchr(text, 'n') != NULL)
		set_string(v, text, strlen(text));
	else
	{
		v->type = jbvNumeric;
		v->val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(text),
															 ObjectIdGetDatum(InvalidOid),
															 Int32GetDatum(-1)));
	}
}

/* A uuid's canonical text: 8-4-4-4-12 lowercase hex digits. */
static char *
uuid_text(const pg_uuid_t *uuid)
{
	static const char hex[] = "0123456789abcdef";
	char	   *text = palloc(2 * UUID_LEN + 5);
	char	   *p = text;

	for (int i = 0; i < UUID_LEN; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[uuid->data[i] >> 4];
		*p++ = hex[uuid->data[i] & 0x0f];
	}
	*p = '\0';
	return text;
}

/*
 * A jsonb value nested as the value of the key just pushed: a scalar as
 * itself, a container token by token (as to_jsonb nests a jsonb column).
 */
static void
push_jsonb(TrovellaJsonbBuild *build, Jsonb *jsonb)
{
	JsonbIterator *it = JsonbIteratorInit(&jsonb->root);
	JsonbIteratorToken token;
	JsonbValue	v;

	if (JB_ROOT_IS_SCALAR(jsonb))
	{
		(void) JsonbIteratorNext(&it, &v, true);	/* the raw scalar's array */
		(void) JsonbIteratorNext(&it, &v, true);
		trovella_jsonb_push(build, WJB_VALUE, &v);
		return;
	}
	while ((token = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		if (token == WJB_BEGIN_ARRAY || token == WJB_END_ARRAY ||
			token == WJB_BEGIN_OBJECT || token == WJB_END_OBJECT)
			trovella_jsonb_push(build, token, NULL);
		else
			trovella_jsonb_push(build, token, &v);
	}
}

/* A string as JSON, escaped exactly as escape_json escapes it. */
static void
append_escaped(StringInfo out, const char *data, int len)
{
	const char *end = data + len;
	const char *run = data;

	appendStringInfoCharMacro(out, '"');
	for (const char *p = data; p < end; p++)
	{
		unsigned char c = (unsigned char) *p;

		if (c >= ' ' && c != '"' && c != '\\')
			continue;
		if (p > run)
			appendBinaryStringInfo(out, run, p - run);
		run = p + 1;
		switch (c)
		{
			case '\b':
				appendBinaryStringInfo(out, "\\b", 2);
				break;
			case '\f':
				appendBinaryStringInfo(out, "\\f", 2);
				break;
			case '\n':
				appendBinaryStringInfo(out, "\\n", 2);
				break;
			case '\r':
				appendBinaryStringInfo(out, "\\r", 2);
				break;
			case '\t':
				appendBinaryStringInfo(out, "\\t", 2);
				break;
			case '"':
				appendBinaryStringInfo(out, "\\\"", 2);
				break;
			case '\\':
				appendBinaryStringInfo(out, "\\\\", 2);
				break;
			default:
				appendStringInfo(out, "\\u%04x", (int) c);
				break;
		}
	}
	if (end > run)
		appendBinaryStringInfo(out, run, end - run);
	appendStringInfoCharMacro(out, '"');
}

static void
append_scalar(StringInfo out, const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			appendBinaryStringInfo(out, "null", 4);
			break;
		case jbvString:
			append_escaped(out, v->val.string.val, v->val.string.len);
			break;
		case jbvNumeric:
			appendStringInfoString(out, DatumGetCString(DirectFunctionCall1(numeric_out,
																			NumericGetDatum(v->val.numeric))));
			break;
		case jbvBool:
			if (v->val.boolean)
				appendBinaryStringInfo(out, "true", 4);
			else
				appendBinaryStringInfo(out, "false", 5);
			break;
		default:
			elog(ERROR, "unexpected jsonb value type %d in an exported row", (int) v->type);
	}
}

/*
 * A jsonb value's text as jsonb's output function writes it (without
 * indentation: ", " between items, ": " after a key).
 */
static void
append_jsonb_text(StringInfo out, Jsonb *jsonb)
{
	JsonbIterator *it = JsonbIteratorInit(&jsonb->root);
	JsonbIteratorToken token;
	JsonbValue	v;
	bool		first = true;

	if (JB_ROOT_IS_SCALAR(jsonb))
	{
		(void) JsonbIteratorNext(&it, &v, true);	/* the raw scalar's array */
		(void) JsonbIteratorNext(&it, &v, true);
		append_scalar(out, &v);
		return;
	}
	while ((token = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		switch (token)
		{
			case WJB_BEGIN_ARRAY:
			case WJB_BEGIN_OBJECT:
				if (!first)
					appendBinaryStringInfo(out, ", ", 2);
				appendStringInfoCharMacro(out, token == WJB_BEGIN_ARRAY ? '[' : '{');
				first = true;
				break;
			case WJB_KEY:
				if (!first)
					appendBinaryStringInfo(out, ", ", 2);
				append_scalar(out, &v);
				appendBinaryStringInfo(out, ": ", 2);
				first = true;	/* no comma before the value */
				break;
			case WJB_VALUE:
			case WJB_ELEM:
				if (!first)
					appendBinaryStringInfo(out, ", ", 2);
				append_scalar(out, &v);
				first = false;
				break;
			case WJB_END_ARRAY:
			case WJB_END_OBJECT:
				appendStringInfoCharMacro(out, token == WJB_END_ARRAY ? ']' : '}');
				first = false;
				break;
			case WJB_DONE:
				break;
		}
	}
}

/* An integer, as a number of the row and in its text. */
static void
set_integer(JsonbValue *v, StringInfo out, int64 value)
{
	v->type = jbvNumeric;
	v->val.numeric = int64_to_numeric(value);
	enlargeStringInfo(out, MAXINT8LEN + 1);
	out->len += pg_lltoa(value, out->data + out->len);
}

Jsonb *
trovella_export_row(const ExportRowShape *shape, const Datum *values, const bool *nulls,
					StringInfo out)
{
	TrovellaJsonbBuild build;

	memset(&build, 0, sizeof(build));
	trovella_jsonb_push(&build, WJB_BEGIN_OBJECT, NULL);
	appendStringInfoCharMacro(out, '{');
	for (int i = 0; i < shape->ncolumns; i++)
	{
		const ExportColumn *column = &shape->columns[i];
		Datum		value = values[column->index];
		JsonbValue	v;
		Jsonb	   *nested;

		trovella_jsonb_push(&build, WJB_KEY, unconstify(JsonbValue *, &column->key));
		if (i > 0)
			appendBinaryStringInfo(out, ", ", 2);
		appendBinaryStringInfo(out, column->key_text, column->key_text_len);
		if (nulls[column->index])
		{
			v.type = jbvNull;
			trovella_jsonb_push(&build, WJB_VALUE, &v);
			appendBinaryStringInfo(out, "null", 4);
			continue;
		}
		switch (column->kind)
		{
			case EXPORT_INT2:
				set_integer(&v, out, DatumGetInt16(value));
				trovella_jsonb_push(&build, WJB_VALUE, &v);
				continue;
			case EXPORT_INT4:
				set_integer(&v, out, DatumGetInt32(value));
				trovella_jsonb_push(&build, WJB_VALUE, &v);
				continue;
			case EXPORT_INT8:
				set_integer(&v, out, DatumGetInt64(value));
				trovella_jsonb_push(&build, WJB_VALUE, &v);
				continue;
			case EXPORT_NUMERIC:
				{
					Numeric		number = DatumGetNumeric(value);

					if (numeric_is_nan(number) || numeric_is_inf(number))
						set_number_text(&v, DatumGetCString(DirectFunctionCall1(numeric_out,
																				NumericGetDatum(number))));
					else
					{
						v.type = jbvNumeric;
						v.val.numeric = number;
					}
				}
				break;
			case EXPORT_FLOAT:
				set_number_text(&v, OutputFunctionCall(unconstify(FmgrInfo *, &column->function), value));
				break;
			case EXPORT_BOOL:
				v.type = jbvBool;
				v.val.boolean = DatumGetBool(value);
				break;
			case EXPORT_DATETIME:
				{
					char	   *datetime = JsonEncodeDateTime(NULL, value, column->base_type, NULL);

					set_string(&v, datetime, strlen(datetime));
				}
				break;
			case EXPORT_TEXT:
				{
					text	   *t = DatumGetTextPP(value);

					set_string(&v, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
				}
				break;
			case EXPORT_UUID:
				set_string(&v, uuid_text(DatumGetUUIDP(value)), 2 * UUID_LEN + 4);
				break;
			case EXPORT_JSONB:
			case EXPORT_TO_JSONB:
				if (column->kind == EXPORT_JSONB)
					nested = DatumGetJsonbP(value);
				else
					nested = DatumGetJsonbP(FunctionCall1(unconstify(FmgrInfo *, &column->function),
														  value));
				push_jsonb(&build, nested);
				append_jsonb_text(out, nested);
				continue;
			case EXPORT_OUTPUT:
				{
					char	   *output = OutputFunctionCall(unconstify(FmgrInfo *, &column->function),
															value);

					set_string(&v, output, strlen(output));
				}
				break;
		}
		trovella_jsonb_push(&build, WJB_VALUE, &v);
		append_scalar(out, &v);
	}
	trovella_jsonb_push(&build, WJB_END_OBJECT, NULL);
	appendStringInfoCharMacro(out, '}');
	return JsonbValueToJsonb(build.result);
}
