/*
 * context.h
 *		The sealed, transaction-scoped tenant and user context (context.c).
 *
 * The context core calls nothing above it.  Modules that must act when a
 * context is set register here from their init function, in the order
 * _PG_init calls them (trovella.c):
 *
 *	checks		run before anything changes, in registration order; one
 *				that raises an error refuses the new context, which then is
 *				not set at all (membership, residue, then suspension);
 *	verified checks	the same for a context verified elsewhere (a
 *				coordinator's signature), which the checks above do not
 *				see again: what may have changed since it was signed
 *				(suspension);
 *	observers	told after each set, also of what it already was (the Citus
 *				signer, which renews its signature so).
 */
#ifndef TROVELLA_CONTEXT_H
#define TROVELLA_CONTEXT_H

#include "postgres.h"

#include "utils/uuid.h"

/*
 * What a context would be once set: the tenant and user it would have
 * (NULL where unknown), and whether it is the transaction's first.
 */
typedef struct ContextProposal
{
	const pg_uuid_t *tenant_id;
	const pg_uuid_t *user_id;
	bool		first_in_transaction;
	const char *function_name;	/* for messages: "with_tenant" */
} ContextProposal;

typedef void (*ContextCheck) (const ContextProposal *proposal);
typedef void (*ContextObserver) (void);

extern void ContextInit(void);
extern void trovella_register_context_check(ContextCheck check);
extern void trovella_register_verified_context_check(ContextCheck check);
extern void trovella_register_context_observer(ContextObserver observer);

/*
 * Set the tenant and/or the user (NULL: keep what is set) for the rest of
 * the transaction: 25000 if sealed to another, then the checks, then the
 * observers.  The caller has checked for a transaction block.
 */
extern void trovella_set_context(const pg_uuid_t *tenant_id, const pg_uuid_t *user_id,
								 const char *function_name);

/*
 * The same for a context verified elsewhere (a coordinator's signature):
 * 25000 if sealed to another, then the verified checks only.
 */
extern void trovella_set_verified_context(const pg_uuid_t *tenant_id,
										  const pg_uuid_t *user_id);

/*
 * Why this transaction has no context although one was offered (a worker
 * refused the signed context): the detail of its fail-closed 42501.
 */
extern void trovella_context_absence(const char *reason);

/* The context, for C callers: false (or 42501) where unset. */
extern bool trovella_current_tenant_id(pg_uuid_t *tenant_id);
extern bool trovella_current_user(pg_uuid_t *user_id);
extern pg_uuid_t *trovella_tenant_or_error(void);
extern pg_uuid_t *trovella_user_or_error(void);

/*
 * Whether this transaction has had a context, even one a rollback to a
 * savepoint has reverted since: what it read may still be around.
 */
extern bool trovella_context_in_transaction(void);

/* 25P01 outside a transaction block: a context lasts one transaction. */
extern void trovella_require_transaction_block(const char *function_name);

/* uuid_out()'s canonical form, parsed without raising errors. */
extern bool trovella_parse_uuid(const char *str, pg_uuid_t *id);
extern int	trovella_hex_digit(char c);

#endif							/* TROVELLA_CONTEXT_H */
