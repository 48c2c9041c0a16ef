/*
 * cluster.c
 *		trovella on a Citus cluster: the signed context.
 *
 * Signed context.  A worker cannot tell the coordinator's connection from a
 * client's: Citus connects as the same role, and anyone can set its
 * application name.  So when Citus is loaded and a cluster key is configured
 * (trovella.cluster_key_file, the same file content on every node), every
 * change of the context also sets trovella.signed_context with SET LOCAL, a
 * statement Citus replays on each worker connection of the transaction
 * (citus.propagate_set_commands, which we turn to 'local' around that one
 * statement).  The value is
 *
 *		v3:<tenant>:<user>:<expiry>:<key id>:<HMAC-SHA256 in hex>
 *
 * with either id empty when unset, the expiry in microseconds since 2000,
 * the key id an HMAC of a constant under the key (it names the key, so that
 * a node with another key can say so, and reveals nothing of it), both hex
 * in lower case only, and the MAC over the version, the ids, the expiry,
 * the key id, the current role's name and the database's name.  The value
 * is the whole context the coordinator checked: a worker seals exactly
 * that pair, and refuses a value that names less than the transaction
 * already has (a tenant-only value and a user-only one never combine into
 * a pair nobody checked).  Workers also take 0.4.0's v2, whose MAC does
 * not cover the key id, and 0.3.0's v1, without the key id, so that they
 * can be upgraded before the coordinator.  Each call of
 * with_tenant(), with_user() or authenticate() signs anew, also when it
 * sets what is already set: that renews the expiry for the connections
 * Citus opens later in a long transaction.
 *
 * A worker accepts it only from SET LOCAL in a transaction block, only if
 * the MAC verifies (in constant time) for the role and database of that
 * session and the expiry has not passed, and then seals the context exactly
 * as with_tenant() would.  A value that does not verify, or has expired,
 * leaves the session without a context (see check_signed_context for why
 * that is not an error), and says why in the fail-closed error of a tenant
 * query where that helps; a malformed one is an error.  Any other way of
 * setting it (set_config(), SET, ALTER ROLE ... SET, client options) is
 * refused.
 *
 * The policies of Citus's shard placements are placement.c's.
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/parallel.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "citus.h"
#include "cluster.h"
#include "cluster_purge.h"
#include "cluster_key.h"
#include "compat.h"
#include "context.h"

#define SIGNED_CONTEXT_GUC	"trovella.signed_context"
#define SIGNED_VERSION		"v3"
#define KEY_ID_LEN			CLUSTER_KEY_ID_LEN
#define MAC_LEN				CLUSTER_MAC_LEN

static char *signed_context = NULL;

/* True while a worker runs a SET LOCAL of the signed context. */
static bool receiving = false;

/* What the check hook verified for the SET LOCAL being run. */
static struct
{
	bool		valid;
	bool		has_tenant;
	bool		has_user;
	pg_uuid_t	tenant_id;
	pg_uuid_t	user_id;
	char		refusal[200];	/* why a signed value gives no context */
}			verified;

/* The MAC of one context for this role and database: v3 with the key id, v1 and v2 without. */
static bool
compute_mac(const char *version, const char *tenant, const char *user,
			const char *expiry, const char *signed_key_id, uint8 mac[MAC_LEN])
{
	const char *parts[7];
	int			nparts = 0;

	parts[nparts++] = psprintf("trovella-context-%s", version);
	parts[nparts++] = tenant;
	parts[nparts++] = user;
	parts[nparts++] = expiry;
	if (signed_key_id != NULL)
		parts[nparts++] = signed_key_id;
	parts[nparts++] = GetUserNameFromId(GetUserId(), false);
	parts[nparts] = get_database_name(MyDatabaseId);
	return parts[nparts] != NULL && trovella_cluster_hmac(parts, nparts + 1, mac);
}

static char *
uuid_text(const pg_uuid_t *id)
{
	return DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(id)));
}

/*
 * After with_tenant(), with_user() or authenticate() set the context (also
 * to what it already was, which renews the signature's expiry):
 * have Citus carry it, signed, to the workers of this transaction.  Nothing
 * without Citus or without a key, which keeps a single server as it was.
 */
static void
propagate_context(void)
{
	pg_uuid_t	id;
	const char *tenant = "";
	const char *user = "";
	const char *problem = NULL;
	char		expiry[32];
	uint8		mac[MAC_LEN];
	char		mac_hex[MAC_LEN * 2 + 1];
	char	   *value;

	if (!trovella_cluster_signs())
		return;
	if (!trovella_cluster_load_key(&problem))
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("trovella: cannot sign the tenant context for the Citus workers"),
				 errdetail_internal("%s", problem)));

	if (trovella_current_tenant_id(&id))
		tenant = uuid_text(&id);
	if (trovella_current_user(&id))
		user = uuid_text(&id);
	snprintf(expiry, sizeof(expiry), INT64_FORMAT,
			 (int64) trovella_cluster_signature_expiry());
	if (!compute_mac(SIGNED_VERSION, tenant, user, expiry, trovella_cluster_key_id(), mac))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("trovella: cannot sign the tenant context for the Citus workers")));
	hex_encode((const char *) mac, MAC_LEN, mac_hex);
	mac_hex[MAC_LEN * 2] = '\0';
	value = psprintf("%s:%s:%s:%s:%s:%s", SIGNED_VERSION, tenant, user, expiry, trovella_cluster_key_id(), mac_hex);

	trovella_cluster_set_local(SIGNED_CONTEXT_GUC, value);
}

/* Parse one id of the value: empty means unset. */
static bool
parse_id(const char *text, size_t len, bool *has, pg_uuid_t *id)
{
	*has = len > 0;
	return len == 0 || trovella_parse_uuid(text, id);
}

/* The value a check hook leaves for a signed context that gives none. */
static bool
no_context(char **newval)
{
	char	   *empty = guc_extra_malloc(1);

	if (empty == NULL)
		return false;
	empty[0] = '\0';
	guc_extra_free(*newval);
	*newval = empty;
	return true;
}

/*
 * Check hook of trovella.signed_context.  The empty value is always allowed
 * (it is no context).  Any other value only through a worker's SET LOCAL,
 * and only if it verifies; what it verified is left in "verified" for the
 * utility hook to seal.  A value that does not verify, or has expired, is
 * no context (see below), and the reason, where it helps, becomes the
 * detail of the fail-closed error a tenant query then gets.
 */
static bool
check_signed_context(char **newval, void **extra, GucSource source)
{
	const char *value = *newval;
	const char *field[6];
	size_t		field_len[6];
	int			nfields = 0;
	const char *p;
	const char *problem = NULL;
	char		version[4];
	char		tenant[64];
	char		user[64];
	char		expiry[32];
	char		their_key[KEY_ID_LEN * 2 + 1] = "";
	char	   *end;
	int64		expires;
	uint8		mac[MAC_LEN];
	uint8		given[MAC_LEN];

	verified.valid = false;
	verified.refusal[0] = '\0';
	if (value == NULL || value[0] == '\0' || trovella_cluster_signing() || InitializingParallelWorker)
		return true;
	if (!receiving)
	{
		GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
		GUC_check_errmsg("trovella: the signed context can only be set with SET LOCAL by a coordinator's Citus connection");
		GUC_check_errhint("Call trovella.with_tenant() on the coordinator; Citus carries the context to the workers.");
		return false;
	}
	if (!trovella_cluster_load_key(&problem))
	{
		GUC_check_errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE);
		GUC_check_errmsg("trovella: this node cannot verify a signed context");
		GUC_check_errdetail("%s", problem);
		return false;
	}

	/*
	 * v3:<tenant>:<user>:<expiry>:<key id>:<mac>, 0.4.0's v2 of the same
	 * form (its MAC without the key id), and the v1 of 0.3.0's coordinators,
	 * without the key id: v1:<tenant>:<user>:<expiry>:<mac>
	 */
	for (p = value; nfields < (int) lengthof(field); nfields++)
	{
		const char *colon = strchr(p, ':');

		field[nfields] = p;
		field_len[nfields] = colon ? (size_t) (colon - p) : strlen(p);
		if (colon == NULL)
			break;
		p = colon + 1;
	}
	if (nfields == (int) lengthof(field))
		goto malformed;			/* a colon after the sixth field */
	nfields++;
	if (field_len[0] != 2 || field_len[1] >= sizeof(tenant) || field_len[2] >= sizeof(user) ||
		field_len[3] == 0 || field_len[3] >= sizeof(expiry))
		goto malformed;
	memcpy(version, field[0], 2);
	version[2] = '\0';
	if (strcmp(version, "v1") == 0 && nfields == 5)
	{
		if (!trovella_cluster_decode_mac(field[4], field_len[4], given))
			goto malformed;
	}
	else if ((strcmp(version, "v2") == 0 || strcmp(version, "v3") == 0) && nfields == 6)
	{
		if (field_len[4] != KEY_ID_LEN * 2 || !trovella_cluster_lower_hex(field[4], field_len[4]) ||
			!trovella_cluster_decode_mac(field[5], field_len[5], given))
			goto malformed;
		memcpy(their_key, field[4], KEY_ID_LEN * 2);
		their_key[KEY_ID_LEN * 2] = '\0';
	}
	else
		goto malformed;
	memcpy(tenant, field[1], field_len[1]);
	tenant[field_len[1]] = '\0';
	memcpy(user, field[2], field_len[2]);
	user[field_len[2]] = '\0';
	memcpy(expiry, field[3], field_len[3]);
	expiry[field_len[3]] = '\0';
	errno = 0;
	expires = strtoi64(expiry, &end, 10);
	if (errno != 0 || *end != '\0' ||
		!parse_id(tenant, field_len[1], &verified.has_tenant, &verified.tenant_id) ||
		!parse_id(user, field_len[2], &verified.has_user, &verified.user_id) ||
		(!verified.has_tenant && !verified.has_user))
		goto malformed;

	if (!compute_mac(version, tenant, user, expiry,
					 strcmp(version, "v3") == 0 ? their_key : NULL, mac) ||
		timingsafe_bcmp(mac, given, MAC_LEN) != 0)
	{
		/*
		 * Not signed for this role and database (or not by this cluster):
		 * no context, and no error.  Citus replays the transaction's SET
		 * LOCALs on every connection it opens, also on those it opens as
		 * another role (for a SECURITY DEFINER function, or trovella's own
		 * token functions, which run as the token table's owner); failing
		 * them would fail legitimate work, and no context fails closed.
		 * Only a coordinator with another key is worth saying so.
		 */
		if (their_key[0] != '\0' && strcmp(their_key, trovella_cluster_key_id()) != 0)
			snprintf(verified.refusal, sizeof(verified.refusal),
					 "This node's cluster key (key id %s) is not the coordinator's (key id %s): "
					 "every tenant query here fails closed until every node has the same key file.",
					 trovella_cluster_key_id(), their_key);
		return no_context(newval);
	}
	if (expires <= GetCurrentTimestamp())
	{
		/*
		 * Expired: no context either, rather than an error in the middle of
		 * Citus opening a connection, which a ROLLBACK TO SAVEPOINT then
		 * cannot undo; the query fails closed, saying why.
		 */
		snprintf(verified.refusal, sizeof(verified.refusal),
				 "The context the coordinator signed expired " INT64_FORMAT " ms before this node received it "
				 "(trovella.signed_context_lifetime); check the nodes' clocks.",
				 (GetCurrentTimestamp() - expires) / 1000);
		return no_context(newval);
	}
	verified.valid = true;
	return true;

malformed:
	GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
	GUC_check_errmsg("trovella: malformed signed context");
	return false;
}

/*
 * Before a utility statement (hooks.c): start receiving a worker's SET LOCAL
 * trovella.signed_context, which the check hook verifies.
 */
void
trovella_cluster_utility_before(Node *parsetree, ClusterUtility *state)
{
	state->receiving = false;
	trovella_cluster_purge_utility_before(parsetree, &state->scope);
	if (IsA(parsetree, VariableSetStmt) && !trovella_cluster_signing() &&
		((VariableSetStmt *) parsetree)->kind == VAR_SET_VALUE &&
		pg_strcasecmp(((VariableSetStmt *) parsetree)->name, SIGNED_CONTEXT_GUC) == 0)
	{
		if (!((VariableSetStmt *) parsetree)->is_local)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("trovella: the signed context can only be set with SET LOCAL")));
		trovella_require_transaction_block("signed_context");
		receiving = true;
		verified.valid = false;
		state->receiving = true;
	}
}

/* After the statement, whether it succeeded or not: receiving ends. */
void
trovella_cluster_utility_done(ClusterUtility *state)
{
	if (state->receiving)
		receiving = false;
	trovella_cluster_purge_utility_done(state->scope);
}

/*
 * At a transaction's or subtransaction's end (hooks.c): receiving ends too,
 * where an error came between its start and the statement (after which
 * trovella_cluster_utility_done() never runs): a later set_config() of the
 * context would otherwise pass for the SET LOCAL being received.
 */
void
trovella_cluster_abort(void)
{
	receiving = false;
	trovella_cluster_purge_abort();
}

/* After the statement succeeded: seal the context the check hook verified. */
void
trovella_cluster_utility_after(ClusterUtility *state)
{
	trovella_cluster_purge_utility_after(state->scope);
	if (state->receiving && verified.refusal[0] != '\0')
	{
		trovella_context_absence(verified.refusal);
		verified.refusal[0] = '\0';
	}
	if (state->receiving && verified.valid)
	{
		pg_uuid_t	current;

		verified.valid = false;

		/*
		 * The whole context the coordinator checked: it may renew or
		 * complete this transaction's (Citus replays the coordinator's
		 * growing values in order), never name less, which would pair a
		 * tenant and a user signed apart.
		 */
		if ((!verified.has_tenant && trovella_current_tenant_id(&current)) ||
			(!verified.has_user && trovella_current_user(&current)))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("trovella: a signed context must name the whole context of the transaction"),
					 errdetail("This transaction already has a %s that the signed value does not name.",
							   verified.has_tenant ? "user" : "tenant"),
					 errhint("The coordinator signs the tenant and the user it checked as one value; call trovella.with_tenant() there.")));
		trovella_set_verified_context(verified.has_tenant ? &verified.tenant_id : NULL,
									  verified.has_user ? &verified.user_id : NULL);
	}
}

void
ClusterInit(void)
{
	DefineCustomStringVariable(SIGNED_CONTEXT_GUC,
							   gettext_noop("Tenant context signed by a Citus coordinator, set by Citus on its worker connections."),
							   NULL,
							   &signed_context,
							   "",
							   PGC_USERSET,
							   GUC_NO_RESET_ALL | GUC_DISALLOW_IN_FILE | GUC_NOT_IN_SAMPLE | GUC_NO_SHOW_ALL,
							   check_signed_context,
							   NULL, NULL);

	trovella_register_context_observer(propagate_context);
}
