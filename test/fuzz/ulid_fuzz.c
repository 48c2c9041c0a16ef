/*
 * libFuzzer target for the ULID core: decoding arbitrary text never reads
 * out of bounds, and whatever it accepts re-encodes to the same value, in
 * uppercase; any 16 bytes survive encode + decode; the generator is
 * strictly increasing whatever the clock does.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ulid.h"

static const uint8_t *fuzz_random;
static size_t fuzz_random_len;

/* The generator's randomness, taken from the fuzzer's input. */
static void
input_random(uint8_t *buf, size_t len)
{
	size_t		i;

	for (i = 0; i < len; i++)
		buf[i] = fuzz_random_len ? fuzz_random[i % fuzz_random_len] : 0xFF;
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t		bytes[ULID_BYTES];
	uint8_t		again[ULID_BYTES];
	uint8_t		prev[ULID_BYTES];
	char		text[ULID_TEXT_LEN];
	UlidGenerator gen = {0};
	size_t		i;

	if (ulid_decode((const char *) data, size, bytes) == ULID_OK)
	{
		ulid_encode(bytes, text);
		for (i = 0; i < ULID_TEXT_LEN; i++)
			if (text[i] != toupper(data[i]))
				abort();
	}

	if (size >= ULID_BYTES)
	{
		ulid_encode(data, text);
		if (ulid_decode(text, ULID_TEXT_LEN, again) != ULID_OK ||
			memcmp(again, data, ULID_BYTES) != 0)
			abort();
	}

	/* timestamps from the input, possibly going backwards */
	fuzz_random = data;
	fuzz_random_len = size;
	for (i = 0; i + 2 <= size && i < 64; i += 2)
	{
		uint64_t	now_ms = ((uint64_t) data[i] << 8 | data[i + 1]) * 1000;

		if (!ulid_generate(&gen, now_ms, input_random, bytes))
			abort();
		if (i > 0 && memcmp(prev, bytes, ULID_BYTES) >= 0)
			abort();
		memcpy(prev, bytes, ULID_BYTES);
	}
	return 0;
}
