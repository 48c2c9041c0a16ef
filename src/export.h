/*
 * export.h
 *		What export_tenant (export.c) shares with import_tenant (import.c):
 *		the checksums of the format, the tables' names, the refusal of a
 *		caller that row-level security binds.
 */
#ifndef TROVELLA_EXPORT_H
#define TROVELLA_EXPORT_H

#include "postgres.h"

#include "common/cryptohash.h"
#include "common/sha2.h"

#include "nodes/pg_list.h"

/* A table of the format: what is read of it, and its name in the export. */
typedef struct ExportTable
{
	Oid			relid;
	char	   *name;			/* schema-qualified, quoted where needed */
	char	   *column;			/* the tenant column */
	bool		partitioned;	/* read with its partitions (else ONLY) */
	const char *order_by;		/* a column, or NULL for the scan's order */
} ExportTable;

/*
 * The tables trovella isolates, by name, each tree of partitions once (in
 * an SPI connection); and trovella.audit_history or audit_seal.
 */
extern List *trovella_export_tables(void);
extern ExportTable *trovella_export_audit_table(const char *table, const char *order_by);

/* SHA-256, begun, fed, and ended as lowercase hex (freeing ctx). */
extern pg_cryptohash_ctx *trovella_sha256_begin(void);
extern void trovella_sha256_add(pg_cryptohash_ctx *ctx, const char *data, size_t len);
extern void trovella_sha256_hex(pg_cryptohash_ctx *ctx,
								char hex[PG_SHA256_DIGEST_LENGTH * 2 + 1]);

/* A table's name in the format: schema-qualified, quoted where needed. */
extern char *trovella_export_table_name(Oid relid);

/* 42501 when row-level security binds the current role on the table. */
extern void trovella_refuse_rls_bound(Oid relid, const char *function_name);

#endif							/* TROVELLA_EXPORT_H */
