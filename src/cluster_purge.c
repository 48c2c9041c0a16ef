/*
 * cluster_purge.c
 *		A purge's row scope, signed, for the shards of a Citus table.
 *
 * trovella.purge_tenant deletes a distributed table's rows through the
 * coordinator, and Citus deletes them from the shards on the workers, over
 * its own connections: the scope row_scope.c keeps in the coordinator's
 * backend (the tenant and the table whose rows soft delete deletes for good
 * and the audit records not) is not there.  So around each such DELETE the
 * purge also sets trovella.purge_scope with SET LOCAL, which Citus sends to
 * the workers of the transaction (as the signed context, cluster.c), and
 * sets it back to empty once the DELETE is done.  The value is
 *
 *		p1:<tenant>:<table>:<column>:<expiry>:<key id>:<HMAC-SHA256 in hex>
 *
 * the table the Citus table's qualified name and the column the tenant
 * column's name, both in hex (names may hold colons), the expiry in
 * microseconds since 2000 (trovella.signed_context_lifetime from the
 * signing), and the MAC, under the cluster key (cluster_key.c), over these
 * and the current role's and the database's names.
 *
 * A worker accepts it only from SET LOCAL in a transaction block, only if
 * the MAC verifies for the role and database of that session and it has
 * not expired, and only while the tenant is suspended on this node (its
 * copy of trovella.suspended_tenant, a reference table): then, for as long
 * as that SET LOCAL lasts (the transaction, or a savepoint rolled back),
 * the tenant's rows of the placements here of that table are in the
 * purge's scope, by Citus's metadata (row_scope.c), and no other row.  A
 * value that does not verify, or has expired, is no scope and no error
 * (Citus replays the transaction's SET LOCALs also on the connections it
 * opens as another role, as for the signed context); for a tenant that is
 * not suspended it is an error (55000).  Each row is in the scope only
 * while the tenant is still suspended here (the latest snapshot): a
 * transaction that received the scope keeps none past a resume.
 *
 * Why that is as narrow as the purge.  The value can be read by whoever
 * reads the statements Citus sends (citus.log_remote_commands) and replayed
 * on a worker.  It is of use only to the role the purge ran as (the MAC
 * names it): the application role and the table's owner get no scope from
 * it.  That role is one row-level security does not bind, which may delete
 * the tenant's rows anyway: what it gains is to delete that one tenant's
 * rows of that one table without marks or records, while the tenant is
 * suspended (a suspended tenant is one being erased: its rows, history
 * included), in a transaction that received the value before it
 * expired (the expiry is checked then, not per row).  Not another
 * tenant's rows, not another table's, not after a resume or after the
 * purge finished (it lifts the suspension).  The value is not bound to
 * Citus's distributed transaction id: a worker cannot check it, since
 * every role may claim any id there
 * (assign_distributed_transaction_id is Citus's and PUBLIC's), and the
 * coordinator has none yet when it signs (Citus assigns it with the
 * DELETE's first connection).
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "citus.h"
#include "cluster_key.h"
#include "cluster_purge.h"
#include "compat.h"
#include "context.h"
#include "row_scope.h"
#include "suspension.h"

#define PURGE_SCOPE_GUC		"trovella.purge_scope"
#define SCOPE_VERSION		"p1"
#define TABLE_LEN			(NAMEDATALEN * 2 + 8)

/* A verified scope: the check hook's extra for the assign hook. */
typedef struct ScopeExtra
{
	pg_uuid_t	tenant;
	char		table[TABLE_LEN];
	char		column[NAMEDATALEN];
	bool		suspended;		/* checked once received (utility_after) */
} ScopeExtra;

static char *purge_scope = NULL;

/* True while a worker runs a SET LOCAL of the scope. */
static bool receiving = false;

/* The scope the GUC has now (its extra), NULL for none. */
static ScopeExtra *current = NULL;

/* The MAC of one scope for this role and database. */
static bool
scope_mac(const char *tenant, const char *table, const char *column,
		  const char *expiry, const char *key_id, uint8 mac[CLUSTER_MAC_LEN])
{
	const char *parts[8];

	parts[0] = "trovella-purge-scope-" SCOPE_VERSION;
	parts[1] = tenant;
	parts[2] = table;
	parts[3] = column;
	parts[4] = expiry;
	parts[5] = key_id;
	parts[6] = GetUserNameFromId(GetUserId(), false);
	parts[7] = get_database_name(MyDatabaseId);
	return parts[7] != NULL && trovella_cluster_hmac(parts, 8, mac);
}

static char *
hex_text(const char *text)
{
	size_t		len = strlen(text);
	char	   *hex = palloc(len * 2 + 1);

	hex_encode(text, len, hex);
	hex[len * 2] = '\0';
	return hex;
}

/*
 * The purge's DELETE of Citus table relid is about to run (tenant non-NULL),
 * or has run (NULL): set trovella.purge_scope for this transaction's
 * workers, signed, or set it back to empty.  Nothing without Citus or
 * without a cluster key.
 */
void
trovella_cluster_purge_scope_send(const pg_uuid_t *tenant, Oid relid, const char *column)
{
	const char *problem = NULL;
	char	   *tenant_text;
	char	   *table;
	char	   *table_hex;
	char	   *column_hex;
	char		expiry[32];
	uint8		mac[CLUSTER_MAC_LEN];
	char		mac_hex[CLUSTER_MAC_LEN * 2 + 1];

	if (!trovella_cluster_signs())
		return;
	if (tenant == NULL)
	{
		trovella_cluster_set_local(PURGE_SCOPE_GUC, "");
		return;
	}
	if (!trovella_cluster_load_key(&problem))
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("trovella: cannot sign the purge's scope for the Citus workers"),
				 errdetail_internal("%s", problem)));
	tenant_text = DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(tenant)));
	table = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									   get_rel_name(relid));
	table_hex = hex_text(table);
	column_hex = hex_text(column);
	snprintf(expiry, sizeof(expiry), INT64_FORMAT, (int64) trovella_cluster_signature_expiry());
	if (!scope_mac(tenant_text, table, column, expiry, trovella_cluster_key_id(), mac))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("trovella: cannot sign the purge's scope for the Citus workers")));
	hex_encode((const char *) mac, CLUSTER_MAC_LEN, mac_hex);
	mac_hex[CLUSTER_MAC_LEN * 2] = '\0';
	trovella_cluster_set_local(PURGE_SCOPE_GUC,
							   psprintf("%s:%s:%s:%s:%s:%s:%s", SCOPE_VERSION, tenant_text,
										table_hex, column_hex, expiry,
										trovella_cluster_key_id(), mac_hex));
}

/* Decode lower-case hex into a string of at most size - 1 bytes, no NUL inside. */
static bool
decode_name(const char *hex, size_t len, char *out, size_t size)
{
	if (len == 0 || len % 2 != 0 || len / 2 >= size || !trovella_cluster_lower_hex(hex, len))
		return false;
	for (size_t i = 0; i < len / 2; i++)
	{
		int			hi = trovella_hex_digit(hex[2 * i]);
		int			lo = trovella_hex_digit(hex[2 * i + 1]);

		if (hi < 0 || lo < 0 || (hi | lo) == 0)
			return false;
		out[i] = (char) (hi << 4 | lo);
	}
	out[len / 2] = '\0';
	return true;
}

/* What a check hook leaves for a value that gives no scope. */
static bool
no_scope(char **newval, void **extra)
{
	char	   *empty = guc_extra_malloc(1);

	if (empty == NULL)
		return false;
	empty[0] = '\0';
	guc_extra_free(*newval);
	*newval = empty;
	*extra = NULL;
	return true;
}

/*
 * Check hook of trovella.purge_scope: the empty value always (no scope);
 * our own SET LOCAL on the coordinator (no scope here: purge.c set its
 * own); any other value only through a worker's SET LOCAL, as the file's
 * opening comment says.
 */
static bool
check_purge_scope(char **newval, void **extra, GucSource source)
{
	const char *value = *newval;
	const char *field[7];
	size_t		field_len[7];
	int			nfields = 0;
	const char *p;
	const char *problem = NULL;
	char		tenant[64];
	char		expiry[32];
	char		their_key[CLUSTER_KEY_ID_LEN * 2 + 1];
	char	   *end;
	int64		expires;
	uint8		mac[CLUSTER_MAC_LEN];
	uint8		given[CLUSTER_MAC_LEN];
	ScopeExtra	scope;
	ScopeExtra *result;

	*extra = NULL;
	if (value == NULL || value[0] == '\0' || trovella_cluster_signing() || InitializingParallelWorker)
		return true;
	if (!receiving)
	{
		GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
		GUC_check_errmsg("trovella: a purge's scope can only be set with SET LOCAL by a coordinator's Citus connection");
		GUC_check_errhint("trovella.purge_tenant() sets it for the workers of its own DELETE statements.");
		return false;
	}
	if (!trovella_cluster_load_key(&problem))
	{
		GUC_check_errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE);
		GUC_check_errmsg("trovella: this node cannot verify a purge's scope");
		GUC_check_errdetail("%s", problem);
		return false;
	}
	for (p = value; nfields < (int) lengthof(field); nfields++)
	{
		const char *colon = strchr(p, ':');

		field[nfields] = p;
		field_len[nfields] = colon ? (size_t) (colon - p) : strlen(p);
		if (colon == NULL)
			break;
		p = colon + 1;
	}
	if (nfields != (int) lengthof(field) - 1)
		goto malformed;
	memset(&scope, 0, sizeof(scope));
	if (field_len[0] != 2 || memcmp(field[0], SCOPE_VERSION, 2) != 0 ||
		field_len[1] >= sizeof(tenant) || field_len[4] == 0 || field_len[4] >= sizeof(expiry) ||
		field_len[5] != CLUSTER_KEY_ID_LEN * 2 || !trovella_cluster_lower_hex(field[5], field_len[5]) ||
		!trovella_cluster_decode_mac(field[6], field_len[6], given) ||
		!decode_name(field[2], field_len[2], scope.table, sizeof(scope.table)) ||
		!decode_name(field[3], field_len[3], scope.column, sizeof(scope.column)))
		goto malformed;
	memcpy(tenant, field[1], field_len[1]);
	tenant[field_len[1]] = '\0';
	memcpy(expiry, field[4], field_len[4]);
	expiry[field_len[4]] = '\0';
	memcpy(their_key, field[5], field_len[5]);
	their_key[field_len[5]] = '\0';
	errno = 0;
	expires = strtoi64(expiry, &end, 10);
	if (errno != 0 || *end != '\0' || !trovella_parse_uuid(tenant, &scope.tenant))
		goto malformed;

	/* another role, another database, another key, expired: no scope */
	if (!scope_mac(tenant, scope.table, scope.column, expiry, their_key, mac) ||
		timingsafe_bcmp(mac, given, CLUSTER_MAC_LEN) != 0 ||
		expires <= GetCurrentTimestamp())
		return no_scope(newval, extra);

	result = guc_extra_malloc(sizeof(ScopeExtra));
	if (result == NULL)
		return false;
	*result = scope;
	*extra = result;
	return true;

malformed:
	GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
	GUC_check_errmsg("trovella: malformed purge scope");
	return false;
}

/*
 * Assign hook: the scope the GUC now has (also when a SET LOCAL reverts),
 * in force once its tenant was found suspended.
 */
static void
assign_purge_scope(const char *newval, void *extra)
{
	current = (ScopeExtra *) extra;
	if (current != NULL && current->suspended)
		trovella_row_scope_begin_worker(&current->tenant, current->table, current->column,
						trovella_tenant_suspended);
	else
		trovella_row_scope_end_worker();
}

/* Before a utility statement (hooks.c): a worker's SET LOCAL of the scope. */
void
trovella_cluster_purge_utility_before(Node *parsetree, bool *state)
{
	VariableSetStmt *set = (VariableSetStmt *) parsetree;

	*state = false;
	if (!IsA(parsetree, VariableSetStmt) || trovella_cluster_signing() ||
		set->kind != VAR_SET_VALUE || pg_strcasecmp(set->name, PURGE_SCOPE_GUC) != 0)
		return;
	if (!set->is_local)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("trovella: a purge's scope can only be set with SET LOCAL")));
	trovella_require_transaction_block("purge_scope");
	receiving = true;
	*state = true;
}

/* After the statement, whether it succeeded or not: receiving ends. */
void
trovella_cluster_purge_utility_done(bool state)
{
	if (state)
		receiving = false;
}

/* At a (sub)transaction's end, whatever came in between (cluster.c). */
void
trovella_cluster_purge_abort(void)
{
	receiving = false;
}

/* After it succeeded: the scope is in force if its tenant is suspended here. */
void
trovella_cluster_purge_utility_after(bool state)
{
	if (!state || current == NULL || current->suspended)
		return;
	if (!trovella_tenant_suspended(&current->tenant))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("trovella: a purge's scope names a tenant that is not suspended"),
				 errdetail("A purge erases a suspended tenant only; its scope ends with the suspension.")));
	current->suspended = true;
	trovella_row_scope_begin_worker(&current->tenant, current->table, current->column,
					trovella_tenant_suspended);
}

void
ClusterPurgeInit(void)
{
	DefineCustomStringVariable(PURGE_SCOPE_GUC,
							   gettext_noop("The rows a purge deletes, signed by the coordinator, set by Citus on its worker connections."),
							   NULL,
							   &purge_scope,
							   "",
							   PGC_USERSET,
							   GUC_NO_RESET_ALL | GUC_DISALLOW_IN_FILE | GUC_NOT_IN_SAMPLE | GUC_NO_SHOW_ALL,
							   check_purge_scope,
							   assign_purge_scope,
							   NULL);
}
