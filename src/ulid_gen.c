/*
 * ulid_gen.c
 *		This backend's monotonic ULID generator: the ulid.c core fed with the
 *		wall clock and buffered strong randomness (random.c), for ulid_uuid()
 *		and for the ids of new tokens.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/timestamp.h"

#include "random.h"
#include "ulid.h"
#include "ulid_gen.h"

static UlidGenerator generator;
static int	generator_owner_pid = 0;

void
trovella_new_ulid(pg_uuid_t *id)
{
	TimestampTz now = GetCurrentTimestamp();

	/* an inherited generator would repeat its parent's sequence */
	if (generator_owner_pid != MyProcPid)
	{
		memset(&generator, 0, sizeof(generator));
		generator_owner_pid = MyProcPid;
	}
	if (!ulid_generate(&generator,
					   (uint64_t) ((now + UNIX_TO_POSTGRES_USECS) / 1000),
					   trovella_random_bytes, id->data))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("trovella.ulid_uuid: clock beyond the ULID time range")));
}
