/*
 * audit_verify.c
 *		trovella.audit_verify(): a tenant's records recomputed against their
 *		hashes, and its seals against their records (audit_chain.c), the
 *		first problem reported.  On Citus, through the distributed tables,
 *		which send the reads of one tenant to its node.
 *
 * A seal names, per group of numbers, the upto of the records it covers
 * (a single node's seals, and those written before the history was
 * distributed, one: their upto).  Records are read in number order, each
 * given to the first seal naming its group whose upto is not below it;
 * a seal is closed once the records read pass its highest upto.  The
 * lowest seal not closed takes its records into its digest as they come,
 * later ones keep theirs until it is their turn (on a single node, none).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/xid8.h"

#include "audit.h"
#include "audit_chain.h"
#include "compat.h"
#include "context.h"
#include "statement.h"

PG_FUNCTION_INFO_V1(trovella_audit_verify);

#define HEAD_PREFIX "trovella-audit-head:1:"

static SPIPlanPtr seals_plan = NULL;
static SPIPlanPtr records_plan = NULL;

static const pg_uuid_t nil_tenant;	/* the chain of records of no tenant */

/* A seal as stored, and the hashes of the records read for it so far. */
typedef struct Seal
{
	int64		seal_no;
	int64		records;
	bytea	   *digest;
	int			nuptos;
	int64	   *uptos;			/* ascending; one per group */
	pg_cryptohash_ctx *ctx;		/* the lowest seal not closed: its digest so far */
	StringInfo	hashes;			/* a later one: its hashes read so far, or NULL */
	int64		read;
} Seal;

/* The seals naming one group, in order, and how far the records came. */
typedef struct GroupSeals
{
	int32		group;
	int			n;
	int		   *seal;			/* index into the seals */
	int64	   *upto;
	int			at;
} GroupSeals;

/* What audit_verify() found: the first problem wins. */
typedef struct Verdict
{
	MemoryContext memory;		/* the caller's, which outlives SPI's */
	int64		seals;
	int64		records;
	int64		unsealed;
	int64		broken_seal;	/* 0: none */
	int64		broken_seq;		/* 0: none */
	char	   *problem;		/* NULL: none */
} Verdict;

static void
found(Verdict *v, int64 seal_no, int64 seq, char *problem)
{
	if (v->problem != NULL)
		return;
	v->broken_seal = seal_no;
	v->broken_seq = seq;
	v->problem = MemoryContextStrdup(v->memory, problem);
}

static Seal *
load_seals(const pg_uuid_t *tenant, int64 *nseals)
{
	Oid			argtypes[1] = {UUIDOID};
	Datum		values[1] = {UUIDPGetDatum(tenant)};
	Seal	   *seals;
	bool		isnull;

	if (SPI_execute_plan(trovella_keep_plan(&seals_plan,
											"SELECT s.seal_no, s.upto, s.records, s.digest, s.uptos FROM trovella.audit_seal s"
											" WHERE s.tenant_id OPERATOR(pg_catalog.=) $1 ORDER BY s.seal_no",
											1, argtypes),
						 values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read trovella.audit_seal");
	*nseals = (int64) SPI_processed;
	seals = palloc0(sizeof(Seal) * (SPI_processed + 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		Datum		uptos = SPI_getbinval(t, d, 5, &isnull);
		bool		no_uptos = isnull;

		seals[i].seal_no = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
		seals[i].records = DatumGetInt64(SPI_getbinval(t, d, 3, &isnull));
		seals[i].digest = DatumGetByteaPCopy(SPI_getbinval(t, d, 4, &isnull));
		if (no_uptos)
		{
			seals[i].nuptos = 1;
			seals[i].uptos = palloc(sizeof(int64));
			seals[i].uptos[0] = DatumGetInt64(SPI_getbinval(t, d, 2, &isnull));
		}
		else
		{
			Datum	   *elems;
			bool	   *nulls;
			int			n;

			deconstruct_array(DatumGetArrayTypeP(uptos), INT8OID, 8, true, TYPALIGN_DOUBLE,
							  &elems, &nulls, &n);
			seals[i].nuptos = n;
			seals[i].uptos = palloc(sizeof(int64) * (n + 1));
			for (int j = 0; j < n; j++)
				seals[i].uptos[j] = nulls[j] ? -1 : DatumGetInt64(elems[j]);
		}
	}
	return seals;
}

static void *
nullable(HeapTuple t, TupleDesc d, int column)
{
	bool		isnull;
	Datum		value = SPI_getbinval(t, d, column, &isnull);

	return isnull ? NULL : DatumGetPointer(value);
}

/* Whether a stored record's content still gives its stored hash. */
static bool
record_intact(HeapTuple t, TupleDesc d, const bytea *stored)
{
	AuditRecord r;
	bool		isnull;
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	void	   *old = nullable(t, d, 11);
	void	   *new = nullable(t, d, 12);

	r.tenant_id = nullable(t, d, 2);
	r.table_id = DatumGetInt32(SPI_getbinval(t, d, 3, &isnull));
	r.operation = DatumGetChar(SPI_getbinval(t, d, 4, &isnull));
	r.row_key = nullable(t, d, 5) ? DatumGetTextPP(PointerGetDatum(nullable(t, d, 5))) : NULL;
	r.user_id = nullable(t, d, 6);
	r.role = TextDatumGetCString(SPI_getbinval(t, d, 7, &isnull));
	r.login_role = TextDatumGetCString(SPI_getbinval(t, d, 8, &isnull));
	r.xact = DatumGetFullTransactionId(SPI_getbinval(t, d, 9, &isnull));
	r.at = DatumGetTimestampTz(SPI_getbinval(t, d, 10, &isnull));
	r.old = old ? DatumGetJsonbP(PointerGetDatum(old)) : NULL;
	r.new = new ? DatumGetJsonbP(PointerGetDatum(new)) : NULL;
	trovella_audit_record_hash(&r, digest);
	return VARSIZE_ANY_EXHDR(stored) == PG_SHA256_DIGEST_LENGTH &&
		memcmp(VARDATA_ANY(stored), digest, PG_SHA256_DIGEST_LENGTH) == 0;
}

static bool
bytea_equal(const bytea *a, const bytea *b)
{
	return VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
		memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) == 0;
}

/* The highest number a seal covers. */
static int64
highest(const Seal *seal)
{
	return seal->nuptos > 0 ? seal->uptos[seal->nuptos - 1] : 0;
}

/* Seal k's digest so far, taking the hashes it kept: it is the lowest not closed. */
static pg_cryptohash_ctx *
seal_digest(Seal *seals, int64 k)
{
	Seal	   *seal = &seals[k];

	if (seal->ctx == NULL)
	{
		seal->ctx = trovella_audit_digest_begin(k > 0 ? seals[k - 1].digest : NULL);
		if (seal->hashes != NULL)
		{
			trovella_audit_digest_update(seal->ctx, seal->hashes->data, seal->hashes->len);
			pfree(seal->hashes->data);
			pfree(seal->hashes);
			seal->hashes = NULL;
		}
	}
	return seal->ctx;
}

/* A record's hash for seal k, while seal closed is the lowest not closed. */
static void
take_hash(Seal *seals, int64 k, int64 closed, const bytea *hash)
{
	Seal	   *seal = &seals[k];

	if (k == closed)
		trovella_audit_digest_update(seal_digest(seals, k), VARDATA_ANY(hash), VARSIZE_ANY_EXHDR(hash));
	else
	{
		if (seal->hashes == NULL)
			seal->hashes = makeStringInfo();
		appendBinaryStringInfo(seal->hashes, VARDATA_ANY(hash), VARSIZE_ANY_EXHDR(hash));
	}
	seal->read++;
}

/* Seal k's records all read: compare its digest with the stored one. */
static void
close_seal(Verdict *v, Seal *seals, int64 k)
{
	Seal	   *seal = &seals[k];
	bytea	   *digest = trovella_audit_digest_end(seal_digest(seals, k), seal->uptos, seal->nuptos, seal->read);

	seal->ctx = NULL;
	if (seal->read != seal->records || !bytea_equal(digest, seal->digest))
		found(v, seal->seal_no, 0,
			  psprintf("seal " INT64_FORMAT " does not match its records: a record it covers was removed, added or changed",
					   seal->seal_no));
}

/*
 * The seals of each group, checking their order: numbered 1, 2, ...; each
 * naming its groups once, ascending, each group's upto above the one of
 * the group's previous seal and within the group.
 */
static GroupSeals *
group_seals(Verdict *v, Seal *seals, int64 nseals, int *ngroups)
{
	GroupSeals *groups = palloc0(sizeof(GroupSeals) * 8);
	int			allocated = 8;

	*ngroups = 0;
	for (int64 i = 0; i < nseals; i++)
	{
		bool		ordered = seals[i].seal_no == i + 1 && seals[i].nuptos > 0;

		for (int j = 0; j < seals[i].nuptos && ordered; j++)
		{
			int64		upto = seals[i].uptos[j];
			int32		group = AUDIT_GROUP_OF(upto);
			GroupSeals *g = NULL;

			if (upto < 0 || (j > 0 && group <= AUDIT_GROUP_OF(seals[i].uptos[j - 1])))
			{
				ordered = false;
				break;
			}
			for (int x = 0; x < *ngroups; x++)
				if (groups[x].group == group)
					g = &groups[x];
			if (g == NULL)
			{
				if (*ngroups == allocated)
				{
					allocated *= 2;
					groups = repalloc(groups, sizeof(GroupSeals) * allocated);
				}
				g = &groups[(*ngroups)++];
				memset(g, 0, sizeof(GroupSeals));
				g->group = group;
				g->seal = palloc(sizeof(int) * nseals);
				g->upto = palloc(sizeof(int64) * nseals);
			}
			if (g->n > 0 && upto <= g->upto[g->n - 1])
			{
				ordered = false;
				break;
			}
			g->seal[g->n] = (int) i;
			g->upto[g->n] = upto;
			g->n++;
		}
		if (!ordered)
			found(v, i + 1, 0, psprintf("seal " INT64_FORMAT " is missing or out of order", i + 1));
	}
	return groups;
}

static void
verify_chain(const pg_uuid_t *tenant, Verdict *v, Seal *seals, int64 nseals)
{
	Oid			argtypes[1] = {UUIDOID};
	Datum		values[1] = {UUIDPGetDatum(tenant)};
	Portal		portal;
	int64		closed = 0;
	int			ngroups;
	GroupSeals *groups = group_seals(v, seals, nseals, &ngroups);
	const char *columns = "SELECT h.seq, h.tenant_id, h.table_id, h.operation, h.row_key, h.user_id,"
		" h.role, h.login_role, h.xact, h.at, h.old, h.new, h.hash FROM trovella.audit_history h";

	portal = SPI_cursor_open(NULL,
							 trovella_keep_plan(&records_plan,
												psprintf("%s WHERE h.tenant_id OPERATOR(pg_catalog.=) $1 ORDER BY h.seq", columns),
												1, argtypes),
							 values, NULL, true);
	for (;;)
	{
		SPITupleTable *batch;
		uint64		n;
		bool		isnull;

		SPI_cursor_fetch(portal, true, 1000);
		batch = SPI_tuptable;
		n = SPI_processed;
		if (n == 0)
			break;
		for (uint64 i = 0; i < n; i++)
		{
			HeapTuple	t = batch->vals[i];
			int64		seq = DatumGetInt64(SPI_getbinval(t, batch->tupdesc, 1, &isnull));
			bytea	   *hash = DatumGetByteaPP(SPI_getbinval(t, batch->tupdesc, 13, &isnull));
			GroupSeals *g = NULL;
			Seal	   *seal = NULL;

			/* the seals whose records were all read */
			while (closed < nseals && highest(&seals[closed]) < seq)
				close_seal(v, seals, closed++);
			for (int x = 0; x < ngroups; x++)
				if (groups[x].group == AUDIT_GROUP_OF(seq))
					g = &groups[x];
			while (g != NULL && g->at < g->n && seq > g->upto[g->at])
				g->at++;
			if (g != NULL && g->at < g->n)
				seal = &seals[g->seal[g->at]];
			v->records++;
			if (!record_intact(t, batch->tupdesc, hash))
				found(v, seal ? seal->seal_no : 0, seq,
					  psprintf("record " INT64_FORMAT " does not match its hash: its content was changed", seq));
			if (seal != NULL)
				take_hash(seals, seal - seals, closed, hash);
			else
				v->unsealed++;
		}
		SPI_freetuptable(batch);
	}
	SPI_cursor_close(portal);
	for (; closed < nseals; closed++)
		close_seal(v, seals, closed);
}

/*
 * The head handed out: "trovella-audit-head:1:<tenant>:<seal>:<digest>";
 * 22023 if it is not one, or another tenant's.
 */
static void
parse_head(const char *head, const pg_uuid_t *tenant, int64 *seal_no, char **digest)
{
	const char *p = head;
	char	   *end;
	pg_uuid_t	head_tenant;
	char		tenant_part[37];

	if (strncmp(p, HEAD_PREFIX, strlen(HEAD_PREFIX)) != 0)
		goto bad;
	p += strlen(HEAD_PREFIX);
	if (strlen(p) < 37 || p[36] != ':')
		goto bad;
	memcpy(tenant_part, p, 36);
	tenant_part[36] = '\0';
	if (!trovella_parse_uuid(tenant_part, &head_tenant))
		goto bad;
	if (memcmp(&head_tenant, tenant, UUID_LEN) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("trovella: the head is another tenant's")));
	p += 37;
	errno = 0;
	*seal_no = strtoll(p, &end, 10);
	if (errno != 0 || end == p || *end != ':' || *seal_no < 1)
		goto bad;
	p = end + 1;
	if (strlen(p) != 2 * PG_SHA256_DIGEST_LENGTH || strspn(p, "0123456789abcdef") != strlen(p))
		goto bad;
	*digest = pstrdup(p);
	return;
bad:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("trovella: not an audit head"),
			 errhint("Pass what trovella.audit_head() returned.")));
}

Datum
trovella_audit_verify(PG_FUNCTION_ARGS)
{
	const pg_uuid_t *tenant = PG_ARGISNULL(0) ? &nil_tenant : PG_GETARG_UUID_P(0);
	Verdict		v = {0};
	TupleDesc	desc;
	Datum		out[7];
	bool		out_nulls[7] = {false, false, false, false, false, false, false};
	OwnerSection section;
	SpiSection	spi;
	Seal	   *seals;
	int64		nseals;
	int64		head_seal = 0;
	char	   *head_digest = NULL;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	v.memory = CurrentMemoryContext;
	if (!PG_ARGISNULL(1))
		parse_head(text_to_cstring(PG_GETARG_TEXT_PP(1)), tenant, &head_seal, &head_digest);

	trovella_begin_owner_section(fcinfo, &section);
	trovella_spi_connect(&spi);
	seals = load_seals(tenant, &nseals);
	v.seals = nseals;
	verify_chain(tenant, &v, seals, nseals);
	if (head_digest != NULL)
	{
		if (head_seal > nseals)
			found(&v, head_seal, 0,
				  psprintf("the history ends before the head's seal " INT64_FORMAT ": seals were removed", head_seal));
		else if (strcmp(trovella_audit_hex(seals[head_seal - 1].digest), head_digest) != 0)
			found(&v, head_seal, 0,
				  psprintf("seal " INT64_FORMAT " differs from the head: the history up to it was rewritten", head_seal));
	}
	trovella_spi_finish(&spi);
	trovella_end_owner_section(&section);

	out[0] = BoolGetDatum(v.problem == NULL);
	out[1] = Int64GetDatum(v.seals);
	out[2] = Int64GetDatum(v.records);
	out[3] = Int64GetDatum(v.unsealed);
	out[4] = Int64GetDatum(v.broken_seal);
	out_nulls[4] = v.broken_seal == 0;
	out[5] = Int64GetDatum(v.broken_seq);
	out_nulls[5] = v.broken_seq == 0;
	out[6] = v.problem ? CStringGetTextDatum(v.problem) : (Datum) 0;
	out_nulls[6] = v.problem == NULL;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, out, out_nulls)));
}
