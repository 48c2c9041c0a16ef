/*
 * restoring.h
 *		Whether a row is one import_tenant restores (restoring.c).
 */
#ifndef TROVELLA_RESTORING_H
#define TROVELLA_RESTORING_H

#include "postgres.h"

#include "access/htup.h"
#include "utils/relcache.h"

/*
 * import_tenant, around the INSERT of one table's rows: the table (the
 * root of its tree), its tenant column and the export's tenant.  No SQL
 * reaches these.
 */
extern void trovella_restoring_begin(Oid relid, const char *column, Datum tenant);
extern void trovella_restoring_end(void);

/*
 * Whether the row an INSERT trigger sees is one of the export's: inserted
 * into that table (or a partition of it) and of that tenant.  trovella's
 * row triggers (standard columns, soft delete, audit) then leave it as the
 * export holds it and write no audit record.  Any other INSERT meanwhile
 * (an application's trigger writing another table, or another tenant's
 * row) is treated as always.
 */
extern bool trovella_restoring_row(Relation rel, HeapTuple tuple);

#endif							/* TROVELLA_RESTORING_H */
