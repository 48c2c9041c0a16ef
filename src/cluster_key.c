/*
 * cluster_key.c
 *		The cluster key (trovella.cluster_key_file, the same content on
 *		every node of a Citus cluster): read once per backend, never shown;
 *		HMAC-SHA256 under it; and the SET LOCAL that carries a signed value
 *		to the workers of a transaction through Citus's own propagation.
 *		What is signed, and how a worker checks it, is its callers':
 *		cluster.c (the tenant context), cluster_purge.c (a purge's scope).
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include "common/hmac.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "storage/fd.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "citus.h"
#include "cluster_key.h"
#include "context.h"

#define KEY_ID_LEN			CLUSTER_KEY_ID_LEN
#define MAC_LEN				CLUSTER_MAC_LEN
#define MIN_KEY_LEN			32
#define MAX_KEY_LEN			1024

static char *cluster_key_file = NULL;
static int	signed_context_lifetime = 60;	/* seconds */

/* The key, read from cluster_key_file once per backend. */
static bool key_loaded = false;
static uint8 cluster_key[MAX_KEY_LEN];
static size_t cluster_key_len = 0;
static char key_id[KEY_ID_LEN * 2 + 1];	/* names the key, reveals nothing of it */

/* True while we set a signed value ourselves (trovella_cluster_set_local). */
static bool signing_here = false;

/*
 * Read the key file once.  On failure, *problem says why (never the key) and
 * false is returned: callers in a check hook cannot raise errors.
 */
bool
trovella_cluster_load_key(const char **problem)
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

		if (!trovella_cluster_hmac(parts, 1, id))
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
bool
trovella_cluster_hmac(const char *const *parts, int nparts, uint8 mac[MAC_LEN])
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

/*
 * SET LOCAL name TO value through Citus's utility hook, which sends it to
 * the workers of this transaction (citus.propagate_set_commands, 'local'
 * for this one statement, like a function's SET clause); the check hooks
 * here let it through (trovella_cluster_signing).
 */
void
trovella_cluster_set_local(const char *name, const char *value)
{
	VariableSetStmt *stmt;
	A_Const    *arg;
	PlannedStmt *pstmt;
	int			nest_level;

	stmt = makeNode(VariableSetStmt);
	stmt->kind = VAR_SET_VALUE;
	stmt->name = pstrdup(name);
	stmt->is_local = true;
	arg = makeNode(A_Const);
	arg->val.sval.type = T_String;
	arg->val.sval.sval = pstrdup(value);
	arg->location = -1;
	stmt->args = list_make1(arg);
	pstmt = makeNode(PlannedStmt);
	pstmt->commandType = CMD_UTILITY;
	pstmt->canSetTag = false;
	pstmt->utilityStmt = (Node *) stmt;
	pstmt->stmt_location = -1;

	nest_level = NewGUCNestLevel();
	(void) set_config_option("citus.propagate_set_commands", "local",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	signing_here = true;
	PG_TRY();
	{
		ProcessUtility(pstmt,
					   psprintf("SET LOCAL %s TO %s", name, quote_literal_cstr(value)),
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

/* Whether this backend is running its own SET LOCAL of trovella_cluster_set_local. */
bool
trovella_cluster_signing(void)
{
	return signing_here;
}

/* The id of this node's key (trovella_cluster_load_key first). */
const char *
trovella_cluster_key_id(void)
{
	return key_id;
}

/* Whether text is len hex digits in lower case, as trovella writes them. */
bool
trovella_cluster_lower_hex(const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f')))
			return false;
	return true;
}

/* Decode the MAC's hex digits (lower case only) without raising errors. */
bool
trovella_cluster_decode_mac(const char *hex, size_t len, uint8 mac[MAC_LEN])
{
	if (len != MAC_LEN * 2 || !trovella_cluster_lower_hex(hex, len))
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

/*
 * For trovella.health: whether a cluster key is configured here, and why
 * this node cannot use it (NULL when it can).  Never the key itself.
 */
const char *
trovella_cluster_key_problem(bool *configured)
{
	const char *problem = NULL;

	*configured = cluster_key_file != NULL && cluster_key_file[0] != '\0';
	if (*configured && !trovella_cluster_load_key(&problem))
		return problem;
	return NULL;
}

/* When a value signed now expires: trovella.signed_context_lifetime from now. */
TimestampTz
trovella_cluster_signature_expiry(void)
{
	return GetCurrentTimestamp() + (int64) signed_context_lifetime * USECS_PER_SEC;
}

/* Whether this backend signs for Citus workers: Citus loaded, a key file configured. */
bool
trovella_cluster_signs(void)
{
	return cluster_key_file != NULL && cluster_key_file[0] != '\0' && trovella_citus_loaded();
}

void
ClusterKeyInit(void)
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
}
