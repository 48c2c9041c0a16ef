/*
 * soft_delete.h
 *		Soft delete (soft_delete.c): the trigger that marks rows deleted,
 *		and what its SQL functions (soft_delete_sql.c) ask of it.
 */
#ifndef TROVELLA_SOFT_DELETE_H
#define TROVELLA_SOFT_DELETE_H

#include "postgres.h"

extern void SoftDeleteInit(void);

/* Whether marked rows pass trovella_soft_delete's policy now. */
extern bool trovella_deleted_rows_visible(void);

/* The transaction reads marked rows from now on (trovella.with_deleted). */
extern void trovella_read_deleted_rows(void);

/*
 * Run a statement as the caller while trovella writes deleted_* (purge
 * false) or really deletes rows (purge true); the rows it processed.
 */
extern uint64 trovella_soft_delete_statement(const char *sql, int nargs, Oid *argtypes,
											 Datum *values, const char *nulls, bool purge,
											 int expected);

#endif							/* TROVELLA_SOFT_DELETE_H */
