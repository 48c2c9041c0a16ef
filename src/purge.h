/*
 * purge.h
 *		trovella.purge_tenant (purge.c): what it deletes, in which order,
 *		shared with its last transaction (purge_finish.c).
 */
#ifndef TROVELLA_PURGE_H
#define TROVELLA_PURGE_H

#include "postgres.h"

#include "nodes/pg_list.h"
#include "utils/uuid.h"

/* A table the purge deletes the tenant's rows from. */
typedef struct PurgeTable
{
	Oid			relid;
	char	   *name;			/* schema-qualified, quoted: for statements */
	char	   *label;			/* regclass text: for the receipt, NOTICEs */
	char	   *column;			/* the tenant column, quoted */
	char	   *column_name;	/* the tenant column, unquoted */
	char	   *key;			/* its primary key's columns, quoted, or NULL */
	bool		citus;			/* a Citus table: batches by key, not ctid */
	int64		before;			/* the tenant's rows when the purge began */
} PurgeTable;

typedef struct PurgeState
{
	pg_uuid_t	tenant;
	Datum		tenant_datum;
	Oid			owner;			/* the extension's owner: trovella's tables */
	List	   *tables;			/* PurgeTable *, referencing before referenced */
	List	   *columns;		/* the tenant columns' names (char *) */
} PurgeState;

extern void PurgeInit(void);

/*
 * The last transaction: the tenant's tokens and audit history, the
 * verification, the suspension and statistics, the receipt (its text).
 */
extern char *trovella_purge_finish(PurgeState *state);

/* The purge's counts without parallel workers: begin returns the level. */

/* 42501 when row-level security binds the caller on the table. */
extern void trovella_purge_require_full_view(Oid relid, const char *label);

#endif							/* TROVELLA_PURGE_H */
