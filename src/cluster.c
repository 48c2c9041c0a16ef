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

#include <sys/stat.h>
#include <unistd.h>

#include "access/xact.h"
#include "access/parallel.h"
#include "commands/dbcommands.h"
#include "common/hmac.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "storage/fd.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "citus.h"
#include "cluster.h"
#include "compat.h"
#include "context.h"

#define SIGNED_CONTEXT_GUC	"trovella.signed_context"
#define SIGNED_VERSION		"v3"
#define KEY_ID_LEN			8	/* bytes of the key id, shown in hex */
#define MAC_LEN				32	/* SHA-256 */
#define MIN_KEY_LEN			32
#define MAX_KEY_LEN			1024

static char *cluster_key_file = NULL;
static int	signed_context_lifetime = 60;	/* seconds */
static char *signed_context = NULL;

/* The key, read from cluster_key_file once per backend. */
static bool key_loaded = false;
static uint8 cluster_key[MAX_KEY_LEN];
static size_t cluster_key_len = 0;
static char key_id[KEY_ID_LEN * 2 + 1];	/* names the key, reveals nothing of it */

/* True while we set the GUC ourselves on the coordinator. */
static bool signing_here = false;

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

static bool compute_hmac(const char *const *parts, int nparts, uint8 mac[MAC_LEN]);

/*
 * Read the key file once.  On failure, *problem says why (never the key) and
 * false is returned: callers in a check hook cannot raise errors.
 */
static bool
load_cluster_key(const char **problem)
{
	FILE	   *file;
	struct stat st;
	size_t		len;

	if (key_loaded)
		return true;
	if (cluster_key_file == NULL || cluster_key_file[0] == '\0')
	{
		*problem = "trovella.cluster_key_file is not set on this node (it needs trovella in shared_preload_libraries)";
		return false;
	}
	file = AllocateFile(cluster_key_file, PG_BINARY_R);
	if (file == NULL)
	{
		*problem = "the cluster key file cannot be opened";
		return false;
	}
	if (fstat(fileno(file), &st) != 0 || !S_ISREG(st.st_mode))
	{
		FreeFile(file);
		*problem = "the cluster key file is not a regular file";
		return false;
	}
	if (st.st_uid != geteuid() || (st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
	{
		FreeFile(file);
		*problem = "the cluster key file must belong to the server's user and be readable by it alone (chmod 600)";
		return false;
	}
	len = fread(cluster_key, 1, sizeof(cluster_key), file);
	FreeFile(file);
	while (len > 0 && (cluster_key[len - 1] == '\n' || cluster_key[len - 1] == '\r' ||
					   cluster_key[len - 1] == ' ' || cluster_key[len - 1] == '\t'))
		len--;
	if (len < MIN_KEY_LEN || len >= sizeof(cluster_key))
	{
		explicit_bzero(cluster_key, sizeof(cluster_key));
		*problem = "the cluster key must be between 32 and 1023 bytes (openssl rand -hex 32)";
		return false;
	}
	cluster_key_len = len;
	{
		const char *parts[1] = {"trovella-key-id"};
		uint8		id[MAC_LEN];

		if (!compute_hmac(parts, 1, id))
		{
			*problem = "the cluster key cannot be used";
			return false;
		}
		hex_encode((const char *) id, KEY_ID_LEN, key_id);
		key_id[KEY_ID_LEN * 2] = '\0';
	}
	key_loaded = true;
	return true;
}

/* HMAC-SHA256 under the cluster key of the parts, each with its NUL. */
static bool
compute_hmac(const char *const *parts, int nparts, uint8 mac[MAC_LEN])
{
	pg_hmac_ctx *ctx;
	bool		ok;

	ctx = pg_hmac_create(PG_SHA256);
	if (ctx == NULL)
		return false;
	ok = pg_hmac_init(ctx, cluster_key, cluster_key_len) == 0;
	/* each part with its terminating NUL, so that no two splits collide */
	for (int i = 0; ok && i < nparts; i++)
		ok = pg_hmac_update(ctx, (const uint8 *) parts[i], strlen(parts[i]) + 1) == 0;
	ok = ok && pg_hmac_final(ctx, mac, MAC_LEN) == 0;
	pg_hmac_free(ctx);
	return ok;
}

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
	return parts[nparts] != NULL && compute_hmac(parts, nparts + 1, mac);
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
	VariableSetStmt *stmt;
	A_Const    *arg;
	PlannedStmt *pstmt;
	int			nest_level;

	if (cluster_key_file == NULL || cluster_key_file[0] == '\0' || !trovella_citus_loaded())
		return;
	if (!load_cluster_key(&problem))
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("trovella: cannot sign the tenant context for the Citus workers"),
				 errdetail_internal("%s", problem)));

	if (trovella_current_tenant_id(&id))
		tenant = uuid_text(&id);
	if (trovella_current_user(&id))
		user = uuid_text(&id);
	snprintf(expiry, sizeof(expiry), INT64_FORMAT,
			 (int64) (GetCurrentTimestamp() + (int64) signed_context_lifetime * USECS_PER_SEC));
	if (!compute_mac(SIGNED_VERSION, tenant, user, expiry, key_id, mac))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("trovella: cannot sign the tenant context for the Citus workers")));
	hex_encode((const char *) mac, MAC_LEN, mac_hex);
	mac_hex[MAC_LEN * 2] = '\0';
	value = psprintf("%s:%s:%s:%s:%s:%s", SIGNED_VERSION, tenant, user, expiry, key_id, mac_hex);

	/* SET LOCAL trovella.signed_context, through Citus's utility hook */
	stmt = makeNode(VariableSetStmt);
	stmt->kind = VAR_SET_VALUE;
	stmt->name = SIGNED_CONTEXT_GUC;
	stmt->is_local = true;
	arg = makeNode(A_Const);
	arg->val.sval.type = T_String;
	arg->val.sval.sval = value;
	arg->location = -1;
	stmt->args = list_make1(arg);
	pstmt = makeNode(PlannedStmt);
	pstmt->commandType = CMD_UTILITY;
	pstmt->canSetTag = false;
	pstmt->utilityStmt = (Node *) stmt;
	pstmt->stmt_location = -1;

	/* like a function's SET clause: propagation on for this statement only */
	nest_level = NewGUCNestLevel();
	(void) set_config_option("citus.propagate_set_commands", "local",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	signing_here = true;
	PG_TRY();
	{
		ProcessUtility(pstmt,
					   psprintf("SET LOCAL %s TO %s", SIGNED_CONTEXT_GUC,
								quote_literal_cstr(value)),
					   false, PROCESS_UTILITY_QUERY, NULL, NULL,
					   None_Receiver, NULL);
	}
	PG_FINALLY();
	{
		signing_here = false;
	}
	PG_END_TRY();
	AtEOXact_GUC(true, nest_level);
}

/* Parse one id of the value: empty means unset. */
static bool
parse_id(const char *text, size_t len, bool *has, pg_uuid_t *id)
{
	*has = len > 0;
	return len == 0 || trovella_parse_uuid(text, id);
}

/* Whether text is len hex digits in lower case, as trovella writes them. */
static bool
lower_hex(const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f')))
			return false;
	return true;
}

/* Decode the MAC's hex digits (lower case only) without raising errors. */
static bool
decode_mac(const char *hex, size_t len, uint8 mac[MAC_LEN])
{
	if (len != MAC_LEN * 2 || !lower_hex(hex, len))
		return false;
	for (int i = 0; i < MAC_LEN; i++)
	{
		int			hi = trovella_hex_digit(hex[2 * i]);
		int			lo = trovella_hex_digit(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		mac[i] = (uint8) (hi << 4 | lo);
	}
	return true;
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
	if (value == NULL || value[0] == '\0' || signing_here || InitializingParallelWorker)
		return true;
	if (!receiving)
	{
		GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
		GUC_check_errmsg("trovella: the signed context can only be set with SET LOCAL by a coordinator's Citus connection");
		GUC_check_errhint("Call trovella.with_tenant() on the coordinator; Citus carries the context to the workers.");
		return false;
	}
	if (!load_cluster_key(&problem))
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
		if (!decode_mac(field[4], field_len[4], given))
			goto malformed;
	}
	else if ((strcmp(version, "v2") == 0 || strcmp(version, "v3") == 0) && nfields == 6)
	{
		if (field_len[4] != KEY_ID_LEN * 2 || !lower_hex(field[4], field_len[4]) ||
			!decode_mac(field[5], field_len[5], given))
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
		if (their_key[0] != '\0' && strcmp(their_key, key_id) != 0)
			snprintf(verified.refusal, sizeof(verified.refusal),
					 "This node's cluster key (key id %s) is not the coordinator's (key id %s): "
					 "every tenant query here fails closed until every node has the same key file.",
					 key_id, their_key);
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
	if (IsA(parsetree, VariableSetStmt) && !signing_here &&
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
}

/* After the statement succeeded: seal the context the check hook verified. */
void
trovella_cluster_utility_after(ClusterUtility *state)
{
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

/*
 * For trovella.health: whether a cluster key is configured here, and why
 * this node cannot use it (NULL when it can).  Never the key itself.
 */
const char *
trovella_cluster_key_problem(bool *configured)
{
	const char *problem = NULL;

	*configured = cluster_key_file != NULL && cluster_key_file[0] != '\0';
	if (*configured && !load_cluster_key(&problem))
		return problem;
	return NULL;
}

void
ClusterInit(void)
{
	/* a PGC_POSTMASTER setting can only come with the preload */
	if (process_shared_preload_libraries_in_progress)
		DefineCustomStringVariable("trovella.cluster_key_file",
								   gettext_noop("File holding the key that signs the tenant context for Citus workers; the same content on every node."),
								   gettext_noop("Empty: no signed context (a single server, or workers that refuse every tenant context)."),
								   &cluster_key_file,
								   "",
								   PGC_POSTMASTER,
								   GUC_SUPERUSER_ONLY,
								   NULL, NULL, NULL);

	DefineCustomIntVariable("trovella.signed_context_lifetime",
							gettext_noop("Seconds for which workers accept a context the coordinator signed."),
							NULL,
							&signed_context_lifetime,
							60, 1, 86400,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

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
