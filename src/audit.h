/*
 * audit.h
 *		The audit trail: one record per audited change (audit.c), sealed in
 *		batches into one hash chain per tenant (audit_seal.c).
 */
#ifndef TROVELLA_AUDIT_H
#define TROVELLA_AUDIT_H

#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "common/sha2.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

/*
 * What a record's hash covers: every column of trovella.audit_history but
 * seq (its place, which the seal's digest covers) and the hash itself.
 */
typedef struct AuditRecord
{
	const pg_uuid_t *tenant_id; /* NULL: no tenant */
	int32		table_id;
	char		operation;		/* I, U, D, T */
	const text *row_key;		/* NULL: none */
	const pg_uuid_t *user_id;	/* NULL: no context user */
	const char *role;
	const char *login_role;
	FullTransactionId xact;
	TimestampTz at;
	Jsonb	   *old;			/* NULL: none */
	Jsonb	   *new;			/* NULL: none */
} AuditRecord;

extern void trovella_audit_record_hash(const AuditRecord *record,
									   uint8 digest[PG_SHA256_DIGEST_LENGTH]);

/* trovella.audit_seq: the records' numbers, and the lock their writers hold. */
extern Oid	trovella_audit_sequence(void);

/*
 * A record's number: the node's Citus group in the top 16 bits, its own
 * sequence's number below (a single node, group 0: the sequence's number).
 */
#define AUDIT_GROUP_SHIFT 48
#define AUDIT_NUMBER(group, n) (((int64) (group) << AUDIT_GROUP_SHIFT) | (n))
#define AUDIT_GROUP_OF(number) ((int32) ((number) >> AUDIT_GROUP_SHIFT))

/* Who acts, what a client cannot set: the context's user, the roles, the transaction, the time. */
extern void trovella_audit_attribute(AuditRecord *record, pg_uuid_t *user);

/* On Citus: 0A000 for a table whose shards would not record on their own node (audit_citus.c). */
extern void trovella_audit_refuse_citus_placing(Oid relid);

/* On a Citus worker: a shard's registration, from its trigger's arguments (audit_citus.c). */
extern bool trovella_audit_shard_registration(Trigger *trigger, Oid table, int32 *table_id);

/* On a Citus worker, by hand: a shard left not recording, or truncated, refused (55000). */
extern void trovella_audit_refuse_shard_gap(Oid relid);
extern void trovella_audit_refuse_shard_truncate(Relation rel);

/*
 * On Citus (audit_seal_citus.c), connected to SPI as the extension's owner:
 * seal this node's placements of the history, the coordinator's records up
 * to coordinator_upto; have every worker do so.  Each returns how many
 * records it sealed.
 */
extern int64 trovella_audit_seal_placements(int64 coordinator_upto);
extern int64 trovella_audit_seal_workers(int64 coordinator_upto);

/* While enable_audit makes its triggers: audit_watch leaves them to its own record. */
extern bool trovella_audit_unwatched;

/*
 * A change of whether a table is recorded (its triggers enabled, disabled,
 * dropped, made; audit_watch.c): a record of no tenant, operation 'A'.
 */
extern void trovella_audit_record_status(FunctionCallInfo fcinfo, Oid relid, const char *command);

/*
 * The row's columns that include marks (NULL: all) as jsonb, the value
 * to_jsonb makes of a row of them, from values and nulls as
 * heap_deform_tuple gives them (audit_jsonb.c).
 */
extern Jsonb *trovella_audit_jsonb(Relation rel, const Datum *values,
								   const bool *nulls, const bool *include);
extern void trovella_audit_jsonb_relcache(Oid relid);

/* Write a record, numbered, with its hash (audit_store.c). */
extern void trovella_audit_store(FunctionCallInfo fcinfo, const AuditRecord *record);
extern void trovella_audit_store_forget(Oid relid);

/* Forget what is cached of a relation (the relation cache dropped it). */
extern void trovella_audit_relcache(Oid relid);

/*
 * Through Citus's conversions (audit_convert.c): relations whose cache was
 * invalidated, judged at pre-commit (an audited table sharded apart from
 * the history is refused); registrations whose table was dropped, which a
 * conversion's new table takes over when renamed to its name; the GUC
 * level around a partition added to an audited distributed table.
 */
extern void trovella_audit_note_relation(Oid relid);
extern void trovella_audit_note_forgotten(int32 table_id, Oid relid);
extern void trovella_audit_xact(XactEvent event);
extern bool trovella_audit_adopt(FunctionCallInfo fcinfo, Oid relid);
extern int	trovella_audit_utility_before(Node *stmt);
extern void trovella_audit_utility_after(int level);

#endif							/* TROVELLA_AUDIT_H */
