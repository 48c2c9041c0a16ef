/*
 * stats_sql.c
 *		SQL functions of the per-tenant statistics: tenant_stats (the rows
 *		of the view), tenant_stats_info and tenant_stats_reset.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"
#include "utils/tuplestore.h"

#include "stats.h"

/* One row of tenant_stats, into the materialized result. */
static void
put_stats_row(const StatsKey *key, const StatsCounters *c, void *arg)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) arg;
	Datum		values[15];
	bool		nulls[15] = {0};
	char		wal_bytes[32];
	int			n = 0;

	if (key->is_null)
		nulls[n++] = true;
	else
	{
		pg_uuid_t  *id = palloc(sizeof(pg_uuid_t));

		memcpy(id->data, key->tenant.data, UUID_LEN);
		values[n++] = UUIDPGetDatum(id);
	}
	values[n++] = Int64GetDatum(c->transactions);
	values[n++] = Int64GetDatum(c->statements);
	values[n++] = Int64GetDatum(c->rows);
	values[n++] = Float8GetDatum(c->total_time);
	values[n++] = Float8GetDatum(c->max_time);
	values[n++] = Int64GetDatum(c->shared_blks_hit);
	values[n++] = Int64GetDatum(c->shared_blks_read);
	values[n++] = Int64GetDatum(c->shared_blks_dirtied);
	values[n++] = Int64GetDatum(c->shared_blks_written);
	values[n++] = Int64GetDatum(c->temp_blks_written);
	values[n++] = Int64GetDatum(c->wal_records);
	snprintf(wal_bytes, sizeof(wal_bytes), UINT64_FORMAT, c->wal_bytes);
	values[n++] = DirectFunctionCall3(numeric_in, CStringGetDatum(wal_bytes),
									  ObjectIdGetDatum(0), Int32GetDatum(-1));
	nulls[n] = (c->first_activity == 0);
	values[n++] = TimestampTzGetDatum(c->first_activity);
	nulls[n] = (c->last_activity == 0);
	values[n++] = TimestampTzGetDatum(c->last_activity);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

PG_FUNCTION_INFO_V1(trovella_tenant_stats);
Datum
trovella_tenant_stats(PG_FUNCTION_ARGS)
{
	trovella_stats_require("tenant_stats");
	InitMaterializedSRF(fcinfo, 0);
	trovella_stats_foreach(put_stats_row, fcinfo->resultinfo);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(trovella_tenant_stats_info);
Datum
trovella_tenant_stats_info(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	StatsInfo	info;
	Datum		values[5];
	bool		nulls[5] = {0};

	trovella_stats_require("tenant_stats_info");
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	trovella_stats_info(&info);
	values[0] = Int64GetDatum(info.evictions);
	values[1] = TimestampTzGetDatum(info.stats_reset);
	values[2] = Int32GetDatum(info.tenants);
	values[3] = Int32GetDatum(info.max_tenants);
	values[4] = Int64GetDatum(info.shared_memory);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/*
 * tenant_stats_loss(): when the counts were last lost and why (a crash, a
 * file ignored at start), NULLs if nothing was since the last full reset.
 */
PG_FUNCTION_INFO_V1(trovella_tenant_stats_loss);
Datum
trovella_tenant_stats_loss(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	StatsInfo	info;
	Datum		values[2];
	bool		nulls[2] = {0};

	trovella_stats_require("tenant_stats_loss");
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	trovella_stats_info(&info);
	nulls[0] = nulls[1] = (info.lost_at == 0);
	values[0] = TimestampTzGetDatum(info.lost_at);
	values[1] = nulls[1] ? (Datum) 0 : CStringGetTextDatum(info.lost);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/* tenant_stats_reset(tenant_id uuid DEFAULT NULL): one tenant, or all. */
PG_FUNCTION_INFO_V1(trovella_tenant_stats_reset);
Datum
trovella_tenant_stats_reset(PG_FUNCTION_ARGS)
{
	trovella_stats_require("tenant_stats_reset");
	trovella_stats_reset(PG_ARGISNULL(0) ? NULL : PG_GETARG_UUID_P(0));
	PG_RETURN_VOID();
}
