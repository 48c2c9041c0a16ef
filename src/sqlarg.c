/*
 * sqlarg.c
 *		Checking and quoting the arguments of SQL functions, the same way in
 *		every module's messages.
 */
#include "postgres.h"

#include "fmgr.h"
#include "mb/pg_wchar.h"

#include "pat.h"
#include "sqlarg.h"

/* Longest piece of a bad value quoted back in an error message. */
#define QUOTED_VALUE_MAX 40

void
trovella_require_arg(FunctionCallInfo fcinfo, int argno, const char *arg_name,
					 const char *function_name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("trovella.%s: %s must not be null", function_name, arg_name)));
}

/*
 * A bad value for an error message: clipped at a character boundary and
 * marked with "..." when it is long, and anything in it that looks like a
 * token masked but for its hint (a token passed in the wrong place, whole
 * or cut, is never quoted back: the message reaches logs that trovella may
 * not mask, when it is not preloaded).
 */
char *
trovella_quote_value(const char *value, size_t len)
{
	int			clip = pg_mbcliplen(value, (int) len, QUOTED_VALUE_MAX);
	char	   *quoted;

	if ((size_t) clip < len)
		quoted = psprintf("%.*s...", clip, value);
	else
		quoted = pnstrdup(value, len);
	pat_redact(quoted, strlen(quoted));
	return quoted;
}
