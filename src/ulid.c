/*
 * ulid.c
 *		ULID codec and monotonic generator (pure C, no backend calls).
 *
 * Byte-for-byte compatible with the npm package "ulid": the text form is
 * Crockford base32 of the 128-bit big-endian value, uppercase on output,
 * any case on input, and I, L, O and U are not accepted.
 */
#include "ulid.h"

#include <string.h>

static const char crockford_alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/*
 * Value of each byte as a Crockford base32 digit, or -1.  Built from the
 * alphabet so that the two can never disagree.
 */
static int8_t crockford_value[256];
static bool crockford_value_ready = false;

static void
build_crockford_value(void)
{
	int			i;

	memset(crockford_value, -1, sizeof(crockford_value));
	for (i = 0; i < 32; i++)
	{
		unsigned char c = (unsigned char) crockford_alphabet[i];

		crockford_value[c] = (int8_t) i;
		if (c >= 'A' && c <= 'Z')
			crockford_value[c - 'A' + 'a'] = (int8_t) i;
	}
	crockford_value_ready = true;
}

/*
 * Encode 16 bytes as 26 base32 characters.  130 bits of text hold 128 bits
 * of value, so the first character carries only 3 bits (0-7).
 */
void
ulid_encode(const uint8_t ulid_bytes[ULID_BYTES], char text[ULID_TEXT_LEN])
{
	int			bit = 128 + 2;	/* bits still to emit, counting the 2 pad bits */
	int			i;

	for (i = 0; i < ULID_TEXT_LEN; i++)
	{
		int			value = 0;
		int			b;

		/* gather the 5 bits [bit-5, bit) of the value, most significant first */
		for (b = 0; b < 5; b++)
		{
			int			pos = bit - 1 - b;	/* bit index from the least significant */

			value <<= 1;
			if (pos < 128)
			{
				int			byte = 15 - pos / 8;

				value |= (ulid_bytes[byte] >> (pos % 8)) & 1;
			}
		}
		text[i] = crockford_alphabet[value];
		bit -= 5;
	}
}

/* Decode 26 base32 characters into 16 bytes. */
UlidDecodeResult
ulid_decode(const char *text, size_t len, uint8_t ulid_bytes[ULID_BYTES])
{
	uint8_t		out[ULID_BYTES];
	size_t		i;

	if (len != ULID_TEXT_LEN)
		return ULID_BAD_LENGTH;
	if (!crockford_value_ready)
		build_crockford_value();

	for (i = 0; i < ULID_TEXT_LEN; i++)
		if (crockford_value[(unsigned char) text[i]] < 0)
			return ULID_BAD_CHARACTER;
	if (crockford_value[(unsigned char) text[0]] > 7)
		return ULID_OVERFLOW;

	memset(out, 0, sizeof(out));
	for (i = 0; i < ULID_TEXT_LEN; i++)
	{
		int			value = crockford_value[(unsigned char) text[i]];
		int			bit = 128 + 2 - 5 * (int) i;	/* one past this digit's top bit */
		int			b;

		for (b = 0; b < 5; b++)
		{
			int			pos = bit - 1 - b;

			if (pos < 128 && ((value >> (4 - b)) & 1))
				out[15 - pos / 8] |= (uint8_t) (1 << (pos % 8));
		}
	}
	memcpy(ulid_bytes, out, ULID_BYTES);
	return ULID_OK;
}

/* Store a 48-bit millisecond timestamp in the first 6 bytes, big-endian. */
void
ulid_set_time(uint8_t ulid_bytes[ULID_BYTES], uint64_t unix_ms)
{
	int			i;

	for (i = ULID_TIME_BYTES - 1; i >= 0; i--)
	{
		ulid_bytes[i] = (uint8_t) (unix_ms & 0xFF);
		unix_ms >>= 8;
	}
}

/* The 48-bit millisecond timestamp of the first 6 bytes. */
uint64_t
ulid_get_time(const uint8_t ulid_bytes[ULID_BYTES])
{
	uint64_t	unix_ms = 0;
	int			i;

	for (i = 0; i < ULID_TIME_BYTES; i++)
		unix_ms = (unix_ms << 8) | ulid_bytes[i];
	return unix_ms;
}

/*
 * Add step to the 80-bit random part.  Returns false, leaving the random
 * part as the sum modulo 2^80, when it overflows.
 */
bool
ulid_add_to_random(uint8_t ulid_bytes[ULID_BYTES], uint64_t step)
{
	uint64_t	carry = step;
	int			i;

	for (i = ULID_BYTES - 1; i >= ULID_TIME_BYTES && carry != 0; i--)
	{
		uint64_t	sum = ulid_bytes[i] + (carry & 0xFF);

		ulid_bytes[i] = (uint8_t) sum;
		carry = (carry >> 8) + (sum >> 8);
	}
	return carry == 0;
}

/*
 * Next id of a monotonic sequence.  A later millisecond gets fresh random
 * bits.  The same millisecond, or a clock that went backwards, keeps the
 * last timestamp and adds a random step of 2 to 2^32 + 1 to the random
 * part: strictly increasing, like npm ulid's monotonicFactory, but with 2^32
 * equally likely successors, so that no id tells the next one (a pooled
 * backend serves many tenants).  An overflowing random part moves on to the
 * next millisecond.  Returns false only when the timestamp would leave the
 * 48-bit range.
 */
bool
ulid_generate(UlidGenerator *gen, uint64_t now_ms, UlidRandomFn random_fn,
			  uint8_t ulid_bytes[ULID_BYTES])
{
	uint64_t	unix_ms = now_ms;

	if (gen->has_last && now_ms <= gen->last_ms)
	{
		uint8_t		step_bytes[4];
		uint64_t	step;

		random_fn(step_bytes, sizeof(step_bytes));
		step = 2 + ((uint64_t) step_bytes[0] << 24 | (uint64_t) step_bytes[1] << 16 |
					(uint64_t) step_bytes[2] << 8 | step_bytes[3]);
		if (ulid_add_to_random(gen->last, step))
		{
			memcpy(ulid_bytes, gen->last, ULID_BYTES);
			return true;
		}
		unix_ms = gen->last_ms + 1;
	}
	if (unix_ms > ULID_TIME_MAX)
		return false;

	ulid_set_time(gen->last, unix_ms);
	random_fn(gen->last + ULID_TIME_BYTES, ULID_RANDOM_BYTES);
	gen->last_ms = unix_ms;
	gen->has_last = true;
	memcpy(ulid_bytes, gen->last, ULID_BYTES);
	return true;
}
