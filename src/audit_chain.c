/*
 * audit_chain.c
 *		The digests of the audit history's hash chain, which the sealer
 *		(audit_seal.c, audit_seal_citus.c) writes and audit_verify
 *		(audit_verify.c) recomputes, and the number up to which this node's
 *		records are final.
 *
 * Seal n of a tenant covers, for each group of numbers it names (a single
 * node has one: 0; AUDIT_NUMBER), the tenant's records of that group
 * numbered after the upto of the tenant's last earlier seal naming that
 * group, up to its own:
 *
 *		digest(n) = SHA-256(digest(n-1) || hash of each record, in number
 *					order || each upto, ascending, as 8 bytes || records
 *					as 8 bytes)
 *
 * (digest(0) is empty).  A seal of one upto is what a single node has
 * always written.
 */
#include "postgres.h"

#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"

#include "audit.h"
#include "audit_chain.h"

void
trovella_audit_digest_update(pg_cryptohash_ctx *ctx, const void *data, size_t len)
{
	if (pg_cryptohash_update(ctx, (const uint8 *) data, len) < 0)
		elog(ERROR, "could not compute SHA-256: %s", pg_cryptohash_error(ctx));
}

pg_cryptohash_ctx *
trovella_audit_digest_begin(const bytea *previous)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (pg_cryptohash_init(ctx) < 0)
		elog(ERROR, "could not compute SHA-256: %s", pg_cryptohash_error(ctx));
	if (previous != NULL)
		trovella_audit_digest_update(ctx, VARDATA_ANY(previous), VARSIZE_ANY_EXHDR(previous));
	return ctx;
}

bytea *
trovella_audit_digest_end(pg_cryptohash_ctx *ctx, const int64 *uptos, int nuptos, int64 records)
{
	uint64		be_records = pg_hton64((uint64) records);
	bytea	   *digest = palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);

	for (int i = 0; i < nuptos; i++)
	{
		uint64		be_upto = pg_hton64((uint64) uptos[i]);

		trovella_audit_digest_update(ctx, &be_upto, sizeof(be_upto));
	}
	trovella_audit_digest_update(ctx, &be_records, sizeof(be_records));
	SET_VARSIZE(digest, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	if (pg_cryptohash_final(ctx, (uint8 *) VARDATA(digest), PG_SHA256_DIGEST_LENGTH) < 0)
		elog(ERROR, "could not compute SHA-256: %s", pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
	return digest;
}

/*
 * A seal must cover every record it ever will: read the sequence's last
 * number, then wait for every transaction that holds the sequence's lock
 * (audit_store.c takes it before drawing a number), so that every record
 * numbered up to there is committed or gone.  The caller is connected to
 * SPI.
 */
int64
trovella_audit_final_number(void)
{
	Oid			seq = trovella_audit_sequence();
	LOCKTAG		tag;
	bool		isnull;
	int64		last = 0;

	if (SPI_execute("SELECT CASE WHEN s.is_called THEN s.last_value ELSE 0 END"
					" FROM trovella.audit_seq s", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read trovella.audit_seq");
	if (SPI_processed == 1)
		last = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SET_LOCKTAG_RELATION(tag, MyDatabaseId, seq);
	WaitForLockers(tag, ShareLock, false);
	return last;
}

char *
trovella_audit_hex(const bytea *value)
{
	const unsigned char *data = (const unsigned char *) VARDATA_ANY(value);
	int			len = VARSIZE_ANY_EXHDR(value);
	char	   *out = palloc(len * 2 + 1);

	for (int i = 0; i < len; i++)
		sprintf(out + 2 * i, "%02x", data[i]);
	return out;
}
