/*
 * stats_file.c
 *		The statistics file's format, checked without trusting a byte of it:
 *		the header's magic, version and record size, the length, the CRC-32,
 *		then every record (a key that is a tenant or the canonical "no
 *		tenant", counters that are not negative, times that PostgreSQL can
 *		show).  Pure C: no backend calls, so that a fuzzer can run it alone.
 */
#include "c.h"

#include <math.h>

#include "utils/pg_crc.h"

#include "stats_file.h"

/* Little helpers that copy, so that no byte of the file is read unaligned. */
static uint32
get_uint32(const uint8 *p)
{
	uint32		v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static int64
get_int64(const uint8 *p)
{
	int64		v;

	memcpy(&v, p, sizeof(v));
	return v;
}

void
stats_file_header(const StatsFileHeader *header, uint8 bytes[STATS_FILE_HEADER_SIZE])
{
	memcpy(bytes, &header->magic, 4);
	memcpy(bytes + 4, &header->version, 4);
	memcpy(bytes + 8, &header->record_size, 4);
	memcpy(bytes + 12, &header->count, 4);
	memcpy(bytes + 16, &header->evictions, 8);
	memcpy(bytes + 24, &header->stats_reset, 8);
}

size_t
stats_file_size(uint32 count)
{
	return STATS_FILE_HEADER_SIZE + (size_t) count * STATS_FILE_RECORD_SIZE + STATS_FILE_TRAILER_SIZE;
}

void
stats_file_record(const StatsKey *key, const StatsCounters *counters, uint8 *bytes)
{
	memcpy(bytes, key, sizeof(StatsKey));
	memcpy(bytes + sizeof(StatsKey), counters, sizeof(StatsCounters));
}

void
stats_file_read_record(const uint8 *bytes, StatsKey *key, StatsCounters *counters)
{
	memcpy(key, bytes, sizeof(StatsKey));
	memcpy(counters, bytes + sizeof(StatsKey), sizeof(StatsCounters));
}

uint32
stats_file_crc_begin(void)
{
	pg_crc32	crc;

	INIT_TRADITIONAL_CRC32(crc);
	return crc;
}

uint32
stats_file_crc_add(uint32 crc, const void *data, size_t len)
{
	COMP_TRADITIONAL_CRC32(crc, data, len);
	return crc;
}

uint32
stats_file_crc_end(uint32 crc)
{
	FIN_TRADITIONAL_CRC32(crc);
	return crc;
}

/* A time a saved counter may hold: 0 (never), or one PostgreSQL can show. */
static bool
valid_time(TimestampTz t)
{
	return t == 0 || IS_VALID_TIMESTAMP(t);
}

static bool
valid_milliseconds(double ms)
{
	return !isnan(ms) && !isinf(ms) && ms >= 0;
}

static const char *
check_record(const uint8 *bytes)
{
	StatsKey	key;
	StatsCounters c;
	uint8		is_null = bytes[offsetof(StatsKey, is_null)];

	/* the byte itself: a bool read from it would take any value as true */
	if (is_null > 1)
		return "a record's tenant flag is neither 0 nor 1";
	stats_file_read_record(bytes, &key, &c);
	if (key.is_null)
	{
		for (int i = 0; i < (int) sizeof(key.tenant.data); i++)
			if (key.tenant.data[i] != 0)
				return "a record without a tenant carries a tenant id";
	}
	if (c.transactions < 0 || c.statements < 0 || c.rows < 0 ||
		c.shared_blks_hit < 0 || c.shared_blks_read < 0 || c.shared_blks_dirtied < 0 ||
		c.shared_blks_written < 0 || c.temp_blks_written < 0 || c.wal_records < 0)
		return "a record has a negative counter";
	if (!valid_milliseconds(c.total_time) || !valid_milliseconds(c.max_time))
		return "a record has a time that is negative or not a number";
	if (!valid_time(c.first_activity) || !valid_time(c.last_activity))
		return "a record has an activity time out of range";
	return NULL;
}

const char *
stats_file_check(const uint8 *data, size_t len, uint32 max_count, StatsFileHeader *header)
{
	uint32		crc;
	uint32		i;

	if (len < STATS_FILE_HEADER_SIZE + STATS_FILE_TRAILER_SIZE)
		return "the file is shorter than its header";
	header->magic = get_uint32(data);
	header->version = get_uint32(data + 4);
	header->record_size = get_uint32(data + 8);
	header->count = get_uint32(data + 12);
	header->evictions = get_int64(data + 16);
	header->stats_reset = get_int64(data + 24);
	if (header->magic != STATS_FILE_MAGIC)
		return "it is not a trovella statistics file";
	if (header->version != STATS_FILE_VERSION)
		return "it was written by another version of trovella";
	if (header->record_size != STATS_FILE_RECORD_SIZE)
		return "its records are not of this build's size";
	if (header->count > max_count)
		return "it holds more tenants than trovella.stats_max_tenants";
	if (len != stats_file_size(header->count))
		return "its length does not match its count of records";
	crc = stats_file_crc_end(stats_file_crc_add(stats_file_crc_begin(), data,
												len - STATS_FILE_TRAILER_SIZE));
	if (crc != get_uint32(data + len - STATS_FILE_TRAILER_SIZE))
		return "its checksum does not match";
	if (header->evictions < 0 || !valid_time(header->stats_reset))
		return "its header holds an impossible value";
	for (i = 0; i < header->count; i++)
	{
		const char *problem = check_record(data + STATS_FILE_HEADER_SIZE +
										   (size_t) i * STATS_FILE_RECORD_SIZE);

		if (problem != NULL)
			return problem;
	}
	return NULL;
}
