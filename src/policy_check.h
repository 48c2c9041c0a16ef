/*
 * policy_check.h
 *		Whether a table's tenant isolation is intact, read from the catalog
 *		(policy_check.c).
 */
#ifndef TROVELLA_POLICY_CHECK_H
#define TROVELLA_POLICY_CHECK_H

#include "postgres.h"

#include "utils/array.h"

/*
 * What a run of checks learned once for all: the forms of the tenant check
 * of the last column seen, and the expressions already found to print as
 * one of them (with the name of the column they read).  Zeroed by the
 * caller; lives in its memory.
 */
typedef struct PolicyCheckCache
{
	NameData	column;
	ArrayType  *forms;
	List	   *checks;
} PolicyCheckCache;

extern bool trovella_certainly_isolated(Oid relid, PolicyCheckCache *cache);

#endif							/* TROVELLA_POLICY_CHECK_H */
