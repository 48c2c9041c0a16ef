/*
 * purge_finish.c
 *		The last transaction of trovella.purge_tenant (purge.c), once the
 *		isolated tables hold no row of the tenant: its tokens and its audit
 *		history (erased: the history holds the tenant's data; the receipt
 *		keeps its last seal and how many records it had) go, as the
 *		extension's owner; then, as the caller, whom row-level security must
 *		not bind, every table with a tenant column of type uuid is read for
 *		a row of the tenant, isolated or not, in every schema but the
 *		system's.  A row found stops the purge (55000, naming the tables)
 *		and keeps trovella.purge_run, so that the next CALL finishes once
 *		the operator has dealt with them: a table trovella does not isolate
 *		is never purged, only named.  Otherwise the suspension and the
 *		statistics go, and the receipt is written: counts before and after
 *		per table, the history erased, the tables verified, and a digest,
 *		the SHA-256 of the receipt's jsonb text without its digest.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/rls.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "purge.h"
#include "stats.h"
#include "statement.h"
#include "suspension.h"

/* A table read for rows of the tenant at the end. */
typedef struct VerifiedTable
{
	Oid			relid;
	char	   *label;
	bool		purged;			/* one the purge deleted from, or trovella's */
	bool		own;			/* trovella's: read once erased, as its owner */
	char	   *count_sql;
	int64		rows;
} VerifiedTable;

/* The tenant's audit history, erased. */
typedef struct ErasedHistory
{
	int64		records;
	int64		seals;
	char	   *head;			/* audit_head(): NULL without a seal */
	int64		tokens;
} ErasedHistory;

void
trovella_purge_require_full_view(Oid relid, const char *label)
{
	if (check_enable_rls(relid, InvalidOid, true) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("trovella.purge_tenant: row-level security binds role %s on table %s",
						GetUserNameFromId(GetUserId(), false), label),
				 errdetail("A purge judged from one tenant's view would delete and verify only the rows that view shows."),
				 errhint("Run it as a role that row-level security does not bind (BYPASSRLS), such as the operations role: see Operations in the README.")));
}

static int64
int64_result(int column)
{
	bool		isnull;
	Datum		value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, column, &isnull);

	return isnull ? 0 : DatumGetInt64(value);
}

/* The tenant's tokens and audit history, as the extension's owner. */
static void
erase_owned(PurgeState *state, ErasedHistory *erased)
{
	OwnerSection section;
	Oid			argtypes[1] = {UUIDOID};
	Datum	   *tenant = &state->tenant_datum;

	trovella_begin_owner_section_as(state->owner, &section);
	/*
	 * The head on its own: in one query with the counts, Citus would push
	 * it to the tenant's worker, where its own query of the distributed
	 * seals is refused (a distributed query from a query on a shard).
	 */
	if (SPI_execute_with_args("SELECT trovella.audit_head($1)",
							  1, argtypes, tenant, NULL, false, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the tenant's audit history");
	erased->head = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (SPI_execute_with_args("SELECT (SELECT count(*) FROM trovella.audit_history h WHERE h.tenant_id = $1),"
							  " (SELECT count(*) FROM trovella.audit_seal s WHERE s.tenant_id = $1)",
							  1, argtypes, tenant, NULL, false, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the tenant's audit history");
	erased->records = int64_result(1);
	erased->seals = int64_result(2);
	if (SPI_execute_with_args("DELETE FROM trovella.audit_history h WHERE h.tenant_id = $1",
							  1, argtypes, tenant, NULL, false, 0) != SPI_OK_DELETE ||
		SPI_execute_with_args("DELETE FROM trovella.audit_seal s WHERE s.tenant_id = $1",
							  1, argtypes, tenant, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not erase the tenant's audit history");
	if (SPI_execute_with_args("DELETE FROM trovella.personal_access_token t WHERE t.tenant_id = $1",
							  1, argtypes, tenant, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not delete the tenant's tokens");
	erased->tokens = (int64) SPI_processed;
	trovella_end_owner_section(&section);
}

static int64
count_tenant_rows(PurgeState *state, VerifiedTable *table)
{
	Oid			argtypes[1] = {UUIDOID};
	int			level = trovella_serial_begin();

	if (SPI_execute_with_args(table->count_sql, 1, argtypes, &state->tenant_datum, NULL, false, 0) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not read table %s", table->label);
	trovella_serial_end(level);
	return int64_result(1);
}

/*
 * trovella's own tables, once erased, as its owner: on Citus, placements
 * that a transaction modified as one role it cannot read as another (the
 * history is co-located with the tenant's tables, which are read above as
 * the caller, before).
 */
static void
verify_own(PurgeState *state, List *verified)
{
	OwnerSection section;
	ListCell   *lc;

	trovella_begin_owner_section_as(state->owner, &section);
	foreach(lc, verified)
	{
		VerifiedTable *table = lfirst(lc);

		if (table->own)
			table->rows = count_tenant_rows(state, table);
	}
	trovella_end_owner_section(&section);
}

/*
 * Every table (and materialized view) with a tenant column of type uuid
 * (or of a domain over it),
 * but the purge's own and the suspension, each read for the tenant's rows.
 */
static List *
verify(PurgeState *state)
{
	CatalogSearchPath path;
	StringInfoData sql;
	List	   *verified = NIL;
	List	   *statements = NIL;
	ListCell   *lc;
	ListCell   *lc2;
	bool		first = true;

	initStringInfo(&sql);
	appendStringInfoString(&sql,
						   "WITH RECURSIVE uuid_type AS ("
						   "  SELECT 'uuid'::regtype::oid AS oid"
						   "  UNION SELECT t.oid FROM pg_type t JOIN uuid_type u ON t.typbasetype = u.oid"
						   "  WHERE t.typtype = 'd')"
						   " SELECT c.oid, c.oid::regclass::text,"
						   "       format('SELECT pg_catalog.count(*) FROM ONLY %I.%I WHERE %I OPERATOR(pg_catalog.=) $1',"
						   "              n.nspname, c.relname, a.attname), n.nspname = 'trovella'"
						   " FROM pg_class c"
						   " JOIN pg_namespace n ON n.oid = c.relnamespace"
						   " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
						   " WHERE c.relkind IN ('r', 'm') AND c.relispopulated"
						   "   AND a.atttypid IN (SELECT u.oid FROM uuid_type u)"
						   "   AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
						   "   AND n.nspname NOT LIKE 'pg\\_toast%'"
						   "   AND NOT pg_is_other_temp_schema(c.relnamespace)"
						   "   AND c.oid NOT IN ('trovella.purge_run'::regclass, 'trovella.purge_receipt'::regclass,"
						   "                     'trovella.suspended_tenant'::regclass)"
						   "   AND a.attname IN (");
	foreach(lc, state->columns)
	{
		appendStringInfo(&sql, "%s%s", first ? "" : ", ", quote_literal_cstr(lfirst(lc)));
		first = false;
	}
	appendStringInfoString(&sql, first ? "NULL) ORDER BY 2" : ") ORDER BY 2");

	push_catalog_search_path(&path);
	if (SPI_execute(sql.data, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list the tables with the tenant column");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		VerifiedTable *table = palloc0(sizeof(VerifiedTable));
		bool		isnull;

		table->relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		table->label = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		/* trovella's own: the tokens and the history, erased next */
		table->purged = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 4, &isnull));
		verified = lappend(verified, table);
		statements = lappend(statements, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3));
	}
	pop_catalog_search_path(&path);

	forboth(lc, verified, lc2, statements)
	{
		VerifiedTable *table = lfirst(lc);
		ListCell   *p;

		table->count_sql = lfirst(lc2);
		table->own = table->purged;
		if (!table->own)
		{
			trovella_purge_require_full_view(table->relid, table->label);
			table->rows = count_tenant_rows(state, table);
		}
		foreach(p, state->tables)
			table->purged |= ((PurgeTable *) lfirst(p))->relid == table->relid;
	}
	return verified;
}

/* 55000 naming each table where a row of the tenant remains. */
static void
refuse_remaining(List *verified)
{
	StringInfoData names;
	ListCell   *lc;
	bool		purged_left = false;

	initStringInfo(&names);
	foreach(lc, verified)
	{
		VerifiedTable *table = lfirst(lc);

		if (table->rows == 0)
			continue;
		purged_left |= table->purged;
		appendStringInfo(&names, "%s%s%s", names.len > 0 ? ", " : "", table->label,
						 table->purged ? "" : " (not isolated: never purged)");
	}
	if (names.len > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("trovella.purge_tenant: rows of the tenant remain in %s", names.data),
				 purged_left ?
				 errdetail("A table the purge deleted from holds rows of the tenant again or still: a trigger kept them, a row was written meanwhile, or another purge of the tenant is running.") :
				 errdetail("The purge deletes from the tables trovella isolates and from the membership table; a table it does not isolate keeps the tenant's rows until the operator deletes them."),
				 errhint("Delete those rows (or refresh the materialized view), then CALL trovella.purge_tenant again: it resumes and finishes.")));
}

/* The receipt's body but its tenant, times, roles and digest. */
static char *
receipt_body(PurgeState *state, List *verified, const ErasedHistory *erased, bool statistics)
{
	StringInfoData buf;
	ListCell   *lc;
	bool		first = true;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"tables\": [");
	foreach(lc, state->tables)
	{
		PurgeTable *table = lfirst(lc);
		int64		after = 0;
		ListCell   *v;

		foreach(v, verified)
			if (((VerifiedTable *) lfirst(v))->relid == table->relid)
				after = ((VerifiedTable *) lfirst(v))->rows;
		appendStringInfoString(&buf, first ? "{\"table\": " : ", {\"table\": ");
		escape_json(&buf, table->label);
		appendStringInfo(&buf, ", \"before\": " INT64_FORMAT ", \"after\": " INT64_FORMAT "}",
						 table->before, after);
		first = false;
	}
	appendStringInfo(&buf, "], \"tokens\": " INT64_FORMAT ", \"statistics\": %s",
					 erased->tokens, statistics ? "\"forgotten\"" : "\"not kept\"");
	appendStringInfo(&buf, ", \"audit_history\": {\"fate\": \"erased\", \"records\": " INT64_FORMAT
					 ", \"seals\": " INT64_FORMAT ", \"head\": ", erased->records, erased->seals);
	if (erased->head)
		escape_json(&buf, erased->head);
	else
		appendStringInfoString(&buf, "null");
	appendStringInfo(&buf, "}, \"verified_tables\": %d, \"not_isolated\": [", list_length(verified));
	first = true;
	foreach(lc, verified)
	{
		VerifiedTable *table = lfirst(lc);

		if (table->purged)
			continue;
		if (!first)
			appendStringInfoString(&buf, ", ");
		escape_json(&buf, table->label);
		first = false;
	}
	appendStringInfoString(&buf, "]}");
	return buf.data;
}

/*
 * Lift the suspension, forget the statistics, write the receipt and end
 * the run, as the extension's owner; returns the receipt's text.
 */
static char *
write_receipt(PurgeState *state, const char *body, bool *statistics)
{
	OwnerSection section;
	Oid			argtypes[3] = {UUIDOID, TEXTOID, TIMESTAMPTZOID};
	Datum		values[3];
	char	   *receipt;

	values[0] = state->tenant_datum;
	values[1] = CStringGetTextDatum(body);
	values[2] = TimestampTzGetDatum(GetCurrentTimestamp());
	trovella_begin_owner_section_as(state->owner, &section);
	if (SPI_execute_with_args("DELETE FROM trovella.suspended_tenant s WHERE s.tenant_id = $1",
							  1, argtypes, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not lift the suspension");
	/* resumed while the purge ran: its transactions may be writing again */
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("trovella.purge_tenant: the tenant was resumed during the purge"),
				 errdetail("A purge erases what the tenant's transactions could still be writing."),
				 errhint("SELECT trovella.suspend_tenant(tenant, reason), then CALL trovella.purge_tenant again: it resumes and finishes.")));
	if (SPI_execute_with_args("WITH run AS ("
							  "  DELETE FROM trovella.purge_run r WHERE r.tenant_id = $1"
							  "  RETURNING r.started_at, r.started_by),"
							  " body AS ("
							  "  SELECT run.started_at,"
							  "         jsonb_build_object('tenant', $1, 'started_at', run.started_at,"
							  "                            'started_by', run.started_by, 'finished_at', $3,"
							  "                            'finished_by', \"session_user\"()) || $2::jsonb AS receipt"
							  "  FROM run),"
							  " signed AS ("
							  "  SELECT b.started_at, b.receipt,"
							  "         encode(sha256(convert_to(b.receipt::text, 'UTF8')), 'hex') AS digest"
							  "  FROM body b)"
							  " INSERT INTO trovella.purge_receipt (tenant_id, started_at, finished_at, purged_by, receipt, digest)"
							  " SELECT $1, s.started_at, $3, \"session_user\"(),"
							  "        s.receipt || jsonb_build_object('digest', s.digest), s.digest"
							  " FROM signed s"
							  " RETURNING receipt::text",
							  3, argtypes, values, NULL, false, 0) != SPI_OK_INSERT_RETURNING ||
		SPI_processed != 1)
		elog(ERROR, "could not write the purge's receipt");
	receipt = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	trovella_end_owner_section(&section);
	trovella_suspension_changed();
	*statistics = trovella_stats_ready();
	if (*statistics)
		trovella_stats_reset(&state->tenant);
	return receipt;
}

char *
trovella_purge_finish(PurgeState *state)
{
	ErasedHistory erased;
	List	   *verified;
	bool		statistics = trovella_stats_ready();

	verified = verify(state);
	erase_owned(state, &erased);
	verify_own(state, verified);
	refuse_remaining(verified);
	return write_receipt(state, receipt_body(state, verified, &erased, statistics), &statistics);
}
