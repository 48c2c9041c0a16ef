/*
 * stats_file_fuzz.c
 *		libFuzzer target for the statistics file's check (stats_file.c),
 *		which the postmaster runs on a file it did not necessarily write.
 *
 * Two properties.  Any bytes: the check never crashes, and a file it
 * accepts has only records that keep the table's invariants.  The same
 * bytes as the records of a file with a right header and checksum, so that
 * the fuzzer reaches the per-record checks past the CRC: the same.
 */
#include "c.h"

#include <stdlib.h>

#include "stats_file.h"

#define MAX_COUNT 64

/* What every loaded record must satisfy (abort() is the fuzzer's finding). */
static void
require_sane(const uint8 *data, const StatsFileHeader *header)
{
	for (uint32 i = 0; i < header->count; i++)
	{
		const uint8 *bytes = data + STATS_FILE_HEADER_SIZE + (size_t) i * STATS_FILE_RECORD_SIZE;
		StatsKey	key;
		StatsCounters c;

		if (bytes[offsetof(StatsKey, is_null)] > 1)
			abort();
		stats_file_read_record(bytes, &key, &c);
		if (c.transactions < 0 || c.statements < 0 || c.rows < 0 || c.wal_records < 0 ||
			!(c.total_time >= 0) || !(c.max_time >= 0))
			abort();
		if ((c.last_activity != 0 && !IS_VALID_TIMESTAMP(c.last_activity)) ||
			(c.first_activity != 0 && !IS_VALID_TIMESTAMP(c.first_activity)))
			abort();
	}
}

int			LLVMFuzzerTestOneInput(const uint8 *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8 *data, size_t size)
{
	StatsFileHeader header;
	StatsFileHeader built = {STATS_FILE_MAGIC, STATS_FILE_VERSION, STATS_FILE_RECORD_SIZE, 0, 0, 0};
	uint8	   *file;
	size_t		len;
	uint32		crc;

	if (stats_file_check(data, size, MAX_COUNT, &header) == NULL)
		require_sane(data, &header);

	built.count = Min(size / STATS_FILE_RECORD_SIZE, MAX_COUNT);
	len = stats_file_size(built.count);
	file = malloc(len);
	if (file == NULL)
		return 0;
	stats_file_header(&built, file);
	memcpy(file + STATS_FILE_HEADER_SIZE, data, (size_t) built.count * STATS_FILE_RECORD_SIZE);
	crc = stats_file_crc_end(stats_file_crc_add(stats_file_crc_begin(), file, len - STATS_FILE_TRAILER_SIZE));
	memcpy(file + len - STATS_FILE_TRAILER_SIZE, &crc, sizeof(crc));
	if (stats_file_check(file, len, MAX_COUNT, &header) == NULL)
		require_sane(file, &header);
	free(file);
	return 0;
}
