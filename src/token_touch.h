/*
 * token_touch.h
 *		Recording that a token was used (token_touch.c).
 */
#ifndef TROVELLA_TOKEN_TOUCH_H
#define TROVELLA_TOKEN_TOUCH_H

#include "postgres.h"

#include "access/xact.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "nodes/nodes.h"
#include "utils/uuid.h"

extern void TokenTouchInit(void);

/* last_used_at := now, unless written within pat_last_used_interval. */
extern void trovella_token_touch(FunctionCallInfo fcinfo, const pg_uuid_t *token_id,
								 TimestampTz last_used_at, bool last_used_null);

/* Handlers that hooks.c calls: a statement finished, a (sub)transaction ends. */
extern void trovella_token_touch_flush(void);
extern void trovella_token_touch_utility(Node *stmt);
extern void trovella_token_touch_utility_done(Node *stmt);
extern void trovella_token_touch_xact(XactEvent event);
extern void trovella_token_touch_subxact(SubXactEvent event);

#endif							/* TROVELLA_TOKEN_TOUCH_H */
