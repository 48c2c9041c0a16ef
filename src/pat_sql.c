/*
 * pat_sql.c
 *		Personal access tokens: the SQL functions pat_create, pat_verify,
 *		pat_verify_with_tenant, authenticate and pat_is_well_formed, and
 *		the checks of pat_create's arguments.
 *
 * Only a SHA-256 digest of a token is stored, and neither a token nor its
 * digest ever appears in the text of a statement, an error or a log line.
 * pat_list and pat_revoke need no hashing and are PL/pgSQL in the install
 * script.
 *
 * The lookup is token_scan.c's (no statement at all); pat_create, the
 * per-user cap (token_cap.c) and the throttled write of last_used_at
 * (token_touch.c) run saved SPI plans whose only inputs are parameters.
 * None of them is SECURITY DEFINER with SET search_path (that SET clause
 * cost a third of pat_verify's throughput): they run as their caller and
 * switch to the function owner's rights only around a statement, with the
 * search path restricted to the system catalogs (compat.h) and as a
 * restricted operation, the way PostgreSQL's own foreign-key checks run
 * their queries as a table's owner.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"
#include "utils/tuplestore.h"

#include "compat.h"
#include "context.h"
#include "membership.h"
#include "pat.h"
#include "pat_sql.h"
#include "random.h"
#include "sqlarg.h"
#include "statement.h"
#include "token_cap.h"
#include "token_scan.h"
#include "token_touch.h"
#include "ulid_gen.h"

#define PAT_NAME_MAX		100
#define PAT_SCOPES_MAX		32
#define PAT_SCOPE_LEN_MAX	64

static int	pat_max_lifetime = 365 * 24 * 60 * 60;	/* seconds */

/* Saved plans, prepared on first use in each backend. */
static SPIPlanPtr insert_plan = NULL;
static SPIPlanPtr bound_insert_plan = NULL;

void
PatInit(void)
{
	DefineCustomIntVariable("trovella.pat_max_lifetime",
							gettext_noop("Longest lifetime pat_create() accepts for a token."),
							NULL,
							&pat_max_lifetime,
							365 * 24 * 60 * 60,
							60,
							INT_MAX,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL,
							NULL,
							NULL);
}

/* A digest as the bytea the table stores. */
static Datum
digest_datum(const uint8 digest[PG_SHA256_DIGEST_LENGTH])
{
	bytea	   *result = palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);

	SET_VARSIZE(result, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	memcpy(VARDATA(result), digest, PG_SHA256_DIGEST_LENGTH);
	return PointerGetDatum(result);
}

/*
 * Set up the materialized result of pat_verify or authenticate.  When the
 * caller gives the descriptor it expects (a FROM clause and a target list
 * both do), rows are formed with it and no descriptor is returned, which
 * the executor allows: that spares building, copying and freeing one per
 * call.  Otherwise, as InitMaterializedSRF() does.
 */
static void
begin_token_result(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext old;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) || rsinfo->expectedDesc == NULL ||
		!(rsinfo->allowedModes & SFRM_Materialize))
	{
		InitMaterializedSRF(fcinfo, 0);
		return;
	}
	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	rsinfo->setResult = tuplestore_begin_heap((rsinfo->allowedModes & SFRM_Materialize_Random) != 0,
											  false, work_mem);
	rsinfo->setDesc = NULL;
	rsinfo->returnMode = SFRM_Materialize;
	MemoryContextSwitchTo(old);
}

/*
 * Look up a well-formed token and, when it is valid, record its use (at
 * most once per trovella.pat_last_used_interval, as the table's owner).
 */
static bool
lookup_token(FunctionCallInfo fcinfo, text *token, TokenMatch *match)
{
	if (!trovella_token_lookup(fcinfo, token, match))
		return false;
	trovella_token_touch(fcinfo, &match->token_id, match->last_used_at, match->last_used_null);
	return true;
}

/* Prefix, length, alphabet and checksum of a token; no table access. */
PG_FUNCTION_INFO_V1(trovella_pat_is_well_formed);
Datum
trovella_pat_is_well_formed(PG_FUNCTION_ARGS)
{
	text	   *token = PG_GETARG_TEXT_PP(0);

	PG_RETURN_BOOL(pat_is_well_formed(VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token)));
}

/* The token's row when it is valid; no row otherwise, whatever the reason. */
PG_FUNCTION_INFO_V1(trovella_pat_verify);
Datum
trovella_pat_verify(PG_FUNCTION_ARGS)
{
	text	   *token = PG_GETARG_TEXT_PP(0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		well_formed = pat_is_well_formed(VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token));
	TokenMatch	match;

	/*
	 * A malformed token returns no row before even a result descriptor is
	 * built: the executor reads a materialized result without a tuplestore
	 * as an empty set.  This is most of what garbage costs.
	 */
	if (!well_formed && rsinfo != NULL && IsA(rsinfo, ReturnSetInfo) &&
		(rsinfo->allowedModes & SFRM_Materialize))
	{
		rsinfo->returnMode = SFRM_Materialize;
		return (Datum) 0;
	}

	begin_token_result(fcinfo);
	if (well_formed)
		(void) lookup_token(fcinfo, token, &match);
	return (Datum) 0;
}

/*
 * pat_verify, then with_user() for the token's user, and for a token bound
 * to a tenant with_tenant() for that tenant; 28000 if invalid, 42501 if the
 * user is no longer a member of the bound tenant.
 */
PG_FUNCTION_INFO_V1(trovella_authenticate);
Datum
trovella_authenticate(PG_FUNCTION_ARGS)
{
	text	   *token;
	TokenMatch	match;

	trovella_require_transaction_block("authenticate");
	begin_token_result(fcinfo);
	token = PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0);
	if (token == NULL ||
		!pat_is_well_formed(VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token)) ||
		!lookup_token(fcinfo, token, &match))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("trovella: invalid token"),
				 errhint("The token may be mistyped, unknown, revoked or expired; present a valid token or create a new one.")));
	trovella_set_context(NULL, &match.user_id, "authenticate");
	if (match.bound)
		trovella_set_context(&match.tenant_id, NULL, "authenticate");
	return (Datum) 0;
}

static void
invalid_argument(const char *message, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("trovella.pat_create: %s", message),
			 detail ? errdetail_internal("%s", detail) : 0));
}

/*
 * Whether the byte at bytes[i] begins a C1 control character (U+0080 to
 * U+009F) in the database's encoding.  UTF-8 writes them C2 80 to C2 9F;
 * every part of ISO 8859 (LATIN1 to LATIN10, ISO_8859_5 to _8) has them as
 * the bytes 0x80 to 0x9F.  SQL_ASCII labels nothing, and such databases
 * mostly hold UTF-8: a byte there is read as UTF-8 where it continues a
 * UTF-8 sequence, and a byte 0x80 to 0x9F that does not is taken as the ISO
 * 8859 control it would show as.  Other encodings (the Windows code pages,
 * KOI8, the multibyte Asian ones) have printable characters or parts of
 * characters there.  *continuation counts the UTF-8 continuation bytes still
 * expected (SQL_ASCII only).
 */
static bool
is_c1_control(const unsigned char *bytes, size_t len, size_t i, int encoding,
			  int *continuation)
{
	unsigned char b = bytes[i];

	switch (encoding)
	{
		case PG_UTF8:
			return b == 0xC2 && i + 1 < len && bytes[i + 1] >= 0x80 && bytes[i + 1] <= 0x9F;
		case PG_LATIN1:
		case PG_LATIN2:
		case PG_LATIN3:
		case PG_LATIN4:
		case PG_LATIN5:
		case PG_LATIN6:
		case PG_LATIN7:
		case PG_LATIN8:
		case PG_LATIN9:
		case PG_LATIN10:
		case PG_ISO_8859_5:
		case PG_ISO_8859_6:
		case PG_ISO_8859_7:
		case PG_ISO_8859_8:
			return b >= 0x80 && b <= 0x9F;
		case PG_SQL_ASCII:
			if (b >= 0x80 && b <= 0xBF && *continuation > 0)
			{
				(*continuation)--;
				return false;
			}
			*continuation = b >= 0xF0 && b <= 0xF4 ? 3 : b >= 0xE0 && b <= 0xEF ? 2 : b >= 0xC2 && b <= 0xDF ? 1 : 0;
			return (b >= 0x80 && b <= 0x9F) ||
				(b == 0xC2 && i + 1 < len && bytes[i + 1] >= 0x80 && bytes[i + 1] <= 0x9F);
		default:
			return false;
	}
}

/*
 * name: 1 to 100 characters, none of them a control character (a newline or
 * a BEL would forge lines in whatever shows the name).  Characters are
 * counted in the database's encoding (in SQL_ASCII, which has none, a byte
 * is a character, as PostgreSQL counts it).  Server encodings are
 * ASCII-safe, so a byte below 0x80 is always a character of its own: C0
 * controls and DEL are refused in every encoding, the C1 controls where the
 * encoding has them (is_c1_control).
 */
static void
check_name(text *name)
{
	const unsigned char *bytes = (const unsigned char *) VARDATA_ANY(name);
	size_t		len = VARSIZE_ANY_EXHDR(name);
	int			chars = pg_mbstrlen_with_len((const char *) bytes, len);
	int			encoding = GetDatabaseEncoding();
	int			continuation = 0;
	size_t		i;

	if (chars < 1 || chars > PAT_NAME_MAX)
		invalid_argument("name must be 1 to 100 characters", NULL);
	for (i = 0; i < len; i++)
	{
		if (bytes[i] < 0x20 || bytes[i] == 0x7F ||
			is_c1_control(bytes, len, i, encoding, &continuation))
			invalid_argument("name must not contain control characters",
							 "A token's name is shown to people in lists: printable characters only.");
	}
}

/*
 * expires_at: in the future and within trovella.pat_max_lifetime.  A
 * token's validity is always judged at the statement's time, not at the
 * transaction's start: a token that expired a moment ago must not work in a
 * transaction that began before.
 */
static void
check_expiry(TimestampTz expires_at)
{
	TimestampTz now = GetCurrentStatementStartTimestamp();

	if (TIMESTAMP_NOT_FINITE(expires_at) || expires_at <= now)
		invalid_argument("expires_at must be in the future", NULL);
	if (expires_at > TimestampTzPlusMilliseconds(now, (int64) pat_max_lifetime * 1000))
		invalid_argument("expires_at is beyond trovella.pat_max_lifetime",
						 psprintf("Tokens may live at most %d seconds.", pat_max_lifetime));
}

static bool
scope_is_valid(const char *scope, size_t len)
{
	size_t		i;

	if (len < 1 || len > PAT_SCOPE_LEN_MAX || scope[0] < 'a' || scope[0] > 'z')
		return false;
	for (i = 1; i < len; i++)
	{
		char		c = scope[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			  c == '_' || c == '.' || c == ':' || c == '-'))
			return false;
	}
	return true;
}

/*
 * scopes: at most 32, no NULLs, each ^[a-z][a-z0-9_.:-]{0,63}$.  Returns
 * the scopes as stored: a one-dimensional array whose first element is
 * scopes[1], whatever bounds the caller gave ('[5:6]={a,b}' is {a,b}).
 */
static Datum
check_scopes(ArrayType *scopes)
{
	Datum	   *elems;
	bool	   *elem_nulls;
	int			count;
	int			i;

	if (ARR_NDIM(scopes) > 1)
		invalid_argument("scopes must be a one-dimensional array", NULL);
	deconstruct_array(scopes, TEXTOID, -1, false, TYPALIGN_INT, &elems, &elem_nulls, &count);
	if (count > PAT_SCOPES_MAX)
		invalid_argument("at most 32 scopes are allowed", NULL);
	for (i = 0; i < count; i++)
	{
		text	   *scope;

		if (elem_nulls[i])
			invalid_argument("scopes must not contain NULL", NULL);
		scope = DatumGetTextPP(elems[i]);
		if (!scope_is_valid(VARDATA_ANY(scope), VARSIZE_ANY_EXHDR(scope)))
			invalid_argument(psprintf("invalid scope \"%s\"",
									  trovella_quote_value(VARDATA_ANY(scope), VARSIZE_ANY_EXHDR(scope))),
							 "A scope is a lowercase letter followed by up to 63 of a-z, 0-9, _ . : -");
	}
	return PointerGetDatum(construct_array(elems, count, TEXTOID, -1, false, TYPALIGN_INT));
}

PG_FUNCTION_INFO_V1(trovella_pat_create);
Datum
trovella_pat_create(PG_FUNCTION_ARGS)
{
	SpiSection	spi;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	pg_uuid_t	user_id;
	pg_uuid_t  *token_id = palloc(sizeof(pg_uuid_t));
	char		random_part[PAT_RANDOM_LEN];
	char		token[PAT_TOKEN_LEN];
	uint8		bytes[64];
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	size_t		have = 0;
	Oid			argtypes[8] = {UUIDOID, UUIDOID, TEXTOID, TEXTOID, BYTEAOID, TEXTARRAYOID, TIMESTAMPTZOID, UUIDOID};
	Datum		values[8];
	pg_uuid_t  *tenant_id = NULL;
	SPIPlanPtr	plan;
	Datum		result[2];
	bool		result_nulls[2] = {false, false};
	Datum		scopes;
	OwnerSection section;

	if (!trovella_current_user(&user_id))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("trovella: no user context"),
				 errdetail("Tokens belong to a user: pat_create() needs one set in this transaction."),
				 errhint("Run BEGIN; SELECT trovella.with_user(user_id); first.")));
	trovella_require_arg(fcinfo, 0, "name", "pat_create");
	trovella_require_arg(fcinfo, 1, "expires_at", "pat_create");
	trovella_require_arg(fcinfo, 2, "scopes", "pat_create");
	check_name(PG_GETARG_TEXT_PP(0));
	check_expiry(PG_GETARG_TIMESTAMPTZ(1));
	scopes = check_scopes(PG_GETARG_ARRAYTYPE_P(2));
	/* the four-argument form (0.3.0) binds the token to a tenant */
	if (PG_NARGS() == 4)
	{
		trovella_require_arg(fcinfo, 3, "tenant_id", "pat_create");
		tenant_id = PG_GETARG_UUID_P(3);
		if (!trovella_membership_registered())
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("trovella.pat_create: a token is bound to a tenant only with a membership table"),
					 errhint("Register the application's membership table with trovella.use_membership().")));
		trovella_check_membership(tenant_id, &user_id, "pat_create");
	}

	trovella_token_table_here();
	InitMaterializedSRF(fcinfo, 0);

	while (have < PAT_RANDOM_LEN)
	{
		trovella_random_bytes(bytes, sizeof(bytes));
		have += pat_random_chars(bytes, sizeof(bytes), random_part + have, PAT_RANDOM_LEN - have);
	}
	explicit_bzero(bytes, sizeof(bytes));
	pat_format(random_part, token);
	explicit_bzero(random_part, sizeof(random_part));
	trovella_token_hash(token, PAT_TOKEN_LEN, digest);
	trovella_new_ulid(token_id);

	trovella_begin_owner_section(fcinfo, &section);
	trovella_spi_connect(&spi);
	trovella_check_token_cap(&user_id);

	values[0] = UUIDPGetDatum(token_id);
	values[1] = UUIDPGetDatum(&user_id);
	values[2] = PG_GETARG_DATUM(0);
	values[3] = PointerGetDatum(cstring_to_text_with_len(token, PAT_HINT_LEN));
	values[4] = digest_datum(digest);
	values[5] = scopes;
	values[6] = PG_GETARG_DATUM(1);
	explicit_bzero(digest, sizeof(digest));
	if (tenant_id == NULL)
		plan = trovella_keep_plan(&insert_plan,
						 "INSERT INTO trovella.personal_access_token"
						 " (id, user_id, name, token_hint, token_hash, scopes, expires_at)"
						 " VALUES ($1, $2, $3, $4, $5, $6, $7)",
						 7, argtypes);
	else
	{
		values[7] = UUIDPGetDatum(tenant_id);
		plan = trovella_keep_plan(&bound_insert_plan,
						 "INSERT INTO trovella.personal_access_token"
						 " (id, user_id, name, token_hint, token_hash, scopes, expires_at, tenant_id)"
						 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
						 8, argtypes);
	}
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not store a token");
	trovella_spi_finish(&spi);
	trovella_end_owner_section(&section);

	result[0] = UUIDPGetDatum(token_id);
	result[1] = PointerGetDatum(cstring_to_text_with_len(token, PAT_TOKEN_LEN));
	explicit_bzero(token, sizeof(token));
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, result, result_nulls);
	return (Datum) 0;
}

