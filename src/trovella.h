/*
 * trovella.h
 *		What trovella's modules share.
 */
#ifndef TROVELLA_H
#define TROVELLA_H

#include "postgres.h"

#include "fmgr.h"
#include "nodes/nodes.h"
#include "tcop/utility.h"
#include "utils/uuid.h"

#include "compat.h"

/*
 * Pass a utility statement on from a module's ProcessUtility hook: to the
 * hook that module found installed, or to the standard one.
 */
static inline void
trovella_next_ProcessUtility(ProcessUtility_hook_type prev, PlannedStmt *pstmt,
							 const char *queryString, bool readOnlyTree,
							 ProcessUtilityContext context, ParamListInfo params,
							 QueryEnvironment *queryEnv, DestReceiver *dest,
							 QueryCompletion *qc)
{
	if (prev)
		prev(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
}

/* Each module defines its own GUCs; _PG_init calls these. */
extern void TenantInit(void);
extern void IsolationInit(void);
extern void PatInit(void);
extern void ResidueInit(void);
extern void StatsInit(void);
extern void ClusterInit(void);

/* The tenant context, for the PAT functions (tenant.c). */
extern bool trovella_current_user(pg_uuid_t *user_id);
extern bool trovella_current_tenant_id(pg_uuid_t *tenant_id);
extern void trovella_current_context_or_error(pg_uuid_t *tenant_id, pg_uuid_t *user_id);
extern void trovella_set_user(const pg_uuid_t *user_id, const char *function_name);
extern void trovella_set_tenant(const pg_uuid_t *tenant_id, const char *function_name);
extern bool trovella_parse_uuid(const char *str, pg_uuid_t *id);
extern int	trovella_hex_digit(char c);
extern void trovella_set_signed_context(const pg_uuid_t *tenant_id, const pg_uuid_t *user_id);
extern void trovella_require_transaction_block(const char *function_name);
extern void trovella_require_arg(FunctionCallInfo fcinfo, int argno,
								 const char *arg_name, const char *function_name);

/* The caller's identity, saved while a statement runs as the owner (owner.c). */
typedef struct OwnerSection
{
	Oid			saved_userid;
	int			saved_sec_context;
	CatalogSearchPath saved_search_path;
} OwnerSection;

extern void trovella_begin_owner_section(FunctionCallInfo fcinfo, OwnerSection *section);
extern void trovella_end_owner_section(const OwnerSection *section);

/* Membership checks (membership.c). */
extern void MembershipInit(void);
extern void trovella_check_membership(const pg_uuid_t *tenant_id, const pg_uuid_t *user_id,
									  const char *function_name);
extern bool trovella_membership_registered(void);

/* Whether this transaction has had a tenant or user context (tenant.c). */
extern bool trovella_context_in_transaction(void);

/* What a tenant transaction could leave on the connection (residue.c). */
extern void trovella_check_residue_before_context(void);
extern void trovella_note_created_table(Node *parsetree);

/* Citus: the signed context, and Citus's own backends (cluster.c). */
extern void trovella_propagate_context(void);
extern bool trovella_citus_internal_backend(void);
extern Oid	trovella_citus_local_copy(Oid relid);

/* A new monotonic ULID from the current time (ulid_sql.c). */
extern void trovella_new_ulid(pg_uuid_t *id);

/* Quote a user-supplied value for an error message, truncated (ulid_sql.c). */
extern char *trovella_quote_value(const char *value, size_t len);

#endif							/* TROVELLA_H */
