/*
 * membership.h
 *		Membership-checked tenant context (membership.c): MembershipInit
 *		registers the check every context passes; the SQL functions
 *		(membership_sql.c) and token creation use the rest.
 */
#ifndef TROVELLA_MEMBERSHIP_H
#define TROVELLA_MEMBERSHIP_H

#include "postgres.h"

#include "utils/uuid.h"

extern void MembershipInit(void);
extern void trovella_membership_relcache(Oid relid);

/* 42501, naming neither, unless user belongs to tenant (or none is registered). */
extern void trovella_check_membership(const pg_uuid_t *tenant_id, const pg_uuid_t *user_id,
									  const char *function_name);
extern bool trovella_membership_registered(void);
extern bool trovella_member_role(const pg_uuid_t *tenant_id, const pg_uuid_t *user_id,
								 text **role);

/* The registration itself, for use_membership and stop_membership. */
extern Oid	trovella_membership_config_relid(void);
extern void trovella_membership_validate(Oid relid, const char *tenant,
										 const char *user, const char *role);

#endif							/* TROVELLA_MEMBERSHIP_H */
