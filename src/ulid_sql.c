/*
 * ulid_sql.c
 *		SQL-callable ULID and rich-id functions, on top of the ulid.c core.
 */
#include "postgres.h"

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "compat.h"
#include "random.h"
#include "sqlarg.h"
#include "ulid.h"
#include "ulid_gen.h"

/* Longest rich-id prefix, as the prefix pattern allows. */
#define RICH_PREFIX_MAX 63

/* Unix milliseconds of a timestamptz, or an error naming the function. */
static uint64_t
timestamptz_to_unix_ms(TimestampTz ts, const char *function_name)
{
	/* the ULID range in PostgreSQL's microseconds, so nothing can overflow */
	const int64 first_us = -UNIX_TO_POSTGRES_USECS;
	const int64 last_us = (int64) ULID_TIME_MAX * 1000 + 999 - UNIX_TO_POSTGRES_USECS;

	if (TIMESTAMP_NOT_FINITE(ts) || ts < first_us || ts > last_us)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("trovella.%s: timestamp out of range for a ULID: \"%s\"",
						function_name, timestamptz_to_str(ts)),
				 errdetail("A ULID holds a finite time from 1970-01-01 to 10889-08-02.")));
	return (uint64_t) ((ts + UNIX_TO_POSTGRES_USECS) / 1000);
}

/* Decode ULID text or raise 22P02 naming the function. */
static void
decode_or_error(const char *text, size_t len, uint8_t *ulid_bytes,
				const char *function_name)
{
	static const char *const reasons[] = {
		[ULID_BAD_LENGTH] = "A ULID is exactly 26 characters.",
		[ULID_BAD_CHARACTER] = "A ULID uses only Crockford base32 characters: 0-9 and A-Z without I, L, O and U.",
		[ULID_OVERFLOW] = "The first character of a ULID is at most 7 (a ULID is 128 bits).",
	};
	UlidDecodeResult result = ulid_decode(text, len, ulid_bytes);

	if (result != ULID_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("trovella.%s: invalid ULID \"%s\"",
						function_name, trovella_quote_value(text, len)),
				 errdetail_internal("%s", reasons[result])));
}

/* Raise 22P02 unless prefix matches ^[a-z][a-z0-9_]{0,62}$. */
static void
check_rich_prefix(const char *prefix, size_t len, const char *function_name)
{
	bool		ok = len >= 1 && len <= RICH_PREFIX_MAX &&
		prefix[0] >= 'a' && prefix[0] <= 'z';
	size_t		i;

	for (i = 1; ok && i < len; i++)
	{
		char		c = prefix[i];

		ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
	}
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("trovella.%s: invalid rich id prefix \"%s\"",
						function_name, trovella_quote_value(prefix, len)),
				 errdetail("A prefix is a lowercase letter followed by up to 62 lowercase letters, digits or underscores.")));
}

static Datum
uuid_datum(const uint8_t *ulid_bytes)
{
	pg_uuid_t  *id = palloc(sizeof(pg_uuid_t));

	memcpy(id->data, ulid_bytes, ULID_BYTES);
	return UUIDPGetDatum(id);
}

/* New monotonic id from the current time. */
PG_FUNCTION_INFO_V1(trovella_ulid_uuid);
Datum
trovella_ulid_uuid(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *id = palloc(sizeof(pg_uuid_t));

	trovella_new_ulid(id);
	PG_RETURN_UUID_P(id);
}

/* Id for a given time with fresh random bits. */
PG_FUNCTION_INFO_V1(trovella_ulid_uuid_at);
Datum
trovella_ulid_uuid_at(PG_FUNCTION_ARGS)
{
	uint64_t	unix_ms = timestamptz_to_unix_ms(PG_GETARG_TIMESTAMPTZ(0), "ulid_uuid");
	uint8_t		ulid_bytes[ULID_BYTES];

	ulid_set_time(ulid_bytes, unix_ms);
	trovella_random_bytes(ulid_bytes + ULID_TIME_BYTES, ULID_RANDOM_BYTES);
	return uuid_datum(ulid_bytes);
}

/* ULID text to uuid. */
PG_FUNCTION_INFO_V1(trovella_ulid_to_uuid);
Datum
trovella_ulid_to_uuid(PG_FUNCTION_ARGS)
{
	text	   *ulid_text = PG_GETARG_TEXT_PP(0);
	uint8_t		ulid_bytes[ULID_BYTES];

	decode_or_error(VARDATA_ANY(ulid_text), VARSIZE_ANY_EXHDR(ulid_text),
					ulid_bytes, "ulid_to_uuid");
	return uuid_datum(ulid_bytes);
}

/* uuid to 26 uppercase ULID characters. */
PG_FUNCTION_INFO_V1(trovella_uuid_to_ulid);
Datum
trovella_uuid_to_ulid(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *id = PG_GETARG_UUID_P(0);
	char		ulid_text[ULID_TEXT_LEN];

	ulid_encode(id->data, ulid_text);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(ulid_text, ULID_TEXT_LEN));
}

/* The millisecond timestamp embedded in an id. */
PG_FUNCTION_INFO_V1(trovella_ulid_time);
Datum
trovella_ulid_time(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *id = PG_GETARG_UUID_P(0);

	PG_RETURN_TIMESTAMPTZ((TimestampTz) ulid_get_time(id->data) * 1000 -
						  UNIX_TO_POSTGRES_USECS);
}

/* Smallest id of the millisecond of ts. */
PG_FUNCTION_INFO_V1(trovella_ulid_min);
Datum
trovella_ulid_min(PG_FUNCTION_ARGS)
{
	uint8_t		ulid_bytes[ULID_BYTES];

	memset(ulid_bytes, 0x00, ULID_BYTES);
	ulid_set_time(ulid_bytes,
				  timestamptz_to_unix_ms(PG_GETARG_TIMESTAMPTZ(0), "ulid_min"));
	return uuid_datum(ulid_bytes);
}

/* Largest id of the millisecond of ts. */
PG_FUNCTION_INFO_V1(trovella_ulid_max);
Datum
trovella_ulid_max(PG_FUNCTION_ARGS)
{
	uint8_t		ulid_bytes[ULID_BYTES];

	memset(ulid_bytes, 0xFF, ULID_BYTES);
	ulid_set_time(ulid_bytes,
				  timestamptz_to_unix_ms(PG_GETARG_TIMESTAMPTZ(0), "ulid_max"));
	return uuid_datum(ulid_bytes);
}

/* prefix || '-' || ULID text. */
PG_FUNCTION_INFO_V1(trovella_rich_id);
Datum
trovella_rich_id(PG_FUNCTION_ARGS)
{
	text	   *prefix = PG_GETARG_TEXT_PP(0);
	pg_uuid_t  *id = PG_GETARG_UUID_P(1);
	size_t		prefix_len = VARSIZE_ANY_EXHDR(prefix);
	char		ulid_text[ULID_TEXT_LEN];
	text	   *result;
	char	   *p;

	check_rich_prefix(VARDATA_ANY(prefix), prefix_len, "rich_id");
	ulid_encode(id->data, ulid_text);

	result = palloc(VARHDRSZ + prefix_len + 1 + ULID_TEXT_LEN);
	SET_VARSIZE(result, VARHDRSZ + prefix_len + 1 + ULID_TEXT_LEN);
	p = VARDATA(result);
	memcpy(p, VARDATA_ANY(prefix), prefix_len);
	p[prefix_len] = '-';
	memcpy(p + prefix_len + 1, ulid_text, ULID_TEXT_LEN);
	PG_RETURN_TEXT_P(result);
}

/* The uuid of a rich id, which must carry expected_prefix. */
PG_FUNCTION_INFO_V1(trovella_rich_id_to_uuid);
Datum
trovella_rich_id_to_uuid(PG_FUNCTION_ARGS)
{
	text	   *rich = PG_GETARG_TEXT_PP(0);
	text	   *expected = PG_GETARG_TEXT_PP(1);
	const char *rich_data = VARDATA_ANY(rich);
	size_t		rich_len = VARSIZE_ANY_EXHDR(rich);
	size_t		prefix_len = VARSIZE_ANY_EXHDR(expected);
	uint8_t		ulid_bytes[ULID_BYTES];

	check_rich_prefix(VARDATA_ANY(expected), prefix_len, "rich_id_to_uuid");

	if (rich_len != prefix_len + 1 + ULID_TEXT_LEN ||
		memcmp(rich_data, VARDATA_ANY(expected), prefix_len) != 0 ||
		rich_data[prefix_len] != '-')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("trovella.rich_id_to_uuid: \"%s\" is not a rich id with prefix \"%s\"",
						trovella_quote_value(rich_data, rich_len),
						trovella_quote_value(VARDATA_ANY(expected), prefix_len)),
				 errhint("A rich id is the prefix, a hyphen and a 26-character ULID.")));

	decode_or_error(rich_data + prefix_len + 1, ULID_TEXT_LEN, ulid_bytes,
					"rich_id_to_uuid");
	return uuid_datum(ulid_bytes);
}
