/*
 * ulid.h
 *		ULID codec and monotonic generator: a pure core, bytes in, bytes out.
 *
 * A ULID is 128 bits: 48 bits of big-endian Unix milliseconds, then 80
 * random bits.  Its text form is 26 characters of Crockford base32.  This
 * file includes no backend header, so tests and fuzzers can use it alone.
 */
#ifndef TROVELLA_ULID_H
#define TROVELLA_ULID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ULID_BYTES			16
#define ULID_TIME_BYTES		6
#define ULID_RANDOM_BYTES	10
#define ULID_TEXT_LEN		26
#define ULID_TIME_MAX		((UINT64_C(1) << 48) - 1)

/* Why ulid_decode refused a text. */
typedef enum UlidDecodeResult
{
	ULID_OK = 0,
	ULID_BAD_LENGTH,
	ULID_BAD_CHARACTER,
	ULID_OVERFLOW				/* first character above '7' */
} UlidDecodeResult;

/* What the monotonic generator remembers between calls. */
typedef struct UlidGenerator
{
	bool		has_last;
	uint64_t	last_ms;
	uint8_t		last[ULID_BYTES];
} UlidGenerator;

/* Supplies random bytes to the generator. */
typedef void (*UlidRandomFn) (uint8_t *buf, size_t len);

extern void ulid_encode(const uint8_t ulid_bytes[ULID_BYTES],
						char text[ULID_TEXT_LEN]);
extern UlidDecodeResult ulid_decode(const char *text, size_t len,
									uint8_t ulid_bytes[ULID_BYTES]);
extern void ulid_set_time(uint8_t ulid_bytes[ULID_BYTES], uint64_t unix_ms);
extern uint64_t ulid_get_time(const uint8_t ulid_bytes[ULID_BYTES]);
extern bool ulid_add_to_random(uint8_t ulid_bytes[ULID_BYTES], uint64_t step);
extern bool ulid_generate(UlidGenerator *gen, uint64_t now_ms,
						  UlidRandomFn random_fn,
						  uint8_t ulid_bytes[ULID_BYTES]);

#endif							/* TROVELLA_ULID_H */
