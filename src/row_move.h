/*
 * row_move.h
 *		Whether trovella's row triggers fire for a row that an UPDATE moves
 *		to another partition (row_move.c).
 */
#ifndef TROVELLA_ROW_MOVE_H
#define TROVELLA_ROW_MOVE_H

#include "postgres.h"

#include "access/htup.h"
#include "utils/relcache.h"

/* BEFORE UPDATE: notes the row when its new version leaves the partition. */
extern void trovella_row_move_update(Relation rel, HeapTuple old_row, HeapTuple new_row);

/* BEFORE DELETE: whether it is the delete of a row an UPDATE moves. */
extern bool trovella_row_move_delete(Relation rel, HeapTuple old_row);

/* BEFORE INSERT: whether it is the insert of a row an UPDATE moves. */
extern bool trovella_row_move_insert(Relation rel, HeapTuple new_row);

#endif							/* TROVELLA_ROW_MOVE_H */
