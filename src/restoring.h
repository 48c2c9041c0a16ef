/*
 * restoring.h
 *		Whether rows are being restored (restoring.c).
 */
#ifndef TROVELLA_RESTORING_H
#define TROVELLA_RESTORING_H

#include "postgres.h"

/*
 * True only while import_tenant inserts the rows of an export: trovella's
 * row triggers (standard columns, soft delete, audit) then leave each
 * inserted row as the export holds it and write no audit record.  No SQL
 * sets it.
 */
extern bool trovella_restoring_rows;

#endif							/* TROVELLA_RESTORING_H */
