/*
 * sqlarg.h
 *		Checking and quoting the arguments of SQL functions (sqlarg.c).
 */
#ifndef TROVELLA_SQLARG_H
#define TROVELLA_SQLARG_H

#include "postgres.h"

#include "fmgr.h"

/* 22004 when an argument of a non-strict function is NULL. */
extern void trovella_require_arg(FunctionCallInfo fcinfo, int argno,
								 const char *arg_name, const char *function_name);

/* A user-supplied value for an error message, clipped when long. */
extern char *trovella_quote_value(const char *value, size_t len);

#endif							/* TROVELLA_SQLARG_H */
