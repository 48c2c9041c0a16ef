/*
 * audit_chain.h
 *		The digests of the audit history's hash chain, and the number up to
 *		which this node's records are final (audit_chain.c).
 */
#ifndef TROVELLA_AUDIT_CHAIN_H
#define TROVELLA_AUDIT_CHAIN_H

#include "postgres.h"

#include "common/cryptohash.h"

/* A seal's digest, after the previous seal's (NULL: the first). */
extern pg_cryptohash_ctx *trovella_audit_digest_begin(const bytea *previous);
extern void trovella_audit_digest_update(pg_cryptohash_ctx *ctx, const void *data, size_t len);

/* Its end: each upto it covers (ascending), 8 bytes each, then its records. */
extern bytea *trovella_audit_digest_end(pg_cryptohash_ctx *ctx, const int64 *uptos, int nuptos,
										int64 records);

/*
 * The last number this node's trovella.audit_seq gave (without the group),
 * once every transaction holding the sequence's lock has ended.
 */
extern int64 trovella_audit_final_number(void);

extern char *trovella_audit_hex(const bytea *value);

#endif							/* TROVELLA_AUDIT_CHAIN_H */
