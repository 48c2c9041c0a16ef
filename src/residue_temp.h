/*
 * residue_temp.h
 *		Which temporary tables lose every row at commit, and what a tenant's
 *		transaction may not derive from them (residue_temp.c).  The isolation
 *		guard reports the tables it sees created; hooks.c the ones dropped;
 *		residue.c asks the rest.
 */
#ifndef TROVELLA_RESIDUE_TEMP_H
#define TROVELLA_RESIDUE_TEMP_H

#include "postgres.h"

#include "access/xact.h"
#include "nodes/nodes.h"

/* A table created ON COMMIT DROP or DELETE ROWS keeps nothing: remember it. */
extern void trovella_note_created_table(Node *parsetree);
extern void trovella_residue_relation_dropped(Oid relid);

/* Whether the rows of relid itself are gone at commit (not its children's). */
extern bool trovella_temp_rows_gone(Oid relid);

/*
 * Refuse (25000) a statement that would derive data from a temporary table
 * that outlives the transaction: ANALYZE, an index built.  The caller knows
 * the transaction has a tenant context.
 */
extern void trovella_refuse_derived(Node *stmt);

/* At a transaction's or subtransaction's end (residue.c). */
extern void trovella_residue_temp_xact(XactEvent event);
extern void trovella_residue_temp_subxact_abort(SubTransactionId mySubid);

#endif							/* TROVELLA_RESIDUE_TEMP_H */
