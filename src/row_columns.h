/*
 * row_columns.h
 *		What trovella's row triggers share (row_columns.c): the standard
 *		columns' trigger, and the checks and values the soft delete's
 *		trigger (soft_delete.c) uses too.
 */
#ifndef TROVELLA_ROW_COLUMNS_H
#define TROVELLA_ROW_COLUMNS_H

#include "postgres.h"

#include "fmgr.h"
#include "utils/relcache.h"

/* 39P01 unless fired BEFORE one of the events FOR EACH ROW. */
extern void trovella_check_row_trigger(FunctionCallInfo fcinfo, const char *function_name,
									   bool insert, bool update, bool delete);

/* The column's attribute number; 55000 when missing or of another type. */
extern AttrNumber trovella_row_column(Relation rel, const char *column, Oid type_oid,
									  const char *enable_function);

/* The sealed context's user (a uuid Datum), *isnull without one. */
extern Datum trovella_context_user_datum(bool *isnull);

#endif							/* TROVELLA_ROW_COLUMNS_H */
