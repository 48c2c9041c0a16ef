/*
 * row_columns.c
 *		The standard columns: created_at, updated_at, created_by and
 *		updated_by, kept by a BEFORE row trigger from the transaction's time
 *		and the sealed context's user (trovella.enable_standard_columns).
 *
 * Whatever the client sends for these columns is overwritten, on INSERT and
 * on UPDATE alike, and an UPDATE keeps created_* from the row it replaces:
 * the user comes from the context, which no setting, role or SECURITY
 * DEFINER function can change, so the columns cannot be forged either.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "context.h"
#include "row_scope.h"
#include "row_columns.h"
#include "row_move.h"

/* The columns, in the order of the values the trigger writes. */
enum
{
	CREATED_AT,
	UPDATED_AT,
	CREATED_BY,
	UPDATED_BY,
	STANDARD_COLUMNS
};

static const char *const standard_column_names[STANDARD_COLUMNS] = {
	"created_at", "updated_at", "created_by", "updated_by"
};
static const Oid standard_column_types[STANDARD_COLUMNS] = {
	TIMESTAMPTZOID, TIMESTAMPTZOID, UUIDOID, UUIDOID
};

/*
 * The trigger's own checks: called by the trigger manager, for each row,
 * before one of the events in allowed (TRIGGER_EVENT_* bits).
 */
void
trovella_check_row_trigger(FunctionCallInfo fcinfo, const char *function_name,
						   bool insert, bool update, bool delete)
{
	TriggerData *trigger = (TriggerData *) fcinfo->context;
	bool		event_ok;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trovella.%s() can only be called as a trigger", function_name)));
	event_ok = (insert && TRIGGER_FIRED_BY_INSERT(trigger->tg_event)) ||
		(update && TRIGGER_FIRED_BY_UPDATE(trigger->tg_event)) ||
		(delete && TRIGGER_FIRED_BY_DELETE(trigger->tg_event));
	if (!TRIGGER_FIRED_FOR_ROW(trigger->tg_event) ||
		!TRIGGER_FIRED_BEFORE(trigger->tg_event) || !event_ok)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trovella.%s() must be fired BEFORE %s FOR EACH ROW", function_name,
						delete ? (insert ? "INSERT OR UPDATE OR DELETE" : "DELETE") :
						"INSERT OR UPDATE")));
}

/*
 * The attribute number of a column the trigger writes, checked against the
 * type it must have: a column dropped or altered after the table was
 * enabled stops every write (fail closed) with what to do.
 */
AttrNumber
trovella_row_column(Relation rel, const char *column, Oid type_oid, const char *enable_function)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	int			attnum = SPI_fnumber(tupdesc, column);

	if (attnum <= 0 || TupleDescAttr(tupdesc, attnum - 1)->atttypid != type_oid)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("trovella: table %s has no column \"%s\" of type %s",
						RelationGetRelationName(rel), column, format_type_be(type_oid)),
				 errdetail("trovella's trigger on the table writes that column."),
				 errhint("Run trovella.%s() on the table again, or drop the trigger with trovella.dis%s().",
						 enable_function, enable_function + 2)));
	return (AttrNumber) attnum;
}

/* The sealed context's user as a Datum; *isnull without one. */
Datum
trovella_context_user_datum(bool *isnull)
{
	pg_uuid_t  *user_id = palloc(sizeof(pg_uuid_t));

	*isnull = !trovella_current_user(user_id);
	return *isnull ? (Datum) 0 : UUIDPGetDatum(user_id);
}

/*
 * standard_columns(): BEFORE INSERT OR UPDATE FOR EACH ROW.  INSERT sets
 * all four columns; UPDATE sets updated_* and copies created_* from the row
 * it replaces.  The INSERT of a row an UPDATE moves to another partition
 * (row_move.c) keeps the columns this trigger set at the UPDATE.
 */
PG_FUNCTION_INFO_V1(trovella_standard_columns);
Datum
trovella_standard_columns(PG_FUNCTION_ARGS)
{
	TriggerData *trigger = (TriggerData *) fcinfo->context;
	Relation	rel;
	HeapTuple	new_row;
	int			columns[STANDARD_COLUMNS];
	Datum		values[STANDARD_COLUMNS];
	bool		nulls[STANDARD_COLUMNS];
	bool		user_null;
	Datum		user_id;
	Datum		now;
	int			i;

	trovella_check_row_trigger(fcinfo, "standard_columns", true, true, false);
	rel = trigger->tg_relation;
	/* a row an UPDATE moves, or one import_tenant restores, keeps its columns */
	if (TRIGGER_FIRED_BY_INSERT(trigger->tg_event) &&
		(trovella_row_scope_row(ROW_SCOPE_IMPORT, rel, trigger->tg_trigtuple) ||
		 trovella_row_move_insert(rel, trigger->tg_trigtuple)))
		return PointerGetDatum(trigger->tg_trigtuple);
	for (i = 0; i < STANDARD_COLUMNS; i++)
		columns[i] = trovella_row_column(rel, standard_column_names[i], standard_column_types[i],
										 "enable_standard_columns");

	now = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	user_id = trovella_context_user_datum(&user_null);
	values[UPDATED_AT] = now;
	nulls[UPDATED_AT] = false;
	values[UPDATED_BY] = user_id;
	nulls[UPDATED_BY] = user_null;
	if (TRIGGER_FIRED_BY_INSERT(trigger->tg_event))
	{
		new_row = trigger->tg_trigtuple;
		values[CREATED_AT] = now;
		nulls[CREATED_AT] = false;
		values[CREATED_BY] = user_id;
		nulls[CREATED_BY] = user_null;
	}
	else
	{
		TupleDesc	tupdesc = RelationGetDescr(rel);

		new_row = trigger->tg_newtuple;
		values[CREATED_AT] = heap_getattr(trigger->tg_trigtuple, columns[CREATED_AT],
										  tupdesc, &nulls[CREATED_AT]);
		values[CREATED_BY] = heap_getattr(trigger->tg_trigtuple, columns[CREATED_BY],
										  tupdesc, &nulls[CREATED_BY]);
	}
	new_row = heap_modify_tuple_by_cols(new_row, RelationGetDescr(rel), STANDARD_COLUMNS,
										columns, values, nulls);
	if (TRIGGER_FIRED_BY_UPDATE(trigger->tg_event))
		trovella_row_move_update(rel, trigger->tg_trigtuple, new_row);
	return PointerGetDatum(new_row);
}
