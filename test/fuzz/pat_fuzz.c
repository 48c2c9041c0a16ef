/*
 * libFuzzer target for the token core: checking arbitrary input never reads
 * out of bounds; an accepted token is exactly what pat_format makes of its
 * random part; rejection sampling yields only base62 and the tokens it
 * makes are well formed.
 */
#include "c.h"

#include "pat.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
		/* one changed character is caught by length, alphabet or checksum */
		token[PAT_PREFIX_LEN + data[0] % (PAT_RANDOM_LEN + PAT_CHECKSUM_LEN)] ^= 0x01;
		if (pat_is_well_formed(token, PAT_TOKEN_LEN))
			abort();
	}
	return 0;
}
