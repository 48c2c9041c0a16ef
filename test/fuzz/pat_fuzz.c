/*
 * libFuzzer target for the token core: checking arbitrary input never reads
 * out of bounds; an accepted token is exactly what pat_format makes of its
 * random part; rejection sampling yields only base62 and the tokens it
 * makes are well formed; redaction leaves nothing that looks like a token
 * (the prefix and more base62 characters than the hint) behind,
 * changes nothing but '*' over tokens (keeping each hint), and finds a token
 * planted anywhere in the input.
 */
#include "c.h"

#include "pat.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* pat_redact on a copy of text: the invariants above; returns the count. */
static int
check_redact(const char *text, size_t size)
{
	char	   *copy = malloc(size + 1);
	int			masked;
	size_t		i;

	memcpy(copy, text, size);
	masked = pat_redact(copy, size);
	if (pat_find(copy, size) != NULL || pat_find_like(copy, size) != NULL)
		abort();
	for (i = 0; i < size; i++)
		if (copy[i] != text[i] && copy[i] != '*')
			abort();
	if (masked == 0 && memcmp(copy, text, size) != 0)
		abort();
	/* masking again finds nothing more */
	if (pat_redact(copy, size) != 0)
		abort();
	/* tokens as lists of byte values: only '*' over digits, once */
	memcpy(copy, text, size);
	pat_redact_bytes(copy, size);
	for (i = 0; i < size; i++)
		if (copy[i] != text[i] && (copy[i] != '*' || !(text[i] == '-' || (text[i] >= '0' && text[i] <= '9'))))
			abort();
	if (pat_redact_bytes(copy, size) != 0)
		abort();
	free(copy);
	return masked;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		token[PAT_TOKEN_LEN];
	char		random_part[PAT_RANDOM_LEN];
	size_t		made;
	size_t		i;

	if (pat_is_well_formed((const char *) data, size))
	{
		pat_format((const char *) data + PAT_PREFIX_LEN, token);
		if (memcmp(token, data, PAT_TOKEN_LEN) != 0)
			abort();
	}

	check_redact((const char *) data, size);

	made = pat_random_chars(data, size, random_part, PAT_RANDOM_LEN);
	if (made > PAT_RANDOM_LEN || made > size)
		abort();
	for (i = 0; i < made; i++)
		if (!((random_part[i] >= '0' && random_part[i] <= '9') ||
			  (random_part[i] >= 'A' && random_part[i] <= 'Z') ||
			  (random_part[i] >= 'a' && random_part[i] <= 'z')))
			abort();
	if (made == PAT_RANDOM_LEN)
	{
		pat_format(random_part, token);
		if (!pat_is_well_formed(token, PAT_TOKEN_LEN))
			abort();
		/* planted anywhere in the input, it is found and masked */
		{
			size_t		at = size > 0 ? data[size - 1] % (size + 1) : 0;
			char	   *planted = malloc(size + PAT_TOKEN_LEN);

			memcpy(planted, data, at);
			memcpy(planted + at, token, PAT_TOKEN_LEN);
			memcpy(planted + at + PAT_TOKEN_LEN, data + at, size - at);
			if (check_redact(planted, size + PAT_TOKEN_LEN) < 1)
				abort();
			free(planted);
		}
		/* one changed character is caught by length, alphabet or checksum */
		token[PAT_PREFIX_LEN + data[0] % (PAT_RANDOM_LEN + PAT_CHECKSUM_LEN)] ^= 0x01;
		if (pat_is_well_formed(token, PAT_TOKEN_LEN))
			abort();
	}
	return 0;
}
