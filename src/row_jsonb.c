/*
 * row_jsonb.c
 *		A row as the jsonb that to_jsonb(row) makes of it, for export.c (the
 *		whole row, and its text for the format's checksums) and the audit
 *		trigger (the whole row, or the columns an UPDATE changed).
 *
 * to_jsonb of a whole row looks up each column's type again for every row
 * (its domain's base type, whether it is an array, a composite, its
 * output function), pushes the keys in column order and then sorts them.
 * Here that is done once per tuple descriptor (export: per table exported;
 * the audit: kept per relation in audit_jsonb.c, checked against the
 * relation's descriptor): the columns are kept in the order of
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
 * same jsonb as to_jsonb(row), byte for byte (test/sql/export_row.sql and
 * test/sql/audit_jsonb.sql compare the two over every common type), under
 * the same settings (export_tenant's SET clauses fix those that output
 * functions read).
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
#include "row_jsonb.h"

typedef enum RowValueKind
{
	ROW_INT2,
	ROW_INT4,
	ROW_INT8,
	ROW_NUMERIC,
	ROW_FLOAT,				/* number from the output function's text */
	ROW_BOOL,
	ROW_DATETIME,
	ROW_TEXT,
	ROW_UUID,
	ROW_JSONB,
	ROW_TO_JSONB,			/* to_jsonb of the value */
	ROW_OUTPUT				/* the output function's text */
} RowValueKind;

typedef struct RowColumn
{
	int			index;			/* in the row's values */
	Oid			type;			/* as declared (what a match checks) */
	JsonbValue	key;			/* the column's name */
	char	   *key_text;		/* the key as JSON, then ": " */
	int			key_text_len;
	RowValueKind kind;
	Oid			base_type;		/* for ROW_DATETIME */
	FmgrInfo	function;		/* output function, or to_jsonb */
} RowColumn;

struct RowJsonbShape
{
	int			natts;			/* of the descriptor, dropped ones too */
	int			ncolumns;
	RowColumn columns[FLEXIBLE_ARRAY_MEMBER];
};

static void append_escaped(StringInfo out, const char *data, int len);

/* jsonb's order of keys: the shorter first, then bytewise */
static int
key_order(const void *a, const void *b)
{
	const JsonbValue *ka = &((const RowColumn *) a)->key;
	const JsonbValue *kb = &((const RowColumn *) b)->key;

	if (ka->val.string.len != kb->val.string.len)
		return ka->val.string.len < kb->val.string.len ? -1 : 1;
	return memcmp(ka->val.string.val, kb->val.string.val, ka->val.string.len);
}

/* What a value of type (a column's, perhaps a domain) becomes. */
static void
choose_kind(RowColumn *column, Oid type, int32 typmod, Oid collation)
{
	Oid			base = getBaseType(type);
	Oid			output;
	bool		varlena;

	column->base_type = base;
	switch (base)
	{
		case INT2OID:
			column->kind = ROW_INT2;
			return;
		case INT4OID:
			column->kind = ROW_INT4;
			return;
		case INT8OID:
			column->kind = ROW_INT8;
			return;
		case NUMERICOID:
			column->kind = ROW_NUMERIC;
			return;
		case BOOLOID:
			column->kind = ROW_BOOL;
			return;
		case DATEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			column->kind = ROW_DATETIME;
			return;
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			column->kind = ROW_TEXT;
			return;
		case UUIDOID:
			column->kind = ROW_UUID;
			return;
		case JSONBOID:
			column->kind = ROW_JSONB;
			return;
		case FLOAT4OID:
		case FLOAT8OID:
			column->kind = ROW_FLOAT;
			break;
		default:
			if (base == JSONOID || OidIsValid(get_element_type(base)) ||
				type_is_rowtype(base) || base >= FirstNormalObjectId)
			{
				FuncExpr   *call;

				column->kind = ROW_TO_JSONB;
				fmgr_info(F_TO_JSONB, &column->function);
				call = makeFuncExpr(F_TO_JSONB, JSONBOID,
									list_make1(makeNullConst(type, typmod, collation)),
									InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
				column->function.fn_expr = (Node *) call;
				return;
			}
			column->kind = ROW_OUTPUT;
			break;
	}
	getTypeOutputInfo(base, &output, &varlena);
	fmgr_info(output, &column->function);
}

RowJsonbShape *
trovella_row_jsonb_shape(TupleDesc desc)
{
	RowJsonbShape *shape = palloc0(offsetof(RowJsonbShape, columns) +
								   sizeof(RowColumn) * desc->natts);

	shape->natts = desc->natts;
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		RowColumn  *column;
		StringInfoData key;

		if (att->attisdropped)
			continue;
		column = &shape->columns[shape->ncolumns++];
		column->index = i;
		column->type = att->atttypid;
		column->key.type = jbvString;
		column->key.val.string.val = pstrdup(NameStr(att->attname));
		column->key.val.string.len = strlen(column->key.val.string.val);
		initStringInfo(&key);
		append_escaped(&key, column->key.val.string.val, column->key.val.string.len);
		appendBinaryStringInfo(&key, ": ", 2);
		column->key_text = key.data;
		column->key_text_len = key.len;
		choose_kind(column, att->atttypid, att->atttypmod, att->attcollation);
	}
	qsort(shape->columns, shape->ncolumns, sizeof(RowColumn), key_order);
	return shape;
}

bool
trovella_row_jsonb_shape_matches(const RowJsonbShape *shape, TupleDesc desc)
{
	int			live = 0;

	if (shape->natts != desc->natts)
		return false;
	for (int i = 0; i < desc->natts; i++)
		if (!TupleDescAttr(desc, i)->attisdropped)
			live++;
	if (live != shape->ncolumns)
		return false;
	for (int i = 0; i < shape->ncolumns; i++)
	{
		const RowColumn *column = &shape->columns[i];
		Form_pg_attribute att = TupleDescAttr(desc, column->index);

		if (att->attisdropped || att->atttypid != column->type ||
			strcmp(NameStr(att->attname), column->key.val.string.val) != 0)
			return false;
	}
	return true;
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
			elog(ERROR, "unexpected jsonb value type %d in a row", (int) v->type);
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

/* An integer, as a number of the row and, where out is given, in its text. */
static void
set_integer(JsonbValue *v, StringInfo out, int64 value)
{
	v->type = jbvNumeric;
	v->val.numeric = int64_to_numeric(value);
	if (out == NULL)
		return;
	enlargeStringInfo(out, MAXINT8LEN + 1);
	out->len += pg_lltoa(value, out->data + out->len);
}

/* A value (not NULL) of column, as to_jsonb makes it; nested: a jsonb */
static void
column_value(const RowColumn *column, Datum value, JsonbValue *v, Jsonb **nested)
{
	*nested = NULL;
	switch (column->kind)
	{
		case ROW_INT2:
		case ROW_INT4:
		case ROW_INT8:
			pg_unreachable();	/* (set_integer, by the caller) */
			break;
		case ROW_NUMERIC:
			{
				Numeric		number = DatumGetNumeric(value);

				if (numeric_is_nan(number) || numeric_is_inf(number))
					set_number_text(v, DatumGetCString(DirectFunctionCall1(numeric_out,
																		   NumericGetDatum(number))));
				else
				{
					v->type = jbvNumeric;
					v->val.numeric = number;
				}
			}
			break;
		case ROW_FLOAT:
			set_number_text(v, OutputFunctionCall(unconstify(FmgrInfo *, &column->function), value));
			break;
		case ROW_BOOL:
			v->type = jbvBool;
			v->val.boolean = DatumGetBool(value);
			break;
		case ROW_DATETIME:
			{
				char	   *datetime = JsonEncodeDateTime(NULL, value, column->base_type, NULL);

				set_string(v, datetime, strlen(datetime));
			}
			break;
		case ROW_TEXT:
			{
				text	   *t = DatumGetTextPP(value);

				set_string(v, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
			}
			break;
		case ROW_UUID:
			set_string(v, uuid_text(DatumGetUUIDP(value)), 2 * UUID_LEN + 4);
			break;
		case ROW_JSONB:
			*nested = DatumGetJsonbP(value);
			break;
		case ROW_TO_JSONB:
			*nested = DatumGetJsonbP(FunctionCall1(unconstify(FmgrInfo *, &column->function),
												   value));
			break;
		case ROW_OUTPUT:
			{
				char	   *output = OutputFunctionCall(unconstify(FmgrInfo *, &column->function),
														value);

				set_string(v, output, strlen(output));
			}
			break;
	}
}

Jsonb *
trovella_row_jsonb(const RowJsonbShape *shape, const Datum *values, const bool *nulls,
				   const bool *include, StringInfo out)
{
	TrovellaJsonbBuild build;
	bool		first = true;

	memset(&build, 0, sizeof(build));
	trovella_jsonb_push(&build, WJB_BEGIN_OBJECT, NULL);
	if (out != NULL)
		appendStringInfoCharMacro(out, '{');
	for (int i = 0; i < shape->ncolumns; i++)
	{
		const RowColumn *column = &shape->columns[i];
		Datum		value = values[column->index];
		JsonbValue	v;
		Jsonb	   *nested;

		if (include != NULL && !include[column->index])
			continue;
		trovella_jsonb_push(&build, WJB_KEY, unconstify(JsonbValue *, &column->key));
		if (out != NULL)
		{
			if (!first)
				appendBinaryStringInfo(out, ", ", 2);
			appendBinaryStringInfo(out, column->key_text, column->key_text_len);
		}
		first = false;
		if (nulls[column->index])
		{
			v.type = jbvNull;
			trovella_jsonb_push(&build, WJB_VALUE, &v);
			if (out != NULL)
				appendBinaryStringInfo(out, "null", 4);
			continue;
		}
		switch (column->kind)
		{
			case ROW_INT2:
				set_integer(&v, out, DatumGetInt16(value));
				trovella_jsonb_push(&build, WJB_VALUE, &v);
				continue;
			case ROW_INT4:
				set_integer(&v, out, DatumGetInt32(value));
				trovella_jsonb_push(&build, WJB_VALUE, &v);
				continue;
			case ROW_INT8:
				set_integer(&v, out, DatumGetInt64(value));
				trovella_jsonb_push(&build, WJB_VALUE, &v);
				continue;
			default:
				break;
		}
		column_value(column, value, &v, &nested);
		if (nested != NULL)
		{
			push_jsonb(&build, nested);
			if (out != NULL)
				append_jsonb_text(out, nested);
			continue;
		}
		trovella_jsonb_push(&build, WJB_VALUE, &v);
		if (out != NULL)
			append_scalar(out, &v);
	}
	trovella_jsonb_push(&build, WJB_END_OBJECT, NULL);
	if (out != NULL)
		appendStringInfoCharMacro(out, '}');
	return JsonbValueToJsonb(build.result);
}
