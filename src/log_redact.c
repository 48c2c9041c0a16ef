/*
 * log_redact.c
 *		No token in the server log.
 *
 * Whatever writes a log line (log_statement, log_min_duration_statement,
 * an error and its STATEMENT line, pgaudit, a bind parameter in DETAIL), the
 * line passes through emit_log_hook (hooks.c) before it is written.  Every
 * well-formed token in it is masked there (pat_redact: the hint stays, the
 * rest becomes '*'), in each part of the message and in the statement text
 * the log quotes.  The client is sent the same masked message: it knows its
 * token.
 *
 * The statement a log line quotes (its STATEMENT line, or the query field
 * of csvlog and jsonlog) is debug_query_string, the text of the statement
 * running, which the server also parses and reports from.  It is not
 * written over: when it holds a token, debug_query_string is pointed at a
 * masked copy, which nothing but the log reads, until the statement ends.
 *
 * A backend logs before it loads trovella (the first statement that calls
 * it is logged first): only shared_preload_libraries covers every line.
 */
#include "postgres.h"

#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "log_redact.h"
#include "pat.h"

static bool redact_tokens = true;

/* The masked copy debug_query_string points to, if any (TopMemoryContext). */
static char *masked_statement = NULL;

void
LogRedactInit(void)
{
	DefineCustomBoolVariable("trovella.redact_tokens",
							 gettext_noop("Masks every well-formed personal access token in the lines the server logs."),
							 gettext_noop("Needs trovella in shared_preload_libraries to cover a backend's lines before its first call to trovella."),
							 &redact_tokens,
							 true,
							 PGC_SUSET,
							 0,
							 NULL,
							 NULL,
							 NULL);
}

static void
redact(char *text)
{
	if (text != NULL)
		pat_redact(text, strlen(text));
}

/* debug_query_string, masked if it holds a token. */
static void
redact_statement(void)
{
	size_t		len;

	if (debug_query_string == NULL || debug_query_string == masked_statement)
		return;
	len = strlen(debug_query_string);
	if (pat_find(debug_query_string, len) == NULL)
		return;
	if (masked_statement != NULL)
		pfree(masked_statement);
	masked_statement = MemoryContextStrdup(TopMemoryContext, debug_query_string);
	pat_redact(masked_statement, len);
	debug_query_string = masked_statement;
}

/* emit_log_hook (hooks.c): mask each token before the line is written. */
void
trovella_redact_log(ErrorData *edata)
{
	if (!redact_tokens)
		return;
	redact(edata->message);
	redact(edata->detail);
	redact(edata->detail_log);
	redact(edata->hint);
	redact(edata->context);
	redact(edata->internalquery);
	if (!edata->hide_stmt)
		redact_statement();
}
