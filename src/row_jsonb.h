/*
 * row_jsonb.h
 *		A row of a table as the jsonb that to_jsonb(row) makes of it, with
 *		each column's conversion decided once per tuple descriptor
 *		(row_jsonb.c; for export.c and the audit trigger).
 */
#ifndef TROVELLA_ROW_JSONB_H
#define TROVELLA_ROW_JSONB_H

#include "postgres.h"

#include "access/tupdesc.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"

typedef struct RowJsonbShape RowJsonbShape;

/*
 * What is decided once for rows of desc, allocated (with the lookups'
 * function data) in the current memory context.
 */
extern RowJsonbShape *trovella_row_jsonb_shape(TupleDesc desc);

/*
 * Whether shape, made for an earlier descriptor, still describes desc's
 * columns (the same columns dropped, the same names and types).
 */
extern bool trovella_row_jsonb_shape_matches(const RowJsonbShape *shape,
											 TupleDesc desc);

/*
 * The row of values and nulls (desc's columns, as heap_deform_tuple gives
 * them) as to_jsonb would make it; with include (indexed as values; NULL:
 * every column), of the included columns alone.  Where out is not NULL, the
 * jsonb's text, as jsonb's output function writes it, is appended to it.
 */
extern Jsonb *trovella_row_jsonb(const RowJsonbShape *shape,
								 const Datum *values, const bool *nulls,
								 const bool *include, StringInfo out);

#endif							/* TROVELLA_ROW_JSONB_H */
