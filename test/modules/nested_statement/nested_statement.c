/*
 * nested_statement.c
 *		A test module (test/tap/log_nested.t) that does with debug_query_string
 *		what pglogical's and spock's execute_sql_command do: save it, point it
 *		at the text of a nested command, log, restore it, log again.  A log
 *		hook that frees what it pointed debug_query_string at (trovella 0.4.0)
 *		hands the restored pointer back freed, and the next line reads it.
 */
#include "postgres.h"

#include "fmgr.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(nested_statement_log);

/* nested_statement_log(nested text): four log lines around a nested text. */
Datum
nested_statement_log(PG_FUNCTION_ARGS)
{
	char	   *nested = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const char *saved;

	ereport(LOG, (errmsg("nested_statement: before")));
	saved = debug_query_string;
	debug_query_string = nested;
	ereport(LOG, (errmsg("nested_statement: nested")));
	debug_query_string = saved;
	ereport(LOG, (errmsg("nested_statement: restored")));
	ereport(LOG, (errmsg("nested_statement: after")));
	PG_RETURN_VOID();
}
