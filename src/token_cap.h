/*
 * token_cap.h
 *		One user's tokens are created one at a time and counted (token_cap.c).
 */
#ifndef TROVELLA_TOKEN_CAP_H
#define TROVELLA_TOKEN_CAP_H

#include "postgres.h"

#include "utils/uuid.h"

extern void TokenCapInit(void);

/*
 * Take the user's creation lock (55P03 after 5 s), then 54000 if the user
 * already holds pat_max_per_user live tokens.  Runs in the caller's SPI
 * connection, as the table's owner.
 */
extern void trovella_check_token_cap(const pg_uuid_t *user_id);

#endif							/* TROVELLA_TOKEN_CAP_H */
