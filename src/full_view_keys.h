/*
 * full_view_keys.h
 *		Foreign keys that ALTER TABLE would check from one tenant's view
 *		(full_view_keys.c), for full_view.c.
 */
#ifndef TROVELLA_FULL_VIEW_KEYS_H
#define TROVELLA_FULL_VIEW_KEYS_H

#include "postgres.h"

#include "nodes/parsenodes.h"

extern List *trovella_full_view_judge_alter(AlterTableStmt *stmt);
extern void trovella_full_view_mark_keys_valid(AlterTableStmt *stmt, List *positions);

#endif							/* TROVELLA_FULL_VIEW_KEYS_H */
