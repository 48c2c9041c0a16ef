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

/* The constraint that marks the registered member table (membership.c). */
#define MEMBERSHIP_MARKER "trovella_membership"

extern void MembershipInit(void);
extern void trovella_membership_relcache(Oid relid);
extern void trovella_membership_constraint_changed(void);

/*
 * 42501, naming neither, unless user belongs to tenant (or none is
 * registered); 55000 when none is registered but a table is marked as one.
 */
extern void trovella_check_membership(const pg_uuid_t *tenant_id, const pg_uuid_t *user_id,
									  const char *function_name);
extern bool trovella_membership_registered(void);

/*
 * A table carrying the marker constraint where trovella can have put it (a
 * permanent table whose owner may run use_membership), or InvalidOid.
 */
extern Oid	trovella_membership_marked_table(void);
/* The table this node reads memberships from; InvalidOid when none is registered. */
extern Oid	trovella_membership_table(void);
extern bool trovella_member_role(const pg_uuid_t *tenant_id, const pg_uuid_t *user_id,
								 text **role);

/* The registration itself, for use_membership and stop_membership. */
extern Oid	trovella_membership_config_relid(void);
extern void trovella_membership_validate(Oid relid, const char *tenant,
										 const char *user, const char *role);
extern void trovella_membership_mark(Oid relid, bool marked);

#endif							/* TROVELLA_MEMBERSHIP_H */
