/*
 * relation_rows.h
 *		Whether a table holds a row, judged without row-level security
 *		(relation_rows.c).
 */
#ifndef TROVELLA_RELATION_ROWS_H
#define TROVELLA_RELATION_ROWS_H

#include "postgres.h"

#include "storage/lockdefs.h"

extern bool trovella_relation_has_rows(Oid relid, LOCKMODE lockmode);
extern bool trovella_relation_has_null(Oid relid, const char *column, LOCKMODE lockmode);

#endif							/* TROVELLA_RELATION_ROWS_H */
