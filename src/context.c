/*
 * context.c
 *		The context core: the sealed, transaction-scoped tenant and user
 *		context, what current_tenant() reads.
 *
 * The context lives in two custom GUCs, trovella.tenant_id and
 * trovella.user_id, so that PostgreSQL reverts them at the end of the
 * transaction (they are only ever set with GUC_ACTION_LOCAL) and copies them
 * into parallel workers.  Nothing but with_tenant() and with_user() may give
 * them a value: the check hook refuses any non-empty value unless one of
 * those functions is setting it, or a parallel worker is restoring its
 * leader's state.  That covers SET, SET LOCAL, set_config(), ALTER ROLE or
 * DATABASE ... SET, client options, the configuration files and a placeholder
 * set before the library was loaded, for every role including superusers.
 *
 * The seal is kept apart from the GUCs, keyed by the local transaction id:
 * once a transaction has had a tenant (or user), no other one may be set in
 * it, even after ROLLBACK TO SAVEPOINT has reverted the GUC.
 *
 * This file knows nothing of membership, residue, statistics or Citus: those
 * register checks and observers (context.h).  The SQL functions that set and
 * read the context are in context_sql.c.
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/uuid.h"

#include "compat.h"
#include "context.h"

/* One side of the context as the assign hook caches it. */
typedef struct ContextId
{
	bool		is_set;
	pg_uuid_t	id;
} ContextId;

/* Which identity a GUC or a seal is about. */
typedef struct ContextSlot
{
	const char *guc_name;		/* "trovella.tenant_id" */
	const char *what;			/* "tenant", for messages */
	const char *missing_detail; /* why reading it without a context fails */
	char	   *setting;		/* the GUC's string */
	const ContextId *current;	/* parsed by the check hook */
	LocalTransactionId sealed_lxid; /* transaction that sealed it, if any */
	pg_uuid_t	sealed_id;
} ContextSlot;

static ContextSlot tenant_slot = {
	"trovella.tenant_id", "tenant",
	"Rows of tenant-isolated tables are only visible inside a transaction that has called trovella.with_tenant()."
};
static ContextSlot user_slot = {
	"trovella.user_id", "user",
	"The user is only known inside a transaction that has called trovella.with_tenant() with a user, trovella.with_user() or trovella.authenticate()."
};

/* What other modules registered (context.h); filled once, in _PG_init. */
#define MAX_CONTEXT_CALLBACKS 4

static ContextCheck checks[MAX_CONTEXT_CALLBACKS];
static int	num_checks = 0;
static ContextCheck verified_checks[MAX_CONTEXT_CALLBACKS];
static int	num_verified_checks = 0;
static ContextObserver observers[MAX_CONTEXT_CALLBACKS];
static int	num_observers = 0;

/* True only while with_tenant()/with_user() set a GUC. */
static bool setting_from_trovella = false;

int
trovella_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parse uuid_out()'s canonical form without raising errors. */
bool
trovella_parse_uuid(const char *str, pg_uuid_t *id)
{
	int			i = 0;
	const char *p = str;

	while (i < UUID_LEN)
	{
		int			hi,
					lo;

		if (i == 4 || i == 6 || i == 8 || i == 10)
		{
			if (*p != '-')
				return false;
			p++;
		}
		hi = trovella_hex_digit(p[0]);
		lo = (hi < 0) ? -1 : trovella_hex_digit(p[1]);
		if (lo < 0)
			return false;
		id->data[i++] = (unsigned char) (hi << 4 | lo);
		p += 2;
	}
	return *p == '\0';
}

/*
 * Check hook of both GUCs: the empty value (no context) is always allowed,
 * since clearing a context fails closed; any other value only from our own
 * setters or a parallel worker's restore.
 */
static bool
check_context_id(char **newval, void **extra, GucSource source)
{
	ContextId  *parsed;

	parsed = (ContextId *) guc_extra_malloc(sizeof(ContextId));
	if (parsed == NULL)
		return false;
	memset(parsed, 0, sizeof(ContextId));

	if (*newval != NULL && **newval != '\0')
	{
		if (!setting_from_trovella && !InitializingParallelWorker)
		{
			guc_extra_free(parsed);
			GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
			GUC_check_errmsg("trovella: the tenant context can only be set by trovella.with_tenant() or trovella.with_user()");
			GUC_check_errhint("Call trovella.with_tenant(tenant_id, user_id) inside a transaction.");
			return false;
		}
		if (!trovella_parse_uuid(*newval, &parsed->id))
		{
			guc_extra_free(parsed);
			GUC_check_errcode(ERRCODE_INVALID_TEXT_REPRESENTATION);
			GUC_check_errmsg("trovella: invalid context id");
			return false;
		}
		parsed->is_set = true;
	}
	*extra = parsed;
	return true;
}

static void
assign_tenant_id(const char *newval, void *extra)
{
	tenant_slot.current = (const ContextId *) extra;
}

static void
assign_user_id(const char *newval, void *extra)
{
	user_slot.current = (const ContextId *) extra;
}

void
ContextInit(void)
{
	DefineCustomStringVariable("trovella.tenant_id",
							   gettext_noop("Tenant of the current transaction, set only by trovella.with_tenant()."),
							   NULL,
							   &tenant_slot.setting,
							   "",
							   PGC_SUSET,
							   GUC_NO_RESET_ALL | GUC_DISALLOW_IN_FILE | GUC_NOT_IN_SAMPLE,
							   check_context_id,
							   assign_tenant_id,
							   NULL);

	DefineCustomStringVariable("trovella.user_id",
							   gettext_noop("User of the current transaction, set only by trovella.with_tenant() or trovella.with_user()."),
							   NULL,
							   &user_slot.setting,
							   "",
							   PGC_SUSET,
							   GUC_NO_RESET_ALL | GUC_DISALLOW_IN_FILE | GUC_NOT_IN_SAMPLE,
							   check_context_id,
							   assign_user_id,
							   NULL);
}

static bool
slot_is_set(const ContextSlot *slot)
{
	return slot->current != NULL && slot->current->is_set;
}

static bool
slot_is_sealed(const ContextSlot *slot)
{
	/* the invalid id, which a backend also has between transactions, seals nothing */
	return slot->sealed_lxid != InvalidLocalTransactionId &&
		slot->sealed_lxid == TROVELLA_MY_LXID;
}

/* Raise 25000 if the slot is sealed to another id in this transaction. */
static void
check_seal(const ContextSlot *slot, const pg_uuid_t *id, const char *function_name)
{
	if (slot_is_sealed(slot) &&
		memcmp(slot->sealed_id.data, id->data, UUID_LEN) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("trovella.%s: the %s context of this transaction is already set to another %s",
						function_name, slot->what, slot->what),
				 errdetail("A transaction works for one %s only; the context is sealed until it ends.",
						   slot->what),
				 errhint("Commit or roll back, then set the other %s in a new transaction.",
						 slot->what)));
}

/* Set the slot's GUC to id for the rest of the transaction. */
static void
set_slot_guc(ContextSlot *slot, const pg_uuid_t *id)
{
	char	   *value = DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(id)));

	setting_from_trovella = true;
	PG_TRY();
	{
		(void) set_config_option(slot->guc_name, value,
								 PGC_SUSET, PGC_S_SESSION,
								 GUC_ACTION_LOCAL, true, ERROR, false);
	}
	PG_FINALLY();
	{
		setting_from_trovella = false;
	}
	PG_END_TRY();
}

/*
 * Set the slot's GUC for the rest of the transaction and seal it; false when
 * it already held that id.
 */
static bool
apply_context(ContextSlot *slot, const pg_uuid_t *id)
{
	bool		changed = !slot_is_set(slot) ||
		memcmp(slot->current->id.data, id->data, UUID_LEN) != 0;

	if (changed)
		set_slot_guc(slot, id);
	slot->sealed_lxid = TROVELLA_MY_LXID;
	slot->sealed_id = *id;
	return changed;
}
void
trovella_register_context_check(ContextCheck check)
{
	if (num_checks >= MAX_CONTEXT_CALLBACKS)
		elog(ERROR, "too many tenant context checks");
	checks[num_checks++] = check;
}

void
trovella_register_verified_context_check(ContextCheck check)
{
	if (num_verified_checks >= MAX_CONTEXT_CALLBACKS)
		elog(ERROR, "too many verified tenant context checks");
	verified_checks[num_verified_checks++] = check;
}

void
trovella_register_context_observer(ContextObserver observer)
{
	if (num_observers >= MAX_CONTEXT_CALLBACKS)
		elog(ERROR, "too many tenant context observers");
	observers[num_observers++] = observer;
}

/*
 * A context is for a transaction block, or for a transaction of a procedure
 * (or DO block) called at top level, which may end it with COMMIT or
 * ROLLBACK: a nightly job that works tenant by tenant.  A plain statement
 * outside a block, or a function, which cannot commit, is refused.
 */
void
trovella_require_transaction_block(const char *function_name)
{
	if (!IsTransactionBlock() && !SPI_inside_nonatomic_context())
		ereport(ERROR,
				(errcode(ERRCODE_NO_ACTIVE_SQL_TRANSACTION),
				 errmsg("trovella.%s can only be used in transaction blocks",
						function_name),
				 errdetail("The tenant context lasts for one transaction, so that it cannot leak to the next user of a pooled connection."),
				 errhint("Run BEGIN first, and COMMIT when the tenant's work is done.")));
}

/*
 * The context as set for the rest of the transaction.  Both seals are
 * checked before anything changes, then every registered check sees the
 * tenant and user the context would have; observers are told after each
 * set, also of what it already is (which changes nothing else): the Citus
 * signer then renews the signature a long transaction's new worker
 * connections need.
 */
void
trovella_set_context(const pg_uuid_t *tenant_id, const pg_uuid_t *user_id,
					 const char *function_name)
{
	ContextProposal proposal;
	int			i;

	if (tenant_id != NULL)
		check_seal(&tenant_slot, tenant_id, function_name);
	if (user_id != NULL)
		check_seal(&user_slot, user_id, function_name);

	proposal.tenant_id = tenant_id != NULL ? tenant_id
		: slot_is_set(&tenant_slot) ? &tenant_slot.current->id : NULL;
	proposal.user_id = user_id != NULL ? user_id
		: slot_is_set(&user_slot) ? &user_slot.current->id : NULL;
	proposal.first_in_transaction = !trovella_context_in_transaction();
	proposal.function_name = function_name;
	for (i = 0; i < num_checks; i++)
		checks[i] (&proposal);

	if (tenant_id != NULL)
		(void) apply_context(&tenant_slot, tenant_id);
	if (user_id != NULL)
		(void) apply_context(&user_slot, user_id);
	for (i = 0; i < num_observers; i++)
		observers[i] ();
}

/*
 * Seal a context verified elsewhere (on a Citus worker, one a coordinator
 * signed): the same seal and settings as trovella_set_context(), without
 * the checks, which the coordinator made before it signed, and without the
 * observers.  Only the verified checks run: a value is accepted until it
 * expires, in any transaction that presents it, so what may have changed
 * since it was signed (a suspension) is checked again.  Either id may be
 * NULL.
 */
void
trovella_set_verified_context(const pg_uuid_t *tenant_id, const pg_uuid_t *user_id)
{
	ContextProposal proposal;
	int			i;

	if (tenant_id != NULL)
		check_seal(&tenant_slot, tenant_id, "signed_context");
	if (user_id != NULL)
		check_seal(&user_slot, user_id, "signed_context");

	proposal.tenant_id = tenant_id != NULL ? tenant_id
		: slot_is_set(&tenant_slot) ? &tenant_slot.current->id : NULL;
	proposal.user_id = user_id != NULL ? user_id
		: slot_is_set(&user_slot) ? &user_slot.current->id : NULL;
	proposal.first_in_transaction = !trovella_context_in_transaction();
	proposal.function_name = "signed_context";
	for (i = 0; i < num_verified_checks; i++)
		verified_checks[i] (&proposal);

	if (tenant_id != NULL)
		(void) apply_context(&tenant_slot, tenant_id);
	if (user_id != NULL)
		(void) apply_context(&user_slot, user_id);
}

bool
trovella_context_in_transaction(void)
{
	return slot_is_sealed(&tenant_slot) || slot_is_sealed(&user_slot);
}

/* The current tenant, if there is one, for C callers. */
bool
trovella_current_tenant_id(pg_uuid_t *tenant_id)
{
	if (!slot_is_set(&tenant_slot))
		return false;
	*tenant_id = tenant_slot.current->id;
	return true;
}

/* The current user, if there is one, for C callers. */
bool
trovella_current_user(pg_uuid_t *user_id)
{
	if (!slot_is_set(&user_slot))
		return false;
	*user_id = user_slot.current->id;
	return true;
}

/*
 * Why this transaction was offered a context and has none: a Citus
 * worker's refusal of the coordinator's signed context, which then fails
 * closed as any absence does, with the reason in the error's detail.
 */
static struct
{
	LocalTransactionId lxid;
	char		reason[256];
}			absence;

void
trovella_context_absence(const char *reason)
{
	absence.lxid = TROVELLA_MY_LXID;
	strlcpy(absence.reason, reason, sizeof(absence.reason));
}

/* A palloc'd copy of the slot's id, or 42501. */
static pg_uuid_t *
slot_value_or_error(const ContextSlot *slot)
{
	pg_uuid_t  *id;

	if (!slot_is_set(slot) && absence.lxid == TROVELLA_MY_LXID &&
		absence.lxid != InvalidLocalTransactionId)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("trovella: no %s context", slot->what),
				 errdetail_internal("%s", absence.reason),
				 errhint("Call trovella.with_tenant() again on the coordinator to renew the context it signs.")));
	if (!slot_is_set(slot))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("trovella: no %s context", slot->what),
				 errdetail_internal("%s", slot->missing_detail),
				 errhint("Run BEGIN; SELECT trovella.with_tenant(tenant_id, user_id); before the query.")));
	id = palloc(sizeof(pg_uuid_t));
	*id = slot->current->id;
	return id;
}

pg_uuid_t *
trovella_tenant_or_error(void)
{
	return slot_value_or_error(&tenant_slot);
}

pg_uuid_t *
trovella_user_or_error(void)
{
	return slot_value_or_error(&user_slot);
}
