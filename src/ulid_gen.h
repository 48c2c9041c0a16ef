/*
 * ulid_gen.h
 *		This backend's monotonic ULID generator on the wall clock (ulid_gen.c).
 */
#ifndef TROVELLA_ULID_GEN_H
#define TROVELLA_ULID_GEN_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/uuid.h"

/* Microseconds from the Unix epoch to PostgreSQL's (2000-01-01). */
#define UNIX_TO_POSTGRES_USECS \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY)

/* A new monotonic ULID from the current time. */
extern void trovella_new_ulid(pg_uuid_t *id);

#endif							/* TROVELLA_ULID_GEN_H */
