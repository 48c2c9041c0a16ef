/*
 * statement.h
 *		Statements trovella runs itself: with the owner's rights, from plans
 *		saved once per backend (statement.c).
 */
#ifndef TROVELLA_STATEMENT_H
#define TROVELLA_STATEMENT_H

#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"

#include "compat.h"

/* The caller's identity, saved while a statement runs as the owner. */
typedef struct OwnerSection
{
	Oid			saved_userid;
	int			saved_sec_context;
	CatalogSearchPath saved_search_path;
} OwnerSection;

extern void trovella_begin_owner_section(FunctionCallInfo fcinfo, OwnerSection *section);
/* The same for owner, the owner of a function called earlier. */
extern Oid	trovella_function_owner(FunctionCallInfo fcinfo);
extern void trovella_begin_owner_section_as(Oid owner, OwnerSection *section);
extern void trovella_end_owner_section(const OwnerSection *section);

/*
 * An SPI connection with only the system catalogs on the search path, and
 * Citus's shard hiding off (statement.c).
 */
typedef struct SpiSection
{
	CatalogSearchPath search_path;
	int			visibility_level;	/* GUC nest level, 0 without Citus */
} SpiSection;

extern void trovella_spi_connect(SpiSection *section);
extern void trovella_spi_finish(const SpiSection *section);

/*
 * The caller's search path, given back inside such a connection to a
 * statement that runs the application's code (its triggers): saved before
 * trovella_spi_connect(), in force between trovella_caller_path_begin()
 * and trovella_caller_path_end().  The statement is then parsed on the
 * caller's path too: it must name every object with its schema.
 */
typedef struct CallerPath
{
	char	   *search_path;	/* the caller's setting */
	CallerSearchPath saved;
} CallerPath;

extern void trovella_caller_path_save(CallerPath *path);
extern void trovella_caller_path_begin(CallerPath *path);
extern void trovella_caller_path_end(const CallerPath *path);

/*
 * Statements run without parallel workers, from trovella_serial_begin() to
 * the matching trovella_serial_end(): for a job in the background of the
 * other tenants' transactions (a purge's counts), where a parallel scan of
 * a large table would take every core from them at once.
 */
extern int	trovella_serial_begin(void);
extern void trovella_serial_end(int level);

/* Prepare sql and keep the plan in *plan the first time it is needed. */
extern SPIPlanPtr trovella_keep_plan(SPIPlanPtr *plan, const char *sql,
									 int nargs, Oid *argtypes);

#endif							/* TROVELLA_STATEMENT_H */
