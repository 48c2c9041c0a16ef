/*
 * export_row.h
 *		A row of a table as the jsonb that to_jsonb(row) makes of it, with
 *		each column's type looked up once per table (export_row.c, for
 *		export.c).
 */
#ifndef TROVELLA_EXPORT_ROW_H
#define TROVELLA_EXPORT_ROW_H

#include "postgres.h"

#include "access/tupdesc.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"

typedef struct ExportRowShape ExportRowShape;

/* What is looked up once for rows of desc (allocated in the current context). */
extern ExportRowShape *trovella_export_row_shape(TupleDesc desc);

/*
 * The row of values and nulls (desc's columns), as to_jsonb would make it;
 * its text, as jsonb's output function writes it, appended to out (what
 * the format's checksums are over).
 */
extern Jsonb *trovella_export_row(const ExportRowShape *shape,
								  const Datum *values, const bool *nulls,
								  StringInfo out);

#endif							/* TROVELLA_EXPORT_ROW_H */
