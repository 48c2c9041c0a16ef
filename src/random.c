/*
 * random.c
 *		Buffered strong randomness for ids and tokens.
 *
 * pg_strong_random() costs a system call or an OpenSSL call each time, which
 * dominates the cost of a small id.  We draw it in blocks and hand it out in
 * pieces.  The buffer belongs to one process: a backend forked from a parent
 * that had filled it (the postmaster, if the library is preloaded) sees a
 * different MyProcPid and throws the inherited bytes away, so two backends
 * never hand out the same bytes.  Bytes are wiped from the buffer as they are
 * handed out.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "port.h"

#include "random.h"

#define RANDOM_BUFFER_SIZE 1024

static uint8 random_buffer[RANDOM_BUFFER_SIZE];
static size_t random_used = RANDOM_BUFFER_SIZE;
static int	random_owner_pid = 0;

static void
random_refill(void)
{
	if (!pg_strong_random(random_buffer, RANDOM_BUFFER_SIZE))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("trovella: could not generate random bytes")));
	random_used = 0;
	random_owner_pid = MyProcPid;
}

/* Fill buf with len strong random bytes. */
void
trovella_random_bytes(uint8_t *buf, size_t len)
{
	if (random_owner_pid != MyProcPid)
		random_used = RANDOM_BUFFER_SIZE;

	while (len > 0)
	{
		size_t		take;

		if (random_used == RANDOM_BUFFER_SIZE)
			random_refill();
		take = Min(len, RANDOM_BUFFER_SIZE - random_used);
		memcpy(buf, random_buffer + random_used, take);
		explicit_bzero(random_buffer + random_used, take);
		random_used += take;
		buf += take;
		len -= take;
	}
}
