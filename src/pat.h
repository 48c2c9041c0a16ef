/*
 * pat.h
 *		Personal access token format: a pure core, bytes in, bytes out.
 *
 * A token is "trv_" + 30 random base62 characters + a 6-character base62
 * CRC-32 of the random part, 40 characters in all (GitHub's layout), so a
 * mistyped or truncated token is rejected without a table lookup and secret
 * scanners can recognise it.
 */
#ifndef TROVELLA_PAT_H
#define TROVELLA_PAT_H

#include "c.h"

#define PAT_PREFIX			"trv_"
#define PAT_PREFIX_LEN		4
#define PAT_RANDOM_LEN		30
#define PAT_CHECKSUM_LEN	6
#define PAT_TOKEN_LEN		(PAT_PREFIX_LEN + PAT_RANDOM_LEN + PAT_CHECKSUM_LEN)
#define PAT_HINT_LEN		8

/* Largest byte value rejection sampling keeps: 248 = 4 * 62. */
#define PAT_BYTE_LIMIT		248

extern void pat_checksum(const char random_part[PAT_RANDOM_LEN],
						 char checksum[PAT_CHECKSUM_LEN]);
extern bool pat_is_well_formed(const char *token, size_t len);
extern size_t pat_random_chars(const uint8 *bytes, size_t nbytes,
							   char *out, size_t nchars);
extern void pat_format(const char random_part[PAT_RANDOM_LEN],
					   char token[PAT_TOKEN_LEN]);
extern const char *pat_find(const char *text, size_t len);
extern const char *pat_find_like(const char *text, size_t len);
extern int	pat_redact(char *text, size_t len);
extern int	pat_redact_bytes(char *text, size_t len);

#endif							/* TROVELLA_PAT_H */
