/*
 * context_sql.c
 *		SQL functions that set and read the tenant context: with_tenant,
 *		with_user, current_tenant, current_user_id, current_context.
 *
 * The rules (sealed, transaction-scoped, fail closed) are the context
 * core's (context.c); what other modules check when a context is set
 * reaches it through their registrations.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/uuid.h"

#include "context.h"
#include "sqlarg.h"

/* Set the tenant (and the user, when given) for the rest of the transaction. */
PG_FUNCTION_INFO_V1(trovella_with_tenant);
Datum
trovella_with_tenant(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *user_id = NULL;

	trovella_require_arg(fcinfo, 0, "tenant_id", "with_tenant");
	if (!PG_ARGISNULL(1))
		user_id = PG_GETARG_UUID_P(1);
	trovella_require_transaction_block("with_tenant");
	trovella_set_context(PG_GETARG_UUID_P(0), user_id, "with_tenant");
	PG_RETURN_VOID();
}

/* Set the user for the rest of the transaction. */
PG_FUNCTION_INFO_V1(trovella_with_user);
Datum
trovella_with_user(PG_FUNCTION_ARGS)
{
	trovella_require_arg(fcinfo, 0, "user_id", "with_user");
	trovella_require_transaction_block("with_user");
	trovella_set_context(NULL, PG_GETARG_UUID_P(0), "with_user");
	PG_RETURN_VOID();
}

/* The tenant of this transaction, or 42501. */
PG_FUNCTION_INFO_V1(trovella_current_tenant);
Datum
trovella_current_tenant(PG_FUNCTION_ARGS)
{
	PG_RETURN_UUID_P(trovella_tenant_or_error());
}

/* The user of this transaction, or 42501. */
PG_FUNCTION_INFO_V1(trovella_current_user_id);
Datum
trovella_current_user_id(PG_FUNCTION_ARGS)
{
	PG_RETURN_UUID_P(trovella_user_or_error());
}

/* (tenant_id, user_id), NULL where unset; never an error. */
PG_FUNCTION_INFO_V1(trovella_current_context);
Datum
trovella_current_context(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	pg_uuid_t  *ids[2];
	Datum		values[2];
	bool		nulls[2];
	int			i;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	ids[0] = palloc(sizeof(pg_uuid_t));
	ids[1] = palloc(sizeof(pg_uuid_t));
	nulls[0] = !trovella_current_tenant_id(ids[0]);
	nulls[1] = !trovella_current_user(ids[1]);
	for (i = 0; i < 2; i++)
		values[i] = nulls[i] ? (Datum) 0 : UUIDPGetDatum(ids[i]);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
