/*
 * stats_file.h
 *		The per-tenant statistics as stored in memory and in the file the
 *		postmaster saves at a clean shutdown (stats_file.c, a pure core:
 *		bytes in, a verdict out; fuzzed by test/fuzz/stats_file_fuzz.c).
 *
 * The file: a header, count records, and a CRC-32 of everything before it.
 *
 *	header	magic "trvs", version, record size, count (uint32 each),
 *			evictions, stats_reset (int64 each)				32 bytes
 *	record	the key (tenant, is_null) then the counters, packed
 *	trailer	CRC-32 (PostgreSQL's traditional one, zlib's)		 4 bytes
 *
 * Integers are in the server's byte order: the file never leaves its data
 * directory.  A file is loaded whole or not at all.
 */
#ifndef TROVELLA_STATS_FILE_H
#define TROVELLA_STATS_FILE_H

#include "c.h"

#include "datatype/timestamp.h"

/*
 * A tenant id: a uuid's 16 bytes, as in pg_uuid_t, whose header (utils/uuid.h)
 * needs the backend's Datum from PostgreSQL 16 on.
 */
typedef struct StatsTenant
{
	uint8		data[16];
} StatsTenant;

/* A tenant, or no tenant (is_null: tenant all zero). */
typedef struct StatsKey
{
	StatsTenant tenant;
	bool		is_null;
} StatsKey;

typedef struct StatsCounters
{
	int64		transactions;
	int64		statements;
	int64		rows;
	double		total_time;		/* milliseconds */
	double		max_time;
	int64		shared_blks_hit;
	int64		shared_blks_read;
	int64		shared_blks_dirtied;
	int64		shared_blks_written;
	int64		temp_blks_written;
	int64		wal_records;
	uint64		wal_bytes;
	TimestampTz first_activity; /* 0: never */
	TimestampTz last_activity;
} StatsCounters;

#define STATS_FILE_MAGIC		0x74727673	/* "trvs" */
#define STATS_FILE_VERSION		2
#define STATS_FILE_HEADER_SIZE	32
#define STATS_FILE_RECORD_SIZE	(sizeof(StatsKey) + sizeof(StatsCounters))
#define STATS_FILE_TRAILER_SIZE	4

typedef struct StatsFileHeader
{
	uint32		magic;
	uint32		version;
	uint32		record_size;
	uint32		count;
	int64		evictions;
	TimestampTz stats_reset;
} StatsFileHeader;

/* The header's bytes, and the file's size for count records. */
extern void stats_file_header(const StatsFileHeader *header, uint8 bytes[STATS_FILE_HEADER_SIZE]);
extern size_t stats_file_size(uint32 count);

/* A record's bytes, and back. */
extern void stats_file_record(const StatsKey *key, const StatsCounters *counters,
							  uint8 *bytes);
extern void stats_file_read_record(const uint8 *bytes, StatsKey *key, StatsCounters *counters);

/* CRC-32 over the file's bytes: begin, add, end. */
extern uint32 stats_file_crc_begin(void);
extern uint32 stats_file_crc_add(uint32 crc, const void *data, size_t len);
extern uint32 stats_file_crc_end(uint32 crc);

/*
 * Check a whole file of len bytes: NULL when it can be loaded (and then
 * *header filled), otherwise why not.  At most max_count records.
 */
extern const char *stats_file_check(const uint8 *data, size_t len, uint32 max_count,
									StatsFileHeader *header);

#endif							/* TROVELLA_STATS_FILE_H */
