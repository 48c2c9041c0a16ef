/*
 * import_manifest.h
 *		An export, checked before import_tenant (import.c) writes anything:
 *		its manifest, and an audit history it cannot restore
 *		(import_manifest.c).
 */
#ifndef TROVELLA_IMPORT_MANIFEST_H
#define TROVELLA_IMPORT_MANIFEST_H

#include "postgres.h"

#include "common/cryptohash.h"
#include "nodes/pg_list.h"

#include "export.h"			/* ExportTable */

/* One table of the manifest. */
typedef struct ImportTable
{
	char	   *name;
	int64		rows;			/* the manifest's count */
	char	   *sha256;			/* the manifest's checksum */
	int64		seen;
	pg_cryptohash_ctx *hash;
	ExportTable *target;
	bool		done;			/* inserted (the foreign-key order) */
} ImportTable;

/*
 * The manifest of the export in source (a table, quoted and qualified):
 * its tenant, its total count and checksum, and its tables (ImportTable),
 * in an SPI connection.  22P04 when there is no manifest, or more than
 * one, or one of another format, or any of its values is missing or not
 * what the format says.
 */
extern List *trovella_import_read_manifest(const char *source, Datum *tenant,
										   int64 *rows, char **sha256);

/* 0A000 for an audit history made on Citus (a record number with a group). */
extern void trovella_import_refuse_citus_history(const char *source);

#endif							/* TROVELLA_IMPORT_MANIFEST_H */
