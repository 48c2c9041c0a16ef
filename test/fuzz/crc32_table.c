/*
 * The fuzzers run outside the server, and the frontend libpgcommon does not
 * carry PostgreSQL's CRC-32 table, so this builds the same table (the
 * reflected polynomial 0xEDB88320, zlib's) at compile time.  The regression
 * suite checks the checksum vector against the server's own table.
 */
#include "c.h"

#include "utils/pg_crc.h"

#define STEP(c)		(((c) & 1) ? (0xEDB88320u ^ ((c) >> 1)) : ((c) >> 1))
#define ENTRY(n)	STEP(STEP(STEP(STEP(STEP(STEP(STEP(STEP((uint32) (n)))))))))
#define ROW4(n)		ENTRY(n), ENTRY((n) + 1), ENTRY((n) + 2), ENTRY((n) + 3)
#define ROW16(n)	ROW4(n), ROW4((n) + 4), ROW4((n) + 8), ROW4((n) + 12)
#define ROW64(n)	ROW16(n), ROW16((n) + 16), ROW16((n) + 32), ROW16((n) + 48)

const uint32 pg_crc32_table[256] = {
	ROW64(0), ROW64(64), ROW64(128), ROW64(192)
};
