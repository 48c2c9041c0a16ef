/*
 * log_redact.h
 *		No token in the server log (log_redact.c).
 */
#ifndef TROVELLA_LOG_REDACT_H
#define TROVELLA_LOG_REDACT_H

#include "postgres.h"

extern void LogRedactInit(void);
extern void trovella_redact_log(ErrorData *edata);

#endif							/* TROVELLA_LOG_REDACT_H */
