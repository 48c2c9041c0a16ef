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
