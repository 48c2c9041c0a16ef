/*
 * token_scan.h
 *		Looking up personal access tokens (token_scan.c).
 */
#ifndef TROVELLA_TOKEN_SCAN_H
#define TROVELLA_TOKEN_SCAN_H

#include "postgres.h"

#include "access/xact.h"
#include "common/sha2.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "utils/uuid.h"

/* What the caller of a lookup needs of the token found. */
typedef struct TokenMatch
{
	pg_uuid_t	token_id;
	pg_uuid_t	user_id;
	bool		bound;			/* to a tenant: tenant_id */
	pg_uuid_t	tenant_id;
	TimestampTz last_used_at;
	bool		last_used_null;
} TokenMatch;

/* SHA-256 of a token: what the table stores. */
extern void trovella_token_hash(const char *token, size_t len,
								uint8 digest[PG_SHA256_DIGEST_LENGTH]);

/*
 * Find a well-formed token; when it is valid, put its row into the
 * materialized result of fcinfo and fill *match.
 */
extern bool trovella_token_lookup(FunctionCallInfo fcinfo, text *token, TokenMatch *match);

/* Fail (55000) where this node keeps no tokens (a Citus worker). */
extern void trovella_token_table_here(void);

/* Handlers that hooks.c calls. */
extern void trovella_token_relcache(Oid relid);
extern void trovella_token_scans_xact(XactEvent event);
extern void trovella_token_scans_subxact(SubXactEvent event);

#endif							/* TROVELLA_TOKEN_SCAN_H */
