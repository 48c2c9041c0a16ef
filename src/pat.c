/*
 * pat.c
 *		Personal access token format (pure C, no backend calls).
 *
 * The checksum is CRC-32 as zlib computes it, which is PostgreSQL's
 * "traditional" CRC-32, written in base62, most significant digit first,
 * left-padded with '0' to 6 characters (62^6 > 2^32).
 */
#include "c.h"

#include "utils/pg_crc.h"

#include "pat.h"

static const char base62_alphabet[] =
"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static bool
is_base62(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* The 6-character checksum of a token's random part. */
void
pat_checksum(const char random_part[PAT_RANDOM_LEN], char checksum[PAT_CHECKSUM_LEN])
{
	pg_crc32	crc;
	int			i;

	INIT_TRADITIONAL_CRC32(crc);
	COMP_TRADITIONAL_CRC32(crc, random_part, PAT_RANDOM_LEN);
	FIN_TRADITIONAL_CRC32(crc);

	for (i = PAT_CHECKSUM_LEN - 1; i >= 0; i--)
	{
		checksum[i] = base62_alphabet[crc % 62];
		crc /= 62;
	}
}

/* Prefix, length, alphabet and checksum; no table, no secret compared. */
bool
pat_is_well_formed(const char *token, size_t len)
{
	char		expected[PAT_CHECKSUM_LEN];
	size_t		i;

	if (len != PAT_TOKEN_LEN || memcmp(token, PAT_PREFIX, PAT_PREFIX_LEN) != 0)
		return false;
	for (i = PAT_PREFIX_LEN; i < PAT_TOKEN_LEN; i++)
		if (!is_base62(token[i]))
			return false;
	pat_checksum(token + PAT_PREFIX_LEN, expected);
	return memcmp(expected, token + PAT_PREFIX_LEN + PAT_RANDOM_LEN, PAT_CHECKSUM_LEN) == 0;
}

/*
 * Turn random bytes into up to nchars base62 characters by rejection
 * sampling: bytes of PAT_BYTE_LIMIT or more are skipped, the rest taken mod
 * 62, so every character is equally likely.  Returns how many characters
 * were written; the caller supplies more bytes for the rest.
 */
size_t
pat_random_chars(const uint8 *bytes, size_t nbytes, char *out, size_t nchars)
{
	size_t		written = 0;
	size_t		i;

	for (i = 0; i < nbytes && written < nchars; i++)
	{
		if (bytes[i] < PAT_BYTE_LIMIT)
			out[written++] = base62_alphabet[bytes[i] % 62];
	}
	return written;
}

/* The whole token for a random part: prefix, random part, checksum. */
void
pat_format(const char random_part[PAT_RANDOM_LEN], char token[PAT_TOKEN_LEN])
{
	memcpy(token, PAT_PREFIX, PAT_PREFIX_LEN);
	memcpy(token + PAT_PREFIX_LEN, random_part, PAT_RANDOM_LEN);
	pat_checksum(random_part, token + PAT_PREFIX_LEN + PAT_RANDOM_LEN);
}
