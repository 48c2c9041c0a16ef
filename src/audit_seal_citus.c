/*
 * audit_seal_citus.c
 *		Sealing a history Citus distributes by tenant: each node seals the
 *		placements of the history it holds, through the shard relations
 *		themselves (the distributed tables would send the statements on),
 *		and the coordinator has every worker do so.
 *
 * A record's number carries its node's group (AUDIT_NUMBER), and each
 * group's numbers increase; a seal names, per group, the upto of the
 * records it covers (trovella.audit_seal.uptos; audit_chain.c).  On node
 * N, of group G, a tenant's records still to seal are final:
 *   - of group G, up to the number N's sequence gave before the sealer
 *     waited for its writers (trovella_audit_final_number);
 *   - of another worker's group: they came with a shard move that Citus
 *     completed (only placements Citus lists active on N are sealed, so
 *     not one being copied here), after their writers ended;
 *   - of the coordinator's group (0: what it writes into the shards, a
 *     TRUNCATE's record), up to the number the coordinator's own wait
 *     made final, which it hands to each worker; a worker sealing alone
 *     leaves them to the coordinator's next seal.
 * A tenant moved back to a node finds that node's sequence only grown:
 * its new numbers are above the uptos of its earlier seals there.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "executor/spi.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

#include "audit.h"
#include "audit_chain.h"
#include "citus.h"

/* One placement of the history on this node, with its seals' placement. */
typedef struct SealPlacement
{
	int64		history_shard;
	int64		seal_shard;
	Oid			seals;
} SealPlacement;

/* A tenant's seal being made: its digest so far and the upto of each group. */
typedef struct PendingSeal
{
	pg_uuid_t	tenant;
	int64		seal_no;
	pg_cryptohash_ctx *ctx;
	int64		records;
	int			nuptos;
	int			allocated;
	int64	   *uptos;
} PendingSeal;

static Oid
shard_relation(const char *table, int64 shard)
{
	char	   *name = psprintf("%s_" INT64_FORMAT, table, shard);
	Oid			relid = get_relname_relid(name, get_namespace_oid("trovella", false));

	if (!OidIsValid(relid))
		elog(ERROR, "the placement trovella.%s of a Citus table is missing", name);
	return relid;
}

/*
 * The history's placements Citus lists active on this node, with the
 * placements of the seals' co-located shards.
 */
static SealPlacement *
active_placements(int *n)
{
	SealPlacement *placements;

	if (SPI_execute("SELECT h.shardid, z.shardid FROM pg_catalog.pg_dist_shard h"
					" JOIN pg_catalog.pg_dist_placement hp ON hp.shardid OPERATOR(pg_catalog.=) h.shardid"
					" JOIN pg_catalog.pg_dist_shard z ON z.logicalrelid OPERATOR(pg_catalog.=) 'trovella.audit_seal'::pg_catalog.regclass"
					"  AND z.shardminvalue OPERATOR(pg_catalog.=) h.shardminvalue"
					" JOIN pg_catalog.pg_dist_placement zp ON zp.shardid OPERATOR(pg_catalog.=) z.shardid"
					"  AND zp.groupid OPERATOR(pg_catalog.=) hp.groupid AND zp.shardstate OPERATOR(pg_catalog.=) 1"
					" WHERE h.logicalrelid OPERATOR(pg_catalog.=) 'trovella.audit_history'::pg_catalog.regclass"
					" AND hp.shardstate OPERATOR(pg_catalog.=) 1"
					" AND hp.groupid OPERATOR(pg_catalog.=) (SELECT g.groupid FROM pg_catalog.pg_dist_local_group g)"
					" ORDER BY 1", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read Citus's metadata");
	*n = (int) SPI_processed;
	placements = palloc0(sizeof(SealPlacement) * (*n + 1));
	for (int i = 0; i < *n; i++)
	{
		bool		isnull;

		placements[i].history_shard = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		placements[i].seal_shard = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
	}
	return placements;
}

/* The tenant's last seal in the placement: its number (0: none) and digest. */
static int64
last_seal(const SealPlacement *p, const pg_uuid_t *tenant, bytea **digest)
{
	Oid			argtypes[1] = {UUIDOID};
	Datum		values[1] = {UUIDPGetDatum(tenant)};
	bool		isnull;

	*digest = NULL;
	if (SPI_execute_with_args(psprintf("SELECT s.seal_no, s.digest FROM trovella.audit_seal_" INT64_FORMAT " s"
									   " WHERE s.tenant_id OPERATOR(pg_catalog.=) $1"
									   " ORDER BY s.seal_no DESC LIMIT 1", p->seal_shard),
							  1, argtypes, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read trovella.audit_seal");
	if (SPI_processed == 0)
		return 0;
	*digest = DatumGetByteaPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* A tenant's next seal, after its last one in the placement. */
static void
begin_seal(const SealPlacement *p, const pg_uuid_t *tenant, PendingSeal *s)
{
	bytea	   *previous;

	s->tenant = *tenant;
	s->seal_no = last_seal(p, tenant, &previous) + 1;
	s->ctx = trovella_audit_digest_begin(previous);
	s->records = 0;
	s->nuptos = 0;
}

static void
store_seal(const SealPlacement *p, PendingSeal *s)
{
	Oid			argtypes[6] = {UUIDOID, INT8OID, INT8OID, INT8OID, BYTEAOID, INT8ARRAYOID};
	Datum		values[6];
	Datum	   *uptos = palloc(sizeof(Datum) * s->nuptos);
	int			level;

	for (int i = 0; i < s->nuptos; i++)
		uptos[i] = Int64GetDatum(s->uptos[i]);
	values[0] = UUIDPGetDatum(&s->tenant);
	values[1] = Int64GetDatum(s->seal_no);
	values[2] = Int64GetDatum(s->uptos[s->nuptos - 1]);
	values[3] = Int64GetDatum(s->records);
	values[4] = PointerGetDatum(trovella_audit_digest_end(s->ctx, s->uptos, s->nuptos, s->records));
	values[5] = PointerGetDatum(construct_array(uptos, s->nuptos, INT8OID, 8, true, TYPALIGN_DOUBLE));
	s->ctx = NULL;
	/* Citus lets its shards be written directly only so */
	level = NewGUCNestLevel();
	(void) set_config_option("citus.enable_manual_changes_to_shards", "on", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	if (SPI_execute_with_args(psprintf("INSERT INTO trovella.audit_seal_" INT64_FORMAT
									   " (tenant_id, seal_no, upto, records, digest, uptos)"
									   " VALUES ($1, $2, $3, $4, $5, $6)", p->seal_shard),
							  6, argtypes, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not store a seal");
	AtEOXact_GUC(true, level);
}

/*
 * Seal one placement: each tenant's records of each group above the
 * group's upto in the tenant's seals, and final (see above).
 */
static int64
seal_placement(const SealPlacement *p, int32 group, int64 own_upto, int64 coordinator_upto)
{
	Oid			argtypes[3] = {INT4OID, INT8OID, INT8OID};
	Datum		values[3];
	Portal		portal;
	PendingSeal s;
	int64		total = 0;

	values[0] = Int32GetDatum(group);
	values[1] = Int64GetDatum(own_upto);
	values[2] = Int64GetDatum(coordinator_upto);
	memset(&s, 0, sizeof(s));
	portal = SPI_cursor_open_with_args(NULL,
									   psprintf("WITH sealed AS (SELECT s.tenant_id, (u OPERATOR(pg_catalog.>>) %d) AS g, pg_catalog.max(u) AS upto"
												"  FROM trovella.audit_seal_" INT64_FORMAT " s,"
												"  pg_catalog.unnest(COALESCE(s.uptos, ARRAY[s.upto])) u GROUP BY 1, 2)"
												" SELECT h.tenant_id, h.seq, h.hash FROM trovella.audit_history_" INT64_FORMAT " h"
												" LEFT JOIN sealed x ON x.tenant_id OPERATOR(pg_catalog.=) h.tenant_id"
												"  AND x.g OPERATOR(pg_catalog.=) (h.seq OPERATOR(pg_catalog.>>) %d)"
												" WHERE h.seq OPERATOR(pg_catalog.>) COALESCE(x.upto, 0)"
												" AND CASE (h.seq OPERATOR(pg_catalog.>>) %d)"
												"  WHEN $1 THEN h.seq OPERATOR(pg_catalog.<=) $2"
												"  WHEN 0 THEN h.seq OPERATOR(pg_catalog.<=) $3 ELSE true END"
												" ORDER BY h.tenant_id, h.seq",
												AUDIT_GROUP_SHIFT, p->seal_shard, p->history_shard,
												AUDIT_GROUP_SHIFT, AUDIT_GROUP_SHIFT),
									   3, argtypes, values, NULL, false, 0);
	for (;;)
	{
		SPITupleTable *batch;
		uint64		n;

		SPI_cursor_fetch(portal, true, 1000);
		batch = SPI_tuptable;
		n = SPI_processed;
		if (n == 0)
			break;
		for (uint64 i = 0; i < n; i++)
		{
			bool		isnull;
			pg_uuid_t  *tenant = DatumGetUUIDP(SPI_getbinval(batch->vals[i], batch->tupdesc, 1, &isnull));
			int64		seq = DatumGetInt64(SPI_getbinval(batch->vals[i], batch->tupdesc, 2, &isnull));
			bytea	   *hash = DatumGetByteaPP(SPI_getbinval(batch->vals[i], batch->tupdesc, 3, &isnull));

			if (s.ctx == NULL || memcmp(tenant, &s.tenant, UUID_LEN) != 0)
			{
				if (s.ctx != NULL)
					store_seal(p, &s);
				begin_seal(p, tenant, &s);
			}
			trovella_audit_digest_update(s.ctx, VARDATA_ANY(hash), VARSIZE_ANY_EXHDR(hash));
			/* in number order: a group's last record so far is its upto */
			if (s.nuptos > 0 && AUDIT_GROUP_OF(s.uptos[s.nuptos - 1]) == AUDIT_GROUP_OF(seq))
				s.uptos[s.nuptos - 1] = seq;
			else
			{
				if (s.nuptos == s.allocated)
				{
					s.allocated = s.allocated > 0 ? s.allocated * 2 : 4;
					s.uptos = s.uptos ? repalloc(s.uptos, sizeof(int64) * s.allocated)
						: palloc(sizeof(int64) * s.allocated);
				}
				s.uptos[s.nuptos++] = seq;
			}
			s.records++;
			total++;
		}
		SPI_freetuptable(batch);
	}
	if (s.ctx != NULL)
		store_seal(p, &s);
	SPI_cursor_close(portal);
	return total;
}

int64
trovella_audit_seal_placements(int64 coordinator_upto)
{
	int32		group = trovella_citus_local_group();
	int			n;
	SealPlacement *placements = active_placements(&n);
	int64		own_upto;
	int64		total = 0;

	if (n == 0)
		return 0;
	/* one sealer at a time, on each placement of the seals */
	for (int i = 0; i < n; i++)
		LockRelationOid(shard_relation("audit_seal", placements[i].seal_shard), ShareRowExclusiveLock);
	own_upto = AUDIT_NUMBER(group, trovella_audit_final_number());
	if (group == 0)
		coordinator_upto = own_upto;
	for (int i = 0; i < n; i++)
	{
		(void) shard_relation("audit_history", placements[i].history_shard);
		total += seal_placement(&placements[i], group, own_upto, coordinator_upto);
	}
	return total;
}

/*
 * Every worker's audit_seal_node(), each in a transaction of its own on
 * its node; 55000 naming the node if one fails (its seals stay as they
 * were, and the next run seals what it left).
 */
int64
trovella_audit_seal_workers(int64 coordinator_upto)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	bool		isnull;
	int64		total = 0;

	values[0] = CStringGetTextDatum(psprintf("SELECT trovella.audit_seal_node(" INT64_FORMAT ")", coordinator_upto));
	if (SPI_execute_with_args("SELECT w.nodename || ':' || w.nodeport, w.success, w.result"
							  " FROM pg_catalog.run_command_on_workers($1) w ORDER BY 1",
							  1, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not run trovella.audit_seal_node() on the workers");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		char	   *node = TextDatumGetCString(SPI_getbinval(t, d, 1, &isnull));
		char	   *result = SPI_getvalue(t, d, 3);

		if (!DatumGetBool(SPI_getbinval(t, d, 2, &isnull)))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("trovella: sealing the audit history on %s failed", node),
					 errdetail("%s", result ? result : "")));
		total += pg_strtoint64(result);
	}
	return total;
}
