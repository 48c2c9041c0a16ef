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

/*
 * The first well-formed token in text[0..len), or NULL.  A token may stand
 * anywhere, glued to other characters (a log line quotes it, a URL embeds
 * it); what makes it one is the prefix, 36 base62 characters and a
 * checksum that matches, which random text passes once in 2^32.
 */
const char *
pat_find(const char *text, size_t len)
{
	const char *end = text + len;
	const char *at = text;

	while (end - at >= PAT_TOKEN_LEN)
	{
		at = memchr(at, PAT_PREFIX[0], end - at - PAT_TOKEN_LEN + 1);
		if (at == NULL)
			return NULL;
		if (pat_is_well_formed(at, PAT_TOKEN_LEN))
			return at;
		at++;
	}
	return NULL;
}

/*
 * Where a run starting at text[at], which holds the prefix, ends: the first
 * character after the prefix that is not base62 (or len).
 */
static size_t
run_end(const char *text, size_t len, size_t at)
{
	size_t		end = at + PAT_PREFIX_LEN;

	while (end < len && is_base62(text[end]))
		end++;
	return end;
}

/* The first prefix at or after text[from], as an offset, or len. */
static size_t
next_prefix(const char *text, size_t len, size_t from)
{
	const char *at;

	while (from + PAT_PREFIX_LEN <= len)
	{
		at = memchr(text + from, PAT_PREFIX[0], len - from - PAT_PREFIX_LEN + 1);
		if (at == NULL)
			return len;
		if (memcmp(at, PAT_PREFIX, PAT_PREFIX_LEN) == 0)
			return at - text;
		from = at - text + 1;
	}
	return len;
}

/*
 * The first thing in text[0..len) that looks like a token, or NULL: the
 * prefix and a run of base62 characters longer than the hint, whole or cut
 * short, its checksum right or wrong.  This is what pat_redact masks.
 */
const char *
pat_find_like(const char *text, size_t len)
{
	size_t		at = 0;

	while ((at = next_prefix(text, len, at)) < len)
	{
		if (run_end(text, len, at) - at > PAT_HINT_LEN)
			return text + at;
		at++;
	}
	return NULL;
}

/*
 * Masks, in place, everything in text[0..len) that looks like a token (the
 * prefix and a run of base62 characters, of any length, valid or not: a
 * token mistyped or cut short by whatever quoted it can be completed from
 * what is left, the checksum being public).  The first PAT_HINT_LEN
 * characters (the hint pat_list() shows) stay, '*' replaces the rest of the
 * run.  The length does not change.  Returns how many were masked.
 *
 * A run ends at a character outside the alphabet; a prefix can begin inside
 * a run only as its last three characters followed by '_' ("..abtrv_xy"):
 * that next token is taken from there, its prefix known before the mask
 * covers it.
 */
int
pat_redact(char *text, size_t len)
{
	size_t		at = 0;
	bool		prefix_known = false;
	int			masked = 0;

	for (;;)
	{
		size_t		end;
		size_t		next;

		if (!prefix_known && (at = next_prefix(text, len, at)) >= len)
			break;
		end = run_end(text, len, at);
		next = end;
		prefix_known = false;
		if (end < len && text[end] == PAT_PREFIX[PAT_PREFIX_LEN - 1] &&
			end - (PAT_PREFIX_LEN - 1) >= at + PAT_PREFIX_LEN &&
			memcmp(text + end - (PAT_PREFIX_LEN - 1), PAT_PREFIX, PAT_PREFIX_LEN - 1) == 0)
		{
			next = end - (PAT_PREFIX_LEN - 1);
			prefix_known = true;
		}
		if (end - at > PAT_HINT_LEN)
		{
			memset(text + at + PAT_HINT_LEN, '*', end - at - PAT_HINT_LEN);
			masked++;
		}
		at = next;
	}
	return masked;
}

/*
 * Masks, in place, tokens written as lists of byte values: the node trees
 * that debug_print_parse, _rewritten and _plan log (any role may turn them
 * on) print a constant as "[ 40 0 0 0 116 114 118 95 ... ]", each byte a
 * signed decimal.  The same run as pat_redact's, read from the bytes: the
 * digits of every byte past the hint become '*'.  Any character but a
 * number or white space ends a list.  Returns how many were masked.
 */
int
pat_redact_bytes(char *text, size_t len)
{
	size_t		i = 0;
	int			matched = 0;	/* bytes of the prefix seen, up to its length */
	size_t		run = 0;		/* base62 bytes after a whole prefix */
	uint32		recent = 0;		/* the last three bytes, newest lowest */
	int			masked = 0;

	while (i < len)
	{
		size_t		start = i;
		long		value = 0;
		unsigned char byte;

		if (text[i] == ' ' || text[i] == '\n' || text[i] == '\t' || text[i] == '\r')
		{
			i++;
			continue;
		}
		if (text[i] == '-')
			i++;
		while (i < len && i - start < 5 && text[i] >= '0' && text[i] <= '9')
			value = value * 10 + (text[i++] - '0');
		if (i == start || text[i - 1] == '-' || value > 255 ||
			(i < len && text[i] != ' ' && text[i] != '\n' && text[i] != '\t' && text[i] != '\r'))
		{
			/* not a byte of a list: the list, if any, ends here */
			matched = 0;
			run = 0;
			recent = 0;
			if (i == start)
				i++;
			continue;
		}
		byte = (unsigned char) (text[start] == '-' ? -value : value);
		if (matched == PAT_PREFIX_LEN && is_base62((char) byte))
		{
			if (PAT_PREFIX_LEN + ++run > PAT_HINT_LEN)
			{
				memset(text + start, '*', i - start);
				if (PAT_PREFIX_LEN + run == PAT_HINT_LEN + 1)
					masked++;
			}
		}
		else if (matched == PAT_PREFIX_LEN && byte == (unsigned char) PAT_PREFIX[PAT_PREFIX_LEN - 1] &&
				 run >= PAT_PREFIX_LEN - 1 &&
				 recent == (((uint32) (unsigned char) PAT_PREFIX[0] << 16) |
							((uint32) (unsigned char) PAT_PREFIX[1] << 8) |
							(unsigned char) PAT_PREFIX[2]))
		{
			/* "...trv_": a prefix ends the run and begins the next one */
			run = 0;
		}
		else if (matched < PAT_PREFIX_LEN && byte == (unsigned char) PAT_PREFIX[matched])
			matched++;
		else
		{
			matched = byte == (unsigned char) PAT_PREFIX[0] ? 1 : 0;
			run = 0;
		}
		recent = ((recent << 8) | byte) & 0xFFFFFF;
	}
	return masked;
}
