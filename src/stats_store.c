/*
 * stats_store.c
 *		The per-tenant statistics across a restart: the postmaster saves
 *		the table when it exits normally (a smart, fast or immediate stop)
 *		and loads it at start, as pg_stat_statements does, in the format of
 *		stats_file.c.  What a crash loses is noted for trovella.health: a
 *		restart after a backend crashed (the postmaster reinitialises shared
 *		memory without exiting), and a postmaster that never exited normally
 *		(killed, or the machine stopped), which leaves its marker file behind.
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include "pgstat.h"
#include "storage/fd.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "compat.h"
#include "stats.h"
#include "stats_file.h"
#include "stats_store.h"

#define STATS_FILE		PGSTAT_STAT_PERMANENT_DIRECTORY "/trovella_tenant_stats.stat"
/*
 * There from the load to the save: found at a start, the last run did not
 * save.  Named as a temporary file, so that a base backup leaves it out (a
 * new standby has lost nothing).
 */
#define STATS_RUNNING	PGSTAT_STAT_PERMANENT_DIRECTORY "/" PG_TEMP_FILE_PREFIX "_trovella_stats_running"

static bool stats_save = true;

/* In the postmaster: the table was loaded once already (a second load follows a crash). */
static bool stats_loaded_before = false;

void
StatsStoreInit(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	DefineCustomBoolVariable("trovella.stats_save",
							 gettext_noop("Saves trovella.tenant_stats across clean server restarts."),
							 NULL,
							 &stats_save,
							 true,
							 PGC_SIGHUP,
							 0,
							 NULL,
							 NULL,
							 NULL);
}

/* What the save carries from one record to the next. */
typedef struct SaveState
{
	FILE	   *file;
	uint32		crc;
	uint32		written;
	bool		failed;
} SaveState;

static void
save_record(const StatsKey *key, const StatsCounters *counters, void *arg)
{
	SaveState  *save = (SaveState *) arg;
	uint8		record[STATS_FILE_RECORD_SIZE];

	if (save->failed)
		return;
	stats_file_record(key, counters, record);
	save->crc = stats_file_crc_add(save->crc, record, sizeof(record));
	if (fwrite(record, sizeof(record), 1, save->file) != 1)
		save->failed = true;
	save->written++;
}

/*
 * Save the table at a clean shutdown, in the postmaster (hooks.c calls it
 * from on_shmem_exit), to a new file renamed over the old one.
 */
void
trovella_stats_save(int code)
{
	SaveState	save = {NULL, 0, 0, false};
	StatsFileHeader header;
	int32		count;
	uint8		header_bytes[STATS_FILE_HEADER_SIZE];

	if (code != 0 || !trovella_stats_ready())
		return;
	/* a normal exit: the next start has lost nothing it was not told of */
	unlink(STATS_RUNNING);
	if (!stats_save)
		return;
	save.file = AllocateFile(STATS_FILE ".tmp", PG_BINARY_W);
	if (save.file == NULL)
		goto error;
	header.magic = STATS_FILE_MAGIC;
	header.version = STATS_FILE_VERSION;
	header.record_size = STATS_FILE_RECORD_SIZE;
	trovella_stats_header(&count, &header.evictions, &header.stats_reset);
	header.count = (uint32) count;
	stats_file_header(&header, header_bytes);
	save.crc = stats_file_crc_add(stats_file_crc_begin(), header_bytes, sizeof(header_bytes));
	if (fwrite(header_bytes, sizeof(header_bytes), 1, save.file) != 1)
		goto error;
	trovella_stats_foreach_unlocked(save_record, &save);
	save.crc = stats_file_crc_end(save.crc);
	if (save.failed || save.written != header.count ||
		fwrite(&save.crc, sizeof(save.crc), 1, save.file) != 1)
		goto error;
	if (FreeFile(save.file))
	{
		save.file = NULL;
		goto error;
	}
	(void) durable_rename(STATS_FILE ".tmp", STATS_FILE, LOG);
	return;

error:
	ereport(LOG,
			(errcode_for_file_access(),
			 errmsg("trovella: could not write file \"%s\": %m", STATS_FILE ".tmp")));
	if (save.file)
		FreeFile(save.file);
	unlink(STATS_FILE ".tmp");
}

/*
 * Leave the marker of a running server; one already there means that the
 * last run ended without saving (it is only removed at a normal exit).
 */
static void
note_running(void)
{
	struct stat st;
	int			fd;

	if (stat(STATS_RUNNING, &st) == 0)
		trovella_stats_note_lost("the server did not shut down normally (killed, or the machine stopped); the counts of its last run were not saved");
	fd = OpenTransientFile(STATS_RUNNING, O_CREAT | O_WRONLY | PG_BINARY);
	if (fd < 0)
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("trovella: could not create file \"%s\": %m", STATS_RUNNING)));
	else
		CloseTransientFile(fd);
}

/*
 * Load what the last clean shutdown saved, whole or not at all, then remove
 * the file.  A file that does not check out (stats_file_check), or that
 * names a tenant twice, is reported in the log and ignored: the server
 * starts with empty statistics, never with part of a file.
 */
void
trovella_stats_load(void)
{
	FILE	   *file = stats_save ? AllocateFile(STATS_FILE, PG_BINARY_R) : NULL;
	struct stat st;
	uint8	   *data = NULL;
	StatsFileHeader header;
	const char *problem = NULL;
	uint32		i;

	if (stats_loaded_before)
	{
		trovella_stats_note_lost("the server restarted after a crash; the counts until then were not saved");
		if (file != NULL)
			FreeFile(file);
		return;
	}
	stats_loaded_before = true;
	if (stats_save)
		note_running();
	if (file == NULL)
		return;
	if (fstat(fileno(file), &st) != 0)
		problem = "it cannot be read";
	else if ((size_t) st.st_size > stats_file_size((uint32) trovella_stats_max_tenants()))
		problem = "it holds more tenants than trovella.stats_max_tenants";
	else
	{
		data = palloc_extended(Max(st.st_size, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
		if (data == NULL || fread(data, 1, st.st_size, file) != (size_t) st.st_size)
			problem = "it cannot be read";
		else
			problem = stats_file_check(data, st.st_size, (uint32) trovella_stats_max_tenants(), &header);
	}
	for (i = 0; problem == NULL && i < header.count; i++)
	{
		StatsKey	key;
		StatsCounters counters;

		stats_file_read_record(data + STATS_FILE_HEADER_SIZE + (size_t) i * STATS_FILE_RECORD_SIZE,
							   &key, &counters);
		if (!trovella_stats_restore(&key, &counters))
		{
			trovella_stats_forget_all();
			problem = "it names a tenant twice";
			break;
		}
	}
	if (problem == NULL)
		trovella_stats_restore_header(header.evictions, header.stats_reset);
	else
	{
		char		reason[STATS_LOST_LEN];

		snprintf(reason, sizeof(reason), "the saved file was ignored: %s", problem);
		trovella_stats_note_lost(reason);
		ereport(LOG,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("trovella: ignoring the saved per-tenant statistics in \"%s\"", STATS_FILE),
				 errdetail("%s.", problem)));
	}
	if (data != NULL)
		pfree(data);
	FreeFile(file);
	unlink(STATS_FILE);
}
