/*
 * import_manifest.c
 *		An export, checked before import_tenant (import.c) writes anything:
 *		the manifest, one row with table_name NULL, of the format (22P04 for
 *		anything else: no manifest, two, another format or version, a value
 *		missing or not of its JSON type, a count that is not an integer from
 *		0, a checksum that is not SHA-256 in lowercase hex, a tenant that is
 *		not a uuid or is the nil uuid, a table listed twice); and an audit
 *		history made on Citus, which it cannot restore (0A000).
 *
 * The manifest's values are read as text only where their JSON type is
 * the format's, and converted here: a cast in SQL would fail with its own
 * SQLSTATE (22P02, 22003), not the format's.
 */
#include "postgres.h"

#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/uuid.h"

#include "audit.h"
#include "import_manifest.h"

static void
bad_manifest(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
			 errmsg("trovella.import_tenant: %s", why),
			 errhint("Load the whole output of trovella.export_tenant(), manifest included, into the table.")));
}

/* SQL: the value of key in object as text where its JSON type is type, else NULL. */
static char *
typed_value(const char *object, const char *key, const char *type)
{
	return psprintf("CASE WHEN pg_catalog.jsonb_typeof(%s OPERATOR(pg_catalog.->) '%s')"
					" OPERATOR(pg_catalog.=) '%s' THEN %s OPERATOR(pg_catalog.->>) '%s' END",
					object, key, type, object, key);
}

/* A count of the format: an integer from 0, written as its digits alone. */
static bool
parse_count(const char *text, int64 *count)
{
	size_t		len = text ? strlen(text) : 0;

	if (len == 0 || len > 18)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		if (text[i] < '0' || text[i] > '9')
			return false;
	}
	*count = pg_strtoint64(text);
	return true;
}

/* A checksum of the format: SHA-256 as 64 lowercase hex digits. */
static bool
valid_sha256(const char *text)
{
	if (text == NULL || strlen(text) != PG_SHA256_DIGEST_LENGTH * 2)
		return false;
	for (int i = 0; i < PG_SHA256_DIGEST_LENGTH * 2; i++)
	{
		if (!((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f')))
			return false;
	}
	return true;
}

/* A tenant of the format: a uuid as PostgreSQL writes it, 8-4-4-4-12 hex digits. */
static bool
valid_uuid(const char *text)
{
	if (text == NULL || strlen(text) != 36)
		return false;
	for (int i = 0; i < 36; i++)
	{
		bool		hyphen = (i == 8 || i == 13 || i == 18 || i == 23);

		if (hyphen ? text[i] != '-' : !isxdigit((unsigned char) text[i]))
			return false;
	}
	return true;
}

/* The tables of the manifest, each an object of a name, a count and a checksum. */
static List *
read_tables(const char *source)
{
	List	   *tables = NIL;

	if (SPI_execute(psprintf("SELECT %s, %s, %s"
							 " FROM %s m, pg_catalog.jsonb_array_elements(m.row OPERATOR(pg_catalog.->) 'tables')"
							 "      WITH ORDINALITY x(e, n)"
							 " WHERE m.table_name IS NULL ORDER BY x.n",
							 typed_value("x.e", "table", "string"),
							 typed_value("x.e", "rows", "number"),
							 typed_value("x.e", "sha256", "string"), source),
					false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the manifest");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		ImportTable *table = palloc0(sizeof(ImportTable));
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		ListCell   *lc;

		table->name = SPI_getvalue(t, d, 1);
		table->sha256 = SPI_getvalue(t, d, 3);
		if (table->name == NULL)
			bad_manifest(psprintf("entry " UINT64_FORMAT " of the manifest's tables has no table name", i + 1));
		if (!parse_count(SPI_getvalue(t, d, 2), &table->rows))
			bad_manifest(psprintf("the manifest's count of table %s is not an integer from 0", table->name));
		if (!valid_sha256(table->sha256))
			bad_manifest(psprintf("the manifest's checksum of table %s is not a SHA-256 in lowercase hex",
								  table->name));
		foreach(lc, tables)
		{
			if (strcmp(((ImportTable *) lfirst(lc))->name, table->name) == 0)
				bad_manifest(psprintf("the manifest lists table %s twice", table->name));
		}
		tables = lappend(tables, table);
	}
	return tables;
}

List *
trovella_import_read_manifest(const char *source, Datum *tenant, int64 *rows, char **sha256)
{
	static const pg_uuid_t nil;
	HeapTuple	t;
	TupleDesc	d;
	char	   *format;
	char	   *version;
	char	   *tenant_text;

	if (SPI_execute(psprintf("SELECT %s, %s, %s, %s, %s,"
							 " pg_catalog.jsonb_typeof(m.row OPERATOR(pg_catalog.->) 'tables')"
							 " FROM %s m WHERE m.table_name IS NULL",
							 typed_value("m.row", "format", "string"),
							 typed_value("m.row", "version", "number"),
							 typed_value("m.row", "tenant", "string"),
							 typed_value("m.row", "rows", "number"),
							 typed_value("m.row", "sha256", "string"), source),
					false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the manifest");
	if (SPI_processed != 1)
		bad_manifest(SPI_processed == 0 ? "the export has no manifest"
					 : "the export has more than one manifest");
	t = SPI_tuptable->vals[0];
	d = SPI_tuptable->tupdesc;
	format = SPI_getvalue(t, d, 1);
	version = SPI_getvalue(t, d, 2);
	tenant_text = SPI_getvalue(t, d, 3);
	*sha256 = SPI_getvalue(t, d, 5);
	if (format == NULL || strcmp(format, "trovella-export") != 0 ||
		version == NULL || strcmp(version, "1") != 0)
		bad_manifest("the manifest is not of format trovella-export, version 1");
	if (!valid_uuid(tenant_text))
		bad_manifest("the manifest's tenant is not a uuid");
	*tenant = DirectFunctionCall1(uuid_in, CStringGetDatum(tenant_text));
	if (memcmp(DatumGetUUIDP(*tenant)->data, nil.data, UUID_LEN) == 0)
		bad_manifest("the manifest's tenant is the nil uuid");
	if (!parse_count(SPI_getvalue(t, d, 4), rows))
		bad_manifest("the manifest's row count is not an integer from 0");
	if (!valid_sha256(*sha256))
		bad_manifest("the manifest's checksum is not a SHA-256 in lowercase hex");
	if (SPI_getvalue(t, d, 6) == NULL || strcmp(SPI_getvalue(t, d, 6), "array") != 0)
		bad_manifest("the manifest's tables are not an array");
	return read_tables(source);
}

/*
 * A record number of a single server has group 0 in its top 16 bits
 * (audit.h); one made on Citus carries its node's group.  Imported here,
 * the numbers after it would read as another group's, and on a cluster a
 * worker's next numbers could fall within the imported seals' ranges:
 * audit_verify would then report a rewritten history that nobody touched.
 * Every record's number, and every seal's upto and uptos, is checked.
 */
void
trovella_import_refuse_citus_history(const char *source)
{
	const char *limit = psprintf("'" INT64_FORMAT "'::pg_catalog.numeric", INT64CONST(1) << AUDIT_GROUP_SHIFT);

	if (SPI_execute(psprintf("SELECT s.table_name, v.n::pg_catalog.text,"
							 "       pg_catalog.div(v.n::pg_catalog.numeric, %s)::pg_catalog.text"
							 " FROM %s s CROSS JOIN LATERAL ("
							 "   SELECT s.row OPERATOR(pg_catalog.->) 'seq'"
							 "    WHERE s.table_name OPERATOR(pg_catalog.=) 'trovella.audit_history'"
							 "   UNION ALL SELECT s.row OPERATOR(pg_catalog.->) 'upto'"
							 "    WHERE s.table_name OPERATOR(pg_catalog.=) 'trovella.audit_seal'"
							 "   UNION ALL SELECT u.value FROM pg_catalog.jsonb_array_elements("
							 "     CASE WHEN s.table_name OPERATOR(pg_catalog.=) 'trovella.audit_seal'"
							 "       AND pg_catalog.jsonb_typeof(s.row OPERATOR(pg_catalog.->) 'uptos') OPERATOR(pg_catalog.=) 'array'"
							 "     THEN s.row OPERATOR(pg_catalog.->) 'uptos' ELSE '[]'::pg_catalog.jsonb END) u"
							 " ) v(n)"
							 " WHERE s.table_name OPERATOR(pg_catalog.=) ANY ('{trovella.audit_history,trovella.audit_seal}'::pg_catalog.text[])"
							 "   AND pg_catalog.jsonb_typeof(v.n) OPERATOR(pg_catalog.=) 'number'"
							 "   AND (v.n::pg_catalog.numeric OPERATOR(pg_catalog.<) 0"
							 "        OR v.n::pg_catalog.numeric OPERATOR(pg_catalog.>=) %s)"
							 " ORDER BY s.ordinal LIMIT 1", limit, source, limit),
					false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the export's audit history");
	if (SPI_processed > 0)
	{
		HeapTuple	t = SPI_tuptable->vals[0];
		TupleDesc	d = SPI_tuptable->tupdesc;

		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("trovella.import_tenant: the export's audit history was made on a Citus cluster"),
				 errdetail("Number %s of %s carries group %s in its top 16 bits, where a single server's numbers carry group 0.",
						   SPI_getvalue(t, d, 2), SPI_getvalue(t, d, 1), SPI_getvalue(t, d, 3)),
				 errhint("Importing an audit history made on Citus is not supported yet: keep it in the source cluster (README, Export and import).")));
	}
}
