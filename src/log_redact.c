/*
 * log_redact.c
 *		No token in the server log.
 *
 * Whatever writes a log line (log_statement, log_min_duration_statement,
 * an error and its STATEMENT line, pgaudit, a bind parameter in DETAIL), the
 * line passes through emit_log_hook (hooks.c) before it is written.  All
 * that looks like a token in it (the prefix and a run of base62 characters,
 * whole or cut short, valid or not) is masked there (pat_redact: the hint
 * stays, the rest becomes '*'), in each part of the message, in place (the mask keeps
 * the length, so nothing is allocated), and in the statement text the log
 * quotes.  The client is sent the same masked message: it knows its token.
 *
 * The statement a log line quotes (its STATEMENT line, or the query field
 * of csvlog and jsonlog) is debug_query_string, the text of the statement
 * running, which the server also parses and reports from.  It is never
 * written over, and nothing handed to the server is ever freed by trovella:
 *
 * - It is looked at only when the line will quote it (the server's own
 *   test: log_min_error_statement, hide_stmt), so a statement that logs
 *   thousands of warnings is not read once per warning.
 * - Where a safe place exists, debug_query_string is pointed at a copy, masked
 *   if it held a token, made once per statement and kept in MessageContext:
 *   PostgresMain resets debug_query_string at the end of every message and
 *   MessageContext only at the start of the next, so the copy outlives every
 *   use, also by code that saved debug_query_string and restores it later
 *   (pglogical's and spock's execute_sql_command).  A later line of the same
 *   statement finds debug_query_string already pointing at a copy: it is not
 *   read again.  When MessageContext is reset the copies are forgotten, and
 *   debug_query_string, if it still points at one, gets back the text the copy
 *   stood for, as if trovella had never touched it.
 * - Where no safe place exists (no MessageContext, as in most background
 *   workers; a critical section, where an allocation that fails would be a
 *   PANIC; error recursion; an allocation that fails), nothing is allocated:
 *   a statement that holds a token is left out of the line (hide_stmt).
 *
 * A line names the client's application_name (%a in log_line_prefix, a
 * field of csvlog and jsonlog), read from the setting itself: a token in it
 * is masked in the setting's value, in place (SHOW then shows it masked;
 * pg_stat_activity keeps what the client sent).  The node trees that
 * debug_print_parse, _rewritten and _plan log print constants as lists of
 * byte values, in DETAIL: there they are decoded and masked too
 * (pat_redact_bytes).  The user and database names a client sent (%u, %d)
 * are not masked: the server reads them to authenticate and log the
 * session in, and a masked copy would have to replace them while it does.
 *
 * A backend logs before it loads trovella (the first statement that calls
 * it is logged first): only shared_preload_libraries covers every line.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "log_redact.h"
#include "pat.h"

static bool redact_tokens = true;

/*
 * A copy of a statement text that debug_query_string was pointed at, in
 * MessageContext, the text following the struct.  The copies of the current
 * MessageContext form a list, newest first; the first one's reset callback
 * forgets them all.
 */
typedef struct StatementCopy
{
	MemoryContextCallback reset;
	const char *replaced;		/* the text this copy stands for */
	struct StatementCopy *next;
	char		text[FLEXIBLE_ARRAY_MEMBER];
} StatementCopy;

static StatementCopy *statement_copies = NULL;

/* How many of the newest copies a line compares debug_query_string with. */
#define COPIES_LOOKED_AT 8

void
LogRedactInit(void)
{
	DefineCustomBoolVariable("trovella.redact_tokens",
							 gettext_noop("Masks everything that begins like a personal access token, whole or cut short, in the lines the server logs."),
							 gettext_noop("Needs trovella in shared_preload_libraries to cover a backend's lines before its first call to trovella."),
							 &redact_tokens,
							 true,
							 PGC_SUSET,
							 0,
							 NULL,
							 NULL,
							 NULL);
}

/* A part of the line: tokens as text. */
static void
redact(char *text)
{
	if (text != NULL)
		pat_redact(text, strlen(text));
}

/*
 * DETAIL, where a node tree is logged (elog_node_display): tokens as text,
 * and as lists of byte values.
 */
static void
redact_detail(char *text)
{
	size_t		len;

	if (text == NULL)
		return;
	len = strlen(text);
	pat_redact(text, len);
	pat_redact_bytes(text, len);
}

/*
 * MessageContext is being reset: its copies go.  debug_query_string still
 * pointing at one gets back what it replaced (what it would hold without
 * trovella).
 */
static void
forget_statement_copies(void *arg)
{
	StatementCopy *copy;

	for (copy = statement_copies; copy != NULL; copy = copy->next)
		if (debug_query_string == copy->text)
			debug_query_string = copy->replaced;
	statement_copies = NULL;
}

/* Whether a line of this level quotes the statement (elog.c's test). */
static bool
line_quotes_statement(ErrorData *edata)
{
	int			elevel = edata->elevel;

	if (edata->hide_stmt || debug_query_string == NULL)
		return false;
	if (elevel == LOG || elevel == LOG_SERVER_ONLY)
		return log_min_error_statement == LOG || log_min_error_statement <= ERROR;
	if (elevel == WARNING_CLIENT_ONLY)
		return false;
	if (log_min_error_statement == LOG)
		return elevel >= FATAL;
	return elevel >= log_min_error_statement;
}

/* Whether debug_query_string is one of the newest copies already made. */
static bool
statement_is_copy(void)
{
	StatementCopy *copy = statement_copies;
	int			looked_at;

	for (looked_at = 0; copy != NULL && looked_at < COPIES_LOOKED_AT; looked_at++)
	{
		if (debug_query_string == copy->text)
			return true;
		copy = copy->next;
	}
	return false;
}

/*
 * The statement the line quotes, masked: debug_query_string pointed at a
 * masked copy in MessageContext, or left out of the line where no copy can
 * be made safely.
 */
static void
redact_statement(ErrorData *edata)
{
	size_t		len;
	StatementCopy *copy;

	if (!line_quotes_statement(edata) || statement_is_copy())
		return;
	len = strlen(debug_query_string);
	if (MessageContext == NULL || CritSectionCount > 0 || in_error_recursion_trouble())
		copy = NULL;
	else
		copy = MemoryContextAllocExtended(MessageContext,
										  offsetof(StatementCopy, text) + len + 1,
										  MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
	if (copy == NULL)
	{
		if (pat_find_like(debug_query_string, len) != NULL)
			edata->hide_stmt = true;
		return;
	}
	memcpy(copy->text, debug_query_string, len + 1);
	pat_redact(copy->text, len);
	copy->replaced = debug_query_string;
	copy->next = statement_copies;
	if (statement_copies == NULL)
	{
		copy->reset.func = forget_statement_copies;
		copy->reset.arg = NULL;
		MemoryContextRegisterResetCallback(MessageContext, &copy->reset);
	}
	statement_copies = copy;
	debug_query_string = copy->text;
}

/* emit_log_hook (hooks.c): mask each token before the line is written. */
void
trovella_redact_log(ErrorData *edata)
{
	if (!redact_tokens)
		return;
	redact(edata->message);
	redact_detail(edata->detail);
	redact_detail(edata->detail_log);
	redact(edata->hint);
	redact(edata->context);
	redact(edata->internalquery);
	redact_statement(edata);
	if (application_name != NULL)
		pat_redact(application_name, strlen(application_name));
}
